#include "common/metrics/metrics.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace custos::metrics {
namespace {

TEST(MetricsTest, RendersCounterWithLabelsAndHelp) {
  Registry registry;
  registry.GetCounter("custos_frames_total", "Frames received.", {{"agent", "ab12"}})->Inc(3);
  registry.GetCounter("custos_frames_total", "Frames received.", {{"agent", "cd34"}})->Inc();
  EXPECT_EQ(registry.RenderPrometheus(),
            "# HELP custos_frames_total Frames received.\n"
            "# TYPE custos_frames_total counter\n"
            "custos_frames_total{agent=\"ab12\"} 3\n"
            "custos_frames_total{agent=\"cd34\"} 1\n");
}

TEST(MetricsTest, RendersGaugesAndCallbackGauges) {
  Registry registry;
  Gauge* sessions = registry.GetGauge("custos_sessions", "Open sessions.");
  sessions->Set(5);
  sessions->Add(-2);
  registry.AddCallbackGauge("custos_store_bytes", "Store size on disk.", [] { return 1.5e9; },
                            {{"store", "sqlite"}});
  registry.AddCallbackGauge("custos_lag_seconds", "Lag.", [] { return 0.25; });
  EXPECT_EQ(registry.RenderPrometheus(),
            "# HELP custos_lag_seconds Lag.\n"
            "# TYPE custos_lag_seconds gauge\n"
            "custos_lag_seconds 0.25\n"
            "# HELP custos_sessions Open sessions.\n"
            "# TYPE custos_sessions gauge\n"
            "custos_sessions 3\n"
            "# HELP custos_store_bytes Store size on disk.\n"
            "# TYPE custos_store_bytes gauge\n"
            "custos_store_bytes{store=\"sqlite\"} 1.5e+09\n");
}

TEST(MetricsTest, EscapesLabelValuesAndHelp) {
  Registry registry;
  registry
      .GetCounter("custos_files_total", "Files seen\nby path \\ device.",
                  {{"path", "C:\\Users\\\"bob\"\nx"}, {"a", "first"}})
      ->Inc(2);
  EXPECT_EQ(registry.RenderPrometheus(),
            "# HELP custos_files_total Files seen\\nby path \\\\ device.\n"
            "# TYPE custos_files_total counter\n"
            "custos_files_total{a=\"first\",path=\"C:\\\\Users\\\\\\\"bob\\\"\\nx\"} 2\n");
}

TEST(MetricsTest, RendersHistogramBucketsCumulatively) {
  Registry registry;
  Histogram* h =
      registry.GetHistogram("custos_rpc_seconds", "RPC latency.", {0.1, 1}, {{"method", "get"}});
  h->Observe(0.05);
  h->Observe(0.5);
  h->Observe(1);  // bounds are inclusive ("le")
  h->Observe(3);
  EXPECT_EQ(registry.RenderPrometheus(),
            "# HELP custos_rpc_seconds RPC latency.\n"
            "# TYPE custos_rpc_seconds histogram\n"
            "custos_rpc_seconds_bucket{method=\"get\",le=\"0.1\"} 1\n"
            "custos_rpc_seconds_bucket{method=\"get\",le=\"1\"} 3\n"
            "custos_rpc_seconds_bucket{method=\"get\",le=\"+Inf\"} 4\n"
            "custos_rpc_seconds_sum{method=\"get\"} 4.55\n"
            "custos_rpc_seconds_count{method=\"get\"} 4\n");
  EXPECT_EQ(h->count(), 4u);
  EXPECT_DOUBLE_EQ(h->sum(), 4.55);
  EXPECT_EQ(h->bucket_counts(), (std::vector<uint64_t>{1, 2, 1}));
}

TEST(MetricsTest, RendersHistogramWithoutLabels) {
  Registry registry;
  registry.GetHistogram("custos_batch_size", "Batch size.", {10})->Observe(-2);
  EXPECT_EQ(registry.RenderPrometheus(),
            "# HELP custos_batch_size Batch size.\n"
            "# TYPE custos_batch_size histogram\n"
            "custos_batch_size_bucket{le=\"10\"} 1\n"
            "custos_batch_size_bucket{le=\"+Inf\"} 1\n"
            "custos_batch_size_sum -2\n"
            "custos_batch_size_count 1\n");
}

TEST(MetricsTest, SortsFamiliesByNameAndSamplesByLabels) {
  Registry registry;
  registry.GetCounter("zeta_total", "z")->Inc();
  registry.GetCounter("alpha_total", "a", {{"k", "b"}})->Inc();
  registry.GetCounter("alpha_total", "a", {{"k", "a"}})->Inc();
  registry.GetGauge("mid", "m")->Set(-7);
  EXPECT_EQ(registry.RenderPrometheus(),
            "# HELP alpha_total a\n# TYPE alpha_total counter\n"
            "alpha_total{k=\"a\"} 1\nalpha_total{k=\"b\"} 1\n"
            "# HELP mid m\n# TYPE mid gauge\nmid -7\n"
            "# HELP zeta_total z\n# TYPE zeta_total counter\nzeta_total 1\n");
}

TEST(MetricsTest, ReturnsSameObjectForSameIdentity) {
  Registry registry;
  Counter* a = registry.GetCounter("c_total", "c", {{"x", "1"}});
  EXPECT_EQ(registry.GetCounter("c_total", "c", {{"x", "1"}}), a);
  EXPECT_NE(registry.GetCounter("c_total", "c", {{"x", "2"}}), a);
  Histogram* h = registry.GetHistogram("h", "h", {1, 2});
  EXPECT_EQ(registry.GetHistogram("h", "h", {1, 2}), h);
}

TEST(MetricsDeathTest, DiesWhenNameRegisteredWithTwoTypes) {
  Registry registry;
  registry.GetCounter("custos_thing", "t");
  EXPECT_DEATH(registry.GetGauge("custos_thing", "t"), "registered as both counter and gauge");
  EXPECT_DEATH(registry.GetCounter("bad name", "t"), "invalid metric name");
}

TEST(HistogramTest, EstimatesQuantileByLinearInterpolation) {
  Histogram h({1, 2, 4});
  for (int i = 0; i < 4; ++i) h.Observe(0.5);  // (0, 1]
  for (int i = 0; i < 4; ++i) h.Observe(1.5);  // (1, 2]
  for (int i = 0; i < 2; ++i) h.Observe(3);    // (2, 4]
  EXPECT_DOUBLE_EQ(h.Quantile(0.5), 1.25);     // rank 5: 1 of 4 into (1, 2]
  EXPECT_DOUBLE_EQ(h.Quantile(0.9), 3.0);      // rank 9: 1 of 2 into (2, 4]
  EXPECT_DOUBLE_EQ(h.Quantile(1.0), 4.0);
  EXPECT_DOUBLE_EQ(h.Quantile(0.2), 0.5);  // rank 2: 2 of 4 into (0, 1]
  EXPECT_DOUBLE_EQ(h.Quantile(0.0), 0.0);
}

TEST(HistogramTest, QuantileInInfBucketIsHighestBoundAndEmptyIsNaN) {
  Histogram h({1, 2});
  EXPECT_TRUE(std::isnan(h.Quantile(0.5)));
  h.Observe(100);
  EXPECT_DOUBLE_EQ(h.Quantile(0.99), 2.0);
}

TEST(HistogramTest, ProvidesLatencyBoundsFrom100MicrosecondsTo30Seconds) {
  const std::vector<double> bounds = LatencyBounds();
  ASSERT_FALSE(bounds.empty());
  EXPECT_DOUBLE_EQ(bounds.front(), 0.0001);
  EXPECT_DOUBLE_EQ(bounds.back(), 30);
  EXPECT_TRUE(std::is_sorted(bounds.begin(), bounds.end()));
}

TEST(MetricsTest, CountsConcurrentUpdatesFromManyThreads) {
  Registry registry;
  constexpr int kThreads = 4;
  constexpr int kPerThread = 100000;
  registry.GetCounter("custos_events_total", "Events.");
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&registry] {
      // Registration races with the other threads and with rendering.
      Counter* c = registry.GetCounter("custos_events_total", "Events.");
      Gauge* g = registry.GetGauge("custos_inflight", "In flight.");
      Histogram* h = registry.GetHistogram("custos_size", "Sizes.", {1, 10});
      for (int i = 0; i < kPerThread; ++i) {
        c->Inc();
        g->Add(1);
        h->Observe(i % 2 == 0 ? 0.5 : 5);
      }
    });
  }
  // Rendering concurrently with updates must be safe.
  for (int i = 0; i < 10; ++i) EXPECT_FALSE(registry.RenderPrometheus().empty());
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(registry.GetCounter("custos_events_total", "Events.")->value(),
            uint64_t{kThreads} * kPerThread);
  EXPECT_EQ(registry.GetGauge("custos_inflight", "In flight.")->value(),
            int64_t{kThreads} * kPerThread);
  Histogram* h = registry.GetHistogram("custos_size", "Sizes.", {1, 10});
  EXPECT_EQ(h->count(), uint64_t{kThreads} * kPerThread);
  EXPECT_DOUBLE_EQ(h->sum(), kThreads * kPerThread / 2 * (0.5 + 5));
}

// A plain blocking HTTP/1.1 client: sends `request` and reads until the server closes.
std::string HttpExchange(uint16_t port, const std::string& request) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return "socket failed";
  timeval timeout{10, 0};  // a hung server fails the test instead of hanging it
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return "connect failed";
  }
  for (size_t sent = 0; sent < request.size();) {
    const ssize_t n = send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) break;
    sent += static_cast<size_t>(n);
  }
  std::string response;
  char buf[4096];
  for (;;) {
    const ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    response.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  return response;
}

std::string StatusLine(const std::string& response) {
  return response.substr(0, response.find("\r\n"));
}

class MetricsHttpServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    registry_.GetCounter("custos_frames_total", "Frames received.")->Inc(7);
    Result<std::unique_ptr<MetricsHttpServer>> server =
        MetricsHttpServer::Start(&registry_, "127.0.0.1", 0);
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    server_ = std::move(server).value();
    ASSERT_NE(server_->port(), 0);
  }

  Registry registry_;
  std::unique_ptr<MetricsHttpServer> server_;
};

TEST_F(MetricsHttpServerTest, ServesMetricsOnGet) {
  const std::string response =
      HttpExchange(server_->port(), "GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n");
  EXPECT_EQ(StatusLine(response), "HTTP/1.1 200 OK");
  EXPECT_NE(response.find("\r\nContent-Type: text/plain; version=0.0.4\r\n"), std::string::npos)
      << response;
  EXPECT_NE(response.find("\r\nConnection: close\r\n"), std::string::npos);
  const std::string body = response.substr(response.find("\r\n\r\n") + 4);
  EXPECT_EQ(body, registry_.RenderPrometheus());
  EXPECT_NE(body.find("\ncustos_frames_total 7\n"), std::string::npos) << body;
}

TEST_F(MetricsHttpServerTest, SeesCounterUpdatesBetweenScrapes) {
  const std::string request = "GET /metrics?format=text HTTP/1.0\r\n\r\n";
  EXPECT_NE(HttpExchange(server_->port(), request).find("custos_frames_total 7\n"),
            std::string::npos);
  registry_.GetCounter("custos_frames_total", "Frames received.")->Inc(5);
  EXPECT_NE(HttpExchange(server_->port(), request).find("custos_frames_total 12\n"),
            std::string::npos);
}

TEST_F(MetricsHttpServerTest, AnswersNotFoundForOtherPaths) {
  EXPECT_EQ(StatusLine(HttpExchange(server_->port(), "GET / HTTP/1.1\r\n\r\n")),
            "HTTP/1.1 404 Not Found");
  EXPECT_EQ(StatusLine(HttpExchange(server_->port(), "GET /metricsx HTTP/1.1\r\n\r\n")),
            "HTTP/1.1 404 Not Found");
}

TEST_F(MetricsHttpServerTest, AnswersMethodNotAllowedForOtherMethods) {
  const std::string response =
      HttpExchange(server_->port(), "POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
  EXPECT_EQ(StatusLine(response), "HTTP/1.1 405 Method Not Allowed");
  EXPECT_NE(response.find("\r\nAllow: GET\r\n"), std::string::npos);
}

TEST_F(MetricsHttpServerTest, AnswersBadRequestForGarbageAndOversizedHeads) {
  EXPECT_EQ(StatusLine(HttpExchange(server_->port(), "hello\r\n\r\n")), "HTTP/1.1 400 Bad Request");
  EXPECT_EQ(StatusLine(HttpExchange(server_->port(), "GET /metrics SPDY/9\r\n\r\n")),
            "HTTP/1.1 400 Bad Request");
  const std::string huge =
      "GET /metrics HTTP/1.1\r\nX-Padding: " + std::string(10000, 'a') + "\r\n\r\n";
  EXPECT_EQ(StatusLine(HttpExchange(server_->port(), huge)), "HTTP/1.1 400 Bad Request");
}

TEST_F(MetricsHttpServerTest, AnswersInternalErrorWhenCallbackThrows) {
  registry_.AddCallbackGauge("custos_broken", "Throws.",
                             []() -> double { throw std::runtime_error("boom"); });
  EXPECT_EQ(StatusLine(HttpExchange(server_->port(), "GET /metrics HTTP/1.1\r\n\r\n")),
            "HTTP/1.1 500 Internal Server Error");
}

TEST_F(MetricsHttpServerTest, StopIsIdempotentAndClosesTheListener) {
  const uint16_t port = server_->port();
  server_->Stop();
  server_->Stop();
  EXPECT_EQ(HttpExchange(port, "GET /metrics HTTP/1.1\r\n\r\n"), "connect failed");
  server_.reset();
}

TEST(MetricsHttpServerStartTest, ReportsPortInUse) {
  Registry registry;
  Result<std::unique_ptr<MetricsHttpServer>> first =
      MetricsHttpServer::Start(&registry, "127.0.0.1", 0);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  const uint16_t port = (*first)->port();
  const Result<std::unique_ptr<MetricsHttpServer>> second =
      MetricsHttpServer::Start(&registry, "127.0.0.1", port);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().message(),
            "metrics: listen on 127.0.0.1:" + std::to_string(port) + ": Address already in use");
}

TEST(MetricsHttpServerStartTest, RejectsUnresolvableHost) {
  Registry registry;
  const Result<std::unique_ptr<MetricsHttpServer>> server =
      MetricsHttpServer::Start(&registry, "no such host.invalid", 0);
  ASSERT_FALSE(server.ok());
  EXPECT_EQ(server.status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace custos::metrics
