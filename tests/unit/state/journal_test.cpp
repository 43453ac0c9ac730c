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
