#include "sync/folder_names.hpp"

#include <exception>
#include <utility>

#include "imap/lexer.hpp"
#include "imap/parse_error.hpp"
#include "imap/utf7.hpp"

namespace roam::sync {

std::string decode_mailbox_name(const std::string& wire) {
  try {
    return imap::utf7_decode(wire);
  } catch (const std::exception&) {
    return wire;
  }
}

FolderNames::FolderNames(std::string wire_prefix, char delimiter)
    : m_prefix(std::move(wire_prefix)), m_delimiter(delimiter) {}

std::string to_string(Unmapped why) {
  switch (why) {
    case Unmapped::OutsideNamespace:
      return "it is outside the personal namespace";
    case Unmapped::PrefixItself:
      return "it is the namespace prefix itself";
    case Unmapped::WouldBeInbox:
      return "without the namespace prefix its name would be INBOX";
  }
  return "it has no local name";
}

std::optional<std::string> FolderNames::local_name(const std::string& wire, Unmapped* why) const {
  // The parser spells INBOX in capitals however the server did.
  if (!strips() || wire == "INBOX") {
    return decode_mailbox_name(wire);
  }
  auto refuse = [&](Unmapped reason) -> std::optional<std::string> {
    if (why != nullptr) {
      *why = reason;
    }
    return std::nullopt;
  };
  if (wire == m_prefix) {
    return refuse(Unmapped::PrefixItself);
  }
  if (wire.size() < m_prefix.size() || wire.compare(0, m_prefix.size(), m_prefix) != 0) {
    return refuse(Unmapped::OutsideNamespace);
  }
  std::string local = decode_mailbox_name(wire.substr(m_prefix.size()));
  if (imap::iequals(local, "INBOX")) {
    return refuse(Unmapped::WouldBeInbox);
  }
  return local;
}

std::optional<std::string> FolderNames::wire_name(const std::string& local) const {
  std::string encoded;
  try {
    encoded = imap::utf7_encode(local);
  } catch (const std::exception&) {
    return std::nullopt;
  }
  if (!strips() || imap::iequals(local, "INBOX")) {
    return encoded;
  }
  return m_prefix + encoded;
}

NamespaceChoice choose_namespace(const std::optional<imap::NamespaceData>& reply) {
  NamespaceChoice choice;
  if (!reply || reply->personal.empty() || reply->personal.front().prefix.empty()) {
    return choice;
  }
  const imap::Namespace& ns = reply->personal.front();
  auto keep_names = [&](const std::string& reason) {
    choice.notice = "the server's personal namespace prefix \"" + imap::escape_for_log(ns.prefix) +
                    "\" " + reason +
                    "; folder names are kept as the server lists them, prefix included "
                    "(use_namespace = no says the same without this notice)";
    return choice;
  };
  if (ns.prefix.size() > k_max_namespace_prefix) {
    return keep_names("is longer than " + std::to_string(k_max_namespace_prefix) + " octets");
  }
  for (char c : ns.prefix) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) {
      return keep_names("holds a control character");
    }
  }
  if (!ns.delimiter) {
    return keep_names("has no hierarchy delimiter (NIL)");
  }
  if (ns.prefix.back() != *ns.delimiter) {
    return keep_names("does not end in its hierarchy delimiter \"" +
                      imap::escape_for_log(std::string(1, *ns.delimiter)) + "\"");
  }
  choice.names = FolderNames(ns.prefix, *ns.delimiter);
  return choice;
}

}  // namespace roam::sync
