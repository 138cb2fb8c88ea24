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
#include "common/testing/tls_stream.h"
#include "common/wire/wire.h"
#include "custos/v1/session.pb.h"

namespace custos::testing {

// Synchronous OpenSSL over a blocking socket: sends any bytes, reads frames with a deadline.
class RawClient : public TlsFrameStream {
 public:
  static std::unique_ptr<RawClient> Connect(uint16_t port, const crypto::TlsClientOptions& opts) {
    std::unique_ptr<RawClient> c(new RawClient());
    c->handshake_ = c->Open(port, opts);
    return c;
  }
  // handshake(): ok when the client side of the TLS handshake completed. With TLS 1.3 that
  // happens before the server has judged the client's certificate, so a refusal may only show on
  // first read.

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
  RawClient() : TlsFrameStream("not connected") {}

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

  std::unique_ptr<crypto::TlsContext> ctx_;
};

}  // namespace custos::testing
