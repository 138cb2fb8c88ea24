// Integration tests of the REST API's HTTPS transport: a real HttpsServer on 127.0.0.1 (port 0)
// with certificates made by common/crypto, driven by HttpsClient and by a small raw TLS client
// that can misbehave at byte level (garbage, pipelining, Expect: 100-continue, silence).
#include "collector/api/https_server.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <openssl/ssl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <future>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "collector/api/https_client.h"
#include "collector/api/router.h"
#include "common/crypto/crypto.h"
#include "common/log/log.h"
#include "common/metrics/metrics.h"
#include "common/net/asio.h"
#include "common/testing/testing.h"

namespace custos::collector::api {
namespace {

namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;
using tcp = asio::ip::tcp;
using boost::system::error_code;
using std::chrono::hours;
using std::chrono::milliseconds;

#define API_TEST_CONCAT_INNER(a, b) a##b
#define API_TEST_CONCAT(a, b) API_TEST_CONCAT_INNER(a, b)
#define ASSERT_OK(expr)                                              \
  do {                                                               \
    const ::custos::Status& api_test_status = (expr);                \
    ASSERT_TRUE(api_test_status.ok()) << api_test_status.ToString(); \
  } while (0)
#define ASSERT_OK_AND_ASSIGN(lhs, expr) \
  ASSERT_OK_AND_ASSIGN_IMPL(API_TEST_CONCAT(api_test_result_, __LINE__), lhs, expr)
#define ASSERT_OK_AND_ASSIGN_IMPL(tmp, lhs, expr)   \
  auto tmp = (expr);                                \
  ASSERT_TRUE(tmp.ok()) << tmp.status().ToString(); \
  lhs = std::move(tmp).value()

struct Pki {
  crypto::CaMaterial ca;
  crypto::IssuedCertificate server;
};

// Key generation is the slow part; one PKI serves every test.
const Pki& TestPki() {
  static const Pki* pki = [] {
    auto* p = new Pki();
    auto ca = crypto::CreateCa("Custos API Test CA", hours(24));
    CUSTOS_CHECK(ca.ok()) << ca.status().ToString();
    p->ca = *ca;
    auto server =
        crypto::IssueServerCertificate(p->ca, "localhost", {"localhost"}, {"127.0.0.1"}, hours(24));
    CUSTOS_CHECK(server.ok()) << server.status().ToString();
    p->server = *server;
    return p;
  }();
  return *pki;
}

std::string Header(const HttpResponse& response, std::string_view name) {
  for (const auto& [k, v] : response.headers) {
    if (k.size() == name.size() && std::equal(k.begin(), k.end(), name.begin(), [](char a, char b) {
          return std::tolower(static_cast<unsigned char>(a)) ==
                 std::tolower(static_cast<unsigned char>(b));
        })) {
      return v;
    }
  }
  return "<absent>";
}

// Echoes what the server understood of the request.
HttpResponse Echo(const HttpRequest& request) {
  nlohmann::json j;
  j["method"] = request.method;
  j["target"] = request.target;
  j["path"] = request.path;
  j["query"] = nlohmann::json::object();
  for (const auto& [k, v] : request.query) j["query"][k].push_back(v);
  j["body"] = request.body;
  j["authorization"] = request.authorization;
  j["content_type"] = request.content_type;
  j["remote_address"] = request.remote_address;
  HttpResponse response;
  response.body = j.dump();
  return response;
}

// A blocking TLS client that speaks raw bytes. Every read is bounded by the server's own
// timeouts in the tests that use it.
class RawTlsClient {
 public:
  RawTlsClient() : ctx_(ssl::context::tls_client), stream_(io_, ctx_) {}

  Status Connect(uint16_t port, bool handshake = true) {
    error_code ec;
    stream_.next_layer().connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port), ec);
    if (ec) return UnavailableError("connect: " + ec.message());
    if (!handshake) return OkStatus();
    ctx_.add_certificate_authority(asio::buffer(TestPki().ca.cert_pem), ec);
    if (ec) return InternalError("CA: " + ec.message());
    static const unsigned char kAlpn[] = "\x08http/1.1";
    SSL_set_alpn_protos(stream_.native_handle(), kAlpn, sizeof(kAlpn) - 1);
    stream_.set_verify_mode(ssl::verify_peer);
    stream_.handshake(ssl::stream_base::client, ec);
    if (ec) return UnavailableError("handshake: " + ec.message());
    return OkStatus();
  }

  std::string Alpn() {
    const unsigned char* data = nullptr;
    unsigned int len = 0;
    SSL_get0_alpn_selected(stream_.native_handle(), &data, &len);
    return data == nullptr ? "" : std::string(reinterpret_cast<const char*>(data), len);
  }
  std::string TlsVersion() { return SSL_get_version(stream_.native_handle()); }

  Status Write(std::string_view bytes) {
    error_code ec;
    asio::write(stream_, asio::buffer(bytes.data(), bytes.size()), ec);
    if (ec) return UnavailableError("write: " + ec.message());
    return OkStatus();
  }

  // Reads one response with a Content-Length (or none: empty body); head_only: a response to
  // HEAD, whose Content-Length announces no body.
  struct Response {
    int status = 0;
    std::string head;
    std::string body;
  };
  Result<Response> ReadResponse(bool head_only = false) {
    size_t end;
    while ((end = pending_.find("\r\n\r\n")) == std::string::npos) {
      if (!ReadMore()) return UnavailableError("read head: connection closed");
    }
    Response response;
    response.head = pending_.substr(0, end + 4);
    pending_.erase(0, end + 4);
    response.status = std::stoi(response.head.substr(9, 3));
    size_t length = 0;
    std::string lower = response.head;
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    const size_t cl = lower.find("\r\ncontent-length: ");
    if (cl != std::string::npos && !head_only) length = std::stoul(lower.substr(cl + 18));
    while (pending_.size() < length) {
      if (!ReadMore()) return UnavailableError("read body: connection closed");
    }
    response.body = pending_.substr(0, length);
    pending_.erase(0, length);
    return response;
  }

  // Blocks until the server closes the connection (EOF, with or without close_notify), discarding
  // what it sends; true once closed.
  bool ReadsClosed() {
    while (ReadMore()) {
    }
    return true;
  }

  tcp::socket& socket() { return stream_.next_layer(); }

 private:
  bool ReadMore() {
    char buf[4096];
    error_code ec;
    const size_t n = stream_.read_some(asio::buffer(buf), ec);
    pending_.append(buf, n);
    return !ec || n > 0;
  }

  asio::io_context io_;
  ssl::context ctx_;
  ssl::stream<tcp::socket> stream_;
  std::string pending_;
};

class HttpsServerTest : public ::testing::Test {
 protected:
  void Start(Handler handler, HttpsServerOptions options = {}, Admitter admitter = nullptr) {
    options.port = 0;
    options.metrics = &registry_;
    auto server = HttpsServer::Start(options, TestPki().server.cert_pem, TestPki().server.key_pem,
                                     std::move(handler), std::move(admitter));
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    server_ = std::move(server).value();
  }

  HttpsClient Client(milliseconds timeout = milliseconds(10000)) const {
    HttpsClient::Options options;
    options.host = "127.0.0.1";
    options.port = server_->port();
    options.ca_pem = TestPki().ca.cert_pem;
    options.timeout = timeout;
    return HttpsClient(options);
  }

  uint64_t Rejected(const std::string& reason) const {
    const std::string rendered = registry_.RenderPrometheus();
    const std::string key = "custos_api_connections_rejected_total{reason=\"" + reason + "\"} ";
    const size_t at = rendered.find(key);
    return at == std::string::npos ? 0 : std::stoull(rendered.substr(at + key.size()));
  }

  metrics::Registry registry_;  // outlives server_
  std::unique_ptr<HttpsServer> server_;
};

// Admits requests that carry "Authorization: Bearer good" (bodies up to max_body_bytes, from the
// path "/limit/N": N bytes); refuses the rest with 401. Counts its calls.
struct TokenAdmitter {
  std::atomic<int> calls{0};
  Admitter Get() {
    return [this](const HttpRequest& request) {
      calls.fetch_add(1);
      Admission admission;
      if (request.authorization != "Bearer good") {
        admission.refusal = JsonError(401, "unauthenticated", "no", request.request_id);
        return admission;
      }
      admission.max_body_bytes = 1u << 20;
      if (request.path.rfind("/limit/", 0) == 0) {
        admission.max_body_bytes = std::stoul(request.path.substr(7));
      }
      return admission;
    };
  }
};

// This process's resident set (VmRSS), in bytes.
size_t ResidentBytes() {
  auto status = testing::ReadFile("/proc/self/status");
  if (!status.ok()) return 0;
  const size_t at = status->find("VmRSS:");
  if (at == std::string::npos) return 0;
  return std::stoull(status->substr(at + 6)) * 1024;  // "VmRSS:   12345 kB"
}

TEST_F(HttpsServerTest, RoundTripsGetWithDecodedQuery) {
  Start(Echo);
  ASSERT_OK_AND_ASSIGN(HttpResponse response,
                       Client().Request("GET",
                                        "/api/v1/alerts/a%20b?state=open&q=two+words&"
                                        "state=closed&x=%2F%26",
                                        "", "tok-1"));
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.content_type, "application/json");
  const nlohmann::json j = nlohmann::json::parse(response.body);
  EXPECT_EQ(j["method"], "GET");
  EXPECT_EQ(j["path"], "/api/v1/alerts/a b");
  EXPECT_EQ(j["query"]["state"], nlohmann::json({"open", "closed"}));
  EXPECT_EQ(j["query"]["q"][0], "two words");
  EXPECT_EQ(j["query"]["x"][0], "/&");
  EXPECT_EQ(j["authorization"], "Bearer tok-1");
  EXPECT_EQ(j["remote_address"], "127.0.0.1");
  EXPECT_EQ(j["body"], "");
  EXPECT_EQ(Header(response, "Cache-Control"), "no-store");
  EXPECT_EQ(Header(response, "X-Content-Type-Options"), "nosniff");
  EXPECT_EQ(Header(response, "Content-Length"), std::to_string(response.body.size()));
}

TEST_F(HttpsServerTest, RoundTripsPostBody) {
  Start(Echo);
  const std::string body = R"({"status":"closed","note":"ok"})";
  ASSERT_OK_AND_ASSIGN(HttpResponse response,
                       Client().Request("POST", "/api/v1/alerts/7/status", body, "tok-2"));
  EXPECT_EQ(response.status, 200);
  const nlohmann::json j = nlohmann::json::parse(response.body);
  EXPECT_EQ(j["method"], "POST");
  EXPECT_EQ(j["body"], body);
  EXPECT_EQ(j["content_type"], "application/json");
}

TEST_F(HttpsServerTest, ServesRouterWith404And405) {
  Router router;
  router.Add("GET", "/api/v1/alerts/{id}",
             [](const Call& call) {
               HttpResponse response;
               response.body = nlohmann::json({{"id", call.param("id")}}).dump();
               return response;
             },
             {.anonymous = true});
  Start([&router](const HttpRequest& r) { return router.Dispatch(r, nullptr); });
  HttpsClient client = Client();
  ASSERT_OK_AND_ASSIGN(HttpResponse ok, client.Request("GET", "/api/v1/alerts/42/"));
  EXPECT_EQ(nlohmann::json::parse(ok.body)["id"], "42");
  ASSERT_OK_AND_ASSIGN(HttpResponse missing, client.Request("GET", "/api/v1/nope"));
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(nlohmann::json::parse(missing.body)["error"]["code"], "not_found");
  ASSERT_OK_AND_ASSIGN(HttpResponse wrong, client.Request("DELETE", "/api/v1/alerts/42"));
  EXPECT_EQ(wrong.status, 405);
  EXPECT_EQ(Header(wrong, "Allow"), "GET");
  EXPECT_EQ(Header(wrong, "Cache-Control"), "no-store");
}

TEST_F(HttpsServerTest, KeepsConnectionAliveAcrossRequestsAndPipelining) {
  std::atomic<int> calls{0};
  Start([&](const HttpRequest& request) {
    HttpResponse response;
    response.content_type = "text/plain";
    response.body = request.path + "#" + std::to_string(++calls);
    return response;
  });
  RawTlsClient raw;
  ASSERT_OK(raw.Connect(server_->port()));
  EXPECT_EQ(raw.Alpn(), "http/1.1");
  EXPECT_EQ(raw.TlsVersion(), "TLSv1.3");
  for (int i = 1; i <= 3; ++i) {
    ASSERT_OK(raw.Write("GET /r" + std::to_string(i) + " HTTP/1.1\r\nHost: x\r\n\r\n"));
    ASSERT_OK_AND_ASSIGN(RawTlsClient::Response response, raw.ReadResponse());
    EXPECT_EQ(response.status, 200);
    EXPECT_EQ(response.body, "/r" + std::to_string(i) + "#" + std::to_string(i));
  }
  // Two pipelined requests in one write are answered in order.
  ASSERT_OK(
      raw.Write("POST /p1 HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabcGET /p2 "
                "HTTP/1.1\r\nHost: x\r\n\r\n"));
  ASSERT_OK_AND_ASSIGN(RawTlsClient::Response first, raw.ReadResponse());
  ASSERT_OK_AND_ASSIGN(RawTlsClient::Response second, raw.ReadResponse());
  EXPECT_EQ(first.body, "/p1#4");
  EXPECT_EQ(second.body, "/p2#5");
  // HEAD gets the headers only (Content-Length of the would-be body), keeping the framing.
  ASSERT_OK(raw.Write("HEAD /h HTTP/1.1\r\nHost: x\r\n\r\nGET /g HTTP/1.1\r\nHost: x\r\n\r\n"));
  ASSERT_OK_AND_ASSIGN(RawTlsClient::Response head, raw.ReadResponse(/*head_only=*/true));
  EXPECT_NE(head.head.find("Content-Length: 4"), std::string::npos) << head.head;
  ASSERT_OK_AND_ASSIGN(RawTlsClient::Response after_head, raw.ReadResponse());
  EXPECT_EQ(after_head.body, "/g#7");
  // Connection: close is honoured.
  ASSERT_OK(raw.Write("GET /last HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
  ASSERT_OK_AND_ASSIGN(RawTlsClient::Response last, raw.ReadResponse());
  EXPECT_EQ(last.body, "/last#8");
  EXPECT_NE(last.head.find("Connection: close"), std::string::npos) << last.head;
  EXPECT_TRUE(raw.ReadsClosed());
}

TEST_F(HttpsServerTest, HonoursExpectContinue) {
  Start(Echo);
  RawTlsClient raw;
  ASSERT_OK(raw.Connect(server_->port()));
  ASSERT_OK(
      raw.Write("PUT /x HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n"));
  ASSERT_OK_AND_ASSIGN(RawTlsClient::Response interim, raw.ReadResponse());
  EXPECT_EQ(interim.status, 100);
  ASSERT_OK(raw.Write("hello"));
  ASSERT_OK_AND_ASSIGN(RawTlsClient::Response response, raw.ReadResponse());
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(nlohmann::json::parse(response.body)["body"], "hello");
}

TEST_F(HttpsServerTest, OversizeBodyGets413AndHandlerIsNotCalled) {
  std::atomic<int> calls{0};
  HttpsServerOptions options;
  options.max_body_bytes = 1024;
  Start(
      [&](const HttpRequest& request) {
        ++calls;
        return Echo(request);
      },
      options);
  HttpsClient client = Client();
  ASSERT_OK_AND_ASSIGN(HttpResponse ok, client.Request("POST", "/x", std::string(1024, 'a')));
  EXPECT_EQ(ok.status, 200);
  ASSERT_OK_AND_ASSIGN(HttpResponse big, client.Request("POST", "/x", std::string(4096, 'a')));
  EXPECT_EQ(big.status, 413);
  EXPECT_EQ(nlohmann::json::parse(big.body)["error"]["code"], "payload_too_large");
  EXPECT_EQ(Header(big, "Connection"), "close");
  EXPECT_EQ(calls.load(), 1);

  // Chunked: the limit applies to the decoded body as it arrives.
  RawTlsClient raw;
  ASSERT_OK(raw.Connect(server_->port()));
  ASSERT_OK(raw.Write("POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n800\r\n" +
                      std::string(0x800, 'b') + "\r\n0\r\n\r\n"));
  ASSERT_OK_AND_ASSIGN(RawTlsClient::Response chunked, raw.ReadResponse());
  EXPECT_EQ(chunked.status, 413);
  EXPECT_EQ(calls.load(), 1);
}

TEST_F(HttpsServerTest, OversizeHeaderGets431) {
  Start(Echo);
  ASSERT_OK_AND_ASSIGN(HttpResponse response,
                       Client().Request("GET", "/x", "", std::string(20000, 't')));
  EXPECT_EQ(response.status, 431);
  EXPECT_EQ(nlohmann::json::parse(response.body)["error"]["code"], "header_too_large");
}

TEST_F(HttpsServerTest, GarbageAfterHandshakeGets400ThenClose) {
  HttpsServerOptions options;
  options.idle_timeout = milliseconds(300);  // bounds how long the server drains a silent client
  Start(Echo, options);
  RawTlsClient raw;
  ASSERT_OK(raw.Connect(server_->port()));
  ASSERT_OK(raw.Write(std::string("\x01\x02\xff garbage \x7f\r\n\r\n", 17)));
  ASSERT_OK_AND_ASSIGN(RawTlsClient::Response response, raw.ReadResponse());
  EXPECT_EQ(response.status, 400);
  EXPECT_NE(response.head.find("Cache-Control: no-store"), std::string::npos);
  EXPECT_EQ(nlohmann::json::parse(response.body)["error"]["code"], "bad_request");
  EXPECT_TRUE(raw.ReadsClosed());
  // The server is still fine.
  ASSERT_OK_AND_ASSIGN(HttpResponse ok, Client().Request("GET", "/after"));
  EXPECT_EQ(ok.status, 200);
}

TEST_F(HttpsServerTest, BadTargetGets400) {
  std::atomic<int> calls{0};
  Start([&](const HttpRequest& request) {
    ++calls;
    return Echo(request);
  });
  HttpsClient client = Client();
  for (const char* target : {"/a/%2F/b", "/a/../b", "/a?x=%zz"}) {
    ASSERT_OK_AND_ASSIGN(HttpResponse response, client.Request("GET", target));
    EXPECT_EQ(response.status, 400) << target;
    EXPECT_EQ(nlohmann::json::parse(response.body)["error"]["code"], "bad_request");
  }
  EXPECT_EQ(calls.load(), 0);
}

TEST_F(HttpsServerTest, HandlerExceptionGives500AndLogsNoSecrets) {
  testing::TempDir dir;
  const std::string log_path = dir.Sub("log.txt");
  const int fd = ::open(log_path.c_str(), O_CREAT | O_WRONLY | O_TRUNC | O_CLOEXEC, 0600);
  ASSERT_GE(fd, 0);
  logging::Configure(logging::Format::kHuman, logging::Level::kDebug, "https_server_test");
  logging::SetOutputFd(fd);

  Start([](const HttpRequest& request) -> HttpResponse {
    if (request.path == "/std") throw std::runtime_error("db exploded");
    throw 42;
  });
  HttpsClient client = Client();
  ASSERT_OK_AND_ASSIGN(
      HttpResponse response,
      client.Request("POST", "/std?q=secret-query-789", "secret-body-456", "secret-token-123"));
  ASSERT_OK_AND_ASSIGN(HttpResponse other, client.Request("GET", "/other"));
  server_->Stop();
  logging::SetOutputFd(2);
  logging::Configure(logging::Format::kHuman, logging::Level::kInfo, "custos");
  ::close(fd);

  for (const HttpResponse* r : {&response, &other}) {
    EXPECT_EQ(r->status, 500);
    const nlohmann::json j = nlohmann::json::parse(r->body);
    EXPECT_EQ(j["error"]["status"], 500);
    EXPECT_EQ(j["error"]["code"], "internal");
    EXPECT_EQ(j["error"]["message"], "internal error");
  }
  ASSERT_OK_AND_ASSIGN(std::string log, testing::ReadFile(log_path));
  EXPECT_NE(log.find("api: handler failed"), std::string::npos) << log;
  EXPECT_NE(log.find("db exploded"), std::string::npos) << log;
  EXPECT_NE(log.find("api: request"), std::string::npos) << log;  // the debug line per request
  EXPECT_NE(log.find("path=/std"), std::string::npos) << log;
  EXPECT_EQ(log.find("secret-token-123"), std::string::npos) << log;
  EXPECT_EQ(log.find("secret-body-456"), std::string::npos) << log;
  EXPECT_EQ(log.find("secret-query-789"), std::string::npos) << log;
}

TEST_F(HttpsServerTest, HandlerHeadersAndBodylessStatuses) {
  Start([](const HttpRequest& request) {
    HttpResponse response;
    if (request.path == "/204") {
      response.status = 204;
      response.body = "ignored";
    } else if (request.path == "/weird") {
      response.status = 42;
    }
    response.headers = {{"X-Request-Id", "r-1"},
                        {"X-Evil", "a\r\nSet-Cookie: x=1"},
                        {"Content-Length", "999"},
                        {"Cache-Control", "public"}};
    return response;
  });
  HttpsClient client = Client();
  ASSERT_OK_AND_ASSIGN(HttpResponse normal, client.Request("GET", "/"));
  EXPECT_EQ(normal.status, 200);
  EXPECT_EQ(Header(normal, "X-Request-Id"), "r-1");
  EXPECT_EQ(Header(normal, "X-Evil"), "<absent>");
  EXPECT_EQ(Header(normal, "Set-Cookie"), "<absent>");
  EXPECT_EQ(Header(normal, "Content-Length"), "0");
  EXPECT_EQ(Header(normal, "Cache-Control"), "no-store");

  ASSERT_OK_AND_ASSIGN(HttpResponse no_content, client.Request("GET", "/204"));
  EXPECT_EQ(no_content.status, 204);
  EXPECT_EQ(no_content.body, "");
  EXPECT_EQ(Header(no_content, "Content-Length"), "<absent>");

  ASSERT_OK_AND_ASSIGN(HttpResponse weird, client.Request("GET", "/weird"));
  EXPECT_EQ(weird.status, 500);
}

TEST_F(HttpsServerTest, ClientWithAnotherCaFailsVerification) {
  Start(Echo);
  ASSERT_OK_AND_ASSIGN(crypto::CaMaterial other, crypto::CreateCa("Other CA", hours(24)));
  HttpsClient::Options options;
  options.host = "127.0.0.1";
  options.port = server_->port();
  options.ca_pem = other.cert_pem;
  const Result<HttpResponse> response = HttpsClient(options).Request("GET", "/");
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(response.status().code(), StatusCode::kPermissionDenied);
  EXPECT_NE(response.status().message().find("configured CA"), std::string::npos)
      << response.status().message();
}

TEST_F(HttpsServerTest, ClientRefusesCertificateForAnotherHost) {
  ASSERT_OK_AND_ASSIGN(crypto::IssuedCertificate cert,
                       crypto::IssueServerCertificate(TestPki().ca, "elsewhere",
                                                      {"elsewhere.example"}, {}, hours(24)));
  HttpsServerOptions options;
  options.port = 0;
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<HttpsServer> server,
                       HttpsServer::Start(options, cert.cert_pem, cert.key_pem, Echo));
  HttpsClient::Options client_options;
  client_options.host = "127.0.0.1";
  client_options.port = server->port();
  client_options.ca_pem = TestPki().ca.cert_pem;
  const Result<HttpResponse> response = HttpsClient(client_options).Request("GET", "/");
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(response.status().code(), StatusCode::kPermissionDenied);
  EXPECT_NE(response.status().message().find("not valid for '127.0.0.1'"), std::string::npos)
      << response.status().message();
}

TEST_F(HttpsServerTest, ClientReportsConnectionRefused) {
  Start(Echo);
  const uint16_t port = server_->port();
  server_->Stop();
  HttpsClient::Options options;
  options.host = "127.0.0.1";
  options.port = port;
  options.ca_pem = TestPki().ca.cert_pem;
  const Result<HttpResponse> response = HttpsClient(options).Request("GET", "/");
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(response.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(response.status().message(),
            "api: connect 127.0.0.1:" + std::to_string(port) + ": Connection refused");
}

TEST_F(HttpsServerTest, ServesConcurrentRequestsFromSeveralThreads) {
  HttpsServerOptions options;
  options.io_threads = 2;
  options.worker_threads = 3;
  std::atomic<int> calls{0};
  Start(
      [&](const HttpRequest& request) {
        ++calls;
        HttpResponse response;
        response.body = request.Query("n");
        return response;
      },
      options);
  const HttpsClient client = Client();
  constexpr int kThreads = 6;
  constexpr int kPerThread = 8;
  std::atomic<int> good{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        const std::string n = std::to_string(t * 100 + i);
        auto response = client.Request("POST", "/c?n=" + n, "body-" + n);
        if (response.ok() && response->status == 200 && response->body == n) ++good;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(good.load(), kThreads * kPerThread);
  EXPECT_EQ(calls.load(), kThreads * kPerThread);
}

TEST_F(HttpsServerTest, RefusesConnectionsBeyondTheLimit) {
  HttpsServerOptions options;
  options.max_connections = 1;
  Start(Echo, options);
  RawTlsClient first;
  ASSERT_OK(first.Connect(server_->port()));  // a finished handshake: the server counted it
  const Result<HttpResponse> refused = Client().Request("GET", "/");
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), StatusCode::kUnavailable) << refused.status().ToString();
  // The connection within the limit is unaffected.
  ASSERT_OK(first.Write("GET /still HTTP/1.1\r\nHost: x\r\n\r\n"));
  ASSERT_OK_AND_ASSIGN(RawTlsClient::Response response, first.ReadResponse());
  EXPECT_EQ(response.status, 200);
}

TEST_F(HttpsServerTest, ClosesConnectionsThatStaySilent) {
  HttpsServerOptions options;
  options.handshake_timeout = milliseconds(200);
  options.idle_timeout = milliseconds(300);
  Start(Echo, options);
  RawTlsClient no_handshake;
  ASSERT_OK(no_handshake.Connect(server_->port(), /*handshake=*/false));
  char byte;
  error_code ec;
  const size_t n = no_handshake.socket().read_some(asio::buffer(&byte, 1), ec);
  EXPECT_EQ(n, 0u);
  EXPECT_EQ(ec, asio::error::eof) << ec.message();

  RawTlsClient idle;
  ASSERT_OK(idle.Connect(server_->port()));
  EXPECT_TRUE(idle.ReadsClosed());
}

TEST_F(HttpsServerTest, StopWhileRequestInFlightDoesNotCrash) {
  std::promise<void> entered;
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  Start([&](const HttpRequest& request) {
    if (request.path == "/slow") {
      entered.set_value();
      released.wait_for(std::chrono::seconds(10));
    }
    return Echo(request);
  });
  const HttpsClient client = Client();
  std::thread requester([&] { (void)client.Request("GET", "/slow"); });
  entered.get_future().wait();
  std::thread stopper([&] { server_->Stop(); });
  release.set_value();
  stopper.join();
  requester.join();
  server_->Stop();  // idempotent
  server_.reset();
}

TEST_F(HttpsServerTest, RefusesBeforeReadingTheBodyOrSending100Continue) {
  TokenAdmitter admitter;
  std::atomic<int> handled{0};
  Start(
      [&](const HttpRequest& request) {
        handled.fetch_add(1);
        return Echo(request);
      },
      {}, admitter.Get());
  RawTlsClient raw;
  ASSERT_OK(raw.Connect(server_->port()));
  ASSERT_OK(raw.Write(
      "POST /x HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 30000000\r\n\r\n"));
  // The final answer comes first: no "100 Continue" invites the 30 MB.
  ASSERT_OK_AND_ASSIGN(RawTlsClient::Response response, raw.ReadResponse());
  EXPECT_EQ(response.status, 401);
  const nlohmann::json j = nlohmann::json::parse(response.body);
  EXPECT_EQ(j["error"]["code"], "unauthenticated");
  EXPECT_NE(response.head.find("X-Request-Id: " + j["error"]["request_id"].get<std::string>()),
            std::string::npos)
      << response.head;
  EXPECT_NE(response.head.find("Connection: close"), std::string::npos) << response.head;
  EXPECT_TRUE(raw.ReadsClosed());
  EXPECT_EQ(admitter.calls.load(), 1);
  EXPECT_EQ(handled.load(), 0);

  // Admitted: 100 Continue, then the body reaches the handler.
  RawTlsClient good;
  ASSERT_OK(good.Connect(server_->port()));
  ASSERT_OK(
      good.Write("PUT /x HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer good\r\n"
                 "Expect: 100-continue\r\nContent-Length: 5\r\n\r\n"));
  ASSERT_OK_AND_ASSIGN(RawTlsClient::Response interim, good.ReadResponse());
  EXPECT_EQ(interim.status, 100);
  ASSERT_OK(good.Write("hello"));
  ASSERT_OK_AND_ASSIGN(RawTlsClient::Response ok, good.ReadResponse());
  EXPECT_EQ(ok.status, 200);
  EXPECT_EQ(nlohmann::json::parse(ok.body)["body"], "hello");
  EXPECT_EQ(handled.load(), 1);
}

// Issue 17: 40 unauthenticated clients, each announcing 32 MiB, grew the collector by 1.2 GiB.
// Each client here announces 16 MiB and sends 2 MiB of it before reading: the server must answer
// 401 without waiting for (or keeping) any of it.
TEST_F(HttpsServerTest, UnauthenticatedClientsWithLargeBodiesDoNotGrowTheServer) {
  constexpr int kClients = 40;
  constexpr size_t kSent = 2u << 20;
  TokenAdmitter admitter;
  HttpsServerOptions options;
  options.idle_timeout = std::chrono::seconds(10);  // a server that waits for the bodies fails
  std::atomic<int> handled{0};
  Start(
      [&](const HttpRequest& request) {
        handled.fetch_add(1);
        return Echo(request);
      },
      options, admitter.Get());
  const std::string request =
      "POST /api/v1/hr/import HTTP/1.1\r\nHost: x\r\n"
      "Content-Length: " +
      std::to_string(16u << 20) + "\r\n\r\n" + std::string(kSent, 'x');
  const size_t rss_before = ResidentBytes();
  std::atomic<int> answered{0};
  std::atomic<int> unauthorized{0};
  std::promise<void> measured;
  std::shared_future<void> release = measured.get_future().share();
  std::vector<std::thread> clients;
  for (int i = 0; i < kClients; ++i) {
    clients.emplace_back([&] {
      RawTlsClient raw;
      if (raw.Connect(server_->port()).ok() && raw.Write(request).ok()) {
        auto response = raw.ReadResponse();
        if (response.ok() && response->status == 401) unauthorized.fetch_add(1);
      }
      answered.fetch_add(1);
      release.wait();  // keep the connection until the server's memory has been looked at
    });
  }
  const bool all =
      testing::WaitFor([&] { return answered.load() == kClients; }, std::chrono::seconds(30));
  const size_t rss_during = ResidentBytes();
  measured.set_value();
  for (std::thread& t : clients) t.join();
  ASSERT_TRUE(all);
  EXPECT_EQ(unauthorized.load(), kClients);
  EXPECT_EQ(admitter.calls.load(), kClients);
  EXPECT_EQ(handled.load(), 0);
  // Buffering what was sent would take kClients * kSent = 80 MiB; connections, TLS state and
  // the clients' threads take a few MiB.
  ASSERT_GT(rss_before, 0u);
  if (testing::kMemoryFiguresAreMeaningful) {
    EXPECT_LT(rss_during, rss_before + (kClients * kSent) / 3)
        << "before " << rss_before << " during " << rss_during;
  }
}

TEST_F(HttpsServerTest, AdmittedBodyLimitIsPerRequestUnderTheServerCeiling) {
  TokenAdmitter admitter;
  HttpsServerOptions options;
  options.max_body_bytes = 100;
  Start(Echo, options, admitter.Get());
  const auto post = [&](const std::string& path, const std::string& framing,
                        const std::string& body) -> int {
    RawTlsClient raw;
    if (!raw.Connect(server_->port()).ok()) return -1;
    if (!raw.Write("POST " + path + " HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer good\r\n" +
                   framing + "\r\n" + body)
             .ok()) {
      return -2;
    }
    auto response = raw.ReadResponse();
    return response.ok() ? response->status : -3;
  };
  EXPECT_EQ(post("/limit/10", "Content-Length: 10\r\n", std::string(10, 'a')), 200);
  EXPECT_EQ(post("/limit/10", "Content-Length: 11\r\n", std::string(11, 'a')), 413);
  // The route may not raise the server's ceiling.
  EXPECT_EQ(post("/limit/1000", "Content-Length: 150\r\n", std::string(150, 'a')), 413);
  EXPECT_EQ(post("/limit/10", "Transfer-Encoding: chunked\r\n", "b\r\nhello world\r\n0\r\n\r\n"),
            413);
  EXPECT_EQ(post("/limit/20", "Transfer-Encoding: chunked\r\n", "b\r\nhello world\r\n0\r\n\r\n"),
            200);
}

TEST_F(HttpsServerTest, TransferEncodingOtherThanChunkedGets400) {
  HttpsServerOptions options;
  options.idle_timeout = milliseconds(300);  // bounds the drain before each close
  std::atomic<int> handled{0};
  Start(
      [&](const HttpRequest& request) {
        handled.fetch_add(1);
        return Echo(request);
      },
      options);
  for (const std::string framing :
       {"Transfer-Encoding: gzip, chunked\r\n", "Transfer-Encoding: chunked, chunked\r\n",
        "Transfer-Encoding: identity\r\n", "Transfer-Encoding: gzip\r\n",
        "Transfer-Encoding: chunked, identity\r\n",
        "Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n"}) {
    RawTlsClient raw;
    ASSERT_OK(raw.Connect(server_->port()));
    ASSERT_OK(
        raw.Write("POST /x HTTP/1.1\r\nHost: x\r\n" + framing + "\r\n5\r\nhello\r\n0\r\n\r\n"));
    ASSERT_OK_AND_ASSIGN(RawTlsClient::Response response, raw.ReadResponse());
    EXPECT_EQ(response.status, 400) << framing;
    EXPECT_TRUE(raw.ReadsClosed()) << framing;
  }
  EXPECT_EQ(handled.load(), 0);

  RawTlsClient chunked;
  ASSERT_OK(chunked.Connect(server_->port()));
  ASSERT_OK(chunked.Write(
      "POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"));
  ASSERT_OK_AND_ASSIGN(RawTlsClient::Response ok, chunked.ReadResponse());
  EXPECT_EQ(ok.status, 200);
  EXPECT_EQ(nlohmann::json::parse(ok.body)["body"], "hello");
}

TEST_F(HttpsServerTest, RefusesConnectionsBeyondThePerAddressLimit) {
  HttpsServerOptions options;
  options.max_connections_per_address = 2;
  Start(Echo, options);
  auto first = std::make_unique<RawTlsClient>();
  RawTlsClient second;
  ASSERT_OK(first->Connect(server_->port()));  // finished handshakes: the server counted them
  ASSERT_OK(second.Connect(server_->port()));
  const Result<HttpResponse> refused = Client().Request("GET", "/");
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), StatusCode::kUnavailable) << refused.status().ToString();
  EXPECT_EQ(Rejected("per_address_limit"), 1u);
  EXPECT_EQ(Rejected("max_connections"), 0u);
  // The connections within the limit are unaffected; one closed frees a slot.
  ASSERT_OK(second.Write("GET /still HTTP/1.1\r\nHost: x\r\n\r\n"));
  ASSERT_OK_AND_ASSIGN(RawTlsClient::Response response, second.ReadResponse());
  EXPECT_EQ(response.status, 200);
  first.reset();
  EXPECT_TRUE(testing::WaitFor([&] { return Client().Request("GET", "/").ok(); },
                               std::chrono::seconds(10)));
}

TEST_F(HttpsServerTest, CountsHandshakesThatTimeOutOrFail) {
  HttpsServerOptions options;
  options.handshake_timeout = milliseconds(200);
  Start(Echo, options);
  RawTlsClient silent;
  ASSERT_OK(silent.Connect(server_->port(), /*handshake=*/false));
  char byte;
  error_code ec;
  EXPECT_EQ(silent.socket().read_some(asio::buffer(&byte, 1), ec), 0u);
  EXPECT_EQ(ec, asio::error::eof) << ec.message();
  EXPECT_TRUE(testing::WaitFor([&] { return Rejected("handshake_timeout") == 1; },
                               std::chrono::seconds(10)));

  RawTlsClient garbage;
  ASSERT_OK(garbage.Connect(server_->port(), /*handshake=*/false));
  asio::write(garbage.socket(), asio::buffer(std::string("GET / HTTP/1.1\r\n\r\n")), ec);
  EXPECT_TRUE(testing::WaitFor([&] { return Rejected("handshake_failed") == 1; },
                               std::chrono::seconds(10)));
}

TEST_F(HttpsServerTest, DefaultsCapConnectionsPerAddressAndHandshakeTime) {
  const HttpsServerOptions defaults;
  EXPECT_EQ(defaults.max_connections_per_address, 64u);
  EXPECT_LE(defaults.handshake_timeout, std::chrono::seconds(5));
}

TEST_F(HttpsServerTest, HandlerFailureCarriesTheRequestIdOfItsLogLine) {
  testing::TempDir dir;
  const std::string log_path = dir.Sub("log.txt");
  const int fd = ::open(log_path.c_str(), O_CREAT | O_WRONLY | O_TRUNC | O_CLOEXEC, 0600);
  ASSERT_GE(fd, 0);
  logging::SetOutputFd(fd);
  Start([](const HttpRequest&) -> HttpResponse { throw std::runtime_error("db exploded"); });
  auto response = Client().Request("GET", "/x");
  server_->Stop();
  logging::SetOutputFd(2);
  ::close(fd);
  ASSERT_TRUE(response.ok()) << response.status().ToString();
  EXPECT_EQ(response->status, 500);
  const std::string id = nlohmann::json::parse(response->body)["error"]["request_id"];
  EXPECT_FALSE(id.empty());
  EXPECT_EQ(Header(*response, "X-Request-Id"), id);
  EXPECT_EQ(response->body.find("exploded"), std::string::npos) << response->body;
  ASSERT_OK_AND_ASSIGN(std::string log, testing::ReadFile(log_path));
  EXPECT_NE(log.find("request_id=" + id), std::string::npos) << log;
  EXPECT_NE(log.find("db exploded"), std::string::npos) << log;
}

TEST(HttpsServerStartTest, RefusesBadMaterialAndBusyPort) {
  HttpsServerOptions options;
  options.port = 0;
  ASSERT_OK_AND_ASSIGN(crypto::KeyPair other_key, crypto::GenerateEcKey());
  auto mismatched =
      HttpsServer::Start(options, TestPki().server.cert_pem, other_key.private_key_pem, Echo);
  ASSERT_FALSE(mismatched.ok());
  EXPECT_EQ(mismatched.status().code(), StatusCode::kInvalidArgument);

  auto garbage = HttpsServer::Start(options, "not a pem", TestPki().server.key_pem, Echo);
  ASSERT_FALSE(garbage.ok());
  EXPECT_EQ(garbage.status().code(), StatusCode::kInvalidArgument);

  ASSERT_OK_AND_ASSIGN(
      std::unique_ptr<HttpsServer> first,
      HttpsServer::Start(options, TestPki().server.cert_pem, TestPki().server.key_pem, Echo));
  options.port = first->port();
  auto busy =
      HttpsServer::Start(options, TestPki().server.cert_pem, TestPki().server.key_pem, Echo);
  ASSERT_FALSE(busy.ok());
  EXPECT_EQ(busy.status().code(), StatusCode::kUnavailable) << busy.status().ToString();
}

}  // namespace
}  // namespace custos::collector::api
