#include "cli/list.hpp"

#include <array>
#include <cctype>
#include <string_view>

namespace roam::cli {

namespace {

// RFC 6154 §2, plus \All; the spelling printed whatever case the server
// used.
constexpr std::array<std::string_view, 7> k_special_uses = {
    "\\All", "\\Archive", "\\Drafts", "\\Flagged", "\\Junk", "\\Sent", "\\Trash"};

bool equals_ascii_ci(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) {
    return false;
  }
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

// The folder name as a `folders` pattern: quoted when it holds a space,
// since patterns are split at whitespace.
std::string as_pattern(const std::string& name) {
  if (name.find_first_of(" \t") == std::string::npos) {
    return name;
  }
  return "\"" + name + "\"";
}

}  // namespace

std::vector<std::string> special_uses(const std::vector<std::string>& attributes) {
  std::vector<std::string> out;
  for (const auto& attribute : attributes) {
    for (const auto use : k_special_uses) {
      if (equals_ascii_ci(attribute, use)) {
        out.emplace_back(use);
      }
    }
  }
  return out;
}

std::string list_line(const sync::ListedFolder& folder) {
  std::string line = folder.selected ? "* " : "  ";
  line += folder.name;
  const auto uses = special_uses(folder.attributes);
  bool all = false;
  std::string_view separator = "  ";
  for (const auto& use : uses) {
    line += separator;
    line += use;
    separator = " ";
    all = all || use == "\\All";
  }
  // Excluded already, an \All folder needs no advice.
  if (all && folder.selected) {
    line += " (a second copy of every message; leave it out with folders = ... !" +
            as_pattern(folder.name) + ")";
  }
  return line;
}

}  // namespace roam::cli
