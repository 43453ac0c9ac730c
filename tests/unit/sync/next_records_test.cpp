// NextRecords: the records a folder's run builds, as the base of the merge
// plus the run's changes. Every test compares it with what a copy of the
// base, changed in place, would hold: the executor relied on that copy
// before, and its outcome must not change.

#include <gtest/gtest.h>

#include <map>
#include <stdexcept>

#include "sync/next_records.hpp"

namespace roam::sync {
namespace {

using Records = NextRecords::Records;

state::MessageRecord rec(std::uint32_t uid, const std::string& name,
                         std::vector<std::string> flags = {}) {
  return state::MessageRecord{uid, name, std::move(flags), "00112233445566" + name};
}

Records base_of_three() {
  return {{1, rec(1, "a")}, {2, rec(2, "b", {"\\Seen"})}, {3, rec(3, "c")}};
}

TEST(NextRecords, WithoutChangesItIsTheBase) {
  Records base = base_of_three();
  NextRecords next;
  next.reset(base);
  ASSERT_NE(next.find(2), nullptr);
  EXPECT_EQ(*next.find(2), base.at(2));
  EXPECT_EQ(next.find(4), nullptr);
  EXPECT_TRUE(next.contains(1));
  EXPECT_FALSE(next.contains(0));
  EXPECT_EQ(next.merged(), base);
}

TEST(NextRecords, NeverResetItHoldsNothing) {
  NextRecords next;
  EXPECT_EQ(next.find(1), nullptr);
  EXPECT_EQ(next.edit(1), nullptr);
  next.set(7, rec(7, "g"));
  EXPECT_EQ(next.merged(), (Records{{7, rec(7, "g")}}));
}

TEST(NextRecords, ChangesLeaveTheBaseAlone) {
  Records base = base_of_three();
  const Records before = base;
  NextRecords next;
  next.reset(base);
  next.set(4, rec(4, "d"));
  next.set(2, rec(2, "b", {"\\Flagged", "\\Seen"}));
  next.erase(3);
  next.edit(1)->flags.push_back("\\Answered");
  EXPECT_EQ(base, before);

  Records copy = before;  // What the executor did before: a copy, changed.
  copy[4] = rec(4, "d");
  copy[2] = rec(2, "b", {"\\Flagged", "\\Seen"});
  copy.erase(3);
  copy[1].flags.push_back("\\Answered");
  EXPECT_EQ(next.merged(), copy);
  EXPECT_EQ(next.find(3), nullptr);
  EXPECT_FALSE(next.contains(3));
  EXPECT_EQ(next.find(2)->flags, (std::vector<std::string>{"\\Flagged", "\\Seen"}));
}

TEST(NextRecords, AnErasedRecordCannotBeEditedButCanBeSetAgain) {
  Records base = base_of_three();
  NextRecords next;
  next.reset(base);
  next.erase(2);
  EXPECT_EQ(next.edit(2), nullptr);
  next.set(2, rec(2, "b2"));
  ASSERT_NE(next.find(2), nullptr);
  EXPECT_EQ(next.find(2)->name, "b2");
  // An erase of a UID that has no record changes nothing.
  next.erase(9);
  EXPECT_EQ(next.merged().count(9), 0u);
  EXPECT_EQ(next.merged().size(), 3u);
}

TEST(NextRecords, EditsAccumulateOnOneCopy) {
  Records base = base_of_three();
  NextRecords next;
  next.reset(base);
  next.edit(3)->flags.push_back("\\Deleted");
  next.edit(3)->key.clear();
  EXPECT_EQ(next.find(3)->flags, (std::vector<std::string>{"\\Deleted"}));
  EXPECT_TRUE(next.find(3)->key.empty());
  EXPECT_FALSE(base.at(3).key.empty());
}

TEST(NextRecords, SettleAppliesTheChangesToTheBase) {
  Records base = base_of_three();
  NextRecords next;
  next.reset(base);
  next.set(4, rec(4, "d"));
  next.erase(1);
  next.edit(2)->flags.clear();
  const Records expected = next.merged();
  next.settle(base);
  EXPECT_EQ(base, expected);
  // Settled, it has no changes of its own: it reads the new base.
  EXPECT_EQ(next.merged(), base);
  base.erase(4);
  EXPECT_FALSE(next.contains(4));
}

TEST(NextRecords, SettleRefusesAnotherMap) {
  Records base = base_of_three();
  Records other = base;
  NextRecords next;
  next.reset(base);
  next.erase(1);
  EXPECT_THROW(next.settle(other), std::logic_error);
  EXPECT_EQ(other, base);
}

}  // namespace
}  // namespace roam::sync
