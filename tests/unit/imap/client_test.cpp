// Transcript tests of the client's protocol flows: each test lists the exact
// bytes the client must write and what the server answers, and the scripted
// stream fails on the first difference.

#include "imap/client.hpp"

#include <gtest/gtest.h>

#include "fakes/scripted_stream.hpp"
#include "util/error.hpp"
#include "util/log.hpp"

namespace roam::imap {
namespace {

using fakes::C;
using fakes::S;
using fakes::Step;

const char* k_greeting = "* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=PLAIN CONDSTORE] ready\r\n";

struct Session {
  explicit Session(std::vector<Step> steps, std::size_t chunk = 0) {
    auto owned = std::make_unique<fakes::ScriptedStream>(std::move(steps), chunk);
    stream = owned.get();
    client = std::make_unique<Client>(std::move(owned));
  }
  fakes::ScriptedStream* stream;
  std::unique_ptr<Client> client;
};

class StringSink : public LiteralSink {
 public:
  void write(const char* data, std::size_t size) override { m_data.append(data, size); }
  std::string m_data;
};

TEST(Client, GreetingCapabilitiesAreUsedWithoutAskingAgain) {
  Session s({S(k_greeting)});
  EXPECT_FALSE(s.client->read_greeting());
  EXPECT_TRUE(s.client->capabilities().has("condstore"));
  EXPECT_TRUE(s.stream->finished());
}

TEST(Client, ByeGreetingIsAnAccountError) {
  Session s({S("* BYE too many connections\r\n")});
  try {
    s.client->read_greeting();
    FAIL() << "no error";
  } catch (const util::Error& e) {
    EXPECT_EQ(e.scope(), util::Scope::Account);
    EXPECT_NE(std::string(e.what()).find("too many connections"), std::string::npos);
  }
}

TEST(Client, AutoAuthenticationUsesPlainWithInitialResponse) {
  // base64("\0alice\0secret")
  Session s({S(k_greeting), C("r1 AUTHENTICATE PLAIN AGFsaWNlAHNlY3JldA==\r\n"),
             S("r1 OK [CAPABILITY IMAP4rev1 CONDSTORE ENABLE] Logged in\r\n")});
  s.client->read_greeting();
  s.client->authenticate(AuthMechanism::Auto, "alice", std::string("secret"), "", 0);
  EXPECT_TRUE(s.client->capabilities().has("ENABLE"));
  EXPECT_TRUE(s.stream->finished());
}

TEST(Client, AutoAuthenticationFallsBackToLoginCommandWithQuoting) {
  Session s({S("* OK [CAPABILITY IMAP4rev1] hi\r\n"), C("r1 LOGIN alice \"p w\\\"d\"\r\n"),
             S("r1 OK done\r\n")});
  s.client->read_greeting();
  s.client->authenticate(AuthMechanism::Auto, "alice", std::string("p w\"d"), "", 0);
  EXPECT_TRUE(s.stream->finished());
}

TEST(Client, RejectedLoginNamesTheServerAnswer) {
  Session s({S(k_greeting), C("r1 AUTHENTICATE PLAIN AGFsaWNlAHdyb25n\r\n"),
             S("r1 NO [AUTHENTICATIONFAILED] Authentication failed.\r\n")});
  s.client->read_greeting();
  try {
    s.client->authenticate(AuthMechanism::Auto, "alice", std::string("wrong"), "", 0);
    FAIL() << "no error";
  } catch (const CommandFailed& e) {
    EXPECT_NE(std::string(e.what()).find("AUTHENTICATIONFAILED"), std::string::npos);
    EXPECT_EQ(std::string(e.what()).find("wrong"), std::string::npos);
  }
}

TEST(Client, TheDebugTraceNeverShowsCredentials) {
  testing::internal::CaptureStderr();
  util::set_debug_categories(util::k_cat_all);
  {
    Session s({S("* OK [CAPABILITY IMAP4rev1] hi\r\n"), C("r1 LOGIN alice s3cr3t\r\n"),
               S("r1 OK done\r\n")});
    s.client->read_greeting();
    s.client->authenticate(AuthMechanism::Auto, "alice", std::string("s3cr3t"), "", 0);
  }
  util::set_debug_categories(0);
  std::string trace = testing::internal::GetCapturedStderr();
  EXPECT_NE(trace.find("LOGIN <redacted>"), std::string::npos);
  EXPECT_EQ(trace.find("s3cr3t"), std::string::npos);
}

TEST(Client, ListAsksForSpecialUseAndStatusWhenOffered) {
  Session s({S("* OK [CAPABILITY IMAP4rev1 SPECIAL-USE LIST-STATUS] hi\r\n"),
             C("r1 LIST \"\" \"*\" RETURN (SPECIAL-USE STATUS (MESSAGES UIDNEXT))\r\n"),
             S("* LIST (\\HasNoChildren) \"/\" INBOX\r\n"
               "* STATUS INBOX (MESSAGES 3 UIDNEXT 9)\r\n"
               "* LIST (\\Sent) \"/\" {4}\r\nSent\r\n"
               "r1 OK done\r\n")});
  s.client->read_greeting();
  auto boxes = s.client->list({"MESSAGES", "UIDNEXT"});
  ASSERT_EQ(boxes.size(), 2u);
  EXPECT_EQ(boxes[0].list.mailbox, "INBOX");
  ASSERT_TRUE(boxes[0].status);
  EXPECT_EQ(boxes[0].status->uidnext, 9u);
  EXPECT_EQ(boxes[1].list.mailbox, "Sent");
  EXPECT_FALSE(boxes[1].status);
}

TEST(Client, ExamineCollectsMailboxInfo) {
  Session s({S(k_greeting), C("r1 EXAMINE INBOX (CONDSTORE)\r\n"),
             S("* FLAGS (\\Seen \\Answered)\r\n* 4 EXISTS\r\n"
               "* OK [UIDVALIDITY 1700000000] ok\r\n* OK [UIDNEXT 12] ok\r\n"
               "* OK [HIGHESTMODSEQ 9000000000] ok\r\n"
               "r1 OK [READ-ONLY] Examine completed\r\n")});
  s.client->read_greeting();
  MailboxInfo info = s.client->open("INBOX", OpenMode::Examine);
  EXPECT_EQ(info.uidvalidity, 1700000000u);
  EXPECT_EQ(info.uidnext, 12u);
  EXPECT_EQ(info.exists, 4u);
  EXPECT_EQ(info.highestmodseq, 9000000000u);
  EXPECT_TRUE(info.read_only);
}

TEST(Client, OpenWithoutUidValidityIsRefused) {
  Session s(
      {S(k_greeting), C("r1 EXAMINE INBOX (CONDSTORE)\r\n"), S("* 1 EXISTS\r\nr1 OK done\r\n")});
  s.client->read_greeting();
  EXPECT_THROW(s.client->open("INBOX", OpenMode::Examine), util::Error);
}

TEST(Client, FetchFlagsKeepsTheLatestReportPerUid) {
  Session s({S(k_greeting), C("r1 EXAMINE INBOX (CONDSTORE)\r\n"),
             S("* 2 EXISTS\r\n* OK [UIDVALIDITY 5] ok\r\nr1 OK done\r\n"),
             C("r2 UID FETCH 1:* (UID FLAGS)\r\n"),
             S("* 2 FETCH (UID 9 FLAGS ())\r\n* 1 FETCH (UID 4 FLAGS (\\Seen))\r\n"
               "* 2 FETCH (UID 9 FLAGS (\\Flagged))\r\nr2 OK done\r\n")});
  s.client->read_greeting();
  s.client->open("INBOX", OpenMode::Examine);
  auto flags = s.client->fetch_flags();
  ASSERT_EQ(flags.size(), 2u);
  EXPECT_EQ(flags[0].uid, 4u);
  EXPECT_EQ(flags[1].uid, 9u);
  EXPECT_EQ(flags[1].flags, std::vector<std::string>{"\\Flagged"});
}

// The steps up to an EXAMINE of INBOX with 4 messages and HIGHESTMODSEQ 20,
// the server offering `caps` besides CONDSTORE.
std::vector<Step> examined_with_modseq(const std::string& caps) {
  return {S("* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=PLAIN CONDSTORE" + caps + "] ready\r\n"),
          C("r1 EXAMINE INBOX (CONDSTORE)\r\n"),
          S("* 4 EXISTS\r\n* OK [UIDVALIDITY 5] ok\r\n* OK [UIDNEXT 12] ok\r\n"
            "* OK [HIGHESTMODSEQ 20] ok\r\nr1 OK [READ-ONLY] done\r\n")};
}

std::vector<Step> with(std::vector<Step> steps, const std::vector<Step>& more) {
  steps.insert(steps.end(), more.begin(), more.end());
  return steps;
}

TEST(Client, ListChangesPipelinesAChangedSinceFetchAndAnExtendedSearch) {
  Session s(with(examined_with_modseq(" ESEARCH"),
                 {C("r2 UID FETCH 1:* (UID FLAGS) (CHANGEDSINCE 17)\r\n"),
                  C("r3 UID SEARCH RETURN (ALL) ALL\r\n"),
                  S("* 3 FETCH (UID 9 FLAGS (\\Seen) MODSEQ (19))\r\n"
                    "* 1 FETCH (UID 2 FLAGS () MODSEQ (18))\r\nr2 OK done\r\n"
                    "* ESEARCH (TAG \"r3\") UID ALL 2:3,9,11\r\nr3 OK done\r\n")}));
  s.client->read_greeting();
  s.client->open("INBOX", OpenMode::Examine);
  auto changes = s.client->list_changes(17);
  ASSERT_TRUE(changes.has_value());
  EXPECT_EQ(changes->uids, (std::vector<Uid>{2, 3, 9, 11}));
  ASSERT_EQ(changes->changed.size(), 2u);
  EXPECT_EQ(changes->changed[0].uid, 2u);
  EXPECT_EQ(changes->changed[0].modseq, 18u);
  EXPECT_EQ(changes->changed[1].uid, 9u);
  EXPECT_EQ(changes->changed[1].flags, std::vector<std::string>{"\\Seen"});
  EXPECT_TRUE(s.stream->finished());
}

TEST(Client, ListChangesUsesAPlainSearchWithoutEsearch) {
  Session s(
      with(examined_with_modseq(""),
           {C("r2 UID FETCH 1:* (UID FLAGS) (CHANGEDSINCE 20)\r\n"), C("r3 UID SEARCH ALL\r\n"),
            S("r2 OK done\r\n* SEARCH 11 3 9 2\r\nr3 OK done\r\n")}));
  s.client->read_greeting();
  s.client->open("INBOX", OpenMode::Examine);
  auto changes = s.client->list_changes(20);
  ASSERT_TRUE(changes.has_value());
  EXPECT_EQ(changes->uids, (std::vector<Uid>{2, 3, 9, 11}));
  EXPECT_TRUE(changes->changed.empty());
}

TEST(Client, ListChangesReadsAnExtendedSearchWithoutAllAsNoMessage) {
  // RFC 4731 §3.1: no ALL when nothing matched (every message was expunged
  // since the EXAMINE).
  Session s(with(examined_with_modseq(" ESEARCH"),
                 {C("r2 UID FETCH 1:* (UID FLAGS) (CHANGEDSINCE 20)\r\n"),
                  C("r3 UID SEARCH RETURN (ALL) ALL\r\n"),
                  S("* 4 EXPUNGE\r\n* 3 EXPUNGE\r\n* 2 EXPUNGE\r\n* 1 EXPUNGE\r\nr2 OK done\r\n"
                    "* ESEARCH (TAG \"r3\") UID\r\nr3 OK done\r\n")}));
  s.client->read_greeting();
  s.client->open("INBOX", OpenMode::Examine);
  auto changes = s.client->list_changes(20);
  ASSERT_TRUE(changes.has_value());
  EXPECT_TRUE(changes->uids.empty());
}

TEST(Client, ListChangesSendsNothingWithoutModSequences) {
  Session s({S(k_greeting), C("r1 EXAMINE INBOX (CONDSTORE)\r\n"),
             S("* 4 EXISTS\r\n* OK [UIDVALIDITY 5] ok\r\n* OK [NOMODSEQ] no\r\nr1 OK done\r\n")});
  s.client->read_greeting();
  s.client->open("INBOX", OpenMode::Examine);
  EXPECT_FALSE(s.client->list_changes(20).has_value());
  EXPECT_TRUE(s.stream->finished());
}

// Answers that cannot be a list of the mailbox's UIDs leave the caller to
// list every message, over a connection still in step.
TEST(Client, ListChangesGivesUpOnASearchAnswerItCannotUse) {
  struct Case {
    std::string caps, search, answer;
  };
  const std::vector<Case> cases = {
      {" ESEARCH", "UID SEARCH RETURN (ALL) ALL",
       "* ESEARCH (TAG \"r3\") UID ALL 1:4294967295\r\n"},
      {" ESEARCH", "UID SEARCH RETURN (ALL) ALL", ""},
      {" ESEARCH", "UID SEARCH RETURN (ALL) ALL", "* ESEARCH (TAG \"r3\") ALL 1:4\r\n"},
      {"", "UID SEARCH ALL", ""},
  };
  for (const auto& c : cases) {
    Session s(with(examined_with_modseq(c.caps),
                   {C("r2 UID FETCH 1:* (UID FLAGS) (CHANGEDSINCE 20)\r\n"),
                    C("r3 " + c.search + "\r\n"), S("r2 OK done\r\n" + c.answer + "r3 OK done\r\n"),
                    C("r4 UID FETCH 2 (UID FLAGS MODSEQ)\r\n"), S("r4 OK done\r\n")}));
    s.client->read_greeting();
    s.client->open("INBOX", OpenMode::Examine);
    EXPECT_FALSE(s.client->list_changes(20).has_value()) << c.answer;
    EXPECT_TRUE(s.client->fetch_flags_for({2}).empty()) << c.answer;
    EXPECT_TRUE(s.stream->finished()) << c.answer;
  }
}

TEST(Client, OpenPipelinesThePrefetchBehindTheSelect) {
  Session s({S("* OK [CAPABILITY IMAP4rev1 CONDSTORE ESEARCH] ready\r\n"),
             C("r1 SELECT INBOX (CONDSTORE)\r\n"),
             C("r2 UID FETCH 1:* (UID FLAGS) (CHANGEDSINCE 17)\r\n"),
             C("r3 UID SEARCH RETURN (ALL) ALL\r\n"),
             C("r4 UID FETCH 12:* (UID FLAGS RFC822.SIZE BODY.PEEK[HEADER])\r\n"),
             S("* 4 EXISTS\r\n* OK [UIDVALIDITY 5] ok\r\n* OK [UIDNEXT 14] ok\r\n"
               "* OK [HIGHESTMODSEQ 20] ok\r\nr1 OK [READ-WRITE] done\r\n"
               "* 3 FETCH (UID 12 FLAGS () MODSEQ (19))\r\n"
               // Dovecot's order: the ESEARCH before the FETCH's tagged OK.
               "* 2 FETCH (UID 3 FLAGS (\\Seen) MODSEQ (18))\r\n"
               "* ESEARCH (TAG \"r3\") UID ALL 2:3,12:13\r\nr2 OK done\r\nr3 OK done\r\n"
               "* 3 FETCH (UID 12 FLAGS () RFC822.SIZE 30 BODY[HEADER] {9}\r\nSubject:a)\r\n"
               "* 4 FETCH (UID 13 FLAGS () RFC822.SIZE 31 BODY[HEADER] {9}\r\nSubject:b)\r\n"
               "r4 OK done\r\n"),
             // Only the header not prefetched is asked for.
             C("r5 UID FETCH 2 (UID FLAGS RFC822.SIZE BODY.PEEK[HEADER])\r\n"),
             S("* 1 FETCH (UID 2 FLAGS () RFC822.SIZE 32 BODY[HEADER] {9}\r\nSubject:c)\r\n"
               "r5 OK done\r\n")});
  s.client->read_greeting();
  MailboxInfo info = s.client->open("INBOX", OpenMode::Select, OpenPrefetch{17, 12});
  EXPECT_EQ(info.highestmodseq, 20u);
  auto changes = s.client->list_changes(17);  // Nothing is sent.
  ASSERT_TRUE(changes.has_value());
  EXPECT_EQ(changes->uids, (std::vector<Uid>{2, 3, 12, 13}));
  ASSERT_EQ(changes->changed.size(), 2u);
  EXPECT_EQ(changes->changed[0].uid, 3u);
  EXPECT_EQ(changes->changed[1].uid, 12u);
  auto headers = s.client->fetch_headers({13, 2, 12});
  ASSERT_EQ(headers.size(), 3u);
  EXPECT_EQ(headers[0].header, "Subject:c");
  EXPECT_EQ(headers[1].uid, 12u);
  EXPECT_EQ(headers[1].rfc822_size, 30u);
  EXPECT_EQ(headers[2].header, "Subject:b");
  EXPECT_TRUE(s.stream->finished());
}

TEST(Client, AFailedSelectFailsOpenAfterThePrefetchAnswers) {
  Session s({S("* OK [CAPABILITY IMAP4rev1 CONDSTORE ESEARCH] ready\r\n"),
             C("r1 SELECT Gone (CONDSTORE)\r\n"),
             C("r2 UID FETCH 1:* (UID FLAGS) (CHANGEDSINCE 17)\r\n"),
             C("r3 UID SEARCH RETURN (ALL) ALL\r\n"),
             S("r1 NO [NONEXISTENT] no such mailbox\r\nr2 BAD no mailbox selected\r\n"
               "r3 BAD no mailbox selected\r\n"),
             C("r4 NOOP\r\n"), S("r4 OK done\r\n")});
  s.client->read_greeting();
  EXPECT_THROW(s.client->open("Gone", OpenMode::Select, OpenPrefetch{17, 0}), CommandFailed);
  s.client->run("NOOP");  // In step: every answer was read.
  EXPECT_TRUE(s.stream->finished());
}

TEST(Client, APrefetchOfAMailboxWithoutModSequencesIsDropped) {
  Session s({S("* OK [CAPABILITY IMAP4rev1 CONDSTORE ESEARCH] ready\r\n"),
             C("r1 SELECT INBOX (CONDSTORE)\r\n"),
             C("r2 UID FETCH 1:* (UID FLAGS) (CHANGEDSINCE 17)\r\n"),
             C("r3 UID SEARCH RETURN (ALL) ALL\r\n"),
             S("* 1 EXISTS\r\n* OK [UIDVALIDITY 5] ok\r\n* OK [NOMODSEQ] no\r\nr1 OK done\r\n"
               "r2 BAD CHANGEDSINCE needs mod-sequences\r\n"
               "* ESEARCH (TAG \"r3\") UID ALL 4\r\nr3 OK done\r\n")});
  s.client->read_greeting();
  MailboxInfo info = s.client->open("INBOX", OpenMode::Select, OpenPrefetch{17, 0});
  EXPECT_EQ(info.highestmodseq, 0u);
  EXPECT_FALSE(s.client->list_changes(17).has_value());
  EXPECT_TRUE(s.stream->finished());
}

TEST(Client, ChangesAreNotPrefetchedWithoutEsearch) {
  // A plain SEARCH answers on one line whose length the mailbox's size
  // decides, which is known only once the SELECT is answered.
  Session s({S(k_greeting), C("r1 SELECT INBOX (CONDSTORE)\r\n"),
             S("* 1 EXISTS\r\n* OK [UIDVALIDITY 5] ok\r\n* OK [HIGHESTMODSEQ 20] ok\r\n"
               "r1 OK done\r\n")});
  s.client->read_greeting();
  s.client->open("INBOX", OpenMode::Select, OpenPrefetch{17, 0});
  EXPECT_TRUE(s.stream->finished());
}

TEST(Client, FetchBodiesPipelinesAndStreamsEachBody) {
  ClientOptions options;
  options.fetch_batch = 1;
  options.pipeline_depth = 2;
  auto stream = std::make_unique<fakes::ScriptedStream>(std::vector<Step>{
      S(k_greeting), C("r1 UID FETCH 3 (UID FLAGS INTERNALDATE BODY.PEEK[])\r\n"),
      C("r2 UID FETCH 5 (UID FLAGS INTERNALDATE BODY.PEEK[])\r\n"),
      S("* 1 FETCH (UID 3 FLAGS () INTERNALDATE \"01-Jan-2024 10:00:00 +0000\" BODY[] {6}\r\n"
        "a\r\nb\r\n)\r\nr1 OK done\r\n"),
      C("r3 UID FETCH 8 (UID FLAGS INTERNALDATE BODY.PEEK[])\r\n"),
      S("* 2 FETCH (BODY[] {3}\r\nxyz UID 5)\r\nr2 OK done\r\n"),
      // UID 8 was expunged meanwhile: no FETCH, just the completion.
      S("r3 OK done\r\n")});
  fakes::ScriptedStream* raw = stream.get();
  Client client(std::move(stream), options);
  client.read_greeting();
  std::vector<std::unique_ptr<StringSink>> sinks;
  std::vector<std::pair<Uid, std::string>> bodies;
  int batches = 0;
  client.fetch_bodies(
      {3, 5, 8},
      [&]() -> LiteralSink* {
        sinks.push_back(std::make_unique<StringSink>());
        return sinks.back().get();
      },
      [&](const FetchData& f) { bodies.emplace_back(*f.uid, sinks.back()->m_data); },
      [&]() { ++batches; });
  ASSERT_EQ(bodies.size(), 2u);
  EXPECT_EQ(bodies[0], std::make_pair(Uid{3}, std::string("a\r\nb\r\n")));
  EXPECT_EQ(bodies[1], std::make_pair(Uid{5}, std::string("xyz")));
  EXPECT_EQ(batches, 3);
  EXPECT_TRUE(raw->finished());
}

TEST(Client, StartTlsRefusesDataInjectedAfterTheOk) {
  Session s({S("* OK [CAPABILITY IMAP4rev1 STARTTLS] hi\r\n"), C("r1 STARTTLS\r\n"),
             S("r1 OK begin TLS\r\n* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] injected\r\n")});
  s.client->read_greeting();
  try {
    s.client->starttls({});
    FAIL() << "no error";
  } catch (const util::Error& e) {
    EXPECT_NE(std::string(e.what()).find("injection"), std::string::npos);
  }
  EXPECT_EQ(s.stream->tls_starts(), 0);
}

TEST(Client, StartTlsNeverFallsBackWhenRefused) {
  Session s({S("* OK [CAPABILITY IMAP4rev1 STARTTLS] hi\r\n"), C("r1 STARTTLS\r\n"),
             S("r1 NO not now\r\n")});
  s.client->read_greeting();
  EXPECT_THROW(s.client->starttls({}), util::Error);
  EXPECT_EQ(s.stream->tls_starts(), 0);
}

TEST(Client, StartTlsRequiresTheCapability) {
  Session s({S("* OK [CAPABILITY IMAP4rev1] hi\r\n")});
  s.client->read_greeting();
  EXPECT_THROW(s.client->starttls({}), util::Error);
  EXPECT_TRUE(s.stream->finished());
}

TEST(Client, StartTlsForgetsPlaintextCapabilities) {
  Session s({S("* OK [CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED] hi\r\n"), C("r1 STARTTLS\r\n"),
             S("r1 OK begin TLS\r\n"), C("r2 CAPABILITY\r\n"),
             S("* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\nr2 OK done\r\n")});
  s.client->read_greeting();
  s.client->starttls({});
  EXPECT_EQ(s.stream->tls_starts(), 1);
  EXPECT_FALSE(s.client->capabilities().has("LOGINDISABLED"));
  EXPECT_TRUE(s.client->capabilities().has("AUTH=PLAIN"));
}

TEST(Client, UnparsableResponseEndsTheSession) {
  Session s({S("* OK [CAPABILITY IMAP4rev1] hi\r\n"), C("r1 NOOP\r\n"), S("* 1 FETCH (UID\r\n")});
  s.client->read_greeting();
  try {
    s.client->run("NOOP");
    FAIL() << "no error";
  } catch (const util::Error& e) {
    EXPECT_EQ(e.scope(), util::Scope::Account);
  }
}

TEST(AnnouncesBody, OnlyWholeBodySections) {
  EXPECT_TRUE(announces_body("* 1 FETCH (UID 3 BODY[] {12}"));
  EXPECT_TRUE(announces_body("* 1 FETCH (BINARY[] ~{12}"));
  EXPECT_FALSE(announces_body("* 1 FETCH (BODY[HEADER] {12}"));
  EXPECT_FALSE(announces_body("* LIST () \"/\" {4}"));
}

}  // namespace
}  // namespace roam::imap
