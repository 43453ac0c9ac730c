// End-to-end tests of the layouts that trees left by other tools have
// (issue #11): mbsync's SubFolders Legacy with its Inbox path outside Path,
// and OfflineIMAP's flat layout (mbsync's Flatten). Each syncs the folders
// "A/B", "INBOX/sub" and "Lists/x" from the private Dovecot, checks that
// the files are where those tools put them, that a second run changes
// nothing, and that a local move and a flag change reach the server.

#include <algorithm>
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "dovecot.hpp"
#include "maildir_helpers.hpp"
#include "two_way_helpers.hpp"

namespace roam::it {
namespace {

namespace fs = std::filesystem;

// Every file below `dir` with its size, and every directory, so that two
// runs can be compared (render_world covers the maildir root only).
std::map<std::string, std::uintmax_t> tree_listing(const fs::path& dir) {
  std::map<std::string, std::uintmax_t> out;
  if (!fs::exists(dir)) {
    return out;
  }
  for (const auto& entry : fs::recursive_directory_iterator(dir)) {
    const auto relative = entry.path().lexically_relative(dir).string();
    out[relative] = entry.is_regular_file() ? entry.file_size() : 0;
  }
  return out;
}

// The directories below `root` and `inbox` that hold a cur/, relative to
// the temporary directory both are in: the folders as they lie on disk.
std::set<std::string> folder_dirs(const fs::path& root, const fs::path& inbox) {
  std::set<std::string> out;
  for (const fs::path& top : {root, inbox}) {
    for (const auto& [relative, size] : tree_listing(top)) {
      const fs::path path(relative);
      if (path.filename() == "cur") {
        const fs::path folder = path.parent_path();
        out.insert(folder.empty() ? top.filename().string() : (top.filename() / folder).string());
      }
    }
  }
  return out;
}

// The server side of every test: three folders besides INBOX, a message in
// each.
void seed_server(const Account& account) {
  const auto& server = TestServer::instance();
  for (const char* mailbox : {"A/B", "INBOX/sub", "Lists/x"}) {
    server.create_mailbox(account.user, mailbox);
  }
  server.append(account.user, "INBOX", make_message("inbox-1"));
  server.append(account.user, "A/B", make_message("ab-1"), {"\\Seen"});
  server.append(account.user, "INBOX/sub", make_message("sub-1"));
  server.append(account.user, "Lists/x", make_message("list-1"), {"\\Seen"});
}

// Checks that `dir` is a Maildir holding exactly the messages `ids`.
void expect_folder(const fs::path& dir, const std::vector<std::string>& ids) {
  SCOPED_TRACE(dir.string());
  for (const char* sub : {"cur", "new", "tmp"}) {
    EXPECT_TRUE(fs::is_directory(dir / sub)) << dir / sub;
  }
  EXPECT_EQ(local_ids(dir), ids);
}

// After the first sync: moves list-1 from Lists/x to `move_to`, flags
// inbox-1 in `inbox`, syncs, and checks the server saw both.
void move_and_flag(const Account& account, const fs::path& lists_x, const fs::path& move_to,
                   const fs::path& inbox, const std::string& move_to_name) {
  const auto list = file_with_id(lists_x, "list-1");
  const auto in_inbox = file_with_id(inbox, "inbox-1");
  ASSERT_TRUE(list.has_value());
  ASSERT_TRUE(in_inbox.has_value());
  fs::rename(list->path, move_to / "cur" / list->name);
  set_local_letters(*in_inbox, "F");

  const auto result = sync(account);
  ASSERT_EQ(result.exit_code, 0) << describe(result);
  EXPECT_TRUE(server_ids(account.user, "Lists/x").empty()) << describe(result);
  EXPECT_EQ(sorted(server_ids(account.user, move_to_name)),
            sorted({move_to_name == "A/B" ? "ab-1" : "sub-1", "list-1"}))
      << describe(result);
  const auto flagged = server_copy(account.user, "INBOX", "inbox-1");
  ASSERT_TRUE(flagged.has_value());
  EXPECT_EQ(flagged->flags, std::vector<std::string>{"\\Flagged"});
  EXPECT_NE(result.out.find("1 moved"), std::string::npos) << describe(result);
}

// mbsync with "SubFolders Legacy", "Path ~/Mail/acct/" and "Inbox ~/Maildir":
// top/sub is Path/top/.sub, INBOX is the Inbox path and INBOX/sub is
// Inbox/.sub.
TEST(Layouts, LegacyWithAnInboxOutsideTheRoot) {
  auto account = fresh_account();
  const fs::path inbox = account.work / "Maildir";
  TestServer::instance().write_config(
      account.config, account.user,
      {"sync = both", "layout = legacy", "inbox = " + inbox.string()});
  seed_server(account);

  const auto first = sync(account);
  ASSERT_EQ(first.exit_code, 0) << describe(first);
  expect_folder(inbox, {"inbox-1"});
  expect_folder(inbox / ".sub", {"sub-1"});
  expect_folder(account.maildir / "A" / ".B", {"ab-1"});
  expect_folder(account.maildir / "Lists" / ".x", {"list-1"});
  // A and Lists are no folders of their own, and nothing of another layout
  // appears.
  EXPECT_FALSE(fs::exists(account.maildir / "A" / "cur"));
  EXPECT_FALSE(fs::exists(account.maildir / "INBOX"));
  EXPECT_FALSE(fs::exists(account.maildir / "A" / "B"));
  EXPECT_FALSE(fs::exists(inbox / "sub"));
  // The inbox path is part of the account's tree, so it is marked too.
  EXPECT_EQ(read_file(inbox / ".roam-account"), "test\n");
  EXPECT_EQ(read_file(account.maildir / ".roam-account"), "test\n");

  const auto inbox_before = tree_listing(inbox);
  expect_further_run_changes_nothing(account);
  EXPECT_EQ(tree_listing(inbox), inbox_before);

  move_and_flag(account, account.maildir / "Lists" / ".x", inbox / ".sub", inbox, "INBOX/sub");
  expect_folder(inbox / ".sub", {"list-1", "sub-1"});

  // A folder made locally the legacy way is created on the server.
  const auto made = make_local_folder(account.maildir / "New" / ".Sub");
  write_file(made / "cur" / "1600000001.made.host:2,S", crlf_to_lf(make_message("made-1")));
  const auto created = sync(account);
  ASSERT_EQ(created.exit_code, 0) << describe(created);
  EXPECT_EQ(server_ids(account.user, "New/Sub"), std::vector<std::string>{"made-1"})
      << describe(created);
  const auto before = tree_listing(inbox);
  expect_further_run_changes_nothing(account);
  EXPECT_EQ(tree_listing(inbox), before);
}

// OfflineIMAP's default local layout (sep = .), mbsync's "Flatten .":
// every folder is one directory directly in the root.
TEST(Layouts, FlatAsOfflineImapLeavesIt) {
  const auto account = make_two_way_account({"layout = flat"});
  seed_server(account);

  const auto first = sync(account);
  ASSERT_EQ(first.exit_code, 0) << describe(first);
  expect_folder(account.maildir / "INBOX", {"inbox-1"});
  expect_folder(account.maildir / "INBOX.sub", {"sub-1"});
  expect_folder(account.maildir / "A.B", {"ab-1"});
  expect_folder(account.maildir / "Lists.x", {"list-1"});
  EXPECT_FALSE(fs::exists(account.maildir / "A"));
  EXPECT_FALSE(fs::exists(account.maildir / "INBOX" / "sub"));

  expect_further_run_changes_nothing(account);

  move_and_flag(account, account.maildir / "Lists.x", account.maildir / "A.B",
                account.maildir / "INBOX", "A/B");
  expect_folder(account.maildir / "A.B", {"ab-1", "list-1"});

  const auto made = make_local_folder(account.maildir / "Projects.2024");
  write_file(made / "cur" / "1600000001.made.host:2,S", crlf_to_lf(make_message("made-1")));
  const auto created = sync(account);
  ASSERT_EQ(created.exit_code, 0) << describe(created);
  EXPECT_EQ(server_ids(account.user, "Projects/2024"), std::vector<std::string>{"made-1"})
      << describe(created);
  expect_further_run_changes_nothing(account);
}

// A flat tree with another separator, and the inbox inside the root under
// a name of its own (mbsync's "Inbox ~/Mail/acct/Inbox"): INBOX is listed
// from there only, never as a folder "Inbox" of its own.
TEST(Layouts, FlatWithAnotherSeparatorAndTheInboxInsideTheRoot) {
  auto account = fresh_account();
  const fs::path inbox = account.maildir / "Inbox";
  TestServer::instance().write_config(
      account.config, account.user,
      {"sync = both", "layout = flat", "flat_separator = _", "inbox = " + inbox.string()});
  seed_server(account);

  const auto first = sync(account);
  ASSERT_EQ(first.exit_code, 0) << describe(first);
  expect_folder(inbox, {"inbox-1"});
  expect_folder(account.maildir / "INBOX_sub", {"sub-1"});
  expect_folder(account.maildir / "A_B", {"ab-1"});
  expect_folder(account.maildir / "Lists_x", {"list-1"});
  EXPECT_FALSE(fs::exists(account.maildir / "INBOX"));
  // Only the four folders: the inbox directory is not a fifth.
  EXPECT_NE(first.out.find(": 4 folders ("), std::string::npos) << describe(first);
  EXPECT_EQ(sorted(TestServer::instance().list_mailboxes(account.user)),
            (std::vector<std::string>{"A", "A/B", "INBOX", "INBOX/sub", "Lists", "Lists/x"}));

  expect_further_run_changes_nothing(account);
}

// A tree mbsync itself made (isync 1.4: "SubFolders Legacy", "Inbox"
// outside "Path") is taken over where it is: roam lists the same folders,
// so it creates none on either side, skips none, and moves nothing.
//
// Not checked here: that no message is copied. mbsync adds an X-TUID
// header to the files it writes, so their content keys differ from the
// server copies' and the first roam run downloads and uploads each message
// once more (a matter of message identity, not of the layout).
TEST(Layouts, TakesOverALegacyTreeThatMbsyncMade) {
  if (run_process({"sh", "-c", "command -v mbsync"}).exit_code != 0) {
    GTEST_SKIP() << "mbsync (isync) is not installed";
  }
  const auto& server = TestServer::instance();
  auto account = fresh_account();
  const fs::path inbox = account.work / "Maildir";
  seed_server(account);
  fs::create_directories(account.maildir);
  const fs::path rc = account.work / "mbsyncrc";
  write_file(rc,
             "IMAPAccount test\n"
             "Host " +
                 server.host() + "\nPort " + std::to_string(server.imap_port()) + "\nUser " +
                 account.user + "\nPass " + server.password() +
                 "\nSSLType None\nAuthMechs LOGIN PLAIN\n\n"
                 "IMAPStore far\nAccount test\n\n"
                 "MaildirStore near\nPath " +
                 account.maildir.string() + "/\nInbox " + inbox.string() +
                 "\nSubFolders Legacy\n\n"
                 "Channel test\nFar :far:\nNear :near:\nPatterns *\nCreate Near\n"
                 "SyncState *\n");
  const auto mbsync = run_process({"mbsync", "-c", rc.string(), "-a"});
  ASSERT_EQ(mbsync.exit_code, 0) << mbsync.out << mbsync.err;
  expect_folder(inbox, {"inbox-1"});
  expect_folder(inbox / ".sub", {"sub-1"});
  expect_folder(account.maildir / "A" / ".B", {"ab-1"});
  expect_folder(account.maildir / "Lists" / ".x", {"list-1"});

  server.write_config(account.config, account.user,
                      {"sync = both", "layout = legacy", "inbox = " + inbox.string()});
  const auto folders_before = folder_dirs(account.maildir, inbox);
  EXPECT_EQ(folders_before,
            (std::set<std::string>{"Mail/A/.B", "Mail/Lists/.x", "Maildir", "Maildir/.sub"}));
  const auto mailboxes_before = server.list_mailboxes(account.user);
  const auto result = sync(account);
  ASSERT_EQ(result.exit_code, 0) << describe(result);
  EXPECT_EQ(result.err.find("created"), std::string::npos) << describe(result);
  EXPECT_EQ(result.err.find("skipped"), std::string::npos) << describe(result);
  EXPECT_EQ(folder_dirs(account.maildir, inbox), folders_before);
  EXPECT_EQ(server.list_mailboxes(account.user), mailboxes_before);
  // Every message mbsync wrote is still where it was.
  for (const auto& [dir, ids] : std::vector<std::pair<fs::path, std::string>>{
           {inbox, "inbox-1"},
           {inbox / ".sub", "sub-1"},
           {account.maildir / "A" / ".B", "ab-1"},
           {account.maildir / "Lists" / ".x", "list-1"}}) {
    const auto ids_there = local_ids(dir);
    EXPECT_NE(std::find(ids_there.begin(), ids_there.end(), ids), ids_there.end()) << dir;
  }
  expect_further_run_changes_nothing(account);
}

}  // namespace
}  // namespace roam::it
