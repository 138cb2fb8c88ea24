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
    const auto ok = [](const HttpRequest&, const PathParams&) { return HttpResponse{}; };
    r->Add("GET", "/api/v1/alerts", ok);
    r->Add("GET", "/api/v1/alerts/{id}", ok);
    r->Add("POST", "/api/v1/alerts/{id}/status", ok);
    r->Add("GET", "/api/v1/alerts/export", ok);
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
    (void)router->Dispatch(request);
  }
  (void)PercentDecode(target, true);
  return 0;
}
