#pragma once
// What the tests of `roam import` (import_mbsync_test.cpp,
// import_offlineimap_test.cpp) check after the other tool synced and roam
// imported: the first sync's totals, and that no file was renamed.

#include <filesystem>
#include <set>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "dovecot.hpp"
#include "maildir_helpers.hpp"

namespace roam::it {

// The totals of the first account of a `roam sync --json` run; fails the
// test when roam did not exit 0 or printed no report.
inline nlohmann::json first_account_totals(const ProcessResult& r) {
  EXPECT_EQ(r.exit_code, 0) << describe(r);
  nlohmann::json doc = nlohmann::json::parse(r.out, nullptr, false);
  if (doc.is_discarded() || !doc.contains("accounts") || doc["accounts"].empty()) {
    ADD_FAILURE() << "no JSON report:\n" << describe(r);
    return nlohmann::json::object();
  }
  return doc["accounts"][0]["totals"];
}

// A sync that copied, changed and deleted nothing on either side.
inline void expect_nothing_moved(const nlohmann::json& totals) {
  for (const char* count : {"downloaded", "uploaded", "flags_changed", "deleted",
                            "server_flags_changed", "server_deleted", "moved"}) {
    EXPECT_EQ(totals.value(count, -1), 0) << count << " in " << totals.dump();
  }
}

// Every message file below `root` (its path relative to root, so that a
// rename or a move shows).
inline std::set<std::string> file_names(const std::filesystem::path& root) {
  std::set<std::string> names;
  for (const auto& e : std::filesystem::recursive_directory_iterator(root)) {
    std::string parent = e.path().parent_path().filename().string();
    if (e.is_regular_file() && (parent == "cur" || parent == "new")) {
      names.insert(std::filesystem::relative(e.path(), root).string());
    }
  }
  return names;
}

}  // namespace roam::it
