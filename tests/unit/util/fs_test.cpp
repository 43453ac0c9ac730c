#include "util/fs.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "fakes/temp_dir.hpp"
#include "util/error.hpp"

namespace roam::util {
namespace {

using fakes::TempDir;

std::vector<std::string> names_in(const fs::path& dir) {
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir)) {
    names.push_back(entry.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

void write_text(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
}

// Lowers the file size limit of this process for its lifetime, so that a
// write past `bytes` fails with EFBIG as it would on a full disk. SIGXFSZ
// is ignored meanwhile; by default it would kill the test.
class FileSizeLimit {
 public:
  explicit FileSizeLimit(rlim_t bytes) {
    ::getrlimit(RLIMIT_FSIZE, &m_old);
    m_old_handler = ::signal(SIGXFSZ, SIG_IGN);
    rlimit limit = m_old;
    limit.rlim_cur = bytes;
    ::setrlimit(RLIMIT_FSIZE, &limit);
  }
  FileSizeLimit(const FileSizeLimit&) = delete;
  FileSizeLimit& operator=(const FileSizeLimit&) = delete;
  ~FileSizeLimit() {
    ::setrlimit(RLIMIT_FSIZE, &m_old);
    ::signal(SIGXFSZ, m_old_handler);
  }

 private:
  rlimit m_old{};
  sighandler_t m_old_handler = SIG_DFL;
};

// Bytes 0..255 repeated: a NUL in the middle must not end the text.
std::string pattern(std::size_t size) {
  std::string out(size, '\0');
  for (std::size_t i = 0; i < size; ++i) {
    out[i] = static_cast<char>(i % 256);
  }
  return out;
}

TEST(ReadAll, ReadsRegularFilesOfEverySizeWhole) {
  TempDir temp;
  for (std::size_t size : {std::size_t{0}, std::size_t{1}, std::size_t{65536}, std::size_t{65537},
                           std::size_t{300000}}) {
    const fs::path path = temp.path() / ("f" + std::to_string(size));
    write_text(path, pattern(size));
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    ASSERT_GE(fd, 0);
    std::string text = read_all(fd, path.string());
    ::close(fd);
    EXPECT_EQ(text.size(), size);
    EXPECT_EQ(text, pattern(size)) << size;
  }
}

TEST(ReadAll, ReadsAPipeOfUnknownSizeWhole) {
  // A pipe has no size to go by: the text grows past the first 64 KiB.
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  const std::string sent = pattern(200000);
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::close(fds[0]);
    std::size_t done = 0;
    while (done < sent.size()) {
      ssize_t n = ::write(fds[1], sent.data() + done, sent.size() - done);
      if (n <= 0) {
        ::_exit(1);
      }
      done += static_cast<std::size_t>(n);
    }
    ::_exit(0);
  }
  ::close(fds[1]);
  std::string text = read_all(fds[0], "a pipe");
  ::close(fds[0]);
  int status = 0;
  ::waitpid(child, &status, 0);
  EXPECT_EQ(text, sent);
}

TEST(ReadAll, AFailedReadNamesWhatWasRead) {
  // A directory opens, but read() fails with EISDIR.
  TempDir temp;
  int fd = ::open(temp.path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  try {
    read_all(fd, "the test's directory");
    ADD_FAILURE() << "read_all of a directory did not throw";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("the test's directory"), std::string::npos) << e.what();
  }
  ::close(fd);
}

TEST(WriteFileAtomic, ReplacesTheFileAndLeavesNoTemporaryFile) {
  TempDir dir;
  auto path = dir.path() / "folder-X.json";
  write_text(path, "old");
  write_file_atomic(path, "new content");
  EXPECT_EQ(read_file(path), "new content");
  EXPECT_EQ(names_in(dir.path()), std::vector<std::string>{"folder-X.json"});
}

TEST(WriteFileAtomic, AFailedWriteLeavesNoTemporaryFile) {
  // A full disk under the state directory: each failed run used to leave
  // one more "folder-X.json.tmp-<pid>" behind.
  TempDir dir;
  auto path = dir.path() / "folder-X.json";
  write_text(path, "old");
  std::string big(64 * 1024, 'x');
  for (int attempt = 0; attempt < 3; ++attempt) {
    FileSizeLimit limit(1024);
    EXPECT_THROW(write_file_atomic(path, big), Error);
  }
  EXPECT_EQ(read_file(path), "old");
  EXPECT_EQ(names_in(dir.path()), std::vector<std::string>{"folder-X.json"});
}

TEST(WriteFileAtomic, ContentMadePieceByPieceIsWrittenWhole) {
  TempDir dir;
  auto path = dir.path() / "folder-X.json";
  write_text(path, "old");
  write_file_atomic_from(path, [](const std::function<void(std::string_view)>& write) {
    write("one ");
    write("");
    write(std::string(100000, 'x'));
    write(" two");
  });
  EXPECT_EQ(read_file(path), "one " + std::string(100000, 'x') + " two");
  EXPECT_EQ(names_in(dir.path()), std::vector<std::string>{"folder-X.json"});
}

TEST(WriteFileAtomic, AProducerThatThrowsHalfWayLeavesTheOldFile) {
  TempDir dir;
  auto path = dir.path() / "folder-X.json";
  write_text(path, "old");
  EXPECT_THROW(write_file_atomic_from(path,
                                      [](const std::function<void(std::string_view)>& write) {
                                        write("half of it");
                                        throw Error(Scope::Folder, "the content is invalid");
                                      }),
               Error);
  EXPECT_EQ(read_file(path), "old");
  EXPECT_EQ(names_in(dir.path()), std::vector<std::string>{"folder-X.json"});
}

TEST(WriteFileAtomic, AFailedRenameLeavesNoTemporaryFile) {
  // The target is a directory that is not empty, so rename(2) fails after
  // the temporary file was written and synced.
  TempDir dir;
  auto path = dir.path() / "folder-X.json";
  fs::create_directory(path);
  write_text(path / "inside", "x");
  EXPECT_THROW(write_file_atomic(path, "data"), Error);
  EXPECT_EQ(names_in(dir.path()), std::vector<std::string>{"folder-X.json"});
}

TEST(WriteFileAtomic, AMissingDirectoryIsAnErrorNamingTheFile) {
  TempDir dir;
  auto path = dir.path() / "missing" / "folder-X.json";
  try {
    write_file_atomic(path, "data");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(path.string()), std::string::npos) << e.what();
  }
  EXPECT_TRUE(names_in(dir.path()).empty());
}

// The pid of a process that has exited and been reaped.
pid_t dead_pid() {
  pid_t pid = ::fork();
  if (pid == 0) {
    ::_exit(0);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  return pid;
}

TEST(RemoveStaleTempFiles, RemovesOnlyThoseOfDeadProcessesAndOfThisOne) {
  TempDir dir;
  std::string dead = std::to_string(dead_pid());
  std::string self = std::to_string(::getpid());
  // pid 1 always runs: its file may be being written.
  for (const std::string& name : {"folder-A.json.tmp-" + dead, "folder-B.json.tmp-" + self,
                                  std::string("folder-C.json.tmp-1"), std::string("folder-A.json"),
                                  std::string("folder-A.json.journal"), std::string("lock"),
                                  std::string("notes.tmp-abc"), std::string(".tmp-") + dead}) {
    write_text(dir.path() / name, "x");
  }
  EXPECT_EQ(remove_stale_temp_files(dir.path()), 2U);
  EXPECT_EQ(names_in(dir.path()),
            (std::vector<std::string>{".tmp-" + dead, "folder-A.json", "folder-A.json.journal",
                                      "folder-C.json.tmp-1", "lock", "notes.tmp-abc"}));
}

TEST(RemoveStaleTempFiles, AMissingDirectoryIsNoError) {
  TempDir dir;
  EXPECT_EQ(remove_stale_temp_files(dir.path() / "missing"), 0U);
}

}  // namespace
}  // namespace roam::util
