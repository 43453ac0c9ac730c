#pragma once

// A real temporary directory for tests that work on files, removed with
// everything in it when the test ends.

#include <stdlib.h>

#include <filesystem>
#include <stdexcept>
#include <string>
#include <system_error>

namespace roam::fakes {

class TempDir {
 public:
  // Creates a fresh directory under the system's temporary directory, and
  // throws (which fails the test) when that is impossible.
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "roam-test-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) {
      throw std::runtime_error("mkdtemp failed for " + pattern);
    }
    m_path = pattern;
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  // Removes the directory and its content, ignoring errors.
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(m_path, ec);
  }

  // Returns the path of the directory.
  const std::filesystem::path& path() const { return m_path; }

 private:
  std::filesystem::path m_path;
};

}  // namespace roam::fakes
