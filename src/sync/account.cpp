#include "sync/account.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <chrono>
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

bool AccountReport::ok() const {
  return error.empty() && std::all_of(folders.begin(), folders.end(),
                                      [](const FolderReport& f) { return f.error.empty(); });
}

namespace {

bool is_loopback(const std::string& host) {
  if (host == "localhost" || host == "::1") {
    return true;
  }
  in_addr addr{};
  if (::inet_pton(AF_INET, host.c_str(), &addr) == 1) {
    return (ntohl(addr.s_addr) >> 24) == 127;
  }
  return false;
}

// Opens an authenticated session as the settings say.
std::unique_ptr<imap::Client> connect_account(const AccountSettings& s) {
  if (s.tls == TlsMode::None && !s.allow_plaintext && !is_loopback(s.host)) {
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
  if (s.tls == TlsMode::Implicit) {
    implicit = tls;
  }
  auto stream = net::connect(s.host, s.port, implicit,
                             std::chrono::duration_cast<std::chrono::milliseconds>(s.timeout));
  auto client = std::make_unique<imap::Client>(std::move(stream));
  bool preauth = client->read_greeting();
  if (s.tls == TlsMode::StartTls) {
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
    client->login(s.user, s.password ? s.password() : std::string());
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

// Adapts a Maildir delivery to the IMAP reader's literal sink.
class DeliverySink : public imap::LiteralSink {
 public:
  explicit DeliverySink(maildir::Delivery delivery) : m_delivery(std::move(delivery)) {}
  void write(const char* data, std::size_t size) override { m_delivery.write(data, size); }
  maildir::Delivery& delivery() { return m_delivery; }

 private:
  maildir::Delivery m_delivery;
};

// Everything one folder's sync works with.
class FolderSync {
 public:
  FolderSync(const AccountSettings& settings, imap::Client& client, const imap::ListedMailbox& lm,
             std::string name, FolderReport& report)
      : m_s(settings),
        m_client(client),
        m_listed(lm),
        m_name(std::move(name)),
        m_report(report),
        m_state_path(state::state_file_for(settings.state_dir, m_name)),
        m_journal_path(state::journal_file_for(m_state_path)),
        m_folder(
            maildir::folder_path(settings.maildir, m_name, lm.list.delimiter, settings.layout)) {}

  void run();

 private:
  void recover_journal();
  bool unchanged_on_server() const;
  ServerFolder list_server(const imap::MailboxInfo& info);
  LocalFolder scan_local();
  Plan plan_rematch_folder(const ServerFolder& server);
  void print_plan(const Plan& plan) const;
  void apply_local(const Plan& plan);
  void download(const std::vector<Download>& downloads);
  void commit_state();

  const AccountSettings& m_s;
  imap::Client& m_client;
  const imap::ListedMailbox& m_listed;
  std::string m_name;
  FolderReport& m_report;
  fs::path m_state_path;
  fs::path m_journal_path;
  maildir::Folder m_folder;
  std::optional<state::FolderState> m_state;
  state::FolderState m_next;                        // The state being built by this run.
  std::map<std::string, maildir::Entry> m_entries;  // Local files by stable name.
  bool m_complete = true;  // False when some message failed: do not trust the counters.
};

void FolderSync::run() {
  m_state = state::load_folder_state(m_state_path);
  if (m_state && m_state->mailbox != m_name) {
    throw Error(Scope::Folder, "state file " + m_state_path.string() + " belongs to mailbox \"" +
                                   m_state->mailbox + "\", not \"" + m_name + "\"");
  }
  if (fs::exists(m_journal_path)) {
    recover_journal();
  }
  if (!m_s.dry_run && m_state && unchanged_on_server()) {
    m_report.skipped_unchanged = true;
    return;
  }
  maildir::FolderRole role =
      maildir::folder_role(maildir::split_folder_name(m_name, m_listed.list.delimiter, m_s.layout));
  if (!m_s.dry_run) {
    m_folder.ensure_exists(m_s.layout, role);
    m_folder.clean_tmp();
  }

  imap::MailboxInfo info = m_client.open(
      m_listed.list.mailbox,
      m_s.policy.direction == Direction::Pull ? imap::OpenMode::Examine : imap::OpenMode::Select);
  LocalFolder local = scan_local();
  ServerFolder server;
  Plan plan;
  bool same_validity = m_state && m_state->uidvalidity == info.uidvalidity;
  bool state_empty = !m_state || m_state->messages.empty();
  if (same_validity || (state_empty && local.messages.empty())) {
    server = list_server(info);
    plan = plan_folder(same_validity ? &*m_state : nullptr, server, local, m_s.policy);
  } else {
    if (m_state && !m_state->messages.empty()) {
      m_report.notices.push_back(
          "UIDVALIDITY changed from " + std::to_string(m_state->uidvalidity) + " to " +
          std::to_string(info.uidvalidity) + "; matching messages by content");
    }
    server.uidvalidity = info.uidvalidity;
    plan = plan_rematch_folder(server);
  }
  server.uidvalidity = info.uidvalidity;
  server.uidnext = info.uidnext;
  server.highestmodseq = info.highestmodseq;
  m_report.notices.insert(m_report.notices.end(), plan.notices.begin(), plan.notices.end());

  if (m_s.dry_run) {
    print_plan(plan);
    return;
  }

  // The state this run builds: the old one (if its UIDs are still valid)
  // with the plan's changes applied as each is done.
  if (same_validity && !plan.reset_state) {
    m_next = *m_state;
  } else {
    m_next = state::FolderState{};
  }
  m_next.mailbox = m_name;
  m_next.uidvalidity = info.uidvalidity;
  // Until the run completes, the counters must not allow the next run to
  // skip this folder.
  m_next.uidnext = 0;
  m_next.highestmodseq = 0;

  apply_local(plan);
  if (plan.reset_state || !plan.downloads.empty()) {
    // Commit what the renames established before downloading, so that the
    // journal's intents always refer to the state on disk.
    commit_state();
  }
  download(plan.downloads);
  if (m_complete && plan.refused.empty()) {
    m_next.uidnext = info.uidnext;
    m_next.highestmodseq = info.highestmodseq;
  }
  commit_state();
  if (!plan.refused.empty()) {
    throw Error(Scope::Folder, plan.refused);
  }
}

void FolderSync::recover_journal() {
  std::vector<nlohmann::json> lines = state::Journal::read(m_journal_path);
  if (lines.empty()) {
    state::Journal::remove(m_journal_path);
    return;
  }
  std::uint32_t validity = lines.front().value("uidvalidity", 0u);
  if (!m_state) {
    m_state = state::FolderState{};
    m_state->mailbox = m_name;
    m_state->uidvalidity = validity;
  }
  if (validity != m_state->uidvalidity) {
    // Intents from a UIDVALIDITY the state no longer has: their UIDs mean
    // nothing now. The files they named (if any) are ordinary local files,
    // which the content matching of a UIDVALIDITY change will pair up.
    ROAM_WARN(m_name << ": ignoring journal " << m_journal_path.string()
                     << " from an older UIDVALIDITY");
  } else {
    maildir::ScanResult scan = m_folder.exists() ? m_folder.scan() : maildir::ScanResult{};
    std::unordered_map<std::string, const maildir::Entry*> by_name;
    for (const auto& e : scan.entries) {
      by_name.emplace(e.stable_name, &e);
    }
    state::NameIndex names = state::build_name_index(*m_state);
    std::size_t adopted = 0;
    for (std::size_t i = 1; i < lines.size(); ++i) {
      const auto& j = lines[i];
      if (j.value("op", "") != "download") {
        continue;
      }
      auto uid = j.value("uid", 0u);
      std::string name = j.value("name", "");
      auto it = by_name.find(name);
      if (uid == 0 || it == by_name.end() || m_state->messages.count(uid) != 0 ||
          names.count(name) != 0) {
        continue;
      }
      std::vector<std::string> flags =
          maildir::imap_flags_from_letters(it->second->letters).imap_flags;
      state::normalize_flags(flags);
      m_state->messages[uid] = state::MessageRecord{uid, name, flags};
      names.emplace(name, uid);
      ++adopted;
    }
    if (adopted > 0) {
      m_report.notices.push_back("resumed an interrupted run: " + std::to_string(adopted) +
                                 " downloaded message(s) adopted");
    }
  }
  m_state->uidnext = 0;
  m_state->highestmodseq = 0;
  if (!m_s.dry_run) {
    state::save_folder_state(m_state_path, *m_state);
    state::Journal::remove(m_journal_path);
  }
}

bool FolderSync::unchanged_on_server() const {
  // Without CONDSTORE a flag change leaves no trace in STATUS, so only a
  // known, unchanged HIGHESTMODSEQ proves that nothing changed. An unchanged
  // UIDNEXT rules out new messages, and then an unchanged count rules out
  // expunges. Local changes need no look in pull mode: nothing goes up.
  if (m_s.policy.direction != Direction::Pull || !m_listed.status) {
    return false;
  }
  const imap::StatusData& st = *m_listed.status;
  return st.uidvalidity && st.uidnext && st.highestmodseq && st.messages &&
         *st.uidvalidity == m_state->uidvalidity && *st.uidnext == m_state->uidnext &&
         *st.highestmodseq != 0 && *st.highestmodseq == m_state->highestmodseq &&
         *st.messages == m_state->messages.size();
}

ServerFolder FolderSync::list_server(const imap::MailboxInfo& info) {
  ServerFolder server;
  server.uidvalidity = info.uidvalidity;
  for (auto& m : m_client.fetch_flags()) {
    server.messages.push_back({m.uid, normalize_server_flags(std::move(m.flags))});
  }
  return server;
}

LocalFolder FolderSync::scan_local() {
  LocalFolder local;
  m_entries.clear();
  if (!m_folder.exists()) {
    return local;
  }
  maildir::ScanResult scan = m_folder.scan();
  for (const auto& d : scan.duplicates) {
    std::string paths;
    for (const auto& p : d.paths) {
      paths += " " + p.string();
    }
    m_report.notices.push_back("two files share the name " + d.stable_name + ":" + paths +
                               "; roam uses the first and leaves the others alone");
  }
  for (const auto& p : scan.invalid_names) {
    m_report.notices.push_back("skipping " + p.string() + ": not a valid Maildir file name");
  }
  for (const auto& e : scan.entries) {
    if (m_entries.emplace(e.stable_name, e).second) {
      local.messages.push_back({e.stable_name, e.letters});
    }
  }
  return local;
}

Plan FolderSync::plan_rematch_folder(const ServerFolder& server) {
  (void)server;
  // Server side: size and header of every message, in one pipelined pass.
  std::vector<KeyedServerMessage> keyed_server;
  m_client.run("UID FETCH 1:* (UID FLAGS RFC822.SIZE BODY.PEEK[HEADER])",
               [&](const imap::Response& r) {
                 const auto* f = std::get_if<imap::FetchData>(&r);
                 if (f == nullptr || !f->uid || !f->rfc822_size || !f->flags) {
                   return;
                 }
                 KeyedServerMessage k;
                 k.message.uid = *f->uid;
                 k.message.flags = normalize_server_flags(*f->flags);
                 k.key.crlf_size = *f->rfc822_size;
                 for (const auto& s : f->sections) {
                   if (s.section == "HEADER") {
                     for (char c : s.data) {
                       if (c != '\r') {
                         k.key.header += c;
                       }
                     }
                   }
                 }
                 keyed_server.push_back(std::move(k));
               });
  std::sort(keyed_server.begin(), keyed_server.end(),
            [](const auto& a, const auto& b) { return a.message.uid < b.message.uid; });
  // Local side: the same key from each file. The CRLF size is the file size
  // plus one octet per LF, as the server counts a CR before each.
  state::NameIndex known;
  if (m_state) {
    known = state::build_name_index(*m_state);
  }
  std::vector<KeyedLocalMessage> keyed_local;
  for (const auto& [name, entry] : m_entries) {
    std::string content;
    try {
      content = util::read_file(entry.path);
    } catch (const Error& e) {
      m_report.notices.push_back(std::string(e.what()) + "; file skipped");
      continue;
    }
    KeyedLocalMessage k;
    k.message = {name, entry.letters};
    k.known = known.count(name) != 0;
    std::uint64_t crs = 0;
    for (std::size_t i = 0; i < content.size(); ++i) {
      if (content[i] == '\n' && (i == 0 || content[i - 1] != '\r')) {
        ++crs;
      }
    }
    k.key.crlf_size = content.size() + crs;
    std::size_t end = content.find("\n\n");
    std::string header = end == std::string::npos ? content : content.substr(0, end + 2);
    for (char c : header) {
      if (c != '\r') {
        k.key.header += c;
      }
    }
    keyed_local.push_back(std::move(k));
  }
  // The server's HEADER section includes the blank line that ends it.
  return plan_rematch(keyed_server, keyed_local, m_s.policy);
}

void FolderSync::print_plan(const Plan& plan) const {
  std::printf("%s: would download %zu, change flags of %zu, delete %zu locally\n", m_name.c_str(),
              plan.downloads.size(), plan.local_flags.size(), plan.local_deletes.size());
  for (const auto& d : plan.downloads) {
    std::printf("  download uid %u (%s)\n", d.uid, letters_of(d.flags).c_str());
  }
  for (const auto& f : plan.local_flags) {
    std::printf("  flags %s: %s -> %s\n", f.name.c_str(), f.from_letters.c_str(),
                f.to_letters.c_str());
  }
  for (const auto& d : plan.local_deletes) {
    std::printf("  delete %s (uid %u expunged on the server)\n", d.name.c_str(), d.uid);
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
      continue;
    }
    std::string known = maildir::known_letters(change.to_letters);
    std::optional<maildir::Entry> renamed;
    try {
      renamed = m_folder.set_flags(it->second, known);
    } catch (const Error& e) {
      if (e.scope() != Scope::Message) {
        throw;
      }
      m_report.notices.push_back(e.what());
      m_complete = false;
      continue;
    }
    touched = true;
    if (!renamed) {
      // The mail reader moved or deleted the file meanwhile; the next run
      // sees the new situation.
      m_complete = false;
      continue;
    }
    it->second = *renamed;
    m_next.messages[change.uid] = state::MessageRecord{change.uid, change.name, change.agreed};
    ++m_report.flags_changed;
  }
  for (const auto& del : plan.local_deletes) {
    auto it = m_entries.find(del.name);
    if (it != m_entries.end()) {
      m_folder.remove(it->second);
      m_entries.erase(it);
      touched = true;
    }
    m_next.messages.erase(del.uid);
    ++m_report.deleted;
  }
  for (const auto& u : plan.updates) {
    m_next.messages[u.record.uid] = u.record;
  }
  for (const auto& d : plan.drops) {
    m_next.messages.erase(d.uid);
  }
  if (touched) {
    m_folder.sync_dirs();
  }
}

void FolderSync::download(const std::vector<Download>& downloads) {
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
  }

  std::optional<DeliverySink> pending;
  std::vector<state::MessageRecord> batch;
  auto sink_for = [&]() -> imap::LiteralSink* {
    pending.emplace(m_folder.begin_delivery());
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
      pending.emplace(m_folder.begin_delivery());
      pending->write(body->data.data(), body->data.size());
    }
    if (!pending) {
      throw Error(Scope::Account, "internal error: no delivery for uid " + std::to_string(*f.uid));
    }
    const Download& d = *it->second.second;
    std::string letters = letters_of(d.flags);
    std::optional<std::chrono::sys_seconds> mtime;
    if (f.internaldate) {
      mtime = imap::parse_internaldate(*f.internaldate);
    }
    m_report.bytes += pending->delivery().bytes_received();
    pending->delivery().commit(it->second.first, letters, mtime);
    pending.reset();
    batch.push_back(state::MessageRecord{d.uid, it->second.first, d.flags});
    wanted.erase(it);
  };
  auto after_batch = [&]() {
    if (batch.empty()) {
      return;
    }
    m_folder.sync_dirs();
    for (auto& rec : batch) {
      m_next.messages[rec.uid] = std::move(rec);
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
  state::save_folder_state(m_state_path, m_next);
  state::Journal::remove(m_journal_path);
}

}  // namespace

AccountReport sync_account(const AccountSettings& s) {
  AccountReport report;
  report.account = s.name;
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
    for (const auto& lm : mailboxes) {
      if (has_attribute(lm.list, "\\NoSelect") || has_attribute(lm.list, "\\NonExistent")) {
        continue;
      }
      std::string name = decode_name(lm.list.mailbox);
      if (s.select_folder && !s.select_folder(name, lm.list.delimiter)) {
        continue;
      }
      FolderReport& fr = report.folders.emplace_back();
      fr.name = name;
      try {
        FolderSync(s, *client, lm, name, fr).run();
      } catch (const Error& e) {
        if (e.scope() == Scope::Account || e.scope() == Scope::Fatal) {
          fr.error = e.what();
          throw;
        }
        fr.error = e.what();
      }
    }
    client->logout();
  } catch (const Error& e) {
    if (e.scope() == Scope::Fatal) {
      throw;
    }
    if (report.folders.empty() || report.folders.back().error != e.what()) {
      report.error = e.what();
    } else {
      report.error = "stopped after this error";
    }
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
