#pragma once

// One Maildir folder: a directory with cur/, new/ and tmp/. Folder scans the
// messages, delivers new ones through tmp/, renames files to change flags
// and removes them. Nothing here ever overwrites an existing file: two files
// with one name would mean one message silently lost.
//
// A mail reader works in the same directory at the same time. It may rename
// a file (flag change, new/ -> cur/) or delete it between our scan and our
// next step; such a vanished file is reported as a status, not thrown,
// because it is normal and the caller decides what it means.
//
// Directory entries become durable only when their directory is fsynced.
// Deliveries and renames do not do that one by one: the caller calls
// Folder::sync_dirs() once after a batch, before recording the batch in its
// state.

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "maildir/layout.hpp"
#include "maildir/name.hpp"
#include "util/fs.hpp"

namespace roam::maildir {

// One message file found by Folder::scan().
struct Entry {
  std::string stable_name;  // The name before ":2,"; what roam's state records.
  std::string letters;      // Sorted info letters, unknown ones included.
  Subdir subdir = Subdir::New;
  // The full path of the file. A string, not an fs::path: a path keeps a
  // list of its components, allocated one by one, which for a 100,000-file
  // folder cost more than listing the directories did (and as much again
  // each time an Entry is copied).
  std::string path;

  // The whole file name, as found: the end of `path` (not kept apart, which
  // cost a string per file of a 100,000-file scan).
  std::string_view file_name() const {
    std::string_view p(path);
    std::size_t slash = p.rfind('/');
    return slash == std::string_view::npos ? p : p.substr(slash + 1);
  }
};

// A stable name that two files share, typically because a mail reader copied
// a file instead of renaming it. Both files are still listed in entries.
struct DuplicateName {
  std::string stable_name;
  std::vector<fs::path> paths;
};

// The result of Folder::scan().
struct ScanResult {
  // Every message file in new/ and cur/, sorted by stable name, then path.
  std::vector<Entry> entries;
  // Stable names found more than once; the caller should warn and must not
  // guess which file its state means.
  std::vector<DuplicateName> duplicates;
  // Files whose names are not valid Maildir names; they are not in entries.
  std::vector<fs::path> invalid_names;
};

// What Folder::presence() found at a folder's path.
enum class Presence {
  Present,     // cur/, new/ and tmp/ are directories.
  Gone,        // The folder directory or its cur/ does not exist.
  Incomplete,  // cur/ is there, new/ or tmp/ does not exist.
};

// What happened to a file the caller asked to change.
enum class FileStatus {
  Done,      // The file was renamed or removed as asked.
  Vanished,  // The file was no longer there (a mail reader moved or deleted it).
};

class Folder;

// A message being written into tmp/. Bytes are converted from CRLF to LF as
// they arrive and written through a 64 KiB buffer. commit() makes the file
// durable and moves it into new/ or cur/; a Delivery destroyed without a
// successful commit() removes its tmp file and never renames anything.
class Delivery {
 public:
  Delivery(Delivery&& other) noexcept;
  Delivery& operator=(Delivery&& other) noexcept;
  Delivery(const Delivery&) = delete;
  Delivery& operator=(const Delivery&) = delete;
  ~Delivery();

  // Appends message bytes as the server sent them. CRLF becomes LF, also
  // when the CR ends one chunk and the LF starts the next; a CR not
  // followed by LF is kept. Throws util::Error on write failure.
  void write(const char* data, std::size_t size);
  void write(std::string_view data) { write(data.data(), data.size()); }

  // Finishes the message: flushes the buffer, fsyncs the file, sets its
  // mtime to `mtime` (the INTERNALDATE) if given, closes it (checking
  // close()), and moves it to new/<stable_name> when `letters` is empty or
  // to cur/<stable_name>:2,<letters> otherwise, never overwriting a file.
  // Returns the final path. Does not fsync the target directory: call
  // Folder::sync_dirs() after a batch. Throws util::Error(Scope::Message) if
  // the target name exists (the Delivery stays usable: commit again with
  // another stable name) and util::Error on I/O errors.
  fs::path commit(std::string_view stable_name, std::string_view letters,
                  std::optional<std::chrono::sys_seconds> mtime = std::nullopt);

  // Finishes the file without making it durable: flushes the buffer, sets
  // the mtime and closes it, but leaves the fsync to the caller, who must
  // call Folder::sync_data() before commit() (which then only moves the
  // file). This lets a batch of deliveries share one flush of the file
  // system instead of paying one fsync each.
  void finish_deferred(std::optional<std::chrono::sys_seconds> mtime = std::nullopt);

  // After finish_deferred(): renames the file in tmp/ to say that it is
  // whole and which journaled download it is, "roam-done.<stable_name>,S=
  // <size>", so that a run killed before commit() can adopt it
  // (Folder::finished_bodies()) instead of fetching the body again.
  void mark_finished(std::string_view stable_name);

  // Bytes written to the file so far, after CRLF conversion (a CR held back
  // to see whether an LF follows is not counted until it is decided).
  std::uint64_t size() const { return m_written + m_buffer.size(); }

  // Bytes passed to write() so far, before conversion.
  std::uint64_t bytes_received() const { return m_received; }

  // The file in tmp/ (empty once committed).
  const fs::path& tmp_path() const { return m_tmp_path; }

 private:
  friend class Folder;
  Delivery(fs::path folder, fs::path tmp_path, util::Fd fd);

  void append(const char* data, std::size_t size);
  void flush_buffer();
  enum class Sync { Now, Deferred };
  void finish_file(std::optional<std::chrono::sys_seconds> mtime, Sync sync = Sync::Now);
  void discard() noexcept;

  static constexpr std::size_t k_buffer_size = 64 * 1024;

  fs::path m_folder;
  fs::path m_tmp_path;
  util::Fd m_fd;
  std::string m_buffer;
  std::uint64_t m_written = 0;
  std::uint64_t m_received = 0;
  bool m_pending_cr = false;
  bool m_file_finished = false;
};

// One Maildir directory. Cheap to construct; touches the disk only when a
// method is called.
class Folder {
 public:
  explicit Folder(fs::path path);

  // The folder's directory.
  const fs::path& path() const { return m_path; }

  // Whether the folder is there. Only a folder whose directory or cur/
  // does not exist is Gone (its messages were deleted or never made);
  // anything else wrong (a directory that cannot be read, a cur/, new/ or
  // tmp/ that is a file) throws util::Error(Scope::Folder) naming it and
  // saying how to fix it, so that no caller takes it for a deletion.
  Presence presence() const;

  // True if cur/, new/ and tmp/ exist; throws as presence() does.
  bool exists() const { return presence() == Presence::Present; }

  // Creates the folder directory (and its parents), cur/, new/ and tmp/
  // with mode 0700 where missing, and, for a maildir++ subfolder, the empty
  // "maildirfolder" file. The parent directory of everything created is
  // fsynced. Returns true if it created the folder (it had no cur/), so
  // that the caller can say so. Throws util::Error(Scope::Folder) on
  // failure.
  bool ensure_exists(Layout layout, FolderRole role);

  // Lists new/ and cur/ (dot-files and tmp/ are skipped). Reads directory
  // entries only and does not stat the files. If either directory changes
  // while it is read, the scan is repeated (a file renamed during readdir
  // can be missed). Throws util::Error(Scope::Folder) if a directory cannot
  // be read.
  ScanResult scan() const;

  // Lists new/ and cur/ once, as scan() does, without keeping anything:
  // `on_message` gets each valid name's stable name and letters (new/
  // first). Returns false if a file has an invalid name. For a check of a
  // 100,000-message folder that needs no Entry of each (about 400 bytes).
  // Unlike scan(), one pass and no duplicate detection; the caller compares
  // the directories' stamps before and after. Throws util::Error(Scope::Folder)
  // if a directory cannot be read.
  bool visit(const std::function<void(std::string_view stable_name, std::string_view letters)>&
                 on_message) const;

  // The file in new/ or cur/ whose stable name is `stable_name`, whatever
  // its info letters are now, or nothing if there is none. When a mail
  // reader copied a file there may be two; the first by path is returned,
  // as scan() lists them.
  std::optional<Entry> find(std::string_view stable_name) const;

  // Opens the file of `entry` for reading. A mail reader may have renamed
  // it since the scan (a flag change, a move from new/ to cur/): then the
  // file that carries its stable name now is opened, and `entry` is
  // updated to its current name. Once open, later renames do not matter.
  // Returns an empty Fd if no file has that stable name any more (the
  // reader deleted it); throws util::Error(Scope::Folder) if the file is
  // there but cannot be opened.
  util::Fd open(Entry& entry) const;

  // Starts the delivery of a new message in tmp/ (O_EXCL, mode 0600).
  Delivery begin_delivery();

  // Renames the file of `entry` to carry `letters` (known letters only, see
  // k_flag_table), keeping its stable name, its unknown letters and any
  // extra info text. A file in new/ moves to cur/ when it gets letters.
  // Never overwrites: if the target exists, throws util::Error(Scope::Message).
  // Returns the entry after the rename (the same entry if nothing changed)
  // or nothing if the file vanished. Throws util::Error(Scope::Fatal) if
  // `letters` holds a letter roam does not know (a bug in the caller).
  std::optional<Entry> set_flags(const Entry& entry, std::string_view letters);

  // Removes the file of `entry`. Returns Vanished if it was already gone.
  FileStatus remove(const Entry& entry);

  // Hard-links the file of `entry` into tmp/ as "roam-stash.<unique>", so
  // that another folder can adopt the message after `entry` is removed
  // (a message the server moved between folders is not downloaded again).
  // Mail readers never look into tmp/, and clean_tmp() removes stashes left
  // by an interrupted run. Returns the stash's path, or nothing if the file
  // vanished or cannot be linked (the caller then simply downloads).
  std::optional<fs::path> stash(const Entry& entry);

  // Moves a stashed file (from any folder on the same file system) into
  // this folder as new/<stable_name>, or cur/<stable_name>:2,<letters> when
  // `letters` is not empty, never overwriting. Does not fsync the
  // directories: call sync_dirs() after a batch. Returns false if the file
  // is gone or on another file system (EXDEV); throws util::Error on other
  // failures.
  bool adopt(const fs::path& stashed, std::string_view stable_name, std::string_view letters);

  // Bodies that a killed run had finished in tmp/ (Delivery::mark_finished),
  // by the stable name their download was journaled under. Only files whose
  // size is the one their name records are listed.
  std::map<std::string, fs::path> finished_bodies() const;

  // Makes a finished body (see finished_bodies()) durable and moves it to
  // new/<stable_name>, if it holds a header block (a body cut short by a
  // crash of the machine can be empty). Returns its new path, or nothing
  // if it is not a message (it is left for clean_tmp()) or is gone.
  std::optional<fs::path> adopt_finished(const fs::path& body, std::string_view stable_name);

  // Makes the creations, renames and removals in new/ and cur/ durable.
  void sync_dirs() const;

  // Makes the files of a batch of Delivery::finish_deferred() durable (the
  // deliveries' tmp_path()s): one fsync each for a few files, one flush of
  // the whole file system (syncfs(2)) for more. A syncfs also waits for
  // every other writer's data on that file system (a mail server on the
  // same disk, the other connections of the run), which costs more than a
  // few fsyncs.
  void sync_data(const std::vector<fs::path>& files) const;

  // Up to this many files, sync_data() fsyncs each.
  static constexpr std::size_t k_fsync_each_max = 32;

  // Removes files in tmp/ whose mtime is older than `max_age` (36 hours by
  // Maildir convention: a delivery that old was abandoned), and roam's own
  // files whatever their age: stashes (see stash()), which are only
  // meaningful within the run that made them, and bodies being downloaded
  // ("roam-part.*", begin_delivery()) or finished ("roam-done.*"), which a
  // killed run left behind (call it after adopting those).
  // Call it only under the account lock. Returns how many files went.
  std::size_t clean_tmp(std::chrono::seconds max_age = std::chrono::hours(36));

 private:
  fs::path m_path;
};

}  // namespace roam::maildir
