#pragma once

// What `roam import` learns from another tool's configuration and sync
// state, in one shape for every tool it reads (mbsync, OfflineIMAP). A
// reader (import/mbsync.hpp, import/offlineimap.hpp) only reads files and
// never writes or connects; turning a plan into roam's configuration and
// state is import/build.hpp's job, and the cli's (which checks the plan
// against the server first).
//
// The old tools name messages by UIDs they put into the Maildir file names
// (",U=<n>"). mbsync's are its own local UIDs, which its state pairs with
// server UIDs; OfflineIMAP's are the server UIDs themselves. Either way a
// plan maps "the number in a file name" to "the server UID and the flags
// both sides last agreed on", and the file names themselves are never
// changed (roam ignores the ",U=" part).

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace roam::import {

namespace fs = std::filesystem;

// One message the old tool had in sync on both sides.
struct ImportedPair {
  // The server UID (valid under PlannedFolder::uidvalidity). Never 0.
  std::uint32_t server_uid = 0;
  // The IMAP flags both sides last agreed on ("\\Seen", "$Forwarded", ...),
  // the base of the next three-way merge. Not the file's current flags: a
  // change the user made since the old tool's last run must still be seen
  // as a change by roam's first run.
  std::vector<std::string> flags;
};

// One folder the old tool synced.
struct PlannedFolder {
  // The folder's name as the old tool knew it on the server side, with '/'
  // as the hierarchy delimiter and the personal namespace prefix removed
  // (as mbsync's UseNamespace does); "INBOX" for the inbox. The cli matches
  // it against the server's LIST to find roam's name for it.
  std::string name;
  // The Maildir folder directory (holding cur/, new/, tmp/).
  fs::path dir;
  // The server's UIDVALIDITY that the UIDs below belong to; 0 when the old
  // tool's state does not say (then nothing of the folder is imported and
  // roam's first run pairs its messages by content).
  std::uint32_t uidvalidity = 0;
  // The first server UID the old tool had not yet seen (mbsync: MaxPulledUid
  // + 1); 0 when unknown (the builder then uses the highest paired UID + 1).
  std::uint32_t uidnext = 0;
  // The number after ",U=" in a file name -> the message it is.
  std::map<std::uint32_t, ImportedPair> by_file_uid;
  // OfflineIMAP: a file's ",FMD5=<hex>" must equal this (the MD5 of the
  // folder's name) for its ",U=" to count; a file moved in from another
  // folder carries the other folder's hash. Empty for mbsync.
  std::string fmd5;
  // Messages of the old tool's state that the builder should not expect a
  // file for, and other remarks about this folder for the user.
  std::vector<std::string> notes;
};

// One account to write into roam's configuration.
struct PlannedAccount {
  // The [account.NAME] name: [A-Za-z0-9._-]+, from the old tool's account
  // or channel name.
  std::string name;
  // The configuration keys in the order they are written, values as they
  // appear after "key = " (quoted where the configuration syntax needs it).
  std::vector<std::pair<std::string, std::string>> keys;
  // Comment lines written above the section (without "# ").
  std::vector<std::string> comments;
  // What could not be carried over, each with what to do about it.
  std::vector<std::string> notes;
  // The folders whose sync state can be imported.
  std::vector<PlannedFolder> folders;
};

// The IMAP flag of a Maildir info letter as mbsync and OfflineIMAP write
// them (D F P R S T), or nullopt for any other letter.
std::optional<std::string> flag_of_letter(char letter);

// The flags of a string of letters, sorted, unknown letters left out.
std::vector<std::string> flags_of_letters(std::string_view letters);

// The number after ",U=" in a Maildir file's stable name (the part before
// ":2," or "!2,"), or nullopt when there is none or it is not a number in
// 1..2^32-1.
std::optional<std::uint32_t> file_uid(std::string_view stable_name);

// The hex digits after ",FMD5=" in a stable name, or empty.
std::string file_fmd5(std::string_view stable_name);

// A value for roam's configuration as it goes after "key = ": quoted when
// roam's syntax needs it (empty, a '#' or ';', a '"' or '\\', blanks at
// either end), with '"' and '\\' escaped inside the quotes.
std::string config_value(std::string_view value);

// A folder pattern for roam's `folders`: quoted when it holds a blank or a
// character roam's syntax treats specially; a leading '!' stays outside.
std::string folder_pattern(std::string_view pattern);

// `name` with every `separator` (a string: mbsync's Flatten may be longer
// than one character) written '/', the hierarchy delimiter of plans.
std::string slash_separated(std::string_view name, std::string_view separator);

}  // namespace roam::import
