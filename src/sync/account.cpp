#include "sync/account.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <exception>
#include <functional>
#include <future>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <thread>
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
#include "sync/folder_names.hpp"
#include "sync/planner.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"
#include "util/log.hpp"
#include "util/signal.hpp"

#include "sync/executor.hpp"

namespace roam::sync {

namespace {

// A folder synced twice in a run (its second pass) says the same things
// twice; the user should read each once, in the order first said.
FolderReport without_repeats(FolderReport r) {
  for (auto* lines : {&r.notices, &r.problems, &r.details}) {
    std::set<std::string> seen;
    std::erase_if(*lines, [&](const std::string& line) { return !seen.insert(line).second; });
  }
  return r;
}

}  // namespace

using util::Error;
using util::Scope;
namespace fs = std::filesystem;

bool AccountReport::ok() const {
  return error.empty() && std::all_of(folders.begin(), folders.end(), [](const FolderReport& f) {
           return f.error.empty() && f.problems.empty();
         });
}

namespace {

// Opens an authenticated session as the settings say. With `cancel`,
// another thread may give the attempt up until the session is established.
// With `compress_now` false, COMPRESS (when `compress` asks for it) is left
// to the caller: the run's first connection lists the folders uncompressed
// and compresses only when a folder has work (sync_account).
std::unique_ptr<imap::Client> connect_account(const AccountSettings& s,
                                              std::shared_ptr<net::Cancel> cancel = nullptr,
                                              bool compress_now = true) {
  if (s.tls == net::TlsMode::None && !s.allow_plaintext && !net::is_loopback(s.host)) {
    throw Error(Scope::Account, "account " + s.name + ": tls = none would send the password to " +
                                    s.host +
                                    " in plaintext; use tls = implicit or starttls, or set "
                                    "allow_plaintext = yes if the network is trusted");
  }
  net::TlsOptions tls = s.tls_options;
  if (tls.server_name.empty()) {
    tls.server_name = s.host;
  }
  std::optional<net::TlsOptions> implicit;
  if (s.tls == net::TlsMode::Implicit) {
    implicit = tls;
  }
  auto stream =
      s.open_stream
          ? s.open_stream()
          : net::connect(s.host, s.port, implicit,
                         std::chrono::duration_cast<std::chrono::milliseconds>(s.timeout), cancel);
  imap::ClientOptions options;
  options.limits.max_streamed_literal = s.max_message_size;
  auto client = std::make_unique<imap::Client>(std::move(stream), options);
  bool preauth = client->read_greeting();
  if (s.tls == net::TlsMode::StartTls) {
    if (preauth) {
      // RFC 9051 §7.1.4: a PREAUTH greeting leaves no chance to start TLS, so
      // the session would stay in plaintext.
      throw Error(Scope::Account, "the server " + s.host +
                                      " greeted with PREAUTH in plaintext although tls = starttls "
                                      "is configured; roam refuses an unencrypted session");
    }
    client->starttls(tls);
  }
  if (!preauth) {
    // The callback runs pass_cmd only once the server has shown that it
    // offers the mechanism, so a token is not fetched for nothing.
    client->authenticate(s.auth, s.user, s.password, s.host, s.port);
  }
  ROAM_DEBUG(util::k_cat_net,
             "connected to " << client->peer() << " (" << client->security() << ")");
  // Capabilities may differ after login: the login's OK told them, or
  // this asks (Client::authenticate forgot the greeting's list).
  client->capabilities();
  if (s.compress && compress_now) {
    client->compress();
  }
  if (cancel) {
    // The session is established: from here it is the lane's to use, and
    // only the lane ends it.
    cancel->settle_all();
  }
  return client;
}

// The settings for the connections of one run: the password (pass_cmd, an
// OAuth helper) is asked for once, on the first login, and kept in memory
// for the other connections of the run, so that a pass_cmd that prompts
// (gpg, a password manager) prompts once.
AccountSettings with_password_once(const AccountSettings& s) {
  struct Once {
    std::mutex mutex;
    std::optional<std::string> secret;
  };
  AccountSettings out = s;
  if (s.password) {
    auto once = std::make_shared<Once>();
    out.password = [once, ask = s.password]() {
      std::lock_guard lock(once->mutex);
      if (!once->secret) {
        once->secret = ask();
      }
      return *once->secret;
    };
  }
  return out;
}

// The extra connections of a run (lanes 1..n; lane 0 is the connection
// that listed the folders). They log in as soon as the run knows that
// several folders may have work (open()), each on its own thread, and wait
// there until the work items are known: release() hands them the lane
// function, or nothing
// when the run ends before that (an account error while reading the
// folders), and join() waits for them either way. A lane's connection
// stays open after its work, for the second passes of its folders
// (connection()), until logout().
class EarlyLanes {
 public:
  using Lane = std::function<void(std::unique_ptr<imap::Client>&, std::size_t)>;
  using Fail = std::function<void(std::exception_ptr)>;

  EarlyLanes() = default;
  EarlyLanes(const EarlyLanes&) = delete;
  EarlyLanes& operator=(const EarlyLanes&) = delete;
  ~EarlyLanes() {
    join();
    logout();
  }

  // Starts `count` connections logging in; once per run (later calls do
  // nothing), so that a run that opened them early does not open more.
  void open(const AccountSettings& cs, std::size_t count) {
    if (!m_threads.empty() || count == 0) {
      return;
    }
    m_conns.resize(count + 1);
    for (std::size_t n = 0; n <= count; ++n) {
      m_cancels.push_back(std::make_shared<net::Cancel>());
    }
    for (std::size_t n = 1; n <= count; ++n) {
      m_threads.emplace_back([this, &cs, n] { serve(cs, n); });
    }
  }

  std::size_t count() const { return m_threads.size(); }

  // Lanes 1..lanes-1 run `lane` on their connection; a connection that
  // failed to open hands a failure of the run's scope (bad credentials,
  // a broken configuration) to `fail`.
  void release(std::size_t lanes, Lane lane, Fail fail) {
    {
      std::lock_guard guard(m_mutex);
      m_lanes = lanes;
      m_lane = std::move(lane);
      m_fail = std::move(fail);
      m_released = true;
    }
    m_wake.notify_all();
  }

  // Waits for the lanes. It is called when every work item has been taken,
  // so a connection still logging in now would get no work: it is given up
  // rather than waited for (a server that accepts a connection but never
  // greets it would otherwise hold the run's end until the timeout).
  void join() {
    {
      std::lock_guard guard(m_mutex);
      m_released = true;
    }
    m_wake.notify_all();
    for (auto& c : m_cancels) {
      c->cancel();
    }
    for (auto& t : m_threads) {
      if (t.joinable()) {
        t.join();
      }
    }
  }

  // Lane n's connection, after join(): empty if it never opened or was
  // lost.
  std::unique_ptr<imap::Client>& connection(std::size_t n) { return m_conns.at(n); }

  // Ends the sessions of the lanes' connections (after join()).
  void logout() {
    for (auto& conn : m_conns) {
      try {
        if (conn && conn->usable()) {
          conn->logout();
        }
      } catch (const Error& e) {
        ROAM_DEBUG(util::k_cat_net, "logout: " << e.what());
      }
      conn.reset();
    }
  }

 private:
  void serve(const AccountSettings& cs, std::size_t n) {
    std::unique_ptr<imap::Client> conn;
    std::exception_ptr failed;
    try {
      conn = connect_account(cs, m_cancels[n]);
    } catch (const Error& e) {
      // A server may limit the connections of a user (Courier allows four
      // per address by default): the other lanes take the work.
      if (m_cancels[n]->cancelled()) {
        ROAM_DEBUG(util::k_cat_net, "an extra connection was given up: " << e.what());
      } else if (e.scope() >= Scope::Usage) {
        failed = std::current_exception();
      } else {
        ROAM_INFO("an extra connection failed, the others go on: " << e.what());
      }
    } catch (...) {
      failed = std::current_exception();
    }
    Lane lane;
    Fail fail;
    {
      std::unique_lock guard(m_mutex);
      m_wake.wait(guard, [&] { return m_released; });
      if (n < m_lanes) {
        lane = m_lane;
        fail = m_fail;
      }
    }
    if (failed) {
      if (fail) {
        fail(failed);
      }
      return;
    }
    if (conn && lane) {
      lane(conn, n);
    }
    // Each thread writes its own slot; join() orders it before any read.
    m_conns[n] = std::move(conn);
  }

  std::mutex m_mutex;
  std::condition_variable m_wake;
  bool m_released = false;
  std::size_t m_lanes = 0;
  Lane m_lane;
  Fail m_fail;
  std::vector<std::unique_ptr<imap::Client>> m_conns;   // By lane; [0] stays empty.
  std::vector<std::shared_ptr<net::Cancel>> m_cancels;  // By lane; [0] unused.
  std::vector<std::thread> m_threads;
};

// How many threads read `folders` folders' local side at once: one per
// folder, at most 8, and at least two even on one core, because much of a
// read is waiting for the disk.
std::size_t reader_count(std::size_t folders) {
  constexpr std::size_t k_max_readers = 8;
  return std::min(
      {folders, k_max_readers, std::max<std::size_t>(2, std::thread::hardware_concurrency())});
}

// The local side of the folders whose Maildir or state changed since the
// account summary was written, read while the first connection waits for
// LIST and the STATUS replies (docs/sync-semantics.md, "Reading while
// the server lists").
// Such a folder is read in the run's first phase whatever the server says,
// so reading it early changes nothing but when: the run then waits for the
// slower of the server's first answers and the reading, not for both one
// after the other. Only the summary's word picks the folders (its
// `delimiter` gives the Maildir path), so a folder the server no longer
// lists, or lists under another delimiter, is read for nothing and its
// read dropped (take()). A read that fails is dropped too: the first phase
// reads the folder again and reports what it says.
class EarlyReads {
 public:
  EarlyReads() = default;
  EarlyReads(const EarlyReads&) = delete;
  EarlyReads& operator=(const EarlyReads&) = delete;
  ~EarlyReads() {
    m_stop = true;
    join();
  }

  // Starts the readers; each folder's stamps are compared on a reader's
  // thread too, so that the caller goes on to list at once.
  void start(const AccountSettings& s, const state::AccountSummary& summary) {
    for (const auto& [name, entry] : summary) {
      if (!entry.delimiter) {
        continue;
      }
      const std::optional<char> delimiter = state::delimiter_of(*entry.delimiter);
      if (s.select_folder && !s.select_folder(name, delimiter)) {
        continue;
      }
      Read r;
      r.entry = entry;
      r.f.name = name;
      r.f.delimiter = delimiter;
      m_reads.push_back(std::move(r));
    }
    if (m_reads.empty()) {
      return;
    }
    for (std::size_t i = 0; i < m_reads.size(); ++i) {
      m_by_name.emplace(m_reads[i].f.name, i);
    }
    const std::size_t readers = reader_count(m_reads.size());
    for (std::size_t r = 0; r < readers; ++r) {
      m_threads.emplace_back([this, &s] {
        for (std::size_t k = m_next++; k < m_reads.size() && !m_stop; k = m_next++) {
          read(s, m_reads[k]);
        }
      });
    }
  }

  // Waits for the readers. Before anything local is moved (a folder renamed
  // on the server is renamed here too) or read by the first phase.
  void join() {
    for (auto& t : m_threads) {
      t.join();
    }
    m_threads.clear();
  }

  // Drops every early read: the first phase reads the folders again.
  void discard() {
    for (auto& r : m_reads) {
      r.done = false;
    }
  }

  // Moves the early read of `f` into it and `report`, when there is one
  // for the same name, Maildir path and state path. Call after join().
  bool take(FolderEntry& f, FolderReport& report) {
    auto it = m_by_name.find(f.name);
    if (it == m_by_name.end()) {
      return false;
    }
    Read& r = m_reads[it->second];
    if (!r.done || r.f.path != f.path || r.f.state_path != f.state_path) {
      return false;
    }
    r.done = false;
    adopt_local_read(f, std::move(r.f));
    for (auto& n : r.report.notices) {
      report.notices.push_back(std::move(n));
    }
    for (auto& p : r.report.problems) {
      report.problems.push_back(std::move(p));
    }
    return true;
  }

 private:
  struct Read {
    state::FolderSummary entry;
    FolderEntry f;
    FolderReport report;
    bool done = false;
  };

  // Reads the folder if the summary cannot let it be skipped whatever the
  // server says: an entry not settled, or a state file, cur/ or new/ that
  // is not as recorded, or a journal (summary_says_unchanged()'s local
  // tests). A folder whose stamps match waits for the server's STATUS, as
  // it may well be skipped.
  static void read(const AccountSettings& s, Read& r) {
    try {
      r.f.path = maildir::folder_path(s.tree, r.f.name, r.f.delimiter);
      r.f.state_path = state::state_file_for(s.state_dir, r.f.name);
      if (r.entry.settled && local_as_recorded(r.f, r.entry)) {
        return;
      }
      load_folder(s, r.f, &r.report);
      r.done = true;
    } catch (const std::exception& e) {
      ROAM_DEBUG(util::k_cat_sync,
                 r.f.name << ": not read ahead (" << e.what() << "); the first phase reads it");
    }
  }

  std::vector<Read> m_reads;
  // Index into m_reads by folder name; the summary names each folder once.
  std::unordered_map<std::string, std::size_t> m_by_name;
  std::vector<std::thread> m_threads;
  std::atomic<std::size_t> m_next{0};
  std::atomic<bool> m_stop{false};
};

// Phase 1 of a run for the folders in `which`: each folder's state and
// Maildir listing (load_folder, unless `read_early` says EarlyReads gave
// it already), and what its journal says an interrupted
// run left (recover_journal). Folders are independent here, so several are
// read at once: a run that follows many changed folders spends its first
// tens of milliseconds in this JSON and these directories. A folder's
// failure goes to its report; an account's is thrown, after every reader
// stopped (the first in folder order, so that a run says the same each
// time).
void load_folders(const AccountSettings& s, std::vector<FolderEntry>& folders,
                  const std::vector<std::size_t>& which, std::vector<FolderReport>& reports,
                  std::vector<bool>& usable, const std::vector<char>& read_early) {
  std::vector<std::exception_ptr> thrown(which.size());
  // usable is a vector<bool>, whose elements share words: each reader
  // writes its own flag here, and usable is set after the join.
  std::vector<char> ok(which.size(), 0);
  auto load = [&](std::size_t k) {
    std::size_t i = which[k];
    try {
      if (read_early[k] == 0) {
        load_folder(s, folders[i], &reports[i]);
      }
      recover_journal(s, folders[i], reports[i]);
      ok[k] = 1;
    } catch (const Error& e) {
      if (e.scope() >= Scope::Account) {
        thrown[k] = std::current_exception();
        return;
      }
      reports[i].error = e.what();
      folders[i].failed = true;
    } catch (...) {
      thrown[k] = std::current_exception();
    }
  };
  const std::size_t readers = reader_count(which.size());
  if (readers <= 1) {
    for (std::size_t k = 0; k < which.size(); ++k) {
      load(k);
    }
  } else {
    std::atomic<std::size_t> next{0};
    std::vector<std::thread> threads;
    for (std::size_t r = 1; r < readers; ++r) {
      threads.emplace_back([&] {
        for (std::size_t k = next++; k < which.size(); k = next++) {
          load(k);
        }
      });
    }
    for (std::size_t k = next++; k < which.size(); k = next++) {
      load(k);
    }
    for (auto& t : threads) {
      t.join();
    }
  }
  for (std::size_t k = 0; k < which.size(); ++k) {
    if (thrown[k]) {
      std::rethrow_exception(thrown[k]);
    }
    usable[which[k]] = ok[k] != 0;
  }
}

// The account's folders (LIST, with the STATUS items of the folders in
// `status_of`, or of all by LIST-STATUS when it is empty and the server
// offers it), and with `use_namespace` the NAMESPACE reply, in one round
// trip.
imap::Client::Listing list_folders(const AccountSettings& s, imap::Client& client,
                                   const std::vector<std::string>& status_items,
                                   const std::vector<std::string>& status_of) {
  try {
    return client.list_with_namespaces(status_items, s.use_namespace, status_of);
  } catch (const imap::NamespaceUnreadable& e) {
    throw Error(Scope::Account, "cannot read the server's NAMESPACE reply (" +
                                    std::string(e.what()) +
                                    "); set use_namespace = no to sync without asking for it");
  }
}

// How the server's names map to local ones (sync/folder_names.hpp): with
// `use_namespace`, the personal namespace prefix the server announces is
// stripped. A refused NAMESPACE, or a reply roam cannot use, leaves the
// names as they are and says why in `notices` (a reply that cannot even be
// parsed broke the connection in list_folders, which says how to do without
// it).
FolderNames folder_names_for(const AccountSettings& s, const imap::Client::Listing& listing,
                             std::vector<std::string>& notices) {
  if (!s.use_namespace) {
    return {};
  }
  if (listing.namespace_refused) {
    notices.push_back(std::string("the server refused NAMESPACE (") +
                      imap::CommandFailed("NAMESPACE", *listing.namespace_refused).what() +
                      "); folder names are kept as the server lists them");
    return {};
  }
  const std::optional<imap::NamespaceData>& reply = listing.namespaces;
  NamespaceChoice choice = choose_namespace(reply);
  if (!choice.notice.empty()) {
    notices.push_back(choice.notice);
  }
  if (choice.names.strips()) {
    ROAM_DEBUG(util::k_cat_sync, "stripping the namespace prefix \"" << choice.names.prefix()
                                                                     << "\" from folder names");
  }
  return choice.names;
}

bool has_attribute(const imap::ListData& l, std::string_view attr) {
  for (const auto& a : l.attributes) {
    if (a.size() == attr.size() && std::equal(a.begin(), a.end(), attr.begin(), [](char x, char y) {
          return std::tolower(static_cast<unsigned char>(x)) ==
                 std::tolower(static_cast<unsigned char>(y));
        })) {
      return true;
    }
  }
  return false;
}

// Writes the account summary for the next run: the entries this run's
// folders left (FolderEntry::summary), and those of folders outside this
// run (a run limited to some folders) as they were. Only when it changed:
// a run with nothing to do writes nothing.
void save_summary(const fs::path& path, const state::AccountSummary& before,
                  const std::vector<FolderEntry>& folders) {
  state::AccountSummary after = before;
  for (const auto& f : folders) {
    if (f.summary) {
      after[f.name] = *f.summary;
    } else if (f.on_server && !f.wire.empty()) {
      // Not settled: only its name is kept, for the STATUS of the next run.
      state::FolderSummary name_only;
      name_only.mailbox = f.wire;
      name_only.settled = false;
      name_only.delimiter = state::delimiter_text(f.delimiter);
      after[f.name] = name_only;
    } else {
      after.erase(f.name);
    }
  }
  if (after == before) {
    return;
  }
  try {
    state::save_summary(path, after);
  } catch (const Error& e) {
    // Only a cache: the next run checks every folder in full.
    ROAM_DEBUG(util::k_cat_state, e.what());
  }
}

}  // namespace

AccountReport sync_account(const AccountSettings& s) {
  AccountReport report;
  report.account = s.name;
  report.dry_run = s.dry_run;
  auto start = std::chrono::steady_clock::now();
  try {
    util::create_directories(s.state_dir);
    state::AccountLock lock(s.state_dir, s.name, state::LockWait::Fail);
    const AccountSettings cs = with_password_once(s);
    // The summary of the last run names the folders it synced: their
    // STATUS goes out ahead of the LIST (see Client::list_with_namespaces),
    // and those whose local side changed since are read while the server
    // answers it (EarlyReads).
    const fs::path summary_path = state::summary_file_for(s.state_dir);
    const state::AccountSummary summary =
        s.dry_run ? state::AccountSummary{} : state::load_summary(summary_path);
    EarlyReads early_reads;
    // The first connection lists the folders before it compresses: COMPRESS
    // costs a round trip of its own (RFC 4978 §3: nothing may be in flight
    // beside it), which a run that finds nothing to do would pay for a few
    // hundred bytes of LIST and STATUS. It is sent once folders are to be
    // read, while they are (below).
    auto client = connect_account(cs, nullptr, /*compress_now=*/false);
    // Only after the first login: it may run pass_cmd, which forks, and a
    // fork is made while roam has no other thread (the forked supervisor
    // of util/subprocess.cpp is then a copy of a one-thread program).
    early_reads.start(s, summary);
    std::vector<std::string> status_items = {"MESSAGES", "UIDNEXT", "UIDVALIDITY"};
    if (client->capabilities().has("CONDSTORE")) {
      status_items.push_back("HIGHESTMODSEQ");
    }
    // The extra connections (docs/sync-semantics.md, "Folders in
    // parallel"). When the summary already says that several folders will
    // likely be read in full (a first run, or folders the last run changed
    // or did not leave settled: changes come in bursts), they log in now,
    // while LIST and STATUS are in flight and the folders are read: a login
    // costs round trips that the first folders would otherwise wait for. Otherwise the
    // run opens them once it knows which folders have work (below), and a
    // run where nothing changed opens none. The first connection has
    // logged in before any of them, so a wrong password fails once.
    EarlyLanes extra;
    if (!s.dry_run) {
      std::size_t unsettled = static_cast<std::size_t>(std::count_if(
          summary.begin(), summary.end(),
          [](const auto& entry) { return !entry.second.settled || entry.second.verify; }));
      std::size_t early = summary.empty() ? s.connections : std::min(s.connections, unsettled);
      if (early > 1) {
        extra.open(cs, early - 1);
      }
    }
    std::vector<std::string> status_of;
    for (const auto& [name, entry] : summary) {
      if (!entry.mailbox.empty()) {
        status_of.push_back(entry.mailbox);
      }
    }
    imap::Client::Listing listing = list_folders(s, *client, status_items, status_of);
    const FolderNames folder_names = folder_names_for(s, listing, report.notices);
    std::vector<imap::ListedMailbox> mailboxes = std::move(listing.mailboxes);

    // The folders of this run: the server's, and (when folders are created
    // on the server) the local ones it lacks.
    std::vector<FolderEntry> folders;
    std::optional<char> server_delimiter;
    for (const auto& lm : mailboxes) {
      if (!server_delimiter && lm.list.delimiter) {
        server_delimiter = lm.list.delimiter;
      }
      if (has_attribute(lm.list, "\\NoSelect") || has_attribute(lm.list, "\\NonExistent")) {
        continue;
      }
      Unmapped why = Unmapped::OutsideNamespace;
      std::optional<std::string> local = folder_names.local_name(lm.list.mailbox, &why);
      if (!local) {
        // Other users' and shared folders are outside the personal
        // namespace: they have no local name while the prefix is stripped,
        // as with mbsync. A folder of the user's own that would become
        // INBOX cannot be synced, and the user must hear of it.
        ROAM_DEBUG(util::k_cat_sync, decode_mailbox_name(lm.list.mailbox)
                                         << ": not synced, " << to_string(why));
        if (why == Unmapped::WouldBeInbox) {
          report.folders.push_back({});
          report.folders.back().name = decode_mailbox_name(lm.list.mailbox);
          report.folders.back().problems.push_back(
              "not synced: " + to_string(why) +
              "; rename it on the server, or set use_namespace = no to keep the prefix");
        }
        continue;
      }
      std::string name = std::move(*local);
      if (s.select_folder && !s.select_folder(name, lm.list.delimiter)) {
        continue;
      }
      FolderEntry f;
      f.name = name;
      f.wire = lm.list.mailbox;
      f.delimiter = lm.list.delimiter;
      f.status = lm.status;
      folders.push_back(std::move(f));
    }
    // Folders the summary did not name (new ones, or ones the last run did
    // not leave settled) get their STATUS now, in one more round trip, as
    // LIST-STATUS would have given it.
    if (!status_of.empty()) {
      std::vector<std::string> missing;
      for (const auto& f : folders) {
        if (!f.status) {
          missing.push_back(f.wire);
        }
      }
      if (!missing.empty()) {
        std::map<std::string, imap::StatusData> more = client->statuses(missing, status_items);
        for (auto& f : folders) {
          if (auto it = more.find(f.wire); !f.status && it != more.end()) {
            f.status = it->second;
          }
        }
      }
    }
    // Local folders the server lacks: new ones (created on the server when
    // `create` allows), or ones roam synced before, which went away on the
    // server (their state file exists).
    std::vector<VanishedFolder> vanished;
    {
      bool creates = s.policy.direction != Direction::Pull && s.create_folders;
      std::set<std::string> known;
      for (const auto& f : folders) {
        known.insert(f.name);
      }
      maildir::LocalFolders local = maildir::list_local_folders(s.tree);
      for (const auto& skipped : local.skipped) {
        if (creates) {
          report.notices.push_back("local folder skipped: " + skipped);
        }
      }
      // A local folder's name takes the namespace's delimiter when the
      // prefix is stripped (it is the one the server's names use below the
      // prefix), else the first one LIST showed.
      char delim =
          folder_names.strips() ? folder_names.delimiter() : server_delimiter.value_or('/');
      for (std::string name : local.names) {
        std::replace(name.begin(), name.end(), '/', delim);
        if (known.count(name) != 0 || (s.select_folder && !s.select_folder(name, delim))) {
          continue;
        }
        fs::path state_path = state::state_file_for(s.state_dir, name);
        if (fs::exists(state_path)) {
          vanished.push_back({name, delim, state_path});
          continue;
        }
        if (!creates) {
          continue;
        }
        std::optional<std::string> wire = folder_names.wire_name(name);
        if (!wire) {
          continue;
        }
        FolderEntry f;
        f.name = name;
        f.wire = std::move(*wire);
        f.delimiter = delim;
        f.on_server = false;
        folders.push_back(std::move(f));
      }
    }
    if (!vanished.empty()) {
      // Following a rename moves local folders: the readers must be done.
      early_reads.join();
      if (follow_folder_renames(s, *client, folders, vanished, report) != 0) {
        // A folder renamed into place may have been read ahead, as missing.
        early_reads.discard();
      }
    }

    // Phase 1: state and Maildir of every folder, so that moves between
    // folders can be recognised before anything is deleted. A folder that
    // the account summary shows unchanged on both sides is neither read
    // nor listed: nothing in it can be part of a move.
    std::vector<FolderReport> reports(folders.size());
    std::vector<bool> usable(folders.size(), false);
    std::map<std::string, std::string> wire_names;
    std::vector<std::size_t> to_load;
    for (std::size_t i = 0; i < folders.size(); ++i) {
      FolderEntry& f = folders[i];
      reports[i].name = f.name;
      wire_names[f.name] = f.wire;
      try {
        f.path = maildir::folder_path(s.tree, f.name, f.delimiter);
        f.state_path = state::state_file_for(s.state_dir, f.name);
        auto it = summary.find(f.name);
        state::FolderSummary entry = it != summary.end() ? it->second : state::FolderSummary{};
        if (it != summary.end() && summary_says_unchanged(f, entry)) {
          f.quick = true;
          f.local_exists = true;
          f.summary = entry;
          // An entry from an older roam learns the server's name of the
          // folder and its delimiter (the summary is rewritten once for
          // it).
          f.summary->mailbox = f.wire;
          f.summary->delimiter = state::delimiter_text(f.delimiter);
          usable[i] = true;
          continue;
        }
        to_load.push_back(i);
      } catch (const Error& e) {
        if (e.scope() >= Scope::Account) {
          throw;
        }
        reports[i].error = e.what();
        folders[i].failed = true;
      }
    }
    // The extra connections log in now, while the folders are read: every
    // folder read may have work, and a login costs round trips that the
    // reading would otherwise wait for (docs/sync-semantics.md, "Folders
    // in parallel"). A run where the summary shows nothing changed opens
    // none.
    if (!s.dry_run && !to_load.empty()) {
      extra.open(cs, std::min<std::size_t>(s.connections, to_load.size()) - 1);
    }
    // The first connection's COMPRESS round trip overlaps the reading. The
    // connection is this thread's alone again once the reading is done; a
    // failure is thrown from get(), after the reading, or is lost with it
    // when the reading threw first (the future waits either way).
    std::future<void> compressing;
    if (cs.compress && !to_load.empty()) {
      compressing = std::async(std::launch::async, [&client] { client->compress(); });
    }
    early_reads.join();
    std::vector<char> read_early(to_load.size(), 0);
    for (std::size_t k = 0; k < to_load.size(); ++k) {
      read_early[k] = early_reads.take(folders[to_load[k]], reports[to_load[k]]) ? 1 : 0;
    }
    load_folders(s, folders, to_load, reports, usable, read_early);
    if (compressing.valid()) {
      compressing.get();
    }
    ROAM_DEBUG(util::k_cat_sync, "read the state and Maildir of "
                                     << to_load.size() << " of " << folders.size() << " folders ("
                                     << std::count(read_early.begin(), read_early.end(), 1)
                                     << " read while the server answered)");
    // A file that vanished from one folder and appeared, unknown, in another
    // was moved there by the user. It takes two folders read in this run: a
    // folder skipped on the summary's word has neither a state nor a listing
    // here, so nothing can be moved into or out of it, and a 100,000-message
    // folder read alone would pay for an index of its names for nothing.
    if (s.policy.direction != Direction::Pull &&
        std::count_if(to_load.begin(), to_load.end(), [&](std::size_t i) { return usable[i]; }) >
            1) {
      std::map<std::string, std::size_t> unknown_at;
      for (std::size_t i = 0; i < folders.size(); ++i) {
        if (!usable[i]) {
          continue;
        }
        state::NameViews names;
        std::set<std::string> pending;
        if (folders[i].state) {
          names = state::build_name_views(*folders[i].state);
          // A file with a pending upload intent here is accounted for: a
          // move into this folder that an interrupted run may have made
          // already (the intent finds its copy), or an upload.
          for (const auto& p : folders[i].state->pending_uploads) {
            pending.insert(p.name);
          }
        }
        for (const auto& e : folders[i].scan.entries) {
          if (names.count(e.stable_name) == 0 && pending.count(e.stable_name) == 0) {
            unknown_at.emplace(e.stable_name, i);
          }
        }
      }
      for (std::size_t i = 0; i < folders.size(); ++i) {
        if (!usable[i] || !folders[i].state) {
          continue;
        }
        // Views: the scan outlives this loop, and a set of 100,000 copied
        // names cost more than the rest of it.
        std::unordered_set<std::string_view> here;
        here.reserve(folders[i].scan.entries.size());
        for (const auto& e : folders[i].scan.entries) {
          here.insert(e.stable_name);
        }
        for (const auto& [uid, rec] : folders[i].state->messages) {
          auto it = unknown_at.find(rec.name);
          if (here.count(rec.name) == 0 && it != unknown_at.end() && it->second != i &&
              folders[it->second].on_server && !left_behind(rec)) {
            folders[i].moved_out[rec.name] = folders[it->second].name;
            folders[it->second].moved_in.insert(rec.name);
          }
        }
      }
    }
    recognise_renames(s.policy.direction, folders, usable,
                      [](const maildir::Entry& e) -> std::optional<std::string> {
                        auto key = file_content_key(e);
                        return key ? std::optional(content_key_text(*key)) : std::nullopt;
                      });

    ROAM_DEBUG(util::k_cat_sync, "looked for files moved between folders");
    // Phase 2: sync each folder. Folders that received moved files are
    // synced once more at the end, when the server has moved their copies.
    std::vector<std::size_t> order;
    for (std::size_t i = 0; i < folders.size(); ++i) {
      order.push_back(i);
    }
    // Folders that lost messages on the server go first: if another client
    // moved them, their files are stashed before the target folder would
    // download them again. LIST-STATUS tells: fewer messages than the
    // records plus the UIDs given out since means something was expunged.
    auto lost = [&](std::size_t i) {
      return folders[i].state && folders[i].status &&
             lost_messages(*folders[i].state, *folders[i].status);
    };
    std::stable_partition(order.begin(), order.end(), lost);
    Stash stash;
    for (const auto& r : reports) {
      if (!r.error.empty()) {
        stash.folder_failed();
      }
    }
    std::vector<std::size_t> again;
    for (std::size_t i = 0; i < folders.size(); ++i) {
      if (!folders[i].moved_in.empty() && usable[i]) {
        again.push_back(i);
      }
    }
    // One connection contract: a connection whose reply was not read to
    // the end is never used again (imap::Client refuses it). The folder
    // that broke it fails, and the lane's next folder gets a new
    // connection; a few times at most in the whole run, so that a server
    // that drops every connection ends the account instead of being retried
    // for ever. The new connection is made only when a folder needs it.
    constexpr int k_max_reconnects = 3;
    std::atomic<int> reconnects{0};
    std::mutex report_mutex;
    // The stash, where more than one folder may share it.
    Stash* shared_stash = folders.size() > 1 ? &stash : nullptr;
    // `ahead` names the folder to open next on the connection, for its
    // SELECT to go out while this folder's last answers come in
    // (ImapServerStore).
    auto sync_one = [&](std::unique_ptr<imap::Client>& conn, std::size_t i,
                        std::function<std::optional<OpenRequest>()> ahead = {}) {
      if (!conn->usable()) {
        if (reconnects.fetch_add(1) >= k_max_reconnects) {
          throw Error(Scope::Account, "the connection broke " +
                                          std::to_string(k_max_reconnects + 1) +
                                          " times in this run; roam gives up on the account");
        }
        conn.reset();
        conn = connect_account(cs);
      }
      try {
        ImapServerStore server(*conn, std::move(ahead));
        FolderSync(s, server, folders[i], reports[i], wire_names, folders, shared_stash).run();
      } catch (const Error& e) {
        reports[i].error = e.what();
        folders[i].failed = true;
        stash.folder_failed();
        if (e.scope() >= Scope::Usage || (e.scope() == Scope::Account && conn->usable())) {
          throw;
        }
      }
    };
    // A stop asked for by a signal is honoured between folders: the
    // folder being synced finishes (or stops between download batches)
    // and commits; the rest wait for the next run.
    auto stopping = [&](std::size_t i) {
      if (util::stop_requested() == 0) {
        return false;
      }
      std::lock_guard guard(report_mutex);
      report.stopped_by = util::stop_requested();
      if (!reports[i].skipped_unchanged && reports[i].error.empty()) {
        reports[i].notices.push_back("not synced: roam was asked to stop");
      }
      return true;
    };
    try {
      // The first passes go over up to `connections` connections at once
      // (docs/sync-semantics.md, "Folders in parallel"). Each work item is
      // a list of folders synced in order on one connection. The folders
      // tied together by a move a mail reader made between them form one
      // item, in the run's order: a move writes into its target's journal
      // and reads what the target's pass left, so they must not run at the
      // same time. Every other folder is an item of its own; what it shares
      // with the others (the stash) takes a lock, and only makes a download
      // cheaper, so the order among them changes no outcome.
      auto tied = [&](const FolderEntry& f) {
        return !f.moved_in.empty() || !f.moved_out.empty() || !f.held.empty() ||
               !f.waiting_moves.empty();
      };
      std::vector<std::vector<std::size_t>> items;
      std::vector<std::size_t> tied_folders;
      for (std::size_t i : order) {
        if (usable[i] && tied(folders[i])) {
          tied_folders.push_back(i);
        }
      }
      if (!tied_folders.empty()) {
        items.push_back(std::move(tied_folders));
      }
      const std::size_t first_single = items.size();
      for (std::size_t i : order) {
        if (usable[i] && !tied(folders[i])) {
          items.push_back({i});
        }
      }
      // The biggest folders first (expected_work): with INBOX holding a
      // quarter of an account, a lane that took it last kept the run going
      // long after the others were done. Folders that lost messages stay
      // ahead of the rest, as the stash needs (below).
      if (s.connections > 1) {
        std::vector<std::uint64_t> work(folders.size(), 0);
        for (std::size_t k = first_single; k < items.size(); ++k) {
          work[items[k][0]] = expected_work(folders[items[k][0]]);
        }
        std::stable_sort(items.begin() + static_cast<std::ptrdiff_t>(first_single), items.end(),
                         [&](const auto& a, const auto& b) {
                           const bool lost_a = lost(a[0]);
                           const bool lost_b = lost(b[0]);
                           if (lost_a != lost_b) {
                             return lost_a;
                           }
                           return work[a[0]] > work[b[0]];
                         });
      }
      // A folder the summary shows unchanged needs no connection: only the
      // items with work in them count towards the lanes opened.
      std::size_t busy = 0;          // Items.
      std::size_t busy_folders = 0;  // Their folders.
      for (const auto& item : items) {
        if (!std::all_of(item.begin(), item.end(),
                         [&](std::size_t i) { return still_skippable(folders[i]); })) {
          ++busy;
          busy_folders += item.size();
        }
      }
      std::size_t lanes =
          s.dry_run ? 1 : std::min<std::size_t>({s.connections, busy, extra.count() + 1});
      std::atomic<std::size_t> next_item{0};
      std::atomic<bool> abandon{false};
      std::exception_ptr failure;
      // The first failure that ends the run: the lanes stop taking work,
      // and no folder waits any longer for the stash.
      auto fail_run = [&](std::exception_ptr e) {
        {
          std::lock_guard guard(report_mutex);
          if (!failure) {
            failure = std::move(e);
          }
        }
        abandon = true;
        stash.abandon_sources();
      };
      // Folders that lost messages on the server may stash their files for
      // a folder that downloads them (a move by another client); those
      // first in the queue, and a folder of an item of its own waits with
      // its downloads until they stashed (Stash::wait_for_sources). No wait
      // can last: every source was taken from the queue, by a lane that
      // never waits, before any folder that waits was.
      if (lanes > 1 && folders.size() > 1) {
        std::size_t sources = 0;
        std::size_t records = 0;  // Of the sources' states.
        for (std::size_t k = 0; k < items.size(); ++k) {
          for (std::size_t i : items[k]) {
            folders[i].stash_source = lost(i);
            folders[i].waits_for_stash = items[k].size() == 1 && !folders[i].stash_source;
            sources += folders[i].stash_source ? 1u : 0u;
            records += folders[i].stash_source ? folders[i].state->messages.size() : 0u;
          }
        }
        // The keys a source may stash under, so that a folder none of whose
        // downloads has one goes on without waiting; past a size where
        // collecting them costs more than it saves, every such folder waits.
        constexpr std::size_t k_most_source_records = 200000;
        std::optional<std::unordered_set<std::string>> keys;
        if (sources > 0 && records <= k_most_source_records) {
          keys.emplace();
          keys->reserve(records);
          for (const auto& f : folders) {
            if (f.stash_source) {
              for (const auto& [uid, rec] : f.state->messages) {
                if (!rec.key.empty()) {
                  keys->insert(rec.key);
                }
              }
            }
          }
        }
        stash.expect_sources(sources, std::move(keys));
      }
      // The lane that ran each folder's first pass: its second pass goes
      // over the same connection (below).
      std::vector<std::size_t> first_lane(folders.size(), 0);
      auto lane = [&](std::unique_ptr<imap::Client>& conn, std::size_t n) {
        try {
          // The item the lane took while its last folder's final answers
          // came in, and whose first folder's SELECT it sent ahead then.
          std::optional<std::size_t> taken;
          // Takes the next item for the lane, once: the last folder of an
          // item asks (ServerStore::last_call_follows()) when nothing more
          // of it goes to the server, so that the lane's next SELECT
          // travels in the same round trip as that folder's last answers.
          // Taking an item early changes no order: the items are taken
          // one by one from the same queue.
          auto take_ahead = [&]() -> std::optional<OpenRequest> {
            if (taken || abandon || util::stop_requested() != 0) {
              return std::nullopt;
            }
            taken = next_item++;
            if (*taken >= items.size()) {
              return std::nullopt;
            }
            return FolderSync::open_ahead(s, folders[items[*taken].front()], shared_stash);
          };
          while (!abandon) {
            std::size_t k = taken ? *taken : next_item++;
            taken.reset();
            if (k >= items.size()) {
              return;
            }
            for (std::size_t i : items[k]) {
              if (!stopping(i)) {
                first_lane[i] = n;
                if (i == items[k].back() && !s.dry_run) {
                  sync_one(conn, i, take_ahead);
                } else {
                  sync_one(conn, i);
                }
              }
              if (s.progress != nullptr) {
                s.progress->folder_done();
              }
              // A source that failed, was skipped or stopped before it
              // stashed settles here.
              if (folders[i].stash_source) {
                folders[i].stash_source = false;
                stash.source_settled();
              }
            }
          }
        } catch (...) {
          fail_run(std::current_exception());
        }
      };
      if (lanes > 1) {
        ROAM_INFO(s.name << ": " << busy_folders << " folders over " << lanes << " connections");
      }
      if (s.progress != nullptr) {
        std::size_t planned = 0;
        for (const auto& item : items) {
          planned += item.size();
        }
        s.progress->folders_planned(planned);
      }
      // The extra connections opened during phase 1 serve as lanes 1..; a
      // connection beyond `lanes` (folders tied by a move made fewer items
      // than folders) logs out without work.
      extra.release(lanes, lane, fail_run);
      lane(client, 0);
      extra.join();
      if (failure) {
        std::rethrow_exception(failure);
      }
      bool stopped = util::stop_requested() != 0;
      if (stopped) {
        again.clear();
      }
      // Folders whose first pass deferred an earlier upload (see
      // FolderEntry::deferred) decide it now, after every folder's
      // downloads.
      for (std::size_t i = 0; i < folders.size(); ++i) {
        if (folders[i].deferred && std::find(again.begin(), again.end(), i) == again.end()) {
          again.push_back(i);
        }
      }
      // Folders whose moves waited for their targets' first pass go first,
      // so that the targets' second passes find the moved copies.
      std::stable_partition(again.begin(), again.end(),
                            [&](std::size_t i) { return !folders[i].waiting_moves.empty(); });
      for (std::size_t i = 0; i < folders.size(); ++i) {
        if (!folders[i].waiting_moves.empty() &&
            std::find(again.begin(), again.end(), i) == again.end()) {
          again.insert(again.begin(), i);
        }
      }
      for (std::size_t i : again) {
        if (!reports[i].error.empty() || s.dry_run) {
          continue;
        }
        if (util::stop_requested() != 0) {
          report.stopped_by = util::stop_requested();
          break;
        }
        FolderEntry& f = folders[i];
        f.second_pass = true;
        f.moved_in = f.held;
        // The first pass made this folder's own moves already, except those
        // that waited for their target's first pass.
        std::erase_if(f.moved_out,
                      [&](const auto& m) { return f.waiting_moves.count(m.first) == 0; });
        std::erase_if(f.move_names,
                      [&](const auto& m) { return f.waiting_moves.count(m.first) == 0; });
        f.waiting_moves.clear();
        try {
          load_folder(s, f, nullptr);
          f.status.reset();
          // The moves from the other folders journaled their target UIDs
          // here ([COPYUID]); adopt them before the merge.
          recover_journal(s, f, reports[i], true);
        } catch (const Error& e) {
          if (e.scope() >= Scope::Account) {
            throw;
          }
          reports[i].error = e.what();
          f.failed = true;
          stash.folder_failed();
          continue;
        }
        // In the session of the folder's first pass, which its uploads
        // went through: a server may hide a message from the session that
        // appended it (Courier), and the second pass's reading of what it
        // lists counts on seeing what that session sees.
        std::unique_ptr<imap::Client>& conn = first_lane[i] == 0 || !extra.connection(first_lane[i])
                                                  ? client
                                                  : extra.connection(first_lane[i]);
        sync_one(conn, i);
      }
    } catch (...) {
      for (auto& r : reports) {
        report.folders.push_back(without_repeats(std::move(r)));
      }
      throw;
    }
    for (auto& r : reports) {
      report.folders.push_back(without_repeats(std::move(r)));
    }
    if (!s.dry_run) {
      save_summary(summary_path, summary, folders);
    }
    extra.logout();
    if (client->usable()) {
      client->logout();
    }
  } catch (const Error& e) {
    if (e.scope() >= Scope::Usage) {
      throw;
    }
    bool said = std::any_of(report.folders.begin(), report.folders.end(),
                            [&](const FolderReport& f) { return f.error == e.what(); });
    report.error = said ? "stopped after this error" : e.what();
  }
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return report;
}

std::unique_ptr<imap::Client> open_session(const AccountSettings& s) {
  return connect_account(s);
}

std::vector<ListedFolder> list_account(const AccountSettings& s) {
  auto client = connect_account(s);
  auto out = list_account(s, *client);
  client->logout();
  return out;
}

std::vector<ListedFolder> list_account(const AccountSettings& s, imap::Client& client) {
  std::vector<std::string> notices;
  imap::Client::Listing listing = list_folders(s, client, {}, {});
  const FolderNames names = folder_names_for(s, listing, notices);
  for (const auto& notice : notices) {
    ROAM_WARN(notice);
  }
  std::vector<ListedFolder> out;
  for (const auto& lm : listing.mailboxes) {
    ListedFolder f;
    // A folder without a local name (outside the personal namespace) is
    // shown under the server's name, never selected.
    std::optional<std::string> local = names.local_name(lm.list.mailbox);
    f.name = local ? *local : decode_mailbox_name(lm.list.mailbox);
    f.mailbox = lm.list.mailbox;
    f.mailbox = lm.list.mailbox;
    f.delimiter = lm.list.delimiter;
    f.attributes = lm.list.attributes;
    f.selected = local && !has_attribute(lm.list, "\\NoSelect") &&
                 (!s.select_folder || s.select_folder(f.name, f.delimiter));
    out.push_back(std::move(f));
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
  return out;
}

}  // namespace roam::sync
