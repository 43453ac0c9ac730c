#include "cli/hooks.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>

#include "util/error.hpp"
#include "util/fs.hpp"
#include "util/signal.hpp"

extern char** environ;

namespace roam::cli {

namespace {

// Every variable roam sets for a hook. An inherited one of these names is
// dropped even when this hook does not set it (a pre_sync_cmd has no
// ROAM_STATUS), so that a hook never reads a value left over from whatever
// started roam (a hook of an outer roam, say).
constexpr std::array<std::string_view, 6> k_hook_variables = {
    "ROAM_HOOK",      "ROAM_ACCOUNT",       "ROAM_STATUS",
    "ROAM_LOCAL_NEW", "ROAM_LOCAL_CHANGED", "ROAM_SERVER_CHANGED",
};

// How often the wait for a hook looks whether roam was asked to stop.
constexpr int k_stop_poll_ms = 100;

bool is_hook_variable(std::string_view entry) {
  auto equals = entry.find('=');
  auto name = entry.substr(0, equals);
  return std::find(k_hook_variables.begin(), k_hook_variables.end(), name) !=
         k_hook_variables.end();
}

// The supervisor's SIGTERM handler: the kernel sends SIGTERM when the thread
// of roam that started the hook goes away (PR_SET_PDEATHSIG), and
// everything the hook started must go with it.
extern "C" void kill_hook_group(int) {
  ::kill(0, SIGKILL);
}

// Runs in the child forked by run_hook, so only async-signal-safe calls are
// allowed (roam has other threads). As with pass_cmd (config.cpp), the child
// leads a process group of its own, so that a timeout kills everything the
// hook started, and stays as a small supervisor that kills the group when
// roam dies, whatever killed it. It exits as the command did.
[[noreturn]] void run_hook_child(const char* command, char* const* envp, int output_fd, int null_fd,
                                 pid_t parent) {
  ::setpgid(0, 0);
  struct sigaction on_term {};
  on_term.sa_handler = kill_hook_group;
  sigemptyset(&on_term.sa_mask);
  ::sigaction(SIGTERM, &on_term, nullptr);
  ::prctl(PR_SET_PDEATHSIG, SIGTERM);
  if (::getppid() != parent) {
    // roam died before the request above took effect.
    ::kill(0, SIGKILL);
  }
  pid_t command_pid = ::fork();
  if (command_pid < 0) {
    ::_exit(127);
  }
  if (command_pid == 0) {
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    ::sigaction(SIGTERM, &dfl, nullptr);
    // roam's own handlers are gone with exec; a SIGINT or SIGTERM that roam
    // ignored is not, so the hook gets the default dispositions back.
    ::sigaction(SIGINT, &dfl, nullptr);
    ::sigaction(SIGPIPE, &dfl, nullptr);
    if (::dup2(null_fd, STDIN_FILENO) < 0 || ::dup2(output_fd, STDOUT_FILENO) < 0 ||
        ::dup2(output_fd, STDERR_FILENO) < 0) {
      ::_exit(127);
    }
    // Nothing of roam's but the three standard descriptors reaches the
    // hook: not a connection to the server, not another account's files.
    ::close_range(3, ~0U, 0);
    char sh[] = "sh";
    char dash_c[] = "-c";
    char* argv[] = {sh, dash_c, const_cast<char*>(command), nullptr};
    ::execve("/bin/sh", argv, envp);
    ::_exit(127);
  }
  // The supervisor must not hold the pipe open: roam reads until EOF.
  ::close(output_fd);
  ::close(null_fd);
  int status = 0;
  while (::waitpid(command_pid, &status, 0) < 0) {
    if (errno != EINTR) {
      ::_exit(127);
    }
  }
  if (WIFSIGNALED(status)) {
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    ::sigaction(WTERMSIG(status), &dfl, nullptr);
    ::kill(::getpid(), WTERMSIG(status));
    ::_exit(128 + WTERMSIG(status));
  }
  ::_exit(WIFEXITED(status) ? WEXITSTATUS(status) : 127);
}

// The last line or so of a hook's output, on one line, for a message.
std::string output_tail(const std::string& output) {
  constexpr std::size_t k_shown = 300;
  std::string text = output;
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) {
    text.pop_back();
  }
  if (text.size() > k_shown) {
    text = "..." + text.substr(text.size() - k_shown);
  }
  for (char& c : text) {
    if (c == '\n' || c == '\r') {
      c = '|';
    }
  }
  return text;
}

}  // namespace

std::string_view hook_key(HookKind kind) {
  return kind == HookKind::PreSync ? "pre_sync_cmd" : "post_sync_cmd";
}

std::vector<std::pair<std::string, std::string>> HookEnv::variables() const {
  std::vector<std::pair<std::string, std::string>> out;
  out.emplace_back("ROAM_HOOK", std::string(hook_key(kind)));
  out.emplace_back("ROAM_ACCOUNT", account);
  if (outcome) {
    out.emplace_back("ROAM_STATUS", outcome->ok ? "ok" : "failed");
    out.emplace_back("ROAM_LOCAL_NEW", std::to_string(outcome->local_new));
    out.emplace_back("ROAM_LOCAL_CHANGED", std::to_string(outcome->local_changed));
    out.emplace_back("ROAM_SERVER_CHANGED", std::to_string(outcome->server_changed));
  }
  return out;
}

HookEnv hook_env_before(std::string_view account) {
  HookEnv env;
  env.kind = HookKind::PreSync;
  env.account = std::string(account);
  return env;
}

HookEnv hook_env_after(const sync::AccountReport& report) {
  HookEnv env;
  env.kind = HookKind::PostSync;
  env.account = report.account;
  HookEnv::Outcome outcome;
  outcome.ok = report.ok();
  for (const auto& f : report.folders) {
    outcome.local_new += f.downloaded;
    outcome.local_changed += f.flags_changed + f.deleted;
    outcome.server_changed += f.uploaded + f.server_flags_changed + f.server_deleted + f.moved;
  }
  env.outcome = outcome;
  return env;
}

std::string HookResult::describe(std::string_view key, std::string_view account) const {
  if (ok()) {
    return {};
  }
  std::string what = std::string(key) + " of account " + std::string(account);
  std::string message;
  if (!start_error.empty()) {
    return what + " could not be started: " + start_error;
  }
  if (timed_out) {
    message = what + " did not finish within the account's timeout of " +
              std::to_string(timeout.count()) +
              " s, so roam killed it and everything it started; make the command finish sooner "
              "or raise timeout in [account." +
              std::string(account) + "]";
  } else if (stopped) {
    message = what + " was killed because roam was asked to stop";
  } else if (signal != 0) {
    message = what + " was killed by signal " + std::to_string(signal);
  } else {
    message = what + " failed with exit status " + std::to_string(exit_code) +
              (exit_code == 127 ? " (command not found?)" : "");
  }
  if (std::string tail = output_tail(output); !tail.empty()) {
    message += "; its output ended: " + tail;
  }
  return message;
}

HookResult run_hook(const std::string& command, const HookEnv& env, std::chrono::seconds timeout) {
  HookResult result;
  result.timeout = timeout;
  const auto start = std::chrono::steady_clock::now();
  const auto deadline = start + timeout;
  auto finish = [&]() -> HookResult {
    result.seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return result;
  };

  // Everything the child needs is prepared before fork: after fork only
  // async-signal-safe calls are allowed in a threaded program.
  std::vector<std::string> entries;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    if (!is_hook_variable(*e)) {
      entries.emplace_back(*e);
    }
  }
  for (const auto& [name, value] : env.variables()) {
    entries.push_back(name + "=" + value);
  }
  std::vector<char*> envp;
  envp.reserve(entries.size() + 1);
  for (auto& entry : entries) {
    envp.push_back(entry.data());
  }
  envp.push_back(nullptr);

  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    result.start_error = util::errno_message("no pipe for its output");
    return finish();
  }
  util::Fd read_end(fds[0]);
  util::Fd write_end(fds[1]);
  util::Fd null_fd(::open("/dev/null", O_RDWR | O_CLOEXEC));
  if (!null_fd) {
    result.start_error = util::errno_message("cannot open /dev/null");
    return finish();
  }
  const pid_t parent = ::getpid();
  pid_t child = ::fork();
  if (child < 0) {
    result.start_error = util::errno_message("cannot fork");
    return finish();
  }
  if (child == 0) {
    run_hook_child(command.c_str(), envp.data(), write_end.get(), null_fd.get(), parent);
  }
  // Also set here, so that the group exists before roam may have to kill it.
  ::setpgid(child, child);
  write_end = util::Fd();
  null_fd = util::Fd();

  auto kill_group = [&] {
    if (::killpg(child, SIGKILL) != 0) {
      ::kill(child, SIGKILL);
    }
    int status = 0;
    while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
    }
  };
  auto remaining_ms = [&] {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    return static_cast<int>(std::max<std::chrono::milliseconds::rep>(left.count(), 0));
  };
  // Whether the wait must end now: the timeout ran out or roam was asked
  // to stop. Either way the group is killed, and the result says which.
  auto must_end = [&] {
    if (util::stop_requested() != 0) {
      result.stopped = true;
    } else if (remaining_ms() == 0) {
      result.timed_out = true;
    } else {
      return false;
    }
    kill_group();
    return true;
  };

  char buf[4096];
  for (;;) {
    if (must_end()) {
      return finish();
    }
    pollfd pfd{read_end.get(), POLLIN, 0};
    int ready = ::poll(&pfd, 1, std::min(remaining_ms(), k_stop_poll_ms));
    if (ready < 0 && errno != EINTR) {
      break;
    }
    if (ready <= 0) {
      continue;
    }
    ssize_t n = ::read(read_end.get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) {
        continue;
      }
      break;
    }
    if (n == 0) {
      break;
    }
    result.output.append(buf, static_cast<std::size_t>(n));
    if (result.output.size() > 2 * k_hook_output_kept) {
      result.output.erase(0, result.output.size() - k_hook_output_kept);
    }
  }
  if (result.output.size() > k_hook_output_kept) {
    result.output.erase(0, result.output.size() - k_hook_output_kept);
  }
  read_end = util::Fd();
  // The command may close its output and go on running.
  int status = 0;
  for (;;) {
    pid_t done = ::waitpid(child, &status, WNOHANG);
    if (done == child) {
      break;
    }
    if (done < 0 && errno != EINTR) {
      result.start_error = util::errno_message("cannot wait for it");
      kill_group();
      return finish();
    }
    if (must_end()) {
      return finish();
    }
    ::poll(nullptr, 0, std::min(remaining_ms(), 20));
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

}  // namespace roam::cli
