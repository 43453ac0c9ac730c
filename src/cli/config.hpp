#pragma once

// The configuration file: an INI file with one [account.NAME] section per
// account (see sample.conf for every key). This is the only module that reads
// configuration; the layers below get typed values.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "imap/client.hpp"
#include "maildir/layout.hpp"
#include "net/stream.hpp"
#include "sync/model.hpp"

namespace roam::cli {

// One [account.NAME] section, with defaults filled in and paths expanded.
struct AccountConfig {
  // The NAME of [account.NAME], [A-Za-z0-9._-]+.
  std::string name;
  // Where the section starts, for messages about the account.
  std::filesystem::path config_file;
  int line = 0;

  std::string host;
  // 993 for net::TlsMode::Implicit, 143 otherwise, unless set.
  std::uint16_t port = 993;
  net::TlsMode tls = net::TlsMode::Implicit;
  std::string user;
  // Exactly one of password and pass_cmd is set; use resolve_password.
  std::string password;
  std::string pass_cmd;

  // Absolute, "~" expanded.
  std::filesystem::path maildir;
  // Absolute, "~" expanded, never inside maildir. Defaults to
  // $XDG_STATE_HOME/roam/NAME, else ~/.local/state/roam/NAME.
  std::filesystem::path state_dir;
  maildir::Layout layout = maildir::Layout::Verbatim;
  // layout = flat: what joins a name's components (`flat_separator`).
  char flat_separator = '.';
  // INBOX's Maildir when it is not where the layout puts it (`inbox`);
  // absolute, "~" expanded. Never with maildir++.
  std::optional<std::filesystem::path> inbox;
  // Folder patterns for folder_selected, in file order.
  std::vector<std::string> folders{"*"};
  sync::Direction sync = sync::Direction::Both;
  // Whether deletions are propagated.
  bool expunge = true;
  // Whether missing folders are created on the other side.
  bool create = true;
  // Whether the server's personal namespace prefix ("INBOX.") is stripped
  // from local folder names (`use_namespace`, as mbsync's UseNamespace).
  bool use_namespace = true;

  // Extra CA certificates (PEM) to trust; empty = system store only.
  std::filesystem::path ca_file;
  // A pinned server certificate: 64 lower-case hex digits of its SHA-256
  // (written "sha256:HEX" in the file, colons allowed); empty = none.
  std::string cert_fingerprint_sha256;
  // Whether credentials may travel unencrypted (required for tls = none).
  bool allow_plaintext = false;
  imap::AuthMechanism auth = imap::AuthMechanism::Auto;
  // Whether COMPRESS=DEFLATE is used when the server offers it: always,
  // never, or (Auto) unless the host is on loopback, where there is no
  // network for it to save and only the server's CPU time to spend.
  enum class Compress { Auto, Yes, No };
  Compress compress = Compress::Auto;
  // Network timeout.
  std::chrono::seconds timeout{60};
  // The most connections a run opens to the server at once.
  std::size_t connections = 4;
  // roam watch: the folders (patterns, as `folders`) kept open with IDLE,
  // and how often all folders are synced in full.
  std::vector<std::string> watch{"INBOX"};
  std::chrono::seconds watch_interval{15 * 60};
  // The mass-deletion guard: a run that would delete more than this share
  // of a folder's messages on either side deletes nothing there unless
  // --force is given. 100 turns the guard off.
  int max_delete_percent = 50;
  // The largest message roam accepts from the server, in bytes; a larger
  // one ends the account's run (a hostile server could announce any size).
  std::uint64_t max_message_size = 1ull << 30;
  // Shell commands run before and after each sync of the account (empty =
  // none), with /bin/sh -c and bounded by `timeout`; see cli/hooks.hpp.
  std::string pre_sync_cmd;
  std::string post_sync_cmd;

  // The local folder tree these keys describe.
  maildir::Tree tree() const;
};

// A whole configuration file.
struct Config {
  std::filesystem::path path;
  // In file order; names are unique.
  std::vector<AccountConfig> accounts;

  // The account called `name`, or nullptr.
  const AccountConfig* find_account(std::string_view name) const;
  // The accounts a command names, in the order named, or all of them in
  // file order when `names` is empty. Throws util::Error(Scope::Usage) for
  // a name the file does not have.
  std::vector<const AccountConfig*> accounts_named(const std::vector<std::string>& names) const;
};

// Reads and checks the configuration file at `path`. Throws
// util::Error(Scope::Usage) naming the file and line and saying what is
// allowed for: unknown keys or sections, bad values, duplicate keys or
// sections, keys outside a section, missing required keys (host, user,
// maildir, and one of password / pass_cmd), a state_dir inside the maildir,
// tls = none without allow_plaintext = yes, or no account at all. Warns
// (ROAM_WARN) when the file holds a password and group or others can read it.
Config load_config(const std::filesystem::path& path);

// $XDG_CONFIG_HOME/roam/config, else ~/.config/roam/config.
std::filesystem::path default_config_path();

// $XDG_CONFIG_HOME when it is an absolute path (the XDG spec says to ignore
// a relative one), else ~/.config; also where other tools keep theirs.
std::filesystem::path xdg_config_home();

// Returns the account's password, running pass_cmd through /bin/sh -c if
// that is how it is configured (the first line of its output, without the
// line end). The command's stdin and stderr are the terminal's, so it can
// ask for a passphrase (its process group gets the terminal while it runs).
// It runs in a process group of its own (util::run_subprocess), bounded by
// the account's timeout: when that runs out, or when roam dies, the whole
// group is killed, so that a hanging command never outlives roam. Throws
// util::Error(Scope::Account) naming the account and the pass_cmd key (never the command's output)
// if the command cannot run, fails, times out or prints nothing.
std::string resolve_password(const AccountConfig& account);

// Whether `folder` is selected by `patterns` (mbsync semantics): "*" matches
// any run of characters, "%" any run without `delimiter`, a leading "!"
// excludes, and the last pattern that matches decides. No match = not
// selected. "INBOX" is matched case-insensitively, as IMAP defines it.
bool folder_selected(const std::vector<std::string>& patterns, std::string_view folder,
                     char delimiter);

}  // namespace roam::cli
