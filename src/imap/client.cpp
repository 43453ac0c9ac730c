#include "imap/client.hpp"

#include <algorithm>
#include <cctype>
#include <exception>
#include <sstream>
#include <stdexcept>

#include "imap/date.hpp"
#include "imap/encode.hpp"
#include "imap/parse_error.hpp"
#include "imap/parser.hpp"
#include "util/error.hpp"
#include "util/log.hpp"

namespace roam::imap {

using util::Error;
using util::Scope;

namespace {

std::string upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  }
  return out;
}

// The command name for messages and the redacted trace: "LOGIN", "UID FETCH".
std::string command_name(std::string_view command) {
  std::size_t space = command.find(' ');
  std::string name(command.substr(0, space));
  if (upper(name) == "UID" && space != std::string_view::npos) {
    std::size_t next = command.find(' ', space + 1);
    name = std::string(command.substr(0, next));
  }
  return name;
}

// A printable, bounded rendering of server text for the trace.
std::string trace_text(const RawResponse& raw) {
  std::string out;
  std::size_t limit = std::min<std::size_t>(raw.text.size(), 400);
  for (std::size_t i = 0; i < limit; ++i) {
    unsigned char c = static_cast<unsigned char>(raw.text[i]);
    if (c == '\r') {
      out += "\\r";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c < 0x20 || c == 0x7f) {
      out += '?';
    } else {
      out += static_cast<char>(c);
    }
  }
  if (raw.text.size() > limit) {
    out += "... (" + std::to_string(raw.text.size()) + " bytes)";
  }
  return out;
}

std::string base64(std::string_view in) {
  static const char* k_alphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  auto byte = [&](std::size_t at) {
    return static_cast<unsigned>(static_cast<unsigned char>(in[at]));
  };
  std::string out;
  std::size_t i = 0;
  while (i + 2 < in.size()) {
    unsigned v = (byte(i) << 16u) | (byte(i + 1) << 8u) | byte(i + 2);
    out += k_alphabet[(v >> 18) & 63];
    out += k_alphabet[(v >> 12) & 63];
    out += k_alphabet[(v >> 6) & 63];
    out += k_alphabet[v & 63];
    i += 3;
  }
  if (i + 1 == in.size()) {
    unsigned v = byte(i) << 16u;
    out += k_alphabet[(v >> 18) & 63];
    out += k_alphabet[(v >> 12) & 63];
    out += "==";
  } else if (i + 2 == in.size()) {
    unsigned v = (byte(i) << 16u) | (byte(i + 1) << 8u);
    out += k_alphabet[(v >> 18) & 63];
    out += k_alphabet[(v >> 12) & 63];
    out += k_alphabet[(v >> 6) & 63];
    out += '=';
  }
  return out;
}

// Decodes base64 (RFC 4648 §4), skipping nothing: any character outside the
// alphabet ends the decoding, and what was decoded so far is returned. It is
// only used to read the JSON of an OAuth error challenge for a message, so a
// malformed challenge yields a shorter message, never an error.
std::string unbase64(std::string_view in) {
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') {
      return c - 'A';
    }
    if (c >= 'a' && c <= 'z') {
      return c - 'a' + 26;
    }
    if (c >= '0' && c <= '9') {
      return c - '0' + 52;
    }
    if (c == '+') {
      return 62;
    }
    if (c == '/') {
      return 63;
    }
    return -1;
  };
  std::string out;
  unsigned bits = 0;
  int count = 0;
  for (char c : in) {
    int v = value(c);
    if (v < 0) {
      break;
    }
    bits = ((bits << 6) | static_cast<unsigned>(v)) & 0xffffffu;
    count += 6;
    if (count >= 8) {
      count -= 8;
      out += static_cast<char>((bits >> static_cast<unsigned>(count)) & 0xffu);
    }
  }
  return out;
}

// The "status" member of an OAuth error challenge's JSON object (RFC 7628
// §3.2.2; Google's XOAUTH2 sends the same shape), as printable text of at
// most 64 characters; empty when there is none. A full JSON parser is not
// worth its risk here: the value only decorates an error message, so a
// string or a number right after "status": is all that is looked for.
std::string oauth_status(std::string_view challenge) {
  std::string json = unbase64(challenge.substr(0, 8192));
  std::size_t key = json.find("\"status\"");
  if (key == std::string::npos) {
    return {};
  }
  std::size_t pos = key + 8;
  while (pos < json.size() && (json[pos] == ' ' || json[pos] == '\t' || json[pos] == ':')) {
    ++pos;
  }
  bool quoted = pos < json.size() && json[pos] == '"';
  if (quoted) {
    ++pos;
  }
  std::string out;
  while (pos < json.size() && out.size() < 64) {
    char c = json[pos++];
    if (quoted ? c == '"' : (c == ',' || c == '}' || c == ' ')) {
      break;
    }
    unsigned char u = static_cast<unsigned char>(c);
    out += (u < 0x20 || u >= 0x7f) ? '?' : c;
  }
  return out;
}

// A SASL authzid/username in a GS2 header (RFC 5801 §4): "," and "=" would
// end or confuse the field, so they are written "=2C" and "=3D".
std::string gs2_name(std::string_view name) {
  std::string out;
  for (char c : name) {
    if (c == ',') {
      out += "=2C";
    } else if (c == '=') {
      out += "=3D";
    } else {
      out += c;
    }
  }
  return out;
}

// True if `token` can be a bearer token (RFC 6750 §2.1 b64token): only
// visible ASCII. A control character would break the ^A-separated SASL
// message, and a space or line end is what a pass_cmd printing something
// else (a prompt, an error) would produce.
bool plausible_token(std::string_view token) {
  return !token.empty() &&
         std::all_of(token.begin(), token.end(), [](char c) { return c > 0x20 && c < 0x7f; });
}

std::string describe(const StatusResponse& r) {
  std::string out;
  switch (r.status) {
    case StatusResponse::Status::Ok:
      out = "OK";
      break;
    case StatusResponse::Status::No:
      out = "NO";
      break;
    case StatusResponse::Status::Bad:
      out = "BAD";
      break;
    case StatusResponse::Status::Preauth:
      out = "PREAUTH";
      break;
    case StatusResponse::Status::Bye:
      out = "BYE";
      break;
  }
  if (r.code) {
    out += " [" + r.code->name + "]";
  }
  if (!r.text.empty()) {
    out += " " + r.text;
  }
  return out;
}

// Sorts flag reports by UID and keeps the last report for each: a message
// can be reported twice (a solicited and an unsolicited FETCH), and the
// later report is the newer one.
std::vector<MessageFlags> latest_per_uid(std::vector<MessageFlags> reports) {
  std::stable_sort(reports.begin(), reports.end(),
                   [](const auto& a, const auto& b) { return a.uid < b.uid; });
  std::vector<MessageFlags> unique;
  unique.reserve(reports.size());
  for (auto& m : reports) {
    if (!unique.empty() && unique.back().uid == m.uid) {
      unique.back() = std::move(m);
    } else {
      unique.push_back(std::move(m));
    }
  }
  return unique;
}

// Refuses what an OAuth mechanism cannot carry, before anything is sent:
// a token that is empty or has spaces or control characters (pass_cmd
// printed more than the token), or a user name with the ^A separator.
void check_oauth_inputs(const std::string& user, const std::string& token,
                        std::string_view mechanism) {
  if (!plausible_token(token)) {
    throw Error(Scope::Account,
                "the OAuth access token (the password or pass_cmd output) is "
                "empty or contains spaces or control characters; check that "
                "pass_cmd prints only the token");
  }
  if (user.find('\x01') != std::string::npos) {
    throw Error(Scope::Account, "the user name contains a ^A character, which " +
                                    std::string(mechanism) + " cannot carry");
  }
}

}  // namespace

// --- Capabilities ---

Capabilities::Capabilities(const std::vector<std::string>& list) {
  for (const auto& c : list) {
    m_set.insert(upper(c));
  }
}

bool Capabilities::has(std::string_view capability) const {
  return m_set.find(upper(capability)) != m_set.end();
}

std::vector<std::string> Capabilities::sasl_mechanisms() const {
  std::vector<std::string> out;
  for (const auto& c : m_set) {
    if (c.starts_with("AUTH=") && c.size() > 5) {
      out.push_back(c.substr(5));
    }
  }
  return out;
}

std::string Capabilities::to_string() const {
  std::string out;
  for (const auto& c : m_set) {
    if (!out.empty()) {
      out += ' ';
    }
    out += c;
  }
  return out;
}

CommandFailed::CommandFailed(const std::string& command, const StatusResponse& response)
    : util::Error(Scope::Folder, "the server refused " + command + ": " + describe(response)),
      m_response(response) {}

CommandFailed::CommandFailed(Scope scope, const std::string& message,
                             const StatusResponse& response)
    : util::Error(scope, message), m_response(response) {}

AuthenticationFailed::AuthenticationFailed(AuthMechanism mechanism, const StatusResponse& response,
                                           const std::string& oauth_status)
    : CommandFailed(
          Scope::Account,
          "authentication with " + std::string(to_string(mechanism)) +
              " failed: " + describe(response) +
              (oauth_status.empty() ? std::string() : " (OAuth status " + oauth_status + ")"),
          response) {}

std::string_view to_string(AuthMechanism mechanism) {
  switch (mechanism) {
    case AuthMechanism::Auto:
      return "auto";
    case AuthMechanism::Login:
      return "LOGIN";
    case AuthMechanism::Plain:
      return "PLAIN";
    case AuthMechanism::XOAuth2:
      return "XOAUTH2";
    case AuthMechanism::OAuthBearer:
      return "OAUTHBEARER";
  }
  return "unknown";
}

bool announces_body(std::string_view text) {
  std::uint64_t size = 0;
  std::size_t marker = 0;
  if (!literal_marker(text, size, marker)) {
    return false;
  }
  std::string_view before = text.substr(0, marker);
  if (!before.empty() && before.back() == ' ') {
    before.remove_suffix(1);
  }
  std::string tail = upper(before.substr(before.size() >= 9 ? before.size() - 9 : 0));
  return tail.ends_with("BODY[]") || tail.ends_with("BINARY[]") || tail.ends_with(" RFC822");
}

// --- Client ---

Client::Client(std::unique_ptr<net::Stream> stream, ClientOptions options)
    : m_stream(std::move(stream)), m_options(options), m_reader(*m_stream, m_options.limits) {
  m_reader.set_literal_router(
      [this](std::string_view text, std::uint64_t) { return route_literal(text); });
}

Client::~Client() = default;

namespace {

// A sink error that concerns only the local side (the Maildir's tmp/ is
// unwritable, the disk is full): the server and the session are fine.
bool is_local(const util::Error& e) {
  return e.scope() == Scope::Message || e.scope() == Scope::Folder;
}

// The message of the exception being handled; only valid inside a handler.
std::string current_message() {
  try {
    throw;
  } catch (const std::exception& e) {
    return e.what();
  } catch (...) {
    return "an unknown error";
  }
}

}  // namespace

void Client::ensure_usable() const {
  if (!m_broken.empty()) {
    throw Error(Scope::Account, "the connection to " + m_stream->peer() +
                                    " is unusable after an earlier error: " + m_broken);
  }
}

void Client::call_failed() {
  if (m_call_depth == 1) {
    m_deferred = nullptr;
  }
  if (!m_outstanding.empty() && m_broken.empty()) {
    break_connection(current_message());
  }
}

void Client::break_connection(const std::string& reason) {
  // The stream is left alone from now on: the server may be in the middle
  // of a reply or inside a literal, so nothing read or written could be
  // matched to a command again. The account's sync ends, and the Client's
  // owner closes the socket by destroying it.
  m_broken = reason.empty() ? std::string("an unknown error") : reason;
  ROAM_DEBUG(util::k_cat_imap,
             "connection to " << m_stream->peer() << " abandoned after: " << m_broken);
}

void Client::rethrow_deferred() {
  if (m_deferred && m_call_depth == 1) {
    std::exception_ptr deferred = m_deferred;
    m_deferred = nullptr;
    std::rethrow_exception(deferred);
  }
}

void Client::GuardedSink::write(const char* data, std::size_t size) {
  if (target == nullptr) {
    return;  // Dropped: the call already failed locally.
  }
  try {
    target->write(data, size);
  } catch (const util::Error& e) {
    if (!is_local(e)) {
      throw;
    }
    // The reader goes on through the literal, so the next response starts
    // where the server's does; the error waits for the call to complete.
    m_client.m_deferred = std::current_exception();
    target = nullptr;
  }
}

LiteralSink* Client::route_literal(std::string_view text) {
  if (!m_body_sink || !announces_body(text)) {
    return nullptr;
  }
  m_guarded_sink.target = nullptr;
  if (!m_deferred) {
    try {
      m_guarded_sink.target = m_body_sink();
    } catch (const util::Error& e) {
      if (!is_local(e)) {
        throw;
      }
      m_deferred = std::current_exception();
    }
    if (m_guarded_sink.target == nullptr && !m_deferred) {
      return nullptr;  // The caller wants this body in memory.
    }
  }
  return &m_guarded_sink;
}

void Client::write_command(const std::string& tag, std::string_view bytes) {
  m_outstanding.insert(tag);
  m_stream->write_all(bytes);
}

Response Client::read_response() {
  RawResponse raw;
  try {
    raw = m_reader.read();
  } catch (...) {
    // Whatever stopped the reader (a closed connection, a timeout, a limit,
    // a failing sink) stopped it inside a response.
    break_connection(current_message());
    throw;
  }
  ROAM_DEBUG(util::k_cat_imap, "S: " << trace_text(raw));
  try {
    return parse_response(raw);
  } catch (const ParseError& e) {
    // A response we cannot parse leaves the stream in an unknown position:
    // the only safe thing is to drop the connection.
    break_connection(e.what());
    throw Error(Scope::Account, std::string(e.what()));
  }
}

void Client::apply(const Response& response) {
  if (const auto* caps = std::get_if<CapabilityData>(&response)) {
    m_caps = Capabilities(caps->capabilities);
    m_caps_known = true;
  } else if (const auto* num = std::get_if<NumberData>(&response)) {
    if (num->kind == NumberData::Kind::Exists) {
      m_exists = num->number;
    } else if (num->kind == NumberData::Kind::Expunge && m_exists > 0) {
      --m_exists;
    }
  } else if (const auto* status = std::get_if<StatusResponse>(&response)) {
    if (status->status == StatusResponse::Status::Bye) {
      // BYE is followed by the server closing the connection; the read that
      // notices the close reports the error, and the BYE text helps explain it.
      ROAM_DEBUG(util::k_cat_imap,
                 "server " << m_stream->peer() << " says goodbye: " << status->text);
    }
  }
}

bool Client::read_greeting() {
  return guarded([&] {
    // A greeting that is not one leaves no session to go on with.
    m_outstanding.insert("greeting");
    Response r = read_response();
    m_outstanding.erase("greeting");
    const auto* status = std::get_if<StatusResponse>(&r);
    if (status == nullptr || !status->tag.empty()) {
      throw Error(Scope::Account,
                  "the server " + m_stream->peer() +
                      " did not greet with an untagged OK, PREAUTH or BYE; is this an "
                      "IMAP server (check host, port and tls)?");
    }
    if (status->status == StatusResponse::Status::Bye) {
      throw Error(Scope::Account,
                  "the server " + m_stream->peer() + " refused the connection: " + status->text);
    }
    if (status->status != StatusResponse::Status::Ok &&
        status->status != StatusResponse::Status::Preauth) {
      throw Error(Scope::Account,
                  "unexpected greeting from " + m_stream->peer() + ": " + describe(*status));
    }
    if (status->code && status->code->kind == ResponseCode::Kind::Capability) {
      m_caps = Capabilities(status->code->atoms);
      m_caps_known = true;
    }
    return status->status == StatusResponse::Status::Preauth;
  });
}

const Capabilities& Client::capabilities() {
  ensure_usable();
  if (!m_caps_known) {
    refresh_capabilities();
  }
  return m_caps;
}

void Client::refresh_capabilities() {
  guarded([&] {
    m_caps_known = false;
    run("CAPABILITY");
    if (!m_caps_known) {
      throw Error(Scope::Account,
                  "the server " + m_stream->peer() + " answered CAPABILITY without listing any");
    }
  });
}

std::string Client::send(std::string_view command, Redact redact) {
  return guarded([&] {
    std::string tag = make_tag();
    std::string line = tag + " ";
    line += command;
    if (redact == Redact::Yes) {
      ROAM_DEBUG(util::k_cat_imap, "C: " << tag << " " << command_name(command) << " <redacted>");
    } else {
      ROAM_DEBUG(util::k_cat_imap, "C: " << line);
    }
    line += "\r\n";
    write_command(tag, line);
    return tag;
  });
}

std::string Client::make_tag() {
  return "r" + std::to_string(m_next_tag++);
}

std::optional<StatusResponse> Client::read_until_tagged(const std::string& tag,
                                                        std::string_view command,
                                                        const UntaggedHandler& on_untagged,
                                                        bool continuation_ok) {
  auto done = m_completed.find(tag);
  if (done != m_completed.end()) {
    StatusResponse result = std::move(done->second);
    m_completed.erase(done);
    return result;
  }
  std::uint64_t untagged = 0;
  for (;;) {
    Response r = read_response();
    if (auto* status = std::get_if<StatusResponse>(&r); status != nullptr && !status->tag.empty()) {
      m_outstanding.erase(status->tag);
      if (status->status == StatusResponse::Status::Ok && status->code &&
          status->code->kind == ResponseCode::Kind::Capability) {
        m_caps = Capabilities(status->code->atoms);
        m_caps_known = true;
      }
      if (status->tag == tag) {
        return std::move(*status);
      }
      m_completed[status->tag] = std::move(*status);
      continue;
    }
    if (const auto* plus = std::get_if<Continuation>(&r)) {
      if (continuation_ok) {
        m_last_continuation = plus->text.substr(0, 8192);
        return std::nullopt;
      }
      throw Error(Scope::Account, "the server " + m_stream->peer() +
                                      " sent a continuation request nobody asked for");
    }
    // Each response is small, but what the running call collects from them
    // is kept until the command completes, so an endless stream of them
    // would exhaust memory long before any timeout noticed.
    if (++untagged > m_options.max_untagged_per_command) {
      throw Error(Scope::Account, "the server " + m_stream->peer() + " sent more than " +
                                      std::to_string(m_options.max_untagged_per_command) +
                                      " untagged responses to one " + std::string(command) +
                                      " command; roam gives up on the connection");
    }
    apply(r);
    if (on_untagged) {
      on_untagged(r);
    }
  }
}

StatusResponse Client::wait(const std::string& tag, std::string_view command,
                            const UntaggedHandler& on_untagged) {
  return guarded([&] {
    StatusResponse result = *read_until_tagged(tag, command_name(command), on_untagged, false);
    if (result.status != StatusResponse::Status::Ok) {
      throw CommandFailed(command_name(command), result);
    }
    return result;
  });
}

StatusResponse Client::run(std::string_view command, const UntaggedHandler& on_untagged,
                           Redact redact) {
  return guarded([&] {
    std::string tag = send(command, redact);
    return wait(tag, command, on_untagged);
  });
}

void Client::starttls(const net::TlsOptions& options) {
  guarded([&] {
    if (!capabilities().has("STARTTLS")) {
      throw Error(Scope::Account, "the server " + m_stream->peer() +
                                      " does not offer STARTTLS, and tls = starttls is configured; "
                                      "roam will not continue in plaintext (use tls = implicit if "
                                      "the server has port 993)");
    }
    std::string tag = send("STARTTLS");
    try {
      try {
        wait(tag, "STARTTLS");
      } catch (const CommandFailed& e) {
        throw Error(Scope::Account,
                    std::string(e.what()) + "; roam will not continue in plaintext");
      }
      if (m_reader.buffered() != 0) {
        throw Error(Scope::Account,
                    "the server " + m_stream->peer() +
                        " sent data after accepting STARTTLS before the TLS handshake; "
                        "this is how STARTTLS injection attacks work, so roam stops");
      }
      m_stream->start_tls(options);
    } catch (const std::exception& e) {
      // Neither plaintext (refused or tampered with) nor TLS (a failed
      // handshake) may carry the session on.
      break_connection(e.what());
      throw;
    }
    // What the server said before TLS cannot be trusted (RFC 3501 §6.2.1).
    m_caps = Capabilities();
    m_caps_known = false;
    refresh_capabilities();
  });
}

void Client::login(const std::string& user, const std::string& password) {
  authenticate(AuthMechanism::Auto, user, password, std::string(), 0);
}

void Client::authenticate(AuthMechanism mechanism, const std::string& user,
                          const std::string& secret, const std::string& host, std::uint16_t port) {
  guarded([&] {
    authenticate(
        mechanism, user, [&secret] { return secret; }, host, port);
  });
}

void Client::authenticate(AuthMechanism mechanism, const std::string& user,
                          const std::function<std::string()>& secret, const std::string& host,
                          std::uint16_t port) {
  guarded([&] {
    const Capabilities& caps = capabilities();
    const bool automatic = mechanism == AuthMechanism::Auto;
    if (automatic) {
      // A token is not a password, so OAuth is never guessed: it must be
      // configured, and then pass_cmd is known to print a token.
      mechanism = caps.has("AUTH=PLAIN") ? AuthMechanism::Plain : AuthMechanism::Login;
    }
    bool offered = false;
    switch (mechanism) {
      case AuthMechanism::Auto:
      case AuthMechanism::Login:
        offered = !caps.has("LOGINDISABLED");
        break;
      case AuthMechanism::Plain:
      case AuthMechanism::XOAuth2:
      case AuthMechanism::OAuthBearer:
        offered = caps.has("AUTH=" + std::string(to_string(mechanism)));
        break;
    }
    if (!offered) {
      // Falling back to another mechanism would hand the secret to a method
      // the user did not choose (a token as a LOGIN password, a password in
      // plaintext LOGIN after a stripped AUTH=PLAIN), so the user decides.
      std::string offers;
      for (const auto& m : caps.sasl_mechanisms()) {
        offers += (offers.empty() ? "AUTHENTICATE " : " ") + m;
      }
      offers += offers.empty() ? "no AUTHENTICATE mechanism" : "";
      offers += caps.has("LOGINDISABLED") ? ", and LOGIN is disabled (LOGINDISABLED)"
                                          : ", and the LOGIN command";
      std::string what = automatic ? std::string(
                                         "AUTHENTICATE PLAIN or the LOGIN command, which "
                                         "auth = auto chooses from")
                         : mechanism == AuthMechanism::Login
                             ? std::string("the LOGIN command, the configured auth mechanism")
                             : "AUTHENTICATE " + std::string(to_string(mechanism)) +
                                   ", the configured auth mechanism";
      throw Error(Scope::Account, "the server " + m_stream->peer() + " does not offer " + what +
                                      "; it offers " + offers);
    }

    std::string credential = secret ? secret() : std::string();
    switch (mechanism) {
      case AuthMechanism::Auto:
      case AuthMechanism::Login: {
        std::string command = "LOGIN " + quote_astring(user) + " " + quote_astring(credential);
        std::string tag = send(command, Redact::Yes);
        StatusResponse done = *read_until_tagged(tag, "LOGIN", {}, false);
        if (done.status != StatusResponse::Status::Ok) {
          throw AuthenticationFailed(AuthMechanism::Login, done);
        }
        break;
      }
      case AuthMechanism::Plain: {
        if (user.find('\0') != std::string::npos || credential.find('\0') != std::string::npos) {
          throw Error(Scope::Account,
                      "the user name or password contains a NUL character, which PLAIN cannot "
                      "carry (RFC 4616 §2)");
        }
        std::string message;
        message += '\0';
        message += user;
        message += '\0';
        message += credential;
        // PLAIN has no error challenge; "*" cancels an unexpected one
        // (RFC 3501 §6.2.2).
        sasl_exchange(mechanism, message, "*");
        break;
      }
      case AuthMechanism::XOAuth2: {
        check_oauth_inputs(user, credential, "XOAUTH2");
        // An empty response asks the server for the tagged NO after its
        // JSON error challenge.
        sasl_exchange(mechanism, "user=" + user + "\x01" + "auth=Bearer " + credential + "\x01\x01",
                      "");
        break;
      }
      case AuthMechanism::OAuthBearer: {
        check_oauth_inputs(user, credential, "OAUTHBEARER");
        // RFC 7628 §3.1: a GS2 header naming the user, then key=value pairs
        // separated by ^A; host and port let the server check that the token
        // was meant for it.
        std::string message = "n,a=" + gs2_name(user) + ",\x01";
        if (!host.empty()) {
          message += "host=" + host + "\x01";
        }
        if (port != 0) {
          message += "port=" + std::to_string(port) + "\x01";
        }
        message += "auth=Bearer " + credential + "\x01\x01";
        // RFC 7628 §3.2.3: the client answers an error challenge with a
        // single ^A, and the server then fails the exchange.
        sasl_exchange(mechanism, message, "\x01");
        break;
      }
    }
    // Capabilities often change after login; the tagged OK may have said so,
    // and connect_account asks again otherwise.
  });
}

void Client::sasl_exchange(AuthMechanism mechanism, const std::string& response,
                           std::string_view error_answer) {
  const std::string name(to_string(mechanism));
  const std::string command = "AUTHENTICATE " + name;
  const std::string encoded = base64(response);
  const bool initial = capabilities().has("SASL-IR");
  const std::string tag = make_tag();
  // Traced by hand: send() would show the encoded credentials with
  // Redact::No, and only "AUTHENTICATE" with Redact::Yes.
  if (initial) {
    ROAM_DEBUG(util::k_cat_imap, "C: " << tag << " " << command << " <redacted>");
    write_command(tag, tag + " " + command + " " + encoded + "\r\n");
  } else {
    ROAM_DEBUG(util::k_cat_imap, "C: " << tag << " " << command);
    write_command(tag, tag + " " + command + "\r\n");
    std::optional<StatusResponse> early = read_until_tagged(tag, command, {}, true);
    if (early) {
      // Refused before any credentials were sent. An OK here would mean
      // authenticated without credentials, which no mechanism roam uses
      // allows, so it is treated as the failure it must be.
      if (early->status == StatusResponse::Status::Ok) {
        throw Error(Scope::Account, "the server " + m_stream->peer() + " answered " + command +
                                        " with OK before receiving any credentials");
      }
      throw AuthenticationFailed(mechanism, *early);
    }
    ROAM_DEBUG(util::k_cat_imap, "C: <redacted credentials>");
    m_stream->write_all(encoded + "\r\n");
  }

  std::optional<StatusResponse> done = read_until_tagged(tag, command, {}, true);
  std::string status;
  if (!done) {
    // A challenge after the credentials: for the OAuth mechanisms, a base64
    // JSON error report; for PLAIN, something the mechanism does not have.
    status = oauth_status(m_last_continuation);
    std::string answer = base64(error_answer);
    if (error_answer == "*") {
      answer = "*";
    }
    ROAM_DEBUG(util::k_cat_imap, "C: " << (answer.empty() ? "(empty response)" : answer)
                                       << " (answer to the server's error challenge)");
    m_stream->write_all(answer + "\r\n");
    done = read_until_tagged(tag, command, {}, true);
    if (!done) {
      throw Error(Scope::Account, "the server " + m_stream->peer() +
                                      " sent a second challenge to " + command +
                                      " after its error challenge was answered");
    }
  }
  if (done->status != StatusResponse::Status::Ok) {
    throw AuthenticationFailed(mechanism, *done, status);
  }
}

std::vector<std::string> Client::enable(const std::vector<std::string>& extensions) {
  std::vector<std::string> enabled;
  if (!capabilities().has("ENABLE") || extensions.empty()) {
    return enabled;
  }
  std::string command = "ENABLE";
  for (const auto& e : extensions) {
    command += " " + e;
  }
  run(command, [&](const Response& r) {
    if (const auto* e = std::get_if<EnabledData>(&r)) {
      enabled.insert(enabled.end(), e->capabilities.begin(), e->capabilities.end());
    }
  });
  return enabled;
}

std::vector<ListedMailbox> Client::list(const std::vector<std::string>& status_items) {
  return guarded([&] {
    const Capabilities& caps = capabilities();
    std::string command = "LIST \"\" \"*\"";
    std::vector<std::string> returns;
    if (caps.has("SPECIAL-USE")) {
      returns.push_back("SPECIAL-USE");
    }
    // HIGHESTMODSEQ is a STATUS item only with CONDSTORE (RFC 7162
    // §3.1.8); without it the server would refuse the whole LIST, or (like
    // Cyrus with CONDSTORE off) answer with a value nothing else honours.
    const bool modseq = caps.has("CONDSTORE") || caps.has("QRESYNC");
    std::vector<std::string> items;
    for (const auto& item : status_items) {
      if (modseq || upper(item) != "HIGHESTMODSEQ") {
        items.push_back(item);
      }
    }
    if (!items.empty() && caps.has("LIST-STATUS")) {
      std::string text = "STATUS (";
      for (std::size_t i = 0; i < items.size(); ++i) {
        text += (i ? " " : "") + items[i];
      }
      returns.push_back(text + ")");
    }
    if (!returns.empty()) {
      command += " RETURN (";
      for (std::size_t i = 0; i < returns.size(); ++i) {
        command += (i ? " " : "") + returns[i];
      }
      command += ")";
    }
    std::vector<ListedMailbox> out;
    std::map<std::string, StatusData> statuses;
    run(command, [&](const Response& r) {
      if (const auto* l = std::get_if<ListData>(&r)) {
        out.push_back({*l, std::nullopt});
      } else if (const auto* s = std::get_if<StatusData>(&r)) {
        statuses[s->mailbox] = *s;
        if (!modseq) {
          statuses[s->mailbox].highestmodseq.reset();
        }
      }
    });
    for (auto& m : out) {
      auto it = statuses.find(m.list.mailbox);
      if (it != statuses.end()) {
        m.status = it->second;
      }
    }
    return out;
  });
}

MailboxInfo Client::open(const std::string& mailbox, OpenMode mode) {
  return guarded([&] {
    MailboxInfo info;
    // RFC 7162 §3.1: mod-sequences count only once CONDSTORE is advertised
    // (QRESYNC implies it, §3.2.3) and enabled, here by the SELECT
    // parameter. Cyrus with CONDSTORE switched off still sends
    // [HIGHESTMODSEQ n]; trusting it made every run send UNCHANGEDSINCE and
    // get NO.
    const Capabilities& caps = capabilities();
    bool condstore = caps.has("CONDSTORE") || caps.has("QRESYNC");
    std::string command =
        (mode == OpenMode::Examine ? "EXAMINE " : "SELECT ") + quote_astring(mailbox);
    if (condstore) {
      command += " (CONDSTORE)";
    }
    m_exists = 0;
    // Whatever happens below, the previous mailbox is no longer selected
    // (RFC 3501 §6.3.1), so its UIDVALIDITY must not vouch for any code.
    m_selected_uidvalidity = 0;
    m_permanent_flags.clear();
    m_selected_modseq = false;
    bool modseq = false;
    StatusResponse done = run(command, [&](const Response& r) {
      if (const auto* s = std::get_if<StatusResponse>(&r); s && s->code) {
        switch (s->code->kind) {
          case ResponseCode::Kind::UidValidity:
            info.uidvalidity = static_cast<std::uint32_t>(s->code->number);
            break;
          case ResponseCode::Kind::UidNext:
            info.uidnext = static_cast<std::uint32_t>(s->code->number);
            break;
          case ResponseCode::Kind::HighestModSeq:
            info.highestmodseq = s->code->number;
            modseq = true;
            break;
          case ResponseCode::Kind::NoModSeq:
            info.highestmodseq = 0;
            modseq = false;
            break;
          case ResponseCode::Kind::PermanentFlags:
            info.permanent_flags = s->code->atoms;
            break;
          default:
            break;
        }
      }
    });
    info.exists = m_exists;
    if (!condstore || !modseq) {
      info.highestmodseq = 0;
    }
    info.read_only = done.code && done.code->kind == ResponseCode::Kind::ReadOnly;
    if (info.uidvalidity == 0) {
      throw Error(Scope::Folder, "the server opened mailbox \"" + mailbox +
                                     "\" without a UIDVALIDITY; roam cannot sync it safely");
    }
    m_selected_uidvalidity = info.uidvalidity;
    m_permanent_flags = info.permanent_flags;
    m_selected_modseq = condstore && modseq;
    return info;
  });
}

std::vector<MessageFlags> Client::fetch_flags(ModSeq changedsince) {
  return guarded([&] {
    std::vector<MessageFlags> out;
    if (m_exists == 0) {
      return out;
    }
    std::string command = "UID FETCH 1:* (UID FLAGS)";
    if (changedsince != 0) {
      command += " (CHANGEDSINCE " + std::to_string(changedsince) + ")";
    }
    out.reserve(m_exists);
    run(command, [&](const Response& r) {
      if (const auto* f = std::get_if<FetchData>(&r)) {
        // Unsolicited FETCHes without UID (flag updates from other sessions in
        // RFC 3501 servers) cannot be attributed; the listing is complete
        // without them, because the solicited FETCH for the same message
        // carries the newer flags.
        if (f->uid && f->flags) {
          out.push_back({*f->uid, *f->flags, f->modseq.value_or(0)});
        }
      }
    });
    return latest_per_uid(std::move(out));
  });
}

void Client::fetch_bodies(const std::vector<Uid>& uids,
                          const std::function<LiteralSink*()>& sink_for,
                          const std::function<void(const FetchData&)>& done,
                          const std::function<void()>& after_batch) {
  guarded([&] {
    std::vector<std::string> commands;
    const std::size_t per_command = std::max<std::size_t>(1, m_options.fetch_batch);
    for (std::size_t i = 0; i < uids.size(); i += per_command) {
      std::size_t end = std::min(uids.size(), i + per_command);
      std::vector<std::uint32_t> batch(uids.begin() + static_cast<std::ptrdiff_t>(i),
                                       uids.begin() + static_cast<std::ptrdiff_t>(end));
      std::sort(batch.begin(), batch.end());
      commands.push_back("UID FETCH " + format_set(batch) +
                         " (UID FLAGS INTERNALDATE BODY.PEEK[])");
    }
    m_body_sink = sink_for;
    struct Reset {
      std::function<LiteralSink*()>& sink;
      ~Reset() { sink = nullptr; }
    } reset{m_body_sink};

    auto on_untagged = [&](const Response& r) {
      const auto* f = std::get_if<FetchData>(&r);
      if (f == nullptr) {
        return;
      }
      bool has_body = std::any_of(f->sections.begin(), f->sections.end(),
                                  [](const BodySection& s) { return s.section.empty(); });
      if (!has_body) {
        return;  // An unsolicited flag update.
      }
      if (!f->uid) {
        throw Error(Scope::Account, "the server sent a message body without its UID");
      }
      if (m_deferred) {
        // This body, or one before it, did not reach its sink whole: the
        // call is failing, and the caller must not commit a broken copy.
        return;
      }
      done(*f);
    };

    // Every completed FETCH, failed or not, ends a batch: the bodies it
    // delivered are whole and may be made durable while the commands still
    // in flight are read (and before a failure is thrown).
    run_pipelined(commands, on_untagged, [&](const StatusResponse&) {
      if (after_batch) {
        after_batch();
      }
      return false;
    });
  });
}

// --- Writing to the server: helpers ---

namespace {

// Room in a command line for the tag ("r" and up to 20 digits), its space
// and the final CRLF.
constexpr std::size_t k_tag_and_crlf = 24;

// The buffer between an APPEND body and the stream: large enough that a
// message costs few writes, small enough that no message is held whole.
constexpr std::size_t k_literal_buffer = 64u << 10;

// The largest literal that LITERAL- lets a client send without waiting for
// the server's "+" (RFC 7888 §5).
constexpr std::uint64_t k_literal_minus_limit = 4096;

// Converts std::invalid_argument from the encoders (a name or flag that no
// IMAP syntax can carry) into an error of the given scope.
template <typename F>
auto encoded(Scope scope, F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const std::invalid_argument& e) {
    throw Error(scope, e.what());
  }
}

// Writes an APPEND literal to the stream through a 64 KiB buffer, counting
// the octets against the size the command announced. Nothing reaches the
// stream until octets arrive for a full buffer or finish() is called, so a
// body of exactly 64 KiB is still checked whole; the first flush
// calls `start`, which begins the command (it either returns the command
// line to send ahead of the octets, or sends it itself and waits for "+"),
// so a body that fits the buffer is checked before any byte is sent.
class LiteralWriter : public LiteralSink {
 public:
  LiteralWriter(net::Stream& stream, std::uint64_t size, std::function<std::string()> start)
      : m_stream(stream), m_size(size), m_start(std::move(start)) {
    m_buf.reserve(k_literal_buffer + 2);
  }

  void write(const char* data, std::size_t size) override {
    check_usable();
    if (static_cast<std::uint64_t>(size) > m_size - m_count) {
      fail_count(true);
    }
    m_count += size;
    while (size > 0) {
      if (m_buf.size() == k_literal_buffer) {
        flush();
      }
      std::size_t take = std::min(size, k_literal_buffer - m_buf.size());
      m_buf.append(data, take);
      data += take;
      size -= take;
    }
  }

  // Checks the count and sends the rest of the literal and the CRLF that
  // ends the command.
  void finish() {
    check_usable();
    if (m_count != m_size) {
      fail_count(false);
    }
    m_buf += "\r\n";
    flush();
  }

  // True once any part of the command was sent: from then on, an error
  // leaves the server expecting the rest of the literal.
  bool started() const { return m_started; }

 private:
  void check_usable() {
    if (m_failure) {
      std::rethrow_exception(m_failure);
    }
  }

  [[noreturn]] void fail_count(bool too_long) {
    std::string message = "the message body is " + std::string(too_long ? "longer" : "shorter") +
                          " than the " + std::to_string(m_size) +
                          " octets announced to the server (" + (too_long ? "more than " : "") +
                          std::to_string(m_count) + "); did the file change while it was uploaded?";
    if (m_started) {
      message +=
          " Octets were already sent and the server waits for the rest of the literal, "
          "so the connection is unusable";
    }
    Error error(m_started ? Scope::Account : Scope::Message, message);
    m_failure = std::make_exception_ptr(error);
    throw error;
  }

  void flush() {
    std::string prefix;
    if (!m_started) {
      m_started = true;
      try {
        prefix = m_start();
      } catch (...) {
        // A caller that swallows this must not get octets sent to a server
        // that refused the command or went away.
        m_failure = std::current_exception();
        throw;
      }
    }
    try {
      if (!prefix.empty()) {
        prefix += m_buf;
        m_stream.write_all(prefix);
      } else {
        m_stream.write_all(m_buf);
      }
    } catch (...) {
      m_failure = std::current_exception();
      throw;
    }
    m_buf.clear();
  }

  net::Stream& m_stream;
  std::uint64_t m_size;
  std::function<std::string()> m_start;
  std::uint64_t m_count = 0;
  std::string m_buf;
  bool m_started = false;
  std::exception_ptr m_failure;
};

// Sorted, deduplicated copy of `uids`; UID 0 does not exist (RFC 3501
// §2.3.1.1), so one here is a caller's placeholder that must not be sent.
std::vector<Uid> sorted_uids(const std::vector<Uid>& uids) {
  std::vector<Uid> out(uids);
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  if (!out.empty() && out.front() == 0) {
    throw Error(Scope::Folder, "refusing to send UID 0 to the server: it is not a real UID");
  }
  return out;
}

// The members of a set in the server's order (RFC 4315 §3 pairs COPYUID's
// sets by position), each range ascending ("12:10" is 10:12). Throws
// std::invalid_argument for '*', 0, or more than `limit` members.
std::vector<Uid> members_in_order(const NumberSet& set, std::size_t limit) {
  std::vector<Uid> out;
  for (const Range& range : set) {
    std::vector<Uid> part = expand(NumberSet{range}, limit - std::min(limit, out.size()));
    out.insert(out.end(), part.begin(), part.end());
  }
  return out;
}

// The UIDs of a [MODIFIED set] code (RFC 7162 §3.1.3).
void collect_modified(const StatusResponse& status, std::vector<Uid>* modified) {
  if (!status.code || status.code->kind != ResponseCode::Kind::Modified) {
    return;
  }
  if (modified == nullptr) {
    return;
  }
  try {
    std::vector<Uid> uids = expand(status.code->set);
    modified->insert(modified->end(), uids.begin(), uids.end());
  } catch (const std::invalid_argument& e) {
    throw Error(Scope::Folder,
                std::string("the server sent an unusable [MODIFIED] code: ") + e.what());
  }
}

}  // namespace

// --- Writing to the server ---

std::vector<std::string> Client::uid_commands(const std::vector<Uid>& uids, std::string_view prefix,
                                              std::string_view suffix) const {
  std::vector<std::string> commands;
  for (const auto& set : split_uid_sets(uids, prefix.size(), suffix.size())) {
    commands.push_back(std::string(prefix) + set + std::string(suffix));
  }
  return commands;
}

std::vector<std::string> Client::split_uid_sets(const std::vector<Uid>& uids, std::size_t prefix,
                                                std::size_t suffix) const {
  // A single range ("4294967294:4294967295") always goes out, even if the
  // configured line is absurdly short.
  constexpr std::size_t k_longest_range = 21;
  std::size_t overhead = prefix + suffix + k_tag_and_crlf;
  std::size_t budget = m_options.max_command_line > overhead + k_longest_range
                           ? m_options.max_command_line - overhead
                           : k_longest_range;
  std::vector<Uid> sorted = sorted_uids(uids);
  std::vector<std::string> sets;
  std::string current;
  std::size_t i = 0;
  while (i < sorted.size()) {
    std::size_t j = i;
    while (j + 1 < sorted.size() && sorted[j + 1] == sorted[j] + 1) {
      ++j;
    }
    std::string range = std::to_string(sorted[i]);
    if (j != i) {
      range += ":" + std::to_string(sorted[j]);
    }
    if (!current.empty() && current.size() + 1 + range.size() > budget) {
      sets.push_back(std::move(current));
      current.clear();
    }
    if (!current.empty()) {
      current += ',';
    }
    current += range;
    i = j + 1;
  }
  if (!current.empty()) {
    sets.push_back(std::move(current));
  }
  return sets;
}

void Client::run_pipelined(const std::vector<std::string>& commands,
                           const UntaggedHandler& on_untagged,
                           const std::function<bool(const StatusResponse&)>& on_done) {
  std::vector<std::pair<std::string, std::size_t>> in_flight;  // Tag and command, oldest first.
  std::optional<CommandFailed> failure;
  std::size_t next = 0;
  std::size_t depth = std::max<std::size_t>(1, m_options.pipeline_depth);
  // A local sink error (see route_literal()) stops the sending like a
  // failed command; guarded() rethrows it once those in flight are read.
  while ((next < commands.size() && !failure && !m_deferred) || !in_flight.empty()) {
    while (!failure && !m_deferred && next < commands.size() && in_flight.size() < depth) {
      in_flight.emplace_back(send(commands[next]), next);
      ++next;
    }
    auto [tag, index] = in_flight.front();
    in_flight.erase(in_flight.begin());
    StatusResponse status =
        *read_until_tagged(tag, command_name(commands[index]), on_untagged, false);
    bool accepted = on_done ? on_done(status) : false;
    if (status.status != StatusResponse::Status::Ok && !accepted && !failure) {
      failure.emplace(command_name(commands[index]), status);
    }
  }
  rethrow_deferred();
  if (failure) {
    throw *failure;
  }
}

std::vector<MessageFlags> Client::fetch_flags_for(const std::vector<Uid>& uids) {
  return guarded([&] {
    std::vector<Uid> wanted = sorted_uids(uids);
    std::vector<MessageFlags> out;
    if (wanted.empty()) {
      return out;
    }
    std::string prefix = "UID FETCH ";
    std::string suffix = m_selected_modseq ? " (UID FLAGS MODSEQ)" : " (UID FLAGS)";
    std::vector<std::string> commands = uid_commands(wanted, prefix, suffix);
    out.reserve(wanted.size());
    run_pipelined(commands, [&](const Response& r) {
      if (const auto* f = std::get_if<FetchData>(&r)) {
        // A FETCH without UID cannot be attributed (see fetch_flags()); one
        // for a UID not asked about is an unsolicited update of another message.
        if (f->uid && f->flags && std::binary_search(wanted.begin(), wanted.end(), *f->uid)) {
          out.push_back({*f->uid, *f->flags, f->modseq.value_or(0)});
        }
      }
    });
    return latest_per_uid(std::move(out));
  });
}

std::vector<HeaderInfo> Client::fetch_headers_with(const std::vector<std::string>& sets,
                                                   const std::vector<Uid>* wanted) {
  const std::string prefix = "UID FETCH ";
  const std::string suffix = " (UID FLAGS RFC822.SIZE BODY.PEEK[HEADER])";
  std::vector<std::string> commands;
  for (const auto& set : sets) {
    commands.push_back(prefix + set + suffix);
  }
  std::map<Uid, HeaderInfo> found;
  run_pipelined(commands, [&](const Response& r) {
    const auto* f = std::get_if<FetchData>(&r);
    if (f == nullptr || !f->uid) {
      return;
    }
    if (wanted != nullptr && !std::binary_search(wanted->begin(), wanted->end(), *f->uid)) {
      return;
    }
    auto header = std::find_if(f->sections.begin(), f->sections.end(), [](const BodySection& s) {
      return s.section == "HEADER" && !s.origin;
    });
    auto it = found.find(*f->uid);
    if (header == f->sections.end()) {
      // An unsolicited flag update: newer flags for a message already seen.
      if (it != found.end() && f->flags) {
        it->second.flags = *f->flags;
      }
      return;
    }
    HeaderInfo& info = found[*f->uid];
    info.uid = *f->uid;
    if (f->flags) {
      info.flags = *f->flags;
    }
    if (f->rfc822_size) {
      info.rfc822_size = *f->rfc822_size;
    }
    info.header = header->nil ? std::string() : header->data;
  });
  std::vector<HeaderInfo> out;
  out.reserve(found.size());
  for (auto& [uid, info] : found) {
    out.push_back(std::move(info));
  }
  return out;
}

std::vector<HeaderInfo> Client::fetch_headers(const std::vector<Uid>& uids) {
  return guarded([&]() -> std::vector<HeaderInfo> {
    std::vector<Uid> wanted = sorted_uids(uids);
    if (wanted.empty()) {
      return {};
    }
    std::vector<std::string> sets =
        split_uid_sets(wanted, std::string_view("UID FETCH ").size(),
                       std::string_view(" (UID FLAGS RFC822.SIZE BODY.PEEK[HEADER])").size());
    return fetch_headers_with(sets, &wanted);
  });
}

std::vector<HeaderInfo> Client::fetch_all_headers() {
  return guarded([&]() -> std::vector<HeaderInfo> {
    if (m_exists == 0) {
      return {};
    }
    return fetch_headers_with({"1:*"}, nullptr);
  });
}

std::optional<Uid> Client::append(const std::string& mailbox, const std::vector<std::string>& flags,
                                  std::optional<std::chrono::sys_seconds> internaldate,
                                  std::uint64_t size,
                                  const std::function<void(LiteralSink&)>& write_body,
                                  std::uint32_t expected_uidvalidity) {
  return guarded([&]() -> std::optional<Uid> {
    if (size == 0) {
      throw Error(Scope::Message,
                  "refusing to upload an empty message: a zero-length literal cancels an APPEND");
    }
    // Everything that can be refused locally is, before the first byte.
    std::string command =
        "APPEND " + encoded(Scope::Folder, [&] { return quote_astring(mailbox); });
    if (!flags.empty()) {
      command += " " + encoded(Scope::Message, [&] { return format_flag_list(flags); });
    }
    if (internaldate) {
      command += " \"" + format_internaldate(*internaldate) + "\"";
    }
    const Capabilities& caps = capabilities();
    bool non_sync = caps.has("LITERAL+") || (caps.has("LITERAL-") && size <= k_literal_minus_limit);
    command += " {" + std::to_string(size) + (non_sync ? "+}" : "}");
    std::string tag = make_tag();

    auto start = [&]() -> std::string {
      ROAM_DEBUG(util::k_cat_imap, "C: " << tag << " " << command << " (body not shown)");
      std::string line = tag + " " + command + "\r\n";
      if (non_sync) {
        // The writer sends the line with the first octets.
        m_outstanding.insert(tag);
        return line;
      }
      write_command(tag, line);
      std::optional<StatusResponse> refused = read_until_tagged(tag, "APPEND", {}, true);
      if (refused) {
        // A tagged answer instead of "+": the server refused the literal
        // (RFC 3501 §7.5), and the command is over. Even an OK here would be
        // nonsense, since the message was never sent.
        throw CommandFailed("APPEND", *refused);
      }
      return {};
    };

    LiteralWriter writer(*m_stream, size, start);
    try {
      write_body(writer);
      writer.finish();
    } catch (const CommandFailed&) {
      throw;  // Refused before "+": the connection is fine.
    } catch (const util::Error& e) {
      if (writer.started() && e.scope() < Scope::Account) {
        throw Error(Scope::Account, std::string(e.what()) +
                                        "; the server is left inside the APPEND literal, so the "
                                        "connection is unusable");
      }
      throw;
    } catch (const std::exception& e) {
      if (writer.started()) {
        throw Error(Scope::Account, std::string(e.what()) +
                                        "; the server is left inside the APPEND literal, so the "
                                        "connection is unusable");
      }
      throw;
    }

    // Untagged responses (EXISTS for the new message, and any code in an
    // untagged OK) are applied but never read for APPENDUID: only this
    // command's tagged OK may name the new UID (CVE-2021-3578).
    StatusResponse done = wait(tag, "APPEND");
    if (!done.code || done.code->kind != ResponseCode::Kind::AppendUid) {
      return std::nullopt;
    }
    if (expected_uidvalidity != 0 && done.code->number != expected_uidvalidity) {
      ROAM_DEBUG(util::k_cat_imap, "ignoring APPENDUID for UIDVALIDITY " << done.code->number
                                                                         << ", expected "
                                                                         << expected_uidvalidity);
      return std::nullopt;
    }
    try {
      std::vector<Uid> uids = expand(done.code->set, 2);
      if (uids.size() == 1) {
        return uids.front();
      }
    } catch (const std::invalid_argument&) {
      // "*", 0 or a range: no single UID to trust.
    }
    return std::nullopt;
  });
}

void Client::store_flags(const std::vector<Uid>& uids, StoreOp op,
                         const std::vector<std::string>& flags, ModSeq unchangedsince,
                         std::vector<Uid>* modified,
                         const std::function<void(const FetchData&)>& on_fetch) {
  guarded([&] {
    if (uids.empty() || flags.empty()) {
      return;
    }
    if (unchangedsince != 0 && !m_selected_modseq) {
      throw Error(Scope::Folder,
                  "cannot send UID STORE (UNCHANGEDSINCE " + std::to_string(unchangedsince) +
                      "): the selected mailbox has no mod-sequences (no CONDSTORE, or NOMODSEQ)");
    }
    std::string prefix = "UID STORE ";
    std::string suffix;
    if (unchangedsince != 0) {
      suffix += " (UNCHANGEDSINCE " + std::to_string(unchangedsince) + ")";
    }
    suffix += op == StoreOp::Add ? " +FLAGS.SILENT " : " -FLAGS.SILENT ";
    suffix += encoded(Scope::Message, [&] { return format_flag_list(flags); });
    std::vector<std::string> commands = uid_commands(uids, prefix, suffix);
    UntaggedHandler on_untagged;
    if (on_fetch) {
      on_untagged = [&](const Response& r) {
        if (const auto* f = std::get_if<FetchData>(&r)) {
          on_fetch(*f);
        }
      };
    }
    run_pipelined(commands, on_untagged, [&](const StatusResponse& status) {
      collect_modified(status, modified);
      // RFC 7162 §3.1.3: a NO with MODIFIED reports the messages left alone,
      // not a failed command.
      return status.status == StatusResponse::Status::No && status.code &&
             status.code->kind == ResponseCode::Kind::Modified;
    });
  });
}

void Client::uid_expunge(const std::vector<Uid>& uids) {
  guarded([&] {
    if (uids.empty()) {
      return;
    }
    if (!capabilities().has("UIDPLUS")) {
      throw Error(Scope::Folder, "the server " + m_stream->peer() +
                                     " lacks UIDPLUS, and a plain EXPUNGE would also remove "
                                     "messages other clients marked \\Deleted");
    }
    std::string prefix = "UID EXPUNGE ";
    std::vector<std::string> commands = uid_commands(uids, prefix, "");
    run_pipelined(commands, {});
  });
}

MoveResult Client::move(const std::vector<Uid>& uids, const std::string& target_mailbox,
                        std::uint32_t target_uidvalidity) {
  return guarded([&]() -> MoveResult {
    std::vector<Uid> wanted = sorted_uids(uids);
    if (wanted.empty()) {
      return {};
    }
    const Capabilities& caps = capabilities();
    bool has_move = caps.has("MOVE");
    std::string target = encoded(Scope::Folder, [&] { return quote_astring(target_mailbox); });

    std::vector<std::pair<Uid, Uid>> pairs;
    bool unusable = false;
    auto take_copyuid = [&](const StatusResponse& status) {
      if (status.status != StatusResponse::Status::Ok || !status.code ||
          status.code->kind != ResponseCode::Kind::CopyUid) {
        return;
      }
      const ResponseCode& code = *status.code;
      if (target_uidvalidity != 0 && code.number != target_uidvalidity) {
        unusable = true;
        return;
      }
      try {
        std::vector<Uid> sources = members_in_order(code.set, wanted.size());
        std::vector<Uid> targets = members_in_order(code.set2, wanted.size());
        if (sources.size() != targets.size()) {
          unusable = true;
          return;
        }
        for (std::size_t i = 0; i < sources.size(); ++i) {
          if (!std::binary_search(wanted.begin(), wanted.end(), sources[i])) {
            unusable = true;
            return;
          }
          pairs.emplace_back(sources[i], targets[i]);
        }
      } catch (const std::invalid_argument&) {
        unusable = true;
      }
    };

    std::string prefix = has_move ? "UID MOVE " : "UID COPY ";
    std::string suffix = " " + target;
    std::vector<std::string> commands = uid_commands(wanted, prefix, suffix);
    UntaggedHandler on_untagged;
    if (has_move) {
      // RFC 6851 §4.3: COPYUID comes in an untagged OK before the expunges.
      on_untagged = [&](const Response& r) {
        if (const auto* s = std::get_if<StatusResponse>(&r)) {
          take_copyuid(*s);
        }
      };
    }
    run_pipelined(commands, on_untagged, [&](const StatusResponse& status) {
      take_copyuid(status);
      return false;
    });
    MoveResult result;
    if (!has_move) {
      // Every copy succeeded (run_pipelined threw otherwise): now the
      // originals may go, and only they (RFC 4549 §4.2.4).
      store_flags(wanted, StoreOp::Add, {"\\Deleted"});
      if (caps.has("UIDPLUS")) {
        uid_expunge(wanted);
      } else {
        result.expunged = expunge_if_only(wanted);
      }
    }

    if (unusable) {
      return result;
    }
    std::sort(pairs.begin(), pairs.end());
    pairs.erase(std::unique(pairs.begin(), pairs.end()), pairs.end());
    for (std::size_t i = 1; i < pairs.size(); ++i) {
      if (pairs[i].first == pairs[i - 1].first) {
        return result;  // One source, two targets: no answer to trust.
      }
    }
    result.pairs = std::move(pairs);
    return result;
  });
}

bool Client::expunge_if_only(const std::vector<Uid>& marked) {
  // Without UIDPLUS the only expunge is the plain one, which removes every
  // message marked \Deleted, also those another client marked and meant to
  // keep until it expunges them itself (RFC 4549 §4.2.4). It is safe only
  // if the \Deleted messages are ours alone. A client marking one between
  // the SEARCH and the EXPUNGE is a window no IMAP4rev1 command closes.
  std::vector<Uid> deleted;
  bool answered = false;
  run("UID SEARCH DELETED", [&](const Response& r) {
    if (const auto* search = std::get_if<SearchData>(&r)) {
      answered = true;
      deleted.insert(deleted.end(), search->numbers.begin(), search->numbers.end());
    }
  });
  if (!answered) {
    return false;  // No answer we can read (an ESEARCH, say): assume others.
  }
  for (Uid uid : deleted) {
    if (!std::binary_search(marked.begin(), marked.end(), uid)) {
      ROAM_DEBUG(util::k_cat_imap, "UID " << uid
                                          << " is marked \\Deleted by someone else; leaving the "
                                             "moved messages marked instead of expunging");
      return false;
    }
  }
  if (!deleted.empty()) {
    run("EXPUNGE");
  }
  return true;
}

void Client::create(const std::string& mailbox) {
  guarded([&] {
    std::string command =
        "CREATE " + encoded(Scope::Folder, [&] { return quote_astring(mailbox); });
    try {
      run(command);
    } catch (const CommandFailed& e) {
      if (e.response().status == StatusResponse::Status::No && e.response().code &&
          e.response().code->kind == ResponseCode::Kind::AlreadyExists) {
        return;
      }
      throw;
    }
  });
}

void Client::logout() {
  try {
    run("LOGOUT");
  } catch (const util::Error&) {
    // The server may close the connection right after BYE; the session is
    // over either way.
  }
}

}  // namespace roam::imap
