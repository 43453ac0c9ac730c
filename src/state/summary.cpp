#include "state/summary.hpp"

#include <sys/stat.h>

#include <nlohmann/json.hpp>

#include "util/error.hpp"
#include "util/fs.hpp"
#include "util/log.hpp"

namespace roam::state {

namespace fs = std::filesystem;

namespace {

// Version 2 added "verify" (FolderSummary::verify). A roam that knows only
// version 1 ignores a version 2 file (every folder checked in full) rather
// than skipping a folder on the word of an entry it cannot fully read.
constexpr int k_summary_version = 2;

nlohmann::json stamp_json(const FileStamp& s) {
  return nlohmann::json::array({s.inode, s.size, s.mtime_ns});
}

FileStamp stamp_from(const nlohmann::json& j) {
  if (!j.is_array() || j.size() != 3 || !j[0].is_number_unsigned() || !j[1].is_number_unsigned() ||
      !j[2].is_number_integer()) {
    throw util::Error(util::Scope::Folder, "a stamp is not [inode, size, mtime_ns]");
  }
  return {j[0].get<std::uint64_t>(), j[1].get<std::uint64_t>(), j[2].get<std::int64_t>()};
}

template <typename T>
T number(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_number_unsigned()) {
    throw util::Error(util::Scope::Folder, std::string("\"") + key + "\" is missing");
  }
  auto v = it->get<std::uint64_t>();
  if (v > std::numeric_limits<T>::max()) {
    throw util::Error(util::Scope::Folder, std::string("\"") + key + "\" is out of range");
  }
  return static_cast<T>(v);
}

// "delimiter": one printable ASCII character, or "" for a server without
// hierarchy. Any other delimiter is left out (not known to the next run),
// so that the file stays UTF-8 whatever the server sent.
void put_delimiter(nlohmann::json& j, const std::optional<std::string>& d) {
  if (d && (d->empty() || (d->size() == 1 && (*d)[0] >= 0x20 && (*d)[0] < 0x7f))) {
    j["delimiter"] = *d;
  }
}

std::optional<std::string> delimiter_from(const nlohmann::json& j) {
  auto it = j.find("delimiter");
  if (it == j.end()) {
    return std::nullopt;
  }
  if (!it->is_string() || it->get_ref<const std::string&>().size() > 1) {
    throw util::Error(util::Scope::Folder, "\"delimiter\" is not one character or \"\"");
  }
  return it->get<std::string>();
}

}  // namespace

std::optional<FileStamp> stamp_of(const fs::path& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    return std::nullopt;
  }
  return FileStamp{
      static_cast<std::uint64_t>(st.st_ino), static_cast<std::uint64_t>(st.st_size),
      static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec};
}

fs::path summary_file_for(const fs::path& state_dir) {
  return state_dir / "summary.json";
}

std::string serialize_summary(const AccountSummary& summary) {
  nlohmann::json folders = nlohmann::json::object();
  for (const auto& [name, f] : summary) {
    if (!f.settled) {
      folders[name] = {{"mailbox", f.mailbox}, {"settled", false}};
      put_delimiter(folders[name], f.delimiter);
      continue;
    }
    folders[name] = {{"uidvalidity", f.uidvalidity},
                     {"uidnext", f.uidnext},
                     {"highestmodseq", f.highestmodseq},
                     {"messages", f.messages},
                     {"state_file", stamp_json(f.state_file)},
                     {"cur", stamp_json(f.cur)},
                     {"new", stamp_json(f.new_dir)}};
    if (!f.mailbox.empty()) {
      folders[name]["mailbox"] = f.mailbox;
    }
    if (f.verify) {
      folders[name]["verify"] = f.local_digest;
    }
    put_delimiter(folders[name], f.delimiter);
  }
  nlohmann::json doc = {{"roam_summary", k_summary_version}, {"folders", folders}};
  return doc.dump(1) + "\n";
}

AccountSummary parse_summary(std::string_view text) {
  nlohmann::json doc = nlohmann::json::parse(text);
  const int version = doc.is_object() ? doc.value("roam_summary", 0) : 0;
  if ((version != 1 && version != k_summary_version) || !doc.contains("folders") ||
      !doc["folders"].is_object()) {
    throw util::Error(util::Scope::Folder,
                      "not a version 1 or " + std::to_string(k_summary_version) + " summary");
  }
  AccountSummary out;
  for (const auto& [name, f] : doc["folders"].items()) {
    if (!f.is_object()) {
      throw util::Error(util::Scope::Folder, "folder " + name + " is not an object");
    }
    FolderSummary s;
    if (auto it = f.find("mailbox"); it != f.end()) {
      if (!it->is_string()) {
        throw util::Error(util::Scope::Folder, "\"mailbox\" is not a string");
      }
      s.mailbox = it->get<std::string>();
    }
    s.delimiter = delimiter_from(f);
    if (auto it = f.find("settled"); it != f.end()) {
      if (!it->is_boolean() || it->get<bool>() || s.mailbox.empty()) {
        throw util::Error(util::Scope::Folder,
                          "\"settled\" is not false, or has no \"mailbox\" beside it");
      }
      s.settled = false;
      out.emplace(name, s);
      continue;
    }
    s.uidvalidity = number<std::uint32_t>(f, "uidvalidity");
    s.uidnext = number<std::uint32_t>(f, "uidnext");
    s.highestmodseq = number<std::uint64_t>(f, "highestmodseq");
    s.messages = number<std::uint64_t>(f, "messages");
    s.state_file = stamp_from(f.value("state_file", nlohmann::json()));
    s.cur = stamp_from(f.value("cur", nlohmann::json()));
    s.new_dir = stamp_from(f.value("new", nlohmann::json()));
    if (f.contains("verify")) {
      s.verify = true;
      s.local_digest = number<std::uint64_t>(f, "verify");
    }
    out.emplace(name, s);
  }
  return out;
}

AccountSummary load_summary(const fs::path& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) {
    return {};
  }
  try {
    return parse_summary(util::read_file(path));
  } catch (const std::exception& e) {
    ROAM_DEBUG(util::k_cat_sync,
               path.string() << ": ignored (" << e.what() << "); every folder is checked in full");
    return {};
  }
}

void save_summary(const fs::path& path, const AccountSummary& summary) {
  util::write_file_atomic(path, serialize_summary(summary));
}

}  // namespace roam::state
