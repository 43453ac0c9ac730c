#pragma once

// The planner: last agreed state × server × Maildir → plan. It is a pure
// function; the rules it follows are documented in docs/sync-semantics.md
// and each one has its own unit test (tests/unit/sync/planner_test.cpp).

#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "sync/model.hpp"

namespace roam::sync {

// The content key of a message, used to recognise the same message on both
// sides when UIDs cannot tell (a UIDVALIDITY change, a message new on both
// sides, an upload whose UID was lost in a crash): its size with CRLF line
// ends and its header block with LF line ends.
struct ContentKey {
  std::uint64_t crlf_size = 0;
  std::string header;
  bool operator==(const ContentKey&) const = default;
  bool operator<(const ContentKey& o) const {
    return crlf_size != o.crlf_size ? crlf_size < o.crlf_size : header < o.header;
  }
};

// The text form of a content key that the state keeps per record
// (MessageRecord::key): 16 lower-case hex digits of a 64-bit FNV-1a hash of
// the CRLF size and the header block.
std::string content_key_text(const ContentKey& key);

// `key` without mbsync's "X-TUID:" header line, or nullopt when it has none.
// mbsync writes that line into every copy it makes, on either side, while
// the original lacks it; so a message mbsync copied but whose pair is not
// known (a killed mbsync run before `roam import`, a state roam could not
// use) keys differently on the two sides. Pairing unknown messages by
// content tries this key after the exact one.
std::optional<ContentKey> key_without_tuid(const ContentKey& key);

// The value of the first Message-ID header in `header` (a header block with
// LF or CRLF line ends), unfolded and without surrounding blanks; empty when
// there is none. Used with the size to find an upload the server changed
// (Cyrus rewrites 8-bit header bytes, so the header block no longer matches).
std::string message_id_of(std::string_view header);

// Everything the planner looks at for one folder.
struct FolderInput {
  // The agreed state, or nullptr when there is none that applies (never
  // synced, or the server's UIDVALIDITY changed).
  const state::FolderState* state = nullptr;
  ServerFolder server;
  LocalFolder local;
  // Content keys of messages the state does not know, when the executor
  // fetched them. Unknown messages with equal keys on both sides are paired
  // instead of being copied both ways.
  std::map<Uid, ContentKey> server_keys;
  std::map<std::string, ContentKey> local_keys;
  // Files that vanished from this folder and appeared under the same stable
  // name in another one (stable name -> that folder): moves by the user.
  std::map<std::string, std::string> moved_out;
  // Unknown files here that arrived by such a move: the server side of the
  // move brings their server copy, so they are not uploaded.
  std::set<std::string> moved_in;
  // The whole local folder (or its cur/) vanished: nothing is deleted on
  // the server because of it.
  bool local_folder_missing = false;
  // Files with an upload whose UID is not known yet (FolderState's
  // pending_uploads): never uploaded again, never deleted.
  std::set<std::string> pending_uploads;
};

// Download a server message into the Maildir.
struct Download {
  Uid uid = 0;
  Flags flags;  // The server's flags; they become the file's letters.
};

// Upload a local file (APPEND).
struct Upload {
  std::string name;
  std::string letters;  // The file's letters now (for finding the file).
  Flags flags;          // The flags to APPEND with; they become the record's.
};

// Change a local file's flags (a rename within the folder).
struct SetLocalFlags {
  Uid uid = 0;
  std::string name;
  std::string from_letters;
  std::string to_letters;
};

// Change a server message's flags.
struct SetServerFlags {
  Uid uid = 0;
  Flags add;
  Flags remove;
};

// Remove a local file whose server message was expunged.
struct DeleteLocal {
  Uid uid = 0;
  std::string name;
};

// Delete a server message whose local file was deleted: \Deleted, then
// UID EXPUNGE when `expunge` (otherwise the flag alone).
struct DeleteServer {
  Uid uid = 0;
  bool expunge = true;
};

// Move a server message to another folder (the user moved its file).
struct MoveServer {
  Uid uid = 0;
  std::string target;  // The other folder's name.
};

// The record a message ends with once its actions succeeded. A message
// whose action fails keeps its old record, so the next run merges again.
struct UpdateRecord {
  state::MessageRecord record;
};

// Forget a record (the message is gone on both sides, or kept locally only).
struct DropRecord {
  Uid uid = 0;
};

struct Plan {
  std::vector<Download> downloads;
  std::vector<Upload> uploads;
  std::vector<SetLocalFlags> local_flags;
  std::vector<SetServerFlags> server_flags;
  std::vector<DeleteLocal> local_deletes;
  std::vector<DeleteServer> server_deletes;
  std::vector<MoveServer> moves;
  std::vector<UpdateRecord> updates;
  std::vector<DropRecord> drops;
  // Things the user should know that are not errors (one line each).
  std::vector<std::string> notices;
  // Things worth saying only when asked (-v): routine, not news.
  std::vector<std::string> details;
  // Set when a safety guard stopped the plan from deleting; the executor
  // applies the rest, reports this as a folder error and exits non-zero.
  std::string refused;

  bool empty() const {
    return downloads.empty() && uploads.empty() && local_flags.empty() && server_flags.empty() &&
           local_deletes.empty() && server_deletes.empty() && moves.empty() && updates.empty() &&
           drops.empty();
  }
  // Files moved in from another folder that no server message matched yet;
  // they are neither uploaded nor recorded this time.
  std::vector<std::string> moved_in_unpaired;
  // Unknown local files that stay local only (pull mode, a read-only
  // folder): not uploaded, but a download may be their server copy.
  std::vector<std::string> local_only;

  // True when unknown messages on both sides may be the same: the plan
  // would copy them both ways, or downloads may be the server copies of
  // files moved in or kept local only. Content keys may pair some of them
  // (the executor fetches the keys and plans again).
  bool wants_content_keys() const {
    return !downloads.empty() &&
           (!uploads.empty() || !moved_in_unpaired.empty() || !local_only.empty());
  }
};

// Plans one folder: complete_plan(plan_known(input, policy), input, policy).
Plan plan_folder(const FolderInput& input, const Policy& policy);

// The first part of a folder's plan: what becomes of the messages the
// state knows (merged flags, deletions both ways, the mass-deletion
// guards), and the messages it does not know. None of it depends on
// content keys, so a caller that fetches keys after a first plan
// (Plan::wants_content_keys) completes this part again instead of looping
// over every record twice. The pointers are into `input`, whose messages
// must not change before the plan is completed (keys may be added).
struct KnownPlan {
  Plan plan;
  std::vector<const ServerMessage*> new_server;  // In the server listing's order.
  std::vector<const LocalMessage*> new_local;    // In the local listing's order.
  std::size_t kept_local_deletions = 0;          // Pull mode keeps them on the server.
  std::size_t kept_server_expunges = 0;          // Push mode keeps them locally.
};
KnownPlan plan_known(const FolderInput& input, const Policy& policy);

// The rest of the plan: unknown messages paired by content key (with the
// keys in `input`), downloads, uploads, and what the user should know.
Plan complete_plan(KnownPlan known, const FolderInput& input, const Policy& policy);

// The same, for the common case without keys or moves.
Plan plan_folder(const state::FolderState* state, const ServerFolder& server,
                 const LocalFolder& local, const Policy& policy);

// --- Flag merging (exposed for tests) ---

// Flags that have a Maildir letter, as letters.
std::string letters_of(const Flags& flags);

// The three-way merge of one message's flags, flag by flag: a side that
// changed a flag since `base` wins over a side that did not; when both
// changed it they agree by definition (a flag is boolean). Without a base,
// the union is taken. Returns the merged letters (mapped flags only).
std::string merge_letters(const std::string* base, const std::string& server,
                          const std::string& local);

}  // namespace roam::sync
