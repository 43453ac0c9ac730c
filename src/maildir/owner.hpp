#pragma once

// Which roam account a Maildir root belongs to. Two accounts that sync one
// Maildir copy each account's mail to the other's server, and a deletion
// on one server then deletes the other account's files; the configuration
// refuses two accounts of one file that share a root, but two configuration
// files (or a renamed account) can still meet in one. So the root carries a
// marker file naming its account, written by the first sync, and a sync of
// another account refuses the root.

#include <filesystem>
#include <string_view>

#include "maildir/layout.hpp"

namespace roam::maildir {

// The marker's name in the Maildir root. It starts with '.', and it is a
// file, so no layout takes it for a folder, and mail readers ignore it.
inline constexpr std::string_view k_account_marker = ".roam-account";

// Whether claim_root may write the marker (not in a dry run).
enum class MarkerWrite { Yes, No };

// Checks that the Maildir root `root` belongs to `account`: its marker names
// `account`, or it has no marker yet. Without a marker, and with
// MarkerWrite::Yes, writes the marker ("<account>\n") if the root exists (a
// run that failed before creating the root leaves nothing behind). Throws
// util::Error(Scope::Account) naming both accounts and how to fix it if the
// marker names another account, and naming the file if it cannot be read or
// written.
void claim_root(const std::filesystem::path& root, std::string_view account, MarkerWrite write);

// claim_root() for each of tree.tops(): the root, and an inbox path outside
// it, which another account could share as well (two accounts with one
// `inbox = ~/Maildir`).
void claim_tree(const Tree& tree, std::string_view account, MarkerWrite write);

}  // namespace roam::maildir
