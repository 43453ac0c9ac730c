// roam_sim: runs simulated histories (tests/sim/README.md).
//
//   roam_sim --seeds=N [--first-seed=S] [--quirks=a,b|all|default] [--force=a,b]
//            [--max-seconds=T] [--work-dir=D] [--layout=L] [--inbox]
//   roam_sim --seed=S --verbose      replays one history with roam's log and
//                                    the wire trace
//
// Exits 0 when every history held every invariant, 1 otherwise; each failing
// history is printed with its seed, its features and its events.

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <optional>
#include <set>
#include <sstream>
#include <string>

#include "history.hpp"

namespace {

// The features of the default run (the ctest entry sim.bounded): all of
// them, with no pair excluded since 2026-11-30 (HistoryOptions::exclusive
// can hold pairs that fail together while a fix is under way).
const char* const k_default_quirks =
    "kill,cut,prefilled,localmove,mu4e,srvmove,uidvalidity,srvfolders,localfolders,mark-deleted,no-"
    "uidplus,"
    "no-move,"
    "no-condstore,stray-modseq,rewrite-8bit,courier,readonly,no-literal-plus,no-list-status,"
    "namespace,time-passes,no-esearch,parallel,no-multiappend";

std::set<std::string> split(const std::string& text) {
  std::set<std::string> out;
  std::stringstream s(text);
  for (std::string item; std::getline(s, item, ',');) {
    if (!item.empty()) {
      out.insert(item);
    }
  }
  return out;
}

void usage() {
  std::cerr << "usage: roam_sim [--seeds=N] [--first-seed=S] [--seed=S] [--verbose]\n"
               "                [--quirks=LIST|default|all|none] [--force=LIST] [--drop=LIST]\n"
               "                [--max-seconds=T] [--work-dir=DIR] [--list]\n"
               "                [--layout=verbatim|maildir++|legacy|flat] [--inbox]\n";
}

}  // namespace

int main(int argc, char** argv) {
  std::uint64_t seeds = 100;
  std::uint64_t first = 1;
  bool single = false;
  bool verbose = false;
  double max_seconds = 0;
  std::string quirks = "default";
  std::string forced;
  std::string dropped;
  std::filesystem::path work;
  std::string layout = "verbatim";
  bool inbox_path = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto eq = a.find('=');
    std::string key = a.substr(0, eq);
    const char* v = eq == std::string::npos ? "" : argv[i] + eq + 1;
    if (key == "--seeds") {
      seeds = std::strtoull(v, nullptr, 10);
    } else if (key == "--first-seed") {
      first = std::strtoull(v, nullptr, 10);
    } else if (key == "--seed") {
      first = std::strtoull(v, nullptr, 10);
      seeds = 1;
      single = true;
    } else if (key == "--quirks") {
      quirks = v;
    } else if (key == "--force") {
      forced = v;
    } else if (key == "--drop") {
      dropped = v;
    } else if (key == "--max-seconds") {
      max_seconds = std::strtod(v, nullptr);
    } else if (key == "--work-dir") {
      work = v;
    } else if (key == "--layout") {
      layout = v;
    } else if (a == "--inbox") {
      inbox_path = true;
    } else if (a == "--verbose") {
      verbose = true;
    } else if (a == "--list") {
      for (const auto& f : roam::sim::all_features()) {
        std::printf("%-16s %s\n", f.name, f.what);
      }
      std::printf("default: %s\n", k_default_quirks);
      return 0;
    } else {
      usage();
      return 2;
    }
  }
  roam::sim::HistoryOptions o;
  if (quirks == "all") {
    for (const auto& f : roam::sim::all_features()) {
      o.allowed.insert(f.name);
    }
  } else if (quirks == "default") {
    o.allowed = split(k_default_quirks);
  } else if (quirks != "none") {
    o.allowed = split(quirks);
  }
  o.forced = split(forced);
  o.dropped = split(dropped);
  std::set<std::string> known;
  for (const auto& f : roam::sim::all_features()) {
    known.insert(f.name);
  }
  for (const auto& f : o.allowed) {
    if (known.count(f) == 0) {
      std::cerr << "roam_sim: unknown quirk " << f << " (see --list)\n";
      return 2;
    }
  }
  if (work.empty()) {
    // tmpfs when there is one: roam fsyncs every delivery and state file.
    std::filesystem::path base = std::filesystem::is_directory("/dev/shm")
                                     ? std::filesystem::path("/dev/shm")
                                     : std::filesystem::temp_directory_path();
    work = base / ("roam-sim-" + std::to_string(::getpid()));
  }
  o.verbose = verbose;
  // The Maildir layout every history uses, and (--inbox) an inbox path
  // inside the root, so that the same histories run against each tree
  // shape that roam can be given.
  std::optional<roam::maildir::Layout> parsed_layout = roam::maildir::parse_layout(layout);
  if (!parsed_layout) {
    std::cerr << "roam_sim: unknown layout " << layout
              << " (verbatim, maildir++, legacy or flat)\n";
    return 2;
  }
  o.layout = *parsed_layout;
  o.inbox_path = inbox_path;
  if (inbox_path && o.layout == roam::maildir::Layout::MaildirPlusPlus) {
    std::cerr << "roam_sim: --inbox needs a layout other than maildir++\n";
    return 2;
  }

  auto start = std::chrono::steady_clock::now();
  std::uint64_t done = 0;
  std::uint64_t failed = 0;
  std::uint64_t runs = 0;
  std::string failing;
  for (std::uint64_t seed = first; seed < first + seeds; ++seed) {
    if (max_seconds > 0 &&
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() >
            max_seconds) {
      break;
    }
    o.seed = seed;
    o.work_dir = work / std::to_string(seed);
    roam::sim::HistoryResult r = roam::sim::run_history(o);
    ++done;
    runs += r.runs;
    if (!r.ok || single) {
      std::string features;
      for (const auto& f : r.features) {
        features += (features.empty() ? "" : ",") + f;
      }
      std::printf("%s seed %llu (features: %s)\n", r.ok ? "history" : "FAILED",
                  static_cast<unsigned long long>(seed), features.c_str());
      for (const auto& e : r.events) {
        std::printf("  %s\n", e.c_str());
      }
      for (const auto& f : r.failures) {
        std::printf("  FAILURE: %s\n", f.c_str());
      }
      if (!r.ok) {
        std::string extra = (forced.empty() ? "" : " --force=" + forced) +
                            (dropped.empty() ? "" : " --drop=" + dropped) +
                            (layout == "verbatim" ? "" : " --layout=" + layout) +
                            (inbox_path ? " --inbox" : "");
        std::printf("  replay: roam_sim --seed=%llu --quirks=%s%s --verbose\n  files kept in %s\n",
                    static_cast<unsigned long long>(seed), quirks.c_str(), extra.c_str(),
                    o.work_dir.c_str());
        ++failed;
        failing += " " + std::to_string(seed);
      }
      std::fflush(stdout);
    }
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("roam_sim: %llu histories (%llu runs of roam) in %.1f s, %llu failed%s%s\n",
              static_cast<unsigned long long>(done), static_cast<unsigned long long>(runs), secs,
              static_cast<unsigned long long>(failed), failed ? ": seeds" : "", failing.c_str());
  std::error_code ec;
  if (failed == 0) {
    std::filesystem::remove_all(work, ec);
  }
  return failed == 0 ? 0 : 1;
}
