// End-to-end tests of `roam sync` with `sync = both` (and `push`) against the
// private Dovecot.
//
// Every test takes a server user of its own (TestServer::fresh_user) and a
// work directory holding its config, Maildir and state, so the tests neither
// see nor disturb each other. The server is set up and inspected with
// doveadm only, never over IMAP, so that a bug in roam's IMAP code cannot
// hide itself behind the same bug in the test. Every scenario ends by
// checking the rule "a second run after any sync changes nothing on either
// side" (expect_further_run_changes_nothing).

#include <fcntl.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "dovecot.hpp"
#include "holding_proxy.hpp"
#include "maildir_helpers.hpp"
#include "two_way_helpers.hpp"

namespace roam::it {
namespace {

namespace fs = std::filesystem;

// --- Helpers (the ones shared with other tests are in maildir_helpers.hpp and
// two_way_helpers.hpp) ---

// The same message as a mail reader writes it: LF line ends.
std::string local_message(const std::string& id, const std::string& body = "Hello.\n") {
  return crlf_to_lf(make_message(id, body));
}

// The size of `text` once every bare LF became CRLF (RFC822.SIZE).
std::uint64_t crlf_size(const std::string& text) {
  std::uint64_t size = text.size();
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\n' && (i == 0 || text[i - 1] != '\r')) {
      ++size;
    }
  }
  return size;
}

void set_mtime(const fs::path& path, std::int64_t seconds) {
  std::array<timespec, 2> times{};
  times[0].tv_sec = static_cast<time_t>(seconds);
  times[1].tv_sec = static_cast<time_t>(seconds);
  if (::utimensat(AT_FDCWD, path.c_str(), times.data(), 0) != 0) {
    throw std::runtime_error("utimensat " + path.string() + " failed");
  }
}

std::int64_t mtime_of(const fs::path& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    throw std::runtime_error("stat " + path.string() + " failed");
  }
  return static_cast<std::int64_t>(st.st_mtim.tv_sec);
}

// The state files (folder-*.json and their journals) with their contents.
std::map<std::string, std::string> state_contents(const fs::path& state_dir) {
  std::map<std::string, std::string> files;
  if (!fs::is_directory(state_dir)) {
    return files;
  }
  for (const auto& entry : fs::directory_iterator(state_dir)) {
    const auto name = entry.path().filename().string();
    if (name != "lock") {
      files[name] = read_file(entry.path());
    }
  }
  return files;
}

// --- Tests ---

TEST(Both, MuttFlagRenamesReachTheServerAndKeepServerKeywords) {
  const auto& server = TestServer::instance();
  const auto account = make_two_way_account();
  // $Label1 has no Maildir letter: only the server holds it, so a local
  // flag change must never take it away (roam stores +FLAGS/-FLAGS, never
  // the FLAGS replace form).
  const auto uid_x = server.append(account.user, "INBOX", make_message("x"), {"$Label1"});
  const auto uid_y =
      server.append(account.user, "INBOX", make_message("y"), {"\\Flagged", "\\Seen"});
  const auto first = sync(account);
  ASSERT_EQ(first.exit_code, 0) << describe(first);
  const auto inbox = account.maildir / "INBOX";
  const auto x = file_with_id(inbox, "x");
  ASSERT_TRUE(x.has_value());
  ASSERT_EQ(x->subdir, "new");
  ASSERT_FALSE(x->has_info);

  auto flags_of = [&](std::uint32_t uid) {
    for (const auto& message : server.list_uids_and_flags(account.user, "INBOX")) {
      if (message.uid == uid) {
        return message.flags;
      }
    }
    return std::vector<std::string>{"<missing>"};
  };

  // mutt reads the new message: new/X becomes cur/X:2,S.
  const auto x_seen = inbox / "cur" / (x->stable_name + ":2,S");
  fs::rename(x->path, x_seen);
  auto result = sync(account);
  ASSERT_EQ(result.exit_code, 0) << describe(result);
  EXPECT_EQ(flags_of(uid_x), sorted({"$Label1", "\\Seen"}));
  EXPECT_TRUE(fs::exists(x_seen)) << "the file already had the merged flags";

  // mutt replies to it: cur/X:2,S becomes cur/X:2,RS.
  const auto x_replied = inbox / "cur" / (x->stable_name + ":2,RS");
  fs::rename(x_seen, x_replied);
  result = sync(account);
  ASSERT_EQ(result.exit_code, 0) << describe(result);
  EXPECT_EQ(flags_of(uid_x), sorted({"$Label1", "\\Answered", "\\Seen"}));
  EXPECT_TRUE(fs::exists(x_replied));

  // Another client labels y on the server; then mutt unflags y locally. The
  // removal of \Flagged must reach the server and the new keyword stay.
  server.add_flags(account.user, "INBOX", uid_y, {"$Label2"});
  const auto y = file_with_id(inbox, "y");
  ASSERT_TRUE(y.has_value());
  ASSERT_EQ(y->letters, "FS");
  const auto y_unflagged = set_local_letters(*y, "S");
  result = sync(account);
  ASSERT_EQ(result.exit_code, 0) << describe(result);
  EXPECT_EQ(flags_of(uid_y), sorted({"$Label2", "\\Seen"}));
  EXPECT_EQ(flags_of(uid_x), sorted({"$Label1", "\\Answered", "\\Seen"}));
  EXPECT_TRUE(fs::exists(y_unflagged));
  EXPECT_EQ(local_files(inbox).size(), 2U);
  EXPECT_EQ(server.list_uids_and_flags(account.user, "INBOX").size(), 2U);

  expect_further_run_changes_nothing(account);
}

TEST(Both, NewLocalFilesAreUploadedWithTheirFlagsAndDate) {
  const auto account = make_two_way_account();
  const auto inbox = make_local_folder(account.maildir / "INBOX");
  // Names as mail readers and MDAs write them: a delivery in new/ without
  // info, a file in cur/ with flags, a file in cur/ with no ':' at all, and
  // a file that already has CRLF line ends (it must not get CR CR LF).
  struct Case {
    std::string id;
    fs::path path;
    std::string content;
    std::vector<std::string> flags;
    std::int64_t mtime;
  };
  const std::vector<Case> cases{
      {"plain", inbox / "new" / "1600000001.M1P1.host", local_message("plain"), {}, 1600000001},
      {"flagged",
       inbox / "cur" / "1600000002.M2P2.host:2,FS",
       local_message("flagged", "Two lines\nof body.\n"),
       {"\\Flagged", "\\Seen"},
       1500000002},
      {"bare",
       inbox / "cur" / "1600000003.M3P3.host",
       local_message("bare", "No info part.\n"),
       {},
       1400000003},
      {"crlf",
       inbox / "new" / "1600000004.M4P4.host",
       make_message("crlf", "Already CRLF.\r\n"),
       {},
       1300000004},
  };
  for (const auto& c : cases) {
    write_file(c.path, c.content);
    set_mtime(c.path, c.mtime);
  }

  const auto result = sync(account);
  ASSERT_EQ(result.exit_code, 0) << describe(result);

  EXPECT_EQ(server_messages(account.user, "INBOX").size(), cases.size());
  for (const auto& c : cases) {
    SCOPED_TRACE(c.id);
    const auto copy = server_copy(account.user, "INBOX", c.id);
    ASSERT_TRUE(copy.has_value());
    // The server stores what IMAP carried: the file with every bare LF
    // sent as CRLF. doveadm shows it with LF, and the virtual size counts
    // CRLF, so together they pin the bytes down.
    EXPECT_EQ(crlf_to_lf(copy->text), crlf_to_lf(c.content));
    EXPECT_EQ(copy->virtual_size, crlf_size(c.content));
    EXPECT_EQ(copy->flags, sorted(c.flags));
    // The file's mtime becomes the INTERNALDATE, as a download does it the
    // other way round.
    EXPECT_EQ(copy->received, c.mtime);
    // The local file is left where and as it was.
    EXPECT_TRUE(fs::exists(c.path)) << c.path;
    EXPECT_EQ(read_file(c.path), c.content);
    EXPECT_EQ(mtime_of(c.path), c.mtime);
  }
  EXPECT_EQ(local_files(inbox).size(), cases.size());

  // The uploaded messages are known now: the next run must not download
  // them back as duplicates, nor upload them again.
  expect_further_run_changes_nothing(account);
  EXPECT_EQ(local_files(inbox).size(), cases.size());
}

// Logins of `user` in the test server's log.
std::size_t logins_of(const std::string& user) {
  std::ifstream in(TestServer::instance().conf_file().parent_path() / "log" / "dovecot.log");
  const std::string needle = "Login: user=<" + user + ">";
  std::size_t count = 0;
  for (std::string line; std::getline(in, line);) {
    count += line.find(needle) != std::string::npos ? 1u : 0u;
  }
  return count;
}

TEST(Both, FoldersGoOverSeveralConnectionsAndThePassCmdRunsOnce) {
  const auto& server = TestServer::instance();
  auto account = make_two_way_account({"connections = 3"});
  // A pass_cmd that counts its runs: a prompting one (gpg, a password
  // manager) must prompt once, however many connections the run opens.
  const auto runs = account.work / "pass_cmd.runs";
  std::string config = read_file(account.config);
  const auto password = config.find("\npassword = ");
  ASSERT_NE(password, std::string::npos) << config;
  config.replace(password, config.find('\n', password + 1) - password,
                 "\npass_cmd = echo run >> " + runs.string() + "; echo " + server.password());
  write_file(account.config, config);

  const std::vector<std::string> folders{"INBOX", "A", "B", "C", "D"};
  for (const auto& folder : folders) {
    if (folder != "INBOX") {
      server.create_mailbox(account.user, folder);
    }
    for (int i = 0; i < 6; ++i) {
      server.append(account.user, folder, make_message(folder + "-server-" + std::to_string(i)));
    }
    const auto dir = make_local_folder(account.maildir / folder);
    write_file(dir / "new" / ("1600000001.M1P1.host-" + folder), local_message(folder + "-local"));
  }

  const std::size_t before = server.is_dovecot() ? logins_of(account.user) : 0;
  const auto first = sync(account, {"-v"});
  ASSERT_EQ(first.exit_code, 0) << describe(first);
  EXPECT_NE(first.err.find("5 folders over 3 connections"), std::string::npos) << describe(first);
  if (server.is_dovecot()) {
    EXPECT_EQ(logins_of(account.user) - before, 3u);
  }
  EXPECT_EQ(read_file(runs), "run\n");
  for (const auto& folder : folders) {
    SCOPED_TRACE(folder);
    auto expected = std::vector<std::string>{folder + "-local"};
    for (int i = 0; i < 6; ++i) {
      expected.push_back(folder + "-server-" + std::to_string(i));
    }
    std::sort(expected.begin(), expected.end());
    EXPECT_EQ(sorted(local_ids(account.maildir / folder)), expected);
    EXPECT_EQ(sorted(server_ids(account.user, folder)), expected);
  }

  // A run after the Maildir settled (its directories an hour old) records
  // every folder in the account summary. Then a change in two folders,
  // one on each side: only those two have work, and they go over two
  // connections; the others open none.
  for (const auto& folder : folders) {
    for (const char* sub : {"cur", "new"}) {
      set_mtime(account.maildir / folder / sub, std::time(nullptr) - 3600);
    }
  }
  const auto settle = sync(account);
  ASSERT_EQ(settle.exit_code, 0) << describe(settle);
  server.append(account.user, "B", make_message("B-server-new"));
  write_file(account.maildir / "D" / "new" / "1600000002.M2P2.host", local_message("D-new"));
  const auto second = sync(account, {"-v"});
  ASSERT_EQ(second.exit_code, 0) << describe(second);
  // Courier has no CONDSTORE: without HIGHESTMODSEQ the summary cannot
  // show a folder unchanged, and every folder has work.
  const std::string lanes =
      server.kind() == "courier" ? "5 folders over 3 connections" : "2 folders over 2 connections";
  EXPECT_NE(second.err.find(lanes), std::string::npos) << describe(second);
  EXPECT_EQ(local_ids(account.maildir / "B").size(), 8u);
  EXPECT_EQ(server_ids(account.user, "D").size(), 8u);
  expect_further_run_changes_nothing(account);
}

// A connection's next folder is opened while the folder before it is still
// receiving its last bodies: the SELECT goes out behind the final UID FETCH,
// before that FETCH's tagged answer is read, which saves a round trip per
// folder. Whatever was in flight, every message arrives once.
TEST(Both, TheNextFoldersSelectGoesOutBeforeTheLastBodyFetchIsAnswered) {
  const auto& server = TestServer::instance();
  // One connection: the trace's tags are then one sequence.
  auto account = make_two_way_account({"connections = 1"});
  const std::vector<std::string> folders{"INBOX", "A", "B", "C"};
  for (const auto& folder : folders) {
    if (folder != "INBOX") {
      server.create_mailbox(account.user, folder);
    }
    for (int i = 0; i < 3; ++i) {
      server.append(account.user, folder, make_message(folder + "-" + std::to_string(i)));
    }
  }
  const auto first = sync(account, {"--debug=imap"});
  ASSERT_EQ(first.exit_code, 0) << describe(first);

  // The SELECTs sent while a body FETCH waited for its tagged answer.
  std::set<std::string> fetching;  // Tags.
  std::size_t selects = 0;
  std::size_t ahead = 0;
  std::istringstream trace(first.err);
  for (std::string line; std::getline(trace, line);) {
    auto at = line.find("C: r");
    if (at != std::string::npos) {
      std::string tag = line.substr(at + 3, line.find(' ', at + 3) - (at + 3));
      std::string command = line.substr(at + 4 + tag.size());
      if (command.rfind("UID FETCH ", 0) == 0 && command.find("BODY.PEEK[]") != std::string::npos) {
        fetching.insert(tag);
      } else if (command.rfind("SELECT ", 0) == 0) {
        ++selects;
        ahead += fetching.empty() ? 0u : 1u;
      }
      continue;
    }
    at = line.find("S: r");
    if (at != std::string::npos) {
      fetching.erase(line.substr(at + 3, line.find(' ', at + 3) - (at + 3)));
    }
  }
  EXPECT_EQ(selects, folders.size()) << describe(first);
  EXPECT_EQ(ahead, folders.size() - 1) << describe(first);
  for (const auto& folder : folders) {
    SCOPED_TRACE(folder);
    std::vector<std::string> expected;
    for (int i = 0; i < 3; ++i) {
      expected.push_back(folder + "-" + std::to_string(i));
    }
    EXPECT_EQ(sorted(local_ids(account.maildir / folder)), expected);
    EXPECT_EQ(sorted(server_ids(account.user, folder)), expected);
  }
  expect_further_run_changes_nothing(account);
}

// The extra connections log in while the Maildir is read. One that a
// server accepts but never greets gets no work; when every folder is done,
// the run ends instead of waiting out the timeout for it.
TEST(Both, AnExtraConnectionNeverGreetedDoesNotHoldTheRun) {
  const auto& server = TestServer::instance();
  auto account = make_two_way_account({"connections = 4", "timeout = 40"});
  test::HoldingProxy proxy(server.host(), server.imap_port(), 1);
  std::string config = read_file(account.config);
  const auto port = config.find("\nport = ");
  ASSERT_NE(port, std::string::npos) << config;
  config.replace(port, config.find('\n', port + 1) - port,
                 "\nport = " + std::to_string(proxy.port()));
  write_file(account.config, config);
  const std::vector<std::string> folders{"INBOX", "A", "B"};
  for (const auto& folder : folders) {
    if (folder != "INBOX") {
      server.create_mailbox(account.user, folder);
    }
    server.append(account.user, folder, make_message(folder + "-server"));
    const auto dir = make_local_folder(account.maildir / folder);
    write_file(dir / "new" / ("1600000001.M1P1.host-" + folder), local_message(folder + "-local"));
  }
  const auto start = std::chrono::steady_clock::now();
  const auto run = sync(account, {"-v"});
  const auto took = std::chrono::steady_clock::now() - start;
  ASSERT_EQ(run.exit_code, 0) << describe(run);
  // A first run (no summary yet) opens every extra connection at once,
  // before it knows how many folders there are: all four reached the proxy.
  EXPECT_EQ(proxy.accepted(), 4u);
  EXPECT_LT(took, std::chrono::seconds(20)) << describe(run);
  for (const auto& folder : folders) {
    SCOPED_TRACE(folder);
    const std::vector<std::string> expected{folder + "-local", folder + "-server"};
    EXPECT_EQ(sorted(local_ids(account.maildir / folder)), expected);
    EXPECT_EQ(sorted(server_ids(account.user, folder)), expected);
  }
}

TEST(Both, EmptyAndHeaderlessFilesAreReportedAndNotUploaded) {
  const auto account = make_two_way_account();
  const auto inbox = make_local_folder(account.maildir / "INBOX");
  // An empty file is more likely a half-written one, and a file without a
  // header block is not a message: uploading either would put garbage on
  // the server. The user must learn which files they are.
  const auto empty = inbox / "cur" / "1600000010.empty.host:2,S";
  const auto blank_first = inbox / "new" / "1600000011.blank.host";
  const auto body_only = inbox / "new" / "1600000012.body.host";
  const auto good = inbox / "new" / "1600000013.good.host";
  // A binary file with a ':' before its first newline passed once.
  const auto binary = inbox / "new" / "1600000014.binary.host";
  const char binary_bytes[] =
      "\x7f"
      "ELF\x02\x01\x01:\x00\x00\x00\n\x03\x00>\x00\x01";
  const std::string binary_content(binary_bytes, sizeof binary_bytes - 1);
  // A first line that looks like a field does not make the rest a header.
  const auto garbage_after = inbox / "new" / "1600000015.garbage.host";
  const std::string garbage_content = "Subject: hi\n\x01\x02 random bytes\n\nbody\n";
  write_file(binary, binary_content);
  write_file(garbage_after, garbage_content);
  write_file(empty, "");
  write_file(blank_first, "\nJust a body after a blank line.\n");
  write_file(body_only, "Hello Bob,\nthis is only body text, no header.\n");
  write_file(good, local_message("good"));

  const auto result = sync(account);
  EXPECT_NE(result.exit_code, 0) << describe(result);
  for (const auto& bad : {empty, blank_first, body_only, binary, garbage_after}) {
    EXPECT_NE(result.err.find(bad.string() + ": "), std::string::npos) << bad << "\n"
                                                                       << describe(result);
  }
  // The good file still went up, and only it.
  EXPECT_EQ(server_ids(account.user, "INBOX"), std::vector<std::string>{"good"});
  EXPECT_EQ(server_messages(account.user, "INBOX").size(), 1U);
  // The refused files are the user's: roam keeps them untouched.
  EXPECT_EQ(read_file(empty), "");
  EXPECT_EQ(read_file(blank_first), "\nJust a body after a blank line.\n");
  EXPECT_EQ(read_file(body_only), "Hello Bob,\nthis is only body text, no header.\n");
  EXPECT_EQ(read_file(binary), binary_content);
  EXPECT_EQ(read_file(garbage_after), garbage_content);
  EXPECT_EQ(local_files(inbox).size(), 6U);

  // They are still there, so every run reports them again (non-zero), and
  // still uploads nothing.
  expect_further_run_changes_nothing(account, Exit::Fails);
}

TEST(Both, AFileNameThatIsNotUtf8IsSyncedAndRemembered) {
  // A file name in Latin-1 once blocked its folder for good: the state could
  // not be written as JSON, and every later run failed.
  const auto account = make_two_way_account();
  const auto inbox = make_local_folder(account.maildir / "INBOX");
  const auto latin1 = inbox / "cur" / "1600000020.caf\xe9.host:2,S";
  write_file(latin1, local_message("latin1"));

  const auto first = sync(account);
  EXPECT_EQ(first.exit_code, 0) << describe(first);
  EXPECT_EQ(server_ids(account.user, "INBOX"), std::vector<std::string>{"latin1"});
  EXPECT_TRUE(std::filesystem::exists(latin1));
  const auto state = read_file(account.state / "folder-INBOX.json");
  EXPECT_NE(state.find("\"1600000020.caf/E9.host\""), std::string::npos) << state;

  expect_further_run_changes_nothing(account);

  // The state names the file correctly: a flag set locally reaches the
  // server copy instead of making the file look new.
  const auto flagged = inbox / "cur" / "1600000020.caf\xe9.host:2,FS";
  std::filesystem::rename(latin1, flagged);
  const auto third = sync(account);
  EXPECT_EQ(third.exit_code, 0) << describe(third);
  const auto copy = server_copy(account.user, "INBOX", "latin1");
  ASSERT_TRUE(copy.has_value());
  EXPECT_EQ(copy->flags, (std::vector<std::string>{"\\Flagged", "\\Seen"}));
  EXPECT_EQ(server_messages(account.user, "INBOX").size(), 1U);
  expect_further_run_changes_nothing(account);
}

TEST(Both, AMessageIdThatIsNotUtf8IsUploaded) {
  // Spam with a Latin-1 Message-ID once blocked its folder: the upload's
  // journal entry could not be written as JSON.
  const auto account = make_two_way_account();
  const auto inbox = make_local_folder(account.maildir / "INBOX");
  write_file(inbox / "new" / "1600000030.M1P1.host",
             "From: a@example.org\nSubject: latin1\nMessage-ID: <caf\xe9@roam.test>\n\nHi.\n");
  const auto first = sync(account);
  EXPECT_EQ(first.exit_code, 0) << describe(first);
  EXPECT_EQ(server_messages(account.user, "INBOX").size(), 1U);
  expect_further_run_changes_nothing(account);
}

TEST(Both, TwoAccountsOnOneMaildirAreRefused) {
  // Two accounts once shared a Maildir: each uploaded the other's mail to
  // its own server, and a deletion on one deleted the other's files.
  const auto& server = TestServer::instance();
  const auto first = make_two_way_account();
  server.append(first.user, "INBOX", make_message("first-mail"));
  // A second server user with its own configuration and state, and the
  // first account's Maildir.
  Account second;
  second.user = server.fresh_user("other");
  second.work = server.work_dir(second.user);
  second.config = second.work / "roam.conf";
  second.maildir = first.maildir;
  second.state = second.work / "state";
  server.write_config(second.config, second.user,
                      {"sync = both", "maildir = " + first.maildir.string(),
                       "state_dir = " + second.state.string()});
  std::string config = read_file(second.config);
  const auto header = config.find("[account.test]");
  ASSERT_NE(header, std::string::npos) << config;
  config.replace(header, std::string("[account.test]").size(), "[account.other]");
  write_file(second.config, config);

  const auto a = sync(first);
  EXPECT_EQ(a.exit_code, 0) << describe(a);
  EXPECT_EQ(read_file(first.maildir / ".roam-account"), "test\n");
  const auto before = local_ids(first.maildir / "INBOX");
  EXPECT_EQ(before, std::vector<std::string>{"first-mail"});

  // Another configuration file, another account, the same Maildir.
  const auto b = sync(second);
  EXPECT_EQ(b.exit_code, 1) << describe(b);
  EXPECT_NE(b.err.find("belongs to account \"test\""), std::string::npos) << describe(b);
  EXPECT_NE(b.err.find("not to account \"other\""), std::string::npos) << describe(b);
  EXPECT_NE(b.err.find(".roam-account"), std::string::npos) << describe(b);
  EXPECT_TRUE(server_ids(second.user, "INBOX").empty());
  EXPECT_EQ(local_ids(first.maildir / "INBOX"), before);
  EXPECT_EQ(read_file(first.maildir / ".roam-account"), "test\n");

  // Both accounts in one file: refused before anything runs (exit 2).
  const auto both_config = first.work / "both.conf";
  write_file(both_config, read_file(first.config) + "\n" + config);
  const auto both = run_roam({"sync", "-c", both_config.string()}, std::chrono::seconds(60));
  EXPECT_EQ(both.exit_code, 2) << describe(both);
  EXPECT_NE(both.err.find("accounts test (line"), std::string::npos) << describe(both);
  EXPECT_NE(both.err.find("and other both use maildir"), std::string::npos) << describe(both);
  EXPECT_TRUE(server_ids(second.user, "INBOX").empty());
}

TEST(Both, LocalDeletionExpungesTheServerMessage) {
  const auto& server = TestServer::instance();
  const auto account = make_two_way_account();
  server.append(account.user, "INBOX", make_message("a"));
  const auto uid_b = server.append(account.user, "INBOX", make_message("b"), {"\\Seen"});
  server.append(account.user, "INBOX", make_message("c"), {"\\Flagged"});
  const auto first = sync(account);
  ASSERT_EQ(first.exit_code, 0) << describe(first);
  auto expected = server.list_uids_and_flags(account.user, "INBOX");
  ASSERT_EQ(expected.size(), 3U);

  const auto b = file_with_id(account.maildir / "INBOX", "b");
  ASSERT_TRUE(b.has_value());
  fs::remove(b->path);
  const auto result = sync(account);
  ASSERT_EQ(result.exit_code, 0) << describe(result);

  // Exactly b is gone from the server; the others keep UIDs and flags.
  std::erase_if(expected, [&](const MessageFlags& m) { return m.uid == uid_b; });
  EXPECT_EQ(server.list_uids_and_flags(account.user, "INBOX"), expected);
  EXPECT_EQ(server_ids(account.user, "INBOX"), (std::vector<std::string>{"a", "c"}));
  EXPECT_EQ(local_ids(account.maildir / "INBOX"), (std::vector<std::string>{"a", "c"}));

  expect_further_run_changes_nothing(account);
}

TEST(Both, LocalDeletionWithExpungeNoOnlyMarksTheServerMessageDeleted) {
  const auto& server = TestServer::instance();
  const auto account = make_two_way_account({"expunge = no"});
  const auto uid_a = server.append(account.user, "INBOX", make_message("a"));
  const auto uid_b = server.append(account.user, "INBOX", make_message("b"), {"\\Seen"});
  const auto first = sync(account);
  ASSERT_EQ(first.exit_code, 0) << describe(first);

  const auto b = file_with_id(account.maildir / "INBOX", "b");
  ASSERT_TRUE(b.has_value());
  fs::remove(b->path);
  const auto result = sync(account);
  ASSERT_EQ(result.exit_code, 0) << describe(result);

  // With expunge = no the deletion travels as \Deleted only: the message
  // stays on the server until the user (or another client) expunges.
  const std::vector<MessageFlags> expected{{uid_a, {}}, {uid_b, sorted({"\\Deleted", "\\Seen"})}};
  EXPECT_EQ(server.list_uids_and_flags(account.user, "INBOX"), expected);
  // And the message the user removed is not downloaded back.
  EXPECT_EQ(local_ids(account.maildir / "INBOX"), std::vector<std::string>{"a"});

  expect_further_run_changes_nothing(account);
}

TEST(Both, ServerExpungeRemovesTheLocalFile) {
  const auto& server = TestServer::instance();
  const auto account = make_two_way_account();
  server.append(account.user, "INBOX", make_message("a"));
  const auto uid_b = server.append(account.user, "INBOX", make_message("b"), {"\\Seen"});
  server.append(account.user, "INBOX", make_message("c"));
  const auto first = sync(account);
  ASSERT_EQ(first.exit_code, 0) << describe(first);
  const auto a_before = file_with_id(account.maildir / "INBOX", "a");
  ASSERT_TRUE(a_before.has_value());

  server.expunge(account.user, "INBOX", uid_b);
  const auto result = sync(account);
  ASSERT_EQ(result.exit_code, 0) << describe(result);

  EXPECT_EQ(local_ids(account.maildir / "INBOX"), (std::vector<std::string>{"a", "c"}));
  // The expunge must not come back as an upload of the local copy.
  EXPECT_EQ(server_ids(account.user, "INBOX"), (std::vector<std::string>{"a", "c"}));
  const auto a_after = file_with_id(account.maildir / "INBOX", "a");
  ASSERT_TRUE(a_after.has_value());
  EXPECT_EQ(a_after->path, a_before->path);

  expect_further_run_changes_nothing(account);
}

TEST(Both, ServerExpungeWithExpungeNoKeepsTheFileMarkedDeleted) {
  const auto& server = TestServer::instance();
  const auto account = make_two_way_account({"expunge = no"});
  server.append(account.user, "INBOX", make_message("a"));
  const auto uid_b = server.append(account.user, "INBOX", make_message("b"), {"\\Seen"});
  const auto first = sync(account);
  ASSERT_EQ(first.exit_code, 0) << describe(first);

  server.expunge(account.user, "INBOX", uid_b);
  const auto result = sync(account);
  ASSERT_EQ(result.exit_code, 0) << describe(result);
  // The file stays, marked T as mutt shows a deleted message, and the state
  // remembers it, so that two-way sync does not upload it again.
  const auto b = file_with_id(account.maildir / "INBOX", "b");
  ASSERT_TRUE(b.has_value());
  EXPECT_EQ(b->letters, "ST");
  EXPECT_EQ(server_ids(account.user, "INBOX"), std::vector<std::string>{"a"});

  expect_further_run_changes_nothing(account);
}

TEST(Both, NewMessagesOnBothSidesTravelBothWaysOnce) {
  const auto& server = TestServer::instance();
  const auto account = make_two_way_account();
  server.append(account.user, "INBOX", make_message("old"));
  const auto first = sync(account);
  ASSERT_EQ(first.exit_code, 0) << describe(first);

  // Between two runs, mail arrives on the server and the user saves a
  // different message into the Maildir.
  server.append(account.user, "INBOX", make_message("from-server"), {"\\Answered"});
  const auto local_path = account.maildir / "INBOX" / "cur" / "1600000020.local.host:2,S";
  write_file(local_path, local_message("from-local"));
  const auto result = sync(account);
  ASSERT_EQ(result.exit_code, 0) << describe(result);

  const std::vector<std::string> all{"from-local", "from-server", "old"};
  EXPECT_EQ(server_ids(account.user, "INBOX"), all);
  EXPECT_EQ(local_ids(account.maildir / "INBOX"), all);
  const auto up = server_copy(account.user, "INBOX", "from-local");
  ASSERT_TRUE(up.has_value());
  EXPECT_EQ(up->flags, std::vector<std::string>{"\\Seen"});
  const auto down = file_with_id(account.maildir / "INBOX", "from-server");
  ASSERT_TRUE(down.has_value());
  EXPECT_EQ(down->letters, "R");
  EXPECT_TRUE(fs::exists(local_path));

  expect_further_run_changes_nothing(account);
}

TEST(Both, SameMessageNewOnBothSidesIsPairedByContent) {
  const auto& server = TestServer::instance();
  const auto account = make_two_way_account();
  server.append(account.user, "INBOX", make_message("old"));
  const auto first = sync(account);
  ASSERT_EQ(first.exit_code, 0) << describe(first);

  // The same bytes reach both sides without roam: a copy saved locally and
  // delivered on the server, or an upload whose reply was lost. The state
  // knows neither. Copying both ways would make two of each.
  const std::string twin = local_message("twin", "Same bytes on both sides.\n");
  const auto local_path = account.maildir / "INBOX" / "cur" / "1600000030.twin.host:2,S";
  write_file(local_path, twin);
  server.append(account.user, "INBOX", twin, {"\\Flagged"});
  const auto result = sync(account);
  ASSERT_EQ(result.exit_code, 0) << describe(result);

  EXPECT_EQ(server_ids(account.user, "INBOX"), (std::vector<std::string>{"old", "twin"}));
  EXPECT_EQ(local_ids(account.maildir / "INBOX"), (std::vector<std::string>{"old", "twin"}));
  // Without a base the union of both sides' flags is taken, on both sides.
  const auto copy = server_copy(account.user, "INBOX", "twin");
  ASSERT_TRUE(copy.has_value());
  EXPECT_EQ(copy->flags, sorted({"\\Flagged", "\\Seen"}));
  const auto file = file_with_id(account.maildir / "INBOX", "twin");
  ASSERT_TRUE(file.has_value());
  EXPECT_EQ(file->stable_name, "1600000030.twin.host");
  EXPECT_EQ(file->letters, "FS");

  expect_further_run_changes_nothing(account);
}

TEST(Both, FirstSyncPairsExistingLocalFilesByContent) {
  const auto& server = TestServer::instance();
  const auto account = make_two_way_account();
  // No state at all (a first sync, or a removed state directory) while the
  // Maildir already holds copies of the server's messages and one of its
  // own.
  server.append(account.user, "INBOX", local_message("shared-1"), {"\\Seen"});
  server.append(account.user, "INBOX", local_message("shared-2"));
  const auto inbox = make_local_folder(account.maildir / "INBOX");
  const auto shared_1 = inbox / "cur" / "1600000041.s1.host:2,S";
  const auto shared_2 = inbox / "new" / "1600000042.s2.host";
  const auto mine = inbox / "cur" / "1600000043.mine.host:2,F";
  write_file(shared_1, local_message("shared-1"));
  write_file(shared_2, local_message("shared-2"));
  write_file(mine, local_message("mine"));

  const auto result = sync(account);
  ASSERT_EQ(result.exit_code, 0) << describe(result);
  const std::vector<std::string> all{"mine", "shared-1", "shared-2"};
  EXPECT_EQ(server_ids(account.user, "INBOX"), all);
  EXPECT_EQ(local_ids(inbox), all);
  // The user's files stay the ones that stand for the shared messages.
  EXPECT_TRUE(fs::exists(shared_1));
  EXPECT_TRUE(fs::exists(shared_2));
  EXPECT_TRUE(fs::exists(mine));
  const auto up = server_copy(account.user, "INBOX", "mine");
  ASSERT_TRUE(up.has_value());
  EXPECT_EQ(up->flags, std::vector<std::string>{"\\Flagged"});

  expect_further_run_changes_nothing(account);
}

TEST(Both, FlagConflictIsMergedFlagByFlag) {
  const auto& server = TestServer::instance();
  const auto account = make_two_way_account();
  const auto uid = server.append(account.user, "INBOX", make_message("x"), {"\\Seen"});
  const auto first = sync(account);
  ASSERT_EQ(first.exit_code, 0) << describe(first);
  const auto x = file_with_id(account.maildir / "INBOX", "x");
  ASSERT_TRUE(x.has_value());
  ASSERT_EQ(x->letters, "S");

  // Base \Seen. The server adds \Flagged, the user marks it unread. Each
  // side changed a different flag, so both changes must survive.
  server.add_flags(account.user, "INBOX", uid, {"\\Flagged"});
  set_local_letters(*x, "");
  const auto result = sync(account);
  ASSERT_EQ(result.exit_code, 0) << describe(result);

  EXPECT_EQ(server.list_uids_and_flags(account.user, "INBOX"),
            (std::vector<MessageFlags>{{uid, {"\\Flagged"}}}));
  const auto after = file_with_id(account.maildir / "INBOX", "x");
  ASSERT_TRUE(after.has_value());
  EXPECT_EQ(after->letters, "F");
  EXPECT_EQ(after->stable_name, x->stable_name);

  expect_further_run_changes_nothing(account);
}

TEST(Both, LocalMoveBetweenFoldersMovesTheServerMessage) {
  const auto& server = TestServer::instance();
  const auto account = make_two_way_account();
  server.create_mailbox(account.user, "Archive");
  server.append(account.user, "INBOX", make_message("moving"), {"\\Seen"});
  server.append(account.user, "INBOX", make_message("staying"));
  server.append(account.user, "Archive", make_message("archived"));
  const auto first = sync(account);
  ASSERT_EQ(first.exit_code, 0) << describe(first);
  const auto moving = file_with_id(account.maildir / "INBOX", "moving");
  ASSERT_TRUE(moving.has_value());
  ASSERT_EQ(moving->letters, "S");
  const auto inbox_uidnext = server.mailbox_status(account.user, "INBOX").uidnext;
  const auto archive_uidnext = server.mailbox_status(account.user, "Archive").uidnext;

  // mutt's `s` to another folder keeps the file name: a rename across
  // folders. That is a move, not a deletion here and a new message there.
  const auto target = account.maildir / "Archive" / "cur" / moving->name;
  fs::rename(moving->path, target);
  const auto result = sync(account);
  ASSERT_EQ(result.exit_code, 0) << describe(result);

  EXPECT_EQ(server_ids(account.user, "INBOX"), std::vector<std::string>{"staying"});
  EXPECT_EQ(server_ids(account.user, "Archive"), (std::vector<std::string>{"archived", "moving"}));
  const auto moved = server_copy(account.user, "Archive", "moving");
  ASSERT_TRUE(moved.has_value());
  EXPECT_EQ(moved->flags, std::vector<std::string>{"\\Seen"});
  EXPECT_EQ(local_ids(account.maildir / "INBOX"), std::vector<std::string>{"staying"});
  EXPECT_EQ(local_ids(account.maildir / "Archive"),
            (std::vector<std::string>{"archived", "moving"}));
  EXPECT_TRUE(fs::exists(target)) << "the moved file must stay as the user left it";
  // A server-side move gives the message exactly one new UID in Archive
  // and none in INBOX; an upload (or a copy plus an upload) would use more.
  EXPECT_EQ(server.mailbox_status(account.user, "Archive").uidnext, archive_uidnext + 1);
  EXPECT_EQ(server.mailbox_status(account.user, "INBOX").uidnext, inbox_uidnext);
  // Nothing travelled as a download or an upload.
  EXPECT_NE(result.out.find("local: 0 new"), std::string::npos) << describe(result);
  EXPECT_NE(result.out.find("server: 0 new"), std::string::npos) << describe(result);
  EXPECT_NE(result.out.find("1 moved"), std::string::npos) << describe(result);

  expect_further_run_changes_nothing(account);
}

TEST(Both, LocalMovesAreMovesWhicheverFolderIsSyncedFirst) {
  const auto& server = TestServer::instance();
  const auto account = make_two_way_account();
  // roam syncs folders in the server's LIST order, which Dovecot does not
  // sort. Moving one message each way between two folders makes sure that
  // one of the moves goes into a folder synced after the one it left, and
  // one into a folder synced before: both must be plain server moves.
  server.create_mailbox(account.user, "Archive");
  server.append(account.user, "INBOX", make_message("to-archive"), {"\\Seen"});
  server.append(account.user, "INBOX", make_message("inbox-stays"));
  server.append(account.user, "Archive", make_message("to-inbox"), {"\\Answered", "\\Seen"});
  server.append(account.user, "Archive", make_message("archive-stays"));
  const auto first = sync(account);
  ASSERT_EQ(first.exit_code, 0) << describe(first);
  const auto to_archive = file_with_id(account.maildir / "INBOX", "to-archive");
  const auto to_inbox = file_with_id(account.maildir / "Archive", "to-inbox");
  ASSERT_TRUE(to_archive.has_value());
  ASSERT_TRUE(to_inbox.has_value());
  const auto inbox_uidnext = server.mailbox_status(account.user, "INBOX").uidnext;
  const auto archive_uidnext = server.mailbox_status(account.user, "Archive").uidnext;

  const auto in_archive = account.maildir / "Archive" / "cur" / to_archive->name;
  const auto in_inbox = account.maildir / "INBOX" / "cur" / to_inbox->name;
  fs::rename(to_archive->path, in_archive);
  fs::rename(to_inbox->path, in_inbox);
  const auto result = sync(account, {"-v"});
  ASSERT_EQ(result.exit_code, 0) << describe(result);

  EXPECT_EQ(server_ids(account.user, "INBOX"),
            (std::vector<std::string>{"inbox-stays", "to-inbox"}))
      << describe(result);
  EXPECT_EQ(server_ids(account.user, "Archive"),
            (std::vector<std::string>{"archive-stays", "to-archive"}))
      << describe(result);
  EXPECT_EQ(local_ids(account.maildir / "INBOX"),
            (std::vector<std::string>{"inbox-stays", "to-inbox"}))
      << describe(result);
  EXPECT_EQ(local_ids(account.maildir / "Archive"),
            (std::vector<std::string>{"archive-stays", "to-archive"}))
      << describe(result);
  EXPECT_TRUE(fs::exists(in_archive));
  EXPECT_TRUE(fs::exists(in_inbox));
  const auto moved_in = server_copy(account.user, "INBOX", "to-inbox");
  ASSERT_TRUE(moved_in.has_value());
  EXPECT_EQ(moved_in->flags, sorted({"\\Answered", "\\Seen"}));
  // One new UID per folder (the moved message), no uploads.
  EXPECT_EQ(server.mailbox_status(account.user, "INBOX").uidnext, inbox_uidnext + 1);
  EXPECT_EQ(server.mailbox_status(account.user, "Archive").uidnext, archive_uidnext + 1);
  EXPECT_NE(result.out.find("local: 0 new"), std::string::npos) << describe(result);
  EXPECT_NE(result.out.find("server: 0 new"), std::string::npos) << describe(result);
  EXPECT_NE(result.out.find("2 moved"), std::string::npos) << describe(result);

  expect_further_run_changes_nothing(account);
}

TEST(Both, UidValidityChangeKeepsPendingChangesWithoutDuplicates) {
  const auto& server = TestServer::instance();
  const auto account = make_two_way_account();
  server.create_mailbox(account.user, "Box");
  const std::vector<std::pair<std::string, std::vector<std::string>>> messages{
      {make_message("one"), {"\\Seen"}},
      {make_message("two", "Second body.\r\n"), {}},
      {make_message("three", "Third body.\r\n"), {"\\Answered"}},
  };
  for (const auto& [text, flags] : messages) {
    server.append(account.user, "Box", text, flags);
  }
  const auto first = sync(account);
  ASSERT_EQ(first.exit_code, 0) << describe(first);
  const auto box = account.maildir / "Box";
  std::set<std::string> names_before;
  for (const auto& file : local_files(box)) {
    names_before.insert(file.stable_name);
  }
  ASSERT_EQ(names_before.size(), messages.size());

  // Local work waits for the next run: a flag change and a new file.
  const auto two = file_with_id(box, "two");
  ASSERT_TRUE(two.has_value());
  set_local_letters(*two, "F");
  const auto fresh = box / "cur" / "1600000050.fresh.host:2,S";
  write_file(fresh, local_message("fresh"));

  // Meanwhile the server folder is rebuilt with the same messages (a
  // restore, a migration): every UID changes meaning.
  ASSERT_NO_FATAL_FAILURE(rebuild_mailbox(account.user, "Box", messages));

  const auto result = sync(account);
  ASSERT_EQ(result.exit_code, 0) << describe(result);
  const std::vector<std::string> all{"fresh", "one", "three", "two"};
  EXPECT_EQ(server_ids(account.user, "Box"), all) << "no duplicates, no losses on the server";
  EXPECT_EQ(local_ids(box), all) << "no duplicates, no losses locally";
  // Matched pairs take the union of both sides' flags, so the pending
  // local \Flagged is on the server now.
  const auto two_server = server_copy(account.user, "Box", "two");
  ASSERT_TRUE(two_server.has_value());
  EXPECT_EQ(two_server->flags, std::vector<std::string>{"\\Flagged"});
  const auto one_server = server_copy(account.user, "Box", "one");
  ASSERT_TRUE(one_server.has_value());
  EXPECT_EQ(one_server->flags, std::vector<std::string>{"\\Seen"});
  const auto fresh_server = server_copy(account.user, "Box", "fresh");
  ASSERT_TRUE(fresh_server.has_value());
  EXPECT_EQ(fresh_server->flags, std::vector<std::string>{"\\Seen"});
  // The local files that matched were kept, not downloaded again.
  std::set<std::string> names_after;
  for (const auto& file : local_files(box)) {
    names_after.insert(file.stable_name);
  }
  names_before.insert("1600000050.fresh.host");
  EXPECT_EQ(names_after, names_before);
  const auto two_local = file_with_id(box, "two");
  ASSERT_TRUE(two_local.has_value());
  EXPECT_EQ(two_local->letters, "F");

  expect_further_run_changes_nothing(account);
}

// 20 messages in INBOX, synced; returns the local files.
std::vector<LocalFile> synced_twenty(const Account& account) {
  const auto& server = TestServer::instance();
  server.seed(account.user, {"--messages", "20", "--folders", "1", "--sizes", "fixed", "--median",
                             "1024", "--min-size", "512"});
  const auto first = sync(account);
  EXPECT_EQ(first.exit_code, 0) << describe(first);
  auto files = local_files(account.maildir / "INBOX");
  EXPECT_EQ(files.size(), 20U);
  EXPECT_EQ(server.list_uids_and_flags(account.user, "INBOX").size(), 20U);
  return files;
}

TEST(Both, MassLocalDeletionIsRefusedUntilForced) {
  const auto& server = TestServer::instance();
  const auto account = make_two_way_account();
  const auto files = synced_twenty(account);
  ASSERT_EQ(files.size(), 20U);

  // A mistaken `rm` of most of a folder must not empty the server.
  for (std::size_t i = 0; i < 15; ++i) {
    fs::remove(files[i].path);
  }
  const auto refused = sync(account);
  EXPECT_NE(refused.exit_code, 0) << describe(refused);
  EXPECT_NE(refused.err.find("--force"), std::string::npos) << describe(refused);
  EXPECT_NE(refused.err.find("15"), std::string::npos) << describe(refused);
  EXPECT_EQ(server.list_uids_and_flags(account.user, "INBOX").size(), 20U);
  // Nor are the deleted files downloaded back: the decision waits.
  EXPECT_EQ(local_files(account.maildir / "INBOX").size(), 5U);
  expect_further_run_changes_nothing(account, Exit::Fails);

  // The user meant it. (Without UIDPLUS the deleted messages stay marked
  // \Deleted, which no mail client shows; later runs must not take them
  // for new mass deletions.)
  const auto forced = sync(account, {"--force"});
  EXPECT_EQ(forced.exit_code, 0) << describe(forced);
  std::size_t live = 0;
  for (const auto& m : server.list_uids_and_flags(account.user, "INBOX")) {
    live += std::find(m.flags.begin(), m.flags.end(), "\\Deleted") == m.flags.end() ? 1U : 0U;
  }
  EXPECT_EQ(live, 5U);
  EXPECT_EQ(local_files(account.maildir / "INBOX").size(), 5U);
  expect_further_run_changes_nothing(account);
}

TEST(Both, MassServerExpungeIsRefusedUntilForced) {
  const auto& server = TestServer::instance();
  const auto account = make_two_way_account();
  const auto files = synced_twenty(account);
  ASSERT_EQ(files.size(), 20U);
  const auto listing = server.list_uids_and_flags(account.user, "INBOX");
  ASSERT_EQ(listing.size(), 20U);

  // A server that suddenly lists most of a folder as gone (a glitch, a
  // broken migration) must not empty the Maildir.
  for (std::size_t i = 0; i < 15; ++i) {
    server.expunge(account.user, "INBOX", listing[i].uid);
  }
  ASSERT_EQ(server.list_uids_and_flags(account.user, "INBOX").size(), 5U);
  const auto refused = sync(account);
  EXPECT_NE(refused.exit_code, 0) << describe(refused);
  EXPECT_NE(refused.err.find("--force"), std::string::npos) << describe(refused);
  EXPECT_EQ(local_files(account.maildir / "INBOX").size(), 20U);
  // Nor are the kept files uploaded again.
  EXPECT_EQ(server.list_uids_and_flags(account.user, "INBOX").size(), 5U);
  expect_further_run_changes_nothing(account, Exit::Fails);

  const auto forced = sync(account, {"--force"});
  EXPECT_EQ(forced.exit_code, 0) << describe(forced);
  EXPECT_EQ(local_files(account.maildir / "INBOX").size(), 5U);
  EXPECT_EQ(server.list_uids_and_flags(account.user, "INBOX").size(), 5U);
  expect_further_run_changes_nothing(account);
}

// Syncs an Archive of three messages (fewer than 10, so that the
// mass-deletion guard, which needs 10, cannot be what saves them: the
// vanished folder itself must), lets `damage` remove local directories, and
// checks over three runs that the server keeps every message.
void expect_vanished_local_folder_deletes_nothing(
    const std::function<void(const fs::path&)>& damage) {
  const auto& server = TestServer::instance();
  const auto account = make_two_way_account();
  server.create_mailbox(account.user, "Archive");
  for (const auto* id : {"a1", "a2", "a3"}) {
    server.append(account.user, "Archive", make_message(id), {"\\Seen"});
  }
  server.append(account.user, "INBOX", make_message("inbox"));
  const auto first = sync(account);
  ASSERT_EQ(first.exit_code, 0) << describe(first);
  const auto archive_before = server.list_uids_and_flags(account.user, "Archive");
  ASSERT_EQ(archive_before.size(), 3U);

  damage(account.maildir / "Archive");
  const auto result = sync(account);
  EXPECT_EQ(server.list_uids_and_flags(account.user, "Archive"), archive_before)
      << describe(result);
  EXPECT_EQ(server.list_mailboxes(account.user), (std::vector<std::string>{"Archive", "INBOX"}));
  // roam says why it did not delete (a folder error: non-zero exit).
  EXPECT_NE(result.exit_code, 0) << describe(result);
  EXPECT_NE(result.err.find("Archive"), std::string::npos) << describe(result);

  // Nor may a later run delete them: whatever roam left locally after the
  // first run, the server keeps its three messages.
  const auto again = sync(account);
  EXPECT_EQ(server.list_uids_and_flags(account.user, "Archive"), archive_before)
      << "the second run after the folder vanished deleted on the server\n"
      << describe(again);
  expect_further_run_changes_nothing(account, Exit::Any);
  EXPECT_EQ(server.list_uids_and_flags(account.user, "Archive"), archive_before);
}

TEST(Both, RemovedLocalFolderDeletesNothingOnTheServer) {
  // `rm -r ~/Mail/Archive`: a folder deleted on one side is never deleted
  // on the other, and its messages are not deleted one by one either.
  expect_vanished_local_folder_deletes_nothing(
      [](const fs::path& folder) { fs::remove_all(folder); });
}

TEST(Both, RemovedLocalCurDeletesNothingOnTheServer) {
  // Only cur/ vanished (a half-finished restore, a bad rsync filter).
  expect_vanished_local_folder_deletes_nothing(
      [](const fs::path& folder) { fs::remove_all(folder / "cur"); });
}

// A local folder that is there but broken is no deleted folder: roam
// names what is wrong and never suggests --force, which would delete the
// folder's messages on the server. `damage` breaks the synced Archive;
// the error must contain `expected`.
void expect_broken_local_folder_is_named(const std::function<void(const fs::path&)>& damage,
                                         const std::string& expected) {
  const auto& server = TestServer::instance();
  const auto account = make_two_way_account();
  server.create_mailbox(account.user, "Archive");
  for (const auto* id : {"a1", "a2", "a3"}) {
    server.append(account.user, "Archive", make_message(id), {"\\Seen"});
  }
  const auto first = sync(account);
  ASSERT_EQ(first.exit_code, 0) << describe(first);
  const auto archive_before = server.list_uids_and_flags(account.user, "Archive");
  ASSERT_EQ(archive_before.size(), 3U);

  damage(account.maildir / "Archive");
  const auto result = sync(account);
  EXPECT_NE(result.exit_code, 0) << describe(result);
  EXPECT_NE(result.err.find(expected), std::string::npos) << describe(result);
  EXPECT_EQ(result.err.find("--force"), std::string::npos) << describe(result);
  EXPECT_EQ(result.err.find("is gone"), std::string::npos) << describe(result);
  EXPECT_EQ(server.list_uids_and_flags(account.user, "Archive"), archive_before)
      << describe(result);
}

// Replaces the directory `dir` by a regular file.
void replace_by_file(const fs::path& dir) {
  fs::remove_all(dir);
  std::ofstream(dir) << "not a directory\n";
}

TEST(Both, LocalTmpThatIsAFileIsNamedNotTakenForAGoneFolder) {
  expect_broken_local_folder_is_named(
      [](const fs::path& folder) { replace_by_file(folder / "tmp"); },
      "/Archive/tmp is not a directory");
}

TEST(Both, LocalCurThatIsAFileIsNamedNotTakenForAGoneFolder) {
  expect_broken_local_folder_is_named(
      [](const fs::path& folder) { replace_by_file(folder / "cur"); },
      "/Archive/cur is not a directory");
}

TEST(Both, LocalFolderThatIsAFileIsNamedNotTakenForAGoneFolder) {
  // ENOTDIR for Archive/cur: the folder's own name is a file.
  expect_broken_local_folder_is_named([](const fs::path& folder) { replace_by_file(folder); },
                                      "/Archive is not a directory");
}

TEST(Both, LocalFolderWithoutNewIsNamedNotTakenForAGoneFolder) {
  expect_broken_local_folder_is_named(
      [](const fs::path& folder) { fs::remove_all(folder / "new"); },
      "has a cur/ but no new/ or tmp/");
}

TEST(Both, UnreadableLocalFolderIsNamedNotTakenForAGoneFolder) {
  if (::geteuid() == 0) {
    GTEST_SKIP() << "permission bits do not stop root from reading a folder";
  }
  fs::path locked;
  expect_broken_local_folder_is_named(
      [&](const fs::path& folder) {
        locked = folder;
        fs::permissions(folder, fs::perms::none);
      },
      "/Archive/cur: Permission denied; fix its permissions");
  // The work directory must stay removable.
  fs::permissions(locked, fs::perms::owner_all);
}

TEST(Both, SkippedLocalDirectoryIsANoteNotAFolder) {
  // ".a..b" names no folder roam can have in maildir++ (an empty
  // component): it is skipped with a note, and the folder count is of the
  // folders synced.
  const auto account = make_two_way_account({"layout = maildir++"});
  make_local_folder(account.maildir);
  fs::create_directories(account.maildir / ".a..b" / "cur");
  const auto result = sync(account);
  EXPECT_EQ(result.exit_code, 0) << describe(result);
  EXPECT_NE(result.out.find(": 1 folders ("), std::string::npos) << describe(result);
  EXPECT_NE(result.err.find("local folder skipped: "), std::string::npos) << describe(result);
  EXPECT_NE(result.err.find(".a..b"), std::string::npos) << describe(result);
}

TEST(Both, LocalOnlyFolderIsCreatedOnTheServer) {
  const auto& server = TestServer::instance();
  const auto account = make_two_way_account();
  make_local_folder(account.maildir / "INBOX");
  const auto projects = make_local_folder(account.maildir / "Projects");
  const auto plan = projects / "cur" / "1600000060.plan.host:2,S";
  write_file(plan, local_message("plan"));

  const auto result = sync(account);
  ASSERT_EQ(result.exit_code, 0) << describe(result);
  EXPECT_EQ(server.list_mailboxes(account.user), (std::vector<std::string>{"INBOX", "Projects"}));
  const auto copy = server_copy(account.user, "Projects", "plan");
  ASSERT_TRUE(copy.has_value());
  EXPECT_EQ(copy->flags, std::vector<std::string>{"\\Seen"});
  EXPECT_EQ(crlf_to_lf(copy->text), local_message("plan"));
  EXPECT_EQ(local_ids(projects), std::vector<std::string>{"plan"});
  EXPECT_TRUE(fs::exists(plan));

  expect_further_run_changes_nothing(account);
}

TEST(Both, ServerOnlyFolderIsCreatedLocally) {
  const auto& server = TestServer::instance();
  const auto account = make_two_way_account();
  server.create_mailbox(account.user, "Lists/rust");
  server.append(account.user, "Lists/rust", make_message("rust-1"), {"\\Flagged"});

  const auto result = sync(account);
  ASSERT_EQ(result.exit_code, 0) << describe(result);
  const auto folder = account.maildir / "Lists" / "rust";
  for (const char* subdir : {"cur", "new", "tmp"}) {
    EXPECT_TRUE(fs::is_directory(folder / subdir)) << folder / subdir;
  }
  // Said as a folder created on the server is, under the folder's name
  // with the server's delimiter (Courier's is '.').
  EXPECT_TRUE(result.err.find("Lists/rust: created locally") != std::string::npos ||
              result.err.find("Lists.rust: created locally") != std::string::npos)
      << describe(result);
  const auto file = file_with_id(folder, "rust-1");
  ASSERT_TRUE(file.has_value());
  EXPECT_EQ(file->letters, "F");
  // The download is not sent back up, and the local parent directory
  // Lists/ (not a Maildir folder) does not become a server folder.
  EXPECT_EQ(server_ids(account.user, "Lists/rust"), std::vector<std::string>{"rust-1"});
  // Dovecot lists the parent Lists that CREATE Lists/rust implies (as
  // \Noselect); Courier lists only the mailboxes that were created.
  const auto expected = server.kind() == "courier"
                            ? std::vector<std::string>{"INBOX", "Lists/rust"}
                            : std::vector<std::string>{"INBOX", "Lists", "Lists/rust"};
  EXPECT_EQ(server.list_mailboxes(account.user), expected);
  EXPECT_FALSE(fs::exists(account.maildir / "Lists" / "cur"));

  expect_further_run_changes_nothing(account);
}

TEST(Both, FolderDeletedOnTheServerIsKeptLocally) {
  const auto& server = TestServer::instance();
  const auto account = make_two_way_account();
  server.create_mailbox(account.user, "Old");
  server.append(account.user, "Old", make_message("old-1"), {"\\Seen"});
  server.append(account.user, "Old", make_message("old-2"));
  const auto first = sync(account);
  ASSERT_EQ(first.exit_code, 0) << describe(first);
  const auto old = account.maildir / "Old";
  const auto files_before = local_files(old);
  ASSERT_EQ(files_before.size(), 2U);

  server.delete_mailbox(account.user, "Old");
  const auto result = sync(account);
  // A folder deleted on one side is never deleted on the other: every
  // local file is still there, unchanged.
  const auto files_after = local_files(old);
  ASSERT_EQ(files_after.size(), files_before.size()) << describe(result);
  for (std::size_t i = 0; i < files_after.size(); ++i) {
    EXPECT_EQ(files_after[i].path, files_before[i].path);
    EXPECT_EQ(files_after[i].content, files_before[i].content);
  }
  // Whatever the server gets back (the local-only folder is created there
  // again, create = yes), it never gets anything twice.
  const auto ids = server_ids(account.user, "Old");
  EXPECT_EQ(std::set<std::string>(ids.begin(), ids.end()).size(), ids.size()) << describe(result);

  expect_further_run_changes_nothing(account, Exit::Any);
  EXPECT_EQ(local_files(old).size(), 2U);
}

TEST(Both, PushModeSendsLocalChangesAndTakesNothingDown) {
  const auto& server = TestServer::instance();
  const auto account = make_two_way_account({"sync = push"});
  const auto inbox = make_local_folder(account.maildir / "INBOX");
  write_file(inbox / "cur" / "1600000071.read-later.host:2,", local_message("read-later"));
  write_file(inbox / "cur" / "1600000072.delete-me.host:2,S", local_message("delete-me"));
  write_file(inbox / "cur" / "1600000073.flag-on-server.host:2,S", local_message("flag-on-server"));
  write_file(inbox / "cur" / "1600000075.expunged.host:2,S", local_message("expunged"));
  const auto first = sync(account);
  ASSERT_EQ(first.exit_code, 0) << describe(first);
  ASSERT_EQ(server_ids(account.user, "INBOX"),
            (std::vector<std::string>{"delete-me", "expunged", "flag-on-server", "read-later"}));

  // Local changes: read a message, delete one, save a new one.
  fs::rename(inbox / "cur" / "1600000071.read-later.host:2,",
             inbox / "cur" / "1600000071.read-later.host:2,S");
  fs::remove(inbox / "cur" / "1600000072.delete-me.host:2,S");
  write_file(inbox / "new" / "1600000074.new-local.host", local_message("new-local"));
  // Server changes: new mail, a flag, an expunge.
  server.append(account.user, "INBOX", make_message("new-on-server"));
  const auto flag_on_server = server_copy(account.user, "INBOX", "flag-on-server");
  ASSERT_TRUE(flag_on_server.has_value());
  server.add_flags(account.user, "INBOX", flag_on_server->uid, {"\\Flagged"});
  const auto expunged = server_copy(account.user, "INBOX", "expunged");
  ASSERT_TRUE(expunged.has_value());
  server.expunge(account.user, "INBOX", expunged->uid);
  const auto local_before = local_files(inbox);

  const auto result = sync(account);
  ASSERT_EQ(result.exit_code, 0) << describe(result);
  // Up: the flag, the deletion, the new file. The expunged message is not
  // uploaded again either: push mode keeps the file but not as new mail.
  EXPECT_EQ(
      server_ids(account.user, "INBOX"),
      (std::vector<std::string>{"flag-on-server", "new-local", "new-on-server", "read-later"}));
  const auto read_later = server_copy(account.user, "INBOX", "read-later");
  ASSERT_TRUE(read_later.has_value());
  EXPECT_EQ(read_later->flags, std::vector<std::string>{"\\Seen"});
  // The server's own flag change stays there (push does not undo it).
  const auto flagged = server_copy(account.user, "INBOX", "flag-on-server");
  ASSERT_TRUE(flagged.has_value());
  EXPECT_EQ(flagged->flags, sorted({"\\Flagged", "\\Seen"}));
  // Down: nothing. Every local file is as it was: no new message, no F,
  // and the expunged message's file is still there.
  const auto local_after = local_files(inbox);
  ASSERT_EQ(local_after.size(), local_before.size());
  for (std::size_t i = 0; i < local_after.size(); ++i) {
    EXPECT_EQ(local_after[i].path, local_before[i].path);
  }
  EXPECT_TRUE(files_with_id(inbox, "new-on-server").empty());
  EXPECT_EQ(files_with_id(inbox, "expunged").size(), 1U);

  expect_further_run_changes_nothing(account);
}

TEST(Both, SecondRunRefusesWhileTheFirstHoldsTheLock) {
  const auto& server = TestServer::instance();
  const auto account = make_two_way_account();
  constexpr int k_messages = 2000;
  server.seed(account.user, {"--messages", std::to_string(k_messages), "--folders", "1"});

  // The first run in the background, its pid known so that the test can
  // tell when it holds the lock (it writes its pid into <state>/lock after
  // taking the flock; the state directory is new, so no old pid is there).
  const auto out_path = account.work / "first.out";
  const auto err_path = account.work / "first.err";
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, out_path.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, err_path.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0600);
  const std::string binary = roam_binary().string();
  const std::string config = account.config.string();
  std::vector<char*> argv{const_cast<char*>(binary.c_str()), const_cast<char*>("sync"),
                          const_cast<char*>("-c"), const_cast<char*>(config.c_str()), nullptr};
  pid_t pid = 0;
  ASSERT_EQ(::posix_spawn(&pid, binary.c_str(), &actions, nullptr, argv.data(), environ), 0);
  posix_spawn_file_actions_destroy(&actions);
  const std::string pid_text = std::to_string(pid);

  const auto lock_path = account.state / "lock";
  bool holds = false;
  bool exited = false;
  int status = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (std::chrono::steady_clock::now() < deadline) {
    if (read_file(lock_path) == pid_text + "\n") {
      holds = true;
      break;
    }
    if (::waitpid(pid, &status, WNOHANG) == pid) {
      exited = true;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  ProcessResult second;
  if (holds) {
    second = sync(account);
  }
  if (!exited) {
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  }
  ASSERT_TRUE(holds) << "the first run never showed its pid in " << lock_path << "\nstderr:\n"
                     << read_file(err_path);

  // The second run refuses, names the lock and its holder, and touches
  // nothing.
  EXPECT_NE(second.exit_code, 0) << describe(second);
  EXPECT_NE(second.err.find(lock_path.string()), std::string::npos) << describe(second);
  EXPECT_NE(second.err.find("pid " + pid_text), std::string::npos) << describe(second);

  // The first one finishes as if alone.
  ASSERT_TRUE(WIFEXITED(status)) << "status " << status;
  EXPECT_EQ(WEXITSTATUS(status), 0) << read_file(out_path) << read_file(err_path);
  EXPECT_EQ(local_files(account.maildir / "INBOX").size(), static_cast<std::size_t>(k_messages));
  EXPECT_EQ(server.list_uids_and_flags(account.user, "INBOX").size(),
            static_cast<std::size_t>(k_messages));

  expect_further_run_changes_nothing(account);
}

TEST(Both, DryRunWithALocalOnlyFolderChangesNothing) {
  const auto& server = TestServer::instance();
  const auto account = make_two_way_account();
  server.append(account.user, "INBOX", make_message("inbox"));
  const auto first = sync(account);
  ASSERT_EQ(first.exit_code, 0) << describe(first);
  // A folder the server does not have yet, with a message: a dry run must
  // say that it would create and fill it, and neither create it nor fail
  // on the mailbox that does not exist yet.
  const auto projects = make_local_folder(account.maildir / "Projects");
  write_file(projects / "new" / "1600000090.plan.host", local_message("plan"));

  const auto world_before = render_world(account);
  const auto state_before = state_contents(account.state);
  const auto dry = sync(account, {"--dry-run"});
  EXPECT_EQ(dry.exit_code, 0) << describe(dry);
  EXPECT_NE(dry.out.find("Projects: would create the folder on the server"), std::string::npos)
      << describe(dry);
  EXPECT_EQ(render_world(account), world_before) << "--dry-run changed a side";
  EXPECT_EQ(state_contents(account.state), state_before) << "--dry-run changed the state";

  const auto real = sync(account);
  ASSERT_EQ(real.exit_code, 0) << describe(real);
  EXPECT_EQ(server_ids(account.user, "Projects"), std::vector<std::string>{"plan"});
  expect_further_run_changes_nothing(account);
}

TEST(Both, DryRunListsTheTwoWayPlanAndChangesNothing) {
  const auto& server = TestServer::instance();
  const auto account = make_two_way_account();
  server.append(account.user, "INBOX", make_message("read-me"));
  const auto uid_delete = server.append(account.user, "INBOX", make_message("delete-locally"));
  const auto uid_expunge = server.append(account.user, "INBOX", make_message("expunge-on-server"));
  const auto first = sync(account);
  ASSERT_EQ(first.exit_code, 0) << describe(first);
  const auto inbox = account.maildir / "INBOX";

  // Work in both directions.
  const auto read_me = file_with_id(inbox, "read-me");
  ASSERT_TRUE(read_me.has_value());
  set_local_letters(*read_me, "S");
  const auto delete_locally = file_with_id(inbox, "delete-locally");
  ASSERT_TRUE(delete_locally.has_value());
  fs::remove(delete_locally->path);
  const std::string upload_name = "1600000080.upload.host";
  write_file(inbox / "new" / upload_name, local_message("upload"));
  const auto expunged = file_with_id(inbox, "expunge-on-server");
  ASSERT_TRUE(expunged.has_value());
  server.expunge(account.user, "INBOX", uid_expunge);
  const auto uid_download = server.append(account.user, "INBOX", make_message("download"));

  const auto world_before = render_world(account);
  const auto state_before = state_contents(account.state);
  const auto dry = sync(account, {"--dry-run"});
  EXPECT_EQ(dry.exit_code, 0) << describe(dry);
  for (const auto& line :
       {"upload " + upload_name, "expunge uid " + std::to_string(uid_delete) + " on the server",
        "download uid " + std::to_string(uid_download), "delete " + expunged->stable_name,
        std::string("server flags uid ")}) {
    EXPECT_NE(dry.out.find(line), std::string::npos) << line << "\n" << describe(dry);
  }
  EXPECT_EQ(render_world(account), world_before) << "--dry-run changed a side";
  EXPECT_EQ(state_contents(account.state), state_before) << "--dry-run changed the state";

  // The real run does what was announced.
  const auto real = sync(account);
  ASSERT_EQ(real.exit_code, 0) << describe(real);
  const std::vector<std::string> all{"download", "read-me", "upload"};
  EXPECT_EQ(server_ids(account.user, "INBOX"), all);
  EXPECT_EQ(local_ids(inbox), all);
  const auto read_copy = server_copy(account.user, "INBOX", "read-me");
  ASSERT_TRUE(read_copy.has_value());
  EXPECT_EQ(read_copy->flags, std::vector<std::string>{"\\Seen"});

  expect_further_run_changes_nothing(account);
}

// --- The account summary (state/summary.hpp) ---

// Sets the mtime of every cur/ and new/ an hour back, as if the run had
// happened that long ago: roam records a directory in its summary only when
// its last change is older than a file system's timestamp granularity.
void age_maildir(const fs::path& maildir) {
  auto back = std::chrono::system_clock::now() - std::chrono::hours(1);
  struct timespec times[2] = {{0, UTIME_OMIT}, {std::chrono::system_clock::to_time_t(back), 0}};
  for (const auto& e : fs::recursive_directory_iterator(maildir)) {
    auto leaf = e.path().filename();
    if (e.is_directory() && (leaf == "cur" || leaf == "new")) {
      ASSERT_EQ(::utimensat(AT_FDCWD, e.path().c_str(), times, 0), 0) << e.path();
    }
  }
}

// Rewrites a file in place (same inode, same size) and puts its mtime back:
// to stat(2) it is the file it was.
void overwrite_keeping_stamp(const fs::path& path, const std::string& text) {
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  ASSERT_EQ(text.size(), static_cast<std::size_t>(st.st_size));
  {
    std::fstream out(path, std::ios::in | std::ios::out | std::ios::binary);
    out.write(text.data(), static_cast<std::streamsize>(text.size()));
  }
  struct timespec times[2] = {{0, UTIME_OMIT}, st.st_mtim};
  ASSERT_EQ(::utimensat(AT_FDCWD, path.c_str(), times, 0), 0);
}

// Syncs `account` twice, its Maildir aged between the runs so that the
// second run's summary can record every folder as settled, and returns
// that summary. The caller checks HasFailure() before relying on it.
nlohmann::json settled_summary(const Account& account) {
  const auto first = sync(account);
  EXPECT_EQ(first.exit_code, 0) << describe(first);
  age_maildir(account.maildir);
  const auto second = sync(account);
  EXPECT_EQ(second.exit_code, 0) << describe(second);
  return nlohmann::json::parse(read_file(account.state / "summary.json"));
}

// Whether the --debug=imap trace `err` shows roam sending "STATUS <box> (".
// (No std::regex: GCC 12 warns about its internals at -O2 with sanitizers.)
bool sent_status(const std::string& err, const std::string& box) {
  const std::string command = " STATUS " + box + " (";
  std::size_t start = 0;
  while (start < err.size()) {
    std::size_t end = err.find('\n', start);
    if (end == std::string::npos) {
      end = err.size();
    }
    std::string_view line(err.data() + start, end - start);
    std::size_t sent = line.find("C: r");
    if (sent != std::string_view::npos) {
      std::size_t tag_end = line.find(' ', sent + 3);
      if (tag_end != std::string_view::npos && line.substr(tag_end).rfind(command, 0) == 0) {
        return true;
      }
    }
    start = end + 1;
  }
  return false;
}

// A run after a run with nothing to do skips the unchanged folders on the
// word of the summary, without reading their state (here damaged behind
// roam's back, which a read would report); any change on either side still
// reaches the other.
TEST(Both, UnchangedFoldersAreSkippedWithoutReadingTheirState) {
  const auto& server = TestServer::instance();
  const auto account = make_two_way_account();
  server.create_mailbox(account.user, "Work");
  server.append(account.user, "INBOX", make_message("a"), {"\\Seen"});
  server.append(account.user, "INBOX", make_message("b"));
  const auto w = server.append(account.user, "Work", make_message("w"), {"\\Seen"});
  const auto summary = settled_summary(account);
  ASSERT_FALSE(HasFailure());
  ASSERT_TRUE(summary["folders"].contains("INBOX")) << summary.dump(1);
  ASSERT_TRUE(summary["folders"].contains("Work")) << summary.dump(1);

  const auto inbox_state = account.state / "folder-INBOX.json";
  const std::string saved = read_file(inbox_state);
  overwrite_keeping_stamp(inbox_state, std::string(saved.size(), '#'));
  // A folder new on the server since: the summary does not name it.
  server.create_mailbox(account.user, "New");
  server.append(account.user, "New", make_message("n"));
  const auto third = sync(account, {"-v", "--debug=imap"});
  EXPECT_EQ(third.exit_code, 0) << "the damaged state must not have been read\n" << describe(third);
  EXPECT_TRUE(third.out.find("INBOX: unchanged") != std::string::npos) << describe(third);
  EXPECT_TRUE(third.out.find("Work: unchanged") != std::string::npos) << describe(third);
  // The folders the summary names get a STATUS each with the LIST, not
  // LIST-STATUS (which Dovecot answers by rescanning each folder); the new
  // one gets its own STATUS after the LIST, and is synced.
  EXPECT_EQ(third.err.find("RETURN (SPECIAL-USE STATUS"), std::string::npos) << describe(third);
  EXPECT_EQ(third.err.find("RETURN (STATUS"), std::string::npos) << describe(third);
  for (const char* box : {"INBOX", "Work", "New"}) {
    EXPECT_TRUE(sent_status(third.err, box)) << box << "\n" << describe(third);
  }
  EXPECT_TRUE(file_with_id(account.maildir / "New", "n").has_value()) << describe(third);
  overwrite_keeping_stamp(inbox_state, saved);

  // A local flag change: cur/ changes, so INBOX is checked in full.
  const auto b = file_with_id(account.maildir / "INBOX", "b");
  ASSERT_TRUE(b.has_value());
  fs::rename(b->path, account.maildir / "INBOX" / "cur" / (b->stable_name + ":2,F"));
  // A server flag change: Work's HIGHESTMODSEQ changes.
  server.add_flags(account.user, "Work", w, {"\\Flagged"});
  const auto fourth = sync(account);
  EXPECT_EQ(fourth.exit_code, 0) << describe(fourth);
  auto b_copy = server_copy(account.user, "INBOX", "b");
  ASSERT_TRUE(b_copy.has_value());
  EXPECT_EQ(b_copy->flags, std::vector<std::string>{"\\Flagged"});
  const auto w_file = file_with_id(account.maildir / "Work", "w");
  ASSERT_TRUE(w_file.has_value());
  EXPECT_EQ(w_file->letters, "FS");

  // The changed folders keep entries that ask the next run to check the
  // listing (their directories changed too recently for the stamps alone),
  // so the next run still asks for their STATUS ahead of the LIST.
  const auto after_change = nlohmann::json::parse(read_file(account.state / "summary.json"));
  ASSERT_TRUE(after_change["folders"].contains("INBOX")) << after_change.dump(1);
  EXPECT_TRUE(after_change["folders"]["INBOX"].contains("verify")) << after_change.dump(1);
  const auto fifth = sync(account, {"--debug=imap"});
  EXPECT_EQ(fifth.exit_code, 0) << describe(fifth);
  EXPECT_TRUE(sent_status(fifth.err, "INBOX")) << describe(fifth);
  EXPECT_EQ(fifth.err.find("RETURN (SPECIAL-USE STATUS"), std::string::npos) << describe(fifth);

  expect_further_run_changes_nothing(account);
}

// The folders whose Maildir changed since the summary was written are read
// while the server answers the first LIST (EarlyReads in sync/account.cpp); one the
// server no longer lists is read for nothing and left alone, one whose
// Maildir did not change waits for its STATUS. Every change still reaches
// the other side.
TEST(Both, FoldersChangedLocallyAreReadWhileTheServerLists) {
  const auto& server = TestServer::instance();
  const auto account = make_two_way_account();
  for (const char* box : {"Work", "Other", "Gone"}) {
    server.create_mailbox(account.user, box);
  }
  server.append(account.user, "INBOX", make_message("a"), {"\\Seen"});
  server.append(account.user, "Work", make_message("w"), {"\\Seen"});
  const auto o = server.append(account.user, "Other", make_message("o"), {"\\Seen"});
  server.append(account.user, "Gone", make_message("g"), {"\\Seen"});
  const auto summary = settled_summary(account);
  ASSERT_FALSE(HasFailure());
  ASSERT_TRUE(summary["folders"].contains("Work")) << summary.dump(1);
  EXPECT_TRUE(summary["folders"]["Work"].contains("delimiter")) << summary.dump(1);

  // INBOX: a local flag; Work: a new local file; Gone: a local flag, and
  // the folder deleted on the server; Other: a flag on the server only.
  const auto a = file_with_id(account.maildir / "INBOX", "a");
  ASSERT_TRUE(a.has_value());
  set_local_letters(*a, "FS");
  write_file(account.maildir / "Work" / "new" / "1600000003.M3P3.host", make_message("w2"));
  const auto g = file_with_id(account.maildir / "Gone", "g");
  ASSERT_TRUE(g.has_value());
  set_local_letters(*g, "FS");
  server.delete_mailbox(account.user, "Gone");
  server.add_flags(account.user, "Other", o, {"\\Flagged"});

  const auto third = sync(account, {"--debug=sync"});
  ASSERT_EQ(third.exit_code, 0) << describe(third);
  // Courier offers no CONDSTORE, so its summary settles no folder and
  // every folder it lists is read whatever its stamps say.
  const bool condstore = server.kind() != "courier";
  const std::string early =
      "of 3 folders (" + std::string(condstore ? "2" : "3") + " read while the server answered)";
  EXPECT_NE(third.err.find(early), std::string::npos) << early << "\n" << describe(third);

  const auto a_copy = server_copy(account.user, "INBOX", "a");
  ASSERT_TRUE(a_copy.has_value());
  EXPECT_EQ(a_copy->flags, (std::vector<std::string>{"\\Flagged", "\\Seen"}));
  EXPECT_EQ(sorted(server_ids(account.user, "Work")), (std::vector<std::string>{"w", "w2"}));
  const auto o_file = file_with_id(account.maildir / "Other", "o");
  ASSERT_TRUE(o_file.has_value());
  EXPECT_EQ(o_file->letters, "FS");
  // The folder gone from the server keeps its local copy, as it was.
  const auto g_after = file_with_id(account.maildir / "Gone", "g");
  ASSERT_TRUE(g_after.has_value()) << describe(third);
  EXPECT_EQ(g_after->letters, "FS");
  expect_further_run_changes_nothing(account);
}

// A run after a run that completed asks only for what changed since
// (CONDSTORE CHANGEDSINCE, and a UID SEARCH for what is still there), and
// ends exactly where a full listing would have.
TEST(Both, ARunListsOnlyTheServerChangesSinceTheLastRun) {
  const auto& server = TestServer::instance();
  const auto account = make_two_way_account();
  for (const char* id : {"a", "b", "c", "d", "e"}) {
    server.append(account.user, "INBOX", make_message(id), {"\\Seen"});
  }
  const auto first = sync(account);
  ASSERT_EQ(first.exit_code, 0) << describe(first);

  // The server: a flag added, one removed, an expunge, new mail. Locally:
  // a flag added.
  const auto a = server_copy(account.user, "INBOX", "a");
  const auto b = server_copy(account.user, "INBOX", "b");
  const auto c = server_copy(account.user, "INBOX", "c");
  ASSERT_TRUE(a && b && c);
  server.add_flags(account.user, "INBOX", a->uid, {"\\Flagged"});
  server.remove_flags(account.user, "INBOX", b->uid, {"\\Seen"});
  server.expunge(account.user, "INBOX", c->uid);
  server.append(account.user, "INBOX", make_message("f"));
  const auto d = file_with_id(account.maildir / "INBOX", "d");
  ASSERT_TRUE(d.has_value());
  fs::rename(d->path, account.maildir / "INBOX" / "cur" / (d->stable_name + ":2,FS"));

  const auto second = sync(account, {"-v", "--debug=imap"});
  ASSERT_EQ(second.exit_code, 0) << describe(second);
  const bool condstore = server.kind() != "courier";
  EXPECT_EQ(second.err.find("changed since the last run") != std::string::npos, condstore)
      << describe(second);
  // One search for what is still there: the one pipelined behind the
  // SELECT is used, not sent again.
  std::size_t searches = 0;
  for (auto at = second.err.find(" UID SEARCH "); at != std::string::npos;
       at = second.err.find(" UID SEARCH ", at + 1)) {
    ++searches;
  }
  EXPECT_EQ(searches, condstore ? 1u : 0u) << describe(second);
  const auto inbox = account.maildir / "INBOX";
  std::map<std::string, std::string> letters;
  for (const char* id : {"a", "b", "d", "e", "f"}) {
    const auto file = file_with_id(inbox, id);
    ASSERT_TRUE(file.has_value()) << id << "\n" << describe(second);
    letters[id] = file->letters;
  }
  EXPECT_TRUE(files_with_id(inbox, "c").empty()) << describe(second);
  EXPECT_EQ(letters, (std::map<std::string, std::string>{
                         {"a", "FS"}, {"b", ""}, {"d", "FS"}, {"e", "S"}, {"f", ""}}));
  const auto d_copy = server_copy(account.user, "INBOX", "d");
  ASSERT_TRUE(d_copy.has_value());
  EXPECT_EQ(d_copy->flags, (std::vector<std::string>{"\\Flagged", "\\Seen"}));
  expect_further_run_changes_nothing(account);
}

// A push-only run records the local flags, not the server's; the two-way
// run after it must list every message's flags, or it would take the
// record for the server's flags and undo a server change.
TEST(Both, ATwoWayRunAfterAPushRunListsEveryMessage) {
  const auto& server = TestServer::instance();
  const auto account = make_two_way_account();
  server.append(account.user, "INBOX", make_message("a"), {"\\Seen"});
  server.append(account.user, "INBOX", make_message("b"), {"\\Seen"});
  const auto first = sync(account);
  ASSERT_EQ(first.exit_code, 0) << describe(first);
  const auto a = server_copy(account.user, "INBOX", "a");
  ASSERT_TRUE(a.has_value());
  server.add_flags(account.user, "INBOX", a->uid, {"\\Flagged"});

  server.write_config(account.config, account.user, {"sync = push"});
  const auto pushed = sync(account);
  ASSERT_EQ(pushed.exit_code, 0) << describe(pushed);
  server.write_config(account.config, account.user, {"sync = both"});
  // A local change, so that the folder is not skipped as unchanged.
  const auto b = file_with_id(account.maildir / "INBOX", "b");
  ASSERT_TRUE(b.has_value());
  fs::rename(b->path, account.maildir / "INBOX" / "cur" / (b->stable_name + ":2,RS"));
  const auto both = sync(account, {"-v"});
  ASSERT_EQ(both.exit_code, 0) << describe(both);
  EXPECT_EQ(both.err.find("changed since the last run"), std::string::npos) << describe(both);
  const auto a_copy = server_copy(account.user, "INBOX", "a");
  ASSERT_TRUE(a_copy.has_value());
  EXPECT_EQ(a_copy->flags, (std::vector<std::string>{"\\Flagged", "\\Seen"})) << describe(both);
  const auto a_file = file_with_id(account.maildir / "INBOX", "a");
  ASSERT_TRUE(a_file.has_value());
  EXPECT_EQ(a_file->letters, "FS") << describe(both);
  expect_further_run_changes_nothing(account);
}

}  // namespace
}  // namespace roam::it
