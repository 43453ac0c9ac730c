#pragma once

// The executor's decisions about whole folders that need no socket and no
// file: whether LIST-STATUS and a scan prove a folder unchanged, and which
// folders lost messages on the server. Each is a table test in
// tests/unit/sync/discovery_test.cpp.

#include <cstdint>
#include <string_view>
#include <vector>

#include "imap/response.hpp"
#include "maildir/folder.hpp"
#include "state/folder_state.hpp"

namespace roam::sync {

// True when LIST-STATUS proves that nothing changed on the server since
// `state` was committed: same UIDVALIDITY, UIDNEXT and message count, and a
// known, unchanged HIGHESTMODSEQ (without it a flag change leaves no trace).
bool server_unchanged(const state::FolderState& state, const imap::StatusData& status);

// True when the Maildir holds exactly the files `state` records, with the
// recorded flags (unknown letters aside): nothing local needs to travel.
bool local_unchanged(const state::FolderState& state, const std::vector<maildir::Entry>& entries);

// A digest of what local_unchanged() compares: each message's stable name
// with its known flag letters, summed over the messages so that order does
// not matter. Equal digests of a state and of a listing (of as many
// entries) mean local_unchanged() would say true, but for a chance of
// 2^-64; the account summary keeps a state's digest so that a run can
// check a folder it changed (FolderSummary::verify) by listing it, without
// loading the state. FNV-1a, so that the value is the same in every build.
std::uint64_t local_digest(const state::FolderState& state);
// One listed message's share of the digest (a listing's is the sum).
std::uint64_t local_digest(std::string_view stable_name, std::string_view letters);

// True when LIST-STATUS shows that messages were expunged on the server
// since `state` was committed (they may have been moved to another folder,
// which is why such folders are synced first).
bool lost_messages(const state::FolderState& state, const imap::StatusData& status);

}  // namespace roam::sync
