#include "sync/account.hpp"

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

bool AccountReport::ok() const {
  return error.empty() && std::all_of(folders.begin(), folders.end(), [](const FolderReport& f) {
           return f.error.empty() && f.problems.empty();
         });
}

namespace {

// Opens an authenticated session as the settings say.
std::unique_ptr<imap::Client> connect_account(const AccountSettings& s) {
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
                         std::chrono::duration_cast<std::chrono::milliseconds>(s.timeout));
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
  // Capabilities may differ after login; ask again unless the login's OK
  // already told us.
  client->refresh_capabilities();
  return client;
}

std::string decode_name(const std::string& wire) {
  try {
    return imap::utf7_decode(wire);
  } catch (const std::exception&) {
    // A name that is not valid modified UTF-7 is used as sent; the layout
    // validation decides whether it can become a path.
    return wire;
  }
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

// What Client::move reports: the (source, target) UID pairs and whether the
// source copies are gone.
template <typename R>
const std::vector<std::pair<Uid, Uid>>& pairs_of(const R& r) {
  if constexpr (requires { r.pairs; }) {
    return r.pairs;
  } else {
    return r;
  }
}
template <typename R>
bool expunged_of(const R& r) {
  if constexpr (requires { r.expunged; }) {
    return r.expunged;
  } else {
    return true;
  }
}

// Adapts a Maildir delivery to the IMAP reader's literal sink. A local
// failure (tmp/ not writable, a full disk) must not reach the IMAP reader:
// the server is still sending the body, and an exception there would leave
// the rest of it to be read as responses to the next command. So the sink
// remembers the first error, swallows the remaining octets, and the caller
// reports the error once the FETCH is complete.
class DeliverySink : public imap::LiteralSink {
 public:
  explicit DeliverySink(maildir::Folder& folder) {
    try {
      m_delivery.emplace(folder.begin_delivery());
    } catch (const Error& e) {
      remember(e);
    }
  }

  void write(const char* data, std::size_t size) override {
    m_received += size;
    capture_header(data, size);
    if (!m_delivery) {
      return;
    }
    try {
      m_delivery->write(data, size);
    } catch (const Error& e) {
      remember(e);
      m_delivery.reset();  // Its destructor removes the file from tmp/.
    }
  }

  bool failed() const { return !m_delivery; }
  const std::string& error() const { return m_error; }
  maildir::Delivery& delivery() { return *m_delivery; }
  std::uint64_t bytes_received() const { return m_received; }

  // The content key of the octets received (the server sends CRLF line
  // ends, so their count is the CRLF size).
  ContentKey key() const {
    ContentKey key;
    key.crlf_size = m_received;
    for (char c : m_header) {
      if (c != '\r') {
        key.header += c;
      }
    }
    return key;
  }

 private:
  void remember(const Error& e) {
    if (e.scope() == Scope::Fatal) {
      throw;
    }
    if (m_error.empty()) {
      m_error = e.what();
    }
  }

  // Keeps the header block (up to and including the empty line that ends
  // it) for the content key; bounded, as a header can be endless.
  void capture_header(const char* data, std::size_t size) {
    if (m_header_done) {
      return;
    }
    constexpr std::size_t k_max_header = 1u << 20;
    for (std::size_t i = 0; i < size && !m_header_done; ++i) {
      m_header += data[i];
      std::size_t n = m_header.size();
      if ((n >= 4 && m_header.compare(n - 4, 4, "\r\n\r\n") == 0) ||
          (n >= 2 && m_header.compare(n - 2, 2, "\n\n") == 0) || n >= k_max_header) {
        m_header_done = true;
      }
    }
  }

  std::optional<maildir::Delivery> m_delivery;
  std::string m_error;
  std::uint64_t m_received = 0;
  std::string m_header;
  bool m_header_done = false;
};

// The content key of a local file (see ContentKey): its size once every
// bare LF became CRLF, and its header block with LF line ends.
ContentKey local_content_key(const std::string& content) {
  ContentKey key;
  std::uint64_t crs = 0;
  for (std::size_t i = 0; i < content.size(); ++i) {
    if (content[i] == '\n' && (i == 0 || content[i - 1] != '\r')) {
      ++crs;
    }
  }
  key.crlf_size = content.size() + crs;
  std::size_t end = content.find("\n\n");
  std::string_view header = end == std::string::npos ? std::string_view(content)
                                                     : std::string_view(content).substr(0, end + 2);
  for (char c : header) {
    if (c != '\r') {
      key.header += c;
    }
  }
  return key;
}

ContentKey server_content_key(const imap::HeaderInfo& h) {
  ContentKey key;
  key.crlf_size = h.rfc822_size;
  for (char c : h.header) {
    if (c != '\r') {
      key.header += c;
    }
  }
  return key;
}

// Why a local file cannot be uploaded, or empty if it can: RFC 5322 needs a
// header block, and an empty file is more likely a half-written one.
std::string unfit_for_upload(const std::string& content) {
  if (content.empty()) {
    return "the file is empty";
  }
  std::size_t colon = content.find(':');
  std::size_t line_end = content.find('\n');
  if (colon == std::string::npos || (line_end != std::string::npos && colon > line_end) ||
      content[0] == '\n' || content[0] == ' ' || content[0] == '\t') {
    return "the file has no header block (it does not start with a \"Name: value\" line)";
  }
  return {};
}

// Streams a file to an APPEND literal with every bare LF sent as CRLF.
void write_crlf(const fs::path& path, imap::LiteralSink& sink) {
  util::Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) {
    throw Error(Scope::Account, util::errno_message("cannot open " + path.string()));
  }
  char in[65536];
  std::string out;
  char last = '\0';
  for (;;) {
    ssize_t n = ::read(fd.get(), in, sizeof in);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      // Bytes were already promised to the server; the session cannot go on.
      throw Error(Scope::Account, util::errno_message("cannot read " + path.string()));
    }
    if (n == 0) {
      break;
    }
    out.clear();
    for (ssize_t i = 0; i < n; ++i) {
      char c = in[i];
      if (c == '\n' && last != '\r') {
        out += '\r';
      }
      out += c;
      last = c;
    }
    sink.write(out.data(), out.size());
  }
}

// A folder as this run sees it: its names on both sides and its paths.
struct FolderEntry {
  std::string name;  // UTF-8, with the server's delimiter.
  std::string wire;  // The server's name (modified UTF-7).
  std::optional<char> delimiter;
  std::optional<imap::StatusData> status;
  fs::path path;
  fs::path state_path;
  std::optional<state::FolderState> state;
  maildir::ScanResult scan;
  bool local_exists = false;
  bool on_server = true;
  std::map<std::string, std::string> moved_out;
  std::set<std::string> moved_in;
  // Messages moved out under a new name (a mail reader that renames on
  // moves): UID here -> stable name in the target folder.
  std::map<Uid, std::string> move_names;
  // True when records were renamed in memory (recognise_renames): the
  // folder must not be skipped, so that the new names are committed.
  bool renamed = false;
};

void recover_journal(const AccountSettings& s, FolderEntry& f, FolderReport& report);

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

  void add(const std::string& key, fs::path path) { m_by_key[key].push_back(std::move(path)); }
  bool empty() const { return m_by_key.empty(); }

  // Takes a stashed file with this content key, if there is one.
  std::optional<fs::path> take(const std::string& key) {
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
  std::map<std::string, std::vector<fs::path>> m_by_key;
};

// Everything one folder's sync works with.
class FolderSync {
 public:
  FolderSync(const AccountSettings& settings, imap::Client& client, FolderEntry& folder,
             FolderReport& report, const std::map<std::string, std::string>& wire_names,
             std::vector<FolderEntry>& all, Stash* stash)
      : m_all(all),
        m_stash(stash),
        m_s(settings),
        m_client(client),
        m_f(folder),
        m_report(report),
        m_wire_names(wire_names),
        m_journal_path(state::journal_file_for(folder.state_path)),
        m_folder(folder.path) {}

  void run();

 private:
  bool unchanged() const;
  bool local_matches_state() const;
  void add_server_keys(FolderInput& in, const std::vector<Uid>& uids);
  std::size_t carry_over(const state::FolderState& old, const FolderInput& in);
  imap::ModSeq modseq_after_writes(const Plan& plan, const imap::MailboxInfo& info);
  void resolve_pending(FolderInput& in, std::map<Uid, std::string>& message_ids, bool any_uid);
  void add_local_keys(FolderInput& in, const std::vector<std::string>& names);
  void print_plan(const Plan& plan);
  void apply_local(const Plan& plan);
  void apply_server(const Plan& plan, const imap::MailboxInfo& info);
  std::size_t remerge(const std::set<Uid>& modified);
  void record_moved(FolderEntry* to, std::uint32_t validity,
                    const std::vector<std::pair<Uid, Uid>>& pairs);
  void upload(const std::vector<Upload>& uploads, const imap::MailboxInfo& info);
  void download(const std::vector<Download>& downloads, const std::map<Uid, ContentKey>& keys);
  void commit_state();
  void fail(Uid uid) { m_failed.insert(uid); }

  std::vector<FolderEntry>& m_all;  // Every folder of the run (move targets).
  Stash* m_stash;                   // Null when the account has one folder.
  const AccountSettings& m_s;
  imap::Client& m_client;
  FolderEntry& m_f;
  FolderReport& m_report;
  const std::map<std::string, std::string>& m_wire_names;
  fs::path m_journal_path;
  maildir::Folder m_folder;
  state::FolderState m_base;  // The base of the merge (the state, under this UIDVALIDITY).
  state::FolderState m_next;  // The state being built by this run.
  std::map<std::string, maildir::Entry> m_entries;  // Local files by stable name.
  std::set<Uid> m_failed;  // Messages whose actions failed: their records stay as they were.
  std::map<Uid, state::MessageRecord> m_overrides;  // Records settled by a re-merge.
  bool m_complete = true;  // False when anything was left for the next run.
  // The first local error while bodies were streamed (tmp/ not writable, a
  // full disk); the folder fails with it once the state is committed.
  std::string m_download_error;
};

bool FolderSync::local_matches_state() const {
  // True when the Maildir holds exactly the files the state records, with
  // the recorded flags: then nothing local needs to travel.
  if (!m_f.state || m_f.scan.entries.size() != m_f.state->messages.size() ||
      !m_f.moved_in.empty() || !m_f.moved_out.empty()) {
    return false;
  }
  state::NameIndex names = state::build_name_index(*m_f.state);
  for (const auto& e : m_f.scan.entries) {
    auto it = names.find(e.stable_name);
    if (it == names.end()) {
      return false;
    }
    const auto& rec = m_f.state->messages.at(it->second);
    if (maildir::known_letters(e.letters) != letters_of(rec.flags)) {
      return false;
    }
  }
  return true;
}

bool FolderSync::unchanged() const {
  // Without CONDSTORE a flag change leaves no trace in STATUS, so only a
  // known, unchanged HIGHESTMODSEQ proves that nothing changed on the
  // server. An unchanged UIDNEXT rules out new messages, and then an
  // unchanged count rules out expunges. Local changes matter unless the
  // mode is pull, where nothing goes up.
  if (!m_f.state || !m_f.status || !m_f.state->pending_uploads.empty() || m_f.renamed) {
    return false;
  }
  const imap::StatusData& st = *m_f.status;
  bool server_same = st.uidvalidity && st.uidnext && st.highestmodseq && st.messages &&
                     *st.uidvalidity == m_f.state->uidvalidity &&
                     *st.uidnext == m_f.state->uidnext && *st.highestmodseq != 0 &&
                     *st.highestmodseq == m_f.state->highestmodseq &&
                     *st.messages == m_f.state->messages.size();
  if (!server_same) {
    return false;
  }
  return m_s.policy.direction == Direction::Pull || local_matches_state();
}

void FolderSync::run() {
  if (!m_s.dry_run && !m_f.state_path.empty() && fs::exists(m_journal_path)) {
    // A move from a folder synced earlier in this run journaled the target
    // UIDs here ([COPYUID]); adopt them before anything else.
    recover_journal(m_s, m_f, m_report);
  }
  if (!m_s.dry_run && unchanged()) {
    m_report.skipped_unchanged = true;
    return;
  }
  bool pushes = m_s.policy.direction != Direction::Pull;
  if (!m_f.on_server) {
    if (!pushes || !m_s.create_folders) {
      return;
    }
    if (m_s.dry_run) {
      std::printf("%s: would create the folder on the server and upload %zu message(s)\n",
                  m_f.name.c_str(), m_f.scan.entries.size());
      return;
    }
    m_client.create(m_f.wire);
    count_step();
    m_report.notices.push_back("created on the server");
    m_f.on_server = true;
  }
  bool local_missing = !m_f.local_exists && m_f.state && !m_f.state->messages.empty();
  if (local_missing && pushes && !m_s.policy.allow_mass_delete) {
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
        maildir::folder_role(maildir::split_folder_name(m_f.name, m_f.delimiter, m_s.layout));
    m_folder.ensure_exists(m_s.layout, role);
    m_folder.clean_tmp();
  }

  imap::MailboxInfo info =
      m_client.open(m_f.wire, pushes ? imap::OpenMode::Select : imap::OpenMode::Examine);
  LocalFolder local;
  m_entries.clear();
  for (const auto& e : m_f.scan.entries) {
    if (m_entries.emplace(e.stable_name, e).second) {
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
  in.local = local;
  in.moved_out = m_f.moved_out;
  in.moved_in = m_f.moved_in;
  in.local_folder_missing = local_missing;
  in.server.uidvalidity = info.uidvalidity;
  in.server.uidnext = info.uidnext;
  in.server.highestmodseq = info.highestmodseq;
  std::map<Uid, std::string> message_ids;  // Of the messages whose headers were fetched.
  if (same_validity || (local.messages.empty() && !has_pending)) {
    for (auto& m : m_client.fetch_flags()) {
      in.server.messages.push_back({m.uid, normalize_server_flags(std::move(m.flags))});
    }
  } else {
    // The old UIDs mean nothing (or there never were any) but the Maildir
    // holds files: match everything by content, so nothing is copied twice.
    for (const auto& h : m_client.fetch_all_headers()) {
      in.server.messages.push_back({h.uid, normalize_server_flags(h.flags)});
      in.server_keys[h.uid] = server_content_key(h);
      message_ids[h.uid] = message_id_of(h.header);
    }
    std::sort(in.server.messages.begin(), in.server.messages.end(),
              [](const auto& a, const auto& b) { return a.uid < b.uid; });
    std::vector<std::string> names;
    for (const auto& m : local.messages) {
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
  resolve_pending(in, message_ids, !same_validity);
  in.state = &m_base;
  for (const auto& p : m_base.pending_uploads) {
    in.pending_uploads.insert(p.name);
  }

  Plan plan = plan_folder(in, policy);
  if (plan.wants_content_keys() && in.server_keys.empty()) {
    // New messages on both sides: some may be the same message (an upload
    // whose reply was lost, a move). Look before copying anything.
    std::vector<Uid> uids;
    for (const auto& d : plan.downloads) {
      uids.push_back(d.uid);
    }
    std::vector<std::string> names = plan.moved_in_unpaired;
    for (const auto& u : plan.uploads) {
      names.push_back(u.name);
    }
    add_server_keys(in, uids);
    add_local_keys(in, names);
    plan = plan_folder(in, policy);
  }
  m_report.notices.insert(m_report.notices.end(), plan.notices.begin(), plan.notices.end());

  if (m_s.dry_run) {
    print_plan(plan);
    return;
  }
  m_next = m_base;
  // Until the run completes, the counters must not let the next run skip
  // this folder.
  m_next.uidnext = 0;
  m_next.highestmodseq = 0;

  apply_local(plan);
  apply_server(plan, info);
  upload(plan.uploads, info);
  // Records for the messages whose actions all succeeded.
  for (const auto& u : plan.updates) {
    if (m_failed.count(u.record.uid) == 0) {
      m_next.messages[u.record.uid] = u.record;
    } else {
      m_complete = false;
    }
  }
  for (const auto& [uid, record] : m_overrides) {
    m_next.messages[uid] = record;
  }
  for (const auto& d : plan.drops) {
    m_next.messages.erase(d.uid);
  }
  if (!same_validity && !plan.downloads.empty()) {
    // The journal's intents must refer to a state on disk with the new
    // UIDVALIDITY.
    commit_state();
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
  download(plan.downloads, in.server_keys);
  if (m_complete && plan.refused.empty()) {
    m_next.uidnext = info.uidnext;
    m_next.highestmodseq = modseq_after_writes(plan, info);
  }
  commit_state();
  if (!m_download_error.empty()) {
    throw Error(Scope::Folder, m_download_error +
                                   "; the messages not yet downloaded follow on "
                                   "the next run");
  }
  if (!plan.refused.empty()) {
    throw Error(Scope::Folder, plan.refused);
  }
}

// A server message that may be the copy of an upload whose UID is not
// known: its content key and Message-ID.
struct Candidate {
  std::string key;
  std::string message_id;
  std::uint64_t size = 0;
  bool taken = false;
};

// Finds the server copy of `upload` among `candidates`, one to one: by
// content key, else by Message-ID and size (Cyrus rewrites 8-bit header
// bytes on APPEND, which changes the key but neither of those).
std::optional<Uid> match_upload(const state::PendingUpload& upload,
                                std::map<Uid, Candidate>& candidates) {
  for (auto& [uid, c] : candidates) {
    if (!c.taken && c.key == upload.key) {
      c.taken = true;
      return uid;
    }
  }
  if (upload.message_id.empty()) {
    return std::nullopt;
  }
  for (auto& [uid, c] : candidates) {
    if (!c.taken && c.message_id == upload.message_id && c.size == upload.size) {
      c.taken = true;
      return uid;
    }
  }
  return std::nullopt;
}

std::size_t FolderSync::carry_over(const state::FolderState& old, const FolderInput& in) {
  std::map<std::string, std::vector<Uid>> by_key;
  for (const auto& [uid, key] : in.server_keys) {
    by_key[content_key_text(key)].push_back(uid);
  }
  std::map<Uid, const ServerMessage*> listed;
  for (const auto& m : in.server.messages) {
    listed.emplace(m.uid, &m);
  }
  std::size_t carried = 0;
  for (const auto& [old_uid, rec] : old.messages) {
    auto it = rec.key.empty() ? by_key.end() : by_key.find(rec.key);
    if (it == by_key.end() || it->second.empty()) {
      continue;
    }
    Uid uid = it->second.front();
    it->second.erase(it->second.begin());
    if (listed.count(uid) == 0) {
      continue;
    }
    state::MessageRecord moved = rec;
    moved.uid = uid;
    m_base.messages.emplace(uid, std::move(moved));
    ++carried;
  }
  return carried;
}

void FolderSync::resolve_pending(FolderInput& in, std::map<Uid, std::string>& message_ids,
                                 bool any_uid) {
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
    for (const auto& h : m_client.fetch_headers(need_headers)) {
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
  for (auto& p : m_base.pending_uploads) {
    std::optional<Uid> uid = match_upload(p, candidates);
    if (!uid) {
      ++void_intents;
      continue;
    }
    // The record's flags are the ones it was appended with: what both
    // sides agreed on at that moment. Changes since then merge as usual.
    m_base.messages[*uid] = state::MessageRecord{*uid, p.name, p.flags, p.key};
    ++found;
  }
  m_base.pending_uploads.clear();
  if (found > 0) {
    m_report.notices.push_back(std::to_string(found) +
                               " earlier upload(s) found on the server and recorded");
  }
  if (void_intents > 0) {
    m_report.notices.push_back(std::to_string(void_intents) +
                               " upload(s) of an interrupted run never reached the server; "
                               "they are uploaded now");
  }
}

imap::ModSeq FolderSync::modseq_after_writes(const Plan& plan, const imap::MailboxInfo& info) {
  // roam's own STOREs raise HIGHESTMODSEQ. Recording the value from before
  // them would make the next run see a change that is its own and list the
  // folder again. The value after them is safe to record only if every
  // change since the listing is one of ours, with the flags roam set:
  // one CHANGEDSINCE fetch shows that. Expunges and appends give no such
  // proof (an expunge raises the value without a message to show), so
  // after those the old value stays and the next run lists the folder.
  if (info.highestmodseq == 0 || plan.server_flags.empty() || !plan.server_deletes.empty() ||
      !plan.moves.empty() || m_report.uploaded > 0) {
    return info.highestmodseq;
  }
  std::set<Uid> stored;
  for (const auto& f : plan.server_flags) {
    stored.insert(f.uid);
  }
  imap::ModSeq highest = info.highestmodseq;
  for (const auto& m : m_client.fetch_flags(info.highestmodseq)) {
    auto rec = m_next.messages.find(m.uid);
    if (stored.count(m.uid) == 0 || rec == m_next.messages.end() ||
        normalize_server_flags(m.flags) != rec->second.flags || m.modseq == 0) {
      return info.highestmodseq;
    }
    highest = std::max(highest, m.modseq);
  }
  return highest;
}

void FolderSync::add_server_keys(FolderInput& in, const std::vector<Uid>& uids) {
  if (uids.empty()) {
    return;
  }
  for (const auto& h : m_client.fetch_headers(uids)) {
    in.server_keys[h.uid] = server_content_key(h);
  }
}

void FolderSync::add_local_keys(FolderInput& in, const std::vector<std::string>& names) {
  for (const auto& name : names) {
    auto it = m_entries.find(name);
    if (it == m_entries.end()) {
      continue;
    }
    try {
      in.local_keys[name] = local_content_key(util::read_file(it->second.path));
    } catch (const Error& e) {
      // Unreadable: it cannot be matched (nor uploaded, which says why).
      ROAM_DEBUG(util::k_cat_sync, e.what());
    }
  }
}

void FolderSync::print_plan(const Plan& plan) {
  // The report counts what would be done, so that the run's summary
  // agrees with the lines below.
  m_report.downloaded += plan.downloads.size();
  m_report.uploaded += plan.uploads.size();
  m_report.flags_changed += plan.local_flags.size();
  m_report.server_flags_changed += plan.server_flags.size();
  m_report.deleted += plan.local_deletes.size();
  m_report.server_deleted += plan.server_deletes.size();
  m_report.moved += plan.moves.size();
  std::printf(
      "%s: would download %zu, upload %zu, change flags of %zu locally and %zu on the server, "
      "delete %zu locally and %zu on the server, move %zu\n",
      m_f.name.c_str(), plan.downloads.size(), plan.uploads.size(), plan.local_flags.size(),
      plan.server_flags.size(), plan.local_deletes.size(), plan.server_deletes.size(),
      plan.moves.size());
  for (const auto& d : plan.downloads) {
    std::printf("  download uid %u (%s)\n", d.uid, letters_of(d.flags).c_str());
  }
  for (const auto& u : plan.uploads) {
    std::printf("  upload %s (%s)\n", u.name.c_str(), letters_of(u.flags).c_str());
  }
  for (const auto& f : plan.local_flags) {
    std::printf("  flags %s: %s -> %s\n", f.name.c_str(), f.from_letters.c_str(),
                f.to_letters.c_str());
  }
  for (const auto& f : plan.server_flags) {
    std::printf("  server flags uid %u: +%s -%s\n", f.uid, letters_of(f.add).c_str(),
                letters_of(f.remove).c_str());
  }
  for (const auto& d : plan.local_deletes) {
    std::printf("  delete %s (uid %u expunged on the server)\n", d.name.c_str(), d.uid);
  }
  for (const auto& d : plan.server_deletes) {
    std::printf("  %s uid %u on the server (deleted locally)\n",
                d.expunge ? "expunge" : "mark deleted", d.uid);
  }
  for (const auto& m : plan.moves) {
    std::printf("  move uid %u to %s\n", m.uid, m.target.c_str());
  }
  if (!plan.refused.empty()) {
    std::printf("  refused: %s\n", plan.refused.c_str());
  }
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
      renamed = m_folder.set_flags(it->second, maildir::known_letters(change.to_letters));
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
    it->second = *renamed;
    ++m_report.flags_changed;
  }
  for (const auto& del : plan.local_deletes) {
    auto it = m_entries.find(del.name);
    if (it != m_entries.end()) {
      auto rec = m_base.messages.find(del.uid);
      if (m_stash != nullptr && rec != m_base.messages.end() && !rec->second.key.empty()) {
        // Another client may have moved it to a folder synced later.
        if (std::optional<fs::path> stashed = m_folder.stash(it->second)) {
          m_stash->add(rec->second.key, *stashed);
        }
      }
      m_folder.remove(it->second);
      m_entries.erase(it);
      touched = true;
      count_step();
    }
    m_next.messages.erase(del.uid);
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
  std::vector<Uid> modified;
  for (const auto& [flags, uids] : adds) {
    m_client.store_flags(uids, imap::StoreOp::Add, flags, since, &modified);
    count_step();
  }
  std::set<Uid> failed_add(modified.begin(), modified.end());
  for (const auto& [key, uids] : removes) {
    std::vector<Uid> todo;
    for (Uid uid : uids) {
      if (failed_add.count(uid) == 0) {
        todo.push_back(uid);
      }
    }
    if (todo.empty()) {
      continue;
    }
    m_client.store_flags(todo, imap::StoreOp::Remove, key.first, key.second ? 0 : since, &modified);
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
  if (!mark.empty()) {
    m_client.store_flags(mark, imap::StoreOp::Add, {"\\Deleted"}, 0, nullptr);
    count_step();
  }
  if (!expunge.empty()) {
    try {
      m_client.uid_expunge(expunge);
      count_step();
      for (Uid uid : expunge) {
        m_next.messages.erase(uid);
      }
      m_report.server_deleted += expunge.size();
    } catch (const imap::CommandFailed&) {
      throw;
    } catch (const Error& e) {
      if (e.scope() != Scope::Folder) {
        throw;
      }
      m_report.notices.push_back(std::string(e.what()) + "; the messages stay marked \\Deleted");
      m_complete = false;
    }
  }

  // Moves, grouped by target folder.
  std::map<std::string, std::vector<Uid>> by_target;
  for (const auto& m : plan.moves) {
    by_target[m.target].push_back(m.uid);
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
    std::uint32_t target_validity = 0;
    if (to != nullptr && to->state) {
      target_validity = to->state->uidvalidity;
    } else if (to != nullptr && to->status && to->status->uidvalidity) {
      target_validity = static_cast<std::uint32_t>(*to->status->uidvalidity);
    }
    auto result = m_client.move(uids, wire->second, target_validity);
    count_step();
    record_moved(to, target_validity, pairs_of(result));
    if (!expunged_of(result)) {
      m_report.notices.push_back(
          "the server has neither MOVE nor UIDPLUS, and other messages in this folder are "
          "marked \\Deleted: the moved messages stay here marked \\Deleted until another "
          "client expunges the folder");
    }
    for (Uid uid : uids) {
      m_next.messages.erase(uid);
    }
    m_report.moved += uids.size();
  }
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
    auto renamed = m_f.move_names.find(from_uid);
    std::string name = renamed != m_f.move_names.end() ? renamed->second : rec->second.name;
    journal.append({{"op", "moved"},
                    {"uid", to_uid},
                    {"name", name},
                    {"flags", rec->second.flags},
                    {"key", rec->second.key}});
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
  for (const auto& m : m_client.fetch_flags_for(uids)) {
    auto rec = m_base.messages.find(m.uid);
    if (rec == m_base.messages.end() || m_entries.count(rec->second.name) == 0) {
      continue;
    }
    base.messages[m.uid] = rec->second;
    in.server.messages.push_back({m.uid, normalize_server_flags(m.flags)});
    const maildir::Entry& entry = m_entries.at(rec->second.name);
    in.local.messages.push_back({entry.stable_name, entry.letters});
    since = since == 0 ? m.modseq : std::min(since, m.modseq);
  }
  in.state = &base;
  Plan plan = plan_folder(in, m_s.policy);
  std::set<Uid> failed_again;
  for (const auto& change : plan.local_flags) {
    auto it = m_entries.find(change.name);
    auto renamed = m_folder.set_flags(it->second, maildir::known_letters(change.to_letters));
    count_step();
    if (!renamed) {
      failed_again.insert(change.uid);
      continue;
    }
    it->second = *renamed;
  }
  if (!plan.local_flags.empty()) {
    m_folder.sync_dirs();
  }
  std::vector<Uid> again;
  for (const auto& f : plan.server_flags) {
    if (!f.add.empty()) {
      m_client.store_flags({f.uid}, imap::StoreOp::Add, f.add, since, &again);
      count_step();
    }
    if (!f.remove.empty() && std::find(again.begin(), again.end(), f.uid) == again.end()) {
      m_client.store_flags({f.uid}, imap::StoreOp::Remove, f.remove, f.add.empty() ? since : 0,
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

void FolderSync::upload(const std::vector<Upload>& uploads, const imap::MailboxInfo& info) {
  if (uploads.empty()) {
    return;
  }
  // Every upload is journaled, with what identifies its server copy, before
  // the first APPEND: a run killed after an APPEND, or a server that does
  // not say which UID it gave, leaves an intent that a later run resolves
  // by finding the copy, never by uploading the file again.
  struct Item {
    const Upload* upload;
    const maildir::Entry* entry;
    state::PendingUpload intent;
    std::optional<std::chrono::sys_seconds> date;
  };
  std::vector<Item> items;
  auto journal = state::Journal::open(m_journal_path, {{"uidvalidity", info.uidvalidity}});
  for (const auto& u : uploads) {
    auto it = m_entries.find(u.name);
    if (it == m_entries.end()) {
      continue;
    }
    const maildir::Entry& entry = it->second;
    std::string content;
    try {
      content = util::read_file(entry.path);
    } catch (const Error& e) {
      m_report.problems.push_back(std::string(e.what()) + "; not uploaded");
      continue;
    }
    if (std::string why = unfit_for_upload(content); !why.empty()) {
      m_report.problems.push_back(entry.path.string() + ": " + why + "; not uploaded");
      continue;
    }
    ContentKey key = local_content_key(content);
    state::PendingUpload intent{u.name,        content_key_text(key), message_id_of(key.header),
                                key.crlf_size, info.uidnext,          u.flags};
    content.clear();
    content.shrink_to_fit();
    struct stat st {};
    std::optional<std::chrono::sys_seconds> date;
    if (::stat(entry.path.c_str(), &st) == 0) {
      date = std::chrono::sys_seconds(std::chrono::seconds(st.st_mtime));
    }
    journal.append({{"op", "upload"},
                    {"name", intent.name},
                    {"key", intent.key},
                    {"message_id", intent.message_id},
                    {"size", intent.size},
                    {"uidnext", intent.uidnext},
                    {"flags", intent.flags}});
    items.push_back({&u, &entry, std::move(intent), date});
  }
  if (items.empty()) {
    return;
  }
  journal.sync();
  count_step();

  std::vector<const Item*> unconfirmed;
  for (const auto& item : items) {
    std::optional<Uid> uid;
    try {
      uid = m_client.append(
          m_f.wire, item.upload->flags, item.date, item.intent.size,
          [&](imap::LiteralSink& sink) { write_crlf(item.entry->path, sink); }, info.uidvalidity);
    } catch (const imap::CommandFailed& e) {
      // The server refused it, so it has no copy: the intent is void and
      // the file is tried again on the next run.
      m_report.problems.push_back(item.entry->path.string() + ": " + e.what());
      journal.append({{"op", "upload_refused"}, {"name", item.intent.name}});
      journal.sync();
      continue;
    }
    count_step();
    ++m_report.uploaded;
    if (uid) {
      journal.append({{"op", "uploaded"}, {"uid", *uid}, {"name", item.intent.name}});
      m_next.messages[*uid] =
          state::MessageRecord{*uid, item.intent.name, item.upload->flags, item.intent.key};
    } else {
      unconfirmed.push_back(&item);
    }
  }
  journal.sync();
  if (unconfirmed.empty()) {
    return;
  }
  // The server did not say which UIDs it gave (no UIDPLUS): look for the
  // new messages from the UIDNEXT seen before the uploads on.
  std::vector<Uid> fresh;
  for (const auto& m : m_client.fetch_flags()) {
    if (m.uid >= info.uidnext && m_next.messages.count(m.uid) == 0) {
      fresh.push_back(m.uid);
    }
  }
  std::map<Uid, Candidate> candidates;
  for (const auto& h : m_client.fetch_headers(fresh)) {
    ContentKey key = server_content_key(h);
    candidates[h.uid] = Candidate{content_key_text(key), message_id_of(h.header), key.crlf_size};
  }
  for (const Item* item : unconfirmed) {
    std::optional<Uid> uid = match_upload(item->intent, candidates);
    if (!uid) {
      // Not visible yet (Courier shows a message appended in this session
      // only to later ones); the state keeps the intent.
      m_next.pending_uploads.push_back(item->intent);
      m_complete = false;
      continue;
    }
    m_next.messages[*uid] =
        state::MessageRecord{*uid, item->intent.name, item->upload->flags, item->intent.key};
  }
}

void FolderSync::download(const std::vector<Download>& downloads,
                          const std::map<Uid, ContentKey>& keys) {
  if (downloads.empty()) {
    return;
  }
  // Choose every file name first and make the choices durable: a run killed
  // after a file reached the Maildir finds it again by this name.
  std::unordered_map<Uid, std::pair<std::string, const Download*>> wanted;
  std::vector<Uid> uids;
  {
    auto journal = state::Journal::open(m_journal_path, {{"uidvalidity", m_next.uidvalidity}});
    for (const auto& d : downloads) {
      std::string name = maildir::new_stable_name();
      journal.append({{"op", "download"}, {"uid", d.uid}, {"name", name}});
      wanted.emplace(d.uid, std::make_pair(name, &d));
      uids.push_back(d.uid);
    }
    journal.sync();
    count_step();
  }

  // Messages another client moved here from a folder whose files were
  // stashed in this run: the file moves over, the body is not fetched.
  std::size_t adopted = 0;
  if (m_stash != nullptr && !m_stash->empty()) {
    std::vector<Uid> rest;
    for (Uid uid : uids) {
      auto key = keys.find(uid);
      std::optional<fs::path> stashed;
      if (key != keys.end()) {
        stashed = m_stash->take(content_key_text(key->second));
      }
      const auto& [name, d] = wanted.at(uid);
      if (!stashed || !m_folder.adopt(*stashed, name, letters_of(d->flags))) {
        rest.push_back(uid);
        continue;
      }
      count_step();
      m_next.messages[uid] =
          state::MessageRecord{uid, name, d->flags, content_key_text(key->second)};
      wanted.erase(uid);
      ++adopted;
    }
    uids = std::move(rest);
    if (adopted > 0) {
      m_folder.sync_dirs();
      m_report.notices.push_back(std::to_string(adopted) +
                                 " message(s) moved here on the server were moved locally, not "
                                 "downloaded again");
    }
  }

  // A finished message waits in tmp/ until its batch is complete; then one
  // flush of the file system makes the whole batch durable before any of
  // it is renamed into place (instead of one fsync per message).
  struct Finished {
    maildir::Delivery delivery;
    std::string name;
    std::string letters;
    state::MessageRecord record;
  };
  std::optional<DeliverySink> pending;
  std::vector<Finished> batch;
  auto sink_for = [&]() -> imap::LiteralSink* {
    pending.emplace(m_folder);
    return &*pending;
  };
  auto done = [&](const imap::FetchData& f) {
    auto it = wanted.find(*f.uid);
    const imap::BodySection* body = nullptr;
    for (const auto& s : f.sections) {
      if (s.section.empty()) {
        body = &s;
      }
    }
    if (it == wanted.end() || body == nullptr) {
      pending.reset();  // A body nobody asked for: drop it.
      return;
    }
    if (body->nil) {
      m_report.notices.push_back("the server has no body for uid " + std::to_string(*f.uid) +
                                 "; skipped");
      m_complete = false;
      pending.reset();
      return;
    }
    if (!body->streamed) {
      // Small bodies may come as quoted strings, which never reach a sink.
      pending.emplace(m_folder);
      pending->write(body->data.data(), body->data.size());
    }
    if (!pending) {
      throw Error(Scope::Fatal, "internal error: no delivery for uid " + std::to_string(*f.uid));
    }
    if (pending->failed()) {
      // The rest of the batch is still read from the server; the folder
      // fails once the command is complete (see DeliverySink).
      if (m_download_error.empty()) {
        m_download_error = pending->error();
      }
      m_complete = false;
      pending.reset();
      return;
    }
    const Download& d = *it->second.second;
    std::optional<std::chrono::sys_seconds> mtime;
    if (f.internaldate) {
      mtime = imap::parse_internaldate(*f.internaldate);
    }
    m_report.bytes += pending->bytes_received();
    try {
      pending->delivery().finish_deferred(mtime);
    } catch (const Error& e) {
      if (e.scope() == Scope::Fatal) {
        throw;
      }
      if (m_download_error.empty()) {
        m_download_error = e.what();
      }
      m_complete = false;
      pending.reset();
      return;
    }
    batch.push_back(
        {std::move(pending->delivery()), it->second.first, letters_of(d.flags),
         state::MessageRecord{d.uid, it->second.first, d.flags, content_key_text(pending->key())}});
    pending.reset();
    wanted.erase(it);
  };
  auto after_batch = [&]() {
    if (batch.empty()) {
      return;
    }
    m_folder.sync_data();
    for (auto& f : batch) {
      f.delivery.commit(f.name, f.letters);
      count_step();
    }
    m_folder.sync_dirs();
    for (auto& f : batch) {
      m_next.messages[f.record.uid] = std::move(f.record);
      ++m_report.downloaded;
    }
    batch.clear();
  };
  m_client.fetch_bodies(uids, sink_for, done, after_batch);
  after_batch();
  if (!wanted.empty()) {
    // Expunged between the listing and the fetch; the next run will see it.
    m_complete = false;
  }
}

void FolderSync::commit_state() {
  state::save_folder_state(m_f.state_path, m_next);
  count_step();
  state::Journal::remove(m_journal_path);
}

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

// A file that vanished and an unknown file with the same content that
// appeared are one message that a mail reader renamed (mu4e renames files
// when it moves them or changes their flags; so do many scripts). In the
// same folder its record takes the new name, so the next merge sees a flag
// change at most; in another folder it becomes a server move. Without this
// the message would be deleted and uploaded again: its UID and its
// server-only keywords lost, and twice on the server if the deletion is held
// back. Records without a content key (written by format 1) cannot be
// recognised this way.
void recognise_renames(const AccountSettings& s, std::vector<FolderEntry>& folders,
                       const std::vector<bool>& usable) {
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
    std::set<std::string> here;
    for (const auto& e : folders[i].scan.entries) {
      here.insert(e.stable_name);
    }
    for (const auto& [uid, rec] : folders[i].state->messages) {
      if (here.count(rec.name) == 0 && folders[i].moved_out.count(rec.name) == 0 &&
          !rec.key.empty()) {
        vanished[rec.key].push_back({i, uid});
        vanished_names.insert(rec.name);
      }
    }
  }
  if (vanished.empty()) {
    return;
  }
  bool pushes = s.policy.direction != Direction::Pull;
  for (std::size_t i = 0; i < folders.size(); ++i) {
    FolderEntry& f = folders[i];
    if (!usable[i] || !f.local_exists) {
      continue;
    }
    state::NameIndex names;
    std::set<std::string> pending;
    if (f.state) {
      names = state::build_name_index(*f.state);
      for (const auto& p : f.state->pending_uploads) {
        pending.insert(p.name);
      }
    }
    for (const auto& e : f.scan.entries) {
      if (names.count(e.stable_name) != 0 || pending.count(e.stable_name) != 0 ||
          f.moved_in.count(e.stable_name) != 0 || vanished_names.count(e.stable_name) != 0) {
        continue;
      }
      std::string key;
      try {
        key = content_key_text(local_content_key(util::read_file(e.path)));
      } catch (const Error& err) {
        ROAM_DEBUG(util::k_cat_sync, err.what());
        continue;
      }
      auto it = vanished.find(key);
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
        rec.name = e.stable_name;
        names.emplace(e.stable_name, match->uid);
        f.renamed = true;
      } else {
        from.moved_out[rec.name] = f.name;
        from.move_names[match->uid] = e.stable_name;
        f.moved_in.insert(e.stable_name);
      }
    }
  }
}

// A local folder that roam synced before and that the server no longer has.
struct VanishedFolder {
  std::string name;
  char delimiter = '/';
  fs::path state_path;
};

// A folder that vanished on the server while a new one appeared holding its
// messages was renamed there by another client (IMAP RENAME). The local
// folder and its state follow the new name, so nothing is downloaded or
// uploaded again and no message ends up in both. Any other vanished folder
// is kept locally and never re-created on the server (creating it again
// would undo a deletion, and after a rename copy every message twice); the
// notice says how to get either behaviour. Content keys decide: the new
// folder is opened read-only and its header listing compared with the
// vanished folder's records; most of its messages must be known there.
void follow_folder_renames(const AccountSettings& s, imap::Client& client,
                           const std::vector<FolderEntry>& folders,
                           const std::vector<VanishedFolder>& vanished, AccountReport& report) {
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
        for (const auto& [uid, rec] : st->messages) {
          if (!rec.key.empty()) {
            c.keys.insert(rec.key);
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
        path = maildir::folder_path(s.maildir, n.name, n.delimiter, s.layout);
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
      if (best == nullptr || best_matches * 2 <= keys.size()) {
        continue;
      }
      const VanishedFolder& v = *best->folder;
      fs::path from = maildir::folder_path(s.maildir, v.name, v.delimiter, s.layout);
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
    auto client = connect_account(s);
    std::vector<std::string> status_items = {"MESSAGES", "UIDNEXT", "UIDVALIDITY"};
    if (client->capabilities().has("CONDSTORE")) {
      status_items.push_back("HIGHESTMODSEQ");
    }
    std::vector<imap::ListedMailbox> mailboxes = client->list(status_items);

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
      std::string name = decode_name(lm.list.mailbox);
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
      maildir::LocalFolders local = maildir::list_local_folders(s.maildir, s.layout);
      for (const auto& skipped : local.skipped) {
        if (creates) {
          report.folders.push_back({});
          report.folders.back().name = skipped;
          report.folders.back().notices.push_back("local folder skipped");
        }
      }
      char delim = server_delimiter.value_or('/');
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
        FolderEntry f;
        f.name = name;
        try {
          f.wire = imap::utf7_encode(name);
        } catch (const std::exception&) {
          continue;
        }
        f.delimiter = delim;
        f.on_server = false;
        folders.push_back(std::move(f));
      }
    }
    follow_folder_renames(s, *client, folders, vanished, report);

    // Phase 1: state and Maildir of every folder, so that moves between
    // folders can be recognised before anything is deleted.
    std::vector<FolderReport> reports(folders.size());
    std::vector<bool> usable(folders.size(), false);
    std::map<std::string, std::string> wire_names;
    for (std::size_t i = 0; i < folders.size(); ++i) {
      FolderEntry& f = folders[i];
      reports[i].name = f.name;
      wire_names[f.name] = f.wire;
      try {
        f.path = maildir::folder_path(s.maildir, f.name, f.delimiter, s.layout);
        f.state_path = state::state_file_for(s.state_dir, f.name);
        f.state = state::load_folder_state_for(s.state_dir, f.name);
        maildir::Folder folder(f.path);
        f.local_exists = folder.exists();
        if (f.local_exists) {
          f.scan = folder.scan();
          for (const auto& d : f.scan.duplicates) {
            std::string paths;
            for (const auto& p : d.paths) {
              paths += " " + p.string();
            }
            reports[i].notices.push_back("two files share the name " + d.stable_name + ":" + paths +
                                         "; roam uses the first");
          }
          for (const auto& p : f.scan.invalid_names) {
            reports[i].problems.push_back(p.string() + ": not a valid Maildir file name; skipped");
          }
        }
        recover_journal(s, f, reports[i]);
        usable[i] = true;
      } catch (const Error& e) {
        if (e.scope() >= Scope::Account) {
          throw;
        }
        reports[i].error = e.what();
      }
    }
    // A file that vanished from one folder and appeared, unknown, in another
    // was moved there by the user.
    if (s.policy.direction != Direction::Pull) {
      std::map<std::string, std::size_t> unknown_at;
      for (std::size_t i = 0; i < folders.size(); ++i) {
        if (!usable[i]) {
          continue;
        }
        state::NameIndex names;
        if (folders[i].state) {
          names = state::build_name_index(*folders[i].state);
        }
        for (const auto& e : folders[i].scan.entries) {
          if (names.count(e.stable_name) == 0) {
            unknown_at.emplace(e.stable_name, i);
          }
        }
      }
      for (std::size_t i = 0; i < folders.size(); ++i) {
        if (!usable[i] || !folders[i].state) {
          continue;
        }
        std::set<std::string> here;
        for (const auto& e : folders[i].scan.entries) {
          here.insert(e.stable_name);
        }
        for (const auto& [uid, rec] : folders[i].state->messages) {
          auto it = unknown_at.find(rec.name);
          if (here.count(rec.name) == 0 && it != unknown_at.end() && it->second != i &&
              folders[it->second].on_server) {
            folders[i].moved_out[rec.name] = folders[it->second].name;
            folders[it->second].moved_in.insert(rec.name);
          }
        }
      }
    }
    recognise_renames(s, folders, usable);

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
    auto lost_messages = [&](std::size_t i) {
      const FolderEntry& f = folders[i];
      if (!f.state || !f.status || !f.status->messages || !f.status->uidnext ||
          f.state->uidnext == 0) {
        return false;
      }
      std::uint64_t given =
          *f.status->uidnext > f.state->uidnext ? *f.status->uidnext - f.state->uidnext : 0;
      return *f.status->messages < f.state->messages.size() + given;
    };
    std::stable_partition(order.begin(), order.end(), lost_messages);
    Stash stash;
    std::vector<std::size_t> again;
    for (std::size_t i = 0; i < folders.size(); ++i) {
      if (!folders[i].moved_in.empty() && usable[i]) {
        again.push_back(i);
      }
    }
    auto sync_one = [&](std::size_t i) {
      try {
        FolderSync(s, *client, folders[i], reports[i], wire_names, folders,
                   folders.size() > 1 ? &stash : nullptr)
            .run();
      } catch (const Error& e) {
        if (e.scope() >= Scope::Account) {
          reports[i].error = e.what();
          throw;
        }
        reports[i].error = e.what();
      }
    };
    try {
      for (std::size_t i : order) {
        if (usable[i]) {
          sync_one(i);
        }
      }
      for (std::size_t i : again) {
        if (!reports[i].error.empty() || s.dry_run) {
          continue;
        }
        FolderEntry& f = folders[i];
        f.moved_in.clear();
        f.state = state::load_folder_state_for(s.state_dir, f.name);
        maildir::Folder folder(f.path);
        f.local_exists = folder.exists();
        f.scan = f.local_exists ? folder.scan() : maildir::ScanResult{};
        f.status.reset();
        // The moves from the other folders journaled their target UIDs
        // here ([COPYUID]); adopt them before the merge.
        recover_journal(s, f, reports[i]);
        sync_one(i);
      }
    } catch (...) {
      for (auto& r : reports) {
        report.folders.push_back(std::move(r));
      }
      throw;
    }
    for (auto& r : reports) {
      report.folders.push_back(std::move(r));
    }
    client->logout();
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

std::vector<ListedFolder> list_account(const AccountSettings& s) {
  auto client = connect_account(s);
  std::vector<ListedFolder> out;
  for (const auto& lm : client->list()) {
    ListedFolder f;
    f.name = decode_name(lm.list.mailbox);
    f.delimiter = lm.list.delimiter;
    f.attributes = lm.list.attributes;
    f.selected = !has_attribute(lm.list, "\\NoSelect") &&
                 (!s.select_folder || s.select_folder(f.name, f.delimiter));
    out.push_back(std::move(f));
  }
  client->logout();
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
  return out;
}

}  // namespace roam::sync
