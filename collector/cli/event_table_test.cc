#include "collector/cli/event_table.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <google/protobuf/stubs/logging.h>

#include <random>
#include <sstream>

#include "collector/api/event_json.h"

namespace custos::collector::cli {
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

// The "events" array GET /api/v1/events answers for `events`: the API's view of each, sent as
// text and parsed again as the CLI does.
nlohmann::ordered_json ApiEvents(const std::vector<store::StoredEvent>& events) {
  nlohmann::ordered_json list = nlohmann::ordered_json::array();
  for (const auto& e : events) {
    std::optional<v1::Event> decoded = api::DecodePayload(e);
    list.push_back(api::EventToJson(e, decoded ? &*decoded : nullptr));
  }
  return nlohmann::ordered_json::parse(
      list.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace));
}

void Write(const std::vector<store::StoredEvent>& events, OutputFormat format,
           const TableOptions& options, std::ostream& out) {
  WriteEvents(ApiEvents(events), format, options, out);
}

std::string Table(const std::vector<store::StoredEvent>& events, size_t width = 160) {
  std::ostringstream out;
  Write(events, OutputFormat::kTable, TableOptions{.line_width = width}, out);
  return out.str();
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

TEST(SummarizeTest, FileModifyNamesPathSizeAndProcess) {
  EXPECT_EQ(Summarize(FileEvent(v1::FILE_OP_MODIFY, "/home/alice/x.xlsx", 1'234'567)),
            "modify /home/alice/x.xlsx (1.2 MB) by /usr/bin/cp [pid 4242]");
}

TEST(SummarizeTest, FileRenameShowsOldAndNewPath) {
  v1::Event e = FileEvent(v1::FILE_OP_RENAME, "/home/alice/b");
  e.mutable_file()->set_old_path("/home/alice/a");
  EXPECT_EQ(Summarize(e), "rename /home/alice/a -> /home/alice/b by /usr/bin/cp [pid 4242]");
}

TEST(SummarizeTest, FileShowsLabelsDirectoriesAndSudo) {
  v1::Event e = FileEvent(v1::FILE_OP_COPY_TO_REMOVABLE, "/media/alice/USB/plan.pdf", 2'000);
  e.mutable_file()->set_source_path("/home/alice/plan.pdf");
  e.mutable_file()->add_classifications("confidential");
  e.mutable_actor()->set_user_name("root");
  EXPECT_EQ(Summarize(e),
            "copy to removable /home/alice/plan.pdf -> /media/alice/USB/plan.pdf (2.0 kB) "
            "[confidential] by /usr/bin/cp [pid 4242] as root");
  v1::Event dir = FileEvent(v1::FILE_OP_DELETE, "/home/alice/old", 4096);
  dir.mutable_file()->set_is_dir(true);
  dir.clear_actor();
  EXPECT_EQ(Summarize(dir), "delete /home/alice/old (dir)");
  v1::Event found = FileEvent(v1::FILE_OP_CREATE, "/home/alice/new.txt", 10);
  found.mutable_file()->set_observed_by(v1::OBSERVED_BY_SCAN);
  found.clear_actor();
  EXPECT_EQ(Summarize(found), "create /home/alice/new.txt (10 B) (found by scan)");
}

TEST(SummarizeTest, UsbNamesDeviceIdsSerialAndClass) {
  v1::Event e;
  auto* u = e.mutable_usb();
  u->set_action(v1::USB_ACTION_ADDED);
  u->set_manufacturer("SanDisk");
  u->set_product("Ultra");
  u->set_vendor_id(0x0781);
  u->set_product_id(0x5581);
  u->set_serial("4C530001230512115342");
  u->add_interface_classes(8);
  u->add_interface_classes(8);
  EXPECT_EQ(Summarize(e),
            "added SanDisk Ultra 0781:5581 serial 4C530001230512115342 (mass storage)");
  u->set_action(v1::USB_ACTION_MOUNTED);
  u->set_mount_point("/media/alice/USB");
  u->set_fs_type("vfat");
  u->add_interface_classes(0x42);
  EXPECT_EQ(Summarize(e),
            "mounted SanDisk Ultra 0781:5581 serial 4C530001230512115342 (mass storage, class "
            "0x42) at /media/alice/USB (vfat)");
}

TEST(SummarizeTest, SettingShowsAreaKeyOldNewAndHowObserved) {
  v1::Event e;
  auto* s = e.mutable_setting();
  s->set_area("sshd");
  s->set_key("/etc/ssh/sshd_config");
  s->set_old_value("PermitRootLogin no");
  s->set_new_value("PermitRootLogin yes");
  s->set_observed_by(v1::OBSERVED_BY_WATCH);
  EXPECT_EQ(Summarize(e),
            "sshd /etc/ssh/sshd_config: PermitRootLogin no -> PermitRootLogin yes (watch)");
  s->set_old_value(std::string(64, 'a'));
  s->set_new_value("");
  s->set_summary("file removed");
  s->set_observed_by(v1::OBSERVED_BY_PROBE);
  EXPECT_EQ(Summarize(e),
            "sshd /etc/ssh/sshd_config: aaaaaaaaaaaa\u2026 -> (none); file removed (probe)");
}

TEST(SummarizeTest, HealthEventsLostGapAndEvidence) {
  v1::Event h;
  h.mutable_health()->set_component("source.file");
  h.mutable_health()->set_level(v1::HEALTH_LEVEL_DEGRADED);
  h.mutable_health()->set_message("fanotify unavailable, using inotify");
  (*h.mutable_health()->mutable_facts())["kernel"] = "5.4";
  (*h.mutable_health()->mutable_facts())["cap"] = "none";
  EXPECT_EQ(Summarize(h),
            "source.file degraded: fanotify unavailable, using inotify (cap=none, kernel=5.4)");

  v1::Event l;
  l.mutable_events_lost()->set_source("source.file");
  l.mutable_events_lost()->set_count(1200);
  l.mutable_events_lost()->set_reason("queue overflow");
  l.mutable_events_lost()->set_window_start_ns(kTime);
  l.mutable_events_lost()->set_window_end_ns(kTime + 2'500'000'000);
  EXPECT_EQ(Summarize(l),
            "source.file lost 1200 events: queue overflow (from 2026-11-21T10:14:24.123Z, over "
            "2.5 s)");
  l.mutable_events_lost()->set_count(0);
  EXPECT_THAT(Summarize(l), HasSubstr("lost an unknown number of events"));

  v1::Event g;
  g.mutable_gap()->set_dropped_count(500);
  g.mutable_gap()->set_first_dropped_seq(1001);
  g.mutable_gap()->set_last_dropped_seq(1500);
  g.mutable_gap()->set_max_dropped_priority(2);
  g.mutable_gap()->set_reason("spool full");
  EXPECT_EQ(Summarize(g), "spool dropped 500 events, seq 1001-1500 (max priority 2): spool full");

  v1::Event ev;
  ev.mutable_evidence()->set_evidence_id("ev_01");
  ev.mutable_evidence()->set_media_type("image/png");
  ev.mutable_evidence()->set_size(340'000);
  ev.mutable_evidence()->set_trigger("usb-copy");
  ev.mutable_evidence()->set_sha256(std::string(32, '\xab'));
  EXPECT_EQ(Summarize(ev),
            "ev_01 image/png (340.0 kB), trigger usb-copy, sha256 abababababab\u2026");

  EXPECT_EQ(Summarize(v1::Event()), "(no payload)");
}

TEST(EventTableTest, HumanBytesUsesDecimalUnits) {
  EXPECT_EQ(HumanBytes(0), "0 B");
  EXPECT_EQ(HumanBytes(999), "999 B");
  EXPECT_EQ(HumanBytes(1000), "1.0 kB");
  EXPECT_EQ(HumanBytes(999'999), "1.0 MB");
  EXPECT_EQ(HumanBytes(1'200'000), "1.2 MB");
  EXPECT_EQ(HumanBytes(UINT64_MAX), "18.4 EB");
}

TEST(EventTableTest, TableHasHeaderAlignedColumnsAndOneLinePerEvent) {
  store::StoredEvent a = Stored(FileEvent(v1::FILE_OP_MODIFY, "/home/alice/x.xlsx", 1'200'000),
                                store::EventType::kFile);
  store::StoredEvent b =
      Stored(FileEvent(v1::FILE_OP_CREATE, "/tmp/y"), store::EventType::kFile, "");
  b.hostname = "build-server-02";
  std::vector<std::string> lines = Lines(Table({a, b}));
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0].find("TIME"), 0u);
  size_t summary_col = lines[0].find("SUMMARY");
  EXPECT_EQ(lines[1].find("modify "), summary_col);
  EXPECT_EQ(lines[2].find("create "), summary_col);
  EXPECT_EQ(lines[1].find("2026-11-21T10:14:24.123Z  ws-alice"), 0u);
  EXPECT_THAT(lines[2], HasSubstr("build-server-02  -      file  create"));
}

TEST(EventTableTest, EmptyResultPrintsNoTableAndAnEmptyJsonArray) {
  EXPECT_EQ(Table({}), "");
  std::ostringstream json;
  Write({}, OutputFormat::kJson, {}, json);
  EXPECT_EQ(json.str(), "[]\n");
}

TEST(EventTableTest, ControlCharactersAndTerminalEscapesNeverReachTheTable) {
  // ESC sequences (clear screen, retitle), a newline that would fake a row, CR, C1 CSI, a bidi
  // override that reverses what follows, and a zero-width space.
  std::string path =
      "/home/alice/\x1b[2J\x1b]0;owned\x07\nfake row\r\xC2\x9B"
      "31m"
      "\xE2\x80\xAEtxt.exe\xE2\x80\x8B";
  store::StoredEvent s =
      Stored(FileEvent(v1::FILE_OP_CREATE, path), store::EventType::kFile, "bob\x1b[0m");
  s.hostname = "host\nname";
  std::string table = Table({s});
  std::vector<std::string> lines = Lines(table);
  ASSERT_EQ(lines.size(), 2u) << table;
  size_t raw_controls = 0;
  for (char c : table) {
    if (c != '\n' && (static_cast<unsigned char>(c) < 0x20 || c == 0x7f)) ++raw_controls;
  }
  EXPECT_EQ(raw_controls, 0u) << table;
  EXPECT_THAT(table, Not(HasSubstr("\xC2\x9B")));
  EXPECT_THAT(table, Not(HasSubstr("\xE2\x80\xAE")));
  EXPECT_THAT(lines[1], HasSubstr("host\\nname"));
  EXPECT_THAT(lines[1], HasSubstr("bob\\x1b[0m"));
  EXPECT_THAT(lines[1], HasSubstr("/home/alice/\\x1b[2J\\x1b]0;owned\\x07\\nfake row\\r\\u009b31m"
                                  "\\u202etxt.exe\\u200b"));
}

TEST(EventTableTest, VeryLongPathIsCutToTheLineWidthWithAnEllipsis) {
  std::string path = "/home/alice/" + std::string(1 << 20, 'x') + "/secret.docx";
  store::StoredEvent s = Stored(FileEvent(v1::FILE_OP_MODIFY, path, 10), store::EventType::kFile);
  s.hostname = std::string(300, 'h');
  s.user = std::string(300, 'u');
  for (size_t width : {120u, 200u}) {
    std::vector<std::string> lines = Lines(Table({s}, width));
    ASSERT_EQ(lines.size(), 2u);
    EXPECT_EQ(DisplayWidth(lines[1]), width);
    EXPECT_THAT(lines[1], HasSubstr("\u2026  " + std::string(16, 'u') + "\u2026  file"));
    EXPECT_EQ(lines[1].substr(lines[1].size() - 3), "\u2026");
  }
  // Narrower than the fixed columns allow: SUMMARY keeps its minimum width.
  std::vector<std::string> narrow = Lines(Table({s}, 20));
  EXPECT_EQ(DisplayWidth(narrow[1]), 24 + 24 + 17 + 4 + 4 * 2 + kMinSummaryWidth);
  EXPECT_THAT(narrow[1], HasSubstr("modify /home/alice/xxxx"));
}

TEST(EventTableTest, UndecodablePayloadIsReportedNotFatal) {
  store::StoredEvent s = Stored(v1::Event(), store::EventType::kFile);
  s.payload = std::string("\xff\xff\xff\xff\x0f garbage", 13);
  EXPECT_FALSE(api::DecodePayload(s).has_value());
  std::vector<std::string> lines = Lines(Table({s}));
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_THAT(lines[1], HasSubstr("(undecodable payload, 13 bytes)"));
}

// A payload the collector decoded but could not show as JSON comes as its bytes; the table still
// summarises it. JSON that is not an event, or an event this version cannot read, is one line.
TEST(EventTableTest, EventsWithoutJsonAreDecodedFromTheirBytesOrSaySo) {
  store::StoredEvent s =
      Stored(FileEvent(v1::FILE_OP_DELETE, "/home/alice/gone.txt"), store::EventType::kFile);
  nlohmann::ordered_json events = ApiEvents({s});
  events[0]["event"] = nullptr;
  events[0]["payload_base64"] = api::EventToJson(s, nullptr)["payload_base64"];
  EXPECT_THAT(MakeTableRow(events[0]).summary, HasSubstr("delete /home/alice/gone.txt by"));

  events[0]["payload_base64"] = "not base64!";
  EXPECT_EQ(MakeTableRow(events[0]).summary, "(no event)");
  events[0]["event"] = {{"file", {{"op", "FILE_OP_FROM_THE_FUTURE"}}}, {"future_field", 1}};
  EXPECT_EQ(MakeTableRow(events[0]).summary, "file op 0 ");
  events[0]["event"] = {{"file", "not an object"}};
  EXPECT_EQ(MakeTableRow(events[0]).summary, "(event this version of custos cannot read)");
  EXPECT_EQ(MakeTableRow(nlohmann::ordered_json(42)).summary, "(not an event)");

  std::ostringstream out;
  WriteEvents(nlohmann::ordered_json::object(), OutputFormat::kJson, {}, out);
  EXPECT_EQ(out.str(), "[]\n");
}

// What the collector sends is what `--format json` prints, key order included.
TEST(EventTableTest, JsonOutputIsTheApisObjects) {
  store::StoredEvent s = Stored(FileEvent(v1::FILE_OP_CREATE, "/tmp/a"), store::EventType::kFile);
  nlohmann::ordered_json api = ApiEvents({s, s});
  std::ostringstream out;
  WriteEvents(api, OutputFormat::kJsonLines, {}, out);
  std::vector<std::string> lines = Lines(out.str());
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0], api[0].dump());
  EXPECT_THAT(lines[0], ::testing::StartsWith(R"({"agent_id":"agt_7f3a","hostname":"ws-alice",)"));
}

TEST(EventTableTest, JsonStaysValidWithControlCharactersAndInvalidUtf8) {
  store::StoredEvent s =
      Stored(FileEvent(v1::FILE_OP_CREATE, "/a/\x1b[31m\n"), store::EventType::kFile, "u\xff");
  s.hostname = "h\xc3";
  std::ostringstream out;
  Write(std::vector{s, s}, OutputFormat::kJsonLines, {}, out);
  std::vector<std::string> lines = Lines(out.str());
  ASSERT_EQ(lines.size(), 2u);
  for (const std::string& line : lines) {
    nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
    ASSERT_FALSE(j.is_discarded()) << line;
    EXPECT_EQ(j["hostname"], "h\uFFFD");
    EXPECT_EQ(j["user"], "u\uFFFD");
    EXPECT_EQ(j["event"]["file"]["path"], "/a/\x1b[31m\n");
  }
  std::ostringstream array;
  Write(std::vector{s, s}, OutputFormat::kJson, {}, array);
  nlohmann::json parsed = nlohmann::json::parse(array.str(), nullptr, false);
  ASSERT_TRUE(parsed.is_array());
  EXPECT_EQ(parsed.size(), 2u);
}

// Deterministic random input: undecodable bytes, and valid events whose strings are random
// bytes (the store may hold what a buggy or hostile agent sent). Every table line stays one line
// of printable text within the width; every JSON line parses.
TEST(EventTableTest, RandomContentNeverBreaksTableOrJson) {
  // Invalid UTF-8 in a string field makes the whole payload undecodable; silence protobuf's
  // complaint about it for this test.
  google::protobuf::LogHandler* previous = google::protobuf::SetLogHandler(nullptr);
  std::mt19937_64 rng(20261121);
  // Mostly valid UTF-8 drawn from the nasty ranges (C0, C1, combining, bidi, wide, tags), with
  // an occasional raw byte.
  auto random_bytes = [&](size_t max_len) {
    static constexpr char32_t kRanges[][2] = {
        {0x00, 0x7F},     {0x80, 0x9F},       {0x300, 0x36F},     {0x2000, 0x206F},
        {0x4E00, 0x4E80}, {0xE0000, 0xE007F}, {0x1F300, 0x1F320}, {0xFFF0, 0xFFFF}};
    std::string s;
    size_t n = rng() % (max_len + 1);
    for (size_t i = 0; i < n; ++i) {
      if (rng() % 50 == 0) {
        s += static_cast<char>(rng());
        continue;
      }
      const auto& r = kRanges[rng() % std::size(kRanges)];
      char32_t cp = r[0] + static_cast<char32_t>(rng() % (r[1] - r[0] + 1));
      if (cp < 0x80) {
        s += static_cast<char>(cp);
      } else if (cp < 0x800) {
        s += static_cast<char>(0xC0 | (cp >> 6));
        s += static_cast<char>(0x80 | (cp & 0x3F));
      } else if (cp < 0x10000) {
        s += static_cast<char>(0xE0 | (cp >> 12));
        s += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        s += static_cast<char>(0x80 | (cp & 0x3F));
      } else {
        s += static_cast<char>(0xF0 | (cp >> 18));
        s += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
        s += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        s += static_cast<char>(0x80 | (cp & 0x3F));
      }
    }
    return s;
  };
  std::vector<store::StoredEvent> events;
  for (int i = 0; i < 300; ++i) {
    v1::Event e = FileEvent(static_cast<v1::FileOp>(rng() % 9), random_bytes(300), rng());
    e.mutable_file()->set_old_path(random_bytes(50));
    e.mutable_actor()->set_executable(random_bytes(40));
    store::StoredEvent s = Stored(e, static_cast<store::EventType>(rng() % 9), random_bytes(20));
    s.hostname = random_bytes(40);
    s.agent_id = random_bytes(10);
    s.time_ns = static_cast<int64_t>(rng());
    if (i % 5 == 0) {
      s.payload.resize(rng() % 200);
      for (char& c : s.payload) c = static_cast<char>(rng());
    }
    events.push_back(std::move(s));
  }
  std::string table = Table(events, 120);
  std::vector<std::string> lines = Lines(table);
  ASSERT_EQ(lines.size(), events.size() + 1);
  size_t raw_controls = 0;
  for (char c : table) {
    if (c != '\n' && (static_cast<unsigned char>(c) < 0x20 || c == 0x7f)) ++raw_controls;
  }
  EXPECT_EQ(raw_controls, 0u);
  for (const std::string& line : lines) EXPECT_LE(DisplayWidth(line), 120u) << line;

  std::ostringstream jsonl;
  Write(events, OutputFormat::kJsonLines, {}, jsonl);
  std::vector<std::string> objects = Lines(jsonl.str());
  ASSERT_EQ(objects.size(), events.size());
  for (const std::string& line : objects) {
    EXPECT_FALSE(nlohmann::json::parse(line, nullptr, false).is_discarded()) << line;
  }
  size_t decoded = 0;
  for (const auto& e : events) decoded += api::DecodePayload(e).has_value();
  EXPECT_GT(decoded, 20u);  // the random strings reach the summaries, not only the fallback
  google::protobuf::SetLogHandler(previous);
}

TEST(EventTableTest, ParsesOutputFormats) {
  EXPECT_EQ(ParseOutputFormat("table"), OutputFormat::kTable);
  EXPECT_EQ(ParseOutputFormat("json"), OutputFormat::kJson);
  EXPECT_EQ(ParseOutputFormat("jsonl"), OutputFormat::kJsonLines);
  EXPECT_FALSE(ParseOutputFormat("yaml").has_value());
}

}  // namespace
}  // namespace custos::collector::cli
