#include "agent/sources/usb/mountinfo.h"

#include <charconv>
#include <optional>

namespace custos::agent::usb {
namespace {

std::optional<uint32_t> ParseDecimal(std::string_view text) {
  if (text.empty()) return std::nullopt;
  uint32_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value, 10);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

std::vector<std::string_view> SplitSpaces(std::string_view line) {
  std::vector<std::string_view> fields;
  while (!line.empty()) {
    size_t start = line.find_first_not_of(' ');
    if (start == std::string_view::npos) break;
    line.remove_prefix(start);
    size_t end = line.find(' ');
    fields.push_back(line.substr(0, end));
    line.remove_prefix(end == std::string_view::npos ? line.size() : end);
  }
  return fields;
}

bool IsOctal(char c) { return c >= '0' && c <= '7'; }

}  // namespace

std::string UnescapeMountField(std::string_view field) {
  std::string out;
  out.reserve(field.size());
  for (size_t i = 0; i < field.size(); ++i) {
    if (field[i] == '\\' && i + 3 < field.size() && IsOctal(field[i + 1]) &&
        IsOctal(field[i + 2]) && IsOctal(field[i + 3])) {
      int v = (field[i + 1] - '0') * 64 + (field[i + 2] - '0') * 8 + (field[i + 3] - '0');
      if (v <= 255) {
        out.push_back(static_cast<char>(v));
        i += 3;
        continue;
      }
    }
    out.push_back(field[i]);
  }
  return out;
}

Mountinfo ParseMountinfo(std::string_view text) {
  Mountinfo info;
  while (!text.empty()) {
    size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    if (line.empty()) continue;
    std::vector<std::string_view> f = SplitSpaces(line);
    // Optional fields end at a lone "-", followed by fs type and source.
    size_t dash = 6;
    while (dash < f.size() && f[dash] != "-") ++dash;
    if (f.size() < 6 || dash + 2 >= f.size()) {
      ++info.malformed_lines;
      continue;
    }
    size_t colon = f[2].find(':');
    auto major = ParseDecimal(f[2].substr(0, colon));
    auto minor =
        colon == std::string_view::npos ? std::nullopt : ParseDecimal(f[2].substr(colon + 1));
    if (!major || !minor) {
      ++info.malformed_lines;
      continue;
    }
    MountEntry e;
    e.major = *major;
    e.minor = *minor;
    e.root = UnescapeMountField(f[3]);
    e.mount_point = UnescapeMountField(f[4]);
    e.fs_type = std::string(f[dash + 1]);
    e.source = UnescapeMountField(f[dash + 2]);
    info.mounts.push_back(std::move(e));
  }
  return info;
}

}  // namespace custos::agent::usb
