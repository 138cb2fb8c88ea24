// A raw custos/1 server for tests that play the collector by hand: synchronous OpenSSL on a
// blocking socket listening on 127.0.0.1 port 0. The test thread accepts one connection at a
// time, reads frames with a deadline and answers with any bytes it likes, so the other side (the
// agent's uplink) can be driven through every exchange, well-formed or not, without linking
// anything from collector/. Test-only, header only; the server-side twin of tls_client.h.
//
// Not thread-safe: one thread drives a RawServer and its sessions. Every wait has a deadline.
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

// One accepted connection. TLS is done (or failed: see handshake()) when Accept returns it.
class RawServerSession : public TlsFrameStream {
 public:
  // handshake(): ok when the server side of the TLS handshake completed (the client's
  // certificate, if any, verified against the server's CA); otherwise OpenSSL's reason.
  // What the handshake learned about the client (its certificate, ALPN, TLS version).
  const crypto::TlsPeer& peer() const { return peer_; }

  // Exactly `n` raw bytes of the stream (not through the frame decoder), e.g. to stop reading in
  // the middle of a frame. Errors as ReadFrame.
  Result<std::string> ReadBytes(size_t n,
                                std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
    if (ssl_ == nullptr || !handshake_.ok()) return UnavailableError("no TLS session");
    auto deadline = std::chrono::steady_clock::now() + timeout;
    std::string got;
    while (got.size() < n) {
      auto chunk = ReadSome(deadline, n - got.size());
      if (!chunk.ok()) return chunk.status();
      got += *chunk;
    }
    return got;
  }

  // Ok when the client ended the session within `timeout` (close_notify, EOF or reset) without
  // sending another frame; DeadlineExceeded when it stayed open, FailedPrecondition on a frame.
  Status WaitForClose(std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
    auto f = ReadFrame(timeout);
    if (f.ok()) {
      return FailedPreconditionError("got a frame of type " + std::to_string(f->type) +
                                     " instead of the end of the session");
    }
    if (f.status().code() == StatusCode::kDeadlineExceeded) {
      return DeadlineExceededError("the session stayed open");
    }
    return OkStatus();
  }

  // Sends close_notify and closes the socket.
  void Close() {
    if (ssl_ != nullptr && handshake_.ok()) (void)SSL_shutdown(ssl_);
    CloseFd();
  }
  // Drops the connection the rude way: no close_notify, and a TCP reset (SO_LINGER 0), as when a
  // collector crashes or a middlebox cuts the line.
  void Abort() {
    if (fd_ >= 0) {
      linger l{1, 0};
      ::setsockopt(fd_, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    }
    CloseFd();
  }

 private:
  friend class RawServer;
  RawServerSession() : TlsFrameStream("not accepted") {}

  void CloseFd() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

  Status Handshake(SSL_CTX* ctx, int fd, std::chrono::steady_clock::time_point deadline) {
    fd_ = fd;
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    // The handshake blocks; the socket timeouts bound it. Later reads poll() with a deadline.
    auto left = std::max<int64_t>(1, std::chrono::duration_cast<std::chrono::milliseconds>(
                                         deadline - std::chrono::steady_clock::now())
                                         .count());
    timeval tv{static_cast<time_t>(left / 1000), static_cast<suseconds_t>((left % 1000) * 1000)};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    ssl_ = SSL_new(ctx);
    if (ssl_ == nullptr) return InternalError("SSL_new: " + crypto::DrainOpenSslErrors());
    SSL_clear_mode(ssl_, SSL_MODE_AUTO_RETRY);
    SSL_set_fd(ssl_, fd_);
    if (SSL_accept(ssl_) != 1) {
      return UnavailableError("TLS handshake: " + crypto::DrainOpenSslErrors());
    }
    timeval backstop{10, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &backstop, sizeof backstop);
    ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &backstop, sizeof backstop);
    auto peer = crypto::InspectPeer(ssl_);
    if (!peer.ok()) return peer.status();
    peer_ = std::move(*peer);
    return OkStatus();
  }

  crypto::TlsPeer peer_;
};

// A listening socket on 127.0.0.1 with an ephemeral port and a TLS server context.
class RawServer {
 public:
  static Result<std::unique_ptr<RawServer>> Listen(const crypto::TlsServerOptions& options) {
    auto ctx = crypto::TlsContext::ForServer(options);
    if (!ctx.ok()) return ctx.status();
    std::unique_ptr<RawServer> s(new RawServer(std::move(*ctx)));
    s->fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s->fd_ < 0) return ErrnoError("socket", errno);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = 0;
    ::inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
    if (::bind(s->fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      return ErrnoError("bind", errno);
    }
    if (::listen(s->fd_, 16) != 0) return ErrnoError("listen", errno);
    socklen_t len = sizeof addr;
    if (::getsockname(s->fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      return ErrnoError("getsockname", errno);
    }
    s->port_ = ntohs(addr.sin_port);
    return s;
  }
  ~RawServer() {
    if (fd_ >= 0) ::close(fd_);
  }
  RawServer(const RawServer&) = delete;
  RawServer& operator=(const RawServer&) = delete;

  uint16_t port() const { return port_; }

  // The next connection, its TLS handshake done within `timeout` (see handshake() for its
  // outcome). DeadlineExceeded when nobody connected in time.
  Result<std::unique_ptr<RawServerSession>> Accept(
      std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    auto fd = AcceptTcp(deadline);
    if (!fd.ok()) return fd.status();
    std::unique_ptr<RawServerSession> session(new RawServerSession());
    session->handshake_ = session->Handshake(ctx_.native(), *fd, deadline);
    return session;
  }

  // The next TCP connection without any TLS: its descriptor, which the caller closes.
  Result<int> AcceptTcpOnly(std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
    return AcceptTcp(std::chrono::steady_clock::now() + timeout);
  }

 private:
  explicit RawServer(crypto::TlsContext ctx) : ctx_(std::move(ctx)) {}

  Result<int> AcceptTcp(std::chrono::steady_clock::time_point deadline) {
    while (true) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return DeadlineExceededError("nobody connected within the timeout");
      pollfd p{fd_, POLLIN, 0};
      int r = ::poll(&p, 1, static_cast<int>(left.count()));
      if (r < 0 && errno == EINTR) continue;
      if (r < 0) return ErrnoError("poll", errno);
      if (r == 0) return DeadlineExceededError("nobody connected within the timeout");
      int fd = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd >= 0) return fd;
      if (errno != EINTR && errno != EAGAIN && errno != ECONNABORTED) {
        return ErrnoError("accept", errno);
      }
    }
  }

  crypto::TlsContext ctx_;
  int fd_ = -1;
  uint16_t port_ = 0;
};

}  // namespace custos::testing
