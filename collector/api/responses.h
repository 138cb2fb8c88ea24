// collector/api/responses.h: how routes turn results into HTTP (internal to collector/api/).
//
// Every route answers through these: JSON bodies, errors from a Status (store failures become a
// generic 5xx with the request id; the detail goes only to the log), and the one reader of JSON
// bodies (json_body.h's field caps) with typed field accessors that answer 400 naming the field.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "collector/api/http.h"
#include "common/status/status.h"

namespace custos::collector::api {

HttpResponse Json(int status, const nlohmann::ordered_json& body);
HttpResponse NoContent();
// {"key": list} without copying the list (a list of a thousand alerts is not copied twice).
nlohmann::ordered_json Keyed(std::string_view key, nlohmann::ordered_json list);

// A Status from below the API as a response: InvalidArgument 400, NotFound 404,
// FailedPrecondition 409, PermissionDenied 403, AlreadyExists 409, Unavailable 503,
// DeadlineExceeded 504, ResourceExhausted 429; messages of the store ("store: ...") and anything
// else are a generic 5xx naming only the request id.
HttpResponse FromStatus(const HttpRequest& r, const Status& s);

std::optional<int64_t> ParseInt(std::string_view text);

// The request's body as a JSON object within ApiJsonFieldLimits; nullopt with a 4xx in *error.
std::optional<nlohmann::json> ObjectBody(const HttpRequest& r, HttpResponse* error);
// Field `key` as a string: nullopt when absent (with a 400 in *error if required) or not a string
// (400). Callers tell "absent" from "bad" by error->status, which stays 200 when absent.
std::optional<std::string> StringField(const nlohmann::json& j, const char* key, bool required,
                                       HttpResponse* error);
// The listed fields, each a non-empty string, in order; nullopt with a 400 in *error otherwise.
std::optional<std::vector<std::string>> RequiredStrings(const nlohmann::json& j,
                                                        std::initializer_list<const char*> keys,
                                                        HttpResponse* error);

// A JSON document read back from the store; null (not an invalid "<discarded>") if it is damaged.
nlohmann::ordered_json StoredJson(const std::string& text);

// Adds "request_id" to an error body that lacks it.
HttpResponse WithRequestId(const HttpRequest& r, HttpResponse response);

}  // namespace custos::collector::api
