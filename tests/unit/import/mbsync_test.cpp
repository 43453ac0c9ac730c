#include "import/mbsync.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include "fakes/temp_dir.hpp"
#include "maildir/layout.hpp"
#include "util/error.hpp"

namespace roam::import {
namespace {

namespace fs = std::filesystem;
using mbsync::SubFolders;

// --- Helpers ---

void write(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary) << text;
}

// A Maildir folder with its .uidvalidity as mbsync writes it
// ("<uidvalidity>\n<next uid>\n") and the given files in cur/.
void make_folder(const fs::path& dir, std::uint32_t uidvalidity,
                 const std::vector<std::string>& files = {}) {
  for (const char* sub : {"cur", "new", "tmp"}) {
    fs::create_directories(dir / sub);
  }
  write(dir / ".uidvalidity", std::to_string(uidvalidity) + "\n100\n");
  for (const auto& f : files) {
    write(dir / "cur" / f, "Subject: " + f + "\n\nbody\n");
  }
}

std::string key(const PlannedAccount& a, const std::string& k) {
  for (const auto& [name, value] : a.keys) {
    if (name == k) {
      return value;
    }
  }
  return "<unset>";
}

bool has_note(const std::vector<std::string>& notes, const std::string& part) {
  return std::any_of(notes.begin(), notes.end(),
                     [&](const std::string& n) { return n.find(part) != std::string::npos; });
}

std::string all_notes(const std::vector<std::string>& notes) {
  std::string out;
  for (const auto& n : notes) {
    out += "  " + n + "\n";
  }
  return out;
}

// A temporary home with an rc file: HOME points there while the test runs,
// so "~" and mbsync's default SyncState resolve inside it.
class MbsyncRc : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* home = std::getenv("HOME");
    m_old_home = home != nullptr ? home : "";
    ::setenv("HOME", m_tmp.path().c_str(), 1);
  }
  void TearDown() override { ::setenv("HOME", m_old_home.c_str(), 1); }

  fs::path home() const { return m_tmp.path(); }

  // The rc text with $HOME replaced by the temporary home.
  fs::path rc(std::string text) const {
    for (std::size_t at; (at = text.find("$HOME")) != std::string::npos;) {
      text.replace(at, 5, home().string());
    }
    fs::path path = home() / "mbsyncrc";
    write(path, text);
    return path;
  }

  fakes::TempDir m_tmp;
  std::string m_old_home;
};

// The stores and a channel around the lines a test is about.
const char* k_account = "IMAPAccount acc\nHost mail.example.org\nUser alice\nPass secret\n";
const char* k_stores =
    "IMAPStore remote\nAccount acc\n\n"
    "MaildirStore local\nPath ~/Mail/\nInbox ~/Mail/INBOX\nSubFolders Verbatim\n\n";
const char* k_channel = "Channel work\nFar :remote:\nNear :local:\nPatterns *\n";

// --- The configuration, keyword by keyword ---

struct KeyCase {
  std::string name;
  // Lines added to the IMAPAccount section, the MaildirStore section and
  // the Channel section.
  std::string account_lines;
  std::string maildir_lines;
  std::string channel_lines;
  // Expected keys (a value of "<unset>" means the key is not written).
  std::vector<std::pair<std::string, std::string>> keys;
  // Parts of notes that must be there.
  std::vector<std::string> notes;
};

class MbsyncKeys : public MbsyncRc, public ::testing::WithParamInterface<KeyCase> {};

TEST_P(MbsyncKeys, BecomeRoamsKeysOrNotes) {
  const KeyCase& c = GetParam();
  std::string text =
      std::string("IMAPAccount acc\nHost mail.example.org\nUser alice\n") +
      (c.account_lines.find("Pass") == std::string::npos ? "Pass secret\n" : "") + c.account_lines +
      "\nIMAPStore remote\nAccount acc\n\n" + "MaildirStore local\n" +
      (c.maildir_lines.find("Maildir++") == std::string::npos ? "Path ~/Mail/\n" : "") +
      "Inbox ~/Mail/INBOX\n" +
      (c.maildir_lines.find("SubFolders") == std::string::npos &&
               c.maildir_lines.find("Inbox") == std::string::npos
           ? "SubFolders Verbatim\n"
           : "") +
      c.maildir_lines + "\nChannel work\nFar :remote:\nNear :local:\n" +
      (c.channel_lines.find("Pattern") == std::string::npos ? "Patterns *\n" : "") +
      c.channel_lines;
  std::vector<PlannedAccount> plans = read_mbsync(rc(text), {});
  ASSERT_EQ(plans.size(), 1u);
  const PlannedAccount& a = plans[0];
  EXPECT_EQ(a.name, "work");
  for (auto [k, v] : c.keys) {
    for (std::size_t at; (at = v.find("$HOME")) != std::string::npos;) {
      v.replace(at, 5, home().string());
    }
    EXPECT_EQ(key(a, k), v) << "key " << k;
  }
  for (const auto& n : c.notes) {
    EXPECT_TRUE(has_note(a.notes, n)) << "no note with \"" << n << "\" in\n" << all_notes(a.notes);
  }
}

// Rows are named after what they check; each keyword mbsync has is in one.
INSTANTIATE_TEST_SUITE_P(
    Keywords, MbsyncKeys,
    ::testing::Values(
        KeyCase{"Defaults",
                "",
                "",
                "",
                {{"host", "mail.example.org"},
                 {"tls", "starttls"},
                 {"port", "<unset>"},
                 {"user", "alice"},
                 {"password", "secret"},
                 {"auth", "auto"},
                 {"maildir", "$HOME/Mail"},
                 {"layout", "verbatim"},
                 {"inbox", "<unset>"},
                 {"folders", "*"},
                 {"sync", "both"},
                 {"expunge", "no"},
                 {"create", "no"},
                 {"use_namespace", "<unset>"}},
                {"no mbsync state found"}},
        KeyCase{"PortAndTimeout",
                "Port 1143\nTimeout 30\n",
                "",
                "",
                {{"port", "1143"}, {"timeout", "30"}},
                {}},
        KeyCase{
            "TimeoutZeroIsANote", "Timeout 0\n", "", "", {{"timeout", "<unset>"}}, {"Timeout 0"}},
        KeyCase{"SSLTypeImaps", "SSLType IMAPS\n", "", "", {{"tls", "implicit"}}, {}},
        KeyCase{"TLSTypeOf15", "TLSType STARTTLS\n", "", "", {{"tls", "starttls"}}, {}},
        KeyCase{"SSLTypeNoneAllowsPlaintextWithANote",
                "sslTYPE none\n",
                "",
                "",
                {{"tls", "none"}, {"allow_plaintext", "yes"}},
                {"unencrypted"}},
        KeyCase{"OldImapsUrlHost",
                "Host imaps://mail.example.net\n",
                "",
                "",
                {{"host", "mail.example.net"}, {"tls", "implicit"}},
                {}},
        KeyCase{"PassWithSpecialCharactersIsQuoted",
                "Pass \"a#b \\\"c\\\\\"\n",
                "",
                "",
                {{"password", "\"a#b \\\"c\\\\\""}},
                {}},
        KeyCase{"PassCmd",
                "PassCmd \"pass show mail\"\n",
                "",
                "",
                {{"pass_cmd", "pass show mail"}, {"password", "<unset>"}},
                {}},
        KeyCase{"PassCmdPlusIsStrippedWithANote",
                "PassCmd \"+gpg -d ~/p.gpg\"\n",
                "",
                "",
                {{"pass_cmd", "gpg -d ~/p.gpg"}},
                {"'+'"}},
        KeyCase{"AuthMechsLogin", "AuthMechs LOGIN\n", "", "", {{"auth", "login"}}, {}},
        KeyCase{"AuthMechsPlain", "AuthMech PLAIN\n", "", "", {{"auth", "plain"}}, {}},
        KeyCase{"AuthMechsBoth", "AuthMechs LOGIN PLAIN\n", "", "", {{"auth", "auto"}}, {}},
        KeyCase{"AuthMechsStar", "AuthMechs *\n", "", "", {{"auth", "auto"}}, {}},
        KeyCase{"AuthMechsXoauth2PointsToRoamOauth2",
                "AuthMechs XOAUTH2\n",
                "",
                "",
                {{"auth", "xoauth2"}},
                {"contrib/roam-oauth2"}},
        KeyCase{"AuthMechsCramIsANote",
                "AuthMechs CRAM-MD5\n",
                "",
                "",
                {{"auth", "auto"}},
                {"CRAM-MD5"}},
        KeyCase{"CertificateFile",
                "CertificateFile ~/ca.pem\n",
                "",
                "",
                {{"ca_file", "$HOME/ca.pem"}},
                {}},
        KeyCase{"IgnoredTlsKnobsAreNotes",
                "CipherString HIGH\nSSLVersions TLSv1.2 TLSv1.3\nSystemCertificates no\n",
                "",
                "",
                {},
                {"CipherString", "SSLVersions", "SystemCertificates"}},
        KeyCase{"PipelineDepthIsANote",
                "PipelineDepth 1\nDisableExtension MOVE\n",
                "",
                "",
                {},
                {"PipelineDepth", "DisableExtension"}},
        KeyCase{"ClientCertificateIsANote",
                "ClientCertificate ~/c.pem\n",
                "",
                "",
                {},
                {"client certificates"}},
        KeyCase{"MaildirPlusPlus",
                "",
                "SubFolders Maildir++\n",
                "",
                {{"layout", "maildir++"}, {"maildir", "$HOME/Mail/INBOX"}, {"inbox", "<unset>"}},
                {}},
        KeyCase{"Legacy", "", "SubFolders Legacy\n", "", {{"layout", "legacy"}}, {}},
        KeyCase{
            "NoSubFoldersIsVerbatim", "", "Inbox ~/Mail/INBOX\n", "", {{"layout", "verbatim"}}, {}},
        KeyCase{
            "Flatten", "", "Flatten .\n", "", {{"layout", "flat"}, {"flat_separator", "."}}, {}},
        KeyCase{"InboxElsewhere",
                "",
                "SubFolders Verbatim\nInbox ~/inbox\n",
                "",
                {{"inbox", "$HOME/inbox"}},
                {}},
        KeyCase{"AltMapIsANote", "", "AltMap yes\n", "", {}, {"AltMap"}},
        KeyCase{"InfoDelimiterIsANote", "", "InfoDelimiter !\n", "", {}, {"InfoDelimiter"}},
        KeyCase{"TrashAndMaxSizeAreNotes",
                "",
                "Trash Trash\nMaxSize 1M\n",
                "",
                {},
                {"Trash", "MaxSize"}},
        KeyCase{"PatternsWithPrefixExclusionsAndSpaces",
                "",
                "",
                "Patterns * !Junk !\"Deleted Items\" INBOX\n",
                {{"folders", "* !Junk !\"Deleted Items\" INBOX"}},
                {}},
        KeyCase{"PatternLinesAddUp",
                "",
                "",
                "Pattern %\nPattern Lists/*\n",
                {{"folders", "% Lists/*"}},
                {}},
        KeyCase{"SyncPull", "", "", "Sync Pull\n", {{"sync", "pull"}}, {}},
        KeyCase{"SyncPush", "", "", "Sync Push\n", {{"sync", "push"}}, {}},
        KeyCase{"SyncAll", "", "", "Sync All\n", {{"sync", "both"}}, {}},
        KeyCase{"SyncFull15", "", "", "Sync Full\n", {{"sync", "both"}}, {}},
        KeyCase{"SyncPullNewIsPullWithANote",
                "",
                "",
                "Sync PullNew\n",
                {{"sync", "pull"}},
                {"did not copy deletions and flag changes from the server to the Maildir"}},
        KeyCase{"SyncNewFlagsIsBothWithANote",
                "",
                "",
                "Sync New Flags\n",
                {{"sync", "both"}},
                {"did not copy deletions"}},
        KeyCase{"SyncPullPushFlags",
                "",
                "",
                "Sync Pull PushFlags\n",
                {{"sync", "both"}},
                {"did not copy new messages and deletions from the Maildir to the server"}},
        KeyCase{"ExpungeBoth", "", "", "Expunge Both\n", {{"expunge", "yes"}}, {}},
        KeyCase{"ExpungeNearIsNoWithANote",
                "",
                "",
                "Expunge Near\n",
                {{"expunge", "no"}},
                {"only in the Maildir"}},
        KeyCase{"ExpungeSlaveIsTheOldNear",
                "",
                "",
                "Expunge Slave\n",
                {{"expunge", "no"}},
                {"only in the Maildir"}},
        KeyCase{"ExpungeFarAndNearIsYes", "", "", "Expunge Far Near\n", {{"expunge", "yes"}}, {}},
        KeyCase{"CreateBoth", "", "", "Create Both\n", {{"create", "yes"}}, {}},
        KeyCase{"CreateNearIsYesWithANote",
                "",
                "",
                "Create Near\n",
                {{"create", "yes"}},
                {"only in the Maildir"}},
        KeyCase{"CreateMasterIsTheOldFar",
                "",
                "",
                "Create Master\n",
                {{"create", "yes"}},
                {"only on the server"}},
        KeyCase{"RemoveIsANote", "", "", "Remove Both\n", {}, {"Remove"}},
        KeyCase{"MaxMessagesIsANote",
                "",
                "",
                "MaxMessages 100\nExpireUnread yes\n",
                {},
                {"MaxMessages 100", "ExpireUnread"}},
        KeyCase{
            "CopyArrivalDateNoIsANote", "", "", "CopyArrivalDate no\n", {}, {"CopyArrivalDate"}},
        KeyCase{"KeywordsAreCaseInsensitive",
                "pORT 2000\n",
                "",
                "sync pUlL\n",
                {{"port", "2000"}, {"sync", "pull"}},
                {}}),
    [](const ::testing::TestParamInfo<KeyCase>& param) { return param.param.name; });

TEST_F(MbsyncRc, UseNamespaceNoAndSubscribedOnly) {
  std::vector<PlannedAccount> plans =
      read_mbsync(rc(std::string(k_account) +
                     "\nIMAPStore remote\nAccount acc\nUseNamespace no\nSubscribedOnly yes\n\n" +
                     "MaildirStore local\nPath ~/Mail/\nInbox ~/Mail/INBOX\n\n" + k_channel),
                  {});
  ASSERT_EQ(plans.size(), 1u);
  EXPECT_EQ(key(plans[0], "use_namespace"), "no");
  EXPECT_TRUE(has_note(plans[0].notes, "SubscribedOnly"));
}

TEST_F(MbsyncRc, InlineAccountKeysInTheImapStore) {
  std::vector<PlannedAccount> plans = read_mbsync(
      rc("IMAPStore remote\nHost imap.example.net\nUser bob\nPassCmd \"echo x\"\n\n" +
         std::string("MaildirStore local\nPath ~/Mail/\nInbox ~/Mail/INBOX\n\n") + k_channel),
      {});
  ASSERT_EQ(plans.size(), 1u);
  EXPECT_EQ(key(plans[0], "host"), "imap.example.net");
  EXPECT_EQ(key(plans[0], "user"), "bob");
  EXPECT_EQ(key(plans[0], "pass_cmd"), "echo x");
}

TEST_F(MbsyncRc, GlobalSyncSettingsApplyToChannelsWithoutTheirOwn) {
  std::vector<PlannedAccount> plans = read_mbsync(
      rc("Sync Pull\nExpunge Both\nCreate Near\n\n" + std::string(k_account) + "\n" + k_stores +
         "MaildirStore other\nPath ~/Other/\nInbox ~/Other/INBOX\n\n" + k_channel +
         "\nChannel own\nFar :remote:\nNear :other:\n" + "Sync All\nExpunge None\n"),
      {});
  ASSERT_EQ(plans.size(), 2u);
  EXPECT_EQ(key(plans[0], "sync"), "pull");
  EXPECT_EQ(key(plans[0], "expunge"), "yes");
  EXPECT_EQ(key(plans[0], "create"), "yes");
  EXPECT_EQ(plans[1].name, "own");
  EXPECT_EQ(key(plans[1], "sync"), "both");
  EXPECT_EQ(key(plans[1], "expunge"), "no");
  EXPECT_EQ(key(plans[1], "create"), "yes");
}

TEST_F(MbsyncRc, CommentsBlankLinesAndQuotes) {
  // A comment line inside a section does not end it; a comment after a
  // value is allowed; a '#' inside a word or in quotes is part of it.
  std::vector<PlannedAccount> plans =
      read_mbsync(rc("# mail\nIMAPAccount acc\n  # the server\nHost mail.example.org  # here\n"
                     "User \"alice smith\"\nPass a#b\n\n" +
                     std::string(k_stores) + "Channel \"my work\"\nFar :remote:\n" +
                     "Near :local:\nPatterns \"Sent Items\" # only that\n"),
                  {});
  ASSERT_EQ(plans.size(), 1u);
  EXPECT_EQ(key(plans[0], "host"), "mail.example.org");
  EXPECT_EQ(key(plans[0], "user"), "alice smith");
  EXPECT_EQ(key(plans[0], "password"), "\"a#b\"");
  EXPECT_EQ(key(plans[0], "folders"), "\"Sent Items\"");
  // The channel name has a space, which roam's account names do not allow.
  EXPECT_EQ(plans[0].name, "my-work");
  EXPECT_TRUE(has_note(plans[0].notes, "[account.my-work]"));
}

TEST_F(MbsyncRc, ChannelWithoutPatternsSyncsItsOneBox) {
  std::vector<PlannedAccount> plans = read_mbsync(
      rc(std::string(k_account) + "\n" + k_stores +
         "Channel inbox\nFar :remote:\nNear :local:\n\nChannel lists\nFar :remote:Lists\n"
         "Near :local:Lists\n"),
      {"inbox"});
  ASSERT_EQ(plans.size(), 1u);
  EXPECT_EQ(key(plans[0], "folders"), "INBOX");
}

TEST_F(MbsyncRc, ChannelBoxPrefixBecomesPartOfThePatterns) {
  std::vector<PlannedAccount> plans =
      read_mbsync(rc(std::string(k_account) + "\n" + k_stores +
                     "Channel lists\nFar :remote:Lists/\nNear :local:Lists/\nPatterns * !old\n"),
                  {});
  ASSERT_EQ(plans.size(), 1u);
  EXPECT_EQ(key(plans[0], "folders"), "Lists/* !Lists/old");
}

TEST_F(MbsyncRc, MasterSlaveAndReversedDirection) {
  // The Maildir as Master (far) and the server as Slave (near): pull means
  // towards the Maildir whichever side it is on.
  std::vector<PlannedAccount> plans =
      read_mbsync(rc(std::string(k_account) + "\n" + k_stores +
                     "Channel rev\nMaster :local:\nSlave :remote:\nPatterns *\nSync Push\n"),
                  {});
  ASSERT_EQ(plans.size(), 1u);
  EXPECT_EQ(key(plans[0], "sync"), "pull");
}

TEST_F(MbsyncRc, ChannelSelectionByNameAndGroup) {
  std::string text = std::string(k_account) + "\n" + k_stores +
                     "MaildirStore other\nPath ~/Other/\nInbox ~/Other/INBOX\n\n"
                     "MaildirStore third\nPath ~/Third/\nInbox ~/Third/INBOX\n\n"
                     "Channel a\nFar :remote:\nNear :local:\n\n"
                     "Channel b\nFar :remote:\nNear :other:\n\n"
                     "Channel c\nFar :remote:\nNear :third:\n\n"
                     "Channel local-only\nFar :local:\nNear :other:\n\n"
                     "Group g a\nChannel c\n";
  fs::path path = rc(text);
  // All: the Maildir<->Maildir channel is not roam's business.
  EXPECT_EQ(read_mbsync(path, {}).size(), 3u);
  std::vector<PlannedAccount> named = read_mbsync(path, {"b"});
  ASSERT_EQ(named.size(), 1u);
  EXPECT_EQ(named[0].name, "b");
  std::vector<PlannedAccount> group = read_mbsync(path, {"g"});
  ASSERT_EQ(group.size(), 2u);
  EXPECT_EQ(group[0].name, "a");
  EXPECT_EQ(group[1].name, "c");
  try {
    read_mbsync(path, {"nope"});
    FAIL() << "an unknown channel must be refused";
  } catch (const util::Error& e) {
    EXPECT_EQ(e.scope(), util::Scope::Usage);
    EXPECT_NE(std::string(e.what()).find("no channel or group named 'nope'"), std::string::npos);
  }
  try {
    read_mbsync(path, {"local-only"});
    FAIL() << "a Maildir<->Maildir channel named on the command line must be refused";
  } catch (const util::Error& e) {
    EXPECT_NE(std::string(e.what()).find(":34: channel 'local-only'"), std::string::npos)
        << e.what();
  }
}

// --- Errors name the file and line ---

struct ErrorCase {
  std::string name;
  std::string rc;
  // The expected ":LINE: ..." part of the message.
  std::string message;
};

class MbsyncErrors : public MbsyncRc, public ::testing::WithParamInterface<ErrorCase> {};

TEST_P(MbsyncErrors, NameFileAndLine) {
  const ErrorCase& c = GetParam();
  fs::path path = rc(c.rc);
  try {
    read_mbsync(path, {});
    FAIL() << "no error for " << c.name;
  } catch (const util::Error& e) {
    EXPECT_EQ(e.scope(), util::Scope::Usage);
    std::string what = e.what();
    EXPECT_NE(what.find(path.string() + c.message), std::string::npos) << what;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Rc, MbsyncErrors,
    ::testing::Values(
        ErrorCase{"UnknownKeyword", "IMAPAccount a\nHost h\nColour blue\n",
                  ":3: keyword 'Colour' is not recognized in IMAPAccount sections"},
        ErrorCase{"UnknownGlobalKeyword", "Frobnicate yes\n",
                  ":1: 'Frobnicate' is not a recognized"},
        ErrorCase{"MissingValue", "IMAPAccount a\nHost\n", ":2: parameter missing after 'Host'"},
        ErrorCase{"ExcessToken", "IMAPAccount a\nHost a b\n", ":2: excess token 'b'"},
        ErrorCase{"PasswordIsNeverRepeated", "IMAPAccount a\nHost h\nPass my secret\n",
                  ":3: excess token after Pass (quote a password with blanks)"},
        ErrorCase{"UnclosedQuote", "IMAPAccount a\nHost \"a\n", ":2: missing closing quote"},
        ErrorCase{"NoLineContinuation", "IMAPAccount a\nHost a\\\n", ":2: unterminated escape"},
        ErrorCase{"BadBoolean", "IMAPStore s\nHost h\nUseNamespace maybe\n",
                  ":3: invalid boolean value 'maybe'"},
        ErrorCase{"BadPort", "IMAPAccount a\nHost h\nPort 99999\n", ":3: invalid port number"},
        ErrorCase{"BadSSLType", "IMAPAccount a\nHost h\nSSLType TLS\n", ":3: invalid SSLType"},
        ErrorCase{"BadSubFolders", "MaildirStore m\nSubFolders Deep\n",
                  ":2: unrecognized SubFolders style"},
        ErrorCase{"PathWithMaildirPlusPlus", "MaildirStore m\nPath ~/M/\nSubFolders Maildir++\n",
                  ":2: Maildir store 'm': Path is incompatible"},
        ErrorCase{"NoHost", "IMAPAccount a\nUser u\n", ":1: IMAP account 'a' has neither"},
        ErrorCase{"PassAndPassCmd", "IMAPAccount a\nHost h\nPass p\nPassCmd c\n",
                  ":1: 'a' has both Pass and PassCmd"},
        ErrorCase{"UnknownAccount", "IMAPStore s\nAccount nope\n",
                  ":2: unknown IMAP account 'nope'"},
        ErrorCase{"UnknownStore", "Channel c\nFar :nope:\n", ":2: unknown store 'nope'"},
        ErrorCase{"MalformedBoxSpec", "MaildirStore m\n\nChannel c\nFar m\n",
                  ":4: malformed mailbox spec 'm'"},
        ErrorCase{"NoNearSide", "MaildirStore m\n\nChannel c\nFar :m:\n",
                  ":3: channel 'c' refers to no near side store"},
        ErrorCase{"BadSyncWord", "MaildirStore m\n\nChannel c\nFar :m:\nNear :m:\nSync Sideways\n",
                  ":6: invalid Sync arg 'Sideways'"},
        ErrorCase{"ConflictingSync",
                  "MaildirStore m\n\nChannel c\nFar :m:\nNear :m:\n"
                  "Sync PullNew Pull\n",
                  ":3: conflicting Sync args"},
        ErrorCase{"BadExpunge", "MaildirStore m\n\nChannel c\nFar :m:\nNear :m:\nExpunge Up\n",
                  ":6: invalid Expunge arg 'Up'"},
        ErrorCase{"GlobalAfterSection", "MaildirStore m\n\nSync All\n",
                  ":3: global options may not follow sections"},
        ErrorCase{"UserCmd",
                  "IMAPAccount a\nHost h\nUserCmd \"echo u\"\nPass p\n\nIMAPStore r\nAccount a\n\n"
                  "MaildirStore m\nPath ~/M/\n\nChannel c\nFar :r:\nNear :m:\n",
                  ":3: account 'a' gets its login name from UserCmd"},
        ErrorCase{"NoPassword",
                  "IMAPAccount a\nHost h\nUser u\n\nIMAPStore r\nAccount a\n\n"
                  "MaildirStore m\nPath ~/M/\n\nChannel c\nFar :r:\nNear :m:\n",
                  ":1: account 'a' has neither Pass nor PassCmd"},
        ErrorCase{"TunnelWithoutHost",
                  "IMAPAccount a\nTunnel \"ssh h dovecot\"\nUser u\nPass p\n\nIMAPStore r\n"
                  "Account a\n\nMaildirStore m\nPath ~/M/\n\nChannel c\nFar :r:\nNear :m:\n",
                  ":2: channel 'c': account 'a' connects through a Tunnel"},
        ErrorCase{"DifferentBoxNames",
                  "IMAPStore r\nHost h\nUser u\nPass p\n\nMaildirStore m\nPath ~/M/\n\n"
                  "Channel sent\nFar :r:\"[Gmail]/Sent Mail\"\nNear :m:Sent\n",
                  ":9: channel 'sent' syncs server folder '[Gmail]/Sent Mail' with local "
                  "folder 'Sent'"},
        ErrorCase{"ImapStorePath",
                  "IMAPStore r\nHost h\nUser u\nPass p\nPath INBOX.\n\nMaildirStore m\n"
                  "Path ~/M/\n\nChannel c\nFar :r:\nNear :m:\nPatterns *\n",
                  ":5: IMAPStore 'r' has a Path"},
        ErrorCase{"PathWithoutSlash",
                  "IMAPStore r\nHost h\nUser u\nPass p\n\nMaildirStore m\nPath ~/M\n\n"
                  "Channel c\nFar :r:\nNear :m:\nPatterns *\n",
                  ":7: MaildirStore 'm' has Path"},
        ErrorCase{"SyncNone",
                  "IMAPStore r\nHost h\nUser u\nPass p\n\nMaildirStore m\nPath ~/M/\n\n"
                  "Channel c\nFar :r:\nNear :m:\nSync None\n",
                  ":9: channel 'c' syncs nothing"},
        ErrorCase{"SharedMaildir",
                  "IMAPStore r\nHost h\nUser u\nPass p\n\nMaildirStore m\nPath ~/M/\n\n"
                  "Channel a\nFar :r:\nNear :m:\nPatterns *\n\nChannel b\nFar :r:\nNear :m:\n"
                  "Patterns Lists\n",
                  ":14: channels 'a', 'b' share the Maildir"},
        ErrorCase{"SharedMaildirOtherSettings",
                  "IMAPStore r\nHost h\nUser u\nPass p\n\nMaildirStore m\nPath ~/M/\n\n"
                  "Channel a\nFar :r:\nNear :m:\n\nChannel b\nFar :r:Lists\nNear :m:Lists\n"
                  "Sync Pull\n",
                  ":13: channels 'a' and 'b' share the Maildir"}),
    [](const ::testing::TestParamInfo<ErrorCase>& param) { return param.param.name; });

TEST_F(MbsyncRc, NoErrorRepeatsAPassword) {
  try {
    read_mbsync(rc("IMAPAccount a\nHost h\nPass hunter2 hunter3\n"), {});
    FAIL() << "accepted";
  } catch (const util::Error& e) {
    EXPECT_EQ(std::string(e.what()).find("hunter"), std::string::npos) << e.what();
  }
}

// --- State files ---

TEST(MbsyncState, ParsesHeaderAndRecordsWithMarkers) {
  mbsync::State st = mbsync::parse_state(
      "FarUidValidity 1700000001\nNearUidValidity 1700000002\nMaxPulledUid 9\n"
      "MaxPushedUid 7\nMaxExpiredFarUid 2\n\n"
      "1 1 S\n2 2 \n3 0 F\n0 4 RS\n5 5 >\n6 6 <S\n7 7 ~S\n8 0 ^\n9 8 X\n",
      "st");
  EXPECT_EQ(st.far_uidvalidity, 1700000001u);
  EXPECT_EQ(st.near_uidvalidity, 1700000002u);
  EXPECT_EQ(st.max_pulled_uid, 9u);
  EXPECT_EQ(st.max_pushed_uid, 7u);
  ASSERT_EQ(st.records.size(), 9u);
  EXPECT_EQ(st.records[0].flags, "S");
  EXPECT_EQ(st.records[0].line, 7);
  EXPECT_EQ(st.records[1].flags, "");
  EXPECT_EQ(st.records[3].far_uid, 0u);
  EXPECT_EQ(st.records[3].flags, "RS");
  EXPECT_EQ(st.records[4].placeholder, '>');
  EXPECT_EQ(st.records[5].placeholder, '<');
  EXPECT_EQ(st.records[5].flags, "S");
  EXPECT_EQ(st.records[6].marker, '~');
  EXPECT_EQ(st.records[7].marker, '^');
  EXPECT_EQ(st.records[8].marker, '~');  // Pre-1.3 'X'.
}

TEST(MbsyncState, ReadsTheOldSpellings) {
  mbsync::State st = mbsync::parse_state(
      "MasterUidValidity 11\nSlaveUidValidity 12\nMaxPulledUid 3\nMaxPushedUid 4\n\n1 1 \n", "st");
  EXPECT_EQ(st.far_uidvalidity, 11u);
  EXPECT_EQ(st.near_uidvalidity, 12u);
  // Before 1.1, one header line; before 1.3, -1 for a skipped message.
  mbsync::State old = mbsync::parse_state("21:5 22:0:6\n5 4294967295 \n", "st");
  EXPECT_EQ(old.far_uidvalidity, 21u);
  EXPECT_EQ(old.max_pulled_uid, 5u);
  EXPECT_EQ(old.near_uidvalidity, 22u);
  EXPECT_EQ(old.max_pushed_uid, 6u);
  ASSERT_EQ(old.records.size(), 1u);
  EXPECT_EQ(old.records[0].marker, '^');
  EXPECT_EQ(old.records[0].near_uid, 0u);
  // mbsync's "unknown" UIDVALIDITY (-1) reads as 0.
  EXPECT_EQ(mbsync::parse_state("FarUidValidity 4294967295\n\n", "st").far_uidvalidity, 0u);
}

struct BadState {
  std::string name;
  std::string text;
  std::string message;
};

class MbsyncBadState : public ::testing::TestWithParam<BadState> {};

TEST_P(MbsyncBadState, IsRefusedWithFileAndLine) {
  try {
    mbsync::parse_state(GetParam().text, "/s/:r:INBOX_:l:INBOX");
    FAIL() << "accepted";
  } catch (const util::Error& e) {
    EXPECT_EQ(e.scope(), util::Scope::Usage);
    EXPECT_NE(std::string(e.what()).find("/s/:r:INBOX_:l:INBOX" + GetParam().message),
              std::string::npos)
        << e.what();
  }
}

INSTANTIATE_TEST_SUITE_P(
    Lines, MbsyncBadState,
    ::testing::Values(
        BadState{"UnknownHeader", "FarUidValidity 1\nColour 2\n\n",
                 ":2: unrecognized header entry 'Colour'"},
        BadState{"HeaderWithoutNumber", "FarUidValidity x\n\n", ":1: malformed header line"},
        BadState{"NoBlankLine", "FarUidValidity 1\n", ":2: unterminated header"},
        BadState{"CutShort", "FarUidValidity 1\n\n1 1 S\n2 2", ":4: incomplete line"},
        BadState{"RecordWithOneNumber", "FarUidValidity 1\n\n1 1 S\n7\n", ":4: invalid entry"},
        BadState{"RecordNotANumber", "FarUidValidity 1\n\n1 a S\n", ":3: invalid entry"},
        BadState{"UnknownFlag", "FarUidValidity 1\n\n1 1 SQ\n", ":3: unknown flag 'Q'"}),
    [](const ::testing::TestParamInfo<BadState>& param) { return param.param.name; });

TEST(MbsyncStateFile, NamesAsMbsyncWritesThem) {
  EXPECT_EQ(mbsync::clean_box_name("Lists/dovecot/2024"), "Lists!dovecot!2024");
  EXPECT_EQ(
      mbsync::state_file("/h/.mbsync/", false, ':', "remote", "Lists/a", "local", "Lists/a", ""),
      "/h/.mbsync/:remote:Lists!a_:local:Lists!a");
  EXPECT_EQ(mbsync::state_file("/h/.mbsync/", false, ';', "r", "INBOX", "l", "INBOX", ""),
            "/h/.mbsync/;r;INBOX_;l;INBOX");
  EXPECT_EQ(mbsync::state_file("/h/st/work-", true, ':', "r", "A/B", "l", "A.B", ""),
            "/h/st/work-A.B");
  EXPECT_EQ(mbsync::state_file("*", false, ':', "r", "A/B", "l", "A/B", "/h/Mail/A/B"),
            "/h/Mail/A/B/.mbsyncstate");
}

// --- Directories per SubFolders style ---

struct DirCase {
  std::string name;
  mbsync::MaildirPlace place;
  std::string box;
  std::string dir;
};

class MbsyncBoxDir : public ::testing::TestWithParam<DirCase> {};

TEST_P(MbsyncBoxDir, IsWhereMbsyncKeepsTheFolder) {
  EXPECT_EQ(mbsync::box_dir(GetParam().place, GetParam().box), GetParam().dir);
}

const mbsync::MaildirPlace k_verbatim{"/M/", "/M/INBOX", SubFolders::Verbatim, ""};
const mbsync::MaildirPlace k_legacy{"/M/", "/M/INBOX", SubFolders::Legacy, ""};
const mbsync::MaildirPlace k_pp{"", "/M", SubFolders::MaildirPlusPlus, ""};
const mbsync::MaildirPlace k_flat{"/M/", "/in", SubFolders::Unset, "."};

INSTANTIATE_TEST_SUITE_P(
    Styles, MbsyncBoxDir,
    ::testing::Values(DirCase{"VerbatimInbox", k_verbatim, "INBOX", "/M/INBOX"},
                      DirCase{"VerbatimTop", k_verbatim, "Archive", "/M/Archive"},
                      DirCase{"VerbatimNested", k_verbatim, "Lists/a/b", "/M/Lists/a/b"},
                      DirCase{"VerbatimInboxSub", k_verbatim, "INBOX/sub", "/M/INBOX/sub"},
                      DirCase{"LegacyNested", k_legacy, "top/sub/subsub", "/M/top/.sub/.subsub"},
                      DirCase{"LegacyInboxSub", k_legacy, "INBOX/sub", "/M/INBOX/.sub"},
                      DirCase{"MaildirPlusPlusInbox", k_pp, "INBOX", "/M"},
                      DirCase{"MaildirPlusPlusNested", k_pp, "top/sub", "/M/.top.sub"},
                      DirCase{"MaildirPlusPlusInboxSub", k_pp, "INBOX/sub", "/M/..sub"},
                      DirCase{"FlattenNested", k_flat, "a/b/c", "/M/a.b.c"},
                      DirCase{"FlattenInbox", k_flat, "INBOX", "/in"},
                      DirCase{"FlattenInboxSub", k_flat, "INBOX/x", "/M/INBOX.x"},
                      DirCase{"UnsetTop", {"/M/", "/in", SubFolders::Unset, ""}, "A", "/M/A"},
                      DirCase{"PathIsPrependedAsText",
                              {"/M/mail-", "/in", SubFolders::Verbatim, ""},
                              "A",
                              "/M/mail-A"}),
    [](const ::testing::TestParamInfo<DirCase>& param) { return param.param.name; });

TEST(MbsyncBoxDirRefuses, WhatMbsyncRefuses) {
  EXPECT_THROW(mbsync::box_dir({"/M/", "/in", SubFolders::Unset, ""}, "A/B"), util::Error);
  EXPECT_THROW(mbsync::box_dir(k_pp, "a.b"), util::Error);
  EXPECT_THROW(mbsync::box_dir({"", "/in", SubFolders::Verbatim, ""}, "A"), util::Error);
}

// Where roam's layouts put a folder, given the keys the import writes for
// a MaildirStore, mbsync put it too: so the state imported for mbsync's
// directory is the state of the directory roam syncs.
struct RoamTreeCase {
  std::string name;
  mbsync::MaildirPlace place;
  maildir::Tree tree;
  std::vector<std::string> boxes;
};

class MbsyncBoxDirMatchesRoam : public ::testing::TestWithParam<RoamTreeCase> {};

TEST_P(MbsyncBoxDirMatchesRoam, ForEveryLayoutTheImportWrites) {
  for (const auto& box : GetParam().boxes) {
    EXPECT_EQ(mbsync::box_dir(GetParam().place, box),
              maildir::folder_path(GetParam().tree, box, '/').string())
        << box;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Layouts, MbsyncBoxDirMatchesRoam,
    ::testing::Values(
        RoamTreeCase{"Verbatim",
                     k_verbatim,
                     maildir::Tree("/M", maildir::Layout::Verbatim),
                     {"INBOX", "Archive", "Lists/a/b", "INBOX/sub", "Sent Items"}},
        RoamTreeCase{"VerbatimInboxElsewhere",
                     {"/M/", "/in", SubFolders::Verbatim, ""},
                     maildir::Tree("/M", maildir::Layout::Verbatim, '.', fs::path("/in")),
                     {"INBOX", "Archive", "Lists/a/b", "INBOX/sub"}},
        RoamTreeCase{"MaildirPlusPlus",
                     k_pp,
                     maildir::Tree("/M", maildir::Layout::MaildirPlusPlus),
                     {"INBOX", "Archive", "Lists/a/b", "Sent Items"}},
        RoamTreeCase{"Legacy",
                     k_legacy,
                     maildir::Tree("/M", maildir::Layout::Legacy),
                     {"INBOX", "Archive", "top/sub/subsub", "INBOX/sub"}},
        RoamTreeCase{"LegacyInboxElsewhere",
                     {"/M/", "/in", SubFolders::Legacy, ""},
                     maildir::Tree("/M", maildir::Layout::Legacy, '.', fs::path("/in")),
                     {"INBOX", "top/sub/subsub", "INBOX/sub/x"}},
        RoamTreeCase{"Flatten",
                     k_flat,
                     maildir::Tree("/M", maildir::Layout::Flat, '.', fs::path("/in")),
                     {"INBOX", "Archive", "a/b/c", "INBOX/x"}},
        RoamTreeCase{"FlattenOtherSeparator",
                     {"/M/", "/M/INBOX", SubFolders::Unset, "_"},
                     maildir::Tree("/M", maildir::Layout::Flat, '_'),
                     {"INBOX", "a/b", "INBOX/x"}}),
    [](const ::testing::TestParamInfo<RoamTreeCase>& param) { return param.param.name; });

// --- Folders: state files, Maildir checks, pairs ---

class MbsyncFolders : public MbsyncRc {
 protected:
  // An rc for the channel "work" with the given SyncState line (or none)
  // and extra MaildirStore lines.
  fs::path work_rc(const std::string& sync_state_line, const std::string& maildir_lines = "",
                   const std::string& channel_lines = "Patterns *\n") {
    return rc(sync_state_line + std::string(k_account) +
              "\nIMAPStore remote\nAccount acc\n\nMaildirStore local\nPath ~/Mail/\n"
              "Inbox ~/Mail/INBOX\nSubFolders Verbatim\n" +
              maildir_lines + "\nChannel work\nFar :remote:\nNear :local:\n" + channel_lines);
  }

  const PlannedFolder* folder(const PlannedAccount& a, const std::string& name) {
    for (const auto& f : a.folders) {
      if (f.name == name) {
        return &f;
      }
    }
    return nullptr;
  }

  const char* m_state =
      "FarUidValidity 500\nNearUidValidity 900\nMaxPulledUid 12\nMaxPushedUid 6\n\n"
      "10 1 S\n11 2 FS\n12 0 \n0 3 \n";
};

TEST_F(MbsyncFolders, DefaultSyncStateDirectoryOf14) {
  make_folder(home() / "Mail/INBOX", 900, {"1.1.h,U=1:2,S", "1.2.h,U=2:2,FS"});
  make_folder(home() / "Mail/Lists/dovecot", 901);
  write(home() / ".mbsync/:remote:INBOX_:local:INBOX", m_state);
  write(home() / ".mbsync/:remote:Lists!dovecot_:local:Lists!dovecot",
        "FarUidValidity 77\nNearUidValidity 901\nMaxPulledUid 0\nMaxPushedUid 0\n\n");
  // Another channel's state in the same directory is not this channel's.
  write(home() / ".mbsync/:other:INBOX_:local:INBOX", m_state);
  std::vector<PlannedAccount> plans = read_mbsync(work_rc(""), {});
  ASSERT_EQ(plans.size(), 1u);
  ASSERT_EQ(plans[0].folders.size(), 2u) << all_notes(plans[0].notes);
  const PlannedFolder* inbox = folder(plans[0], "INBOX");
  ASSERT_NE(inbox, nullptr);
  EXPECT_EQ(inbox->dir, home() / "Mail/INBOX");
  EXPECT_EQ(inbox->uidvalidity, 500u);
  EXPECT_EQ(inbox->uidnext, 13u);
  // Only the records with both UIDs: file U=1 is server UID 10, U=2 is 11.
  ASSERT_EQ(inbox->by_file_uid.size(), 2u);
  EXPECT_EQ(inbox->by_file_uid.at(1).server_uid, 10u);
  EXPECT_EQ(inbox->by_file_uid.at(1).flags, std::vector<std::string>{"\\Seen"});
  EXPECT_EQ(inbox->by_file_uid.at(2).server_uid, 11u);
  EXPECT_EQ(inbox->by_file_uid.at(2).flags, (std::vector<std::string>{"\\Flagged", "\\Seen"}));
  const PlannedFolder* lists = folder(plans[0], "Lists/dovecot");
  ASSERT_NE(lists, nullptr);
  EXPECT_EQ(lists->dir, home() / "Mail/Lists/dovecot");
  EXPECT_EQ(lists->uidnext, 0u);
}

TEST_F(MbsyncFolders, XdgStateDirectoryOf15WhenTheOldOneIsMissing) {
  ::setenv("XDG_STATE_HOME", (home() / "xdg").c_str(), 1);
  make_folder(home() / "Mail/INBOX", 900);
  write(home() / "xdg/isync/:remote:INBOX_:local:INBOX", m_state);
  std::vector<PlannedAccount> plans = read_mbsync(work_rc(""), {});
  ::unsetenv("XDG_STATE_HOME");
  ASSERT_EQ(plans.size(), 1u);
  ASSERT_EQ(plans[0].folders.size(), 1u);
  EXPECT_EQ(plans[0].folders[0].by_file_uid.size(), 2u);
}

TEST_F(MbsyncFolders, SyncStateStarInsideEachFolder) {
  make_folder(home() / "Mail/INBOX", 900);
  make_folder(home() / "Mail/Lists/dovecot", 900);
  make_folder(home() / "Mail/Junk", 900);
  write(home() / "Mail/INBOX/.mbsyncstate", m_state);
  write(home() / "Mail/Lists/dovecot/.mbsyncstate", m_state);
  write(home() / "Mail/Junk/.mbsyncstate", m_state);
  // Junk is excluded by the patterns, so its state is not imported.
  std::vector<PlannedAccount> plans =
      read_mbsync(work_rc("SyncState *\n", "", "Patterns * !Junk\n"), {});
  ASSERT_EQ(plans.size(), 1u);
  ASSERT_EQ(plans[0].folders.size(), 2u);
  EXPECT_NE(folder(plans[0], "INBOX"), nullptr);
  EXPECT_NE(folder(plans[0], "Lists/dovecot"), nullptr);
}

TEST_F(MbsyncFolders, ChannelSyncStatePrefix) {
  make_folder(home() / "Mail/INBOX", 900);
  make_folder(home() / "Mail/A/B", 900);
  write(home() / "st/work-INBOX", m_state);
  write(home() / "st/work-A!B", m_state);
  write(home() / "st/work-A!B.lock", "");
  std::vector<PlannedAccount> plans =
      read_mbsync(work_rc("", "", "Patterns *\nSyncState ~/st/work-\n"), {});
  ASSERT_EQ(plans.size(), 1u);
  ASSERT_EQ(plans[0].folders.size(), 2u);
  EXPECT_NE(folder(plans[0], "A/B"), nullptr);
}

TEST_F(MbsyncFolders, FlattenedNearNames) {
  make_folder(home() / "Mail/A.B", 900);
  write(home() / ".mbsync/:remote:A!B_:local:A.B", m_state);
  std::vector<PlannedAccount> plans = read_mbsync(work_rc("", "Flatten .\n"), {});
  ASSERT_EQ(plans.size(), 1u);
  ASSERT_EQ(plans[0].folders.size(), 1u);
  EXPECT_EQ(plans[0].folders[0].name, "A/B");
  EXPECT_EQ(plans[0].folders[0].dir, home() / "Mail/A.B");
}

TEST_F(MbsyncFolders, UidValidityOfTheMaildirMustBeTheStates) {
  make_folder(home() / "Mail/INBOX", 901);
  write(home() / ".mbsync/:remote:INBOX_:local:INBOX", m_state);
  std::vector<PlannedAccount> plans = read_mbsync(work_rc(""), {});
  ASSERT_EQ(plans[0].folders.size(), 1u);
  EXPECT_TRUE(plans[0].folders[0].by_file_uid.empty());
  EXPECT_TRUE(has_note(plans[0].folders[0].notes, ".uidvalidity (901)"));
  fs::remove(home() / "Mail/INBOX/.uidvalidity");
  plans = read_mbsync(work_rc(""), {});
  EXPECT_TRUE(plans[0].folders[0].by_file_uid.empty());
  EXPECT_TRUE(has_note(plans[0].folders[0].notes, "missing"));
}

TEST_F(MbsyncFolders, UnknownServerUidValidityImportsNoPairs) {
  make_folder(home() / "Mail/INBOX", 900);
  write(
      home() / ".mbsync/:remote:INBOX_:local:INBOX",
      "FarUidValidity 4294967295\nNearUidValidity 900\nMaxPulledUid 0\nMaxPushedUid 0\n\n1 1 S\n");
  std::vector<PlannedAccount> plans = read_mbsync(work_rc(""), {});
  ASSERT_EQ(plans[0].folders.size(), 1u);
  EXPECT_EQ(plans[0].folders[0].uidvalidity, 0u);
  EXPECT_TRUE(plans[0].folders[0].by_file_uid.empty());
}

TEST_F(MbsyncFolders, HalfFinishedRunUsesTheCommittedStateAndSaysSo) {
  make_folder(home() / "Mail/INBOX", 900);
  write(home() / ".mbsync/:remote:INBOX_:local:INBOX", m_state);
  write(home() / ".mbsync/:remote:INBOX_:local:INBOX.journal", "5\n+ 13 4\n");
  write(home() / ".mbsync/:remote:INBOX_:local:INBOX.new", "FarUidValidity 500\n");
  std::vector<PlannedAccount> plans = read_mbsync(work_rc(""), {});
  ASSERT_EQ(plans[0].folders.size(), 1u);
  EXPECT_EQ(plans[0].folders[0].by_file_uid.size(), 2u);
  EXPECT_FALSE(plans[0].folders[0].by_file_uid.count(4));
  EXPECT_TRUE(has_note(plans[0].folders[0].notes, "did not finish"));
}

TEST_F(MbsyncFolders, PlaceholdersExpiredAndDoubledRecordsAreLeftOut) {
  make_folder(home() / "Mail/INBOX", 900);
  write(home() / ".mbsync/:remote:INBOX_:local:INBOX",
        "FarUidValidity 500\nNearUidValidity 900\nMaxPulledUid 30\nMaxPushedUid 9\n\n"
        "20 1 S\n21 2 >\n22 3 <\n23 4 ~S\n24 5 ^\n25 6 \n26 6 \n27 7 F\n27 8 F\n");
  std::vector<PlannedAccount> plans = read_mbsync(work_rc(""), {});
  ASSERT_EQ(plans[0].folders.size(), 1u);
  const PlannedFolder& f = plans[0].folders[0];
  ASSERT_EQ(f.by_file_uid.size(), 1u);
  EXPECT_EQ(f.by_file_uid.at(1).server_uid, 20u);
  EXPECT_TRUE(has_note(f.notes, "placeholders in the Maildir (files with ,U=2)"));
  EXPECT_TRUE(has_note(f.notes, "2 message(s) were expired or skipped"));
  EXPECT_TRUE(has_note(f.notes, "4 record(s) of mbsync's state share a UID"));
}

TEST_F(MbsyncFolders, ReversedChannelTakesServerUidsFromTheNearSide) {
  make_folder(home() / "Mail/INBOX", 500);
  write(home() / ".mbsync/:local:INBOX_:remote:INBOX",
        "FarUidValidity 500\nNearUidValidity 900\nMaxPulledUid 6\nMaxPushedUid 12\n\n"
        "1 10 S\n2 11 \n");
  std::vector<PlannedAccount> plans = read_mbsync(
      rc(std::string(k_account) + "\n" + k_stores + "Channel work\nFar :local:\nNear :remote:\n"),
      {});
  ASSERT_EQ(plans[0].folders.size(), 1u);
  const PlannedFolder& f = plans[0].folders[0];
  EXPECT_EQ(f.uidvalidity, 900u);
  EXPECT_EQ(f.uidnext, 13u);
  ASSERT_EQ(f.by_file_uid.size(), 2u);
  EXPECT_EQ(f.by_file_uid.at(1).server_uid, 10u);
}

TEST_F(MbsyncFolders, AltMapImportsNoPairs) {
  make_folder(home() / "Mail/INBOX", 900);
  write(home() / ".mbsync/:remote:INBOX_:local:INBOX", m_state);
  std::vector<PlannedAccount> plans = read_mbsync(work_rc("", "AltMap yes\n"), {});
  ASSERT_EQ(plans[0].folders.size(), 1u);
  EXPECT_TRUE(plans[0].folders[0].by_file_uid.empty());
  EXPECT_TRUE(has_note(plans[0].notes, "AltMap"));
}

TEST_F(MbsyncFolders, StateOfAFolderThatIsGoneIsANote) {
  write(home() / ".mbsync/:remote:Old_:local:Old", m_state);
  make_folder(home() / "Mail/INBOX", 900);
  std::vector<PlannedAccount> plans = read_mbsync(work_rc(""), {});
  EXPECT_TRUE(plans[0].folders.empty());
  EXPECT_TRUE(has_note(plans[0].notes, "folder Old: mbsync has a state for it"));
}

TEST_F(MbsyncFolders, BrokenStateFileIsAUsageErrorNamingIt) {
  make_folder(home() / "Mail/INBOX", 900);
  write(home() / ".mbsync/:remote:INBOX_:local:INBOX", "FarUidValidity 500\n\n1 x\n");
  try {
    read_mbsync(work_rc(""), {});
    FAIL() << "accepted";
  } catch (const util::Error& e) {
    EXPECT_NE(std::string(e.what()).find(":remote:INBOX_:local:INBOX:3: invalid entry"),
              std::string::npos)
        << e.what();
  }
}

// mbsync 1.4 names local directories by the server's encoded names; roam
// decodes them, so it would see mbsync's directory as another folder and
// upload it: the plan names the folder by its decoded name and leaves the
// encoded one out of `folders`.
TEST_F(MbsyncFolders, EncodedFolderNamesAreDecodedAndTheirDirectoryLeftOut) {
  make_folder(home() / "Mail/Entw&APw-rfe", 900);
  write(home() / ".mbsync/:remote:Entw&APw-rfe_:local:Entw&APw-rfe", m_state);
  std::vector<PlannedAccount> plans = read_mbsync(work_rc("", "", "Patterns * !Spam&AKQ-\n"), {});
  ASSERT_EQ(plans[0].folders.size(), 1u);
  EXPECT_EQ(plans[0].folders[0].name, "Entw\u00fcrfe");
  EXPECT_EQ(plans[0].folders[0].dir, home() / "Mail/Entw&APw-rfe");
  EXPECT_TRUE(has_note(plans[0].folders[0].notes, "encoded IMAP name"));
  EXPECT_EQ(key(plans[0], "folders"), "* !Spam\u00a4 !Entw&APw-rfe");
}

// The usual split of one mailbox into an INBOX channel and one for the
// rest (with a Group for both) is one roam account on the one Maildir.
TEST_F(MbsyncFolders, ChannelsOnOneMaildirAreOneAccount) {
  make_folder(home() / "Mail/INBOX", 900);
  make_folder(home() / "Mail/Lists", 900);
  write(home() / ".mbsync/:remote:INBOX_:local:INBOX", m_state);
  write(home() / ".mbsync/:remote:Lists_:local:Lists", m_state);
  std::vector<PlannedAccount> plans =
      read_mbsync(rc(std::string(k_account) + "\n" + k_stores +
                     "Channel inbox\nFar :remote:\nNear :local:\n\n"
                     "Channel rest\nFar :remote:\nNear :local:\nPatterns * !INBOX\n\n"
                     "Group mail inbox rest\n"),
                  {"mail"});
  ASSERT_EQ(plans.size(), 1u);
  EXPECT_EQ(plans[0].name, "rest");
  EXPECT_EQ(key(plans[0], "folders"), "* !INBOX INBOX");
  ASSERT_EQ(plans[0].folders.size(), 2u);
  EXPECT_NE(folder(plans[0], "INBOX"), nullptr);
  EXPECT_NE(folder(plans[0], "Lists"), nullptr);
  EXPECT_TRUE(has_note(plans[0].notes, "channels 'inbox', 'rest' share the Maildir"));
}

// mbsync's "..sub" is not where roam's maildir++ keeps INBOX/sub: the folder
// is planned with mbsync's directory, which the import compares with roam's
// and, finding them differ, leaves the folder out (see the integration test
// ImportMbsync.AnInboxSubfolderMaildirPlusPlusCannotHoldIsLeftOut).
TEST_F(MbsyncFolders, MaildirPlusPlusInboxSubfoldersArePlannedWithMbsyncsDirectory) {
  make_folder(home() / "Mail/INBOX", 900);
  make_folder(home() / "Mail/INBOX/..sub", 900);
  write(home() / ".mbsync/:remote:INBOX!sub_:local:INBOX!sub", m_state);
  std::vector<PlannedAccount> plans = read_mbsync(
      rc(std::string(k_account) + "\nIMAPStore remote\nAccount acc\n\nMaildirStore local\n" +
         "Inbox ~/Mail/INBOX\nSubFolders Maildir++\n\n" + k_channel),
      {});
  ASSERT_EQ(plans[0].folders.size(), 1u);
  EXPECT_EQ(plans[0].folders[0].name, "INBOX/sub");
  EXPECT_EQ(plans[0].folders[0].dir.lexically_normal(), home() / "Mail/INBOX/..sub");
}

}  // namespace
}  // namespace roam::import
