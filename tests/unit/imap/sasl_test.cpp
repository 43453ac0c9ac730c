// The SASL messages as pure functions (imap/sasl.hpp): the exact octets of
// each mechanism, what it refuses to carry, and the status of an OAuth
// error challenge. Expected base64 strings were computed with Python's
// base64 module, not with the encoder under test.

#include "imap/sasl.hpp"

#include <gtest/gtest.h>

#include <string>

#include "util/error.hpp"

namespace roam::imap::sasl {
namespace {

using namespace std::string_literals;

TEST(Sasl, Base64PadsAndRoundTrips) {
  EXPECT_EQ(base64(""), "");
  EXPECT_EQ(base64("f"), "Zg==");
  EXPECT_EQ(base64("fo"), "Zm8=");
  EXPECT_EQ(base64("foo"), "Zm9v");
  EXPECT_EQ(base64("\xff\xfe\x01"s), "//4B");
  EXPECT_EQ(unbase64("Zm9vYmFy"), "foobar");
  EXPECT_EQ(unbase64("Zm8="), "fo");
}

TEST(Sasl, Unbase64StopsAtTheFirstCharacterOutsideTheAlphabet) {
  EXPECT_EQ(unbase64("Zm9v!!!YmFy"), "foo");
  EXPECT_EQ(unbase64(""), "");
}

TEST(Sasl, PlainMessage) {
  EXPECT_EQ(plain_message("alice", "secret"), "\0alice\0secret"s);
  EXPECT_EQ(base64(plain_message("alice", "secret")), "AGFsaWNlAHNlY3JldA==");
}

TEST(Sasl, PlainRefusesANul) {
  try {
    plain_message("alice", "se\0cret"s);
    FAIL() << "no error";
  } catch (const util::Error& e) {
    EXPECT_EQ(e.scope(), util::Scope::Account);
    EXPECT_EQ(std::string(e.what()).find("cret"), std::string::npos)
        << "the password must not be shown: " << e.what();
  }
}

TEST(Sasl, XOAuth2Message) {
  EXPECT_EQ(xoauth2_message("me@example.com", "ya29.tok"),
            "user=me@example.com\x01"
            "auth=Bearer ya29.tok\x01\x01");
}

TEST(Sasl, OAuthBearerMessageEscapesTheUserAndLeavesOutWhatIsUnknown) {
  EXPECT_EQ(oauthbearer_message("a,b=c", "tok", "imap.example.com", 993),
            "n,a=a=2Cb=3Dc,\x01host=imap.example.com\x01port=993\x01"
            "auth=Bearer tok\x01\x01");
  EXPECT_EQ(oauthbearer_message("u", "tok", "", 0),
            "n,a=u,\x01"
            "auth=Bearer tok\x01\x01");
}

TEST(Sasl, OAuthMessagesRefuseWhatTheyCannotCarryWithoutShowingTheToken) {
  for (const std::string& token : {""s, "two words"s, "line\r\nend"s}) {
    try {
      xoauth2_message("me", token);
      FAIL() << "no error for '" << token << "'";
    } catch (const util::Error& e) {
      EXPECT_EQ(e.scope(), util::Scope::Account);
      EXPECT_NE(std::string(e.what()).find("pass_cmd"), std::string::npos) << e.what();
    }
  }
  EXPECT_THROW(oauthbearer_message("me", "two words", "", 0), util::Error);
  EXPECT_THROW(oauthbearer_message("m\x01"
                                   "e",
                                   "tok", "", 0),
               util::Error);
  EXPECT_THROW(xoauth2_message("m\x01"
                               "e",
                               "tok"),
               util::Error);
}

TEST(Sasl, OAuthStatusOfAnErrorChallenge) {
  // base64('{"status":"401","schemes":"Bearer","scope":"https://mail.google.com/"}')
  EXPECT_EQ(oauth_status("eyJzdGF0dXMiOiI0MDEiLCJzY2hlbWVzIjoiQmVhcmVyIiwic2NvcGUiOiJodHRwczovL21h"
                         "aWwuZ29vZ2xlLmNvbS8ifQ=="),
            "401");
  // base64('{"status": 400}'): a number, with a space after the colon.
  EXPECT_EQ(oauth_status("eyJzdGF0dXMiOiA0MDB9"), "400");
  // base64('{"scope":"x"}'): no status.
  EXPECT_EQ(oauth_status("eyJzY29wZSI6IngifQ=="), "");
  EXPECT_EQ(oauth_status("not base64 at all"), "");
}

}  // namespace
}  // namespace roam::imap::sasl
