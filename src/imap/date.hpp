#pragma once

// INTERNALDATE (RFC 3501 §9 "date-time"): "17-Jul-1996 02:44:25 -0700".

#include <chrono>
#include <optional>
#include <string_view>

namespace roam::imap {

// Parses a date-time as servers send it (the day may be space-padded or a
// single digit). Returns nothing for anything malformed: the date is only
// used to set a file's mtime, so a bad one is not worth failing over.
std::optional<std::chrono::sys_seconds> parse_internaldate(std::string_view text);

// Formats a time as a date-time in UTC, for APPEND.
std::string format_internaldate(std::chrono::sys_seconds time);

}  // namespace roam::imap
