#pragma once

// Watching processes that a command under test started (and that must not
// outlive it) from the outside, by pid.

#include <signal.h>
#include <sys/types.h>

#include <cerrno>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>

namespace roam::fakes {

// Whether process `pid` has ended: gone, or a zombie nobody reaped yet (its
// parent was killed too, and whatever adopted it has not got round to it).
inline bool process_ended(pid_t pid) {
  if (::kill(pid, 0) != 0 && errno == ESRCH) {
    return true;
  }
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  auto close = text.rfind(')');
  return text.empty() || (close != std::string::npos && close + 2 < text.size() &&
                          (text[close + 2] == 'Z' || text[close + 2] == 'X'));
}

// Whether process `pid` ends within `limit`; a process killed a moment ago
// may take that long to be seen gone.
inline bool ends_within(pid_t pid, std::chrono::milliseconds limit) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (!process_ended(pid)) {
    if (std::chrono::steady_clock::now() > deadline) {
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return true;
}

// Waits for a command to write its pid into `path`; 0 when it never does.
inline pid_t pid_from(const std::filesystem::path& path) {
  for (int i = 0; i < 500; ++i) {
    std::ifstream in(path);
    pid_t pid = 0;
    if (in >> pid && pid > 0) {
      return pid;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return 0;
}

}  // namespace roam::fakes
