#include <zdict.h>
#include <zstd.h>

#include "common/wire/wire.h"

namespace custos::wire {

struct ZstdCompressor::Rep {
  ZSTD_CCtx* cctx = nullptr;
  ZSTD_CDict* cdict = nullptr;
  int level = 1;
  ~Rep() {
    ZSTD_freeCDict(cdict);
    ZSTD_freeCCtx(cctx);
  }
};

ZstdCompressor::ZstdCompressor(std::unique_ptr<Rep> rep) : rep_(std::move(rep)) {}
ZstdCompressor::ZstdCompressor(ZstdCompressor&&) noexcept = default;
ZstdCompressor& ZstdCompressor::operator=(ZstdCompressor&&) noexcept = default;
ZstdCompressor::~ZstdCompressor() = default;

Result<ZstdCompressor> ZstdCompressor::Create(int level, std::string_view dictionary) {
  if (level < 1 || level > ZSTD_maxCLevel()) {
    return InvalidArgumentError("zstd: compression level " + std::to_string(level) +
                                " out of range 1.." + std::to_string(ZSTD_maxCLevel()));
  }
  auto rep = std::make_unique<Rep>();
  rep->level = level;
  rep->cctx = ZSTD_createCCtx();
  if (rep->cctx == nullptr) return ResourceExhaustedError("zstd: create compression context");
  if (!dictionary.empty()) {
    rep->cdict = ZSTD_createCDict(dictionary.data(), dictionary.size(), level);
    if (rep->cdict == nullptr) return InvalidArgumentError("zstd: load dictionary: invalid");
  }
  return ZstdCompressor(std::move(rep));
}

Status ZstdCompressor::Compress(std::string_view input, std::string* out) {
  out->resize(ZSTD_compressBound(input.size()));
  size_t n;
  if (rep_->cdict != nullptr) {
    n = ZSTD_compress_usingCDict(rep_->cctx, out->data(), out->size(), input.data(), input.size(),
                                 rep_->cdict);
  } else {
    n = ZSTD_compressCCtx(rep_->cctx, out->data(), out->size(), input.data(), input.size(),
                          rep_->level);
  }
  if (ZSTD_isError(n)) {
    out->clear();
    return InternalError(std::string("zstd: compress: ") + ZSTD_getErrorName(n));
  }
  out->resize(n);
  return OkStatus();
}

struct ZstdDecompressor::Rep {
  ZSTD_DCtx* dctx = nullptr;
  ZSTD_DDict* ddict = nullptr;
  ~Rep() {
    ZSTD_freeDDict(ddict);
    ZSTD_freeDCtx(dctx);
  }
};

ZstdDecompressor::ZstdDecompressor(std::unique_ptr<Rep> rep) : rep_(std::move(rep)) {}
ZstdDecompressor::ZstdDecompressor(ZstdDecompressor&&) noexcept = default;
ZstdDecompressor& ZstdDecompressor::operator=(ZstdDecompressor&&) noexcept = default;
ZstdDecompressor::~ZstdDecompressor() = default;

Result<ZstdDecompressor> ZstdDecompressor::Create(std::string_view dictionary) {
  auto rep = std::make_unique<Rep>();
  rep->dctx = ZSTD_createDCtx();
  if (rep->dctx == nullptr) return ResourceExhaustedError("zstd: create decompression context");
  if (!dictionary.empty()) {
    rep->ddict = ZSTD_createDDict(dictionary.data(), dictionary.size());
    if (rep->ddict == nullptr) return InvalidArgumentError("zstd: load dictionary: invalid");
  }
  return ZstdDecompressor(std::move(rep));
}

Status ZstdDecompressor::Decompress(std::string_view input, uint64_t expected_size,
                                    uint64_t max_size, std::string* out) {
  if (expected_size > max_size) {
    return ResourceExhaustedError("zstd: declared size " + std::to_string(expected_size) +
                                  " exceeds the maximum of " + std::to_string(max_size));
  }
  unsigned long long declared = ZSTD_getFrameContentSize(input.data(), input.size());
  if (declared == ZSTD_CONTENTSIZE_ERROR) return InvalidArgumentError("zstd: not a zstd frame");
  if (declared == ZSTD_CONTENTSIZE_UNKNOWN) {
    return InvalidArgumentError("zstd: frame does not declare its content size");
  }
  // A frame that contradicts the size the sender announced is malformed (a lie, not a request
  // to split), whatever its size; expected_size itself is already within the cap.
  if (declared != expected_size) {
    return InvalidArgumentError("zstd: frame declares " + std::to_string(declared) +
                                " bytes but the batch says " + std::to_string(expected_size));
  }
  size_t frame_size = ZSTD_findFrameCompressedSize(input.data(), input.size());
  if (ZSTD_isError(frame_size) || frame_size != input.size()) {
    return InvalidArgumentError("zstd: input is not exactly one complete frame");
  }
  out->resize(expected_size);
  size_t n;
  if (rep_->ddict != nullptr) {
    n = ZSTD_decompress_usingDDict(rep_->dctx, out->data(), out->size(), input.data(), input.size(),
                                   rep_->ddict);
  } else {
    n = ZSTD_decompressDCtx(rep_->dctx, out->data(), out->size(), input.data(), input.size());
  }
  if (ZSTD_isError(n)) {
    out->clear();
    return InvalidArgumentError(std::string("zstd: decompress: ") + ZSTD_getErrorName(n));
  }
  if (n != expected_size) {
    out->clear();
    return InvalidArgumentError("zstd: decompressed " + std::to_string(n) + " bytes, expected " +
                                std::to_string(expected_size));
  }
  return OkStatus();
}

Result<std::string> TrainZstdDictionary(const std::vector<std::string>& samples,
                                        size_t dict_bytes) {
  std::string joined;
  std::vector<size_t> sizes;
  sizes.reserve(samples.size());
  for (const auto& s : samples) {
    joined += s;
    sizes.push_back(s.size());
  }
  std::string dict(dict_bytes, '\0');
  size_t n = ZDICT_trainFromBuffer(dict.data(), dict.size(), joined.data(), sizes.data(),
                                   static_cast<unsigned>(sizes.size()));
  if (ZDICT_isError(n)) {
    return InvalidArgumentError(std::string("zstd: train dictionary: ") + ZDICT_getErrorName(n));
  }
  dict.resize(n);
  return dict;
}

}  // namespace custos::wire
