#include "cli/hooks.hpp"

#include <algorithm>
#include <array>
#include <utility>

#include "util/error.hpp"
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

bool is_hook_variable(std::string_view entry) {
  auto equals = entry.find('=');
  auto name = entry.substr(0, equals);
  return std::find(k_hook_variables.begin(), k_hook_variables.end(), name) !=
         k_hook_variables.end();
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
  util::SubprocessOptions options;
  std::vector<std::string> entries;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    if (!is_hook_variable(*e)) {
      entries.emplace_back(*e);
    }
  }
  for (const auto& [name, value] : env.variables()) {
    entries.push_back(name + "=" + value);
  }
  options.environment = std::move(entries);
  // A hook runs unattended, whether roam does or not: it must not wait for
  // the terminal, and its output must not be mixed into roam's own (which
  // may be a JSON document), but kept for the report.
  options.stdin_from = util::Stdin::Null;
  options.stderr_to = util::Stderr::Captured;
  options.output_limit = k_hook_output_kept;
  // The end of the output says why a command failed.
  options.kept = util::Kept::End;
  // Nothing of roam's but the three standard descriptors reaches the hook:
  // not a connection to the server, not another account's files.
  options.close_other_fds = true;
  options.timeout = timeout;
  options.should_stop = [] { return util::stop_requested() != 0; };

  HookResult result{util::run_subprocess(command, options), timeout};
  if (result.wait_errno != 0) {
    result.start_error = util::errno_message("cannot wait for it", result.wait_errno);
  }
  return result;
}

}  // namespace roam::cli
