#include "cli/progress.hpp"
#include "fakes/case_name.hpp"

#include <gtest/gtest.h>

#include <cctype>

#include <string>
#include <thread>
#include <vector>

namespace roam::cli {
namespace {

using fakes::case_name;

struct LineCase {
  const char* label;
  ProgressCounts counts;
  std::size_t width;
  std::string expected;
};

class ProgressLineTest : public ::testing::TestWithParam<LineCase> {};

TEST_P(ProgressLineTest, Formats) {
  EXPECT_EQ(format_progress_line("work", GetParam().counts, GetParam().width), GetParam().expected);
}

ProgressCounts syncing(std::size_t done, std::size_t total, std::size_t down,
                       std::uint64_t bytes_down, std::size_t up, std::uint64_t bytes_up,
                       double seconds) {
  return ProgressCounts{
      ProgressPhase::Syncing, done, total, down, bytes_down, up, bytes_up, seconds};
}

INSTANTIATE_TEST_SUITE_P(
    Table, ProgressLineTest,
    ::testing::Values(LineCase{"waiting for a job", ProgressCounts{}, 0, "work: waiting"},
                      LineCase{"connecting",
                               ProgressCounts{ProgressPhase::Connecting, 0, 0, 0, 0, 0, 0, 0.5}, 0,
                               "work: connecting"},
                      // No rate before a second: a rate over milliseconds says nothing.
                      LineCase{"first folders", syncing(0, 10, 0, 0, 0, 0, 0.2), 0,
                               "work: 0/10 folders, down 0 (0 B), up 0 (0 B)"},
                      LineCase{"both ways with a rate", syncing(3, 10, 120, 4718592, 2, 10240, 2.0),
                               0,
                               "work: 3/10 folders, down 120 (4.5 MB), up 2 (10.0 kB), 2.3 MB/s"},
                      LineCase{"gigabytes", syncing(1, 1, 100000, 3ull << 30, 0, 0, 1024.0), 0,
                               "work: 1/1 folders, down 100000 (3.0 GB), up 0 (0 B), 3.0 MB/s"},
                      LineCase{"done", ProgressCounts{ProgressPhase::Done, 2, 2, 1, 512, 0, 0, 4.0},
                               0, "work: done, 2/2 folders, down 1 (512 B), up 0 (0 B), 128 B/s"},
                      // Cut to the terminal's width, so that the line never wraps (which
                      // would break redrawing it in place).
                      LineCase{"narrow terminal", syncing(3, 10, 120, 4718592, 2, 10240, 2.0), 24,
                               "work: 3/10 folders, d..."},
                      LineCase{"wide enough", syncing(3, 10, 0, 0, 0, 0, 0), 80,
                               "work: 3/10 folders, down 0 (0 B), up 0 (0 B)"}),
    case_name<LineCase>);

TEST(AccountProgress, CountsFromManyThreads) {
  // The lanes of an account call it at once.
  AccountProgress progress;
  progress.started();
  progress.folders_planned(8);
  std::vector<std::thread> lanes;
  for (int t = 0; t < 4; ++t) {
    lanes.emplace_back([&progress] {
      for (int i = 0; i < 1000; ++i) {
        progress.downloaded(10);
        progress.uploaded(3);
      }
      progress.folder_done();
      progress.folder_done();
    });
  }
  for (auto& t : lanes) {
    t.join();
  }
  ProgressCounts c = progress.snapshot();
  EXPECT_EQ(c.phase, ProgressPhase::Syncing);
  EXPECT_EQ(c.folders_total, 8u);
  EXPECT_EQ(c.folders_done, 8u);
  EXPECT_EQ(c.downloaded, 4000u);
  EXPECT_EQ(c.bytes_down, 40000u);
  EXPECT_EQ(c.uploaded, 4000u);
  EXPECT_EQ(c.bytes_up, 12000u);
  progress.finished();
  EXPECT_EQ(progress.snapshot().phase, ProgressPhase::Done);
}

}  // namespace
}  // namespace roam::cli
