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
#include <stdexcept>
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

void FolderSync::adopt_rename(maildir::Entry& entry, maildir::Entry renamed) {
  if (renamed.stable_name != entry.stable_name) {
    // A rename for new flags keeps the stable name; m_entries' key is a
    // view of this one, which must therefore not be replaced.
    throw std::logic_error("adopt_rename: the stable name changed");
  }
  entry.letters = std::move(renamed.letters);
  entry.subdir = renamed.subdir;
  entry.path = std::move(renamed.path);
}

void FolderSync::apply_local(const Plan& plan) {
  bool touched = false;
  for (const auto& change : plan.local_flags) {
    auto it = m_entries.find(change.name);
    if (it == m_entries.end()) {
      fail(change.uid);
      continue;
    }
    std::optional<maildir::Entry> renamed;
    try {
      renamed = m_folder.set_flags(*it->second, maildir::known_letters(change.to_letters));
    } catch (const Error& e) {
      if (e.scope() != Scope::Message) {
        throw;
      }
      m_report.notices.push_back(e.what());
      fail(change.uid);
      continue;
    }
    touched = true;
    count_step();
    if (!renamed) {
      // The mail reader moved or deleted the file meanwhile; the next run
      // sees the new situation.
      fail(change.uid);
      continue;
    }
    adopt_rename(*it->second, std::move(*renamed));
    ++m_report.flags_changed;
  }
  if (!plan.local_deletes.empty() && !m_f.state_path.empty()) {
    // Journaled before any file goes: a run killed between removing a file
    // and committing the state would otherwise leave a record without its
    // file, which takes the next file with its content for a rename.
    auto journal = state::Journal::open(m_journal_path, {{"uidvalidity", m_next.uidvalidity}});
    for (const auto& del : plan.local_deletes) {
      journal.append(state::LocalDeleteEntry{del.uid, del.name});
    }
    journal.sync();
  }
  for (const auto& del : plan.local_deletes) {
    auto it = m_entries.find(del.name);
    if (it != m_entries.end()) {
      auto rec = m_base.messages.find(del.uid);
      if (m_stash != nullptr && rec != m_base.messages.end() && !rec->second.key.empty()) {
        // Another client may have moved it to a folder synced later.
        if (std::optional<fs::path> stashed = m_folder.stash(*it->second)) {
          m_stash->add(rec->second.key, *stashed);
        }
      }
      if (m_folder.remove(*it->second) == maildir::FileStatus::Vanished) {
        // A mail reader renamed it since the scan (new flags, new/ -> cur/).
        // The file under its new name is the same message, and the deletion
        // wins over a flag change as in the merge; left in place, it would
        // be uploaded again as a new message by the next run.
        if (std::optional<maildir::Entry> now = m_folder.find(it->second->stable_name)) {
          m_folder.remove(*now);
        }
      }
      m_entries.erase(it);
      touched = true;
      count_step();
    }
    m_records.erase(del.uid);
    ++m_report.deleted;
  }
  if (touched) {
    m_folder.sync_dirs();
  }
}

void FolderSync::apply_server(const Plan& plan, const imap::MailboxInfo& info) {
  // Flag changes, batched by flag set: one command for all messages that
  // gain the same flags, one for all that lose the same flags. Each command
  // carries UNCHANGEDSINCE the listing's HIGHESTMODSEQ, so a message changed
  // on the server since we looked is not overwritten: it comes back in
  // [MODIFIED], keeps its old record, and the next run merges the new
  // change (RFC 7162 §3.1.3). A message that gains and loses flags gets two
  // commands; the second cannot carry the condition (the first one changed
  // its modseq), which is safe because ±FLAGS never touches other flags.
  //
  // Everything that does not wait for another answer goes out in one
  // flight (ServerStore::store_many): the flags gained, the flags lost by
  // messages that gain none, the \Deleted marks and the UID EXPUNGE. Only
  // the losses of messages that also gain flags wait, for the gains'
  // [MODIFIED] answers: a message changed on the server must not lose a
  // flag here while its gain was refused.
  std::map<Flags, std::vector<Uid>> adds;
  std::map<std::pair<Flags, bool>, std::vector<Uid>> removes;
  for (const auto& f : plan.server_flags) {
    if (!f.add.empty()) {
      adds[f.add].push_back(f.uid);
    }
    if (!f.remove.empty()) {
      removes[{f.remove, !f.add.empty()}].push_back(f.uid);
    }
  }
  imap::ModSeq since = info.highestmodseq;
  std::vector<imap::StoreRequest> flight;
  for (const auto& [flags, uids] : adds) {
    flight.push_back({uids, imap::StoreOp::Add, flags, since});
  }
  for (const auto& [key, uids] : removes) {
    if (!key.second) {
      flight.push_back({uids, imap::StoreOp::Remove, key.first, since});
    }
  }

  // Deletions: \Deleted on exactly these messages, then UID EXPUNGE of
  // exactly these UIDs (never a bare EXPUNGE, which would also remove what
  // other clients marked).
  std::vector<Uid> mark;
  std::vector<Uid> expunge;
  for (const auto& d : plan.server_deletes) {
    mark.push_back(d.uid);
    if (d.expunge) {
      expunge.push_back(d.uid);
    }
  }
  // A move whose file the target folder, synced earlier in this run,
  // already paired with a server copy of its own (the message was there
  // before roam knew either folder): moving would put it there twice. The
  // copy here goes, as the user's move meant.
  std::set<Uid> redundant = redundant_moves(plan);
  for (Uid uid : redundant) {
    mark.push_back(uid);
    if (m_s.policy.expunge == Expunge::Yes) {
      expunge.push_back(uid);
    }
  }
  if (!mark.empty()) {
    if (!m_f.state_path.empty()) {
      // Journaled first: killed after the STORE and before the commit, the
      // next run would otherwise take the \Deleted that roam set for one
      // set by another client, and spread it to a file the user put back
      // meanwhile (seed 32001521: the message was lost).
      auto journal = state::Journal::open(m_journal_path, {{"uidvalidity", m_next.uidvalidity}});
      for (Uid uid : mark) {
        if (const state::MessageRecord* rec = m_records.find(uid)) {
          journal.append(state::DeletingEntry{uid, rec->name, rec->key});
        }
      }
      journal.sync();
    }
    flight.push_back({mark, imap::StoreOp::Add, {"\\Deleted"}, 0});
  }
  std::vector<Uid> modified;
  bool expunged = !expunge.empty();
  if (!flight.empty() || !expunge.empty()) {
    try {
      m_server.store_many(flight, expunge, &modified);
    } catch (const imap::CommandFailed&) {
      throw;
    } catch (const Error& e) {
      // The STOREs were made; the server cannot expunge single messages.
      if (e.scope() != Scope::Folder || expunge.empty()) {
        throw;
      }
      m_report.notices.push_back(std::string(e.what()) + "; the messages stay marked \\Deleted");
      m_complete = false;
      expunged = false;
    }
    count_step();
  }
  // Until it is expunged, the server copy of a message whose file the
  // user deleted keeps its record, marked as left behind: a file with the
  // same content that turns up later (the user moved a copy back from
  // another folder) is then a new message of its own, not this one
  // renamed, which would tie the user's only copy to a \Deleted one.
  for (Uid uid : mark) {
    if (state::MessageRecord* rec = m_records.edit(uid)) {
      mark_left_behind(*rec);
    }
  }
  if (expunged) {
    for (Uid uid : expunge) {
      m_records.erase(uid);
    }
    m_report.server_deleted += expunge.size();
  }

  // The losses of messages that also gained flags, once the gains were
  // answered. The condition cannot go with them (the gain changed the
  // message's modseq), which is safe because -FLAGS never touches other
  // flags.
  std::set<Uid> failed_add(modified.begin(), modified.end());
  std::vector<imap::StoreRequest> after;
  for (const auto& [key, uids] : removes) {
    if (!key.second) {
      continue;
    }
    std::vector<Uid> todo;
    for (Uid uid : uids) {
      if (failed_add.count(uid) == 0) {
        todo.push_back(uid);
      }
    }
    if (!todo.empty()) {
      after.push_back({todo, imap::StoreOp::Remove, key.first, 0});
    }
  }
  if (!after.empty()) {
    m_server.store_many(after, {}, &modified);
    count_step();
  }
  std::set<Uid> modified_set(modified.begin(), modified.end());
  std::size_t remerged = modified_set.empty() ? 0 : remerge(modified_set);
  if (remerged < modified_set.size()) {
    m_report.notices.push_back(std::to_string(modified_set.size() - remerged) +
                               " message(s) kept changing on the server during the sync; their "
                               "flags are merged on the next run");
  }
  m_report.server_flags_changed += plan.server_flags.size() - modified_set.size() + remerged;

  // Moves, grouped by target folder.
  std::map<std::string, std::vector<Uid>> by_target;
  for (const auto& m : plan.moves) {
    if (redundant.count(m.uid) == 0) {
      by_target[m.target].push_back(m.uid);
    }
  }
  for (const auto& [target, uids] : by_target) {
    auto wire = m_wire_names.find(target);
    if (wire == m_wire_names.end()) {
      for (Uid uid : uids) {
        fail(uid);
      }
      continue;
    }
    FolderEntry* to = nullptr;
    for (auto& f : m_all) {
      if (f.name == target) {
        to = &f;
      }
    }
    // Not synced yet in this run: the target may hold a copy of its own
    // that it would pair with the moved file. Never synced to the end (no
    // state, or one with no UIDNEXT that a journal or a killed first sync
    // left) it may hold unpaired copies from before; synced before, it may
    // have got a copy since (another client moved the other copy of a
    // message that a conflict left in two folders). Its first pass comes
    // later in this run, so the move waits for this folder's second pass.
    bool not_opened = to != nullptr && to->opened_validity == 0;
    if (to != nullptr && (to->failed || not_opened)) {
      // The target may have (or have had, before it failed) a copy of its
      // own that it pairs with the moved file. Moving now could put the
      // message there twice. The records stay, and the target's pass pairs
      // the file if it can but never uploads it; the second pass (or the
      // next run, after a failure) deletes the copy here if the target
      // paired the file, and moves it otherwise.
      bool later_in_this_run = !to->failed && !m_f.second_pass;
      for (Uid uid : uids) {
        fail(uid);
        auto rec = m_base.messages.find(uid);
        if (rec != m_base.messages.end()) {
          to->held.insert(target_name(rec->second));
          if (later_in_this_run) {
            m_f.waiting_moves.insert(rec->second.name);
          }
        }
      }
      std::string line =
          "the move of " + std::to_string(uids.size()) + " message(s) to " + target + " waits for ";
      if (later_in_this_run) {
        m_report.details.push_back(line + "that folder's sync later in this run");
      } else {
        m_report.notices.push_back(
            line + "the next run: " +
            (to->failed ? "that folder failed in this one" : "roam has not synced that folder"));
      }
      continue;
    }
    // This run's LIST-STATUS comes first, then what SELECT said if the
    // target was synced already: its state may still be the one from
    // before a UIDVALIDITY change (its sync keeps the old records to carry
    // them over), whose UIDs say nothing about where the copy will land.
    std::uint32_t target_validity = 0;
    if (to != nullptr && to->status && to->status->uidvalidity) {
      target_validity = static_cast<std::uint32_t>(*to->status->uidvalidity);
    } else if (to != nullptr && to->opened_validity != 0) {
      target_validity = to->opened_validity;
    } else if (to != nullptr && to->state) {
      target_validity = to->state->uidvalidity;
    }
    std::vector<std::string> intents = journal_move_intents(to, target_validity, uids);
    imap::MoveResult result;
    try {
      result = m_server.move(uids, wire->second, target_validity);
    } catch (const imap::CommandFailed& e) {
      void_move_intents(to, target_validity, intents);
      // The server refused (a read-only target, [NOPERM], a full quota).
      // Nothing moved, so the records stay and the local move stays
      // pending: the file is not uploaded to the target either (that would
      // leave the message in two server folders); the next run tries again.
      for (Uid uid : uids) {
        fail(uid);
        if (to != nullptr) {
          auto rec = m_base.messages.find(uid);
          if (rec != m_base.messages.end()) {
            to->held.insert(target_name(rec->second));
          }
        }
      }
      m_report.notices.push_back("the server refused to move " + std::to_string(uids.size()) +
                                 " message(s) to " + target + " (" + e.what() +
                                 "); they stay here on the server and the local move stays "
                                 "pending");
      continue;
    }
    count_step();
    record_moved(to, target_validity, result.pairs);
    if (!result.expunged) {
      // The source copies stay, marked \Deleted. Their records stay too,
      // with \Deleted: forgotten, the next run would take them for new
      // server messages and download them again; unmarked, it would take
      // the moved file for this message and move it once more. With the
      // file gone locally, each later run marks them deleted again, which
      // changes nothing.
      for (Uid uid : uids) {
        if (state::MessageRecord* rec = m_records.edit(uid)) {
          mark_left_behind(*rec);
        }
      }
      m_report.notices.push_back(
          "the server has neither MOVE nor UIDPLUS, and other messages in this folder are "
          "marked \\Deleted: the moved messages stay here marked \\Deleted until another "
          "client expunges the folder");
    } else {
      for (Uid uid : uids) {
        m_records.erase(uid);
      }
    }
    m_report.moved += uids.size();
  }
}

std::set<Uid> FolderSync::redundant_moves(const Plan& plan) const {
  std::set<Uid> out;
  std::map<std::string, std::optional<state::FolderState>> committed;
  for (const auto& m : plan.moves) {
    const FolderEntry* to = nullptr;
    for (const auto& f : m_all) {
      if (f.name == m.target) {
        to = &f;
      }
    }
    auto rec = m_base.messages.find(m.uid);
    if (to == nullptr || to->failed || to->opened_validity == 0 || to->state_path.empty() ||
        rec == m_base.messages.end()) {
      continue;
    }
    auto it = committed.find(m.target);
    if (it == committed.end()) {
      std::optional<state::FolderState> st;
      try {
        st = state::load_folder_state(to->state_path);
      } catch (const Error& e) {
        ROAM_DEBUG(util::k_cat_sync, e.what());
      }
      it = committed.emplace(m.target, std::move(st)).first;
    }
    if (!it->second || it->second->uidvalidity != to->opened_validity) {
      continue;
    }
    const std::string& name = target_name(rec->second);
    for (const auto& [uid, there] : it->second->messages) {
      // The same file, paired there with a copy of the same content.
      if (there.name == name && !rec->second.key.empty() && there.key == rec->second.key) {
        out.insert(m.uid);
        break;
      }
    }
  }
  return out;
}

std::vector<std::string> FolderSync::journal_move_intents(FolderEntry* to, std::uint32_t validity,
                                                          const std::vector<Uid>& uids) {
  // A move is an upload into the target whose bytes the server already has:
  // journaled there as an intent before the MOVE or COPY is sent, it makes
  // the target find the server copy by content (as for an APPEND without
  // APPENDUID) instead of relying on this run getting as far as [COPYUID]
  // or the \Deleted on the source. A run killed after the COPY therefore
  // never copies a second time: the next run sees the file as a pending
  // upload of the target, not as a move still to make, and deletes the
  // source copy; if the COPY never went out, the target finds no copy and
  // uploads the file once.
  std::vector<std::string> names;
  if (to == nullptr || to->state_path.empty()) {
    return names;
  }
  Uid uidnext = 1;
  if (to->status && to->status->uidnext) {
    uidnext = static_cast<Uid>(*to->status->uidnext);
  }
  if (to->opened_validity == validity && to->opened_uidnext != 0) {
    uidnext = std::max(uidnext, to->opened_uidnext);
  }
  if (to->state && to->state->uidvalidity == validity) {
    for (const auto& [uid, rec] : to->state->messages) {
      uidnext = std::max(uidnext, uid + 1);
    }
  }
  std::map<std::string, const maildir::Entry*> files;
  for (const auto& e : to->scan.entries) {
    files.emplace(e.stable_name, &e);
  }
  auto journal =
      state::Journal::open(state::journal_file_for(to->state_path), {{"uidvalidity", validity}});
  auto here = state::Journal::open(m_journal_path, {{"uidvalidity", m_base.uidvalidity}});
  for (Uid uid : uids) {
    auto rec = m_base.messages.find(uid);
    if (rec == m_base.messages.end()) {
      continue;
    }
    here.append(state::MovingEntry{uid});
    std::string name = target_name(rec->second);
    state::PendingUpload intent{name, rec->second.key, "", 0, uidnext, rec->second.flags};
    // Unreadable, the record's key alone still finds the copy.
    if (auto file = files.find(name); file != files.end()) {
      if (auto key = file_content_key(*file->second)) {
        if (intent.key.empty()) {
          intent.key = content_key_text(*key);
        }
        intent.message_id = message_id_of(key->header);
        intent.size = key->crlf_size;
      }
    }
    if (intent.key.empty()) {
      // No key (a format-1 record whose file cannot be read): nothing to
      // find the copy by; the move goes ahead unjournaled, as before 0.4.
      continue;
    }
    journal.append(state::UploadEntry{intent});
    to->fresh_intents.insert(name);
    names.push_back(std::move(name));
  }
  here.sync();
  journal.sync();
  count_step();
  return names;
}

void FolderSync::void_move_intents(FolderEntry* to, std::uint32_t validity,
                                   const std::vector<std::string>& names) {
  // The server refused the move, so the target has no copy.
  if (to == nullptr || names.empty()) {
    return;
  }
  auto journal =
      state::Journal::open(state::journal_file_for(to->state_path), {{"uidvalidity", validity}});
  for (const auto& name : names) {
    journal.append(state::UploadRefusedEntry{name});
    to->fresh_intents.erase(name);
  }
  journal.sync();
}

void FolderSync::record_moved(FolderEntry* to, std::uint32_t validity,
                              const std::vector<std::pair<Uid, Uid>>& pairs) {
  // The target's UIDs from [COPYUID] go into the target folder's journal at
  // once: its next sync (this run's second pass, or a later run after a
  // crash) adopts them for the moved files, so nothing depends on
  // recognising the server copy by its header, which a server may rewrite.
  if (to == nullptr || validity == 0 || pairs.empty() || to->state_path.empty()) {
    return;
  }
  auto journal =
      state::Journal::open(state::journal_file_for(to->state_path), {{"uidvalidity", validity}});
  for (const auto& [from_uid, to_uid] : pairs) {
    auto rec = m_base.messages.find(from_uid);
    if (rec == m_base.messages.end()) {
      continue;
    }
    journal.append(
        state::MovedEntry{to_uid, target_name(rec->second), rec->second.flags, rec->second.key});
  }
  journal.sync();
}

std::size_t FolderSync::remerge(const std::set<Uid>& modified) {
  // These messages changed on the server after the listing, so the STORE
  // was refused for them ([MODIFIED]). Merge again against their current
  // flags and retry once, conditionally again; what changes yet again keeps
  // its old record and is merged by the next run.
  for (Uid uid : modified) {
    fail(uid);
  }
  state::FolderState base;
  base.mailbox = m_base.mailbox;
  base.uidvalidity = m_base.uidvalidity;
  FolderInput in;
  imap::ModSeq since = 0;
  std::vector<Uid> uids(modified.begin(), modified.end());
  for (const auto& m : m_server.fetch_flags_for(uids)) {
    auto rec = m_base.messages.find(m.uid);
    if (rec == m_base.messages.end() || m_entries.count(rec->second.name) == 0) {
      continue;
    }
    base.messages[m.uid] = rec->second;
    in.server.messages.push_back({m.uid, normalize_server_flags(m.flags)});
    const maildir::Entry& entry = *m_entries.at(rec->second.name);
    in.local.messages.push_back({entry.stable_name, entry.letters});
    since = since == 0 ? m.modseq : std::min(since, m.modseq);
  }
  in.state = &base;
  Plan plan = plan_folder(in, m_s.policy);
  std::set<Uid> failed_again;
  for (const auto& change : plan.local_flags) {
    auto it = m_entries.find(change.name);
    auto renamed = m_folder.set_flags(*it->second, maildir::known_letters(change.to_letters));
    count_step();
    if (!renamed) {
      failed_again.insert(change.uid);
      continue;
    }
    adopt_rename(*it->second, std::move(*renamed));
  }
  if (!plan.local_flags.empty()) {
    m_folder.sync_dirs();
  }
  std::vector<Uid> again;
  for (const auto& f : plan.server_flags) {
    if (!f.add.empty()) {
      m_server.store_flags({f.uid}, imap::StoreOp::Add, f.add, since, &again);
      count_step();
    }
    if (!f.remove.empty() && std::find(again.begin(), again.end(), f.uid) == again.end()) {
      m_server.store_flags({f.uid}, imap::StoreOp::Remove, f.remove, f.add.empty() ? since : 0,
                           &again);
      count_step();
    }
  }
  failed_again.insert(again.begin(), again.end());
  std::size_t done = 0;
  for (const auto& [uid, rec] : base.messages) {
    if (failed_again.count(uid) != 0) {
      continue;
    }
    auto update = std::find_if(plan.updates.begin(), plan.updates.end(),
                               [&](const UpdateRecord& u) { return u.record.uid == uid; });
    m_overrides[uid] = update != plan.updates.end() ? update->record : rec;
    m_failed.erase(uid);
    ++done;
  }
  return done;
}

}  // namespace roam::sync
