// Transcript tests of what SELECT/EXAMINE and LIST report about mailboxes,
// with a row per server quirk (named after its server), as in Trojitá's
// parser tests.

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "fakes/scripted_client.hpp"
#include "fakes/scripted_stream.hpp"
#include "imap/client.hpp"

namespace roam::imap {
namespace {

using fakes::C;
using fakes::S;
using fakes::Step;

struct OpenCase {
  const char* name;
  const char* greeting;
  OpenMode mode;
  const char* command;  // What the client must send, tag r1.
  const char* answer;   // The server's whole answer.
  ModSeq highestmodseq;
  bool read_only;
};

class ClientOpenRows : public testing::TestWithParam<OpenCase> {};

TEST_P(ClientOpenRows, ReportsWhatCounts) {
  const OpenCase& c = GetParam();
  auto owned = std::make_unique<fakes::ScriptedStream>(
      std::vector<Step>{S(c.greeting), C(c.command), S(c.answer)});
  fakes::ScriptedStream* stream = owned.get();
  Client client(std::move(owned));
  client.read_greeting();
  MailboxInfo info = client.open("INBOX", c.mode);
  EXPECT_EQ(info.uidvalidity, 7u);
  EXPECT_EQ(info.highestmodseq, c.highestmodseq);
  EXPECT_EQ(info.read_only, c.read_only);
  EXPECT_TRUE(stream->finished());

  // UNCHANGEDSINCE is refused locally exactly when no mod-sequence counts.
  if (c.highestmodseq == 0) {
    EXPECT_THROW(client.store_flags({1}, StoreOp::Add, {"\\Seen"}, 5), util::Error);
    EXPECT_TRUE(client.usable());
  }
}

const OpenCase k_open_cases[] = {
    {"condstore", "* OK [CAPABILITY IMAP4rev1 CONDSTORE] hi\r\n", OpenMode::Select,
     "r1 SELECT INBOX (CONDSTORE)\r\n",
     "* OK [UIDVALIDITY 7] x\r\n* OK [HIGHESTMODSEQ 900] x\r\nr1 OK [READ-WRITE] done\r\n", 900,
     false},
    {"qresync_without_condstore_listed", "* OK [CAPABILITY IMAP4rev1 QRESYNC] hi\r\n",
     OpenMode::Select, "r1 SELECT INBOX (CONDSTORE)\r\n",
     "* OK [UIDVALIDITY 7] x\r\n* OK [HIGHESTMODSEQ 12] x\r\nr1 OK [READ-WRITE] done\r\n", 12,
     false},
    {"cyrus_condstore_suppressed_still_sends_highestmodseq",
     "* OK [CAPABILITY IMAP4rev1 UIDPLUS] Cyrus IMAP ready\r\n", OpenMode::Select,
     "r1 SELECT INBOX\r\n",
     "* OK [UIDVALIDITY 7] Ok\r\n* OK [HIGHESTMODSEQ 4711] Ok\r\n"
     "r1 OK [READ-WRITE] Completed\r\n",
     0, false},
    {"nomodseq", "* OK [CAPABILITY IMAP4rev1 CONDSTORE] hi\r\n", OpenMode::Select,
     "r1 SELECT INBOX (CONDSTORE)\r\n",
     "* OK [UIDVALIDITY 7] x\r\n* OK [NOMODSEQ] x\r\nr1 OK [READ-WRITE] done\r\n", 0, false},
    {"select_answered_read_only", "* OK [CAPABILITY IMAP4rev1] hi\r\n", OpenMode::Select,
     "r1 SELECT INBOX\r\n", "* OK [UIDVALIDITY 7] x\r\nr1 OK [READ-ONLY] shared mailbox\r\n", 0,
     true},
    {"examine", "* OK [CAPABILITY IMAP4rev1 CONDSTORE] hi\r\n", OpenMode::Examine,
     "r1 EXAMINE INBOX (CONDSTORE)\r\n",
     "* OK [UIDVALIDITY 7] x\r\n* OK [HIGHESTMODSEQ 3] x\r\nr1 OK [READ-ONLY] done\r\n", 3, true},
};

INSTANTIATE_TEST_SUITE_P(Servers, ClientOpenRows, testing::ValuesIn(k_open_cases),
                         [](const testing::TestParamInfo<OpenCase>& row) {
                           return std::string(row.param.name);
                         });

// Lists every mailbox with STATUS (UIDNEXT HIGHESTMODSEQ) on a server whose
// greeting names `capabilities`. The client must send `command`; the server
// reports HIGHESTMODSEQ 4711 for INBOX whether it was asked for or not.
std::vector<ListedMailbox> list_with_modseq(const std::string& capabilities,
                                            const std::string& command) {
  fakes::ScriptedClient<> s(
      {S("* OK [CAPABILITY " + capabilities + "] hi\r\n"), C(command),
       S("* LIST () \"/\" INBOX\r\n* STATUS INBOX (UIDNEXT 9 HIGHESTMODSEQ 4711)\r\n"
         "r1 OK done\r\n")});
  return s.client->list({"UIDNEXT", "HIGHESTMODSEQ"});
}

TEST(ClientList, HighestModSeqIsAskedForAndKeptOnlyWithCondstore) {
  // Cyrus with CONDSTORE off: the item is left out of the request, and a
  // value the server sends anyway is dropped.
  auto boxes =
      list_with_modseq("IMAP4rev1 LIST-STATUS", "r1 LIST \"\" \"*\" RETURN (STATUS (UIDNEXT))\r\n");
  ASSERT_EQ(boxes.size(), 1u);
  ASSERT_TRUE(boxes[0].status);
  EXPECT_EQ(boxes[0].status->uidnext, 9u);
  EXPECT_FALSE(boxes[0].status->highestmodseq);
}

TEST(ClientList, HighestModSeqWithCondstore) {
  auto boxes = list_with_modseq("IMAP4rev1 LIST-STATUS CONDSTORE",
                                "r1 LIST \"\" \"*\" RETURN (STATUS (UIDNEXT HIGHESTMODSEQ))\r\n");
  ASSERT_EQ(boxes.size(), 1u);
  ASSERT_TRUE(boxes[0].status);
  EXPECT_EQ(boxes[0].status->highestmodseq, std::optional<std::uint64_t>(4711));
}

// With the names of the folders known from the last run, their STATUS goes
// out as STATUS commands ahead of the LIST instead of as LIST-STATUS
// (Dovecot rescans a Maildir folder for LIST-STATUS, and for a STATUS after
// a LIST, but not for a STATUS before it). A folder
// deleted since gets NO, which is no failure: the folder just has no status.
TEST(ClientList, StatusOfKnownFoldersGoesBehindTheList) {
  fakes::ScriptedClient<> s(
      {S("* OK [CAPABILITY IMAP4rev1 LIST-STATUS SPECIAL-USE CONDSTORE NAMESPACE] hi\r\n"),
       C("r1 NAMESPACE\r\n"), C("r2 STATUS INBOX (UIDNEXT HIGHESTMODSEQ)\r\n"),
       C("r3 STATUS \"Old box\" (UIDNEXT HIGHESTMODSEQ)\r\n"),
       C("r4 LIST \"\" \"*\" RETURN (SPECIAL-USE)\r\n"),
       S("* NAMESPACE ((\"\" \"/\")) NIL NIL\r\nr1 OK done\r\n"
         "* STATUS INBOX (UIDNEXT 9 HIGHESTMODSEQ 4711)\r\nr2 OK done\r\n"
         "r3 NO [NONEXISTENT] no such mailbox\r\n"
         "* LIST () \"/\" INBOX\r\n* LIST () \"/\" New\r\nr4 OK done\r\n")});
  Client::Listing listing =
      s.client->list_with_namespaces({"UIDNEXT", "HIGHESTMODSEQ"}, true, {"INBOX", "Old box"});
  ASSERT_EQ(listing.mailboxes.size(), 2u);
  ASSERT_TRUE(listing.mailboxes[0].status);
  EXPECT_EQ(listing.mailboxes[0].status->uidnext, std::optional<std::uint64_t>(9));
  EXPECT_EQ(listing.mailboxes[0].status->highestmodseq, std::optional<std::uint64_t>(4711));
  EXPECT_FALSE(listing.mailboxes[1].status);
  ASSERT_TRUE(listing.namespaces);
  EXPECT_FALSE(listing.namespace_refused);
  EXPECT_TRUE(s.stream->finished());
  EXPECT_TRUE(s.client->usable());
}

// A LIST that fails still fails the listing when STATUS commands go with it.
TEST(ClientList, AFailedListFailsWithStatusCommandsBehindIt) {
  fakes::ScriptedClient<> s({S("* OK [CAPABILITY IMAP4rev1] hi\r\n"),
                             C("r1 STATUS INBOX (MESSAGES)\r\n"), C("r2 LIST \"\" \"*\"\r\n"),
                             S("* STATUS INBOX (MESSAGES 3)\r\nr1 OK done\r\n"
                               "r2 NO [UNAVAILABLE] try later\r\n")});
  EXPECT_THROW(s.client->list_with_namespaces({"MESSAGES"}, false, {"INBOX"}), CommandFailed);
  EXPECT_TRUE(s.stream->finished());
  EXPECT_TRUE(s.client->usable());
}

// statuses(): one pipelined STATUS per mailbox; HIGHESTMODSEQ only with
// CONDSTORE; a refused mailbox and a STATUS for one not asked for are left
// out.
TEST(ClientStatuses, PipelinedAndOnlyForTheMailboxesAskedFor) {
  fakes::ScriptedClient<> s(
      {S("* OK [CAPABILITY IMAP4rev1] hi\r\n"), C("r1 STATUS INBOX (MESSAGES UIDNEXT)\r\n"),
       C("r2 STATUS Gone (MESSAGES UIDNEXT)\r\n"),
       S("* STATUS INBOX (MESSAGES 3 UIDNEXT 9)\r\n* STATUS Other (MESSAGES 1 UIDNEXT 2)\r\n"
         "r1 OK done\r\nr2 NO no such mailbox\r\n")});
  auto out = s.client->statuses({"INBOX", "Gone"}, {"MESSAGES", "UIDNEXT", "HIGHESTMODSEQ"});
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out["INBOX"].messages, std::optional<std::uint64_t>(3));
  EXPECT_EQ(out["INBOX"].uidnext, std::optional<std::uint64_t>(9));
  EXPECT_TRUE(s.stream->finished());
  EXPECT_TRUE(s.client->usable());
}

// NAMESPACE (RFC 2342) is asked only of a server that offers it.
TEST(ClientNamespace, NothingIsSentWithoutTheCapability) {
  fakes::ScriptedClient<> s({S("* OK [CAPABILITY IMAP4rev1 UIDPLUS] hi\r\n")});
  EXPECT_EQ(s.client->namespaces(), std::nullopt);
  EXPECT_TRUE(s.stream->finished());
}

TEST(ClientNamespace, CourierReply) {
  fakes::ScriptedClient<> s(
      {S("* OK [CAPABILITY IMAP4rev1 UIDPLUS CHILDREN NAMESPACE] Courier-IMAP ready\r\n"),
       C("r1 NAMESPACE\r\n"),
       S("* NAMESPACE ((\"INBOX.\" \".\")) NIL ((\"#shared.\" \".\"))\r\n"
         "r1 OK NAMESPACE completed.\r\n")});
  std::optional<NamespaceData> reply = s.client->namespaces();
  ASSERT_TRUE(reply);
  ASSERT_EQ(reply->personal.size(), 1u);
  EXPECT_EQ(reply->personal[0], (Namespace{"INBOX.", '.'}));
  ASSERT_EQ(reply->shared.size(), 1u);
  EXPECT_EQ(reply->shared[0].prefix, "#shared.");
  EXPECT_TRUE(s.stream->finished());
}

TEST(ClientNamespace, OkWithoutDataIsAnEmptyReply) {
  fakes::ScriptedClient<> s({S("* OK [CAPABILITY IMAP4rev1 NAMESPACE] hi\r\n"),
                             C("r1 NAMESPACE\r\n"), S("r1 OK nothing to say\r\n")});
  EXPECT_EQ(s.client->namespaces(), NamespaceData{});
  EXPECT_TRUE(s.client->usable());
}

TEST(ClientNamespace, RefusalIsACommandFailureAndTheSessionGoesOn) {
  fakes::ScriptedClient<> s({S("* OK [CAPABILITY IMAP4rev1 NAMESPACE] hi\r\n"),
                             C("r1 NAMESPACE\r\n"), S("r1 BAD not today\r\n")});
  EXPECT_THROW(s.client->namespaces(), CommandFailed);
  EXPECT_TRUE(s.client->usable());
}

TEST(ClientNamespace, MalformedReplyBreaksTheConnectionWithAClearError) {
  fakes::ScriptedClient<> s({S("* OK [CAPABILITY IMAP4rev1 NAMESPACE] hi\r\n"),
                             C("r1 NAMESPACE\r\n"),
                             S("* NAMESPACE ((\"INBOX.\" \"..\")) NIL NIL\r\nr1 OK done\r\n")});
  try {
    s.client->namespaces();
    FAIL() << "a malformed NAMESPACE was accepted";
  } catch (const util::Error& e) {
    EXPECT_EQ(e.scope(), util::Scope::Account);
    EXPECT_NE(std::string(e.what()).find("expected a one-character delimiter"), std::string::npos)
        << e.what();
  }
  EXPECT_FALSE(s.client->usable());
}

}  // namespace
}  // namespace roam::imap
