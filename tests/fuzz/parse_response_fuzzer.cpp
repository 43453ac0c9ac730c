// libFuzzer target for the server-facing half of the IMAP layer: the bytes a
// server sends go through imap::ResponseReader (line and literal framing,
// limits) and every complete response through imap::parse_response, exactly
// as imap::Client does. The contract under test: whatever the server sends,
// the only outcomes are a typed Response, a ParseError or a util::Error; no
// crash, no out-of-bounds access, no other exception, no hang.
//
// The first input byte is a control byte, the rest is the server's stream:
//   bits 0-1  which literals are streamed to a sink rather than kept in
//             memory: 0 none, 1 those that announce a body (the client's own
//             rule, imap::announces_body), 2 all, 3 every other one;
//   bits 4-7  0xF: the bytes go through a real ResponseReader; otherwise the
//             RawResponses are framed here, the same way (see frame()). The
//             reader costs a zero-filled 256 KiB buffer per read, which
//             would make it a hundred times slower to fuzz everything
//             through it; its framing has unit tests of its own.
//   bits 2-3  how many bytes each read returns (0: as many as asked, or
//             64, 17 or 5), so that responses are split at odd boundaries.
//             Smaller pieces would be more thorough but slow: the reader
//             grows its buffer by a fixed chunk per read and zero-fills it.
// Limits are lowered so that the limit checks are reached with small inputs.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "imap/client.hpp"
#include "imap/parse_error.hpp"
#include "imap/parser.hpp"
#include "imap/reader.hpp"
#include "net/stream.hpp"
#include "util/error.hpp"

namespace {

using namespace roam;

// A stream that hands out the fuzz input in fixed-size pieces.
class BufferStream : public net::Stream {
 public:
  BufferStream(std::string_view data, std::size_t chunk) : m_data(data), m_chunk(chunk) {}

  std::size_t read_some(char* buf, std::size_t len) override {
    std::size_t n = std::min(len, m_data.size());
    if (m_chunk != 0) {
      n = std::min(n, m_chunk);
    }
    std::memcpy(buf, m_data.data(), n);
    m_data.remove_prefix(n);
    return n;
  }
  void write_all(std::string_view) override {}
  void start_tls(const net::TlsOptions&) override {}
  bool is_tls() const override { return false; }
  std::string peer() const override { return "fuzz:143"; }
  std::string security() const override { return "plaintext"; }

 private:
  std::string_view m_data;
  std::size_t m_chunk;
};

// Counts what it receives, as a Maildir delivery would write it.
class CountingSink : public imap::LiteralSink {
 public:
  void write(const char*, std::size_t size) override { m_bytes += size; }

 private:
  std::uint64_t m_bytes = 0;
};

// Whether the `index`-th literal of the input, announced by `text`, goes to
// a sink under routing rule `routing` (see above).
bool streamed(unsigned routing, unsigned index, std::string_view text) {
  switch (routing) {
    case 1:
      return imap::announces_body(text);
    case 2:
      return true;
    case 3:
      return index % 2 == 1;
    default:
      return false;
  }
}

// Frames `in` into RawResponses as ResponseReader::read() does (a line,
// each literal it announces, the rest of the line after it, until a line
// without a literal) and parses each. Streamed literals' octets are left out
// of the text and listed, as the reader does. Stops at an incomplete
// response, which the reader would never hand out.
void frame_and_parse(std::string_view in, unsigned routing) {
  unsigned literal_index = 0;
  while (!in.empty()) {
    imap::RawResponse raw;
    for (;;) {
      const auto lf = in.find('\n');
      if (lf == std::string_view::npos) {
        return;
      }
      std::string_view segment = in.substr(0, lf);
      if (!segment.empty() && segment.back() == '\r') {
        segment.remove_suffix(1);
      }
      in.remove_prefix(lf + 1);
      std::uint64_t size = 0;
      std::size_t marker = 0;
      const std::size_t base = raw.text.size();
      raw.text += segment;
      if (!imap::literal_marker(segment, size, marker)) {
        break;
      }
      if (size > in.size()) {
        return;
      }
      raw.text += "\r\n";
      const auto octets = static_cast<std::size_t>(size);
      if (streamed(routing, literal_index++, raw.text)) {
        raw.streamed.push_back({base + marker, size});
      } else {
        raw.text += in.substr(0, octets);
      }
      in.remove_prefix(octets);
    }
    try {
      (void)imap::parse_response(raw);
    } catch (const imap::ParseError&) {
      // Malformed: the client drops the connection, which is fine.
    }
  }
}

void read_and_parse(std::string_view in, unsigned routing, std::size_t chunk) {
  BufferStream stream(in, chunk);
  imap::ReaderLimits limits;
  limits.max_line = 4096;
  limits.max_response = 16384;
  limits.max_inline_literal = 2048;
  limits.max_streamed_literal = 8192;
  limits.max_literals = 64;
  imap::ResponseReader reader(stream, limits);
  CountingSink sink;
  unsigned literal_index = 0;
  reader.set_literal_router([&](std::string_view text, std::uint64_t) -> imap::LiteralSink* {
    return streamed(routing, literal_index++, text) ? &sink : nullptr;
  });
  // At most as many responses as there are input bytes: each takes one.
  for (std::size_t i = 0; i <= in.size(); ++i) {
    imap::RawResponse raw;
    try {
      raw = reader.read();
    } catch (const util::Error&) {
      return;  // End of input or a limit: the connection would be dropped.
    }
    try {
      (void)imap::parse_response(raw);
    } catch (const imap::ParseError&) {
      // Malformed: the client drops the connection, which is fine.
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) {
    return 0;
  }
  const unsigned control = data[0];
  const unsigned routing = control & 3u;
  static constexpr std::size_t k_chunks[] = {0, 64, 17, 5};
  const std::size_t chunk = k_chunks[(control >> 2) & 3u];
  // The fuzz input is raw bytes; the parser deals in chars.
  const std::string_view in(reinterpret_cast<const char*>(data + 1), size - 1);
  if ((control >> 4) == 0xF) {
    read_and_parse(in, routing, chunk);
  } else {
    frame_and_parse(in, routing);
  }
  return 0;
}
