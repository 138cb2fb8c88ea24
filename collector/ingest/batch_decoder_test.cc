#include "collector/ingest/batch_decoder.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <iterator>

#include "custos/v1/event.pb.h"
#include "custos/v1/session.pb.h"

namespace custos::collector::ingest {
namespace {

v1::EventBatch Events(int n) {
  v1::EventBatch b;
  for (int i = 0; i < n; ++i) {
    v1::Event* e = b.add_events();
    e->set_time_ns(1000 + i);
    e->mutable_actor()->set_login_user(i % 2 ? "alice" : "bob");
    e->mutable_actor()->set_user_name("root");
    e->mutable_file()->set_op(v1::FILE_OP_CREATE);
    e->mutable_file()->set_path("/home/alice/f" + std::to_string(i));
  }
  return b;
}

std::string BatchBody(const v1::EventBatch& events, uint64_t first_seq, uint32_t count,
                      bool compress = true) {
  std::string raw = events.SerializeAsString();
  v1::Batch b;
  b.set_first_seq(first_seq);
  b.set_count(count);
  b.set_uncompressed_size(raw.size());
  if (compress) {
    auto c = wire::ZstdCompressor::Create(3);
    std::string z;
    EXPECT_TRUE(c->Compress(raw, &z).ok());
    b.set_codec(v1::CODEC_ZSTD);
    b.set_records(z);
  } else {
    b.set_codec(v1::CODEC_NONE);
    b.set_records(raw);
  }
  return b.SerializeAsString();
}

class BatchDecoderTest : public ::testing::Test {
 protected:
  Status Decode(const std::string& body) { return DecodeBatch(body, limits_, &*dz_, &out_); }
  BatchLimits limits_{1000, 1 << 20};
  Result<wire::ZstdDecompressor> dz_ = wire::ZstdDecompressor::Create();
  store::BatchWrite out_;
};

TEST_F(BatchDecoderTest, DecodesEventsKeepingTheAgentsBytes) {
  v1::EventBatch events = Events(10);
  ASSERT_TRUE(Decode(BatchBody(events, 41, 10)).ok());
  EXPECT_EQ(out_.first_seq, 41u);
  ASSERT_EQ(out_.rows.size(), 10u);
  EXPECT_EQ(out_.last_seq(), 50u);
  EXPECT_EQ(out_.users, (std::vector<std::string>{"bob", "alice"}));
  EXPECT_EQ(out_.rows[3].user_index, 1);
  EXPECT_EQ(out_.rows[3].type, store::EventType::kFile);
  EXPECT_EQ(out_.rows[3].time_ns, 1003);
  EXPECT_EQ(out_.rows[3].payload, events.events(3).SerializeAsString());
  ASSERT_TRUE(Decode(BatchBody(events, 1, 10, false)).ok());
  EXPECT_EQ(out_.rows.size(), 10u);
}

TEST_F(BatchDecoderTest, RefusesCountMismatchAndLimits) {
  EXPECT_FALSE(Decode(BatchBody(Events(10), 1, 9)).ok());
  EXPECT_FALSE(Decode(BatchBody(Events(10), 1, 11)).ok());
  EXPECT_FALSE(Decode(BatchBody(Events(0), 1, 0)).ok());
  EXPECT_FALSE(Decode(BatchBody(Events(10), 0, 10)).ok());
  limits_.max_events = 5;
  EXPECT_FALSE(Decode(BatchBody(Events(10), 1, 10)).ok());
}

TEST_F(BatchDecoderTest, RefusesZstdBombBeforeAllocating) {
  std::string zeros(8 << 20, '\0'), z;
  auto c = wire::ZstdCompressor::Create(1);
  ASSERT_TRUE(c->Compress(zeros, &z).ok());
  v1::Batch b;
  b.set_first_seq(1);
  b.set_count(1);
  b.set_codec(v1::CODEC_ZSTD);
  b.set_uncompressed_size(100);  // lies; the zstd frame says 8 MiB
  b.set_records(z);
  Status s = Decode(b.SerializeAsString());
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << s.ToString();
  b.set_uncompressed_size(zeros.size());
  s = Decode(b.SerializeAsString());
  EXPECT_EQ(s.code(), StatusCode::kResourceExhausted) << s.ToString();
}

TEST_F(BatchDecoderTest, RefusesInvalidProtobufAndForeignFields) {
  EXPECT_FALSE(Decode("\xff\xff\xff garbage").ok());
  v1::EventBatch events = Events(2);
  events.mutable_events(1)->set_agent_id("someone-else");
  Status s = Decode(BatchBody(events, 1, 2));
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("agent_id"), std::string::npos);
  // An event list with a stray field.
  std::string raw = Events(1).SerializeAsString() + std::string("\x10\x01", 2);
  v1::Batch b;
  b.set_first_seq(1);
  b.set_count(1);
  b.set_codec(v1::CODEC_NONE);
  b.set_uncompressed_size(raw.size());
  b.set_records(raw);
  EXPECT_FALSE(Decode(b.SerializeAsString()).ok());
  // Truncated event bytes.
  raw = Events(3).SerializeAsString();
  raw.resize(raw.size() - 3);
  b.set_count(3);
  b.set_uncompressed_size(raw.size());
  b.set_records(raw);
  EXPECT_FALSE(Decode(b.SerializeAsString()).ok());
  // Unknown codec.
  b.set_codec(static_cast<v1::Codec>(9));
  EXPECT_FALSE(Decode(b.SerializeAsString()).ok());
}

}  // namespace
}  // namespace custos::collector::ingest

namespace custos::collector::ingest {
namespace {

std::string Seed(const std::string& name) {
  const char* src = std::getenv("CUSTOS_SOURCE_DIR");
  std::ifstream in(std::string(src ? src : ".") + "/tests/fuzz/corpus/batch_decoder/" + name,
                   std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

TEST_F(BatchDecoderTest, StoresEventsOverASizeCapAsRefusalsAndFreesTheirBytes) {
  limits_.max_event_bytes = 4096;
  limits_.max_user_bytes = 64;
  v1::EventBatch events = Events(4);
  events.mutable_events(1)->mutable_file()->set_path("/" + std::string(100000, 'x'));
  events.mutable_events(2)->mutable_actor()->set_login_user(std::string(65, 'u'));
  uint32_t refused = 0;
  ASSERT_TRUE(DecodeBatch(BatchBody(events, 1, 4), limits_, &*dz_, &out_, &refused).ok());
  EXPECT_EQ(refused, 2u);
  ASSERT_EQ(out_.rows.size(), 4u);
  EXPECT_LT(out_.buffer.size(), 4096u);  // the 100 kB event is not kept
  for (int i : {1, 2}) {
    EXPECT_EQ(out_.rows[i].type, events::EventType::kEventsLost) << i;
    EXPECT_EQ(out_.rows[i].user_index, -1) << i;
    v1::Event e;
    ASSERT_TRUE(e.ParseFromString(std::string(out_.rows[i].payload))) << i;
    EXPECT_EQ(e.events_lost().source(), "collector");
    EXPECT_EQ(e.time_ns(), events.events(i).time_ns());
    EXPECT_NE(e.events_lost().reason().find("file event of"), std::string::npos)
        << e.events_lost().reason();
  }
  // The kept events are byte-for-byte the agent's, users intact.
  for (int i : {0, 3}) {
    EXPECT_EQ(out_.rows[i].payload, events.events(i).SerializeAsString()) << i;
    ASSERT_GE(out_.rows[i].user_index, 0);
  }
  EXPECT_EQ(out_.users.size(), 2u);
}

TEST_F(BatchDecoderTest, SeedCorpusHoldsValidAndInvalidBatches) {
  std::string zstd_seed = Seed("batch_zstd.bin");
  ASSERT_FALSE(zstd_seed.empty()) << "seed corpus missing: run tests/fuzz/make_seeds.sh";
  ASSERT_TRUE(Decode(zstd_seed).ok());
  EXPECT_EQ(out_.rows.size(), 4u);
  EXPECT_EQ(out_.users, (std::vector<std::string>{"alice"}));
  EXPECT_EQ(out_.rows[3].type, store::EventType::kGap);
  ASSERT_TRUE(Decode(Seed("batch_none.bin")).ok());
  EXPECT_EQ(out_.first_seq, 7u);
  EXPECT_FALSE(Decode(Seed("batch_lie.bin")).ok());
}

}  // namespace
}  // namespace custos::collector::ingest
