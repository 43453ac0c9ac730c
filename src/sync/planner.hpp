#pragma once

// The planner: last agreed state × server × Maildir → plan. It is a pure
// function; the rules it follows are documented in docs/sync-semantics.md
// and each one has its own unit test (tests/unit/sync/planner_test.cpp).

#include <string>
#include <vector>

#include "sync/model.hpp"

namespace roam::sync {

// Download a server message into the Maildir.
struct Download {
  Uid uid = 0;
  Flags flags;  // The server's flags; they become the file's letters.
};

// Change a local file's flags (a rename within the folder).
struct SetLocalFlags {
  Uid uid = 0;
  std::string name;
  std::string from_letters;
  std::string to_letters;
  Flags agreed;  // The record's flags once the rename is done.
};

// Remove a local file whose server message was expunged.
struct DeleteLocal {
  Uid uid = 0;
  std::string name;
};

// Change a record without touching either side (flags agreed anew).
struct UpdateRecord {
  state::MessageRecord record;
};

// Forget a record (the message is gone on both sides, or kept locally only).
struct DropRecord {
  Uid uid = 0;
};

// A message matched by content after a UIDVALIDITY change: the local file
// `name` is the server message `uid`.
struct Rematch {
  Uid uid = 0;
  std::string name;
};

struct Plan {
  std::vector<Download> downloads;
  std::vector<SetLocalFlags> local_flags;
  std::vector<DeleteLocal> local_deletes;
  std::vector<UpdateRecord> updates;
  std::vector<DropRecord> drops;
  // Things the user should know that are not errors (one line each).
  std::vector<std::string> notices;
  // Set when a safety guard stopped the plan from deleting; the executor
  // applies the rest, reports this as a folder error and exits non-zero.
  std::string refused;
  // True when the old state's UIDs are void (UIDVALIDITY changed) and the
  // executor must start the folder's state afresh from this plan.
  bool reset_state = false;

  bool empty() const {
    return downloads.empty() && local_flags.empty() && local_deletes.empty() && updates.empty() &&
           drops.empty();
  }
};

// Plans a folder whose state (if any) has the server's UIDVALIDITY.
// `state` is nullptr for a folder never synced before.
Plan plan_folder(const state::FolderState* state, const ServerFolder& server,
                 const LocalFolder& local, const Policy& policy);

// The content key of a message, used to recognise the same message on both
// sides after a UIDVALIDITY change: its size with CRLF line ends and its
// header block with LF line ends.
struct ContentKey {
  std::uint64_t crlf_size = 0;
  std::string header;
  bool operator==(const ContentKey&) const = default;
  bool operator<(const ContentKey& o) const {
    return crlf_size != o.crlf_size ? crlf_size < o.crlf_size : header < o.header;
  }
};

struct KeyedServerMessage {
  ServerMessage message;
  ContentKey key;
};

struct KeyedLocalMessage {
  LocalMessage message;
  ContentKey key;
  bool known = false;  // True when the old state had a record for this file.
};

// Plans a folder after a UIDVALIDITY change (or a first sync of a folder
// whose Maildir already holds messages): server messages are matched to
// local files by content key, one to one, so nothing is downloaded twice and
// no local file is lost. Matched pairs get the union of both sides' flags.
Plan plan_rematch(const std::vector<KeyedServerMessage>& server,
                  const std::vector<KeyedLocalMessage>& local, const Policy& policy);

// --- Flag merging (exposed for tests and for the two-way planner) ---

// Flags that have a Maildir letter, as letters.
std::string letters_of(const Flags& flags);

// The three-way merge of one message's flags, flag by flag: a side that
// changed a flag since `base` wins over a side that did not; when both
// changed it they agree by definition (a flag is boolean). Without a base,
// the union is taken. Returns the merged letters (mapped flags only).
std::string merge_letters(const std::string* base, const std::string& server,
                          const std::string& local);

}  // namespace roam::sync
