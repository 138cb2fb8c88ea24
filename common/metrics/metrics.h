// Metrics in Prometheus text exposition format (version 0.0.4), and a tiny local HTTP server
// that serves them at GET /metrics.
//
// Counters, gauges and histograms are lock-free to update (atomics) from any thread. A metric is
// identified by name plus labels; asking the registry twice for the same identity returns the
// same object. Pointers returned by the registry live as long as the registry.
// Rendering takes the registry's lock; callback gauges run on the rendering thread and must be
// thread-safe.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "common/status/status.h"

namespace custos::metrics {

using Labels = std::map<std::string, std::string>;

class Counter {
 public:
  void Inc(uint64_t n = 1) { value_.fetch_add(n, std::memory_order_relaxed); }
  uint64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> value_{0};
};

class Gauge {
 public:
  void Set(int64_t v) { value_.store(v, std::memory_order_relaxed); }
  void Add(int64_t d) { value_.fetch_add(d, std::memory_order_relaxed); }
  int64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<int64_t> value_{0};
};

// Fixed upper bounds (seconds or any unit); +Inf is implicit.
class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds);
  void Observe(double v);
  uint64_t count() const;
  double sum() const;
  // Estimated quantile (0..1) by linear interpolation inside the bucket (the first bucket starts
  // at 0); NaN without observations; the highest finite bound if it falls in +Inf.
  double Quantile(double q) const;
  const std::vector<double>& bounds() const { return bounds_; }
  std::vector<uint64_t> bucket_counts() const;  // non-cumulative, size bounds()+1

 private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> buckets_;
  std::atomic<uint64_t> count_{0};
  std::atomic<uint64_t> sum_micros_{0};  // sum * 1e6, to stay lock-free
};

// Bounds suited to latencies in seconds: 100us .. 30s.
std::vector<double> LatencyBounds();

class Registry {
 public:
  // Out of line because Family is defined in metrics.cc.
  Registry();
  ~Registry();

  Counter* GetCounter(std::string_view name, std::string_view help, const Labels& labels = {});
  Gauge* GetGauge(std::string_view name, std::string_view help, const Labels& labels = {});
  Histogram* GetHistogram(std::string_view name, std::string_view help,
                          const std::vector<double>& bounds, const Labels& labels = {});
  // A gauge computed when rendered (e.g. store size on disk).
  void AddCallbackGauge(std::string_view name, std::string_view help, std::function<double()> fn,
                        const Labels& labels = {});

  std::string RenderPrometheus() const;

 private:
  struct Family;
  mutable std::mutex mu_;
  std::map<std::string, std::unique_ptr<Family>, std::less<>> families_;
};

// Serves registry->RenderPrometheus() at GET /metrics (anything else: 404) on its own thread.
class MetricsHttpServer {
 public:
  // host is usually "127.0.0.1"; port 0 picks a free port (see port()). `registry` must outlive
  // the server. Requests: head capped at 8 KiB and 5 s per connection; GET only (else 405).
  static Result<std::unique_ptr<MetricsHttpServer>> Start(const Registry* registry,
                                                          const std::string& host, uint16_t port);
  virtual ~MetricsHttpServer() = default;
  virtual uint16_t port() const = 0;
  virtual void Stop() = 0;
};

}  // namespace custos::metrics
