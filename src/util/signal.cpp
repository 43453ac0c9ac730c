#include "util/signal.hpp"

#include <signal.h>
#include <atomic>

#include <csignal>

namespace roam::util {

namespace {

std::atomic<int> g_stop{0};
static_assert(std::atomic<int>::is_always_lock_free, "used in a signal handler");

extern "C" void on_stop_signal(int sig) {
  int expected = 0;
  if (!g_stop.compare_exchange_strong(expected, sig)) {
    // The second signal: the user means it. Both calls are
    // async-signal-safe.
    std::signal(sig, SIG_DFL);
    std::raise(sig);
  }
}

}  // namespace

void install_stop_handlers() {
  struct sigaction action {};
  action.sa_handler = on_stop_signal;
  sigemptyset(&action.sa_mask);
  // Interrupted reads and writes go on (the step in progress finishes);
  // waits with a timeout return EINTR, which the network code retries.
  action.sa_flags = SA_RESTART;
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
}

int stop_requested() {
  return g_stop.load();
}

void request_stop(int sig) {
  g_stop.store(sig);
}

}  // namespace roam::util
