// Fuzzes the kernel uevent parser (uevent.h): any bytes must give a Uevent or an error, never a
// crash; an accepted message satisfies the parser's documented invariants.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "agent/sources/usb/uevent.h"
#include "agent/sources/usb/usb_device.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  auto parsed = custos::agent::usb::ParseUevent(input);
  if (!parsed.ok()) {
    if (parsed.status().message().empty()) std::abort();
    return 0;
  }
  const auto& uevent = *parsed;
  if (uevent.devpath.empty() || uevent.devpath.front() != '/' || uevent.action.empty() ||
      uevent.subsystem.empty() || uevent.env.size() > custos::agent::usb::kMaxUeventFields ||
      uevent.Get("DEVPATH") != uevent.devpath) {
    std::abort();
  }
  // The facts the source derives without sysfs must be computable for any accepted message.
  auto bus_path = custos::agent::usb::UsbBusPath(uevent.devpath);
  (void)custos::agent::usb::IsUsbRootHub(uevent.devpath);
  if (uevent.product) {
    auto fp = custos::agent::usb::UsbFingerprint(uevent.product->vendor_id,
                                                 uevent.product->product_id, "", bus_path);
    if (fp.size() != 32) std::abort();
  }
  return 0;
}
