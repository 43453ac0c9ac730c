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
  ASSERT_EQ(plan.updates.size(), 1u);
  EXPECT_EQ(plan.updates[0].record.flags, (Flags{"\\Answered", "\\Seen"}));
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

TEST(PlanFolder, ServerExpungeWithExpungeNoKeepsTheFileMarkedDeleted) {
  auto state = make_state({{1, "a", {}}, {2, "b", {"\\Seen"}}});
  LocalFolder local{{{"a", ""}, {"b", "S"}}};
  Policy policy = pull();
  policy.expunge = Expunge::No;
  Plan plan = plan_folder(&state, make_server({{1, {}}}), local, policy);
  EXPECT_TRUE(plan.local_deletes.empty());
  EXPECT_TRUE(plan.drops.empty());
  ASSERT_EQ(plan.local_flags.size(), 1u);
  EXPECT_EQ(plan.local_flags[0].to_letters, "ST");
}

TEST(PlanFolder, ServerExpungeWithExpungeNoIsStableOnceMarked) {
  auto state = make_state({{1, "a", {}}, {2, "b", {"\\Seen"}}});
  LocalFolder local{{{"a", ""}, {"b", "ST"}}};
  Policy policy = pull();
  policy.expunge = Expunge::No;
  Plan plan = plan_folder(&state, make_server({{1, {}}}), local, policy);
  EXPECT_TRUE(plan.empty());
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

// After a forced mass deletion on a server without UIDPLUS the messages
// stay on the server marked \Deleted (no safe expunge). The next, plain
// run repeats those deletions; they are not new ones, and the guard must
// not refuse the folder on every run from then on (seen through the
// capability filter against Dovecot and Cyrus).
Policy both();

TEST(PlanFolder, MassDeletionGuardIgnoresDeletionsAlreadyMade) {
  std::vector<state::MessageRecord> records;
  LocalFolder local;
  std::vector<ServerMessage> server;
  for (Uid uid = 1; uid <= 20; ++uid) {
    records.push_back({uid, "m" + std::to_string(uid), {}});
    if (uid <= 5) {
      local.messages.push_back({"m" + std::to_string(uid), ""});
      server.push_back({uid, {}});
    } else {
      server.push_back({uid, {"\\Deleted"}});
    }
  }
  auto state = make_state(records);
  Plan plan = plan_folder(&state, make_server(server), local, both());
  EXPECT_TRUE(plan.refused.empty()) << plan.refused;
  EXPECT_EQ(plan.server_deletes.size(), 15u);
  // One more deletion of a live message is still a small one.
  local.messages.pop_back();
  plan = plan_folder(&state, make_server(server), local, both());
  EXPECT_TRUE(plan.refused.empty()) << plan.refused;
  EXPECT_EQ(plan.server_deletes.size(), 16u);
}

TEST(PlanFolder, SmallFoldersAreNotGuarded) {
  auto state = make_state({{1, "a", {}}, {2, "b", {}}});
  LocalFolder local{{{"a", ""}, {"b", ""}}};
  Plan plan = plan_folder(&state, make_server({}), local, pull());
  EXPECT_EQ(plan.local_deletes.size(), 2u);
  EXPECT_TRUE(plan.refused.empty());
}

Policy both() {
  Policy p;
  p.direction = Direction::Both;
  return p;
}

Policy push() {
  Policy p;
  p.direction = Direction::Push;
  return p;
}

// A folder whose old UIDs are void (a UIDVALIDITY change): no state, and
// content keys for everything on both sides.
FolderInput rematch_input(std::vector<std::pair<ServerMessage, ContentKey>> server,
                          std::vector<std::pair<LocalMessage, ContentKey>> local) {
  FolderInput in;
  in.server.uidvalidity = 8;
  for (auto& [m, k] : server) {
    in.server_keys[m.uid] = k;
    in.server.messages.push_back(m);
  }
  for (auto& [m, k] : local) {
    in.local_keys[m.name] = k;
    in.local.messages.push_back(m);
  }
  return in;
}

TEST(PlanRematch, MatchedMessagesAreNotCopiedAgain) {
  auto in = rematch_input({{{10, {}}, {100, "H1"}}, {{11, {}}, {200, "H2"}}},
                          {{{"a", ""}, {100, "H1"}}, {{"b", ""}, {200, "H2"}}});
  Plan plan = plan_folder(in, both());
  EXPECT_TRUE(plan.downloads.empty());
  EXPECT_TRUE(plan.uploads.empty());
  ASSERT_EQ(plan.updates.size(), 2u);
  EXPECT_EQ(plan.updates[0].record.uid, 10u);
  EXPECT_EQ(plan.updates[0].record.name, "a");
}

TEST(PlanRematch, UnmatchedServerMessagesAreDownloaded) {
  auto in =
      rematch_input({{{10, {}}, {100, "H1"}}, {{11, {}}, {300, "H3"}}}, {{{"a", ""}, {100, "H1"}}});
  Plan plan = plan_folder(in, pull());
  ASSERT_EQ(plan.downloads.size(), 1u);
  EXPECT_EQ(plan.downloads[0].uid, 11u);
}

TEST(PlanRematch, SameHeaderDifferentSizeIsNotAMatch) {
  auto in = rematch_input({{{10, {}}, {101, "H1"}}}, {{{"a", ""}, {100, "H1"}}});
  Plan plan = plan_folder(in, both());
  EXPECT_EQ(plan.downloads.size(), 1u);
  EXPECT_EQ(plan.uploads.size(), 1u);
}

TEST(PlanRematch, IdenticalCopiesArePairedOneToOne) {
  // Two identical messages on the server, one local copy: one download, so
  // that both sides end with two copies, never three.
  auto in = rematch_input({{{1, {}}, {50, "X"}}, {{2, {}}, {50, "X"}}}, {{{"a", ""}, {50, "X"}}});
  Plan plan = plan_folder(in, both());
  EXPECT_EQ(plan.updates.size(), 1u);
  ASSERT_EQ(plan.downloads.size(), 1u);
  EXPECT_EQ(plan.downloads[0].uid, 2u);
  EXPECT_TRUE(plan.uploads.empty());
}

TEST(PlanRematch, MatchedPairsGetTheUnionOfFlagsOnBothSides) {
  auto in = rematch_input({{{1, {"\\Seen"}}, {50, "X"}}}, {{{"a", "F"}, {50, "X"}}});
  Plan plan = plan_folder(in, both());
  ASSERT_EQ(plan.local_flags.size(), 1u);
  EXPECT_EQ(plan.local_flags[0].to_letters, "FS");
  ASSERT_EQ(plan.server_flags.size(), 1u);
  EXPECT_EQ(plan.server_flags[0].add, Flags{"\\Flagged"});
  ASSERT_EQ(plan.updates.size(), 1u);
  EXPECT_EQ(plan.updates[0].record.flags, (Flags{"\\Flagged", "\\Seen"}));
}

TEST(PlanRematch, LocalFilesTheServerLostAreKeptInPullMode) {
  auto in = rematch_input({}, {{{"a", ""}, {50, "X"}}});
  Plan plan = plan_folder(in, pull());
  EXPECT_TRUE(plan.local_deletes.empty());
  EXPECT_TRUE(plan.uploads.empty());
}

TEST(PlanRematch, LocalFilesTheServerLostAreUploadedInTwoWayMode) {
  auto in = rematch_input({}, {{{"a", "S"}, {50, "X"}}});
  Plan plan = plan_folder(in, both());
  ASSERT_EQ(plan.uploads.size(), 1u);
  EXPECT_EQ(plan.uploads[0].flags, Flags{"\\Seen"});
}

TEST(TwoWay, NewLocalFileIsUploadedWithItsFlags) {
  auto state = make_state({});
  LocalFolder local{{{"n1", "FS"}}};
  Plan plan = plan_folder(&state, make_server({}), local, both());
  ASSERT_EQ(plan.uploads.size(), 1u);
  EXPECT_EQ(plan.uploads[0].name, "n1");
  EXPECT_EQ(plan.uploads[0].flags, (Flags{"\\Flagged", "\\Seen"}));
}

TEST(TwoWay, NewOnBothSidesWithoutKeysCopiesBothWays) {
  auto state = make_state({});
  Plan plan = plan_folder(&state, make_server({{3, {}}}), LocalFolder{{{"n1", ""}}}, both());
  EXPECT_EQ(plan.downloads.size(), 1u);
  EXPECT_EQ(plan.uploads.size(), 1u);
  EXPECT_TRUE(plan.wants_content_keys());
}

// Plans a message that is new on both sides (server UID 3, local file n1)
// and whose content keys are equal.
Plan plan_new_on_both_sides_with_equal_keys() {
  auto state = make_state({});
  FolderInput in;
  in.state = &state;
  in.server = make_server({{3, {}}});
  in.local = LocalFolder{{{"n1", ""}}};
  in.server_keys[3] = {10, "H"};
  in.local_keys["n1"] = {10, "H"};
  return plan_folder(in, both());
}

// Every action of a plan, one line each, in order: two plans with the same
// text are the same plan.
std::string plan_text(const Plan& plan) {
  std::string out;
  for (const auto& d : plan.downloads) {
    out += "download " + std::to_string(d.uid) + "\n";
  }
  for (const auto& u : plan.uploads) {
    out += "upload " + u.name + " " + u.letters + "\n";
  }
  for (const auto& f : plan.local_flags) {
    out += "local flags " + std::to_string(f.uid) + " " + f.name + " " + f.from_letters + ">" +
           f.to_letters + "\n";
  }
  for (const auto& f : plan.server_flags) {
    out += "server flags " + std::to_string(f.uid) + " +" + std::to_string(f.add.size()) + " -" +
           std::to_string(f.remove.size()) + "\n";
  }
  for (const auto& d : plan.local_deletes) {
    out += "delete local " + d.name + "\n";
  }
  for (const auto& d : plan.server_deletes) {
    out += "delete server " + std::to_string(d.uid) + "\n";
  }
  for (const auto& u : plan.updates) {
    out += "record " + std::to_string(u.record.uid) + " " + u.record.name + "\n";
  }
  for (const auto& d : plan.drops) {
    out += "drop " + std::to_string(d.uid) + "\n";
  }
  for (const auto* lines :
       {&plan.notices, &plan.details, &plan.local_only, &plan.moved_in_unpaired}) {
    for (const auto& line : *lines) {
      out += "> " + line + "\n";
    }
  }
  return out + "refused: " + plan.refused + "\n";
}

// The records' part of a plan is made once; completing it again after the
// keys were fetched gives the plan a fresh plan_folder() would.
TEST(TwoWay, AKnownPlanCompletedWithKeysIsTheWholePlanWithKeys) {
  auto state = make_state({{1, "a", {"\\Seen"}}, {2, "b", {}}, {3, "c", {}}, {4, "d", {}}});
  FolderInput in;
  in.state = &state;
  // 1: flagged on the server; 2: deleted locally; 3: expunged on the
  // server; 4 unchanged. New: 10 and 11 on the server, n1 and n2 here, of
  // which 10 and n1 are one message.
  in.server = make_server({{1, {"\\Flagged", "\\Seen"}}, {2, {}}, {4, {}}, {10, {}}, {11, {}}});
  in.local = LocalFolder{{{"a", "S"}, {"c", ""}, {"d", ""}, {"n1", ""}, {"n2", "S"}}};
  KnownPlan known = plan_known(in, both());
  const Plan without_keys = complete_plan(known, in, both());
  EXPECT_EQ(plan_text(without_keys), plan_text(plan_folder(in, both())));
  ASSERT_TRUE(without_keys.wants_content_keys());
  EXPECT_EQ(without_keys.downloads.size(), 2u);
  EXPECT_EQ(without_keys.uploads.size(), 2u);

  in.server_keys[10] = {10, "H"};
  in.server_keys[11] = {11, "I"};
  in.local_keys["n1"] = {10, "H"};
  in.local_keys["n2"] = {12, "J"};
  const Plan with_keys = complete_plan(std::move(known), in, both());
  EXPECT_EQ(plan_text(with_keys), plan_text(plan_folder(in, both())));
  ASSERT_EQ(with_keys.downloads.size(), 1u);
  EXPECT_EQ(with_keys.downloads[0].uid, 11u);
  ASSERT_EQ(with_keys.uploads.size(), 1u);
  EXPECT_EQ(with_keys.uploads[0].name, "n2");
  EXPECT_EQ(with_keys.server_deletes.size(), 1u);
  EXPECT_EQ(with_keys.local_deletes.size(), 1u);
}

// A pair found by content has no history: \Deleted on one side only is not
// spread to the other (it would mark the only live copy T), it is lifted.
TEST(TwoWay, APairFoundByContentDoesNotSpreadADeletedMark) {
  auto state = make_state({});
  FolderInput in;
  in.state = &state;
  in.server = make_server({{3, {"\\Deleted", "\\Seen"}}});
  in.local = LocalFolder{{{"n1", "S"}}};
  in.server_keys[3] = {10, "H"};
  in.local_keys["n1"] = {10, "H"};
  Plan plan = plan_folder(in, both());
  ASSERT_EQ(plan.updates.size(), 1u);
  EXPECT_TRUE(plan.local_flags.empty());
  ASSERT_EQ(plan.server_flags.size(), 1u);
  EXPECT_EQ(plan.server_flags[0].remove, (Flags{"\\Deleted"}));
}

// Cyrus (and the simulation's rewrite-8bit) replaces raw 8-bit header
// bytes with 'X' on APPEND: the server copy of an uploaded file is still
// the file (seed 12019467: a moved file and its copy, which another client
// had moved the same way, were not paired; both stayed, twice).
TEST(TwoWay, AServerCopyWithEightBitHeaderBytesRewrittenPairsWithTheFile) {
  auto state = make_state({});
  FolderInput in;
  in.state = &state;
  in.server = make_server({{3, {}}});
  in.local = LocalFolder{{{"n1", ""}}};
  in.server_keys[3] = {12, "From: JXXrg\n\n"};
  in.local_keys["n1"] = {12, "From: J\xc3\xb6rg\n\n"};
  Plan plan = plan_folder(in, both());
  EXPECT_TRUE(plan.downloads.empty());
  EXPECT_TRUE(plan.uploads.empty());
  ASSERT_EQ(plan.updates.size(), 1u);
  EXPECT_EQ(plan.updates[0].record.name, "n1");
}

// mbsync writes "X-TUID: <12 characters>" into every copy it makes, the
// original has none: a message mbsync copied in a run whose state is lost
// (killed before it committed) is still one message, whichever side has the
// line, and an exact match is preferred to one without the line.
TEST(TwoWay, MbsyncsXTuidLineDoesNotMakeTwoMessages) {
  auto state = make_state({});
  FolderInput in;
  in.state = &state;
  in.server = make_server({{3, {}}, {4, {}}, {5, {}}});
  in.local = LocalFolder{{{"downloaded", ""}, {"uploaded", "S"}, {"exact", ""}, {"tuid", ""}}};
  // Server 3 was downloaded by mbsync: the file has the line, 8 + 12 + 1
  // bytes (one more in the CRLF size).
  in.server_keys[3] = {40, "From: a\nSubject: x\n\n"};
  in.local_keys["downloaded"] = {62, "From: a\nSubject: x\nX-TUID: 0123456789ab\n\n"};
  // Server 4 was uploaded by mbsync: the server copy has it.
  in.server_keys[4] = {83, "From: b\nX-TUID: ba9876543210\n\n"};
  in.local_keys["uploaded"] = {61, "From: b\n\n"};
  // Server 5 matches "exact" exactly and "tuid" only without the line.
  in.server_keys[5] = {30, "From: c\n\n"};
  in.local_keys["tuid"] = {52, "From: c\nX-TUID: 0123456789ab\n\n"};
  in.local_keys["exact"] = {30, "From: c\n\n"};
  Plan plan = plan_folder(in, both());
  EXPECT_TRUE(plan.downloads.empty());
  ASSERT_EQ(plan.uploads.size(), 1u);
  EXPECT_EQ(plan.uploads[0].name, "tuid");
  ASSERT_EQ(plan.updates.size(), 3u);
  std::map<Uid, std::string> names;
  for (const auto& u : plan.updates) {
    names[u.record.uid] = u.record.name;
  }
  EXPECT_EQ(names[3], "downloaded");
  EXPECT_EQ(names[4], "uploaded");
  EXPECT_EQ(names[5], "exact");
  // The record keeps the file's key, by which a rename of it is found.
  for (const auto& u : plan.updates) {
    EXPECT_EQ(u.record.key, content_key_text(in.local_keys.at(u.record.name)));
  }
}

TEST(KeyWithoutTuid, RemovesTheLineAndItsBytes) {
  auto bare = key_without_tuid({50, "From: a\nx-tuid: 0123456789ab\nTo: b\n\n"});
  ASSERT_TRUE(bare.has_value());
  EXPECT_EQ(bare->header, "From: a\nTo: b\n\n");
  EXPECT_EQ(bare->crlf_size, 28u);
  EXPECT_FALSE(key_without_tuid({20, "From: a\nX-TUIDS: 1\n\n"}).has_value());
  EXPECT_FALSE(key_without_tuid({20, "From: a\n\nX-TUID: in the body\n"}).has_value());
}

TEST(TwoWay, NewOnBothSidesWithEqualKeysIsOneMessage) {
  Plan plan = plan_new_on_both_sides_with_equal_keys();
  EXPECT_TRUE(plan.downloads.empty());
  EXPECT_TRUE(plan.uploads.empty());
  ASSERT_EQ(plan.updates.size(), 1u);
  EXPECT_EQ(plan.updates[0].record.uid, 3u);
  EXPECT_EQ(plan.updates[0].record.name, "n1");
}

// Pull mode (or a read-only folder) uploads nothing, but a file kept local
// only may be the copy of a new server message (a move by another client, a
// lost state directory): the keys decide, or the message would be in the
// folder twice.
TEST(Pull, NewOnBothSidesAsksForKeysAndPairsThem) {
  auto state = make_state({});
  FolderInput in;
  in.state = &state;
  in.server = make_server({{3, {}}});
  in.local = LocalFolder{{{"n1", ""}}};
  Plan plan = plan_folder(in, pull());
  EXPECT_EQ(plan.local_only, (std::vector<std::string>{"n1"}));
  EXPECT_TRUE(plan.wants_content_keys());
  in.server_keys[3] = {10, "H"};
  in.local_keys["n1"] = {10, "H"};
  plan = plan_folder(in, pull());
  EXPECT_TRUE(plan.downloads.empty());
  EXPECT_TRUE(plan.local_only.empty());
  ASSERT_EQ(plan.updates.size(), 1u);
  EXPECT_EQ(plan.updates[0].record.name, "n1");
}

TEST(TwoWay, LocalFlagChangeIsPushed) {
  auto state = make_state({{1, "a", {}}});
  Plan plan = plan_folder(&state, make_server({{1, {}}}), LocalFolder{{{"a", "RS"}}}, both());
  EXPECT_TRUE(plan.local_flags.empty());
  ASSERT_EQ(plan.server_flags.size(), 1u);
  EXPECT_EQ(plan.server_flags[0].add, (Flags{"\\Answered", "\\Seen"}));
  EXPECT_TRUE(plan.server_flags[0].remove.empty());
  ASSERT_EQ(plan.updates.size(), 1u);
  EXPECT_EQ(plan.updates[0].record.flags, (Flags{"\\Answered", "\\Seen"}));
}

TEST(TwoWay, FlagConflictKeepsBothSidesChanges) {
  // Base \Seen; the server flagged it, the user marked it unread locally.
  auto state = make_state({{1, "a", {"\\Seen"}}});
  Plan plan = plan_folder(&state, make_server({{1, {"\\Flagged", "\\Seen"}}}),
                          LocalFolder{{{"a", ""}}}, both());
  ASSERT_EQ(plan.local_flags.size(), 1u);
  EXPECT_EQ(plan.local_flags[0].to_letters, "F");
  ASSERT_EQ(plan.server_flags.size(), 1u);
  EXPECT_EQ(plan.server_flags[0].remove, Flags{"\\Seen"});
  EXPECT_EQ(plan.updates[0].record.flags, Flags{"\\Flagged"});
}

TEST(TwoWay, ServerKeywordsSurviveALocalFlagChange) {
  auto state = make_state({{1, "a", {"$Label1"}}});
  Plan plan =
      plan_folder(&state, make_server({{1, {"$Label1"}}}), LocalFolder{{{"a", "S"}}}, both());
  ASSERT_EQ(plan.updates.size(), 1u);
  EXPECT_EQ(plan.updates[0].record.flags, (Flags{"$Label1", "\\Seen"}));
}

TEST(TwoWay, LocalDeletionIsExpungedOnTheServer) {
  auto state = make_state({{1, "a", {}}, {2, "b", {}}, {3, "c", {}}});
  Plan plan = plan_folder(&state, make_server({{1, {}}, {2, {}}, {3, {}}}),
                          LocalFolder{{{"a", ""}, {"c", ""}}}, both());
  ASSERT_EQ(plan.server_deletes.size(), 1u);
  EXPECT_EQ(plan.server_deletes[0].uid, 2u);
  EXPECT_TRUE(plan.server_deletes[0].expunge);
}

TEST(TwoWay, LocalDeletionWithExpungeNoOnlyMarksDeleted) {
  auto state = make_state({{1, "a", {}}, {2, "b", {}}});
  Policy policy = both();
  policy.expunge = Expunge::No;
  Plan plan =
      plan_folder(&state, make_server({{1, {}}, {2, {}}}), LocalFolder{{{"a", ""}}}, policy);
  ASSERT_EQ(plan.server_deletes.size(), 1u);
  EXPECT_FALSE(plan.server_deletes[0].expunge);
  // Once marked, nothing more is done.
  Plan again = plan_folder(&state, make_server({{1, {}}, {2, {"\\Deleted"}}}),
                           LocalFolder{{{"a", ""}}}, policy);
  EXPECT_TRUE(again.server_deletes.empty());
}

TEST(TwoWay, LocalDeletionWinsOverAServerFlagChange) {
  auto state = make_state({{1, "a", {}}, {2, "b", {}}, {3, "c", {}}});
  Plan plan = plan_folder(&state, make_server({{1, {}}, {2, {"\\Flagged"}}, {3, {}}}),
                          LocalFolder{{{"a", ""}, {"c", ""}}}, both());
  ASSERT_EQ(plan.server_deletes.size(), 1u);
  EXPECT_TRUE(plan.server_flags.empty());
}

TEST(TwoWay, AMovedFileIsMovedOnTheServer) {
  auto state = make_state({{1, "a", {}}, {2, "b", {}}});
  FolderInput in;
  in.state = &state;
  in.server = make_server({{1, {}}, {2, {}}});
  in.local = LocalFolder{{{"a", ""}}};
  in.moved_out["b"] = "Archive";
  Plan plan = plan_folder(in, both());
  EXPECT_TRUE(plan.server_deletes.empty());
  ASSERT_EQ(plan.moves.size(), 1u);
  EXPECT_EQ(plan.moves[0].uid, 2u);
  EXPECT_EQ(plan.moves[0].target, "Archive");
}

TEST(TwoWay, AFileMovedInIsNotUploaded) {
  auto state = make_state({});
  FolderInput in;
  in.state = &state;
  in.local = LocalFolder{{{"b", ""}}};
  in.moved_in.insert("b");
  Plan plan = plan_folder(in, both());
  EXPECT_TRUE(plan.uploads.empty());
}

TEST(TwoWay, AFileMovedInIsPairedWithTheServerCopyTheMoveBrought) {
  // The server already moved the message (this run, or a run that was
  // killed): the moved file and the new server message are one message.
  auto state = make_state({});
  FolderInput in;
  in.state = &state;
  in.server = make_server({{9, {"\\Seen"}}});
  in.local = LocalFolder{{{"b", "S"}}};
  in.moved_in.insert("b");
  Plan plan = plan_folder(in, both());
  EXPECT_TRUE(plan.wants_content_keys());
  in.server_keys[9] = {40, "H"};
  in.local_keys["b"] = {40, "H"};
  plan = plan_folder(in, both());
  EXPECT_TRUE(plan.downloads.empty());
  EXPECT_TRUE(plan.uploads.empty());
  ASSERT_EQ(plan.updates.size(), 1u);
  EXPECT_EQ(plan.updates[0].record.name, "b");
}

TEST(TwoWay, VanishedLocalFolderDeletesNothingOnTheServer) {
  std::vector<state::MessageRecord> records;
  std::vector<ServerMessage> server;
  for (Uid uid = 1; uid <= 3; ++uid) {
    records.push_back({uid, "m" + std::to_string(uid), {}});
    server.push_back({uid, {}});
  }
  auto state = make_state(records);
  FolderInput in;
  in.state = &state;
  in.server = make_server(server);
  in.local_folder_missing = true;
  Plan plan = plan_folder(in, both());
  EXPECT_TRUE(plan.server_deletes.empty());
  EXPECT_NE(plan.refused.find("local folder"), std::string::npos);
}

TEST(TwoWay, MassLocalDeletionIsNotPropagated) {
  std::vector<state::MessageRecord> records;
  std::vector<ServerMessage> server;
  for (Uid uid = 1; uid <= 20; ++uid) {
    records.push_back({uid, "m" + std::to_string(uid), {}});
    server.push_back({uid, {}});
  }
  auto state = make_state(records);
  Plan plan = plan_folder(&state, make_server(server), LocalFolder{{{"m1", ""}}}, both());
  EXPECT_TRUE(plan.server_deletes.empty());
  EXPECT_NE(plan.refused.find("deleted locally"), std::string::npos);
}

TEST(TwoWay, HeldBackDeletionsHoldBackUploads) {
  // 20 of 20 files gone and 20 unknown files there (a mail reader renamed
  // them, and their records have no content key): the guard keeps the
  // deletions, so the uploads would be second copies. Both wait.
  std::vector<state::MessageRecord> records;
  std::vector<ServerMessage> server;
  LocalFolder local;
  for (Uid uid = 1; uid <= 20; ++uid) {
    records.push_back({uid, "m" + std::to_string(uid), {}});
    server.push_back({uid, {}});
    local.messages.push_back({"renamed" + std::to_string(uid), "S"});
  }
  auto state = make_state(records);
  Plan plan = plan_folder(&state, make_server(server), local, both());
  EXPECT_TRUE(plan.server_deletes.empty());
  EXPECT_TRUE(plan.uploads.empty());
  EXPECT_FALSE(plan.refused.empty());
}

TEST(TwoWay, AFileWithAPendingUploadIsNotUploadedAgain) {
  auto state = make_state({});
  FolderInput in;
  in.state = &state;
  in.server = make_server({});
  in.local = LocalFolder{{{"n1", "S"}, {"n2", ""}}};
  in.pending_uploads = {"n1"};
  Plan plan = plan_folder(in, both());
  ASSERT_EQ(plan.uploads.size(), 1u);
  EXPECT_EQ(plan.uploads[0].name, "n2");
}

TEST(TwoWay, RecordsKeepTheirContentKey) {
  auto state = make_state({{1, "a", {}, "0123456789abcdef"}});
  Plan plan = plan_folder(&state, make_server({{1, {"\\Seen"}}}), LocalFolder{{{"a", ""}}}, both());
  ASSERT_EQ(plan.updates.size(), 1u);
  EXPECT_EQ(plan.updates[0].record.key, "0123456789abcdef");
}

TEST(TwoWay, PairedMessagesGetTheirContentKey) {
  Plan plan = plan_new_on_both_sides_with_equal_keys();
  ASSERT_EQ(plan.updates.size(), 1u);
  EXPECT_EQ(plan.updates[0].record.key, content_key_text({10, "H"}));
}

TEST(ContentKeyText, IsSixteenHexDigitsAndTellsKeysApart) {
  std::string a = content_key_text({10, "Subject: a\n\n"});
  EXPECT_EQ(a.size(), 16u);
  EXPECT_EQ(a.find_first_not_of("0123456789abcdef"), std::string::npos);
  EXPECT_EQ(a, content_key_text({10, "Subject: a\n\n"}));
  EXPECT_NE(a, content_key_text({11, "Subject: a\n\n"}));
  EXPECT_NE(a, content_key_text({10, "Subject: b\n\n"}));
}

TEST(MessageIdOf, FindsTheHeaderCaseInsensitivelyAndUnfoldsIt) {
  EXPECT_EQ(message_id_of("From: x\r\nMessage-ID: <a@b>\r\n\r\n"), "<a@b>");
  EXPECT_EQ(message_id_of("message-id:\n <long@example.org>\nTo: y\n\n"), "<long@example.org>");
  EXPECT_EQ(message_id_of("Subject: no id\n\nMessage-ID: <in-body@x>\n"), "");
  EXPECT_EQ(message_id_of("X-Message-ID: <not@this>\n\n"), "");
}

TEST(Push, ServerChangesAreNotAppliedLocally) {
  auto state = make_state({{1, "a", {}}});
  Plan plan = plan_folder(&state, make_server({{1, {"\\Seen"}}, {2, {}}}), LocalFolder{{{"a", ""}}},
                          push());
  EXPECT_TRUE(plan.local_flags.empty());
  EXPECT_TRUE(plan.downloads.empty());
  EXPECT_TRUE(plan.server_flags.empty());
}

TEST(Push, LocalChangesGoUpAndStayStable) {
  auto state = make_state({{1, "a", {}}});
  Plan plan =
      plan_folder(&state, make_server({{1, {"\\Answered"}}}), LocalFolder{{{"a", "S"}}}, push());
  ASSERT_EQ(plan.server_flags.size(), 1u);
  EXPECT_EQ(plan.server_flags[0].add, Flags{"\\Seen"});
  ASSERT_EQ(plan.updates.size(), 1u);
  // The record follows the local side, so the server's own \Answered is
  // not taken for a local change next time.
  EXPECT_EQ(plan.updates[0].record.flags, Flags{"\\Seen"});
}

TEST(NormalizeServerFlags, DropsRecentSortsAndDeduplicates) {
  EXPECT_EQ(normalize_server_flags({"\\Seen", "\\Recent", "$A", "\\Seen"}),
            (Flags{"$A", "\\Seen"}));
}

}  // namespace
}  // namespace roam::sync
