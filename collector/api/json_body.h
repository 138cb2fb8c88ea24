// collector/api: the one reader of JSON request bodies. Every route that takes a JSON document
// parses it here, so that every string in every body (titles, names, reasons, descriptions, the
// fields of a policy) has a length limit, checked before any route or collector/scoring sees it.
//
// Contract:
//  - The body must be one JSON object; otherwise 400 "invalid_json".
//  - Every string value, at any depth, is at most the limit of its field (the name of the
//    object key it sits under, or of the array's key for array elements); every object key is at
//    most max_key_bytes; nesting is at most max_depth. Otherwise 400 "field_too_long" (or
//    "invalid_json" for depth) whose message names the field by its JSON path and the limit:
//    "title: at most 1024 bytes".
//  - Errors carry the request's id. Pure functions: thread-safe, never throw on bad input.
#pragma once

#include <cstddef>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "collector/api/http.h"

namespace custos::collector::api {

struct JsonFieldLimits {
  size_t default_max_bytes = 256;  // identifiers, names, e-mail addresses, times
  std::map<std::string, size_t, std::less<>> max_bytes_by_field;
  size_t max_key_bytes = 128;
  size_t max_depth = 16;
};

// What the REST API accepts: 256 bytes by default; "title" 1 KiB; "reason", "description" and
// "detail" 4 KiB. docs/api.md lists them.
const JsonFieldLimits& ApiJsonFieldLimits();

// The request's body as a JSON object; nullopt with a 400 in *error otherwise.
std::optional<nlohmann::json> ParseJsonObjectBody(const HttpRequest& request,
                                                  const JsonFieldLimits& limits,
                                                  HttpResponse* error);

}  // namespace custos::collector::api
