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

}  // namespace
}  // namespace roam::maildir
