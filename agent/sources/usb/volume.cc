#include "agent/sources/usb/volume.h"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <filesystem>

#include "agent/pipeline/utf8.h"
#include "common/crypto/crypto.h"

namespace custos::agent::usb {
namespace {

uint8_t Byte(std::string_view b, size_t at) { return static_cast<uint8_t>(b[at]); }

uint16_t Le16(std::string_view b, size_t at) {
  return static_cast<uint16_t>(Byte(b, at) | (Byte(b, at + 1) << 8));
}

uint32_t Le32(std::string_view b, size_t at) {
  return static_cast<uint32_t>(Le16(b, at)) | (static_cast<uint32_t>(Le16(b, at + 2)) << 16);
}

std::string Trimmed(std::string_view field) {
  while (!field.empty() && (field.back() == ' ' || field.back() == '\0')) field.remove_suffix(1);
  return std::string(field);
}

std::string SerialFat(uint32_t id) {
  char buf[16];
  std::snprintf(buf, sizeof(buf), "%04X-%04X", id >> 16, id & 0xffff);
  return buf;
}

bool ParseFat(std::string_view b, VolumeIdentity* out) {
  if (b.size() < 512 || Byte(b, 510) != 0x55 || Byte(b, 511) != 0xAA) return false;
  const uint16_t bytes_per_sector = Le16(b, 11);
  const uint8_t sectors_per_cluster = Byte(b, 13);
  const uint8_t fats = Byte(b, 16);
  if (bytes_per_sector < 512 || bytes_per_sector > 4096 ||
      (bytes_per_sector & (bytes_per_sector - 1)) != 0 || sectors_per_cluster == 0 ||
      (sectors_per_cluster & (sectors_per_cluster - 1)) != 0 || fats == 0) {
    return false;
  }
  const bool fat32 = Le16(b, 22) == 0;  // 16-bit FAT size 0: the 32-bit one (at 36) is used
  const size_t ebpb = fat32 ? 64 : 36;  // drive number, reserved, boot signature
  if (Byte(b, ebpb + 2) != 0x29) {      // no extended boot record: no id, no label
    out->fs = "vfat";
    return true;
  }
  out->fs = "vfat";
  out->uuid = SerialFat(Le32(b, ebpb + 3));
  std::string label = Trimmed(b.substr(ebpb + 7, 11));
  if (label != "NO NAME") out->label = pipeline::EscapeToUtf8(label);
  return true;
}

std::string Hex(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (char c : bytes) {
    out.push_back(kDigits[static_cast<uint8_t>(c) >> 4]);
    out.push_back(kDigits[static_cast<uint8_t>(c) & 15]);
  }
  return out;
}

bool ParseExt(std::string_view b, VolumeIdentity* out) {
  constexpr size_t kSuper = 1024;
  if (b.size() < kSuper + 136 || Le16(b, kSuper + 56) != 0xEF53) return false;
  out->fs = "ext";
  std::string u = Hex(b.substr(kSuper + 104, 16));
  if (u != std::string(32, '0')) {
    out->uuid = u.substr(0, 8) + "-" + u.substr(8, 4) + "-" + u.substr(12, 4) + "-" +
                u.substr(16, 4) + "-" + u.substr(20);
  }
  std::string_view name = b.substr(kSuper + 120, 16);
  name = name.substr(0, name.find('\0'));
  out->label = pipeline::EscapeToUtf8(name);
  return true;
}

bool ParseExfat(std::string_view b, VolumeIdentity* out) {
  if (b.size() < 512 || b.substr(3, 8) != "EXFAT   ") return false;
  out->fs = "exfat";
  out->uuid = SerialFat(Le32(b, 100));
  return true;
}

}  // namespace

VolumeIdentity ParseVolumeIdentity(std::string_view head) {
  VolumeIdentity id;
  if (ParseExfat(head, &id) || ParseExt(head, &id) || ParseFat(head, &id)) return id;
  return VolumeIdentity{};
}

VolumeIdentity ReadVolumeIdentity(const std::string& device_path) {
  const int fd = ::open(device_path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
  if (fd < 0) return VolumeIdentity{};
  std::string head(kVolumeHeadBytes, '\0');
  size_t have = 0;
  while (have < head.size()) {
    const ssize_t n = ::pread(fd, head.data() + have, head.size() - have, static_cast<off_t>(have));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    have += static_cast<size_t>(n);
  }
  ::close(fd);
  head.resize(have);
  return ParseVolumeIdentity(head);
}

std::string DecodeUdevString(std::string_view text) {
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\\' && i + 3 < text.size() && text[i + 1] == 'x' && hex(text[i + 2]) >= 0 &&
        hex(text[i + 3]) >= 0) {
      out.push_back(static_cast<char>(hex(text[i + 2]) * 16 + hex(text[i + 3])));
      i += 3;
      continue;
    }
    out.push_back(text[i]);
  }
  return out;
}

std::string LabelFromUdevLinks(const std::string& dev_root, const std::string& device_name) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::path device = fs::canonical(fs::path(dev_root) / device_name, ec);
  if (ec) return "";
  fs::directory_iterator it(fs::path(dev_root) / "disk/by-label", ec);
  for (; !ec && it != fs::directory_iterator(); it.increment(ec)) {
    std::error_code ec2;
    const fs::path target = fs::canonical(it->path(), ec2);
    if (!ec2 && target == device) {
      return pipeline::EscapeToUtf8(DecodeUdevString(it->path().filename().string()));
    }
  }
  return "";
}

std::string VolumeFingerprint(std::string_view kind, std::string_view identity) {
  std::string input = "vol1|";
  input += kind;
  input += "=";
  input += identity;
  return crypto::HexEncode(crypto::Sha256(input)).substr(0, 32);
}

}  // namespace custos::agent::usb
