#include "state/lock.hpp"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <thread>

#include "fakes/temp_dir.hpp"
#include "util/error.hpp"

namespace roam::state {
namespace {

using fakes::TempDir;

TEST(AccountLock, CreatesStateDirAndWritesPid) {
  TempDir dir;
  auto state_dir = dir.path() / "a" / "b";
  AccountLock lock(state_dir, "work");
  EXPECT_EQ(lock.path(), state_dir / "lock");
  std::ifstream in(lock.path());
  std::string pid;
  in >> pid;
  EXPECT_EQ(pid, std::to_string(::getpid()));
}

TEST(AccountLock, RemovesTemporaryFilesThatKilledRunsLeft) {
  // A run killed while it wrote a state file leaves "<file>.tmp-<pid>"; the
  // next run of the account removes it once it holds the lock.
  TempDir dir;
  pid_t child = ::fork();
  if (child == 0) {
    ::_exit(0);
  }
  int status = 0;
  ::waitpid(child, &status, 0);
  auto stale = dir.path() / ("folder-INBOX.json.tmp-" + std::to_string(child));
  auto live = dir.path() / "folder-INBOX.json.tmp-1";
  std::ofstream(stale) << "{";
  std::ofstream(live) << "{";
  AccountLock lock(dir.path(), "work");
  EXPECT_FALSE(std::filesystem::exists(stale));
  EXPECT_TRUE(std::filesystem::exists(live));
}

TEST(AccountLock, SecondLockInTheSameProcessConflicts) {
  TempDir dir;
  AccountLock first(dir.path(), "work");
  try {
    AccountLock second(dir.path(), "work");
    FAIL() << "the second lock was granted";
  } catch (const util::Error& e) {
    std::string message = e.what();
    EXPECT_EQ(e.scope(), util::Scope::Account);
    EXPECT_NE(message.find("another roam process (pid " + std::to_string(::getpid()) + ")"),
              std::string::npos)
        << message;
    EXPECT_NE(message.find("account work"), std::string::npos) << message;
    EXPECT_NE(message.find((dir.path() / "lock").string()), std::string::npos) << message;
  }
}

TEST(AccountLock, ReleasedOnDestruction) {
  TempDir dir;
  { AccountLock first(dir.path(), "work"); }
  EXPECT_NO_THROW(AccountLock second(dir.path(), "work"));
}

TEST(AccountLock, WaitTimesOut) {
  TempDir dir;
  AccountLock first(dir.path(), "work");
  auto start = std::chrono::steady_clock::now();
  EXPECT_THROW(AccountLock(dir.path(), "work", LockWait::Wait, std::chrono::milliseconds(250)),
               util::Error);
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(250));
}

TEST(AccountLock, WaitSucceedsWhenTheHolderLetsGo) {
  TempDir dir;
  auto first = std::make_unique<AccountLock>(dir.path(), "work");
  std::thread releaser([&first] {
    std::this_thread::sleep_for(std::chrono::milliseconds(150));
    first.reset();
  });
  EXPECT_NO_THROW(AccountLock(dir.path(), "work", LockWait::Wait, std::chrono::seconds(10)));
  releaser.join();
}

TEST(AccountLock, ConflictsAcrossProcesses) {
  TempDir dir;
  int ready[2];
  int done[2];
  ASSERT_EQ(::pipe(ready), 0);
  ASSERT_EQ(::pipe(done), 0);
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    // The child holds the lock until the parent has tried to take it.
    int code = 0;
    try {
      AccountLock lock(dir.path(), "work");
      char c = 'x';
      if (::write(ready[1], &c, 1) != 1 || ::read(done[0], &c, 1) != 1) {
        code = 2;
      }
    } catch (...) {
      code = 1;
    }
    ::_exit(code);
  }
  char c = 0;
  ASSERT_EQ(::read(ready[0], &c, 1), 1);
  try {
    AccountLock lock(dir.path(), "work");
    ADD_FAILURE() << "the lock held by the child was granted";
  } catch (const util::Error& e) {
    EXPECT_NE(std::string(e.what()).find("pid " + std::to_string(child)), std::string::npos)
        << e.what();
  }
  ASSERT_EQ(::write(done[1], &c, 1), 1);
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  EXPECT_NO_THROW(AccountLock after(dir.path(), "work"));
  for (int fd : {ready[0], ready[1], done[0], done[1]}) {
    ::close(fd);
  }
}

}  // namespace
}  // namespace roam::state
