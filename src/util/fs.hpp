#pragma once

// Small, careful file-system helpers shared by the Maildir and state layers.
// Every function that makes data durable says so; nothing here leaves a
// half-written file under its final name.

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>

namespace roam::util {

namespace fs = std::filesystem;

// An owned POSIX file descriptor, closed on destruction. close() errors that
// matter (after writing) are checked by FileWriter, not here.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : m_fd(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  Fd(Fd&& other) noexcept : m_fd(other.release()) {}
  Fd& operator=(Fd&& other) noexcept;
  ~Fd();
  int get() const { return m_fd; }
  int release() {
    int fd = m_fd;
    m_fd = -1;
    return fd;
  }
  explicit operator bool() const { return m_fd >= 0; }

 private:
  int m_fd = -1;
};

// Writes all of `data` to `fd`, retrying short writes and EINTR. Throws
// util::Error(scope) naming `what` on failure.
void write_all(int fd, std::string_view data, std::string_view what);

// Flushes a file's data and metadata to disk.
void fsync_fd(int fd, std::string_view what);

// Makes the directory entry changes (create, rename, unlink) inside `dir`
// durable: fsync(2) on a file does not cover the entry that names it.
void fsync_dir(const fs::path& dir);

// Flushes everything written on the file system that holds `dir`
// (syncfs(2)): a batch of files made durable with one call instead of one
// fsync each.
void syncfs_dir(const fs::path& dir);

// What write_file_atomic puts between the target's name and its pid.
inline constexpr std::string_view k_atomic_temp_infix = ".tmp-";

// The temporary file write_file_atomic writes for `path`: `path.tmp-<pid>`.
fs::path atomic_temp_path(const fs::path& path);

// Replaces `path` with `data` atomically and durably: writes `path.tmp-<pid>`,
// fsyncs it, renames it over `path` and fsyncs the directory. A reader sees
// either the old or the new content, never a mix, whatever is killed when.
// When it throws (a full disk, say), the temporary file is gone; only a
// process killed while writing leaves one (see remove_stale_temp_files).
void write_file_atomic(const fs::path& path, std::string_view data, unsigned mode = 0600);

// write_file_atomic for content made piece by piece, so that a large file
// (a 100,000-message folder's state) never has to be held whole in memory:
// `produce` is called once with a function that appends bytes to the
// temporary file. When `produce` throws, the temporary file is removed and
// `path` keeps its old content.
void write_file_atomic_from(
    const fs::path& path,
    const std::function<void(const std::function<void(std::string_view)>&)>& produce,
    unsigned mode = 0600);

// Removes the `*.tmp-<pid>` files write_file_atomic left in `dir` when the
// process that wrote them was killed: those of pids that no longer run, and
// those of this process (a reused pid; call this before writing). Files of
// live processes are kept. Errors are ignored, as the files are only
// garbage. Returns how many files were removed.
std::size_t remove_stale_temp_files(const fs::path& dir);

// Reads a whole (small) file. Throws util::Error naming the path.
std::string read_file(const fs::path& path);

// Reads everything left in the open file `fd`. Throws util::Error naming
// `what` on a read error.
std::string read_all(int fd, std::string_view what);

// Creates `dir` and its parents with `mode` if missing. Returns true if it
// created anything (the caller then knows to fsync the parent).
bool create_directories(const fs::path& dir, unsigned mode = 0700);

// Expands a leading "~" or "~/" to $HOME.
fs::path expand_user(std::string_view path);

// The host name with '/' and ':' escaped as Maildir names require.
std::string maildir_hostname();

// Seconds and microseconds since the epoch.
struct Timestamp {
  std::int64_t seconds;
  std::int64_t micros;
};
Timestamp now();

}  // namespace roam::util
