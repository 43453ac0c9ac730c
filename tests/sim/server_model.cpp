#include "server_model.hpp"

#include <algorithm>
#include <cctype>
#include <optional>
#include <stdexcept>

namespace roam::sim {

namespace {

std::string upper(std::string s) {
  for (char& c : s) {
    c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  }
  return s;
}

std::string quote(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
    }
    out += c;
  }
  return out + "\"";
}

std::string flag_list(const std::set<std::string>& flags) {
  std::string out = "(";
  for (const auto& f : flags) {
    out += (out.size() > 1 ? " " : "") + f;
  }
  return out + ")";
}

// The header block: everything up to and including the empty line, or the
// whole message when it has none (RFC 3501 §6.4.5 BODY[HEADER]).
std::string header_of(const std::string& raw) {
  if (raw.rfind("\r\n", 0) == 0) {
    return "\r\n";
  }
  auto end = raw.find("\r\n\r\n");
  return end == std::string::npos ? raw : raw.substr(0, end + 4);
}

std::string literal(const std::string& data) {
  return "{" + std::to_string(data.size()) + "}\r\n" + data;
}

bool is_number(const std::string& s) {
  return !s.empty() && s.size() < 20 &&
         std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

std::string format_set(const std::vector<std::uint32_t>& uids) {
  std::string out;
  for (std::size_t i = 0; i < uids.size();) {
    std::size_t j = i;
    while (j + 1 < uids.size() && uids[j + 1] == uids[j] + 1) {
      ++j;
    }
    // Appended piece by piece: GCC 12 at -O2 warns (-Wrestrict) about
    // "literal" + std::string chains.
    if (!out.empty()) {
      out += ',';
    }
    out += std::to_string(uids[i]);
    if (j != i) {
      out += ':';
      out += std::to_string(uids[j]);
    }
    i = j + 1;
  }
  return out;
}

}  // namespace

Message* Mailbox::find(std::uint32_t uid) {
  for (auto& m : messages) {
    if (m.uid == uid) {
      return &m;
    }
  }
  return nullptr;
}

void Mailbox::touch(Message& m) {
  m.modseq = ++highestmodseq;
}

Mailbox& ServerModel::create(const std::string& name) {
  Mailbox& mb = mailboxes[name];
  if (mb.uidvalidity == 0) {
    mb.uidvalidity = next_uidvalidity++;
  }
  return mb;
}

std::uint32_t ServerModel::deliver(const std::string& name, std::string raw,
                                   std::set<std::string> flags, std::string internaldate) {
  Mailbox& mb = create(name);
  Message m;
  m.uid = mb.uidnext++;
  m.flags = std::move(flags);
  m.raw = std::move(raw);
  m.internaldate = std::move(internaldate);
  mb.touch(m);
  mb.messages.push_back(std::move(m));
  return mb.messages.back().uid;
}

void ServerModel::expunge(const std::string& name, std::uint32_t uid) {
  Mailbox& mb = mailboxes.at(name);
  std::erase_if(mb.messages, [&](const Message& m) { return m.uid == uid; });
  ++mb.highestmodseq;
}

std::uint32_t ServerModel::move(const std::string& from, std::uint32_t uid, const std::string& to) {
  Message m = *mailboxes.at(from).find(uid);
  expunge(from, uid);
  return deliver(to, m.raw, m.flags, m.internaldate);
}

void ServerModel::reset_uidvalidity(const std::string& name) {
  Mailbox& mb = mailboxes.at(name);
  mb.uidvalidity = next_uidvalidity++;
  mb.uidnext = 1;
  for (auto& m : mb.messages) {
    m.uid = mb.uidnext++;
    mb.touch(m);
  }
}

void ServerModel::rename(const std::string& from, const std::string& to) {
  Mailbox mb = std::move(mailboxes.at(from));
  mailboxes.erase(from);
  mailboxes[to] = std::move(mb);
}

void ServerModel::remove(const std::string& name) {
  mailboxes.erase(name);
}

std::string ServerModel::snapshot() const {
  std::string out;
  for (const auto& [name, mb] : mailboxes) {
    out += name + " uidvalidity=" + std::to_string(mb.uidvalidity) +
           " uidnext=" + std::to_string(mb.uidnext) +
           " highestmodseq=" + std::to_string(mb.highestmodseq) + "\n";
    for (const auto& m : mb.messages) {
      out += "  " + std::to_string(m.uid) + " " + flag_list(m.flags) + " " +
             std::to_string(m.raw.size()) + "\n";
    }
  }
  return out;
}

// --- Session ---

Session::Session(ServerModel& model) : m_model(model), m_id(++model.sessions) {
  m_out = "* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=PLAIN" +
          std::string(m_model.quirks.literal_plus ? " LITERAL+" : "") + "] sim ready\r\n";
}

std::string Session::take_output() {
  std::string out;
  out.swap(m_out);
  return out;
}

void Session::feed(std::string_view bytes) {
  m_in.append(bytes);
  while (!m_closed) {
    if (m_in_literal) {
      if (m_in.size() < m_literal_wanted) {
        return;
      }
      m_command += "\x01" + std::to_string(m_literals.size()) + "\x01";
      m_literals.push_back(m_in.substr(0, m_literal_wanted));
      m_in.erase(0, m_literal_wanted);
      m_in_literal = false;
      continue;
    }
    auto eol = m_in.find("\r\n");
    if (eol == std::string::npos) {
      return;
    }
    std::string line = m_in.substr(0, eol);
    m_in.erase(0, eol + 2);
    // A line ending in {n} or {n+} announces a literal that follows the CRLF.
    if (!line.empty() && line.back() == '}') {
      auto open = line.rfind('{');
      if (open != std::string::npos) {
        std::string n = line.substr(open + 1, line.size() - open - 2);
        bool plus = !n.empty() && n.back() == '+';
        if (plus) {
          n.pop_back();
        }
        if (is_number(n)) {
          m_command += line.substr(0, open);
          m_literal_wanted = std::stoull(n);
          m_in_literal = true;
          if (!plus) {
            m_out += "+ go ahead\r\n";
          } else if (!m_model.quirks.literal_plus) {
            m_model.protocol_errors.push_back("LITERAL+ used but not advertised: " + line);
          }
          continue;
        }
      }
    }
    m_command += line;
    std::string command;
    command.swap(m_command);
    execute(command);
    m_literals.clear();
  }
}

std::vector<Session::Token> Session::tokenize(const std::string& line, std::size_t& pos,
                                              bool nested) {
  std::vector<Token> out;
  while (pos < line.size()) {
    char c = line[pos];
    if (c == ' ') {
      ++pos;
    } else if (c == '(') {
      ++pos;
      Token t;
      t.kind = Token::Kind::List;
      t.items = tokenize(line, pos, true);
      out.push_back(std::move(t));
    } else if (c == ')') {
      if (!nested) {
        throw std::runtime_error("unbalanced )");
      }
      ++pos;
      return out;
    } else if (c == '"') {
      Token t;
      t.kind = Token::Kind::String;
      ++pos;
      while (pos < line.size() && line[pos] != '"') {
        if (line[pos] == '\\') {
          ++pos;
        }
        if (pos < line.size()) {
          t.text += line[pos++];
        }
      }
      if (pos >= line.size()) {
        throw std::runtime_error("unterminated quoted string");
      }
      ++pos;
      out.push_back(std::move(t));
    } else if (c == '\x01') {
      auto end = line.find('\x01', pos + 1);
      Token t;
      t.kind = Token::Kind::String;
      t.literal = true;
      t.text = m_literals.at(std::stoul(line.substr(pos + 1, end - pos - 1)));
      pos = end + 1;
      out.push_back(std::move(t));
    } else {
      Token t;
      // Brackets belong to the atom ("BODY.PEEK[HEADER]"), and what is inside
      // them is copied as is.
      int depth = 0;
      while (pos < line.size()) {
        char d = line[pos];
        if (d == '[') {
          ++depth;
        } else if (d == ']') {
          --depth;
        } else if (depth == 0 && (d == ' ' || d == '(' || d == ')')) {
          break;
        }
        t.text += d;
        ++pos;
      }
      out.push_back(std::move(t));
    }
  }
  if (nested) {
    throw std::runtime_error("unbalanced (");
  }
  return out;
}

void Session::bad(const std::string& tag, const std::string& line, const std::string& why) {
  m_model.protocol_errors.push_back(why + ": " + line.substr(0, 200));
  m_out += tag + " BAD " + why + "\r\n";
}

std::string Session::capabilities() const {
  const Quirks& q = m_model.quirks;
  std::string caps = "IMAP4rev1 SASL-IR AUTH=PLAIN";
  caps += q.literal_plus ? " LITERAL+" : "";
  caps += q.uidplus ? " UIDPLUS" : "";
  caps += q.move ? " MOVE" : "";
  caps += q.condstore ? " CONDSTORE" : "";
  caps += q.list_status ? " LIST-STATUS" : "";
  caps += q.esearch ? " ESEARCH" : "";
  caps += q.multiappend ? " MULTIAPPEND" : "";
  caps += q.namespace_prefix.empty() ? "" : " NAMESPACE";
  caps += " SPECIAL-USE";
  return caps;
}

std::string Session::wire_name(const std::string& name) const {
  return name == "INBOX" ? name : m_model.quirks.namespace_prefix + name;
}

std::optional<std::string> Session::model_name(const std::string& wire) const {
  const std::string& prefix = m_model.quirks.namespace_prefix;
  if (upper(wire) == "INBOX") {
    return std::string("INBOX");
  }
  if (wire.size() <= prefix.size() || wire.compare(0, prefix.size(), prefix) != 0) {
    return std::nullopt;
  }
  std::string name = wire.substr(prefix.size());
  // The model has one INBOX; "INBOX/INBOX" is no other name for it.
  if (upper(name) == "INBOX") {
    return std::nullopt;
  }
  return name;
}

std::vector<Message*> Session::visible(Mailbox& mb) {
  std::vector<Message*> out;
  for (auto& m : mb.messages) {
    if (!(m_model.quirks.hide_appended && m.appended_in == m_id)) {
      out.push_back(&m);
    }
  }
  return out;
}

// The visible messages whose UIDs are in `set`, with their sequence numbers.
// "*" is the highest UID, and "n:*" always includes the last message even if
// n is above it (RFC 3501 §6.4.8).
std::vector<std::pair<std::size_t, Message*>> Session::match(Mailbox& mb, const std::string& set) {
  std::vector<Message*> vis = visible(mb);
  std::uint32_t star = vis.empty() ? 0 : vis.back()->uid;
  auto number = [&](const std::string& s) -> std::uint32_t {
    if (s == "*") {
      return star;
    }
    if (!is_number(s) || std::stoull(s) == 0 || std::stoull(s) > 0xffffffffull) {
      throw std::runtime_error("bad UID set " + set);
    }
    return static_cast<std::uint32_t>(std::stoull(s));
  };
  std::vector<std::pair<std::uint32_t, std::uint32_t>> ranges;
  std::size_t start = 0;
  while (start <= set.size()) {
    auto comma = set.find(',', start);
    std::string part = set.substr(start, comma == std::string::npos ? comma : comma - start);
    auto colon = part.find(':');
    std::uint32_t a = number(part.substr(0, colon));
    std::uint32_t b = colon == std::string::npos ? a : number(part.substr(colon + 1));
    ranges.emplace_back(std::min(a, b), std::max(a, b));
    if (comma == std::string::npos) {
      break;
    }
    start = comma + 1;
  }
  std::vector<std::pair<std::size_t, Message*>> out;
  for (std::size_t i = 0; i < vis.size(); ++i) {
    for (auto [a, b] : ranges) {
      if (vis[i]->uid >= a && vis[i]->uid <= b) {
        out.emplace_back(i + 1, vis[i]);
        break;
      }
    }
  }
  return out;
}

void Session::execute(const std::string& line) {
  std::size_t pos = 0;
  std::vector<Token> tokens;
  try {
    tokens = tokenize(line, pos, false);
  } catch (const std::exception& e) {
    bad("*", line, e.what());
    return;
  }
  if (tokens.size() < 2 || tokens[0].kind != Token::Kind::Atom ||
      tokens[1].kind != Token::Kind::Atom) {
    bad("*", line, "no tag and command");
    return;
  }
  std::string tag = tokens[0].text;
  std::string name = upper(tokens[1].text);
  std::vector<Token> args(tokens.begin() + 2, tokens.end());
  try {
    if (name == "UID") {
      if (args.empty()) {
        bad(tag, line, "UID without a command");
        return;
      }
      name = "UID " + upper(args[0].text);
      args.erase(args.begin());
    }
    if (name == "CAPABILITY") {
      m_out += "* CAPABILITY " + capabilities() + "\r\n" + tag + " OK done\r\n";
    } else if (name == "NOOP") {
      m_out += tag + " OK done\r\n";
    } else if (name == "LOGOUT") {
      m_out += "* BYE sim logging out\r\n" + tag + " OK done\r\n";
      m_closed = true;
    } else if (name == "LOGIN" && args.size() == 2) {
      m_authenticated = true;
      m_out += tag + " OK [CAPABILITY " + capabilities() + "] logged in\r\n";
    } else if (name == "AUTHENTICATE" && args.size() == 2 && upper(args[0].text) == "PLAIN") {
      m_authenticated = true;
      m_out += tag + " OK logged in\r\n";
    } else if (!m_authenticated) {
      bad(tag, line, "not authenticated");
    } else if (name == "LIST") {
      cmd_list(tag, args);
    } else if (name == "STATUS") {
      cmd_status(tag, args);
    } else if (name == "SELECT" || name == "EXAMINE") {
      cmd_select(tag, args, name == "EXAMINE");
    } else if (name == "NAMESPACE" && args.empty() && !m_model.quirks.namespace_prefix.empty()) {
      m_out += "* NAMESPACE ((" + quote(m_model.quirks.namespace_prefix) + " " +
               quote(std::string(1, m_model.delimiter)) + ")) NIL NIL\r\n" + tag + " OK done\r\n";
    } else if (name == "CREATE" && args.size() == 1) {
      std::optional<std::string> box = model_name(args[0].text);
      if (!box) {
        m_out += tag + " NO [CANNOT] outside the personal namespace\r\n";
      } else if (m_model.mailboxes.count(*box) != 0) {
        m_out += tag + " NO [ALREADYEXISTS] exists\r\n";
      } else {
        m_model.create(*box);
        m_out += tag + " OK created\r\n";
      }
    } else if (name == "APPEND") {
      cmd_append(tag, args);
    } else if (m_selected.empty() || m_model.mailboxes.count(m_selected) == 0) {
      bad(tag, line, "no mailbox selected");
    } else if (name == "UID FETCH") {
      cmd_fetch(tag, args);
    } else if (name == "UID STORE") {
      cmd_store(tag, args, line);
    } else if (name == "UID EXPUNGE" && args.size() == 1 && m_model.quirks.uidplus) {
      cmd_expunge(tag, &args[0].text);
    } else if (name == "EXPUNGE" && args.empty()) {
      cmd_expunge(tag, nullptr);
    } else if (name == "UID COPY" && args.size() == 2) {
      cmd_copy(tag, args, false);
    } else if (name == "UID MOVE" && args.size() == 2 && m_model.quirks.move) {
      cmd_copy(tag, args, true);
    } else if (name == "UID SEARCH") {
      cmd_search(tag, args, line);
    } else {
      bad(tag, line, "unknown or malformed command");
    }
  } catch (const std::exception& e) {
    bad(tag, line, e.what());
  }
}

void Session::cmd_list(const std::string& tag, const std::vector<Token>& args) {
  if (args.size() < 2 || args[0].text != "" || args[1].text != "*") {
    bad(tag, "LIST", "only LIST \"\" \"*\" is modelled");
    return;
  }
  bool special_use = false;
  std::vector<std::string> status;
  if (args.size() == 4 && upper(args[2].text) == "RETURN" && args[3].kind == Token::Kind::List) {
    const auto& ret = args[3].items;
    for (std::size_t i = 0; i < ret.size(); ++i) {
      std::string what = upper(ret[i].text);
      if (what == "SPECIAL-USE") {
        special_use = true;
      } else if (what == "STATUS" && i + 1 < ret.size() && m_model.quirks.list_status) {
        for (const auto& item : ret[++i].items) {
          status.push_back(upper(item.text));
        }
      } else {
        bad(tag, "LIST", "unknown RETURN option " + what);
        return;
      }
    }
  } else if (args.size() != 2) {
    bad(tag, "LIST", "malformed LIST");
    return;
  }
  (void)special_use;
  // Parents that are not mailboxes themselves are listed \Noselect, as
  // servers that allow "Lists/dev" without "Lists" do.
  std::set<std::string> parents;
  for (const auto& [name, mb] : m_model.mailboxes) {
    for (auto p = name.find(m_model.delimiter); p != std::string::npos;
         p = name.find(m_model.delimiter, p + 1)) {
      parents.insert(name.substr(0, p));
    }
  }
  std::set<std::string> all = parents;
  for (const auto& [name, mb] : m_model.mailboxes) {
    all.insert(name);
  }
  std::string d(1, m_model.delimiter);
  for (const auto& name : all) {
    auto it = m_model.mailboxes.find(name);
    std::string attrs = it == m_model.mailboxes.end() ? "\\Noselect" : "";
    std::string children = parents.count(name) ? "\\HasChildren" : "\\HasNoChildren";
    attrs += (attrs.empty() ? "" : " ") + children;
    m_out += "* LIST (" + attrs + ") " + quote(d) + " " + quote(wire_name(name)) + "\r\n";
    if (it == m_model.mailboxes.end() || status.empty()) {
      continue;
    }
    std::optional<std::string> line = status_line(name, status);
    if (!line) {
      bad(tag, "LIST", "unknown STATUS item");
      return;
    }
    m_out += *line;
  }
  m_out += tag + " OK listed\r\n";
}

std::optional<std::string> Session::status_line(const std::string& name,
                                                const std::vector<std::string>& status) {
  Mailbox& mb = m_model.mailboxes.at(name);
  std::string items;
  for (const auto& s : status) {
    std::string value;
    if (s == "MESSAGES") {
      value = std::to_string(visible(mb).size());
    } else if (s == "UIDNEXT") {
      value = std::to_string(mb.uidnext);
    } else if (s == "UIDVALIDITY") {
      value = std::to_string(mb.uidvalidity);
    } else if (s == "HIGHESTMODSEQ" && m_model.quirks.condstore) {
      value = std::to_string(mb.highestmodseq);
    } else {
      return std::nullopt;
    }
    items += (items.empty() ? "" : " ") + s + " " + value;
  }
  return "* STATUS " + quote(wire_name(name)) + " (" + items + ")\r\n";
}

void Session::cmd_status(const std::string& tag, const std::vector<Token>& args) {
  if (args.size() != 2 || args[1].kind != Token::Kind::List || args[1].items.empty()) {
    bad(tag, "STATUS", "malformed STATUS");
    return;
  }
  auto box = model_name(args[0].text);
  if (!box || m_model.mailboxes.count(*box) == 0) {
    m_out += tag + " NO [NONEXISTENT] no such mailbox\r\n";
    return;
  }
  std::vector<std::string> items;
  for (const auto& item : args[1].items) {
    items.push_back(upper(item.text));
  }
  std::optional<std::string> line = status_line(*box, items);
  if (!line) {
    bad(tag, "STATUS", "unknown STATUS item");
    return;
  }
  m_out += *line + tag + " OK status\r\n";
}

void Session::cmd_select(const std::string& tag, const std::vector<Token>& args, bool examine) {
  m_selected.clear();
  m_condstore = false;
  if (args.empty() || args.size() > 2) {
    bad(tag, "SELECT", "malformed SELECT");
    return;
  }
  if (args.size() == 2) {
    if (args[1].kind != Token::Kind::List || args[1].items.size() != 1 ||
        upper(args[1].items[0].text) != "CONDSTORE" || !m_model.quirks.condstore) {
      bad(tag, "SELECT", "unknown SELECT parameter");
      return;
    }
    m_condstore = true;
  }
  auto it = m_model.mailboxes.find(model_name(args[0].text).value_or(""));
  if (it == m_model.mailboxes.end()) {
    m_out += tag + " NO [NONEXISTENT] no such mailbox\r\n";
    return;
  }
  Mailbox& mb = it->second;
  m_selected = it->first;
  m_read_only = examine || m_model.quirks.read_only.count(m_selected) != 0;
  m_out += "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Forwarded)\r\n";
  m_out +=
      "* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Forwarded \\*)] "
      "ok\r\n";
  m_out += "* " + std::to_string(visible(mb).size()) + " EXISTS\r\n* 0 RECENT\r\n";
  m_out += "* OK [UIDVALIDITY " + std::to_string(mb.uidvalidity) + "] ok\r\n";
  m_out += "* OK [UIDNEXT " + std::to_string(mb.uidnext) + "] ok\r\n";
  if (m_model.quirks.condstore || m_model.quirks.stray_highestmodseq) {
    m_out += "* OK [HIGHESTMODSEQ " + std::to_string(mb.highestmodseq) + "] ok\r\n";
  }
  m_out += tag + (m_read_only ? " OK [READ-ONLY] selected\r\n" : " OK [READ-WRITE] selected\r\n");
}

void Session::cmd_fetch(const std::string& tag, const std::vector<Token>& args) {
  if (args.size() < 2 || args.size() > 3) {
    bad(tag, "UID FETCH", "malformed UID FETCH");
    return;
  }
  std::vector<std::string> items;
  if (args[1].kind == Token::Kind::List) {
    for (const auto& t : args[1].items) {
      items.push_back(upper(t.text));
    }
  } else {
    items.push_back(upper(args[1].text));
  }
  std::uint64_t changedsince = 0;
  bool has_changedsince = false;
  if (args.size() == 3) {
    const auto& mod = args[2].items;
    if (args[2].kind != Token::Kind::List || mod.size() != 2 ||
        upper(mod[0].text) != "CHANGEDSINCE" || !is_number(mod[1].text) ||
        !m_model.quirks.condstore) {
      bad(tag, "UID FETCH", "unknown FETCH modifier");
      return;
    }
    changedsince = std::stoull(mod[1].text);
    has_changedsince = true;
  }
  for (const auto& item : items) {
    static const std::set<std::string> known = {
        "UID",         "FLAGS",        "RFC822.SIZE", "BODY.PEEK[HEADER]",
        "BODY.PEEK[]", "INTERNALDATE", "MODSEQ"};
    if (known.count(item) == 0 || (item == "MODSEQ" && !m_model.quirks.condstore)) {
      bad(tag, "UID FETCH", "unknown FETCH item " + item);
      return;
    }
  }
  Mailbox& mb = m_model.mailboxes.at(m_selected);
  bool modseq = m_condstore || has_changedsince ||
                std::find(items.begin(), items.end(), "MODSEQ") != items.end();
  for (auto [seq, m] : match(mb, args[0].text)) {
    if (has_changedsince && m->modseq <= changedsince) {
      continue;
    }
    std::string out = "* " + std::to_string(seq) + " FETCH (UID " + std::to_string(m->uid);
    for (const auto& item : items) {
      if (item == "FLAGS") {
        out += " FLAGS " + flag_list(m->flags);
      } else if (item == "RFC822.SIZE") {
        out += " RFC822.SIZE " + std::to_string(m->raw.size());
      } else if (item == "INTERNALDATE") {
        out += " INTERNALDATE " + quote(m->internaldate);
      } else if (item == "BODY.PEEK[HEADER]") {
        out += " BODY[HEADER] " + literal(header_of(m->raw));
      } else if (item == "BODY.PEEK[]") {
        out += " BODY[] " + literal(m->raw);
      }
    }
    if (modseq) {
      out += " MODSEQ (" + std::to_string(m->modseq) + ")";
    }
    m_out += out + ")\r\n";
  }
  m_out += tag + " OK fetched\r\n";
}

void Session::cmd_store(const std::string& tag, const std::vector<Token>& args,
                        const std::string& line) {
  std::size_t i = 1;
  std::optional<std::uint64_t> unchangedsince;
  if (args.size() > 1 && args[1].kind == Token::Kind::List) {
    const auto& mod = args[1].items;
    if (mod.size() != 2 || upper(mod[0].text) != "UNCHANGEDSINCE" || !is_number(mod[1].text)) {
      bad(tag, line, "unknown STORE modifier");
      return;
    }
    if (!m_model.quirks.condstore) {
      // What Cyrus answers when CONDSTORE is suppressed.
      m_out += tag + " NO the selected mailbox has no mod-sequences\r\n";
      return;
    }
    unchangedsince = std::stoull(mod[1].text);
    i = 2;
  }
  if (args.size() != i + 2) {
    bad(tag, line, "malformed STORE");
    return;
  }
  std::string op = upper(args[i].text);
  bool silent = op.ends_with(".SILENT");
  if (silent) {
    op.resize(op.size() - 7);
  }
  if (op != "+FLAGS" && op != "-FLAGS" && op != "FLAGS") {
    bad(tag, line, "unknown STORE operation");
    return;
  }
  std::set<std::string> flags;
  if (args[i + 1].kind == Token::Kind::List) {
    for (const auto& t : args[i + 1].items) {
      flags.insert(t.text);
    }
  } else {
    flags.insert(args[i + 1].text);
  }
  if (flags.count("\\Recent") != 0) {
    bad(tag, line, "\\Recent cannot be stored");
    return;
  }
  if (m_read_only) {
    m_out += tag + " NO [READ-ONLY] mailbox is read-only\r\n";
    return;
  }
  Mailbox& mb = m_model.mailboxes.at(m_selected);
  std::vector<std::uint32_t> modified;
  for (auto [seq, m] : match(mb, args[0].text)) {
    if (unchangedsince && m->modseq > *unchangedsince) {
      modified.push_back(m->uid);
      continue;
    }
    std::set<std::string> now = m->flags;
    if (op == "+FLAGS") {
      now.insert(flags.begin(), flags.end());
    } else if (op == "-FLAGS") {
      for (const auto& f : flags) {
        now.erase(f);
      }
    } else {
      now = flags;
    }
    bool changed = now != m->flags;
    if (changed) {
      m->flags = now;
      mb.touch(*m);
    }
    if (!silent || (changed && m_condstore)) {
      m_out += "* " + std::to_string(seq) + " FETCH (UID " + std::to_string(m->uid);
      if (!silent) {
        m_out += " FLAGS " + flag_list(m->flags);
      }
      if (m_condstore) {
        m_out += " MODSEQ (" + std::to_string(m->modseq) + ")";
      }
      m_out += ")\r\n";
    }
  }
  if (!modified.empty()) {
    std::sort(modified.begin(), modified.end());
    m_out += tag + " OK [MODIFIED " + format_set(modified) + "] conditional store\r\n";
  } else {
    m_out += tag + " OK stored\r\n";
  }
}

void Session::send_expunged(Mailbox& mb, const std::vector<std::uint32_t>& uids) {
  // Highest sequence number first, so that each number is still valid when
  // the client applies it.
  std::vector<Message*> vis = visible(mb);
  for (std::size_t i = vis.size(); i-- > 0;) {
    if (std::find(uids.begin(), uids.end(), vis[i]->uid) != uids.end()) {
      m_out += "* " + std::to_string(i + 1) + " EXPUNGE\r\n";
    }
  }
  std::erase_if(mb.messages, [&](const Message& m) {
    return std::find(uids.begin(), uids.end(), m.uid) != uids.end();
  });
  if (!uids.empty()) {
    ++mb.highestmodseq;
  }
}

void Session::cmd_expunge(const std::string& tag, const std::string* set) {
  if (m_read_only) {
    m_out += tag + " NO [READ-ONLY] mailbox is read-only\r\n";
    return;
  }
  Mailbox& mb = m_model.mailboxes.at(m_selected);
  std::vector<std::uint32_t> gone;
  if (set != nullptr) {
    for (auto [seq, m] : match(mb, *set)) {
      if (m->flags.count("\\Deleted") != 0) {
        gone.push_back(m->uid);
      }
    }
  } else {
    for (Message* m : visible(mb)) {
      if (m->flags.count("\\Deleted") != 0) {
        gone.push_back(m->uid);
      }
    }
  }
  send_expunged(mb, gone);
  m_out += tag + " OK expunged\r\n";
}

void Session::cmd_copy(const std::string& tag, const std::vector<Token>& args, bool move) {
  if (move && m_read_only) {
    m_out += tag + " NO [READ-ONLY] mailbox is read-only\r\n";
    return;
  }
  auto target = m_model.mailboxes.find(model_name(args[1].text).value_or(""));
  if (target == m_model.mailboxes.end()) {
    m_out += tag + " NO [TRYCREATE] no such mailbox\r\n";
    return;
  }
  if (m_model.quirks.read_only.count(target->first) != 0) {
    m_out += tag + " NO [NOPERM] target is read-only\r\n";
    return;
  }
  Mailbox& mb = m_model.mailboxes.at(m_selected);
  std::vector<std::uint32_t> sources;
  std::vector<std::uint32_t> targets;
  for (auto [seq, m] : match(mb, args[0].text)) {
    Message copy = *m;
    copy.uid = target->second.uidnext++;
    copy.appended_in = 0;
    target->second.touch(copy);
    sources.push_back(m->uid);
    targets.push_back(copy.uid);
    target->second.messages.push_back(std::move(copy));
  }
  std::string code;
  if (m_model.quirks.uidplus && !sources.empty()) {
    code = "[COPYUID " + std::to_string(target->second.uidvalidity) + " " + format_set(sources) +
           " " + format_set(targets) + "] ";
  }
  if (move) {
    if (!code.empty()) {
      m_out += "* OK " + code + "moved\r\n";
    }
    send_expunged(mb, sources);
    m_out += tag + " OK moved\r\n";
  } else {
    m_out += tag + " OK " + code + "copied\r\n";
  }
}

void Session::cmd_append(const std::string& tag, const std::vector<Token>& args) {
  // APPEND mailbox 1*([flags] [date] literal): more than one message only
  // with MULTIAPPEND, and then all are stored or none (RFC 3502).
  struct Appended {
    std::set<std::string> flags;
    std::string date = "01-Jan-2020 00:00:00 +0000";
    std::string raw;
  };
  std::vector<Appended> messages;
  if (args.size() < 2 || args[0].kind == Token::Kind::List) {
    bad(tag, "APPEND", "malformed APPEND");
    return;
  }
  Appended current;
  bool has_flags = false;
  bool has_date = false;
  for (std::size_t i = 1; i < args.size(); ++i) {
    const Token& t = args[i];
    if (t.kind == Token::Kind::List && !has_flags && !has_date) {
      for (const auto& f : t.items) {
        current.flags.insert(f.text);
      }
      has_flags = true;
    } else if (t.kind == Token::Kind::String && !t.literal && !has_date && t.text.size() == 26) {
      current.date = t.text;
      has_date = true;
    } else if (t.kind == Token::Kind::String && t.literal) {
      current.raw = t.text;
      messages.push_back(std::move(current));
      current = Appended{};
      has_flags = false;
      has_date = false;
    } else {
      bad(tag, "APPEND", "malformed APPEND argument");
      return;
    }
  }
  if (messages.empty() || has_flags || has_date) {
    bad(tag, "APPEND", "malformed APPEND");
    return;
  }
  if (messages.size() > 1 && !m_model.quirks.multiappend) {
    bad(tag, "APPEND", "MULTIAPPEND used but not advertised");
    return;
  }
  auto it = m_model.mailboxes.find(model_name(args[0].text).value_or(""));
  if (it == m_model.mailboxes.end()) {
    m_out += tag + " NO [TRYCREATE] no such mailbox\r\n";
    return;
  }
  if (m_model.quirks.read_only.count(it->first) != 0) {
    m_out += tag + " NO [NOPERM] mailbox is read-only\r\n";
    return;
  }
  for (const auto& m : messages) {
    if (m.raw.empty()) {
      // A zero-length literal cancels a MULTIAPPEND; roam never sends one.
      bad(tag, "APPEND", "empty message");
      return;
    }
  }
  std::vector<std::uint32_t> uids;
  for (auto& m : messages) {
    if (m_model.quirks.rewrite_8bit) {
      std::size_t end = m.raw.find("\r\n\r\n");
      end = end == std::string::npos ? m.raw.size() : end;
      for (std::size_t i = 0; i < end; ++i) {
        if (static_cast<unsigned char>(m.raw[i]) >= 0x80) {
          m.raw[i] = 'X';
        }
      }
    }
    m.flags.erase("\\Recent");
    uids.push_back(m_model.deliver(it->first, m.raw, m.flags, m.date));
    it->second.messages.back().appended_in = m_id;
  }
  if (it->first == m_selected && !(m_model.quirks.hide_appended)) {
    m_out += "* " + std::to_string(visible(it->second).size()) + " EXISTS\r\n";
  }
  if (m_model.quirks.uidplus) {
    std::string set = std::to_string(uids.front());
    if (uids.size() > 1) {
      set += ":" + std::to_string(uids.back());
    }
    m_out += tag + " OK [APPENDUID " + std::to_string(it->second.uidvalidity) + " " + set +
             "] appended\r\n";
  } else {
    m_out += tag + " OK appended\r\n";
  }
}

void Session::cmd_search(const std::string& tag, const std::vector<Token>& args,
                         const std::string& line) {
  // The search keys are ANDed (RFC 3501 §6.4.4); only flag keys and UID
  // sets are modelled, which is all roam uses.
  Mailbox& mb = m_model.mailboxes.at(m_selected);
  std::vector<std::pair<std::size_t, Message*>> found = match(mb, "1:*");
  std::size_t first = 0;
  bool esearch = false;
  if (!args.empty() && upper(args[0].text) == "RETURN" && args[0].kind == Token::Kind::Atom) {
    // Only RETURN (ALL) is modelled (RFC 4731 §3.1), which is all roam uses.
    if (!m_model.quirks.esearch || args.size() < 2 || args[1].kind != Token::Kind::List ||
        args[1].items.size() != 1 || upper(args[1].items[0].text) != "ALL") {
      bad(tag, line, "unmodelled SEARCH RETURN");
      return;
    }
    esearch = true;
    first = 2;
  }
  static const std::map<std::string, std::pair<std::string, bool>> k_flag_keys = {
      {"DELETED", {"\\Deleted", true}},   {"UNDELETED", {"\\Deleted", false}},
      {"SEEN", {"\\Seen", true}},         {"UNSEEN", {"\\Seen", false}},
      {"FLAGGED", {"\\Flagged", true}},   {"UNFLAGGED", {"\\Flagged", false}},
      {"ANSWERED", {"\\Answered", true}}, {"DRAFT", {"\\Draft", true}}};
  for (std::size_t i = first; i < args.size(); ++i) {
    std::string key = upper(args[i].text);
    if (args[i].kind != Token::Kind::Atom) {
      bad(tag, line, "unmodelled SEARCH");
      return;
    }
    if (key == "ALL") {
      continue;
    }
    if (key == "UID" && i + 1 < args.size()) {
      auto in_set = match(mb, args[++i].text);
      std::erase_if(found, [&](const auto& f) {
        return std::none_of(in_set.begin(), in_set.end(),
                            [&](const auto& g) { return g.second == f.second; });
      });
      continue;
    }
    auto it = k_flag_keys.find(key);
    if (it == k_flag_keys.end()) {
      bad(tag, line, "unmodelled SEARCH");
      return;
    }
    const auto& [flag, wanted] = it->second;
    std::erase_if(found,
                  [&](const auto& f) { return (f.second->flags.count(flag) != 0) != wanted; });
  }
  if (esearch) {
    // The UIDs as a sequence-set (found is in sequence order, and UIDs
    // ascend with it).
    m_out += "* ESEARCH (TAG \"" + tag + "\") UID";
    std::vector<std::uint32_t> uids;
    for (auto [seq, m] : found) {
      uids.push_back(m->uid);
    }
    if (!uids.empty()) {
      m_out += " ALL ";
      m_out += format_set(uids);
    }
    m_out += "\r\n" + tag + " OK searched\r\n";
    return;
  }
  m_out += "* SEARCH";
  for (auto [seq, m] : found) {
    m_out += " " + std::to_string(m->uid);
  }
  m_out += "\r\n" + tag + " OK searched\r\n";
}

}  // namespace roam::sim
