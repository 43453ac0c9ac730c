#pragma once

#include <functional>
#include <string>

#include "cli/config.hpp"
#include "cli/json_report.hpp"
#include "sync/account.hpp"

// The command line: `roam sync`, `roam watch`, `roam list`, `--help`,
// `--version`.
// Exit codes: 0 everything synced; 1 some folder or account failed; 2 bad
// usage or configuration; 3 an internal error.

namespace roam::cli {

inline constexpr int k_exit_ok = 0;
inline constexpr int k_exit_partial = 1;
inline constexpr int k_exit_usage = 2;
inline constexpr int k_exit_internal = 3;

int run(int argc, char** argv);

// For `roam watch`, what `roam sync` does for one account:
// The settings of a sync of the account (no dry run, no --force).
sync::AccountSettings account_settings(const AccountConfig& a);
// One sync with its hooks, as `roam sync` runs it; `password`, when set,
// replaces the account's password callback.
AccountRun sync_once(const AccountConfig& a, const std::function<std::string()>& password);
// Prints the account's report, hook failures and warnings as `roam sync`
// does; with `quiet` only the errors.
void print_run(const AccountRun& run, bool verbose, bool quiet, bool json = false);

}  // namespace roam::cli
