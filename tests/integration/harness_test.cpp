// Proves the integration harness (dovecot.hpp) against the running private
// Dovecot before any roam test relies on it: if one of these fails, fix the
// harness or the server setup, not roam.

#include "dovecot.hpp"

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace roam::it {
namespace {

const std::string k_message =
    "From: Alice <alice@example.org>\r\n"
    "To: Bob <bob@example.net>\r\n"
    "Subject: harness\r\n"
    "Message-ID: <harness-1@roam.test>\r\n"
    "\r\n"
    "Hello.\r\n";

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

TEST(Harness, EnvDescribesTheServer) {
  const auto& server = TestServer::instance();
  EXPECT_EQ(server.host(), "127.0.0.1");
  EXPECT_GT(server.imap_port(), 0);
  EXPECT_GT(server.imaps_port(), 0);
  EXPECT_NE(server.imap_port(), server.imaps_port());
  EXPECT_EQ(server.user(), "alice");
  EXPECT_EQ(server.password(), "secret");
  EXPECT_TRUE(std::filesystem::is_regular_file(server.ca_file()));
  EXPECT_TRUE(std::filesystem::is_regular_file(server.conf_file()));
  EXPECT_TRUE(std::filesystem::is_regular_file(server.env("TLS_WRONG_CERT")));
}

TEST(Harness, FreshUserHasOnlyInbox) {
  const auto& server = TestServer::instance();
  const auto user = server.fresh_user();
  EXPECT_EQ(user, "t-harness-freshuserhasonlyinbox");
  EXPECT_EQ(server.list_mailboxes(user), std::vector<std::string>{"INBOX"});
  EXPECT_TRUE(server.list_uids_and_flags(user, "INBOX").empty());
}

TEST(Harness, FreshUserForgetsAnEarlierRun) {
  const auto& server = TestServer::instance();
  auto user = server.fresh_user();
  server.create_mailbox(user, "Leftover");
  user = server.fresh_user();
  EXPECT_EQ(server.list_mailboxes(user), std::vector<std::string>{"INBOX"});
  EXPECT_TRUE(std::filesystem::is_empty(server.work_dir(user)));
}

TEST(Harness, UsersDoNotSeeEachOther) {
  const auto& server = TestServer::instance();
  const auto first = server.fresh_user("a");
  const auto second = server.fresh_user("b");
  server.create_mailbox(first, "Mine");
  server.append(first, "INBOX", k_message);
  EXPECT_EQ(server.list_mailboxes(second), std::vector<std::string>{"INBOX"});
  EXPECT_TRUE(server.list_uids_and_flags(second, "INBOX").empty());
}

TEST(Harness, CreatesNestedAndNonAsciiMailboxes) {
  const auto& server = TestServer::instance();
  const auto user = server.fresh_user();
  server.create_mailbox(user, "Work/Projects");
  server.create_mailbox(user, "Entwürfe");
  server.create_mailbox(user, "Sent");
  EXPECT_EQ(server.list_mailboxes(user),
            (std::vector<std::string>{"Entwürfe", "INBOX", "Sent", "Work", "Work/Projects"}));
  // The server keeps Maildir++ on disk, names in modified UTF-7.
  EXPECT_TRUE(std::filesystem::is_directory(server.mail_root() / user / ".Entw&APw-rfe"));
  EXPECT_TRUE(std::filesystem::is_directory(server.mail_root() / user / ".Work.Projects"));
  // "Work" existed only as the parent of "Work/Projects" (Maildir++ has no
  // directory for it), so it goes with its last child.
  server.delete_mailbox(user, "Work/Projects");
  EXPECT_EQ(server.list_mailboxes(user), (std::vector<std::string>{"Entwürfe", "INBOX", "Sent"}));
  EXPECT_THROW(server.delete_mailbox(user, "NoSuchBox"), std::runtime_error);
}

TEST(Harness, AppendReturnsUidsAndSetsFlags) {
  const auto& server = TestServer::instance();
  const auto user = server.fresh_user();
  server.create_mailbox(user, "Box");
  const auto first = server.append(user, "Box", k_message);
  const auto second = server.append(user, "Box", k_message, {"\\Seen", "\\Flagged", "$Label1"});
  EXPECT_EQ(first, 1U);
  EXPECT_EQ(second, 2U);
  EXPECT_EQ(server.list_uids_and_flags(user, "Box"),
            (std::vector<MessageFlags>{{1, {}}, {2, {"$Label1", "\\Flagged", "\\Seen"}}}));

  server.add_flags(user, "Box", first, {"\\Answered"});
  server.remove_flags(user, "Box", second, {"\\Flagged", "$Label1"});
  EXPECT_EQ(server.list_uids_and_flags(user, "Box"),
            (std::vector<MessageFlags>{{1, {"\\Answered"}}, {2, {"\\Seen"}}}));

  const auto before = server.mailbox_status(user, "Box");
  EXPECT_EQ(before.messages, 2U);
  EXPECT_EQ(before.uidnext, 3U);
  EXPECT_NE(before.uidvalidity, 0U);

  server.expunge(user, "Box", first);
  EXPECT_EQ(server.list_uids_and_flags(user, "Box"), (std::vector<MessageFlags>{{2, {"\\Seen"}}}));
  const auto after = server.mailbox_status(user, "Box");
  EXPECT_EQ(after.messages, 1U);
  EXPECT_EQ(after.uidnext, 3U);
  EXPECT_EQ(after.uidvalidity, before.uidvalidity);
}

TEST(Harness, FetchBodyReturnsStoredBytes) {
  const auto& server = TestServer::instance();
  const auto user = server.fresh_user();
  const auto uid = server.append(user, "INBOX", k_message);
  std::string expected = k_message;
  // Dovecot stores LF line ends (and serves CRLF over IMAP).
  for (auto pos = expected.find("\r\n"); pos != std::string::npos; pos = expected.find("\r\n")) {
    expected.erase(pos, 1);
  }
  EXPECT_EQ(server.fetch_body(user, "INBOX", uid), expected);

  const std::string eight_bit = "Subject: bytes\n\n\xff\xfe not UTF-8 \x01\n";
  const auto raw_uid = server.append(user, "INBOX", eight_bit);
  EXPECT_EQ(server.fetch_body(user, "INBOX", raw_uid), eight_bit);
  EXPECT_THROW(server.fetch_body(user, "INBOX", 999), std::runtime_error);
}

TEST(Harness, UidValidityChangesWhenAMailboxIsRecreated) {
  const auto& server = TestServer::instance();
  const auto user = server.fresh_user();
  server.create_mailbox(user, "Box");
  const auto before = server.mailbox_status(user, "Box");
  server.delete_mailbox(user, "Box");
  server.create_mailbox(user, "Box");
  EXPECT_NE(server.mailbox_status(user, "Box").uidvalidity, before.uidvalidity);
  EXPECT_THROW(server.mailbox_status(user, "NoSuchBox"), std::runtime_error);
}

TEST(Harness, SeedWritesACorpusDovecotReads) {
  const auto& server = TestServer::instance();
  const auto user = server.fresh_user();
  server.seed(user, {"--messages", "40", "--folders", "4", "--nested", "--non-ascii", "--flags"});
  const auto boxes = server.list_mailboxes(user);
  EXPECT_EQ(boxes.size(), 4U);
  std::uint32_t total = 0;
  for (const auto& box : boxes) {
    total += server.mailbox_status(user, box).messages;
  }
  EXPECT_EQ(total, 40U);
  const auto inbox = server.list_uids_and_flags(user, "INBOX");
  ASSERT_FALSE(inbox.empty());
  EXPECT_NE(server.fetch_body(user, "INBOX", inbox.front().uid).find("Message-ID: <seed1."),
            std::string::npos);
}

TEST(Harness, WriteConfigReplacesAndAddsSettings) {
  const auto& server = TestServer::instance();
  const auto user = server.fresh_user();
  const auto config = server.work_dir(user) / "roam.conf";
  server.write_config(
      config, user,
      {"sync = both", "layout=maildir++", "timeout = 5", "[account.other]", "host = 127.0.0.1"});
  const auto text = read_file(config);
  EXPECT_NE(text.find("[account.test]\n"), std::string::npos);
  EXPECT_NE(text.find("port = " + std::to_string(server.imap_port()) + "\n"), std::string::npos);
  EXPECT_NE(text.find("user = " + user + "\n"), std::string::npos);
  EXPECT_NE(text.find("sync = both\n"), std::string::npos);
  EXPECT_EQ(text.find("sync = pull"), std::string::npos);
  EXPECT_NE(text.find("layout = maildir++\n"), std::string::npos);
  EXPECT_NE(text.find("maildir = " + (server.work_dir(user) / "Mail").string() + "\n"),
            std::string::npos);
  EXPECT_NE(text.find("timeout = 5\n"), std::string::npos);
  EXPECT_NE(text.find("\n[account.other]\nhost = 127.0.0.1\n"), std::string::npos);
  EXPECT_LT(text.find("timeout = 5\n"), text.find("[account.other]"));
}

TEST(Harness, RoamAcceptsTheConfigAndReachesTheServer) {
  const auto& server = TestServer::instance();
  const auto user = server.fresh_user();
  server.create_mailbox(user, "Archive");
  const auto config = server.work_dir(user) / "roam.conf";
  server.write_config(config, user);
  const auto result = run_roam({"list", "-c", config.string(), "test"});
  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_NE(result.out.find("INBOX"), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("Archive"), std::string::npos) << result.out;
}

TEST(Harness, RunProcessCapturesOutputInputAndExitCode) {
  const auto result = run_process({"sh", "-c", "cat; echo err >&2; exit 3"}, "in\n");
  EXPECT_EQ(result.exit_code, 3);
  EXPECT_EQ(result.out, "in\n");
  EXPECT_EQ(result.err, "err\n");
  EXPECT_FALSE(result.timed_out);

  const auto killed = run_process({"sleep", "10"}, {}, std::chrono::milliseconds(200));
  EXPECT_TRUE(killed.timed_out);
  EXPECT_EQ(killed.exit_code, 128 + SIGKILL);
}

TEST(Harness, RoamBinaryRuns) {
  const auto result = run_roam({"--version"});
  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_FALSE(result.out.empty());
}

}  // namespace
}  // namespace roam::it
