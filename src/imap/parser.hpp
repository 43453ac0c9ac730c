#pragma once

// The high level of the IMAP response parser: one complete server response
// (raw.hpp) in, one typed Response (response.hpp) out. Built on the Lexer.

#include "imap/parse_error.hpp"
#include "imap/raw.hpp"
#include "imap/response.hpp"

namespace roam::imap {

// Parses one server response: a tagged status response, an untagged status or
// data response ("* ..."), or a continuation request ("+ ..."). Atoms are
// matched case-insensitively. Untagged data that roam does not interpret
// becomes OtherData after it has been skipped safely; unknown FETCH items,
// STATUS items and response codes are skipped or kept as Other. Harmless
// server quirks (trailing spaces, "* OK" without text, lower-case keywords)
// are tolerated. Anything malformed throws ParseError; no input makes this
// crash, read out of bounds or fail to terminate.
//
// A mailbox name equal to "INBOX" in any case is returned as "INBOX", since
// that name is case-insensitive (RFC 3501 §5.1). System flags (\Seen etc.)
// are returned in their canonical case; keywords and attributes as sent.
Response parse_response(const RawResponse& raw);

}  // namespace roam::imap
