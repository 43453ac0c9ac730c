#pragma once

// The executor's decisions about whole folders that need no socket and no
// file: whether LIST-STATUS and a scan prove a folder unchanged, and which
// folders lost messages on the server. Each is a table test in
// tests/unit/sync/discovery_test.cpp.

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

// True when LIST-STATUS shows that messages were expunged on the server
// since `state` was committed (they may have been moved to another folder,
// which is why such folders are synced first).
bool lost_messages(const state::FolderState& state, const imap::StatusData& status);

}  // namespace roam::sync
