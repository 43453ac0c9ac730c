#include "cli/watch.hpp"

#include <poll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <exception>
#include <iostream>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>

#include "cli/app.hpp"
#include "maildir/watch.hpp"
#include "sync/watch.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"
#include "util/log.hpp"
#include "util/signal.hpp"

namespace roam::cli {

using util::Error;
using util::Scope;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

namespace {

// How long the loop waits after a change before it syncs. A server change
// is synced almost at once (the few milliseconds let a burst of EXISTS and
// FETCH, or several folders, go into one sync). A mail reader renames
// files in bursts (marking a thread read, moving a search's results), so
// local changes wait for a short quiet spell, but never longer than the
// limit, so that a reader that never stops cannot hold a sync off.
constexpr milliseconds k_server_settle{150};
constexpr milliseconds k_local_quiet{700};
constexpr milliseconds k_local_limit{3000};
// After a failed sync (the server down, the account locked by a `roam
// sync` from cron) the next try waits this long, doubling up to the
// account's watch_interval.
constexpr milliseconds k_first_retry{15000};
// How often the main thread looks at the clocks for a suspend.
constexpr milliseconds k_clock_check{10000};
// A suspend this long or longer makes every IDLE connection start over.
constexpr std::chrono::seconds k_suspend_min{20};

// Milliseconds on CLOCK_BOOTTIME (which runs on during a suspend) minus
// CLOCK_MONOTONIC (which stops): it grows by the length of each suspend.
std::int64_t suspended_ms() {
  timespec boot{}, mono{};
  ::clock_gettime(CLOCK_BOOTTIME, &boot);
  ::clock_gettime(CLOCK_MONOTONIC, &mono);
  return (boot.tv_sec - mono.tv_sec) * 1000 + (boot.tv_nsec - mono.tv_nsec) / 1000000;
}

bool changed_something(const sync::AccountReport& r) {
  return std::any_of(r.folders.begin(), r.folders.end(), [](const sync::FolderReport& f) {
    return f.downloaded + f.flags_changed + f.deleted + f.uploaded + f.server_flags_changed +
               f.server_deleted + f.moved >
           0;
  });
}

// The password, asked for once for the whole life of the watch: a pass_cmd
// that prompts (gpg, a password manager) must not prompt on every change.
// An OAuth token expires within the hour, so its helper is asked each time
// (such helpers keep the refresh token and answer quickly).
void keep_password(sync::AccountSettings& s) {
  if (!s.password || s.auth == imap::AuthMechanism::XOAuth2 ||
      s.auth == imap::AuthMechanism::OAuthBearer) {
    return;
  }
  struct Once {
    std::mutex mutex;
    std::optional<std::string> secret;
  };
  auto once = std::make_shared<Once>();
  s.password = [once, ask = s.password]() {
    std::lock_guard lock(once->mutex);
    if (!once->secret) {
      once->secret = ask();
    }
    return *once->secret;
  };
}

class AccountWatch {
 public:
  AccountWatch(const AccountConfig& config, const WatchOptions& options)
      : m_config(config), m_options(options), m_settings(account_settings(config)) {
    keep_password(m_settings);
    m_event = util::Fd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (!m_event) {
      throw Error(Scope::Account, util::errno_message("cannot make an eventfd for " + config.name));
    }
  }

  // The loop ends first; then the IDLE connections, which call back into
  // this object until they end, before the members they use go.
  ~AccountWatch() {
    stop();
    join();
    m_server.reset();
  }
  AccountWatch(const AccountWatch&) = delete;
  AccountWatch& operator=(const AccountWatch&) = delete;

  void start() {
    m_thread = std::thread([this] { run(); });
  }
  void join() {
    if (m_thread.joinable()) {
      m_thread.join();
    }
  }
  bool failed() const { return m_failed.load(); }

  void sync_now() {
    post([this] { m_sync_now = true; });
  }
  void stop() {
    post([this] { m_stop = true; });
  }
  void resumed() {
    post([this] { m_resumed = true; });
  }

 private:
  template <class F>
  void post(F&& set) {
    {
      std::lock_guard lock(m_mutex);
      set();
    }
    const std::uint64_t one = 1;
    [[maybe_unused]] ssize_t n = ::write(m_event.get(), &one, sizeof one);
  }

  void on_server_change(const std::string& folder, sync::ServerWatch::Why why) {
    ROAM_DEBUG(util::k_cat_sync, m_config.name << ": " << folder
                                               << (why == sync::ServerWatch::Why::Opened
                                                       ? ": IDLE connection opened"
                                                       : ": the server announced a change"));
    post([this] {
      if (!m_server_since) {
        m_server_since = Clock::now();
      }
    });
  }

  void run() {
    try {
      loop();
    } catch (const Error& e) {
      m_failed = true;
      if (e.scope() == Scope::Fatal) {
        std::cerr << "roam: internal error: " << m_config.name << ": " << e.what()
                  << "\nThis is a bug in roam; please report it with the output of --debug.\n";
      } else {
        std::cerr << "roam: error: " << m_config.name << ": " << e.what() << "\n";
      }
    } catch (const std::exception& e) {
      m_failed = true;
      std::cerr << "roam: internal error: " << m_config.name << ": " << e.what()
                << "\nThis is a bug in roam; please report it with the output of --debug.\n";
    }
  }

  // Syncs; returns whether the sync succeeded.
  bool sync(const char* why) {
    ROAM_DEBUG(util::k_cat_sync, m_config.name << ": syncing (" << why << ")");
    // The hooks run as they do for roam sync: post_sync_cmd after each
    // sync (notmuch new, say), whether it changed anything or not.
    AccountRun run = sync_once(m_config, m_settings.password);
    const sync::AccountReport& report = run.report;
    const bool changed = changed_something(report);
    // One line for a sync that changed something; a quiet one says nothing
    // unless -v, but its errors are always said.
    {
      // Accounts sync on threads of their own; their lines must not mix.
      static std::mutex print_mutex;
      std::lock_guard lock(print_mutex);
      print_run(run, m_options.verbose, m_options.quiet || !(changed || m_options.verbose));
      // A watch runs for days with its output in a file or the journal:
      // each line goes out when it is said.
      std::cout.flush();
    }
    if (run.ok()) {
      m_retry = k_first_retry;
      m_retry_due.reset();
      return true;
    }
    if (!report.error.empty()) {
      // An account error (server down, wrong password, the lock held by
      // another roam): try again later rather than give up the watch.
      m_retry_due = Clock::now() + m_retry;
      std::cerr << "roam: note: " << m_config.name << ": trying again in " << m_retry.count() / 1000
                << " s\n";
      m_retry =
          std::min(m_retry * 2, std::chrono::duration_cast<milliseconds>(m_config.watch_interval));
    }
    return false;
  }

  // Starts the IDLE connections once the server has told which folders the
  // `watch` patterns select; false while it cannot.
  bool start_server_watch() {
    sync::WatchPlan plan;
    try {
      auto patterns = m_config.watch;
      plan = sync::watch_targets(m_settings, [&](std::string_view name, std::optional<char> d) {
        return folder_selected(patterns, name, d.value_or('\0'));
      });
    } catch (const Error& e) {
      if (e.scope() == Scope::Fatal || e.scope() == Scope::Usage) {
        throw;
      }
      std::cerr << "roam: warning: " << m_config.name
                << ": cannot list the folders to watch: " << e.what() << "\n";
      return false;
    }
    std::vector<sync::WatchTarget>& targets = plan.targets;
    const bool notify = plan.notify && !m_notify_refused;
    if (targets.empty()) {
      std::cerr << "roam: warning: " << m_config.name
                << ": no synced folder matches watch; server changes are synced every "
                   "watch_interval only\n";
    }
    // Without NOTIFY each watched folder holds a connection of its own.
    const std::size_t limit = std::max<std::size_t>(1, m_config.connections);
    if (!notify && targets.size() > limit) {
      std::cerr << "roam: warning: " << m_config.name << ": watch selects " << targets.size()
                << " folders, more than connections = " << limit << "; " << targets.size() - limit
                << " of them are synced only every watch_interval or on a local change\n";
      targets.resize(limit);
    }
    if (m_options.verbose) {
      for (const auto& t : targets) {
        std::cerr << "roam: note: " << m_config.name << ": watching " << t.name << " on the server"
                  << (notify ? " (NOTIFY)" : " (IDLE)") << "\n";
      }
    }
    m_server = std::make_unique<sync::ServerWatch>(
        m_settings, std::move(targets),
        [this](const std::string& folder, sync::ServerWatch::Why why) {
          on_server_change(folder, why);
        },
        sync::ServerWatch::Options{.notify = notify});
    return true;
  }

  void loop() {
    std::unique_ptr<maildir::ChangeWatch> local;
    try {
      local = std::make_unique<maildir::ChangeWatch>(m_config.tree());
    } catch (const Error& e) {
      if (e.scope() == Scope::Fatal) {
        throw;
      }
      std::cerr << "roam: warning: " << m_config.name << ": " << e.what()
                << "; local changes are synced every watch_interval only\n";
    }
    const milliseconds interval = std::chrono::duration_cast<milliseconds>(m_config.watch_interval);
    sync("start");
    Clock::time_point full_due = Clock::now() + interval;
    std::optional<Clock::time_point> local_first, local_last;
    std::optional<Clock::time_point> watch_retry = Clock::now();
    milliseconds watch_backoff = k_first_retry;

    for (;;) {
      if (local) {
        local->rescan();
      }
      if (m_server && m_server->notify_refused()) {
        // The server offers NOTIFY but refused what roam asked of it.
        m_notify_refused = true;
        m_server.reset();
        watch_retry = Clock::now();
      }
      if (!m_server && watch_retry && Clock::now() >= *watch_retry) {
        if (start_server_watch()) {
          watch_retry.reset();
        } else {
          watch_retry = Clock::now() + watch_backoff;
          watch_backoff = std::min(watch_backoff * 2, interval);
        }
      }

      // The earliest moment something is due.
      Clock::time_point due = full_due;
      auto earlier = [&due](std::optional<Clock::time_point> t) {
        if (t && *t < due) {
          due = *t;
        }
      };
      {
        std::lock_guard lock(m_mutex);
        if (m_server_since) {
          earlier(*m_server_since + k_server_settle);
        }
      }
      if (local_first) {
        earlier(std::min(*local_last + k_local_quiet, *local_first + k_local_limit));
      }
      earlier(m_retry_due);
      if (!m_server) {
        earlier(watch_retry);
      }

      pollfd pfds[2]{};
      pfds[0].fd = m_event.get();
      pfds[0].events = POLLIN;
      pfds[1].fd = local ? local->fd() : -1;
      pfds[1].events = POLLIN;
      const auto left = std::chrono::ceil<milliseconds>(due - Clock::now());
      const int rc =
          ::poll(pfds, 2, static_cast<int>(std::clamp<std::int64_t>(left.count(), 0, 1 << 30)));
      if (rc < 0 && errno != EINTR) {
        throw Error(Scope::Account, util::errno_message("poll in the watch of " + m_config.name));
      }
      std::uint64_t count = 0;
      [[maybe_unused]] ssize_t n = ::read(m_event.get(), &count, sizeof count);
      const auto now = Clock::now();
      if (local && local->drain()) {
        local_first = local_first.value_or(now);
        local_last = now;
      }

      bool sync_now = false, resumed = false, server = false;
      {
        std::lock_guard lock(m_mutex);
        if (m_stop || util::stop_requested() != 0) {
          break;
        }
        sync_now = std::exchange(m_sync_now, false);
        resumed = std::exchange(m_resumed, false);
        server = m_server_since && now >= *m_server_since + k_server_settle;
      }
      if (resumed && m_server) {
        // The connections most likely died with the suspend.
        m_server->reconnect();
      }
      const bool local_due =
          local_first && now >= std::min(*local_last + k_local_quiet, *local_first + k_local_limit);
      const bool retry_due = m_retry_due && now >= *m_retry_due;
      const bool full = now >= full_due;
      if (!(sync_now || resumed || server || local_due || retry_due || full)) {
        continue;
      }
      // What happened before this point is what this sync picks up;
      // whatever happens during it asks for the next one.
      {
        std::lock_guard lock(m_mutex);
        m_server_since.reset();
      }
      local_first.reset();
      local_last.reset();
      m_retry_due.reset();
      sync(sync_now    ? "SIGUSR1"
           : resumed   ? "resumed after a suspend"
           : server    ? "server change"
           : local_due ? "local change"
           : retry_due ? "retry"
                       : "watch_interval");
      full_due = Clock::now() + interval;
      if (util::stop_requested() != 0) {
        break;
      }
    }
    // Ends the IDLEs and logs out before the account's thread ends.
    m_server.reset();
  }

  AccountConfig m_config;
  WatchOptions m_options;
  sync::AccountSettings m_settings;
  util::Fd m_event;
  std::thread m_thread;
  std::atomic<bool> m_failed{false};
  std::unique_ptr<sync::ServerWatch> m_server;
  bool m_notify_refused = false;
  milliseconds m_retry = k_first_retry;
  std::optional<Clock::time_point> m_retry_due;

  std::mutex m_mutex;  // Guards the fields below, set from other threads.
  bool m_stop = false;
  bool m_sync_now = false;
  bool m_resumed = false;
  std::optional<Clock::time_point> m_server_since;
};

}  // namespace

int command_watch(const Config& config, const std::vector<std::string>& names,
                  const WatchOptions& options) {
  const std::vector<const AccountConfig*> accounts = config.accounts_named(names);
  const int signals = util::install_watch_handlers();
  if (signals < 0) {
    throw Error(Scope::Account, util::errno_message("cannot set up the signal handlers of watch"));
  }
  std::vector<std::unique_ptr<AccountWatch>> watches;
  for (const auto* a : accounts) {
    watches.push_back(std::make_unique<AccountWatch>(*a, options));
  }
  for (auto& w : watches) {
    w->start();
  }
  unsigned sync_requests = util::sync_requests();
  std::int64_t suspended = suspended_ms();
  while (util::stop_requested() == 0) {
    pollfd pfd{};
    pfd.fd = signals;
    pfd.events = POLLIN;
    ::poll(&pfd, 1, static_cast<int>(k_clock_check.count()));
    util::drain_signal_fd();
    if (const unsigned now = util::sync_requests(); now != sync_requests) {
      sync_requests = now;
      for (auto& w : watches) {
        w->sync_now();
      }
    }
    if (const std::int64_t s = suspended_ms();
        s - suspended >= std::chrono::duration_cast<milliseconds>(k_suspend_min).count()) {
      ROAM_INFO("the system was suspended for " << (s - suspended) / 1000
                                                << " s; connecting again and syncing");
      for (auto& w : watches) {
        w->resumed();
      }
      suspended = s;
    }
    if (std::all_of(watches.begin(), watches.end(), [](const auto& w) { return w->failed(); })) {
      break;
    }
  }
  for (auto& w : watches) {
    w->stop();
  }
  bool failed = false;
  for (auto& w : watches) {
    w->join();
    failed = failed || w->failed();
  }
  // SIGINT and SIGTERM are how a watch is meant to end (systemd stops it
  // with SIGTERM), so they end it with success once the step is done.
  return failed ? k_exit_partial : k_exit_ok;
}

}  // namespace roam::cli
