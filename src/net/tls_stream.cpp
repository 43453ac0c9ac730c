// TLS client sessions with OpenSSL 3: handshake, certificate and host name
// verification, pinning, and reads and writes with poll()-based timeouts.

#include "net/tls_stream.hpp"

#include <arpa/inet.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstring>
#include <string>
#include <utility>

#include "util/error.hpp"
#include "util/log.hpp"

namespace roam::net::detail {

using util::Error;
using util::Scope;

namespace {

// Drains OpenSSL's error queue into one line, most specific reason first as
// OpenSSL queued it. Returns "" when the queue is empty.
std::string openssl_errors() {
  std::string out;
  for (unsigned long code = ERR_get_error(); code != 0; code = ERR_get_error()) {
    const char* reason = ERR_reason_error_string(code);
    std::string text;
    if (reason != nullptr) {
      text = reason;
    } else {
      char buf[256] = {};
      ERR_error_string_n(code, buf, sizeof buf);
      text = buf;
    }
    if (!out.empty()) {
      out += "; ";
    }
    out += text;
  }
  return out;
}

// --- A socket BIO that cannot raise SIGPIPE ---
//
// OpenSSL's own socket BIO writes with write(2), so a server that resets the
// connection while we write would kill the process with SIGPIPE. Rather than
// ignore SIGPIPE process-wide (a library should not change signal handling),
// this BIO writes with send(MSG_NOSIGNAL). It also records errno and EOF for
// better messages, and never blocks: retries go through SocketIo's poll().

SocketIo* io_of(BIO* bio) {
  return static_cast<SocketIo*>(BIO_get_data(bio));
}

int bio_write(BIO* bio, const char* data, std::size_t len, std::size_t* written) {
  SocketIo* io = io_of(bio);
  BIO_clear_retry_flags(bio);
  *written = 0;
  for (;;) {
    const ssize_t n = ::send(io->fd, data, len, MSG_NOSIGNAL);
    if (n >= 0) {
      *written = static_cast<std::size_t>(n);
      return 1;
    }
    if (errno == EINTR) {
      continue;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      BIO_set_retry_write(bio);
    } else {
      io->last_errno = errno;
    }
    return 0;
  }
}

int bio_read(BIO* bio, char* data, std::size_t len, std::size_t* read) {
  SocketIo* io = io_of(bio);
  BIO_clear_retry_flags(bio);
  *read = 0;
  for (;;) {
    const ssize_t n = ::recv(io->fd, data, len, 0);
    if (n > 0) {
      *read = static_cast<std::size_t>(n);
      return 1;
    }
    if (n == 0) {
      io->eof = true;
      return 0;
    }
    if (errno == EINTR) {
      continue;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      BIO_set_retry_read(bio);
    } else {
      io->last_errno = errno;
    }
    return 0;
  }
}

long bio_ctrl(BIO* bio, int cmd, long /*num*/, void* /*ptr*/) {
  switch (cmd) {
    case BIO_CTRL_FLUSH:
      // Nothing is buffered: every write goes to the socket at once.
      return 1;
    case BIO_CTRL_EOF:
      // OpenSSL asks this to tell a closed connection from a failed read;
      // without it SSL_OP_IGNORE_UNEXPECTED_EOF would not recognise EOF.
      return io_of(bio)->eof ? 1 : 0;
    default:
      return 0;
  }
}

const BIO_METHOD* socket_bio_method() {
  static const std::unique_ptr<BIO_METHOD, decltype(&BIO_meth_free)> method = [] {
    std::unique_ptr<BIO_METHOD, decltype(&BIO_meth_free)> m(
        BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "roam socket"), &BIO_meth_free);
    if (m && (BIO_meth_set_write_ex(m.get(), bio_write) != 1 ||
              BIO_meth_set_read_ex(m.get(), bio_read) != 1 ||
              BIO_meth_set_ctrl(m.get(), bio_ctrl) != 1)) {
      m.reset();
    }
    return m;
  }();
  if (!method) {
    throw Error(Scope::Fatal, "cannot create an OpenSSL BIO method: " + openssl_errors());
  }
  return method.get();
}

// --- Certificates ---

bool is_ip_literal(const std::string& name) {
  unsigned char buf[sizeof(in6_addr)];
  return ::inet_pton(AF_INET, name.c_str(), buf) == 1 ||
         ::inet_pton(AF_INET6, name.c_str(), buf) == 1;
}

std::string to_hex(const unsigned char* data, std::size_t len) {
  static constexpr char k_digits[] = "0123456789abcdef";
  std::string out;
  out.reserve(len * 2);
  for (std::size_t i = 0; i < len; ++i) {
    out += k_digits[data[i] >> 4];
    out += k_digits[data[i] & 0x0f];
  }
  return out;
}

// The lower-case hex SHA-256 of the certificate's DER encoding, the same
// value `openssl x509 -fingerprint -sha256` prints (without the colons).
std::string sha256_fingerprint(const X509* cert) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (X509_digest(cert, EVP_sha256(), md, &len) != 1) {
    return "(unknown)";
  }
  return to_hex(md, len);
}

std::string subject_of(const X509* cert) {
  const std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), &BIO_free);
  if (!bio || X509_NAME_print_ex(bio.get(), X509_get_subject_name(cert), 0, XN_FLAG_RFC2253) < 0) {
    return "(unknown)";
  }
  std::string out(BIO_ctrl_pending(bio.get()), '\0');
  const int n = BIO_read(bio.get(), out.data(), static_cast<int>(out.size()));
  out.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
  return out.empty() ? "(empty)" : out;
}

// The DNS names and addresses the certificate is valid for, for a message
// about a name mismatch: "DNS:other.example, IP:10.0.0.1".
std::string subject_alt_names(const X509* cert) {
  auto* names =
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  if (names == nullptr) {
    return "none";
  }
  std::string out;
  for (int i = 0; i < sk_GENERAL_NAME_num(names); ++i) {
    const GENERAL_NAME* gen = sk_GENERAL_NAME_value(names, i);
    std::string item;
    if (gen->type == GEN_DNS) {
      const ASN1_IA5STRING* dns = gen->d.dNSName;
      item = "DNS:" + std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(dns)),
                                  static_cast<std::size_t>(ASN1_STRING_length(dns)));
    } else if (gen->type == GEN_IPADD) {
      const ASN1_OCTET_STRING* ip = gen->d.iPAddress;
      const int len = ASN1_STRING_length(ip);
      char buf[INET6_ADDRSTRLEN] = {};
      const int family = len == 4 ? AF_INET : AF_INET6;
      if ((len == 4 || len == 16) &&
          ::inet_ntop(family, ASN1_STRING_get0_data(ip), buf, sizeof buf) != nullptr) {
        item = std::string("IP:") + buf;
      }
    }
    if (!item.empty()) {
      out += (out.empty() ? "" : ", ") + item;
    }
  }
  GENERAL_NAMES_free(names);
  return out.empty() ? "none" : out;
}

// Accepts "sha256:AB:CD:...", "abcd..." and anything in between; returns the
// bare lower-case hex, or "" if the value is not a SHA-256 fingerprint.
std::string normalize_fingerprint(std::string_view value) {
  constexpr std::string_view k_prefix = "sha256:";
  std::string lowered;
  for (const char c : value) {
    lowered += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  std::string_view rest = lowered;
  if (rest.substr(0, k_prefix.size()) == k_prefix) {
    rest.remove_prefix(k_prefix.size());
  }
  std::string out;
  for (const char c : rest) {
    if (c == ':' || c == ' ') {
      continue;
    }
    if (std::isxdigit(static_cast<unsigned char>(c)) == 0) {
      return "";
    }
    out += c;
  }
  return out.size() == 64 ? out : "";
}

}  // namespace

TlsSession::TlsSession(int fd, const std::string& host, std::string peer,
                       std::chrono::milliseconds timeout, const TlsOptions& options)
    : m_peer(std::move(peer)), m_timeout(timeout) {
  m_io.fd = fd;
  ERR_clear_error();
  const std::string name = options.server_name.empty() ? host : options.server_name;

  // One context per connection: connections are few and long, and it keeps
  // each account's trust settings (ca_file) apart.
  m_ctx.reset(SSL_CTX_new(TLS_client_method()));
  if (!m_ctx) {
    fail("cannot create a TLS context for " + m_peer + ": " + openssl_errors());
  }
  // RFC 8996/8997: TLS 1.0 and 1.1 are deprecated.
  if (SSL_CTX_set_min_proto_version(m_ctx.get(), TLS1_2_VERSION) != 1) {
    fail("cannot require TLS 1.2 for " + m_peer + ": " + openssl_errors());
  }
  // Many IMAP servers (and the middleboxes in front of them) close the TCP
  // connection after LOGOUT without sending close_notify, and OpenSSL 3 turns
  // that into "unexpected eof while reading", the error mbsync users keep
  // reporting. Treating it as a plain EOF is safe here because IMAP frames
  // its own data: every response ends in a CRLF-terminated line or a literal
  // with a stated length, and a command is complete only with its tagged
  // response. A truncation attack can therefore only make the client see a
  // connection lost in mid-response, which the protocol layer reports as an
  // error; it can never make partial data look complete.
  SSL_CTX_set_options(m_ctx.get(), SSL_OP_IGNORE_UNEXPECTED_EOF);
  if (SSL_CTX_set_default_verify_paths(m_ctx.get()) != 1) {
    ROAM_DEBUG(util::k_cat_net, "no system trust store for " << m_peer << ": " << openssl_errors());
  }
  if (!options.ca_file.empty()) {
    if (::access(options.ca_file.c_str(), R_OK) != 0) {
      fail(util::errno_message("cannot read ca_file " + options.ca_file + " (for " + m_peer + ")") +
           "; check the path in the account");
    }
    if (SSL_CTX_load_verify_locations(m_ctx.get(), options.ca_file.c_str(), nullptr) != 1) {
      fail("cannot load ca_file " + options.ca_file + " (for " + m_peer + "): " + openssl_errors() +
           "; it must hold PEM certificates");
    }
  }
  // The handshake runs to the end whatever the verification result, and
  // verify_peer() decides afterwards: that is what lets a pinned fingerprint
  // override the chain, and lets the error show the certificate's subject
  // and fingerprint. Nothing is sent to the server before that decision.
  SSL_CTX_set_verify(m_ctx.get(), SSL_VERIFY_NONE, nullptr);

  m_ssl.reset(SSL_new(m_ctx.get()));
  if (!m_ssl) {
    fail("cannot create a TLS session for " + m_peer + ": " + openssl_errors());
  }
  X509_VERIFY_PARAM* param = SSL_get0_param(m_ssl.get());
  X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
  if (is_ip_literal(name)) {
    if (X509_VERIFY_PARAM_set1_ip_asc(param, name.c_str()) != 1) {
      fail("cannot check the certificate of " + m_peer + " against address " + name + ": " +
           openssl_errors());
    }
  } else {
    if (X509_VERIFY_PARAM_set1_host(param, name.c_str(), name.size()) != 1) {
      fail("cannot check the certificate of " + m_peer + " against name " + name + ": " +
           openssl_errors());
    }
    // SSL_set_tlsext_host_name() is a macro with an old-style cast; this is
    // its expansion. SNI lets a shared server pick the right certificate.
    if (SSL_ctrl(m_ssl.get(), SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
                 const_cast<char*>(name.c_str())) != 1) {
      fail("cannot set the TLS server name " + name + " for " + m_peer + ": " + openssl_errors());
    }
  }

  BIO* bio = BIO_new(socket_bio_method());
  if (bio == nullptr) {
    fail("cannot create a TLS socket BIO for " + m_peer + ": " + openssl_errors());
  }
  BIO_set_data(bio, &m_io);
  BIO_set_init(bio, 1);
  // The session takes ownership of the one reference.
  SSL_set_bio(m_ssl.get(), bio, bio);

  handshake();
  verify_peer(options, name);
  ROAM_DEBUG(util::k_cat_net, "TLS with " << m_peer << ": " << description());
}

TlsSession::~TlsSession() {
  if (m_ssl && !m_failed) {
    // One non-blocking attempt to send close_notify; waiting for the
    // server's reply would only delay exit.
    ERR_clear_error();
    SSL_shutdown(m_ssl.get());
    ERR_clear_error();
  }
}

void TlsSession::fail(const std::string& message) {
  m_failed = true;
  throw Error(Scope::Account, message);
}

void TlsSession::wait_or_fail(int ret, Clock::time_point deadline, std::string_view doing) {
  const int err = SSL_get_error(m_ssl.get(), ret);
  if (err == SSL_ERROR_WANT_READ) {
    wait_for(m_io.fd, Wait::Read, deadline, m_timeout, m_peer, doing);
    return;
  }
  if (err == SSL_ERROR_WANT_WRITE) {
    wait_for(m_io.fd, Wait::Write, deadline, m_timeout, m_peer, doing);
    return;
  }
  std::string reason;
  if (err == SSL_ERROR_SSL) {
    reason = openssl_errors();
  } else if (err == SSL_ERROR_SYSCALL && m_io.last_errno != 0) {
    reason = std::strerror(m_io.last_errno);
  } else if (err == SSL_ERROR_SYSCALL || err == SSL_ERROR_ZERO_RETURN) {
    reason = "the server closed the connection";
  }
  if (reason.empty()) {
    reason = "TLS error " + std::to_string(err);
  }
  fail("TLS connection to " + m_peer + " failed while " + std::string(doing) + ": " + reason);
}

void TlsSession::handshake() {
  // The whole handshake shares one deadline: it is one logical step.
  const auto deadline = Clock::now() + m_timeout;
  for (;;) {
    ERR_clear_error();
    const int rc = SSL_connect(m_ssl.get());
    if (rc == 1) {
      return;
    }
    try {
      wait_or_fail(rc, deadline, "in the TLS handshake");
    } catch (const Error& e) {
      if (!m_failed) {
        throw;  // A timeout: its message says all there is to say.
      }
      throw Error(Scope::Account, std::string(e.what()) +
                                      "; check that the server speaks TLS 1.2 or later on this "
                                      "port (implicit TLS is usually 993, 143 needs STARTTLS)");
    }
  }
}

void TlsSession::verify_peer(const TlsOptions& options, const std::string& name) {
  const X509* cert = SSL_get0_peer_certificate(m_ssl.get());
  if (cert == nullptr) {
    fail("the server at " + m_peer + " presented no TLS certificate");
  }
  const std::string fingerprint = sha256_fingerprint(cert);

  if (!options.sha256_fingerprint.empty()) {
    const std::string pinned = normalize_fingerprint(options.sha256_fingerprint);
    if (pinned.empty()) {
      fail("cert_fingerprint for " + m_peer + " is not a SHA-256 fingerprint: \"" +
           options.sha256_fingerprint + "\"; write sha256: and 64 hex digits (colons allowed)");
    }
    if (pinned != fingerprint) {
      fail("the certificate of " + m_peer +
           " does not match the pinned cert_fingerprint: got sha256:" + fingerprint + " (subject " +
           subject_of(cert) + "), expected sha256:" + pinned +
           "; if the server's certificate was replaced legitimately, update cert_fingerprint");
    }
    ROAM_DEBUG(util::k_cat_net, "certificate of " << m_peer << " matches the pinned fingerprint");
    return;
  }

  if (!options.verify) {
    ROAM_WARN("certificate verification is off for " << m_peer << " (sha256:" << fingerprint
                                                     << ")");
    return;
  }

  const long result = SSL_get_verify_result(m_ssl.get());
  if (result != X509_V_OK) {
    std::string why = X509_verify_cert_error_string(result);
    std::string advice = "add ca_file = <PEM> or cert_fingerprint = sha256:" + fingerprint +
                         " to the account if you trust this certificate";
    if (result == X509_V_ERR_HOSTNAME_MISMATCH || result == X509_V_ERR_IP_ADDRESS_MISMATCH) {
      // A trust anchor cannot fix a wrong name, so ca_file is no advice here.
      why += ": the certificate is for " + subject_alt_names(cert) + ", not " + name;
      advice =
          "check the host name of the account, or add cert_fingerprint = sha256:" + fingerprint +
          " to the account if you trust this certificate";
    }
    fail("cannot verify the TLS certificate of " + m_peer + ": " + why + " (subject " +
         subject_of(cert) + ", sha256:" + fingerprint + "); " + advice);
  }
}

std::size_t TlsSession::read_some(char* buf, std::size_t len) {
  const auto deadline = Clock::now() + m_timeout;
  for (;;) {
    // SSL_read_ex comes first, before any poll(): OpenSSL may already hold
    // decrypted bytes (SSL_pending) that the socket will never signal again.
    ERR_clear_error();
    std::size_t n = 0;
    const int rc = SSL_read_ex(m_ssl.get(), buf, len, &n);
    if (rc == 1) {
      return n;
    }
    // close_notify, or (see SSL_OP_IGNORE_UNEXPECTED_EOF above) a bare TCP
    // close: both are an orderly end of the stream.
    if (SSL_get_error(m_ssl.get(), rc) == SSL_ERROR_ZERO_RETURN) {
      return 0;
    }
    wait_or_fail(rc, deadline, "reading");
  }
}

void TlsSession::write_all(std::string_view data) {
  while (!data.empty()) {
    // After a retry OpenSSL requires the same buffer and length again; the
    // view only moves on when a write succeeded.
    ERR_clear_error();
    std::size_t written = 0;
    const int rc = SSL_write_ex(m_ssl.get(), data.data(), data.size(), &written);
    if (rc == 1) {
      data.remove_prefix(written);
      continue;
    }
    // The timeout bounds each stall, not the whole write.
    wait_or_fail(rc, Clock::now() + m_timeout, "writing");
  }
}

std::string TlsSession::description() const {
  const SSL_CIPHER* cipher = SSL_get_current_cipher(m_ssl.get());
  return std::string(SSL_get_version(m_ssl.get())) + " " +
         (cipher != nullptr ? SSL_CIPHER_get_name(cipher) : "(no cipher)");
}

bool TlsSession::has_pending() const {
  return !m_failed && SSL_has_pending(m_ssl.get()) == 1;
}

}  // namespace roam::net::detail
