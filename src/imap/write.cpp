// imap::Client, commands that change the server: APPEND, UID STORE,
// UID EXPUNGE and moving messages (UID MOVE, or COPY and STORE).

#include "imap/client.hpp"

#include <algorithm>
#include <deque>
#include <exception>
#include <functional>
#include <numeric>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "imap/client_internal.hpp"
#include "imap/date.hpp"
#include "imap/encode.hpp"
#include "util/error.hpp"
#include "util/log.hpp"

namespace roam::imap {

using util::Error;
using util::Scope;

using detail::encoded;
using detail::sorted_uids;

namespace {

// The buffer between an APPEND body and the stream: large enough that a
// message costs few writes, small enough that no message is held whole.
constexpr std::size_t k_literal_buffer = 64u << 10;

// The largest literal that LITERAL- lets a client send without waiting for
// the server's "+" (RFC 7888 §5).
constexpr std::uint64_t k_literal_minus_limit = 4096;

// The most messages and octets in one MULTIAPPEND: a refused batch is sent
// again one message at a time, and a broken one is lost whole.
constexpr std::size_t k_multiappend_messages = 200;
constexpr std::uint64_t k_multiappend_octets = 32u << 20;

// Writes an APPEND literal to the stream through a 64 KiB buffer, counting
// the octets against the size the command announced. Nothing reaches the
// stream until octets arrive for a full buffer or finish() is called, so a
// body of exactly 64 KiB is still checked whole; the first flush
// calls `start`, which begins the command (it either returns the command
// line to send ahead of the octets, or sends it itself and waits for "+"),
// so a body that fits the buffer is checked before any byte is sent.
class LiteralWriter : public LiteralSink {
 public:
  LiteralWriter(net::Stream& stream, std::uint64_t size, std::function<std::string()> start)
      : m_stream(stream), m_size(size), m_start(std::move(start)) {
    m_buf.reserve(k_literal_buffer + 2);
  }

  void write(const char* data, std::size_t size) override {
    check_usable();
    if (static_cast<std::uint64_t>(size) > m_size - m_count) {
      fail_count(true);
    }
    m_count += size;
    while (size > 0) {
      if (m_buf.size() == k_literal_buffer) {
        flush();
      }
      std::size_t take = std::min(size, k_literal_buffer - m_buf.size());
      m_buf.append(data, take);
      data += take;
      size -= take;
    }
  }

  // Checks the count and sends the rest of the literal, and the CRLF that
  // ends the command unless another message of a MULTIAPPEND follows.
  void finish(bool ends_command = true) {
    check_usable();
    if (m_count != m_size) {
      fail_count(false);
    }
    if (ends_command) {
      m_buf += "\r\n";
    }
    flush();
  }

  // True once any part of the command was sent: from then on, an error
  // leaves the server expecting the rest of the literal.
  bool started() const { return m_started; }

 private:
  void check_usable() {
    if (m_failure) {
      std::rethrow_exception(m_failure);
    }
  }

  [[noreturn]] void fail_count(bool too_long) {
    std::string message = "the message body is " + std::string(too_long ? "longer" : "shorter") +
                          " than the " + std::to_string(m_size) +
                          " octets announced to the server (" + (too_long ? "more than " : "") +
                          std::to_string(m_count) + "); did the file change while it was uploaded?";
    if (m_started) {
      message +=
          " Octets were already sent and the server waits for the rest of the literal, "
          "so the connection is unusable";
    }
    Error error(m_started ? Scope::Account : Scope::Message, message);
    m_failure = std::make_exception_ptr(error);
    throw error;
  }

  void flush() {
    std::string prefix;
    if (!m_started) {
      m_started = true;
      try {
        prefix = m_start();
      } catch (...) {
        // A caller that swallows this must not get octets sent to a server
        // that refused the command or went away.
        m_failure = std::current_exception();
        throw;
      }
    }
    try {
      if (!prefix.empty()) {
        prefix += m_buf;
        m_stream.write_all(prefix);
      } else {
        m_stream.write_all(m_buf);
      }
    } catch (...) {
      m_failure = std::current_exception();
      throw;
    }
    m_buf.clear();
  }

  net::Stream& m_stream;
  std::uint64_t m_size;
  std::function<std::string()> m_start;
  std::uint64_t m_count = 0;
  std::string m_buf;
  bool m_started = false;
  std::exception_ptr m_failure;
};

// The members of a set in the server's order (RFC 4315 §3 pairs COPYUID's
// sets by position), each range ascending ("12:10" is 10:12). Throws
// std::invalid_argument for '*', 0, or more than `limit` members.
std::vector<Uid> members_in_order(const NumberSet& set, std::size_t limit) {
  std::vector<Uid> out;
  for (const Range& range : set) {
    std::vector<Uid> part = expand(NumberSet{range}, limit - std::min(limit, out.size()));
    out.insert(out.end(), part.begin(), part.end());
  }
  return out;
}

// Why no message is expunged alone without UIDPLUS.
Error lacks_uidplus(const std::string& peer) {
  return Error(Scope::Folder, "the server " + peer +
                                  " lacks UIDPLUS, and a plain EXPUNGE would also remove "
                                  "messages other clients marked \\Deleted");
}

// The tagged answer of a conditional UID STORE: the UIDs of its [MODIFIED
// set] code go to `*modified` (RFC 7162 §3.1.3). Returns true for a NO with
// MODIFIED, which reports the messages left alone, not a failed command.
bool take_modified(const StatusResponse& status, std::vector<Uid>* modified) {
  if (!status.code || status.code->kind != ResponseCode::Kind::Modified) {
    return false;
  }
  if (modified != nullptr) {
    try {
      std::vector<Uid> uids = expand(status.code->set);
      modified->insert(modified->end(), uids.begin(), uids.end());
    } catch (const std::invalid_argument& e) {
      throw Error(Scope::Folder,
                  std::string("the server sent an unusable [MODIFIED] code: ") + e.what());
    }
  }
  return status.status == StatusResponse::Status::No;
}

}  // namespace

std::string Client::append_arguments(const AppendMessage& message, bool non_sync) {
  if (message.size == 0) {
    throw Error(Scope::Message,
                "refusing to upload an empty message: a zero-length literal cancels an APPEND");
  }
  // Built piece by piece: GCC 12 at -O2 warns (-Wrestrict) about
  // "literal" + std::string chains.
  std::string out;
  if (!message.flags.empty()) {
    out += encoded(Scope::Message, [&] { return format_flag_list(message.flags); });
    out += ' ';
  }
  if (message.internaldate) {
    out += '"';
    out += format_internaldate(*message.internaldate);
    out += "\" ";
  }
  out += '{';
  out += std::to_string(message.size);
  out += non_sync ? "+}" : "}";
  return out;
}

std::string Client::send_append(const std::string& mailbox, const AppendMessage& message,
                                bool allow_sync) {
  // Everything that can be refused locally is, before the first byte.
  bool non_sync = message.size != 0 && literal_plus_for(message.size);
  std::string arguments = append_arguments(message, non_sync);
  if (!non_sync && !allow_sync) {
    throw std::logic_error("send_append: a synchronizing literal cannot be pipelined");
  }
  std::string command = "APPEND ";
  command += encoded(Scope::Folder, [&] { return quote_astring(mailbox); });
  command += ' ';
  command += arguments;
  std::string tag = make_tag();

  auto start = [&]() -> std::string {
    ROAM_DEBUG(util::k_cat_imap, "C: " << tag << " " << command << " (body not shown)");
    std::string line = tag + " " + command + "\r\n";
    if (non_sync) {
      // The writer sends the line with the first octets.
      m_outstanding.insert(tag);
      return line;
    }
    write_command(tag, line);
    std::optional<StatusResponse> refused = read_until_tagged(tag, "APPEND", {}, true);
    if (refused) {
      // A tagged answer instead of "+": the server refused the literal
      // (RFC 3501 §7.5), and the command is over. Even an OK here would be
      // nonsense, since the message was never sent.
      throw CommandFailed("APPEND", *refused);
    }
    return {};
  };

  LiteralWriter writer(*m_stream, message.size, start);
  try {
    message.write_body(writer);
    writer.finish();
  } catch (const CommandFailed&) {
    throw;  // Refused before "+": the connection is fine.
  } catch (const util::Error& e) {
    if (writer.started() && e.scope() < Scope::Account) {
      throw Error(Scope::Account, std::string(e.what()) +
                                      "; the server is left inside the APPEND literal, so the "
                                      "connection is unusable");
    }
    throw;
  } catch (const std::exception& e) {
    if (writer.started()) {
      throw Error(Scope::Account, std::string(e.what()) +
                                      "; the server is left inside the APPEND literal, so the "
                                      "connection is unusable");
    }
    throw;
  }
  return tag;
}

bool Client::literal_plus_for(std::uint64_t size) {
  const Capabilities& caps = capabilities();
  return caps.has("LITERAL+") || (caps.has("LITERAL-") && size <= k_literal_minus_limit);
}

std::optional<Uid> Client::appended_uid(const StatusResponse& done,
                                        std::uint32_t expected_uidvalidity) {
  // Untagged responses (EXISTS for the new message, and any code in an
  // untagged OK) are applied but never read for APPENDUID: only this
  // command's tagged OK may name the new UID (CVE-2021-3578).
  if (!done.code || done.code->kind != ResponseCode::Kind::AppendUid) {
    return std::nullopt;
  }
  if (expected_uidvalidity != 0 && done.code->number != expected_uidvalidity) {
    ROAM_DEBUG(util::k_cat_imap, "ignoring APPENDUID for UIDVALIDITY "
                                     << done.code->number << ", expected " << expected_uidvalidity);
    return std::nullopt;
  }
  try {
    std::vector<Uid> uids = expand(done.code->set, 2);
    if (uids.size() == 1) {
      return uids.front();
    }
  } catch (const std::invalid_argument&) {
    // "*", 0 or a range: no single UID to trust.
  }
  return std::nullopt;
}

std::vector<Uid> Client::appended_uids(const StatusResponse& done,
                                       std::uint32_t expected_uidvalidity, std::size_t count) {
  // As appended_uid(): only this command's tagged OK counts. The set names
  // the messages' UIDs in their order (RFC 3502 §6.3.11 with RFC 4315 §3);
  // anything but one new, ascending UID per message is not trusted.
  if (!done.code || done.code->kind != ResponseCode::Kind::AppendUid ||
      (expected_uidvalidity != 0 && done.code->number != expected_uidvalidity)) {
    return {};
  }
  try {
    std::vector<Uid> uids = members_in_order(done.code->set, count);
    if (uids.size() == count && std::is_sorted(uids.begin(), uids.end()) &&
        std::adjacent_find(uids.begin(), uids.end()) == uids.end()) {
      return uids;
    }
  } catch (const std::invalid_argument&) {
    // "*", 0, or more UIDs than messages.
  }
  ROAM_DEBUG(util::k_cat_imap, "ignoring an APPENDUID that does not name one UID per message");
  return {};
}

std::optional<Uid> Client::append(const std::string& mailbox, const std::vector<std::string>& flags,
                                  std::optional<std::chrono::sys_seconds> internaldate,
                                  std::uint64_t size,
                                  const std::function<void(LiteralSink&)>& write_body,
                                  std::uint32_t expected_uidvalidity) {
  return guarded([&]() -> std::optional<Uid> {
    std::string tag = send_append(mailbox, {flags, internaldate, size, write_body}, true);
    return appended_uid(wait(tag, "APPEND"), expected_uidvalidity);
  });
}

void Client::append_each(const std::string& mailbox, const std::vector<std::size_t>& indexes,
                         const std::function<std::optional<AppendMessage>(std::size_t)>& next,
                         std::uint32_t expected_uidvalidity,
                         const std::function<void(std::size_t, const AppendResult&)>& done) {
  std::deque<std::pair<std::string, std::size_t>> in_flight;  // Tag and index, oldest first.
  auto complete_oldest = [&] {
    auto [tag, index] = in_flight.front();
    in_flight.pop_front();
    StatusResponse status = *read_until_tagged(tag, "APPEND", {}, false);
    AppendResult result;
    if (status.status == StatusResponse::Status::Ok) {
      result.uid = appended_uid(status, expected_uidvalidity);
    } else {
      result.refusal = CommandFailed("APPEND", status);
    }
    done(index, result);
  };
  std::exception_ptr stopped;
  std::size_t depth = std::max<std::size_t>(1, m_options.pipeline_depth);
  for (std::size_t i : indexes) {
    if (stopped) {
      break;
    }
    try {
      std::optional<AppendMessage> message = next(i);
      if (!message) {
        continue;
      }
      if (!literal_plus_for(message->size)) {
        // A synchronizing literal waits for "+", which comes only once
        // the commands before it are done.
        while (!in_flight.empty()) {
          complete_oldest();
        }
        AppendResult result;
        try {
          result.uid = appended_uid(wait(send_append(mailbox, *message, true), "APPEND"),
                                    expected_uidvalidity);
        } catch (const CommandFailed& e) {
          result.refusal = e;
        }
        done(i, result);
        continue;
      }
      while (in_flight.size() >= depth) {
        complete_oldest();
      }
      in_flight.emplace_back(send_append(mailbox, *message, false), i);
    } catch (const util::Error& e) {
      if (e.scope() >= Scope::Account) {
        throw;  // Nothing more can be read on this connection.
      }
      stopped = std::current_exception();
    } catch (...) {
      stopped = std::current_exception();
    }
  }
  // The commands in flight are answered whatever stopped the sending, so
  // that the connection stays in step and their results reach the caller.
  while (!in_flight.empty()) {
    complete_oldest();
  }
  if (stopped) {
    std::rethrow_exception(stopped);
  }
}

std::string Client::send_multiappend(const std::string& mailbox,
                                     const std::vector<Batched>& batch) {
  // Everything that can be refused locally is, before the first byte (the
  // messages' arguments were built as they joined the batch).
  std::string head = "APPEND ";
  head += encoded(Scope::Folder, [&] { return quote_astring(mailbox); });
  std::string tag = make_tag();
  bool sent = false;
  for (std::size_t k = 0; k < batch.size(); ++k) {
    auto start = [&, k]() -> std::string {
      std::string line;
      if (k == 0) {
        ROAM_DEBUG(util::k_cat_imap, "C: " << tag << " " << head << " (" << batch.size()
                                           << " messages, bodies not shown)");
        m_outstanding.insert(tag);
        line = tag;
        line += ' ';
        line += head;
      }
      line += ' ';
      line += batch[k].arguments;
      line += "\r\n";
      sent = true;
      return line;
    };
    LiteralWriter writer(*m_stream, batch[k].message.size, start);
    try {
      batch[k].message.write_body(writer);
      writer.finish(k + 1 == batch.size());
    } catch (const std::exception& e) {
      // Once a byte of the command is out, the server waits for the rest
      // of it: nothing else can be sent on this connection. (A server
      // given the whole command appends all or nothing, so nothing of the
      // batch was stored.)
      const auto* error = dynamic_cast<const util::Error*>(&e);
      if (sent && (error == nullptr || error->scope() < Scope::Account)) {
        throw Error(Scope::Account, std::string(e.what()) +
                                        "; the server is left inside the APPEND command, so the "
                                        "connection is unusable");
      }
      throw;
    }
  }
  return tag;
}

void Client::append_pipelined(const std::string& mailbox, std::size_t count,
                              const std::function<std::optional<AppendMessage>(std::size_t)>& next,
                              std::uint32_t expected_uidvalidity,
                              const std::function<void(std::size_t, const AppendResult&)>& done) {
  guarded([&] {
    const Capabilities& caps = capabilities();
    bool batches = count > 1 && caps.has("MULTIAPPEND") && caps.has("LITERAL+") &&
                   !m_selected_mailbox.empty() && mailbox == m_selected_mailbox;
    if (!batches) {
      std::vector<std::size_t> all(count);
      std::iota(all.begin(), all.end(), std::size_t{0});
      append_each(mailbox, all, next, expected_uidvalidity, done);
      return;
    }
    std::exception_ptr stopped;
    std::size_t i = 0;
    while (i < count && !stopped) {
      std::vector<Batched> batch;
      std::uint64_t bytes = 0;
      while (i < count && batch.size() < k_multiappend_messages && bytes < k_multiappend_octets) {
        std::size_t at = i++;
        try {
          std::optional<AppendMessage> message = next(at);
          if (!message) {
            continue;
          }
          // A message that cannot be sent stops the sending here, as
          // append_each() does, before it could spoil a batch.
          std::string arguments = append_arguments(*message, true);
          bytes += message->size;
          batch.push_back({at, std::move(*message), std::move(arguments)});
        } catch (const util::Error& e) {
          if (e.scope() >= Scope::Account) {
            throw;
          }
          stopped = std::current_exception();
        } catch (...) {
          stopped = std::current_exception();
        }
        if (stopped) {
          break;
        }
      }
      if (batch.empty()) {
        continue;
      }
      std::uint64_t grew = m_exists_grew;
      std::string tag;
      try {
        tag = send_multiappend(mailbox, batch);
      } catch (const util::Error& e) {
        if (e.scope() >= Scope::Account) {
          throw;
        }
        stopped = std::current_exception();  // Nothing of the batch was sent.
        break;
      } catch (...) {
        stopped = std::current_exception();
        break;
      }
      StatusResponse status = *read_until_tagged(tag, "APPEND", {}, false);
      if (status.status == StatusResponse::Status::Ok) {
        std::vector<Uid> uids = appended_uids(status, expected_uidvalidity, batch.size());
        for (std::size_t k = 0; k < batch.size(); ++k) {
          AppendResult result;
          if (!uids.empty()) {
            result.uid = uids[k];
          }
          done(batch[k].index, result);
        }
      } else if (m_exists_grew == grew) {
        // Refused whole, and nothing was stored: each message alone, so
        // that the one the server refuses is told apart.
        ROAM_DEBUG(util::k_cat_imap,
                   "MULTIAPPEND refused (" << status.text << "); sending its messages one by one");
        std::vector<std::size_t> again;
        for (const auto& b : batch) {
          again.push_back(b.index);
        }
        batch.clear();
        append_each(mailbox, again, next, expected_uidvalidity, done);
      } else {
        // Refused, yet the mailbox grew meanwhile: whether by this command
        // or by another client cannot be told. Sent without a UID, the
        // messages are looked for by content; none is sent again.
        ROAM_DEBUG(util::k_cat_imap,
                   "MULTIAPPEND refused while the mailbox grew; its messages are looked for");
        for (const auto& b : batch) {
          done(b.index, AppendResult{});
        }
      }
    }
    if (stopped) {
      std::rethrow_exception(stopped);
    }
  });
}

std::vector<std::string> Client::store_commands(const StoreRequest& store) {
  if (store.uids.empty() || store.flags.empty()) {
    return {};
  }
  if (store.unchangedsince != 0 && !m_selected_modseq) {
    throw Error(Scope::Folder, "cannot send UID STORE (UNCHANGEDSINCE " +
                                   std::to_string(store.unchangedsince) +
                                   "): the selected mailbox has no mod-sequences (no CONDSTORE, "
                                   "or NOMODSEQ)");
  }
  std::string suffix;
  if (store.unchangedsince != 0) {
    suffix += " (UNCHANGEDSINCE " + std::to_string(store.unchangedsince) + ")";
  }
  suffix += store.op == StoreOp::Add ? " +FLAGS.SILENT " : " -FLAGS.SILENT ";
  suffix += encoded(Scope::Message, [&] { return format_flag_list(store.flags); });
  return uid_commands(store.uids, "UID STORE ", suffix);
}

void Client::store_flags(const std::vector<Uid>& uids, StoreOp op,
                         const std::vector<std::string>& flags, ModSeq unchangedsince,
                         std::vector<Uid>* modified,
                         const std::function<void(const FetchData&)>& on_fetch) {
  guarded([&] {
    std::vector<std::string> commands = store_commands({uids, op, flags, unchangedsince});
    if (commands.empty()) {
      return;
    }
    UntaggedHandler on_untagged;
    if (on_fetch) {
      on_untagged = [&](const Response& r) {
        if (const auto* f = std::get_if<FetchData>(&r)) {
          on_fetch(*f);
        }
      };
    }
    run_pipelined(commands, on_untagged,
                  [&](const StatusResponse& status) { return take_modified(status, modified); });
  });
}

void Client::store_many(const std::vector<StoreRequest>& stores, const std::vector<Uid>& expunge,
                        std::vector<Uid>* modified) {
  guarded([&] {
    // Every command is built before the first is sent, so that one that
    // cannot be sent (a flag that is not an atom) sends none.
    std::vector<std::string> commands;
    for (const auto& store : stores) {
      for (auto& c : store_commands(store)) {
        commands.push_back(std::move(c));
      }
    }
    bool expunges = !expunge.empty() && capabilities().has("UIDPLUS");
    if (expunges) {
      for (auto& c : uid_commands(expunge, "UID EXPUNGE ", "")) {
        commands.push_back(std::move(c));
      }
    }
    if (!commands.empty()) {
      // An EXPUNGE answers neither MODIFIED nor a NO with it, so one rule
      // serves both kinds of command.
      run_pipelined(commands, {},
                    [&](const StatusResponse& status) { return take_modified(status, modified); });
    }
    if (!expunge.empty() && !expunges) {
      throw lacks_uidplus(m_stream->peer());
    }
  });
}

void Client::uid_expunge(const std::vector<Uid>& uids) {
  guarded([&] {
    if (uids.empty()) {
      return;
    }
    if (!capabilities().has("UIDPLUS")) {
      throw lacks_uidplus(m_stream->peer());
    }
    std::string prefix = "UID EXPUNGE ";
    std::vector<std::string> commands = uid_commands(uids, prefix, "");
    run_pipelined(commands, {});
  });
}

MoveResult Client::move(const std::vector<Uid>& uids, const std::string& target_mailbox,
                        std::uint32_t target_uidvalidity) {
  return guarded([&]() -> MoveResult {
    std::vector<Uid> wanted = sorted_uids(uids);
    if (wanted.empty()) {
      return {};
    }
    const Capabilities& caps = capabilities();
    bool has_move = caps.has("MOVE");
    std::string target = encoded(Scope::Folder, [&] { return quote_astring(target_mailbox); });

    std::vector<std::pair<Uid, Uid>> pairs;
    bool unusable = false;
    auto take_copyuid = [&](const StatusResponse& status) {
      if (status.status != StatusResponse::Status::Ok || !status.code ||
          status.code->kind != ResponseCode::Kind::CopyUid) {
        return;
      }
      const ResponseCode& code = *status.code;
      if (target_uidvalidity != 0 && code.number != target_uidvalidity) {
        unusable = true;
        return;
      }
      try {
        std::vector<Uid> sources = members_in_order(code.set, wanted.size());
        std::vector<Uid> targets = members_in_order(code.set2, wanted.size());
        if (sources.size() != targets.size()) {
          unusable = true;
          return;
        }
        for (std::size_t i = 0; i < sources.size(); ++i) {
          if (!std::binary_search(wanted.begin(), wanted.end(), sources[i])) {
            unusable = true;
            return;
          }
          pairs.emplace_back(sources[i], targets[i]);
        }
      } catch (const std::invalid_argument&) {
        unusable = true;
      }
    };

    std::string prefix = has_move ? "UID MOVE " : "UID COPY ";
    std::string suffix = " " + target;
    std::vector<std::string> commands = uid_commands(wanted, prefix, suffix);
    UntaggedHandler on_untagged;
    if (has_move) {
      // RFC 6851 §4.3: COPYUID comes in an untagged OK before the expunges.
      on_untagged = [&](const Response& r) {
        if (const auto* s = std::get_if<StatusResponse>(&r)) {
          take_copyuid(*s);
        }
      };
    }
    run_pipelined(commands, on_untagged, [&](const StatusResponse& status) {
      take_copyuid(status);
      return false;
    });
    MoveResult result;
    if (!has_move) {
      // Every copy succeeded (run_pipelined threw otherwise): now the
      // originals may go, and only they (RFC 4549 §4.2.4).
      store_flags(wanted, StoreOp::Add, {"\\Deleted"});
      if (caps.has("UIDPLUS")) {
        uid_expunge(wanted);
      } else {
        result.expunged = expunge_if_only(wanted);
      }
    }

    if (unusable) {
      return result;
    }
    std::sort(pairs.begin(), pairs.end());
    pairs.erase(std::unique(pairs.begin(), pairs.end()), pairs.end());
    for (std::size_t i = 1; i < pairs.size(); ++i) {
      if (pairs[i].first == pairs[i - 1].first) {
        return result;  // One source, two targets: no answer to trust.
      }
    }
    result.pairs = std::move(pairs);
    return result;
  });
}

bool Client::expunge_if_only(const std::vector<Uid>& marked) {
  // Without UIDPLUS the only expunge is the plain one, which removes every
  // message marked \Deleted, also those another client marked and meant to
  // keep until it expunges them itself (RFC 4549 §4.2.4). It is safe only
  // if the \Deleted messages are ours alone. A client marking one between
  // the SEARCH and the EXPUNGE is a window no IMAP4rev1 command closes.
  std::vector<Uid> deleted;
  bool answered = false;
  run("UID SEARCH DELETED", [&](const Response& r) {
    if (const auto* search = std::get_if<SearchData>(&r)) {
      answered = true;
      deleted.insert(deleted.end(), search->numbers.begin(), search->numbers.end());
    }
  });
  if (!answered) {
    return false;  // No answer we can read (an ESEARCH, say): assume others.
  }
  for (Uid uid : deleted) {
    if (!std::binary_search(marked.begin(), marked.end(), uid)) {
      ROAM_DEBUG(util::k_cat_imap, "UID " << uid
                                          << " is marked \\Deleted by someone else; leaving the "
                                             "moved messages marked instead of expunging");
      return false;
    }
  }
  if (!deleted.empty()) {
    run("EXPUNGE");
  }
  return true;
}

}  // namespace roam::imap
