#pragma once

// The account summary: what the last run left each folder as, in one small
// file, so that a run can tell a folder unchanged on both sides from
// LIST-STATUS and three stat(2) calls, without reading the folder's state
// or listing its Maildir directories (docs/state-format.md, "The account
// summary").
//
// It is a cache, never a source of truth: an entry only lets a run skip a
// folder whose state file, Maildir directories and server status are all
// exactly as they were when the entry was written. A missing, damaged or
// out-of-date summary costs a full check of the folders concerned, never a
// wrong sync.

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>

namespace roam::state {

// What stat(2) says of a file or directory that tells whether it changed:
// its inode, size and modification time in nanoseconds.
struct FileStamp {
  std::uint64_t inode = 0;
  std::uint64_t size = 0;
  std::int64_t mtime_ns = 0;

  bool operator==(const FileStamp&) const = default;
};

// The stamp of `path`, or nothing if it cannot be stat'ed.
std::optional<FileStamp> stamp_of(const std::filesystem::path& path);

// One folder as a run left it: the server's status as its state recorded
// it, and the stamps of the state file and of the Maildir's cur/ and new/.
struct FolderSummary {
  // The mailbox name as the server lists it (modified UTF-7, with any
  // namespace prefix), so that the next run can ask for the folder's STATUS
  // in the round trip of its LIST; empty when not known (written by an
  // older roam).
  std::string mailbox;
  // False for a folder the last run did not leave settled: only `mailbox`
  // is known, so that its STATUS too goes out ahead of the LIST, and the
  // folder is never skipped on the word of such an entry.
  bool settled = true;
  std::uint32_t uidvalidity = 0;
  std::uint32_t uidnext = 0;
  std::uint64_t highestmodseq = 0;
  std::uint64_t messages = 0;
  FileStamp state_file;
  FileStamp cur;
  FileStamp new_dir;
  // True for an entry written right after the run changed the Maildir:
  // cur/ and new/ were modified too recently for their mtimes to show a
  // later change made within the same clock tick. Matching stamps then
  // only say "maybe unchanged", and the next run lists the directories and
  // compares `local_digest` (what the state describes) before it skips the
  // folder; once the mtimes are old enough, the entry loses the flag.
  bool verify = false;
  // sync::local_digest of the committed state, for `verify`.
  std::uint64_t local_digest = 0;
  // The hierarchy delimiter the folder's name was mapped to a Maildir
  // path with, as delimiter_text() writes it ("" when the server has no
  // hierarchy), so that the next run can find the folder's Maildir before
  // the server has listed it; nothing when not known (an entry written by
  // an older roam, or a delimiter that is not printable ASCII). A string,
  // not an optional<optional<char>>, which GCC 12 warns about at -O2.
  std::optional<std::string> delimiter;

  bool operator==(const FolderSummary&) const = default;
};

// FolderSummary::delimiter for a folder's delimiter, and the delimiter it
// names.
inline std::string delimiter_text(std::optional<char> delimiter) {
  return delimiter ? std::string(1, *delimiter) : std::string();
}
inline std::optional<char> delimiter_of(const std::string& text) {
  if (text.empty()) {
    return std::nullopt;
  }
  return text[0];
}

// By local folder name.
using AccountSummary = std::map<std::string, FolderSummary>;

// The summary file of an account's state directory.
std::filesystem::path summary_file_for(const std::filesystem::path& state_dir);

// Reads the summary. A missing, unreadable or damaged file gives an empty
// summary (said at debug level): it only makes the run check every folder.
AccountSummary load_summary(const std::filesystem::path& path);

// Writes the summary atomically.
void save_summary(const std::filesystem::path& path, const AccountSummary& summary);

std::string serialize_summary(const AccountSummary& summary);
AccountSummary parse_summary(std::string_view text);  // Throws on damage.

}  // namespace roam::state
