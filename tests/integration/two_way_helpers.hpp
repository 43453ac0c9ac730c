#pragma once

// Helpers shared by the tests of two-way sync (`sync = both`): both_test.cpp
// and identity_test.cpp. They look at the server with doveadm (never over
// IMAP) and at the Maildir, and check the rule "a further run after any sync
// changes nothing on either side" (expect_further_run_changes_nothing).
//
// Helpers that only one test file needs stay in that file; the ones about a
// single account's Maildir are in maildir_helpers.hpp.

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "dovecot.hpp"
#include "maildir_helpers.hpp"

namespace roam::it {

// Takes a fresh account in two-way mode unless `extra_lines` say otherwise.
inline Account make_two_way_account(const std::vector<std::string>& extra_lines = {}) {
  std::vector<std::string> lines{"sync = both"};
  lines.insert(lines.end(), extra_lines.begin(), extra_lines.end());
  return make_account(lines);
}

inline std::vector<std::string> sorted(std::vector<std::string> items) {
  std::sort(items.begin(), items.end());
  return items;
}

// The flags of doveadm's `flags` field (space-separated), sorted, without
// the session-only \Recent.
inline std::vector<std::string> parse_flags(const std::string& text) {
  std::vector<std::string> flags;
  std::istringstream words(text);
  std::string flag;
  while (words >> flag) {
    if (flag != "\\Recent") {
      flags.push_back(flag);
    }
  }
  std::sort(flags.begin(), flags.end());
  return flags;
}

// One message of a server mailbox, with what doveadm says about it.
struct ServerCopy {
  std::uint32_t uid = 0;
  std::vector<std::string> flags;  // Sorted, without \Recent.
  std::uint64_t virtual_size = 0;  // With CRLF line ends (RFC822.SIZE).
  std::int64_t received = 0;       // INTERNALDATE, Unix time.
  std::string text;                // Header and body as stored (LF).
};

// Every message of `mailbox` in one doveadm call, by ascending UID (empty
// for a missing mailbox). The test messages are ASCII, so JSON output loses
// nothing.
inline std::vector<ServerCopy> server_messages(const std::string& user,
                                               const std::string& mailbox) {
  const auto& server = TestServer::instance();
  if (!server.is_dovecot()) {
    // The same fields over IMAP (tests/servers/imap-admin.py).
    std::vector<ServerCopy> messages;
    for (const auto& row : nlohmann::json::parse(server.imap_admin(user, {"fetch", mailbox}).out)) {
      ServerCopy copy;
      copy.uid = row.at("uid").get<std::uint32_t>();
      copy.flags = row.at("flags").get<std::vector<std::string>>();
      copy.virtual_size = row.at("size").get<std::uint64_t>();
      copy.received = row.at("received").get<std::int64_t>();
      copy.text = detail::from_latin1_json(row.at("text").get<std::string>());
      messages.push_back(std::move(copy));
    }
    return messages;
  }
  const auto json =
      nlohmann::json::parse(server
                                .doveadm({"-f", "json", "fetch", "-u", user,
                                          "uid flags size.virtual date.received.unixtime text",
                                          "mailbox", mailbox, "all"})
                                .out);
  std::vector<ServerCopy> messages;
  for (const auto& row : json) {
    ServerCopy copy;
    copy.uid = detail::to_uint32(row.at("uid"));
    copy.flags = parse_flags(row.at("flags").get<std::string>());
    copy.virtual_size = std::stoull(row.at("size.virtual").get<std::string>());
    copy.received = std::stoll(row.at("date.received.unixtime").get<std::string>());
    copy.text = row.at("text").get<std::string>();
    messages.push_back(std::move(copy));
  }
  std::sort(messages.begin(), messages.end(),
            [](const ServerCopy& a, const ServerCopy& b) { return a.uid < b.uid; });
  return messages;
}

// The single server copy of message `id` (Message-ID <id@roam.test>); fails
// the test (and returns nothing) when there is none or more than one.
inline std::optional<ServerCopy> server_copy(const std::string& user, const std::string& mailbox,
                                             const std::string& id) {
  std::vector<ServerCopy> found;
  for (auto& copy : server_messages(user, mailbox)) {
    if (copy.text.find("Message-ID: <" + id + "@roam.test>") != std::string::npos) {
      found.push_back(std::move(copy));
    }
  }
  EXPECT_EQ(found.size(), 1U) << "message " << id << " in server mailbox " << mailbox;
  if (found.size() != 1) {
    return std::nullopt;
  }
  return found.front();
}

// The test messages carry Message-ID <id@roam.test>; this returns the id,
// or "?" for a text without one.
inline std::string id_of(const std::string& text) {
  const auto start = text.find("Message-ID: <");
  if (start == std::string::npos) {
    return "?";
  }
  const auto from = start + std::string_view("Message-ID: <").size();
  return text.substr(from, text.find('@', from) - from);
}

// Message ids of a server mailbox or a local folder, sorted, duplicates
// kept: equal lists mean every message is there exactly once.
inline std::vector<std::string> server_ids(const std::string& user, const std::string& mailbox) {
  std::vector<std::string> ids;
  for (const auto& copy : server_messages(user, mailbox)) {
    ids.push_back(id_of(copy.text));
  }
  return sorted(std::move(ids));
}

// The same without the copies marked \Deleted: a server without UIDPLUS
// keeps what roam deleted or moved away marked, since no expunge is safe.
inline std::vector<std::string> live_server_ids(const std::string& user,
                                                const std::string& mailbox) {
  std::vector<std::string> ids;
  for (const auto& copy : server_messages(user, mailbox)) {
    if (std::find(copy.flags.begin(), copy.flags.end(), "\\Deleted") == copy.flags.end()) {
      ids.push_back(id_of(copy.text));
    }
  }
  return sorted(std::move(ids));
}

inline std::vector<std::string> local_ids(const std::filesystem::path& folder) {
  std::vector<std::string> ids;
  for (const auto& file : local_files(folder)) {
    ids.push_back(id_of(file.content));
  }
  return sorted(std::move(ids));
}

inline std::string render_world_over_imap(const Account& account, std::ostringstream& out);
inline void render_local_world(const Account& account, std::ostringstream& out);

// Everything a sync could change, on both sides, rendered as text so that a
// failing comparison shows the difference line by line: every server
// mailbox with its counters (HIGHESTMODSEQ moves on any flag change, UIDNEXT
// on any append, even one expunged again) and every message's UID, flags and
// size; every local file and directory with its size and a hash of its
// content.
inline std::string render_world(const Account& account) {
  namespace fs = std::filesystem;
  const auto& server = TestServer::instance();
  std::ostringstream out;
  if (!server.is_dovecot()) {
    return render_world_over_imap(account, out);
  }
  const auto status =
      nlohmann::json::parse(server
                                .doveadm({"-f", "json", "mailbox", "status", "-u", account.user,
                                          "uidvalidity uidnext messages highestmodseq", "*"})
                                .out);
  std::map<std::string, std::string> mailboxes;
  for (const auto& row : status) {
    mailboxes[row.at("mailbox").get<std::string>()] =
        "uidvalidity=" + row.at("uidvalidity").get<std::string>() +
        " uidnext=" + row.at("uidnext").get<std::string>() +
        " messages=" + row.at("messages").get<std::string>() +
        " highestmodseq=" + row.at("highestmodseq").get<std::string>();
  }
  const auto messages =
      nlohmann::json::parse(server
                                .doveadm({"-f", "json", "fetch", "-u", account.user,
                                          "mailbox uid flags size.virtual", "all"})
                                .out);
  std::map<std::string, std::map<std::uint32_t, std::string>> listing;
  for (const auto& row : messages) {
    std::string flags;
    for (const auto& flag : parse_flags(row.at("flags").get<std::string>())) {
      flags += " " + flag;
    }
    listing[row.at("mailbox").get<std::string>()][detail::to_uint32(row.at("uid"))] =
        "size " + row.at("size.virtual").get<std::string>() + " flags" + flags;
  }
  out << "server:\n";
  for (const auto& [name, counters] : mailboxes) {
    out << "  " << name << ": " << counters << "\n";
    for (const auto& [uid, line] : listing[name]) {
      out << "    uid " << uid << ": " << line << "\n";
    }
  }
  render_local_world(account, out);
  return out.str();
}

// The server part of render_world over IMAP for the servers other than
// Dovecot (tests/servers/imap-admin.py), the same text as doveadm gives.
inline std::string render_world_over_imap(const Account& account, std::ostringstream& out) {
  const auto& server = TestServer::instance();
  const auto status = nlohmann::json::parse(server.imap_admin(account.user, {"status-all"}).out);
  const auto messages =
      nlohmann::json::parse(server.imap_admin(account.user, {"fetch-all", "--no-text"}).out);
  out << "server:\n";
  for (const auto& row : status) {
    const auto name = row.at("mailbox").get<std::string>();
    out << "  " << name << ": uidvalidity=" << row.at("uidvalidity").get<std::uint32_t>()
        << " uidnext=" << row.at("uidnext").get<std::uint32_t>()
        << " messages=" << row.at("messages").get<std::uint32_t>()
        << " highestmodseq=" << row.at("highestmodseq").get<std::uint64_t>() << "\n";
    if (!messages.contains(name)) {
      continue;
    }
    for (const auto& message : messages.at(name)) {
      out << "    uid " << message.at("uid").get<std::uint32_t>() << ": size "
          << message.at("size").get<std::uint64_t>() << " flags";
      for (const auto& flag : message.at("flags")) {
        out << " " << flag.get<std::string>();
      }
      out << "\n";
    }
  }
  render_local_world(account, out);
  return out.str();
}

// The local part of render_world: every file and directory of the Maildir.
inline void render_local_world(const Account& account, std::ostringstream& out) {
  namespace fs = std::filesystem;
  out << "local:\n";
  if (fs::exists(account.maildir)) {
    std::vector<fs::path> paths;
    for (const auto& entry : fs::recursive_directory_iterator(account.maildir)) {
      paths.push_back(entry.path());
    }
    std::sort(paths.begin(), paths.end());
    for (const auto& path : paths) {
      const auto relative = path.lexically_relative(account.maildir).string();
      if (fs::is_directory(path)) {
        out << "  " << relative << "/\n";
      } else {
        const auto content = read_file(path);
        out << "  " << relative << " size " << content.size() << " hash " << std::hex
            << std::hash<std::string>{}(content) << std::dec << "\n";
      }
    }
  }
}

// How the further run of expect_further_run_changes_nothing must end.
enum class Exit { Ok, Fails, Any };

// The rule "a second run after any sync changes nothing on either side":
// runs roam once more and compares both sides before and after.
inline void expect_further_run_changes_nothing(const Account& account, Exit expected = Exit::Ok) {
  SCOPED_TRACE("a further run must change nothing");
  const auto before = render_world(account);
  const auto result = sync(account);
  if (expected == Exit::Ok) {
    EXPECT_EQ(result.exit_code, 0) << describe(result);
  } else if (expected == Exit::Fails) {
    EXPECT_NE(result.exit_code, 0) << describe(result);
  }
  EXPECT_EQ(render_world(account), before) << describe(result);
}

}  // namespace roam::it
