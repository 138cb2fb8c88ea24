// Fuzz target: policy JSON as the API receives it (POST /api/v1/policies), applied over every
// template. Must never crash or throw; whatever it accepts must validate and round-trip.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "collector/scoring/policy.h"
#include "common/status/status.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view json(reinterpret_cast<const char*>(data), size);
  for (const auto& t : custos::collector::scoring::Templates()) {
    auto policy = custos::collector::scoring::PolicyFromTemplate(t.id, "fuzz");
    if (!policy.ok()) continue;
    if (!custos::collector::scoring::ApplyPolicyJson(json, &*policy).ok()) continue;
    CUSTOS_CHECK(custos::collector::scoring::ValidatePolicy(*policy).ok()) << "accepted invalid";
    auto again = custos::collector::scoring::PolicyFromTemplate(t.id, "fuzz");
    CUSTOS_CHECK(custos::collector::scoring::ApplyPolicyJson(
                     custos::collector::scoring::PolicyToJson(*policy), &*again)
                     .ok())
        << "does not round-trip";
  }
  return 0;
}
