#include "state/journal.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <system_error>

#include "state/folder_state.hpp"
#include "util/error.hpp"
#include "util/log.hpp"

namespace roam::state {

namespace {
std::atomic<std::uint64_t> g_stop_after{0};
std::atomic<std::uint64_t> g_steps{0};
std::uint64_t g_signal_after = 0;
int g_signal = 0;
int g_signal_times = 0;
}  // namespace

void set_signal_after_steps(std::uint64_t n, int sig, int times) {
  g_signal_after = n;
  g_signal = sig;
  g_signal_times = times;
}

void set_stop_after_steps(std::uint64_t n) {
  g_stop_after = n;
}

void count_step() {
  std::uint64_t now = ++g_steps;
  if (g_stop_after != 0 && now >= g_stop_after) {
    // Like a kill: no destructors, no flushing of buffers, no state commit.
    std::_Exit(100);
  }
  if (g_signal_after != 0 && now == g_signal_after) {
    for (int i = 0; i < g_signal_times; ++i) {
      std::raise(g_signal);
    }
  }
}

std::uint64_t steps_counted() {
  return g_steps;
}

namespace fs = std::filesystem;
using util::Error;
using util::Scope;

namespace {

constexpr std::string_view k_journal_hint =
    "; roam will not sync this folder until the journal is repaired or removed (removing it "
    "makes the next run redo or re-match the steps of the interrupted run)";

fs::path parent_or_dot(const fs::path& path) {
  return path.has_parent_path() ? path.parent_path() : fs::path(".");
}

// Flushes file data (and the size, which reading the data needs) to disk.
void datasync(int fd, const fs::path& path) {
#ifdef __linux__
  int rc = ::fdatasync(fd);
#else
  int rc = ::fsync(fd);
#endif
  if (rc != 0) {
    throw Error(Scope::Folder, util::errno_message("cannot sync journal " + path.string()));
  }
}

// Returns the length of the file's prefix that ends with its last '\n' (0 if
// there is none), reading backwards from `size`.
off_t complete_prefix_length(int fd, off_t size, const fs::path& path) {
  char buf[4096];
  off_t end = size;
  while (end > 0) {
    off_t start = end > static_cast<off_t>(sizeof buf) ? end - static_cast<off_t>(sizeof buf) : 0;
    auto want = static_cast<std::size_t>(end - start);
    ssize_t got = ::pread(fd, buf, want, start);
    if (got < 0) {
      if (errno == EINTR) {
        continue;
      }
      throw Error(Scope::Folder, util::errno_message("cannot read journal " + path.string()));
    }
    if (static_cast<std::size_t>(got) != want) {
      throw Error(Scope::Folder, "journal " + path.string() + " shrank while being opened");
    }
    for (std::size_t i = want; i > 0; --i) {
      if (buf[i - 1] == '\n') {
        return start + static_cast<off_t>(i);
      }
    }
    end = start;
  }
  return 0;
}

[[noreturn]] void throw_corrupt(const fs::path& path, std::size_t line, const std::string& detail) {
  throw Error(Scope::Folder, "journal " + path.string() + " line " + std::to_string(line) +
                                 " is corrupt: " + detail + std::string(k_journal_hint));
}

}  // namespace

fs::path journal_file_for(const fs::path& state_file) {
  fs::path out = state_file;
  out += ".journal";
  return out;
}

Journal::Journal(fs::path path, util::Fd fd) : m_path(std::move(path)), m_fd(std::move(fd)) {}

Journal Journal::open(const fs::path& path, const nlohmann::json& header) {
  if (!header.is_object()) {
    throw Error(Scope::Fatal, "journal header for " + path.string() + " is not a JSON object");
  }
  util::Fd fd(::open(path.c_str(), O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0600));
  if (!fd) {
    throw Error(Scope::Folder, util::errno_message("cannot open journal " + path.string()));
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) {
    throw Error(Scope::Folder, util::errno_message("cannot stat journal " + path.string()));
  }
  off_t keep = complete_prefix_length(fd.get(), st.st_size, path);
  if (keep != st.st_size) {
    // A torn line from a crash. Appending after it would glue the next entry
    // onto it and turn it into a corrupt line in the middle of the file.
    ROAM_DEBUG(util::k_cat_state,
               "cutting a torn line of " << (st.st_size - keep) << " bytes off " << path.string());
    if (::ftruncate(fd.get(), keep) != 0) {
      throw Error(Scope::Folder, util::errno_message("cannot truncate journal " + path.string()));
    }
  }
  Journal journal(path, std::move(fd));
  if (keep == 0) {
    nlohmann::json first = header;
    first["roam_journal"] = k_journal_version;
    journal.append(first);
    journal.sync();
  }
  return journal;
}

Journal::~Journal() {
  if (!m_fd || m_broken || m_buffer.empty()) {
    return;
  }
  try {
    write_buffer();
  } catch (const std::exception& e) {
    ROAM_WARN("could not write the last journal entries to " << m_path.string() << ": "
                                                             << e.what());
  }
}

void Journal::append(const nlohmann::json& entry) {
  if (m_broken) {
    throw Error(Scope::Folder, "journal " + m_path.string() +
                                   " may end in a partial entry after a failed write; nothing "
                                   "more is appended to it this run");
  }
  if (!entry.is_object()) {
    throw Error(Scope::Fatal, "journal entry for " + m_path.string() + " is not a JSON object");
  }
  try {
    // dump() without indentation escapes control characters, so the entry
    // is a single line. A Maildir name or a Message-ID need not be UTF-8,
    // which JSON requires; they are stored as in the state file.
    const nlohmann::json* line = &entry;
    nlohmann::json escaped;
    auto store = [&](const char* key, auto&& storable) {
      auto it = entry.find(key);
      if (it == entry.end() || !it->is_string()) {
        return;
      }
      std::string stored = storable(it->template get_ref<const std::string&>());
      if (stored != it->template get_ref<const std::string&>()) {
        if (line != &escaped) {
          escaped = entry;
          line = &escaped;
        }
        escaped[key] = std::move(stored);
      }
    };
    store("name", [](std::string_view text) { return escape_name(text); });
    store("message_id", [](std::string_view text) { return storable_message_id(text); });
    m_buffer += line->dump();
  } catch (const nlohmann::json::exception& e) {
    throw Error(Scope::Folder,
                "cannot journal an entry to " + m_path.string() + ": " + std::string(e.what()));
  }
  m_buffer += '\n';
}

void Journal::write_buffer() {
  if (m_buffer.empty()) {
    return;
  }
  try {
    util::write_all(m_fd.get(), m_buffer, "journal " + m_path.string());
  } catch (...) {
    m_broken = true;
    throw;
  }
  m_buffer.clear();
}

void Journal::sync() {
  write_buffer();
  datasync(m_fd.get(), m_path);
  if (m_dir_sync_pending) {
    // fdatasync covers the file's contents, not the directory entry that
    // names a new file.
    util::fsync_dir(parent_or_dot(m_path));
    m_dir_sync_pending = false;
  }
}

std::vector<nlohmann::json> Journal::read(const fs::path& path) {
  std::vector<nlohmann::json> entries;
  std::error_code ec;
  auto status = fs::symlink_status(path, ec);
  if (ec && ec != std::errc::no_such_file_or_directory) {
    throw Error(Scope::Folder, "cannot examine journal " + path.string() + ": " + ec.message());
  }
  if (!fs::exists(status)) {
    return entries;
  }
  std::string text = util::read_file(path);
  std::size_t line_number = 0;
  std::size_t pos = 0;
  while (pos < text.size()) {
    auto newline = text.find('\n', pos);
    if (newline == std::string::npos) {
      ROAM_DEBUG(util::k_cat_state, "ignoring a torn last line of "
                                        << (text.size() - pos) << " bytes in " << path.string());
      break;
    }
    ++line_number;
    std::string_view line(text.data() + pos, newline - pos);
    pos = newline + 1;
    nlohmann::json entry;
    try {
      entry = nlohmann::json::parse(line);
    } catch (const nlohmann::json::parse_error& e) {
      throw_corrupt(path, line_number, std::string("not valid JSON (") + e.what() + ")");
    }
    if (!entry.is_object()) {
      throw_corrupt(path, line_number, "not a JSON object");
    }
    // Names are stored escaped (see append); a broken escape is left as it
    // is, and the entry's reader refuses the name.
    auto name = entry.find("name");
    if (name != entry.end() && name->is_string()) {
      if (auto raw = unescape_name(name->get_ref<const std::string&>())) {
        *name = std::move(*raw);
      }
    }
    if (line_number == 1) {
      auto version = entry.find("roam_journal");
      if (version == entry.end() || !version->is_number_unsigned() ||
          version->get<std::uint64_t>() == 0) {
        throw_corrupt(path, line_number, "not a roam journal header (no \"roam_journal\" version)");
      }
      if (version->get<std::uint64_t>() > static_cast<std::uint64_t>(k_journal_version)) {
        throw Error(Scope::Folder, "journal " + path.string() + " has format version " +
                                       std::to_string(version->get<std::uint64_t>()) +
                                       ", but this roam reads only up to " +
                                       std::to_string(k_journal_version) +
                                       "; finish the interrupted sync with the roam that wrote it");
      }
    }
    entries.push_back(std::move(entry));
  }
  return entries;
}

void Journal::remove(const fs::path& path) {
  if (::unlink(path.c_str()) != 0) {
    if (errno == ENOENT) {
      return;
    }
    throw Error(Scope::Folder, util::errno_message("cannot remove journal " + path.string()));
  }
  util::fsync_dir(parent_or_dot(path));
}

}  // namespace roam::state
