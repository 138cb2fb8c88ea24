#include "common/config/config.h"

#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>

#include "gtest/gtest.h"

namespace custos::config {
namespace {

using std::chrono::milliseconds;
using namespace std::chrono_literals;

constexpr uint64_t kKiB = 1024;
constexpr uint64_t kMiB = 1024 * 1024;

ConfigReader Parse(std::string_view yaml) {
  Result<ConfigReader> reader = ConfigReader::FromString(yaml, "collector.yaml");
  EXPECT_TRUE(reader.ok()) << reader.status().ToString();
  if (!reader.ok()) return ConfigReader::Empty("collector.yaml");
  return std::move(reader).value();
}

// Finish()'s message, or "OK".
std::string FinishMessage(const ConfigReader& reader) {
  const Status status = reader.Finish();
  if (status.ok()) return "OK";
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
  return status.message();
}

TEST(ConfigTest, ReadsEveryTypeFromNestedMaps) {
  ConfigReader reader = Parse(R"(
ingest:
  host: 0.0.0.0
  port: 7443
  max_frame_bytes: 4MiB
  idle_timeout: 90s
  compression: zstd
  tls: yes
  allowed_cidrs:
    - 10.0.0.0/8
    - 192.168.0.0/16
log:
  format: json
)");
  EXPECT_TRUE(reader.Has("ingest.port"));
  EXPECT_TRUE(reader.Has("ingest"));
  EXPECT_FALSE(reader.Has("ingest.missing"));
  EXPECT_EQ(reader.String("ingest.host", "127.0.0.1"), "0.0.0.0");
  EXPECT_EQ(reader.Int("ingest.port", 1, 1, 65535), 7443);
  EXPECT_EQ(reader.Bytes("ingest.max_frame_bytes", kMiB, kKiB, 64 * kMiB), 4 * kMiB);
  EXPECT_EQ(reader.Duration("ingest.idle_timeout", 30s, 1s, 1h), 90s);
  EXPECT_EQ(reader.Enum("ingest.compression", "none", {"none", "zstd"}), "zstd");
  EXPECT_TRUE(reader.Bool("ingest.tls", false));
  EXPECT_EQ(reader.StringList("ingest.allowed_cidrs", {}),
            (std::vector<std::string>{"10.0.0.0/8", "192.168.0.0/16"}));
  EXPECT_EQ(reader.Enum("log.format", "human", {"human", "json"}), "json");
  EXPECT_EQ(FinishMessage(reader), "OK");
}

TEST(ConfigTest, ReturnsFallbacksForAbsentAndNullKeys) {
  ConfigReader reader = Parse("ingest:\n  port:\n  host: ~\n");
  EXPECT_FALSE(reader.Has("ingest.port"));
  EXPECT_EQ(reader.Int("ingest.port", 7443, 1, 65535), 7443);
  EXPECT_EQ(reader.String("ingest.host", "127.0.0.1"), "127.0.0.1");
  EXPECT_EQ(reader.String("spool.dir", "/var/lib/custos"), "/var/lib/custos");
  EXPECT_FALSE(reader.Bool("spool.fsync", false));
  EXPECT_EQ(reader.Duration("spool.retry", 5s, 1s, 1h), 5s);
  EXPECT_EQ(reader.StringList("spool.extra", {"a"}), std::vector<std::string>{"a"});
  EXPECT_EQ(FinishMessage(reader), "OK");
}

TEST(ConfigTest, TreatsEmptyOrNullDocumentAsAllDefaults) {
  for (const char* yaml : {"", "# only a comment\n", "---\n", "~\n", "null\n"}) {
    ConfigReader reader = Parse(yaml);
    EXPECT_EQ(reader.Int("ingest.port", 7443, 1, 65535), 7443) << yaml;
    EXPECT_EQ(FinishMessage(reader), "OK") << yaml;
  }
  ConfigReader empty = ConfigReader::Empty("defaults");
  EXPECT_EQ(empty.source_name(), "defaults");
  EXPECT_EQ(empty.Bytes("spool.max_bytes", kMiB, 0, 4 * kMiB), kMiB);
  EXPECT_TRUE(empty.Finish().ok());
}

TEST(ConfigTest, ReportsIntegerGarbageAndOutOfBounds) {
  ConfigReader reader = Parse("ingest:\n  port: abc\n  workers: 0\n  backlog: 1.5\n");
  EXPECT_EQ(reader.Int("ingest.port", 7443, 1, 65535), 7443);
  EXPECT_EQ(reader.Int("ingest.workers", 4, 1, 64), 4);
  EXPECT_EQ(reader.Int("ingest.backlog", 128, std::numeric_limits<int64_t>::min(),
                       std::numeric_limits<int64_t>::max()),
            128);
  EXPECT_EQ(FinishMessage(reader),
            "config: collector.yaml: key 'ingest.port': expected an integer between 1 and 65535, "
            "got 'abc'\n"
            "config: collector.yaml: key 'ingest.workers': expected an integer between 1 and 64, "
            "got '0'\n"
            "config: collector.yaml: key 'ingest.backlog': expected an integer, got '1.5'");
}

TEST(ConfigTest, AcceptsIntegersAtTheBounds) {
  ConfigReader reader = Parse("a: 1\nb: 65535\nc: -5\nd: +7\n");
  EXPECT_EQ(reader.Int("a", 0, 1, 65535), 1);
  EXPECT_EQ(reader.Int("b", 0, 1, 65535), 65535);
  EXPECT_EQ(reader.Int("c", 0, -10, 10), -5);
  EXPECT_EQ(reader.Int("d", 0, -10, 10), 7);
  EXPECT_EQ(FinishMessage(reader), "OK");
}

TEST(ConfigTest, ReportsWrongNodeKindsWithoutCrashing) {
  ConfigReader reader = Parse(R"(
name: {first: a}
port: [1, 2]
tls: {enabled: true}
spool: /var/lib/custos
list: {a: b}
)");
  EXPECT_EQ(reader.String("name", "x"), "x");
  EXPECT_EQ(reader.Int("port", 7, 1, 10), 7);
  EXPECT_FALSE(reader.Bool("tls", false));
  EXPECT_EQ(reader.Bytes("spool.max_bytes", kMiB, 0, 4 * kMiB), kMiB);
  EXPECT_EQ(reader.Duration("spool.retry", 5s, 0ms, milliseconds::max()), 5s);
  EXPECT_EQ(reader.StringList("list", {"d"}), std::vector<std::string>{"d"});
  EXPECT_EQ(FinishMessage(reader),
            "config: collector.yaml: key 'name': expected a string, got a map\n"
            "config: collector.yaml: key 'port': expected an integer between 1 and 10, got a "
            "list\n"
            "config: collector.yaml: key 'tls': expected true or false, got a map\n"
            "config: collector.yaml: key 'spool': expected a map, got '/var/lib/custos'\n"
            "config: collector.yaml: key 'list': expected a list of strings, got a map");
}

TEST(ConfigTest, ReportsUnknownKeyWithSuggestion) {
  ConfigReader reader = Parse("ingest:\n  prot: 7443\n  host: 0.0.0.0\n");
  EXPECT_EQ(reader.Int("ingest.port", 7443, 1, 65535), 7443);
  EXPECT_EQ(reader.String("ingest.host", ""), "0.0.0.0");
  EXPECT_EQ(FinishMessage(reader),
            "config: collector.yaml: key 'ingest.prot': unknown key; did you mean 'ingest.port'?");
}

TEST(ConfigTest, ReportsUnknownSectionOnceWithSuggestion) {
  ConfigReader reader = Parse("ingst:\n  port: 7443\n  host: 0.0.0.0\n");
  EXPECT_EQ(reader.Int("ingest.port", 7443, 1, 65535), 7443);
  EXPECT_EQ(reader.String("ingest.host", ""), "");
  EXPECT_EQ(FinishMessage(reader),
            "config: collector.yaml: key 'ingst': unknown key; did you mean 'ingest'?");
}

TEST(ConfigTest, ReportsUnknownKeyWithoutHintWhenNothingIsClose) {
  ConfigReader reader = Parse("ingest:\n  port: 7443\nfrobnicate: true\n");
  EXPECT_EQ(reader.Int("ingest.port", 7443, 1, 65535), 7443);
  EXPECT_EQ(FinishMessage(reader), "config: collector.yaml: key 'frobnicate': unknown key");
}

TEST(ConfigTest, AcceptsIntermediateMapWhoseChildrenWereAllRead) {
  ConfigReader reader = Parse("a:\n  b:\n    c: 1\n    d: 2\n  e: 3\n");
  EXPECT_EQ(reader.Int("a.b.c", 0, 0, 10), 1);
  EXPECT_EQ(reader.Int("a.b.d", 0, 0, 10), 2);
  EXPECT_EQ(reader.Int("a.e", 0, 0, 10), 3);
  EXPECT_EQ(FinishMessage(reader), "OK");
}

TEST(ConfigTest, HasDoesNotCountAsReadingAKey) {
  ConfigReader reader = Parse("legacy_mode: true\n");
  EXPECT_TRUE(reader.Has("legacy_mode"));
  EXPECT_EQ(FinishMessage(reader), "config: collector.yaml: key 'legacy_mode': unknown key");
}

TEST(ConfigTest, ReportsDuplicateKeys) {
  ConfigReader reader = Parse("port: 1\nport: 2\n");
  EXPECT_EQ(reader.Int("port", 0, 0, 10), 1);
  EXPECT_EQ(FinishMessage(reader), "config: collector.yaml: key 'port': duplicate key");
}

TEST(ConfigTest, ReportsSyntaxErrorWithLineAndColumn) {
  const Result<ConfigReader> reader = ConfigReader::FromString("a: 1\n  b: 2\n", "bad.yaml");
  ASSERT_FALSE(reader.ok());
  EXPECT_EQ(reader.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(reader.status().message(), "config: bad.yaml: line 2, column 4: illegal map value");

  const Result<ConfigReader> flow = ConfigReader::FromString("x: 1\ny: {a: 1\n", "bad.yaml");
  ASSERT_FALSE(flow.ok());
  EXPECT_EQ(flow.status().message().rfind("config: bad.yaml: line ", 0), 0u)
      << flow.status().message();
}

TEST(ConfigTest, ReportsTopLevelNonMap) {
  ConfigReader list = Parse("- a\n- b\n");
  EXPECT_EQ(list.Int("port", 5, 0, 10), 5);
  EXPECT_EQ(FinishMessage(list),
            "config: collector.yaml: expected a map of settings at the top level, got a list");
  ConfigReader scalar = Parse("hello\n");
  EXPECT_EQ(FinishMessage(scalar),
            "config: collector.yaml: expected a map of settings at the top level, got 'hello'");
}

TEST(ConfigTest, CollectsEveryProblemInOneFinish) {
  ConfigReader reader = Parse(R"(
ingest:
  port: 70000
  max_frame_bytes: lots
  idle_timeout: soon
log:
  format: xml
  levle: debug
)");
  EXPECT_EQ(reader.Int("ingest.port", 7443, 1, 65535), 7443);
  EXPECT_EQ(reader.Bytes("ingest.max_frame_bytes", 4 * kMiB, kKiB, 64 * kMiB), 4 * kMiB);
  EXPECT_EQ(reader.Duration("ingest.idle_timeout", 30s, 1s, 1h), 30s);
  EXPECT_EQ(reader.Enum("log.format", "human", {"human", "json"}), "human");
  EXPECT_EQ(reader.Enum("log.level", "info", {"debug", "info", "warn", "error"}), "info");
  reader.AddProblem("ingest.tls_cert", "required when ingest.tls is true");
  EXPECT_EQ(FinishMessage(reader),
            "config: collector.yaml: key 'ingest.port': expected an integer between 1 and 65535, "
            "got '70000'\n"
            "config: collector.yaml: key 'ingest.max_frame_bytes': expected a size like '4MiB' "
            "between 1KiB and 64MiB, got 'lots'\n"
            "config: collector.yaml: key 'ingest.idle_timeout': expected a duration like '30s' "
            "between 1s and 1h, got 'soon'\n"
            "config: collector.yaml: key 'log.format': expected one of 'human', 'json', got "
            "'xml'\n"
            "config: collector.yaml: key 'ingest.tls_cert': required when ingest.tls is true\n"
            "config: collector.yaml: key 'log.levle': unknown key; did you mean 'log.level'?");
}

TEST(ConfigTest, ReportsBytesAndDurationsOutsideBounds) {
  ConfigReader reader = Parse("a: 512B\nb: 1GiB\nc: 250ms\nd: 7d\n");
  EXPECT_EQ(reader.Bytes("a", kMiB, kKiB, 64 * kMiB), kMiB);
  EXPECT_EQ(reader.Bytes("b", kMiB, 0, 64 * kMiB), kMiB);
  EXPECT_EQ(reader.Duration("c", 1s, 1s, milliseconds::max()), 1s);
  EXPECT_EQ(reader.Duration("d", 1s, 0ms, 24h), 1s);
  EXPECT_EQ(FinishMessage(reader),
            "config: collector.yaml: key 'a': expected a size like '4MiB' between 1KiB and 64MiB, "
            "got '512B'\n"
            "config: collector.yaml: key 'b': expected a size like '4MiB' of at most 64MiB, got "
            "'1GiB'\n"
            "config: collector.yaml: key 'c': expected a duration like '30s' of at least 1s, got "
            "'250ms'\n"
            "config: collector.yaml: key 'd': expected a duration like '30s' of at most 1d, got "
            "'7d'");
}

TEST(ConfigTest, ParsesBooleanSpellings) {
  ConfigReader reader = Parse("a: true\nb: False\nc: on\nd: NO\ne: maybe\n");
  EXPECT_TRUE(reader.Bool("a", false));
  EXPECT_FALSE(reader.Bool("b", true));
  EXPECT_TRUE(reader.Bool("c", false));
  EXPECT_FALSE(reader.Bool("d", true));
  EXPECT_TRUE(reader.Bool("e", true));
  EXPECT_EQ(FinishMessage(reader),
            "config: collector.yaml: key 'e': expected true or false, got 'maybe'");
}

TEST(ConfigTest, ReadsStringListFromSequenceOrSingleScalar) {
  ConfigReader reader = Parse("one: eth0\nmany: [eth0, eth1]\nnone: []\nbad: [a, {b: c}]\n");
  EXPECT_EQ(reader.StringList("one", {}), std::vector<std::string>{"eth0"});
  EXPECT_EQ(reader.StringList("many", {}), (std::vector<std::string>{"eth0", "eth1"}));
  EXPECT_EQ(reader.StringList("none", {"x"}), std::vector<std::string>{});
  EXPECT_EQ(reader.StringList("bad", {"x"}), std::vector<std::string>{"x"});
  EXPECT_EQ(FinishMessage(reader),
            "config: collector.yaml: key 'bad': expected a list of strings, got a map at item 2");
}

TEST(ConfigTest, SurvivesHostileYaml) {
  // A self-referencing alias and a wide alias fan-out must neither hang nor crash.
  ConfigReader cyclic = Parse("a: &x {b: *x}\n");
  EXPECT_EQ(cyclic.Int("a.b.b.c", 1, 0, 10), 1);
  EXPECT_FALSE(cyclic.Finish().ok());

  std::string laughs = "l0: &l0 {a: 1, b: 2, c: 3, d: 4, e: 5, f: 6, g: 7, h: 8, i: 9}\n";
  for (int i = 1; i < 12; ++i) {
    const std::string prev = "*l" + std::to_string(i - 1);
    laughs += "l" + std::to_string(i) + ": &l" + std::to_string(i) + " {a: " + prev +
              ", b: " + prev + ", c: " + prev + ", d: " + prev + ", e: " + prev + ", f: " + prev +
              ", g: " + prev + ", h: " + prev + ", i: " + prev + "}\n";
  }
  ConfigReader bomb = Parse(laughs);
  EXPECT_EQ(bomb.Int("l11.a.a.a", 1, 0, 10), 1);
  EXPECT_FALSE(bomb.Finish().ok());
}

class ConfigFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/config_test.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string dir_;
};

TEST_F(ConfigFileTest, LoadsFileAndNamesItInProblems) {
  const std::string path = dir_ + "/agent.yaml";
  std::ofstream(path) << "spool:\n  max_bytes: 10KB\n  dir: /var/lib/custos\n";
  Result<ConfigReader> reader = ConfigReader::LoadFile(path);
  ASSERT_TRUE(reader.ok()) << reader.status().ToString();
  EXPECT_EQ(reader->source_name(), path);
  EXPECT_EQ(reader->Bytes("spool.max_bytes", 0, 0, kMiB), 10000u);
  EXPECT_EQ(FinishMessage(*reader), "config: " + path + ": key 'spool.dir': unknown key");
}

TEST_F(ConfigFileTest, ReportsMissingFileAsNotFound) {
  const std::string path = dir_ + "/missing.yaml";
  const Result<ConfigReader> reader = ConfigReader::LoadFile(path);
  ASSERT_FALSE(reader.ok());
  EXPECT_EQ(reader.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(reader.status().message(), "config: " + path + ": No such file or directory");
}

TEST_F(ConfigFileTest, ReportsSyntaxErrorInFileWithItsPath) {
  const std::string path = dir_ + "/bad.yaml";
  std::ofstream(path) << "a: 1\n  b: 2\n";
  const Result<ConfigReader> reader = ConfigReader::LoadFile(path);
  ASSERT_FALSE(reader.ok());
  EXPECT_EQ(reader.status().message(), "config: " + path + ": line 2, column 4: illegal map value");
}

TEST(ParseBytesTest, AcceptsPlainAndSuffixedSizes) {
  EXPECT_EQ(ParseBytes("1048576").value(), 1048576u);
  EXPECT_EQ(ParseBytes("512B").value(), 512u);
  EXPECT_EQ(ParseBytes("64KiB").value(), 64 * kKiB);
  EXPECT_EQ(ParseBytes("4MiB").value(), 4 * kMiB);
  EXPECT_EQ(ParseBytes("1GiB").value(), 1024 * kMiB);
  EXPECT_EQ(ParseBytes("10KB").value(), 10000u);
  EXPECT_EQ(ParseBytes("3MB").value(), 3000000u);
  EXPECT_EQ(ParseBytes("2gb").value(), 2000000000u);
  EXPECT_EQ(ParseBytes("4mib").value(), 4 * kMiB);
  EXPECT_EQ(ParseBytes(" 8 KiB ").value(), 8 * kKiB);
  EXPECT_EQ(ParseBytes("0").value(), 0u);
  EXPECT_EQ(ParseBytes("18446744073709551615").value(), std::numeric_limits<uint64_t>::max());
  EXPECT_EQ(ParseBytes("16777215TiB").value(), (uint64_t{16777215} << 40));
}

TEST(ParseBytesTest, RejectsNegativeOverflowAndGarbage) {
  const auto message = [](std::string_view text) { return ParseBytes(text).status().message(); };
  EXPECT_EQ(message("-5"), "size '-5': must not be negative");
  EXPECT_EQ(message("99999999999999999999"), "size '99999999999999999999': too large");
  EXPECT_EQ(message("17179869184GiB"), "size '17179869184GiB': too large");
  EXPECT_EQ(message("1.5GiB"), "size '1.5GiB': expected a whole number");
  EXPECT_EQ(message("10XB"),
            "size '10XB': unknown unit 'XB' (use B, KB, MB, GB, TB, KiB, MiB, "
            "GiB or TiB)");
  EXPECT_EQ(message("lots"),
            "size 'lots': expected a whole number of bytes with an optional unit "
            "(B, KB, MB, GB, TB, KiB, MiB, GiB, TiB), e.g. '4MiB'");
  EXPECT_FALSE(ParseBytes("").ok());
  EXPECT_FALSE(ParseBytes("KiB").ok());
  EXPECT_FALSE(ParseBytes("4 MiB extra").ok());
  EXPECT_EQ(ParseBytes("lots").status().code(), StatusCode::kInvalidArgument);
}

TEST(ParseDurationTest, AcceptsEveryUnit) {
  EXPECT_EQ(ParseDuration("250ms").value(), 250ms);
  EXPECT_EQ(ParseDuration("30s").value(), 30s);
  EXPECT_EQ(ParseDuration("5m").value(), 5min);
  EXPECT_EQ(ParseDuration("2h").value(), 2h);
  EXPECT_EQ(ParseDuration("7d").value(), 7 * 24h);
  EXPECT_EQ(ParseDuration("0s").value(), 0ms);
}

TEST(ParseDurationTest, RejectsGarbageMissingUnitsAndOverflow) {
  const auto message = [](std::string_view text) { return ParseDuration(text).status().message(); };
  EXPECT_EQ(message("30"), "duration '30': missing unit (ms, s, m, h or d), e.g. '30s'");
  EXPECT_EQ(message("5w"), "duration '5w': unknown unit 'w' (use ms, s, m, h or d)");
  EXPECT_EQ(message("-1s"), "duration '-1s': must not be negative");
  EXPECT_EQ(message("1.5h"), "duration '1.5h': expected a whole number");
  EXPECT_EQ(message("200000000000000d"), "duration '200000000000000d': too large");
  EXPECT_EQ(message("soon"),
            "duration 'soon': expected a whole number with a unit (ms, s, m, h or d), e.g. '30s'");
  EXPECT_FALSE(ParseDuration("").ok());
  EXPECT_FALSE(ParseDuration("1h30m").ok());
}

}  // namespace
}  // namespace custos::config
