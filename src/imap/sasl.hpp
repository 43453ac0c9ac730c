#pragma once

// The SASL messages roam sends in AUTHENTICATE (RFC 3501 §6.2.2), built by
// pure functions so that each mechanism's exact bytes are a unit test of
// their own; Client::authenticate (sasl.cpp) only sends them. The messages
// are the raw octets, before base64.

#include <cstdint>
#include <string>
#include <string_view>

namespace roam::imap::sasl {

// Base64 (RFC 4648 §4) with padding.
std::string base64(std::string_view in);

// Decodes base64, stopping at the first character outside the alphabet
// ("=" included) and returning what was decoded so far: the only use is
// reading an OAuth error challenge for a message, where a malformed
// challenge should shorten the message, never fail.
std::string unbase64(std::string_view in);

// PLAIN (RFC 4616 §2): "\0user\0password", no authorization identity.
// A NUL in either cannot be carried: util::Error(Scope::Account).
std::string plain_message(std::string_view user, std::string_view password);

// XOAUTH2 (Google's and Microsoft's):
// "user=<user>^Aauth=Bearer <token>^A^A".
// Throws util::Error(Scope::Account), without showing the token, for a
// token that is empty or has spaces or control characters (pass_cmd
// printed more than the token) and for a user name with ^A.
std::string xoauth2_message(std::string_view user, std::string_view token);

// OAUTHBEARER (RFC 7628 §3.1): a GS2 header naming the user ("," and "="
// escaped, RFC 5801 §4), then host and port when known (empty, 0: left
// out) and the bearer token, separated by ^A. The same checks as XOAUTH2.
std::string oauthbearer_message(std::string_view user, std::string_view token,
                                std::string_view host, std::uint16_t port);

// The "status" member of an OAuth error challenge (base64 JSON, RFC 7628
// §3.2.2; Google's XOAUTH2 sends the same shape) as printable text of at
// most 64 characters; empty when there is none.
std::string oauth_status(std::string_view challenge);

}  // namespace roam::imap::sasl
