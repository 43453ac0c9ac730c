#include "cli/config.hpp"

#include "net/stream.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <map>
#include <optional>
#include <system_error>

#include "util/error.hpp"
#include "util/fs.hpp"
#include "util/log.hpp"
#include "util/subprocess.hpp"

namespace roam::cli {

namespace fs = std::filesystem;
using util::Error;
using util::Scope;

namespace {

constexpr std::string_view k_section_prefix = "account.";
// The most of pass_cmd's output that is kept; a password is far shorter, and
// the rest is read and dropped so that the command never blocks on a full
// pipe.
constexpr std::size_t k_max_password_output = 64 * 1024;

// Every key an account section may hold, with what it accepts, for the
// "unknown key" message.
const std::map<std::string, std::string, std::less<>>& known_keys() {
  static const std::map<std::string, std::string, std::less<>> keys = {
      {"host", "the server's host name"},
      {"port", "1-65535"},
      {"tls", "implicit | starttls | none"},
      {"user", "the login name"},
      {"password", "the password"},
      {"pass_cmd", "a shell command printing the password"},
      {"maildir", "a path"},
      {"state_dir", "a path"},
      {"layout", "verbatim | maildir++ | legacy | flat"},
      {"flat_separator", "one character (layout = flat)"},
      {"inbox", "a path (INBOX's Maildir)"},
      {"folders", "patterns"},
      {"sync", "both | pull | push"},
      {"expunge", "yes | no"},
      {"create", "yes | no"},
      {"use_namespace", "yes | no"},
      {"ca_file", "a path"},
      {"cert_fingerprint", "sha256:HEX"},
      {"allow_plaintext", "yes | no"},
      {"compress", "auto | yes | no"},
      {"auth", "auto | login | plain | xoauth2 | oauthbearer"},
      {"timeout", "seconds"},
      {"connections", "1-32"},
      {"max_delete_percent", "0-100"},
      {"max_message_size", "bytes, optionally with K, M or G"},
      {"watch", "patterns (roam watch)"},
      {"watch_interval", "a duration: seconds, or with s, m or h"},
      {"pre_sync_cmd", "a shell command run before each sync"},
      {"post_sync_cmd", "a shell command run after each sync"},
  };
  return keys;
}

std::string known_key_list() {
  std::string out;
  for (const auto& [key, what] : known_keys()) {
    if (!out.empty()) {
      out += ", ";
    }
    out += key;
  }
  return out;
}

bool is_space(char c) {
  return c == ' ' || c == '\t';
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && is_space(text.front())) {
    text.remove_prefix(1);
  }
  while (!text.empty() && is_space(text.back())) {
    text.remove_suffix(1);
  }
  return text;
}

std::string lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') {
      c = static_cast<char>(c - 'A' + 'a');
    }
  }
  return out;
}

bool iequals(std::string_view a, std::string_view b) {
  return lower(a) == lower(b);
}

bool valid_account_name(std::string_view name) {
  if (name.empty() || name == "." || name == "..") {
    return false;
  }
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
  });
}

// Reports problems in the file with its name and a line number.
class Reporter {
 public:
  explicit Reporter(const fs::path& path) : m_path(path) {}

  [[noreturn]] void fail(int line, const std::string& message) const {
    throw Error(Scope::Usage, m_path.string() + ", line " + std::to_string(line) + ": " + message);
  }

 private:
  const fs::path& m_path;
};

// Removes an inline comment ('#' or ';' after whitespace, outside double
// quotes) and surrounding whitespace. Throws for an unterminated quote.
std::string_view strip_comment(std::string_view text, const Reporter& reporter, int line) {
  bool in_quote = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (in_quote) {
      if (c == '\\' && i + 1 < text.size()) {
        ++i;
      } else if (c == '"') {
        in_quote = false;
      }
    } else if (c == '"') {
      in_quote = true;
    } else if ((c == '#' || c == ';') && i > 0 && is_space(text[i - 1])) {
      return trim(text.substr(0, i));
    }
  }
  if (in_quote) {
    reporter.fail(line, "unterminated double quote");
  }
  return trim(text);
}

// Reads a double-quoted string starting at text[pos] == '"'; \" and \\ are
// escapes, any other backslash is kept. Leaves `pos` after the closing quote.
std::string read_quoted(std::string_view text, std::size_t& pos) {
  std::string out;
  for (++pos; pos < text.size(); ++pos) {
    char c = text[pos];
    if (c == '\\' && pos + 1 < text.size() && (text[pos + 1] == '"' || text[pos + 1] == '\\')) {
      out += text[++pos];
    } else if (c == '"') {
      ++pos;
      return out;
    } else {
      out += c;
    }
  }
  return out;  // strip_comment already rejected unterminated quotes.
}

// A scalar value: either the text as written or one quoted string.
std::string scalar_value(std::string_view raw, const Reporter& reporter, int line) {
  if (raw.empty() || raw.front() != '"') {
    return std::string(raw);
  }
  std::size_t pos = 0;
  std::string value = read_quoted(raw, pos);
  if (pos != raw.size()) {
    reporter.fail(line, "unexpected text after the closing quote: quote the whole value");
  }
  return value;
}

// Splits a folders value into patterns at whitespace; double quotes keep
// spaces inside a pattern ("Sent Items", !"Deleted Items").
std::vector<std::string> split_patterns(std::string_view raw) {
  std::vector<std::string> out;
  std::size_t pos = 0;
  while (pos < raw.size()) {
    while (pos < raw.size() && is_space(raw[pos])) {
      ++pos;
    }
    if (pos == raw.size()) {
      break;
    }
    std::string word;
    while (pos < raw.size() && !is_space(raw[pos])) {
      if (raw[pos] == '"') {
        word += read_quoted(raw, pos);
      } else {
        word += raw[pos++];
      }
    }
    out.push_back(std::move(word));
  }
  return out;
}

struct RawValue {
  std::string text;  // Comment stripped and trimmed; quotes not yet removed.
  int line = 0;
};

struct RawSection {
  std::string name;
  int line = 0;
  std::map<std::string, RawValue, std::less<>> values;
};

bool parse_bool(const std::string& value, bool& out) {
  auto v = lower(value);
  if (v == "yes" || v == "true" || v == "on" || v == "1") {
    out = true;
    return true;
  }
  if (v == "no" || v == "false" || v == "off" || v == "0") {
    out = false;
    return true;
  }
  return false;
}

std::optional<unsigned long> parse_number(const std::string& value, unsigned long max) {
  if (value.empty() || value.size() > 10 ||
      !std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return std::nullopt;
  }
  unsigned long number = std::stoul(value);
  if (number > max) {
    return std::nullopt;
  }
  return number;
}

// A duration in seconds: digits with an optional s, m or h ("900",
// "15m", "1h"). nullopt when malformed or over a week.
std::optional<unsigned long> parse_duration(const std::string& value) {
  if (value.empty()) {
    return std::nullopt;
  }
  unsigned long unit = 1;
  std::string digits = value;
  switch (std::tolower(static_cast<unsigned char>(value.back()))) {
    case 's':
      digits.pop_back();
      break;
    case 'm':
      unit = 60;
      digits.pop_back();
      break;
    case 'h':
      unit = 3600;
      digits.pop_back();
      break;
    default:
      break;
  }
  constexpr unsigned long k_week = 7 * 86400;
  auto number = parse_number(digits, k_week);
  if (!number || *number * unit > k_week) {
    return std::nullopt;
  }
  return *number * unit;
}

// The largest max_message_size accepted: far beyond any mail server's
// limit, and small enough that the byte count cannot overflow.
constexpr std::uint64_t k_max_message_size_limit = 1024ull << 30;

// A size in bytes: digits with an optional K, M or G (binary multiples,
// either case), e.g. "50M". nullopt when malformed, 0 or over the limit.
std::optional<std::uint64_t> parse_size(const std::string& value) {
  std::string digits = value;
  std::uint64_t unit = 1;
  if (!digits.empty()) {
    switch (digits.back()) {
      case 'k':
      case 'K':
        unit = 1ull << 10;
        break;
      case 'm':
      case 'M':
        unit = 1ull << 20;
        break;
      case 'g':
      case 'G':
        unit = 1ull << 30;
        break;
      default:
        break;
    }
    if (unit != 1) {
      digits.pop_back();
    }
  }
  // 13 digits already exceed the limit in bytes, and keep stoull in range.
  if (digits.empty() || digits.size() > 13 ||
      !std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return std::nullopt;
  }
  std::uint64_t number = std::stoull(digits);
  if (number == 0 || number > k_max_message_size_limit / unit) {
    return std::nullopt;
  }
  return number * unit;
}

bool is_within(const fs::path& child, const fs::path& parent) {
  auto c = child.begin();
  for (auto p = parent.begin(); p != parent.end(); ++p, ++c) {
    if (p->empty()) {
      continue;  // A trailing separator.
    }
    if (c == child.end() || *c != *p) {
      return false;
    }
  }
  return true;
}

fs::path clean_path(const fs::path& path) {
  fs::path out = path.lexically_normal();
  if (out.has_parent_path() && out.filename().empty()) {
    out = out.parent_path();
  }
  return out;
}

// Expands "~" and checks that the result is absolute: a relative path would
// depend on where roam happens to be started (cron, systemd).
fs::path parse_path(const std::string& value, const Reporter& reporter, int line,
                    std::string_view key) {
  fs::path path;
  try {
    path = util::expand_user(value);
  } catch (const Error& e) {
    reporter.fail(line, e.what());
  }
  if (!path.is_absolute()) {
    reporter.fail(line, std::string(key) + " must be an absolute path or start with ~/ (got '" +
                            value + "')");
  }
  return clean_path(path);
}

std::string parse_fingerprint(const std::string& value, const Reporter& reporter, int line) {
  const std::string allowed =
      "cert_fingerprint must be sha256: followed by 64 hex digits (colons allowed), e.g. the "
      "output of `openssl x509 -noout -fingerprint -sha256`";
  if (!iequals(value.substr(0, 7), "sha256:")) {
    reporter.fail(line, allowed);
  }
  std::string hex;
  for (char c : value.substr(7)) {
    if (c == ':') {
      continue;
    }
    char l = lower(std::string(1, c))[0];
    if (!((l >= '0' && l <= '9') || (l >= 'a' && l <= 'f'))) {
      reporter.fail(line, allowed);
    }
    hex += l;
  }
  if (hex.size() != 64) {
    reporter.fail(line, allowed);
  }
  return hex;
}

fs::path default_state_dir(const std::string& account) {
  const char* xdg = std::getenv("XDG_STATE_HOME");
  // The XDG base directory spec says relative values are to be ignored.
  if (xdg != nullptr && *xdg == '/') {
    return clean_path(fs::path(xdg) / "roam" / account);
  }
  return clean_path(util::expand_user("~/.local/state/roam/" + account));
}

AccountConfig build_account(const RawSection& section, const fs::path& path,
                            const Reporter& reporter) {
  AccountConfig account;
  account.name = section.name;
  account.config_file = path;
  account.line = section.line;

  auto get = [&](std::string_view key) -> const RawValue* {
    auto it = section.values.find(key);
    return it == section.values.end() ? nullptr : &it->second;
  };
  auto scalar = [&](const RawValue& raw) {
    auto value = scalar_value(raw.text, reporter, raw.line);
    if (value.empty()) {
      reporter.fail(raw.line, "empty value");
    }
    return value;
  };
  auto require = [&](std::string_view key) -> const RawValue& {
    const RawValue* raw = get(key);
    if (raw == nullptr) {
      reporter.fail(section.line, "account " + section.name + " has no '" + std::string(key) +
                                      "' key, which is required");
    }
    return *raw;
  };
  auto boolean = [&](std::string_view key, bool& out) {
    if (const RawValue* raw = get(key)) {
      if (!parse_bool(scalar(*raw), out)) {
        reporter.fail(raw->line, std::string(key) +
                                     " must be yes or no (also: true/false, "
                                     "on/off, 1/0)");
      }
    }
  };

  const RawValue& host = require("host");
  account.host = scalar(host);
  if (std::any_of(account.host.begin(), account.host.end(),
                  [](char c) { return static_cast<unsigned char>(c) <= 0x20 || c == '/'; })) {
    reporter.fail(host.line, "host must be a host name or address, without spaces or /");
  }
  account.user = scalar(require("user"));
  const RawValue& maildir = require("maildir");
  account.maildir = parse_path(scalar(maildir), reporter, maildir.line, "maildir");

  const RawValue* password = get("password");
  const RawValue* pass_cmd = get("pass_cmd");
  if (password != nullptr && pass_cmd != nullptr) {
    reporter.fail(std::max(password->line, pass_cmd->line),
                  "set either password or pass_cmd, not both");
  }
  if (password == nullptr && pass_cmd == nullptr) {
    reporter.fail(section.line,
                  "account " + section.name + " needs a password: set password or pass_cmd");
  }
  if (password != nullptr) {
    account.password = scalar(*password);
  } else {
    account.pass_cmd = scalar(*pass_cmd);
  }

  if (const RawValue* raw = get("tls")) {
    auto value = lower(scalar(*raw));
    if (value == "implicit") {
      account.tls = net::TlsMode::Implicit;
    } else if (value == "starttls") {
      account.tls = net::TlsMode::StartTls;
    } else if (value == "none") {
      account.tls = net::TlsMode::None;
    } else {
      reporter.fail(raw->line, "tls must be implicit, starttls or none");
    }
  }
  account.port = account.tls == net::TlsMode::Implicit ? 993 : 143;
  if (const RawValue* raw = get("port")) {
    auto number = parse_number(scalar(*raw), 65535);
    if (!number || *number == 0) {
      reporter.fail(raw->line, "port must be a number from 1 to 65535");
    }
    account.port = static_cast<std::uint16_t>(*number);
  }

  if (const RawValue* raw = get("state_dir")) {
    account.state_dir = parse_path(scalar(*raw), reporter, raw->line, "state_dir");
  } else {
    try {
      account.state_dir = default_state_dir(account.name);
    } catch (const Error& e) {
      reporter.fail(section.line, std::string(e.what()) + "; set state_dir");
    }
  }
  {
    // Compared as written and with symbolic links resolved: the state must
    // not be where Maildir tools (or a sync of the Maildir) can touch it.
    std::error_code ec;
    auto real_state = fs::weakly_canonical(account.state_dir, ec);
    if (ec) {
      real_state = account.state_dir;
    }
    auto real_maildir = fs::weakly_canonical(account.maildir, ec);
    if (ec) {
      real_maildir = account.maildir;
    }
    if (is_within(account.state_dir, account.maildir) || is_within(real_state, real_maildir)) {
      const RawValue* raw = get("state_dir");
      reporter.fail(raw != nullptr ? raw->line : section.line,
                    "state_dir " + account.state_dir.string() + " is inside maildir " +
                        account.maildir.string() +
                        "; choose a state_dir outside the maildir (the default is under "
                        "$XDG_STATE_HOME/roam)");
    }
  }

  if (const RawValue* raw = get("layout")) {
    std::optional<maildir::Layout> layout = maildir::parse_layout(lower(scalar(*raw)));
    if (!layout) {
      reporter.fail(raw->line, "layout must be verbatim, maildir++, legacy or flat");
    }
    account.layout = *layout;
  }
  if (const RawValue* raw = get("flat_separator")) {
    if (account.layout != maildir::Layout::Flat) {
      reporter.fail(raw->line,
                    "flat_separator applies to layout = flat only; remove it, or set layout = "
                    "flat");
    }
    std::string value = scalar(*raw);
    if (value.size() != 1 || value == "/" || static_cast<unsigned char>(value[0]) < 0x20 ||
        value[0] == '\x7f') {
      reporter.fail(raw->line,
                    "flat_separator must be one character other than '/' and not a control "
                    "character, e.g. flat_separator = . (the default)");
    }
    account.flat_separator = value[0];
  }
  if (const RawValue* raw = get("inbox")) {
    account.inbox = parse_path(scalar(*raw), reporter, raw->line, "inbox");
    if (std::optional<std::string> problem = maildir::tree_problem(account.tree())) {
      reporter.fail(raw->line, *problem);
    }
    std::error_code ec;
    auto real_state = fs::weakly_canonical(account.state_dir, ec);
    if (ec) {
      real_state = account.state_dir;
    }
    auto real_inbox = fs::weakly_canonical(*account.inbox, ec);
    if (ec) {
      real_inbox = *account.inbox;
    }
    if (is_within(account.state_dir, *account.inbox) || is_within(real_state, real_inbox) ||
        is_within(*account.inbox, account.state_dir) || is_within(real_inbox, real_state)) {
      reporter.fail(raw->line, "inbox " + account.inbox->string() + " and state_dir " +
                                   account.state_dir.string() +
                                   " overlap; keep the state outside the Maildir folders (the "
                                   "default state_dir is under $XDG_STATE_HOME/roam)");
    }
  }

  if (const RawValue* raw = get("folders")) {
    account.folders = split_patterns(raw->text);
    if (account.folders.empty()) {
      reporter.fail(raw->line, "folders needs at least one pattern (e.g. *)");
    }
    for (const auto& pattern : account.folders) {
      if (pattern.empty() || pattern == "!") {
        reporter.fail(raw->line, "empty folder pattern");
      }
    }
  }

  if (const RawValue* raw = get("watch")) {
    account.watch = split_patterns(raw->text);
    if (account.watch.empty()) {
      reporter.fail(raw->line, "watch needs at least one pattern (e.g. INBOX)");
    }
    for (const auto& pattern : account.watch) {
      if (pattern.empty() || pattern == "!") {
        reporter.fail(raw->line, "empty folder pattern in watch");
      }
    }
  }

  if (const RawValue* raw = get("watch_interval")) {
    auto seconds = parse_duration(scalar(*raw));
    // A full sync more often than every minute would be a poll, not a
    // safety net; one rarer than a day leaves unwatched folders stale.
    if (!seconds || *seconds < 60 || *seconds > 86400) {
      reporter.fail(raw->line,
                    "watch_interval must be a duration from 1m to 24h, such as 900, 15m or 1h");
    }
    account.watch_interval = std::chrono::seconds(
        static_cast<std::chrono::seconds::rep>(seconds.value_or(account.watch_interval.count())));
  }

  if (const RawValue* raw = get("sync")) {
    auto value = lower(scalar(*raw));
    if (value == "both") {
      account.sync = sync::Direction::Both;
    } else if (value == "pull") {
      account.sync = sync::Direction::Pull;
    } else if (value == "push") {
      account.sync = sync::Direction::Push;
    } else {
      reporter.fail(raw->line, "sync must be both, pull or push");
    }
  }

  boolean("expunge", account.expunge);
  boolean("create", account.create);
  boolean("use_namespace", account.use_namespace);
  boolean("allow_plaintext", account.allow_plaintext);
  if (const RawValue* raw = get("compress")) {
    const std::string value = scalar(*raw);
    bool on = false;
    if (lower(value) == "auto") {
      account.compress = AccountConfig::Compress::Auto;
    } else if (parse_bool(value, on)) {
      account.compress = on ? AccountConfig::Compress::Yes : AccountConfig::Compress::No;
    } else {
      reporter.fail(raw->line,
                    "compress must be auto (on unless the host is on loopback), yes or no");
    }
  }

  // On loopback a plaintext connection never leaves the machine (a local
  // Dovecot, an SSH tunnel, a bridge such as Proton's).
  if (account.tls == net::TlsMode::None && !account.allow_plaintext &&
      !net::is_loopback(account.host)) {
    reporter.fail(get("tls")->line,
                  "tls = none sends the password unencrypted; use tls = implicit or starttls, or "
                  "set allow_plaintext = yes if the network is trusted");
  }

  if (const RawValue* raw = get("ca_file")) {
    account.ca_file = parse_path(scalar(*raw), reporter, raw->line, "ca_file");
    std::error_code ec;
    if (!fs::is_regular_file(account.ca_file, ec)) {
      reporter.fail(raw->line, "ca_file " + account.ca_file.string() + " is not a readable file");
    }
  }
  if (const RawValue* raw = get("cert_fingerprint")) {
    account.cert_fingerprint_sha256 = parse_fingerprint(scalar(*raw), reporter, raw->line);
  }

  if (const RawValue* raw = get("auth")) {
    auto value = lower(scalar(*raw));
    if (value == "auto") {
      account.auth = imap::AuthMechanism::Auto;
    } else if (value == "login") {
      account.auth = imap::AuthMechanism::Login;
    } else if (value == "plain") {
      account.auth = imap::AuthMechanism::Plain;
    } else if (value == "xoauth2") {
      account.auth = imap::AuthMechanism::XOAuth2;
    } else if (value == "oauthbearer") {
      account.auth = imap::AuthMechanism::OAuthBearer;
    } else {
      reporter.fail(raw->line, "auth must be auto, login, plain, xoauth2 or oauthbearer");
    }
  }

  if (const RawValue* raw = get("timeout")) {
    auto number = parse_number(scalar(*raw), 86400);
    if (!number || *number == 0) {
      reporter.fail(raw->line, "timeout must be a whole number of seconds from 1 to 86400");
    }
    account.timeout = std::chrono::seconds(static_cast<std::chrono::seconds::rep>(*number));
  }

  if (const RawValue* raw = get("connections")) {
    auto number = parse_number(scalar(*raw), 32);
    if (!number || *number == 0) {
      reporter.fail(raw->line,
                    "connections must be a whole number from 1 to 32 (the most connections a "
                    "run opens to the server at once; servers allow a user 4 to 15)");
    }
    account.connections = static_cast<std::size_t>(*number);
  }

  if (const RawValue* raw = get("max_delete_percent")) {
    auto number = parse_number(scalar(*raw), 100);
    if (!number) {
      reporter.fail(raw->line, "max_delete_percent must be a whole number from 0 to 100");
    }
    account.max_delete_percent = static_cast<int>(*number);
  }

  // The hooks are shell commands; a value of blanks only (quoted, since an
  // empty value is refused above) would run nothing and hide a mistake.
  for (auto [key, command] : {std::pair{"pre_sync_cmd", &account.pre_sync_cmd},
                              std::pair{"post_sync_cmd", &account.post_sync_cmd}}) {
    if (const RawValue* raw = get(key)) {
      *command = scalar(*raw);
      if (trim(*command).empty()) {
        reporter.fail(raw->line, std::string(key) +
                                     " must be a shell command (run with /bin/sh -c), e.g. " + key +
                                     " = notmuch new; remove the line for no hook");
      }
    }
  }

  if (const RawValue* raw = get("max_message_size")) {
    auto size = parse_size(scalar(*raw));
    if (!size) {
      reporter.fail(raw->line,
                    "max_message_size must be a number of bytes, optionally followed by K, M or "
                    "G (e.g. 50M), from 1 to 1024G");
    }
    account.max_message_size = *size;
  }
  return account;
}

// Warns if group or others can read a file that holds a password: pass_cmd
// (e.g. `pass show ...`) keeps the secret out of the file altogether.
void check_permissions(const fs::path& path, int password_line) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    return;
  }
  if ((st.st_mode & (S_IRGRP | S_IROTH)) != 0) {
    ROAM_WARN(path.string() << " contains a password (line " << password_line
                            << ") but can be read by other users; run `chmod 600 " << path.string()
                            << "` or use pass_cmd instead");
  }
}

// `path` with symbolic links resolved as far as it exists, for comparing
// two paths that may be spelled differently.
fs::path resolved(const fs::path& path) {
  std::error_code ec;
  auto real = fs::weakly_canonical(path, ec);
  return ec ? path : real;
}

// Refuses two accounts that share a Maildir root (or nest one in the other),
// counting an inbox path outside the root as a root of its own,
// or a state directory. Two accounts on one Maildir each upload the other's
// mail to their own server, and a deletion on one server then deletes the
// other account's files; two on one state directory overwrite each other's
// state, which makes every message look new or deleted.
void check_accounts_apart(const std::vector<AccountConfig>& accounts,
                          const std::vector<RawSection>& sections, const Reporter& reporter) {
  auto key_line = [&](std::size_t index, std::string_view key) {
    const auto& values = sections[index].values;
    auto it = values.find(key);
    return it != values.end() ? it->second.line : sections[index].line;
  };
  // The directories an account's folders live under, each with the key
  // that names it.
  auto tops = [](const AccountConfig& account) {
    std::vector<std::pair<fs::path, std::string_view>> out;
    for (const fs::path& top : account.tree().tops()) {
      out.emplace_back(resolved(top), top == account.maildir ? "maildir" : "inbox");
    }
    return out;
  };
  for (std::size_t j = 1; j < accounts.size(); ++j) {
    const auto tops_j = tops(accounts[j]);
    const auto state_j = resolved(accounts[j].state_dir);
    for (std::size_t i = 0; i < j; ++i) {
      const auto& a = accounts[i].name;
      const auto& b = accounts[j].name;
      for (const auto& [dir_i, key_i] : tops(accounts[i])) {
        for (const auto& [dir_j, key_j] : tops_j) {
          if (!is_within(dir_i, dir_j) && !is_within(dir_j, dir_i)) {
            continue;
          }
          const bool both_roots = key_i == "maildir" && key_j == "maildir";
          std::string how;
          if (dir_i == dir_j) {
            how = both_roots ? "both use maildir " + dir_j.string()
                             : "both use " + dir_j.string() + " (" + a + "'s " +
                                   std::string(key_i) + ", " + b + "'s " + std::string(key_j) + ")";
          } else {
            how = both_roots ? "have nested maildirs " + dir_i.string() + " and " + dir_j.string()
                             : "have nested Maildir trees " + dir_i.string() + " (" + a + "'s " +
                                   std::string(key_i) + ") and " + dir_j.string() + " (" + b +
                                   "'s " + std::string(key_j) + ")";
          }
          reporter.fail(key_line(j, key_j),
                        "accounts " + a + " (line " + std::to_string(key_line(i, key_i)) +
                            ") and " + b + " " + how +
                            "; each account needs a maildir (and inbox) of its own (sharing one "
                            "copies each account's mail to the other's server), so set a "
                            "separate " +
                            std::string(key_j) + " for one of them");
        }
      }
      if (resolved(accounts[i].state_dir) == state_j) {
        reporter.fail(key_line(j, "state_dir"),
                      "accounts " + a + " (line " + std::to_string(key_line(i, "state_dir")) +
                          ") and " + b + " both use state_dir " + state_j.string() +
                          "; each account needs a state_dir of its own (leave state_dir unset for "
                          "the default, $XDG_STATE_HOME/roam/NAME)");
      }
    }
  }
}

// The message for a configuration file that cannot be read: only a missing
// file is to be created; one that exists but may not be read (or is a
// directory) needs another fix, and saying "create it" sends the user the
// wrong way. `failure` is read_file's message, which names the path.
std::string why_config_unreadable(const fs::path& path, const std::string& failure) {
  util::Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  int err = fd ? 0 : errno;
  struct stat st {};
  if (fd && ::fstat(fd.get(), &st) == 0 && S_ISDIR(st.st_mode)) {
    err = EISDIR;
  }
  switch (err) {
    case ENOENT:
      return "no configuration file " + path.string() +
             "; create it (sample.conf shows every key) or name another one with -c";
    case EACCES:
    case EPERM:
      return failure +
             "; the file (or a directory above it) exists but may not be read by this user: "
             "make it readable for the user running roam (chmod 600 keeps it private), or "
             "run roam as its owner";
    case EISDIR:
      return path.string() + " is a directory, not a configuration file; name the file with -c";
    case ENOTDIR:
      return failure + "; a part of the path is a file, not a directory";
    default:
      return failure + "; check the configuration file";
  }
}

}  // namespace

maildir::Tree AccountConfig::tree() const {
  maildir::Tree out;
  out.root = maildir;
  out.layout = layout;
  out.separator = flat_separator;
  out.inbox = inbox;
  return out;
}

const AccountConfig* Config::find_account(std::string_view name) const {
  for (const auto& account : accounts) {
    if (account.name == name) {
      return &account;
    }
  }
  return nullptr;
}

std::vector<const AccountConfig*> Config::accounts_named(
    const std::vector<std::string>& names) const {
  std::vector<const AccountConfig*> out;
  if (names.empty()) {
    for (const auto& a : accounts) {
      out.push_back(&a);
    }
    return out;
  }
  for (const auto& n : names) {
    const AccountConfig* a = find_account(n);
    if (a == nullptr) {
      throw Error(Scope::Usage, "no account \"" + n + "\" in " + path.string());
    }
    out.push_back(a);
  }
  return out;
}

Config load_config(const fs::path& path) {
  std::string text;
  try {
    text = util::read_file(path);
  } catch (const Error& e) {
    throw Error(Scope::Usage, why_config_unreadable(path, e.what()));
  }
  Reporter reporter(path);
  std::vector<RawSection> sections;
  int password_line = 0;
  int line_number = 0;
  std::size_t pos = 0;
  while (pos < text.size()) {
    auto newline = text.find('\n', pos);
    std::string_view line(text.data() + pos,
                          (newline == std::string::npos ? text.size() : newline) - pos);
    pos = newline == std::string::npos ? text.size() : newline + 1;
    ++line_number;
    if (!line.empty() && line.back() == '\r') {
      line.remove_suffix(1);
    }
    line = trim(line);
    if (line.empty() || line.front() == '#' || line.front() == ';') {
      continue;
    }

    if (line.front() == '[') {
      auto close = line.find(']');
      if (close == std::string_view::npos) {
        reporter.fail(line_number, "section header without ']'");
      }
      auto rest = strip_comment(line.substr(close + 1), reporter, line_number);
      if (!rest.empty()) {
        reporter.fail(line_number, "unexpected text after the section header");
      }
      auto inner = trim(line.substr(1, close - 1));
      if (!inner.starts_with(k_section_prefix)) {
        reporter.fail(line_number,
                      "unknown section [" + std::string(inner) + "]; sections are [account.NAME]");
      }
      auto name = inner.substr(k_section_prefix.size());
      if (!valid_account_name(name)) {
        reporter.fail(line_number, "account name '" + std::string(name) +
                                       "' must consist of A-Z a-z 0-9 . _ - (and not be . or ..)");
      }
      for (const auto& section : sections) {
        if (section.name == name) {
          reporter.fail(line_number, "account " + std::string(name) +
                                         " is defined twice (first on line " +
                                         std::to_string(section.line) + ")");
        }
      }
      sections.push_back(RawSection{std::string(name), line_number, {}});
      continue;
    }

    auto equals = line.find('=');
    if (equals == std::string_view::npos) {
      reporter.fail(line_number, "expected 'key = value', an [account.NAME] header or a comment");
    }
    auto key = trim(line.substr(0, equals));
    if (sections.empty()) {
      reporter.fail(line_number, "'" + std::string(key) +
                                     "' is outside a section; start an account with "
                                     "[account.NAME] first");
    }
    if (known_keys().find(key) == known_keys().end()) {
      reporter.fail(line_number,
                    "unknown key '" + std::string(key) + "'; allowed: " + known_key_list());
    }
    auto& section = sections.back();
    if (auto it = section.values.find(key); it != section.values.end()) {
      reporter.fail(line_number, "duplicate key '" + std::string(key) + "' (first set on line " +
                                     std::to_string(it->second.line) + ")");
    }
    auto value = strip_comment(line.substr(equals + 1), reporter, line_number);
    if (value.empty()) {
      reporter.fail(line_number, "'" + std::string(key) + "' has no value (" +
                                     known_keys().find(key)->second +
                                     "); quote a value that "
                                     "starts with # or ;");
    }
    if (key == "password" && password_line == 0) {
      password_line = line_number;
    }
    section.values.emplace(std::string(key), RawValue{std::string(value), line_number});
  }

  if (sections.empty()) {
    throw Error(Scope::Usage, path.string() +
                                  ": no [account.NAME] section; sample.conf shows how to "
                                  "configure an account");
  }
  Config config;
  config.path = path;
  for (const auto& section : sections) {
    config.accounts.push_back(build_account(section, path, reporter));
  }
  check_accounts_apart(config.accounts, sections, reporter);
  if (password_line != 0) {
    check_permissions(path, password_line);
  }
  return config;
}

fs::path xdg_config_home() {
  const char* xdg = std::getenv("XDG_CONFIG_HOME");
  return xdg != nullptr && *xdg == '/' ? fs::path(xdg) : util::expand_user("~/.config");
}

fs::path default_config_path() {
  return xdg_config_home() / "roam" / "config";
}

std::string resolve_password(const AccountConfig& account) {
  if (account.pass_cmd.empty()) {
    return account.password;
  }
  const std::string what = "pass_cmd of account " + account.name;
  util::SubprocessOptions options;
  // The command may have to ask for a passphrase (gpg's pinentry on the
  // terminal), so it gets roam's stdin and the terminal, and its stderr goes
  // to the user; only stdout, the password, is captured.
  options.stdin_from = util::Stdin::Inherited;
  options.stderr_to = util::Stderr::Inherited;
  options.take_terminal = true;
  options.output_limit = k_max_password_output;
  options.kept = util::Kept::Start;
  options.timeout = account.timeout;
  // No should_stop: while the command holds the terminal, a Ctrl-C reaches
  // it and not roam, and otherwise the timeout bounds it.
  const util::SubprocessResult run = util::run_subprocess(account.pass_cmd, options);

  if (run.start_errno != 0) {
    throw Error(Scope::Account, util::errno_message("cannot run " + what, run.start_errno));
  }
  if (run.wait_errno != 0) {
    throw Error(Scope::Account, util::errno_message("cannot wait for " + what, run.wait_errno));
  }
  if (run.timed_out) {
    throw Error(Scope::Account,
                what + " timed out: it did not finish within the account's timeout of " +
                    std::to_string(account.timeout.count()) +
                    " s, so roam stopped it; run the command by hand to check that it prints the "
                    "password without waiting (or raise timeout in [account." +
                    account.name + "])");
  }
  if (run.read_errno != 0) {
    throw Error(Scope::Account,
                util::errno_message("cannot read the output of " + what, run.read_errno));
  }
  if (run.signal != 0) {
    throw Error(Scope::Account, what + " was killed by signal " + std::to_string(run.signal) +
                                    "; run the command by hand to check it");
  }
  if (run.exit_code != 0) {
    throw Error(Scope::Account, what + " failed with exit status " + std::to_string(run.exit_code) +
                                    (run.exit_code == 127 ? " (command not found?)" : "") +
                                    "; run the command by hand to check it");
  }
  auto end = run.output.find('\n');
  std::string password = run.output.substr(0, end);
  if (!password.empty() && password.back() == '\r') {
    password.pop_back();
  }
  if (password.empty()) {
    throw Error(Scope::Account, what + " printed no password on its first line");
  }
  return password;
}

namespace {

// Matches `text` against a pattern of literal characters, "*" (any run) and
// "%" (any run without `delimiter`). Dynamic programming over the text keeps
// it linear in the pattern length times the text length whatever the
// pattern.
bool pattern_matches(std::string_view pattern, std::string_view text, char delimiter) {
  // matches[j]: the pattern so far matches the first j characters of text.
  std::vector<char> matches(text.size() + 1, 0);
  matches[0] = 1;
  for (char p : pattern) {
    std::vector<char> next(text.size() + 1, 0);
    if (p == '*' || p == '%') {
      char reachable = 0;
      for (std::size_t j = 0; j <= text.size(); ++j) {
        if (p == '%' && j > 0 && text[j - 1] == delimiter) {
          reachable = 0;
        }
        reachable = static_cast<char>(reachable | matches[j]);
        next[j] = reachable;
      }
    } else {
      for (std::size_t j = 1; j <= text.size(); ++j) {
        next[j] = static_cast<char>(matches[j - 1] && text[j - 1] == p);
      }
    }
    matches = std::move(next);
  }
  return matches[text.size()] != 0;
}

std::string_view canonical_inbox(std::string_view name) {
  return iequals(name, "INBOX") ? std::string_view("INBOX") : name;
}

}  // namespace

bool folder_selected(const std::vector<std::string>& patterns, std::string_view folder,
                     char delimiter) {
  folder = canonical_inbox(folder);
  bool selected = false;
  for (const auto& pattern : patterns) {
    std::string_view body = pattern;
    bool exclude = body.starts_with('!');
    if (exclude) {
      body.remove_prefix(1);
    }
    if (pattern_matches(canonical_inbox(body), folder, delimiter)) {
      selected = !exclude;
    }
  }
  return selected;
}

}  // namespace roam::cli
