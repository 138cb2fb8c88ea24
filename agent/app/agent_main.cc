// custos-agent: the endpoint daemon. See `custos-agent --help` and docs/operations.md.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <thread>

#include "agent/app/agent_config.h"
#include "agent/app/enroll_token.h"
#include "agent/pipeline/attribution.h"
#include "agent/pipeline/copy_correlator.h"
#include "agent/pipeline/proc_events.h"
#include "agent/pipeline/spool_writer.h"
#include "agent/sources/file/file_source.h"
#include "agent/sources/replay/replay_source.h"
#include "agent/sources/settings/settings_source.h"
#include "agent/sources/usb/usb_source.h"
#include "agent/spool/spool.h"
#include "agent/uplink/spool_stream_source.h"
#include "agent/uplink/uplink.h"
#include "common/crypto/crypto.h"
#include "common/flags/flags.h"
#include "common/fs/file_system.h"
#include "common/log/log.h"
#include "common/time/clock.h"

namespace custos::agent {
namespace {

constexpr const char* kVersion = "0.1.0";

constexpr const char* kUsage =
    R"(custos-agent — Custos endpoint agent: captures file activity, buffers it durably,
streams it to the collector over mutual TLS.

Usage:
  custos-agent enroll --token-file FILE [--collector HOST:PORT] [--ca FILE]
                     [--server-name NAME]
                       Generate this host's key (kept in STATE_DIR, mode 0600), enroll with the
                       collector and store the certificate. The CA file is pinned (copied to
                       STATE_DIR/ca.crt).
      --token-file FILE  The one-time enrollment token: the first line of FILE, or of standard
                       input with '--token-file -' (custos-collector token create | ssh HOST
                       custos-agent enroll --token-file - ...)
      --token TOKEN    The token itself. Avoid it: every user on the host can read it in the
                       process list (ps), and it stays in your shell history.
  custos-agent [run]   Capture and stream until SIGTERM/SIGINT.
      --replay FILE    Feed recorded events from FILE instead of (or with) live capture
      --replay-format F  custos-jsonl (default) or bench-ndjson (../shared/bench corpus)
      --no-file-source   Do not capture file activity (e.g. replay only)
      --no-settings-source  Do not watch and probe security settings
      --no-usb-source    Do not report USB devices and their mounts
      --exit-when-drained  With --replay: exit 0 once every replayed event is acknowledged
  custos-agent status  Enrolled or not, connected or not, spool depth and age of the oldest
                       unsent event, events/s, drops, each source's mechanism and health, and
                       whether processes are followed through the kernel's process events.

Privileges: run as root or with CAP_SYS_ADMIN (fanotify; else inotify, without process
attribution), CAP_DAC_READ_SEARCH, CAP_SYS_PTRACE (other users' /proc/PID/exe) and
CAP_NET_ADMIN (process events; else a /proc check per event, and processes that exit at once
keep only their pid). The log and `status` say what was unavailable and why.

Options (all commands):
  --config FILE        YAML configuration (default /etc/custos/agent.yaml if it exists)
  --state-dir DIR      State directory (default /var/lib/custos/agent): key, certificate,
                       spool/, status.json
  --log-format F       human (default) or json
  --log-level L        debug, info (default), warn, error

Exit codes: 0 ok, 1 runtime failure, 2 usage or configuration error.
)";

int UsageError(const std::string& m) {
  std::fprintf(stderr, "custos-agent: %s\nRun 'custos-agent --help' for usage.\n", m.c_str());
  return 2;
}
int Failure(const Status& s) {
  std::fprintf(stderr, "custos-agent: %s\n", s.message().c_str());
  return s.code() == StatusCode::kInvalidArgument ? 2 : 1;
}

std::string Hostname() {
  char buf[256] = {0};
  if (gethostname(buf, sizeof buf - 1) != 0) return "localhost";
  return buf;
}

custos::v1::HostFacts HostFacts() {
  custos::v1::HostFacts h;
  h.set_hostname(Hostname());
  h.set_os("linux");
  h.set_agent_version(kVersion);
  auto os = fs::Posix()->ReadFile("/etc/os-release");
  if (os.ok()) {
    auto pos = os->find("PRETTY_NAME=\"");
    if (pos != std::string::npos) {
      auto end = os->find('"', pos + 13);
      h.set_os_version(os->substr(pos + 13, end - pos - 13));
    }
  }
  auto kernel = fs::Posix()->ReadFile("/proc/sys/kernel/osrelease");
  if (kernel.ok()) h.set_kernel(kernel->substr(0, kernel->find('\n')));
  auto mid = fs::Posix()->ReadFile("/etc/machine-id");
  if (mid.ok()) h.set_machine_id(mid->substr(0, mid->find('\n')));
  return h;
}

Status SaveCredentials(const AgentConfig& c, const uplink::Credentials& creds) {
  fs::FileSystem* f = fs::Posix();
  CUSTOS_RETURN_IF_ERROR(f->CreateDirs(c.state_dir, 0700));
  CUSTOS_RETURN_IF_ERROR(fs::WriteFileAtomic(f, c.key_path(), creds.key_pem, 0600));
  CUSTOS_RETURN_IF_ERROR(fs::WriteFileAtomic(f, c.cert_path(), creds.cert_pem, 0644));
  CUSTOS_RETURN_IF_ERROR(fs::WriteFileAtomic(f, c.id_path(), creds.agent_id + "\n", 0644));
  if (c.ca_file.empty()) {
    CUSTOS_RETURN_IF_ERROR(fs::WriteFileAtomic(f, c.state_dir + "/ca.crt", creds.ca_pem, 0644));
  }
  return OkStatus();
}

Result<uplink::Credentials> LoadCredentials(const AgentConfig& c) {
  fs::FileSystem* f = fs::Posix();
  uplink::Credentials creds;
  auto need = [&](const std::string& path, std::string* out) -> Status {
    auto r = f->ReadFile(path);
    if (!r.ok()) {
      return Status(
          r.status().code(),
          r.status().message() + " (not enrolled? run 'custos-agent enroll --token-file ...')");
    }
    *out = std::move(*r);
    return OkStatus();
  };
  CUSTOS_RETURN_IF_ERROR(need(c.key_path(), &creds.key_pem));
  CUSTOS_RETURN_IF_ERROR(need(c.cert_path(), &creds.cert_pem));
  CUSTOS_RETURN_IF_ERROR(need(c.ca_path(), &creds.ca_pem));
  CUSTOS_RETURN_IF_ERROR(need(c.id_path(), &creds.agent_id));
  creds.agent_id = creds.agent_id.substr(0, creds.agent_id.find('\n'));
  return creds;
}

int Enroll(AgentConfig c, const flags::Args& args) {
  auto token = EnrollmentToken(args.Get("token"), args.Get("token-file"), STDIN_FILENO);
  if (!token.ok()) {
    // A token file that is missing, unreadable or empty is reported as it is; no token flag at
    // all, or both, is a usage error.
    return args.Has("token-file") && !args.Has("token") ? Failure(token.status())
                                                        : UsageError(token.status().message());
  }
  if (auto a = args.Get("collector")) {
    if (Status s = flags::ParseHostPort(*a, &c.collector_host, &c.collector_port); !s.ok()) {
      return UsageError("--collector: " + s.message());
    }
  }
  if (c.collector_host.empty())
    return UsageError("no collector: give --collector HOST:PORT or set collector.address");
  if (auto sn = args.Get("server-name")) c.server_name = *sn;
  std::string ca_file = args.GetOr("ca", c.ca_file);
  if (ca_file.empty())
    return UsageError("enroll needs the collector CA: --ca FILE or collector.ca_file");
  auto ca = fs::Posix()->ReadFile(ca_file);
  if (!ca.ok()) return Failure(ca.status().WithContext("--ca"));
  uplink::EnrollRequest req;
  req.endpoint = {c.collector_host, c.collector_port, c.server_name};
  req.ca_pem = *ca;
  req.token = *token;
  req.host = HostFacts();
  auto creds = uplink::EnrollAgent(req);
  if (!creds.ok()) return Failure(creds.status());
  if (Status s = SaveCredentials(c, *creds); !s.ok()) return Failure(s);
  std::printf("enrolled as agent %s with %s:%u; credentials in %s\n", creds->agent_id.c_str(),
              c.collector_host.c_str(), c.collector_port, c.state_dir.c_str());
  return 0;
}

std::atomic<bool> g_stop{false};
void OnSignal(int) { g_stop = true; }

// Catches the spool's state file up with acks held in memory (spool.ack_persist_interval).
// A failure is logged once until it changes (the next tick retries).
void ReportPersistAck(spool::Spool* spool) {
  static std::string last_error;
  Status s = spool->PersistAck();
  if (!s.ok() && s.ToString() != last_error) {
    logging::Warn("agent: persisting the spool ack cursor failed", {{"error", s.ToString()}});
  }
  last_error = s.ok() ? "" : s.ToString();
}

int Run(const AgentConfig& c, const flags::Args& args) {
  // SIGINT/SIGTERM are taken by the main loop with sigtimedwait: blocked here, before any thread
  // starts (threads inherit the mask), so the loop sleeps a whole status tick and still stops
  // at once.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  auto creds = LoadCredentials(c);
  if (!creds.ok()) return Failure(creds.status());
  if (c.collector_host.empty())
    return UsageError("no collector: set collector.address in the configuration");
  fs::FileSystem* f = fs::Posix();
  spool::SpoolOptions so;
  so.dir = c.spool_dir();
  so.max_bytes = c.spool_max_bytes;
  so.segment_bytes = c.spool_segment_bytes;
  so.ack_persist_interval = c.spool_ack_persist_interval;
  auto sp = spool::Spool::Open(f, so, RealClock());
  if (!sp.ok()) return Failure(sp.status());
  spool::Spool* spool = sp->get();

  auto runtime = uplink::UplinkRuntime::Create(1);
  uplink::SpoolStreamSource stream(spool);
  uplink::UplinkOptions uo;
  uo.endpoint = {c.collector_host, c.collector_port, c.server_name};
  uo.credentials = *creds;
  uo.hostname = Hostname();
  uo.agent_version = kVersion;
  uo.max_batch_events = c.max_batch_events;
  uo.on_renewed = [c](const uplink::Credentials& renewed) {
    Status s = SaveCredentials(c, renewed);
    if (!s.ok())
      logging::Error("agent: could not store renewed certificate", {{"error", s.ToString()}});
  };
  std::unique_ptr<uplink::UplinkClient> client;
  std::atomic<uplink::UplinkClient*> client_ptr{nullptr};
  pipeline::SpoolWriterOptions wo;
  wo.host = Hostname();
  wo.gather_delay = c.spool_group_delay;
  pipeline::SpoolWriter writer(spool, wo, RealClock(), [&client_ptr] {
    if (auto* cl = client_ptr.load()) cl->Notify();
  });
  writer.Start();
  client = uplink::UplinkClient::Start(runtime.get(), uo, &stream);
  client_ptr = client.get();

  pipeline::ProcessAttributor attributor;
  // Before the sources: a process that execs from now on has its facts read at once.
  std::unique_ptr<pipeline::ProcEventTracker> tracker;
  std::string tracking_state = "off (attribution.process_events: false)";
  if (c.process_events) {
    pipeline::ProcEventTrackerOptions po;
    po.pause_above_events_per_second = c.process_events_pause_above;
    auto t = pipeline::ProcEventTracker::Start(&attributor, po);
    if (t.ok()) {
      tracker = std::move(*t);
      tracking_state = "proc connector";
      logging::Info("agent: following process events (proc connector) for attribution");
    } else {
      tracking_state = "unavailable: " + t.status().message();
      logging::Warn("agent: no process events; attribution re-checks /proc on every file event",
                    {{"error", t.status().ToString()}});
    }
  }
  // File and USB sources push through the copy correlator (copy-to-removable: which file was
  // copied onto a removable volume); the others straight into the writer.
  const bool usb_on = c.usb_enabled && !args.Has("no-usb-source");
  const bool correlate = usb_on && c.copy_correlation_enabled;
  pipeline::CopyCorrelatorOptions co;
  co.window = c.copy_window;
  co.hold = correlate ? c.copy_hold : std::chrono::milliseconds(0);
  co.max_reads = c.copy_max_reads;
  co.forward_reads = c.copy_send_reads;
  pipeline::CopyCorrelator correlator(&writer, co, &attributor, RealClock());
  correlator.Start();
  // Declared after what the sources use (attributor, tracker, correlator, writer): on any return
  // they are destroyed (stopped) first.
  std::vector<std::unique_ptr<Source>> sources;
  if (c.file_enabled && !args.Has("no-file-source")) {
    file::FileSourceOptions fo;
    fo.roots = c.file_roots;
    fo.include_globs = c.file_include;
    fo.exclude_globs = c.file_exclude;
    fo.hash_max_bytes = c.file_hash_max_bytes;
    fo.hash_rate_bytes_per_s = c.file_hash_rate_bytes;
    fo.state_dir = c.file_state_dir();
    fo.inotify_watch_budget = c.inotify_watch_budget;
    fo.force_inotify = c.file_force_inotify;
    fo.report_reads = correlate;
    for (const auto& rule : c.classification) {
      auto colon = rule.find(':');
      fo.classification_rules.push_back({rule.substr(colon + 1), "", rule.substr(0, colon)});
    }
    auto fsrc = file::CreateFileSource(fo, &attributor, RealClock());
    if (!fsrc.ok()) {
      // One failing source degrades the agent; it never kills it.
      logging::Error("agent: file source unavailable", {{"error", fsrc.status().ToString()}});
    } else if (Status s = (*fsrc)->Start(&correlator); !s.ok()) {
      logging::Error("agent: file source failed to start", {{"error", s.ToString()}});
    } else {
      sources.push_back(std::move(*fsrc));
    }
  }
  if (usb_on) {
    usb::UsbSourceOptions uo_usb;
    uo_usb.removable_mount_points = c.usb_removable_mount_points;
    uo_usb.attributor = &attributor;
    uo_usb.policy = c.usb_policy;
    auto usrc = usb::CreateUsbSource(std::move(uo_usb), RealClock());
    if (!usrc.ok()) {
      logging::Error("agent: usb source unavailable", {{"error", usrc.status().ToString()}});
    } else if (Status st = (*usrc)->Start(&correlator); !st.ok()) {
      logging::Error("agent: usb source failed to start", {{"error", st.ToString()}});
    } else {
      sources.push_back(std::move(*usrc));
    }
  }
  if (c.settings_enabled && !args.Has("no-settings-source")) {
    settings::SettingsSourceOptions sso;
    sso.agent_config_path = c.config_path;
    sso.agent_binary_path = "/proc/self/exe";
    char exe[4096];
    ssize_t n = ::readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) sso.agent_binary_path.assign(exe, static_cast<size_t>(n));
    sso.agent_spool_dir = c.spool_dir();
    sso.probe_interval =
        std::chrono::duration_cast<std::chrono::seconds>(c.settings_probe_interval);
    sso.state_dir = c.settings_state_dir();
    auto ssrc = settings::CreateSettingsSource(std::move(sso), RealClock());
    if (!ssrc.ok()) {
      logging::Error("agent: settings source unavailable", {{"error", ssrc.status().ToString()}});
    } else if (Status st = (*ssrc)->Start(&writer); !st.ok()) {
      logging::Error("agent: settings source failed to start", {{"error", st.ToString()}});
    } else {
      sources.push_back(std::move(*ssrc));
    }
  }
  ReplaySource* replay = nullptr;
  if (auto path = args.Get("replay")) {
    auto fmt = ParseReplayFormat(args.GetOr("replay-format", "custos-jsonl"));
    if (!fmt.ok()) return UsageError("--replay-format: " + fmt.status().message());
    auto rs = std::make_unique<ReplaySource>(ReplayOptions{*path, *fmt, false});
    if (Status s = rs->Start(&writer); !s.ok()) return Failure(s);
    replay = rs.get();
    sources.push_back(std::move(rs));
  }
  bool exit_when_drained = args.Has("exit-when-drained");
  logging::Info("custos-agent running",
                {{"version", kVersion},
                 {"agent", creds->agent_id},
                 {"collector", c.collector_host + ":" + std::to_string(c.collector_port)},
                 {"sources", sources.size()}});
  uint64_t last_written = 0;
  auto last_tick = std::chrono::steady_clock::now();
  int rc = 0;
  // One wake-up per status tick (the idle agent's main thread), 200 ms with
  // --exit-when-drained so that the exit follows the last ack closely.
  const auto tick = exit_when_drained ? std::chrono::milliseconds(200) : std::chrono::seconds(1);
  while (!g_stop) {
    const auto wait = std::chrono::duration_cast<std::chrono::nanoseconds>(tick).count();
    struct timespec ts {
      static_cast<time_t>(wait / 1'000'000'000), static_cast<long>(wait % 1'000'000'000)
    };
    if (sigtimedwait(&stop_signals, nullptr, &ts) > 0) g_stop = true;
    if (g_stop) break;
    auto now = std::chrono::steady_clock::now();
    if (now - last_tick >= std::chrono::seconds(1)) {
      auto ws = writer.Stats();
      auto us = client->Stats();
      auto ss = spool->Stats();
      double dt = std::chrono::duration<double>(now - last_tick).count();
      nlohmann::json st;
      st["time"] = FormatUnixNs(RealClock()->NowUnixNs());
      st["pid"] = getpid();
      st["agent_id"] = creds->agent_id;
      st["collector"] = c.collector_host + ":" + std::to_string(c.collector_port);
      st["connected"] = us.connected;
      st["last_error"] = us.last_error;
      st["refused"] = us.fatal;
      st["acked_seq"] = us.acked_seq;
      st["spool"] = {
          {"unacked_records", ss.unacked_records},
          {"bytes", ss.bytes_on_disk},
          {"oldest_unacked_age_s",
           ss.oldest_unacked_time_ns ? (RealClock()->NowUnixNs() - ss.oldest_unacked_time_ns) / 1e9
                                     : 0.0},
          {"dropped_records", ss.dropped_records},
          {"recovered_dropped_records", ss.recovered_dropped_records}};
      st["events_per_second"] = static_cast<double>(ws.written - last_written) / dt;
      auto cs = correlator.stats();
      st["pipeline"] = {{"written", ws.written},           {"dropped", ws.dropped},
                        {"write_errors", ws.write_errors}, {"copies_to_removable", cs.copies},
                        {"copies_linked", cs.linked},      {"copies_dropped", cs.dropped}};
      nlohmann::json srcs = nlohmann::json::array();
      for (const auto& s : sources) {
        auto h = s->Health();
        srcs.push_back({{"name", s->name()},
                        {"mechanism", h.mechanism},
                        {"health", custos::v1::HealthLevel_Name(h.level)},
                        {"message", h.message},
                        {"events", h.events},
                        {"lost", h.lost}});
      }
      st["sources"] = srcs;
      {
        const auto as = attributor.stats();
        nlohmann::json at = {{"process_events", tracking_state},
                             {"cache_hits", as.hits + as.tracked_hits},
                             {"procfs_reads", as.misses + as.exec_reads},
                             {"gone", as.gone}};
        if (tracker) {
          const auto ts = tracker->stats();
          if (!ts.running) at["process_events"] = "stopped (socket error; see the log)";
          if (ts.paused) at["process_events"] = "paused during an exec storm (resumes by itself)";
          at["execs"] = ts.execs;
          at["pauses"] = ts.pauses;
          at["gaps"] = ts.gaps;
        }
        st["attribution"] = at;
      }
      // Rewritten every second for `status`; atomic for readers, no fsync (not worth a disk
      // flush per second, and it is regenerated after a crash).
      (void)fs::WriteFileAtomic(f, c.status_path(), st.dump(2) + "\n", 0644, /*durable=*/false);
      last_written = ws.written;
      last_tick = now;
      ReportPersistAck(spool);
      if (us.fatal) {
        logging::Error("agent: the collector refused this agent; stopping",
                       {{"reason", us.last_error}});
        rc = 1;
        break;
      }
    }
    if (exit_when_drained && replay != nullptr && replay->finished()) {
      auto ws = writer.Stats();
      if (ws.written >= replay->Health().events && spool->OldestUnacked() == 0) break;
    }
  }
  logging::Info("custos-agent stopping");
  for (auto& s : sources) s->Stop();
  if (tracker) tracker->Stop();
  correlator.Stop();
  writer.Stop();
  client->Stop();
  runtime->Shutdown();
  ReportPersistAck(spool);
  return rc;
}

int PrintStatus(const AgentConfig& c) {
  auto text = fs::Posix()->ReadFile(c.status_path());
  bool enrolled = fs::Posix()->Exists(c.cert_path());
  if (!text.ok()) {
    std::printf("enrolled: %s\nrunning: no (no %s)\n", enrolled ? "yes" : "no",
                c.status_path().c_str());
    return 1;  // not running
  }
  auto st = nlohmann::json::parse(*text, nullptr, false);
  if (st.is_discarded())
    return Failure(DataLossError("status: " + c.status_path() + ": not valid JSON"));
  struct stat sb {};
  ::stat(c.status_path().c_str(), &sb);
  bool fresh = ::time(nullptr) - sb.st_mtime <= 5;
  std::printf("enrolled:   %s (agent %s)\n", enrolled ? "yes" : "no",
              st.value("agent_id", "").c_str());
  std::printf("running:    %s (status written %s)\n", fresh ? "yes" : "no, status is stale",
              st.value("time", "").c_str());
  std::printf("collector:  %s, %s%s\n", st.value("collector", "").c_str(),
              st.value("connected", false) ? "connected" : "not connected",
              st.value("last_error", "").empty()
                  ? ""
                  : (" (last error: " + st.value("last_error", "") + ")").c_str());
  const auto& sp = st["spool"];
  std::printf("spool:      %llu unsent events, %.1f MB, oldest unsent %.1f s ago, %llu dropped\n",
              static_cast<unsigned long long>(sp.value("unacked_records", 0ull)),
              sp.value("bytes", 0ull) / 1e6, sp.value("oldest_unacked_age_s", 0.0),
              static_cast<unsigned long long>(sp.value("dropped_records", 0ull)));
  std::printf("rate:       %.0f events/s; pipeline drops %llu\n",
              st.value("events_per_second", 0.0),
              static_cast<unsigned long long>(st["pipeline"].value("dropped", 0ull)));
  if (st.contains("attribution") && st["attribution"].is_object()) {
    const auto& at = st["attribution"];
    std::string counts;
    if (at.contains("execs")) {
      counts = " (" + std::to_string(at.value("execs", 0ull)) + " execs, " +
               std::to_string(at.value("gaps", 0ull)) + " gaps)";
    }
    std::printf("processes:  %s%s\n", at.value("process_events", "").c_str(), counts.c_str());
  }
  for (const auto& s : st["sources"]) {
    std::printf("source:     %s via %s: %s%s%s (%llu events, %llu lost)\n",
                s.value("name", "").c_str(), s.value("mechanism", "").c_str(),
                s.value("health", "").c_str(), s.value("message", "").empty() ? "" : ": ",
                s.value("message", "").c_str(),
                static_cast<unsigned long long>(s.value("events", 0ull)),
                static_cast<unsigned long long>(s.value("lost", 0ull)));
  }
  return fresh ? 0 : 1;
}

int Main(int argc, char** argv) {
  ::signal(SIGPIPE, SIG_IGN);
  struct sigaction sa {};
  sa.sa_handler = OnSignal;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  auto args = flags::Args::Parse(argc, argv,
                                 {{"config"},
                                  {"state-dir"},
                                  {"log-format"},
                                  {"log-level"},
                                  {"token"},
                                  {"token-file"},
                                  {"collector"},
                                  {"ca"},
                                  {"server-name"},
                                  {"replay"},
                                  {"replay-format"},
                                  {"no-file-source", false},
                                  {"no-settings-source", false},
                                  {"no-usb-source", false},
                                  {"exit-when-drained", false},
                                  {"help", false},
                                  {"version", false}});
  if (!args.ok()) return UsageError(args.status().message());
  if (args->Has("help")) {
    std::fputs(kUsage, stdout);
    return 0;
  }
  if (args->Has("version")) {
    std::printf("custos-agent %s\n", kVersion);
    return 0;
  }
  std::string config_path = args->GetOr("config", "");
  if (config_path.empty() && ::access(kDefaultAgentConfigPath, F_OK) == 0)
    config_path = kDefaultAgentConfigPath;
  auto cfg = LoadAgentConfig(config_path);
  if (!cfg.ok()) {
    std::fprintf(stderr, "custos-agent: %s\n", cfg.status().message().c_str());
    return 2;
  }
  if (auto d = args->Get("state-dir")) cfg->state_dir = *d;
  if (auto a = args->Get("collector")) {
    if (Status s = flags::ParseHostPort(*a, &cfg->collector_host, &cfg->collector_port); !s.ok()) {
      return UsageError("--collector: " + s.message());
    }
  }
  if (auto sn = args->Get("server-name")) cfg->server_name = *sn;
  if (Status s = logging::ApplyOverrides(args->Get("log-format"), args->Get("log-level"),
                                         &cfg->log_format, &cfg->log_level);
      !s.ok()) {
    return UsageError(s.message());
  }
  logging::Configure(cfg->log_format, cfg->log_level, "custos-agent");
  const auto& pos = args->positional();
  std::string cmd = pos.empty() ? "run" : pos[0];
  if (cmd == "run") return Run(*cfg, *args);
  if (cmd == "enroll") return Enroll(std::move(*cfg), *args);
  if (cmd == "status") return PrintStatus(*cfg);
  return UsageError("unknown command '" + cmd + "'");
}

}  // namespace
}  // namespace custos::agent

int main(int argc, char** argv) { return custos::agent::Main(argc, argv); }
