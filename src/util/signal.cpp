#include "util/signal.hpp"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>

#include <csignal>

namespace roam::util {

namespace {

std::atomic<int> g_stop{0};
static_assert(std::atomic<int>::is_always_lock_free, "used in a signal handler");

std::atomic<unsigned> g_sync_requests{0};
// The pipe the handlers write to once install_watch_handlers() made it.
std::atomic<int> g_wake_write{-1};
int g_wake_read = -1;
static_assert(std::atomic<unsigned>::is_always_lock_free, "used in a signal handler");

void wake_watcher() {
  const int fd = g_wake_write.load();
  if (fd >= 0) {
    // write() is async-signal-safe; errno is kept for the code the signal
    // interrupted. A full pipe is readable already, so nothing is lost.
    const int saved = errno;
    const char byte = 1;
    [[maybe_unused]] ssize_t n = ::write(fd, &byte, 1);
    errno = saved;
  }
}

extern "C" void on_sync_signal(int) {
  g_sync_requests.fetch_add(1);
  wake_watcher();
}

extern "C" void on_stop_signal(int sig) {
  wake_watcher();
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

int install_watch_handlers() {
  if (g_wake_read < 0) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0) {
      return -1;
    }
    g_wake_read = fds[0];
    g_wake_write.store(fds[1]);
  }
  install_stop_handlers();
  struct sigaction action {};
  action.sa_handler = on_sync_signal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;
  sigaction(SIGUSR1, &action, nullptr);
  return g_wake_read;
}

void drain_signal_fd() {
  char buf[64];
  while (g_wake_read >= 0 && ::read(g_wake_read, buf, sizeof buf) > 0) {
  }
}

unsigned sync_requests() {
  return g_sync_requests.load();
}

int stop_requested() {
  return g_stop.load();
}

void request_stop(int sig) {
  g_stop.store(sig);
}

}  // namespace roam::util
