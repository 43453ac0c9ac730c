#pragma once

// A loopback TCP proxy in front of the test server that forwards the first
// `forwarded` connections and holds every later one open without a byte:
// the server that accepts a connection but never greets it. Courier's
// couriertcpd does this to connections beyond its limit until a slot
// frees; roam's extra connections must not make a run wait for them.

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace roam::test {

class HoldingProxy {
 public:
  HoldingProxy(const std::string& upstream_host, int upstream_port, std::size_t forwarded)
      : m_forwarded(forwarded) {
    if (::inet_pton(AF_INET, upstream_host.c_str(), &m_upstream.sin_addr) != 1) {
      throw std::runtime_error("HoldingProxy: the upstream must be an IPv4 address");
    }
    m_upstream.sin_family = AF_INET;
    m_upstream.sin_port = htons(static_cast<std::uint16_t>(upstream_port));
    m_listen = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (m_listen < 0 || ::bind(m_listen, reinterpret_cast<sockaddr*>(&addr), len) != 0 ||
        ::listen(m_listen, 16) != 0 ||
        ::getsockname(m_listen, reinterpret_cast<sockaddr*>(&addr), &len) != 0 ||
        ::pipe2(m_wake, O_CLOEXEC) != 0) {
      throw std::runtime_error("HoldingProxy: cannot listen on loopback");
    }
    m_port = ntohs(addr.sin_port);
    m_thread = std::thread([this] { run(); });
  }
  HoldingProxy(const HoldingProxy&) = delete;
  HoldingProxy& operator=(const HoldingProxy&) = delete;
  ~HoldingProxy() {
    char c = 0;
    (void)!::write(m_wake[1], &c, 1);
    m_thread.join();
    for (int fd : m_held) {
      ::close(fd);
    }
    for (const auto& p : m_pairs) {
      ::close(p.client);
      ::close(p.server);
    }
    ::close(m_listen);
    ::close(m_wake[0]);
    ::close(m_wake[1]);
  }

  int port() const { return m_port; }
  // Connections accepted so far.
  std::size_t accepted() const { return m_accepted; }

 private:
  struct Pair {
    int client;
    int server;
  };

  void run() {
    for (;;) {
      std::vector<pollfd> fds{{m_wake[0], POLLIN, 0}, {m_listen, POLLIN, 0}};
      for (const auto& p : m_pairs) {
        fds.push_back({p.client, POLLIN, 0});
        fds.push_back({p.server, POLLIN, 0});
      }
      if (::poll(fds.data(), fds.size(), -1) < 0) {
        continue;
      }
      if (fds[0].revents != 0) {
        return;
      }
      // Only the pairs polled this round have slots in fds: a pair that
      // accept_one() adds below waits for the next round.
      const std::size_t polled = (fds.size() - 2) / 2;
      for (std::size_t k = 0; k < polled; ++k) {
        const auto& from_client = fds[2 + 2 * k];
        const auto& from_server = fds[3 + 2 * k];
        if ((from_client.revents != 0 && !pump(m_pairs[k].client, m_pairs[k].server)) ||
            (from_server.revents != 0 && !pump(m_pairs[k].server, m_pairs[k].client))) {
          // One side hung up: so does the other, and the pair is dropped
          // (fds is rebuilt on the next round).
          ::close(m_pairs[k].client);
          ::close(m_pairs[k].server);
          m_pairs.erase(m_pairs.begin() + static_cast<std::ptrdiff_t>(k));
          break;
        }
      }
      if (fds[1].revents != 0) {
        accept_one();
      }
    }
  }

  void accept_one() {
    const int fd = ::accept4(m_listen, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      return;
    }
    if (++m_accepted > m_forwarded) {
      m_held.push_back(fd);
      return;
    }
    const int up = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (up < 0 ||
        ::connect(up, reinterpret_cast<const sockaddr*>(&m_upstream), sizeof m_upstream) != 0) {
      ::close(fd);
      if (up >= 0) {
        ::close(up);
      }
      return;
    }
    m_pairs.push_back({fd, up});
  }

  // Copies what is readable on `from` to `to`; false when `from` ended.
  static bool pump(int from, int to) {
    char buf[65536];
    const ssize_t n = ::recv(from, buf, sizeof buf, 0);
    if (n <= 0) {
      return false;
    }
    for (ssize_t off = 0; off < n;) {
      const ssize_t w = ::send(to, buf + off, static_cast<std::size_t>(n - off), MSG_NOSIGNAL);
      if (w <= 0) {
        return false;
      }
      off += w;
    }
    return true;
  }

  std::size_t m_forwarded;
  sockaddr_in m_upstream{};
  int m_listen = -1;
  int m_wake[2] = {-1, -1};
  int m_port = 0;
  std::atomic<std::size_t> m_accepted{0};
  std::vector<int> m_held;
  std::vector<Pair> m_pairs;
  std::thread m_thread;
};

}  // namespace roam::test
