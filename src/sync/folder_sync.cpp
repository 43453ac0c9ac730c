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

bool FolderSync::unchanged(const AccountSettings& s, const FolderEntry& f) {
  if (!f.state || !f.status || !f.state->pending_uploads.empty() || f.renamed ||
      !f.moved_in.empty() || !f.moved_out.empty() || !server_unchanged(*f.state, *f.status)) {
    return false;
  }
  // Local changes matter unless the mode is pull, where nothing goes up.
  return s.policy.direction == Direction::Pull || local_unchanged(*f.state, f.scan.entries);
}

bool FolderSync::local_missing(const FolderEntry& f) {
  return !f.local_exists && f.state && !f.state->messages.empty();
}

OpenRequest FolderSync::open_request(const AccountSettings& s, const FolderEntry& f,
                                     const Stash* stash) {
  bool pushes = s.policy.direction != Direction::Pull;
  return OpenRequest{f.wire, pushes ? imap::OpenMode::Select : imap::OpenMode::Examine,
                     prefetch(s, f, stash)};
}

std::optional<OpenRequest> FolderSync::open_ahead(const AccountSettings& s, const FolderEntry& f,
                                                  const Stash* stash) {
  // run()'s early returns and refusals, as far as they can be told before
  // it starts: a folder skipped on the summary's word (its state is not
  // loaded), one not on the server, one whose local side is gone.
  if (s.dry_run || f.quick || !f.on_server || f.failed || f.second_pass || local_missing(f) ||
      unchanged(s, f)) {
    return std::nullopt;
  }
  return open_request(s, f, stash);
}

void FolderSync::run() {
  if (m_f.quick) {
    // The summary showed the folder unchanged at the start of the run; a
    // move from a folder synced before may have written to its journal
    // since, and then it is synced as usual.
    if (still_skippable(m_f)) {
      m_report.skipped_unchanged = true;
      m_report.skipped_by_summary = true;
      return;
    }
    load_folder(m_s, m_f, &m_report);
  }
  m_f.summary.reset();
  if (!m_s.dry_run && !m_f.state_path.empty() && fs::exists(m_journal_path)) {
    // A move from a folder synced earlier in this run journaled the target
    // UIDs here ([COPYUID]); adopt them before anything else.
    recover_journal(m_s, m_f, m_report, true);
  }
  if (!m_s.dry_run && unchanged(m_s, m_f)) {
    m_report.skipped_unchanged = true;
    m_f.summary = summary_entry(m_f, *m_f.state);
    return;
  }
  bool pushes = m_s.policy.direction != Direction::Pull;
  if (!m_f.on_server) {
    if (!pushes || !m_s.create_folders) {
      return;
    }
    if (m_s.dry_run) {
      if (m_s.reporter != nullptr) {
        m_s.reporter->would_create(m_f.name, m_f.scan.entries.size());
      }
      return;
    }
    m_server.create(m_f.wire);
    count_step();
    m_report.notices.push_back("created on the server");
    m_f.on_server = true;
  }
  const bool missing = local_missing(m_f);
  if (missing && !m_f.local_gone) {
    // cur/ holds the messages but was not scanned: synced as it stands,
    // the folder would look emptied (deleted on the server, or downloaded
    // again beside the files in cur/), --force or not.
    throw Error(Scope::Folder, "the local folder " + m_folder.path().string() +
                                   " has a cur/ but no new/ or tmp/, which a Maildir folder needs; "
                                   "create the missing directory and run roam again");
  }
  if (missing && pushes && !m_s.policy.allow_mass_delete) {
    // A vanished folder is far more often an accident (a wrong rm, an
    // unmounted disk) than a wish to empty the server folder. It is left
    // alone, not even recreated, so that every run keeps refusing.
    throw Error(Scope::Folder,
                "the local folder " + m_folder.path().string() +
                    " (or its cur/) is gone; roam deletes nothing on the server because of that. "
                    "Restore it; or remove " +
                    m_f.state_path.string() +
                    " to download the folder again; or run with --force to delete its " +
                    std::to_string(m_f.state->messages.size()) + " message(s) on the server");
  }
  if (!m_s.dry_run && m_s.policy.direction != Direction::Push) {
    maildir::FolderRole role =
        maildir::folder_role(maildir::split_folder_name(m_f.name, m_f.delimiter, m_s.tree));
    if (m_folder.ensure_exists(m_s.tree.layout, role)) {
      // Said like "created on the server": a new folder on either side is
      // worth a line, so the user knows where the mail went.
      m_report.notices.push_back("created locally");
    }
    m_folder.clean_tmp();
  }

  // What open_ahead() may have sent already for this folder, by the same
  // rules.
  const OpenRequest request = open_request(m_s, m_f, m_stash);
  const imap::OpenPrefetch& asked = request.prefetch;
  imap::MailboxInfo info = m_server.open(request.mailbox, request.mode, asked);
  m_f.opened_validity = info.uidvalidity;
  m_f.opened_uidnext = info.uidnext;
  LocalFolder local;
  m_entries.clear();
  m_entries.reserve(m_f.scan.entries.size());
  local.messages.reserve(m_f.scan.entries.size());
  for (auto& e : m_f.scan.entries) {
    if (m_entries.emplace(e.stable_name, &e).second) {
      local.messages.push_back({e.stable_name, e.letters});
    }
  }

  // A folder the server opened read-only (an ACL, a shared folder) cannot
  // take roam's changes: it is synced as in pull mode, so server changes
  // come down while local changes stay local and pending, never reverted.
  Policy policy = m_s.policy;
  if (pushes && info.read_only) {
    policy.direction = Direction::Pull;
    m_report.notices.push_back(
        "the folder is read-only on the server; local changes to it stay local (and are not "
        "undone) until the server allows writing");
  }

  bool same_validity = m_f.state && m_f.state->uidvalidity == info.uidvalidity;
  bool had_records = m_f.state && !m_f.state->messages.empty();
  bool has_pending = m_f.state && !m_f.state->pending_uploads.empty();
  FolderInput in;
  in.local = std::move(local);
  in.moved_out = m_f.moved_out;
  in.moved_in = m_f.moved_in;
  in.local_folder_missing = missing;
  in.server.uidvalidity = info.uidvalidity;
  in.server.uidnext = info.uidnext;
  in.server.highestmodseq = info.highestmodseq;
  std::map<Uid, std::string> message_ids;  // Of the messages whose headers were fetched.
  if (same_validity || (in.local.messages.empty() && !has_pending)) {
    in.server.messages = list_server(info, policy);
    // A folder's second pass runs in the session that uploaded to it, and
    // Courier hides a message from the session that appended it: missing
    // from this listing, it would look expunged and its file would be
    // deleted. Such a message stands as it was recorded.
    if (same_validity && !m_f.fresh_uids.empty()) {
      std::set<Uid> listed;
      for (const auto& m : in.server.messages) {
        listed.insert(m.uid);
      }
      for (Uid uid : m_f.fresh_uids) {
        auto rec = m_f.state->messages.find(uid);
        if (listed.count(uid) == 0 && rec != m_f.state->messages.end()) {
          in.server.messages.push_back({uid, rec->second.flags});
        }
      }
      std::sort(in.server.messages.begin(), in.server.messages.end(),
                [](const auto& a, const auto& b) { return a.uid < b.uid; });
    }
  } else {
    // The old UIDs mean nothing (or there never were any) but the Maildir
    // holds files: match everything by content, so nothing is copied twice.
    for (const auto& h : m_server.fetch_all_headers()) {
      in.server.messages.push_back({h.uid, normalize_server_flags(h.flags)});
      in.server_keys[h.uid] = server_content_key(h);
      message_ids[h.uid] = message_id_of(h.header);
    }
    std::sort(in.server.messages.begin(), in.server.messages.end(),
              [](const auto& a, const auto& b) { return a.uid < b.uid; });
    std::vector<std::string> names;
    for (const auto& m : in.local.messages) {
      names.push_back(m.name);
    }
    add_local_keys(in, names);
  }

  // The base of the three-way merge. After a UIDVALIDITY change the old
  // records are carried over to the new UIDs by content key, so that what
  // the user did since the last run (deletions, flag changes, moves) is
  // still a change against the base and is not undone.
  if (same_validity) {
    m_base = std::move(*m_f.state);
    m_f.state.reset();
  } else {
    m_base = state::FolderState{};
    if (m_f.state) {
      m_base.pending_uploads = m_f.state->pending_uploads;
    }
    if (had_records) {
      std::size_t carried = carry_over(*m_f.state, in);
      m_report.notices.push_back(
          "UIDVALIDITY changed from " + std::to_string(m_f.state->uidvalidity) + " to " +
          std::to_string(info.uidvalidity) + "; " + std::to_string(carried) + " of " +
          std::to_string(m_f.state->messages.size()) +
          " known messages recognised by content (their local changes are kept), the rest "
          "matched by content");
    }
  }
  m_base.mailbox = m_f.name;
  m_base.uidvalidity = info.uidvalidity;
  resolve_pending(in, message_ids, !same_validity, info.uidnext);
  in.state = &m_base;
  for (const auto& p : m_base.pending_uploads) {
    in.pending_uploads.insert(p.name);
  }

  // The records' part of the plan does not depend on content keys: it is
  // made once, and completed again if keys are fetched.
  KnownPlan known = plan_known(in, policy);
  Plan plan = complete_plan(known, in, policy);
  if (plan.wants_content_keys()) {
    // New messages on both sides: some may be the same message (an upload
    // whose reply was lost, a move, pairs of an interrupted first sync).
    // Look before copying anything; keys fetched earlier in this run (for
    // pending uploads) cover only some of them.
    std::vector<Uid> uids;
    for (const auto& d : plan.downloads) {
      if (in.server_keys.count(d.uid) == 0) {
        uids.push_back(d.uid);
      }
    }
    std::vector<std::string> names;
    for (const auto& name : plan.moved_in_unpaired) {
      if (in.local_keys.count(name) == 0) {
        names.push_back(name);
      }
    }
    for (const auto& u : plan.uploads) {
      if (in.local_keys.count(u.name) == 0) {
        names.push_back(u.name);
      }
    }
    for (const auto& name : plan.local_only) {
      if (in.local_keys.count(name) == 0) {
        names.push_back(name);
      }
    }
    if (!uids.empty() || !names.empty()) {
      add_server_keys(in, uids);
      add_local_keys(in, names);
      plan = complete_plan(std::move(known), in, policy);
    }
  }
  m_report.notices.insert(m_report.notices.end(), plan.notices.begin(), plan.notices.end());
  m_report.details.insert(m_report.details.end(), plan.details.begin(), plan.details.end());

  if (m_s.dry_run) {
    report_plan(plan);
    return;
  }
  // The new state starts as the base: its fields copied, its records
  // referenced (m_records holds this run's changes to them).
  NextRecords::Records base_records = std::move(m_base.messages);
  m_next = m_base;
  m_base.messages = std::move(base_records);
  m_records.reset(m_base.messages);
  // Until the run completes, the counters must not let the next run skip
  // this folder.
  m_next.uidnext = 0;
  m_next.highestmodseq = 0;
  m_next.flags_modseq = 0;

  if (!plan.empty() && !m_f.state_path.empty()) {
    // The journal is opened (its header written and synced if it is new)
    // before anything is changed: a state directory that cannot take a
    // write (a full disk, a read-only mount) fails the folder here, with
    // nothing applied, instead of after flags and deletions went out with
    // no journal and no state to say so.
    state::Journal::open(m_journal_path, {{"uidvalidity", m_next.uidvalidity}});
  }
  apply_local(plan);
  if (m_f.stash_source && m_stash != nullptr) {
    // The files of messages expunged on the server are in the stash now.
    m_f.stash_source = false;
    m_stash->source_settled();
  }
  apply_server(plan, info);
  upload(plan.uploads, info);
  // Records for the messages whose actions all succeeded.
  for (const auto& u : plan.updates) {
    if (m_failed.count(u.record.uid) == 0) {
      m_records.set(u.record.uid, u.record);
    } else {
      m_complete = false;
    }
  }
  for (const auto& [uid, record] : m_overrides) {
    m_records.set(uid, record);
  }
  for (const auto& d : plan.drops) {
    m_records.erase(d.uid);
  }
  if (!same_validity && !plan.downloads.empty()) {
    // The journal's intents must refer to a state on disk with the new
    // UIDVALIDITY.
    commit_state(false);
  }
  if (m_stash != nullptr && m_f.waits_for_stash && !plan.downloads.empty()) {
    // Only a download whose content key a source may stash is worth the
    // wait; at 50 ms from the server, waiting for a big INBOX's listing
    // held every small folder's body fetch back by a round trip or more.
    // The keys of the new messages came with the SELECT (see prefetch()),
    // so looking them up costs no round trip.
    std::vector<Uid> unkeyed;
    bool prefetched = asked.headers_from != 0;
    for (const auto& d : plan.downloads) {
      if (in.server_keys.count(d.uid) == 0) {
        unkeyed.push_back(d.uid);
        prefetched = prefetched && d.uid >= asked.headers_from;
      }
    }
    if (!unkeyed.empty() && prefetched) {
      add_server_keys(in, unkeyed);
    }
    std::vector<std::optional<std::string>> keys;
    keys.reserve(plan.downloads.size());
    for (const auto& d : plan.downloads) {
      auto key = in.server_keys.find(d.uid);
      keys.push_back(key == in.server_keys.end()
                         ? std::nullopt
                         : std::optional<std::string>(content_key_text(key->second)));
    }
    if (m_stash->may_stash_any(keys)) {
      m_stash->wait_for_sources();
    }
  }
  if (m_stash != nullptr && !m_stash->empty() && !plan.downloads.empty()) {
    // Files the server moved here from a folder synced before may be in the
    // stash; their content keys say which.
    std::vector<Uid> uids;
    for (const auto& d : plan.downloads) {
      if (in.server_keys.count(d.uid) == 0) {
        uids.push_back(d.uid);
      }
    }
    add_server_keys(in, uids);
  }
  // The downloads are the last call unless modseq_after_writes() fetches.
  download(plan.downloads, in.server_keys, !may_prove_modseq(plan, info));
  const std::string refused = std::move(plan.refused);
  if (m_complete && refused.empty()) {
    m_next.uidnext = info.uidnext;
    m_next.highestmodseq = modseq_after_writes(plan, info);
    // A push-only run records the local flags where they differ from the
    // server's (see reconcile() in planner.cpp); every other run leaves
    // each record it merged with the server's flags, or with flags roam
    // stored there and modseq_after_writes() either proved or left to the
    // next CHANGEDSINCE. A record it did not merge keeps its old flags.
    if (policy.direction != Direction::Push && records_hold_server_flags(in, plan)) {
      m_next.flags_modseq = m_next.highestmodseq;
    }
  }
  // The plan, the server's listing and the content keys are done with.
  // Freed now, they are not held beside the new records that the commit
  // settles and writes, which is the run's peak of memory: for a first
  // sync of 100,000 messages they were about a third of it.
  plan = Plan{};
  known = KnownPlan{};
  in = FolderInput{};
  message_ids.clear();
  commit_state(true);
  if (m_complete && refused.empty() && m_download_error.empty()) {
    m_f.summary = summary_entry(m_f, m_next);
  }
  if (!m_download_error.empty()) {
    throw Error(Scope::Folder, m_download_error +
                                   "; the messages not yet downloaded follow on "
                                   "the next run");
  }
  if (!refused.empty()) {
    throw Error(Scope::Folder, refused);
  }
}

std::size_t FolderSync::carry_over(const state::FolderState& old, const FolderInput& in) {
  std::map<std::string, std::vector<Uid>> by_key;
  for (const auto& [uid, key] : in.server_keys) {
    by_key[content_key_text(key)].push_back(uid);
  }
  std::map<Uid, bool> deleted;  // The listed UIDs: whether marked \Deleted.
  for (const auto& m : in.server.messages) {
    deleted.emplace(m.uid, std::find(m.flags.begin(), m.flags.end(), "\\Deleted") != m.flags.end());
  }
  // A copy left behind \Deleted takes only a \Deleted copy of its content:
  // given a live one (the user's file moved back and uploaded), the merge
  // would delete it. They go first, so that a live record never takes their
  // copy. A live record takes a live copy if there is one.
  auto take = [&](const state::MessageRecord& rec, bool behind) -> std::optional<Uid> {
    auto it = rec.key.empty() ? by_key.end() : by_key.find(rec.key);
    if (it == by_key.end()) {
      return std::nullopt;
    }
    auto& uids = it->second;
    auto pick = uids.end();
    for (auto u = uids.begin(); u != uids.end(); ++u) {
      auto d = deleted.find(*u);
      if (d != deleted.end() && d->second == behind) {
        pick = u;
        break;
      }
    }
    if (pick == uids.end() && !behind) {
      pick = std::find_if(uids.begin(), uids.end(), [&](Uid u) { return deleted.count(u) != 0; });
    }
    if (pick == uids.end()) {
      return std::nullopt;
    }
    Uid uid = *pick;
    uids.erase(pick);
    return uid;
  };
  std::size_t carried = 0;
  for (bool behind : {true, false}) {
    for (const auto& [old_uid, rec] : old.messages) {
      if (left_behind(rec) != behind) {
        continue;
      }
      if (auto uid = take(rec, behind)) {
        state::MessageRecord moved = rec;
        moved.uid = *uid;
        m_base.messages.emplace(*uid, std::move(moved));
        ++carried;
      }
    }
  }
  return carried;
}

void FolderSync::resolve_pending(FolderInput& in, std::map<Uid, std::string>& message_ids,
                                 bool any_uid, Uid uidnext) {
  if (m_base.pending_uploads.empty()) {
    return;
  }
  Uid from = std::numeric_limits<Uid>::max();
  for (const auto& p : m_base.pending_uploads) {
    from = std::min(from, p.uidnext);
  }
  std::vector<Uid> need_headers;
  std::map<Uid, Candidate> candidates;
  for (const auto& m : in.server.messages) {
    if (m_base.messages.count(m.uid) != 0 || (!any_uid && m.uid < from)) {
      continue;
    }
    candidates[m.uid];
    if (in.server_keys.count(m.uid) == 0) {
      need_headers.push_back(m.uid);
    }
  }
  if (!need_headers.empty()) {
    for (const auto& h : m_server.fetch_headers(need_headers)) {
      in.server_keys[h.uid] = server_content_key(h);
      message_ids[h.uid] = message_id_of(h.header);
    }
  }
  for (auto& [uid, c] : candidates) {
    auto key = in.server_keys.find(uid);
    if (key != in.server_keys.end()) {
      c.key = content_key_text(key->second);
      c.size = key->second.crlf_size;
    }
    c.message_id = message_ids[uid];
  }
  // Every intent here was made by an earlier session, and a server shows
  // a message appended in one session to every later one (Courier hides it
  // only from the session that appended it). So an intent whose copy is
  // not among the UIDs given out since is one whose APPEND never took
  // effect (the run was killed before it was sent, or the reply was a
  // refusal that was lost): the file is uploaded again, once.
  std::size_t found = 0;
  std::size_t void_intents = 0;
  std::size_t moved_away = 0;
  std::vector<state::PendingUpload> still;
  // True when some UID given out since `from` is no longer listed: a copy
  // appended then may have been moved or expunged by another client.
  auto lost_since = [&](Uid since) {
    if (uidnext == 0) {
      return true;  // The server did not say: it cannot be ruled out.
    }
    if (uidnext <= since) {
      return false;
    }
    std::size_t listed = 0;  // The listing is complete (UID FETCH 1:*).
    for (const auto& m : in.server.messages) {
      listed += m.uid >= since && m.uid < uidnext ? 1 : 0;
    }
    return listed < uidnext - since;
  };
  // A message with this content came down into another folder in this
  // run, or an earlier one that was cut short before this decision: it is
  // recorded there.
  std::optional<std::set<std::string>> keys_elsewhere;
  auto known_elsewhere = [&](const std::string& key) {
    if (m_stash->was_downloaded(key)) {
      return true;
    }
    if (!keys_elsewhere) {
      keys_elsewhere.emplace();
      for (const auto& other : m_all) {
        if (other.name == m_f.name) {
          continue;
        }
        try {
          if (auto st = state::load_folder_state_for(m_s.state_dir, other.name)) {
            for (const auto& [u, rec] : st->messages) {
              // A copy left behind \Deleted there is not where the message
              // went.
              if (!left_behind(rec)) {
                keys_elsewhere->insert(rec.key);
              }
            }
          }
        } catch (const Error& e) {
          ROAM_DEBUG(util::k_cat_sync, e.what());
        }
      }
    }
    return keys_elsewhere->count(key) != 0;
  };
  // The file still holds what was uploaded (not edited since).
  auto unchanged_since_upload = [&](const maildir::Entry& e, const std::string& key) {
    auto now = file_content_key(e);
    return now && content_key_text(*now) == key;
  };
  for (auto& p : m_base.pending_uploads) {
    std::optional<Uid> uid = match_upload(p, candidates);
    if (!uid) {
      // An intent made earlier in this very run (the folder's second pass)
      // may still be invisible to this session (Courier): it waits for
      // the next run.
      if (m_f.fresh_intents.count(p.name) != 0) {
        still.push_back(std::move(p));
        continue;
      }
      // Its copy may have been taken to another folder by another client
      // (UIDs were given out and expunged since). The first pass waits;
      // the second, after every folder's downloads, drops the local file
      // if a message with its content came down elsewhere (the move
      // reached this Maildir as a download there): the message is kept
      // there, once.
      if (m_stash != nullptr && lost_since(p.uidnext)) {
        if (!m_f.second_pass || m_stash->any_folder_failed()) {
          // (A folder that failed in this run may be where the copy went:
          // the decision waits for a run where every folder syncs.)
          m_f.deferred = true;
          still.push_back(std::move(p));
          continue;
        }
        auto entry = m_entries.find(p.name);
        if (known_elsewhere(p.key) && entry != m_entries.end() &&
            unchanged_since_upload(*entry->second, p.key)) {
          if (!m_s.dry_run) {
            m_folder.remove(*entry->second);
            count_step();
          }
          std::erase_if(in.local.messages, [&](const LocalMessage& m) { return m.name == p.name; });
          m_entries.erase(entry);
          ++moved_away;
          continue;
        }
      }
      // Otherwise the APPEND never took effect: the file is uploaded again.
      ++void_intents;
      continue;
    }
    // The record's flags are the ones it was appended with: what both
    // sides agreed on at that moment. Changes since then merge as usual.
    m_base.messages[*uid] = state::MessageRecord{*uid, p.name, p.flags, p.key};
    ++found;
  }
  m_base.pending_uploads = std::move(still);
  if (found > 0) {
    m_report.notices.push_back(std::to_string(found) +
                               " earlier upload(s) found on the server and recorded");
  }
  if (moved_away > 0) {
    m_report.notices.push_back(std::to_string(moved_away) +
                               " earlier upload(s) were moved to another folder on the server, "
                               "where this run downloaded them; the files here are removed");
  }
  if (void_intents > 0) {
    m_report.notices.push_back(std::to_string(void_intents) +
                               " upload(s) of an interrupted run never reached the server; "
                               "they are uploaded now");
  }
}

bool FolderSync::may_prove_modseq(const Plan& plan, const imap::MailboxInfo& info) const {
  // roam's own STOREs raise HIGHESTMODSEQ. Recording the value from before
  // them would make the next run see a change that is its own and list the
  // folder again. The value after them is safe to record only if every
  // change since the listing is one of ours, with the flags roam set:
  // one CHANGEDSINCE fetch shows that. Expunges and appends give no such
  // proof (an expunge raises the value without a message to show), so
  // after those the old value stays and the next run lists the folder.
  return info.highestmodseq != 0 && !plan.server_flags.empty() && plan.server_deletes.empty() &&
         plan.moves.empty() && m_report.uploaded == 0;
}

imap::ModSeq FolderSync::modseq_after_writes(const Plan& plan, const imap::MailboxInfo& info) {
  if (!may_prove_modseq(plan, info)) {
    return info.highestmodseq;
  }
  std::set<Uid> stored;
  for (const auto& f : plan.server_flags) {
    stored.insert(f.uid);
  }
  imap::ModSeq highest = info.highestmodseq;
  for (const auto& m : m_server.fetch_flags(info.highestmodseq)) {
    const state::MessageRecord* rec = m_records.find(m.uid);
    if (stored.count(m.uid) == 0 || rec == nullptr ||
        normalize_server_flags(m.flags) != rec->flags || m.modseq == 0) {
      return info.highestmodseq;
    }
    highest = std::max(highest, m.modseq);
  }
  return highest;
}

bool FolderSync::records_hold_server_flags(const FolderInput& in, const Plan& plan) const {
  // A record the plan did not merge (its file is gone while a move waits,
  // or a deletion is kept in pull mode) keeps the flags of an older run,
  // though the server's may have changed since: the next run would take
  // them for the server's, unchanged since the recorded HIGHESTMODSEQ, and
  // undo that change (seed 44008974). Messages roam stored flags on are
  // not compared: their stores raised their modseq above the recorded one.
  std::set<Uid> written;
  for (const auto& f : plan.server_flags) {
    written.insert(f.uid);
  }
  for (const auto& m : in.server.messages) {
    const state::MessageRecord* rec = m_records.find(m.uid);
    if (rec != nullptr && rec->flags != m.flags && written.count(m.uid) == 0) {
      return false;
    }
  }
  return true;
}

bool FolderSync::may_list_changes(const FolderEntry& f, const state::FolderState& st,
                                  const Policy& policy) {
  return st.flags_modseq != 0 && st.flags_modseq == st.highestmodseq &&
         policy.direction != Direction::Push && f.fresh_uids.empty();
}

imap::OpenPrefetch FolderSync::prefetch(const AccountSettings& s, const FolderEntry& f,
                                        const Stash* stash) {
  // What the run will likely ask for right after the SELECT goes in the
  // same round trip (a guess: the answers are only a cache, so a wrong one
  // costs bytes, never correctness).
  imap::OpenPrefetch p;
  const state::FolderState* st = f.state ? &*f.state : nullptr;
  if (st == nullptr) {
    return p;
  }
  // list_server()'s conditions that do not need the SELECT's answer.
  if (may_list_changes(f, *st, s.policy)) {
    p.changes_since = st->flags_modseq;
  }
  // The headers of the new messages, when content keys will be wanted for
  // them: files the state does not know (uploads to pair with downloads),
  // files moved in, or a stash (filled, or to be filled by a folder synced
  // side by side) of files the server may have moved here.
  // This run's STATUS says how many there are; a flood is left to the plan.
  constexpr std::uint64_t k_most_headers = 2000;
  bool new_on_server = st->uidnext != 0 && f.status && f.status->uidvalidity && f.status->uidnext &&
                       *f.status->uidvalidity == st->uidvalidity &&
                       *f.status->uidnext > st->uidnext &&
                       *f.status->uidnext - st->uidnext <= k_most_headers;
  if (new_on_server && (!f.moved_in.empty() || (stash != nullptr && stash->may_hold_files()) ||
                        has_unknown_file(f, *st))) {
    p.headers_from = st->uidnext;
  }
  return p;
}

bool FolderSync::has_unknown_file(const FolderEntry& f, const state::FolderState& st) {
  // More files than records is the cheap answer; as many (20 new files and
  // 20 deleted) needs a look at each name.
  if (f.scan.entries.size() > st.messages.size()) {
    return true;
  }
  state::NameViews known = state::build_name_views(st);
  return std::any_of(f.scan.entries.begin(), f.scan.entries.end(),
                     [&](const maildir::Entry& e) { return known.count(e.stable_name) == 0; });
}

std::vector<ServerMessage> FolderSync::list_server(const imap::MailboxInfo& info,
                                                   const Policy& policy) {
  std::vector<ServerMessage> out;
  // Only the messages changed since the last run come over the wire when
  // the state's flags are the server's as of its HIGHESTMODSEQ (see
  // FolderState::flags_modseq) and the server's HIGHESTMODSEQ did not go
  // back (a rebuilt index forgets what changed). Flags this run writes to
  // the server are merged from a base that must be the server's, so a
  // push-only run, whose records may hold local flags, lists everything.
  // The second pass of a Courier upload target lists everything as well
  // (see fresh_uids), though Courier has no CONDSTORE today.
  const state::FolderState* st = m_f.state ? &*m_f.state : nullptr;
  if (st != nullptr && st->uidvalidity == info.uidvalidity &&
      info.highestmodseq >= st->highestmodseq && may_list_changes(m_f, *st, policy)) {
    if (auto changes = m_server.list_changes(st->flags_modseq)) {
      m_report.listed_changes = true;
      m_report.details.push_back("the server listed " + std::to_string(changes->changed.size()) +
                                 " message(s) changed since the last run, of " +
                                 std::to_string(changes->uids.size()) + " (CONDSTORE)");
      out.reserve(changes->uids.size());
      std::vector<Uid> unknown;
      auto changed = changes->changed.begin();
      for (Uid uid : changes->uids) {
        while (changed != changes->changed.end() && changed->uid < uid) {
          ++changed;
        }
        if (changed != changes->changed.end() && changed->uid == uid) {
          out.push_back({uid, normalize_server_flags(std::move(changed->flags))});
        } else if (auto rec = st->messages.find(uid); rec != st->messages.end()) {
          out.push_back({uid, rec->second.flags});
        } else {
          // Unchanged, but not a record: one the last run did not take
          // (a copy left \Deleted without a record, say). Its flags are
          // asked for; one expunged meanwhile is simply not listed.
          unknown.push_back(uid);
        }
      }
      if (!unknown.empty()) {
        for (auto& m : m_server.fetch_flags_for(unknown)) {
          out.push_back({m.uid, normalize_server_flags(std::move(m.flags))});
        }
        std::sort(out.begin(), out.end(),
                  [](const auto& a, const auto& b) { return a.uid < b.uid; });
      }
      return out;
    }
  }
  for (auto& m : m_server.fetch_flags(0)) {
    out.push_back({m.uid, normalize_server_flags(std::move(m.flags))});
  }
  return out;
}

void FolderSync::add_server_keys(FolderInput& in, const std::vector<Uid>& uids) {
  if (uids.empty()) {
    return;
  }
  for (const auto& h : m_server.fetch_headers(uids)) {
    in.server_keys[h.uid] = server_content_key(h);
  }
}

void FolderSync::add_local_keys(FolderInput& in, const std::vector<std::string>& names) {
  for (const auto& name : names) {
    auto it = m_entries.find(name);
    if (it == m_entries.end()) {
      continue;
    }
    // Unreadable, it cannot be matched (nor uploaded, which says why).
    if (auto key = file_content_key(*it->second)) {
      in.local_keys[name] = std::move(*key);
    }
  }
}

void FolderSync::report_plan(const Plan& plan) {
  // The report counts what would be done, so that the run's summary
  // agrees with the lines below.
  m_report.downloaded += plan.downloads.size();
  m_report.uploaded += plan.uploads.size();
  m_report.flags_changed += plan.local_flags.size();
  m_report.server_flags_changed += plan.server_flags.size();
  m_report.deleted += plan.local_deletes.size();
  m_report.server_deleted += plan.server_deletes.size();
  m_report.moved += plan.moves.size();
  if (m_s.reporter != nullptr) {
    m_s.reporter->would_apply(m_f.name, plan);
  }
}

void FolderSync::commit_state(bool last) {
  if (last) {
    // The base of the merge is needed no more: the changes go into its
    // records, which become the new state's, without a copy.
    m_records.settle(m_base.messages);
    m_next.messages = std::move(m_base.messages);
    m_records.reset(m_next.messages);
    state::save_folder_state(m_f.state_path, m_next);
  } else {
    m_next.messages = m_records.merged();
    state::save_folder_state(m_f.state_path, m_next);
    m_next.messages.clear();
  }
  count_step();
  state::Journal::remove(m_journal_path);
}

}  // namespace roam::sync
