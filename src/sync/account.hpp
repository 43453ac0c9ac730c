#pragma once

// The executor: it gathers what the planner needs (server listing, Maildir
// scan, state), asks the planner for a plan, and applies it, journaling the
// steps that could otherwise be done twice. The order of its steps is the
// crash-safety argument, so it is spelled out in docs/sync-semantics.md:
//
//   1. Local renames and deletions, then fsync of cur/ and new/.
//   2. Server flag changes (UID STORE, batched per flag), deletions
//      (\Deleted + UID EXPUNGE of exactly those UIDs) and moves (UID MOVE).
//   3. Uploads: each APPEND's UID is journaled as soon as it is known.
//   4. Download intents (UID -> chosen file name) appended to the journal
//      and fsynced, before any body is fetched; bodies streamed into tmp/,
//      fsynced, renamed into new/ or cur/; directories fsynced per batch.
//   5. The folder state written atomically; the journal removed.
//
// A run killed anywhere is resumed by the next one: journaled downloads are
// adopted if their file exists, journaled uploads by their UID, and a
// message that reached both sides without a record (an APPEND whose reply
// was lost, a move) is recognised by its content and paired instead of
// copied again. Flag changes and deletions are idempotent under the
// three-way merge. The state never names a file that is not durable.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "imap/client.hpp"
#include "maildir/layout.hpp"
#include "net/stream.hpp"
#include "sync/model.hpp"
#include "sync/planner.hpp"

namespace roam::sync {

// Where a dry run says what it would do, folder by folder. The sync layer
// prints nothing itself; the command line implements this.
class Reporter {
 public:
  virtual ~Reporter() = default;
  // A local folder the server lacks would be created there and filled.
  virtual void would_create(std::string_view folder, std::size_t messages) = 0;
  // The plan for a folder that a real run would apply.
  virtual void would_apply(std::string_view folder, const Plan& plan) = 0;
};

// Told how a run advances, for a progress display; the sync layer prints
// nothing itself. The folders of an account are synced side by side on
// several threads (`connections`), so every method may be called from any of
// them at once: an implementation must be thread-safe, and cheap, since it
// is called while a lane holds its connection. Messages are counted once
// they are in place (a download when its file is committed, an upload when
// the server took it), as in FolderReport; a dry run transfers nothing and
// reports only its folders.
class Progress {
 public:
  virtual ~Progress() = default;
  // The number of folders this run syncs, said once before the first.
  virtual void folders_planned(std::size_t /*total*/) {}
  // One of them is done (synced, failed or left for a stop).
  virtual void folder_done() {}
  // A message of `bytes` bytes (as received) was stored in the Maildir.
  virtual void downloaded(std::uint64_t /*bytes*/) {}
  // A message of `bytes` bytes (as sent, CRLF) was stored on the server.
  virtual void uploaded(std::uint64_t /*bytes*/) {}
};

struct AccountSettings {
  std::string name;
  std::string host;
  std::uint16_t port = 993;
  net::TlsMode tls = net::TlsMode::Implicit;
  net::TlsOptions tls_options;  // server_name defaults to host.
  bool allow_plaintext = false;
  std::string user;
  // Returns the password; called only when the server asks for it, so a
  // pass_cmd runs only when needed.
  std::function<std::string()> password;
  // Auto picks PLAIN or LOGIN; the OAuth mechanisms take the `password`
  // callback's result as the token.
  imap::AuthMechanism auth = imap::AuthMechanism::Auto;
  // The largest message body accepted from the server, in bytes
  // (imap::ReaderLimits::max_streamed_literal; `max_message_size`).
  std::uint64_t max_message_size = 1ull << 30;
  // Ask for COMPRESS=DEFLATE (RFC 4978) after login when the server offers
  // it (`compress`).
  bool compress = true;
  // Where the account's folders live locally (`maildir`, `layout`,
  // `flat_separator`, `inbox`).
  maildir::Tree tree;
  std::filesystem::path state_dir;
  // Selects folders by their local UTF-8 name (with the server's
  // delimiter, without the namespace prefix when it is stripped).
  std::function<bool(std::string_view name, std::optional<char> delimiter)> select_folder;
  Policy policy;
  // Strip the personal namespace prefix the server announces with
  // NAMESPACE from folder names (`use_namespace`; sync/folder_names.hpp).
  bool use_namespace = true;
  // Create folders that exist on one side only on the other (`create`).
  bool create_folders = true;
  std::chrono::seconds timeout{60};
  // The most connections a run opens to the server (`connections`): the
  // folders' first passes go over them at once. Extra connections are made
  // only when more than one folder has work, and one that fails (a server
  // limiting connections per user) leaves its share to the others.
  std::size_t connections = 4;
  bool dry_run = false;
  // Told what a dry run would do; may be null.
  Reporter* reporter = nullptr;
  // Told how the run advances; may be null (see Progress).
  Progress* progress = nullptr;
  // Opens the byte stream to the server in place of a TCP (and TLS)
  // connection to host:port. Empty in real use; the simulation
  // (tests/sim) puts its in-process server model here.
  std::function<std::unique_ptr<net::Stream>()> open_stream;
};

struct FolderReport {
  std::string name;
  std::size_t downloaded = 0;
  std::size_t flags_changed = 0;
  std::size_t deleted = 0;
  std::size_t uploaded = 0;
  std::size_t server_flags_changed = 0;
  std::size_t server_deleted = 0;
  std::size_t moved = 0;
  std::uint64_t bytes = 0;
  bool skipped_unchanged = false;
  // Skipped on the word of the account summary, without reading the
  // folder's state or listing its Maildir directories.
  bool skipped_by_summary = false;
  // The server's flags came as the changes since the last run (CONDSTORE
  // CHANGEDSINCE), not as a listing of every message.
  bool listed_changes = false;
  std::vector<std::string> notices;
  // Routine things said only with -v (pairs found by content, say).
  std::vector<std::string> details;
  // Messages or files that could not be handled (an unreadable file, an
  // upload the server refused): the folder synced otherwise, but the run
  // exits non-zero.
  std::vector<std::string> problems;
  std::string error;  // Empty when the folder synced.
};

struct AccountReport {
  std::string account;
  std::vector<FolderReport> folders;
  std::string error;  // An account-level failure (connection, login, lock).
  // What the user should know about the account as a whole, not about one
  // of its synced folders: a NAMESPACE reply roam cannot use, local
  // directories skipped as folders (a name roam refuses, one it cannot
  // read). They are not in `folders`, whose size is the folder count.
  std::vector<std::string> notices;
  double seconds = 0;
  // A dry run: the folder counts say what would have been done.
  bool dry_run = false;
  // The signal (SIGINT, SIGTERM) that stopped the run at a safe point, or
  // 0; folders not reached carry a notice saying so.
  int stopped_by = 0;

  bool ok() const;
};

// Syncs one account. Never throws for failures of the server, the Maildir or
// the state: they are in the report, ranked by scope (folder errors leave the
// other folders going). Throws util::Error(Scope::Fatal) only for bugs.
AccountReport sync_account(const AccountSettings& settings);

// A folder as `roam list` shows it.
struct ListedFolder {
  // UTF-8: the local name, or the server's for a folder outside the
  // personal namespace (never selected).
  std::string name;
  // The server's name, as sent on the wire (modified UTF-7, with the
  // namespace prefix).
  std::string mailbox;
  std::optional<char> delimiter;
  std::vector<std::string> attributes;
  bool selected = false;  // Matched by the account's folder patterns.
};

// Lists the account's server folders. Throws util::Error on failure.
std::vector<ListedFolder> list_account(const AccountSettings& settings);
// The same over a session the caller opened (open_session) and keeps.
std::vector<ListedFolder> list_account(const AccountSettings& settings, imap::Client& client);

// Opens an authenticated session as a sync does (TLS as configured, the
// password asked for only when the server wants it), for callers that
// keep a connection of their own, such as the IDLE connections of `roam
// watch`. Throws util::Error (Scope::Account) on failure.
std::unique_ptr<imap::Client> open_session(const AccountSettings& settings);

}  // namespace roam::sync
