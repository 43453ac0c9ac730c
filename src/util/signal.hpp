#pragma once

// Stopping a run politely. The first SIGINT or SIGTERM asks the run to stop
// at its next safe point (between folders, between batches of downloads):
// what is done is committed and reported, what is not is said, and roam
// exits with 128 + the signal's number (130, 143). A second signal ends the
// process at once, by the signal's default action; the journal and the
// cleaning of tmp/ make the next run pick up from there.

namespace roam::util {

// Installs the handlers (sync and watch call this; tests and the
// simulation do not, so a signal there keeps its default action).
void install_stop_handlers();

// The signal that asked the run to stop, or 0.
int stop_requested();

// Asks the run to stop as the signal `sig` would (for tests); 0 forgets it.
void request_stop(int sig);

// For `roam watch`: installs the stop handlers and one for SIGUSR1 (sync
// now), and returns a descriptor that becomes readable whenever one of
// them arrives, for a poll() that must not sleep through a signal that
// came just before it started. Read it empty with drain_signal_fd().
int install_watch_handlers();
void drain_signal_fd();

// How many SIGUSR1 arrived since install_watch_handlers().
unsigned sync_requests();

}  // namespace roam::util
