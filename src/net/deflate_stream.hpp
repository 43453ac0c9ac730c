#pragma once

// A Stream that compresses what is written and decompresses what is read
// (IMAP COMPRESS=DEFLATE, RFC 4978): raw deflate (no zlib or gzip header,
// RFC 4978 §4) in each direction over another Stream, which it owns.
//
// Every write_all ends with a sync flush, so each command reaches the
// server whole and the server never waits for the rest of a block that
// roam has no reason to send yet (DONE after IDLE, the next command after
// a tagged reply).
//
// Nothing the server sends is trusted: read_some inflates straight into
// the caller's buffer, so a small input that expands a thousandfold (a
// decompression bomb) costs no more memory than the caller's buffer, and
// the compressed input waits in a buffer of fixed size. Data that does not
// inflate, a server stream that ends inside a block or goes on after its
// end, and compressed bytes that carry no content for a whole timeout are
// util::Error(Scope::Account) naming the peer; the stream is then unusable,
// as stream.hpp requires of every error.

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "net/stream.hpp"

namespace roam::net {

class DeflateStream final : public Stream {
 public:
  // Compresses over `inner`. `initial` is compressed data already read
  // from `inner` (the bytes a reader had buffered after the server's OK to
  // COMPRESS); it is inflated before anything else. `inner` is taken only
  // once the compressors are ready, so when the constructor throws
  // (Scope::Account: zlib could not allocate), the caller still has it.
  DeflateStream(std::unique_ptr<Stream>&& inner, std::string_view initial = {});
  ~DeflateStream() override;
  DeflateStream(const DeflateStream&) = delete;
  DeflateStream& operator=(const DeflateStream&) = delete;

  std::size_t read_some(char* buf, std::size_t len) override;
  void write_all(std::string_view data) override;
  // TLS under compression is never right (RFC 4978 §4: STARTTLS comes
  // first), so this is an internal error: util::Error(Scope::Fatal).
  void start_tls(const TlsOptions& options) override;
  bool is_tls() const override;
  std::string peer() const override;
  // The inner stream's description, with ", COMPRESS=DEFLATE".
  std::string security() const override;
  std::chrono::milliseconds timeout() const override;
  // Data at once when inflating the input at hand yields a byte (it is
  // kept for the next read_some); otherwise the inner stream waits, since
  // compressed input that yields nothing (a sync flush marker) is no data.
  Ready wait_readable(std::chrono::milliseconds max, int wake_fd) override;

 private:
  struct Zlib;

  void check_usable() const;
  // Marks the stream unusable and throws util::Error(Scope::Account).
  [[noreturn]] void fail(const std::string& what);
  // Inflates the buffered input into [buf, buf + len); returns the bytes
  // produced. Throws (through fail) on corrupt data.
  std::size_t inflate_into(char* buf, std::size_t len);
  // Reads compressed input from the inner stream into the (empty) input
  // buffer; false when the inner stream has ended.
  bool fill_input();
  // The inner stream closed: 0 for a stream that stopped at a block
  // boundary, an error for one cut off inside a block.
  std::size_t end_of_input();

  std::unique_ptr<Zlib> m_z;
  std::unique_ptr<Stream> m_inner;
  // Compressed input read but not yet inflated: [m_in_pos, m_in_end).
  std::unique_ptr<char[]> m_in;
  std::size_t m_in_capacity = 0;
  std::size_t m_in_pos = 0;
  std::size_t m_in_end = 0;
  // The last inflate filled its output, so zlib may hold more output even
  // with no input left.
  bool m_output_pending = false;
  // A byte that wait_readable inflated to find out whether there was data;
  // read_some hands it out first.
  char m_peeked = 0;
  bool m_has_peeked = false;
  // The server ended its deflate stream (a final block); only the end of
  // the connection may follow.
  bool m_finished = false;
  // Whether the input inflated so far ends at a block boundary, where a
  // sync flush leaves it: a connection that closes there lost nothing.
  bool m_at_boundary = true;
  // The inner stream reported its end (to wait_readable or read_some).
  bool m_inner_ended = false;
  bool m_broken = false;
};

}  // namespace roam::net
