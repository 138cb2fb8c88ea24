// agent/sources/usb/usb_source.h: USB devices plugged in and out, removable volumes and what is
// written onto them (front door).
//
// What it reports (custos.v1.Event with a UsbEvent payload, via the EventSink; no actor: a plug
// has no process):
//   ADDED   for every USB device present at Start (enumerated from <sysfs_root>/bus/usb/devices),
//           then for every usb_device "add" the kernel announces;
//   REMOVED for every usb_device "remove", with the facts last known for that devpath (the sysfs
//           node is gone by then);
//   MOUNTED / UNMOUNTED when a removable volume appears in or leaves mountinfo (at Start: MOUNTED
//           for what is already mounted), with mount_point, fs_type, block_device ("/dev/sdb1")
//           and label (volume.h: udev by-label links, else the FAT boot sector / ext superblock;
//           "" when unknown). One event per mount point (bind mounts of one volume each count).
//           Removable volumes are:
//             - filesystems on a block device below a reported USB device: the device's facts
//               and fingerprint;
//             - filesystems on a block device whose disk has sysfs removable=1 (SD cards in an mmc
//               slot, optical discs): no vendor/product; fingerprint VolumeFingerprint of the
//               card's CID register when there is one, else of the filesystem UUID, else of the
//               mount source;
//             - mount points listed in removable_mount_points (any filesystem): fingerprint of
//               the filesystem UUID, else of the mount source (stable across remounts).
//   BLOCKED when policy.mode is enforce and a device that was just reported ADDED matches a block
//           rule (device_policy.h): "0" was written to <sysfs_root>/bus/usb/devices/<bus
//           path>/authorized. Each policy decision is also an AgentHealth event (component
//           "source.usb", facts: policy_action = blocked | would_block | block_failed, rule,
//           mode, fingerprint, vendor_id, product_id, serial, bus_path, and error when failed);
//           observe mode (the default) only reports would_block. Root hubs are never blocked.
// And FileEvent FILE_OP_COPY_TO_REMOVABLE (with the writing process as actor) when a regular
// file on a removable volume is closed after being opened for writing: path, size, mode and
// device_fingerprint = the volume's fingerprint. source_path and classifications are left to
// pipeline::CopyCorrelator (agent/pipeline/copy_correlator.h). Mechanism: a second fanotify
// group in notification mode with file descriptors (FAN_CLASS_NOTIF, no FID: works on vfat,
// exfat, fuse...), one FAN_MARK_MOUNT mark for FAN_CLOSE_WRITE per removable mount point (marks
// vanish with the mount); the path is read from /proc/self/fd and the size from fstat. Needs
// CAP_SYS_ADMIN; without it health is DEGRADED and the rest works. Writes by the agent itself are
// ignored; a queue overflow is an EventsLost event.
// Facts: vendor/product id, serial, manufacturer, product, interface classes, bus path and a
// stable fingerprint (usb_device.h). Root hubs are not reported unless report_root_hubs.
// Interfaces appear after the device's "add": ADDED is sent when the kernel announces the
// device's "bind" (the generic driver configured it and created the interfaces), or after
// bind_wait for a device that is never bound (e.g. deauthorised), or at Stop.
// Loss: ENOBUFS on the socket (the kernel dropped messages) produces an EventsLost event and a
// re-enumeration that reports ADDED/REMOVED for what changed meanwhile; events refused by the
// sink are counted and reported as EventsLost when the sink accepts again.
//
// Mechanism "netlink-uevent": a NETLINK_KOBJECT_UEVENT socket bound to the kernel's multicast
// group 1. Only messages sent by the kernel are accepted (sender nl_pid 0 and SCM_CREDENTIALS
// uid 0); others (e.g. a local process, udevd's libudev-format messages) are counted and dropped.
// Messages are parsed by uevent.h.
//
// Threads: Start enumerates on the caller's thread (after the socket is bound, so nothing falls
// between), then one reader thread parses, reads sysfs, reads the first 4 KiB of newly mounted
// removable volumes (label), handles fanotify events (procfs and fstat only) and pushes
// (non-blocking). Lifetimes: the clock and the attributor must outlive the source; the sink
// passed to Start must outlive Stop. Start/Stop/Health may be called from any thread; Stop is
// idempotent and joins within about poll_interval.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "agent/pipeline/attribution.h"
#include "agent/sources/source.h"
#include "agent/sources/usb/device_policy.h"
#include "agent/sources/usb/mountinfo.h"
#include "agent/sources/usb/uevent.h"
#include "agent/sources/usb/usb_device.h"
#include "common/status/status.h"
#include "common/time/clock.h"

namespace custos::agent::usb {

struct UsbSourceOptions {
  std::string sysfs_root = "/sys";  // tests point this at a fake tree
  bool report_root_hubs = false;
  // false: enumerate at Start only, no netlink socket (tests with a fake sysfs tree).
  bool listen = true;
  int receive_buffer_bytes = 4 << 20;  // SO_RCVBUFFORCE (root), else SO_RCVBUF capped by rmem_max
  std::chrono::milliseconds poll_interval{200};
  std::chrono::milliseconds bind_wait{2000};
  // Mount tracking; "" turns it off. Changes are noticed with poll(POLLPRI) on this file.
  std::string mountinfo_path = "/proc/self/mountinfo";
  // Mount points (absolute, as mounted) whose volumes count as removable whatever their device.
  std::vector<std::string> removable_mount_points;
  // Where block device nodes and the udev by-label links live (tests: a fake tree).
  std::string dev_root = "/dev";
  // FILE_OP_COPY_TO_REMOVABLE for files written on removable volumes (needs listen).
  bool watch_removable_writes = true;
  // Fills the actor of FILE_OP_COPY_TO_REMOVABLE (procfs only); null = pid only.
  pipeline::ProcessAttributor* attributor = nullptr;
  // Allow/block lists (device_policy.h); observe mode by default.
  UsbPolicy policy;
  // Test hooks, called on the reader thread: every accepted kernel message (any subsystem), and
  // every read of the mount table.
  std::function<void(const Uevent&)> on_kernel_uevent;
  std::function<void()> on_mounts_read;
};

class UsbSource : public Source {
 public:
  UsbSource(UsbSourceOptions options, Clock* clock);
  ~UsbSource() override;
  UsbSource(const UsbSource&) = delete;
  UsbSource& operator=(const UsbSource&) = delete;

  std::string name() const override { return "usb"; }
  // Errors: "usb: socket(NETLINK_KOBJECT_UEVENT): ..." and the like when listening is impossible;
  // FailedPrecondition when already started.
  Status Start(EventSink* sink) override;
  void Stop() override;
  SourceHealth Health() const override;

  // The replay twin of the reader thread: handles one datagram as if the kernel had sent it
  // (parse, sysfs, report), then reports devices whose bind_wait expired. Only for a started
  // source with listen = false (there is no reader thread to race with); CHECKs that.
  void ProcessKernelMessage(std::string_view datagram);
  // The replay twin of ENOBUFS on the socket: EventsLost, then a re-enumeration that reports
  // ADDED/REMOVED for devices that came or went meanwhile. Same conditions as above.
  void ProcessOverflow();
  // The replay twin of a mount table change (POLLPRI on mountinfo): re-reads it and reports.
  void ProcessMountsChanged();
  // The replay twin of a fanotify FAN_CLOSE_WRITE on a removable volume: `path` (raw bytes) was
  // closed after writing by `pid`, with this stat.
  void ProcessRemovableWrite(const std::string& path, uint32_t pid, uint64_t size, uint32_t mode);

  // Counters (any thread).
  uint64_t kernel_messages() const { return kernel_messages_.load(); }
  uint64_t rejected_messages() const { return rejected_messages_.load(); }
  uint64_t removable_writes() const { return removable_writes_.load(); }

 private:
  struct Pending {
    custos::v1::UsbEvent facts;
    std::chrono::steady_clock::time_point deadline;
  };
  // A mounted removable volume, as reported MOUNTED.
  struct Volume {
    custos::v1::UsbEvent facts;
    std::string source;  // mountinfo's source field
    uint32_t major = 0, minor = 0;
  };
  // What sysfs says about a block device.
  struct BlockFacts {
    std::string name;                         // "sdb1"
    std::optional<custos::v1::UsbEvent> usb;  // facts of the reported USB device it is below
    bool removable = false;                   // the disk's sysfs "removable" is 1
    std::string mmc_cid;                      // an SD card's CID register, if any
  };

  Status OpenSocket();
  void ReadLoop();
  void HandleOverflow();
  // Re-reads mountinfo and reports MOUNTED/UNMOUNTED for USB volumes that came or went.
  void RefreshMounts();
  std::optional<BlockFacts> DescribeBlockDevice(uint32_t major, uint32_t minor);
  // The facts of a removable volume mounted per `m` (nullopt: not removable). `previous` is what
  // was reported for this mount point (reused when the same device is still mounted there).
  std::optional<Volume> DescribeVolume(const MountEntry& m, const Volume* previous);
  bool IsDeclaredRemovable(const std::string& mount_point) const;
  void OpenRemovableWatch();
  void MarkRemovable(const std::string& mount_point);
  void ReadRemovableWrites();
  void HandleRemovableWrite(const std::string& path, uint32_t pid, uint64_t size, uint32_t mode);
  void ApplyPolicy(const custos::v1::UsbEvent& device);
  void PushHealthEvent(custos::v1::HealthLevel level, const std::string& message,
                       const std::map<std::string, std::string>& facts);
  void HandleDatagram(std::string_view datagram, bool from_kernel);
  void HandleUevent(const Uevent& uevent);
  // Compares sysfs with what is known: ADDED for new devices, REMOVED (unless initial) for gone.
  void Resync(bool initial);
  void FlushPending(bool all);
  void Report(custos::v1::UsbEvent facts, custos::v1::UsbAction action);
  bool Emit(custos::v1::Event&& event);
  void ReportLoss(std::string reason, uint64_t count);
  void SetHealth(custos::v1::HealthLevel level, std::string message);

  const UsbSourceOptions options_;
  Clock* const clock_;
  EventSink* sink_ = nullptr;
  int fd_ = -1;
  int mount_fd_ = -1;  // mountinfo, for POLLPRI only
  int write_fd_ = -1;  // fanotify group watching removable volumes for FAN_CLOSE_WRITE
  std::thread thread_;
  std::atomic<bool> stop_{false};
  bool started_ = false;  // guarded by start_mu_
  std::mutex start_mu_;

  // Reader-thread state (touched by Start before the thread exists).
  std::map<std::string, custos::v1::UsbEvent> known_;  // devpath -> facts reported as ADDED
  std::map<std::string, Pending> pending_;             // devpath -> added, waiting for bind
  std::map<std::string, Volume> usb_mounts_;           // raw mount point -> MOUNTED volume
  SysfsReadStats read_stats_;
  uint64_t refused_unreported_ = 0;

  std::atomic<uint64_t> events_{0};
  std::atomic<uint64_t> lost_{0};
  std::atomic<uint64_t> kernel_messages_{0};
  std::atomic<uint64_t> rejected_messages_{0};
  std::atomic<uint64_t> unreadable_{0};
  std::atomic<uint64_t> removable_writes_{0};
  mutable std::mutex health_mu_;
  custos::v1::HealthLevel level_ = custos::v1::HEALTH_LEVEL_OK;  // guarded by health_mu_
  std::string message_;                                          // guarded by health_mu_
};

// Creates the USB source. Errors: InvalidArgument for an empty sysfs_root or a non-positive
// poll_interval; the socket is opened at Start. `clock` null means RealClock().
Result<std::unique_ptr<Source>> CreateUsbSource(UsbSourceOptions options, Clock* clock);

}  // namespace custos::agent::usb
