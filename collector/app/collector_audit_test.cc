// Process-level tests of the audit log through the real `custos-collector`: the commands that
// change state append an entry (never a secret), and `audit verify` finds tampering done to the
// database file directly.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/stat.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "collector/app/collector_command_testing.h"
#include "collector/store/sqlite/sqlite_store.h"
#include "collector/store/testing/exec_sql.h"
#include "common/testing/testing.h"

namespace custos::collector {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StartsWith;

class CollectorAuditTest : public CollectorCommandTest {
 protected:
  void Sql(const std::string& sql) { ASSERT_TRUE(store::testing::ExecSql(db_path(), sql)); }

  // One "actor|action|object|summary|source" string per entry, in seq order.
  std::vector<std::string> Entries() {
    std::vector<std::string> out;
    sqlite3* db = nullptr;
    EXPECT_EQ(sqlite3_open(db_path().c_str(), &db), SQLITE_OK);
    sqlite3_stmt* s = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db,
                                 "SELECT actor || '|' || action || '|' || object || '|' || "
                                 "summary || '|' || source FROM audit_log ORDER BY seq",
                                 -1, &s, nullptr),
              SQLITE_OK);
    while (sqlite3_step(s) == SQLITE_ROW) {
      out.emplace_back(reinterpret_cast<const char*>(sqlite3_column_text(s, 0)));
    }
    sqlite3_finalize(s);
    sqlite3_close(db);
    return out;
  }

  static std::string ReadAll(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
};

TEST_F(CollectorAuditTest, TokenCreateIsAuditedAndTheChainVerifies) {
  // init's own change: the first admin account.
  auto initial = Collector({"audit", "verify"});
  EXPECT_EQ(initial.exit_code, 0) << initial.err;
  EXPECT_THAT(initial.out, HasSubstr("audit log: 1 entry, 1 checkpoint, chain intact"));

  auto token = Collector({"token", "create", "--note", "laptop rollout"});
  ASSERT_EQ(token.exit_code, 0) << token.err;
  const std::string secret = token.out.substr(0, token.out.find('\n'));
  ASSERT_FALSE(secret.empty());

  auto verify = Collector({"audit", "verify"});
  EXPECT_EQ(verify.exit_code, 0) << verify.err;
  EXPECT_EQ(verify.out, "audit log: 2 entries, 2 checkpoints, chain intact\n");

  auto entries = Entries();
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_THAT(entries[0], HasSubstr("|account.create|account:usr_"));
  EXPECT_THAT(entries[0], HasSubstr("username admin, roles admin,investigator, local (init)"));
  EXPECT_THAT(entries[1], StartsWith("local-admin:"));
  EXPECT_THAT(entries[1], HasSubstr("|token.create|tok_"));
  EXPECT_THAT(entries[1], HasSubstr("note laptop rollout|cli"));
  EXPECT_EQ(entries[1].find(secret), std::string::npos) << "the token itself is never audited";
}

TEST_F(CollectorAuditTest, VerifyNamesTheEntryEditedInTheDatabaseFile) {
  for (int i = 0; i < 3; ++i) ASSERT_EQ(Collector({"token", "create"}).exit_code, 0);
  ASSERT_EQ(Collector({"audit", "verify"}).exit_code, 0);
  Sql("UPDATE audit_log SET summary='nothing to see' WHERE seq=2");
  auto verify = Collector({"audit", "verify"});
  EXPECT_EQ(verify.exit_code, 1);
  EXPECT_THAT(verify.out, HasSubstr("BROKEN at seq 2: entry 2 altered"));
}

TEST_F(CollectorAuditTest, VerifyNamesTheEntryDeletedFromTheDatabaseFile) {
  for (int i = 0; i < 3; ++i) ASSERT_EQ(Collector({"token", "create"}).exit_code, 0);
  Sql("DELETE FROM audit_log WHERE seq=4");  // the tail, but each CLI run checkpoints it
  auto verify = Collector({"audit", "verify"});
  EXPECT_EQ(verify.exit_code, 1);
  EXPECT_THAT(verify.out, HasSubstr("BROKEN at seq 4"));
  EXPECT_THAT(verify.out, HasSubstr("truncated"));
}

TEST_F(CollectorAuditTest, EveryChangingCommandIsAudited) {
  {
    auto store = store::OpenSqliteStore({.path = db_path()});
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store::AgentRecord agent;
    agent.agent_id = "agt_one";
    agent.hostname = "host-one";
    agent.enrolled_at_ns = 1;
    ASSERT_TRUE((*store)->RegisterAgent(agent).ok());
  }
  ASSERT_EQ(Collector({"token", "create"}).exit_code, 0);
  std::string tok_id = Entries().at(1);
  tok_id = tok_id.substr(tok_id.find("|tok_") + 1);
  tok_id = tok_id.substr(0, tok_id.find('|'));
  auto revoke = Collector({"token", "revoke", tok_id});
  ASSERT_EQ(revoke.exit_code, 0) << revoke.err;
  auto api = Collector({"api-token", "create", "--role", "viewer", "--name", "grafana"});
  ASSERT_EQ(api.exit_code, 0) << api.err;
  const std::string api_secret = api.out.substr(0, api.out.find('\n'));
  std::string atk_id = Entries().at(3);
  atk_id = atk_id.substr(atk_id.find("|atk_") + 1);
  atk_id = atk_id.substr(0, atk_id.find('|'));
  ASSERT_EQ(Collector({"api-token", "revoke", atk_id}).exit_code, 0);
  ASSERT_EQ(Collector({"agent", "confirm", "agt_one"}).exit_code, 0);
  ASSERT_EQ(Collector({"agent", "revoke", "agt_one", "--reason", "stolen laptop"}).exit_code, 0);
  // Reads are not changes.
  ASSERT_EQ(Collector({"token", "list"}).exit_code, 0);
  ASSERT_EQ(Collector({"agent", "list"}).exit_code, 0);

  auto entries = Entries();
  std::vector<std::string> tails;
  for (const auto& e : entries) {
    EXPECT_THAT(e, StartsWith("local-admin:"));
    EXPECT_EQ(e.find(api_secret), std::string::npos);
    tails.push_back(e.substr(e.find('|') + 1));
  }
  EXPECT_THAT(tails, ElementsAre(HasSubstr("account.create|account:usr_"),
                                 HasSubstr("token.create|" + tok_id + "|1 use(s), expires"),
                                 "token.revoke|" + tok_id + "|revoked|cli",
                                 "api-token.create|" + atk_id + "|role viewer, name grafana|cli",
                                 "api-token.revoke|" + atk_id + "|revoked|cli",
                                 "agent.confirm|agt_one|host name confirmed|cli",
                                 "agent.revoke|agt_one|reason: stolen laptop|cli"));
  auto verify = Collector({"audit", "verify"});
  EXPECT_EQ(verify.exit_code, 0) << verify.out << verify.err;
  EXPECT_THAT(verify.out, HasSubstr("7 entries, 7 checkpoints, chain intact"));
}

TEST_F(CollectorAuditTest, InitKeepsTheSigningKey) {
  const std::string key = data_dir() + "/pki/audit_signing.key";
  const std::string before = ReadAll(key);
  ASSERT_THAT(before, HasSubstr("PRIVATE KEY"));
  struct stat st {};
  ASSERT_EQ(::stat(key.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_THAT(ReadAll(data_dir() + "/pki/audit_signing.pub"), HasSubstr("PUBLIC KEY"));
  ASSERT_EQ(Collector({"token", "create"}).exit_code, 0);
  auto again = Collector({"init"});
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_THAT(again.out, HasSubstr("audit signing key: kept existing"));
  EXPECT_EQ(ReadAll(key), before);
  EXPECT_EQ(Collector({"audit", "verify"}).exit_code, 0);
}

TEST_F(CollectorAuditTest, ChangeIsRefusedWithoutASigningKey) {
  ASSERT_EQ(::unlink((data_dir() + "/pki/audit_signing.key").c_str()), 0);
  auto token = Collector({"token", "create"});
  EXPECT_EQ(token.exit_code, 1);
  EXPECT_THAT(token.err, HasSubstr("custos-collector init"));
  EXPECT_EQ(token.out, "");         // no token was minted
  EXPECT_EQ(Entries().size(), 1u);  // init's only
}

TEST_F(CollectorAuditTest, DataDirectoryFromBeforeTheAuditLogGetsItsKeyAtTheFirstChange) {
  // An upgrade: a data directory made before the audit log has neither key nor entries.
  Sql("DELETE FROM audit_log; DELETE FROM audit_checkpoints;");
  ASSERT_EQ(::unlink((data_dir() + "/pki/audit_signing.key").c_str()), 0);
  ASSERT_EQ(::unlink((data_dir() + "/pki/audit_signing.pub").c_str()), 0);
  auto token = Collector({"token", "create"});
  ASSERT_EQ(token.exit_code, 0) << token.err;
  EXPECT_THAT(token.out, StartsWith("cet_"));  // stdout is still just the token
  EXPECT_THAT(token.err, HasSubstr("audit signing key: created"));
  auto verify = Collector({"audit", "verify"});
  EXPECT_EQ(verify.exit_code, 0) << verify.err;
  EXPECT_EQ(verify.out, "audit log: 1 entry, 1 checkpoint, chain intact\n");
}

}  // namespace
}  // namespace custos::collector
