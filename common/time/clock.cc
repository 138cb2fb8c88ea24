#include "common/time/clock.h"

#include <cctype>
#include <cstdio>
#include <ctime>

namespace custos {
namespace {

class SystemClockImpl final : public Clock {
 public:
  int64_t NowUnixNs() const override {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
  std::chrono::steady_clock::time_point SteadyNow() const override {
    return std::chrono::steady_clock::now();
  }
};

bool ReadDigits(std::string_view s, size_t* pos, int n, int* out) {
  int v = 0;
  for (int i = 0; i < n; ++i) {
    if (*pos >= s.size() || !std::isdigit(static_cast<unsigned char>(s[*pos]))) return false;
    v = v * 10 + (s[*pos] - '0');
    ++*pos;
  }
  *out = v;
  return true;
}

}  // namespace

Clock* RealClock() {
  static SystemClockImpl* clock = new SystemClockImpl();
  return clock;
}

std::string FormatUnixNs(int64_t unix_ns) {
  int64_t secs = unix_ns / 1'000'000'000;
  int64_t rem = unix_ns % 1'000'000'000;
  if (rem < 0) {
    rem += 1'000'000'000;
    --secs;
  }
  time_t t = static_cast<time_t>(secs);
  struct tm tm {};
  gmtime_r(&t, &tm);
  char buf[96];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>(rem / 1'000'000));
  return buf;
}

bool ParseTimeSpec(std::string_view s, int64_t now_ns, int64_t* out) {
  if (s.empty()) return false;
  if (s[0] == '-') {  // relative: -15m, -2h, -7d, -30s
    if (s.size() < 3) return false;
    char unit = s.back();
    int64_t mult = 0;
    switch (unit) {
      case 's':
        mult = 1;
        break;
      case 'm':
        mult = 60;
        break;
      case 'h':
        mult = 3600;
        break;
      case 'd':
        mult = 86400;
        break;
      default:
        return false;
    }
    int64_t n = 0;
    for (size_t i = 1; i + 1 < s.size(); ++i) {
      if (!std::isdigit(static_cast<unsigned char>(s[i]))) return false;
      n = n * 10 + (s[i] - '0');
      if (n > 100'000'000) return false;
    }
    // Stay inside int64 nanoseconds (about ±292 years around 1970).
    if (n * mult > 100LL * 365 * 86400) return false;
    *out = now_ns - n * mult * 1'000'000'000;
    return true;
  }
  size_t pos = 0;
  int year, mon, day, hour = 0, min = 0, sec = 0;
  if (!ReadDigits(s, &pos, 4, &year) || pos >= s.size() || s[pos++] != '-' ||
      !ReadDigits(s, &pos, 2, &mon) || pos >= s.size() || s[pos++] != '-' ||
      !ReadDigits(s, &pos, 2, &day))
    return false;
  int64_t frac_ns = 0;
  int64_t offset_s = 0;
  if (pos < s.size()) {
    if (s[pos] != 'T' && s[pos] != ' ') return false;
    ++pos;
    if (!ReadDigits(s, &pos, 2, &hour) || pos >= s.size() || s[pos++] != ':' ||
        !ReadDigits(s, &pos, 2, &min))
      return false;
    if (pos < s.size() && s[pos] == ':') {
      ++pos;
      if (!ReadDigits(s, &pos, 2, &sec)) return false;
    }
    if (pos < s.size() && s[pos] == '.') {
      ++pos;
      int64_t scale = 100'000'000;
      bool any = false;
      while (pos < s.size() && std::isdigit(static_cast<unsigned char>(s[pos]))) {
        frac_ns += (s[pos] - '0') * scale;
        scale /= 10;
        ++pos;
        any = true;
      }
      if (!any) return false;
    }
    if (pos < s.size()) {
      if (s[pos] == 'Z' || s[pos] == 'z') {
        ++pos;
      } else if (s[pos] == '+' || s[pos] == '-') {
        int sign = s[pos] == '+' ? 1 : -1;
        ++pos;
        int oh, om;
        if (!ReadDigits(s, &pos, 2, &oh) || pos >= s.size() || s[pos++] != ':' ||
            !ReadDigits(s, &pos, 2, &om))
          return false;
        offset_s = sign * (oh * 3600 + om * 60);
      } else {
        return false;
      }
    }
  }
  if (pos != s.size()) return false;
  if (mon < 1 || mon > 12 || day < 1 || day > 31 || hour > 23 || min > 59 || sec > 60) return false;
  // int64 nanoseconds cover 1677-09-21 .. 2262-04-11; refuse what would overflow.
  if (year < 1678 || year > 2261) return false;
  struct tm tm {};
  tm.tm_year = year - 1900;
  tm.tm_mon = mon - 1;
  tm.tm_mday = day;
  tm.tm_hour = hour;
  tm.tm_min = min;
  tm.tm_sec = sec;
  time_t t = timegm(&tm);
  *out = (static_cast<int64_t>(t) - offset_s) * 1'000'000'000 + frac_ns;
  return true;
}

}  // namespace custos
