#pragma once

#include "cli/config.hpp"
#include "sync/account.hpp"

// The command line: `roam sync`, `roam list`, `--help`, `--version`.
// Exit codes: 0 everything synced; 1 some folder or account failed; 2 bad
// usage or configuration; 3 an internal error.

namespace roam::cli {

inline constexpr int k_exit_ok = 0;
inline constexpr int k_exit_partial = 1;
inline constexpr int k_exit_usage = 2;
inline constexpr int k_exit_internal = 3;

int run(int argc, char** argv);

// What `roam sync` does for one account, for `roam watch` too.
sync::AccountSettings settings_for(const AccountConfig& a, bool dry_run, bool force);
// Syncs one account after checking that its Maildir is not another
// account's, and marks the Maildir as this account's afterwards.
sync::AccountReport sync_one_account(const AccountConfig& a, const sync::AccountSettings& s);
// Prints the run's errors and notes to stderr and, unless `quiet`, its
// summary line to stdout; -v adds one line per folder.
void print_report(const sync::AccountReport& r, bool verbose, bool quiet);

}  // namespace roam::cli
