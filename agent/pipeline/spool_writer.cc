#include "agent/pipeline/spool_writer.h"

#include <pthread.h>

#include <algorithm>
#include <cstdint>
#include <string_view>
#include <vector>

#include "agent/spool/segment.h"
#include "common/events/event_type.h"
#include "common/events/truncate.h"
#include "common/log/log.h"

namespace custos::agent::pipeline {

namespace v1 = custos::v1;

SpoolWriter::SpoolWriter(spool::Spool* spool, SpoolWriterOptions options, Clock* clock,
                         std::function<void()> on_durable)
    : spool_(spool),
      options_(std::move(options)),
      clock_(clock),
      on_durable_(std::move(on_durable)) {
  const spool::SpoolStats stats = spool_->Stats();
  recovered_ = {stats.epoch, stats.next_seq - 1};
}

SpoolWriter::~SpoolWriter() { Stop(); }

void SpoolWriter::Start() {
  thread_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "spool-writer");  // top -H, perf
    Run();
  });
}

void SpoolWriter::Stop() {
  {
    std::lock_guard<std::mutex> l(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  room_cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

namespace {

// Each producer thread serialises into its own scratch string, which keeps its capacity.
std::string& Scratch() {
  thread_local std::string scratch;
  return scratch;
}

// Past this, a buffer that carried a small group gives its memory back (after a burst).
constexpr size_t kKeepBytes = 1u << 20;

}  // namespace

void SpoolWriter::Buffer::Append(std::string_view payload, uint8_t type, uint8_t priority) {
  bytes.append(payload);
  records.push_back({static_cast<uint32_t>(payload.size()), type, priority});
}

void SpoolWriter::Buffer::Reset() {
  if (bytes.capacity() > kKeepBytes && bytes.size() < bytes.capacity() / 4) {
    std::string().swap(bytes);
    std::vector<Pending>().swap(records);
    return;
  }
  bytes.clear();
  records.clear();
}

SpoolWriter::Kind SpoolWriter::Serialize(v1::Event& event, std::string* out) const {
  if (event.host().empty() && !options_.host.empty()) event.set_host(options_.host);
  if (out->capacity() > kKeepBytes) std::string().swap(*out);  // an earlier huge event's
  out->clear();
  event.AppendToString(out);
  if (out->size() > options_.max_event_bytes &&
      events::TruncateLongFields(&event, options_.max_field_bytes) > 0) {
    // Kept, shortened and flagged: the collector refuses events over its own cap.
    event.set_truncated(true);
    out->clear();
    event.AppendToString(out);
    truncated_.fetch_add(1, std::memory_order_relaxed);
  }
  if (out->size() <= std::min<size_t>(options_.max_event_bytes, spool::kMaxPayloadBytes)) {
    return {TypeOf(event), PriorityOf(event)};
  }
  // Never spoolable (e.g. a replayed line with a huge field): what is kept instead says so. The
  // event's content is not logged.
  logging::Warn("pipeline: event too large for the spool; recorded as lost",
                {{"bytes", out->size()}, {"type", static_cast<int>(TypeOf(event))}});
  const int64_t when = event.time_ns() != 0 ? event.time_ns() : clock_->NowUnixNs();
  v1::Event lost = MakeEventsLost(
      "pipeline", 1, when, when,
      "an event of " + std::to_string(out->size()) + " bytes exceeds the agent's " +
          std::to_string(std::min<size_t>(options_.max_event_bytes, spool::kMaxPayloadBytes)) +
          "-byte event limit even with its fields shortened");
  lost.set_host(event.host());
  out->clear();
  lost.AppendToString(out);
  return {TypeOf(lost), PriorityOf(lost)};
}

bool SpoolWriter::HasRoomLocked(size_t bytes) const {
  return ring_.records.size() < options_.ring_capacity &&
         (ring_.records.empty() || ring_.bytes.size() + bytes <= options_.ring_capacity_bytes);
}

void SpoolWriter::EnqueueLocked(const std::string& payload, Kind kind) {
  ring_.Append(payload, kind.type, kind.priority);
  accepted_.fetch_add(1, std::memory_order_relaxed);
  size_t n = ring_.records.size();
  if (n == 1 || n == options_.max_group / 8) cv_.notify_one();
}

bool SpoolWriter::Push(v1::Event&& event) {
  std::string& payload = Scratch();
  const Kind kind = Serialize(event, &payload);
  {
    std::lock_guard<std::mutex> l(mu_);
    if (stopping_ || !HasRoomLocked(payload.size())) {
      if (dropped_since_report_++ == 0) first_drop_ns_ = clock_->NowUnixNs();
      dropped_.fetch_add(1, std::memory_order_relaxed);
      return false;
    }
    EnqueueLocked(payload, kind);
  }
  event.Clear();
  return true;
}

bool SpoolWriter::PushWait(v1::Event&& event, std::chrono::milliseconds timeout) {
  std::string& payload = Scratch();
  const Kind kind = Serialize(event, &payload);
  {
    std::unique_lock<std::mutex> l(mu_);
    if (!room_cv_.wait_for(l, timeout,
                           [&] { return stopping_ || HasRoomLocked(payload.size()); }) ||
        stopping_) {
      return false;
    }
    EnqueueLocked(payload, kind);
  }
  event.Clear();
  return true;
}

SpoolWriterStats SpoolWriter::Stats() const {
  SpoolWriterStats s;
  s.accepted = accepted_.load();
  s.dropped = dropped_.load();
  s.written = written_.load();
  s.syncs = syncs_.load();
  s.write_errors = write_errors_.load();
  s.truncated = truncated_.load();
  return s;
}

uint8_t SpoolWriter::TypeOf(const v1::Event& e) { return static_cast<uint8_t>(events::TypeOf(e)); }

uint8_t SpoolWriter::PriorityOf(const v1::Event& e) {
  switch (e.payload_case()) {
    case v1::Event::kSetting:
    case v1::Event::kEventsLost:
    case v1::Event::kGap:
    case v1::Event::kHealth:
      return 250;
    case v1::Event::kUsb:
    case v1::Event::kNetwork:
    case v1::Event::kEvidence:
      return 200;
    case v1::Event::kFile:
      if (e.file().op() == v1::FILE_OP_COPY_TO_REMOVABLE) return 200;
      return e.file().classifications_size() > 0 ? 150 : 100;
    case v1::Event::kProcess:
      return 80;
    case v1::Event::PAYLOAD_NOT_SET:
      return 50;
  }
  return 50;
}

void SpoolWriter::WriteGroup(const Buffer& group, uint64_t mark_before, size_t accepted,
                             size_t spool_report, uint64_t spool_reported) {
  size_t offset = 0;
  for (size_t first = 0; first < group.records.size(); first += options_.max_group) {
    size_t last = std::min(group.records.size(), first + options_.max_group);
    records_.clear();
    for (size_t i = first; i < last; ++i) {
      const Pending& p = group.records[i];
      records_.push_back(
          {p.type, p.priority, std::string_view(group.bytes).substr(offset, p.size)});
      offset += p.size;
    }
    const bool has_report = spool_report >= first && spool_report < last;
    Status s = spool_->Append(records_).status();
    if (!s.ok()) {
      // Nothing of a failed append is in the spool: these events are gone, and the collector
      // hears of it with the next group the spool takes. (A failed Sync below is different:
      // the records were appended and may still become durable and be sent.)
      if (append_losses_ == 0) first_append_loss_ns_ = clock_->NowUnixNs();
      append_losses_ += std::min(last, accepted) - std::min(first, accepted);
      append_loss_error_ = s.ToString();
    } else if (has_report) {
      append_losses_ -= spool_reported;
    }
    // Appended records survive kill -9 from here on: tell the listeners before the fsync.
    if (s.ok()) NotifyLogged(mark_before + std::min(last, accepted));
    if (s.ok()) s = spool_->Sync();
    if (!s.ok()) {
      // The spool refused (disk full, I/O error): these events are lost; say so loudly and
      // keep going, so the agent degrades instead of dying.
      write_errors_.fetch_add(1, std::memory_order_relaxed);
      // Events only: the writer's own loss reports in this chunk are not events.
      dropped_.fetch_add(std::min(last, accepted) - std::min(first, accepted),
                         std::memory_order_relaxed);
      logging::Error("pipeline: spool write failed; events dropped",
                     {{"records", records_.size()}, {"error", s.ToString()}});
      continue;
    }
    written_.fetch_add(records_.size(), std::memory_order_relaxed);
    syncs_.fetch_add(1, std::memory_order_relaxed);
    // The Sync covers every record appended so far, this chunk's last included.
    NotifySynced(mark_before + std::min(last, accepted));
    if (on_durable_) on_durable_();
  }
}

void SpoolWriter::AddDurabilityListener(DurabilityListener* listener) {
  std::lock_guard<std::mutex> l(listeners_mu_);
  listeners_.push_back(listener);
}

void SpoolWriter::RemoveDurabilityListener(DurabilityListener* listener) {
  std::lock_guard<std::mutex> l(listeners_mu_);
  listeners_.erase(std::remove(listeners_.begin(), listeners_.end(), listener), listeners_.end());
}

void SpoolWriter::NotifyLogged(uint64_t mark) {
  std::lock_guard<std::mutex> l(listeners_mu_);
  if (listeners_.empty()) return;
  const spool::SpoolStats stats = spool_->Stats();
  const SinkPosition position{stats.epoch, stats.next_seq - 1};
  for (DurabilityListener* listener : listeners_) listener->OnLogged(mark, position);
}

void SpoolWriter::NotifySynced(uint64_t mark) {
  std::lock_guard<std::mutex> l(listeners_mu_);
  for (DurabilityListener* listener : listeners_) listener->OnSynced(mark);
}

void SpoolWriter::Run() {
  Buffer group;
  std::string lost_payload;
  while (true) {
    uint64_t dropped = 0;
    int64_t first_drop = 0;
    bool stop = false;
    uint64_t mark_after = 0;
    {
      std::unique_lock<std::mutex> l(mu_);
      cv_.wait(l, [&] { return stopping_ || !ring_.records.empty(); });
      if (!stopping_ && options_.gather_delay.count() > 0 &&
          ring_.records.size() < options_.max_group / 8) {
        cv_.wait_for(l, options_.gather_delay,
                     [&] { return stopping_ || ring_.records.size() >= options_.max_group / 8; });
      }
      stop = stopping_;
      mark_after = accepted_.load();
      std::swap(group, ring_);  // the ring gets the writer's empty buffer, capacity and all
      if (dropped_since_report_ > 0) {
        dropped = dropped_since_report_;
        first_drop = first_drop_ns_;
        dropped_since_report_ = 0;
      }
    }
    room_cv_.notify_all();
    const size_t accepted = group.records.size();  // the ring's: all accepted events
    if (dropped > 0) {
      v1::Event lost =
          MakeEventsLost("pipeline", dropped, first_drop, clock_->NowUnixNs(),
                         "capture ring full: events arrived faster than the spool could take them");
      const Kind kind = Serialize(lost, &lost_payload);
      group.Append(lost_payload, kind.type, kind.priority);
    }
    size_t spool_report = SIZE_MAX;
    const uint64_t spool_reported = append_losses_;
    if (append_losses_ > 0 && accepted > 0) {
      v1::Event lost =
          MakeEventsLost("pipeline", append_losses_, first_append_loss_ns_, clock_->NowUnixNs(),
                         "spool write failed: " + append_loss_error_);
      const Kind kind = Serialize(lost, &lost_payload);
      spool_report = group.records.size();
      group.Append(lost_payload, kind.type, kind.priority);
    }
    if (!group.records.empty()) {
      WriteGroup(group, mark_after - accepted, accepted, spool_report, spool_reported);
    }
    group.Reset();
    if (stop) {
      std::lock_guard<std::mutex> l(mu_);
      if (ring_.records.empty()) return;
    }
  }
}

}  // namespace custos::agent::pipeline
