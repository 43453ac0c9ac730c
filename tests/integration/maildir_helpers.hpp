#pragma once

// Helpers shared by the integration tests that run the roam binary and then
// look at the Maildir it wrote: a test account with its local paths, running
// `roam sync` on it, building test messages, reading and writing files, and
// listing the message files of a local folder.
//
// Helpers that only one test file needs stay in that file.

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "dovecot.hpp"

namespace roam::it {

// One account of one test: its server user and its local paths, laid out as
// TestServer::write_config does (Mail and state beside the config file).
struct Account {
  std::string user;
  std::filesystem::path work;
  std::filesystem::path config;
  std::filesystem::path maildir;
  std::filesystem::path state;
};

// Takes a fresh server user and fills in the paths of its account, without
// writing the config file yet.
inline Account fresh_account() {
  const auto& server = TestServer::instance();
  Account account;
  account.user = server.fresh_user();
  account.work = server.work_dir(account.user);
  account.config = account.work / "roam.conf";
  account.maildir = account.work / "Mail";
  account.state = account.work / "state";
  return account;
}

// Takes a fresh account and writes its config file, with `extra_lines` added
// to the harness defaults (which they override).
inline Account make_account(const std::vector<std::string>& extra_lines = {}) {
  auto account = fresh_account();
  TestServer::instance().write_config(account.config, account.user, extra_lines);
  return account;
}

// Runs `roam sync` on the account's config, with `extra_args` after it.
inline ProcessResult sync(const Account& account, const std::vector<std::string>& extra_args = {},
                          std::chrono::milliseconds timeout = std::chrono::seconds(120)) {
  std::vector<std::string> args{"sync", "-c", account.config.string()};
  args.insert(args.end(), extra_args.begin(), extra_args.end());
  return run_roam(args, timeout);
}

// Deletes the server mailbox `mailbox` of `user` and creates it again with
// `messages` (each a text and its flags), as a restore or a migration does,
// so that every UID changes meaning. Fails the test fatally when Dovecot did
// not hand out a new UIDVALIDITY; call it inside ASSERT_NO_FATAL_FAILURE.
inline void rebuild_mailbox(
    const std::string& user, const std::string& mailbox,
    const std::vector<std::pair<std::string, std::vector<std::string>>>& messages) {
  const auto& server = TestServer::instance();
  const auto old_validity = server.mailbox_status(user, mailbox).uidvalidity;
  server.delete_mailbox(user, mailbox);
  server.create_mailbox(user, mailbox);
  for (const auto& [text, flags] : messages) {
    server.append(user, mailbox, text, flags);
  }
  ASSERT_NE(server.mailbox_status(user, mailbox).uidvalidity, old_validity)
      << "the test needs Dovecot to hand out a new UIDVALIDITY";
}

// Shows how a run ended and everything it printed, for failure messages.
inline std::string describe(const ProcessResult& result) {
  return "exit " + std::to_string(result.exit_code) + "\nstdout:\n" + result.out + "\nstderr:\n" +
         result.err;
}

// Builds a small RFC 5322 message whose Message-ID is <id@roam.test>, so that
// a copy on either side can be traced back to the message it came from.
inline std::string make_message(const std::string& id, const std::string& body = "Hello.\r\n") {
  return "From: Alice <alice@example.org>\r\n"
         "To: Bob <bob@example.net>\r\n"
         "Subject: message " +
         id +
         "\r\n"
         "Date: Mon, 1 Jan 2024 12:00:00 +0000\r\n"
         "Message-ID: <" +
         id +
         "@roam.test>\r\n"
         "\r\n" +
         body;
}

// Turns every CRLF of `text` into LF, as a Maildir file must hold it.
inline std::string crlf_to_lf(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\r' && i + 1 < text.size() && text[i + 1] == '\n') {
      continue;
    }
    out += text[i];
  }
  return out;
}

// Encodes `data` in standard base64 with padding (RFC 4648 §4), the form in
// which SASL sends credentials.
inline std::string base64(std::string_view data) {
  static constexpr char k_alphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::size_t i = 0;
  for (; i + 2 < data.size(); i += 3) {
    const auto n = (static_cast<unsigned>(static_cast<unsigned char>(data[i])) << 16U) |
                   (static_cast<unsigned>(static_cast<unsigned char>(data[i + 1])) << 8U) |
                   static_cast<unsigned>(static_cast<unsigned char>(data[i + 2]));
    out += k_alphabet[(n >> 18U) & 63U];
    out += k_alphabet[(n >> 12U) & 63U];
    out += k_alphabet[(n >> 6U) & 63U];
    out += k_alphabet[n & 63U];
  }
  if (i + 1 == data.size()) {
    const auto n = static_cast<unsigned>(static_cast<unsigned char>(data[i])) << 16U;
    out += k_alphabet[(n >> 18U) & 63U];
    out += k_alphabet[(n >> 12U) & 63U];
    out += "==";
  } else if (i + 2 == data.size()) {
    const auto n = (static_cast<unsigned>(static_cast<unsigned char>(data[i])) << 16U) |
                   (static_cast<unsigned>(static_cast<unsigned char>(data[i + 1])) << 8U);
    out += k_alphabet[(n >> 18U) & 63U];
    out += k_alphabet[(n >> 12U) & 63U];
    out += k_alphabet[(n >> 6U) & 63U];
    out += '=';
  }
  return out;
}

// Returns the whole content of the file at `path`, byte for byte (empty when
// it cannot be read).
inline std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// Replaces the content of the file at `path` with `content`, and throws when
// that fails.
inline void write_file(const std::filesystem::path& path, std::string_view content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
  out.close();
  if (!out) {
    throw std::runtime_error("cannot write " + path.string());
  }
}

// Creates a local Maildir folder as mutt or `mkdir -p X/{cur,new,tmp}` makes
// it, and returns its path.
inline std::filesystem::path make_local_folder(const std::filesystem::path& folder) {
  for (const char* subdir : {"cur", "new", "tmp"}) {
    std::filesystem::create_directories(folder / subdir);
  }
  return folder;
}

// Lists every entry in `folder`'s new/ and cur/ (tmp/ holds no messages), in
// directory order; a missing subdirectory counts as empty.
inline std::vector<std::filesystem::path> message_files(const std::filesystem::path& folder) {
  std::vector<std::filesystem::path> files;
  for (const char* sub : {"new", "cur"}) {
    std::error_code ec;
    for (std::filesystem::directory_iterator it(folder / sub, ec), end; !ec && it != end;
         it.increment(ec)) {
      files.push_back(it->path());
    }
  }
  return files;
}

// One message file of a local Maildir folder.
struct LocalFile {
  std::filesystem::path path;
  std::string subdir;       // "new" or "cur".
  std::string name;         // The whole file name.
  std::string stable_name;  // The name before ":2,".
  bool has_info = false;
  std::string letters;  // The letters after ":2," (as written).
  std::string content;
};

// Reads every message file in `folder`'s new/ and cur/ (regular files whose
// name does not start with a dot), sorted by path.
inline std::vector<LocalFile> local_files(const std::filesystem::path& folder) {
  std::vector<LocalFile> files;
  for (const char* subdir : {"new", "cur"}) {
    const auto dir = folder / subdir;
    if (!std::filesystem::is_directory(dir)) {
      continue;
    }
    for (const auto& entry : std::filesystem::directory_iterator(dir)) {
      const auto name = entry.path().filename().string();
      if (!entry.is_regular_file() || name.starts_with('.')) {
        continue;
      }
      LocalFile file;
      file.path = entry.path();
      file.subdir = subdir;
      file.name = name;
      const auto info = name.find(":2,");
      file.has_info = info != std::string::npos;
      file.stable_name = file.has_info ? name.substr(0, info) : name;
      file.letters = file.has_info ? name.substr(info + 3) : std::string();
      file.content = read_file(entry.path());
      files.push_back(std::move(file));
    }
  }
  std::sort(files.begin(), files.end(),
            [](const LocalFile& a, const LocalFile& b) { return a.path < b.path; });
  return files;
}

// Returns the local files whose content carries the Message-ID <id@roam.test>.
inline std::vector<LocalFile> files_with_id(const std::filesystem::path& folder,
                                            const std::string& id) {
  std::vector<LocalFile> found;
  for (auto& file : local_files(folder)) {
    if (file.content.find("Message-ID: <" + id + "@roam.test>") != std::string::npos) {
      found.push_back(std::move(file));
    }
  }
  return found;
}

// Returns the single local file of message `id`; fails the test (and returns
// nothing) when there is none or more than one.
inline std::optional<LocalFile> file_with_id(const std::filesystem::path& folder,
                                             const std::string& id) {
  auto found = files_with_id(folder, id);
  EXPECT_EQ(found.size(), 1U) << "message " << id << " in " << folder;
  if (found.size() != 1) {
    return std::nullopt;
  }
  return found.front();
}

// Renames a local message file to carry `letters` (sorted by the caller),
// moving it to cur/ as a mail reader does, and returns its new path.
inline std::filesystem::path set_local_letters(const LocalFile& file, const std::string& letters) {
  const auto folder = file.path.parent_path().parent_path();
  const auto target = folder / "cur" / (file.stable_name + ":2," + letters);
  std::filesystem::rename(file.path, target);
  return target;
}

}  // namespace roam::it
