#pragma once

// Runs the real executor, roam::sync::sync_account, in a forked child
// process against the server model, which stays in this (the parent)
// process and serves the child over a socketpair until it hangs up.
//
// Why a child process: a kill at step N must be a real kill (no destructors,
// no buffered state flushed, the account lock released by the kernel), which
// is what roam::state::set_stop_after_steps does with std::_Exit. In-process,
// the only way to stop the executor would be an exception, which unwinds
// and runs exactly the cleanup a crash would skip. The server state must
// outlive the kill, so it lives in the parent.

#include <cstdint>
#include <filesystem>
#include <string>

#include "server_model.hpp"

#include "maildir/layout.hpp"

namespace roam::sim {

struct RunOptions {
  maildir::Tree tree;
  std::filesystem::path state_dir;
  std::uint64_t stop_after_steps = 0;  // 0 = run to the end.
  // Close the connection after this many server-to-client bytes (0 = never).
  // Commands the server already received are still carried out, so a reply
  // can be lost after its effect (an APPEND whose APPENDUID never arrives).
  std::uint64_t cut_after_bytes = 0;
  bool verbose = false;  // Let the child's log through; print the wire trace.
  // roam's `connections`: above 1, folders are synced over several
  // connections at once, and the model serves them interleaved.
  std::size_t connections = 1;
};

struct RunResult {
  enum class End { Ok, NotOk, Killed, Crashed } end = End::Crashed;
  std::string summary;  // The child's report, one line per folder.
  bool cut = false;     // The connection was cut by the model.
  // Steps (roam::state::count_step) the child made before it ended; 0 when
  // it was killed, which ends it before it can say.
  std::uint64_t steps = 0;
  std::string describe() const;
};

RunResult run_roam(ServerModel& model, const RunOptions& options);

}  // namespace roam::sim
