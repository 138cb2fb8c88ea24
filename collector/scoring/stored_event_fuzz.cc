// Fuzz target: an event's bytes as the scorer reads them back from the store (ParseScoredPayload
// into one reused message, then indicator mapping). Must never crash, whatever the file holds.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "collector/scoring/indicators.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static custos::v1::Event event;  // reused across inputs, as the scorer does
  static custos::collector::scoring::EventFacts facts;
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  custos::collector::scoring::MappingOptions options;
  // Twice: the second parse reuses what the first left behind.
  for (int i = 0; i < 2; ++i) {
    if (custos::collector::scoring::ParseScoredPayload(bytes, &event)) {
      custos::collector::scoring::MapEvent(event, options, &facts);
    }
  }
  return 0;
}
