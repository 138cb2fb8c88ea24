#include "agent/pipeline/spool_writer.h"

#include <pthread.h>
#include <vector>

#include "common/events/event_type.h"
#include "common/log/log.h"

namespace custos::agent::pipeline {

namespace v1 = custos::v1;

SpoolWriter::SpoolWriter(spool::Spool* spool, SpoolWriterOptions options, Clock* clock,
                         std::function<void()> on_durable)
    : spool_(spool),
      options_(std::move(options)),
      clock_(clock),
      on_durable_(std::move(on_durable)) {}

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

bool SpoolWriter::Push(v1::Event&& event) {
  std::lock_guard<std::mutex> l(mu_);
  if (ring_.size() >= options_.ring_capacity || stopping_) {
    if (dropped_since_report_++ == 0) first_drop_ns_ = clock_->NowUnixNs();
    dropped_.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  ring_.push_back(std::move(event));
  accepted_.fetch_add(1, std::memory_order_relaxed);
  if (ring_.size() == 1 || ring_.size() == options_.max_group / 8) cv_.notify_one();
  return true;
}

bool SpoolWriter::PushWait(v1::Event&& event, std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> l(mu_);
  if (!room_cv_.wait_for(l, timeout,
                         [&] { return stopping_ || ring_.size() < options_.ring_capacity; }) ||
      stopping_) {
    return false;
  }
  ring_.push_back(std::move(event));
  accepted_.fetch_add(1, std::memory_order_relaxed);
  if (ring_.size() == 1 || ring_.size() == options_.max_group / 8) cv_.notify_one();
  return true;
}

SpoolWriterStats SpoolWriter::Stats() const {
  SpoolWriterStats s;
  s.accepted = accepted_.load();
  s.dropped = dropped_.load();
  s.written = written_.load();
  s.syncs = syncs_.load();
  s.write_errors = write_errors_.load();
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

Status SpoolWriter::WriteGroup(std::deque<v1::Event>* group) {
  std::vector<std::string> payloads;
  std::vector<spool::RecordIn> records;
  payloads.reserve(group->size());
  records.reserve(group->size());
  for (auto& e : *group) {
    if (e.host().empty() && !options_.host.empty()) e.set_host(options_.host);
    payloads.push_back(e.SerializeAsString());
    records.push_back({TypeOf(e), PriorityOf(e), payloads.back()});
  }
  CUSTOS_RETURN_IF_ERROR(spool_->Append(records).status());
  CUSTOS_RETURN_IF_ERROR(spool_->Sync());
  written_.fetch_add(group->size(), std::memory_order_relaxed);
  syncs_.fetch_add(1, std::memory_order_relaxed);
  return OkStatus();
}

void SpoolWriter::Run() {
  std::deque<v1::Event> group;
  while (true) {
    uint64_t dropped = 0;
    int64_t first_drop = 0;
    bool stop = false;
    {
      std::unique_lock<std::mutex> l(mu_);
      cv_.wait(l, [&] { return stopping_ || !ring_.empty(); });
      if (!stopping_ && options_.gather_delay.count() > 0 &&
          ring_.size() < options_.max_group / 8) {
        cv_.wait_for(l, options_.gather_delay,
                     [&] { return stopping_ || ring_.size() >= options_.max_group / 8; });
      }
      stop = stopping_;
      size_t n = std::min(ring_.size(), options_.max_group);
      for (size_t i = 0; i < n; ++i) {
        group.push_back(std::move(ring_.front()));
        ring_.pop_front();
      }
      if (dropped_since_report_ > 0) {
        dropped = dropped_since_report_;
        first_drop = first_drop_ns_;
        dropped_since_report_ = 0;
      }
    }
    room_cv_.notify_all();
    if (dropped > 0) {
      v1::Event lost;
      lost.set_time_ns(clock_->NowUnixNs());
      auto* el = lost.mutable_events_lost();
      el->set_source("pipeline");
      el->set_count(dropped);
      el->set_window_start_ns(first_drop);
      el->set_window_end_ns(lost.time_ns());
      el->set_reason("capture ring full: events arrived faster than the spool could take them");
      group.push_back(std::move(lost));
    }
    if (!group.empty()) {
      Status s = WriteGroup(&group);
      if (!s.ok()) {
        // The spool refused (disk full, I/O error): these events are lost; say so loudly and
        // keep going, so the agent degrades instead of dying.
        write_errors_.fetch_add(1, std::memory_order_relaxed);
        dropped_.fetch_add(group.size(), std::memory_order_relaxed);
        logging::Error("pipeline: spool write failed; events dropped",
                       {{"events", group.size()}, {"error", s.ToString()}});
      } else if (on_durable_) {
        on_durable_();
      }
      group.clear();
    }
    if (stop) {
      std::lock_guard<std::mutex> l(mu_);
      if (ring_.empty()) return;
    }
  }
}

}  // namespace custos::agent::pipeline
