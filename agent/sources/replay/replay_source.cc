#include "agent/sources/replay/replay_source.h"

#include <google/protobuf/util/json_util.h>
#include <pthread.h>

#include <fstream>

#include "common/log/log.h"
#include "common/time/clock.h"

namespace custos::agent {

namespace v1 = custos::v1;

Result<ReplayOptions::Format> ParseReplayFormat(std::string_view name) {
  if (name == "custos-jsonl") return ReplayOptions::Format::kCustosJsonl;
  if (name == "bench-ndjson") return ReplayOptions::Format::kBenchNdjson;
  return InvalidArgumentError("replay format '" + std::string(name) +
                              "': expected custos-jsonl or bench-ndjson");
}

Status ReplaySource::ParseCustosJsonLine(std::string_view line, v1::Event* event) {
  event->Clear();
  google::protobuf::util::JsonParseOptions opts;
  opts.ignore_unknown_fields = false;
  auto st = google::protobuf::util::JsonStringToMessage(
      google::protobuf::StringPiece(line.data(), line.size()), event, opts);
  if (!st.ok()) return InvalidArgumentError(std::string(st.message()));
  event->clear_agent_id();
  event->clear_stream_epoch();
  event->clear_seq();
  return OkStatus();
}

// ReplaySource::ParseBenchLine lives in bench_ndjson.cc.

Status ReplaySource::Start(EventSink* sink) {
  std::ifstream probe(options_.path);
  if (!probe) return ErrnoError("replay: open " + options_.path, errno);
  thread_ = std::thread([this, sink] {
    pthread_setname_np(pthread_self(), "replay");
    Run(sink);
  });
  return OkStatus();
}

void ReplaySource::Stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

SourceHealth ReplaySource::Health() const {
  SourceHealth h;
  h.mechanism = "replay";
  h.events = events_.load();
  h.lost = bad_lines_.load();
  std::lock_guard<std::mutex> l(mu_);
  if (!first_error_.empty()) {
    h.level = v1::HEALTH_LEVEL_DEGRADED;
    h.message = std::to_string(bad_lines_.load()) + " line(s) skipped; first: " + first_error_;
  }
  return h;
}

void ReplaySource::Run(EventSink* sink) {
  std::ifstream in(options_.path);
  std::string line;
  uint64_t line_no = 0;
  v1::Event event;
  while (!stop_ && std::getline(in, line)) {
    ++line_no;
    if (line.empty()) continue;
    Status s = options_.format == ReplayOptions::Format::kBenchNdjson
                   ? ParseBenchLine(line, &event)
                   : ParseCustosJsonLine(line, &event);
    if (!s.ok()) {
      if (bad_lines_.fetch_add(1) == 0) {
        std::lock_guard<std::mutex> l(mu_);
        first_error_ = options_.path + ":" + std::to_string(line_no) + ": " + s.message();
        logging::Warn("replay: skipping bad line", {{"where", first_error_}});
      }
      continue;
    }
    if (options_.restamp_time) event.set_time_ns(RealClock()->NowUnixNs());
    // PushWait takes `event` only when it accepts it, so a refused event is offered again.
    bool pushed = false;
    while (!pushed && !stop_) {
      pushed = sink->PushWait(std::move(event), std::chrono::milliseconds(100));
    }
    if (!pushed) break;  // stopped while the pipeline was full: not delivered, not counted
    event.Clear();  // taken (moved from, or cleared with its allocations kept for the next line)
    events_.fetch_add(1, std::memory_order_relaxed);
  }
  logging::Info(
      "replay: finished",
      {{"file", options_.path}, {"events", events_.load()}, {"skipped_lines", bad_lines_.load()}});
  finished_ = true;
}

}  // namespace custos::agent
