#pragma once

// The command line: `roam sync`, `roam list`, `--help`, `--version`.
// Exit codes: 0 everything synced; 1 some folder or account failed; 2 bad
// usage or configuration; 3 an internal error.

namespace roam::cli {

inline constexpr int k_exit_ok = 0;
inline constexpr int k_exit_partial = 1;
inline constexpr int k_exit_usage = 2;
inline constexpr int k_exit_internal = 3;

int run(int argc, char** argv);

}  // namespace roam::cli
