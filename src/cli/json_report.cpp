#include "cli/json_report.hpp"

#include <signal.h>

#ifndef ROAM_VERSION
#define ROAM_VERSION "unknown"
#endif

namespace roam::cli {

using nlohmann::json;

namespace {

// The counts of FolderReport, under its own field names, so that a reader
// of the code and a reader of the document speak of the same things.
void add_counts(json& out, const sync::FolderReport& f) {
  out["downloaded"] = f.downloaded;
  out["bytes"] = f.bytes;
  out["flags_changed"] = f.flags_changed;
  out["deleted"] = f.deleted;
  out["uploaded"] = f.uploaded;
  out["server_flags_changed"] = f.server_flags_changed;
  out["server_deleted"] = f.server_deleted;
  out["moved"] = f.moved;
}

json folder_json(const sync::FolderReport& f) {
  json out;
  out["name"] = f.name;
  add_counts(out, f);
  out["skipped_unchanged"] = f.skipped_unchanged;
  out["skipped_by_summary"] = f.skipped_by_summary;
  out["listed_changes"] = f.listed_changes;
  out["error"] = f.error.empty() ? json(nullptr) : json(f.error);
  out["problems"] = f.problems;
  out["notices"] = f.notices;
  out["details"] = f.details;
  return out;
}

json hook_json(const HookResult& r, std::string_view key, const std::string& account) {
  json out;
  out["ok"] = r.ok();
  out["exit_code"] = r.exit_code >= 0 ? json(r.exit_code) : json(nullptr);
  out["signal"] = r.signal != 0 ? json(r.signal) : json(nullptr);
  out["timed_out"] = r.timed_out;
  out["stopped"] = r.stopped;
  out["seconds"] = r.seconds;
  out["error"] = r.ok() ? json(nullptr) : json(r.describe(key, account));
  out["output"] = r.output;
  return out;
}

json error_json(std::string_view scope, const std::string& message) {
  return json{{"scope", scope}, {"message", message}};
}

}  // namespace

bool AccountRun::ok() const {
  return report.ok() && (!pre_hook || pre_hook->ok()) && (!post_hook || post_hook->ok());
}

json signal_json(int sig) {
  switch (sig) {
    case 0:
      return nullptr;
    case SIGINT:
      return "SIGINT";
    case SIGTERM:
      return "SIGTERM";
    default:
      return "signal " + std::to_string(sig);
  }
}

json account_json(const AccountRun& run) {
  const sync::AccountReport& r = run.report;
  json out;
  out["name"] = r.account;
  out["ok"] = run.ok();
  out["status"] = r.ok() ? "ok" : "failed";
  out["not_started"] = run.not_started;
  out["dry_run"] = r.dry_run;
  out["seconds"] = r.seconds;
  out["stopped_by"] = signal_json(r.stopped_by);
  out["error"] = r.error.empty() ? json(nullptr) : json(r.error);
  out["notices"] = r.notices;
  out["warnings"] = run.warnings;

  sync::FolderReport sum;
  std::size_t unchanged = 0;
  std::size_t failed = 0;
  json folders = json::array();
  // Every error of the account in one list, each with its scope, so that a
  // monitor need not walk the folders: "account" (the account stopped, or a
  // hook failed), "folder" (that folder did not sync, the others did),
  // "message" (one message or file could not be handled).
  json errors = json::array();
  if (!r.error.empty()) {
    json e = error_json("account", r.error);
    if (run.pre_hook && !run.pre_hook->ok()) {
      e["hook"] = "pre_sync_cmd";
    }
    errors.push_back(std::move(e));
  }
  for (const auto& f : r.folders) {
    sum.downloaded += f.downloaded;
    sum.bytes += f.bytes;
    sum.flags_changed += f.flags_changed;
    sum.deleted += f.deleted;
    sum.uploaded += f.uploaded;
    sum.server_flags_changed += f.server_flags_changed;
    sum.server_deleted += f.server_deleted;
    sum.moved += f.moved;
    unchanged += f.skipped_unchanged ? 1 : 0;
    if (!f.error.empty()) {
      ++failed;
      json e = error_json("folder", f.error);
      e["folder"] = f.name;
      errors.push_back(std::move(e));
    }
    for (const auto& p : f.problems) {
      json e = error_json("message", p);
      e["folder"] = f.name;
      errors.push_back(std::move(e));
    }
    folders.push_back(folder_json(f));
  }
  if (run.post_hook && !run.post_hook->ok()) {
    json e = error_json("account", run.post_hook->describe("post_sync_cmd", r.account));
    e["hook"] = "post_sync_cmd";
    errors.push_back(std::move(e));
  }
  json totals;
  totals["folders"] = r.folders.size();
  totals["folders_unchanged"] = unchanged;
  totals["folders_failed"] = failed;
  add_counts(totals, sum);
  out["totals"] = std::move(totals);
  out["folders"] = std::move(folders);
  out["errors"] = std::move(errors);
  json hooks = json::object();
  hooks["pre_sync_cmd"] =
      run.pre_hook ? hook_json(*run.pre_hook, "pre_sync_cmd", r.account) : json(nullptr);
  hooks["post_sync_cmd"] =
      run.post_hook ? hook_json(*run.post_hook, "post_sync_cmd", r.account) : json(nullptr);
  out["hooks"] = std::move(hooks);
  return out;
}

json run_json(const std::vector<AccountRun>& runs, const RunInfo& info) {
  json out;
  out["version"] = k_json_version;
  out["roam_version"] = ROAM_VERSION;
  out["command"] = "sync";
  out["dry_run"] = info.dry_run;
  out["exit_status"] = info.exit_status;
  out["seconds"] = info.seconds;
  out["stopped_by"] = signal_json(info.stopped_by);
  out["error"] = info.error ? json(error_json(info.error_scope, *info.error)) : json(nullptr);
  json accounts = json::array();
  for (const auto& run : runs) {
    accounts.push_back(account_json(run));
  }
  out["accounts"] = std::move(accounts);
  return out;
}

}  // namespace roam::cli
