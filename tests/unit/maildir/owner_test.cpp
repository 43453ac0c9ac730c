#include "maildir/owner.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>

#include "fakes/temp_dir.hpp"
#include "util/error.hpp"

namespace roam::maildir {
namespace {

using fakes::TempDir;
namespace fs = std::filesystem;

std::string read_text(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

TEST(ClaimRoot, TheFirstSyncMarksTheRoot) {
  TempDir dir;
  auto root = dir.path() / "Mail";
  // A root that the sync did not create stays absent.
  claim_root(root, "work", MarkerWrite::Yes);
  EXPECT_FALSE(fs::exists(root));
  fs::create_directory(root);
  claim_root(root, "work", MarkerWrite::Yes);
  EXPECT_EQ(read_text(root / ".roam-account"), "work\n");
  // Its own marker is no obstacle, and stays as it is.
  claim_root(root, "work", MarkerWrite::Yes);
  EXPECT_EQ(read_text(root / ".roam-account"), "work\n");
}

TEST(ClaimRoot, ADryRunWritesNothing) {
  TempDir dir;
  auto root = dir.path() / "Mail";
  claim_root(root, "work", MarkerWrite::No);
  EXPECT_FALSE(fs::exists(root));
}

TEST(ClaimRoot, AnotherAccountsRootIsRefusedNamingBothAndTheFix) {
  TempDir dir;
  auto root = dir.path() / "Mail";
  fs::create_directory(root);
  claim_root(root, "home", MarkerWrite::Yes);
  for (auto write : {MarkerWrite::Yes, MarkerWrite::No}) {
    try {
      claim_root(root, "work", write);
      ADD_FAILURE() << "another account's Maildir was accepted";
    } catch (const util::Error& e) {
      std::string message = e.what();
      EXPECT_EQ(e.scope(), util::Scope::Account);
      EXPECT_NE(message.find("belongs to account \"home\""), std::string::npos) << message;
      EXPECT_NE(message.find("not to account \"work\""), std::string::npos) << message;
      EXPECT_NE(message.find("a maildir of its own"), std::string::npos) << message;
      EXPECT_NE(message.find("remove " + (root / ".roam-account").string()), std::string::npos)
          << message;
    }
  }
  EXPECT_EQ(read_text(root / ".roam-account"), "home\n");
}

TEST(ClaimRoot, AMarkerWrittenByHandWithCrLfIsRead) {
  TempDir dir;
  std::ofstream(dir.path() / ".roam-account") << "work\r\n";
  EXPECT_NO_THROW(claim_root(dir.path(), "work", MarkerWrite::Yes));
  EXPECT_THROW(claim_root(dir.path(), "home", MarkerWrite::Yes), util::Error);
}

// An inbox path outside the root could be shared by two accounts as well
// (both with inbox = ~/Maildir), so it carries the marker too.
TEST(ClaimTree, MarksAndChecksAnInboxPathOutsideTheRoot) {
  TempDir dir;
  const fs::path root = dir.path() / "Mail";
  const fs::path inbox = dir.path() / "Maildir";
  fs::create_directories(root);
  fs::create_directories(inbox);
  claim_tree(Tree(root, Layout::Legacy, '.', inbox), "work", MarkerWrite::Yes);
  EXPECT_EQ(read_text(root / ".roam-account"), "work\n");
  EXPECT_EQ(read_text(inbox / ".roam-account"), "work\n");
  const fs::path other = dir.path() / "Other";
  fs::create_directories(other);
  EXPECT_THROW(claim_tree(Tree(other, Layout::Verbatim, '.', inbox), "home", MarkerWrite::No),
               util::Error);
  // An inbox inside the root is covered by the root's marker.
  const fs::path inside = root / "Inbox";
  fs::create_directories(inside);
  claim_tree(Tree(root, Layout::Verbatim, '.', inside), "work", MarkerWrite::Yes);
  EXPECT_FALSE(fs::exists(inside / ".roam-account"));
}

}  // namespace
}  // namespace roam::maildir
