#include "maildir/name.hpp"

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <thread>
#include <vector>

namespace roam::maildir {
namespace {

struct ParseRow {
  std::string file_name;
  std::string stable_name;
  std::string letters;
  std::string extra;
  bool has_info;
  NameKind kind;
};

TEST(NameTest, ParsesFileNames) {
  const std::vector<ParseRow> rows = {
      {"1234.x.host", "1234.x.host", "", "", false, NameKind::Valid},
      {"a:2,", "a", "", "", true, NameKind::Valid},
      {"a:2,S", "a", "S", "", true, NameKind::Valid},
      {"a:2,SRF", "a", "FRS", "", true, NameKind::Valid},
      {"a:2,SSRR", "a", "RS", "", true, NameKind::Valid},
      {"a:2,Sa", "a", "Sa", "", true, NameKind::Valid},
      {"a:2,baS", "a", "Sab", "", true, NameKind::Valid},
      {"a:1,whatever", "a", "", "", true, NameKind::Valid},
      {"1.M2P3.host,U=12:2,S", "1.M2P3.host,U=12", "S", "", true, NameKind::Valid},
      {"1.M2P3.host,S=123,W=130:2,FS", "1.M2P3.host,S=123,W=130", "FS", "", true, NameKind::Valid},
      {"a:2,S,ext=1", "a", "S", ",ext=1", true, NameKind::Valid},
      {":1,", "", "", "", true, NameKind::Invalid},
      {":2,S", "", "", "", true, NameKind::Invalid},
      {"a:3,S", "a:3,S", "", "", false, NameKind::Invalid},
      {"a:b", "a:b", "", "", false, NameKind::Invalid},
      {"a\x01"
       "b",
       "a\x01"
       "b",
       "", "", false, NameKind::Invalid},
      {"a:2,S\x7f", "a", "\x7fS", "", true, NameKind::Invalid},
      {".hidden", ".hidden", "", "", false, NameKind::Skip},
      {".", ".", "", "", false, NameKind::Skip},
      {"..", "..", "", "", false, NameKind::Skip},
  };
  for (const ParseRow& row : rows) {
    SCOPED_TRACE(row.file_name);
    EXPECT_EQ(classify_name(row.file_name), row.kind);
    if (row.kind != NameKind::Valid) {
      continue;
    }
    ParsedName parsed = parse_name(row.file_name);
    EXPECT_EQ(parsed.stable_name, row.stable_name);
    EXPECT_EQ(parsed.letters, row.letters);
    EXPECT_EQ(parsed.extra, row.extra);
    EXPECT_EQ(parsed.has_info, row.has_info);
  }
}

TEST(NameTest, ClassifiesNamesWithSlashOrNulAsInvalid) {
  EXPECT_EQ(classify_name("a/b"), NameKind::Invalid);
  EXPECT_EQ(classify_name(std::string("a\0b", 3)), NameKind::Invalid);
  EXPECT_EQ(classify_name(""), NameKind::Invalid);
}

struct FormatRow {
  std::string stable_name;
  std::string letters;
  Subdir target;
  std::string extra;
  std::string expected;
};

TEST(NameTest, FormatsFileNames) {
  const std::vector<FormatRow> rows = {
      {"a", "", Subdir::New, "", "a"},
      {"a", "", Subdir::Cur, "", "a:2,"},
      {"a", "SRF", Subdir::Cur, "", "a:2,FRS"},
      {"a", "aSS", Subdir::Cur, "", "a:2,Sa"},
      {"a,U=12", "S", Subdir::Cur, "", "a,U=12:2,S"},
      {"a", "S", Subdir::Cur, ",ext", "a:2,S,ext"},
      {"a", "", Subdir::New, ",ext", "a:2,,ext"},
  };
  for (const FormatRow& row : rows) {
    SCOPED_TRACE(row.expected);
    EXPECT_EQ(format_name(row.stable_name, row.letters, row.target, row.extra), row.expected);
  }
}

TEST(NameTest, FormatThenParseRoundTrips) {
  for (const std::string letters : {"", "S", "DFPRST", "Tab"}) {
    std::string name = format_name("1.M2P3Q4.host", letters, Subdir::Cur, ",x");
    ParsedName parsed = parse_name(name);
    EXPECT_EQ(parsed.stable_name, "1.M2P3Q4.host");
    EXPECT_EQ(parsed.letters, letters);
    EXPECT_EQ(parsed.extra, ",x");
    EXPECT_EQ(classify_name(name), NameKind::Valid);
  }
}

TEST(NameTest, FlagTableIsSortedAndMapsBothWays) {
  for (std::size_t i = 1; i < k_flag_table.size(); ++i) {
    EXPECT_LT(k_flag_table[i - 1].letter, k_flag_table[i].letter);
  }
  for (const FlagMapping& row : k_flag_table) {
    EXPECT_EQ(letter_for_imap_flag(row.imap_flag), row.letter);
    EXPECT_EQ(imap_flag_for_letter(row.letter), row.imap_flag);
  }
  EXPECT_EQ(letter_for_imap_flag("\\seen"), 'S');
  EXPECT_EQ(letter_for_imap_flag("$forwarded"), 'P');
  EXPECT_EQ(letter_for_imap_flag("$Junk"), std::nullopt);
  EXPECT_EQ(letter_for_imap_flag("\\Recent"), std::nullopt);
  EXPECT_EQ(imap_flag_for_letter('a'), std::nullopt);
}

TEST(NameTest, ImapFlagsToLettersKeepsUnmappedKeywords) {
  LettersFromImap result =
      letters_from_imap_flags({"\\Seen", "$Junk", "\\Answered", "\\Flagged", "$Junk", "work"});
  EXPECT_EQ(result.letters, "FRS");
  EXPECT_EQ(result.unmapped, (std::vector<std::string>{"$Junk", "work"}));
}

TEST(NameTest, LettersToImapFlagsKeepsUnknownLetters) {
  ImapFromLetters result = imap_flags_from_letters("aSTDb");
  EXPECT_EQ(result.imap_flags, (std::vector<std::string>{"\\Draft", "\\Seen", "\\Deleted"}));
  EXPECT_EQ(result.unknown_letters, "ab");
}

TEST(NameTest, FlagMappingRoundTrips) {
  std::vector<std::string> all;
  for (const FlagMapping& row : k_flag_table) {
    all.emplace_back(row.imap_flag);
  }
  LettersFromImap letters = letters_from_imap_flags(all);
  EXPECT_EQ(letters.letters, "DFPRST");
  EXPECT_TRUE(letters.unmapped.empty());
  ImapFromLetters back = imap_flags_from_letters(letters.letters);
  EXPECT_EQ(back.imap_flags, all);
  EXPECT_EQ(back.unknown_letters, "");
}

TEST(NameTest, ReplaceKnownLettersKeepsUnknownOnes) {
  EXPECT_EQ(replace_known_letters("Sab", "FR"), "FRab");
  EXPECT_EQ(replace_known_letters("Sab", ""), "ab");
  EXPECT_EQ(replace_known_letters("", "SR"), "RS");
  EXPECT_EQ(replace_known_letters("S", "Sz"), "S");
  EXPECT_EQ(known_letters("zSaD"), "DS");
  EXPECT_EQ(unknown_letters("zSaD"), "az");
}

TEST(NameTest, NewStableNamesAreValidAndUnique) {
  std::set<std::string> names;
  std::vector<std::string> from_thread;
  std::thread other([&from_thread] {
    for (int i = 0; i < 500; ++i) {
      from_thread.push_back(new_stable_name());
    }
  });
  for (int i = 0; i < 500; ++i) {
    names.insert(new_stable_name());
  }
  other.join();
  names.insert(from_thread.begin(), from_thread.end());
  EXPECT_EQ(names.size(), 1000u);
  for (const std::string& name : names) {
    ASSERT_TRUE(is_valid_stable_name(name)) << name;
    EXPECT_EQ(classify_name(name), NameKind::Valid) << name;
    EXPECT_EQ(name.find(",S="), std::string::npos) << name;
    EXPECT_NE(name.find(".M"), std::string::npos) << name;
    EXPECT_NE(name.find('Q'), std::string::npos) << name;
  }
}

TEST(NameTest, ValidatesStableNames) {
  EXPECT_TRUE(is_valid_stable_name("1.M2P3Q4.host,U=5"));
  EXPECT_FALSE(is_valid_stable_name(""));
  EXPECT_FALSE(is_valid_stable_name(".x"));
  EXPECT_FALSE(is_valid_stable_name("a/b"));
  EXPECT_FALSE(is_valid_stable_name("a:b"));
  EXPECT_FALSE(is_valid_stable_name("a\nb"));
}

}  // namespace
}  // namespace roam::maildir
