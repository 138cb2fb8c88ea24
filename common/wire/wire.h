// Wire framing and compression for protocol custos/1 (spec: docs/wire-protocol.md).
//
// A frame is a 5-byte header — uint32 big-endian body length, uint8 frame type — followed by
// the body (a protobuf message from proto/custos/v1/session.proto). Both directions use the
// same framing. A receiver is configured with a maximum body size; a header that declares more
// is refused before any body byte is read or allocated.
//
// FrameDecoder is incremental (bytes in any split, frames out) and never allocates more than
// max_body_bytes for a frame. Not thread-safe; one per connection.
//
// ZstdCompressor / ZstdDecompressor keep their zstd contexts for reuse (one per thread or
// session), optionally with a dictionary. Decompress refuses a frame whose declared content size
// differs from what the caller expects or exceeds its cap (zstd bombs), and refuses frames that
// do not declare their size.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status/status.h"

namespace custos::wire {

inline constexpr size_t kFrameHeaderBytes = 5;
// Largest frame type value defined by custos/1 (FRAME_TYPE_RENEW_ACK).
inline constexpr uint8_t kMaxFrameType = 13;
inline constexpr uint32_t kDefaultMaxFrameBytes = 4u << 20;

struct FrameHeader {
  uint8_t type = 0;
  uint32_t body_bytes = 0;
};

// Validates a header: type in 1..kMaxFrameType, body_bytes <= max_body_bytes.
// Errors: InvalidArgument (unknown type), ResourceExhausted (too large).
Result<FrameHeader> ParseFrameHeader(const uint8_t header[kFrameHeaderBytes],
                                     uint32_t max_body_bytes);
void EncodeFrameHeader(uint8_t type, uint32_t body_bytes, uint8_t out[kFrameHeaderBytes]);
// Appends header + body to *out.
void AppendFrame(uint8_t type, std::string_view body, std::string* out);

struct Frame {
  uint8_t type = 0;
  std::string body;
};

class FrameDecoder {
 public:
  explicit FrameDecoder(uint32_t max_body_bytes) : max_body_bytes_(max_body_bytes) {}
  // Adds received bytes.
  void Feed(std::string_view bytes) { buffer_.append(bytes); }
  // The next complete frame, nullopt when more bytes are needed, or an error (the stream is
  // then unusable: close the connection).
  Result<std::optional<Frame>> Next();
  size_t buffered_bytes() const { return buffer_.size() - offset_; }

 private:
  uint32_t max_body_bytes_;
  std::string buffer_;
  size_t offset_ = 0;
};

class ZstdCompressor {
 public:
  // level 1..19; dictionary may be empty.
  static Result<ZstdCompressor> Create(int level, std::string_view dictionary = {});
  ZstdCompressor(ZstdCompressor&&) noexcept;
  ZstdCompressor& operator=(ZstdCompressor&&) noexcept;
  ~ZstdCompressor();
  // Replaces *out with one zstd frame that declares its content size.
  Status Compress(std::string_view input, std::string* out);

 private:
  struct Rep;
  explicit ZstdCompressor(std::unique_ptr<Rep> rep);
  std::unique_ptr<Rep> rep_;
};

class ZstdDecompressor {
 public:
  static Result<ZstdDecompressor> Create(std::string_view dictionary = {});
  ZstdDecompressor(ZstdDecompressor&&) noexcept;
  ZstdDecompressor& operator=(ZstdDecompressor&&) noexcept;
  ~ZstdDecompressor();
  // Decompresses exactly one frame of exactly expected_size bytes (<= max_size) into *out.
  // InvalidArgument for corrupt input or a size mismatch; ResourceExhausted when the declared
  // or expected size exceeds max_size.
  Status Decompress(std::string_view input, uint64_t expected_size, uint64_t max_size,
                    std::string* out);

 private:
  struct Rep;
  explicit ZstdDecompressor(std::unique_ptr<Rep> rep);
  std::unique_ptr<Rep> rep_;
};

// Trains a dictionary of at most dict_bytes from sample records (ZDICT_trainFromBuffer).
Result<std::string> TrainZstdDictionary(const std::vector<std::string>& samples, size_t dict_bytes);

}  // namespace custos::wire
