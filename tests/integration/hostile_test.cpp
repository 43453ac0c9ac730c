// The real roam binary against a hostile IMAP server: a scripted server in a
// thread of this process (tests/fakes/fake_imap_server.hpp) that strips
// STARTTLS, injects bytes, lies in response codes, announces huge literals,
// never ends a line, stalls, and offers mailbox names built to escape the
// Maildir. Each test checks that roam stops (or skips what it must) with a
// message that says why, never crashes, never sends credentials where it
// must not, and never writes outside the Maildir root.
//
// The accounts still come from TestServer::write_config, so these tests run
// under the Dovecot fixture like the rest of the integration suite, but no
// byte goes to Dovecot: every config points to the scripted server's port.

#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <ostream>
#include <set>
#include <sstream>
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
using namespace std::string_literals;
using fakes::close_connection;
using fakes::FakeImapServer;
using fakes::flood;
using fakes::ImapStep;
using fakes::on;
using fakes::script;
using fakes::send;
using fakes::stall;
using fakes::trickle;

// --- Helpers (the ones shared with other tests are in maildir_helpers.hpp) ---

// An account whose server is the scripted one on `port`. `timeout` keeps a
// failing script from making a test wait a minute.
Account make_account(std::uint16_t port, const std::string& tls,
                     const std::vector<std::string>& extra = {}) {
  auto a = fresh_account();
  // The Maildir sits two levels below the test's private directory, so that
  // a name escaping it by one or two ".." lands where the test looks.
  a.maildir = a.work / "root" / "Mail";
  std::vector<std::string> lines{"host = 127.0.0.1",
                                 "port = " + std::to_string(port),
                                 "tls = " + tls,
                                 "timeout = 10",
                                 "sync = pull",
                                 "maildir = " + a.maildir.string(),
                                 "state_dir = " + a.state.string()};
  lines.insert(lines.end(), extra.begin(), extra.end());
  TestServer::instance().write_config(a.config, a.user, lines);
  return a;
}

// How long one run against a scripted server may take before the harness
// kills it.
constexpr std::chrono::seconds k_run_limit{60};

// Runs `roam sync` against the scripted `server`, then waits (5 s at most)
// for the server to end its script, so that its transcript is complete.
ProcessResult sync_with(const FakeImapServer& server, const Account& a,
                        const std::vector<std::string>& extra_args = {}) {
  auto r = sync(a, extra_args, k_run_limit);
  server.wait_done(std::chrono::seconds(5));
  return r;
}

std::string describe(const ProcessResult& r, const FakeImapServer& server) {
  return "exit " + std::to_string(r.exit_code) + (r.timed_out ? " (timed out)" : "") +
         "\nstdout:\n" + r.out + "\nstderr:\n" + r.err + "\nserver saw:\n" + server.transcript();
}

// A clean failure: roam exited by itself with the failure status, not by a
// signal (an ASan report or abort would be 128 + n), and said something.
void expect_clean_failure(const ProcessResult& r, const FakeImapServer& server) {
  EXPECT_FALSE(r.timed_out) << describe(r, server);
  EXPECT_EQ(r.exit_code, 1) << describe(r, server);
  EXPECT_NE(r.err.find("roam: error"), std::string::npos) << describe(r, server);
  EXPECT_EQ(r.err.find("AddressSanitizer"), std::string::npos) << describe(r, server);
  EXPECT_EQ(r.err.find("runtime error"), std::string::npos) << describe(r, server);
}

// Checks that neither LOGIN nor AUTHENTICATE reached the server, so that no
// credentials left roam.
void expect_no_login(const ProcessResult& r, const FakeImapServer& server) {
  EXPECT_FALSE(server.received("LOGIN")) << describe(r, server);
  EXPECT_FALSE(server.received("AUTHENTICATE")) << describe(r, server);
}

// Every path under `dir`, relative to it, for "nothing else was created".
std::set<std::string> tree(const fs::path& dir) {
  std::set<std::string> out;
  std::error_code ec;
  for (fs::recursive_directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    out.insert(it->path().lexically_relative(dir).string());
  }
  return out;
}

// --- Script pieces ---

// The server greeting, announcing `capabilities`.
std::vector<ImapStep> greeting(const std::string& capabilities) {
  return {send("* OK [CAPABILITY " + capabilities + "] scripted server ready\r\n")};
}

// A server without AUTH=PLAIN, so roam logs in with LOGIN, and without
// CONDSTORE, LIST-STATUS or SPECIAL-USE, so the pull sync below is all the
// commands there are.
const std::string k_caps = "* CAPABILITY IMAP4rev1\r\n$TAG OK done\r\n";

std::vector<ImapStep> login_steps() {
  return script(
      {greeting("IMAP4rev1"), on("LOGIN *", "$TAG OK logged in\r\n"), on("CAPABILITY", k_caps)});
}

// A LIST reply that names INBOX, after the LIST lines in `before`.
std::vector<ImapStep> list_inbox(const std::string& before = {}) {
  return on("LIST *", before + "* LIST () \"/\" INBOX\r\n$TAG OK\r\n");
}

// The EXAMINE reply for a mailbox with `exists` messages.
std::string examine_reply(int exists, const std::string& extra_tagged_code = {}) {
  return "* " + std::to_string(exists) +
         " EXISTS\r\n"
         "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r\n"
         "* OK [UIDVALIDITY 7] UIDs valid\r\n"
         "* OK [UIDNEXT " +
         std::to_string(exists + 1) + "] predicted next UID\r\n$TAG OK " +
         (extra_tagged_code.empty() ? "[READ-ONLY]" : extra_tagged_code) + " examined\r\n";
}

// A FETCH response carrying message 1's body as a literal.
std::string body_reply(const std::string& body) {
  return "* 1 FETCH (UID 1 FLAGS (\\Seen) INTERNALDATE \"01-Jan-2024 12:00:00 +0000\" BODY[] {" +
         std::to_string(body.size()) + "}\r\n" + body + ")\r\n$TAG OK fetched\r\n";
}

// INBOX with one message whose body is `body`, from EXAMINE to the body.
std::vector<ImapStep> inbox_with_one(const std::string& body) {
  return script(
      {on("EXAMINE INBOX*", examine_reply(1)),
       on("UID FETCH 1:* (UID FLAGS)*", "* 1 FETCH (UID 1 FLAGS (\\Seen))\r\n$TAG OK\r\n"),
       on("UID FETCH 1 (*BODY.PEEK[]*", body_reply(body))});
}

std::vector<ImapStep> logout_steps() {
  return on("LOGOUT", "* BYE logging out\r\n$TAG OK bye\r\n");
}

// A whole pull of INBOX holding one message whose body is `body`, with the
// LIST lines in `other_folders` before INBOX's.
std::vector<ImapStep> pull_of_one(const std::string& body, const std::string& other_folders = {}) {
  return script({login_steps(), list_inbox(other_folders), inbox_with_one(body), logout_steps()});
}

const std::string k_message =
    "From: a@example.org\r\nSubject: hostile test\r\nMessage-ID: <h@roam.test>\r\n\r\nHello.\r\n";

// --- STARTTLS rules (RFC 9051 §6.2.1, §7.1.4; imap-maildir-specs.md §6) ---

TEST(Hostile, StartTlsNotOfferedAbortsBeforeLogin) {
  // The greeting says nothing about capabilities, so roam must ask, and the
  // answer lacks STARTTLS: a stripping attacker's view of the server.
  FakeImapServer server(
      script({{send("* OK scripted server ready\r\n")},
              on("CAPABILITY", "* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\n$TAG OK\r\n")}));
  auto account = make_account(server.port(), "starttls");
  auto r = sync_with(server, account);
  expect_clean_failure(r, server);
  EXPECT_NE(r.err.find("STARTTLS"), std::string::npos) << describe(r, server);
  expect_no_login(r, server);
  EXPECT_FALSE(server.received("LIST")) << describe(r, server);
}

TEST(Hostile, StartTlsRefusedWithNoAbortsBeforeLogin) {
  FakeImapServer server(script({greeting("IMAP4rev1 STARTTLS AUTH=PLAIN"),
                                on("STARTTLS", "$TAG NO [UNAVAILABLE] TLS is on holiday\r\n")}));
  auto account = make_account(server.port(), "starttls");
  auto r = sync_with(server, account);
  expect_clean_failure(r, server);
  EXPECT_NE(r.err.find("plaintext"), std::string::npos) << describe(r, server);
  expect_no_login(r, server);
}

TEST(Hostile, StartTlsRefusedWithBadAbortsBeforeLogin) {
  FakeImapServer server(
      script({greeting("IMAP4rev1 STARTTLS"), on("STARTTLS", "$TAG BAD what is that\r\n")}));
  auto account = make_account(server.port(), "starttls");
  auto r = sync_with(server, account);
  expect_clean_failure(r, server);
  expect_no_login(r, server);
}

TEST(Hostile, BytesInjectedAfterStartTlsOkAbort) {
  // CVE-2020-14954 and kin: a man in the middle appends a plaintext
  // response after the OK, hoping the client reads it as if it came over
  // TLS (here a capability list without STARTTLS-era restrictions).
  FakeImapServer server(
      script({greeting("IMAP4rev1 STARTTLS"),
              on("STARTTLS",
                 "$TAG OK Begin TLS negotiation now\r\n* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] "
                 "injected\r\n"),
              {stall()}}));
  auto account = make_account(server.port(), "starttls");
  auto r = sync_with(server, account);
  expect_clean_failure(r, server);
  EXPECT_NE(r.err.find("STARTTLS"), std::string::npos) << describe(r, server);
  expect_no_login(r, server);
  EXPECT_FALSE(server.received("CAPABILITY")) << describe(r, server);
}

TEST(Hostile, PlaintextPreauthRefusedWithStartTls) {
  // Thunderbird CVE-2020-12398, Mutt CVE-2020-14093: PREAUTH skips the
  // STARTTLS step, and a client that goes on works in plaintext.
  FakeImapServer server(
      script({{send("* PREAUTH [CAPABILITY IMAP4rev1 STARTTLS] you are logged in already\r\n")}}));
  auto account = make_account(server.port(), "starttls");
  auto r = sync_with(server, account);
  expect_clean_failure(r, server);
  EXPECT_NE(r.err.find("PREAUTH"), std::string::npos) << describe(r, server);
  EXPECT_FALSE(server.received("LIST")) << describe(r, server);
  EXPECT_FALSE(server.received("EXAMINE")) << describe(r, server);
  EXPECT_FALSE(server.received("SELECT")) << describe(r, server);
  EXPECT_FALSE(fs::exists(account.maildir / "INBOX")) << describe(r, server);
}

// --- Response codes out of place (CVE-2021-3578) ---

TEST(Hostile, AppendUidOutsideAppendIsIgnored) {
  // APPENDUID and COPYUID on every reply but an APPEND's: the login, the
  // capability, LIST, EXAMINE, the flag listing, an untagged OK. In pull
  // mode roam appends nothing, so none of them may matter; the sync must
  // record exactly the one message the server has, under UID 1.
  const std::string code = "[APPENDUID 7 4242]";
  FakeImapServer server(
      script({greeting("IMAP4rev1"), on("LOGIN *", "$TAG OK " + code + " logged in\r\n"),
              on("CAPABILITY", "* CAPABILITY IMAP4rev1\r\n$TAG OK " + code + " done\r\n"),
              on("LIST *",
                 "* OK [APPENDUID 7 4243] unsolicited\r\n* LIST () \"/\" INBOX\r\n$TAG OK "
                 "[COPYUID 7 1 4244] listed\r\n"),
              on("EXAMINE INBOX*", examine_reply(1, "[APPENDUID 7 4245]")),
              on("UID FETCH 1:* (UID FLAGS)*",
                 "* OK [APPENDUID 7 4246] more\r\n* 1 FETCH (UID 1 FLAGS (\\Seen))\r\n$TAG OK " +
                     code + "\r\n"),
              on("UID FETCH 1 (*BODY.PEEK[]*", body_reply(k_message)), logout_steps()}));
  auto account = make_account(server.port(), "none");
  auto r = sync_with(server, account);
  EXPECT_EQ(r.exit_code, 0) << describe(r, server);
  EXPECT_TRUE(server.errors().empty()) << describe(r, server);
  auto files = message_files(account.maildir / "INBOX");
  ASSERT_EQ(files.size(), 1u) << describe(r, server);
  EXPECT_EQ(read_file(files[0]),
            "From: a@example.org\nSubject: hostile test\nMessage-ID: "
            "<h@roam.test>\n\nHello.\n");
  const std::string state = read_file(account.state / "folder-INBOX.json");
  EXPECT_NE(state.find("\n[1,"), std::string::npos) << state;
  // A record starts a line with "[uid,"; the file names in the state hold
  // timestamps, which may contain these digits anywhere else.
  for (const char* uid : {"4242", "4243", "4244", "4245", "4246"}) {
    EXPECT_EQ(state.find("\n[" + std::string(uid) + ","), std::string::npos) << state;
  }
}

// --- Sizes the server controls (CVE-2021-3657) ---

TEST(Hostile, HugeBodyLiteralFailsCleanly) {
  // 3 GiB announced for a message body: over the streamed-literal limit,
  // so roam must stop before writing, not after filling the disk.
  FakeImapServer server(
      script({login_steps(),
              list_inbox(),
              on("EXAMINE INBOX*", examine_reply(1)),
              on("UID FETCH 1:* (UID FLAGS)*", "* 1 FETCH (UID 1 FLAGS ())\r\n$TAG OK\r\n"),
              on("UID FETCH 1 (*BODY.PEEK[]*",
                 "* 1 FETCH (UID 1 FLAGS () INTERNALDATE \"01-Jan-2024 12:00:00 +0000\" BODY[] "
                 "{3221225472}\r\nFrom: a@example.org\r\n"),
              {stall()}}));
  auto account = make_account(server.port(), "none");
  const auto start = std::chrono::steady_clock::now();
  auto r = sync(account, {}, k_run_limit);
  const auto took = std::chrono::steady_clock::now() - start;
  server.wait_done(std::chrono::seconds(5));
  expect_clean_failure(r, server);
  EXPECT_NE(r.err.find("3221225472"), std::string::npos) << describe(r, server);
  // It must not have waited for the bytes (timeout = 10).
  EXPECT_LT(took, std::chrono::seconds(8)) << describe(r, server);
  EXPECT_TRUE(message_files(account.maildir / "INBOX").empty()) << describe(r, server);
}

TEST(Hostile, HugeLiteralInListFailsCleanly) {
  // A mailbox name announced as a 3 GiB literal: kept in memory if it were
  // accepted, so the in-memory limit must refuse it before any allocation.
  FakeImapServer server(
      script({login_steps(), on("LIST *", "* LIST () \"/\" {3221225472}\r\nINBOX"), {stall()}}));
  auto account = make_account(server.port(), "none");
  const auto start = std::chrono::steady_clock::now();
  auto r = sync(account, {}, k_run_limit);
  const auto took = std::chrono::steady_clock::now() - start;
  server.wait_done(std::chrono::seconds(5));
  expect_clean_failure(r, server);
  EXPECT_NE(r.err.find("3221225472"), std::string::npos) << describe(r, server);
  EXPECT_LT(took, std::chrono::seconds(8)) << describe(r, server);
}

TEST(Hostile, LiteralSizeBeyond64BitsFailsCleanly) {
  // A size that does not fit any integer type: it must be a parse failure,
  // never a wrapped-around small number.
  FakeImapServer server(script({login_steps(),
                                on("LIST *", "* LIST () \"/\" {99999999999999999999999}\r\nINBOX"),
                                {stall()}}));
  auto account = make_account(server.port(), "none");
  auto r = sync_with(server, account);
  expect_clean_failure(r, server);
  EXPECT_TRUE(message_files(account.maildir / "INBOX").empty()) << describe(r, server);
}

TEST(Hostile, EndlessLineFailsCleanly) {
  // 64 MiB without a line end, offered as the greeting: roam must give up
  // at its line limit (8 MiB) instead of buffering all of it.
  FakeImapServer server(
      script({{send("* OK "), flood(std::string(65536, 'A'), 1024), close_connection()}}));
  auto account = make_account(server.port(), "none");
  auto r = sync(account, {}, k_run_limit);
  server.wait_done(std::chrono::seconds(10));
  expect_clean_failure(r, server);
  EXPECT_NE(r.err.find("longer than"), std::string::npos) << describe(r, server);
  EXPECT_FALSE(server.received("LOGIN")) << describe(r, server);
}

TEST(Hostile, StalledServerTimesOut) {
  // The greeting comes, then nothing: with timeout = 2 the run must end in
  // a few seconds and say that it timed out.
  FakeImapServer server(script({{send("* OK scripted server ready\r\n"), stall()}}));
  auto account = make_account(server.port(), "none", {"timeout = 2"});
  const auto start = std::chrono::steady_clock::now();
  auto r = sync(account, {}, std::chrono::seconds(30));
  const auto took = std::chrono::steady_clock::now() - start;
  expect_clean_failure(r, server);
  EXPECT_NE(r.err.find("timed out"), std::string::npos) << describe(r, server);
  EXPECT_GE(took, std::chrono::milliseconds(1500)) << describe(r, server);
  EXPECT_LT(took, std::chrono::seconds(6)) << describe(r, server);
}

TEST(Hostile, TricklingServerTimesOut) {
  // One byte every 300 ms never leaves the connection silent for the 2 s
  // timeout, and the greeting alone would take five minutes: roam must give
  // up within a few seconds all the same.
  FakeImapServer server(
      script({{trickle("* OK " + std::string(1000, 'x') + "\r\n", std::chrono::milliseconds(300)),
               stall()}}));
  auto account = make_account(server.port(), "none", {"timeout = 2"});
  const auto start = std::chrono::steady_clock::now();
  auto r = sync(account, {}, std::chrono::seconds(30));
  const auto took = std::chrono::steady_clock::now() - start;
  expect_clean_failure(r, server);
  EXPECT_NE(r.err.find("timed out reading a response"), std::string::npos) << describe(r, server);
  EXPECT_LT(took, std::chrono::seconds(8)) << describe(r, server);
  expect_no_login(r, server);
}

TEST(Hostile, SilentServerTimesOutBeforeGreeting) {
  FakeImapServer server(script({{stall()}}));
  auto account = make_account(server.port(), "none", {"timeout = 2"});
  const auto start = std::chrono::steady_clock::now();
  auto r = sync(account, {}, std::chrono::seconds(30));
  const auto took = std::chrono::steady_clock::now() - start;
  expect_clean_failure(r, server);
  EXPECT_NE(r.err.find("timed out"), std::string::npos) << describe(r, server);
  EXPECT_LT(took, std::chrono::seconds(6)) << describe(r, server);
}

// --- Mailbox names (CVE-2021-20247) ---

struct NameCase {
  std::string label;
  std::string list_line;  // One LIST response, CRLF and literals included.
  std::string shown;      // How roam's error must name the folder.
};

// Without this, gtest prints the parameter as a byte dump in every test name.
void PrintTo(const NameCase& c, std::ostream* out) {
  *out << c.label;
}

class HostileName : public ::testing::TestWithParam<NameCase> {};

TEST_P(HostileName, RefusedAndInboxStillSyncs) {
  const NameCase& c = GetParam();
  FakeImapServer server(pull_of_one(k_message, c.list_line));
  auto account = make_account(server.port(), "none");
  auto r = sync_with(server, account);

  // A folder error: exit 1, the name shown, the folder never opened.
  expect_clean_failure(r, server);
  EXPECT_NE(r.err.find("refused folder name \"" + c.shown + "\""), std::string::npos)
      << describe(r, server);
  EXPECT_TRUE(server.errors().empty()) << describe(r, server);
  for (const auto& line : server.client_lines()) {
    if (line.find("EXAMINE") != std::string::npos) {
      EXPECT_NE(line.find("EXAMINE INBOX"), std::string::npos) << "opened a refused folder";
    }
  }
  // INBOX is synced all the same.
  EXPECT_EQ(message_files(account.maildir / "INBOX").size(), 1u) << describe(r, server);
  // Inside the test's directory only the config, the Maildir with INBOX and
  // the marker naming its account, and the state; nothing at the absolute
  // path either.
  for (const auto& path : tree(account.work)) {
    EXPECT_TRUE(path == "roam.conf" || path == "root" || path == "root/Mail" ||
                path == "root/Mail/.roam-account" || path.rfind("root/Mail/INBOX", 0) == 0 ||
                path.rfind("state", 0) == 0)
        << "created outside the Maildir root or beside INBOX: " << path << "\n"
        << describe(r, server);
  }
  EXPECT_FALSE(fs::exists("/tmp/evil"));
}

INSTANTIATE_TEST_SUITE_P(
    Cve202120247, HostileName,
    ::testing::Values(
        NameCase{"dotdot", "* LIST () \"/\" \"..\"\r\n", ".."},
        NameCase{"dot", "* LIST () \"/\" \".\"\r\n", "."},
        NameCase{"escape_two_levels", "* LIST () \"/\" \"a/../../b\"\r\n", "a/../../b"},
        NameCase{"dotdot_first", "* LIST () \"/\" \"../evil\"\r\n", "../evil"},
        NameCase{"absolute", "* LIST () \"/\" \"/tmp/evil\"\r\n", "/tmp/evil"},
        NameCase{"nul_literal", "* LIST () \"/\" {7}\r\nev\0il/x\r\n"s, "ev\\x00il/x"},
        NameCase{"control_literal",
                 "* LIST () \"/\" {4}\r\nb\x01"
                 "d!\r\n",
                 "b\\x01d!"},
        NameCase{"other_delimiter_dotdot", "* LIST () \".\" \"a...b\"\r\n", "a...b"},
        NameCase{"maildir_subdir", "* LIST () \"/\" \"cur\"\r\n", "cur"}),
    [](const ::testing::TestParamInfo<NameCase>& param) { return param.param.label; });

// --- Message content (CVE-2021-44143) ---

TEST(Hostile, MessageWithoutHeaderIsStoredVerbatim) {
  // The body starts with the empty line that ends the (empty) header.
  const std::string body = "\r\nNo header at all.\r\n\r\nSecond paragraph.\r\n";
  FakeImapServer server(pull_of_one(body));
  auto account = make_account(server.port(), "none");
  auto r = sync_with(server, account);
  EXPECT_EQ(r.exit_code, 0) << describe(r, server);
  EXPECT_TRUE(server.errors().empty()) << describe(r, server);
  auto files = message_files(account.maildir / "INBOX");
  ASSERT_EQ(files.size(), 1u) << describe(r, server);
  EXPECT_EQ(read_file(files[0]), "\nNo header at all.\n\nSecond paragraph.\n");
}

TEST(Hostile, MessageOfBareLineEndsAndNulIsStoredVerbatim) {
  // No header, a NUL and a lone CR: octets a converter might choke on.
  const std::string body = "\0\r\r\n\n"s;
  FakeImapServer server(pull_of_one(body));
  auto account = make_account(server.port(), "none");
  auto r = sync_with(server, account);
  EXPECT_EQ(r.exit_code, 0) << describe(r, server);
  auto files = message_files(account.maildir / "INBOX");
  ASSERT_EQ(files.size(), 1u) << describe(r, server);
  EXPECT_EQ(read_file(files[0]).size(), 4u) << describe(r, server);
}

// --- Credentials ---

TEST(Hostile, LoginPasswordNeverInDebugOutput) {
  // LOGIN (no AUTH=PLAIN) with a password that is easy to search for.
  const std::string password = "Pw-0f-Hostile-Test";
  FakeImapServer server(script(
      {login_steps(), list_inbox(), on("EXAMINE INBOX*", examine_reply(0)), logout_steps()}));
  auto account = make_account(server.port(), "none", {"password = " + password});
  auto r = sync_with(server, account, {"--debug"});
  EXPECT_EQ(r.exit_code, 0) << describe(r, server);
  // The server did get it, so the test would notice a LOGIN without it.
  EXPECT_NE(server.transcript().find(password), std::string::npos) << describe(r, server);
  EXPECT_NE(r.err.find("LOGIN"), std::string::npos) << "no IMAP trace?\n" << r.err;
  EXPECT_EQ(r.out.find(password), std::string::npos) << r.out;
  EXPECT_EQ(r.err.find(password), std::string::npos) << r.err;
}

TEST(Hostile, AuthenticatePlainContinuationNeverInDebugOutput) {
  // AUTH=PLAIN without SASL-IR: the credentials go after a "+"
  // continuation, a second place where a trace could leak them.
  const std::string password = "Pw-0f-Hostile-Test";
  FakeImapServer server(script({greeting("IMAP4rev1 AUTH=PLAIN"),
                                on("AUTHENTICATE PLAIN", "+ \r\n"),
                                {fakes::expect_line("*"), send("$TAG OK authenticated\r\n")},
                                on("CAPABILITY", k_caps),
                                list_inbox(),
                                on("EXAMINE INBOX*", examine_reply(0)),
                                logout_steps()}));
  auto account = make_account(server.port(), "none", {"password = " + password});
  auto r = sync_with(server, account, {"--debug"});
  EXPECT_EQ(r.exit_code, 0) << describe(r, server);
  const auto lines = server.client_lines();
  ASSERT_GE(lines.size(), 2u) << describe(r, server);
  // The second line is the base64 of "\0user\0password"; it must not be in
  // the trace, and neither may the password.
  const std::string sasl = lines[1];
  ASSERT_FALSE(sasl.empty());
  EXPECT_EQ(r.err.find(sasl), std::string::npos) << r.err;
  EXPECT_EQ(r.out.find(sasl), std::string::npos) << r.out;
  EXPECT_EQ(r.err.find(password), std::string::npos) << r.err;
}

// --- Authentication mechanisms ---

TEST(Hostile, ConfiguredMechanismNotOfferedNeverFallsBack) {
  // auth = xoauth2, and the server (or someone stripping capabilities)
  // offers only PLAIN: roam must stop, not send the token as a password.
  FakeImapServer server(script({greeting("IMAP4rev1 SASL-IR AUTH=PLAIN"), {stall()}}));
  auto account = make_account(server.port(), "none", {"auth = xoauth2"});
  auto r = sync_with(server, account);
  expect_clean_failure(r, server);
  EXPECT_NE(r.err.find("does not offer AUTHENTICATE XOAUTH2"), std::string::npos)
      << describe(r, server);
  EXPECT_NE(r.err.find("AUTHENTICATE PLAIN"), std::string::npos) << describe(r, server);
  expect_no_login(r, server);
}

TEST(Hostile, XOAuth2ErrorChallengeIsAnsweredAndReported) {
  // Google's failure: a "+" with base64 JSON, an empty answer, a tagged NO.
  // {"status":"401","schemes":"Bearer","scope":"https://mail.google.com/"}
  const std::string challenge =
      "eyJzdGF0dXMiOiI0MDEiLCJzY2hlbWVzIjoiQmVhcmVyIiwic2NvcGUiOiJodHRwczovL21haWwuZ29vZ2xlLmNv"
      "bS8ifQ==";
  const std::string token = "ya29.Hostile-Test-Token";
  FakeImapServer server(
      script({greeting("IMAP4rev1 SASL-IR AUTH=XOAUTH2"),
              on("AUTHENTICATE XOAUTH2 *", "+ " + challenge + "\r\n"),
              {fakes::expect_line(""),
               send("$TAG NO [AUTHENTICATIONFAILED] Invalid credentials (Failure)\r\n")}}));
  auto account = make_account(server.port(), "none", {"auth = xoauth2", "password = " + token});
  auto r = sync_with(server, account, {"--debug"});
  expect_clean_failure(r, server);
  EXPECT_TRUE(server.errors().empty()) << describe(r, server);
  EXPECT_TRUE(server.finished()) << describe(r, server);
  EXPECT_NE(r.err.find("authentication with XOAUTH2 failed: NO [AUTHENTICATIONFAILED]"),
            std::string::npos)
      << describe(r, server);
  EXPECT_NE(r.err.find("OAuth status 401"), std::string::npos) << describe(r, server);
  const auto lines = server.client_lines();
  ASSERT_FALSE(lines.empty());
  const std::string sasl = lines[0].substr(lines[0].rfind(' ') + 1);
  EXPECT_EQ(r.err.find(sasl), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find(token), std::string::npos) << r.err;
  EXPECT_EQ(r.out.find(token), std::string::npos) << r.out;
}

// --- max_message_size ---

TEST(Hostile, MessageOverMaxMessageSizeFailsCleanly) {
  // A 2000-byte message against max_message_size = 1K: the configured limit
  // applies, and the message says which key to raise.
  const std::string body = k_message + std::string(2000, 'x') + "\r\n";
  FakeImapServer server(script({login_steps(), list_inbox(), inbox_with_one(body), {stall()}}));
  auto account = make_account(server.port(), "none", {"max_message_size = 1K"});
  auto r = sync_with(server, account);
  expect_clean_failure(r, server);
  EXPECT_NE(r.err.find("over the limit of 1024 bytes"), std::string::npos) << describe(r, server);
  EXPECT_NE(r.err.find("max_message_size"), std::string::npos) << describe(r, server);
  EXPECT_TRUE(message_files(account.maildir / "INBOX").empty()) << describe(r, server);
}

// --- NAMESPACE (RFC 2342): the personal prefix is stripped, never trusted ---

// A login to a server that offers NAMESPACE and answers it with
// `namespace_reply` (untagged lines; the tagged OK is added).
std::vector<ImapStep> namespace_login_steps(const std::string& namespace_reply) {
  return script({greeting("IMAP4rev1 NAMESPACE"), on("LOGIN *", "$TAG OK logged in\r\n"),
                 on("CAPABILITY", "* CAPABILITY IMAP4rev1 NAMESPACE\r\n$TAG OK done\r\n"),
                 on("NAMESPACE", namespace_reply + "$TAG OK done\r\n")});
}

const std::string k_courier_namespace = "* NAMESPACE ((\"INBOX.\" \".\")) NIL NIL\r\n";
const std::string k_message_2 =
    "From: b@example.org\r\nSubject: in a list\r\nMessage-ID: <h2@roam.test>\r\n\r\nHi.\r\n";

// After the login: INBOX and `mailbox` (wire name), one message each, as
// Courier lists them.
std::vector<ImapStep> pull_inbox_and(const std::string& mailbox) {
  return script(
      {on("LIST *", "* LIST (\\HasChildren) \".\" INBOX\r\n* LIST (\\HasNoChildren) \".\" \"" +
                        mailbox + "\"\r\n$TAG OK\r\n"),
       inbox_with_one(k_message), on("EXAMINE " + mailbox + "*", examine_reply(1)),
       on("UID FETCH 1:* (UID FLAGS)*", "* 1 FETCH (UID 1 FLAGS (\\Seen))\r\n$TAG OK\r\n"),
       on("UID FETCH 1 (*BODY.PEEK[]*", body_reply(k_message_2)), logout_steps()});
}

TEST(Namespace, CourierPrefixIsStrippedLocallyAndKeptOnTheWire) {
  FakeImapServer server(
      script({namespace_login_steps(k_courier_namespace), pull_inbox_and("INBOX.Lists.dev")}));
  auto account = make_account(server.port(), "none");
  auto r = sync_with(server, account);
  EXPECT_EQ(r.exit_code, 0) << describe(r, server);
  EXPECT_TRUE(server.errors().empty()) << describe(r, server);
  // The wire name keeps the prefix.
  const std::vector<std::string> lines = server.client_lines();
  EXPECT_TRUE(std::any_of(lines.begin(), lines.end(), [](const std::string& line) {
    return line.find("EXAMINE INBOX.Lists.dev") != std::string::npos;
  })) << describe(r, server);
  EXPECT_EQ(message_files(account.maildir / "INBOX").size(), 1u) << describe(r, server);
  EXPECT_EQ(message_files(account.maildir / "Lists" / "dev").size(), 1u) << describe(r, server);
  EXPECT_FALSE(fs::exists(account.maildir / "INBOX" / "Lists")) << describe(r, server);
  // The state is kept under the local name too.
  bool local_state = false;
  for (const auto& path : tree(account.state)) {
    EXPECT_EQ(path.find("INBOX.Lists"), std::string::npos) << path;
    local_state = local_state || path.find("Lists.dev") != std::string::npos;
  }
  EXPECT_TRUE(local_state) << describe(r, server);
}

TEST(Namespace, UseNamespaceNoKeepsThePrefixAndSendsNoNamespace) {
  FakeImapServer server(
      script({greeting("IMAP4rev1 NAMESPACE"), on("LOGIN *", "$TAG OK logged in\r\n"),
              on("CAPABILITY", "* CAPABILITY IMAP4rev1 NAMESPACE\r\n$TAG OK\r\n"),
              pull_inbox_and("INBOX.Lists")}));
  auto account = make_account(server.port(), "none", {"use_namespace = no"});
  auto r = sync_with(server, account);
  EXPECT_EQ(r.exit_code, 0) << describe(r, server);
  EXPECT_FALSE(server.received("NAMESPACE")) << describe(r, server);
  EXPECT_EQ(message_files(account.maildir / "INBOX" / "Lists").size(), 1u) << describe(r, server);
}

// A reply that is well-formed but cannot be trusted for the mapping (here a
// prefix that does not end in its delimiter, so that "INBOX.Lists" would
// become ".Lists"): nothing is stripped, and the user is told why.
TEST(Namespace, UnusablePrefixIsNotStrippedAndSaysSo) {
  FakeImapServer server(
      script({namespace_login_steps("* NAMESPACE ((\"INBOX\" \".\")) NIL NIL\r\n"),
              pull_inbox_and("INBOX.Lists")}));
  auto account = make_account(server.port(), "none");
  auto r = sync_with(server, account);
  EXPECT_EQ(r.exit_code, 0) << describe(r, server);
  EXPECT_NE(r.err.find("roam: note: "), std::string::npos) << describe(r, server);
  EXPECT_NE(r.err.find("does not end in its hierarchy delimiter"), std::string::npos)
      << describe(r, server);
  EXPECT_EQ(message_files(account.maildir / "INBOX" / "Lists").size(), 1u) << describe(r, server);
}

TEST(Namespace, MalformedReplyFailsCleanlyAndNamesTheWayOut) {
  FakeImapServer server(script(
      {namespace_login_steps("* NAMESPACE ((\"INBOX.\" \".\" \"X\")) NIL NIL\r\n"), {stall()}}));
  auto account = make_account(server.port(), "none");
  auto r = sync_with(server, account);
  expect_clean_failure(r, server);
  EXPECT_NE(r.err.find("NAMESPACE"), std::string::npos) << describe(r, server);
  EXPECT_NE(r.err.find("use_namespace = no"), std::string::npos) << describe(r, server);
  // LIST went out with NAMESPACE (one round trip for both); nothing follows
  // the broken reply.
  EXPECT_FALSE(server.received("SELECT")) << describe(r, server);
  EXPECT_FALSE(server.received("EXAMINE")) << describe(r, server);
}

// Stripping the prefix makes no name safe: what is left still faces the
// checks of HostileName, and a folder that would become INBOX is refused.
TEST(Namespace, StrippedNamesAreStillChecked) {
  FakeImapServer server(
      script({namespace_login_steps(k_courier_namespace),
              on("LIST *",
                 "* LIST () \".\" INBOX\r\n* LIST () \".\" \"INBOX...\"\r\n"
                 "* LIST () \".\" \"INBOX.INBOX\"\r\n* LIST () \"/\" \"INBOX./tmp/evil\"\r\n"
                 "$TAG OK\r\n"),
              inbox_with_one(k_message), logout_steps()}));
  auto account = make_account(server.port(), "none");
  auto r = sync_with(server, account);
  expect_clean_failure(r, server);
  EXPECT_NE(r.err.find("refused folder name \"..\""), std::string::npos) << describe(r, server);
  EXPECT_NE(r.err.find("refused folder name \"/tmp/evil\""), std::string::npos)
      << describe(r, server);
  EXPECT_NE(r.err.find("INBOX.INBOX: not synced: without the namespace prefix its name would be "
                       "INBOX"),
            std::string::npos)
      << describe(r, server);
  for (const auto& line : server.client_lines()) {
    if (line.find("EXAMINE") != std::string::npos) {
      EXPECT_NE(line.find("EXAMINE INBOX"), std::string::npos) << "opened a refused folder";
      EXPECT_EQ(line.find("EXAMINE INBOX."), std::string::npos) << "opened a refused folder";
    }
  }
  EXPECT_EQ(message_files(account.maildir / "INBOX").size(), 1u) << describe(r, server);
  for (const auto& path : tree(account.work)) {
    EXPECT_TRUE(path == "roam.conf" || path == "root" || path == "root/Mail" ||
                path == "root/Mail/.roam-account" || path.rfind("root/Mail/INBOX", 0) == 0 ||
                path.rfind("state", 0) == 0)
        << "created outside the Maildir root or beside INBOX: " << path << "\n"
        << describe(r, server);
  }
  EXPECT_FALSE(fs::exists("/tmp/evil"));
}

}  // namespace
}  // namespace roam::it
