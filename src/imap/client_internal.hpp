#pragma once

// Helpers shared by the files that implement imap::Client (session.cpp,
// sasl.cpp, mailbox.cpp, fetch.cpp, write.cpp). Not part of the layer's
// interface: only those files include it.

#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "imap/client.hpp"
#include "imap/response.hpp"
#include "util/error.hpp"

namespace roam::imap::detail {

// `s` in upper case (ASCII).
std::string upper(std::string_view s);

// The command name for messages and the redacted trace: "LOGIN", "UID FETCH".
std::string command_name(std::string_view command);

// A status response for messages: "NO [TRYCREATE] no such mailbox".
std::string describe(const StatusResponse& r);

// Sorted, deduplicated copy of `uids`; UID 0 does not exist (RFC 3501
// §2.3.1.1), so one here is a caller's placeholder that must not be sent.
std::vector<Uid> sorted_uids(const std::vector<Uid>& uids);

// Sorts flag reports by UID and keeps the last report for each: a message
// can be reported twice (a solicited and an unsolicited FETCH), and the
// later report is the newer one.
std::vector<MessageFlags> latest_per_uid(std::vector<MessageFlags> reports);

// The header of a FETCH that carries BODY[HEADER] and a UID, as HeaderInfo;
// nullopt for any other FETCH (an unsolicited flag update, say).
std::optional<HeaderInfo> header_info_of(const FetchData& fetch);

// The listing of changes since a mod-sequence (Client::list_changes()):
// its two commands, and what their answers say. list_changes() sends them
// alone, open() behind its SELECT (OpenPrefetch); both feed every untagged
// answer after the SELECT's to take(), which tells them apart by kind (the
// order is the server's: Dovecot sends the ESEARCH before the tagged OK of
// the FETCH ahead of it).
class ChangesListing {
 public:
  // UID FETCH 1:* (UID FLAGS) (CHANGEDSINCE n), then UID SEARCH RETURN
  // (ALL) ALL with ESEARCH (RFC 4731: a compact set) or UID SEARCH ALL.
  static std::vector<std::string> commands(ModSeq since, bool esearch);

  // A FETCH with UID and FLAGS (the answer, or a newer unsolicited
  // update), a SEARCH, or an ESEARCH with UID; anything else is ignored.
  void take(const Response& response);

  // What the answers said in a mailbox of `exists` messages; nullopt when
  // no search answer came or its set cannot be the mailbox's UIDs ('*', or
  // far more members than messages).
  std::optional<MailboxChanges> result(std::uint32_t exists);

 private:
  std::vector<MessageFlags> m_changed;
  std::vector<Uid> m_listed;         // From a plain SEARCH.
  std::optional<NumberSet> m_found;  // From an ESEARCH ALL.
  bool m_searched = false;
};

// Converts std::invalid_argument from the encoders (a name or flag that no
// IMAP syntax can carry) into an error of the given scope.
template <typename F>
auto encoded(util::Scope scope, F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const std::invalid_argument& e) {
    throw util::Error(scope, e.what());
  }
}

}  // namespace roam::imap::detail
