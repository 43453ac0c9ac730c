#include "state/journal.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "fakes/temp_dir.hpp"
#include "util/error.hpp"

namespace roam::state {
namespace {

using fakes::TempDir;

std::string read_text(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

void write_text(const std::filesystem::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
}

TEST(Journal, PathSitsNextToTheStateFile) {
  EXPECT_EQ(journal_file_for("/s/folder-INBOX.json"), "/s/folder-INBOX.json.journal");
}

TEST(Journal, WritesHeaderAndEntriesOnePerLine) {
  TempDir dir;
  auto path = dir.path() / "j";
  {
    auto journal = Journal::open(path, {{"uidvalidity", 77}});
    journal.append({{"op", "new"}, {"uid", 5}, {"name", "line\nbreak"}});
    journal.append({{"op", "flags"}, {"uid", 5}, {"flags", {"\\Seen"}}});
    journal.sync();
  }
  auto text = read_text(path);
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 3) << text;
  auto entries = Journal::read(path);
  ASSERT_EQ(entries.size(), 3u);
  EXPECT_EQ(entries[0]["roam_journal"], 1);
  EXPECT_EQ(entries[0]["uidvalidity"], 77);
  EXPECT_EQ(entries[1]["name"], "line\nbreak");
  EXPECT_EQ(entries[2]["flags"][0], "\\Seen");
}

TEST(Journal, AppendIsBufferedUntilSync) {
  TempDir dir;
  auto path = dir.path() / "j";
  auto journal = Journal::open(path, nlohmann::json::object());
  journal.append({{"op", "a"}});
  EXPECT_EQ(Journal::read(path).size(), 1u);  // Only the header so far.
  journal.sync();
  EXPECT_EQ(Journal::read(path).size(), 2u);
}

TEST(Journal, DestructorWritesBufferedEntries) {
  TempDir dir;
  auto path = dir.path() / "j";
  {
    auto journal = Journal::open(path, nlohmann::json::object());
    journal.append({{"op", "a"}});
  }
  EXPECT_EQ(Journal::read(path).size(), 2u);
}

TEST(Journal, ReopeningAppendsWithoutASecondHeader) {
  TempDir dir;
  auto path = dir.path() / "j";
  {
    auto journal = Journal::open(path, {{"uidvalidity", 1}});
    journal.append({{"step", 1}});
    journal.sync();
  }
  {
    auto journal = Journal::open(path, {{"uidvalidity", 2}});
    journal.append({{"step", 2}});
    journal.sync();
  }
  auto entries = Journal::read(path);
  ASSERT_EQ(entries.size(), 3u);
  EXPECT_EQ(entries[0]["uidvalidity"], 1);
  EXPECT_EQ(entries[2]["step"], 2);
}

TEST(Journal, MissingFileReadsAsEmpty) {
  TempDir dir;
  EXPECT_TRUE(Journal::read(dir.path() / "none").empty());
}

TEST(Journal, TornLastLineIsIgnored) {
  TempDir dir;
  auto path = dir.path() / "j";
  write_text(path, "{\"roam_journal\":1}\n{\"step\":1}\n{\"step\":2,\"na");
  auto entries = Journal::read(path);
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_EQ(entries[1]["step"], 1);
}

TEST(Journal, CompleteButUnterminatedLastLineIsIgnored) {
  // Only newline-terminated lines were fully written, whatever they parse as.
  TempDir dir;
  auto path = dir.path() / "j";
  write_text(path, "{\"roam_journal\":1}\n{\"step\":1}");
  EXPECT_EQ(Journal::read(path).size(), 1u);
}

TEST(Journal, OpenCutsATornLineBeforeAppending) {
  TempDir dir;
  auto path = dir.path() / "j";
  write_text(path, "{\"roam_journal\":1}\n{\"step\":1}\n{\"step\":2,\"na");
  {
    auto journal = Journal::open(path, nlohmann::json::object());
    journal.append({{"step", 3}});
    journal.sync();
  }
  auto entries = Journal::read(path);
  ASSERT_EQ(entries.size(), 3u);
  EXPECT_EQ(entries[2]["step"], 3);
}

TEST(Journal, TornHeaderIsReplacedByANewOne) {
  TempDir dir;
  auto path = dir.path() / "j";
  write_text(path, "{\"roam_jou");
  EXPECT_TRUE(Journal::read(path).empty());
  { auto journal = Journal::open(path, {{"uidvalidity", 9}}); }
  auto entries = Journal::read(path);
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0]["uidvalidity"], 9);
}

struct CorruptJournalCase {
  const char* label;
  std::string text;
  const char* expected;
};

class CorruptJournalTest : public ::testing::TestWithParam<CorruptJournalCase> {};

TEST_P(CorruptJournalTest, IsAnErrorNamingFileAndLine) {
  TempDir dir;
  auto path = dir.path() / "folder-INBOX.json.journal";
  write_text(path, GetParam().text);
  try {
    Journal::read(path);
    FAIL() << "no error for " << GetParam().label;
  } catch (const util::Error& e) {
    std::string message = e.what();
    EXPECT_EQ(e.scope(), util::Scope::Folder);
    EXPECT_NE(message.find(path.string()), std::string::npos) << message;
    EXPECT_NE(message.find(GetParam().expected), std::string::npos) << message;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Table, CorruptJournalTest,
    ::testing::Values(
        CorruptJournalCase{"corrupt middle line", "{\"roam_journal\":1}\n{\"st\n{\"step\":2}\n",
                           "line 2"},
        CorruptJournalCase{"empty middle line", "{\"roam_journal\":1}\n\n{\"step\":2}\n", "line 2"},
        CorruptJournalCase{"not an object", "{\"roam_journal\":1}\n{}\n[1]\n", "line 3"},
        CorruptJournalCase{"no header", "{\"step\":1}\n", "line 1"},
        CorruptJournalCase{"newer version", "{\"roam_journal\":2}\n", "format version 2"}),
    [](const ::testing::TestParamInfo<CorruptJournalCase>& param_info) {
      std::string name;
      for (const char* p = param_info.param.label; *p != '\0'; ++p) {
        name += std::isalnum(static_cast<unsigned char>(*p)) ? *p : '_';
      }
      return name;
    });

TEST(Journal, RemoveDeletesAndToleratesMissing) {
  TempDir dir;
  auto path = dir.path() / "j";
  { auto journal = Journal::open(path, nlohmann::json::object()); }
  ASSERT_TRUE(std::filesystem::exists(path));
  Journal::remove(path);
  EXPECT_FALSE(std::filesystem::exists(path));
  EXPECT_NO_THROW(Journal::remove(path));
}

TEST(Journal, RejectsNonObjectEntries) {
  TempDir dir;
  auto journal = Journal::open(dir.path() / "j", nlohmann::json::object());
  EXPECT_THROW(journal.append(nlohmann::json::array({1, 2})), util::Error);
  EXPECT_THROW(Journal::open(dir.path() / "k", nlohmann::json::array()), util::Error);
}

TEST(Journal, OpenFailsWithAClearErrorForAMissingDirectory) {
  TempDir dir;
  try {
    Journal::open(dir.path() / "missing" / "j", nlohmann::json::object());
    FAIL() << "no error";
  } catch (const util::Error& e) {
    EXPECT_NE(std::string(e.what()).find("missing/j"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace roam::state

namespace roam::state {
namespace {

TEST(JournalEntry, EveryKindRoundTrips) {
  const std::vector<JournalEntry> entries = {
      DownloadEntry{7, "1700000000.M1P2.host"},
      UploadEntry{PendingUpload{"n", "0123456789abcdef", "<m@x>", 512, 40, {"\\Seen"}}},
      UploadedEntry{41, "n"},
      UploadRefusedEntry{"n"},
      MovedEntry{9, "moved", {"$label1", "\\Seen"}, "0123456789abcdef"},
      MovedEntry{10, "no-key", {}, ""},
      MovingEntry{11},
      LocalDeleteEntry{12, "1700000000.M3P4.host"},
      DeletingEntry{13, "1700000000.M5P6.host", "0123456789abcdef"},
      DeletingEntry{14, "format-1-record", ""},
  };
  for (std::size_t i = 0; i < entries.size(); ++i) {
    nlohmann::json object = to_json(entries[i]);
    EXPECT_EQ(entry_from_json(object, "j", 2), entries[i]) << object.dump();
  }
}

TEST(Journal, NamesThatAreNotUtf8AreStoredEscaped) {
  // JSON cannot hold a Latin-1 file name as it is; appending one used to
  // throw and block the folder.
  TempDir dir;
  auto path = dir.path() / "j";
  const std::vector<JournalEntry> entries = {
      DownloadEntry{7, "caf\xe9"},
      UploadEntry{PendingUpload{"\xff.host", "0123456789abcdef", "<m@x>", 512, 40, {}}},
      UploadedEntry{41, "\xff.host"},
      MovedEntry{9, "\xc3\xa9-is-valid", {}, ""},
  };
  {
    auto journal = Journal::open(path, {{"uidvalidity", 1}});
    for (const auto& entry : entries) {
      journal.append(entry);
    }
    journal.sync();
  }
  auto text = read_text(path);
  EXPECT_NE(text.find("\"caf/E9\""), std::string::npos) << text;
  EXPECT_NE(text.find("\"/FF.host\""), std::string::npos) << text;
  auto lines = Journal::read(path);
  ASSERT_EQ(lines.size(), entries.size() + 1);
  for (std::size_t i = 0; i < entries.size(); ++i) {
    EXPECT_EQ(entry_from_json(lines[i + 1], path, i + 2), entries[i])
        << lines[i + 1].dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  }
}

TEST(Journal, AMessageIdThatIsNotUtf8IsStoredEmpty) {
  TempDir dir;
  auto path = dir.path() / "j";
  {
    auto journal = Journal::open(path, {{"uidvalidity", 1}});
    journal.append(UploadEntry{PendingUpload{"n", "0123456789abcdef", "<caf\xe9@x>", 512, 40, {}}});
    journal.sync();
  }
  auto lines = Journal::read(path);
  ASSERT_EQ(lines.size(), 2U);
  EXPECT_EQ(entry_from_json(lines[1], path, 2),
            JournalEntry(UploadEntry{PendingUpload{"n", "0123456789abcdef", "", 512, 40, {}}}));
}

struct BadEntry {
  const char* label;
  const char* json;
  const char* expected;
};

class BadJournalEntryTest : public ::testing::TestWithParam<BadEntry> {};

TEST_P(BadJournalEntryTest, IsAFolderErrorNamingJournalAndLine) {
  try {
    entry_from_json(nlohmann::json::parse(GetParam().json), "/state/folder-X.json.journal", 4);
    FAIL() << "accepted " << GetParam().json;
  } catch (const util::Error& e) {
    std::string message = e.what();
    EXPECT_EQ(e.scope(), util::Scope::Folder);
    EXPECT_NE(message.find("/state/folder-X.json.journal line 4"), std::string::npos) << message;
    EXPECT_NE(message.find(GetParam().expected), std::string::npos) << message;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Table, BadJournalEntryTest,
    ::testing::Values(
        BadEntry{"no_op", R"({"uid":1,"name":"a"})", "no \"op\""},
        BadEntry{"unknown_op", R"({"op":"teleport"})", "unknown \"op\""},
        BadEntry{"uid_as_string", R"({"op":"download","uid":"7","name":"a"})",
                 "\"uid\" is not a number"},
        BadEntry{"uid_zero", R"({"op":"uploaded","uid":0,"name":"a"})", "uid 0"},
        BadEntry{"uid_too_large", R"({"op":"uploaded","uid":4294967296,"name":"a"})",
                 "\"uid\" is not a number"},
        BadEntry{"name_with_slash", R"({"op":"download","uid":3,"name":"../../etc/passwd"})",
                 "cannot be a Maildir file name"},
        BadEntry{"upload_without_key",
                 R"({"op":"upload","name":"a","message_id":"","size":1,)"
                 R"("uidnext":1,"flags":[]})",
                 "no \"key\""},
        BadEntry{"moved_bad_key", R"({"op":"moved","uid":3,"name":"a","flags":[],"key":"XYZ"})",
                 "16 lower-case hex digits"},
        BadEntry{"moving_without_uid", R"({"op":"moving"})", "no \"uid\""},
        BadEntry{"delete_local_without_name", R"({"op":"delete_local","uid":4})", "no \"name\""},
        BadEntry{"delete_local_escaping", R"({"op":"delete_local","uid":4,"name":".."})",
                 "cannot be a Maildir file name"},
        BadEntry{"deleting_without_key", R"({"op":"deleting","uid":4,"name":"a"})", "no \"key\""},
        BadEntry{"deleting_escaping", R"({"op":"deleting","uid":4,"name":"../x","key":""})",
                 "cannot be a Maildir file name"},
        BadEntry{"flags_not_array", R"({"op":"moved","uid":3,"name":"a","flags":"S","key":""})",
                 "\"flags\" is not an array"}),
    [](const ::testing::TestParamInfo<BadEntry>& param_info) {
      return std::string(param_info.param.label);
    });

}  // namespace
}  // namespace roam::state
