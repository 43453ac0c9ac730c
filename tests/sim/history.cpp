#include "history.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/time.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <random>
#include <sstream>
#include <string_view>

#include "maildir/layout.hpp"
#include "runner.hpp"
#include "server_model.hpp"
#include "state/folder_state.hpp"

namespace roam::sim {

namespace fs = std::filesystem;

namespace {

const std::vector<Feature> k_features = {
    {"kill", "roam is killed (std::_Exit) after a random step of a run"},
    {"cut", "the server cuts the connection after a random byte of a run"},
    {"localmove", "the mail client moves files between folders under the same name (mutt)"},
    {"mu4e", "the mail client moves files between folders under a new name (mu4e)"},
    {"srvmove", "another IMAP client moves messages between folders"},
    {"uidvalidity", "a folder's UIDVALIDITY is reset between runs (UIDs renumbered)"},
    {"srvfolders", "another IMAP client renames or deletes a folder"},
    {"localfolders", "the mail client creates a new folder with mail in it"},
    {"prefilled", "some messages are on both sides before the first run (a lost state directory)"},
    {"mark-deleted", "another IMAP client marks messages \\Deleted and leaves them"},
    {"no-uidplus", "no UIDPLUS, no APPENDUID/COPYUID codes"},
    {"no-move", "no MOVE"},
    {"no-condstore", "no CONDSTORE"},
    {"stray-modseq", "no CONDSTORE, but SELECT still says [HIGHESTMODSEQ] (Cyrus)"},
    {"rewrite-8bit", "APPEND turns 8-bit header bytes into 'X' (Cyrus)"},
    {"courier", "messages appended in a session are invisible to it (Courier)"},
    {"readonly", "one folder opens [READ-ONLY]; STORE/EXPUNGE/APPEND there answer NO"},
    {"no-literal-plus", "no LITERAL+: APPEND waits for '+ go ahead'"},
    {"no-list-status", "no LIST-STATUS"},
    // Features from here on are drawn apart from the history (see setup()).
    {"namespace", "NAMESPACE has the personal prefix INBOX/, on every folder but INBOX"},
    {"time-passes",
     "an hour passes before each run: Maildir directories look settled, so roam "
     "may record them in its account summary and skip them later"},
    {"no-esearch", "no ESEARCH: UID SEARCH answers one UID per message"},
    {"no-multiappend", "no MULTIAPPEND: one APPEND per message"},
    {"parallel",
     "roam syncs the folders over three connections at once (how their commands interleave "
     "varies from run to run of a seed)"},
};

// The first feature whose draw does not come from the history's generator:
// a feature added after seeds were recorded (tests/sim/CMakeLists.txt
// replays them) must not shift the draws of every history that follows.
constexpr std::string_view k_first_late_feature = "namespace";

using Rng = std::mt19937_64;

const char* const k_folder_pool[] = {"Archive", "Lists/dev", "Work", "Sent"};

// The IMAP flags a Maildir letter stands for (src/maildir/name.hpp has the
// same table; the oracle keeps its own so that it does not trust the code
// it checks).
const std::map<char, std::string> k_letters = {{'D', "\\Draft"},    {'F', "\\Flagged"},
                                               {'P', "$Forwarded"}, {'R', "\\Answered"},
                                               {'S', "\\Seen"},     {'T', "\\Deleted"}};
// The letters the simulated users toggle.
const char k_toggled[] = {'S', 'F', 'R', 'D'};

std::string letters_of(const std::set<std::string>& flags) {
  std::string out;
  for (const auto& [letter, flag] : k_letters) {
    if (flags.count(flag) != 0) {
      out += letter;
    }
  }
  return out;
}

std::string known_letters(const std::string& letters) {
  std::string out;
  for (char c : letters) {
    if (k_letters.count(c) != 0 && out.find(c) == std::string::npos) {
      out += c;
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string to_crlf(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == '\n') {
      out += '\r';
    }
    out += c;
  }
  return out;
}

std::string to_lf(const std::string& text) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\r' && i + 1 < text.size() && text[i + 1] == '\n') {
      continue;
    }
    out += text[i];
  }
  return out;
}

// Every generated message carries "Message-ID: <sim<id>@roam.test>", so the
// oracle knows each copy by content whatever name or UID it has.
int id_of(const std::string& content) {
  auto p = content.find("Message-ID: <sim");
  if (p == std::string::npos) {
    return -1;
  }
  p += 16;
  int id = 0;
  while (p < content.size() && content[p] >= '0' && content[p] <= '9') {
    id = id * 10 + (content[p++] - '0');
  }
  return id;
}

bool has_8bit(const std::string& s) {
  return std::any_of(s.begin(), s.end(),
                     [](char c) { return static_cast<unsigned char>(c) >= 0x80; });
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

struct LocalFile {
  std::string folder;
  fs::path path;
  std::string subdir;  // "cur" or "new".
  std::string stable;
  std::string letters;
  int id = -1;
  std::string content;
};

// The local folders, by name, as roam lists them in the history's layout.
std::vector<std::string> local_folders(const maildir::Tree& tree) {
  return maildir::list_local_folders(tree).names;
}

std::vector<LocalFile> scan_local(const maildir::Tree& tree) {
  std::vector<LocalFile> out;
  for (const auto& folder : local_folders(tree)) {
    for (const char* sub : {"cur", "new"}) {
      fs::path dir = maildir::folder_path(tree, folder, '/') / sub;
      if (!fs::is_directory(dir)) {
        continue;
      }
      for (const auto& e : fs::directory_iterator(dir)) {
        if (!e.is_regular_file()) {
          continue;
        }
        LocalFile f;
        f.folder = folder;
        f.path = e.path();
        f.subdir = sub;
        std::string name = e.path().filename().string();
        auto colon = name.rfind(":2,");
        f.stable = name.substr(0, colon);
        f.letters = colon == std::string::npos ? "" : name.substr(colon + 3);
        f.content = read_file(e.path());
        f.id = id_of(f.content);
        out.push_back(std::move(f));
      }
    }
  }
  std::sort(out.begin(), out.end(), [](const LocalFile& a, const LocalFile& b) {
    return std::tie(a.id, a.folder, a.path) < std::tie(b.id, b.folder, b.path);
  });
  return out;
}

std::string local_snapshot(const maildir::Tree& tree) {
  std::string out;
  for (const auto& f : scan_local(tree)) {
    out += f.folder + "/" + f.subdir + "/" + f.path.filename().string() + " " +
           std::to_string(f.content.size()) + "\n";
  }
  return out;
}

// The lines of `b` not in `a`, prefixed, for a readable difference.
std::string diff_lines(const std::string& a, const std::string& b) {
  std::set<std::string> la;
  std::set<std::string> lb;
  std::istringstream sa(a);
  std::istringstream sb(b);
  for (std::string l; std::getline(sa, l);) {
    la.insert(l);
  }
  for (std::string l; std::getline(sb, l);) {
    lb.insert(l);
  }
  std::string out;
  for (const auto& l : la) {
    if (lb.count(l) == 0) {
      out += "    - " + l + "\n";
    }
  }
  for (const auto& l : lb) {
    if (la.count(l) == 0) {
      out += "    + " + l + "\n";
    }
  }
  return out;
}

class Sim {
 public:
  explicit Sim(const HistoryOptions& o) : m_o(o), m_rng(o.seed) {
    m_maildir = o.work_dir / "Maildir";
    m_state = o.work_dir / "state";
    m_tree =
        maildir::Tree(m_maildir, o.layout, '.',
                      o.inbox_path ? std::optional<fs::path>(m_maildir / "Inbox") : std::nullopt);
  }

  HistoryResult run();

 private:
  struct Fate {
    bool deleted = false;   // Someone deleted it on purpose: it may be gone.
    bool anywhere = false;  // Moved on both sides at once: any folder will do.
    std::string folder;     // Where the last move or delivery put it.
    // An undisturbed run completed while it existed. Before that, roam's
    // state may not know it, and a move of it is indistinguishable from a
    // copy (a new message in one folder, another in the other).
    bool synced = false;
    // Moved by the user into or out of a read-only folder: its server copy
    // may stay in the source folder (the move is refused, and stays
    // pending), beside a copy of the same message that reaches that folder
    // later (seed 33021223: a first sync had left the message in two
    // folders, and the user moved the other copy there). Two copies in
    // that server folder are then the user's doing, not roam's.
    bool stuck_on_server = false;
  };

  struct ServerRef {
    int id;
    std::string folder;
    std::uint32_t uid;
  };

  std::uint64_t pick(std::uint64_t n) { return n == 0 ? 0 : m_rng() % n; }
  bool chance(int percent) { return static_cast<int>(m_rng() % 100) < percent; }
  bool on(const std::string& f) const { return m_r.features.count(f) != 0; }
  void event(const std::string& e) { m_r.events.push_back(e); }
  void fail(const std::string& f) {
    m_r.ok = false;
    m_r.failures.push_back(f);
  }

  std::string new_message(int id, bool eightbit);
  std::string internaldate(int id) const;
  std::set<std::string> random_flags();
  void write_local(const std::string& folder, const std::string& name, bool cur, int id,
                   const std::string& text);
  void make_local_folder(const std::string& folder);
  std::vector<ServerRef> server_messages();

  void setup();
  void other_client();
  void mail_client();
  RunResult run_once(const std::string& label, std::uint64_t stop, std::uint64_t cut);
  void dump_local(const std::string& label) const;
  void check_after_run(const std::string& label);
  void check_final();
  std::map<int, std::string> flag_expectations();
  void check_flags(const std::string& label, const std::map<int, std::string>& expected);

  HistoryOptions m_o;
  Rng m_rng;
  ServerModel m_server;
  fs::path m_maildir;
  // The local tree in the history's layout; every folder directory comes
  // from it, as roam's do.
  maildir::Tree m_tree;
  fs::path dir_of(const std::string& folder) const {
    return maildir::folder_path(m_tree, folder, '/');
  }
  fs::path m_state;
  HistoryResult m_r;
  int m_next_id = 1;
  int m_names = 0;
  int m_new_folders = 0;
  std::map<int, Fate> m_fates;
  // Folders another client removed from the server after roam synced them.
  std::set<std::string> m_server_gone;
  // Server folders that existed when an undisturbed run completed.
  std::set<std::string> m_synced_folders;
  std::set<std::string> m_server_maybe_gone;
  std::set<int> m_moved_local;
  std::set<int> m_moved_server;
  // Flag changes and UIDVALIDITY resets since the last undisturbed run.
  std::set<int> m_flagged_local;
  std::set<int> m_flagged_server;
  std::set<std::string> m_reset_folders;
  // Folders (by their old names) that another client renamed on the server
  // since the last undisturbed run.
  std::set<std::string> m_renamed_folders;
  // The last run was undisturbed and ended ok.
  bool m_last_clean = false;
  // The most steps a completed run took: kills are spread over that range.
  std::uint64_t m_max_steps = 0;
  std::uint64_t m_last_steps = 0;
};

std::string Sim::internaldate(int id) const {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%02d-Jan-2024 %02d:%02d:00 +0000", 1 + id % 28, id % 24,
                (id * 7) % 60);
  return buf;
}

std::string Sim::new_message(int id, bool eightbit) {
  std::string text = "Message-ID: <sim" + std::to_string(id) + "@roam.test>\n";
  text += eightbit ? "From: J\xc3\xb6rg Sim <joerg@example.org>\n"
                   : "From: Joe Sim <joe@example.org>\n";
  text += "Subject: message " + std::to_string(id) + (eightbit ? " \xc3\xa4rger" : "") + "\n";
  text += "Date: Mon, 1 Jan 2024 00:00:00 +0000\n\n";
  std::uint64_t lines = 1 + pick(6);
  for (std::uint64_t i = 0; i < lines; ++i) {
    text += "line " + std::to_string(i) + " of message " + std::to_string(id) + "\n";
  }
  return text;
}

std::set<std::string> Sim::random_flags() {
  std::set<std::string> flags;
  if (chance(50)) {
    flags.insert("\\Seen");
  }
  if (chance(20)) {
    flags.insert("\\Flagged");
  }
  if (chance(10)) {
    flags.insert("\\Answered");
  }
  return flags;
}

void Sim::make_local_folder(const std::string& folder) {
  for (const char* sub : {"cur", "new", "tmp"}) {
    fs::create_directories(dir_of(folder) / sub);
  }
}

void Sim::write_local(const std::string& folder, const std::string& name, bool cur, int id,
                      const std::string& text) {
  make_local_folder(folder);
  fs::path path = dir_of(folder) / (cur ? "cur" : "new") / name;
  {
    std::ofstream out(path, std::ios::binary);
    out << text;
  }
  // A fixed mtime: roam uploads it as the INTERNALDATE.
  timeval times[2];
  times[0].tv_sec = times[1].tv_sec = 1704067200 + id * 3600;
  times[0].tv_usec = times[1].tv_usec = 0;
  ::utimes(path.c_str(), times);
}

std::vector<Sim::ServerRef> Sim::server_messages() {
  std::vector<ServerRef> out;
  for (const auto& [name, mb] : m_server.mailboxes) {
    for (const auto& m : mb.messages) {
      out.push_back({id_of(m.raw), name, m.uid});
    }
  }
  std::sort(out.begin(), out.end(), [](const ServerRef& a, const ServerRef& b) {
    return std::tie(a.id, a.folder, a.uid) < std::tie(b.id, b.folder, b.uid);
  });
  return out;
}

void Sim::setup() {
  // The late features' own generator, seeded from the seed alone.
  Rng late_rng(m_o.seed ^ 0x9e3779b97f4a7c15ull);
  bool late = false;
  for (const auto& f : all_features()) {
    std::string name = f.name;
    // Drawn for every feature, allowed or not, so that a seed gives the
    // same history under any --quirks (only the features differ): a failure
    // can then be narrowed down with --drop.
    if (name == k_first_late_feature) {
      late = true;
    }
    bool drawn = late ? late_rng() % 2 == 0 : chance(50);
    if (m_o.dropped.count(name) != 0) {
      continue;
    }
    if (m_o.forced.count(name) != 0 || (m_o.allowed.count(name) != 0 && drawn)) {
      m_r.features.insert(name);
    }
  }
  for (const auto& [a, b] : m_o.exclusive) {
    if (on(a) && on(b) && m_o.forced.count(b) == 0) {
      m_r.features.erase(b);
    }
  }
  Quirks& q = m_server.quirks;
  q.uidplus = !on("no-uidplus");
  q.move = !on("no-move");
  q.condstore = !on("no-condstore") && !on("stray-modseq");
  q.stray_highestmodseq = on("stray-modseq");
  q.rewrite_8bit = on("rewrite-8bit");
  q.hide_appended = on("courier");
  q.literal_plus = !on("no-literal-plus");
  q.list_status = !on("no-list-status");
  q.esearch = !on("no-esearch");
  q.multiappend = !on("no-multiappend");
  q.namespace_prefix = on("namespace") ? "INBOX" + std::string(1, m_server.delimiter) : "";

  std::vector<std::string> folders = {"INBOX"};
  std::uint64_t extra = pick(3);
  std::vector<std::string> pool(std::begin(k_folder_pool), std::end(k_folder_pool));
  std::shuffle(pool.begin(), pool.end(), m_rng);
  folders.insert(folders.end(), pool.begin(), pool.begin() + static_cast<long>(extra));
  for (const auto& f : folders) {
    m_server.create(f);
  }
  if (on("readonly")) {
    std::string ro = folders[pick(folders.size())];
    q.read_only.insert(ro);
    event("server: " + ro + " is read-only");
  }
  std::string features;
  for (const auto& f : m_r.features) {
    features += " " + f;
  }
  event("features:" + features);

  // Mail already on the server, and (now and then) in a Maildir that was
  // never synced: the first run must pair what is on both sides by content.
  std::uint64_t n = pick(31);
  for (std::uint64_t i = 0; i < n; ++i) {
    int id = m_next_id++;
    std::string folder = folders[pick(folders.size())];
    std::string text = new_message(id, chance(15));
    std::set<std::string> flags = random_flags();
    m_fates[id].folder = folder;
    // 0-5: on the server only; 6-7: in the Maildir only; 8-9: on the
    // server, and with "prefilled" in the Maildir as well, as after a lost
    // state directory. A read-only folder gets everything on the server,
    // since nothing could be uploaded into it.
    int where = static_cast<int>(pick(10));
    bool both = where >= 8 && on("prefilled");
    bool server = where < 6 || where >= 8 || on("readonly");
    bool local = (where >= 6 && where < 8) || both;
    if (server) {
      m_server.deliver(folder, to_crlf(text), flags, internaldate(id));
      event("setup: m" + std::to_string(id) + " on the server in " + folder);
    }
    if (local) {
      write_local(folder, "pre" + std::to_string(id) + ".sim:2," + letters_of(flags), true, id,
                  text);
      event("setup: m" + std::to_string(id) + " in the Maildir in " + folder +
            (server ? " as well" : ""));
    }
  }
}

void Sim::other_client() {
  std::uint64_t ops = pick(4);
  for (std::uint64_t i = 0; i < ops; ++i) {
    std::vector<std::string> folders;
    for (const auto& [name, mb] : m_server.mailboxes) {
      folders.push_back(name);
    }
    if (folders.empty()) {
      return;
    }
    std::vector<ServerRef> msgs = server_messages();
    int op = static_cast<int>(pick(12));
    if (op < 3 || msgs.empty()) {
      int id = m_next_id++;
      std::string folder = folders[pick(folders.size())];
      m_server.deliver(folder, to_crlf(new_message(id, chance(15))), random_flags(),
                       internaldate(id));
      m_fates[id].folder = folder;
      event("server: new m" + std::to_string(id) + " in " + folder);
      continue;
    }
    const ServerRef& ref = msgs[pick(msgs.size())];
    Mailbox& mb = m_server.mailboxes.at(ref.folder);
    std::string tag =
        "m" + std::to_string(ref.id) + " (" + ref.folder + " UID " + std::to_string(ref.uid) + ")";
    if (op < 6) {
      Message* m = mb.find(ref.uid);
      static const char* const flags[] = {"\\Seen", "\\Flagged", "\\Answered", "\\Draft"};
      std::string flag = flags[pick(4)];
      bool had = m->flags.erase(flag) != 0;
      if (!had) {
        m->flags.insert(flag);
      }
      mb.touch(*m);
      event("server: " + std::string(had ? "-" : "+") + flag + " on " + tag);
      m_flagged_server.insert(ref.id);
    } else if (op < 8 && on("mark-deleted") && chance(30)) {
      // A client that marks now and expunges later (or never): roam must
      // not expunge what it did not mark itself.
      Message* m = mb.find(ref.uid);
      m->flags.insert("\\Deleted");
      mb.touch(*m);
      m_fates[ref.id].deleted = true;
      event("server: +\\Deleted (no expunge) on " + tag);
    } else if (op < 8) {
      m_server.expunge(ref.folder, ref.uid);
      m_fates[ref.id].deleted = true;
      event("server: expunge " + tag);
    } else if (op < 10 && on("srvmove") && folders.size() > 1) {
      std::string to = folders[pick(folders.size())];
      bool there = std::any_of(msgs.begin(), msgs.end(), [&](const ServerRef& other) {
        return other.id == ref.id && other.folder == to;
      });
      if (to == ref.folder || there) {
        continue;  // Two copies in one folder would be the other client's doing.
      }
      // A copy marked \Deleted that roam left behind (no UIDPLUS) while the
      // message lives on elsewhere: moving it says nothing about where the
      // user wants the message, so either place is right.
      auto live = [&](const ServerRef& r) {
        const Message* m = m_server.mailboxes.at(r.folder).find(r.uid);
        return m != nullptr && m->flags.count("\\Deleted") == 0;
      };
      bool stale_copy = !live(ref) && std::any_of(msgs.begin(), msgs.end(), [&](const auto& o) {
        return o.id == ref.id && (o.folder != ref.folder || o.uid != ref.uid) && live(o);
      });
      m_server.move(ref.folder, ref.uid, to);
      Fate& fate = m_fates[ref.id];
      fate.folder = to;
      fate.anywhere = fate.anywhere || m_moved_local.count(ref.id) != 0 || !fate.synced ||
                      m_reset_folders.count(ref.folder) != 0 || stale_copy;
      m_moved_server.insert(ref.id);
      event("server: move " + tag + " to " + to);
    } else if (op == 10 && on("uidvalidity")) {
      m_server.reset_uidvalidity(ref.folder);
      m_reset_folders.insert(ref.folder);
      // A move out of a folder whose UIDs were renumbered is not recognised
      // (the old UIDs mean nothing); the local copy is kept and uploaded, as
      // docs/sync-semantics.md says of files without a server match.
      for (int id : m_moved_local) {
        m_fates[id].anywhere = true;
      }
      for (int id : m_moved_server) {
        m_fates[id].anywhere = true;
      }
      event("server: UIDVALIDITY of " + ref.folder + " reset to " + std::to_string(mb.uidvalidity));
    } else if (op == 11 && on("srvfolders") && ref.folder != "INBOX") {
      std::string from = ref.folder;
      if (chance(50)) {
        std::string to = "Renamed" + std::to_string(++m_new_folders);
        m_server.rename(from, to);
        // Its UIDs were renumbered under the old name since the last
        // undisturbed run: a move out of it is as unrecognisable under the
        // new one (seed 42104941).
        if (m_reset_folders.count(from) != 0) {
          m_reset_folders.insert(to);
        }
        // roam recognises a rename by the folder's content; when local
        // moves changed that content, it may take the folder for a new one
        // (and the old one for deleted), and a move out of it for a copy
        // (seed 43026821).
        m_renamed_folders.insert(from);
        for (int id : m_moved_local) {
          m_fates[id].anywhere = true;
        }
        for (auto& [id, fate] : m_fates) {
          if (fate.folder == from) {
            fate.folder = to;
            // A folder roam never synced is, to roam, a local folder to
            // create on the server: its files rightly go up again.
            fate.anywhere = fate.anywhere || m_synced_folders.count(from) == 0;
          }
        }
        event("server: rename folder " + from + " to " + to);
      } else {
        for (const auto& m : mb.messages) {
          m_fates[id_of(m.raw)].deleted = true;
        }
        m_server.remove(from);
        event("server: delete folder " + from);
      }
      // A folder no undisturbed run saw may still be known to roam from a
      // killed one: then either outcome (kept local-only, or created on
      // the server again) is right.
      (m_synced_folders.count(from) != 0 ? m_server_gone : m_server_maybe_gone).insert(from);
    }
  }
}

void Sim::mail_client() {
  std::uint64_t ops = pick(5);
  for (std::uint64_t i = 0; i < ops; ++i) {
    std::vector<std::string> folders = local_folders(m_tree);
    std::vector<LocalFile> files = scan_local(m_tree);
    int op = static_cast<int>(pick(16));
    if (op < 3 || (files.empty() && op < 14)) {
      if (folders.empty()) {
        continue;
      }
      int id = m_next_id++;
      std::string folder = folders[pick(folders.size())];
      bool cur = chance(50);
      std::string name = "sim" + std::to_string(id) + ".M" + std::to_string(++m_names) + ".host";
      if (chance(20)) {
        name += ",U=" + std::to_string(1 + pick(200));  // An mbsync leftover.
      }
      std::string letters = cur ? letters_of(random_flags()) : "";
      if (cur) {
        name += ":2," + letters;
      }
      write_local(folder, name, cur, id, new_message(id, chance(20)));
      m_fates[id].folder = folder;
      event("local: new m" + std::to_string(id) + " in " + folder + "/" + (cur ? "cur/" : "new/") +
            name);
      continue;
    }
    if (op == 14) {
      if (on("localfolders")) {
        std::string folder = "Local" + std::to_string(++m_new_folders);
        make_local_folder(folder);
        int id = m_next_id++;
        write_local(folder, "sim" + std::to_string(id) + ".host:2,S", true, id,
                    new_message(id, false));
        m_fates[id].folder = folder;
        event("local: new folder " + folder + " with m" + std::to_string(id));
      }
      continue;
    }
    if (files.empty()) {
      continue;
    }
    const LocalFile& f = files[pick(files.size())];
    std::string tag = "m" + std::to_string(f.id) + " (" + f.folder + "/" + f.subdir + "/" +
                      f.path.filename().string() + ")";
    fs::path cur_dir = dir_of(f.folder) / "cur";
    if (op < 7) {
      char letter = k_toggled[pick(4)];
      std::string letters = f.letters;
      auto at = letters.find(letter);
      if (at == std::string::npos) {
        letters += letter;
        std::sort(letters.begin(), letters.end());
      } else {
        letters.erase(at, 1);
      }
      fs::rename(f.path, cur_dir / (f.stable + ":2," + letters));
      event("local: " + std::string(at == std::string::npos ? "+" : "-") + letter + " on " + tag);
      m_flagged_local.insert(f.id);
    } else if (op < 8) {
      if (f.subdir == "new") {
        fs::rename(f.path, cur_dir / (f.stable + ":2,"));
        event("local: new/ -> cur/ " + tag);
      }
    } else if (op < 10) {
      fs::remove(f.path);
      m_fates[f.id].deleted = true;
      event("local: delete " + tag);
    } else if (op < 14) {
      bool mu4e = op >= 12;
      if (folders.size() < 2 || !on(mu4e ? "mu4e" : "localmove")) {
        continue;
      }
      std::string to = folders[pick(folders.size())];
      if (to == f.folder) {
        continue;
      }
      // Two copies of one message in a folder would be the user's doing,
      // not roam's, and the oracle counts copies per folder: no such move.
      // (It arises when a prefilled Maildir folder mirrors a server folder
      // that another client renamed before the first run: both are synced,
      // so the message is in two folders on each side.)
      bool there = false;
      for (const auto& g : scan_local(m_tree)) {
        there = there || (g.folder == to && g.id == f.id);
      }
      if (there) {
        continue;
      }
      std::string name = mu4e ? "mu4e" + std::to_string(++m_names) + ".host:2," + f.letters
                              : f.stable + ":2," + f.letters;
      fs::rename(f.path, dir_of(to) / "cur" / name);
      Fate& fate = m_fates[f.id];
      fate.folder = to;
      // Out of a read-only folder the server copy cannot go: roam can only
      // upload into the target, and the message is then in both. Into a
      // read-only folder the server refuses the move, which stays pending:
      // on the server the message stays in the source folder.
      fate.anywhere = fate.anywhere || m_moved_server.count(f.id) != 0 || !fate.synced ||
                      m_server.quirks.read_only.count(f.folder) != 0 ||
                      m_server.quirks.read_only.count(to) != 0 ||
                      m_reset_folders.count(f.folder) != 0 ||
                      m_renamed_folders.count(f.folder) != 0;
      fate.stuck_on_server = fate.stuck_on_server ||
                             m_server.quirks.read_only.count(f.folder) != 0 ||
                             m_server.quirks.read_only.count(to) != 0;
      m_moved_local.insert(f.id);
      event("local: move " + tag + " to " + to + "/cur/" + name);
    } else if (op == 15 && f.subdir == "cur" && f.letters.empty() && chance(50)) {
      // A reader that moves a file back to new/ is rare but legal.
      fs::rename(f.path, dir_of(f.folder) / "new" / f.stable);
      event("local: cur/ -> new/ " + tag);
    }
  }
}

// With --verbose, what a run left behind: every Maildir file and every
// line of the folder states and journals, so a failing history can be
// followed run by run without replaying it under a debugger.
void Sim::dump_local(const std::string& label) const {
  std::fprintf(stderr, "--- after %s: Maildir\n", label.c_str());
  std::vector<std::string> lines;
  for (const auto& e : fs::recursive_directory_iterator(m_maildir)) {
    if (e.is_regular_file()) {
      lines.push_back(fs::relative(e.path(), m_maildir).string());
    }
  }
  std::sort(lines.begin(), lines.end());
  for (const auto& l : lines) {
    std::fprintf(stderr, "    %s\n", l.c_str());
  }
  std::fprintf(stderr, "--- after %s: state\n", label.c_str());
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(m_state)) {
    files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  for (const auto& p : files) {
    std::ifstream in(p);
    std::stringstream text;
    text << in.rdbuf();
    std::string compact = text.str();
    std::erase(compact, '\n');
    std::fprintf(stderr, "    %s: %s\n", p.filename().c_str(), compact.c_str());
  }
}

RunResult Sim::run_once(const std::string& label, std::uint64_t stop, std::uint64_t cut) {
  if (on("time-passes")) {
    // Runs follow each other within milliseconds here, and roam records a
    // directory in its summary only when its last change is older than a
    // file system's timestamp granularity. Every cur/ and new/ changed in
    // the last half hour gets an mtime an hour back (a new value each
    // time, as time moves on), the others keep theirs, so the summary's
    // quick path is exercised: a change the mail client makes later sets a
    // current mtime, which must never match a recorded one.
    auto now = std::chrono::system_clock::now();
    auto back = now - std::chrono::hours(1);
    auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(back.time_since_epoch()).count();
    struct timespec times[2];
    times[0].tv_nsec = UTIME_OMIT;
    times[0].tv_sec = 0;
    times[1].tv_sec = static_cast<time_t>(ns / 1'000'000'000);
    times[1].tv_nsec = static_cast<long>(ns % 1'000'000'000);
    for (const auto& folder : local_folders(m_tree)) {
      for (const char* sub : {"cur", "new"}) {
        fs::path dir = dir_of(folder) / sub;
        struct stat st {};
        if (::stat(dir.c_str(), &st) == 0 &&
            st.st_mtim.tv_sec > std::chrono::system_clock::to_time_t(now) - 1800) {
          ::utimensat(AT_FDCWD, dir.c_str(), times, 0);
        }
      }
    }
  }
  RunOptions ro;
  ro.tree = m_tree;
  ro.state_dir = m_state;
  ro.stop_after_steps = stop;
  ro.cut_after_bytes = cut;
  ro.verbose = m_o.verbose;
  ro.connections = on("parallel") ? 3 : 1;
  if (m_o.verbose) {
    std::fprintf(stderr, "=== %s\n", label.c_str());
  }
  RunResult res = run_roam(m_server, ro);
  ++m_r.runs;
  std::string how;
  if (stop != 0) {
    how += " stop-after=" + std::to_string(stop);
  }
  if (cut != 0) {
    how += " cut-after=" + std::to_string(cut);
  }
  event(label + how + ": " + res.describe() + (res.cut ? " (connection cut)" : ""));
  if (m_o.verbose) {
    dump_local(label);
  }
  std::istringstream lines(res.summary);
  for (std::string l; std::getline(lines, l);) {
    event("    " + l);
  }
  if (res.end == RunResult::End::Crashed) {
    fail(label + ": roam crashed or threw (see the report above)");
  }
  if (!m_server.protocol_errors.empty()) {
    for (const auto& e : m_server.protocol_errors) {
      fail(label + ": the server answered BAD: " + e);
    }
    m_server.protocol_errors.clear();
  }
  bool disturbed = res.end == RunResult::End::Killed || res.cut;
  // A read-only folder may leave local changes that cannot be sent, which
  // roam reports as problems; a folder or account error is never expected
  // from an undisturbed run.
  bool error = res.summary.find(" ERROR: ") != std::string::npos ||
               res.summary.find("account error:") != std::string::npos;
  if (!disturbed && (error || (res.end == RunResult::End::NotOk && !on("readonly")))) {
    fail(label + ": an undisturbed run did not end ok");
  }
  if (res.end != RunResult::End::Killed) {
    m_max_steps = std::max(m_max_steps, res.steps);
    m_last_steps = res.steps;
  }
  m_last_clean = !disturbed && res.end == RunResult::End::Ok;
  if (m_last_clean) {
    m_moved_local.clear();
    m_moved_server.clear();
    // A local flag change in a read-only folder stays pending, not
    // synced: it is still a change when the folder becomes writable (a
    // rename on the server makes a folder of another name).
    std::erase_if(m_flagged_local,
                  [&](int id) { return m_server.quirks.read_only.count(m_fates[id].folder) == 0; });
    m_flagged_server.clear();
    m_reset_folders.clear();
    m_renamed_folders.clear();
    for (auto& [id, fate] : m_fates) {
      fate.synced = true;
    }
    for (const auto& [name, mb] : m_server.mailboxes) {
      m_synced_folders.insert(name);
    }
  }
  check_after_run(label);
  return res;
}

void Sim::check_after_run(const std::string& label) {
  if (fs::exists(m_state)) {
    for (const auto& e : fs::directory_iterator(m_state)) {
      std::string name = e.path().filename().string();
      if (name.rfind("folder-", 0) == 0 && name.ends_with(".json")) {
        try {
          (void)state::load_folder_state(e.path());
        } catch (const std::exception& ex) {
          fail(label + ": state file " + name + " does not load: " + ex.what());
        }
      }
    }
  }
  for (const auto& [name, mb] : m_server.mailboxes) {
    std::map<int, int> seen;
    for (const auto& m : mb.messages) {
      // A copy roam marked \Deleted and could not expunge (no UIDPLUS) is
      // not a second copy the user sees; check_final skips them too.
      if (m.flags.count("\\Deleted") != 0) {
        continue;
      }
      if (++seen[id_of(m.raw)] == 2 && !m_fates[id_of(m.raw)].stuck_on_server) {
        fail(label + ": m" + std::to_string(id_of(m.raw)) + " twice in server folder " + name);
      }
    }
  }
  std::map<std::pair<std::string, int>, int> seen;
  for (const auto& f : scan_local(m_tree)) {
    if (++seen[{f.folder, f.id}] == 2) {
      fail(label + ": m" + std::to_string(f.id) + " twice in local folder " + f.folder);
    }
  }
}

void Sim::check_final() {
  // Where each message is, on each side.
  std::map<int, std::set<std::string>> server_at;
  std::map<int, std::set<std::string>> local_at;
  std::map<std::pair<std::string, int>, const Message*> server_msg;
  std::map<std::pair<std::string, int>, LocalFile> local_msg;
  for (const auto& [name, mb] : m_server.mailboxes) {
    for (const auto& m : mb.messages) {
      // Without UIDPLUS roam marks what the user deleted or moved away
      // \Deleted and leaves the expunge to a client that may remove
      // everything marked. Nobody else in the simulation sets \Deleted.
      if (m.flags.count("\\Deleted") != 0) {
        continue;
      }
      server_at[id_of(m.raw)].insert(name);
      server_msg[{name, id_of(m.raw)}] = &m;
    }
  }
  std::vector<LocalFile> files = scan_local(m_tree);
  for (const auto& f : files) {
    // A 'T' file mirrors a server message marked \\Deleted (skipped above).
    if (f.letters.find('T') != std::string::npos) {
      continue;
    }
    local_at[f.id].insert(f.folder);
    local_msg[{f.folder, f.id}] = f;
  }
  std::vector<std::string> locals = local_folders(m_tree);
  std::set<std::string> local_set(locals.begin(), locals.end());

  // Folders: each exists on both sides, except one that another client
  // removed from the server, which must stay removed there.
  for (const auto& [name, mb] : m_server.mailboxes) {
    if (m_server_gone.count(name) != 0) {
      fail("folder " + name + " was removed on the server by another client, and is back there");
    } else if (local_set.count(name) == 0) {
      fail("server folder " + name + " has no local folder");
    }
  }
  for (const auto& name : locals) {
    if (m_server.mailboxes.count(name) == 0 && m_server_gone.count(name) == 0 &&
        m_server_maybe_gone.count(name) == 0) {
      fail("local folder " + name + " is not on the server");
    }
  }

  // Per folder on both sides: the same messages, the same flags, the same
  // bytes (CRLF on the wire, LF in the Maildir).
  for (const auto& [key, m] : server_msg) {
    const auto& [folder, id] = key;
    bool read_only = m_server.quirks.read_only.count(folder) != 0;
    auto it = local_msg.find(key);
    if (it == local_msg.end()) {
      // Downloads work in a read-only folder too, but a message the user
      // deleted locally stays there.
      // A local move into a read-only folder stays pending: the server
      // refused it, so its copy stays where it was while the file stays
      // where the user put it.
      bool held_move = false;
      for (const auto& there : local_at[id]) {
        held_move = held_move || (there != folder && m_server.quirks.read_only.count(there) != 0 &&
                                  (m_fates[id].anywhere || server_msg.count({there, id}) == 0));
      }
      if (local_set.count(folder) != 0 && !held_move &&
          !(read_only && (m_fates[id].deleted || m_fates[id].anywhere))) {
        fail("m" + std::to_string(id) + " is in server folder " + folder + " but not locally");
      }
      continue;
    }
    if (!read_only && letters_of(m->flags) != known_letters(it->second.letters)) {
      fail("m" + std::to_string(id) + " in " + folder + ": server flags " + letters_of(m->flags) +
           ", local letters " + it->second.letters);
    }
    bool rewritten = m_server.quirks.rewrite_8bit && has_8bit(it->second.content);
    if (!rewritten && to_lf(m->raw) != it->second.content) {
      fail("m" + std::to_string(id) + " in " + folder + ": local bytes differ from the server's");
    }
  }
  for (const auto& [key, f] : local_msg) {
    const auto& [folder, id] = key;
    bool read_only = m_server.quirks.read_only.count(folder) != 0;
    if (server_msg.count(key) == 0 && !read_only && m_server_gone.count(folder) == 0 &&
        !(m_server_maybe_gone.count(folder) != 0 && m_server.mailboxes.count(folder) == 0)) {
      fail("m" + std::to_string(id) + " is in local folder " + folder + " but not on the server");
    }
  }

  // Nothing lost, nothing in two folders.
  for (const auto& [id, fate] : m_fates) {
    std::set<std::string> where;
    for (const auto& f : server_at[id]) {
      where.insert(f);
    }
    for (const auto& f : local_at[id]) {
      // The kept local copy of a folder deleted on the server is not a
      // place of the message (docs/sync-semantics.md, identity rule 4),
      // also when only a killed run of roam knew the folder.
      bool kept = m_server_gone.count(f) != 0 ||
                  (m_server_maybe_gone.count(f) != 0 && m_server.mailboxes.count(f) == 0);
      if (!kept) {
        where.insert(f);
      }
    }
    std::string tag = "m" + std::to_string(id);
    if (!fate.deleted && server_at[id].empty() && local_at[id].empty()) {
      fail(tag + " is lost: on neither side, and nobody deleted it");
      continue;
    }
    if (where.size() > 1 && !fate.anywhere) {
      std::string list;
      for (const auto& f : where) {
        list += " " + f;
      }
      fail(tag + " is in more than one folder:" + list);
    }
    if (!fate.deleted && !fate.anywhere && !where.empty() && where.count(fate.folder) == 0 &&
        m_server_gone.count(fate.folder) == 0 && m_server_maybe_gone.count(fate.folder) == 0) {
      fail(tag + " should be in " + fate.folder + " but is in " + *where.begin());
    }
  }
}

// The flags a run must leave on both sides, for the messages whose flags
// only one side changed since the last undisturbed run (the flag-by-flag
// merge of docs/sync-semantics.md then takes that side's flags whole). Only
// when that last run was undisturbed, so that the base is what both sides
// agreed on; not for messages moved, deleted or new since, nor in folders
// whose UIDVALIDITY changed (the union rule) or that are read-only.
std::map<int, std::string> Sim::flag_expectations() {
  std::map<int, std::string> out;
  if (!m_last_clean) {
    return out;
  }
  auto usable = [&](int id) {
    const Fate& fate = m_fates[id];
    return fate.synced && !fate.deleted && m_moved_local.count(id) == 0 &&
           m_moved_server.count(id) == 0 && m_reset_folders.count(fate.folder) == 0 &&
           m_server.quirks.read_only.count(fate.folder) == 0;
  };
  for (const auto& f : scan_local(m_tree)) {
    if (m_flagged_local.count(f.id) != 0 && m_flagged_server.count(f.id) == 0 && usable(f.id) &&
        f.folder == m_fates[f.id].folder) {
      out[f.id] = known_letters(f.letters);
    }
  }
  for (const auto& [name, mb] : m_server.mailboxes) {
    for (const auto& m : mb.messages) {
      int id = id_of(m.raw);
      if (m_flagged_server.count(id) != 0 && m_flagged_local.count(id) == 0 && usable(id) &&
          name == m_fates[id].folder) {
        out[id] = letters_of(m.flags);
      }
    }
  }
  return out;
}

void Sim::check_flags(const std::string& label, const std::map<int, std::string>& expected) {
  std::map<int, std::string> server;
  std::map<int, std::string> local;
  // Only the copy in the message's own folder: a folder renamed on the
  // server leaves an old local copy behind.
  for (const auto& [name, mb] : m_server.mailboxes) {
    for (const auto& m : mb.messages) {
      if (name == m_fates[id_of(m.raw)].folder) {
        server[id_of(m.raw)] = letters_of(m.flags);
      }
    }
  }
  for (const auto& f : scan_local(m_tree)) {
    if (f.folder == m_fates[f.id].folder) {
      local[f.id] = known_letters(f.letters);
    }
  }
  for (const auto& [id, letters] : expected) {
    std::string tag = "m" + std::to_string(id);
    if (server.count(id) != 0 && server[id] != letters) {
      fail(label + ": " + tag + " has flags " + server[id] + " on the server, expected " + letters +
           " (changed on one side only)");
    }
    if (local.count(id) != 0 && local[id] != letters) {
      fail(label + ": " + tag + " has letters " + local[id] + " locally, expected " + letters +
           " (changed on one side only)");
    }
  }
}

HistoryResult Sim::run() {
  std::error_code ec;
  fs::remove_all(m_o.work_dir, ec);
  fs::create_directories(m_o.work_dir);
  setup();
  std::uint64_t runs = 2 + pick(4);
  for (std::uint64_t r = 1; r <= runs && m_r.ok; ++r) {
    if (r > 1 || chance(50)) {
      other_client();
      mail_client();
    }
    std::uint64_t stop = 0;
    std::uint64_t cut = 0;
    std::uint64_t bytes = 1500;
    for (const auto& [name, mb] : m_server.mailboxes) {
      for (const auto& m : mb.messages) {
        bytes += m.raw.size() + 60;
      }
    }
    if (on("kill") && chance(60)) {
      // Most kills land inside the range the last run's work suggests; some
      // anywhere up to the longest run seen.
      stop = 1 + pick(chance(70) ? m_last_steps + 4 : m_max_steps + 6);
    }
    if (on("cut") && chance(40)) {
      cut = 1 + pick(bytes);
    }
    std::map<int, std::string> expected = flag_expectations();
    RunResult res = run_once("run " + std::to_string(r), stop, cut);
    if (res.end == RunResult::End::Ok && !res.cut) {
      check_flags("run " + std::to_string(r), expected);
    }
  }
  if (m_r.ok) {
    RunResult a = run_once("final run", 0, 0);
    std::string server_a = m_server.snapshot();
    std::string local_a = local_snapshot(m_tree);
    if (a.end != RunResult::End::Ok && !on("readonly")) {
      fail("the final clean run did not end ok");
    }
    run_once("check run", 0, 0);
    std::string server_b = m_server.snapshot();
    std::string local_b = local_snapshot(m_tree);
    if (server_a != server_b) {
      fail("a second clean run changed the server:\n" + diff_lines(server_a, server_b));
    }
    if (local_a != local_b) {
      fail("a second clean run changed the Maildir:\n" + diff_lines(local_a, local_b));
    }
    check_final();
  }
  if (m_r.ok) {
    fs::remove_all(m_o.work_dir, ec);
  }
  return m_r;
}

}  // namespace

const std::vector<Feature>& all_features() {
  return k_features;
}

HistoryResult run_history(const HistoryOptions& options) {
  return Sim(options).run();
}

}  // namespace roam::sim
