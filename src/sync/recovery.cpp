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
void recover_journal(const AccountSettings& s, FolderEntry& f, FolderReport& report,
                     bool from_this_run) {
  std::vector<std::string>& said = from_this_run ? report.details : report.notices;
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
  const nlohmann::json& header = lines.front();
  auto found = header.find("uidvalidity");
  if (found == header.end() || !found->is_number_unsigned() ||
      found->get<std::uint64_t>() > std::numeric_limits<std::uint32_t>::max()) {
    throw Error(Scope::Folder, "journal " + journal_path.string() +
                                   " has no valid uidvalidity in its header; remove it to let "
                                   "the next run re-match the folder's messages by content");
  }
  auto validity = static_cast<std::uint32_t>(found->get<std::uint64_t>());
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
  bool same_validity = validity == f.state->uidvalidity;
  if (!same_validity) {
    // Intents from a UIDVALIDITY the state no longer has: their UIDs mean
    // nothing now. The files they named are ordinary local files, which
    // content matching pairs up.
    if (from_this_run) {
      // A move journaled before the target's UIDVALIDITY was known.
      ROAM_DEBUG(util::k_cat_sync, f.name << ": the UIDs in journal " << journal_path.string()
                                          << " are of another UIDVALIDITY; found by content");
    } else {
      ROAM_WARN(f.name << ": ignoring the UIDs in journal " << journal_path.string()
                       << " from an older UIDVALIDITY");
    }
  }
  // A message both sides hold, found in the journal: adopted unless the
  // state knows its UID or name already (the journal may describe work
  // that was committed before the crash).
  std::size_t adopted = 0;
  std::size_t from_tmp_count = 0;
  auto adopt = [&](std::uint32_t uid, const std::string& name,
                   const std::vector<std::string>& flags, const std::string& key) {
    f.state->messages[uid] = state::MessageRecord{uid, name, flags, key};
    names.emplace(name, uid);
    intents.erase(name);
    ++adopted;
  };
  auto known = [&](std::uint32_t uid, const std::string& name) {
    return !same_validity || f.state->messages.count(uid) != 0 || names.count(name) != 0;
  };
  // The flags of a file as found now (its letters), plus `keywords` (flags
  // without a letter, which only the record carried).
  auto file_flags = [&](const maildir::Entry& e, const std::vector<std::string>& keywords) {
    std::vector<std::string> flags = maildir::imap_flags_from_letters(e.letters).imap_flags;
    for (const auto& flag : keywords) {
      if (!maildir::letter_for_imap_flag(flag)) {
        flags.push_back(flag);
      }
    }
    state::normalize_flags(flags);
    return flags;
  };
  // Leaves the record of `uid` behind (sync/executor.hpp), keeping the
  // name index in step with its new name.
  auto leave_behind = [&](state::MessageRecord& rec) {
    if (left_behind(rec)) {
      return;
    }
    names.erase(rec.name);
    mark_left_behind(rec);
    names.emplace(rec.name, rec.uid);
  };
  // Forgets the pending upload (and the journaled intent) of file `name`.
  auto drop_pending = [&](const std::string& name) {
    std::erase_if(f.state->pending_uploads,
                  [&](const state::PendingUpload& p) { return p.name == name; });
    intents.erase(name);
  };
  // Local files that neither the state nor the journal knows, by content
  // key; read only if a finished body needs them.
  std::optional<std::multimap<std::string, const maildir::Entry*>> unknown_files;
  std::size_t paired_count = 0;
  auto unknown_copy = [&](const std::string& key) -> const maildir::Entry* {
    if (key.empty()) {
      return nullptr;
    }
    if (!unknown_files) {
      unknown_files.emplace();
      for (const auto& e : f.scan.entries) {
        if (names.count(e.stable_name) != 0 || already_pending.count(e.stable_name) != 0) {
          continue;
        }
        if (auto k = file_content_key(e)) {
          unknown_files->emplace(content_key_text(*k), &e);
        }
      }
    }
    for (auto [it, end] = unknown_files->equal_range(key); it != end; ++it) {
      const maildir::Entry* e = it->second;
      if (names.count(e->stable_name) == 0 && intents.count(e->stable_name) == 0) {
        unknown_files->erase(it);
        return e;
      }
    }
    return nullptr;
  };
  // Bodies the interrupted run had fetched whole but not yet moved into
  // place (maildir::Delivery::mark_finished, large bodies only): adopted,
  // not fetched again.
  maildir::Folder folder(f.path);
  std::optional<std::map<std::string, fs::path>> finished;
  std::vector<maildir::Entry> from_tmp;
  for (std::size_t i = 1; i < lines.size(); ++i) {
    state::JournalEntry entry = state::entry_from_json(lines[i], journal_path, i + 1);
    if (auto* up = std::get_if<state::UploadEntry>(&entry)) {
      intents[up->upload.name] = up->upload;
    } else if (auto* refused = std::get_if<state::UploadRefusedEntry>(&entry)) {
      intents.erase(refused->name);
    } else if (auto* down = std::get_if<state::DownloadEntry>(&entry)) {
      auto it = by_name.find(down->name);
      // A download whose file never reached the Maildir is simply repeated.
      if (!known(down->uid, down->name) && it == by_name.end() && !s.dry_run && f.local_exists) {
        if (!finished) {
          finished = folder.finished_bodies();
        }
        auto body = finished->find(down->name);
        std::optional<fs::path> path;
        if (body != finished->end()) {
          std::string key_text;
          try {
            key_text = content_key_text(local_content_key(util::read_file(body->second)));
          } catch (const Error& e) {
            ROAM_DEBUG(util::k_cat_sync, e.what());
          }
          // The user may have put a copy of the message here since (moved
          // back the file that the first sync could not pair): the record
          // takes that file, and the body in tmp/ goes, or the folder would
          // hold the message twice (seed 30051695).
          if (const maildir::Entry* copy = unknown_copy(key_text)) {
            // No flags agreed yet, as for a download: the merge joins the
            // file's flags and the server's.
            adopt(down->uid, copy->stable_name, {}, key_text);
            std::error_code ec;
            fs::remove(body->second, ec);
            ++paired_count;
            continue;
          }
          path = folder.adopt_finished(body->second, down->name);
          if (path) {
            maildir::Entry e{down->name, "", maildir::Subdir::New, path->string()};
            adopt(down->uid, down->name, {}, key_text);
            from_tmp.push_back(std::move(e));
            ++from_tmp_count;
          }
        }
        continue;
      }
      if (!known(down->uid, down->name) && it != by_name.end()) {
        // With its content key, as a download records it: an upload of the
        // same message that another client moved here from a folder synced
        // later is recognised as this one by it (known_elsewhere).
        std::optional<ContentKey> key = file_content_key(*it->second);
        adopt(down->uid, down->name, file_flags(*it->second, {}),
              key ? content_key_text(*key) : "");
      }
    } else if (auto* uploaded = std::get_if<state::UploadedEntry>(&entry)) {
      auto intent = intents.find(uploaded->name);
      std::string key = intent != intents.end() ? intent->second.key : "";
      auto it = by_name.find(uploaded->name);
      if (known(uploaded->uid, uploaded->name)) {
        continue;
      }
      if (it != by_name.end()) {
        adopt(uploaded->uid, uploaded->name, file_flags(*it->second, {}), key);
      } else if (intent != intents.end()) {
        // The file went after its upload: the record makes the next merge
        // delete the server copy, as the user wanted, instead of
        // downloading it again.
        adopt(uploaded->uid, uploaded->name, intent->second.flags, key);
      }
    } else if (auto* moving = std::get_if<state::MovingEntry>(&entry)) {
      // A move of this message was about to be sent (its intent is in the
      // target's journal, which finds or uploads the message there). Here
      // the record is left behind: its server copy, if the move never went
      // out, is deleted as the move would have done, and a file the user
      // moved back, even under its old name, is a new message (tied to this
      // record, it would be deleted as "expunged" once the move is seen).
      auto rec = f.state->messages.find(moving->uid);
      if (same_validity && rec != f.state->messages.end()) {
        leave_behind(rec->second);
      }
    } else if (auto* deleting = std::get_if<state::DeletingEntry>(&entry)) {
      // roam was about to mark this copy \Deleted (or had): its record is
      // left behind as the commit would have left it. A copy that was a
      // pending upload, found on the server by the interrupted run, gets
      // its record here, so that it is not found again for a file the user
      // puts back (and its \Deleted spread to that file).
      if (!same_validity) {
        // The UIDVALIDITY changed and the state has not been committed
        // since: the entry's UID means nothing here, its name does. The
        // record is left behind (the carry-over then gives it only a
        // \Deleted copy); a pending upload goes, so that the copy is not
        // found for it again (pairing by content lifts the \Deleted of a
        // copy that pairs with a file the user put back).
        if (auto named = names.find(deleting->name); named != names.end()) {
          leave_behind(f.state->messages.at(named->second));
        }
        drop_pending(deleting->name);
        continue;
      }
      auto rec = f.state->messages.find(deleting->uid);
      if (rec == f.state->messages.end()) {
        state::MessageRecord made{deleting->uid, deleting->name, {}, deleting->key};
        mark_left_behind(made);
        drop_pending(deleting->name);
        names.emplace(made.name, made.uid);
        f.state->messages.emplace(made.uid, std::move(made));
      } else {
        leave_behind(rec->second);
      }
    } else if (auto* gone = std::get_if<state::LocalDeleteEntry>(&entry)) {
      // The server had expunged this message and its file was being
      // removed: once the file is gone the record goes too. Kept, it would
      // take a file with the same content that the user moves here later
      // and delete it as expunged as well.
      auto rec = f.state->messages.find(gone->uid);
      if (same_validity && rec != f.state->messages.end() && rec->second.name == gone->name &&
          by_name.count(gone->name) == 0) {
        names.erase(rec->second.name);
        f.state->messages.erase(rec);
      }
    } else if (auto* moved = std::get_if<state::MovedEntry>(&entry)) {
      if (known(moved->uid, moved->name)) {
        continue;
      }
      auto it = by_name.find(moved->name);
      adopt(moved->uid, moved->name,
            it != by_name.end() ? file_flags(*it->second, moved->flags) : moved->flags, moved->key);
    }
  }
  if (!from_tmp.empty()) {
    folder.sync_dirs();
    for (auto& e : from_tmp) {
      f.scan.entries.push_back(std::move(e));
    }
    said.push_back("resumed an interrupted run: " + std::to_string(from_tmp_count) +
                   " message(s) it had downloaded whole moved into place from tmp/, "
                   "not downloaded again");
  }
  // An adopted upload settles an intent the state kept from an earlier run
  // for the same file.
  std::erase_if(f.state->pending_uploads,
                [&](const state::PendingUpload& p) { return names.count(p.name) != 0; });
  std::size_t pending = 0;
  for (auto& [name, p] : intents) {
    if (names.count(name) != 0 || already_pending.count(name) != 0) {
      continue;
    }
    f.state->pending_uploads.push_back(std::move(p));
    ++pending;
  }
  if (paired_count > 0) {
    said.push_back("resumed an interrupted run: " + std::to_string(paired_count) +
                   " message(s) it had downloaded were in the folder already (put there "
                   "since); paired with those files");
  }
  if (adopted > from_tmp_count + paired_count) {
    said.push_back(from_this_run ? std::to_string(adopted - from_tmp_count - paired_count) +
                                       " message(s) moved here recorded from the journal"
                                 : "resumed an interrupted run: " +
                                       std::to_string(adopted - from_tmp_count - paired_count) +
                                       " message(s) adopted from the journal");
  }
  if (pending > 0) {
    said.push_back(from_this_run ? std::to_string(pending) +
                                       " message(s) moved here to find on the server by content"
                                 : "resumed an interrupted run: " + std::to_string(pending) +
                                       " upload(s) to find on the server before anything is "
                                       "uploaded");
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
