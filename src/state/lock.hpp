#pragma once

// The account lock: one roam process per account at a time. Two runs on the
// same state would each commit their own view of it and lose the other's.

#include <chrono>
#include <filesystem>
#include <string>
#include <string_view>

#include "util/fs.hpp"

namespace roam::state {

// What AccountLock does when another process holds the lock.
enum class LockWait {
  Fail,  // Throw at once.
  Wait,  // Retry until the timeout, then throw.
};

// Holds an exclusive flock(2) on "<state_dir>/lock" for its lifetime and
// writes the holder's pid into the file for the error message of the next
// run. flock locks belong to the open file description, so two AccountLocks
// conflict even inside one process. The lock goes away with the process, so
// a crashed run never leaves a stale lock behind; the file itself is kept
// (removing it would let two processes lock two different files).
class AccountLock {
 public:
  // Creates `state_dir` (mode 0700) if needed and takes the lock, then
  // removes the temporary files of state writes that a killed run left
  // behind (util::remove_stale_temp_files). `account`
  // names the account in messages. Throws util::Error(Scope::Account)
  // "another roam process (pid N) is syncing account X; it holds <path>"
  // when the lock is held and `wait` is Fail or `timeout` runs out.
  AccountLock(const std::filesystem::path& state_dir, std::string_view account,
              LockWait wait = LockWait::Fail,
              std::chrono::milliseconds timeout = std::chrono::milliseconds(0));

  AccountLock(AccountLock&&) noexcept = default;
  AccountLock& operator=(AccountLock&&) noexcept = default;
  AccountLock(const AccountLock&) = delete;
  AccountLock& operator=(const AccountLock&) = delete;

  // Releases the lock (closing the descriptor does it).
  ~AccountLock() = default;

  // The lock file's path.
  const std::filesystem::path& path() const { return m_path; }

 private:
  std::filesystem::path m_path;
  util::Fd m_fd;
};

// The lock file inside `state_dir`.
std::filesystem::path lock_file_for(const std::filesystem::path& state_dir);

}  // namespace roam::state
