// Transcript tests of Client::idle(), the wait of `roam watch`: whatever
// ends the wait (a change, the time limit, the wake descriptor, the server),
// the IDLE is over and the session is ready for the next command, or the
// Client is broken; never a session left inside IDLE.

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

#include "fakes/scripted_client.hpp"
#include "fakes/scripted_stream.hpp"
#include "imap/client.hpp"
#include "util/error.hpp"

namespace roam::imap {
namespace {

using fakes::C;
using fakes::Close;
using fakes::S;
using fakes::Step;
using fakes::Wake;
using IdleEnd = Client::IdleEnd;

constexpr std::chrono::milliseconds k_wait{1000};
const char* k_greeting = "* OK [CAPABILITY IMAP4rev1 IDLE] ready\r\n";

std::vector<Step> with_greeting(std::vector<Step> steps) {
  steps.insert(steps.begin(), S(k_greeting));
  return steps;
}

struct IdleCase {
  const char* name;
  std::vector<Step> steps;  // After the greeting; r1 is the IDLE.
  IdleEnd expected;
};

class IdleEnds : public testing::TestWithParam<IdleCase> {};

TEST_P(IdleEnds, AndLeavesTheSessionReady) {
  const IdleCase& c = GetParam();
  std::vector<Step> steps = with_greeting(c.steps);
  // The session must take a command right after the IDLE, whatever ended it.
  steps.push_back(C("r2 NOOP\r\n"));
  steps.push_back(S("r2 OK\r\n"));
  fakes::ScriptedClient<> sc(steps);
  EXPECT_EQ(sc.client->idle(k_wait, -1), c.expected);
  EXPECT_TRUE(sc.client->usable());
  sc.client->run("NOOP");
  EXPECT_TRUE(sc.stream->finished());
}

const IdleCase k_cases[] = {
    {"NewMessage",
     {C("r1 IDLE\r\n"), S("+ idling\r\n"), S("* 3 EXISTS\r\n"), C("DONE\r\n"), S("r1 OK\r\n")},
     IdleEnd::Changed},
    {"Expunge",
     {C("r1 IDLE\r\n"), S("+ idling\r\n"), S("* 2 EXPUNGE\r\n"), C("DONE\r\n"), S("r1 OK\r\n")},
     IdleEnd::Changed},
    {"FlagChange",
     {C("r1 IDLE\r\n"), S("+ idling\r\n"), S("* 1 FETCH (FLAGS (\\Seen))\r\n"), C("DONE\r\n"),
      S("r1 OK\r\n")},
     IdleEnd::Changed},
    {"Vanished",
     {C("r1 IDLE\r\n"), S("+ idling\r\n"), S("* VANISHED 4:5\r\n"), C("DONE\r\n"), S("r1 OK\r\n")},
     IdleEnd::Changed},
    // A keep-alive and a \Recent count are not changes a sync would see.
    {"KeepAliveIsNoChange",
     {C("r1 IDLE\r\n"), S("+ idling\r\n"), S("* OK Still here\r\n"), S("* 0 RECENT\r\n"),
      C("DONE\r\n"), S("r1 OK\r\n")},
     IdleEnd::TimedOut},
    {"Silence",
     {C("r1 IDLE\r\n"), S("+ idling\r\n"), C("DONE\r\n"), S("r1 OK\r\n")},
     IdleEnd::TimedOut},
    {"WakeDescriptor",
     {C("r1 IDLE\r\n"), S("+ idling\r\n"), Wake(), C("DONE\r\n"), S("r1 OK\r\n")},
     IdleEnd::Woken},
    // A change that arrives with the DONE's answer is still a change.
    {"ChangeWithTheCompletion",
     {C("r1 IDLE\r\n"), S("+ idling\r\n"), Wake(), C("DONE\r\n"), S("* 9 EXISTS\r\nr1 OK\r\n")},
     IdleEnd::Changed},
    // Some servers end an IDLE on their own after a while; no DONE then.
    {"ServerEndsIdle",
     {C("r1 IDLE\r\n"), S("+ idling\r\n"), S("r1 OK IDLE terminated\r\n")},
     IdleEnd::TimedOut},
    // After NOTIFY SET, a mailbox that is not selected tells with STATUS.
    {"StatusOfAnotherMailbox",
     {C("r1 IDLE\r\n"), S("+ idling\r\n"), S("* STATUS Work (MESSAGES 3 UIDNEXT 9)\r\n"),
      C("DONE\r\n"), S("r1 OK\r\n")},
     IdleEnd::Changed},
    {"ChangeBeforeTheContinuation",
     {C("r1 IDLE\r\n"), S("* 5 EXISTS\r\n+ idling\r\n"), C("DONE\r\n"), S("r1 OK\r\n")},
     IdleEnd::Changed},
};

INSTANTIATE_TEST_SUITE_P(Client, IdleEnds, testing::ValuesIn(k_cases),
                         [](const testing::TestParamInfo<IdleCase>& row) {
                           return std::string(row.param.name);
                         });

TEST(ClientIdle, ChunkedServerBytesEndTheSameWay) {
  for (std::size_t chunk = 1; chunk <= 4; ++chunk) {
    fakes::ScriptedClient<> sc(with_greeting({C("r1 IDLE\r\n"), S("+ idling\r\n"),
                                              S("* OK Still here\r\n* 1 FETCH (FLAGS ())\r\n"),
                                              C("DONE\r\n"), S("r1 OK\r\n")}),
                               {}, chunk);
    EXPECT_EQ(sc.client->idle(k_wait, -1), IdleEnd::Changed) << "chunk " << chunk;
    EXPECT_TRUE(sc.stream->finished());
  }
}

TEST(ClientIdle, ARefusedIdleIsACommandFailureAndTheSessionGoesOn) {
  fakes::ScriptedClient<> sc(
      with_greeting({C("r1 IDLE\r\n"), S("r1 BAD not now\r\n"), C("r2 NOOP\r\n"), S("r2 OK\r\n")}));
  EXPECT_THROW(sc.client->idle(k_wait, -1), CommandFailed);
  EXPECT_TRUE(sc.client->usable());
  sc.client->run("NOOP");
  EXPECT_TRUE(sc.stream->finished());
}

TEST(ClientIdle, AConnectionThatDiesDuringIdleBreaksTheClient) {
  fakes::ScriptedClient<> sc(
      with_greeting({C("r1 IDLE\r\n"), S("+ idling\r\n"), S("* BYE shutting down\r\n"), Close()}));
  try {
    sc.client->idle(k_wait, -1);
    FAIL() << "idle() returned on a closed connection";
  } catch (const util::Error& e) {
    EXPECT_EQ(e.scope(), util::Scope::Account);
  }
  EXPECT_FALSE(sc.client->usable());
}

TEST(ClientIdle, ACompletionOfNoRunningCommandBreaksTheClient) {
  fakes::ScriptedClient<> sc(
      with_greeting({C("r1 IDLE\r\n"), S("+ idling\r\n"), S("r7 OK [READ-WRITE] done\r\n")}));
  EXPECT_THROW(sc.client->idle(k_wait, -1), util::Error);
  EXPECT_FALSE(sc.client->usable());
}

TEST(ClientIdle, AContinuationDuringIdleBreaksTheClient) {
  fakes::ScriptedClient<> sc(
      with_greeting({C("r1 IDLE\r\n"), S("+ idling\r\n"), S("+ send more\r\n")}));
  EXPECT_THROW(sc.client->idle(k_wait, -1), util::Error);
  EXPECT_FALSE(sc.client->usable());
}

TEST(ClientNotify, NotifySetNamesEveryMailboxAndTheEventsASyncNeeds) {
  fakes::ScriptedClient<> sc(
      with_greeting({C("r1 NOTIFY SET (mailboxes (INBOX \"Sent Items\" &AOQ-rger) (MessageNew "
                       "MessageExpunge FlagChange))\r\n"),
                     S("r1 OK NOTIFY completed\r\n")}));
  sc.client->notify_set({"INBOX", "Sent Items", "&AOQ-rger"});
  EXPECT_TRUE(sc.stream->finished());
}

TEST(ClientNotify, ARefusalIsACommandFailure) {
  fakes::ScriptedClient<> sc(with_greeting(
      {C("r1 NOTIFY SET (mailboxes (INBOX) (MessageNew MessageExpunge FlagChange))\r\n"),
       S("r1 NO [BADEVENT (MessageNew MessageExpunge)] not supported\r\n")}));
  EXPECT_THROW(sc.client->notify_set({"INBOX"}), CommandFailed);
  EXPECT_TRUE(sc.client->usable());
}

TEST(ClientIdle, WithoutIdleTheServerIsAskedWithNoopAfterTheWait) {
  fakes::ScriptedClient<> sc(
      {S("* OK [CAPABILITY IMAP4rev1] ready\r\n"), C("r1 NOOP\r\n"), S("* 4 EXISTS\r\nr1 OK\r\n")});
  EXPECT_EQ(sc.client->idle(k_wait, -1), IdleEnd::Changed);
  EXPECT_TRUE(sc.stream->finished());
}

TEST(ClientIdle, WithoutIdleAQuietNoopIsATimeout) {
  fakes::ScriptedClient<> sc(
      {S("* OK [CAPABILITY IMAP4rev1] ready\r\n"), C("r1 NOOP\r\n"), S("r1 OK\r\n")});
  EXPECT_EQ(sc.client->idle(k_wait, -1), IdleEnd::TimedOut);
  EXPECT_TRUE(sc.stream->finished());
}

TEST(ClientIdle, WithoutIdleAWakeSendsNothing) {
  fakes::ScriptedClient<> sc({S("* OK [CAPABILITY IMAP4rev1] ready\r\n"), Wake()});
  EXPECT_EQ(sc.client->idle(k_wait, -1), IdleEnd::Woken);
  EXPECT_TRUE(sc.stream->finished());
  EXPECT_EQ(sc.stream->written(), "");
}

}  // namespace
}  // namespace roam::imap
