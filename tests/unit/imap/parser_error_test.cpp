// Malformed and hostile responses: each must throw ParseError at the exact
// offset where the response stops making sense, and never crash, read past
// the end or loop.

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "imap/lexer.hpp"
#include "imap/parser.hpp"

namespace roam::imap {
namespace {

using namespace std::string_literals;

struct ErrorCase {
  const char* name;
  std::string wire;
  std::size_t offset;
  std::vector<StreamedLiteral> streamed = {};
};

class ParserErrorTest : public testing::TestWithParam<ErrorCase> {};

TEST_P(ParserErrorTest, ThrowsAtOffset) {
  const ErrorCase& c = GetParam();
  RawResponse raw{c.wire, c.streamed};
  try {
    Response response = parse_response(raw);
    ADD_FAILURE() << "parsed as " << response;
  } catch (const ParseError& e) {
    EXPECT_EQ(e.offset(), c.offset) << e.what();
  }
}

std::string nested(std::size_t depth) {
  return "* 1 FETCH (X-DEEP " + std::string(depth, '(') + std::string(depth, ')') + ")";
}

std::vector<ErrorCase> error_cases() {
  return {
      // Framing, tags and keywords.
      {"empty", "", 0},
      {"only_star", "*", 1},
      {"star_space", "* ", 2},
      {"star_without_space", "*OK x", 1},
      {"tag_with_brace", "a{1 OK x", 1},
      {"tag_with_paren", "(a OK x", 0},
      {"tag_with_plus", "a+b OK x", 1},
      {"tag_with_star", "a*1 OK x", 1},
      {"tag_without_status", "a1", 2},
      {"tagged_preauth", "a1 PREAUTH hello", 3},
      {"tagged_unknown_status", "a1 OKAY done", 3},
      // "OK[ALERT" is one atom: '[' is an ATOM-CHAR.
      {"status_without_space", "a1 OK[ALERT] x", 3},
      {"nul_in_text", "a1 OK all\0done"s, 9},
      {"cr_in_continuation", "+ abc\r\ndef", 5},
      // Response codes.
      {"code_unterminated", "* OK [ALERT", 11},
      {"code_other_unterminated", "* OK [XYZ foo", 13},
      {"code_empty", "* OK [] x", 6},
      {"uidnext_not_a_number", "* OK [UIDNEXT abc] x", 14},
      {"uidnext_missing", "* OK [UIDNEXT] x", 13},
      {"uidvalidity_too_large", "* OK [UIDVALIDITY 4294967296] x", 18},
      {"uidnext_extra_argument", "* OK [UIDNEXT 5 6] x", 16},
      {"highestmodseq_overflow", "* OK [HIGHESTMODSEQ 18446744073709551616] x", 20},
      {"permanentflags_unbalanced", "* OK [PERMANENTFLAGS (\\Seen] x", 27},
      {"appenduid_star", "a OK [APPENDUID 1 *] x", 18},
      {"appenduid_zero_validity", "a OK [APPENDUID 0 5] x", 16},
      {"copyuid_zero_uid", "a OK [COPYUID 1 0 2] x", 16},
      {"copyuid_missing_set", "a OK [COPYUID 1 3] x", 17},
      {"mailboxid_without_parens", "* OK [MAILBOXID F123] x", 16},
      {"capability_code_paren", "* OK [CAPABILITY IMAP4rev1 (x)] x", 27},
      // Numbers and number responses.
      {"exists_overflow_64", "* 18446744073709551616 EXISTS", 2},
      {"exists_overflow_32", "* 4294967296 EXISTS", 2},
      {"expunge_zero", "* 0 EXPUNGE", 2},
      {"exists_trailing_garbage", "* 3 EXISTS x", 11},
      {"number_without_keyword", "* 3", 3},
      // Lists.
      {"flags_unbalanced", "* FLAGS (\\Seen", 14},
      {"flags_extra_paren", "* FLAGS (\\Seen))", 15},
      {"flags_missing_list", "* FLAGS \\Seen", 8},
      {"list_extra_paren", "* LIST (\\Noselect)) \"/\" x", 18},
      {"list_long_delimiter", "* LIST () \"ab\" x", 10},
      {"list_atom_delimiter", "* LIST () / x", 10},
      {"list_missing_mailbox", "* LIST () \"/\"", 13},
      {"list_unterminated_mailbox", "* LIST () \"/\" \"abc", 18},
      {"list_nul_in_quoted", "* LIST () \"/\" \"a\0b\""s, 16},
      {"list_bad_escape", "* LIST () \"/\" \"a\\qb\"", 16},
      {"list_streamed_mailbox", "* LIST () \"/\" {5}\r\n", 14, {{14, 5}}},
      {"list_extended_unbalanced", "* LIST () \"/\" x (\"CHILDINFO\" (\"SUBSCRIBED\")", 43},
      {"status_unbalanced", "* STATUS INBOX (MESSAGES 3", 26},
      {"status_value_not_number", "* STATUS INBOX (MESSAGES x)", 25},
      {"capability_paren", "* CAPABILITY IMAP4rev1 (x)", 23},
      // FETCH.
      {"fetch_unbalanced", "* 1 FETCH (UID 5", 16},
      {"fetch_zero_sequence", "* 0 FETCH (UID 1)", 2},
      {"fetch_zero_uid", "* 1 FETCH (UID 0)", 15},
      {"fetch_uid_overflow", "* 1 FETCH (UID 4294967296)", 15},
      {"fetch_modseq_without_parens", "* 1 FETCH (MODSEQ 5)", 18},
      {"fetch_modseq_overflow", "* 1 FETCH (MODSEQ (18446744073709551616))", 19},
      {"fetch_trailing_garbage", "* 1 FETCH (UID 5)junk", 17},
      {"fetch_missing_value", "* 1 FETCH (UID)", 14},
      {"fetch_items_without_space", "* 1 FETCH (UID 5FLAGS ())", 16},
      {"fetch_literal_too_long", "* 1 FETCH (BODY[] {10}\r\nabc)", 18},
      {"fetch_literal_missing_lf", "* 1 FETCH (BODY[] {3}\rabc)", 22},
      {"fetch_literal_size_63_bits", "* 1 FETCH (BODY[] {9223372036854775808}\r\n)", 19},
      {"fetch_streamed_size_mismatch", "* 1 FETCH (BODY[] {100}\r\n)", 18, {{18, 99}}},
      {"fetch_section_unterminated", "* 1 FETCH (BODY[HEADER {0}\r\n)", 23},
      {"fetch_header_list_unbalanced", "* 1 FETCH (BODY[HEADER.FIELDS (DATE] {0}\r\n)", 35},
      {"fetch_origin_unterminated", "* 1 FETCH (BODY[]<0 {0}\r\n)", 19},
      {"fetch_nesting_too_deep", nested(65), 18 + 64},
      {"fetch_nesting_far_too_deep", nested(100000), 18 + 64},
      {"fetch_unknown_value_unbalanced", "* 1 FETCH (X-GM-LABELS (\\Inbox \"a\" UID 5)", 41},
      {"fetch_flags_not_a_list", "* 1 FETCH (FLAGS \\Seen)", 17},
      {"fetch_internaldate_unquoted", "* 1 FETCH (INTERNALDATE 17-Jul-1996)", 24},
      // SEARCH, ESEARCH, VANISHED.
      {"search_zero", "* SEARCH 1 0", 11},
      {"search_garbage", "* SEARCH 1 x", 11},
      {"search_comma_set", "* SEARCH 1,2", 10},
      {"search_modseq_unbalanced", "* SEARCH 1 (MODSEQ 5", 20},
      {"search_other_paren", "* SEARCH 1 (FOO 5)", 12},
      {"esearch_bad_correlator", "* ESEARCH (TOG \"a\") ALL 1", 11},
      {"esearch_min_missing", "* ESEARCH (TAG \"a\") MIN", 23},
      {"vanished_later", "* VANISHED (LATER) 1", 12},
      {"vanished_star", "* VANISHED 1:*", 13},
      {"vanished_empty", "* VANISHED", 10},
      // NAMESPACE (RFC 2342 §5).
      {"namespace_missing_parts", "* NAMESPACE ((\"\" \"/\"))", 22},
      {"namespace_one_part_too_many", "* NAMESPACE NIL NIL NIL NIL", 24},
      {"namespace_atom_for_list", "* NAMESPACE FOO NIL NIL", 12},
      {"namespace_atom_prefix", "* NAMESPACE ((INBOX. \".\")) NIL NIL", 14},
      {"namespace_long_delimiter", "* NAMESPACE ((\"INBOX.\" \"..\")) NIL NIL", 23},
      {"namespace_missing_delimiter", "* NAMESPACE ((\"INBOX.\")) NIL NIL", 22},
      {"namespace_unclosed_list", "* NAMESPACE ((\"\" \"/\") NIL NIL", 22},
      {"namespace_extension_without_values", "* NAMESPACE ((\"\" \"/\" \"X\" \"Y\")) NIL NIL", 25},
      {"namespace_bare_description", "* NAMESPACE (\"\" \"/\") NIL NIL", 13},
      // Unknown responses are skipped but their literals must still fit.
      {"other_literal_too_long", "* XYZ {10}\r\nabc", 6},
      {"other_literal8_too_long", "* XYZ ~{10}\r\nabc", 6},
  };
}

INSTANTIATE_TEST_SUITE_P(Garbage, ParserErrorTest, testing::ValuesIn(error_cases()),
                         [](const testing::TestParamInfo<ErrorCase>& row) {
                           return std::string(row.param.name);
                         });

TEST(ParserErrorMessageTest, ReadsLikeTheSpec) {
  try {
    parse_response(RawResponse{"* 1 FETCH (UID 5", {}});
    FAIL() << "no ParseError";
  } catch (const ParseError& e) {
    EXPECT_EQ(std::string(e.what()),
              "cannot parse server response at offset 16: expected ')' in \"* 1 FETCH (UID 5\"");
    EXPECT_EQ(e.line(), "* 1 FETCH (UID 5");
  }
}

TEST(ParserErrorMessageTest, EscapesControlCharacters) {
  try {
    parse_response(RawResponse{"* 1 FETCH (BODY[] {9}\r\nab)", {}});
    FAIL() << "no ParseError";
  } catch (const ParseError& e) {
    EXPECT_EQ(std::string(e.what()),
              "cannot parse server response at offset 18: literal of 9 octets is longer than the "
              "3 octets that follow in \"* 1 FETCH (BODY[] {9}\\r\\nab)\"");
  }
}

// Every prefix and every single-octet corruption of a few rich responses must
// either parse or throw ParseError: never crash, hang or throw anything else.
TEST(ParserRobustnessTest, PrefixesAndCorruptionsOnlyThrowParseError) {
  const std::vector<std::string> samples = {
      "* 1 FETCH (UID 5 FLAGS (\\Seen) MODSEQ (7) BODY[HEADER.FIELDS (DATE)]<0> {4}\r\nabcd "
      "BODYSTRUCTURE ((\"TEXT\" \"PLAIN\" NIL NIL NIL \"7BIT\" 1 1)(\"TEXT\" \"HTML\" NIL NIL "
      "NIL \"7BIT\" 1 1) \"ALTERNATIVE\"))",
      "* OK [COPYUID 1 1:3,5 7:10] Moved",
      "* LIST (\\HasNoChildren) \"/\" {3}\r\na\"b (\"CHILDINFO\" (\"SUBSCRIBED\"))",
      "* STATUS \"x\" (MESSAGES 1 UIDNEXT 2 X (1 2))",
      "* ESEARCH (TAG \"a\") UID ALL 1:5 COUNT 5 MIN 1 MAX 5 MODSEQ 9",
      "a1 NO [BADCHARSET (UTF-8 \"x\")] no",
      "* NAMESPACE ((\"INBOX.\" \".\" \"X\" (\"a\" {1}\r\nb))) NIL ((\"\" NIL))",
  };
  const std::string replacements = std::string("\0\r\n ()[]{}~\"\\*9:,<>xN", 22);
  std::size_t parsed = 0;
  std::size_t rejected = 0;
  auto attempt = [&](const std::string& text) {
    try {
      parse_response(RawResponse{text, {}});
      ++parsed;
    } catch (const ParseError&) {
      ++rejected;
    }
  };
  for (const std::string& sample : samples) {
    for (std::size_t length = 0; length <= sample.size(); ++length) {
      attempt(sample.substr(0, length));
    }
    for (std::size_t i = 0; i < sample.size(); ++i) {
      for (char c : replacements) {
        std::string corrupted = sample;
        corrupted[i] = c;
        attempt(corrupted);
      }
    }
  }
  EXPECT_GT(parsed, 0u);
  EXPECT_GT(rejected, 0u);
}

}  // namespace
}  // namespace roam::imap
