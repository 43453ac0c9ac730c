#include "imap/lexer.hpp"

#include <limits>
#include <string>

namespace roam::imap {

namespace {

// Literal sizes are 63-bit at most (RFC 9051 "number64"); anything above is
// hostile and would overflow size arithmetic further up.
constexpr std::uint64_t k_max_literal_size = std::numeric_limits<std::int64_t>::max();

bool is_ctl(char c) {
  auto u = static_cast<unsigned char>(c);
  return u < 0x20 || u == 0x7f;
}

// ATOM-CHAR (RFC 3501 §9): any CHAR except atom-specials. Octets above 0x7f
// are accepted: they cannot be mistaken for a delimiter.
bool is_atom_char(char c) {
  if (is_ctl(c)) {
    return false;
  }
  switch (c) {
    case '(':
    case ')':
    case '{':
    case ' ':
    case '%':
    case '*':
    case '"':
    case '\\':
    case ']':
      return false;
    default:
      return true;
  }
}

bool is_astring_char(char c) {
  return c == ']' || is_atom_char(c);
}

// The characters of a value skipped without interpretation: anything that
// cannot start or end another element. This covers atoms, numbers, flags
// ("\Seen", "\*") and sequence-sets ("1:*").
bool is_skip_token_char(char c) {
  if (is_ctl(c)) {
    return false;
  }
  switch (c) {
    case '(':
    case ')':
    case '{':
    case ' ':
    case '"':
      return false;
    default:
      return true;
  }
}

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

char to_upper(char c) {
  if (c >= 'a' && c <= 'z') {
    return static_cast<char>(c - 'a' + 'A');
  }
  return c;
}

}  // namespace

std::string to_upper_ascii(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    c = to_upper(c);
  }
  return out;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) {
    return false;
  }
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (to_upper(a[i]) != to_upper(b[i])) {
      return false;
    }
  }
  return true;
}

Lexer::Lexer(const RawResponse& raw) : m_raw(raw), m_text(raw.text) {}

std::optional<char> Lexer::peek() const {
  if (at_end()) {
    return std::nullopt;
  }
  return m_text[m_pos];
}

bool Lexer::try_consume(char c) {
  if (!at_end() && m_text[m_pos] == c) {
    ++m_pos;
    return true;
  }
  return false;
}

void Lexer::expect(char c) {
  if (!try_consume(c)) {
    fail(std::string("expected '") + c + "'");
  }
}

void Lexer::expect_space() {
  expect(' ');
}

std::size_t Lexer::skip_spaces() {
  std::size_t count = 0;
  while (try_consume(' ')) {
    ++count;
  }
  return count;
}

void Lexer::expect_end() {
  skip_spaces();
  if (!at_end()) {
    fail("expected end of response");
  }
}

std::string Lexer::read_atom() {
  std::size_t start = m_pos;
  while (!at_end() && is_atom_char(m_text[m_pos])) {
    ++m_pos;
  }
  if (m_pos == start) {
    fail("expected atom");
  }
  return std::string(m_text.substr(start, m_pos - start));
}

std::string Lexer::read_astring_atom() {
  return read_run([](char c) { return is_astring_char(c); }, "expected atom");
}

std::string Lexer::read_item_name() {
  return read_run([](char c) { return is_atom_char(c) && c != '['; }, "expected atom");
}

std::string Lexer::read_tag() {
  return read_run([](char c) { return is_astring_char(c) && c != '+'; }, "expected tag");
}

std::string Lexer::read_run(bool (*accept)(char), const char* what) {
  std::size_t start = m_pos;
  while (!at_end() && accept(m_text[m_pos])) {
    ++m_pos;
  }
  if (m_pos == start) {
    fail(what);
  }
  return std::string(m_text.substr(start, m_pos - start));
}

std::uint64_t Lexer::read_number() {
  std::size_t start = m_pos;
  constexpr std::uint64_t k_max = std::numeric_limits<std::uint64_t>::max();
  std::uint64_t value = 0;
  while (!at_end() && is_digit(m_text[m_pos])) {
    auto digit = static_cast<std::uint64_t>(m_text[m_pos] - '0');
    if (value > (k_max - digit) / 10) {
      fail_at(start, "number too large");
    }
    value = value * 10 + digit;
    ++m_pos;
  }
  if (m_pos == start) {
    fail("expected number");
  }
  return value;
}

std::uint32_t Lexer::read_number32() {
  std::size_t start = m_pos;
  std::uint64_t value = read_number();
  if (value > std::numeric_limits<std::uint32_t>::max()) {
    fail_at(start, "number too large for 32 bits");
  }
  return static_cast<std::uint32_t>(value);
}

std::uint32_t Lexer::read_nz_number() {
  std::size_t start = m_pos;
  std::uint32_t value = read_number32();
  if (value == 0) {
    fail_at(start, "expected non-zero number");
  }
  return value;
}

StringValue Lexer::read_quoted() {
  expect('"');
  StringValue result;
  result.encoding = Encoding::Quoted;
  for (;;) {
    if (at_end()) {
      fail("unterminated quoted string");
    }
    char c = m_text[m_pos];
    if (c == '"') {
      ++m_pos;
      break;
    }
    if (c == '\\') {
      if (m_pos + 1 >= m_text.size() || (m_text[m_pos + 1] != '"' && m_text[m_pos + 1] != '\\')) {
        fail("invalid escape in quoted string");
      }
      result.value += m_text[m_pos + 1];
      m_pos += 2;
      continue;
    }
    if (c == '\r' || c == '\n') {
      fail("CR or LF in quoted string");
    }
    if (c == '\0') {
      fail("NUL in quoted string");
    }
    result.value += c;
    ++m_pos;
  }
  result.size = result.value.size();
  return result;
}

std::optional<std::pair<std::size_t, std::uint64_t>> Lexer::probe_literal_marker(
    std::size_t offset) const {
  std::size_t pos = offset;
  if (pos < m_text.size() && m_text[pos] == '~') {
    ++pos;
  }
  if (pos >= m_text.size() || m_text[pos] != '{') {
    return std::nullopt;
  }
  ++pos;
  std::size_t digits_start = pos;
  std::uint64_t size = 0;
  while (pos < m_text.size() && is_digit(m_text[pos])) {
    auto digit = static_cast<std::uint64_t>(m_text[pos] - '0');
    if (size > (k_max_literal_size - digit) / 10) {
      return std::nullopt;
    }
    size = size * 10 + digit;
    ++pos;
  }
  if (pos == digits_start) {
    return std::nullopt;
  }
  if (pos < m_text.size() && m_text[pos] == '+') {
    ++pos;
  }
  if (m_text.substr(pos, 3) != "}\r\n") {
    return std::nullopt;
  }
  return std::make_pair(pos + 3, size);
}

const StreamedLiteral* Lexer::streamed_at(std::size_t offset) const {
  for (const StreamedLiteral& literal : m_raw.streamed) {
    if (literal.offset == offset) {
      return &literal;
    }
  }
  return nullptr;
}

StringValue Lexer::read_literal() {
  std::size_t start = m_pos;
  StringValue result;
  result.encoding = Encoding::Literal;
  if (try_consume('~')) {
    result.encoding = Encoding::Literal8;
  }
  expect('{');
  std::size_t size_start = m_pos;
  std::uint64_t size = read_number();
  if (size > k_max_literal_size) {
    fail_at(size_start, "literal size too large");
  }
  try_consume('+');
  expect('}');
  expect('\r');
  expect('\n');
  result.size = size;
  if (const StreamedLiteral* streamed = streamed_at(start)) {
    if (streamed->size != size) {
      fail_at(start, "streamed literal size does not match its marker");
    }
    result.streamed = true;
    return result;
  }
  if (size > m_text.size() - m_pos) {
    fail_at(start, "literal of " + std::to_string(size) + " octets is longer than the " +
                       std::to_string(m_text.size() - m_pos) + " octets that follow");
  }
  auto length = static_cast<std::size_t>(size);
  result.value = std::string(m_text.substr(m_pos, length));
  m_pos += length;
  return result;
}

bool Lexer::at_literal_start() const {
  if (at_end()) {
    return false;
  }
  if (m_text[m_pos] == '{') {
    return true;
  }
  return m_text[m_pos] == '~' && m_pos + 1 < m_text.size() && m_text[m_pos + 1] == '{';
}

StringValue Lexer::read_string() {
  if (peek() == '"') {
    return read_quoted();
  }
  if (at_literal_start()) {
    return read_literal();
  }
  fail("expected string");
}

StringValue Lexer::read_astring() {
  if (peek() == '"' || at_literal_start()) {
    return read_string();
  }
  StringValue result;
  result.encoding = Encoding::Atom;
  result.value = read_astring_atom();
  result.size = result.value.size();
  return result;
}

StringValue Lexer::read_nstring() {
  if (m_pos + 3 <= m_text.size() && iequals(m_text.substr(m_pos, 3), "NIL") &&
      (m_pos + 3 == m_text.size() || !is_astring_char(m_text[m_pos + 3]))) {
    m_pos += 3;
    StringValue result;
    result.encoding = Encoding::Nil;
    return result;
  }
  return read_string();
}

std::string Lexer::read_flag() {
  if (try_consume('\\')) {
    if (try_consume('*')) {
      return "\\*";
    }
    return "\\" + read_atom();
  }
  return read_atom();
}

std::vector<std::string> Lexer::read_flag_list() {
  expect('(');
  std::vector<std::string> flags;
  skip_spaces();
  while (!try_consume(')')) {
    flags.push_back(read_flag());
    if (skip_spaces() == 0 && peek() != ')') {
      fail("expected ')'");
    }
  }
  return flags;
}

NumberSet Lexer::read_sequence_set(bool allow_star) {
  auto read_seq_number = [&]() -> std::uint32_t {
    if (peek() == '*') {
      if (!allow_star) {
        fail("'*' is not allowed in a UID set");
      }
      ++m_pos;
      return k_star;
    }
    return read_nz_number();
  };
  NumberSet set;
  do {
    std::uint32_t first = read_seq_number();
    std::uint32_t last = first;
    if (try_consume(':')) {
      last = read_seq_number();
    }
    if (first > last) {
      std::swap(first, last);
    }
    set.push_back(Range{first, last});
  } while (try_consume(','));
  return set;
}

void Lexer::skip_value() {
  skip_value_at_depth(0);
}

void Lexer::skip_list() {
  if (peek() != '(') {
    fail("expected '('");
  }
  skip_value_at_depth(0);
}

void Lexer::skip_value_at_depth(int depth) {
  if (at_end()) {
    fail("expected value");
  }
  char c = m_text[m_pos];
  if (c == '(') {
    if (depth >= k_max_list_depth) {
      fail("lists nested too deeply");
    }
    ++m_pos;
    skip_spaces();
    while (!try_consume(')')) {
      skip_value_at_depth(depth + 1);
      // Body parts of a multipart BODYSTRUCTURE follow each other without a
      // space (RFC 3501 "body-type-mpart"), so '(' needs no separator.
      if (skip_spaces() == 0 && peek() != ')' && peek() != '(') {
        fail("expected ')'");
      }
    }
    return;
  }
  if (c == '"') {
    read_quoted();
    return;
  }
  if (at_literal_start()) {
    read_literal();
    return;
  }
  std::size_t start = m_pos;
  while (!at_end() && is_skip_token_char(m_text[m_pos])) {
    ++m_pos;
  }
  if (m_pos == start) {
    fail("expected value");
  }
}

std::string Lexer::read_text() {
  std::size_t end = m_text.size();
  while (end > m_pos && m_text[end - 1] == ' ') {
    --end;
  }
  for (std::size_t i = m_pos; i < end; ++i) {
    char c = m_text[i];
    if (c == '\r' || c == '\n' || c == '\0') {
      fail_at(i, "CR, LF or NUL in text");
    }
  }
  std::string text(m_text.substr(m_pos, end - m_pos));
  m_pos = m_text.size();
  return text;
}

void Lexer::skip_rest() {
  while (!at_end()) {
    char c = m_text[m_pos];
    if (c == '{' || c == '~') {
      if (probe_literal_marker(m_pos).has_value()) {
        // read_literal() checks the size against the remaining text and
        // the streamed list, exactly as for a literal in a known place.
        read_literal();
        continue;
      }
    }
    ++m_pos;
  }
}

void Lexer::fail(std::string_view reason) const {
  fail_at(m_pos, reason);
}

void Lexer::fail_at(std::size_t offset, std::string_view reason) const {
  throw ParseError(m_text, offset, reason);
}

}  // namespace roam::imap
