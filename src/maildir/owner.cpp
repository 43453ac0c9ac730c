#include "maildir/owner.hpp"

#include <string>
#include <system_error>

#include "util/error.hpp"
#include "util/fs.hpp"

namespace roam::maildir {

namespace fs = std::filesystem;
using util::Error;
using util::Scope;

void claim_root(const fs::path& root, std::string_view account, MarkerWrite write) {
  const fs::path marker = root / k_account_marker;
  std::error_code ec;
  const bool exists = fs::exists(fs::symlink_status(marker, ec));
  if (ec && ec != std::errc::no_such_file_or_directory) {
    throw Error(Scope::Account, "cannot examine " + marker.string() + ": " + ec.message());
  }
  if (exists) {
    std::string text;
    try {
      text = util::read_file(marker);
    } catch (const Error& e) {
      throw Error(Scope::Account, e.what());
    }
    std::string owner = text.substr(0, text.find('\n'));
    if (!owner.empty() && owner.back() == '\r') {
      owner.pop_back();
    }
    if (owner == account) {
      return;
    }
    throw Error(Scope::Account,
                "the Maildir " + root.string() + " belongs to account \"" + owner + "\" (" +
                    marker.string() + " says so), not to account \"" + std::string(account) +
                    "\"; two accounts syncing one Maildir copy each other's mail to both "
                    "servers. Give account \"" +
                    std::string(account) +
                    "\" a maildir of its own; only if this Maildir really is its now (the "
                    "account was renamed, or \"" +
                    owner + "\" no longer syncs here), remove " + marker.string());
  }
  if (write == MarkerWrite::No || !fs::is_directory(root, ec)) {
    return;
  }
  try {
    util::write_file_atomic(marker, std::string(account) + "\n", 0600);
  } catch (const Error& e) {
    throw Error(Scope::Account, std::string(e.what()) +
                                    " (roam marks the Maildir root with the "
                                    "account that syncs it)");
  }
}

void claim_tree(const Tree& tree, std::string_view account, MarkerWrite write) {
  for (const fs::path& top : tree.tops()) {
    claim_root(top, account, write);
  }
}

}  // namespace roam::maildir
