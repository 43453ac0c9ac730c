#include "import/mbsync.hpp"

#include <pwd.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <system_error>

#include "imap/utf7.hpp"
#include "util/error.hpp"

namespace roam::import {

namespace {

using util::Error;
using util::Scope;

// --- Words of the rc file, as mbsync's get_arg reads them ---

bool is_space(char c) {
  return std::isspace(static_cast<unsigned char>(c)) != 0;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

// One line of the rc file: its words (the keyword first), or none for a
// blank line, which ends a section. Lines holding only a comment are left
// out, as mbsync skips them without ending the section.
struct RcLine {
  int no = 0;
  std::vector<std::string> words;
};

std::string where(const std::string& file, int line) {
  return file + ":" + std::to_string(line);
}

[[noreturn]] void fail(const std::string& file, int line, const std::string& message) {
  throw Error(Scope::Usage, where(file, line) + ": " + message);
}

// Splits the rc text into lines of words the way mbsync 1.4.4 does: words
// are separated by blanks, a '"' toggles quoting (blanks inside are kept), a
// backslash takes the next character literally, and a word starting with
// '#' starts a comment to the end of the line. There is no line
// continuation: a backslash at the end of a line is an error in mbsync.
std::vector<RcLine> lex_rc(std::string_view text, const std::string& file) {
  std::vector<RcLine> lines;
  int no = 0;
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t end = text.find('\n', pos);
    std::string_view line = text.substr(pos, end == std::string_view::npos ? end : end - pos);
    pos = end == std::string_view::npos ? text.size() : end + 1;
    ++no;
    RcLine out;
    out.no = no;
    bool comment = false;
    std::size_t i = 0;
    while (true) {
      while (i < line.size() && is_space(line[i])) {
        ++i;
      }
      if (i == line.size()) {
        break;
      }
      if (line[i] == '#') {
        comment = true;
        break;
      }
      std::string word;
      bool escaped = false;
      bool quoted = false;
      for (; i < line.size(); ++i) {
        char c = line[i];
        if (escaped && static_cast<unsigned char>(c) >= 32) {
          escaped = false;
          word += c;
        } else if (c == '\\') {
          escaped = true;
        } else if (c == '"') {
          quoted = !quoted;
        } else if (!quoted && is_space(c)) {
          break;
        } else {
          word += c;
        }
      }
      if (escaped) {
        fail(file, no,
             "unterminated escape sequence (a '\\' at the end of the line; mbsync has no "
             "line continuation): remove it or write '\\\\'");
      }
      if (quoted) {
        fail(file, no, "missing closing quote: close the '\"'");
      }
      out.words.push_back(std::move(word));
    }
    if (out.words.empty() && comment) {
      continue;
    }
    lines.push_back(std::move(out));
  }
  return lines;
}

// --- The configuration model ---

enum : int {
  k_op_new = 1 << 0,
  k_op_renew = 1 << 1,
  k_op_delete = 1 << 2,
  k_op_flags = 1 << 3,
  k_op_mask_type = k_op_new | k_op_renew | k_op_delete | k_op_flags,
  k_op_expunge = 1 << 4,
  k_op_create = 1 << 5,
  k_op_remove = 1 << 6,
  k_xop_push = 1 << 8,
  k_xop_pull = 1 << 9,
  k_xop_mask_dir = k_xop_push | k_xop_pull,
  k_xop_have_type = 1 << 10,
  k_xop_have_expunge = 1 << 11,
  k_xop_have_create = 1 << 12,
  k_xop_have_remove = 1 << 13,
};
constexpr int k_far = 0;
constexpr int k_near = 1;

struct ImapAccount {
  std::string name;
  int line = 0;
  std::string host;
  std::optional<int> port;
  std::optional<int> timeout;
  std::string user;
  int user_cmd_line = 0;
  std::optional<std::string> pass;
  std::optional<std::string> pass_cmd;
  // "none", "starttls" or "implicit"; empty = mbsync's default.
  std::string tls;
  std::string cert_file;
  std::vector<std::string> auth_mechs;
  int tunnel_line = 0;
  int keychain_line = 0;
  std::vector<std::string> notes;
};

struct Store {
  bool imap = false;
  std::string name;
  int line = 0;
  // IMAPStore: the account named by Account, or the store's own inline one.
  std::string account_name;
  std::shared_ptr<ImapAccount> inline_account;
  bool use_namespace = true;
  int imap_path_line = 0;
  // MaildirStore.
  mbsync::MaildirPlace place;
  int path_line = 0;
  bool alt_map = false;
  // Any store.
  int flatten_line = 0;
  std::vector<std::string> notes;
};

struct ChannelSide {
  std::string store;
  std::string box;
  bool has_box = false;
  int line = 0;
};

struct Channel {
  std::string name;
  int line = 0;
  ChannelSide side[2];
  bool has_side[2] = {false, false};
  // In file order; mbsync lets the last matching one win.
  std::vector<std::string> patterns;
  int ops[2] = {0, 0};
  std::optional<std::string> sync_state;
  std::vector<std::string> notes;
};

struct Group {
  std::string name;
  int line = 0;
  std::vector<std::string> members;
};

struct Rc {
  std::string file;
  std::map<std::string, std::shared_ptr<ImapAccount>> accounts;
  std::vector<Store> stores;
  std::vector<Channel> channels;
  std::vector<Group> groups;
  int global_ops[2] = {0, 0};
  std::optional<std::string> sync_state;
  char field_delimiter = ':';
  std::vector<std::string> global_notes;

  const Store* store(std::string_view name) const {
    for (const auto& s : stores) {
      if (s.name == name) {
        return &s;
      }
    }
    return nullptr;
  }
};

std::string home_dir() {
  const char* home = std::getenv("HOME");
  if (home != nullptr && *home != '\0') {
    return home;
  }
  if (const passwd* pw = ::getpwuid(::getuid()); pw != nullptr && pw->pw_dir != nullptr) {
    return pw->pw_dir;
  }
  throw Error(Scope::Usage, "cannot expand '~': HOME is not set");
}

// mbsync's expand_strdup: "~" and "~/..." are the home directory, "~user/..."
// that user's; a relative path is relative to the working directory. The
// result is kept as text, trailing '/' included, since mbsync prepends
// paths to names as text.
std::string expand(const std::string& file, int line, const std::string& value) {
  std::string out;
  if (value.empty() || value[0] != '~') {
    out = value;
  } else {
    std::size_t slash = value.find('/');
    std::string user = value.substr(1, slash == std::string::npos ? slash : slash - 1);
    std::string rest = slash == std::string::npos ? std::string() : value.substr(slash);
    if (user.empty()) {
      out = home_dir() + rest;
    } else {
      const passwd* pw = ::getpwnam(user.c_str());
      if (pw == nullptr || pw->pw_dir == nullptr) {
        fail(file, line, "unknown user '" + user + "' in '" + value + "'");
      }
      out = std::string(pw->pw_dir) + rest;
    }
  }
  if (!out.empty() && out[0] != '/') {
    std::error_code ec;
    fs::path cwd = fs::current_path(ec);
    if (ec) {
      fail(file, line, "cannot resolve the relative path '" + value + "': " + ec.message());
    }
    bool slash = out.back() == '/';
    out = (cwd / out).lexically_normal().string();
    if (slash && out.back() != '/') {
      out += '/';
    }
  }
  return out;
}

// Reads one section's lines (up to a blank line or the end) and hands each
// keyword line to `on_line`.
class Parser {
 public:
  Parser(std::string file, std::vector<RcLine> lines)
      : m_file(std::move(file)), m_lines(std::move(lines)) {}

  Rc parse();

 private:
  // The single value of a keyword that takes one; the keyword line must have
  // exactly one.
  const std::string& value(const RcLine& l) const {
    if (l.words.size() < 2) {
      fail(m_file, l.no, "parameter missing after '" + l.words[0] + "'");
    }
    if (l.words.size() > 2) {
      // A password is never repeated, not even the part after a blank.
      if (iequals(l.words[0], "Pass")) {
        fail(m_file, l.no, "excess token after Pass (quote a password with blanks)");
      }
      fail(m_file, l.no, "excess token '" + l.words[2] + "' (quote a value with spaces)");
    }
    return l.words[1];
  }
  // All values of a keyword that takes a list.
  std::vector<std::string> values(const RcLine& l) const {
    if (l.words.size() < 2) {
      fail(m_file, l.no, "parameter missing after '" + l.words[0] + "'");
    }
    return {l.words.begin() + 1, l.words.end()};
  }
  bool boolean(const RcLine& l) const {
    const std::string& v = value(l);
    if (iequals(v, "yes") || iequals(v, "true") || iequals(v, "on") || v == "1") {
      return true;
    }
    if (iequals(v, "no") || iequals(v, "false") || iequals(v, "off") || v == "0") {
      return false;
    }
    fail(m_file, l.no, "invalid boolean value '" + v + "' (yes or no)");
  }
  int integer(const RcLine& l) const {
    const std::string& v = value(l);
    char* end = nullptr;
    long n = std::strtol(v.c_str(), &end, 10);
    if (v.empty() || *end != '\0' || n < 0 || n > 0x7fffffffL) {
      fail(m_file, l.no, "invalid integer value '" + v + "'");
    }
    return static_cast<int>(n);
  }
  std::string at(const RcLine& l) const { return where(m_file, l.no); }

  // The lines of the section starting at m_pos (its first line included).
  std::vector<const RcLine*> section() {
    std::vector<const RcLine*> out;
    out.push_back(&m_lines[m_pos++]);
    while (m_pos < m_lines.size() && !m_lines[m_pos].words.empty()) {
      out.push_back(&m_lines[m_pos++]);
    }
    return out;
  }

  bool account_keyword(ImapAccount& a, const RcLine& l);
  bool generic_store_keyword(Store& s, const RcLine& l);
  bool ops_keyword(const RcLine& l, int& cops, int ops[2], std::optional<std::string>& sync_state,
                   std::vector<std::string>& notes);
  void merge_ops(const RcLine& l, int cops, int ops[2]) const;
  void imap_section(Rc& rc, bool is_store);
  void maildir_section(Rc& rc);
  void channel_section(Rc& rc);
  void group_section(Rc& rc);

  std::string m_file;
  std::vector<RcLine> m_lines;
  std::size_t m_pos = 0;
};

bool Parser::account_keyword(ImapAccount& a, const RcLine& l) {
  const std::string& k = l.words[0];
  if (iequals(k, "Host")) {
    std::string host = value(l);
    // mbsync still accepts the old URL notation.
    if (host.starts_with("imaps:")) {
      host = host.substr(6);
      if (a.tls.empty()) {
        a.tls = "implicit";
      }
    } else if (host.starts_with("imap:")) {
      host = host.substr(5);
    }
    if (host.starts_with("//")) {
      host = host.substr(2);
    }
    a.host = host;
  } else if (iequals(k, "User")) {
    a.user = value(l);
  } else if (iequals(k, "UserCmd")) {
    value(l);
    a.user_cmd_line = l.no;
  } else if (iequals(k, "Pass")) {
    a.pass = value(l);
  } else if (iequals(k, "PassCmd")) {
    a.pass_cmd = value(l);
  } else if (iequals(k, "UseKeychain")) {
    if (boolean(l)) {
      a.keychain_line = l.no;
    }
  } else if (iequals(k, "Port")) {
    int port = integer(l);
    if (port < 1 || port > 0xffff) {
      fail(m_file, l.no, "invalid port number");
    }
    a.port = port;
  } else if (iequals(k, "Timeout")) {
    a.timeout = integer(l);
  } else if (iequals(k, "SSLType") || iequals(k, "TLSType")) {
    const std::string& v = value(l);
    if (iequals(v, "None")) {
      a.tls = "none";
    } else if (iequals(v, "STARTTLS")) {
      a.tls = "starttls";
    } else if (iequals(v, "IMAPS")) {
      a.tls = "implicit";
    } else {
      fail(m_file, l.no, "invalid " + k + " '" + v + "' (None, STARTTLS or IMAPS)");
    }
  } else if (iequals(k, "RequireSSL") || iequals(k, "UseIMAPS")) {
    // The pre-1.2 spellings; mbsync 1.4 still reads them.
    bool on = boolean(l);
    if (iequals(k, "UseIMAPS") && on) {
      a.tls = "implicit";
    } else if (iequals(k, "RequireSSL") && a.tls != "implicit") {
      a.tls = on ? "starttls" : "none";
    }
  } else if (iequals(k, "CertificateFile")) {
    a.cert_file = expand(m_file, l.no, value(l));
  } else if (iequals(k, "AuthMech") || iequals(k, "AuthMechs")) {
    for (auto& m : values(l)) {
      a.auth_mechs.push_back(m);
    }
  } else if (iequals(k, "RequireCRAM")) {
    if (boolean(l)) {
      a.auth_mechs.push_back("CRAM-MD5");
    }
  } else if (iequals(k, "Tunnel")) {
    value(l);
    a.tunnel_line = l.no;
  } else if (iequals(k, "SystemCertificates")) {
    if (!boolean(l)) {
      a.notes.push_back(at(l) +
                        ": SystemCertificates no is not carried over: roam trusts the "
                        "system CAs and ca_file; pin the server with cert_fingerprint "
                        "to trust it alone");
    }
  } else if (iequals(k, "ClientCertificate") || iequals(k, "ClientKey")) {
    value(l);
    a.notes.push_back(at(l) + ": " + k +
                      " is not carried over: roam has no TLS client certificates; the server "
                      "must accept a password or token login");
  } else if (iequals(k, "CipherString") || iequals(k, "SSLVersion") || iequals(k, "SSLVersions") ||
             iequals(k, "TLSVersions") || iequals(k, "UseTLSv1") || iequals(k, "UseTLSv1.1") ||
             iequals(k, "UseTLSv1.2") || iequals(k, "UseTLSv1.3") || iequals(k, "UseSSLv2") ||
             iequals(k, "UseSSLv3")) {
    values(l);
    a.notes.push_back(at(l) + ": " + k +
                      " is not carried over: roam uses OpenSSL's defaults (TLS 1.2 or later)");
  } else if (iequals(k, "PipelineDepth") || iequals(k, "DisableExtension") ||
             iequals(k, "DisableExtensions")) {
    values(l);
    a.notes.push_back(at(l) + ": " + k +
                      " is not carried over: roam pipelines by itself and uses the extensions "
                      "the server announces");
  } else {
    return false;
  }
  return true;
}

bool Parser::generic_store_keyword(Store& s, const RcLine& l) {
  const std::string& k = l.words[0];
  if (iequals(k, "Trash")) {
    s.notes.push_back(at(l) + ": Trash '" + value(l) +
                      "' is not carried over: roam deletes without keeping a copy; a mail reader "
                      "that moves deleted mail to a Trash folder still works");
  } else if (iequals(k, "TrashNewOnly") || iequals(k, "TrashRemoteNew")) {
    boolean(l);
    s.notes.push_back(at(l) + ": " + k + " is not carried over (roam has no Trash setting)");
  } else if (iequals(k, "MaxSize")) {
    s.notes.push_back(at(l) + ": MaxSize " + value(l) +
                      " is not carried over: roam copies whole messages (up to "
                      "max_message_size, 1G by default)");
  } else if (iequals(k, "MapInbox")) {
    s.notes.push_back(at(l) + ": MapInbox '" + value(l) +
                      "' is not carried over: roam keeps INBOX under its own name");
  } else if (iequals(k, "Flatten")) {
    const std::string& v = value(l);
    if (v.find('/') != std::string::npos) {
      fail(m_file, l.no,
           "flattened hierarchy delimiter cannot contain the canonical delimiter '/'");
    }
    s.place.flatten = v;
    s.flatten_line = l.no;
  } else {
    return false;
  }
  return true;
}

// Sync, SyncState, Create, Expunge, Remove and the other keywords a Channel
// and the global section share (mbsync's getopt_helper).
bool Parser::ops_keyword(const RcLine& l, int& cops, int ops[2],
                         std::optional<std::string>& sync_state, std::vector<std::string>& notes) {
  const std::string& k = l.words[0];
  if (iequals(k, "Sync")) {
    for (const auto& arg : values(l)) {
      struct Word {
        std::string_view name;
        int side;  // -1: cops; else ops[side]
        int bits;
      };
      // mbsync 1.4 words, and the 1.5 ones (Gone, Upgrade, Old, Full).
      static const Word words[] = {
          {"Push", -1, k_xop_push},
          {"Pull", -1, k_xop_pull},
          {"ReNew", -1, k_op_renew},
          {"Upgrade", -1, k_op_renew},
          {"New", -1, k_op_new},
          {"Old", -1, 0},
          {"Delete", -1, k_op_delete},
          {"Gone", -1, k_op_delete},
          {"Flags", -1, k_op_flags},
          {"PullReNew", k_near, k_op_renew},
          {"PullUpgrade", k_near, k_op_renew},
          {"PullNew", k_near, k_op_new},
          {"PullOld", k_near, 0},
          {"PullDelete", k_near, k_op_delete},
          {"PullGone", k_near, k_op_delete},
          {"PullFlags", k_near, k_op_flags},
          {"PushReNew", k_far, k_op_renew},
          {"PushUpgrade", k_far, k_op_renew},
          {"PushNew", k_far, k_op_new},
          {"PushOld", k_far, 0},
          {"PushDelete", k_far, k_op_delete},
          {"PushGone", k_far, k_op_delete},
          {"PushFlags", k_far, k_op_flags},
          {"All", -1, k_xop_pull | k_xop_push},
          {"Full", -1, k_xop_pull | k_xop_push},
          {"None", -1, 0},
          {"Noop", -1, 0},
      };
      const Word* found = nullptr;
      for (const auto& w : words) {
        if (iequals(arg, w.name)) {
          found = &w;
        }
      }
      if (found == nullptr) {
        fail(m_file, l.no,
             "invalid Sync arg '" + arg +
                 "' (Pull, Push, New, ReNew, Delete, Flags, PullNew, ..., All, None)");
      }
      if (found->side < 0) {
        cops |= found->bits;
      } else {
        ops[found->side] |= found->bits;
      }
    }
    ops[k_far] |= k_xop_have_type;
  } else if (iequals(k, "SyncState")) {
    sync_state = value(l) == "*" ? std::string("*") : expand(m_file, l.no, value(l));
  } else if (iequals(k, "CopyArrivalDate")) {
    if (!boolean(l)) {
      notes.push_back(at(l) +
                      ": CopyArrivalDate no is not carried over: roam always keeps a "
                      "message's arrival date (as CopyArrivalDate yes)");
    }
  } else if (iequals(k, "MaxMessages")) {
    if (integer(l) > 0) {
      notes.push_back(at(l) + ": MaxMessages " + value(l) +
                      " is not carried over: roam keeps every message of a folder locally, so "
                      "its first sync downloads the messages mbsync expired");
    }
  } else if (iequals(k, "ExpireUnread") || iequals(k, "ExpireSide") || iequals(k, "ExpungeSolo")) {
    value(l);
    notes.push_back(at(l) + ": " + k + " is not carried over (roam has no MaxMessages)");
  } else {
    int op = 0;
    if (iequals(k, "Expunge")) {
      op = k_op_expunge;
    } else if (iequals(k, "Create")) {
      op = k_op_create;
    } else if (iequals(k, "Remove")) {
      op = k_op_remove;
    } else {
      return false;
    }
    for (const auto& arg : values(l)) {
      if (iequals(arg, "Both")) {
        cops |= op;
      } else if (iequals(arg, "Far") || iequals(arg, "Master")) {
        ops[k_far] |= op;
      } else if (iequals(arg, "Near") || iequals(arg, "Slave")) {
        ops[k_near] |= op;
      } else if (!iequals(arg, "None")) {
        fail(m_file, l.no, "invalid " + k + " arg '" + arg + "' (Both, Far, Near or None)");
      }
    }
    ops[k_far] |= op * (k_xop_have_expunge / k_op_expunge);
  }
  return true;
}

// mbsync's merge_ops: folds the direction-less words of a Sync line into
// the two directions.
void Parser::merge_ops(const RcLine& l, int cops, int ops[2]) const {
  int aops = ops[k_far] | ops[k_near];
  auto conflict = [&](std::string_view what) {
    fail(m_file, l.no, "conflicting " + std::string(what) + " args in the section starting here");
  };
  if ((ops[k_far] & k_xop_have_type) != 0) {
    if ((aops & k_op_mask_type) != 0) {
      if ((aops & cops & k_op_mask_type) != 0) {
        conflict("Sync");
      }
      ops[k_far] |= cops & k_op_mask_type;
      ops[k_near] |= cops & k_op_mask_type;
      if ((cops & k_xop_pull) != 0) {
        if ((ops[k_near] & k_op_mask_type) != 0) {
          conflict("Sync");
        }
        ops[k_near] |= k_op_mask_type;
      }
      if ((cops & k_xop_push) != 0) {
        if ((ops[k_far] & k_op_mask_type) != 0) {
          conflict("Sync");
        }
        ops[k_far] |= k_op_mask_type;
      }
    } else if ((cops & (k_op_mask_type | k_xop_mask_dir)) != 0) {
      if ((cops & k_op_mask_type) == 0) {
        cops |= k_op_mask_type;
      } else if ((cops & k_xop_mask_dir) == 0) {
        cops |= k_xop_pull | k_xop_push;
      }
      if ((cops & k_xop_pull) != 0) {
        ops[k_near] |= cops & k_op_mask_type;
      }
      if ((cops & k_xop_push) != 0) {
        ops[k_far] |= cops & k_op_mask_type;
      }
    }
  }
  for (int op : {k_op_expunge, k_op_create, k_op_remove}) {
    if ((ops[k_far] & (op * (k_xop_have_expunge / k_op_expunge))) != 0) {
      if ((aops & cops & op) != 0) {
        conflict(op == k_op_expunge ? "Expunge" : op == k_op_create ? "Create" : "Remove");
      }
      ops[k_far] |= cops & op;
      ops[k_near] |= cops & op;
    }
  }
}

void Parser::imap_section(Rc& rc, bool is_store) {
  auto lines = section();
  const RcLine& head = *lines[0];
  const std::string& name = value(head);
  auto account = std::make_shared<ImapAccount>();
  account->name = name;
  account->line = head.no;
  Store store;
  store.imap = true;
  store.name = name;
  store.line = head.no;
  bool account_options = false;
  int account_line = 0;
  for (std::size_t i = 1; i < lines.size(); ++i) {
    const RcLine& l = *lines[i];
    if (account_keyword(*account, l)) {
      account_options = true;
      continue;
    }
    if (!is_store) {
      fail(m_file, l.no, "keyword '" + l.words[0] + "' is not recognized in IMAPAccount sections");
    }
    const std::string& k = l.words[0];
    if (iequals(k, "Account")) {
      const std::string& v = value(l);
      if (rc.accounts.count(v) == 0) {
        fail(m_file, l.no,
             "unknown IMAP account '" + v + "' (an IMAPAccount must come before its IMAPStore)");
      }
      store.account_name = v;
      account_line = l.no;
    } else if (iequals(k, "UseNamespace")) {
      store.use_namespace = boolean(l);
    } else if (iequals(k, "SubscribedOnly")) {
      if (boolean(l)) {
        store.notes.push_back(at(l) +
                              ": SubscribedOnly is not carried over: roam syncs every folder "
                              "that `folders` selects, subscribed or not; list the folders you "
                              "want in `folders`");
      }
    } else if (iequals(k, "Path")) {
      value(l);
      store.imap_path_line = l.no;
    } else if (iequals(k, "PathDelimiter")) {
      if (value(l).size() != 1) {
        fail(m_file, l.no, "Path delimiter must be exactly one character long");
      }
      store.notes.push_back(at(l) +
                            ": PathDelimiter is not carried over: roam uses the "
                            "server's hierarchy delimiter and '/' locally");
    } else if (!generic_store_keyword(store, l)) {
      fail(m_file, l.no, "keyword '" + k + "' is not recognized in IMAPStore sections");
    }
  }
  if (is_store && !store.account_name.empty() && account_options) {
    fail(m_file, head.no,
         "IMAP store '" + name + "' has both Account (line " + std::to_string(account_line) +
             ") and account-specific options");
  }
  bool own_account = !is_store || store.account_name.empty();
  if (own_account) {
    if (account->host.empty() && account->tunnel_line == 0) {
      fail(m_file, head.no,
           std::string(is_store ? "IMAP store '" : "IMAP account '") + name +
               "' has neither Tunnel nor Host");
    }
    if (account->pass && account->pass_cmd) {
      fail(m_file, head.no, "'" + name + "' has both Pass and PassCmd: keep one");
    }
    if (!account->user.empty() && account->user_cmd_line != 0) {
      fail(m_file, head.no, "'" + name + "' has both User and UserCmd: keep one");
    }
  }
  if (!is_store) {
    rc.accounts[name] = account;
    return;
  }
  if (own_account) {
    store.inline_account = account;
  }
  rc.stores.push_back(std::move(store));
}

void Parser::maildir_section(Rc& rc) {
  auto lines = section();
  const RcLine& head = *lines[0];
  Store store;
  store.name = value(head);
  store.line = head.no;
  for (std::size_t i = 1; i < lines.size(); ++i) {
    const RcLine& l = *lines[i];
    const std::string& k = l.words[0];
    if (iequals(k, "Inbox")) {
      store.place.inbox = expand(m_file, l.no, value(l));
    } else if (iequals(k, "Path")) {
      store.place.path = expand(m_file, l.no, value(l));
      store.path_line = l.no;
    } else if (iequals(k, "AltMap")) {
      store.alt_map = boolean(l);
    } else if (iequals(k, "InfoDelimiter")) {
      const std::string& v = value(l);
      if (v.size() != 1 || std::ispunct(static_cast<unsigned char>(v[0])) == 0) {
        fail(m_file, l.no, "Info delimiter must be exactly one punctuation character");
      }
      if (v != ":") {
        store.notes.push_back(at(l) + ": InfoDelimiter '" + v +
                              "' is not carried over: roam writes ':2,' flags, and reads files "
                              "with '" +
                              v + "2,' as messages without flags");
      }
    } else if (iequals(k, "SubFolders")) {
      const std::string& v = value(l);
      if (iequals(v, "Verbatim")) {
        store.place.style = mbsync::SubFolders::Verbatim;
      } else if (iequals(v, "Maildir++")) {
        store.place.style = mbsync::SubFolders::MaildirPlusPlus;
      } else if (iequals(v, "Legacy")) {
        store.place.style = mbsync::SubFolders::Legacy;
      } else {
        fail(m_file, l.no,
             "unrecognized SubFolders style '" + v + "' (Verbatim, Maildir++ or Legacy)");
      }
    } else if (!generic_store_keyword(store, l)) {
      fail(m_file, l.no, "keyword '" + k + "' is not recognized in MaildirStore sections");
    }
  }
  if (store.place.inbox.empty()) {
    store.place.inbox = home_dir() + "/Maildir";
  }
  if (store.place.style == mbsync::SubFolders::MaildirPlusPlus && store.path_line != 0) {
    fail(m_file, store.path_line,
         "Maildir store '" + store.name +
             "': Path is incompatible with 'SubFolders Maildir++' "
             "(remove Path; the tree is below Inbox)");
  }
  rc.stores.push_back(std::move(store));
}

void Parser::channel_section(Rc& rc) {
  auto lines = section();
  const RcLine& head = *lines[0];
  Channel ch;
  ch.name = value(head);
  ch.line = head.no;
  int cops = 0;
  for (std::size_t i = 1; i < lines.size(); ++i) {
    const RcLine& l = *lines[i];
    const std::string& k = l.words[0];
    int side = -1;
    if (iequals(k, "Far") || iequals(k, "Master")) {
      side = k_far;
    } else if (iequals(k, "Near") || iequals(k, "Slave")) {
      side = k_near;
    }
    if (side >= 0) {
      const std::string& spec = value(l);
      std::size_t colon = spec.size() > 1 && spec[0] == ':' ? spec.find(':', 1) : std::string::npos;
      if (colon == std::string::npos) {
        fail(m_file, l.no, "malformed mailbox spec '" + spec + "' (write :STORE: or :STORE:BOX)");
      }
      ChannelSide s;
      s.store = spec.substr(1, colon - 1);
      s.box = spec.substr(colon + 1);
      s.has_box = !s.box.empty();
      s.line = l.no;
      if (rc.store(s.store) == nullptr) {
        fail(m_file, l.no, "unknown store '" + s.store + "' (define it before the Channel)");
      }
      ch.side[side] = s;
      ch.has_side[side] = true;
    } else if (iequals(k, "Pattern") || iequals(k, "Patterns")) {
      for (auto& p : values(l)) {
        ch.patterns.push_back(p);
      }
    } else if (iequals(k, "MaxSize")) {
      ch.notes.push_back(at(l) + ": MaxSize " + value(l) +
                         " is not carried over: roam copies whole messages (up to "
                         "max_message_size, 1G by default)");
    } else if (iequals(k, "Remove")) {
      // Remove deletes empty folders; roam never deletes a folder.
      int dummy[2] = {0, 0};
      int dummy_cops = 0;
      std::optional<std::string> unused;
      ops_keyword(l, dummy_cops, dummy, unused, ch.notes);
      if (((dummy[0] | dummy[1] | dummy_cops) & k_op_remove) != 0) {
        ch.notes.push_back(at(l) +
                           ": Remove is not carried over: roam never deletes a folder; "
                           "delete it on both sides yourself");
      }
    } else if (!ops_keyword(l, cops, ch.ops, ch.sync_state, ch.notes)) {
      fail(m_file, l.no, "keyword '" + k + "' is not recognized in Channel sections");
    }
  }
  if (!ch.has_side[k_far]) {
    fail(m_file, head.no,
         "channel '" + ch.name + "' refers to no far side store (add Far :STORE:)");
  }
  if (!ch.has_side[k_near]) {
    fail(m_file, head.no,
         "channel '" + ch.name + "' refers to no near side store (add Near :STORE:)");
  }
  merge_ops(head, cops, ch.ops);
  rc.channels.push_back(std::move(ch));
}

void Parser::group_section(Rc& rc) {
  auto lines = section();
  const RcLine& head = *lines[0];
  Group g;
  g.name = values(head)[0];
  g.line = head.no;
  g.members.assign(head.words.begin() + 2, head.words.end());
  for (std::size_t i = 1; i < lines.size(); ++i) {
    const RcLine& l = *lines[i];
    if (!iequals(l.words[0], "Channel") && !iequals(l.words[0], "Channels")) {
      fail(m_file, l.no, "keyword '" + l.words[0] + "' is not recognized in Group sections");
    }
    for (auto& c : values(l)) {
      g.members.push_back(c);
    }
  }
  rc.groups.push_back(std::move(g));
}

Rc Parser::parse() {
  Rc rc;
  rc.file = m_file;
  int gcops = 0;
  bool global_ok = true;
  const RcLine* last_global = nullptr;
  while (m_pos < m_lines.size()) {
    const RcLine& l = m_lines[m_pos];
    if (l.words.empty()) {
      ++m_pos;
      continue;
    }
    const std::string& k = l.words[0];
    if (iequals(k, "IMAPAccount")) {
      imap_section(rc, false);
    } else if (iequals(k, "IMAPStore")) {
      imap_section(rc, true);
    } else if (iequals(k, "MaildirStore")) {
      maildir_section(rc);
    } else if (iequals(k, "Channel")) {
      channel_section(rc);
    } else if (iequals(k, "Group")) {
      group_section(rc);
    } else {
      if (!global_ok) {
        fail(m_file, l.no,
             "global options may not follow sections (move '" + k +
                 "' to the top, or start a section with a keyword)");
      }
      ++m_pos;
      if (iequals(k, "FSync") || iequals(k, "BufferLimit")) {
        value(l);
      } else if (iequals(k, "FieldDelimiter")) {
        const std::string& v = value(l);
        if (v.size() != 1 || std::ispunct(static_cast<unsigned char>(v[0])) == 0) {
          fail(m_file, l.no, "Field delimiter must be exactly one punctuation character");
        }
        rc.field_delimiter = v[0];
      } else if (!ops_keyword(l, gcops, rc.global_ops, rc.sync_state, rc.global_notes)) {
        fail(m_file, l.no, "'" + k + "' is not a recognized section-starting or global keyword");
      }
      last_global = &l;
      continue;
    }
    global_ok = false;
  }
  if (last_global != nullptr) {
    merge_ops(*last_global, gcops, rc.global_ops);
  }
  return rc;
}

// --- Names and places ---

// mbsync's matches(): '*' matches anything, '%' anything but '/'.
bool pattern_matches(std::string_view t, std::string_view p) {
  while (true) {
    if (p.empty()) {
      return t.empty();
    }
    if (p[0] == '*' || p[0] == '%') {
      bool any = p[0] == '*';
      p.remove_prefix(1);
      for (std::size_t i = 0;; ++i) {
        if (pattern_matches(t.substr(i), p)) {
          return true;
        }
        if (i == t.size() || (!any && t[i] == '/')) {
          return false;
        }
      }
    }
    if (t.empty() || p[0] != t[0]) {
      return false;
    }
    p.remove_prefix(1);
    t.remove_prefix(1);
  }
}

// mbsync's filter_boxes for one name: the last pattern that matches decides.
bool selected(const std::vector<std::string>& patterns, std::string_view name) {
  for (auto it = patterns.rbegin(); it != patterns.rend(); ++it) {
    std::string_view p = *it;
    bool negated = !p.empty() && p[0] == '!';
    if (negated) {
      p.remove_prefix(1);
    }
    if (pattern_matches(name, p)) {
      return !negated;
    }
  }
  return false;
}

bool is_inbox_name(std::string_view name) {
  return name.starts_with("INBOX") && (name.size() == 5 || name[5] == '/');
}

std::string strip_slashes(std::string s) {
  while (s.size() > 1 && s.back() == '/') {
    s.pop_back();
  }
  return s;
}

std::optional<std::string> read_first_line(const fs::path& path) {
  std::ifstream in(path);
  if (!in) {
    return std::nullopt;
  }
  std::string line;
  std::getline(in, line);
  return line;
}

std::optional<std::uint32_t> parse_u32(std::string_view s) {
  if (s.empty() || s.size() > 10) {
    return std::nullopt;
  }
  std::uint64_t n = 0;
  for (char c : s) {
    if (c < '0' || c > '9') {
      return std::nullopt;
    }
    n = n * 10 + static_cast<std::uint64_t>(c - '0');
  }
  if (n > 0xffffffffull) {
    return std::nullopt;
  }
  return static_cast<std::uint32_t>(n);
}

std::string join_uids(const std::vector<std::uint32_t>& uids) {
  std::string out;
  std::size_t shown = std::min<std::size_t>(uids.size(), 10);
  for (std::size_t i = 0; i < shown; ++i) {
    out += (i == 0 ? "" : ", ") + std::to_string(uids[i]);
  }
  if (uids.size() > shown) {
    out += ", ...";
  }
  return out;
}

// mbsync 1.4 uses the server's folder names as they are on the wire, in
// IMAP's modified UTF-7 ("Entw&APw-rfe"), for local directories and in
// Patterns too; roam decodes them ("Entwürfe"). The decoded name, or the
// name itself when it is not valid modified UTF-7.
std::string decoded_name(const std::string& name) {
  if (name.find('&') == std::string::npos) {
    return name;
  }
  try {
    return imap::utf7_decode(name);
  } catch (const std::exception&) {
    return name;
  }
}

// --- One channel ---

class ChannelPlanner {
 public:
  ChannelPlanner(const Rc& rc, const Channel& ch, int imap_side)
      : m_rc(rc), m_ch(ch), m_ti(imap_side), m_tm(1 - imap_side) {}

  PlannedAccount plan();

 private:
  const Store& store(int t) const { return *m_rc.store(m_ch.side[t].store); }
  const ImapAccount& account() const;
  void account_keys(PlannedAccount& out);
  void maildir_keys(PlannedAccount& out);
  void sync_keys(PlannedAccount& out);
  // The channel's folders as mbsync names them (prefix included) that have
  // a state file, each with the file.
  std::map<std::string, std::string> folders_with_state();
  std::string state_path(const std::string& box) const;
  // The box name as the side's store spells it (Flatten applied).
  std::string store_box_name(int t, const std::string& box) const;
  std::optional<std::string> box_of_dir(const std::string& dir) const;
  void plan_folder(PlannedAccount& out, const std::string& box, const std::string& state_file);

  const Rc& m_rc;
  const Channel& m_ch;
  int m_ti;
  int m_tm;
  // The box prefix both sides share.
  std::string m_prefix;
  std::string m_sync_state;
  bool m_channel_state = false;
  // Folders mbsync keeps under their encoded IMAP names (decoded_name).
  std::vector<std::string> m_encoded_dirs;
};

const ImapAccount& ChannelPlanner::account() const {
  const Store& s = store(m_ti);
  if (s.inline_account) {
    return *s.inline_account;
  }
  return *m_rc.accounts.at(s.account_name);
}

void ChannelPlanner::account_keys(PlannedAccount& out) {
  const ImapAccount& a = account();
  const std::string& file = m_rc.file;
  if (a.host.empty()) {
    fail(file, a.tunnel_line,
         "channel '" + m_ch.name + "': account '" + a.name +
             "' connects through a Tunnel command; roam connects over TCP only: add Host (and "
             "Port) for the server and import again");
  }
  if (a.tunnel_line != 0) {
    out.notes.push_back(where(file, a.tunnel_line) +
                        ": Tunnel is not carried over: roam connects to host " + a.host +
                        " directly");
  }
  out.keys.emplace_back("host", config_value(a.host));
  std::string tls = a.tls.empty() ? (a.tunnel_line != 0 ? "none" : "starttls") : a.tls;
  out.keys.emplace_back("tls", tls);
  if (a.port) {
    out.keys.emplace_back("port", std::to_string(*a.port));
  }
  if (tls == "none") {
    out.keys.emplace_back("allow_plaintext", "yes");
    out.notes.push_back(
        "SSLType None: the password travels unencrypted, as it did with mbsync, "
        "so the account has allow_plaintext = yes; use tls = starttls or "
        "implicit if the server offers it");
  }
  if (a.user_cmd_line != 0) {
    fail(file, a.user_cmd_line,
         "account '" + a.name +
             "' gets its login name from UserCmd; roam needs it written out: replace UserCmd "
             "by User NAME in a copy of this file and import from that (--from)");
  }
  if (a.user.empty()) {
    fail(file, a.line, "account '" + a.name + "' has no User: add one and import again");
  }
  out.keys.emplace_back("user", config_value(a.user));
  if (a.pass) {
    out.keys.emplace_back("password", config_value(*a.pass));
  } else if (a.pass_cmd) {
    std::string cmd = *a.pass_cmd;
    if (cmd.starts_with("+")) {
      cmd.erase(0, 1);
      out.notes.push_back(
          "PassCmd starts with '+' (run it on the terminal): roam's pass_cmd "
          "always gets the terminal, so the '+' was dropped");
    }
    out.keys.emplace_back("pass_cmd", config_value(cmd));
  } else {
    fail(file, a.keychain_line != 0 ? a.keychain_line : a.line,
         "account '" + a.name +
             "' has neither Pass nor PassCmd (mbsync asks, or uses the macOS keychain); roam "
             "needs one: add PassCmd with a command that prints the password and import again");
  }
  // AuthMechs: roam logs in with one mechanism, or picks PLAIN/LOGIN itself.
  std::set<std::string> mechs;
  for (const auto& m : a.auth_mechs) {
    std::string upper;
    for (char c : m) {
      upper += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    }
    mechs.insert(upper);
  }
  std::string auth;
  if (mechs.empty() || mechs.count("*") != 0) {
    auth = "auto";
  } else if (mechs.count("XOAUTH2") != 0) {
    auth = "xoauth2";
    out.notes.push_back(
        "AuthMechs XOAUTH2: roam's pass_cmd must print a fresh access token; "
        "contrib/roam-oauth2 fetches and refreshes one (docs/oauth.md)");
  } else if (mechs.count("OAUTHBEARER") != 0) {
    auth = "oauthbearer";
    out.notes.push_back(
        "AuthMechs OAUTHBEARER: roam's pass_cmd must print a fresh access "
        "token; contrib/roam-oauth2 fetches and refreshes one (docs/oauth.md)");
  } else if (mechs.count("PLAIN") != 0 && mechs.count("LOGIN") != 0) {
    auth = "auto";
  } else if (mechs.count("PLAIN") != 0) {
    auth = "plain";
  } else if (mechs.count("LOGIN") != 0) {
    auth = "login";
  } else {
    auth = "auto";
  }
  for (const auto& m : mechs) {
    if (m != "*" && m != "PLAIN" && m != "LOGIN" && m != "XOAUTH2" && m != "OAUTHBEARER") {
      out.notes.push_back("AuthMechs " + m +
                          " is not carried over: roam logs in with PLAIN, LOGIN, XOAUTH2 or "
                          "OAUTHBEARER (auth = " +
                          auth + ")");
    }
  }
  out.keys.emplace_back("auth", auth);
  if (!a.cert_file.empty()) {
    out.keys.emplace_back("ca_file", config_value(a.cert_file));
  }
  if (a.timeout) {
    if (*a.timeout == 0) {
      out.notes.push_back(
          "Timeout 0 (none) is not carried over: roam always gives up on a "
          "silent server, after timeout = 60 seconds by default");
    } else {
      out.keys.emplace_back("timeout", std::to_string(*a.timeout));
    }
  }
  out.notes.insert(out.notes.end(), a.notes.begin(), a.notes.end());
  out.notes.insert(out.notes.end(), store(m_ti).notes.begin(), store(m_ti).notes.end());
}

std::string ChannelPlanner::store_box_name(int t, const std::string& box) const {
  const std::string& flat = store(t).place.flatten;
  if (flat.empty()) {
    return box;
  }
  std::string out;
  for (char c : box) {
    if (c == '/') {
      out += flat;
    } else {
      out += c;
    }
  }
  return out;
}

void ChannelPlanner::maildir_keys(PlannedAccount& out) {
  const Store& m = store(m_tm);
  const mbsync::MaildirPlace& p = m.place;
  const std::string& file = m_rc.file;
  bool only_inbox = m_ch.patterns.empty() && m_prefix == "INBOX";
  std::string root;
  if (p.style == mbsync::SubFolders::MaildirPlusPlus) {
    root = strip_slashes(p.inbox);
  } else if (!p.path.empty()) {
    if (!only_inbox && p.path.back() != '/') {
      fail(file, m.path_line,
           "MaildirStore '" + m.name + "' has Path " + p.path +
               " without a trailing '/': mbsync then names folder X " + p.path +
               "X, which roam cannot express (its folders live inside one directory)");
    }
    root = strip_slashes(p.path);
  } else if (only_inbox) {
    root = fs::path(strip_slashes(p.inbox)).parent_path().string();
  } else {
    fail(file, m.line,
         "MaildirStore '" + m.name +
             "' has no Path, so mbsync can sync only its "
             "INBOX; channel '" +
             m_ch.name + "' asks for more");
  }
  out.keys.emplace_back("maildir", config_value(root));
  if (!p.flatten.empty()) {
    if (p.flatten.size() != 1) {
      fail(file, m.flatten_line,
           "Flatten '" + p.flatten +
               "' is longer than one character; roam's flat_separator is "
               "one character");
    }
    out.keys.emplace_back("layout", "flat");
    out.keys.emplace_back("flat_separator", config_value(p.flatten));
  } else if (p.style == mbsync::SubFolders::MaildirPlusPlus) {
    out.keys.emplace_back("layout", "maildir++");
  } else if (p.style == mbsync::SubFolders::Legacy) {
    out.keys.emplace_back("layout", "legacy");
  } else {
    out.keys.emplace_back("layout", "verbatim");
  }
  if (p.style != mbsync::SubFolders::MaildirPlusPlus &&
      strip_slashes(p.inbox) != (fs::path(root) / "INBOX").string()) {
    out.keys.emplace_back("inbox", config_value(strip_slashes(p.inbox)));
  }
  if (m.alt_map) {
    out.notes.push_back(
        "AltMap yes: mbsync kept its UIDs in a database, not in the file names, "
        "so no pairs are imported; roam's first sync pairs the messages by "
        "content (a header fetch), and copies none");
  }
  out.notes.insert(out.notes.end(), m.notes.begin(), m.notes.end());
}

void ChannelPlanner::sync_keys(PlannedAccount& out) {
  // The channel's own settings win; then the global ones; then mbsync's
  // defaults (Sync All; Create, Expunge and Remove None).
  int ops[2] = {m_ch.ops[0], m_ch.ops[1]};
  auto merge = [&](int have, int mask, int def) {
    if ((ops[k_far] & have) != 0) {
      return;
    }
    if ((m_rc.global_ops[k_far] & have) != 0) {
      ops[k_far] |= m_rc.global_ops[k_far] & mask;
      ops[k_near] |= m_rc.global_ops[k_near] & mask;
    } else {
      ops[k_far] |= def;
      ops[k_near] |= def;
    }
  };
  merge(k_xop_have_type, k_op_mask_type, k_op_mask_type);
  merge(k_xop_have_create, k_op_create, 0);
  merge(k_xop_have_expunge, k_op_expunge, 0);
  int to_local = ops[m_tm] & k_op_mask_type;
  int to_server = ops[m_ti] & k_op_mask_type;
  if (to_local == 0 && to_server == 0) {
    fail(m_rc.file, m_ch.line,
         "channel '" + m_ch.name + "' syncs nothing (Sync None); leave it out of the import");
  }
  std::string direction = to_local != 0 && to_server != 0 ? "both"
                          : to_local != 0                 ? "pull"
                                                          : "push";
  out.keys.emplace_back("folders", "");  // filled in by plan()
  out.keys.emplace_back("sync", direction);
  auto missing = [&](int ops_dir, const std::string& dir) {
    std::vector<std::string> words;
    if ((ops_dir & k_op_new) == 0) {
      words.push_back("new messages");
    }
    if ((ops_dir & k_op_delete) == 0) {
      words.push_back("deletions");
    }
    if ((ops_dir & k_op_flags) == 0) {
      words.push_back("flag changes");
    }
    if (words.empty()) {
      return;
    }
    std::string list;
    for (std::size_t i = 0; i < words.size(); ++i) {
      list += (i == 0 ? "" : i + 1 == words.size() ? " and " : ", ") + words[i];
    }
    out.notes.push_back("Sync: mbsync did not copy " + list + " " + dir + "; roam (sync = " +
                        direction + ") does, since it cannot leave out a part of a direction");
  };
  if (to_local != 0) {
    missing(to_local, "from the server to the Maildir");
  }
  if (to_server != 0) {
    missing(to_server, "from the Maildir to the server");
  }
  bool expunge_server = (ops[m_ti] & k_op_expunge) != 0;
  bool expunge_local = (ops[m_tm] & k_op_expunge) != 0;
  out.keys.emplace_back("expunge", expunge_server && expunge_local ? "yes" : "no");
  if (expunge_server != expunge_local) {
    out.notes.push_back(std::string("Expunge: mbsync expunged deleted messages only ") +
                        (expunge_server ? "on the server" : "in the Maildir") +
                        "; roam's expunge applies to both sides, so it is no: deleted messages "
                        "are marked deleted (T) on both sides and stay until you expunge them");
  }
  bool create_server = (ops[m_ti] & k_op_create) != 0;
  bool create_local = (ops[m_tm] & k_op_create) != 0;
  out.keys.emplace_back("create", create_server || create_local ? "yes" : "no");
  if (create_server != create_local) {
    out.notes.push_back(std::string("Create: mbsync created missing folders only ") +
                        (create_server ? "on the server" : "in the Maildir") +
                        "; roam's create applies to both sides, so it is yes: a folder that "
                        "exists on one side only is created on the other");
  }
  if (!store(m_ti).use_namespace) {
    out.keys.emplace_back("use_namespace", "no");
  }
}

std::string ChannelPlanner::state_path(const std::string& box) const {
  std::string near_dir;
  if (m_sync_state == "*") {
    near_dir = mbsync::box_dir(store(k_near).place, box);
  }
  return mbsync::state_file(m_sync_state, m_channel_state, m_rc.field_delimiter,
                            m_ch.side[k_far].store, store_box_name(k_far, box),
                            m_ch.side[k_near].store, store_box_name(k_near, box), near_dir);
}

// The canonical box whose directory `dir` is, by undoing box_dir(); the
// caller checks the answer by computing box_dir() of it again.
std::optional<std::string> ChannelPlanner::box_of_dir(const std::string& dir) const {
  const mbsync::MaildirPlace& p = store(m_tm).place;
  std::string inbox = strip_slashes(p.inbox);
  auto undo = [&](std::string rest, bool under_inbox) -> std::optional<std::string> {
    if (!p.flatten.empty() && !under_inbox) {
      std::string out;
      for (std::size_t i = 0; i < rest.size();) {
        if (rest.compare(i, p.flatten.size(), p.flatten) == 0) {
          out += '/';
          i += p.flatten.size();
        } else {
          out += rest[i++];
        }
      }
      return out;
    }
    switch (p.style) {
      case mbsync::SubFolders::MaildirPlusPlus: {
        if (rest.empty() || rest[0] != '.') {
          return std::nullopt;
        }
        std::string out = rest.substr(1);
        std::replace(out.begin(), out.end(), '.', '/');
        return out;
      }
      case mbsync::SubFolders::Legacy: {
        std::string out;
        std::size_t start = 0;
        bool first = !under_inbox;
        while (start <= rest.size()) {
          std::size_t slash = rest.find('/', start);
          std::string part = rest.substr(start, slash == std::string::npos ? slash : slash - start);
          if (!first) {
            if (part.empty() || part[0] != '.') {
              return std::nullopt;
            }
            part.erase(0, 1);
          }
          out += (out.empty() && first ? "" : "/") + part;
          first = false;
          if (slash == std::string::npos) {
            break;
          }
          start = slash + 1;
        }
        return under_inbox ? out.substr(1) : out;
      }
      default:
        return rest;
    }
  };
  if (dir == inbox) {
    return std::string("INBOX");
  }
  if (p.style == mbsync::SubFolders::MaildirPlusPlus) {
    if (!dir.starts_with(inbox + "/")) {
      return std::nullopt;
    }
    auto rest = undo(dir.substr(inbox.size() + 1), false);
    if (rest && rest->starts_with("/")) {
      return "INBOX" + *rest;
    }
    return rest;
  }
  if (dir.starts_with(inbox + "/")) {
    auto rest = undo(dir.substr(inbox.size() + 1), true);
    if (rest) {
      return "INBOX/" + *rest;
    }
  }
  if (!p.path.empty() && dir.starts_with(p.path)) {
    return undo(dir.substr(p.path.size()), false);
  }
  return std::nullopt;
}

std::map<std::string, std::string> ChannelPlanner::folders_with_state() {
  std::map<std::string, std::string> found;
  if (m_ch.patterns.empty()) {
    std::string file = state_path(m_prefix);
    if (fs::exists(file)) {
      found[m_prefix] = file;
    }
    return found;
  }
  std::set<std::string> candidates;
  if (m_sync_state == "*") {
    // Walk the Maildir tree for .mbsyncstate files, not into cur/ new/ tmp/.
    const mbsync::MaildirPlace& p = store(m_tm).place;
    std::vector<std::string> roots{strip_slashes(p.inbox)};
    if (!p.path.empty() && p.style != mbsync::SubFolders::MaildirPlusPlus) {
      roots.push_back(fs::path(p.path).parent_path().string());
    }
    std::set<std::string> seen;
    std::vector<std::pair<fs::path, int>> todo;
    for (const auto& r : roots) {
      todo.emplace_back(r, 0);
    }
    while (!todo.empty()) {
      auto [dir, depth] = todo.back();
      todo.pop_back();
      if (!seen.insert(dir.string()).second || depth > 32) {
        continue;
      }
      std::error_code ec;
      if (fs::exists(dir / ".mbsyncstate", ec)) {
        if (auto box = box_of_dir(dir.string())) {
          candidates.insert(*box);
        }
      }
      for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
        std::string name = it->path().filename().string();
        if (name == "cur" || name == "new" || name == "tmp") {
          continue;
        }
        std::error_code ec2;
        if (it->is_directory(ec2)) {
          todo.emplace_back(it->path(), depth + 1);
        }
      }
    }
  } else {
    // The state files share the text before the box name.
    std::string lead = m_channel_state ? m_sync_state
                                       : m_sync_state + m_rc.field_delimiter +
                                             m_ch.side[k_far].store + m_rc.field_delimiter;
    fs::path dir = fs::path(lead).parent_path();
    std::string stem = lead.substr(lead.rfind('/') + 1);
    std::string far_tail =
        std::string("_") + m_rc.field_delimiter + m_ch.side[k_near].store + m_rc.field_delimiter;
    std::error_code ec;
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
      std::string name = it->path().filename().string();
      if (!name.starts_with(stem) || name.ends_with(".journal") || name.ends_with(".new") ||
          name.ends_with(".lock")) {
        continue;
      }
      std::string rest = name.substr(stem.size());
      int side = k_near;
      if (!m_channel_state) {
        std::size_t cut = rest.find(far_tail);
        if (cut == std::string::npos) {
          continue;
        }
        rest.resize(cut);
        side = k_far;
      }
      std::replace(rest.begin(), rest.end(), '!', '/');
      const std::string& flat = store(side).place.flatten;
      rest = slash_separated(rest, flat);
      candidates.insert(rest);
    }
  }
  for (const auto& box : candidates) {
    if (!box.starts_with(m_prefix) || !selected(m_ch.patterns, box.substr(m_prefix.size()))) {
      continue;
    }
    std::string file;
    try {
      file = state_path(box);
    } catch (const Error&) {
      continue;  // A name mbsync could not have synced: not this channel's state.
    }
    if (fs::exists(file)) {
      found[box] = file;
    }
  }
  return found;
}

void ChannelPlanner::plan_folder(PlannedAccount& out, const std::string& box,
                                 const std::string& state_file) {
  const Store& m = store(m_tm);
  const mbsync::MaildirPlace& p = m.place;
  std::string dir = mbsync::box_dir(p, box);
  // A Maildir++ subfolder of INBOX is "..sub" for mbsync and ".INBOX.sub"
  // for roam: it is planned all the same, and the import, finding the two
  // directories differ, leaves it out of `folders` under both names rather
  // than let roam download it a second time.
  std::error_code ec;
  if (!fs::is_directory(fs::path(dir) / "cur", ec)) {
    out.notes.push_back("folder " + box + ": mbsync has a state for it (" + state_file +
                        ") but there is no Maildir folder " + dir +
                        " any more; nothing to import, roam downloads it");
    return;
  }
  std::string text;
  {
    std::ifstream in(state_file, std::ios::binary);
    if (!in) {
      throw Error(Scope::Usage,
                  "cannot read mbsync's state " + state_file + ": check its permissions");
    }
    std::ostringstream ss;
    ss << in.rdbuf();
    text = ss.str();
  }
  mbsync::State st = mbsync::parse_state(text, state_file);
  PlannedFolder f;
  f.name = decoded_name(box);
  f.dir = dir;
  if (f.name != box) {
    m_encoded_dirs.push_back(box);
    f.notes.push_back("mbsync 1.4 keeps this folder under its encoded IMAP name '" + box + "' (" +
                      dir + "); roam names it '" + f.name +
                      "' and keeps it in a directory of that name, so it cannot take over "
                      "mbsync's directory. To sync it with roam, rename the directory before "
                      "the first roam sync (its messages are then paired by content)");
  }
  std::uint32_t server_validity = m_ti == k_far ? st.far_uidvalidity : st.near_uidvalidity;
  std::uint32_t local_validity = m_tm == k_far ? st.far_uidvalidity : st.near_uidvalidity;
  std::uint32_t max_server_uid = m_ti == k_far ? st.max_pulled_uid : st.max_pushed_uid;
  f.uidvalidity = server_validity;
  f.uidnext = max_server_uid != 0 && max_server_uid != 0xffffffffu ? max_server_uid + 1 : 0;
  bool usable = true;
  if (fs::exists(state_file + ".journal") || fs::exists(state_file + ".new")) {
    f.notes.push_back("mbsync's last run on this folder did not finish (" + state_file +
                      ".journal): only its last committed state is imported; what that run "
                      "did after it is paired by content");
  }
  if (server_validity == 0) {
    f.notes.push_back(
        "mbsync's state does not know the server's UIDVALIDITY: no pairs "
        "imported; roam pairs the messages by content");
    usable = false;
  }
  if (m.alt_map) {
    usable = false;
  } else if (usable) {
    auto line = read_first_line(fs::path(dir) / ".uidvalidity");
    auto value = line ? parse_u32(*line) : std::nullopt;
    if (!value || *value != local_validity) {
      f.notes.push_back(
          "the Maildir's .uidvalidity (" + (line ? *line : std::string("missing")) +
          ") is not the one mbsync's state knows (" + std::to_string(local_validity) +
          "): the ,U= numbers in file names are not the state's; no pairs imported, roam "
          "pairs the messages by content");
      usable = false;
    }
  }
  std::vector<std::uint32_t> placeholders;
  std::size_t expired = 0;
  std::map<std::uint32_t, int> server_count;
  std::map<std::uint32_t, int> file_count;
  for (const auto& r : st.records) {
    std::uint32_t su = m_ti == k_far ? r.far_uid : r.near_uid;
    std::uint32_t fu = m_tm == k_far ? r.far_uid : r.near_uid;
    if (r.placeholder != 0) {
      if ((r.placeholder == '>') == (m_tm == k_near) && fu != 0) {
        placeholders.push_back(fu);
      }
      continue;
    }
    if (r.marker != 0) {
      ++expired;
      continue;
    }
    // A record with one UID is a message mbsync had not copied yet: roam's
    // first sync copies it, or pairs it by content if it was copied after all.
    if (su == 0 || fu == 0) {
      continue;
    }
    ++server_count[su];
    ++file_count[fu];
  }
  std::size_t doubled = 0;
  for (const auto& r : st.records) {
    std::uint32_t su = m_ti == k_far ? r.far_uid : r.near_uid;
    std::uint32_t fu = m_tm == k_far ? r.far_uid : r.near_uid;
    if (r.placeholder != 0 || r.marker != 0 || su == 0 || fu == 0) {
      continue;
    }
    if (server_count[su] > 1 || file_count[fu] > 1) {
      ++doubled;
      continue;
    }
    if (usable) {
      f.by_file_uid[fu] = ImportedPair{su, flags_of_letters(r.flags)};
    }
  }
  if (!placeholders.empty()) {
    f.notes.push_back(std::to_string(placeholders.size()) +
                      " message(s) are MaxSize placeholders in the Maildir (files with ,U=" +
                      join_uids(placeholders) +
                      "): they hold only the headers, so they are not paired; delete those "
                      "files before the first roam sync and roam downloads the whole messages");
  }
  if (expired != 0) {
    f.notes.push_back(std::to_string(expired) +
                      " message(s) were expired or skipped by mbsync (MaxMessages, MaxSize): "
                      "not paired; roam downloads the ones still on the server");
  }
  if (doubled != 0) {
    f.notes.push_back(std::to_string(doubled) +
                      " record(s) of mbsync's state share a UID with another: not paired; roam "
                      "pairs those messages by content");
  }
  out.folders.push_back(std::move(f));
}

PlannedAccount ChannelPlanner::plan() {
  PlannedAccount out;
  // The account name: mbsync channel names are free text, roam's are not.
  for (char c : m_ch.name) {
    bool ok = std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '.' || c == '_' || c == '-';
    out.name += ok ? c : '-';
  }
  if (out.name != m_ch.name) {
    out.notes.push_back("channel '" + m_ch.name + "' is the account [account." + out.name +
                        "] (roam's account names use only A-Z a-z 0-9 . _ -)");
  }
  out.comments.push_back("Imported from mbsync channel '" + m_ch.name + "' (" +
                         where(m_rc.file, m_ch.line) + ") by roam import.");
  const std::string& file = m_rc.file;
  const ChannelSide& si = m_ch.side[m_ti];
  const ChannelSide& sm = m_ch.side[m_tm];
  if (store(m_ti).imap_path_line != 0) {
    fail(file, store(m_ti).imap_path_line,
         "IMAPStore '" + store(m_ti).name +
             "' has a Path, which mbsync prepends to the server's folder names but leaves out "
             "of the local ones; roam keeps one name on both sides (use_namespace strips only "
             "the server's namespace): import cannot carry this channel over");
  }
  if (store(m_ti).flatten_line != 0) {
    fail(file, store(m_ti).flatten_line,
         "IMAPStore '" + store(m_ti).name + "' has Flatten, which roam cannot express");
  }
  // roam names a folder the same on both sides, so both sides of the
  // channel must name it the same.
  if (m_ch.patterns.empty()) {
    std::string iname = si.has_box ? si.box : "INBOX";
    std::string mname = sm.has_box ? sm.box : "INBOX";
    if (iname != mname) {
      fail(file, m_ch.line,
           "channel '" + m_ch.name + "' syncs server folder '" + iname + "' with local folder '" +
               mname +
               "'; roam keeps a folder's name on both sides, so it cannot carry this "
               "channel over without moving files. Import the other channels by name, or rename "
               "the local folder to '" +
               iname + "' and run mbsync once more first");
    }
    m_prefix = iname;
  } else {
    if (si.box != sm.box) {
      fail(file, m_ch.line,
           "channel '" + m_ch.name + "' puts server folders under '" + si.box +
               "' and local ones under '" + sm.box +
               "'; roam keeps a folder's name on both sides, so it cannot carry this channel "
               "over without moving files");
    }
    m_prefix = si.box;
  }
  if (m_ch.sync_state) {
    m_sync_state = *m_ch.sync_state;
    m_channel_state = m_sync_state != "*";
  } else if (m_rc.sync_state) {
    m_sync_state = *m_rc.sync_state;
  } else {
    // mbsync 1.4 keeps its state in ~/.mbsync/, 1.5 in $XDG_STATE_HOME/isync/.
    std::string home = home_dir();
    const char* xdg = std::getenv("XDG_STATE_HOME");
    std::string v15 =
        (xdg != nullptr && *xdg == '/' ? std::string(xdg) : home + "/.local/state") + "/isync/";
    std::string v14 = home + "/.mbsync/";
    m_sync_state = !fs::is_directory(v14) && fs::is_directory(v15) ? v15 : v14;
  }
  if (m_sync_state == "*" && m_tm != k_near) {
    fail(file, m_ch.line,
         "channel '" + m_ch.name +
             "' has SyncState * but its near side is the IMAP store; "
             "mbsync keeps the state in the near Maildir only");
  }
  account_keys(out);
  maildir_keys(out);
  sync_keys(out);
  // folders: the channel's single box, or its patterns below the prefix.
  std::string folders;
  if (m_ch.patterns.empty()) {
    folders = folder_pattern(decoded_name(m_prefix));
  } else {
    for (const auto& p : m_ch.patterns) {
      bool negated = !p.empty() && p[0] == '!';
      std::string body = (negated ? "!" : "") + decoded_name(m_prefix + p.substr(negated ? 1 : 0));
      folders += (folders.empty() ? "" : " ") + folder_pattern(body);
    }
  }
  for (auto& [key, v] : out.keys) {
    if (key == "folders") {
      v = folders;
    }
  }
  out.notes.insert(out.notes.end(), m_ch.notes.begin(), m_ch.notes.end());
  out.notes.insert(out.notes.end(), m_rc.global_notes.begin(), m_rc.global_notes.end());
  auto found = folders_with_state();
  for (const auto& [box, state] : found) {
    plan_folder(out, box, state);
  }
  // roam would take mbsync's directory of an encoded name for a local
  // folder of that name, create it on the server and upload its messages
  // a second time: it is left out.
  for (auto& [key, v] : out.keys) {
    for (const auto& encoded : m_encoded_dirs) {
      if (key == "folders") {
        v += " " + folder_pattern("!" + encoded);
      }
    }
  }
  if (found.empty()) {
    out.notes.push_back("no mbsync state found for this channel (SyncState " + m_sync_state +
                        "): nothing is paired ahead; roam's first sync pairs the messages "
                        "already on both sides by content (a header fetch) and copies none "
                        "of them");
  }
  return out;
}

}  // namespace

// --- Public ---

namespace mbsync {

std::string box_dir(const MaildirPlace& place, std::string_view box_in) {
  std::string box(box_in);
  if (!place.flatten.empty()) {
    std::string flat;
    for (char c : box) {
      if (c == '/') {
        flat += place.flatten;
      } else {
        flat += c;
      }
    }
    box = flat;
  }
  bool in_inbox = false;
  if (is_inbox_name(box)) {
    if (box.size() == 5) {
      return place.inbox;
    }
    in_inbox = true;
    box.erase(0, 5);  // Keeps the leading '/'.
  }
  std::string prefix;
  if (in_inbox || place.style == SubFolders::MaildirPlusPlus) {
    prefix = place.inbox;
  } else {
    if (place.path.empty()) {
      throw Error(Scope::Usage, "mbsync folder '" + std::string(box_in) +
                                    "' needs the MaildirStore's Path, which is not set");
    }
    prefix = place.path;
  }
  for (char c : box) {
    if (c == '/' && place.style == SubFolders::Unset) {
      throw Error(Scope::Usage, "mbsync folder '" + std::string(box_in) +
                                    "' is a subfolder, but the MaildirStore sets no SubFolders "
                                    "style (mbsync refuses it too)");
    }
    if (c == '.' && place.style == SubFolders::MaildirPlusPlus) {
      throw Error(Scope::Usage, "mbsync folder '" + std::string(box_in) +
                                    "' has a '.', which SubFolders Maildir++ does not allow");
    }
  }
  std::string out = prefix;
  if (place.style == SubFolders::MaildirPlusPlus) {
    out += "/.";
  }
  for (char c : box) {
    if (c != '/') {
      out += c;
    } else if (place.style == SubFolders::Verbatim) {
      out += '/';
    } else if (place.style == SubFolders::Legacy) {
      out += "/.";
    } else {
      out += '.';
    }
  }
  return out;
}

std::string clean_box_name(std::string_view box) {
  std::string out(box);
  std::replace(out.begin(), out.end(), '/', '!');
  return out;
}

std::string state_file(std::string_view sync_state, bool channel_level, char delimiter,
                       std::string_view far_store, std::string_view far_box,
                       std::string_view near_store, std::string_view near_box,
                       std::string_view near_dir) {
  if (sync_state == "*") {
    return std::string(near_dir) + "/.mbsyncstate";
  }
  if (channel_level) {
    return std::string(sync_state) + clean_box_name(near_box);
  }
  std::string out(sync_state);
  out += delimiter;
  out += far_store;
  out += delimiter;
  out += clean_box_name(far_box);
  out += '_';
  out += delimiter;
  out += near_store;
  out += delimiter;
  out += clean_box_name(near_box);
  return out;
}

State parse_state(std::string_view text, const std::string& file) {
  State st;
  int no = 0;
  std::size_t pos = 0;
  // The next line without its '\n'; an unterminated last line is refused,
  // as mbsync refuses it (it writes every line whole before the rename).
  auto next = [&](std::string_view& line) {
    if (pos >= text.size()) {
      return false;
    }
    std::size_t end = text.find('\n', pos);
    ++no;
    if (end == std::string_view::npos) {
      fail(file, no,
           "incomplete line in mbsync's sync state (the file was cut short); "
           "remove the file to import this folder without it");
    }
    line = text.substr(pos, end - pos);
    pos = end + 1;
    return true;
  };
  auto bad = [&](const std::string& what) {
    fail(file, no,
         what +
             " in mbsync's sync state; remove the file to import this folder "
             "without it (roam then pairs its messages by content)");
  };
  auto words = [](std::string_view line) {
    std::vector<std::string_view> out;
    std::size_t i = 0;
    while (i < line.size()) {
      while (i < line.size() && is_space(line[i])) {
        ++i;
      }
      std::size_t start = i;
      while (i < line.size() && !is_space(line[i])) {
        ++i;
      }
      if (i > start) {
        out.push_back(line.substr(start, i - start));
      }
    }
    return out;
  };
  auto validity = [](std::uint32_t v) { return v == 0xffffffffu ? 0u : v; };
  std::string_view line;
  bool header_done = false;
  while (next(line)) {
    if (line.empty()) {
      header_done = true;
      break;
    }
    auto w = words(line);
    if (no == 1 && std::isdigit(static_cast<unsigned char>(line[0])) != 0) {
      // Before 1.1: "FARVALIDITY:MAXPULLED NEARVALIDITY:MAXEXPIRED:MAXPUSHED".
      auto split = [](std::string_view s) {
        std::vector<std::string_view> parts;
        std::size_t start = 0;
        while (true) {
          std::size_t c = s.find(':', start);
          parts.push_back(s.substr(start, c == std::string_view::npos ? c : c - start));
          if (c == std::string_view::npos) {
            return parts;
          }
          start = c + 1;
        }
      };
      if (w.size() != 2) {
        bad("invalid header");
      }
      auto a = split(w[0]);
      auto b = split(w[1]);
      if (a.size() != 2 || b.size() != 3) {
        bad("invalid header");
      }
      auto fv = parse_u32(a[0]), fm = parse_u32(a[1]), nv = parse_u32(b[0]), nm = parse_u32(b[2]);
      if (!fv || !fm || !nv || !parse_u32(b[1]) || !nm) {
        bad("invalid header");
      }
      st.far_uidvalidity = validity(*fv);
      st.max_pulled_uid = *fm;
      st.near_uidvalidity = validity(*nv);
      st.max_pushed_uid = *nm;
      header_done = true;
      break;
    }
    if (w.size() != 2) {
      bad("malformed header line");
    }
    auto v = parse_u32(w[1]);
    if (!v) {
      bad("malformed header line");
    }
    if (w[0] == "FarUidValidity" || w[0] == "MasterUidValidity") {
      st.far_uidvalidity = validity(*v);
    } else if (w[0] == "NearUidValidity" || w[0] == "SlaveUidValidity") {
      st.near_uidvalidity = validity(*v);
    } else if (w[0] == "MaxPulledUid") {
      st.max_pulled_uid = *v;
    } else if (w[0] == "MaxPushedUid") {
      st.max_pushed_uid = *v;
    } else if (w[0] == "MaxExpiredFarUid" || w[0] == "MaxExpiredMasterUid" ||
               w[0] == "MaxExpiredSlaveUid") {
      // Only MaxMessages' bookkeeping; the records say what expired.
    } else {
      bad("unrecognized header entry '" + std::string(w[0]) + "'");
    }
  }
  if (!header_done) {
    ++no;
    bad("unterminated header (no blank line)");
  }
  while (next(line)) {
    auto w = words(line);
    if (w.size() < 2 || w.size() > 3) {
      bad("invalid entry");
    }
    auto f = parse_u32(w[0]);
    auto n = parse_u32(w[1]);
    if (!f || !n) {
      bad("invalid entry");
    }
    StateRecord r;
    r.far_uid = *f;
    r.near_uid = *n;
    r.line = no;
    std::string_view rest = w.size() == 3 ? w[2] : std::string_view();
    if (!rest.empty() && (rest[0] == '<' || rest[0] == '>')) {
      r.placeholder = rest[0];
      rest.remove_prefix(1);
    }
    if (!rest.empty() && (rest[0] == '^' || rest[0] == '~' || rest[0] == 'X')) {
      r.marker = rest[0] == 'X' ? '~' : rest[0];
      rest.remove_prefix(1);
    } else if (r.far_uid == 0xffffffffu || r.near_uid == 0xffffffffu) {
      // Before 1.3 a skipped message had the UID -1.
      r.marker = '^';
      (r.far_uid == 0xffffffffu ? r.far_uid : r.near_uid) = 0;
    }
    for (char c : rest) {
      if (std::string_view("DFPRST").find(c) == std::string_view::npos) {
        bad("unknown flag '" + std::string(1, c) + "'");
      }
    }
    r.flags = std::string(rest);
    st.records.push_back(std::move(r));
  }
  return st;
}

}  // namespace mbsync

std::vector<PlannedAccount> read_mbsync(const fs::path& rc_path,
                                        const std::vector<std::string>& channels) {
  std::ifstream in(rc_path, std::ios::binary);
  if (!in) {
    throw Error(Scope::Usage, "cannot read the mbsync configuration " + rc_path.string() +
                                  ": name it with --from FILE");
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  std::string file = rc_path.string();
  Rc rc = Parser(file, lex_rc(ss.str(), file)).parse();

  auto imap_side = [&](const Channel& ch) -> int {
    bool far_imap = rc.store(ch.side[k_far].store)->imap;
    bool near_imap = rc.store(ch.side[k_near].store)->imap;
    if (far_imap == near_imap) {
      return -1;
    }
    return far_imap ? k_far : k_near;
  };
  std::vector<const Channel*> chosen;
  auto choose = [&](const Channel& ch, bool named) {
    if (std::find(chosen.begin(), chosen.end(), &ch) != chosen.end()) {
      return;
    }
    if (imap_side(ch) < 0) {
      if (named) {
        fail(file, ch.line,
             "channel '" + ch.name +
                 "' does not pair an IMAPStore with a MaildirStore; roam "
                 "imports only those");
      }
      return;
    }
    chosen.push_back(&ch);
  };
  auto channel_named = [&](std::string_view name) -> const Channel* {
    for (const auto& ch : rc.channels) {
      if (ch.name == name) {
        return &ch;
      }
    }
    return nullptr;
  };
  if (channels.empty()) {
    for (const auto& ch : rc.channels) {
      choose(ch, false);
    }
  } else {
    for (const auto& name : channels) {
      const Group* group = nullptr;
      for (const auto& g : rc.groups) {
        if (g.name == name) {
          group = &g;
        }
      }
      if (group != nullptr) {
        for (const auto& member : group->members) {
          std::string chan = member.substr(0, member.find(':'));
          const Channel* ch = channel_named(chan);
          if (ch == nullptr) {
            fail(file, group->line,
                 "group '" + group->name + "' names channel '" + chan + "', which is not defined");
          }
          if (chan != member) {
            fail(file, group->line,
                 "group '" + group->name + "' limits channel '" + chan + "' to some folders ('" +
                     member + "'); roam imports a channel's Patterns: name the channel instead");
          }
          choose(*ch, true);
        }
        continue;
      }
      const Channel* ch = channel_named(name);
      if (ch == nullptr) {
        throw Error(Scope::Usage, "no channel or group named '" + name + "' in " + file);
      }
      choose(*ch, true);
    }
  }
  // Channels on one Maildir tree become one account: roam keeps one
  // account per tree. That is the usual split of one mailbox into an INBOX
  // channel and a channel for the rest; it can be expressed when the
  // channels agree on everything but their folders and at most one of them
  // has Patterns (the single folders of the others are added after its
  // patterns, where a plain name only adds that folder).
  struct Planned {
    PlannedAccount account;
    const Channel* channel;
    std::string root;
  };
  std::vector<Planned> planned;
  for (const Channel* ch : chosen) {
    Planned p{ChannelPlanner(rc, *ch, imap_side(*ch)).plan(), ch, {}};
    for (const auto& [k, v] : p.account.keys) {
      if (k == "maildir") {
        p.root = v;
      }
    }
    planned.push_back(std::move(p));
  }
  auto without_folders = [](const PlannedAccount& a) {
    std::vector<std::pair<std::string, std::string>> keys;
    for (const auto& kv : a.keys) {
      if (kv.first != "folders") {
        keys.push_back(kv);
      }
    }
    return keys;
  };
  std::vector<PlannedAccount> out;
  std::vector<bool> merged(planned.size(), false);
  for (std::size_t i = 0; i < planned.size(); ++i) {
    if (merged[i]) {
      continue;
    }
    std::vector<std::size_t> group{i};
    for (std::size_t j = i + 1; j < planned.size(); ++j) {
      if (!merged[j] && planned[j].root == planned[i].root) {
        group.push_back(j);
        merged[j] = true;
      }
    }
    if (group.size() == 1) {
      out.push_back(std::move(planned[i].account));
      continue;
    }
    std::string names;
    std::size_t with_patterns = 0;
    const Planned* base = &planned[i];
    for (std::size_t g : group) {
      const Planned& p = planned[g];
      names += (names.empty() ? "'" : ", '") + p.channel->name + "'";
      if (!p.channel->patterns.empty()) {
        ++with_patterns;
        base = &p;
      }
      if (without_folders(p.account) != without_folders(planned[i].account)) {
        fail(file, p.channel->line,
             "channels '" + planned[i].channel->name + "' and '" + p.channel->name +
                 "' share the Maildir " + p.root +
                 " but differ in their settings (Sync, Create, Expunge, the account); roam "
                 "keeps one account per Maildir tree. Import one of them by name");
      }
      if (with_patterns > 1) {
        fail(file, p.channel->line,
             "channels " + names + " share the Maildir " + p.root +
                 " and more than one has Patterns, which roam's one `folders` list cannot "
                 "combine; import one of them by name and widen its folders afterwards");
      }
    }
    PlannedAccount account = base->account;
    account.notes.insert(account.notes.begin(),
                         "channels " + names + " share the Maildir " + base->root +
                             ", so they are one roam account, [account." + account.name + "]");
    std::set<std::string> notes(account.notes.begin(), account.notes.end());
    std::set<std::string> folder_names;
    for (const auto& f : account.folders) {
      folder_names.insert(f.name);
    }
    for (std::size_t g : group) {
      const Planned& p = planned[g];
      if (&p == base) {
        continue;
      }
      for (auto& [k, v] : account.keys) {
        if (k == "folders") {
          for (const auto& [k2, v2] : p.account.keys) {
            if (k2 == "folders") {
              v += " " + v2;
            }
          }
        }
      }
      account.comments.insert(account.comments.end(), p.account.comments.begin(),
                              p.account.comments.end());
      for (const auto& n : p.account.notes) {
        if (notes.insert(n).second) {
          account.notes.push_back(n);
        }
      }
      for (const auto& f : p.account.folders) {
        // Two channels that both synced a folder have two states for it; the
        // first is taken, the other only noted.
        if (!folder_names.insert(f.name).second) {
          account.notes.push_back("folder " + f.name + ": channel '" + p.channel->name +
                                  "' has a state for it too; only the first channel's is "
                                  "imported");
          continue;
        }
        account.folders.push_back(f);
      }
    }
    out.push_back(std::move(account));
  }
  return out;
}

}  // namespace roam::import
