#include "util/error.hpp"

#include <cerrno>
#include <cstring>

namespace roam::util {

std::string_view to_string(Scope scope) {
  switch (scope) {
    case Scope::Message:
      return "message";
    case Scope::Folder:
      return "folder";
    case Scope::Account:
      return "account";
    case Scope::Usage:
      return "usage";
    case Scope::Fatal:
      return "fatal";
  }
  return "unknown";
}

std::string errno_message(std::string_view what) {
  return errno_message(what, errno);
}

std::string errno_message(std::string_view what, int err) {
  std::string out(what);
  out += ": ";
  out += std::strerror(err);
  return out;
}

}  // namespace roam::util
