#include "util/subprocess.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <chrono>
#include <string>

#include "fakes/process.hpp"
#include "fakes/temp_dir.hpp"

namespace roam::util {
namespace {

using std::chrono::milliseconds;

TEST(Subprocess, ExitStatusAndSignal) {
  struct Row {
    const char* command;
    int exit_code;
    int signal;
    const char* output;
  };
  const Row rows[] = {
      {"echo done", 0, 0, "done\n"},   {"echo partial; exit 3", 3, 0, "partial\n"},
      {"exit 255", 255, 0, ""},        {"roam-no-such-command-here 2>/dev/null", 127, 0, ""},
      {"kill -9 $$", -1, SIGKILL, ""}, {"echo before; kill -TERM $$", -1, SIGTERM, "before\n"},
  };
  for (const auto& row : rows) {
    SubprocessResult r = run_subprocess(row.command, {});
    EXPECT_EQ(r.exit_code, row.exit_code) << row.command;
    EXPECT_EQ(r.signal, row.signal) << row.command;
    EXPECT_EQ(r.output, row.output) << row.command;
    EXPECT_FALSE(r.timed_out) << row.command;
    EXPECT_FALSE(r.stopped) << row.command;
    EXPECT_EQ(r.start_error, "") << row.command;
    EXPECT_EQ(r.start_errno, 0) << row.command;
    EXPECT_EQ(r.wait_errno, 0) << row.command;
    EXPECT_EQ(r.read_errno, 0) << row.command;
  }
}

TEST(Subprocess, WhatReachesTheCommandAndWhatIsCaptured) {
  // Not open on exec: a descriptor roam (or a library) left inheritable.
  const int stray_fd = ::open("/dev/null", O_RDONLY);
  ASSERT_GT(stray_fd, STDERR_FILENO);
  const std::string stray = std::to_string(stray_fd);
  ::setenv("ROAM_SUBPROCESS_TEST", "inherited", 1);
  struct Row {
    const char* label;
    std::string command;
    SubprocessOptions options;
    const char* output;
  };
  SubprocessOptions captured;
  captured.stderr_to = Stderr::Captured;
  SubprocessOptions null_stdin;
  null_stdin.stdin_from = Stdin::Null;
  SubprocessOptions own_environment;
  own_environment.environment = std::vector<std::string>{"ROAM_SUBPROCESS_TEST=given"};
  SubprocessOptions closed_fds;
  closed_fds.close_other_fds = true;
  const Row rows[] = {
      {"stderr passes through", "echo out; echo err >&2", {}, "out\n"},
      {"stderr is captured", "echo out; echo err >&2", captured, "out\nerr\n"},
      {"stdin from /dev/null", "cat; echo end", null_stdin, "end\n"},
      {"roam's environment", "echo \"$ROAM_SUBPROCESS_TEST\"", {}, "inherited\n"},
      {"an environment of its own", "echo \"$ROAM_SUBPROCESS_TEST|$HOME\"", own_environment,
       "given|\n"},
      {"descriptors are inherited", "[ -e /dev/fd/" + stray + " ] && echo open", {}, "open\n"},
      {"descriptors are closed", "[ -e /dev/fd/" + stray + " ] || echo closed", closed_fds,
       "closed\n"},
  };
  for (const auto& row : rows) {
    SubprocessResult r = run_subprocess(row.command, row.options);
    EXPECT_EQ(r.output, row.output) << row.label;
  }
  ::unsetenv("ROAM_SUBPROCESS_TEST");
  ::close(stray_fd);
}

TEST(Subprocess, OutputIsCutToTheLimit) {
  struct Row {
    const char* command;
    std::size_t limit;
    Kept kept;
    const char* output;
  };
  const Row rows[] = {
      {"printf 0123456789abcdef", 10, Kept::Start, "0123456789"},
      {"printf 0123456789abcdef", 10, Kept::End, "6789abcdef"},
      {"printf 0123456789", 10, Kept::Start, "0123456789"},
      {"printf 0123456789", 10, Kept::End, "0123456789"},
      // Far more than one read and than the pipe holds: the command is
      // never blocked, and the right end is kept.
      {"seq 1 100000", 6, Kept::Start, "1\n2\n3\n"},
      {"seq 1 100000", 13, Kept::End, "99999\n100000\n"},
  };
  for (const auto& row : rows) {
    SubprocessOptions options;
    options.output_limit = row.limit;
    options.kept = row.kept;
    SubprocessResult r = run_subprocess(row.command, options);
    EXPECT_EQ(r.exit_code, 0) << row.command;
    EXPECT_EQ(r.output, row.output) << row.command << " (limit " << row.limit << ")";
  }
}

TEST(Subprocess, TimeoutOrStopKillsTheWholeGroup) {
  struct Row {
    const char* label;
    bool stop;
  };
  const Row rows[] = {{"timeout", false}, {"stop", true}};
  for (const auto& row : rows) {
    fakes::TempDir dir;
    const auto pid_file = dir.path() / "background";
    // The shell waits for ever for a child that would outlive it.
    const std::string command =
        "sleep 60 & echo $! > " + pid_file.string() + "; echo started; wait";
    SubprocessOptions options;
    const auto start = std::chrono::steady_clock::now();
    if (row.stop) {
      options.timeout = milliseconds(60'000);
      options.should_stop = [start] {
        return std::chrono::steady_clock::now() - start > milliseconds(500);
      };
    } else {
      options.timeout = milliseconds(500);
    }
    SubprocessResult r = run_subprocess(command, options);
    const auto took = std::chrono::steady_clock::now() - start;
    EXPECT_EQ(r.timed_out, !row.stop) << row.label;
    EXPECT_EQ(r.stopped, row.stop) << row.label;
    EXPECT_EQ(r.exit_code, -1) << row.label;
    EXPECT_EQ(r.output, "started\n") << row.label;
    EXPECT_GE(took, milliseconds(450)) << row.label;
    EXPECT_LT(took, milliseconds(5'000)) << row.label;
    EXPECT_GE(r.seconds, 0.45) << row.label;

    pid_t background = fakes::pid_from(pid_file);
    ASSERT_GT(background, 0) << row.label;
    EXPECT_TRUE(fakes::ends_within(background, milliseconds(2'000)))
        << row.label << ": pid " << background;
  }
}

TEST(Subprocess, ACommandThatClosesItsOutputIsStillTimed) {
  SubprocessOptions options;
  options.timeout = milliseconds(300);
  SubprocessResult r = run_subprocess("echo early; exec >&-; sleep 60", options);
  EXPECT_TRUE(r.timed_out);
  EXPECT_EQ(r.output, "early\n");
}

}  // namespace
}  // namespace roam::util
