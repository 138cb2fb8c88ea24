#include "agent/sources/usb/usb_source.h"

#include <fcntl.h>
#include <linux/netlink.h>
#include <poll.h>
#include <pthread.h>
#include <sys/fanotify.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <utility>
#include <vector>

#include "agent/pipeline/utf8.h"
#include "agent/sources/usb/mountinfo.h"
#include "agent/sources/usb/volume.h"
#include "common/log/log.h"

namespace custos::agent::usb {
namespace {

constexpr uint32_t kKernelUeventGroup = 1;
// Larger than any kernel uevent, so a bigger datagram shows up as MSG_TRUNC and is refused.
constexpr size_t kReceiveBufferBytes = kMaxUeventBytes * 2;
// Hosts with many containers have thousands of mounts of ~150 bytes each.
constexpr size_t kMaxMountinfoBytes = 8 << 20;
constexpr size_t kFanotifyBufferBytes = 64 * 1024;

std::string WithoutTrailingSlash(std::string path) {
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  return path;
}

// True when `path` is `dir` or below it.
bool IsAtOrBelow(const std::string& path, const std::string& dir) {
  if (dir == "/") return !path.empty() && path[0] == '/';
  return path.compare(0, dir.size(), dir) == 0 &&
         (path.size() == dir.size() || path[dir.size()] == '/');
}

std::string ParentDevpath(const std::string& devpath) {
  size_t slash = devpath.rfind('/');
  return slash == std::string::npos ? std::string() : devpath.substr(0, slash);
}

void AddInterfaceClass(custos::v1::UsbEvent* usb, uint32_t cls) {
  std::vector<uint32_t> classes(usb->interface_classes().begin(), usb->interface_classes().end());
  if (std::find(classes.begin(), classes.end(), cls) != classes.end()) return;
  classes.push_back(cls);
  std::sort(classes.begin(), classes.end());
  usb->clear_interface_classes();
  for (uint32_t c : classes) usb->add_interface_classes(c);
}

}  // namespace

UsbSource::UsbSource(UsbSourceOptions options, Clock* clock)
    : options_(std::move(options)), clock_(clock != nullptr ? clock : RealClock()) {}

UsbSource::~UsbSource() { Stop(); }

Status UsbSource::OpenSocket() {
  int fd = ::socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_KOBJECT_UEVENT);
  if (fd < 0) return ErrnoError("usb: socket(NETLINK_KOBJECT_UEVENT)", errno);
  int size = options_.receive_buffer_bytes;
  if (::setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)) != 0) {
    // Without CAP_NET_ADMIN the kernel caps SO_RCVBUF at net.core.rmem_max.
    (void)::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
  }
  int one = 1;
  if (::setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)) != 0) {
    Status s = ErrnoError("usb: setsockopt(SO_PASSCRED)", errno);
    ::close(fd);
    return s;
  }
  sockaddr_nl addr{};
  addr.nl_family = AF_NETLINK;
  addr.nl_pid = 0;  // let the kernel assign our port id
  addr.nl_groups = kKernelUeventGroup;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    Status s = ErrnoError("usb: bind(NETLINK_KOBJECT_UEVENT, group 1)", errno);
    ::close(fd);
    return s;
  }
  fd_ = fd;
  return OkStatus();
}

Status UsbSource::Start(EventSink* sink) {
  std::lock_guard<std::mutex> lock(start_mu_);
  if (started_) return FailedPreconditionError("usb: already started");
  if (sink == nullptr) return InvalidArgumentError("usb: start: no sink");
  if (options_.listen) {
    Status opened = OpenSocket();
    if (!opened.ok()) {
      SetHealth(custos::v1::HEALTH_LEVEL_FAILED, opened.message());
      return opened;
    }
  }
  sink_ = sink;
  stop_ = false;
  // The socket is bound before enumerating, so a device plugged in meanwhile is either seen by
  // the enumeration or queued on the socket (both: the duplicate "add" is ignored).
  Resync(/*initial=*/true);
  size_t devices = known_.size();  // read before the reader thread owns known_
  if (options_.listen && options_.watch_removable_writes) OpenRemovableWatch();
  RefreshMounts();
  if (options_.listen && !options_.mountinfo_path.empty()) {
    mount_fd_ = ::open(options_.mountinfo_path.c_str(), O_RDONLY | O_CLOEXEC);
    if (mount_fd_ < 0) {
      Status s = ErrnoError("usb: open " + options_.mountinfo_path, errno);
      SetHealth(custos::v1::HEALTH_LEVEL_DEGRADED, s.message() + " (mounts not tracked)");
      logging::Warn("usb: mounts not tracked", {{"error", s.message()}});
    }
  }
  if (options_.listen) {
    thread_ = std::thread([this] {
      pthread_setname_np(pthread_self(), "usb");
      ReadLoop();
    });
  }
  started_ = true;
  logging::Info("usb source started",
                {{"mechanism", options_.listen ? "netlink-uevent" : "sysfs-enumeration"},
                 {"devices", devices},
                 {"sysfs_root", options_.sysfs_root}});
  return OkStatus();
}

void UsbSource::Stop() {
  std::lock_guard<std::mutex> lock(start_mu_);
  if (!started_) return;
  stop_ = true;
  if (thread_.joinable()) thread_.join();
  FlushPending(/*all=*/true);  // the reader thread is gone: its state is ours now
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  if (mount_fd_ >= 0) ::close(mount_fd_);
  mount_fd_ = -1;
  if (write_fd_ >= 0) ::close(write_fd_);
  write_fd_ = -1;
  usb_mounts_.clear();
  started_ = false;
}

SourceHealth UsbSource::Health() const {
  SourceHealth h;
  h.mechanism = options_.listen ? "netlink-uevent" : "sysfs-enumeration";
  {
    std::lock_guard<std::mutex> lock(health_mu_);
    h.level = level_;
    h.message = message_;
  }
  uint64_t unreadable = unreadable_.load();
  if (unreadable > 0 && h.level == custos::v1::HEALTH_LEVEL_OK) {
    h.level = custos::v1::HEALTH_LEVEL_DEGRADED;
    h.message = "usb: " + std::to_string(unreadable) +
                " sysfs attributes could not be read (device facts incomplete)";
  }
  h.events = events_.load();
  h.lost = lost_.load();
  return h;
}

void UsbSource::SetHealth(custos::v1::HealthLevel level, std::string message) {
  std::lock_guard<std::mutex> lock(health_mu_);
  level_ = level;
  message_ = std::move(message);
}

void UsbSource::ReadLoop() {
  std::vector<char> buf(kReceiveBufferBytes);
  while (!stop_.load()) {
    pollfd pfds[3] = {{fd_, POLLIN, 0}, {mount_fd_, POLLPRI, 0}, {write_fd_, POLLIN, 0}};
    int ready = ::poll(pfds, 3, static_cast<int>(options_.poll_interval.count()));  // -1: ignored
    if (ready < 0 && errno != EINTR) {
      Status s = ErrnoError("usb: poll(netlink uevent socket)", errno);
      SetHealth(custos::v1::HEALTH_LEVEL_FAILED, s.message());
      logging::Error("usb source stopped reading", {{"error", s.message()}});
      return;
    }
    if (ready > 0 && (pfds[1].revents & (POLLPRI | POLLERR)) != 0) RefreshMounts();
    if (ready > 0 && pfds[2].revents != 0) ReadRemovableWrites();
    while (ready > 0 && pfds[0].revents != 0 && !stop_.load()) {
      sockaddr_nl sender{};
      iovec iov{buf.data(), buf.size()};
      alignas(cmsghdr) char control[CMSG_SPACE(sizeof(ucred))];
      msghdr msg{};
      msg.msg_name = &sender;
      msg.msg_namelen = sizeof(sender);
      msg.msg_iov = &iov;
      msg.msg_iovlen = 1;
      msg.msg_control = control;
      msg.msg_controllen = sizeof(control);
      ssize_t n = ::recvmsg(fd_, &msg, 0);
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) break;
        if (errno == ENOBUFS) {
          HandleOverflow();
          continue;
        }
        Status s = ErrnoError("usb: recvmsg(netlink uevent socket)", errno);
        SetHealth(custos::v1::HEALTH_LEVEL_FAILED, s.message());
        logging::Error("usb source stopped reading", {{"error", s.message()}});
        return;
      }
      bool from_kernel = msg.msg_namelen >= sizeof(sender) && sender.nl_pid == 0 &&
                         (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) == 0;
      bool root_creds = false;
      for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS &&
            c->cmsg_len >= CMSG_LEN(sizeof(ucred))) {
          ucred cred;
          std::memcpy(&cred, CMSG_DATA(c), sizeof(cred));
          root_creds = cred.uid == 0;
        }
      }
      HandleDatagram(std::string_view(buf.data(), static_cast<size_t>(n)),
                     from_kernel && root_creds);
    }
    FlushPending(/*all=*/false);
  }
}

void UsbSource::ProcessKernelMessage(std::string_view datagram) {
  CUSTOS_CHECK(!options_.listen && sink_ != nullptr)
      << "usb: ProcessKernelMessage needs a started source with listen = false";
  HandleDatagram(datagram, /*from_kernel=*/true);
  FlushPending(/*all=*/false);
}

void UsbSource::ProcessOverflow() {
  CUSTOS_CHECK(!options_.listen && sink_ != nullptr)
      << "usb: ProcessOverflow needs a started source with listen = false";
  HandleOverflow();
}

void UsbSource::HandleOverflow() {
  ReportLoss("netlink uevent socket overflowed (ENOBUFS); devices re-enumerated", 0);
  Resync(/*initial=*/false);
  RefreshMounts();
}

void UsbSource::ProcessMountsChanged() {
  CUSTOS_CHECK(!options_.listen && sink_ != nullptr)
      << "usb: ProcessMountsChanged needs a started source with listen = false";
  RefreshMounts();
}

std::optional<UsbSource::BlockFacts> UsbSource::DescribeBlockDevice(uint32_t major,
                                                                    uint32_t minor) {
  std::error_code ec;
  const std::filesystem::path root = std::filesystem::canonical(options_.sysfs_root, ec);
  if (ec) return std::nullopt;
  std::filesystem::path link = std::filesystem::path(options_.sysfs_root) / "dev/block" /
                               (std::to_string(major) + ":" + std::to_string(minor));
  std::filesystem::path real = std::filesystem::canonical(link, ec);
  if (ec) return std::nullopt;  // not a block device known to sysfs
  std::string real_str = real.string();
  std::string root_str = root.string();
  if (real_str.compare(0, root_str.size(), root_str) != 0) return std::nullopt;
  std::string devpath = real_str.substr(root_str == "/" ? 0 : root_str.size());
  auto below = [&](const std::string& device) {
    return devpath.size() > device.size() && devpath.compare(0, device.size(), device) == 0 &&
           devpath[device.size()] == '/';
  };
  BlockFacts block;
  block.name = real.filename().string();
  for (const auto& [device, usb] : known_) {
    if (below(device)) block.usb = usb;
  }
  for (const auto& [device, p] : pending_) {
    if (!block.usb && below(device)) block.usb = p.facts;
  }
  // "removable" belongs to the disk: the node itself, or the parent of a partition.
  std::string value;
  if (ReadSysfsAttribute(real_str + "/removable", 16, &value, &read_stats_) ||
      ReadSysfsAttribute(real.parent_path().string() + "/removable", 16, &value, &read_stats_)) {
    block.removable = value == "1";
  }
  // An SD card: the mmc card node above the disk holds its CID register.
  std::filesystem::path dir = real.parent_path();
  for (int depth = 0; depth < 8 && dir.string().size() > root_str.size(); ++depth) {
    if (ReadSysfsAttribute(dir.string() + "/cid", 64, &value, &read_stats_)) {
      block.mmc_cid = pipeline::EscapeToUtf8(value);
      break;
    }
    dir = dir.parent_path();
  }
  return block;
}

bool UsbSource::IsDeclaredRemovable(const std::string& mount_point) const {
  for (const std::string& declared : options_.removable_mount_points) {
    if (WithoutTrailingSlash(declared) == mount_point) return true;
  }
  return false;
}

std::optional<UsbSource::Volume> UsbSource::DescribeVolume(const MountEntry& m,
                                                           const Volume* previous) {
  std::optional<BlockFacts> block;
  if (m.major != 0) block = DescribeBlockDevice(m.major, m.minor);
  const bool declared = IsDeclaredRemovable(m.mount_point);
  const bool on_usb = block && block->usb;
  const bool removable_disk = block && block->removable;
  if (!on_usb && !removable_disk && !declared) return std::nullopt;
  Volume volume;
  volume.source = m.source;
  volume.major = m.major;
  volume.minor = m.minor;
  if (previous != nullptr && previous->source == volume.source && previous->major == m.major &&
      previous->minor == m.minor &&
      previous->facts.fs_type() == pipeline::EscapeToUtf8(m.fs_type)) {
    volume.facts = previous->facts;  // still the same volume: no need to read it again
    if (on_usb) {  // the device's facts may have been refined since (interfaces after bind)
      std::string label = volume.facts.label();
      volume.facts = *block->usb;
      volume.facts.set_label(label);
      volume.facts.set_block_device(pipeline::EscapeToUtf8("/dev/" + block->name));
      volume.facts.set_mount_point(pipeline::EscapeToUtf8(m.mount_point));
      volume.facts.set_fs_type(pipeline::EscapeToUtf8(m.fs_type));
    }
    return volume;
  }
  if (on_usb) volume.facts = *block->usb;
  VolumeIdentity identity;
  if (block) {
    volume.facts.set_block_device(pipeline::EscapeToUtf8("/dev/" + block->name));
    identity = ReadVolumeIdentity(options_.dev_root + "/" + block->name);
    std::string label = LabelFromUdevLinks(options_.dev_root, block->name);
    volume.facts.set_label(label.empty() ? identity.label : label);
  }
  if (!on_usb) {
    if (block && !block->mmc_cid.empty()) {
      volume.facts.set_fingerprint(VolumeFingerprint("mmc-cid", block->mmc_cid));
    } else if (!identity.uuid.empty()) {
      volume.facts.set_fingerprint(VolumeFingerprint("uuid", identity.uuid));
    } else {
      volume.facts.set_fingerprint(VolumeFingerprint("source", pipeline::EscapeToUtf8(m.source)));
    }
  }
  volume.facts.set_mount_point(pipeline::EscapeToUtf8(m.mount_point));
  volume.facts.set_fs_type(pipeline::EscapeToUtf8(m.fs_type));
  return volume;
}

void UsbSource::RefreshMounts() {
  if (options_.mountinfo_path.empty()) return;
  std::string text;
  SysfsReadStats stats;
  if (!ReadSysfsAttribute(options_.mountinfo_path, kMaxMountinfoBytes, &text, &stats)) {
    read_stats_.unreadable += std::max<uint64_t>(stats.unreadable, 1);
    unreadable_ = read_stats_.unreadable;
    return;
  }
  Mountinfo info = ParseMountinfo(text);
  std::map<std::string, Volume> current;
  for (const MountEntry& m : info.mounts) {
    auto prev = usb_mounts_.find(m.mount_point);
    std::optional<Volume> volume =
        DescribeVolume(m, prev == usb_mounts_.end() ? nullptr : &prev->second);
    if (!volume) continue;
    current[m.mount_point] = std::move(*volume);  // the last (topmost) mount wins
  }
  auto same = [](const Volume& a, const Volume& b) {
    return a.facts.block_device() == b.facts.block_device() &&
           a.facts.fingerprint() == b.facts.fingerprint() && a.source == b.source;
  };
  for (const auto& [mount_point, volume] : usb_mounts_) {
    auto it = current.find(mount_point);
    if (it == current.end() || !same(it->second, volume)) {
      Report(volume.facts, custos::v1::USB_ACTION_UNMOUNTED);
    }
  }
  for (const auto& [mount_point, volume] : current) {
    auto it = usb_mounts_.find(mount_point);
    if (it == usb_mounts_.end() || !same(it->second, volume)) {
      MarkRemovable(mount_point);
      Report(volume.facts, custos::v1::USB_ACTION_MOUNTED);
    }
  }
  usb_mounts_ = std::move(current);
  unreadable_ = read_stats_.unreadable;
  if (options_.on_mounts_read) options_.on_mounts_read();
}

void UsbSource::OpenRemovableWatch() {
  int fd = ::fanotify_init(FAN_CLASS_NOTIF | FAN_CLOEXEC | FAN_NONBLOCK,
                           O_RDONLY | O_LARGEFILE | O_CLOEXEC | O_NOATIME);
  if (fd < 0) {
    Status s = ErrnoError("usb: fanotify_init (copy-to-removable)", errno);
    SetHealth(custos::v1::HEALTH_LEVEL_DEGRADED,
              s.message() + " (files written on removable volumes not reported)");
    logging::Warn("usb: files written on removable volumes not reported", {{"error", s.message()}});
    return;
  }
  write_fd_ = fd;
}

void UsbSource::MarkRemovable(const std::string& mount_point) {
  if (write_fd_ < 0) return;
  if (::fanotify_mark(write_fd_, FAN_MARK_ADD | FAN_MARK_MOUNT, FAN_CLOSE_WRITE, AT_FDCWD,
                      mount_point.c_str()) != 0) {
    Status s = ErrnoError("usb: fanotify_mark " + pipeline::EscapeToUtf8(mount_point), errno);
    logging::Warn("usb: files written on a removable volume not reported",
                  {{"error", s.message()}});
  }
}

void UsbSource::ReadRemovableWrites() {
  std::vector<uint64_t> aligned(kFanotifyBufferBytes / sizeof(uint64_t));
  char* buf = reinterpret_cast<char*>(aligned.data());
  const uint32_t self = static_cast<uint32_t>(::getpid());
  for (int round = 0; round < 16 && !stop_.load(); ++round) {
    ssize_t n = ::read(write_fd_, buf, kFanotifyBufferBytes);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // EAGAIN: drained
    // The forks and execs before these writes are applied before they are attributed.
    if (options_.attributor != nullptr) options_.attributor->SyncEvents();
    const auto total = static_cast<size_t>(n);
    size_t len = 0;
    for (size_t off = 0; off + sizeof(fanotify_event_metadata) <= total; off += len) {
      fanotify_event_metadata meta;
      std::memcpy(&meta, buf + off, sizeof(meta));
      len = meta.event_len;
      if (len < sizeof(meta) || len > total - off) break;
      if (meta.vers != FANOTIFY_METADATA_VERSION) {
        if (meta.fd >= 0) ::close(meta.fd);
        continue;
      }
      if ((meta.mask & FAN_Q_OVERFLOW) != 0) {
        ReportLoss("fanotify queue for removable volumes overflowed (files written not reported)",
                   0);
        continue;
      }
      if (meta.fd < 0) continue;
      char link[4096];
      const std::string proc = "/proc/self/fd/" + std::to_string(meta.fd);
      const ssize_t l = ::readlink(proc.c_str(), link, sizeof(link));
      struct stat st {};
      const bool have_stat = ::fstat(meta.fd, &st) == 0;
      ::close(meta.fd);
      if (static_cast<uint32_t>(meta.pid) == self || l <= 0 || !have_stat || !S_ISREG(st.st_mode)) {
        continue;
      }
      std::string path(link, static_cast<size_t>(l));
      if (st.st_nlink == 0) continue;  // deleted before we got to it: no longer on the volume
      HandleRemovableWrite(path, static_cast<uint32_t>(meta.pid), static_cast<uint64_t>(st.st_size),
                           static_cast<uint32_t>(st.st_mode));
    }
  }
}

void UsbSource::ProcessRemovableWrite(const std::string& path, uint32_t pid, uint64_t size,
                                      uint32_t mode) {
  CUSTOS_CHECK(!options_.listen && sink_ != nullptr)
      << "usb: ProcessRemovableWrite needs a started source with listen = false";
  HandleRemovableWrite(path, pid, size, mode);
}

void UsbSource::HandleRemovableWrite(const std::string& path, uint32_t pid, uint64_t size,
                                     uint32_t mode) {
  const Volume* volume = nullptr;
  size_t best = 0;
  for (const auto& [mount_point, v] : usb_mounts_) {
    if (IsAtOrBelow(path, mount_point) && mount_point.size() >= best) {
      volume = &v;
      best = mount_point.size();
    }
  }
  if (volume == nullptr) return;  // unmounted meanwhile, or a mount below a removable volume
  custos::v1::Event event;
  event.set_time_ns(clock_->NowUnixNs());
  if (options_.attributor != nullptr) {
    *event.mutable_actor() = options_.attributor->AttributeProcess(pid);
  } else {
    event.mutable_actor()->set_pid(pid);
    event.mutable_actor()->set_login_uid(pipeline::kUnsetLoginUid);
    event.mutable_actor()->set_partial(true);
  }
  auto* f = event.mutable_file();
  f->set_op(custos::v1::FILE_OP_COPY_TO_REMOVABLE);
  f->set_path(pipeline::EscapeToUtf8(path));
  f->set_size(size);
  f->set_mode(mode & 07777);
  f->set_device_fingerprint(volume->facts.fingerprint());
  ++removable_writes_;
  Emit(std::move(event));
}

void UsbSource::ApplyPolicy(const custos::v1::UsbEvent& device) {
  if (IsUsbRootHub(device.bus_path())) return;
  UsbPolicyDecision decision = EvaluateUsbPolicy(options_.policy, device);
  if (!decision.blocked) return;
  char ids[16];
  std::snprintf(ids, sizeof(ids), "%04x:%04x", device.vendor_id() & 0xffff,
                device.product_id() & 0xffff);
  const bool enforce = options_.policy.mode == UsbPolicyMode::kEnforce;
  std::map<std::string, std::string> facts = {{"rule", decision.rule},
                                              {"mode", enforce ? "enforce" : "observe"},
                                              {"fingerprint", device.fingerprint()},
                                              {"vendor_id", std::string(ids, 4)},
                                              {"product_id", std::string(ids + 5, 4)},
                                              {"serial", device.serial()},
                                              {"bus_path", device.bus_path()}};
  if (!enforce) {
    facts["policy_action"] = "would_block";
    PushHealthEvent(custos::v1::HEALTH_LEVEL_OK,
                    "usb: policy would block device " + std::string(ids) + " at " +
                        device.bus_path() + " (rule '" + decision.rule + "'; mode observe)",
                    facts);
    return;
  }
  const std::string path =
      options_.sysfs_root + "/bus/usb/devices/" + device.bus_path() + "/authorized";
  Status written = OkStatus();
  int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    written = ErrnoError("usb: open " + path, errno);
  } else {
    ssize_t n;
    do {
      n = ::write(fd, "0", 1);
    } while (n < 0 && errno == EINTR);
    if (n != 1) written = ErrnoError("usb: write " + path, n < 0 ? errno : EIO);
    ::close(fd);
  }
  if (!written.ok()) {
    facts["policy_action"] = "block_failed";
    facts["error"] = written.message();
    logging::Error("usb: could not block device", {{"device", ids}, {"error", written.message()}});
    PushHealthEvent(custos::v1::HEALTH_LEVEL_DEGRADED,
                    "usb: policy could not block device " + std::string(ids) + " at " +
                        device.bus_path() + " (rule '" + decision.rule + "'): " + written.message(),
                    facts);
    return;
  }
  facts["policy_action"] = "blocked";
  logging::Warn("usb: device blocked by policy", {{"device", ids}, {"rule", decision.rule}});
  Report(device, custos::v1::USB_ACTION_BLOCKED);
  PushHealthEvent(custos::v1::HEALTH_LEVEL_OK,
                  "usb: policy blocked device " + std::string(ids) + " at " + device.bus_path() +
                      " (rule '" + decision.rule + "')",
                  facts);
}

void UsbSource::PushHealthEvent(custos::v1::HealthLevel level, const std::string& message,
                                const std::map<std::string, std::string>& facts) {
  custos::v1::Event event;
  event.set_time_ns(clock_->NowUnixNs());
  auto* h = event.mutable_health();
  h->set_component("source.usb");
  h->set_level(level);
  h->set_message(pipeline::EscapeToUtf8(message));
  for (const auto& [key, value] : facts) {
    (*h->mutable_facts())[key] = pipeline::EscapeToUtf8(value);
  }
  Emit(std::move(event));
}

void UsbSource::HandleDatagram(std::string_view datagram, bool from_kernel) {
  if (!from_kernel) {
    ++rejected_messages_;
    logging::Debug("usb: ignored uevent not sent by the kernel");
    return;
  }
  Result<Uevent> uevent = ParseUevent(datagram);
  if (!uevent.ok()) {
    ++rejected_messages_;
    logging::Warn("usb: ignored malformed kernel uevent", {{"error", uevent.status().message()}});
    return;
  }
  ++kernel_messages_;
  if (options_.on_kernel_uevent) options_.on_kernel_uevent(*uevent);
  HandleUevent(*uevent);
  unreadable_ = read_stats_.unreadable;
}

void UsbSource::HandleUevent(const Uevent& uevent) {
  if (uevent.subsystem != "usb") return;
  const std::string& devpath = uevent.devpath;
  if (uevent.devtype == "usb_interface") {
    // Interfaces of a device still waiting for "bind": remember their class from the message.
    auto it = pending_.find(ParentDevpath(devpath));
    if (uevent.action == "add" && it != pending_.end() && uevent.interface) {
      AddInterfaceClass(&it->second.facts, uevent.interface->interface_class);
    }
    return;
  }
  if (uevent.devtype != "usb_device") return;
  if (IsUsbRootHub(devpath) && !options_.report_root_hubs) return;

  if (uevent.action == "add") {
    if (known_.count(devpath) != 0 || pending_.count(devpath) != 0) return;  // seen at Start
    pending_[devpath] =
        Pending{DescribeUsbDevice(options_.sysfs_root, devpath, &uevent, &read_stats_),
                clock_->SteadyNow() + options_.bind_wait};
  } else if (uevent.action == "bind") {
    auto it = pending_.find(devpath);
    if (it == pending_.end()) return;
    custos::v1::UsbEvent facts =
        DescribeUsbDevice(options_.sysfs_root, devpath, &uevent, &read_stats_);
    for (uint32_t c : it->second.facts.interface_classes()) AddInterfaceClass(&facts, c);
    pending_.erase(it);
    known_[devpath] = facts;
    Report(std::move(facts), custos::v1::USB_ACTION_ADDED);
  } else if (uevent.action == "remove") {
    custos::v1::UsbEvent facts;
    if (auto it = pending_.find(devpath); it != pending_.end()) {
      facts = it->second.facts;
      pending_.erase(it);
      Report(facts, custos::v1::USB_ACTION_ADDED);
    } else if (auto k = known_.find(devpath); k != known_.end()) {
      facts = k->second;
      known_.erase(k);
    } else {
      // Never seen (e.g. lost while the socket overflowed): what the message itself says.
      if (uevent.product) {
        facts.set_vendor_id(uevent.product->vendor_id);
        facts.set_product_id(uevent.product->product_id);
      }
      facts.set_bus_path(pipeline::EscapeToUtf8(UsbBusPath(devpath)));
      facts.set_fingerprint(
          UsbFingerprint(facts.vendor_id(), facts.product_id(), "", facts.bus_path()));
    }
    Report(std::move(facts), custos::v1::USB_ACTION_REMOVED);
  }
}

void UsbSource::FlushPending(bool all) {
  auto now = clock_->SteadyNow();
  for (auto it = pending_.begin(); it != pending_.end();) {
    if (!all && it->second.deadline > now) {
      ++it;
      continue;
    }
    // Never bound (no driver, deauthorised) or stopping: report what we have, re-reading sysfs
    // for interfaces created meanwhile.
    custos::v1::UsbEvent facts =
        DescribeUsbDevice(options_.sysfs_root, it->first, nullptr, &read_stats_);
    if (facts.vendor_id() == 0 && facts.product_id() == 0) facts = it->second.facts;  // gone
    for (uint32_t c : it->second.facts.interface_classes()) AddInterfaceClass(&facts, c);
    known_[it->first] = facts;
    Report(std::move(facts), custos::v1::USB_ACTION_ADDED);
    it = pending_.erase(it);
  }
  unreadable_ = read_stats_.unreadable;
}

void UsbSource::Resync(bool initial) {
  FlushPending(/*all=*/true);
  std::map<std::string, custos::v1::UsbEvent> present;
  std::error_code ec;
  const std::filesystem::path root = std::filesystem::canonical(options_.sysfs_root, ec);
  const std::filesystem::path bus = std::filesystem::path(options_.sysfs_root) / "bus/usb/devices";
  if (!ec) {
    for (const auto& entry : std::filesystem::directory_iterator(bus, ec)) {
      std::error_code ec2;
      std::filesystem::path real = std::filesystem::canonical(entry.path(), ec2);
      if (ec2) continue;
      std::string real_str = real.string();
      std::string root_str = root.string();
      if (real_str.compare(0, root_str.size(), root_str) != 0) continue;  // outside sysfs
      std::string devpath = real_str.substr(root_str == "/" ? 0 : root_str.size());
      std::string uevent_text;
      if (!ReadSysfsAttribute(real_str + "/uevent", 4096, &uevent_text, &read_stats_)) continue;
      if (("\n" + uevent_text + "\n").find("\nDEVTYPE=usb_device\n") == std::string::npos) continue;
      if (IsUsbRootHub(devpath) && !options_.report_root_hubs) continue;
      present[devpath] = DescribeUsbDevice(options_.sysfs_root, devpath, nullptr, &read_stats_);
    }
  }
  if (ec && ec != std::errc::no_such_file_or_directory) {
    logging::Warn("usb: cannot enumerate devices",
                  {{"dir", bus.string()}, {"error", ec.message()}});
  }
  for (auto& [devpath, facts] : present) {
    if (known_.count(devpath) != 0) continue;
    known_[devpath] = facts;
    Report(facts, custos::v1::USB_ACTION_ADDED);
  }
  if (!initial) {
    for (auto it = known_.begin(); it != known_.end();) {
      if (present.count(it->first) != 0) {
        ++it;
        continue;
      }
      Report(it->second, custos::v1::USB_ACTION_REMOVED);
      it = known_.erase(it);
    }
  }
  unreadable_ = read_stats_.unreadable;
}

void UsbSource::Report(custos::v1::UsbEvent facts, custos::v1::UsbAction action) {
  std::optional<custos::v1::UsbEvent> added;
  if (action == custos::v1::USB_ACTION_ADDED && !options_.policy.block.empty()) added = facts;
  custos::v1::Event event;
  event.set_time_ns(clock_->NowUnixNs());
  facts.set_action(action);
  *event.mutable_usb() = std::move(facts);
  Emit(std::move(event));
  if (added) ApplyPolicy(*added);
}

bool UsbSource::Emit(custos::v1::Event&& event) {
  if (!sink_->Push(std::move(event))) {
    ++lost_;
    ++refused_unreported_;
    return false;
  }
  ++events_;
  if (refused_unreported_ > 0) {
    uint64_t count = std::exchange(refused_unreported_, 0);
    ReportLoss("usb events refused by the agent's queue (full)", count);
  }
  return true;
}

void UsbSource::ReportLoss(std::string reason, uint64_t count) {
  int64_t now = clock_->NowUnixNs();
  custos::v1::Event event = MakeEventsLost("usb", count, now, now, std::move(reason));
  logging::Warn("usb: events lost", {{"reason", event.events_lost().reason()}, {"count", count}});
  if (sink_->Push(std::move(event))) {
    ++events_;
  } else {
    ++lost_;
    refused_unreported_ += count;
  }
}

Result<std::unique_ptr<Source>> CreateUsbSource(UsbSourceOptions options, Clock* clock) {
  if (options.sysfs_root.empty()) return InvalidArgumentError("usb: sysfs_root is empty");
  for (const std::string& mount_point : options.removable_mount_points) {
    if (mount_point.empty() || mount_point[0] != '/') {
      return InvalidArgumentError("usb: removable mount point '" + mount_point +
                                  "' is not an absolute path");
    }
  }
  if (options.poll_interval.count() <= 0) {
    return InvalidArgumentError("usb: poll_interval must be positive");
  }
  return std::unique_ptr<Source>(std::make_unique<UsbSource>(std::move(options), clock));
}

}  // namespace custos::agent::usb
