#include "sync/model.hpp"

#include <algorithm>
#include <cctype>

namespace roam::sync {

namespace {
bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}
}  // namespace

Flags normalize_server_flags(std::vector<std::string> flags) {
  flags.erase(std::remove_if(flags.begin(), flags.end(),
                             [](const std::string& f) { return iequals(f, "\\Recent"); }),
              flags.end());
  std::sort(flags.begin(), flags.end());
  flags.erase(std::unique(flags.begin(), flags.end()), flags.end());
  return flags;
}

}  // namespace roam::sync
