#pragma once

// The entries the sync layer writes to a folder's journal (see
// docs/state-format.md, "Entries the sync layer writes"), as types. Each
// one is written before (or right after) the step it describes, and read
// back by the next run to resume an interrupted one. Typing them here keeps
// writer and reader in one place, and a damaged or foreign entry is a clear
// error naming the journal and the line instead of a JSON exception.

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "state/folder_state.hpp"

namespace roam::state {

// A download's chosen file name, journaled before the body is fetched.
struct DownloadEntry {
  std::uint32_t uid = 0;
  std::string name;
  bool operator==(const DownloadEntry&) const = default;
};

// An upload intent, journaled before the APPEND is sent.
struct UploadEntry {
  PendingUpload upload;
  bool operator==(const UploadEntry&) const = default;
};

// The UID the server gave an upload (APPENDUID).
struct UploadedEntry {
  std::uint32_t uid = 0;
  std::string name;
  bool operator==(const UploadedEntry&) const = default;
};

// An APPEND the server refused: the intent for `name` is void.
struct UploadRefusedEntry {
  std::string name;
  bool operator==(const UploadRefusedEntry&) const = default;
};

// A message moved here from another folder ([COPYUID]): in this folder it
// is `uid`, its file `name`, with the source record's flags and key.
struct MovedEntry {
  std::uint32_t uid = 0;
  std::string name;
  std::vector<std::string> flags;
  std::string key;
  bool operator==(const MovedEntry&) const = default;
};

// In the source folder's journal, before a move of `uid` is sent: the
// move's intent is in the target's journal, so after a crash this record
// must not be taken for a file the user renamed here (its server copy may
// be gone already); its content key is cleared.
struct MovingEntry {
  std::uint32_t uid = 0;
  bool operator==(const MovingEntry&) const = default;
};

// Before the local file `name` of `uid` is removed because the server
// expunged the message: after a crash the record goes if the file is gone.
struct LocalDeleteEntry {
  std::uint32_t uid = 0;
  std::string name;
  bool operator==(const LocalDeleteEntry&) const = default;
};

// Before \Deleted is stored on the server copy `uid`, whose file `name`
// (content key `key`) the user deleted or moved away: after a crash the
// record is left behind (sync/executor.hpp), so that a file the user puts
// back is never tied to the copy roam marked. Without a record (the copy
// was a pending upload that the interrupted run found on the server), one
// is made, left behind, and the pending upload goes.
struct DeletingEntry {
  std::uint32_t uid = 0;
  std::string name;
  std::string key;
  bool operator==(const DeletingEntry&) const = default;
};

using JournalEntry = std::variant<DownloadEntry, UploadEntry, UploadedEntry, UploadRefusedEntry,
                                  MovedEntry, MovingEntry, LocalDeleteEntry, DeletingEntry>;

// The JSON object of an entry ({"op": ..., ...}).
nlohmann::json to_json(const JournalEntry& entry);

// Reads an entry. Throws util::Error(Scope::Folder) naming `journal` and
// `line` for an entry whose fields are missing or of the wrong type, a UID
// of 0, or an unusable name, key or flag; an unknown "op" too (a newer roam
// wrote it, or the file is not roam's).
JournalEntry entry_from_json(const nlohmann::json& object, const std::filesystem::path& journal,
                             std::size_t line);

}  // namespace roam::state
