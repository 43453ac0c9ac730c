#pragma once

// The low level of the IMAP response parser (RFC 3501 §4 and §9, RFC 9051
// §4): a cursor over one complete server response whose literals have been
// resolved by the reader (see raw.hpp). Each read_* call either consumes one
// syntactic element and leaves the cursor right after it, or throws a
// ParseError naming the offset at which the element is malformed. Nothing here
// reads outside the response text, recurses without a bound or loops without
// consuming input, whatever the text holds.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "imap/parse_error.hpp"
#include "imap/raw.hpp"
#include "imap/response.hpp"

namespace roam::imap {

// How a string value was sent on the wire.
enum class Encoding {
  Atom,      // A bare atom or astring atom.
  Quoted,    // "..." with \" and \\ escapes.
  Literal,   // {n}\r\n followed by n octets.
  Literal8,  // ~{n}\r\n followed by n octets (RFC 3516, may hold NUL).
  Nil,       // NIL where an nstring was allowed.
};

// A string read from the response, with how it was sent.
struct StringValue {
  std::string value;  // Empty for NIL and for streamed literals.
  Encoding encoding = Encoding::Atom;
  bool streamed = false;   // The literal's octets went to a sink (see raw.hpp).
  std::uint64_t size = 0;  // Literal size, or the length of the value.
  bool operator==(const StringValue&) const = default;
};

// The deepest nesting of parenthesised lists the lexer accepts. Real
// responses (BODYSTRUCTURE of deeply nested multiparts) stay far below it;
// it only bounds the recursion on hostile input.
inline constexpr int k_max_list_depth = 64;

// Returns `text` upper-cased (ASCII letters only).
std::string to_upper_ascii(std::string_view text);

// Returns true if `a` and `b` are equal ignoring ASCII case.
bool iequals(std::string_view a, std::string_view b);

// A cursor over a RawResponse. The response must outlive the lexer.
class Lexer {
 public:
  explicit Lexer(const RawResponse& raw);
  // A lexer over a temporary would dangle.
  explicit Lexer(RawResponse&&) = delete;

  // The cursor: the offset of the next unread octet of the response text.
  std::size_t offset() const { return m_pos; }

  // True once the whole text has been consumed.
  bool at_end() const { return m_pos >= m_text.size(); }

  // The next octet, or nullopt at the end. Does not move the cursor.
  std::optional<char> peek() const;

  // Consumes `c` if it is the next octet; returns whether it did.
  bool try_consume(char c);

  // Consumes `c` or throws "expected 'c'".
  void expect(char c);

  // Consumes exactly one space or throws "expected ' '".
  void expect_space();

  // Consumes any run of spaces; returns how many there were. Used where a
  // stray or doubled space from a server is harmless.
  std::size_t skip_spaces();

  // Skips trailing spaces (a common, harmless quirk) and throws "expected end
  // of response" unless the whole text is then consumed.
  void expect_end();

  // An atom: one or more ATOM-CHARs (RFC 3501 §9). Octets above 0x7f are
  // accepted since they cannot be confused with any delimiter. Throws
  // "expected atom" if there is none.
  std::string read_atom();

  // Like read_atom() but also accepts ']' (ASTRING-CHAR), as in astrings
  // and tags.
  std::string read_astring_atom();

  // A FETCH item name (RFC 3501 "msg-att"): an atom that also ends at '[',
  // so that "BODY[TEXT]" yields "BODY" and leaves the section unread.
  std::string read_item_name();

  // A tag: one or more ASTRING-CHARs other than '+'.
  std::string read_tag();

  // An unsigned decimal number up to 2^64-1. Throws "expected number" or
  // "number too large".
  std::uint64_t read_number();

  // A number that must fit in 32 bits (RFC 3501 "number").
  std::uint32_t read_number32();

  // A non-zero 32-bit number (RFC 3501 "nz-number").
  std::uint32_t read_nz_number();

  // A quoted string. Only \" and \\ escapes; CR, LF and NUL are errors;
  // 8-bit octets are kept (UTF8=ACCEPT, RFC 6855).
  StringValue read_quoted();

  // A literal {n}\r\n or literal8 ~{n}\r\n (also the {n+} form) with its
  // octets. A literal whose marker is listed as streamed yields an empty
  // value with streamed=true; the cursor then moves to right after the
  // marker's CRLF.
  StringValue read_literal();

  // A string: quoted, literal or literal8.
  StringValue read_string();

  // An astring: an ASTRING-CHAR atom or a string.
  StringValue read_astring();

  // An nstring: NIL (any case) or a string.
  StringValue read_nstring();

  // One flag (RFC 3501 "flag-perm" / "mbx-list-flag"): "\*", "\" atom, or a
  // keyword atom. The flag is returned as sent.
  std::string read_flag();

  // A parenthesised flag list "(flag flag ...)", possibly empty. Extra
  // spaces inside the parentheses are tolerated.
  std::vector<std::string> read_flag_list();

  // A sequence-set (RFC 3501 §9) such as "1:5,7,9:*". Ranges are normalised
  // (12:10 -> {10, 12}); '*' is k_star. If `allow_star` is false, '*' is an
  // error (RFC 4315 "uid-set").
  NumberSet read_sequence_set(bool allow_star = true);

  // Skips one value of any kind: atom or number (including flags, '*' and
  // sequence-sets), quoted string, literal, NIL or parenthesised list, nested
  // up to k_max_list_depth. Used for items roam does not interpret.
  void skip_value();

  // Skips a parenthesised list, which must start at the cursor.
  void skip_list();

  // The rest of the response as human-readable text (RFC 3501 "text"), with
  // trailing spaces removed. CR, LF and NUL in it are errors.
  std::string read_text();

  // Skips the rest of the response, stepping over literals by their size, so
  // that octets inside a literal are never taken for syntax.
  void skip_rest();

  // Throws a ParseError at the cursor.
  [[noreturn]] void fail(std::string_view reason) const;

  // Throws a ParseError at `offset`.
  [[noreturn]] void fail_at(std::size_t offset, std::string_view reason) const;

 private:
  // Reads a non-empty run of characters that `accept`; fails with `what`
  // when there is none.
  std::string read_run(bool (*accept)(char), const char* what);

  void skip_value_at_depth(int depth);
  bool at_literal_start() const;
  // Returns the streamed literal whose marker is at `offset`, if any.
  const StreamedLiteral* streamed_at(std::size_t offset) const;
  // If a literal marker starts at `offset`, returns the offset just past its
  // CRLF and its size; nullopt otherwise. Never throws.
  std::optional<std::pair<std::size_t, std::uint64_t>> probe_literal_marker(
      std::size_t offset) const;

  const RawResponse& m_raw;
  std::string_view m_text;
  std::size_t m_pos = 0;
};

}  // namespace roam::imap
