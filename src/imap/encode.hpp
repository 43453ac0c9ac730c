#pragma once

// Encoding of command arguments (RFC 3501 §4 and §9). Values that roam puts
// into command lines go through these functions, so that no name or flag can
// break the command syntax or smuggle a second command into the line.

#include <string>
#include <string_view>
#include <vector>

namespace roam::imap {

// Encodes `value` as an astring: a bare atom when every octet is an
// ATOM-CHAR (and the value is not "NIL", which some servers misread), and a
// quoted string with '"' and '\' escaped otherwise (including the empty
// string). 8-bit octets are quoted as they are, which is correct once
// UTF8=ACCEPT is enabled; without it mailbox names are modified UTF-7 and
// thus 7-bit. Throws std::invalid_argument naming the value for CR, LF and
// NUL, which no quoted string can carry (the caller refuses such names).
std::string quote_astring(std::string_view value);

// Formats flags as a parenthesised list "(\Seen $Forwarded)" for STORE and
// APPEND. Each flag must be a keyword atom or "\" followed by an atom; flags
// cannot be quoted, so anything else throws std::invalid_argument naming the
// flag.
std::string format_flag_list(const std::vector<std::string>& flags);

}  // namespace roam::imap
