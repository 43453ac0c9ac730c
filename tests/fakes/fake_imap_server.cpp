#include "fakes/fake_imap_server.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <utility>

namespace roam::fakes {

ImapStep expect(std::string_view pattern) {
  ImapStep s;
  s.kind = ImapStep::Kind::Expect;
  s.pattern = std::string(pattern);
  return s;
}

ImapStep expect_line(std::string_view pattern) {
  ImapStep s;
  s.kind = ImapStep::Kind::ExpectLine;
  s.pattern = std::string(pattern);
  return s;
}

ImapStep send(std::string_view data) {
  ImapStep s;
  s.kind = ImapStep::Kind::Send;
  s.data = std::string(data);
  return s;
}

ImapStep stall() {
  ImapStep s;
  s.kind = ImapStep::Kind::Stall;
  return s;
}

ImapStep flood(std::string_view data, std::size_t count) {
  ImapStep s;
  s.kind = ImapStep::Kind::Flood;
  s.data = std::string(data);
  s.count = count;
  return s;
}

ImapStep trickle(std::string_view data, std::chrono::milliseconds interval) {
  ImapStep s;
  s.kind = ImapStep::Kind::Trickle;
  s.data = std::string(data);
  s.interval = interval;
  return s;
}

ImapStep close_connection() {
  ImapStep s;
  s.kind = ImapStep::Kind::Close;
  return s;
}

std::vector<ImapStep> on(std::string_view pattern, std::string_view reply) {
  return {expect(pattern), send(reply)};
}

std::vector<ImapStep> script(std::initializer_list<std::vector<ImapStep>> parts) {
  std::vector<ImapStep> out;
  for (const auto& part : parts) {
    out.insert(out.end(), part.begin(), part.end());
  }
  return out;
}

namespace {

char lower(char c) {
  return static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
}

// The tag of a client line and the rest after it.
std::pair<std::string, std::string> split_tag(const std::string& line) {
  const auto space = line.find(' ');
  if (space == std::string::npos) {
    return {line, {}};
  }
  return {line.substr(0, space), line.substr(space + 1)};
}

std::string replace_tag(std::string text, const std::string& tag) {
  for (auto at = text.find("$TAG"); at != std::string::npos; at = text.find("$TAG", at)) {
    text.replace(at, 4, tag);
    at += tag.size();
  }
  return text;
}

// One connection's byte I/O, plain or TLS. Failures are reported as false or
// 0 rather than thrown: a client that hangs up is part of many scripts.
class Conn {
 public:
  Conn(int fd, SSL* ssl) : m_fd(fd), m_ssl(ssl) {}

  // Returns the bytes read, 0 at EOF or on error.
  std::size_t read_some(char* buf, std::size_t len) {
    if (m_ssl != nullptr) {
      std::size_t n = 0;
      return SSL_read_ex(m_ssl, buf, len, &n) == 1 ? n : 0;
    }
    for (;;) {
      const ssize_t n = ::recv(m_fd, buf, len, 0);
      if (n < 0 && errno == EINTR) {
        continue;
      }
      return n > 0 ? static_cast<std::size_t>(n) : 0;
    }
  }

  bool write_all(std::string_view data) {
    while (!data.empty()) {
      std::size_t n = 0;
      if (m_ssl != nullptr) {
        if (SSL_write_ex(m_ssl, data.data(), data.size(), &n) != 1) {
          return false;
        }
      } else {
        const ssize_t r = ::send(m_fd, data.data(), data.size(), MSG_NOSIGNAL);
        if (r < 0 && errno == EINTR) {
          continue;
        }
        if (r <= 0) {
          return false;
        }
        n = static_cast<std::size_t>(r);
      }
      data.remove_prefix(n);
    }
    return true;
  }

  // Reads one line without its CRLF (a bare LF also ends it); nullopt at EOF.
  std::optional<std::string> read_line() {
    for (;;) {
      const auto lf = m_buf.find('\n');
      if (lf != std::string::npos) {
        std::string line = m_buf.substr(0, lf);
        m_buf.erase(0, lf + 1);
        if (!line.empty() && line.back() == '\r') {
          line.pop_back();
        }
        return line;
      }
      char chunk[4096];
      const std::size_t n = read_some(chunk, sizeof chunk);
      if (n == 0) {
        return std::nullopt;
      }
      m_buf.append(chunk, n);
    }
  }

 private:
  int m_fd;
  SSL* m_ssl;
  std::string m_buf;
};

struct SslCtxFree {
  void operator()(SSL_CTX* ctx) const { SSL_CTX_free(ctx); }
};
struct SslFree {
  void operator()(SSL* ssl) const { SSL_free(ssl); }
};

// The first word of a command, or "UID <word>" for UID commands.
std::string command_of(const std::string& rest) {
  std::string upper;
  for (char c : rest) {
    upper += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  }
  auto first = upper.find(' ');
  std::string word = upper.substr(0, first);
  if (word == "UID" && first != std::string::npos) {
    auto second = upper.find(' ', first + 1);
    return upper.substr(0, second);
  }
  return word;
}

}  // namespace

bool glob_match(std::string_view pattern, std::string_view text) {
  // Iterative matching with one backtrack point: linear enough for test
  // scripts and free of recursion on long lines.
  std::size_t p = 0, t = 0, star = std::string_view::npos, mark = 0;
  while (t < text.size()) {
    if (p < pattern.size() && (pattern[p] == '?' || lower(pattern[p]) == lower(text[t]))) {
      ++p;
      ++t;
    } else if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      mark = t;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      t = ++mark;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') {
    ++p;
  }
  return p == pattern.size();
}

FakeImapServer::FakeImapServer(std::vector<ImapStep> steps, std::optional<FakeTls> tls)
    : m_steps(std::move(steps)), m_tls(std::move(tls)) {
  m_listen_fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (m_listen_fd < 0) {
    throw std::runtime_error(std::string("fake server: socket: ") + std::strerror(errno));
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  // The sockets API takes a generic address; this is the documented way to
  // pass an IPv4 one.
  auto* generic = reinterpret_cast<sockaddr*>(&addr);
  if (::bind(m_listen_fd, generic, len) != 0 || ::listen(m_listen_fd, 4) != 0 ||
      ::getsockname(m_listen_fd, generic, &len) != 0) {
    const int saved = errno;
    ::close(m_listen_fd);
    throw std::runtime_error(std::string("fake server: bind/listen: ") + std::strerror(saved));
  }
  m_port = ntohs(addr.sin_port);
  m_thread = std::thread([this] { run(); });
}

FakeImapServer::~FakeImapServer() {
  // Stop first, then look at the connection: either this sees the
  // descriptor, or the thread sees m_stop right after storing it.
  m_stop.store(true);
  ::shutdown(m_listen_fd, SHUT_RDWR);
  if (const int fd = m_conn_fd.load(); fd >= 0) {
    ::shutdown(fd, SHUT_RDWR);
  }
  if (m_thread.joinable()) {
    m_thread.join();
  }
  ::close(m_listen_fd);
}

bool FakeImapServer::wait_done(std::chrono::milliseconds timeout) const {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!m_done.load()) {
    if (std::chrono::steady_clock::now() >= deadline) {
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

std::vector<std::string> FakeImapServer::client_lines() const {
  std::lock_guard<std::mutex> lock(m_mutex);
  return m_lines;
}

std::string FakeImapServer::transcript() const {
  std::string out;
  for (const auto& line : client_lines()) {
    out += "C: " + line + "\n";
  }
  for (const auto& error : errors()) {
    out += "server error: " + error + "\n";
  }
  return out;
}

bool FakeImapServer::received(std::string_view command) const {
  std::string wanted;
  for (char c : command) {
    wanted += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  }
  for (const auto& line : client_lines()) {
    if (command_of(split_tag(line).second) == wanted) {
      return true;
    }
  }
  return false;
}

std::vector<std::string> FakeImapServer::errors() const {
  std::lock_guard<std::mutex> lock(m_mutex);
  return m_errors;
}

void FakeImapServer::record_error(std::string message) {
  std::lock_guard<std::mutex> lock(m_mutex);
  m_errors.push_back(std::move(message));
}

void FakeImapServer::run() {
  // A TLS write to a client that already hung up raises SIGPIPE, which would
  // kill the whole test binary. SIGPIPE from a write goes to the writing
  // thread, so blocking it here turns it into EPIPE for this thread alone.
  sigset_t pipe_set;
  sigemptyset(&pipe_set);
  sigaddset(&pipe_set, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe_set, nullptr);

  const int fd = ::accept4(m_listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
  if (fd < 0) {
    m_done.store(true);
    return;
  }
  m_conn_fd.store(fd);
  if (m_stop.load()) {
    ::close(fd);
    m_done.store(true);
    return;
  }
  // A bound on every wait, so that a client that neither talks nor hangs up
  // cannot keep a test binary alive forever.
  timeval tv{};
  tv.tv_sec = 120;
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);

  std::unique_ptr<SSL_CTX, SslCtxFree> ctx;
  std::unique_ptr<SSL, SslFree> ssl;
  if (m_tls) {
    ctx.reset(SSL_CTX_new(TLS_server_method()));
    if (!ctx || SSL_CTX_use_certificate_chain_file(ctx.get(), m_tls->cert_file.c_str()) != 1 ||
        SSL_CTX_use_PrivateKey_file(ctx.get(), m_tls->key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
      record_error("cannot load the TLS certificate or key");
      ERR_clear_error();
    } else {
      ssl.reset(SSL_new(ctx.get()));
      SSL_set_fd(ssl.get(), fd);
      if (SSL_accept(ssl.get()) != 1) {
        // A client that refuses the certificate may abort the handshake;
        // the test decides whether that was expected.
        record_error("TLS handshake failed");
        ERR_clear_error();
        ssl.reset();
      }
    }
    if (!ssl) {
      m_conn_fd.store(-1);
      ::close(fd);
      m_done.store(true);
      return;
    }
  }
  play(fd, ssl.get());
  if (ssl) {
    SSL_shutdown(ssl.get());
    ERR_clear_error();
  }
  ssl.reset();
  m_conn_fd.store(-1);
  ::close(fd);
  m_done.store(true);
}

void FakeImapServer::play(int fd, void* ssl_ptr) {
  Conn conn(fd, static_cast<SSL*>(ssl_ptr));
  std::string tag = "*";
  for (const auto& step : m_steps) {
    if (m_stop.load()) {
      return;
    }
    switch (step.kind) {
      case ImapStep::Kind::Expect:
      case ImapStep::Kind::ExpectLine: {
        auto line = conn.read_line();
        if (!line) {
          record_error("the client closed the connection while the script expected \"" +
                       step.pattern + "\"");
          return;
        }
        {
          std::lock_guard<std::mutex> lock(m_mutex);
          m_lines.push_back(*line);
        }
        const bool tagged = step.kind == ImapStep::Kind::Expect;
        auto [line_tag, rest] = split_tag(*line);
        if (tagged) {
          tag = line_tag;
        }
        if (!glob_match(step.pattern, tagged ? rest : *line)) {
          record_error("expected \"" + step.pattern + "\", got \"" + *line + "\"");
          conn.write_all(tag + " BAD not what the script expected\r\n");
          return;
        }
        break;
      }
      case ImapStep::Kind::Send:
        if (!conn.write_all(replace_tag(step.data, tag))) {
          record_error("the client closed the connection before the server could send \"" +
                       step.data.substr(0, 60) + "\"");
          return;
        }
        break;
      case ImapStep::Kind::Flood:
        for (std::size_t i = 0; i < step.count; ++i) {
          if (!conn.write_all(step.data)) {
            // The client gave up, which is what a flood is meant to provoke.
            m_finished.store(true);
            return;
          }
        }
        break;
      case ImapStep::Kind::Trickle:
        for (char c : step.data) {
          if (!conn.write_all(std::string_view(&c, 1))) {
            // The client gave up, which is what a trickle should provoke.
            m_finished.store(true);
            return;
          }
          // Sleep in slices, so that the destructor need not wait long.
          auto until = std::chrono::steady_clock::now() + step.interval;
          while (std::chrono::steady_clock::now() < until) {
            if (m_stop.load()) {
              return;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
          }
        }
        break;
      case ImapStep::Kind::Stall: {
        // Read (and record) until the client hangs up, answering nothing.
        m_finished.store(true);
        while (auto line = conn.read_line()) {
          std::lock_guard<std::mutex> lock(m_mutex);
          m_lines.push_back(*line);
        }
        return;
      }
      case ImapStep::Kind::Close:
        m_finished.store(true);
        return;
    }
  }
  m_finished.store(true);
  // Past the script: record what the client still says (a test may need to
  // know that it never sent LOGIN) and refuse it, until it hangs up.
  while (auto line = conn.read_line()) {
    {
      std::lock_guard<std::mutex> lock(m_mutex);
      m_lines.push_back(*line);
    }
    record_error("unscripted client line \"" + *line + "\"");
    if (!conn.write_all(split_tag(*line).first + " BAD the script has ended\r\n")) {
      return;
    }
  }
}

}  // namespace roam::fakes
