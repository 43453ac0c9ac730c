// The SASL mechanisms (PLAIN, XOAUTH2, OAUTHBEARER) and the LOGIN command:
// the messages as pure functions (sasl.hpp) and Client::authenticate.

#include "imap/sasl.hpp"

#include <algorithm>
#include <functional>
#include <optional>
#include <string>

#include "imap/client.hpp"
#include "imap/client_internal.hpp"
#include "imap/encode.hpp"
#include "util/error.hpp"
#include "util/log.hpp"

namespace roam::imap {

using util::Error;
using util::Scope;

namespace sasl {

namespace {

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

// Refuses what an OAuth mechanism cannot carry, before anything is sent:
// a token that is empty or has spaces or control characters (pass_cmd
// printed more than the token), or a user name with the ^A separator.
void check_oauth_inputs(std::string_view user, std::string_view token, std::string_view mechanism) {
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

std::string plain_message(std::string_view user, std::string_view password) {
  if (user.find('\0') != std::string_view::npos || password.find('\0') != std::string_view::npos) {
    throw Error(Scope::Account,
                "the user name or password contains a NUL character, which PLAIN cannot "
                "carry (RFC 4616 §2)");
  }
  std::string message;
  message += '\0';
  message += user;
  message += '\0';
  message += password;
  return message;
}

std::string xoauth2_message(std::string_view user, std::string_view token) {
  check_oauth_inputs(user, token, "XOAUTH2");
  return "user=" + std::string(user) + "\x01" + "auth=Bearer " + std::string(token) + "\x01\x01";
}

std::string oauthbearer_message(std::string_view user, std::string_view token,
                                std::string_view host, std::uint16_t port) {
  check_oauth_inputs(user, token, "OAUTHBEARER");
  // Host and port let the server check that the token was meant for it.
  std::string message = "n,a=" + gs2_name(user) + ",\x01";
  if (!host.empty()) {
    message += "host=" + std::string(host) + "\x01";
  }
  if (port != 0) {
    message += "port=" + std::to_string(port) + "\x01";
  }
  message += "auth=Bearer " + std::string(token) + "\x01\x01";
  return message;
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

}  // namespace sasl

using detail::describe;

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
    const std::uint64_t caps_before = m_caps_updates;
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
      case AuthMechanism::Plain:
        // PLAIN has no error challenge; "*" cancels an unexpected one
        // (RFC 3501 §6.2.2).
        sasl_exchange(mechanism, sasl::plain_message(user, credential), "*");
        break;
      case AuthMechanism::XOAuth2:
        // An empty response asks the server for the tagged NO after its
        // JSON error challenge.
        sasl_exchange(mechanism, sasl::xoauth2_message(user, credential), "");
        break;
      case AuthMechanism::OAuthBearer:
        // RFC 7628 §3.2.3: the client answers an error challenge with a
        // single ^A, and the server then fails the exchange.
        sasl_exchange(mechanism, sasl::oauthbearer_message(user, credential, host, port), "\x01");
        break;
    }
    // Capabilities often change after login. The tagged OK usually says so
    // ([CAPABILITY ...], which saves a round trip); if it did not, the
    // greeting's list is stale, and the next capabilities() asks.
    if (m_caps_updates == caps_before) {
      m_caps_known = false;
    }
  });
}

void Client::sasl_exchange(AuthMechanism mechanism, const std::string& response,
                           std::string_view error_answer) {
  const std::string name(to_string(mechanism));
  const std::string command = "AUTHENTICATE " + name;
  const std::string encoded = sasl::base64(response);
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
    status = sasl::oauth_status(m_last_continuation);
    std::string answer = sasl::base64(error_answer);
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

}  // namespace roam::imap
