#pragma once

// A byte stream to an IMAP server: plain TCP, implicit TLS, or TCP upgraded by
// STARTTLS. Everything above this layer sees only this interface, so protocol
// tests can put a scripted stream (tests/fakes) in its place.
//
// All calls block, but never longer than the stream's timeout: a server that
// stalls makes read_some/write_all throw util::Error(Scope::Account) with a
// message naming the peer. Connection loss is reported the same way. The
// timeout bounds each wait for progress, not a whole transfer, so a large
// write over a slow but live link does not fail. (A server that sends a byte
// now and then never stalls that long; imap::ResponseReader judges the rate
// of a whole response.) After any error the stream is unusable and later
// calls throw.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

namespace roam::net {

// How a connection is protected (the `tls` configuration key).
enum class TlsMode {
  Implicit,  // TLS from the first byte (port 993).
  StartTls,  // A plain connection upgraded with STARTTLS (port 143); never downgraded.
  None,      // No TLS at all; only on loopback or with allow_plaintext = yes.
};

struct TlsOptions {
  // The name the certificate must match (SAN DNS or IP; a single left-most
  // "*." wildcard is allowed). Also sent as SNI when it is not an address.
  std::string server_name;
  // Verify the chain and the name. Only tests and explicit pinning turn it off.
  bool verify = true;
  // Extra trust anchors (PEM file), added to the system store.
  std::string ca_file;
  // A pinned certificate: lower-case hex SHA-256 of the DER certificate. When
  // set, a matching certificate is accepted even if the chain does not verify,
  // and a different one is refused even if it does.
  std::string sha256_fingerprint;
};

class Stream {
 public:
  virtual ~Stream() = default;

  // Reads at least one byte into `buf` (up to `len`) and returns the count;
  // returns 0 when the peer closed the connection in an orderly way.
  virtual std::size_t read_some(char* buf, std::size_t len) = 0;

  // Writes all of `data`.
  virtual void write_all(std::string_view data) = 0;

  // Upgrades the connection to TLS in place (STARTTLS). The caller must have
  // discarded everything it had buffered from the plaintext phase. The stream
  // itself keeps no plaintext read-ahead: in plaintext mode read_some reads
  // from the socket straight into the caller's buffer, so no byte received
  // before the switch can surface after it through this layer (the STARTTLS
  // response-injection attack, CVE-2020-14954 and kin). Bytes the server sent
  // after its OK but before the handshake break the handshake instead. Throws
  // util::Error(Scope::Account) if the handshake or verification fails; the
  // stream is then unusable.
  virtual void start_tls(const TlsOptions& options) = 0;

  virtual bool is_tls() const = 0;

  // "host:port", for messages.
  virtual std::string peer() const = 0;

  // A description of the negotiated TLS session ("TLSv1.3 TLS_AES_256_GCM_SHA384"),
  // or "plaintext".
  virtual std::string security() const = 0;

  // The timeout that bounds each wait for progress (the account's
  // `timeout`), or 0 for a stream that has none, such as a test double. The
  // reader above also uses it to judge a response that arrives too slowly.
  virtual std::chrono::milliseconds timeout() const { return std::chrono::milliseconds(0); }

  // What ended a wait_readable().
  enum class Ready { Data, TimedOut, Woken };

  // Waits until a read would find bytes (or the end of the connection), at
  // most `max`, or until `wake_fd` (when not -1) is readable; for a session
  // that may stay silent far longer than the timeout, such as IDLE. A
  // stream without a descriptor to wait on (a test double) reports Data at
  // once, and its read_some answers or fails as scripted.
  virtual Ready wait_readable(std::chrono::milliseconds max, int wake_fd) {
    (void)max;
    (void)wake_fd;
    return Ready::Data;
  }
};

// Lets one thread end another thread's connection attempt. A run opens its
// extra connections while it reads the Maildir; when it has finished every
// folder, a connection whose server has not even greeted yet is not needed,
// and waiting for it would hold the run's end until the timeout.
//
// The connecting side registers its socket (watch) for as long as the
// attempt lasts and ends the registration (settle) when the session is
// established or the socket is about to be closed, so that cancel() never
// touches a descriptor number the process has since reused. cancel() shuts
// the socket down, which wakes every poll() on it: the attempt then fails
// like a lost connection, with Scope::Account.
class Cancel {
 public:
  // Registers `fd`; false if cancel() came first, and the caller gives up.
  bool watch(int fd);
  // Ends the registration of `fd` (no effect if another is registered).
  void settle(int fd);
  // Ends whatever registration there is: the attempt succeeded, and the
  // connection is no longer anybody else's to end.
  void settle_all();
  void cancel();
  bool cancelled() const;

 private:
  mutable std::mutex m_mutex;
  int m_fd = -1;
  bool m_cancelled = false;
};

// Opens a TCP connection to host:port (every address the name resolves to is
// tried in turn). With `tls`, performs the TLS handshake at once (implicit TLS,
// port 993). `timeout` bounds connect, handshake and each later read or write.
// With `cancel`, another thread may end the attempt (see Cancel); the stream
// keeps `cancel` to end its registration when it closes its socket.
std::unique_ptr<Stream> connect(const std::string& host, std::uint16_t port,
                                const std::optional<TlsOptions>& tls,
                                std::chrono::milliseconds timeout,
                                std::shared_ptr<Cancel> cancel = nullptr);

// True for "localhost", 127.0.0.0/8 and ::1: hosts where a plaintext
// connection never leaves the machine.
bool is_loopback(const std::string& host);

}  // namespace roam::net
