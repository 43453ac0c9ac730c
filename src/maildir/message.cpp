#include "maildir/message.hpp"

#include <cstddef>

namespace roam::maildir {

namespace {

// RFC 5322 section 3.6.8: ftext is %d33-57 / %d59-126.
bool is_field_name_char(char c) {
  auto u = static_cast<unsigned char>(c);
  return u >= 33 && u <= 126 && c != ':';
}

std::string line_label(std::size_t number) {
  return "line " + std::to_string(number);
}

// Why one line of the header block is wrong, or empty if it is a field line
// or (when `may_continue`) a continuation line.
std::string check_line(std::string_view line, bool may_continue, std::size_t number) {
  if (line.front() == ' ' || line.front() == '\t') {
    if (!may_continue) {
      return "the file starts with a blank-prefixed line, not with a \"Name: value\" header field";
    }
  } else {
    std::size_t i = 0;
    while (i < line.size() && is_field_name_char(line[i])) {
      ++i;
    }
    std::size_t name_end = i;
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) {
      ++i;
    }
    if (name_end == 0 || i == line.size() || line[i] != ':') {
      return line_label(number) + " is not a \"Name: value\" header field";
    }
  }
  for (char c : line) {
    if (c == '\0') {
      return line_label(number) + " of the header holds a NUL byte";
    }
    if (c == '\r') {
      return line_label(number) +
             " of the header holds a carriage return not followed by a line feed";
    }
  }
  return {};
}

}  // namespace

std::string why_not_a_message(std::string_view content) {
  if (content.empty()) {
    return "the file is empty";
  }
  std::size_t pos = 0;
  std::size_t number = 0;
  while (pos < content.size()) {
    std::size_t end = content.find('\n', pos);
    std::size_t next = end == std::string_view::npos ? content.size() : end + 1;
    std::string_view line = content.substr(pos, next - pos);
    if (!line.empty() && line.back() == '\n') {
      line.remove_suffix(1);
    }
    if (!line.empty() && line.back() == '\r') {
      line.remove_suffix(1);
    }
    ++number;
    if (line.empty()) {
      if (number == 1) {
        return "the file has no header block (its first line is empty)";
      }
      return {};
    }
    if (std::string why = check_line(line, number > 1, number); !why.empty()) {
      if (number == 1) {
        return "the file has no header block (" + why + ")";
      }
      return "the header block is damaged (" + why + ")";
    }
    pos = next;
  }
  return {};
}

}  // namespace roam::maildir
