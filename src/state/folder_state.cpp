#include "state/folder_state.hpp"

#include <algorithm>
#include <cctype>
#include <limits>
#include <set>
#include <system_error>

#include <nlohmann/json.hpp>

#include "util/error.hpp"
#include "util/fs.hpp"
#include "util/log.hpp"

namespace roam::state {

namespace fs = std::filesystem;
using util::Error;
using util::Scope;

namespace {

constexpr std::string_view k_state_file_prefix = "folder-";
constexpr std::string_view k_state_file_suffix = ".json";
// The longest encoded mailbox kept verbatim in a file name. NAME_MAX is 255
// on the file systems roam supports; the prefix, ".json.journal" and the
// ".tmp-<pid>" suffix of util::write_file_atomic must fit as well.
constexpr std::size_t k_max_encoded_length = 200;
// How much of a too-long encoding is kept before the hash suffix.
constexpr std::size_t k_hashed_prefix_length = 180;

constexpr std::string_view k_repair_hint =
    "; roam will not sync this folder until it is repaired or removed (removing it makes the "
    "next run re-match messages)";

[[noreturn]] void throw_damaged(const fs::path& path, const std::string& detail) {
  throw Error(Scope::Folder, "state file " + path.string() + " is damaged: " + detail +
                                 std::string(k_repair_hint));
}

[[noreturn]] void throw_unwritable(const fs::path& path, const std::string& detail) {
  std::string what = path.empty() ? std::string("state") : "state file " + path.string();
  throw Error(Scope::Folder, "refusing to write " + what + ": " + detail +
                                 " (this is a bug in roam; the previous state is kept)");
}

bool is_plain_char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '-';
}

// Returns an empty string if `name` is an acceptable Maildir stable name,
// otherwise why it is not. A name read from a damaged or hostile state file
// must not be able to point outside the Maildir.
std::string check_name(std::string_view name) {
  if (name.empty()) {
    return "empty Maildir name";
  }
  if (name == "." || name == "..") {
    return "Maildir name '" + std::string(name) + "'";
  }
  if (name.find('/') != std::string_view::npos || name.find('\0') != std::string_view::npos) {
    // A NUL would cut the message short wherever it is printed.
    std::string shown;
    for (char c : name) {
      shown += c == '\0' ? std::string("\\0") : std::string(1, c);
    }
    return "Maildir name '" + shown + "' contains '/' or NUL";
  }
  return {};
}

// Returns an empty string if `flag` can be an IMAP flag or keyword.
std::string check_flag(std::string_view flag) {
  if (flag.empty()) {
    return "empty flag";
  }
  for (char c : flag) {
    auto byte = static_cast<unsigned char>(c);
    if (byte <= 0x20 || byte == 0x7f || c == '(' || c == ')' || c == '{' || c == '"') {
      return "flag '" + std::string(flag) + "' contains a character IMAP does not allow";
    }
  }
  return {};
}

std::uint64_t fnv1a64(std::string_view data) {
  std::uint64_t hash = 0xcbf29ce484222325ULL;
  for (char c : data) {
    hash ^= static_cast<unsigned char>(c);
    hash *= 0x100000001b3ULL;
  }
  return hash;
}

constexpr char k_hex_digits[] = "0123456789ABCDEF";

// The length of the well-formed UTF-8 sequence at the start of `s`
// (Unicode table 3-7: no overlong forms, no surrogates, nothing above
// U+10FFFF), or 0 if there is none. JSON serializers refuse exactly the
// bytes this rejects.
std::size_t utf8_sequence_length(std::string_view s) {
  auto byte = [&](std::size_t i) { return static_cast<unsigned char>(s[i]); };
  auto in = [&](std::size_t i, unsigned lo, unsigned hi) {
    return i < s.size() && byte(i) >= lo && byte(i) <= hi;
  };
  unsigned b0 = byte(0);
  if (b0 < 0x80) {
    return 1;
  }
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    return in(1, 0x80, 0xBF) ? 2 : 0;
  }
  if (b0 >= 0xE0 && b0 <= 0xEF) {
    unsigned lo = b0 == 0xE0 ? 0xA0 : 0x80;
    unsigned hi = b0 == 0xED ? 0x9F : 0xBF;
    return in(1, lo, hi) && in(2, 0x80, 0xBF) ? 3 : 0;
  }
  if (b0 >= 0xF0 && b0 <= 0xF4) {
    unsigned lo = b0 == 0xF0 ? 0x90 : 0x80;
    unsigned hi = b0 == 0xF4 ? 0x8F : 0xBF;
    return in(1, lo, hi) && in(2, 0x80, 0xBF) && in(3, 0x80, 0xBF) ? 4 : 0;
  }
  return 0;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') {
    return c - '0';
  }
  if (c >= 'A' && c <= 'F') {
    return c - 'A' + 10;
  }
  if (c >= 'a' && c <= 'f') {
    return c - 'a' + 10;
  }
  return -1;
}

// Turns a name as stored (see escape_name) back into the Maildir name, in
// place. Returns false, leaving `name` as it was, if an escape is broken.
bool unescape_stored_name(std::string& name);

std::string json_string(const std::string& text, const fs::path& path, std::string_view what) {
  try {
    return nlohmann::json(text).dump();
  } catch (const nlohmann::json::exception&) {
    throw_unwritable(path, std::string(what) + " is not valid UTF-8");
  }
}

// Reads an unsigned integer member of at most `max`; anything else (missing,
// negative, fractional, a string, too large) is damage.
std::uint64_t read_unsigned(const nlohmann::json& value, std::string_view what, std::uint64_t max,
                            const fs::path& path) {
  if (!value.is_number_unsigned()) {
    throw_damaged(path, std::string(what) + " is not a non-negative integer");
  }
  auto number = value.get<std::uint64_t>();
  if (number > max) {
    throw_damaged(path, std::string(what) + " is out of range (" + std::to_string(number) + ")");
  }
  return number;
}

// A SAX handler that only records duplicate keys of the top-level object.
// It also records the first syntax error.
// Why `key` is not a content key (16 lower-case hex digits), or empty.
std::string check_key(std::string_view key) {
  if (key.size() != 16 || !std::all_of(key.begin(), key.end(), [](char c) {
        return std::isxdigit(static_cast<unsigned char>(c)) &&
               !std::isupper(static_cast<unsigned char>(c));
      })) {
    return "the content key '" + std::string(key.substr(0, 40)) +
           "' is not 16 lower-case hex digits";
  }
  return {};
}

PendingUpload read_pending(nlohmann::json& entry, std::size_t index, const fs::path& path) {
  std::string where = "pending upload #" + std::to_string(index);
  static const std::set<std::string, std::less<>> k_keys = {"name", "key",     "message_id",
                                                            "size", "uidnext", "flags"};
  if (!entry.is_object()) {
    throw_damaged(path, where + " is not an object");
  }
  for (const auto& [key, value] : entry.items()) {
    if (k_keys.find(key) == k_keys.end()) {
      throw_damaged(path, where + ": unknown key \"" + key + "\"");
    }
  }
  for (const auto& key : k_keys) {
    if (!entry.contains(key)) {
      throw_damaged(path, where + ": missing key \"" + key + "\"");
    }
  }
  PendingUpload p;
  for (const char* key : {"name", "key", "message_id"}) {
    if (!entry[key].is_string()) {
      throw_damaged(path, where + ": \"" + key + "\" is not a string");
    }
  }
  p.name = entry["name"].get<std::string>();
  if (!unescape_stored_name(p.name)) {
    throw_damaged(path, where + ": the name '" + p.name + "' has a broken '/' escape");
  }
  if (auto problem = check_name(p.name); !problem.empty()) {
    throw_damaged(path, where + ": " + problem);
  }
  p.key = entry["key"].get<std::string>();
  if (auto problem = check_key(p.key); !problem.empty()) {
    throw_damaged(path, where + ": " + problem);
  }
  p.message_id = entry["message_id"].get<std::string>();
  p.size = read_unsigned(entry["size"], where + " size", std::numeric_limits<std::uint64_t>::max(),
                         path);
  p.uidnext = static_cast<std::uint32_t>(read_unsigned(
      entry["uidnext"], where + " uidnext", std::numeric_limits<std::uint32_t>::max(), path));
  if (!entry["flags"].is_array()) {
    throw_damaged(path, where + ": the flags are not an array");
  }
  for (auto& flag : entry["flags"]) {
    if (!flag.is_string()) {
      throw_damaged(path, where + ": a flag is not a string");
    }
    p.flags.push_back(flag.get<std::string>());
    if (auto problem = check_flag(p.flags.back()); !problem.empty()) {
      throw_damaged(path, where + ": " + problem);
    }
  }
  normalize_flags(p.flags);
  return p;
}

class TopLevelKeyChecker : public nlohmann::json_sax<nlohmann::json> {
 public:
  bool null() override { return true; }
  bool boolean(bool) override { return true; }
  bool number_integer(number_integer_t) override { return true; }
  bool number_unsigned(number_unsigned_t) override { return true; }
  bool number_float(number_float_t, const string_t&) override { return true; }
  bool string(string_t&) override { return true; }
  bool binary(binary_t&) override { return true; }
  bool start_object(std::size_t) override {
    ++m_depth;
    return true;
  }
  bool end_object() override {
    --m_depth;
    return true;
  }
  bool start_array(std::size_t) override {
    ++m_depth;
    return true;
  }
  bool end_array() override {
    --m_depth;
    return true;
  }
  bool key(string_t& key) override {
    if (m_depth == 1 && !m_keys.insert(key).second && m_duplicate.empty()) {
      m_duplicate = key;
    }
    return true;
  }
  bool parse_error(std::size_t, const std::string&, const nlohmann::json::exception& e) override {
    m_error = e.what();
    return false;
  }
  const std::string& duplicate_key() const { return m_duplicate; }
  const std::string& error() const { return m_error; }

 private:
  int m_depth = 0;
  std::set<std::string> m_keys;
  std::string m_duplicate;
  std::string m_error;
};

}  // namespace

NameIndex build_name_index(const FolderState& state) {
  NameIndex index;
  index.reserve(state.messages.size());
  for (const auto& [uid, record] : state.messages) {
    index.emplace(record.name, uid);
  }
  return index;
}

void normalize_flags(std::vector<std::string>& flags) {
  std::sort(flags.begin(), flags.end());
  flags.erase(std::unique(flags.begin(), flags.end()), flags.end());
}

FolderState parse_folder_state(std::string_view text, const fs::path& path) {
  // nlohmann::json resolves duplicate keys silently (the last one wins), so a
  // first, allocation-free SAX pass looks for them in the top-level object,
  // the only object in the format. A parse callback would do the same in one
  // pass but makes parsing several times slower.
  TopLevelKeyChecker checker;
  nlohmann::json doc;
  if (!nlohmann::json::sax_parse(text.begin(), text.end(), &checker)) {
    throw_damaged(path, "not valid JSON (" + checker.error() + ")");
  }
  try {
    doc = nlohmann::json::parse(text.begin(), text.end());
  } catch (const nlohmann::json::parse_error& e) {
    throw_damaged(path, std::string("not valid JSON (") + e.what() + ")");
  }
  if (!checker.duplicate_key().empty()) {
    throw_damaged(path, "key \"" + checker.duplicate_key() + "\" appears twice");
  }
  if (!doc.is_object()) {
    throw_damaged(path, "not a JSON object");
  }

  auto version_it = doc.find("roam_state");
  if (version_it == doc.end()) {
    throw_damaged(path, "no \"roam_state\" version key (is this a roam state file?)");
  }
  if (!version_it->is_number_unsigned() || version_it->get<std::uint64_t>() == 0) {
    throw_damaged(path, "\"roam_state\" is not a positive integer");
  }
  auto version = version_it->get<std::uint64_t>();
  if (version > static_cast<std::uint64_t>(k_folder_state_schema)) {
    throw Error(Scope::Folder, "state file " + path.string() + " has format version " +
                                   std::to_string(version) + ", but this roam reads only up to " +
                                   std::to_string(k_folder_state_schema) +
                                   "; a newer roam wrote it, so use that version (or remove the "
                                   "file to make the next run re-match messages)");
  }

  // Format 2 added "pending" (uploads waiting for their UID) and the
  // optional content key of each record; older files are read as they are
  // and written back in the current format.
  std::set<std::string, std::less<>> known_keys = {"roam_state", "mailbox",       "uidvalidity",
                                                   "uidnext",    "highestmodseq", "messages"};
  if (version >= 2) {
    known_keys.insert("pending");
  }
  // Format 3 added "flags_modseq".
  if (version >= 3) {
    known_keys.insert("flags_modseq");
  }
  for (const auto& [key, value] : doc.items()) {
    if (known_keys.find(key) == known_keys.end()) {
      throw_damaged(path, "unknown key \"" + key + "\"");
    }
  }
  for (const auto& key : known_keys) {
    if (!doc.contains(key)) {
      throw_damaged(path, "missing key \"" + key + "\"");
    }
  }

  FolderState state;
  state.schema = static_cast<int>(version);
  if (!doc["mailbox"].is_string()) {
    throw_damaged(path, "\"mailbox\" is not a string");
  }
  state.mailbox = doc["mailbox"].get<std::string>();
  constexpr auto k_max32 = std::numeric_limits<std::uint32_t>::max();
  state.uidvalidity = static_cast<std::uint32_t>(
      read_unsigned(doc["uidvalidity"], "\"uidvalidity\"", k_max32, path));
  state.uidnext =
      static_cast<std::uint32_t>(read_unsigned(doc["uidnext"], "\"uidnext\"", k_max32, path));
  state.highestmodseq = read_unsigned(doc["highestmodseq"], "\"highestmodseq\"",
                                      std::numeric_limits<std::uint64_t>::max(), path);
  if (version >= 3) {
    state.flags_modseq = read_unsigned(doc["flags_modseq"], "\"flags_modseq\"",
                                       std::numeric_limits<std::uint64_t>::max(), path);
  }

  auto& messages = doc["messages"];
  if (!messages.is_array()) {
    throw_damaged(path, "\"messages\" is not an array");
  }
  if (!messages.empty() && state.uidvalidity == 0) {
    throw_damaged(path, "messages are recorded but \"uidvalidity\" is 0");
  }
  // Views into the names stored in state.messages (map nodes do not move).
  std::unordered_map<std::string_view, std::uint32_t> names;
  names.reserve(messages.size());
  std::size_t index = 0;
  std::uint32_t uid = 0;
  // Messages are built only on error: this loop runs 100k times for a big
  // folder.
  auto where = [&] {
    std::string out = "message #" + std::to_string(index);
    if (uid != 0) {
      out += " (uid " + std::to_string(uid) + ")";
    }
    return out;
  };
  for (auto& entry : messages) {
    ++index;
    uid = 0;
    if (!entry.is_array() || entry.size() < 3 || entry.size() > (version >= 2 ? 4u : 3u)) {
      throw_damaged(path, where() + " is not a [uid, \"name\", [flags]" +
                              (version >= 2 ? ", \"key\"" : "") + "] array");
    }
    uid = static_cast<std::uint32_t>(read_unsigned(entry[0], where() + " uid", k_max32, path));
    if (uid == 0) {
      throw_damaged(path, where() + " has uid 0");
    }
    if (!entry[1].is_string()) {
      throw_damaged(path, where() + ": the name is not a string");
    }
    MessageRecord record;
    record.uid = uid;
    record.name = std::move(entry[1].get_ref<std::string&>());
    if (!unescape_stored_name(record.name)) {
      throw_damaged(path, where() + ": the name '" + record.name + "' has a broken '/' escape");
    }
    if (auto problem = check_name(record.name); !problem.empty()) {
      throw_damaged(path, where() + ": " + problem);
    }
    auto& flags = entry[2];
    if (!flags.is_array()) {
      throw_damaged(path, where() + ": the flags are not an array");
    }
    record.flags.reserve(flags.size());
    for (auto& flag : flags) {
      if (!flag.is_string()) {
        throw_damaged(path, where() + ": a flag is not a string");
      }
      record.flags.push_back(std::move(flag.get_ref<std::string&>()));
      if (auto problem = check_flag(record.flags.back()); !problem.empty()) {
        throw_damaged(path, where() + ": " + problem);
      }
    }
    if (!std::is_sorted(record.flags.begin(), record.flags.end()) ||
        std::adjacent_find(record.flags.begin(), record.flags.end()) != record.flags.end()) {
      normalize_flags(record.flags);
    }
    if (entry.size() == 4) {
      if (!entry[3].is_string()) {
        throw_damaged(path, where() + ": the content key is not a string");
      }
      record.key = std::move(entry[3].get_ref<std::string&>());
      if (auto problem = check_key(record.key); !problem.empty()) {
        throw_damaged(path, where() + ": " + problem);
      }
    }
    // Files written by roam list UIDs in ascending order, so the hint makes
    // each insertion constant time.
    auto size_before = state.messages.size();
    auto it = state.messages.emplace_hint(state.messages.end(), uid, std::move(record));
    if (state.messages.size() == size_before) {
      throw_damaged(path, where() + ": uid " + std::to_string(uid) + " appears twice");
    }
    auto [other, inserted] = names.emplace(it->second.name, uid);
    if (!inserted) {
      throw_damaged(path, where() + ": name '" + it->second.name + "' is also used by uid " +
                              std::to_string(other->second));
    }
  }
  if (version >= 2) {
    auto& pending = doc["pending"];
    if (!pending.is_array()) {
      throw_damaged(path, "\"pending\" is not an array");
    }
    index = 0;
    for (auto& entry : pending) {
      ++index;
      state.pending_uploads.push_back(read_pending(entry, index, path));
      const PendingUpload& p = state.pending_uploads.back();
      if (names.count(p.name) != 0) {
        throw_damaged(path, "pending upload #" + std::to_string(index) + ": name '" + p.name +
                                "' is also used by a message record");
      }
    }
  }
  return state;
}

std::optional<FolderState> load_folder_state(const fs::path& path) {
  std::error_code ec;
  auto status = fs::symlink_status(path, ec);
  if (ec && ec != std::errc::no_such_file_or_directory) {
    throw Error(Scope::Folder, "cannot examine state file " + path.string() + ": " + ec.message());
  }
  if (!fs::exists(status)) {
    ROAM_DEBUG(util::k_cat_state, "no state file " << path.string() << "; folder never synced");
    return std::nullopt;
  }
  auto text = util::read_file(path);
  auto state = parse_folder_state(text, path);
  ROAM_DEBUG(util::k_cat_state, "loaded " << path.string() << ": " << state.messages.size()
                                          << " messages, uidvalidity " << state.uidvalidity);
  return state;
}

std::optional<FolderState> load_folder_state_for(const fs::path& state_dir,
                                                 std::string_view mailbox) {
  auto path = state_file_for(state_dir, mailbox);
  auto state = load_folder_state(path);
  if (state && state->mailbox != mailbox) {
    throw Error(Scope::Folder, "state file " + path.string() + " belongs to mailbox \"" +
                                   state->mailbox + "\", not \"" + std::string(mailbox) +
                                   "\" (two mailbox names map to one file, e.g. on a "
                                   "case-insensitive file system); roam will not sync this "
                                   "folder until one of the mailboxes is renamed");
  }
  return state;
}

namespace {

// Serializes `state`; `path_for_errors` names the file in error messages (or is
// empty). The invariants are checked here, not only on load, so that roam
// never writes a file it would refuse to read back.
std::string serialize(const FolderState& state, const fs::path& path_for_errors) {
  std::string out;
  out.reserve(128 + state.messages.size() * 64);
  out += "{\"roam_state\":";
  out += std::to_string(k_folder_state_schema);
  out += ",\"mailbox\":";
  out += json_string(state.mailbox, path_for_errors, "the mailbox name");
  out += ",\"uidvalidity\":";
  out += std::to_string(state.uidvalidity);
  out += ",\"uidnext\":";
  out += std::to_string(state.uidnext);
  out += ",\"highestmodseq\":";
  out += std::to_string(state.highestmodseq);
  out += ",\"flags_modseq\":";
  out += std::to_string(state.flags_modseq);
  out += ",\"messages\":[";
  if (!state.messages.empty() && state.uidvalidity == 0) {
    throw_unwritable(path_for_errors, "messages are recorded but uidvalidity is 0");
  }
  std::unordered_map<std::string_view, std::uint32_t> names;
  names.reserve(state.messages.size());
  bool first = true;
  std::vector<std::string> sorted_flags;
  for (const auto& [uid, record] : state.messages) {
    if (uid == 0 || record.uid != uid) {
      throw_unwritable(path_for_errors, "record keyed " + std::to_string(uid) + " has uid " +
                                            std::to_string(record.uid));
    }
    if (auto problem = check_name(record.name); !problem.empty()) {
      throw_unwritable(path_for_errors, "uid " + std::to_string(uid) + ": " + problem);
    }
    if (!names.emplace(record.name, uid).second) {
      throw_unwritable(path_for_errors, "name '" + record.name + "' is used by uids " +
                                            std::to_string(names[record.name]) + " and " +
                                            std::to_string(uid));
    }
    const std::vector<std::string>* flags = &record.flags;
    if (!std::is_sorted(flags->begin(), flags->end()) ||
        std::adjacent_find(flags->begin(), flags->end()) != flags->end()) {
      sorted_flags = record.flags;
      normalize_flags(sorted_flags);
      flags = &sorted_flags;
    }
    out += first ? "\n[" : ",\n[";
    first = false;
    out += std::to_string(uid);
    out += ',';
    out += json_string(escape_name(record.name), path_for_errors, "a Maildir name");
    out += ",[";
    bool first_flag = true;
    for (const auto& flag : *flags) {
      if (auto problem = check_flag(flag); !problem.empty()) {
        throw_unwritable(path_for_errors, "uid " + std::to_string(uid) + ": " + problem);
      }
      if (!first_flag) {
        out += ',';
      }
      first_flag = false;
      out += json_string(flag, path_for_errors, "a flag");
    }
    out += ']';
    if (!record.key.empty()) {
      if (auto problem = check_key(record.key); !problem.empty()) {
        throw_unwritable(path_for_errors, "uid " + std::to_string(uid) + ": " + problem);
      }
      out += ",\"";
      out += record.key;
      out += '"';
    }
    out += ']';
  }
  out += "\n],\"pending\":[";
  first = true;
  for (const auto& p : state.pending_uploads) {
    if (auto problem = check_name(p.name); !problem.empty()) {
      throw_unwritable(path_for_errors, "pending upload: " + problem);
    }
    if (auto problem = check_key(p.key); !problem.empty()) {
      throw_unwritable(path_for_errors, "pending upload " + p.name + ": " + problem);
    }
    if (names.count(p.name) != 0) {
      throw_unwritable(path_for_errors,
                       "pending upload " + p.name + " has the name of a message record");
    }
    std::string flags = "[";
    for (const auto& flag : p.flags) {
      if (auto problem = check_flag(flag); !problem.empty()) {
        throw_unwritable(path_for_errors, "pending upload " + p.name + ": " + problem);
      }
      flags += flags.size() > 1 ? "," : "";
      flags += json_string(flag, path_for_errors, "a flag");
    }
    flags += ']';
    out += first ? "\n{\"name\":" : ",\n{\"name\":";
    first = false;
    out += json_string(escape_name(p.name), path_for_errors, "a Maildir name");
    out += ",\"key\":\"" + p.key + "\",\"message_id\":";
    out += json_string(storable_message_id(p.message_id), path_for_errors, "a Message-ID");
    out += ",\"size\":" + std::to_string(p.size) + ",\"uidnext\":" + std::to_string(p.uidnext) +
           ",\"flags\":" + flags + "}";
  }
  out += "\n]}\n";
  return out;
}

}  // namespace

std::string serialize_folder_state(const FolderState& state) {
  return serialize(state, {});
}

void save_folder_state(const fs::path& path, const FolderState& state) {
  auto text = serialize(state, path);
  util::write_file_atomic(path, text, 0600);
  ROAM_DEBUG(util::k_cat_state, "saved " << path.string() << ": " << state.messages.size()
                                         << " messages, uidnext " << state.uidnext);
}

std::string escape_name(std::string_view name) {
  std::string out;
  out.reserve(name.size());
  std::size_t i = 0;
  while (i < name.size()) {
    std::size_t length = utf8_sequence_length(name.substr(i));
    if (length != 0) {
      out.append(name, i, length);
      i += length;
      continue;
    }
    auto byte = static_cast<unsigned char>(name[i]);
    out += '/';
    out += k_hex_digits[byte >> 4];
    out += k_hex_digits[byte & 0xf];
    ++i;
  }
  return out;
}

std::string storable_message_id(std::string_view message_id) {
  if (escape_name(message_id) != message_id) {
    return {};
  }
  return std::string(message_id);
}

std::optional<std::string> unescape_name(std::string_view stored) {
  std::string out;
  out.reserve(stored.size());
  for (std::size_t i = 0; i < stored.size(); ++i) {
    if (stored[i] != '/') {
      out += stored[i];
      continue;
    }
    if (i + 2 >= stored.size()) {
      return std::nullopt;
    }
    int high = hex_value(stored[i + 1]);
    int low = hex_value(stored[i + 2]);
    if (high < 0 || low < 0) {
      return std::nullopt;
    }
    out += static_cast<char>(high * 16 + low);
    i += 2;
  }
  return out;
}

namespace {

bool unescape_stored_name(std::string& name) {
  if (name.find('/') == std::string::npos) {
    return true;
  }
  auto raw = unescape_name(name);
  if (!raw) {
    return false;
  }
  name = std::move(*raw);
  return true;
}

}  // namespace

fs::path state_file_for(const fs::path& state_dir, std::string_view mailbox) {
  std::string encoded;
  encoded.reserve(mailbox.size() * 3);
  for (char c : mailbox) {
    if (is_plain_char(c)) {
      encoded += c;
    } else {
      auto byte = static_cast<unsigned char>(c);
      encoded += '%';
      encoded += k_hex_digits[byte >> 4];
      encoded += k_hex_digits[byte & 0xf];
    }
  }
  if (encoded.size() > k_max_encoded_length) {
    std::size_t keep = k_hashed_prefix_length;
    // Do not cut a %XX escape in half; the result stays readable.
    if (encoded[keep - 1] == '%') {
      keep -= 1;
    } else if (encoded[keep - 2] == '%') {
      keep -= 2;
    }
    encoded.resize(keep);
    auto hash = fnv1a64(mailbox);
    encoded += '~';
    for (int shift = 60; shift >= 0; shift -= 4) {
      encoded += k_hex_digits[(hash >> shift) & 0xf];
    }
  }
  std::string file_name(k_state_file_prefix);
  file_name += encoded;
  file_name += k_state_file_suffix;
  return state_dir / file_name;
}

}  // namespace roam::state
