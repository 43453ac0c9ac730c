// Tests of expand() and format_set(): the sequence-set helpers that turn the
// server's compact UID sets into lists and back.

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>
#include <vector>

#include "imap/response.hpp"

namespace roam::imap {
namespace {

struct ExpandCase {
  const char* name;
  NumberSet set;
  std::vector<std::uint32_t> expected;
};

class ExpandTest : public testing::TestWithParam<ExpandCase> {};

TEST_P(ExpandTest, ExpandsToSortedUniqueMembers) {
  const ExpandCase& c = GetParam();
  EXPECT_EQ(expand(c.set), c.expected);
}

INSTANTIATE_TEST_SUITE_P(
    Sets, ExpandTest,
    testing::Values(
        ExpandCase{"empty", {}, {}}, ExpandCase{"single", {{7, 7}}, {7}},
        ExpandCase{"range", {{1, 4}}, {1, 2, 3, 4}},
        ExpandCase{"reversed_range_12_10", {{12, 10}}, {10, 11, 12}},
        ExpandCase{"unsorted_ranges", {{9, 10}, {1, 2}}, {1, 2, 9, 10}},
        ExpandCase{"overlapping_ranges", {{1, 5}, {3, 7}, {5, 5}}, {1, 2, 3, 4, 5, 6, 7}},
        ExpandCase{"top_of_range", {{4294967293u, 4294967294u}}, {4294967293u, 4294967294u}}),
    [](const testing::TestParamInfo<ExpandCase>& row) { return std::string(row.param.name); });

TEST(ExpandTest, RefusesStar) {
  EXPECT_THROW(expand({{1, k_star}}), std::invalid_argument);
  EXPECT_THROW(expand({{k_star, k_star}}), std::invalid_argument);
}

TEST(ExpandTest, RefusesZero) {
  EXPECT_THROW(expand({{0, 3}}), std::invalid_argument);
}

TEST(ExpandTest, RefusesHugeRanges) {
  // A hostile "1:4294967294" must not allocate gigabytes.
  EXPECT_THROW(expand({{1, 4294967294u}}), std::invalid_argument);
  EXPECT_THROW(expand({{1, 11}}, 10), std::invalid_argument);
  // The limit counts members over all ranges, duplicates included.
  EXPECT_THROW(expand({{1, 6}, {1, 6}}, 10), std::invalid_argument);
  EXPECT_EQ(expand({{1, 10}}, 10).size(), 10u);
}

TEST(ExpandTest, ErrorNamesTheSet) {
  try {
    expand({{1, 3}, {5, k_star}});
    FAIL() << "expand accepted '*'";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("\"1:3,5:*\""), std::string::npos) << e.what();
  }
}

struct FormatCase {
  const char* name;
  std::vector<std::uint32_t> numbers;
  std::string expected;
};

class FormatNumbersTest : public testing::TestWithParam<FormatCase> {};

TEST_P(FormatNumbersTest, FormatsCompactly) {
  const FormatCase& c = GetParam();
  EXPECT_EQ(format_set(c.numbers), c.expected);
}

INSTANTIATE_TEST_SUITE_P(
    Numbers, FormatNumbersTest,
    testing::Values(FormatCase{"empty", {}, ""}, FormatCase{"single", {5}, "5"},
                    FormatCase{"run", {1, 2, 3, 4, 5}, "1:5"},
                    FormatCase{"mixed", {1, 2, 3, 4, 5, 7, 9, 10}, "1:5,7,9:10"},
                    FormatCase{"pairs", {1, 2, 4, 5}, "1:2,4:5"},
                    FormatCase{"duplicates", {1, 1, 2, 2, 4}, "1:2,4"},
                    FormatCase{"largest", {4294967293u, 4294967294u}, "4294967293:4294967294"}),
    [](const testing::TestParamInfo<FormatCase>& row) { return std::string(row.param.name); });

TEST(FormatNumbersTest, RefusesDescendingInput) {
  EXPECT_THROW(format_set(std::vector<std::uint32_t>{3, 2}), std::invalid_argument);
}

TEST(FormatSetTest, FormatsRangesInOrder) {
  EXPECT_EQ(format_set(NumberSet{}), "");
  EXPECT_EQ(format_set(NumberSet{{9, 10}, {1, 1}, {3, k_star}}), "9:10,1,3:*");
  EXPECT_EQ(format_set(NumberSet{{k_star, k_star}}), "*");
}

TEST(FormatSetTest, RoundTripsThroughExpand) {
  std::vector<std::uint32_t> numbers = {1, 2, 3, 10, 12, 13, 99};
  EXPECT_EQ(expand(NumberSet{{1, 3}, {10, 10}, {12, 13}, {99, 99}}), numbers);
  EXPECT_EQ(format_set(numbers), "1:3,10,12:13,99");
}

}  // namespace
}  // namespace roam::imap
