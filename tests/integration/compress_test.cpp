// roam over COMPRESS=DEFLATE (RFC 4978) against the private Dovecot, which
// offers it after login (imap_zlib, tests/dovecot/dovecot-ctl), and against
// the servers of tests/servers that offer it (Cyrus): the connection is
// compressed, mail of every size arrives and leaves intact through it, and
// `compress = no` keeps the command off the wire. Every other test against
// those servers runs compressed too; these check that it really is.

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "dovecot.hpp"
#include "fakes/mail_text.hpp"
#include "maildir_helpers.hpp"

namespace roam::it {
namespace {

using fakes::mail_text;

// The contents of every message of a server mailbox, as a Maildir file
// holds them, sorted.
std::vector<std::string> server_contents(const std::string& user, const std::string& mailbox) {
  std::vector<std::string> out;
  for (const auto& [flags, text] : TestServer::instance().messages_with_bodies(user, mailbox)) {
    out.push_back(crlf_to_lf(text));
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<std::string> local_contents(const std::filesystem::path& folder) {
  std::vector<std::string> out;
  for (const auto& file : local_files(folder)) {
    out.push_back(file.content);
  }
  std::sort(out.begin(), out.end());
  return out;
}

// Whether a server mailbox and a local folder hold the same messages; says
// how they differ by size only, since a 5 MB body in a failure message
// helps nobody.
::testing::AssertionResult same_messages(const std::string& user, const std::string& mailbox,
                                         const std::filesystem::path& folder) {
  const auto server = server_contents(user, mailbox);
  const auto local = local_contents(folder);
  if (server == local) {
    return ::testing::AssertionSuccess();
  }
  auto sizes = [](const std::vector<std::string>& texts) {
    std::string out;
    for (const auto& text : texts) {
      out += " " + std::to_string(text.size());
    }
    return out;
  };
  return ::testing::AssertionFailure()
         << mailbox << ": server sizes" << sizes(server) << ", local sizes" << sizes(local);
}

std::size_t count_of(std::string_view text, std::string_view part) {
  std::size_t n = 0;
  for (auto at = text.find(part); at != std::string_view::npos; at = text.find(part, at + 1)) {
    ++n;
  }
  return n;
}

// The bytes received inflated and as they came over the wire, summed over
// the connections' "compression on HOST: sent N bytes as M, received N
// bytes as M" debug lines (written when a connection closes).
struct Received {
  std::uint64_t inflated = 0;
  std::uint64_t wire = 0;
};

Received received_of(std::string_view err) {
  auto number_at = [&](std::size_t at) {
    std::uint64_t value = 0;
    for (; at < err.size() && err[at] >= '0' && err[at] <= '9'; ++at) {
      value = value * 10 + static_cast<std::uint64_t>(err[at] - '0');
    }
    return value;
  };
  Received total;
  constexpr std::string_view k_received = ", received ";
  constexpr std::string_view k_as = " bytes as ";
  for (auto at = err.find(k_received); at != std::string_view::npos;
       at = err.find(k_received, at + 1)) {
    const auto as = err.find(k_as, at);
    if (as == std::string_view::npos) {
      break;
    }
    total.inflated += number_at(at + k_received.size());
    total.wire += number_at(as + k_as.size());
  }
  return total;
}

TEST(Compress, SyncOverACompressedConnectionIsIntact) {
  const auto& server = TestServer::instance();
  // Two-way, so that the second run uploads (the harness's default is pull).
  const auto account = make_account({"sync = both"});
  server.create_mailbox(account.user, "Lists");
  // A 5 MB body arrives in many reads, each inflated into the reader's
  // buffer; the small ones share reads with other responses.
  server.append(account.user, "INBOX", make_message("big", mail_text(5u << 20)), {"\\Seen"});
  server.append(account.user, "INBOX", make_message("small-1"));
  server.append(account.user, "INBOX", make_message("small-2", "bytes \xff\xfe not UTF-8\r\n"));
  server.append(account.user, "Lists", make_message("list-1", mail_text(40000)), {"\\Flagged"});

  const auto first = sync(account, {"--debug=net,imap"});
  ASSERT_EQ(first.exit_code, 0) << describe(first);
  // The Dovecot fixture offers COMPRESS after login; capfilter.py (which
  // sets ADMIN_IMAP_PORT) hides it, and Courier has none.
  const bool offered = first.err.find("does not offer COMPRESS=DEFLATE") == std::string::npos;
  if (server.is_dovecot() && server.env_or("ADMIN_IMAP_PORT", "").empty()) {
    ASSERT_TRUE(offered) << "tests/dovecot/dovecot-ctl should enable imap_zlib";
  } else if (!offered) {
    GTEST_SKIP() << "the server does not offer COMPRESS=DEFLATE";
  }
  // Each connection asked, and the server agreed.
  const auto asked = count_of(first.err, " COMPRESS DEFLATE\n");
  EXPECT_GE(asked, 1u) << first.err.substr(0, 20000);
  EXPECT_EQ(count_of(first.err, "compression (COMPRESS=DEFLATE) on for"), asked);
  EXPECT_EQ(count_of(first.err, "declined COMPRESS"), 0u);
  EXPECT_TRUE(same_messages(account.user, "INBOX", account.maildir / "INBOX"));
  EXPECT_TRUE(same_messages(account.user, "Lists", account.maildir / "Lists"));
  // The bytes over the wire were fewer than the bytes inflated from them.
  const auto received = received_of(first.err);
  EXPECT_GT(received.inflated, 5u << 20);
  EXPECT_LT(received.wire * 2, received.inflated);

  // The other way: an upload (a literal written through the compressor in
  // parts) and a flag change.
  const std::string upload = make_message("upload", mail_text(1u << 20));
  write_file(account.maildir / "Lists" / "new" / "1700000000.roamtest.upload", crlf_to_lf(upload));
  const auto small = file_with_id(account.maildir / "INBOX", "small-1");
  ASSERT_TRUE(small.has_value());
  set_local_letters(*small, "F");
  const auto second = sync(account, {"--debug=net"});
  ASSERT_EQ(second.exit_code, 0) << describe(second);
  EXPECT_GE(count_of(second.err, "compression (COMPRESS=DEFLATE) on for"), 1u) << second.err;
  EXPECT_TRUE(same_messages(account.user, "Lists", account.maildir / "Lists")) << second.out;
  EXPECT_EQ(server_contents(account.user, "Lists").size(), 2u);
  bool flagged = false;
  for (const auto& [flags, text] : server.messages_with_bodies(account.user, "INBOX")) {
    if (text.find("small-1@roam.test") != std::string::npos) {
      flagged = std::find(flags.flags.begin(), flags.flags.end(), "\\Flagged") != flags.flags.end();
    }
  }
  EXPECT_TRUE(flagged);

  // Nothing left to do, and nothing done.
  const auto third = sync(account);
  ASSERT_EQ(third.exit_code, 0) << describe(third);
  EXPECT_TRUE(same_messages(account.user, "INBOX", account.maildir / "INBOX"));
}

// COMPRESS costs a round trip of its own, so the first connection lists the
// folders before it compresses, and a run that finds every folder unchanged
// logs out without compressing at all.
TEST(Compress, ARunWithNothingToDoSendsNoCompress) {
  const auto& server = TestServer::instance();
  const auto account = make_account({"sync = both"});
  server.create_mailbox(account.user, "Lists");
  server.append(account.user, "INBOX", make_message("one", mail_text(20000)));
  server.append(account.user, "Lists", make_message("two", mail_text(20000)));
  const auto first = sync(account, {"--debug=net"});
  ASSERT_EQ(first.exit_code, 0) << describe(first);
  if (first.err.find("compression (COMPRESS=DEFLATE) on for") == std::string::npos) {
    GTEST_SKIP() << "the server does not offer COMPRESS=DEFLATE";
  }
  // The account summary vouches for a folder once its directories are
  // older than two seconds (docs/sync-semantics.md): the second run records
  // them so, and the third skips both folders on its word.
  std::this_thread::sleep_for(std::chrono::milliseconds(2200));
  const auto second = sync(account);
  ASSERT_EQ(second.exit_code, 0) << describe(second);
  const auto third = sync(account, {"--debug=net,imap"});
  ASSERT_EQ(third.exit_code, 0) << describe(third);
  const std::string all = third.out + third.err;
  ASSERT_NE(all.find("2 folders (2 unchanged"), std::string::npos) << all;
  EXPECT_NE(all.find(" LIST "), std::string::npos) << all;
  EXPECT_EQ(all.find("COMPRESS DEFLATE"), std::string::npos) << all;
  EXPECT_TRUE(same_messages(account.user, "INBOX", account.maildir / "INBOX"));
  EXPECT_TRUE(same_messages(account.user, "Lists", account.maildir / "Lists"));
}

// The default, auto, leaves compression off on loopback: there is no
// network for it to save there, only the server's CPU time to spend.
TEST(Compress, AutoLeavesItOffOnLoopback) {
  const auto& server = TestServer::instance();
  const auto account = make_account({"compress = auto"});
  server.append(account.user, "INBOX", make_message("plain", mail_text(100000)));
  const auto result = sync(account, {"--debug=net,imap"});
  ASSERT_EQ(result.exit_code, 0) << describe(result);
  EXPECT_EQ(result.err.find("COMPRESS DEFLATE"), std::string::npos) << result.err;
  EXPECT_TRUE(same_messages(account.user, "INBOX", account.maildir / "INBOX"));
}

TEST(Compress, CompressNoSendsNoCompressCommand) {
  const auto& server = TestServer::instance();
  const auto account = make_account({"compress = no"});
  server.append(account.user, "INBOX", make_message("plain", mail_text(100000)));
  const auto result = sync(account, {"--debug=net,imap"});
  ASSERT_EQ(result.exit_code, 0) << describe(result);
  EXPECT_EQ(result.err.find("COMPRESS DEFLATE"), std::string::npos) << result.err;
  EXPECT_EQ(result.err.find("compression"), std::string::npos) << result.err;
  EXPECT_TRUE(same_messages(account.user, "INBOX", account.maildir / "INBOX"));
}

}  // namespace
}  // namespace roam::it
