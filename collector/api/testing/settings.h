// Test helper: switch pseudonymisation on or off through a running collector's API, as an admin
// would (PATCH /api/v1/settings; audited). Suites that check how names and paths are rendered
// switch it off; they keep one test of the default (pseudonyms). Header-only; tests only.
#pragma once

#include <chrono>
#include <string>

#include "collector/api/https_client.h"
#include "common/status/status.h"

namespace custos::collector::api::api_testing {

inline Status SetPseudonymisation(uint16_t api_port, const std::string& ca_pem,
                                  const std::string& admin_token, bool on) {
  HttpsClient client({"127.0.0.1", api_port, ca_pem, std::chrono::seconds(10)});
  auto r = client.Request("PATCH", "/api/v1/settings",
                          std::string("{\"pseudonymisation\":") + (on ? "true" : "false") + "}",
                          admin_token);
  if (!r.ok()) return r.status();
  if (r->status != 200) {
    return InternalError("PATCH /api/v1/settings: HTTP " + std::to_string(r->status) + ": " +
                         r->body);
  }
  return OkStatus();
}

}  // namespace custos::collector::api::api_testing
