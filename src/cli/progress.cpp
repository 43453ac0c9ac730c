#include "cli/progress.hpp"

#include <sys/ioctl.h>
#include <unistd.h>

#include <cstdio>

namespace roam::cli {

namespace {

// Redraws per second: enough to look alive, few enough that a slow
// terminal (ssh over a bad link) does not fall behind.
constexpr auto k_redraw_interval = std::chrono::milliseconds(200);

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

void write_all(int fd, const std::string& text) {
  std::size_t done = 0;
  while (done < text.size()) {
    ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n <= 0) {
      return;  // A display only: a terminal that went away loses it.
    }
    done += static_cast<std::size_t>(n);
  }
}

std::size_t terminal_width(int fd) {
  winsize ws{};
  if (::ioctl(fd, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) {
    return ws.ws_col;
  }
  return 80;
}

}  // namespace

std::string human_bytes(std::uint64_t bytes) {
  char buf[32];
  constexpr std::uint64_t k_kib = 1024;
  if (bytes >= k_kib * k_kib * k_kib) {
    std::snprintf(buf, sizeof buf, "%.1f GB", static_cast<double>(bytes) / (1 << 30));
  } else if (bytes >= k_kib * k_kib) {
    std::snprintf(buf, sizeof buf, "%.1f MB", static_cast<double>(bytes) / (1 << 20));
  } else if (bytes >= k_kib) {
    std::snprintf(buf, sizeof buf, "%.1f kB", static_cast<double>(bytes) / 1024);
  } else {
    std::snprintf(buf, sizeof buf, "%llu B", static_cast<unsigned long long>(bytes));
  }
  return buf;
}

std::string format_progress_line(std::string_view account, const ProgressCounts& c,
                                 std::size_t width) {
  std::string line = std::string(account) + ": ";
  switch (c.phase) {
    case ProgressPhase::Waiting:
      line += "waiting";
      break;
    case ProgressPhase::Connecting:
      line += "connecting";
      break;
    case ProgressPhase::Syncing:
    case ProgressPhase::Done:
      if (c.phase == ProgressPhase::Done) {
        line += "done, ";
      }
      line += std::to_string(c.folders_done) + "/" + std::to_string(c.folders_total) +
              " folders, down " + std::to_string(c.downloaded) + " (" + human_bytes(c.bytes_down) +
              "), up " + std::to_string(c.uploaded) + " (" + human_bytes(c.bytes_up) + ")";
      if (c.seconds >= 1.0) {
        auto rate =
            static_cast<std::uint64_t>(static_cast<double>(c.bytes_down + c.bytes_up) / c.seconds);
        line += ", " + human_bytes(rate) + "/s";
      }
      break;
  }
  if (width > 3 && line.size() > width) {
    line = line.substr(0, width - 3) + "...";
  }
  return line;
}

void AccountProgress::started() {
  m_start_ns = now_ns();
  m_phase = static_cast<int>(ProgressPhase::Connecting);
}

void AccountProgress::finished() {
  m_phase = static_cast<int>(ProgressPhase::Done);
}

void AccountProgress::folders_planned(std::size_t total) {
  m_folders_total = total;
  m_phase = static_cast<int>(ProgressPhase::Syncing);
}

void AccountProgress::folder_done() {
  ++m_folders_done;
}

void AccountProgress::downloaded(std::uint64_t bytes) {
  ++m_downloaded;
  m_bytes_down += bytes;
}

void AccountProgress::uploaded(std::uint64_t bytes) {
  ++m_uploaded;
  m_bytes_up += bytes;
}

ProgressCounts AccountProgress::snapshot() const {
  ProgressCounts c;
  c.phase = static_cast<ProgressPhase>(m_phase.load());
  c.folders_done = m_folders_done;
  c.folders_total = m_folders_total;
  c.downloaded = m_downloaded;
  c.bytes_down = m_bytes_down;
  c.uploaded = m_uploaded;
  c.bytes_up = m_bytes_up;
  if (c.phase != ProgressPhase::Waiting) {
    c.seconds = static_cast<double>(now_ns() - m_start_ns.load()) / 1e9;
  }
  return c;
}

ProgressBoard::ProgressBoard(std::vector<std::string> accounts, int fd)
    : m_accounts(std::move(accounts)), m_fd(fd) {
  for (std::size_t i = 0; i < m_accounts.size(); ++i) {
    m_progress.push_back(std::make_unique<AccountProgress>());
  }
}

ProgressBoard::~ProgressBoard() {
  stop();
}

void ProgressBoard::start() {
  m_thread = std::thread([this] { run(); });
}

void ProgressBoard::stop() {
  {
    std::lock_guard lock(m_mutex);
    m_stopping = true;
  }
  m_wake.notify_all();
  if (m_thread.joinable()) {
    m_thread.join();
  }
  std::lock_guard lock(m_mutex);
  erase();
}

void ProgressBoard::pause() {
  std::lock_guard lock(m_mutex);
  ++m_paused;
  erase();
}

void ProgressBoard::resume() {
  std::lock_guard lock(m_mutex);
  --m_paused;
}

void ProgressBoard::run() {
  std::unique_lock lock(m_mutex);
  while (!m_stopping) {
    if (m_paused == 0) {
      draw();
    }
    m_wake.wait_for(lock, k_redraw_interval, [this] { return m_stopping; });
  }
}

void ProgressBoard::draw() {
  std::string out;
  // Back to the first line of the board: the cursor rests below its last.
  if (m_drawn > 0) {
    out += "\x1b[" + std::to_string(m_drawn) + "A";
  }
  // One column less than the terminal: a line that fills the last column
  // leaves some terminals' cursor on it and others' on the next line.
  const std::size_t width = terminal_width(m_fd) - 1;
  for (std::size_t i = 0; i < m_accounts.size(); ++i) {
    out +=
        "\r\x1b[K" + format_progress_line(m_accounts[i], m_progress[i]->snapshot(), width) + "\n";
  }
  m_drawn = m_accounts.size();
  write_all(m_fd, out);
}

void ProgressBoard::erase() {
  if (m_drawn == 0) {
    return;
  }
  // Up to the board's first line, and clear from there to the end of the
  // screen.
  write_all(m_fd, "\x1b[" + std::to_string(m_drawn) + "A\r\x1b[J");
  m_drawn = 0;
}

}  // namespace roam::cli
