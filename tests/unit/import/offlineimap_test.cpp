#include "import/offlineimap.hpp"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <cstdlib>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include "fakes/temp_dir.hpp"
#include "util/error.hpp"

namespace roam::import {
namespace {

namespace fs = std::filesystem;
using fakes::TempDir;
using offlineimap::Rc;

void write_text(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::binary);
  out << text;
}

// The message of the Usage error `f` throws, or "" when it throws nothing.
template <typename F>
std::string usage_error(F f) {
  try {
    f();
  } catch (const util::Error& e) {
    EXPECT_EQ(e.scope(), util::Scope::Usage) << e.what();
    return e.what();
  }
  return "";
}

// --- The rc, read as Python's ConfigParser reads it ---

struct RcCase {
  const char* name;
  const char* text;
  const char* section;
  const char* key;
  const char* expected;  // nullptr: the key is absent.
};

class RcValues : public ::testing::TestWithParam<RcCase> {};

TEST_P(RcValues, ReadsTheValuePythonReads) {
  const RcCase& c = GetParam();
  Rc rc = Rc::parse(c.text, "rc");
  auto value = rc.get(c.section, c.key);
  if (c.expected == nullptr) {
    EXPECT_FALSE(value.has_value()) << *value;
  } else {
    ASSERT_TRUE(value.has_value());
    EXPECT_EQ(*value, c.expected);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Offlineimaprc, RcValues,
    ::testing::Values(
        RcCase{"Plain", "[general]\naccounts = a\n", "general", "accounts", "a"},
        RcCase{"ColonDelimiter", "[general]\naccounts: a, b\n", "general", "accounts", "a, b"},
        RcCase{"KeysAreCaseInsensitive", "[Repository R]\nRemoteHost = h\n", "Repository R",
               "remotehost", "h"},
        RcCase{"SectionNamesAreNot", "[repository R]\nremotehost = h\n", "Repository R",
               "remotehost", nullptr},
        RcCase{"BlanksAroundTrimmed", "[s]\n  k   =   v w  \n", "s", "k", "v w"},
        RcCase{"SemicolonInsideValueKept", "[s]\nk = a ; b # c\n", "s", "k", "a ; b # c"},
        RcCase{"WholeLineComments", "[s]\n# k = 1\n; k = 2\nk = 3\n", "s", "k", "3"},
        RcCase{"IndentedCommentIsAComment", "[s]\nk = 1\n    # more\n", "s", "k", "1"},
        RcCase{"ContinuationLines", "[s]\nk = lambda f: f in ['A',\n    'B']\nj = 2\n", "s", "k",
               "lambda f: f in ['A',\n'B']"},
        RcCase{"ContinuationAfterBlankLine", "[s]\nk = a\n\n  b\n", "s", "k", "a\n\nb"},
        RcCase{"EqualsInValue", "[s]\nk = a=b:c\n", "s", "k", "a=b:c"},
        RcCase{"FirstDelimiterSplits", "[s]\nk: a = b\n", "s", "k", "a = b"},
        RcCase{"EmptyValue", "[s]\nk =\n", "s", "k", ""},
        RcCase{"DefaultSectionSeenEverywhere", "[DEFAULT]\nk = d\n[s]\nj = 1\n", "s", "k", "d"},
        RcCase{"SectionOverridesDefault", "[DEFAULT]\nk = d\n[s]\nk = s\n", "s", "k", "s"},
        RcCase{"Interpolation", "[s]\nhome = /home/u\nk = %(home)s/Mail\n", "s", "k",
               "/home/u/Mail"},
        RcCase{"InterpolationIsCaseInsensitive", "[s]\nHome = /h\nk = %(HOME)s/M\n", "s", "k",
               "/h/M"},
        RcCase{"InterpolationFromDefault", "[DEFAULT]\nu = alice\n[s]\nk = %(u)s@x\n", "s", "k",
               "alice@x"},
        RcCase{"InterpolationNested", "[s]\na = 1\nb = %(a)s2\nk = %(b)s3\n", "s", "k", "123"},
        RcCase{"DoublePercentIsPercent", "[s]\nk = 100%%\n", "s", "k", "100%"},
        RcCase{"CrLfLines", "[s]\r\nk = v\r\n", "s", "k", "v"}),
    [](const ::testing::TestParamInfo<RcCase>& p) { return std::string(p.param.name); });

struct RcErrorCase {
  const char* name;
  const char* text;
  const char* expected;  // Part of the message, with the file and line.
};

class RcErrors : public ::testing::TestWithParam<RcErrorCase> {};

TEST_P(RcErrors, NameTheFileAndLine) {
  const RcErrorCase& c = GetParam();
  std::string message = usage_error([&] {
    Rc rc = Rc::parse(c.text, "/home/u/.offlineimaprc");
    (void)rc.get("s", "k");
    (void)rc.get_bool("s", "b");
  });
  EXPECT_NE(message.find(c.expected), std::string::npos) << message;
}

INSTANTIATE_TEST_SUITE_P(
    Offlineimaprc, RcErrors,
    ::testing::Values(
        RcErrorCase{"LineBeforeSection", "k = v\n", "/home/u/.offlineimaprc:1: a line before"},
        RcErrorCase{"NotKeyValue", "[s]\njust words\n", "/home/u/.offlineimaprc:2: \"just words\""},
        RcErrorCase{"DuplicateKey", "[s]\nk = 1\nK = 2\n",
                    "/home/u/.offlineimaprc:3: k again in [s] (first at line 2)"},
        RcErrorCase{"DuplicateSection", "[s]\n[t]\n[s]\n",
                    "/home/u/.offlineimaprc:3: section [s] again (first at line 1)"},
        RcErrorCase{"UnknownInterpolation", "[s]\n\nk = %(nope)s\n",
                    "/home/u/.offlineimaprc:3: %(nope)s names no key of [s]"},
        RcErrorCase{"BarePercent", "[s]\nk = 100%\n", "/home/u/.offlineimaprc:2: a '%'"},
        RcErrorCase{"InterpolationLoop", "[s]\nk = %(j)s\nj = %(k)s\n", "refers to itself"},
        RcErrorCase{"NotABoolean", "[s]\nb = maybe\n",
                    "/home/u/.offlineimaprc:2: b = maybe is not a boolean"}),
    [](const ::testing::TestParamInfo<RcErrorCase>& p) { return std::string(p.param.name); });

TEST(OfflineimapRc, BooleansInPythonSpelling) {
  Rc rc = Rc::parse("[s]\na = Yes\nb = off\nc = 1\nd = FALSE\n", "rc");
  EXPECT_EQ(rc.get_bool("s", "a"), true);
  EXPECT_EQ(rc.get_bool("s", "b"), false);
  EXPECT_EQ(rc.get_bool("s", "c"), true);
  EXPECT_EQ(rc.get_bool("s", "d"), false);
  EXPECT_EQ(rc.get_bool("s", "e"), std::nullopt);
}

// --- Names ---

TEST(OfflineimapNames, FolderMd5IsTheMd5OfTheLocalName) {
  // Reference values from Python: hashlib.md5(name.encode()).hexdigest(),
  // which is what OfflineIMAP's MaildirFolder puts after ",FMD5=".
  EXPECT_EQ(offlineimap::folder_md5("INBOX"), "7e33429f656f1e6e9d79b29c3f82c57e");
  EXPECT_EQ(offlineimap::folder_md5("Lists.roam"), "e0daebae5bc08e1d2c50aea9a5e32c56");
  EXPECT_EQ(offlineimap::folder_md5("Archive/2024"), "ccd7d7a6d1558bb39540226cfa071c8c");
}

TEST(OfflineimapNames, StatusFileNameAsGetfolderbasename) {
  const std::vector<std::pair<std::pair<const char*, const char*>, const char*>> cases = {
      {{"INBOX", "."}, "INBOX"},
      {{"Lists.roam", "."}, "Lists.roam"},
      {{"Archive/2024", "/"}, "Archive.2024"},
      {{"a-b", "-"}, "a.b"},
      {{"a/b-c", "-"}, "a.b.c"},
      {{".", "/"}, "dot"},
  };
  for (const auto& [in, out] : cases) {
    EXPECT_EQ(offlineimap::status_file_name(in.first, in.second), out) << in.first;
  }
}

// --- folderfilter lambdas ---

TEST(OfflineimapFilter, TranslatesTheCommonFormsExactly) {
  const std::vector<std::pair<const char*, const char*>> cases = {
      {"lambda folder: folder not in ['Trash', 'Spam']", "* !Trash !Spam"},
      {"lambda folder: folder in ['INBOX', 'Sent']", "INBOX Sent"},
      {"lambda f: f in (\"INBOX\",)", "INBOX"},
      {"lambda name : name not in ['Deleted Items']", "* !\"Deleted Items\""},
      {"lambda f: f in ['INBOX', 'Archive/2024']", "INBOX Archive/2024"},
      {"lambda f: f not in []", "*"},
  };
  for (const auto& [lambda, folders] : cases) {
    EXPECT_EQ(offlineimap::folders_of_filter(lambda), std::optional<std::string>(folders))
        << lambda;
  }
}

TEST(OfflineimapFilter, LeavesEverythingElse) {
  for (const char* lambda : {
           "lambda f: f != 'Trash'",
           "lambda f: re.search('^INBOX', f)",
           "lambda f: g in ['A']",
           "lambda f: f in ['INBOX.Sent']",  // '.' may be a server delimiter.
           "lambda f: f in ['A*']",
           "lambda f: f in ['A'] or True",
           "lambda f: f in []",
           "lambda f: f in ['a\\'b']",
           "lambdaf: f in ['A']",
       }) {
    EXPECT_EQ(offlineimap::folders_of_filter(lambda), std::nullopt) << lambda;
  }
}

// --- LocalStatus ---

// A LocalStatus-sqlite database as OfflineIMAP creates it
// (folder/LocalStatusSQLite.py, __create_db), with `rows` as (id, flags).
void make_sqlite_status(const fs::path& file,
                        const std::vector<std::pair<long long, std::string>>& rows,
                        const char* version = "2") {
  fs::create_directories(file.parent_path());
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(file.c_str(), &db), SQLITE_OK);
  std::string sql =
      "CREATE TABLE metadata (key VARCHAR(50) PRIMARY KEY, value VARCHAR(128));"
      "INSERT INTO metadata VALUES('db_version', '" +
      std::string(version) +
      "');"
      "CREATE TABLE status (id INTEGER PRIMARY KEY, flags VARCHAR(50), mtime INTEGER, labels "
      "VARCHAR(256));";
  for (const auto& [id, flags] : rows) {
    sql += "INSERT INTO status (id,flags,mtime,labels) VALUES (" + std::to_string(id) + ",'" +
           flags + "',0,'');";
  }
  char* err = nullptr;
  EXPECT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err), SQLITE_OK)
      << (err != nullptr ? err : "");
  sqlite3_free(err);
  sqlite3_close(db);
}

TEST(OfflineimapStatus, ReadsSqlite) {
  TempDir dir;
  make_sqlite_status(dir.path() / "INBOX", {{1, "S"}, {7, "FRS"}, {9, ""}, {-3, "S"}});
  std::string problem;
  auto status = offlineimap::read_status_sqlite(dir.path() / "INBOX", problem);
  ASSERT_TRUE(status) << problem;
  // The negative id is a local message OfflineIMAP had not yet uploaded.
  std::map<std::uint32_t, std::string> expected{{1, "S"}, {7, "FRS"}, {9, ""}};
  EXPECT_EQ(status->flags_by_uid, expected);
}

TEST(OfflineimapStatus, RefusesWhatIsNoStatusDatabase) {
  TempDir dir;
  std::string problem;
  write_text(dir.path() / "junk", "not a database at all, just text that is long enough");
  EXPECT_FALSE(offlineimap::read_status_sqlite(dir.path() / "junk", problem));
  EXPECT_NE(problem.find("junk"), std::string::npos) << problem;
  make_sqlite_status(dir.path() / "future", {{1, "S"}}, "3");
  EXPECT_FALSE(offlineimap::read_status_sqlite(dir.path() / "future", problem));
  EXPECT_NE(problem.find("db_version 3"), std::string::npos) << problem;
  EXPECT_FALSE(offlineimap::read_status_sqlite(dir.path() / "missing", problem));
  // A missing file must not be created by the read-only open.
  EXPECT_FALSE(fs::exists(dir.path() / "missing"));
}

TEST(OfflineimapStatus, ReadsPlainTextFormats) {
  TempDir dir;
  write_text(dir.path() / "v2",
             "OFFLINEIMAP LocalStatus CACHE DATA - DO NOT MODIFY - FORMAT 2\n"
             "3|S|1700000000|\n12|RS|0|a,b\n-4|S|0|\n");
  write_text(dir.path() / "v1",
             "OFFLINEIMAP LocalStatus CACHE DATA - DO NOT MODIFY - FORMAT 1\n5:FS\n6:\n");
  std::string problem;
  auto v2 = offlineimap::read_status_text(dir.path() / "v2", problem);
  ASSERT_TRUE(v2) << problem;
  EXPECT_EQ(v2->flags_by_uid, (std::map<std::uint32_t, std::string>{{3, "S"}, {12, "RS"}}));
  auto v1 = offlineimap::read_status_text(dir.path() / "v1", problem);
  ASSERT_TRUE(v1) << problem;
  EXPECT_EQ(v1->flags_by_uid, (std::map<std::uint32_t, std::string>{{5, "FS"}, {6, ""}}));
}

TEST(OfflineimapStatus, RefusesACorruptPlainTextFile) {
  TempDir dir;
  write_text(dir.path() / "bad",
             "OFFLINEIMAP LocalStatus CACHE DATA - DO NOT MODIFY - FORMAT 2\n3|S|0|\nx|S|0|\n");
  write_text(dir.path() / "magic", "OFFLINEIMAP LocalStatus CACHE DATA - FORMAT 9\n");
  std::string problem;
  EXPECT_FALSE(offlineimap::read_status_text(dir.path() / "bad", problem));
  EXPECT_NE(problem.find("bad:3"), std::string::npos) << problem;
  EXPECT_FALSE(offlineimap::read_status_text(dir.path() / "magic", problem));
}

// --- Whole accounts ---

class OfflineimapAccount : public ::testing::Test {
 protected:
  fs::path rc() const { return dir.path() / "offlineimaprc"; }
  fs::path meta() const { return dir.path() / "meta"; }
  fs::path mail() const { return dir.path() / "Mail"; }

  void maildir(const std::string& local_name, const std::vector<std::string>& cur_files) {
    for (const char* sub : {"cur", "new", "tmp"}) {
      fs::create_directories(mail() / local_name / sub);
    }
    for (const auto& f : cur_files) {
      write_text(mail() / local_name / "cur" / f, "Subject: " + f + "\n\nbody\n");
    }
  }

  void rc_text(const std::string& general, const std::string& local, const std::string& remote) {
    write_text(rc(), "[general]\nmetadata = " + meta().string() + "\n" + general +
                         "\n[Account Work]\nlocalrepository = L\nremoterepository = R\n"
                         "\n[Repository L]\ntype = Maildir\nlocalfolders = " +
                         mail().string() + "\n" + local + "\n[Repository R]\n" + remote);
  }

  std::string value(const PlannedAccount& a, const std::string& key) {
    for (const auto& [k, v] : a.keys) {
      if (k == key) {
        return v;
      }
    }
    return "<absent>";
  }

  TempDir dir;
};

TEST_F(OfflineimapAccount, CarriesTheConnectionOver) {
  write_text(dir.path() / "pw", "secret\n");
  rc_text("accounts = Work", "sep = /",
          "type = IMAP\nremotehost = imap.example.org\nremoteport = 1993\nremoteuser = alice\n"
          "remotepassfile = " +
              (dir.path() / "pw").string() +
              "\nsslcacertfile = /etc/ca.pem\nauth_mechanisms = PLAIN\nreadonly = yes\n"
              "folderfilter = lambda folder: folder not in ['Trash', 'Spam']\n");
  auto plans = read_offlineimap(rc(), {});
  ASSERT_EQ(plans.size(), 1u);
  const PlannedAccount& a = plans[0];
  EXPECT_EQ(a.name, "Work");
  EXPECT_EQ(value(a, "host"), "imap.example.org");
  EXPECT_EQ(value(a, "port"), "1993");
  EXPECT_EQ(value(a, "tls"), "implicit");
  EXPECT_EQ(value(a, "user"), "alice");
  EXPECT_EQ(value(a, "pass_cmd"), "cat '" + (dir.path() / "pw").string() + "'");
  EXPECT_EQ(value(a, "password"), "<absent>");
  EXPECT_EQ(value(a, "auth"), "plain");
  EXPECT_EQ(value(a, "ca_file"), "/etc/ca.pem");
  EXPECT_EQ(value(a, "maildir"), mail().string());
  EXPECT_EQ(value(a, "layout"), "verbatim");
  EXPECT_EQ(value(a, "use_namespace"), "no");
  EXPECT_EQ(value(a, "folders"), "* !Trash !Spam");
  EXPECT_EQ(value(a, "sync"), "pull");
  EXPECT_EQ(value(a, "expunge"), "yes");
}

TEST_F(OfflineimapAccount, DefaultsAndPlainConnections) {
  rc_text("accounts = Work", "",
          "type = IMAP\nremotehost = mail.example.net\nremoteuser = bob\n"
          "remotepass = p#ss ; word\nssl = no\n");
  auto a = read_offlineimap(rc(), {}).at(0);
  // OfflineIMAP's defaults: sep '.', starttls yes; a password with comment
  // characters is quoted for roam's configuration.
  EXPECT_EQ(value(a, "layout"), "flat");
  EXPECT_EQ(value(a, "flat_separator"), ".");
  EXPECT_EQ(value(a, "tls"), "starttls");
  EXPECT_EQ(value(a, "password"), "\"p#ss ; word\"");
  EXPECT_EQ(value(a, "auth"), "<absent>");
  EXPECT_EQ(value(a, "sync"), "<absent>");
  EXPECT_FALSE(a.notes.empty());

  rc_text("accounts = Work", "",
          "type = IMAP\nremotehost = 127.0.0.1\nremoteuser = bob\n"
          "remotepass = x\nssl = no\nstarttls = no\n");
  a = read_offlineimap(rc(), {}).at(0);
  EXPECT_EQ(value(a, "tls"), "none");
  EXPECT_EQ(value(a, "allow_plaintext"), "<absent>");
}

TEST_F(OfflineimapAccount, CarriesDirectionDeletionsFoldersAndHooks) {
  write_text(rc(), "[general]\naccounts = Work\nmetadata = " + meta().string() +
                       "\n[Account Work]\nlocalrepository = L\nremoterepository = R\n"
                       "presynchook = notmuch tag -inbox tag:gone\n"
                       "postsynchook = notmuch new # and index\n"
                       "[Repository L]\ntype = Maildir\nlocalfolders = " +
                       mail().string() +
                       "\nsep = /\nreadonly = true\nsync_deletes = no\ncreatefolders = no\n"
                       "[Repository R]\ntype = IMAP\nremotehost = h\nremoteuser = u\n"
                       "remotepass = x\nfolderfilter = lambda f: f in ['INBOX']\n"
                       "folderincludes = ['Archive/2024', 'Sent Items']\n");
  auto a = read_offlineimap(rc(), {}).at(0);
  EXPECT_EQ(value(a, "sync"), "push");
  EXPECT_EQ(value(a, "expunge"), "no");
  EXPECT_EQ(value(a, "create"), "no");
  EXPECT_EQ(value(a, "folders"), "INBOX Archive/2024 \"Sent Items\"");
  EXPECT_EQ(value(a, "pre_sync_cmd"), "notmuch tag -inbox tag:gone");
  // A '#' inside an OfflineIMAP value is part of it; roam's configuration
  // needs it quoted.
  EXPECT_EQ(value(a, "post_sync_cmd"), "\"notmuch new # and index\"");
}

TEST_F(OfflineimapAccount, GmailImpliesHostAndTls) {
  rc_text("accounts = Work", "sep = /",
          "type = Gmail\nremoteuser = a@gmail.com\nremotepass = x\n"
          "folderfilter = lambda f: f not in ['[Gmail]/All Mail']\n");
  auto a = read_offlineimap(rc(), {}).at(0);
  EXPECT_EQ(value(a, "host"), "imap.gmail.com");
  EXPECT_EQ(value(a, "tls"), "implicit");
  EXPECT_EQ(value(a, "folders"), "* !\"[Gmail]/All Mail\"");
  bool all_mail_note = false;
  for (const auto& n : a.notes) {
    all_mail_note = all_mail_note || n.find("[Gmail]/All Mail") != std::string::npos;
  }
  EXPECT_TRUE(all_mail_note);
}

TEST_F(OfflineimapAccount, NotesWhatCannotBeCarriedOver) {
  rc_text("accounts = Work", "sep = /",
          "type = IMAP\nremotehost = h\nremoteuser = u\nremotepass = x\n"
          "folderfilter = lambda f: f.startswith('INBOX')\nmaxage = 30\n"
          "cert_fingerprint = 0123456789abcdef0123456789abcdef01234567\n");
  maildir("INBOX", {});
  auto a = read_offlineimap(rc(), {}).at(0);
  for (const char* what : {"folderfilter", "maxage", "cert_fingerprint"}) {
    bool found = false;
    for (const auto& n : a.notes) {
      found = found || n.rfind(what, 0) == 0;
    }
    EXPECT_TRUE(found) << what;
  }
  EXPECT_EQ(value(a, "folders"), "<absent>");
  ASSERT_EQ(a.folders.size(), 1u);
}

TEST_F(OfflineimapAccount, RefusesWhatCannotWork) {
  rc_text("accounts = Work", "",
          "type = IMAP\nremotehost = h\nremoteuser = u\n"
          "remotepasseval = get_pass()\n");
  std::string message = usage_error([&] { read_offlineimap(rc(), {}); });
  EXPECT_NE(message.find(rc().string() + ":"), std::string::npos) << message;
  EXPECT_NE(message.find("remotepasseval"), std::string::npos) << message;

  // A nametrans would make roam download the translated folders again.
  rc_text("accounts = Work", "",
          "type = IMAP\nremotehost = h\nremoteuser = u\nremotepass = x\n"
          "nametrans = lambda f: re.sub('^INBOX\\.', '', f)\n");
  message = usage_error([&] { read_offlineimap(rc(), {}); });
  EXPECT_NE(message.find(rc().string() + ":17: nametrans"), std::string::npos) << message;

  message = usage_error([&] { read_offlineimap(rc(), {"Other"}); });
  EXPECT_NE(message.find("[Account Other]"), std::string::npos) << message;

  message = usage_error([&] { read_offlineimap(dir.path() / "nope", {}); });
  EXPECT_NE(message.find("nope"), std::string::npos) << message;
}

TEST_F(OfflineimapAccount, ReadsTheStateOfEachFolder) {
  rc_text("accounts = Work", "", "type = IMAP\nremotehost = h\nremoteuser = u\nremotepass = x\n");
  const std::string inbox_md5 = offlineimap::folder_md5("INBOX");
  maildir("INBOX", {"1_0.1.h,U=4,FMD5=" + inbox_md5 + ":2,S"});
  maildir("Lists.roam", {});
  maildir("NoState", {});
  fs::create_directories(mail() / "Lists.roam" / "cur" / "not-a-folder");
  make_sqlite_status(meta() / "Account-Work" / "LocalStatus-sqlite" / "INBOX",
                     {{4, "S"}, {5, "FS"}});
  write_text(meta() / "Repository-R" / "FolderValidity" / "INBOX", "1700000001\n");
  write_text(meta() / "Account-Work" / "LocalStatus" / "Lists.roam",
             "OFFLINEIMAP LocalStatus CACHE DATA - DO NOT MODIFY - FORMAT 2\n2|RS|0|\n");
  write_text(meta() / "Repository-R" / "FolderValidity" / "Lists.roam", "77\n");
  auto a = read_offlineimap(rc(), {"Work"}).at(0);
  ASSERT_EQ(a.folders.size(), 3u);
  const PlannedFolder& inbox = a.folders[0];
  EXPECT_EQ(inbox.name, "INBOX");
  EXPECT_EQ(inbox.dir, mail() / "INBOX");
  EXPECT_EQ(inbox.uidvalidity, 1700000001u);
  EXPECT_EQ(inbox.fmd5, inbox_md5);
  ASSERT_EQ(inbox.by_file_uid.size(), 2u);
  EXPECT_EQ(inbox.by_file_uid.at(4).server_uid, 4u);
  EXPECT_EQ(inbox.by_file_uid.at(5).flags, (std::vector<std::string>{"\\Flagged", "\\Seen"}));
  const PlannedFolder& lists = a.folders[1];
  EXPECT_EQ(lists.name, "Lists/roam");
  EXPECT_EQ(lists.uidvalidity, 77u);
  EXPECT_EQ(lists.fmd5, offlineimap::folder_md5("Lists.roam"));
  EXPECT_EQ(lists.by_file_uid.at(2).flags, (std::vector<std::string>{"\\Answered", "\\Seen"}));
  const PlannedFolder& none = a.folders[2];
  EXPECT_EQ(none.name, "NoState");
  EXPECT_EQ(none.uidvalidity, 0u);
  EXPECT_TRUE(none.by_file_uid.empty());
  ASSERT_EQ(none.notes.size(), 1u);
}

TEST_F(OfflineimapAccount, WithoutUidvalidityNothingIsImported) {
  rc_text("accounts = Work", "sep = /",
          "type = IMAP\nremotehost = h\nremoteuser = u\n"
          "remotepass = x\n");
  maildir("Archive/2024", {});
  make_sqlite_status(meta() / "Account-Work" / "LocalStatus-sqlite" / "Archive.2024", {{1, "S"}});
  auto a = read_offlineimap(rc(), {}).at(0);
  ASSERT_EQ(a.folders.size(), 1u);
  EXPECT_EQ(a.folders[0].name, "Archive/2024");
  EXPECT_EQ(a.folders[0].uidvalidity, 0u);
  EXPECT_TRUE(a.folders[0].by_file_uid.empty());
  EXPECT_FALSE(a.folders[0].notes.empty());
}

TEST_F(OfflineimapAccount, ModifiedUtf7DirectoriesAreNoted) {
  rc_text("accounts = Work", "",
          "type = IMAP\nremotehost = h\nremoteuser = u\n"
          "remotepass = x\n");
  maildir("Entw&APw-rfe", {});
  make_sqlite_status(meta() / "Account-Work" / "LocalStatus-sqlite" / "Entw&APw-rfe", {{1, "S"}});
  write_text(meta() / "Repository-R" / "FolderValidity" / "Entw&APw-rfe", "5\n");
  auto a = read_offlineimap(rc(), {}).at(0);
  ASSERT_EQ(a.folders.size(), 1u);
  EXPECT_EQ(a.folders[0].name, "Entwürfe");
  // roam's directory for it is another one, so its state must not be used.
  EXPECT_EQ(a.folders[0].uidvalidity, 0u);
  EXPECT_TRUE(a.folders[0].by_file_uid.empty());
  EXPECT_EQ(a.folders[0].fmd5, offlineimap::folder_md5("Entw&APw-rfe"));
  ASSERT_FALSE(a.notes.empty());
  EXPECT_NE(a.notes.back().find("modified UTF-7"), std::string::npos);
  // roam would read the old directory as a folder of that name, which the
  // server does not have, and upload it; it stays out until renamed.
  EXPECT_EQ(value(a, "folders"), "* !\"Entw&APw-rfe\"");
}

}  // namespace
}  // namespace roam::import
