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

bool is_maildir_subdir(std::string_view component) {
  return component == "cur" || component == "new" || component == "tmp";
}

void check_component(std::string_view name, std::string_view component, const Tree& tree) {
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
  switch (tree.layout) {
    case Layout::Verbatim:
    case Layout::Legacy:
      if (component.front() == '.') {
        refuse(name, "a component starts with '.', which would make a hidden directory");
      }
      if (is_maildir_subdir(component)) {
        refuse(name, "a component is \"" + std::string(component) +
                         "\", which is a Maildir's own subdirectory in the " +
                         std::string(to_string(tree.layout)) + " layout");
      }
      break;
    case Layout::Flat:
      // "A.B" with separator '.' would be listed back as "A/B".
      if (component.front() == '.') {
        refuse(name, "a component starts with '.', which would make a hidden directory");
      }
      if (component.find(tree.separator) != std::string_view::npos) {
        refuse(name, "a component contains '" + escape_for_display(std::string(1, tree.separator)) +
                         "', the flat layout's flat_separator, so it could not be told apart "
                         "from a subfolder");
      }
      break;
    case Layout::MaildirPlusPlus:
      if (component.find('.') != std::string_view::npos) {
        refuse(name, "a component contains '.', which the maildir++ layout cannot represent");
      }
      break;
  }
}

// `path` without "." and ".." components and without a trailing separator,
// for comparing directories.
fs::path normal(const fs::path& path) {
  fs::path out = path.lexically_normal();
  if (out.has_parent_path() && out.filename().empty()) {
    out = out.parent_path();
  }
  return out;
}

// Whether `path` is `base` or lies below it (lexically).
bool is_at_or_below(const fs::path& path, const fs::path& base) {
  fs::path relative = normal(path).lexically_relative(normal(base));
  return !relative.empty() && *relative.begin() != "..";
}

// Checks, independently of how the path was built, that `path` is `root`
// or lies below it.
void check_under_root(const fs::path& root, const fs::path& path, std::string_view name) {
  if (!is_at_or_below(path, root)) {
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
void add_if_round_trips(const Tree& tree, const fs::path& dir, const std::string& name,
                        LocalFolders& out) {
  try {
    fs::path expected = folder_path(tree, name, '/');
    if (normal(expected) != normal(dir)) {
      out.skipped.push_back(dir.string() + ": folder \"" + escape_for_display(name) +
                            "\" would be stored at " + expected.string());
      return;
    }
    out.names.push_back(name);
  } catch (const Error& e) {
    out.skipped.push_back(dir.string() + ": " + e.what());
  }
}

// Whether `dir` is the inbox path of `tree`, which is listed as INBOX and
// nothing else, and only once.
bool is_inbox_dir(const Tree& tree, const fs::path& dir) {
  return tree.inbox && normal(dir) == normal(*tree.inbox);
}

// Lists the folders below `dir`, whose name is `prefix`, in the verbatim
// or legacy layout. In legacy, a folder below the first level is a
// directory whose name is '.' and the component; `dotted` says whether the
// children of `dir` are at such a level.
void list_nested(const Tree& tree, const fs::path& dir, std::vector<std::string>& prefix,
                 bool dotted, LocalFolders& out) {
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
    std::string component;
    if (dotted) {
      if (child.size() < 2 || child.front() != '.' || child == "..") {
        continue;
      }
      component = child.substr(1);
    } else {
      if (child.empty() || child.front() == '.' || is_maildir_subdir(child)) {
        continue;
      }
      component = child;
    }
    std::error_code type_ec;
    if (!fs::is_directory(it->path(), type_ec) || is_inbox_dir(tree, it->path())) {
      continue;
    }
    prefix.push_back(component);
    if (has_cur(it->path())) {
      add_if_round_trips(tree, it->path(), join(prefix, '/'), out);
    }
    list_nested(tree, it->path(), prefix, tree.layout == Layout::Legacy, out);
    prefix.pop_back();
  }
  if (ec) {
    out.skipped.push_back(dir.string() + ": cannot read directory: " + ec.message());
  }
}

void list_flat(const Tree& tree, LocalFolders& out) {
  std::error_code ec;
  fs::directory_iterator it(tree.root, ec);
  if (ec) {
    out.skipped.push_back(tree.root.string() + ": cannot read directory: " + ec.message());
    return;
  }
  for (; it != fs::directory_iterator(); it.increment(ec)) {
    std::string child = it->path().filename().string();
    if (child.empty() || child.front() == '.') {
      continue;
    }
    std::error_code type_ec;
    if (!fs::is_directory(it->path(), type_ec) || !has_cur(it->path()) ||
        is_inbox_dir(tree, it->path())) {
      continue;
    }
    std::string name = child;
    std::replace(name.begin(), name.end(), tree.separator, '/');
    add_if_round_trips(tree, it->path(), name, out);
  }
  if (ec) {
    out.skipped.push_back(tree.root.string() + ": cannot read directory: " + ec.message());
  }
}

void list_maildir_plus_plus(const Tree& tree, LocalFolders& out) {
  const fs::path& root = tree.root;
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
    add_if_round_trips(tree, it->path(), name, out);
  }
  if (ec) {
    out.skipped.push_back(root.string() + ": cannot read directory: " + ec.message());
  }
}

// Whether INBOX and its subfolders live at the inbox path.
bool uses_inbox_path(const Tree& tree) {
  return tree.inbox.has_value() && tree.layout != Layout::MaildirPlusPlus;
}

// Checks what the layout makes of the components as a whole: the directory
// names that join several components (maildir++, flat) or add a '.'
// (legacy) must still fit NAME_MAX, and a flat folder may not be named like
// a Maildir's own subdirectory.
void check_directory_names(std::string_view name, const std::vector<std::string>& components,
                           const Tree& tree) {
  std::size_t joined = components.size() - 1;
  for (const std::string& component : components) {
    joined += component.size();
  }
  switch (tree.layout) {
    case Layout::MaildirPlusPlus:
      // The whole name becomes one directory name, ".A.B".
      if (joined + 1 > k_max_component) {
        refuse(name, "its maildir++ directory name would be longer than " +
                         std::to_string(k_max_component) + " bytes");
      }
      break;
    case Layout::Flat:
      if (joined > k_max_component) {
        refuse(name, "its flat directory name would be longer than " +
                         std::to_string(k_max_component) + " bytes");
      }
      if (components.size() == 1 && is_maildir_subdir(components.front())) {
        refuse(name, "it is \"" + components.front() +
                         "\", which is a Maildir's own subdirectory's name");
      }
      break;
    case Layout::Legacy:
      for (std::size_t i = 1; i < components.size(); ++i) {
        if (components[i].size() + 1 > k_max_component) {
          refuse(name, "a component with the legacy layout's leading '.' would be longer than " +
                           std::to_string(k_max_component) + " bytes");
        }
      }
      break;
    case Layout::Verbatim:
      break;
  }
}

}  // namespace

std::string_view to_string(Layout layout) {
  switch (layout) {
    case Layout::Verbatim:
      return "verbatim";
    case Layout::MaildirPlusPlus:
      return "maildir++";
    case Layout::Legacy:
      return "legacy";
    case Layout::Flat:
      return "flat";
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
  if (text == "legacy") {
    return Layout::Legacy;
  }
  if (text == "flat") {
    return Layout::Flat;
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

fs::path Tree::inbox_path() const {
  if (layout == Layout::MaildirPlusPlus) {
    return root;
  }
  return inbox ? *inbox : root / k_inbox;
}

std::vector<fs::path> Tree::tops() const {
  std::vector<fs::path> out{root};
  if (uses_inbox_path(*this) && !is_at_or_below(*inbox, root)) {
    out.push_back(*inbox);
  }
  return out;
}

std::optional<std::string> tree_problem(const Tree& tree) {
  if (tree.layout == Layout::Flat &&
      (tree.separator == '/' || is_control(static_cast<unsigned char>(tree.separator)))) {
    return "flat_separator must be one character other than '/' and not a control character "
           "(OfflineIMAP's and mbsync's usual one is '.')";
  }
  if (!tree.inbox) {
    return std::nullopt;
  }
  if (tree.layout == Layout::MaildirPlusPlus) {
    return "inbox cannot be used with layout = maildir++, where the maildir root itself is "
           "INBOX; remove the inbox line, or choose another layout";
  }
  if (is_at_or_below(tree.root, *tree.inbox)) {
    return "inbox " + tree.inbox->string() + " is the maildir root " + tree.root.string() +
           " or holds it, so INBOX's Maildir and the other folders would overlap; set inbox "
           "to a directory of its own (inside the root, e.g. " +
           (tree.root / "Inbox").string() + ", or beside it), or use layout = maildir++ " +
           "without inbox for a tree whose root is INBOX";
  }
  if (is_at_or_below(*tree.inbox, tree.root)) {
    // Inside the root, a cur/, new/ or tmp/ on the way would put INBOX in
    // the message directory of another folder.
    for (const fs::path& part : normal(*tree.inbox).lexically_relative(normal(tree.root))) {
      if (is_maildir_subdir(part.string())) {
        return "inbox " + tree.inbox->string() + " passes through \"" + part.string() +
               "\" inside the maildir root, which is a Maildir's own subdirectory; set inbox "
               "to a directory such as " +
               (tree.root / "Inbox").string();
      }
    }
  }
  return std::nullopt;
}

std::vector<std::string> split_folder_name(std::string_view name, std::optional<char> delimiter,
                                           const Tree& tree) {
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
    check_component(name, component, tree);
  }
  check_directory_names(name, components, tree);
  return components;
}

FolderRole folder_role(const std::vector<std::string>& components) {
  if (components.size() == 1 && components.front() == k_inbox) {
    return FolderRole::Inbox;
  }
  return FolderRole::Subfolder;
}

fs::path folder_path(const Tree& tree, std::string_view name, std::optional<char> delimiter) {
  return folder_path(tree, split_folder_name(name, delimiter, tree));
}

fs::path folder_path(const Tree& tree, const std::vector<std::string>& components) {
  std::string display = join(components, '/');
  if (components.empty()) {
    refuse(display, "the name is empty");
  }
  // The components normally come from split_folder_name(); check them again
  // so that no caller can build a path from unchecked parts.
  for (const std::string& component : components) {
    check_component(display, component, tree);
  }
  check_directory_names(display, components, tree);
  const bool inbox_first = components.front() == k_inbox;
  const FolderRole role = folder_role(components);
  // INBOX moves to the inbox path; in verbatim and legacy its subfolders go
  // with it, in flat they stay in the root as "INBOX.sub".
  const bool at_inbox = uses_inbox_path(tree) && inbox_first &&
                        (tree.layout != Layout::Flat || role == FolderRole::Inbox);
  fs::path path = at_inbox ? *tree.inbox : tree.root;
  switch (tree.layout) {
    case Layout::Verbatim:
    case Layout::Legacy:
      for (std::size_t i = at_inbox ? 1 : 0; i < components.size(); ++i) {
        path /= (tree.layout == Layout::Legacy && i > 0 ? "." : "") + components[i];
      }
      break;
    case Layout::Flat:
      if (!at_inbox) {
        path /= join(components, tree.separator);
      }
      break;
    case Layout::MaildirPlusPlus:
      if (role == FolderRole::Subfolder) {
        path /= "." + join(components, '.');
      }
      break;
  }
  if (at_inbox) {
    if (!is_at_or_below(path, *tree.inbox)) {
      refuse(display, "its directory " + path.string() + " is not under the inbox path " +
                          tree.inbox->string());
    }
    return path;
  }
  check_under_root(tree.root, path, display);
  if (uses_inbox_path(tree) && is_at_or_below(path, *tree.inbox)) {
    refuse(display, "its directory " + path.string() + " is (or is inside) INBOX's Maildir " +
                        tree.inbox->string() + " (the inbox path)");
  }
  return path;
}

LocalFolders list_local_folders(const Tree& tree) {
  LocalFolders out;
  std::error_code ec;
  if (uses_inbox_path(tree)) {
    // INBOX first, from where it lives; the scans below skip its
    // directory, so that it is listed once and under no other name.
    if (has_cur(*tree.inbox)) {
      out.names.emplace_back(k_inbox);
    }
    if (tree.layout != Layout::Flat && fs::is_directory(*tree.inbox, ec)) {
      std::vector<std::string> prefix{std::string(k_inbox)};
      list_nested(tree, *tree.inbox, prefix, tree.layout == Layout::Legacy, out);
    }
  }
  if (fs::is_directory(tree.root, ec)) {
    switch (tree.layout) {
      case Layout::Verbatim:
      case Layout::Legacy: {
        std::vector<std::string> prefix;
        list_nested(tree, tree.root, prefix, false, out);
        break;
      }
      case Layout::Flat:
        list_flat(tree, out);
        break;
      case Layout::MaildirPlusPlus:
        list_maildir_plus_plus(tree, out);
        break;
    }
  }
  std::sort(out.names.begin(), out.names.end());
  return out;
}

}  // namespace roam::maildir
