#pragma once

// Harness for integration tests that run the real roam binary against the
// private Dovecot that tests/dovecot/dovecot-ctl starts (the ctest fixture
// `dovecot`). The server accepts any user name with the one static password,
// so every test takes a user of its own (`fresh_user()`) and sees an empty
// mailbox tree: tests do not interfere and may run in parallel.
//
// The server is inspected and changed with `doveadm -c DIR/dovecot.conf`,
// never over IMAP, so a bug in roam's IMAP code cannot hide itself. Helpers
// throw std::runtime_error with doveadm's own message when a command fails.

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

extern char** environ;

namespace roam::it {

// --- Interface ---

// What a child process did: its exit code (128 + signal number when killed by
// a signal) and everything it wrote.
struct ProcessResult {
  int exit_code = -1;
  std::string out;
  std::string err;
  bool timed_out = false;
};

// Runs `argv` (argv[0] is looked up in PATH) with `input` as its stdin and
// waits for it; a child still running after `timeout` is killed.
ProcessResult run_process(const std::vector<std::string>& argv, std::string_view input = {},
                          std::chrono::milliseconds timeout = std::chrono::seconds(120));

// The roam binary under test: $ROAM_BINARY, else the path CMake compiled in.
std::filesystem::path roam_binary();

// Runs roam with `args` (for example {"sync", "-c", config}).
ProcessResult run_roam(const std::vector<std::string>& args,
                       std::chrono::milliseconds timeout = std::chrono::seconds(120));

// One message of a mailbox as the server sees it. Flags are sorted and never
// contain the session-only \Recent.
struct MessageFlags {
  std::uint32_t uid = 0;
  std::vector<std::string> flags;
  bool operator==(const MessageFlags&) const = default;
};

struct MailboxStatus {
  std::uint32_t uidvalidity = 0;
  std::uint32_t uidnext = 0;
  std::uint32_t messages = 0;
};

class TestServer {
 public:
  // Reads `dir`/env as written by `dovecot-ctl start`.
  explicit TestServer(std::filesystem::path dir);

  // The server of this test run: $ROAM_TEST_DOVECOT_DIR, else the directory
  // CMake compiled in. Throws when the server was not started.
  static const TestServer& instance();

  const std::filesystem::path& dir() const { return m_dir; }
  std::string host() const { return env("IMAP_HOST"); }
  int imap_port() const { return std::stoi(env("IMAP_PORT")); }
  int imaps_port() const { return std::stoi(env("IMAPS_PORT")); }
  // The default user ("alice"); tests should prefer fresh_user().
  std::string user() const { return env("IMAP_USER"); }
  std::string password() const { return env("IMAP_PASSWORD"); }
  // CA that signed the server certificate (localhost, 127.0.0.1) and the
  // wrong-host certificate (env TLS_WRONG_CERT / TLS_WRONG_KEY).
  std::filesystem::path ca_file() const { return env("CA_FILE"); }
  std::filesystem::path conf_file() const { return env("DOVECOT_CONF"); }
  std::filesystem::path mail_root() const { return env("MAIL_ROOT"); }
  // Any value of DIR/env; throws if `key` is missing.
  std::string env(const std::string& key) const;

  // A user for the current test alone, "t-<suite>-<test>[-<tag>]" (lower
  // case: Dovecot lower-cases user names), whose server mailboxes and work
  // directory are removed first, so a rerun starts empty too.
  std::string fresh_user(std::string_view tag = {}) const;
  // Same for an explicit name (outside a running gtest test).
  std::string fresh_user_named(std::string_view name) const;
  // An empty-at-first directory for the user's local files: DIR/work/<user>.
  std::filesystem::path work_dir(std::string_view user) const;

  // Server changes, via doveadm.
  void create_mailbox(const std::string& user, const std::string& mailbox) const;
  void delete_mailbox(const std::string& user, const std::string& mailbox) const;
  // Stores `message` (LF or CRLF line ends) and returns its new UID.
  std::uint32_t append(const std::string& user, const std::string& mailbox,
                       std::string_view message, const std::vector<std::string>& flags = {}) const;
  void add_flags(const std::string& user, const std::string& mailbox, std::uint32_t uid,
                 const std::vector<std::string>& flags) const;
  void remove_flags(const std::string& user, const std::string& mailbox, std::uint32_t uid,
                    const std::vector<std::string>& flags) const;
  void expunge(const std::string& user, const std::string& mailbox, std::uint32_t uid) const;

  // Server queries, via doveadm.
  std::vector<std::string> list_mailboxes(const std::string& user) const;
  // All messages of `mailbox` by ascending UID; empty for a missing mailbox.
  std::vector<MessageFlags> list_uids_and_flags(const std::string& user,
                                                const std::string& mailbox) const;
  // The whole message (header and body) as stored: LF line ends.
  std::string fetch_body(const std::string& user, const std::string& mailbox,
                         std::uint32_t uid) const;
  MailboxStatus mailbox_status(const std::string& user, const std::string& mailbox) const;

  // Writes a generated corpus straight into the user's Maildir++ tree with
  // tests/dovecot/seed.py; `args` are its options ({"--messages", "50",
  // "--folders", "3", "--flags"}). Run it before any client opens the user.
  void seed(const std::string& user, const std::vector<std::string>& args) const;

  // Runs `doveadm -c CONF args...`; throws unless it exits 0.
  ProcessResult doveadm(const std::vector<std::string>& args, std::string_view input = {}) const;

  // Writes a roam config (mode 0600) for `user`: account "test", the plain
  // port with tls = none and allow_plaintext = yes, maildir = DIR/Mail and
  // state_dir = DIR/state where DIR is `path`'s directory. Each "key = value"
  // line of `extra_lines` replaces the default of that key or adds it; other
  // lines, and all lines from the first "[section]" on, go in unchanged.
  void write_config(const std::filesystem::path& path, const std::string& user,
                    const std::vector<std::string>& extra_lines = {}) const;

 private:
  std::filesystem::path m_dir;
  std::map<std::string, std::string, std::less<>> m_env;
};

// --- Inline implementations ---

namespace detail {

inline std::string join(const std::vector<std::string>& parts, std::string_view separator) {
  std::string result;
  for (const auto& part : parts) {
    if (!result.empty()) {
      result += separator;
    }
    result += part;
  }
  return result;
}

inline std::string trim(std::string_view text) {
  const auto first = text.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos) {
    return {};
  }
  const auto last = text.find_last_not_of(" \t\r\n");
  return std::string(text.substr(first, last - first + 1));
}

inline std::uint32_t to_uint32(const nlohmann::json& value) {
  const auto text = value.is_string() ? value.get<std::string>() : value.dump();
  return static_cast<std::uint32_t>(std::stoul(text));
}

// A user name Dovecot keeps as it is: lower case, digits and '-'.
inline std::string sanitize_user(std::string_view name) {
  std::string result;
  for (const char c : name) {
    if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) {
      result += c;
    } else if (c >= 'A' && c <= 'Z') {
      result += static_cast<char>(c - 'A' + 'a');
    } else if (!result.empty() && result.back() != '-') {
      result += '-';
    }
  }
  while (!result.empty() && result.back() == '-') {
    result.pop_back();
  }
  constexpr std::size_t k_max_length = 80;
  if (result.size() > k_max_length) {
    // Keep names unique when cut: append a hash of the whole name.
    std::ostringstream hash;
    hash << std::hex << (std::hash<std::string_view>{}(name)&0xffffffffU);
    result = result.substr(0, k_max_length - 9) + "-" + hash.str();
  }
  return result;
}

class FileDescriptor {
 public:
  explicit FileDescriptor(int fd = -1) : m_fd(fd) {}
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  ~FileDescriptor() { reset(); }
  int get() const { return m_fd; }
  void reset() {
    if (m_fd >= 0) {
      ::close(m_fd);
      m_fd = -1;
    }
  }

 private:
  int m_fd;
};

[[noreturn]] inline void throw_errno(const std::string& what) {
  throw std::runtime_error(what + ": " + std::strerror(errno));
}

// Stdin comes from an unlinked temporary file rather than a pipe: no
// SIGPIPE when the child exits early, and no deadlock on large input.
inline int stdin_file(std::string_view input) {
  auto pattern = (std::filesystem::temp_directory_path() / "roam-it-stdin.XXXXXX").string();
  const int fd = ::mkstemp(pattern.data());
  if (fd < 0) {
    throw_errno("mkstemp");
  }
  ::unlink(pattern.c_str());
  std::size_t written = 0;
  while (written < input.size()) {
    const auto n = ::write(fd, input.data() + written, input.size() - written);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0) {
      const int saved = errno;
      ::close(fd);
      errno = saved;
      throw_errno("write stdin file");
    }
    written += static_cast<std::size_t>(n);
  }
  if (::lseek(fd, 0, SEEK_SET) < 0) {
    throw_errno("lseek");
  }
  return fd;
}

}  // namespace detail

inline ProcessResult run_process(const std::vector<std::string>& argv, std::string_view input,
                                 std::chrono::milliseconds timeout) {
  if (argv.empty()) {
    throw std::invalid_argument("run_process: empty argv");
  }
  detail::FileDescriptor in(detail::stdin_file(input));
  std::array<int, 2> out_pipe{};
  std::array<int, 2> err_pipe{};
  if (::pipe2(out_pipe.data(), O_CLOEXEC) != 0) {
    detail::throw_errno("pipe2");
  }
  detail::FileDescriptor out_read(out_pipe[0]);
  detail::FileDescriptor out_write(out_pipe[1]);
  if (::pipe2(err_pipe.data(), O_CLOEXEC) != 0) {
    detail::throw_errno("pipe2");
  }
  detail::FileDescriptor err_read(err_pipe[0]);
  detail::FileDescriptor err_write(err_pipe[1]);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in.get(), STDIN_FILENO);
  posix_spawn_file_actions_adddup2(&actions, out_write.get(), STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, err_write.get(), STDERR_FILENO);
  posix_spawn_file_actions_addclose(&actions, in.get());

  std::vector<char*> args;
  args.reserve(argv.size() + 1);
  for (const auto& arg : argv) {
    args.push_back(const_cast<char*>(arg.c_str()));
  }
  args.push_back(nullptr);

  pid_t pid = 0;
  const int spawn_error = ::posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (spawn_error != 0) {
    throw std::runtime_error("cannot run " + argv[0] + ": " + std::strerror(spawn_error));
  }
  in.reset();
  out_write.reset();
  err_write.reset();

  ProcessResult result;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::array<pollfd, 2> fds{{{out_read.get(), POLLIN, 0}, {err_read.get(), POLLIN, 0}}};
  std::array<std::string*, 2> sinks{&result.out, &result.err};
  int open_fds = 2;
  while (open_fds > 0) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      result.timed_out = true;
      ::kill(pid, SIGKILL);
      break;
    }
    const int ready = ::poll(fds.data(), fds.size(), static_cast<int>(left.count()));
    if (ready < 0 && errno == EINTR) {
      continue;
    }
    if (ready < 0) {
      detail::throw_errno("poll");
    }
    for (std::size_t i = 0; i < fds.size(); ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) {
        continue;
      }
      std::array<char, 65536> buffer{};
      const auto n = ::read(fds[i].fd, buffer.data(), buffer.size());
      if (n < 0 && errno == EINTR) {
        continue;
      }
      if (n <= 0) {
        fds[i].fd = -1;  // poll() ignores negative descriptors
        --open_fds;
        continue;
      }
      sinks[i]->append(buffer.data(), static_cast<std::size_t>(n));
    }
  }

  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) {
      detail::throw_errno("waitpid");
    }
  }
  if (WIFEXITED(status)) {
    result.exit_code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    result.exit_code = 128 + WTERMSIG(status);
  }
  return result;
}

inline std::filesystem::path roam_binary() {
  if (const char* path = std::getenv("ROAM_BINARY"); path != nullptr && *path != '\0') {
    return path;
  }
#ifdef ROAM_BINARY_DEFAULT
  return ROAM_BINARY_DEFAULT;
#else
  throw std::runtime_error("ROAM_BINARY is not set");
#endif
}

inline ProcessResult run_roam(const std::vector<std::string>& args,
                              std::chrono::milliseconds timeout) {
  std::vector<std::string> argv{roam_binary().string()};
  argv.insert(argv.end(), args.begin(), args.end());
  return run_process(argv, {}, timeout);
}

inline TestServer::TestServer(std::filesystem::path dir) : m_dir(std::move(dir)) {
  std::ifstream in(m_dir / "env");
  if (!in) {
    throw std::runtime_error("cannot read " + (m_dir / "env").string() +
                             ": is the Dovecot fixture running (tests/dovecot/dovecot-ctl start)?");
  }
  // dovecot-ctl writes KEY='value' lines and never puts a quote in a value.
  std::string line;
  while (std::getline(in, line)) {
    const auto equals = line.find('=');
    if (equals == std::string::npos || line.starts_with('#')) {
      continue;
    }
    std::string value = line.substr(equals + 1);
    if (value.size() >= 2 && value.front() == '\'' && value.back() == '\'') {
      value = value.substr(1, value.size() - 2);
    }
    m_env[line.substr(0, equals)] = value;
  }
}

inline const TestServer& TestServer::instance() {
  static const TestServer server = [] {
    if (const char* dir = std::getenv("ROAM_TEST_DOVECOT_DIR"); dir != nullptr && *dir != '\0') {
      return TestServer(dir);
    }
#ifdef ROAM_TEST_DOVECOT_DIR_DEFAULT
    return TestServer(ROAM_TEST_DOVECOT_DIR_DEFAULT);
#else
    throw std::runtime_error("ROAM_TEST_DOVECOT_DIR is not set");
#endif
  }();
  return server;
}

inline std::string TestServer::env(const std::string& key) const {
  const auto it = m_env.find(key);
  if (it == m_env.end()) {
    throw std::runtime_error("no " + key + " in " + (m_dir / "env").string());
  }
  return it->second;
}

inline std::string TestServer::fresh_user(std::string_view tag) const {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::string name = "t-";
  if (info != nullptr) {
    name += std::string(info->test_suite_name()) + "-" + info->name();
  } else {
    name += "anon";
  }
  if (!tag.empty()) {
    name += "-";
    name += tag;
  }
  return fresh_user_named(name);
}

inline std::string TestServer::fresh_user_named(std::string_view name) const {
  const std::string user = detail::sanitize_user(name);
  if (user.empty()) {
    throw std::invalid_argument("fresh_user: unusable name");
  }
  // As root these are owned by the mail uid; root may remove them anyway.
  std::filesystem::remove_all(mail_root() / user);
  std::filesystem::remove_all(std::filesystem::path(env("HOME_ROOT")) / user);
  std::filesystem::remove_all(m_dir / "work" / user);
  std::filesystem::create_directories(m_dir / "work" / user);
  return user;
}

inline std::filesystem::path TestServer::work_dir(std::string_view user) const {
  auto dir = m_dir / "work" / std::string(user);
  std::filesystem::create_directories(dir);
  return dir;
}

inline ProcessResult TestServer::doveadm(const std::vector<std::string>& args,
                                         std::string_view input) const {
  std::vector<std::string> argv{"doveadm", "-c", conf_file().string()};
  argv.insert(argv.end(), args.begin(), args.end());
  auto result = run_process(argv, input, std::chrono::seconds(60));
  if (result.exit_code != 0) {
    throw std::runtime_error("doveadm " + detail::join(args, " ") + " failed (exit " +
                             std::to_string(result.exit_code) + "): " + result.err);
  }
  return result;
}

inline void TestServer::seed(const std::string& user, const std::vector<std::string>& args) const {
#ifdef ROAM_TEST_SEED_SCRIPT
  std::vector<std::string> argv{
      "python3", ROAM_TEST_SEED_SCRIPT, "--quiet", "--dir", m_dir.string(), "--user", user};
  argv.insert(argv.end(), args.begin(), args.end());
  const auto result = run_process(argv, {}, std::chrono::seconds(120));
  if (result.exit_code != 0) {
    throw std::runtime_error("seed.py failed (exit " + std::to_string(result.exit_code) +
                             "): " + result.err);
  }
#else
  (void)user;
  (void)args;
  throw std::runtime_error("seed: ROAM_TEST_SEED_SCRIPT was not defined by the build");
#endif
}

inline void TestServer::create_mailbox(const std::string& user, const std::string& mailbox) const {
  doveadm({"mailbox", "create", "-u", user, "--", mailbox});
}

inline void TestServer::delete_mailbox(const std::string& user, const std::string& mailbox) const {
  doveadm({"mailbox", "delete", "-u", user, "--", mailbox});
}

inline std::uint32_t TestServer::append(const std::string& user, const std::string& mailbox,
                                        std::string_view message,
                                        const std::vector<std::string>& flags) const {
  doveadm({"save", "-u", user, "-m", mailbox}, message);
  // A per-test user has no other writers, and Dovecot hands out UIDs in
  // order: the message just saved is UIDNEXT - 1.
  const auto status = mailbox_status(user, mailbox);
  if (status.uidnext < 2) {
    throw std::runtime_error("append: no UID after saving into " + mailbox);
  }
  const std::uint32_t uid = status.uidnext - 1;
  if (!flags.empty()) {
    add_flags(user, mailbox, uid, flags);
  }
  return uid;
}

inline void TestServer::add_flags(const std::string& user, const std::string& mailbox,
                                  std::uint32_t uid, const std::vector<std::string>& flags) const {
  doveadm({"flags", "add", "-u", user, detail::join(flags, " "), "mailbox", mailbox, "uid",
           std::to_string(uid)});
}

inline void TestServer::remove_flags(const std::string& user, const std::string& mailbox,
                                     std::uint32_t uid,
                                     const std::vector<std::string>& flags) const {
  doveadm({"flags", "remove", "-u", user, detail::join(flags, " "), "mailbox", mailbox, "uid",
           std::to_string(uid)});
}

inline void TestServer::expunge(const std::string& user, const std::string& mailbox,
                                std::uint32_t uid) const {
  doveadm({"expunge", "-u", user, "mailbox", mailbox, "uid", std::to_string(uid)});
}

inline std::vector<std::string> TestServer::list_mailboxes(const std::string& user) const {
  const auto json =
      nlohmann::json::parse(doveadm({"-f", "json", "mailbox", "list", "-u", user}).out);
  std::vector<std::string> names;
  for (const auto& row : json) {
    names.push_back(row.at("mailbox").get<std::string>());
  }
  std::sort(names.begin(), names.end());
  return names;
}

inline std::vector<MessageFlags> TestServer::list_uids_and_flags(const std::string& user,
                                                                 const std::string& mailbox) const {
  const auto json = nlohmann::json::parse(
      doveadm({"-f", "json", "fetch", "-u", user, "uid flags", "mailbox", mailbox, "all"}).out);
  std::vector<MessageFlags> messages;
  for (const auto& row : json) {
    MessageFlags message;
    message.uid = detail::to_uint32(row.at("uid"));
    std::istringstream words(row.at("flags").get<std::string>());
    std::string flag;
    while (words >> flag) {
      if (flag != "\\Recent") {
        message.flags.push_back(flag);
      }
    }
    std::sort(message.flags.begin(), message.flags.end());
    messages.push_back(std::move(message));
  }
  std::sort(messages.begin(), messages.end(),
            [](const MessageFlags& a, const MessageFlags& b) { return a.uid < b.uid; });
  return messages;
}

inline std::string TestServer::fetch_body(const std::string& user, const std::string& mailbox,
                                          std::uint32_t uid) const {
  // The pager formatter prints "text:\n" and then the message bytes
  // unchanged; JSON would replace invalid UTF-8.
  auto out =
      doveadm({"fetch", "-u", user, "text", "mailbox", mailbox, "uid", std::to_string(uid)}).out;
  constexpr std::string_view k_prefix = "text:\n";
  if (!out.starts_with(k_prefix)) {
    throw std::runtime_error("fetch_body: no message with UID " + std::to_string(uid) + " in " +
                             mailbox);
  }
  return out.substr(k_prefix.size());
}

inline MailboxStatus TestServer::mailbox_status(const std::string& user,
                                                const std::string& mailbox) const {
  const auto json = nlohmann::json::parse(doveadm({"-f", "json", "mailbox", "status", "-u", user,
                                                   "uidvalidity uidnext messages", "--", mailbox})
                                              .out);
  if (json.size() != 1) {
    throw std::runtime_error("mailbox_status: unexpected doveadm output for " + mailbox);
  }
  MailboxStatus status;
  status.uidvalidity = detail::to_uint32(json[0].at("uidvalidity"));
  status.uidnext = detail::to_uint32(json[0].at("uidnext"));
  status.messages = detail::to_uint32(json[0].at("messages"));
  return status;
}

inline void TestServer::write_config(const std::filesystem::path& path, const std::string& user,
                                     const std::vector<std::string>& extra_lines) const {
  const auto base = path.parent_path();
  std::vector<std::pair<std::string, std::string>> settings{
      {"host", host()},
      {"port", env("IMAP_PORT")},
      {"tls", "none"},
      // roam refuses tls = none without it; the server is on loopback.
      {"allow_plaintext", "yes"},
      {"user", user},
      {"password", password()},
      {"maildir", (base / "Mail").string()},
      {"state_dir", (base / "state").string()},
      {"layout", "verbatim"},
      {"folders", "*"},
      {"sync", "pull"},
      {"expunge", "yes"},
  };
  std::vector<std::string> verbatim;
  bool in_other_section = false;
  for (const auto& line : extra_lines) {
    const auto trimmed = detail::trim(line);
    in_other_section = in_other_section || trimmed.starts_with('[');
    const auto equals = line.find('=');
    const auto key =
        equals == std::string::npos ? std::string() : detail::trim(line.substr(0, equals));
    if (in_other_section || key.empty() || key.starts_with('#')) {
      verbatim.push_back(line);
      continue;
    }
    const auto value = detail::trim(line.substr(equals + 1));
    const auto it = std::find_if(settings.begin(), settings.end(),
                                 [&](const auto& setting) { return setting.first == key; });
    if (it != settings.end()) {
      it->second = value;
    } else {
      settings.emplace_back(key, value);
    }
  }
  std::filesystem::create_directories(base);
  std::ofstream out(path);
  out << "# Written by tests/integration/dovecot.hpp for user " << user << ".\n"
      << "[account.test]\n";
  for (const auto& [key, value] : settings) {
    out << key << " = " << value << "\n";
  }
  for (const auto& line : verbatim) {
    out << line << "\n";
  }
  out.close();
  if (!out) {
    throw std::runtime_error("cannot write " + path.string());
  }
  // The file holds a password: roam warns when others can read it.
  std::filesystem::permissions(
      path, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
}

}  // namespace roam::it
