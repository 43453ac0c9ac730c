#include "cli/app.hpp"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/program_options.hpp>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <exception>
#include <iostream>
#include <mutex>
#include <sstream>
#include <thread>

#include "cli/config.hpp"
#include "cli/hooks.hpp"
#include "cli/import.hpp"
#include "cli/json_report.hpp"
#include "cli/list.hpp"
#include "cli/progress.hpp"
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
                      its `folders` patterns select, and special-use folders
                      show their use (\All, \Junk, \Trash, \Sent...).
  import mbsync|offlineimap [NAME...]
                      Add the other tool's channels or accounts (all, or the
                      named ones) to the configuration and carry their sync
                      state over, so that the first sync copies nothing.
                      Reads --from FILE (default ~/.mbsyncrc or
                      ~/.offlineimaprc); see docs/switching.md.

Options:
  -c, --config FILE   Configuration file (default: $XDG_CONFIG_HOME/roam/config,
                      else ~/.config/roam/config). See sample.conf.
  -n, --dry-run       sync: print what would be done, change nothing.
      --from FILE     import: the other tool's configuration file.
      --force         sync: allow deletions that the mass-deletion guard stops.
      --json          sync: print the run as one JSON document on stdout
                      (docs/json-output.md) instead of the summary lines.
  -j, --jobs N        sync: sync up to N accounts at once (default: the number
                      of accounts, at most 4).
  -v, --verbose       Say more (per-folder lines).
  -q, --quiet         Print errors only (no progress line on a terminal).
      --debug[=LIST]  Debug output for all or some of: net, imap, maildir, state,
                      sync. The IMAP trace never shows credentials.
  -h, --help          Show this help.
      --version       Show the version.

Exit status: 0 when everything synced, 1 when a folder or account failed,
2 for bad usage or configuration, 3 for an internal error.
)";

// Writes what a dry run would do, one line per folder and one per action,
// into a buffer of the account's, printed with its report: accounts synced
// side by side (--jobs) must not interleave their lines.
class PrintingReporter : public sync::Reporter {
 public:
  std::string text() const {
    std::lock_guard lock(m_mutex);
    return m_out.str();
  }

  void would_create(std::string_view folder, std::size_t messages) override {
    std::lock_guard lock(m_mutex);
    m_out << folder << ": would create the folder on the server and upload " << messages
          << " message(s)\n";
  }

  void would_apply(std::string_view folder, const sync::Plan& plan) override {
    using sync::letters_of;
    std::lock_guard lock(m_mutex);
    m_out << folder << ": would download " << plan.downloads.size() << ", upload "
          << plan.uploads.size() << ", change flags of " << plan.local_flags.size()
          << " locally and " << plan.server_flags.size() << " on the server, delete "
          << plan.local_deletes.size() << " locally and " << plan.server_deletes.size()
          << " on the server, move " << plan.moves.size() << "\n";
    for (const auto& d : plan.downloads) {
      m_out << "  download uid " << d.uid << " (" << letters_of(d.flags) << ")\n";
    }
    for (const auto& u : plan.uploads) {
      m_out << "  upload " << u.name << " (" << letters_of(u.flags) << ")\n";
    }
    for (const auto& f : plan.local_flags) {
      m_out << "  flags " << f.name << ": " << f.from_letters << " -> " << f.to_letters << "\n";
    }
    for (const auto& f : plan.server_flags) {
      m_out << "  server flags uid " << f.uid << ": +" << letters_of(f.add) << " -"
            << letters_of(f.remove) << "\n";
    }
    for (const auto& d : plan.local_deletes) {
      m_out << "  delete " << d.name << " (uid " << d.uid << " expunged on the server)\n";
    }
    for (const auto& d : plan.server_deletes) {
      m_out << "  " << (d.expunge ? "expunge" : "mark deleted") << " uid " << d.uid
            << " on the server (deleted locally)\n";
    }
    for (const auto& m : plan.moves) {
      m_out << "  move uid " << m.uid << " to " << m.target << "\n";
    }
    if (!plan.refused.empty()) {
      m_out << "  refused: " << plan.refused << "\n";
    }
  }

 private:
  mutable std::mutex m_mutex;
  std::ostringstream m_out;
};

// pass_cmd may ask for a passphrase on the terminal: one at a time, even
// when accounts sync side by side, and with the progress lines out of the
// way.
std::mutex g_password_mutex;

sync::AccountSettings settings_for(const AccountConfig& a, bool dry_run, bool force,
                                   sync::Reporter* reporter = nullptr,
                                   ProgressBoard* board = nullptr) {
  sync::AccountSettings s;
  s.name = a.name;
  s.host = a.host;
  s.port = a.port;
  s.tls = a.tls;
  s.tls_options.server_name = a.host;
  s.tls_options.ca_file = a.ca_file.string();
  s.tls_options.sha256_fingerprint = a.cert_fingerprint_sha256;
  s.allow_plaintext = a.allow_plaintext;
  // On loopback (a local server, an SSH tunnel, a bridge) compression
  // would only cost the server CPU time; `compress = yes` insists.
  s.compress = a.compress == AccountConfig::Compress::Yes ||
               (a.compress == AccountConfig::Compress::Auto && !net::is_loopback(a.host));
  s.user = a.user;
  s.password = [a, board]() {
    if (a.pass_cmd.empty()) {
      return resolve_password(a);
    }
    std::lock_guard lock(g_password_mutex);
    if (board != nullptr) {
      board->pause();
    }
    try {
      std::string password = resolve_password(a);
      if (board != nullptr) {
        board->resume();
      }
      return password;
    } catch (...) {
      if (board != nullptr) {
        board->resume();
      }
      throw;
    }
  };
  s.auth = a.auth;
  s.max_message_size = a.max_message_size;
  s.tree = a.tree();
  s.state_dir = a.state_dir;
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
  s.reporter = reporter;
  return s;
}

// The human report of an account: errors and notices on stderr, the summary
// (and with -v a line per folder) on stdout, which --json keeps for its
// document alone.
void print_report(const sync::AccountReport& r, bool verbose, bool quiet, bool json) {
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
    }
    if (verbose && !json) {
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
  if (!quiet && !json) {
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

// How `roam sync` was asked to run.
struct SyncOptions {
  bool dry_run = false;
  bool force = false;
  bool verbose = false;
  bool quiet = false;
  bool json = false;
  // --jobs; 0 = the default (the number of accounts, at most 4).
  unsigned jobs = 0;
  // Replaces the password callback of the settings when set: roam watch
  // asks for the password once for its whole life.
  std::function<std::string()> password;
};

// The most accounts synced at once by default: each may open `connections`
// connections, and a laptop's four accounts are the common case.
constexpr std::size_t k_default_jobs = 4;
// The most --jobs allows: beyond that one process holds too many
// connections and threads, and a scheduler does the job better.
constexpr unsigned k_max_jobs = 64;

// One account's part of `roam sync`: the hooks around its sync. Runs on a
// thread of its own when accounts sync side by side; what it has to say is
// kept in `run` and printed afterwards, in config order.
void sync_one_account(const AccountConfig& a, const SyncOptions& o, AccountRun& run,
                      PrintingReporter& reporter, ProgressBoard* board, std::size_t index) {
  sync::AccountReport& report = run.report;
  report.account = a.name;
  report.dry_run = o.dry_run;
  AccountProgress* progress = board != nullptr ? &board->account(index) : nullptr;
  if (progress != nullptr) {
    progress->started();
  }
  std::string refused;
  try {
    // Before anything is synced: a Maildir another account syncs must
    // not be uploaded to this account's server.
    maildir::claim_tree(a.tree(), a.name, maildir::MarkerWrite::No);
  } catch (const Error& e) {
    if (e.scope() == Scope::Fatal || e.scope() == Scope::Usage) {
      throw;
    }
    refused = e.what();
  }
  if (!refused.empty()) {
    report.error = refused;
  } else if (!a.pre_sync_cmd.empty() && !o.dry_run) {
    // A failing pre_sync_cmd skips the account. mbsync has no hooks, but
    // its users wire notmuch's pre-new hook, and notmuch does not index
    // when that fails; the same holds here: the pre hook prepares what the
    // sync relies on (a tunnel, a mounted disk, tags that must be written
    // to flags first), and a sync without it may do the wrong thing where
    // a skipped sync only waits for the next run. It is an account error
    // (exit 1), so that cron and systemd say so.
    run.pre_hook = run_hook(a.pre_sync_cmd, hook_env_before(a.name), a.timeout);
    if (!run.pre_hook->ok()) {
      report.error =
          run.pre_hook->describe("pre_sync_cmd", a.name) + "; the account was not synced";
    }
  }
  if (report.error.empty()) {
    sync::AccountSettings settings = settings_for(a, o.dry_run, o.force, &reporter, board);
    settings.progress = progress;
    if (o.password) {
      settings.password = o.password;
    }
    report = sync::sync_account(settings);
    if (!o.dry_run) {
      // Marked after the sync, which creates the root: a run that fails
      // before (a wrong password, say) writes nothing into the Maildir.
      try {
        maildir::claim_tree(a.tree(), a.name, maildir::MarkerWrite::Yes);
      } catch (const Error& e) {
        if (e.scope() == Scope::Fatal) {
          throw;
        }
        run.warnings.push_back(e.what());
      }
    }
    // After every sync that was tried, a failed one too (ROAM_STATUS
    // says which): a partial sync still brought mail to index. Not after
    // a stop by a signal: the user asked roam to end, and the hook (which
    // may take long) would run after that.
    if (!a.post_sync_cmd.empty() && !o.dry_run && util::stop_requested() == 0) {
      run.post_hook = run_hook(a.post_sync_cmd, hook_env_after(report), a.timeout);
    }
  }
  if (progress != nullptr) {
    progress->finished();
  }
}

int command_sync(const Config& config, const std::vector<std::string>& names,
                 const SyncOptions& o) {
  const auto start = std::chrono::steady_clock::now();
  const std::vector<const AccountConfig*> accounts = config.accounts_named(names);
  const std::size_t jobs = std::min<std::size_t>(
      accounts.size(), o.jobs != 0 ? o.jobs : std::min(accounts.size(), k_default_jobs));

  // The progress lines: only for a person watching a terminal.
  std::unique_ptr<ProgressBoard> board;
  if (!o.quiet && ::isatty(STDERR_FILENO) == 1) {
    std::vector<std::string> account_names;
    for (const auto* a : accounts) {
      account_names.push_back(a->name);
    }
    board = std::make_unique<ProgressBoard>(std::move(account_names), STDERR_FILENO);
    board->start();
  }

  // Each account is locked by its own sync (state/lock.hpp) in a state_dir
  // of its own (load_config refuses two accounts sharing one), so accounts
  // side by side never wait for each other; the log is shared and writes
  // whole lines under a lock (util/log.cpp).
  std::vector<AccountRun> runs(accounts.size());
  std::vector<PrintingReporter> reporters(accounts.size());
  std::vector<std::exception_ptr> failures(accounts.size());
  std::atomic<std::size_t> next{0};
  auto worker = [&] {
    for (;;) {
      std::size_t i = next++;
      if (i >= accounts.size()) {
        return;
      }
      // A stop asked for by a signal is honoured between accounts too.
      if (util::stop_requested() != 0) {
        runs[i].not_started = true;
        runs[i].report.account = accounts[i]->name;
        runs[i].report.dry_run = o.dry_run;
        continue;
      }
      try {
        sync_one_account(*accounts[i], o, runs[i], reporters[i], board.get(), i);
      } catch (...) {
        failures[i] = std::current_exception();
      }
    }
  };
  if (jobs <= 1) {
    worker();
  } else {
    std::vector<std::thread> threads;
    for (std::size_t t = 0; t < jobs; ++t) {
      threads.emplace_back(worker);
    }
    for (auto& t : threads) {
      t.join();
    }
  }
  if (board) {
    board->stop();
  }
  for (const auto& failure : failures) {
    if (failure) {
      std::rethrow_exception(failure);
    }
  }

  int status = k_exit_ok;
  std::size_t not_started = 0;
  for (std::size_t i = 0; i < runs.size(); ++i) {
    const AccountRun& run = runs[i];
    if (run.not_started) {
      ++not_started;
      continue;
    }
    if (!o.json) {
      std::cout << reporters[i].text();
    }
    print_run(run, o.verbose, o.quiet, o.json);
    if (!run.ok()) {
      status = k_exit_partial;
    }
  }
  int sig = util::stop_requested();
  if (sig != 0) {
    // Said even with -q: the user asked, and the run is not complete.
    std::cerr << "roam: stopped by " << (sig == SIGINT ? "SIGINT" : "SIGTERM")
              << " at a safe point; what was done is saved"
              << (not_started > 0 ? ", " + std::to_string(not_started) + " account(s) not synced"
                                  : "")
              << "; run roam sync again to finish\n";
    status = 128 + sig;
  }
  if (o.json) {
    RunInfo info;
    info.dry_run = o.dry_run;
    info.exit_status = status;
    info.stopped_by = sig;
    info.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::cout << run_json(runs, info).dump(2) << std::endl;
  }
  return status;
}

}  // namespace

void print_run(const AccountRun& run, bool verbose, bool quiet, bool json) {
  print_report(run.report, verbose, quiet, json);
  if (run.post_hook && !run.post_hook->ok()) {
    std::cerr << "roam: error: " << run.report.account << ": "
              << run.post_hook->describe("post_sync_cmd", run.report.account) << "\n";
  } else if (verbose && run.post_hook && !run.post_hook->output.empty()) {
    std::cerr << "roam: note: " << run.report.account << ": post_sync_cmd said:\n"
              << run.post_hook->output;
  }
  for (const auto& w : run.warnings) {
    std::cerr << "roam: warning: " << run.report.account << ": " << w << "\n";
  }
}

sync::AccountSettings account_settings(const AccountConfig& a) {
  return settings_for(a, false, false);
}

AccountRun sync_once(const AccountConfig& a, const std::function<std::string()>& password) {
  SyncOptions o;
  o.password = password;
  AccountRun run;
  PrintingReporter reporter;
  sync_one_account(a, o, run, reporter, nullptr, 0);
  return run;
}

namespace {

int command_list(const Config& config, const std::string& name) {
  const AccountConfig* a = config.find_account(name);
  if (a == nullptr) {
    throw Error(Scope::Usage, "no account \"" + name + "\" in " + config.path.string());
  }
  for (const auto& f : sync::list_account(settings_for(*a, false, false))) {
    std::cout << list_line(f) << "\n";
  }
  return k_exit_ok;
}

}  // namespace

int run(int argc, char** argv) {
  po::options_description options;
  options.add_options()("config,c", po::value<std::string>())("from", po::value<std::string>())(
      "dry-run,n", po::bool_switch())("force", po::bool_switch())("json", po::bool_switch())(
      "jobs,j", po::value<unsigned>())("verbose,v", po::bool_switch())(
      "quiet,q", po::bool_switch())("debug", po::value<std::string>()->implicit_value("all"))(
      "help,h", po::bool_switch())("version", po::bool_switch())(
      "test-stop-after", po::value<std::uint64_t>())("test-signal-after", po::value<std::string>())(
      "command", po::value<std::string>())(
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
  bool json = vm["json"].as<bool>();
  // With --json even a run that ends before any account (a bad
  // configuration) prints its one document, so that a caller parsing
  // stdout always has something to parse; the message goes to stderr too.
  auto json_error = [&](int status, std::string_view scope, const std::string& message) {
    if (json && vm["command"].as<std::string>() == "sync") {
      RunInfo info;
      info.dry_run = vm["dry-run"].as<bool>();
      info.exit_status = status;
      info.error = message;
      info.error_scope = std::string(scope);
      std::cout << run_json({}, info).dump(2) << std::endl;
    }
    return status;
  };
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
    if (command != "sync" && command != "list" && command != "watch" && command != "import") {
      std::cerr << "roam: unknown command '" << command << "'\nTry 'roam --help'.\n";
      return k_exit_usage;
    }
    if (command == "list" && args.size() != 1) {
      std::cerr << "roam: 'roam list' takes exactly one ACCOUNT\n";
      return k_exit_usage;
    }
    if (command != "sync" && (json || vm.count("jobs"))) {
      std::cerr << "roam: --json and --jobs are options of 'roam sync'\n";
      return k_exit_usage;
    }
    if (command == "import" && args.empty()) {
      std::cerr << "roam: 'roam import' needs the tool to import from: mbsync or offlineimap\n";
      return k_exit_usage;
    }
    if (command != "import" && vm.count("from")) {
      std::cerr << "roam: --from is an option of 'roam import'\n";
      return k_exit_usage;
    }
    if (command == "watch" && vm["dry-run"].as<bool>()) {
      std::cerr << "roam: 'roam watch' has no --dry-run; use 'roam sync --dry-run'\n";
      return k_exit_usage;
    }
    SyncOptions options_of_sync;
    options_of_sync.dry_run = vm["dry-run"].as<bool>();
    options_of_sync.force = vm["force"].as<bool>();
    options_of_sync.verbose = verbose;
    options_of_sync.quiet = quiet;
    options_of_sync.json = json;
    if (vm.count("jobs")) {
      unsigned jobs = vm["jobs"].as<unsigned>();
      if (jobs == 0 || jobs > k_max_jobs) {
        throw Error(Scope::Usage,
                    "--jobs must be a number from 1 to " + std::to_string(k_max_jobs) +
                        " (accounts synced at once); for more accounts run roam under a "
                        "scheduler, see docs/many-accounts.md");
      }
      options_of_sync.jobs = jobs;
    }
    std::filesystem::path path = vm.count("config")
                                     ? std::filesystem::path(vm["config"].as<std::string>())
                                     : default_config_path();
    if (command == "import") {
      ImportOptions io;
      io.tool = args.front();
      io.names.assign(args.begin() + 1, args.end());
      io.from = vm.count("from") ? std::filesystem::path(vm["from"].as<std::string>())
                                 : std::filesystem::path();
      io.config = path;
      io.dry_run = vm["dry-run"].as<bool>();
      io.quiet = quiet;
      return command_import(io);
    }
    Config config = load_config(path);
    if (command == "list") {
      return command_list(config, args.front());
    }
    if (command == "watch") {
      return command_watch(config, args, WatchOptions{verbose, quiet});
    }
    // From here on a first Ctrl-C or SIGTERM stops at the next safe point.
    util::install_stop_handlers();
    return command_sync(config, args, options_of_sync);
  } catch (const Error& e) {
    if (e.scope() == Scope::Fatal) {
      std::cerr << "roam: internal error: " << e.what()
                << "\nThis is a bug in roam; please report it with the output of --debug.\n";
      return json_error(k_exit_internal, "fatal", e.what());
    }
    std::cerr << "roam: error: " << e.what() << "\n";
    return e.scope() == Scope::Usage ? json_error(k_exit_usage, "usage", e.what())
                                     : json_error(k_exit_partial, "account", e.what());
  } catch (const std::exception& e) {
    std::cerr << "roam: internal error: " << e.what() << "\n";
    return json_error(k_exit_internal, "fatal", e.what());
  }
}

}  // namespace roam::cli
