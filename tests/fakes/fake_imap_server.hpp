#pragma once

// A scripted IMAP server on 127.0.0.1 for tests that drive the real roam
// binary against a server that misbehaves on purpose (hostile_test.cpp,
// tls_test.cpp). It runs in a thread of the test process, accepts exactly one
// connection and plays a script: expect a client command, send bytes, stall,
// flood, close. A real Dovecot cannot be made to lie, and a scripted
// net::Stream (scripted_stream.hpp) cannot test the binary as users run it;
// this sits between the two.
//
// Client lines are matched without their tag, against a glob pattern that is
// compared ASCII case-insensitively ("LOGIN *", "UID FETCH 1:* (UID FLAGS)").
// In server text, "$TAG" stands for the tag of the last client line matched,
// so replies work whatever tags the client chooses. A line the script does
// not expect is recorded as an error, answered with a tagged BAD and the
// connection is closed: the client then fails, and the test sees why.
//
// With TLS options the server speaks implicit TLS from the first byte, with
// the given certificate and key (PEM files).

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace roam::fakes {

struct ImapStep {
  enum class Kind {
    Expect,      // Read one client command; the text after its tag must match `pattern`.
    ExpectLine,  // Read one untagged client line (a SASL response); all of it must match.
    Send,        // Write `data` ("$TAG" replaced).
    Stall,       // Send nothing more; wait until the client closes.
    Flood,       // Write `count` copies of `data` without a line end.
    Trickle,     // Write `data` one byte at a time, `interval` apart.
    Close,       // Close the connection.
  };
  Kind kind = Kind::Send;
  std::string pattern;
  std::string data;
  std::size_t count = 0;
  std::chrono::milliseconds interval{0};
};

// Script builders: expect("LOGIN *"), send("$TAG OK done\r\n").
ImapStep expect(std::string_view pattern);
// A client line without a tag of its own, such as the answer to a "+"
// continuation; "$TAG" keeps referring to the command it belongs to.
ImapStep expect_line(std::string_view pattern);
ImapStep send(std::string_view data);
ImapStep stall();
ImapStep flood(std::string_view data, std::size_t count);
ImapStep close_connection();
// A server that is alive but hardly sends: one byte of `data` (no "$TAG"
// replacement) every `interval`, until it is all sent or the client hangs up.
ImapStep trickle(std::string_view data, std::chrono::milliseconds interval);

// expect(pattern) followed by send(reply), the common case.
std::vector<ImapStep> on(std::string_view pattern, std::string_view reply);

// Concatenates script pieces.
std::vector<ImapStep> script(std::initializer_list<std::vector<ImapStep>> parts);

// True if `text` matches the glob `pattern` ('*' any run, '?' one
// character), compared ASCII case-insensitively.
bool glob_match(std::string_view pattern, std::string_view text);

struct FakeTls {
  std::string cert_file;
  std::string key_file;
};

class FakeImapServer {
 public:
  // Listens on 127.0.0.1 (a free port) and starts playing `steps` for the
  // first client that connects.
  explicit FakeImapServer(std::vector<ImapStep> steps, std::optional<FakeTls> tls = std::nullopt);
  // Unblocks the thread (shutting the sockets down) and joins it.
  ~FakeImapServer();
  FakeImapServer(const FakeImapServer&) = delete;
  FakeImapServer& operator=(const FakeImapServer&) = delete;

  std::uint16_t port() const { return m_port; }

  // Waits until the session is over (the script ended, the client closed, or
  // an error); false if it is still running after `timeout`.
  bool wait_done(std::chrono::milliseconds timeout) const;

  // Every line the client sent, CRLF removed, in order.
  std::vector<std::string> client_lines() const;
  // Every client line, joined with "\n", for failure messages.
  std::string transcript() const;
  // True if some client line's command (the word after the tag, or the two
  // words "UID X") equals `command`, ASCII case-insensitively.
  bool received(std::string_view command) const;
  // Script mismatches and I/O failures seen by the server.
  std::vector<std::string> errors() const;
  // True once every step was played.
  bool finished() const { return m_finished.load(); }

 private:
  void run();
  void play(int fd, void* ssl);
  void record_error(std::string message);

  std::vector<ImapStep> m_steps;
  std::optional<FakeTls> m_tls;
  int m_listen_fd = -1;
  std::atomic<int> m_conn_fd{-1};
  std::uint16_t m_port = 0;
  std::atomic<bool> m_stop{false};
  std::atomic<bool> m_done{false};
  std::atomic<bool> m_finished{false};
  mutable std::mutex m_mutex;
  std::vector<std::string> m_lines;
  std::vector<std::string> m_errors;
  std::thread m_thread;
};

}  // namespace roam::fakes
