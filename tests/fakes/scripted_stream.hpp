#pragma once

// A net::Stream that plays a transcript, for protocol tests without a
// network. A transcript is a list of steps: what the client must write
// ("C:") and what the server answers ("S:"). The stream fails the test on
// the first byte the client writes that the script did not expect, and
// throws (like a closed connection) when the client reads past the script.
//
// Server data can be handed out in small pieces (`chunk`), so that tests
// also cover responses split at every possible boundary.

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "net/stream.hpp"

namespace roam::fakes {

struct Step {
  enum class Kind { Client, Server, Close, Wake };
  Kind kind;
  std::string data;
};

// Builds transcripts readably: C("a1 LOGIN ...\r\n"), S("a1 OK\r\n").
inline Step C(std::string_view data) {
  return {Step::Kind::Client, std::string(data)};
}
inline Step S(std::string_view data) {
  return {Step::Kind::Server, std::string(data)};
}
inline Step Close() {
  return {Step::Kind::Close, {}};
}
// The caller's wake descriptor becomes readable while the client waits in
// wait_readable() (IDLE): a local change, a signal, a shutdown.
inline Step Wake() {
  return {Step::Kind::Wake, {}};
}

class ScriptedStream : public net::Stream {
 public:
  explicit ScriptedStream(std::vector<Step> steps, std::size_t chunk = 0);

  std::size_t read_some(char* buf, std::size_t len) override;
  void write_all(std::string_view data) override;
  void start_tls(const net::TlsOptions& options) override;
  bool is_tls() const override { return m_tls; }
  std::string peer() const override { return "scripted:143"; }
  std::string security() const override { return m_tls ? "scripted-tls" : "plaintext"; }
  // Data when the server speaks next (or the script ends: the read then
  // fails as a closed connection), Woken at a Wake() step, and TimedOut when
  // the script expects the client to write next: the server stays silent.
  Ready wait_readable(std::chrono::milliseconds max, int wake_fd) override;
  // How many times wait_readable() was called.
  int waits() const { return m_waits; }

  // True when every step was played.
  bool finished() const;
  // What the client wrote so far, for assertions.
  const std::string& written() const { return m_written; }
  // How many times start_tls() was called.
  int tls_starts() const { return m_tls_starts; }

 private:
  void consume_client_steps();

  std::vector<Step> m_steps;
  std::size_t m_chunk;
  std::size_t m_index = 0;
  std::size_t m_offset = 0;  // Within the current step.
  std::string m_written;
  std::string m_unmatched;  // Client bytes not yet matched against a C step.
  bool m_tls = false;
  int m_tls_starts = 0;
  int m_waits = 0;
};

}  // namespace roam::fakes
