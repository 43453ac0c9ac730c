#include "imap/client.hpp"

#include <algorithm>
#include <cctype>
#include <sstream>

#include "imap/encode.hpp"
#include "imap/parse_error.hpp"
#include "imap/parser.hpp"
#include "util/error.hpp"
#include "util/log.hpp"

namespace roam::imap {

using util::Error;
using util::Scope;

namespace {

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

std::string base64(std::string_view in) {
  static const char* k_alphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::size_t i = 0;
  while (i + 2 < in.size()) {
    unsigned v = (static_cast<unsigned char>(in[i]) << 16) |
                 (static_cast<unsigned char>(in[i + 1]) << 8) |
                 static_cast<unsigned char>(in[i + 2]);
    out += k_alphabet[(v >> 18) & 63];
    out += k_alphabet[(v >> 12) & 63];
    out += k_alphabet[(v >> 6) & 63];
    out += k_alphabet[v & 63];
    i += 3;
  }
  if (i + 1 == in.size()) {
    unsigned v = static_cast<unsigned char>(in[i]) << 16;
    out += k_alphabet[(v >> 18) & 63];
    out += k_alphabet[(v >> 12) & 63];
    out += "==";
  } else if (i + 2 == in.size()) {
    unsigned v =
        (static_cast<unsigned char>(in[i]) << 16) | (static_cast<unsigned char>(in[i + 1]) << 8);
    out += k_alphabet[(v >> 18) & 63];
    out += k_alphabet[(v >> 12) & 63];
    out += k_alphabet[(v >> 6) & 63];
    out += '=';
  }
  return out;
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
  m_reader.set_literal_router([this](std::string_view text, std::uint64_t) -> LiteralSink* {
    if (m_body_sink && announces_body(text)) {
      return m_body_sink();
    }
    return nullptr;
  });
}

Client::~Client() = default;

Response Client::read_response() {
  RawResponse raw = m_reader.read();
  ROAM_DEBUG(util::k_cat_imap, "S: " << trace_text(raw));
  try {
    return parse_response(raw);
  } catch (const ParseError& e) {
    // A response we cannot parse leaves the stream in an unknown position:
    // the only safe thing is to drop the connection.
    throw Error(Scope::Account, std::string(e.what()));
  }
}

void Client::apply(const Response& response) {
  if (const auto* caps = std::get_if<CapabilityData>(&response)) {
    m_caps = Capabilities(caps->capabilities);
    m_caps_known = true;
  } else if (const auto* num = std::get_if<NumberData>(&response)) {
    if (num->kind == NumberData::Kind::Exists) {
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
  Response r = read_response();
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
  }
  return status->status == StatusResponse::Status::Preauth;
}

const Capabilities& Client::capabilities() {
  if (!m_caps_known) {
    refresh_capabilities();
  }
  return m_caps;
}

void Client::refresh_capabilities() {
  m_caps_known = false;
  run("CAPABILITY");
  if (!m_caps_known) {
    throw Error(Scope::Account,
                "the server " + m_stream->peer() + " answered CAPABILITY without listing any");
  }
}

std::string Client::send(std::string_view command, Redact redact) {
  std::string tag = "r" + std::to_string(m_next_tag++);
  std::string line = tag + " ";
  line += command;
  if (redact == Redact::Yes) {
    ROAM_DEBUG(util::k_cat_imap, "C: " << tag << " " << command_name(command) << " <redacted>");
  } else {
    ROAM_DEBUG(util::k_cat_imap, "C: " << line);
  }
  line += "\r\n";
  m_stream->write_all(line);
  return tag;
}

StatusResponse Client::wait(const std::string& tag, std::string_view command,
                            const UntaggedHandler& on_untagged) {
  auto done = m_completed.find(tag);
  StatusResponse result;
  if (done != m_completed.end()) {
    result = std::move(done->second);
    m_completed.erase(done);
  } else {
    for (;;) {
      Response r = read_response();
      if (auto* status = std::get_if<StatusResponse>(&r);
          status != nullptr && !status->tag.empty()) {
        if (status->status == StatusResponse::Status::Ok && status->code &&
            status->code->kind == ResponseCode::Kind::Capability) {
          m_caps = Capabilities(status->code->atoms);
          m_caps_known = true;
        }
        if (status->tag == tag) {
          result = std::move(*status);
          break;
        }
        m_completed[status->tag] = std::move(*status);
        continue;
      }
      if (std::holds_alternative<Continuation>(r)) {
        throw Error(Scope::Account, "the server " + m_stream->peer() +
                                        " sent a continuation request nobody asked for");
      }
      apply(r);
      if (on_untagged) {
        on_untagged(r);
      }
    }
  }
  if (result.status != StatusResponse::Status::Ok) {
    throw CommandFailed(command_name(command), result);
  }
  return result;
}

StatusResponse Client::run(std::string_view command, const UntaggedHandler& on_untagged,
                           Redact redact) {
  std::string tag = send(command, redact);
  return wait(tag, command, on_untagged);
}

void Client::starttls(const net::TlsOptions& options) {
  if (!capabilities().has("STARTTLS")) {
    throw Error(Scope::Account, "the server " + m_stream->peer() +
                                    " does not offer STARTTLS, and tls = starttls is configured; "
                                    "roam will not continue in plaintext (use tls = implicit if "
                                    "the server has port 993)");
  }
  std::string tag = send("STARTTLS");
  try {
    wait(tag, "STARTTLS");
  } catch (const CommandFailed& e) {
    throw Error(Scope::Account, std::string(e.what()) + "; roam will not continue in plaintext");
  }
  if (m_reader.buffered() != 0) {
    throw Error(Scope::Account, "the server " + m_stream->peer() +
                                    " sent data after accepting STARTTLS before the TLS handshake; "
                                    "this is how STARTTLS injection attacks work, so roam stops");
  }
  m_stream->start_tls(options);
  // What the server said before TLS cannot be trusted (RFC 3501 §6.2.1).
  m_caps = Capabilities();
  m_caps_known = false;
  refresh_capabilities();
}

void Client::login(const std::string& user, const std::string& password) {
  const Capabilities& caps = capabilities();
  if (caps.has("AUTH=PLAIN")) {
    std::string credentials;
    credentials += '\0';
    credentials += user;
    credentials += '\0';
    credentials += password;
    std::string encoded = base64(credentials);
    if (caps.has("SASL-IR")) {
      run("AUTHENTICATE PLAIN " + encoded, {}, Redact::Yes);
    } else {
      std::string tag = send("AUTHENTICATE PLAIN");
      Response r = read_response();
      if (!std::holds_alternative<Continuation>(r)) {
        if (auto* status = std::get_if<StatusResponse>(&r); status && status->tag == tag) {
          throw CommandFailed("AUTHENTICATE PLAIN", *status);
        }
        throw Error(Scope::Account,
                    "the server did not ask for credentials after AUTHENTICATE PLAIN");
      }
      ROAM_DEBUG(util::k_cat_imap, "C: <redacted credentials>");
      m_stream->write_all(encoded + "\r\n");
      wait(tag, "AUTHENTICATE PLAIN");
    }
  } else if (caps.has("LOGINDISABLED")) {
    throw Error(Scope::Account, "the server " + m_stream->peer() +
                                    " disables LOGIN and offers no AUTH=PLAIN (capabilities: " +
                                    caps.to_string() + ")");
  } else {
    run("LOGIN " + quote_astring(user) + " " + quote_astring(password), {}, Redact::Yes);
  }
  // Capabilities often change after login; the tagged OK may have said so.
  // Forget pre-login capabilities unless the OK just refreshed them.
}

std::vector<std::string> Client::enable(const std::vector<std::string>& extensions) {
  std::vector<std::string> enabled;
  if (!capabilities().has("ENABLE") || extensions.empty()) {
    return enabled;
  }
  std::string command = "ENABLE";
  for (const auto& e : extensions) {
    command += " " + e;
  }
  run(command, [&](const Response& r) {
    if (const auto* e = std::get_if<EnabledData>(&r)) {
      enabled.insert(enabled.end(), e->capabilities.begin(), e->capabilities.end());
    }
  });
  return enabled;
}

std::vector<ListedMailbox> Client::list(const std::vector<std::string>& status_items) {
  const Capabilities& caps = capabilities();
  std::string command = "LIST \"\" \"*\"";
  std::vector<std::string> returns;
  if (caps.has("SPECIAL-USE")) {
    returns.push_back("SPECIAL-USE");
  }
  if (!status_items.empty() && caps.has("LIST-STATUS")) {
    std::string items = "STATUS (";
    for (std::size_t i = 0; i < status_items.size(); ++i) {
      items += (i ? " " : "") + status_items[i];
    }
    returns.push_back(items + ")");
  }
  if (!returns.empty()) {
    command += " RETURN (";
    for (std::size_t i = 0; i < returns.size(); ++i) {
      command += (i ? " " : "") + returns[i];
    }
    command += ")";
  }
  std::vector<ListedMailbox> out;
  std::map<std::string, StatusData> statuses;
  run(command, [&](const Response& r) {
    if (const auto* l = std::get_if<ListData>(&r)) {
      out.push_back({*l, std::nullopt});
    } else if (const auto* s = std::get_if<StatusData>(&r)) {
      statuses[s->mailbox] = *s;
    }
  });
  for (auto& m : out) {
    auto it = statuses.find(m.list.mailbox);
    if (it != statuses.end()) {
      m.status = it->second;
    }
  }
  return out;
}

MailboxInfo Client::open(const std::string& mailbox, OpenMode mode) {
  MailboxInfo info;
  bool condstore = capabilities().has("CONDSTORE");
  std::string command =
      (mode == OpenMode::Examine ? "EXAMINE " : "SELECT ") + quote_astring(mailbox);
  if (condstore) {
    command += " (CONDSTORE)";
  }
  m_exists = 0;
  StatusResponse done = run(command, [&](const Response& r) {
    if (const auto* s = std::get_if<StatusResponse>(&r); s && s->code) {
      switch (s->code->kind) {
        case ResponseCode::Kind::UidValidity:
          info.uidvalidity = static_cast<std::uint32_t>(s->code->number);
          break;
        case ResponseCode::Kind::UidNext:
          info.uidnext = static_cast<std::uint32_t>(s->code->number);
          break;
        case ResponseCode::Kind::HighestModSeq:
          info.highestmodseq = s->code->number;
          break;
        case ResponseCode::Kind::NoModSeq:
          info.highestmodseq = 0;
          break;
        case ResponseCode::Kind::PermanentFlags:
          info.permanent_flags = s->code->atoms;
          break;
        default:
          break;
      }
    }
  });
  info.exists = m_exists;
  info.read_only = done.code && done.code->kind == ResponseCode::Kind::ReadOnly;
  if (info.uidvalidity == 0) {
    throw Error(Scope::Folder, "the server opened mailbox \"" + mailbox +
                                   "\" without a UIDVALIDITY; roam cannot sync it safely");
  }
  return info;
}

std::vector<MessageFlags> Client::fetch_flags(ModSeq changedsince) {
  std::vector<MessageFlags> out;
  if (m_exists == 0) {
    return out;
  }
  std::string command = "UID FETCH 1:* (UID FLAGS)";
  if (changedsince != 0) {
    command += " (CHANGEDSINCE " + std::to_string(changedsince) + ")";
  }
  out.reserve(m_exists);
  run(command, [&](const Response& r) {
    if (const auto* f = std::get_if<FetchData>(&r)) {
      // Unsolicited FETCHes without UID (flag updates from other sessions in
      // RFC 3501 servers) cannot be attributed; the listing is complete
      // without them, because the solicited FETCH for the same message
      // carries the newer flags.
      if (f->uid && f->flags) {
        out.push_back({*f->uid, *f->flags, f->modseq.value_or(0)});
      }
    }
  });
  // A message can be reported twice (a solicited and an unsolicited FETCH);
  // the later report is the newer one.
  std::stable_sort(out.begin(), out.end(),
                   [](const auto& a, const auto& b) { return a.uid < b.uid; });
  std::vector<MessageFlags> unique;
  unique.reserve(out.size());
  for (auto& m : out) {
    if (!unique.empty() && unique.back().uid == m.uid) {
      unique.back() = std::move(m);
    } else {
      unique.push_back(std::move(m));
    }
  }
  return unique;
}

void Client::fetch_bodies(const std::vector<Uid>& uids,
                          const std::function<LiteralSink*()>& sink_for,
                          const std::function<void(const FetchData&)>& done,
                          const std::function<void()>& after_batch) {
  std::vector<std::string> commands;
  for (std::size_t i = 0; i < uids.size(); i += m_options.fetch_batch) {
    std::size_t end = std::min(uids.size(), i + m_options.fetch_batch);
    std::vector<std::uint32_t> batch(uids.begin() + static_cast<std::ptrdiff_t>(i),
                                     uids.begin() + static_cast<std::ptrdiff_t>(end));
    std::sort(batch.begin(), batch.end());
    commands.push_back("UID FETCH " + format_set(batch) + " (UID FLAGS INTERNALDATE BODY.PEEK[])");
  }
  m_body_sink = sink_for;
  struct Reset {
    std::function<LiteralSink*()>& sink;
    ~Reset() { sink = nullptr; }
  } reset{m_body_sink};

  auto on_untagged = [&](const Response& r) {
    const auto* f = std::get_if<FetchData>(&r);
    if (f == nullptr) {
      return;
    }
    bool has_body = std::any_of(f->sections.begin(), f->sections.end(),
                                [](const BodySection& s) { return s.section.empty(); });
    if (!has_body) {
      return;  // An unsolicited flag update.
    }
    if (!f->uid) {
      throw Error(Scope::Account, "the server sent a message body without its UID");
    }
    done(*f);
  };

  std::vector<std::string> in_flight;  // Tags, oldest first.
  std::size_t next = 0;
  while (next < commands.size() || !in_flight.empty()) {
    while (next < commands.size() && in_flight.size() < m_options.pipeline_depth) {
      in_flight.push_back(send(commands[next]));
      ++next;
    }
    std::string tag = in_flight.front();
    in_flight.erase(in_flight.begin());
    wait(tag, "UID FETCH", on_untagged);
    if (after_batch) {
      after_batch();
    }
  }
}

void Client::logout() {
  try {
    run("LOGOUT");
  } catch (const util::Error&) {
    // The server may close the connection right after BYE; the session is
    // over either way.
  }
}

}  // namespace roam::imap
