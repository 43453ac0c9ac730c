#include "sync/executor.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <limits>
#include <map>
#include <memory>
#include <set>
#include <unordered_map>

#include "imap/client.hpp"
#include "imap/date.hpp"
#include "imap/utf7.hpp"
#include "maildir/folder.hpp"
#include "maildir/name.hpp"
#include "state/folder_state.hpp"
#include "state/journal.hpp"
#include "state/lock.hpp"
#include "sync/planner.hpp"
#include "sync/steps.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"
#include "util/log.hpp"

namespace roam::sync {

using util::Error;
using util::Scope;
namespace fs = std::filesystem;

// Resolves what an interrupted run left in a folder's journal: downloads
// whose file exists and uploads whose UID the server gave are adopted into
// the state, which is then committed and the journal removed.
void recover_journal(const AccountSettings& s, FolderEntry& f, FolderReport& report) {
  fs::path journal_path = state::journal_file_for(f.state_path);
  if (!fs::exists(journal_path)) {
    return;
  }
  std::vector<nlohmann::json> lines = state::Journal::read(journal_path);
  if (lines.empty()) {
    if (!s.dry_run) {
      state::Journal::remove(journal_path);
    }
    return;
  }
  std::uint32_t validity = lines.front().value("uidvalidity", 0u);
  if (!f.state) {
    f.state = state::FolderState{};
    f.state->mailbox = f.name;
    f.state->uidvalidity = validity;
  }
  std::unordered_map<std::string, const maildir::Entry*> by_name;
  for (const auto& e : f.scan.entries) {
    by_name.emplace(e.stable_name, &e);
  }
  state::NameIndex names = state::build_name_index(*f.state);
  std::set<std::string> already_pending;
  for (const auto& p : f.state->pending_uploads) {
    already_pending.insert(p.name);
  }
  // Upload intents are kept whatever the UIDVALIDITY: they are resolved by
  // content, not by UID.
  std::map<std::string, state::PendingUpload> intents;
  std::map<std::string, std::string> intent_keys;
  bool same_validity = validity == f.state->uidvalidity;
  if (!same_validity) {
    // Intents from a UIDVALIDITY the state no longer has: their UIDs mean
    // nothing now. The files they named are ordinary local files, which
    // content matching pairs up.
    ROAM_WARN(f.name << ": ignoring the UIDs in journal " << journal_path.string()
                     << " from an older UIDVALIDITY");
  }
  std::size_t adopted = 0;
  for (std::size_t i = 1; i < lines.size(); ++i) {
    const auto& j = lines[i];
    std::string op = j.value("op", "");
    auto uid = j.value("uid", 0u);
    std::string name = j.value("name", "");
    if (op == "upload") {
      state::PendingUpload p;
      p.name = name;
      p.key = j.value("key", "");
      p.message_id = j.value("message_id", "");
      p.size = j.value("size", std::uint64_t{0});
      p.uidnext = j.value("uidnext", 0u);
      p.flags = j.value("flags", std::vector<std::string>{});
      state::normalize_flags(p.flags);
      intent_keys[name] = p.key;
      intents[name] = std::move(p);
      continue;
    }
    if (op == "upload_refused") {
      intents.erase(name);
      continue;
    }
    if ((op != "download" && op != "uploaded" && op != "moved") || uid == 0 || !same_validity ||
        f.state->messages.count(uid) != 0 || names.count(name) != 0) {
      continue;
    }
    auto it = by_name.find(name);
    std::vector<std::string> flags;
    std::string key = op == "moved" ? j.value("key", "") : intent_keys[name];
    if (it != by_name.end()) {
      flags = maildir::imap_flags_from_letters(it->second->letters).imap_flags;
      if (op == "moved") {
        // Keywords have no letter; the source record carried them.
        for (const auto& flag : j.value("flags", std::vector<std::string>{})) {
          if (!maildir::letter_for_imap_flag(flag)) {
            flags.push_back(flag);
          }
        }
      }
      state::normalize_flags(flags);
    } else if (op == "uploaded" && intents.count(name) != 0) {
      // The file went after its upload: the record makes the next merge
      // delete the server copy, as the user wanted, instead of
      // downloading it again.
      flags = intents[name].flags;
    } else if (op == "moved") {
      flags = j.value("flags", std::vector<std::string>{});
      state::normalize_flags(flags);
    } else {
      continue;  // A download that never reached the Maildir.
    }
    if (key.size() != 16) {
      key.clear();
    }
    f.state->messages[uid] = state::MessageRecord{uid, name, flags, key};
    names.emplace(name, uid);
    intents.erase(name);
    ++adopted;
  }
  // An adopted upload settles an intent the state kept from an earlier run
  // for the same file.
  std::erase_if(f.state->pending_uploads,
                [&](const state::PendingUpload& p) { return names.count(p.name) != 0; });
  std::size_t pending = 0;
  for (auto& [name, p] : intents) {
    if (names.count(name) != 0 || already_pending.count(name) != 0 || p.key.size() != 16) {
      continue;
    }
    f.state->pending_uploads.push_back(std::move(p));
    ++pending;
  }
  if (adopted > 0) {
    report.notices.push_back("resumed an interrupted run: " + std::to_string(adopted) +
                             " message(s) adopted from the journal");
  }
  if (pending > 0) {
    report.notices.push_back("resumed an interrupted run: " + std::to_string(pending) +
                             " upload(s) to find on the server before anything is uploaded");
  }
  f.state->uidnext = 0;
  f.state->highestmodseq = 0;
  if (!s.dry_run) {
    state::save_folder_state(f.state_path, *f.state);
    count_step();
    state::Journal::remove(journal_path);
  }
}

}  // namespace roam::sync
