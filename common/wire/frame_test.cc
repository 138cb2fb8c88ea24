#include <gtest/gtest.h>

#include "common/wire/wire.h"

namespace custos::wire {
namespace {

TEST(FrameTest, RoundTripsFramesSplitAtEveryByte) {
  std::string stream;
  AppendFrame(1, "hello", &stream);
  AppendFrame(3, std::string(1000, 'x'), &stream);
  AppendFrame(7, "", &stream);
  for (size_t split = 0; split <= stream.size(); ++split) {
    FrameDecoder dec(4096);
    dec.Feed(std::string_view(stream).substr(0, split));
    std::vector<Frame> got;
    while (true) {
      auto r = dec.Next();
      ASSERT_TRUE(r.ok()) << r.status().ToString();
      if (!r->has_value()) break;
      got.push_back(std::move(**r));
    }
    dec.Feed(std::string_view(stream).substr(split));
    while (true) {
      auto r = dec.Next();
      ASSERT_TRUE(r.ok());
      if (!r->has_value()) break;
      got.push_back(std::move(**r));
    }
    ASSERT_EQ(got.size(), 3u) << "split " << split;
    EXPECT_EQ(got[0].type, 1);
    EXPECT_EQ(got[0].body, "hello");
    EXPECT_EQ(got[1].body.size(), 1000u);
    EXPECT_EQ(got[2].type, 7);
    EXPECT_TRUE(got[2].body.empty());
    EXPECT_EQ(dec.buffered_bytes(), 0u);
  }
}

TEST(FrameTest, RefusesLengthAboveCapBeforeReadingBody) {
  uint8_t h[kFrameHeaderBytes];
  EncodeFrameHeader(3, 0xFFFFFFF0u, h);
  FrameDecoder dec(1 << 20);
  dec.Feed(std::string_view(reinterpret_cast<char*>(h), sizeof h));
  auto r = dec.Next();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kResourceExhausted);
}

TEST(FrameTest, RefusesUnknownFrameTypes) {
  for (uint8_t type : {uint8_t{0}, uint8_t{kMaxFrameType + 1}, uint8_t{255}}) {
    uint8_t h[kFrameHeaderBytes];
    EncodeFrameHeader(type, 0, h);
    auto r = ParseFrameHeader(h, 100);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  }
}

TEST(FrameTest, TruncatedFrameWaitsForMoreBytes) {
  std::string stream;
  AppendFrame(2, "abcdef", &stream);
  FrameDecoder dec(100);
  dec.Feed(stream.substr(0, stream.size() - 1));
  auto r = dec.Next();
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->has_value());
  EXPECT_EQ(dec.buffered_bytes(), stream.size() - 1);
}

}  // namespace
}  // namespace custos::wire
