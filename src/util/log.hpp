#pragma once

// Logging with levels and per-subsystem debug categories. ROAM_LOG checks
// whether a message would be shown before it formats anything, so debug lines
// in hot paths cost one branch when they are off. Everything goes to stderr;
// stdout is left for the command's own output (e.g. `roam list`).

#include <sstream>
#include <string>
#include <string_view>

namespace roam::util {

enum class Level { Error = 0, Warning = 1, Info = 2, Debug = 3 };

// Debug categories; `--debug` enables all, `--debug=net,imap` a subset.
enum Category : unsigned {
  k_cat_general = 1u << 0,
  k_cat_net = 1u << 1,
  k_cat_imap = 1u << 2,  // The wire trace; credentials are redacted by the client.
  k_cat_maildir = 1u << 3,
  k_cat_state = 1u << 4,
  k_cat_sync = 1u << 5,
  k_cat_all = 0xffffffffu,
};

void set_log_level(Level level);
void set_debug_categories(unsigned categories);
// Parses "net,imap,sync" (or "all") into category bits; throws on unknown names.
unsigned parse_debug_categories(std::string_view list);
bool log_enabled(Level level, unsigned category = k_cat_general);
void log_write(Level level, const std::string& text);

}  // namespace roam::util

#define ROAM_LOG(level, category, expr)                         \
  do {                                                          \
    if (::roam::util::log_enabled((level), (category))) {       \
      std::ostringstream roam_log_stream_;                      \
      roam_log_stream_ << expr;                                 \
      ::roam::util::log_write((level), roam_log_stream_.str()); \
    }                                                           \
  } while (false)

#define ROAM_ERROR(expr) ROAM_LOG(::roam::util::Level::Error, ::roam::util::k_cat_general, expr)
#define ROAM_WARN(expr) ROAM_LOG(::roam::util::Level::Warning, ::roam::util::k_cat_general, expr)
#define ROAM_INFO(expr) ROAM_LOG(::roam::util::Level::Info, ::roam::util::k_cat_general, expr)
#define ROAM_DEBUG(category, expr) ROAM_LOG(::roam::util::Level::Debug, (category), expr)
