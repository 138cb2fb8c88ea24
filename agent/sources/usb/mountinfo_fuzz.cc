// Fuzzes the mountinfo parser (mountinfo.h): any bytes give mounts and a count of malformed
// lines, never a crash; every parsed mount has a mount point and a filesystem type.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "agent/sources/usb/mountinfo.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  auto info = custos::agent::usb::ParseMountinfo(input);
  size_t lines = 1;
  for (char c : input) lines += c == '\n' ? 1 : 0;
  if (info.mounts.size() + info.malformed_lines > lines) std::abort();
  for (const auto& m : info.mounts) {
    if (m.mount_point.empty() || m.fs_type.empty() || m.mount_point.size() > input.size() ||
        m.source.size() > input.size()) {
      std::abort();
    }
  }
  (void)custos::agent::usb::UnescapeMountField(input);
  return 0;
}
