#include "util/log.hpp"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <mutex>

#include "util/error.hpp"

namespace roam::util {

namespace {
std::atomic<int> g_level{static_cast<int>(Level::Warning)};
std::atomic<unsigned> g_categories{0};
std::mutex g_write_mutex;
// Debug lines carry the seconds since the program started, so that a trace
// shows where a run spends its time (the round trips, the waits for the
// disk) without a profiler.
const auto g_start = std::chrono::steady_clock::now();
}  // namespace

void set_log_level(Level level) {
  g_level = static_cast<int>(level);
}

void set_debug_categories(unsigned categories) {
  g_categories = categories;
}

unsigned parse_debug_categories(std::string_view list) {
  unsigned bits = 0;
  while (!list.empty()) {
    auto comma = list.find(',');
    auto name = list.substr(0, comma);
    list = comma == std::string_view::npos ? std::string_view{} : list.substr(comma + 1);
    if (name == "all") {
      bits |= k_cat_all;
    } else if (name == "general") {
      bits |= k_cat_general;
    } else if (name == "net") {
      bits |= k_cat_net;
    } else if (name == "imap") {
      bits |= k_cat_imap;
    } else if (name == "maildir") {
      bits |= k_cat_maildir;
    } else if (name == "state") {
      bits |= k_cat_state;
    } else if (name == "sync") {
      bits |= k_cat_sync;
    } else if (!name.empty()) {
      throw Error(Scope::Usage, "unknown debug category '" + std::string(name) +
                                    "' (known: all, general, net, imap, maildir, state, sync)");
    }
  }
  return bits;
}

bool log_enabled(Level level, unsigned category) {
  if (level == Level::Debug) {
    return (g_categories.load() & category) != 0;
  }
  return static_cast<int>(level) <= g_level.load();
}

void log_write(Level level, const std::string& text) {
  const char* prefix = "";
  switch (level) {
    case Level::Error:
      prefix = "roam: error: ";
      break;
    case Level::Warning:
      prefix = "roam: warning: ";
      break;
    case Level::Info:
      prefix = "roam: ";
      break;
    case Level::Debug:
      prefix = "roam: debug: ";
      break;
  }
  char elapsed[32] = "";
  if (level == Level::Debug) {
    std::snprintf(
        elapsed, sizeof elapsed, "%.3f ",
        std::chrono::duration<double>(std::chrono::steady_clock::now() - g_start).count());
  }
  std::lock_guard lock(g_write_mutex);
  std::cerr << prefix << elapsed << text << '\n';
}

}  // namespace roam::util
