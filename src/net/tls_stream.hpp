#pragma once

// Internals shared by socket_stream.cpp and tls_stream.cpp: poll()-based
// waiting with timeouts, and the TLS session that runs over a connected
// socket. Nothing outside src/net includes this header.

#include <openssl/ssl.h>

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "net/stream.hpp"

namespace roam::net::detail {

using Clock = std::chrono::steady_clock;

enum class Wait { Read, Write };

// "300 ms" reads badly next to a seconds-based setting, so timeouts are shown
// as seconds with as many decimals as needed: "30 s", "0.3 s".
std::string format_seconds(std::chrono::milliseconds timeout);

// Waits until `fd` is readable (Wait::Read) or writable (Wait::Write). A
// hang-up or socket error also counts as ready, so that the following call
// reports it. Throws util::Error(Scope::Account) "timed out after <timeout>
// waiting for <peer> (<doing>)" once `deadline` has passed; `timeout` is only
// the figure shown in that message.
void wait_for(int fd, Wait what, Clock::time_point deadline, std::chrono::milliseconds timeout,
              const std::string& peer, std::string_view doing);

// The state a socket BIO needs: the descriptor, and what the last system call
// said, so that errors can be reported with strerror rather than OpenSSL's
// bare "syscall failure".
struct SocketIo {
  int fd = -1;
  int last_errno = 0;
  bool eof = false;
};

// A TLS client session over an already connected, non-blocking socket. The
// constructor performs the handshake and verifies the peer; it throws
// util::Error(Scope::Account) when either fails. The session does not own the
// socket.
class TlsSession {
 public:
  // `host` is the name that was connected to; it is what the certificate must
  // match unless `options.server_name` says otherwise.
  TlsSession(int fd, const std::string& host, std::string peer, std::chrono::milliseconds timeout,
             const TlsOptions& options);
  TlsSession(const TlsSession&) = delete;
  TlsSession& operator=(const TlsSession&) = delete;
  // Sends close_notify if the session is still healthy (best effort, no wait).
  ~TlsSession();

  // Same contract as Stream::read_some and Stream::write_all.
  std::size_t read_some(char* buf, std::size_t len);
  void write_all(std::string_view data);

  // "TLSv1.3 TLS_AES_256_GCM_SHA384".
  std::string description() const;

  // Whether OpenSSL holds bytes received from the socket that no read has
  // returned yet (a decrypted record's rest, or a record not yet processed).
  bool has_pending() const;

 private:
  struct SslDeleter {
    void operator()(SSL* ssl) const { SSL_free(ssl); }
  };
  struct SslCtxDeleter {
    void operator()(SSL_CTX* ctx) const { SSL_CTX_free(ctx); }
  };

  void handshake();
  void verify_peer(const TlsOptions& options, const std::string& name);
  // Waits as SSL_get_error(`ret`) asks, or throws (marking the session
  // failed) if the error is not a retry; `doing` names the operation.
  void wait_or_fail(int ret, Clock::time_point deadline, std::string_view doing);
  [[noreturn]] void fail(const std::string& message);

  SocketIo m_io;
  std::string m_peer;
  std::chrono::milliseconds m_timeout;
  std::unique_ptr<SSL_CTX, SslCtxDeleter> m_ctx;
  std::unique_ptr<SSL, SslDeleter> m_ssl;
  bool m_failed = false;
};

}  // namespace roam::net::detail
