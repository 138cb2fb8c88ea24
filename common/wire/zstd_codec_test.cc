#include <zstd.h>

#include <gtest/gtest.h>

#include "common/wire/wire.h"

namespace custos::wire {
namespace {

std::string SampleRecords(int n) {
  std::string s;
  for (int i = 0; i < n; ++i) {
    s += "/home/alice/projects/customer-list-" + std::to_string(i % 17) + ".xlsx|cp|1000|";
  }
  return s;
}

TEST(ZstdTest, RoundTripsAndCompressesRepetitiveRecords) {
  auto c = ZstdCompressor::Create(3);
  ASSERT_TRUE(c.ok());
  auto d = ZstdDecompressor::Create();
  ASSERT_TRUE(d.ok());
  std::string in = SampleRecords(1000), z, out;
  ASSERT_TRUE(c->Compress(in, &z).ok());
  EXPECT_LT(z.size() * 10, in.size());
  ASSERT_TRUE(d->Decompress(z, in.size(), 1 << 20, &out).ok());
  EXPECT_EQ(out, in);
}

TEST(ZstdTest, RefusesBombDeclaringHugeSize) {
  // A small frame that really expands to 64 MiB of zeros.
  std::string zeros(64 << 20, '\0'), z, out;
  auto c = ZstdCompressor::Create(1);
  ASSERT_TRUE(c->Compress(zeros, &z).ok());
  ASSERT_LT(z.size(), 10000u);
  auto d = ZstdDecompressor::Create();
  Status s = d->Decompress(z, zeros.size(), 16 << 20, &out);
  EXPECT_EQ(s.code(), StatusCode::kResourceExhausted) << s.ToString();
  // Lying about the size in the batch header is malformed input, refused before inflating.
  s = d->Decompress(z, 100, 16 << 20, &out);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << s.ToString();
  EXPECT_LT(out.capacity(), size_t{16} << 20);
}

TEST(ZstdTest, RefusesSizeMismatchGarbageAndUnknownSize) {
  auto c = ZstdCompressor::Create(1);
  auto d = ZstdDecompressor::Create();
  std::string z, out;
  ASSERT_TRUE(c->Compress("hello world", &z).ok());
  EXPECT_EQ(d->Decompress(z, 5, 100, &out).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(d->Decompress("not zstd at all", 5, 100, &out).code(), StatusCode::kInvalidArgument);
  std::string truncated = z.substr(0, z.size() - 2);
  EXPECT_EQ(d->Decompress(truncated, 11, 100, &out).code(), StatusCode::kInvalidArgument);
  // A streaming frame without a content size.
  ZSTD_CCtx* cctx = ZSTD_createCCtx();
  ZSTD_CCtx_setParameter(cctx, ZSTD_c_contentSizeFlag, 0);
  std::string nz(ZSTD_compressBound(11), '\0');
  size_t n = ZSTD_compress2(cctx, nz.data(), nz.size(), "hello world", 11);
  ZSTD_freeCCtx(cctx);
  ASSERT_FALSE(ZSTD_isError(n));
  nz.resize(n);
  EXPECT_EQ(d->Decompress(nz, 11, 100, &out).code(), StatusCode::kInvalidArgument);
}

TEST(ZstdTest, DictionaryImprovesSmallBatches) {
  std::vector<std::string> samples;
  for (int i = 0; i < 2000; ++i) samples.push_back(SampleRecords(1) + std::to_string(i * 7919));
  auto dict = TrainZstdDictionary(samples, 4096);
  ASSERT_TRUE(dict.ok()) << dict.status().ToString();
  auto plain = ZstdCompressor::Create(3);
  auto with = ZstdCompressor::Create(3, *dict);
  auto d = ZstdDecompressor::Create(*dict);
  std::string in = samples[5] + samples[77], zp, zd, out;
  ASSERT_TRUE(plain->Compress(in, &zp).ok());
  ASSERT_TRUE(with->Compress(in, &zd).ok());
  EXPECT_LT(zd.size(), zp.size());
  ASSERT_TRUE(d->Decompress(zd, in.size(), 1000, &out).ok());
  EXPECT_EQ(out, in);
}

TEST(ZstdTest, RejectsBadLevel) {
  EXPECT_FALSE(ZstdCompressor::Create(0).ok());
  EXPECT_FALSE(ZstdCompressor::Create(99).ok());
}

}  // namespace
}  // namespace custos::wire
