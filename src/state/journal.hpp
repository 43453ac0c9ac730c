#pragma once

// The per-folder journal: an append-only file of JSON objects, one per line,
// next to the state file ("<state file>.journal"). The sync layer records
// each step there so that a run killed half-way can be resumed without
// uploading or deleting anything twice. This class is only the mechanism; the
// caller chooses the entries, and when they must be durable (sync()).
//
// Only lines ending in '\n' count. A crash can leave a torn final line; read()
// ignores it and open() cuts it off before appending, so that it can never
// end up in the middle of the file. See docs/state-format.md.

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "state/journal_entry.hpp"
#include "util/fs.hpp"

namespace roam::state {

// Crash steps. Every side effect the sync layer makes (a journal entry made
// durable, a rename, a deletion, a server command that changes something, a
// delivery, a state commit) counts as one step of the journaled run. A
// hidden test switch (`roam sync --test-stop-after=N`) makes the process
// exit abruptly, without cleanup, right after step N, so that the test
// suite (and the simulation) can check that a run killed at any step is
// resumed from its journal to the same end result.
//
// Stop after `n` steps (0 = never).
void set_stop_after_steps(std::uint64_t n);
// Counts one step; exits with status 100 (std::_Exit) when the limit is hit.
void count_step();
// Raises `sig` in this process `times` times right after step `n` (for the
// tests of stopping by signal: `--test-signal-after=N`; 0 = never).
void set_signal_after_steps(std::uint64_t n, int sig, int times);
// Steps counted so far in this process (the simulation reports how far a
// run got, to choose where to kill the next one).
std::uint64_t steps_counted();

// The newest journal format this build reads and the one it writes.
inline constexpr int k_journal_version = 1;

// The journal path that belongs to `state_file`.
std::filesystem::path journal_file_for(const std::filesystem::path& state_file);

class Journal {
 public:
  // Opens (O_APPEND, creating it with mode 0600 if needed) the journal at
  // `path`. If the file is new or holds no complete line, `header` (an
  // object, e.g. {"uidvalidity": N}) is written first with "roam_journal":
  // k_journal_version added. An existing journal keeps its header: read() it
  // first to decide whether to resume or to remove() it. Throws
  // util::Error(Scope::Folder) naming the file.
  static Journal open(const std::filesystem::path& path, const nlohmann::json& header);

  Journal(Journal&&) noexcept = default;
  Journal& operator=(Journal&&) noexcept = default;
  Journal(const Journal&) = delete;
  Journal& operator=(const Journal&) = delete;

  // Writes out buffered entries without waiting for the disk, ignoring
  // errors (a destructor must not throw; losing unsynced entries costs at
  // worst redundant work, as the caller chose not to sync them).
  ~Journal();

  // Buffers one entry (a JSON object) as a line. Nothing reaches the file
  // until sync() or the destructor. Throws util::Error if `entry` is not an object,
  // contains invalid UTF-8, or an earlier write failed.
  void append(const nlohmann::json& entry);
  // Buffers one of the sync layer's typed entries.
  void append(const JournalEntry& entry) { append(to_json(entry)); }

  // Writes the buffered entries and waits until they are on disk
  // (fdatasync). Call it where durability matters, e.g. before uploading a
  // message whose journal entry lets a resumed run find it again.
  void sync();

  // The journal's path.
  const std::filesystem::path& path() const { return m_path; }

  // Reads the journal at `path`: the header first, then the entries, in file
  // order. A missing file, or one with no complete line, gives an empty
  // vector. A torn final line (no '\n') is ignored. Throws
  // util::Error(Scope::Folder) naming the file and line for a corrupt line
  // anywhere else, a first line that is not a journal header, or a header
  // version newer than k_journal_version.
  static std::vector<nlohmann::json> read(const std::filesystem::path& path);

  // Deletes the journal at `path` (if it exists) and makes that durable.
  // Call it only after the state it led to was saved (save_folder_state).
  static void remove(const std::filesystem::path& path);

 private:
  Journal(std::filesystem::path path, util::Fd fd);
  void write_buffer();

  std::filesystem::path m_path;
  util::Fd m_fd;
  std::string m_buffer;
  // True until the first sync() has also made the journal's directory entry
  // durable (the file may have just been created, by this run or a crashed
  // one).
  bool m_dir_sync_pending = true;
  // Set when a write failed part-way: the file may end in a partial line, so
  // nothing more may be appended after it.
  bool m_broken = false;
};

}  // namespace roam::state
