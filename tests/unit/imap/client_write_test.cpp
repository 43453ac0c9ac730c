// Transcript tests of the commands that change the server: APPEND, UID STORE,
// UID EXPUNGE, UID MOVE (and its COPY fallback) and CREATE, plus the flag and
// header listings a two-way sync reads before it writes. Each test lists the
// exact bytes the client must write and what the server answers; the
// scripted stream fails on the first difference.

#include <gtest/gtest.h>

#include <algorithm>
#include <deque>
#include <set>
#include <string>
#include <vector>

#include "fakes/scripted_client.hpp"
#include "fakes/scripted_stream.hpp"
#include "imap/client.hpp"
#include "util/error.hpp"
#include "util/log.hpp"

namespace roam::imap {
namespace {

using fakes::C;
using fakes::S;
using fakes::Step;

const char* k_plus = "* OK [CAPABILITY IMAP4rev1 LITERAL+ UIDPLUS CONDSTORE] ready\r\n";
const char* k_sync = "* OK [CAPABILITY IMAP4rev1 UIDPLUS] ready\r\n";

// A scripted stream that also counts write_all() calls, to show that a
// small APPEND with LITERAL+ goes out in one write.
class CountingStream : public fakes::ScriptedStream {
 public:
  using ScriptedStream::ScriptedStream;
  void write_all(std::string_view data) override {
    ++m_writes;
    ScriptedStream::write_all(data);
  }
  int m_writes = 0;
};

using Session = fakes::ScriptedClient<CountingStream>;

// Writes `body` to the sink in pieces of `piece` octets, as a file reader would.
std::function<void(LiteralSink&)> body_writer(const std::string& body, std::size_t piece = 5) {
  return [body, piece](LiteralSink& sink) {
    for (std::size_t i = 0; i < body.size(); i += piece) {
      sink.write(body.data() + i, std::min(piece, body.size() - i));
    }
  };
}

const std::string k_body = "Subject: hi\r\n\r\nhello\r\n";  // 22 octets.

std::chrono::sys_seconds jan_first() {
  using namespace std::chrono;
  return sys_days(year(2024) / January / 1) + hours(10);
}

// --- APPEND ---

TEST(ClientAppend, LiteralPlusSendsCommandAndBodyInOneWrite) {
  Session s({S(k_plus),
             C("r1 APPEND INBOX (\\Seen $Label1) \"01-Jan-2024 10:00:00 +0000\" {22+}\r\n" +
               k_body + "\r\n"),
             S("* 3 EXISTS\r\nr1 OK [APPENDUID 77 12] Append completed\r\n")});
  auto uid = s.client->append("INBOX", {"\\Seen", "$Label1"}, jan_first(), k_body.size(),
                              body_writer(k_body), 77);
  EXPECT_EQ(uid, std::optional<Uid>(12));
  EXPECT_EQ(s.stream->m_writes, 1);
  EXPECT_TRUE(s.stream->finished());
}

TEST(ClientAppend, SynchronizingLiteralWaitsForContinuation) {
  Session s({S(k_sync), C("r1 APPEND Sent {22}\r\n"), S("+ Ready for literal data\r\n"),
             C(k_body + "\r\n"), S("r1 OK [APPENDUID 77 13] done\r\n")});
  auto uid = s.client->append("Sent", {}, std::nullopt, k_body.size(), body_writer(k_body), 77);
  EXPECT_EQ(uid, std::optional<Uid>(13));
  EXPECT_TRUE(s.stream->finished());
}

TEST(ClientAppend, LiteralMinusIsNonSynchronizingOnlyUpTo4096Octets) {
  std::string big = "Subject: big\r\n\r\n" + std::string(5000, 'x');
  Session s({S("* OK [CAPABILITY IMAP4rev2 LITERAL-] ready\r\n"),
             C("r1 APPEND INBOX {22+}\r\n" + k_body + "\r\n"), S("r1 OK done\r\n"),
             C("r2 APPEND INBOX {" + std::to_string(big.size()) + "}\r\n"), S("+ go\r\n"),
             C(big + "\r\n"), S("r2 OK done\r\n")});
  EXPECT_EQ(s.client->append("INBOX", {}, std::nullopt, k_body.size(), body_writer(k_body)),
            std::nullopt);
  EXPECT_EQ(s.client->append("INBOX", {}, std::nullopt, big.size(), body_writer(big, 1000)),
            std::nullopt);
  EXPECT_TRUE(s.stream->finished());
}

TEST(ClientAppend, RefusalInsteadOfContinuationSendsNoBody) {
  Session s({S(k_sync), C("r1 APPEND Nope {22}\r\n"),
             S("r1 NO [TRYCREATE] Mailbox doesn't exist: Nope\r\n"), C("r2 NOOP\r\n"),
             S("r2 OK done\r\n")});
  try {
    s.client->append("Nope", {}, std::nullopt, k_body.size(), body_writer(k_body), 77);
    FAIL() << "no error";
  } catch (const CommandFailed& e) {
    ASSERT_TRUE(e.response().code);
    EXPECT_EQ(e.response().code->kind, ResponseCode::Kind::TryCreate);
    EXPECT_EQ(e.scope(), util::Scope::Folder);
    EXPECT_NE(std::string(e.what()).find("TRYCREATE"), std::string::npos);
  }
  EXPECT_EQ(s.stream->written().find("hello"), std::string::npos);
  // The command is over and the connection still in step.
  s.client->run("NOOP");
  EXPECT_TRUE(s.stream->finished());
}

TEST(ClientAppend, RefusalOfALargeBodyStopsTheCallback) {
  // A body over the 64 KiB buffer makes the client ask for "+" from inside
  // the callback; the refusal must end the callback and send nothing more.
  std::string big(100'000, 'x');
  Session s(
      {S(k_sync), C("r1 APPEND INBOX {100000}\r\n"), S("r1 NO [TOOBIG] Message too large\r\n")});
  bool swallowed_then_refused = false;
  auto writer = [&](LiteralSink& sink) {
    try {
      sink.write(big.data(), big.size());
    } catch (const CommandFailed&) {
      // A careless callback that goes on must not reach the wire.
      try {
        sink.write("y", 1);
      } catch (const CommandFailed&) {
        swallowed_then_refused = true;
        throw;
      }
    }
  };
  EXPECT_THROW(s.client->append("INBOX", {}, std::nullopt, big.size(), writer), CommandFailed);
  EXPECT_TRUE(swallowed_then_refused);
  EXPECT_TRUE(s.stream->finished());
}

TEST(ClientAppend, AppendUidWithAnotherUidValidityIsIgnored) {
  Session s({S(k_plus), C("r1 APPEND INBOX {22+}\r\n" + k_body + "\r\n"),
             S("r1 OK [APPENDUID 78 12] done\r\n")});
  EXPECT_EQ(s.client->append("INBOX", {}, std::nullopt, k_body.size(), body_writer(k_body), 77),
            std::nullopt);
}

TEST(ClientAppend, AppendUidIsUncheckedWhenNoUidValidityIsExpected) {
  Session s({S(k_plus), C("r1 APPEND INBOX {22+}\r\n" + k_body + "\r\n"),
             S("r1 OK [APPENDUID 78 12] done\r\n")});
  EXPECT_EQ(s.client->append("INBOX", {}, std::nullopt, k_body.size(), body_writer(k_body), 0),
            std::optional<Uid>(12));
}

TEST(ClientAppend, AppendUidNamingSeveralUidsIsIgnored) {
  Session s({S(k_plus), C("r1 APPEND INBOX {22+}\r\n" + k_body + "\r\n"),
             S("r1 OK [APPENDUID 77 12:13] done\r\n")});
  EXPECT_EQ(s.client->append("INBOX", {}, std::nullopt, k_body.size(), body_writer(k_body), 77),
            std::nullopt);
}

TEST(ClientAppend, AppendUidOutsideTheTaggedOkIsIgnored) {
  // CVE-2021-3578: mbsync took an APPENDUID from any response. Here it comes
  // in an untagged OK during the APPEND, and the tagged OK has none.
  Session s({S(k_plus), C("r1 APPEND INBOX {22+}\r\n" + k_body + "\r\n"),
             S("* OK [APPENDUID 77 666] injected\r\n* 4 EXISTS\r\nr1 OK done\r\n")});
  EXPECT_EQ(s.client->append("INBOX", {}, std::nullopt, k_body.size(), body_writer(k_body), 77),
            std::nullopt);
}

// --- Pipelined APPEND ---

// The messages of a pipelined APPEND: `bodies` in order, no flags.
std::function<std::optional<AppendMessage>(std::size_t)> messages_of(
    const std::vector<std::string>& bodies) {
  return [bodies](std::size_t i) -> std::optional<AppendMessage> {
    return AppendMessage{{}, std::nullopt, bodies.at(i).size(), body_writer(bodies.at(i))};
  };
}

TEST(ClientAppendPipelined, WithLiteralPlusEveryMessageIsSentBeforeTheFirstAnswer) {
  const std::string other = "Subject: yo\r\n\r\nhey\r\n";
  Session s({S(k_plus), C("r1 APPEND INBOX {22+}\r\n" + k_body + "\r\n"),
             C("r2 APPEND INBOX {20+}\r\n" + other + "\r\n"),
             C("r3 APPEND INBOX {22+}\r\n" + k_body + "\r\n"),
             S("* 3 EXISTS\r\nr1 OK [APPENDUID 77 12] done\r\n"
               "r2 NO [OVERQUOTA] Quota exceeded\r\nr3 OK done\r\n")});
  std::vector<std::pair<std::size_t, std::string>> results;
  s.client->append_pipelined("INBOX", 3, messages_of({k_body, other, k_body}), 77,
                             [&](std::size_t i, const AppendResult& r) {
                               results.emplace_back(
                                   i, r.refusal ? std::string("refused: ") + r.refusal->what()
                                      : r.uid   ? std::to_string(*r.uid)
                                                : std::string("no uid"));
                             });
  ASSERT_EQ(results.size(), 3u);
  EXPECT_EQ(results[0], (std::pair<std::size_t, std::string>{0, "12"}));
  EXPECT_EQ(results[1].first, 1u);
  EXPECT_NE(results[1].second.find("refused: "), std::string::npos);
  EXPECT_NE(results[1].second.find("OVERQUOTA"), std::string::npos) << results[1].second;
  EXPECT_EQ(results[2], (std::pair<std::size_t, std::string>{2, "no uid"}));
  EXPECT_TRUE(s.stream->finished());
}

TEST(ClientAppendPipelined, WithoutLiteralPlusEachMessageWaitsForItsContinuation) {
  Session s({S(k_sync), C("r1 APPEND INBOX {22}\r\n"), S("+ go\r\n"), C(k_body + "\r\n"),
             S("r1 OK [APPENDUID 77 12] done\r\n"), C("r2 APPEND INBOX {22}\r\n"),
             S("r2 NO [TOOBIG] too large\r\n")});
  std::vector<std::size_t> done;
  std::vector<bool> refused;
  s.client->append_pipelined("INBOX", 2, messages_of({k_body, k_body}), 77,
                             [&](std::size_t i, const AppendResult& r) {
                               done.push_back(i);
                               refused.push_back(r.refusal.has_value());
                             });
  EXPECT_EQ(done, (std::vector<std::size_t>{0, 1}));
  EXPECT_EQ(refused, (std::vector<bool>{false, true}));
  EXPECT_TRUE(s.stream->finished());
}

TEST(ClientAppendPipelined, AtMostThePipelineDepthIsInFlight) {
  ClientOptions options;
  options.pipeline_depth = 2;
  auto stream = std::make_unique<CountingStream>(std::vector<Step>{
      S(k_plus), C("r1 APPEND INBOX {22+}\r\n" + k_body + "\r\n"),
      C("r2 APPEND INBOX {22+}\r\n" + k_body + "\r\n"), S("r1 OK done\r\n"),
      C("r3 APPEND INBOX {22+}\r\n" + k_body + "\r\n"), S("r2 OK done\r\nr3 OK done\r\n")});
  CountingStream* raw = stream.get();
  Client client(std::move(stream), options);
  client.read_greeting();
  std::size_t answers = 0;
  client.append_pipelined("INBOX", 3, messages_of({k_body, k_body, k_body}), 0,
                          [&](std::size_t, const AppendResult&) { ++answers; });
  EXPECT_EQ(answers, 3u);
  EXPECT_TRUE(raw->finished());
}

TEST(ClientAppendPipelined, ASkippedMessageIsNotSentAndNotReported) {
  Session s({S(k_plus), C("r1 APPEND INBOX {22+}\r\n" + k_body + "\r\n"), S("r1 OK done\r\n")});
  std::vector<std::size_t> done;
  s.client->append_pipelined(
      "INBOX", 2,
      [&](std::size_t i) -> std::optional<AppendMessage> {
        if (i == 0) {
          return std::nullopt;  // The file vanished.
        }
        return AppendMessage{{}, std::nullopt, k_body.size(), body_writer(k_body)};
      },
      0, [&](std::size_t i, const AppendResult&) { done.push_back(i); });
  EXPECT_EQ(done, std::vector<std::size_t>{1});
  EXPECT_TRUE(s.stream->finished());
}

// A message that cannot be sent (its file is shorter than it was) stops the
// sending; the APPENDs in flight are answered and reported first, so the
// caller journals them, and the connection stays in step.
TEST(ClientAppendPipelined, AMessageErrorIsThrownAfterTheAnswersInFlight) {
  Session s({S(k_plus), C("r1 APPEND INBOX {22+}\r\n" + k_body + "\r\n"),
             S("r1 OK [APPENDUID 77 12] done\r\n"), C("r3 NOOP\r\n"), S("r3 OK done\r\n")});
  std::vector<std::size_t> done;
  try {
    s.client->append_pipelined(
        "INBOX", 3,
        [&](std::size_t i) -> std::optional<AppendMessage> {
          return AppendMessage{{}, std::nullopt, k_body.size() + i, body_writer(k_body)};
        },
        77, [&](std::size_t i, const AppendResult&) { done.push_back(i); });
    FAIL() << "no error";
  } catch (const util::Error& e) {
    EXPECT_EQ(e.scope(), util::Scope::Message) << e.what();
  }
  EXPECT_EQ(done, std::vector<std::size_t>{0});
  s.client->run("NOOP");
  EXPECT_TRUE(s.stream->finished());
}

TEST(ClientAppend, ShortBodyIsAMessageErrorAndSendsNothing) {
  Session s({S(k_plus), C("r2 NOOP\r\n"), S("r2 OK done\r\n")});
  try {
    s.client->append("INBOX", {}, std::nullopt, k_body.size() + 1, body_writer(k_body));
    FAIL() << "no error";
  } catch (const util::Error& e) {
    EXPECT_EQ(e.scope(), util::Scope::Message);
    EXPECT_NE(std::string(e.what()).find("shorter than the 23 octets"), std::string::npos)
        << e.what();
  }
  EXPECT_EQ(s.stream->written(), "");
  s.client->run("NOOP");  // The connection is untouched.
  EXPECT_TRUE(s.stream->finished());
}

TEST(ClientAppend, LongBodyIsAMessageErrorWhileNothingWasSent) {
  Session s({S(k_sync)});
  try {
    s.client->append("INBOX", {}, std::nullopt, k_body.size() - 1, body_writer(k_body));
    FAIL() << "no error";
  } catch (const util::Error& e) {
    EXPECT_EQ(e.scope(), util::Scope::Message);
    EXPECT_NE(std::string(e.what()).find("longer than the 21 octets"), std::string::npos)
        << e.what();
  }
  EXPECT_EQ(s.stream->written(), "");
}

TEST(ClientAppend, WrongCountAfterOctetsWereSentBreaksTheConnection) {
  // The first 64 KiB leave before the count is known to be wrong: the
  // server now waits for the rest of the literal, so only an Account error
  // is honest.
  const std::size_t size = (64u << 10) + 10;
  std::string first(64u << 10, 'x');
  Session s({S(k_plus), C("r1 APPEND INBOX {" + std::to_string(size) + "+}\r\n" + first)});
  auto writer = [&](LiteralSink& sink) {
    sink.write(first.data(), first.size());
    sink.write("01234", 5);   // The buffer is full: the first 64 KiB leave.
    sink.write("56789A", 6);  // One octet too many.
  };
  try {
    s.client->append("INBOX", {}, std::nullopt, size, writer);
    FAIL() << "no error";
  } catch (const util::Error& e) {
    EXPECT_EQ(e.scope(), util::Scope::Account);
  }
  EXPECT_TRUE(s.stream->finished());
}

TEST(ClientAppend, CallbackFailureAfterOctetsWereSentBreaksTheConnection) {
  const std::size_t size = (64u << 10) + 10;
  std::string first(64u << 10, 'x');
  Session s({S(k_plus), C("r1 APPEND INBOX {" + std::to_string(size) + "+}\r\n" + first)});
  auto writer = [&](LiteralSink& sink) {
    sink.write(first.data(), first.size());
    sink.write("0", 1);
    throw util::Error(util::Scope::Message, "read error");
  };
  try {
    s.client->append("INBOX", {}, std::nullopt, size, writer);
    FAIL() << "no error";
  } catch (const util::Error& e) {
    EXPECT_EQ(e.scope(), util::Scope::Account);
    EXPECT_NE(std::string(e.what()).find("read error"), std::string::npos);
  }
}

TEST(ClientAppend, EmptyMessageAndUnsendableFlagsAreRefusedLocally) {
  Session s({S(k_plus)});
  EXPECT_THROW(s.client->append("INBOX", {}, std::nullopt, 0, body_writer("")), util::Error);
  try {
    s.client->append("INBOX", {"bad flag"}, std::nullopt, k_body.size(), body_writer(k_body));
    FAIL() << "no error";
  } catch (const util::Error& e) {
    EXPECT_EQ(e.scope(), util::Scope::Message);
  }
  EXPECT_EQ(s.stream->written(), "");
}

TEST(ClientAppend, TheTraceNeverShowsTheBody) {
  testing::internal::CaptureStderr();
  util::set_debug_categories(util::k_cat_all);
  {
    Session s({S(k_plus), C("r1 APPEND INBOX {22+}\r\n" + k_body + "\r\n"), S("r1 OK done\r\n")});
    s.client->append("INBOX", {}, std::nullopt, k_body.size(), body_writer(k_body));
  }
  util::set_debug_categories(0);
  std::string trace = testing::internal::GetCapturedStderr();
  EXPECT_NE(trace.find("r1 APPEND INBOX {22+} (body not shown)"), std::string::npos) << trace;
  EXPECT_EQ(trace.find("hello"), std::string::npos) << trace;
}

// --- open() state ---

TEST(ClientOpen, RemembersUidValidityAndPermanentFlagsUntilTheNextOpen) {
  Session s({S(k_plus), C("r1 SELECT INBOX (CONDSTORE)\r\n"),
             S("* 2 EXISTS\r\n* OK [UIDVALIDITY 7] ok\r\n"
               "* OK [PERMANENTFLAGS (\\Seen \\Deleted \\*)] ok\r\n"
               "* OK [HIGHESTMODSEQ 5] ok\r\nr1 OK [READ-WRITE] done\r\n"),
             C("r2 SELECT Gone (CONDSTORE)\r\n"), S("r2 NO [NONEXISTENT] no such mailbox\r\n")});
  s.client->open("INBOX", OpenMode::Select);
  EXPECT_EQ(s.client->selected_uidvalidity(), 7u);
  EXPECT_EQ(s.client->permanent_flags(), (std::vector<std::string>{"\\Seen", "\\Deleted", "\\*"}));
  EXPECT_THROW(s.client->open("Gone", OpenMode::Select), CommandFailed);
  EXPECT_EQ(s.client->selected_uidvalidity(), 0u);
  EXPECT_TRUE(s.client->permanent_flags().empty());
}

// --- UID STORE ---

const std::vector<Step> k_select_condstore = {
    C("r1 SELECT INBOX (CONDSTORE)\r\n"),
    S("* 10 EXISTS\r\n* OK [UIDVALIDITY 7] ok\r\n* OK [HIGHESTMODSEQ 60] ok\r\n"
      "r1 OK [READ-WRITE] done\r\n")};

std::vector<Step> script(std::vector<Step> head, const std::vector<Step>& middle,
                         const std::vector<Step>& tail) {
  head.insert(head.end(), middle.begin(), middle.end());
  head.insert(head.end(), tail.begin(), tail.end());
  return head;
}

// --- MULTIAPPEND ---

const char* k_multi = "* OK [CAPABILITY IMAP4rev1 LITERAL+ UIDPLUS MULTIAPPEND] ready\r\n";

const std::vector<Step> k_select_inbox = {
    C("r1 SELECT INBOX\r\n"), S("* 2 EXISTS\r\n* OK [UIDVALIDITY 77] ok\r\n* OK [UIDNEXT 10] ok\r\n"
                                "r1 OK [READ-WRITE] done\r\n")};

const std::string k_other = "Subject: yo\r\n\r\nhey\r\n";  // 20 octets.

// What append_pipelined() reported, message by message.
struct Reported {
  std::vector<std::pair<std::size_t, std::string>> results;
  std::function<void(std::size_t, const AppendResult&)> done() {
    return [this](std::size_t i, const AppendResult& r) {
      results.emplace_back(i, r.refusal ? std::string("refused")
                              : r.uid   ? std::to_string(*r.uid)
                                        : std::string("no uid"));
    };
  }
};

using Results = std::vector<std::pair<std::size_t, std::string>>;

TEST(ClientMultiAppend, TheMessagesForTheSelectedMailboxGoInOneCommand) {
  Session s(script({S(k_multi)}, k_select_inbox,
                   {C("r2 APPEND INBOX {22+}\r\n" + k_body +
                      " (\\Seen) \"01-Jan-2024 10:00:00 +0000\" {20+}\r\n" + k_other +
                      " {22+}\r\n" + k_body + "\r\n"),
                    S("* 5 EXISTS\r\nr2 OK [APPENDUID 77 10:12] done\r\n")}));
  s.client->open("INBOX", OpenMode::Select);
  std::vector<AppendMessage> messages{
      {{}, std::nullopt, k_body.size(), body_writer(k_body)},
      {{"\\Seen"}, jan_first(), k_other.size(), body_writer(k_other)},
      {{}, std::nullopt, k_body.size(), body_writer(k_body)}};
  Reported reported;
  s.client->append_pipelined(
      "INBOX", 3, [&](std::size_t i) { return std::optional(messages[i]); }, 77, reported.done());
  EXPECT_EQ(reported.results, (Results{{0, "10"}, {1, "11"}, {2, "12"}}));
  EXPECT_TRUE(s.stream->finished());
}

TEST(ClientMultiAppend, ARefusedBatchIsSentAgainOneMessageAtATime) {
  // Nothing was stored (no EXISTS came): each message alone tells which
  // one the server refuses.
  Session s(script(
      {S(k_multi)}, k_select_inbox,
      {C("r2 APPEND INBOX {22+}\r\n" + k_body + " {20+}\r\n" + k_other + "\r\n"),
       S("r2 NO [TOOBIG] one is too large\r\n"), C("r3 APPEND INBOX {22+}\r\n" + k_body + "\r\n"),
       C("r4 APPEND INBOX {20+}\r\n" + k_other + "\r\n"),
       S("* 3 EXISTS\r\nr3 OK [APPENDUID 77 10] done\r\nr4 NO [TOOBIG] too large\r\n")}));
  s.client->open("INBOX", OpenMode::Select);
  std::vector<std::size_t> asked;
  auto next = messages_of({k_body, k_other});
  Reported reported;
  s.client->append_pipelined(
      "INBOX", 2,
      [&](std::size_t i) {
        asked.push_back(i);
        return next(i);
      },
      77, reported.done());
  EXPECT_EQ(asked, (std::vector<std::size_t>{0, 1, 0, 1}));
  EXPECT_EQ(reported.results, (Results{{0, "10"}, {1, "refused"}}));
  EXPECT_TRUE(s.stream->finished());
}

TEST(ClientMultiAppend, ARefusedBatchWhileTheMailboxGrewIsNotSentAgain) {
  // The server broke RFC 3502's all-or-nothing, or another client
  // delivered meanwhile: which cannot be told, so nothing is sent twice and
  // the caller looks for the messages by content.
  Session s(script({S(k_multi)}, k_select_inbox,
                   {C("r2 APPEND INBOX {22+}\r\n" + k_body + " {20+}\r\n" + k_other + "\r\n"),
                    S("* 3 EXISTS\r\nr2 NO failed half way\r\n")}));
  s.client->open("INBOX", OpenMode::Select);
  Reported reported;
  s.client->append_pipelined("INBOX", 2, messages_of({k_body, k_other}), 77, reported.done());
  EXPECT_EQ(reported.results, (Results{{0, "no uid"}, {1, "no uid"}}));
  EXPECT_TRUE(s.stream->finished());
}

TEST(ClientMultiAppend, AnAppendUidThatDoesNotNameOneUidPerMessageIsIgnored) {
  for (const std::string code : {"[APPENDUID 77 10:11]", "[APPENDUID 78 10:12]",
                                 "[APPENDUID 77 10,10,11]", "[APPENDUID 77 12,10:11]"}) {
    SCOPED_TRACE(code);
    Session s(script({S(k_multi)}, k_select_inbox,
                     {C("r2 APPEND INBOX {22+}\r\n" + k_body + " {22+}\r\n" + k_body +
                        " {22+}\r\n" + k_body + "\r\n"),
                      S("r2 OK " + code + " done\r\n")}));
    s.client->open("INBOX", OpenMode::Select);
    Reported reported;
    s.client->append_pipelined("INBOX", 3, messages_of({k_body, k_body, k_body}), 77,
                               reported.done());
    EXPECT_EQ(reported.results, (Results{{0, "no uid"}, {1, "no uid"}, {2, "no uid"}}));
    EXPECT_TRUE(s.stream->finished());
  }
}

TEST(ClientMultiAppend, AnotherMailboxThanTheSelectedOneGetsOneCommandPerMessage) {
  Session s(script({S(k_multi)}, k_select_inbox,
                   {C("r2 APPEND Sent {22+}\r\n" + k_body + "\r\n"),
                    C("r3 APPEND Sent {20+}\r\n" + k_other + "\r\n"),
                    S("r2 OK [APPENDUID 5 1] done\r\nr3 OK [APPENDUID 5 2] done\r\n")}));
  s.client->open("INBOX", OpenMode::Select);
  Reported reported;
  s.client->append_pipelined("Sent", 2, messages_of({k_body, k_other}), 5, reported.done());
  EXPECT_EQ(reported.results, (Results{{0, "1"}, {1, "2"}}));
  EXPECT_TRUE(s.stream->finished());
}

TEST(ClientMultiAppend, ABodyShorterThanAnnouncedInTheBatchBreaksTheConnection) {
  // The first message went out whole; the server waits for the rest of the
  // command, which can never come right.
  Session s(script({S(k_multi)}, k_select_inbox, {C("r2 APPEND INBOX {22+}\r\n" + k_body)}));
  s.client->open("INBOX", OpenMode::Select);
  std::vector<AppendMessage> messages{{{}, std::nullopt, k_body.size(), body_writer(k_body)},
                                      {{}, std::nullopt, k_other.size() + 5, body_writer(k_other)}};
  try {
    s.client->append_pipelined(
        "INBOX", 2, [&](std::size_t i) { return std::optional(messages[i]); }, 77,
        [](std::size_t, const AppendResult&) { FAIL() << "nothing is reported"; });
    FAIL() << "no error";
  } catch (const util::Error& e) {
    EXPECT_EQ(e.scope(), util::Scope::Account) << e.what();
    EXPECT_NE(std::string(e.what()).find("shorter"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(s.client->usable());
}

TEST(ClientStore, CollectsModifiedFromOkAndFromNoWhilePipelining) {
  // A 98-octet line limit leaves 21 octets for the UID set here, so the set
  // splits after "100005"; both parts are sent before either answer.
  ClientOptions options;
  options.max_command_line = 98;
  const char* suffix = " (UNCHANGEDSINCE 60) +FLAGS.SILENT (\\Seen)\r\n";
  Session s(script({S(k_plus)}, k_select_condstore,
                   {C(std::string("r2 UID STORE 100001:100003,100005") + suffix),
                    C(std::string("r3 UID STORE 100007,100009,100011") + suffix),
                    S("* 1 FETCH (UID 100001 MODSEQ (61))\r\n"
                      "r2 OK [MODIFIED 100005] Conditional STORE failed\r\n"
                      "r3 NO [MODIFIED 100009,100011] Some messages were modified\r\n")}),
            options);
  s.client->open("INBOX", OpenMode::Select);
  std::vector<Uid> modified;
  std::vector<Uid> fetched;
  s.client->store_flags({100011, 100001, 100002, 100003, 100005, 100007, 100009}, StoreOp::Add,
                        {"\\Seen"}, 60, &modified,
                        [&](const FetchData& f) { fetched.push_back(*f.uid); });
  std::sort(modified.begin(), modified.end());
  EXPECT_EQ(modified, (std::vector<Uid>{100005, 100009, 100011}));
  EXPECT_EQ(fetched, std::vector<Uid>{100001});
  EXPECT_TRUE(s.stream->finished());
}

TEST(ClientStore, RemoveWithoutConditionAndAFailureAfterTheOthersComplete) {
  ClientOptions options;
  options.max_command_line = 80;
  Session s({S(k_plus), C("r1 UID STORE 100001:100003,100005 -FLAGS.SILENT (\\Flagged)\r\n"),
             C("r2 UID STORE 100007 -FLAGS.SILENT (\\Flagged)\r\n"),
             S("r1 NO [CANNOT] not now\r\nr2 OK done\r\n"), C("r3 NOOP\r\n"), S("r3 OK done\r\n")},
            options);
  try {
    s.client->store_flags({100001, 100002, 100003, 100005, 100007}, StoreOp::Remove, {"\\Flagged"});
    FAIL() << "no error";
  } catch (const CommandFailed& e) {
    EXPECT_NE(std::string(e.what()).find("UID STORE"), std::string::npos) << e.what();
  }
  // r2's answer was consumed before the error surfaced: the session is in step.
  s.client->run("NOOP");
  EXPECT_TRUE(s.stream->finished());
}

TEST(ClientStore, UnchangedSinceNeedsModSequences) {
  Session s({S(k_sync)});
  EXPECT_THROW(s.client->store_flags({1}, StoreOp::Add, {"\\Seen"}, 60, nullptr), util::Error);
  EXPECT_EQ(s.stream->written(), "");
}

TEST(ClientStoreMany, FlagsDeletionsAndTheExpungeGoOutInOneFlight) {
  // Every command is sent before the first answer is read: a folder's flag
  // changes and deletions cost one round trip.
  Session s(
      script({S(k_plus)}, k_select_condstore,
             {C("r2 UID STORE 1:2 (UNCHANGEDSINCE 60) +FLAGS.SILENT (\\Flagged)\r\n"),
              C("r3 UID STORE 3 (UNCHANGEDSINCE 60) -FLAGS.SILENT (\\Seen)\r\n"),
              C("r4 UID STORE 5:6 +FLAGS.SILENT (\\Deleted)\r\n"), C("r5 UID EXPUNGE 5:6\r\n"),
              S("r2 OK [MODIFIED 2] Conditional STORE failed\r\nr3 OK done\r\n"
                "r4 OK done\r\n* 5 EXPUNGE\r\n* 5 EXPUNGE\r\nr5 OK done\r\n")}));
  s.client->open("INBOX", OpenMode::Select);
  std::vector<Uid> modified;
  s.client->store_many({{{2, 1}, StoreOp::Add, {"\\Flagged"}, 60},
                        {{3}, StoreOp::Remove, {"\\Seen"}, 60},
                        {{}, StoreOp::Add, {"\\Seen"}, 0},
                        {{6, 5}, StoreOp::Add, {"\\Deleted"}, 0}},
                       {5, 6}, &modified);
  EXPECT_EQ(modified, std::vector<Uid>{2});
  EXPECT_TRUE(s.stream->finished());
}

TEST(ClientStoreMany, ARefusalIsThrownAfterTheAnswersInFlight) {
  Session s({S(k_sync), C("r1 UID STORE 1 +FLAGS.SILENT (\\Flagged)\r\n"),
             C("r2 UID STORE 4 +FLAGS.SILENT (\\Deleted)\r\n"), C("r3 UID EXPUNGE 4\r\n"),
             S("r1 NO [CANNOT] not now\r\nr2 OK done\r\nr3 OK done\r\n"), C("r4 NOOP\r\n"),
             S("r4 OK done\r\n")});
  try {
    s.client->store_many(
        {{{1}, StoreOp::Add, {"\\Flagged"}, 0}, {{4}, StoreOp::Add, {"\\Deleted"}, 0}}, {4},
        nullptr);
    FAIL() << "no error";
  } catch (const CommandFailed& e) {
    EXPECT_NE(std::string(e.what()).find("UID STORE"), std::string::npos) << e.what();
  }
  s.client->run("NOOP");
  EXPECT_TRUE(s.stream->finished());
}

TEST(ClientStoreMany, WithoutUidPlusTheStoresAreMadeAndNothingIsExpunged) {
  Session s({S("* OK [CAPABILITY IMAP4rev1] ready\r\n"),
             C("r1 UID STORE 4 +FLAGS.SILENT (\\Deleted)\r\n"), S("r1 OK done\r\n")});
  try {
    s.client->store_many({{{4}, StoreOp::Add, {"\\Deleted"}, 0}}, {4}, nullptr);
    FAIL() << "no error";
  } catch (const CommandFailed&) {
    FAIL() << "the STORE was refused";
  } catch (const util::Error& e) {
    EXPECT_EQ(e.scope(), util::Scope::Folder);
    EXPECT_NE(std::string(e.what()).find("lacks UIDPLUS"), std::string::npos);
  }
  EXPECT_TRUE(s.stream->finished());
}

TEST(ClientStoreMany, AFlagThatCannotBeSentSendsNothing) {
  Session s({S(k_sync)});
  EXPECT_THROW(s.client->store_many(
                   {{{1}, StoreOp::Add, {"\\Flagged"}, 0}, {{2}, StoreOp::Add, {"bad flag"}, 0}},
                   {}, nullptr),
               util::Error);
  EXPECT_EQ(s.stream->written(), "");
}

// Answers every command line with a tagged OK, for tests about the shape of
// many commands rather than a fixed transcript.
class OkStream : public net::Stream {
 public:
  explicit OkStream(std::string greeting) : m_out(std::move(greeting)) {}
  std::size_t read_some(char* buf, std::size_t len) override {
    std::size_t n = std::min(len, m_out.size());
    std::copy_n(m_out.begin(), n, buf);
    m_out.erase(0, n);
    return n;
  }
  void write_all(std::string_view data) override {
    m_pending += data;
    std::size_t end;
    while ((end = m_pending.find("\r\n")) != std::string::npos) {
      std::string line = m_pending.substr(0, end);
      m_pending.erase(0, end + 2);
      m_out += line.substr(0, line.find(' ')) + " OK done\r\n";
      lines->push_back(line + "\r\n");
    }
  }
  void start_tls(const net::TlsOptions&) override {}
  bool is_tls() const override { return false; }
  std::string peer() const override { return "ok:143"; }
  std::string security() const override { return "plaintext"; }
  std::vector<std::string>* lines = nullptr;

 private:
  std::string m_out;
  std::string m_pending;
};

TEST(ClientStore, HugeUidListsAreSplitIntoCommandsUnder8000Octets) {
  std::vector<std::string> lines;
  auto stream = std::make_unique<OkStream>(k_plus);
  stream->lines = &lines;
  Client client(std::move(stream));
  client.read_greeting();
  std::vector<Uid> uids;
  for (Uid uid = 1'000'001; uid < 1'040'000; uid += 2) {  // No two adjacent: no ranges.
    uids.push_back(uid);
  }
  client.store_flags(uids, StoreOp::Add, {"\\Seen"});
  ASSERT_GT(lines.size(), 10u);
  std::set<Uid> seen;
  for (const auto& line : lines) {
    EXPECT_LT(line.size(), 8000u);
    if (&line != &lines.back()) {
      EXPECT_GT(line.size(), 7900u);  // Split late, not needlessly often.
    }
    const std::string suffix = " +FLAGS.SILENT (\\Seen)\r\n";
    ASSERT_TRUE(line.ends_with(suffix)) << line;
    std::size_t start = line.find("UID STORE ");
    ASSERT_NE(start, std::string::npos);
    std::string set = line.substr(start + 10, line.size() - start - 10 - suffix.size());
    std::size_t pos = 0;
    while (pos < set.size()) {
      std::size_t comma = set.find(',', pos);
      if (comma == std::string::npos) {
        comma = set.size();
      }
      seen.insert(static_cast<Uid>(std::stoul(set.substr(pos, comma - pos))));
      pos = comma + 1;
    }
  }
  EXPECT_EQ(std::vector<Uid>(seen.begin(), seen.end()), uids);
}

// --- UID FETCH of flags and headers ---

TEST(ClientFetch, FlagsForAskForModSeqAndKeepOnlyTheUidsAskedFor) {
  Session s(script({S(k_plus)}, k_select_condstore,
                   {C("r2 UID FETCH 4,9:10 (UID FLAGS MODSEQ)\r\n"),
                    S("* 1 FETCH (UID 4 FLAGS (\\Seen) MODSEQ (12))\r\n"
                      "* 7 FETCH (UID 20 FLAGS (\\Deleted) MODSEQ (61))\r\n"
                      "* 2 FETCH (UID 9 FLAGS () MODSEQ (3))\r\n"
                      "* 2 FETCH (FLAGS (\\Answered))\r\n"
                      "r2 OK done\r\n")}));
  s.client->open("INBOX", OpenMode::Select);
  auto flags = s.client->fetch_flags_for({10, 4, 9});
  ASSERT_EQ(flags.size(), 2u);  // UID 10 was expunged; 20 was not asked about.
  EXPECT_EQ(flags[0].uid, 4u);
  EXPECT_EQ(flags[0].flags, std::vector<std::string>{"\\Seen"});
  EXPECT_EQ(flags[0].modseq, 12u);
  EXPECT_EQ(flags[1].uid, 9u);
  EXPECT_TRUE(flags[1].flags.empty());
}

TEST(ClientFetch, FlagsForWithoutCondstore) {
  Session s({S(k_sync), C("r1 UID FETCH 4 (UID FLAGS)\r\n"),
             S("* 1 FETCH (UID 4 FLAGS (\\Seen))\r\nr1 OK done\r\n")});
  auto flags = s.client->fetch_flags_for({4});
  ASSERT_EQ(flags.size(), 1u);
  EXPECT_EQ(flags[0].modseq, 0u);
  EXPECT_TRUE(s.client->fetch_flags_for({}).empty());
  EXPECT_TRUE(s.stream->finished());
}

std::string literal(const std::string& data) {
  return "{" + std::to_string(data.size()) + "}\r\n" + data;
}

TEST(ClientFetch, HeadersWithFlagsAndSize) {
  std::string h3 = "Subject: a\r\nMessage-ID: <a@x>\r\n\r\n";
  std::string h5 = "Subject: b\r\n\r\n";
  Session s({S(k_sync), C("r1 UID FETCH 3,5 (UID FLAGS RFC822.SIZE BODY.PEEK[HEADER])\r\n"),
             S("* 1 FETCH (UID 3 FLAGS (\\Seen) RFC822.SIZE 120 BODY[HEADER] " + literal(h3) +
               ")\r\n* 2 FETCH (UID 5 RFC822.SIZE 40 FLAGS () BODY[HEADER] " + literal(h5) +
               ")\r\n* 2 FETCH (UID 5 FLAGS (\\Flagged))\r\nr1 OK done\r\n")});
  auto headers = s.client->fetch_headers({5, 3});
  ASSERT_EQ(headers.size(), 2u);
  EXPECT_EQ(headers[0].uid, 3u);
  EXPECT_EQ(headers[0].flags, std::vector<std::string>{"\\Seen"});
  EXPECT_EQ(headers[0].rfc822_size, 120u);
  EXPECT_EQ(headers[0].header, h3);
  EXPECT_EQ(headers[1].uid, 5u);
  EXPECT_EQ(headers[1].flags, std::vector<std::string>{"\\Flagged"});  // The later report.
  EXPECT_EQ(headers[1].header, h5);
}

TEST(ClientFetch, AllHeadersAsksFor1ToStarOnlyWhenTheMailboxHasMessages) {
  std::string h = "Subject: a\r\n\r\n";
  Session s({S(k_sync), C("r1 EXAMINE Empty\r\n"),
             S("* 0 EXISTS\r\n* OK [UIDVALIDITY 3] ok\r\nr1 OK [READ-ONLY] done\r\n"),
             C("r2 EXAMINE INBOX\r\n"),
             S("* 1 EXISTS\r\n* OK [UIDVALIDITY 3] ok\r\nr2 OK [READ-ONLY] done\r\n"),
             C("r3 UID FETCH 1:* (UID FLAGS RFC822.SIZE BODY.PEEK[HEADER])\r\n"),
             S("* 1 FETCH (UID 8 FLAGS () RFC822.SIZE 14 BODY[HEADER] " + literal(h) +
               ")\r\nr3 OK done\r\n")});
  s.client->open("Empty", OpenMode::Examine);
  EXPECT_TRUE(s.client->fetch_all_headers().empty());
  s.client->open("INBOX", OpenMode::Examine);
  auto headers = s.client->fetch_all_headers();
  ASSERT_EQ(headers.size(), 1u);
  EXPECT_EQ(headers[0].uid, 8u);
  EXPECT_EQ(headers[0].header, h);
  EXPECT_TRUE(s.stream->finished());
}

// --- UID EXPUNGE ---

TEST(ClientExpunge, UidExpungeOfExactlyTheseUids) {
  Session s({S(k_sync), C("r1 UID EXPUNGE 3:4,8\r\n"),
             S("* 3 EXPUNGE\r\n* 3 EXPUNGE\r\n* 5 EXPUNGE\r\nr1 OK done\r\n")});
  s.client->uid_expunge({8, 3, 4});
  EXPECT_TRUE(s.stream->finished());
}

TEST(ClientExpunge, WithoutUidPlusNothingIsSent) {
  Session s({S("* OK [CAPABILITY IMAP4rev1 MOVE] ready\r\n")});
  try {
    s.client->uid_expunge({3});
    FAIL() << "no error";
  } catch (const util::Error& e) {
    EXPECT_EQ(e.scope(), util::Scope::Folder);
    EXPECT_NE(std::string(e.what()).find("lacks UIDPLUS"), std::string::npos);
  }
  EXPECT_EQ(s.stream->written(), "");
}

// --- MOVE ---

TEST(ClientMove, UidMoveTakesCopyUidFromTheUntaggedOk) {
  Session s({S("* OK [CAPABILITY IMAP4rev1 MOVE UIDPLUS] ready\r\n"),
             C("r1 UID MOVE 3:4,8 Archive\r\n"),
             S("* OK [COPYUID 55 8,3:4 22,20:21] Moved UIDs.\r\n"
               "* 3 EXPUNGE\r\n* 3 EXPUNGE\r\n* 5 EXPUNGE\r\nr1 OK Move completed\r\n")});
  MoveResult moved = s.client->move({3, 4, 8}, "Archive", 55);
  // Paired by position in the server's order, returned by source UID.
  EXPECT_EQ(moved.pairs, (std::vector<std::pair<Uid, Uid>>{{3, 20}, {4, 21}, {8, 22}}));
  EXPECT_TRUE(moved.expunged);
  EXPECT_TRUE(s.stream->finished());
}

TEST(ClientMove, CopyUidOnTheTaggedOkWithADescendingRange) {
  Session s({S("* OK [CAPABILITY IMAP4rev1 MOVE UIDPLUS] ready\r\n"),
             C("r1 UID MOVE 3:4 \"Old Mail\"\r\n"),
             S("* 1 EXPUNGE\r\n* 1 EXPUNGE\r\nr1 OK [COPYUID 55 4:3 31:30] done\r\n")});
  auto pairs = s.client->move({3, 4}, "Old Mail", 55).pairs;
  EXPECT_EQ(pairs, (std::vector<std::pair<Uid, Uid>>{{3, 30}, {4, 31}}));
}

TEST(ClientMove, UnusableCopyUidGivesNoPairs) {
  // Another mailbox's UIDVALIDITY, sets of different sizes, and a source UID
  // that was not moved: each makes the answer untrustworthy.
  for (const char* code :
       {"[COPYUID 56 3:4 20:21]", "[COPYUID 55 3:4 20]", "[COPYUID 55 3,9 20:21]"}) {
    Session s({S("* OK [CAPABILITY IMAP4rev1 MOVE UIDPLUS] ready\r\n"),
               C("r1 UID MOVE 3:4 Archive\r\n"),
               S(std::string("* OK ") + code + " moved\r\nr1 OK done\r\n")});
    EXPECT_TRUE(s.client->move({3, 4}, "Archive", 55).pairs.empty()) << code;
  }
}

TEST(ClientMove, CopyUidFromAnEarlierCommandIsNotTaken) {
  Session s({S("* OK [CAPABILITY IMAP4rev1 MOVE UIDPLUS] ready\r\n"), C("r1 NOOP\r\n"),
             S("* OK [COPYUID 55 3:4 20:21] stale\r\nr1 OK done\r\n"),
             C("r2 UID MOVE 3:4 Archive\r\n"), S("r2 OK done\r\n")});
  s.client->run("NOOP");
  EXPECT_TRUE(s.client->move({3, 4}, "Archive", 55).pairs.empty());
}

TEST(ClientMove, WithoutMoveFallsBackToCopyStoreAndUidExpunge) {
  Session s({S(k_sync), C("r1 UID COPY 3:4 Archive\r\n"),
             // For COPY only the tagged OK counts; this untagged code is ignored.
             S("* OK [COPYUID 55 3:4 90:91] stray\r\nr1 OK [COPYUID 55 3:4 20:21] done\r\n"),
             C("r2 UID STORE 3:4 +FLAGS.SILENT (\\Deleted)\r\n"), S("r2 OK done\r\n"),
             C("r3 UID EXPUNGE 3:4\r\n"), S("* 1 EXPUNGE\r\n* 1 EXPUNGE\r\nr3 OK done\r\n")});
  MoveResult moved = s.client->move({3, 4}, "Archive", 55);
  EXPECT_EQ(moved.pairs, (std::vector<std::pair<Uid, Uid>>{{3, 20}, {4, 21}}));
  EXPECT_TRUE(moved.expunged);
  EXPECT_TRUE(s.stream->finished());
}

TEST(ClientMove, FailedCopyMarksNothingDeleted) {
  Session s(
      {S(k_sync), C("r1 UID COPY 3:4 Archive\r\n"), S("r1 NO [OVERQUOTA] Quota exceeded\r\n")});
  EXPECT_THROW(s.client->move({3, 4}, "Archive", 55), CommandFailed);
  EXPECT_EQ(s.stream->written().find("Deleted"), std::string::npos);
  EXPECT_TRUE(s.stream->finished());
}

TEST(ClientMove, WithoutUidPlusExpungesWhenOnlyOurMessagesAreDeleted) {
  // No UID EXPUNGE, and so no COPYUID either: the plain EXPUNGE is safe
  // because the server says the only \Deleted messages are the two just
  // marked (UID 4 was expunged by someone else meanwhile).
  Session s({S("* OK [CAPABILITY IMAP4rev1] ready\r\n"), C("r1 UID COPY 3:4,9 Archive\r\n"),
             S("r1 OK done\r\n"), C("r2 UID STORE 3:4,9 +FLAGS.SILENT (\\Deleted)\r\n"),
             S("r2 OK done\r\n"), C("r3 UID SEARCH DELETED\r\n"),
             S("* SEARCH 3 9\r\nr3 OK done\r\n"), C("r4 EXPUNGE\r\n"),
             S("* 1 EXPUNGE\r\n* 5 EXPUNGE\r\nr4 OK done\r\n")});
  MoveResult moved = s.client->move({3, 4, 9}, "Archive", 55);
  EXPECT_TRUE(moved.pairs.empty());
  EXPECT_TRUE(moved.expunged);
  EXPECT_TRUE(s.stream->finished());
}

TEST(ClientMove, WithoutUidPlusAnotherDeletedMessageLeavesOursMarked) {
  // UID 7 was marked \Deleted by another client, which a plain EXPUNGE
  // would remove too: the moved originals stay marked instead.
  Session s({S("* OK [CAPABILITY IMAP4rev1] ready\r\n"), C("r1 UID COPY 3 Archive\r\n"),
             S("r1 OK done\r\n"), C("r2 UID STORE 3 +FLAGS.SILENT (\\Deleted)\r\n"),
             S("r2 OK done\r\n"), C("r3 UID SEARCH DELETED\r\n"),
             S("* SEARCH 3 7\r\nr3 OK done\r\n"), C("r4 NOOP\r\n"), S("r4 OK done\r\n")});
  MoveResult moved = s.client->move({3}, "Archive", 55);
  EXPECT_FALSE(moved.expunged);
  EXPECT_TRUE(moved.pairs.empty());
  EXPECT_EQ(s.stream->written().find("EXPUNGE"), std::string::npos);
  s.client->run("NOOP");
  EXPECT_TRUE(s.stream->finished());
}

TEST(ClientMove, WithoutUidPlusAnUnreadableSearchAnswerLeavesOursMarked) {
  Session s({S("* OK [CAPABILITY IMAP4rev1] ready\r\n"), C("r1 UID COPY 3 Archive\r\n"),
             S("r1 OK done\r\n"), C("r2 UID STORE 3 +FLAGS.SILENT (\\Deleted)\r\n"),
             S("r2 OK done\r\n"), C("r3 UID SEARCH DELETED\r\n"), S("r3 OK done\r\n")});
  EXPECT_FALSE(s.client->move({3}, "Archive", 55).expunged);
  EXPECT_TRUE(s.stream->finished());
}

// --- CREATE ---

TEST(ClientCreate, AlreadyExistsIsSuccess) {
  Session s({S(k_sync), C("r1 CREATE Archive\r\n"),
             S("r1 NO [ALREADYEXISTS] Mailbox already exists\r\n"), C("r2 CREATE \"a b\"\r\n"),
             S("r2 OK done\r\n"), C("r3 CREATE Nope\r\n"), S("r3 NO [NOPERM] not allowed\r\n")});
  s.client->create("Archive");
  s.client->create("a b");
  EXPECT_THROW(s.client->create("Nope"), CommandFailed);
  EXPECT_TRUE(s.stream->finished());
}

}  // namespace
}  // namespace roam::imap
