// imap::Client, mailbox commands: LIST, NAMESPACE, SELECT/EXAMINE and CREATE.

#include "imap/client.hpp"

#include <map>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "imap/client_internal.hpp"
#include "imap/encode.hpp"
#include "util/error.hpp"

namespace roam::imap {

using util::Error;
using util::Scope;

using detail::encoded;
using detail::upper;

std::vector<ListedMailbox> Client::list(const std::vector<std::string>& status_items) {
  return list_with_namespaces(status_items, false).mailboxes;
}

namespace {

// STATUS commands are short and so are their answers: this many in flight
// stay far below any socket buffer, and a hundred folders cost two round
// trips instead of thirteen at the default depth.
constexpr std::size_t k_status_depth = 64;

}  // namespace

bool Client::offers_mod_sequences() {
  const Capabilities& caps = capabilities();
  return caps.has("CONDSTORE") || caps.has("QRESYNC");
}

std::string Client::status_item_list(const std::vector<std::string>& status_items) {
  // HIGHESTMODSEQ is a STATUS item only with CONDSTORE (RFC 7162
  // §3.1.8); without it the server would refuse the whole command, or (like
  // Cyrus with CONDSTORE off) answer with a value nothing else honours.
  const bool modseq = offers_mod_sequences();
  std::string text;
  for (const auto& item : status_items) {
    if (modseq || upper(item) != "HIGHESTMODSEQ") {
      text += (text.empty() ? "(" : " ") + item;
    }
  }
  return text.empty() ? text : text + ")";
}

std::vector<std::string> Client::status_commands(const std::vector<std::string>& mailboxes,
                                                 const std::string& items) {
  std::vector<std::string> commands;
  for (const auto& name : mailboxes) {
    try {
      std::string command = "STATUS ";
      command += quote_astring(name);
      command += ' ';
      command += items;
      commands.push_back(std::move(command));
    } catch (const std::invalid_argument&) {
      // A name no quoted string can carry: the folder goes without a status
      // (and is checked in full).
    }
  }
  return commands;
}

Client::Listing Client::list_with_namespaces(const std::vector<std::string>& status_items,
                                             bool ask_namespace,
                                             const std::vector<std::string>& status_of) {
  return guarded([&] {
    const Capabilities& caps = capabilities();
    const bool modseq = offers_mod_sequences();
    const std::string items = status_item_list(status_items);
    std::string command = "LIST \"\" \"*\"";
    std::vector<std::string> returns;
    if (caps.has("SPECIAL-USE")) {
      returns.push_back("SPECIAL-USE");
    }
    if (!items.empty() && status_of.empty() && caps.has("LIST-STATUS")) {
      returns.push_back("STATUS " + items);
    }
    if (!returns.empty()) {
      command += " RETURN (";
      for (std::size_t i = 0; i < returns.size(); ++i) {
        command += (i ? " " : "") + returns[i];
      }
      command += ")";
    }
    // NAMESPACE goes out with LIST: a round trip less on every run. Their
    // untagged replies differ in kind, so one handler sorts them.
    const bool with_namespace = ask_namespace && caps.has("NAMESPACE");
    std::vector<std::string> commands;
    if (with_namespace) {
      commands.push_back("NAMESPACE");
    }
    // The STATUS commands go before the LIST: Dovecot 2.3 (Maildir) answers
    // a STATUS of a 100,000-message folder in 4 ms in a session that has
    // not listed yet, and in 160 ms after a LIST, as slowly as LIST-STATUS.
    const std::size_t first_status = commands.size();
    if (!items.empty()) {
      for (auto& c : status_commands(status_of, items)) {
        commands.push_back(std::move(c));
      }
    }
    const std::size_t list_index = commands.size();
    commands.push_back(command);
    Listing listing;
    std::optional<NamespaceData> reply;
    std::map<std::string, StatusData> statuses;
    std::size_t answered = 0;
    auto on_untagged = [&](const Response& r) {
      if (const auto* l = std::get_if<ListData>(&r)) {
        listing.mailboxes.push_back({*l, std::nullopt});
      } else if (const auto* st = std::get_if<StatusData>(&r)) {
        statuses[st->mailbox] = *st;
        if (!modseq) {
          statuses[st->mailbox].highestmodseq.reset();
        }
      } else if (const auto* n = std::get_if<NamespaceData>(&r); n && !reply) {
        reply = *n;
      }
    };
    // Tagged answers come in the order of the commands.
    auto on_done = [&](const StatusResponse& status) {
      std::size_t index = answered++;
      if (index >= first_status && index < list_index) {
        // A STATUS refused: the folder was deleted or renamed since the
        // last run, which the LIST shows.
        return true;
      }
      if (!with_namespace || index != 0) {
        return false;  // The LIST: a NO or BAD fails the listing.
      }
      if (status.status != StatusResponse::Status::Ok) {
        listing.namespace_refused = status;
        return true;
      }
      listing.namespaces = reply.value_or(NamespaceData{});
      return false;
    };
    try {
      run_pipelined(commands, on_untagged, on_done, status_of.empty() ? 0 : k_status_depth);
    } catch (const CommandFailed&) {
      throw;
    } catch (const util::Error& e) {
      if (with_namespace && answered == 0 && !usable()) {
        throw NamespaceUnreadable(e.what());
      }
      throw;
    }
    for (auto& m : listing.mailboxes) {
      auto it = statuses.find(m.list.mailbox);
      if (it != statuses.end()) {
        m.status = it->second;
      }
    }
    return listing;
  });
}

std::map<std::string, StatusData> Client::statuses(const std::vector<std::string>& mailboxes,
                                                   const std::vector<std::string>& status_items) {
  return guarded([&] {
    const bool modseq = offers_mod_sequences();
    std::map<std::string, StatusData> out;
    const std::string items = status_item_list(status_items);
    if (items.empty() || mailboxes.empty()) {
      return out;
    }
    std::set<std::string> asked(mailboxes.begin(), mailboxes.end());
    auto on_untagged = [&](const Response& r) {
      // Only the mailboxes asked for: a STATUS for another one is not an
      // answer to anything here.
      if (const auto* st = std::get_if<StatusData>(&r); st && asked.count(st->mailbox) != 0) {
        out[st->mailbox] = *st;
        if (!modseq) {
          out[st->mailbox].highestmodseq.reset();
        }
      }
    };
    run_pipelined(
        status_commands(mailboxes, items), on_untagged, [](const StatusResponse&) { return true; },
        k_status_depth);
    return out;
  });
}

std::optional<NamespaceData> Client::namespaces() {
  return guarded([&]() -> std::optional<NamespaceData> {
    if (!capabilities().has("NAMESPACE")) {
      return std::nullopt;
    }
    std::optional<NamespaceData> reply;
    run("NAMESPACE", [&](const Response& r) {
      if (const auto* n = std::get_if<NamespaceData>(&r); n && !reply) {
        reply = *n;
      }
    });
    return reply.value_or(NamespaceData{});
  });
}

MailboxInfo Client::open(const std::string& mailbox, OpenMode mode, const OpenPrefetch& prefetch) {
  return guarded([&] {
    MailboxInfo info;
    if (m_pending_open && (m_pending_open->mailbox != mailbox || m_pending_open->mode != mode)) {
      drop_pending_open();
    }
    // RFC 7162 §3.1: mod-sequences count only once CONDSTORE is advertised
    // (QRESYNC implies it, §3.2.3) and enabled, here by the SELECT
    // parameter. Cyrus with CONDSTORE switched off still sends
    // [HIGHESTMODSEQ n]; trusting it made every run send UNCHANGEDSINCE and
    // get NO.
    OpenBatch batch =
        m_pending_open ? std::move(*m_pending_open) : open_batch(mailbox, mode, prefetch);
    m_pending_open.reset();
    m_exists = 0;
    // Whatever happens below, the previous mailbox is no longer selected
    // (RFC 3501 §6.3.1), so its UIDVALIDITY must not vouch for any code.
    forget_selected();
    bool modseq = false;
    auto on_select = [&](const Response& r) {
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
            modseq = true;
            break;
          case ResponseCode::Kind::NoModSeq:
            info.highestmodseq = 0;
            modseq = false;
            break;
          case ResponseCode::Kind::PermanentFlags:
            info.permanent_flags = s->code->atoms;
            break;
          default:
            break;
        }
      }
    };
    StatusResponse done = read_open(batch, on_select);
    info.exists = m_exists;
    if (!batch.condstore || !modseq) {
      info.highestmodseq = 0;
    }
    info.read_only = done.code && done.code->kind == ResponseCode::Kind::ReadOnly;
    if (info.uidvalidity == 0) {
      throw Error(Scope::Folder, "the server opened mailbox \"" + mailbox +
                                     "\" without a UIDVALIDITY; roam cannot sync it safely");
    }
    m_selected_uidvalidity = info.uidvalidity;
    m_selected_mailbox = mailbox;
    m_permanent_flags = info.permanent_flags;
    m_selected_modseq = batch.condstore && modseq;
    if (!m_selected_modseq) {
      m_prefetched_changes.reset();  // CHANGEDSINCE meant nothing here.
    }
    return info;
  });
}

void Client::send_open(const std::string& mailbox, OpenMode mode, const OpenPrefetch& prefetch) {
  guarded([&] {
    if (m_pending_open) {
      // One is enough: a second would leave the first's answers to no one.
      throw Error(Scope::Fatal, "internal error: a second SELECT sent ahead of its open()");
    }
    OpenBatch batch = open_batch(mailbox, mode, prefetch);
    for (const auto& command : batch.commands) {
      batch.tags.push_back(send(command));
    }
    m_pending_open = std::move(batch);
  });
}

Client::OpenBatch Client::open_batch(const std::string& mailbox, OpenMode mode,
                                     const OpenPrefetch& prefetch) {
  OpenBatch batch;
  batch.mailbox = mailbox;
  batch.mode = mode;
  batch.prefetch = prefetch;
  batch.condstore = offers_mod_sequences();
  std::string command =
      (mode == OpenMode::Examine ? "EXAMINE " : "SELECT ") + quote_astring(mailbox);
  if (batch.condstore) {
    command += " (CONDSTORE)";
  }
  batch.commands.push_back(std::move(command));
  const Capabilities& caps = capabilities();
  batch.changes = prefetch.changes_since != 0 && caps.has("ESEARCH") && batch.condstore;
  if (batch.changes) {
    for (auto& c : detail::ChangesListing::commands(prefetch.changes_since, true)) {
      batch.commands.push_back(std::move(c));
    }
  }
  batch.headers_at = batch.commands.size();
  if (prefetch.headers_from != 0) {
    batch.commands.push_back("UID FETCH " + std::to_string(prefetch.headers_from) +
                             ":* (UID FLAGS RFC822.SIZE BODY.PEEK[HEADER])");
  }
  return batch;
}

StatusResponse Client::read_open(OpenBatch& batch, const UntaggedHandler& on_select) {
  const OpenPrefetch& prefetch = batch.prefetch;
  // `phase` is the index of the command whose tagged answer comes next.
  // Everything before the SELECT's is the SELECT's; after it, answers are
  // told apart by their kind, not by their place (see ChangesListing).
  std::size_t phase = 0;
  std::vector<StatusResponse> statuses;
  detail::ChangesListing listing;
  std::map<Uid, HeaderInfo> headers;
  auto on_untagged = [&](const Response& r) {
    if (phase == 0) {
      on_select(r);
      return;
    }
    const auto* f = std::get_if<FetchData>(&r);
    if (std::optional<HeaderInfo> header = f ? detail::header_info_of(*f) : std::nullopt) {
      // "n:*" names the last message even when its UID is below n.
      if (prefetch.headers_from != 0 && header->uid >= prefetch.headers_from) {
        headers[header->uid] = std::move(*header);
      }
    } else if (batch.changes) {
      listing.take(r);
    }
  };
  auto on_done = [&](const StatusResponse& status) {
    statuses.push_back(status);
    ++phase;
    return true;  // Judged below: only the SELECT's failure fails open().
  };
  if (batch.tags.empty()) {
    run_pipelined(batch.commands, on_untagged, on_done);
  } else {
    for (std::size_t i = 0; i < batch.tags.size(); ++i) {
      on_done(*read_until_tagged(batch.tags[i], detail::command_name(batch.commands[i]),
                                 on_untagged, false));
    }
  }
  auto ok = [&](std::size_t i) {
    return i < statuses.size() && statuses[i].status == StatusResponse::Status::Ok;
  };
  if (!ok(0)) {
    throw CommandFailed(detail::command_name(batch.commands[0]), statuses.at(0));
  }
  if (batch.changes && ok(1) && ok(2)) {
    if (auto c = listing.result(m_exists)) {
      m_prefetched_changes.emplace(prefetch.changes_since, std::move(*c));
    }
  }
  if (prefetch.headers_from != 0 && ok(batch.headers_at)) {
    m_prefetched_headers = std::move(headers);
  }
  return statuses.at(0);
}

void Client::drop_pending_open() {
  OpenBatch batch = std::move(*m_pending_open);
  m_pending_open.reset();
  for (std::size_t i = 0; i < batch.tags.size(); ++i) {
    read_until_tagged(batch.tags[i], detail::command_name(batch.commands[i]), {}, false);
  }
  // Whatever it selected (or, refused, deselected) is not what the caller
  // knows as selected.
  forget_selected();
}

void Client::forget_selected() {
  m_selected_mailbox.clear();
  m_selected_uidvalidity = 0;
  m_permanent_flags.clear();
  m_selected_modseq = false;
  m_prefetched_changes.reset();
  m_prefetched_headers.clear();
}

bool Client::ok_while_opening(std::string_view command) {
  for (std::string_view name : {"CREATE ", "LIST ", "STATUS ", "NAMESPACE", "NOOP"}) {
    if (command.substr(0, name.size()) == name) {
      return true;
    }
  }
  return false;
}

void Client::create(const std::string& mailbox) {
  guarded([&] {
    std::string command =
        "CREATE " + encoded(Scope::Folder, [&] { return quote_astring(mailbox); });
    try {
      run(command);
    } catch (const CommandFailed& e) {
      if (e.response().status == StatusResponse::Status::No && e.response().code &&
          e.response().code->kind == ResponseCode::Kind::AlreadyExists) {
        return;
      }
      throw;
    }
  });
}

void Client::notify_set(const std::vector<std::string>& mailboxes) {
  guarded([&] {
    if (mailboxes.empty()) {
      throw Error(Scope::Fatal, "internal error: NOTIFY SET without a mailbox");
    }
    std::string list;
    for (const auto& m : mailboxes) {
      list += (list.empty() ? "" : " ") + encoded(Scope::Folder, [&] { return quote_astring(m); });
    }
    // New messages, expunges and flag changes are what a sync picks up;
    // for mailboxes that are not selected the server tells them with a
    // STATUS response (RFC 5465 section 5).
    run("NOTIFY SET (mailboxes (" + list + ") (MessageNew MessageExpunge FlagChange))");
  });
}

}  // namespace roam::imap
