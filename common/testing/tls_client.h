// A raw custos/1 client for tests that must misbehave at byte level: synchronous OpenSSL over a
// blocking socket to 127.0.0.1, any bytes out, frames in with a deadline. Test-only (header
// only, linked by the ingest tests and the cross-process hostile-peer tests).
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <memory>
#include <string>
#include <string_view>

#include "common/crypto/crypto.h"
#include "common/status/status.h"
#include "common/wire/wire.h"
#include "custos/v1/session.pb.h"

namespace custos::testing {

// Synchronous OpenSSL over a blocking socket: sends any bytes, reads frames with a deadline.
class RawClient {
 public:
  static std::unique_ptr<RawClient> Connect(uint16_t port, const crypto::TlsClientOptions& opts) {
    std::unique_ptr<RawClient> c(new RawClient());
    c->handshake_ = c->Open(port, opts);
    return c;
  }
  ~RawClient() {
    if (ssl_ != nullptr) SSL_free(ssl_);
    if (fd_ >= 0) ::close(fd_);
  }
  RawClient(const RawClient&) = delete;
  RawClient& operator=(const RawClient&) = delete;

  // Ok when the client side of the TLS handshake completed. With TLS 1.3 that happens before
  // the server has judged the client's certificate, so a refusal may only show on first read.
  const Status& handshake() const { return handshake_; }

  bool SendBytes(std::string_view bytes) {
    if (ssl_ == nullptr || !handshake_.ok()) return false;
    while (!bytes.empty()) {
      int n =
          SSL_write(ssl_, bytes.data(), static_cast<int>(std::min<size_t>(bytes.size(), 1 << 20)));
      if (n <= 0) return false;
      bytes.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }
  bool SendFrame(custos::v1::FrameType type, std::string_view body) {
    std::string frame;
    wire::AppendFrame(static_cast<uint8_t>(type), body, &frame);
    return SendBytes(frame);
  }
  bool SendMessage(custos::v1::FrameType type, const google::protobuf::Message& m) {
    return SendFrame(type, m.SerializeAsString());
  }

  // The next frame; DeadlineExceeded when none came in time, Unavailable when the session ended.
  Result<wire::Frame> ReadFrame(std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
    if (ssl_ == nullptr || !handshake_.ok()) return UnavailableError("no TLS session");
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (true) {
      auto next = decoder_.Next();
      if (!next.ok()) return next.status();
      if (next->has_value()) return std::move(**next);
      auto chunk = ReadSome(deadline);
      if (!chunk.ok()) return chunk.status();
      decoder_.Feed(*chunk);
    }
  }

  // Raw bytes (e.g. an HTTP response on the API port): everything that arrives until `needle`
  // has been seen, the session ends or the timeout passes; an error only when nothing came.
  Result<std::string> ReadUntil(std::string_view needle,
                                std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
    if (ssl_ == nullptr || !handshake_.ok()) return UnavailableError("no TLS session");
    auto deadline = std::chrono::steady_clock::now() + timeout;
    std::string got;
    while (got.find(needle) == std::string::npos) {
      auto chunk = ReadSome(deadline);
      if (!chunk.ok()) {
        if (got.empty()) return chunk.status();
        break;
      }
      got += *chunk;
    }
    return got;
  }

  // Sends close_notify and closes the socket.
  void Close() {
    if (ssl_ != nullptr && handshake_.ok()) (void)SSL_shutdown(ssl_);
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  RawClient() = default;

  // One read of what is there before `deadline`.
  Result<std::string> ReadSome(std::chrono::steady_clock::time_point deadline) {
    while (true) {
      if (SSL_has_pending(ssl_) == 0) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) return DeadlineExceededError("nothing arrived within the timeout");
        pollfd p{fd_, POLLIN, 0};
        int r = ::poll(&p, 1, static_cast<int>(left.count()));
        if (r < 0 && errno == EINTR) continue;
        if (r == 0) return DeadlineExceededError("nothing arrived within the timeout");
      }
      char buf[16384];
      int n = SSL_read(ssl_, buf, sizeof buf);
      if (n > 0) return std::string(buf, static_cast<size_t>(n));
      int err = SSL_get_error(ssl_, n);
      if (err == SSL_ERROR_WANT_READ) continue;  // a post-handshake message, no data yet
      return UnavailableError(err == SSL_ERROR_ZERO_RETURN
                                  ? std::string("closed with close_notify")
                                  : "session ended: " + crypto::DrainOpenSslErrors());
    }
  }

  Status Open(uint16_t port, const crypto::TlsClientOptions& opts) {
    auto ctx = crypto::TlsContext::ForClient(opts);
    if (!ctx.ok()) return ctx.status();
    ctx_ = std::make_unique<crypto::TlsContext>(std::move(*ctx));
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) return ErrnoError("socket", errno);
    // A backstop only: reads use poll() with their own deadline.
    timeval tv{10, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    ::inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      return ErrnoError("connect", errno);
    }
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    ssl_ = SSL_new(ctx_->native());
    if (ssl_ == nullptr) return InternalError("SSL_new: " + crypto::DrainOpenSslErrors());
    Status s = crypto::ConfigureClientSsl(ssl_, opts.server_name);
    if (!s.ok()) return s;
    // Without auto-retry, SSL_read returns WANT_READ after a non-data record instead of
    // blocking, so every wait goes through poll() and its deadline.
    SSL_clear_mode(ssl_, SSL_MODE_AUTO_RETRY);
    SSL_set_fd(ssl_, fd_);
    if (SSL_connect(ssl_) != 1) {
      return UnavailableError("TLS handshake: " + crypto::DrainOpenSslErrors());
    }
    return OkStatus();
  }

  Status handshake_ = UnavailableError("not connected");
  std::unique_ptr<crypto::TlsContext> ctx_;
  int fd_ = -1;
  SSL* ssl_ = nullptr;
  wire::FrameDecoder decoder_{16u << 20};
};

}  // namespace custos::testing
