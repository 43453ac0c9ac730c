#include "util/fs.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>

#include "util/error.hpp"

namespace roam::util {

Fd& Fd::operator=(Fd&& other) noexcept {
  if (this != &other) {
    if (m_fd >= 0) {
      ::close(m_fd);
    }
    m_fd = other.release();
  }
  return *this;
}

Fd::~Fd() {
  if (m_fd >= 0) {
    ::close(m_fd);
  }
}

void write_all(int fd, std::string_view data, std::string_view what) {
  const char* p = data.data();
  std::size_t left = data.size();
  while (left > 0) {
    ssize_t n = ::write(fd, p, left);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      throw Error(Scope::Folder, errno_message("cannot write " + std::string(what)));
    }
    p += n;
    left -= static_cast<std::size_t>(n);
  }
}

void fsync_fd(int fd, std::string_view what) {
  if (::fsync(fd) != 0) {
    throw Error(Scope::Folder, errno_message("cannot fsync " + std::string(what)));
  }
}

void fsync_dir(const fs::path& dir) {
  Fd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd) {
    throw Error(Scope::Folder, errno_message("cannot open directory " + dir.string()));
  }
  // Some file systems refuse fsync on directories (EINVAL); they have no
  // stronger guarantee to offer, so that is not an error.
  if (::fsync(fd.get()) != 0 && errno != EINVAL) {
    throw Error(Scope::Folder, errno_message("cannot fsync directory " + dir.string()));
  }
}

void syncfs_dir(const fs::path& dir) {
  Fd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd) {
    throw Error(Scope::Folder, errno_message("cannot open directory " + dir.string()));
  }
  if (::syncfs(fd.get()) != 0) {
    throw Error(Scope::Folder, errno_message("cannot flush the file system of " + dir.string()));
  }
}

fs::path atomic_temp_path(const fs::path& path) {
  fs::path tmp = path;
  tmp += std::string(k_atomic_temp_infix) + std::to_string(::getpid());
  return tmp;
}

void write_file_atomic(const fs::path& path, std::string_view data, unsigned mode) {
  write_file_atomic_from(
      path, [&](const std::function<void(std::string_view)>& write) { write(data); }, mode);
}

void write_file_atomic_from(
    const fs::path& path,
    const std::function<void(const std::function<void(std::string_view)>&)>& produce,
    unsigned mode) {
  fs::path tmp = atomic_temp_path(path);
  Fd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode));
  if (!fd) {
    throw Error(Scope::Folder, errno_message("cannot create " + tmp.string()));
  }
  // From here on every failure removes the temporary file: a full disk
  // fails every run, and each run would leave another one behind.
  try {
    const std::string what = tmp.string();
    produce([&](std::string_view data) { write_all(fd.get(), data, what); });
    fsync_fd(fd.get(), tmp.string());
    if (::close(fd.release()) != 0) {
      throw Error(Scope::Folder, errno_message("cannot close " + tmp.string()));
    }
    if (::rename(tmp.c_str(), path.c_str()) != 0) {
      throw Error(Scope::Folder,
                  errno_message("cannot rename " + tmp.string() + " to " + path.string()));
    }
  } catch (...) {
    fd = Fd();
    ::unlink(tmp.c_str());
    throw;
  }
  fsync_dir(path.has_parent_path() ? path.parent_path() : fs::path("."));
}

std::size_t remove_stale_temp_files(const fs::path& dir) {
  std::size_t removed = 0;
  std::error_code ec;
  fs::directory_iterator it(dir, ec);
  if (ec) {
    return 0;
  }
  for (const auto& entry : it) {
    std::string name = entry.path().filename().string();
    std::size_t infix = name.rfind(k_atomic_temp_infix);
    if (infix == std::string::npos || infix == 0) {
      continue;
    }
    std::string_view digits = std::string_view(name).substr(infix + k_atomic_temp_infix.size());
    if (digits.empty() || digits.size() > 9 ||
        digits.find_first_not_of("0123456789") != std::string_view::npos) {
      continue;
    }
    auto pid = static_cast<pid_t>(std::stol(std::string(digits)));
    // A live process other than this one may be writing the file right now
    // (the other account, if two share the directory). kill(pid, 0) fails
    // with ESRCH only when no such process exists; EPERM means it lives.
    bool dead = pid == ::getpid() || (::kill(pid, 0) != 0 && errno == ESRCH);
    if (dead && ::unlink(entry.path().c_str()) == 0) {
      ++removed;
    }
  }
  return removed;
}

std::string read_file(const fs::path& path) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) {
    throw Error(Scope::Folder, errno_message("cannot open " + path.string()));
  }
  return read_all(fd.get(), path.string());
}

std::string read_all(int fd, std::string_view what) {
  // Read straight into the string, sized from fstat() for a regular file
  // (one byte more, for the read that sees the end): appending 64 KiB at a
  // time copied every byte twice and regrew the string through every power
  // of two (a 100,000-message state: 7 MB read, 16 MB copied).
  std::size_t room = 65536;
  struct stat st {};
  if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0) {
    room = static_cast<std::size_t>(st.st_size) + 1;
  }
  std::string out(room, '\0');
  std::size_t size = 0;
  for (;;) {
    if (size == out.size()) {
      // The file grew since fstat(), or its size was not known.
      out.resize(out.size() * 2);
    }
    ssize_t n = ::read(fd, out.data() + size, out.size() - size);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      throw Error(Scope::Folder, errno_message("cannot read " + std::string(what)));
    }
    if (n == 0) {
      break;
    }
    size += static_cast<std::size_t>(n);
  }
  out.resize(size);
  return out;
}

bool create_directories(const fs::path& dir, unsigned mode) {
  if (dir.empty()) {
    return false;
  }
  struct stat st {};
  if (::stat(dir.c_str(), &st) == 0) {
    if (!S_ISDIR(st.st_mode)) {
      throw Error(Scope::Folder, dir.string() + " exists and is not a directory");
    }
    return false;
  }
  if (dir.has_parent_path() && dir.parent_path() != dir) {
    create_directories(dir.parent_path(), mode);
  }
  if (::mkdir(dir.c_str(), static_cast<mode_t>(mode)) != 0 && errno != EEXIST) {
    throw Error(Scope::Folder, errno_message("cannot create directory " + dir.string()));
  }
  return true;
}

fs::path expand_user(std::string_view path) {
  if (path == "~" || path.starts_with("~/")) {
    const char* home = std::getenv("HOME");
    if (home == nullptr || *home == '\0') {
      throw Error(Scope::Usage, "cannot expand '~' in " + std::string(path) + ": HOME is not set");
    }
    return fs::path(home) / std::string(path.substr(path.size() > 1 ? 2 : 1));
  }
  return fs::path(std::string(path));
}

std::string maildir_hostname() {
  char buf[HOST_NAME_MAX + 1] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0 || buf[0] == '\0') {
    return "localhost";
  }
  std::string out;
  for (const char* p = buf; *p != '\0'; ++p) {
    if (*p == '/') {
      out += "\\057";
    } else if (*p == ':') {
      out += "\\072";
    } else {
      out += *p;
    }
  }
  return out;
}

Timestamp now() {
  struct timeval tv {};
  ::gettimeofday(&tv, nullptr);
  return {static_cast<std::int64_t>(tv.tv_sec), static_cast<std::int64_t>(tv.tv_usec)};
}

}  // namespace roam::util
