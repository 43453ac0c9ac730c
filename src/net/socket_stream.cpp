// The TCP side of net::Stream: name resolution, connecting with a timeout,
// and plaintext reads and writes. TLS is delegated to detail::TlsSession.
//
// Sockets stay non-blocking for their whole life and every operation waits
// with poll(), which is the one way to bound connect, reads, writes and the
// TLS handshake by the same timeout without threads or signals.

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <memory>
#include <string>
#include <utility>

#include "net/stream.hpp"
#include "net/tls_stream.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"
#include "util/log.hpp"

namespace roam::net {

using util::Error;
using util::Scope;

namespace detail {

std::string format_seconds(std::chrono::milliseconds timeout) {
  const auto ms = timeout.count() < 0 ? 0 : timeout.count();
  std::string out = std::to_string(ms / 1000);
  if (const auto frac = ms % 1000; frac != 0) {
    std::string digits = std::to_string(frac);
    digits.insert(0, 3 - digits.size(), '0');
    while (digits.back() == '0') {
      digits.pop_back();
    }
    out += "." + digits;
  }
  return out + " s";
}

namespace {

// Polls `fd` for `events` until `deadline`. Returns false on timeout; throws
// only if poll() itself fails, which means a bug rather than a network event.
bool poll_until(int fd, short events, Clock::time_point deadline, const std::string& peer) {
  pollfd pfd{};
  pfd.fd = fd;
  pfd.events = events;
  for (;;) {
    // Rounding up keeps poll() from waking a fraction of a millisecond early
    // and spinning through zero-length waits.
    const auto remaining = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now());
    if (remaining.count() <= 0) {
      return false;
    }
    const int wait_ms = remaining.count() > INT_MAX ? INT_MAX : static_cast<int>(remaining.count());
    const int rc = ::poll(&pfd, 1, wait_ms);
    if (rc > 0) {
      return true;
    }
    if (rc < 0 && errno != EINTR) {
      throw Error(Scope::Account, util::errno_message("poll on the connection to " + peer));
    }
  }
}

}  // namespace

void wait_for(int fd, Wait what, Clock::time_point deadline, std::chrono::milliseconds timeout,
              const std::string& peer, std::string_view doing) {
  const short events = what == Wait::Read ? POLLIN : POLLOUT;
  if (!poll_until(fd, events, deadline, peer)) {
    throw Error(Scope::Account, "timed out after " + format_seconds(timeout) + " waiting for " +
                                    peer + " (" + std::string(doing) +
                                    "); the server or the network is not responding");
  }
}

}  // namespace detail

namespace {

std::string format_peer(const std::string& host, std::uint16_t port) {
  // An IPv6 literal needs brackets, or its last group reads as the port.
  if (host.find(':') != std::string::npos) {
    return "[" + host + "]:" + std::to_string(port);
  }
  return host + ":" + std::to_string(port);
}

std::string numeric_address(const addrinfo& ai) {
  char buf[NI_MAXHOST] = {};
  if (::getnameinfo(ai.ai_addr, ai.ai_addrlen, buf, sizeof buf, nullptr, 0, NI_NUMERICHOST) != 0) {
    return "?";
  }
  return buf;
}

// Connects to one resolved address within `timeout`. Returns an empty Fd and
// sets `why` when this address does not work, so the caller can try the next.
util::Fd connect_one(const addrinfo& ai, std::chrono::milliseconds timeout, const std::string& peer,
                     Cancel* cancel, std::string& why) {
  util::Fd fd(
      ::socket(ai.ai_family, ai.ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai.ai_protocol));
  if (!fd) {
    why = std::strerror(errno);
    return {};
  }
  // Declared after `fd`, so that on every way out but success the
  // registration ends before the descriptor is closed.
  struct Registration {
    Cancel* cancel;
    int fd;
    bool kept = false;
    ~Registration() {
      if (cancel != nullptr && !kept) {
        cancel->settle(fd);
      }
    }
  } registration{cancel, fd.get()};
  if (cancel != nullptr && !cancel->watch(fd.get())) {
    why = "cancelled";
    return {};
  }
  if (::connect(fd.get(), ai.ai_addr, ai.ai_addrlen) != 0) {
    // A non-blocking connect reports EINPROGRESS; EINTR means the same: the
    // connection attempt goes on in the background and poll() reports its end.
    if (errno != EINPROGRESS && errno != EINTR) {
      why = std::strerror(errno);
      return {};
    }
    if (!detail::poll_until(fd.get(), POLLOUT, detail::Clock::now() + timeout, peer)) {
      why = "timed out after " + detail::format_seconds(timeout);
      return {};
    }
    int err = 0;
    socklen_t err_len = sizeof err;
    if (::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &err_len) != 0) {
      err = errno;
    }
    if (err != 0) {
      why = std::strerror(err);
      return {};
    }
  }
  // IMAP commands are small and the client pipelines them; Nagle's algorithm
  // would hold each one back waiting for the previous one's ACK.
  const int one = 1;
  if (::setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0) {
    ROAM_DEBUG(util::k_cat_net, "TCP_NODELAY on " << peer << ": " << std::strerror(errno));
  }
  // A connection that waits in IDLE for minutes sends nothing, so a peer
  // that vanished (a network change, a NAT box that forgot us) would go
  // unnoticed until the IDLE ends. TCP keepalive probes after a minute of
  // silence find out within two more; an ordinary sync never waits so long.
  const int idle = 60, interval = 15, count = 4;
  if (::setsockopt(fd.get(), SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one) != 0 ||
      ::setsockopt(fd.get(), IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle) != 0 ||
      ::setsockopt(fd.get(), IPPROTO_TCP, TCP_KEEPINTVL, &interval, sizeof interval) != 0 ||
      ::setsockopt(fd.get(), IPPROTO_TCP, TCP_KEEPCNT, &count, sizeof count) != 0) {
    ROAM_DEBUG(util::k_cat_net, "TCP keepalive on " << peer << ": " << std::strerror(errno));
  }
  // The stream made of it ends the registration when it closes.
  registration.kept = true;
  return fd;
}

class SocketStream final : public Stream {
 public:
  SocketStream(util::Fd fd, std::string host, std::string peer, std::chrono::milliseconds timeout,
               std::shared_ptr<Cancel> cancel)
      : m_fd(std::move(fd)),
        m_host(std::move(host)),
        m_peer(std::move(peer)),
        m_timeout(timeout),
        m_cancel(std::move(cancel)) {}

  SocketStream(const SocketStream&) = delete;
  SocketStream& operator=(const SocketStream&) = delete;

  ~SocketStream() override {
    if (m_cancel) {
      m_cancel->settle(m_fd.get());
    }
  }

  std::size_t read_some(char* buf, std::size_t len) override {
    check_usable();
    if (len == 0) {
      throw Error(Scope::Fatal, "internal error: read_some from " + m_peer + " with no buffer");
    }
    try {
      if (m_tls) {
        return m_tls->read_some(buf, len);
      }
      return read_plain(buf, len);
    } catch (...) {
      m_broken = true;
      throw;
    }
  }

  void write_all(std::string_view data) override {
    check_usable();
    try {
      if (m_tls) {
        m_tls->write_all(data);
      } else {
        write_plain(data);
      }
    } catch (...) {
      m_broken = true;
      throw;
    }
  }

  void start_tls(const TlsOptions& options) override {
    check_usable();
    if (m_tls) {
      throw Error(Scope::Fatal,
                  "internal error: start_tls on " + m_peer + ", which is already TLS");
    }
    try {
      m_tls = std::make_unique<detail::TlsSession>(m_fd.get(), m_host, m_peer, m_timeout, options);
    } catch (...) {
      // Whatever the server says next must not be read as plaintext.
      m_broken = true;
      ::shutdown(m_fd.get(), SHUT_RDWR);
      throw;
    }
  }

  bool is_tls() const override { return m_tls != nullptr; }

  std::string peer() const override { return m_peer; }

  std::string security() const override { return m_tls ? m_tls->description() : "plaintext"; }

  std::chrono::milliseconds timeout() const override { return m_timeout; }

  Ready wait_readable(std::chrono::milliseconds max, int wake_fd) override {
    check_usable();
    // Bytes TLS has already decrypted (or received) never show on the
    // socket again, so poll() alone could sleep through them.
    if (m_tls && m_tls->has_pending()) {
      return Ready::Data;
    }
    const auto deadline = detail::Clock::now() + max;
    for (;;) {
      pollfd pfds[2]{};
      pfds[0].fd = m_fd.get();
      pfds[0].events = POLLIN;
      pfds[1].fd = wake_fd;
      pfds[1].events = POLLIN;
      const auto left =
          std::chrono::ceil<std::chrono::milliseconds>(deadline - detail::Clock::now());
      const int wait_ms = static_cast<int>(std::clamp<std::int64_t>(left.count(), 0, 1 << 30));
      const int rc = ::poll(pfds, wake_fd >= 0 ? 2 : 1, wait_ms);
      if (rc < 0) {
        if (errno == EINTR) {
          // A signal (SIGUSR1 asking for a sync, SIGTERM) may have woken us;
          // the caller's wake_fd says whether it wants to know.
          continue;
        }
        throw Error(Scope::Account, util::errno_message("poll on the connection to " + m_peer));
      }
      if (rc == 0) {
        return Ready::TimedOut;
      }
      // The server's bytes first: they must be read before anything else is
      // written, whatever woke us too.
      if ((pfds[0].revents & (POLLIN | POLLHUP | POLLERR)) != 0) {
        return Ready::Data;
      }
      if (wake_fd >= 0 && pfds[1].revents != 0) {
        return Ready::Woken;
      }
    }
  }

 private:
  void check_usable() const {
    if (m_broken) {
      throw Error(Scope::Account,
                  "the connection to " + m_peer + " is unusable after an earlier error");
    }
  }

  // Reads straight into the caller's buffer: there is deliberately no
  // read-ahead here, so nothing received in plaintext can outlive start_tls.
  std::size_t read_plain(char* buf, std::size_t len) {
    const auto deadline = detail::Clock::now() + m_timeout;
    for (;;) {
      const ssize_t n = ::recv(m_fd.get(), buf, len, 0);
      if (n >= 0) {
        return static_cast<std::size_t>(n);
      }
      if (errno == EINTR) {
        continue;
      }
      if (errno != EAGAIN && errno != EWOULDBLOCK) {
        throw Error(Scope::Account,
                    util::errno_message("connection to " + m_peer + " lost while reading"));
      }
      detail::wait_for(m_fd.get(), detail::Wait::Read, deadline, m_timeout, m_peer, "reading");
    }
  }

  void write_plain(std::string_view data) {
    while (!data.empty()) {
      // MSG_NOSIGNAL: a peer that has gone away must give us EPIPE, not a
      // SIGPIPE that kills the whole program.
      const ssize_t n = ::send(m_fd.get(), data.data(), data.size(), MSG_NOSIGNAL);
      if (n >= 0) {
        data.remove_prefix(static_cast<std::size_t>(n));
        continue;
      }
      if (errno == EINTR) {
        continue;
      }
      if (errno != EAGAIN && errno != EWOULDBLOCK) {
        throw Error(Scope::Account,
                    util::errno_message("connection to " + m_peer + " lost while writing"));
      }
      // The timeout is a bound on each stall, not on the whole write.
      detail::wait_for(m_fd.get(), detail::Wait::Write, detail::Clock::now() + m_timeout, m_timeout,
                       m_peer, "writing");
    }
  }

  util::Fd m_fd;
  std::string m_host;
  std::string m_peer;
  std::chrono::milliseconds m_timeout;
  std::shared_ptr<Cancel> m_cancel;
  std::unique_ptr<detail::TlsSession> m_tls;
  bool m_broken = false;
};

}  // namespace

bool Cancel::watch(int fd) {
  std::lock_guard guard(m_mutex);
  if (m_cancelled) {
    return false;
  }
  m_fd = fd;
  return true;
}

void Cancel::settle(int fd) {
  std::lock_guard guard(m_mutex);
  if (m_fd == fd) {
    m_fd = -1;
  }
}

void Cancel::settle_all() {
  std::lock_guard guard(m_mutex);
  m_fd = -1;
}

void Cancel::cancel() {
  std::lock_guard guard(m_mutex);
  m_cancelled = true;
  if (m_fd >= 0) {
    // shutdown, not close: the descriptor stays the connecting thread's
    // until it closes it, and every wait on it ends at once.
    ::shutdown(m_fd, SHUT_RDWR);
    m_fd = -1;
  }
}

bool Cancel::cancelled() const {
  std::lock_guard guard(m_mutex);
  return m_cancelled;
}

std::unique_ptr<Stream> connect(const std::string& host, std::uint16_t port,
                                const std::optional<TlsOptions>& tls,
                                std::chrono::milliseconds timeout, std::shared_ptr<Cancel> cancel) {
  const std::string peer = format_peer(host, port);
  auto cancelled = [&] {
    return Error(Scope::Account, "the connection to " + peer + " was given up: it is not needed");
  };
  if (cancel && cancel->cancelled()) {
    throw cancelled();
  }

  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  // Note: getaddrinfo() cannot be bounded by our timeout; the resolver's own
  // timeouts (resolv.conf) apply.
  const int rc = ::getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &found);
  if (rc != 0) {
    const std::string reason = rc == EAI_SYSTEM ? std::strerror(errno) : ::gai_strerror(rc);
    throw Error(Scope::Account, "cannot resolve the host name of " + peer + ": " + reason +
                                    "; check the host setting of the account and the network");
  }
  const std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> addresses(found, &::freeaddrinfo);

  std::string failures;
  for (const addrinfo* ai = addresses.get(); ai != nullptr; ai = ai->ai_next) {
    const std::string address = numeric_address(*ai);
    std::string why;
    util::Fd fd = connect_one(*ai, timeout, peer, cancel.get(), why);
    if (cancel && cancel->cancelled()) {
      throw cancelled();
    }
    if (!fd) {
      ROAM_DEBUG(util::k_cat_net, "connect to " << peer << " via " << address << ": " << why);
      failures += (failures.empty() ? "" : ", ") + address + ": " + why;
      continue;
    }
    ROAM_DEBUG(util::k_cat_net, "connected to " << peer << " via " << address);
    auto stream = std::make_unique<SocketStream>(std::move(fd), host, peer, timeout, cancel);
    if (tls) {
      stream->start_tls(*tls);
    }
    return stream;
  }
  throw Error(Scope::Account, "cannot connect to " + peer + " (" + failures +
                                  "); check the host and port of the account and that the "
                                  "server is running");
}

bool is_loopback(const std::string& host) {
  if (host == "localhost" || host == "::1" || host == "[::1]") {
    return true;
  }
  in_addr addr{};
  if (::inet_pton(AF_INET, host.c_str(), &addr) == 1) {
    return (ntohl(addr.s_addr) >> 24) == 127;
  }
  return false;
}

}  // namespace roam::net
