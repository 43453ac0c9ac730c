// Tests of modified UTF-7 (RFC 3501 §5.1.3), after isync's tst_imap_utf7: a
// table of {utf8, utf7} pairs that must convert both ways, and lists of
// inputs each direction must reject.

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

#include "imap/utf7.hpp"

namespace roam::imap {
namespace {

struct Utf7Pair {
  const char* name;
  std::string utf8;
  std::string utf7;
};

class Utf7PairTest : public testing::TestWithParam<Utf7Pair> {};

TEST_P(Utf7PairTest, Encodes) {
  EXPECT_EQ(utf7_encode(GetParam().utf8), GetParam().utf7);
}

TEST_P(Utf7PairTest, Decodes) {
  EXPECT_EQ(utf7_decode(GetParam().utf7), GetParam().utf8);
}

INSTANTIATE_TEST_SUITE_P(
    Pairs, Utf7PairTest,
    testing::Values(
        Utf7Pair{"empty", "", ""}, Utf7Pair{"ascii", "INBOX/Sent Items", "INBOX/Sent Items"},
        Utf7Pair{"all_printable_punctuation", " !\"#$%'()*+,-./:;<=>?@[\\]^_`{|}~",
                 " !\"#$%'()*+,-./:;<=>?@[\\]^_`{|}~"},
        Utf7Pair{"ampersands", "&&x&&", "&-&-x&-&-"},
        Utf7Pair{"rfc3501_example",
                 "~peter/mail/\xe5\x8f\xb0\xe5\x8c\x97/\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e",
                 "~peter/mail/&U,BTFw-/&ZeVnLIqe-"},
        Utf7Pair{"finnish", "tiet\xc3\xa4j\xc3\xa4", "tiet&AOQ-j&AOQ-"},
        Utf7Pair{"gmail_russian", "[Gmail]/\xd0\x92\xd0\xb0\xd0\xb6\xd0\xbd\xd0\xbe\xd0\xb5",
                 "[Gmail]/&BBIEMAQ2BD0EPgQ1-"},
        Utf7Pair{"german", "Entw\xc3\xbc rfe", "Entw&APw- rfe"},
        Utf7Pair{"shift_then_ampersand", "\xc3\xa4&", "&AOQ-&-"},
        Utf7Pair{"emoji_surrogate_pair", "emoji \xf0\x9f\x98\x8a", "emoji &2D3eCg-"},
        Utf7Pair{"control_char_is_encoded", "tab\there", "tab&AAk-here"},
        Utf7Pair{"delete_char_is_encoded", "a\x7f", "a&AH8-"},
        Utf7Pair{"three_units_no_padding", "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e", "&ZeVnLIqe-"},
        Utf7Pair{"trailing_non_ascii", "caf\xc3\xa9", "caf&AOk-"}),
    [](const testing::TestParamInfo<Utf7Pair>& row) { return std::string(row.param.name); });

struct Rejected {
  const char* name;
  std::string input;
};

class Utf7DecodeRejectTest : public testing::TestWithParam<Rejected> {};

TEST_P(Utf7DecodeRejectTest, Throws) {
  EXPECT_THROW(utf7_decode(GetParam().input), std::invalid_argument) << GetParam().input;
}

INSTANTIATE_TEST_SUITE_P(
    Invalid, Utf7DecodeRejectTest,
    testing::Values(
        Rejected{"lone_shift", "&"}, Rejected{"unterminated_shift", "&Jjo"},
        Rejected{"unterminated_after_text", "abc&Jjo"}, Rejected{"direct_char_in_shift", "&Jjo!"},
        Rejected{"ampersand_in_shift", "&Jjo&-"},
        // Two adjacent shifts must be one (RFC 9051 Appendix A).
        Rejected{"adjacent_shifts", "&U,BTFw-&ZeVnLIqe-"},
        Rejected{"adjacent_shifts_short", "&AOQ-&AOQ-"},
        Rejected{"slash_instead_of_comma", "&U/BTFw-"}, Rejected{"base64_padding", "&AOQ=-"},
        Rejected{"nonzero_padding_bits", "&AOR-"}, Rejected{"excess_base64_char", "&AOQA-"},
        Rejected{"too_short", "&AO-"}, Rejected{"single_char", "&A-"},
        Rejected{"encoded_printable_ascii", "&AGE-"}, Rejected{"encoded_ampersand", "&ACY-"},
        Rejected{"encoded_nul", "&AAA-"}, Rejected{"lone_high_surrogate", "&2D0-"},
        Rejected{"lone_low_surrogate", "&3go-"}, Rejected{"high_then_non_low", "&2D0AZQ-"},
        Rejected{"eight_bit_octet", "caf\xc3\xa9"}, Rejected{"control_char", "a\tb"}),
    [](const testing::TestParamInfo<Rejected>& row) { return std::string(row.param.name); });

class Utf7EncodeRejectTest : public testing::TestWithParam<Rejected> {};

TEST_P(Utf7EncodeRejectTest, Throws) {
  EXPECT_THROW(utf7_encode(GetParam().input), std::invalid_argument);
}

INSTANTIATE_TEST_SUITE_P(
    InvalidUtf8, Utf7EncodeRejectTest,
    testing::Values(Rejected{"latin1", "p\xe4\xe4"}, Rejected{"stray_continuation", "a\x80"},
                    Rejected{"truncated", "\xe6\x97"}, Rejected{"overlong_slash", "\xc0\xaf"},
                    Rejected{"overlong_three_bytes", "\xe0\x80\xaf"},
                    Rejected{"encoded_surrogate", "\xed\xa0\x80"},
                    Rejected{"above_max", "\xf4\x90\x80\x80"}, Rejected{"invalid_lead", "\xff"},
                    Rejected{"nul", std::string("a\0b", 3)}),
    [](const testing::TestParamInfo<Rejected>& row) { return std::string(row.param.name); });

TEST(Utf7Test, ErrorNamesInputAndOffset) {
  try {
    utf7_decode("&Jjo!");
    FAIL() << "accepted \"&Jjo!\"";
  } catch (const std::invalid_argument& e) {
    EXPECT_EQ(std::string(e.what()),
              "invalid modified UTF-7 mailbox name \"&Jjo!\": character that is not modified "
              "base64 inside a shift at offset 4");
  }
}

TEST(Utf7Test, DecodeThenEncodeIsIdentityForAcceptedNames) {
  for (const char* wire : {"&U,BTF2XlZyyKng-", "a&-b", "&2D3eCg-&-x", "Sent"}) {
    EXPECT_EQ(utf7_encode(utf7_decode(wire)), wire);
  }
}

}  // namespace
}  // namespace roam::imap
