#pragma once

// Where an IMAP folder lives under the Maildir root. Folder names come from
// the server and are untrusted: this is a security boundary (mbsync's
// CVE-2021-20247 let a server write outside the Maildir with ".."). Every
// name is validated here before any part of it becomes a path, and the
// resulting path is checked to be under the root as well.
//
// Two layouts are supported:
//   verbatim   "A/B" -> <root>/A/B, "INBOX" -> <root>/INBOX
//   maildir++  "A/B" -> <root>/.A.B, "INBOX" -> <root>,
//              "INBOX/sub" -> <root>/.INBOX.sub (so it cannot collide with
//              a top-level folder "sub")
// "INBOX" is matched ASCII case-insensitively as the first component, as
// IMAP requires, and always spelled "INBOX" locally.

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace roam::maildir {

namespace fs = std::filesystem;

// How folders are arranged under the Maildir root.
enum class Layout { Verbatim, MaildirPlusPlus };

// Returns "verbatim" or "maildir++".
std::string_view to_string(Layout layout);

// Parses "verbatim" or "maildir++" (as written in the configuration).
std::optional<Layout> parse_layout(std::string_view text);

// Whether a folder is the account's INBOX or another folder. A maildir++
// subfolder gets the empty "maildirfolder" marker file; INBOX does not.
enum class FolderRole { Inbox, Subfolder };

// The longest folder name, in bytes, that roam accepts.
inline constexpr std::size_t k_max_folder_name = 1000;
// The longest single directory name, in bytes (the usual NAME_MAX).
inline constexpr std::size_t k_max_component = 255;

// Validates a folder name from the server and splits it into components on
// `delimiter` (the server's hierarchy delimiter; none means the name is one
// component). The first component is "INBOX" when it matches it
// case-insensitively. Throws util::Error(Scope::Folder) naming the folder,
// escaped for display, when the name is refused: empty names or components,
// "." and "..", control characters, '/' inside a component, names or
// components that are too long, and per layout: in verbatim a component
// starting with '.' or equal to "cur", "new" or "tmp"; in maildir++ a '.'
// anywhere in a component.
std::vector<std::string> split_folder_name(std::string_view name, std::optional<char> delimiter,
                                           Layout layout);

// The role of the folder with these components (as split_folder_name returns
// them).
FolderRole folder_role(const std::vector<std::string>& components);

// The directory of folder `name` under `root`. Validates the name as
// split_folder_name() does and throws util::Error(Scope::Folder) if refused.
fs::path folder_path(const fs::path& root, std::string_view name, std::optional<char> delimiter,
                     Layout layout);

// The same, for a name already split by split_folder_name().
fs::path folder_path(const fs::path& root, const std::vector<std::string>& components,
                     Layout layout);

// The folders found under a Maildir root.
struct LocalFolders {
  // Folder names with '/' as the delimiter, sorted; "INBOX" for the inbox.
  std::vector<std::string> names;
  // Directories that look like folders but whose names roam refuses (or that
  // could not be read), with the reason, so that the caller can warn.
  std::vector<std::string> skipped;
};

// Lists the folders that exist under `root`: in verbatim, every directory
// (below the root, not inside cur/, new/ or tmp/, not hidden) that contains
// cur/; in maildir++, the root itself (INBOX) if it contains cur/ and every
// ".A.B" directory that contains cur/. Symbolic links to directories are
// followed, to a depth of k_max_list_depth. A missing root lists nothing.
// A directory is listed only if its name maps back to the same directory
// (so "inbox" in verbatim, which folder_path() would spell "INBOX", is
// skipped and reported).
LocalFolders list_local_folders(const fs::path& root, Layout layout);

// How deep list_local_folders() descends in verbatim layout; deeper trees
// (or symbolic-link loops) are reported as skipped.
inline constexpr int k_max_list_depth = 32;

// `text` with control characters, '\\' and bytes that are not printable
// shown as \xNN, for messages.
std::string escape_for_display(std::string_view text);

}  // namespace roam::maildir
