#pragma once

// Server mailbox names and local folder names (issue #8). A server whose
// personal namespace (RFC 2342) has a prefix, as Courier's and Debian's
// Cyrus's "INBOX." do, lists every folder of the user under it ("INBOX.Lists",
// "INBOX.Lists.dev"). As mbsync does, roam strips the prefix for the local
// name ("Lists", "Lists.dev" with the server's delimiter, so the folder
// Lists/dev on disk) and puts it back on every name it sends. INBOX keeps its
// name. With the prefix "" (Dovecot, Cyrus with altnamespace) every name
// maps to itself, as before.
//
// The prefix comes from the server and is used only to compare with and to
// prepend to server names, never as a path: a local name made by stripping
// still goes through maildir::split_folder_name before it becomes one.
// Everything here is pure; tests/unit/sync/folder_names_test.cpp has the
// tables.

#include <cstddef>
#include <optional>
#include <string>

#include "imap/response.hpp"

namespace roam::sync {

// The longest namespace prefix roam strips, in octets. Real prefixes are a
// few characters ("INBOX.", "#mh/"); a longer one is a broken or hostile
// reply, and roam then keeps the server's names as they are.
inline constexpr std::size_t k_max_namespace_prefix = 255;

// A mailbox name as sent (modified UTF-7) decoded to UTF-8. A name that is
// not valid modified UTF-7 is returned as sent; the layout validation
// decides whether it can become a path.
std::string decode_mailbox_name(const std::string& wire);

// Why a server mailbox has no local name while the prefix is stripped.
enum class Unmapped {
  OutsideNamespace,  // Another user's or a shared folder: not the user's own.
  PrefixItself,      // The name is the prefix alone ("INBOX.").
  WouldBeInbox,      // "INBOX.INBOX": stripped, it would stand for INBOX.
};

// What the reason means, for messages: "it is outside the personal
// namespace".
std::string to_string(Unmapped why);

// The mapping between the server's names and the local ones.
class FolderNames {
 public:
  // No prefix: every name maps to itself (decoded from modified UTF-7).
  FolderNames() = default;
  // Strips `wire_prefix` (as NAMESPACE sent it; non-empty, ending in
  // `delimiter`, as choose_namespace() checks).
  FolderNames(std::string wire_prefix, char delimiter);

  // The prefix as the server sends it; empty when nothing is stripped.
  const std::string& prefix() const { return m_prefix; }
  bool strips() const { return !m_prefix.empty(); }
  // The namespace's delimiter; meaningful only when strips().
  char delimiter() const { return m_delimiter; }

  // The local name (UTF-8, with the server's delimiter) of the server
  // mailbox `wire`: INBOX stays INBOX, "INBOX.Lists" becomes "Lists". Nothing
  // when the mailbox has no local name while the prefix is stripped: it is
  // outside the personal namespace (another user's or a shared folder), it
  // is the prefix alone, or it would become "INBOX" ("INBOX.INBOX") and
  // stand for the real INBOX. `why`, when given, then says which.
  std::optional<std::string> local_name(const std::string& wire, Unmapped* why = nullptr) const;

  // The server's name (modified UTF-7) of the local folder `local` (UTF-8,
  // with the server's delimiter): INBOX stays INBOX, "Lists" becomes
  // "INBOX.Lists". Nothing when `local` cannot be encoded (invalid UTF-8,
  // NUL). local_name(*wire_name(x)) == x for every other name.
  std::optional<std::string> wire_name(const std::string& local) const;

 private:
  std::string m_prefix;
  char m_delimiter = '/';
};

// What roam makes of the server's NAMESPACE reply.
struct NamespaceChoice {
  FolderNames names;
  // Empty, or why the reply cannot be used, for the user: the names are then
  // kept as the server lists them (as with `use_namespace = no`).
  std::string notice;
};

// Takes the first personal namespace of `reply` (nullopt: the server does
// not offer NAMESPACE, so nothing is stripped). Its prefix is stripped only
// if it is at most k_max_namespace_prefix octets of printable characters and
// ends in the namespace's delimiter (RFC 2342 §5 "the prefix ... includes
// the hierarchy delimiter"); otherwise nothing is stripped and the notice
// says why. The prefix "" and an empty personal list strip nothing and say
// nothing.
NamespaceChoice choose_namespace(const std::optional<imap::NamespaceData>& reply);

}  // namespace roam::sync
