// Transcript tests of a SELECT sent ahead (Client::send_open() from an
// after_last_send() hook): the next folder's SELECT travels behind the last
// folder's final command, and its answers are read by the open() that
// follows, never by anything else.

#include <gtest/gtest.h>

#include "fakes/scripted_stream.hpp"
#include "imap/client.hpp"
#include "util/error.hpp"

namespace roam::imap {
namespace {

using fakes::C;
using fakes::S;
using fakes::Step;

const char* k_greeting = "* OK [CAPABILITY IMAP4rev1 CONDSTORE ESEARCH] ready\r\n";
const char* k_fetch_3 = "r1 UID FETCH 3 (UID FLAGS INTERNALDATE BODY.PEEK[])\r\n";
const char* k_body_3 =
    "* 1 FETCH (UID 3 FLAGS () INTERNALDATE \"01-Jan-2024 10:00:00 +0000\" BODY[] {2}\r\n"
    "ab)\r\n";

struct Session {
  explicit Session(std::vector<Step> steps) {
    auto owned = std::make_unique<fakes::ScriptedStream>(std::move(steps));
    stream = owned.get();
    client = std::make_unique<Client>(std::move(owned));
    client->read_greeting();
  }
  fakes::ScriptedStream* stream;
  std::unique_ptr<Client> client;
};

class StringSink : public LiteralSink {
 public:
  void write(const char* data, std::size_t size) override { text.append(data, size); }
  std::string text;
};

// Fetches UID 3's body, running `ahead` once its FETCH is sent.
void fetch_3(Client& client, const std::function<void()>& ahead) {
  client.after_last_send(ahead);
  StringSink sink;
  client.fetch_bodies(
      {3}, [&] { return &sink; }, [](const FetchData&) {}, {});
}

TEST(OpenAhead, TheNextSelectGoesOutBeforeTheLastFetchIsReadAndItsOpenReadsIt) {
  // The SELECT and its prefetch are written before a byte of the FETCH's
  // answer is read: the script would fail on any other order.
  Session s({S(k_greeting), C(k_fetch_3), C("r2 SELECT Next (CONDSTORE)\r\n"),
             C("r3 UID FETCH 1:* (UID FLAGS) (CHANGEDSINCE 7)\r\n"),
             C("r4 UID SEARCH RETURN (ALL) ALL\r\n"),
             C("r5 UID FETCH 12:* (UID FLAGS RFC822.SIZE BODY.PEEK[HEADER])\r\n"),
             S(std::string(k_body_3) + "r1 OK done\r\n"),
             S("* 2 EXISTS\r\n* OK [UIDVALIDITY 9] ok\r\n* OK [UIDNEXT 13] ok\r\n"
               "* OK [HIGHESTMODSEQ 8] ok\r\nr2 OK [READ-WRITE] done\r\n"
               "* 2 FETCH (UID 12 FLAGS (\\Seen) MODSEQ (8))\r\nr3 OK done\r\n"
               "* ESEARCH (TAG \"r4\") UID ALL 4,12\r\nr4 OK done\r\n"
               "* 2 FETCH (UID 12 FLAGS (\\Seen) RFC822.SIZE 2 BODY[HEADER] {2}\r\nh:)\r\n"
               "r5 OK done\r\n")});
  bool ran = false;
  fetch_3(*s.client, [&] {
    ran = true;
    s.client->send_open("Next", OpenMode::Select, OpenPrefetch{7, 12});
  });
  EXPECT_TRUE(ran);
  EXPECT_TRUE(s.client->open_pending());
  // A different prefetch asked for at open() changes nothing: the one sent
  // is what the answers hold.
  MailboxInfo info = s.client->open("Next", OpenMode::Select, OpenPrefetch{7, 0});
  EXPECT_FALSE(s.client->open_pending());
  EXPECT_EQ(info.uidvalidity, 9u);
  EXPECT_EQ(info.uidnext, 13u);
  EXPECT_EQ(info.exists, 2u);
  EXPECT_EQ(info.highestmodseq, 8u);
  std::optional<MailboxChanges> changes = s.client->list_changes(7);
  ASSERT_TRUE(changes.has_value());
  ASSERT_EQ(changes->changed.size(), 1u);
  EXPECT_EQ(changes->changed[0].uid, 12u);
  std::vector<HeaderInfo> headers = s.client->fetch_headers({12});
  ASSERT_EQ(headers.size(), 1u);
  EXPECT_EQ(headers[0].header, "h:");
  EXPECT_TRUE(s.stream->finished());
}

TEST(OpenAhead, AnOpenOfAnotherMailboxReadsAndDropsTheSelectSentAhead) {
  Session s({S(k_greeting), C("r1 SELECT Guess (CONDSTORE)\r\n"),
             S("* 5 EXISTS\r\n* OK [UIDVALIDITY 1] ok\r\nr1 OK done\r\n"),
             C("r2 EXAMINE Other (CONDSTORE)\r\n"),
             S("* 3 EXISTS\r\n* OK [UIDVALIDITY 2] ok\r\nr2 OK [READ-ONLY] done\r\n")});
  s.client->send_open("Guess", OpenMode::Select);
  MailboxInfo info = s.client->open("Other", OpenMode::Examine);
  EXPECT_EQ(info.uidvalidity, 2u);
  EXPECT_EQ(info.exists, 3u);
  EXPECT_TRUE(info.read_only);
  EXPECT_TRUE(s.stream->finished());
}

TEST(OpenAhead, TheSameMailboxInAnotherModeIsOpenedAgain) {
  // EXAMINE where SELECT went ahead: the mode is part of the match, as a
  // read-only session must not be taken for a writable one.
  Session s({S(k_greeting), C("r1 SELECT Box (CONDSTORE)\r\n"),
             S("* OK [UIDVALIDITY 1] ok\r\nr1 OK [READ-WRITE] done\r\n"),
             C("r2 EXAMINE Box (CONDSTORE)\r\n"),
             S("* OK [UIDVALIDITY 1] ok\r\nr2 OK [READ-ONLY] done\r\n")});
  s.client->send_open("Box", OpenMode::Select);
  EXPECT_TRUE(s.client->open("Box", OpenMode::Examine).read_only);
  EXPECT_TRUE(s.stream->finished());
}

TEST(OpenAhead, ACommandForTheSelectedMailboxIsRefusedUnsentAndTheConnectionGivenUp) {
  // A UID STORE meant for the mailbox the caller believes selected would
  // reach the one the SELECT ahead opens: it never goes out.
  Session s({S(k_greeting), C("r1 SELECT Next (CONDSTORE)\r\n")});
  s.client->send_open("Next", OpenMode::Select);
  try {
    s.client->store_flags({4}, StoreOp::Add, {"\\Seen"}, 0, nullptr);
    FAIL() << "no error";
  } catch (const util::Error& e) {
    EXPECT_EQ(e.scope(), util::Scope::Account);
    EXPECT_NE(std::string(e.what()).find("STORE"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(s.client->usable());
  EXPECT_TRUE(s.stream->finished());
}

TEST(OpenAhead, ACommandOfNoMailboxReadsTheSelectsAnswersFirst) {
  // CREATE's wait must not take the SELECT's untagged answers for its own;
  // they are read first, and the next open() selects again.
  Session s({S(k_greeting), C("r1 SELECT Next (CONDSTORE)\r\n"),
             S("* 1 EXISTS\r\n* OK [UIDVALIDITY 4] ok\r\nr1 OK done\r\n"), C("r2 CREATE New\r\n"),
             S("r2 OK done\r\n"), C("r3 SELECT Next (CONDSTORE)\r\n"),
             S("* 1 EXISTS\r\n* OK [UIDVALIDITY 4] ok\r\nr3 OK done\r\n")});
  s.client->send_open("Next", OpenMode::Select);
  s.client->create("New");
  EXPECT_FALSE(s.client->open_pending());
  EXPECT_EQ(s.client->open("Next", OpenMode::Select).uidvalidity, 4u);
  EXPECT_TRUE(s.stream->finished());
}

TEST(OpenAhead, LogoutGoesOutWithoutWaitingForTheSelect) {
  Session s({S(k_greeting), C("r1 SELECT Next (CONDSTORE)\r\n"), C("r2 LOGOUT\r\n")});
  s.client->send_open("Next", OpenMode::Select);
  s.client->logout();
  EXPECT_TRUE(s.stream->finished());
}

TEST(OpenAhead, ARefusedLastFetchLeavesTheSessionInStepForTheOpen) {
  // The failed call reads its own answers to the end; the SELECT's are its
  // open()'s, so the connection stays usable.
  Session s({S(k_greeting), C(k_fetch_3), C("r2 SELECT Next (CONDSTORE)\r\n"),
             S("r1 NO [SERVERBUG] cannot fetch\r\n"),
             S("* OK [UIDVALIDITY 9] ok\r\nr2 OK done\r\n")});
  EXPECT_THROW(fetch_3(*s.client, [&] { s.client->send_open("Next", OpenMode::Select); }),
               CommandFailed);
  EXPECT_TRUE(s.client->usable());
  EXPECT_EQ(s.client->open("Next", OpenMode::Select).uidvalidity, 9u);
  EXPECT_TRUE(s.stream->finished());
}

TEST(OpenAhead, ARefusedSelectAheadFailsItsOpenAndNothingElse) {
  Session s({S(k_greeting), C(k_fetch_3), C("r2 SELECT Gone (CONDSTORE)\r\n"),
             S(std::string(k_body_3) + "r1 OK done\r\n"),
             S("r2 NO [NONEXISTENT] no such mailbox\r\n"), C("r3 NOOP\r\n"), S("r3 OK done\r\n")});
  fetch_3(*s.client, [&] { s.client->send_open("Gone", OpenMode::Select); });
  EXPECT_THROW(s.client->open("Gone", OpenMode::Select), CommandFailed);
  EXPECT_EQ(s.client->selected_uidvalidity(), 0u);
  s.client->run("NOOP");
  EXPECT_TRUE(s.stream->finished());
}

TEST(OpenAhead, TheHookRunsOnlyInAPipelinedCallAndIsDroppedAtTheEndOfAnyCall) {
  Session s({S(k_greeting), C("r1 NOOP\r\n"), S("r1 OK done\r\n"),
             C("r2 UID FETCH 3 (UID FLAGS INTERNALDATE BODY.PEEK[])\r\n"),
             S(std::string(k_body_3) + "r2 OK done\r\n")});
  int runs = 0;
  s.client->after_last_send([&] { ++runs; });
  s.client->run("NOOP");
  StringSink sink;
  s.client->fetch_bodies(
      {3}, [&] { return &sink; }, [](const FetchData&) {}, {});
  EXPECT_EQ(runs, 0);
  EXPECT_TRUE(s.stream->finished());
}

TEST(OpenAhead, ASecondSelectAheadIsAnInternalError) {
  Session s({S(k_greeting), C("r1 SELECT One (CONDSTORE)\r\n")});
  s.client->send_open("One", OpenMode::Select);
  EXPECT_THROW(s.client->send_open("Two", OpenMode::Select), util::Error);
  EXPECT_TRUE(s.stream->finished());
}

}  // namespace
}  // namespace roam::imap
