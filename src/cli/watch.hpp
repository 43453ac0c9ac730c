#pragma once

// `roam watch`: sync once, then stay connected and keep both sides in step.
//
// Each account runs a loop on a thread of its own. It is woken by its
// IDLE connections (sync::ServerWatch: a change on the server), by inotify
// (maildir::ChangeWatch: a mail reader changed the Maildir), by SIGUSR1, and
// by a timer for the full sync every `watch_interval`. Every wake-up ends
// in the same thing: a normal sync of the account (cli::sync_one_account),
// under the account lock, journaled and committed as `roam sync` is. The
// account summary makes such a sync cost one round trip for the folders
// that did not change, so the loop does not need to know which folder did.
//
// A sync changes the Maildir and the server itself, and the watches see
// that too. The loop does not try to tell its own changes from a user's:
// whatever arrived during a sync asks for one more, which finds nothing
// to do and so wakes nothing.

#include <string>
#include <vector>

#include "cli/config.hpp"

namespace roam::cli {

struct WatchOptions {
  bool verbose = false;
  bool quiet = false;
};

// Runs until SIGINT or SIGTERM (then finishes the step and returns 0).
int command_watch(const Config& config, const std::vector<std::string>& names,
                  const WatchOptions& options);

}  // namespace roam::cli
