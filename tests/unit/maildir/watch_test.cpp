// ChangeWatch against a real directory tree: what a mail reader does to
// the Maildir is a change; what is not a message yet (tmp/), or not in a
// folder at all (roam's marker in the root), is not, so that a watch loop
// is not woken by its own bookkeeping.

#include "maildir/watch.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "fakes/temp_dir.hpp"

namespace roam::maildir {
namespace {

namespace fs = std::filesystem;

void make_folder(const fs::path& dir) {
  for (const char* part : {"cur", "new", "tmp"}) {
    fs::create_directories(dir / part);
  }
}

void write_file(const fs::path& p) {
  std::ofstream(p) << "Subject: x\n\nbody\n";
}

class ChangeWatchTest : public testing::Test {
 protected:
  ChangeWatchTest() {
    root = dir.path() / "Mail";
    make_folder(root / "INBOX");
    make_folder(root / "Lists" / "dev");
    write_file(root / "INBOX" / "cur" / "1.host:2,");
  }
  fakes::TempDir dir;
  fs::path root;
};

TEST_F(ChangeWatchTest, WatchesCurAndNewOfEveryFolderAndTheDirectoriesHoldingThem) {
  ChangeWatch w(Tree{root});
  // Mail, INBOX, INBOX/{cur,new}, Lists, Lists/dev, Lists/dev/{cur,new}.
  EXPECT_EQ(w.watched(), 8u);
  EXPECT_FALSE(w.drain());
}

TEST_F(ChangeWatchTest, AFlagRenameIsAChange) {
  ChangeWatch w(Tree{root});
  fs::rename(root / "INBOX" / "cur" / "1.host:2,", root / "INBOX" / "cur" / "1.host:2,S");
  EXPECT_TRUE(w.drain());
  EXPECT_FALSE(w.drain()) << "the events were read";
}

TEST_F(ChangeWatchTest, ADeliveryToANestedFolderIsAChange) {
  ChangeWatch w(Tree{root});
  write_file(root / "Lists" / "dev" / "tmp" / "2.host");
  EXPECT_FALSE(w.drain()) << "a file in tmp/ is not a message yet";
  fs::rename(root / "Lists" / "dev" / "tmp" / "2.host", root / "Lists" / "dev" / "new" / "2.host");
  EXPECT_TRUE(w.drain());
}

TEST_F(ChangeWatchTest, ADeletionIsAChange) {
  ChangeWatch w(Tree{root});
  fs::remove(root / "INBOX" / "cur" / "1.host:2,");
  EXPECT_TRUE(w.drain());
}

TEST_F(ChangeWatchTest, AFileInTheRootIsNoChange) {
  ChangeWatch w(Tree{root});
  write_file(root / ".roam-account");
  fs::rename(root / ".roam-account", root / ".roam-account2");
  EXPECT_FALSE(w.drain());
}

TEST_F(ChangeWatchTest, ANewFolderIsAChangeAndIsWatchedFromThen) {
  ChangeWatch w(Tree{root});
  const auto before = w.watched();
  make_folder(root / "Archive");
  EXPECT_TRUE(w.drain());
  EXPECT_EQ(w.watched(), before + 3) << "Archive, its cur/ and its new/";
  write_file(root / "Archive" / "new" / "3.host");
  EXPECT_TRUE(w.drain());
}

TEST_F(ChangeWatchTest, AMaildirThatAppearsLaterIsWatchedAfterARescan) {
  fs::remove_all(root);
  ChangeWatch w(Tree{root});
  EXPECT_EQ(w.watched(), 0u);
  make_folder(root / "INBOX");
  w.rescan();
  EXPECT_EQ(w.watched(), 4u);
  write_file(root / "INBOX" / "new" / "4.host");
  EXPECT_TRUE(w.drain());
}

TEST_F(ChangeWatchTest, ARemovedFolderStopsBeingWatched) {
  ChangeWatch w(Tree{root});
  fs::remove_all(root / "Lists");
  EXPECT_TRUE(w.drain());
  EXPECT_EQ(w.watched(), 4u) << "Mail, INBOX and its cur/ and new/";
}

// mbsync's Inbox outside Path: INBOX's cur/ and new/ live there, and so do
// the directories where its legacy subfolders appear.
TEST_F(ChangeWatchTest, WatchesAnInboxPathOutsideTheRoot) {
  const fs::path inbox = dir.path() / "Maildir";
  make_folder(inbox);
  ChangeWatch w(Tree(root, Layout::Legacy, '.', inbox));
  // The eight of the root, and Maildir, Maildir/{cur,new}.
  EXPECT_EQ(w.watched(), 11u);
  write_file(inbox / "new" / "3.host");
  EXPECT_TRUE(w.drain());
  make_folder(inbox / ".sub");
  EXPECT_TRUE(w.drain()) << "a new subfolder of INBOX";
  write_file(inbox / ".sub" / "new" / "4.host");
  EXPECT_TRUE(w.drain()) << "the new subfolder is watched";
  write_file(inbox / ".roam-account");
  EXPECT_FALSE(w.drain()) << "the marker in the inbox path is no change";
}

}  // namespace
}  // namespace roam::maildir
