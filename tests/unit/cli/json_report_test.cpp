#include "cli/json_report.hpp"
#include "fakes/case_name.hpp"

#include <gtest/gtest.h>

#include <signal.h>
#include <cctype>

#include <string>
#include <vector>

namespace roam::cli {
namespace {

using fakes::case_name;

using nlohmann::json;

sync::FolderReport folder(std::string name) {
  sync::FolderReport f;
  f.name = std::move(name);
  return f;
}

HookResult hook_exit(int code, std::string output = {}) {
  HookResult r;
  r.exit_code = code;
  r.output = std::move(output);
  r.seconds = 0.25;
  return r;
}

// A constructed run and what its document must say: each `expected` entry
// is a JSON pointer into the account's object and the value found there.
struct AccountCase {
  const char* label;
  AccountRun run;
  std::vector<std::pair<std::string, json>> expected;
};

class AccountJsonTest : public ::testing::TestWithParam<AccountCase> {};

TEST_P(AccountJsonTest, Says) {
  json doc = account_json(GetParam().run);
  for (const auto& [pointer, value] : GetParam().expected) {
    ASSERT_TRUE(doc.contains(json::json_pointer(pointer))) << pointer << " in " << doc.dump(2);
    EXPECT_EQ(doc.at(json::json_pointer(pointer)), value) << pointer << " in " << doc.dump(2);
  }
}

AccountRun clean_run() {
  AccountRun run;
  run.report.account = "work";
  run.report.seconds = 1.5;
  auto inbox = folder("INBOX");
  inbox.downloaded = 3;
  inbox.bytes = 4096;
  inbox.flags_changed = 1;
  inbox.uploaded = 2;
  inbox.server_deleted = 1;
  auto archive = folder("Archive");
  archive.skipped_unchanged = true;
  archive.skipped_by_summary = true;
  auto sent = folder("Sent");
  sent.downloaded = 1;
  sent.bytes = 100;
  sent.deleted = 2;
  sent.server_flags_changed = 4;
  sent.moved = 5;
  sent.listed_changes = true;
  sent.notices.push_back("created locally");
  run.report.folders = {inbox, archive, sent};
  return run;
}

AccountRun folder_errors() {
  AccountRun run = clean_run();
  run.report.folders[0].error = "SELECT failed: NO [SERVERBUG]";
  run.report.folders[2].problems.push_back("cur/x: not a message; not uploaded");
  return run;
}

AccountRun account_error() {
  AccountRun run;
  run.report.account = "work";
  run.report.error = "login failed: NO [AUTHENTICATIONFAILED]";
  return run;
}

AccountRun pre_hook_failed() {
  AccountRun run;
  run.report.account = "work";
  run.pre_hook = hook_exit(1, "vpn down\n");
  run.report.error =
      run.pre_hook->describe("pre_sync_cmd", "work") + "; the account was not synced";
  return run;
}

AccountRun post_hook_failed() {
  AccountRun run = clean_run();
  run.post_hook = hook_exit(2, "notmuch: database locked\n");
  return run;
}

AccountRun post_hook_ok() {
  AccountRun run = clean_run();
  run.post_hook = hook_exit(0, "Processed 3 files\n");
  return run;
}

AccountRun stopped() {
  AccountRun run = clean_run();
  run.report.stopped_by = SIGTERM;
  run.report.folders[2].notices = {"not synced: roam was asked to stop"};
  return run;
}

AccountRun not_started() {
  AccountRun run;
  run.report.account = "home";
  run.not_started = true;
  return run;
}

AccountRun dry() {
  AccountRun run = clean_run();
  run.report.dry_run = true;
  return run;
}

INSTANTIATE_TEST_SUITE_P(
    Table, AccountJsonTest,
    ::testing::Values(
        AccountCase{"clean run: totals and folder counts",
                    clean_run(),
                    {{"/name", "work"},
                     {"/ok", true},
                     {"/status", "ok"},
                     {"/seconds", 1.5},
                     {"/dry_run", false},
                     {"/stopped_by", nullptr},
                     {"/error", nullptr},
                     {"/errors", json::array()},
                     {"/totals/folders", 3},
                     {"/totals/folders_unchanged", 1},
                     {"/totals/folders_failed", 0},
                     {"/totals/downloaded", 4},
                     {"/totals/bytes", 4196},
                     {"/totals/flags_changed", 1},
                     {"/totals/deleted", 2},
                     {"/totals/uploaded", 2},
                     {"/totals/server_flags_changed", 4},
                     {"/totals/server_deleted", 1},
                     {"/totals/moved", 5},
                     {"/folders/0/name", "INBOX"},
                     {"/folders/0/downloaded", 3},
                     {"/folders/0/bytes", 4096},
                     {"/folders/0/error", nullptr},
                     {"/folders/1/name", "Archive"},
                     {"/folders/1/skipped_unchanged", true},
                     {"/folders/1/skipped_by_summary", true},
                     {"/folders/2/listed_changes", true},
                     {"/folders/2/notices", json::array({"created locally"})},
                     {"/hooks/pre_sync_cmd", nullptr},
                     {"/hooks/post_sync_cmd", nullptr}}},
        AccountCase{"folder and message errors with their scope",
                    folder_errors(),
                    {{"/ok", false},
                     {"/status", "failed"},
                     {"/error", nullptr},
                     {"/totals/folders_failed", 1},
                     {"/folders/0/error", "SELECT failed: NO [SERVERBUG]"},
                     {"/errors/0/scope", "folder"},
                     {"/errors/0/folder", "INBOX"},
                     {"/errors/0/message", "SELECT failed: NO [SERVERBUG]"},
                     {"/errors/1/scope", "message"},
                     {"/errors/1/folder", "Sent"},
                     {"/folders/2/problems", json::array({"cur/x: not a message; not uploaded"})}}},
        AccountCase{
            "account error",
            account_error(),
            {{"/ok", false},
             {"/status", "failed"},
             {"/error", "login failed: NO [AUTHENTICATIONFAILED]"},
             {"/errors", json::array({{{"scope", "account"},
                                       {"message", "login failed: NO [AUTHENTICATIONFAILED]"}}})},
             {"/totals/folders", 0},
             {"/folders", json::array()}}},
        AccountCase{"failed pre hook skips the account",
                    pre_hook_failed(),
                    {{"/ok", false},
                     {"/errors/0/scope", "account"},
                     {"/errors/0/hook", "pre_sync_cmd"},
                     {"/hooks/pre_sync_cmd/ok", false},
                     {"/hooks/pre_sync_cmd/exit_code", 1},
                     {"/hooks/pre_sync_cmd/output", "vpn down\n"},
                     {"/hooks/post_sync_cmd", nullptr}}},
        // The sync stays ok; the run (and the account) is not.
        AccountCase{"failed post hook",
                    post_hook_failed(),
                    {{"/ok", false},
                     {"/status", "ok"},
                     {"/error", nullptr},
                     {"/errors/0/scope", "account"},
                     {"/errors/0/hook", "post_sync_cmd"},
                     {"/errors/0/message",
                      "post_sync_cmd of account work failed with exit status 2; its output "
                      "ended: notmuch: database locked"},
                     {"/hooks/post_sync_cmd/exit_code", 2},
                     {"/hooks/post_sync_cmd/timed_out", false},
                     {"/hooks/post_sync_cmd/seconds", 0.25}}},
        AccountCase{"post hook ok",
                    post_hook_ok(),
                    {{"/ok", true},
                     {"/errors", json::array()},
                     {"/hooks/post_sync_cmd/ok", true},
                     {"/hooks/post_sync_cmd/error", nullptr},
                     {"/hooks/post_sync_cmd/signal", nullptr},
                     {"/hooks/post_sync_cmd/output", "Processed 3 files\n"}}},
        AccountCase{"stopped by a signal",
                    stopped(),
                    {{"/stopped_by", "SIGTERM"},
                     {"/ok", true},
                     {"/folders/2/notices", json::array({"not synced: roam was asked to stop"})}}},
        AccountCase{"not started",
                    not_started(),
                    {{"/name", "home"}, {"/not_started", true}, {"/folders", json::array()}}},
        AccountCase{"dry run", dry(), {{"/dry_run", true}, {"/totals/downloaded", 4}}}),
    case_name<AccountCase>);

TEST(RunJson, HasVersionStatusAndAccountsInOrder) {
  AccountRun second = clean_run();
  second.report.account = "b";
  AccountRun first = account_error();
  first.report.account = "a";
  RunInfo info;
  info.exit_status = 1;
  info.seconds = 2.0;
  json doc = run_json({first, second}, info);
  EXPECT_EQ(doc.at("version"), k_json_version);
  EXPECT_EQ(doc.at("command"), "sync");
  EXPECT_EQ(doc.at("exit_status"), 1);
  EXPECT_EQ(doc.at("dry_run"), false);
  EXPECT_EQ(doc.at("seconds"), 2.0);
  EXPECT_EQ(doc.at("stopped_by"), nullptr);
  EXPECT_EQ(doc.at("error"), nullptr);
  EXPECT_TRUE(doc.at("roam_version").is_string());
  ASSERT_EQ(doc.at("accounts").size(), 2u);
  EXPECT_EQ(doc.at("accounts")[0].at("name"), "a");
  EXPECT_EQ(doc.at("accounts")[1].at("name"), "b");
  // Round trip: what is printed parses back to the same document.
  EXPECT_EQ(json::parse(doc.dump(2)), doc);
}

TEST(RunJson, ARunEndedBeforeTheAccountsSaysWhy) {
  RunInfo info;
  info.exit_status = 2;
  info.error = "config, line 3: unknown key 'hots'";
  info.error_scope = "usage";
  info.stopped_by = SIGINT;
  json doc = run_json({}, info);
  EXPECT_EQ(doc.at("exit_status"), 2);
  EXPECT_EQ(doc.at("accounts"), json::array());
  EXPECT_EQ(doc.at("error"),
            (json{{"scope", "usage"}, {"message", "config, line 3: unknown key 'hots'"}}));
  EXPECT_EQ(doc.at("stopped_by"), "SIGINT");
}

TEST(RunJson, SignalNames) {
  EXPECT_EQ(signal_json(0), nullptr);
  EXPECT_EQ(signal_json(SIGINT), "SIGINT");
  EXPECT_EQ(signal_json(SIGTERM), "SIGTERM");
  EXPECT_EQ(signal_json(SIGHUP), "signal " + std::to_string(SIGHUP));
}

}  // namespace
}  // namespace roam::cli
