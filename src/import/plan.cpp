#include "import/plan.hpp"

#include <algorithm>
#include <string_view>

namespace roam::import {

std::optional<std::string> flag_of_letter(char letter) {
  switch (letter) {
    case 'D':
      return "\\Draft";
    case 'F':
      return "\\Flagged";
    case 'P':
      return "$Forwarded";
    case 'R':
      return "\\Answered";
    case 'S':
      return "\\Seen";
    case 'T':
      return "\\Deleted";
    default:
      return std::nullopt;
  }
}

std::vector<std::string> flags_of_letters(std::string_view letters) {
  std::vector<std::string> flags;
  for (char c : letters) {
    if (auto f = flag_of_letter(c)) {
      flags.push_back(std::move(*f));
    }
  }
  std::sort(flags.begin(), flags.end());
  flags.erase(std::unique(flags.begin(), flags.end()), flags.end());
  return flags;
}

namespace {

// The value of ",<tag>=" in a stable name: the characters up to the next
// ',' (or the end). Both tools put their fields after the first ',' and in
// no fixed order, so every ',' starts a candidate.
std::optional<std::string_view> field(std::string_view stable_name, std::string_view tag) {
  // Only the stable part counts; callers may pass a whole file name.
  for (std::string_view info : {":2,", "!2,"}) {
    if (auto at = stable_name.find(info); at != std::string_view::npos) {
      stable_name = stable_name.substr(0, at);
    }
  }
  std::size_t pos = 0;
  while ((pos = stable_name.find(',', pos)) != std::string_view::npos) {
    ++pos;
    if (stable_name.substr(pos, tag.size()) == tag && pos + tag.size() < stable_name.size() &&
        stable_name[pos + tag.size()] == '=') {
      std::size_t begin = pos + tag.size() + 1;
      std::size_t end = stable_name.find(',', begin);
      return stable_name.substr(begin, end == std::string_view::npos ? end : end - begin);
    }
  }
  return std::nullopt;
}

}  // namespace

std::optional<std::uint32_t> file_uid(std::string_view stable_name) {
  auto value = field(stable_name, "U");
  if (!value || value->empty() || value->size() > 10) {
    return std::nullopt;
  }
  std::uint64_t n = 0;
  for (char c : *value) {
    if (c < '0' || c > '9') {
      return std::nullopt;
    }
    n = n * 10 + static_cast<std::uint64_t>(c - '0');
  }
  if (n == 0 || n > 0xffffffffull) {
    return std::nullopt;
  }
  return static_cast<std::uint32_t>(n);
}

std::string file_fmd5(std::string_view stable_name) {
  auto value = field(stable_name, "FMD5");
  return value ? std::string(*value) : std::string();
}

namespace {

bool is_blank(char c) {
  return c == ' ' || c == '\t';
}

std::string quoted(std::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') {
      out += '\\';
    }
    out += c;
  }
  return out + "\"";
}

}  // namespace

std::string config_value(std::string_view value) {
  bool quote = value.empty() || is_blank(value.front()) || is_blank(value.back()) ||
               value.find_first_of("#;\"\\") != std::string_view::npos;
  return quote ? quoted(value) : std::string(value);
}

std::string folder_pattern(std::string_view pattern) {
  std::string prefix;
  if (!pattern.empty() && pattern[0] == '!') {
    prefix = "!";
    pattern.remove_prefix(1);
  }
  bool quote = pattern.empty() || std::any_of(pattern.begin(), pattern.end(), [](char c) {
                 return is_blank(c) || c == '"' || c == '#' || c == ';' || c == '\\';
               });
  return prefix + (quote ? quoted(pattern) : std::string(pattern));
}

std::string slash_separated(std::string_view name, std::string_view separator) {
  if (separator.empty()) {
    return std::string(name);
  }
  std::string out;
  for (std::size_t i = 0; i < name.size();) {
    if (name.compare(i, separator.size(), separator) == 0) {
      out += '/';
      i += separator.size();
    } else {
      out += name[i++];
    }
  }
  return out;
}

}  // namespace roam::import
