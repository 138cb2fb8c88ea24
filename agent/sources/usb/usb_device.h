// agent/sources/usb/usb_device.h: facts about one USB device from sysfs (internal to the source).
//
// A usb_device lives at <sysfs_root><devpath>, e.g. /sys/devices/pci0000:00/0000:00:14.0/usb1/1-2,
// with attributes idVendor, idProduct (4 hex digits), serial, manufacturer, product (strings from
// the device's descriptors, any bytes) and one child directory per interface, "1-2:1.0", holding
// bInterfaceClass (2 hex digits). Missing attributes (many devices have no serial) leave fields
// empty; attributes that exist but cannot be read also leave them empty and are counted in
// SysfsReadStats, never an error or a crash. Strings are escaped to valid UTF-8
// (pipeline::EscapeToUtf8) and capped at kMaxUsbStringBytes.
//
// Fingerprint: the first 32 hex digits of SHA-256 over "usb1|vvvv|pppp|serial=<serial>" (vid and
// pid as 4 lower-case hex digits, the serial as escaped), or "usb1|vvvv|pppp|port=<bus path>" when
// the device has no serial. Stable across replugs for devices with a serial; without one, stable
// only for the same port. Devices that share a vendor-wide fake serial share a fingerprint.
// Pure functions over the file system; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "agent/sources/usb/uevent.h"
#include "custos/v1/event.pb.h"

namespace custos::agent::usb {

inline constexpr size_t kMaxUsbStringBytes = 512;

struct SysfsReadStats {
  uint64_t unreadable = 0;  // attributes present but not readable (EACCES, EIO, a directory...)
};

// "1-2.3" from "/devices/pci0000:00/0000:00:14.0/usb1/1-2/1-2.3" (the last path component).
std::string UsbBusPath(std::string_view devpath);

// True for a root hub ("usb1"): part of the host controller, not a plugged device.
bool IsUsbRootHub(std::string_view devpath);

std::string UsbFingerprint(uint32_t vendor_id, uint32_t product_id, std::string_view serial,
                           std::string_view bus_path);

// Describes the usb_device at `devpath` (as in a uevent; relative to sysfs_root). `uevent` may be
// null (enumeration); when given, its PRODUCT= fills vendor/product id if sysfs cannot, and its
// action is not used. Returns a UsbEvent with action USB_ACTION_UNSPECIFIED, bus_path and
// fingerprint always set, interface_classes sorted and unique.
custos::v1::UsbEvent DescribeUsbDevice(std::string_view sysfs_root, std::string_view devpath,
                                       const Uevent* uevent, SysfsReadStats* stats);

// Reads one sysfs attribute file (at most max_bytes, trailing newlines removed). Returns false
// when it does not exist (ENOENT/ENOTDIR), counting other failures in `stats`.
bool ReadSysfsAttribute(const std::string& path, size_t max_bytes, std::string* out,
                        SysfsReadStats* stats);

}  // namespace custos::agent::usb
