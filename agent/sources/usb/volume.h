// agent/sources/usb/volume.h: what identifies a removable volume — label, filesystem UUID and a
// stable fingerprint (internal to the USB source).
//
// Label, in order: the udev symlinks <dev_root>/disk/by-label/* that resolve to the block device
// (names decoded from udev's "\xNN" escapes), else the filesystem's own header:
//   FAT12/16/32 ("vfat"): the boot sector (0x55AA at 510, extended boot signature 0x29), label at
//     43 (FAT12/16) or 71 (FAT32), 11 bytes, trailing spaces trimmed, "NO NAME" = none; volume id
//     at 39 / 67 as "ABCD-1234". (The root-directory label entry that Windows writes is not read.)
//   ext2/3/4: superblock at 1024, magic 0xEF53 at +56, UUID at +104, volume name at +120 (16
//   bytes). exFAT: "EXFAT   " at 3, volume serial at 100 (the label lives in the root directory:
//   not read).
// Only the first kVolumeHeadBytes of the device are read (blocks the kernel read when mounting,
// normally in the page cache). Anything unreadable or unrecognised yields empty fields, never an
// error or a crash: the bytes come from a device anyone can plug in (fuzzed: volume_fuzz.cc).
// Labels and UUIDs are escaped to valid UTF-8 (pipeline::EscapeToUtf8). Thread-safe.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace custos::agent::usb {

inline constexpr size_t kVolumeHeadBytes = 4096;

struct VolumeIdentity {
  std::string fs;     // "vfat", "ext", "exfat" or "" (unrecognised)
  std::string label;  // "" when none
  std::string uuid;   // "ABCD-1234" (FAT), "0123...-..." (ext), "" when none
};

// Parses the first bytes of a volume (any length; fewer than 2048 bytes recognise FAT only).
VolumeIdentity ParseVolumeIdentity(std::string_view head);

// Reads the first kVolumeHeadBytes of `device_path` (O_RDONLY | O_NONBLOCK) and parses them;
// an unreadable device gives an empty identity.
VolumeIdentity ReadVolumeIdentity(const std::string& device_path);

// The label of block device `device_name` ("sdb1") from <dev_root>/disk/by-label, or "".
std::string LabelFromUdevLinks(const std::string& dev_root, const std::string& device_name);

// Decodes udev's "\xNN" escapes ("MY\x20STICK" -> "MY STICK"); other bytes are copied.
std::string DecodeUdevString(std::string_view text);

// A stable fingerprint for a volume that is not on a USB device: the first 32 hex digits of
// SHA-256 over "vol1|<kind>=<identity>", e.g. kind "mmc-cid" (an SD card's CID register), "uuid"
// (the filesystem UUID) or "source" (the mount source, when nothing better is known).
std::string VolumeFingerprint(std::string_view kind, std::string_view identity);

}  // namespace custos::agent::usb
