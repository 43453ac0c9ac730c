#pragma once

// Reads an mbsync (isync 1.4, and the 1.5 spellings) configuration and sync
// state into the plan of import/plan.hpp. It only reads files: it never
// writes, renames or connects, and never runs PassCmd.
//
// One PlannedAccount per Channel that pairs an IMAPStore with a
// MaildirStore (either way round: Far/Near, or the old Master/Slave), named
// after it; channels on one Maildir tree are one account (roam keeps one
// account per tree) when roam can express them together. The folders are
// the ones mbsync has a sync state for. Of a state's pairs only
// the certain ones are planned (both UIDs set, no placeholder, no expiry,
// the Maildir's .uidvalidity as the state says); roam's first sync pairs
// the rest by content. What roam cannot carry over is a note that says what
// to do; a configuration that cannot be read, or a channel roam cannot
// express without moving files (a far folder synced into a local folder of
// another name), is a util::Error(Scope::Usage) that names the file and line.

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "import/plan.hpp"

namespace roam::import {

// Reads the mbsync configuration `rc` and the sync state it points to. An
// empty `channels` imports every Channel that pairs an IMAPStore with a
// MaildirStore; otherwise each name is a Channel or a Group (which selects
// its channels), and an unknown name, or a named channel that is not
// IMAP<->Maildir, is a Usage error.
std::vector<PlannedAccount> read_mbsync(const std::filesystem::path& rc,
                                        const std::vector<std::string>& channels);

// --- The pieces, for the tests ---

namespace mbsync {

// How a MaildirStore arranges subfolders (its SubFolders keyword).
enum class SubFolders { Unset, Verbatim, MaildirPlusPlus, Legacy };

// What of a MaildirStore decides where a folder's directory is.
struct MaildirPlace {
  // Path and Inbox as mbsync keeps them: "~" expanded, a trailing '/' kept
  // (mbsync prepends Path to folder names as text). Path may be empty.
  std::string path;
  std::string inbox;
  SubFolders style = SubFolders::Unset;
  // Flatten's delimiter; empty when the store does not flatten.
  std::string flatten;
};

// The directory mbsync 1.4.4 uses for canonical folder `box` ('/'-delimited;
// "INBOX" and "INBOX/..." are the inbox and its subfolders), as
// maildir_select_box and maildir_join_path compute it, after Flatten. Throws
// util::Error(Scope::Usage) where mbsync refuses the name (a subfolder
// without a SubFolders style, a '.' in a Maildir++ name, no Path).
std::string box_dir(const MaildirPlace& place, std::string_view box);

// A box name as it appears in a state file's name: '/' written as '!'.
std::string clean_box_name(std::string_view box);

// The name of a channel's state file for canonical box `box` (after the
// channel's box prefixes), as mbsync's prepare_state builds it:
//   SyncState *        -> <near folder dir>/.mbsyncstate
//   SyncState PREFIX   -> PREFIX + clean(near box)
//   global SyncState G -> G + D far D clean(far box) _ D near D clean(near box)
// where D is FieldDelimiter (':'). `near_dir` is only used for "*".
std::string state_file(std::string_view sync_state, bool channel_level, char delimiter,
                       std::string_view far_store, std::string_view far_box,
                       std::string_view near_store, std::string_view near_box,
                       std::string_view near_dir);

// One line of a state file's body: "FARUID NEARUID [<>][^~]FLAGS".
struct StateRecord {
  std::uint32_t far_uid = 0;
  std::uint32_t near_uid = 0;
  // '<' (placeholder on the far side) or '>' (on the near side), else 0.
  char placeholder = 0;
  // '^' (skipped) or '~' (expired; pre-1.3 'X'), else 0.
  char marker = 0;
  // The Maildir info letters of the flags both sides last agreed on.
  std::string flags;
  int line = 0;
};

struct State {
  // 0 when the header does not say (or says mbsync's "bad" value).
  std::uint32_t far_uidvalidity = 0;
  std::uint32_t near_uidvalidity = 0;
  std::uint32_t max_pulled_uid = 0;
  std::uint32_t max_pushed_uid = 0;
  std::vector<StateRecord> records;
};

// Parses a state file's text (1.4 "FarUidValidity" headers, the pre-1.4
// "Master"/"Slave" spellings and the pre-1.1 one-line header). Throws
// util::Error(Scope::Usage) naming `file` and the line for anything mbsync
// itself would refuse to load.
State parse_state(std::string_view text, const std::string& file);

}  // namespace mbsync

}  // namespace roam::import
