#include "common/wire/wire.h"

#include <cstring>

namespace custos::wire {

Result<FrameHeader> ParseFrameHeader(const uint8_t h[kFrameHeaderBytes], uint32_t max_body_bytes) {
  FrameHeader out;
  out.body_bytes = (uint32_t{h[0]} << 24) | (uint32_t{h[1]} << 16) | (uint32_t{h[2]} << 8) | h[3];
  out.type = h[4];
  if (out.type == 0 || out.type > kMaxFrameType) {
    return InvalidArgumentError("frame: unknown frame type " + std::to_string(out.type));
  }
  if (out.body_bytes > max_body_bytes) {
    return ResourceExhaustedError("frame: body of " + std::to_string(out.body_bytes) +
                                  " bytes exceeds the maximum of " +
                                  std::to_string(max_body_bytes));
  }
  return out;
}

void EncodeFrameHeader(uint8_t type, uint32_t n, uint8_t out[kFrameHeaderBytes]) {
  out[0] = static_cast<uint8_t>(n >> 24);
  out[1] = static_cast<uint8_t>(n >> 16);
  out[2] = static_cast<uint8_t>(n >> 8);
  out[3] = static_cast<uint8_t>(n);
  out[4] = type;
}

void AppendFrame(uint8_t type, std::string_view body, std::string* out) {
  uint8_t h[kFrameHeaderBytes];
  EncodeFrameHeader(type, static_cast<uint32_t>(body.size()), h);
  out->append(reinterpret_cast<const char*>(h), kFrameHeaderBytes);
  out->append(body);
}

Result<std::optional<Frame>> FrameDecoder::Next() {
  if (buffer_.size() - offset_ < kFrameHeaderBytes) {
    return std::optional<Frame>();
  }
  CUSTOS_ASSIGN_OR_RETURN(
      FrameHeader header,
      ParseFrameHeader(reinterpret_cast<const uint8_t*>(buffer_.data() + offset_),
                       max_body_bytes_));
  if (buffer_.size() - offset_ - kFrameHeaderBytes < header.body_bytes) {
    return std::optional<Frame>();
  }
  Frame frame;
  frame.type = header.type;
  frame.body.assign(buffer_, offset_ + kFrameHeaderBytes, header.body_bytes);
  offset_ += kFrameHeaderBytes + header.body_bytes;
  // Compact once the consumed prefix dominates, so the buffer never grows without bound.
  if (offset_ > 0 && (offset_ == buffer_.size() || offset_ > buffer_.size() / 2)) {
    buffer_.erase(0, offset_);
    offset_ = 0;
  }
  return std::optional<Frame>(std::move(frame));
}

}  // namespace custos::wire
