// Stopping a run with Ctrl-C or SIGTERM (issue #8): the first signal stops
// at the next safe point, says so and exits 130 or 143; a second ends the
// process at once; either way the next run finishes the job, downloads
// nothing twice, and leaves no file of roam's in any tmp/. The signal is
// raised by roam itself after a given step (`--test-signal-after`), so the
// moment is the same on every machine.

#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "dovecot.hpp"
#include "maildir_helpers.hpp"

namespace roam::it {
namespace {

namespace fs = std::filesystem;

// Two folders of 20 messages each on the server.
Account account_with_two_folders(const std::vector<std::string>& extra_lines = {}) {
  const auto& server = TestServer::instance();
  Account account = make_account(extra_lines);
  server.create_mailbox(account.user, "Work");
  for (int i = 0; i < 20; ++i) {
    server.append(account.user, "INBOX", make_message("inbox-" + std::to_string(i)));
    server.append(account.user, "Work", make_message("work-" + std::to_string(i)));
  }
  return account;
}

// Files of roam's own left in any tmp/ under the Maildir.
std::vector<std::string> roam_files_in_tmp(const fs::path& maildir) {
  std::vector<std::string> out;
  if (!fs::exists(maildir)) {
    return out;
  }
  for (const auto& e : fs::recursive_directory_iterator(maildir)) {
    std::string name = e.path().filename().string();
    if (e.path().parent_path().filename() == "tmp" && name.rfind("roam-", 0) == 0) {
      out.push_back(e.path().string());
    }
  }
  return out;
}

void expect_complete(const Account& account) {
  for (const std::string folder : {"INBOX", "Work"}) {
    auto files = local_files(account.maildir / folder);
    EXPECT_EQ(files.size(), 20u) << folder;
    std::set<std::string> contents;
    for (const auto& f : files) {
      contents.insert(f.content);
    }
    EXPECT_EQ(contents.size(), files.size()) << folder << ": a message is there twice";
  }
  EXPECT_TRUE(roam_files_in_tmp(account.maildir).empty());
}

TEST(Signal, CtrlCStopsBetweenFoldersAndTheNextRunFinishes) {
  // One connection: the folders are synced one after the other.
  Account account = account_with_two_folders({"connections = 1"});
  auto first = sync(account, {"--test-signal-after=3"});
  EXPECT_EQ(first.exit_code, 130) << describe(first);
  EXPECT_NE(first.err.find("stopped by SIGINT at a safe point"), std::string::npos)
      << describe(first);
  // The folder being synced finished; the other waits for the next run.
  std::size_t inbox = local_files(account.maildir / "INBOX").size();
  std::size_t work =
      fs::exists(account.maildir / "Work") ? local_files(account.maildir / "Work").size() : 0;
  EXPECT_EQ(inbox + work, 20u) << "one folder done, the other not started";
  EXPECT_TRUE(roam_files_in_tmp(account.maildir).empty());

  auto second = sync(account, {"-v"});
  ASSERT_EQ(second.exit_code, 0) << describe(second);
  expect_complete(account);
  // Nothing the first run brought in came down again.
  EXPECT_NE(second.out.find("local: 20 new"), std::string::npos) << describe(second);
}

TEST(Signal, CtrlCLetsTheFoldersInFlightFinishOverSeveralConnections) {
  // Two connections: both folders are in flight when the signal comes, and
  // each stops at its next safe point (here, the end of its one batch of
  // downloads) and commits what it did.
  Account account = account_with_two_folders({"connections = 2"});
  auto first = sync(account, {"--test-signal-after=3", "-v"});
  EXPECT_EQ(first.exit_code, 130) << describe(first);
  EXPECT_NE(first.err.find("2 folders over 2 connections"), std::string::npos) << describe(first);
  EXPECT_NE(first.err.find("stopped by SIGINT at a safe point"), std::string::npos)
      << describe(first);
  std::size_t inbox =
      fs::exists(account.maildir / "INBOX") ? local_files(account.maildir / "INBOX").size() : 0;
  std::size_t work =
      fs::exists(account.maildir / "Work") ? local_files(account.maildir / "Work").size() : 0;
  EXPECT_LE(inbox + work, 40u);
  EXPECT_TRUE(roam_files_in_tmp(account.maildir).empty());

  // The next run brings what is missing, and nothing twice.
  auto second = sync(account, {"-v"});
  ASSERT_EQ(second.exit_code, 0) << describe(second);
  expect_complete(account);
  std::string expected = "local: " + std::to_string(40 - inbox - work) + " new";
  EXPECT_NE(second.out.find(expected), std::string::npos) << describe(second);
}

TEST(Signal, SigtermExits143) {
  Account account = account_with_two_folders();
  auto first = sync(account, {"--test-signal-after=3,TERM"});
  EXPECT_EQ(first.exit_code, 143) << describe(first);
  EXPECT_NE(first.err.find("stopped by SIGTERM"), std::string::npos) << describe(first);
  auto second = sync(account);
  ASSERT_EQ(second.exit_code, 0) << describe(second);
  expect_complete(account);
}

TEST(Signal, ASecondSignalEndsAtOnceAndTheNextRunCleansUp) {
  Account account = account_with_two_folders();
  auto first = sync(account, {"--test-signal-after=3,twice"});
  // Ended by SIGINT itself: no summary, no word of a safe point.
  EXPECT_EQ(first.exit_code, 128 + SIGINT) << describe(first);
  EXPECT_EQ(first.err.find("safe point"), std::string::npos) << describe(first);
  auto second = sync(account);
  ASSERT_EQ(second.exit_code, 0) << describe(second);
  expect_complete(account);
}

}  // namespace
}  // namespace roam::it
