#include "imap/date.hpp"

#include <array>
#include <cctype>
#include <cstdio>
#include <string>

namespace roam::imap {

namespace {
constexpr std::array<std::string_view, 12> k_months = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

bool digits(std::string_view s, std::size_t pos, std::size_t count, int& out) {
  if (pos + count > s.size()) {
    return false;
  }
  int value = 0;
  for (std::size_t i = pos; i < pos + count; ++i) {
    if (!std::isdigit(static_cast<unsigned char>(s[i]))) {
      return false;
    }
    value = value * 10 + (s[i] - '0');
  }
  out = value;
  return true;
}
}  // namespace

std::optional<std::chrono::sys_seconds> parse_internaldate(std::string_view text) {
  // Normalise the day to two characters so the rest has fixed offsets.
  std::string s(text);
  if (s.size() >= 2 && s[1] == '-') {
    s.insert(0, 1, '0');
  } else if (!s.empty() && s[0] == ' ') {
    s[0] = '0';
  }
  // "dd-Mon-yyyy hh:mm:ss +zzzz" is 26 characters.
  if (s.size() != 26 || s[2] != '-' || s[6] != '-' || s[11] != ' ' || s[14] != ':' ||
      s[17] != ':' || s[20] != ' ' || (s[21] != '+' && s[21] != '-')) {
    return std::nullopt;
  }
  int day = 0, year = 0, hour = 0, minute = 0, second = 0, zone = 0;
  if (!digits(s, 0, 2, day) || !digits(s, 7, 4, year) || !digits(s, 12, 2, hour) ||
      !digits(s, 15, 2, minute) || !digits(s, 18, 2, second) || !digits(s, 22, 4, zone)) {
    return std::nullopt;
  }
  std::string_view month_text = std::string_view(s).substr(3, 3);
  unsigned month = 0;
  for (unsigned i = 0; i < k_months.size(); ++i) {
    if (month_text.size() == 3 &&
        std::tolower(static_cast<unsigned char>(month_text[0])) ==
            std::tolower(static_cast<unsigned char>(k_months[i][0])) &&
        std::tolower(static_cast<unsigned char>(month_text[1])) == k_months[i][1] &&
        std::tolower(static_cast<unsigned char>(month_text[2])) == k_months[i][2]) {
      month = i + 1;
    }
  }
  using namespace std::chrono;
  year_month_day ymd{std::chrono::year(year), std::chrono::month(month),
                     std::chrono::day(static_cast<unsigned>(day))};
  if (month == 0 || !ymd.ok() || hour > 23 || minute > 59 || second > 60) {
    return std::nullopt;
  }
  int offset_minutes = (zone / 100) * 60 + zone % 100;
  if (s[21] == '-') {
    offset_minutes = -offset_minutes;
  }
  sys_seconds local = sys_days(ymd) + hours(hour) + minutes(minute) + seconds(second);
  return local - minutes(offset_minutes);
}

std::string format_internaldate(std::chrono::sys_seconds time) {
  using namespace std::chrono;
  sys_days day = floor<days>(time);
  year_month_day ymd(day);
  hh_mm_ss hms(time - day);
  char buf[40];
  std::snprintf(buf, sizeof buf, "%02u-%s-%04d %02d:%02d:%02d +0000",
                static_cast<unsigned>(ymd.day()),
                std::string(k_months[static_cast<unsigned>(ymd.month()) - 1]).c_str(),
                static_cast<int>(ymd.year()), static_cast<int>(hms.hours().count()),
                static_cast<int>(hms.minutes().count()), static_cast<int>(hms.seconds().count()));
  return buf;
}

}  // namespace roam::imap
