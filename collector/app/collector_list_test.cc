// Process-level tests of `custos-collector agent list`, `token list` and `api-token list`: what
// endpoints and API clients sent (host names, revoke reasons, notes, token names) is shown
// escaped, so it can neither forge table lines nor act on the terminal.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <string>
#include <vector>

#include "collector/app/collector_command_testing.h"
#include "collector/store/sqlite/sqlite_risk_store.h"
#include "collector/store/sqlite/sqlite_store.h"
#include "common/testing/testing.h"

namespace custos::collector {
namespace {

using ::testing::HasSubstr;

constexpr int64_t kT0 = 1'795'255'200'000'000'000;  // 2026-11-21T10:00:00Z
constexpr int64_t kDay = 86'400'000'000'000;

// Erase line, CR back to the start of the line and a fake row, C1 CSI (U+009B, ESC [ on
// terminals that honour 8-bit controls) and NEL, a right-to-left override and an isolate.
const std::string kHostile =
    "evil\x1b[2K\rFAKE\nagt_forged\xC2\x9B"
    "2K\xC2\x85"
    "x\xE2\x80\xAE"
    "exe.txt\xE2\x81\xA6"
    "end";
const std::string kHostileEscaped =
    "evil\\x1b[2K\\rFAKE\\nagt_forged\\u009b2K\\u0085x\\u202e"
    "exe.txt\\u2066end";

// Every raw byte sequence of kHostile a terminal acts on.
const std::vector<std::string> kRawControls = {"\x1b",     "\r",           "\xC2\x9B",
                                               "\xC2\x85", "\xE2\x80\xAE", "\xE2\x81\xA6"};

class CollectorListTest : public CollectorCommandTest {
 protected:
  // Output with no raw control sequence and exactly `rows` lines (the header included).
  static void ExpectEscapedTable(const std::string& out, size_t rows) {
    for (const std::string& raw : kRawControls) {
      EXPECT_EQ(out.find(raw), std::string::npos) << out;
    }
    EXPECT_EQ(static_cast<size_t>(std::count(out.begin(), out.end(), '\n')), rows) << out;
  }
};

TEST_F(CollectorListTest, AgentListEscapesHostNamesAndRevokeReasons) {
  {
    auto store = store::OpenSqliteStore({.path = db_path()});
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store::AgentRecord agent;
    agent.agent_id = "agt_hostile";
    agent.hostname = kHostile;
    agent.enrolled_at_ns = kT0;
    ASSERT_TRUE((*store)->RegisterAgent(agent).ok());
    agent.agent_id = "agt_revoked";
    agent.hostname = "plain-host";
    ASSERT_TRUE((*store)->RegisterAgent(agent).ok());
    ASSERT_TRUE((*store)->RevokeAgent("agt_revoked", kHostile, kT0 + kDay).ok());
  }
  auto list = Collector({"agent", "list"});
  ASSERT_EQ(list.exit_code, 0) << list.err;
  ExpectEscapedTable(list.out, 3);
  EXPECT_THAT(list.out, HasSubstr("agt_hostile"));
  EXPECT_THAT(list.out, HasSubstr(" " + kHostileEscaped + " "));
  EXPECT_THAT(list.out, HasSubstr("revoked: " + kHostileEscaped + "\n"));
}

TEST_F(CollectorListTest, AgentClaimingALiveAgentsHostNameIsListedUnconfirmedUntilConfirmed) {
  {
    auto store = store::OpenSqliteStore({.path = db_path()});
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store::AgentRecord agent;
    agent.agent_id = "agt_first";
    agent.hostname = "alice-laptop";
    agent.enrolled_at_ns = kT0;
    ASSERT_TRUE((*store)->RegisterAgent(agent).ok());
    agent.agent_id = "agt_claimer";
    ASSERT_TRUE((*store)->RegisterAgent(agent).ok());
  }
  auto list = Collector({"agent", "list"});
  ASSERT_EQ(list.exit_code, 0) << list.err;
  EXPECT_THAT(list.out, HasSubstr("active, unconfirmed host"));
  EXPECT_EQ(list.out.find("unconfirmed"), list.out.rfind("unconfirmed")) << list.out;  // one
  auto confirm = Collector({"agent", "confirm", "agt_claimer"});
  ASSERT_EQ(confirm.exit_code, 0) << confirm.err;
  EXPECT_THAT(confirm.out, HasSubstr("confirmed"));
  list = Collector({"agent", "list"});
  EXPECT_EQ(list.out.find("unconfirmed"), std::string::npos) << list.out;
  auto unknown = Collector({"agent", "confirm", "agt_nobody"});
  EXPECT_EQ(unknown.exit_code, 1);
  EXPECT_THAT(unknown.err, HasSubstr("agt_nobody"));
}

TEST_F(CollectorListTest, TokenListEscapesNotes) {
  {
    auto store = store::OpenSqliteStore({.path = db_path()});
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store::EnrollmentTokenRecord token;
    token.id = "tok_hostile";
    token.created_at_ns = kT0;
    token.expires_at_ns = kT0 + kDay;
    token.max_uses = 1;
    token.note = kHostile;
    ASSERT_TRUE((*store)->CreateEnrollmentToken(token, std::string(32, 'h')).ok());
  }
  auto list = Collector({"token", "list"});
  ASSERT_EQ(list.exit_code, 0) << list.err;
  ExpectEscapedTable(list.out, 2);
  EXPECT_THAT(list.out, HasSubstr("tok_hostile"));
  EXPECT_THAT(list.out, HasSubstr("  " + kHostileEscaped + "\n"));
}

TEST_F(CollectorListTest, ApiTokenListEscapesNames) {
  {
    auto risk = store::OpenSqliteRiskStore(db_path());
    ASSERT_TRUE(risk.ok()) << risk.status().ToString();
    store::ApiTokenRecord token{"atk_hostile", "viewer", kHostile, kT0, {}};
    ASSERT_TRUE((*risk)->CreateApiToken(token, std::string(32, 'a')).ok());
  }
  auto list = Collector({"api-token", "list"});
  ASSERT_EQ(list.exit_code, 0) << list.err;
  ExpectEscapedTable(list.out, 3);  // the header, the admin token written by init, this one
  EXPECT_THAT(list.out, HasSubstr("atk_hostile    viewer   " + kHostileEscaped + " "));
}

}  // namespace
}  // namespace custos::collector
