#include "cli/hooks.hpp"
#include "fakes/case_name.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>

#include <signal.h>
#include <stdlib.h>
#include <unistd.h>
#include <cctype>

#include <cerrno>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "util/signal.hpp"

namespace roam::cli {
namespace {

using fakes::case_name;

using std::chrono::seconds;

HookEnv post_env() {
  HookEnv env;
  env.kind = HookKind::PostSync;
  env.account = "work";
  env.outcome = HookEnv::Outcome{false, 3, 2, 5};
  return env;
}

// What a hook's exit says, case by case: the result's fields and the
// sentence an error message is made of.
struct ExitCase {
  const char* label;
  std::string command;
  bool ok;
  int exit_code;
  int signal;
  const char* output;  // What the result keeps: all of it, or a part when !exact.
  bool exact;
  const char* describes;  // A fragment of describe(); "" when ok.
};

class HookExitTest : public ::testing::TestWithParam<ExitCase> {};

TEST_P(HookExitTest, ResultSaysHowItEnded) {
  const auto& c = GetParam();
  HookResult r = run_hook(c.command, post_env(), seconds(10));
  EXPECT_EQ(r.ok(), c.ok) << c.label;
  EXPECT_EQ(r.exit_code, c.exit_code) << c.label;
  EXPECT_EQ(r.signal, c.signal) << c.label;
  EXPECT_FALSE(r.timed_out) << c.label;
  if (c.exact) {
    EXPECT_EQ(r.output, c.output) << c.label;
  } else {
    EXPECT_NE(r.output.find(c.output), std::string::npos) << c.label << ": " << r.output;
  }
  std::string message = r.describe("post_sync_cmd", "work");
  if (c.ok) {
    EXPECT_EQ(message, "") << c.label;
  } else {
    EXPECT_NE(message.find("post_sync_cmd of account work"), std::string::npos) << message;
    EXPECT_NE(message.find(c.describes), std::string::npos) << message;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Table, HookExitTest,
    ::testing::Values(ExitCase{"success", "echo indexed", true, 0, 0, "indexed\n", true, ""},
                      ExitCase{"stderr is captured with stdout", "echo out; echo err >&2", true, 0,
                               0, "out\nerr\n", true, ""},
                      ExitCase{"stdin is empty, not the terminal", "cat; echo end", true, 0, 0,
                               "end\n", true, ""},
                      ExitCase{"failure keeps its output", "echo 'database locked' >&2; exit 3",
                               false, 3, 0, "database locked\n", true,
                               "failed with exit status 3; its output ended: database locked"},
                      ExitCase{"missing command", "roam-no-such-command-here", false, 127, 0,
                               "not found", false, "(command not found?)"},
                      ExitCase{"killed by a signal", "kill -9 $$", false, -1, SIGKILL, "", true,
                               "killed by signal 9"}),
    case_name<ExitCase>);

// The variables a hook reads, by name, from a dump of its environment.
std::map<std::string, std::string> hook_variables(const std::string& env_dump) {
  std::map<std::string, std::string> out;
  std::istringstream lines(env_dump);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.starts_with("ROAM_")) {
      auto equals = line.find('=');
      out[line.substr(0, equals)] = line.substr(equals + 1);
    }
  }
  return out;
}

TEST(Hook, PostHookSeesTheOutcome) {
  HookResult r = run_hook("env", post_env(), seconds(10));
  ASSERT_TRUE(r.ok()) << r.describe("post_sync_cmd", "work");
  EXPECT_EQ(hook_variables(r.output), (std::map<std::string, std::string>{
                                          {"ROAM_ACCOUNT", "work"},
                                          {"ROAM_HOOK", "post_sync_cmd"},
                                          {"ROAM_LOCAL_CHANGED", "2"},
                                          {"ROAM_LOCAL_NEW", "3"},
                                          {"ROAM_SERVER_CHANGED", "5"},
                                          {"ROAM_STATUS", "failed"},
                                      }));
}

TEST(Hook, PreHookSeesOnlyTheAccountAndNoStaleVariables) {
  // Left over from whatever started roam: a pre hook must not read them as
  // this run's.
  ::setenv("ROAM_STATUS", "ok", 1);
  ::setenv("ROAM_LOCAL_NEW", "99", 1);
  ::setenv("ROAM_TEST_KEEP", "kept", 1);
  HookResult r = run_hook("env", hook_env_before("home"), seconds(10));
  ::unsetenv("ROAM_STATUS");
  ::unsetenv("ROAM_LOCAL_NEW");
  ::unsetenv("ROAM_TEST_KEEP");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(hook_variables(r.output), (std::map<std::string, std::string>{
                                          {"ROAM_ACCOUNT", "home"},
                                          {"ROAM_HOOK", "pre_sync_cmd"},
                                          {"ROAM_TEST_KEEP", "kept"},
                                      }));
  // The rest of roam's environment is passed on.
  EXPECT_NE(r.output.find("PATH="), std::string::npos);
}

TEST(Hook, InheritsNoDescriptorOfRoam) {
  // Without O_CLOEXEC, as a library might open one (a socket to the
  // server would be the worst).
  int fd = ::open("/dev/null", O_RDONLY);
  ASSERT_GE(fd, 3);
  HookResult r = run_hook("if [ -e /dev/fd/" + std::to_string(fd) + " ]; then echo open; fi",
                          post_env(), seconds(10));
  ::close(fd);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.output, "");
}

bool process_exists(pid_t pid) {
  return ::kill(pid, 0) == 0 || errno != ESRCH;
}

TEST(Hook, TimeoutKillsTheWholeGroup) {
  std::string pid_file =
      (std::filesystem::temp_directory_path() / ("roam-hook-test-" + std::to_string(::getpid())))
          .string();
  // A child of the hook's shell that would outlive it, and the shell
  // itself waiting for ever.
  auto start = std::chrono::steady_clock::now();
  HookResult r =
      run_hook("sleep 60 & echo $! > " + pid_file + "; echo started; wait", post_env(), seconds(1));
  auto took = std::chrono::steady_clock::now() - start;
  EXPECT_FALSE(r.ok());
  EXPECT_TRUE(r.timed_out);
  EXPECT_EQ(r.output, "started\n");
  EXPECT_GE(took, std::chrono::milliseconds(900));
  EXPECT_LT(took, seconds(10));
  std::string message = r.describe("post_sync_cmd", "work");
  EXPECT_NE(message.find("did not finish within the account's timeout of 1 s"), std::string::npos)
      << message;
  EXPECT_NE(message.find("raise timeout in [account.work]"), std::string::npos) << message;

  pid_t sleeper = 0;
  std::ifstream(pid_file) >> sleeper;
  std::filesystem::remove(pid_file);
  ASSERT_GT(sleeper, 0);
  // Killed with the group; reaped by init, which may take a moment.
  for (int i = 0; i < 100 && process_exists(sleeper); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_FALSE(process_exists(sleeper)) << "pid " << sleeper;
}

TEST(Hook, AStopRequestKillsIt) {
  util::request_stop(SIGINT);
  auto start = std::chrono::steady_clock::now();
  HookResult r = run_hook("sleep 30", post_env(), seconds(60));
  util::request_stop(0);
  EXPECT_TRUE(r.stopped);
  EXPECT_FALSE(r.ok());
  EXPECT_LT(std::chrono::steady_clock::now() - start, seconds(5));
  EXPECT_NE(r.describe("pre_sync_cmd", "work").find("roam was asked to stop"), std::string::npos);
}

TEST(Hook, OutputKeepsItsEnd) {
  HookResult r = run_hook("i=0; while [ $i -lt 2000 ]; do echo line$i; i=$((i+1)); done",
                          post_env(), seconds(10));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.output.size(), k_hook_output_kept);
  EXPECT_TRUE(r.output.ends_with("line1999\n"));
}

TEST(Hook, RunsSideBySide) {
  // A watch loop and --jobs call it from several threads at once.
  std::vector<std::thread> threads;
  std::vector<HookResult> results(4);
  for (std::size_t i = 0; i < results.size(); ++i) {
    threads.emplace_back([&results, i] {
      HookEnv env = hook_env_before("a" + std::to_string(i));
      results[i] = run_hook("sleep 0.2; echo $ROAM_ACCOUNT", env, seconds(10));
    });
  }
  for (auto& t : threads) {
    t.join();
  }
  for (std::size_t i = 0; i < results.size(); ++i) {
    EXPECT_TRUE(results[i].ok());
    EXPECT_EQ(results[i].output, "a" + std::to_string(i) + "\n");
  }
}

// How the counts of a report become the post hook's variables.
struct EnvCase {
  const char* label;
  std::vector<sync::FolderReport> folders;
  std::string error;
  HookEnv::Outcome expected;
};

class HookEnvTest : public ::testing::TestWithParam<EnvCase> {};

sync::FolderReport folder(std::size_t downloaded, std::size_t flags, std::size_t deleted,
                          std::size_t uploaded, std::size_t server_flags,
                          std::size_t server_deleted, std::size_t moved) {
  sync::FolderReport f;
  f.name = "F";
  f.downloaded = downloaded;
  f.flags_changed = flags;
  f.deleted = deleted;
  f.uploaded = uploaded;
  f.server_flags_changed = server_flags;
  f.server_deleted = server_deleted;
  f.moved = moved;
  return f;
}

sync::FolderReport failed_folder() {
  sync::FolderReport f = folder(1, 0, 0, 0, 0, 0, 0);
  f.error = "SELECT failed";
  return f;
}

TEST_P(HookEnvTest, SumsTheFolders) {
  sync::AccountReport report;
  report.account = "work";
  report.folders = GetParam().folders;
  report.error = GetParam().error;
  HookEnv env = hook_env_after(report);
  EXPECT_EQ(env.kind, HookKind::PostSync);
  EXPECT_EQ(env.account, "work");
  ASSERT_TRUE(env.outcome.has_value());
  const auto& want = GetParam().expected;
  EXPECT_EQ(env.outcome->ok, want.ok);
  EXPECT_EQ(env.outcome->local_new, want.local_new);
  EXPECT_EQ(env.outcome->local_changed, want.local_changed);
  EXPECT_EQ(env.outcome->server_changed, want.server_changed);
}

INSTANTIATE_TEST_SUITE_P(
    Table, HookEnvTest,
    ::testing::Values(EnvCase{"nothing", {}, "", {true, 0, 0, 0}},
                      EnvCase{"downloads only", {folder(4, 0, 0, 0, 0, 0, 0)}, "", {true, 4, 0, 0}},
                      // Flag changes and deletions are both "changed" on their side;
                      // moves are made on the server.
                      EnvCase{"each way, two folders",
                              {folder(1, 2, 3, 4, 5, 6, 7), folder(10, 20, 30, 40, 50, 60, 70)},
                              "",
                              {true, 11, 55, 242}},
                      EnvCase{"a failed folder", {failed_folder()}, "", {false, 1, 0, 0}},
                      EnvCase{"a failed account", {}, "login failed", {false, 0, 0, 0}}),
    case_name<EnvCase>);

}  // namespace
}  // namespace roam::cli
