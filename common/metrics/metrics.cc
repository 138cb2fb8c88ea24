#include "common/metrics/metrics.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <chrono>
#include <cmath>
#include <exception>
#include <limits>
#include <optional>
#include <thread>
#include <utility>

#include "common/net/asio.h"

namespace custos::metrics {
namespace {

enum class Type { kCounter, kGauge, kHistogram };

std::string_view TypeName(Type type) {
  switch (type) {
    case Type::kCounter:
      return "counter";
    case Type::kGauge:
      return "gauge";
    case Type::kHistogram:
      return "histogram";
  }
  return "untyped";
}

bool IsValidMetricName(std::string_view name) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
    if (!alpha && !(i > 0 && c >= '0' && c <= '9')) return false;
  }
  return true;
}

bool IsValidLabelName(std::string_view name) {
  if (name.empty() || name.substr(0, 2) == "__") return false;
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
    if (!alpha && !(i > 0 && c >= '0' && c <= '9')) return false;
  }
  return true;
}

// Prometheus float syntax: shortest round-trip decimal, "+Inf", "-Inf", "NaN".
std::string FormatDouble(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[64];
  const auto [ptr, ec] = std::to_chars(buf, buf + sizeof(buf), v);
  if (ec != std::errc()) return "NaN";
  return std::string(buf, ptr);
}

void AppendEscapedHelp(std::string& out, std::string_view help) {
  for (const char c : help) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
}

void AppendEscapedLabelValue(std::string& out, std::string_view value) {
  for (const char c : value) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
}

// `{a="1",b="2"}` (with `le` last when given), or nothing for no labels.
void AppendLabels(std::string& out, const Labels& labels, const std::string* le = nullptr) {
  if (labels.empty() && le == nullptr) return;
  out += '{';
  bool first = true;
  for (const auto& [name, value] : labels) {
    if (!first) out += ',';
    first = false;
    out += name;
    out += "=\"";
    AppendEscapedLabelValue(out, value);
    out += '"';
  }
  if (le != nullptr) {
    if (!first) out += ',';
    out += "le=\"";
    out += *le;
    out += '"';
  }
  out += '}';
}

void AppendSample(std::string& out, std::string_view name, const Labels& labels,
                  std::string_view value, const std::string* le = nullptr) {
  out += name;
  AppendLabels(out, labels, le);
  out += ' ';
  out += value;
  out += '\n';
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Histogram

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)),
      buckets_(std::make_unique<std::atomic<uint64_t>[]>(bounds_.size() + 1)) {
  for (size_t i = 0; i < bounds_.size(); ++i) {
    CUSTOS_CHECK(std::isfinite(bounds_[i])) << "histogram bounds must be finite (+Inf is implicit)";
    CUSTOS_CHECK(i == 0 || bounds_[i - 1] < bounds_[i]) << "histogram bounds must increase";
  }
}

void Histogram::Observe(double v) {
  // Buckets are "less or equal" (le); NaN lands in +Inf and stays out of the sum.
  size_t index = bounds_.size();
  if (!std::isnan(v)) {
    index =
        static_cast<size_t>(std::lower_bound(bounds_.begin(), bounds_.end(), v) - bounds_.begin());
    constexpr double kLimit = 9.0e18;  // within int64 micros
    const double micros = std::clamp(v * 1e6, -kLimit, kLimit);
    // Two's complement wrap-around makes unsigned addition of negative values subtract.
    sum_micros_.fetch_add(static_cast<uint64_t>(std::llround(micros)), std::memory_order_relaxed);
  }
  buckets_[index].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
}

uint64_t Histogram::count() const { return count_.load(std::memory_order_relaxed); }

double Histogram::sum() const {
  return static_cast<double>(static_cast<int64_t>(sum_micros_.load(std::memory_order_relaxed))) /
         1e6;
}

std::vector<uint64_t> Histogram::bucket_counts() const {
  std::vector<uint64_t> counts(bounds_.size() + 1);
  for (size_t i = 0; i < counts.size(); ++i) {
    counts[i] = buckets_[i].load(std::memory_order_relaxed);
  }
  return counts;
}

double Histogram::Quantile(double q) const {
  const std::vector<uint64_t> counts = bucket_counts();
  uint64_t total = 0;
  for (const uint64_t c : counts) total += c;
  if (total == 0 || std::isnan(q)) return std::numeric_limits<double>::quiet_NaN();
  q = std::clamp(q, 0.0, 1.0);
  const double rank = q * static_cast<double>(total);
  uint64_t below = 0;  // observations in buckets before `i`
  size_t i = 0;
  for (; i < counts.size(); ++i) {
    if (counts[i] > 0 && static_cast<double>(below + counts[i]) >= rank) break;
    below += counts[i];
  }
  if (i >= bounds_.size()) {
    return bounds_.empty() ? std::numeric_limits<double>::quiet_NaN() : bounds_.back();
  }
  const double upper = bounds_[i];
  double lower = 0;
  if (i > 0) {
    lower = bounds_[i - 1];
  } else if (upper <= 0) {
    return upper;  // no known lower edge for a non-positive first bucket
  }
  const double fraction = (rank - static_cast<double>(below)) / static_cast<double>(counts[i]);
  return lower + (upper - lower) * std::clamp(fraction, 0.0, 1.0);
}

std::vector<double> LatencyBounds() {
  return {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
          0.1,    0.25,    0.5,    1,     2.5,    5,     10,   30};
}

// ---------------------------------------------------------------------------------------------
// Registry

struct Registry::Family {
  struct Child {
    std::unique_ptr<Counter> counter;
    std::unique_ptr<Gauge> gauge;
    std::unique_ptr<Histogram> histogram;
    std::function<double()> callback;
  };

  std::string name;
  std::string help;
  Type type = Type::kCounter;
  std::vector<double> bounds;  // histograms only; the same for every child
  std::map<Labels, Child> children;

  static Family& Get(std::map<std::string, std::unique_ptr<Family>, std::less<>>& families,
                     std::string_view name, std::string_view help, Type type,
                     const Labels& labels) {
    CUSTOS_CHECK(IsValidMetricName(name)) << "invalid metric name '" << name << "'";
    for (const auto& [label, value] : labels) {
      CUSTOS_CHECK(IsValidLabelName(label))
          << "metric '" << name << "': invalid label name '" << label << "'";
      CUSTOS_CHECK(type != Type::kHistogram || label != "le")
          << "metric '" << name << "': histograms reserve the label 'le'";
    }
    auto it = families.find(name);
    if (it == families.end()) {
      auto family = std::make_unique<Family>();
      family->name = std::string(name);
      family->help = std::string(help);
      family->type = type;
      it = families.emplace(family->name, std::move(family)).first;
    }
    Family& family = *it->second;
    CUSTOS_CHECK(family.type == type) << "metric '" << name << "' registered as both "
                                      << TypeName(family.type) << " and " << TypeName(type);
    return family;
  }

  void Render(std::string& out) const {
    out += "# HELP ";
    out += name;
    out += ' ';
    AppendEscapedHelp(out, help);
    out += "\n# TYPE ";
    out += name;
    out += ' ';
    out += TypeName(type);
    out += '\n';
    for (const auto& [labels, child] : children) {
      if (child.counter) {
        AppendSample(out, name, labels, std::to_string(child.counter->value()));
      } else if (child.gauge) {
        AppendSample(out, name, labels, std::to_string(child.gauge->value()));
      } else if (child.callback) {
        AppendSample(out, name, labels, FormatDouble(child.callback()));
      } else if (child.histogram) {
        RenderHistogram(out, labels, *child.histogram);
      }
    }
  }

  void RenderHistogram(std::string& out, const Labels& labels, const Histogram& h) const {
    // _count is derived from the buckets so that it always equals the +Inf bucket, even while
    // other threads observe.
    const std::vector<uint64_t> counts = h.bucket_counts();
    const std::string bucket_name = name + "_bucket";
    uint64_t cumulative = 0;
    for (size_t i = 0; i < counts.size(); ++i) {
      cumulative += counts[i];
      const std::string le = i < h.bounds().size() ? FormatDouble(h.bounds()[i]) : "+Inf";
      AppendSample(out, bucket_name, labels, std::to_string(cumulative), &le);
    }
    AppendSample(out, name + "_sum", labels, FormatDouble(h.sum()));
    AppendSample(out, name + "_count", labels, std::to_string(cumulative));
  }
};

Registry::Registry() = default;
Registry::~Registry() = default;

Counter* Registry::GetCounter(std::string_view name, std::string_view help, const Labels& labels) {
  std::lock_guard<std::mutex> lock(mu_);
  Family& family = Family::Get(families_, name, help, Type::kCounter, labels);
  Family::Child& child = family.children[labels];
  if (!child.counter) child.counter = std::make_unique<Counter>();
  return child.counter.get();
}

Gauge* Registry::GetGauge(std::string_view name, std::string_view help, const Labels& labels) {
  std::lock_guard<std::mutex> lock(mu_);
  Family& family = Family::Get(families_, name, help, Type::kGauge, labels);
  Family::Child& child = family.children[labels];
  CUSTOS_CHECK(!child.callback) << "metric '" << name << "' is already a callback gauge";
  if (!child.gauge) child.gauge = std::make_unique<Gauge>();
  return child.gauge.get();
}

Histogram* Registry::GetHistogram(std::string_view name, std::string_view help,
                                  const std::vector<double>& bounds, const Labels& labels) {
  std::lock_guard<std::mutex> lock(mu_);
  Family& family = Family::Get(families_, name, help, Type::kHistogram, labels);
  if (family.children.empty()) family.bounds = bounds;
  CUSTOS_CHECK(family.bounds == bounds)
      << "histogram '" << name << "' requested with different bucket bounds";
  Family::Child& child = family.children[labels];
  if (!child.histogram) child.histogram = std::make_unique<Histogram>(bounds);
  return child.histogram.get();
}

void Registry::AddCallbackGauge(std::string_view name, std::string_view help,
                                std::function<double()> fn, const Labels& labels) {
  CUSTOS_CHECK(fn != nullptr) << "callback gauge '" << name << "' without a function";
  std::lock_guard<std::mutex> lock(mu_);
  Family& family = Family::Get(families_, name, help, Type::kGauge, labels);
  Family::Child& child = family.children[labels];
  CUSTOS_CHECK(!child.gauge) << "metric '" << name << "' is already a plain gauge";
  child.callback = std::move(fn);  // re-adding replaces the function
}

std::string Registry::RenderPrometheus() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::string out;
  for (const auto& [name, family] : families_) family->Render(out);
  return out;
}

// ---------------------------------------------------------------------------------------------
// MetricsHttpServer

namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using boost::system::error_code;

constexpr size_t kMaxRequestHeadBytes = 8 * 1024;
constexpr std::chrono::seconds kConnectionTimeout{5};
// Past this many open connections new ones are closed at once; scrapers need one or two.
constexpr size_t kMaxConnections = 32;
constexpr size_t kMaxDrainBytes = 64 * 1024;

std::string HttpResponse(std::string_view status, std::string_view content_type,
                         std::string_view body, std::string_view extra_headers = {}) {
  std::string out = "HTTP/1.1 ";
  out += status;
  out += "\r\nContent-Type: ";
  out += content_type;
  out += "\r\nContent-Length: ";
  out += std::to_string(body.size());
  out += "\r\n";
  out += extra_headers;
  out += "Connection: close\r\n\r\n";
  out += body;
  return out;
}

std::string ErrorResponse(std::string_view status, std::string_view extra_headers = {}) {
  std::string body(status);
  body += '\n';
  return HttpResponse(status, "text/plain; charset=utf-8", body, extra_headers);
}

// One request per connection: read the head, answer, close. Lives on the server's thread only;
// kept alive by the shared_ptr in its pending handlers.
class HttpConnection : public std::enable_shared_from_this<HttpConnection> {
 public:
  HttpConnection(tcp::socket socket, const Registry* registry, size_t* open_connections)
      : socket_(std::move(socket)),
        timer_(socket_.get_executor()),
        registry_(registry),
        open_connections_(open_connections) {
    ++*open_connections_;
  }
  ~HttpConnection() { --*open_connections_; }

  void Start() {
    auto self = shared_from_this();
    timer_.expires_after(kConnectionTimeout);
    timer_.async_wait([self](const error_code& ec) {
      if (!ec) self->Close();  // too slow: drop without an answer
    });
    asio::async_read_until(
        socket_, asio::dynamic_buffer(request_, kMaxRequestHeadBytes), "\r\n\r\n",
        [self](const error_code& ec, size_t head_size) { self->OnHead(ec, head_size); });
  }

 private:
  void OnHead(const error_code& ec, size_t head_size) {
    if (ec == asio::error::not_found) {  // head larger than the cap
      Reply(ErrorResponse("400 Bad Request"));
      return;
    }
    if (ec) {
      Close();
      return;
    }
    Reply(Answer(std::string_view(request_).substr(0, head_size)));
  }

  std::string Answer(std::string_view head) const {
    const std::string_view line = head.substr(0, head.find("\r\n"));
    const size_t sp1 = line.find(' ');
    const size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
    if (sp1 == std::string_view::npos || sp2 == std::string_view::npos || sp1 == 0) {
      return ErrorResponse("400 Bad Request");
    }
    const std::string_view method = line.substr(0, sp1);
    const std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
    const std::string_view version = line.substr(sp2 + 1);
    if (target.empty() || target.front() != '/' || version.substr(0, 7) != "HTTP/1." ||
        version.size() != 8) {
      return ErrorResponse("400 Bad Request");
    }
    if (method != "GET") return ErrorResponse("405 Method Not Allowed", "Allow: GET\r\n");
    const std::string_view path = target.substr(0, target.find('?'));
    if (path != "/metrics") return ErrorResponse("404 Not Found");
    try {
      return HttpResponse("200 OK", "text/plain; version=0.0.4", registry_->RenderPrometheus());
    } catch (...) {
      // A callback gauge threw; the exception must not escape the server thread.
      return ErrorResponse("500 Internal Server Error");
    }
  }

  void Reply(std::string response) {
    response_ = std::move(response);
    auto self = shared_from_this();
    asio::async_write(socket_, asio::buffer(response_), [self](const error_code& ec, size_t) {
      if (ec) {
        self->Close();
        return;
      }
      error_code ignored;
      self->socket_.shutdown(tcp::socket::shutdown_send, ignored);
      self->Drain();
    });
  }

  // Closing with unread request bytes (an oversized head, a body) makes the kernel send RST,
  // which can destroy the response before the client reads it; so read until the client closes,
  // within the connection's deadline and a byte cap.
  void Drain() {
    auto self = shared_from_this();
    socket_.async_read_some(asio::buffer(drain_buffer_), [self](const error_code& ec, size_t n) {
      self->drained_bytes_ += n;
      if (ec || self->drained_bytes_ > kMaxDrainBytes) {
        self->Close();
        return;
      }
      self->Drain();
    });
  }

  void Close() {
    error_code ignored;
    try {
      timer_.cancel();  // no error_code overload without deprecated APIs; it cannot fail on Linux
    } catch (...) {
    }
    socket_.shutdown(tcp::socket::shutdown_both, ignored);
    socket_.close(ignored);
  }

  tcp::socket socket_;
  asio::steady_timer timer_;
  const Registry* registry_;
  size_t* open_connections_;
  std::string request_;
  std::string response_;
  std::array<char, 4096> drain_buffer_;
  size_t drained_bytes_ = 0;
};

Status SocketError(const std::string& context, const error_code& ec) {
  if (ec.category() == boost::system::system_category()) return ErrnoError(context, ec.value());
  return InternalError(context + ": " + ec.message());
}

class AsioMetricsHttpServer final : public MetricsHttpServer {
 public:
  explicit AsioMetricsHttpServer(const Registry* registry)
      : registry_(registry),
        io_(std::make_unique<asio::io_context>(1)),
        acceptor_(std::in_place, *io_),
        retry_timer_(std::in_place, *io_) {}
  ~AsioMetricsHttpServer() override { Stop(); }

  Status Listen(const std::string& host, uint16_t port) {
    error_code ec;
    tcp::endpoint endpoint;
    const asio::ip::address address = asio::ip::make_address(host, ec);
    if (!ec) {
      endpoint = tcp::endpoint(address, port);
    } else {
      tcp::resolver resolver(*io_);
      const auto results = resolver.resolve(host, std::to_string(port), ec);
      if (ec || results.empty()) {
        return InvalidArgumentError("metrics: listen address '" + host +
                                    "': " + (ec ? ec.message() : "no addresses"));
      }
      endpoint = results.begin()->endpoint();
    }
    const std::string context = "metrics: listen on " + host + ":" + std::to_string(port);
    net::OpenListener(*acceptor_, endpoint, ec);
    if (ec) return SocketError(context, ec);
    const tcp::endpoint local = acceptor_->local_endpoint(ec);
    if (ec) return SocketError(context, ec);
    port_ = local.port();
    return OkStatus();
  }

  Status Run() {
    Accept();
    try {
      thread_ = std::thread([this] { RunLoop(); });
    } catch (const std::exception& e) {
      return InternalError(std::string("metrics: start server thread: ") + e.what());
    }
    return OkStatus();
  }

  uint16_t port() const override { return port_; }

  void Stop() override {
    std::lock_guard<std::mutex> lock(stop_mu_);
    if (stopped_) return;
    stopped_ = true;
    io_->stop();
    if (thread_.joinable()) thread_.join();
    // Destroying the io_context destroys the pending handlers, closing every open connection.
    retry_timer_.reset();
    acceptor_.reset();
    io_.reset();
  }

 private:
  void RunLoop() {
    for (;;) {
      try {
        io_->run();
        return;
      } catch (...) {
        // Only allocation failure can get here (all I/O uses error_code); keep serving.
      }
    }
  }

  void Accept() {
    acceptor_->async_accept([this](const error_code& ec, tcp::socket socket) {
      if (ec == asio::error::operation_aborted || !acceptor_->is_open()) return;
      if (ec) {
        // Transient (EMFILE, ECONNABORTED): retry shortly rather than spin.
        retry_timer_->expires_after(std::chrono::milliseconds(100));
        retry_timer_->async_wait([this](const error_code& timer_ec) {
          if (!timer_ec) Accept();
        });
        return;
      }
      if (open_connections_ >= kMaxConnections) {
        error_code ignored;
        socket.close(ignored);
      } else {
        std::make_shared<HttpConnection>(std::move(socket), registry_, &open_connections_)->Start();
      }
      Accept();
    });
  }

  const Registry* registry_;
  // Declared before io_ so that it outlives the connections destroyed along with io_.
  size_t open_connections_ = 0;
  std::unique_ptr<asio::io_context> io_;
  std::optional<tcp::acceptor> acceptor_;
  std::optional<asio::steady_timer> retry_timer_;
  uint16_t port_ = 0;
  std::thread thread_;
  std::mutex stop_mu_;
  bool stopped_ = false;  // guarded by stop_mu_
};

}  // namespace

Result<std::unique_ptr<MetricsHttpServer>> MetricsHttpServer::Start(const Registry* registry,
                                                                    const std::string& host,
                                                                    uint16_t port) {
  CUSTOS_CHECK(registry != nullptr) << "metrics server without a registry";
  auto server = std::make_unique<AsioMetricsHttpServer>(registry);
  CUSTOS_RETURN_IF_ERROR(server->Listen(host, port));
  CUSTOS_RETURN_IF_ERROR(server->Run());
  return std::unique_ptr<MetricsHttpServer>(std::move(server));
}

}  // namespace custos::metrics
