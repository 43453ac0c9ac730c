#pragma once

// What the planner sees of each side. These are plain values gathered by the
// executor (from the server and from a Maildir scan); the planner never
// touches a socket or a file, so every merge rule is a fast unit test.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "state/folder_state.hpp"

namespace roam::sync {

using Uid = std::uint32_t;

// IMAP flags and keywords, sorted, without duplicates and without \Recent.
using Flags = std::vector<std::string>;

// Which way changes travel.
enum class Direction {
  Pull,  // Server to Maildir only; nothing is ever written to the server.
  Push,  // Maildir to server only.
  Both,
};

// What to do with deletions.
enum class Expunge { Yes, No };

// A message on the server.
struct ServerMessage {
  Uid uid = 0;
  Flags flags;
};

// The server side of a folder, as SELECT/EXAMINE and a flag listing saw it.
struct ServerFolder {
  std::uint32_t uidvalidity = 0;
  std::uint32_t uidnext = 0;
  std::uint64_t highestmodseq = 0;
  std::vector<ServerMessage> messages;  // Ascending UID.
};

// A message file in the Maildir.
struct LocalMessage {
  std::string name;     // Stable name (before ":2,").
  std::string letters;  // Info letters, normalized (may include unknown ones).
};

struct LocalFolder {
  std::vector<LocalMessage> messages;
};

struct Policy {
  Direction direction = Direction::Pull;
  Expunge expunge = Expunge::Yes;
  // The mass-deletion guard: a plan that would delete more than this share
  // of a folder's known messages (and the folder has at least
  // mass_delete_min of them) deletes nothing unless allow_mass_delete.
  double mass_delete_ratio = 0.5;
  std::size_t mass_delete_min = 10;
  bool allow_mass_delete = false;
};

// Normalizes server flags: sorted, unique, \Recent dropped (it is a session
// flag that no client can set).
Flags normalize_server_flags(std::vector<std::string> flags);

}  // namespace roam::sync
