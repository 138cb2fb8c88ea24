// What access control adds to a typical API request (issue 18's goal: authorisation,
// pseudonymisation and the audit append together add at most 10% to an alerts or events
// request). Each pair runs the same query on the same data:
//   *_Bare:     the store query and the JSON view, unmasked: what the request cost before
//               (no credential check, no role check, no masking, no audit entry);
//   *_ThroughApi: ApiService::Handle with a personal token: authentication, the role check,
//               pseudonyms (1,000-person directory), priority groups, and for events the
//               audit entry written before the read.
// Figures and the command: docs/performance.md ("Access control").
#include <benchmark/benchmark.h>

#include <memory>
#include <string>

#include "collector/api/api.h"
#include "collector/api/event_json.h"
#include "collector/api/responses.h"
#include "collector/api/testing/test_api.h"
#include "collector/api/views.h"
#include "collector/store/sqlite/sqlite_risk_store.h"
#include "collector/store/sqlite/sqlite_store.h"
#include "common/testing/testing.h"
#include "custos/v1/event.pb.h"

namespace custos::collector::api {
namespace {

void Check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "api_bench: %s failed\n", what);
    std::abort();
  }
}

constexpr int kPeople = 1000;
constexpr int kAlerts = 1000;
constexpr int kEvents = 20000;

struct World {
  custos::testing::TempDir dir;
  FakeClock clock;
  std::unique_ptr<store::Store> events;
  std::unique_ptr<store::RiskStore> risk;
  api_testing::TestApi api;
  std::string token;
  std::shared_ptr<const access::IdentityMasker> masker;
  std::unique_ptr<access::Pseudonymizer> pseudonymizer;
};

std::string Person(int i) { return "person" + std::to_string(i) + "@example.com"; }
std::string Login(int i) { return "login" + std::to_string(i); }

World* GetWorld() {
  static World* w = [] {
    auto* w = new World();
    const std::string db = w->dir.Sub("custos.db");
    auto events = store::OpenSqliteStore({.path = db});
    Check(events.ok(), "open store");
    w->events = std::move(*events);
    auto risk = store::OpenSqliteRiskStore(db);
    Check(risk.ok(), "open risk store");
    w->risk = std::move(*risk);
    std::vector<store::PersonRecord> people;
    std::vector<store::LoginRecord> logins;
    for (int i = 0; i < kPeople; ++i) {
      store::PersonRecord p;
      p.id = Person(i);
      p.display_name = "Person Number" + std::to_string(i);
      p.groups = {i % 100 == 0 ? "executives" : "staff"};
      people.push_back(p);
      logins.push_back({Login(i), "", Person(i)});
    }
    Check(w->risk->ReplaceDirectory(people, logins).ok(), "directory");
    std::vector<store::AlertRecord> alerts(kAlerts);
    for (int i = 0; i < kAlerts; ++i) {
      alerts[i].person = Person(i % kPeople);
      alerts[i].policy_id = "pol_" + std::to_string(i);
      alerts[i].severity = "high";
      alerts[i].score = 80;
      alerts[i].explanation_json =
          R"({"indicators":[{"id":"usb_copy","weight":40,"count":12,"sample":"/home/)" +
          Login(i % kPeople) + R"(/q3.xlsx"}]})";
    }
    Check(w->risk->ApplyAlertUpdates(alerts, 1).ok(), "alerts");
    store::AgentRecord agent;
    agent.agent_id = "agt_bench";
    agent.hostname = "ws-bench";
    agent.enrolled_at_ns = 1;
    auto registered = w->events->RegisterAgent(agent);
    Check(registered.ok(), "agent");
    for (int first = 0; first < kEvents; first += 1000) {
      store::BatchWrite b;
      b.agent_key = registered->key;
      b.epoch = 1;
      b.first_seq = static_cast<uint64_t>(first) + 1;
      std::vector<std::pair<size_t, size_t>> spans;
      for (int i = first; i < first + 1000; ++i) {
        v1::Event e;
        e.set_time_ns(1'000'000'000LL * i);
        e.mutable_actor()->set_login_user(Login(i % kPeople));
        e.mutable_actor()->set_executable("/usr/bin/cp");
        e.mutable_actor()->set_pid(4242);
        e.mutable_file()->set_op(v1::FILE_OP_MODIFY);
        e.mutable_file()->set_path("/home/" + Login(i % kPeople) + "/reports/q3-forecast.xlsx");
        e.mutable_file()->set_size(1'200'000);
        const std::string bytes = e.SerializeAsString();
        spans.emplace_back(b.buffer.size(), bytes.size());
        b.buffer += bytes;
        b.users.push_back(Login(i % kPeople));
      }
      for (size_t k = 0; k < spans.size(); ++k) {
        store::EventRow row;
        row.time_ns = 1'000'000'000LL * (first + static_cast<int>(k));
        row.type = store::EventType::kFile;
        row.user_index = static_cast<int32_t>(k);
        row.payload = std::string_view(b.buffer).substr(spans[k].first, spans[k].second);
        b.rows.push_back(row);
      }
      store::BatchWrite* batches[] = {&b};
      Check(w->events->CommitBatches(batches).ok(), "events");
    }
    w->api = api_testing::MakeTestApi(db, w->events.get(), w->risk.get(), &w->clock);
    auto account = w->api.api->accounts()->CreateAccount(
        {.username = "ana", .roles = {access::Role::kInvestigator}, .password = "long password"});
    Check(account.ok(), "account");
    const access::Principal self{.via = access::Principal::Via::kSession,
                                 .id = account->id,
                                 .name = "ana",
                                 .roles = account->roles};
    auto token = w->api.api->accounts()->CreatePersonalToken(self, account->id, "bench", {});
    Check(token.ok(), "token");
    w->token = token->secret;
    w->pseudonymizer = std::make_unique<access::Pseudonymizer>(std::string(32, 'k'));
    w->masker =
        std::make_shared<const access::IdentityMasker>(w->pseudonymizer.get(), people, logins);
    return w;
  }();
  return w;
}

HttpRequest Get(const std::string& target, const std::string& token) {
  HttpRequest r;
  r.method = "GET";
  Check(ParseTarget(target, &r).ok(), "target");
  r.authorization = "Bearer " + token;
  r.remote_address = "192.0.2.1";
  r.request_id = "bench";
  return r;
}

void BM_Alerts_Bare(benchmark::State& state) {
  World* w = GetWorld();
  const Viewer unmasked(w->masker, nullptr, nullptr, false, {});
  for (auto _ : state) {
    store::AlertQuery q;
    q.limit = 100;
    auto rows = w->risk->QueryAlerts(q);
    Check(rows.ok(), "query");
    std::map<std::string, std::string> names;  // as the route does, with no policy stored
    auto policies = w->risk->ListPolicies();
    Check(policies.ok(), "policies");
    for (const auto& p : *policies) names[p.id] = p.name;
    nlohmann::ordered_json list = nlohmann::ordered_json::array();
    for (const auto& a : *rows) list.push_back(AlertView(a, names[a.policy_id], unmasked));
    benchmark::DoNotOptimize(Json(200, Keyed("alerts", std::move(list))).body.size());
  }
}
BENCHMARK(BM_Alerts_Bare)->Unit(benchmark::kMicrosecond);

void BM_Part_AlertViewsMasked(benchmark::State& state) {
  World* w = GetWorld();
  store::AlertQuery q;
  q.limit = 100;
  auto rows = w->risk->QueryAlerts(q);
  Check(rows.ok(), "query");
  const Viewer viewer(w->masker, nullptr, nullptr, state.range(0) == 1, {});
  for (auto _ : state) {
    nlohmann::ordered_json list = nlohmann::ordered_json::array();
    for (const auto& a : *rows) list.push_back(AlertView(a, "", viewer));
    benchmark::DoNotOptimize(list.size());
  }
}
BENCHMARK(BM_Part_AlertViewsMasked)->Arg(0)->Arg(1)->Unit(benchmark::kMicrosecond);

void BM_Alerts_ThroughApi(benchmark::State& state) {
  World* w = GetWorld();
  const HttpRequest r = Get("/api/v1/alerts?limit=100", w->token);
  for (auto _ : state) {
    HttpResponse response = w->api.api->Handle(r);
    Check(response.status == 200, "alerts request");
    benchmark::DoNotOptimize(response.body.size());
  }
}
BENCHMARK(BM_Alerts_ThroughApi)->Unit(benchmark::kMicrosecond);

// The parts, to see where the difference goes: authentication alone, the viewer alone.
void BM_Part_AuthenticatePersonalToken(benchmark::State& state) {
  World* w = GetWorld();
  for (auto _ : state) {
    auto p = w->api.api->accounts()->AuthenticateToken(w->token);
    Check(p.ok(), "authenticate");
    benchmark::DoNotOptimize(p->id.size());
  }
}
BENCHMARK(BM_Part_AuthenticatePersonalToken)->Unit(benchmark::kMicrosecond);

void BM_Part_NotFoundRoute(benchmark::State& state) {
  World* w = GetWorld();
  const HttpRequest r = Get("/api/v1/nothing", w->token);
  for (auto _ : state) benchmark::DoNotOptimize(w->api.api->Handle(r).status);
}
BENCHMARK(BM_Part_NotFoundRoute)->Unit(benchmark::kMicrosecond);

void BM_Part_ViewerFor(benchmark::State& state) {
  World* w = GetWorld();
  const access::Principal p{.via = access::Principal::Via::kPersonalToken,
                            .id = "usr_x",
                            .name = "ana",
                            .roles = {access::Role::kInvestigator}};
  auto rules = std::make_shared<const access::PriorityRules>();
  for (auto _ : state) {
    Viewer v(w->masker, rules, &p, true, {});
    benchmark::DoNotOptimize(v.Person(Person(7)).size());
  }
}
BENCHMARK(BM_Part_ViewerFor)->Unit(benchmark::kMicrosecond);

void BM_Events_Bare(benchmark::State& state) {
  World* w = GetWorld();
  const Viewer unmasked(w->masker, nullptr, nullptr, false, {});
  for (auto _ : state) {
    store::EventQuery q;
    q.limit = 100;
    auto rows = w->events->QueryEvents(q);
    Check(rows.ok(), "query");
    nlohmann::ordered_json list = nlohmann::ordered_json::array();
    for (const auto& e : *rows) list.push_back(EventView(e, unmasked));
    benchmark::DoNotOptimize(Json(200, Keyed("events", std::move(list))).body.size());
  }
}
BENCHMARK(BM_Events_Bare)->Unit(benchmark::kMicrosecond);

void BM_Events_ThroughApi(benchmark::State& state) {
  World* w = GetWorld();
  const HttpRequest r = Get("/api/v1/events?limit=100", w->token);
  for (auto _ : state) {
    HttpResponse response = w->api.api->Handle(r);
    Check(response.status == 200, "events request");
    benchmark::DoNotOptimize(response.body.size());
  }
}
BENCHMARK(BM_Events_ThroughApi)->Unit(benchmark::kMicrosecond);

}  // namespace

// The data is built before any benchmark runs, so that instruction counts under callgrind
// (valgrind --tool=callgrind) compare the requests alone.
void BuildWorld() { GetWorld(); }

}  // namespace custos::collector::api

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  custos::collector::api::BuildWorld();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
