#include "agent/pipeline/proc_events.h"

#include <linux/cn_proc.h>
#include <linux/connector.h>
#include <linux/netlink.h>
#include <poll.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <limits>
#include <string>

#include "common/log/log.h"

namespace custos::agent::pipeline {
namespace {

// struct proc_event on the wire: what, cpu, timestamp_ns, then the union of event data.
constexpr size_t kEventDataAt = 16;
constexpr uint32_t kWhatNone = 0x00000000;
constexpr uint32_t kWhatFork = 0x00000001;
constexpr uint32_t kWhatExec = 0x00000002;
constexpr uint32_t kWhatUid = 0x00000004;
constexpr uint32_t kWhatExit = 0x80000000;
// Linux 6.6+: a LISTEN request may carry the event types wanted (struct proc_input); older
// kernels accept only the bare enum and ignore this form without an answer.
struct ProcInput {
  uint32_t mcast_op;
  uint32_t event_type;
};

uint32_t U32At(const char* p, size_t at) {
  uint32_t v;
  std::memcpy(&v, p + at, sizeof v);
  return v;
}

// Bytes of event data each kind needs after the 16-byte proc_event header.
size_t DataBytes(uint32_t what) {
  switch (what) {
    case kWhatNone:
      return 4;  // ack.err
    case kWhatFork:
      return 16;  // parent_pid, parent_tgid, child_pid, child_tgid
    case kWhatExec:
      return 8;  // process_pid, process_tgid
    case kWhatUid:
      return 16;  // process_pid, process_tgid, ruid, euid
    case kWhatExit:
      return 8;  // process_pid, process_tgid (exit code, signal, parent follow)
    default:
      return 0;
  }
}

Status Malformed(const std::string& what) { return DataLossError("proc events: " + what); }

}  // namespace

Status ParseProcEvents(std::string_view datagram, std::vector<ProcEvent>* out) {
  const char* p = datagram.data();
  size_t left = datagram.size();
  while (left > 0) {
    if (left < sizeof(nlmsghdr)) return Malformed("netlink header cut short");
    nlmsghdr nh;
    std::memcpy(&nh, p, sizeof nh);
    if (nh.nlmsg_len < sizeof(nlmsghdr) || nh.nlmsg_len > left) {
      return Malformed("netlink message length " + std::to_string(nh.nlmsg_len) + " with " +
                       std::to_string(left) + " bytes left");
    }
    const char* payload = p + NLMSG_HDRLEN;
    const size_t payload_len = nh.nlmsg_len - NLMSG_HDRLEN;
    const size_t step = std::min<size_t>(left, NLMSG_ALIGN(nh.nlmsg_len));
    p += step;
    left -= step;
    if (nh.nlmsg_type == NLMSG_ERROR) return Malformed("netlink error message");
    if (nh.nlmsg_type == NLMSG_NOOP) continue;
    if (payload_len < sizeof(cn_msg)) return Malformed("connector header cut short");
    cn_msg cn;
    std::memcpy(&cn, payload, sizeof cn);
    if (cn.id.idx != CN_IDX_PROC || cn.id.val != CN_VAL_PROC) continue;  // not process events
    if (cn.len > payload_len - sizeof(cn_msg)) {
      return Malformed("connector length " + std::to_string(cn.len) + " beyond its message");
    }
    const char* ev = payload + sizeof(cn_msg);
    if (cn.len < kEventDataAt) return Malformed("process event cut short");
    const uint32_t what = U32At(ev, 0);
    if (cn.len < kEventDataAt + DataBytes(what)) {
      return Malformed("process event " + std::to_string(what) + " cut short");
    }
    const char* data = ev + kEventDataAt;
    ProcEvent e;
    e.seq = cn.seq;
    e.ack = cn.ack;
    std::memcpy(&e.time_ns, ev + 8, sizeof e.time_ns);
    switch (what) {
      case kWhatNone:
        e.kind = ProcEvent::Kind::kAck;
        e.ack_err = U32At(data, 0);
        break;
      case kWhatFork:
        e.kind = ProcEvent::Kind::kFork;
        e.parent = U32At(data, 4);
        e.tid = U32At(data, 8);
        e.pid = U32At(data, 12);
        break;
      case kWhatExec:
      case kWhatUid:
      case kWhatExit:
        e.kind = what == kWhatExec  ? ProcEvent::Kind::kExec
                 : what == kWhatUid ? ProcEvent::Kind::kUid
                                    : ProcEvent::Kind::kExit;
        e.tid = U32At(data, 0);
        e.pid = U32At(data, 4);
        break;
      default:
        e.kind = ProcEvent::Kind::kOther;
        break;
    }
    out->push_back(e);
  }
  return OkStatus();
}

namespace {

// The kernel acknowledges a request with a PROC_EVENT_NONE message, multicast to every listener,
// whose cn_msg ack is the request's ack + 1 (its seq is not the request's on 6.18, measured). The
// ack we send is our socket's netlink port id, unique among the host's sockets, so another
// agent's or test's subscription is never taken for ours.
uint32_t PortId(int fd) {
  sockaddr_nl addr{};
  socklen_t len = sizeof addr;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return 0;
  return addr.nl_pid;
}

// One request to the proc connector (`len` bytes of `data` after the connector header).
Status SendRequest(int fd, const void* data, uint16_t len) {
  alignas(nlmsghdr) char buf[NLMSG_SPACE(sizeof(cn_msg) + sizeof(ProcInput))] = {};
  if (len > sizeof(ProcInput)) return InternalError("proc events: request too long");
  nlmsghdr nh{};
  nh.nlmsg_len = static_cast<uint32_t>(NLMSG_LENGTH(sizeof(cn_msg) + len));
  nh.nlmsg_type = NLMSG_DONE;
  cn_msg cn{};
  cn.id.idx = CN_IDX_PROC;
  cn.id.val = CN_VAL_PROC;
  cn.ack = PortId(fd);
  cn.len = len;
  std::memcpy(buf, &nh, sizeof nh);
  std::memcpy(buf + NLMSG_HDRLEN, &cn, sizeof cn);
  std::memcpy(buf + NLMSG_HDRLEN + sizeof(cn_msg), data, len);
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  if (::sendto(fd, buf, nh.nlmsg_len, 0, reinterpret_cast<sockaddr*>(&kernel), sizeof kernel) < 0) {
    return ErrnoError("proc events: send to the proc connector", errno);
  }
  return OkStatus();
}

// LISTEN, plain (every kind; acknowledged) or with the filter of the kinds used (6.6+).
Status SendListen(int fd, bool filtered) {
  const ProcInput input{PROC_CN_MCAST_LISTEN, kWhatFork | kWhatExec | kWhatUid};
  return SendRequest(fd, &input, filtered ? sizeof input : sizeof input.mcast_op);
}

void SendIgnore(int fd) {
  const uint32_t op = PROC_CN_MCAST_IGNORE;
  (void)SendRequest(fd, &op, sizeof op);
}

// Waits for the kernel's answer to the plain LISTEN: ok, the errno it refused with, or
// DeadlineExceeded when none came (a requester outside the initial namespaces is ignored, and a
// refusal is not sent while nobody listens). Cancelled when `wake_fd` (if any) becomes readable.
Status AwaitAck(int fd, std::chrono::milliseconds timeout, int wake_fd) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  const uint32_t want_ack = PortId(fd) + 1;
  std::vector<char> buf(64 * 1024);
  std::vector<ProcEvent> events;
  while (true) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return DeadlineExceededError("proc events: no answer");
    pollfd pfds[2] = {{fd, POLLIN, 0}, {wake_fd, POLLIN, 0}};
    const int ready = ::poll(pfds, wake_fd >= 0 ? 2 : 1, static_cast<int>(left.count()));
    if (ready < 0 && errno == EINTR) continue;
    if (ready < 0) return ErrnoError("proc events: poll", errno);
    if (ready == 0) continue;
    if (wake_fd >= 0 && pfds[1].revents != 0) return CancelledError("proc events: stopping");
    sockaddr_nl sender{};
    socklen_t sender_len = sizeof sender;
    const ssize_t n = ::recvfrom(fd, buf.data(), buf.size(), MSG_DONTWAIT,
                                 reinterpret_cast<sockaddr*>(&sender), &sender_len);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN || errno == ENOBUFS) continue;
      return ErrnoError("proc events: recv", errno);
    }
    if (sender.nl_pid != 0) continue;  // only the kernel answers
    events.clear();
    (void)ParseProcEvents(std::string_view(buf.data(), static_cast<size_t>(n)), &events);
    for (const ProcEvent& e : events) {
      if (e.kind != ProcEvent::Kind::kAck || e.ack != want_ack) continue;
      if (e.ack_err == 0) return OkStatus();
      return Status(e.ack_err == EPERM ? StatusCode::kPermissionDenied : StatusCode::kUnavailable,
                    std::string("proc events: the kernel refused the subscription: ") +
                        std::strerror(static_cast<int>(e.ack_err)) +
                        (e.ack_err == EPERM ? " (needs CAP_NET_ADMIN)" : ""));
    }
  }
}

// Opens the socket and subscribes: the plain request is acknowledged (permission and namespace
// checked); then the filtered one narrows the events to the three kinds used. The kernel filters
// its own acknowledgements too, so that one gets no answer; a kernel before 6.6 ignores it and
// sends every kind.
Result<int> Subscribe(const ProcEventTrackerOptions& options, int wake_fd) {
  const int fd = ::socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_CONNECTOR);
  if (fd < 0) {
    const int err = errno;
    return Status(StatusCode::kUnavailable,
                  std::string("proc events: socket(NETLINK_CONNECTOR): ") + std::strerror(err) +
                      (err == EPROTONOSUPPORT ? " (kernel built without the connector)" : ""));
  }
  int size = options.receive_buffer_bytes;
  if (::setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size) != 0) {
    (void)::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
  }
  sockaddr_nl addr{};
  addr.nl_family = AF_NETLINK;
  addr.nl_groups = CN_IDX_PROC;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    const int err = errno;
    ::close(fd);
    return Status(err == EPERM ? StatusCode::kPermissionDenied : StatusCode::kUnavailable,
                  std::string("proc events: bind to the proc connector group: ") +
                      std::strerror(err) + (err == EPERM ? " (needs CAP_NET_ADMIN)" : ""));
  }
  Status subscribed = SendListen(fd, /*filtered=*/false);
  if (subscribed.ok()) subscribed = AwaitAck(fd, options.subscribe_timeout, wake_fd);
  if (subscribed.code() == StatusCode::kDeadlineExceeded) {
    subscribed = UnavailableError(
        "proc events: the kernel did not answer the subscription (it needs CAP_NET_ADMIN in the "
        "initial user namespace and an agent in the initial pid namespace; in a container there "
        "are no process events)");
  }
  if (subscribed.ok()) subscribed = SendListen(fd, /*filtered=*/true);
  if (!subscribed.ok()) {
    SendIgnore(fd);
    ::close(fd);
    return subscribed;
  }
  return fd;
}

void Unsubscribe(int fd) {
  SendIgnore(fd);
  ::close(fd);
}

}  // namespace

Result<std::unique_ptr<ProcEventTracker>> ProcEventTracker::Start(ProcessAttributor* attributor,
                                                                  ProcEventTrackerOptions options) {
  if (attributor == nullptr) return InvalidArgumentError("proc events: no attributor");
  CUSTOS_ASSIGN_OR_RETURN(const int fd, Subscribe(options, /*wake_fd=*/-1));
  const int wake_fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wake_fd < 0) {
    Status s = ErrnoError("proc events: eventfd", errno);
    Unsubscribe(fd);
    return s;
  }
  std::unique_ptr<ProcEventTracker> tracker(new ProcEventTracker(attributor, options, fd, wake_fd));
  attributor->SetTracking(true);
  attributor->SetEventSync([t = tracker.get()] { t->Sync(); });
  tracker->running_ = true;
  tracker->thread_ = std::thread([t = tracker.get()] {
    pthread_setname_np(pthread_self(), "proc-events");
    t->Loop();
  });
  return tracker;
}

ProcEventTracker::ProcEventTracker(ProcessAttributor* attributor, ProcEventTrackerOptions options,
                                   int fd, int wake_fd)
    : attributor_(attributor), options_(options), wake_fd_(wake_fd), fd_(fd) {}

ProcEventTracker::~ProcEventTracker() {
  Stop();
  if (fd_ >= 0) Unsubscribe(fd_);
  ::close(wake_fd_);
}

void ProcEventTracker::Stop() {
  if (stopped_.exchange(true)) return;
  attributor_->SetEventSync(nullptr);  // waits for a Sync in progress
  Wake();
  if (thread_.joinable()) thread_.join();
  attributor_->SetTracking(false);
  if (fd_ >= 0) {
    Unsubscribe(fd_);
    fd_ = -1;
  }
  running_ = false;
}

ProcEventTracker::Stats ProcEventTracker::stats() const {
  Stats s;
  s.execs = execs_.load();
  s.forks = forks_.load();
  s.gaps = gaps_.load();
  s.malformed = malformed_.load();
  s.pauses = pauses_.load();
  s.paused = paused_.load();
  s.running = running_.load();
  return s;
}

void ProcEventTracker::Apply(const ProcEvent& e) {
  switch (e.kind) {
    case ProcEvent::Kind::kFork:
      if (!e.IsProcess()) return;  // a new thread
      ++forks_;
      attributor_->OnFork(e.pid, e.parent);
      return;
    case ProcEvent::Kind::kExec:
    case ProcEvent::Kind::kUid:
      ++execs_;
      attributor_->OnExec(e.pid);
      return;
    case ProcEvent::Kind::kExit:  // sent by kernels before 6.6 only: not needed
    case ProcEvent::Kind::kAck:
    case ProcEvent::Kind::kOther:
      return;
  }
}

void ProcEventTracker::Wake() {
  const uint64_t one = 1;
  (void)!::write(wake_fd_, &one, sizeof one);
}

void ProcEventTracker::Sync() {
  // Only what the kernel sent before now can have caused the file events already read: a
  // caller never drains a backlog that keeps growing.
  const auto until = static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                               std::chrono::steady_clock::now().time_since_epoch())
                                               .count());
  std::lock_guard<std::mutex> lock(drain_mu_);
  if (fd_ < 0 || stopped_.load() || failed_.load() || storm_.load()) return;
  Drain(until);
}

// Drains the socket under drain_mu_, applying events in the kernel's order, until it is empty or
// an event sent after `until_ns` was applied. On a fatal error or an exec storm tracking is off at
// once (nothing stale is served while the thread catches up) and the thread is flagged (failed_,
// storm_) and woken.
void ProcEventTracker::Drain(uint64_t until_ns) {
  bool gap = false;
  bool past = false;
  while (!stopped_.load() && !past) {
    sockaddr_nl sender{};
    socklen_t sender_len = sizeof sender;
    const ssize_t n = ::recvfrom(fd_, buf_.data(), buf_.size(), MSG_DONTWAIT | MSG_TRUNC,
                                 reinterpret_cast<sockaddr*>(&sender), &sender_len);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      if (errno == ENOBUFS) {
        // Events were lost: no cached entry is known to be current any more. What is still
        // queued is older than the loss; once it is applied the gap is declared again.
        ++gaps_;
        gap = true;
        attributor_->OnTrackingGap();
        if (gaps_.load() == 1) {
          logging::Warn("proc events: socket overflowed; cached process facts re-checked");
        }
        continue;
      }
      logging::Error("proc events: stopped reading; attribution re-checks /proc per event",
                     {{"error", std::strerror(errno)}});
      attributor_->SetTracking(false);
      failed_ = true;
      Wake();
      break;
    }
    if (sender.nl_pid != 0) {
      ++malformed_;  // not the kernel: ignored
      continue;
    }
    const auto len = static_cast<size_t>(n);
    events_.clear();
    Status parsed =
        ParseProcEvents(std::string_view(buf_.data(), std::min(len, buf_.size())), &events_);
    if (len > buf_.size() && parsed.ok()) parsed = Malformed("datagram larger than 64 KiB");
    const auto now = std::chrono::steady_clock::now();
    if (now - window_start_ >= std::chrono::seconds(1)) {
      window_start_ = now;
      window_events_ = 0;
    }
    window_events_ += static_cast<uint32_t>(events_.size());
    for (const ProcEvent& e : events_) {
      Apply(e);
      past = past || e.time_ns > until_ns;
    }
    if (!parsed.ok()) {
      // What did not parse may have been an exec: treat it as lost events.
      ++malformed_;
      ++gaps_;
      gap = true;
    }
    if (options_.pause_above_events_per_second != 0 &&
        window_events_ > options_.pause_above_events_per_second) {
      attributor_->SetTracking(false);
      storm_ = true;
      Wake();
      break;
    }
  }
  if (gap) attributor_->OnTrackingGap();
}

void ProcEventTracker::Loop() {
  while (!stopped_.load() && !failed_.load()) {
    pollfd pfds[2] = {{fd_, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
    const int ready = ::poll(pfds, 2, -1);
    if (ready < 0) {
      if (errno == EINTR) continue;
      logging::Error("proc events: poll failed; attribution re-checks /proc per event",
                     {{"error", std::strerror(errno)}});
      failed_ = true;
      break;
    }
    if (pfds[1].revents != 0) {
      uint64_t count;
      (void)!::read(wake_fd_, &count, sizeof count);
    }
    if (stopped_.load() || failed_.load()) break;
    if (pfds[0].revents != 0) {
      std::lock_guard<std::mutex> lock(drain_mu_);
      if (!storm_.load()) Drain(std::numeric_limits<uint64_t>::max());
    }
    if (!storm_.load()) continue;
    // An exec storm (a build, a script looping over small commands): reading every process
    // costs more than it saves. Off for a while; meanwhile attribution checks /proc per event.
    attributor_->SetTracking(false);
    {
      std::lock_guard<std::mutex> lock(drain_mu_);
      Unsubscribe(fd_);
      fd_ = -1;
      storm_ = false;  // no drainer can set it again until the socket is back
    }
    ++pauses_;
    paused_ = true;
    logging::Info("proc events: paused during an exec storm",
                  {{"events_per_second_above", options_.pause_above_events_per_second},
                   {"resume_in_s",
                    std::chrono::duration_cast<std::chrono::seconds>(options_.pause_for).count()}});
    const auto resume_at = std::chrono::steady_clock::now() + options_.pause_for;
    while (!stopped_.load()) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          resume_at - std::chrono::steady_clock::now());
      if (left.count() <= 0) break;
      pollfd wake{wake_fd_, POLLIN, 0};
      const int woke = ::poll(&wake, 1, static_cast<int>(left.count()));
      if (woke > 0) {
        uint64_t count;
        (void)!::read(wake_fd_, &count, sizeof count);
      }
    }
    if (stopped_.load()) break;
    uint64_t count;
    (void)!::read(wake_fd_, &count, sizeof count);  // a wake left from the storm is not Stop()
    auto fd = Subscribe(options_, wake_fd_);
    if (!fd.ok()) {
      if (stopped_.load()) break;
      logging::Error("proc events: could not resubscribe; attribution re-checks /proc per event",
                     {{"error", fd.status().ToString()}});
      failed_ = true;
      break;
    }
    {
      std::lock_guard<std::mutex> lock(drain_mu_);
      fd_ = *fd;
      window_start_ = std::chrono::steady_clock::now();
      window_events_ = 0;
    }
    paused_ = false;
    attributor_->SetTracking(true);
  }
  if (!stopped_.load()) attributor_->SetTracking(false);
  running_ = false;
}

}  // namespace custos::agent::pipeline
