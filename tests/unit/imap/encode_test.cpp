// Tests of command-argument encoding: astrings and flag lists.

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>
#include <vector>

#include "imap/encode.hpp"

namespace roam::imap {
namespace {

struct QuoteCase {
  const char* name;
  std::string value;
  std::string expected;
};

class QuoteAstringTest : public testing::TestWithParam<QuoteCase> {};

TEST_P(QuoteAstringTest, Encodes) {
  EXPECT_EQ(quote_astring(GetParam().value), GetParam().expected);
}

INSTANTIATE_TEST_SUITE_P(
    Values, QuoteAstringTest,
    testing::Values(
        QuoteCase{"atom", "INBOX", "INBOX"},
        QuoteCase{"atom_with_punctuation", "INBOX.Sent-2024", "INBOX.Sent-2024"},
        QuoteCase{"utf7_name_is_atom", "&ZeVnLIqe-", "&ZeVnLIqe-"}, QuoteCase{"empty", "", "\"\""},
        QuoteCase{"space", "Sent Items", "\"Sent Items\""},
        QuoteCase{"quote", "a\"b", "\"a\\\"b\""}, QuoteCase{"backslash", "a\\b", "\"a\\\\b\""},
        QuoteCase{"bracket", "[Gmail]/Sent", "\"[Gmail]/Sent\""},
        QuoteCase{"wildcards", "a*b%", "\"a*b%\""},
        QuoteCase{"parens_and_brace", "(x){1}", "\"(x){1}\""},
        QuoteCase{"nil_is_quoted", "nil", "\"nil\""}, QuoteCase{"tab", "a\tb", "\"a\tb\""},
        QuoteCase{"utf8", "caf\xc3\xa9", "\"caf\xc3\xa9\""}),
    [](const testing::TestParamInfo<QuoteCase>& row) { return std::string(row.param.name); });

TEST(QuoteAstringTest, RefusesLineBreaksAndNul) {
  EXPECT_THROW(quote_astring("a\rb"), std::invalid_argument);
  EXPECT_THROW(quote_astring("a\nb"), std::invalid_argument);
  EXPECT_THROW(quote_astring(std::string("a\0b", 3)), std::invalid_argument);
  // The classic injection: a name that would end the command line.
  EXPECT_THROW(quote_astring("x\r\na2 DELETE INBOX"), std::invalid_argument);
}

TEST(FormatFlagListTest, FormatsFlags) {
  EXPECT_EQ(format_flag_list({}), "()");
  EXPECT_EQ(format_flag_list({"\\Seen"}), "(\\Seen)");
  EXPECT_EQ(format_flag_list({"\\Seen", "\\Answered", "$Forwarded", "NonJunk"}),
            "(\\Seen \\Answered $Forwarded NonJunk)");
}

TEST(FormatFlagListTest, RefusesFlagsThatAreNotAtoms) {
  for (const char* bad : {"", "\\", "two words", "a)b", "x\r\n", "\\*", "\"q\"", "\\\\Seen"}) {
    EXPECT_THROW(format_flag_list({"\\Seen", bad}), std::invalid_argument) << bad;
  }
}

}  // namespace
}  // namespace roam::imap
