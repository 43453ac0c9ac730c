#pragma once

// The server half of `roam watch`: one IDLE connection per watched folder,
// each on a thread of its own, that says when the server announces a
// change there. It never syncs anything itself; its owner runs a sync when
// told (cli/watch.cpp), so every change still goes through the one path
// that journals and commits (account.hpp).
//
// A watcher survives real life by starting over rather than by repairing:
// a connection that fails, times out or answers out of place is dropped
// (never used again, as the connection contract says) and a new one is
// made after a backoff that doubles up to a limit. Whenever a watcher
// (re)opens its folder it reports a change too, since anything may have
// happened while it was not listening; the sync that follows finds out.

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "sync/account.hpp"
#include "util/fs.hpp"

namespace roam::sync {

// A server folder to watch.
struct WatchTarget {
  std::string name;     // The local name, as reports give it.
  std::string mailbox;  // The server's name, as sent on the wire.
};

// What to watch on the server, and how.
struct WatchPlan {
  std::vector<WatchTarget> targets;  // In name order.
  // The server offers NOTIFY (RFC 5465): one connection can watch every
  // target without selecting any.
  bool notify = false;
};

// Lists the account's folders and returns those a sync selects (the
// `folders` patterns, `select_folder`) that `watch` selects too. Throws
// util::Error (Scope::Account) when the server cannot be asked.
WatchPlan watch_targets(
    const AccountSettings& settings,
    const std::function<bool(std::string_view name, std::optional<char> delimiter)>& watch);

class ServerWatch {
 public:
  struct Options {
    // How long one IDLE lasts before it is ended and started again. RFC
    // 2177 lets a server drop a client idle for 30 minutes, and NAT boxes
    // forget quiet connections sooner; ending the IDLE also proves the
    // server still answers, within the account's timeout.
    std::chrono::milliseconds idle_cycle = std::chrono::minutes(4);
    std::chrono::milliseconds first_backoff = std::chrono::seconds(1);
    std::chrono::milliseconds max_backoff = std::chrono::minutes(5);
    // One connection for all targets with NOTIFY SET, instead of one
    // connection per target with EXAMINE.
    bool notify = false;
  };
  // Why a watcher asks for a sync.
  enum class Why { Opened, Changed };
  // Called from the watchers' threads; must be thread-safe and quick.
  using OnChange = std::function<void(const std::string& folder, Why why)>;

  // Starts one watcher per target, or one for all with `notify`. The
  // settings' password callback is called from the watchers' threads.
  ServerWatch(AccountSettings settings, std::vector<WatchTarget> targets, OnChange on_change,
              Options options);
  ServerWatch(const ServerWatch&) = delete;
  ServerWatch& operator=(const ServerWatch&) = delete;
  // Stops the watchers (stop()) and waits for them.
  ~ServerWatch();

  // Ends every IDLE and logs out; returns at once, the destructor waits.
  void stop();
  // Drops every connection and makes new ones at once, without the
  // politeness of a DONE: after a suspend or a network change the old ones
  // are most likely dead, and finding out would take a timeout.
  void reconnect();

  // How many watchers hold an open folder now (for tests and -v).
  std::size_t listening() const { return m_listening.load(); }

  // The server refused NOTIFY SET: this watch has stopped, and its owner
  // should make one without `notify`.
  bool notify_refused() const { return m_notify_refused.load(); }

 private:
  struct Watcher {
    std::vector<WatchTarget> targets;  // One, unless NOTIFY.
    std::string name;                  // For messages.
    util::Fd wake;                     // An eventfd: stop() and reconnect() write to it.
    std::atomic<bool> kick{false};
    std::thread thread;
  };
  void run(Watcher& w);
  // Waits up to `d` or until the watcher is woken; false when stopping.
  bool pause(Watcher& w, std::chrono::milliseconds d);

  AccountSettings m_settings;
  OnChange m_on_change;
  Options m_options;
  std::atomic<bool> m_stopping{false};
  std::atomic<std::size_t> m_listening{0};
  std::atomic<bool> m_notify_refused{false};
  std::vector<std::unique_ptr<Watcher>> m_watchers;
};

}  // namespace roam::sync
