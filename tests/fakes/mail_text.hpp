#pragma once

// Text of about `size` bytes that compresses as a mail body does (lines
// with some variety), not as one repeated byte does: for tests of
// COMPRESS=DEFLATE, whose ratio and buffering a run of zeros would not show.

#include <cstddef>
#include <cstdint>
#include <string>

namespace roam::fakes {

inline std::string mail_text(std::size_t size, std::uint32_t seed = 2024) {
  std::string out;
  std::uint32_t x = seed;
  while (out.size() < size) {
    x = x * 1103515245u + 12345u;
    out += "Line " + std::to_string(x % 100000) + " of a message body, word " +
           std::to_string((x >> 8) % 977) + "\r\n";
  }
  out.resize(size);
  return out;
}

}  // namespace roam::fakes
