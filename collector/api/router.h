// collector/api: a tiny method + path router for the REST API.
//
// Patterns are absolute paths of literal segments and "{name}" parameters:
//   router.Add("GET", "/api/v1/alerts/{id}", ShowAlert);
//   router.Add("POST", "/api/v1/alerts/{id}/status", SetAlertStatus);
// Matching is on HttpRequest::path (already percent-decoded by ParseTarget), segment by segment;
// a parameter matches any non-empty segment and is handed over decoded in PathParams. A single
// trailing slash is ignored on both sides ("/a/" matches "/a").
//
// Dispatch:
//  - Among the routes whose method equals the request's, the best path match wins: comparing
//    segments left to right, a literal beats a parameter at the first position where they
//    differ ("/alerts/export" beats "/alerts/{id}" for "/alerts/export").
//  - No route for the method but some for the path: 405 JSON error with an Allow header listing
//    those methods (sorted). No route for the path at all: 404 JSON error.
//  - The route's function runs on the caller's thread; exceptions propagate (the server turns
//    them into 500).
// Admission (before the body is read, see Admitter in http.h): Admit answers 404/405 as Dispatch
// would, and otherwise admits a body of at most the route's RouteOptions::max_body_bytes. Every
// route has a small body limit unless its registration asks for more (the CSV imports do).
// Threading: Add only before the router is shared; Dispatch is const and thread-safe.
// Programming errors (malformed pattern, duplicate method + pattern, empty function) are
// CUSTOS_CHECK failures, since routes are compiled in.
#pragma once

#include <cstddef>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "collector/api/http.h"

namespace custos::collector::api {

// Parameter name (without braces) -> decoded segment.
using PathParams = std::map<std::string, std::string, std::less<>>;
using RouteHandler = std::function<HttpResponse(const HttpRequest&, const PathParams&)>;

// Bodies of routes that take small JSON documents (or none).
inline constexpr size_t kDefaultMaxBodyBytes = 64u << 10;

struct RouteOptions {
  // Larger bodies are refused with 413 before they are read.
  size_t max_body_bytes = kDefaultMaxBodyBytes;
  // Served without credentials (a health check). The router does not authenticate; this tells
  // the layer that does (collector/api/api.h) to let the request through.
  bool anonymous = false;
};

class Router {
 public:
  // `method` is an HTTP token ("GET"); `pattern` starts with '/', segments are non-empty literals
  // or "{name}" with a name of [A-Za-z0-9_], unique within the pattern.
  void Add(std::string_view method, std::string_view pattern, RouteHandler fn,
           RouteOptions options = {});

  HttpResponse Dispatch(const HttpRequest& request) const;

  // The options of the route Dispatch would run for `request`; nullptr when it would answer
  // 404 or 405.
  const RouteOptions* Find(const HttpRequest& request) const;

  // Refuses with Dispatch's 404/405 when no route matches; else admits the route's body limit.
  Admission Admit(const HttpRequest& request) const;

  // A Handler (an Admitter) for HttpsServer that dispatches to (admits by) this router, which
  // must outlive it.
  Handler AsHandler() const;
  Admitter AsAdmitter() const;

 private:
  struct Segment {
    bool is_param = false;
    std::string text;  // literal text or parameter name
  };
  struct Route {
    std::string method;
    std::string pattern;
    std::vector<Segment> segments;
    RouteHandler fn;
    RouteOptions options;
  };

  // The best route for the request's method and path; else nullptr, with the methods of the
  // routes that match the path in *allowed.
  const Route* Match(const HttpRequest& request, std::set<std::string>* allowed) const;
  static HttpResponse NoRoute(const HttpRequest& request, const std::set<std::string>& allowed);

  std::vector<Route> routes_;
};

}  // namespace custos::collector::api
