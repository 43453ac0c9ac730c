// Crash safety, proven the way mbsync's own test suite does it: a scenario
// with changes on both sides is synced once without interruption, and then,
// for every N, from scratch again with `--test-stop-after=N` (the process
// ends abruptly after its N-th step: no destructors, no state commit) and a
// second, complete run. Every interrupted-and-resumed run must reach exactly
// the end state of the uninterrupted one, and a further run must change
// nothing. A second test kills real runs with SIGKILL at random moments.

#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "dovecot.hpp"
#include "maildir_helpers.hpp"

namespace roam::it {
namespace {

namespace fs = std::filesystem;

std::string message(const std::string& subject, const std::string& body) {
  return "From: crash@example.org\nTo: you@example.org\nSubject: " + subject + "\nMessage-ID: <" +
         subject + "@crash.example>\n\n" + body + "\n";
}

// What both sides hold, by content: per folder, the sorted list of
// (message, flags) on the server and (message, letters) in the Maildir.
// File names and UIDs differ between runs by design, so they are left out.
struct Snapshot {
  std::map<std::string, std::vector<std::pair<std::string, std::string>>> server;
  std::map<std::string, std::vector<std::pair<std::string, std::string>>> local;
  bool operator==(const Snapshot&) const = default;
};

std::string describe(const Snapshot& s) {
  std::string out;
  for (const auto& [side, folders] : {std::pair{"server", &s.server}, {"local", &s.local}}) {
    for (const auto& [folder, messages] : *folders) {
      out += std::string(side) + " " + folder + ":";
      for (const auto& [text, flags] : messages) {
        std::string subject = text.substr(text.find("Subject: ") + 9);
        out += " [" + subject.substr(0, subject.find('\n')) + " " + flags + "]";
      }
      out += "\n";
    }
  }
  return out;
}

Snapshot snapshot(const TestServer& server, const std::string& user, const fs::path& maildir) {
  Snapshot s;
  for (const std::string folder : {"INBOX", "Archive", "Lists"}) {
    auto& list = s.server[folder];
    for (const auto& [m, body] : server.messages_with_bodies(user, folder)) {
      std::string flags;
      for (const auto& f : m.flags) {
        flags += f + " ";
      }
      list.emplace_back(body, flags);
    }
    std::sort(list.begin(), list.end());
    auto& local = s.local[folder];
    for (const std::string sub : {"cur", "new"}) {
      fs::path dir = maildir / folder / sub;
      if (!fs::exists(dir)) {
        continue;
      }
      for (const auto& entry : fs::directory_iterator(dir)) {
        std::string name = entry.path().filename().string();
        auto info = name.find(":2,");
        local.emplace_back(read_file(entry.path()),
                           info == std::string::npos ? "" : name.substr(info + 3));
      }
    }
    std::sort(local.begin(), local.end());
  }
  return s;
}

// 300 KB of text: above the size from which a finished download is marked
// whole in tmp/ (256 KiB).
std::string large_body() {
  std::string body;
  for (int i = 0; body.size() < 300'000; ++i) {
    body += "line " + std::to_string(i) + " of a large message, long enough to be marked\n";
  }
  return body;
}

fs::path find_file(const fs::path& folder, const std::string& subject) {
  for (const std::string sub : {"cur", "new"}) {
    for (const auto& entry : fs::directory_iterator(folder / sub)) {
      if (read_file(entry.path()).find("Subject: " + subject + "\n") != std::string::npos) {
        return entry.path();
      }
    }
  }
  ADD_FAILURE() << "no local file for " << subject << " in " << folder;
  return {};
}

// Sets up the scenario for `user` in `dir`: a synced account, then changes
// on both sides that exercise every kind of step.
fs::path set_up_scenario(const TestServer& server, const std::string& user, const fs::path& dir) {
  server.create_mailbox(user, "Archive");
  server.append(user, "INBOX", message("m1", "first"));
  server.append(user, "INBOX", message("m2", "second"), {"\\Seen"});
  server.append(user, "INBOX", message("m3", "third"));
  server.append(user, "INBOX", message("m4", "fourth"), {"\\Flagged"});
  server.append(user, "Archive", message("a1", "archived"), {"\\Seen"});
  // A folder no move ties to the others: it is synced over a connection of
  // its own, at the same time as INBOX and Archive (which the move below
  // ties together), so the steps of two connections interleave.
  server.create_mailbox(user, "Lists");
  server.append(user, "Lists", message("s1", "a list mail"));
  fs::path config = dir / "roam.conf";
  server.write_config(config, user, {"sync = both"});
  auto first = run_roam({"sync", "-c", config.string()});
  EXPECT_EQ(first.exit_code, 0) << first.err;

  // Server side: new messages (one large enough to be marked whole in tmp/
  // before it is moved into place, see FolderSync::download; whether a stop
  // falls in that window here is chance, and
  // Crash.AStopBeforeALargeDownloadIsPlacedResumesFromTmp makes sure of
  // one), a flag change, an expunge.
  server.append(user, "INBOX", message("m5", "fifth"), {"\\Answered"});
  server.append(user, "INBOX", message("m6", large_body()));
  server.add_flags(user, "INBOX", 1, {"\\Flagged"});
  server.expunge(user, "INBOX", 2);
  // Local side: a new file, a flag change, a deletion, a move.
  fs::path inbox = dir / "Mail" / "INBOX";
  std::ofstream(inbox / "new" / "1700000000.local1.host") << message("l1", "written locally");
  // More uploads, in two folders: their APPENDs are pipelined, so a kill
  // between two answers leaves later ones sent and unanswered.
  std::ofstream(inbox / "new" / "1700000001.local2.host") << message("l2", "also local");
  std::ofstream(inbox / "cur" / "1700000002.local3.host:2,S") << message("l3", "read locally");
  std::ofstream(dir / "Mail" / "Archive" / "cur" / "1700000003.local4.host:2,F")
      << message("l4", "archived locally");
  server.append(user, "Lists", message("s2", "another list mail"), {"\\Seen"});
  fs::path lists = dir / "Mail" / "Lists";
  std::ofstream(lists / "new" / "1700000004.local5.host") << message("l5", "a local list mail");
  fs::path s1 = find_file(lists, "s1");
  fs::rename(s1, lists / "cur" /
                     (s1.filename().string().substr(0, s1.filename().string().find(':')) + ":2,F"));
  fs::path m1 = find_file(inbox, "m1");
  fs::rename(m1, inbox / "cur" /
                     (m1.filename().string().substr(0, m1.filename().string().find(':')) + ":2,S"));
  fs::remove(find_file(inbox, "m4"));
  fs::path m3 = find_file(inbox, "m3");
  fs::rename(m3, dir / "Mail" / "Archive" / "cur" / m3.filename());
  return config;
}

TEST(Crash, EveryStepResumesToTheSameEndState) {
  const auto& server = TestServer::instance();

  std::string ref_user = server.fresh_user("ref");
  fs::path ref_dir = server.work_dir(ref_user);
  fs::path ref_config = set_up_scenario(server, ref_user, ref_dir);
  auto whole = run_roam({"sync", "-v", "-c", ref_config.string()});
  ASSERT_EQ(whole.exit_code, 0) << whole.err;
  // INBOX and Archive, tied by the move, on one connection; Lists on another.
  EXPECT_NE(whole.err.find("3 folders over 2 connections"), std::string::npos) << whole.err;
  Snapshot expected = snapshot(server, ref_user, ref_dir / "Mail");
  // The scenario must really have moved things, or the test proves little.
  // Without UIDPLUS (the capability filter of tests/servers/) roam leaves
  // what it deleted or moved away marked \Deleted instead of expunging it:
  // only the messages without \Deleted count.
  const auto live = [](const std::vector<std::pair<std::string, std::string>>& messages) {
    return std::count_if(messages.begin(), messages.end(), [](const auto& message) {
      return message.second.find("\\Deleted") == std::string::npos;
    });
  };
  ASSERT_EQ(live(expected.server.at("Archive")), 3) << describe(expected);
  ASSERT_EQ(live(expected.server.at("INBOX")), 6) << describe(expected);
  ASSERT_EQ(live(expected.server.at("Lists")), 3) << describe(expected);

  int interrupted = 0;
  for (int n = 1; n < 200; ++n) {
    std::string user = server.fresh_user("s" + std::to_string(n));
    fs::path dir = server.work_dir(user);
    fs::path config = set_up_scenario(server, user, dir);
    auto cut = run_roam({"sync", "--test-stop-after=" + std::to_string(n), "-c", config.string()});
    if (cut.exit_code == 0) {
      break;  // The run has fewer than n steps: every step was covered.
    }
    ASSERT_EQ(cut.exit_code, 100) << "step " << n << ": " << cut.err;
    ++interrupted;
    auto resumed = run_roam({"sync", "-v", "-c", config.string()});
    ASSERT_EQ(resumed.exit_code, 0) << "step " << n << ": " << resumed.err;
    Snapshot got = snapshot(server, user, dir / "Mail");
    ASSERT_EQ(got, expected) << "after a stop at step " << n << "\nexpected:\n"
                             << describe(expected) << "got:\n"
                             << describe(got);
    auto again = run_roam({"sync", "-c", config.string()});
    ASSERT_EQ(again.exit_code, 0) << again.err;
    ASSERT_EQ(snapshot(server, user, dir / "Mail"), got) << "a further run changed something";
  }
  // The scenario has steps of every kind; far fewer would mean the switch
  // is not counting them.
  EXPECT_GE(interrupted, 8);
}

// Starts roam without waiting for it.
pid_t spawn_roam(const std::vector<std::string>& args) {
  std::vector<std::string> argv{roam_binary().string()};
  argv.insert(argv.end(), args.begin(), args.end());
  std::vector<char*> c_argv;
  for (auto& a : argv) {
    c_argv.push_back(a.data());
  }
  c_argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
  pid_t pid = 0;
  int rc = ::posix_spawn(&pid, c_argv[0], &actions, nullptr, c_argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  EXPECT_EQ(rc, 0);
  return pid;
}

// Local messages by content, counted, over all folders.
std::map<std::string, int> local_counts(const fs::path& maildir) {
  std::map<std::string, int> counts;
  for (const auto& entry : fs::recursive_directory_iterator(maildir)) {
    auto parent = entry.path().parent_path().filename();
    if (entry.is_regular_file() && (parent == "cur" || parent == "new")) {
      ++counts[read_file(entry.path())];
    }
  }
  return counts;
}

// A stop between the download of a large message and its move into place
// leaves it marked whole in tmp/, and the next run takes it from there
// instead of fetching it again. The folder is synced over one connection,
// so a run's steps come in the same order every time and the sweep is
// sure to stop inside that window. (In EveryStep the steps of two
// connections interleave differently from run to run, so whether one of
// its stops falls inside the window is chance.)
TEST(Crash, AStopBeforeALargeDownloadIsPlacedResumesFromTmp) {
  const auto& server = TestServer::instance();
  int interrupted = 0;
  int resumed_from_tmp = 0;
  for (int n = 1; n < 50; ++n) {
    std::string user = server.fresh_user("t" + std::to_string(n));
    fs::path dir = server.work_dir(user);
    server.append(user, "INBOX", message("m1", "first"));
    fs::path config = dir / "roam.conf";
    server.write_config(config, user, {"sync = both", "connections = 1"});
    auto first = run_roam({"sync", "-c", config.string()});
    ASSERT_EQ(first.exit_code, 0) << first.err;
    // A small message before the large one: the small one's move into
    // place is a step taken while the large one waits, whole, in tmp/.
    server.append(user, "INBOX", message("m5", "fifth"), {"\\Answered"});
    server.append(user, "INBOX", message("m6", large_body()));

    auto cut = run_roam({"sync", "--test-stop-after=" + std::to_string(n), "-c", config.string()});
    if (cut.exit_code == 0) {
      break;  // Every step was covered.
    }
    ASSERT_EQ(cut.exit_code, 100) << "step " << n << ": " << cut.err;
    ++interrupted;
    auto resumed = run_roam({"sync", "-v", "-c", config.string()});
    ASSERT_EQ(resumed.exit_code, 0) << "step " << n << ": " << resumed.err;
    if (resumed.err.find("moved into place from tmp/") != std::string::npos) {
      ++resumed_from_tmp;
    }
    // Each message once in the Maildir and once on the server.
    auto counts = local_counts(dir / "Mail");
    ASSERT_EQ(counts.size(), 3u) << "step " << n;
    for (const auto& [text, count] : counts) {
      EXPECT_EQ(count, 1) << "step " << n << ": " << text.substr(0, 120);
    }
    EXPECT_EQ(server.list_uids_and_flags(user, "INBOX").size(), 3u) << "step " << n;
  }
  EXPECT_GE(interrupted, 2);
  EXPECT_GE(resumed_from_tmp, 1);
}

TEST(Crash, RandomKillsNeverLoseOrDuplicate) {
  const auto& server = TestServer::instance();
  std::string user = server.fresh_user();
  fs::path dir = server.work_dir(user);
  // Six folders over two connections: each connection syncs three in turn,
  // sending each next folder's SELECT behind the last one's final body
  // fetch, so kills also land with a SELECT ahead in flight.
  server.seed(user, {"--messages", "400", "--folders", "6", "--flags", "--seed", "7"});
  fs::path config = dir / "roam.conf";
  server.write_config(config, user, {"sync = both", "connections = 2"});
  // Local files to upload at the same time.
  make_local_folder(dir / "Mail" / "INBOX");
  for (int i = 0; i < 60; ++i) {
    std::ofstream(dir / "Mail" / "INBOX" / "new" / ("1700000000.up" + std::to_string(i) + ".host"))
        << message("up" + std::to_string(i),
                   std::string(static_cast<std::size_t>(200 + i * 37), 'x'));
  }

  std::mt19937 rng(12345);
  std::uniform_int_distribution<int> delay_ms(5, 120);
  for (int round = 0; round < 8; ++round) {
    pid_t pid = spawn_roam({"sync", "-c", config.string()});
    std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms(rng)));
    ::kill(pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);
  }
  auto finish = run_roam({"sync", "-c", config.string()});
  ASSERT_EQ(finish.exit_code, 0) << finish.err;
  auto again = run_roam({"sync", "-c", config.string()});
  ASSERT_EQ(again.exit_code, 0) << again.err;

  // Every message exists exactly once on each side, and the sides agree.
  std::map<std::string, int> server_counts;
  for (const auto& mailbox : server.list_mailboxes(user)) {
    for (const auto& message : server.messages_with_bodies(user, mailbox)) {
      ++server_counts[message.second];
    }
  }
  std::map<std::string, int> local = local_counts(dir / "Mail");
  EXPECT_EQ(server_counts.size(), 460u);
  for (const auto& [text, n] : server_counts) {
    EXPECT_EQ(n, 1) << "duplicated on the server: " << text.substr(0, 120);
  }
  for (const auto& [text, n] : local) {
    EXPECT_EQ(n, 1) << "duplicated locally: " << text.substr(0, 120);
  }
  EXPECT_EQ(local.size(), server_counts.size());
  for (const auto& [text, n] : server_counts) {
    EXPECT_EQ(local.count(text), 1u) << "missing locally: " << text.substr(0, 120);
  }
}

}  // namespace
}  // namespace roam::it
