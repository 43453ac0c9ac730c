#include "imap/utf7.hpp"

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "imap/parse_error.hpp"

namespace roam::imap {

namespace {

// RFC 3501 §5.1.3: base64 (RFC 2045) with ',' in place of '/', no padding.
constexpr std::string_view k_alphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

int base64_value(char c) {
  std::size_t pos = k_alphabet.find(c);
  return pos == std::string_view::npos ? -1 : static_cast<int>(pos);
}

bool is_direct(std::uint32_t cp) {
  return cp >= 0x20 && cp <= 0x7e;
}

[[noreturn]] void fail_encode(std::string_view utf8, std::size_t offset, std::string_view why) {
  throw std::invalid_argument("cannot encode mailbox name \"" + escape_for_log(utf8) +
                              "\" as modified UTF-7: " + std::string(why) + " at offset " +
                              std::to_string(offset));
}

[[noreturn]] void fail_decode(std::string_view utf7, std::size_t offset, std::string_view why) {
  throw std::invalid_argument("invalid modified UTF-7 mailbox name \"" + escape_for_log(utf7) +
                              "\": " + std::string(why) + " at offset " + std::to_string(offset));
}

void append_utf8(std::string& out, std::uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xc0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xe0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  } else {
    out += static_cast<char>(0xf0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3f));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  }
}

// Decodes one UTF-8 sequence at `pos`, advancing it. Rejects everything
// RFC 3629 forbids: stray continuation bytes, truncated and overlong
// sequences, surrogates and code points above U+10FFFF.
std::uint32_t next_code_point(std::string_view utf8, std::size_t& pos) {
  std::size_t start = pos;
  auto lead = static_cast<unsigned char>(utf8[pos]);
  std::size_t length = 0;
  std::uint32_t cp = 0;
  std::uint32_t min = 0;
  if (lead < 0x80) {
    ++pos;
    return lead;
  } else if ((lead & 0xe0) == 0xc0) {
    length = 2;
    cp = lead & 0x1fu;
    min = 0x80;
  } else if ((lead & 0xf0) == 0xe0) {
    length = 3;
    cp = lead & 0x0fu;
    min = 0x800;
  } else if ((lead & 0xf8) == 0xf0) {
    length = 4;
    cp = lead & 0x07u;
    min = 0x10000;
  } else {
    fail_encode(utf8, start, "invalid UTF-8 lead byte");
  }
  if (utf8.size() - start < length) {
    fail_encode(utf8, start, "truncated UTF-8 sequence");
  }
  for (std::size_t i = 1; i < length; ++i) {
    auto byte = static_cast<unsigned char>(utf8[start + i]);
    if ((byte & 0xc0) != 0x80) {
      fail_encode(utf8, start, "truncated UTF-8 sequence");
    }
    cp = (cp << 6) | (byte & 0x3fu);
  }
  if (cp < min) {
    fail_encode(utf8, start, "overlong UTF-8 sequence");
  }
  if (cp >= 0xd800 && cp <= 0xdfff) {
    fail_encode(utf8, start, "UTF-8 encoded surrogate");
  }
  if (cp > 0x10ffff) {
    fail_encode(utf8, start, "code point above U+10FFFF");
  }
  pos = start + length;
  return cp;
}

void flush_shift(std::string& out, std::vector<std::uint16_t>& units) {
  if (units.empty()) {
    return;
  }
  out += '&';
  std::uint32_t buffer = 0;
  int bits = 0;
  for (std::uint16_t unit : units) {
    buffer = (buffer << 16) | unit;
    bits += 16;
    while (bits >= 6) {
      bits -= 6;
      out += k_alphabet[(buffer >> bits) & 0x3fu];
    }
    buffer &= (1u << bits) - 1;
  }
  if (bits > 0) {
    out += k_alphabet[(buffer << (6 - bits)) & 0x3fu];
  }
  out += '-';
  units.clear();
}

}  // namespace

std::string utf7_encode(std::string_view utf8) {
  std::string out;
  std::vector<std::uint16_t> units;
  std::size_t pos = 0;
  while (pos < utf8.size()) {
    std::size_t start = pos;
    std::uint32_t cp = next_code_point(utf8, pos);
    if (cp == 0) {
      fail_encode(utf8, start, "NUL");
    }
    if (is_direct(cp)) {
      flush_shift(out, units);
      out += cp == '&' ? std::string("&-") : std::string(1, static_cast<char>(cp));
    } else if (cp < 0x10000) {
      units.push_back(static_cast<std::uint16_t>(cp));
    } else {
      std::uint32_t v = cp - 0x10000;
      units.push_back(static_cast<std::uint16_t>(0xd800 + (v >> 10)));
      units.push_back(static_cast<std::uint16_t>(0xdc00 + (v & 0x3ff)));
    }
  }
  flush_shift(out, units);
  return out;
}

std::string utf7_decode(std::string_view imap_utf7) {
  std::string out;
  std::size_t i = 0;
  bool after_shift = false;
  while (i < imap_utf7.size()) {
    char c = imap_utf7[i];
    auto u = static_cast<unsigned char>(c);
    if (!is_direct(u)) {
      fail_decode(imap_utf7, i, "octet outside printable ASCII");
    }
    if (c != '&') {
      out += c;
      ++i;
      after_shift = false;
      continue;
    }
    if (i + 1 < imap_utf7.size() && imap_utf7[i + 1] == '-') {
      out += '&';
      i += 2;
      after_shift = false;
      continue;
    }
    std::size_t shift_start = i;
    if (after_shift) {
      // An encoder puts consecutive non-ASCII characters in one shift
      // (RFC 9051 Appendix A gives "&U,BTFw-&ZeVnLIqe-" as invalid).
      fail_decode(imap_utf7, i, "shift directly after another shift");
    }
    ++i;
    std::vector<std::uint16_t> units;
    std::uint32_t buffer = 0;
    int bits = 0;
    for (;;) {
      if (i >= imap_utf7.size()) {
        fail_decode(imap_utf7, shift_start, "unterminated shift");
      }
      char b = imap_utf7[i];
      if (b == '-') {
        break;
      }
      int value = base64_value(b);
      if (value < 0) {
        fail_decode(imap_utf7, i, "character that is not modified base64 inside a shift");
      }
      buffer = (buffer << 6) | static_cast<std::uint32_t>(value);
      bits += 6;
      if (bits >= 16) {
        bits -= 16;
        units.push_back(static_cast<std::uint16_t>((buffer >> bits) & 0xffffu));
        buffer &= (1u << bits) - 1;
      }
      ++i;
    }
    if (bits >= 6) {
      fail_decode(imap_utf7, i, "excess base64 characters");
    }
    if (buffer != 0) {
      fail_decode(imap_utf7, i, "non-zero padding bits");
    }
    for (std::size_t j = 0; j < units.size(); ++j) {
      std::uint32_t cp = units[j];
      if (cp >= 0xdc00 && cp <= 0xdfff) {
        fail_decode(imap_utf7, shift_start, "unpaired low surrogate");
      }
      if (cp >= 0xd800 && cp <= 0xdbff) {
        if (j + 1 >= units.size() || units[j + 1] < 0xdc00 || units[j + 1] > 0xdfff) {
          fail_decode(imap_utf7, shift_start, "unpaired high surrogate");
        }
        cp = 0x10000 + ((cp - 0xd800) << 10) + (units[j + 1] - 0xdc00u);
        ++j;
      }
      if (is_direct(cp)) {
        fail_decode(imap_utf7, shift_start, "printable ASCII encoded in a shift");
      }
      if (cp == 0) {
        fail_decode(imap_utf7, shift_start, "NUL encoded in a shift");
      }
      append_utf8(out, cp);
    }
    ++i;  // The '-' that ends the shift.
    after_shift = true;
  }
  return out;
}

}  // namespace roam::imap
