// The mapping between server mailbox names and local folder names when the
// personal namespace prefix is stripped (sync/folder_names.hpp), and which
// NAMESPACE replies roam trusts for it: one row per server or hostile reply.

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

#include "imap/response.hpp"
#include "maildir/layout.hpp"
#include "sync/folder_names.hpp"
#include "util/error.hpp"

namespace roam::sync {
namespace {

using imap::Namespace;
using imap::NamespaceData;

NamespaceData personal(std::string prefix, std::optional<char> delimiter) {
  NamespaceData d;
  d.personal.push_back(Namespace{std::move(prefix), delimiter});
  return d;
}

// --- Which replies are used ---

struct ChoiceCase {
  const char* name;
  std::optional<NamespaceData> reply;
  std::string prefix;       // What is stripped; "" for nothing.
  std::string notice_part;  // A part of the notice; "" for no notice.
};

class ChooseNamespace : public testing::TestWithParam<ChoiceCase> {};

TEST_P(ChooseNamespace, StripsOnlyAUsablePrefix) {
  const ChoiceCase& c = GetParam();
  NamespaceChoice choice = choose_namespace(c.reply);
  EXPECT_EQ(choice.names.prefix(), c.prefix);
  EXPECT_EQ(choice.names.strips(), !c.prefix.empty());
  if (c.notice_part.empty()) {
    EXPECT_EQ(choice.notice, "");
  } else {
    EXPECT_NE(choice.notice.find(c.notice_part), std::string::npos) << choice.notice;
    // Every notice says what roam does instead and how to silence it.
    EXPECT_NE(choice.notice.find("kept as the server lists them"), std::string::npos);
    EXPECT_NE(choice.notice.find("use_namespace = no"), std::string::npos);
  }
}

NamespaceData several_personal() {
  NamespaceData d = personal("INBOX.", '.');
  d.personal.push_back(Namespace{"#mh/", '/'});
  d.other_users.push_back(Namespace{"user.", '.'});
  return d;
}

NamespaceData shared_only() {
  NamespaceData d;
  d.shared.push_back(Namespace{"#shared.", '.'});
  return d;
}

const ChoiceCase k_choice_cases[] = {
    {"no_namespace_capability", std::nullopt, "", ""},
    {"dovecot_empty_prefix", personal("", '/'), "", ""},
    {"courier_inbox_dot", personal("INBOX.", '.'), "INBOX.", ""},
    {"first_personal_wins", several_personal(), "INBOX.", ""},
    {"no_personal_namespace", shared_only(), "", ""},
    {"empty_reply", NamespaceData{}, "", ""},
    {"slash_prefix", personal("Mail/", '/'), "Mail/", ""},
    {"prefix_without_delimiter", personal("INBOX", '.'), "", "does not end in its hierarchy"},
    {"prefix_ends_in_other_char", personal("INBOX/", '.'), "", "does not end in its hierarchy"},
    {"nil_delimiter", personal("INBOX.", std::nullopt), "", "no hierarchy delimiter"},
    {"absurd_length", personal(std::string(100000, 'a') + ".", '.'), "", "longer than 255"},
    {"control_character", personal("IN\nBOX.", '.'), "", "control character"},
    {"nul_in_prefix", personal(std::string("IN\0BOX.", 7), '.'), "", "control character"},
};

INSTANTIATE_TEST_SUITE_P(Replies, ChooseNamespace, testing::ValuesIn(k_choice_cases),
                         [](const testing::TestParamInfo<ChoiceCase>& row) {
                           return std::string(row.param.name);
                         });

TEST(ChooseNamespace, NoticeQuotesAHostilePrefixEscaped) {
  NamespaceChoice choice = choose_namespace(personal("a\x01\x7f\"", '.'));
  EXPECT_EQ(choice.notice.find('\x01'), std::string::npos) << choice.notice;
  EXPECT_NE(choice.notice.find("a\\x01"), std::string::npos) << choice.notice;
}

// --- The mapping ---

struct NameCase {
  const char* name;
  std::string wire;
  std::optional<std::string> local;  // nullopt: no local name.
  Unmapped why = Unmapped::OutsideNamespace;
};

class StrippedNames : public testing::TestWithParam<NameCase> {};

TEST_P(StrippedNames, MapBothWays) {
  const NameCase& c = GetParam();
  FolderNames names("INBOX.", '.');
  Unmapped why = Unmapped::OutsideNamespace;
  std::optional<std::string> local = names.local_name(c.wire, &why);
  EXPECT_EQ(local, c.local);
  if (local) {
    // The way back gives the server's name exactly.
    EXPECT_EQ(names.wire_name(*local), c.wire);
  } else {
    EXPECT_EQ(why, c.why) << to_string(why);
  }
}

const NameCase k_name_cases[] = {
    {"inbox_stays", "INBOX", "INBOX"},
    {"child", "INBOX.Lists", "Lists"},
    {"grandchild", "INBOX.Lists.dev", "Lists.dev"},
    {"utf7_decoded_after_stripping", "INBOX.Entw&APw-rfe", "Entw\xc3\xbcrfe"},
    {"inbox_child_named_inbox_sub", "INBOX.INBOX.sub", "INBOX.sub"},
    {"prefix_alone", "INBOX.", std::nullopt, Unmapped::PrefixItself},
    {"would_be_inbox", "INBOX.INBOX", std::nullopt, Unmapped::WouldBeInbox},
    {"would_be_inbox_any_case", "INBOX.inbox", std::nullopt, Unmapped::WouldBeInbox},
    {"other_user", "user.bob.Lists", std::nullopt, Unmapped::OutsideNamespace},
    {"shared", "#shared.news", std::nullopt, Unmapped::OutsideNamespace},
    {"prefix_case_differs", "inbox.Lists", std::nullopt, Unmapped::OutsideNamespace},
    {"shorter_than_prefix", "INB", std::nullopt, Unmapped::OutsideNamespace},
};

INSTANTIATE_TEST_SUITE_P(Courier, StrippedNames, testing::ValuesIn(k_name_cases),
                         [](const testing::TestParamInfo<NameCase>& row) {
                           return std::string(row.param.name);
                         });

TEST(FolderNames, EmptyPrefixMapsEveryNameToItself) {
  FolderNames names;
  EXPECT_FALSE(names.strips());
  for (std::string wire : {"INBOX", "Lists/dev", "INBOX/sub", "user/bob", "Entw&APw-rfe"}) {
    std::optional<std::string> local = names.local_name(wire);
    ASSERT_TRUE(local) << wire;
    EXPECT_EQ(names.wire_name(*local), wire);
  }
  EXPECT_EQ(names.local_name("Entw&APw-rfe"), "Entw\xc3\xbcrfe");
  // Not valid modified UTF-7: kept as sent, as before the mapping existed.
  EXPECT_EQ(names.local_name("a&b"), "a&b");
}

TEST(FolderNames, LocalFoldersGetThePrefixOnTheServer) {
  FolderNames names("INBOX.", '.');
  EXPECT_EQ(names.wire_name("Foo"), "INBOX.Foo");
  EXPECT_EQ(names.wire_name("Foo.Bar"), "INBOX.Foo.Bar");
  EXPECT_EQ(names.wire_name("Entw\xc3\xbcrfe"), "INBOX.Entw&APw-rfe");
  EXPECT_EQ(names.wire_name("INBOX"), "INBOX");
  EXPECT_EQ(names.wire_name("inbox"), "inbox");
  // Invalid UTF-8 and NUL have no server name.
  EXPECT_EQ(names.wire_name("bad\xff"), std::nullopt);
  EXPECT_EQ(names.wire_name(std::string("a\0b", 3)), std::nullopt);
}

// Stripping makes no name safer or more dangerous: what it leaves still goes
// through the layout's validation before it becomes a path.
TEST(FolderNames, StrippedNamesStillFaceTheLayoutChecks) {
  FolderNames names("INBOX.", '.');
  for (std::string wire : {"INBOX...", "INBOX..evil", "INBOX.a..b", "INBOX.cur"}) {
    std::optional<std::string> local = names.local_name(wire);
    ASSERT_TRUE(local) << wire;
    EXPECT_THROW(maildir::split_folder_name(*local, '.', maildir::Tree{}), util::Error)
        << wire << " -> " << *local;
  }
  EXPECT_EQ(maildir::split_folder_name(*names.local_name("INBOX.Lists.dev"), '.', maildir::Tree{}),
            (std::vector<std::string>{"Lists", "dev"}));
}

}  // namespace
}  // namespace roam::sync
