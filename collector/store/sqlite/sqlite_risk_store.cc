#include "collector/store/sqlite/sqlite_risk_store.h"

#include <mutex>
#include <nlohmann/json.hpp>
#include <unordered_map>

#include "collector/store/sqlite/sqlite_store.h"
#include "collector/store/sqlite/sqlite_util.h"

namespace custos::collector::store {
namespace {

using sqlite::BindText;
using sqlite::ColumnText;
using sqlite::Db;
using sqlite::Stmt;

constexpr const char* kAlertColumns =
    "SELECT id, person, policy_id, status, severity, score, created_at_ns, updated_at_ns, "
    "first_activity_ns, last_activity_ns, explanation, status_reason, status_by, "
    "status_changed_at_ns, close_snapshot, updates FROM alerts";

class SqliteRiskStore final : public RiskStore, private sqlite::ConnectionPair {
 public:
  explicit SqliteRiskStore(std::string path) : ConnectionPair(std::move(path)) {}

  Status Open() {
    CUSTOS_RETURN_IF_ERROR(OpenConnections());
    CUSTOS_ASSIGN_OR_RETURN(Stmt s, Prepare(read_db_.get(), "PRAGMA user_version"));
    if (sqlite3_step(s.get()) != SQLITE_ROW) return Error(read_db_.get(), "schema version");
    if (sqlite3_column_int(s.get(), 0) < 2) {
      return FailedPreconditionError("store: " + path_ +
                                     ": risk tables missing (schema older than version 2)");
    }
    return OkStatus();
  }

  Result<int64_t> FirstEventIdSince(int64_t min_time_ns) override {
    std::lock_guard<std::mutex> l(read_mu_);
    CUSTOS_ASSIGN_OR_RETURN(
        Stmt s, Prepare(read_db_.get(),
                        "SELECT coalesce((SELECT min(id) FROM events WHERE time_ns >= ?), "
                        "(SELECT coalesce(max(id), 0) + 1 FROM events))"));
    sqlite3_bind_int64(s.get(), 1, min_time_ns);
    if (sqlite3_step(s.get()) != SQLITE_ROW) return Error(read_db_.get(), "first event since");
    return sqlite3_column_int64(s.get(), 0);
  }

  Result<uint32_t> ScanEventsAfter(
      int64_t after_id, uint32_t limit,
      const std::function<void(const FeedEventView&)>& visit) override {
    std::lock_guard<std::mutex> l(read_mu_);
    if (!feed_stmt_) {
      // No joins: agent and user names come from small caches (a join costs two B-tree lookups
      // per event, measured as the largest part of scoring's cost; docs/performance.md).
      CUSTOS_ASSIGN_OR_RETURN(
          feed_stmt_, Prepare(read_db_.get(),
                              "SELECT id, agent, epoch, seq, time_ns, type, user_id, payload "
                              "FROM events WHERE id > ? ORDER BY id LIMIT ?"));
    }
    sqlite3_stmt* s = feed_stmt_.get();
    sqlite3_reset(s);
    // Every exit resets the statement: a statement left mid-scan would hold a read snapshot
    // (stale reads on this connection, a WAL that cannot restart).
    struct Reset {
      sqlite3_stmt* s;
      ~Reset() { sqlite3_reset(s); }
    } reset{s};
    sqlite3_bind_int64(s, 1, after_id);
    sqlite3_bind_int64(s, 2, limit);
    uint32_t n = 0;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
      FeedEventView v;
      v.id = sqlite3_column_int64(s, 0);
      const int64_t agent = sqlite3_column_int64(s, 1);
      auto a = agents_.find(agent);
      if (a == agents_.end()) {
        CUSTOS_ASSIGN_OR_RETURN(AgentNames names, LookupAgent(agent));
        // An unconfirmed host name may be confirmed at any time: look it up again each time.
        if (names.host_confirmed) {
          a = agents_.emplace(agent, std::move(names)).first;
        } else {
          unconfirmed_ = std::move(names);
        }
      }
      const AgentNames& names = a != agents_.end() ? a->second : unconfirmed_;
      v.agent_id = names.agent_id;
      v.hostname = names.hostname;
      v.host_confirmed = names.host_confirmed;
      v.epoch = static_cast<uint64_t>(sqlite3_column_int64(s, 2));
      v.seq = static_cast<uint64_t>(sqlite3_column_int64(s, 3));
      v.time_ns = sqlite3_column_int64(s, 4);
      v.type = static_cast<EventType>(sqlite3_column_int(s, 5));
      if (sqlite3_column_type(s, 6) != SQLITE_NULL) {
        const int64_t user = sqlite3_column_int64(s, 6);
        auto u = users_.find(user);
        if (u == users_.end()) {
          CUSTOS_ASSIGN_OR_RETURN(auto name, LookupUser(user));
          u = users_.emplace(user, std::move(name)).first;
        }
        v.user = u->second;
      }
      const void* blob = sqlite3_column_blob(s, 7);
      v.payload = std::string_view(static_cast<const char*>(blob),
                                   static_cast<size_t>(sqlite3_column_bytes(s, 7)));
      visit(v);
      ++n;
    }
    sqlite3_reset(s);
    if (rc != SQLITE_DONE) return Error(read_db_.get(), "read event feed");
    return n;
  }

  Result<int64_t> LastEventId() override {
    std::lock_guard<std::mutex> l(read_mu_);
    CUSTOS_ASSIGN_OR_RETURN(Stmt s,
                            Prepare(read_db_.get(), "SELECT coalesce(max(id), 0) FROM events"));
    if (sqlite3_step(s.get()) != SQLITE_ROW) return Error(read_db_.get(), "last event id");
    return sqlite3_column_int64(s.get(), 0);
  }

  Status ReplaceDirectory(std::span<const PersonRecord> people,
                          std::span<const LoginRecord> logins) override {
    return InWriteTransaction([&]() -> Status {
      CUSTOS_RETURN_IF_ERROR(Exec(write_db_.get(), "DELETE FROM logins; DELETE FROM people;"));
      CUSTOS_ASSIGN_OR_RETURN(
          Stmt p, Prepare(write_db_.get(),
                          "INSERT OR REPLACE INTO people(id, display_name, department, manager, "
                          "groups_json) VALUES(?,?,?,?,?)"));
      for (const auto& r : people) {
        sqlite3_reset(p.get());
        BindText(p.get(), 1, r.id);
        BindText(p.get(), 2, r.display_name);
        BindText(p.get(), 3, r.department);
        BindText(p.get(), 4, r.manager);
        BindText(p.get(), 5, nlohmann::json(r.groups).dump());
        if (sqlite3_step(p.get()) != SQLITE_DONE) return Error(write_db_.get(), "insert person");
      }
      CUSTOS_ASSIGN_OR_RETURN(
          Stmt lg,
          Prepare(write_db_.get(), "INSERT INTO logins(login, host, person) VALUES(?,?,?)"));
      for (const auto& r : logins) {
        sqlite3_reset(lg.get());
        BindText(lg.get(), 1, r.login);
        BindText(lg.get(), 2, r.host);
        BindText(lg.get(), 3, r.person);
        if (sqlite3_step(lg.get()) != SQLITE_DONE) {
          return Error(write_db_.get(), "insert login " + r.login);
        }
      }
      return OkStatus();
    });
  }

  Result<std::vector<PersonRecord>> ListPeople() override {
    std::lock_guard<std::mutex> l(read_mu_);
    CUSTOS_ASSIGN_OR_RETURN(
        Stmt s, Prepare(read_db_.get(),
                        "SELECT id, display_name, department, manager, groups_json FROM people "
                        "ORDER BY id"));
    std::vector<PersonRecord> out;
    int rc;
    while ((rc = sqlite3_step(s.get())) == SQLITE_ROW) {
      PersonRecord p;
      p.id = ColumnText(s.get(), 0);
      p.display_name = ColumnText(s.get(), 1);
      p.department = ColumnText(s.get(), 2);
      p.manager = ColumnText(s.get(), 3);
      auto groups = nlohmann::json::parse(ColumnText(s.get(), 4), nullptr, false);
      if (groups.is_array()) {
        for (const auto& g : groups) {
          if (g.is_string()) p.groups.push_back(g.get<std::string>());
        }
      }
      out.push_back(std::move(p));
    }
    if (rc != SQLITE_DONE) return Error(read_db_.get(), "list people");
    return out;
  }

  Result<std::vector<LoginRecord>> ListLogins() override {
    std::lock_guard<std::mutex> l(read_mu_);
    CUSTOS_ASSIGN_OR_RETURN(
        Stmt s, Prepare(read_db_.get(), "SELECT login, host, person FROM logins ORDER BY 1, 2"));
    std::vector<LoginRecord> out;
    int rc;
    while ((rc = sqlite3_step(s.get())) == SQLITE_ROW) {
      out.push_back({ColumnText(s.get(), 0), ColumnText(s.get(), 1), ColumnText(s.get(), 2)});
    }
    if (rc != SQLITE_DONE) return Error(read_db_.get(), "list logins");
    return out;
  }

  Status InsertPolicy(const PolicyRecord& r) override {
    return InWriteTransaction([&]() -> Status {
      CUSTOS_ASSIGN_OR_RETURN(
          Stmt s, Prepare(write_db_.get(),
                          "INSERT INTO policies(id, name, template, body, created_at_ns) "
                          "VALUES(?,?,?,?,?)"));
      BindText(s.get(), 1, r.id);
      BindText(s.get(), 2, r.name);
      BindText(s.get(), 3, r.template_id);
      BindText(s.get(), 4, r.body_json);
      sqlite3_bind_int64(s.get(), 5, r.created_at_ns);
      if (sqlite3_step(s.get()) != SQLITE_DONE) {
        Status e = Error(write_db_.get(), "insert policy");
        if (e.code() == StatusCode::kAlreadyExists) {
          return AlreadyExistsError("policy: a policy named '" + r.name + "' already exists");
        }
        return e;
      }
      return OkStatus();
    });
  }

  Status DeletePolicy(std::string_view id) override {
    return InWriteTransaction([&]() -> Status {
      CUSTOS_ASSIGN_OR_RETURN(Stmt s,
                              Prepare(write_db_.get(), "DELETE FROM policies WHERE id = ?"));
      BindText(s.get(), 1, id);
      if (sqlite3_step(s.get()) != SQLITE_DONE) return Error(write_db_.get(), "delete policy");
      if (sqlite3_changes(write_db_.get()) == 0) {
        return NotFoundError("policy " + std::string(id) + ": not found");
      }
      return OkStatus();
    });
  }

  Result<std::vector<PolicyRecord>> ListPolicies() override {
    std::lock_guard<std::mutex> l(read_mu_);
    CUSTOS_ASSIGN_OR_RETURN(Stmt s,
                            Prepare(read_db_.get(),
                                    "SELECT id, name, template, body, created_at_ns FROM policies "
                                    "ORDER BY created_at_ns, id"));
    std::vector<PolicyRecord> out;
    int rc;
    while ((rc = sqlite3_step(s.get())) == SQLITE_ROW) {
      out.push_back({ColumnText(s.get(), 0), ColumnText(s.get(), 1), ColumnText(s.get(), 2),
                     ColumnText(s.get(), 3), sqlite3_column_int64(s.get(), 4)});
    }
    if (rc != SQLITE_DONE) return Error(read_db_.get(), "list policies");
    return out;
  }

  Result<uint32_t> InsertTriggers(std::span<const TriggerRecord> triggers) override {
    uint32_t added = 0;
    Status st = InWriteTransaction([&]() -> Status {
      CUSTOS_ASSIGN_OR_RETURN(
          Stmt s, Prepare(write_db_.get(),
                          "INSERT OR IGNORE INTO triggers(person, kind, time_ns, end_ns, detail, "
                          "source, created_at_ns, dedup_key) VALUES(?,?,?,?,?,?,?,?)"));
      for (const auto& t : triggers) {
        sqlite3_reset(s.get());
        BindText(s.get(), 1, t.person);
        BindText(s.get(), 2, t.kind);
        sqlite3_bind_int64(s.get(), 3, t.time_ns);
        sqlite3_bind_int64(s.get(), 4, t.end_ns);
        BindText(s.get(), 5, t.detail);
        BindText(s.get(), 6, t.source);
        sqlite3_bind_int64(s.get(), 7, t.created_at_ns);
        if (t.dedup_key.empty()) {
          sqlite3_bind_null(s.get(), 8);
        } else {
          BindText(s.get(), 8, t.dedup_key);
        }
        if (sqlite3_step(s.get()) != SQLITE_DONE) return Error(write_db_.get(), "insert trigger");
        added += static_cast<uint32_t>(sqlite3_changes(write_db_.get()));
      }
      return OkStatus();
    });
    if (!st.ok()) return st;
    return added;
  }

  Result<std::vector<TriggerRecord>> ListTriggers(std::optional<std::string> person) override {
    std::lock_guard<std::mutex> l(read_mu_);
    std::string sql =
        "SELECT id, person, kind, time_ns, end_ns, detail, source, created_at_ns, "
        "coalesce(dedup_key, '') FROM triggers";
    if (person) sql += " WHERE person = ?";
    sql += " ORDER BY id";
    CUSTOS_ASSIGN_OR_RETURN(Stmt s, Prepare(read_db_.get(), sql));
    if (person) BindText(s.get(), 1, *person);
    std::vector<TriggerRecord> out;
    int rc;
    while ((rc = sqlite3_step(s.get())) == SQLITE_ROW) {
      TriggerRecord t;
      t.id = sqlite3_column_int64(s.get(), 0);
      t.person = ColumnText(s.get(), 1);
      t.kind = ColumnText(s.get(), 2);
      t.time_ns = sqlite3_column_int64(s.get(), 3);
      t.end_ns = sqlite3_column_int64(s.get(), 4);
      t.detail = ColumnText(s.get(), 5);
      t.source = ColumnText(s.get(), 6);
      t.created_at_ns = sqlite3_column_int64(s.get(), 7);
      t.dedup_key = ColumnText(s.get(), 8);
      out.push_back(std::move(t));
    }
    if (rc != SQLITE_DONE) return Error(read_db_.get(), "list triggers");
    return out;
  }

  Status ApplyAlertUpdates(std::span<AlertRecord> updates, int64_t now_ns) override {
    return InWriteTransaction([&]() -> Status {
      CUSTOS_ASSIGN_OR_RETURN(
          Stmt up, Prepare(write_db_.get(),
                           "UPDATE alerts SET score = ?, severity = ?, first_activity_ns = ?, "
                           "last_activity_ns = ?, explanation = ?, updated_at_ns = ?, "
                           "updates = updates + 1 WHERE person = ? AND policy_id = ? AND status "
                           "IN ('needs_review', 'confirmed') RETURNING id"));
      CUSTOS_ASSIGN_OR_RETURN(
          Stmt ins, Prepare(write_db_.get(),
                            "INSERT INTO alerts(person, policy_id, status, severity, score, "
                            "created_at_ns, updated_at_ns, first_activity_ns, last_activity_ns, "
                            "explanation) VALUES(?,?,'needs_review',?,?,?,?,?,?,?)"));
      for (auto& a : updates) {
        sqlite3_reset(up.get());
        sqlite3_bind_int64(up.get(), 1, a.score);
        BindText(up.get(), 2, a.severity);
        sqlite3_bind_int64(up.get(), 3, a.first_activity_ns);
        sqlite3_bind_int64(up.get(), 4, a.last_activity_ns);
        BindText(up.get(), 5, a.explanation_json);
        sqlite3_bind_int64(up.get(), 6, now_ns);
        BindText(up.get(), 7, a.person);
        BindText(up.get(), 8, a.policy_id);
        int rc = sqlite3_step(up.get());
        if (rc == SQLITE_ROW) {
          a.id = sqlite3_column_int64(up.get(), 0);
          while (sqlite3_step(up.get()) == SQLITE_ROW) {
          }
          continue;
        }
        if (rc != SQLITE_DONE) return Error(write_db_.get(), "update alert");
        sqlite3_reset(ins.get());
        BindText(ins.get(), 1, a.person);
        BindText(ins.get(), 2, a.policy_id);
        BindText(ins.get(), 3, a.severity);
        sqlite3_bind_int64(ins.get(), 4, a.score);
        sqlite3_bind_int64(ins.get(), 5, now_ns);
        sqlite3_bind_int64(ins.get(), 6, now_ns);
        sqlite3_bind_int64(ins.get(), 7, a.first_activity_ns);
        sqlite3_bind_int64(ins.get(), 8, a.last_activity_ns);
        BindText(ins.get(), 9, a.explanation_json);
        if (sqlite3_step(ins.get()) != SQLITE_DONE) return Error(write_db_.get(), "insert alert");
        a.id = sqlite3_last_insert_rowid(write_db_.get());
      }
      return OkStatus();
    });
  }

  Result<std::vector<AlertRecord>> QueryAlerts(const AlertQuery& q) override {
    std::string sql = std::string(kAlertColumns) + " WHERE 1=1";
    if (q.status) sql += " AND status = :status";
    if (q.open_only) sql += " AND status IN ('needs_review', 'confirmed')";
    if (q.severity) sql += " AND severity = :severity";
    if (q.person) sql += " AND person = :person";
    if (q.policy_id) sql += " AND policy_id = :policy";
    if (q.min_score) sql += " AND score >= :min_score";
    if (q.updated_since_ns) sql += " AND updated_at_ns >= :since";
    if (q.before_id) sql += " AND id < :before";
    sql += " ORDER BY id DESC LIMIT :limit";
    std::lock_guard<std::mutex> l(read_mu_);
    CUSTOS_ASSIGN_OR_RETURN(Stmt s, Prepare(read_db_.get(), sql));
    auto bind = [&](const char* name) { return sqlite3_bind_parameter_index(s.get(), name); };
    if (q.status) BindText(s.get(), bind(":status"), *q.status);
    if (q.severity) BindText(s.get(), bind(":severity"), *q.severity);
    if (q.person) BindText(s.get(), bind(":person"), *q.person);
    if (q.policy_id) BindText(s.get(), bind(":policy"), *q.policy_id);
    if (q.min_score) sqlite3_bind_int64(s.get(), bind(":min_score"), *q.min_score);
    if (q.updated_since_ns) sqlite3_bind_int64(s.get(), bind(":since"), *q.updated_since_ns);
    if (q.before_id) sqlite3_bind_int64(s.get(), bind(":before"), *q.before_id);
    sqlite3_bind_int64(s.get(), bind(":limit"), q.limit);
    std::vector<AlertRecord> out;
    int rc;
    while ((rc = sqlite3_step(s.get())) == SQLITE_ROW) out.push_back(ReadAlert(s.get()));
    if (rc != SQLITE_DONE) return Error(read_db_.get(), "query alerts");
    return out;
  }

  Result<AlertRecord> GetAlert(int64_t id) override {
    std::lock_guard<std::mutex> l(read_mu_);
    return GetAlertOn(read_db_.get(), id);
  }

  Result<AlertRecord> SetAlertStatus(int64_t id, std::string_view status, std::string_view reason,
                                     std::string_view by, int64_t now_ns,
                                     std::string_view close_snapshot) override {
    Result<AlertRecord> result = NotFoundError("");
    Status st = InWriteTransaction([&]() -> Status {
      CUSTOS_ASSIGN_OR_RETURN(AlertRecord a, GetAlertOn(write_db_.get(), id));
      if (a.status == kDismissed || a.status == kResolved) {
        return FailedPreconditionError("alert " + std::to_string(id) + " is already " + a.status +
                                       "; closed alerts are final (new activity raises a new "
                                       "alert)");
      }
      CUSTOS_ASSIGN_OR_RETURN(
          Stmt s, Prepare(write_db_.get(),
                          "UPDATE alerts SET status = ?, status_reason = ?, status_by = ?, "
                          "status_changed_at_ns = ?, close_snapshot = ? WHERE id = ?"));
      BindText(s.get(), 1, status);
      BindText(s.get(), 2, reason);
      BindText(s.get(), 3, by);
      sqlite3_bind_int64(s.get(), 4, now_ns);
      BindText(s.get(), 5, close_snapshot);
      sqlite3_bind_int64(s.get(), 6, id);
      if (sqlite3_step(s.get()) != SQLITE_DONE) return Error(write_db_.get(), "set alert status");
      result = GetAlertOn(write_db_.get(), id);
      return result.ok() ? OkStatus() : result.status();
    });
    if (!st.ok()) return st;
    return result;
  }

  Status CreateApiToken(const ApiTokenRecord& t, std::string_view token_sha256) override {
    return InWriteTransaction([&]() -> Status {
      CUSTOS_ASSIGN_OR_RETURN(
          Stmt s, Prepare(write_db_.get(),
                          "INSERT INTO api_tokens(id, token_sha256, role, name, created_at_ns) "
                          "VALUES(?,?,?,?,?)"));
      BindText(s.get(), 1, t.id);
      sqlite3_bind_blob(s.get(), 2, token_sha256.data(), static_cast<int>(token_sha256.size()),
                        SQLITE_TRANSIENT);
      BindText(s.get(), 3, t.role);
      BindText(s.get(), 4, t.name);
      sqlite3_bind_int64(s.get(), 5, t.created_at_ns);
      if (sqlite3_step(s.get()) != SQLITE_DONE) return Error(write_db_.get(), "create API token");
      return OkStatus();
    });
  }

  Result<ApiTokenRecord> FindApiToken(std::string_view token_sha256) override {
    std::lock_guard<std::mutex> l(read_mu_);
    CUSTOS_ASSIGN_OR_RETURN(
        Stmt s, Prepare(read_db_.get(),
                        "SELECT id, role, name, created_at_ns, revoked_at_ns FROM api_tokens "
                        "WHERE token_sha256 = ?"));
    sqlite3_bind_blob(s.get(), 1, token_sha256.data(), static_cast<int>(token_sha256.size()),
                      SQLITE_TRANSIENT);
    int rc = sqlite3_step(s.get());
    if (rc == SQLITE_DONE) return NotFoundError("api token: unknown");
    if (rc != SQLITE_ROW) return Error(read_db_.get(), "find API token");
    return ReadToken(s.get());
  }

  Result<std::vector<ApiTokenRecord>> ListApiTokens() override {
    std::lock_guard<std::mutex> l(read_mu_);
    CUSTOS_ASSIGN_OR_RETURN(
        Stmt s, Prepare(read_db_.get(),
                        "SELECT id, role, name, created_at_ns, revoked_at_ns FROM api_tokens "
                        "ORDER BY created_at_ns"));
    std::vector<ApiTokenRecord> out;
    int rc;
    while ((rc = sqlite3_step(s.get())) == SQLITE_ROW) out.push_back(ReadToken(s.get()));
    if (rc != SQLITE_DONE) return Error(read_db_.get(), "list API tokens");
    return out;
  }

  Status RevokeApiToken(std::string_view id, int64_t now_ns) override {
    return InWriteTransaction([&]() -> Status {
      CUSTOS_ASSIGN_OR_RETURN(
          Stmt s, Prepare(write_db_.get(),
                          "UPDATE api_tokens SET revoked_at_ns = coalesce(revoked_at_ns, ?) "
                          "WHERE id = ?"));
      sqlite3_bind_int64(s.get(), 1, now_ns);
      BindText(s.get(), 2, id);
      if (sqlite3_step(s.get()) != SQLITE_DONE) return Error(write_db_.get(), "revoke API token");
      if (sqlite3_changes(write_db_.get()) == 0) {
        return NotFoundError("api token " + std::string(id) + ": not found");
      }
      return OkStatus();
    });
  }

 private:
  struct AgentNames {
    std::string agent_id;
    std::string hostname;
    bool host_confirmed = true;
  };
  // Agents and users are never deleted or renamed, so cached names stay true; a confirmed host
  // stays confirmed.
  Result<AgentNames> LookupAgent(int64_t key) {
    CUSTOS_ASSIGN_OR_RETURN(
        Stmt s, Prepare(read_db_.get(),
                        "SELECT agent_id, hostname, host_confirmed FROM agents WHERE id = ?"));
    sqlite3_bind_int64(s.get(), 1, key);
    if (sqlite3_step(s.get()) != SQLITE_ROW) return Error(read_db_.get(), "agent of event");
    return AgentNames{ColumnText(s.get(), 0), ColumnText(s.get(), 1),
                      sqlite3_column_int(s.get(), 2) != 0};
  }
  Result<std::string> LookupUser(int64_t id) {
    CUSTOS_ASSIGN_OR_RETURN(Stmt s, Prepare(read_db_.get(), "SELECT name FROM users WHERE id = ?"));
    sqlite3_bind_int64(s.get(), 1, id);
    if (sqlite3_step(s.get()) != SQLITE_ROW) return Error(read_db_.get(), "user of event");
    return ColumnText(s.get(), 0);
  }

  static ApiTokenRecord ReadToken(sqlite3_stmt* s) {
    ApiTokenRecord t;
    t.id = ColumnText(s, 0);
    t.role = ColumnText(s, 1);
    t.name = ColumnText(s, 2);
    t.created_at_ns = sqlite3_column_int64(s, 3);
    if (sqlite3_column_type(s, 4) != SQLITE_NULL) t.revoked_at_ns = sqlite3_column_int64(s, 4);
    return t;
  }

  static AlertRecord ReadAlert(sqlite3_stmt* s) {
    AlertRecord a;
    a.id = sqlite3_column_int64(s, 0);
    a.person = ColumnText(s, 1);
    a.policy_id = ColumnText(s, 2);
    a.status = ColumnText(s, 3);
    a.severity = ColumnText(s, 4);
    a.score = static_cast<uint32_t>(sqlite3_column_int64(s, 5));
    a.created_at_ns = sqlite3_column_int64(s, 6);
    a.updated_at_ns = sqlite3_column_int64(s, 7);
    a.first_activity_ns = sqlite3_column_int64(s, 8);
    a.last_activity_ns = sqlite3_column_int64(s, 9);
    a.explanation_json = ColumnText(s, 10);
    a.status_reason = ColumnText(s, 11);
    a.status_by = ColumnText(s, 12);
    a.status_changed_at_ns = sqlite3_column_int64(s, 13);
    a.close_snapshot = ColumnText(s, 14);
    a.updates = static_cast<uint32_t>(sqlite3_column_int64(s, 15));
    return a;
  }

  Result<AlertRecord> GetAlertOn(sqlite3* db, int64_t id) {
    CUSTOS_ASSIGN_OR_RETURN(Stmt s, Prepare(db, std::string(kAlertColumns) + " WHERE id = ?"));
    sqlite3_bind_int64(s.get(), 1, id);
    int rc = sqlite3_step(s.get());
    if (rc == SQLITE_DONE) return NotFoundError("alert " + std::to_string(id) + ": not found");
    if (rc != SQLITE_ROW) return Error(db, "get alert");
    return ReadAlert(s.get());
  }

  Stmt feed_stmt_;                                  // guarded by read_mu_
  std::unordered_map<int64_t, AgentNames> agents_;  // guarded by read_mu_
  AgentNames unconfirmed_;  // the last unconfirmed agent looked up; guarded by read_mu_
  std::unordered_map<int64_t, std::string> users_;  // guarded by read_mu_
};

}  // namespace

Result<std::unique_ptr<RiskStore>> OpenSqliteRiskStore(const std::string& path) {
  auto store = std::make_unique<SqliteRiskStore>(path);
  CUSTOS_RETURN_IF_ERROR(store->Open());
  return std::unique_ptr<RiskStore>(std::move(store));
}

}  // namespace custos::collector::store
