#include "cli/list.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace roam::cli {
namespace {

sync::ListedFolder folder(std::string name, std::vector<std::string> attributes, bool selected) {
  sync::ListedFolder f;
  f.name = std::move(name);
  f.mailbox = f.name;
  f.delimiter = '/';
  f.attributes = std::move(attributes);
  f.selected = selected;
  return f;
}

TEST(SpecialUses, KeepsOnlyTheSpecialUseAttributesInRfcSpelling) {
  EXPECT_EQ(special_uses({"\\HasNoChildren", "\\trash", "\\Marked", "\\JUNK"}),
            (std::vector<std::string>{"\\Trash", "\\Junk"}));
  EXPECT_EQ(special_uses({"\\HasChildren", "\\Noselect"}), std::vector<std::string>{});
  // A keyword-like attribute that only starts like one is not one.
  EXPECT_EQ(special_uses({"\\Allx", "\\Al"}), std::vector<std::string>{});
}

TEST(ListLine, PlainFoldersAsBefore) {
  EXPECT_EQ(list_line(folder("INBOX", {"\\HasNoChildren"}, true)), "* INBOX");
  EXPECT_EQ(list_line(folder("Lists/roam", {}, false)), "  Lists/roam");
}

TEST(ListLine, SpecialUseFoldersShowTheirUse) {
  EXPECT_EQ(list_line(folder("Trash", {"\\HasNoChildren", "\\Trash"}, true)), "* Trash  \\Trash");
  EXPECT_EQ(list_line(folder("[Gmail]/Spam", {"\\Junk", "\\HasNoChildren"}, false)),
            "  [Gmail]/Spam  \\Junk");
  EXPECT_EQ(list_line(folder("[Gmail]/Starred", {"\\Flagged", "\\Archive"}, true)),
            "* [Gmail]/Starred  \\Flagged \\Archive");
}

TEST(ListLine, ASelectedAllFolderSaysHowToLeaveItOut) {
  // Gmail's All Mail: its name has a space, so the pattern is quoted as the
  // folders key needs it.
  EXPECT_EQ(list_line(folder("[Gmail]/All Mail", {"\\HasNoChildren", "\\All"}, true)),
            "* [Gmail]/All Mail  \\All (a second copy of every message; leave it out with "
            "folders = ... !\"[Gmail]/All Mail\")");
  EXPECT_EQ(list_line(folder("Archive", {"\\All"}, true)),
            "* Archive  \\All (a second copy of every message; leave it out with "
            "folders = ... !Archive)");
  // Left out already: the mark alone.
  EXPECT_EQ(list_line(folder("[Gmail]/All Mail", {"\\All"}, false)), "  [Gmail]/All Mail  \\All");
}

}  // namespace
}  // namespace roam::cli
