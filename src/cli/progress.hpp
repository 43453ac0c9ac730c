#pragma once

// The progress display of `roam sync` on a terminal: one line per account,
// redrawn in place a few times a second on stderr. It is shown only when
// stderr is a terminal and -q was not given (app.cpp decides), so cron and
// pipes never see it. The line itself is a pure function of the counts
// (format_progress_line), tested on its own.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "sync/account.hpp"

namespace roam::cli {

// Where an account's sync stands, as shown on its line.
enum class ProgressPhase {
  Waiting,     // Not started (more accounts than --jobs).
  Connecting,  // Started; its folders are not known yet.
  Syncing,     // Its folders are being synced.
  Done,
};

struct ProgressCounts {
  ProgressPhase phase = ProgressPhase::Waiting;
  std::size_t folders_done = 0;
  std::size_t folders_total = 0;
  std::size_t downloaded = 0;
  std::uint64_t bytes_down = 0;
  std::size_t uploaded = 0;
  std::uint64_t bytes_up = 0;
  // Since the account started.
  double seconds = 0;
};

// "work: 3/10 folders, down 120 (4.5 MB), up 2 (10.0 kB), 1.2 MB/s": the
// rate is of bytes both ways over `seconds`, left out before a second has
// passed (a rate over a few milliseconds says nothing). At most `width`
// characters (cut with "..."), so that the line never wraps, which would
// break redrawing it in place; 0 = no limit.
std::string format_progress_line(std::string_view account, const ProgressCounts& counts,
                                 std::size_t width = 0);

// "12 B", "4.5 kB", "1.2 MB", "3.0 GB" (1024-based, as the summary).
std::string human_bytes(std::uint64_t bytes);

// One account's counts, fed by the sync layer from its lanes (any thread).
class AccountProgress : public sync::Progress {
 public:
  void started();
  void finished();
  void folders_planned(std::size_t total) override;
  void folder_done() override;
  void downloaded(std::uint64_t bytes) override;
  void uploaded(std::uint64_t bytes) override;
  ProgressCounts snapshot() const;

 private:
  std::atomic<int> m_phase{static_cast<int>(ProgressPhase::Waiting)};
  std::atomic<std::size_t> m_folders_done{0};
  std::atomic<std::size_t> m_folders_total{0};
  std::atomic<std::size_t> m_downloaded{0};
  std::atomic<std::uint64_t> m_bytes_down{0};
  std::atomic<std::size_t> m_uploaded{0};
  std::atomic<std::uint64_t> m_bytes_up{0};
  // Nanoseconds of steady_clock at started().
  std::atomic<std::int64_t> m_start_ns{0};
};

// The lines of all accounts of a run, in config order, redrawn on `fd` by a
// thread of its own until stop(), which erases them so that the summary
// follows on a clean screen. pause() erases them and holds the redraws (a
// pass_cmd may ask for a passphrase on the terminal) until resume().
class ProgressBoard {
 public:
  ProgressBoard(std::vector<std::string> accounts, int fd);
  ~ProgressBoard();
  ProgressBoard(const ProgressBoard&) = delete;
  ProgressBoard& operator=(const ProgressBoard&) = delete;

  AccountProgress& account(std::size_t index) { return *m_progress[index]; }
  void start();
  void stop();
  void pause();
  void resume();

 private:
  void run();
  // Both with m_mutex held.
  void draw();
  void erase();

  std::vector<std::string> m_accounts;
  std::vector<std::unique_ptr<AccountProgress>> m_progress;
  int m_fd;
  std::mutex m_mutex;
  std::condition_variable m_wake;
  bool m_stopping = false;
  int m_paused = 0;
  // Lines on the screen now (0 or the number of accounts).
  std::size_t m_drawn = 0;
  std::thread m_thread;
};

}  // namespace roam::cli
