// The executor's folder-level decisions that need no socket and no file:
// skipping unchanged folders, ordering folders (those that lost messages
// first, then the biggest), and recognising files a mail reader renamed or
// moved. Tables, one row a rule.

#include "sync/discovery.hpp"

#include <gtest/gtest.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "sync/executor.hpp"

namespace roam::sync {
namespace {

state::FolderState make_state(std::uint32_t uidnext, std::uint64_t modseq,
                              std::vector<state::MessageRecord> records) {
  state::FolderState s;
  s.mailbox = "INBOX";
  s.uidvalidity = 7;
  s.uidnext = uidnext;
  s.highestmodseq = modseq;
  for (auto& r : records) {
    s.messages[r.uid] = r;
  }
  return s;
}

imap::StatusData status(std::optional<std::uint64_t> messages, std::optional<std::uint64_t> uidnext,
                        std::optional<std::uint64_t> uidvalidity,
                        std::optional<std::uint64_t> modseq) {
  imap::StatusData st;
  st.messages = messages;
  st.uidnext = uidnext;
  st.uidvalidity = uidvalidity;
  st.highestmodseq = modseq;
  return st;
}

maildir::Entry entry(const std::string& name, const std::string& letters) {
  maildir::Entry e;
  e.stable_name = name;
  e.letters = letters;
  e.path = "/nonexistent/" + name + ":2," + letters;
  return e;
}

struct ServerRow {
  const char* rule;
  imap::StatusData status;
  bool unchanged;
};

TEST(ServerUnchanged, Table) {
  // The state: UIDVALIDITY 7, UIDNEXT 10, HIGHESTMODSEQ 50, two messages.
  auto st = make_state(10, 50, {{1, "a", {}}, {2, "b", {}}});
  const std::vector<ServerRow> rows = {
      {"everything equal", status(2, 10, 7, 50), true},
      {"new mail raised UIDNEXT", status(3, 11, 7, 50), false},
      {"an expunge lowered the count", status(1, 10, 7, 51), false},
      {"a flag change raised HIGHESTMODSEQ", status(2, 10, 7, 51), false},
      {"UIDVALIDITY changed", status(2, 10, 8, 50), false},
      {"no HIGHESTMODSEQ (no CONDSTORE): flag changes invisible", status(2, 10, 7, std::nullopt),
       false},
      {"HIGHESTMODSEQ 0 proves nothing", status(2, 10, 7, 0), false},
      {"no message count", status(std::nullopt, 10, 7, 50), false},
  };
  for (const auto& row : rows) {
    EXPECT_EQ(server_unchanged(st, row.status), row.unchanged) << row.rule;
  }
}

struct LocalRow {
  const char* rule;
  std::vector<maildir::Entry> entries;
  bool unchanged;
};

TEST(LocalUnchanged, Table) {
  auto st = make_state(10, 50, {{1, "a", {"\\Seen"}}, {2, "b", {}}});
  const std::vector<LocalRow> rows = {
      {"the recorded files with the recorded flags", {entry("a", "S"), entry("b", "")}, true},
      {"unknown letters do not count", {entry("a", "Sa"), entry("b", "")}, true},
      {"a flag changed", {entry("a", "FS"), entry("b", "")}, false},
      {"a file was deleted", {entry("a", "S")}, false},
      {"a new file", {entry("a", "S"), entry("b", ""), entry("c", "")}, false},
      {"a file was renamed", {entry("a", "S"), entry("b2", "")}, false},
  };
  for (const auto& row : rows) {
    EXPECT_EQ(local_unchanged(st, row.entries), row.unchanged) << row.rule;
  }
}

// The summary's digest stands for local_unchanged() when the state is not
// loaded: the same rows, the same answers (a listing of as many entries
// whose digest equals the state's is what the state describes).
TEST(LocalDigest, AgreesWithLocalUnchanged) {
  auto st = make_state(10, 50, {{1, "a", {"\\Seen"}}, {2, "b", {}}});
  const std::vector<LocalRow> rows = {
      {"the recorded files with the recorded flags", {entry("a", "S"), entry("b", "")}, true},
      {"in another order", {entry("b", ""), entry("a", "S")}, true},
      {"unknown letters do not count", {entry("a", "Sa"), entry("b", "")}, true},
      {"a flag changed", {entry("a", "FS"), entry("b", "")}, false},
      {"flags swapped between two files", {entry("a", ""), entry("b", "S")}, false},
      {"a file was deleted", {entry("a", "S")}, false},
      {"a new file", {entry("a", "S"), entry("b", ""), entry("c", "")}, false},
      {"a file was renamed", {entry("a", "S"), entry("b2", "")}, false},
      {"a second copy instead of another file", {entry("a", "S"), entry("a", "S")}, false},
  };
  for (const auto& row : rows) {
    std::uint64_t listed = 0;
    for (const auto& e : row.entries) {
      listed += local_digest(e.stable_name, e.letters);
    }
    const bool same = row.entries.size() == st.messages.size() && listed == local_digest(st);
    EXPECT_EQ(same, row.unchanged) << row.rule;
  }
  // One listed message at a time adds up to the same digest.
  std::uint64_t sum = local_digest("a", "S") + local_digest("b", "");
  EXPECT_EQ(sum, local_digest(st));
  // The value is FNV-1a based and the same in every build: a summary
  // written by one roam is read by the next.
  EXPECT_EQ(local_digest(make_state(1, 1, {})), 0u);
  EXPECT_EQ(local_digest("a", ""), local_digest("a", ""));
  EXPECT_NE(local_digest("a", ""), local_digest("a", "S"));
  EXPECT_NE(local_digest("ab", ""), local_digest("a", "b"));
}

TEST(LostMessages, Table) {
  // Two records, UIDNEXT 10 at the commit.
  auto st = make_state(10, 0, {{1, "a", {}}, {2, "b", {}}});
  struct Row {
    const char* rule;
    imap::StatusData status;
    bool lost;
  };
  const std::vector<Row> rows = {
      {"unchanged", status(2, 10, 7, std::nullopt), false},
      {"one expunged", status(1, 10, 7, std::nullopt), true},
      {"two new", status(4, 12, 7, std::nullopt), false},
      {"two new, one of the old expunged", status(3, 12, 7, std::nullopt), true},
      {"no STATUS counts", status(std::nullopt, std::nullopt, 7, std::nullopt), false},
  };
  for (const auto& row : rows) {
    EXPECT_EQ(lost_messages(st, row.status), row.lost) << row.rule;
  }
  auto partial = make_state(0, 0, {{1, "a", {}}});
  EXPECT_FALSE(lost_messages(partial, status(0, 10, 7, std::nullopt)))
      << "a state from an incomplete run has no UIDNEXT to compare with";
}

TEST(ExpectedWork, Table) {
  // Two records, UIDNEXT 10 at the commit.
  auto st = make_state(10, 0, {{1, "a", {}}, {2, "b", {}}});
  struct Row {
    const char* rule;
    std::optional<state::FolderState> state;
    std::optional<imap::StatusData> status;
    std::vector<std::string> files;
    bool quick;
    std::uint64_t work;
  };
  const std::vector<Row> rows = {
      {"never synced: every message on the server",
       std::nullopt,
       status(2500, 2501, 7, std::nullopt),
       {},
       false,
       2500},
      {"never synced, with local files",
       std::nullopt,
       status(3, 4, 7, std::nullopt),
       {"x", "y"},
       false,
       5},
      {"synced: the UIDs given out since",
       st,
       status(2, 14, 7, std::nullopt),
       {"a", "b"},
       false,
       4},
      {"synced: local files the state does not know",
       st,
       status(2, 10, 7, std::nullopt),
       {"a", "b", "c"},
       false,
       1},
      {"no STATUS: only the local side counts", st, std::nullopt, {"a", "b", "c"}, false, 1},
      {"a state from an incomplete run: the server's count",
       make_state(0, 0, {{1, "a", {}}}),
       status(40, 41, 7, std::nullopt),
       {"a"},
       false,
       40},
      {"skipped on the summary's word",
       std::nullopt,
       status(2500, 2501, 7, std::nullopt),
       {},
       true,
       0},
  };
  for (const auto& row : rows) {
    FolderEntry f;
    f.state = row.state;
    f.status = row.status;
    f.quick = row.quick;
    for (const auto& name : row.files) {
      f.scan.entries.push_back(entry(name, ""));
    }
    EXPECT_EQ(expected_work(f), row.work) << row.rule;
  }
}

// Two folders with one record each; the test puts files and keys in place.
struct RenameFixture {
  std::vector<FolderEntry> folders;
  std::vector<bool> usable{true, true};
  std::map<std::string, std::string> keys;  // Stable name -> content key.

  RenameFixture() {
    folders.resize(2);
    folders[0].name = "INBOX";
    folders[1].name = "Archive";
    for (auto& f : folders) {
      f.local_exists = true;
      f.state = state::FolderState{};
      f.state->uidvalidity = 1;
    }
    folders[0].state->messages[5] = {5, "old", {"$label1", "\\Seen"}, "00000000000000aa"};
    folders[1].state->messages[9] = {9, "kept", {}, "00000000000000bb"};
    folders[1].scan.entries.push_back(entry("kept", ""));
    keys["kept"] = "00000000000000bb";
  }

  void run(Direction direction) {
    recognise_renames(direction, folders, usable,
                      [this](const maildir::Entry& e) -> std::optional<std::string> {
                        auto it = keys.find(e.stable_name);
                        if (it == keys.end()) {
                          return std::nullopt;
                        }
                        return it->second;
                      });
  }
};

TEST(RecogniseRenames, ARenameInTheSameFolderRenamesTheRecord) {
  RenameFixture fx;
  fx.folders[0].scan.entries.push_back(entry("new", "S"));
  fx.keys["new"] = "00000000000000aa";
  fx.run(Direction::Both);
  ASSERT_EQ(fx.folders[0].state->messages.at(5).name, "new");
  EXPECT_EQ(fx.folders[0].state->messages.at(5).flags,
            (std::vector<std::string>{"$label1", "\\Seen"}))
      << "the UID and the keywords stay with the message";
  EXPECT_TRUE(fx.folders[0].renamed);
  EXPECT_TRUE(fx.folders[0].moved_out.empty());
}

TEST(RecogniseRenames, ARenameIntoAnotherFolderIsAMove) {
  RenameFixture fx;
  fx.folders[1].scan.entries.push_back(entry("moved", "S"));
  fx.keys["moved"] = "00000000000000aa";
  fx.run(Direction::Both);
  EXPECT_EQ(fx.folders[0].moved_out.at("old"), "Archive");
  EXPECT_EQ(fx.folders[0].move_names.at("old"), "moved");
  EXPECT_EQ(fx.folders[1].moved_in.count("moved"), 1u);
  EXPECT_EQ(fx.folders[0].state->messages.at(5).name, "old");
}

TEST(RecogniseRenames, PullModeRenamesInPlaceButMovesNothing) {
  RenameFixture fx;
  fx.folders[1].scan.entries.push_back(entry("moved", "S"));
  fx.keys["moved"] = "00000000000000aa";
  fx.run(Direction::Pull);
  EXPECT_TRUE(fx.folders[0].moved_out.empty()) << "pull mode writes nothing to the server";
  EXPECT_TRUE(fx.folders[1].moved_in.empty());
}

TEST(RecogniseRenames, ADifferentMessageIsNotARename) {
  RenameFixture fx;
  fx.folders[0].scan.entries.push_back(entry("other", ""));
  fx.keys["other"] = "00000000000000cc";
  fx.run(Direction::Both);
  EXPECT_EQ(fx.folders[0].state->messages.at(5).name, "old");
  EXPECT_FALSE(fx.folders[0].renamed);
}

TEST(RecogniseRenames, TwoCopiesPairOneToOne) {
  // The same message twice (a copy the user made): one file takes the
  // record, the other stays unknown and is uploaded as a new message.
  RenameFixture fx;
  fx.folders[0].scan.entries.push_back(entry("copy1", ""));
  fx.folders[0].scan.entries.push_back(entry("copy2", ""));
  fx.keys["copy1"] = "00000000000000aa";
  fx.keys["copy2"] = "00000000000000aa";
  fx.run(Direction::Both);
  EXPECT_EQ(fx.folders[0].state->messages.size(), 1u);
  EXPECT_EQ(fx.folders[0].state->messages.at(5).name, "copy1");
}

TEST(RecogniseRenames, RecordsWithoutAKeyAreNotMatched) {
  // Records written by state format 1 carry no key.
  RenameFixture fx;
  fx.folders[0].state->messages.at(5).key.clear();
  fx.folders[0].scan.entries.push_back(entry("new", ""));
  fx.keys["new"] = "00000000000000aa";
  bool asked = false;
  recognise_renames(Direction::Both, fx.folders, fx.usable,
                    [&](const maildir::Entry&) -> std::optional<std::string> {
                      asked = true;
                      return std::nullopt;
                    });
  EXPECT_FALSE(asked) << "no file is read when no record vanished with a key";
  EXPECT_EQ(fx.folders[0].state->messages.at(5).name, "old");
}

}  // namespace
}  // namespace roam::sync
