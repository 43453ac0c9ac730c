#pragma once

// Modified UTF-7 (RFC 3501 §5.1.3), the encoding of non-ASCII mailbox names
// unless UTF8=ACCEPT is enabled. Printable ASCII stands for itself, '&' is
// "&-", and everything else is UTF-16 in base64 (with ',' for '/') between
// '&' and '-'. Both directions are strict, so that decoding is one-to-one:
// a name decoded from the server encodes back to exactly the same octets,
// and a name that does not is never used to address a mailbox.

#include <string>
#include <string_view>

namespace roam::imap {

// Encodes a UTF-8 mailbox name. Throws std::invalid_argument naming the
// offset for invalid UTF-8 (truncated or overlong sequences, surrogates,
// code points above U+10FFFF) and for NUL, which no mailbox name may hold.
std::string utf7_encode(std::string_view utf8);

// Decodes a modified UTF-7 mailbox name to UTF-8. Throws
// std::invalid_argument naming the input and the offset for anything an
// encoder would not produce: octets outside printable ASCII, a shift that is
// not terminated by '-', characters other than modified base64 inside a
// shift, non-zero or excess padding bits, a shift that encodes printable
// ASCII, an empty shift other than "&-", a shift directly after another
// shift ("&AAA-&AAA-" instead of one shift), invalid UTF-16 surrogates, and
// U+0000.
std::string utf7_decode(std::string_view imap_utf7);

}  // namespace roam::imap
