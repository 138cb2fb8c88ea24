#include "agent/sources/usb/uevent.h"

#include <charconv>
#include <string>
#include <system_error>

#include "agent/pipeline/utf8.h"

namespace custos::agent::usb {
namespace {

constexpr std::string_view kLibudevMagic("libudev\0", 8);
constexpr size_t kMaxActionBytes = 16;
constexpr size_t kMaxKeyBytes = 64;
constexpr size_t kMaxQuotedBytes = 40;

Status Malformed(const std::string& reason) { return InvalidArgumentError("uevent: " + reason); }

// Values quoted in error messages are attacker-influenced bytes: escape and shorten them.
std::string Quote(std::string_view bytes) {
  bool cut = bytes.size() > kMaxQuotedBytes;
  std::string out = "'" + pipeline::EscapeToUtf8(bytes.substr(0, kMaxQuotedBytes));
  if (cut) out += "...";
  return out + "'";
}

bool IsKeyChar(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
}

template <typename T>
std::optional<T> ParseNumber(std::string_view text, int base, T max) {
  if (text.empty()) return std::nullopt;
  T value{};
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value, base);
  if (ec != std::errc() || end != text.data() + text.size() || value > max) return std::nullopt;
  return value;
}

// Splits "a/b/c" into three numbers in `base`, each <= max.
bool ParseTriple(std::string_view value, int base, uint32_t max, uint32_t out[3]) {
  for (int i = 0; i < 3; ++i) {
    size_t slash = value.find('/');
    std::string_view part = i < 2 ? value.substr(0, slash) : value;
    if (i < 2 && slash == std::string_view::npos) return false;
    auto n = ParseNumber<uint32_t>(part, base, max);
    if (!n) return false;
    out[i] = *n;
    if (i < 2) value.remove_prefix(slash + 1);
  }
  return true;
}

}  // namespace

std::string Uevent::Get(std::string_view key) const {
  auto it = env.find(std::string(key));
  return it == env.end() ? std::string() : it->second;
}

std::optional<UsbProductId> ParseUsbProduct(std::string_view value) {
  uint32_t n[3];
  if (!ParseTriple(value, 16, 0xffff, n)) return std::nullopt;
  return UsbProductId{n[0], n[1], n[2]};
}

std::optional<UsbInterfaceId> ParseUsbInterface(std::string_view value) {
  uint32_t n[3];
  if (!ParseTriple(value, 10, 255, n)) return std::nullopt;
  return UsbInterfaceId{n[0], n[1], n[2]};
}

Result<Uevent> ParseUevent(std::string_view datagram) {
  if (datagram.empty()) return Malformed("empty message");
  if (datagram.substr(0, kLibudevMagic.size()) == kLibudevMagic) {
    return Malformed("libudev-format message (sent by udevd, not by the kernel)");
  }
  if (datagram.size() > kMaxUeventBytes) {
    return Malformed("message of " + std::to_string(datagram.size()) + " bytes exceeds " +
                     std::to_string(kMaxUeventBytes));
  }
  if (datagram.back() != '\0') return Malformed("last field is not NUL-terminated");

  Uevent event;
  size_t header_end = datagram.find('\0');
  std::string_view header = datagram.substr(0, header_end);
  size_t at = header.find('@');
  if (at == std::string_view::npos) return Malformed("header " + Quote(header) + " has no '@'");
  std::string_view action = header.substr(0, at);
  std::string_view devpath = header.substr(at + 1);
  if (action.empty() || action.size() > kMaxActionBytes) {
    return Malformed("header " + Quote(header) + ": action must be 1-16 letters");
  }
  for (char c : action) {
    if (c < 'a' || c > 'z') {
      return Malformed("header " + Quote(header) + ": action must be lower-case letters");
    }
  }
  if (devpath.size() < 2 || devpath.front() != '/') {
    return Malformed("header " + Quote(header) + ": devpath must start with '/'");
  }
  // Kernel devpaths are canonical; a "." or ".." component could point callers outside /sys.
  std::string_view rest_of_path = devpath;
  while (!rest_of_path.empty()) {
    rest_of_path.remove_prefix(1);  // the '/'
    size_t next = rest_of_path.find('/');
    std::string_view component = rest_of_path.substr(0, next);
    if (component.empty() || component == "." || component == "..") {
      return Malformed("header " + Quote(header) + ": devpath has an empty, '.' or '..' component");
    }
    rest_of_path = next == std::string_view::npos ? std::string_view() : rest_of_path.substr(next);
  }
  event.action = std::string(action);
  event.devpath = std::string(devpath);

  std::string_view rest = datagram.substr(header_end + 1);
  size_t fields = 0;
  while (!rest.empty()) {
    size_t end = rest.find('\0');  // always found: the datagram ends with NUL
    std::string_view field = rest.substr(0, end);
    rest.remove_prefix(end + 1);
    ++fields;
    std::string where = "field " + std::to_string(fields);
    if (fields > kMaxUeventFields) {
      return Malformed("more than " + std::to_string(kMaxUeventFields) + " fields");
    }
    if (field.empty()) return Malformed(where + " is empty");
    size_t eq = field.find('=');
    if (eq == std::string_view::npos) return Malformed(where + " " + Quote(field) + " has no '='");
    std::string_view key = field.substr(0, eq);
    if (key.empty() || key.size() > kMaxKeyBytes) {
      return Malformed(where + ": key must be 1-64 characters");
    }
    for (char c : key) {
      if (!IsKeyChar(c)) return Malformed(where + ": key " + Quote(key) + " is not [A-Za-z0-9_]");
    }
    auto [it, inserted] = event.env.emplace(std::string(key), std::string(field.substr(eq + 1)));
    if (!inserted) return Malformed("key " + std::string(key) + " appears twice");
  }

  auto require = [&](std::string_view key) -> const std::string* {
    auto it = event.env.find(std::string(key));
    return it == event.env.end() ? nullptr : &it->second;
  };
  const std::string* value = require("ACTION");
  if (value == nullptr || *value != event.action) {
    return Malformed("ACTION does not repeat the header action '" + event.action + "'");
  }
  value = require("DEVPATH");
  if (value == nullptr || *value != event.devpath) {
    return Malformed("DEVPATH does not repeat the header devpath");
  }
  value = require("SUBSYSTEM");
  if (value == nullptr || value->empty()) return Malformed("no SUBSYSTEM");
  event.subsystem = *value;
  value = require("SEQNUM");
  if (value == nullptr) return Malformed("no SEQNUM");
  auto seqnum = ParseNumber<uint64_t>(*value, 10, UINT64_MAX);
  if (!seqnum) return Malformed("SEQNUM " + Quote(*value) + " is not a decimal number");
  event.seqnum = *seqnum;

  event.devtype = event.Get("DEVTYPE");
  event.devname = event.Get("DEVNAME");
  if ((value = require("PRODUCT")) != nullptr) {
    event.product = ParseUsbProduct(*value);
    if (!event.product) return Malformed("PRODUCT " + Quote(*value) + " is not vid/pid/bcd hex");
  }
  if ((value = require("INTERFACE")) != nullptr) {
    event.interface = ParseUsbInterface(*value);
    if (!event.interface) {
      return Malformed("INTERFACE " + Quote(*value) + " is not class/subclass/protocol");
    }
  }
  if ((value = require("BUSNUM")) != nullptr) {
    event.busnum = ParseNumber<uint32_t>(*value, 10, 0xffff);
    if (!event.busnum) return Malformed("BUSNUM " + Quote(*value) + " is not a decimal number");
  }
  if ((value = require("DEVNUM")) != nullptr) {
    event.devnum = ParseNumber<uint32_t>(*value, 10, 0xffff);
    if (!event.devnum) return Malformed("DEVNUM " + Quote(*value) + " is not a decimal number");
  }
  return event;
}

}  // namespace custos::agent::usb
