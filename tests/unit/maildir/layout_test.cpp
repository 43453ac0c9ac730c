#include "maildir/layout.hpp"

#include <gtest/gtest.h>

#include <algorithm>
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

// Where each layout puts a folder, with and without an inbox path, as
// mbsync (SubFolders Verbatim / Legacy, Flatten, Inbox) and OfflineIMAP
// (sep = .) do. Paths are relative to the root, or start with "@" for the
// inbox path.
struct TreeRow {
  std::string name;
  Layout layout;
  bool with_inbox;
  std::optional<std::string> expected;
};

fs::path expected_path(const Tree& tree, const std::string& relative) {
  if (!relative.empty() && relative.front() == '@') {
    return relative.size() == 1 ? *tree.inbox : *tree.inbox / relative.substr(2);
  }
  return relative.empty() ? tree.root : tree.root / relative;
}

Tree make_tree(Layout layout, bool with_inbox, char separator = '.') {
  return Tree("/home/u/Mail/acct", layout, separator,
              with_inbox ? std::optional<fs::path>("/home/u/Maildir") : std::nullopt);
}

TEST(LayoutTest, MapsNamesInTheLegacyAndFlatLayoutsAndWithAnInboxPath) {
  const std::vector<TreeRow> rows = {
      {"top/sub/subsub", Layout::Legacy, false, "top/.sub/.subsub"},
      {"top", Layout::Legacy, false, "top"},
      {"INBOX", Layout::Legacy, false, "INBOX"},
      {"inbox/sub", Layout::Legacy, false, "INBOX/.sub"},
      {"INBOX", Layout::Legacy, true, "@"},
      {"INBOX/sub/x", Layout::Legacy, true, "@/.sub/.x"},
      {"Lists/x", Layout::Legacy, true, "Lists/.x"},
      {"A/B", Layout::Flat, false, "A.B"},
      {"INBOX", Layout::Flat, false, "INBOX"},
      {"INBOX/sub", Layout::Flat, false, "INBOX.sub"},
      {"INBOX", Layout::Flat, true, "@"},
      // With flat, only INBOX itself moves to the inbox path.
      {"INBOX/sub", Layout::Flat, true, "INBOX.sub"},
      {"cur/x", Layout::Flat, false, "cur.x"},
      {"INBOX", Layout::Verbatim, true, "@"},
      {"INBOX/sub", Layout::Verbatim, true, "@/sub"},
      {"A/B", Layout::Verbatim, true, "A/B"},
      // maildir++ has no inbox path: its root is INBOX.
      {"INBOX", Layout::MaildirPlusPlus, false, ""},
  };
  for (const TreeRow& row : rows) {
    const Tree tree = make_tree(row.layout, row.with_inbox);
    SCOPED_TRACE(row.name + " " + std::string(to_string(row.layout)) +
                 (row.with_inbox ? " with inbox" : ""));
    EXPECT_EQ(folder_path(tree, row.name, '/'), expected_path(tree, *row.expected));
  }
}

// Server names are untrusted in every layout: none may become a path
// outside the tree, a hidden directory, a Maildir's own cur/new/tmp, or a
// name that maps back to another folder.
struct HostileRow {
  const char* label;
  std::string name;
  std::optional<char> delimiter;
};

class HostileNameTest : public testing::TestWithParam<Layout> {};

TEST_P(HostileNameTest, IsRefusedWithAndWithoutAnInboxPath) {
  const std::vector<HostileRow> rows = {
      {"dot-dot", "..", k_slash},
      {"dot-dot below", "a/../../b", k_slash},
      {"dot-dot below INBOX", "INBOX/../../x", k_slash},
      {"dot", "a/./b", k_slash},
      {"absolute", "/etc", k_slash},
      {"empty", "", k_slash},
      {"empty component", "a//b", k_slash},
      {"slash inside a component", "a/b", k_dot},
      {"slash inside INBOX's subfolder", "INBOX.a/b", k_dot},
      {"control character", "a\x01z", k_slash},
      {"newline", "INBOX/a\nb", k_slash},
      {"delete character", "a\x7f", k_slash},
      {"NUL", std::string("a\0b", 3), k_slash},
      {"leading dot", ".hidden", k_slash},
      {"leading dot below", "a/.x", k_slash},
      {"leading dot below INBOX", "INBOX/.x", k_slash},
      {"overlong component", std::string(256, 'x'), k_slash},
      {"overlong name", std::string(1001, 'x'), k_none},
      {"overlong joined", std::string(200, 'x') + "/" + std::string(200, 'y'), k_slash},
      {"dot inside a component", "a.b", k_slash},
      {"cur", "cur", k_slash},
      {"new below", "A/new", k_slash},
      {"tmp below INBOX", "INBOX/tmp", k_slash},
  };
  // Which rows a layout may accept: the dot in a component is fine outside
  // maildir++ and flat (whose separator is '.'), cur/new/tmp below the
  // first level in flat and maildir++ (A.new, .A.new), joined lengths
  // outside maildir++ and flat.
  const Layout layout = GetParam();
  auto may_accept = [&](const std::string& label) {
    const bool joins = layout == Layout::MaildirPlusPlus || layout == Layout::Flat;
    if (label == "dot inside a component" || label == "overlong joined") {
      return !joins;
    }
    if (label == "new below" || label == "tmp below INBOX") {
      return joins;
    }
    if (label == "cur") {
      return layout == Layout::MaildirPlusPlus;
    }
    return false;
  };
  for (bool with_inbox : {false, true}) {
    if (with_inbox && layout == Layout::MaildirPlusPlus) {
      continue;
    }
    const Tree tree = make_tree(layout, with_inbox);
    for (const HostileRow& row : rows) {
      SCOPED_TRACE(std::string(row.label) + (with_inbox ? " with inbox" : ""));
      if (may_accept(row.label)) {
        fs::path path = folder_path(tree, row.name, row.delimiter);
        const bool under_root = path.lexically_relative(tree.root).begin()->string() != "..";
        const bool under_inbox =
            tree.inbox && path.lexically_relative(*tree.inbox).begin()->string() != "..";
        EXPECT_TRUE(under_root || under_inbox) << path;
      } else {
        EXPECT_THROW(folder_path(tree, row.name, row.delimiter), util::Error) << row.name;
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Layouts, HostileNameTest,
                         testing::Values(Layout::Verbatim, Layout::MaildirPlusPlus, Layout::Legacy,
                                         Layout::Flat),
                         [](const testing::TestParamInfo<Layout>& param_info) {
                           std::string name(to_string(param_info.param));
                           return name == "maildir++" ? std::string("maildirpp") : name;
                         });

TEST(LayoutTest, FlatRefusesItsSeparatorInAComponent) {
  const Tree dot = make_tree(Layout::Flat, false);
  EXPECT_THROW(folder_path(dot, "a.b/c", '/'), util::Error);
  EXPECT_THROW(folder_path(dot, "INBOX.x", k_none), util::Error);
  const Tree underscore = make_tree(Layout::Flat, false, '_');
  EXPECT_EQ(folder_path(underscore, "a.b/c", '/'), underscore.root / "a.b_c");
  EXPECT_THROW(folder_path(underscore, "a_b/c", '/'), util::Error);
  // A server whose delimiter is the separator maps as OfflineIMAP does.
  EXPECT_EQ(folder_path(dot, "INBOX.Sent", k_dot), dot.root / "INBOX.Sent");
}

TEST(LayoutTest, NoOtherFolderMayBeTheInboxPathOrLieInIt) {
  // mbsync's usual setup: the inbox inside the root, under a name that is
  // also a legal folder name.
  for (Layout layout : {Layout::Verbatim, Layout::Legacy, Layout::Flat}) {
    SCOPED_TRACE(std::string(to_string(layout)));
    const Tree tree("/m", layout, '.', fs::path("/m/Mail"));
    EXPECT_EQ(folder_path(tree, "INBOX", '/'), fs::path("/m/Mail"));
    EXPECT_THROW(folder_path(tree, "Mail", '/'), util::Error);
  }
  const Tree verbatim("/m", Layout::Verbatim, '.', fs::path("/m/Mail"));
  EXPECT_THROW(folder_path(verbatim, "Mail/sub", '/'), util::Error);
  EXPECT_EQ(folder_path(verbatim, "INBOX/sub", '/'), fs::path("/m/Mail/sub"));
  const Tree legacy("/m", Layout::Legacy, '.', fs::path("/m/A/.B"));
  EXPECT_THROW(folder_path(legacy, "A/B", '/'), util::Error);
  EXPECT_EQ(folder_path(legacy, "A", '/'), fs::path("/m/A"));
}

TEST(LayoutTest, TreeProblemsNameTheKey) {
  EXPECT_EQ(tree_problem(Tree("/m")), std::nullopt);
  EXPECT_EQ(tree_problem(Tree("/m", Layout::Legacy, '.', fs::path("/m/Inbox"))), std::nullopt);
  EXPECT_EQ(tree_problem(Tree("/m", Layout::Flat, '.', fs::path("/elsewhere"))), std::nullopt);
  auto problem = tree_problem(Tree("/m", Layout::MaildirPlusPlus, '.', fs::path("/i")));
  ASSERT_TRUE(problem);
  EXPECT_NE(problem->find("inbox cannot be used with layout = maildir++"), std::string::npos);
  problem = tree_problem(Tree("/m", Layout::Verbatim, '.', fs::path("/m/")));
  ASSERT_TRUE(problem);
  EXPECT_NE(problem->find("or holds it"), std::string::npos) << *problem;
  EXPECT_TRUE(tree_problem(Tree("/m/acct", Layout::Legacy, '.', fs::path("/m"))));
  EXPECT_TRUE(tree_problem(Tree("/m", Layout::Verbatim, '.', fs::path("/m/A/cur"))));
  EXPECT_TRUE(tree_problem(Tree("/m", Layout::Legacy, '.', fs::path("/m/new/x"))));
  EXPECT_EQ(tree_problem(Tree("/m", Layout::Legacy, '.', fs::path("/m/A/Inbox"))), std::nullopt);
  problem = tree_problem(Tree("/m", Layout::Flat, '/'));
  ASSERT_TRUE(problem);
  EXPECT_NE(problem->find("flat_separator"), std::string::npos);
  EXPECT_TRUE(tree_problem(Tree("/m", Layout::Flat, '\t')));
}

TEST(LayoutTest, TopsAreTheRootAndAnInboxOutsideIt) {
  EXPECT_EQ(Tree("/m").tops(), std::vector<fs::path>{"/m"});
  EXPECT_EQ(Tree("/m", Layout::Legacy, '.', fs::path("/m/Inbox")).tops(),
            std::vector<fs::path>{"/m"});
  EXPECT_EQ(Tree("/m", Layout::Legacy, '.', fs::path("/Maildir")).tops(),
            (std::vector<fs::path>{"/m", "/Maildir"}));
  EXPECT_EQ(Tree("/m", Layout::Verbatim).inbox_path(), fs::path("/m/INBOX"));
  EXPECT_EQ(Tree("/m", Layout::MaildirPlusPlus).inbox_path(), fs::path("/m"));
}

// Every layout lists what it maps, so that a listed name leads back to its
// directory; INBOX is listed once, from the inbox path, and never under the
// name its directory has inside the root.
struct ListingCase {
  const char* label;
  Layout layout;
  // The inbox path relative to the temporary directory, or "".
  std::string inbox;
};

class ListingTest : public testing::TestWithParam<ListingCase> {};

TEST_P(ListingTest, RoundTripsEveryFolder) {
  TempDir temp;
  const ListingCase& c = GetParam();
  std::optional<fs::path> inbox;
  if (!c.inbox.empty()) {
    inbox = temp.path() / c.inbox;
  }
  const Tree tree(temp.path() / "Mail", c.layout, '.', inbox);
  const std::vector<std::string> names = {"A/B",       "A/B/C",   "INBOX",
                                          "INBOX/sub", "Lists/x", "Entwürfe"};
  for (const std::string& name : names) {
    make_maildir(folder_path(tree, name, '/'));
  }
  LocalFolders found = list_local_folders(tree);
  std::vector<std::string> expected = names;
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(found.names, expected);
  EXPECT_TRUE(found.skipped.empty()) << found.skipped.front();
}

INSTANTIATE_TEST_SUITE_P(
    Layouts, ListingTest,
    testing::Values(ListingCase{"verbatim", Layout::Verbatim, ""},
                    ListingCase{"verbatim_inbox_inside", Layout::Verbatim, "Mail/Inbox"},
                    ListingCase{"verbatim_inbox_outside", Layout::Verbatim, "Maildir"},
                    ListingCase{"legacy", Layout::Legacy, ""},
                    ListingCase{"legacy_inbox_inside", Layout::Legacy, "Mail/Inbox"},
                    ListingCase{"legacy_inbox_outside", Layout::Legacy, "Maildir"},
                    ListingCase{"flat", Layout::Flat, ""},
                    ListingCase{"flat_inbox_inside", Layout::Flat, "Mail/Inbox"},
                    ListingCase{"flat_inbox_outside", Layout::Flat, "Maildir"},
                    ListingCase{"maildirpp", Layout::MaildirPlusPlus, ""}),
    [](const testing::TestParamInfo<ListingCase>& param_info) {
      return std::string(param_info.param.label);
    });

TEST(LayoutTest, ListsALegacyTreeAsMbsyncLeavesIt) {
  TempDir temp;
  const fs::path root = temp.path() / "Mail";
  const fs::path inbox = root / "Inbox";
  make_maildir(inbox);
  make_maildir(inbox / ".sub");
  make_maildir(root / "top");
  make_maildir(root / "top" / ".sub" / ".subsub");  // .sub itself is no folder.
  make_maildir(root / "Lists" / ".x");
  make_maildir(root / ".hidden");        // Hidden at the top: ignored.
  make_maildir(root / "top" / "plain");  // Not dotted below the top: ignored.
  std::ofstream(root / ".roam-account") << "acct\n";
  make_maildir(root / "INBOX");  // INBOX is the inbox path: reported.

  LocalFolders found = list_local_folders(Tree(root, Layout::Legacy, '.', inbox));
  EXPECT_EQ(found.names,
            (std::vector<std::string>{"INBOX", "INBOX/sub", "Lists/x", "top", "top/sub/subsub"}));
  ASSERT_EQ(found.skipped.size(), 1u);
  EXPECT_NE(found.skipped[0].find("would be stored at " + inbox.string()), std::string::npos)
      << found.skipped[0];
}

TEST(LayoutTest, ListsAFlatTreeAsOfflineImapLeavesIt) {
  TempDir temp;
  const fs::path root = temp.path() / "Mail";
  make_maildir(root / "INBOX");
  make_maildir(root / "INBOX.sub");
  make_maildir(root / "A.B");
  make_maildir(root / "A..B");            // Empty component: reported.
  make_maildir(root / ".hidden");         // Hidden: ignored.
  make_maildir(root / "A.B" / "nested");  // Flat has no nesting: ignored.

  LocalFolders found = list_local_folders(Tree(root, Layout::Flat));
  EXPECT_EQ(found.names, (std::vector<std::string>{"A/B", "INBOX", "INBOX/sub"}));
  ASSERT_EQ(found.skipped.size(), 1u);
  EXPECT_NE(found.skipped[0].find("A..B"), std::string::npos) << found.skipped[0];
}

TEST(LayoutTest, ListsNothingUnderAMissingRoot) {
  TempDir temp;
  LocalFolders found = list_local_folders(Tree{temp.path() / "missing", Layout::Verbatim});
  EXPECT_TRUE(found.names.empty());
  EXPECT_TRUE(found.skipped.empty());
}

}  // namespace
}  // namespace roam::maildir
