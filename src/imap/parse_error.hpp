#pragma once

// The one exception the IMAP lexer and parser throw. Whatever the server sent,
// malformed or hostile, ends in a ParseError that says where parsing stopped
// and shows the response around that point, so that a log line is enough to
// report a server bug.

#include <cstddef>
#include <stdexcept>
#include <string>
#include <string_view>

namespace roam::imap {

class ParseError : public std::runtime_error {
 public:
  // `text` is the whole response; `offset` is where parsing failed and
  // `reason` says what was wrong there (e.g. "expected ')'").
  ParseError(std::string_view text, std::size_t offset, std::string_view reason);

  // The offset into the response text at which parsing failed.
  std::size_t offset() const { return m_offset; }

  // The response text, cut to about 200 characters around the offset, with
  // control characters and 8-bit bytes escaped so that it is safe to log.
  const std::string& line() const { return m_line; }

  // What was wrong, without the position (e.g. "expected ')'").
  const std::string& reason() const { return m_reason; }

 private:
  std::size_t m_offset;
  std::string m_line;
  std::string m_reason;
};

// Escapes control characters, backslash, double quote and 8-bit bytes of
// `text` (as \r, \n, \t, \\, \" and \xHH) and cuts the result to about
// `max_chars` characters around `focus`, marking cuts with "...". Used for
// error messages and the response printers.
std::string escape_for_log(std::string_view text, std::size_t focus = 0,
                           std::size_t max_chars = 200);

}  // namespace roam::imap
