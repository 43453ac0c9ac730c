#include "maildir/folder.hpp"

#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <string>
#include <vector>

#include "fakes/temp_dir.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"

namespace roam::maildir {
namespace {

using fakes::TempDir;

std::vector<std::string> list_dir(const fs::path& dir) {
  std::vector<std::string> names;
  for (const auto& item : fs::directory_iterator(dir)) {
    names.push_back(item.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

void write_file(const fs::path& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary);
  out << content;
}

unsigned mode_of(const fs::path& path) {
  struct stat st {};
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
  return static_cast<unsigned>(st.st_mode & 0777);
}

class FolderTest : public ::testing::Test {
 protected:
  FolderTest() : m_folder(m_temp.path() / "Mail" / "INBOX") {
    m_folder.ensure_exists(Layout::Verbatim, FolderRole::Inbox);
  }

  // Delivers `content` in the given chunks and returns the final path.
  fs::path deliver(const std::vector<std::string>& chunks, const std::string& stable_name,
                   const std::string& letters = "") {
    Delivery delivery = m_folder.begin_delivery();
    for (const std::string& chunk : chunks) {
      delivery.write(chunk);
    }
    return delivery.commit(stable_name, letters);
  }

  Entry entry_for(const std::string& stable_name) {
    for (const Entry& entry : m_folder.scan().entries) {
      if (entry.stable_name == stable_name) {
        return entry;
      }
    }
    ADD_FAILURE() << "no entry " << stable_name;
    return Entry{};
  }

  TempDir m_temp;
  Folder m_folder;
};

TEST_F(FolderTest, EnsureExistsCreatesPrivateSubdirectories) {
  EXPECT_TRUE(m_folder.exists());
  for (const char* sub : {"cur", "new", "tmp"}) {
    EXPECT_EQ(mode_of(m_folder.path() / sub), 0700u) << sub;
  }
  EXPECT_FALSE(fs::exists(m_folder.path() / "maildirfolder"));
  // A second call changes nothing and does not fail.
  m_folder.ensure_exists(Layout::Verbatim, FolderRole::Inbox);
  EXPECT_EQ(list_dir(m_folder.path()), (std::vector<std::string>{"cur", "new", "tmp"}));
}

TEST_F(FolderTest, EnsureExistsMarksMaildirPlusPlusSubfolders) {
  Folder sub(m_temp.path() / "Mail" / ".A.B");
  EXPECT_FALSE(sub.exists());
  sub.ensure_exists(Layout::MaildirPlusPlus, FolderRole::Subfolder);
  EXPECT_TRUE(sub.exists());
  EXPECT_TRUE(fs::is_regular_file(sub.path() / "maildirfolder"));
  EXPECT_EQ(fs::file_size(sub.path() / "maildirfolder"), 0u);

  Folder inbox(m_temp.path() / "PlusPlus");
  inbox.ensure_exists(Layout::MaildirPlusPlus, FolderRole::Inbox);
  EXPECT_FALSE(fs::exists(inbox.path() / "maildirfolder"));
}

TEST_F(FolderTest, EnsureExistsRefusesAFileInTheWay) {
  write_file(m_temp.path() / "file", "x");
  Folder folder(m_temp.path() / "file" / "sub");
  EXPECT_THROW(folder.ensure_exists(Layout::Verbatim, FolderRole::Subfolder), util::Error);
}

TEST_F(FolderTest, EnsureExistsSaysWhetherItCreatedTheFolder) {
  EXPECT_FALSE(m_folder.ensure_exists(Layout::Verbatim, FolderRole::Inbox));
  Folder fresh(m_temp.path() / "Mail" / "Fresh");
  EXPECT_TRUE(fresh.ensure_exists(Layout::Verbatim, FolderRole::Subfolder));
  EXPECT_FALSE(fresh.ensure_exists(Layout::Verbatim, FolderRole::Subfolder));
}

// Only a missing folder or cur/ is Gone: that is what may mean its messages
// were deleted. A missing new/ or tmp/ leaves the messages in cur/.
TEST_F(FolderTest, PresenceIsGoneOnlyWithoutTheFolderOrItsCur) {
  EXPECT_EQ(m_folder.presence(), Presence::Present);
  EXPECT_EQ(Folder(m_temp.path() / "Mail" / "None").presence(), Presence::Gone);
  fs::remove(m_folder.path() / "tmp");
  EXPECT_EQ(m_folder.presence(), Presence::Incomplete);
  fs::remove(m_folder.path() / "cur");
  EXPECT_EQ(m_folder.presence(), Presence::Gone);
}

// Returns the message of the util::Error that `f` throws, or "" if none.
template <typename F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const util::Error& e) {
    EXPECT_EQ(e.scope(), util::Scope::Folder);
    return e.what();
  }
  ADD_FAILURE() << "no error";
  return "";
}

TEST_F(FolderTest, PresenceNamesAFileWhereADirectoryBelongs) {
  for (const char* sub : {"tmp", "new", "cur"}) {
    TempDir temp;
    Folder folder(temp.path() / "F");
    folder.ensure_exists(Layout::Verbatim, FolderRole::Subfolder);
    fs::remove(folder.path() / sub);
    write_file(folder.path() / sub, "x");
    std::string error = error_of([&] { folder.presence(); });
    EXPECT_NE(error.find((folder.path() / sub).string() + " is not a directory"), std::string::npos)
        << error;
    EXPECT_NE(error.find("move it away"), std::string::npos) << error;
  }
  // The folder's own name is a file.
  write_file(m_temp.path() / "Mail" / "File", "x");
  std::string error = error_of([&] { Folder(m_temp.path() / "Mail" / "File").presence(); });
  EXPECT_NE(error.find("/Mail/File is not a directory"), std::string::npos) << error;
  // A part of the path above the folder is a file (ENOTDIR).
  error = error_of([&] { Folder(m_temp.path() / "Mail" / "File" / "Sub").presence(); });
  EXPECT_NE(error.find("a part of its path is a file"), std::string::npos) << error;
}

TEST_F(FolderTest, PresenceOfAnUnreadableFolderIsAnErrorThatSaysSo) {
  if (::geteuid() == 0) {
    GTEST_SKIP() << "permission bits do not stop root";
  }
  fs::permissions(m_folder.path(), fs::perms::none);
  std::string error = error_of([&] { m_folder.presence(); });
  fs::permissions(m_folder.path(), fs::perms::owner_all);
  EXPECT_NE(error.find("/INBOX/cur: Permission denied; fix its permissions"), std::string::npos)
      << error;
}

// A mail reader renames files between roam's scan and its next look: the
// file is found again by its stable name.
TEST_F(FolderTest, OpenFollowsAFileRenamedSinceTheScan) {
  deliver({"Subject: x\r\n\r\nbody\r\n"}, "1.a.host", "S");
  Entry entry = entry_for("1.a.host");
  fs::rename(entry.path, m_folder.path() / "cur" / "1.a.host:2,RS");
  util::Fd fd = m_folder.open(entry);
  ASSERT_TRUE(fd);
  EXPECT_EQ(util::read_all(fd.get(), "test"), "Subject: x\n\nbody\n");
  EXPECT_EQ(entry.path, m_folder.path() / "cur" / "1.a.host:2,RS");
  EXPECT_EQ(entry.letters, "RS");

  fs::remove(entry.path);
  EXPECT_FALSE(m_folder.open(entry));
  EXPECT_FALSE(m_folder.find("1.a.host"));
}

TEST_F(FolderTest, FindLooksInNewAndCur) {
  deliver({"Subject: x\r\n\r\n"}, "1.a.host");
  ASSERT_TRUE(m_folder.find("1.a.host"));
  EXPECT_EQ(m_folder.find("1.a.host")->subdir, Subdir::New);
  deliver({"Subject: y\r\n\r\n"}, "2.a.host", "F");
  ASSERT_TRUE(m_folder.find("2.a.host"));
  EXPECT_EQ(m_folder.find("2.a.host")->file_name(), "2.a.host:2,F");
  EXPECT_FALSE(m_folder.find("2.a"));
}

TEST_F(FolderTest, ConvertsCrLfAtEverySplitPosition) {
  const std::string input = "Subject: x\r\n\r\nline\r\nlone\rcr\r\r\nend\r\n";
  const std::string expected = "Subject: x\n\nline\nlone\rcr\r\nend\n";
  for (std::size_t split = 0; split <= input.size(); ++split) {
    SCOPED_TRACE(split);
    std::string stable = "split" + std::to_string(split);
    Delivery delivery = m_folder.begin_delivery();
    delivery.write(input.substr(0, split));
    delivery.write(input.substr(split));
    EXPECT_EQ(delivery.bytes_received(), input.size());
    fs::path path = delivery.commit(stable, "");
    EXPECT_EQ(delivery.size(), expected.size());
    EXPECT_EQ(util::read_file(path), expected);
  }
}

TEST_F(FolderTest, ConvertsCrLfByteByByteAndKeepsATrailingCr) {
  const std::string input = "a\r\n\r\rb\r";
  std::vector<std::string> chunks;
  for (char c : input) {
    chunks.emplace_back(1, c);
  }
  fs::path path = deliver(chunks, "bytes");
  EXPECT_EQ(util::read_file(path), "a\n\r\rb\r");
}

TEST_F(FolderTest, DeliversLargeMessagesThroughTheBuffer) {
  std::string input;
  std::string expected;
  for (int i = 0; i < 20000; ++i) {
    input += "line " + std::to_string(i) + "\r\n";
    expected += "line " + std::to_string(i) + "\n";
  }
  // Uneven chunks, one larger than the buffer.
  std::vector<std::string> chunks = {input.substr(0, 1000), input.substr(1000, 100000),
                                     input.substr(101000)};
  fs::path path = deliver(chunks, "large");
  EXPECT_EQ(util::read_file(path), expected);
}

TEST_F(FolderTest, CommitPlacesMessagesByLetters) {
  fs::path unread = deliver({"a\r\n"}, "unread");
  EXPECT_EQ(unread, m_folder.path() / "new" / "unread");
  fs::path seen = deliver({"b\r\n"}, "seen", "SR");
  EXPECT_EQ(seen, m_folder.path() / "cur" / "seen:2,RS");
  EXPECT_EQ(mode_of(seen), 0600u);
  EXPECT_TRUE(list_dir(m_folder.path() / "tmp").empty());
}

TEST_F(FolderTest, CommitSetsTheInternalDate) {
  using namespace std::chrono;
  const sys_seconds date{seconds{1'000'000'000}};
  Delivery delivery = m_folder.begin_delivery();
  delivery.write("x");
  fs::path path = delivery.commit("dated", "", date);
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mtim.tv_sec, 1'000'000'000);
}

// A batch larger than sync_data() fsyncs one by one takes the other way
// (one flush of the file system); every file is then committed the same.
TEST_F(FolderTest, ALargeDeferredBatchIsMadeDurableInOneFlush) {
  std::vector<Delivery> batch;
  std::vector<fs::path> files;
  for (std::size_t i = 0; i <= Folder::k_fsync_each_max; ++i) {
    Delivery delivery = m_folder.begin_delivery();
    delivery.write("m" + std::to_string(i) + "\r\n");
    delivery.finish_deferred();
    files.push_back(delivery.tmp_path());
    batch.push_back(std::move(delivery));
  }
  ASSERT_GT(files.size(), Folder::k_fsync_each_max);
  m_folder.sync_data(files);
  for (std::size_t i = 0; i < batch.size(); ++i) {
    fs::path path = batch[i].commit("big" + std::to_string(i), "");
    EXPECT_EQ(util::read_file(path), "m" + std::to_string(i) + "\n");
  }
  EXPECT_EQ(list_dir(m_folder.path() / "new").size(), files.size());
}

// A file of the batch that vanished before the flush (something removed
// it from tmp/) is an error that names it, not a silent loss.
TEST_F(FolderTest, AFileOfASmallBatchThatVanishedIsNamed) {
  Delivery delivery = m_folder.begin_delivery();
  delivery.write("x\r\n");
  delivery.finish_deferred();
  fs::path file = delivery.tmp_path();
  fs::remove(file);
  try {
    m_folder.sync_data({file});
    FAIL() << "expected an error";
  } catch (const util::Error& e) {
    EXPECT_NE(std::string(e.what()).find(file.string()), std::string::npos) << e.what();
  }
}

TEST_F(FolderTest, DeferredFinishWaitsInTmpUntilCommitted) {
  // A batch: finished (closed, dated) but not durable, so still in tmp/;
  // after one sync_data() each commit only moves the file into place.
  using namespace std::chrono;
  std::vector<Delivery> batch;
  for (int i = 0; i < 3; ++i) {
    Delivery delivery = m_folder.begin_delivery();
    delivery.write("m" + std::to_string(i) + "\r\n");
    delivery.finish_deferred(sys_seconds{seconds{1'500'000'000}});
    batch.push_back(std::move(delivery));
  }
  EXPECT_EQ(list_dir(m_folder.path() / "tmp").size(), 3u);
  EXPECT_TRUE(list_dir(m_folder.path() / "new").empty());
  std::vector<fs::path> files;
  for (const auto& d : batch) {
    files.push_back(d.tmp_path());
  }
  m_folder.sync_data(files);
  for (std::size_t i = 0; i < batch.size(); ++i) {
    fs::path path = batch[i].commit("b" + std::to_string(i), i == 0 ? "S" : "");
    EXPECT_EQ(util::read_file(path), "m" + std::to_string(i) + "\n");
    struct stat st {};
    ASSERT_EQ(::stat(path.c_str(), &st), 0);
    EXPECT_EQ(st.st_mtim.tv_sec, 1'500'000'000);
  }
  EXPECT_TRUE(list_dir(m_folder.path() / "tmp").empty());
  EXPECT_EQ(list_dir(m_folder.path() / "new").size(), 2u);
  EXPECT_THROW(batch[0].finish_deferred(), util::Error);
}

TEST_F(FolderTest, AnUncommittedDeferredDeliveryLeavesNothingBehind) {
  {
    Delivery delivery = m_folder.begin_delivery();
    delivery.write("abandoned\r\n");
    delivery.finish_deferred();
  }
  EXPECT_TRUE(list_dir(m_folder.path() / "tmp").empty());
  EXPECT_TRUE(list_dir(m_folder.path() / "new").empty());
}

// A run killed after a body was whole but before its batch was moved into
// place: the next run finds it in tmp/ under the journaled name and adopts
// it; a body cut short (its size is not the one its name records) or one
// that is not a message is not adopted, and clean_tmp() removes both.
TEST_F(FolderTest, AFinishedBodyIsAdoptedFromTmpAfterAKill) {
  const fs::path done = m_folder.path() / "tmp" / "roam-done.1700000000.M1P1.host,S=21";
  const fs::path kept = m_folder.path().parent_path() / "kept";
  {
    Delivery whole = m_folder.begin_delivery();
    whole.write("Subject: whole\r\n\r\nbody\r\n");
    whole.finish_deferred();
    whole.mark_finished("1700000000.M1P1.host");
    EXPECT_EQ(whole.tmp_path(), done);
    // A kill runs no destructor, which would remove the file: keep a link.
    ASSERT_EQ(::link(done.c_str(), kept.c_str()), 0);
  }
  ASSERT_EQ(::rename(kept.c_str(), done.c_str()), 0);
  write_file(m_folder.path() / "tmp" / "roam-done.cut,S=500", "Subject: cut\n");
  write_file(m_folder.path() / "tmp" / "roam-done.junk,S=4", "\x01\x02\x03\x04");
  auto finished = m_folder.finished_bodies();
  ASSERT_EQ(finished.size(), 2u);
  EXPECT_EQ(finished.count("cut"), 0u) << "shorter than its name says";
  ASSERT_EQ(finished.count("junk"), 1u);
  EXPECT_FALSE(m_folder.adopt_finished(finished.at("junk"), "junk")) << "not a message";
  auto path = m_folder.adopt_finished(finished.at("1700000000.M1P1.host"), "1700000000.M1P1.host");
  ASSERT_TRUE(path);
  EXPECT_EQ(*path, m_folder.path() / "new" / "1700000000.M1P1.host");
  EXPECT_EQ(util::read_file(*path), "Subject: whole\n\nbody\n");
  EXPECT_EQ(m_folder.clean_tmp(), 2u);
  EXPECT_TRUE(list_dir(m_folder.path() / "tmp").empty());
}

TEST_F(FolderTest, CommitNeverOverwrites) {
  write_file(m_folder.path() / "new" / "taken", "original");
  Delivery delivery = m_folder.begin_delivery();
  delivery.write("new content\r\n");
  try {
    delivery.commit("taken", "");
    FAIL() << "commit overwrote a file";
  } catch (const util::Error& e) {
    EXPECT_EQ(e.scope(), util::Scope::Message);
  }
  EXPECT_EQ(util::read_file(m_folder.path() / "new" / "taken"), "original");
  // The delivery is still usable under another name.
  fs::path path = delivery.commit("free", "");
  EXPECT_EQ(util::read_file(path), "new content\n");
  EXPECT_TRUE(list_dir(m_folder.path() / "tmp").empty());
}

TEST_F(FolderTest, CommitRefusesInvalidStableNames) {
  Delivery delivery = m_folder.begin_delivery();
  delivery.write("x");
  EXPECT_THROW(delivery.commit("../escape", ""), util::Error);
  EXPECT_THROW(delivery.commit("a:2,S", ""), util::Error);
  EXPECT_THROW(delivery.commit(".hidden", ""), util::Error);
  EXPECT_TRUE(list_dir(m_folder.path() / "new").empty());
}

TEST_F(FolderTest, UncommittedDeliveryRemovesItsTmpFile) {
  fs::path tmp_path;
  {
    Delivery delivery = m_folder.begin_delivery();
    delivery.write("partial");
    tmp_path = delivery.tmp_path();
    EXPECT_TRUE(fs::exists(tmp_path));
    Delivery moved = std::move(delivery);
    EXPECT_EQ(moved.tmp_path(), tmp_path);
  }
  EXPECT_FALSE(fs::exists(tmp_path));
  EXPECT_TRUE(list_dir(m_folder.path() / "tmp").empty());
  EXPECT_TRUE(list_dir(m_folder.path() / "new").empty());
  EXPECT_TRUE(list_dir(m_folder.path() / "cur").empty());
}

TEST_F(FolderTest, SetFlagsMovesFromNewToCurKeepingTheStableName) {
  deliver({"x"}, "msg");
  Entry entry = entry_for("msg");
  EXPECT_EQ(entry.subdir, Subdir::New);

  std::optional<Entry> renamed = m_folder.set_flags(entry, "S");
  ASSERT_TRUE(renamed);
  EXPECT_EQ(renamed->stable_name, "msg");
  EXPECT_EQ(renamed->subdir, Subdir::Cur);
  EXPECT_EQ(renamed->path, m_folder.path() / "cur" / "msg:2,S");
  EXPECT_EQ(util::read_file(renamed->path), "x");
  EXPECT_TRUE(list_dir(m_folder.path() / "new").empty());

  std::optional<Entry> cleared = m_folder.set_flags(*renamed, "");
  ASSERT_TRUE(cleared);
  EXPECT_EQ(cleared->path, m_folder.path() / "cur" / "msg:2,");
  EXPECT_EQ(list_dir(m_folder.path() / "cur"), (std::vector<std::string>{"msg:2,"}));
}

TEST_F(FolderTest, SetFlagsKeepsUnknownLettersAndExtraInfo) {
  write_file(m_folder.path() / "cur" / "msg:2,Sa,ext", "x");
  Entry entry = entry_for("msg");
  EXPECT_EQ(entry.letters, "Sa");
  std::optional<Entry> renamed = m_folder.set_flags(entry, "FS");
  ASSERT_TRUE(renamed);
  EXPECT_EQ(renamed->file_name(), "msg:2,FSa,ext");
  EXPECT_EQ(renamed->letters, "FSa");
  EXPECT_TRUE(fs::exists(renamed->path));
}

TEST_F(FolderTest, SetFlagsWithUnchangedLettersDoesNothing) {
  write_file(m_folder.path() / "cur" / "msg:2,SR", "x");
  Entry entry = entry_for("msg");
  std::optional<Entry> same = m_folder.set_flags(entry, "RS");
  ASSERT_TRUE(same);
  EXPECT_EQ(same->path, entry.path);
  EXPECT_TRUE(fs::exists(m_folder.path() / "cur" / "msg:2,SR"));
}

TEST_F(FolderTest, SetFlagsReportsAVanishedFile) {
  deliver({"x"}, "gone");
  Entry entry = entry_for("gone");
  fs::remove(entry.path);
  EXPECT_FALSE(m_folder.set_flags(entry, "S").has_value());
}

TEST_F(FolderTest, SetFlagsNeverOverwrites) {
  deliver({"mine"}, "msg");
  write_file(m_folder.path() / "cur" / "msg:2,S", "copy");
  Entry in_new;
  for (const Entry& entry : m_folder.scan().entries) {
    if (entry.subdir == Subdir::New) {
      in_new = entry;
    }
  }
  ASSERT_EQ(in_new.file_name(), "msg");
  EXPECT_THROW(m_folder.set_flags(in_new, "S"), util::Error);
  EXPECT_EQ(util::read_file(m_folder.path() / "cur" / "msg:2,S"), "copy");
  EXPECT_EQ(util::read_file(m_folder.path() / "new" / "msg"), "mine");
}

TEST_F(FolderTest, SetFlagsRefusesUnknownLetters) {
  deliver({"x"}, "msg");
  try {
    m_folder.set_flags(entry_for("msg"), "Sa");
    FAIL() << "an unknown letter was accepted";
  } catch (const util::Error& e) {
    EXPECT_EQ(e.scope(), util::Scope::Fatal);
  }
}

TEST_F(FolderTest, RemoveReportsVanishedFiles) {
  deliver({"x"}, "msg", "S");
  Entry entry = entry_for("msg");
  EXPECT_EQ(m_folder.remove(entry), FileStatus::Done);
  EXPECT_FALSE(fs::exists(entry.path));
  EXPECT_EQ(m_folder.remove(entry), FileStatus::Vanished);
}

TEST_F(FolderTest, ScanListsMessagesAndReportsDuplicatesAndInvalidNames) {
  write_file(m_folder.path() / "new" / "one", "1");
  write_file(m_folder.path() / "cur" / "two:2,FS", "2");
  write_file(m_folder.path() / "cur" / "dup:2,S", "3");
  write_file(m_folder.path() / "cur" / "dup:2,RS", "3");
  write_file(m_folder.path() / "new" / ".dotfile", "");
  write_file(m_folder.path() / "cur" / "bad:name", "");
  write_file(m_folder.path() / "tmp" / "inprogress", "");
  fs::create_directory(m_folder.path() / "cur" / "subdir");

  ScanResult result = m_folder.scan();
  std::vector<std::string> names;
  for (const Entry& entry : result.entries) {
    names.emplace_back(entry.file_name());
  }
  EXPECT_EQ(names, (std::vector<std::string>{"dup:2,RS", "dup:2,S", "one", "two:2,FS"}));
  EXPECT_EQ(result.entries[2].subdir, Subdir::New);
  EXPECT_EQ(result.entries[2].path, m_folder.path() / "new" / "one");
  EXPECT_EQ(result.entries[3].stable_name, "two");
  EXPECT_EQ(result.entries[3].letters, "FS");
  EXPECT_EQ(result.entries[3].subdir, Subdir::Cur);

  ASSERT_EQ(result.duplicates.size(), 1u);
  EXPECT_EQ(result.duplicates[0].stable_name, "dup");
  EXPECT_EQ(result.duplicates[0].paths,
            (std::vector<fs::path>{m_folder.path() / "cur" / "dup:2,RS",
                                   m_folder.path() / "cur" / "dup:2,S"}));
  EXPECT_EQ(result.invalid_names, (std::vector<fs::path>{m_folder.path() / "cur" / "bad:name"}));
}

TEST_F(FolderTest, ScanKeepsEveryFileInOrderAroundSeveralDuplicates) {
  // Groups of copies between single files: the entries kept are compacted
  // in place, and none may be lost or moved out of name order.
  for (const char* name : {"a:2,S", "b:2,S", "b:2,F", "c", "d:2,", "d:2,R", "d:2,T", "e:2,S"}) {
    write_file(
        m_folder.path() / (std::string(name).find(':') == std::string::npos ? "new" : "cur") / name,
        name);
  }
  ScanResult result = m_folder.scan();
  std::vector<std::string> names;
  for (const Entry& entry : result.entries) {
    names.emplace_back(entry.file_name());
    EXPECT_EQ(entry.path,
              (m_folder.path() / (entry.subdir == Subdir::New ? "new" : "cur") / entry.file_name())
                  .string());
  }
  EXPECT_EQ(names, (std::vector<std::string>{"a:2,S", "b:2,F", "b:2,S", "c", "d:2,", "d:2,R",
                                             "d:2,T", "e:2,S"}));
  ASSERT_EQ(result.duplicates.size(), 2u);
  EXPECT_EQ(result.duplicates[0].stable_name, "b");
  EXPECT_EQ(result.duplicates[0].paths.size(), 2u);
  EXPECT_EQ(result.duplicates[1].stable_name, "d");
  EXPECT_EQ(result.duplicates[1].paths.size(), 3u);
}

TEST_F(FolderTest, ScanOfAMissingFolderThrows) {
  Folder missing(m_temp.path() / "nothing");
  EXPECT_THROW(missing.scan(), util::Error);
}

TEST_F(FolderTest, CleanTmpRemovesOnlyOldFiles) {
  const fs::path old_file = m_folder.path() / "tmp" / "old";
  const fs::path fresh_file = m_folder.path() / "tmp" / "fresh";
  write_file(old_file, "old");
  write_file(fresh_file, "fresh");
  struct timeval times[2] = {};
  times[0].tv_sec = ::time(nullptr) - 37 * 3600;
  times[1] = times[0];
  ASSERT_EQ(::utimes(old_file.c_str(), times), 0);

  EXPECT_EQ(m_folder.clean_tmp(), 1u);
  EXPECT_FALSE(fs::exists(old_file));
  EXPECT_TRUE(fs::exists(fresh_file));
}

TEST_F(FolderTest, AStashedMessageIsAdoptedByAnotherFolder) {
  // A message the server moved between folders: the file leaves INBOX but
  // its stash in tmp/ lets the other folder take it without a download.
  deliver({"Subject: x\r\n\r\nbody\r\n"}, "msg", "S");
  Entry entry = entry_for("msg");
  std::optional<fs::path> stashed = m_folder.stash(entry);
  ASSERT_TRUE(stashed.has_value());
  EXPECT_EQ(stashed->parent_path(), m_folder.path() / "tmp");
  EXPECT_EQ(m_folder.remove(entry), FileStatus::Done);

  Folder archive(m_temp.path() / "Mail" / "Archive");
  archive.ensure_exists(Layout::Verbatim, FolderRole::Subfolder);
  EXPECT_TRUE(archive.adopt(*stashed, "moved", "FS"));
  EXPECT_EQ(list_dir(archive.path() / "cur"), std::vector<std::string>{"moved:2,FS"});
  EXPECT_EQ(util::read_file(archive.path() / "cur" / "moved:2,FS"), "Subject: x\n\nbody\n");
  EXPECT_TRUE(list_dir(m_folder.path() / "tmp").empty());
  // Gone already: the caller downloads instead.
  EXPECT_FALSE(archive.adopt(*stashed, "again", ""));
}

TEST_F(FolderTest, AdoptNeverOverwrites) {
  deliver({"a"}, "msg");
  deliver({"b"}, "other");
  std::optional<fs::path> stashed = m_folder.stash(entry_for("other"));
  ASSERT_TRUE(stashed.has_value());
  EXPECT_THROW(m_folder.adopt(*stashed, "msg", ""), util::Error);
  EXPECT_EQ(util::read_file(m_folder.path() / "new" / "msg"), "a");
}

TEST_F(FolderTest, CleanTmpRemovesStashesWhateverTheirAge) {
  deliver({"x"}, "msg");
  std::optional<fs::path> stashed = m_folder.stash(entry_for("msg"));
  ASSERT_TRUE(stashed.has_value());
  EXPECT_EQ(m_folder.clean_tmp(), 1u);
  EXPECT_FALSE(fs::exists(*stashed));
  EXPECT_TRUE(fs::exists(m_folder.path() / "new" / "msg"));
}

TEST_F(FolderTest, CleanTmpRemovesABodyAKilledRunLeft) {
  // A download in progress when roam was killed (or stopped by a second
  // Ctrl-C): its part file goes at once; another program's fresh file in
  // tmp/ stays (it may be a delivery in progress).
  Delivery d = m_folder.begin_delivery();
  d.write("Subject: x\r\n\r\nbody\r\n");
  fs::path part = d.tmp_path();
  EXPECT_EQ(part.filename().string().rfind("roam-part.", 0), 0u) << part;
  const fs::path other = m_folder.path() / "tmp" / "1700000000.P1.mda";
  write_file(other, "a delivery in progress");
  EXPECT_EQ(m_folder.clean_tmp(), 1u);
  EXPECT_FALSE(fs::exists(part));
  EXPECT_TRUE(fs::exists(other));
}

TEST_F(FolderTest, SyncDirsSucceedsOnAnExistingFolder) {
  deliver({"x"}, "msg");
  EXPECT_NO_THROW(m_folder.sync_dirs());
  Folder missing(m_temp.path() / "nothing");
  EXPECT_THROW(missing.sync_dirs(), util::Error);
}

}  // namespace
}  // namespace roam::maildir
