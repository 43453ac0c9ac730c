// TLS end to end: the real roam binary against the private Dovecot's
// implicit-TLS port and its STARTTLS-capable plain port, and against an
// in-process TLS server that shows a certificate for the wrong name.
//
// The Dovecot certificate (DIR/tls/cert.pem, for localhost and 127.0.0.1)
// is signed by a throwaway CA (CA_FILE) that no system trusts, which is
// exactly the situation of a self-hosted server: refused by default,
// accepted when the user adds the CA or pins the certificate.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

#include "dovecot.hpp"
#include "fakes/fake_imap_server.hpp"
#include "maildir_helpers.hpp"

namespace roam::it {
namespace {

namespace fs = std::filesystem;

// The lines that make an account use implicit TLS on Dovecot's TLS port.
std::vector<std::string> implicit_tls(std::vector<std::string> more = {}) {
  const auto& server = TestServer::instance();
  std::vector<std::string> lines{"host = 127.0.0.1", "tls = implicit",
                                 "port = " + std::to_string(server.imaps_port()),
                                 "allow_plaintext = no"};
  lines.insert(lines.end(), more.begin(), more.end());
  return lines;
}

// What `openssl x509 -noout -fingerprint -sha256` prints for `pem`, as
// "AB:CD:..." (upper case, colons), the form users copy into the config.
std::string openssl_fingerprint(const fs::path& pem) {
  auto r =
      run_process({"openssl", "x509", "-noout", "-fingerprint", "-sha256", "-in", pem.string()});
  if (r.exit_code != 0) {
    throw std::runtime_error("openssl x509 failed: " + r.err);
  }
  auto equals = r.out.find('=');
  if (equals == std::string::npos) {
    throw std::runtime_error("unexpected openssl output: " + r.out);
  }
  std::string value = r.out.substr(equals + 1);
  while (!value.empty() && (value.back() == '\n' || value.back() == '\r')) {
    value.pop_back();
  }
  return value;
}

// "AB:CD:..." as roam prints it: lower-case hex without colons.
std::string bare_hex(std::string_view colon_form) {
  std::string out;
  for (char c : colon_form) {
    if (c != ':') {
      out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
  }
  return out;
}

fs::path server_cert() {
  return TestServer::instance().env("TLS_CERT");
}

const std::string k_message =
    "From: a@example.org\nSubject: over TLS\nMessage-ID: <tls@roam.test>\n\nHello.\n";

// The forms in which `password` could leak into a trace: itself, the SASL
// PLAIN string roam sends, and its base64 at each of the three alignments
// it could have inside a longer base64 text (only whole 4-character groups
// that encode password bytes alone).
std::vector<std::string> leak_forms(const std::string& user, const std::string& password) {
  std::vector<std::string> forms{password, base64(std::string(1, '\0') + user + '\0' + password)};
  for (std::size_t shift = 0; shift < 3; ++shift) {
    const std::size_t pad = (3 - shift) % 3;
    const std::string encoded = base64(std::string(pad, '\0') + password);
    const std::size_t begin = pad == 0 ? 0 : 4;
    const std::size_t end = (pad + password.size()) / 3 * 4;
    if (end > begin && end - begin >= 4) {
      forms.push_back(encoded.substr(begin, end - begin));
    }
  }
  return forms;
}

// --- Certificate verification ---

TEST(Tls, UnknownCaIsRefusedByDefaultWithFingerprintAdvice) {
  auto account = make_account(implicit_tls());
  auto r = sync(account);
  EXPECT_EQ(r.exit_code, 1) << describe(r);
  const std::string fingerprint = bare_hex(openssl_fingerprint(server_cert()));
  // The message shows what to pin and how.
  EXPECT_NE(r.err.find("sha256:" + fingerprint), std::string::npos) << describe(r);
  EXPECT_NE(r.err.find("cert_fingerprint = sha256:" + fingerprint), std::string::npos)
      << describe(r);
  EXPECT_NE(r.err.find("ca_file"), std::string::npos) << describe(r);
  EXPECT_FALSE(fs::exists(account.maildir / "INBOX")) << describe(r);
}

TEST(Tls, CaFileMakesImplicitTlsSync) {
  const auto& server = TestServer::instance();
  auto account = make_account(implicit_tls({"ca_file = " + server.ca_file().string()}));
  server.append(account.user, "INBOX", k_message);
  auto r = sync(account, {"--debug=net"});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_EQ(message_files(account.maildir / "INBOX").size(), 1u) << describe(r);
  EXPECT_NE(r.err.find("TLSv1."), std::string::npos) << describe(r);
}

TEST(Tls, PinnedFingerprintIsAcceptedWithoutCa) {
  const auto& server = TestServer::instance();
  // The form openssl prints: upper case with colons.
  auto account = make_account(
      implicit_tls({"cert_fingerprint = sha256:" + openssl_fingerprint(server_cert())}));
  server.append(account.user, "INBOX", k_message);
  auto r = sync(account);
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_EQ(message_files(account.maildir / "INBOX").size(), 1u) << describe(r);
}

TEST(Tls, PinnedBareLowerCaseFingerprintIsAccepted) {
  auto account = make_account(
      implicit_tls({"cert_fingerprint = sha256:" + bare_hex(openssl_fingerprint(server_cert()))}));
  auto r = sync(account);
  EXPECT_EQ(r.exit_code, 0) << describe(r);
}

TEST(Tls, WrongPinnedFingerprintIsRefusedEvenWithCa) {
  const auto& server = TestServer::instance();
  // A real certificate's fingerprint, signed by the same CA: only the pin
  // tells them apart, and the pin wins over the valid chain.
  const std::string wrong = openssl_fingerprint(server.env("TLS_WRONG_CERT"));
  auto account = make_account(implicit_tls(
      {"ca_file = " + server.ca_file().string(), "cert_fingerprint = sha256:" + wrong}));
  server.append(account.user, "INBOX", k_message);
  auto r = sync(account);
  EXPECT_EQ(r.exit_code, 1) << describe(r);
  EXPECT_NE(r.err.find("does not match the pinned cert_fingerprint"), std::string::npos)
      << describe(r);
  EXPECT_NE(r.err.find(bare_hex(openssl_fingerprint(server_cert()))), std::string::npos)
      << describe(r);
  EXPECT_EQ(message_files(account.maildir / "INBOX").size(), 0u) << describe(r);
}

// Dovecot's certificate names both localhost and 127.0.0.1, and the harness
// cannot switch it, so the wrong-name case uses an in-process TLS server
// with DIR/tls/wrong-cert.pem (CN and SAN wrong.example, same CA).
class TlsWrongName : public ::testing::TestWithParam<std::string> {};

TEST_P(TlsWrongName, HostnameMismatchIsRefusedEvenWithCaFile) {
  const auto& server = TestServer::instance();
  fakes::FakeImapServer fake(
      fakes::script({{fakes::send("* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] wrong host\r\n")}}),
      fakes::FakeTls{server.env("TLS_WRONG_CERT"), server.env("TLS_WRONG_KEY")});
  auto account = make_account({"host = " + GetParam(), "tls = implicit",
                               "port = " + std::to_string(fake.port()), "allow_plaintext = no",
                               "timeout = 10", "ca_file = " + server.ca_file().string()});
  auto r = sync(account);
  fake.wait_done(std::chrono::seconds(5));
  EXPECT_EQ(r.exit_code, 1) << describe(r) << fake.transcript();
  EXPECT_NE(r.err.find("wrong.example"), std::string::npos) << describe(r);
  EXPECT_NE(r.err.find("not " + GetParam()), std::string::npos) << describe(r);
  // Nothing at all was sent after the handshake: no credentials.
  EXPECT_TRUE(fake.client_lines().empty()) << fake.transcript();
}

INSTANTIATE_TEST_SUITE_P(Names, TlsWrongName, ::testing::Values("127.0.0.1", "localhost"),
                         [](const ::testing::TestParamInfo<std::string>& param) {
                           return param.param == "localhost" ? std::string("dns_name")
                                                             : std::string("ip_address");
                         });

TEST(Tls, PinOverridesNameForTheWrongNameCertificate) {
  // Pinning is the documented escape for a certificate whose name cannot
  // match: the pinned wrong-name certificate is accepted, and the session
  // goes on to log in.
  const auto& server = TestServer::instance();
  fakes::FakeImapServer fake(
      fakes::script({{fakes::send("* OK [CAPABILITY IMAP4rev1] pinned\r\n")},
                     fakes::on("LOGIN *", "$TAG NO [AUTHENTICATIONFAILED] test ends here\r\n")}),
      fakes::FakeTls{server.env("TLS_WRONG_CERT"), server.env("TLS_WRONG_KEY")});
  auto account = make_account(
      {"host = 127.0.0.1", "tls = implicit", "port = " + std::to_string(fake.port()),
       "allow_plaintext = no", "timeout = 10",
       "cert_fingerprint = sha256:" + openssl_fingerprint(server.env("TLS_WRONG_CERT"))});
  auto r = sync(account);
  fake.wait_done(std::chrono::seconds(5));
  EXPECT_EQ(r.exit_code, 1) << describe(r);
  EXPECT_TRUE(fake.received("LOGIN")) << describe(r) << fake.transcript();
  EXPECT_TRUE(fake.errors().empty()) << fake.transcript();
}

// --- STARTTLS and implicit TLS against Dovecot ---

TEST(Tls, StartTlsOnThePlainPortSyncs) {
  const auto& server = TestServer::instance();
  auto account = make_account({"host = 127.0.0.1", "tls = starttls",
                               "port = " + std::to_string(server.imap_port()),
                               "allow_plaintext = no", "ca_file = " + server.ca_file().string()});
  server.append(account.user, "INBOX", k_message);
  auto r = sync(account, {"--debug=net,imap"});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_EQ(message_files(account.maildir / "INBOX").size(), 1u) << describe(r);
  // The upgrade really happened, before the credentials.
  const auto starttls = r.err.find("STARTTLS\n");
  const auto auth = r.err.find("AUTHENTICATE");
  ASSERT_NE(starttls, std::string::npos) << describe(r);
  ASSERT_NE(auth, std::string::npos) << describe(r);
  EXPECT_LT(starttls, auth) << describe(r);
  EXPECT_NE(r.err.find("TLSv1."), std::string::npos) << describe(r);
}

TEST(Tls, StartTlsStillVerifiesTheCertificate) {
  const auto& server = TestServer::instance();
  auto account =
      make_account({"host = 127.0.0.1", "tls = starttls",
                    "port = " + std::to_string(server.imap_port()), "allow_plaintext = no"});
  auto r = sync(account, {"--debug=imap"});
  EXPECT_EQ(r.exit_code, 1) << describe(r);
  EXPECT_NE(r.err.find("cannot verify the TLS certificate"), std::string::npos) << describe(r);
  EXPECT_EQ(r.err.find("AUTHENTICATE"), std::string::npos) << describe(r);
  EXPECT_EQ(r.err.find("LOGIN "), std::string::npos) << describe(r);
}

TEST(Tls, PlaintextToANonLoopbackHostIsRefused) {
  // tls = none is fine on loopback only; elsewhere the configuration is
  // refused before any connection (192.0.2.1 is TEST-NET-1, never reached),
  // and the message names the way out.
  auto account = make_account({"host = 192.0.2.1", "tls = none", "allow_plaintext = no"});
  auto r = sync(account);
  EXPECT_NE(r.exit_code, 0) << describe(r);
  EXPECT_NE(r.err.find("allow_plaintext"), std::string::npos) << describe(r);
}

// --- Credentials in the debug trace ---

class TlsDebug : public ::testing::TestWithParam<std::string> {};

TEST_P(TlsDebug, DebugOutputHasNoPassword) {
  const auto& server = TestServer::instance();
  std::vector<std::string> lines;
  if (GetParam() == "implicit") {
    lines = implicit_tls({"ca_file = " + server.ca_file().string()});
  } else if (GetParam() == "starttls") {
    lines = {"host = 127.0.0.1", "tls = starttls", "port = " + std::to_string(server.imap_port()),
             "ca_file = " + server.ca_file().string()};
  }  // "plain": the harness default, tls = none on loopback.
  auto account = make_account(lines);
  server.append(account.user, "INBOX", k_message);
  auto r = sync(account, {"--debug"});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  // The trace is there, so an empty one cannot pass for a clean one.
  EXPECT_NE(r.err.find("AUTHENTICATE"), std::string::npos) << describe(r);
  for (const auto& form : leak_forms(account.user, server.password())) {
    EXPECT_EQ(r.out.find(form), std::string::npos) << "stdout shows \"" << form << "\"";
    EXPECT_EQ(r.err.find(form), std::string::npos) << "stderr shows \"" << form << "\"";
  }
}

INSTANTIATE_TEST_SUITE_P(Modes, TlsDebug, ::testing::Values("implicit", "starttls", "plain"));

}  // namespace
}  // namespace roam::it
