#pragma once

// The Maildir file-name codec. A Maildir file name is "<stable name>" or
// "<stable name>:2,<letters>". roam never stores UIDs in file names: its state
// maps a UID to the stable name, which a mail reader keeps when it changes
// flags or moves a file from new/ to cur/. Letters roam does not understand
// (Dovecot keyword letters a-z, anything else) are kept through every rename.
//
// The one table that maps letters to IMAP flags lives here (k_flag_table).

#include <array>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace roam::maildir {

// One row of the flag table: a Maildir info letter and the IMAP flag it means.
struct FlagMapping {
  char letter;
  std::string_view imap_flag;
};

// The flags roam maps, in alphabetical Maildir order (the order in which the
// letters are written after ":2,").
inline constexpr std::array<FlagMapping, 6> k_flag_table = {{
    {'D', "\\Draft"},
    {'F', "\\Flagged"},
    {'P', "$Forwarded"},
    {'R', "\\Answered"},
    {'S', "\\Seen"},
    {'T', "\\Deleted"},
}};

// The subdirectory of a Maildir folder a message file lives in. tmp/ is not
// listed: files there are deliveries in progress, not messages.
enum class Subdir { New, Cur };

// Returns "new" or "cur".
std::string_view to_string(Subdir subdir);

// A file name taken apart.
struct ParsedName {
  // Everything before ":2," or ":1,", or the whole name when it has no info.
  std::string stable_name;
  // The info letters after ":2,", sorted in ASCII order and deduplicated.
  // Letters roam does not understand are kept here too, so that a rename
  // that rebuilds the name from these letters loses nothing.
  std::string letters;
  // Text after ":2,<letters>" starting at the first ',' (Dovecot keeps
  // extension fields there). Kept verbatim and written back on renames.
  std::string extra;
  // True when the name has an info part (":2," or the experimental ":1,").
  // The content of an experimental ":1," info is not interpreted.
  bool has_info = false;
};

// What a name found on disk is.
enum class NameKind {
  Valid,    // A message file name.
  Skip,     // A dot-file ("." and ".." included): silently not a message.
  Invalid,  // Not a valid Maildir message name: skip it and tell the user.
};

// Classifies a directory entry name found in new/ or cur/. Dot-files are
// skipped; names containing '/' or NUL, empty stable names, a ':' that does
// not start a ":1," or ":2," info, or info letters that are not printable
// ASCII make the name invalid.
NameKind classify_name(std::string_view file_name);

// Takes a file name apart. Does not validate; call classify_name() first for
// names read from disk.
ParsedName parse_name(std::string_view file_name);

// Builds a file name. A message going into new/ without letters or extra
// gets no info suffix at all; every other name gets ":2," followed by the
// letters (sorted and deduplicated here) and `extra`.
std::string format_name(std::string_view stable_name, std::string_view letters, Subdir target,
                        std::string_view extra = {});

// Sorts `letters` in ASCII (Maildir) order and removes duplicates.
std::string normalize_letters(std::string_view letters);

// True for the letters in k_flag_table.
bool is_known_letter(char letter);

// The letters of `letters` that are (not) in k_flag_table, normalized.
std::string known_letters(std::string_view letters);
std::string unknown_letters(std::string_view letters);

// Returns `current` with its known letters replaced by `known`, keeping every
// letter roam does not understand. `known` must hold only known letters;
// others in it are ignored.
std::string replace_known_letters(std::string_view current, std::string_view known);

// The letter for an IMAP flag (compared ASCII case-insensitively, as IMAP
// flags are), or nothing if the flag has no letter.
std::optional<char> letter_for_imap_flag(std::string_view imap_flag);

// The IMAP flag for a letter, or nothing if the letter is not in the table.
std::optional<std::string_view> imap_flag_for_letter(char letter);

// IMAP flags turned into letters. Flags without a letter (keywords other than
// $Forwarded, and session flags such as \Recent, which the caller should not
// pass) are returned separately so the caller can keep them in its state.
struct LettersFromImap {
  std::string letters;                // Normalized.
  std::vector<std::string> unmapped;  // In the order given, duplicates removed.
};
LettersFromImap letters_from_imap_flags(const std::vector<std::string>& imap_flags);

// Letters turned into IMAP flags. Letters without an IMAP flag (keyword
// letters a-z and the like) are returned separately.
struct ImapFromLetters {
  std::vector<std::string> imap_flags;  // In table order.
  std::string unknown_letters;          // Normalized.
};
ImapFromLetters imap_flags_from_letters(std::string_view letters);

// Returns a new stable name, unique on this host:
// "<sec>.M<usec>P<pid>Q<counter>.<host>" with a process-wide counter. It does
// not contain the size: it is chosen before the message is downloaded.
std::string new_stable_name();

// True if `stable_name` can be used as the stable part of a file name: not
// empty, no leading '.', no '/', ':' or NUL and no control characters.
bool is_valid_stable_name(std::string_view stable_name);

}  // namespace roam::maildir
