#include "state/summary.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/stat.h>

#include <fstream>

#include "fakes/temp_dir.hpp"
#include "util/error.hpp"

namespace roam::state {
namespace {

using fakes::TempDir;

FolderSummary sample() {
  FolderSummary f;
  f.uidvalidity = 1700000000;
  f.uidnext = 100001;
  f.highestmodseq = 123456789012ull;
  f.messages = 100000;
  f.state_file = {11, 2048, 1'700'000'000'123'456'789};
  f.cur = {12, 4096, 1'700'000'000'000'000'001};
  f.new_dir = {13, 40, 1'699'999'999'999'999'999};
  return f;
}

TEST(Summary, RoundTripsEveryField) {
  AccountSummary s{{"INBOX", sample()}, {"Lists/dev \xc3\xa9", sample()}};
  s["Lists/dev \xc3\xa9"].uidnext = 7;
  s["Lists/dev \xc3\xa9"].mailbox = "Lists/dev &AOk-";
  EXPECT_EQ(parse_summary(serialize_summary(s)), s);
}

// An entry to verify keeps its digest; one written by a roam before
// "verify" existed (version 1) is read as one that needs none.
TEST(Summary, AnEntryToVerifyKeepsItsDigestAndVersionOneIsRead) {
  AccountSummary s{{"INBOX", sample()}};
  s["INBOX"].verify = true;
  s["INBOX"].local_digest = 0xfedcba9876543210ull;
  const std::string text = serialize_summary(s);
  EXPECT_NE(text.find("\"roam_summary\": 2"), std::string::npos) << text;
  EXPECT_EQ(parse_summary(text), s);

  const AccountSummary v1 = parse_summary(
      R"({"roam_summary": 1, "folders": {"INBOX": {"uidvalidity": 1, "uidnext": 2,)"
      R"("highestmodseq": 3, "messages": 4, "state_file": [1, 2, 3], "cur": [4, 5, 6],)"
      R"("new": [7, 8, 9]}}})");
  ASSERT_EQ(v1.count("INBOX"), 1u);
  EXPECT_FALSE(v1.at("INBOX").verify);
  EXPECT_EQ(v1.at("INBOX").messages, 4u);
}

// A folder the last run did not leave settled keeps only its server name
// (for the STATUS of the next run); "settled" is never true on disk.
TEST(Summary, AnUnsettledFolderKeepsOnlyItsName) {
  FolderSummary name_only;
  name_only.mailbox = "Lists/dev";
  name_only.settled = false;
  AccountSummary s{{"INBOX", sample()}, {"Lists/dev", name_only}};
  std::string text = serialize_summary(s);
  EXPECT_EQ(parse_summary(text), s);
  EXPECT_EQ(text.find("\"uidnext\": 0"), std::string::npos) << text;
  for (const char* bad :
       {R"({"roam_summary": 1, "folders": {"A": {"settled": false}}})",
        R"({"roam_summary": 1, "folders": {"A": {"mailbox": "A", "settled": true}}})",
        R"({"roam_summary": 1, "folders": {"A": {"mailbox": "A", "settled": 0}}})"}) {
    EXPECT_THROW(parse_summary(bad), util::Error) << bad;
  }
}

// A summary written before the server's name was recorded still counts;
// its folders only get their STATUS by LIST-STATUS.
TEST(Summary, AnEntryWithoutTheServersNameIsRead) {
  AccountSummary s{{"INBOX", sample()}};
  std::string text = serialize_summary(s);
  ASSERT_EQ(text.find("\"mailbox\""), std::string::npos);
  EXPECT_EQ(parse_summary(text), s);
  EXPECT_TRUE(parse_summary(text).at("INBOX").mailbox.empty());
  auto bad = text;
  bad.replace(bad.find("\"uidvalidity\""), 0, "\"mailbox\": 7, ");
  EXPECT_THROW(parse_summary(bad), util::Error);
}

// The delimiter lets the next run find a folder's Maildir before the
// server lists it: a character, none (a server without hierarchy), or not
// known (an older entry, or a delimiter the file does not keep).
TEST(Summary, TheDelimiterIsKeptWhenItIsPrintable) {
  AccountSummary s{{"a", sample()}, {"b", sample()}, {"c", sample()}, {"d", sample()}};
  s["a"].delimiter = "/";
  s["b"].delimiter = ".";
  s["c"].delimiter = "";
  FolderSummary name_only;
  name_only.mailbox = "e";
  name_only.settled = false;
  name_only.delimiter = "\\";
  s["e"] = name_only;
  const std::string text = serialize_summary(s);
  EXPECT_NE(text.find("\"delimiter\": \"\""), std::string::npos) << text;
  EXPECT_EQ(parse_summary(text), s);
  EXPECT_FALSE(parse_summary(text).at("d").delimiter);

  // A delimiter that is not printable ASCII is not kept: the file stays
  // UTF-8, and the next run finds the folder after LIST, as before.
  AccountSummary odd{{"a", sample()}};
  odd["a"].delimiter = "\xff";
  EXPECT_FALSE(parse_summary(serialize_summary(odd)).at("a").delimiter);

  EXPECT_EQ(delimiter_of(delimiter_text('/')), '/');
  EXPECT_EQ(delimiter_text(std::nullopt), "");
  EXPECT_FALSE(delimiter_of(delimiter_text(std::nullopt)));

  for (const char* bad : {R"("delimiter": "ab", )", R"("delimiter": 47, )"}) {
    std::string damaged = serialize_summary(AccountSummary{{"a", sample()}});
    damaged.replace(damaged.find("\"uidvalidity\""), 0, bad);
    EXPECT_THROW(parse_summary(damaged), util::Error) << damaged;
  }
}

TEST(Summary, IsSavedAndLoaded) {
  TempDir dir;
  AccountSummary s{{"INBOX", sample()}};
  save_summary(summary_file_for(dir.path()), s);
  EXPECT_EQ(load_summary(summary_file_for(dir.path())), s);
}

// Only a cache: whatever is wrong with it costs a full check, never an
// error or a wrong skip.
TEST(Summary, AMissingOrDamagedFileIsAnEmptySummary) {
  TempDir dir;
  const auto path = summary_file_for(dir.path());
  EXPECT_TRUE(load_summary(path).empty());
  const char* damaged[] = {
      "",
      "{",
      "[]",
      R"({"roam_summary":3,"folders":{"A":{"mailbox":"A","settled":false}}})",
      R"({"roam_summary":1})",
      R"({"roam_summary":1,"folders":{"INBOX":{"uidvalidity":1}}})",
      R"({"roam_summary":1,"folders":{"INBOX":{"uidvalidity":1,"uidnext":2,"highestmodseq":3,)"
      R"("messages":4,"state_file":[1,2],"cur":[1,2,3],"new":[1,2,3]}}})",
      R"({"roam_summary":1,"folders":{"INBOX":{"uidvalidity":4294967296,"uidnext":2,)"
      R"("highestmodseq":3,"messages":4,"state_file":[1,2,3],"cur":[1,2,3],"new":[1,2,3]}}})",
  };
  for (const char* text : damaged) {
    {
      std::ofstream out(path, std::ios::binary);
      out << text;
    }
    EXPECT_TRUE(load_summary(path).empty()) << text;
  }
}

TEST(Summary, AStampChangesWithTheDirectory) {
  TempDir dir;
  const auto sub = dir.path() / "cur";
  std::filesystem::create_directory(sub);
  auto before = stamp_of(sub);
  ASSERT_TRUE(before);
  EXPECT_EQ(stamp_of(sub), before) << "stat twice, nothing changed";
  // Set the mtime back, as time passing would leave it, then change the
  // directory: the new mtime is a current one.
  struct timespec times[2] = {{0, UTIME_OMIT}, {before->mtime_ns / 1'000'000'000 - 3600, 0}};
  ASSERT_EQ(::utimensat(AT_FDCWD, sub.c_str(), times, 0), 0);
  auto aged = stamp_of(sub);
  ASSERT_TRUE(aged);
  EXPECT_NE(aged, before);
  std::ofstream(sub / "file") << "x";
  EXPECT_NE(stamp_of(sub), aged) << "a new entry changes the directory's mtime";
  EXPECT_FALSE(stamp_of(dir.path() / "missing"));
}

}  // namespace
}  // namespace roam::state
