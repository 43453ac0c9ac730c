#pragma once

// The account hooks: `pre_sync_cmd` runs before an account's sync and
// `post_sync_cmd` after it (see sample.conf and docs/hooks in the README).
// Both `roam sync` and a `roam watch` loop call run_hook; this module knows
// nothing of either, so the loop only needs:
//
//   auto env = hook_env_after(report);             // or hook_env_before(name)
//   HookResult r = run_hook(account.post_sync_cmd, env, account.timeout);
//   if (!r.ok()) { report r.describe("post_sync_cmd", account.name) }
//
// A hook runs with /bin/sh -c in a process group of its own, with stdin from
// /dev/null and its stdout and stderr captured (never mixed into roam's own
// output, which may be a JSON document), bounded by a timeout after which the
// whole group is killed. Its environment is roam's with the ROAM_* variables
// of HookEnv added; no credential is ever put there.

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "sync/account.hpp"
#include "util/subprocess.hpp"

namespace roam::cli {

// Which hook runs, for ROAM_HOOK and messages.
enum class HookKind { PreSync, PostSync };

// The configuration key of a hook: "pre_sync_cmd" or "post_sync_cmd".
std::string_view hook_key(HookKind kind);

// What a hook is told through its environment.
struct HookEnv {
  HookKind kind = HookKind::PostSync;
  // ROAM_ACCOUNT.
  std::string account;
  // The rest is known after a sync only (post_sync_cmd); a pre_sync_cmd
  // gets ROAM_ACCOUNT and ROAM_HOOK alone.
  struct Outcome {
    // ROAM_STATUS: "ok" when the account synced without an error at any
    // scope, else "failed".
    bool ok = true;
    // ROAM_LOCAL_NEW: messages added to the Maildir.
    std::size_t local_new = 0;
    // ROAM_LOCAL_CHANGED: messages whose flags changed in the Maildir, or
    // that were removed from it.
    std::size_t local_changed = 0;
    // ROAM_SERVER_CHANGED: messages added, changed (flags) or removed on
    // the server, moves included.
    std::size_t server_changed = 0;
  };
  std::optional<Outcome> outcome;

  // The variables as NAME, value pairs, in a fixed order.
  std::vector<std::pair<std::string, std::string>> variables() const;
};

// The environment of a pre_sync_cmd for `account`.
HookEnv hook_env_before(std::string_view account);

// The environment of a post_sync_cmd after the sync that `report` describes
// (the counts are summed over its folders; a dry run's report gives what
// would have been done).
HookEnv hook_env_after(const sync::AccountReport& report);

// How a hook ended: util::SubprocessResult (exit status, signal, timeout,
// stop, output), with the output being the last k_hook_output_kept bytes of
// what it wrote to stdout and stderr together, and start_error also saying
// when roam could not wait for it.
struct HookResult : util::SubprocessResult {
  // The timeout it ran under, for describe().
  std::chrono::seconds timeout{0};

  // Exited with status 0.
  bool ok() const { return exit_code == 0 && !timed_out && !stopped && start_error.empty(); }
  // A sentence for an error message: "post_sync_cmd of account work failed
  // with exit status 3; its output ended: ..." (empty when ok()).
  std::string describe(std::string_view key, std::string_view account) const;
};

// How much of a hook's output is kept (the end of it).
inline constexpr std::size_t k_hook_output_kept = 4096;

// Runs `command` with /bin/sh -c and the environment `env` under
// util::run_subprocess, and waits for it for at most `timeout` (then kills
// its process group, with everything it started, and says so in the
// result). Also kills it, sooner, when roam is asked to stop
// (util::stop_requested). Never throws for the command's failures; they are
// in the result. Safe to call from several threads at once.
HookResult run_hook(const std::string& command, const HookEnv& env, std::chrono::seconds timeout);

}  // namespace roam::cli
