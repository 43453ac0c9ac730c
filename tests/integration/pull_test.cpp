// End-to-end tests of `roam sync` in pull mode against the private Dovecot.
//
// Every test takes a server user of its own (TestServer::fresh_user) and a
// work directory holding its config, Maildir and state, so the tests neither
// see nor disturb each other. The server is set up and inspected with
// doveadm only, never over IMAP, so that a bug in roam's IMAP code cannot
// hide itself behind the same bug in the test.

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "dovecot.hpp"
#include "maildir_helpers.hpp"

namespace roam::it {
namespace {

namespace fs = std::filesystem;

// --- Helpers (the ones shared with other tests are in maildir_helpers.hpp) ---

std::vector<std::string> sorted_contents(const std::vector<LocalFile>& files) {
  std::vector<std::string> contents;
  for (const auto& file : files) {
    contents.push_back(file.content);
  }
  std::sort(contents.begin(), contents.end());
  return contents;
}

// The bodies of every message of a server mailbox, as a Maildir file must
// hold them (LF line ends), sorted.
std::vector<std::string> server_contents(const std::string& user, const std::string& mailbox) {
  const auto& server = TestServer::instance();
  std::vector<std::string> contents;
  for (const auto& message : server.list_uids_and_flags(user, mailbox)) {
    contents.push_back(crlf_to_lf(server.fetch_body(user, mailbox, message.uid)));
  }
  std::sort(contents.begin(), contents.end());
  return contents;
}

// What identifies a file's version on disk: a rewrite changes the inode
// (atomic replace) or the mtime, an append the size.
struct FileStamp {
  std::uintmax_t size = 0;
  std::int64_t mtime_ns = 0;
  std::uint64_t inode = 0;
  bool directory = false;
  bool operator==(const FileStamp&) const = default;
};

using Snapshot = std::map<std::string, FileStamp>;

// Every file and directory under `root` (root itself included), keyed by the
// path relative to `root`. Paths for which `skip` is true are left out.
Snapshot snapshot(const fs::path& root, const std::set<std::string>& skip = {}) {
  Snapshot result;
  if (!fs::exists(root)) {
    return result;
  }
  auto stamp = [&](const fs::path& path) {
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0) {
      throw std::runtime_error("lstat " + path.string() + " failed");
    }
    const auto relative = path.lexically_relative(root).string();
    if (skip.count(relative) != 0) {
      return;
    }
    FileStamp s;
    s.size = S_ISDIR(st.st_mode) ? 0U : static_cast<std::uintmax_t>(st.st_size);
    s.mtime_ns = static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1000000000 +
                 static_cast<std::int64_t>(st.st_mtim.tv_nsec);
    s.inode = static_cast<std::uint64_t>(st.st_ino);
    s.directory = S_ISDIR(st.st_mode);
    result[relative] = s;
  };
  stamp(root);
  for (const auto& entry : fs::recursive_directory_iterator(root)) {
    stamp(entry.path());
  }
  return result;
}

// Lists the differences of two snapshots, one per line, for failure output.
std::string snapshot_diff(const Snapshot& before, const Snapshot& after) {
  std::string out;
  for (const auto& [path, stamp] : before) {
    const auto it = after.find(path);
    if (it == after.end()) {
      out += "  removed: " + path + "\n";
    } else if (!(it->second == stamp)) {
      out += "  changed: " + path + " (size " + std::to_string(stamp.size) + " -> " +
             std::to_string(it->second.size) + ", inode " + std::to_string(stamp.inode) + " -> " +
             std::to_string(it->second.inode) + ", mtime " + std::to_string(stamp.mtime_ns) +
             " -> " + std::to_string(it->second.mtime_ns) + ")\n";
    }
  }
  for (const auto& [path, stamp] : after) {
    if (before.count(path) == 0) {
      out += "  added: " + path + "\n";
    }
  }
  return out;
}

// The state files (folder-*.json and their journals) in `state_dir`.
std::vector<std::string> state_files(const fs::path& state_dir) {
  std::vector<std::string> names;
  if (!fs::is_directory(state_dir)) {
    return names;
  }
  for (const auto& entry : fs::directory_iterator(state_dir)) {
    const auto name = entry.path().filename().string();
    if (name.starts_with("folder-")) {
      names.push_back(name);
    }
  }
  std::sort(names.begin(), names.end());
  return names;
}

// Every regular file under `root`, relative to it.
std::vector<std::string> regular_files_under(const fs::path& root) {
  std::vector<std::string> files;
  if (!fs::exists(root)) {
    return files;
  }
  for (const auto& entry : fs::recursive_directory_iterator(root)) {
    if (entry.is_regular_file()) {
      files.push_back(entry.path().lexically_relative(root).string());
    }
  }
  std::sort(files.begin(), files.end());
  return files;
}

// --- Tests ---

TEST(Pull, InitialPullCopiesEveryMessageOnceVerbatim) {
  const auto& server = TestServer::instance();
  const auto account = make_account();
  server.create_mailbox(account.user, "Lists/dovecot");
  server.create_mailbox(account.user, "Entwürfe");

  // Bodies that are easy to damage: CRLF and LF input, a line starting with
  // "From ", bytes that are not UTF-8, a line without a final newline, and
  // one message large enough to arrive in several reads.
  std::string large_body;
  for (int i = 0; i < 3000; ++i) {
    large_body += "line " + std::to_string(i) + " of a long message, padded to some length.\r\n";
  }
  const std::map<std::string, std::vector<std::string>> corpus{
      {"INBOX",
       {make_message("inbox-1"), make_message("inbox-2", "From the start.\r\n\r\nSecond.\r\n"),
        make_message("inbox-3", "bytes \xff\xfe\x80 not UTF-8\r\n"),
        make_message("inbox-4", large_body)}},
      {"Lists/dovecot",
       {make_message("list-1", "LF only\nline two\n"), make_message("list-2", "no final newline")}},
      {"Entwürfe", {make_message("draft-1", "Grüße\r\n")}},
  };
  for (const auto& [mailbox, messages] : corpus) {
    for (const auto& message : messages) {
      server.append(account.user, mailbox, message);
    }
  }

  const auto result = sync(account);
  ASSERT_EQ(result.exit_code, 0) << describe(result);

  // The verbatim layout puts each folder at its own path under the root, the
  // non-ASCII name in UTF-8 (not modified UTF-7 as on the wire).
  const std::map<std::string, fs::path> folders{
      {"INBOX", account.maildir / "INBOX"},
      {"Lists/dovecot", account.maildir / "Lists" / "dovecot"},
      {"Entwürfe", account.maildir / "Entw\xc3\xbcrfe"},
  };
  for (const auto& [mailbox, dir] : folders) {
    SCOPED_TRACE(mailbox);
    for (const char* subdir : {"cur", "new", "tmp"}) {
      EXPECT_TRUE(fs::is_directory(dir / subdir)) << dir / subdir;
    }
    const auto files = local_files(dir);
    // Same multiset of contents, byte for byte: with distinct messages this
    // means every server message is there exactly once and nothing else is.
    EXPECT_EQ(sorted_contents(files), server_contents(account.user, mailbox));
    EXPECT_EQ(files.size(), corpus.at(mailbox).size());
    for (const auto& file : files) {
      // UIDs live in the state, never in file names (no mbsync-style ",U=").
      EXPECT_EQ(file.name.find("U="), std::string::npos) << file.name;
      EXPECT_EQ(file.name.find("u="), std::string::npos) << file.name;
    }
  }
  // The modified UTF-7 form of the name must not have been used on disk.
  EXPECT_FALSE(fs::exists(account.maildir / "Entw&APw-rfe"));

  // Per UID: the state maps every server UID to a file name whose content is
  // that UID's message (docs/state-format.md), so the pairing is right too.
  const auto inbox_state = nlohmann::json::parse(read_file(account.state / "folder-INBOX.json"));
  std::map<std::uint32_t, std::string> name_of_uid;
  for (const auto& record : inbox_state.at("messages")) {
    name_of_uid[record.at(0).get<std::uint32_t>()] = record.at(1).get<std::string>();
  }
  const auto inbox_files = local_files(account.maildir / "INBOX");
  for (const auto& message : server.list_uids_and_flags(account.user, "INBOX")) {
    SCOPED_TRACE("INBOX uid " + std::to_string(message.uid));
    ASSERT_EQ(name_of_uid.count(message.uid), 1U);
    const auto it = std::find_if(inbox_files.begin(), inbox_files.end(), [&](const auto& f) {
      return f.stable_name == name_of_uid[message.uid];
    });
    ASSERT_NE(it, inbox_files.end());
    EXPECT_EQ(it->content, crlf_to_lf(server.fetch_body(account.user, "INBOX", message.uid)));
  }
}

TEST(Pull, ServerFlagsBecomeMaildirInfoLetters) {
  const auto& server = TestServer::instance();
  const auto account = make_account();
  const std::vector<std::pair<std::string, std::vector<std::string>>> cases{
      {"plain", {}},
      {"seen", {"\\Seen"}},
      {"flagged", {"\\Flagged"}},
      {"answered", {"\\Answered"}},
      {"draft", {"\\Draft"}},
      {"deleted", {"\\Deleted"}},
      {"all", {"\\Seen", "\\Flagged", "\\Answered", "\\Draft", "\\Deleted"}},
  };
  for (const auto& [id, flags] : cases) {
    server.append(account.user, "INBOX", make_message(id), flags);
  }

  const auto result = sync(account);
  ASSERT_EQ(result.exit_code, 0) << describe(result);

  // Maildir letters are written in ASCII order after ":2,"; a message with
  // no flags stays in new/ without any info part, as a fresh delivery.
  const std::map<std::string, std::string> expected_letters{
      {"seen", "S"},  {"flagged", "F"}, {"answered", "R"},
      {"draft", "D"}, {"deleted", "T"}, {"all", "DFRST"},
  };
  const auto inbox = account.maildir / "INBOX";
  const auto plain = file_with_id(inbox, "plain");
  ASSERT_TRUE(plain.has_value());
  EXPECT_EQ(plain->subdir, "new");
  EXPECT_FALSE(plain->has_info) << plain->name;
  EXPECT_EQ(plain->name.find(':'), std::string::npos) << plain->name;
  for (const auto& [id, letters] : expected_letters) {
    SCOPED_TRACE(id);
    const auto file = file_with_id(inbox, id);
    ASSERT_TRUE(file.has_value());
    EXPECT_EQ(file->subdir, "cur");
    EXPECT_TRUE(file->has_info) << file->name;
    EXPECT_EQ(file->letters, letters) << file->name;
  }
  EXPECT_EQ(local_files(inbox).size(), cases.size());
}

TEST(Pull, MaildirPlusPlusLayout) {
  const auto& server = TestServer::instance();
  const auto account = make_account({"layout = maildir++"});
  server.create_mailbox(account.user, "Lists/dovecot");
  server.create_mailbox(account.user, "Entwürfe");
  server.append(account.user, "INBOX", make_message("inbox-plain"));
  server.append(account.user, "INBOX", make_message("inbox-seen"), {"\\Seen", "\\Flagged"});
  server.append(account.user, "Lists/dovecot", make_message("list-plain", "LF\nonly\n"));
  server.append(account.user, "Lists/dovecot", make_message("list-all"),
                {"\\Seen", "\\Flagged", "\\Answered", "\\Draft", "\\Deleted"});
  server.append(account.user, "Entwürfe", make_message("draft-1", "Grüße\r\n"), {"\\Draft"});

  const auto result = sync(account);
  ASSERT_EQ(result.exit_code, 0) << describe(result);

  // Maildir++: INBOX is the root itself, every other folder is a dot
  // directory directly below it with '.' for the hierarchy delimiter, and
  // only subfolders carry the "maildirfolder" marker.
  const std::map<std::string, fs::path> folders{
      {"INBOX", account.maildir},
      {"Lists/dovecot", account.maildir / ".Lists.dovecot"},
      {"Entwürfe", account.maildir / ".Entw\xc3\xbcrfe"},
  };
  for (const auto& [mailbox, dir] : folders) {
    SCOPED_TRACE(mailbox);
    for (const char* subdir : {"cur", "new", "tmp"}) {
      EXPECT_TRUE(fs::is_directory(dir / subdir)) << dir / subdir;
    }
    EXPECT_EQ(sorted_contents(local_files(dir)), server_contents(account.user, mailbox));
    if (mailbox != "INBOX") {
      EXPECT_TRUE(fs::is_regular_file(dir / "maildirfolder")) << dir;
    }
  }
  EXPECT_FALSE(fs::exists(account.maildir / "maildirfolder"));
  // Nothing of the verbatim layout may appear.
  EXPECT_FALSE(fs::exists(account.maildir / "INBOX"));
  EXPECT_FALSE(fs::exists(account.maildir / "Lists"));

  const auto inbox_plain = file_with_id(account.maildir, "inbox-plain");
  ASSERT_TRUE(inbox_plain.has_value());
  EXPECT_EQ(inbox_plain->subdir, "new");
  EXPECT_FALSE(inbox_plain->has_info);
  const auto inbox_seen = file_with_id(account.maildir, "inbox-seen");
  ASSERT_TRUE(inbox_seen.has_value());
  EXPECT_EQ(inbox_seen->subdir, "cur");
  EXPECT_EQ(inbox_seen->letters, "FS");
  const auto list_plain = file_with_id(folders.at("Lists/dovecot"), "list-plain");
  ASSERT_TRUE(list_plain.has_value());
  EXPECT_EQ(list_plain->subdir, "new");
  EXPECT_FALSE(list_plain->has_info);
  const auto list_all = file_with_id(folders.at("Lists/dovecot"), "list-all");
  ASSERT_TRUE(list_all.has_value());
  EXPECT_EQ(list_all->subdir, "cur");
  EXPECT_EQ(list_all->letters, "DFRST");
  const auto draft = file_with_id(folders.at("Entwürfe"), "draft-1");
  ASSERT_TRUE(draft.has_value());
  EXPECT_EQ(draft->letters, "D");
}

TEST(Pull, SecondRunChangesNoFile) {
  const auto& server = TestServer::instance();
  const auto account = make_account();
  server.create_mailbox(account.user, "Lists/dovecot");
  server.create_mailbox(account.user, "Empty");
  server.append(account.user, "INBOX", make_message("a"));
  server.append(account.user, "INBOX", make_message("b"), {"\\Seen"});
  server.append(account.user, "INBOX", make_message("c"), {"\\Flagged", "$Label1"});
  server.append(account.user, "Lists/dovecot", make_message("d"), {"\\Answered", "\\Seen"});

  const auto first = sync(account);
  ASSERT_EQ(first.exit_code, 0) << describe(first);
  ASSERT_EQ(local_files(account.maildir / "INBOX").size(), 3U);

  // The lock file is rewritten with the holder's pid on every run by design
  // (docs/state-format.md), so it is the one file left out.
  const auto maildir_before = snapshot(account.maildir);
  const auto state_before = snapshot(account.state, {"lock"});
  const auto second = sync(account);
  EXPECT_EQ(second.exit_code, 0) << describe(second);
  // Nothing changed on the server, so a second run must leave every Maildir
  // file and directory alone: same names, sizes, mtimes and inodes.
  EXPECT_EQ(snapshot(account.maildir), maildir_before)
      << snapshot_diff(maildir_before, snapshot(account.maildir));
  // Nor is there anything new to record in the state.
  EXPECT_EQ(snapshot(account.state, {"lock"}), state_before)
      << snapshot_diff(state_before, snapshot(account.state, {"lock"}));
}

TEST(Pull, ServerChangesArriveAndLocalFlagChangesSurvive) {
  const auto& server = TestServer::instance();
  const auto account = make_account();
  const auto seen_later = server.append(account.user, "INBOX", make_message("seen-later"));
  const auto unflag =
      server.append(account.user, "INBOX", make_message("unflag"), {"\\Flagged", "\\Seen"});
  const auto expunged = server.append(account.user, "INBOX", make_message("expunged"));
  const auto both = server.append(account.user, "INBOX", make_message("both"), {"\\Seen"});
  const auto unread = server.append(account.user, "INBOX", make_message("unread"), {"\\Seen"});
  server.append(account.user, "INBOX", make_message("untouched"), {"\\Seen"});

  const auto first = sync(account);
  ASSERT_EQ(first.exit_code, 0) << describe(first);
  const auto inbox = account.maildir / "INBOX";
  ASSERT_EQ(local_files(inbox).size(), 6U);
  const auto untouched_before = file_with_id(inbox, "untouched");
  ASSERT_TRUE(untouched_before.has_value());

  // The user flags "both" in the mail reader; the server meanwhile marks it
  // answered. Each side changed a different flag, so both changes must hold.
  const auto both_file = file_with_id(inbox, "both");
  ASSERT_TRUE(both_file.has_value());
  ASSERT_EQ(both_file->letters, "S");
  set_local_letters(*both_file, "FS");
  // The same the other way round: the user marks "unread" as unread again
  // (removes S) while the server flags it.
  const auto unread_file = file_with_id(inbox, "unread");
  ASSERT_TRUE(unread_file.has_value());
  set_local_letters(*unread_file, "");
  server.add_flags(account.user, "INBOX", unread, {"\\Flagged"});
  server.add_flags(account.user, "INBOX", both, {"\\Answered"});
  server.add_flags(account.user, "INBOX", seen_later, {"\\Seen"});
  server.remove_flags(account.user, "INBOX", unflag, {"\\Flagged"});
  server.expunge(account.user, "INBOX", expunged);
  server.append(account.user, "INBOX", make_message("arrived"), {"\\Flagged"});

  const auto second = sync(account);
  ASSERT_EQ(second.exit_code, 0) << describe(second);

  const auto seen_file = file_with_id(inbox, "seen-later");
  ASSERT_TRUE(seen_file.has_value());
  EXPECT_EQ(seen_file->subdir, "cur");
  EXPECT_EQ(seen_file->letters, "S") << "a flag added on the server must arrive";

  const auto unflag_file = file_with_id(inbox, "unflag");
  ASSERT_TRUE(unflag_file.has_value());
  EXPECT_EQ(unflag_file->letters, "S") << "a flag removed on the server must go";

  EXPECT_TRUE(files_with_id(inbox, "expunged").empty())
      << "a message expunged on the server must leave the Maildir";

  const auto arrived = file_with_id(inbox, "arrived");
  ASSERT_TRUE(arrived.has_value());
  EXPECT_EQ(arrived->letters, "F");

  const auto both_after = file_with_id(inbox, "both");
  ASSERT_TRUE(both_after.has_value());
  EXPECT_EQ(both_after->stable_name, both_file->stable_name);
  EXPECT_EQ(both_after->letters, "FRS") << "the local F and the server's R must both be kept";

  const auto unread_after = file_with_id(inbox, "unread");
  ASSERT_TRUE(unread_after.has_value());
  EXPECT_EQ(unread_after->letters, "F") << "the local removal of S and the server's F must hold";

  // A message nobody touched keeps its file as it was.
  const auto untouched_after = file_with_id(inbox, "untouched");
  ASSERT_TRUE(untouched_after.has_value());
  EXPECT_EQ(untouched_after->path, untouched_before->path);

  EXPECT_EQ(sorted_contents(local_files(inbox)), server_contents(account.user, "INBOX"));

  // A third run must not undo the local flag: the server still lacks F,
  // and pull mode neither pushes it up nor takes it away.
  server.add_flags(account.user, "INBOX", seen_later, {"\\Answered"});
  const auto third = sync(account);
  ASSERT_EQ(third.exit_code, 0) << describe(third);
  const auto both_third = file_with_id(inbox, "both");
  ASSERT_TRUE(both_third.has_value());
  EXPECT_EQ(both_third->letters, "FRS");
}

TEST(Pull, NothingIsWrittenToTheServer) {
  const auto& server = TestServer::instance();
  const auto account = make_account();
  server.create_mailbox(account.user, "Archive");
  // Unseen messages would turn \Seen if roam fetched bodies without PEEK.
  server.append(account.user, "INBOX", make_message("unseen-1"));
  server.append(account.user, "INBOX", make_message("unseen-2"));
  server.append(account.user, "INBOX", make_message("seen"), {"\\Seen"});
  server.append(account.user, "Archive", make_message("archived"), {"\\Answered"});

  struct ServerView {
    std::vector<std::string> mailboxes;
    std::vector<MessageFlags> inbox;
    std::vector<MessageFlags> archive;
    std::uint32_t inbox_uidnext = 0;
    std::uint32_t archive_uidnext = 0;
    bool operator==(const ServerView&) const = default;
  };
  auto view = [&] {
    ServerView v;
    v.mailboxes = server.list_mailboxes(account.user);
    v.inbox = server.list_uids_and_flags(account.user, "INBOX");
    v.archive = server.list_uids_and_flags(account.user, "Archive");
    v.inbox_uidnext = server.mailbox_status(account.user, "INBOX").uidnext;
    v.archive_uidnext = server.mailbox_status(account.user, "Archive").uidnext;
    return v;
  };

  const auto before_first = view();
  const auto first = sync(account);
  ASSERT_EQ(first.exit_code, 0) << describe(first);
  EXPECT_TRUE(view() == before_first) << "the initial download changed the server";

  // Local changes that a two-way sync would push: flags set, a file
  // deleted, a message the server never had, and a new local folder.
  const auto inbox = account.maildir / "INBOX";
  const auto unseen = file_with_id(inbox, "unseen-1");
  ASSERT_TRUE(unseen.has_value());
  set_local_letters(*unseen, "FS");
  const auto archived = file_with_id(account.maildir / "Archive", "archived");
  ASSERT_TRUE(archived.has_value());
  fs::remove(archived->path);
  write_file(inbox / "new" / "1700000000.local-only.host", make_message("local-only"));
  for (const char* subdir : {"cur", "new", "tmp"}) {
    fs::create_directories(account.maildir / "LocalOnly" / subdir);
  }
  // A server-side change in both folders makes sure roam looks at them
  // instead of skipping them as unchanged.
  server.append(account.user, "INBOX", make_message("new-on-server"));
  server.append(account.user, "Archive", make_message("new-archived"));

  const auto before_second = view();
  const auto second = sync(account);
  EXPECT_EQ(second.exit_code, 0) << describe(second);
  const auto after_second = view();
  EXPECT_EQ(after_second.mailboxes, before_second.mailboxes);
  EXPECT_EQ(after_second.inbox, before_second.inbox);
  EXPECT_EQ(after_second.archive, before_second.archive);
  EXPECT_EQ(after_second.inbox_uidnext, before_second.inbox_uidnext);
  EXPECT_EQ(after_second.archive_uidnext, before_second.archive_uidnext);
  // The new server messages did arrive, so the folders were really synced.
  EXPECT_EQ(files_with_id(inbox, "new-on-server").size(), 1U);
  EXPECT_EQ(files_with_id(account.maildir / "Archive", "new-archived").size(), 1U);
  // And the local changes stay local: the deleted file is not fetched again.
  EXPECT_TRUE(files_with_id(account.maildir / "Archive", "archived").empty());
}

// Upgrading from names with the namespace prefix (`use_namespace = no`, or
// a roam that did not strip it) to stripped ones: the folder synced as
// INBOX/Lists is recognised by content in the server's Lists and renamed
// locally with its state, so nothing is downloaded again or left twice.
TEST(Pull, StrippingTheNamespacePrefixLaterRenamesTheLocalFolder) {
  const auto& server = TestServer::instance();
  if (server.env_or("MAILBOX_PREFIX", "") != "INBOX.") {
    GTEST_SKIP() << "the server's folders have no INBOX. prefix to strip";
  }
  const auto account = make_account({"use_namespace = no"});
  server.create_mailbox(account.user, "Lists");
  server.append(account.user, "Lists", make_message("list-1"));
  server.append(account.user, "Lists", make_message("list-2"));
  server.append(account.user, "INBOX", make_message("in-inbox"));
  const auto before = sync(account);
  ASSERT_EQ(before.exit_code, 0) << describe(before);
  ASSERT_EQ(files_with_id(account.maildir / "INBOX" / "Lists", "list-1").size(), 1U);

  server.write_config(account.config, account.user, {});
  const auto after = sync(account);
  EXPECT_EQ(after.exit_code, 0) << describe(after);
  EXPECT_NE(after.err.find("renamed on the server to Lists"), std::string::npos) << describe(after);
  EXPECT_NE(after.out.find("local: 0 new"), std::string::npos) << describe(after);
  for (const char* id : {"list-1", "list-2"}) {
    EXPECT_EQ(files_with_id(account.maildir / "Lists", id).size(), 1U) << id;
  }
  EXPECT_FALSE(fs::exists(account.maildir / "INBOX" / "Lists")) << describe(after);
  EXPECT_EQ(files_with_id(account.maildir / "INBOX", "in-inbox").size(), 1U);
  const auto again = sync(account);
  EXPECT_EQ(again.exit_code, 0) << describe(again);
  EXPECT_NE(again.out.find("local: 0 new"), std::string::npos) << describe(again);
}

TEST(Pull, UidValidityChangeNeitherDuplicatesNorLoses) {
  const auto& server = TestServer::instance();
  const auto account = make_account();
  server.create_mailbox(account.user, "Box");
  // Two identical copies of one message must stay two files, not one and
  // not four.
  const std::vector<std::pair<std::string, std::vector<std::string>>> messages{
      {make_message("one"), {"\\Seen"}},
      {make_message("two", "Second body.\r\n"), {}},
      {make_message("twin"), {"\\Flagged"}},
      {make_message("twin"), {"\\Flagged"}},
      {make_message("three", "Third, longer body.\r\nWith two lines.\r\n"), {"\\Answered"}},
  };
  for (const auto& [text, flags] : messages) {
    server.append(account.user, "Box", text, flags);
  }
  const auto first = sync(account);
  ASSERT_EQ(first.exit_code, 0) << describe(first);
  const auto box = account.maildir / "Box";
  ASSERT_EQ(local_files(box).size(), messages.size());

  // The user marks "two" as read locally; content matching pairs the file
  // with the new server message and takes the union of both sides' flags
  // (src/sync/planner.hpp), so the local S must survive the change.
  const auto two = file_with_id(box, "two");
  ASSERT_TRUE(two.has_value());
  set_local_letters(*two, "S");
  const auto before = local_files(box);

  ASSERT_NO_FATAL_FAILURE(rebuild_mailbox(account.user, "Box", messages));

  const auto second = sync(account);
  EXPECT_EQ(second.exit_code, 0) << describe(second);
  const auto after = local_files(box);
  EXPECT_EQ(after.size(), before.size());
  EXPECT_EQ(sorted_contents(after), sorted_contents(before));
  EXPECT_EQ(sorted_contents(after), server_contents(account.user, "Box"));
  // Matching by content keeps the files the user already has: no message
  // was downloaded again under a new name.
  std::set<std::string> names_before;
  std::set<std::string> names_after;
  for (const auto& file : before) {
    names_before.insert(file.stable_name);
  }
  for (const auto& file : after) {
    names_after.insert(file.stable_name);
  }
  EXPECT_EQ(names_after, names_before);
  const auto two_after = file_with_id(box, "two");
  ASSERT_TRUE(two_after.has_value());
  EXPECT_EQ(two_after->letters, "S");
  const auto one_after = file_with_id(box, "one");
  ASSERT_TRUE(one_after.has_value());
  EXPECT_EQ(one_after->letters, "S");

  // The state now belongs to the new UIDVALIDITY: one more run is quiet.
  const auto third = sync(account);
  EXPECT_EQ(third.exit_code, 0) << describe(third);
  EXPECT_EQ(local_files(box).size(), messages.size());
  const auto state = nlohmann::json::parse(read_file(account.state / "folder-Box.json"));
  EXPECT_EQ(state.at("uidvalidity").get<std::uint32_t>(),
            server.mailbox_status(account.user, "Box").uidvalidity);
  EXPECT_EQ(state.at("messages").size(), messages.size());
}

TEST(Pull, CorruptStateFileStopsOnlyItsFolder) {
  const auto& server = TestServer::instance();
  const auto account = make_account();
  server.create_mailbox(account.user, "Archive");
  server.create_mailbox(account.user, "Notes");
  server.append(account.user, "INBOX", make_message("inbox-1"));
  server.append(account.user, "Notes", make_message("notes-1"));
  server.append(account.user, "Archive", make_message("archive-1"), {"\\Seen"});
  server.append(account.user, "Archive", make_message("archive-2"));
  const auto first = sync(account);
  ASSERT_EQ(first.exit_code, 0) << describe(first);

  // A truncated state file, as a full disk or a bad copy leaves it. Read as
  // empty it would make roam download everything again (duplicates).
  const auto state_file = account.state / "folder-Archive.json";
  ASSERT_TRUE(fs::is_regular_file(state_file));
  const std::string corrupt = R"({"roam_state":1,"mailbox":"Archive","uidvalidity":12)";
  write_file(state_file, corrupt);
  // An empty file is damage too, not "never synced" (docs/state-format.md).
  const auto empty_state_file = account.state / "folder-Notes.json";
  ASSERT_TRUE(fs::is_regular_file(empty_state_file));
  write_file(empty_state_file, "");
  // Work waits in both folders: the Archive must not get it, INBOX must.
  server.append(account.user, "Archive", make_message("archive-3"));
  server.add_flags(account.user, "Archive", 1, {"\\Flagged"});
  server.append(account.user, "INBOX", make_message("inbox-2"));
  server.append(account.user, "Notes", make_message("notes-2"));
  const auto archive_before = snapshot(account.maildir / "Archive");
  const auto notes_before = snapshot(account.maildir / "Notes");

  const auto result = sync(account);
  EXPECT_NE(result.exit_code, 0) << describe(result);
  EXPECT_NE(result.err.find(state_file.string()), std::string::npos) << describe(result);
  EXPECT_EQ(snapshot(account.maildir / "Archive"), archive_before)
      << snapshot_diff(archive_before, snapshot(account.maildir / "Archive"));
  EXPECT_EQ(read_file(state_file), corrupt) << "roam must not overwrite a damaged state";
  EXPECT_NE(result.err.find(empty_state_file.string()), std::string::npos) << describe(result);
  EXPECT_EQ(snapshot(account.maildir / "Notes"), notes_before)
      << snapshot_diff(notes_before, snapshot(account.maildir / "Notes"));
  EXPECT_EQ(read_file(empty_state_file), "");
  EXPECT_EQ(files_with_id(account.maildir / "INBOX", "inbox-2").size(), 1U)
      << "the other folder must still sync";
}

TEST(Pull, SecondRunRefusesWhileTheAccountIsLocked) {
  const auto& server = TestServer::instance();
  const auto account = make_account();
  server.append(account.user, "INBOX", make_message("inbox-1"));

  // Hold the account lock as a running roam would: flock(2) on
  // <state_dir>/lock with the holder's pid written in it (src/state/lock.cpp).
  fs::create_directories(account.state);
  const auto lock_path = account.state / "lock";
  const int fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::flock(fd, LOCK_EX | LOCK_NB), 0);
  const std::string pid = std::to_string(::getpid());
  const std::string content = pid + "\n";
  ASSERT_EQ(::write(fd, content.data(), content.size()), static_cast<ssize_t>(content.size()));

  const auto refused = sync(account);
  EXPECT_NE(refused.exit_code, 0) << describe(refused);
  EXPECT_NE(refused.err.find(lock_path.string()), std::string::npos) << describe(refused);
  EXPECT_NE(refused.err.find("pid " + pid), std::string::npos) << describe(refused);
  // The refused run must not have started syncing anything.
  EXPECT_TRUE(regular_files_under(account.maildir).empty());
  EXPECT_TRUE(state_files(account.state).empty());
  // Nor may it have taken the lock away from its holder.
  EXPECT_EQ(read_file(lock_path), content);

  ::close(fd);
  // Once the holder is gone the lock is free again: a stale lock file never
  // blocks an account.
  const auto after = sync(account);
  EXPECT_EQ(after.exit_code, 0) << describe(after);
  EXPECT_EQ(files_with_id(account.maildir / "INBOX", "inbox-1").size(), 1U);
}

TEST(Pull, FolderNamesUnsafeAsPathsAreRefused) {
  const auto& server = TestServer::instance();
  const auto account = make_account();
  // Dovecot (Maildir++ storage) refuses every name with a '.', so "..",
  // "a/../b" and ".hidden" cannot be made. These it accepts; in the verbatim
  // layout each would be (or sit inside) a Maildir's own cur/new/tmp.
  server.create_mailbox(account.user, "cur");
  server.create_mailbox(account.user, "tmp");
  server.create_mailbox(account.user, "Lists");
  server.create_mailbox(account.user, "Lists/new");
  server.create_mailbox(account.user, "INBOX/cur");
  server.create_mailbox(account.user, "new/x");
  server.create_mailbox(account.user, "Good");
  server.append(account.user, "INBOX/cur", make_message("in-inbox-cur"));
  server.append(account.user, "new/x", make_message("in-new-x"));
  server.append(account.user, "cur", make_message("in-cur"));
  server.append(account.user, "tmp", make_message("in-tmp"));
  server.append(account.user, "Lists/new", make_message("in-lists-new"));
  server.append(account.user, "Lists", make_message("in-lists"));
  server.append(account.user, "Good", make_message("in-good"));
  server.append(account.user, "INBOX", make_message("in-inbox"));

  const auto result = sync(account);
  EXPECT_NE(result.exit_code, 0) << describe(result);
  // The messages name a folder with the server's delimiter: "Lists.new" on
  // Courier, whose names are INBOX.Lists.new (the prefix stripped).
  for (std::string name : {"\"cur\"", "\"tmp\"", "\"Lists/new\"", "\"INBOX/cur\"", "\"new/x\""}) {
    std::string dotted = name;
    std::replace(dotted.begin(), dotted.end(), '/', '.');
    EXPECT_TRUE(result.err.find(name) != std::string::npos ||
                result.err.find(dotted) != std::string::npos)
        << name << "\n"
        << describe(result);
  }
  // The safe folders still synced.
  EXPECT_EQ(files_with_id(account.maildir / "Good", "in-good").size(), 1U);
  EXPECT_EQ(files_with_id(account.maildir / "INBOX", "in-inbox").size(), 1U);
  EXPECT_EQ(files_with_id(account.maildir / "Lists", "in-lists").size(), 1U);
  // The refused ones left no trace: the root did not become a Maildir, and
  // the Lists folder's new/ holds its own message and no folder structure.
  EXPECT_FALSE(fs::exists(account.maildir / "cur"));
  EXPECT_FALSE(fs::exists(account.maildir / "tmp"));
  EXPECT_FALSE(fs::exists(account.maildir / "Lists" / "new" / "cur"));
  EXPECT_FALSE(fs::exists(account.maildir / "Lists" / "new" / "new"));
  EXPECT_FALSE(fs::exists(account.maildir / "Lists" / "new" / "tmp"));
  std::size_t in_lists_new = 0;
  for (const auto& entry : fs::directory_iterator(account.maildir / "Lists" / "new")) {
    EXPECT_TRUE(entry.is_regular_file()) << entry.path();
    ++in_lists_new;
  }
  EXPECT_EQ(in_lists_new, 1U);
  EXPECT_FALSE(fs::exists(account.maildir / "new"));
  // INBOX/cur would be INBOX's own cur/: it must hold message files only.
  for (const auto& entry : fs::directory_iterator(account.maildir / "INBOX" / "cur")) {
    EXPECT_TRUE(entry.is_regular_file()) << entry.path();
  }
  for (const auto& id : {"in-cur", "in-tmp", "in-lists-new", "in-inbox-cur", "in-new-x"}) {
    for (const auto& file : regular_files_under(account.maildir)) {
      EXPECT_EQ(read_file(account.maildir / file).find(std::string("<") + id + "@"),
                std::string::npos)
          << id << " was written to " << file;
    }
  }
  // Nothing outside the Maildir root and the state directory.
  std::set<std::string> top;
  for (const auto& entry : fs::directory_iterator(account.work)) {
    top.insert(entry.path().filename().string());
  }
  EXPECT_EQ(top, (std::set<std::string>{"Mail", "roam.conf", "state"}));
}

TEST(Pull, DryRunPrintsThePlanAndWritesNothing) {
  const auto& server = TestServer::instance();
  const auto account = make_account();
  server.create_mailbox(account.user, "Archive");
  const auto uid1 = server.append(account.user, "INBOX", make_message("a"));
  const auto uid2 = server.append(account.user, "INBOX", make_message("b"), {"\\Seen"});
  const auto uid3 = server.append(account.user, "Archive", make_message("c"));
  const auto server_before = server.list_uids_and_flags(account.user, "INBOX");

  const auto result = sync(account, {"--dry-run"});
  EXPECT_EQ(result.exit_code, 0) << describe(result);
  EXPECT_NE(result.out.find("INBOX: would download 2"), std::string::npos) << describe(result);
  EXPECT_NE(result.out.find("Archive: would download 1"), std::string::npos) << describe(result);
  for (const auto uid : {uid1, uid2, uid3}) {
    EXPECT_NE(result.out.find("download uid " + std::to_string(uid)), std::string::npos)
        << uid << "\n"
        << describe(result);
  }
  // No Maildir file at all and no folder state: a dry run only looks. (The
  // lock file may exist: it keeps a real run from changing things under the
  // dry run's feet.)
  EXPECT_TRUE(regular_files_under(account.maildir).empty()) << "Maildir has files after --dry-run";
  EXPECT_TRUE(state_files(account.state).empty());
  for (const auto& file : regular_files_under(account.state)) {
    EXPECT_EQ(file, "lock");
  }
  EXPECT_EQ(server.list_uids_and_flags(account.user, "INBOX"), server_before);

  // And the real run afterwards downloads exactly what was announced.
  const auto real = sync(account);
  ASSERT_EQ(real.exit_code, 0) << describe(real);
  EXPECT_EQ(local_files(account.maildir / "INBOX").size(), 2U);
  EXPECT_EQ(local_files(account.maildir / "Archive").size(), 1U);
}

TEST(Pull, WrongPasswordFailsWithoutRevealingIt) {
  const auto& server = TestServer::instance();
  const std::string password = "Wr0ngPassw0rd-q7Zx";
  const auto account = make_account({"password = " + password});
  server.append(account.user, "INBOX", make_message("a"));

  // A password can leak as itself or inside the base64 of AUTHENTICATE PLAIN.
  const std::vector<std::string> secrets{
      password,
      base64(std::string(1, '\0') + account.user + std::string(1, '\0') + password),
      base64(account.user + std::string(1, '\0') + account.user + std::string(1, '\0') + password),
      base64(password),
  };
  // Each failed login costs about two seconds (Dovecot's auth penalty), so
  // two runs: the normal one and the one with the full IMAP trace.
  for (const bool debug : {false, true}) {
    SCOPED_TRACE(debug ? "--debug" : "no options");
    const auto result =
        sync(account, debug ? std::vector<std::string>{"--debug"} : std::vector<std::string>{});
    EXPECT_NE(result.exit_code, 0) << describe(result);
    EXPECT_FALSE(result.timed_out);
    // The user must learn why: the server's verdict or at least the word.
    std::string lower = result.err;
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    EXPECT_TRUE(lower.find("authenticat") != std::string::npos ||
                lower.find("login") != std::string::npos)
        << describe(result);
    for (const auto& secret : secrets) {
      EXPECT_EQ(result.out.find(secret), std::string::npos) << "stdout shows " << secret;
      EXPECT_EQ(result.err.find(secret), std::string::npos) << "stderr shows " << secret;
    }
    EXPECT_TRUE(regular_files_under(account.maildir).empty());
    if (debug) {
      // The run must really have traced the session, or the checks above
      // prove nothing about the trace.
      EXPECT_NE(result.err.find("C: "), std::string::npos) << describe(result);
      // The password was tried once: the extra connections of a run log in
      // only after the first one has.
      std::size_t logins = 0;
      for (std::size_t at = result.err.find("C: r"); at != std::string::npos;
           at = result.err.find("C: r", at + 1)) {
        std::string_view line(result.err.c_str() + at);
        line = line.substr(0, line.find('\n'));
        if (line.find(" AUTHENTICATE ") != std::string_view::npos ||
            line.find(" LOGIN ") != std::string_view::npos) {
          ++logins;
        }
      }
      EXPECT_EQ(logins, 1u) << describe(result);
    }
  }
}

TEST(Pull, HangingPassCmdTimesOutAndDoesNotOutliveRoam) {
  // A pass_cmd that hangs (a pinentry nobody answers) used to hang roam
  // forever, and it lived on after roam was killed.
  const auto account = fresh_account();
  TestServer::instance().write_config(account.config, account.user, {"timeout = 1"});
  const auto pid_file = account.work / "pass_cmd.pid";
  std::string config = read_file(account.config);
  const auto password = config.find("\npassword = ");
  ASSERT_NE(password, std::string::npos) << config;
  const auto line_end = config.find('\n', password + 1);
  config.replace(password, line_end - password,
                 "\npass_cmd = echo $$ > " + pid_file.string() + "; exec sleep 1000");
  write_file(account.config, config);

  const auto start = std::chrono::steady_clock::now();
  const auto result = sync(account, {}, std::chrono::seconds(60));
  EXPECT_FALSE(result.timed_out) << describe(result);
  EXPECT_EQ(result.exit_code, 1) << describe(result);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(20));
  EXPECT_NE(result.err.find("pass_cmd of account test timed out"), std::string::npos)
      << describe(result);
  EXPECT_NE(result.err.find("[account.test]"), std::string::npos) << describe(result);

  // The command is gone, not merely abandoned.
  std::ifstream in(pid_file);
  pid_t pid = 0;
  ASSERT_TRUE(in >> pid) << "pass_cmd never ran";
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(3);
  bool ended = false;
  while (!ended && std::chrono::steady_clock::now() < deadline) {
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
    auto close = text.rfind(')');
    ended = text.empty() ||
            (close != std::string::npos && close + 2 < text.size() && text[close + 2] == 'Z');
    if (!ended) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  EXPECT_TRUE(ended) << "pass_cmd (pid " << pid << ") still runs";
}

}  // namespace
}  // namespace roam::it
