#pragma once

// Where an IMAP folder lives under the Maildir root. Folder names come from
// the server and are untrusted: this is a security boundary (mbsync's
// CVE-2021-20247 let a server write outside the Maildir with ".."). Every
// name is validated here before any part of it becomes a path, and the
// resulting path is checked to be under the root as well.
//
// Four layouts are supported (mbsync's SubFolders styles and OfflineIMAP's
// default local layout, so that a tree either tool left can be used as is):
//   verbatim   "A/B" -> <root>/A/B, "INBOX" -> <root>/INBOX
//   maildir++  "A/B" -> <root>/.A.B, "INBOX" -> <root>,
//              "INBOX/sub" -> <root>/.INBOX.sub (so it cannot collide with
//              a top-level folder "sub")
//   legacy     "A/B/C" -> <root>/A/.B/.C (mbsync's SubFolders Legacy: every
//              component after the first gets a leading '.'),
//              "INBOX" -> <root>/INBOX
//   flat       "A/B" -> <root>/A.B with a configurable separator (mbsync's
//              Flatten, OfflineIMAP's sep), "INBOX" -> <root>/INBOX,
//              "INBOX/sub" -> <root>/INBOX.sub
// Outside maildir++, INBOX may live elsewhere (mbsync's Inbox path; see
// Tree::inbox): then INBOX is that directory, and in verbatim and legacy
// its subfolders are below it as well ("INBOX/sub" -> <inbox>/sub or
// <inbox>/.sub), as mbsync puts them.
// "INBOX" is matched ASCII case-insensitively as the first component, as
// IMAP requires, and always spelled "INBOX" locally.

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace roam::maildir {

namespace fs = std::filesystem;

// How folders are arranged under the Maildir root.
enum class Layout { Verbatim, MaildirPlusPlus, Legacy, Flat };

// Returns "verbatim", "maildir++", "legacy" or "flat".
std::string_view to_string(Layout layout);

// Parses "verbatim", "maildir++", "legacy" or "flat" (as written in the
// configuration).
std::optional<Layout> parse_layout(std::string_view text);

// Whether a folder is the account's INBOX or another folder. A maildir++
// subfolder gets the empty "maildirfolder" marker file; INBOX does not.
enum class FolderRole { Inbox, Subfolder };

// A local folder tree: everything that decides where a folder lives. It is
// the one value every caller passes, so that the mapping from folder names
// to directories is computed here and nowhere else.
struct Tree {
  Tree() = default;
  explicit Tree(fs::path root_dir, Layout tree_layout = Layout::Verbatim, char flat_separator = '.',
                std::optional<fs::path> inbox_dir = std::nullopt)
      : root(std::move(root_dir)),
        layout(tree_layout),
        separator(flat_separator),
        inbox(std::move(inbox_dir)) {}

  // The Maildir root (`maildir`).
  fs::path root;
  Layout layout = Layout::Verbatim;
  // Layout::Flat: the character that joins a name's components into one
  // directory name (`flat_separator`). Never '/' or a control character.
  char separator = '.';
  // Where INBOX's Maildir lives instead of its layout's usual place
  // (`inbox`, mbsync's Inbox). Ignored in maildir++, where the root is
  // INBOX; tree_problem() refuses that combination.
  std::optional<fs::path> inbox;

  // The directory of INBOX.
  fs::path inbox_path() const;
  // The directories that folders live under: the root, and the inbox
  // path when it is set and not inside the root. A watch, an ownership
  // marker or an overlap check must cover each of them.
  std::vector<fs::path> tops() const;
};

// Why `tree` cannot be used, or nothing when it can: an inbox path with
// maildir++, an inbox path that is the root or holds it, one inside the
// root that passes through a cur/, new/ or tmp/ directory, or a
// separator
// that is '/' or a control character. The text names the configuration
// key and says how to fix it.
std::optional<std::string> tree_problem(const Tree& tree);

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
// anywhere in a component; in legacy as in verbatim; in flat a component
// starting with '.' or containing the separator, and a one-component name
// "cur", "new" or "tmp".
std::vector<std::string> split_folder_name(std::string_view name, std::optional<char> delimiter,
                                           const Tree& tree);

// The role of the folder with these components (as split_folder_name returns
// them).
FolderRole folder_role(const std::vector<std::string>& components);

// The directory of folder `name` in `tree`. Validates the name as
// split_folder_name() does and throws util::Error(Scope::Folder) if refused.
// The result is checked to lie under the root, or, for INBOX and (outside
// flat) its subfolders when an inbox path is set, under the inbox path; any
// other folder may not be the inbox path or lie inside it.
fs::path folder_path(const Tree& tree, std::string_view name, std::optional<char> delimiter);

// The same, for a name already split by split_folder_name().
fs::path folder_path(const Tree& tree, const std::vector<std::string>& components);

// The folders found under a Maildir root.
struct LocalFolders {
  // Folder names with '/' as the delimiter, sorted; "INBOX" for the inbox.
  std::vector<std::string> names;
  // Directories that look like folders but whose names roam refuses (or that
  // could not be read), with the reason, so that the caller can warn.
  std::vector<std::string> skipped;
};

// Lists the folders that exist in `tree`: in verbatim, every directory
// (below the root, not inside cur/, new/ or tmp/, not hidden) that contains
// cur/; in legacy the same, except that below the first level only
// directories starting with '.' are folders; in flat, every directory
// directly in the root (not hidden) that contains cur/; in maildir++, the
// root itself (INBOX) if it contains cur/ and every ".A.B" directory that
// contains cur/. With an inbox path, INBOX is that directory if it contains
// cur/, and in verbatim and legacy its subfolders are looked for below it;
// the inbox path is never listed under another name, even when it lies
// inside the root. Symbolic links to directories are followed, to a depth
// of k_max_list_depth. A missing root lists nothing. A directory is listed
// only if its name maps back to the same directory (so "inbox" in
// verbatim, which folder_path() would spell "INBOX", is skipped and
// reported).
LocalFolders list_local_folders(const Tree& tree);

// How deep list_local_folders() descends in the verbatim and legacy
// layouts; deeper trees (or symbolic-link loops) are reported as skipped.
inline constexpr int k_max_list_depth = 32;

// `text` with control characters, '\\' and bytes that are not printable
// shown as \xNN, for messages.
std::string escape_for_display(std::string_view text);

}  // namespace roam::maildir
