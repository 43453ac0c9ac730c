// `roam import mbsync` against the real mbsync (Debian's isync) and the
// private Dovecot: mbsync syncs a corpus, roam imports its configuration and
// state, and roam's first sync must find everything paired (no download, no
// upload, no file renamed), and syncs both ways afterwards. Also after a
// killed mbsync run and with a Maildir that no longer matches mbsync's
// state: every message is on both sides exactly once.
//
// The tests are skipped when mbsync is not installed
// (contrib/install-deps.sh installs the isync package).

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "dovecot.hpp"
#include "import_helpers.hpp"
#include "maildir_helpers.hpp"

extern char** environ;

namespace roam::it {
namespace {

namespace fs = std::filesystem;

// The mbsync binary on PATH, or empty.
std::string find_mbsync() {
  const char* path = std::getenv("PATH");
  std::string dirs = path != nullptr ? path : "/usr/bin:/bin";
  std::size_t start = 0;
  while (start <= dirs.size()) {
    std::size_t colon = dirs.find(':', start);
    std::string dir = dirs.substr(start, colon == std::string::npos ? colon : colon - start);
    fs::path candidate = fs::path(dir.empty() ? "." : dir) / "mbsync";
    if (::access(candidate.c_str(), X_OK) == 0) {
      return candidate.string();
    }
    if (colon == std::string::npos) {
      break;
    }
    start = colon + 1;
  }
  return {};
}

#define SKIP_WITHOUT_MBSYNC()                                                                    \
  do {                                                                                           \
    if (find_mbsync().empty()) {                                                                 \
      GTEST_SKIP() << "mbsync is not installed (Debian package isync; contrib/install-deps.sh)"; \
    }                                                                                            \
  } while (false)

// One test's setup: a server user, mbsync's configuration and Maildir, and
// the roam configuration and state directory the import writes.
struct MbsyncSetup {
  std::string user;
  fs::path work;
  fs::path rc;
  fs::path maildir;
  fs::path config;
  fs::path xdg_state;
};

MbsyncSetup fresh_setup() {
  const auto& server = TestServer::instance();
  MbsyncSetup s;
  s.user = server.fresh_user();
  s.work = server.work_dir(s.user);
  s.rc = s.work / "mbsyncrc";
  s.maildir = s.work / "Mail";
  s.config = s.work / "roam.conf";
  s.xdg_state = s.work / "xdg-state";
  fs::create_directories(s.maildir);
  return s;
}

// An mbsync configuration for the private Dovecot's plain port: mbsync 1.4
// refuses LOGIN without TLS unless AuthMechs names it. Folders are Verbatim
// below Mail/, INBOX is Mail/INBOX (roam's verbatim layout).
void write_rc(const MbsyncSetup& s, const std::string& sync_state,
              const std::string& patterns = "*", const std::string& store_lines = "") {
  const auto& server = TestServer::instance();
  std::string store = store_lines.empty()
                          ? "Inbox " + s.maildir.string() + "/INBOX\nSubFolders Verbatim\n"
                          : store_lines;
  write_file(s.rc, "IMAPAccount acc\nHost " + server.host() + "\nPort " +
                       std::to_string(server.imap_port()) + "\nUser " + s.user + "\nPass " +
                       server.password() +
                       "\nSSLType None\nAuthMechs LOGIN\n\n"
                       "IMAPStore remote\nAccount acc\n\n"
                       "MaildirStore local\nPath " +
                       s.maildir.string() + "/\n" + store +
                       "\nChannel mail\nFar :remote:\nNear :local:\nPatterns " + patterns +
                       "\nCreate Both\nExpunge Both\nSyncState " + sync_state + "\n");
}

ProcessResult run_mbsync(const MbsyncSetup& s) {
  return run_process({find_mbsync(), "-c", s.rc.string(), "-a"}, {}, std::chrono::seconds(300));
}

// Runs roam with its state under the test's directory (the imported account
// has no state_dir, so roam uses $XDG_STATE_HOME/roam/NAME).
ProcessResult roam(const MbsyncSetup& s, const std::vector<std::string>& args) {
  std::vector<std::string> argv{"env", "XDG_STATE_HOME=" + s.xdg_state.string(),
                                roam_binary().string()};
  argv.insert(argv.end(), args.begin(), args.end());
  return run_process(argv, {}, std::chrono::seconds(300));
}

ProcessResult import(const MbsyncSetup& s) {
  return roam(s, {"import", "mbsync", "--from", s.rc.string(), "-c", s.config.string()});
}

// The totals of the imported account from `roam sync --json`.
nlohmann::json sync_totals(const MbsyncSetup& s) {
  return first_account_totals(roam(s, {"sync", "-c", s.config.string(), "--json"}));
}

// The Message-ID of a message text, or empty.
std::string message_id(const std::string& text) {
  std::size_t at = text.find("Message-ID: <");
  if (at == std::string::npos) {
    return {};
  }
  std::size_t end = text.find('>', at);
  return text.substr(at + 13, end - at - 13);
}

// The Message-IDs of a server folder: one doveadm query on Dovecot, where
// messages_with_bodies would run one per message.
std::multiset<std::string> server_ids(const std::string& user, const std::string& mailbox) {
  const auto& server = TestServer::instance();
  std::multiset<std::string> ids;
  if (server.is_dovecot()) {
    std::istringstream lines(
        server.doveadm({"fetch", "-u", user, "hdr.message-id", "mailbox", mailbox, "all"}).out);
    for (std::string line; std::getline(lines, line);) {
      if (line.starts_with("hdr.message-id: <")) {
        ids.insert(line.substr(17, line.find('>') - 17));
      }
    }
    return ids;
  }
  for (const auto& [flags, text] : server.messages_with_bodies(user, mailbox)) {
    ids.insert(message_id(text));
  }
  return ids;
}

// The Message-IDs of a local folder.
std::multiset<std::string> local_ids(const fs::path& folder) {
  std::multiset<std::string> ids;
  for (const auto& f : local_files(folder)) {
    ids.insert(message_id(f.content));
  }
  return ids;
}

// How many messages the user has on the server, in all folders.
std::size_t server_total(const std::string& user) {
  const auto& server = TestServer::instance();
  std::size_t total = 0;
  for (const auto& mailbox : server.list_mailboxes(user)) {
    total += server.list_uids_and_flags(user, mailbox).size();
  }
  return total;
}

// Checks that every server folder and its local directory hold the same
// messages, each once, and returns how many there are in all.
std::size_t expect_each_message_once_on_both_sides(const MbsyncSetup& s) {
  const auto& server = TestServer::instance();
  std::size_t total = 0;
  for (const auto& mailbox : server.list_mailboxes(s.user)) {
    std::multiset<std::string> remote = server_ids(s.user, mailbox);
    std::multiset<std::string> local = local_ids(s.maildir / mailbox);
    EXPECT_EQ(local, remote) << "folder " << mailbox;
    for (const auto& id : remote) {
      EXPECT_EQ(remote.count(id), 1u) << "message " << id << " twice on the server in " << mailbox;
      EXPECT_EQ(local.count(id), 1u) << "message " << id << " not once in the Maildir " << mailbox;
    }
    total += remote.size();
  }
  return total;
}

TEST(ImportMbsync, SyncStateInFoldersPairsEverythingThenSyncsBothWays) {
  SKIP_WITHOUT_MBSYNC();
  const auto& server = TestServer::instance();
  MbsyncSetup s = fresh_setup();
  server.seed(s.user, {"--messages", "150", "--folders", "4", "--nested", "--flags"});
  write_rc(s, "*");
  ProcessResult m = run_mbsync(s);
  ASSERT_EQ(m.exit_code, 0) << describe(m);
  ASSERT_TRUE(fs::exists(s.maildir / "INBOX" / ".mbsyncstate"));
  std::set<std::string> before = file_names(s.maildir);
  const std::size_t seeded = server_total(s.user);
  ASSERT_EQ(before.size(), seeded);

  ProcessResult imported = import(s);
  ASSERT_EQ(imported.exit_code, 0) << describe(imported);
  EXPECT_NE(imported.out.find("INBOX:"), std::string::npos) << imported.out;
  EXPECT_NE(imported.out.find("paired"), std::string::npos) << imported.out;

  // The first sync: everything is already paired.
  expect_nothing_moved(sync_totals(s));
  EXPECT_EQ(file_names(s.maildir), before);
  EXPECT_EQ(expect_each_message_once_on_both_sides(s), seeded);

  // A second import is refused and leaves the configuration as it was.
  std::string config = read_file(s.config);
  ProcessResult again = import(s);
  EXPECT_NE(again.exit_code, 0) << describe(again);
  EXPECT_NE(again.err.find("already"), std::string::npos) << describe(again);
  EXPECT_EQ(read_file(s.config), config);

  // Changes on each side reach the other: a flag and a new message each way.
  auto inbox = server.list_uids_and_flags(s.user, "INBOX");
  ASSERT_FALSE(inbox.empty());
  std::uint32_t flagged_uid = 0;
  for (const auto& msg : inbox) {
    if (std::find(msg.flags.begin(), msg.flags.end(), "\\Flagged") == msg.flags.end()) {
      flagged_uid = msg.uid;
      break;
    }
  }
  ASSERT_NE(flagged_uid, 0u);
  std::string flagged_id = message_id(server.fetch_body(s.user, "INBOX", flagged_uid));
  server.add_flags(s.user, "INBOX", flagged_uid, {"\\Flagged"});
  server.append(s.user, "INBOX", make_message("from-server"));

  std::optional<LocalFile> unseen;
  for (const auto& f : local_files(s.maildir / "Archive")) {
    if (f.letters.find('S') == std::string::npos) {
      unseen = f;
      break;
    }
  }
  ASSERT_TRUE(unseen.has_value());
  std::string letters = unseen->letters + "S";
  std::sort(letters.begin(), letters.end());
  set_local_letters(*unseen, letters);
  std::string seen_id = message_id(unseen->content);
  write_file(s.maildir / "Archive" / "new" / "1700000000.roamtest.host",
             crlf_to_lf(make_message("from-maildir")));

  nlohmann::json totals = sync_totals(s);
  EXPECT_EQ(totals.value("downloaded", -1), 1) << totals.dump();
  EXPECT_EQ(totals.value("uploaded", -1), 1) << totals.dump();
  EXPECT_EQ(files_with_id(s.maildir / "INBOX", "from-server").size(), 1u);
  bool found_flag = false;
  for (const auto& f : local_files(s.maildir / "INBOX")) {
    if (message_id(f.content) == flagged_id) {
      found_flag = f.letters.find('F') != std::string::npos;
    }
  }
  EXPECT_TRUE(found_flag) << "the server's \\Flagged did not reach the Maildir";
  bool server_seen = false;
  bool uploaded = false;
  for (const auto& [flags, text] : server.messages_with_bodies(s.user, "Archive")) {
    if (message_id(text) == seen_id) {
      server_seen =
          std::find(flags.flags.begin(), flags.flags.end(), "\\Seen") != flags.flags.end();
    }
    uploaded = uploaded || message_id(text) == "from-maildir@roam.test";
  }
  EXPECT_TRUE(server_seen) << "the Maildir's S did not reach the server";
  EXPECT_TRUE(uploaded) << "the new Maildir file did not reach the server";
  EXPECT_EQ(expect_each_message_once_on_both_sides(s), seeded + 2);
}

TEST(ImportMbsync, StateDirectoryAndAFileDeletedSinceMbsyncsRun) {
  SKIP_WITHOUT_MBSYNC();
  const auto& server = TestServer::instance();
  MbsyncSetup s = fresh_setup();
  server.seed(s.user, {"--messages", "60", "--folders", "3", "--flags"});
  fs::create_directories(s.work / "mbsync-state");
  write_rc(s, (s.work / "mbsync-state").string() + "/");
  ProcessResult m = run_mbsync(s);
  ASSERT_EQ(m.exit_code, 0) << describe(m);
  ASSERT_TRUE(fs::exists(s.work / "mbsync-state" / "INBOX"));

  // A file mbsync's state still pairs is deleted: mbsync would delete its
  // server copy; roam, not trusting a state another tool left, downloads it
  // again instead, so nothing is lost.
  auto inbox = local_files(s.maildir / "INBOX");
  ASSERT_FALSE(inbox.empty());
  fs::remove(inbox.front().path);

  const std::size_t seeded = server_total(s.user);
  ProcessResult imported = import(s);
  ASSERT_EQ(imported.exit_code, 0) << describe(imported);
  nlohmann::json totals = sync_totals(s);
  EXPECT_EQ(totals.value("downloaded", -1), 1) << totals.dump();
  EXPECT_EQ(totals.value("uploaded", -1), 0) << totals.dump();
  EXPECT_EQ(totals.value("server_deleted", -1), 0) << totals.dump();
  EXPECT_EQ(expect_each_message_once_on_both_sides(s), seeded);
  // And the run after it has nothing to do.
  expect_nothing_moved(sync_totals(s));
}

// Counts the message files of a local folder.
std::size_t count_files(const fs::path& folder) {
  return message_files(folder).size();
}

TEST(ImportMbsync, AfterAKilledMbsyncRunNothingIsLostOrDoubled) {
  SKIP_WITHOUT_MBSYNC();
  const auto& server = TestServer::instance();
  if (!server.is_dovecot()) {
    GTEST_SKIP() << "copies messages with doveadm";
  }
  MbsyncSetup s = fresh_setup();
  // INBOX gets three quarters of the corpus (seed.py's weights), Archive the rest.
  server.seed(s.user, {"--messages", "2400", "--folders", "2", "--small"});
  fs::create_directories(s.work / "mbsync-state");
  write_rc(s, (s.work / "mbsync-state").string() + "/", "Archive");
  ProcessResult m = run_mbsync(s);
  ASSERT_EQ(m.exit_code, 0) << describe(m);
  std::size_t first = count_files(s.maildir / "Archive");
  ASSERT_GT(first, 0u);

  // New mail for Archive (INBOX's messages, copied), and an mbsync run that
  // is killed while it downloads them: its state stays the committed one of
  // the first run, with a journal of what it did since.
  server.doveadm({"copy", "-u", s.user, "Archive", "mailbox", "INBOX", "all"});
  std::size_t on_server = server.list_uids_and_flags(s.user, "Archive").size();
  ASSERT_GT(on_server, first + 1000);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
  std::string mbsync = find_mbsync();
  std::string rc = s.rc.string();
  std::vector<char*> argv{mbsync.data(), const_cast<char*>("-c"), rc.data(),
                          const_cast<char*>("-a"), nullptr};
  pid_t pid = 0;
  ASSERT_EQ(posix_spawn(&pid, mbsync.c_str(), &actions, nullptr, argv.data(), environ), 0);
  posix_spawn_file_actions_destroy(&actions);
  bool exited = false;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (count_files(s.maildir / "Archive") < first + (on_server - first) / 4) {
    int status = 0;
    if (::waitpid(pid, &status, WNOHANG) == pid) {
      exited = true;
      break;
    }
    ASSERT_LT(std::chrono::steady_clock::now(), deadline);
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  if (!exited) {
    ::kill(pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);
  }
  ASSERT_FALSE(exited) << "mbsync finished before it could be killed; the test needs more mail";
  std::size_t local = count_files(s.maildir / "Archive");
  ASSERT_LT(local, on_server);
  EXPECT_TRUE(fs::exists(s.work / "mbsync-state" / "Archive.journal"));

  ProcessResult imported = import(s);
  ASSERT_EQ(imported.exit_code, 0) << describe(imported);
  EXPECT_NE(imported.out.find("did not finish"), std::string::npos) << imported.out;
  nlohmann::json totals = sync_totals(s);
  // What the killed run downloaded is paired by content, not uploaded
  // again; only the rest is downloaded.
  EXPECT_EQ(totals.value("uploaded", -1), 0) << totals.dump();
  EXPECT_EQ(totals.value("downloaded", -1), static_cast<int>(on_server - local)) << totals.dump();
  EXPECT_EQ(server.list_uids_and_flags(s.user, "Archive").size(), on_server);
  std::multiset<std::string> remote = server_ids(s.user, "Archive");
  EXPECT_EQ(local_ids(s.maildir / "Archive"), remote);
  EXPECT_EQ(std::set<std::string>(remote.begin(), remote.end()).size(), remote.size());
  expect_nothing_moved(sync_totals(s));
}

// The usual split of one mailbox into an INBOX channel and a channel for
// the rest, grouped: one roam account, both channels' states imported.
TEST(ImportMbsync, InboxAndRestChannelsOfAGroupAreOneAccount) {
  SKIP_WITHOUT_MBSYNC();
  const auto& server = TestServer::instance();
  MbsyncSetup s = fresh_setup();
  server.seed(s.user, {"--messages", "60", "--folders", "3", "--flags"});
  write_file(s.rc, "SyncState *\n\nIMAPAccount acc\nHost " + server.host() + "\nPort " +
                       std::to_string(server.imap_port()) + "\nUser " + s.user + "\nPass " +
                       server.password() +
                       "\nSSLType None\nAuthMechs LOGIN\n\n"
                       "IMAPStore remote\nAccount acc\n\n"
                       "MaildirStore local\nPath " +
                       s.maildir.string() + "/\nInbox " + s.maildir.string() +
                       "/INBOX\nSubFolders Verbatim\n\n"
                       "Channel inbox\nFar :remote:\nNear :local:\nCreate Both\n\n"
                       "Channel rest\nFar :remote:\nNear :local:\nPatterns * !INBOX\n"
                       "Create Both\n\nGroup mail inbox rest\n");
  ProcessResult m =
      run_process({find_mbsync(), "-c", s.rc.string(), "mail"}, {}, std::chrono::seconds(300));
  ASSERT_EQ(m.exit_code, 0) << describe(m);
  const std::size_t seeded = server_total(s.user);
  ASSERT_EQ(file_names(s.maildir).size(), seeded);
  ProcessResult imported =
      roam(s, {"import", "mbsync", "--from", s.rc.string(), "-c", s.config.string(), "mail"});
  ASSERT_EQ(imported.exit_code, 0) << describe(imported);
  EXPECT_NE(imported.out.find("INBOX:"), std::string::npos) << imported.out;
  EXPECT_NE(imported.out.find("Archive:"), std::string::npos) << imported.out;
  ProcessResult synced = roam(s, {"sync", "-c", s.config.string(), "--json"});
  ASSERT_EQ(synced.exit_code, 0) << describe(synced);
  nlohmann::json doc = nlohmann::json::parse(synced.out);
  ASSERT_EQ(doc["accounts"].size(), 1u);
  EXPECT_EQ(doc["accounts"][0]["name"], "rest");
  expect_nothing_moved(doc["accounts"][0]["totals"]);
  EXPECT_EQ(expect_each_message_once_on_both_sides(s), seeded);
}

// mbsync keeps a Maildir++ subfolder of INBOX as "..sub", roam as
// ".INBOX.sub": roam cannot take that directory over, so the import leaves the
// folder out of `folders`, and the first sync neither downloads it into a
// new directory nor touches the old one.
TEST(ImportMbsync, AnInboxSubfolderMaildirPlusPlusCannotHoldIsLeftOut) {
  SKIP_WITHOUT_MBSYNC();
  const auto& server = TestServer::instance();
  MbsyncSetup s = fresh_setup();
  server.create_mailbox(s.user, "INBOX/sub");
  server.create_mailbox(s.user, "Lists");
  for (const char* box : {"INBOX", "INBOX/sub", "Lists"}) {
    for (int i = 0; i < 3; ++i) {
      server.append(s.user, box, make_message(std::string(box) + "-" + std::to_string(i)));
    }
  }
  write_rc(s, "*", "*", "Inbox " + s.maildir.string() + "/\nSubFolders Maildir++\n");
  // The store lines above replace Path's role: Maildir++ has no Path.
  std::string rc = read_file(s.rc);
  rc.replace(rc.find("Path " + s.maildir.string() + "/\n"), s.maildir.string().size() + 7, "");
  write_file(s.rc, rc);
  ProcessResult m = run_mbsync(s);
  ASSERT_EQ(m.exit_code, 0) << describe(m);
  ASSERT_TRUE(fs::is_directory(s.maildir / "..sub" / "cur"));
  std::set<std::string> before = file_names(s.work);
  ASSERT_EQ(before.size(), 9u);

  ProcessResult imported = import(s);
  ASSERT_EQ(imported.exit_code, 0) << describe(imported);
  EXPECT_NE(imported.out.find("INBOX/sub: no state"), std::string::npos) << describe(imported);
  EXPECT_NE(read_file(s.config).find("folders = * !INBOX/sub"), std::string::npos)
      << read_file(s.config);
  expect_nothing_moved(sync_totals(s));
  EXPECT_EQ(file_names(s.work), before);
  EXPECT_FALSE(fs::exists(s.maildir / ".INBOX.sub"));
  EXPECT_EQ(server_total(s.user), 9u);
}

// The layouts roam grew for mbsync's trees: SubFolders Legacy with the
// Inbox outside Path, and Flatten. The import writes layout, inbox and
// flat_separator, and the first sync takes the tree over as it is.
struct LayoutCase {
  std::string name;
  // MaildirStore lines after Path; "$WORK" is the test's directory.
  std::string store_lines;
  // Where INBOX and Lists/dovecot are, relative to the test's directory.
  std::string inbox_dir;
  std::string nested_dir;
};

class ImportMbsyncLayouts : public ::testing::TestWithParam<LayoutCase> {};

TEST_P(ImportMbsyncLayouts, FirstSyncMovesNothingAndNewMailArrives) {
  SKIP_WITHOUT_MBSYNC();
  const auto& server = TestServer::instance();
  const LayoutCase& c = GetParam();
  MbsyncSetup s = fresh_setup();
  server.seed(s.user, {"--messages", "80", "--folders", "4", "--nested", "--flags"});
  std::string store = c.store_lines;
  for (std::size_t at; (at = store.find("$WORK")) != std::string::npos;) {
    store.replace(at, 5, s.work.string());
  }
  write_rc(s, "*", "*", store);
  ProcessResult m = run_mbsync(s);
  ASSERT_EQ(m.exit_code, 0) << describe(m);
  ASSERT_TRUE(fs::is_directory(s.work / c.inbox_dir / "cur"));
  ASSERT_TRUE(fs::is_directory(s.work / c.nested_dir / "cur"));
  std::set<std::string> before = file_names(s.work);
  const std::size_t seeded = server_total(s.user);
  ASSERT_EQ(before.size(), seeded);

  ProcessResult imported = import(s);
  ASSERT_EQ(imported.exit_code, 0) << describe(imported);
  expect_nothing_moved(sync_totals(s));
  EXPECT_EQ(file_names(s.work), before);

  server.append(s.user, "Lists/dovecot", make_message("nested-new"));
  write_file(s.work / c.inbox_dir / "new" / "1700000000.roamtest.host",
             crlf_to_lf(make_message("inbox-new")));
  nlohmann::json totals = sync_totals(s);
  EXPECT_EQ(totals.value("downloaded", -1), 1) << totals.dump();
  EXPECT_EQ(totals.value("uploaded", -1), 1) << totals.dump();
  EXPECT_EQ(files_with_id(s.work / c.nested_dir, "nested-new").size(), 1u);
  EXPECT_EQ(server_total(s.user), seeded + 2);
}

INSTANTIATE_TEST_SUITE_P(
    Trees, ImportMbsyncLayouts,
    ::testing::Values(LayoutCase{"LegacyWithInboxOutsidePath",
                                 "Inbox $WORK/inbox\nSubFolders Legacy\n", "inbox",
                                 "Mail/Lists/.dovecot"},
                      LayoutCase{"Flatten", "Inbox $WORK/Mail/INBOX\nFlatten .\n", "Mail/INBOX",
                                 "Mail/Lists.dovecot"}),
    [](const ::testing::TestParamInfo<LayoutCase>& param) { return param.param.name; });

}  // namespace
}  // namespace roam::it
