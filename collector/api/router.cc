#include "collector/api/router.h"

#include <algorithm>
#include <set>
#include <utility>

namespace custos::collector::api {
namespace {

// "/a/b/" -> {"a", "b"}; "/" -> {}; "/a//b" -> {"a", "", "b"} (an empty segment never matches).
std::vector<std::string_view> SplitPath(std::string_view path) {
  std::vector<std::string_view> segments;
  if (!path.empty() && path.front() == '/') path.remove_prefix(1);
  if (!path.empty() && path.back() == '/') path.remove_suffix(1);
  if (path.empty()) return segments;
  size_t start = 0;
  while (true) {
    const size_t slash = path.find('/', start);
    if (slash == std::string_view::npos) {
      segments.push_back(path.substr(start));
      break;
    }
    segments.push_back(path.substr(start, slash - start));
    start = slash + 1;
  }
  return segments;
}

bool IsToken(std::string_view s) {
  if (s.empty()) return false;
  for (const char c : s) {
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                    std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
    if (!ok) return false;
  }
  return true;
}

bool IsParamName(std::string_view s) {
  if (s.empty()) return false;
  for (const char c : s) {
    if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) {
      return false;
    }
  }
  return true;
}

}  // namespace

void Router::Add(std::string_view method, std::string_view pattern, RouteHandler fn,
                 RouteOptions options) {
  CUSTOS_CHECK(IsToken(method)) << "router: invalid method '" << method << "'";
  CUSTOS_CHECK(!pattern.empty() && pattern.front() == '/')
      << "router: pattern '" << pattern << "' must start with '/'";
  CUSTOS_CHECK(fn != nullptr) << "router: " << method << " " << pattern << ": no function";
  CUSTOS_CHECK(options.max_body_bytes > 0)
      << "router: " << method << " " << pattern << ": max_body_bytes must be positive";
  CUSTOS_CHECK(options.anonymous || !options.roles.empty())
      << "router: " << method << " " << pattern << ": a route must admit at least one role";
  Route route;
  route.options = options;
  route.method = std::string(method);
  route.pattern = std::string(pattern);
  route.fn = std::move(fn);
  std::set<std::string, std::less<>> names;
  for (const std::string_view raw : SplitPath(pattern)) {
    CUSTOS_CHECK(!raw.empty()) << "router: pattern '" << pattern << "' has an empty segment";
    Segment segment;
    if (raw.front() == '{') {
      CUSTOS_CHECK(raw.size() > 2 && raw.back() == '}' &&
                   IsParamName(raw.substr(1, raw.size() - 2)))
          << "router: pattern '" << pattern << "': bad parameter '" << raw << "'";
      segment.is_param = true;
      segment.text = std::string(raw.substr(1, raw.size() - 2));
      CUSTOS_CHECK(names.insert(segment.text).second)
          << "router: pattern '" << pattern << "': parameter '" << segment.text << "' repeated";
    } else {
      CUSTOS_CHECK(raw.find_first_of("{}") == std::string_view::npos)
          << "router: pattern '" << pattern << "': braces inside segment '" << raw << "'";
      segment.text = std::string(raw);
    }
    route.segments.push_back(std::move(segment));
  }
  for (const Route& other : routes_) {
    if (other.method != route.method || other.segments.size() != route.segments.size()) continue;
    bool same = true;
    for (size_t i = 0; i < route.segments.size() && same; ++i) {
      const Segment& a = other.segments[i];
      const Segment& b = route.segments[i];
      same = a.is_param == b.is_param && (a.is_param || a.text == b.text);
    }
    CUSTOS_CHECK(!same) << "router: " << method << " " << pattern << " duplicates "
                        << other.pattern;
  }
  routes_.push_back(std::move(route));
}

const Router::Route* Router::Match(const HttpRequest& request,
                                   std::set<std::string>* allowed) const {
  const std::vector<std::string_view> segments = SplitPath(request.path);
  const Route* best = nullptr;
  std::vector<bool> best_shape;  // true = literal, per segment
  for (const Route& route : routes_) {
    if (route.segments.size() != segments.size()) continue;
    bool match = true;
    std::vector<bool> shape(segments.size());
    for (size_t i = 0; i < segments.size() && match; ++i) {
      const Segment& s = route.segments[i];
      match = s.is_param ? !segments[i].empty() : s.text == segments[i];
      shape[i] = !s.is_param;
    }
    if (!match) continue;
    if (route.method != request.method) {
      allowed->insert(route.method);
      continue;
    }
    // Lexicographic on "literal" flags: the first differing position decides.
    if (best == nullptr || shape > best_shape) {
      best = &route;
      best_shape = std::move(shape);
    }
  }
  return best;
}

HttpResponse Router::NoRoute(const HttpRequest& request, const std::set<std::string>& allowed) {
  if (allowed.empty()) return JsonError(404, "not_found", "no such resource", request.request_id);
  std::string allow;
  for (const std::string& method : allowed) {
    if (!allow.empty()) allow += ", ";
    allow += method;
  }
  HttpResponse response = JsonError(
      405, "method_not_allowed", "method " + request.method + " not allowed", request.request_id);
  response.headers.emplace_back("Allow", std::move(allow));
  return response;
}

HttpResponse Router::Dispatch(const HttpRequest& request,
                              const access::Principal* principal) const {
  std::set<std::string> allowed;
  const Route* best = Match(request, &allowed);
  if (best == nullptr) return NoRoute(request, allowed);
  if (!best->options.anonymous) {
    if (principal == nullptr) {
      return JsonError(401, "unauthenticated", "sign in or send a bearer token",
                       request.request_id);
    }
    if (!principal->roles.HasAny(best->options.roles)) {
      return JsonError(403, "forbidden",
                       "roles '" + principal->roles.ToString() + "' may not " + request.method +
                           " " + best->pattern +
                           " (needs one of: " + best->options.roles.ToString() + ")",
                       request.request_id);
    }
  }
  const std::vector<std::string_view> segments = SplitPath(request.path);
  PathParams params;
  for (size_t i = 0; i < segments.size(); ++i) {
    if (best->segments[i].is_param) params.emplace(best->segments[i].text, segments[i]);
  }
  return best->fn(Call{request, params, principal});
}

const RouteOptions* Router::Find(const HttpRequest& request) const {
  std::set<std::string> allowed;
  const Route* route = Match(request, &allowed);
  return route == nullptr ? nullptr : &route->options;
}

Admission Router::Admit(const HttpRequest& request) const {
  std::set<std::string> allowed;
  const Route* route = Match(request, &allowed);
  Admission admission;
  if (route == nullptr) {
    admission.refusal = NoRoute(request, allowed);
  } else {
    admission.max_body_bytes = route->options.max_body_bytes;
  }
  return admission;
}

std::vector<RouteInfo> Router::Routes() const {
  std::vector<RouteInfo> out;
  out.reserve(routes_.size());
  for (const Route& r : routes_) out.push_back({r.method, r.pattern, r.options});
  return out;
}

}  // namespace custos::collector::api
