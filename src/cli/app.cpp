#include "cli/app.hpp"

#include <algorithm>
#include <boost/program_options.hpp>
#include <csignal>
#include <cstdio>
#include <iostream>
#include <sstream>

#include "cli/config.hpp"
#include "cli/watch.hpp"
#include "maildir/owner.hpp"
#include "state/journal.hpp"
#include "sync/account.hpp"
#include "util/error.hpp"
#include "util/log.hpp"
#include "util/signal.hpp"

#ifndef ROAM_VERSION
#define ROAM_VERSION "unknown"
#endif

namespace roam::cli {

namespace po = boost::program_options;
using util::Error;
using util::Scope;

namespace {

constexpr const char* k_usage = R"(Usage: roam [OPTIONS] COMMAND [ARGS]

Keeps IMAP accounts and local Maildirs in sync.

Commands:
  sync [ACCOUNT...]   Sync the named accounts, or all accounts in the config.
  watch [ACCOUNT...]  Sync, then stay connected and sync again on every change
                      (IDLE on the folders `watch` selects, inotify on the
                      Maildir, a full sync every `watch_interval`). SIGUSR1
                      syncs at once; SIGINT or SIGTERM ends it (exit 0).
  list ACCOUNT        List the account's server folders; '*' marks the ones
                      its `folders` patterns select.

Options:
  -c, --config FILE   Configuration file (default: $XDG_CONFIG_HOME/roam/config,
                      else ~/.config/roam/config). See sample.conf.
  -n, --dry-run       sync: print what would be done, change nothing.
      --force         sync: allow deletions that the mass-deletion guard stops.
  -v, --verbose       Say more (per-folder lines).
  -q, --quiet         Print errors only.
      --debug[=LIST]  Debug output for all or some of: net, imap, maildir, state,
                      sync. The IMAP trace never shows credentials.
  -h, --help          Show this help.
      --version       Show the version.

Exit status: 0 when everything synced, 1 when a folder or account failed,
2 for bad usage or configuration, 3 for an internal error.
)";

// Prints what a dry run would do, one line per folder and one per action.
class PrintingReporter : public sync::Reporter {
 public:
  void would_create(std::string_view folder, std::size_t messages) override {
    std::cout << folder << ": would create the folder on the server and upload " << messages
              << " message(s)\n";
  }

  void would_apply(std::string_view folder, const sync::Plan& plan) override {
    using sync::letters_of;
    std::cout << folder << ": would download " << plan.downloads.size() << ", upload "
              << plan.uploads.size() << ", change flags of " << plan.local_flags.size()
              << " locally and " << plan.server_flags.size() << " on the server, delete "
              << plan.local_deletes.size() << " locally and " << plan.server_deletes.size()
              << " on the server, move " << plan.moves.size() << "\n";
    for (const auto& d : plan.downloads) {
      std::cout << "  download uid " << d.uid << " (" << letters_of(d.flags) << ")\n";
    }
    for (const auto& u : plan.uploads) {
      std::cout << "  upload " << u.name << " (" << letters_of(u.flags) << ")\n";
    }
    for (const auto& f : plan.local_flags) {
      std::cout << "  flags " << f.name << ": " << f.from_letters << " -> " << f.to_letters << "\n";
    }
    for (const auto& f : plan.server_flags) {
      std::cout << "  server flags uid " << f.uid << ": +" << letters_of(f.add) << " -"
                << letters_of(f.remove) << "\n";
    }
    for (const auto& d : plan.local_deletes) {
      std::cout << "  delete " << d.name << " (uid " << d.uid << " expunged on the server)\n";
    }
    for (const auto& d : plan.server_deletes) {
      std::cout << "  " << (d.expunge ? "expunge" : "mark deleted") << " uid " << d.uid
                << " on the server (deleted locally)\n";
    }
    for (const auto& m : plan.moves) {
      std::cout << "  move uid " << m.uid << " to " << m.target << "\n";
    }
    if (!plan.refused.empty()) {
      std::cout << "  refused: " << plan.refused << "\n";
    }
  }
};

PrintingReporter g_printing_reporter;

}  // namespace

sync::AccountSettings settings_for(const AccountConfig& a, bool dry_run, bool force) {
  sync::AccountSettings s;
  s.name = a.name;
  s.host = a.host;
  s.port = a.port;
  s.tls = a.tls;
  s.tls_options.server_name = a.host;
  s.tls_options.ca_file = a.ca_file.string();
  s.tls_options.sha256_fingerprint = a.cert_fingerprint_sha256;
  s.allow_plaintext = a.allow_plaintext;
  s.user = a.user;
  s.password = [a]() { return resolve_password(a); };
  s.auth = a.auth;
  s.max_message_size = a.max_message_size;
  s.maildir = a.maildir;
  s.state_dir = a.state_dir;
  s.layout = a.layout;
  std::vector<std::string> patterns = a.folders;
  s.select_folder = [patterns](std::string_view name, std::optional<char> delimiter) {
    return folder_selected(patterns, name, delimiter.value_or('\0'));
  };
  s.policy.direction = a.sync;
  s.policy.expunge = a.expunge ? sync::Expunge::Yes : sync::Expunge::No;
  s.policy.allow_mass_delete = force || a.max_delete_percent >= 100;
  s.policy.mass_delete_ratio = a.max_delete_percent / 100.0;
  s.create_folders = a.create;
  s.use_namespace = a.use_namespace;
  s.timeout = a.timeout;
  s.connections = a.connections;
  s.dry_run = dry_run;
  s.reporter = &g_printing_reporter;
  return s;
}

namespace {

std::string human_bytes(std::uint64_t bytes) {
  char buf[32];
  if (bytes >= (1u << 20)) {
    std::snprintf(buf, sizeof buf, "%.1f MB", static_cast<double>(bytes) / (1 << 20));
  } else if (bytes >= 1024) {
    std::snprintf(buf, sizeof buf, "%.1f kB", static_cast<double>(bytes) / 1024);
  } else {
    std::snprintf(buf, sizeof buf, "%llu B", static_cast<unsigned long long>(bytes));
  }
  return buf;
}

}  // namespace

void print_report(const sync::AccountReport& r, bool verbose, bool quiet) {
  std::size_t downloaded = 0, flags = 0, deleted = 0, unchanged = 0, failed = 0, uploaded = 0,
              server_flags = 0, server_deleted = 0, moved = 0;
  std::uint64_t bytes = 0;
  for (const auto& f : r.folders) {
    downloaded += f.downloaded;
    flags += f.flags_changed;
    deleted += f.deleted;
    uploaded += f.uploaded;
    server_flags += f.server_flags_changed;
    server_deleted += f.server_deleted;
    moved += f.moved;
    bytes += f.bytes;
    unchanged += f.skipped_unchanged ? 1 : 0;
    if (!f.error.empty()) {
      ++failed;
      std::cerr << "roam: error: " << r.account << ": " << f.name << ": " << f.error << "\n";
    }
    for (const auto& p : f.problems) {
      std::cerr << "roam: error: " << r.account << ": " << f.name << ": " << p << "\n";
    }
    if (!quiet) {
      for (const auto& n : f.notices) {
        std::cerr << "roam: note: " << r.account << ": " << f.name << ": " << n << "\n";
      }
    }
    if (verbose) {
      for (const auto& d : f.details) {
        std::cerr << "roam: note: " << r.account << ": " << f.name << ": " << d << "\n";
      }
      // Which side changed, in the words of the account summary.
      std::cout << r.account << ": " << f.name << ": "
                << (f.skipped_unchanged ? std::string("unchanged")
                                        : "local: " + std::to_string(f.downloaded) + " new, " +
                                              std::to_string(f.flags_changed) + " flag changes, " +
                                              std::to_string(f.deleted) +
                                              " deleted; server: " + std::to_string(f.uploaded) +
                                              " new, " + std::to_string(f.server_flags_changed) +
                                              " flag changes, " + std::to_string(f.server_deleted) +
                                              " deleted, " + std::to_string(f.moved) + " moved")
                << "\n";
    }
  }
  if (!quiet) {
    for (const auto& n : r.notices) {
      std::cerr << "roam: note: " << r.account << ": " << n << "\n";
    }
  }
  if (!r.error.empty()) {
    std::cerr << "roam: error: " << r.account << ": " << r.error << "\n";
  }
  if (!quiet) {
    char seconds[32];
    std::snprintf(seconds, sizeof seconds, "%.2f", r.seconds);
    std::cout << r.account << ": " << (r.dry_run ? "dry run, would change: " : "")
              << r.folders.size() << " folders (" << unchanged << " unchanged, " << failed
              << " failed); local: " << downloaded << " new (" << human_bytes(bytes) << "), "
              << flags << " flag changes, " << deleted << " deleted; server: " << uploaded
              << " new, " << server_flags << " flag changes, " << server_deleted << " deleted, "
              << moved << " moved; " << seconds << " s\n";
  }
}

sync::AccountReport sync_one_account(const AccountConfig& a, const sync::AccountSettings& s) {
  sync::AccountReport report;
  try {
    // Before anything is synced: a Maildir another account syncs must
    // not be uploaded to this account's server.
    maildir::claim_root(a.maildir, a.name, maildir::MarkerWrite::No);
  } catch (const Error& e) {
    if (e.scope() == Scope::Fatal || e.scope() == Scope::Usage) {
      throw;
    }
    report.account = a.name;
    report.dry_run = s.dry_run;
    report.error = e.what();
    return report;
  }
  report = sync::sync_account(s);
  if (!s.dry_run) {
    // Marked after the sync, which creates the root: a run that fails
    // before (a wrong password, say) writes nothing into the Maildir.
    try {
      maildir::claim_root(a.maildir, a.name, maildir::MarkerWrite::Yes);
    } catch (const Error& e) {
      if (e.scope() == Scope::Fatal) {
        throw;
      }
      std::cerr << "roam: warning: " << a.name << ": " << e.what() << "\n";
    }
  }
  return report;
}

namespace {

int command_sync(const Config& config, const std::vector<std::string>& names, bool dry_run,
                 bool force, bool verbose, bool quiet) {
  std::vector<const AccountConfig*> accounts;
  if (names.empty()) {
    for (const auto& a : config.accounts) {
      accounts.push_back(&a);
    }
  } else {
    for (const auto& n : names) {
      const AccountConfig* a = config.find_account(n);
      if (a == nullptr) {
        throw Error(Scope::Usage, "no account \"" + n + "\" in " + config.path.string());
      }
      accounts.push_back(a);
    }
  }
  int status = k_exit_ok;
  std::size_t synced = 0;
  for (const auto* a : accounts) {
    ++synced;
    sync::AccountReport report = sync_one_account(*a, settings_for(*a, dry_run, force));
    print_report(report, verbose, quiet);
    if (!report.ok()) {
      status = k_exit_partial;
    }
    if (int sig = util::stop_requested(); sig != 0) {
      // Said even with -q: the user asked, and the run is not complete.
      std::size_t left = accounts.size() - synced;
      std::cerr << "roam: stopped by " << (sig == SIGINT ? "SIGINT" : "SIGTERM")
                << " at a safe point; what was done is saved"
                << (left > 0 ? ", " + std::to_string(left) + " account(s) not synced" : "")
                << "; run roam sync again to finish\n";
      return 128 + sig;
    }
  }
  return status;
}

int command_list(const Config& config, const std::string& name) {
  const AccountConfig* a = config.find_account(name);
  if (a == nullptr) {
    throw Error(Scope::Usage, "no account \"" + name + "\" in " + config.path.string());
  }
  for (const auto& f : sync::list_account(settings_for(*a, false, false))) {
    std::cout << (f.selected ? "* " : "  ") << f.name << "\n";
  }
  return k_exit_ok;
}

}  // namespace

int run(int argc, char** argv) {
  po::options_description options;
  options.add_options()("config,c", po::value<std::string>())("dry-run,n", po::bool_switch())(
      "force", po::bool_switch())("verbose,v", po::bool_switch())("quiet,q", po::bool_switch())(
      "debug", po::value<std::string>()->implicit_value("all"))("help,h", po::bool_switch())(
      "version", po::bool_switch())("test-stop-after", po::value<std::uint64_t>())(
      "test-signal-after", po::value<std::string>())("command", po::value<std::string>())(
      "args", po::value<std::vector<std::string>>()->default_value({}, ""));
  po::positional_options_description positional;
  positional.add("command", 1).add("args", -1);
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(argc, argv).options(options).positional(positional).run(),
              vm);
    po::notify(vm);
  } catch (const po::error& e) {
    std::cerr << "roam: " << e.what() << "\n"
              << "Try 'roam --help'.\n";
    return k_exit_usage;
  }
  if (vm["help"].as<bool>()) {
    std::cout << k_usage;
    return k_exit_ok;
  }
  if (vm["version"].as<bool>()) {
    std::cout << "roam " << ROAM_VERSION << "\n";
    return k_exit_ok;
  }
  if (!vm.count("command")) {
    std::cerr << k_usage;
    return k_exit_usage;
  }
  bool verbose = vm["verbose"].as<bool>();
  bool quiet = vm["quiet"].as<bool>();
  try {
    util::set_log_level(quiet ? util::Level::Error
                              : (verbose ? util::Level::Info : util::Level::Warning));
    if (vm.count("debug")) {
      util::set_debug_categories(util::parse_debug_categories(vm["debug"].as<std::string>()));
    }
    if (vm.count("test-stop-after")) {
      // Hidden: the crash-at-every-step test stops a run after N steps.
      state::set_stop_after_steps(vm["test-stop-after"].as<std::uint64_t>());
    }
    if (vm.count("test-signal-after")) {
      // Hidden: the tests of stopping by signal raise one (or two) after
      // step N, deterministically: N[,INT|TERM][,twice].
      std::string spec = vm["test-signal-after"].as<std::string>();
      int sig = spec.find(",TERM") != std::string::npos ? SIGTERM : SIGINT;
      int times = spec.find(",twice") != std::string::npos ? 2 : 1;
      state::set_signal_after_steps(std::stoull(spec), sig, times);
    }
    std::string command = vm["command"].as<std::string>();
    auto args = vm["args"].as<std::vector<std::string>>();
    if (command != "sync" && command != "list" && command != "watch") {
      std::cerr << "roam: unknown command '" << command << "'\nTry 'roam --help'.\n";
      return k_exit_usage;
    }
    if (command == "list" && args.size() != 1) {
      std::cerr << "roam: 'roam list' takes exactly one ACCOUNT\n";
      return k_exit_usage;
    }
    std::filesystem::path path = vm.count("config")
                                     ? std::filesystem::path(vm["config"].as<std::string>())
                                     : default_config_path();
    Config config = load_config(path);
    if (command == "list") {
      return command_list(config, args.front());
    }
    if (command == "watch") {
      if (vm["dry-run"].as<bool>()) {
        std::cerr << "roam: 'roam watch' has no --dry-run; use 'roam sync --dry-run'\n";
        return k_exit_usage;
      }
      return command_watch(config, args, WatchOptions{verbose, quiet});
    }
    // From here on a first Ctrl-C or SIGTERM stops at the next safe point.
    util::install_stop_handlers();
    return command_sync(config, args, vm["dry-run"].as<bool>(), vm["force"].as<bool>(), verbose,
                        quiet);
  } catch (const Error& e) {
    if (e.scope() == Scope::Fatal) {
      std::cerr << "roam: internal error: " << e.what()
                << "\nThis is a bug in roam; please report it with the output of --debug.\n";
      return k_exit_internal;
    }
    std::cerr << "roam: error: " << e.what() << "\n";
    return e.scope() == Scope::Usage ? k_exit_usage : k_exit_partial;
  } catch (const std::exception& e) {
    std::cerr << "roam: internal error: " << e.what() << "\n";
    return k_exit_internal;
  }
}

}  // namespace roam::cli
