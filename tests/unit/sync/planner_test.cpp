// Planner rules, one behaviour per test. The planner is pure, so each test
// builds the three inputs (state, server, Maildir) by hand and checks the
// plan. The rules are documented in docs/sync-semantics.md.

#include "sync/planner.hpp"

#include <gtest/gtest.h>

namespace roam::sync {
namespace {

state::FolderState make_state(std::vector<state::MessageRecord> records) {
  state::FolderState s;
  s.mailbox = "INBOX";
  s.uidvalidity = 7;
  for (auto& r : records) {
    s.messages[r.uid] = r;
  }
  return s;
}

ServerFolder make_server(std::vector<ServerMessage> messages) {
  ServerFolder f;
  f.uidvalidity = 7;
  f.messages = std::move(messages);
  return f;
}

Policy pull() {
  return Policy{};
}

TEST(MergeLetters, ChangeOnOneSideWinsOverNoChange) {
  std::string base = "S";
  EXPECT_EQ(merge_letters(&base, "", "S"), "");      // Server removed \Seen.
  EXPECT_EQ(merge_letters(&base, "S", "FS"), "FS");  // Local added \Flagged.
}

TEST(MergeLetters, DifferentFlagsChangedOnBothSidesAllSurvive) {
  std::string base = "S";
  // Server flagged it, the user replied locally: both changes stay.
  EXPECT_EQ(merge_letters(&base, "FS", "RS"), "FRS");
}

TEST(MergeLetters, WithoutBaseTakesTheUnion) {
  EXPECT_EQ(merge_letters(nullptr, "S", "F"), "FS");
  EXPECT_EQ(merge_letters(nullptr, "", ""), "");
}

TEST(PlanFolder, FirstSyncDownloadsEverything) {
  Plan plan = plan_folder(nullptr, make_server({{1, {}}, {2, {"\\Seen"}}}), {}, pull());
  ASSERT_EQ(plan.downloads.size(), 2u);
  EXPECT_EQ(plan.downloads[0].uid, 1u);
  EXPECT_EQ(plan.downloads[1].flags, Flags{"\\Seen"});
  EXPECT_TRUE(plan.local_flags.empty());
  EXPECT_TRUE(plan.local_deletes.empty());
}

TEST(PlanFolder, NothingChangedPlansNothing) {
  auto state = make_state({{1, "a", {"\\Seen"}}, {2, "b", {}}});
  LocalFolder local{{{"a", "S"}, {"b", ""}}};
  Plan plan = plan_folder(&state, make_server({{1, {"\\Seen"}}, {2, {}}}), local, pull());
  EXPECT_TRUE(plan.empty());
  EXPECT_TRUE(plan.notices.empty());
}

TEST(PlanFolder, NewServerMessageIsDownloaded) {
  auto state = make_state({{1, "a", {}}});
  LocalFolder local{{{"a", ""}}};
  Plan plan = plan_folder(&state, make_server({{1, {}}, {5, {"\\Flagged"}}}), local, pull());
  ASSERT_EQ(plan.downloads.size(), 1u);
  EXPECT_EQ(plan.downloads[0].uid, 5u);
}

TEST(PlanFolder, ServerFlagChangeIsAppliedLocally) {
  auto state = make_state({{1, "a", {}}});
  LocalFolder local{{{"a", ""}}};
  Plan plan = plan_folder(&state, make_server({{1, {"\\Answered", "\\Seen"}}}), local, pull());
  ASSERT_EQ(plan.local_flags.size(), 1u);
  EXPECT_EQ(plan.local_flags[0].to_letters, "RS");
  EXPECT_EQ(plan.local_flags[0].agreed, (Flags{"\\Answered", "\\Seen"}));
}

TEST(PlanFolder, PullKeepsLocalFlagChangesTheServerDidNotTouch) {
  auto state = make_state({{1, "a", {"\\Seen"}}});
  LocalFolder local{{{"a", "FS"}}};  // The user flagged it locally.
  Plan plan = plan_folder(&state, make_server({{1, {"\\Seen"}}}), local, pull());
  EXPECT_TRUE(plan.local_flags.empty());
  EXPECT_TRUE(plan.updates.empty());
}

TEST(PlanFolder, PullMergesServerChangeWithLocalChangeFlagByFlag) {
  auto state = make_state({{1, "a", {}}});
  LocalFolder local{{{"a", "F"}}};
  Plan plan = plan_folder(&state, make_server({{1, {"\\Seen"}}}), local, pull());
  ASSERT_EQ(plan.local_flags.size(), 1u);
  EXPECT_EQ(plan.local_flags[0].to_letters, "FS");
}

TEST(PlanFolder, UnknownLocalLettersSurviveAFlagChange) {
  auto state = make_state({{1, "a", {}}});
  LocalFolder local{{{"a", "ab"}}};  // Dovecot keyword letters.
  Plan plan = plan_folder(&state, make_server({{1, {"\\Seen"}}}), local, pull());
  ASSERT_EQ(plan.local_flags.size(), 1u);
  EXPECT_EQ(plan.local_flags[0].to_letters, "Sab");
}

TEST(PlanFolder, KeywordOnlyChangeUpdatesTheRecordWithoutARename) {
  auto state = make_state({{1, "a", {"\\Seen"}}});
  LocalFolder local{{{"a", "S"}}};
  Plan plan = plan_folder(&state, make_server({{1, {"$Label1", "\\Seen"}}}), local, pull());
  EXPECT_TRUE(plan.local_flags.empty());
  ASSERT_EQ(plan.updates.size(), 1u);
  EXPECT_EQ(plan.updates[0].record.flags, (Flags{"$Label1", "\\Seen"}));
}

TEST(PlanFolder, ServerExpungeDeletesTheLocalFile) {
  auto state = make_state({{1, "a", {}}, {2, "b", {}}, {3, "c", {}}});
  LocalFolder local{{{"a", ""}, {"b", ""}, {"c", ""}}};
  Plan plan = plan_folder(&state, make_server({{1, {}}, {3, {}}}), local, pull());
  ASSERT_EQ(plan.local_deletes.size(), 1u);
  EXPECT_EQ(plan.local_deletes[0].name, "b");
}

TEST(PlanFolder, ServerExpungeWithExpungeNoKeepsTheFile) {
  auto state = make_state({{1, "a", {}}, {2, "b", {}}});
  LocalFolder local{{{"a", ""}, {"b", ""}}};
  Policy policy = pull();
  policy.expunge = Expunge::No;
  Plan plan = plan_folder(&state, make_server({{1, {}}}), local, policy);
  EXPECT_TRUE(plan.local_deletes.empty());
  ASSERT_EQ(plan.drops.size(), 1u);
  EXPECT_EQ(plan.drops[0].uid, 2u);
  ASSERT_EQ(plan.notices.size(), 1u);
}

TEST(PlanFolder, ServerExpungeWinsOverALocalFlagChange) {
  auto state = make_state({{1, "a", {}}, {2, "b", {}}, {3, "c", {}}});
  LocalFolder local{{{"a", ""}, {"b", "F"}, {"c", ""}}};
  Plan plan = plan_folder(&state, make_server({{1, {}}, {3, {}}}), local, pull());
  ASSERT_EQ(plan.local_deletes.size(), 1u);
  EXPECT_EQ(plan.local_deletes[0].uid, 2u);
}

TEST(PlanFolder, GoneOnBothSidesDropsTheRecord) {
  auto state = make_state({{1, "a", {}}, {2, "b", {}}});
  LocalFolder local{{{"a", ""}}};
  Plan plan = plan_folder(&state, make_server({{1, {}}}), local, pull());
  EXPECT_TRUE(plan.local_deletes.empty());
  ASSERT_EQ(plan.drops.size(), 1u);
  EXPECT_EQ(plan.drops[0].uid, 2u);
}

TEST(PlanFolder, PullDoesNotDownloadAgainWhatTheUserDeletedLocally) {
  auto state = make_state({{1, "a", {}}, {2, "b", {}}});
  LocalFolder local{{{"a", ""}}};
  Plan plan = plan_folder(&state, make_server({{1, {}}, {2, {}}}), local, pull());
  EXPECT_TRUE(plan.downloads.empty());
  EXPECT_TRUE(plan.drops.empty());
  ASSERT_EQ(plan.notices.size(), 1u);
  EXPECT_NE(plan.notices[0].find("deleted locally"), std::string::npos);
}

TEST(PlanFolder, PullLeavesLocalOnlyFilesAloneAndSaysSo) {
  auto state = make_state({{1, "a", {}}});
  LocalFolder local{{{"a", ""}, {"mine", "S"}}};
  Plan plan = plan_folder(&state, make_server({{1, {}}}), local, pull());
  EXPECT_TRUE(plan.empty());
  ASSERT_EQ(plan.notices.size(), 1u);
  EXPECT_NE(plan.notices[0].find("not on the server"), std::string::npos);
}

TEST(PlanFolder, MassDeletionGuardRefusesToEmptyAFolder) {
  std::vector<state::MessageRecord> records;
  LocalFolder local;
  for (Uid uid = 1; uid <= 20; ++uid) {
    records.push_back({uid, "m" + std::to_string(uid), {}});
    local.messages.push_back({"m" + std::to_string(uid), ""});
  }
  auto state = make_state(records);
  Plan plan = plan_folder(&state, make_server({{1, {}}}), local, pull());
  EXPECT_TRUE(plan.local_deletes.empty());
  EXPECT_FALSE(plan.refused.empty());
  EXPECT_NE(plan.refused.find("19 messages of 20"), std::string::npos);
}

TEST(PlanFolder, MassDeletionGuardCanBeOverridden) {
  std::vector<state::MessageRecord> records;
  LocalFolder local;
  for (Uid uid = 1; uid <= 20; ++uid) {
    records.push_back({uid, "m" + std::to_string(uid), {}});
    local.messages.push_back({"m" + std::to_string(uid), ""});
  }
  auto state = make_state(records);
  Policy policy = pull();
  policy.allow_mass_delete = true;
  Plan plan = plan_folder(&state, make_server({}), local, policy);
  EXPECT_EQ(plan.local_deletes.size(), 20u);
  EXPECT_TRUE(plan.refused.empty());
}

TEST(PlanFolder, SmallFoldersAreNotGuarded) {
  auto state = make_state({{1, "a", {}}, {2, "b", {}}});
  LocalFolder local{{{"a", ""}, {"b", ""}}};
  Plan plan = plan_folder(&state, make_server({}), local, pull());
  EXPECT_EQ(plan.local_deletes.size(), 2u);
  EXPECT_TRUE(plan.refused.empty());
}

KeyedServerMessage keyed_server(Uid uid, std::uint64_t size, std::string header, Flags flags = {}) {
  return {{uid, std::move(flags)}, {size, std::move(header)}};
}

KeyedLocalMessage keyed_local(std::string name, std::string letters, std::uint64_t size,
                              std::string header, bool known = true) {
  return {{std::move(name), std::move(letters)}, {size, std::move(header)}, known};
}

TEST(PlanRematch, MatchedMessagesAreNotDownloadedAgain) {
  Plan plan =
      plan_rematch({keyed_server(10, 100, "H1"), keyed_server(11, 200, "H2")},
                   {keyed_local("a", "S", 100, "H1"), keyed_local("b", "", 200, "H2")}, pull());
  EXPECT_TRUE(plan.reset_state);
  EXPECT_TRUE(plan.downloads.empty());
  ASSERT_EQ(plan.updates.size(), 2u);
  EXPECT_EQ(plan.updates[0].record.uid, 10u);
  EXPECT_EQ(plan.updates[0].record.name, "a");
}

TEST(PlanRematch, UnmatchedServerMessagesAreDownloaded) {
  Plan plan = plan_rematch({keyed_server(10, 100, "H1"), keyed_server(11, 300, "H3")},
                           {keyed_local("a", "", 100, "H1")}, pull());
  ASSERT_EQ(plan.downloads.size(), 1u);
  EXPECT_EQ(plan.downloads[0].uid, 11u);
}

TEST(PlanRematch, SameHeaderDifferentSizeIsNotAMatch) {
  Plan plan =
      plan_rematch({keyed_server(10, 101, "H1")}, {keyed_local("a", "", 100, "H1")}, pull());
  EXPECT_EQ(plan.downloads.size(), 1u);
  EXPECT_TRUE(plan.updates.empty());
}

TEST(PlanRematch, IdenticalCopiesArePairedOneToOne) {
  // Two identical messages on the server, one local copy: one download, so
  // that both sides end with two copies, never three.
  Plan plan = plan_rematch({keyed_server(1, 50, "X"), keyed_server(2, 50, "X")},
                           {keyed_local("a", "", 50, "X")}, pull());
  EXPECT_EQ(plan.updates.size(), 1u);
  ASSERT_EQ(plan.downloads.size(), 1u);
  EXPECT_EQ(plan.downloads[0].uid, 2u);
}

TEST(PlanRematch, MatchedPairsGetTheUnionOfFlags) {
  Plan plan = plan_rematch({keyed_server(1, 50, "X", {"\\Seen"})}, {keyed_local("a", "F", 50, "X")},
                           pull());
  ASSERT_EQ(plan.local_flags.size(), 1u);
  EXPECT_EQ(plan.local_flags[0].to_letters, "FS");
}

TEST(PlanRematch, LocalFilesTheServerLostAreKept) {
  Plan plan = plan_rematch({}, {keyed_local("a", "", 50, "X")}, pull());
  EXPECT_TRUE(plan.local_deletes.empty());
  ASSERT_EQ(plan.notices.size(), 1u);
  EXPECT_NE(plan.notices[0].find("kept locally"), std::string::npos);
}

TEST(NormalizeServerFlags, DropsRecentSortsAndDeduplicates) {
  EXPECT_EQ(normalize_server_flags({"\\Seen", "\\Recent", "$A", "\\Seen"}),
            (Flags{"$A", "\\Seen"}));
}

}  // namespace
}  // namespace roam::sync
