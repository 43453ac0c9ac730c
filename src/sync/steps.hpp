#pragma once

// Step counting for the crash-at-every-step test. Every side effect the
// executor makes (a rename, a deletion, a server command that changes
// something, a delivery, a state commit) counts as one step. A hidden test
// switch (`roam sync --test-stop-after=N`) makes the process exit abruptly,
// without cleanup, right after step N, so that the test suite can check that
// a run killed at any step is resumed to the same end result.

#include <cstdint>

namespace roam::sync {

// Stop after `n` steps (0 = never).
void set_stop_after_steps(std::uint64_t n);

// Counts one step; exits with status 100 (std::_Exit) when the limit is hit.
void count_step();

// Steps counted so far in this process.
std::uint64_t steps_counted();

}  // namespace roam::sync
