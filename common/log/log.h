// Structured logging for all Custos programs.
//
// Human-readable lines to stderr by default (journald picks them up), JSON lines on request:
//   human: 2026-11-21T10:14:24.123Z INFO  custos-collector: session closed agent=ab12 reason="bad
//   frame" json:  {"ts":"2026-11-21T10:14:24.123Z","level":"info","program":"custos-collector",
//           "msg":"session closed","agent":"ab12","reason":"bad frame"}
// Thread-safe: any thread may log; each record is written with one write(2) so lines never
// interleave. Secrets and evidence never go into fields (callers' duty; tokens are logged by
// id or hash prefix only).
#pragma once

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>

#include "common/status/status.h"

namespace custos::logging {

enum class Level { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };
enum class Format { kHuman, kJson };

// One key=value pair; numbers and bools are rendered unquoted in JSON.
struct Field {
  Field(std::string_view k, std::string_view v) : key(k), value(v) {}
  Field(std::string_view k, const std::string& v) : key(k), value(v) {}
  Field(std::string_view k, const char* v) : key(k), value(v ? v : "") {}
  template <typename T, typename = std::enable_if_t<std::is_arithmetic_v<T>>>
  Field(std::string_view k, T v) : key(k), value(std::to_string(v)), numeric(true) {
    if constexpr (std::is_same_v<T, bool>) value = v ? "true" : "false";
  }
  std::string key;
  std::string value;
  bool numeric = false;
};

// Configure once at startup (before threads start logging). Defaults: human, info, "custos".
void Configure(Format format, Level min_level, std::string_view program);
// Redirects output to a file descriptor (default 2). Tests use a pipe or file.
void SetOutputFd(int fd);

Result<Level> ParseLevel(std::string_view text);    // debug|info|warn|error
Result<Format> ParseFormat(std::string_view text);  // human|json

// Applies command-line overrides (--log-format, --log-level; nullopt = not given) on top of the
// configured values. InvalidArgument naming the flag when a value is not valid.
Status ApplyOverrides(const std::optional<std::string>& format,
                      const std::optional<std::string>& level, Format* out_format,
                      Level* out_level);

bool Enabled(Level level);
void Log(Level level, std::string_view message, std::initializer_list<Field> fields = {});

inline void Debug(std::string_view m, std::initializer_list<Field> f = {}) {
  Log(Level::kDebug, m, f);
}
inline void Info(std::string_view m, std::initializer_list<Field> f = {}) {
  Log(Level::kInfo, m, f);
}
inline void Warn(std::string_view m, std::initializer_list<Field> f = {}) {
  Log(Level::kWarn, m, f);
}
inline void Error(std::string_view m, std::initializer_list<Field> f = {}) {
  Log(Level::kError, m, f);
}

// Formats one record without writing it (exposed for tests).
std::string FormatRecord(Format format, Level level, std::string_view program, int64_t unix_ms,
                         std::string_view message, std::initializer_list<Field> fields);

}  // namespace custos::logging
