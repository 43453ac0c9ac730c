#include "cli/import.hpp"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <iostream>
#include <map>
#include <optional>
#include <sstream>

#include "cli/app.hpp"
#include "imap/lexer.hpp"
#include "imap/utf7.hpp"
#include "import/build.hpp"
#include "import/mbsync.hpp"
#include "import/offlineimap.hpp"
#include "import/plan.hpp"
#include "maildir/layout.hpp"
#include "state/folder_state.hpp"
#include "state/lock.hpp"
#include "sync/account.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"

namespace roam::cli {

namespace fs = std::filesystem;
using util::Error;
using util::Scope;

namespace {

// A folder name with its hierarchy delimiter written '/', as the plans
// name folders, and "INBOX" spelled so whatever case the server used.
std::string slash_form(std::string name, std::optional<char> delimiter) {
  if (delimiter && *delimiter != '/') {
    std::replace(name.begin(), name.end(), *delimiter, '/');
  }
  std::size_t first = std::min(name.find('/'), name.size());
  if (imap::iequals(std::string_view(name).substr(0, first), "INBOX")) {
    name.replace(0, first, "INBOX");
  }
  return name;
}

std::string today() {
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  localtime_r(&now, &tm);
  char buf[16];
  std::strftime(buf, sizeof buf, "%Y-%m-%d", &tm);
  return buf;
}

// The text of one [account.NAME] section.
std::string section_text(const import::PlannedAccount& plan, const ImportOptions& o,
                         const fs::path& from) {
  std::ostringstream out;
  out << "\n# Imported by `roam import " << o.tool << "` from " << from.string() << " on "
      << today() << ".\n";
  for (const auto& c : plan.comments) {
    out << "# " << c << "\n";
  }
  out << "[account." << plan.name << "]\n";
  for (const auto& [key, value] : plan.keys) {
    out << key << " = " << value << "\n";
  }
  return out.str();
}

// What the import decided for one folder of a plan.
struct FolderOutcome {
  std::string plan_name;
  std::string name;  // roam's name (the state's mailbox); empty if none.
  std::optional<import::BuiltFolder> built;
  std::string skipped;  // Why no state is written, or empty.
};

struct AccountOutcome {
  const import::PlannedAccount* plan = nullptr;
  std::vector<FolderOutcome> folders;
  std::vector<std::string> exclusions;  // Folder names left out of `folders`.
  std::string failed;                   // Why nothing is imported, or empty.
};

// Asks the server for roam's name of each planned folder and its
// UIDVALIDITY, and builds the states that can be built.
void check_against_server(const AccountConfig& a, AccountOutcome& out) {
  sync::AccountSettings s = account_settings(a);
  std::unique_ptr<imap::Client> client = sync::open_session(s);
  std::vector<sync::ListedFolder> listed = sync::list_account(s, *client);
  // roam's local names first, then the server's full names (a tool that
  // kept the namespace prefix locally names folders by those).
  std::map<std::string, const sync::ListedFolder*> by_local, by_full;
  for (const auto& f : listed) {
    by_local.emplace(slash_form(f.name, f.delimiter), &f);
    by_full.emplace(slash_form(imap::utf7_decode(f.mailbox), f.delimiter), &f);
  }
  std::vector<std::string> wire;
  std::vector<std::pair<std::size_t, const sync::ListedFolder*>> asked;
  // The directories of folders roam would keep elsewhere, with the server
  // folder's delimiter.
  std::map<fs::path, std::optional<char>> elsewhere;
  for (std::size_t i = 0; i < out.plan->folders.size(); ++i) {
    const import::PlannedFolder& pf = out.plan->folders[i];
    FolderOutcome& fo = out.folders.emplace_back();
    fo.plan_name = pf.name;
    std::string key = slash_form(pf.name, '/');
    const sync::ListedFolder* f = nullptr;
    if (auto it = by_local.find(key); it != by_local.end()) {
      f = it->second;
    } else if (auto jt = by_full.find(key); jt != by_full.end()) {
      f = jt->second;
    }
    if (f == nullptr) {
      fo.skipped = "not on the server (the first sync uploads its messages if create = yes)";
      continue;
    }
    fo.name = f->name;
    if (!f->selected) {
      fo.skipped = "not selected by the account's folders patterns";
      continue;
    }
    fs::path roam_dir;
    try {
      roam_dir = maildir::folder_path(a.tree(), f->name, f->delimiter);
    } catch (const Error& e) {
      fo.skipped = std::string("roam refuses its name: ") + e.what();
      continue;
    }
    std::error_code ec1, ec2;
    fs::path theirs = fs::weakly_canonical(pf.dir, ec1);
    fs::path ours = fs::weakly_canonical(roam_dir, ec2);
    if (ec1 || ec2 || theirs != ours) {
      // roam would sync this folder into another directory and download
      // every message there again: a second copy of each in the Maildir.
      // Leaving it out of `folders` is what keeps that from happening.
      fo.skipped = "roam would keep it in " + roam_dir.string() + ", its files are in " +
                   pf.dir.lexically_normal().string() +
                   "; left out of `folders` so that nothing is copied twice";
      out.exclusions.push_back(f->name);
      elsewhere.emplace(theirs, f->delimiter);
      continue;
    }
    if (pf.uidvalidity == 0) {
      fo.skipped = "the old state names no UIDVALIDITY; the first sync pairs by content";
      continue;
    }
    wire.push_back(f->mailbox);
    asked.emplace_back(i, f);
  }
  if (!elsewhere.empty()) {
    // roam's own listing may read such a directory as a folder of another
    // name (its layout spells names differently), which exists only
    // locally: the first sync would create it on the server and upload
    // every message of it. So that name is left out as well.
    maildir::Tree tree = a.tree();
    for (const std::string& local : maildir::list_local_folders(tree).names) {
      std::error_code ec;
      fs::path dir;
      try {
        dir = fs::weakly_canonical(maildir::folder_path(tree, local, '/'), ec);
      } catch (const Error&) {
        continue;  // Listed names are valid; one that is not is no folder.
      }
      auto it = ec ? elsewhere.end() : elsewhere.find(dir);
      if (it == elsewhere.end()) {
        continue;
      }
      std::string name = local;
      if (it->second && *it->second != '/') {
        std::replace(name.begin(), name.end(), '/', *it->second);
      }
      if (std::find(out.exclusions.begin(), out.exclusions.end(), name) == out.exclusions.end()) {
        out.exclusions.push_back(name);
      }
    }
  }
  std::map<std::string, imap::StatusData> statuses =
      wire.empty() ? std::map<std::string, imap::StatusData>{}
                   : client->statuses(wire, {"UIDVALIDITY", "UIDNEXT"});
  client->logout();
  for (const auto& [i, f] : asked) {
    const import::PlannedFolder& pf = out.plan->folders[i];
    FolderOutcome& fo = out.folders[i];
    auto st = statuses.find(f->mailbox);
    if (st == statuses.end() || !st->second.uidvalidity) {
      fo.skipped = "the server gave no UIDVALIDITY for it; the first sync pairs by content";
      continue;
    }
    if (*st->second.uidvalidity != pf.uidvalidity) {
      fo.skipped = "its UIDVALIDITY changed on the server since (" +
                   std::to_string(pf.uidvalidity) + " -> " +
                   std::to_string(*st->second.uidvalidity) +
                   "); the first sync pairs its messages by content";
      continue;
    }
    fo.built = import::build_folder_state(pf, f->name);
  }
}

void print_outcome(const AccountOutcome& out, bool dry_run) {
  std::cout << (dry_run ? "Would import" : "Imported") << " account " << out.plan->name << ":\n";
  for (const auto& fo : out.folders) {
    std::cout << "  " << fo.plan_name << ": ";
    if (!fo.skipped.empty()) {
      std::cout << "no state: " << fo.skipped << "\n";
      continue;
    }
    const import::BuiltFolder& b = *fo.built;
    std::cout << b.paired << " paired";
    if (b.unpaired_files != 0) {
      std::cout << ", " << b.unpaired_files << " files left for the first sync to pair by content";
      if (b.duplicate_uids != 0) {
        std::cout << " (" << b.duplicate_uids << " sharing a ,U= with another file)";
      }
      if (b.foreign_fmd5 != 0) {
        std::cout << " (" << b.foreign_fmd5 << " moved in from another folder)";
      }
    }
    if (b.missing_files != 0) {
      std::cout << ", " << b.missing_files
                << " in the old state without a file (downloaded again, not deleted on the "
                   "server)";
    }
    std::cout << "\n";
  }
  for (const auto& pf : out.plan->folders) {
    for (const auto& n : pf.notes) {
      std::cout << "  " << pf.name << ": note: " << n << "\n";
    }
  }
  for (const auto& n : out.plan->notes) {
    std::cout << "  note: " << n << "\n";
  }
}

}  // namespace

fs::path default_import_source(const std::string& tool) {
  if (tool == "mbsync") {
    fs::path xdg = xdg_config_home() / "isyncrc";
    return fs::exists(xdg) ? xdg : util::expand_user("~/.mbsyncrc");
  }
  fs::path dot = util::expand_user("~/.offlineimaprc");
  return fs::exists(dot) ? dot : xdg_config_home() / "offlineimap" / "config";
}

int command_import(const ImportOptions& o) {
  if (o.tool != "mbsync" && o.tool != "offlineimap") {
    throw Error(Scope::Usage, "roam import reads mbsync or offlineimap, not \"" + o.tool + "\"");
  }
  fs::path from = o.from.empty() ? default_import_source(o.tool) : o.from;
  if (!fs::exists(from)) {
    throw Error(Scope::Usage, "no " + o.tool + " configuration at " + from.string() +
                                  "; name it with --from FILE");
  }
  std::vector<import::PlannedAccount> plans;
  if (o.tool == "mbsync") {
    plans = import::read_mbsync(from, o.names);
  } else {
    plans = import::read_offlineimap(from, o.names);
  }
  if (plans.empty()) {
    throw Error(Scope::Usage, "nothing to import: " + from.string() +
                                  " has no account that syncs an IMAP server with a Maildir");
  }

  // The configuration as it is; an existing file must be valid, as roam
  // will not add to a file it cannot read.
  std::string old_text;
  std::vector<std::string> existing;
  if (fs::exists(o.config)) {
    Config current = load_config(o.config);
    for (const auto& a : current.accounts) {
      existing.push_back(a.name);
    }
    old_text = util::read_file(o.config);
    if (!old_text.empty() && old_text.back() != '\n') {
      old_text += '\n';
    }
  }

  int status = k_exit_ok;
  std::vector<AccountOutcome> outcomes;
  for (const auto& plan : plans) {
    if (std::find(existing.begin(), existing.end(), plan.name) != existing.end()) {
      std::cerr << "roam: account " << plan.name << " is already in " << o.config.string()
                << ": not imported again (remove its section and its state directory to "
                   "import it anew)\n";
      status = k_exit_partial;
      continue;
    }
    AccountOutcome& out = outcomes.emplace_back();
    out.plan = &plan;
  }
  if (outcomes.empty()) {
    return status;
  }

  // Every new section is checked as roam will read it, in a trial copy of
  // the configuration next to it (so relative paths and permissions are
  // the same); the real file is written only at the end.
  auto render = [&](const std::vector<AccountOutcome>& outs) {
    std::string text = old_text;
    for (const auto& out : outs) {
      import::PlannedAccount plan = *out.plan;
      if (!out.exclusions.empty()) {
        auto folders = std::find_if(plan.keys.begin(), plan.keys.end(),
                                    [](const auto& kv) { return kv.first == "folders"; });
        if (folders == plan.keys.end()) {
          plan.keys.emplace_back("folders", "*");
          folders = plan.keys.end() - 1;
        }
        for (const auto& name : out.exclusions) {
          folders->second += " " + import::folder_pattern("!" + name);
        }
      }
      text += section_text(plan, o, from);
    }
    return text;
  };
  fs::path dir = o.config.parent_path().empty() ? fs::path(".") : o.config.parent_path();
  if (!o.dry_run) {
    fs::create_directories(dir);
  } else if (!fs::is_directory(dir)) {
    dir = fs::temp_directory_path();
  }
  fs::path trial = dir / (".roam-import-" + std::to_string(::getpid()));
  auto load_trial = [&](const std::string& text) {
    util::write_file_atomic(trial, text, 0600);
    try {
      Config c = load_config(trial);
      fs::remove(trial);
      return c;
    } catch (const Error& e) {
      fs::remove(trial);
      throw Error(Scope::Fatal,
                  std::string("roam import wrote a section roam refuses: ") + e.what());
    }
  };
  Config trial_config = load_trial(render(outcomes));

  for (auto& out : outcomes) {
    const AccountConfig* a = trial_config.find_account(out.plan->name);
    try {
      check_against_server(*a, out);
    } catch (const Error& e) {
      out.failed = e.what();
    }
  }
  std::vector<AccountOutcome> done;
  for (auto& out : outcomes) {
    if (!out.failed.empty()) {
      std::cerr << "roam: account " << out.plan->name << " not imported: " << out.failed
                << "\n(run roam import again when the server can be reached; nothing was "
                   "written for it)\n";
      status = k_exit_partial;
    } else {
      done.push_back(std::move(out));
    }
  }
  if (done.empty()) {
    return status;
  }
  std::string final_text = render(done);
  Config final_config = load_trial(final_text);
  if (o.dry_run) {
    for (const auto& out : done) {
      print_outcome(out, true);
    }
    std::cout << "\nThe configuration would get:\n" << final_text.substr(old_text.size());
    return status;
  }

  // The configuration first: a state without its account would be found
  // by nobody, while an account without state is synced by content.
  util::write_file_atomic(o.config, final_text, 0600);
  for (const auto& out : done) {
    const AccountConfig* a = final_config.find_account(out.plan->name);
    state::AccountLock lock(a->state_dir, a->name);
    for (const auto& fo : out.folders) {
      if (!fo.built || fo.built->state.messages.empty()) {
        continue;
      }
      fs::path path = state::state_file_for(a->state_dir, fo.name);
      if (fs::exists(path)) {
        std::cerr << "roam: " << path.string() << " exists already; " << fo.plan_name
                  << " keeps it and gets no imported state\n";
        status = k_exit_partial;
        continue;
      }
      state::save_folder_state(path, fo.built->state);
    }
    if (!o.quiet) {
      print_outcome(out, false);
    }
  }
  if (!o.quiet) {
    std::cout << "\nWritten to " << o.config.string()
              << ". Check what the first sync would do with: roam sync -n ACCOUNT\n";
  }
  return status;
}

}  // namespace roam::cli
