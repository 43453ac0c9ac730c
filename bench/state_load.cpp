// state_load: how long a folder's state takes to load and save, and what
// it costs in memory. A benchmark, not a test: it prints numbers.
//
//   roam_state_bench FILE [RUNS]        loads FILE RUNS times (default 10)
//   roam_state_bench --make N FILE      writes a state of N records to FILE
//
// It prints the median and best wall time of parse_folder_state over the
// file's text (read once, so the disk is not measured), of
// serialize_folder_state, and the process's peak RSS.

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "state/folder_state.hpp"
#include "util/fs.hpp"

namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

// A state like a big INBOX after a first sync: names as Maildir writers
// make them, a flag or two, a content key on every record.
roam::state::FolderState make_state(std::size_t n) {
  roam::state::FolderState s;
  s.mailbox = "INBOX";
  s.uidvalidity = 1700000000;
  s.uidnext = static_cast<std::uint32_t>(n + 1);
  s.highestmodseq = n + 7;
  s.flags_modseq = s.highestmodseq;
  for (std::size_t i = 1; i <= n; ++i) {
    roam::state::MessageRecord r;
    r.uid = static_cast<std::uint32_t>(i);
    r.name = std::to_string(1700000000 + i) + ".M" + std::to_string(i * 7919 % 1000003) + "P4242Q" +
             std::to_string(i) + ".mail.example.org";
    if (i % 3 != 0) {
      r.flags.push_back("\\Seen");
    }
    if (i % 50 == 0) {
      r.flags.push_back("\\Flagged");
    }
    char key[17];
    std::snprintf(key, sizeof key, "%016llx",
                  static_cast<unsigned long long>(i * 0x9e3779b97f4a7c15ull));
    r.key = key;
    s.messages.emplace_hint(s.messages.end(), r.uid, std::move(r));
  }
  return s;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 4 && std::string(argv[1]) == "--make") {
    auto state = make_state(std::strtoull(argv[2], nullptr, 10));
    roam::state::save_folder_state(argv[3], state);
    return 0;
  }
  if (argc < 2 || argc > 3) {
    std::fprintf(stderr, "usage: %s FILE [RUNS] | --make N FILE\n", argv[0]);
    return 2;
  }
  const std::string text = roam::util::read_file(argv[1]);
  const int runs = argc == 3 ? std::atoi(argv[2]) : 10;
  std::vector<double> load, save;
  std::size_t records = 0;
  for (int i = 0; i < runs; ++i) {
    auto start = Clock::now();
    roam::state::FolderState s = roam::state::parse_folder_state(text, argv[1]);
    load.push_back(ms_since(start));
    records = s.messages.size();
    start = Clock::now();
    std::string out = roam::state::serialize_folder_state(s);
    save.push_back(ms_since(start));
  }
  struct rusage ru {};
  ::getrusage(RUSAGE_SELF, &ru);
  std::printf(
      "%zu records, %zu bytes: load median %.1f ms (best %.1f), serialize median %.1f ms, "
      "peak RSS %ld MB (the file's text included)\n",
      records, text.size(), median(load), *std::min_element(load.begin(), load.end()), median(save),
      ru.ru_maxrss / 1024);
  return 0;
}
