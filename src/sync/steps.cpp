#include "sync/steps.hpp"

#include <atomic>
#include <cstdlib>

namespace roam::sync {

namespace {
std::atomic<std::uint64_t> g_limit{0};
std::atomic<std::uint64_t> g_count{0};
}  // namespace

void set_stop_after_steps(std::uint64_t n) {
  g_limit = n;
}

void count_step() {
  std::uint64_t now = ++g_count;
  if (g_limit != 0 && now >= g_limit) {
    // Like a kill: no destructors, no flushing of buffers, no state commit.
    std::_Exit(100);
  }
}

std::uint64_t steps_counted() {
  return g_count;
}

}  // namespace roam::sync
