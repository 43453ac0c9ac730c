// imap::Client, reading messages: flag listings, headers and bodies
// (UID FETCH, RFC 3501 §6.4.5, §6.4.8; CONDSTORE, RFC 7162 §3.1).

#include "imap/client.hpp"

#include <algorithm>
#include <iterator>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "imap/client_internal.hpp"
#include "imap/encode.hpp"
#include "util/error.hpp"

namespace roam::imap {

using util::Error;
using util::Scope;

using detail::latest_per_uid;
using detail::sorted_uids;

std::vector<MessageFlags> Client::fetch_flags(ModSeq changedsince) {
  return guarded([&] {
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
    return latest_per_uid(std::move(out));
  });
}

namespace detail {

std::vector<MessageFlags> latest_per_uid(std::vector<MessageFlags> reports) {
  std::stable_sort(reports.begin(), reports.end(),
                   [](const auto& a, const auto& b) { return a.uid < b.uid; });
  std::vector<MessageFlags> unique;
  unique.reserve(reports.size());
  for (auto& m : reports) {
    if (!unique.empty() && unique.back().uid == m.uid) {
      unique.back() = std::move(m);
    } else {
      unique.push_back(std::move(m));
    }
  }
  return unique;
}

std::optional<HeaderInfo> header_info_of(const FetchData& fetch) {
  auto header =
      std::find_if(fetch.sections.begin(), fetch.sections.end(),
                   [](const BodySection& s) { return s.section == "HEADER" && !s.origin; });
  if (!fetch.uid || header == fetch.sections.end()) {
    return std::nullopt;
  }
  HeaderInfo info;
  info.uid = *fetch.uid;
  if (fetch.flags) {
    info.flags = *fetch.flags;
  }
  if (fetch.rfc822_size) {
    info.rfc822_size = *fetch.rfc822_size;
  }
  info.header = header->nil ? std::string() : header->data;
  return info;
}

std::vector<std::string> ChangesListing::commands(ModSeq since, bool esearch) {
  return {"UID FETCH 1:* (UID FLAGS) (CHANGEDSINCE " + std::to_string(since) + ")",
          esearch ? "UID SEARCH RETURN (ALL) ALL" : "UID SEARCH ALL"};
}

void ChangesListing::take(const Response& r) {
  if (const auto* f = std::get_if<FetchData>(&r)) {
    if (f->uid && f->flags) {
      m_changed.push_back({*f->uid, *f->flags, f->modseq.value_or(0)});
    }
  } else if (const auto* s = std::get_if<SearchData>(&r)) {
    m_listed.insert(m_listed.end(), s->numbers.begin(), s->numbers.end());
    m_searched = true;
  } else if (const auto* e = std::get_if<ESearchData>(&r)) {
    // RFC 4731 §3.1: an ESEARCH without ALL means no message matched.
    if (e->uid) {
      m_found = e->all;
      m_searched = true;
    }
  }
}

std::optional<MailboxChanges> ChangesListing::result(std::uint32_t exists) {
  if (!m_searched) {
    return std::nullopt;
  }
  if (m_found) {
    try {
      m_listed = expand(*m_found, std::size_t{exists} * 2 + 1000);
    } catch (const std::invalid_argument&) {
      return std::nullopt;  // '*', 0, or far more UIDs than messages.
    }
  }
  // A 0 is no UID (the parser lets it through in a plain SEARCH).
  std::erase(m_listed, Uid{0});
  MailboxChanges out;
  out.uids = sorted_uids(m_listed);
  out.changed = latest_per_uid(std::move(m_changed));
  return out;
}

}  // namespace detail

std::optional<MailboxChanges> Client::list_changes(ModSeq changedsince) {
  return guarded([&]() -> std::optional<MailboxChanges> {
    if (m_prefetched_changes && m_prefetched_changes->first == changedsince) {
      MailboxChanges out = std::move(m_prefetched_changes->second);
      m_prefetched_changes.reset();
      return out;
    }
    if (!m_selected_modseq || changedsince == 0) {
      return std::nullopt;
    }
    MailboxChanges out;
    if (m_exists == 0) {
      return out;
    }
    bool esearch = m_caps.has("ESEARCH");
    // A plain SEARCH answers on one line, about 8 octets per message.
    if (!esearch && std::uint64_t{m_exists} * 11 > m_options.limits.max_line) {
      return std::nullopt;
    }
    detail::ChangesListing listing;
    run_pipelined(detail::ChangesListing::commands(changedsince, esearch),
                  [&](const Response& r) { listing.take(r); });
    return listing.result(m_exists);
  });
}

std::vector<MessageFlags> Client::fetch_flags_for(const std::vector<Uid>& uids) {
  return guarded([&] {
    std::vector<Uid> wanted = sorted_uids(uids);
    std::vector<MessageFlags> out;
    if (wanted.empty()) {
      return out;
    }
    std::string prefix = "UID FETCH ";
    std::string suffix = m_selected_modseq ? " (UID FLAGS MODSEQ)" : " (UID FLAGS)";
    std::vector<std::string> commands = uid_commands(wanted, prefix, suffix);
    out.reserve(wanted.size());
    run_pipelined(commands, [&](const Response& r) {
      if (const auto* f = std::get_if<FetchData>(&r)) {
        // A FETCH without UID cannot be attributed (see fetch_flags()); one
        // for a UID not asked about is an unsolicited update of another message.
        if (f->uid && f->flags && std::binary_search(wanted.begin(), wanted.end(), *f->uid)) {
          out.push_back({*f->uid, *f->flags, f->modseq.value_or(0)});
        }
      }
    });
    return latest_per_uid(std::move(out));
  });
}

std::vector<HeaderInfo> Client::fetch_headers_with(const std::vector<std::string>& sets,
                                                   const std::vector<Uid>* wanted) {
  const std::string prefix = "UID FETCH ";
  const std::string suffix = " (UID FLAGS RFC822.SIZE BODY.PEEK[HEADER])";
  std::vector<std::string> commands;
  for (const auto& set : sets) {
    commands.push_back(prefix + set + suffix);
  }
  std::map<Uid, HeaderInfo> found;
  run_pipelined(commands, [&](const Response& r) {
    const auto* f = std::get_if<FetchData>(&r);
    if (f == nullptr || !f->uid) {
      return;
    }
    if (wanted != nullptr && !std::binary_search(wanted->begin(), wanted->end(), *f->uid)) {
      return;
    }
    std::optional<HeaderInfo> header = detail::header_info_of(*f);
    auto it = found.find(*f->uid);
    if (!header) {
      // An unsolicited flag update: newer flags for a message already seen.
      if (it != found.end() && f->flags) {
        it->second.flags = *f->flags;
      }
      return;
    }
    found[*f->uid] = std::move(*header);
  });
  std::vector<HeaderInfo> out;
  out.reserve(found.size());
  for (auto& [uid, info] : found) {
    out.push_back(std::move(info));
  }
  return out;
}

std::vector<HeaderInfo> Client::fetch_headers(const std::vector<Uid>& uids) {
  return guarded([&]() -> std::vector<HeaderInfo> {
    std::vector<Uid> wanted;
    std::vector<HeaderInfo> out;
    // Headers that open() prefetched are not asked for again.
    for (Uid uid : sorted_uids(uids)) {
      auto it = m_prefetched_headers.find(uid);
      if (it != m_prefetched_headers.end()) {
        out.push_back(it->second);
      } else {
        wanted.push_back(uid);
      }
    }
    if (wanted.empty()) {
      return out;
    }
    std::vector<std::string> sets =
        split_uid_sets(wanted, std::string_view("UID FETCH ").size(),
                       std::string_view(" (UID FLAGS RFC822.SIZE BODY.PEEK[HEADER])").size());
    std::vector<HeaderInfo> fetched = fetch_headers_with(sets, &wanted);
    if (out.empty()) {
      return fetched;
    }
    out.insert(out.end(), std::make_move_iterator(fetched.begin()),
               std::make_move_iterator(fetched.end()));
    std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.uid < b.uid; });
    return out;
  });
}

std::vector<HeaderInfo> Client::fetch_all_headers() {
  return guarded([&]() -> std::vector<HeaderInfo> {
    if (m_exists == 0) {
      return {};
    }
    return fetch_headers_with({"1:*"}, nullptr);
  });
}

void Client::fetch_bodies(const std::vector<Uid>& uids,
                          const std::function<LiteralSink*()>& sink_for,
                          const std::function<void(const FetchData&)>& done,
                          const std::function<void()>& after_batch) {
  guarded([&] {
    std::vector<std::string> commands;
    const std::size_t per_command = std::max<std::size_t>(1, m_options.fetch_batch);
    for (std::size_t i = 0; i < uids.size(); i += per_command) {
      std::size_t end = std::min(uids.size(), i + per_command);
      std::vector<std::uint32_t> batch(uids.begin() + static_cast<std::ptrdiff_t>(i),
                                       uids.begin() + static_cast<std::ptrdiff_t>(end));
      std::sort(batch.begin(), batch.end());
      commands.push_back("UID FETCH " + format_set(batch) +
                         " (UID FLAGS INTERNALDATE BODY.PEEK[])");
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
      if (m_deferred) {
        // This body, or one before it, did not reach its sink whole: the
        // call is failing, and the caller must not commit a broken copy.
        return;
      }
      done(*f);
    };

    // Every completed FETCH, failed or not, ends a batch: the bodies it
    // delivered are whole and may be made durable while the commands still
    // in flight are read (and before a failure is thrown).
    run_pipelined(commands, on_untagged, [&](const StatusResponse&) {
      if (after_batch) {
        after_batch();
      }
      return false;
    });
  });
}

}  // namespace roam::imap
