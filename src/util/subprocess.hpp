#pragma once

// Running a shell command that roam waits for: what pass_cmd (cli/config.cpp)
// and the account hooks (cli/hooks.cpp) share.
//
// The command runs with /bin/sh -c in a process group of its own, led by a
// small supervisor process that roam forks: the supervisor forks the shell,
// waits for it and exits as it did. The group is what a timeout or a stop
// request kills, so that nothing the command started (a pinentry started by
// gpg, an indexer left in the background) outlives it. The supervisor is what
// kills the group when roam dies, whatever killed roam: roam's own handlers
// never run on SIGKILL, but the kernel tells the supervisor
// (PR_SET_PDEATHSIG).

#include <chrono>
#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace roam::util {

// Where the command's stdin comes from.
enum class Stdin {
  // roam's own stdin (a terminal, for a command that asks for a passphrase).
  Inherited,
  // /dev/null, so that a command that reads stdin ends instead of waiting.
  Null,
};

// Where the command's stderr goes; its stdout is always captured.
enum class Stderr {
  // roam's own stderr, so that the user sees the command's prompts and
  // complaints as it writes them.
  Inherited,
  // Into the same capture as stdout, in the order it was written.
  Captured,
};

// Which part of a long output is kept.
enum class Kept { Start, End };

struct SubprocessOptions {
  // The command's environment as NAME=value entries; roam's own when unset.
  std::optional<std::vector<std::string>> environment;
  Stdin stdin_from = Stdin::Inherited;
  Stderr stderr_to = Stderr::Inherited;
  // The most of the output that is kept. The rest is still read, and
  // dropped, so that the command never blocks on a full pipe.
  std::size_t output_limit = 64 * 1024;
  Kept kept = Kept::Start;
  // Closes every descriptor above 2 in the command, including those roam
  // opened without O_CLOEXEC (a library might), so that a command someone
  // else wrote cannot reach a connection to the server or another account's
  // files.
  bool close_other_fds = false;
  // Gives the terminal to the command's group while it runs (when roam's
  // stdin is a terminal and roam's group holds it), so that the command can
  // ask for a passphrase: a background group that reads the terminal is
  // stopped by the kernel. roam takes the terminal back afterwards.
  bool take_terminal = false;
  // After this long the command's whole group is killed.
  std::chrono::milliseconds timeout{60'000};
  // Asked while the command runs (about every 100 ms); when it returns true
  // the command's whole group is killed. Unset: only the timeout ends it.
  std::function<bool()> should_stop;
};

struct SubprocessResult {
  // The command's exit status when it exited on its own; -1 otherwise.
  int exit_code = -1;
  // The signal that ended the command, when one did; 0 otherwise, and also
  // after a timeout or a stop (timed_out and stopped say so).
  int signal = 0;
  // It did not finish within the timeout, so its process group was killed.
  bool timed_out = false;
  // should_stop returned true while it ran, so its process group was
  // killed.
  bool stopped = false;
  // It could not be started at all: why, as "no pipe for its output: ...",
  // "cannot open /dev/null: ..." or "cannot fork: ..."; empty otherwise.
  std::string start_error;
  // The errno behind start_error; 0 when it started.
  int start_errno = 0;
  // The errno of a failed wait for it (its process group was then killed);
  // 0 otherwise.
  int wait_errno = 0;
  // The errno of a failed read of its output (roam then stopped reading and
  // waited for it as usual); 0 otherwise.
  int read_errno = 0;
  // What it wrote to stdout (and stderr, when captured), cut to
  // output_limit bytes.
  std::string output;
  // How long it ran.
  double seconds = 0;
};

// Runs `command` as SubprocessOptions say and waits for it. Never throws for
// the command's failures or roam's own failure to run it; they are in the
// result. Safe to call from several threads at once.
SubprocessResult run_subprocess(const std::string& command, const SubprocessOptions& options);

}  // namespace roam::util
