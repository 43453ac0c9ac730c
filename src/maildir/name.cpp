#include "maildir/name.hpp"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdint>

#include "util/fs.hpp"

namespace roam::maildir {

namespace {

constexpr std::string_view k_info_flags = ":2,";
constexpr std::string_view k_info_experimental = ":1,";

bool is_control(char c) {
  auto byte = static_cast<unsigned char>(c);
  return byte < 0x20 || byte == 0x7f;
}

char ascii_lower(char c) {
  if (c >= 'A' && c <= 'Z') {
    return static_cast<char>(c - 'A' + 'a');
  }
  return c;
}

bool equals_ignore_case(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) {
    return false;
  }
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (ascii_lower(a[i]) != ascii_lower(b[i])) {
      return false;
    }
  }
  return true;
}

// The letters of an info part must be printable ASCII; ',' ends them.
bool is_valid_letter(char c) {
  return c > 0x20 && c < 0x7f && c != ',';
}

}  // namespace

std::string_view to_string(Subdir subdir) {
  switch (subdir) {
    case Subdir::New:
      return "new";
    case Subdir::Cur:
      return "cur";
  }
  return "cur";
}

ParsedName parse_name(std::string_view file_name) {
  ParsedName out;
  std::size_t colon = file_name.find(':');
  if (colon == std::string_view::npos) {
    out.stable_name = std::string(file_name);
    return out;
  }
  std::string_view info = file_name.substr(colon);
  if (info.starts_with(k_info_flags)) {
    std::string_view rest = info.substr(k_info_flags.size());
    std::size_t comma = rest.find(',');
    out.stable_name = std::string(file_name.substr(0, colon));
    out.letters = normalize_letters(rest.substr(0, comma));
    if (comma != std::string_view::npos) {
      out.extra = std::string(rest.substr(comma));
    }
    out.has_info = true;
  } else if (info.starts_with(k_info_experimental)) {
    out.stable_name = std::string(file_name.substr(0, colon));
    out.has_info = true;
  } else {
    // Not an info part; classify_name() calls such names invalid.
    out.stable_name = std::string(file_name);
  }
  return out;
}

NameKind classify_name(std::string_view file_name) {
  if (file_name.empty()) {
    return NameKind::Invalid;
  }
  if (file_name.front() == '.') {
    return NameKind::Skip;
  }
  if (file_name.find('/') != std::string_view::npos ||
      file_name.find('\0') != std::string_view::npos) {
    return NameKind::Invalid;
  }
  std::size_t colon = file_name.find(':');
  if (colon != std::string_view::npos) {
    std::string_view info = file_name.substr(colon);
    if (info.starts_with(k_info_flags)) {
      std::string_view rest = info.substr(k_info_flags.size());
      std::string_view letters = rest.substr(0, rest.find(','));
      if (!std::all_of(letters.begin(), letters.end(), is_valid_letter)) {
        return NameKind::Invalid;
      }
    } else if (!info.starts_with(k_info_experimental)) {
      return NameKind::Invalid;
    }
  }
  if (!is_valid_stable_name(file_name.substr(0, colon))) {
    return NameKind::Invalid;
  }
  return NameKind::Valid;
}

std::string format_name(std::string_view stable_name, std::string_view letters, Subdir target,
                        std::string_view extra) {
  std::string out(stable_name);
  std::string sorted = normalize_letters(letters);
  if (target == Subdir::New && sorted.empty() && extra.empty()) {
    return out;
  }
  out += k_info_flags;
  out += sorted;
  out += extra;
  return out;
}

std::string normalize_letters(std::string_view letters) {
  std::string out(letters);
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

bool is_known_letter(char letter) {
  return std::any_of(k_flag_table.begin(), k_flag_table.end(),
                     [letter](const FlagMapping& row) { return row.letter == letter; });
}

std::string known_letters(std::string_view letters) {
  std::string out;
  for (char c : letters) {
    if (is_known_letter(c)) {
      out += c;
    }
  }
  return normalize_letters(out);
}

std::string unknown_letters(std::string_view letters) {
  std::string out;
  for (char c : letters) {
    if (!is_known_letter(c)) {
      out += c;
    }
  }
  return normalize_letters(out);
}

std::string replace_known_letters(std::string_view current, std::string_view known) {
  return normalize_letters(unknown_letters(current) + known_letters(known));
}

std::optional<char> letter_for_imap_flag(std::string_view imap_flag) {
  for (const FlagMapping& row : k_flag_table) {
    if (equals_ignore_case(row.imap_flag, imap_flag)) {
      return row.letter;
    }
  }
  return std::nullopt;
}

std::optional<std::string_view> imap_flag_for_letter(char letter) {
  for (const FlagMapping& row : k_flag_table) {
    if (row.letter == letter) {
      return row.imap_flag;
    }
  }
  return std::nullopt;
}

LettersFromImap letters_from_imap_flags(const std::vector<std::string>& imap_flags) {
  LettersFromImap out;
  for (const std::string& flag : imap_flags) {
    if (std::optional<char> letter = letter_for_imap_flag(flag)) {
      out.letters += *letter;
    } else if (std::find(out.unmapped.begin(), out.unmapped.end(), flag) == out.unmapped.end()) {
      out.unmapped.push_back(flag);
    }
  }
  out.letters = normalize_letters(out.letters);
  return out;
}

ImapFromLetters imap_flags_from_letters(std::string_view letters) {
  ImapFromLetters out;
  std::string sorted = normalize_letters(letters);
  for (const FlagMapping& row : k_flag_table) {
    if (sorted.find(row.letter) != std::string::npos) {
      out.imap_flags.emplace_back(row.imap_flag);
    }
  }
  out.unknown_letters = unknown_letters(sorted);
  return out;
}

std::string new_stable_name() {
  // The host name cannot change in a way that matters during one run, and
  // asking for it for every one of thousands of messages is wasted work.
  static const std::string host = util::maildir_hostname();
  static std::atomic<std::uint64_t> counter{0};
  util::Timestamp ts = util::now();
  std::uint64_t n = counter.fetch_add(1, std::memory_order_relaxed);
  std::string out = std::to_string(ts.seconds);
  out += ".M";
  out += std::to_string(ts.micros);
  out += 'P';
  out += std::to_string(::getpid());
  out += 'Q';
  out += std::to_string(n);
  out += '.';
  out += host;
  return out;
}

bool is_valid_stable_name(std::string_view stable_name) {
  if (stable_name.empty() || stable_name.front() == '.') {
    return false;
  }
  return std::none_of(stable_name.begin(), stable_name.end(),
                      [](char c) { return c == '/' || c == ':' || c == '\0' || is_control(c); });
}

}  // namespace roam::maildir
