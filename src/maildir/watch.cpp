#include "maildir/watch.hpp"

#include <sys/inotify.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <system_error>
#include <utility>
#include <vector>

#include "util/error.hpp"

namespace roam::maildir {

namespace fs = std::filesystem;
using util::Error;
using util::Scope;

namespace {

// A message file arrives (renamed from tmp/, or written in place by a
// tool that does so), is renamed (flags), moves between new/ and cur/, or
// is removed.
constexpr std::uint32_t k_message_events = IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO;
// A folder is made, renamed or removed.
constexpr std::uint32_t k_folder_events =
    IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_ONLYDIR;
// Deep enough for any real folder tree; a loop of bind mounts is not
// followed for ever.
constexpr int k_max_depth = 32;

bool is_maildir_part(const fs::path& p) {
  const auto name = p.filename();
  return name == "cur" || name == "new" || name == "tmp";
}

}  // namespace

ChangeWatch::ChangeWatch(const Tree& tree) : m_tops(tree.tops()) {
  m_fd = util::Fd(::inotify_init1(IN_NONBLOCK | IN_CLOEXEC));
  if (!m_fd) {
    throw Error(Scope::Account,
                util::errno_message("cannot watch the Maildir " + m_tops.front().string() +
                                    " for changes (inotify_init1); raise "
                                    "fs.inotify.max_user_instances with sysctl"));
  }
  rescan();
}

void ChangeWatch::add(const fs::path& dir, bool messages) {
  const int wd = ::inotify_add_watch(
      m_fd.get(), dir.c_str(),
      (messages ? k_message_events : k_folder_events) | IN_DONT_FOLLOW | IN_EXCL_UNLINK);
  if (wd < 0) {
    if (errno == ENOENT || errno == ENOTDIR) {
      return;  // Gone since it was listed; the next rescan sees.
    }
    if (errno == ENOSPC) {
      throw Error(Scope::Account, "cannot watch " + dir.string() +
                                      ": the system's inotify watches are used up; raise "
                                      "fs.inotify.max_user_watches with sysctl");
    }
    throw Error(Scope::Account, util::errno_message("cannot watch " + dir.string()));
  }
  m_paths[wd] = {dir.string(), messages};
}

void ChangeWatch::rescan() {
  for (const fs::path& top : m_tops) {
    scan(top);
  }
}

void ChangeWatch::scan(const fs::path& top) {
  std::error_code ec;
  if (!fs::is_directory(top, ec)) {
    return;
  }
  // inotify_add_watch on a directory already watched returns its old
  // descriptor, so adding everything again is how new folders are found.
  add(top, false);
  fs::recursive_directory_iterator it(top, fs::directory_options::skip_permission_denied, ec);
  for (; !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    const fs::directory_entry& entry = *it;
    if (!entry.is_directory(ec) || entry.is_symlink(ec)) {
      if (entry.is_symlink(ec)) {
        it.disable_recursion_pending();
      }
      continue;
    }
    if (is_maildir_part(entry.path())) {
      it.disable_recursion_pending();
      if (entry.path().filename() != "tmp") {
        add(entry.path(), true);
      }
      continue;
    }
    if (it.depth() >= k_max_depth) {
      it.disable_recursion_pending();
    }
    add(entry.path(), false);
  }
}

bool ChangeWatch::drain() {
  bool changed = false;
  bool rescan_needed = false;
  alignas(inotify_event) char buf[16384];
  for (;;) {
    const ssize_t n = ::read(m_fd.get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        break;
      }
      throw Error(Scope::Account, util::errno_message("reading the Maildir's change events"));
    }
    if (n == 0) {
      break;
    }
    for (ssize_t off = 0; off < n;) {
      inotify_event ev;
      std::memcpy(&ev, buf + off, sizeof ev);
      off += static_cast<ssize_t>(sizeof(inotify_event) + ev.len);
      if ((ev.mask & IN_Q_OVERFLOW) != 0) {
        changed = true;
        rescan_needed = true;
        continue;
      }
      if ((ev.mask & IN_IGNORED) != 0) {
        m_paths.erase(ev.wd);  // The directory went away.
        continue;
      }
      const auto it = m_paths.find(ev.wd);
      if (it == m_paths.end()) {
        continue;
      }
      if (it->second.second) {
        changed = true;
      } else if ((ev.mask & IN_ISDIR) != 0) {
        // A directory in a folder directory: a folder, or the cur/ and
        // new/ of one being made.
        changed = true;
        rescan_needed = true;
      }
    }
  }
  if (rescan_needed) {
    rescan();
  }
  return changed;
}

}  // namespace roam::maildir
