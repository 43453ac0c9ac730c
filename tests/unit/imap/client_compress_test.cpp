// Transcript tests of COMPRESS DEFLATE (RFC 4978): the command goes out only
// when the capability is offered (after login, the list the login's OK gave),
// a refusal leaves the session plain and usable, and after the OK both
// directions are compressed, starting with the bytes that arrived in the
// same read as the OK.

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "fakes/deflate_peer.hpp"
#include "fakes/scripted_client.hpp"
#include "fakes/scripted_stream.hpp"
#include "imap/client.hpp"
#include "util/error.hpp"

namespace roam::imap {
namespace {

using fakes::C;
using fakes::S;

using Session = fakes::ScriptedClient<>;
using CompressedSession = fakes::ScriptedClient<fakes::CompressedScriptedStream>;

const char* k_greeting = "* OK [CAPABILITY IMAP4rev1 COMPRESS=DEFLATE] hi\r\n";

bool contains(const std::string& text, std::string_view part) {
  return text.find(part) != std::string::npos;
}

// The EXISTS counts among `responses`.
std::vector<std::uint32_t> exists_of(const std::vector<Response>& responses) {
  std::vector<std::uint32_t> out;
  for (const auto& r : responses) {
    if (const auto* num = std::get_if<NumberData>(&r);
        num != nullptr && num->kind == NumberData::Kind::Exists) {
      out.push_back(num->number);
    }
  }
  return out;
}

TEST(ClientCompress, AfterTheOkBothDirectionsAreCompressed) {
  fakes::Deflater server;
  CompressedSession s({S(k_greeting), C("r1 COMPRESS DEFLATE\r\n"), S("r1 OK DEFLATE active\r\n"),
                       C("r2 NOOP\r\n"), S(server("* 3 EXISTS\r\nr2 OK done\r\n")),
                       C("r3 NOOP\r\n"), S(server("r3 OK done\r\n"))});
  EXPECT_TRUE(s.client->compress());
  EXPECT_TRUE(s.stream->compressing());
  std::vector<Response> seen;
  s.client->run("NOOP", [&](const Response& r) { seen.push_back(r); });
  EXPECT_EQ(exists_of(seen), std::vector<std::uint32_t>{3});
  s.client->run("NOOP");
  EXPECT_TRUE(s.stream->finished());
  // The commands after the OK went over the wire compressed.
  EXPECT_TRUE(contains(s.stream->wire(), "r1 COMPRESS DEFLATE\r\n"));
  EXPECT_FALSE(contains(s.stream->wire(), "NOOP"));
  EXPECT_EQ(s.client->security(), "plaintext, COMPRESS=DEFLATE");
  // Asking again changes nothing and sends nothing.
  EXPECT_TRUE(s.client->compress());
}

TEST(ClientCompress, CompressedBytesInTheSameReadAsTheOkAreNotLost) {
  fakes::Deflater server;
  // One server step is one read: the OK line and compressed data behind it.
  CompressedSession s({S(k_greeting), C("r1 COMPRESS DEFLATE\r\n"),
                       S("r1 OK DEFLATE active\r\n" + server("* 4 EXISTS\r\n")), C("r2 NOOP\r\n"),
                       S(server("* 5 EXISTS\r\nr2 OK done\r\n"))});
  EXPECT_TRUE(s.client->compress());
  std::vector<Response> seen;
  s.client->run("NOOP", [&](const Response& r) { seen.push_back(r); });
  EXPECT_EQ(exists_of(seen), (std::vector<std::uint32_t>{4, 5}));
  EXPECT_TRUE(s.stream->finished());
}

TEST(ClientCompress, PartOfABlockInTheSameReadAsTheOk) {
  // The read with the OK ends three bytes into the compressed data; the
  // rest of that block comes with the next read.
  fakes::Deflater server;
  const std::string first = server("* 4 EXISTS\r\n* 6 EXISTS\r\n");
  CompressedSession s({S(k_greeting), C("r1 COMPRESS DEFLATE\r\n"),
                       S("r1 OK DEFLATE active\r\n" + first.substr(0, 3)), C("r2 NOOP\r\n"),
                       S(first.substr(3) + server("r2 OK done\r\n"))});
  EXPECT_TRUE(s.client->compress());
  std::vector<Response> seen;
  s.client->run("NOOP", [&](const Response& r) { seen.push_back(r); });
  EXPECT_EQ(exists_of(seen), (std::vector<std::uint32_t>{4, 6}));
  EXPECT_TRUE(s.stream->finished());
}

TEST(ClientCompress, CompressedResponsesOneByteAtATime) {
  fakes::Deflater server;
  CompressedSession s({S(k_greeting), C("r1 COMPRESS DEFLATE\r\n"), S("r1 OK DEFLATE active\r\n"),
                       C("r2 NOOP\r\n"), S(server("* 4 EXISTS\r\n* 6 EXISTS\r\nr2 OK done\r\n"))},
                      {}, 1);
  EXPECT_TRUE(s.client->compress());
  std::vector<Response> seen;
  s.client->run("NOOP", [&](const Response& r) { seen.push_back(r); });
  EXPECT_EQ(exists_of(seen), (std::vector<std::uint32_t>{4, 6}));
  // The flush marker after the tagged OK is still unread, and need not be:
  // it holds no data, and the next read takes it.
}

TEST(ClientCompress, ANoLeavesTheSessionPlain) {
  Session s({S(k_greeting), C("r1 COMPRESS DEFLATE\r\n"),
             S("r1 NO [COMPRESSIONACTIVE] TLS compression is on\r\n"), C("r2 NOOP\r\n"),
             S("r2 OK done\r\n")});
  EXPECT_FALSE(s.client->compress());
  EXPECT_TRUE(s.client->usable());
  s.client->run("NOOP");
  EXPECT_TRUE(s.stream->finished());
  EXPECT_EQ(s.client->security(), "plaintext");
}

TEST(ClientCompress, ABadLeavesTheSessionPlain) {
  Session s({S(k_greeting), C("r1 COMPRESS DEFLATE\r\n"), S("r1 BAD what?\r\n"), C("r2 NOOP\r\n"),
             S("r2 OK done\r\n")});
  EXPECT_FALSE(s.client->compress());
  s.client->run("NOOP");
  EXPECT_TRUE(s.stream->finished());
}

TEST(ClientCompress, NoCommandWithoutTheCapability) {
  Session s({S("* OK [CAPABILITY IMAP4rev1 COMPRESS=LZ4] hi\r\n"), C("r1 NOOP\r\n"),
             S("r1 OK done\r\n")});
  EXPECT_FALSE(s.client->compress());
  s.client->run("NOOP");
  EXPECT_TRUE(s.stream->finished());
}

TEST(ClientCompress, UsesTheCapabilitiesOfTheLoginsOk) {
  fakes::Deflater server;
  CompressedSession s({S("* OK [CAPABILITY IMAP4rev1] hi\r\n"), C("r1 LOGIN alice secret\r\n"),
                       S("r1 OK [CAPABILITY IMAP4rev1 COMPRESS=DEFLATE] in\r\n"),
                       C("r2 COMPRESS DEFLATE\r\n"), S("r2 OK DEFLATE active\r\n"),
                       C("r3 NOOP\r\n"), S(server("r3 OK done\r\n"))});
  s.client->authenticate(AuthMechanism::Login, "alice", "secret", "", 0);
  EXPECT_TRUE(s.client->compress());
  s.client->run("NOOP");
  EXPECT_TRUE(s.stream->finished());
}

TEST(ClientCompress, AskedForTheCapabilitiesAfterALoginThatDidNotSay) {
  // The greeting offered COMPRESS, the logged-in session does not.
  Session s({S(k_greeting), C("r1 LOGIN alice secret\r\n"), S("r1 OK in\r\n"),
             C("r2 CAPABILITY\r\n"), S("* CAPABILITY IMAP4rev1 IDLE\r\nr2 OK done\r\n"),
             C("r3 NOOP\r\n"), S("r3 OK done\r\n")});
  s.client->authenticate(AuthMechanism::Login, "alice", "secret", "", 0);
  EXPECT_FALSE(s.client->compress());
  s.client->run("NOOP");
  EXPECT_TRUE(s.stream->finished());
}

TEST(ClientCompress, CorruptCompressedDataBreaksTheClient) {
  CompressedSession s({S(k_greeting), C("r1 COMPRESS DEFLATE\r\n"), S("r1 OK DEFLATE active\r\n"),
                       C("r2 NOOP\r\n"), S("\xff\xff not deflate\r\n")});
  EXPECT_TRUE(s.client->compress());
  try {
    s.client->run("NOOP");
    FAIL() << "no error";
  } catch (const util::Error& e) {
    EXPECT_EQ(e.scope(), util::Scope::Account);
    EXPECT_TRUE(contains(e.what(), "does not inflate")) << e.what();
  }
  EXPECT_FALSE(s.client->usable());
  EXPECT_THROW(s.client->run("NOOP"), util::Error);
}

TEST(ClientCompress, IdleOverACompressedSession) {
  // The change and the continuation arrive in one compressed piece: the
  // wait must not sleep on the socket with the change already inflated.
  fakes::Deflater server;
  CompressedSession s({S("* OK [CAPABILITY IMAP4rev1 COMPRESS=DEFLATE IDLE] hi\r\n"),
                       C("r1 COMPRESS DEFLATE\r\n"), S("r1 OK DEFLATE active\r\n"),
                       C("r2 IDLE\r\n"), S(server("+ idling\r\n* 7 EXISTS\r\n")), C("DONE\r\n"),
                       S(server("r2 OK done\r\n"))});
  EXPECT_TRUE(s.client->compress());
  EXPECT_EQ(s.client->idle(std::chrono::seconds(5), -1), Client::IdleEnd::Changed);
  EXPECT_TRUE(s.stream->finished());
}

}  // namespace
}  // namespace roam::imap
