#pragma once

// The reader turns the server's byte stream into complete responses
// (RawResponse): a line, plus every literal that line announces, plus the
// rest of the line after each literal, until a line ends without one.
//
// This is the only place where server-controlled sizes meet memory, so the
// limits live here: a line longer than `max_line`, a response with more text
// than `max_response`, an in-memory literal over `max_inline_literal` or a
// streamed literal over `max_streamed_literal` ends the connection with a
// util::Error(Scope::Account) that names the limit. Message bodies do not go
// through memory at all: a LiteralRouter may send a literal's octets straight
// to a LiteralSink (a file being delivered into a Maildir's tmp/).

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "imap/raw.hpp"
#include "net/stream.hpp"

namespace roam::imap {

struct ReaderLimits {
  std::size_t max_line = 8u << 20;                  // One text segment (between literals).
  std::size_t max_response = 64u << 20;             // All text segments of one response.
  std::uint64_t max_inline_literal = 16u << 20;     // A literal kept in memory.
  std::uint64_t max_streamed_literal = 1ull << 30;  // A literal streamed to a sink (a message).
  std::size_t max_literals = 100'000;               // Literals in one response.
  // The slowest a response may arrive once the stream's timeout has passed
  // since its first byte: a response of n bytes must be complete within
  // timeout + n / min_bytes_per_second. The stream's timeout only bounds
  // each silence, and a server that sends one byte every few seconds (a
  // trickle) would otherwise hold roam forever. Even a mobile link
  // delivers far more than this; 0 turns the rule off.
  std::uint64_t min_bytes_per_second = 1024;
};

// Receives a literal's octets as they arrive.
class LiteralSink {
 public:
  virtual ~LiteralSink() = default;
  virtual void write(const char* data, std::size_t size) = 0;
};

// Called when a literal is announced. `text` is the response so far, ending
// with the literal's "{n}" marker; returning a sink streams the literal there,
// returning nullptr keeps it in memory (within max_inline_literal).
using LiteralRouter = std::function<LiteralSink*(std::string_view text, std::uint64_t size)>;

class ResponseReader {
 public:
  ResponseReader(net::Stream& stream, const ReaderLimits& limits);

  void set_literal_router(LiteralRouter router) { m_router = std::move(router); }

  // Reads one complete response. Throws util::Error(Scope::Account) when the
  // connection closes, a limit is exceeded or the response arrives slower
  // than ReaderLimits::min_bytes_per_second allows.
  RawResponse read();

  // The number of bytes read from the stream but not yet handed out. At the
  // STARTTLS switch this must be zero: any byte the server sent after its OK
  // arrived in plaintext and may have been injected (CVE-2020-14954 class).
  std::size_t buffered() const { return m_end - m_pos; }

  // The bytes read from the stream but not yet handed out.
  std::string_view unread() const {
    return m_pos == m_end ? std::string_view()
                          : std::string_view(m_storage.get() + m_pos, m_end - m_pos);
  }

  // Reads from `stream` from now on, dropping the unread bytes. After
  // COMPRESS (RFC 4978) those bytes are the start of the server's
  // compressed data: the caller hands them to the new stream (the
  // decompressing one over the old) before switching.
  void switch_stream(net::Stream& stream);

  // Total octets received, for statistics.
  std::uint64_t bytes_received() const { return m_received; }

 private:
  bool fill();  // Reads more bytes; false at EOF.
  // Throws if the response being read is arriving too slowly.
  void check_progress();
  std::string read_line_segment(std::size_t already);
  void read_literal_into(std::string& text, std::uint64_t size);
  void stream_literal(LiteralSink& sink, std::uint64_t size);

  net::Stream* m_stream;
  ReaderLimits m_limits;
  LiteralRouter m_router;
  // Bytes [m_pos, m_end) of m_storage are read but not yet handed out.
  std::unique_ptr<char[]> m_storage;
  std::size_t m_capacity = 0;
  std::size_t m_pos = 0;
  std::size_t m_end = 0;
  std::uint64_t m_received = 0;
  // When the first byte of the response being read arrived, and m_received
  // just before it; unset until that byte is there.
  std::optional<std::chrono::steady_clock::time_point> m_response_start;
  std::uint64_t m_response_base = 0;
};

// Parses the "{n}", "{n+}", "~{n}" marker at the end of a line segment.
// Returns false if the segment does not end with one. Exposed for tests.
bool literal_marker(std::string_view segment, std::uint64_t& size, std::size_t& marker_offset);

}  // namespace roam::imap
