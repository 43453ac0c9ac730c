// Transcript tests of the connection contract (client.hpp): an error that
// leaves a reply half read breaks the Client for good, while a local sink
// error (tmp/ unwritable, disk full) is held back until the running call's
// replies are all read, so the session stays in step for the next folder.

#include <gtest/gtest.h>

#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "fakes/scripted_client.hpp"
#include "fakes/scripted_stream.hpp"
#include "imap/client.hpp"
#include "util/error.hpp"

namespace roam::imap {
namespace {

using fakes::C;
using fakes::S;
using fakes::Step;

const char* k_greeting = "* OK [CAPABILITY IMAP4rev1 UIDPLUS] ready\r\n";
const char* k_fetch_7 = "r1 UID FETCH 7 (UID FLAGS INTERNALDATE BODY.PEEK[])\r\n";

// A message whose body looks like the replies to the next folder's SELECT
// (r2 is the tag the client gives it): if the client stopped reading in the
// middle of this body, the next open() would take these lines for the
// server's answer and trust UIDVALIDITY 12345.
const std::string k_poison =
    "Subject: hi\r\n\r\n"
    "* OK [UIDVALIDITY 12345] UIDs valid\r\n"
    "r2 OK [READ-WRITE] Select completed\r\n";

std::string fetch_of(Uid uid, std::size_t seq, const std::string& body) {
  return "* " + std::to_string(seq) + " FETCH (UID " + std::to_string(uid) + " BODY[] {" +
         std::to_string(body.size()) + "}\r\n" + body + ")\r\n";
}

using Session = fakes::ScriptedClient<>;

// A sink that throws `error` on its first write, as a Delivery does when
// tmp/ cannot be written.
class FailingSink : public LiteralSink {
 public:
  explicit FailingSink(std::function<void()> fail) : m_fail(std::move(fail)) {}
  void write(const char*, std::size_t) override {
    ++m_writes;
    m_fail();
  }
  int m_writes = 0;

 private:
  std::function<void()> m_fail;
};

class StringSink : public LiteralSink {
 public:
  void write(const char* data, std::size_t size) override { m_data.append(data, size); }
  std::string m_data;
};

std::vector<Step> select_other() {
  return {C("r2 SELECT Other\r\n"),
          S("* 3 EXISTS\r\n* OK [UIDVALIDITY 999] UIDs valid\r\nr2 OK [READ-WRITE] done\r\n")};
}

// Expects the call to throw util::Error of `scope` and returns its message.
template <typename F>
std::string error_of(F&& f, util::Scope scope) {
  try {
    f();
  } catch (const util::Error& e) {
    EXPECT_EQ(e.scope(), scope) << e.what();
    return e.what();
  }
  ADD_FAILURE() << "no error";
  return {};
}

TEST(ClientSession, LocalSinkErrorReadsTheRestOfTheBodyBeforeTheNextFolder) {
  std::vector<Step> steps = {S(k_greeting), C(k_fetch_7),
                             S(fetch_of(7, 1, k_poison) + "r1 OK Fetch completed\r\n")};
  for (auto& step : select_other()) {
    steps.push_back(step);
  }
  // Small chunks: the sink fails on the first few octets of the body, long
  // before the lines that look like replies.
  Session s(std::move(steps), {}, 5);
  FailingSink sink([] { throw util::Error(util::Scope::Folder, "tmp/ is not writable"); });
  int done = 0;
  int batches = 0;
  std::string message = error_of(
      [&] {
        s.client->fetch_bodies(
            {7}, [&] { return &sink; }, [&](const FetchData&) { ++done; }, [&] { ++batches; });
      },
      util::Scope::Folder);
  EXPECT_EQ(message, "tmp/ is not writable");
  EXPECT_EQ(sink.m_writes, 1);
  EXPECT_EQ(done, 0);  // The broken copy must not be committed.
  EXPECT_EQ(batches, 1);
  EXPECT_TRUE(s.client->usable());

  MailboxInfo info = s.client->open("Other", OpenMode::Select);
  EXPECT_EQ(info.uidvalidity, 999u);
  EXPECT_EQ(info.exists, 3u);
  EXPECT_TRUE(s.stream->finished());
}

TEST(ClientSession, LocalErrorFromSinkForDropsTheBodyAndWaitsForCommandsInFlight) {
  // tmp/ cannot even be opened: sink_for throws for the first message. The
  // second command is already in flight; its body is read and dropped,
  // and nothing further is sent.
  ClientOptions options;
  options.fetch_batch = 1;
  options.pipeline_depth = 2;
  std::vector<Step> steps = {
      S(k_greeting),
      C("r1 UID FETCH 7 (UID FLAGS INTERNALDATE BODY.PEEK[])\r\n"),
      C("r2 UID FETCH 8 (UID FLAGS INTERNALDATE BODY.PEEK[])\r\n"),
      S(fetch_of(7, 1, k_poison) + "r1 OK done\r\n" + fetch_of(8, 2, k_poison) + "r2 OK done\r\n"),
      C("r3 SELECT Other\r\n"),
      S("* OK [UIDVALIDITY 999] UIDs valid\r\nr3 OK [READ-WRITE] done\r\n")};
  Session s(std::move(steps), options);
  int calls = 0;
  int done = 0;
  error_of(
      [&] {
        s.client->fetch_bodies(
            {7, 8, 9},
            [&]() -> LiteralSink* {
              ++calls;
              throw util::Error(util::Scope::Message, "cannot create a file in tmp/");
            },
            [&](const FetchData&) { ++done; });
      },
      util::Scope::Message);
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(done, 0);
  EXPECT_TRUE(s.client->usable());
  EXPECT_EQ(s.client->open("Other", OpenMode::Select).uidvalidity, 999u);
  EXPECT_TRUE(s.stream->finished());
}

TEST(ClientSession, SinkErrorThatIsNotLocalBreaksTheClient) {
  Session s({S(k_greeting), C(k_fetch_7), S(fetch_of(7, 1, k_poison) + "r1 OK done\r\n")}, {}, 5);
  FailingSink sink([] { throw std::runtime_error("bad_alloc of some kind"); });
  EXPECT_THROW(s.client->fetch_bodies(
                   {7}, [&] { return &sink; }, [](const FetchData&) {}),
               std::runtime_error);
  EXPECT_FALSE(s.client->usable());

  // Nothing more is written: the scripted stream would fail on the SELECT.
  std::string message =
      error_of([&] { s.client->open("Other", OpenMode::Select); }, util::Scope::Account);
  EXPECT_NE(message.find("unusable after an earlier error"), std::string::npos) << message;
  EXPECT_NE(message.find("bad_alloc of some kind"), std::string::npos) << message;
  error_of([&] { s.client->capabilities(); }, util::Scope::Account);
}

TEST(ClientSession, AnAccountErrorFromTheSinkBreaksTheClient) {
  Session s({S(k_greeting), C(k_fetch_7), S(fetch_of(7, 1, k_poison) + "r1 OK done\r\n")}, {}, 5);
  FailingSink sink([] { throw util::Error(util::Scope::Account, "lost the lock"); });
  error_of(
      [&] {
        s.client->fetch_bodies(
            {7}, [&] { return &sink; }, [](const FetchData&) {});
      },
      util::Scope::Account);
  EXPECT_FALSE(s.client->usable());
  std::string message = error_of([&] { s.client->run("NOOP"); }, util::Scope::Account);
  EXPECT_NE(message.find("lost the lock"), std::string::npos) << message;
}

TEST(ClientSession, AnExceptionFromACallbackWhileTheReplyIsOutstandingBreaksTheClient) {
  // `done` fails after the first message: the tagged completion is still
  // to come, so the session is at an unknown point.
  Session s({S(k_greeting), C(k_fetch_7), S(fetch_of(7, 1, "abc") + "r1 OK done\r\n")});
  StringSink sink;
  error_of(
      [&] {
        s.client->fetch_bodies(
            {7}, [&] { return &sink; },
            [](const FetchData&) { throw util::Error(util::Scope::Folder, "rename failed"); });
      },
      util::Scope::Folder);
  EXPECT_FALSE(s.client->usable());
  std::string message = error_of([&] { s.client->fetch_flags_for({1}); }, util::Scope::Account);
  EXPECT_NE(message.find("rename failed"), std::string::npos) << message;
}

TEST(ClientSession, AConnectionLostInsideAReplyBreaksTheClient) {
  Session s({S(k_greeting), C("r1 NOOP\r\n"), S("* 4 EXI")});
  error_of([&] { s.client->run("NOOP"); }, util::Scope::Account);
  EXPECT_FALSE(s.client->usable());
  std::string message = error_of([&] { s.client->run("NOOP"); }, util::Scope::Account);
  EXPECT_NE(message.find("unusable after an earlier error"), std::string::npos) << message;
}

TEST(ClientSession, ARefusedCommandLeavesTheClientUsable) {
  Session s({S(k_greeting), C("r1 SELECT Gone\r\n"), S("r1 NO [NONEXISTENT] no such mailbox\r\n"),
             C("r2 NOOP\r\n"), S("r2 OK done\r\n")});
  EXPECT_THROW(s.client->open("Gone", OpenMode::Select), CommandFailed);
  EXPECT_TRUE(s.client->usable());
  s.client->run("NOOP");
  EXPECT_TRUE(s.stream->finished());
}

TEST(ClientSession, AWrongAppendCountAfterOctetsLeftBreaksTheClient) {
  const std::size_t size = (64u << 10) + 10;
  std::string first(64u << 10, 'x');
  Session s({S("* OK [CAPABILITY IMAP4rev1 LITERAL+] ready\r\n"),
             C("r1 APPEND INBOX {" + std::to_string(size) + "+}\r\n" + first)});
  auto writer = [&](LiteralSink& sink) {
    sink.write(first.data(), first.size());
    sink.write("0123", 4);  // The first 64 KiB leave; the body ends short.
  };
  error_of([&] { s.client->append("INBOX", {}, std::nullopt, size, writer); },
           util::Scope::Account);
  EXPECT_FALSE(s.client->usable());
  error_of([&] { s.client->create("X"); }, util::Scope::Account);
}

TEST(ClientSession, AWrongAppendCountBeforeAnythingLeftKeepsTheClient) {
  // The APPEND used up tag r1, though nothing went out.
  Session s(
      {S("* OK [CAPABILITY IMAP4rev1 LITERAL+] ready\r\n"), C("r2 NOOP\r\n"), S("r2 OK done\r\n")});
  error_of([&] { s.client->append("INBOX", {}, std::nullopt, 10, [](LiteralSink&) {}); },
           util::Scope::Message);
  EXPECT_TRUE(s.client->usable());
  s.client->run("NOOP");
  EXPECT_TRUE(s.stream->finished());
}

TEST(ClientSession, AFailedFetchWaitsForTheCommandsInFlightAndTheirBatches) {
  // r1 fails while r2 is in flight: r2's body is still delivered and its
  // batch made durable, r3 is never sent, and then the failure is thrown.
  ClientOptions options;
  options.fetch_batch = 1;
  options.pipeline_depth = 2;
  Session s(
      {S(k_greeting), C("r1 UID FETCH 3 (UID FLAGS INTERNALDATE BODY.PEEK[])\r\n"),
       C("r2 UID FETCH 5 (UID FLAGS INTERNALDATE BODY.PEEK[])\r\n"),
       S("r1 NO [SERVERBUG] cannot read message 3\r\n" + fetch_of(5, 2, "xyz") + "r2 OK done\r\n"),
       C("r3 NOOP\r\n"), S("r3 OK done\r\n")},
      options);
  std::vector<std::unique_ptr<StringSink>> sinks;
  std::vector<Uid> delivered;
  int batches = 0;
  try {
    s.client->fetch_bodies(
        {3, 5, 8},
        [&]() -> LiteralSink* {
          sinks.push_back(std::make_unique<StringSink>());
          return sinks.back().get();
        },
        [&](const FetchData& f) { delivered.push_back(*f.uid); }, [&] { ++batches; });
    FAIL() << "no error";
  } catch (const CommandFailed& e) {
    EXPECT_NE(std::string(e.what()).find("SERVERBUG"), std::string::npos) << e.what();
  }
  EXPECT_EQ(delivered, std::vector<Uid>{5});
  ASSERT_EQ(sinks.size(), 1u);
  EXPECT_EQ(sinks[0]->m_data, "xyz");
  EXPECT_EQ(batches, 2);
  EXPECT_TRUE(s.client->usable());
  s.client->run("NOOP");
  EXPECT_TRUE(s.stream->finished());
}

}  // namespace
}  // namespace roam::imap
