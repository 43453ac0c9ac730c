// End-to-end tests of what `roam sync` shows and runs around a sync: the
// --json document, the hooks, the progress line (only on a terminal) and
// several accounts side by side (--jobs), against the private Dovecot.

#include <algorithm>
#include <filesystem>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "dovecot.hpp"
#include "maildir_helpers.hpp"

namespace roam::it {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// Every message file under a Maildir tree.
std::size_t count_message_files(const fs::path& maildir) {
  std::size_t n = 0;
  if (!fs::exists(maildir)) {
    return 0;
  }
  for (const auto& e : fs::recursive_directory_iterator(maildir)) {
    auto dir = e.path().parent_path().filename();
    if (e.is_regular_file() && (dir == "cur" || dir == "new")) {
      ++n;
    }
  }
  return n;
}

// The variables roam sets for hooks, from the lines "NAME=value" of an
// `env` dump (the test's own ROAM_BINARY and the like are left out).
std::map<std::string, std::string> roam_variables(const std::string& dump) {
  const std::vector<std::string> names{"ROAM_HOOK",          "ROAM_ACCOUNT",
                                       "ROAM_STATUS",        "ROAM_LOCAL_NEW",
                                       "ROAM_LOCAL_CHANGED", "ROAM_SERVER_CHANGED"};
  std::map<std::string, std::string> out;
  std::istringstream lines(dump);
  std::string line;
  while (std::getline(lines, line)) {
    auto equals = line.find('=');
    auto name = line.substr(0, equals);
    if (equals != std::string::npos && std::find(names.begin(), names.end(), name) != names.end()) {
      out[name] = line.substr(equals + 1);
    }
  }
  return out;
}

// The lines of a second account "b" in the same config file: a user,
// Maildir and state of its own.
std::vector<std::string> second_account(const Account& a, const std::string& user) {
  const auto& server = TestServer::instance();
  return {"[account.b]",
          "host = " + server.host(),
          "port = " + server.env("IMAP_PORT"),
          "tls = none",
          "allow_plaintext = yes",
          "user = " + user,
          "password = " + server.password(),
          "maildir = " + (a.work / "MailB").string(),
          "state_dir = " + (a.work / "stateB").string(),
          "sync = pull"};
}

TEST(Json, CountsWhatTheRunDid) {
  const auto& server = TestServer::instance();
  auto account = fresh_account();
  server.seed(account.user, {"--messages", "30", "--folders", "3"});
  server.write_config(account.config, account.user);

  auto first = sync(account, {"--json"});
  ASSERT_EQ(first.exit_code, 0) << describe(first);
  // stdout is the document and nothing else.
  json doc = json::parse(first.out);
  EXPECT_EQ(doc.at("version"), 1);
  EXPECT_EQ(doc.at("command"), "sync");
  EXPECT_EQ(doc.at("exit_status"), 0);
  EXPECT_EQ(doc.at("dry_run"), false);
  EXPECT_EQ(doc.at("error"), nullptr);
  EXPECT_GT(doc.at("seconds").get<double>(), 0.0);
  ASSERT_EQ(doc.at("accounts").size(), 1u);
  const json& a = doc.at("accounts")[0];
  EXPECT_EQ(a.at("name"), "test");
  EXPECT_EQ(a.at("ok"), true);
  EXPECT_EQ(a.at("errors"), json::array());
  EXPECT_EQ(a.at("totals").at("folders"), 3);
  EXPECT_EQ(a.at("totals").at("downloaded"), 30);
  EXPECT_EQ(a.at("totals").at("uploaded"), 0);
  EXPECT_GT(a.at("totals").at("bytes").get<std::uint64_t>(), 30u * 100u);
  std::size_t per_folder = 0;
  std::uint64_t bytes = 0;
  for (const auto& f : a.at("folders")) {
    per_folder += f.at("downloaded").get<std::size_t>();
    bytes += f.at("bytes").get<std::uint64_t>();
    EXPECT_EQ(f.at("error"), nullptr);
  }
  EXPECT_EQ(per_folder, 30u);
  EXPECT_EQ(bytes, a.at("totals").at("bytes").get<std::uint64_t>());
  EXPECT_EQ(count_message_files(account.maildir), 30u);

  // A new message on the server; the next run says just that.
  server.append(account.user, "INBOX", make_message("json-new"));
  auto second = sync(account, {"--json"});
  ASSERT_EQ(second.exit_code, 0) << describe(second);
  json again = json::parse(second.out);
  const json& b = again.at("accounts")[0];
  EXPECT_EQ(b.at("totals").at("downloaded"), 1);
  EXPECT_EQ(b.at("totals").at("folders_unchanged"), 2);
}

TEST(Json, FolderErrorsCarryTheirScope) {
  const auto& server = TestServer::instance();
  auto account = make_account({"sync = both"});
  server.create_mailbox(account.user, "Box");
  server.append(account.user, "Box", make_message("j1"));
  ASSERT_EQ(sync(account).exit_code, 0);
  // A local file that is no message cannot be uploaded: a problem of one
  // message, the folder syncs otherwise.
  write_file(account.maildir / "Box" / "cur" / "broken:2,", "");
  auto result = sync(account, {"--json"});
  EXPECT_EQ(result.exit_code, 1) << describe(result);
  json doc = json::parse(result.out);
  EXPECT_EQ(doc.at("exit_status"), 1);
  const json& a = doc.at("accounts")[0];
  EXPECT_EQ(a.at("ok"), false);
  ASSERT_FALSE(a.at("errors").empty()) << a.dump(2);
  EXPECT_EQ(a.at("errors")[0].at("scope"), "message");
  EXPECT_EQ(a.at("errors")[0].at("folder"), "Box");
  // Errors still go to stderr.
  EXPECT_NE(result.err.find("roam: error: test: Box:"), std::string::npos) << result.err;
}

TEST(Json, ABadConfigStillPrintsOneDocument) {
  auto account = make_account({"timeout = soon"});
  auto result = sync(account, {"--json"});
  EXPECT_EQ(result.exit_code, 2);
  json doc = json::parse(result.out);
  EXPECT_EQ(doc.at("exit_status"), 2);
  EXPECT_EQ(doc.at("error").at("scope"), "usage");
  EXPECT_NE(doc.at("error").at("message").get<std::string>().find("timeout"), std::string::npos);
  EXPECT_NE(result.err.find("timeout"), std::string::npos);
}

TEST(Hooks, PostHookSeesTheCountsAndNoPassword) {
  const auto& server = TestServer::instance();
  auto account = fresh_account();
  const auto dump = account.work / "post.env";
  const auto pre_dump = account.work / "pre.env";
  server.write_config(account.config, account.user,
                      {"sync = both", "pre_sync_cmd = env > " + pre_dump.string(),
                       "post_sync_cmd = env > " + dump.string()});
  server.append(account.user, "INBOX", make_message("h1"));
  server.append(account.user, "INBOX", make_message("h2"));
  auto first = sync(account);
  ASSERT_EQ(first.exit_code, 0) << describe(first);
  EXPECT_EQ(roam_variables(read_file(dump)), (std::map<std::string, std::string>{
                                                 {"ROAM_ACCOUNT", "test"},
                                                 {"ROAM_HOOK", "post_sync_cmd"},
                                                 {"ROAM_LOCAL_CHANGED", "0"},
                                                 {"ROAM_LOCAL_NEW", "2"},
                                                 {"ROAM_SERVER_CHANGED", "0"},
                                                 {"ROAM_STATUS", "ok"},
                                             }));
  EXPECT_EQ(roam_variables(read_file(pre_dump)),
            (std::map<std::string, std::string>{{"ROAM_ACCOUNT", "test"},
                                                {"ROAM_HOOK", "pre_sync_cmd"}}));
  // The password is in the config, never in a hook's environment.
  for (const auto& file : {dump, pre_dump}) {
    EXPECT_EQ(read_file(file).find("=" + server.password() + "\n"), std::string::npos);
  }

  // A local flag change and a new local message go to the server.
  auto files = local_files(account.maildir / "INBOX");
  ASSERT_EQ(files.size(), 2u);
  set_local_letters(files[0], "S");
  write_file(account.maildir / "INBOX" / "cur" / "local-1:2,", make_message("local-1"));
  auto second = sync(account);
  ASSERT_EQ(second.exit_code, 0) << describe(second);
  auto vars = roam_variables(read_file(dump));
  EXPECT_EQ(vars["ROAM_LOCAL_NEW"], "0");
  EXPECT_EQ(vars["ROAM_SERVER_CHANGED"], "2");
}

TEST(Hooks, AFailingPreHookSkipsTheAccount) {
  const auto& server = TestServer::instance();
  auto account = fresh_account();
  server.write_config(account.config, account.user,
                      {"pre_sync_cmd = echo 'no tunnel'; exit 4",
                       "post_sync_cmd = touch " + (account.work / "post-ran").string()});
  server.append(account.user, "INBOX", make_message("p1"));
  auto result = sync(account, {"--json"});
  EXPECT_EQ(result.exit_code, 1) << describe(result);
  EXPECT_NE(result.err.find("pre_sync_cmd of account test failed with exit status 4; its output "
                            "ended: no tunnel; the account was not synced"),
            std::string::npos)
      << result.err;
  EXPECT_EQ(count_message_files(account.maildir), 0u);
  json doc = json::parse(result.out);
  const json& a = doc.at("accounts")[0];
  EXPECT_EQ(a.at("hooks").at("pre_sync_cmd").at("exit_code"), 4);
  EXPECT_EQ(a.at("hooks").at("post_sync_cmd"), nullptr);
  EXPECT_EQ(a.at("errors")[0].at("hook"), "pre_sync_cmd");
  EXPECT_FALSE(fs::exists(account.work / "post-ran"));
}

TEST(Hooks, AFailingPostHookIsReportedAndTheSyncStays) {
  const auto& server = TestServer::instance();
  auto account = make_account({"post_sync_cmd = echo 'database locked' >&2; exit 3"});
  server.append(account.user, "INBOX", make_message("f1"));
  auto result = sync(account);
  EXPECT_EQ(result.exit_code, 1) << describe(result);
  EXPECT_NE(result.err.find("roam: error: test: post_sync_cmd of account test failed with exit "
                            "status 3; its output ended: database locked"),
            std::string::npos)
      << result.err;
  EXPECT_EQ(count_message_files(account.maildir), 1u);
  // The summary still says what was synced.
  EXPECT_NE(result.out.find("local: 1 new"), std::string::npos) << result.out;
  // Nothing left to do: the next run (without the failing hook's effect on
  // the sync) finds everything in place.
  auto again = sync(account, {"--json"});
  EXPECT_EQ(json::parse(again.out).at("accounts")[0].at("totals").at("downloaded"), 0);
}

TEST(Hooks, AHookOverItsTimeoutIsKilled) {
  auto account = make_account({"timeout = 1", "post_sync_cmd = sleep 30"});
  auto start = std::chrono::steady_clock::now();
  auto result = sync(account);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(15));
  EXPECT_EQ(result.exit_code, 1) << describe(result);
  EXPECT_NE(
      result.err.find("did not finish within the account's timeout of 1 s, so roam killed it"),
      std::string::npos)
      << result.err;
}

TEST(Hooks, NotRunInADryRun) {
  auto account = fresh_account();
  TestServer::instance().write_config(
      account.config, account.user,
      {"pre_sync_cmd = touch " + (account.work / "pre-ran").string(),
       "post_sync_cmd = touch " + (account.work / "post-ran").string()});
  auto result = sync(account, {"--dry-run"});
  EXPECT_EQ(result.exit_code, 0) << describe(result);
  EXPECT_FALSE(fs::exists(account.work / "pre-ran"));
  EXPECT_FALSE(fs::exists(account.work / "post-ran"));
  // And a real run does run them.
  ASSERT_EQ(sync(account).exit_code, 0);
  EXPECT_TRUE(fs::exists(account.work / "pre-ran"));
  EXPECT_TRUE(fs::exists(account.work / "post-ran"));
}

TEST(Progress, NothingWhenStderrIsNotATerminal) {
  const auto& server = TestServer::instance();
  auto account = fresh_account();
  server.seed(account.user, {"--messages", "20", "--folders", "2"});
  server.write_config(account.config, account.user);
  auto first = sync(account);
  ASSERT_EQ(first.exit_code, 0) << describe(first);
  // The first run has notes to make (folders created locally), but no
  // progress line: no carriage return, no escape sequence.
  EXPECT_EQ(first.err.find('\r'), std::string::npos) << first.err;
  EXPECT_EQ(first.err.find('\x1b'), std::string::npos) << first.err;
  // Under cron: nothing at all on stderr for a run that went well.
  server.append(account.user, "INBOX", make_message("cron-1"));
  auto second = sync(account);
  ASSERT_EQ(second.exit_code, 0) << describe(second);
  EXPECT_EQ(second.err, "");
  EXPECT_NE(second.out.find("local: 1 new"), std::string::npos) << second.out;
}

// Runs roam under script(1), whose pseudo-terminal is roam's stdout and
// stderr; returns what the terminal received.
ProcessResult run_on_terminal(const Account& account, const std::string& extra) {
  std::string command = roam_binary().string() + " sync -c " + account.config.string() + extra;
  return run_process({"script", "-q", "-e", "-c", command, "/dev/null"});
}

TEST(Progress, ALineOnATerminalAndNoneWithQuiet) {
  if (run_process({"sh", "-c", "command -v script"}).exit_code != 0) {
    GTEST_SKIP() << "script(1) (util-linux) is not installed";
  }
  const auto& server = TestServer::instance();
  auto account = fresh_account();
  server.seed(account.user, {"--messages", "20", "--folders", "2"});
  server.write_config(account.config, account.user);
  auto shown = run_on_terminal(account, "");
  ASSERT_EQ(shown.exit_code, 0) << describe(shown);
  // The account's line, redrawn in place, then erased before the summary.
  EXPECT_NE(shown.out.find("\r\x1b[Ktest: "), std::string::npos) << shown.out;
  EXPECT_NE(shown.out.find("\x1b[J"), std::string::npos) << shown.out;
  EXPECT_NE(shown.out.find("test: 2 folders"), std::string::npos) << shown.out;

  server.append(account.user, "INBOX", make_message("quiet-1"));
  auto quiet = run_on_terminal(account, " -q");
  ASSERT_EQ(quiet.exit_code, 0) << describe(quiet);
  EXPECT_EQ(quiet.out, "");
}

TEST(Jobs, AccountsSideBySideReportInConfigOrder) {
  const auto& server = TestServer::instance();
  auto account = fresh_account();
  const auto other = server.fresh_user("b");
  server.seed(account.user, {"--messages", "12", "--folders", "2"});
  server.seed(other, {"--messages", "7", "--folders", "1"});
  server.write_config(account.config, account.user, second_account(account, other));

  auto result = sync(account, {"-j", "2", "--json"});
  ASSERT_EQ(result.exit_code, 0) << describe(result);
  json doc = json::parse(result.out);
  ASSERT_EQ(doc.at("accounts").size(), 2u);
  EXPECT_EQ(doc.at("accounts")[0].at("name"), "test");
  EXPECT_EQ(doc.at("accounts")[0].at("totals").at("downloaded"), 12);
  EXPECT_EQ(doc.at("accounts")[1].at("name"), "b");
  EXPECT_EQ(doc.at("accounts")[1].at("totals").at("downloaded"), 7);
  EXPECT_EQ(count_message_files(account.maildir), 12u);
  EXPECT_EQ(count_message_files(account.work / "MailB"), 7u);

  // The human summary: one line per account, in config order.
  server.append(other, "INBOX", make_message("jobs-b"));
  auto human = sync(account);
  ASSERT_EQ(human.exit_code, 0) << describe(human);
  auto test_line = human.out.find("test: ");
  auto b_line = human.out.find("\nb: ");
  ASSERT_NE(test_line, std::string::npos) << human.out;
  ASSERT_NE(b_line, std::string::npos) << human.out;
  EXPECT_LT(test_line, b_line);
  EXPECT_NE(human.out.find("b: 1 folders (0 unchanged, 0 failed); local: 1 new"), std::string::npos)
      << human.out;
}

TEST(Jobs, OneAccountFailingLeavesTheOtherAndExitsOne) {
  const auto& server = TestServer::instance();
  auto account = fresh_account();
  const auto other = server.fresh_user("b");
  server.append(other, "INBOX", make_message("ok-b"));
  // Account test cannot log in; b can.
  server.write_config(account.config, account.user, second_account(account, other));
  {
    auto text = read_file(account.config);
    auto at = text.find("password = " + server.password());
    text.replace(at, ("password = " + server.password()).size(), "password = wrong");
    write_file(account.config, text);
    fs::permissions(account.config, fs::perms::owner_read | fs::perms::owner_write);
  }
  auto result = sync(account, {"--json"});
  EXPECT_EQ(result.exit_code, 1) << describe(result);
  json doc = json::parse(result.out);
  EXPECT_EQ(doc.at("accounts")[0].at("ok"), false);
  EXPECT_EQ(doc.at("accounts")[0].at("errors")[0].at("scope"), "account");
  EXPECT_EQ(doc.at("accounts")[1].at("ok"), true);
  EXPECT_EQ(count_message_files(account.work / "MailB"), 1u);
}

TEST(Jobs, ZeroIsABadValue) {
  auto account = make_account();
  auto result = sync(account, {"-j", "0"});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_NE(result.err.find("--jobs must be a number from 1 to 64"), std::string::npos)
      << result.err;
}

// The lines of `text`, without their newlines.
std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    out.push_back(line);
  }
  return out;
}

TEST(List, MarksSpecialUseFoldersAndSaysHowToLeaveOutAll) {
  const auto& server = TestServer::instance();
  if (!server.is_dovecot()) {
    GTEST_SKIP() << "the special-use folders are configured in tests/dovecot/dovecot-ctl";
  }
  const auto user = server.fresh_user();
  // Dovecot gives these names their special use (\Trash, \Junk, \Sent,
  // \All) as soon as they exist; Archive is an ordinary folder.
  for (const char* mailbox : {"Trash", "Junk", "Sent", "All Mail", "Archive"}) {
    server.create_mailbox(user, mailbox);
  }
  const auto config = server.work_dir(user) / "roam.conf";
  server.write_config(config, user, {"folders = * !Junk"});
  const auto result = run_roam({"list", "-c", config.string(), "test"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const auto lines = lines_of(result.out);
  const std::vector<std::string> expected{
      "* All Mail  \\All (a second copy of every message; leave it out with folders = ... "
      "!\"All Mail\")",
      "* Archive",
      "* INBOX",
      "  Junk  \\Junk",
      "* Sent  \\Sent",
      "* Trash  \\Trash",
  };
  EXPECT_EQ(lines, expected) << result.out;

  // Once left out, the folder keeps its mark and loses the advice.
  server.write_config(config, user, {"folders = * !Junk !\"All Mail\""});
  const auto again = run_roam({"list", "-c", config.string(), "test"});
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_EQ(lines_of(again.out).front(), "  All Mail  \\All") << again.out;
}

}  // namespace
}  // namespace roam::it
