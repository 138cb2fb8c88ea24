// collector/api: a tiny method + path router for the REST API.
//
// Patterns are absolute paths of literal segments and "{name}" parameters, and every route names
// the roles it admits (authorisation lives here, in one place):
//   router.Add("GET", "/api/v1/alerts/{id}", ShowAlert, {.roles = kAlertReaders});
//   router.Add("POST", "/api/v1/alerts/{id}/status", SetAlertStatus, {.roles = kTriagers});
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
//  - Authorisation, before the route's function runs: a route that is not anonymous needs a
//    principal (401 without one) holding at least one of the route's roles (403 otherwise).
//    Object rules (case membership, priority groups) are the handler's, through
//    collector/access's one helper; objects a caller may not know of are 404, never 403.
//  - The route's function runs on the caller's thread; exceptions propagate (the server turns
//    them into 500).
// Admission (before the body is read, see Admitter in http.h): Admit answers 404/405 as Dispatch
// would, and otherwise admits a body of at most the route's RouteOptions::max_body_bytes. Every
// route has a small body limit unless its registration asks for more (the CSV imports do).
// Threading: Add only before the router is shared; Dispatch is const and thread-safe.
// Programming errors (malformed pattern, duplicate method + pattern, empty function, a route that
// is neither anonymous nor admits a role) are CUSTOS_CHECK failures, since routes are compiled
// in.
#pragma once

#include <cstddef>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "collector/access/roles.h"
#include "collector/api/http.h"

namespace custos::collector::api {

// Parameter name (without braces) -> decoded segment.
using PathParams = std::map<std::string, std::string, std::less<>>;

// What a route's function gets: the request, its path parameters and who is asking (nullptr only
// on anonymous routes).
struct Call {
  const HttpRequest& request;
  const PathParams& params;
  const access::Principal* principal;
  const access::Principal& caller() const { return *principal; }
  const std::string& param(const std::string& name) const { return params.at(name); }
};
using RouteHandler = std::function<HttpResponse(const Call&)>;

// Bodies of routes that take small JSON documents (or none).
inline constexpr size_t kDefaultMaxBodyBytes = 64u << 10;

struct RouteOptions {
  // Larger bodies are refused with 413 before they are read.
  size_t max_body_bytes = kDefaultMaxBodyBytes;
  // Served without credentials (a health check, sign-in). The router does not authenticate;
  // this tells the layer that does (collector/api/api.h) to let the request through.
  bool anonymous = false;
  // Who may call the route: a principal holding any of these. Required unless anonymous.
  access::RoleSet roles = {};
  // Refused for principals signed in with a console session unless the request carries the
  // session's CSRF token. True for every method but GET and HEAD unless set here.
  std::optional<bool> csrf = std::nullopt;
};

// A registered route, as listed by Router::Routes() (the authorisation matrix test walks them).
struct RouteInfo {
  std::string method;
  std::string pattern;
  RouteOptions options;
};

class Router {
 public:
  // `method` is an HTTP token ("GET"); `pattern` starts with '/', segments are non-empty literals
  // or "{name}" with a name of [A-Za-z0-9_], unique within the pattern.
  void Add(std::string_view method, std::string_view pattern, RouteHandler fn,
           RouteOptions options = {});

  // Matches, authorises (see above) and runs the route. `principal` is who the caller
  // authenticated as; nullptr when it did not.
  HttpResponse Dispatch(const HttpRequest& request, const access::Principal* principal) const;

  // The options of the route Dispatch would run for `request`; nullptr when it would answer
  // 404 or 405.
  const RouteOptions* Find(const HttpRequest& request) const;

  // Refuses with Dispatch's 404/405 when no route matches; else admits the route's body limit.
  Admission Admit(const HttpRequest& request) const;

  // Every route, in registration order.
  std::vector<RouteInfo> Routes() const;

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
