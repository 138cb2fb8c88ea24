#include "common/log/log.h"

#include <fcntl.h>
#include <unistd.h>

#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace custos::logging {
namespace {

constexpr int64_t kFixedMs = 1795256064123;  // 2026-11-21T10:14:24.123Z

std::vector<std::string> SplitLines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// Routes the global logger into a pipe for the test's duration and restores the defaults.
class PipeLogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(pipe2(fds_, O_CLOEXEC), 0);
    SetOutputFd(fds_[1]);
  }
  void TearDown() override {
    SetOutputFd(2);
    Configure(Format::kHuman, Level::kInfo, "custos");
    CloseWriteEnd();
    if (fds_[0] >= 0) close(fds_[0]);
  }
  void CloseWriteEnd() {
    if (fds_[1] >= 0) close(fds_[1]);
    fds_[1] = -1;
  }
  // Reads until EOF; call after CloseWriteEnd() (or from a reader thread).
  std::string ReadAll() {
    std::string out;
    char buf[4096];
    for (;;) {
      const ssize_t n = read(fds_[0], buf, sizeof(buf));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      out.append(buf, static_cast<size_t>(n));
    }
    return out;
  }
  int fds_[2] = {-1, -1};
};

TEST(LogFormatTest, FormatsHumanLineWithQuotedValues) {
  EXPECT_EQ(
      FormatRecord(Format::kHuman, Level::kInfo, "custos-collector", kFixedMs, "session closed",
                   {{"agent", "ab12"}, {"reason", "bad frame"}, {"frames", 42}}),
      "2026-11-21T10:14:24.123Z INFO  custos-collector: session closed agent=ab12 "
      "reason=\"bad frame\" frames=42");
}

TEST(LogFormatTest, PadsLevelNamesToFiveColumns) {
  EXPECT_EQ(FormatRecord(Format::kHuman, Level::kDebug, "p", kFixedMs, "m", {}),
            "2026-11-21T10:14:24.123Z DEBUG p: m");
  EXPECT_EQ(FormatRecord(Format::kHuman, Level::kWarn, "p", kFixedMs, "m", {}),
            "2026-11-21T10:14:24.123Z WARN  p: m");
  EXPECT_EQ(FormatRecord(Format::kHuman, Level::kError, "p", kFixedMs, "m", {}),
            "2026-11-21T10:14:24.123Z ERROR p: m");
}

TEST(LogFormatTest, FormatsJsonLineWithUnquotedNumbersAndBools) {
  EXPECT_EQ(FormatRecord(
                Format::kJson, Level::kWarn, "custos-collector", kFixedMs, "session closed",
                {{"agent", "ab12"}, {"reason", "bad frame"}, {"frames", 42}, {"resumed", false}}),
            "{\"ts\":\"2026-11-21T10:14:24.123Z\",\"level\":\"warn\","
            "\"program\":\"custos-collector\",\"msg\":\"session closed\",\"agent\":\"ab12\","
            "\"reason\":\"bad frame\",\"frames\":42,\"resumed\":false}");
}

TEST(LogFormatTest, FormatsTimestampsAroundTheEpoch) {
  EXPECT_EQ(FormatRecord(Format::kHuman, Level::kInfo, "p", 0, "m", {}),
            "1970-01-01T00:00:00.000Z INFO  p: m");
  EXPECT_EQ(FormatRecord(Format::kHuman, Level::kInfo, "p", -1, "m", {}),
            "1969-12-31T23:59:59.999Z INFO  p: m");
}

TEST(LogFormatTest, QuotesAndEscapesHostileHumanValues) {
  EXPECT_EQ(FormatRecord(Format::kHuman, Level::kInfo, "p", kFixedMs, "two\nlines",
                         {{"empty", ""},
                          {"quote", "say \"hi\""},
                          {"eq", "a=b"},
                          {"nl", "x\ny"},
                          {"bs", "C:\\dir"}}),
            "2026-11-21T10:14:24.123Z INFO  p: two\\nlines empty=\"\" quote=\"say \\\"hi\\\"\" "
            "eq=\"a=b\" nl=\"x\\ny\" bs=\"C:\\\\dir\"");
}

TEST(LogFormatTest, HumanLineNeverContainsRawControlBytesOrInvalidUtf8) {
  const std::string line = FormatRecord(Format::kHuman, Level::kInfo, "p", kFixedMs,
                                        "bell\a esc\x1b bad\xff", {{"v", "\r\x01"}});
  EXPECT_EQ(line,
            "2026-11-21T10:14:24.123Z INFO  p: bell\\x07 esc\\x1b bad\xEF\xBF\xBD v=\"\\r\\x01\"");
}

TEST(LogFormatTest, JsonOfHostileStringsParsesAndKeepsValidText) {
  const std::string hostile = "line1\nline2 \"quoted\" back\\slash tab\t nul";
  const std::string with_nul = hostile + std::string(1, '\0') + " end";
  const std::string line =
      FormatRecord(Format::kJson, Level::kError, "prog\"ram", kFixedMs, with_nul,
                   {{"path", "/home/\xC3\xA9l\xC3\xA8ve/\xE2\x9C\x93"},  // élève/✓, valid UTF-8
                    {"bad",
                     "a\xff\xfe"
                     "b\xC3"},                 // invalid and truncated UTF-8
                    {"overlong", "\xC0\xAF"},  // overlong '/'
                    {"key\"with\nnewline", "v"}});
  EXPECT_EQ(line.find('\n'), std::string::npos);
  const nlohmann::json j = nlohmann::json::parse(line);
  EXPECT_EQ(j["level"], "error");
  EXPECT_EQ(j["program"], "prog\"ram");
  EXPECT_EQ(j["msg"].get<std::string>(), with_nul);
  EXPECT_EQ(j["path"], "/home/\xC3\xA9l\xC3\xA8ve/\xE2\x9C\x93");
  EXPECT_EQ(j["bad"],
            "a\xEF\xBF\xBD\xEF\xBF\xBD"
            "b\xEF\xBF\xBD");
  EXPECT_EQ(j["overlong"], "\xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_EQ(j["key\"with\nnewline"], "v");
}

// C1 controls (U+009B is CSI: ESC [ on terminals that honour 8-bit controls), bidi overrides and
// isolates (they reorder what follows), zero-width characters and Unicode tags: a logged host or
// path name holding them must not forge or hide parts of a log line.
const std::string kTerminalControls =
    "h\xC2\x9B"
    "2K\xC2\x85"
    "x\xE2\x80\xAA\xE2\x80\xAB\xE2\x80\xAC\xE2\x80\xAD\xE2\x80\xAE"
    "y\xE2\x81\xA6\xE2\x81\xA7\xE2\x81\xA8\xE2\x81\xA9\xE2\x80\x8B\xF3\xA0\x80\x81z";
const std::vector<std::string> kRawControls = {
    "\xC2\x9B",     "\xC2\x85",     "\xE2\x80\xAA",    "\xE2\x80\xAB", "\xE2\x80\xAC",
    "\xE2\x80\xAD", "\xE2\x80\xAE", "\xE2\x81\xA6",    "\xE2\x81\xA7", "\xE2\x81\xA8",
    "\xE2\x81\xA9", "\xE2\x80\x8B", "\xF3\xA0\x80\x81"};

TEST(LogFormatTest, HumanLineEscapesC1ControlsAndBidiOverridesInEveryField) {
  const std::string line = FormatRecord(Format::kHuman, Level::kWarn, kTerminalControls, kFixedMs,
                                        kTerminalControls, {{"host", kTerminalControls}});
  for (const std::string& raw : kRawControls) {
    EXPECT_EQ(line.find(raw), std::string::npos) << line;
  }
  const std::string escaped =
      "h\\u009b2K\\u0085x\\u202a\\u202b\\u202c\\u202d\\u202ey\\u2066\\u2067\\u2068\\u2069"
      "\\u200b\\U000e0001z";
  // Quoted because it holds escapes (a backslash typed in a value would be doubled).
  EXPECT_EQ(line, "2026-11-21T10:14:24.123Z WARN  " + escaped + ": " + escaped + " host=\"" +
                      escaped + "\"");
}

TEST(LogFormatTest, JsonLineEscapesC1ControlsAndBidiOverridesAndStillRoundTrips) {
  const std::string line = FormatRecord(Format::kJson, Level::kWarn, kTerminalControls, kFixedMs,
                                        kTerminalControls, {{"host", kTerminalControls}});
  for (const std::string& raw : kRawControls) {
    EXPECT_EQ(line.find(raw), std::string::npos) << line;
  }
  EXPECT_NE(line.find("\"host\":\"h\\u009b2K\\u0085x\\u202a\\u202b\\u202c\\u202d\\u202ey"
                      "\\u2066\\u2067\\u2068\\u2069\\u200b\\udb40\\udc01z\""),
            std::string::npos)
      << line;
  // Escaped, not altered: a JSON reader gets the logged value back exactly.
  const nlohmann::json j = nlohmann::json::parse(line);
  EXPECT_EQ(j["program"], kTerminalControls);
  EXPECT_EQ(j["msg"], kTerminalControls);
  EXPECT_EQ(j["host"], kTerminalControls);
}

TEST(LogFormatTest, JsonRendersNonFiniteNumbersAsStrings) {
  const std::string line = FormatRecord(Format::kJson, Level::kInfo, "p", kFixedMs, "m",
                                        {{"inf", std::numeric_limits<double>::infinity()},
                                         {"nan", std::numeric_limits<double>::quiet_NaN()},
                                         {"ratio", 0.5}});
  const nlohmann::json j = nlohmann::json::parse(line);
  EXPECT_TRUE(j["inf"].is_string());
  EXPECT_TRUE(j["nan"].is_string());
  EXPECT_TRUE(j["ratio"].is_number());
  EXPECT_DOUBLE_EQ(j["ratio"].get<double>(), 0.5);
}

TEST(LogParseTest, ParsesLevelAndFormatNames) {
  EXPECT_EQ(ParseLevel("debug").value(), Level::kDebug);
  EXPECT_EQ(ParseLevel("info").value(), Level::kInfo);
  EXPECT_EQ(ParseLevel("warn").value(), Level::kWarn);
  EXPECT_EQ(ParseLevel("error").value(), Level::kError);
  EXPECT_EQ(ParseFormat("human").value(), Format::kHuman);
  EXPECT_EQ(ParseFormat("json").value(), Format::kJson);
}

TEST(LogParseTest, RejectsUnknownLevelAndFormatNaming) {
  const Result<Level> level = ParseLevel("verbose");
  ASSERT_FALSE(level.ok());
  EXPECT_EQ(level.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(level.status().message(),
            "log: level 'verbose': expected one of debug, info, warn, error");
  const Result<Format> format = ParseFormat("xml");
  ASSERT_FALSE(format.ok());
  EXPECT_EQ(format.status().message(), "log: format 'xml': expected one of human, json");
}

TEST_F(PipeLogTest, DropsRecordsBelowMinimumLevel) {
  Configure(Format::kHuman, Level::kWarn, "custos-agent");
  EXPECT_FALSE(Enabled(Level::kInfo));
  EXPECT_TRUE(Enabled(Level::kWarn));
  EXPECT_TRUE(Enabled(Level::kError));
  Debug("debug line");
  Info("info line");
  Warn("warn line", {{"n", 1}});
  Error("error line");
  CloseWriteEnd();
  const std::vector<std::string> lines = SplitLines(ReadAll());
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_NE(lines[0].find(" WARN  custos-agent: warn line n=1"), std::string::npos) << lines[0];
  EXPECT_NE(lines[1].find(" ERROR custos-agent: error line"), std::string::npos) << lines[1];
  EXPECT_EQ(lines[0][23], 'Z');  // timestamp "YYYY-MM-DDTHH:MM:SS.mmmZ"
}

TEST_F(PipeLogTest, WritesWholeJsonLinesFromManyThreads) {
  Configure(Format::kJson, Level::kDebug, "custos-test");
  std::string output;
  std::thread reader([&] { output = ReadAll(); });
  constexpr int kThreads = 4;
  constexpr int kLinesPerThread = 300;  // ~100 KB in total: more than a pipe buffer
  const std::string padding(200, 'x');
  std::vector<std::thread> writers;
  for (int t = 0; t < kThreads; ++t) {
    writers.emplace_back([t, &padding] {
      for (int i = 0; i < kLinesPerThread; ++i) {
        Info("tick", {{"thread", t}, {"i", i}, {"pad", padding}});
      }
    });
  }
  for (std::thread& w : writers) w.join();
  CloseWriteEnd();
  reader.join();
  const std::vector<std::string> lines = SplitLines(output);
  ASSERT_EQ(lines.size(), static_cast<size_t>(kThreads * kLinesPerThread));
  std::vector<int> next(kThreads, 0);
  for (const std::string& line : lines) {
    const nlohmann::json j = nlohmann::json::parse(line);
    EXPECT_EQ(j["program"], "custos-test");
    EXPECT_EQ(j["msg"], "tick");
    const int t = j["thread"].get<int>();
    ASSERT_GE(t, 0);
    ASSERT_LT(t, kThreads);
    EXPECT_EQ(j["i"].get<int>(), next[t]++);  // each thread's lines arrive in order
  }
}

TEST(LogTest, AppliesCommandLineOverridesAndNamesTheBadFlag) {
  Format f = Format::kHuman;
  Level l = Level::kInfo;
  ASSERT_TRUE(ApplyOverrides(std::nullopt, std::nullopt, &f, &l).ok());
  EXPECT_EQ(f, Format::kHuman);
  ASSERT_TRUE(ApplyOverrides(std::string("json"), std::string("debug"), &f, &l).ok());
  EXPECT_EQ(f, Format::kJson);
  EXPECT_EQ(l, Level::kDebug);
  Status s = ApplyOverrides(std::string("xml"), std::nullopt, &f, &l);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("--log-format"), std::string::npos);
  EXPECT_NE(ApplyOverrides(std::nullopt, std::string("loud"), &f, &l).message().find("--log-level"),
            std::string::npos);
}

}  // namespace
}  // namespace custos::logging
