#include "state/folder_state.hpp"

#include <algorithm>
#include <cctype>
#include <functional>
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

// True when `text` is printable ASCII without '"' or '\\': JSON takes it
// as it is, and escape_name() leaves it unchanged. Nearly every name and
// flag is: the fast path of a 100,000-record save.
bool plain_json(std::string_view text) {
  return std::all_of(text.begin(), text.end(),
                     [](char c) { return c >= 0x20 && c <= 0x7e && c != '"' && c != '\\'; });
}

// Appends `text`, which plain_json() accepts, as a JSON string.
void append_plain(std::string& out, std::string_view text) {
  out += '"';
  out += text;
  out += '"';
}

void append_json_string(std::string& out, const std::string& text, const fs::path& path,
                        std::string_view what) {
  if (plain_json(text)) {
    append_plain(out, text);
    return;
  }
  out += json_string(text, path, what);
}

// A Maildir name as stored: escape_name(), then JSON.
void append_stored_name(std::string& out, const std::string& name, const fs::path& path) {
  if (plain_json(name)) {
    append_plain(out, name);
    return;
  }
  out += json_string(escape_name(name), path, "a Maildir name");
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
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
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

// Two records with one name, if any: the UIDs of such a pair, in UID
// order. Sorting the names' hashes is several times faster than a hash set
// of 100,000 names (a node each) or a sort of the names themselves (which
// share long prefixes), and allocates one array.
std::optional<std::pair<std::uint32_t, std::uint32_t>> duplicate_name(const FolderState& state) {
  struct Name {
    std::size_t hash;
    std::string_view name;
    std::uint32_t uid;
  };
  std::vector<Name> names;
  names.reserve(state.messages.size());
  for (const auto& [uid, record] : state.messages) {
    names.push_back({std::hash<std::string_view>{}(record.name), record.name, uid});
  }
  std::sort(names.begin(), names.end(), [](const Name& a, const Name& b) {
    return a.hash != b.hash ? a.hash < b.hash : a.name < b.name;
  });
  auto at = std::adjacent_find(names.begin(), names.end(), [](const Name& a, const Name& b) {
    return a.hash == b.hash && a.name == b.name;
  });
  if (at == names.end()) {
    return std::nullopt;
  }
  auto [low, high] = std::minmax(at->uid, std::next(at)->uid);
  return std::pair(low, high);
}

// Reads a state file in one pass, without a document tree: the records of
// "messages" go straight into FolderState::messages as the parser meets
// them, and every other top-level value (a few numbers, and the short
// "pending" list) is kept as a small tree for the checks that follow. A
// 100,000-record state so costs its records, not a tree of them beside
// (which was 100 MB and most of the load time).
//
// A record that breaks the format stops the parse with `damage()` set; the
// caller checks the version first, so that a newer roam's file is refused
// by its version, not by its records, as long as "roam_state" comes first
// (roam always writes it first).
class StateReader : public nlohmann::json_sax<nlohmann::json> {
 public:
  using json = nlohmann::json;

  explicit StateReader(FolderState& state) : m_state(state) {}

  bool null() override { return value(json(nullptr)); }
  bool boolean(bool v) override { return value(json(v)); }
  bool number_integer(number_integer_t v) override { return value(json(v)); }
  bool number_unsigned(number_unsigned_t v) override {
    if (m_in == In::Record) {
      if (std::size_t at = m_position++; at != 0) {
        return record_other(at);
      }
      if (v > std::numeric_limits<std::uint32_t>::max()) {
        return damage(where() + " uid is out of range (" + std::to_string(v) + ")");
      }
      if (v == 0) {
        return damage(where() + " has uid 0");
      }
      m_record.uid = static_cast<std::uint32_t>(v);
      return true;
    }
    if (m_in == In::Top && m_key == "roam_state") {
      m_version = v;
    }
    return value(json(v));
  }
  bool number_float(number_float_t v, const string_t&) override { return value(json(v)); }
  bool string(string_t& v) override {
    if (m_in == In::Record) {
      std::size_t at = m_position++;
      if (at == 1) {
        m_record.name = std::move(v);
        return true;
      }
      if (at == 3) {
        m_record.key = std::move(v);
        return true;
      }
      return record_other(at);
    }
    if (m_in == In::Flags) {
      m_record.flags.push_back(std::move(v));
      return true;
    }
    return value(json(std::move(v)));
  }
  bool binary(binary_t&) override { return damage("binary data"); }

  bool start_object(std::size_t) override {
    if (m_in == In::None) {
      m_in = In::Top;
      return true;
    }
    if (m_in == In::Record) {
      return record_other();
    }
    if (m_in == In::Flags) {
      return damage(where() + ": a flag is not a string");
    }
    if (m_in == In::Messages) {
      ++m_index;
      return record_shape();
    }
    return open(json::object());
  }
  bool end_object() override {
    if (m_in == In::Value) {
      return close();
    }
    m_in = In::Done;
    return true;
  }
  bool start_array(std::size_t) override {
    switch (m_in) {
      case In::None:
        return damage("not a JSON object");
      case In::Top:
        if (m_key == "messages") {
          m_in = In::Messages;
          m_saw_messages = true;
          return true;
        }
        return open(json::array());
      case In::Messages:
        ++m_index;
        m_record = MessageRecord{};
        m_position = 0;
        m_in = In::Record;
        return true;
      case In::Record:
        if (m_position++ != 2) {
          return record_other(m_position - 1);
        }
        m_in = In::Flags;
        return true;
      case In::Flags:
        return damage(where() + ": a flag is not a string");
      default:
        return open(json::array());
    }
  }
  bool end_array() override {
    switch (m_in) {
      case In::Messages:
        m_in = In::Top;
        return true;
      case In::Record:
        m_in = In::Messages;
        return finish_record();
      case In::Flags:
        m_in = In::Record;
        return true;
      default:
        return close();
    }
  }
  bool key(string_t& key) override {
    if (m_in == In::Top) {
      if (!m_keys.insert(key).second) {
        return damage("key \"" + key + "\" appears twice");
      }
      m_key = std::move(key);
      return true;
    }
    m_object_key = std::move(key);
    return true;
  }
  bool parse_error(std::size_t, const std::string&, const nlohmann::json::exception& e) override {
    m_syntax_error = e.what();
    return false;
  }

  const std::string& syntax_error() const { return m_syntax_error; }
  const std::string& damage_found() const { return m_damage; }
  // The top-level values other than "messages".
  json& top() { return m_top; }
  // Whether the top level held "messages" as an array.
  bool saw_messages() const { return m_saw_messages; }
  // The version as read so far (0 until "roam_state" was read).
  std::uint64_t version() const { return m_version; }
  // The first record with a content key (1-based), or 0: a version 1 file
  // must have none, which is known only once its version is.
  std::size_t first_keyed_record() const { return m_first_keyed; }

 private:
  // Where the parser is: the top-level object, a value of it (kept as a
  // tree), the "messages" array, a record, or a record's flags.
  enum class In { None, Top, Value, Messages, Record, Flags, Done };

  bool damage(std::string what) {
    if (m_damage.empty()) {
      m_damage = std::move(what);
    }
    return false;
  }
  std::string where() const {
    std::string out = "message #" + std::to_string(m_index);
    if (m_record.uid != 0) {
      out += " (uid " + std::to_string(m_record.uid) + ")";
    }
    return out;
  }
  bool record_shape() {
    std::string shape = m_version == 1 ? "" : ", \"key\"";
    return damage(where() + " is not a [uid, \"name\", [flags]" + shape + "] array");
  }
  // A value of the wrong kind in a record: what was expected there.
  bool record_other() { return record_other(m_position++); }
  bool record_other(std::size_t at) {
    switch (at) {
      case 0:
        return damage(where() + " uid is not a non-negative integer");
      case 1:
        return damage(where() + ": the name is not a string");
      case 2:
        return damage(where() + ": the flags are not an array");
      case 3:
        return damage(where() + ": the content key is not a string");
      default:
        return record_shape();
    }
  }

  bool finish_record() {
    if (m_position < 3 || m_position > 4 || (m_version == 1 && m_position == 4)) {
      return record_shape();
    }
    if (m_position == 4 && m_first_keyed == 0) {
      m_first_keyed = m_index;
    }
    MessageRecord& record = m_record;
    if (!unescape_stored_name(record.name)) {
      return damage(where() + ": the name '" + record.name + "' has a broken '/' escape");
    }
    if (auto problem = check_name(record.name); !problem.empty()) {
      return damage(where() + ": " + problem);
    }
    for (const auto& flag : record.flags) {
      if (auto problem = check_flag(flag); !problem.empty()) {
        return damage(where() + ": " + problem);
      }
    }
    if (!std::is_sorted(record.flags.begin(), record.flags.end()) ||
        std::adjacent_find(record.flags.begin(), record.flags.end()) != record.flags.end()) {
      normalize_flags(record.flags);
    }
    if (m_position == 4) {
      if (auto problem = check_key(record.key); !problem.empty()) {
        return damage(where() + ": " + problem);
      }
    }
    std::uint32_t uid = record.uid;
    // Files written by roam list UIDs in ascending order, so the hint makes
    // each insertion constant time.
    auto size_before = m_state.messages.size();
    m_state.messages.emplace_hint(m_state.messages.end(), uid, std::move(record));
    if (m_state.messages.size() == size_before) {
      m_record.uid = uid;
      return damage(where() + ": uid " + std::to_string(uid) + " appears twice");
    }
    m_record = MessageRecord{};
    return true;
  }

  // A value outside "messages": into the tree, under its key or its parent.
  bool value(json v) {
    switch (m_in) {
      case In::None:
        return damage("not a JSON object");
      case In::Top:
        if (m_key == "messages") {
          return damage("\"messages\" is not an array");
        }
        m_top[m_key] = std::move(v);
        return true;
      case In::Value:
        return add(std::move(v)) != nullptr;
      case In::Record:
        return record_other();
      case In::Messages:
        ++m_index;
        return record_shape();
      case In::Flags:
        return damage(where() + ": a flag is not a string");
      default:
        return damage("a value after the end of the top-level object");
    }
  }
  json* add(json v) {
    json& parent = *m_stack.back();
    if (parent.is_array()) {
      parent.push_back(std::move(v));
      return &parent.back();
    }
    json& slot = parent[m_object_key];
    slot = std::move(v);
    return &slot;
  }
  bool open(json container) {
    if (m_in == In::Top) {
      if (m_key == "messages") {
        return damage("\"messages\" is not an array");
      }
      json& slot = m_top[m_key];
      slot = std::move(container);
      m_stack.push_back(&slot);
      m_in = In::Value;
      return true;
    }
    m_stack.push_back(add(std::move(container)));
    return true;
  }
  bool close() {
    m_stack.pop_back();
    if (m_stack.empty()) {
      m_in = In::Top;
    }
    return true;
  }

  FolderState& m_state;
  In m_in = In::None;
  json m_top = json::object();
  std::vector<json*> m_stack;  // The open containers of a value being kept.
  std::set<std::string> m_keys;
  std::string m_key;         // The current top-level key.
  std::string m_object_key;  // The current key of an object being kept.
  std::uint64_t m_version = 0;
  bool m_saw_messages = false;
  std::size_t m_index = 0;     // The current record, 1-based.
  std::size_t m_position = 0;  // The next element of the current record.
  std::size_t m_first_keyed = 0;
  MessageRecord m_record;
  std::string m_damage;
  std::string m_syntax_error;
};

}  // namespace

namespace {

// NameIndex or NameViews: the names are copied or viewed by the key type.
template <typename Index>
Index index_names(const FolderState& state) {
  Index index;
  index.reserve(state.messages.size());
  for (const auto& [uid, record] : state.messages) {
    index.emplace(record.name, uid);
  }
  return index;
}

}  // namespace

NameIndex build_name_index(const FolderState& state) {
  return index_names<NameIndex>(state);
}

NameViews build_name_views(const FolderState& state) {
  return index_names<NameViews>(state);
}

void normalize_flags(std::vector<std::string>& flags) {
  std::sort(flags.begin(), flags.end());
  flags.erase(std::unique(flags.begin(), flags.end()), flags.end());
}

FolderState parse_folder_state(std::string_view text, const fs::path& path) {
  // One SAX pass (see StateReader). It also catches what a document tree
  // would hide: nlohmann::json resolves duplicate keys silently (the last
  // one wins).
  FolderState state;
  StateReader reader(state);
  bool parsed = nlohmann::json::sax_parse(text.begin(), text.end(), &reader);
  if (!reader.syntax_error().empty()) {
    throw_damaged(path, "not valid JSON (" + reader.syntax_error() + ")");
  }
  // A file newer than this roam is refused by its version before anything
  // else is said about it.
  if (reader.version() > static_cast<std::uint64_t>(k_folder_state_schema)) {
    throw Error(Scope::Folder, "state file " + path.string() + " has format version " +
                                   std::to_string(reader.version()) +
                                   ", but this roam reads only up to " +
                                   std::to_string(k_folder_state_schema) +
                                   "; a newer roam wrote it, so use that version (or remove the "
                                   "file to make the next run re-match messages)");
  }
  if (!parsed || !reader.damage_found().empty()) {
    throw_damaged(path, reader.damage_found().empty() ? std::string("not a JSON object")
                                                      : reader.damage_found());
  }
  nlohmann::json& doc = reader.top();

  auto version_it = doc.find("roam_state");
  if (version_it == doc.end()) {
    throw_damaged(path, "no \"roam_state\" version key (is this a roam state file?)");
  }
  if (!version_it->is_number_unsigned() || version_it->get<std::uint64_t>() == 0) {
    throw_damaged(path, "\"roam_state\" is not a positive integer");
  }
  auto version = version_it->get<std::uint64_t>();
  if (version < 2 && reader.first_keyed_record() != 0) {
    throw_damaged(path, "message #" + std::to_string(reader.first_keyed_record()) +
                            " is not a [uid, \"name\", [flags]] array");
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
    if (key == "messages" ? !reader.saw_messages() : !doc.contains(key)) {
      throw_damaged(path, "missing key \"" + key + "\"");
    }
  }

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
  if (!state.messages.empty() && state.uidvalidity == 0) {
    throw_damaged(path, "messages are recorded but \"uidvalidity\" is 0");
  }
  if (auto twice = duplicate_name(state)) {
    throw_damaged(path, "uid " + std::to_string(twice->second) + ": name '" +
                            state.messages.at(twice->second).name + "' is also used by uid " +
                            std::to_string(twice->first));
  }
  if (version >= 2) {
    auto& pending = doc["pending"];
    if (!pending.is_array()) {
      throw_damaged(path, "\"pending\" is not an array");
    }
    std::size_t index = 0;
    NameIndex names;
    if (!pending.empty()) {
      names = build_name_index(state);
    }
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

// How much serialized text is gathered before it is handed on: a
// 100,000-message state is about 10 MB of JSON, which a run that keeps the
// state in memory anyway should not hold a second time.
constexpr std::size_t k_serialize_chunk = 1 << 20;

// Serializes `state` into `out`, calling `flush` (when given) whenever
// `out` holds a chunk; `flush` takes the text and leaves `out` empty. The
// last piece stays in `out`. `path_for_errors` names the file in error
// messages (or is empty). The invariants are checked here, not only on
// load, so that roam never writes a file it would refuse to read back; a
// violation throws, possibly after some chunks went to `flush`.
void serialize_to(const FolderState& state, const fs::path& path_for_errors, std::string& out,
                  const std::function<void(std::string&)>& flush) {
  out.reserve(flush ? k_serialize_chunk + 4096 : 128 + state.messages.size() * 64);
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
  if (auto twice = duplicate_name(state)) {
    throw_unwritable(path_for_errors, "name '" + state.messages.at(twice->first).name +
                                          "' is used by uids " + std::to_string(twice->first) +
                                          " and " + std::to_string(twice->second));
  }
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
    const std::vector<std::string>* flags = &record.flags;
    if (!std::is_sorted(flags->begin(), flags->end()) ||
        std::adjacent_find(flags->begin(), flags->end()) != flags->end()) {
      sorted_flags = record.flags;
      normalize_flags(sorted_flags);
      flags = &sorted_flags;
    }
    if (flush && out.size() >= k_serialize_chunk) {
      flush(out);
    }
    out += first ? "\n[" : ",\n[";
    first = false;
    out += std::to_string(uid);
    out += ',';
    append_stored_name(out, record.name, path_for_errors);
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
      append_json_string(out, flag, path_for_errors, "a flag");
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
  NameIndex names;
  if (!state.pending_uploads.empty()) {
    names = build_name_index(state);
  }
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
}

}  // namespace

std::string serialize_folder_state(const FolderState& state) {
  std::string out;
  serialize_to(state, {}, out, nullptr);
  return out;
}

void save_folder_state(const fs::path& path, const FolderState& state) {
  util::write_file_atomic_from(
      path,
      [&](const std::function<void(std::string_view)>& write) {
        std::string out;
        serialize_to(state, path, out, [&](std::string& chunk) {
          write(chunk);
          chunk.clear();
        });
        write(out);
      },
      0600);
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
