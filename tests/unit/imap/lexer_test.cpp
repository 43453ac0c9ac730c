// Tests of the low-level lexer: each call's value and where it leaves the
// cursor, literal handling (plain, literal8, non-synchronising, streamed) and
// the limits that keep hostile input harmless.

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "imap/lexer.hpp"

namespace roam::imap {
namespace {

using namespace std::string_literals;

RawResponse raw(std::string text, std::vector<StreamedLiteral> streamed = {}) {
  return RawResponse{std::move(text), std::move(streamed)};
}

// Runs `read` at the start of `text` and returns the ParseError's offset, or
// -1 if nothing was thrown.
template <typename Read>
long error_offset(const std::string& text, Read read) {
  RawResponse r = raw(text);
  Lexer lx(r);
  try {
    read(lx);
  } catch (const ParseError& e) {
    return static_cast<long>(e.offset());
  }
  return -1;
}

TEST(LexerTest, AtomStopsAtAtomSpecials) {
  RawResponse r = raw("OK] (x) \\Seen");
  Lexer lx(r);
  EXPECT_EQ(lx.read_atom(), "OK");
  EXPECT_EQ(lx.offset(), 2u);
  EXPECT_EQ(lx.peek(), ']');
  EXPECT_TRUE(lx.try_consume(']'));
  lx.expect_space();
  EXPECT_EQ(lx.offset(), 4u);
  EXPECT_EQ(error_offset("(x)", [](Lexer& l) { l.read_atom(); }), 0);
}

TEST(LexerTest, AstringAtomIncludesBracket) {
  RawResponse r = raw("[Gmail]/Sent rest");
  Lexer lx(r);
  StringValue value = lx.read_astring();
  EXPECT_EQ(value.value, "[Gmail]/Sent");
  EXPECT_EQ(value.encoding, Encoding::Atom);
  EXPECT_EQ(lx.offset(), 12u);
}

TEST(LexerTest, ItemNameStopsAtBracket) {
  RawResponse r = raw("BODY[HEADER]");
  Lexer lx(r);
  EXPECT_EQ(lx.read_item_name(), "BODY");
  EXPECT_EQ(lx.offset(), 4u);
}

TEST(LexerTest, TagExcludesPlus) {
  RawResponse r = raw("a1]x+ OK");
  Lexer lx(r);
  EXPECT_EQ(lx.read_tag(), "a1]x");
  EXPECT_EQ(lx.offset(), 4u);
  EXPECT_EQ(error_offset("+1 OK", [](Lexer& l) { l.read_tag(); }), 0);
}

struct NumberCase {
  const char* name;
  std::string text;
  std::uint64_t value;
  std::size_t end;
};

class LexerNumberTest : public testing::TestWithParam<NumberCase> {};

TEST_P(LexerNumberTest, ReadsNumber) {
  RawResponse r = raw(GetParam().text);
  Lexer lx(r);
  EXPECT_EQ(lx.read_number(), GetParam().value);
  EXPECT_EQ(lx.offset(), GetParam().end);
}

INSTANTIATE_TEST_SUITE_P(
    Numbers, LexerNumberTest,
    testing::Values(NumberCase{"zero", "0", 0, 1}, NumberCase{"stops_at_space", "42 x", 42, 2},
                    NumberCase{"leading_zeros", "007)", 7, 3},
                    NumberCase{"uint32_max", "4294967295", 4294967295u, 10},
                    NumberCase{"int63_max", "9223372036854775807", 9223372036854775807u, 19},
                    NumberCase{"uint64_max", "18446744073709551615", 18446744073709551615u, 20}),
    [](const testing::TestParamInfo<NumberCase>& row) { return std::string(row.param.name); });

TEST(LexerTest, NumberLimits) {
  EXPECT_EQ(error_offset("18446744073709551616", [](Lexer& l) { l.read_number(); }), 0);
  EXPECT_EQ(error_offset("99999999999999999999999", [](Lexer& l) { l.read_number(); }), 0);
  EXPECT_EQ(error_offset("4294967296", [](Lexer& l) { l.read_number32(); }), 0);
  EXPECT_EQ(error_offset("0", [](Lexer& l) { l.read_nz_number(); }), 0);
  EXPECT_EQ(error_offset("-1", [](Lexer& l) { l.read_number(); }), 0);
  EXPECT_EQ(error_offset("", [](Lexer& l) { l.read_number(); }), 0);
}

TEST(LexerTest, QuotedString) {
  RawResponse r = raw(R"("a \"b\" \\ c" rest)");
  Lexer lx(r);
  StringValue value = lx.read_quoted();
  EXPECT_EQ(value.value, R"(a "b" \ c)");
  EXPECT_EQ(value.encoding, Encoding::Quoted);
  EXPECT_EQ(value.size, 9u);
  EXPECT_EQ(lx.offset(), 14u);
}

TEST(LexerTest, QuotedStringKeepsEightBit) {
  RawResponse r = raw("\"caf\xc3\xa9\"");
  Lexer lx(r);
  EXPECT_EQ(lx.read_string().value, "caf\xc3\xa9");
  EXPECT_TRUE(lx.at_end());
}

TEST(LexerTest, QuotedStringErrors) {
  auto read = [](Lexer& l) { l.read_quoted(); };
  EXPECT_EQ(error_offset(R"("abc)", read), 4);
  EXPECT_EQ(error_offset(R"("a\nb")", read), 2);
  EXPECT_EQ(error_offset("\"a\rb\"", read), 2);
  EXPECT_EQ(error_offset("\"a\nb\"", read), 2);
  EXPECT_EQ(error_offset("\"ab\0\""s, read), 3);
  EXPECT_EQ(error_offset("\"ab\\", read), 3);
}

TEST(LexerTest, Literal) {
  RawResponse r = raw("{5}\r\nab\r\nc)");
  Lexer lx(r);
  StringValue value = lx.read_string();
  EXPECT_EQ(value.value, "ab\r\nc");
  EXPECT_EQ(value.encoding, Encoding::Literal);
  EXPECT_EQ(value.size, 5u);
  EXPECT_FALSE(value.streamed);
  EXPECT_EQ(lx.offset(), 10u);
  EXPECT_EQ(lx.peek(), ')');
}

TEST(LexerTest, EmptyLiteralAtEnd) {
  RawResponse r = raw("{0}\r\n");
  Lexer lx(r);
  StringValue value = lx.read_astring();
  EXPECT_EQ(value.value, "");
  EXPECT_EQ(value.encoding, Encoding::Literal);
  EXPECT_TRUE(lx.at_end());
}

TEST(LexerTest, NonSynchronisingLiteralForm) {
  RawResponse r = raw("{3+}\r\nabc");
  Lexer lx(r);
  EXPECT_EQ(lx.read_literal().value, "abc");
  EXPECT_TRUE(lx.at_end());
}

TEST(LexerTest, Literal8MayHoldNul) {
  RawResponse r = raw("~{3}\r\na\0b x"s);
  Lexer lx(r);
  StringValue value = lx.read_nstring();
  EXPECT_EQ(value.value, "a\0b"s);
  EXPECT_EQ(value.encoding, Encoding::Literal8);
  EXPECT_EQ(lx.offset(), 9u);
}

TEST(LexerTest, StreamedLiteralYieldsNoOctets) {
  // The reader streamed the 100000 octets to a sink; they are not in text.
  RawResponse r = raw("x {100000}\r\n)", {{2, 100000}});
  Lexer lx(r);
  EXPECT_EQ(lx.read_atom(), "x");
  lx.expect_space();
  StringValue value = lx.read_string();
  EXPECT_TRUE(value.streamed);
  EXPECT_EQ(value.size, 100000u);
  EXPECT_EQ(value.value, "");
  EXPECT_EQ(lx.offset(), 12u);
  EXPECT_EQ(lx.peek(), ')');
}

TEST(LexerTest, StreamedLiteralSizeMustMatchMarker) {
  RawResponse r = raw("{10}\r\n", {{0, 11}});
  Lexer lx(r);
  EXPECT_THROW(lx.read_literal(), ParseError);
}

TEST(LexerTest, LiteralErrors) {
  auto read = [](Lexer& l) { l.read_literal(); };
  // Longer than the data: never read past the end.
  EXPECT_EQ(error_offset("{10}\r\nabc", read), 0);
  EXPECT_EQ(error_offset("x", [](Lexer& l) { l.read_string(); }), 0);
  EXPECT_EQ(error_offset("{18446744073709551615}\r\n", read), 1);
  EXPECT_EQ(error_offset("{9223372036854775808}\r\n", read), 1);
  EXPECT_EQ(error_offset("{}\r\n", read), 1);
  EXPECT_EQ(error_offset("{3}abc", read), 3);
  EXPECT_EQ(error_offset("{3}\rabc", read), 4);
  EXPECT_EQ(error_offset("{3", read), 2);
}

TEST(LexerTest, Nstring) {
  RawResponse r = raw("NIL nil NILE \"NIL\"");
  Lexer lx(r);
  EXPECT_EQ(lx.read_nstring().encoding, Encoding::Nil);
  EXPECT_EQ(lx.offset(), 3u);
  lx.expect_space();
  EXPECT_EQ(lx.read_nstring().encoding, Encoding::Nil);
  lx.expect_space();
  EXPECT_THROW(lx.read_nstring(), ParseError);  // NILE is an atom, not a string.
  EXPECT_EQ(lx.offset(), 8u);
  EXPECT_EQ(lx.read_atom(), "NILE");
  lx.expect_space();
  StringValue quoted = lx.read_nstring();
  EXPECT_EQ(quoted.encoding, Encoding::Quoted);
  EXPECT_EQ(quoted.value, "NIL");
}

TEST(LexerTest, AstringNilIsAName) {
  RawResponse r = raw("NIL");
  Lexer lx(r);
  StringValue value = lx.read_astring();
  EXPECT_EQ(value.encoding, Encoding::Atom);
  EXPECT_EQ(value.value, "NIL");
}

TEST(LexerTest, Flags) {
  RawResponse r = raw("(\\Seen \\* $Forwarded \\Recent  NonJunk) x");
  Lexer lx(r);
  EXPECT_EQ(lx.read_flag_list(),
            (std::vector<std::string>{"\\Seen", "\\*", "$Forwarded", "\\Recent", "NonJunk"}));
  EXPECT_EQ(lx.offset(), 38u);
  EXPECT_EQ(error_offset("(\\Seen\\Draft)", [](Lexer& l) { l.read_flag_list(); }), 6);
  EXPECT_EQ(error_offset("(\\Seen", [](Lexer& l) { l.read_flag_list(); }), 6);
  EXPECT_EQ(error_offset("(\\ )", [](Lexer& l) { l.read_flag_list(); }), 2);
}

TEST(LexerTest, SequenceSet) {
  RawResponse r = raw("1:5,7,12:10,9:* x");
  Lexer lx(r);
  EXPECT_EQ(lx.read_sequence_set(), (NumberSet{{1, 5}, {7, 7}, {10, 12}, {9, k_star}}));
  EXPECT_EQ(lx.offset(), 15u);
  EXPECT_EQ(error_offset("1:*", [](Lexer& l) { l.read_sequence_set(false); }), 2);
  EXPECT_EQ(error_offset("1,0", [](Lexer& l) { l.read_sequence_set(); }), 2);
  EXPECT_EQ(error_offset("1,", [](Lexer& l) { l.read_sequence_set(); }), 2);
  EXPECT_EQ(error_offset("1:4294967296", [](Lexer& l) { l.read_sequence_set(); }), 2);
}

TEST(LexerTest, SkipValueHandlesEveryKind) {
  RawResponse r = raw("(\"a\" NIL 12 (\\Seen \\*) {3}\r\n)))((\"x\")(\"y\") \"z\") 1:* X-1) next"s);
  Lexer lx(r);
  lx.skip_value();
  EXPECT_EQ(r.text.substr(lx.offset()), " next");
}

TEST(LexerTest, SkipValueDepthLimit) {
  std::string ok = std::string(k_max_list_depth, '(') + std::string(k_max_list_depth, ')');
  RawResponse r = raw(ok);
  Lexer lx(r);
  lx.skip_value();
  EXPECT_TRUE(lx.at_end());
  std::string deep(100000, '(');
  EXPECT_EQ(error_offset(deep, [](Lexer& l) { l.skip_value(); }), k_max_list_depth);
}

TEST(LexerTest, SkipRestStepsOverLiterals) {
  // The literal's octets look like another literal marker and a quote; they
  // must be skipped by size, not parsed.
  RawResponse r = raw("x {9}\r\n\"{99}\r\n(( y"s);
  Lexer lx(r);
  lx.skip_rest();
  EXPECT_TRUE(lx.at_end());
  EXPECT_EQ(error_offset("x {99}\r\nabc", [](Lexer& l) { l.skip_rest(); }), 2);
}

TEST(LexerTest, TextTrimsTrailingSpacesAndRejectsLineBreaks) {
  RawResponse r = raw("Hello world  ");
  Lexer lx(r);
  EXPECT_EQ(lx.read_text(), "Hello world");
  EXPECT_TRUE(lx.at_end());
  EXPECT_EQ(error_offset("ab\rc", [](Lexer& l) { l.read_text(); }), 2);
}

TEST(LexerTest, ExpectEndToleratesTrailingSpaces) {
  RawResponse r = raw("x  ");
  Lexer lx(r);
  lx.read_atom();
  lx.expect_end();
  EXPECT_TRUE(lx.at_end());
  EXPECT_EQ(error_offset("x y",
                         [](Lexer& l) {
                           l.read_atom();
                           l.expect_end();
                         }),
            2);
}

TEST(ParseErrorTest, MessageNamesOffsetReasonAndLine) {
  ParseError e("* 1 FETCH (UID 5", 16, "expected ')'");
  EXPECT_EQ(std::string(e.what()),
            "cannot parse server response at offset 16: expected ')' in \"* 1 FETCH (UID 5\"");
  EXPECT_EQ(e.offset(), 16u);
  EXPECT_EQ(e.reason(), "expected ')'");
}

TEST(ParseErrorTest, LineIsEscapedAndTruncated) {
  ParseError escaped("a\r\n\"b\"\x01", 0, "x");
  EXPECT_EQ(escaped.line(), "a\\r\\n\\\"b\\\"\\x01");
  std::string long_text = std::string(1000, 'a') + "X" + std::string(1000, 'b');
  ParseError truncated(long_text, 1000, "x");
  EXPECT_LE(truncated.line().size(), 210u);
  EXPECT_NE(truncated.line().find('X'), std::string::npos);
  EXPECT_EQ(truncated.line().substr(0, 3), "...");
}

}  // namespace
}  // namespace roam::imap
