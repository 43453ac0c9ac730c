#pragma once

// Errors ranked by scope. The scope says how much of a run a failure spoils,
// and so where it is caught: a Message error skips one message, a Folder error
// ends the work on one folder while the others go on, an Account error ends
// the account, a Usage error ends the program because the command line or the
// configuration must be fixed first, and a Fatal error is a bug in roam. The
// executor catches each scope at its own level, and the command line turns
// the worst one seen into the exit code: 1 for Message, Folder and Account
// failures, 2 for Usage, 3 for Fatal.

#include <stdexcept>
#include <string>
#include <string_view>

namespace roam::util {

enum class Scope {
  Message,  // One message could not be handled; the folder goes on.
  Folder,   // The folder cannot be synced this run; other folders go on.
  Account,  // The account is unusable this run (login failed, connection lost).
  Usage,    // The command line or the configuration is wrong; nothing was synced.
  Fatal,    // An internal error: a bug in roam.
};

std::string_view to_string(Scope scope);

class Error : public std::runtime_error {
 public:
  Error(Scope scope, const std::string& message) : std::runtime_error(message), m_scope(scope) {}
  Scope scope() const { return m_scope; }

 private:
  Scope m_scope;
};

// Returns "what: strerror(errno)" for the current errno.
std::string errno_message(std::string_view what);
std::string errno_message(std::string_view what, int err);

}  // namespace roam::util
