// The reader judges how fast a whole response arrives, against the
// stream's timeout: the stream bounds each silence, and a server that sends
// a byte every few seconds never falls silent for that long. These cases use
// a real socket to a scripted server, because only real time shows a
// trickle.

#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "fakes/fake_imap_server.hpp"
#include "imap/reader.hpp"
#include "net/stream.hpp"
#include "util/error.hpp"

namespace roam::imap {
namespace {

using namespace std::chrono_literals;

TEST(ReaderRate, ATrickleThatNeverFallsSilentTimesOut) {
  // One byte every 100 ms: each wait is far shorter than the 1 s timeout,
  // and the whole line would take more than a minute.
  fakes::FakeImapServer server(
      {fakes::trickle("* OK " + std::string(600, 'x') + "\r\n", 100ms), fakes::stall()});
  auto stream = net::connect("127.0.0.1", server.port(), std::nullopt, 1000ms);
  ResponseReader reader(*stream, {});
  const auto start = std::chrono::steady_clock::now();
  try {
    reader.read();
    FAIL() << "the trickled response was accepted";
  } catch (const util::Error& e) {
    std::string message = e.what();
    EXPECT_EQ(e.scope(), util::Scope::Account);
    EXPECT_NE(message.find("timed out reading a response from 127.0.0.1:"), std::string::npos)
        << message;
    EXPECT_NE(message.find("raise timeout"), std::string::npos) << message;
  }
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_GE(took, 900ms);
  EXPECT_LT(took, 3s);
}

TEST(ReaderRate, AResponseThatKeepsTheMinimumRatePasses) {
  // 3 KiB of literal at about 2 KiB/s takes longer than the 1 s timeout,
  // but keeps the rate: 1 s plus 1 s per KiB is the bound.
  std::string body(3 * 1024, 'b');
  std::vector<fakes::ImapStep> steps;
  steps.push_back(fakes::send("* 1 FETCH (BODY[] {" + std::to_string(body.size()) + "}\r\n"));
  for (std::size_t i = 0; i < body.size(); i += 256) {
    steps.push_back(fakes::trickle(std::string(1, 'b'), 125ms));
    steps.push_back(fakes::send(body.substr(i + 1, 255)));
  }
  steps.push_back(fakes::send(")\r\n"));
  steps.push_back(fakes::stall());
  fakes::FakeImapServer server(steps);
  auto stream = net::connect("127.0.0.1", server.port(), std::nullopt, 1000ms);
  ResponseReader reader(*stream, {});
  const auto start = std::chrono::steady_clock::now();
  RawResponse r = reader.read();
  EXPECT_GT(std::chrono::steady_clock::now() - start, 1s);
  EXPECT_EQ(r.text.size(), std::string("* 1 FETCH (BODY[] {3072}\r\n").size() + body.size() + 1);
}

TEST(ReaderRate, TheRuleIsOffWithoutATimeoutOrAMinimumRate) {
  fakes::FakeImapServer server({fakes::trickle("* OK slow\r\n", 150ms), fakes::stall()});
  auto stream = net::connect("127.0.0.1", server.port(), std::nullopt, 1000ms);
  ReaderLimits limits;
  limits.min_bytes_per_second = 0;
  ResponseReader reader(*stream, limits);
  EXPECT_EQ(reader.read().text, "* OK slow");
}

}  // namespace
}  // namespace roam::imap
