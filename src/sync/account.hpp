#pragma once

// The executor: it gathers what the planner needs (server listing, Maildir
// scan, state), asks the planner for a plan, and applies it, journaling the
// steps that could otherwise be done twice. The order of its steps is the
// crash-safety argument, so it is spelled out in docs/sync-semantics.md:
//
//   1. Local renames and deletions, then fsync of cur/ and new/.
//   2. Download intents (UID -> chosen file name) appended to the journal
//      and fsynced, before any body is fetched.
//   3. Bodies streamed into tmp/, fsynced, renamed into new/ or cur/; the
//      directories fsynced once per batch.
//   4. The folder state written atomically; the journal removed.
//
// A run killed anywhere leaves at worst a journal whose intents the next run
// resolves by looking for the named files: a file that exists is adopted,
// one that does not is downloaded again. Nothing is downloaded twice into
// the Maildir, and the state never names a file that is not durable.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "maildir/layout.hpp"
#include "net/stream.hpp"
#include "sync/model.hpp"

namespace roam::sync {

enum class TlsMode { Implicit, StartTls, None };

struct AccountSettings {
  std::string name;
  std::string host;
  std::uint16_t port = 993;
  TlsMode tls = TlsMode::Implicit;
  net::TlsOptions tls_options;  // server_name defaults to host.
  bool allow_plaintext = false;
  std::string user;
  // Returns the password; called only when the server asks for it, so a
  // pass_cmd runs only when needed.
  std::function<std::string()> password;
  std::filesystem::path maildir;
  std::filesystem::path state_dir;
  maildir::Layout layout = maildir::Layout::Verbatim;
  // Selects folders by their UTF-8 name (with the server's delimiter).
  std::function<bool(std::string_view name, std::optional<char> delimiter)> select_folder;
  Policy policy;
  std::chrono::seconds timeout{60};
  bool dry_run = false;
};

struct FolderReport {
  std::string name;
  std::size_t downloaded = 0;
  std::size_t flags_changed = 0;
  std::size_t deleted = 0;
  std::uint64_t bytes = 0;
  bool skipped_unchanged = false;
  std::vector<std::string> notices;
  std::string error;  // Empty when the folder synced.
};

struct AccountReport {
  std::string account;
  std::vector<FolderReport> folders;
  std::string error;  // An account-level failure (connection, login, lock).
  double seconds = 0;

  bool ok() const;
};

// Syncs one account. Never throws for failures of the server, the Maildir or
// the state: they are in the report, ranked by scope (folder errors leave the
// other folders going). Throws util::Error(Scope::Fatal) only for bugs.
AccountReport sync_account(const AccountSettings& settings);

// A folder as `roam list` shows it.
struct ListedFolder {
  std::string name;  // UTF-8.
  std::optional<char> delimiter;
  std::vector<std::string> attributes;
  bool selected = false;  // Matched by the account's folder patterns.
};

// Lists the account's server folders. Throws util::Error on failure.
std::vector<ListedFolder> list_account(const AccountSettings& settings);

}  // namespace roam::sync
