#pragma once

// `roam import mbsync|offlineimap`: carries another tool's accounts and sync
// state over, so that the first `roam sync` afterwards finds every message
// already paired and downloads, uploads and renames nothing.
//
// The order of the steps is what keeps it safe:
//  1. The other tool's configuration and state are read (import/ readers;
//     they only read files).
//  2. An account the roam configuration already has is refused, so a second
//     import changes nothing.
//  3. The new sections are checked by loading them as roam would, and the
//     server is asked (LIST and STATUS only, nothing is changed there) for
//     roam's name of each folder and its UIDVALIDITY. A folder whose
//     UIDVALIDITY is not the one the other tool's UIDs belong to, or that
//     roam would keep in another directory than the other tool did, gets no
//     state (and the latter is left out of `folders`, so that roam does not
//     download it a second time into a new directory).
//  4. Only then is anything written: the configuration (mode 0600) and, under
//     the account lock, the state of each folder. A folder's state is never
//     overwritten.
// Whatever is not paired here is paired by content by the first sync.

#include <filesystem>
#include <string>
#include <vector>

#include "cli/config.hpp"

namespace roam::cli {

struct ImportOptions {
  // "mbsync" or "offlineimap".
  std::string tool;
  // The other tool's configuration; empty = its default place.
  std::filesystem::path from;
  // roam's configuration file (created if missing).
  std::filesystem::path config;
  // Channels (mbsync) or accounts (OfflineIMAP) to import; empty = all.
  std::vector<std::string> names;
  // Print what would be written, write nothing.
  bool dry_run = false;
  bool quiet = false;
};

// Runs the import; returns the exit status (0 when every named account was
// imported, 1 when one could not be, 2 for bad usage). Throws util::Error
// (Scope::Usage) for an unreadable configuration of either tool.
int command_import(const ImportOptions& options);

// The other tool's default configuration file: mbsync's
// $XDG_CONFIG_HOME/isyncrc if it exists, else ~/.mbsyncrc; OfflineIMAP's
// ~/.offlineimaprc if it exists, else $XDG_CONFIG_HOME/offlineimap/config.
std::filesystem::path default_import_source(const std::string& tool);

}  // namespace roam::cli
