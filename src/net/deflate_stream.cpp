// net::DeflateStream: COMPRESS=DEFLATE (RFC 4978) as a Stream over another
// Stream, with zlib's raw deflate in both directions.

#include "net/deflate_stream.hpp"

#include <zlib.h>

#include <algorithm>
#include <climits>
#include <cstring>
#include <memory>
#include <string>
#include <utility>

#include "net/tls_stream.hpp"
#include "util/error.hpp"
#include "util/log.hpp"

namespace roam::net {

using util::Error;
using util::Scope;

namespace {

// The compressed input waiting to be inflated. Its size bounds how much of
// the server's data is read ahead, not what it may expand to: output goes
// straight into the caller's buffer.
constexpr std::size_t k_input_buffer = 64u << 10;
// Where compressed commands are collected before they go to the inner
// stream; a command larger than this (an APPEND literal) goes in parts.
constexpr std::size_t k_output_buffer = 64u << 10;
// The most input handed to zlib in one call, whose counters are 32-bit.
constexpr std::size_t k_max_zlib_part = 1u << 30;
// Negative window bits select raw deflate, without the zlib header and
// trailer (RFC 4978 §4); 15 is the largest window, which the RFC's peer
// may use, so the inflater must accept it.
constexpr int k_raw_window_bits = -15;
// zlib's default for memLevel (deflateInit uses it, deflateInit2 needs it).
constexpr int k_mem_level = 8;

Bytef* bytes(char* p) {
  return reinterpret_cast<Bytef*>(p);
}

}  // namespace

// Both z_streams, kept out of the header so that only this file sees zlib.
struct DeflateStream::Zlib {
  z_stream deflater{};
  z_stream inflater{};
  bool deflater_ready = false;
  bool inflater_ready = false;
  std::unique_ptr<char[]> out = std::make_unique_for_overwrite<char[]>(k_output_buffer);

  explicit Zlib(const std::string& peer) {
    if (::deflateInit2(&deflater, Z_DEFAULT_COMPRESSION, Z_DEFLATED, k_raw_window_bits, k_mem_level,
                       Z_DEFAULT_STRATEGY) != Z_OK) {
      throw Error(Scope::Account, "cannot start compression for " + peer + ": zlib out of memory");
    }
    deflater_ready = true;
    if (::inflateInit2(&inflater, k_raw_window_bits) != Z_OK) {
      ::deflateEnd(&deflater);
      throw Error(Scope::Account,
                  "cannot start decompression for " + peer + ": zlib out of memory");
    }
    inflater_ready = true;
  }
  Zlib(const Zlib&) = delete;
  Zlib& operator=(const Zlib&) = delete;
  ~Zlib() {
    if (deflater_ready) {
      ::deflateEnd(&deflater);
    }
    if (inflater_ready) {
      ::inflateEnd(&inflater);
    }
  }
};

DeflateStream::DeflateStream(std::unique_ptr<Stream>&& inner, std::string_view initial)
    : m_z(std::make_unique<Zlib>(inner->peer())),
      m_inner(std::move(inner)),
      m_in_capacity(std::max(k_input_buffer, initial.size())) {
  // Bytes that arrived with the server's OK are the start of its compressed
  // stream (RFC 4978 §3), not an injection as they would be after STARTTLS.
  // They were in memory already, so room for them costs nothing new.
  m_in = std::make_unique_for_overwrite<char[]>(m_in_capacity);
  if (!initial.empty()) {
    std::memcpy(m_in.get(), initial.data(), initial.size());
    m_in_end = initial.size();
    m_at_boundary = false;
  }
}

DeflateStream::~DeflateStream() {
  ROAM_DEBUG(util::k_cat_net, "compression on " << m_inner->peer() << ": sent "
                                                << m_z->deflater.total_in << " bytes as "
                                                << m_z->deflater.total_out << ", received "
                                                << m_z->inflater.total_out << " bytes as "
                                                << m_z->inflater.total_in);
}

void DeflateStream::check_usable() const {
  if (m_broken) {
    throw Error(Scope::Account,
                "the connection to " + m_inner->peer() + " is unusable after an earlier error");
  }
}

void DeflateStream::fail(const std::string& what) {
  m_broken = true;
  throw Error(Scope::Account, "the server " + m_inner->peer() + " " + what);
}

std::size_t DeflateStream::inflate_into(char* buf, std::size_t len) {
  z_stream& z = m_z->inflater;
  const auto available = static_cast<uInt>(m_in_end - m_in_pos);
  if (m_finished) {
    if (available > 0) {
      fail("sent data after the end of its compressed stream");
    }
    return 0;
  }
  const auto room = static_cast<uInt>(std::min<std::size_t>(len, UINT_MAX));
  z.next_in = bytes(m_in.get() + m_in_pos);
  z.avail_in = available;
  z.next_out = bytes(buf);
  z.avail_out = room;
  const int rc = ::inflate(&z, Z_SYNC_FLUSH);
  const std::size_t consumed = available - z.avail_in;
  m_in_pos += consumed;
  if (consumed > 0) {
    // zlib sets bit 128 of data_type when inflate stopped at a block
    // boundary. A call without input may not say so even there (it
    // skips a check when it resumes), so only calls that took input count.
    m_at_boundary = (z.data_type & 128) != 0;
  }
  if (m_in_pos == m_in_end) {
    m_in_pos = m_in_end = 0;
  }
  const std::size_t produced = room - z.avail_out;
  m_output_pending = z.avail_out == 0;
  switch (rc) {
    case Z_OK:
    case Z_BUF_ERROR:  // No progress: more input is needed.
      break;
    case Z_STREAM_END:
      // RFC 4978 keeps compression on until the connection closes; a
      // server that ends the stream anyway (as some do when they log out)
      // may only close the connection next.
      m_finished = true;
      m_output_pending = false;
      if (m_in_pos != m_in_end) {
        fail("sent data after the end of its compressed stream");
      }
      break;
    default:
      fail("sent compressed data that does not inflate (" +
           std::string(z.msg != nullptr ? z.msg : "zlib error " + std::to_string(rc)) +
           "); the connection cannot go on");
  }
  return produced;
}

bool DeflateStream::fill_input() {
  if (m_inner_ended) {
    return false;
  }
  const std::size_t n = m_inner->read_some(m_in.get(), m_in_capacity);
  if (n == 0) {
    m_inner_ended = true;
    return false;
  }
  m_in_pos = 0;
  m_in_end = n;
  return true;
}

std::size_t DeflateStream::end_of_input() {
  if (m_finished || m_at_boundary) {
    return 0;
  }
  fail("closed the connection in the middle of compressed data");
}

std::size_t DeflateStream::read_some(char* buf, std::size_t len) {
  check_usable();
  if (len == 0) {
    throw Error(Scope::Fatal,
                "internal error: read_some from " + m_inner->peer() + " with no buffer");
  }
  try {
    std::size_t produced = 0;
    if (m_has_peeked) {
      buf[0] = m_peeked;
      m_has_peeked = false;
      produced = 1;
    }
    // Compressed input that inflates to nothing (empty blocks, flush
    // markers) is silence: sent slowly enough, it must not hold this read
    // longer than the timeout holds a silent one.
    const auto timeout = m_inner->timeout();
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      if (produced < len && (m_in_pos != m_in_end || m_output_pending)) {
        produced += inflate_into(buf + produced, len - produced);
      }
      // Once there is something for the caller, the inner stream is not
      // read: that could block with data in hand.
      if (produced > 0) {
        return produced;
      }
      if (timeout.count() > 0 && std::chrono::steady_clock::now() > deadline) {
        fail("sent compressed data without content for longer than the timeout (" +
             detail::format_seconds(timeout) + ")");
      }
      if (!fill_input()) {
        return end_of_input();
      }
    }
  } catch (...) {
    m_broken = true;
    throw;
  }
}

void DeflateStream::write_all(std::string_view data) {
  check_usable();
  if (data.empty()) {
    return;
  }
  try {
    z_stream& z = m_z->deflater;
    while (!data.empty()) {
      const std::size_t part = std::min(data.size(), k_max_zlib_part);
      // zlib never writes through next_in; its type only lacks the const.
      z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
      z.avail_in = static_cast<uInt>(part);
      data.remove_prefix(part);
      // The sync flush ends each write on a byte boundary, so the server
      // can inflate the whole command now rather than when more follows.
      const int flush = data.empty() ? Z_SYNC_FLUSH : Z_NO_FLUSH;
      do {
        z.next_out = bytes(m_z->out.get());
        z.avail_out = static_cast<uInt>(k_output_buffer);
        const int rc = ::deflate(&z, flush);
        if (rc != Z_OK && rc != Z_BUF_ERROR) {
          throw Error(Scope::Fatal, "internal error: deflate for " + m_inner->peer() +
                                        " failed with zlib error " + std::to_string(rc));
        }
        const std::size_t n = k_output_buffer - z.avail_out;
        if (n > 0) {
          m_inner->write_all(std::string_view(m_z->out.get(), n));
        }
        // zlib asks to be called again while it fills the whole buffer.
      } while (z.avail_out == 0);
    }
  } catch (...) {
    m_broken = true;
    throw;
  }
}

void DeflateStream::start_tls(const TlsOptions&) {
  throw Error(Scope::Fatal,
              "internal error: start_tls on " + m_inner->peer() + ", which is compressed");
}

bool DeflateStream::is_tls() const {
  return m_inner->is_tls();
}

std::string DeflateStream::peer() const {
  return m_inner->peer();
}

std::string DeflateStream::security() const {
  return m_inner->security() + ", COMPRESS=DEFLATE";
}

std::chrono::milliseconds DeflateStream::timeout() const {
  return m_inner->timeout();
}

Stream::Ready DeflateStream::wait_readable(std::chrono::milliseconds max, int wake_fd) {
  check_usable();
  try {
    if (m_has_peeked || (m_finished && m_in_pos != m_in_end)) {
      return Ready::Data;
    }
    // The inflater may hold output, or input that yields some, which the
    // socket will never show again. Whether it yields a byte is found out
    // by inflating one: input that inflates to nothing (a flush marker
    // that came apart from its data) must not count as data, or IDLE would
    // read and block on a server that said nothing.
    const auto deadline = std::chrono::steady_clock::now() + max;
    for (;;) {
      if (m_in_pos != m_in_end || m_output_pending) {
        char byte = 0;
        if (inflate_into(&byte, 1) == 1) {
          m_peeked = byte;
          m_has_peeked = true;
          return Ready::Data;
        }
      }
      if (m_inner_ended) {
        return Ready::Data;  // The read reports the end.
      }
      const auto left =
          std::chrono::ceil<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      const Ready ready =
          m_inner->wait_readable(std::max(left, std::chrono::milliseconds(0)), wake_fd);
      if (ready != Ready::Data) {
        return ready;
      }
      // The inner stream has bytes, so this read does not wait long.
      if (!fill_input()) {
        return Ready::Data;
      }
    }
  } catch (...) {
    m_broken = true;
    throw;
  }
}

}  // namespace roam::net
