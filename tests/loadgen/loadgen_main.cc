// custos-loadgen: simulated agents against a real collector. See --help and docs/performance.md.
#include <sqlite3.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cinttypes>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

#include "agent/uplink/uplink.h"
#include "common/config/config.h"
#include "common/crypto/crypto.h"
#include "common/flags/flags.h"
#include "common/fs/file_system.h"
#include "common/log/log.h"
#include "common/metrics/metrics.h"
#include "common/wire/wire.h"
#include "custos/v1/session.pb.h"
#include "tests/loadgen/synthetic_events.h"

namespace custos::loadgen {
namespace {

namespace v1 = custos::v1;
namespace uplink = custos::agent::uplink;
using uplink::OutgoingBatch;

constexpr const char* kUsage =
    R"(custos-loadgen — simulated Custos agents for load, soak and failure tests.

Each simulated agent enrolls with a real certificate (or reuses one from --state-dir), opens its own
mTLS session and streams realistic synthetic events (file activity, USB, security settings) in
zstd-compressed batches. At the end it prints events/s, bytes per event on the wire and ack
latency percentiles, and with --verify-db checks that every acknowledged event is stored exactly once.

Usage:
  custos-loadgen --collector HOST:PORT --ca CA.crt (--token TOKEN | --state-dir DIR with agents) [options]

Options:
  --collector HOST:PORT   collector agent port (required)
  --server-name NAME      name to verify in the collector certificate (default: HOST)
  --ca FILE               collector CA certificate (required)
  --token TOKEN           enrollment token with at least --agents uses (for agents not yet enrolled)
  --state-dir DIR         keep enrolled agents' credentials here and reuse them on later runs
  --agents N              simulated agents (default 100)
  --events N              events per agent (default 10000; 0 = connect and stay idle)
  --batch N               events per batch (default 1000)
  --threads N             network threads (default 1)
  --fresh-times           stamp every batch with the current time when it is sent (re-encodes
                          each batch: more loadgen CPU, a realistic ever-increasing stream)
  --rate N                cap on events/s offered by all agents together (default 0 = as fast
                          as the collector acknowledges)
  --hold DURATION         with --events 0: how long to stay connected (default 10s)
  --timeout DURATION      give up after this long (default 10m)
  --verify-db FILE        after the run, check the collector's SQLite store (read-only)
  --report FILE           also write the final report as JSON
  --quiet                 no progress lines
Exit codes: 0 ok (and verified), 1 failure or verification mismatch, 2 usage error.
)";

struct AgentCreds {
  uplink::Credentials creds;
  std::string hostname;
};

// Encoded batches reused across agents: the records inside a BATCH carry no seq, so one
// compressed EventBatch can be sent at any position of any stream.
class BatchPool {
 public:
  // fresh_times: every batch is re-stamped with the current time and re-encoded when sent (costs
  // loadgen CPU), as a real agent's stream would be; otherwise the pooled batches repeat the same
  // timestamps, which makes the collector's time indexes take inserts all over their range.
  BatchPool(uint32_t batch_events, int variants, bool fresh_times)
      : batch_events_(batch_events), fresh_times_(fresh_times) {
    auto zc = wire::ZstdCompressor::Create(3);
    // Recent times, so the collector's scorer (which scores the last weeks) sees the load too.
    int64_t t0 = std::chrono::duration_cast<std::chrono::nanoseconds>(
                     std::chrono::system_clock::now().time_since_epoch())
                     .count();
    for (int v = 0; v < variants; ++v) {
      testing::SyntheticEvents gen(static_cast<uint32_t>(v), 7);
      Encoded enc;
      v1::EventBatch batch;
      for (uint32_t i = 0; i < batch_events; ++i) {
        gen.Next(t0 + (static_cast<int64_t>(v) * batch_events + i) * 1'000'000, batch.add_events());
      }
      std::string raw = batch.SerializeAsString();
      enc.uncompressed = raw.size();
      (void)zc->Compress(raw, &enc.records);
      pool_.push_back(std::move(enc));
      batches_.push_back(std::move(batch));
    }
  }
  // Builds the Batch body for `count` events at first_seq.
  std::string Body(uint64_t first_seq, uint32_t count, size_t variant) {
    const Encoded* enc = nullptr;
    Encoded tmp;
    if (count == batch_events_ && !fresh_times_) {
      enc = &pool_[variant % pool_.size()];
    } else {
      v1::EventBatch part;
      const auto& full = batches_[variant % batches_.size()];
      const int64_t now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                              std::chrono::system_clock::now().time_since_epoch())
                              .count();
      for (uint32_t i = 0; i < count; ++i) {
        *part.add_events() = full.events(static_cast<int>(i % batch_events_));
        if (fresh_times_) part.mutable_events(static_cast<int>(i))->set_time_ns(now + i * 1000);
      }
      std::string raw = part.SerializeAsString();
      tmp.uncompressed = raw.size();
      auto zc = wire::ZstdCompressor::Create(3);
      (void)zc->Compress(raw, &tmp.records);
      enc = &tmp;
    }
    v1::Batch b;
    b.set_first_seq(first_seq);
    b.set_count(count);
    b.set_codec(v1::CODEC_ZSTD);
    b.set_uncompressed_size(enc->uncompressed);
    b.set_records(enc->records);
    return b.SerializeAsString();
  }
  uint32_t batch_events() const { return batch_events_; }
  bool fresh_times() const { return fresh_times_; }

 private:
  struct Encoded {
    std::string records;
    uint64_t uncompressed = 0;
  };
  uint32_t batch_events_;
  bool fresh_times_ = false;
  std::vector<Encoded> pool_;
  std::vector<v1::EventBatch> batches_;
};

class SimulatedAgent final : public uplink::StreamSource {
 public:
  // rate_per_second 0 = unlimited; otherwise the agent never offers more than it has
  // "generated" since `start` at that rate.
  SimulatedAgent(BatchPool* pool, uint64_t epoch, uint64_t total, size_t index,
                 double rate_per_second, std::chrono::steady_clock::time_point start)
      : pool_(pool),
        epoch_(epoch),
        total_(total),
        index_(index),
        rate_(rate_per_second),
        start_(start) {}
  uint64_t Epoch() override { return epoch_; }
  uint64_t OldestUnackedSeq() override {
    uint64_t a = acked_.load();
    return a >= total_ ? 0 : a + 1;
  }
  std::optional<OutgoingBatch> NextBatch(uint64_t from_seq, uint32_t max_events,
                                         uint64_t) override {
    if (from_seq > total_) return std::nullopt;
    uint64_t available = total_;
    if (rate_ > 0) {
      double secs =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
      available = std::min<uint64_t>(total_, static_cast<uint64_t>(secs * rate_));
      if (available < from_seq) return std::nullopt;
    }
    uint32_t n = static_cast<uint32_t>(
        std::min<uint64_t>({available - from_seq + 1, pool_->batch_events(), max_events}));
    OutgoingBatch b;
    b.first_seq = from_seq;
    b.count = n;
    b.body = pool_->Body(from_seq, n, index_ + from_seq / pool_->batch_events());
    return b;
  }
  void OnAcked(uint64_t seq) override {
    uint64_t cur = acked_.load();
    while (seq > cur && !acked_.compare_exchange_weak(cur, seq)) {
    }
  }
  uint64_t acked() const { return acked_.load(); }
  uint64_t total() const { return total_; }

 private:
  BatchPool* pool_;
  uint64_t epoch_;
  uint64_t total_;
  size_t index_;
  double rate_;
  std::chrono::steady_clock::time_point start_;
  std::atomic<uint64_t> acked_{0};
};

Result<std::vector<AgentCreds>> LoadOrEnroll(const flags::Args& args, const uplink::Endpoint& ep,
                                             const std::string& ca_pem, int agents) {
  std::vector<AgentCreds> out(static_cast<size_t>(agents));
  std::string state = args.GetOr("state-dir", "");
  fs::FileSystem* f = fs::Posix();
  if (!state.empty()) CUSTOS_RETURN_IF_ERROR(f->CreateDirs(state + "/agents", 0700));
  std::string token = args.GetOr("token", "");
  std::atomic<int> next{0};
  std::mutex mu;
  Status first_error;
  auto worker = [&] {
    while (true) {
      int i = next.fetch_add(1);
      if (i >= agents) return;
      testing::SyntheticEvents gen(static_cast<uint32_t>(i), 7);
      AgentCreds& c = out[static_cast<size_t>(i)];
      c.hostname = gen.hostname();
      std::string base = state + "/agents/" + std::to_string(i);
      if (!state.empty() && f->Exists(base + ".crt")) {
        c.creds.ca_pem = ca_pem;
        c.creds.cert_pem = f->ReadFile(base + ".crt").value_or("");
        c.creds.key_pem = f->ReadFile(base + ".key").value_or("");
        c.creds.agent_id = f->ReadFile(base + ".id").value_or("");
        continue;
      }
      if (token.empty()) {
        std::lock_guard<std::mutex> l(mu);
        first_error = InvalidArgumentError("agent " + std::to_string(i) +
                                           " is not enrolled yet: give --token");
        return;
      }
      uplink::EnrollRequest req;
      req.endpoint = ep;
      req.ca_pem = ca_pem;
      req.token = token;
      req.host.set_hostname(c.hostname);
      req.host.set_os("linux");
      req.host.set_agent_version("loadgen");
      auto r = uplink::EnrollAgent(req);
      if (!r.ok()) {
        std::lock_guard<std::mutex> l(mu);
        if (first_error.ok()) first_error = r.status();
        return;
      }
      c.creds = std::move(*r);
      if (!state.empty()) {
        (void)fs::WriteFileAtomic(f, base + ".key", c.creds.key_pem, 0600);
        (void)fs::WriteFileAtomic(f, base + ".id", c.creds.agent_id, 0600);
        (void)fs::WriteFileAtomic(f, base + ".crt", c.creds.cert_pem, 0600);
      }
    }
  };
  std::vector<std::thread> threads;
  for (int t = 0; t < 2; ++t) threads.emplace_back(worker);
  for (auto& t : threads) t.join();
  if (!first_error.ok()) return first_error;
  return out;
}

// Checks the collector's store: for every simulated agent, seqs 1..acked are each stored
// exactly once for this run's epoch.
Status Verify(const std::string& db_path, uint64_t epoch, const std::vector<AgentCreds>& creds,
              const std::vector<std::unique_ptr<SimulatedAgent>>& agents, uint64_t* stored_total) {
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(db_path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
    std::string m = db ? sqlite3_errmsg(db) : "out of memory";
    sqlite3_close(db);
    return UnavailableError("verify: open " + db_path + ": " + m);
  }
  sqlite3_busy_timeout(db, 10000);
  // One pass over the events table itself (not the store's run index, which is what is being
  // checked): per agent, a bitmap of the seqs seen.
  std::unordered_map<std::string, size_t> index;
  for (size_t i = 0; i < agents.size(); ++i) index.emplace(creds[i].creds.agent_id, i);
  struct Seen {
    uint64_t count = 0, lo = 0, hi = 0, upto = 0;
    bool duplicate = false;
    std::vector<bool> seqs;
  };
  std::vector<Seen> seen(agents.size());
  sqlite3_stmt* st = nullptr;
  const char* sql =
      "SELECT a.agent_id, e.seq FROM events e JOIN agents a ON a.id = e.agent WHERE e.epoch = ?1";
  if (sqlite3_prepare_v2(db, sql, -1, &st, nullptr) != SQLITE_OK) {
    std::string m = sqlite3_errmsg(db);
    sqlite3_close(db);
    return InternalError("verify: " + m);
  }
  sqlite3_bind_int64(st, 1, static_cast<int64_t>(epoch));
  std::string problems;
  int bad = 0;
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    const auto* id = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
    auto it = index.find(id ? id : "");
    if (it == index.end()) continue;  // another agent of the same collector
    const size_t i = it->second;
    Seen& a = seen[i];
    const auto seq = static_cast<uint64_t>(sqlite3_column_int64(st, 1));
    if (seq >= a.seqs.size()) a.seqs.resize(std::max<uint64_t>(seq + 1, a.seqs.size() * 2));
    if (a.seqs[seq]) a.duplicate = true;
    a.seqs[seq] = true;
    a.lo = a.count == 0 ? seq : std::min(a.lo, seq);
    a.hi = std::max(a.hi, seq);
    ++a.count;
    if (seq <= agents[i]->acked()) ++a.upto;
  }
  if (rc != SQLITE_DONE) {
    problems += "query failed: " + std::string(sqlite3_errmsg(db)) + "\n";
    ++bad;
  }
  *stored_total = 0;
  for (size_t i = 0; i < agents.size() && rc == SQLITE_DONE; ++i) {
    const Seen& a = seen[i];
    *stored_total += a.count;
    uint64_t acked = agents[i]->acked();
    bool ok = !a.duplicate && a.upto == acked && (a.count == 0 || (a.lo == 1 && a.hi == a.count));
    if (!ok && ++bad <= 10) {
      char line[256];
      std::snprintf(line, sizeof line,
                    "agent %zu (%s): acked %" PRIu64 ", stored %" PRIu64 "%s, seq %" PRIu64
                    "..%" PRIu64 ", %" PRIu64 " <= acked\n",
                    i, creds[i].creds.agent_id.c_str(), acked, a.count,
                    a.duplicate ? " (duplicates)" : "", a.lo, a.hi, a.upto);
      problems += line;
    }
  }
  sqlite3_finalize(st);
  sqlite3_close(db);
  if (bad > 0)
    return DataLossError("verify: " + std::to_string(bad) + " agent(s) wrong:\n" + problems);
  return OkStatus();
}

// Seconds as milliseconds for the JSON report; null when there were no observations.
std::string Ms(double seconds) {
  if (std::isnan(seconds)) return "null";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f", seconds * 1000);
  return buf;
}

long MaxRssKb() {
  struct rusage ru {};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss;
}

int Main(int argc, char** argv) {
  ::signal(SIGPIPE, SIG_IGN);
  auto args = flags::Args::Parse(argc, argv,
                                 {{"collector"},
                                  {"server-name"},
                                  {"ca"},
                                  {"token"},
                                  {"state-dir"},
                                  {"agents"},
                                  {"events"},
                                  {"batch"},
                                  {"threads"},
                                  {"rate"},
                                  {"fresh-times", false},
                                  {"hold"},
                                  {"timeout"},
                                  {"verify-db"},
                                  {"report"},
                                  {"quiet", false},
                                  {"help", false}});
  auto usage = [](const std::string& m) {
    std::fprintf(stderr, "custos-loadgen: %s\nRun 'custos-loadgen --help' for usage.\n", m.c_str());
    return 2;
  };
  if (!args.ok()) return usage(args.status().message());
  if (args->Has("help")) {
    std::fputs(kUsage, stdout);
    return 0;
  }
  logging::Configure(logging::Format::kHuman, logging::Level::kWarn, "custos-loadgen");
  struct rlimit nofile {};
  if (getrlimit(RLIMIT_NOFILE, &nofile) == 0) {
    nofile.rlim_cur = nofile.rlim_max;
    setrlimit(RLIMIT_NOFILE, &nofile);
  }
  uplink::Endpoint ep;
  if (!args->Has("collector") || !args->Has("ca"))
    return usage("--collector and --ca are required");
  if (Status s = flags::ParseHostPort(*args->Get("collector"), &ep.host, &ep.port); !s.ok()) {
    return usage("--collector: " + s.message());
  }
  ep.server_name = args->GetOr("server-name", ep.host);
  auto ca = fs::Posix()->ReadFile(*args->Get("ca"));
  if (!ca.ok()) return usage("--ca: " + ca.status().message());
  auto agents_n = args->GetInt("agents", 100, 1, 100000);
  auto events_n = args->GetInt("events", 10000, 0, 1'000'000'000);
  auto batch_n = args->GetInt("batch", 1000, 1, 100000);
  auto threads_n = args->GetInt("threads", 1, 1, 64);
  auto rate_n = args->GetInt("rate", 0, 0, 100'000'000);
  if (!rate_n.ok()) return usage(rate_n.status().message());
  if (!agents_n.ok()) return usage(agents_n.status().message());
  if (!events_n.ok()) return usage(events_n.status().message());
  if (!batch_n.ok()) return usage(batch_n.status().message());
  if (!threads_n.ok()) return usage(threads_n.status().message());
  auto hold = config::ParseDuration(args->GetOr("hold", "10s"));
  auto timeout = config::ParseDuration(args->GetOr("timeout", "10m"));
  if (!hold.ok() || !timeout.ok())
    return usage("--hold/--timeout: expected a duration like 30s or 5m");
  bool quiet = args->Has("quiet");

  auto t_enroll = std::chrono::steady_clock::now();
  auto creds = LoadOrEnroll(*args, ep, *ca, static_cast<int>(*agents_n));
  if (!creds.ok()) {
    std::fprintf(stderr, "custos-loadgen: %s\n", creds.status().message().c_str());
    return 1;
  }
  double enroll_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t_enroll).count();
  if (!quiet)
    std::fprintf(stderr, "%lld agents ready in %.1fs\n", static_cast<long long>(*agents_n),
                 enroll_s);

  BatchPool pool(static_cast<uint32_t>(*batch_n), 16, args->Has("fresh-times"));
  uint64_t epoch =
      static_cast<uint64_t>(std::chrono::system_clock::now().time_since_epoch().count());
  metrics::Histogram latency(metrics::LatencyBounds());
  auto runtime = uplink::UplinkRuntime::Create(static_cast<int>(*threads_n));
  std::vector<std::unique_ptr<SimulatedAgent>> agents;
  std::vector<std::unique_ptr<uplink::UplinkClient>> clients;
  auto stream_start = std::chrono::steady_clock::now();
  double rate_per_agent = static_cast<double>(*rate_n) / static_cast<double>(*agents_n);
  for (size_t i = 0; i < creds->size(); ++i) {
    agents.push_back(std::make_unique<SimulatedAgent>(
        &pool, epoch, static_cast<uint64_t>(*events_n), i, rate_per_agent, stream_start));
    uplink::UplinkOptions o;
    o.endpoint = ep;
    o.credentials = (*creds)[i].creds;
    o.hostname = (*creds)[i].hostname;
    o.agent_version = "loadgen";
    o.max_batch_events = static_cast<uint32_t>(*batch_n);
    o.backoff_initial = std::chrono::milliseconds(100);
    o.backoff_max = std::chrono::milliseconds(2000);
    o.ack_latency = &latency;
    clients.push_back(
        uplink::UplinkClient::Start(runtime.get(), std::move(o), agents.back().get()));
  }

  uint64_t target = static_cast<uint64_t>(*agents_n) * static_cast<uint64_t>(*events_n);
  auto start = std::chrono::steady_clock::now();
  auto deadline = start + *timeout;
  uint64_t last_acked = 0;
  auto last_tick = start;
  bool done = false;
  int fatal = 0;
  while (std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    uint64_t acked = 0;
    int connected = 0;
    fatal = 0;
    for (size_t i = 0; i < agents.size(); ++i) {
      acked += agents[i]->acked();
      auto st = clients[i]->Stats();
      connected += st.connected;
      fatal += st.fatal;
    }
    auto now = std::chrono::steady_clock::now();
    if (*events_n == 0) {
      if (connected == *agents_n && now - start >= *hold) done = true;
    } else if (acked >= target) {
      done = true;
    }
    if (fatal > 0) break;
    if (!quiet && (now - last_tick >= std::chrono::seconds(1) || done)) {
      double dt = std::chrono::duration<double>(now - last_tick).count();
      std::fprintf(stderr,
                   "  %6.1fs  acked %" PRIu64 "/%" PRIu64
                   "  %.0f events/s  connected %d/%lld  p99 ack %.1f ms\n",
                   std::chrono::duration<double>(now - start).count(), acked, target,
                   static_cast<double>(acked - last_acked) / dt, connected,
                   static_cast<long long>(*agents_n), latency.Quantile(0.99) * 1000);
      last_acked = acked;
      last_tick = now;
    }
    if (done) break;
  }
  double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  uint64_t acked = 0, bytes = 0, connects = 0;
  for (size_t i = 0; i < agents.size(); ++i) {
    acked += agents[i]->acked();
    auto st = clients[i]->Stats();
    bytes += st.bytes_sent;
    connects += st.connects;
  }
  std::string last_error;
  for (auto& c : clients) {
    auto st = c->Stats();
    if (!st.last_error.empty()) last_error = st.last_error;
  }
  for (auto& c : clients) c->Stop();
  runtime->Shutdown();

  int rc = done ? 0 : 1;
  std::string verify = "skipped";
  uint64_t stored = 0;
  if (auto db = args->Get("verify-db")) {
    Status v = Verify(*db, epoch, *creds, agents, &stored);
    verify = v.ok() ? "ok" : v.message();
    if (!v.ok()) rc = 1;
  }
  char report[2048];
  std::snprintf(report, sizeof report,
                "{\"agents\":%lld,\"events_acked\":%" PRIu64 ",\"events_target\":%" PRIu64
                ",\"seconds\":%.3f,\"events_per_second\":%.0f,\"wire_bytes_per_event\":%.2f,"
                "\"ack_latency_ms\":{\"p50\":%s,\"p90\":%s,\"p99\":%s},\"sessions\":%" PRIu64
                ",\"enroll_seconds\":%.2f,\"loadgen_max_rss_kb\":%ld,\"stored_events\":%" PRIu64
                ",\"verify\":\"%s\",\"complete\":%s}",
                static_cast<long long>(*agents_n), acked, target, elapsed,
                elapsed > 0 ? static_cast<double>(acked) / elapsed : 0.0,
                acked ? static_cast<double>(bytes) / static_cast<double>(acked) : 0.0,
                Ms(latency.Quantile(0.5)).c_str(), Ms(latency.Quantile(0.9)).c_str(),
                Ms(latency.Quantile(0.99)).c_str(), connects, enroll_s, MaxRssKb(), stored,
                verify == "ok" || verify == "skipped" ? verify.c_str() : "mismatch",
                done ? "true" : "false");
  std::printf("%s\n", report);
  if (auto path = args->Get("report"))
    (void)fs::WriteFileAtomic(fs::Posix(), *path, std::string(report) + "\n", 0644);
  if (verify != "ok" && verify != "skipped")
    std::fprintf(stderr, "custos-loadgen: %s\n", verify.c_str());
  if (!done) {
    std::fprintf(stderr, "custos-loadgen: %s (last error: %s)\n",
                 fatal ? "agents were refused by the collector"
                       : "timed out before every event was acknowledged",
                 last_error.empty() ? "none" : last_error.c_str());
  }
  return rc;
}

}  // namespace
}  // namespace custos::loadgen

int main(int argc, char** argv) { return custos::loadgen::Main(argc, argv); }
