#pragma once

// An IMAP client session over a net::Stream (RFC 3501 / RFC 9051 with the
// extensions roam uses). It is synchronous: each call sends its commands and
// reads until their tagged completions arrive. Calls that touch many messages
// pipeline their commands (a bounded number in flight, matched by tag), so
// the cost of a round trip is paid once per window rather than per command.
//
// Untagged responses are applied to the session (capabilities, EXISTS,
// EXPUNGE) and handed to the running call; response codes are read only
// where the RFCs put them (APPENDUID only on APPEND's tagged OK, and so on),
// so a code out of place is ignored, never acted on.
//
// Message bodies never pass through memory: fetch_bodies() asks the caller
// for a LiteralSink per message and the reader streams the octets into it.

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "imap/reader.hpp"
#include "imap/response.hpp"
#include "net/stream.hpp"
#include "util/error.hpp"

namespace roam::imap {

struct ClientOptions {
  ReaderLimits limits;
  // Commands in flight at once during pipelined calls.
  std::size_t pipeline_depth = 8;
  // Messages per UID FETCH command when fetching bodies.
  std::size_t fetch_batch = 64;
};

// The server's capabilities, upper-cased.
class Capabilities {
 public:
  Capabilities() = default;
  explicit Capabilities(const std::vector<std::string>& list);
  bool has(std::string_view capability) const;
  bool empty() const { return m_set.empty(); }
  std::string to_string() const;

 private:
  std::set<std::string, std::less<>> m_set;
};

// What SELECT/EXAMINE told us about a mailbox.
struct MailboxInfo {
  std::uint32_t uidvalidity = 0;
  std::uint32_t uidnext = 0;  // 0 when the server did not say.
  std::uint32_t exists = 0;
  ModSeq highestmodseq = 0;  // 0 with NOMODSEQ or without CONDSTORE.
  bool read_only = false;
  std::vector<std::string> permanent_flags;
};

// One message's UID and flags from a flag listing.
struct MessageFlags {
  Uid uid = 0;
  std::vector<std::string> flags;
  ModSeq modseq = 0;
};

// A mailbox from LIST, with its STATUS when the server returned one
// (LIST-STATUS, RFC 5819).
struct ListedMailbox {
  ListData list;
  std::optional<StatusData> status;
};

enum class OpenMode { Examine, Select };

// A failed command: a tagged NO or BAD. Its scope is Folder: the mailbox is
// skipped, the session goes on.
class CommandFailed : public util::Error {
 public:
  CommandFailed(const std::string& command, const StatusResponse& response);
  const StatusResponse& response() const { return m_response; }

 private:
  StatusResponse m_response;
};

class Client {
 public:
  Client(std::unique_ptr<net::Stream> stream, ClientOptions options = {});
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Reads the greeting. Returns true when the server greeted with PREAUTH.
  // A BYE greeting throws util::Error(Scope::Account) with the server's text.
  bool read_greeting();

  // The capabilities as last announced (greeting, CAPABILITY, or a tagged
  // OK's [CAPABILITY] code). Asks the server if nothing is known yet.
  const Capabilities& capabilities();
  void refresh_capabilities();

  // STARTTLS (RFC 3501 §6.2.1). Mandatory once called: a missing capability,
  // a NO/BAD or a failed handshake throws util::Error(Scope::Account) and the
  // connection is unusable. Bytes the server sent after its OK are refused.
  void starttls(const net::TlsOptions& options);

  // Authenticates with AUTHENTICATE PLAIN (SASL-IR when offered) or LOGIN.
  // Credentials never appear in the debug trace.
  void login(const std::string& user, const std::string& password);

  // ENABLE (RFC 5161); returns what the server enabled.
  std::vector<std::string> enable(const std::vector<std::string>& extensions);

  // LIST "" "*", with SPECIAL-USE attributes and STATUS items when the server
  // offers them. Mailbox names are returned as sent (modified UTF-7).
  std::vector<ListedMailbox> list(const std::vector<std::string>& status_items = {});

  // SELECT or EXAMINE `mailbox` (wire name), with CONDSTORE when offered.
  MailboxInfo open(const std::string& mailbox, OpenMode mode);

  // UID FETCH 1:* (UID FLAGS), or only messages changed since `changedsince`
  // when it is non-zero (CONDSTORE).
  std::vector<MessageFlags> fetch_flags(ModSeq changedsince = 0);

  // Fetches the bodies of `uids` (with UID, FLAGS and INTERNALDATE),
  // pipelined. For each message, `sink_for` is called when its body literal
  // begins (the caller returns where to stream it), then `done` when its
  // response is complete. A UID the server does not answer for was expunged
  // meanwhile; it is simply never reported. `after_batch` runs each time a
  // FETCH command completes, for progress and batched fsync.
  void fetch_bodies(const std::vector<Uid>& uids, const std::function<LiteralSink*()>& sink_for,
                    const std::function<void(const FetchData&)>& done,
                    const std::function<void()>& after_batch = {});

  // LOGOUT, tolerating a server that closes at once.
  void logout();

  // The session's security, for messages.
  std::string security() const { return m_stream->security(); }
  std::string peer() const { return m_stream->peer(); }
  std::uint64_t bytes_received() const { return m_reader.bytes_received(); }

  // --- Low level, for the calls above and for tests ---

  // Sends one command (without tag and CRLF) and returns its tag. With
  // Redact::Yes the debug trace shows only the command name.
  enum class Redact { No, Yes };
  std::string send(std::string_view command, Redact redact = Redact::No);

  // Reads until the tagged response for `tag`; every untagged response is
  // applied to the session, then given to `on_untagged`. Tagged responses for
  // other pipelined commands are kept for their own wait(). Throws
  // CommandFailed on NO/BAD.
  using UntaggedHandler = std::function<void(const Response&)>;
  StatusResponse wait(const std::string& tag, std::string_view command,
                      const UntaggedHandler& on_untagged = {});

  // send() and wait() in one.
  StatusResponse run(std::string_view command, const UntaggedHandler& on_untagged = {},
                     Redact redact = Redact::No);

 private:
  Response read_response();
  void apply(const Response& response);

  std::unique_ptr<net::Stream> m_stream;
  ClientOptions m_options;
  ResponseReader m_reader;
  Capabilities m_caps;
  bool m_caps_known = false;
  std::uint64_t m_next_tag = 1;
  std::map<std::string, StatusResponse> m_completed;  // Tagged responses not yet waited for.
  std::uint32_t m_exists = 0;
  std::function<LiteralSink*()> m_body_sink;  // Set during fetch_bodies().
};

// True if `text` (a response up to a literal marker) announces the body of
// a FETCH: "... BODY[] {n}" or "... BINARY[] ~{n}". Exposed for tests.
bool announces_body(std::string_view text);

}  // namespace roam::imap
