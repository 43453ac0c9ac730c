#include "util/subprocess.hpp"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "util/error.hpp"
#include "util/fs.hpp"

extern char** environ;

namespace roam::util {

namespace {

// How often the wait for a command asks should_stop.
constexpr int k_stop_poll_ms = 100;
// How often the wait for a command that closed its output looks whether it
// has exited.
constexpr int k_exit_poll_ms = 20;

// What the supervisor and the command need, all prepared before fork: after
// fork only async-signal-safe calls are allowed in a threaded program.
struct ChildPlan {
  const char* command = nullptr;
  char* const* envp = nullptr;
  int output_fd = -1;
  // -1 when the command reads roam's stdin.
  int null_fd = -1;
  pid_t parent = 0;
  bool capture_stderr = false;
  bool close_other_fds = false;
  bool take_terminal = false;
};

// The supervisor's SIGTERM handler: the kernel sends SIGTERM when the thread
// of roam that started the command goes away (PR_SET_PDEATHSIG), and
// everything the command started must go with it.
extern "C" void kill_own_group(int) {
  ::kill(0, SIGKILL);
}

void set_default_action(int sig) {
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  sigemptyset(&dfl.sa_mask);
  ::sigaction(sig, &dfl, nullptr);
}

// A copy of `fd` above the standard descriptors when it is one of them (roam
// was started with one closed, so pipe2 or open reused it), so that putting
// one descriptor in place as 0, 1 or 2 cannot overwrite another still to be
// put in place. The copy is closed on exec; the dup2 copies are not.
int above_standard(int fd) {
  if (fd < 0 || fd > STDERR_FILENO) {
    return fd;
  }
  return ::fcntl(fd, F_DUPFD_CLOEXEC, STDERR_FILENO + 1);
}

// Makes `group` the terminal's foreground process group: a background group
// that reads the terminal is stopped by the kernel, and the command may have
// to ask for a passphrase. Called by the supervisor (async-signal-safe calls
// only) and by roam to take the terminal back. tcsetpgrp from a background
// group raises SIGTTOU unless it is blocked.
void give_terminal_to(pid_t group) {
  sigset_t ttou;
  sigset_t old;
  sigemptyset(&ttou);
  sigaddset(&ttou, SIGTTOU);
  ::pthread_sigmask(SIG_BLOCK, &ttou, &old);
  ::tcsetpgrp(STDIN_FILENO, group);
  ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
}

// Runs in the command's process, forked by the supervisor: only
// async-signal-safe calls.
[[noreturn]] void exec_command(const ChildPlan& plan) {
  // roam's own handlers are gone with exec; a SIGINT or SIGPIPE that roam
  // ignored (as whatever started it told it to) is not, and a shell command
  // expects the default dispositions.
  set_default_action(SIGTERM);
  set_default_action(SIGINT);
  set_default_action(SIGPIPE);
  const int output_fd = above_standard(plan.output_fd);
  const int null_fd = above_standard(plan.null_fd);
  if (output_fd < 0 || (plan.null_fd >= 0 && null_fd < 0)) {
    ::_exit(127);
  }
  if ((null_fd >= 0 && ::dup2(null_fd, STDIN_FILENO) < 0) || ::dup2(output_fd, STDOUT_FILENO) < 0 ||
      (plan.capture_stderr && ::dup2(output_fd, STDERR_FILENO) < 0)) {
    ::_exit(127);
  }
  if (plan.close_other_fds) {
    ::close_range(STDERR_FILENO + 1, ~0U, 0);
  }
  char sh[] = "sh";
  char dash_c[] = "-c";
  char* argv[] = {sh, dash_c, const_cast<char*>(plan.command), nullptr};
  ::execve("/bin/sh", argv, plan.envp);
  ::_exit(127);
}

// Runs in the child forked by run_subprocess, so only async-signal-safe
// calls are allowed (roam has other threads). The child leads a process
// group of its own, so that roam can kill everything the command started,
// and stays as a small supervisor: it runs the command in a grandchild and
// kills the group when roam dies, whatever killed roam. It exits as the
// command did.
[[noreturn]] void supervise(const ChildPlan& plan) {
  ::setpgid(0, 0);
  if (plan.take_terminal) {
    give_terminal_to(::getpid());
  }
  struct sigaction on_term {};
  on_term.sa_handler = kill_own_group;
  sigemptyset(&on_term.sa_mask);
  ::sigaction(SIGTERM, &on_term, nullptr);
  ::prctl(PR_SET_PDEATHSIG, SIGTERM);
  if (::getppid() != plan.parent) {
    // roam died before the request above took effect.
    ::kill(0, SIGKILL);
  }
  pid_t command_pid = ::fork();
  if (command_pid < 0) {
    ::_exit(127);
  }
  if (command_pid == 0) {
    exec_command(plan);
  }
  // The supervisor must not hold the pipe open: roam reads until EOF. Nor
  // may it hold the pipe of a command that another thread of roam started
  // at the same moment (it inherited that too, as the supervisor never
  // execs), or that command's output would not end before this one does.
  ::close(plan.output_fd);
  if (plan.null_fd >= 0) {
    ::close(plan.null_fd);
  }
  ::close_range(STDERR_FILENO + 1, ~0U, 0);
  int status = 0;
  while (::waitpid(command_pid, &status, 0) < 0) {
    if (errno != EINTR) {
      ::_exit(127);
    }
  }
  if (WIFSIGNALED(status)) {
    set_default_action(WTERMSIG(status));
    ::kill(::getpid(), WTERMSIG(status));
    ::_exit(128 + WTERMSIG(status));
  }
  ::_exit(WIFEXITED(status) ? WEXITSTATUS(status) : 127);
}

// Adds what was read to `output`, within the limit.
void keep_output(std::string& output, const char* data, std::size_t size,
                 const SubprocessOptions& options) {
  if (options.kept == Kept::Start) {
    const std::size_t room = options.output_limit - std::min(output.size(), options.output_limit);
    output.append(data, std::min(size, room));
    return;
  }
  output.append(data, size);
  // Erasing at most every output_limit bytes keeps the copying linear.
  if (output.size() > 2 * options.output_limit) {
    output.erase(0, output.size() - options.output_limit);
  }
}

}  // namespace

SubprocessResult run_subprocess(const std::string& command, const SubprocessOptions& options) {
  SubprocessResult result;
  const auto start = std::chrono::steady_clock::now();
  const auto deadline = start + options.timeout;
  auto finish = [&]() -> SubprocessResult {
    result.seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return result;
  };
  auto fail_to_start = [&](const char* what) -> SubprocessResult {
    result.start_errno = errno;
    result.start_error = errno_message(what, result.start_errno);
    return finish();
  };

  ChildPlan plan;
  plan.command = command.c_str();
  std::vector<char*> envp;
  if (options.environment) {
    envp.reserve(options.environment->size() + 1);
    for (const auto& entry : *options.environment) {
      // execve does not write to the strings; it only predates const.
      envp.push_back(const_cast<char*>(entry.c_str()));
    }
    envp.push_back(nullptr);
    plan.envp = envp.data();
  } else {
    plan.envp = environ;
  }
  plan.parent = ::getpid();
  plan.capture_stderr = options.stderr_to == Stderr::Captured;
  plan.close_other_fds = options.close_other_fds;
  plan.take_terminal = options.take_terminal && ::isatty(STDIN_FILENO) == 1 &&
                       ::tcgetpgrp(STDIN_FILENO) == ::getpgrp();

  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    return fail_to_start("no pipe for its output");
  }
  Fd read_end(fds[0]);
  Fd write_end(fds[1]);
  plan.output_fd = write_end.get();
  Fd null_fd;
  if (options.stdin_from == Stdin::Null) {
    null_fd = Fd(::open("/dev/null", O_RDWR | O_CLOEXEC));
    if (!null_fd) {
      return fail_to_start("cannot open /dev/null");
    }
    plan.null_fd = null_fd.get();
  }
  pid_t child = ::fork();
  if (child < 0) {
    return fail_to_start("cannot fork");
  }
  if (child == 0) {
    supervise(plan);
  }
  // Also set here, so that the group exists before roam may have to kill it.
  ::setpgid(child, child);
  write_end = Fd();
  null_fd = Fd();

  // Kills the command and everything it started, and reaps the supervisor.
  auto kill_group = [&] {
    if (::killpg(child, SIGKILL) != 0) {
      ::kill(child, SIGKILL);
    }
    int ignored = 0;
    while (::waitpid(child, &ignored, 0) < 0 && errno == EINTR) {
    }
    if (plan.take_terminal) {
      give_terminal_to(::getpgrp());
    }
  };
  auto remaining_ms = [&] {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    return static_cast<int>(std::max<std::chrono::milliseconds::rep>(left.count(), 0));
  };
  // Whether the wait must end now: roam was asked to stop or the timeout
  // ran out. Either way the group is killed, and the result says which.
  auto must_end = [&] {
    if (options.should_stop && options.should_stop()) {
      result.stopped = true;
    } else if (remaining_ms() == 0) {
      result.timed_out = true;
    } else {
      return false;
    }
    kill_group();
    return true;
  };
  // How long one poll may sleep: never past the deadline, and short enough
  // to ask should_stop often.
  auto poll_ms = [&](int most) {
    int ms = std::min(remaining_ms(), most);
    return options.should_stop ? std::min(ms, k_stop_poll_ms) : ms;
  };

  char buf[4096];
  for (;;) {
    if (must_end()) {
      return finish();
    }
    pollfd pfd{read_end.get(), POLLIN, 0};
    int ready = ::poll(&pfd, 1, poll_ms(remaining_ms()));
    if (ready < 0) {
      if (errno == EINTR) {
        continue;
      }
      result.read_errno = errno;
      break;
    }
    if (ready == 0) {
      continue;
    }
    ssize_t n = ::read(read_end.get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) {
        continue;
      }
      result.read_errno = errno;
      break;
    }
    if (n == 0) {
      break;
    }
    keep_output(result.output, buf, static_cast<std::size_t>(n), options);
  }
  if (options.kept == Kept::End && result.output.size() > options.output_limit) {
    result.output.erase(0, result.output.size() - options.output_limit);
  }
  read_end = Fd();
  // The command may close its output and go on running.
  int status = 0;
  for (;;) {
    pid_t done = ::waitpid(child, &status, WNOHANG);
    if (done == child) {
      break;
    }
    if (done < 0 && errno != EINTR) {
      result.wait_errno = errno;
      kill_group();
      return finish();
    }
    if (must_end()) {
      return finish();
    }
    ::poll(nullptr, 0, poll_ms(k_exit_poll_ms));
  }
  if (plan.take_terminal) {
    give_terminal_to(::getpgrp());
  }
  if (WIFSIGNALED(status)) {
    result.signal = WTERMSIG(status);
  } else if (WIFEXITED(status)) {
    // The supervisor exits with 128 + N when the command was killed by
    // signal N and re-raising it did not end the supervisor.
    result.exit_code = WEXITSTATUS(status);
  }
  return finish();
}

}  // namespace roam::util
