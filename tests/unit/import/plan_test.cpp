#include "import/plan.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace roam::import {
namespace {

struct UidCase {
  std::string name;
  std::optional<std::uint32_t> uid;
};

TEST(FileUid, ReadsTheNumberAfterUInTheStablePart) {
  const std::vector<UidCase> cases = {
      {"1700000000.123_4.host,U=5", 5u},
      {"1700000000.123_4.host,U=5:2,S", 5u},
      {"1700000000_0.1234.host,U=77,FMD5=0123abcd:2,FS", 77u},
      {"1700000000_0.1234.host,FMD5=0123abcd,U=78", 78u},
      {"1700000000_0.1234.host,U=79!2,S", 79u},
      {"1700000000.123_4.host,U=4294967295", 4294967295u},
      // Not a UID: none, zero, too large, not a number, empty.
      {"1700000000.123_4.host", std::nullopt},
      {"1700000000.123_4.host,U=0", std::nullopt},
      {"1700000000.123_4.host,U=4294967296", std::nullopt},
      {"1700000000.123_4.host,U=12a", std::nullopt},
      {"1700000000.123_4.host,U=", std::nullopt},
      {"1700000000.123_4.host,U=99999999999", std::nullopt},
      // "U" inside another field does not count.
      {"1700000000.123_4.hostU=5", std::nullopt},
      {"1700000000.123_4.host,XU=5", std::nullopt},
      // Only the stable part counts, not the info after ":2,".
      {"1700000000.123_4.host:2,,U=5", std::nullopt},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(file_uid(c.name), c.uid) << c.name;
  }
}

TEST(FileFmd5, ReadsTheHashAfterFmd5) {
  EXPECT_EQ(file_fmd5("1_0.1.host,U=7,FMD5=9a0364b9e99bb480dd25e1f0284c8555:2,S"),
            "9a0364b9e99bb480dd25e1f0284c8555");
  EXPECT_EQ(file_fmd5("1_0.1.host,FMD5=abc,U=7"), "abc");
  EXPECT_EQ(file_fmd5("1_0.1.host,U=7"), "");
}

TEST(FlagsOfLetters, MapsTheLettersBothToolsWriteAndSorts) {
  EXPECT_EQ(flags_of_letters("STRPFD"),
            (std::vector<std::string>{"$Forwarded", "\\Answered", "\\Deleted", "\\Draft",
                                      "\\Flagged", "\\Seen"}));
  // Unknown letters (a mail reader's own, Dovecot keywords a..z) are left
  // out, and a letter twice counts once.
  EXPECT_EQ(flags_of_letters("SaSx"), (std::vector<std::string>{"\\Seen"}));
  EXPECT_TRUE(flags_of_letters("").empty());
}

TEST(ConfigValue, QuotesOnlyWhatRoamsSyntaxNeeds) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"imap.example.org", "imap.example.org"},
      {"pass show mail/work", "pass show mail/work"},  // inner blanks are fine
      {"", "\"\""},
      {" lead", "\" lead\""},
      {"trail\t", "\"trail\t\""},
      {"se#cret", "\"se#cret\""},
      {"se;cret", "\"se;cret\""},
      {"say \"hi\"", "\"say \\\"hi\\\"\""},
      {"back\\slash", "\"back\\\\slash\""},
  };
  for (const auto& [value, written] : cases) {
    EXPECT_EQ(config_value(value), written) << value;
  }
}

TEST(FolderPattern, QuotesNamesWithBlanksAndKeepsTheExclamationMarkOutside) {
  EXPECT_EQ(folder_pattern("Lists/*"), "Lists/*");
  EXPECT_EQ(folder_pattern("!INBOX/sub"), "!INBOX/sub");
  EXPECT_EQ(folder_pattern("Sent Items"), "\"Sent Items\"");
  EXPECT_EQ(folder_pattern("![Gmail]/All Mail"), "!\"[Gmail]/All Mail\"");
  EXPECT_EQ(folder_pattern("a\"b"), "\"a\\\"b\"");
  EXPECT_EQ(folder_pattern("x#y"), "\"x#y\"");
}

TEST(SlashSeparated, WritesEverySeparatorAsASlash) {
  EXPECT_EQ(slash_separated("Lists.roam.dev", "."), "Lists/roam/dev");
  EXPECT_EQ(slash_separated("INBOX", "."), "INBOX");
  EXPECT_EQ(slash_separated("a--b--c", "--"), "a/b/c");
  EXPECT_EQ(slash_separated("a-b", "--"), "a-b");
  EXPECT_EQ(slash_separated("a.b", ""), "a.b");
}

}  // namespace
}  // namespace roam::import
