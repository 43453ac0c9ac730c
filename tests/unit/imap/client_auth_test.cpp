// Transcript tests of Client::authenticate: every mechanism's success, its
// failure (for the OAuth mechanisms, with the JSON error challenge that has
// to be answered before the tagged NO comes), and a server that does not
// offer it. The expected base64 strings were computed independently
// (Python's base64 module), so a wrong SASL message cannot pass for a right
// one by sharing the client's encoder.

#include <gtest/gtest.h>

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

using Session = fakes::ScriptedClient<>;

// base64("user=alice@example.org\x01auth=Bearer ya29.tok\x01\x01")
const char* k_xoauth2 = "dXNlcj1hbGljZUBleGFtcGxlLm9yZwFhdXRoPUJlYXJlciB5YTI5LnRvawEB";
// base64("n,a=alice@example.org,\x01host=imap.example.org\x01port=993\x01"
//        "auth=Bearer ya29.tok\x01\x01")
const char* k_oauthbearer =
    "bixhPWFsaWNlQGV4YW1wbGUub3JnLAFob3N0PWltYXAuZXhhbXBsZS5vcmcBcG9ydD05OTMBYXV0aD1CZWFyZXIgeWEy"
    "OS50b2sBAQ==";
// base64({"status":"401","schemes":"Bearer","scope":"https://mail.google.com/"})
const char* k_google_error =
    "eyJzdGF0dXMiOiI0MDEiLCJzY2hlbWVzIjoiQmVhcmVyIiwic2NvcGUiOiJodHRwczovL21haWwuZ29vZ2xlLmNvbS8i"
    "fQ==";
// base64({"status":"invalid_token","scope":"x","openid-configuration":...})
const char* k_rfc7628_error =
    "eyJzdGF0dXMiOiJpbnZhbGlkX3Rva2VuIiwic2NvcGUiOiJ4Iiwib3BlbmlkLWNvbmZpZ3VyYXRpb24iOiJodHRwczov"
    "L2UvLndlbGwta25vd24ifQ==";

const std::string k_host = "imap.example.org";

std::string message_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const util::Error& e) {
    EXPECT_EQ(e.scope(), util::Scope::Account) << e.what();
    return e.what();
  }
  ADD_FAILURE() << "no error";
  return {};
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// --- XOAUTH2 ---

TEST(ClientAuth, XOAuth2WithInitialResponse) {
  Session s({S("* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=XOAUTH2 AUTH=PLAIN] hi\r\n"),
             C(std::string("r1 AUTHENTICATE XOAUTH2 ") + k_xoauth2 + "\r\n"),
             S("r1 OK [CAPABILITY IMAP4rev1 ENABLE] Thats all she wrote!\r\n")});
  s.client->authenticate(AuthMechanism::XOAuth2, "alice@example.org", "ya29.tok", k_host, 993);
  EXPECT_TRUE(s.client->capabilities().has("ENABLE"));
  EXPECT_TRUE(s.stream->finished());
}

TEST(ClientAuth, XOAuth2WithoutInitialResponseAnswersThePlus) {
  Session s({S("* OK [CAPABILITY IMAP4rev1 AUTH=XOAUTH2] hi\r\n"), C("r1 AUTHENTICATE XOAUTH2\r\n"),
             S("+ \r\n"), C(std::string(k_xoauth2) + "\r\n"), S("r1 OK done\r\n")});
  s.client->authenticate(AuthMechanism::XOAuth2, "alice@example.org", "ya29.tok", k_host, 993);
  EXPECT_TRUE(s.stream->finished());
}

TEST(ClientAuth, XOAuth2FailureAnswersTheChallengeAndReportsItsStatus) {
  Session s({S("* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=XOAUTH2] hi\r\n"),
             C(std::string("r1 AUTHENTICATE XOAUTH2 ") + k_xoauth2 + "\r\n"),
             S(std::string("+ ") + k_google_error + "\r\n"),
             // The empty response that asks for the final answer.
             C("\r\n"), S("r1 NO [AUTHENTICATIONFAILED] Invalid credentials (Failure)\r\n")});
  std::string what = message_of([&] {
    s.client->authenticate(AuthMechanism::XOAuth2, "alice@example.org", "ya29.tok", k_host, 993);
  });
  EXPECT_TRUE(contains(what,
                       "authentication with XOAUTH2 failed: NO [AUTHENTICATIONFAILED] "
                       "Invalid credentials"))
      << what;
  EXPECT_TRUE(contains(what, "OAuth status 401")) << what;
  EXPECT_FALSE(contains(what, "ya29")) << what;
  EXPECT_TRUE(s.stream->finished());
}

TEST(ClientAuth, XOAuth2NotOfferedIsRefusedBeforeTheTokenIsFetched) {
  Session s({S("* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=PLAIN AUTH=LOGIN] hi\r\n")});
  bool fetched = false;
  std::string what = message_of([&] {
    s.client->authenticate(
        AuthMechanism::XOAuth2, "alice",
        [&] {
          fetched = true;
          return std::string("tok");
        },
        k_host, 993);
  });
  EXPECT_FALSE(fetched);
  EXPECT_TRUE(contains(what, "does not offer AUTHENTICATE XOAUTH2")) << what;
  EXPECT_TRUE(contains(what, "AUTHENTICATE LOGIN PLAIN, and the LOGIN command")) << what;
  // Nothing was sent: no silent fallback to PLAIN or LOGIN.
  EXPECT_EQ(s.stream->written(), "");
}

TEST(ClientAuth, ATokenWithSpacesIsRefusedWithoutShowingIt) {
  Session s({S("* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=XOAUTH2] hi\r\n")});
  std::string what = message_of([&] {
    s.client->authenticate(AuthMechanism::XOAuth2, "alice", "Enter passphrase: x", k_host, 993);
  });
  EXPECT_TRUE(contains(what, "pass_cmd prints only the token")) << what;
  EXPECT_FALSE(contains(what, "passphrase")) << what;
  EXPECT_EQ(s.stream->written(), "");
}

// --- OAUTHBEARER (RFC 7628) ---

TEST(ClientAuth, OAuthBearerWithInitialResponse) {
  Session s({S("* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=OAUTHBEARER] hi\r\n"),
             C(std::string("r1 AUTHENTICATE OAUTHBEARER ") + k_oauthbearer + "\r\n"),
             S("r1 OK Welcome\r\n")});
  s.client->authenticate(AuthMechanism::OAuthBearer, "alice@example.org", "ya29.tok", k_host, 993);
  EXPECT_TRUE(s.stream->finished());
}

TEST(ClientAuth, OAuthBearerEscapesTheUserAndLeavesOutAnUnknownHost) {
  // base64("n,a=a=3Db=2Cc,\x01auth=Bearer tok\x01\x01"): RFC 5801 §4.
  Session s({S("* OK [CAPABILITY IMAP4rev1 AUTH=OAUTHBEARER] hi\r\n"),
             C("r1 AUTHENTICATE OAUTHBEARER\r\n"), S("+ \r\n"),
             C("bixhPWE9M0RiPTJDYywBYXV0aD1CZWFyZXIgdG9rAQE=\r\n"), S("r1 OK Welcome\r\n")});
  s.client->authenticate(AuthMechanism::OAuthBearer, "a=b,c", "tok", "", 0);
  EXPECT_TRUE(s.stream->finished());
}

TEST(ClientAuth, OAuthBearerFailureAnswersWithControlA) {
  Session s({S("* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=OAUTHBEARER] hi\r\n"),
             C(std::string("r1 AUTHENTICATE OAUTHBEARER ") + k_oauthbearer + "\r\n"),
             S(std::string("+ ") + k_rfc7628_error + "\r\n"),
             // base64("\x01"), RFC 7628 §3.2.3.
             C("AQ==\r\n"), S("r1 NO [AUTHENTICATIONFAILED] token expired\r\n")});
  std::string what = message_of([&] {
    s.client->authenticate(AuthMechanism::OAuthBearer, "alice@example.org", "ya29.tok", k_host,
                           993);
  });
  EXPECT_TRUE(contains(what,
                       "authentication with OAUTHBEARER failed: NO [AUTHENTICATIONFAILED] "
                       "token expired (OAuth status invalid_token)"))
      << what;
  EXPECT_TRUE(s.stream->finished());
}

TEST(ClientAuth, OAuthBearerNotOfferedNamesWhatIs) {
  Session s({S("* OK [CAPABILITY IMAP4rev1 LOGINDISABLED AUTH=XOAUTH2] hi\r\n")});
  std::string what = message_of(
      [&] { s.client->authenticate(AuthMechanism::OAuthBearer, "alice", "tok", k_host, 993); });
  EXPECT_TRUE(contains(what, "does not offer AUTHENTICATE OAUTHBEARER")) << what;
  EXPECT_TRUE(contains(what, "AUTHENTICATE XOAUTH2, and LOGIN is disabled")) << what;
  EXPECT_EQ(s.stream->written(), "");
}

TEST(ClientAuth, ASecondChallengeEndsTheConnection) {
  Session s({S("* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=OAUTHBEARER] hi\r\n"),
             C(std::string("r1 AUTHENTICATE OAUTHBEARER ") + k_oauthbearer + "\r\n"),
             S(std::string("+ ") + k_rfc7628_error + "\r\n"), C("AQ==\r\n"), S("+ again\r\n")});
  std::string what = message_of([&] {
    s.client->authenticate(AuthMechanism::OAuthBearer, "alice@example.org", "ya29.tok", k_host,
                           993);
  });
  EXPECT_TRUE(contains(what, "second challenge")) << what;
}

// --- PLAIN and LOGIN ---

TEST(ClientAuth, PlainWithoutInitialResponse) {
  // base64("\0alice\0secret")
  Session s({S("* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] hi\r\n"), C("r1 AUTHENTICATE PLAIN\r\n"),
             S("+ \r\n"), C("AGFsaWNlAHNlY3JldA==\r\n"), S("r1 OK done\r\n")});
  s.client->authenticate(AuthMechanism::Plain, "alice", "secret", k_host, 993);
  EXPECT_TRUE(s.stream->finished());
}

TEST(ClientAuth, PlainFailureIsAnAccountErrorNamingTheMechanism) {
  Session s({S("* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=PLAIN] hi\r\n"),
             C("r1 AUTHENTICATE PLAIN AGFsaWNlAHNlY3JldA==\r\n"),
             S("r1 NO [AUTHENTICATIONFAILED] Authentication failed.\r\n")});
  std::string what = message_of(
      [&] { s.client->authenticate(AuthMechanism::Plain, "alice", "secret", k_host, 993); });
  EXPECT_EQ(what,
            "authentication with PLAIN failed: NO [AUTHENTICATIONFAILED] Authentication "
            "failed.");
}

TEST(ClientAuth, PlainChallengeAfterCredentialsIsCancelled) {
  // PLAIN has no second step; "*" cancels (RFC 3501 §6.2.2).
  Session s({S("* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=PLAIN] hi\r\n"),
             C("r1 AUTHENTICATE PLAIN AGFsaWNlAHNlY3JldA==\r\n"), S("+ what?\r\n"), C("*\r\n"),
             S("r1 BAD cancelled\r\n")});
  std::string what = message_of(
      [&] { s.client->authenticate(AuthMechanism::Plain, "alice", "secret", k_host, 993); });
  EXPECT_TRUE(contains(what, "authentication with PLAIN failed: BAD cancelled")) << what;
  EXPECT_TRUE(s.stream->finished());
}

TEST(ClientAuth, PlainNotOfferedNeverFallsBackToLogin) {
  Session s({S("* OK [CAPABILITY IMAP4rev1] hi\r\n")});
  std::string what = message_of(
      [&] { s.client->authenticate(AuthMechanism::Plain, "alice", "secret", k_host, 993); });
  EXPECT_TRUE(contains(what, "does not offer AUTHENTICATE PLAIN")) << what;
  EXPECT_TRUE(contains(what, "no AUTHENTICATE mechanism, and the LOGIN command")) << what;
  EXPECT_EQ(s.stream->written(), "");
}

TEST(ClientAuth, LoginIsUsedWhenConfiguredEvenWithPlainOffered) {
  Session s({S("* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=PLAIN] hi\r\n"),
             C("r1 LOGIN alice secret\r\n"), S("r1 OK done\r\n")});
  s.client->authenticate(AuthMechanism::Login, "alice", "secret", k_host, 993);
  EXPECT_TRUE(s.stream->finished());
}

TEST(ClientAuth, LoginFailureIsAnAccountErrorNamingTheMechanism) {
  Session s({S("* OK [CAPABILITY IMAP4rev1] hi\r\n"), C("r1 LOGIN alice secret\r\n"),
             S("r1 NO [AUTHENTICATIONFAILED] nope\r\n")});
  std::string what = message_of(
      [&] { s.client->authenticate(AuthMechanism::Login, "alice", "secret", k_host, 993); });
  EXPECT_EQ(what, "authentication with LOGIN failed: NO [AUTHENTICATIONFAILED] nope");
}

TEST(ClientAuth, LoginDisabledIsRefused) {
  Session s({S("* OK [CAPABILITY IMAP4rev1 LOGINDISABLED AUTH=PLAIN] hi\r\n")});
  std::string what = message_of(
      [&] { s.client->authenticate(AuthMechanism::Login, "alice", "secret", k_host, 993); });
  EXPECT_TRUE(contains(what, "does not offer the LOGIN command")) << what;
  EXPECT_TRUE(contains(what, "AUTHENTICATE PLAIN")) << what;
  EXPECT_EQ(s.stream->written(), "");
}

TEST(ClientAuth, AutoNeverChoosesOAuth) {
  // Only OAuth and LOGIN are offered: Auto must use LOGIN, since the secret
  // is a password.
  Session s({S("* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=XOAUTH2 AUTH=OAUTHBEARER] hi\r\n"),
             C("r1 LOGIN alice secret\r\n"), S("r1 OK done\r\n")});
  s.client->authenticate(AuthMechanism::Auto, "alice", "secret", k_host, 993);
  EXPECT_TRUE(s.stream->finished());
}

TEST(ClientAuth, AutoWithLoginDisabledAndNoPlainIsRefused) {
  Session s({S("* OK [CAPABILITY IMAP4rev1 LOGINDISABLED AUTH=XOAUTH2] hi\r\n")});
  std::string what = message_of(
      [&] { s.client->authenticate(AuthMechanism::Auto, "alice", "secret", k_host, 993); });
  EXPECT_TRUE(contains(what, "LOGINDISABLED")) << what;
  EXPECT_TRUE(contains(what, "AUTHENTICATE XOAUTH2")) << what;
  EXPECT_EQ(s.stream->written(), "");
}

// --- The debug trace ---

TEST(ClientAuth, TheTraceShowsNeitherTokensNorContinuationAnswers) {
  testing::internal::CaptureStderr();
  util::set_debug_categories(util::k_cat_all);
  {
    Session s({S("* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=XOAUTH2] hi\r\n"),
               C(std::string("r1 AUTHENTICATE XOAUTH2 ") + k_xoauth2 + "\r\n"),
               S(std::string("+ ") + k_google_error + "\r\n"), C("\r\n"), S("r1 NO nope\r\n")});
    EXPECT_THROW(s.client->authenticate(AuthMechanism::XOAuth2, "alice@example.org", "ya29.tok",
                                        k_host, 993),
                 AuthenticationFailed);
    Session t({S("* OK [CAPABILITY IMAP4rev1 AUTH=OAUTHBEARER] hi\r\n"),
               C("r1 AUTHENTICATE OAUTHBEARER\r\n"), S("+ \r\n"),
               C(std::string(k_oauthbearer) + "\r\n"), S("r1 OK done\r\n")});
    t.client->authenticate(AuthMechanism::OAuthBearer, "alice@example.org", "ya29.tok", k_host,
                           993);
  }
  util::set_debug_categories(0);
  std::string trace = testing::internal::GetCapturedStderr();
  EXPECT_TRUE(contains(trace, "AUTHENTICATE XOAUTH2 <redacted>")) << trace;
  EXPECT_TRUE(contains(trace, "<redacted credentials>")) << trace;
  for (const char* secret : {"ya29.tok", k_xoauth2, k_oauthbearer, "eWEyOS50b2"}) {
    EXPECT_FALSE(contains(trace, secret)) << secret << " in\n" << trace;
  }
}

// --- Untagged responses per command ---

TEST(ClientLimits, TooManyUntaggedResponsesEndTheConnection) {
  ClientOptions options;
  options.max_untagged_per_command = 3;
  Session s({S("* OK [CAPABILITY IMAP4rev1] hi\r\n"), C("r1 NOOP\r\n"),
             S("* 1 EXISTS\r\n* 2 EXISTS\r\n* 3 EXISTS\r\n* 4 EXISTS\r\nr1 OK done\r\n")},
            options);
  std::string what = message_of([&] { s.client->run("NOOP"); });
  EXPECT_TRUE(contains(what, "more than 3 untagged responses to one NOOP command")) << what;
}

TEST(ClientLimits, TheUntaggedLimitCountsPerCommand) {
  // Three responses to each of two pipelined commands: within a limit of
  // three, because each wait counts its own.
  ClientOptions options;
  options.max_untagged_per_command = 3;
  Session s({S("* OK [CAPABILITY IMAP4rev1] hi\r\n"), C("r1 NOOP\r\n"),
             S("* 1 EXISTS\r\n* 2 EXISTS\r\n* 3 EXISTS\r\nr1 OK done\r\n"), C("r2 NOOP\r\n"),
             S("* 4 EXISTS\r\n* 5 EXISTS\r\n* 6 EXISTS\r\nr2 OK done\r\n")},
            options);
  s.client->run("NOOP");
  s.client->run("NOOP");
  EXPECT_TRUE(s.stream->finished());
}

}  // namespace
}  // namespace roam::imap
