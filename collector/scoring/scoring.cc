#include "collector/scoring/scoring.h"

#include <fnmatch.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <nlohmann/json.hpp>

#include <set>
#include <unordered_map>
#include "common/time/clock.h"

namespace custos::collector::scoring {
namespace {

using nlohmann::json;
constexpr double kBoost = 1.25;
constexpr uint32_t kFullSequencePoints = 15;
constexpr uint32_t kPartialSequencePoints = 8;
constexpr uint32_t kMaxSequencePoints = 30;
constexpr uint32_t kCumulativePoints = 10;
constexpr double kCumulativeFactor = 3.0;
constexpr uint32_t kMinPeopleForNorm = 3;
constexpr size_t kMaxSequencesKept = 50;

int64_t SatAdd(int64_t a, int64_t b) {
  int64_t r;
  if (__builtin_add_overflow(a, b, &r)) return b > 0 ? INT64_MAX : INT64_MIN;
  return r;
}

int64_t DayOf(int64_t ns) {
  return ns >= 0 ? ns / kNanosPerDay : (ns - kNanosPerDay + 1) / kNanosPerDay;
}

// "2026-11-21": the UTC date of a day number.
std::string DayName(int64_t day) { return FormatUnixNs(day * kNanosPerDay).substr(0, 10); }

std::string_view StageName(Stage s) {
  switch (s) {
    case Stage::kCollection:
      return "collection";
    case Stage::kObfuscation:
      return "obfuscation";
    case Stage::kExfiltration:
      return "exfiltration";
    case Stage::kCleanup:
      return "clean-up";
    case Stage::kNone:
      break;
  }
  return "none";
}

uint64_t NameKey(std::string_view name) { return std::hash<std::string_view>{}(name); }

struct Sample {
  std::string agent_id;
  uint64_t epoch = 0;
  uint64_t seq = 0;
  int64_t time_ns = 0;
  std::string what;
};

struct Counter {
  uint32_t count = 0;
  uint64_t bytes = 0;
  std::vector<Sample> samples;
};

struct Day {
  std::array<Counter, kIndicatorCount> ind;
  std::vector<Counter> priority;  // by policy index
  uint64_t exfil_bytes = 0;
};

struct Chain {
  std::array<int64_t, 5> at{};  // by Stage; 0 = not seen
  std::vector<std::string> names;
  int64_t last_ns = 0;
  Sample last;
};

struct SequenceHit {
  uint64_t chain = 0;
  int64_t start_ns = 0;
  int64_t end_ns = 0;
  int stages = 0;
  std::vector<std::string> stage_names;
  std::vector<std::string> names;
  Sample last;
};

struct PolicyPerson {
  int64_t floor_ns = 0;  // activity before this is not scored (alert closed)
  // Counts of the day the alert was closed, at the close: subtracted from that day.
  int64_t floor_day = INT64_MIN;
  std::array<uint32_t, kIndicatorCount> floor_counts{};
  std::vector<uint32_t> floor_priority;  // by policy index
  int64_t self_trigger_ns = 0;           // first trigger-indicator hit after floor_ns
  int64_t last_trigger_hit_ns = 0;
  Sample self_trigger_sample;
  std::string last_explanation;  // what the last update said
  uint32_t prior_confirmed = 0;
};

struct PersonState {
  std::string id;
  std::map<int64_t, Day> days;
  std::set<std::string> usb_seen;
  // Keyed by a 64-bit hash of the file name: no string kept per tracked file (a collision can
  // only join two files' stages; the names shown come from the chain itself).
  std::unordered_map<uint64_t, uint64_t> name_to_chain;
  std::map<uint64_t, Chain> chains;
  uint64_t next_chain = 1;
  std::vector<SequenceHit> sequences;
  std::vector<Trigger> triggers;
  int64_t first_seen_ns = 0;
  std::unordered_map<std::string, PolicyPerson> per_policy;  // by policy id
  bool dirty = false;
};

struct OrgDay {
  uint64_t exfil_bytes = 0;
  uint32_t active_people = 0;
};

// At most `max` bytes of `s`, never cutting a UTF-8 sequence in two.
std::string Utf8Prefix(const std::string& s, size_t max) {
  if (s.size() <= max) return s;
  size_t n = max;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
  return s.substr(0, n);
}

std::string Describe(const custos::v1::Event& e) {
  switch (e.payload_case()) {
    case custos::v1::Event::kFile: {
      const auto& f = e.file();
      static constexpr std::array<std::string_view, 8> kOps = {
          "file",     "created",
          "modified", "deleted",
          "renamed",  "attributes changed",
          "read",     "copied to removable media"};
      std::string op(f.op() >= 0 && f.op() < 8 ? kOps[f.op()] : "file");
      std::string s = op + " " + f.path();
      if (!f.old_path().empty()) s += " (was " + f.old_path() + ")";
      if (!f.source_path().empty()) s += " (from " + f.source_path() + ")";
      return s;
    }
    case custos::v1::Event::kSetting: {
      const auto& s = e.setting();
      std::string out = s.area() + " " + s.key() + ": ";
      out += s.summary().empty() ? s.old_value() + " -> " + s.new_value()
                                 : Utf8Prefix(s.summary(), 200);
      return out;
    }
    case custos::v1::Event::kUsb:
      return "USB device " + e.usb().manufacturer() + " " + e.usb().product() + " (" +
             e.usb().fingerprint() + ")";
    case custos::v1::Event::kNetwork:
      return "uploaded " + e.network().path() + " to " + e.network().destination();
    case custos::v1::Event::kEventsLost:
      return "events lost: " + e.events_lost().reason();
    case custos::v1::Event::kGap:
      return "spool gap: " + std::to_string(e.gap().dropped_count()) + " records dropped";
    default:
      return "event";
  }
}

json SampleJson(const Sample& s) {
  return {{"agent_id", s.agent_id},
          {"epoch", s.epoch},
          {"seq", s.seq},
          {"time_ns", s.time_ns},
          {"what", s.what}};
}

bool Listed(const std::vector<std::string>& list, const std::string& v) {
  return std::find(list.begin(), list.end(), v) != list.end();
}

bool Intersects(const std::vector<std::string>& a, const std::vector<std::string>& b) {
  for (const auto& x : a) {
    if (Listed(b, x)) return true;
  }
  return false;
}

// The longest run of literal characters in a glob: a path without it cannot match.
std::string LiteralCore(const std::string& glob) {
  std::string best, run;
  for (char c : glob) {
    if (c == '*' || c == '?' || c == '[' || c == ']' || c == '\\') {
      if (run.size() > best.size()) best = run;
      run.clear();
    } else {
      run += c;
    }
  }
  return run.size() > best.size() ? run : best;
}

// A policy's priority content, prepared once per policy (this runs for every file event).
struct PriorityMatcher {
  const PriorityContent* content = nullptr;
  std::vector<std::string> cores;  // LiteralCore of each path glob

  explicit PriorityMatcher(const PriorityContent& pc) : content(&pc) {
    for (const auto& g : pc.paths) cores.push_back(LiteralCore(g));
  }

  bool Matches(const EventFacts& f) const {
    const PriorityContent& pc = *content;
    if (pc.empty() || f.path.empty()) return false;
    if (f.labels != nullptr && !pc.labels.empty()) {
      for (const auto& l : *f.labels) {
        if (Listed(pc.labels, l)) return true;
      }
    }
    const std::string_view paths[2] = {f.path, f.source_path};
    const std::string* exts[2] = {&f.extension, &f.source_extension};
    for (int i = 0; i < 2; ++i) {
      if (paths[i].empty()) continue;
      if (!pc.extensions.empty() && !exts[i]->empty() && Listed(pc.extensions, *exts[i])) {
        return true;
      }
      for (size_t g = 0; g < pc.paths.size(); ++g) {
        // fnmatch is the measured hot spot: skip it when the glob's literal part is absent
        // (exact: such a path cannot match).
        if (!cores[g].empty() && paths[i].find(cores[g]) == std::string_view::npos) continue;
        if (fnmatch(pc.paths[g].c_str(), std::string(paths[i]).c_str(), 0) == 0) return true;
      }
    }
    return false;
  }
};

}  // namespace

struct ScoringEngine::State {
  EngineOptions options;
  std::vector<Policy> policies;
  std::vector<PriorityMatcher> matchers;           // by policy index
  std::vector<char> self_triggered;                // by policy index: has the `indicator` trigger
  std::unordered_map<std::string, Person> people;  // by id
  std::unordered_map<std::string, std::string> login_host;        // "login\nhost" -> person id
  std::unordered_map<std::string, std::string> login_any;         // login -> person id
  std::unordered_map<std::string, PersonState> persons;           // by person id
  std::unordered_map<std::string, std::string> host_last_person;  // host -> person id
  std::map<int64_t, OrgDay> org_days;
  std::vector<std::string> dirty;
  EventFacts facts;  // Observe's scratch
  // Last (login, host) resolved by Observe; persons' addresses are stable (unordered_map nodes).
  std::string memo_login, memo_host;
  PersonState* memo_person = nullptr;

  PersonState& Get(const std::string& id) {
    auto [it, inserted] = persons.try_emplace(id);
    if (inserted) it->second.id = id;
    return it->second;
  }
  void Touch(PersonState& p) {
    if (!p.dirty) {
      p.dirty = true;
      dirty.push_back(p.id);
    }
  }

  void Count(Counter& c, const EngineEvent& e, uint64_t bytes, const std::string& what_prefix) {
    ++c.count;
    c.bytes += bytes;
    if (c.samples.size() < options.samples_per_indicator) {
      c.samples.push_back(
          {std::string(e.agent_id), e.epoch, e.seq, e.time_ns, what_prefix + Describe(*e.event)});
    }
  }

  void TrackSequence(PersonState& p, const EventFacts& f, const EngineEvent& e) {
    if (f.stage == Stage::kNone || f.name.empty()) return;
    const int64_t window =
        std::chrono::duration_cast<std::chrono::nanoseconds>(options.sequence_window).count();
    auto lookup = [&](std::string_view name) -> Chain* {
      if (name.empty()) return nullptr;
      auto it = p.name_to_chain.find(NameKey(name));
      if (it == p.name_to_chain.end()) return nullptr;
      auto c = p.chains.find(it->second);
      if (c == p.chains.end() || e.time_ns - c->second.last_ns > window) return nullptr;
      return &c->second;
    };
    Chain* chain = lookup(f.name);
    if (chain == nullptr) chain = lookup(f.previous_name);
    uint64_t chain_id = 0;
    if (chain == nullptr) {
      if (f.stage == Stage::kCleanup) return;  // deleting an unrelated file is no sequence
      chain_id = p.next_chain++;
      chain = &p.chains[chain_id];
    } else {
      const std::string_view key =
          f.name.empty() || lookup(f.name) == nullptr ? f.previous_name : f.name;
      chain_id = p.name_to_chain.find(NameKey(key))->second;
    }
    const size_t stage = static_cast<size_t>(f.stage);
    if (f.stage == Stage::kCleanup && chain->at[static_cast<size_t>(Stage::kExfiltration)] == 0) {
      return;  // clean-up only completes a sequence that exfiltrated
    }
    if (chain->at[stage] == 0) chain->at[stage] = e.time_ns;
    chain->last_ns = e.time_ns;
    const int stages_seen = static_cast<int>(
        std::count_if(chain->at.begin() + 1, chain->at.end(), [](int64_t t) { return t != 0; }));
    // Only a chain that can become a sequence needs its last event described (most chains are a
    // single created file).
    if (stages_seen >= 2) {
      chain->last = {std::string(e.agent_id), e.epoch, e.seq, e.time_ns, Describe(*e.event)};
    }
    for (std::string_view n : {f.previous_name, f.name}) {
      if (n.empty()) continue;
      // Names are kept once a chain has two stages: the event that adds the second stage names
      // the first one's file too (rename: old name; copy: source name), so nothing is lost and a
      // lone created file costs no string.
      if (stages_seen >= 2 &&
          std::find(chain->names.begin(), chain->names.end(), n) == chain->names.end()) {
        chain->names.emplace_back(n);
      }
      p.name_to_chain[NameKey(n)] = chain_id;
    }
    // Bound memory: forget the oldest chains (and names pointing at them lazily).
    while (p.chains.size() > options.max_tracked_names) p.chains.erase(p.chains.begin());
    if (p.name_to_chain.size() > 2 * options.max_tracked_names) {
      for (auto it = p.name_to_chain.begin(); it != p.name_to_chain.end();) {
        it = p.chains.count(it->second) == 0 ? p.name_to_chain.erase(it) : std::next(it);
      }
    }
    const int64_t exfil = chain->at[static_cast<size_t>(Stage::kExfiltration)];
    if (exfil == 0) return;
    SequenceHit hit;
    hit.chain = chain_id;
    hit.start_ns = INT64_MAX;
    for (size_t s = 1; s < chain->at.size(); ++s) {
      if (chain->at[s] == 0) continue;
      ++hit.stages;
      hit.stage_names.emplace_back(StageName(static_cast<Stage>(s)));
      hit.start_ns = std::min(hit.start_ns, chain->at[s]);
      hit.end_ns = std::max(hit.end_ns, chain->at[s]);
    }
    if (hit.stages < 3) return;
    hit.names = chain->names;
    hit.last = chain->last;
    for (auto& h : p.sequences) {
      if (h.chain == chain_id) {
        h = std::move(hit);
        return;
      }
    }
    p.sequences.push_back(std::move(hit));
    if (p.sequences.size() > kMaxSequencesKept) p.sequences.erase(p.sequences.begin());
  }

  bool InScope(const Policy& pol, const PersonState& p) const {
    auto person = people.find(p.id);
    static const std::vector<std::string> kNone;
    const auto& groups = person != people.end() ? person->second.groups : kNone;
    if (Listed(pol.scope.excluded, p.id)) return false;
    if (pol.scope.all) return true;
    return Listed(pol.scope.people, p.id) || Intersects(pol.scope.groups, groups);
  }

  bool PriorityUser(const Policy& pol, const PersonState& p) const {
    auto person = people.find(p.id);
    return person != people.end() && Intersects(pol.priority_groups, person->second.groups);
  }

  std::optional<AlertUpdate> Score(size_t pi, PersonState& p);
};

ScoringEngine::ScoringEngine(EngineOptions options) : s_(std::make_unique<State>()) {
  s_->options = std::move(options);
}
ScoringEngine::~ScoringEngine() = default;

void ScoringEngine::SetPolicies(std::vector<Policy> policies) {
  s_->policies = std::move(policies);
  s_->matchers.clear();
  s_->self_triggered.clear();
  for (const auto& p : s_->policies) {
    s_->matchers.emplace_back(p.priority_content);
    s_->self_triggered.push_back(p.HasTrigger(TriggerKind::kIndicator));
  }
  for (auto& [id, p] : s_->persons) {
    for (auto& [d, day] : p.days) day.priority.resize(s_->policies.size());
    s_->Touch(p);
  }
}

void ScoringEngine::SetDirectory(std::vector<Person> people, std::vector<DirectoryLogin> logins) {
  s_->people.clear();
  for (auto& p : people) s_->people[p.id] = std::move(p);
  s_->login_host.clear();
  s_->login_any.clear();
  s_->memo_person = nullptr;
  for (const auto& l : logins) {
    if (l.host.empty() || l.host == "*") {
      s_->login_any[l.login] = l.email;
    } else {
      s_->login_host[l.login + "\n" + l.host] = l.email;
    }
  }
}

std::string ScoringEngine::PersonFor(const std::string& login, const std::string& host) const {
  auto it = s_->login_host.find(login + "\n" + host);
  if (it != s_->login_host.end()) return it->second;
  auto any = s_->login_any.find(login);
  if (any != s_->login_any.end()) return any->second;
  return login;
}

void ScoringEngine::AddTrigger(const Trigger& trigger) {
  PersonState& p = s_->Get(trigger.person);
  for (const auto& t : p.triggers) {
    if (t.kind == trigger.kind && t.time_ns == trigger.time_ns && t.end_ns == trigger.end_ns &&
        t.detail == trigger.detail) {
      return;  // the same trigger again (e.g. an HR file imported twice)
    }
  }
  p.triggers.push_back(trigger);
  s_->Touch(p);
}

void ScoringEngine::SetPriorConfirmed(const std::string& person, const std::string& policy_id,
                                      uint32_t count) {
  PersonState& p = s_->Get(person);
  p.per_policy[policy_id].prior_confirmed = count;
  s_->Touch(p);
}

std::string ScoringEngine::CloseAlert(const std::string& person, const std::string& policy_id,
                                      int64_t time_ns) {
  PersonState& p = s_->Get(person);
  json snap = {{"floor_ns", time_ns}, {"day", DayOf(time_ns)}};
  json counts = json::array(), priority = json::array();
  auto day = p.days.find(DayOf(time_ns));
  for (size_t i = 0; i < kIndicatorCount; ++i) {
    counts.push_back(day != p.days.end() ? day->second.ind[i].count : 0);
  }
  for (size_t i = 0; i < s_->policies.size(); ++i) {
    const bool has = day != p.days.end() && i < day->second.priority.size();
    priority.push_back(has ? day->second.priority[i].count : 0);
  }
  snap["counts"] = counts;
  snap["priority"] = priority;
  std::string text = snap.dump();
  RestoreClose(person, policy_id, text);
  return text;
}

void ScoringEngine::RestoreClose(const std::string& person, const std::string& policy_id,
                                 std::string_view snapshot_json) {
  json snap = json::parse(snapshot_json, nullptr, false);
  if (!snap.is_object() || !snap.contains("floor_ns") || !snap["floor_ns"].is_number_integer()) {
    return;
  }
  PersonState& p = s_->Get(person);
  PolicyPerson& pp = p.per_policy[policy_id];
  const int64_t floor_ns = snap["floor_ns"].get<int64_t>();
  if (floor_ns < pp.floor_ns) return;
  pp.floor_ns = floor_ns;
  pp.floor_day = DayOf(floor_ns);
  pp.floor_counts = {};
  pp.floor_priority.assign(s_->policies.size(), 0);
  if (snap.contains("counts") && snap["counts"].is_array()) {
    for (size_t i = 0; i < kIndicatorCount && i < snap["counts"].size(); ++i) {
      if (snap["counts"][i].is_number_unsigned())
        pp.floor_counts[i] = snap["counts"][i].get<uint32_t>();
    }
  }
  if (snap.contains("priority") && snap["priority"].is_array()) {
    for (size_t i = 0; i < pp.floor_priority.size() && i < snap["priority"].size(); ++i) {
      if (snap["priority"][i].is_number_unsigned())
        pp.floor_priority[i] = snap["priority"][i].get<uint32_t>();
    }
  }
  // Replayed after a restart, hits after the close are already known: keep the latest one.
  if (pp.last_trigger_hit_ns <= floor_ns) {
    pp.self_trigger_ns = 0;
  } else if (pp.self_trigger_ns <= floor_ns) {
    pp.self_trigger_ns = pp.last_trigger_hit_ns;
  }
  pp.last_explanation.clear();
  s_->Touch(p);
}

void ScoringEngine::SeedExplanation(const std::string& person, const std::string& policy_id,
                                    std::string explanation_json) {
  s_->Get(person).per_policy[policy_id].last_explanation = std::move(explanation_json);
}

void ScoringEngine::MarkDirty(const std::string& person) { s_->Touch(s_->Get(person)); }

size_t ScoringEngine::people() const { return s_->persons.size(); }

void ScoringEngine::Observe(const EngineEvent& e) {
  State& s = *s_;
  EventFacts& f = s.facts;  // reused: Observe runs for every stored event
  MapEvent(*e.event, s.options.mapping, &f);
  // A scan finding has no actor and no person: not attributed (not even to the host's most
  // recent user), counted toward nobody's indicators, priority content or sequences.
  if (f.scan_found) return;
  PersonState* person = nullptr;
  std::string attributed;
  if (!e.login.empty()) {
    // Consecutive events mostly come from one agent and user (a batch): remember the last
    // resolution instead of building keys and hashing for every event.
    if (s.memo_person == nullptr || e.login != s.memo_login || e.host != s.memo_host) {
      s.memo_login.assign(e.login);
      s.memo_host.assign(e.host);
      const std::string id = PersonFor(s.memo_login, s.memo_host);
      s.host_last_person[s.memo_host] = id;
      s.memo_person = &s.Get(id);
    }
    person = s.memo_person;
  } else {
    if (f.hits.empty() && f.usb_fingerprint.empty()) return;
    auto it = s.host_last_person.find(std::string(e.host));
    if (it == s.host_last_person.end()) return;  // nobody to attribute it to yet
    person = &s.Get(it->second);
    attributed = "[attributed to " + std::string(e.host) + "'s most recent user] ";
  }
  PersonState& p = *person;
  if (p.first_seen_ns == 0 || e.time_ns < p.first_seen_ns) p.first_seen_ns = e.time_ns;
  const int64_t d = DayOf(e.time_ns);
  auto [day_it, new_day] = p.days.try_emplace(d);
  Day& day = day_it->second;
  if (new_day) {
    day.priority.resize(s.policies.size());
    ++s.org_days[d].active_people;
    const int64_t oldest = d - static_cast<int64_t>(s.options.retain_days);
    p.days.erase(p.days.begin(), p.days.lower_bound(oldest));
    s.org_days.erase(s.org_days.begin(), s.org_days.lower_bound(oldest));
  }
  if (!f.usb_fingerprint.empty() && p.usb_seen.insert(std::string(f.usb_fingerprint)).second) {
    f.hits.push_back({IndicatorId::kNewUsbDevice, 0});
  }
  if (f.hits.empty() && f.stage == Stage::kNone) return;
  for (const auto& h : f.hits) {
    s.Count(day.ind[static_cast<size_t>(h.id)], e, h.bytes, attributed);
  }
  if (f.exfiltrated_bytes > 0) {
    day.exfil_bytes += f.exfiltrated_bytes;
    s.org_days[d].exfil_bytes += f.exfiltrated_bytes;
  }
  for (size_t i = 0; i < s.policies.size(); ++i) {
    const Policy& pol = s.policies[i];
    const bool priority = s.matchers[i].Matches(f);
    if (priority) s.Count(day.priority[i], e, 0, attributed);
    if (!s.self_triggered[i]) continue;
    bool fires = false;
    for (IndicatorId t : pol.trigger_indicators) {
      if (t == IndicatorId::kPriorityContent && priority) fires = true;
      for (const auto& h : f.hits) fires = fires || h.id == t;
    }
    if (!fires) continue;
    PolicyPerson& pp = p.per_policy[pol.id];
    if (e.time_ns < pp.floor_ns) continue;
    pp.last_trigger_hit_ns = std::max(pp.last_trigger_hit_ns, e.time_ns);
    if (pp.self_trigger_ns == 0) {
      pp.self_trigger_ns = e.time_ns;
      pp.self_trigger_sample = {std::string(e.agent_id), e.epoch, e.seq, e.time_ns,
                                Describe(*e.event)};
    }
  }
  s.TrackSequence(p, f, e);
  s.Touch(p);
}

std::vector<AlertUpdate> ScoringEngine::TakeUpdates() {
  std::vector<AlertUpdate> out;
  std::vector<std::string> dirty;
  dirty.swap(s_->dirty);
  for (const auto& id : dirty) {
    PersonState& p = s_->persons[id];
    p.dirty = false;
    for (size_t i = 0; i < s_->policies.size(); ++i) {
      if (!s_->policies[i].enabled) continue;
      if (auto u = s_->Score(i, p)) out.push_back(std::move(*u));
    }
  }
  return out;
}

std::optional<AlertUpdate> ScoringEngine::State::Score(size_t pi, PersonState& p) {
  const Policy& pol = policies[pi];
  if (!InScope(pol, p)) return std::nullopt;
  PolicyPerson& pp = p.per_policy[pol.id];
  const int64_t historic = static_cast<int64_t>(pol.historic_days) * kNanosPerDay;
  const int64_t activation = static_cast<int64_t>(pol.activation_days) * kNanosPerDay;

  // ---- Window: from the triggers ----
  int64_t from = INT64_MAX, to = INT64_MIN;
  json triggers = json::array();
  for (const auto& t : p.triggers) {
    if (!pol.HasTrigger(t.kind)) continue;
    const int64_t end = t.end_ns != 0 ? t.end_ns : SatAdd(t.time_ns, activation);
    if (end < pp.floor_ns) continue;
    from = std::min(from, SatAdd(t.time_ns, -historic));
    to = std::max(to, end);
    triggers.push_back({{"kind", std::string(TriggerKindName(t.kind))},
                        {"time_ns", t.time_ns},
                        {"detail", t.detail}});
  }
  if (pol.HasTrigger(TriggerKind::kIndicator) && pp.self_trigger_ns != 0) {
    from = std::min(from, SatAdd(pp.self_trigger_ns, -historic));
    to = std::max(to, SatAdd(pp.self_trigger_ns, activation));
    triggers.push_back({{"kind", "indicator"},
                        {"time_ns", pp.self_trigger_ns},
                        {"detail", "first trigger indicator: " + pp.self_trigger_sample.what},
                        {"event", SampleJson(pp.self_trigger_sample)}});
  }
  if (triggers.empty()) return std::nullopt;
  from = std::max(from, pp.floor_ns);
  const int64_t from_day = DayOf(from), to_day = DayOf(to);

  // ---- Base: each indicator's busiest day in the window ----
  double base = 0;
  json indicators = json::array();
  json boosters = json::array();
  int64_t first_activity = INT64_MAX, last_activity = 0;
  bool above_baseline = false;
  std::string baseline_detail;
  uint64_t exfil_bytes = 0;
  auto in_window = [&](const Sample& s) { return s.time_ns >= from && s.time_ns <= to; };
  auto lo = p.days.lower_bound(from_day);
  auto hi = p.days.upper_bound(to_day);
  for (auto it = lo; it != hi; ++it) exfil_bytes += it->second.exfil_bytes;
  for (const auto& setting : pol.indicators) {
    const IndicatorInfo& info = Info(setting.id);
    const bool priority = setting.id == IndicatorId::kPriorityContent;
    if (info.only_in_risky_window && triggers.empty()) continue;
    uint64_t total = 0, busiest = 0, bytes = 0;
    int64_t busiest_day = 0;
    json samples = json::array();
    for (auto it = lo; it != hi; ++it) {
      const Counter& c =
          priority ? it->second.priority[pi] : it->second.ind[static_cast<size_t>(setting.id)];
      if (c.count == 0) continue;
      // The day an alert was closed: only what happened after the close counts.
      uint64_t count = c.count;
      if (it->first == pp.floor_day) {
        const uint32_t before = priority
                                    ? (pi < pp.floor_priority.size() ? pp.floor_priority[pi] : 0)
                                    : pp.floor_counts[static_cast<size_t>(setting.id)];
        count = count > before ? count - before : 0;
      }
      if (count == 0) continue;
      total += count;
      bytes += c.bytes;
      if (count > busiest) {
        busiest = count;
        busiest_day = it->first;
      }
      for (const auto& s : c.samples) {
        if (!in_window(s) || samples.size() >= options.samples_per_indicator) continue;
        samples.push_back(SampleJson(s));
        first_activity = std::min(first_activity, s.time_ns);
        last_activity = std::max(last_activity, s.time_ns);
      }
    }
    const Tier tier = TierFor(setting.tiers, busiest);
    if (tier == Tier::kNone) continue;
    const double points = setting.weight * TierFactor(tier);
    base += points;
    json entry = {{"id", std::string(info.key)},
                  {"name", std::string(info.name)},
                  {"category", std::string(info.category)},
                  {"weight", setting.weight},
                  {"tier", std::string(TierName(tier))},
                  {"tier_factor", TierFactor(tier)},
                  {"points", points},
                  {"count_in_window", total},
                  {"busiest_day", DayName(busiest_day)},
                  {"busiest_day_count", busiest},
                  {"thresholds",
                   {{"low", setting.tiers.low},
                    {"medium", setting.tiers.medium},
                    {"high", setting.tiers.high}}},
                  {"events", samples}};
    if (bytes > 0) entry["bytes"] = bytes;
    indicators.push_back(std::move(entry));
    // Baseline: the person's average per day over the baseline days before the busiest day.
    if (pol.boost_above_baseline && !above_baseline &&
        busiest_day - DayOf(p.first_seen_ns) >= options.min_baseline_days) {
      uint64_t sum = 0;
      for (auto it = p.days.lower_bound(busiest_day - options.baseline_days);
           it != p.days.end() && it->first < busiest_day; ++it) {
        sum += priority ? it->second.priority[pi].count
                        : it->second.ind[static_cast<size_t>(setting.id)].count;
      }
      const uint32_t days = std::min<uint32_t>(
          options.baseline_days, static_cast<uint32_t>(busiest_day - DayOf(p.first_seen_ns)));
      const double mean = days > 0 ? static_cast<double>(sum) / days : 0;
      if (busiest > 3 * mean) {
        above_baseline = true;
        char buf[256];
        std::snprintf(buf, sizeof buf,
                      "%s: %llu on %s vs the person's own %.2f per day over %u days",
                      std::string(info.key).c_str(), static_cast<unsigned long long>(busiest),
                      DayName(busiest_day).c_str(), mean, days);
        baseline_detail = buf;
      }
    }
  }
  if (indicators.empty()) return std::nullopt;

  double factor = 1.0;
  if (above_baseline) {
    factor *= kBoost;
    boosters.push_back({{"id", "above_baseline"}, {"factor", kBoost}, {"detail", baseline_detail}});
  }
  if (pol.boost_priority_users && PriorityUser(pol, p)) {
    factor *= kBoost;
    boosters.push_back({{"id", "priority_user"},
                        {"factor", kBoost},
                        {"detail", "member of a priority user group"}});
  }
  if (pol.boost_prior_cases && pp.prior_confirmed > 0) {
    factor *= kBoost;
    boosters.push_back(
        {{"id", "prior_cases"},
         {"factor", kBoost},
         {"detail", std::to_string(pp.prior_confirmed) + " earlier confirmed alert(s)"}});
  }

  // ---- Sequences ----
  uint32_t sequence_points = 0;
  json sequences = json::array();
  if (pol.detect_sequences) {
    for (const auto& h : p.sequences) {
      if (h.start_ns < from || h.end_ns > to) continue;
      const uint32_t pts = h.stages >= 4 ? kFullSequencePoints : kPartialSequencePoints;
      sequence_points = std::min(kMaxSequencePoints, sequence_points + pts);
      sequences.push_back({{"stages", h.stage_names},
                           {"files", h.names},
                           {"from_ns", h.start_ns},
                           {"to_ns", h.end_ns},
                           {"points", pts},
                           {"last_event", SampleJson(h.last)}});
      last_activity = std::max(last_activity, h.end_ns);
    }
  }

  // ---- Cumulative exfiltration against the organisation's per-person norm ----
  uint32_t cumulative_points = 0;
  json cumulative;
  if (pol.cumulative_exfiltration && exfil_bytes > 0) {
    double norm = 0;
    uint32_t max_people = 0;
    for (auto it = org_days.lower_bound(from_day); it != org_days.end() && it->first <= to_day;
         ++it) {
      if (it->second.active_people == 0) continue;
      norm += static_cast<double>(it->second.exfil_bytes) / it->second.active_people;
      max_people = std::max(max_people, it->second.active_people);
    }
    if (max_people >= kMinPeopleForNorm && exfil_bytes > kCumulativeFactor * norm) {
      cumulative_points = kCumulativePoints;
      cumulative = {{"bytes", exfil_bytes},
                    {"org_norm_bytes", static_cast<uint64_t>(norm)},
                    {"factor", kCumulativeFactor},
                    {"points", kCumulativePoints}};
    }
  }

  const double raw = base * factor + sequence_points + cumulative_points;
  const uint32_t score = static_cast<uint32_t>(std::min(100.0, std::round(raw)));
  if (score < pol.alert_threshold) return std::nullopt;
  const std::string severity = score >= 70 ? "high" : score >= 40 ? "medium" : "low";
  json ex = {{"score", score},
             {"severity", severity},
             {"policy", {{"id", pol.id}, {"name", pol.name}, {"template", pol.template_id}}},
             {"person", p.id},
             {"window", {{"from_ns", from}, {"to_ns", to}}},
             {"triggers", triggers},
             {"indicators", indicators},
             {"base", std::round(base * 100) / 100},
             {"boosters", boosters},
             {"boost_factor", factor},
             {"sequences", sequences},
             {"sequence_points", sequence_points},
             {"formula",
              "score = min(100, base x boost_factor + sequence_points + "
              "cumulative_exfiltration.points)"}};
  if (!cumulative.is_null()) ex["cumulative_exfiltration"] = cumulative;
  // Event text is agent input: never let invalid UTF-8 throw (replaced with U+FFFD).
  std::string text = ex.dump(-1, ' ', false, json::error_handler_t::replace);
  if (text == pp.last_explanation) return std::nullopt;
  pp.last_explanation = text;
  AlertUpdate u;
  u.person = p.id;
  u.policy_id = pol.id;
  u.score = score;
  u.severity = severity;
  u.first_activity_ns = first_activity == INT64_MAX ? 0 : first_activity;
  u.last_activity_ns = last_activity;
  u.explanation_json = std::move(text);
  return u;
}

}  // namespace custos::collector::scoring
