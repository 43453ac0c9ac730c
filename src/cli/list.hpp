#pragma once

// What `roam list` prints for each folder: a '*' for the folders the
// account's patterns select, the name, and the folder's special use
// (RFC 6154) when the server's LIST names one. The marks are there so that
// a user sees why some folders are better left out: on Gmail, "[Gmail]/All
// Mail" (\All) holds every message of every other folder again, so syncing
// it doubles the Maildir.

#include <string>
#include <vector>

#include "sync/account.hpp"

namespace roam::cli {

// The special-use attributes among `attributes`, in RFC 6154 spelling
// (\All, \Archive, \Drafts, \Flagged, \Junk, \Sent, \Trash), in the order
// the server sent them. IMAP attributes are case-insensitive, and other
// attributes (\HasChildren, \Marked) are left out.
std::vector<std::string> special_uses(const std::vector<std::string>& attributes);

// One line of `roam list`, without the newline: "* INBOX", "  Trash  \Trash",
// and for a selected \All folder a hint naming the `folders` pattern that
// excludes it.
std::string list_line(const sync::ListedFolder& folder);

}  // namespace roam::cli
