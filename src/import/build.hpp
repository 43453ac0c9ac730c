#pragma once

// Turns a PlannedFolder (what another tool knew about a folder) into roam's
// state for it, from the files that are in the Maildir folder now. Only what
// is certain becomes a record: a file whose ",U=" the old state pairs with a
// server UID. Everything else is left to roam's first run, which pairs
// unknown messages on both sides by content (a header fetch) instead of
// copying them: so an old state that is stale, half-written or wrong can
// cost time, never a lost or doubled message.

#include <cstddef>
#include <string>

#include "import/plan.hpp"
#include "state/folder_state.hpp"

namespace roam::import {

struct BuiltFolder {
  state::FolderState state;
  // Files that became records.
  std::size_t paired = 0;
  // Files the old state does not pair (no ",U=", an unknown one, a foreign
  // FMD5, a second file with one ",U="): roam's first run pairs them by
  // content with the server's messages, or uploads them.
  std::size_t unpaired_files = 0;
  // Messages of the old state with no file any more: not recorded, so roam
  // downloads them again rather than deleting them on the server (the old
  // tool would have taken a missing file for a deletion; after a switch of
  // tools that is too likely a mistake to act on).
  std::size_t missing_files = 0;
  // Of unpaired_files: files whose ",U=" another file has too (a copy).
  std::size_t duplicate_uids = 0;
  // Of unpaired_files: files whose FMD5 names another folder (moved in).
  std::size_t foreign_fmd5 = 0;
};

// Builds the state of `folder` under roam's folder name `name` (the state's
// `mailbox`). Reads the folder's cur/ and new/ and every paired file (for its
// content key); writes nothing. Throws util::Error(Scope::Folder) naming the
// directory when it cannot be read.
BuiltFolder build_folder_state(const PlannedFolder& folder, const std::string& name);

}  // namespace roam::import
