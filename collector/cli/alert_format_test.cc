#include "collector/cli/alert_format.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sstream>

#include "collector/cli/event_table.h"
#include "common/testing/testing.h"

namespace custos::collector::cli {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;
using ::testing::Not;

// GET /api/v1/alerts/42 as the collector answers it: the explanation is what
// collector/scoring/scoring.cc writes (keys sorted), with a hostile sample event.
json RecordedAlert() {
  auto text = testing::ReadFile(testing::SourcePath("collector/cli/testdata/alert_42.json"));
  EXPECT_TRUE(text.ok()) << text.status().ToString();
  return json::parse(text.value_or("null"), nullptr, false);
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

std::string AlertText(const json& alert, size_t width = 160) {
  std::ostringstream out;
  WriteAlertText(alert, width, out);
  return out.str();
}

TEST(AlertFormatTest, AlertTextShowsFieldsThenEveryPartOfTheExplanation) {
  const std::string text = AlertText(RecordedAlert());
  EXPECT_THAT(text, HasSubstr("Alert 42: high, score 72, needs_review\n"));
  EXPECT_THAT(text, HasSubstr("  Person:         alice@example.com\n"));
  EXPECT_THAT(text, HasSubstr("  Policy:         Departing users (pol_3f2a9c1b7d4e)\n"));
  EXPECT_THAT(text, HasSubstr("  Last activity:  2026-11-21T16:40:00.000Z\n"));
  EXPECT_THAT(text, HasSubstr("  Updated:        2026-11-21T16:45:00.000Z (3 score updates)\n"));
  EXPECT_THAT(text, Not(HasSubstr("Status reason")));  // empty fields are left out

  // Triggers.
  EXPECT_THAT(text, HasSubstr("Triggers (why this person is being scored):\n"
                              "  resignation  2026-11-20T00:00:00.000Z  HR resignation effective "
                              "2026-11-20T00:00:00.000Z, last working day "
                              "2026-12-04T00:00:00.000Z\n"));
  // Each indicator: name, tier, points, counts, busiest day, sample events.
  EXPECT_THAT(text, HasSubstr("Indicators (base 37.5 points; each scored on its busiest day):\n"
                              "  usb_copy \u2014 File copied to removable media [exfiltration]\n"
                              "      tier medium (x0.75) of weight 40 = 30 points\n"
                              "      14 in the window; busiest day 2026-11-21 with 12 (tiers "
                              "from: low 1, medium 10, high 50 a day); 4.2 GB\n"
                              "      sample events:\n"
                              "        2026-11-21T10:03:00.000Z  agt_ws_alice  copy "
                              "/home/alice/finance/q3-forecast.xlsx -> "
                              "/media/alice/SANDISK/q3-forecast.xlsx\n"));
  EXPECT_THAT(text, HasSubstr("  archive_created \u2014 Archive created [obfuscation]\n"
                              "      tier low (x0.5) of weight 15 = 7.5 points\n"));
  // Boosters, sequences, cumulative exfiltration.
  EXPECT_THAT(text, HasSubstr("Boosters (together x1.25):\n"
                              "  above_baseline x1.25: usb_copy: 12 on 2026-11-21 vs the "
                              "person's own 0.20 per day over 30 days\n"));
  EXPECT_THAT(text, HasSubstr("Sequences (+15 points):\n"
                              "  collection -> obfuscation -> exfiltration -> clean-up  +15 "
                              "points, 2026-11-21T10:01:00.000Z to 2026-11-21T16:20:00.000Z\n"
                              "      files: q3-forecast.xlsx, finance.zip\n"
                              "      last event: 2026-11-21T16:20:00.000Z  agt_ws_alice  delete "
                              "/home/alice/finance.zip\n"));
  EXPECT_THAT(text, HasSubstr("Cumulative exfiltration: 4.2 GB sent off hosts in the window, "
                              "over 3 x the organisation's norm of 350.0 MB per person (+10 "
                              "points)\n"));
  // The formula, with the numbers filled in, and the final score.
  EXPECT_THAT(text, HasSubstr("Score:\n"
                              "  score = min(100, base x boost_factor + sequence_points + "
                              "cumulative_exfiltration.points)\n"
                              "      = min(100, 37.5 x 1.25 + 15 + 10) = 72 (high)\n"));
}

TEST(AlertFormatTest, HostileSampleEventsAreEscapedAndCutToTheWidth) {
  json alert = RecordedAlert();
  alert["explanation"]["indicators"][1]["events"][0]["what"] =
      "create /home/alice/" + std::string(5000, 'y');
  const std::string text = AlertText(alert, 100);
  EXPECT_THAT(text, HasSubstr("copy /home/alice/\\x1b[2J\\nfake row\\u202e.xlsx"));
  EXPECT_THAT(text, Not(HasSubstr("\x1b")));
  EXPECT_THAT(text, Not(HasSubstr("\xE2\x80\xAE")));
  for (const std::string& line : Lines(text)) {
    EXPECT_LE(DisplayWidth(line), 100u) << line;
  }
  EXPECT_THAT(text, HasSubstr("create /home/alice/yyy"));
  EXPECT_THAT(text, HasSubstr("y\u2026\n"));
}

TEST(AlertFormatTest, MissingOrMistypedFieldsNeverThrow) {
  for (const char* body :
       {"null", "[]", "{}", "{\"id\":\"x\",\"score\":[1],\"explanation\":\"text\"}",
        "{\"explanation\":{\"indicators\":[null,1,{\"events\":{}}],\"triggers\":{},"
        "\"boosters\":[1],\"sequences\":[{\"stages\":[1,null]}],"
        "\"cumulative_exfiltration\":[],\"window\":7,\"policy\":null,\"base\":\"NaN\"}}",
        "{\"explanation\":{\"indicators\":[{\"bytes\":-5,\"tier_factor\":1e308,"
        "\"events\":[{\"time_ns\":9223372036854775807}]}]}}"}) {
    json alert = json::parse(body);
    std::string text;
    EXPECT_NO_THROW(text = AlertText(alert)) << body;
    EXPECT_THAT(text, HasSubstr("Alert ")) << body;
  }
  EXPECT_THAT(AlertText(json::parse("{\"id\":7}")),
              HasSubstr("Explanation: none stored for this alert."));
}

TEST(AlertFormatTest, AlertTableHasTheColumnsAndOneLinePerAlert) {
  json alert = RecordedAlert();
  alert.erase("explanation");
  json second = alert;
  second["id"] = 7;
  second["severity"] = "low";
  second["score"] = 21;
  second["status"] = "dismissed";
  second["person"] = "mallory\x1b]0;owned\x07" + std::string(40, 'm') + "@example.com";
  second["policy"] = "";
  second["last_activity"] = "";
  std::ostringstream out;
  WriteAlertTable(json::array({alert, second}), 160, out);
  std::vector<std::string> lines = Lines(out.str());
  ASSERT_EQ(lines.size(), 3u) << out.str();
  EXPECT_EQ(lines[0],
            "ID  SEVERITY  SCORE  STATUS        PERSON                                    "
            "POLICY            LAST ACTIVITY         UPDATED");
  EXPECT_EQ(lines[1],
            "42  high      72     needs_review  alice@example.com                         "
            "Departing users   2026-11-21T16:40:00Z  2026-11-21T16:45:00Z");
  // Escaped, cut to the PERSON column (40); a missing policy name shows the id.
  EXPECT_THAT(lines[2],
              HasSubstr("7   low       21     dismissed     mallory\\x1b]0;owned\\x07mmm"));
  EXPECT_THAT(lines[2], HasSubstr("mmm\u2026  pol_3f2a9c1b7d4e"));
  EXPECT_THAT(lines[2], HasSubstr("pol_3f2a9c1b7d4e  -                     2026-11-21T16:45:00Z"));
  EXPECT_THAT(out.str(), Not(HasSubstr("\x1b")));

  std::ostringstream empty;
  WriteAlertTable(json::array(), 160, empty);
  EXPECT_EQ(empty.str(), "");
}

TEST(AlertFormatTest, PolicyAndTemplateTables) {
  json policies = json::parse(R"([
    {"id":"pol_1","name":"Departing users","template":"data_theft_departing","enabled":true,
     "indicators":[{"id":"usb_copy"},{"id":"cloud_upload"}]},
    {"id":"pol_2","name":"Off","template":"security_violations","enabled":false}])");
  std::ostringstream out;
  WritePolicyTable(policies, 160, out);
  EXPECT_EQ(out.str(),
            "ID     NAME             TEMPLATE              ENABLED  INDICATORS\n"
            "pol_1  Departing users  data_theft_departing  yes      2\n"
            "pol_2  Off              security_violations   no       0\n");

  json templates =
      json::parse(R"([{"id":"t1","name":"One","description":")" + std::string(300, 'd') + R"("}])");
  std::ostringstream t;
  WriteTemplateTable(templates, 80, t);
  std::vector<std::string> lines = Lines(t.str());
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0], "ID  NAME  DESCRIPTION");
  EXPECT_EQ(DisplayWidth(lines[1]), 80u);
  EXPECT_THAT(lines[1], HasSubstr("t1  One   ddd"));
}

TEST(AlertFormatTest, NumbersAndTimes) {
  EXPECT_EQ(FormatNumber(30), "30");
  EXPECT_EQ(FormatNumber(22.5), "22.5");
  EXPECT_EQ(FormatNumber(0.75), "0.75");
  EXPECT_EQ(FormatNumber(1.0 / 3), "0.33");
  EXPECT_EQ(FormatNumber(-0.001), "0");
  EXPECT_EQ(FormatTimeNs(json(1795255200000000000)), "2026-11-21T10:00:00.000Z");
  EXPECT_EQ(FormatTimeNs(json("soon")), "-");
}

}  // namespace
}  // namespace custos::collector::cli
