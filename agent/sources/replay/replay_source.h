// ReplaySource: feeds recorded events from a file into the pipeline, for tests, scenario data and
// benchmarks. The replay twin of the live sources (STYLE.md "Seams for the world").
//
// Formats (one record per line):
//  - custos-jsonl: a custos.v1.Event in protobuf JSON (field names as in event.proto).
//  - bench-ndjson: the corpus of ../shared/bench/gen_events.py (file.*, proc.start, usb.*,
//    net.upload, security.setting_change), mapped onto Custos events so the whole pipeline can
//    be measured side by side with rsyslog and syslog-ng.
// A line that does not parse is skipped, counted and named (line number) in Health(); it never
// stops the replay. Replay waits for room in the pipeline rather than dropping (it is not a
// kernel reader). Thread: one reader thread.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "agent/sources/source.h"
#include "common/status/status.h"

namespace custos::agent {

struct ReplayOptions {
  std::string path;
  enum class Format { kCustosJsonl, kBenchNdjson } format = Format::kCustosJsonl;
  // Stamp events with the replay time instead of their recorded time.
  bool restamp_time = false;
};

Result<ReplayOptions::Format> ParseReplayFormat(std::string_view name);

class ReplaySource final : public Source {
 public:
  explicit ReplaySource(ReplayOptions options) : options_(std::move(options)) {}
  ~ReplaySource() override { Stop(); }
  std::string name() const override { return "replay"; }
  Status Start(EventSink* sink) override;
  void Stop() override;
  SourceHealth Health() const override;
  // True once every line was read and pushed (or the source was stopped).
  bool finished() const { return finished_.load(); }

  // Parsers, exposed for tests and fuzzing: one line into *event (cleared first). Thread-safe.
  // Errors are InvalidArgument.
  static Status ParseCustosJsonLine(std::string_view line, custos::v1::Event* event);
  // Errors: "not a JSON object[: <syntax error>]", "bad or missing ts", "unknown type '<type>'"
  // (printable, bounded). A member of the wrong type reads as absent ("" or 0), not as an error.
  // Never throws (ResourceExhausted if memory runs out). Implemented without a DOM in
  // bench_ndjson.cc.
  static Status ParseBenchLine(std::string_view line, custos::v1::Event* event);

 private:
  void Run(EventSink* sink);
  ReplayOptions options_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> finished_{false};
  std::atomic<uint64_t> events_{0}, bad_lines_{0};
  mutable std::mutex mu_;
  std::string first_error_;  // guarded by mu_
};

}  // namespace custos::agent
