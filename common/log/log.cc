#include "common/log/log.h"
#include "common/text/terminal.h"
#include "common/text/utf8.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <mutex>

namespace custos::logging {
namespace {

struct GlobalConfig {
  std::atomic<int> format{static_cast<int>(Format::kHuman)};
  std::atomic<int> min_level{static_cast<int>(Level::kInfo)};
  std::atomic<int> fd{2};
  std::mutex program_mu;
  std::string program = "custos";  // guarded by program_mu
  // Serialises writes so that a partial write(2) is completed before another thread's line.
  std::mutex write_mu;
};

GlobalConfig& Config() {
  static GlobalConfig* config = new GlobalConfig();  // never destroyed: logging during exit
  return *config;
}

std::string_view LevelName(Level level) {
  switch (level) {
    case Level::kDebug:
      return "debug";
    case Level::kInfo:
      return "info";
    case Level::kWarn:
      return "warn";
    case Level::kError:
      return "error";
  }
  return "info";
}

// Padded to five columns so that messages line up in the human format.
std::string_view HumanLevelName(Level level) {
  switch (level) {
    case Level::kDebug:
      return "DEBUG";
    case Level::kInfo:
      return "INFO ";
    case Level::kWarn:
      return "WARN ";
    case Level::kError:
      return "ERROR";
  }
  return "INFO ";
}

// "2026-11-21T10:14:24.123Z"
void AppendTimestamp(std::string& out, int64_t unix_ms) {
  using namespace std::chrono;
  const sys_time<milliseconds> tp{milliseconds{unix_ms}};
  const sys_days day = floor<days>(tp);
  const year_month_day ymd{day};
  const hh_mm_ss<milliseconds> time{tp - day};
  char buf[96];  // generous so that -Wformat-truncation can prove no truncation
  const int n = std::snprintf(
      buf, sizeof(buf), "%04d-%02u-%02uT%02d:%02d:%02d.%03dZ", static_cast<int>(ymd.year()),
      static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
      static_cast<int>(time.hours().count()), static_cast<int>(time.minutes().count()),
      static_cast<int>(time.seconds().count()), static_cast<int>(time.subseconds().count()));
  if (n > 0) out.append(buf, std::min(static_cast<size_t>(n), sizeof(buf) - 1));
}

constexpr char32_t kInvalid = text::kInvalidCodePoint;

using text::NextCodePoint;

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD

void AppendHex(std::string& out, std::string_view prefix, unsigned value, int digits) {
  static constexpr char kHex[] = "0123456789abcdef";
  out += prefix;
  for (int shift = (digits - 1) * 4; shift >= 0; shift -= 4) out += kHex[(value >> shift) & 0xF];
}

// \uXXXX for the BMP, a UTF-16 surrogate pair beyond it (JSON has no longer escape).
void AppendJsonUnicodeEscape(std::string& out, char32_t cp) {
  if (cp <= 0xFFFF) {
    AppendHex(out, "\\u", cp, 4);
    return;
  }
  const char32_t v = cp - 0x10000;
  AppendHex(out, "\\u", 0xD800 + (v >> 10), 4);
  AppendHex(out, "\\u", 0xDC00 + (v & 0x3FF), 4);
}

// JSON string body: escapes quotes, backslashes and every code point a terminal would act on
// (text::IsTerminalControl: C0 and C1 controls, bidi overrides and isolates, zero-width
// characters), so `tail -f` or `jq -c` of the log cannot be driven by a logged value; passes
// other valid UTF-8 through and replaces invalid bytes with U+FFFD so the line always parses.
void AppendJsonString(std::string& out, std::string_view text) {
  out += '"';
  size_t i = 0;
  while (i < text.size()) {
    const size_t start = i;
    const char32_t cp = NextCodePoint(text, i);
    if (cp == kInvalid) {
      out += kReplacement;
      continue;
    }
    switch (cp) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      default:
        if (text::IsTerminalControl(cp)) {
          AppendJsonUnicodeEscape(out, cp);
        } else {
          out.append(text.substr(start, i - start));
        }
    }
  }
  out += '"';
}

// Human text: one line per record that a terminal shows as it is, so control characters (C0, C1,
// bidi overrides and isolates, zero-width: text::IsTerminalControl) are escaped as \xNN, \uXXXX
// or \UXXXXXXXX; invalid UTF-8 becomes U+FFFD because journald stores non-UTF-8 messages as
// opaque blobs.
void AppendHumanEscaped(std::string& out, std::string_view text, bool escape_quotes) {
  size_t i = 0;
  while (i < text.size()) {
    const size_t start = i;
    const char32_t cp = NextCodePoint(text, i);
    if (cp == kInvalid) {
      out += kReplacement;
      continue;
    }
    switch (cp) {
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\\':
        out += escape_quotes ? "\\\\" : "\\";
        break;
      case '"':
        out += escape_quotes ? "\\\"" : "\"";
        break;
      default:
        if (cp < 0x20 || cp == 0x7F) {
          AppendHex(out, "\\x", cp, 2);
        } else if (text::IsTerminalControl(cp)) {
          if (cp > 0xFFFF) {
            AppendHex(out, "\\U", cp, 8);
          } else {
            AppendHex(out, "\\u", cp, 4);
          }
        } else {
          out.append(text.substr(start, i - start));
        }
    }
  }
}

// Quoted when it is empty or holds anything that gets escaped or would break key=value parsing.
bool NeedsQuotes(std::string_view value) {
  if (value.empty()) return true;
  size_t i = 0;
  while (i < value.size()) {
    const char32_t cp = NextCodePoint(value, i);
    if (cp == ' ' || cp == '"' || cp == '=' || cp == '\\' || cp == kInvalid ||
        text::IsTerminalControl(cp)) {
      return true;
    }
  }
  return false;
}

// Keys are identifiers chosen by code; anything that would break key=value parsing becomes '_'.
void AppendHumanKey(std::string& out, std::string_view key) {
  if (key.empty()) {
    out += '_';
    return;
  }
  for (const char c : key) {
    const auto u = static_cast<unsigned char>(c);
    out += (c == ' ' || c == '=' || c == '"' || u < 0x20 || u >= 0x7F) ? '_' : c;
  }
}

// std::to_string renders inf/nan, which are not JSON numbers; those are emitted as strings.
bool IsJsonNumberOrLiteral(std::string_view v) {
  if (v == "true" || v == "false") return true;
  if (v.empty()) return false;
  double d = 0;
  const auto [ptr, ec] = std::from_chars(v.data(), v.data() + v.size(), d);
  if (ec != std::errc() || ptr != v.data() + v.size()) return false;
  for (const char c : v) {
    if (!((c >= '0' && c <= '9') || c == '-' || c == '.' || c == 'e' || c == 'E' || c == '+')) {
      return false;
    }
  }
  return true;
}

void WriteAll(int fd, std::string_view data) {
  const char* p = data.data();
  size_t left = data.size();
  while (left > 0) {
    const ssize_t n = ::write(fd, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      return;  // nowhere left to report a failing log sink
    }
    p += n;
    left -= static_cast<size_t>(n);
  }
}

}  // namespace

void Configure(Format format, Level min_level, std::string_view program) {
  GlobalConfig& config = Config();
  config.format.store(static_cast<int>(format), std::memory_order_relaxed);
  config.min_level.store(static_cast<int>(min_level), std::memory_order_relaxed);
  std::lock_guard<std::mutex> lock(config.program_mu);
  config.program.assign(program);
}

void SetOutputFd(int fd) { Config().fd.store(fd, std::memory_order_relaxed); }

Result<Level> ParseLevel(std::string_view text) {
  if (text == "debug") return Level::kDebug;
  if (text == "info") return Level::kInfo;
  if (text == "warn") return Level::kWarn;
  if (text == "error") return Level::kError;
  return InvalidArgumentError("log: level '" + std::string(text) +
                              "': expected one of debug, info, warn, error");
}

Result<Format> ParseFormat(std::string_view text) {
  if (text == "human") return Format::kHuman;
  if (text == "json") return Format::kJson;
  return InvalidArgumentError("log: format '" + std::string(text) +
                              "': expected one of human, json");
}

bool Enabled(Level level) {
  return static_cast<int>(level) >= Config().min_level.load(std::memory_order_relaxed);
}

void Log(Level level, std::string_view message, std::initializer_list<Field> fields) {
  if (!Enabled(level)) return;
  GlobalConfig& config = Config();
  const auto format = static_cast<Format>(config.format.load(std::memory_order_relaxed));
  std::string program;
  {
    std::lock_guard<std::mutex> lock(config.program_mu);
    program = config.program;
  }
  const int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();
  std::string line = FormatRecord(format, level, program, now_ms, message, fields);
  line += '\n';
  std::lock_guard<std::mutex> lock(config.write_mu);
  WriteAll(config.fd.load(std::memory_order_relaxed), line);
}

std::string FormatRecord(Format format, Level level, std::string_view program, int64_t unix_ms,
                         std::string_view message, std::initializer_list<Field> fields) {
  std::string out;
  out.reserve(64 + message.size() + fields.size() * 24);
  if (format == Format::kJson) {
    out += "{\"ts\":\"";
    AppendTimestamp(out, unix_ms);
    out += "\",\"level\":\"";
    out += LevelName(level);
    out += "\",\"program\":";
    AppendJsonString(out, program);
    out += ",\"msg\":";
    AppendJsonString(out, message);
    for (const Field& f : fields) {
      out += ',';
      AppendJsonString(out, f.key);
      out += ':';
      if (f.numeric && IsJsonNumberOrLiteral(f.value)) {
        out += f.value;
      } else {
        AppendJsonString(out, f.value);
      }
    }
    out += '}';
    return out;
  }
  AppendTimestamp(out, unix_ms);
  out += ' ';
  out += HumanLevelName(level);
  out += ' ';
  AppendHumanEscaped(out, program, /*escape_quotes=*/false);
  out += ": ";
  AppendHumanEscaped(out, message, /*escape_quotes=*/false);
  for (const Field& f : fields) {
    out += ' ';
    AppendHumanKey(out, f.key);
    out += '=';
    if (NeedsQuotes(f.value)) {
      out += '"';
      AppendHumanEscaped(out, f.value, /*escape_quotes=*/true);
      out += '"';
    } else {
      AppendHumanEscaped(out, f.value, /*escape_quotes=*/true);
    }
  }
  return out;
}

Status ApplyOverrides(const std::optional<std::string>& format,
                      const std::optional<std::string>& level, Format* out_format,
                      Level* out_level) {
  if (format) {
    auto f = ParseFormat(*format);
    if (!f.ok()) return InvalidArgumentError("--log-format: " + f.status().message());
    *out_format = *f;
  }
  if (level) {
    auto l = ParseLevel(*level);
    if (!l.ok()) return InvalidArgumentError("--log-level: " + l.status().message());
    *out_level = *l;
  }
  return OkStatus();
}

}  // namespace custos::logging
