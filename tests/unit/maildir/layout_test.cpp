#include "maildir/layout.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "fakes/temp_dir.hpp"
#include "util/error.hpp"

namespace roam::maildir {
namespace {

using fakes::TempDir;

constexpr std::optional<char> k_slash = '/';
constexpr std::optional<char> k_dot = '.';
constexpr std::optional<char> k_none = std::nullopt;

struct PathRow {
  std::string name;
  std::optional<char> delimiter;
  Layout layout;
  // The expected path relative to the root ("" is the root itself), or
  // nothing when the name must be refused.
  std::optional<std::string> expected;
};

TEST(LayoutTest, MapsOrRefusesFolderNames) {
  const std::vector<PathRow> rows = {
      // Accepted names.
      {"INBOX", k_slash, Layout::Verbatim, "INBOX"},
      {"inbox", k_slash, Layout::Verbatim, "INBOX"},
      {"INBOX", k_slash, Layout::MaildirPlusPlus, ""},
      {"Inbox", k_dot, Layout::MaildirPlusPlus, ""},
      {"A/B", k_slash, Layout::Verbatim, "A/B"},
      {"A/B", k_slash, Layout::MaildirPlusPlus, ".A.B"},
      {"INBOX/sub", k_slash, Layout::MaildirPlusPlus, ".INBOX.sub"},
      {"INBOX.Sent", k_dot, Layout::Verbatim, "INBOX/Sent"},
      {"INBOX.Sent", k_dot, Layout::MaildirPlusPlus, ".INBOX.Sent"},
      {"Entwürfe", k_slash, Layout::Verbatim, "Entwürfe"},
      {"Entwürfe", k_slash, Layout::MaildirPlusPlus, ".Entwürfe"},
      {"a b [x]", k_slash, Layout::Verbatim, "a b [x]"},
      {"a.b", k_slash, Layout::Verbatim, "a.b"},
      {"a.b", k_none, Layout::Verbatim, "a.b"},
      {"...x", k_slash, Layout::Verbatim, std::nullopt},
      {"curious", k_slash, Layout::Verbatim, "curious"},
      {"cur", k_slash, Layout::MaildirPlusPlus, ".cur"},
      // Refused: escapes and empty components.
      {"", k_slash, Layout::Verbatim, std::nullopt},
      {"..", k_slash, Layout::Verbatim, std::nullopt},
      {"..", k_slash, Layout::MaildirPlusPlus, std::nullopt},
      {".", k_slash, Layout::Verbatim, std::nullopt},
      {"a/../../b", k_slash, Layout::Verbatim, std::nullopt},
      {"a/..", k_slash, Layout::Verbatim, std::nullopt},
      {"/abs", k_slash, Layout::Verbatim, std::nullopt},
      {"/abs", k_slash, Layout::MaildirPlusPlus, std::nullopt},
      {"a/", k_slash, Layout::Verbatim, std::nullopt},
      {"a//b", k_slash, Layout::Verbatim, std::nullopt},
      {"a..b", k_dot, Layout::Verbatim, std::nullopt},
      // Refused: '/' that is not the delimiter.
      {"a/b", k_dot, Layout::Verbatim, std::nullopt},
      {"../x", k_dot, Layout::Verbatim, std::nullopt},
      {"a/b", k_none, Layout::Verbatim, std::nullopt},
      // Refused: control characters.
      {"a\x01"
       "b",
       k_slash, Layout::Verbatim, std::nullopt},
      {"a\nb", k_slash, Layout::MaildirPlusPlus, std::nullopt},
      {"a\x7f", k_slash, Layout::Verbatim, std::nullopt},
      {std::string("a\0b", 3), k_slash, Layout::Verbatim, std::nullopt},
      // Refused: collisions with the Maildir's own names.
      {"cur", k_slash, Layout::Verbatim, std::nullopt},
      {"A/new", k_slash, Layout::Verbatim, std::nullopt},
      {"tmp", k_slash, Layout::Verbatim, std::nullopt},
      {".hidden", k_slash, Layout::Verbatim, std::nullopt},
      {"A/.x", k_slash, Layout::Verbatim, std::nullopt},
      // Refused: maildir++ cannot represent a '.' in a component.
      {"a.b", k_slash, Layout::MaildirPlusPlus, std::nullopt},
      {".hidden", k_slash, Layout::MaildirPlusPlus, std::nullopt},
      // Refused: too long.
      {std::string(256, 'x'), k_slash, Layout::Verbatim, std::nullopt},
      {std::string(255, 'x'), k_slash, Layout::Verbatim, std::string(255, 'x')},
      {std::string(200, 'x') + "/" + std::string(200, 'y'), k_slash, Layout::MaildirPlusPlus,
       std::nullopt},
      {std::string(1001, 'x'), k_none, Layout::Verbatim, std::nullopt},
  };
  const fs::path root = "/home/u/Mail";
  for (const PathRow& row : rows) {
    SCOPED_TRACE(escape_for_display(row.name) + " " + std::string(to_string(row.layout)));
    if (row.expected) {
      fs::path expected = row.expected->empty() ? root : root / *row.expected;
      EXPECT_EQ(folder_path(Tree{root, row.layout}, row.name, row.delimiter), expected);
    } else {
      EXPECT_THROW(folder_path(Tree{root, row.layout}, row.name, row.delimiter), util::Error);
    }
  }
}

TEST(LayoutTest, RefusalNamesTheFolderEscaped) {
  try {
    folder_path(Tree{"/m", Layout::Verbatim}, "a/\x01/b", '/');
    FAIL() << "the name was accepted";
  } catch (const util::Error& e) {
    std::string message = e.what();
    EXPECT_EQ(e.scope(), util::Scope::Folder);
    EXPECT_NE(message.find("refused"), std::string::npos) << message;
    EXPECT_NE(message.find("a/\\x01/b"), std::string::npos) << message;
    EXPECT_EQ(message.find('\x01'), std::string::npos) << message;
  }
  try {
    folder_path(Tree{"/m", Layout::Verbatim}, "a/../../b", '/');
    FAIL() << "the name was accepted";
  } catch (const util::Error& e) {
    EXPECT_NE(std::string(e.what()).find("\"a/../../b\""), std::string::npos) << e.what();
  }
}

TEST(LayoutTest, SplitsAndNamesRoles) {
  std::vector<std::string> components =
      split_folder_name("inbox.Sent.2024", '.', Tree{"", Layout::Verbatim});
  EXPECT_EQ(components, (std::vector<std::string>{"INBOX", "Sent", "2024"}));
  EXPECT_EQ(folder_role(components), FolderRole::Subfolder);
  EXPECT_EQ(folder_role(split_folder_name("InBoX", '/', Tree{"", Layout::Verbatim})),
            FolderRole::Inbox);
  EXPECT_EQ(folder_role(split_folder_name("INBOXES", '/', Tree{"", Layout::Verbatim})),
            FolderRole::Subfolder);
}

TEST(LayoutTest, ComponentOverloadChecksComponentsToo) {
  EXPECT_THROW(folder_path(Tree{"/m", Layout::Verbatim}, std::vector<std::string>{"a", ".."}),
               util::Error);
  EXPECT_THROW(folder_path(Tree{"/m", Layout::Verbatim}, std::vector<std::string>{}), util::Error);
  EXPECT_EQ(folder_path(Tree{"/m", Layout::Verbatim}, std::vector<std::string>{"a", "b"}),
            fs::path("/m/a/b"));
}

TEST(LayoutTest, ParsesLayoutNames) {
  EXPECT_EQ(parse_layout("verbatim"), Layout::Verbatim);
  EXPECT_EQ(parse_layout("maildir++"), Layout::MaildirPlusPlus);
  EXPECT_EQ(parse_layout("legacy"), Layout::Legacy);
  EXPECT_EQ(parse_layout("flat"), Layout::Flat);
  EXPECT_EQ(parse_layout("Flat"), std::nullopt);
  EXPECT_EQ(to_string(Layout::MaildirPlusPlus), "maildir++");
}

TEST(LayoutTest, EscapesForDisplay) {
  EXPECT_EQ(escape_for_display("Entwürfe"), "Entwürfe");
  EXPECT_EQ(escape_for_display("a\x01"
                               "b\x7f"),
            "a\\x01b\\x7f");
  EXPECT_EQ(escape_for_display("a\"\\"), "a\\\"\\\\");
}

void make_maildir(const fs::path& dir) {
  for (const char* sub : {"cur", "new", "tmp"}) {
    fs::create_directories(dir / sub);
  }
}

TEST(LayoutTest, ListsVerbatimFolders) {
  TempDir temp;
  const fs::path root = temp.path();
  make_maildir(root / "INBOX");
  make_maildir(root / "A" / "B");  // A itself is no folder.
  make_maildir(root / "A" / "B" / "C");
  make_maildir(root / "Entwürfe");
  make_maildir(root / ".notmuch");         // Hidden: ignored.
  fs::create_directories(root / "Empty");  // No cur/: ignored.
  make_maildir(root / "inbox");            // Would map to INBOX: reported.
  std::ofstream(root / "file.txt") << "not a folder";

  LocalFolders found = list_local_folders(Tree{root, Layout::Verbatim});
  EXPECT_EQ(found.names, (std::vector<std::string>{"A/B", "A/B/C", "Entwürfe", "INBOX"}));
  ASSERT_EQ(found.skipped.size(), 1u);
  EXPECT_NE(found.skipped[0].find("inbox"), std::string::npos) << found.skipped[0];

  for (const std::string& name : found.names) {
    EXPECT_TRUE(fs::is_directory(folder_path(Tree{root, Layout::Verbatim}, name, '/') / "cur"))
        << name;
  }
}

TEST(LayoutTest, ListsMaildirPlusPlusFolders) {
  TempDir temp;
  const fs::path root = temp.path();
  make_maildir(root);
  make_maildir(root / ".Sent");
  make_maildir(root / ".A.B");
  make_maildir(root / ".INBOX.sub");
  make_maildir(root / ".a..b");             // Empty component: reported.
  fs::create_directories(root / ".Trash");  // No cur/: ignored.
  make_maildir(root / "plain");             // Not a maildir++ folder: ignored.

  LocalFolders found = list_local_folders(Tree{root, Layout::MaildirPlusPlus});
  EXPECT_EQ(found.names, (std::vector<std::string>{"A/B", "INBOX", "INBOX/sub", "Sent"}));
  ASSERT_EQ(found.skipped.size(), 1u);
  EXPECT_NE(found.skipped[0].find(".a..b"), std::string::npos) << found.skipped[0];

  for (const std::string& name : found.names) {
    EXPECT_TRUE(
        fs::is_directory(folder_path(Tree{root, Layout::MaildirPlusPlus}, name, '/') / "cur"))
        << name;
  }
}

TEST(LayoutTest, ListsNothingUnderAMissingRoot) {
  TempDir temp;
  LocalFolders found = list_local_folders(Tree{temp.path() / "missing", Layout::Verbatim});
  EXPECT_TRUE(found.names.empty());
  EXPECT_TRUE(found.skipped.empty());
}

}  // namespace
}  // namespace roam::maildir
