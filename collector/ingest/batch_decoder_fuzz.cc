// Fuzz target: a BATCH frame body from an agent, through validation and decoding.
#include <cstddef>
#include <cstdint>

#include "collector/ingest/batch_decoder.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static auto dz = custos::wire::ZstdDecompressor::Create();
  custos::collector::store::BatchWrite out;
  custos::collector::ingest::BatchLimits limits{1000, 1 << 20};
  (void)custos::collector::ingest::DecodeBatch(
      std::string_view(reinterpret_cast<const char*>(data), size), limits, &*dz, &out);
  return 0;
}
