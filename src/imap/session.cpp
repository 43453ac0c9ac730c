// imap::Client, the session: construction, greeting, capabilities,
// STARTTLS, COMPRESS, sending commands and reading until their tagged completions,
// pipelining, the connection contract (client.hpp) and LOGOUT.

#include "imap/client.hpp"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <exception>
#include <optional>
#include <string>
#include <variant>

#include "imap/client_internal.hpp"
#include "imap/parse_error.hpp"
#include "imap/parser.hpp"
#include "net/deflate_stream.hpp"
#include "util/error.hpp"
#include "util/log.hpp"

namespace roam::imap {

using util::Error;
using util::Scope;

namespace detail {

std::string upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  }
  return out;
}

// The command name for messages and the redacted trace: "LOGIN", "UID FETCH".
std::string command_name(std::string_view command) {
  std::size_t space = command.find(' ');
  std::string name(command.substr(0, space));
  if (upper(name) == "UID" && space != std::string_view::npos) {
    std::size_t next = command.find(' ', space + 1);
    name = std::string(command.substr(0, next));
  }
  return name;
}

std::string describe(const StatusResponse& r) {
  std::string out;
  switch (r.status) {
    case StatusResponse::Status::Ok:
      out = "OK";
      break;
    case StatusResponse::Status::No:
      out = "NO";
      break;
    case StatusResponse::Status::Bad:
      out = "BAD";
      break;
    case StatusResponse::Status::Preauth:
      out = "PREAUTH";
      break;
    case StatusResponse::Status::Bye:
      out = "BYE";
      break;
  }
  if (r.code) {
    out += " [" + r.code->name + "]";
  }
  if (!r.text.empty()) {
    out += " " + r.text;
  }
  return out;
}

// Sorted, deduplicated copy of `uids`; UID 0 does not exist (RFC 3501
// §2.3.1.1), so one here is a caller's placeholder that must not be sent.
std::vector<Uid> sorted_uids(const std::vector<Uid>& uids) {
  std::vector<Uid> out(uids);
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  if (!out.empty() && out.front() == 0) {
    throw Error(Scope::Folder, "refusing to send UID 0 to the server: it is not a real UID");
  }
  return out;
}

}  // namespace detail

using detail::command_name;
using detail::describe;
using detail::sorted_uids;
using detail::upper;

namespace {

// A printable, bounded rendering of server text for the trace.
std::string trace_text(const RawResponse& raw) {
  std::string out;
  std::size_t limit = std::min<std::size_t>(raw.text.size(), 400);
  for (std::size_t i = 0; i < limit; ++i) {
    unsigned char c = static_cast<unsigned char>(raw.text[i]);
    if (c == '\r') {
      out += "\\r";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c < 0x20 || c == 0x7f) {
      out += '?';
    } else {
      out += static_cast<char>(c);
    }
  }
  if (raw.text.size() > limit) {
    out += "... (" + std::to_string(raw.text.size()) + " bytes)";
  }
  return out;
}

// Room in a command line for the tag ("r" and up to 20 digits), its space
// and the final CRLF.
constexpr std::size_t k_tag_and_crlf = 24;

// A sink error that concerns only the local side (the Maildir's tmp/ is
// unwritable, the disk is full): the server and the session are fine.
bool is_local(const util::Error& e) {
  return e.scope() == Scope::Message || e.scope() == Scope::Folder;
}

// The message of the exception being handled; only valid inside a handler.
std::string current_message() {
  try {
    throw;
  } catch (const std::exception& e) {
    return e.what();
  } catch (...) {
    return "an unknown error";
  }
}

}  // namespace

// --- Capabilities ---

Capabilities::Capabilities(const std::vector<std::string>& list) {
  for (const auto& c : list) {
    m_set.insert(upper(c));
  }
}

bool Capabilities::has(std::string_view capability) const {
  return m_set.find(upper(capability)) != m_set.end();
}

std::vector<std::string> Capabilities::sasl_mechanisms() const {
  std::vector<std::string> out;
  for (const auto& c : m_set) {
    if (c.starts_with("AUTH=") && c.size() > 5) {
      out.push_back(c.substr(5));
    }
  }
  return out;
}

std::string Capabilities::to_string() const {
  std::string out;
  for (const auto& c : m_set) {
    if (!out.empty()) {
      out += ' ';
    }
    out += c;
  }
  return out;
}

CommandFailed::CommandFailed(const std::string& command, const StatusResponse& response)
    : util::Error(Scope::Folder, "the server refused " + command + ": " + describe(response)),
      m_response(response) {}

CommandFailed::CommandFailed(Scope scope, const std::string& message,
                             const StatusResponse& response)
    : util::Error(scope, message), m_response(response) {}

bool announces_body(std::string_view text) {
  std::uint64_t size = 0;
  std::size_t marker = 0;
  if (!literal_marker(text, size, marker)) {
    return false;
  }
  std::string_view before = text.substr(0, marker);
  if (!before.empty() && before.back() == ' ') {
    before.remove_suffix(1);
  }
  std::string tail = upper(before.substr(before.size() >= 9 ? before.size() - 9 : 0));
  return tail.ends_with("BODY[]") || tail.ends_with("BINARY[]") || tail.ends_with(" RFC822");
}

// --- Client ---

Client::Client(std::unique_ptr<net::Stream> stream, ClientOptions options)
    : m_stream(std::move(stream)), m_options(options), m_reader(*m_stream, m_options.limits) {
  m_reader.set_literal_router(
      [this](std::string_view text, std::uint64_t) { return route_literal(text); });
}

Client::~Client() = default;

void Client::ensure_usable() const {
  if (!m_broken.empty()) {
    throw Error(Scope::Account, "the connection to " + m_stream->peer() +
                                    " is unusable after an earlier error: " + m_broken);
  }
}

void Client::call_failed() {
  if (m_call_depth == 1) {
    m_deferred = nullptr;
  }
  // The commands of a send_open() are read by their open(), not by the
  // call that failed: they alone leave the session in step.
  bool unread = std::any_of(m_outstanding.begin(), m_outstanding.end(), [&](const std::string& t) {
    return !m_pending_open || std::find(m_pending_open->tags.begin(), m_pending_open->tags.end(),
                                        t) == m_pending_open->tags.end();
  });
  if (unread && m_broken.empty()) {
    break_connection(current_message());
  }
}

void Client::break_connection(const std::string& reason) {
  // The stream is left alone from now on: the server may be in the middle
  // of a reply or inside a literal, so nothing read or written could be
  // matched to a command again. The account's sync ends, and the Client's
  // owner closes the socket by destroying it.
  m_broken = reason.empty() ? std::string("an unknown error") : reason;
  ROAM_DEBUG(util::k_cat_imap,
             "connection to " << m_stream->peer() << " abandoned after: " << m_broken);
}

void Client::rethrow_deferred() {
  if (m_deferred && m_call_depth == 1) {
    std::exception_ptr deferred = m_deferred;
    m_deferred = nullptr;
    std::rethrow_exception(deferred);
  }
}

void Client::GuardedSink::write(const char* data, std::size_t size) {
  if (target == nullptr) {
    return;  // Dropped: the call already failed locally.
  }
  try {
    target->write(data, size);
  } catch (const util::Error& e) {
    if (!is_local(e)) {
      throw;
    }
    // The reader goes on through the literal, so the next response starts
    // where the server's does; the error waits for the call to complete.
    m_client.m_deferred = std::current_exception();
    target = nullptr;
  }
}

LiteralSink* Client::route_literal(std::string_view text) {
  if (!m_body_sink || !announces_body(text)) {
    return nullptr;
  }
  m_guarded_sink.target = nullptr;
  if (!m_deferred) {
    try {
      m_guarded_sink.target = m_body_sink();
    } catch (const util::Error& e) {
      if (!is_local(e)) {
        throw;
      }
      m_deferred = std::current_exception();
    }
    if (m_guarded_sink.target == nullptr && !m_deferred) {
      return nullptr;  // The caller wants this body in memory.
    }
  }
  return &m_guarded_sink;
}

void Client::write_command(const std::string& tag, std::string_view bytes) {
  m_outstanding.insert(tag);
  m_stream->write_all(bytes);
}

Response Client::read_response() {
  RawResponse raw;
  try {
    raw = m_reader.read();
  } catch (...) {
    // Whatever stopped the reader (a closed connection, a timeout, a limit,
    // a failing sink) stopped it inside a response.
    break_connection(current_message());
    throw;
  }
  ROAM_DEBUG(util::k_cat_imap, "S: " << trace_text(raw));
  try {
    return parse_response(raw);
  } catch (const ParseError& e) {
    // A response we cannot parse leaves the stream in an unknown position:
    // the only safe thing is to drop the connection.
    break_connection(e.what());
    throw Error(Scope::Account, std::string(e.what()));
  }
}

void Client::apply(const Response& response) {
  if (const auto* caps = std::get_if<CapabilityData>(&response)) {
    m_caps = Capabilities(caps->capabilities);
    m_caps_known = true;
    ++m_caps_updates;
  } else if (const auto* num = std::get_if<NumberData>(&response)) {
    if (num->kind == NumberData::Kind::Exists) {
      m_exists_grew += num->number > m_exists ? 1 : 0;
      m_exists = num->number;
    } else if (num->kind == NumberData::Kind::Expunge && m_exists > 0) {
      --m_exists;
    }
  } else if (const auto* status = std::get_if<StatusResponse>(&response)) {
    if (status->status == StatusResponse::Status::Bye) {
      // BYE is followed by the server closing the connection; the read that
      // notices the close reports the error, and the BYE text helps explain it.
      ROAM_DEBUG(util::k_cat_imap,
                 "server " << m_stream->peer() << " says goodbye: " << status->text);
    }
  }
}

bool Client::read_greeting() {
  return guarded([&] {
    // A greeting that is not one leaves no session to go on with.
    m_outstanding.insert("greeting");
    Response r = read_response();
    m_outstanding.erase("greeting");
    const auto* status = std::get_if<StatusResponse>(&r);
    if (status == nullptr || !status->tag.empty()) {
      throw Error(Scope::Account,
                  "the server " + m_stream->peer() +
                      " did not greet with an untagged OK, PREAUTH or BYE; is this an "
                      "IMAP server (check host, port and tls)?");
    }
    if (status->status == StatusResponse::Status::Bye) {
      throw Error(Scope::Account,
                  "the server " + m_stream->peer() + " refused the connection: " + status->text);
    }
    if (status->status != StatusResponse::Status::Ok &&
        status->status != StatusResponse::Status::Preauth) {
      throw Error(Scope::Account,
                  "unexpected greeting from " + m_stream->peer() + ": " + describe(*status));
    }
    if (status->code && status->code->kind == ResponseCode::Kind::Capability) {
      m_caps = Capabilities(status->code->atoms);
      m_caps_known = true;
      ++m_caps_updates;
    }
    return status->status == StatusResponse::Status::Preauth;
  });
}

const Capabilities& Client::capabilities() {
  ensure_usable();
  if (!m_caps_known) {
    refresh_capabilities();
  }
  return m_caps;
}

void Client::refresh_capabilities() {
  guarded([&] {
    m_caps_known = false;
    run("CAPABILITY");
    if (!m_caps_known) {
      throw Error(Scope::Account,
                  "the server " + m_stream->peer() + " answered CAPABILITY without listing any");
    }
  });
}

std::string Client::send(std::string_view command, Redact redact) {
  return guarded([&] {
    if (m_pending_open && command != "LOGOUT") {
      if (!ok_while_opening(command)) {
        // Sent now, it would act on the mailbox the pending SELECT opens,
        // not on the one the caller meant.
        std::string reason = "internal error: " + command_name(command) +
                             " was to be sent while the SELECT of the next mailbox was on its way";
        break_connection(reason);
        throw Error(Scope::Account, reason);
      }
      // Its answers would come after the SELECT's, which its wait would
      // take for its own: they are read first.
      drop_pending_open();
    }
    std::string tag = make_tag();
    std::string line = tag + " ";
    line += command;
    if (redact == Redact::Yes) {
      ROAM_DEBUG(util::k_cat_imap, "C: " << tag << " " << command_name(command) << " <redacted>");
    } else {
      ROAM_DEBUG(util::k_cat_imap, "C: " << line);
    }
    line += "\r\n";
    write_command(tag, line);
    return tag;
  });
}

std::string Client::make_tag() {
  return "r" + std::to_string(m_next_tag++);
}

std::optional<StatusResponse> Client::read_until_tagged(const std::string& tag,
                                                        std::string_view command,
                                                        const UntaggedHandler& on_untagged,
                                                        bool continuation_ok) {
  auto done = m_completed.find(tag);
  if (done != m_completed.end()) {
    StatusResponse result = std::move(done->second);
    m_completed.erase(done);
    return result;
  }
  std::uint64_t untagged = 0;
  for (;;) {
    Response r = read_response();
    if (auto* status = std::get_if<StatusResponse>(&r); status != nullptr && !status->tag.empty()) {
      m_outstanding.erase(status->tag);
      if (status->status == StatusResponse::Status::Ok && status->code &&
          status->code->kind == ResponseCode::Kind::Capability) {
        m_caps = Capabilities(status->code->atoms);
        m_caps_known = true;
        ++m_caps_updates;
      }
      if (status->tag == tag) {
        return std::move(*status);
      }
      m_completed[status->tag] = std::move(*status);
      continue;
    }
    if (const auto* plus = std::get_if<Continuation>(&r)) {
      if (continuation_ok) {
        m_last_continuation = plus->text.substr(0, 8192);
        return std::nullopt;
      }
      throw Error(Scope::Account, "the server " + m_stream->peer() +
                                      " sent a continuation request nobody asked for");
    }
    // Each response is small, but what the running call collects from them
    // is kept until the command completes, so an endless stream of them
    // would exhaust memory long before any timeout noticed.
    if (++untagged > m_options.max_untagged_per_command) {
      throw Error(Scope::Account, "the server " + m_stream->peer() + " sent more than " +
                                      std::to_string(m_options.max_untagged_per_command) +
                                      " untagged responses to one " + std::string(command) +
                                      " command; roam gives up on the connection");
    }
    apply(r);
    if (on_untagged) {
      on_untagged(r);
    }
  }
}

StatusResponse Client::wait(const std::string& tag, std::string_view command,
                            const UntaggedHandler& on_untagged) {
  return guarded([&] {
    StatusResponse result = *read_until_tagged(tag, command_name(command), on_untagged, false);
    if (result.status != StatusResponse::Status::Ok) {
      throw CommandFailed(command_name(command), result);
    }
    return result;
  });
}

StatusResponse Client::run(std::string_view command, const UntaggedHandler& on_untagged,
                           Redact redact) {
  return guarded([&] {
    std::string tag = send(command, redact);
    return wait(tag, command, on_untagged);
  });
}

void Client::starttls(const net::TlsOptions& options) {
  guarded([&] {
    if (!capabilities().has("STARTTLS")) {
      throw Error(Scope::Account, "the server " + m_stream->peer() +
                                      " does not offer STARTTLS, and tls = starttls is configured; "
                                      "roam will not continue in plaintext (use tls = implicit if "
                                      "the server has port 993)");
    }
    std::string tag = send("STARTTLS");
    try {
      try {
        wait(tag, "STARTTLS");
      } catch (const CommandFailed& e) {
        throw Error(Scope::Account,
                    std::string(e.what()) + "; roam will not continue in plaintext");
      }
      if (m_reader.buffered() != 0) {
        throw Error(Scope::Account,
                    "the server " + m_stream->peer() +
                        " sent data after accepting STARTTLS before the TLS handshake; "
                        "this is how STARTTLS injection attacks work, so roam stops");
      }
      m_stream->start_tls(options);
    } catch (const std::exception& e) {
      // Neither plaintext (refused or tampered with) nor TLS (a failed
      // handshake) may carry the session on.
      break_connection(e.what());
      throw;
    }
    // What the server said before TLS cannot be trusted (RFC 3501 §6.2.1).
    m_caps = Capabilities();
    m_caps_known = false;
    refresh_capabilities();
  });
}

bool Client::compress() {
  return guarded([&] {
    if (m_compressed) {
      return true;
    }
    if (!capabilities().has("COMPRESS=DEFLATE")) {
      ROAM_DEBUG(util::k_cat_net,
                 "the server " << m_stream->peer() << " does not offer COMPRESS=DEFLATE");
      return false;
    }
    // RFC 4978 §3: the server switches right after its OK, so no other
    // command may be in flight, and none is: every call reads its replies.
    std::string tag = send("COMPRESS DEFLATE");
    StatusResponse done = *read_until_tagged(tag, "COMPRESS", {}, false);
    if (done.status != StatusResponse::Status::Ok) {
      // The session is in step and uncompressed; a server that compresses
      // at the TLS level already says NO [COMPRESSIONACTIVE].
      ROAM_DEBUG(util::k_cat_net, "the server " << m_stream->peer()
                                                << " declined COMPRESS DEFLATE (" << describe(done)
                                                << "); going on uncompressed");
      return false;
    }
    // From here on the server sends only compressed data, so the session
    // is either compressed or over.
    try {
      // The stream is taken only once the DeflateStream is ready, so on
      // failure the Client still has one to name in its messages.
      auto compressed =
          std::make_unique<net::DeflateStream>(std::move(m_stream), m_reader.unread());
      m_stream = std::move(compressed);
      m_reader.switch_stream(*m_stream);
    } catch (const std::exception& e) {
      break_connection(e.what());
      throw;
    }
    m_compressed = true;
    ROAM_DEBUG(util::k_cat_net, "compression (COMPRESS=DEFLATE) on for " << m_stream->peer());
    return true;
  });
}

void Client::run_pipelined(const std::vector<std::string>& commands,
                           const UntaggedHandler& on_untagged,
                           const std::function<bool(const StatusResponse&)>& on_done,
                           std::size_t depth) {
  std::vector<std::pair<std::string, std::size_t>> in_flight;  // Tag and command, oldest first.
  std::optional<CommandFailed> failure;
  std::size_t next = 0;
  depth = std::max<std::size_t>(1, depth != 0 ? depth : m_options.pipeline_depth);
  // A local sink error (see route_literal()) stops the sending like a
  // failed command; guarded() rethrows it once those in flight are read.
  while ((next < commands.size() && !failure && !m_deferred) || !in_flight.empty()) {
    while (!failure && !m_deferred && next < commands.size() && in_flight.size() < depth) {
      in_flight.emplace_back(send(commands[next]), next);
      ++next;
    }
    if (next == commands.size() && !failure && !m_deferred && m_after_last_send) {
      // Everything this call sends is out: what the hook sends now is
      // answered right after it, while this call reads.
      std::function<void()> hook = std::move(m_after_last_send);
      m_after_last_send = nullptr;
      hook();
    }
    auto [tag, index] = in_flight.front();
    in_flight.erase(in_flight.begin());
    StatusResponse status =
        *read_until_tagged(tag, command_name(commands[index]), on_untagged, false);
    bool accepted = on_done ? on_done(status) : false;
    if (status.status != StatusResponse::Status::Ok && !accepted && !failure) {
      failure.emplace(command_name(commands[index]), status);
    }
  }
  rethrow_deferred();
  if (failure) {
    throw *failure;
  }
}

std::vector<std::string> Client::uid_commands(const std::vector<Uid>& uids, std::string_view prefix,
                                              std::string_view suffix) const {
  std::vector<std::string> commands;
  for (const auto& set : split_uid_sets(uids, prefix.size(), suffix.size())) {
    commands.push_back(std::string(prefix) + set + std::string(suffix));
  }
  return commands;
}

std::vector<std::string> Client::split_uid_sets(const std::vector<Uid>& uids, std::size_t prefix,
                                                std::size_t suffix) const {
  // A single range ("4294967294:4294967295") always goes out, even if the
  // configured line is absurdly short.
  constexpr std::size_t k_longest_range = 21;
  std::size_t overhead = prefix + suffix + k_tag_and_crlf;
  std::size_t budget = m_options.max_command_line > overhead + k_longest_range
                           ? m_options.max_command_line - overhead
                           : k_longest_range;
  std::vector<Uid> sorted = sorted_uids(uids);
  std::vector<std::string> sets;
  std::string current;
  std::size_t i = 0;
  while (i < sorted.size()) {
    std::size_t j = i;
    while (j + 1 < sorted.size() && sorted[j + 1] == sorted[j] + 1) {
      ++j;
    }
    std::string range = std::to_string(sorted[i]);
    if (j != i) {
      range += ":" + std::to_string(sorted[j]);
    }
    if (!current.empty() && current.size() + 1 + range.size() > budget) {
      sets.push_back(std::move(current));
      current.clear();
    }
    if (!current.empty()) {
      current += ',';
    }
    current += range;
    i = j + 1;
  }
  if (!current.empty()) {
    sets.push_back(std::move(current));
  }
  return sets;
}

namespace {

// Whether an untagged response tells of a change that a sync would pick
// up: in the selected mailbox, or (a STATUS, after NOTIFY SET) in another.
// \\Recent counts and "OK still here" do not.
bool announces_change(const Response& r) {
  if (const auto* num = std::get_if<NumberData>(&r)) {
    return num->kind == NumberData::Kind::Exists || num->kind == NumberData::Kind::Expunge;
  }
  return std::holds_alternative<FetchData>(r) || std::holds_alternative<VanishedData>(r) ||
         std::holds_alternative<StatusData>(r);
}

}  // namespace

Client::IdleEnd Client::idle(std::chrono::milliseconds max, int wake_fd) {
  return guarded([&] {
    bool changed = false;
    const auto note = [&](const Response& r) { changed = changed || announces_change(r); };
    if (!capabilities().has("IDLE")) {
      // Polling is the best a server without IDLE allows: its changes show
      // in the untagged responses to the next command.
      if (m_stream->wait_readable(max, wake_fd) == net::Stream::Ready::Woken) {
        return IdleEnd::Woken;
      }
      run("NOOP", note);
      return changed ? IdleEnd::Changed : IdleEnd::TimedOut;
    }
    const std::string tag = send("IDLE");
    if (auto early = read_until_tagged(tag, "IDLE", note, true)) {
      // Completed without a continuation: a refusal, or a server that has
      // nothing to wait for.
      if (early->status != StatusResponse::Status::Ok) {
        throw CommandFailed("IDLE", *early);
      }
      return changed ? IdleEnd::Changed : IdleEnd::TimedOut;
    }
    const auto deadline = std::chrono::steady_clock::now() + max;
    IdleEnd end = IdleEnd::TimedOut;
    std::uint64_t untagged = 0;
    while (!changed) {
      if (m_reader.buffered() == 0) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) {
          break;
        }
        const auto ready = m_stream->wait_readable(left, wake_fd);
        if (ready == net::Stream::Ready::TimedOut) {
          break;
        }
        if (ready == net::Stream::Ready::Woken) {
          end = IdleEnd::Woken;
          break;
        }
      }
      Response r = read_response();
      if (auto* status = std::get_if<StatusResponse>(&r);
          status != nullptr && !status->tag.empty()) {
        if (status->tag != tag) {
          throw Error(Scope::Account, "the server " + m_stream->peer() +
                                          " completed a command that was not running (" +
                                          status->tag + ") during IDLE");
        }
        // The server ended the IDLE itself (some do after a while): the
        // session is ready again without a DONE.
        m_outstanding.erase(tag);
        if (status->status != StatusResponse::Status::Ok) {
          throw CommandFailed("IDLE", *status);
        }
        return changed ? IdleEnd::Changed : end;
      }
      if (std::holds_alternative<Continuation>(r)) {
        throw Error(Scope::Account,
                    "the server " + m_stream->peer() +
                        " sent a continuation request nobody asked for during IDLE");
      }
      // A connection left in IDLE for a day must not grow without bound
      // either; a change ends the wait long before a sane server gets here.
      if (++untagged > m_options.max_untagged_per_command) {
        throw Error(Scope::Account, "the server " + m_stream->peer() + " sent more than " +
                                        std::to_string(m_options.max_untagged_per_command) +
                                        " untagged responses during one IDLE");
      }
      apply(r);
      note(r);
    }
    ROAM_DEBUG(util::k_cat_imap, "C: DONE");
    m_stream->write_all("DONE\r\n");
    StatusResponse done = *read_until_tagged(tag, "IDLE", note, false);
    if (done.status != StatusResponse::Status::Ok) {
      throw CommandFailed("IDLE", done);
    }
    return changed ? IdleEnd::Changed : end;
  });
}

void Client::logout() {
  if (!usable()) {
    return;
  }
  try {
    send("LOGOUT");
  } catch (const util::Error&) {
    // The server may have closed the connection already; the session is
    // over either way.
  }
  // The reply (BYE, then OK) is not waited for: nothing in it matters to
  // roam, and waiting would cost a round trip on every run. The session
  // is over, so nothing is ever read from or sent on it again.
  m_broken = "logged out";
}

}  // namespace roam::imap
