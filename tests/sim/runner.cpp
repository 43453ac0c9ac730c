#include "runner.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <vector>

#include "net/stream.hpp"
#include "state/journal.hpp"
#include "sync/account.hpp"
#include "util/error.hpp"
#include "util/log.hpp"

namespace roam::sim {

namespace {

// The child's end of the socketpair, behaving as net::Stream promises: a
// failure (the model cut the connection) throws util::Error(Scope::Account).
class FdStream : public net::Stream {
 public:
  explicit FdStream(int fd) : m_fd(fd) {}
  ~FdStream() override { ::close(m_fd); }

  std::size_t read_some(char* buf, std::size_t len) override {
    for (;;) {
      ssize_t n = ::recv(m_fd, buf, len, 0);
      if (n >= 0) {
        return static_cast<std::size_t>(n);
      }
      if (errno != EINTR) {
        throw util::Error(
            util::Scope::Account,
            std::string("sim: read from the server model failed: ") + std::strerror(errno));
      }
    }
  }

  void write_all(std::string_view data) override {
    while (!data.empty()) {
      ssize_t n = ::send(m_fd, data.data(), data.size(), MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) {
        continue;
      }
      if (n <= 0) {
        throw util::Error(
            util::Scope::Account,
            std::string("sim: write to the server model failed: ") + std::strerror(errno));
      }
      data.remove_prefix(static_cast<std::size_t>(n));
    }
  }

  void start_tls(const net::TlsOptions&) override {
    throw util::Error(util::Scope::Account, "sim: no TLS in the simulation");
  }
  bool is_tls() const override { return false; }
  std::string peer() const override { return "sim-model"; }
  std::string security() const override { return "plaintext"; }

 private:
  int m_fd;
};

std::string summarize(const sync::AccountReport& report) {
  std::ostringstream out;
  if (!report.error.empty()) {
    out << "account error: " << report.error << "\n";
  }
  for (const auto& f : report.folders) {
    out << "folder " << f.name << ": down=" << f.downloaded << " up=" << f.uploaded
        << " flags=" << f.flags_changed << "/" << f.server_flags_changed << " del=" << f.deleted
        << "/" << f.server_deleted << " moved=" << f.moved
        << (f.skipped_by_summary  ? " skipped (summary)"
            : f.skipped_unchanged ? " skipped"
                                  : "");
    if (!f.error.empty()) {
      out << " ERROR: " << f.error;
    }
    out << "\n";
    for (const auto& p : f.problems) {
      out << "  problem: " << p << "\n";
    }
    for (const auto& n : f.notices) {
      out << "  notice: " << n << "\n";
    }
  }
  return out.str();
}

[[noreturn]] void child(const std::vector<int>& fds, const RunOptions& o,
                        const std::filesystem::path& report_path) {
  if (!o.verbose) {
    int null = ::open("/dev/null", O_WRONLY);
    ::dup2(null, 2);
  }
  util::set_log_level(o.verbose ? util::Level::Info : util::Level::Error);
  sync::AccountSettings s;
  s.name = "sim";
  s.host = "127.0.0.1";
  s.tls = net::TlsMode::None;
  s.user = "sim";
  s.password = [] { return std::string("secret"); };
  s.tree = o.tree;
  s.state_dir = o.state_dir;
  s.policy.direction = sync::Direction::Both;
  // Random histories delete many messages of small folders; the guard
  // (tested on its own in the unit tests) would only stop them half way.
  s.policy.allow_mass_delete = true;
  s.connections = o.connections;
  // Several lanes of the run open connections at once.
  auto next = std::make_shared<std::atomic<std::size_t>>(0);
  s.open_stream = [fds, next]() -> std::unique_ptr<net::Stream> {
    std::size_t n = (*next)++;
    if (n >= fds.size()) {
      throw util::Error(util::Scope::Account, "sim: the model has no more connections to offer");
    }
    return std::make_unique<FdStream>(fds[n]);
  };
  state::set_stop_after_steps(o.stop_after_steps);
  int code = 3;
  std::string text;
  try {
    sync::AccountReport report = sync::sync_account(s);
    code = report.ok() ? 0 : 1;
    text = summarize(report);
  } catch (const std::exception& e) {
    text = std::string("sync_account threw: ") + e.what() + "\n";
  }
  {
    std::ofstream out(report_path);
    out << text << "steps " << state::steps_counted() << "\n";
  }
  std::fflush(nullptr);
  std::_Exit(code);
}

std::string printable(std::string_view data) {
  std::string out;
  for (char c : data.substr(0, 400)) {
    if (c == '\r') {
      continue;
    }
    out += (c == '\n' || (c >= ' ' && c < 127)) ? c : '?';
  }
  if (data.size() > 400) {
    out += "...\n";
  }
  return out;
}

// One connection the child may open. roam reconnects after a connection
// error, so a run gets several, each with a session of its own.
struct Connection {
  int fd = -1;
  std::unique_ptr<Session> session;
  std::string out;
  std::uint64_t sent = 0;
  bool reading = true;
  bool active() const { return fd >= 0 && (reading || !out.empty()); }
};

// Serves the child until it hangs up on every connection. poll() on both
// directions, so that neither side blocks on a full socket buffer while the
// other writes too. The cut applies to the first connection only: a
// reconnect after it gets a sound one.
bool serve(ServerModel& model, const std::vector<int>& fds, const RunOptions& o) {
  std::vector<Connection> conns(fds.size());
  for (std::size_t i = 0; i < fds.size(); ++i) {
    conns[i].fd = fds[i];
    conns[i].session = std::make_unique<Session>(model);
    conns[i].out = conns[i].session->take_output();
  }
  bool cut = false;
  char buf[65536];
  for (;;) {
    std::vector<pollfd> polls;
    std::vector<std::size_t> which;
    for (std::size_t i = 0; i < conns.size(); ++i) {
      if (conns[i].active()) {
        short events = static_cast<short>((conns[i].reading ? POLLIN : 0) |
                                          (conns[i].out.empty() ? 0 : POLLOUT));
        polls.push_back({conns[i].fd, events, 0});
        which.push_back(i);
      }
    }
    if (polls.empty()) {
      break;
    }
    int ready = ::poll(polls.data(), polls.size(), 30000);
    if (ready < 0 && errno == EINTR) {
      continue;
    }
    if (ready <= 0) {
      std::cerr << "sim: the child stalled for 30 s; giving up on it\n";
      break;
    }
    for (std::size_t k = 0; k < polls.size(); ++k) {
      Connection& c = conns[which[k]];
      short revents = polls[k].revents;
      bool cuttable = which[k] == 0 && o.cut_after_bytes != 0;
      if (!c.out.empty() && (revents & (POLLOUT | POLLERR | POLLHUP))) {
        std::size_t len = c.out.size();
        if (cuttable && c.sent + len >= o.cut_after_bytes) {
          len = static_cast<std::size_t>(o.cut_after_bytes - c.sent);
        }
        ssize_t n = len == 0 ? 0 : ::send(c.fd, c.out.data(), len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0 && errno != EAGAIN && errno != EINTR) {
          c.reading = false;  // The child is gone.
          c.out.clear();
          continue;
        }
        if (n > 0) {
          if (o.verbose) {
            std::cerr << "S" << which[k] << ": "
                      << printable(std::string_view(c.out).substr(0, static_cast<std::size_t>(n)));
          }
          c.out.erase(0, static_cast<std::size_t>(n));
          c.sent += static_cast<std::uint64_t>(n);
        }
        if (cuttable && c.sent >= o.cut_after_bytes) {
          if (o.verbose) {
            std::cerr << "sim: connection cut after " << c.sent << " bytes\n";
          }
          cut = true;
          ::close(c.fd);
          c.fd = -1;
          continue;
        }
      }
      if (c.reading && (revents & (POLLIN | POLLERR | POLLHUP))) {
        ssize_t n = ::recv(c.fd, buf, sizeof buf, MSG_DONTWAIT);
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
          continue;
        }
        if (n <= 0) {
          c.reading = false;
          c.out.clear();
          continue;
        }
        if (o.verbose) {
          std::cerr << "C" << which[k] << ": "
                    << printable(std::string_view(buf, static_cast<std::size_t>(n)));
        }
        c.session->feed(std::string_view(buf, static_cast<std::size_t>(n)));
        c.out += c.session->take_output();
        if (c.session->closed()) {
          c.reading = false;
        }
      }
    }
  }
  for (auto& c : conns) {
    if (c.fd >= 0) {
      ::close(c.fd);
    }
  }
  return cut;
}

}  // namespace

std::string RunResult::describe() const {
  switch (end) {
    case End::Ok:
      return "ok";
    case End::NotOk:
      return "not ok";
    case End::Killed:
      return "killed";
    case End::Crashed:
      return "CRASHED";
  }
  return "?";
}

RunResult run_roam(ServerModel& model, const RunOptions& o) {
  // More connections than roam's lanes and reconnects (three) need.
  const std::size_t connections = o.connections + 4;
  std::vector<int> parent_fds;
  std::vector<int> child_fds;
  for (std::size_t i = 0; i < connections; ++i) {
    int fds[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) {
      throw std::runtime_error("socketpair failed");
    }
    parent_fds.push_back(fds[0]);
    child_fds.push_back(fds[1]);
  }
  std::filesystem::path report_path = o.state_dir.parent_path() / "report.txt";
  std::filesystem::remove(report_path);
  std::fflush(nullptr);
  pid_t pid = ::fork();
  if (pid < 0) {
    throw std::runtime_error("fork failed");
  }
  if (pid == 0) {
    for (int fd : parent_fds) {
      ::close(fd);
    }
    child(child_fds, o, report_path);
  }
  for (int fd : child_fds) {
    ::close(fd);
  }
  RunResult result;
  result.cut = serve(model, parent_fds, o);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  std::ifstream in(report_path);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("steps ", 0) == 0) {
      result.steps = std::stoull(line.substr(6));
    } else {
      result.summary += line + "\n";
    }
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
    result.end = RunResult::End::Ok;
  } else if (WIFEXITED(status) && WEXITSTATUS(status) == 1) {
    result.end = RunResult::End::NotOk;
  } else if (WIFEXITED(status) && WEXITSTATUS(status) == 100) {
    result.end = RunResult::End::Killed;
  } else {
    result.end = RunResult::End::Crashed;
    result.summary += WIFSIGNALED(status)
                          ? "killed by signal " + std::to_string(WTERMSIG(status)) + "\n"
                          : "exit status " + std::to_string(WEXITSTATUS(status)) + "\n";
  }
  return result;
}

}  // namespace roam::sim
