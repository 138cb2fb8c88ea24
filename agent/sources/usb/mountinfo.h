// agent/sources/usb/mountinfo.h: parser for /proc/<pid>/mountinfo (internal to the USB source).
//
// Format (proc(5)): one mount per line,
//   "36 35 8:17 / /media/alice/MY\040STICK rw,nosuid shared:1 - vfat /dev/sdb1 rw,uid=1000"
//   mount id, parent id, major:minor, root, mount point, options, optional fields, "-",
//   fs type, source, super options. Octal escapes (\040 space, \011 tab, \012 newline, \134
//   backslash) in root, mount point and source are decoded; the result is raw bytes.
// Malformed lines are skipped and counted, never an error: the file comes from the kernel, but
// a short read or a future format must not stop mount tracking. Pure functions, thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace custos::agent::usb {

struct MountEntry {
  uint32_t major = 0;
  uint32_t minor = 0;
  std::string root;
  std::string mount_point;
  std::string fs_type;
  std::string source;  // "/dev/sdb1", or "tmpfs", "none"...
};

struct Mountinfo {
  std::vector<MountEntry> mounts;
  uint64_t malformed_lines = 0;
};

Mountinfo ParseMountinfo(std::string_view text);

// Decodes mountinfo's octal escapes ("\040" -> ' '); other bytes are copied.
std::string UnescapeMountField(std::string_view field);

}  // namespace custos::agent::usb
