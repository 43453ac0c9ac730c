#include "cli/config.hpp"

#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <fstream>
#include <optional>

#include "fakes/process.hpp"
#include "fakes/temp_dir.hpp"
#include "util/error.hpp"

namespace roam::cli {
namespace {

// A scratch directory that is also $HOME for the test (so "~" and the
// default state directory land inside it), restoring the environment after.
class ConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "roam-config-test-XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    m_dir = pattern;
    save_env("HOME");
    save_env("XDG_STATE_HOME");
    save_env("XDG_CONFIG_HOME");
    ::setenv("HOME", m_dir.c_str(), 1);
    ::unsetenv("XDG_STATE_HOME");
    ::unsetenv("XDG_CONFIG_HOME");
  }

  void TearDown() override {
    for (const auto& [name, value] : m_saved_env) {
      if (value) {
        ::setenv(name.c_str(), value->c_str(), 1);
      } else {
        ::unsetenv(name.c_str());
      }
    }
    std::error_code ec;
    std::filesystem::remove_all(m_dir, ec);
  }

  // Writes `text` as a private config file and returns its path.
  std::filesystem::path write_config(const std::string& text, unsigned mode = 0600) {
    auto path = m_dir / "config";
    {
      std::ofstream out(path, std::ios::binary | std::ios::trunc);
      out << text;
    }
    ::chmod(path.c_str(), static_cast<mode_t>(mode));
    return path;
  }

  const std::filesystem::path& home() const { return m_dir; }

 private:
  void save_env(const std::string& name) {
    const char* value = std::getenv(name.c_str());
    m_saved_env.emplace_back(name, value ? std::optional<std::string>(value) : std::nullopt);
  }

  std::filesystem::path m_dir;
  std::vector<std::pair<std::string, std::optional<std::string>>> m_saved_env;
};

const std::string k_minimal =
    "[account.work]\n"
    "host = imap.example.org\n"
    "user = alice\n"
    "password = secret\n"
    "maildir = ~/Mail/work\n";

TEST_F(ConfigTest, HooksAreOptionalAndKeptAsWritten) {
  auto plain = load_config(write_config(k_minimal));
  EXPECT_EQ(plain.accounts[0].pre_sync_cmd, "");
  EXPECT_EQ(plain.accounts[0].post_sync_cmd, "");
  // Quotes keep a '#' after a space and the shell's own quoting.
  auto config =
      load_config(write_config(k_minimal + "pre_sync_cmd = notmuch tag -inbox tag:deleted\n" +
                               "post_sync_cmd = \"notmuch new --quiet # index; echo 'done'\"\n"));
  EXPECT_EQ(config.accounts[0].pre_sync_cmd, "notmuch tag -inbox tag:deleted");
  EXPECT_EQ(config.accounts[0].post_sync_cmd, "notmuch new --quiet # index; echo 'done'");
}

TEST_F(ConfigTest, PlaintextIsAllowedOnLoopbackWithoutAsking) {
  auto config = load_config(
      write_config("[account.local]\nhost = 127.0.0.1\ntls = none\nuser = a\npassword = b\n"
                   "maildir = ~/Mail/local\n"));
  ASSERT_EQ(config.accounts.size(), 1u);
  EXPECT_EQ(config.accounts[0].port, 143);
  EXPECT_FALSE(config.accounts[0].allow_plaintext);
}

TEST_F(ConfigTest, MaxDeletePercentIsReadAndChecked) {
  auto config = load_config(write_config(k_minimal + "max_delete_percent = 20\n"));
  EXPECT_EQ(config.accounts[0].max_delete_percent, 20);
  EXPECT_EQ(load_config(write_config(k_minimal)).accounts[0].max_delete_percent, 50);
  try {
    load_config(write_config(k_minimal + "max_delete_percent = 101\n"));
    FAIL() << "no error";
  } catch (const util::Error& e) {
    EXPECT_NE(std::string(e.what()).find("line 6"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("0 to 100"), std::string::npos) << e.what();
  }
}

TEST_F(ConfigTest, MaxMessageSizeTakesSuffixesAndIsChecked) {
  EXPECT_EQ(load_config(write_config(k_minimal)).accounts[0].max_message_size, 1ull << 30);
  const std::vector<std::pair<std::string, std::uint64_t>> good = {
      {"12345", 12345},   {"64K", 64ull << 10},     {"50m", 50ull << 20},
      {"2G", 2ull << 30}, {"1024G", 1024ull << 30}, {"\"3M\"", 3ull << 20}};
  for (const auto& [text, bytes] : good) {
    auto config = load_config(write_config(k_minimal + "max_message_size = " + text + "\n"));
    EXPECT_EQ(config.accounts[0].max_message_size, bytes) << text;
  }
  for (const char* bad :
       {"0", "0G", "1025G", "1.5G", "10T", "10 M", "-1", "M", "12KB", "99999999999999999999"}) {
    try {
      load_config(write_config(k_minimal + "max_message_size = " + bad + "\n"));
      FAIL() << "no error for " << bad;
    } catch (const util::Error& e) {
      EXPECT_NE(std::string(e.what()).find("line 6"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("K, M or G"), std::string::npos) << e.what();
    }
  }
}

TEST_F(ConfigTest, MinimalAccountGetsDefaults) {
  auto config = load_config(write_config(k_minimal));
  ASSERT_EQ(config.accounts.size(), 1u);
  const auto& a = config.accounts[0];
  EXPECT_EQ(a.name, "work");
  EXPECT_EQ(a.line, 1);
  EXPECT_EQ(a.host, "imap.example.org");
  EXPECT_EQ(a.port, 993);
  EXPECT_EQ(a.tls, net::TlsMode::Implicit);
  EXPECT_EQ(a.user, "alice");
  EXPECT_EQ(a.password, "secret");
  EXPECT_TRUE(a.pass_cmd.empty());
  EXPECT_EQ(a.maildir, home() / "Mail" / "work");
  EXPECT_EQ(a.state_dir, home() / ".local" / "state" / "roam" / "work");
  EXPECT_EQ(a.layout, maildir::Layout::Verbatim);
  EXPECT_EQ(a.folders, std::vector<std::string>{"*"});
  EXPECT_EQ(a.sync, sync::Direction::Both);
  EXPECT_TRUE(a.expunge);
  EXPECT_TRUE(a.create);
  EXPECT_TRUE(a.use_namespace);
  EXPECT_FALSE(a.allow_plaintext);
  EXPECT_EQ(a.compress, AccountConfig::Compress::Auto);
  EXPECT_EQ(a.auth, imap::AuthMechanism::Auto);
  EXPECT_EQ(a.timeout, std::chrono::seconds(60));
  EXPECT_EQ(a.connections, 4u);
  EXPECT_EQ(a.watch, std::vector<std::string>{"INBOX"});
  EXPECT_EQ(a.watch_interval, std::chrono::minutes(15));
  EXPECT_TRUE(a.ca_file.empty());
  EXPECT_TRUE(a.cert_fingerprint_sha256.empty());
  EXPECT_EQ(config.find_account("work"), &config.accounts[0]);
  EXPECT_EQ(config.find_account("home"), nullptr);
}

TEST_F(ConfigTest, EveryKeyIsParsed) {
  auto ca = home() / "ca.pem";
  std::ofstream(ca) << "x";
  auto config =
      load_config(write_config("# leading comment\n"
                               "; another\n"
                               "[account.a-1.b_c]   # trailing comment\n"
                               "host = mail.example.net\n"
                               "port = 1143 ; inline\n"
                               "tls = STARTTLS\n"
                               "user = bob@example.net\n"
                               "pass_cmd = pass show \"mail/a #1\"  # the quote keeps the #\n"
                               "maildir = /srv/mail/a/\n"
                               "state_dir = ~/state/a\n"
                               "layout = maildir++\n"
                               "folders = INBOX \"Sent Items\" Archive/* !Archive/Old\n"
                               "sync = pull\n"
                               "expunge = off\n"
                               "create = 0\n"
                               "use_namespace = no\n"
                               "ca_file = ~/ca.pem\n"
                               "cert_fingerprint = SHA256:" +
                               std::string(31, 'A') + ":" + std::string(33, 'b') +
                               "\n"
                               "allow_plaintext = true\n"
                               "compress = no\n"
                               "auth = xoauth2\n"
                               "timeout = 15\n"
                               "connections = 12\n"
                               "watch = INBOX Lists/*\n"
                               "watch_interval = 1h\n"));
  ASSERT_EQ(config.accounts.size(), 1u);
  const auto& a = config.accounts[0];
  EXPECT_EQ(a.name, "a-1.b_c");
  EXPECT_EQ(a.line, 3);
  EXPECT_EQ(a.port, 1143);
  EXPECT_EQ(a.tls, net::TlsMode::StartTls);
  EXPECT_EQ(a.pass_cmd, "pass show \"mail/a #1\"");
  EXPECT_EQ(a.maildir, "/srv/mail/a");
  EXPECT_EQ(a.state_dir, home() / "state" / "a");
  EXPECT_EQ(a.layout, maildir::Layout::MaildirPlusPlus);
  EXPECT_EQ(a.folders,
            (std::vector<std::string>{"INBOX", "Sent Items", "Archive/*", "!Archive/Old"}));
  EXPECT_EQ(a.sync, sync::Direction::Pull);
  EXPECT_FALSE(a.expunge);
  EXPECT_FALSE(a.create);
  EXPECT_FALSE(a.use_namespace);
  EXPECT_EQ(a.ca_file, ca);
  EXPECT_EQ(a.cert_fingerprint_sha256, std::string(31, 'a') + std::string(33, 'b'));
  EXPECT_TRUE(a.allow_plaintext);
  EXPECT_EQ(a.compress, AccountConfig::Compress::No);
  EXPECT_EQ(a.auth, imap::AuthMechanism::XOAuth2);
  EXPECT_EQ(a.timeout, std::chrono::seconds(15));
  EXPECT_EQ(a.connections, 12u);
  EXPECT_EQ(a.watch, (std::vector<std::string>{"INBOX", "Lists/*"}));
  EXPECT_EQ(a.watch_interval, std::chrono::hours(1));
}

// The spellings of issue #11, which an importer of mbsync and OfflineIMAP
// configurations writes.
TEST_F(ConfigTest, LayoutsFlatSeparatorAndInboxAreRead) {
  auto legacy = load_config(write_config(k_minimal + "layout = legacy\ninbox = ~/Maildir/\n"));
  const AccountConfig& a = legacy.accounts[0];
  EXPECT_EQ(a.layout, maildir::Layout::Legacy);
  ASSERT_TRUE(a.inbox.has_value());
  EXPECT_EQ(*a.inbox, home() / "Maildir");
  EXPECT_EQ(a.tree().inbox_path(), home() / "Maildir");
  EXPECT_EQ(a.tree().root, a.maildir);

  auto flat = load_config(write_config(k_minimal + "layout = flat\nflat_separator = _\n"));
  EXPECT_EQ(flat.accounts[0].layout, maildir::Layout::Flat);
  EXPECT_EQ(flat.accounts[0].flat_separator, '_');
  EXPECT_EQ(flat.accounts[0].tree().separator, '_');
  EXPECT_FALSE(flat.accounts[0].inbox.has_value());

  auto dotted = load_config(write_config(k_minimal + "layout = flat\n"));
  EXPECT_EQ(dotted.accounts[0].flat_separator, '.');

  // An inbox inside the root is the usual mbsync setup (Inbox ~/Mail/acct/Inbox).
  auto inside = load_config(write_config(k_minimal + "inbox = ~/Mail/work/Inbox\n"));
  EXPECT_EQ(inside.accounts[0].tree().tops(),
            std::vector<std::filesystem::path>{home() / "Mail" / "work"});
}

TEST_F(ConfigTest, WatchIntervalTakesSecondsOrAUnit) {
  for (const auto& [text, seconds] : std::vector<std::pair<std::string, long>>{
           {"900", 900}, {"90s", 90}, {"15m", 900}, {"2H", 7200}, {"24h", 86400}}) {
    auto config = load_config(write_config(k_minimal + "watch_interval = " + text + "\n"));
    EXPECT_EQ(config.accounts[0].watch_interval.count(), seconds) << text;
  }
}

TEST_F(ConfigTest, PortDefaultFollowsTls) {
  auto config = load_config(write_config(k_minimal + "tls = starttls\n"));
  EXPECT_EQ(config.accounts[0].port, 143);
  config = load_config(write_config(k_minimal + "tls = none\nallow_plaintext = yes\n"));
  EXPECT_EQ(config.accounts[0].port, 143);
  EXPECT_EQ(config.accounts[0].tls, net::TlsMode::None);
}

TEST_F(ConfigTest, QuotedValuesKeepHashesAndSpaces) {
  auto config = load_config(
      write_config("[account.work]\nhost = h\nuser = \"  spaced user \"\n"
                   "password = \"p#ss; \\\"word\\\" \\\\ end\" # comment\nmaildir = ~/M\n"));
  EXPECT_EQ(config.accounts[0].user, "  spaced user ");
  EXPECT_EQ(config.accounts[0].password, "p#ss; \"word\" \\ end");
}

TEST_F(ConfigTest, HashWithoutSpaceIsPartOfTheValue) {
  auto config = load_config(
      write_config("[account.work]\nhost = h\nuser = u\npassword = pa#ss;word\nmaildir = ~/M\n"));
  EXPECT_EQ(config.accounts[0].password, "pa#ss;word");
}

TEST_F(ConfigTest, StateDirFollowsXdgStateHome) {
  ::setenv("XDG_STATE_HOME", "/var/lib/xdg-state", 1);
  auto config = load_config(write_config(k_minimal));
  EXPECT_EQ(config.accounts[0].state_dir, "/var/lib/xdg-state/roam/work");
  // A relative XDG_STATE_HOME is ignored, as the XDG spec says.
  ::setenv("XDG_STATE_HOME", "relative", 1);
  config = load_config(write_config(k_minimal));
  EXPECT_EQ(config.accounts[0].state_dir, home() / ".local/state/roam/work");
}

TEST_F(ConfigTest, SeveralAccountsKeepFileOrder) {
  auto config = load_config(write_config(
      k_minimal + "\n[account.home]\nhost = h2\nuser = u2\npass_cmd = printf x\nmaildir = ~/H\n"));
  ASSERT_EQ(config.accounts.size(), 2u);
  EXPECT_EQ(config.accounts[1].name, "home");
  EXPECT_EQ(config.accounts[1].line, 7);
  EXPECT_EQ(config.accounts[1].pass_cmd, "printf x");
}

TEST_F(ConfigTest, CrLfLineEndsAreAccepted) {
  auto config = load_config(
      write_config("[account.work]\r\nhost = h\r\nuser = u\r\npassword = p\r\nmaildir = ~/M\r\n"));
  EXPECT_EQ(config.accounts[0].password, "p");
}

TEST_F(ConfigTest, SampleConfIsValid) {
  auto config = load_config(
      (std::filesystem::path(ROAM_TEST_DATA_DIR) / ".." / ".." / "sample.conf").lexically_normal());
  ASSERT_EQ(config.accounts.size(), 1u);
  EXPECT_EQ(config.accounts[0].name, "work");
  EXPECT_EQ(config.accounts[0].pass_cmd, "pass show mail/work");
  EXPECT_EQ(config.accounts[0].folders, (std::vector<std::string>{"*", "!Junk", "!Deleted Items"}));
}

struct ErrorCase {
  const char* label;
  std::string text;
  int line;
  const char* expected;  // A fragment the message must contain.
};

class ConfigErrorTest : public ConfigTest, public ::testing::WithParamInterface<ErrorCase> {};

TEST_P(ConfigErrorTest, NamesFileAndLine) {
  auto path = write_config(GetParam().text);
  try {
    load_config(path);
    FAIL() << "no error for " << GetParam().label;
  } catch (const util::Error& e) {
    std::string message = e.what();
    EXPECT_EQ(e.scope(), util::Scope::Usage);
    EXPECT_NE(message.find(path.string()), std::string::npos) << message;
    EXPECT_NE(message.find("line " + std::to_string(GetParam().line) + ":"), std::string::npos)
        << message;
    EXPECT_NE(message.find(GetParam().expected), std::string::npos) << message;
  }
}

const std::string k_head = "[account.work]\nhost = h\nuser = u\npassword = p\n";  // Lines 1-4.
const std::string k_body = "host = h\nuser = u\npassword = p\nmaildir = ~/M\n";

INSTANTIATE_TEST_SUITE_P(
    Table, ConfigErrorTest,
    ::testing::Values(
        ErrorCase{"unknown key", k_head + "maildir = ~/M\nhots = x\n", 6, "unknown key 'hots'"},
        ErrorCase{"compress neither auto nor yes nor no",
                  k_head + "maildir = ~/M\ncompress = max\n", 6,
                  "compress must be auto (on unless the host is on loopback), yes or no"},
        // Two accounts on one Maildir upload each other's mail, and a
        // deletion on one server deletes the other's files.
        ErrorCase{"shared maildir", "[account.work]\n" + k_body + "[account.home]\n" + k_body, 10,
                  "accounts work (line 5) and home both use maildir"},
        ErrorCase{"shared maildir spelled differently",
                  "[account.work]\n" + k_body + "[account.home]\n" + k_head.substr(15) +
                      "maildir = ~/X/../M/\n",
                  10, "and home both use maildir"},
        ErrorCase{"nested maildir",
                  "[account.work]\n" + k_body + "[account.home]\n" + k_head.substr(15) +
                      "maildir = ~/M/home\n",
                  10, "accounts work (line 5) and home have nested maildirs"},
        ErrorCase{"shared state_dir",
                  "[account.work]\n" + k_body + "state_dir = ~/S\n[account.home]\n" +
                      k_head.substr(15) + "maildir = ~/H\nstate_dir = ~/S/\n",
                  12, "accounts work (line 6) and home both use state_dir"},
        ErrorCase{"unknown key lists allowed", k_head + "Host = x\n", 5,
                  "allowed: allow_plaintext"},
        ErrorCase{"duplicate key", k_head + "maildir = ~/M\nhost = x\n", 6,
                  "duplicate key 'host' (first set on line 2)"},
        ErrorCase{"duplicate section", "[account.work]\n" + k_body + "[account.work]\n" + k_body, 6,
                  "defined twice (first on line 1)"},
        ErrorCase{"key outside a section", "# c\nhost = h\n", 2, "outside a section"},
        ErrorCase{"unknown section", "[general]\n", 1, "sections are [account.NAME]"},
        ErrorCase{"bad account name", "\n[account.my work]\n" + k_body, 2, "A-Z a-z 0-9"},
        ErrorCase{"dot-dot account name", "[account..]\n" + k_body, 1, "must consist of"},
        ErrorCase{"header without bracket", "[account.work\n", 1, "without ']'"},
        ErrorCase{"text after header", "[account.work] x\n", 1, "after the section header"},
        ErrorCase{"no equals sign", k_head + "maildir\n", 5, "expected 'key = value'"},
        ErrorCase{"missing host", "\n[account.work]\nuser = u\npassword = p\nmaildir = ~/M\n", 2,
                  "no 'host' key"},
        ErrorCase{"missing user", "[account.work]\nhost = h\npassword = p\nmaildir = ~/M\n", 1,
                  "no 'user' key"},
        ErrorCase{"missing maildir", k_head, 1, "no 'maildir' key"},
        ErrorCase{"missing password", "[account.work]\nhost = h\nuser = u\nmaildir = ~/M\n", 1,
                  "set password or pass_cmd"},
        ErrorCase{"password and pass_cmd", k_head + "maildir = ~/M\npass_cmd = x\n", 6, "not both"},
        ErrorCase{"empty value", k_head + "maildir =\n", 5, "has no value"},
        ErrorCase{"comment-only value", k_head + "maildir = # x\n", 5, "has no value"},
        ErrorCase{"empty quoted value", k_head + "maildir = \"\"\n", 5, "empty value"},
        ErrorCase{"unterminated quote", k_head + "maildir = \"~/M\n", 5, "unterminated"},
        ErrorCase{"text after quote", k_head + "maildir = \"~/M\" x\n", 5, "after the closing"},
        ErrorCase{"bad port", k_head + "maildir = ~/M\nport = 99999\n", 6, "1 to 65535"},
        ErrorCase{"port zero", k_head + "maildir = ~/M\nport = 0\n", 6, "1 to 65535"},
        ErrorCase{"port not a number", k_head + "maildir = ~/M\nport = imaps\n", 6, "1 to 65535"},
        ErrorCase{"bad tls", k_head + "maildir = ~/M\ntls = ssl\n", 6,
                  "implicit, starttls or none"},
        ErrorCase{"plaintext not allowed", k_head + "maildir = ~/M\ntls = none\n", 6,
                  "allow_plaintext = yes"},
        ErrorCase{"bad layout", k_head + "maildir = ~/M\nlayout = nested\n", 6,
                  "verbatim, maildir++, legacy or flat"},
        // The layouts and keys an importer of mbsync and OfflineIMAP
        // configurations emits.
        ErrorCase{"flat_separator without flat", k_head + "maildir = ~/M\nflat_separator = _\n", 6,
                  "flat_separator applies to layout = flat only"},
        ErrorCase{"flat_separator with legacy",
                  k_head + "maildir = ~/M\nlayout = legacy\nflat_separator = .\n", 7,
                  "set layout = flat"},
        ErrorCase{"slash flat_separator",
                  k_head + "maildir = ~/M\nlayout = flat\nflat_separator = /\n", 7,
                  "other than '/'"},
        ErrorCase{"long flat_separator",
                  k_head + "maildir = ~/M\nlayout = flat\nflat_separator = ::\n", 7,
                  "flat_separator must be one character"},
        ErrorCase{"inbox with maildir++",
                  k_head + "maildir = ~/M\nlayout = maildir++\ninbox = ~/Inbox\n", 7,
                  "inbox cannot be used with layout = maildir++"},
        ErrorCase{"inbox is the root", k_head + "maildir = ~/M\ninbox = ~/M/\n", 6, "or holds it"},
        ErrorCase{"inbox holds the root", k_head + "maildir = ~/M/acct\ninbox = ~/M\n", 6,
                  "or holds it"},
        ErrorCase{"relative inbox", k_head + "maildir = ~/M\ninbox = Inbox\n", 6,
                  "inbox must be an absolute path"},
        ErrorCase{"inbox holds state_dir",
                  k_head + "maildir = ~/M\nstate_dir = ~/Box/.state\ninbox = ~/Box\n", 7,
                  "overlap; keep the state outside"},
        ErrorCase{"shared inbox",
                  "[account.work]\n" + k_body + "inbox = ~/Maildir\n[account.home]\n" +
                      k_head.substr(15) + "maildir = ~/H\ninbox = ~/Maildir/\n",
                  12, "accounts work (line 6) and home both use "},
        ErrorCase{"inbox inside another account's maildir",
                  "[account.work]\n" + k_body + "[account.home]\n" + k_head.substr(15) +
                      "maildir = ~/H\ninbox = ~/M/Inbox\n",
                  11, "have nested Maildir trees"},
        ErrorCase{"bad sync", k_head + "maildir = ~/M\nsync = full\n", 6, "both, pull or push"},
        ErrorCase{"bad boolean", k_head + "maildir = ~/M\nexpunge = maybe\n", 6, "yes or no"},
        ErrorCase{"bad auth", k_head + "maildir = ~/M\nauth = cram-md5\n", 6, "xoauth2"},
        ErrorCase{"bad timeout", k_head + "maildir = ~/M\ntimeout = 1.5\n", 6, "seconds"},
        ErrorCase{"zero timeout", k_head + "maildir = ~/M\ntimeout = 0\n", 6, "seconds"},
        ErrorCase{"blank pre_sync_cmd", k_head + "maildir = ~/M\npre_sync_cmd = \"  \"\n", 6,
                  "pre_sync_cmd must be a shell command"},
        ErrorCase{"blank post_sync_cmd", k_head + "maildir = ~/M\npost_sync_cmd = \"\"\n", 6,
                  "empty value"},
        ErrorCase{"empty post_sync_cmd", k_head + "maildir = ~/M\npost_sync_cmd =\n", 6,
                  "'post_sync_cmd' has no value"},
        ErrorCase{"duplicate hook", k_head + "maildir = ~/M\npre_sync_cmd = a\npre_sync_cmd = b\n",
                  7, "duplicate key 'pre_sync_cmd'"},
        ErrorCase{"zero connections", k_head + "maildir = ~/M\nconnections = 0\n", 6,
                  "connections must be a whole number from 1 to 32"},
        ErrorCase{"too many connections", k_head + "maildir = ~/M\nconnections = 33\n", 6,
                  "from 1 to 32"},
        ErrorCase{"bad connections", k_head + "maildir = ~/M\nconnections = four\n", 6,
                  "from 1 to 32"},
        ErrorCase{"empty watch pattern", k_head + "maildir = ~/M\nwatch = !\n", 6,
                  "empty folder pattern in watch"},
        ErrorCase{"watch interval too short", k_head + "maildir = ~/M\nwatch_interval = 30s\n", 6,
                  "from 1m to 24h"},
        ErrorCase{"watch interval too long", k_head + "maildir = ~/M\nwatch_interval = 2d\n", 6,
                  "such as 900, 15m or 1h"},
        ErrorCase{"watch interval a word", k_head + "maildir = ~/M\nwatch_interval = often\n", 6,
                  "watch_interval must be a duration"},
        ErrorCase{"bad fingerprint", k_head + "maildir = ~/M\ncert_fingerprint = md5:ab\n", 6,
                  "sha256:"},
        ErrorCase{"short fingerprint", k_head + "maildir = ~/M\ncert_fingerprint = sha256:abcd\n",
                  6, "64 hex digits"},
        ErrorCase{"missing ca_file", k_head + "maildir = ~/M\nca_file = ~/nope.pem\n", 6,
                  "not a readable file"},
        ErrorCase{"relative maildir", k_head + "maildir = Mail\n", 5, "absolute path"},
        ErrorCase{"state_dir inside maildir",
                  k_head + "maildir = ~/Mail\nstate_dir = ~/Mail/.roam\n", 6, "inside maildir"},
        ErrorCase{"state_dir equals maildir", k_head + "maildir = ~/Mail/\nstate_dir = ~/Mail\n", 6,
                  "inside maildir"},
        ErrorCase{"default state_dir inside maildir", k_head + "maildir = ~/.local\n", 1,
                  "inside maildir"},
        ErrorCase{"empty pattern", k_head + "maildir = ~/M\nfolders = INBOX !\n", 6,
                  "empty folder pattern"}),
    [](const ::testing::TestParamInfo<ErrorCase>& param_info) {
      std::string name;
      for (const char* p = param_info.param.label; *p != '\0'; ++p) {
        name += std::isalnum(static_cast<unsigned char>(*p)) ? *p : '_';
      }
      return name;
    });

TEST_F(ConfigTest, NoAccountIsAnError) {
  auto path = write_config("# nothing here\n");
  EXPECT_THROW(load_config(path), util::Error);
}

TEST_F(ConfigTest, MissingFileIsAnErrorNamingIt) {
  try {
    load_config(home() / "nope");
    FAIL() << "no error";
  } catch (const util::Error& e) {
    EXPECT_NE(std::string(e.what()).find((home() / "nope").string()), std::string::npos);
    EXPECT_EQ(e.scope(), util::Scope::Usage);
  }
}

TEST_F(ConfigTest, WarnsWhenOthersCanReadAPassword) {
  ::testing::internal::CaptureStderr();
  load_config(write_config(k_minimal, 0644));
  auto warned = ::testing::internal::GetCapturedStderr();
  EXPECT_NE(warned.find("can be read by other users"), std::string::npos) << warned;
  EXPECT_NE(warned.find("line 4"), std::string::npos) << warned;
  EXPECT_EQ(warned.find("secret"), std::string::npos) << warned;

  ::testing::internal::CaptureStderr();
  load_config(write_config(k_minimal, 0600));
  EXPECT_EQ(::testing::internal::GetCapturedStderr(), "");

  ::testing::internal::CaptureStderr();
  load_config(
      write_config("[account.w]\nhost = h\nuser = u\npass_cmd = printf x\nmaildir = ~/M\n", 0644));
  EXPECT_EQ(::testing::internal::GetCapturedStderr(), "");
}

// The message load_config gives for `path`, or "" if it loads. When the
// test runs as root, who may read any file, it loads as user nobody in a
// child process, so that a permission can be denied at all.
std::string load_error(const std::filesystem::path& path, bool as_unprivileged) {
  auto message_of = [&]() -> std::string {
    try {
      load_config(path);
      return "";
    } catch (const util::Error& e) {
      return (e.scope() == util::Scope::Usage ? "usage: " : "other: ") + std::string(e.what());
    }
  };
  if (!as_unprivileged || ::geteuid() != 0) {
    return message_of();
  }
  int fds[2];
  if (::pipe(fds) != 0) {
    return "pipe failed";
  }
  pid_t child = ::fork();
  if (child == 0) {
    ::close(fds[0]);
    std::string message = "setuid failed";
    if (::setgid(65534) == 0 && ::setuid(65534) == 0) {
      message = message_of();
    }
    ssize_t ignored = ::write(fds[1], message.data(), message.size());
    (void)ignored;
    ::_exit(0);
  }
  ::close(fds[1]);
  std::string message;
  char buf[4096];
  ssize_t n = 0;
  while ((n = ::read(fds[0], buf, sizeof buf)) > 0) {
    message.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fds[0]);
  int status = 0;
  ::waitpid(child, &status, 0);
  return message;
}

TEST_F(ConfigTest, UnreadableConfigSaysWhyInsteadOfCreateIt) {
  // A file that exists but may not be read was reported as "create the
  // configuration file", which sends the user the wrong way.
  auto path = write_config(k_minimal, 0000);
  ::chmod(home().c_str(), 0755);
  std::string message = load_error(path, true);
  EXPECT_EQ(message.rfind("usage: ", 0), 0u) << message;
  EXPECT_NE(message.find(path.string()), std::string::npos) << message;
  EXPECT_NE(message.find("Permission denied"), std::string::npos) << message;
  EXPECT_NE(message.find("may not be read by this user"), std::string::npos) << message;
  EXPECT_EQ(message.find("create"), std::string::npos) << message;
}

TEST_F(ConfigTest, MissingConfigSaysCreateIt) {
  std::string message = load_error(home() / "absent", false);
  EXPECT_EQ(message.rfind("usage: ", 0), 0u) << message;
  EXPECT_NE(message.find("no configuration file " + (home() / "absent").string()),
            std::string::npos)
      << message;
  EXPECT_NE(message.find("create it"), std::string::npos) << message;
}

TEST_F(ConfigTest, DirectoryAsConfigSaysSo) {
  std::string message = load_error(home(), false);
  EXPECT_NE(message.find("is a directory, not a configuration file"), std::string::npos) << message;
}

TEST_F(ConfigTest, DefaultConfigPath) {
  EXPECT_EQ(default_config_path(), home() / ".config" / "roam" / "config");
  ::setenv("XDG_CONFIG_HOME", "/etc/xdg-config", 1);
  EXPECT_EQ(default_config_path(), std::filesystem::path("/etc/xdg-config/roam/config"));
}

AccountConfig account_with_command(const std::string& command) {
  AccountConfig account;
  account.name = "work";
  account.pass_cmd = command;
  return account;
}

using fakes::ends_within;
using fakes::pid_from;

TEST(ResolvePassword, ReturnsTheConfiguredPassword) {
  AccountConfig account;
  account.name = "work";
  account.password = "hunter2";
  EXPECT_EQ(resolve_password(account), "hunter2");
}

TEST(ResolvePassword, RunsPassCmdAndKeepsTheFirstLine) {
  EXPECT_EQ(resolve_password(account_with_command("printf secret")), "secret");
  EXPECT_EQ(resolve_password(account_with_command("printf 'secret\\n'")), "secret");
  EXPECT_EQ(resolve_password(account_with_command("printf 'pa ss\\r\\nline two\\n'")), "pa ss");
  // Large output is drained without blocking the command.
  EXPECT_EQ(resolve_password(account_with_command("echo first; seq 1 200000")), "first");
}

TEST(ResolvePassword, FailureNamesTheAccountButNotTheSecret) {
  struct Row {
    const char* command;
    const char* expected;
  };
  const Row rows[] = {
      {"false", "exit status 1"},
      {"printf leaked-secret; exit 3", "exit status 3"},
      {"printf ''", "no password"},
      {"printf '\\nleaked-secret'", "no password"},
      {"/nonexistent/command-for-roam-test", "exit status 127"},
      {"kill -9 $$", "signal 9"},
  };
  for (const auto& row : rows) {
    try {
      resolve_password(account_with_command(row.command));
      ADD_FAILURE() << "no error for " << row.command;
    } catch (const util::Error& e) {
      std::string message = e.what();
      EXPECT_EQ(e.scope(), util::Scope::Account);
      EXPECT_NE(message.find("account work"), std::string::npos) << message;
      EXPECT_NE(message.find(row.expected), std::string::npos) << message;
      EXPECT_EQ(message.find("leaked-secret"), std::string::npos) << message;
    }
  }
}

TEST(ResolvePassword, AHangingCommandTimesOutAndItsWholeGroupIsKilled) {
  // A pass_cmd that hangs (a pinentry nobody answers) used to hang roam
  // forever, and the command outlived roam.
  fakes::TempDir dir;
  auto shell_pid = dir.path() / "shell";
  auto background_pid = dir.path() / "background";
  auto account =
      account_with_command("printf leaked-secret; echo $$ > " + shell_pid.string() +
                           "; sleep 1000 & echo $! > " + background_pid.string() + "; sleep 1000");
  account.timeout = std::chrono::seconds(1);
  auto start = std::chrono::steady_clock::now();
  try {
    resolve_password(account);
    ADD_FAILURE() << "no error";
  } catch (const util::Error& e) {
    std::string message = e.what();
    EXPECT_EQ(e.scope(), util::Scope::Account);
    EXPECT_NE(message.find("pass_cmd of account work timed out"), std::string::npos) << message;
    EXPECT_NE(message.find("timeout of 1 s"), std::string::npos) << message;
    EXPECT_NE(message.find("[account.work]"), std::string::npos) << message;
    EXPECT_EQ(message.find("leaked-secret"), std::string::npos) << message;
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  pid_t shell = pid_from(shell_pid);
  pid_t background = pid_from(background_pid);
  ASSERT_GT(shell, 0);
  ASSERT_GT(background, 0);
  EXPECT_TRUE(ends_within(shell, std::chrono::seconds(2)));
  EXPECT_TRUE(ends_within(background, std::chrono::seconds(2)));
}

TEST(ResolvePassword, ACommandThatClosesItsOutputButRunsOnTimesOut) {
  auto account = account_with_command("printf secret; exec >&-; sleep 1000");
  account.timeout = std::chrono::seconds(1);
  try {
    resolve_password(account);
    ADD_FAILURE() << "no error";
  } catch (const util::Error& e) {
    EXPECT_NE(std::string(e.what()).find("timed out"), std::string::npos) << e.what();
  }
}

TEST(ResolvePassword, TheCommandDiesWithRoam) {
  // roam killed (SIGKILL: no handler of roam's runs) while pass_cmd hangs:
  // the command and what it started must not live on.
  fakes::TempDir dir;
  auto shell_pid = dir.path() / "shell";
  auto background_pid = dir.path() / "background";
  auto account =
      account_with_command("echo $$ > " + shell_pid.string() + "; sleep 1000 & echo $! > " +
                           background_pid.string() + "; sleep 1000");
  account.timeout = std::chrono::seconds(600);
  pid_t roam = ::fork();
  ASSERT_GE(roam, 0);
  if (roam == 0) {
    try {
      resolve_password(account);
    } catch (...) {
    }
    ::_exit(0);
  }
  pid_t shell = pid_from(shell_pid);
  pid_t background = pid_from(background_pid);
  ::kill(roam, SIGKILL);
  int status = 0;
  ::waitpid(roam, &status, 0);
  ASSERT_GT(shell, 0);
  ASSERT_GT(background, 0);
  EXPECT_TRUE(ends_within(shell, std::chrono::seconds(3)));
  EXPECT_TRUE(ends_within(background, std::chrono::seconds(3)));
}

TEST(FolderSelected, PatternTable) {
  struct Row {
    std::vector<std::string> patterns;
    std::string folder;
    bool selected;
  };
  const Row rows[] = {
      {{"*"}, "INBOX", true},
      {{"*"}, "Archive/2024/Q1", true},
      {{}, "INBOX", false},
      {{"INBOX"}, "INBOX", true},
      {{"INBOX"}, "inbox", true},
      {{"inbox"}, "INBOX", true},
      {{"INBOX"}, "Sent", false},
      {{"Sent"}, "sent", false},
      {{"%"}, "Archive", true},
      {{"%"}, "Archive/2024", false},
      {{"Archive/%"}, "Archive/2024", true},
      {{"Archive/%"}, "Archive/2024/Q1", false},
      {{"Archive/*"}, "Archive/2024/Q1", true},
      {{"Archive/*"}, "Archive", false},
      {{"Arch*"}, "Archive", true},
      {{"*/Q1"}, "Archive/2024/Q1", true},
      {{"%/Q1"}, "Archive/2024/Q1", false},
      {{"%/%/Q1"}, "Archive/2024/Q1", true},
      {{"A%e"}, "Archive", true},
      {{"A%e"}, "Ab/e", false},
      {{"*", "!Junk"}, "Junk", false},
      {{"*", "!Junk"}, "INBOX", true},
      {{"!Junk", "*"}, "Junk", true},  // Later patterns win.
      {{"*", "!Archive/*", "Archive/Keep"}, "Archive/Keep", true},
      {{"*", "!Archive/*", "Archive/Keep"}, "Archive/Drop", false},
      {{"*", "!Sent Items"}, "Sent Items", false},
      {{"a*b*c"}, "aXbYc", true},
      {{"a*b*c"}, "aXcYb", false},
      {{"*%*%*x"}, std::string(200, 'a'), false},
  };
  for (const auto& row : rows) {
    EXPECT_EQ(folder_selected(row.patterns, row.folder, '/'), row.selected)
        << row.folder << " with " << ::testing::PrintToString(row.patterns);
  }
}

TEST(FolderSelected, UsesTheGivenDelimiter) {
  EXPECT_TRUE(folder_selected({"%"}, "Archive/2024", '.'));
  EXPECT_FALSE(folder_selected({"%"}, "Archive.2024", '.'));
  EXPECT_TRUE(folder_selected({"Archive.%"}, "Archive.2024", '.'));
}

}  // namespace
}  // namespace roam::cli
