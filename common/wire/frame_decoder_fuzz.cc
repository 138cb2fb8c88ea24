// Fuzz target: arbitrary bytes from the network through the frame decoder and zstd.
#include <cstddef>
#include <cstdint>

#include "common/wire/wire.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace custos::wire;
  FrameDecoder decoder(1 << 16);
  std::string_view in(reinterpret_cast<const char*>(data), size);
  // Feed in two uneven pieces to exercise partial headers and bodies.
  size_t split = size > 0 ? data[0] % (size + 1) : 0;
  decoder.Feed(in.substr(0, split));
  for (int pass = 0; pass < 2; ++pass) {
    while (true) {
      auto r = decoder.Next();
      if (!r.ok() || !r->has_value()) break;
      static auto dec = ZstdDecompressor::Create();
      std::string out;
      (void)dec->Decompress((*r)->body, (*r)->body.size() * 4, 1 << 20, &out);
    }
    decoder.Feed(in.substr(split));
  }
  return 0;
}
