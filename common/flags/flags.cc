#include "common/flags/flags.h"

#include <charconv>

namespace custos::flags {

Result<Args> Args::Parse(int argc, const char* const* argv, const std::vector<FlagSpec>& specs) {
  Args args;
  bool only_positional = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (only_positional || a.size() < 2 || a[0] != '-') {
      args.positional_.push_back(a);
      continue;
    }
    if (a == "--") {
      only_positional = true;
      continue;
    }
    std::string body = a.substr(a[1] == '-' ? 2 : 1);
    std::optional<std::string> value;
    if (auto eq = body.find('='); eq != std::string::npos) {
      value = body.substr(eq + 1);
      body = body.substr(0, eq);
    }
    const FlagSpec* spec = nullptr;
    for (const auto& s : specs) {
      if (s.name == body) spec = &s;
    }
    if (spec == nullptr) return InvalidArgumentError("unknown flag --" + body + " (see --help)");
    if (spec->takes_value && !value) {
      if (i + 1 >= argc) return InvalidArgumentError("flag --" + body + " needs a value");
      value = argv[++i];
    }
    if (!spec->takes_value && value) {
      return InvalidArgumentError("flag --" + body + " takes no value");
    }
    auto& slot = args.values_[body];
    if (!slot.empty() && !spec->repeatable) {
      return InvalidArgumentError("flag --" + body + " given more than once");
    }
    slot.push_back(value.value_or("true"));
  }
  return args;
}

std::optional<std::string> Args::Get(const std::string& name) const {
  auto it = values_.find(name);
  if (it == values_.end() || it->second.empty()) return std::nullopt;
  return it->second.back();
}

std::string Args::GetOr(const std::string& name, const std::string& fallback) const {
  return Get(name).value_or(fallback);
}

std::vector<std::string> Args::GetAll(const std::string& name) const {
  auto it = values_.find(name);
  return it == values_.end() ? std::vector<std::string>{} : it->second;
}

Result<int64_t> Args::GetInt(const std::string& name, int64_t fallback, int64_t min,
                             int64_t max) const {
  auto v = Get(name);
  if (!v) return fallback;
  int64_t out = 0;
  auto [p, ec] = std::from_chars(v->data(), v->data() + v->size(), out);
  if (ec != std::errc() || p != v->data() + v->size() || out < min || out > max) {
    return InvalidArgumentError("flag --" + name + ": expected an integer between " +
                                std::to_string(min) + " and " + std::to_string(max) + ", got '" +
                                *v + "'");
  }
  return out;
}

Status ParseHostPort(const std::string& text, std::string* host, uint16_t* port) {
  auto colon = text.rfind(':');
  if (colon == std::string::npos || colon + 1 == text.size()) {
    return InvalidArgumentError("'" + text + "': expected HOST:PORT");
  }
  std::string h = text.substr(0, colon);
  if (h.size() >= 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
  if (h.empty()) return InvalidArgumentError("'" + text + "': empty host");
  unsigned p = 0;
  auto [ptr, ec] = std::from_chars(text.data() + colon + 1, text.data() + text.size(), p);
  if (ec != std::errc() || ptr != text.data() + text.size() || p > 65535) {
    return InvalidArgumentError("'" + text + "': port must be 0..65535");
  }
  *host = h;
  *port = static_cast<uint16_t>(p);
  return OkStatus();
}

}  // namespace custos::flags
