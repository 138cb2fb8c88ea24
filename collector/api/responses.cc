#include "collector/api/responses.h"

#include <charconv>

#include "collector/api/json_body.h"
#include "common/log/log.h"

namespace custos::collector::api {
namespace {

using nlohmann::json;
using nlohmann::ordered_json;

// A failure below the API (storage, scoring) is the server's business: the client gets a generic
// message with the request id, the log gets the detail (which names files, SQL and SQLite's
// words) under the same id. Messages of the store start with "store:" (sqlite_util.h).
HttpResponse InternalFailure(const HttpRequest& r, const Status& s, int status,
                             std::string_view code, std::string_view message) {
  logging::Error("api: request failed", {{"request_id", r.request_id},
                                         {"method", r.method},
                                         {"path", r.path},
                                         {"status", status},
                                         {"error", s.ToString()}});
  return JsonError(status, code, std::string(message) + " (request id " + r.request_id + ")",
                   r.request_id);
}

}  // namespace

HttpResponse Json(int status, const ordered_json& body) {
  HttpResponse r;
  r.status = status;
  r.body = body.dump(-1, ' ', false, json::error_handler_t::replace);
  return r;
}

ordered_json Keyed(std::string_view key, ordered_json list) {
  ordered_json out = ordered_json::object();
  out[std::string(key)] = std::move(list);
  return out;
}

HttpResponse NoContent() {
  HttpResponse resp;
  resp.status = 204;
  resp.content_type.clear();
  return resp;
}

HttpResponse FromStatus(const HttpRequest& r, const Status& s) {
  const bool from_store = s.message().rfind("store:", 0) == 0;
  switch (s.code()) {
    case StatusCode::kUnavailable:
      return InternalFailure(r, s, 503, "unavailable", "storage temporarily unavailable, retry");
    case StatusCode::kDeadlineExceeded:
      return InternalFailure(r, s, 504, "timeout", "the request timed out, retry");
    case StatusCode::kAlreadyExists:
      if (from_store) {
        return InternalFailure(r, s, 409, "already_exists", "conflicts with an existing record");
      }
      return JsonError(409, "already_exists", s.message(), r.request_id);
    default:
      break;
  }
  if (!from_store) {
    switch (s.code()) {
      case StatusCode::kInvalidArgument:
        return JsonError(400, "invalid_argument", s.message(), r.request_id);
      case StatusCode::kNotFound:
        return JsonError(404, "not_found", s.message(), r.request_id);
      case StatusCode::kFailedPrecondition:
        return JsonError(409, "failed_precondition", s.message(), r.request_id);
      case StatusCode::kPermissionDenied:
        return JsonError(403, "forbidden", s.message(), r.request_id);
      case StatusCode::kResourceExhausted:
        return JsonError(429, "too_many_requests", s.message(), r.request_id);
      default:
        break;
    }
  }
  return InternalFailure(r, s, 500, "internal", "internal error");
}

std::optional<int64_t> ParseInt(std::string_view text) {
  int64_t v = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || p != text.data() + text.size()) return std::nullopt;
  return v;
}

std::optional<json> ObjectBody(const HttpRequest& r, HttpResponse* error) {
  return ParseJsonObjectBody(r, ApiJsonFieldLimits(), error);
}

std::optional<std::string> StringField(const json& j, const char* key, bool required,
                                       HttpResponse* error) {
  if (!j.contains(key)) {
    if (required) *error = JsonError(400, "missing_field", std::string("missing field: ") + key);
    return std::nullopt;
  }
  if (!j[key].is_string()) {
    *error = JsonError(400, "invalid_field", std::string(key) + ": expected a string");
    return std::nullopt;
  }
  return j[key].get<std::string>();
}

std::optional<std::vector<std::string>> RequiredStrings(const json& j,
                                                        std::initializer_list<const char*> keys,
                                                        HttpResponse* error) {
  std::vector<std::string> out;
  for (const char* key : keys) {
    auto v = StringField(j, key, true, error);
    if (!v) return std::nullopt;
    if (v->empty()) {
      *error = JsonError(400, "invalid_field", std::string(key) + " must not be empty");
      return std::nullopt;
    }
    out.push_back(std::move(*v));
  }
  return out;
}

ordered_json StoredJson(const std::string& text) {
  ordered_json j = ordered_json::parse(text, nullptr, false);
  return j.is_discarded() ? ordered_json() : j;
}

HttpResponse WithRequestId(const HttpRequest& r, HttpResponse response) {
  if (response.status < 400 || r.request_id.empty()) return response;
  ordered_json j = ordered_json::parse(response.body, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("error") || !j["error"].is_object() ||
      j["error"].contains("request_id")) {
    return response;
  }
  j["error"]["request_id"] = r.request_id;
  response.body = j.dump(-1, ' ', false, json::error_handler_t::replace);
  return response;
}

}  // namespace custos::collector::api
