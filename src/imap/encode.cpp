#include "imap/encode.hpp"

#include <stdexcept>
#include <string>

#include "imap/lexer.hpp"
#include "imap/parse_error.hpp"

namespace roam::imap {

namespace {

// ATOM-CHAR (RFC 3501 §9), 7-bit only: an 8-bit atom is not valid syntax
// for a client to send.
bool is_atom_char(char c) {
  auto u = static_cast<unsigned char>(c);
  if (u <= 0x20 || u >= 0x7f) {
    return false;
  }
  switch (c) {
    case '(':
    case ')':
    case '{':
    case '%':
    case '*':
    case '"':
    case '\\':
    case ']':
      return false;
    default:
      return true;
  }
}

bool is_atom(std::string_view value) {
  if (value.empty()) {
    return false;
  }
  for (char c : value) {
    if (!is_atom_char(c)) {
      return false;
    }
  }
  return true;
}

}  // namespace

std::string quote_astring(std::string_view value) {
  if (is_atom(value) && !iequals(value, "NIL")) {
    return std::string(value);
  }
  std::string out = "\"";
  for (char c : value) {
    if (c == '\r' || c == '\n' || c == '\0') {
      throw std::invalid_argument("cannot send \"" + escape_for_log(value) +
                                  "\" as a quoted string: it contains CR, LF or NUL");
    }
    if (c == '"' || c == '\\') {
      out += '\\';
    }
    out += c;
  }
  out += '"';
  return out;
}

std::string format_flag_list(const std::vector<std::string>& flags) {
  std::string out = "(";
  for (const std::string& flag : flags) {
    std::string_view name = flag;
    if (!name.empty() && name.front() == '\\') {
      name.remove_prefix(1);
    }
    if (!is_atom(name)) {
      throw std::invalid_argument("cannot send flag \"" + escape_for_log(flag) +
                                  "\": a flag must be an atom or \\ followed by an atom");
    }
    if (out.size() > 1) {
      out += ' ';
    }
    out += flag;
  }
  out += ')';
  return out;
}

}  // namespace roam::imap
