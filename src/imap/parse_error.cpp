#include "imap/parse_error.hpp"

#include <string>

namespace roam::imap {

std::string escape_for_log(std::string_view text, std::size_t focus, std::size_t max_chars) {
  std::size_t start = 0;
  std::size_t end = text.size();
  if (text.size() > max_chars) {
    start = focus > max_chars / 2 ? focus - max_chars / 2 : 0;
    if (start > text.size() - max_chars) {
      start = text.size() - max_chars;
    }
    end = start + max_chars;
  }
  static const char* const k_hex = "0123456789abcdef";
  std::string out;
  if (start > 0) {
    out += "...";
  }
  for (std::size_t i = start; i < end; ++i) {
    char c = text[i];
    auto u = static_cast<unsigned char>(c);
    switch (c) {
      case '\r':
        out += "\\r";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '"':
        out += "\\\"";
        break;
      default:
        if (u < 0x20 || u >= 0x7f) {
          out += "\\x";
          out += k_hex[u >> 4];
          out += k_hex[u & 0xf];
        } else {
          out += c;
        }
    }
  }
  if (end < text.size()) {
    out += "...";
  }
  return out;
}

ParseError::ParseError(std::string_view text, std::size_t offset, std::string_view reason)
    : std::runtime_error("cannot parse server response at offset " + std::to_string(offset) + ": " +
                         std::string(reason) + " in \"" + escape_for_log(text, offset) + "\""),
      m_offset(offset),
      m_line(escape_for_log(text, offset)),
      m_reason(reason) {}

}  // namespace roam::imap
