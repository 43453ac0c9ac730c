#include "fakes/deflate_peer.hpp"

#include <gtest/gtest.h>

#include <stdexcept>

#include "util/error.hpp"

namespace roam::fakes {

namespace {

// Raw deflate, as RFC 4978 §4 requires.
constexpr int k_raw_window_bits = -15;

Bytef* in_bytes(std::string_view data) {
  return reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
}

}  // namespace

Deflater::Deflater() {
  if (::deflateInit2(&m_z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, k_raw_window_bits, 8,
                     Z_DEFAULT_STRATEGY) != Z_OK) {
    throw std::runtime_error("deflateInit2 failed");
  }
}

Deflater::~Deflater() {
  ::deflateEnd(&m_z);
}

std::string Deflater::operator()(std::string_view plain) {
  return run(plain, Z_SYNC_FLUSH);
}

std::string Deflater::finish(std::string_view plain) {
  return run(plain, Z_FINISH);
}

std::string Deflater::run(std::string_view plain, int flush) {
  std::string out;
  char buf[16384];
  m_z.next_in = in_bytes(plain);
  m_z.avail_in = static_cast<uInt>(plain.size());
  do {
    m_z.next_out = reinterpret_cast<Bytef*>(buf);
    m_z.avail_out = sizeof buf;
    const int rc = ::deflate(&m_z, flush);
    if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR) {
      throw std::runtime_error("deflate failed");
    }
    out.append(buf, sizeof buf - m_z.avail_out);
  } while (m_z.avail_out == 0);
  return out;
}

Inflater::Inflater() {
  if (::inflateInit2(&m_z, k_raw_window_bits) != Z_OK) {
    throw std::runtime_error("inflateInit2 failed");
  }
}

Inflater::~Inflater() {
  ::inflateEnd(&m_z);
}

std::string Inflater::operator()(std::string_view compressed) {
  std::string out;
  char buf[16384];
  m_z.next_in = in_bytes(compressed);
  m_z.avail_in = static_cast<uInt>(compressed.size());
  do {
    m_z.next_out = reinterpret_cast<Bytef*>(buf);
    m_z.avail_out = sizeof buf;
    const int rc = ::inflate(&m_z, Z_SYNC_FLUSH);
    if (rc != Z_OK && rc != Z_BUF_ERROR) {
      ADD_FAILURE() << "the client's compressed data does not inflate: zlib error " << rc;
      throw util::Error(util::Scope::Account, "scripted stream: corrupt compressed data");
    }
    out.append(buf, sizeof buf - m_z.avail_out);
  } while (m_z.avail_out == 0 || m_z.avail_in > 0);
  return out;
}

CompressedScriptedStream::CompressedScriptedStream(std::vector<Step> steps, std::size_t chunk,
                                                   Compressed when)
    : ScriptedStream(std::move(steps), chunk), m_compressing(when == Compressed::FromStart) {}

void CompressedScriptedStream::write_all(std::string_view data) {
  m_wire += data;
  if (m_compressing) {
    ScriptedStream::write_all(m_inflate(data));
    return;
  }
  ScriptedStream::write_all(data);
  m_compressing = data.ends_with("COMPRESS DEFLATE\r\n");
}

}  // namespace roam::fakes
