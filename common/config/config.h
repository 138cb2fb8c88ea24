// YAML configuration with validation errors that name the file, the key and the problem.
//
// Usage: load, read every key with a typed getter (each with a safe default and its bounds),
// then call Finish(). Problems do not stop reading: they are collected, and Finish() returns
// them all in one InvalidArgument status, one per line, each reading
//   config: /etc/custos/collector.yaml: key 'ingest.max_frame_bytes': expected a size like
//   '4MiB' between 1KiB and 64MiB, got 'lots'
// Keys the program never asked for are reported as unknown (with a "did you mean" hint), so a
// typo never silently falls back to a default. Keys are dotted paths into nested maps.
// Not thread-safe; use from one thread at startup.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status/status.h"

namespace custos::config {

class ConfigReader {
 public:
  // A missing file is NotFound; a YAML syntax error is InvalidArgument naming line and column.
  static Result<ConfigReader> LoadFile(const std::string& path);
  // `source_name` stands for the file name in messages.
  static Result<ConfigReader> FromString(std::string_view yaml, std::string_view source_name);
  // An empty configuration (all defaults); messages name `source_name`.
  static ConfigReader Empty(std::string_view source_name);

  ConfigReader(ConfigReader&&) noexcept;
  ConfigReader& operator=(ConfigReader&&) noexcept;
  ~ConfigReader();

  bool Has(std::string_view key) const;
  std::string String(std::string_view key, std::string_view fallback);
  // One of `allowed` (exact match).
  std::string Enum(std::string_view key, std::string_view fallback,
                   const std::vector<std::string>& allowed);
  int64_t Int(std::string_view key, int64_t fallback, int64_t min, int64_t max);
  bool Bool(std::string_view key, bool fallback);
  // Sizes: plain bytes or with suffix B, KiB, MiB, GiB, KB, MB, GB (case-insensitive).
  uint64_t Bytes(std::string_view key, uint64_t fallback, uint64_t min, uint64_t max);
  // Durations: "250ms", "30s", "5m", "2h", "7d".
  std::chrono::milliseconds Duration(std::string_view key, std::chrono::milliseconds fallback,
                                     std::chrono::milliseconds min, std::chrono::milliseconds max);
  std::vector<std::string> StringList(std::string_view key,
                                      const std::vector<std::string>& fallback);
  // A map of names to lists of strings ("group_roles: {admins: [admin], x: analyst}"), in file
  // order; empty when absent. Names may contain dots. A scalar value is a one-item list.
  std::vector<std::pair<std::string, std::vector<std::string>>> StringListMap(std::string_view key);

  // Records a problem of the caller's own (cross-key validation).
  void AddProblem(std::string_view key, std::string_view problem);

  // OK, or InvalidArgument listing every problem and every unknown key.
  Status Finish() const;

  const std::string& source_name() const;

 private:
  struct Rep;
  explicit ConfigReader(std::unique_ptr<Rep> rep);
  std::unique_ptr<Rep> rep_;
};

// Parsers shared with command-line flags. Errors say what was expected.
Result<uint64_t> ParseBytes(std::string_view text);
Result<std::chrono::milliseconds> ParseDuration(std::string_view text);

}  // namespace custos::config
