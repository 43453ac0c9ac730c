#include "imap/response.hpp"

#include <algorithm>
#include <ostream>
#include <stdexcept>
#include <string>
#include <type_traits>

#include "imap/parse_error.hpp"

namespace roam::imap {

namespace {

// How much of a message body a printer shows; the size is always printed.
constexpr std::size_t k_max_printed_data = 60;

std::string quoted(std::string_view text, std::size_t max_chars = 200) {
  return "\"" + escape_for_log(text, 0, max_chars) + "\"";
}

std::string number_text(std::uint32_t n) {
  return n == k_star ? "*" : std::to_string(n);
}

void print_list(std::ostream& os, const std::vector<std::string>& items) {
  os << '(';
  for (std::size_t i = 0; i < items.size(); ++i) {
    os << (i == 0 ? "" : " ") << escape_for_log(items[i]);
  }
  os << ')';
}

void print_numbers(std::ostream& os, const std::vector<std::uint32_t>& numbers) {
  os << '(';
  for (std::size_t i = 0; i < numbers.size(); ++i) {
    os << (i == 0 ? "" : " ") << numbers[i];
  }
  os << ')';
}

template <typename T>
void print_optional(std::ostream& os, const char* name, const std::optional<T>& value) {
  if (value) {
    os << ' ' << name << '=' << *value;
  }
}

const char* status_name(StatusResponse::Status status) {
  switch (status) {
    case StatusResponse::Status::Ok:
      return "OK";
    case StatusResponse::Status::No:
      return "NO";
    case StatusResponse::Status::Bad:
      return "BAD";
    case StatusResponse::Status::Preauth:
      return "PREAUTH";
    case StatusResponse::Status::Bye:
      return "BYE";
  }
  return "?";
}

}  // namespace

std::vector<std::uint32_t> expand(const NumberSet& set, std::size_t limit) {
  std::uint64_t total = 0;
  for (const Range& range : set) {
    if (range.first == k_star || range.last == k_star) {
      throw std::invalid_argument("cannot expand sequence-set \"" + format_set(set) +
                                  "\": it contains '*'");
    }
    if (range.first == 0 || range.last == 0) {
      throw std::invalid_argument("cannot expand sequence-set \"" + format_set(set) +
                                  "\": 0 is not a message number");
    }
    std::uint32_t low = std::min(range.first, range.last);
    std::uint32_t high = std::max(range.first, range.last);
    total += std::uint64_t{high} - low + 1;
    if (total > limit) {
      throw std::invalid_argument("cannot expand sequence-set \"" + format_set(set) +
                                  "\": more than " + std::to_string(limit) + " members");
    }
  }
  std::vector<std::uint32_t> numbers;
  numbers.reserve(static_cast<std::size_t>(total));
  for (const Range& range : set) {
    std::uint32_t low = std::min(range.first, range.last);
    std::uint32_t high = std::max(range.first, range.last);
    for (std::uint32_t n = low;; ++n) {
      numbers.push_back(n);
      if (n == high) {
        break;
      }
    }
  }
  std::sort(numbers.begin(), numbers.end());
  numbers.erase(std::unique(numbers.begin(), numbers.end()), numbers.end());
  return numbers;
}

std::string format_set(const std::vector<std::uint32_t>& sorted_numbers) {
  std::string out;
  std::size_t i = 0;
  while (i < sorted_numbers.size()) {
    std::uint32_t first = sorted_numbers[i];
    std::uint32_t last = first;
    ++i;
    while (i < sorted_numbers.size()) {
      std::uint32_t next = sorted_numbers[i];
      if (next < last) {
        throw std::invalid_argument("cannot format a sequence-set: " + std::to_string(next) +
                                    " follows " + std::to_string(last) +
                                    " but numbers must be ascending");
      }
      if (next > last + std::uint64_t{1}) {
        break;
      }
      last = next;  // Either the next number of the run or a duplicate.
      ++i;
    }
    if (!out.empty()) {
      out += ',';
    }
    out += number_text(first);
    if (last != first) {
      out += ':' + number_text(last);
    }
  }
  return out;
}

std::string format_set(const NumberSet& set) {
  std::string out;
  for (const Range& range : set) {
    if (!out.empty()) {
      out += ',';
    }
    out += number_text(range.first);
    if (range.last != range.first) {
      out += ':' + number_text(range.last);
    }
  }
  return out;
}

std::ostream& operator<<(std::ostream& os, const Range& r) {
  os << number_text(r.first);
  if (r.last != r.first) {
    os << ':' << number_text(r.last);
  }
  return os;
}

std::ostream& operator<<(std::ostream& os, const ResponseCode& c) {
  os << '[' << escape_for_log(c.name);
  switch (c.kind) {
    case ResponseCode::Kind::UidNext:
    case ResponseCode::Kind::UidValidity:
    case ResponseCode::Kind::Unseen:
    case ResponseCode::Kind::HighestModSeq:
    case ResponseCode::Kind::AppendUid:
    case ResponseCode::Kind::CopyUid:
      os << ' ' << c.number;
      break;
    default:
      if (c.number != 0) {
        os << " number=" << c.number;
      }
      break;
  }
  if (!c.atoms.empty()) {
    os << ' ';
    print_list(os, c.atoms);
  }
  if (!c.set.empty()) {
    os << ' ' << format_set(c.set);
  }
  if (!c.set2.empty()) {
    os << ' ' << format_set(c.set2);
  }
  if (!c.text.empty()) {
    os << ' ' << quoted(c.text);
  }
  if (c.kind == ResponseCode::Kind::Other) {
    os << " (other)";
  }
  return os << ']';
}

std::ostream& operator<<(std::ostream& os, const StatusResponse& r) {
  os << "StatusResponse{" << (r.tag.empty() ? "*" : escape_for_log(r.tag)) << ' '
     << status_name(r.status);
  if (r.code) {
    os << ' ' << *r.code;
  }
  return os << ' ' << quoted(r.text) << '}';
}

std::ostream& operator<<(std::ostream& os, const Continuation& r) {
  return os << "Continuation{" << quoted(r.text) << '}';
}

std::ostream& operator<<(std::ostream& os, const CapabilityData& r) {
  os << "CapabilityData{";
  print_list(os, r.capabilities);
  return os << '}';
}

std::ostream& operator<<(std::ostream& os, const EnabledData& r) {
  os << "EnabledData{";
  print_list(os, r.capabilities);
  return os << '}';
}

std::ostream& operator<<(std::ostream& os, const ListData& r) {
  os << "ListData{";
  print_list(os, r.attributes);
  os << ' ';
  if (r.delimiter) {
    os << quoted(std::string(1, *r.delimiter));
  } else {
    os << "NIL";
  }
  return os << ' ' << quoted(r.mailbox) << '}';
}

std::ostream& operator<<(std::ostream& os, const StatusData& r) {
  os << "StatusData{" << quoted(r.mailbox);
  print_optional(os, "messages", r.messages);
  print_optional(os, "recent", r.recent);
  print_optional(os, "uidnext", r.uidnext);
  print_optional(os, "uidvalidity", r.uidvalidity);
  print_optional(os, "unseen", r.unseen);
  print_optional(os, "highestmodseq", r.highestmodseq);
  print_optional(os, "size", r.size);
  return os << '}';
}

std::ostream& operator<<(std::ostream& os, const FlagsData& r) {
  os << "FlagsData{";
  print_list(os, r.flags);
  return os << '}';
}

std::ostream& operator<<(std::ostream& os, const NumberData& r) {
  const char* kind = "EXISTS";
  if (r.kind == NumberData::Kind::Recent) {
    kind = "RECENT";
  } else if (r.kind == NumberData::Kind::Expunge) {
    kind = "EXPUNGE";
  }
  return os << "NumberData{" << r.number << ' ' << kind << '}';
}

std::ostream& operator<<(std::ostream& os, const BodySection& r) {
  os << "BODY[" << escape_for_log(r.section) << ']';
  if (r.origin) {
    os << '<' << *r.origin << '>';
  }
  if (r.nil) {
    return os << " NIL";
  }
  os << ' ' << r.size << " octets";
  if (r.streamed) {
    return os << " streamed";
  }
  return os << ' ' << quoted(r.data, k_max_printed_data);
}

std::ostream& operator<<(std::ostream& os, const FetchData& r) {
  os << "FetchData{" << r.seq;
  print_optional(os, "uid", r.uid);
  if (r.flags) {
    os << " flags=";
    print_list(os, *r.flags);
  }
  print_optional(os, "rfc822_size", r.rfc822_size);
  print_optional(os, "modseq", r.modseq);
  if (r.internaldate) {
    os << " internaldate=" << quoted(*r.internaldate);
  }
  for (const BodySection& section : r.sections) {
    os << ' ' << section;
  }
  return os << '}';
}

std::ostream& operator<<(std::ostream& os, const SearchData& r) {
  os << "SearchData{";
  print_numbers(os, r.numbers);
  print_optional(os, "modseq", r.modseq);
  return os << '}';
}

std::ostream& operator<<(std::ostream& os, const ESearchData& r) {
  os << "ESearchData{tag=" << quoted(r.tag);
  if (r.uid) {
    os << " UID";
  }
  print_optional(os, "min", r.min);
  print_optional(os, "max", r.max);
  print_optional(os, "count", r.count);
  if (!r.all.empty()) {
    os << " all=" << format_set(r.all);
  }
  print_optional(os, "modseq", r.modseq);
  return os << '}';
}

std::ostream& operator<<(std::ostream& os, const VanishedData& r) {
  os << "VanishedData{";
  if (r.earlier) {
    os << "(EARLIER) ";
  }
  return os << format_set(r.uids) << '}';
}

std::ostream& operator<<(std::ostream& os, const Namespace& r) {
  os << '(' << quoted(r.prefix) << ' ';
  if (r.delimiter) {
    os << quoted(std::string(1, *r.delimiter));
  } else {
    os << "NIL";
  }
  return os << ')';
}

std::ostream& operator<<(std::ostream& os, const NamespaceData& r) {
  os << "NamespaceData{";
  const std::vector<Namespace>* groups[] = {&r.personal, &r.other_users, &r.shared};
  for (std::size_t g = 0; g < 3; ++g) {
    os << (g ? " " : "");
    if (groups[g]->empty()) {
      os << "NIL";
      continue;
    }
    os << '(';
    for (const Namespace& n : *groups[g]) {
      os << n;
    }
    os << ')';
  }
  return os << '}';
}

std::ostream& operator<<(std::ostream& os, const OtherData& r) {
  return os << "OtherData{" << escape_for_log(r.name) << '}';
}

std::ostream& operator<<(std::ostream& os, const Response& r) {
  std::visit([&os](const auto& value) { os << value; }, r);
  return os;
}

}  // namespace roam::imap
