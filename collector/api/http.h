// collector/api: plain HTTP request/response types shared by the HTTPS server, the router and the
// HTTPS client of the collector's REST API. No Beast or Asio type appears here.
//
// Contract:
//  - HttpRequest is filled by the server (ParseTarget does the target); handlers read it only.
//  - HttpResponse is what a handler returns; the server adds Content-Length, Cache-Control:
//    no-store and X-Content-Type-Options: nosniff to every response and manages Connection.
//  - Error bodies are JSON: {"error":{"status":N,"code":"...","message":"...","request_id":"..."}}
//    (JsonError). Messages are for the client: never a path, SQL or a library's error text; the
//    detail goes to the log under the same request id.
//  - Everything here is a value type or a pure function: thread-safe, never throws on bad input.
#pragma once

#include <cstddef>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status/status.h"

namespace custos::collector::api {

struct HttpRequest {
  std::string method;  // "GET", "POST", ... as sent (case-sensitive, RFC 9110)
  std::string target;  // raw request-target, e.g. "/api/v1/alerts?state=open"
  std::string path;    // percent-decoded path without the query: "/api/v1/alerts"
  std::multimap<std::string, std::string> query;  // decoded; '+' means space
  std::string body;
  std::string authorization;   // raw Authorization header value; never log it
  std::string cookie;          // raw Cookie header value; never log it
  std::string csrf_token;      // raw X-CSRF-Token header value; never log it
  std::string content_type;    // raw Content-Type header value
  std::string remote_address;  // peer IP address, e.g. "127.0.0.1" or "::1"
  // Set by the server, unique per request; echoed as X-Request-Id and in error bodies, and
  // logged with every line about the request, so a client's report finds the log lines.
  std::string request_id;

  // The first value of query parameter `key`, or `fallback` when absent.
  std::string Query(std::string_view key, std::string_view fallback = "") const;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";  // empty: no Content-Type header
  std::string body;
  // Extra headers. Content-Length, Transfer-Encoding and Connection are the server's and are
  // ignored here; a name or value with CR, LF or NUL is dropped (and logged).
  std::vector<std::pair<std::string, std::string>> headers;
};

// A JSON error response: {"error":{"status":status,"code":code,"message":message}}, plus
// "request_id" when `request_id` is not empty. `code` is a stable snake_case identifier
// ("not_found"); `message` is for humans. Invalid UTF-8 in either is replaced (U+FFFD), never an
// exception.
HttpResponse JsonError(int status, std::string_view code, std::string_view message,
                       std::string_view request_id = "");

using Handler = std::function<HttpResponse(const HttpRequest&)>;

// What to do with a request whose header is in, decided before its body is read and before
// "100 Continue" is sent, so that an unauthenticated client cannot make the server buffer a body.
struct Admission {
  // Set: sent instead of reading the body (e.g. 401, 404); the connection is then closed.
  std::optional<HttpResponse> refusal;
  // The largest body this request may carry (413 beyond it); the server's max_body_bytes caps it.
  size_t max_body_bytes = 0;
};
// Called with everything of the request but its body (which is empty).
using Admitter = std::function<Admission(const HttpRequest&)>;

// Fills request->target, ->path and ->query from a raw origin-form request-target
// ("/a/b%20c?x=1&y=%2F"). InvalidArgument ("http: target: ...") when the target does not start
// with '/', contains a '#', a byte below 0x21 or 0x7F, a malformed %-escape, or when the
// decoded path would contain a NUL or control byte, an encoded '/' ("%2F": it would change the
// path's segments) or a "." / ".." segment. Query keys and values may decode to any byte except
// NUL. Pairs are split on '&', then on the first '='; empty pairs are skipped; a key without '='
// gets "". On error *request is left partly filled.
Status ParseTarget(std::string_view target, HttpRequest* request);

// Decodes %XX escapes (and '+' as space when plus_is_space). InvalidArgument on a malformed
// escape. Any decoded byte is allowed; callers check what they cannot accept.
Result<std::string> PercentDecode(std::string_view in, bool plus_is_space);

// The value of cookie `name` in a Cookie header ("a=1; custos_session=xyz" -> "xyz"); "" when
// absent. The first occurrence wins; nothing is decoded. Bytes from the network: never throws.
std::string_view CookieValue(std::string_view header, std::string_view name);

// "Not Found" for 404 etc.; "Unknown" for codes without a reason phrase here.
std::string_view StatusReason(int status);

}  // namespace custos::collector::api
