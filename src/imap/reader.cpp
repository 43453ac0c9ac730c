#include "imap/reader.hpp"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <memory>

#include "util/error.hpp"

namespace roam::imap {

using util::Error;
using util::Scope;

namespace {
constexpr std::size_t k_read_chunk = 256u << 10;
}

ResponseReader::ResponseReader(net::Stream& stream, const ReaderLimits& limits)
    : m_stream(&stream), m_limits(limits) {}

void ResponseReader::switch_stream(net::Stream& stream) {
  m_pos = m_end = 0;
  m_stream = &stream;
}

bool ResponseReader::fill() {
  // Compact before growing, so a long session does not keep every byte.
  if (m_pos == m_end) {
    m_pos = m_end = 0;
  } else if (m_pos > (1u << 20)) {
    std::memmove(m_storage.get(), m_storage.get() + m_pos, m_end - m_pos);
    m_end -= m_pos;
    m_pos = 0;
  }
  // Grow only when the free space is short. The space is not cleared: a
  // server that trickles bytes must not make each read cost a whole chunk.
  if (m_capacity - m_end < k_read_chunk / 4) {
    std::size_t capacity = std::max(m_capacity * 2, m_end + k_read_chunk);
    auto storage = std::make_unique_for_overwrite<char[]>(capacity);
    if (m_end > m_pos) {
      std::memcpy(storage.get(), m_storage.get() + m_pos, m_end - m_pos);
    }
    m_end -= m_pos;
    m_pos = 0;
    m_storage = std::move(storage);
    m_capacity = capacity;
  }
  std::size_t n = m_stream->read_some(m_storage.get() + m_end, m_capacity - m_end);
  if (n > 0 && !m_response_start) {
    m_response_start = std::chrono::steady_clock::now();
    m_response_base = m_received;
  }
  m_end += n;
  m_received += n;
  check_progress();
  return n > 0;
}

void ResponseReader::check_progress() {
  const auto grace = m_stream->timeout();
  if (!m_response_start || grace.count() <= 0 || m_limits.min_bytes_per_second == 0) {
    return;
  }
  const std::uint64_t bytes = m_received - m_response_base;
  const auto allowed = grace + std::chrono::milliseconds(static_cast<std::int64_t>(
                                   bytes * 1000 / m_limits.min_bytes_per_second));
  const auto elapsed = std::chrono::steady_clock::now() - *m_response_start;
  if (elapsed <= allowed) {
    return;
  }
  auto whole_seconds = [](auto duration) {
    return std::to_string(std::chrono::duration_cast<std::chrono::seconds>(duration).count());
  };
  throw Error(Scope::Account,
              "timed out reading a response from " + m_stream->peer() + ": only " +
                  std::to_string(bytes) + " bytes arrived in " + whole_seconds(elapsed) +
                  " s, while the account's timeout (" + whole_seconds(grace) + " s) plus 1 s per " +
                  std::to_string(m_limits.min_bytes_per_second) +
                  " bytes allows no more; the server or the link is stalled (check them, or "
                  "raise timeout)");
}

bool literal_marker(std::string_view segment, std::uint64_t& size, std::size_t& marker_offset) {
  if (segment.empty() || segment.back() != '}') {
    return false;
  }
  std::size_t open = segment.rfind('{');
  if (open == std::string_view::npos) {
    return false;
  }
  std::string_view digits = segment.substr(open + 1, segment.size() - open - 2);
  if (!digits.empty() && digits.back() == '+') {
    digits.remove_suffix(1);
  }
  if (digits.empty() || digits.size() > 19) {
    return false;
  }
  std::uint64_t value = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') {
      return false;
    }
    value = value * 10 + static_cast<std::uint64_t>(c - '0');
  }
  size = value;
  marker_offset = (open > 0 && segment[open - 1] == '~') ? open - 1 : open;
  return true;
}

// Reads up to and including the next CRLF; returns the segment without CRLF.
// A bare LF also ends a line: some servers send one, and accepting it costs
// nothing in safety.
std::string ResponseReader::read_line_segment(std::size_t already) {
  // How many bytes after m_pos were searched already; an offset rather than
  // a position, because fill() may move the buffer's contents.
  std::size_t searched = 0;
  for (;;) {
    const char* data = m_storage.get();
    std::size_t unsearched = m_end - m_pos - searched;
    const void* lf =
        unsearched == 0 ? nullptr : std::memchr(data + m_pos + searched, '\n', unsearched);
    if (lf != nullptr) {
      std::size_t end = static_cast<std::size_t>(static_cast<const char*>(lf) - data);
      std::size_t stop = (end > m_pos && data[end - 1] == '\r') ? end - 1 : end;
      std::string segment(data + m_pos, stop - m_pos);
      m_pos = end + 1;
      if (segment.size() > m_limits.max_line || already + segment.size() > m_limits.max_response) {
        throw Error(Scope::Account, "the server sent a response line longer than " +
                                        std::to_string(m_limits.max_line) + " bytes");
      }
      return segment;
    }
    searched = m_end - m_pos;
    if (searched > m_limits.max_line || already + searched > m_limits.max_response) {
      throw Error(Scope::Account, "the server sent a response line longer than " +
                                      std::to_string(m_limits.max_line) +
                                      " bytes without ending it; giving up on the connection");
    }
    if (!fill()) {
      throw Error(Scope::Account, "the server " + m_stream->peer() + " closed the connection" +
                                      (m_pos < m_end ? " in the middle of a response" : ""));
    }
  }
}

void ResponseReader::read_literal_into(std::string& text, std::uint64_t size) {
  std::size_t want = static_cast<std::size_t>(size);
  while (m_end - m_pos < want) {
    if (!fill()) {
      throw Error(Scope::Account,
                  "the server " + m_stream->peer() + " closed the connection inside a literal");
    }
  }
  text.append(m_storage.get() + m_pos, want);
  m_pos += want;
}

void ResponseReader::stream_literal(LiteralSink& sink, std::uint64_t size) {
  std::uint64_t left = size;
  while (left > 0) {
    if (m_pos == m_end && !fill()) {
      throw Error(Scope::Account,
                  "the server " + m_stream->peer() + " closed the connection inside a literal");
    }
    std::size_t available = m_end - m_pos;
    std::size_t take = static_cast<std::size_t>(std::min<std::uint64_t>(left, available));
    sink.write(m_storage.get() + m_pos, take);
    m_pos += take;
    left -= take;
  }
}

RawResponse ResponseReader::read() {
  RawResponse raw;
  // The response starts now if its first bytes are already buffered, or else
  // when they arrive (the wait for them is the stream's to bound).
  m_response_start.reset();
  if (m_pos != m_end) {
    m_response_start = std::chrono::steady_clock::now();
    m_response_base = m_received - (m_end - m_pos);
  }
  for (;;) {
    std::string segment = read_line_segment(raw.text.size());
    std::uint64_t size = 0;
    std::size_t marker = 0;
    bool has_literal = literal_marker(segment, size, marker);
    std::size_t base = raw.text.size();
    raw.text += segment;
    if (!has_literal) {
      return raw;
    }
    if (raw.streamed.size() + 1 > m_limits.max_literals) {
      throw Error(Scope::Account, "the server sent more than " +
                                      std::to_string(m_limits.max_literals) +
                                      " literals in one response");
    }
    raw.text += "\r\n";
    LiteralSink* sink =
        m_router ? m_router(raw.text.substr(0, raw.text.size() - 2), size) : nullptr;
    if (sink != nullptr) {
      if (size > m_limits.max_streamed_literal) {
        throw Error(Scope::Account, "the server announced a " + std::to_string(size) +
                                        "-byte message, over the limit of " +
                                        std::to_string(m_limits.max_streamed_literal) +
                                        " bytes (raise max_message_size if this is real)");
      }
      raw.streamed.push_back({base + marker, size});
      stream_literal(*sink, size);
    } else {
      if (size > m_limits.max_inline_literal) {
        throw Error(Scope::Account, "the server announced a " + std::to_string(size) +
                                        "-byte literal where at most " +
                                        std::to_string(m_limits.max_inline_literal) +
                                        " bytes are expected");
      }
      if (raw.text.size() + size > m_limits.max_response) {
        throw Error(Scope::Account, "the server sent a response larger than " +
                                        std::to_string(m_limits.max_response) + " bytes");
      }
      read_literal_into(raw.text, size);
    }
  }
}

}  // namespace roam::imap
