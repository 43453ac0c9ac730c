#include "import/build.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include "fakes/temp_dir.hpp"
#include "sync/executor.hpp"
#include "sync/planner.hpp"

namespace roam::import {
namespace {

namespace fs = std::filesystem;

class BuildFolderState : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* sub : {"cur", "new", "tmp"}) {
      fs::create_directories(m_tmp.path() / sub);
    }
  }

  // Writes a message file whose Subject names it, so that every file has
  // its own content key.
  std::string put(const std::string& sub, const std::string& file_name) {
    std::string content = "Subject: " + file_name + "\nMessage-ID: <" + file_name +
                          "@example.org>\n\nbody of " + file_name + "\n";
    std::ofstream(m_tmp.path() / sub / file_name) << content;
    return content;
  }

  PlannedFolder plan() const {
    PlannedFolder f;
    f.name = "INBOX";
    f.dir = m_tmp.path();
    f.uidvalidity = 1700000000;
    f.uidnext = 50;
    return f;
  }

  fakes::TempDir m_tmp;
};

TEST_F(BuildFolderState, PairsFilesByTheirUAndKeepsTheOldStatesFlags) {
  std::string a = put("cur", "1.1.host,U=1:2,S");
  put("new", "1.2.host,U=2");
  PlannedFolder f = plan();
  // The agreed flags of U=1 are \Seen \Flagged although the file says S
  // only: the user removed \Flagged since, which roam's first run must
  // still see as a change, so the record keeps the old tool's flags.
  f.by_file_uid[1] = {101, {"\\Seen", "\\Flagged"}};
  f.by_file_uid[2] = {102, {}};
  f.uidnext = 200;
  BuiltFolder b = build_folder_state(f, "INBOX");
  EXPECT_EQ(b.paired, 2u);
  EXPECT_EQ(b.unpaired_files, 0u);
  EXPECT_EQ(b.missing_files, 0u);
  ASSERT_EQ(b.state.messages.size(), 2u);
  const state::MessageRecord& r = b.state.messages.at(101);
  EXPECT_EQ(r.name, "1.1.host,U=1");
  EXPECT_EQ(r.flags, (std::vector<std::string>{"\\Flagged", "\\Seen"}));
  EXPECT_EQ(r.key, sync::content_key_text(sync::local_content_key(a)));
  EXPECT_EQ(b.state.messages.at(102).name, "1.2.host,U=2");
  EXPECT_EQ(b.state.mailbox, "INBOX");
  EXPECT_EQ(b.state.uidvalidity, 1700000000u);
  EXPECT_EQ(b.state.uidnext, 200u);
}

TEST_F(BuildFolderState, LeavesWhatIsUncertainToTheFirstSync) {
  put("cur", "1.1.host,U=1:2,S");  // paired
  put("cur", "1.2.host:2,S");      // no U=
  put("cur", "1.3.host,U=9:2,");   // a U= the old state does not know
  put("cur", "1.4.host,U=3:2,S");  // two files with one U= (a copy) ...
  put("new", "1.5.host,U=3");      // ... neither is the record
  PlannedFolder f = plan();
  f.by_file_uid[1] = {101, {"\\Seen"}};
  f.by_file_uid[3] = {103, {}};
  f.by_file_uid[4] = {104, {}};  // its file was deleted since
  BuiltFolder b = build_folder_state(f, "INBOX");
  EXPECT_EQ(b.paired, 1u);
  EXPECT_EQ(b.unpaired_files, 4u);
  EXPECT_EQ(b.duplicate_uids, 2u);
  EXPECT_EQ(b.missing_files, 1u);
  ASSERT_EQ(b.state.messages.size(), 1u);
  EXPECT_EQ(b.state.messages.begin()->first, 101u);
}

TEST_F(BuildFolderState, TwoFilesWithOneStableNameAreNotPaired) {
  put("cur", "1.1.host,U=1:2,S");
  put("new", "1.1.host,U=1");
  PlannedFolder f = plan();
  f.by_file_uid[1] = {101, {"\\Seen"}};
  BuiltFolder b = build_folder_state(f, "INBOX");
  EXPECT_EQ(b.paired, 0u);
  EXPECT_EQ(b.unpaired_files, 2u);
  EXPECT_TRUE(b.state.messages.empty());
}

TEST_F(BuildFolderState, AFileFromAnotherFolderKeepsItsFmd5AndIsNotPaired) {
  put("cur", "1_0.1.host,U=1,FMD5=aaaa:2,S");
  put("cur", "1_1.1.host,U=2,FMD5=bbbb:2,S");  // moved in by a mail reader
  PlannedFolder f = plan();
  f.fmd5 = "aaaa";
  f.by_file_uid[1] = {1, {"\\Seen"}};
  f.by_file_uid[2] = {2, {"\\Seen"}};
  BuiltFolder b = build_folder_state(f, "INBOX");
  EXPECT_EQ(b.paired, 1u);
  EXPECT_EQ(b.foreign_fmd5, 1u);
  EXPECT_EQ(b.unpaired_files, 1u);
  EXPECT_EQ(b.state.messages.count(1), 1u);
  // Its UID's own file is missing here (it moved), not counted twice.
  EXPECT_EQ(b.missing_files, 0u);
}

TEST_F(BuildFolderState, WithoutUidvalidityNothingIsPaired) {
  put("cur", "1.1.host,U=1:2,S");
  PlannedFolder f = plan();
  f.uidvalidity = 0;
  f.by_file_uid[1] = {101, {"\\Seen"}};
  BuiltFolder b = build_folder_state(f, "INBOX");
  EXPECT_EQ(b.paired, 0u);
  EXPECT_TRUE(b.state.messages.empty());
  EXPECT_EQ(b.state.uidvalidity, 0u);
}

TEST_F(BuildFolderState, UidnextIsPastTheHighestPairedUid) {
  put("cur", "1.1.host,U=1:2,S");
  PlannedFolder f = plan();
  f.uidnext = 0;
  f.by_file_uid[1] = {700, {}};
  BuiltFolder b = build_folder_state(f, "INBOX");
  EXPECT_EQ(b.state.uidnext, 701u);
}

TEST_F(BuildFolderState, TheBuiltStateIsOneRoamAcceptsOnDisk) {
  put("cur", "1.1.host,U=1:2,S");
  PlannedFolder f = plan();
  f.by_file_uid[1] = {101, {"\\Seen"}};
  BuiltFolder b = build_folder_state(f, "Archive/2024");
  fs::path file = m_tmp.path() / "state.json";
  state::save_folder_state(file, b.state);
  EXPECT_EQ(state::load_folder_state(file), b.state);
}

}  // namespace
}  // namespace roam::import
