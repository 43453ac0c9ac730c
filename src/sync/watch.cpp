#include "sync/watch.hpp"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <exception>
#include <utility>

#include "imap/client.hpp"
#include "util/error.hpp"
#include "util/log.hpp"

namespace roam::sync {

using util::Error;
using util::Scope;

WatchPlan watch_targets(
    const AccountSettings& settings,
    const std::function<bool(std::string_view name, std::optional<char> delimiter)>& watch) {
  WatchPlan plan;
  auto client = open_session(settings);
  plan.notify = client->capabilities().has("NOTIFY");
  for (auto& f : list_account(settings, *client)) {
    if (f.selected && watch(f.name, f.delimiter)) {
      plan.targets.push_back({std::move(f.name), std::move(f.mailbox)});
    }
  }
  client->logout();
  return plan;
}

namespace {

void wake(int fd) {
  const std::uint64_t one = 1;
  // An eventfd write fails only when its counter would overflow, which
  // leaves it readable anyway: the wake is not lost.
  [[maybe_unused]] ssize_t n = ::write(fd, &one, sizeof one);
}

void drain(int fd) {
  std::uint64_t count = 0;
  [[maybe_unused]] ssize_t n = ::read(fd, &count, sizeof count);
}

std::string seconds_text(std::chrono::milliseconds d) {
  return std::to_string((d.count() + 999) / 1000) + " s";
}

}  // namespace

ServerWatch::ServerWatch(AccountSettings settings, std::vector<WatchTarget> targets,
                         OnChange on_change, Options options)
    : m_settings(std::move(settings)), m_on_change(std::move(on_change)), m_options(options) {
  std::vector<std::vector<WatchTarget>> groups;
  if (m_options.notify && !targets.empty()) {
    groups.push_back(std::move(targets));
  } else {
    for (auto& t : targets) {
      groups.push_back({std::move(t)});
    }
  }
  for (auto& g : groups) {
    auto w = std::make_unique<Watcher>();
    w->name = g.size() == 1 ? g[0].name : std::to_string(g.size()) + " folders";
    w->targets = std::move(g);
    // Non-blocking, so that draining a counter nobody wrote cannot hang.
    w->wake = util::Fd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (!w->wake) {
      throw Error(Scope::Account,
                  util::errno_message("cannot make an eventfd to watch " + w->name));
    }
    m_watchers.push_back(std::move(w));
  }
  for (auto& w : m_watchers) {
    w->thread = std::thread([this, raw = w.get()] { run(*raw); });
  }
}

ServerWatch::~ServerWatch() {
  stop();
  for (auto& w : m_watchers) {
    if (w->thread.joinable()) {
      w->thread.join();
    }
  }
}

void ServerWatch::stop() {
  m_stopping = true;
  for (auto& w : m_watchers) {
    wake(w->wake.get());
  }
}

void ServerWatch::reconnect() {
  for (auto& w : m_watchers) {
    w->kick = true;
    wake(w->wake.get());
  }
}

bool ServerWatch::pause(Watcher& w, std::chrono::milliseconds d) {
  pollfd pfd{};
  pfd.fd = w.wake.get();
  pfd.events = POLLIN;
  const auto deadline = std::chrono::steady_clock::now() + d;
  while (!m_stopping) {
    const auto left =
        std::chrono::ceil<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      break;
    }
    const int rc = ::poll(&pfd, 1, static_cast<int>(std::min<std::int64_t>(left.count(), 1 << 30)));
    if (rc > 0) {
      drain(w.wake.get());
      // A reconnect() during the pause cuts it short.
      if (w.kick.exchange(false)) {
        break;
      }
    }
  }
  return !m_stopping;
}

void ServerWatch::run(Watcher& w) {
  const std::string what = m_settings.name + ": watching " + w.name;
  std::chrono::milliseconds backoff = m_options.first_backoff;
  while (!m_stopping) {
    std::unique_ptr<imap::Client> client;
    bool listening = false;
    bool kicked = false;
    auto since = std::chrono::steady_clock::now();
    try {
      client = open_session(m_settings);
      if (m_options.notify) {
        std::vector<std::string> mailboxes;
        for (const auto& t : w.targets) {
          mailboxes.push_back(t.mailbox);
        }
        try {
          client->notify_set(mailboxes);
        } catch (const imap::CommandFailed& e) {
          ROAM_INFO(what << ": the server refused NOTIFY (" << e.what()
                         << "); one IDLE connection per folder instead");
          m_notify_refused = true;
          client->logout();
          // Wakes the owner, which sees notify_refused() and starts over.
          m_on_change(w.name, Why::Opened);
          return;
        }
      } else {
        client->open(w.targets[0].mailbox, imap::OpenMode::Examine);
      }
      listening = true;
      since = std::chrono::steady_clock::now();
      ++m_listening;
      ROAM_DEBUG(util::k_cat_sync, what << ": listening for changes on the server");
      // Whatever happened while no connection was listening is found by
      // the sync this asks for.
      m_on_change(w.name, Why::Opened);
      while (!m_stopping) {
        const auto end = client->idle(m_options.idle_cycle, w.wake.get());
        if (end == imap::Client::IdleEnd::Changed) {
          m_on_change(w.name, Why::Changed);
        } else if (end == imap::Client::IdleEnd::Woken) {
          drain(w.wake.get());
          if (w.kick.exchange(false)) {
            ROAM_INFO(what << ": connecting again");
            kicked = true;
            break;
          }
        }
      }
      if (m_stopping && client->usable()) {
        client->logout();
      }
    } catch (const Error& e) {
      if (e.scope() == Scope::Fatal) {
        ROAM_ERROR(what << ": internal error: " << e.what()
                        << "; this folder is no longer watched (a bug in roam; please report it)");
        if (listening) {
          --m_listening;
        }
        return;
      }
      if (!m_stopping) {
        // A connection that was listening and dropped is routine (servers
        // and NAT boxes end long-lived connections); one that cannot be
        // made is worth a warning.
        if (listening) {
          ROAM_INFO(what << ": " << e.what() << "; connecting again");
        } else {
          ROAM_WARN(what << ": " << e.what() << "; trying again in " << seconds_text(backoff));
        }
      }
    } catch (const std::exception& e) {
      // Not an error roam reports by scope: a bug, or the system out of
      // memory or threads. The account's syncs go on without this watcher.
      ROAM_ERROR(what << ": internal error: " << e.what()
                      << "; this folder is no longer watched (a bug in roam; please report it)");
      if (listening) {
        --m_listening;
      }
      return;
    }
    if (listening) {
      --m_listening;
    }
    // Dropped without a LOGOUT when it broke: the destructor closes it.
    client.reset();
    if (m_stopping) {
      break;
    }
    // A connection that listened for a while earned a prompt retry; one
    // that failed at once (a server that drops every IDLE, a wrong
    // password) waits longer each time, so that it is not hammered.
    const bool lasted = listening && std::chrono::steady_clock::now() - since > 2 * backoff &&
                        std::chrono::steady_clock::now() - since > std::chrono::seconds(30);
    if (kicked || lasted) {
      backoff = m_options.first_backoff;
      continue;
    }
    if (!pause(w, backoff)) {
      break;
    }
    backoff = std::min(backoff * 2, m_options.max_backoff);
  }
}

}  // namespace roam::sync
