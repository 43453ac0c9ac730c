#include "import/build.hpp"

#include <algorithm>
#include <set>

#include "maildir/folder.hpp"
#include "sync/executor.hpp"
#include "sync/planner.hpp"
#include "util/error.hpp"

namespace roam::import {

BuiltFolder build_folder_state(const PlannedFolder& folder, const std::string& name) {
  BuiltFolder out;
  out.state.mailbox = name;
  maildir::ScanResult scan = maildir::Folder(folder.dir).scan();
  // Two files with one stable name cannot both be the state's record (the
  // state keys records by name); neither is paired, as a sync would not
  // guess between them either.
  std::set<std::string> shared_names;
  for (const auto& d : scan.duplicates) {
    shared_names.insert(d.stable_name);
  }
  // How many files carry each ",U=": a copy of a file shares its number,
  // and no file of such a pair can be told to be the original.
  std::map<std::uint32_t, int> uid_files;
  for (const auto& e : scan.entries) {
    if (auto u = file_uid(e.stable_name)) {
      ++uid_files[*u];
    }
  }
  std::set<std::uint32_t> used_server_uids;
  const bool has_validity = folder.uidvalidity != 0;
  for (const auto& e : scan.entries) {
    if (shared_names.count(e.stable_name) != 0) {
      ++out.unpaired_files;
      continue;
    }
    std::optional<std::uint32_t> u = file_uid(e.stable_name);
    auto pair = u ? folder.by_file_uid.find(*u) : folder.by_file_uid.end();
    bool usable = has_validity && pair != folder.by_file_uid.end() &&
                  used_server_uids.count(pair->second.server_uid) == 0;
    if (usable && uid_files.at(*u) > 1) {
      ++out.duplicate_uids;
      usable = false;
    }
    if (usable && !folder.fmd5.empty() && file_fmd5(e.stable_name) != folder.fmd5) {
      ++out.foreign_fmd5;
      usable = false;
    }
    if (!usable) {
      ++out.unpaired_files;
      continue;
    }
    // The content key lets roam recognise the message later when its file
    // comes back under another name or its server copy moves; a file that
    // vanished since the scan is simply left unpaired.
    std::optional<sync::ContentKey> key = sync::file_content_key(e);
    if (!key) {
      ++out.unpaired_files;
      continue;
    }
    state::MessageRecord r;
    r.uid = pair->second.server_uid;
    r.name = e.stable_name;
    r.flags = pair->second.flags;
    state::normalize_flags(r.flags);
    r.key = sync::content_key_text(*key);
    used_server_uids.insert(r.uid);
    out.state.messages.emplace(r.uid, std::move(r));
    ++out.paired;
  }
  // A pair whose number no file carries: its file is gone. (A number that
  // files carry but that was not paired is counted among the unpaired.)
  for (const auto& [file_uid_value, pair] : folder.by_file_uid) {
    if (uid_files.count(file_uid_value) == 0) {
      ++out.missing_files;
    }
  }
  if (!out.state.messages.empty()) {
    out.state.uidvalidity = folder.uidvalidity;
    std::uint32_t highest = out.state.messages.rbegin()->first;
    out.state.uidnext = std::max(folder.uidnext, highest == 0xffffffffu ? highest : highest + 1);
  }
  return out;
}

}  // namespace roam::import
