#include "common/config/config.h"

#include <fcntl.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <limits>
#include <set>
#include <utility>

namespace custos::config {
namespace {

// A configuration file larger than this is a mistake (a log file passed by accident).
constexpr size_t kMaxFileBytes = 4 << 20;
// Aliases let a small document describe a huge (or cyclic) tree; the unknown-key walk stops here.
constexpr int kMaxDepth = 32;
constexpr size_t kMaxWalkedNodes = 100000;

std::string Quote(std::string_view text) {
  constexpr size_t kMaxShown = 80;
  std::string out = "'";
  for (size_t i = 0; i < text.size() && i < kMaxShown; ++i) {
    const char c = text[i];
    if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else {
      out += c;
    }
  }
  if (text.size() > kMaxShown) out += "...";
  out += "'";
  return out;
}

std::string Describe(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Scalar:
      return Quote(node.Scalar());
    case YAML::NodeType::Map:
      return "a map";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
      return "nothing";
  }
  return "nothing";
}

std::string Lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

std::string_view Trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

// Splits "1234unit" into the number and the unit after optional spaces. Returns false (with
// `why`) if there is no leading whole number.
bool SplitNumber(std::string_view text, uint64_t& number, std::string_view& unit,
                 std::string& why) {
  if (!text.empty() && text.front() == '-') {
    why = "must not be negative";
    return false;
  }
  if (!text.empty() && text.front() == '+') text.remove_prefix(1);
  const char* begin = text.data();
  const char* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(begin, end, number);
  if (ec == std::errc::result_out_of_range) {
    why = "too large";
    return false;
  }
  if (ec != std::errc() || ptr == begin) {
    why = "";
    return false;
  }
  if (ptr != end && (*ptr == '.' || *ptr == ',')) {
    why = "expected a whole number";
    return false;
  }
  unit = Trim(std::string_view(ptr, static_cast<size_t>(end - ptr)));
  return true;
}

std::string FormatBytes(uint64_t n) {
  if (n == 0) return "0B";
  static constexpr std::pair<uint64_t, const char*> kUnits[] = {{uint64_t{1} << 40, "TiB"},
                                                                {uint64_t{1} << 30, "GiB"},
                                                                {uint64_t{1} << 20, "MiB"},
                                                                {uint64_t{1} << 10, "KiB"}};
  for (const auto& [size, name] : kUnits) {
    if (n % size == 0) return std::to_string(n / size) + name;
  }
  return std::to_string(n) + "B";
}

std::string FormatDuration(std::chrono::milliseconds d) {
  const int64_t ms = d.count();
  if (ms == 0) return "0s";
  static constexpr std::pair<int64_t, const char*> kUnits[] = {
      {86400000, "d"}, {3600000, "h"}, {60000, "m"}, {1000, "s"}};
  for (const auto& [size, name] : kUnits) {
    if (ms % size == 0) return std::to_string(ms / size) + name;
  }
  return std::to_string(ms) + "ms";
}

// " between A and B", " of at least A", " of at most B" or "" when unbounded.
template <typename T, typename Format>
std::string BoundsPhrase(T min, T max, T lowest, T highest, Format format) {
  if (min != lowest && max != highest) return " between " + format(min) + " and " + format(max);
  if (min != lowest) return " of at least " + format(min);
  if (max != highest) return " of at most " + format(max);
  return "";
}

// Optimal string alignment distance (Levenshtein plus adjacent transpositions).
size_t EditDistance(std::string_view a, std::string_view b) {
  const size_t n = a.size();
  const size_t m = b.size();
  std::vector<std::vector<size_t>> d(n + 1, std::vector<size_t>(m + 1));
  for (size_t i = 0; i <= n; ++i) d[i][0] = i;
  for (size_t j = 0; j <= m; ++j) d[0][j] = j;
  for (size_t i = 1; i <= n; ++i) {
    for (size_t j = 1; j <= m; ++j) {
      const size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[n][m];
}

std::vector<std::string> SplitKey(std::string_view key) {
  std::vector<std::string> parts;
  size_t start = 0;
  for (;;) {
    const size_t dot = key.find('.', start);
    parts.emplace_back(key.substr(start, dot == std::string_view::npos ? dot : dot - start));
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  return parts;
}

}  // namespace

struct ConfigReader::Rep {
  std::string source;
  YAML::Node root;  // a map, or null for "all defaults"
  std::set<std::string, std::less<>> asked;
  std::vector<std::string> problems;  // in the order found, without duplicates

  void Problem(std::string_view key, std::string_view problem) {
    std::string line = "config: " + source + ": ";
    if (!key.empty()) line += "key '" + std::string(key) + "': ";
    line += problem;
    if (std::find(problems.begin(), problems.end(), line) == problems.end()) {
      problems.push_back(std::move(line));
    }
  }

  // The node at `key`, or nullopt when absent or null. With `report`, a non-map on the way
  // ("ingest: 5" when asking for "ingest.port") is recorded as a problem, once per such key.
  std::optional<YAML::Node> Find(std::string_view key, bool report) {
    if (!root.IsMap()) return std::nullopt;
    YAML::Node current = root;
    std::string path;
    for (const std::string& part : SplitKey(key)) {
      if (!current.IsMap()) {
        if (report && !current.IsNull()) {
          Problem(path, "expected a map, got " + Describe(current));
        }
        return std::nullopt;
      }
      std::optional<YAML::Node> child;
      for (auto it = current.begin(); it != current.end(); ++it) {
        if (it->first.IsScalar() && it->first.Scalar() == part) {
          child = it->second;
          break;
        }
      }
      if (!child) return std::nullopt;
      path += path.empty() ? part : "." + part;
      current.reset(*child);  // operator= would overwrite the node in the tree
    }
    if (current.IsNull() || !current.IsDefined()) return std::nullopt;
    return current;
  }

  // Looks `key` up for a getter: marks it as asked and returns its scalar text, recording a
  // problem (with `expected`) for a map or list.
  std::optional<std::string> Scalar(std::string_view key, const std::string& expected) {
    asked.emplace(key);
    std::optional<YAML::Node> node = Find(key, /*report=*/true);
    if (!node) return std::nullopt;
    if (!node->IsScalar()) {
      Problem(key, expected + ", got " + Describe(*node));
      return std::nullopt;
    }
    return node->Scalar();
  }

  bool AnyAskedUnder(const std::string& path) const {
    const std::string prefix = path + ".";
    const auto it = asked.lower_bound(prefix);
    return it != asked.end() && it->compare(0, prefix.size(), prefix) == 0;
  }

  std::string Hint(const std::string& path) const {
    std::set<std::string> candidates;
    for (const std::string& key : asked) {
      candidates.insert(key);
      for (size_t dot = key.find('.'); dot != std::string::npos; dot = key.find('.', dot + 1)) {
        candidates.insert(key.substr(0, dot));
      }
    }
    size_t best_distance = 3;
    const std::string* best = nullptr;
    for (const std::string& candidate : candidates) {
      const size_t distance = EditDistance(path, candidate);
      if (distance < best_distance) {
        best_distance = distance;
        best = &candidate;
      }
    }
    return best ? "unknown key; did you mean '" + *best + "'?" : "unknown key";
  }

  // Appends a problem for every key in `map` (at `prefix`) that no getter asked for. A map none
  // of whose keys were asked for is reported once, as a whole.
  void WalkUnknown(const YAML::Node& map, const std::string& prefix, int depth, size_t& visited,
                   std::vector<std::string>& out) const {
    std::set<std::string> seen;
    for (auto it = map.begin(); it != map.end(); ++it) {
      if (++visited > kMaxWalkedNodes) {
        out.push_back("config: " + source + ": too many keys");
        return;
      }
      const auto line = [&](const std::string& key, const std::string& problem) {
        out.push_back("config: " + source + ": key '" + key + "': " + problem);
      };
      if (!it->first.IsScalar()) {
        line(prefix, "map keys must be strings, got " + Describe(it->first));
        continue;
      }
      const std::string path =
          prefix.empty() ? it->first.Scalar() : prefix + "." + it->first.Scalar();
      if (!seen.insert(it->first.Scalar()).second) {
        line(path, "duplicate key");
        continue;
      }
      if (asked.count(path) > 0) continue;
      if (!AnyAskedUnder(path)) {
        line(path, Hint(path));
        continue;
      }
      // A non-map here was already reported by Find() as "expected a map".
      if (!it->second.IsMap()) continue;
      if (depth >= kMaxDepth) {
        line(path, "nested too deeply");
        continue;
      }
      WalkUnknown(it->second, path, depth + 1, visited, out);
    }
  }
};

ConfigReader::ConfigReader(std::unique_ptr<Rep> rep) : rep_(std::move(rep)) {}
ConfigReader::ConfigReader(ConfigReader&&) noexcept = default;
ConfigReader& ConfigReader::operator=(ConfigReader&&) noexcept = default;
ConfigReader::~ConfigReader() = default;

Result<ConfigReader> ConfigReader::LoadFile(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoError("config: " + path, errno);
  std::string content;
  char buf[16384];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      ::close(fd);
      return ErrnoError("config: " + path, err);
    }
    if (n == 0) break;
    content.append(buf, static_cast<size_t>(n));
    if (content.size() > kMaxFileBytes) {
      ::close(fd);
      return InvalidArgumentError("config: " + path + ": larger than " +
                                  FormatBytes(kMaxFileBytes));
    }
  }
  ::close(fd);
  return FromString(content, path);
}

Result<ConfigReader> ConfigReader::FromString(std::string_view yaml, std::string_view source_name) {
  const std::string source(source_name);
  try {
    std::vector<YAML::Node> documents = YAML::LoadAll(std::string(yaml));
    auto rep = std::make_unique<Rep>();
    rep->source = source;
    if (documents.size() > 1) {
      rep->Problem("", "expected one YAML document, got " + std::to_string(documents.size()));
    }
    if (!documents.empty()) {
      const YAML::Node& root = documents.front();
      if (root.IsMap()) {
        rep->root.reset(root);
      } else if (!root.IsNull() && root.IsDefined()) {
        rep->Problem("", "expected a map of settings at the top level, got " + Describe(root));
      }
    }
    return ConfigReader(std::move(rep));
  } catch (const YAML::Exception& e) {
    if (e.mark.is_null()) return InvalidArgumentError("config: " + source + ": " + e.msg);
    return InvalidArgumentError("config: " + source + ": line " + std::to_string(e.mark.line + 1) +
                                ", column " + std::to_string(e.mark.column + 1) + ": " + e.msg);
  } catch (const std::exception& e) {
    return InvalidArgumentError("config: " + source + ": " + e.what());
  } catch (...) {
    return InvalidArgumentError("config: " + source + ": unreadable YAML");
  }
}

ConfigReader ConfigReader::Empty(std::string_view source_name) {
  auto rep = std::make_unique<Rep>();
  rep->source = std::string(source_name);
  return ConfigReader(std::move(rep));
}

// yaml-cpp reports misuse by throwing; no exception may leave this module, so every accessor
// runs inside Guarded() and falls back to the default.
template <typename RepT, typename T, typename Fn>
static T Guarded(RepT& rep, std::string_view key, const T& fallback, Fn&& fn) {
  try {
    return fn();
  } catch (const std::exception& e) {
    rep.Problem(key, std::string("unreadable value: ") + e.what());
  } catch (...) {
    rep.Problem(key, "unreadable value");
  }
  return fallback;
}

bool ConfigReader::Has(std::string_view key) const {
  try {
    return rep_->Find(key, /*report=*/false).has_value();
  } catch (...) {
    return false;
  }
}

std::string ConfigReader::String(std::string_view key, std::string_view fallback) {
  const std::string fallback_string(fallback);
  return Guarded(*rep_, key, fallback_string, [&]() -> std::string {
    return rep_->Scalar(key, "expected a string").value_or(fallback_string);
  });
}

std::string ConfigReader::Enum(std::string_view key, std::string_view fallback,
                               const std::vector<std::string>& allowed) {
  const std::string fallback_string(fallback);
  return Guarded(*rep_, key, fallback_string, [&]() -> std::string {
    std::string expected = "expected one of ";
    for (size_t i = 0; i < allowed.size(); ++i) {
      if (i > 0) expected += ", ";
      expected += "'" + allowed[i] + "'";
    }
    const std::optional<std::string> text = rep_->Scalar(key, expected);
    if (!text) return fallback_string;
    if (std::find(allowed.begin(), allowed.end(), *text) == allowed.end()) {
      rep_->Problem(key, expected + ", got " + Quote(*text));
      return fallback_string;
    }
    return *text;
  });
}

int64_t ConfigReader::Int(std::string_view key, int64_t fallback, int64_t min, int64_t max) {
  return Guarded(*rep_, key, fallback, [&]() -> int64_t {
    const std::string expected =
        "expected an integer" + BoundsPhrase(min, max, std::numeric_limits<int64_t>::min(),
                                             std::numeric_limits<int64_t>::max(),
                                             [](int64_t v) { return std::to_string(v); });
    const std::optional<std::string> text = rep_->Scalar(key, expected);
    if (!text) return fallback;
    std::string_view digits = *text;
    if (digits.size() > 1 && digits.front() == '+') digits.remove_prefix(1);
    int64_t value = 0;
    const auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
    if (ec != std::errc() || ptr != digits.data() + digits.size() || value < min || value > max) {
      rep_->Problem(key, expected + ", got " + Quote(*text));
      return fallback;
    }
    return value;
  });
}

bool ConfigReader::Bool(std::string_view key, bool fallback) {
  return Guarded(*rep_, key, fallback, [&]() -> bool {
    const std::string expected = "expected true or false";
    const std::optional<std::string> text = rep_->Scalar(key, expected);
    if (!text) return fallback;
    const std::string lower = Lower(*text);
    if (lower == "true" || lower == "yes" || lower == "on") return true;
    if (lower == "false" || lower == "no" || lower == "off") return false;
    rep_->Problem(key, expected + ", got " + Quote(*text));
    return fallback;
  });
}

uint64_t ConfigReader::Bytes(std::string_view key, uint64_t fallback, uint64_t min, uint64_t max) {
  return Guarded(*rep_, key, fallback, [&]() -> uint64_t {
    const std::string expected =
        "expected a size like '4MiB'" +
        BoundsPhrase(min, max, uint64_t{0}, std::numeric_limits<uint64_t>::max(), FormatBytes);
    const std::optional<std::string> text = rep_->Scalar(key, expected);
    if (!text) return fallback;
    const Result<uint64_t> value = ParseBytes(*text);
    if (!value.ok() || *value < min || *value > max) {
      rep_->Problem(key, expected + ", got " + Quote(*text));
      return fallback;
    }
    return *value;
  });
}

std::chrono::milliseconds ConfigReader::Duration(std::string_view key,
                                                 std::chrono::milliseconds fallback,
                                                 std::chrono::milliseconds min,
                                                 std::chrono::milliseconds max) {
  return Guarded(*rep_, key, fallback, [&]() -> std::chrono::milliseconds {
    const std::string expected = "expected a duration like '30s'" +
                                 BoundsPhrase(min, max, std::chrono::milliseconds::zero(),
                                              std::chrono::milliseconds::max(), FormatDuration);
    const std::optional<std::string> text = rep_->Scalar(key, expected);
    if (!text) return fallback;
    const Result<std::chrono::milliseconds> value = ParseDuration(*text);
    if (!value.ok() || *value < min || *value > max) {
      rep_->Problem(key, expected + ", got " + Quote(*text));
      return fallback;
    }
    return *value;
  });
}

std::vector<std::string> ConfigReader::StringList(std::string_view key,
                                                  const std::vector<std::string>& fallback) {
  return Guarded(*rep_, key, fallback, [&]() -> std::vector<std::string> {
    rep_->asked.emplace(key);
    const std::optional<YAML::Node> node = rep_->Find(key, /*report=*/true);
    if (!node) return fallback;
    if (node->IsScalar()) return {node->Scalar()};
    if (!node->IsSequence()) {
      rep_->Problem(key, "expected a list of strings, got " + Describe(*node));
      return fallback;
    }
    std::vector<std::string> out;
    for (size_t i = 0; i < node->size(); ++i) {
      const YAML::Node item = (*node)[i];
      if (!item.IsScalar()) {
        rep_->Problem(key, "expected a list of strings, got " + Describe(item) + " at item " +
                               std::to_string(i + 1));
        return fallback;
      }
      out.push_back(item.Scalar());
    }
    return out;
  });
}

std::vector<std::pair<std::string, std::vector<std::string>>> ConfigReader::StringListMap(
    std::string_view key) {
  using Out = std::vector<std::pair<std::string, std::vector<std::string>>>;
  return Guarded(*rep_, key, Out{}, [&]() -> Out {
    rep_->asked.emplace(key);
    const std::optional<YAML::Node> node = rep_->Find(key, /*report=*/true);
    if (!node) return {};
    if (!node->IsMap()) {
      rep_->Problem(key, "expected a map of names to lists, got " + Describe(*node));
      return {};
    }
    Out out;
    for (auto it = node->begin(); it != node->end(); ++it) {
      if (!it->first.IsScalar()) {
        rep_->Problem(key, "expected a map of names to lists, got a non-text name");
        return {};
      }
      const std::string name = it->first.Scalar();
      rep_->asked.emplace(std::string(key) + "." + name);
      std::vector<std::string> values;
      if (it->second.IsScalar()) {
        values.push_back(it->second.Scalar());
      } else if (it->second.IsSequence()) {
        for (size_t i = 0; i < it->second.size(); ++i) {
          if (!it->second[i].IsScalar()) {
            rep_->Problem(std::string(key) + "." + name, "expected a list of strings");
            return {};
          }
          values.push_back(it->second[i].Scalar());
        }
      } else {
        rep_->Problem(std::string(key) + "." + name,
                      "expected a list of strings, got " + Describe(it->second));
        return {};
      }
      out.emplace_back(name, std::move(values));
    }
    return out;
  });
}

void ConfigReader::AddProblem(std::string_view key, std::string_view problem) {
  rep_->Problem(key, problem);
}

Status ConfigReader::Finish() const {
  std::vector<std::string> lines = rep_->problems;
  try {
    if (rep_->root.IsMap()) {
      size_t visited = 0;
      rep_->WalkUnknown(rep_->root, "", 0, visited, lines);
    }
  } catch (const std::exception& e) {
    lines.push_back("config: " + rep_->source + ": " + e.what());
  } catch (...) {
    lines.push_back("config: " + rep_->source + ": unreadable YAML");
  }
  if (lines.empty()) return OkStatus();
  std::string message;
  for (const std::string& line : lines) {
    if (!message.empty()) message += '\n';
    message += line;
  }
  return InvalidArgumentError(std::move(message));
}

const std::string& ConfigReader::source_name() const { return rep_->source; }

Result<uint64_t> ParseBytes(std::string_view text) {
  const std::string shown = Quote(text);
  const std::string_view trimmed = Trim(text);
  uint64_t number = 0;
  std::string_view unit;
  std::string why;
  if (!SplitNumber(trimmed, number, unit, why)) {
    if (why.empty()) {
      why =
          "expected a whole number of bytes with an optional unit (B, KB, MB, GB, TB, KiB, "
          "MiB, GiB, TiB), e.g. '4MiB'";
    }
    return InvalidArgumentError("size " + shown + ": " + why);
  }
  static constexpr std::pair<std::string_view, uint64_t> kUnits[] = {
      {"", 1},
      {"b", 1},
      {"kb", 1000},
      {"mb", 1000 * 1000},
      {"gb", 1000 * 1000 * 1000},
      {"tb", uint64_t{1000} * 1000 * 1000 * 1000},
      {"kib", uint64_t{1} << 10},
      {"mib", uint64_t{1} << 20},
      {"gib", uint64_t{1} << 30},
      {"tib", uint64_t{1} << 40}};
  const std::string lower = Lower(unit);
  for (const auto& [name, factor] : kUnits) {
    if (lower != name) continue;
    if (number > std::numeric_limits<uint64_t>::max() / factor) {
      return InvalidArgumentError("size " + shown + ": too large");
    }
    return number * factor;
  }
  return InvalidArgumentError("size " + shown + ": unknown unit " + Quote(unit) +
                              " (use B, KB, MB, GB, TB, KiB, MiB, GiB or TiB)");
}

Result<std::chrono::milliseconds> ParseDuration(std::string_view text) {
  const std::string shown = Quote(text);
  const std::string_view trimmed = Trim(text);
  uint64_t number = 0;
  std::string_view unit;
  std::string why;
  if (!SplitNumber(trimmed, number, unit, why)) {
    if (why.empty()) why = "expected a whole number with a unit (ms, s, m, h or d), e.g. '30s'";
    return InvalidArgumentError("duration " + shown + ": " + why);
  }
  if (unit.empty()) {
    return InvalidArgumentError("duration " + shown + ": missing unit (ms, s, m, h or d), e.g. '" +
                                std::string(trimmed) + "s'");
  }
  static constexpr std::pair<std::string_view, uint64_t> kUnits[] = {
      {"ms", 1}, {"s", 1000}, {"m", 60 * 1000}, {"h", 3600 * 1000}, {"d", 86400 * 1000}};
  const std::string lower = Lower(unit);
  for (const auto& [name, factor] : kUnits) {
    if (lower != name) continue;
    if (number > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) / factor) {
      return InvalidArgumentError("duration " + shown + ": too large");
    }
    return std::chrono::milliseconds(static_cast<int64_t>(number * factor));
  }
  return InvalidArgumentError("duration " + shown + ": unknown unit " + Quote(unit) +
                              " (use ms, s, m, h or d)");
}

}  // namespace custos::config
