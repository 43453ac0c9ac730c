#pragma once

// Reads OfflineIMAP's configuration (an offlineimaprc) and its sync state
// (the per-folder LocalStatus databases and the saved UIDVALIDITY values
// under its metadata directory) into import plans. Reads files only: it
// never writes, renames or connects.
//
// OfflineIMAP's names, from its source (offlineimap3, accounts.py,
// folder/Base.py, folder/Maildir.py): a server folder's local name is its
// name with the server's delimiter replaced by the local repository's `sep`;
// its LocalStatus file is that name with the delimiter (and '/') replaced
// by '.'; its saved UIDVALIDITY is in
// Repository-<remote>/FolderValidity/<the same '.'-name>; and the files it
// writes carry ",U=<server UID>,FMD5=<md5 of the local name>".

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "import/plan.hpp"

namespace roam::import {

// One PlannedAccount per OfflineIMAP account named in `accounts` (empty:
// the `accounts` list of [general]) whose local repository is a Maildir and
// whose remote one is IMAP or Gmail. Throws util::Error(Scope::Usage) naming
// the file and line for an unreadable or malformed rc, an account that does
// not exist or cannot be imported, and a login that cannot be carried over.
std::vector<PlannedAccount> read_offlineimap(const std::filesystem::path& rc,
                                             const std::vector<std::string>& accounts);

namespace offlineimap {

// An rc file read with the rules of Python's ConfigParser as OfflineIMAP
// uses it: sections, "key = value" or "key: value", keys lower-cased,
// indented continuation lines, whole-line '#' and ';' comments (a ';' or '#'
// inside a value is part of it), a [DEFAULT] section whose keys every
// section sees, and %(key)s interpolation (%% is a '%').
class Rc {
 public:
  // Throws util::Error(Scope::Usage) naming `origin` and the line.
  static Rc parse(std::string_view text, std::string origin);
  static Rc load(const std::filesystem::path& file);

  bool has_section(const std::string& section) const;
  // The value of `key` in `section` (or [DEFAULT]) after interpolation, or
  // nullopt when neither has it. Throws for a broken interpolation.
  std::optional<std::string> get(const std::string& section, const std::string& key) const;
  // A boolean in ConfigParser's spelling (1/yes/true/on, 0/no/false/off).
  std::optional<bool> get_bool(const std::string& section, const std::string& key) const;
  // "file:line" of the key's definition, for messages.
  std::string where(const std::string& section, const std::string& key) const;
  std::string where_section(const std::string& section) const;
  const std::string& origin() const { return m_origin; }

 private:
  struct Value {
    std::string raw;
    int line = 0;
  };
  struct Section {
    int line = 0;
    std::map<std::string, Value> values;
  };
  const Value* find(const std::string& section, const std::string& key) const;
  std::string interpolate(const std::string& section, const Value& value, int depth) const;

  std::string m_origin;
  std::map<std::string, Section> m_sections;
};

// The ",FMD5=" OfflineIMAP writes into the files of the local folder named
// `local_name` (the name below `localfolders`, e.g. "Lists.roam").
std::string folder_md5(std::string_view local_name);

// The name of a folder's LocalStatus and FolderValidity files, from its
// local name: `sep` and '/' become '.', and a name that is then "." (or
// ends in "/.") becomes "dot", as OfflineIMAP's getfolderbasename does.
std::string status_file_name(std::string_view local_name, std::string_view sep);

// The messages of one LocalStatus: server UID -> Maildir flag letters.
struct Status {
  std::map<std::uint32_t, std::string> flags_by_uid;
};

// Reads a LocalStatus-sqlite database (opened read-only) or a plain-text
// LocalStatus (FORMAT 1 or 2). Returns nullopt and sets `problem` when the
// file is not a LocalStatus or cannot be read.
std::optional<Status> read_status_sqlite(const std::filesystem::path& file, std::string& problem);
std::optional<Status> read_status_text(const std::filesystem::path& file, std::string& problem);

// The `folders` patterns for a folderfilter lambda of the common forms
// "lambda f: f in ['A', 'B']" and "lambda f: f not in [...]" (also with
// tuples, double quotes, and a space-free name), or nullopt when it is any
// other Python.
std::optional<std::string> folders_of_filter(std::string_view lambda);

}  // namespace offlineimap

}  // namespace roam::import
