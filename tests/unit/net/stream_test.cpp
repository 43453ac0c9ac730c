// Tests for net::connect and its streams against a loopback server running in
// a thread of the test itself: plaintext, implicit TLS and STARTTLS, with
// certificates generated here, so no network and no fixture files are needed.

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>

#include "net/stream.hpp"
#include "util/error.hpp"

namespace roam::net {
namespace {

using namespace std::chrono_literals;

constexpr auto k_timeout = 2000ms;

// --- Certificates generated at test time ---

struct PkeyDeleter {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};
struct X509Deleter {
  void operator()(X509* cert) const { X509_free(cert); }
};

// Removes the named file when destroyed (at exit, for the static certs).
struct PathDeleter {
  void operator()(const std::string* path) const {
    std::remove(path->c_str());
    delete path;
  }
};

// A self-signed certificate and its key, also written as PEM for ca_file.
struct TestCert {
  std::unique_ptr<EVP_PKEY, PkeyDeleter> key;
  std::unique_ptr<X509, X509Deleter> cert;
  std::string pem_path;
  std::string fingerprint;  // Lower-case hex SHA-256 of the DER.
  std::unique_ptr<const std::string, PathDeleter> pem_cleanup;
};

void add_extension(X509* cert, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, cert, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
  ASSERT_NE(ext, nullptr);
  ASSERT_EQ(X509_add_ext(cert, ext, -1), 1);
  X509_EXTENSION_free(ext);
}

TestCert make_cert(const std::string& common_name, const char* alt_names,
                   const std::string& file_name) {
  TestCert out;
  out.key.reset(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  if (!out.key) {
    throw std::runtime_error("EC key generation failed");
  }
  out.cert.reset(X509_new());
  X509* cert = out.cert.get();
  X509_set_version(cert, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
  X509_gmtime_adj(X509_getm_notBefore(cert), -60);
  X509_gmtime_adj(X509_getm_notAfter(cert), 3600);
  X509_set_pubkey(cert, out.key.get());
  X509_NAME* name = X509_get_subject_name(cert);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(common_name.c_str()), -1, -1,
                             0);
  X509_set_issuer_name(cert, name);
  add_extension(cert, NID_subject_alt_name, alt_names);
  if (X509_sign(cert, out.key.get(), EVP_sha256()) == 0) {
    throw std::runtime_error("certificate signing failed");
  }

  out.pem_path = (std::filesystem::temp_directory_path() /
                  (file_name + "-" + std::to_string(::getpid()) + ".pem"))
                     .string();
  FILE* file = std::fopen(out.pem_path.c_str(), "w");
  if (file == nullptr || PEM_write_X509(file, cert) != 1) {
    throw std::runtime_error("cannot write " + out.pem_path);
  }
  std::fclose(file);
  out.pem_cleanup.reset(new std::string(out.pem_path));

  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  X509_digest(cert, EVP_sha256(), md, &len);
  char hex[3];
  for (unsigned int i = 0; i < len; ++i) {
    std::snprintf(hex, sizeof hex, "%02x", md[i]);
    out.fingerprint += hex;
  }
  return out;
}

// The colon-separated upper-case form `openssl x509 -fingerprint` prints.
std::string openssl_style(const std::string& hex) {
  std::string out = "SHA256:";
  for (std::size_t i = 0; i < hex.size(); i += 2) {
    if (i != 0) {
      out += ':';
    }
    out += static_cast<char>(std::toupper(static_cast<unsigned char>(hex[i])));
    out += static_cast<char>(std::toupper(static_cast<unsigned char>(hex[i + 1])));
  }
  return out;
}

const TestCert& localhost_cert() {
  static const TestCert cert =
      make_cert("localhost", "DNS:localhost,IP:127.0.0.1", "roam-net-test-localhost");
  return cert;
}

const TestCert& other_cert() {
  static const TestCert cert =
      make_cert("other.example", "DNS:other.example", "roam-net-test-other");
  return cert;
}

// --- Loopback server ---

// Accepts one connection on 127.0.0.1 and hands it to `handler` in a thread.
// The socket times out after a few seconds, so a test that goes wrong fails
// instead of hanging.
class LoopbackServer {
 public:
  explicit LoopbackServer(std::function<void(int fd)> handler) {
    m_listen_fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t addr_len = sizeof addr;
    if (m_listen_fd < 0 || ::bind(m_listen_fd, reinterpret_cast<sockaddr*>(&addr), addr_len) != 0 ||
        ::listen(m_listen_fd, 1) != 0 ||
        ::getsockname(m_listen_fd, reinterpret_cast<sockaddr*>(&addr), &addr_len) != 0) {
      throw std::runtime_error("cannot listen on loopback");
    }
    m_port = ntohs(addr.sin_port);
    set_timeouts(m_listen_fd);
    m_thread = std::thread([this, h = std::move(handler)] {
      // The server side writes with OpenSSL's write(2)-based BIO, so a client
      // that hangs up (as refusing clients do) would SIGPIPE the test. Block
      // the signal in this thread only: the client code under test must
      // still survive a closed peer on its own.
      sigset_t pipe_set;
      sigemptyset(&pipe_set);
      sigaddset(&pipe_set, SIGPIPE);
      pthread_sigmask(SIG_BLOCK, &pipe_set, nullptr);
      const int fd = ::accept(m_listen_fd, nullptr, nullptr);
      if (fd < 0) {
        return;
      }
      set_timeouts(fd);
      // Echoing in lockstep with Nagle on would wait for delayed ACKs.
      const int one = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      h(fd);
      ::close(fd);
    });
  }
  LoopbackServer(const LoopbackServer&) = delete;
  LoopbackServer& operator=(const LoopbackServer&) = delete;
  ~LoopbackServer() {
    m_thread.join();
    ::close(m_listen_fd);
  }

  std::uint16_t port() const { return m_port; }

 private:
  static void set_timeouts(int fd) {
    timeval tv{};
    tv.tv_sec = 3;
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  }

  int m_listen_fd = -1;
  std::uint16_t m_port = 0;
  std::thread m_thread;
};

void echo_plain(int fd) {
  char buf[4096];
  for (;;) {
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0 || ::send(fd, buf, static_cast<std::size_t>(n), MSG_NOSIGNAL) != n) {
      return;
    }
  }
}

// Reads one line (up to "\n") byte by byte, so nothing after it is consumed.
std::string read_line_plain(int fd) {
  std::string line;
  char c = 0;
  while (::recv(fd, &c, 1, 0) == 1) {
    line += c;
    if (c == '\n') {
      break;
    }
  }
  return line;
}

void send_plain(int fd, const std::string& text) {
  ::send(fd, text.data(), text.size(), MSG_NOSIGNAL);
}

// Runs a TLS server handshake on `fd` with `cert`, then `after` on the
// session. A client that refuses the certificate just makes this return.
void serve_tls(int fd, const TestCert& cert, const std::function<void(SSL*)>& after) {
  std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> ctx(SSL_CTX_new(TLS_server_method()),
                                                        &SSL_CTX_free);
  SSL_CTX_use_certificate(ctx.get(), cert.cert.get());
  SSL_CTX_use_PrivateKey(ctx.get(), cert.key.get());
  std::unique_ptr<SSL, decltype(&SSL_free)> ssl(SSL_new(ctx.get()), &SSL_free);
  SSL_set_fd(ssl.get(), fd);
  if (SSL_accept(ssl.get()) == 1) {
    after(ssl.get());
  }
  ERR_clear_error();
}

void echo_tls(SSL* ssl) {
  char buf[4096];
  std::size_t n = 0;
  while (SSL_read_ex(ssl, buf, sizeof buf, &n) == 1) {
    std::size_t written = 0;
    if (SSL_write_ex(ssl, buf, n, &written) != 1) {
      return;
    }
  }
}

// Writes `text` in chunks and reads each chunk's echo before the next, so
// that neither side can block on full socket buffers however large `text` is.
std::string round_trip(Stream& stream, const std::string& text) {
  constexpr std::size_t k_chunk = 16384;
  std::string got;
  char buf[256];
  for (std::size_t sent = 0; sent < text.size();) {
    const std::string_view chunk = std::string_view(text).substr(sent, k_chunk);
    stream.write_all(chunk);
    sent += chunk.size();
    while (got.size() < sent) {
      const std::size_t n = stream.read_some(buf, sizeof buf);
      if (n == 0) {
        return got;
      }
      got.append(buf, n);
    }
  }
  return got;
}

std::string connect_error(const std::string& host, std::uint16_t port, const TlsOptions& tls,
                          std::chrono::milliseconds timeout = k_timeout) {
  try {
    auto stream = connect(host, port, tls, timeout);
    return "";
  } catch (const util::Error& e) {
    EXPECT_EQ(e.scope(), util::Scope::Account);
    return e.what();
  }
}

TlsOptions for_localhost() {
  TlsOptions options;
  options.server_name = "localhost";
  return options;
}

// --- Plaintext ---

TEST(Stream, PlainEchoRoundTrip) {
  LoopbackServer server(echo_plain);
  auto stream = connect("127.0.0.1", server.port(), std::nullopt, k_timeout);
  EXPECT_FALSE(stream->is_tls());
  EXPECT_EQ(stream->security(), "plaintext");
  EXPECT_EQ(stream->peer(), "127.0.0.1:" + std::to_string(server.port()));
  EXPECT_EQ(round_trip(*stream, "a1 NOOP\r\n"), "a1 NOOP\r\n");
  const std::string big(200000, 'x');
  EXPECT_EQ(round_trip(*stream, big), big);
}

TEST(Stream, ConnectToClosedPortNamesThePort) {
  // Bind a port without listening on it: connections to it are refused.
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), len), 0);
  ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  const std::string port = std::to_string(ntohs(addr.sin_port));
  try {
    connect("127.0.0.1", ntohs(addr.sin_port), std::nullopt, k_timeout);
    ADD_FAILURE() << "connected to a closed port";
  } catch (const util::Error& e) {
    EXPECT_EQ(e.scope(), util::Scope::Account);
    EXPECT_NE(std::string(e.what()).find("127.0.0.1:" + port), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("refused"), std::string::npos) << e.what();
  }
  ::close(fd);
}

TEST(Stream, UnknownHostIsAnAccountError) {
  try {
    connect("no-such-host.invalid", 993, std::nullopt, k_timeout);
    ADD_FAILURE() << "resolved an .invalid name";
  } catch (const util::Error& e) {
    EXPECT_EQ(e.scope(), util::Scope::Account);
    EXPECT_NE(std::string(e.what()).find("no-such-host.invalid:993"), std::string::npos)
        << e.what();
  }
}

TEST(Stream, ReadTimesOutWhenTheServerSaysNothing) {
  LoopbackServer server([](int fd) {
    char c = 0;
    ::recv(fd, &c, 1, 0);  // Wait for the client to give up and close.
  });
  auto stream = connect("127.0.0.1", server.port(), std::nullopt, 300ms);
  char buf[16];
  const auto start = std::chrono::steady_clock::now();
  try {
    stream->read_some(buf, sizeof buf);
    ADD_FAILURE() << "read returned without data";
  } catch (const util::Error& e) {
    EXPECT_EQ(e.scope(), util::Scope::Account);
    EXPECT_NE(std::string(e.what()).find("timed out after 0.3 s waiting for 127.0.0.1:"),
              std::string::npos)
        << e.what();
  }
  const auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_GE(elapsed, 290ms);
  EXPECT_LT(elapsed, 2s);
  // After an error the stream refuses further use instead of half-working.
  EXPECT_THROW(stream->write_all("x"), util::Error);
  stream.reset();
}

// --- Cancel: another thread gives a connection attempt up ---

// A server that accepts and never greets holds a reader for the whole
// timeout; cancel() ends the wait at once, as a lost connection.
TEST(Stream, CancelEndsAWaitForTheGreeting) {
  LoopbackServer server([](int fd) {
    char c = 0;
    ::recv(fd, &c, 1, 0);  // Silent until the client hangs up.
  });
  auto cancel = std::make_shared<Cancel>();
  auto stream = connect("127.0.0.1", server.port(), std::nullopt, 20s, cancel);
  std::thread canceller([&] {
    std::this_thread::sleep_for(100ms);
    cancel->cancel();
  });
  const auto start = std::chrono::steady_clock::now();
  char buf[16];
  std::size_t got = 1;
  try {
    got = stream->read_some(buf, sizeof buf);
  } catch (const util::Error& e) {
    EXPECT_EQ(e.scope(), util::Scope::Account);
    got = 0;
  }
  canceller.join();
  // Shut down, the socket reads as closed (0) or fails; either way no byte.
  EXPECT_EQ(got, 0u);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
  EXPECT_TRUE(cancel->cancelled());
}

TEST(Stream, CancelEndsAnImplicitTlsHandshake) {
  LoopbackServer server([](int fd) {
    char c = 0;
    ::recv(fd, &c, 1, 0);  // Reads the ClientHello's first byte, answers nothing.
    while (::recv(fd, &c, 1, 0) > 0) {
    }
  });
  auto cancel = std::make_shared<Cancel>();
  std::thread canceller([&] {
    std::this_thread::sleep_for(100ms);
    cancel->cancel();
  });
  const auto start = std::chrono::steady_clock::now();
  EXPECT_THROW(connect("127.0.0.1", server.port(), for_localhost(), 20s, cancel), util::Error);
  canceller.join();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
}

TEST(Stream, CancelledBeforeConnectingIsRefused) {
  LoopbackServer server([](int) {});
  auto cancel = std::make_shared<Cancel>();
  cancel->cancel();
  try {
    connect("127.0.0.1", server.port(), std::nullopt, k_timeout, cancel);
    ADD_FAILURE() << "connected although cancelled";
  } catch (const util::Error& e) {
    EXPECT_NE(std::string(e.what()).find("given up"), std::string::npos) << e.what();
  }
  // The server's accept waits for a connection that never comes: make one.
  auto unblock = connect("127.0.0.1", server.port(), std::nullopt, k_timeout);
}

// Once the session is established (settle_all), the connection is its
// owner's: a late cancel() leaves it working.
TEST(Stream, CancelAfterSettlingLeavesTheConnectionAlone) {
  LoopbackServer server(echo_plain);
  auto cancel = std::make_shared<Cancel>();
  auto stream = connect("127.0.0.1", server.port(), std::nullopt, k_timeout, cancel);
  cancel->settle_all();
  cancel->cancel();
  EXPECT_EQ(round_trip(*stream, "a1 NOOP\r\n"), "a1 NOOP\r\n");
}

TEST(Stream, PlainEofIsZero) {
  LoopbackServer server([](int fd) {
    send_plain(fd, "* BYE\r\n");
    ::shutdown(fd, SHUT_WR);
  });
  auto stream = connect("127.0.0.1", server.port(), std::nullopt, k_timeout);
  std::string got;
  char buf[64];
  for (std::size_t n = stream->read_some(buf, sizeof buf); n != 0;
       n = stream->read_some(buf, sizeof buf)) {
    got.append(buf, n);
  }
  EXPECT_EQ(got, "* BYE\r\n");
  EXPECT_EQ(stream->read_some(buf, sizeof buf), 0u);
}

TEST(Stream, WriteToClosedPeerThrowsInsteadOfSigpipe) {
  LoopbackServer server([](int fd) {
    // Wait for the client's first byte, so the connection is surely up, then
    // reset it: SO_LINGER 0 makes close() send RST.
    char c = 0;
    ::recv(fd, &c, 1, 0);
    linger lin{1, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &lin, sizeof lin);
  });
  auto stream = connect("127.0.0.1", server.port(), std::nullopt, k_timeout);
  stream->write_all("x");
  // However late the reset arrives, 64 MB cannot all fit in socket buffers,
  // and a blocked write wakes up when it does.
  const std::string chunk(65536, 'x');
  try {
    for (int i = 0; i < 1000; ++i) {
      stream->write_all(chunk);
    }
    ADD_FAILURE() << "wrote 64 MB to a reset connection";
  } catch (const util::Error& e) {
    EXPECT_NE(std::string(e.what()).find("lost while writing"), std::string::npos) << e.what();
  }
}

// --- Implicit TLS ---

TEST(Stream, SelfSignedCertificateIsRefusedByDefault) {
  const TestCert& cert = localhost_cert();
  LoopbackServer server([&](int fd) { serve_tls(fd, cert, echo_tls); });
  const std::string error = connect_error("127.0.0.1", server.port(), for_localhost());
  EXPECT_NE(error.find("self-signed certificate"), std::string::npos) << error;
  EXPECT_NE(error.find("CN=localhost"), std::string::npos) << error;
  EXPECT_NE(error.find("cert_fingerprint = sha256:" + cert.fingerprint), std::string::npos)
      << error;
  EXPECT_NE(error.find("add ca_file = <PEM>"), std::string::npos) << error;
}

TEST(Stream, CaFileMakesTheCertificateTrusted) {
  const TestCert& cert = localhost_cert();
  LoopbackServer server([&](int fd) { serve_tls(fd, cert, echo_tls); });
  TlsOptions options = for_localhost();
  options.ca_file = cert.pem_path;
  auto stream = connect("127.0.0.1", server.port(), options, k_timeout);
  EXPECT_TRUE(stream->is_tls());
  EXPECT_EQ(stream->security().rfind("TLSv1.", 0), 0u) << stream->security();
  EXPECT_EQ(round_trip(*stream, "a1 CAPABILITY\r\n"), "a1 CAPABILITY\r\n");
  // 16 KB records read through a 256-byte buffer: most reads are served from
  // OpenSSL's buffer with nothing left on the socket, so polling before
  // reading would stall here until the timeout.
  std::string big(100000, 'y');
  for (std::size_t i = 0; i < big.size(); i += 7) {
    big[i] = static_cast<char>('a' + i % 26);
  }
  EXPECT_EQ(round_trip(*stream, big), big);
}

TEST(Stream, VerifyOffAcceptsAnyCertificate) {
  const TestCert& cert = other_cert();
  LoopbackServer server([&](int fd) { serve_tls(fd, cert, echo_tls); });
  TlsOptions options = for_localhost();
  options.verify = false;
  auto stream = connect("127.0.0.1", server.port(), options, k_timeout);
  EXPECT_EQ(round_trip(*stream, "unverified"), "unverified");
}

TEST(Stream, CertificateMatchesAnIpAddressWhenNoServerNameIsGiven) {
  const TestCert& cert = localhost_cert();
  LoopbackServer server([&](int fd) { serve_tls(fd, cert, echo_tls); });
  TlsOptions options;  // server_name empty: the host, 127.0.0.1, must match.
  options.ca_file = cert.pem_path;
  auto stream = connect("127.0.0.1", server.port(), options, k_timeout);
  EXPECT_EQ(round_trip(*stream, "ping"), "ping");
}

TEST(Stream, MissingCaFileIsNamed) {
  const TestCert& cert = localhost_cert();
  LoopbackServer server([&](int fd) { serve_tls(fd, cert, echo_tls); });
  TlsOptions options = for_localhost();
  options.ca_file = "/nonexistent/roam-ca.pem";
  const std::string error = connect_error("127.0.0.1", server.port(), options);
  EXPECT_NE(error.find("/nonexistent/roam-ca.pem"), std::string::npos) << error;
}

TEST(Stream, CorrectFingerprintIsAccepted) {
  const TestCert& cert = localhost_cert();
  LoopbackServer server([&](int fd) { serve_tls(fd, cert, echo_tls); });
  TlsOptions options = for_localhost();
  // Upper case with colons, as `openssl x509 -fingerprint -sha256` prints it.
  options.sha256_fingerprint = openssl_style(cert.fingerprint);
  auto stream = connect("127.0.0.1", server.port(), options, k_timeout);
  EXPECT_EQ(round_trip(*stream, "pinned"), "pinned");
}

TEST(Stream, WrongFingerprintIsRefused) {
  const TestCert& cert = localhost_cert();
  LoopbackServer server([&](int fd) { serve_tls(fd, cert, echo_tls); });
  TlsOptions options = for_localhost();
  options.ca_file = cert.pem_path;  // A valid chain does not override the pin.
  options.sha256_fingerprint = "sha256:" + std::string(64, '0');
  const std::string error = connect_error("127.0.0.1", server.port(), options);
  EXPECT_NE(error.find("does not match the pinned cert_fingerprint"), std::string::npos) << error;
  EXPECT_NE(error.find("got sha256:" + cert.fingerprint), std::string::npos) << error;
}

TEST(Stream, HostnameMismatchIsRefusedEvenWithCaFile) {
  const TestCert& cert = other_cert();
  LoopbackServer server([&](int fd) { serve_tls(fd, cert, echo_tls); });
  TlsOptions options = for_localhost();
  options.ca_file = cert.pem_path;
  const std::string error = connect_error("127.0.0.1", server.port(), options);
  EXPECT_NE(error.find("hostname mismatch"), std::string::npos) << error;
  EXPECT_NE(error.find("DNS:other.example, not localhost"), std::string::npos) << error;
}

TEST(Stream, TlsToAPlaintextServerFailsWithAHint) {
  LoopbackServer server([](int fd) {
    send_plain(fd, "* OK IMAP4rev1 ready\r\n");
    char c = 0;
    ::recv(fd, &c, 1, 0);
  });
  const std::string error = connect_error("127.0.0.1", server.port(), for_localhost());
  EXPECT_NE(error.find("TLS handshake"), std::string::npos) << error;
  EXPECT_NE(error.find("STARTTLS"), std::string::npos) << error;
}

TEST(Stream, TlsEofWithAndWithoutCloseNotifyIsZero) {
  const TestCert& cert = localhost_cert();
  for (const bool close_notify : {true, false}) {
    LoopbackServer server([&](int fd) {
      serve_tls(fd, cert, [&](SSL* ssl) {
        std::size_t written = 0;
        SSL_write_ex(ssl, "* BYE\r\n", 7, &written);
        if (close_notify) {
          SSL_shutdown(ssl);
        }
        ::shutdown(fd, SHUT_WR);
        char c = 0;
        ::recv(fd, &c, 1, 0);  // Keep the socket until the client is done.
      });
    });
    TlsOptions options = for_localhost();
    options.ca_file = cert.pem_path;
    auto stream = connect("127.0.0.1", server.port(), options, k_timeout);
    std::string got;
    char buf[64];
    for (std::size_t n = stream->read_some(buf, sizeof buf); n != 0;
         n = stream->read_some(buf, sizeof buf)) {
      got.append(buf, n);
    }
    EXPECT_EQ(got, "* BYE\r\n") << "close_notify " << close_notify;
    stream.reset();
  }
}

// --- STARTTLS ---

TEST(Stream, StartTlsAfterPlaintextExchange) {
  const TestCert& cert = localhost_cert();
  LoopbackServer server([&](int fd) {
    send_plain(fd, "* OK ready\r\n");
    if (read_line_plain(fd) != "a1 STARTTLS\r\n") {
      return;
    }
    send_plain(fd, "a1 OK begin TLS\r\n");
    serve_tls(fd, cert, echo_tls);
  });
  auto stream = connect("127.0.0.1", server.port(), std::nullopt, k_timeout);
  char buf[64];
  std::string greeting(buf, stream->read_some(buf, sizeof buf));
  EXPECT_EQ(greeting, "* OK ready\r\n");
  stream->write_all("a1 STARTTLS\r\n");
  std::string reply(buf, stream->read_some(buf, sizeof buf));
  EXPECT_EQ(reply, "a1 OK begin TLS\r\n");

  TlsOptions options = for_localhost();
  options.ca_file = cert.pem_path;
  stream->start_tls(options);
  EXPECT_TRUE(stream->is_tls());
  EXPECT_NE(stream->security(), "plaintext");
  EXPECT_EQ(round_trip(*stream, "a2 CAPABILITY\r\n"), "a2 CAPABILITY\r\n");
}

TEST(Stream, StartTlsWithInjectedPlaintextFails) {
  // A man in the middle appends a forged response to the OK. The stream must
  // not deliver it: the handshake sees it and fails.
  const TestCert& cert = localhost_cert();
  LoopbackServer server([&](int fd) {
    read_line_plain(fd);
    send_plain(fd, "a1 OK begin TLS\r\n* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\n");
    serve_tls(fd, cert, echo_tls);
  });
  auto stream = connect("127.0.0.1", server.port(), std::nullopt, k_timeout);
  stream->write_all("a1 STARTTLS\r\n");
  char buf[17];  // Exactly the OK line: the injected bytes stay in the socket.
  std::string reply;
  while (reply.size() < sizeof buf) {
    const std::size_t n = stream->read_some(buf, sizeof buf - reply.size());
    ASSERT_NE(n, 0u);
    reply.append(buf, n);
  }
  EXPECT_EQ(reply, "a1 OK begin TLS\r\n");
  TlsOptions options = for_localhost();
  options.ca_file = cert.pem_path;
  EXPECT_THROW(stream->start_tls(options), util::Error);
  EXPECT_THROW(stream->read_some(buf, sizeof buf), util::Error);
}

}  // namespace
}  // namespace roam::net
