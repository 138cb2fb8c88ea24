// The byte and frame I/O that the raw custos/1 test peers share (tls_client.h plays an agent,
// tls_server.h a collector): synchronous OpenSSL on a blocking socket, any bytes out, frames in
// with a deadline. Test-only, header only. Not thread-safe.
#pragma once

#include <openssl/ssl.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <string>
#include <string_view>

#include "common/crypto/crypto.h"
#include "common/status/status.h"
#include "common/wire/wire.h"
#include "custos/v1/session.pb.h"

namespace custos::testing {

class TlsFrameStream {
 public:
  ~TlsFrameStream() {
    if (ssl_ != nullptr) SSL_free(ssl_);
    if (fd_ >= 0) ::close(fd_);
  }
  TlsFrameStream(const TlsFrameStream&) = delete;
  TlsFrameStream& operator=(const TlsFrameStream&) = delete;

  // Ok when the TLS handshake completed; otherwise OpenSSL's reason.
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

 protected:
  explicit TlsFrameStream(std::string_view not_ready)
      : handshake_(UnavailableError(std::string(not_ready))) {}

  // One read of at most `max` bytes of what is there before `deadline`.
  Result<std::string> ReadSome(std::chrono::steady_clock::time_point deadline, size_t max = 16384) {
    while (true) {
      if (fd_ < 0) return UnavailableError("closed by this side");
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
      int n = SSL_read(ssl_, buf, static_cast<int>(std::min(max, sizeof buf)));
      if (n > 0) return std::string(buf, static_cast<size_t>(n));
      int err = SSL_get_error(ssl_, n);
      if (err == SSL_ERROR_WANT_READ) continue;  // a post-handshake message, no data yet
      return UnavailableError(err == SSL_ERROR_ZERO_RETURN
                                  ? std::string("closed with close_notify")
                                  : "session ended: " + crypto::DrainOpenSslErrors());
    }
  }

  Status handshake_;
  int fd_ = -1;
  SSL* ssl_ = nullptr;
  wire::FrameDecoder decoder_{16u << 20};
};

}  // namespace custos::testing
