#pragma once

// `roam sync --json`: the run as one JSON document on stdout. The schema is
// documented in docs/json-output.md; its "version" changes whenever a field
// changes meaning or goes away (adding a field does not change it). The
// document is built by pure functions of the reports, so that every field is
// a unit test (tests/unit/cli/json_report_test.cpp).

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/hooks.hpp"
#include "sync/account.hpp"

namespace roam::cli {

inline constexpr int k_json_version = 1;

// One account of a run: its sync's report and its hooks.
struct AccountRun {
  sync::AccountReport report;
  // Set when the hook ran (it is configured, and the run was no dry run).
  std::optional<HookResult> pre_hook;
  std::optional<HookResult> post_hook;
  // The run was stopped (SIGINT, SIGTERM) before this account started.
  bool not_started = false;
  // Said on stderr after the account's report (e.g. the Maildir's marker
  // file could not be written); not failures.
  std::vector<std::string> warnings;

  // The sync and both hooks went well (a hook not run is no failure).
  bool ok() const;
};

// What the run as a whole was.
struct RunInfo {
  bool dry_run = false;
  int exit_status = 0;
  double seconds = 0;
  // The signal that stopped the run, or 0.
  int stopped_by = 0;
  // An error that ended the run before or outside the accounts (a bad
  // configuration: scope "usage"; a bug: "fatal"), or nothing.
  std::optional<std::string> error;
  std::string error_scope;
};

// "SIGINT", "SIGTERM", "signal N"; null for 0.
nlohmann::json signal_json(int sig);

// One account's object of the "accounts" array.
nlohmann::json account_json(const AccountRun& run);

// The whole document.
nlohmann::json run_json(const std::vector<AccountRun>& runs, const RunInfo& info);

}  // namespace roam::cli
