#include "imap/parser.hpp"

#include <array>
#include <string>
#include <string_view>
#include <utility>

#include "imap/lexer.hpp"

namespace roam::imap {

namespace {

using CodeKind = ResponseCode::Kind;
using Status = StatusResponse::Status;

struct CodeName {
  std::string_view name;
  CodeKind kind;
};

// Every response code roam knows by name (response.hpp lists the RFCs).
constexpr std::array<CodeName, 37> k_code_names = {{
    {"ALERT", CodeKind::Alert},
    {"BADCHARSET", CodeKind::BadCharset},
    {"CAPABILITY", CodeKind::Capability},
    {"PARSE", CodeKind::Parse},
    {"PERMANENTFLAGS", CodeKind::PermanentFlags},
    {"READ-ONLY", CodeKind::ReadOnly},
    {"READ-WRITE", CodeKind::ReadWrite},
    {"TRYCREATE", CodeKind::TryCreate},
    {"UIDNEXT", CodeKind::UidNext},
    {"UIDVALIDITY", CodeKind::UidValidity},
    {"UNSEEN", CodeKind::Unseen},
    {"APPENDUID", CodeKind::AppendUid},
    {"COPYUID", CodeKind::CopyUid},
    {"UIDNOTSTICKY", CodeKind::UidNotSticky},
    {"HIGHESTMODSEQ", CodeKind::HighestModSeq},
    {"NOMODSEQ", CodeKind::NoModSeq},
    {"MODIFIED", CodeKind::Modified},
    {"CLOSED", CodeKind::Closed},
    {"TOOBIG", CodeKind::TooBig},
    {"MAILBOXID", CodeKind::MailboxId},
    {"AUTHENTICATIONFAILED", CodeKind::AuthenticationFailed},
    {"AUTHORIZATIONFAILED", CodeKind::AuthorizationFailed},
    {"EXPIRED", CodeKind::Expired},
    {"PRIVACYREQUIRED", CodeKind::PrivacyRequired},
    {"UNAVAILABLE", CodeKind::Unavailable},
    {"NOPERM", CodeKind::NoPerm},
    {"INUSE", CodeKind::InUse},
    {"EXPUNGEISSUED", CodeKind::ExpungeIssued},
    {"CORRUPTION", CodeKind::Corruption},
    {"SERVERBUG", CodeKind::ServerBug},
    {"CLIENTBUG", CodeKind::ClientBug},
    {"CANNOT", CodeKind::Cannot},
    {"LIMIT", CodeKind::Limit},
    {"OVERQUOTA", CodeKind::OverQuota},
    {"ALREADYEXISTS", CodeKind::AlreadyExists},
    {"NONEXISTENT", CodeKind::NonExistent},
    {"COMPRESSIONACTIVE", CodeKind::CompressionActive},
}};

CodeKind code_kind(std::string_view upper_name) {
  for (const CodeName& entry : k_code_names) {
    if (entry.name == upper_name) {
      return entry.kind;
    }
  }
  return CodeKind::Other;
}

// System flags are case-insensitive (RFC 3501 §2.3.2); returning them in one
// spelling spares every caller a case-insensitive comparison.
std::string canonical_flag(std::string flag) {
  static constexpr std::array<std::string_view, 6> k_system_flags = {
      "\\Answered", "\\Flagged", "\\Deleted", "\\Seen", "\\Draft", "\\Recent"};
  for (std::string_view system : k_system_flags) {
    if (iequals(flag, system)) {
      return std::string(system);
    }
  }
  return flag;
}

std::vector<std::string> canonical_flags(std::vector<std::string> flags) {
  for (std::string& flag : flags) {
    flag = canonical_flag(std::move(flag));
  }
  return flags;
}

class Parser {
 public:
  explicit Parser(const RawResponse& raw) : m_lx(raw) {}

  Response parse() {
    if (m_lx.try_consume('+')) {
      return parse_continuation();
    }
    if (m_lx.try_consume('*')) {
      m_lx.expect_space();
      return parse_untagged();
    }
    return parse_tagged();
  }

 private:
  Continuation parse_continuation() {
    // "+" alone and "+ " both occur (RFC 3501 requires the space; many
    // servers send a bare "+" for literal continuations).
    m_lx.try_consume(' ');
    return Continuation{m_lx.read_text()};
  }

  StatusResponse parse_tagged() {
    std::string tag = m_lx.read_tag();
    m_lx.expect_space();
    std::size_t start = m_lx.offset();
    std::string word = to_upper_ascii(m_lx.read_atom());
    Status status;
    if (word == "OK") {
      status = Status::Ok;
    } else if (word == "NO") {
      status = Status::No;
    } else if (word == "BAD") {
      status = Status::Bad;
    } else {
      m_lx.fail_at(start, "expected OK, NO or BAD");
    }
    return parse_status_rest(std::move(tag), status);
  }

  Response parse_untagged() {
    auto next = m_lx.peek();
    if (next && *next >= '0' && *next <= '9') {
      return parse_numbered();
    }
    std::string word = to_upper_ascii(m_lx.read_atom());
    if (word == "OK") {
      return parse_status_rest("", Status::Ok);
    }
    if (word == "NO") {
      return parse_status_rest("", Status::No);
    }
    if (word == "BAD") {
      return parse_status_rest("", Status::Bad);
    }
    if (word == "PREAUTH") {
      return parse_status_rest("", Status::Preauth);
    }
    if (word == "BYE") {
      return parse_status_rest("", Status::Bye);
    }
    if (word == "CAPABILITY") {
      return CapabilityData{read_capabilities()};
    }
    if (word == "ENABLED") {
      return EnabledData{read_capabilities()};
    }
    if (word == "LIST" || word == "LSUB") {
      return parse_list();
    }
    if (word == "STATUS") {
      return parse_status_data();
    }
    if (word == "FLAGS") {
      m_lx.expect_space();
      FlagsData data{canonical_flags(m_lx.read_flag_list())};
      m_lx.expect_end();
      return data;
    }
    if (word == "SEARCH") {
      return parse_search();
    }
    if (word == "ESEARCH") {
      return parse_esearch();
    }
    if (word == "VANISHED") {
      return parse_vanished();
    }
    if (word == "NAMESPACE") {
      return parse_namespace();
    }
    m_lx.skip_rest();
    return OtherData{word};
  }

  Response parse_numbered() {
    std::size_t number_start = m_lx.offset();
    std::uint32_t number = m_lx.read_number32();
    m_lx.expect_space();
    std::string word = to_upper_ascii(m_lx.read_atom());
    if (word == "EXISTS" || word == "RECENT") {
      m_lx.expect_end();
      return NumberData{word == "EXISTS" ? NumberData::Kind::Exists : NumberData::Kind::Recent,
                        number};
    }
    if (word == "EXPUNGE" || word == "FETCH") {
      // A sequence number 0 would shift or address nothing; it is a
      // server bug that must not reach the message list.
      if (number == 0) {
        m_lx.fail_at(number_start, "expected non-zero number");
      }
      if (word == "EXPUNGE") {
        m_lx.expect_end();
        return NumberData{NumberData::Kind::Expunge, number};
      }
      return parse_fetch(number);
    }
    m_lx.skip_rest();
    return OtherData{word};
  }

  StatusResponse parse_status_rest(std::string tag, Status status) {
    StatusResponse response;
    response.tag = std::move(tag);
    response.status = status;
    // "* OK" without any text is sent by some servers (Exchange, Courier).
    if (m_lx.at_end()) {
      return response;
    }
    m_lx.expect_space();
    if (m_lx.peek() == '[') {
      response.code = parse_code();
      m_lx.try_consume(' ');
    }
    response.text = m_lx.read_text();
    return response;
  }

  // The arguments of a code that takes none, or of an unknown code: the raw
  // text up to ']', kept so that it can be logged.
  std::string read_code_text() {
    std::string text;
    if (!m_lx.try_consume(' ')) {
      return text;
    }
    for (;;) {
      auto c = m_lx.peek();
      if (!c) {
        m_lx.fail("expected ']'");
      }
      if (*c == ']') {
        return text;
      }
      if (*c == '\r' || *c == '\n' || *c == '\0') {
        m_lx.fail("CR, LF or NUL in response code");
      }
      text += *c;
      m_lx.expect(*c);
    }
  }

  ResponseCode parse_code() {
    m_lx.expect('[');
    ResponseCode code;
    code.name = to_upper_ascii(m_lx.read_atom());
    code.kind = code_kind(code.name);
    switch (code.kind) {
      case CodeKind::Capability: {
        while (m_lx.skip_spaces() > 0 && m_lx.peek() != ']') {
          code.atoms.push_back(to_upper_ascii(m_lx.read_atom()));
        }
        break;
      }
      case CodeKind::PermanentFlags:
        m_lx.expect_space();
        code.atoms = canonical_flags(m_lx.read_flag_list());
        break;
      case CodeKind::BadCharset:
        if (m_lx.try_consume(' ')) {
          m_lx.expect('(');
          m_lx.skip_spaces();
          while (!m_lx.try_consume(')')) {
            code.atoms.push_back(read_astring_value());
            if (m_lx.skip_spaces() == 0 && m_lx.peek() != ')') {
              m_lx.fail("expected ')'");
            }
          }
        }
        break;
      case CodeKind::UidNext:
      case CodeKind::UidValidity:
      case CodeKind::Unseen:
        m_lx.expect_space();
        code.number = m_lx.read_number32();
        break;
      case CodeKind::HighestModSeq:
        m_lx.expect_space();
        code.number = m_lx.read_number();
        break;
      case CodeKind::AppendUid:
        m_lx.expect_space();
        code.number = m_lx.read_nz_number();
        m_lx.expect_space();
        code.set = m_lx.read_sequence_set(false);
        break;
      case CodeKind::CopyUid:
        m_lx.expect_space();
        code.number = m_lx.read_nz_number();
        m_lx.expect_space();
        code.set = m_lx.read_sequence_set(false);
        m_lx.expect_space();
        code.set2 = m_lx.read_sequence_set(false);
        break;
      case CodeKind::Modified:
        m_lx.expect_space();
        code.set = m_lx.read_sequence_set(true);
        break;
      case CodeKind::MailboxId:
        m_lx.expect_space();
        m_lx.expect('(');
        code.atoms.push_back(m_lx.read_atom());
        m_lx.expect(')');
        break;
      default:
        code.text = read_code_text();
        break;
    }
    m_lx.skip_spaces();
    m_lx.expect(']');
    return code;
  }

  // The value of a string that roam needs in memory (mailbox names, dates),
  // read at `start`: a streamed literal has no value to give.
  std::string need_value(std::size_t start, StringValue value) {
    if (value.streamed) {
      m_lx.fail_at(start, "a streamed literal cannot be used here");
    }
    return std::move(value.value);
  }

  std::string read_astring_value() {
    std::size_t start = m_lx.offset();
    return need_value(start, m_lx.read_astring());
  }

  std::string read_string_value() {
    std::size_t start = m_lx.offset();
    return need_value(start, m_lx.read_string());
  }

  // A header field name in a section's header list. It is an astring, but
  // read as an atom without ']' so that "(DATE]" is an error at the ']'
  // rather than a field named "DATE]".
  std::string read_header_name() {
    auto next = m_lx.peek();
    if (next == '"' || next == '{' || next == '~') {
      return read_string_value();
    }
    return m_lx.read_atom();
  }

  std::string read_mailbox() {
    std::string name = read_astring_value();
    if (iequals(name, "INBOX")) {
      return "INBOX";
    }
    return name;
  }

  std::vector<std::string> read_capabilities() {
    std::vector<std::string> capabilities;
    while (m_lx.skip_spaces() > 0 && !m_lx.at_end()) {
      capabilities.push_back(to_upper_ascii(m_lx.read_atom()));
    }
    m_lx.expect_end();
    return capabilities;
  }

  // A hierarchy delimiter as LIST and NAMESPACE send it: one quoted
  // character, or NIL for a flat namespace.
  std::optional<char> read_delimiter() {
    std::size_t start = m_lx.offset();
    if (m_lx.peek() == '"') {
      std::string delimiter = m_lx.read_quoted().value;
      if (delimiter.size() == 1) {
        return delimiter[0];
      }
      if (!delimiter.empty()) {
        m_lx.fail_at(start, "expected a one-character delimiter");
      }
      // An empty delimiter ("") is sent by a few servers for a flat
      // namespace; it means the same as NIL.
      return std::nullopt;
    }
    if (!iequals(m_lx.read_atom(), "NIL")) {
      m_lx.fail_at(start, "expected a quoted delimiter or NIL");
    }
    return std::nullopt;
  }

  // One of the three parts of a NAMESPACE response (RFC 2342 §5): NIL or
  // "(" 1*("(" string SP delimiter *(extension) ")") ")". An empty list
  // "()" is taken as NIL, and spaces between the descriptions are
  // tolerated; neither changes what the response says.
  std::vector<Namespace> read_namespace_group() {
    std::vector<Namespace> group;
    std::size_t start = m_lx.offset();
    if (!m_lx.try_consume('(')) {
      if (!iequals(m_lx.read_atom(), "NIL")) {
        m_lx.fail_at(start, "expected a namespace list or NIL");
      }
      return group;
    }
    m_lx.skip_spaces();
    while (!m_lx.try_consume(')')) {
      m_lx.expect('(');
      Namespace ns;
      ns.prefix = read_string_value();
      m_lx.expect_space();
      ns.delimiter = read_delimiter();
      // Namespace response extensions (RFC 2342 §6, RFC 5255 §3.4):
      // SP string SP "(" string *(SP string) ")". Nothing roam uses.
      while (m_lx.skip_spaces() > 0 && m_lx.peek() != ')') {
        read_string_value();
        m_lx.expect_space();
        if (m_lx.peek() != '(') {
          m_lx.fail("expected '(' after a namespace extension name");
        }
        m_lx.skip_list();
      }
      m_lx.expect(')');
      group.push_back(std::move(ns));
      m_lx.skip_spaces();
    }
    return group;
  }

  NamespaceData parse_namespace() {
    NamespaceData data;
    for (std::vector<Namespace>* group : {&data.personal, &data.other_users, &data.shared}) {
      m_lx.expect_space();
      *group = read_namespace_group();
    }
    m_lx.expect_end();
    return data;
  }

  ListData parse_list() {
    ListData data;
    m_lx.expect_space();
    data.attributes = m_lx.read_flag_list();
    m_lx.expect_space();
    data.delimiter = read_delimiter();
    m_lx.expect_space();
    data.mailbox = read_mailbox();
    // RFC 5258 extended data ("CHILDINFO", "OLDNAME") follows in a list.
    if (m_lx.skip_spaces() > 0 && m_lx.peek() == '(') {
      m_lx.skip_list();
    }
    m_lx.expect_end();
    return data;
  }

  StatusData parse_status_data() {
    StatusData data;
    m_lx.expect_space();
    data.mailbox = read_mailbox();
    m_lx.expect_space();
    m_lx.expect('(');
    m_lx.skip_spaces();
    while (!m_lx.try_consume(')')) {
      std::string item = to_upper_ascii(m_lx.read_atom());
      m_lx.expect_space();
      std::optional<std::uint64_t>* field = nullptr;
      if (item == "MESSAGES") {
        field = &data.messages;
      } else if (item == "RECENT") {
        field = &data.recent;
      } else if (item == "UIDNEXT") {
        field = &data.uidnext;
      } else if (item == "UIDVALIDITY") {
        field = &data.uidvalidity;
      } else if (item == "UNSEEN") {
        field = &data.unseen;
      } else if (item == "HIGHESTMODSEQ") {
        field = &data.highestmodseq;
      } else if (item == "SIZE") {
        field = &data.size;
      }
      if (field != nullptr) {
        *field = m_lx.read_number();
      } else {
        m_lx.skip_value();
      }
      if (m_lx.skip_spaces() == 0 && m_lx.peek() != ')') {
        m_lx.fail("expected ')'");
      }
    }
    m_lx.expect_end();
    return data;
  }

  SearchData parse_search() {
    SearchData data;
    while (m_lx.skip_spaces() > 0 && !m_lx.at_end()) {
      if (m_lx.try_consume('(')) {
        std::size_t start = m_lx.offset();
        if (!iequals(m_lx.read_atom(), "MODSEQ")) {
          m_lx.fail_at(start, "expected MODSEQ");
        }
        m_lx.expect_space();
        data.modseq = m_lx.read_number();
        m_lx.expect(')');
        break;
      }
      data.numbers.push_back(m_lx.read_nz_number());
    }
    m_lx.expect_end();
    return data;
  }

  ESearchData parse_esearch() {
    ESearchData data;
    bool more = m_lx.skip_spaces() > 0;
    if (more && m_lx.try_consume('(')) {
      std::size_t start = m_lx.offset();
      if (!iequals(m_lx.read_atom(), "TAG")) {
        m_lx.fail_at(start, "expected TAG");
      }
      m_lx.expect_space();
      data.tag = read_astring_value();
      m_lx.expect(')');
      more = m_lx.skip_spaces() > 0;
    }
    while (more && !m_lx.at_end()) {
      std::string item = to_upper_ascii(m_lx.read_atom());
      if (item == "UID") {
        data.uid = true;
      } else {
        m_lx.expect_space();
        if (item == "MIN") {
          data.min = m_lx.read_nz_number();
        } else if (item == "MAX") {
          data.max = m_lx.read_nz_number();
        } else if (item == "COUNT") {
          data.count = m_lx.read_number();
        } else if (item == "ALL") {
          data.all = m_lx.read_sequence_set(true);
        } else if (item == "MODSEQ") {
          data.modseq = m_lx.read_number();
        } else {
          m_lx.skip_value();
        }
      }
      more = m_lx.skip_spaces() > 0;
    }
    m_lx.expect_end();
    return data;
  }

  VanishedData parse_vanished() {
    VanishedData data;
    m_lx.expect_space();
    if (m_lx.try_consume('(')) {
      std::size_t start = m_lx.offset();
      if (!iequals(m_lx.read_atom(), "EARLIER")) {
        m_lx.fail_at(start, "expected EARLIER");
      }
      m_lx.expect(')');
      m_lx.expect_space();
      data.earlier = true;
    }
    data.uids = m_lx.read_sequence_set(false);
    m_lx.expect_end();
    return data;
  }

  // The section of BODY[...] or BINARY[...], upper-cased, with a header
  // list normalised to "HEADER.FIELDS (A B)" however the names were sent.
  std::string parse_section() {
    m_lx.expect('[');
    std::string section;
    while (auto c = m_lx.peek()) {
      bool ok = (*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') ||
                *c == '.' || *c == '-';
      if (!ok) {
        break;
      }
      section += *c;
      m_lx.expect(*c);
    }
    section = to_upper_ascii(section);
    if (m_lx.try_consume(' ')) {
      m_lx.expect('(');
      section += " (";
      m_lx.skip_spaces();
      bool first = true;
      while (!m_lx.try_consume(')')) {
        if (!first) {
          section += ' ';
        }
        first = false;
        section += to_upper_ascii(read_header_name());
        if (m_lx.skip_spaces() == 0 && m_lx.peek() != ')') {
          m_lx.fail("expected ')'");
        }
      }
      section += ')';
    }
    m_lx.expect(']');
    return section;
  }

  BodySection read_body_value(std::string section, std::optional<std::uint32_t> origin) {
    BodySection body;
    body.section = std::move(section);
    body.origin = origin;
    StringValue value = m_lx.read_nstring();
    if (value.encoding == Encoding::Nil) {
      body.nil = true;
    } else {
      body.streamed = value.streamed;
      body.size = value.size;
      body.data = std::move(value.value);
    }
    return body;
  }

  void parse_fetch_item(FetchData& data) {
    std::string name = to_upper_ascii(m_lx.read_item_name());
    std::optional<std::string> section;
    std::optional<std::uint32_t> origin;
    if (m_lx.peek() == '[') {
      section = parse_section();
      if (m_lx.try_consume('<')) {
        origin = m_lx.read_number32();
        m_lx.expect('>');
      }
    }
    m_lx.expect_space();
    if (section) {
      if (name == "BODY" || name == "BINARY") {
        data.sections.push_back(read_body_value(std::move(*section), origin));
      } else {
        // BINARY.SIZE[...] and unknown sectioned items.
        m_lx.skip_value();
      }
      return;
    }
    if (name == "UID") {
      data.uid = m_lx.read_nz_number();
    } else if (name == "FLAGS") {
      data.flags = canonical_flags(m_lx.read_flag_list());
    } else if (name == "RFC822.SIZE") {
      data.rfc822_size = m_lx.read_number();
    } else if (name == "MODSEQ") {
      m_lx.expect('(');
      data.modseq = m_lx.read_number();
      m_lx.expect(')');
    } else if (name == "INTERNALDATE") {
      data.internaldate = read_string_value();
    } else if (name == "RFC822") {
      data.sections.push_back(read_body_value("", std::nullopt));
    } else if (name == "RFC822.HEADER") {
      data.sections.push_back(read_body_value("HEADER", std::nullopt));
    } else if (name == "RFC822.TEXT") {
      data.sections.push_back(read_body_value("TEXT", std::nullopt));
    } else {
      // ENVELOPE, BODY, BODYSTRUCTURE, EMAILID, THREADID, X-GM-* and
      // anything unknown: checked for well-formedness and dropped.
      m_lx.skip_value();
    }
  }

  FetchData parse_fetch(std::uint32_t seq) {
    FetchData data;
    data.seq = seq;
    m_lx.expect_space();
    m_lx.expect('(');
    m_lx.skip_spaces();
    while (!m_lx.try_consume(')')) {
      parse_fetch_item(data);
      if (m_lx.skip_spaces() == 0 && m_lx.peek() != ')') {
        m_lx.fail("expected ')'");
      }
    }
    m_lx.expect_end();
    return data;
  }

  Lexer m_lx;
};

}  // namespace

Response parse_response(const RawResponse& raw) {
  return Parser(raw).parse();
}

}  // namespace roam::imap
