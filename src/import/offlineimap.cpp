#include "import/offlineimap.hpp"

#include <openssl/evp.h>
#include <sqlite3.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>
#include <stdexcept>
#include <system_error>

#include "imap/utf7.hpp"
#include "util/error.hpp"

namespace roam::import {

namespace {

[[noreturn]] void usage(const std::string& message) {
  throw util::Error(util::Scope::Usage, message);
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return out;
}

std::string_view trim(std::string_view s) {
  const char* blanks = " \t\r\n\f\v";
  auto b = s.find_first_not_of(blanks);
  if (b == std::string_view::npos) {
    return {};
  }
  auto e = s.find_last_not_of(blanks);
  return s.substr(b, e - b + 1);
}

}  // namespace

namespace offlineimap {

Rc Rc::parse(std::string_view text, std::string origin) {
  Rc rc;
  rc.m_origin = std::move(origin);
  Section* current = nullptr;
  std::string current_name;
  Value* value = nullptr;       // The option that continuation lines extend.
  std::size_t indent = 0;       // Its line's indentation.
  int pending_blank_lines = 0;  // Blank lines inside a value, kept if it goes on.
  int line_no = 0;
  std::size_t pos = 0;
  while (pos <= text.size()) {
    std::size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) {
      end = text.size();
    }
    std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') {
      line.remove_suffix(1);
    }
    std::string_view stripped = trim(line);
    // ConfigParser's comments are whole lines only; the indentation rule
    // below is not reset by them, as in Python.
    if (!stripped.empty() && (stripped.front() == '#' || stripped.front() == ';')) {
      continue;
    }
    if (stripped.empty()) {
      if (value != nullptr) {
        ++pending_blank_lines;
      }
      continue;
    }
    const std::size_t line_indent = line.find_first_not_of(" \t");
    if (value != nullptr && line_indent > indent) {
      for (; pending_blank_lines > 0; --pending_blank_lines) {
        value->raw += '\n';
      }
      value->raw += '\n';
      value->raw += stripped;
      continue;
    }
    pending_blank_lines = 0;
    indent = line_indent;
    value = nullptr;
    if (stripped.front() == '[' && stripped.find(']') != std::string_view::npos) {
      const std::size_t close = stripped.rfind(']');
      current_name = std::string(stripped.substr(1, close - 1));
      if (current_name.empty()) {
        usage(rc.m_origin + ":" + std::to_string(line_no) + ": an empty section name");
      }
      auto [it, added] = rc.m_sections.try_emplace(current_name);
      if (!added) {
        usage(rc.m_origin + ":" + std::to_string(line_no) + ": section [" + current_name +
              "] again (first at line " + std::to_string(it->second.line) +
              "); OfflineIMAP refuses that too: merge the two");
      }
      it->second.line = line_no;
      current = &it->second;
      continue;
    }
    if (current == nullptr) {
      usage(rc.m_origin + ":" + std::to_string(line_no) +
            ": a line before the first [section]; OfflineIMAP refuses that too");
    }
    const std::size_t delim = stripped.find_first_of("=:");
    if (delim == std::string_view::npos || delim == 0) {
      usage(rc.m_origin + ":" + std::to_string(line_no) + ": \"" + std::string(stripped) +
            "\" is neither [section] nor key = value");
    }
    std::string key = lower(trim(stripped.substr(0, delim)));
    auto [it, added] = current->values.try_emplace(key);
    if (!added) {
      usage(rc.m_origin + ":" + std::to_string(line_no) + ": " + key + " again in [" +
            current_name + "] (first at line " + std::to_string(it->second.line) +
            "); OfflineIMAP refuses that too: keep one");
    }
    it->second.raw = std::string(trim(stripped.substr(delim + 1)));
    it->second.line = line_no;
    value = &it->second;
  }
  return rc;
}

Rc Rc::load(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    usage(util::errno_message("cannot read the OfflineIMAP configuration " + file.string()) +
          "; name it with --from FILE");
  }
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) {
    usage(util::errno_message("cannot read the OfflineIMAP configuration " + file.string()));
  }
  return parse(text.str(), file.string());
}

bool Rc::has_section(const std::string& section) const {
  return m_sections.count(section) != 0;
}

const Rc::Value* Rc::find(const std::string& section, const std::string& key) const {
  for (const std::string& s : {section, std::string("DEFAULT")}) {
    auto sec = m_sections.find(s);
    if (sec == m_sections.end()) {
      continue;
    }
    auto v = sec->second.values.find(key);
    if (v != sec->second.values.end()) {
      return &v->second;
    }
  }
  return nullptr;
}

std::string Rc::interpolate(const std::string& section, const Value& value, int depth) const {
  const std::string here = m_origin + ":" + std::to_string(value.line);
  // Python gives up at the same depth (MAX_INTERPOLATION_DEPTH).
  if (depth > 10) {
    usage(here + ": %(...)s refers to itself in a loop");
  }
  std::string out;
  const std::string& raw = value.raw;
  for (std::size_t i = 0; i < raw.size(); ++i) {
    if (raw[i] != '%') {
      out += raw[i];
      continue;
    }
    if (i + 1 < raw.size() && raw[i + 1] == '%') {
      out += '%';
      ++i;
      continue;
    }
    const std::size_t close = raw.find(")s", i);
    if (i + 1 >= raw.size() || raw[i + 1] != '(' || close == std::string::npos) {
      usage(here + ": a '%' that is neither %% nor %(name)s; write %% for a literal '%'");
    }
    const std::string name = lower(raw.substr(i + 2, close - i - 2));
    const Value* target = find(section, name);
    if (target == nullptr) {
      usage(here + ": %(" + name + ")s names no key of [" + section + "] or [DEFAULT]");
    }
    out += interpolate(section, *target, depth + 1);
    i = close + 1;
  }
  return out;
}

std::optional<std::string> Rc::get(const std::string& section, const std::string& key) const {
  const Value* v = find(section, key);
  if (v == nullptr) {
    return std::nullopt;
  }
  return interpolate(section, *v, 0);
}

std::optional<bool> Rc::get_bool(const std::string& section, const std::string& key) const {
  auto v = get(section, key);
  if (!v) {
    return std::nullopt;
  }
  const std::string s = lower(*v);
  if (s == "1" || s == "yes" || s == "true" || s == "on") {
    return true;
  }
  if (s == "0" || s == "no" || s == "false" || s == "off") {
    return false;
  }
  usage(where(section, key) + ": " + key + " = " + *v +
        " is not a boolean (yes/no, true/false, on/off, 1/0)");
}

std::string Rc::where(const std::string& section, const std::string& key) const {
  const Value* v = find(section, key);
  return m_origin + ":" + std::to_string(v != nullptr ? v->line : 0);
}

std::string Rc::where_section(const std::string& section) const {
  auto sec = m_sections.find(section);
  return m_origin + ":" + std::to_string(sec != m_sections.end() ? sec->second.line : 0);
}

std::string folder_md5(std::string_view local_name) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  if (EVP_Digest(local_name.data(), local_name.size(), digest, &size, EVP_md5(), nullptr) != 1) {
    throw util::Error(util::Scope::Fatal, "MD5 is not available from OpenSSL");
  }
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < size; ++i) {
    out += hex[digest[i] >> 4];
    out += hex[digest[i] & 0xf];
  }
  return out;
}

std::string status_file_name(std::string_view local_name, std::string_view sep) {
  std::string name;
  for (std::size_t i = 0; i < local_name.size();) {
    if (!sep.empty() && local_name.substr(i, sep.size()) == sep) {
      name += '.';
      i += sep.size();
    } else {
      name += local_name[i] == '/' ? '.' : local_name[i];
      ++i;
    }
  }
  if (name.empty()) {
    return ".";
  }
  if (name == ".") {
    return "dot";
  }
  return name;
}

namespace {

// A UID as a status file holds it; OfflineIMAP keeps a new local message
// under a negative temporary UID until it is uploaded, so those and
// anything outside 1..2^32-1 are no server UIDs.
std::optional<std::uint32_t> status_uid(long long id) {
  if (id <= 0 || id > 0xffffffffLL) {
    return std::nullopt;
  }
  return static_cast<std::uint32_t>(id);
}

struct Db {
  sqlite3* db = nullptr;
  ~Db() { sqlite3_close(db); }
};

struct Statement {
  sqlite3_stmt* stmt = nullptr;
  ~Statement() { sqlite3_finalize(stmt); }
};

}  // namespace

std::optional<Status> read_status_sqlite(const std::filesystem::path& file, std::string& problem) {
  Db db;
  // Read-only, and not immutable: OfflineIMAP may be mid-write, and SQLite's
  // locking then gives a consistent snapshot or SQLITE_BUSY.
  if (sqlite3_open_v2(file.c_str(), &db.db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
    problem = file.string() + ": " + (db.db != nullptr ? sqlite3_errmsg(db.db) : "cannot open");
    return std::nullopt;
  }
  sqlite3_busy_timeout(db.db, 5000);
  Statement version;
  if (sqlite3_prepare_v2(db.db, "SELECT value FROM metadata WHERE key = 'db_version'", -1,
                         &version.stmt, nullptr) != SQLITE_OK) {
    problem =
        file.string() + ": not an OfflineIMAP LocalStatus database (" + sqlite3_errmsg(db.db) + ")";
    return std::nullopt;
  }
  if (sqlite3_step(version.stmt) != SQLITE_ROW) {
    problem = file.string() + ": no db_version in its metadata table";
    return std::nullopt;
  }
  // Versions 1 and 2 both have status(id, flags); a later version may mean
  // something else by them.
  const long long db_version = sqlite3_column_int64(version.stmt, 0);
  if (db_version < 1 || db_version > 2) {
    problem = file.string() + ": LocalStatus db_version " + std::to_string(db_version) +
              ", which this roam does not know";
    return std::nullopt;
  }
  Statement rows;
  if (sqlite3_prepare_v2(db.db, "SELECT id, flags FROM status", -1, &rows.stmt, nullptr) !=
      SQLITE_OK) {
    problem = file.string() + ": " + sqlite3_errmsg(db.db);
    return std::nullopt;
  }
  Status status;
  int rc = SQLITE_ROW;
  while ((rc = sqlite3_step(rows.stmt)) == SQLITE_ROW) {
    auto uid = status_uid(sqlite3_column_int64(rows.stmt, 0));
    const unsigned char* flags = sqlite3_column_text(rows.stmt, 1);
    if (uid) {
      status.flags_by_uid[*uid] = flags != nullptr ? reinterpret_cast<const char*>(flags) : "";
    }
  }
  if (rc != SQLITE_DONE) {
    problem = file.string() + ": " + sqlite3_errmsg(db.db);
    return std::nullopt;
  }
  return status;
}

std::optional<Status> read_status_text(const std::filesystem::path& file, std::string& problem) {
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    problem = util::errno_message(file.string());
    return std::nullopt;
  }
  const std::string magic = "OFFLINEIMAP LocalStatus CACHE DATA - DO NOT MODIFY - FORMAT ";
  std::string line;
  std::getline(in, line);
  if (!line.empty() && line.back() == '\r') {
    line.pop_back();
  }
  int format = 0;
  if (line == magic + "1") {
    format = 1;
  } else if (line == magic + "2") {
    format = 2;
  } else {
    problem = file.string() + ": not an OfflineIMAP LocalStatus file (first line \"" +
              line.substr(0, 80) + "\")";
    return std::nullopt;
  }
  Status status;
  int line_no = 1;
  while (std::getline(in, line)) {
    ++line_no;
    if (!line.empty() && line.back() == '\r') {
      line.pop_back();
    }
    if (trim(line).empty()) {
      continue;
    }
    // FORMAT 1 is "uid:flags", FORMAT 2 "uid|flags|mtime|labels"; a line
    // that is neither makes OfflineIMAP give up on the file, and so does
    // this reader, rather than trust the rest.
    const char sep = format == 1 ? ':' : '|';
    const std::size_t bar = line.find(sep);
    std::string_view uid_text = trim(std::string_view(line).substr(0, bar));
    bool ok = bar != std::string::npos && !uid_text.empty() && uid_text.size() <= 19;
    long long id = 0;
    std::size_t start = !uid_text.empty() && uid_text.front() == '-' ? 1 : 0;
    for (std::size_t i = start; ok && i < uid_text.size(); ++i) {
      ok = std::isdigit(static_cast<unsigned char>(uid_text[i])) != 0;
      id = id * 10 + (uid_text[i] - '0');
    }
    if (!ok || uid_text.size() == start) {
      problem = file.string() + ":" + std::to_string(line_no) + ": a corrupt status line";
      return std::nullopt;
    }
    std::string flags = line.substr(bar + 1);
    if (format == 2) {
      flags = flags.substr(0, flags.find('|'));
    }
    if (auto uid = status_uid(start == 1 ? -id : id)) {
      status.flags_by_uid[*uid] = flags;
    }
  }
  return status;
}

namespace {

// Reads a Python string literal ('x' or "x", with no escapes: a backslash
// makes it something this reader does not translate).
std::optional<std::string> python_string(std::string_view s, std::size_t& pos) {
  if (pos >= s.size() || (s[pos] != '\'' && s[pos] != '"')) {
    return std::nullopt;
  }
  const char q = s[pos];
  const std::size_t close = s.find(q, pos + 1);
  if (close == std::string_view::npos) {
    return std::nullopt;
  }
  std::string out(s.substr(pos + 1, close - pos - 1));
  if (out.find('\\') != std::string::npos) {
    return std::nullopt;
  }
  pos = close + 1;
  return out;
}

void skip_blanks(std::string_view s, std::size_t& pos) {
  while (pos < s.size() && std::isspace(static_cast<unsigned char>(s[pos])) != 0) {
    ++pos;
  }
}

bool identifier_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_';
}

// A folder name as a `folders` pattern that matches it and nothing else, or
// nullopt. roam's folder names use '/' as the delimiter; a name with a '.'
// could be "a.b" on a '/' server or "a" and "b" on a '.' server (Courier),
// so it is not translated, and wildcards and quotes cannot be written.
std::optional<std::string> exact_pattern(const std::string& name) {
  if (name.empty() || name.find_first_of("*%\"\\.!") != std::string::npos) {
    return std::nullopt;
  }
  if (name.find_first_of(" \t") != std::string::npos) {
    return "\"" + name + "\"";
  }
  return name;
}

}  // namespace

std::optional<std::string> folders_of_filter(std::string_view lambda) {
  std::string_view s = trim(lambda);
  std::size_t pos = 0;
  if (s.substr(0, 6) != "lambda" || s.size() < 7 || identifier_char(s[6])) {
    return std::nullopt;
  }
  pos = 6;
  skip_blanks(s, pos);
  const std::size_t var_begin = pos;
  while (pos < s.size() && identifier_char(s[pos])) {
    ++pos;
  }
  const std::string_view var = s.substr(var_begin, pos - var_begin);
  skip_blanks(s, pos);
  if (var.empty() || pos >= s.size() || s[pos] != ':') {
    return std::nullopt;
  }
  ++pos;
  skip_blanks(s, pos);
  if (s.substr(pos, var.size()) != var || pos + var.size() >= s.size() ||
      identifier_char(s[pos + var.size()])) {
    return std::nullopt;
  }
  pos += var.size();
  skip_blanks(s, pos);
  bool negated = false;
  if (s.substr(pos, 3) == "not" && pos + 3 < s.size() && !identifier_char(s[pos + 3])) {
    negated = true;
    pos += 3;
    skip_blanks(s, pos);
  }
  if (s.substr(pos, 2) != "in" || pos + 2 >= s.size() || identifier_char(s[pos + 2])) {
    return std::nullopt;
  }
  pos += 2;
  skip_blanks(s, pos);
  if (pos >= s.size() || (s[pos] != '[' && s[pos] != '(')) {
    return std::nullopt;
  }
  const char close = s[pos] == '[' ? ']' : ')';
  ++pos;
  std::vector<std::string> patterns;
  for (;;) {
    skip_blanks(s, pos);
    if (pos < s.size() && s[pos] == close) {
      ++pos;
      break;
    }
    auto name = python_string(s, pos);
    if (!name) {
      return std::nullopt;
    }
    auto pattern = exact_pattern(*name);
    if (!pattern) {
      return std::nullopt;
    }
    patterns.push_back(negated ? "!" + *pattern : *pattern);
    skip_blanks(s, pos);
    if (pos < s.size() && s[pos] == ',') {
      ++pos;
    } else if (pos >= s.size() || s[pos] != close) {
      return std::nullopt;
    }
  }
  skip_blanks(s, pos);
  if (pos != s.size()) {
    return std::nullopt;
  }
  std::string out = negated ? "*" : "";
  for (const auto& p : patterns) {
    out += out.empty() ? p : " " + p;
  }
  // "folder in []" selects nothing, which roam's folders cannot say.
  if (out.empty()) {
    return std::nullopt;
  }
  return out;
}

}  // namespace offlineimap

namespace {

using offlineimap::Rc;

// A word for /bin/sh: single-quoted, with ' written '\''.
std::string shell_quote(const std::string& word) {
  std::string out = "'";
  for (char c : word) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

// expanduser and expandvars, as OfflineIMAP applies them to paths; a
// variable that is not set stays as written, as in Python.
std::string expand_path(const std::string& path) {
  std::string s = path;
  if (!s.empty() && s[0] == '~' && (s.size() == 1 || s[1] == '/')) {
    const char* home = std::getenv("HOME");
    if (home != nullptr) {
      s = std::string(home) + s.substr(1);
    }
  }
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '$') {
      out += s[i];
      continue;
    }
    std::size_t begin = i + 1;
    std::size_t end = begin;
    bool braces = begin < s.size() && s[begin] == '{';
    if (braces) {
      end = s.find('}', begin);
      if (end == std::string::npos) {
        out += s[i];
        continue;
      }
      ++begin;
    } else {
      while (end < s.size() &&
             (std::isalnum(static_cast<unsigned char>(s[end])) != 0 || s[end] == '_')) {
        ++end;
      }
    }
    const std::string name = s.substr(begin, end - begin);
    const char* value = name.empty() ? nullptr : std::getenv(name.c_str());
    if (value == nullptr) {
      out += s[i];
      continue;
    }
    out += value;
    i = braces ? end : end - 1;
  }
  return out;
}

bool is_loopback(const std::string& host) {
  return host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0;
}

// An account name roam accepts ([A-Za-z0-9._-]+): other characters become '-'.
std::string roam_account_name(const std::string& name) {
  std::string out;
  for (char c : name) {
    out += std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '.' || c == '_' || c == '-'
               ? c
               : '-';
  }
  return out;
}

struct Reader {
  const Rc& rc;
  std::filesystem::path metadata;

  PlannedAccount read_account(const std::string& account);
  void read_remote(const std::string& remote, PlannedAccount& out);
  void read_folders(const std::string& account, const std::string& remote,
                    const std::filesystem::path& root, const std::string& sep, PlannedAccount& out);
};

void Reader::read_remote(const std::string& remote, PlannedAccount& out) {
  const std::string sec = "Repository " + remote;
  const std::string type = rc.get(sec, "type").value_or("");
  const bool gmail = type == "Gmail";
  auto add = [&out](std::string key, std::string value) {
    out.keys.emplace_back(std::move(key), config_value(value));
  };
  for (const std::string what : {"host", "port", "user"}) {
    const std::string key = "remote" + what + "eval";
    if (rc.get(sec, key)) {
      usage(rc.where(sec, key) + ": " + key +
            " is Python, which roam cannot run; import from a copy of the file that says remote" +
            what + " = VALUE instead (roam import offlineimap --from COPY)");
    }
  }
  std::string host = rc.get(sec, "remotehost").value_or(gmail ? "imap.gmail.com" : "");
  if (host.empty()) {
    usage(rc.where_section(sec) + ": [" + sec + "] has no remotehost; add it");
  }
  add("host", host);
  const bool ssl = rc.get_bool(sec, "ssl").value_or(true);
  const bool starttls = rc.get_bool(sec, "starttls").value_or(true);
  if (auto port = rc.get(sec, "remoteport")) {
    add("port", *port);
  }
  if (ssl) {
    add("tls", "implicit");
  } else if (starttls) {
    // OfflineIMAP upgrades when the server offers STARTTLS and goes on in
    // plain text otherwise; roam never goes on without it.
    add("tls", "starttls");
    out.notes.push_back(
        "tls = starttls: roam refuses a server that does not offer STARTTLS, where OfflineIMAP "
        "went on unencrypted");
  } else {
    add("tls", "none");
    if (!is_loopback(host)) {
      add("allow_plaintext", "yes");
      out.notes.push_back(
          "ssl = no and starttls = no: the password travels unencrypted, as it did with "
          "OfflineIMAP (allow_plaintext = yes); set tls = implicit or starttls if the server "
          "can");
    }
  }
  if (auto user = rc.get(sec, "remoteuser")) {
    add("user", *user);
  } else {
    usage(rc.where_section(sec) + ": [" + sec +
          "] has no remoteuser (OfflineIMAP then asks ~/.netrc, which roam does not read); "
          "add remoteuser = NAME");
  }
  // How OfflineIMAP logs in: OAuth when it has a token or a client for it.
  bool oauth = false;
  for (const char* key : {"oauth2_refresh_token", "oauth2_refresh_token_eval",
                          "oauth2_access_token", "oauth2_access_token_eval"}) {
    oauth = oauth || rc.get(sec, key).has_value();
  }
  std::vector<std::string> mechs;
  if (auto m = rc.get(sec, "auth_mechanisms")) {
    std::string item;
    std::istringstream in(*m);
    while (std::getline(in, item, ',')) {
      if (!std::string(trim(item)).empty()) {
        mechs.push_back(lower(std::string(trim(item))));
      }
    }
  }
  auto offered = [&mechs](const char* m) {
    return mechs.empty() || std::find(mechs.begin(), mechs.end(), m) != mechs.end();
  };
  if (oauth && offered("xoauth2")) {
    add("auth", "xoauth2");
    const std::string id = rc.get(sec, "oauth2_client_id").value_or("CLIENT_ID");
    const std::string secret = rc.get(sec, "oauth2_client_secret").value_or("CLIENT_SECRET");
    const std::string provider = gmail || host == "imap.gmail.com" ? "gmail" : "microsoft";
    add("pass_cmd", "roam-oauth2 --provider " + provider + " --client-id " + shell_quote(id) +
                        " --client-secret " + shell_quote(secret) +
                        " --token-file ~/.local/state/roam/" + out.name + ".oauth2");
    out.notes.push_back(
        "auth = xoauth2: OfflineIMAP's OAuth tokens are not carried over; put the path of "
        "contrib/roam-oauth2 into pass_cmd and run that command once to authorize roam "
        "(docs/oauth.md)");
  } else {
    if (auto eval = rc.get(sec, "remotepasseval")) {
      usage(rc.where(sec, "remotepasseval") +
            ": remotepasseval is Python, which roam cannot run; import from a copy of the file "
            "that says remotepass = PASSWORD or remotepassfile = FILE instead, then replace the "
            "password in roam's configuration by pass_cmd = THE COMMAND your Python ran");
    }
    if (auto pass = rc.get(sec, "remotepass")) {
      add("password", *pass);
    } else if (auto file = rc.get(sec, "remotepassfile")) {
      add("pass_cmd", "cat " + shell_quote(expand_path(*file)));
    } else {
      usage(rc.where_section(sec) + ": [" + sec +
            "] has no remotepass or remotepassfile (OfflineIMAP then asks ~/.netrc or "
            "prompts, which roam does not); add remotepassfile = FILE, or remotepass");
    }
    const bool plain = offered("plain");
    const bool login = offered("login");
    if (!mechs.empty() && plain != login) {
      add("auth", plain ? "plain" : "login");
    }
    if (!mechs.empty() && !plain && !login) {
      out.notes.push_back("auth_mechanisms = " + *rc.get(sec, "auth_mechanisms") +
                          ": roam logs in with PLAIN or LOGIN (auth = auto), or OAuth");
    }
  }
  if (auto ca = rc.get(sec, "sslcacertfile"); ca && *ca != "OS-DEFAULT") {
    add("ca_file", std::filesystem::absolute(expand_path(*ca)).string());
  }
  if (auto fp = rc.get(sec, "cert_fingerprint")) {
    std::vector<std::string> hexes;
    std::string item;
    std::istringstream in(*fp);
    while (std::getline(in, item, ',')) {
      std::string hex;
      for (char c : item) {
        if (std::isxdigit(static_cast<unsigned char>(c)) != 0) {
          hex += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        }
      }
      if (!hex.empty()) {
        hexes.push_back(hex);
      }
    }
    if (hexes.size() == 1 && hexes[0].size() == 64) {
      add("cert_fingerprint", "sha256:" + hexes[0]);
    } else {
      out.notes.push_back(
          "cert_fingerprint = " + *fp +
          " is not carried over: roam pins one SHA-256 fingerprint (the server's certificate "
          "is still verified against the CA); set cert_fingerprint = sha256:... as sample.conf "
          "shows");
    }
  }
  if (rc.get(sec, "sslclientcert")) {
    out.notes.push_back("sslclientcert is not carried over: roam has no client certificates");
  }
  for (const char* key : {"preauthtunnel", "transporttunnel"}) {
    if (rc.get(sec, key)) {
      out.notes.push_back(std::string(key) +
                          " is not carried over: roam connects over TCP only; the host is " + host);
    }
  }
  if (gmail) {
    out.notes.push_back(
        "Gmail: [Gmail]/All Mail holds every message once more; OfflineIMAP synced it unless "
        "a folderfilter left it out, and so will roam unless folders excludes it "
        "(!\"[Gmail]/All Mail\")");
  }
}

// The folders key from the remote repository's folderfilter and
// folderincludes, or "" for all folders.
std::string read_filter(const Rc& rc, const std::string& sec, PlannedAccount& out) {
  const auto filter = rc.get(sec, "folderfilter");
  if (!filter) {
    // Without a filter every folder is synced, folderincludes or not.
    return {};
  }
  auto folders = offlineimap::folders_of_filter(*filter);
  if (!folders) {
    out.notes.push_back("folderfilter (" + rc.where(sec, "folderfilter") + ") = " + *filter +
                        " is Python that roam cannot translate exactly: all folders are "
                        "selected; write the folders key (patterns, sample.conf) by hand "
                        "before the first sync");
    return {};
  }
  if (auto inc = rc.get(sec, "folderincludes")) {
    // folderincludes is a Python list of names, as in "folder in [...]".
    if (auto f = offlineimap::folders_of_filter("lambda f: f in " + *inc)) {
      *folders += " " + *f;
    } else {
      out.notes.push_back("folderincludes (" + rc.where(sec, "folderincludes") + ") = " + *inc +
                          " is not carried over; add those folders to the folders key");
    }
  }
  return *folders;
}

PlannedAccount Reader::read_account(const std::string& account) {
  const std::string acct = "Account " + account;
  if (!rc.has_section(acct)) {
    usage(rc.origin() + ": no [" + acct + "] section; the accounts are named in [general] " +
          "accounts and each has an [Account NAME] section");
  }
  PlannedAccount out;
  out.name = roam_account_name(account);
  if (out.name != account) {
    out.notes.push_back("the account is called " + out.name + " in roam (OfflineIMAP: " + account +
                        "), as roam's names use only A-Z a-z 0-9 . _ -");
  }
  out.comments.push_back("Imported from OfflineIMAP's [" + acct + "] in " + rc.origin() + ".");
  const auto local = rc.get(acct, "localrepository");
  const auto remote = rc.get(acct, "remoterepository");
  if (!local || !remote) {
    usage(rc.where_section(acct) + ": [" + acct + "] needs localrepository and remoterepository");
  }
  const std::string lsec = "Repository " + *local;
  const std::string rsec = "Repository " + *remote;
  for (const auto& s : {lsec, rsec}) {
    if (!rc.has_section(s)) {
      usage(rc.where_section(acct) + ": [" + acct + "] names [" + s + "], which does not exist");
    }
  }
  const std::string ltype = rc.get(lsec, "type").value_or("");
  const std::string rtype = rc.get(rsec, "type").value_or("");
  if ((ltype != "Maildir" && ltype != "GmailMaildir") || (rtype != "IMAP" && rtype != "Gmail")) {
    usage(rc.where_section(acct) + ": account " + account + " syncs a " + ltype + " with a " +
          rtype + "; roam imports Maildir <-> IMAP (or Gmail) accounts only; name the accounts " +
          "to import after `roam import offlineimap`");
  }
  read_remote(*remote, out);

  const auto localfolders = rc.get(lsec, "localfolders");
  if (!localfolders) {
    usage(rc.where_section(lsec) + ": [" + lsec + "] has no localfolders");
  }
  const std::filesystem::path root = std::filesystem::absolute(expand_path(*localfolders));
  out.keys.emplace_back("maildir", config_value(root.lexically_normal().string()));
  std::string sep = rc.get(lsec, "sep").value_or(".");
  sep = std::string(trim(sep));
  if (sep == "/") {
    out.keys.emplace_back("layout", "verbatim");
  } else if (sep.size() == 1) {
    out.keys.emplace_back("layout", "flat");
    out.keys.emplace_back("flat_separator", config_value(sep));
  } else {
    usage(rc.where(lsec, "sep") + ": sep = " + sep +
          ": roam's flat layout separates folder levels with one character");
  }
  // OfflineIMAP keeps the server's full names locally (INBOX.Lists on
  // Courier), so roam must not strip a namespace prefix.
  out.keys.emplace_back("use_namespace", "no");

  // A nametrans gives local folders other names than the server's, and
  // roam names them after the server's: its first sync would download every
  // such folder again into a new directory and upload the old one as a new
  // server folder. Refused rather than noted, since a note read too late
  // would double the mail on both sides.
  for (const auto& s : {lsec, rsec}) {
    if (auto nt = rc.get(s, "nametrans")) {
      usage(rc.where(s, "nametrans") + ": nametrans = " + *nt +
            " cannot be carried over: roam keeps each folder in a directory named after its "
            "server name (levels joined by " +
            sep +
            "), and would download the translated folders again. Rename their directories "
            "under " +
            root.string() +
            " to the server's names, then import from a copy of this file without nametrans "
            "(roam import offlineimap --from COPY); their messages are then paired by content");
    }
  }
  if (rc.get(lsec, "folderfilter")) {
    out.notes.push_back("folderfilter of the local repository (" + rc.where(lsec, "folderfilter") +
                        ") is not carried over: roam's folders select server folders");
  }
  std::string folders = read_filter(rc, rsec, out);
  if (!folders.empty()) {
    out.keys.emplace_back("folders", folders);
  }
  const bool local_ro = rc.get_bool(lsec, "readonly").value_or(false);
  const bool remote_ro = rc.get_bool(rsec, "readonly").value_or(false);
  if (local_ro && remote_ro) {
    usage(rc.where_section(acct) + ": both repositories of " + account +
          " are readonly, so OfflineIMAP syncs nothing; there is nothing to import");
  }
  if (remote_ro) {
    out.keys.emplace_back("sync", "pull");
  } else if (local_ro) {
    out.keys.emplace_back("sync", "push");
  }
  const bool lcreate = rc.get_bool(lsec, "createfolders").value_or(true);
  const bool rcreate = rc.get_bool(rsec, "createfolders").value_or(true);
  if (!lcreate || !rcreate) {
    out.keys.emplace_back("create", "no");
    if (lcreate != rcreate) {
      out.notes.push_back(std::string("createfolders = no only on the ") +
                          (lcreate ? "remote" : "local") +
                          " side: roam's create = no applies to both sides");
    }
  }
  const bool ldel = rc.get_bool(lsec, "sync_deletes").value_or(true);
  const bool rdel = rc.get_bool(rsec, "sync_deletes").value_or(true);
  const bool rexpunge = rc.get_bool(rsec, "expunge").value_or(true);
  if (!ldel || !rdel || !rexpunge) {
    out.keys.emplace_back("expunge", "no");
    out.notes.push_back(
        "expunge = no: OfflineIMAP was told not to propagate some deletions (sync_deletes or "
        "expunge = no); roam's expunge = no keeps deleted messages on both sides");
  } else {
    out.keys.emplace_back("expunge", "yes");
  }
  if (auto hook = rc.get(acct, "presynchook")) {
    out.keys.emplace_back("pre_sync_cmd", config_value(*hook));
  }
  if (auto hook = rc.get(acct, "postsynchook")) {
    out.keys.emplace_back("post_sync_cmd", config_value(*hook));
  }
  for (const char* key : {"maxage", "maxsize", "startdate"}) {
    for (const auto& s : {acct, lsec, rsec}) {
      if (rc.get(s, key)) {
        out.notes.push_back(std::string(key) + " (" + rc.where(s, key) +
                            ") is not carried over: roam syncs every message of a folder");
      }
    }
  }
  if (rc.get(acct, "autorefresh")) {
    out.notes.push_back("autorefresh is not carried over: run `roam watch " + out.name +
                        "` (IDLE, and a full sync every watch_interval) or roam sync from a "
                        "timer (contrib/systemd)");
  }
  if (rc.get(rsec, "idlefolders")) {
    out.notes.push_back("idlefolders is not carried over: set watch = FOLDERS for roam watch");
  }
  if (ltype == "GmailMaildir" || rc.get_bool(acct, "synclabels").value_or(false)) {
    out.notes.push_back(
        "synclabels / GmailMaildir: Gmail labels are not carried over; roam syncs each label's "
        "folder instead");
  }
  if (rc.get_bool(acct, "utf8foldernames").value_or(false)) {
    out.notes.push_back("utf8foldernames = yes: folder names were already UTF-8, as roam's are");
  }
  read_folders(account, *remote, root, sep, out);
  return out;
}

void Reader::read_folders(const std::string& account, const std::string& remote,
                          const std::filesystem::path& root, const std::string& sep,
                          PlannedAccount& out) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_directory(root, ec)) {
    out.notes.push_back("the Maildir " + root.string() +
                        " does not exist: there is no folder state to import");
    return;
  }
  const bool utf8_names = rc.get_bool("Account " + account, "utf8foldernames").value_or(false);
  // The folders as OfflineIMAP's Maildir repository finds them: every
  // directory holding cur/, new/ and tmp/ directly below the root, and with
  // sep = '/' below those too.
  std::vector<std::string> names;
  std::vector<fs::path> pending{fs::path()};
  while (!pending.empty()) {
    fs::path rel = pending.back();
    pending.pop_back();
    fs::directory_iterator it(root / rel, ec);
    if (ec) {
      out.notes.push_back("cannot read " + (root / rel).string() + ": " + ec.message());
      continue;
    }
    for (const auto& entry : it) {
      const std::string leaf = entry.path().filename().string();
      if (leaf == "cur" || leaf == "new" || leaf == "tmp" || !entry.is_directory(ec)) {
        continue;
      }
      const fs::path dir = entry.path();
      if (fs::is_directory(dir / "cur", ec) && fs::is_directory(dir / "new", ec) &&
          fs::is_directory(dir / "tmp", ec)) {
        names.push_back((rel / leaf).generic_string());
      }
      if (sep == "/") {
        pending.push_back(rel / leaf);
      }
    }
  }
  std::sort(names.begin(), names.end());
  std::vector<std::string> utf7_dirs;
  const fs::path status_dir = metadata / ("Account-" + account) / "LocalStatus-sqlite";
  const fs::path text_dir = metadata / ("Account-" + account) / "LocalStatus";
  const fs::path validity_dir = metadata / ("Repository-" + remote) / "FolderValidity";
  for (const std::string& local_name : names) {
    PlannedFolder folder;
    folder.dir = root / local_name;
    // The server's name with '/' between levels: the local name with `sep`
    // replaced (OfflineIMAP put `sep` where the server had its delimiter).
    std::string name = slash_separated(local_name, sep);
    if (!utf8_names) {
      // Without utf8foldernames OfflineIMAP names directories in the
      // server's modified UTF-7 ("Entw&APw-rfe"), while roam names them in
      // UTF-8: roam would not find this directory under its name.
      try {
        std::string decoded = imap::utf7_decode(name);
        if (decoded != name) {
          // roam reads this directory as a folder named `name` itself, which
          // the server does not have: left selected, roam's first sync would
          // create it there and upload every message once more. So it is
          // left out of `folders` until the user renames it.
          utf7_dirs.push_back(name);
          out.notes.push_back(
              "the directory " + folder.dir.string() +
              " is named in IMAP's modified UTF-7, and roam names that folder " + decoded +
              ": both are left out of `folders` so that nothing is copied twice; rename the "
              "directory to " +
              decoded + " (keeping " + sep +
              " between levels), then remove both patterns from `folders`, and the first "
              "sync pairs its messages by content");
          // Its state is not imported: roam would look for its files in
          // the UTF-8 directory and take the missing ones for deletions.
          folder.name = decoded;
          folder.fmd5 = offlineimap::folder_md5(local_name);
          folder.notes.push_back("named in modified UTF-7: no state imported");
          out.folders.push_back(std::move(folder));
          continue;
        }
      } catch (const std::invalid_argument&) {
        // Not modified UTF-7: the name stays as it is.
      }
    }
    folder.name = name;
    folder.fmd5 = offlineimap::folder_md5(local_name);
    const std::string file = offlineimap::status_file_name(local_name, sep);
    std::optional<offlineimap::Status> status;
    std::string problem;
    if (fs::exists(status_dir / file, ec)) {
      status = offlineimap::read_status_sqlite(status_dir / file, problem);
    } else if (fs::exists(text_dir / file, ec)) {
      status = offlineimap::read_status_text(text_dir / file, problem);
    } else {
      problem = "OfflineIMAP has no status for it (" + (status_dir / file).string() + ")";
    }
    std::uint32_t validity = 0;
    if (status) {
      std::ifstream in(validity_dir / file);
      std::string line;
      std::getline(in, line);
      std::string_view digits = trim(line);
      std::uint64_t v = 0;
      bool ok = !digits.empty() && digits.size() <= 10;
      for (char c : digits) {
        ok = ok && std::isdigit(static_cast<unsigned char>(c)) != 0;
        v = v * 10 + static_cast<std::uint64_t>(c - '0');
      }
      if (ok && v > 0 && v <= 0xffffffffull) {
        validity = static_cast<std::uint32_t>(v);
      } else {
        problem = "no saved UIDVALIDITY in " + (validity_dir / file).string();
        status.reset();
      }
    }
    if (!status) {
      folder.notes.push_back(problem +
                             ": no state imported; roam's first sync pairs this folder's messages "
                             "by content");
    } else {
      folder.uidvalidity = validity;
      // OfflineIMAP's ",U=" is the server UID itself.
      for (const auto& [uid, letters] : status->flags_by_uid) {
        folder.by_file_uid[uid] = ImportedPair{uid, flags_of_letters(letters)};
      }
    }
    out.folders.push_back(std::move(folder));
  }
  if (!utf7_dirs.empty()) {
    auto folders = std::find_if(out.keys.begin(), out.keys.end(),
                                [](const auto& kv) { return kv.first == "folders"; });
    if (folders == out.keys.end()) {
      out.keys.emplace_back("folders", "*");
      folders = out.keys.end() - 1;
    }
    for (const auto& name : utf7_dirs) {
      std::string pattern = " !\"";
      for (char c : name) {
        if (c == '"' || c == '\\') {
          pattern += '\\';
        }
        pattern += c;
      }
      folders->second += pattern + "\"";
    }
  }
}

}  // namespace

std::vector<PlannedAccount> read_offlineimap(const std::filesystem::path& rc_file,
                                             const std::vector<std::string>& accounts) {
  const Rc rc = Rc::load(rc_file);
  std::vector<std::string> names = accounts;
  if (names.empty()) {
    auto list = rc.get("general", "accounts");
    if (!list) {
      usage(rc.origin() + ": no accounts key in [general]; name the accounts to import");
    }
    std::string item;
    std::istringstream in(*list);
    while (std::getline(in, item, ',')) {
      std::string name(trim(item));
      if (!name.empty()) {
        names.push_back(name);
      }
    }
  }
  Reader reader{rc, expand_path(rc.get("general", "metadata").value_or("~/.offlineimap"))};
  reader.metadata = std::filesystem::absolute(reader.metadata);
  std::vector<PlannedAccount> out;
  std::set<std::string> seen;
  for (const auto& name : names) {
    if (!seen.insert(name).second) {
      continue;
    }
    out.push_back(reader.read_account(name));
  }
  return out;
}

}  // namespace roam::import
