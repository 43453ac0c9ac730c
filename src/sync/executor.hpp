#pragma once

// The executor's internals, shared by its files (src/sync/*.cpp) and by
// nothing else: the public interface is account.hpp. The executor gathers
// what the planner needs, asks it for a plan and applies the plan:
//
//   account.cpp     the run: connect, list, load and scan, order, sync each
//                   folder, reconnect after a broken connection
//   discovery.cpp   which folders take part; files renamed or moved by a
//                   mail reader; folders renamed or deleted on the server
//   folder_sync.cpp one folder: listing, merge base, plan, commit
//   apply.cpp       local renames and deletions; server flags, deletions,
//                   moves
//   transfer.cpp    uploads and downloads (the body path)
//   recovery.cpp    what an interrupted run left in a journal
//   identity.cpp    content keys and matching uploads to server copies

#include <arpa/inet.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
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
#include "state/summary.hpp"
#include "sync/planner.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"
#include "util/log.hpp"

#include "sync/account.hpp"
#include "sync/discovery.hpp"
#include "sync/next_records.hpp"
#include "sync/server_store.hpp"

namespace roam::sync {

using util::Error;
using util::Scope;
namespace fs = std::filesystem;
// The crash-step count belongs to the journal (state/journal.hpp).
using state::count_step;

// A folder as this run sees it: its names on both sides and its paths.
struct FolderEntry {
  // The local name: UTF-8, with the server's delimiter, without the
  // namespace prefix (folder_names.hpp). State files, reports, folder
  // patterns and wire_names use it.
  std::string name;
  std::string wire;  // The server's name (modified UTF-7, prefix included).
  std::optional<char> delimiter;
  std::optional<imap::StatusData> status;
  // What SELECT said when this run synced the folder (0 before): a move
  // into it from a folder synced later journals its intent under this
  // UIDVALIDITY, and looks for the copy from this UIDNEXT on. The state
  // read at the start may be of an older UIDVALIDITY by then.
  std::uint32_t opened_validity = 0;
  Uid opened_uidnext = 0;
  // Set when the folder failed in this run: what it paired or recorded
  // before the failure is unknown, so nothing is moved into it.
  bool failed = false;
  // Moves out of this folder (names here) that waited in its first pass
  // for a target not synced yet: the second pass, after the target's first
  // one, makes them (or deletes the copy here if the target paired it).
  std::set<std::string> waiting_moves;
  fs::path path;
  fs::path state_path;
  std::optional<state::FolderState> state;
  maildir::ScanResult scan;
  bool local_exists = false;
  // The folder directory or its cur/ does not exist (maildir::Presence::
  // Gone): only then were its messages perhaps deleted on purpose. False
  // for a folder that has cur/ but lacks new/ or tmp/.
  bool local_gone = false;
  bool on_server = true;
  std::map<std::string, std::string> moved_out;
  std::set<std::string> moved_in;
  // Messages moved out under a new name (a mail reader that renames on
  // moves): stable name here -> stable name in the target folder. Keyed by
  // name, not UID: a UIDVALIDITY change of this folder in the same run gives
  // the record a new UID but keeps its name.
  std::map<std::string, std::string> move_names;
  // True when records were renamed in memory (recognise_renames): the
  // folder must not be skipped, so that the new names are committed.
  bool renamed = false;
  // Files moved here whose server move was refused: they stay unrecorded
  // and are not uploaded (the move stays pending until the server allows it).
  std::set<std::string> held;
  // Uploads of this run whose server copy was not visible yet (their
  // intents are pending): a second pass in the same session must not take
  // them for uploads that never happened.
  std::set<std::string> fresh_intents;
  // UIDs uploaded in this run: a second pass in the same session may not
  // see them (Courier), which must not read as an expunge.
  std::set<Uid> fresh_uids;
  // Set for the folder's second pass in a run (account.cpp).
  bool second_pass = false;
  // Folders synced side by side (account.cpp): this folder lost messages on
  // the server and may stash their files, and has not said yet that it is
  // past that point (Stash::source_settled).
  bool stash_source = false;
  // Its downloads wait for the stash's sources first.
  bool waits_for_stash = false;
  // An earlier upload whose copy is not on the server while UIDs were given
  // out and expunged since: another client may have moved the copy to a
  // folder synced in this run. The first pass leaves such intents pending
  // and asks for a second pass, which decides (resolve_pending).
  bool deferred = false;
  // The account summary (state/summary.hpp) showed the folder unchanged on
  // both sides: its state was not loaded nor its Maildir listed. Anything
  // that needs them loads them first (load_folder).
  bool quick = false;
  // The stamps of cur/ and new/, taken just before the scan, and the time
  // the scan began: an entry of the summary may record them only if they
  // did not change during the run and were older than the scan by more
  // than a file system's timestamp granularity (or a change made just
  // after the scan could keep the same mtime).
  std::optional<state::FileStamp> cur_stamp;
  std::optional<state::FileStamp> new_stamp;
  std::int64_t scanned_at_ns = 0;
  // What the summary should say of the folder after this run; nothing
  // when the next run must check it in full.
  std::optional<state::FolderSummary> summary;
};

// Reads a folder's state and lists its Maildir directory (taking the stamps
// for the summary first), as the first phase of a run does; notices about
// odd files go to `report`. Throws util::Error.
void load_folder(const AccountSettings& s, FolderEntry& f, FolderReport* report);

// Gives `into` what load_folder() read for `from`, a copy of the same folder
// (the same name, path and state path) read ahead of the run's first phase
// (account.cpp, EarlyReads).
void adopt_local_read(FolderEntry& into, FolderEntry&& from);

// The summary entry that lets the next run skip folder `f` as `committed`
// describes it, when the state is complete; nothing otherwise. When the
// directories are not still as scanned long enough ago (this run changed
// them), the entry asks the next run to verify the listing first
// (FolderSummary::verify).
std::optional<state::FolderSummary> summary_entry(const FolderEntry& f,
                                                  const state::FolderState& committed);

// True if `entry` shows folder `f` unchanged on both sides: this run's
// LIST-STATUS, the state file and cur/ and new/ are exactly as recorded,
// no journal waits, and (for an entry to verify) the listing matches the
// recorded digest; an entry verified long enough after the change loses
// its `verify` flag, for the summary this run writes.
bool summary_says_unchanged(const FolderEntry& f, state::FolderSummary& entry);

// The local half of summary_says_unchanged(): the state file, cur/ and new/
// of folder `f` have the stamps `entry` recorded, and no journal waits.
bool local_as_recorded(const FolderEntry& f, const state::FolderSummary& entry);

// True while folder `f`, skipped on the summary's word (FolderEntry::quick),
// may stay skipped: nothing was moved into it or held for it in this run,
// and a move from a folder synced before left no journal.
bool still_skippable(const FolderEntry& f);

// A rough measure of the work folder `f` holds in this run, to order the
// folders synced side by side: messages the server may have added since the
// state's commit (all of them for a folder never synced), plus local files
// the state does not know. Zero for a folder skipped on the summary's word.
// Only an order is drawn from it: the largest folders start first, so that
// the run does not end with one connection still fetching a big INBOX that
// it started late while the others sit idle.
std::uint64_t expected_work(const FolderEntry& f);

// The base of every content key (see ContentKey) of a local file's bytes,
// and of a server header listing.
ContentKey local_content_key(const std::string& content);
// The content key of the file of `entry`, found by its stable name if a
// mail reader renamed it since the scan; nothing (said at debug level) when
// it is gone or cannot be read, so that the file is simply not matched by
// content.
std::optional<ContentKey> file_content_key(const maildir::Entry& entry);
ContentKey server_content_key(const imap::HeaderInfo& h);

// A server message that may be the copy of an upload whose UID is not
// known: its content key and Message-ID.
struct Candidate {
  std::string key;
  std::string message_id;
  std::uint64_t size = 0;
  bool taken = false;
};

std::optional<Uid> match_upload(const state::PendingUpload& upload,
                                std::map<Uid, Candidate>& candidates);

// The local files of messages the server expunged during this run, kept as
// hard links in their folder's tmp/ (maildir::Folder::stash) until the run
// ends. When another client moved a message between server folders, the
// target folder finds its file here by content key and moves it over
// instead of downloading the body again. What is left is removed at the
// end of the run (and by clean_tmp after a crash).
class Stash {
 public:
  Stash() = default;
  Stash(const Stash&) = delete;
  Stash& operator=(const Stash&) = delete;
  ~Stash() {
    for (auto& [key, paths] : m_by_key) {
      for (const auto& path : paths) {
        ::unlink(path.c_str());
      }
    }
  }

  // Folders synced at the same time over several connections share the
  // stash, so every member takes the lock.
  void add(const std::string& key, fs::path path) {
    std::lock_guard lock(m_mutex);
    m_by_key[key].push_back(std::move(path));
  }

  // Content keys of the messages this run put into any folder from the
  // server (downloaded or adopted from here).
  void downloaded(const std::string& key) {
    std::lock_guard lock(m_mutex);
    m_downloaded.insert(key);
  }
  bool was_downloaded(const std::string& key) const {
    std::lock_guard lock(m_mutex);
    return m_downloaded.count(key) != 0;
  }

  // Set when a folder of this run failed: what it would have downloaded is
  // not known, so decisions that depend on every download wait.
  void folder_failed() {
    std::lock_guard lock(m_mutex);
    m_folder_failed = true;
  }
  bool any_folder_failed() const {
    std::lock_guard lock(m_mutex);
    return m_folder_failed;
  }
  bool empty() const {
    std::lock_guard lock(m_mutex);
    return m_by_key.empty();
  }

  // Folders synced at the same time: the folders that may stash files
  // (`sources`: they lost messages on the server) each say when they are
  // past the point where they stash, and a folder that may find its
  // downloads here waits for that before it looks (wait_for_sources), so
  // that running side by side costs no download the stash would save.
  // `keys`, when given, holds the content key of every record of the
  // sources' states: a source stashes a file only under its record's key,
  // so a folder whose downloads all have other keys need not wait.
  void expect_sources(std::size_t sources,
                      std::optional<std::unordered_set<std::string>> keys = std::nullopt) {
    std::lock_guard lock(m_mutex);
    m_sources = sources;
    m_source_keys = std::move(keys);
  }
  void source_settled() {
    {
      std::lock_guard lock(m_mutex);
      m_sources -= m_sources > 0 ? 1 : 0;
    }
    m_settled.notify_all();
  }
  // Opens the wait for good: a run that fails may never reach some sources.
  void abandon_sources() {
    {
      std::lock_guard lock(m_mutex);
      m_sources = 0;
    }
    m_settled.notify_all();
  }
  // Whether a file is stashed, or a source yet to settle may stash one: a
  // folder that opens now asks for its new messages' headers in the same
  // round trip as its SELECT, as it will need their content keys.
  bool may_hold_files() const {
    std::lock_guard lock(m_mutex);
    return !m_by_key.empty() || m_sources > 0;
  }
  void wait_for_sources() {
    std::unique_lock lock(m_mutex);
    m_settled.wait(lock, [this] { return m_sources == 0; });
  }
  // Whether a source yet to settle may stash the file of a message with one
  // of these content keys (nullopt: a key not known, which may be any).
  bool may_stash_any(const std::vector<std::optional<std::string>>& keys) const {
    std::lock_guard lock(m_mutex);
    if (m_sources == 0) {
      return false;
    }
    if (!m_source_keys) {
      return true;
    }
    return std::any_of(keys.begin(), keys.end(),
                       [this](const auto& key) { return !key || m_source_keys->count(*key) != 0; });
  }

  // Takes a stashed file with this content key, if there is one.
  std::optional<fs::path> take(const std::string& key) {
    std::lock_guard lock(m_mutex);
    auto it = m_by_key.find(key);
    if (it == m_by_key.end()) {
      return std::nullopt;
    }
    fs::path path = std::move(it->second.back());
    it->second.pop_back();
    if (it->second.empty()) {
      m_by_key.erase(it);
    }
    return path;
  }

 private:
  mutable std::mutex m_mutex;
  std::condition_variable m_settled;
  std::size_t m_sources = 0;
  std::optional<std::unordered_set<std::string>> m_source_keys;  // See expect_sources().
  std::map<std::string, std::vector<fs::path>> m_by_key;
  std::set<std::string> m_downloaded;
  bool m_folder_failed = false;
};

// Everything one folder's sync works with.
class FolderSync {
 public:
  FolderSync(const AccountSettings& settings, ServerStore& server, FolderEntry& folder,
             FolderReport& report, const std::map<std::string, std::string>& wire_names,
             std::vector<FolderEntry>& all, Stash* stash)
      : m_all(all),
        m_stash(stash),
        m_s(settings),
        m_server(server),
        m_f(folder),
        m_report(report),
        m_wire_names(wire_names),
        m_journal_path(state::journal_file_for(folder.state_path)),
        m_folder(folder.path) {}

  void run();

  // The SELECT that run() will likely send for folder `f`, for a lane to
  // send ahead while the folder before it ends (ServerStore::
  // last_call_follows()); nothing where run() may not open the folder at
  // all or its state is not loaded yet. A guess that turns out wrong costs
  // a round trip, never a wrong answer (imap::Client::send_open()).
  static std::optional<OpenRequest> open_ahead(const AccountSettings& s, const FolderEntry& f,
                                               const Stash* stash);

 private:
  // Whether the folder, loaded, needs no work in this run.
  static bool unchanged(const AccountSettings& s, const FolderEntry& f);
  void add_server_keys(FolderInput& in, const std::vector<Uid>& uids);
  // The conditions of list_server() that hold before the SELECT.
  static bool may_list_changes(const FolderEntry& f, const state::FolderState& st,
                               const Policy& policy);
  // Whether the Maildir holds a file the state does not know (a new one,
  // or one renamed by a mail reader).
  static bool has_unknown_file(const FolderEntry& f, const state::FolderState& st);
  static imap::OpenPrefetch prefetch(const AccountSettings& s, const FolderEntry& f,
                                     const Stash* stash);
  // The SELECT or EXAMINE run() sends for `f`, with its prefetch.
  static OpenRequest open_request(const AccountSettings& s, const FolderEntry& f,
                                  const Stash* stash);
  // Whether the folder's cur/ is gone while its state has records.
  static bool local_missing(const FolderEntry& f);
  // Whether modseq_after_writes() may prove the HIGHESTMODSEQ after roam's
  // STOREs with a CHANGEDSINCE fetch, the one call that can follow the
  // downloads.
  bool may_prove_modseq(const Plan& plan, const imap::MailboxInfo& info) const;
  bool records_hold_server_flags(const FolderInput& in, const Plan& plan) const;
  std::vector<ServerMessage> list_server(const imap::MailboxInfo& info, const Policy& policy);
  std::size_t carry_over(const state::FolderState& old, const FolderInput& in);
  imap::ModSeq modseq_after_writes(const Plan& plan, const imap::MailboxInfo& info);
  void resolve_pending(FolderInput& in, std::map<Uid, std::string>& message_ids, bool any_uid,
                       Uid uidnext);
  void add_local_keys(FolderInput& in, const std::vector<std::string>& names);
  void report_plan(const Plan& plan);
  void apply_local(const Plan& plan);
  void apply_server(const Plan& plan, const imap::MailboxInfo& info);
  std::size_t remerge(const std::set<Uid>& modified);
  std::vector<std::string> journal_move_intents(FolderEntry* to, std::uint32_t validity,
                                                const std::vector<Uid>& uids);
  void void_move_intents(FolderEntry* to, std::uint32_t validity,
                         const std::vector<std::string>& names);
  void record_moved(FolderEntry* to, std::uint32_t validity,
                    const std::vector<std::pair<Uid, Uid>>& pairs);
  void upload(const std::vector<Upload>& uploads, const imap::MailboxInfo& info);
  void vanished_before_upload(const maildir::Entry& entry);
  // With `last`, no call to the server follows the downloads: the last
  // body fetch lets the next folder's SELECT go ahead
  // (ServerStore::last_call_follows()).
  void download(const std::vector<Download>& downloads, const std::map<Uid, ContentKey>& keys,
                bool last);
  // Saves m_next with m_records' records. The `last` commit of a run hands
  // the base's records over to m_next (no copy); until then m_next holds
  // no records and m_records is their one source.
  void commit_state(bool last);
  // Takes the entry of a file roam renamed for new flags into `entry`, all
  // but the stable name, which is the same and stays the one m_entries'
  // key views.
  static void adopt_rename(maildir::Entry& entry, maildir::Entry renamed);
  void fail(Uid uid) { m_failed.insert(uid); }
  // Moves whose target, synced earlier in this run, recorded the moved
  // file already (paired with a copy it had): their source copies are
  // deleted instead.
  std::set<Uid> redundant_moves(const Plan& plan) const;
  // The stable name a message moved out of this folder has in its target:
  // the new name a renaming mail reader gave it, else its name here.
  const std::string& target_name(const state::MessageRecord& rec) const {
    auto renamed = m_f.move_names.find(rec.name);
    return renamed != m_f.move_names.end() ? renamed->second : rec.name;
  }

  std::vector<FolderEntry>& m_all;  // Every folder of the run (move targets).
  Stash* m_stash;                   // Null when the account has one folder.
  const AccountSettings& m_s;
  ServerStore& m_server;  // The server side (server_store.hpp).
  FolderEntry& m_f;
  FolderReport& m_report;
  const std::map<std::string, std::string>& m_wire_names;
  fs::path m_journal_path;
  maildir::Folder m_folder;
  state::FolderState m_base;  // The base of the merge (the state, under this UIDVALIDITY).
  // The state being built by this run: its fields; its records are
  // m_records until the last commit_state().
  state::FolderState m_next;
  NextRecords m_records;  // m_base's records and this run's changes to them.
  // Local files by stable name, as views into the scan (m_f.scan.entries,
  // which this run does not resize): a copy of each entry and name cost
  // about 30 MB for a 100,000-file folder. Hashed: a sorted map compared
  // the long shared prefixes of the names on every lookup. An entry is
  // updated in place when roam renames its file (adopt_rename), and
  // removed from the map, not from the scan, when its file goes.
  std::unordered_map<std::string_view, maildir::Entry*> m_entries;
  std::set<Uid> m_failed;  // Messages whose actions failed: their records stay as they were.
  std::map<Uid, state::MessageRecord> m_overrides;  // Records settled by a re-merge.
  bool m_complete = true;  // False when anything was left for the next run.
  // The first local error while bodies were streamed (tmp/ not writable, a
  // full disk); the folder fails with it once the state is committed.
  std::string m_download_error;
};

// True for the record of a server copy whose local file is gone for good
// and that roam marked \Deleted but could not expunge: the copy a move
// without MOVE and UIDPLUS had to leave behind in the source folder, or a
// message the user deleted where no safe expunge exists. It is marked by
// \Deleted and a name ending in ":gone", and is never taken for a file the
// user moved or renamed (that would move the message a second time, or tie
// a live file to a deleted copy). A message the user merely flagged as
// trashed (T) keeps its name and is recognised as usual.
//
// No Maildir file's stable name holds a ':' (the info part starts there),
// so the record can never take a file by name, and rename recognition and
// the other searches by content skip it: a file the user moved back under
// its old name is a new message of its own, never this \Deleted copy
// (which would be deleted locally as soon as another client expunged it).
// It keeps its content key, so that after a UIDVALIDITY change the carry-
// over recognises the \Deleted copy and does not download it as new mail.
// Records that an older roam left behind had their key cleared instead;
// \Deleted with no key still counts.
inline constexpr const char* k_left_behind_suffix = ":gone";

inline bool left_behind(const state::MessageRecord& rec) {
  return std::find(rec.flags.begin(), rec.flags.end(), "\\Deleted") != rec.flags.end() &&
         (rec.key.empty() || rec.name.ends_with(k_left_behind_suffix));
}

inline void mark_left_behind(state::MessageRecord& rec) {
  rec.flags.push_back("\\Deleted");
  state::normalize_flags(rec.flags);
  if (rec.name.find(':') == std::string::npos) {
    rec.name += k_left_behind_suffix;
  }
}

// Resolves what an interrupted run left in a folder's journal: downloads
// whose file exists and uploads whose UID the server gave are adopted into
// the state, which is then committed and the journal removed. With
// `from_this_run` the journal is one this run wrote (the moves into the
// folder from folders synced before it), which is routine: what it says
// goes to the -v details, not to the notices about an interrupted run.
void recover_journal(const AccountSettings& s, FolderEntry& f, FolderReport& report,
                     bool from_this_run = false);

// A local folder that roam synced before and that the server no longer has.
struct VanishedFolder {
  std::string name;
  char delimiter = '/';
  fs::path state_path;
};

// Files renamed or moved by a mail reader, recognised by content key: a
// record whose file vanished and an unknown file whose key (`key_of`, the
// text form; nothing if unreadable) equals the record's are one message.
// In the same folder the record takes the new name (FolderEntry::renamed);
// in another folder, when `direction` lets changes reach the server, the
// pair becomes a move (moved_out, move_names, moved_in). Pure apart from
// `key_of`, which is called only when some record vanished.
using KeyReader = std::function<std::optional<std::string>(const maildir::Entry&)>;
void recognise_renames(Direction direction, std::vector<FolderEntry>& folders,
                       const std::vector<bool>& usable, const KeyReader& key_of);

// Folders renamed on the server, followed locally (see discovery.cpp);
// gives the number of local folders it renamed.
std::size_t follow_folder_renames(const AccountSettings& s, imap::Client& client,
                                  const std::vector<FolderEntry>& folders,
                                  const std::vector<VanishedFolder>& vanished,
                                  AccountReport& report);

}  // namespace roam::sync
