#include "sync/executor.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <future>
#include <limits>
#include <map>
#include <memory>
#include <set>
#include <unordered_map>
#include <unordered_set>

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

// A file that vanished and an unknown file with the same content that
// appeared are one message that a mail reader renamed (mu4e renames files
// when it moves them or changes their flags; so do many scripts). In the
// same folder its record takes the new name, so the next merge sees a flag
// change at most; in another folder it becomes a server move. Without this
// the message would be deleted and uploaded again: its UID and its
// server-only keywords lost, and twice on the server if the deletion is held
// back. Records without a content key (written by format 1) cannot be
// recognised this way.
void recognise_renames(Direction direction, std::vector<FolderEntry>& folders,
                       const std::vector<bool>& usable, const KeyReader& key_of) {
  struct Vanished {
    std::size_t folder;
    Uid uid;
    bool claimed = false;
  };
  std::map<std::string, std::vector<Vanished>> vanished;  // By content key.
  std::set<std::string> vanished_names;
  for (std::size_t i = 0; i < folders.size(); ++i) {
    if (!usable[i] || !folders[i].state || !folders[i].local_exists) {
      continue;
    }
    std::unordered_set<std::string_view> here;  // Views: the scan outlives it.
    here.reserve(folders[i].scan.entries.size());
    for (const auto& e : folders[i].scan.entries) {
      here.insert(e.stable_name);
    }
    for (const auto& [uid, rec] : folders[i].state->messages) {
      // A copy left behind \Deleted has no file of its own to rename.
      if (here.count(rec.name) == 0 && folders[i].moved_out.count(rec.name) == 0 &&
          !rec.key.empty() && !left_behind(rec)) {
        vanished[rec.key].push_back({i, uid});
        vanished_names.insert(rec.name);
      }
    }
  }
  if (vanished.empty()) {
    return;
  }
  bool pushes = direction != Direction::Pull;
  for (std::size_t i = 0; i < folders.size(); ++i) {
    FolderEntry& f = folders[i];
    if (!usable[i] || !f.local_exists) {
      continue;
    }
    // Views of the records' names: a copy of each of 100,000 names cost
    // more than the rest of this loop. A record renamed below is taken out
    // first, and its new name is a view of the scan's, which outlives this.
    state::NameViews names;
    std::set<std::string> pending;
    if (f.state) {
      names = state::build_name_views(*f.state);
      for (const auto& p : f.state->pending_uploads) {
        pending.insert(p.name);
      }
    }
    for (const auto& e : f.scan.entries) {
      if (names.count(e.stable_name) != 0 || pending.count(e.stable_name) != 0 ||
          f.moved_in.count(e.stable_name) != 0 || vanished_names.count(e.stable_name) != 0) {
        continue;
      }
      std::optional<std::string> key = key_of(e);
      if (!key) {
        continue;
      }
      auto it = vanished.find(*key);
      if (it == vanished.end()) {
        continue;
      }
      // The same folder first: a rename there needs nothing on the server.
      Vanished* match = nullptr;
      for (auto& v : it->second) {
        if (!v.claimed && v.folder == i) {
          match = &v;
          break;
        }
      }
      for (auto& v : it->second) {
        if (match == nullptr && !v.claimed && pushes && folders[v.folder].on_server &&
            f.on_server) {
          match = &v;
        }
      }
      if (match == nullptr) {
        continue;
      }
      match->claimed = true;
      FolderEntry& from = folders[match->folder];
      state::MessageRecord& rec = from.state->messages.at(match->uid);
      ROAM_DEBUG(util::k_cat_sync, from.name << ": " << rec.name << " was renamed to "
                                             << e.stable_name << " in " << f.name);
      if (match->folder == i) {
        names.erase(rec.name);
        rec.name = e.stable_name;
        names.emplace(e.stable_name, match->uid);
        f.renamed = true;
      } else {
        from.moved_out[rec.name] = f.name;
        from.move_names[rec.name] = e.stable_name;
        f.moved_in.insert(e.stable_name);
      }
    }
  }
}

// A folder that vanished on the server while a new one appeared holding its
// messages was renamed there by another client (IMAP RENAME). The local
// folder and its state follow the new name, so nothing is downloaded or
// uploaded again and no message ends up in both. Any other vanished folder
// is kept locally and never re-created on the server (creating it again
// would undo a deletion, and after a rename copy every message twice); the
// notice says how to get either behaviour. Content keys decide: the new
// folder is opened read-only and its header listing compared with the
// vanished folder's records: most of its messages must be known there, or
// most of the vanished folder's messages must be in it.
std::size_t follow_folder_renames(const AccountSettings& s, imap::Client& client,
                                  const std::vector<FolderEntry>& folders,
                                  const std::vector<VanishedFolder>& vanished,
                                  AccountReport& report) {
  std::size_t renamed = 0;
  struct Origin {
    const VanishedFolder* folder;
    std::multiset<std::string> keys;
    bool claimed = false;
  };
  std::vector<Origin> candidates;
  for (const auto& v : vanished) {
    Origin c{&v, {}};
    try {
      if (auto st = state::load_folder_state_for(s.state_dir, v.name)) {
        // A copy left behind \Deleted is in the folder on the server too,
        // and went with it.
        for (const auto& [uid, rec] : st->messages) {
          if (!rec.key.empty()) {
            c.keys.insert(rec.key);
          }
        }
        // Uploads whose UID was never learnt (Courier) are its messages too.
        for (const auto& p : st->pending_uploads) {
          if (!p.key.empty()) {
            c.keys.insert(p.key);
          }
        }
      }
    } catch (const Error& e) {
      ROAM_DEBUG(util::k_cat_sync, e.what());
    }
    candidates.push_back(std::move(c));
  }
  auto has_keys = [](const Origin& c) { return !c.keys.empty(); };
  if (!s.dry_run && std::any_of(candidates.begin(), candidates.end(), has_keys)) {
    for (const auto& n : folders) {
      fs::path path;
      try {
        path = maildir::folder_path(s.tree, n.name, n.delimiter);
      } catch (const Error&) {
        continue;
      }
      if (!n.on_server || fs::exists(state::state_file_for(s.state_dir, n.name)) ||
          fs::exists(path) || (n.status && n.status->messages && *n.status->messages == 0)) {
        continue;
      }
      std::multiset<std::string> keys;
      try {
        client.open(n.wire, imap::OpenMode::Examine);
        for (const auto& h : client.fetch_all_headers()) {
          keys.insert(content_key_text(server_content_key(h)));
        }
      } catch (const imap::CommandFailed& e) {
        ROAM_DEBUG(util::k_cat_sync, e.what());
        continue;
      }
      Origin* best = nullptr;
      std::size_t best_matches = 0;
      for (auto& c : candidates) {
        if (c.claimed || c.keys.empty()) {
          continue;
        }
        std::size_t matches = 0;
        for (const auto& k : keys) {
          if (c.keys.count(k) != 0) {
            ++matches;
          }
        }
        if (matches > best_matches) {
          best = &c;
          best_matches = matches;
        }
      }
      // Most of the new folder's messages are known there, or most of the
      // vanished folder's messages are here (new mail may have arrived
      // since the rename: two old and two new messages are still a rename).
      if (best == nullptr ||
          (best_matches * 2 <= keys.size() && best_matches * 2 <= best->keys.size())) {
        continue;
      }
      const VanishedFolder& v = *best->folder;
      fs::path from = maildir::folder_path(s.tree, v.name, v.delimiter);
      // The folder first, then its state: a crash in between leaves the
      // files under the new name without a state, which the next run pairs
      // by content (nothing copied), and a stale state for the old name,
      // which nothing uses.
      util::create_directories(path.parent_path());
      if (::rename(from.c_str(), path.c_str()) != 0) {
        ROAM_WARN(util::errno_message("cannot rename " + from.string() + " to " + path.string()));
        continue;
      }
      std::optional<state::FolderState> st = state::load_folder_state_for(s.state_dir, v.name);
      if (st) {
        st->mailbox = n.name;
        st->uidnext = 0;
        st->highestmodseq = 0;
        state::save_folder_state(state::state_file_for(s.state_dir, n.name), *st);
      }
      fs::remove(state::journal_file_for(v.state_path));
      fs::remove(v.state_path);
      best->claimed = true;
      ++renamed;
      report.folders.push_back({});
      report.folders.back().name = v.name;
      report.folders.back().notices.push_back("renamed on the server to " + n.name +
                                              "; the local folder was renamed too (" +
                                              path.string() + ")");
    }
  }
  for (const auto& c : candidates) {
    if (c.claimed) {
      continue;
    }
    report.folders.push_back({});
    report.folders.back().name = c.folder->name;
    report.folders.back().notices.push_back(
        "no longer on the server (deleted or renamed there); the local copy is kept and not "
        "uploaded again. To upload it again, remove " +
        c.folder->state_path.string() + "; to forget it, remove that file and the local folder");
  }
  return renamed;
}

}  // namespace roam::sync

namespace roam::sync {

namespace {

// True if `status` shows the folder as recorded (by a state, or by the
// account summary). Without CONDSTORE a flag change leaves no trace in
// STATUS, so only a known, unchanged HIGHESTMODSEQ proves that nothing
// changed on the server. An unchanged UIDNEXT rules out new messages, and
// then an unchanged count rules out expunges.
bool status_as_recorded(const imap::StatusData& status, std::uint32_t uidvalidity,
                        std::uint32_t uidnext, std::uint64_t highestmodseq,
                        std::uint64_t messages) {
  return status.uidvalidity && status.uidnext && status.highestmodseq && status.messages &&
         *status.uidvalidity == uidvalidity && *status.uidnext == uidnext &&
         *status.highestmodseq != 0 && *status.highestmodseq == highestmodseq &&
         *status.messages == messages;
}

}  // namespace

bool server_unchanged(const state::FolderState& state, const imap::StatusData& status) {
  return status_as_recorded(status, state.uidvalidity, state.uidnext, state.highestmodseq,
                            state.messages.size());
}

bool local_unchanged(const state::FolderState& state, const std::vector<maildir::Entry>& entries) {
  if (entries.size() != state.messages.size()) {
    return false;
  }
  // Views of the records by name: no copy of 100,000 names, and the
  // record at hand without a second lookup by UID.
  std::unordered_map<std::string_view, const state::MessageRecord*> records;
  records.reserve(state.messages.size());
  for (const auto& [uid, record] : state.messages) {
    records.emplace(record.name, &record);
  }
  for (const auto& e : entries) {
    auto it = records.find(e.stable_name);
    if (it == records.end()) {
      return false;
    }
    if (maildir::known_letters(e.letters) != letters_of(it->second->flags)) {
      return false;
    }
  }
  return true;
}

namespace {

// One message's share of local_digest(): FNV-1a of the name, a NUL and
// the letters, mixed once more so that sums of nearby values spread.
std::uint64_t digest_of(std::string_view name, std::string_view letters) {
  std::uint64_t h = 14695981039346656037ULL;
  auto add = [&](unsigned char c) {
    h ^= c;
    h *= 1099511628211ULL;
  };
  for (char c : name) {
    add(static_cast<unsigned char>(c));
  }
  add(0);
  for (char c : letters) {
    add(static_cast<unsigned char>(c));
  }
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  return h;
}

}  // namespace

std::uint64_t local_digest(const state::FolderState& state) {
  std::uint64_t sum = 0;
  for (const auto& [uid, record] : state.messages) {
    sum += digest_of(record.name, letters_of(record.flags));
  }
  return sum;
}

std::uint64_t local_digest(std::string_view stable_name, std::string_view letters) {
  return digest_of(stable_name, maildir::known_letters(letters));
}

bool lost_messages(const state::FolderState& state, const imap::StatusData& status) {
  // UIDs given out since the commit bound the messages that can have
  // arrived; fewer messages than the records plus those means some went.
  if (!status.messages || !status.uidnext || state.uidnext == 0) {
    return false;
  }
  std::uint64_t given = *status.uidnext > state.uidnext ? *status.uidnext - state.uidnext : 0;
  return *status.messages < state.messages.size() + given;
}

namespace {

// Changes to a directory made less than this long before it was listed
// may share their mtime with a change made just after: such a directory is
// not recorded in the summary (the next run checks it in full, and records
// it then). Two seconds cover file systems with coarse timestamps (FAT has
// two-second ones); ext4 and tmpfs tick every few milliseconds.
constexpr std::int64_t k_racy_ns = 2'000'000'000;

std::int64_t realtime_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

void load_folder(const AccountSettings& s, FolderEntry& f, FolderReport* report) {
  f.quick = false;
  // A big state is parsed on a thread of its own while the Maildir is
  // listed: for a 100,000-message folder each takes about 200 ms, and a
  // run that reads that folder alone would otherwise leave a core idle.
  constexpr std::uint64_t k_state_bytes_in_parallel = 1 << 20;
  std::future<std::optional<state::FolderState>> loading;
  std::optional<state::FileStamp> state_stamp =
      state::stamp_of(state::state_file_for(s.state_dir, f.name));
  if (state_stamp && state_stamp->size >= k_state_bytes_in_parallel) {
    loading = std::async(std::launch::async, [&s, name = f.name] {
      return state::load_folder_state_for(s.state_dir, name);
    });
  } else {
    f.state = state::load_folder_state_for(s.state_dir, f.name);
  }
  f.cur_stamp.reset();
  f.new_stamp.reset();
  f.scan = maildir::ScanResult{};
  try {
    maildir::Folder folder(f.path);
    maildir::Presence presence = folder.presence();
    f.local_exists = presence == maildir::Presence::Present;
    f.local_gone = presence == maildir::Presence::Gone;
    if (f.local_exists) {
      f.cur_stamp = state::stamp_of(f.path / "cur");
      f.new_stamp = state::stamp_of(f.path / "new");
      f.scanned_at_ns = realtime_ns();
      f.scan = folder.scan();
    }
  } catch (...) {
    // The state's failure is said first, as when it was read first.
    if (loading.valid()) {
      f.state = loading.get();
    }
    throw;
  }
  if (loading.valid()) {
    f.state = loading.get();
  }
  if (!f.local_exists) {
    return;
  }
  if (report == nullptr) {
    return;
  }
  for (const auto& d : f.scan.duplicates) {
    // Appended piece by piece: GCC 12 at -O3 warns (-Wrestrict, a false
    // positive) about "literal" + std::string chains here.
    std::string notice = "two files share the name ";
    notice += d.stable_name;
    notice += ':';
    for (const auto& p : d.paths) {
      notice += ' ';
      notice += p.string();
    }
    notice += "; roam uses the first";
    report->notices.push_back(std::move(notice));
  }
  for (const auto& p : f.scan.invalid_names) {
    report->problems.push_back(p.string() + ": not a valid Maildir file name; skipped");
  }
}

void adopt_local_read(FolderEntry& into, FolderEntry&& from) {
  // Each field that load_folder() sets, and no other.
  into.quick = false;
  into.state = std::move(from.state);
  into.local_exists = from.local_exists;
  into.local_gone = from.local_gone;
  into.cur_stamp = from.cur_stamp;
  into.new_stamp = from.new_stamp;
  into.scanned_at_ns = from.scanned_at_ns;
  into.scan = std::move(from.scan);
}

std::optional<state::FolderSummary> summary_entry(const FolderEntry& f,
                                                  const state::FolderState& committed) {
  // Odd files (two with one name, invalid names) are reported on every
  // run, so a folder holding any is always checked in full.
  if (committed.uidnext == 0 || committed.highestmodseq == 0 ||
      !committed.pending_uploads.empty() || !f.scan.duplicates.empty() ||
      !f.scan.invalid_names.empty() || fs::exists(state::journal_file_for(f.state_path))) {
    return std::nullopt;
  }
  std::optional<state::FileStamp> state_file = state::stamp_of(f.state_path);
  std::optional<state::FileStamp> cur = state::stamp_of(f.path / "cur");
  std::optional<state::FileStamp> new_dir = state::stamp_of(f.path / "new");
  if (!state_file || !cur || !new_dir) {
    return std::nullopt;
  }
  state::FolderSummary entry{f.wire,
                             true,
                             committed.uidvalidity,
                             committed.uidnext,
                             committed.highestmodseq,
                             committed.messages.size(),
                             *state_file,
                             *cur,
                             *new_dir,
                             false,
                             0,
                             state::delimiter_text(f.delimiter)};
  // Unchanged since a scan old enough to trust, and the scan is what the
  // state describes: the next run may skip the folder on the stamps alone.
  if (f.local_exists && f.cur_stamp && f.new_stamp && cur == f.cur_stamp &&
      new_dir == f.new_stamp &&
      std::max(f.cur_stamp->mtime_ns, f.new_stamp->mtime_ns) + k_racy_ns <= f.scanned_at_ns &&
      local_unchanged(committed, f.scan.entries)) {
    return entry;
  }
  // This run changed the Maildir (or it changed too recently to trust the
  // stamps): the next run checks the listing against the state's digest
  // before it skips the folder, which costs a listing instead of the
  // state, the listing and the server's flags.
  entry.verify = true;
  entry.local_digest = local_digest(committed);
  return entry;
}

bool local_as_recorded(const FolderEntry& f, const state::FolderSummary& entry) {
  return state::stamp_of(f.state_path) == entry.state_file &&
         state::stamp_of(f.path / "cur") == entry.cur &&
         state::stamp_of(f.path / "new") == entry.new_dir &&
         !fs::exists(state::journal_file_for(f.state_path));
}

bool summary_says_unchanged(const FolderEntry& f, state::FolderSummary& entry) {
  // The same test as server_unchanged(), against the summary instead of
  // the state.
  if (!entry.settled || !f.on_server || !f.status ||
      !status_as_recorded(*f.status, entry.uidvalidity, entry.uidnext, entry.highestmodseq,
                          entry.messages)) {
    return false;
  }
  if (!local_as_recorded(f, entry)) {
    return false;
  }
  if (!entry.verify) {
    return true;
  }
  // The stamps match, but the last run changed the directories too
  // recently for that to prove anything: the listing must be what the
  // state describes. Odd files, or a change while listing (the stamps
  // moved), mean a full check. A file seen twice (a second copy under the
  // same stable name, or one renamed from new/ to cur/ while listing) makes
  // one message too many, and one missed one too few; either way the count
  // or the sum differs, so no set of names is needed. The folder is also
  // looked at whole, as a full check would: a tmp/ broken since the last
  // run is named now rather than when a download needs it.
  const std::int64_t listed_at = realtime_ns();
  maildir::Folder folder(f.path);
  if (folder.presence() != maildir::Presence::Present) {
    return false;
  }
  std::uint64_t count = 0;
  std::uint64_t sum = 0;
  bool valid = folder.visit([&](std::string_view name, std::string_view letters) {
    ++count;
    sum += local_digest(name, letters);
  });
  if (!valid || count != entry.messages || sum != entry.local_digest ||
      state::stamp_of(f.path / "cur") != entry.cur ||
      state::stamp_of(f.path / "new") != entry.new_dir) {
    return false;
  }
  // Verified. Once the directories are old enough for their stamps to show
  // any later change, the next run need not list them again.
  if (std::max(entry.cur.mtime_ns, entry.new_dir.mtime_ns) + k_racy_ns <= listed_at) {
    entry.verify = false;
    entry.local_digest = 0;
  }
  return true;
}

bool still_skippable(const FolderEntry& f) {
  return f.quick && f.moved_in.empty() && f.held.empty() &&
         !fs::exists(state::journal_file_for(f.state_path));
}

std::uint64_t expected_work(const FolderEntry& f) {
  if (f.quick) {
    return 0;
  }
  std::uint64_t server = 0;
  if (f.status) {
    const bool known = f.state && f.state->uidnext != 0;
    if (known && f.status->uidnext) {
      server = *f.status->uidnext > f.state->uidnext ? *f.status->uidnext - f.state->uidnext : 0;
    } else if (f.status->messages) {
      server = *f.status->messages;
    }
  }
  const std::size_t recorded = f.state ? f.state->messages.size() : 0;
  const std::size_t local = f.scan.entries.size() > recorded ? f.scan.entries.size() - recorded : 0;
  return server + local;
}

}  // namespace roam::sync
