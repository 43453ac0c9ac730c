#include "state/lock.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <thread>

#include "util/error.hpp"
#include "util/log.hpp"

namespace roam::state {

namespace fs = std::filesystem;
using util::Error;
using util::Scope;

namespace {

// How often a waiting AccountLock retries.
constexpr std::chrono::milliseconds k_retry_interval(100);

// Reads the pid the holder wrote; empty if it has not written it yet.
std::string read_holder_pid(const fs::path& path) {
  util::Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) {
    return {};
  }
  char buf[32] = {};
  ssize_t got = ::pread(fd.get(), buf, sizeof buf - 1, 0);
  if (got <= 0) {
    return {};
  }
  std::string pid;
  for (ssize_t i = 0; i < got && buf[i] >= '0' && buf[i] <= '9'; ++i) {
    pid += buf[i];
  }
  return pid;
}

}  // namespace

fs::path lock_file_for(const fs::path& state_dir) {
  return state_dir / "lock";
}

AccountLock::AccountLock(const fs::path& state_dir, std::string_view account, LockWait wait,
                         std::chrono::milliseconds timeout)
    : m_path(lock_file_for(state_dir)) {
  try {
    util::create_directories(state_dir, 0700);
  } catch (const Error& e) {
    // Without its state directory the whole account cannot be synced.
    throw Error(Scope::Account, e.what());
  }
  m_fd = util::Fd(::open(m_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  if (!m_fd) {
    throw Error(Scope::Account, util::errno_message("cannot open lock file " + m_path.string()));
  }
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (::flock(m_fd.get(), LOCK_EX | LOCK_NB) == 0) {
      break;
    }
    if (errno == EINTR) {
      continue;
    }
    if (errno != EWOULDBLOCK) {
      throw Error(Scope::Account, util::errno_message("cannot lock " + m_path.string()));
    }
    auto now = std::chrono::steady_clock::now();
    if (wait == LockWait::Fail || now >= deadline) {
      auto pid = read_holder_pid(m_path);
      std::string message = "another roam process (pid " + (pid.empty() ? "unknown" : pid) +
                            ") is syncing account " + std::string(account) + "; it holds " +
                            m_path.string();
      if (wait == LockWait::Wait) {
        message += " (waited " + std::to_string(timeout.count()) + " ms)";
      }
      throw Error(Scope::Account, message);
    }
    std::this_thread::sleep_for(
        std::min<std::chrono::steady_clock::duration>(k_retry_interval, deadline - now));
  }
  // The pid is informative only (the lock is the flock, not the content), so
  // it is not fsynced.
  std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(m_fd.get(), 0) != 0) {
    throw Error(Scope::Account,
                util::errno_message("cannot truncate lock file " + m_path.string()));
  }
  if (::pwrite(m_fd.get(), pid.data(), pid.size(), 0) != static_cast<ssize_t>(pid.size())) {
    throw Error(Scope::Account, util::errno_message("cannot write lock file " + m_path.string()));
  }
  ROAM_DEBUG(util::k_cat_state, "locked " << m_path.string() << " for account " << account);
  // A run killed while it wrote a state file left its temporary file behind.
  // Only now, holding the lock, is it certain that no roam process of this
  // account is writing one.
  if (std::size_t removed = util::remove_stale_temp_files(state_dir); removed != 0) {
    ROAM_DEBUG(util::k_cat_state,
               "removed " << removed << " stale temporary files from " << state_dir.string());
  }
}

}  // namespace roam::state
