// agent/sources/usb/uevent.h: parser for raw kernel uevent messages (internal to the USB source).
//
// Input: one datagram as the kernel sends it on NETLINK_KOBJECT_UEVENT (lib/kobject_uevent.c):
//   "ACTION@DEVPATH\0KEY=VALUE\0KEY=VALUE\0...", every field NUL-terminated, e.g.
//   "add@/devices/pci0000:00/0000:00:14.0/usb1/1-2\0ACTION=add\0DEVPATH=/devices/...\0
//    SUBSYSTEM=usb\0DEVTYPE=usb_device\0PRODUCT=781/5581/100\0BUSNUM=001\0DEVNUM=005\0SEQNUM=4711\0"
// Accepted: a header "action@/devpath" (action: 1-16 lower-case letters; devpath without empty,
// "." or ".." components), then fields whose key is
// 1-64 characters of [A-Za-z0-9_] followed by '='; ACTION and DEVPATH must repeat the header;
// SUBSYSTEM and SEQNUM must be present; no key twice. The known typed fields must be well formed:
// SEQNUM, BUSNUM, DEVNUM decimal; PRODUCT "vid/pid/bcd" in hex (each <= 0xffff); INTERFACE
// "class/subclass/protocol" in decimal (each <= 255).
// Refused with InvalidArgument "uevent: <reason>": empty input, messages in udevd's libudev
// format ("libudev\0" magic: they come from user space, never from the kernel), more than
// kMaxUeventBytes bytes or kMaxUeventFields fields, a missing final NUL, an empty field, and
// everything above. Values are kept as raw bytes (not necessarily UTF-8); callers escape them.
// Pure functions, thread-safe; never crash on any input (fuzzed by uevent_fuzz.cc).
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "common/status/status.h"

namespace custos::agent::usb {

// The kernel's env buffer is 2048 bytes (UEVENT_BUFFER_SIZE) plus the header; devpaths are at
// most a few hundred bytes. Anything larger is not from the kernel.
inline constexpr size_t kMaxUeventBytes = 8192;
// The kernel allows 64 env entries (UEVENT_NUM_ENVP); leave room for future kernels.
inline constexpr size_t kMaxUeventFields = 128;

struct UsbProductId {
  uint32_t vendor_id = 0;
  uint32_t product_id = 0;
  uint32_t bcd_device = 0;
};

struct UsbInterfaceId {
  uint32_t interface_class = 0;
  uint32_t interface_subclass = 0;
  uint32_t interface_protocol = 0;
};

struct Uevent {
  std::string action;     // "add", "remove", "change", "bind", "unbind", "move", ...
  std::string devpath;    // "/devices/pci0000:00/0000:00:14.0/usb1/1-2" (relative to /sys)
  std::string subsystem;  // "usb", "scsi", "block", ...
  std::string devtype;    // "usb_device", "usb_interface", "disk", ... ("" when absent)
  std::string devname;    // "bus/usb/001/005", "sdb" ("" when absent)
  uint64_t seqnum = 0;
  std::optional<UsbProductId> product;      // PRODUCT=
  std::optional<UsbInterfaceId> interface;  // INTERFACE=
  std::optional<uint32_t> busnum;           // BUSNUM=
  std::optional<uint32_t> devnum;           // DEVNUM=
  std::map<std::string, std::string> env;   // every KEY=VALUE, including the ones above

  // The value of `key`, or "" when absent.
  std::string Get(std::string_view key) const;
};

// Parses one kernel uevent datagram (see the file comment).
Result<Uevent> ParseUevent(std::string_view datagram);

// Parses PRODUCT ("781/5581/100") and INTERFACE ("8/6/80") values; nullopt when malformed.
std::optional<UsbProductId> ParseUsbProduct(std::string_view value);
std::optional<UsbInterfaceId> ParseUsbInterface(std::string_view value);

}  // namespace custos::agent::usb
