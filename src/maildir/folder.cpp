#include "maildir/folder.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <memory>
#include <utility>

#include "maildir/message.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"

namespace roam::maildir {

namespace {

using util::errno_message;
using util::Error;
using util::Fd;
using util::Scope;

// Moves `from` to `to` unless `to` exists. Returns 0 or an errno value
// (EEXIST when `to` exists). renameat2(RENAME_NOREPLACE) does it in one
// step; file systems without it get link() + unlink(), which cannot
// overwrite either.
int move_no_replace(const fs::path& from, const fs::path& to) {
  if (::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_NOREPLACE) == 0) {
    return 0;
  }
  int err = errno;
  if (err != EINVAL && err != ENOSYS && err != ENOTSUP) {
    return err;
  }
  if (::link(from.c_str(), to.c_str()) != 0) {
    return errno;
  }
  if (::unlink(from.c_str()) != 0) {
    err = errno;
    if (err == ENOENT) {
      // Someone removed the old name meanwhile; the file is where it should be.
      return 0;
    }
    // Leave one name, not two: two names would look like a copied message.
    ::unlink(to.c_str());
    return err;
  }
  return 0;
}

// The name prefix of stashed files in tmp/ (Folder::stash).
constexpr std::string_view k_stash_prefix = "roam-stash.";
// Bodies being downloaded. Only roam writes these names, and only while it
// holds the account lock, so clean_tmp() removes any it finds at once: a
// run that was killed left them.
constexpr std::string_view k_part_prefix = "roam-part.";
// Bodies downloaded whole whose run was killed before they were moved into
// place: "roam-done.<stable name>,S=<size>" (Delivery::mark_finished).
constexpr std::string_view k_done_prefix = "roam-done.";
constexpr std::string_view k_done_size = ",S=";

struct DirCloser {
  void operator()(DIR* handle) const { ::closedir(handle); }
};
using DirHandle = std::unique_ptr<DIR, DirCloser>;

bool path_exists(const fs::path& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0 || errno != ENOENT;
}

struct DirStamp {
  struct timespec mtime {};
  struct timespec ctime {};
  ino_t inode = 0;

  bool operator==(const DirStamp& other) const {
    return mtime.tv_sec == other.mtime.tv_sec && mtime.tv_nsec == other.mtime.tv_nsec &&
           ctime.tv_sec == other.ctime.tv_sec && ctime.tv_nsec == other.ctime.tv_nsec &&
           inode == other.inode;
  }
};

DirStamp stamp_dir(const fs::path& dir) {
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0) {
    throw Error(Scope::Folder, errno_message("cannot stat Maildir directory " + dir.string() +
                                             " (is this a Maildir folder?)"));
  }
  return DirStamp{st.st_mtim, st.st_ctim, st.st_ino};
}

// Reads the message names of new/ or cur/ into `out`, without stat().
// The entry of file `name` in `dir` (the folder's `subdir`), parsed.
Entry make_entry(const std::string& dir, Subdir subdir, std::string_view name, ParsedName parsed) {
  Entry entry;
  entry.stable_name = std::move(parsed.stable_name);
  entry.letters = std::move(parsed.letters);
  entry.subdir = subdir;
  entry.path.reserve(dir.size() + 1 + name.size());
  entry.path += dir;
  entry.path += '/';
  entry.path += name;
  return entry;
}

// Calls `on_name` with the name of each entry of Maildir directory `dir`
// that is not a directory, in readdir() order.
template <typename F>
void for_each_name(const fs::path& dir, F&& on_name) {
  DirHandle handle(::opendir(dir.c_str()));
  if (!handle) {
    int err = errno;
    throw Error(Scope::Folder, errno_message("cannot open Maildir directory " + dir.string(), err) +
                                   (err == EACCES ? "; fix its permissions" : ""));
  }
  for (;;) {
    errno = 0;
    struct dirent* item = ::readdir(handle.get());
    if (item == nullptr) {
      int err = errno;
      if (err != 0) {
        throw Error(Scope::Folder,
                    errno_message("cannot read Maildir directory " + dir.string(), err));
      }
      return;
    }
    if (item->d_type != DT_DIR) {
      on_name(std::string_view(item->d_name));
    }
  }
}

void read_subdir(const fs::path& folder, Subdir subdir, ScanResult& out) {
  fs::path dir = folder / std::string(to_string(subdir));
  for_each_name(dir, [&](std::string_view name) {
    switch (classify_name(name)) {
      case NameKind::Skip:
        break;
      case NameKind::Invalid:
        out.invalid_names.push_back(dir / std::string(name));
        break;
      case NameKind::Valid:
        out.entries.push_back(make_entry(dir.native(), subdir, name, parse_name(name)));
        break;
    }
  });
}

// Sorts the entries and finds stable names seen more than once. A file that
// a mail reader renamed while we read the directories can be seen under both
// names; only names whose files all still exist count as duplicates.
void find_duplicates(ScanResult& out) {
  // One comparison of the names per step: they share long prefixes (the
  // time of delivery), and a second one showed in the profile of a
  // 100,000-file folder.
  std::sort(out.entries.begin(), out.entries.end(), [](const Entry& a, const Entry& b) {
    int order = a.stable_name.compare(b.stable_name);
    return order != 0 ? order < 0 : a.path < b.path;
  });
  // The entries kept are moved down in place (to `kept`, never past the
  // one being read): a second vector of 100,000 entries cost its pages
  // and a move of each.
  std::vector<Entry>& entries = out.entries;
  std::size_t kept = 0;
  auto keep = [&](std::size_t j) {
    if (kept != j) {
      entries[kept] = std::move(entries[j]);
    }
    ++kept;
  };
  std::size_t i = 0;
  while (i < entries.size()) {
    std::size_t end = i + 1;
    while (end < entries.size() && entries[end].stable_name == entries[i].stable_name) {
      ++end;
    }
    if (end - i == 1) {
      keep(i);
    } else {
      DuplicateName duplicate{entries[i].stable_name, {}};
      for (std::size_t j = i; j < end; ++j) {
        if (path_exists(entries[j].path)) {
          duplicate.paths.push_back(entries[j].path);
          keep(j);
        }
      }
      if (duplicate.paths.size() > 1) {
        out.duplicates.push_back(std::move(duplicate));
      }
    }
    i = end;
  }
  entries.erase(entries.begin() + static_cast<std::ptrdiff_t>(kept), entries.end());
  // The vector grew by doubling while the directories were read; the
  // entries live as long as the folder's sync, through its peak, and for
  // 100,000 files the unused part is 4 MB (massif).
  entries.shrink_to_fit();
}

// Creates one directory. Returns true if it created it.
bool make_dir(const fs::path& dir) {
  if (::mkdir(dir.c_str(), 0700) == 0) {
    return true;
  }
  int err = errno;
  struct stat st {};
  if (err == EEXIST && ::stat(dir.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
    return false;
  }
  if (err == EEXIST) {
    throw Error(Scope::Folder, dir.string() + " exists and is not a directory; move it away");
  }
  throw Error(Scope::Folder, errno_message("cannot create directory " + dir.string(), err));
}

// Creates `dir` and its missing parents, fsyncing the parent of each
// directory created so that the new entries survive a crash.
void make_dirs(const fs::path& dir) {
  std::vector<fs::path> missing;
  fs::path current = dir.lexically_normal();
  if (!current.empty() && current.filename().empty()) {
    current = current.parent_path();  // A trailing '/' names the same directory.
  }
  for (;;) {
    struct stat st {};
    if (::stat(current.c_str(), &st) == 0) {
      if (!S_ISDIR(st.st_mode)) {
        throw Error(Scope::Folder,
                    current.string() + " exists and is not a directory; move it away");
      }
      break;
    }
    missing.push_back(current);
    fs::path parent = current.parent_path();
    if (parent.empty() || parent == current) {
      break;
    }
    current = parent;
  }
  for (auto it = missing.rbegin(); it != missing.rend(); ++it) {
    if (make_dir(*it)) {
      fs::path parent = it->parent_path();
      util::fsync_dir(parent.empty() ? fs::path(".") : parent);
    }
  }
}

// True if `dir` is a directory, false if nothing has its name. Whatever
// else is there is an error that names the problem: a Maildir directory
// that cannot be read, or that is a file, is not a deleted folder.
bool dir_present(const fs::path& dir) {
  struct stat st {};
  if (::stat(dir.c_str(), &st) == 0) {
    if (S_ISDIR(st.st_mode)) {
      return true;
    }
    throw Error(Scope::Folder, dir.string() +
                                   " is not a directory, but a Maildir folder needs cur/, new/ "
                                   "and tmp/ directories; move it away");
  }
  int err = errno;
  switch (err) {
    case ENOENT:
      return false;
    case EACCES:
      throw Error(Scope::Folder,
                  errno_message("cannot read " + dir.string(), err) + "; fix its permissions");
    case ENOTDIR:
      throw Error(Scope::Folder, errno_message("cannot read " + dir.string(), err) +
                                     " (a part of its path is a file); move that file away");
    default:
      throw Error(Scope::Folder, errno_message("cannot read " + dir.string(), err));
  }
}

bool is_valid_info_letter(char c) {
  return c > 0x20 && c < 0x7f && c != ',';
}

}  // namespace

// ---------------------------------------------------------------------------
// Delivery

Delivery::Delivery(fs::path folder, fs::path tmp_path, util::Fd fd)
    : m_folder(std::move(folder)), m_tmp_path(std::move(tmp_path)), m_fd(std::move(fd)) {
  m_buffer.reserve(k_buffer_size);
}

Delivery::Delivery(Delivery&& other) noexcept
    : m_folder(std::move(other.m_folder)),
      m_tmp_path(std::move(other.m_tmp_path)),
      m_fd(std::move(other.m_fd)),
      m_buffer(std::move(other.m_buffer)),
      m_written(other.m_written),
      m_received(other.m_received),
      m_pending_cr(other.m_pending_cr),
      m_file_finished(other.m_file_finished) {
  other.m_tmp_path.clear();
}

Delivery& Delivery::operator=(Delivery&& other) noexcept {
  if (this != &other) {
    discard();
    m_folder = std::move(other.m_folder);
    m_tmp_path = std::move(other.m_tmp_path);
    m_fd = std::move(other.m_fd);
    m_buffer = std::move(other.m_buffer);
    m_written = other.m_written;
    m_received = other.m_received;
    m_pending_cr = other.m_pending_cr;
    m_file_finished = other.m_file_finished;
    other.m_tmp_path.clear();
  }
  return *this;
}

Delivery::~Delivery() {
  discard();
}

void Delivery::discard() noexcept {
  m_fd = Fd();
  if (!m_tmp_path.empty()) {
    ::unlink(m_tmp_path.c_str());
    m_tmp_path.clear();
  }
}

void Delivery::write(const char* data, std::size_t size) {
  if (!m_fd || m_file_finished) {
    throw Error(Scope::Fatal,
                "internal error: write to a finished delivery in " + m_folder.string());
  }
  m_received += size;
  const char* p = data;
  const char* end = data + size;
  if (m_pending_cr && p < end) {
    m_pending_cr = false;
    if (*p == '\n') {
      append("\n", 1);
      ++p;
    } else {
      append("\r", 1);
    }
  }
  while (p < end) {
    const void* found = std::memchr(p, '\r', static_cast<std::size_t>(end - p));
    if (found == nullptr) {
      append(p, static_cast<std::size_t>(end - p));
      break;
    }
    const char* cr = static_cast<const char*>(found);
    append(p, static_cast<std::size_t>(cr - p));
    if (cr + 1 == end) {
      // Whether this CR ends a line depends on the next chunk.
      m_pending_cr = true;
      break;
    }
    if (cr[1] == '\n') {
      append("\n", 1);
      p = cr + 2;
    } else {
      append("\r", 1);
      p = cr + 1;
    }
  }
}

void Delivery::append(const char* data, std::size_t size) {
  if (m_buffer.size() + size > k_buffer_size) {
    flush_buffer();
  }
  if (size >= k_buffer_size) {
    util::write_all(m_fd.get(), std::string_view(data, size), m_tmp_path.string());
    m_written += size;
    return;
  }
  m_buffer.append(data, size);
}

void Delivery::flush_buffer() {
  if (m_buffer.empty()) {
    return;
  }
  util::write_all(m_fd.get(), m_buffer, m_tmp_path.string());
  m_written += m_buffer.size();
  m_buffer.clear();
}

void Delivery::finish_file(std::optional<std::chrono::sys_seconds> mtime, Sync sync) {
  if (m_pending_cr) {
    // The message ended with a lone CR; it is kept like any lone CR.
    m_pending_cr = false;
    append("\r", 1);
  }
  flush_buffer();
  // A finished delivery may wait a while (a batch being made durable): it
  // keeps no buffer (64 KiB each, 64 per batch, three batches in flight).
  std::string().swap(m_buffer);
  if (mtime) {
    // Set before fsync so that the date is made durable with the data.
    struct timespec times[2];
    times[0].tv_sec = static_cast<time_t>(mtime->time_since_epoch().count());
    times[0].tv_nsec = 0;
    times[1] = times[0];
    if (::futimens(m_fd.get(), times) != 0) {
      throw Error(Scope::Folder, errno_message("cannot set the date of " + m_tmp_path.string()));
    }
  }
  if (sync == Sync::Now) {
    util::fsync_fd(m_fd.get(), m_tmp_path.string());
  }
  // close() can report a write error (e.g. on NFS) that write() did not.
  if (::close(m_fd.release()) != 0) {
    throw Error(Scope::Folder, errno_message("cannot close " + m_tmp_path.string()));
  }
  m_file_finished = true;
}

fs::path Delivery::commit(std::string_view stable_name, std::string_view letters,
                          std::optional<std::chrono::sys_seconds> mtime) {
  if (m_tmp_path.empty()) {
    throw Error(Scope::Fatal,
                "internal error: commit of a delivery that was already "
                "committed or discarded in " +
                    m_folder.string());
  }
  if (!is_valid_stable_name(stable_name)) {
    throw Error(Scope::Message, "cannot deliver a message to " + m_folder.string() + ": \"" +
                                    escape_for_display(stable_name) +
                                    "\" is not a valid Maildir file name");
  }
  if (!std::all_of(letters.begin(), letters.end(), is_valid_info_letter)) {
    throw Error(Scope::Fatal, "internal error: invalid Maildir flag letters \"" +
                                  escape_for_display(letters) + "\"");
  }
  if (!m_file_finished) {
    finish_file(mtime);
  }
  Subdir target = letters.empty() ? Subdir::New : Subdir::Cur;
  fs::path destination =
      m_folder / std::string(to_string(target)) / format_name(stable_name, letters, target);
  int err = move_no_replace(m_tmp_path, destination);
  if (err == EEXIST) {
    throw Error(Scope::Message, destination.string() +
                                    " already exists; roam never overwrites a message file. "
                                    "Deliver under another name");
  }
  if (err != 0) {
    throw Error(
        Scope::Folder,
        errno_message("cannot move " + m_tmp_path.string() + " to " + destination.string(), err));
  }
  m_tmp_path.clear();
  return destination;
}

void Delivery::finish_deferred(std::optional<std::chrono::sys_seconds> mtime) {
  if (m_tmp_path.empty() || m_file_finished) {
    throw Error(Scope::Fatal, "internal error: finish of a delivery that was already finished in " +
                                  m_folder.string());
  }
  finish_file(mtime, Sync::Deferred);
}

void Delivery::mark_finished(std::string_view stable_name) {
  if (m_tmp_path.empty() || !m_file_finished) {
    throw Error(Scope::Fatal,
                "internal error: mark_finished of an unfinished delivery in " + m_folder.string());
  }
  if (!is_valid_stable_name(stable_name)) {
    throw Error(Scope::Fatal, "internal error: \"" + escape_for_display(stable_name) +
                                  "\" is not a valid Maildir file name");
  }
  fs::path done =
      m_tmp_path.parent_path() / (std::string(k_done_prefix) + std::string(stable_name) +
                                  std::string(k_done_size) + std::to_string(m_written));
  if (::rename(m_tmp_path.c_str(), done.c_str()) != 0) {
    throw Error(Scope::Folder,
                errno_message("cannot rename " + m_tmp_path.string() + " to " + done.string()));
  }
  m_tmp_path = std::move(done);
}

// ---------------------------------------------------------------------------
// Folder

Folder::Folder(fs::path path) : m_path(std::move(path)) {}

Presence Folder::presence() const {
  if (!dir_present(m_path) || !dir_present(m_path / "cur")) {
    return Presence::Gone;
  }
  bool has_new = dir_present(m_path / "new");
  bool has_tmp = dir_present(m_path / "tmp");
  return has_new && has_tmp ? Presence::Present : Presence::Incomplete;
}

bool Folder::ensure_exists(Layout layout, FolderRole role) {
  make_dirs(m_path);
  bool created = false;
  bool created_cur = false;
  for (const char* sub : {"cur", "new", "tmp"}) {
    bool made = make_dir(m_path / sub);
    created_cur = created_cur || (made && std::string_view(sub) == "cur");
    created = created || made;
  }
  if (layout == Layout::MaildirPlusPlus && role == FolderRole::Subfolder) {
    fs::path marker = m_path / "maildirfolder";
    Fd fd(::open(marker.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600));
    if (fd) {
      if (::close(fd.release()) != 0) {
        throw Error(Scope::Folder, errno_message("cannot close " + marker.string()));
      }
      created = true;
    } else if (errno != EEXIST) {
      throw Error(Scope::Folder, errno_message("cannot create " + marker.string()));
    }
  }
  if (created) {
    util::fsync_dir(m_path);
  }
  return created_cur;
}

bool Folder::visit(const std::function<void(std::string_view stable_name,
                                            std::string_view letters)>& on_message) const {
  bool all_valid = true;
  for (Subdir subdir : {Subdir::New, Subdir::Cur}) {
    for_each_name(m_path / std::string(to_string(subdir)), [&](std::string_view name) {
      switch (classify_name(name)) {
        case NameKind::Skip:
          break;
        case NameKind::Invalid:
          all_valid = false;
          break;
        case NameKind::Valid: {
          ParsedName parsed = parse_name(name);
          on_message(parsed.stable_name, parsed.letters);
          break;
        }
      }
    });
  }
  return all_valid;
}

ScanResult Folder::scan() const {
  fs::path new_dir = m_path / "new";
  fs::path cur_dir = m_path / "cur";
  ScanResult out;
  // A mail reader renaming files while we read can make readdir() miss one;
  // a directory that changed during the pass is read again. new/ is read
  // before cur/ so that a file moving from new/ to cur/ is seen at least
  // once. After a few busy passes the last one is used.
  constexpr int k_max_passes = 4;
  for (int pass = 0; pass < k_max_passes; ++pass) {
    out = ScanResult();
    DirStamp new_before = stamp_dir(new_dir);
    DirStamp cur_before = stamp_dir(cur_dir);
    read_subdir(m_path, Subdir::New, out);
    read_subdir(m_path, Subdir::Cur, out);
    if (stamp_dir(new_dir) == new_before && stamp_dir(cur_dir) == cur_before) {
      break;
    }
  }
  find_duplicates(out);
  std::sort(out.invalid_names.begin(), out.invalid_names.end());
  return out;
}

std::optional<Entry> Folder::find(std::string_view stable_name) const {
  std::optional<Entry> found;
  for (Subdir subdir : {Subdir::New, Subdir::Cur}) {
    fs::path dir = m_path / std::string(to_string(subdir));
    for_each_name(dir, [&](std::string_view name) {
      if (classify_name(name) != NameKind::Valid) {
        return;
      }
      ParsedName parsed = parse_name(name);
      if (parsed.stable_name != stable_name) {
        return;
      }
      Entry entry = make_entry(dir.native(), subdir, name, std::move(parsed));
      if (!found || entry.path < found->path) {
        found = std::move(entry);
      }
    });
  }
  return found;
}

Fd Folder::open(Entry& entry) const {
  // A file renamed again between find() and open() is looked up again; a
  // reader that keeps renaming it for longer than that is no mail reader.
  constexpr int k_attempts = 4;
  for (int attempt = 0; attempt < k_attempts; ++attempt) {
    Fd fd(::open(entry.path.c_str(), O_RDONLY | O_CLOEXEC));
    if (fd) {
      return fd;
    }
    if (errno != ENOENT) {
      throw Error(Scope::Folder, errno_message("cannot open " + entry.path));
    }
    std::optional<Entry> now = find(entry.stable_name);
    if (!now) {
      return Fd();
    }
    entry = std::move(*now);
  }
  throw Error(Scope::Folder, "cannot open " + entry.path +
                                 ": it is renamed again and again while roam reads it; run "
                                 "roam again when the mail reader is done");
}

Delivery Folder::begin_delivery() {
  fs::path tmp_dir = m_path / "tmp";
  // The counter in the name makes a clash within this process impossible;
  // the retries cover a stale file left by an earlier process with our pid.
  constexpr int k_attempts = 8;
  for (int attempt = 0; attempt < k_attempts; ++attempt) {
    fs::path tmp_path = tmp_dir / (std::string(k_part_prefix) + new_stable_name());
    Fd fd(::open(tmp_path.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600));
    if (fd) {
      return Delivery(m_path, std::move(tmp_path), std::move(fd));
    }
    if (errno != EEXIST) {
      throw Error(Scope::Folder, errno_message("cannot create " + tmp_path.string() +
                                               " (does the Maildir folder exist?)"));
    }
  }
  throw Error(Scope::Folder, "cannot create a unique file in " + tmp_dir.string() +
                                 "; remove stale files from it");
}

std::optional<Entry> Folder::set_flags(const Entry& entry, std::string_view letters) {
  for (char c : letters) {
    if (!is_known_letter(c)) {
      throw Error(Scope::Fatal, "internal error: set_flags() got the letter '" +
                                    escape_for_display(std::string_view(&c, 1)) +
                                    "', which is not in the flag table");
    }
  }
  ParsedName parsed = parse_name(entry.file_name());
  std::string new_letters = replace_known_letters(parsed.letters, letters);
  if (new_letters == parsed.letters) {
    return entry;
  }
  Subdir target = (new_letters.empty() && entry.subdir == Subdir::New) ? Subdir::New : Subdir::Cur;
  Entry out;
  out.stable_name = entry.stable_name;
  out.letters = new_letters;
  out.subdir = target;
  out.path = (m_path / std::string(to_string(target)) /
              format_name(entry.stable_name, new_letters, target, parsed.extra))
                 .string();
  int err = move_no_replace(entry.path, out.path);
  if (err == ENOENT && !path_exists(entry.path)) {
    return std::nullopt;
  }
  if (err == EEXIST) {
    throw Error(Scope::Message, "cannot rename " + entry.path + " to " + out.path +
                                    ": that file exists (a copied message?); roam never "
                                    "overwrites a message file. Remove one of the copies");
  }
  if (err != 0) {
    throw Error(Scope::Folder,
                errno_message("cannot rename " + entry.path + " to " + out.path, err));
  }
  return out;
}

FileStatus Folder::remove(const Entry& entry) {
  if (::unlink(entry.path.c_str()) == 0) {
    return FileStatus::Done;
  }
  if (errno == ENOENT) {
    return FileStatus::Vanished;
  }
  throw Error(Scope::Folder, errno_message("cannot remove " + entry.path));
}

std::optional<fs::path> Folder::stash(const Entry& entry) {
  for (int attempt = 0; attempt < 8; ++attempt) {
    fs::path target = m_path / "tmp" / (std::string(k_stash_prefix) + new_stable_name());
    if (::link(entry.path.c_str(), target.c_str()) == 0) {
      return target;
    }
    if (errno != EEXIST) {
      return std::nullopt;
    }
  }
  return std::nullopt;
}

bool Folder::adopt(const fs::path& stashed, std::string_view stable_name,
                   std::string_view letters) {
  Subdir target = letters.empty() ? Subdir::New : Subdir::Cur;
  fs::path out =
      m_path / std::string(to_string(target)) / format_name(stable_name, letters, target, {});
  int err = move_no_replace(stashed, out);
  if (err == 0) {
    return true;
  }
  if (err == ENOENT || err == EXDEV) {
    return false;
  }
  if (err == EEXIST) {
    throw Error(Scope::Message, "cannot move " + stashed.string() + " to " + out.string() +
                                    ": that file exists; roam never overwrites a message file");
  }
  throw Error(Scope::Folder,
              errno_message("cannot move " + stashed.string() + " to " + out.string(), err));
}

std::map<std::string, fs::path> Folder::finished_bodies() const {
  std::map<std::string, fs::path> out;
  fs::path tmp_dir = m_path / "tmp";
  DirHandle handle(::opendir(tmp_dir.c_str()));
  if (!handle) {
    return out;  // No tmp/ (yet): nothing was finished there.
  }
  for (;;) {
    errno = 0;
    struct dirent* item = ::readdir(handle.get());
    if (item == nullptr) {
      break;
    }
    std::string_view name = item->d_name;
    if (!name.starts_with(k_done_prefix)) {
      continue;
    }
    std::size_t size_at = name.rfind(k_done_size);
    if (size_at == std::string_view::npos || size_at <= k_done_prefix.size()) {
      continue;
    }
    std::string stable(name.substr(k_done_prefix.size(), size_at - k_done_prefix.size()));
    std::string_view digits = name.substr(size_at + k_done_size.size());
    std::uint64_t size = 0;
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), size);
    struct stat st {};
    fs::path path = tmp_dir / std::string(name);
    if (ec != std::errc() || end != digits.data() + digits.size() ||
        !is_valid_stable_name(stable) || ::lstat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode) ||
        static_cast<std::uint64_t>(st.st_size) != size) {
      continue;
    }
    out.emplace(std::move(stable), std::move(path));
  }
  return out;
}

std::optional<fs::path> Folder::adopt_finished(const fs::path& body, std::string_view stable_name) {
  std::string content;
  try {
    content = util::read_file(body);
  } catch (const Error&) {
    return std::nullopt;
  }
  if (!why_not_a_message(content).empty()) {
    return std::nullopt;
  }
  content.clear();
  Fd fd(::open(body.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) {
    return std::nullopt;
  }
  util::fsync_fd(fd.get(), body.string());
  if (!adopt(body, stable_name, {})) {
    return std::nullopt;
  }
  return m_path / "new" / std::string(stable_name);
}

void Folder::sync_dirs() const {
  util::fsync_dir(m_path / "new");
  util::fsync_dir(m_path / "cur");
}

void Folder::sync_data(const std::vector<fs::path>& files) const {
  if (files.size() > k_fsync_each_max) {
    util::syncfs_dir(m_path / "tmp");
    return;
  }
  std::vector<Fd> fds;
  fds.reserve(files.size());
  for (const auto& file : files) {
    Fd fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) {
      throw Error(Scope::Folder, errno_message("cannot open " + file.string()));
    }
#ifdef __linux__
    // Every file's writeback starts before the first fsync waits, so that
    // the disk sees the batch at once rather than one file per wait. Only
    // a head start: a failure here (a file system without it) is left to
    // the fsync to report.
    (void)::sync_file_range(fd.get(), 0, 0, SYNC_FILE_RANGE_WRITE);
#endif
    fds.push_back(std::move(fd));
  }
  for (std::size_t i = 0; i < fds.size(); ++i) {
    util::fsync_fd(fds[i].get(), files[i].string());
  }
}

std::size_t Folder::clean_tmp(std::chrono::seconds max_age) {
  fs::path tmp_dir = m_path / "tmp";
  Fd dir_fd(::open(tmp_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dir_fd) {
    if (errno == ENOENT) {
      return 0;
    }
    throw Error(Scope::Folder, errno_message("cannot open " + tmp_dir.string()));
  }
  // fdopendir() takes over its descriptor; give it a duplicate so that
  // dir_fd stays usable for fstatat() and unlinkat().
  int dup_fd = ::fcntl(dir_fd.get(), F_DUPFD_CLOEXEC, 0);
  DirHandle handle(dup_fd >= 0 ? ::fdopendir(dup_fd) : nullptr);
  if (!handle) {
    if (dup_fd >= 0) {
      ::close(dup_fd);
    }
    throw Error(Scope::Folder, errno_message("cannot read " + tmp_dir.string()));
  }
  const std::time_t cutoff = std::time(nullptr) - static_cast<std::time_t>(max_age.count());
  std::size_t removed = 0;
  for (;;) {
    errno = 0;
    struct dirent* item = ::readdir(handle.get());
    if (item == nullptr) {
      int err = errno;
      if (err != 0) {
        throw Error(Scope::Folder, errno_message("cannot read " + tmp_dir.string(), err));
      }
      break;
    }
    if (item->d_name[0] == '.') {
      continue;
    }
    struct stat st {};
    bool stash = std::string_view(item->d_name).starts_with(k_stash_prefix) ||
                 std::string_view(item->d_name).starts_with(k_part_prefix) ||
                 std::string_view(item->d_name).starts_with(k_done_prefix);
    if (::fstatat(dir_fd.get(), item->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
        !S_ISREG(st.st_mode) || (st.st_mtim.tv_sec >= cutoff && !stash)) {
      continue;
    }
    if (::unlinkat(dir_fd.get(), item->d_name, 0) == 0) {
      ++removed;
    }
  }
  return removed;
}

}  // namespace roam::maildir
