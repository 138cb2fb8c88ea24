#include "collector/api/event_json.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace custos::collector::api {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr int64_t kTime = 1'795'256'064'123'000'000;  // 2026-11-21T10:14:24.123Z

store::StoredEvent Stored(const v1::Event& e, store::EventType type, std::string user = "alice") {
  store::StoredEvent s;
  s.agent_id = "agt_7f3a";
  s.hostname = "ws-alice";
  s.epoch = 3;
  s.seq = 42;
  s.time_ns = kTime;
  s.type = type;
  s.user = std::move(user);
  e.SerializeToString(&s.payload);
  return s;
}

v1::Event FileEvent(v1::FileOp op, const std::string& path, uint64_t size = 0) {
  v1::Event e;
  e.set_time_ns(kTime);
  e.mutable_actor()->set_pid(4242);
  e.mutable_actor()->set_executable("/usr/bin/cp");
  e.mutable_actor()->set_login_user("alice");
  e.mutable_actor()->set_user_name("alice");
  e.mutable_file()->set_op(op);
  e.mutable_file()->set_path(path);
  e.mutable_file()->set_size(size);
  return e;
}

TEST(EventFormatTest, UndecodablePayloadIsReportedNotFatal) {
  store::StoredEvent s = Stored(v1::Event(), store::EventType::kFile);
  s.payload = std::string("\xff\xff\xff\xff\x0f garbage", 13);
  EXPECT_FALSE(DecodePayload(s).has_value());

  nlohmann::ordered_json j = EventToJson(s, nullptr);
  EXPECT_TRUE(j["event"].is_null());
  EXPECT_EQ(j["payload_error"], "undecodable payload, 13 bytes");
  EXPECT_EQ(j["payload_base64"], "/////w8gZ2FyYmFnZQ==");
}

TEST(EventFormatTest, JsonCarriesStoreColumnsAndTheEventWithProtoFieldNames) {
  v1::Event e = FileEvent(v1::FILE_OP_RENAME, "/home/alice/b");
  e.mutable_file()->set_old_path("/home/alice/a");
  store::StoredEvent s = Stored(e, store::EventType::kFile);
  std::optional<v1::Event> decoded = DecodePayload(s);
  ASSERT_TRUE(decoded.has_value());
  nlohmann::ordered_json j = EventToJson(s, &*decoded);
  EXPECT_EQ(j["agent_id"], "agt_7f3a");
  EXPECT_EQ(j["hostname"], "ws-alice");
  EXPECT_EQ(j["epoch"], 3);
  EXPECT_EQ(j["seq"], 42);
  EXPECT_EQ(j["time"], "2026-11-21T10:14:24.123Z");
  EXPECT_EQ(j["time_ns"], kTime);
  EXPECT_EQ(j["type"], "file");
  EXPECT_EQ(j["user"], "alice");
  EXPECT_EQ(j["event"]["file"]["op"], "FILE_OP_RENAME");
  EXPECT_EQ(j["event"]["file"]["old_path"], "/home/alice/a");
  EXPECT_EQ(j["event"]["actor"]["login_user"], "alice");
  EXPECT_EQ(j["event"]["time_ns"], std::to_string(kTime));  // proto JSON: int64 as string
  std::vector<std::string> keys;
  for (const auto& [key, value] : j.items()) keys.push_back(key);
  EXPECT_THAT(keys, ::testing::ElementsAre("agent_id", "hostname", "epoch", "seq", "time",
                                           "time_ns", "type", "user", "event"));

  s.user.clear();
  EXPECT_TRUE(EventToJson(s, &*decoded)["user"].is_null());
}

TEST(EventFormatTest, JsonStaysValidWithControlCharactersAndInvalidUtf8) {
  store::StoredEvent s =
      Stored(FileEvent(v1::FILE_OP_CREATE, "/a/\x1b[31m\n"), store::EventType::kFile, "u\xff");
  s.hostname = "h\xc3";
  std::optional<v1::Event> decoded = DecodePayload(s);
  ASSERT_TRUE(decoded.has_value());
  const std::string line = EventToJson(s, &*decoded).dump();  // throws on invalid UTF-8
  nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << line;
  EXPECT_EQ(j["hostname"], "h\uFFFD");
  EXPECT_EQ(j["user"], "u\uFFFD");
  EXPECT_EQ(j["event"]["file"]["path"], "/a/\x1b[31m\n");
}

}  // namespace
}  // namespace custos::collector::api
