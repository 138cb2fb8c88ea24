// Fuzzes the volume header parser (volume.h): the first bytes of any device someone plugs in
// give a (possibly empty) identity, never a crash; labels and UUIDs stay short.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "agent/sources/usb/volume.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  auto id = custos::agent::usb::ParseVolumeIdentity(input);
  // Escaping at most quadruples a byte ("\xNN"): 16 label bytes, 16 UUID bytes as hex + dashes.
  if (id.label.size() > 64 || id.uuid.size() > 36) std::abort();
  if (id.fs.empty() && (!id.label.empty() || !id.uuid.empty())) std::abort();
  (void)custos::agent::usb::DecodeUdevString(input);
  return 0;
}
