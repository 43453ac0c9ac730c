#pragma once

// The local half of `roam watch`: tells when something changes the Maildir
// (a mail reader marking a message read, a delivery, a deletion), through
// inotify. It watches every folder's cur/ and new/, where files appear,
// are renamed and vanish, and every directory that holds folders, for a
// folder made or removed. tmp/ is not watched: a file there is not a
// message yet, and roam's own downloads pass through it. Only directories
// count at the folder level, so a file in the root (roam's marker) never
// looks like a change.
//
// It says only that something changed, not what: the sync that follows
// compares everything anyway, and an event queue that overflowed must mean
// "changed" too.

#include <cstddef>
#include <filesystem>
#include <map>
#include <string>

#include <vector>

#include "maildir/layout.hpp"
#include "util/fs.hpp"

namespace roam::maildir {

class ChangeWatch {
 public:
  // Watches the Maildir tree `tree`: every directory of tree.tops(), that
  // is the root and an inbox path outside it, with everything below (each
  // may not exist yet: then its parent's creation of it is not seen, and
  // rescan() picks it up). Throws util::Error(Scope::Account) when inotify
  // is unavailable or out of watches, naming the limit to raise.
  explicit ChangeWatch(const Tree& tree);

  // For poll(): readable when events wait.
  int fd() const { return m_fd.get(); }

  // Watches folders that appeared since the last scan (a sync made some).
  void rescan();

  // Reads every pending event without blocking; true when one tells of a
  // change (a file added, renamed or removed in cur/ or new/, a folder
  // directory made or removed, or lost events). A new directory is
  // watched before this returns.
  bool drain();

  // How many directories are watched (for tests and -v).
  std::size_t watched() const { return m_paths.size(); }

 private:
  void add(const std::filesystem::path& dir, bool messages);

  void scan(const std::filesystem::path& top);

  std::vector<std::filesystem::path> m_tops;
  util::Fd m_fd;
  // Watch descriptor -> (directory, whether it holds messages).
  std::map<int, std::pair<std::string, bool>> m_paths;
};

}  // namespace roam::maildir
