#include "state/journal_entry.hpp"

#include <limits>
#include <string_view>

#include "util/error.hpp"

namespace roam::state {

namespace {

using util::Error;
using util::Scope;

template <class... Ts>
struct Overloaded : Ts... {
  using Ts::operator()...;
};
template <class... Ts>
Overloaded(Ts...) -> Overloaded<Ts...>;

// Reads the fields of one entry, naming the journal and line in errors.
class Fields {
 public:
  Fields(const nlohmann::json& object, const std::filesystem::path& journal, std::size_t line)
      : m_object(object), m_journal(journal), m_line(line) {}

  [[noreturn]] void fail(const std::string& detail) const {
    throw Error(Scope::Folder, "journal " + m_journal.string() + " line " + std::to_string(m_line) +
                                   " is not a valid entry: " + detail +
                                   "; remove the journal to let the next run re-match the "
                                   "folder's messages by content");
  }

  const nlohmann::json& get(std::string_view key) const {
    auto it = m_object.find(key);
    if (it == m_object.end()) {
      fail("no \"" + std::string(key) + "\"");
    }
    return *it;
  }

  std::string string(std::string_view key) const {
    const auto& value = get(key);
    if (!value.is_string()) {
      fail("\"" + std::string(key) + "\" is not a string");
    }
    return value.get<std::string>();
  }

  std::uint64_t number(std::string_view key, std::uint64_t max) const {
    const auto& value = get(key);
    if (!value.is_number_unsigned() || value.get<std::uint64_t>() > max) {
      // Built piece by piece: GCC 12 at -O2 warns (-Wrestrict, a false
      // positive) about "literal" + std::string here.
      std::string message(1, '"');
      message.append(key);
      message.append("\" is not a number up to ");
      message.append(std::to_string(max));
      fail(message);
    }
    return value.get<std::uint64_t>();
  }

  std::uint32_t uid() const {
    auto uid = static_cast<std::uint32_t>(number("uid", std::numeric_limits<std::uint32_t>::max()));
    if (uid == 0) {
      fail("uid 0");
    }
    return uid;
  }

  std::vector<std::string> flags() const {
    const auto& value = get("flags");
    if (!value.is_array()) {
      fail("\"flags\" is not an array");
    }
    std::vector<std::string> out;
    for (const auto& flag : value) {
      if (!flag.is_string() || flag.get_ref<const std::string&>().empty()) {
        fail("a flag is not a non-empty string");
      }
      out.push_back(flag.get<std::string>());
    }
    normalize_flags(out);
    return out;
  }

  // A stable name is checked by the state when it is recorded; here only
  // what would make it unusable as a file name.
  std::string name() const {
    std::string name = string("name");
    if (name.empty() || name == "." || name == ".." || name.find('/') != std::string::npos ||
        name.find('\0') != std::string::npos) {
      fail("the name '" + name + "' cannot be a Maildir file name");
    }
    return name;
  }

  std::string key(bool optional) const {
    std::string key = string("key");
    bool ok = key.size() == 16 && key.find_first_not_of("0123456789abcdef") == std::string::npos;
    if (!ok && !(optional && key.empty())) {
      fail("the content key '" + key.substr(0, 40) + "' is not 16 lower-case hex digits");
    }
    return key;
  }

 private:
  const nlohmann::json& m_object;
  const std::filesystem::path& m_journal;
  std::size_t m_line;
};

}  // namespace

nlohmann::json to_json(const JournalEntry& entry) {
  return std::visit(
      Overloaded{
          [](const DownloadEntry& e) -> nlohmann::json {
            return {{"op", "download"}, {"uid", e.uid}, {"name", e.name}};
          },
          [](const UploadEntry& e) -> nlohmann::json {
            const PendingUpload& p = e.upload;
            return {{"op", "upload"},  {"name", p.name},
                    {"key", p.key},    {"message_id", p.message_id},
                    {"size", p.size},  {"uidnext", p.uidnext},
                    {"flags", p.flags}};
          },
          [](const UploadedEntry& e) -> nlohmann::json {
            return {{"op", "uploaded"}, {"uid", e.uid}, {"name", e.name}};
          },
          [](const UploadRefusedEntry& e) -> nlohmann::json {
            return {{"op", "upload_refused"}, {"name", e.name}};
          },
          [](const MovedEntry& e) -> nlohmann::json {
            return {{"op", "moved"},
                    {"uid", e.uid},
                    {"name", e.name},
                    {"flags", e.flags},
                    {"key", e.key}};
          },
          [](const MovingEntry& e) -> nlohmann::json {
            return {{"op", "moving"}, {"uid", e.uid}};
          },
          [](const LocalDeleteEntry& e) -> nlohmann::json {
            return {{"op", "delete_local"}, {"uid", e.uid}, {"name", e.name}};
          },
          [](const DeletingEntry& e) -> nlohmann::json {
            return {{"op", "deleting"}, {"uid", e.uid}, {"name", e.name}, {"key", e.key}};
          },
      },
      entry);
}

JournalEntry entry_from_json(const nlohmann::json& object, const std::filesystem::path& journal,
                             std::size_t line) {
  Fields f(object, journal, line);
  std::string op = f.string("op");
  if (op == "download") {
    return DownloadEntry{f.uid(), f.name()};
  }
  if (op == "upload") {
    PendingUpload p;
    p.name = f.name();
    p.key = f.key(false);
    p.message_id = f.string("message_id");
    p.size = f.number("size", std::numeric_limits<std::uint64_t>::max());
    p.uidnext =
        static_cast<std::uint32_t>(f.number("uidnext", std::numeric_limits<std::uint32_t>::max()));
    p.flags = f.flags();
    return UploadEntry{std::move(p)};
  }
  if (op == "uploaded") {
    return UploadedEntry{f.uid(), f.name()};
  }
  if (op == "upload_refused") {
    return UploadRefusedEntry{f.name()};
  }
  if (op == "moved") {
    return MovedEntry{f.uid(), f.name(), f.flags(), f.key(true)};
  }
  if (op == "moving") {
    return MovingEntry{f.uid()};
  }
  if (op == "delete_local") {
    return LocalDeleteEntry{f.uid(), f.name()};
  }
  if (op == "deleting") {
    return DeletingEntry{f.uid(), f.name(), f.key(true)};
  }
  f.fail("unknown \"op\" '" + op.substr(0, 40) + "' (written by a newer roam?)");
}

}  // namespace roam::state
