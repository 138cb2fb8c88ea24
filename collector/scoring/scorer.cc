#include "collector/scoring/scorer.h"

#include <pthread.h>

#include <condition_variable>
#include <deque>
#include <functional>
#include <future>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "common/log/log.h"

namespace custos::collector::scoring {
namespace {

class ScorerThread final : public Scorer {
 public:
  ScorerThread(const ScorerOptions& options, store::RiskStore* store, metrics::Registry* registry,
               Clock* clock)
      : options_(options),
        store_(store),
        clock_(clock),
        events_total_(registry->GetCounter("custos_scoring_events_total", "Events scored")),
        bad_payloads_(registry->GetCounter(
            "custos_scoring_bad_payloads_total",
            "Stored events whose payload could not be parsed (skipped by scoring)")),
        alert_updates_(
            registry->GetCounter("custos_scoring_alert_updates_total", "Alerts raised or revised")),
        failures_(registry->GetCounter("custos_scoring_failures_total",
                                       "Scoring rounds that failed (retried)")),
        future_events_(registry->GetCounter(
            "custos_scoring_future_events_total",
            "Events dated more than a day ahead of the collector's clock (stored, not scored)")),
        round_seconds_(registry->GetHistogram("custos_scoring_round_seconds",
                                              "Duration of one scoring round",
                                              metrics::LatencyBounds())) {}

  ~ScorerThread() override { Stop(); }

  Status Init() {
    CUSTOS_RETURN_IF_ERROR(Rebuild());
    thread_ = std::thread([this] { Run(); });
    return OkStatus();
  }

  void Notify() override {
    std::lock_guard<std::mutex> l(mu_);
    notified_ = true;
    cv_.notify_one();
  }

  Status Reload() override {
    return Call([this] { return Rebuild(); });
  }

  Status AddTriggers(std::vector<store::TriggerRecord> triggers) override {
    return Call([this, t = std::move(triggers)] {
      for (const auto& r : t) ApplyTrigger(r);
      return Flush();
    });
  }

  Result<store::AlertRecord> SetAlertStatus(int64_t id, std::string_view status,
                                            std::string_view reason, std::string_view by) override {
    Result<store::AlertRecord> out = NotFoundError("");
    Status s = Call([&]() -> Status {
      CUSTOS_ASSIGN_OR_RETURN(store::AlertRecord a, store_->GetAlert(id));
      std::string snapshot;
      const bool closing = status == store::kDismissed || status == store::kResolved;
      if (closing && a.status != store::kDismissed && a.status != store::kResolved) {
        snapshot = engine_->CloseAlert(a.person, a.policy_id, clock_->NowUnixNs());
      }
      out = store_->SetAlertStatus(id, status, reason, by, clock_->NowUnixNs(), snapshot);
      if (!out.ok()) {
        if (!snapshot.empty()) {
          // The engine moved ahead of the store: rebuild it from the store (on failure the
          // previous engine stays, and the next Reload or restart repairs it).
          Status r = Rebuild();
          if (!r.ok())
            logging::Warn("scoring: rebuild after a failed close", {{"error", r.ToString()}});
        }
        return out.status();
      }
      // The change is stored: what follows only refreshes scores, and a failure there must not
      // tell the caller the change failed (a retry would then hit 409).
      Status after = RefreshPriorCases(a.person);
      if (after.ok()) after = Flush();
      if (!after.ok()) {
        engine_->MarkDirty(a.person);
        logging::Warn("scoring: alert status stored, rescoring deferred",
                      {{"alert", id}, {"error", after.ToString()}});
      }
      return OkStatus();
    });
    if (!s.ok()) return s;
    return out;
  }

  void Stop() override {
    {
      std::lock_guard<std::mutex> l(mu_);
      stopping_ = true;
      cv_.notify_all();
    }
    if (thread_.joinable()) thread_.join();
    // Commands queued after the thread ended fail instead of hanging their callers.
    std::deque<std::function<void()>> left;
    {
      std::lock_guard<std::mutex> l(mu_);
      left.swap(commands_);
    }
    for (auto& c : left) c();
  }

 private:
  // Runs fn on the scorer thread and waits for its status.
  Status Call(std::function<Status()> fn) {
    auto done = std::make_shared<std::promise<Status>>();
    auto fut = done->get_future();
    {
      std::lock_guard<std::mutex> l(mu_);
      if (stopping_) return UnavailableError("scoring: stopped");
      commands_.push_back([this, fn = std::move(fn), done] {
        bool stopping;
        {
          std::lock_guard<std::mutex> l(mu_);
          stopping = stopping_ && !thread_running_;
        }
        Status result = UnavailableError("scoring: stopped");
        if (!stopping) {
          try {
            result = fn();
          } catch (const std::exception& e) {
            result = InternalError(std::string("scoring: command failed: ") + e.what());
          }
        }
        done->set_value(result);
      });
      cv_.notify_one();
    }
    return fut.get();
  }

  void Run() {
    pthread_setname_np(pthread_self(), "custos-scorer");  // visible in top -H and perf
    {
      std::lock_guard<std::mutex> l(mu_);
      thread_running_ = true;
    }
    while (true) {
      std::deque<std::function<void()>> commands;
      {
        std::unique_lock<std::mutex> l(mu_);
        cv_.wait_for(l, options_.poll_interval,
                     [&] { return stopping_ || notified_ || !commands_.empty(); });
        if (stopping_) break;
        notified_ = false;
        commands.swap(commands_);
      }
      for (auto& c : commands) c();
      bool more = true;
      while (more) {
        auto start = std::chrono::steady_clock::now();
        Result<bool> r = InternalError("scoring: round did not run");
        try {
          r = Round();
        } catch (const std::exception& e) {
          // Nothing an event contains may stop scoring; the round is retried (a poisoned
          // event would repeat — logged, counted, never a crash).
          r = InternalError(std::string("scoring: round threw: ") + e.what());
        }
        round_seconds_->Observe(
            std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
        if (!r.ok()) {
          failures_->Inc();
          logging::Warn("scoring round failed; retrying", {{"error", r.status().ToString()}});
          break;
        }
        more = *r;
        std::lock_guard<std::mutex> l(mu_);
        if (stopping_ || !commands_.empty()) break;
      }
    }
    std::lock_guard<std::mutex> l(mu_);
    thread_running_ = false;
  }

  // One batch from the feed; true when more is waiting.
  Result<bool> Round() {
    max_time_ns_ = clock_->NowUnixNs() + kNanosPerDay;
    CUSTOS_ASSIGN_OR_RETURN(uint32_t n,
                            store_->ScanEventsAfter(cursor_, options_.batch_events,
                                                    [this](const store::FeedEventView& f) {
                                                      Observe(f);
                                                      cursor_ = f.id;
                                                    }));
    const bool more = n == options_.batch_events;
    // Scores (and explanations, which are JSON) are recomputed at most every flush_interval
    // under load: recomputing after every commit was the larger part of scoring's CPU
    // (docs/performance.md); an alert still appears within poll + flush interval.
    const auto now = std::chrono::steady_clock::now();
    if (now - last_flush_ >= options_.flush_interval) {
      CUSTOS_RETURN_IF_ERROR(Flush());
      last_flush_ = now;
    }
    return more;
  }

  void Observe(const store::FeedEventView& f) {
    if (f.time_ns < min_time_ns_) return;  // older than any window: nothing to score
    // An agent clock far ahead (or a forged time) must not move every window and drop the
    // person's history: such events are stored but not scored, and counted.
    if (f.time_ns > max_time_ns_) {
      future_events_->Inc();
      return;
    }
    custos::v1::Event* event = &scratch_event_;
    if (!ParseScoredPayload(f.payload, event)) {
      bad_payloads_->Inc();
      return;
    }
    EngineEvent e;
    e.agent_id = f.agent_id;
    if (f.host_confirmed) {
      e.host = f.hostname;
    } else {
      // A second agent claiming a known host name must not be scored as that host's people
      // until an admin confirms it: its events get a host of their own.
      unconfirmed_host_.assign(f.hostname);
      unconfirmed_host_ += " (unconfirmed agent ";
      unconfirmed_host_ += f.agent_id;
      unconfirmed_host_ += ")";
      e.host = unconfirmed_host_;
    }
    e.epoch = f.epoch;
    e.seq = f.seq;
    e.time_ns = f.time_ns;
    e.login = f.user;
    e.event = event;
    engine_->Observe(e);
    events_total_->Inc();
  }

  Status Flush() {
    std::vector<AlertUpdate> updates = engine_->TakeUpdates();
    if (updates.empty()) return OkStatus();
    std::vector<store::AlertRecord> rows;
    rows.reserve(updates.size());
    for (auto& u : updates) {
      store::AlertRecord a;
      a.person = std::move(u.person);
      a.policy_id = std::move(u.policy_id);
      a.score = u.score;
      a.severity = std::move(u.severity);
      a.first_activity_ns = u.first_activity_ns;
      a.last_activity_ns = u.last_activity_ns;
      a.explanation_json = std::move(u.explanation_json);
      rows.push_back(std::move(a));
    }
    Status s = store_->ApplyAlertUpdates(rows, clock_->NowUnixNs());
    if (!s.ok()) {
      // The engine believes these were written: mark the people dirty again so the next round
      // retries them.
      for (const auto& r : rows) engine_->SeedExplanation(r.person, r.policy_id, "");
      for (const auto& r : rows) engine_->MarkDirty(r.person);
      return s;
    }
    alert_updates_->Inc(rows.size());
    return OkStatus();
  }

  void ApplyTrigger(const store::TriggerRecord& r) {
    auto kind = ParseTriggerKind(r.kind);
    if (!kind) {
      logging::Warn("scoring: stored trigger has an unknown kind; ignored",
                    {{"trigger", r.id}, {"kind", r.kind}});
      return;
    }
    engine_->AddTrigger({r.person, *kind, r.time_ns, r.end_ns, r.detail});
  }

  Status RefreshPriorCases(const std::string& person) {
    store::AlertQuery q;
    q.person = person;
    q.limit = 10'000;
    CUSTOS_ASSIGN_OR_RETURN(auto alerts, store_->QueryAlerts(q));
    // Confirmed or resolved alerts are prior cases — except, for each policy, that policy's own
    // open alert (confirming an alert must not boost that same alert).
    uint32_t total = 0;
    std::map<std::string, uint32_t> own_open_confirmed;
    for (const auto& a : alerts) {
      if (a.status == store::kResolved || a.status == store::kConfirmed) ++total;
      if (a.status == store::kConfirmed) ++own_open_confirmed[a.policy_id];
    }
    for (const auto& id : policy_ids_) {
      engine_->SetPriorConfirmed(person, id, total - own_open_confirmed[id]);
    }
    return OkStatus();
  }

  Status Rebuild() {
    CUSTOS_ASSIGN_OR_RETURN(auto policy_rows, store_->ListPolicies());
    std::vector<Policy> policies;
    uint32_t longest_days = options_.engine.baseline_days;
    for (const auto& row : policy_rows) {
      auto p = PolicyFromTemplate(row.template_id, row.name);
      if (!p.ok()) {
        logging::Warn("scoring: stored policy has an unknown template; skipped",
                      {{"policy", row.id}, {"error", p.status().ToString()}});
        continue;
      }
      Status s = ApplyPolicyJson(row.body_json, &*p);
      if (!s.ok()) {
        logging::Warn("scoring: stored policy is invalid; skipped",
                      {{"policy", row.id}, {"error", s.ToString()}});
        continue;
      }
      p->id = row.id;
      p->created_at_ns = row.created_at_ns;
      longest_days = std::max(longest_days, p->historic_days + p->activation_days);
      policies.push_back(std::move(*p));
    }
    options_.engine.retain_days = longest_days + 1;
    auto engine = std::make_unique<ScoringEngine>(options_.engine);
    engine->SetPolicies(std::move(policies));
    CUSTOS_ASSIGN_OR_RETURN(auto people, store_->ListPeople());
    CUSTOS_ASSIGN_OR_RETURN(auto logins, store_->ListLogins());
    std::vector<Person> ps;
    for (auto& p : people) {
      ps.push_back({p.id, p.display_name, p.department, p.manager, p.groups});
    }
    std::vector<DirectoryLogin> ls;
    for (auto& l : logins) ls.push_back({l.login, l.host, l.person});
    engine->SetDirectory(std::move(ps), std::move(ls));
    CUSTOS_ASSIGN_OR_RETURN(auto triggers, store_->ListTriggers(std::nullopt));
    std::vector<std::string> ids;
    for (const auto& row : policy_rows) ids.push_back(row.id);
    // From here the new engine is in place; if anything fails before the end, the old engine,
    // cursor and window come back (a half-built engine would re-raise closed alerts).
    std::swap(engine_, engine);
    std::swap(policy_ids_, ids);
    const int64_t old_cursor = cursor_, old_min = min_time_ns_;
    bool rebuilt = false;
    struct Undo {
      std::function<void()> fn;
      ~Undo() { fn(); }
    } undo{[&] {
      if (rebuilt) return;
      std::swap(engine_, engine);
      std::swap(policy_ids_, ids);
      cursor_ = old_cursor;
      min_time_ns_ = old_min;
    }};
    if (max_time_ns_ == INT64_MAX) max_time_ns_ = clock_->NowUnixNs() + kNanosPerDay;
    for (const auto& t : triggers) ApplyTrigger(t);

    // Replay the retained events.
    const int64_t now = clock_->NowUnixNs();
    min_time_ns_ = now - static_cast<int64_t>(longest_days + 1) * kNanosPerDay;
    CUSTOS_ASSIGN_OR_RETURN(int64_t first, store_->FirstEventIdSince(min_time_ns_));
    cursor_ = first - 1;
    while (true) {
      CUSTOS_ASSIGN_OR_RETURN(uint32_t n,
                              store_->ScanEventsAfter(cursor_, options_.batch_events,
                                                      [this](const store::FeedEventView& f) {
                                                        Observe(f);
                                                        cursor_ = f.id;
                                                      }));
      if (n < options_.batch_events) break;
    }
    // Alerts: closes (with their snapshots), prior cases, and what open alerts already say.
    store::AlertQuery q;
    q.limit = 1'000'000;
    CUSTOS_ASSIGN_OR_RETURN(auto alerts, store_->QueryAlerts(q));
    std::set<std::string> people_with_alerts;
    for (auto it = alerts.rbegin(); it != alerts.rend(); ++it) {  // oldest first
      const auto& a = *it;
      people_with_alerts.insert(a.person);
      if (!a.close_snapshot.empty()) engine_->RestoreClose(a.person, a.policy_id, a.close_snapshot);
    }
    for (const auto& person : people_with_alerts) CUSTOS_RETURN_IF_ERROR(RefreshPriorCases(person));
    for (const auto& a : alerts) {
      if (a.status == store::kNeedsReview || a.status == store::kConfirmed) {
        engine_->SeedExplanation(a.person, a.policy_id, a.explanation_json);
      }
    }
    CUSTOS_RETURN_IF_ERROR(Flush());
    rebuilt = true;
    logging::Info("scoring: state rebuilt", {{"policies", policy_rows.size()},
                                             {"people", engine_->people()},
                                             {"triggers", triggers.size()},
                                             {"replayed_through_event", cursor_}});
    return OkStatus();
  }

  ScorerOptions options_;
  store::RiskStore* store_;
  Clock* clock_;
  std::unique_ptr<ScoringEngine> engine_;  // scorer thread only (and Init before it starts)
  int64_t cursor_ = 0;                     // scorer thread only
  int64_t min_time_ns_ = 0;                // scorer thread only
  int64_t max_time_ns_ = INT64_MAX;        // scorer thread only: now + 1 day
  std::vector<std::string> policy_ids_;    // scorer thread only
  custos::v1::Event scratch_event_;        // scorer thread only: the event being observed
  std::string unconfirmed_host_;           // scorer thread only: its host when unconfirmed
  std::chrono::steady_clock::time_point last_flush_{};  // scorer thread only
  metrics::Counter* events_total_;
  metrics::Counter* bad_payloads_;
  metrics::Counter* alert_updates_;
  metrics::Counter* failures_;
  metrics::Counter* future_events_;
  metrics::Histogram* round_seconds_;

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> commands_;  // guarded by mu_
  bool notified_ = false;                       // guarded by mu_
  bool stopping_ = false;                       // guarded by mu_
  bool thread_running_ = false;                 // guarded by mu_
  std::thread thread_;
};

}  // namespace

Result<std::unique_ptr<Scorer>> Scorer::Start(const ScorerOptions& options, store::RiskStore* store,
                                              metrics::Registry* registry, Clock* clock) {
  auto s = std::make_unique<ScorerThread>(options, store, registry, clock);
  CUSTOS_RETURN_IF_ERROR(s->Init());
  return std::unique_ptr<Scorer>(std::move(s));
}

}  // namespace custos::collector::scoring
