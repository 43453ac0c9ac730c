// One folder's sync (FolderSync) in-process, against an in-memory server
// that keeps the store contract of sync/server_store.hpp, and a real Maildir
// in a temporary directory. These pin the executor's ordering rules: what
// is journaled before the server is asked to act, and what a session that
// cannot see its own appends (Courier) must not do.

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <map>
#include <set>
#include <string>
#include <unordered_set>
#include <vector>

#include "fakes/temp_dir.hpp"
#include "state/folder_state.hpp"
#include "state/journal.hpp"
#include "sync/executor.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"

namespace roam::sync {
namespace {

namespace fs = std::filesystem;

struct StoredMessage {
  Uid uid = 0;
  std::string raw;  // CRLF line ends, as on the wire.
  std::vector<std::string> flags;
};

struct Mailbox {
  std::uint32_t uidvalidity = 0;
  Uid uidnext = 1;
  std::vector<StoredMessage> messages;
};

std::string to_crlf(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == '\n') {
      out += '\r';
    }
    out += c;
  }
  return out;
}

// A server with neither UIDPLUS nor MOVE (no APPENDUID, no COPYUID), which
// can also hide a session's own appends from that session, as Courier does.
class MemoryServer final : public ServerStore {
 public:
  std::map<std::string, Mailbox> boxes;
  bool hide_own_appends = false;
  // False: no expunge is safe, as on a server without UIDPLUS where other
  // messages are marked \Deleted (imap::Client then refuses with a folder
  // error). True: the plain EXPUNGE that such a client may send when no
  // other message is marked.
  bool expunge_is_safe = true;
  std::vector<std::string> calls;
  // store_many() calls: each is one round trip on a real server.
  int flights = 0;
  // Called before a move is carried out, to look at the disk at that moment.
  std::function<void()> before_move;
  // Called when a batch of bodies has arrived, before it is committed.
  std::function<void()> before_commit;
  // Called when an APPEND starts, before its body is read: what a mail
  // reader does to the file then happens while the command is under way.
  std::function<void()> before_append;
  // Called when a STORE has been applied: a kill right after it.
  std::function<void()> after_store;

  void create(const std::string& mailbox) override {
    calls.push_back("create " + mailbox);
    if (boxes.count(mailbox) == 0) {
      boxes[mailbox].uidvalidity = 100 + static_cast<std::uint32_t>(boxes.size());
    }
  }
  imap::MailboxInfo open(const std::string& mailbox, imap::OpenMode,
                         const imap::OpenPrefetch& prefetch) override {
    calls.push_back("open " + mailbox);
    last_prefetch = prefetch;
    m_selected = mailbox;
    const Mailbox& b = boxes.at(mailbox);
    imap::MailboxInfo info;
    info.uidvalidity = b.uidvalidity;
    info.uidnext = b.uidnext;
    info.exists = static_cast<std::uint32_t>(visible().size());
    return info;
  }
  std::vector<imap::MessageFlags> fetch_flags(imap::ModSeq) override {
    std::vector<imap::MessageFlags> out;
    for (const auto* m : visible()) {
      out.push_back({m->uid, m->flags, 0});
    }
    return out;
  }
  std::vector<imap::MessageFlags> fetch_flags_for(const std::vector<Uid>& uids) override {
    std::vector<imap::MessageFlags> out;
    for (const auto& m : fetch_flags(0)) {
      if (std::find(uids.begin(), uids.end(), m.uid) != uids.end()) {
        out.push_back(m);
      }
    }
    return out;
  }
  // The store keeps no mod-sequences (open() reports none), so it cannot
  // say what changed since one.
  std::optional<imap::MailboxChanges> list_changes(imap::ModSeq) override { return std::nullopt; }
  std::vector<imap::HeaderInfo> fetch_headers(const std::vector<Uid>& uids) override {
    std::vector<imap::HeaderInfo> out;
    for (const auto* m : visible()) {
      if (std::find(uids.begin(), uids.end(), m->uid) != uids.end()) {
        std::size_t end = m->raw.find("\r\n\r\n");
        out.push_back({m->uid, m->flags, m->raw.size(),
                       end == std::string::npos ? m->raw : m->raw.substr(0, end + 4)});
      }
    }
    return out;
  }
  std::vector<imap::HeaderInfo> fetch_all_headers() override {
    std::vector<Uid> all;
    for (const auto* m : visible()) {
      all.push_back(m->uid);
    }
    return fetch_headers(all);
  }
  void fetch_bodies(const std::vector<Uid>& uids,
                    const std::function<imap::LiteralSink*()>& sink_for,
                    const std::function<void(const imap::FetchData&)>& done,
                    const std::function<void()>& after_batch) override {
    calls.push_back("fetch bodies");
    for (const auto* m : visible()) {
      if (std::find(uids.begin(), uids.end(), m->uid) == uids.end()) {
        continue;
      }
      if (imap::LiteralSink* sink = sink_for()) {
        sink->write(m->raw.data(), m->raw.size());
      }
      imap::FetchData d;
      imap::BodySection body;
      body.streamed = true;
      body.size = m->raw.size();
      d.sections.push_back(body);
      d.uid = m->uid;
      d.flags = m->flags;
      d.internaldate = "01-Jan-2024 00:00:00 +0000";
      done(d);
    }
    if (before_commit) {
      before_commit();
    }
    if (after_batch) {
      after_batch();
    }
  }
  std::optional<Uid> append(const std::string& mailbox, const std::vector<std::string>& flags,
                            std::optional<std::chrono::sys_seconds>, std::uint64_t size,
                            const std::function<void(imap::LiteralSink&)>& write_body,
                            std::uint32_t) override {
    calls.push_back("append " + mailbox);
    if (before_append) {
      before_append();
    }
    struct Collect : imap::LiteralSink {
      std::string bytes;
      void write(const char* data, std::size_t n) override { bytes.append(data, n); }
    } body;
    write_body(body);
    EXPECT_EQ(body.bytes.size(), size);
    Mailbox& b = boxes.at(mailbox);
    Uid uid = b.uidnext++;
    b.messages.push_back({uid, body.bytes, flags});
    m_appended.insert({mailbox, uid});
    return std::nullopt;  // No UIDPLUS.
  }
  void store_flags(const std::vector<Uid>& uids, imap::StoreOp op,
                   const std::vector<std::string>& flags, imap::ModSeq,
                   std::vector<Uid>*) override {
    calls.push_back("store");
    for (auto& m : boxes.at(m_selected).messages) {
      if (std::find(uids.begin(), uids.end(), m.uid) == uids.end()) {
        continue;
      }
      for (const auto& f : flags) {
        auto it = std::find(m.flags.begin(), m.flags.end(), f);
        if (op == imap::StoreOp::Add && it == m.flags.end()) {
          m.flags.push_back(f);
        } else if (op == imap::StoreOp::Remove && it != m.flags.end()) {
          m.flags.erase(it);
        }
      }
    }
    if (after_store) {
      after_store();
    }
  }
  void store_many(const std::vector<imap::StoreRequest>& stores, const std::vector<Uid>& expunge,
                  std::vector<Uid>* modified) override {
    ++flights;
    ServerStore::store_many(stores, expunge, modified);
  }
  void uid_expunge(const std::vector<Uid>& uids) override {
    calls.push_back("expunge");
    if (!expunge_is_safe) {
      throw Error(Scope::Folder, "no safe expunge on this server");
    }
    std::erase_if(boxes.at(m_selected).messages, [&](const StoredMessage& m) {
      return std::find(uids.begin(), uids.end(), m.uid) != uids.end();
    });
  }
  imap::MoveResult move(const std::vector<Uid>& uids, const std::string& target,
                        std::uint32_t) override {
    calls.push_back("move " + target);
    if (before_move) {
      before_move();
    }
    Mailbox& to = boxes.at(target);
    std::erase_if(boxes.at(m_selected).messages, [&](const StoredMessage& m) {
      if (std::find(uids.begin(), uids.end(), m.uid) == uids.end()) {
        return false;
      }
      to.messages.push_back({to.uidnext++, m.raw, m.flags});
      return true;
    });
    return {};  // Moved and expunged, but no COPYUID.
  }

  // A new session: every earlier append is visible again.
  void new_session() { m_appended.clear(); }

 private:
  std::vector<const StoredMessage*> visible() const {
    std::vector<const StoredMessage*> out;
    for (const auto& m : boxes.at(m_selected).messages) {
      if (!hide_own_appends || m_appended.count({m_selected, m.uid}) == 0) {
        out.push_back(&m);
      }
    }
    return out;
  }

  std::string m_selected;
  std::set<std::pair<std::string, Uid>> m_appended;

 public:
  imap::OpenPrefetch last_prefetch;  // What the last open() was asked to send along.
};

std::string message(int n) {
  return "Message-ID: <m" + std::to_string(n) + "@example.org>\nSubject: message " +
         std::to_string(n) + "\n\nbody " + std::to_string(n) + "\n";
}

class FolderSyncTest : public ::testing::Test {
 protected:
  void SetUp() override {
    s.tree.root = tmp.path() / "mail";
    s.state_dir = tmp.path() / "state";
    s.policy.direction = Direction::Both;
    fs::create_directories(s.state_dir);
  }

  // A folder on both sides, as account.cpp's first phase sees it.
  FolderEntry& add_folder(const std::string& name) {
    if (server.boxes.count(name) == 0) {
      server.create(name);
    }
    for (const char* sub : {"cur", "new", "tmp"}) {
      fs::create_directories(s.tree.root / name / sub);
    }
    FolderEntry f;
    f.name = name;
    f.wire = name;
    f.delimiter = '/';
    f.path = s.tree.root / name;
    f.state_path = state::state_file_for(s.state_dir, name);
    folders.push_back(std::move(f));
    reports.emplace_back();
    wire_names[name] = name;
    return folders.back();
  }

  // Loads the state and scans the Maildir again, then syncs the folder.
  void sync(std::size_t i, bool fresh_scan = true) {
    FolderEntry& f = folders[i];
    if (fresh_scan) {
      f.state = state::load_folder_state_for(s.state_dir, f.name);
      maildir::Folder folder(f.path);
      maildir::Presence presence = folder.presence();
      f.local_exists = presence == maildir::Presence::Present;
      f.local_gone = presence == maildir::Presence::Gone;
      f.scan = f.local_exists ? folder.scan() : maildir::ScanResult{};
      recover_journal(s, f, reports[i]);
    }
    FolderSync(s, server, f, reports[i], wire_names, folders, stash).run();
  }

  // Loads the state and scans the Maildir as account.cpp's first phase
  // does, lets `meanwhile` act like a mail reader, then syncs the folder:
  // what the reader did falls between the scan and the sync.
  void sync_after(std::size_t i, const std::function<void()>& meanwhile) {
    FolderEntry& f = folders[i];
    f.state = state::load_folder_state_for(s.state_dir, f.name);
    maildir::Folder folder(f.path);
    f.local_exists = folder.exists();
    f.scan = folder.scan();
    meanwhile();
    FolderSync(s, server, f, reports[i], wire_names, folders, nullptr).run();
  }

  // What a run of folder 0 killed after fetching `body` whole (UID `uid`,
  // journaled under `name`) but before moving it into place leaves.
  void killed_after_fetching(Uid uid, const std::string& name, const std::string& body) {
    auto journal =
        state::Journal::open(state::journal_file_for(folders[0].state_path),
                             {{"uidvalidity", server.boxes[folders[0].name].uidvalidity}});
    journal.append(state::DownloadEntry{uid, name});
    journal.sync();
    std::ofstream out(
        folders[0].path / "tmp" / ("roam-done." + name + ",S=" + std::to_string(body.size())),
        std::ios::binary);
    out << body;
  }

  // What a mail reader does to the files of message(n) in `folder`: moves
  // each into cur/ with the letters given, or deletes it (nullopt).
  void as_a_mail_reader(const std::string& folder,
                        const std::map<int, std::optional<std::string>>& letters_of) {
    std::vector<std::pair<fs::path, std::optional<std::string>>> todo;
    for (const char* sub : {"cur", "new"}) {
      for (const auto& e : fs::directory_iterator(s.tree.root / folder / sub)) {
        std::ifstream in(e.path(), std::ios::binary);
        std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        for (const auto& [n, letters] : letters_of) {
          if (text == message(n)) {
            todo.emplace_back(e.path(), letters);
          }
        }
      }
    }
    for (const auto& [path, letters] : todo) {
      if (!letters) {
        fs::remove(path);
        continue;
      }
      std::string base = path.filename().string();
      base = base.substr(0, base.find(':'));
      fs::rename(path, s.tree.root / folder / "cur" / (base + ":2," + *letters));
    }
  }

  std::size_t files_in(const std::string& name) {
    std::size_t n = 0;
    for (const char* sub : {"cur", "new"}) {
      for ([[maybe_unused]] const auto& e : fs::directory_iterator(s.tree.root / name / sub)) {
        ++n;
      }
    }
    return n;
  }

  fakes::TempDir tmp;
  AccountSettings s;
  MemoryServer server;
  std::vector<FolderEntry> folders;
  std::vector<FolderReport> reports;
  std::map<std::string, std::string> wire_names;
  Stash* stash = nullptr;  // The run's stash, when a test syncs folders as a run of several does.
};

TEST_F(FolderSyncTest, NewServerMessagesAreDownloadedAndRecordedWithTheirKeys) {
  add_folder("INBOX");
  server.boxes["INBOX"].messages = {{1, to_crlf(message(1)), {"\\Seen"}},
                                    {2, to_crlf(message(2)), {}}};
  server.boxes["INBOX"].uidnext = 3;
  sync(0);
  EXPECT_EQ(files_in("INBOX"), 2u);
  auto st = state::load_folder_state_for(s.state_dir, "INBOX");
  ASSERT_TRUE(st);
  ASSERT_EQ(st->messages.size(), 2u);
  for (const auto& [uid, rec] : st->messages) {
    EXPECT_EQ(rec.key.size(), 16u) << "UID " << uid;
  }
  EXPECT_TRUE(reports[0].error.empty()) << reports[0].error;
}

// The headers of new server messages go out behind the SELECT when the
// Maildir holds a file the state does not know, also when as many files
// went as came (the count alone does not show it).
TEST_F(FolderSyncTest, HeadersArePrefetchedWhenAFileIsNewThoughTheCountIsTheSame) {
  add_folder("INBOX");
  server.boxes["INBOX"].messages = {{1, to_crlf(message(1)), {"\\Seen"}},
                                    {2, to_crlf(message(2)), {}}};
  server.boxes["INBOX"].uidnext = 3;
  sync(0);
  ASSERT_EQ(files_in("INBOX"), 2u);

  // Locally one file deleted and one new; on the server one new message.
  bool removed = false;
  for (const char* sub : {"cur", "new"}) {
    for (const auto& e : fs::directory_iterator(s.tree.root / "INBOX" / sub)) {
      if (!removed) {
        fs::remove(e.path());
        removed = true;
      }
    }
  }
  ASSERT_TRUE(removed);
  {
    std::ofstream out(s.tree.root / "INBOX" / "new" / "1700000000.M1P1.local", std::ios::binary);
    out << message(3);
  }
  server.boxes["INBOX"].messages.push_back({3, to_crlf(message(4)), {}});
  server.boxes["INBOX"].uidnext = 4;
  imap::StatusData status;
  status.uidvalidity = server.boxes["INBOX"].uidvalidity;
  status.uidnext = 4;
  status.messages = 2;
  folders[0].status = status;
  sync(0);
  EXPECT_EQ(server.last_prefetch.headers_from, 3u);
  EXPECT_TRUE(reports[0].error.empty()) << reports[0].error;

  // Nothing new locally: no headers are asked for along.
  server.boxes["INBOX"].messages.push_back({4, to_crlf(message(5)), {}});
  server.boxes["INBOX"].uidnext = 5;
  status.uidnext = 5;
  folders[0].status = status;
  sync(0);
  EXPECT_EQ(server.last_prefetch.headers_from, 0u);
}

// Side by side with a folder that lost messages on the server, a folder
// with new ones will want their content keys (the other folder may stash
// their files): the headers go out behind the SELECT although the stash is
// still empty when the folder opens, instead of one round trip later.
TEST_F(FolderSyncTest, HeadersArePrefetchedWhileAFolderSyncedAlongsideMayStillStash) {
  add_folder("INBOX");
  server.boxes["INBOX"].messages = {{1, to_crlf(message(1)), {"\\Seen"}}};
  server.boxes["INBOX"].uidnext = 2;
  sync(0);
  ASSERT_EQ(files_in("INBOX"), 1u);

  auto one_more = [&](Uid uid) {
    server.boxes["INBOX"].messages.push_back({uid, to_crlf(message(static_cast<int>(uid))), {}});
    server.boxes["INBOX"].uidnext = uid + 1;
    imap::StatusData status;
    status.uidvalidity = server.boxes["INBOX"].uidvalidity;
    status.uidnext = uid + 1;
    status.messages = uid;
    folders[0].status = status;
  };
  Stash run_stash;
  stash = &run_stash;
  run_stash.expect_sources(1);
  one_more(2);
  sync(0);
  EXPECT_EQ(server.last_prefetch.headers_from, 2u);
  EXPECT_EQ(files_in("INBOX"), 2u);
  EXPECT_TRUE(reports[0].error.empty()) << reports[0].error;

  // Once the source settled with nothing stashed, nothing is asked along.
  run_stash.source_settled();
  one_more(3);
  sync(0);
  EXPECT_EQ(server.last_prefetch.headers_from, 0u);
  EXPECT_EQ(files_in("INBOX"), 3u);
}

// Side by side with a folder that lost messages on the server (a source:
// it stashes their files), a folder waits with its downloads only when one
// of them may be among those files: the source's records have their content
// keys, and a message with none of them is fetched at once. At 50 ms from
// the server, every small folder waited for a big INBOX's listing.
TEST_F(FolderSyncTest, ADownloadWaitsForASourceOnlyWhenItsKeyIsAmongTheSourcesRecords) {
  add_folder("INBOX");
  add_folder("Src");
  server.boxes["Src"].messages = {{1, to_crlf(message(7)), {}}};
  server.boxes["Src"].uidnext = 2;
  server.boxes["INBOX"].messages = {{1, to_crlf(message(1)), {}}};
  server.boxes["INBOX"].uidnext = 2;
  sync(0);
  sync(1);
  auto src = state::load_folder_state_for(s.state_dir, "Src");
  ASSERT_TRUE(src && src->messages.size() == 1);
  const std::string src_key = src->messages.begin()->second.key;
  ASSERT_FALSE(src_key.empty());

  auto one_more = [&](Uid uid, int body) {
    server.boxes["INBOX"].messages.push_back({uid, to_crlf(message(body)), {}});
    server.boxes["INBOX"].uidnext = uid + 1;
    imap::StatusData status;
    status.uidvalidity = server.boxes["INBOX"].uidvalidity;
    status.uidnext = uid + 1;
    status.messages = uid;
    folders[0].status = status;
  };
  Stash run_stash;
  stash = &run_stash;
  folders[0].waits_for_stash = true;
  run_stash.expect_sources(1, std::unordered_set<std::string>{src_key});

  // A message whose content no record of the source has: no wait, though
  // the source never settles.
  one_more(2, 2);
  auto unrelated = std::async(std::launch::async, [&] { sync(0); });
  if (unrelated.wait_for(std::chrono::seconds(30)) != std::future_status::ready) {
    run_stash.source_settled();
    unrelated.get();
    FAIL() << "the download waited for a source that cannot stash its file";
  }
  unrelated.get();
  EXPECT_EQ(files_in("INBOX"), 2u);
  EXPECT_EQ(server.last_prefetch.headers_from, 2u);

  // The message of the source's record, now here too (another client moved
  // it): the download waits until the source settled.
  one_more(3, 7);
  auto moved = std::async(std::launch::async, [&] { sync(0); });
  EXPECT_EQ(moved.wait_for(std::chrono::milliseconds(300)), std::future_status::timeout);
  run_stash.source_settled();
  moved.get();
  EXPECT_EQ(files_in("INBOX"), 3u);
  EXPECT_TRUE(reports[0].error.empty()) << reports[0].error;
}

TEST_F(FolderSyncTest, AMoveIsJournaledInTheTargetBeforeTheServerIsAsked) {
  add_folder("A");
  add_folder("B");
  server.boxes["A"].messages = {{1, to_crlf(message(1)), {}}};
  server.boxes["A"].uidnext = 2;
  sync(0);
  sync(1);
  ASSERT_EQ(files_in("A"), 1u);

  // The user moves the file from A to B (as mutt does: same name).
  fs::path from = *fs::directory_iterator(s.tree.root / "A" / "new");
  std::string name = from.filename().string();
  fs::rename(from, s.tree.root / "B" / "new" / name);
  folders[0].state = state::load_folder_state_for(s.state_dir, "A");
  folders[0].scan = maildir::Folder(folders[0].path).scan();
  folders[1].state = state::load_folder_state_for(s.state_dir, "B");
  folders[1].scan = maildir::Folder(folders[1].path).scan();
  std::string stable = folders[1].scan.entries.at(0).stable_name;
  folders[0].moved_out[stable] = "B";
  folders[1].moved_in.insert(stable);

  bool journaled = false;
  server.before_move = [&] {
    fs::path journal = state::journal_file_for(folders[1].state_path);
    ASSERT_TRUE(fs::exists(journal));
    for (const auto& line : state::Journal::read(journal)) {
      journaled =
          journaled || (line.value("op", "") == "upload" && line.value("name", "") == stable);
    }
  };
  sync(0, false);
  EXPECT_TRUE(journaled) << "the move's intent must be in B's journal before MOVE is sent";
  EXPECT_TRUE(server.boxes["A"].messages.empty());
  ASSERT_EQ(server.boxes["B"].messages.size(), 1u);

  // B's sync finds the server copy by content (there was no COPYUID): one
  // record, nothing uploaded, nothing downloaded.
  sync(1, false);
  EXPECT_EQ(std::count(server.calls.begin(), server.calls.end(), "append B"), 0);
  EXPECT_EQ(files_in("B"), 1u);
  auto st = state::load_folder_state_for(s.state_dir, "B");
  ASSERT_TRUE(st);
  ASSERT_EQ(st->messages.size(), 1u);
  EXPECT_EQ(st->messages.begin()->second.name, stable);
  EXPECT_TRUE(st->pending_uploads.empty());
}

TEST_F(FolderSyncTest, AnUploadTheSessionCannotSeeIsNeverSentTwice) {
  add_folder("Sent");
  server.hide_own_appends = true;
  std::ofstream(s.tree.root / "Sent" / "cur" / "1.local:2,S") << message(7);
  sync(0);
  EXPECT_EQ(std::count(server.calls.begin(), server.calls.end(), "append Sent"), 1);
  auto st = state::load_folder_state_for(s.state_dir, "Sent");
  ASSERT_TRUE(st);
  ASSERT_EQ(st->pending_uploads.size(), 1u) << "the intent waits for a session that sees it";

  // A second pass in the same session (the account does one for folders
  // that received moves) must not take the invisible copy for an APPEND
  // that never happened.
  sync(0);
  EXPECT_EQ(std::count(server.calls.begin(), server.calls.end(), "append Sent"), 1);

  // The next session sees the copy and records it.
  server.new_session();
  folders[0].fresh_intents.clear();
  folders[0].fresh_uids.clear();
  sync(0);
  EXPECT_EQ(std::count(server.calls.begin(), server.calls.end(), "append Sent"), 1);
  st = state::load_folder_state_for(s.state_dir, "Sent");
  ASSERT_TRUE(st);
  EXPECT_TRUE(st->pending_uploads.empty());
  ASSERT_EQ(st->messages.size(), 1u);
  EXPECT_EQ(server.boxes["Sent"].messages.size(), 1u);
}

// What a kill leaves after the file of a message the server expunged was
// removed but before the state was committed: a record without its file.
// The journal entry written before the removal drops it, so a copy of the
// message the user moves into the folder later is a new message, not this
// one renamed (which would be deleted as expunged: seed 12019400).
TEST_F(FolderSyncTest, FlagChangesAndDeletionsGoToTheServerInOneFlight) {
  add_folder("A");
  server.boxes["A"].messages = {{1, to_crlf(message(1)), {}},
                                {2, to_crlf(message(2)), {"\\Seen"}},
                                {3, to_crlf(message(3)), {}},
                                {4, to_crlf(message(4)), {"\\Seen"}}};
  server.boxes["A"].uidnext = 5;
  sync(0);
  ASSERT_EQ(files_in("A"), 4u);
  // The user flags 1, marks 2 unread, deletes 3, and flags 4 while marking
  // it unread (a gain and a loss: the loss waits for the gain's answer).
  as_a_mail_reader("A", {{1, "F"}, {2, ""}, {3, std::nullopt}, {4, "F"}});
  server.flights = 0;
  sync(0);
  EXPECT_EQ(server.flights, 2) << "one flight, and one for the loss that waits for a gain";
  const auto& messages = server.boxes["A"].messages;
  ASSERT_EQ(messages.size(), 3u);
  EXPECT_EQ(messages[0].flags, std::vector<std::string>{"\\Flagged"});
  EXPECT_TRUE(messages[1].flags.empty());
  EXPECT_EQ(messages[2].uid, 4u);
  EXPECT_EQ(messages[2].flags, std::vector<std::string>{"\\Flagged"});

  // Without the gain and loss of one message, one flight does it all.
  server.boxes["A"].messages.push_back({5, to_crlf(message(5)), {}});
  server.boxes["A"].uidnext = 6;
  sync(0);
  as_a_mail_reader("A", {{5, "S"}, {1, std::nullopt}});
  server.flights = 0;
  sync(0);
  EXPECT_EQ(server.flights, 1);
  ASSERT_EQ(server.boxes["A"].messages.size(), 3u);
  EXPECT_EQ(server.boxes["A"].messages[2].flags, std::vector<std::string>{"\\Seen"});
}

TEST_F(FolderSyncTest, AFileRemovedForAnExpungeLeavesNoRecordAfterACrash) {
  add_folder("A");
  server.boxes["A"].messages = {{1, to_crlf(message(1)), {}}};
  server.boxes["A"].uidnext = 2;
  sync(0);
  ASSERT_EQ(files_in("A"), 1u);
  fs::path file = *fs::directory_iterator(s.tree.root / "A" / "new");
  auto st = state::load_folder_state_for(s.state_dir, "A");
  ASSERT_TRUE(st);
  std::string name = st->messages.at(1).name;

  // The expunge, the journal entry, the removal, then the kill.
  server.boxes["A"].messages.clear();
  {
    auto journal = state::Journal::open(state::journal_file_for(folders[0].state_path),
                                        {{"uidvalidity", st->uidvalidity}});
    journal.append(state::LocalDeleteEntry{1, name});
    journal.sync();
  }
  fs::remove(file);
  // The user moves a copy of the message in (mu4e gives it a new name).
  {
    std::ofstream out(s.tree.root / "A" / "cur" / "mu4e1.host:2,S", std::ios::binary);
    out << message(1);
  }

  folders[0].state = state::load_folder_state_for(s.state_dir, "A");
  folders[0].scan = maildir::Folder(folders[0].path).scan();
  recover_journal(s, folders[0], reports[0]);
  EXPECT_EQ(folders[0].state->messages.count(1), 0u);
  recognise_renames(Direction::Both, folders, {true},
                    [](const maildir::Entry& e) -> std::optional<std::string> {
                      auto key = file_content_key(e);
                      return key ? std::optional(content_key_text(*key)) : std::nullopt;
                    });
  sync(0, false);
  EXPECT_EQ(files_in("A"), 1u) << "the user's copy must stay";
  EXPECT_EQ(server.boxes["A"].messages.size(), 1u) << "and be uploaded";
}

// A crash right after a move's intents were journaled: the file the user
// moved back under its old name must not be taken by the source record
// (seed 12057160). The record is left behind with a name no file can have.
TEST_F(FolderSyncTest, AFileMovedBackAfterAnInterruptedMoveIsKept) {
  add_folder("A");
  add_folder("B");
  server.boxes["A"].messages = {{1, to_crlf(message(1)), {}}};
  server.boxes["A"].uidnext = 2;
  sync(0);
  sync(1);
  auto st = state::load_folder_state_for(s.state_dir, "A");
  ASSERT_TRUE(st);
  std::string name = st->messages.at(1).name;
  // The move went out (the server copy is in B now), then the kill.
  {
    auto journal = state::Journal::open(state::journal_file_for(folders[0].state_path),
                                        {{"uidvalidity", st->uidvalidity}});
    journal.append(state::MovingEntry{1});
    journal.sync();
    auto target = state::Journal::open(state::journal_file_for(folders[1].state_path),
                                       {{"uidvalidity", server.boxes["B"].uidvalidity}});
    target.append(
        state::UploadEntry{state::PendingUpload{name, st->messages.at(1).key, "", 0, 1, {}}});
    target.sync();
  }
  server.boxes["B"].messages = {{1, to_crlf(message(1)), {}}};
  server.boxes["B"].uidnext = 2;
  server.boxes["A"].messages.clear();
  // The file never left A, or the user moved it back: same name.
  for (std::size_t i = 0; i < 2; ++i) {
    sync(i);
  }
  sync(0);
  EXPECT_EQ(files_in("A") + files_in("B"), 1u);
  EXPECT_EQ(server.boxes["A"].messages.size() + server.boxes["B"].messages.size(), 1u);
  EXPECT_EQ(files_in("A"), 1u) << "the file is where the user left it";
  EXPECT_EQ(server.boxes["A"].messages.size(), 1u);
}

// A run found an earlier upload on the server (no APPENDUID) whose file
// the user had moved away since, marked that copy \Deleted, and was killed
// before its commit; then the user moved the file back. The journal's
// "deleting" entry leaves the copy behind, so the file is a new message
// again: before it, the pending upload was found on the server once more,
// and the \Deleted that roam had set came down to the file as another
// client's deletion (seed 32001521: the message was lost).
TEST_F(FolderSyncTest, ADeletionKilledBeforeItsCommitIsNotSpreadToAFilePutBack) {
  add_folder("A");
  server.expunge_is_safe = false;
  const std::string body = message(1);
  const fs::path file = s.tree.root / "A" / "cur" / "pre1.sim:2,S";
  {
    std::ofstream out(file, std::ios::binary);
    out << body;
  }
  // The upload went out, and the run was killed before it learnt the UID.
  server.boxes["A"].messages = {{1, to_crlf(body), {"\\Seen"}}};
  server.boxes["A"].uidnext = 2;
  auto key = local_content_key(body);
  {
    state::FolderState st;
    st.mailbox = "A";
    st.uidvalidity = server.boxes["A"].uidvalidity;
    st.pending_uploads.push_back(
        state::PendingUpload{"pre1.sim", content_key_text(key), "", key.crlf_size, 1, {"\\Seen"}});
    state::save_folder_state(folders[0].state_path, st);
  }
  // The user moved the file away; the next run finds the upload, marks the
  // copy \Deleted, and is killed before its commit.
  fs::path away = tmp.path() / "away";
  fs::rename(file, away);
  struct Killed {};
  server.after_store = [] { throw Killed{}; };
  EXPECT_THROW(sync(0), Killed);
  server.after_store = nullptr;
  ASSERT_EQ(server.boxes["A"].messages.at(0).flags,
            (std::vector<std::string>{"\\Seen", "\\Deleted"}));
  ASSERT_TRUE(fs::exists(state::journal_file_for(folders[0].state_path)))
      << "the deletion was journaled";
  // The user moves the file back.
  fs::rename(away, file);
  sync(0);
  sync(0);
  const auto& messages = server.boxes["A"].messages;
  std::size_t live = 0;
  for (const auto& m : messages) {
    live += std::find(m.flags.begin(), m.flags.end(), "\\Deleted") == m.flags.end() ? 1u : 0u;
  }
  EXPECT_EQ(live, 1u) << "the file put back is a live message on the server";
  EXPECT_EQ(files_in("A"), 1u);
  for (const auto& e : fs::directory_iterator(s.tree.root / "A" / "cur")) {
    EXPECT_EQ(e.path().filename().string().find('T'), std::string::npos)
        << e.path() << ": roam's own \\Deleted must not reach the file";
  }
}

// A renaming mail reader moved a file to another folder, and the server
// reset the source folder's UIDVALIDITY: the record gets a new UID when it
// is carried over by content, and the move must still name the file the
// user made in the target (it named the old one: the target's copy was
// deleted as having no file, and the file uploaded again; seed 13000336).
TEST_F(FolderSyncTest, AMoveAfterAUidValidityChangeKeepsTheNewName) {
  add_folder("A");
  add_folder("B");
  server.boxes["A"].messages = {{1, to_crlf(message(1)), {}}, {2, to_crlf(message(2)), {}}};
  server.boxes["A"].uidnext = 3;
  sync(0);
  sync(1);
  auto before = state::load_folder_state_for(s.state_dir, "A");
  ASSERT_TRUE(before);
  fs::path from = s.tree.root / "A" / "new" / before->messages.at(1).name;
  fs::rename(from, s.tree.root / "B" / "cur" / "mu4e1.host:2,S");
  server.boxes["A"].uidvalidity += 50;
  server.boxes["A"].messages.at(0).uid = 7;
  server.boxes["A"].messages.at(1).uid = 8;
  server.boxes["A"].uidnext = 9;

  for (auto& f : folders) {
    f.state = state::load_folder_state_for(s.state_dir, f.name);
    f.scan = maildir::Folder(f.path).scan();
  }
  recognise_renames(Direction::Both, folders, {true, true},
                    [](const maildir::Entry& e) -> std::optional<std::string> {
                      auto key = file_content_key(e);
                      return key ? std::optional(content_key_text(*key)) : std::nullopt;
                    });
  ASSERT_EQ(folders[0].moved_out.size(), 1u);
  sync(0, false);
  sync(1, false);
  ASSERT_EQ(server.boxes["A"].messages.size(), 1u);
  EXPECT_EQ(server.boxes["A"].messages.at(0).uid, 8u) << "the message that stayed";
  ASSERT_EQ(server.boxes["B"].messages.size(), 1u);
  EXPECT_EQ(std::count(server.calls.begin(), server.calls.end(), "append B"), 0);
  auto st = state::load_folder_state_for(s.state_dir, "B");
  ASSERT_TRUE(st);
  ASSERT_EQ(st->messages.size(), 1u);
  EXPECT_EQ(st->messages.begin()->second.name, "mu4e1.host");
  EXPECT_EQ(files_in("B"), 1u);
}

// The target of a move had its UIDVALIDITY reset and was synced earlier in
// the run: the move's intent must look for the copy from the UIDNEXT its
// SELECT gave, not from past the old UIDs (which would miss the copy and
// download it as a new message beside the moved file; seed 12003980).
TEST_F(FolderSyncTest, AMoveIntoAFolderWhoseUidValidityChangedFindsItsCopy) {
  add_folder("A");
  add_folder("B");
  server.boxes["A"].messages = {{1, to_crlf(message(1)), {}}};
  server.boxes["A"].uidnext = 2;
  server.boxes["B"].messages = {{20, to_crlf(message(2)), {}}, {21, to_crlf(message(3)), {}}};
  server.boxes["B"].uidnext = 22;
  sync(0);
  sync(1);
  auto a = state::load_folder_state_for(s.state_dir, "A");
  ASSERT_TRUE(a);
  std::string name = a->messages.at(1).name;
  fs::rename(s.tree.root / "A" / "new" / name, s.tree.root / "B" / "new" / name);
  server.boxes["B"].uidvalidity += 50;
  server.boxes["B"].messages.at(0).uid = 1;
  server.boxes["B"].messages.at(1).uid = 2;
  server.boxes["B"].uidnext = 3;

  for (auto& f : folders) {
    f.state = state::load_folder_state_for(s.state_dir, f.name);
    f.scan = maildir::Folder(f.path).scan();
  }
  folders[0].moved_out[name] = "B";
  folders[1].moved_in.insert(name);
  sync(1, false);  // B first, as in account order: the reset is seen.
  sync(0, false);  // A's move.
  folders[1].second_pass = true;
  folders[1].moved_in.clear();
  sync(1);
  ASSERT_EQ(server.boxes["B"].messages.size(), 3u);
  EXPECT_EQ(files_in("B"), 3u) << "the moved copy must not come down beside the moved file";
  auto b = state::load_folder_state_for(s.state_dir, "B");
  ASSERT_TRUE(b);
  EXPECT_EQ(b->messages.size(), 3u);
  EXPECT_TRUE(b->pending_uploads.empty());
}

// The target already had a copy of the moved message, which its first pass
// paired with the moved file (it was there before roam knew the folder):
// the source copy is deleted rather than moved, or the message would be in
// the target twice, and come down a second time (seed 10010908).
TEST_F(FolderSyncTest, AMoveToAFolderThatPairedTheFileDeletesTheSourceCopy) {
  add_folder("A");
  add_folder("B");
  server.boxes["A"].messages = {{1, to_crlf(message(1)), {}}};
  server.boxes["A"].uidnext = 2;
  server.boxes["B"].messages = {{1, to_crlf(message(1)), {}}};
  server.boxes["B"].uidnext = 2;
  sync(0);
  auto a = state::load_folder_state_for(s.state_dir, "A");
  ASSERT_TRUE(a);
  std::string name = a->messages.at(1).name;
  fs::rename(s.tree.root / "A" / "new" / name, s.tree.root / "B" / "new" / name);

  for (auto& f : folders) {
    f.state = state::load_folder_state_for(s.state_dir, f.name);
    f.scan = maildir::Folder(f.path).scan();
  }
  folders[0].moved_out[name] = "B";
  folders[1].moved_in.insert(name);
  sync(1, false);  // B pairs the moved file with its own copy.
  sync(0, false);  // A's move is redundant.
  EXPECT_EQ(std::count(server.calls.begin(), server.calls.end(), "move B"), 0);
  EXPECT_TRUE(server.boxes["A"].messages.empty() ||
              server.boxes["A"].messages.at(0).flags == std::vector<std::string>{"\\Deleted"});
  folders[1].second_pass = true;
  folders[1].moved_in.clear();
  sync(1);
  EXPECT_EQ(server.boxes["B"].messages.size(), 1u);
  EXPECT_EQ(files_in("B"), 1u);
  EXPECT_EQ(files_in("A"), 0u);
}

// A target that failed in this run may have paired the moved file before
// it failed: nothing is moved into it until a run where it syncs.
TEST_F(FolderSyncTest, NothingIsMovedIntoAFolderThatFailedInThisRun) {
  add_folder("A");
  add_folder("B");
  server.boxes["A"].messages = {{1, to_crlf(message(1)), {}}};
  server.boxes["A"].uidnext = 2;
  sync(0);
  sync(1);
  auto a = state::load_folder_state_for(s.state_dir, "A");
  ASSERT_TRUE(a);
  std::string name = a->messages.at(1).name;
  fs::rename(s.tree.root / "A" / "new" / name, s.tree.root / "B" / "new" / name);
  for (auto& f : folders) {
    f.state = state::load_folder_state_for(s.state_dir, f.name);
    f.scan = maildir::Folder(f.path).scan();
  }
  folders[0].moved_out[name] = "B";
  folders[1].moved_in.insert(name);
  folders[1].failed = true;
  sync(0, false);
  EXPECT_EQ(std::count(server.calls.begin(), server.calls.end(), "move B"), 0);
  EXPECT_EQ(server.boxes["A"].messages.size(), 1u) << "the source copy stays for the next run";
  EXPECT_EQ(folders[1].held.count(name), 1u) << "and the file is not uploaded to B";
  auto after = state::load_folder_state_for(s.state_dir, "A");
  ASSERT_TRUE(after);
  EXPECT_EQ(after->messages.count(1), 1u);

  // The next run, with B working, makes the move.
  folders[1].failed = false;
  for (auto& f : folders) {
    f.state = state::load_folder_state_for(s.state_dir, f.name);
    f.scan = maildir::Folder(f.path).scan();
    f.moved_out.clear();
    f.moved_in.clear();
    f.held.clear();
  }
  folders[0].moved_out[name] = "B";
  folders[1].moved_in.insert(name);
  sync(0, false);
  EXPECT_EQ(std::count(server.calls.begin(), server.calls.end(), "move B"), 1);
  EXPECT_TRUE(server.boxes["A"].messages.empty());
  EXPECT_EQ(server.boxes["B"].messages.size(), 1u);
}

// A move into a folder roam has never synced waits: the folder may hold a
// copy of its own (the message was moved before roam knew the folders),
// which its first sync pairs with the file; the next run then only deletes
// the source copy (seed 10003926: the message was twice in the target).
TEST_F(FolderSyncTest, AMoveIntoAFolderNeverSyncedWaitsForItsFirstSync) {
  add_folder("A");
  add_folder("B");
  server.boxes["A"].messages = {{1, to_crlf(message(1)), {}}};
  server.boxes["A"].uidnext = 2;
  server.boxes["B"].messages = {{1, to_crlf(message(1)), {}}};
  server.boxes["B"].uidnext = 2;
  sync(0);
  auto a = state::load_folder_state_for(s.state_dir, "A");
  ASSERT_TRUE(a);
  std::string name = a->messages.at(1).name;
  fs::rename(s.tree.root / "A" / "new" / name, s.tree.root / "B" / "new" / name);
  for (auto& f : folders) {
    f.state = state::load_folder_state_for(s.state_dir, f.name);
    f.scan = maildir::Folder(f.path).scan();
  }
  ASSERT_FALSE(folders[1].state);
  folders[0].moved_out[name] = "B";
  folders[1].moved_in.insert(name);
  sync(0, false);  // A first: B was never synced, the move waits.
  EXPECT_EQ(std::count(server.calls.begin(), server.calls.end(), "move B"), 0);
  sync(1, false);  // B pairs the file with its own copy.
  EXPECT_EQ(files_in("B"), 1u);

  // The next run: the file is B's now, so A's copy is a deletion.
  for (auto& f : folders) {
    f.moved_out.clear();
    f.moved_in.clear();
    f.held.clear();
  }
  sync(0);
  sync(1);
  EXPECT_TRUE(server.boxes["A"].messages.empty());
  EXPECT_EQ(server.boxes["B"].messages.size(), 1u);
  EXPECT_EQ(files_in("B"), 1u);
  EXPECT_EQ(files_in("A"), 0u);
}

// A copy left behind \Deleted (no UIDPLUS, so no safe expunge) and a live
// copy of the same content, the user's file moved back and uploaded: after
// a UIDVALIDITY change each record must take its own copy again. Keyless,
// the left-behind record found nothing, and the live record took the
// \Deleted copy, so the live one came down as a new message beside the
// file (seed 20040431).
TEST_F(FolderSyncTest, ACopyLeftBehindIsRecognisedAfterAUidValidityChange) {
  add_folder("A");
  server.boxes["A"].messages = {{1, to_crlf(message(1)), {}}, {2, to_crlf(message(2)), {}}};
  server.boxes["A"].uidnext = 3;
  sync(0);
  auto st = state::load_folder_state_for(s.state_dir, "A");
  ASSERT_TRUE(st);
  state::MessageRecord& gone = st->messages.at(1);
  const std::string old_name = gone.name;
  ASSERT_FALSE(gone.key.empty());
  fs::path file = s.tree.root / "A" / "new" / old_name;
  fs::path back = s.tree.root / "A" / "cur" / "moved-back.host:2,";
  fs::rename(file, back);
  mark_left_behind(gone);
  EXPECT_TRUE(left_behind(gone));
  EXPECT_FALSE(gone.key.empty()) << "a record left behind keeps its content key";
  state::save_folder_state(folders[0].state_path, *st);
  server.boxes["A"].messages.at(0).flags = {"\\Deleted"};
  server.expunge_is_safe = false;
  sync(0);  // The moved-back file is a new message: uploaded, found by content.
  ASSERT_EQ(server.boxes["A"].messages.size(), 3u);
  st = state::load_folder_state_for(s.state_dir, "A");
  ASSERT_TRUE(st);
  ASSERT_EQ(st->messages.size(), 3u);
  ASSERT_TRUE(st->pending_uploads.empty());

  server.boxes["A"].uidvalidity += 50;
  Uid uid = 10;
  for (auto& m : server.boxes["A"].messages) {
    m.uid = uid++;
  }
  server.boxes["A"].uidnext = uid;
  server.calls.clear();
  sync(0);
  EXPECT_EQ(std::count(server.calls.begin(), server.calls.end(), "fetch bodies"), 0)
      << "nothing is new after the reset";
  EXPECT_EQ(files_in("A"), 2u);
  EXPECT_TRUE(fs::exists(back));
  st = state::load_folder_state_for(s.state_dir, "A");
  ASSERT_TRUE(st);
  ASSERT_EQ(st->messages.size(), 3u);
  EXPECT_TRUE(left_behind(st->messages.at(10))) << "the \\Deleted copy stays left behind";
  EXPECT_EQ(st->messages.at(12).name, "moved-back.host") << "the live copy is the file's";
  EXPECT_EQ(server.boxes["A"].messages.size(), 3u);
  EXPECT_EQ(server.boxes["A"].messages.at(2).flags, std::vector<std::string>{})
      << "the live copy is not marked \\Deleted";
}

// A folder synced in earlier runs may have got a copy of the moved message
// since: a conflict left the message in two folders, the user moved one
// copy into B and another client the other. If A's move went first, B would
// hold the message twice and download the second copy. The move waits for
// A's second pass, after B's first pass has paired the file with its copy,
// and becomes a deletion of A's copy (seed 20029464).
TEST_F(FolderSyncTest, AMoveIntoAFolderNotYetSyncedInThisRunWaitsForIt) {
  add_folder("A");
  add_folder("B");
  server.boxes["A"].messages = {{1, to_crlf(message(1)), {}}};
  server.boxes["A"].uidnext = 2;
  server.boxes["B"].messages = {{1, to_crlf(message(2)), {}}};
  server.boxes["B"].uidnext = 2;
  sync(0);
  sync(1);
  auto a = state::load_folder_state_for(s.state_dir, "A");
  ASSERT_TRUE(a);
  std::string name = a->messages.at(1).name;
  fs::rename(s.tree.root / "A" / "new" / name, s.tree.root / "B" / "new" / name);
  server.boxes["B"].messages.push_back({2, to_crlf(message(1)), {}});  // Another client.
  server.boxes["B"].uidnext = 3;

  // The next run.
  for (auto& f : folders) {
    f.state = state::load_folder_state_for(s.state_dir, f.name);
    f.scan = maildir::Folder(f.path).scan();
    f.opened_validity = 0;
    f.opened_uidnext = 0;
  }
  folders[0].moved_out[name] = "B";
  folders[1].moved_in.insert(name);
  sync(0, false);
  EXPECT_EQ(std::count(server.calls.begin(), server.calls.end(), "move B"), 0)
      << "B has not been synced in this run yet";
  EXPECT_EQ(folders[0].waiting_moves, std::set<std::string>{name});
  EXPECT_EQ(folders[1].held.count(name), 1u);
  sync(1, false);  // B pairs the file with the copy another client moved.
  EXPECT_EQ(std::count(server.calls.begin(), server.calls.end(), "append B"), 0);

  // A's second pass, as account.cpp makes it.
  folders[0].second_pass = true;
  folders[0].waiting_moves.clear();
  sync(0);
  EXPECT_EQ(std::count(server.calls.begin(), server.calls.end(), "move B"), 0)
      << "B has the message already";
  EXPECT_EQ(server.boxes["B"].messages.size(), 2u);
  EXPECT_EQ(files_in("B"), 2u);
  EXPECT_EQ(files_in("A"), 0u);
  EXPECT_TRUE(server.boxes["A"].messages.empty() ||
              server.boxes["A"].messages.at(0).flags == std::vector<std::string>{"\\Deleted"});
}

// A run killed after a body was fetched whole but before its batch was moved
// into place left it in tmp/ under the journaled name: the next run moves
// it into place and fetches nothing (issue #8: 28-150 bodies in tmp/ were
// fetched again after a kill, and left there for ever).
TEST_F(FolderSyncTest, ABodyFinishedBeforeAKillIsAdoptedNotFetchedAgain) {
  add_folder("INBOX");
  server.boxes["INBOX"].messages = {{1, to_crlf(message(1)), {"\\Seen"}}};
  server.boxes["INBOX"].uidnext = 2;
  const std::string body = message(1);
  killed_after_fetching(1, "1700000000.M1P1.host", body);
  sync(0);
  EXPECT_EQ(std::count(server.calls.begin(), server.calls.end(), "fetch bodies"), 0)
      << "the body was whole in tmp/";
  EXPECT_EQ(files_in("INBOX"), 1u);
  EXPECT_TRUE(fs::exists(s.tree.root / "INBOX" / "cur" / "1700000000.M1P1.host:2,S"))
      << "moved into place and given the server's flags";
  EXPECT_TRUE(fs::is_empty(s.tree.root / "INBOX" / "tmp"));
  auto st = state::load_folder_state_for(s.state_dir, "INBOX");
  ASSERT_TRUE(st);
  ASSERT_EQ(st->messages.size(), 1u);
  EXPECT_EQ(st->messages.at(1).name, "1700000000.M1P1.host");
  EXPECT_EQ(st->messages.at(1).key.size(), 16u);
}

// The same, but the user has put a copy of the message into the folder
// since the kill (moved back the file that the first sync could not pair):
// the record takes the user's file and the body in tmp/ goes, or the folder
// would hold the message twice (seed 30051695).
TEST_F(FolderSyncTest, AFinishedBodyOfAMessageTheUserPutThereSinceIsNotDeliveredTwice) {
  add_folder("INBOX");
  server.boxes["INBOX"].messages = {{1, to_crlf(message(1)), {"\\Seen"}}};
  server.boxes["INBOX"].uidnext = 2;
  const std::string body = message(1);
  killed_after_fetching(1, "1700000000.M1P1.host", body);
  {
    std::ofstream out(s.tree.root / "INBOX" / "cur" / "mu4e2.host:2,FS", std::ios::binary);
    out << body;
  }
  sync(0);
  EXPECT_EQ(std::count(server.calls.begin(), server.calls.end(), "fetch bodies"), 0);
  EXPECT_EQ(std::count(server.calls.begin(), server.calls.end(), "append INBOX"), 0);
  EXPECT_EQ(files_in("INBOX"), 1u);
  EXPECT_TRUE(fs::is_empty(s.tree.root / "INBOX" / "tmp"));
  auto st = state::load_folder_state_for(s.state_dir, "INBOX");
  ASSERT_TRUE(st);
  ASSERT_EQ(st->messages.size(), 1u);
  EXPECT_EQ(st->messages.at(1).name, "mu4e2.host");
  EXPECT_EQ(server.boxes["INBOX"].messages.size(), 1u);
  std::vector<std::string> flags = server.boxes["INBOX"].messages.at(0).flags;
  std::sort(flags.begin(), flags.end());
  EXPECT_EQ(flags, (std::vector<std::string>{"\\Flagged", "\\Seen"}))
      << "the flags of both sides are joined, as when a first sync pairs by content";
}

// A state directory that takes no write (here the journal cannot be
// created; a full disk fails the same way): the folder fails before any
// change is applied, so nothing happened that no journal or state records.
TEST_F(FolderSyncTest, NothingIsChangedWhenTheJournalCannotBeWritten) {
  add_folder("INBOX");
  server.boxes["INBOX"].messages = {{1, to_crlf(message(1)), {}}, {2, to_crlf(message(2)), {}}};
  server.boxes["INBOX"].uidnext = 3;
  sync(0);
  ASSERT_EQ(files_in("INBOX"), 2u);
  // On the server: one expunged, one flagged; so the plan deletes a file
  // and renames the other.
  server.boxes["INBOX"].messages.erase(server.boxes["INBOX"].messages.begin());
  server.boxes["INBOX"].messages.at(0).flags = {"\\Flagged"};
  // A dangling link into a directory that does not exist: no journal to
  // resume, and none can be created.
  fs::create_symlink(tmp.path() / "no-such-dir" / "journal",
                     state::journal_file_for(folders[0].state_path));
  std::string error;
  try {
    sync(0);
  } catch (const util::Error& e) {
    error = e.what();
  }
  EXPECT_NE(error.find("journal"), std::string::npos) << error;
  EXPECT_EQ(files_in("INBOX"), 2u) << "no file deleted";
  EXPECT_TRUE(fs::is_empty(s.tree.root / "INBOX" / "cur")) << "no file renamed";
  fs::remove(state::journal_file_for(folders[0].state_path));
  sync(0);
  EXPECT_EQ(files_in("INBOX"), 1u);
}

// A mail reader renaming files between the scan and the upload (notmuch
// changing flags, a reader moving a file from new/ to cur/) is no error:
// the files are uploaded by their new names in this run.
TEST_F(FolderSyncTest, FilesRenamedAfterTheScanAreUploadedByTheirNewNames) {
  add_folder("INBOX");
  fs::path box = s.tree.root / "INBOX";
  std::ofstream(box / "cur" / "1.local:2,S") << message(1);
  std::ofstream(box / "new" / "2.local") << message(2);
  sync_after(0, [&] {
    fs::rename(box / "cur" / "1.local:2,S", box / "cur" / "1.local:2,RS");
    fs::rename(box / "new" / "2.local", box / "cur" / "2.local:2,S");
  });
  EXPECT_TRUE(reports[0].problems.empty()) << reports[0].problems.front();
  EXPECT_TRUE(reports[0].error.empty()) << reports[0].error;
  EXPECT_EQ(reports[0].uploaded, 2u);
  ASSERT_EQ(server.boxes["INBOX"].messages.size(), 2u);
  EXPECT_EQ(server.boxes["INBOX"].messages[0].raw, to_crlf(message(1)));
  EXPECT_EQ(server.boxes["INBOX"].messages[1].raw, to_crlf(message(2)));
  auto st = state::load_folder_state_for(s.state_dir, "INBOX");
  ASSERT_TRUE(st);
  std::set<std::string> names;
  for (const auto& [uid, rec] : st->messages) {
    names.insert(rec.name);
  }
  for (const auto& p : st->pending_uploads) {
    names.insert(p.name);
  }
  EXPECT_EQ(names, (std::set<std::string>{"1.local", "2.local"}));
}

// A file deleted between the scan and the upload is left alone: the next
// run sees the folder without it. It is no problem, so the run exits 0.
TEST_F(FolderSyncTest, AFileDeletedAfterTheScanIsNotUploadedAndIsNoProblem) {
  add_folder("INBOX");
  fs::path file = s.tree.root / "INBOX" / "cur" / "1.local:2,S";
  std::ofstream(file) << message(1);
  sync_after(0, [&] { fs::remove(file); });
  EXPECT_TRUE(reports[0].problems.empty()) << reports[0].problems.front();
  EXPECT_TRUE(reports[0].error.empty()) << reports[0].error;
  EXPECT_EQ(reports[0].uploaded, 0u);
  EXPECT_TRUE(server.boxes["INBOX"].messages.empty());
  ASSERT_EQ(reports[0].details.size(), 1u);
  EXPECT_NE(reports[0].details[0].find("moved or deleted by another program"), std::string::npos)
      << reports[0].details[0];

  sync(0);
  EXPECT_TRUE(reports[0].problems.empty());
  EXPECT_EQ(std::count(server.calls.begin(), server.calls.end(), "append INBOX"), 0);
}

// The file is opened before the APPEND is sent: a rename while the command
// is under way cannot cut the body short (which would break the session).
TEST_F(FolderSyncTest, AFileRenamedWhileItsAppendStartsIsSentWhole) {
  add_folder("INBOX");
  fs::path box = s.tree.root / "INBOX";
  std::ofstream(box / "cur" / "1.local:2,S") << message(1);
  server.before_append = [&] {
    fs::rename(box / "cur" / "1.local:2,S", box / "cur" / "1.local:2,FS");
  };
  sync(0);
  EXPECT_TRUE(reports[0].error.empty()) << reports[0].error;
  EXPECT_TRUE(reports[0].problems.empty()) << reports[0].problems.front();
  ASSERT_EQ(server.boxes["INBOX"].messages.size(), 1u);
  EXPECT_EQ(server.boxes["INBOX"].messages[0].raw, to_crlf(message(1)));
}

// A message expunged on the server whose file a mail reader renamed after
// the scan is still deleted locally (deletion wins over a flag change, as
// in the merge). Left in place, the next run would upload it again.
TEST_F(FolderSyncTest, AFileRenamedAfterTheScanIsDeletedWhenItsMessageWasExpunged) {
  add_folder("INBOX");
  server.boxes["INBOX"].messages = {{1, to_crlf(message(1)), {}}};
  server.boxes["INBOX"].uidnext = 2;
  sync(0);
  ASSERT_EQ(files_in("INBOX"), 1u);
  fs::path file = *fs::directory_iterator(s.tree.root / "INBOX" / "new");

  server.boxes["INBOX"].messages.clear();
  sync_after(0, [&] {
    fs::rename(file, s.tree.root / "INBOX" / "cur" / (file.filename().string() + ":2,S"));
  });
  EXPECT_TRUE(reports[0].error.empty()) << reports[0].error;
  EXPECT_EQ(files_in("INBOX"), 0u);
  sync(0);
  EXPECT_EQ(std::count(server.calls.begin(), server.calls.end(), "append INBOX"), 0);
}

// The summary counts the bytes of messages stored: bodies fetched and then
// lost to a local error (new/ gone before they could be moved there) are
// neither downloaded nor counted.
TEST_F(FolderSyncTest, BodiesFetchedButNotStoredAreNotCountedAsBytes) {
  add_folder("INBOX");
  server.boxes["INBOX"].messages = {{1, to_crlf(message(1)), {}}};
  server.boxes["INBOX"].uidnext = 2;
  server.before_commit = [&] { fs::remove_all(s.tree.root / "INBOX" / "new"); };
  EXPECT_THROW(sync(0), util::Error);
  EXPECT_EQ(reports[0].downloaded, 0u);
  EXPECT_EQ(reports[0].bytes, 0u);

  fs::create_directories(s.tree.root / "INBOX" / "new");
  server.before_commit = nullptr;
  reports[0] = FolderReport{};
  sync(0);
  EXPECT_EQ(reports[0].downloaded, 1u);
  EXPECT_EQ(reports[0].bytes, to_crlf(message(1)).size());
}

// A Maildir folder roam makes for a server folder is reported, as a folder
// it creates on the server is ("created on the server").
TEST_F(FolderSyncTest, AFolderCreatedLocallyIsReported) {
  add_folder("Lists");
  fs::remove_all(s.tree.root / "Lists");
  sync(0);
  EXPECT_TRUE(reports[0].error.empty()) << reports[0].error;
  EXPECT_EQ(std::count(reports[0].notices.begin(), reports[0].notices.end(), "created locally"), 1);
  EXPECT_TRUE(fs::is_directory(s.tree.root / "Lists" / "cur"));

  reports[0] = FolderReport{};
  server.boxes["Lists"].messages = {{1, to_crlf(message(1)), {}}};
  server.boxes["Lists"].uidnext = 2;
  sync(0);
  EXPECT_EQ(std::count(reports[0].notices.begin(), reports[0].notices.end(), "created locally"), 0);
}

}  // namespace
}  // namespace roam::sync
