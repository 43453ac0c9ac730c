#include "state/folder_state.hpp"

#include <gtest/gtest.h>

#include <ctime>
#include <fstream>

#include "fakes/temp_dir.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"

namespace roam::state {
namespace {

using fakes::TempDir;

FolderState sample_state() {
  FolderState state;
  state.mailbox = "Entwürfe/Привет 日本";
  state.uidvalidity = 1234567;
  state.uidnext = 45;
  state.highestmodseq = 9'000'000'000'000ULL;
  state.flags_modseq = 9'000'000'000'000ULL;
  state.messages[3] = {3, "1700000000.M1P2.host", {"$Forwarded", "$Label1", "\\Seen"}};
  state.messages[7] = {7, "1700000001.M2P2.host,U=7", {}};
  state.messages[44] = {
      44, "naïve \"quoted\" \\ name", {"\\Answered", "\\Flagged"}, "0123456789abcdef"};
  state.pending_uploads.push_back(
      {"1700000002.M3P2.host", "fedcba9876543210", "<a@b>", 1234, 45, {"\\Seen"}});
  return state;
}

void write_text(const std::filesystem::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
}

TEST(FolderState, RoundTripKeepsEverything) {
  TempDir dir;
  auto path = state_file_for(dir.path(), "Entwürfe/Привет 日本");
  auto state = sample_state();
  save_folder_state(path, state);
  auto loaded = load_folder_state(path);
  ASSERT_TRUE(loaded.has_value());
  EXPECT_EQ(*loaded, state);
  EXPECT_EQ(loaded->messages.at(3).flags,
            (std::vector<std::string>{"$Forwarded", "$Label1", "\\Seen"}));
  EXPECT_EQ(loaded->highestmodseq, 9'000'000'000'000ULL);
}

TEST(FolderState, SaveWritesOneMessagePerLine) {
  auto text = serialize_folder_state(sample_state());
  EXPECT_NE(text.find("\n[3,\"1700000000.M1P2.host\",[\"$Forwarded\",\"$Label1\",\"\\\\Seen\"]]"),
            std::string::npos)
      << text;
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 7) << text;
}

TEST(FolderState, Version1FilesAreReadAndWrittenBackInTheCurrentFormat) {
  // A state written by roam v0.1-v0.3: records without content keys and no
  // pending uploads. It must keep working after an upgrade.
  auto loaded = parse_folder_state(
      R"({"roam_state":1,"mailbox":"INBOX","uidvalidity":5,"uidnext":9,"highestmodseq":0,)"
      R"("messages":[[1,"a",["\\Seen"]]]})",
      "x.json");
  EXPECT_EQ(loaded.messages.at(1).key, "");
  EXPECT_TRUE(loaded.pending_uploads.empty());
  auto text = serialize_folder_state(loaded);
  EXPECT_EQ(text.rfind("{\"roam_state\":3,", 0), 0u) << text;
  FolderState again = parse_folder_state(text, "x.json");
  EXPECT_EQ(again.schema, 3);
  again.schema = loaded.schema;
  EXPECT_EQ(again, loaded);
}

TEST(FolderState, Version2FilesAreReadWithoutTheModSeqOfTheirFlags) {
  // A state written by roam v0.4/v0.5 says nothing about whether its flags
  // are the server's (a push-only run records the local ones): read with
  // flags_modseq 0, so the next run lists every message's flags once.
  auto loaded = parse_folder_state(
      R"({"roam_state":2,"mailbox":"INBOX","uidvalidity":5,"uidnext":9,"highestmodseq":70,)"
      R"("messages":[[1,"a",["\\Seen"]]],"pending":[]})",
      "x.json");
  EXPECT_EQ(loaded.highestmodseq, 70u);
  EXPECT_EQ(loaded.flags_modseq, 0u);
  loaded.flags_modseq = 70;
  auto text = serialize_folder_state(loaded);
  EXPECT_NE(text.find("\"highestmodseq\":70,\"flags_modseq\":70,"), std::string::npos) << text;
  FolderState again = parse_folder_state(text, "x.json");
  EXPECT_EQ(again.flags_modseq, 70u);
}

TEST(StateName, EscapesOnlyBytesThatAreNotUtf8) {
  struct Row {
    std::string raw;
    std::string stored;
  };
  const std::vector<Row> rows = {
      {"1700000000.M1P2.host", "1700000000.M1P2.host"},
      {"caf\xc3\xa9 \xe6\x97\xa5 \xf0\x9f\x93\xa7", "caf\xc3\xa9 \xe6\x97\xa5 \xf0\x9f\x93\xa7"},
      {"caf\xe9", "caf/E9"},                 // Latin-1
      {"\xff\xfe", "/FF/FE"},                // Never valid in UTF-8.
      {"a\xc3", "a/C3"},                     // A sequence cut short at the end.
      {"\xc3(", "/C3("},                     // A lead byte without continuation.
      {"\x80x", "/80x"},                     // A lone continuation byte.
      {"\xc0\xaf", "/C0/AF"},                // Overlong '/'.
      {"\xed\xa0\x80", "/ED/A0/80"},         // A UTF-16 surrogate.
      {"\xf4\x90\x80\x80", "/F4/90/80/80"},  // Above U+10FFFF.
      {"\xc3\xa9\xe9", "\xc3\xa9/E9"},       // Valid and invalid mixed.
      {"ctl\x01", "ctl\x01"},                // JSON escapes controls itself.
  };
  for (const Row& row : rows) {
    SCOPED_TRACE(row.stored);
    EXPECT_EQ(escape_name(row.raw), row.stored);
    EXPECT_EQ(unescape_name(row.stored), row.raw);
  }
  EXPECT_EQ(unescape_name("a/e9"), "a\xe9");  // Lower-case hex is read too.
  for (const char* broken : {"a/", "a/E", "a/EG", "/zz"}) {
    EXPECT_EQ(unescape_name(broken), std::nullopt) << broken;
  }
}

TEST(FolderState, NamesThatAreNotUtf8RoundTrip) {
  // A file name in a legacy encoding once made every save throw, so the
  // folder could never be synced again.
  TempDir dir;
  auto path = dir.path() / "folder-INBOX.json";
  FolderState state;
  state.mailbox = "INBOX";
  state.uidvalidity = 1;
  state.uidnext = 4;
  state.messages[1] = {1, "1700000000.caf\xe9.host", {"\\Seen"}, "0123456789abcdef"};
  state.messages[2] = {2, "\xff\xfe", {}};
  state.messages[3] = {3, "plain", {}};
  state.pending_uploads.push_back({"r\xe9sum\xe9", "fedcba9876543210", "<a@b>", 10, 4, {}});
  save_folder_state(path, state);
  auto text = util::read_file(path);
  EXPECT_NE(text.find("[1,\"1700000000.caf/E9.host\","), std::string::npos) << text;
  EXPECT_NE(text.find("[2,\"/FF/FE\","), std::string::npos) << text;
  EXPECT_NE(text.find("{\"name\":\"r/E9sum/E9\","), std::string::npos) << text;
  auto loaded = load_folder_state(path);
  ASSERT_TRUE(loaded.has_value());
  EXPECT_EQ(*loaded, state);
  // Saved again unchanged: the escape is stable.
  save_folder_state(path, *loaded);
  EXPECT_EQ(util::read_file(path), text);
}

TEST(FolderState, AMessageIdThatIsNotUtf8IsStoredEmpty) {
  TempDir dir;
  auto path = dir.path() / "folder-INBOX.json";
  FolderState state;
  state.mailbox = "INBOX";
  state.pending_uploads.push_back({"n", "fedcba9876543210", "<caf\xe9/x@example.org>", 10, 4, {}});
  state.pending_uploads.push_back({"m", "0123456789abcdef", "<ok/\xc3\xa9@x>", 10, 4, {}});
  save_folder_state(path, state);
  auto loaded = load_folder_state(path);
  ASSERT_TRUE(loaded.has_value());
  ASSERT_EQ(loaded->pending_uploads.size(), 2U);
  EXPECT_EQ(loaded->pending_uploads[0].message_id, "");
  EXPECT_EQ(loaded->pending_uploads[1].message_id, "<ok/\xc3\xa9@x>");
}

TEST(FolderState, SaveSortsAndDeduplicatesFlags) {
  FolderState state;
  state.uidvalidity = 1;
  state.messages[1] = {1, "a", {"\\Seen", "$Label1", "\\Seen"}};
  auto loaded = parse_folder_state(serialize_folder_state(state), "x.json");
  EXPECT_EQ(loaded.messages.at(1).flags, (std::vector<std::string>{"$Label1", "\\Seen"}));
}

TEST(FolderState, MissingFileMeansNoStateYet) {
  TempDir dir;
  EXPECT_FALSE(load_folder_state(dir.path() / "folder-INBOX.json").has_value());
}

TEST(FolderState, EmptyStateRoundTrips) {
  TempDir dir;
  FolderState state;
  state.mailbox = "INBOX";
  auto path = dir.path() / "s.json";
  save_folder_state(path, state);
  auto loaded = load_folder_state(path);
  ASSERT_TRUE(loaded.has_value());
  EXPECT_EQ(*loaded, state);
  EXPECT_TRUE(loaded->messages.empty());
}

TEST(FolderState, HundredThousandMessagesAreFast) {
  TempDir dir;
  FolderState state;
  state.mailbox = "INBOX";
  state.uidvalidity = 42;
  state.uidnext = 200'001;
  for (std::uint32_t uid = 1; uid <= 200'000; uid += 2) {
    state.messages[uid] = {uid, "1700000000.M" + std::to_string(uid) + "P99.example.org",
                           uid % 3 == 0 ? std::vector<std::string>{"\\Seen"}
                                        : std::vector<std::string>{"$Label1", "\\Flagged"}};
  }
  ASSERT_EQ(state.messages.size(), 100'000u);
  auto path = dir.path() / "big.json";
  // CPU time, so that a busy machine does not fail the test.
  std::clock_t start = std::clock();
  save_folder_state(path, state);
  auto loaded = load_folder_state(path);
  double seconds = static_cast<double>(std::clock() - start) / CLOCKS_PER_SEC;
  ASSERT_TRUE(loaded.has_value());
  EXPECT_EQ(*loaded, state);
#if defined(__OPTIMIZE__) && !defined(__SANITIZE_ADDRESS__)
  // An optimized build takes about 0.4 s; sanitizer and debug builds are
  // too slow for a meaningful bound.
  EXPECT_LT(seconds, 3.0);
#else
  EXPECT_GT(seconds, 0.0);
#endif
}

TEST(FolderState, NameIndexFindsRecords) {
  auto state = sample_state();
  auto index = build_name_index(state);
  EXPECT_EQ(index.size(), 3u);
  EXPECT_EQ(index.at("1700000001.M2P2.host,U=7"), 7u);
  EXPECT_EQ(index.count("nope"), 0u);
}

struct CorruptCase {
  const char* label;
  std::string text;
  const char* expected;  // A fragment the message must contain.
};

class CorruptStateTest : public ::testing::TestWithParam<CorruptCase> {};

TEST_P(CorruptStateTest, IsAnErrorNamingTheFile) {
  TempDir dir;
  auto path = dir.path() / "folder-INBOX.json";
  write_text(path, GetParam().text);
  try {
    load_folder_state(path);
    FAIL() << "no error for " << GetParam().label;
  } catch (const util::Error& e) {
    std::string message = e.what();
    EXPECT_EQ(e.scope(), util::Scope::Folder);
    EXPECT_NE(message.find(path.string()), std::string::npos) << message;
    EXPECT_NE(message.find(GetParam().expected), std::string::npos) << message;
  }
}

const std::string k_head =
    R"({"roam_state":1,"mailbox":"INBOX","uidvalidity":5,"uidnext":9,"highestmodseq":0,)";
const std::string k_head2 =
    R"({"roam_state":2,"mailbox":"INBOX","uidvalidity":5,"uidnext":9,"highestmodseq":0,)";

INSTANTIATE_TEST_SUITE_P(
    Table, CorruptStateTest,
    ::testing::Values(
        CorruptCase{"empty file", "", "not valid JSON"},
        CorruptCase{"truncated", k_head + R"("messages":[[1,"a",["\\Se)", "not valid JSON"},
        CorruptCase{"not an object", "[1,2,3]", "not a JSON object"},
        CorruptCase{"no version", R"({"mailbox":"INBOX"})", "roam_state"},
        CorruptCase{"newer schema",
                    R"({"roam_state":4,"mailbox":"INBOX","uidvalidity":5,"uidnext":9,)"
                    R"("highestmodseq":0,"messages":[]})",
                    "format version 4"},
        CorruptCase{"version 2 with flags_modseq",
                    k_head2 + R"("flags_modseq":0,"messages":[],"pending":[]})",
                    "unknown key \"flags_modseq\""},
        CorruptCase{"version 3 without flags_modseq",
                    R"({"roam_state":3,"mailbox":"INBOX","uidvalidity":5,"uidnext":9,)"
                    R"("highestmodseq":0,"messages":[],"pending":[]})",
                    "missing key \"flags_modseq\""},
        CorruptCase{"flags_modseq negative",
                    R"({"roam_state":3,"mailbox":"INBOX","uidvalidity":5,"uidnext":9,)"
                    R"("highestmodseq":0,"flags_modseq":-1,"messages":[],"pending":[]})",
                    "flags_modseq"},
        CorruptCase{"version 1 with a content key",
                    k_head + R"("messages":[[1,"a",[],"0123456789abcdef"]]})", "message #1"},
        CorruptCase{"version 1 with pending", k_head + R"("messages":[],"pending":[]})",
                    "unknown key \"pending\""},
        CorruptCase{"version 2 without pending", k_head2 + R"("messages":[]})",
                    "missing key \"pending\""},
        CorruptCase{"content key not hex",
                    k_head2 + R"("messages":[[1,"a",[],"XYZ"]],"pending":[]})",
                    "16 lower-case hex digits"},
        CorruptCase{"pending without size",
                    k_head2 + R"("messages":[],"pending":[{"name":"n","key":"0123456789abcdef",)"
                              R"("message_id":"","uidnext":3,"flags":[]}]})",
                    "missing key \"size\""},
        CorruptCase{"pending name of a record",
                    k_head2 + R"("messages":[[1,"n",[]]],"pending":[{"name":"n",)"
                              R"("key":"0123456789abcdef","message_id":"","size":1,"uidnext":3,)"
                              R"("flags":[]}]})",
                    "also used by a message record"},
        CorruptCase{"uidvalidity is a string",
                    R"({"roam_state":1,"mailbox":"INBOX",)"
                    R"("uidvalidity":"5","uidnext":9,)"
                    R"("highestmodseq":0,"messages":[]})",
                    "uidvalidity"},
        CorruptCase{"uidnext negative",
                    R"({"roam_state":1,"mailbox":"INBOX","uidvalidity":5,)"
                    R"("uidnext":-1,"highestmodseq":0,"messages":[]})",
                    "uidnext"},
        CorruptCase{"uid too large", k_head + R"("messages":[[4294967296,"a",[]]]})",
                    "out of range"},
        CorruptCase{"mailbox not a string",
                    R"({"roam_state":1,"mailbox":7,"uidvalidity":5,)"
                    R"("uidnext":9,"highestmodseq":0,"messages":[]})",
                    "mailbox"},
        CorruptCase{"messages not an array", k_head + R"("messages":{}})", "not an array"},
        CorruptCase{"missing key",
                    R"({"roam_state":1,"mailbox":"INBOX","uidvalidity":5,)"
                    R"("uidnext":9,"messages":[]})",
                    "missing key \"highestmodseq\""},
        CorruptCase{"unknown key", k_head + R"("messages":[],"extra":1})", "unknown key"},
        CorruptCase{"duplicate key", k_head + R"("uidnext":10,"messages":[]})", "appears twice"},
        CorruptCase{"uid 0", k_head + R"("messages":[[0,"a",[]]]})", "uid 0"},
        CorruptCase{"duplicate uid", k_head + R"("messages":[[1,"a",[]],[1,"b",[]]]})",
                    "uid 1 appears twice"},
        CorruptCase{"duplicate name", k_head + R"("messages":[[1,"a",[]],[2,"a",[]]]})",
                    "also used by uid 1"},
        CorruptCase{"record too short", k_head + R"("messages":[[1,"a"]]})", "message #1"},
        CorruptCase{"flag not a string", k_head + R"("messages":[[1,"a",[1]]]})",
                    "flag is not a string"},
        CorruptCase{"name with slash", k_head + R"("messages":[[1,"../../etc/x",[]]]})",
                    "broken '/' escape"},
        CorruptCase{"escape at the end", k_head + R"("messages":[[1,"a/E",[]]]})",
                    "broken '/' escape"},
        CorruptCase{"escaped slash", k_head + R"("messages":[[1,"..\/2F..\/2Fx",[]]]})",
                    "contains '/'"},
        CorruptCase{"escaped NUL", k_head + R"("messages":[[1,"a/00",[]]]})",
                    "contains '/' or NUL"},
        CorruptCase{"escaped dot-dot", k_head + R"("messages":[[1,"/2E/2E",[]]]})",
                    "Maildir name '..'"},
        CorruptCase{"pending broken escape",
                    k_head2 + R"("messages":[],"pending":[{"name":"n/ZZ","key":"0123456789abcdef",)"
                              R"("message_id":"","size":1,"uidnext":1,"flags":[]}]})",
                    "broken '/' escape"},
        CorruptCase{"messages without uidvalidity",
                    R"({"roam_state":1,"mailbox":"INBOX","uidvalidity":0,"uidnext":9,)"
                    R"("highestmodseq":0,"messages":[[1,"a",[]]]})",
                    "uidvalidity"},
        // The records are read without a document tree (StateReader):
        // every way a value can be out of place is still damage.
        CorruptCase{"record not an array", k_head + R"("messages":[7]})", "message #1"},
        CorruptCase{"record an object", k_head + R"("messages":[{"uid":1}]})", "message #1"},
        CorruptCase{"second record broken", k_head + R"("messages":[[1,"a",[]],[2,"b"]]})",
                    "message #2"},
        CorruptCase{"flag null", k_head + R"("messages":[[1,"a",[null]]]})", "not a string"},
        CorruptCase{"flag an array", k_head + R"("messages":[[1,"a",[["x"]]]]})", "not a string"},
        CorruptCase{"name a number", k_head + R"("messages":[[1,2,[]]]})", "name is not a string"},
        CorruptCase{"uid a string", k_head + R"("messages":[["1","a",[]]]})",
                    "not a non-negative integer"},
        CorruptCase{"uid negative", k_head + R"("messages":[[-1,"a",[]]]})",
                    "not a non-negative integer"},
        CorruptCase{"flags a string", k_head + R"("messages":[[1,"a","x"]]})",
                    "flags are not an array"},
        CorruptCase{"record too long",
                    k_head2 + R"("messages":[[1,"a",[],"0123456789abcdef",5]],)"
                              R"("pending":[]})",
                    "message #1"},
        CorruptCase{"messages a number", k_head + R"("messages":3})", "not an array"},
        CorruptCase{"unknown key holding a tree",
                    k_head + R"("messages":[],"extra":{"a":[1,{"b":[null,true]}]}})",
                    "unknown key \"extra\""},
        CorruptCase{"duplicate messages key", k_head + R"("messages":[],"messages":[]})",
                    "appears twice"},
        CorruptCase{"not an object, a string", R"("roam")", "not a JSON object"},
        CorruptCase{"newer schema with records this roam cannot read",
                    R"({"roam_state":9,"messages":[[1,"a",[],"k",{"x":1}]]})", "format version 9"},
        CorruptCase{"pending holding a tree",
                    k_head2 + R"("messages":[],"pending":[{"name":{"a":[1]}}]})",
                    "pending upload"}),
    [](const ::testing::TestParamInfo<CorruptCase>& param_info) {
      std::string name;
      for (const char* p = param_info.param.label; *p != '\0'; ++p) {
        name += std::isalnum(static_cast<unsigned char>(*p)) ? *p : '_';
      }
      return name;
    });

TEST(FolderState, CorruptFileSaysHowToRecover) {
  TempDir dir;
  auto path = dir.path() / "folder-INBOX.json";
  write_text(path, "{");
  try {
    load_folder_state(path);
    FAIL() << "no error";
  } catch (const util::Error& e) {
    EXPECT_NE(std::string(e.what()).find("will not sync this folder until it is repaired or "
                                         "removed"),
              std::string::npos)
        << e.what();
  }
}

TEST(FolderState, RefusesToWriteWhatItWouldNotRead) {
  TempDir dir;
  auto path = dir.path() / "s.json";
  FolderState state;
  state.uidvalidity = 1;
  state.messages[1] = {1, "same", {}};
  state.messages[2] = {2, "same", {}};
  EXPECT_THROW(save_folder_state(path, state), util::Error);
  state.messages.erase(2);
  state.messages[5] = {6, "other", {}};
  EXPECT_THROW(save_folder_state(path, state), util::Error);
  state.messages.erase(5);
  state.messages[1].key = "not a key";
  EXPECT_THROW(save_folder_state(path, state), util::Error);
  state.messages[1].key = "0123456789abcdef";
  state.pending_uploads.push_back({"same", "0123456789abcdef", "", 1, 1, {}});
  EXPECT_THROW(save_folder_state(path, state), util::Error);
  state.pending_uploads.clear();
  state.uidvalidity = 0;
  EXPECT_THROW(save_folder_state(path, state), util::Error);
  EXPECT_FALSE(std::filesystem::exists(path));
}

// A large state goes to its file in chunks (save_folder_state does not
// hold the whole text): the file is the same text, and a record found
// invalid after chunks were written leaves the old file and no temporary.
TEST(FolderState, LargeStateIsWrittenInChunksAndAllOrNothing) {
  TempDir dir;
  auto path = dir.path() / "big.json";
  FolderState state;
  state.mailbox = "INBOX";
  state.uidvalidity = 42;
  state.uidnext = 60'001;
  for (std::uint32_t uid = 1; uid <= 60'000; ++uid) {
    state.messages[uid] = {uid,
                           "1700000000.M" + std::to_string(uid) + "P99.example.org",
                           {"\\Seen"},
                           "0123456789abcdef"};
  }
  const std::string whole = serialize_folder_state(state);
  ASSERT_GT(whole.size(), 3u << 20);  // Several chunks.
  save_folder_state(path, state);
  EXPECT_EQ(util::read_file(path), whole);

  state.messages[60'000].key = "not a key";
  EXPECT_THROW(save_folder_state(path, state), util::Error);
  EXPECT_EQ(util::read_file(path), whole);
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(dir.path())) {
    names.push_back(entry.path().filename().string());
  }
  EXPECT_EQ(names, std::vector<std::string>{"big.json"});
}

TEST(FolderState, LoadForChecksTheMailbox) {
  TempDir dir;
  FolderState state;
  state.mailbox = "Other";
  save_folder_state(state_file_for(dir.path(), "INBOX"), state);
  EXPECT_THROW(load_folder_state_for(dir.path(), "INBOX"), util::Error);
  state.mailbox = "INBOX";
  save_folder_state(state_file_for(dir.path(), "INBOX"), state);
  EXPECT_EQ(load_folder_state_for(dir.path(), "INBOX")->mailbox, "INBOX");
  EXPECT_FALSE(load_folder_state_for(dir.path(), "Sent").has_value());
}

TEST(StateFileName, EncodesUnsafeBytesReversibly) {
  struct Row {
    std::string mailbox;
    std::string file_name;
  };
  const Row rows[] = {
      {"INBOX", "folder-INBOX.json"},
      {"Sent Items", "folder-Sent%20Items.json"},
      {"a/b", "folder-a%2Fb.json"},
      {"..", "folder-...json"},
      {".", "folder-..json"},
      {"Archiv/2024_Q1", "folder-Archiv%2F2024_Q1.json"},
      {"Entwürfe", "folder-Entw%C3%BCrfe.json"},
      {"100%", "folder-100%25.json"},
      {"lock", "folder-lock.json"},
  };
  for (const auto& row : rows) {
    auto path = state_file_for("/state", row.mailbox);
    EXPECT_EQ(path, std::filesystem::path("/state") / row.file_name) << row.mailbox;
  }
}

TEST(StateFileName, LongNamesAreHashedAndStayDistinct) {
  std::string base(190, 'x');
  std::string a = base + "/Ünïcödé-ä";
  std::string b = base + "/Ünïcödé-ö";
  auto path_a = state_file_for("/s", a);
  auto path_b = state_file_for("/s", b);
  EXPECT_NE(path_a, path_b);
  EXPECT_LE(path_a.filename().string().size(), 220u);
  EXPECT_NE(path_a.filename().string().find('~'), std::string::npos);
  EXPECT_EQ(state_file_for("/s", a), path_a);
}

TEST(StateFileName, LongStateFileCanBeWritten) {
  TempDir dir;
  std::string mailbox;
  for (int i = 0; i < 40; ++i) {
    mailbox += "日本/";
  }
  FolderState state;
  state.mailbox = mailbox;
  save_folder_state(state_file_for(dir.path(), mailbox), state);
  EXPECT_EQ(load_folder_state_for(dir.path(), mailbox)->mailbox, mailbox);
}

}  // namespace
}  // namespace roam::state
