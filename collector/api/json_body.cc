#include "collector/api/json_body.h"

#include <utility>

namespace custos::collector::api {
namespace {

using nlohmann::json;

struct Violation {
  std::string code;
  std::string message;
};

// Walks `j` (found under `path`, whose last key is `field`); the first violation, if any.
std::optional<Violation> Check(const json& j, const std::string& path, std::string_view field,
                               size_t depth, const JsonFieldLimits& limits) {
  if (depth > limits.max_depth) {
    return Violation{"invalid_json",
                     path + ": nested deeper than " + std::to_string(limits.max_depth) + " levels"};
  }
  if (j.is_string()) {
    const auto it = limits.max_bytes_by_field.find(field);
    const size_t max =
        it != limits.max_bytes_by_field.end() ? it->second : limits.default_max_bytes;
    const size_t size = j.get_ref<const std::string&>().size();
    if (size > max) {
      return Violation{"field_too_long", path + ": at most " + std::to_string(max) +
                                             " bytes (got " + std::to_string(size) + ")"};
    }
    return std::nullopt;
  }
  if (j.is_array()) {
    for (size_t i = 0; i < j.size(); ++i) {
      auto v = Check(j[i], path + "[" + std::to_string(i) + "]", field, depth + 1, limits);
      if (v) return v;
    }
    return std::nullopt;
  }
  if (j.is_object()) {
    for (const auto& [key, value] : j.items()) {
      const std::string child = path.empty() ? key : path + "." + key;
      if (key.size() > limits.max_key_bytes) {
        return Violation{"field_too_long", (path.empty() ? std::string("key") : path) +
                                               ": keys are at most " +
                                               std::to_string(limits.max_key_bytes) + " bytes"};
      }
      auto v = Check(value, child, key, depth + 1, limits);
      if (v) return v;
    }
  }
  return std::nullopt;
}

}  // namespace

const JsonFieldLimits& ApiJsonFieldLimits() {
  static const JsonFieldLimits* limits = [] {
    auto* l = new JsonFieldLimits();
    l->max_bytes_by_field = {{"title", 1024},
                             {"reason", 4096},
                             {"description", 4096},
                             {"detail", 4096},
                             // Passwords up to accounts' 1,024 bytes; a reveal's justification up
                             // to 2,000 characters (of up to 4 bytes each); an approver's note.
                             {"password", 1024},
                             {"justification", 8192},
                             {"note", 4096}};
    return l;
  }();
  return *limits;
}

std::optional<nlohmann::json> ParseJsonObjectBody(const HttpRequest& request,
                                                  const JsonFieldLimits& limits,
                                                  HttpResponse* error) {
  json j = json::parse(request.body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    *error = JsonError(400, "invalid_json", "the request body must be a JSON object",
                       request.request_id);
    return std::nullopt;
  }
  if (auto v = Check(j, "", "", 0, limits)) {
    *error = JsonError(400, v->code, v->message, request.request_id);
    return std::nullopt;
  }
  return j;
}

}  // namespace custos::collector::api
