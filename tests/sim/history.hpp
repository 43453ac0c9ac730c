#pragma once

// One simulated history: a seed decides the server (its quirks), the
// starting mail, what the user's mail client does to the Maildir and what
// another IMAP client does to the server between roam's runs, and where runs
// are killed or their connection cut. After every run, and after a final
// clean run plus one more, the invariants of tests/sim/README.md are
// checked. Everything random comes from one std::mt19937_64 seeded with the
// seed (but for the draws of features added after seeds were recorded,
// which have their own, so that old seeds replay unchanged), and every choice is made over lists
// sorted by message content (not by UIDs or file names, which carry roam's pid and clock), so a
// seed replays the same history.

#include <cstdint>
#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include "maildir/layout.hpp"

namespace roam::sim {

// The switchable parts of a history, by name (--quirks=a,b,c).
struct Feature {
  const char* name;
  const char* what;
};
const std::vector<Feature>& all_features();

struct HistoryOptions {
  std::uint64_t seed = 0;
  // Features that a history may switch on (each with probability 1/2).
  std::set<std::string> allowed;
  // Features switched on in every history (--force=...).
  std::set<std::string> forced;
  // Features never switched on (--drop=...), to narrow a failing seed down.
  std::set<std::string> dropped;
  // Pairs of features never on together (the second is switched off):
  // combinations that fail today although each passes alone.
  std::vector<std::pair<std::string, std::string>> exclusive;
  std::filesystem::path work_dir;  // Emptied and used by this history.
  // The local tree's layout (--layout), and whether INBOX lives at an
  // inbox path inside the root (--inbox), as an mbsync tree may.
  maildir::Layout layout = maildir::Layout::Verbatim;
  bool inbox_path = false;
  bool verbose = false;
};

struct HistoryResult {
  bool ok = true;
  std::set<std::string> features;   // Those this history switched on.
  std::vector<std::string> events;  // One line per event, for replay.
  std::vector<std::string> failures;
  std::size_t runs = 0;
};

HistoryResult run_history(const HistoryOptions& options);

}  // namespace roam::sim
