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
//
// The same tests run against the other servers of the matrix (tests/servers/:
// Cyrus, Courier) when ROAM_TEST_DOVECOT_DIR names a directory of their ctl
// scripts: DIR/env then says SERVER_KIND=cyrus|courier, and the helpers below
// go through tests/servers/imap-admin.py (plain IMAP as the test user, never
// through roam's code) instead of doveadm. Mailbox names stay the harness's
// ("A/B"); imap-admin.py maps them to the server's ("INBOX.A.B"). When the
// ctl script could not start its server, DIR/env has SKIP_REASON and every
// test of the binary is skipped.

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

// The Python 3 that runs the server helpers (seed.py, imap-admin.py, and the
// ctl scripts' own snippets): $ROAM_PYTHON3 if set, else the interpreter
// the build resolved (tests/CMakeLists.txt), else python3 from PATH. The
// build resolves it because a version manager's shim on PATH (pyenv's is a
// shell script) costs about 0.4 s per start, and a server-matrix run starts
// Python thousands of times.
inline std::string python3() {
  if (const char* set = std::getenv("ROAM_PYTHON3"); set != nullptr && *set != '\0') {
    return set;
  }
#ifdef ROAM_TEST_PYTHON3
  return ROAM_TEST_PYTHON3;
#else
  return "python3";
#endif
}

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
  // DIR/env's value of `key`, or `fallback` when it has none.
  std::string env_or(const std::string& key, const std::string& fallback) const;
  // "dovecot" (the default), "cyrus" or "courier": SERVER_KIND of DIR/env.
  std::string kind() const { return env_or("SERVER_KIND", "dovecot"); }
  bool is_dovecot() const { return kind() == "dovecot"; }

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
  // Another client's UID MOVE (COPY + EXPUNGE without MOVE) and RENAME.
  void move(const std::string& user, const std::string& mailbox, std::uint32_t uid,
            const std::string& destination) const;
  void rename_mailbox(const std::string& user, const std::string& from,
                      const std::string& to) const;

  // Server queries, via doveadm.
  std::vector<std::string> list_mailboxes(const std::string& user) const;
  // All messages of `mailbox` by ascending UID; empty for a missing mailbox.
  std::vector<MessageFlags> list_uids_and_flags(const std::string& user,
                                                const std::string& mailbox) const;
  // The whole message (header and body) as stored: LF line ends.
  std::string fetch_body(const std::string& user, const std::string& mailbox,
                         std::uint32_t uid) const;
  MailboxStatus mailbox_status(const std::string& user, const std::string& mailbox) const;
  // Every message of `mailbox` with its whole text (as fetch_body), by
  // ascending UID: one query for the whole mailbox on servers other than
  // Dovecot, where each query is an IMAP session.
  std::vector<std::pair<MessageFlags, std::string>> messages_with_bodies(
      const std::string& user, const std::string& mailbox) const;

  // Writes a generated corpus straight into the user's Maildir++ tree with
  // tests/dovecot/seed.py; `args` are its options ({"--messages", "50",
  // "--folders", "3", "--flags"}). Run it before any client opens the user.
  void seed(const std::string& user, const std::vector<std::string>& args) const;

  // Runs `doveadm -c CONF args...`; throws unless it exits 0. Dovecot only.
  ProcessResult doveadm(const std::vector<std::string>& args, std::string_view input = {}) const;
  // Runs tests/servers/imap-admin.py as `user` (see there); throws unless it
  // exits 0. Any server; the helpers use it for all but Dovecot.
  ProcessResult imap_admin(const std::string& user, const std::vector<std::string>& args,
                           std::string_view input = {}) const;

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

// imap-admin.py sends message text as Latin-1 decoded bytes (every byte
// one code point, so no byte is lost in JSON); nlohmann::json hands them
// over as UTF-8. This turns code points U+0000..U+00FF back into the bytes.
inline std::string from_latin1_json(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    const auto c0 = static_cast<unsigned char>(text[i]);
    if ((c0 == 0xC2 || c0 == 0xC3) && i + 1 < text.size()) {
      const auto c1 = static_cast<unsigned char>(text[i + 1]);
      out += static_cast<char>(((c0 & 0x03U) << 6U) | (c1 & 0x3FU));
      ++i;
      continue;
    }
    out += static_cast<char>(c0);
  }
  return out;
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
  // The ctl scripts this harness runs (fresh_user) start Python through
  // $ROAM_PYTHON3 too.
  ::setenv("ROAM_PYTHON3", python3().c_str(), 0);
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

inline std::string TestServer::env_or(const std::string& key, const std::string& fallback) const {
  const auto it = m_env.find(key);
  return it == m_env.end() ? fallback : it->second;
}

namespace detail {

// Skips every test of the binary when the fixture could not start its
// server (DIR/env has SKIP_REASON; ctest shows them as skipped). Registered
// once per binary by the inline variable below.
class SkipWithoutServer : public ::testing::Environment {
 public:
  void SetUp() override {
    const char* dir = std::getenv("ROAM_TEST_DOVECOT_DIR");
    if (dir == nullptr || *dir == '\0') {
      return;
    }
    std::ifstream in(std::filesystem::path(dir) / "env");
    std::string line;
    while (std::getline(in, line)) {
      if (line.starts_with("SKIP_REASON=")) {
        auto reason = line.substr(12);
        if (reason.size() >= 2 && reason.front() == '\'' && reason.back() == '\'') {
          reason = reason.substr(1, reason.size() - 2);
        }
        GTEST_SKIP() << "no test server in " << dir << ": " << reason;
      }
    }
  }
};

inline ::testing::Environment* const k_skip_without_server =
    ::testing::AddGlobalTestEnvironment(new SkipWithoutServer);

}  // namespace detail

inline std::string TestServer::fresh_user(std::string_view tag) const {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  // The capability filter fronts the same Dovecot as the plain tests, which
  // ctest may run at the same time: its users need names of their own.
  std::string name = m_env.count("CAPFILTER_HIDE") != 0 ? "tc-" : "t-";
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
  if (is_dovecot()) {
    // As root these are owned by the mail uid; root may remove them anyway.
    std::filesystem::remove_all(mail_root() / user);
    std::filesystem::remove_all(std::filesystem::path(env("HOME_ROOT")) / user);
  } else {
    // The ctl script empties (and, for Courier, creates) the account.
    const auto result = run_process({env("SERVER_CTL"), "user", m_dir.string(), user}, {},
                                    std::chrono::seconds(60));
    if (result.exit_code != 0) {
      throw std::runtime_error("fresh_user: " + env("SERVER_CTL") + " user " + user +
                               " failed: " + result.err);
    }
  }
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

inline ProcessResult TestServer::imap_admin(const std::string& user,
                                            const std::vector<std::string>& args,
                                            std::string_view input) const {
#ifdef ROAM_TEST_IMAP_ADMIN_SCRIPT
  std::vector<std::string> argv{
      python3(), ROAM_TEST_IMAP_ADMIN_SCRIPT, "--dir", m_dir.string(), "--user", user};
  argv.insert(argv.end(), args.begin(), args.end());
  auto result = run_process(argv, input, std::chrono::seconds(120));
  if (result.exit_code != 0) {
    throw std::runtime_error("imap-admin.py " + detail::join(args, " ") + " failed (exit " +
                             std::to_string(result.exit_code) + "): " + result.err);
  }
  return result;
#else
  (void)user;
  (void)args;
  (void)input;
  throw std::runtime_error("imap_admin: ROAM_TEST_IMAP_ADMIN_SCRIPT was not defined by the build");
#endif
}

inline void TestServer::seed(const std::string& user, const std::vector<std::string>& args) const {
#ifdef ROAM_TEST_SEED_SCRIPT
  // Other servers get the same corpus over IMAP APPEND: seed.py writes it
  // into a scratch Maildir++ tree, imap-admin.py uploads that.
  const auto scratch = m_dir / "work" / (user + ".seed");
  std::vector<std::string> argv{python3(), ROAM_TEST_SEED_SCRIPT, "--quiet"};
  if (is_dovecot()) {
    argv.insert(argv.end(), {"--dir", m_dir.string(), "--user", user});
  } else {
    std::filesystem::remove_all(scratch);
    argv.insert(argv.end(), {"--maildir", scratch.string()});
  }
  argv.insert(argv.end(), args.begin(), args.end());
  const auto result = run_process(argv, {}, std::chrono::seconds(120));
  if (result.exit_code != 0) {
    throw std::runtime_error("seed.py failed (exit " + std::to_string(result.exit_code) +
                             "): " + result.err);
  }
  if (!is_dovecot()) {
    imap_admin(user, {"upload-maildir", scratch.string()});
    std::filesystem::remove_all(scratch);
  }
#else
  (void)user;
  (void)args;
  throw std::runtime_error("seed: ROAM_TEST_SEED_SCRIPT was not defined by the build");
#endif
}

inline void TestServer::create_mailbox(const std::string& user, const std::string& mailbox) const {
  if (!is_dovecot()) {
    imap_admin(user, {"create", mailbox});
    return;
  }
  doveadm({"mailbox", "create", "-u", user, "--", mailbox});
}

inline void TestServer::delete_mailbox(const std::string& user, const std::string& mailbox) const {
  if (!is_dovecot()) {
    imap_admin(user, {"delete", mailbox});
    return;
  }
  doveadm({"mailbox", "delete", "-u", user, "--", mailbox});
}

inline std::uint32_t TestServer::append(const std::string& user, const std::string& mailbox,
                                        std::string_view message,
                                        const std::vector<std::string>& flags) const {
  if (!is_dovecot()) {
    std::vector<std::string> args{"append", mailbox};
    if (!flags.empty()) {
      args.insert(args.end(), {"--flags", detail::join(flags, " ")});
    }
    return static_cast<std::uint32_t>(std::stoul(imap_admin(user, args, message).out));
  }
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
  if (!is_dovecot()) {
    std::vector<std::string> args{"flags", mailbox, std::to_string(uid), "add"};
    args.insert(args.end(), flags.begin(), flags.end());
    imap_admin(user, args);
    return;
  }
  doveadm({"flags", "add", "-u", user, detail::join(flags, " "), "mailbox", mailbox, "uid",
           std::to_string(uid)});
}

inline void TestServer::remove_flags(const std::string& user, const std::string& mailbox,
                                     std::uint32_t uid,
                                     const std::vector<std::string>& flags) const {
  if (!is_dovecot()) {
    std::vector<std::string> args{"flags", mailbox, std::to_string(uid), "remove"};
    args.insert(args.end(), flags.begin(), flags.end());
    imap_admin(user, args);
    return;
  }
  doveadm({"flags", "remove", "-u", user, detail::join(flags, " "), "mailbox", mailbox, "uid",
           std::to_string(uid)});
}

inline void TestServer::expunge(const std::string& user, const std::string& mailbox,
                                std::uint32_t uid) const {
  if (!is_dovecot()) {
    imap_admin(user, {"expunge", mailbox, std::to_string(uid)});
    return;
  }
  doveadm({"expunge", "-u", user, "mailbox", mailbox, "uid", std::to_string(uid)});
}

inline void TestServer::move(const std::string& user, const std::string& mailbox, std::uint32_t uid,
                             const std::string& destination) const {
  if (!is_dovecot()) {
    imap_admin(user, {"move", mailbox, std::to_string(uid), destination});
    return;
  }
  doveadm({"move", "-u", user, destination, "mailbox", mailbox, "uid", std::to_string(uid)});
}

inline void TestServer::rename_mailbox(const std::string& user, const std::string& from,
                                       const std::string& to) const {
  if (!is_dovecot()) {
    imap_admin(user, {"rename", from, to});
    return;
  }
  doveadm({"mailbox", "rename", "-u", user, from, to});
}

inline std::vector<std::string> TestServer::list_mailboxes(const std::string& user) const {
  if (!is_dovecot()) {
    return nlohmann::json::parse(imap_admin(user, {"list"}).out).get<std::vector<std::string>>();
  }
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
  if (!is_dovecot()) {
    std::vector<MessageFlags> messages;
    for (const auto& row :
         nlohmann::json::parse(imap_admin(user, {"fetch", mailbox, "--no-text"}).out)) {
      messages.push_back(
          {row.at("uid").get<std::uint32_t>(), row.at("flags").get<std::vector<std::string>>()});
    }
    return messages;
  }
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
  if (!is_dovecot()) {
    for (const auto& row : nlohmann::json::parse(imap_admin(user, {"fetch", mailbox}).out)) {
      if (row.at("uid").get<std::uint32_t>() == uid) {
        return detail::from_latin1_json(row.at("text").get<std::string>());
      }
    }
    throw std::runtime_error("fetch_body: no message with UID " + std::to_string(uid) + " in " +
                             mailbox);
  }
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
  if (!is_dovecot()) {
    const auto row = nlohmann::json::parse(imap_admin(user, {"status", mailbox}).out);
    return {row.at("uidvalidity").get<std::uint32_t>(), row.at("uidnext").get<std::uint32_t>(),
            row.at("messages").get<std::uint32_t>()};
  }
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

inline std::vector<std::pair<MessageFlags, std::string>> TestServer::messages_with_bodies(
    const std::string& user, const std::string& mailbox) const {
  std::vector<std::pair<MessageFlags, std::string>> messages;
  if (!is_dovecot()) {
    for (const auto& row : nlohmann::json::parse(imap_admin(user, {"fetch", mailbox}).out)) {
      messages.emplace_back(MessageFlags{row.at("uid").get<std::uint32_t>(),
                                         row.at("flags").get<std::vector<std::string>>()},
                            detail::from_latin1_json(row.at("text").get<std::string>()));
    }
    return messages;
  }
  for (auto& message : list_uids_and_flags(user, mailbox)) {
    auto body = fetch_body(user, mailbox, message.uid);
    messages.emplace_back(std::move(message), std::move(body));
  }
  return messages;
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
      // The test server is on loopback, where roam leaves compression off
      // unless told: the tests run compressed wherever the server offers it.
      {"compress", "yes"},
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
