// Fuzz target: arbitrary request-targets from the network through ParseTarget (percent and
// query decoding), and the decoded path through the router.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "collector/api/http.h"
#include "collector/api/router.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace custos::collector::api;
  static const Router* router = [] {
    auto* r = new Router();
    const auto ok = [](const Call&) { return HttpResponse{}; };
    const RouteOptions analysts{.roles = {custos::collector::access::Role::kAnalyst}};
    r->Add("GET", "/api/v1/alerts", ok, analysts);
    r->Add("GET", "/api/v1/alerts/{id}", ok, analysts);
    r->Add("POST", "/api/v1/alerts/{id}/status", ok, analysts);
    r->Add("GET", "/api/v1/alerts/export", ok, analysts);
    return r;
  }();
  const std::string_view target(reinterpret_cast<const char*>(data), size);
  HttpRequest request;
  request.method = "GET";
  if (ParseTarget(target, &request).ok()) {
    // Invariants of a successful parse.
    if (request.path.empty() || request.path.front() != '/') __builtin_trap();
    if (request.path.find('\0') != std::string::npos) __builtin_trap();
    (void)request.Query("id");
    static const custos::collector::access::Principal analyst{
        .roles = {custos::collector::access::Role::kAnalyst}};
    (void)router->Dispatch(request, &analyst);
  }
  (void)PercentDecode(target, true);
  // The same bytes as a Cookie header: the value found is a part of the input.
  const std::string_view cookie = CookieValue(target, "custos_session");
  if (!cookie.empty() && (cookie.data() < target.data() ||
                          cookie.data() + cookie.size() > target.data() + target.size())) {
    __builtin_trap();
  }
  return 0;
}
