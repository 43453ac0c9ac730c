#pragma once

// The per-folder sync state: the last state of a folder that both sides (the
// IMAP server and the local Maildir) agreed on. It is the base of every
// three-way decision, so it must never be silently treated as empty when the
// file is damaged: an empty base would make every message look deleted. The
// file format is documented in docs/state-format.md.

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace roam::state {

// The newest state file format this build reads and the one it writes.
inline constexpr int k_folder_state_schema = 3;

// One message both sides hold: its server UID, its Maildir stable name and
// the flags both sides last agreed on.
struct MessageRecord {
  // The server UID, valid under FolderState::uidvalidity. Never 0.
  std::uint32_t uid = 0;
  // The Maildir stable name: the file name without the ":2,<flags>" info
  // part. UIDs live in the state, not in the file names.
  std::string name;
  // IMAP flags and keywords (e.g. "\\Seen", "$Forwarded", "$Label1"), sorted
  // and without duplicates (see normalize_flags).
  std::vector<std::string> flags;
  // The message's content key (sync::content_key_text: 16 lower-case hex
  // digits of a hash of its size with CRLF line ends and its header block),
  // or empty when unknown (records written by format 1). It lets a file
  // that comes back under another name, or a server copy that appears in
  // another folder or under a new UIDVALIDITY, be recognised as this
  // message instead of being copied again.
  std::string key{};

  bool operator==(const MessageRecord&) const = default;
};

// An upload whose UID is not known yet: the APPEND was sent, but the server
// gave no APPENDUID and the new message could not be found (Courier does not
// show a message appended in this session; a reply can be lost in a crash).
// The file is never uploaded again while this intent stands; a later run
// finds the message among the UIDs from `uidnext` on, by Message-ID and
// size or by content key, and turns the intent into a record.
struct PendingUpload {
  std::string name;                // The file's stable name.
  std::string key;                 // Its content key (as MessageRecord::key).
  std::string message_id;          // Its Message-ID header value, or empty.
  std::uint64_t size = 0;          // Its size with CRLF line ends.
  std::uint32_t uidnext = 0;       // The server's UIDNEXT before the APPEND.
  std::vector<std::string> flags;  // The flags it was appended with.

  bool operator==(const PendingUpload&) const = default;
};

// The agreed state of one folder.
struct FolderState {
  // The format version the state was read with; save_folder_state always
  // writes k_folder_state_schema.
  int schema = k_folder_state_schema;
  // The server's name for the mailbox, in UTF-8 (not modified UTF-7).
  std::string mailbox;
  // The UIDVALIDITY the UIDs below belong to; 0 only while no message is
  // recorded.
  std::uint32_t uidvalidity = 0;
  // The server's UIDNEXT when the state was last committed.
  std::uint32_t uidnext = 0;
  // The server's HIGHESTMODSEQ when the state was last committed; 0 means
  // unknown or no CONDSTORE.
  std::uint64_t highestmodseq = 0;
  // Format 3: equal to `highestmodseq` when every record's flags are the
  // server's flags as of that HIGHESTMODSEQ, so that the next run needs only
  // the messages changed since (CHANGEDSINCE); 0 when they may not be (a
  // push-only run records the local flags) or it is not known.
  std::uint64_t flags_modseq = 0;
  // The records, keyed by UID (equal to MessageRecord::uid).
  std::map<std::uint32_t, MessageRecord> messages;
  // Uploads waiting for their UID (format 2). Their names are not used by
  // any record.
  std::vector<PendingUpload> pending_uploads;

  bool operator==(const FolderState&) const = default;
};

// Maps Maildir stable names to UIDs. Built on demand because the sync layer
// edits `messages` freely; rebuild it after changing names.
using NameIndex = std::unordered_map<std::string, std::uint32_t>;

// Builds the name -> UID index of `state`. Names are unique in any state
// that load_folder_state accepted or save_folder_state wrote.
NameIndex build_name_index(const FolderState& state);

// The same index as views into the records' names, without a copy of each
// name: the state must outlive it, and no record may be erased or renamed
// while it is in use. For the read-only passes over a 100,000-record state.
using NameViews = std::unordered_map<std::string_view, std::uint32_t>;
NameViews build_name_views(const FolderState& state);

// Sorts `flags` and removes duplicates, the canonical form the state keeps.
void normalize_flags(std::vector<std::string>& flags);

// Reads the state file at `path`. Returns std::nullopt if the file does not
// exist (the folder was never synced). Throws util::Error(Scope::Folder)
// naming the file when it cannot be read, is not valid JSON, has values of
// the wrong type, records UID 0, a UID or a name twice, or was written by a
// newer roam (the error names the version). A damaged file is never read as
// an empty state.
std::optional<FolderState> load_folder_state(const std::filesystem::path& path);

// Like load_folder_state(state_file_for(state_dir, mailbox)), and also checks
// that the file belongs to `mailbox` (it guards against two mailbox names
// sharing a file, e.g. on a case-insensitive file system).
std::optional<FolderState> load_folder_state_for(const std::filesystem::path& state_dir,
                                                 std::string_view mailbox);

// Writes `state` to `path` atomically and durably (util::write_file_atomic).
// Call it only after the data the state describes is durable (see the commit
// order in docs/state-format.md). Throws util::Error(Scope::Folder) if the
// state breaks an invariant load_folder_state checks (so that roam never
// writes a file it would refuse to read) or the write fails.
void save_folder_state(const std::filesystem::path& path, const FolderState& state);

// Serializes `state` to the version-1 JSON text save_folder_state writes.
std::string serialize_folder_state(const FolderState& state);

// Parses the text of a state file; `path` is used only in error messages.
// Throws like load_folder_state.
FolderState parse_folder_state(std::string_view text, const std::filesystem::path& path);

// Maildir names are bytes, and a file name in a legacy encoding (Latin-1,
// say) is not valid UTF-8, which JSON text must be. Such a name is stored
// escaped: every byte that is not part of a well-formed UTF-8 sequence is
// written as '/' and two upper-case hex digits (0xE9 -> "/E9"). '/' cannot
// occur in a Maildir name, so the escape is unambiguous and a name that is
// valid UTF-8 is stored unchanged. See docs/state-format.md.
std::string escape_name(std::string_view name);

// Reverses escape_name. Returns std::nullopt if a '/' is not followed by two
// hex digits (a damaged name).
std::optional<std::string> unescape_name(std::string_view stored);

// A Message-ID as the state and the journal store it: unchanged if it is
// valid UTF-8, else empty. It only serves to find an upload's server copy
// when the content key does not match (Cyrus rewrites 8-bit headers), and
// JSON cannot hold other bytes; an empty one turns that fallback off for
// the one upload instead of making every save of its folder fail. (It may
// contain '/', so the escape of names would not be reversible here.)
std::string storable_message_id(std::string_view message_id);

// The state file of `mailbox` inside `state_dir`: "folder-<encoded>.json",
// where <encoded> percent-encodes every byte outside [A-Za-z0-9._-]. The
// "folder-" prefix keeps the name clear of ".", ".." and the lock file. A
// name whose encoding would exceed file-name limits is shortened and gets a
// hash suffix ("~<16 hex digits>"); the mailbox is stored in the file anyway.
std::filesystem::path state_file_for(const std::filesystem::path& state_dir,
                                     std::string_view mailbox);

}  // namespace roam::state
