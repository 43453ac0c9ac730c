#include "maildir/layout.hpp"

#include <algorithm>
#include <system_error>

#include "util/error.hpp"

namespace roam::maildir {

namespace {

using util::Error;
using util::Scope;

constexpr std::string_view k_inbox = "INBOX";

bool is_control(unsigned char byte) {
  return byte < 0x20 || byte == 0x7f;
}

bool is_inbox(std::string_view component) {
  if (component.size() != k_inbox.size()) {
    return false;
  }
  for (std::size_t i = 0; i < component.size(); ++i) {
    char c = component[i];
    if (c >= 'a' && c <= 'z') {
      c = static_cast<char>(c - 'a' + 'A');
    }
    if (c != k_inbox[i]) {
      return false;
    }
  }
  return true;
}

[[noreturn]] void refuse(std::string_view name, const std::string& reason) {
  throw Error(Scope::Folder, "refused folder name \"" + escape_for_display(name) +
                                 "\" from the server: " + reason +
                                 "; rename the folder on the server or exclude it from the sync");
}

void check_component(std::string_view name, std::string_view component, Layout layout) {
  if (component.empty()) {
    refuse(name, "it has an empty component (leading, trailing or doubled delimiter)");
  }
  if (component == "." || component == "..") {
    refuse(name, "it has a \"" + std::string(component) + "\" component");
  }
  if (component.size() > k_max_component) {
    refuse(name, "a component is longer than " + std::to_string(k_max_component) + " bytes");
  }
  if (component.find('/') != std::string_view::npos) {
    refuse(name, "a component contains '/', which cannot be part of a directory name");
  }
  if (layout == Layout::Verbatim) {
    if (component.front() == '.') {
      refuse(name, "a component starts with '.', which would make a hidden directory");
    }
    if (component == "cur" || component == "new" || component == "tmp") {
      refuse(name, "a component is \"" + std::string(component) +
                       "\", which is a Maildir's own subdirectory in the verbatim layout");
    }
  } else if (component.find('.') != std::string_view::npos) {
    refuse(name, "a component contains '.', which the maildir++ layout cannot represent");
  }
}

// Checks, independently of how the path was built, that `path` is `root`
// or lies below it.
void check_under_root(const fs::path& root, const fs::path& path, std::string_view name) {
  fs::path relative = path.lexically_normal().lexically_relative(root.lexically_normal());
  if (relative.empty() || (relative.begin() != relative.end() && *relative.begin() == "..")) {
    refuse(name,
           "its directory " + path.string() + " is not under the Maildir root " + root.string());
  }
}

std::string join(const std::vector<std::string>& components, char delimiter) {
  std::string out;
  for (const std::string& component : components) {
    if (!out.empty()) {
      out += delimiter;
    }
    out += component;
  }
  return out;
}

bool has_cur(const fs::path& dir) {
  std::error_code ec;
  return fs::is_directory(dir / "cur", ec);
}

// Adds `dir` (which holds cur/) to `out` as `name` if the name is accepted
// and maps back to `dir`.
void add_if_round_trips(const fs::path& root, const fs::path& dir, const std::string& name,
                        Layout layout, LocalFolders& out) {
  try {
    fs::path expected = folder_path(root, name, '/', layout);
    if (expected.lexically_normal() != dir.lexically_normal()) {
      out.skipped.push_back(dir.string() + ": folder \"" + escape_for_display(name) +
                            "\" would be stored at " + expected.string());
      return;
    }
    out.names.push_back(name);
  } catch (const Error& e) {
    out.skipped.push_back(dir.string() + ": " + e.what());
  }
}

void list_verbatim(const fs::path& root, const fs::path& dir, std::vector<std::string>& prefix,
                   LocalFolders& out) {
  if (static_cast<int>(prefix.size()) >= k_max_list_depth) {
    out.skipped.push_back(dir.string() + ": deeper than " + std::to_string(k_max_list_depth) +
                          " levels (a symbolic-link loop?)");
    return;
  }
  std::error_code ec;
  fs::directory_iterator it(dir, ec);
  if (ec) {
    out.skipped.push_back(dir.string() + ": cannot read directory: " + ec.message());
    return;
  }
  for (; it != fs::directory_iterator(); it.increment(ec)) {
    std::string child = it->path().filename().string();
    if (child.empty() || child.front() == '.' || child == "cur" || child == "new" ||
        child == "tmp") {
      continue;
    }
    std::error_code type_ec;
    if (!fs::is_directory(it->path(), type_ec)) {
      continue;
    }
    prefix.push_back(child);
    if (has_cur(it->path())) {
      add_if_round_trips(root, it->path(), join(prefix, '/'), Layout::Verbatim, out);
    }
    list_verbatim(root, it->path(), prefix, out);
    prefix.pop_back();
  }
  if (ec) {
    out.skipped.push_back(dir.string() + ": cannot read directory: " + ec.message());
  }
}

void list_maildir_plus_plus(const fs::path& root, LocalFolders& out) {
  if (has_cur(root)) {
    out.names.emplace_back(k_inbox);
  }
  std::error_code ec;
  fs::directory_iterator it(root, ec);
  if (ec) {
    out.skipped.push_back(root.string() + ": cannot read directory: " + ec.message());
    return;
  }
  for (; it != fs::directory_iterator(); it.increment(ec)) {
    std::string child = it->path().filename().string();
    if (child.size() < 2 || child.front() != '.' || child == "..") {
      continue;
    }
    std::error_code type_ec;
    if (!fs::is_directory(it->path(), type_ec) || !has_cur(it->path())) {
      continue;
    }
    std::string name = child.substr(1);
    std::replace(name.begin(), name.end(), '.', '/');
    add_if_round_trips(root, it->path(), name, Layout::MaildirPlusPlus, out);
  }
  if (ec) {
    out.skipped.push_back(root.string() + ": cannot read directory: " + ec.message());
  }
}

}  // namespace

std::string_view to_string(Layout layout) {
  switch (layout) {
    case Layout::Verbatim:
      return "verbatim";
    case Layout::MaildirPlusPlus:
      return "maildir++";
  }
  return "verbatim";
}

std::optional<Layout> parse_layout(std::string_view text) {
  if (text == "verbatim") {
    return Layout::Verbatim;
  }
  if (text == "maildir++") {
    return Layout::MaildirPlusPlus;
  }
  return std::nullopt;
}

std::string escape_for_display(std::string_view text) {
  static constexpr char k_hex[] = "0123456789abcdef";
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    auto byte = static_cast<unsigned char>(c);
    if (is_control(byte)) {
      out += "\\x";
      out += k_hex[byte >> 4];
      out += k_hex[byte & 0xf];
    } else if (c == '\\' || c == '"') {
      out += '\\';
      out += c;
    } else {
      out += c;
    }
  }
  return out;
}

std::vector<std::string> split_folder_name(std::string_view name, std::optional<char> delimiter,
                                           Layout layout) {
  if (name.empty()) {
    refuse(name, "the name is empty");
  }
  if (name.size() > k_max_folder_name) {
    refuse(name.substr(0, 80),
           "the name is longer than " + std::to_string(k_max_folder_name) + " bytes");
  }
  for (char c : name) {
    if (is_control(static_cast<unsigned char>(c))) {
      refuse(name, "it contains a control character");
    }
  }
  std::vector<std::string> components;
  if (delimiter) {
    std::size_t start = 0;
    for (;;) {
      std::size_t end = name.find(*delimiter, start);
      components.emplace_back(name.substr(start, end - start));
      if (end == std::string_view::npos) {
        break;
      }
      start = end + 1;
    }
  } else {
    components.emplace_back(name);
  }
  if (is_inbox(components.front())) {
    components.front() = std::string(k_inbox);
  }
  for (const std::string& component : components) {
    check_component(name, component, layout);
  }
  if (layout == Layout::MaildirPlusPlus) {
    // The whole name becomes one directory name, ".A.B".
    std::size_t length = components.size();
    for (const std::string& component : components) {
      length += component.size();
    }
    if (length > k_max_component) {
      refuse(name, "its maildir++ directory name would be longer than " +
                       std::to_string(k_max_component) + " bytes");
    }
  }
  return components;
}

FolderRole folder_role(const std::vector<std::string>& components) {
  if (components.size() == 1 && components.front() == k_inbox) {
    return FolderRole::Inbox;
  }
  return FolderRole::Subfolder;
}

fs::path folder_path(const fs::path& root, std::string_view name, std::optional<char> delimiter,
                     Layout layout) {
  std::vector<std::string> components = split_folder_name(name, delimiter, layout);
  return folder_path(root, components, layout);
}

fs::path folder_path(const fs::path& root, const std::vector<std::string>& components,
                     Layout layout) {
  std::string display = join(components, '/');
  if (components.empty()) {
    refuse(display, "the name is empty");
  }
  // The components normally come from split_folder_name(); check them again
  // so that no caller can build a path from unchecked parts.
  for (const std::string& component : components) {
    check_component(display, component, layout);
  }
  fs::path path = root;
  if (layout == Layout::Verbatim) {
    for (const std::string& component : components) {
      path /= component;
    }
  } else if (folder_role(components) == FolderRole::Subfolder) {
    path /= "." + join(components, '.');
  }
  check_under_root(root, path, display);
  return path;
}

LocalFolders list_local_folders(const fs::path& root, Layout layout) {
  LocalFolders out;
  std::error_code ec;
  if (!fs::is_directory(root, ec)) {
    return out;
  }
  if (layout == Layout::Verbatim) {
    std::vector<std::string> prefix;
    list_verbatim(root, root, prefix, out);
  } else {
    list_maildir_plus_plus(root, out);
  }
  std::sort(out.names.begin(), out.names.end());
  return out;
}

}  // namespace roam::maildir
