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
// Threading: Add only before the router is shared; Dispatch is const and thread-safe.
// Programming errors (malformed pattern, duplicate method + pattern, empty function) are
// CUSTOS_CHECK failures, since routes are compiled in.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "collector/api/http.h"

namespace custos::collector::api {

// Parameter name (without braces) -> decoded segment.
using PathParams = std::map<std::string, std::string, std::less<>>;
using RouteHandler = std::function<HttpResponse(const HttpRequest&, const PathParams&)>;

class Router {
 public:
  // `method` is an HTTP token ("GET"); `pattern` starts with '/', segments are non-empty literals
  // or "{name}" with a name of [A-Za-z0-9_], unique within the pattern.
  void Add(std::string_view method, std::string_view pattern, RouteHandler fn);

  HttpResponse Dispatch(const HttpRequest& request) const;

  // A Handler for HttpsServer that dispatches to this router, which must outlive it.
  Handler AsHandler() const;

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
  };

  std::vector<Route> routes_;
};

}  // namespace custos::collector::api
