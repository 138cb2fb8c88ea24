#include "agent/sources/usb/usb_device.h"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <memory>
#include <optional>

#include "agent/pipeline/utf8.h"
#include "common/crypto/crypto.h"

namespace custos::agent::usb {
namespace {

std::optional<uint32_t> ParseHex(std::string_view text, uint32_t max) {
  if (text.empty()) return std::nullopt;
  uint32_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value, 16);
  if (ec != std::errc() || end != text.data() + text.size() || value > max) return std::nullopt;
  return value;
}

std::string Hex4(uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof(buf), "%04x", v & 0xffff);
  return buf;
}

}  // namespace

std::string UsbBusPath(std::string_view devpath) {
  while (!devpath.empty() && devpath.back() == '/') devpath.remove_suffix(1);
  size_t slash = devpath.rfind('/');
  return std::string(slash == std::string_view::npos ? devpath : devpath.substr(slash + 1));
}

bool IsUsbRootHub(std::string_view devpath) {
  std::string name = UsbBusPath(devpath);
  return name.size() > 3 && name.compare(0, 3, "usb") == 0;
}

std::string UsbFingerprint(uint32_t vendor_id, uint32_t product_id, std::string_view serial,
                           std::string_view bus_path) {
  std::string input = "usb1|" + Hex4(vendor_id) + "|" + Hex4(product_id) + "|";
  if (!serial.empty()) {
    input += "serial=";
    input += serial;
  } else {
    input += "port=";
    input += bus_path;
  }
  return crypto::HexEncode(crypto::Sha256(input)).substr(0, 32);
}

bool ReadSysfsAttribute(const std::string& path, size_t max_bytes, std::string* out,
                        SysfsReadStats* stats) {
  out->clear();
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  if (fd < 0) {
    if (errno != ENOENT && errno != ENOTDIR && stats != nullptr) ++stats->unreadable;
    return false;
  }
  std::string data;
  char chunk[4096];
  bool failed = false;
  while (data.size() < max_bytes) {
    ssize_t n = ::read(fd, chunk, std::min(sizeof(chunk), max_bytes - data.size()));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      failed = true;
      break;
    }
    if (n == 0) break;
    data.append(chunk, static_cast<size_t>(n));
  }
  ::close(fd);
  if (failed) {
    if (stats != nullptr) ++stats->unreadable;
    return false;
  }
  while (!data.empty() && (data.back() == '\n' || data.back() == '\0')) data.pop_back();
  *out = std::move(data);
  return true;
}

custos::v1::UsbEvent DescribeUsbDevice(std::string_view sysfs_root, std::string_view devpath,
                                       const Uevent* uevent, SysfsReadStats* stats) {
  custos::v1::UsbEvent usb;
  std::string dir = std::string(sysfs_root) + std::string(devpath);
  std::string bus_path = UsbBusPath(devpath);
  std::string value;

  std::optional<uint32_t> vid, pid;
  if (ReadSysfsAttribute(dir + "/idVendor", 16, &value, stats)) vid = ParseHex(value, 0xffff);
  if (ReadSysfsAttribute(dir + "/idProduct", 16, &value, stats)) pid = ParseHex(value, 0xffff);
  if ((!vid || !pid) && uevent != nullptr && uevent->product) {
    vid = uevent->product->vendor_id;
    pid = uevent->product->product_id;
  }
  usb.set_vendor_id(vid.value_or(0));
  usb.set_product_id(pid.value_or(0));

  auto read_string = [&](const char* name, std::string* field) {
    if (ReadSysfsAttribute(dir + "/" + name, kMaxUsbStringBytes, &value, stats)) {
      *field = pipeline::EscapeToUtf8(value);
    }
  };
  read_string("serial", usb.mutable_serial());
  read_string("manufacturer", usb.mutable_manufacturer());
  read_string("product", usb.mutable_product());

  // Interfaces are child directories "<bus path>:<config>.<interface>".
  std::vector<uint32_t> classes;
  if (DIR* d = ::opendir(dir.c_str())) {
    std::string prefix = bus_path + ":";
    while (dirent* e = ::readdir(d)) {
      std::string_view name(e->d_name);
      if (name.substr(0, prefix.size()) != prefix) continue;
      if (ReadSysfsAttribute(dir + "/" + std::string(name) + "/bInterfaceClass", 16, &value,
                             stats)) {
        if (auto c = ParseHex(value, 255)) classes.push_back(*c);
      }
    }
    ::closedir(d);
  } else if (errno != ENOENT && errno != ENOTDIR && stats != nullptr) {
    ++stats->unreadable;
  }
  std::sort(classes.begin(), classes.end());
  classes.erase(std::unique(classes.begin(), classes.end()), classes.end());
  for (uint32_t c : classes) usb.add_interface_classes(c);

  usb.set_bus_path(pipeline::EscapeToUtf8(bus_path));
  usb.set_fingerprint(
      UsbFingerprint(usb.vendor_id(), usb.product_id(), usb.serial(), usb.bus_path()));
  return usb;
}

}  // namespace custos::agent::usb
