#include "agent/sources/settings/settings_source.h"

#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>
#include <thread>
#include <utility>

#include "common/crypto/crypto.h"
#include "common/fs/file_system.h"
#include "common/log/log.h"
#include "common/text/utf8.h"

namespace custos::agent::settings {

std::vector<WatchedPath> DefaultWatchedPaths() {
  return {
      {"sudoers", "/etc/sudoers"},
      {"sudoers", "/etc/sudoers.d"},
      {"sshd", "/etc/ssh/sshd_config"},
      {"sshd", "/etc/ssh/sshd_config.d"},
      {"pam", "/etc/pam.d"},
      {"audit", "/etc/audit/audit.rules"},
      {"audit", "/etc/audit/rules.d"},
      {"firewall", "/etc/nftables.conf"},
      {"firewall", "/etc/iptables"},
      {"selinux", "/etc/selinux/config"},
      {"apparmor", "/etc/apparmor.d"},
      {"accounts", "/etc/passwd"},
      {"accounts", "/etc/group"},
      {"accounts", "/etc/shadow"},
      {"cron", "/etc/crontab"},
      {"cron", "/etc/cron.d"},
      {"cron", "/var/spool/cron"},
      {"systemd", "/etc/systemd/system"},
  };
}

namespace {

constexpr char kStateFileName[] = "settings-state.v1";
constexpr char kStateHeader[] = "custos-settings-state v1";
constexpr char kComponent[] = "source.settings";
constexpr int kMaxDepth = 3;  // /var/spool/cron/crontabs/*, /etc/systemd/system/*.wants/*
constexpr size_t kMaxEntriesPerRoot = 5000;
const std::set<std::string>& PrivilegedGroups() {
  static const std::set<std::string> kGroups = {"sudo", "wheel", "adm", "root", "docker"};
  return kGroups;
}

// Proto strings must be valid UTF-8: a malformed byte becomes "\xNN".
std::string SafeUtf8(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  size_t i = 0;
  while (i < in.size()) {
    const size_t start = i;
    if (text::NextCodePoint(in, i) == text::kInvalidCodePoint) {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\x%02x", static_cast<unsigned char>(in[start]));
      out += buf;
    } else {
      out.append(in.substr(start, i - start));
    }
  }
  return out;
}

std::string HashValue(std::string_view content) {
  return "sha256:" + crypto::HexEncode(crypto::Sha256(content));
}

std::string Basename(const std::string& path) {
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

std::vector<std::string> SplitLines(std::string_view content) {
  std::vector<std::string> lines;
  size_t pos = 0;
  while (pos < content.size()) {
    size_t nl = content.find('\n', pos);
    if (nl == std::string_view::npos) nl = content.size();
    lines.emplace_back(content.substr(pos, nl - pos));
    pos = nl + 1;
  }
  return lines;
}

std::vector<std::string> Split(std::string_view s, char sep) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (true) {
    const size_t next = s.find(sep, pos);
    out.emplace_back(s.substr(pos, next == std::string_view::npos ? s.npos : next - pos));
    if (next == std::string_view::npos) break;
    pos = next + 1;
  }
  return out;
}

std::string Trim(std::string_view s) {
  const size_t b = s.find_first_not_of(" \t\r");
  if (b == std::string_view::npos) return "";
  const size_t e = s.find_last_not_of(" \t\r");
  return std::string(s.substr(b, e - b + 1));
}

// Multiset difference: lines of `a` not matched in `b`, in `a`'s order.
std::vector<std::string> Minus(const std::vector<std::string>& a,
                               const std::vector<std::string>& b) {
  std::map<std::string, int> count;
  for (const auto& l : b) ++count[l];
  std::vector<std::string> out;
  for (const auto& l : a) {
    auto it = count.find(l);
    if (it != count.end() && it->second > 0) {
      --it->second;
    } else {
      out.push_back(l);
    }
  }
  return out;
}

// Joins summary lines, cut at `cap` bytes on a line boundary (a single over-long first line is
// cut on a UTF-8 boundary) with a count of what was left out.
std::string CapSummary(const std::vector<std::string>& lines, size_t cap) {
  std::string out;
  size_t used = 0;
  for (const auto& raw : lines) {
    std::string line = SafeUtf8(raw);
    const size_t extra = (out.empty() ? 0 : 1) + line.size();
    if (out.size() + extra > cap) {
      if (out.empty()) {
        size_t cut = std::min(cap, line.size());
        while (cut > 0 && (static_cast<unsigned char>(line[cut]) & 0xC0) == 0x80) --cut;
        out = line.substr(0, cut);
        ++used;
      }
      break;
    }
    if (!out.empty()) out += '\n';
    out += line;
    ++used;
  }
  if (used < lines.size()) {
    out += "\n... (" + std::to_string(lines.size() - used) + " more)";
  }
  return out;
}

enum class Kind {
  kText,      // file content: hash + line diff
  kShadow,    // per-user digests only
  kBinary,    // hash only
  kPresence,  // a directory that must exist
  kValue,     // a single probe value
  kList,      // probe lines (modules, firewall ruleset)
  kPackages,  // dpkg status or the rpm command: lines "name version", sorted
};

struct ItemDef {
  std::string area;
  std::string key;   // logical path or setting name
  std::string path;  // real path read (root prefix applied); empty for command probes
  std::string root;  // the watched path (or probe key) this item belongs to
  Kind kind = Kind::kText;
};

struct Owner {
  uint32_t uid = 0, gid = 0;
  bool operator==(const Owner&) const = default;
};

struct ItemState {
  bool exists = false;
  uint32_t mode = 0;
  // Files that exist; unknown for probes and in state files written before owners were tracked.
  std::optional<Owner> owner;
  std::string value;               // "sha256:..." or a probe value
  std::vector<std::string> lines;  // for diffs
};

bool operator==(const ItemState& a, const ItemState& b) {
  return a.exists == b.exists && a.mode == b.mode && a.owner == b.owner && a.value == b.value &&
         a.lines == b.lines;
}

// getpwuid_r/getgrgid_r want a caller buffer; ERANGE means "larger".
template <typename Entry, typename Lookup>
std::string NameOrNumber(uint32_t id, int size_hint_name, Lookup lookup, char* Entry::*name_field) {
  const long hint = sysconf(size_hint_name);
  std::vector<char> buf(hint > 0 ? static_cast<size_t>(hint) : 1024);
  Entry entry{};
  Entry* found = nullptr;
  int rc;
  while ((rc = lookup(id, &entry, buf.data(), buf.size(), &found)) == ERANGE &&
         buf.size() < (1u << 20)) {
    buf.resize(buf.size() * 2);
  }
  if (rc == 0 && found != nullptr && found->*name_field != nullptr && *(found->*name_field)) {
    return found->*name_field;
  }
  return std::to_string(id);
}

// "user:group" by the host's name service; numbers for ids without a name.
std::string OwnerText(const Owner& o) {
  return NameOrNumber<passwd>(o.uid, _SC_GETPW_R_SIZE_MAX, getpwuid_r, &passwd::pw_name) + ":" +
         NameOrNumber<group>(o.gid, _SC_GETGR_R_SIZE_MAX, getgrgid_r, &group::gr_name);
}

// Summary lines for attribute changes of a file that existed before and still does. An owner
// is compared only when both sides know it (state files of older versions have none).
void AppendAttributeChanges(const ItemState& old, const ItemState& now,
                            std::vector<std::string>* out) {
  if (old.mode != now.mode) {
    char buf[64];
    std::snprintf(buf, sizeof(buf), "mode %04o -> %04o", old.mode, now.mode);
    out->push_back(buf);
  }
  if (old.owner && now.owner && *old.owner != *now.owner) {
    out->push_back("owner " + OwnerText(*old.owner) + " -> " + OwnerText(*now.owner));
  }
}

struct StatSig {
  int64_t mtime_ns = 0, ctime_ns = 0;
  uint64_t size = 0, ino = 0;
  bool operator==(const StatSig&) const = default;
};

// ---- State file -----------------------------------------------------------------------------

std::string Escape(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == ' ') {
      out += "\\s";
    } else if (c == '\r') {
      out += "\\r";
    } else {
      out += c;
    }
  }
  return out.empty() ? "\\e" : out;
}

bool Unescape(std::string_view s, std::string* out) {
  out->clear();
  if (s == "\\e") return true;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '\\') {
      *out += s[i];
      continue;
    }
    if (++i >= s.size()) return false;
    switch (s[i]) {
      case '\\':
        *out += '\\';
        break;
      case 'n':
        *out += '\n';
        break;
      case 's':
        *out += ' ';
        break;
      case 'r':
        *out += '\r';
        break;
      default:
        return false;
    }
  }
  return true;
}

struct Baseline {
  std::set<std::string> roots;
  std::map<std::string, ItemState> items;
};

std::string SerializeBaseline(const Baseline& b) {
  std::string out = std::string(kStateHeader) + "\n";
  for (const auto& r : b.roots) out += "root " + Escape(r) + "\n";
  for (const auto& [key, st] : b.items) {
    out += "item " + Escape(key) + " " + (st.exists ? "1" : "0") + " " + std::to_string(st.mode) +
           " " + Escape(st.value) + " " + std::to_string(st.lines.size());
    if (st.owner) {
      out += " " + std::to_string(st.owner->uid) + " " + std::to_string(st.owner->gid);
    }
    out += "\n";
    for (const auto& l : st.lines) out += Escape(l) + "\n";
  }
  return out;
}

// A decimal uint32 with nothing else (strtoul alone would take "-1", "" and "7x").
bool ParseU32(const std::string& s, uint32_t* out) {
  if (s.empty() || s.size() > 10 ||
      !std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return false;
  }
  const unsigned long long v = std::strtoull(s.c_str(), nullptr, 10);
  if (v > UINT32_MAX) return false;
  *out = static_cast<uint32_t>(v);
  return true;
}

Result<Baseline> ParseBaseline(const std::string& content) {
  Baseline b;
  auto lines = SplitLines(content);
  if (lines.empty() || lines[0] != kStateHeader) return DataLossError("bad header");
  for (size_t i = 1; i < lines.size(); ++i) {
    auto f = Split(lines[i], ' ');
    std::string s;
    if (f.size() == 2 && f[0] == "root" && Unescape(f[1], &s)) {
      b.roots.insert(s);
      continue;
    }
    // 6 fields: written before owners were tracked; 8: with "<uid> <gid>" appended.
    if ((f.size() != 6 && f.size() != 8) || f[0] != "item") {
      return DataLossError("line " + std::to_string(i + 1) + ": malformed");
    }
    std::string key;
    ItemState st;
    char* end = nullptr;
    const unsigned long mode = std::strtoul(f[3].c_str(), &end, 10);
    const unsigned long long n = std::strtoull(f[5].c_str(), nullptr, 10);
    if (!Unescape(f[1], &key) || !Unescape(f[4], &st.value) || *end != '\0' ||
        n > lines.size() - i - 1) {
      return DataLossError("line " + std::to_string(i + 1) + ": malformed item");
    }
    st.exists = f[2] == "1";
    st.mode = static_cast<uint32_t>(mode);
    if (f.size() == 8) {
      Owner o;
      if (!ParseU32(f[6], &o.uid) || !ParseU32(f[7], &o.gid)) {
        return DataLossError("line " + std::to_string(i + 1) + ": malformed owner");
      }
      st.owner = o;
    }
    for (unsigned long long k = 0; k < n; ++k) {
      if (!Unescape(lines[++i], &s)) return DataLossError("line " + std::to_string(i + 1));
      st.lines.push_back(s);
    }
    b.items[key] = std::move(st);
  }
  return b;
}

// ---- Commands ---------------------------------------------------------------------------------

struct CommandOutput {
  int exit_code = -1;
  std::string out;
};

// fork/exec without a shell; stdout captured up to max_bytes, stdin/stderr /dev/null; killed at
// the deadline.
Result<CommandOutput> RunCommand(const std::vector<std::string>& argv,
                                 std::chrono::milliseconds timeout, size_t max_bytes) {
  std::vector<char*> cargv;
  for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return ErrnoError("pipe2", errno);
  const pid_t pid = fork();
  if (pid < 0) {
    const int err = errno;
    close(fds[0]);
    close(fds[1]);
    return ErrnoError("fork", err);
  }
  if (pid == 0) {
    // Child: async-signal-safe calls only. The agent blocks SIGTERM/SIGINT in its threads (its
    // main loop takes them with sigtimedwait); the tool starts with none blocked.
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    const int devnull = open("/dev/null", O_RDWR);
    if (devnull >= 0) {
      dup2(devnull, 0);
      dup2(devnull, 2);
    }
    dup2(fds[1], 1);
    execv(cargv[0], cargv.data());
    _exit(127);
  }
  close(fds[1]);
  CommandOutput result;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  bool timed_out = false;
  char buf[65536];
  while (true) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      timed_out = true;
      break;
    }
    pollfd p{fds[0], POLLIN, 0};
    const int r = poll(&p, 1, static_cast<int>(left.count()));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      timed_out = r == 0;
      break;
    }
    const ssize_t n = read(fds[0], buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    if (result.out.size() < max_bytes) result.out.append(buf, static_cast<size_t>(n));
  }
  close(fds[0]);
  if (timed_out) kill(pid, SIGKILL);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (timed_out) {
    return DeadlineExceededError(argv[0] + ": timed out after " + std::to_string(timeout.count()) +
                                 " ms");
  }
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return result;
}

// Drops packet/byte counters so only rule changes count.
std::string NormalizeRuleLine(std::string_view line) {
  std::string t = Trim(line);
  if (t.empty() || t[0] == '#') return "";
  std::istringstream in(t);
  std::string tok, out, prev;
  while (in >> tok) {
    const bool numeric = !tok.empty() && std::all_of(tok.begin(), tok.end(),
                                                     [](char c) { return c >= '0' && c <= '9'; });
    if (numeric && (prev == "packets" || prev == "bytes")) {
      prev = tok;
      continue;
    }
    // iptables-save chain counters "[12:345]".
    if (tok.size() > 2 && tok.front() == '[' && tok.back() == ']' &&
        tok.find(':') != std::string::npos) {
      prev = tok;
      continue;
    }
    if (!out.empty()) out += ' ';
    out += tok;
    prev = tok;
  }
  return out;
}

}  // namespace

// ---- The source -------------------------------------------------------------------------------

class SettingsSource::State {
 public:
  State(SettingsSourceOptions options, Clock* clock)
      : options_(std::move(options)), clock_(clock) {}

  Status Start(EventSink* sink);
  void Stop();
  SourceHealth Health() const;
  void ProbeRound();

 private:
  std::string Real(const std::string& path) const { return options_.root_prefix + path; }
  // The path as the host sees it (without the test root prefix), for messages.
  std::string Logical(const ItemDef& def) const {
    return def.path.substr(std::min(def.path.size(), options_.root_prefix.size()));
  }
  std::vector<ItemDef> FileItems();
  // Lists a watched directory's files, descending kMaxDepth levels.
  void ListDir(const WatchedPath& w, const std::string& dir, int depth, std::vector<ItemDef>* items,
               size_t* count);
  std::vector<ItemDef> ProbeItems();
  // Reads one item; nullopt when unreadable (a problem is recorded).
  std::optional<ItemState> Read(const ItemDef& def, bool use_stat_cache, bool* unchanged);
  void Check(const ItemDef& def, custos::v1::ObservedBy by, bool use_stat_cache);
  void Report(const ItemDef& def, const ItemState* old, const ItemState& now,
              custos::v1::ObservedBy by);
  void ReportAccounts(const ItemDef& def, const ItemState* old, const ItemState& now,
                      custos::v1::ObservedBy by);
  void Emit(const std::string& area, const std::string& key, const std::string& old_value,
            const std::string& new_value, const std::string& summary, custos::v1::ObservedBy by);
  void Problem(const std::string& id, const std::string& message,
               custos::v1::HealthLevel level = custos::v1::HEALTH_LEVEL_DEGRADED);
  void Resolved(const std::string& id);
  void PushEvent(custos::v1::Event&& ev);
  void Persist();
  void AddWatches();
  void WatchLoop();
  void HandleInotify();

  const SettingsSourceOptions options_;
  Clock* const clock_;
  EventSink* sink_ = nullptr;

  std::mutex mu_;  // serialises rounds and watch handling; guards everything below
  Baseline baseline_;
  bool baseline_loaded_ = false;  // a persisted state existed at Start
  bool dirty_ = false;
  std::map<std::string, StatSig> stat_cache_;
  std::map<std::string, std::string> problems_;  // id -> message (DEGRADED ones)
  std::set<std::string> notes_;                  // OK-level notes already sent
  int inotify_fd_ = -1;
  std::map<int, std::string> wd_dir_;  // wd -> logical directory
  std::set<std::string> watched_dirs_;
  std::set<std::string> listed_dirs_;  // directories found by the last FileItems()
  std::map<std::string, std::vector<const WatchedPath*>> file_by_path_;  // logical file -> def

  mutable std::mutex health_mu_;
  std::string first_problem_;
  size_t problem_count_ = 0;
  std::atomic<uint64_t> events_{0};
  std::atomic<uint64_t> lost_{0};

  int stop_pipe_[2] = {-1, -1};
  std::thread thread_;
  bool started_ = false;
  std::vector<WatchedPath> all_watched_;
};

void SettingsSource::State::PushEvent(custos::v1::Event&& ev) {
  if (sink_ != nullptr && sink_->Push(std::move(ev))) {
    ++events_;
  } else {
    ++lost_;
  }
}

void SettingsSource::State::Emit(const std::string& area, const std::string& key,
                                 const std::string& old_value, const std::string& new_value,
                                 const std::string& summary, custos::v1::ObservedBy by) {
  custos::v1::Event ev;
  ev.set_time_ns(clock_->NowUnixNs());
  ev.mutable_actor()->set_partial(true);
  auto* s = ev.mutable_setting();
  s->set_area(SafeUtf8(area));
  s->set_key(SafeUtf8(key));
  s->set_old_value(SafeUtf8(old_value));
  s->set_new_value(SafeUtf8(new_value));
  s->set_summary(SafeUtf8(summary));
  s->set_observed_by(by);
  PushEvent(std::move(ev));
}

void SettingsSource::State::Problem(const std::string& id, const std::string& message,
                                    custos::v1::HealthLevel level) {
  if (level == custos::v1::HEALTH_LEVEL_DEGRADED) {
    auto it = problems_.find(id);
    if (it != problems_.end() && it->second == message) return;
    problems_[id] = message;
    logging::Warn("settings source degraded", {{"problem", message}});
  } else {
    if (!notes_.insert(id).second) return;
    logging::Info("settings source note", {{"note", message}});
  }
  {
    std::lock_guard<std::mutex> lock(health_mu_);
    problem_count_ = problems_.size();
    first_problem_ = problems_.empty() ? "" : problems_.begin()->second;
  }
  custos::v1::Event ev;
  ev.set_time_ns(clock_->NowUnixNs());
  auto* h = ev.mutable_health();
  h->set_component(kComponent);
  h->set_level(level);
  h->set_message(SafeUtf8(message));
  (*h->mutable_facts())["item"] = SafeUtf8(id);
  PushEvent(std::move(ev));
}

void SettingsSource::State::Resolved(const std::string& id) {
  if (problems_.erase(id) == 0) return;
  std::lock_guard<std::mutex> lock(health_mu_);
  problem_count_ = problems_.size();
  first_problem_ = problems_.empty() ? "" : problems_.begin()->second;
}

SourceHealth SettingsSource::State::Health() const {
  SourceHealth h;
  h.mechanism = "inotify+probe";
  {
    std::lock_guard<std::mutex> lock(health_mu_);
    if (problem_count_ > 0) {
      h.level = custos::v1::HEALTH_LEVEL_DEGRADED;
      h.message = first_problem_;
      if (problem_count_ > 1) h.message += " (+" + std::to_string(problem_count_ - 1) + " more)";
    }
  }
  h.events = events_.load();
  h.lost = lost_.load();
  return h;
}

void SettingsSource::State::ListDir(const WatchedPath& w, const std::string& dir, int depth,
                                    std::vector<ItemDef>* items, size_t* count) {
  const std::string real = Real(dir);
  DIR* d = opendir(real.c_str());
  if (d == nullptr) {
    Problem(dir, "settings: list " + dir + ": " + std::strerror(errno));
    return;
  }
  Resolved(dir);
  listed_dirs_.insert(dir);
  std::vector<std::string> names;
  while (dirent* e = readdir(d)) {
    const std::string n = e->d_name;
    if (n == "." || n == "..") continue;
    names.push_back(n);
  }
  closedir(d);
  std::sort(names.begin(), names.end());
  for (const auto& n : names) {
    if (*count >= kMaxEntriesPerRoot) {
      Problem(w.path, "settings: list " + w.path + ": more than " +
                          std::to_string(kMaxEntriesPerRoot) + " entries; the rest not tracked");
      return;
    }
    struct stat est {};
    const std::string logical = dir + "/" + n;
    // Symlinks are followed (systemd "enable" links read as the unit they point to); the depth
    // cap also ends symlink loops.
    if (stat((real + "/" + n).c_str(), &est) == 0 && S_ISDIR(est.st_mode)) {
      if (depth + 1 < kMaxDepth) ListDir(w, logical, depth + 1, items, count);
      continue;
    }
    ++*count;
    items->push_back({w.area, logical, real + "/" + n, w.path, Kind::kText});
  }
}

std::vector<ItemDef> SettingsSource::State::FileItems() {
  std::vector<ItemDef> items;
  listed_dirs_.clear();
  for (const auto& w : all_watched_) {
    const std::string real = Real(w.path);
    struct stat st {};
    const bool is_agent_spool = w.area == "agent" && w.path == options_.agent_spool_dir;
    if (is_agent_spool) {
      items.push_back({w.area, w.path, real, w.path, Kind::kPresence});
      continue;
    }
    const bool is_binary = w.area == "agent" && w.path == options_.agent_binary_path;
    if (stat(real.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
      size_t count = 0;
      ListDir(w, w.path, 0, &items, &count);
    } else {
      Kind kind = Kind::kText;
      const std::string base = Basename(w.path);
      if (base == "shadow" || base == "gshadow") kind = Kind::kShadow;
      if (is_binary) kind = Kind::kBinary;
      items.push_back({w.area, w.path, real, w.path, kind});
    }
  }
  // Files that existed before but whose directory entry is gone: check them as deleted.
  std::set<std::string> present;
  for (const auto& i : items) present.insert(i.key);
  for (const auto& [key, st] : baseline_.items) {
    if (present.count(key) != 0 || !st.exists) continue;
    for (const auto& w : all_watched_) {
      if (key.size() > w.path.size() && key.compare(0, w.path.size(), w.path) == 0 &&
          key[w.path.size()] == '/') {
        items.push_back({w.area, key, Real(key), w.path, Kind::kText});
        break;
      }
    }
  }
  return items;
}

std::vector<ItemDef> SettingsSource::State::ProbeItems() {
  std::vector<ItemDef> items;
  if (!options_.firewall_commands.empty()) {
    items.push_back({"firewall", "ruleset", "", "ruleset", Kind::kList});
  }
  items.push_back({"lsm", "selinux", "", "selinux", Kind::kValue});
  items.push_back({"lsm", "apparmor", "", "apparmor", Kind::kValue});
  items.push_back({"audit", "auditd", "", "auditd", Kind::kValue});
  items.push_back({"kernel", "modules", Real("/proc/modules"), "modules", Kind::kList});
  items.push_back({"packages", "dpkg", Real("/var/lib/dpkg/status"), "dpkg", Kind::kPackages});
  if (!options_.rpm_command.empty()) {
    items.push_back({"packages", "rpm", "", "rpm", Kind::kPackages});
  }
  return items;
}

std::optional<ItemState> SettingsSource::State::Read(const ItemDef& def, bool use_stat_cache,
                                                     bool* unchanged) {
  *unchanged = false;
  ItemState st;
  // ---- Probe values ----
  if (def.key == "ruleset" && def.area == "firewall") {
    const std::vector<std::string>* cmd = nullptr;
    for (const auto& c : options_.firewall_commands) {
      if (!c.empty() && access(c[0].c_str(), X_OK) == 0) {
        cmd = &c;
        break;
      }
    }
    if (cmd == nullptr) {
      Problem("firewall:tool",
              "settings: firewall probe: no firewall tool found (tried " +
                  options_.firewall_commands.front()[0] + " and others); live ruleset not probed",
              custos::v1::HEALTH_LEVEL_OK);
      return std::nullopt;
    }
    auto out = RunCommand(*cmd, options_.command_timeout, options_.max_file_bytes);
    if (!out.ok() || out->exit_code != 0) {
      Problem(def.key, "settings: firewall probe: " + (*cmd)[0] + ": " +
                           (out.ok() ? "exit code " + std::to_string(out->exit_code)
                                     : out.status().message()));
      return std::nullopt;
    }
    Resolved(def.key);
    st.exists = true;
    for (const auto& l : SplitLines(out->out)) {
      std::string n = NormalizeRuleLine(l);
      if (!n.empty()) st.lines.push_back(std::move(n));
    }
    std::string joined;
    for (const auto& l : st.lines) joined += l + "\n";
    st.value = HashValue(joined);
    return st;
  }
  if (def.area == "packages" && def.key == "rpm") {
    const auto& cmd = options_.rpm_command;
    if (access(cmd[0].c_str(), X_OK) != 0) {
      Problem("rpm:tool", "settings: rpm probe: " + cmd[0] + " not found; rpm packages not probed",
              custos::v1::HEALTH_LEVEL_OK);
      return std::nullopt;
    }
    auto out = RunCommand(cmd, options_.command_timeout, options_.max_file_bytes);
    if (!out.ok() || out->exit_code != 0) {
      Problem(def.key, "settings: rpm probe: " + cmd[0] + ": " +
                           (out.ok() ? "exit code " + std::to_string(out->exit_code)
                                     : out.status().message()));
      return std::nullopt;
    }
    if (out->out.size() >= options_.max_file_bytes) {
      Problem(def.key, "settings: rpm probe: " + cmd[0] + ": output larger than " +
                           std::to_string(options_.max_file_bytes) + " bytes; not tracked");
      return std::nullopt;
    }
    for (const auto& l : SplitLines(out->out)) {
      const std::string t = Trim(l);
      if (t.empty()) continue;
      const size_t sp = t.find(' ');
      if (sp == 0 || sp == std::string::npos) {
        Problem(def.key, "settings: rpm probe: " + cmd[0] +
                             ": expected 'NAME VERSION' lines, got '" + SafeUtf8(t.substr(0, 80)) +
                             "'");
        return std::nullopt;
      }
      st.lines.push_back(t.substr(0, sp) + " " + Trim(t.substr(sp + 1)));
    }
    Resolved(def.key);
    // rpm lists in database order; sorted, the value changes only when the set does.
    std::sort(st.lines.begin(), st.lines.end());
    st.exists = true;
    std::string joined;
    for (const auto& l : st.lines) joined += l + "\n";
    st.value = HashValue(joined);
    return st;
  }
  if (def.area == "lsm" && def.key == "selinux") {
    auto r = fs::Posix()->ReadFile(Real("/sys/fs/selinux/enforce"));
    st.exists = true;
    st.value = !r.ok() ? "not present" : (Trim(*r) == "1" ? "enforcing" : "permissive");
    return st;
  }
  if (def.area == "lsm" && def.key == "apparmor") {
    st.exists = true;
    auto enabled = fs::Posix()->ReadFile(Real("/sys/module/apparmor/parameters/enabled"));
    if (!enabled.ok()) {
      st.value = "not present";
      return st;
    }
    st.value = "enabled=" + Trim(*enabled);
    auto profiles = fs::Posix()->ReadFile(Real("/sys/kernel/security/apparmor/profiles"));
    if (profiles.ok()) {
      size_t enforce = 0, complain = 0, total = 0;
      for (const auto& l : SplitLines(*profiles)) {
        if (Trim(l).empty()) continue;
        ++total;
        if (l.find("(enforce)") != std::string::npos) ++enforce;
        if (l.find("(complain)") != std::string::npos) ++complain;
      }
      st.value += " profiles=" + std::to_string(total) + " enforce=" + std::to_string(enforce) +
                  " complain=" + std::to_string(complain);
    }
    return st;
  }
  if (def.area == "audit" && def.key == "auditd") {
    st.exists = true;
    bool running = false;
    const std::string proc = Real("/proc");
    DIR* d = opendir(proc.c_str());
    if (d == nullptr) {
      Problem(def.key, "settings: auditd probe: list " + proc + ": " + std::strerror(errno));
      return std::nullopt;
    }
    while (dirent* e = readdir(d)) {
      if (e->d_name[0] < '1' || e->d_name[0] > '9') continue;
      auto comm = fs::Posix()->ReadFile(proc + "/" + e->d_name + "/comm");
      if (comm.ok() && Trim(Split(*comm, '\n')[0]) == "auditd") running = true;
      if (running) break;
    }
    closedir(d);
    Resolved(def.key);
    st.value = running ? "running" : "not running";
    return st;
  }
  // ---- Files ----
  struct stat sb {};
  if (stat(def.path.c_str(), &sb) != 0) {
    if (errno == ENOENT || errno == ENOTDIR) {
      Resolved(def.key);
      stat_cache_.erase(def.key);
      if (def.kind == Kind::kPresence) st.value = "missing";
      if (def.key == "modules") {
        Problem("modules",
                "settings: modules probe: " + Logical(def) +
                    " is missing (no loadable module support); not probed",
                custos::v1::HEALTH_LEVEL_OK);
      }
      return st;  // absent
    }
    Problem(def.key, "settings: stat " + def.key + ": " + std::strerror(errno));
    return std::nullopt;
  }
  if (def.kind == Kind::kPresence) {
    st.exists = S_ISDIR(sb.st_mode);
    st.value = st.exists ? "present" : "missing";
    return st;
  }
  // Only regular files are read: a FIFO or device planted in a watched directory must not
  // block or flood the source.
  if (!S_ISREG(sb.st_mode)) {
    Problem(def.key, "settings: read " + def.key + ": not a regular file");
    return std::nullopt;
  }
  const StatSig sig{static_cast<int64_t>(sb.st_mtim.tv_sec) * 1'000'000'000 + sb.st_mtim.tv_nsec,
                    static_cast<int64_t>(sb.st_ctim.tv_sec) * 1'000'000'000 + sb.st_ctim.tv_nsec,
                    static_cast<uint64_t>(sb.st_size), static_cast<uint64_t>(sb.st_ino)};
  // /proc files have no meaningful size or mtime: always read them.
  const bool cacheable = sb.st_size > 0 && def.kind != Kind::kList;
  if (use_stat_cache && cacheable) {
    auto it = stat_cache_.find(def.key);
    if (it != stat_cache_.end() && it->second == sig && baseline_.items.count(def.key) != 0) {
      *unchanged = true;
      return std::nullopt;
    }
  }
  const size_t cap =
      def.kind == Kind::kBinary ? options_.max_binary_bytes : options_.max_file_bytes;
  if (static_cast<uint64_t>(sb.st_size) > cap) {
    Problem(def.key, "settings: read " + def.key + ": larger than " + std::to_string(cap) +
                         " bytes; not tracked");
    return std::nullopt;
  }
  auto content = fs::Posix()->ReadFile(def.path);
  if (!content.ok()) {
    if (content.status().code() == StatusCode::kNotFound) return st;
    Problem(def.key, "settings: read " + def.key + ": " + content.status().message());
    return std::nullopt;
  }
  st.exists = true;
  st.mode = sb.st_mode & 07777;
  st.owner = Owner{static_cast<uint32_t>(sb.st_uid), static_cast<uint32_t>(sb.st_gid)};
  switch (def.kind) {
    case Kind::kBinary:
      st.value = HashValue(*content);
      break;
    case Kind::kShadow:
      for (const auto& l : SplitLines(*content)) {
        if (Trim(l).empty()) continue;
        const size_t c1 = l.find(':');
        if (c1 == std::string::npos) {
          Problem(def.key, "settings: parse " + def.key + ": an entry has no ':' separator");
          return std::nullopt;
        }
        const size_t c2 = l.find(':', c1 + 1);
        const std::string pw = l.substr(c1 + 1, c2 == std::string::npos ? l.npos : c2 - c1 - 1);
        const std::string rest = c2 == std::string::npos ? "" : l.substr(c2);
        st.lines.push_back(l.substr(0, c1) + " " + crypto::HexEncode(crypto::Sha256(pw)) + " " +
                           crypto::HexEncode(crypto::Sha256(rest)));
      }
      break;
    case Kind::kList: {  // /proc/modules: "name size refcount deps state address"
      for (const auto& l : SplitLines(*content)) {
        if (Trim(l).empty()) continue;
        auto f = Split(l, ' ');
        if (f.size() < 3 || f[0].empty()) {
          Problem(def.key, "settings: parse " + Logical(def) + ": malformed line '" +
                               SafeUtf8(l.substr(0, 80)) + "'");
          return std::nullopt;
        }
        st.lines.push_back(f[0]);
      }
      std::sort(st.lines.begin(), st.lines.end());
      std::string joined;
      for (const auto& l : st.lines) joined += l + "\n";
      st.value = HashValue(joined);
      break;
    }
    case Kind::kPackages: {
      std::map<std::string, std::string> pkgs;
      std::string name, version, status;
      auto flush = [&]() -> bool {
        if (name.empty() && version.empty() && status.empty()) return true;
        if (name.empty()) return false;
        if (status.size() >= 10 && status.compare(status.size() - 10, 10, " installed") == 0) {
          pkgs[name] = version;
        }
        name.clear(), version.clear(), status.clear();
        return true;
      };
      size_t lineno = 0;
      for (const auto& l : SplitLines(*content)) {
        ++lineno;
        if (Trim(l).empty()) {
          if (!flush()) {
            Problem(def.key, "settings: parse " + Logical(def) + ": stanza ending at line " +
                                 std::to_string(lineno) + " has no Package field");
            return std::nullopt;
          }
          continue;
        }
        if (l[0] == ' ' || l[0] == '\t') continue;  // continuation
        const size_t colon = l.find(':');
        if (colon == std::string::npos) {
          Problem(def.key, "settings: parse " + Logical(def) + ": line " + std::to_string(lineno) +
                               ": not a 'Field: value' line");
          return std::nullopt;
        }
        const std::string field = l.substr(0, colon);
        const std::string value = Trim(l.substr(colon + 1));
        if (field == "Package") name = value;
        if (field == "Version") version = value;
        if (field == "Status") status = value;
      }
      if (!flush()) {
        Problem(def.key, "settings: parse " + Logical(def) + ": last stanza has no Package field");
        return std::nullopt;
      }
      for (const auto& [n, v] : pkgs) st.lines.push_back(n + " " + v);
      st.value = HashValue(*content);
      break;
    }
    default:
      st.value = HashValue(*content);
      st.lines = SplitLines(*content);
      break;
  }
  // Accounts files must parse (an entry with the wrong field count is reported).
  if (def.area == "accounts" && (Basename(def.key) == "passwd" || Basename(def.key) == "group")) {
    const size_t want = Basename(def.key) == "passwd" ? 7 : 4;
    for (size_t i = 0; i < st.lines.size(); ++i) {
      if (Trim(st.lines[i]).empty() || st.lines[i][0] == '#') continue;
      if (Split(st.lines[i], ':').size() != want) {
        Problem(def.key, "settings: parse " + def.key + ": line " + std::to_string(i + 1) +
                             ": expected " + std::to_string(want) + " ':'-separated fields");
        return std::nullopt;
      }
    }
  }
  Resolved(def.key);
  stat_cache_[def.key] = sig;
  return st;
}

void SettingsSource::State::Check(const ItemDef& def, custos::v1::ObservedBy by,
                                  bool use_stat_cache) {
  bool unchanged = false;
  auto now = Read(def, use_stat_cache, &unchanged);
  if (!now) return;  // unchanged or unreadable: keep the last known state
  auto it = baseline_.items.find(def.key);
  ItemState* old = it == baseline_.items.end() ? nullptr : &it->second;
  // A state file of an older version knows no owners: the first owner seen is recorded silently,
  // so an upgrade never reports every watched file as re-owned.
  if (old != nullptr && old->exists && !old->owner && now->owner) {
    old->owner = now->owner;
    dirty_ = true;
  }
  if (old != nullptr && *old == *now) return;
  if (old == nullptr && !now->exists) return;  // still absent: nothing to record
  // Items never seen before: reported when their root was already tracked (a new file in a
  // watched directory), silently recorded otherwise (first run, newly configured path).
  const bool known_root = baseline_.roots.count(def.root) != 0;
  if (old != nullptr || (known_root && now->exists)) Report(def, old, *now, by);
  if (now->exists || old != nullptr) baseline_.items[def.key] = *now;
  dirty_ = true;
}

void SettingsSource::State::Report(const ItemDef& def, const ItemState* old, const ItemState& now,
                                   custos::v1::ObservedBy by) {
  const bool was = old != nullptr && old->exists;
  if (!was && !now.exists) return;
  const size_t cap = options_.max_summary_bytes;
  switch (def.kind) {
    case Kind::kShadow: {
      std::map<std::string, std::pair<std::string, std::string>> before, after;
      auto parse = [](const std::vector<std::string>& lines, auto* m) {
        for (const auto& l : lines) {
          auto f = Split(l, ' ');
          if (f.size() == 3) (*m)[f[0]] = {f[1], f[2]};
        }
      };
      if (old != nullptr) parse(old->lines, &before);
      parse(now.lines, &after);
      std::vector<std::string> out;
      for (const auto& [user, h] : after) {
        auto b = before.find(user);
        if (b == before.end()) {
          if (was) out.push_back("shadow entry added for user " + user);
        } else if (b->second.first != h.first) {
          out.push_back("password hash changed for user " + user);
        } else if (b->second.second != h.second) {
          out.push_back("password aging changed for user " + user);
        }
      }
      for (const auto& [user, h] : before) {
        if (after.count(user) == 0) out.push_back("shadow entry removed for user " + user);
      }
      if (was && now.exists) AppendAttributeChanges(*old, now, &out);
      if (!was) out.insert(out.begin(), "created");
      if (!now.exists) out = {"deleted"};
      Emit(def.area, def.key, was ? "present" : "",
           now.exists ? (was ? "changed" : "created") : "deleted", CapSummary(out, cap), by);
      return;
    }
    case Kind::kValue:
    case Kind::kPresence:
      Emit(def.area, def.key, old != nullptr ? old->value : "", now.value,
           def.key + ": " + (old != nullptr ? old->value : "?") + " -> " + now.value, by);
      return;
    case Kind::kPackages: {
      // rpm installs some packages (kernel, gpg-pubkey) in several versions side by side: one
      // version replaced by one other is an upgrade, anything else single installs and removals.
      using Versions = std::map<std::string, std::set<std::string>>;
      auto parse = [](const std::vector<std::string>& lines) {
        Versions m;
        for (const auto& l : lines) {
          const size_t sp = l.find(' ');
          m[l.substr(0, sp)].insert(sp == std::string::npos ? "" : l.substr(sp + 1));
        }
        return m;
      };
      const Versions before = parse(old != nullptr ? old->lines : std::vector<std::string>{});
      const Versions after = parse(now.lines);
      static const std::set<std::string> kNone;
      std::vector<std::string> out;
      for (const auto& [n, vs] : after) {
        auto b = before.find(n);
        const auto& old_vs = b == before.end() ? kNone : b->second;
        std::vector<std::string> added, removed;
        std::set_difference(vs.begin(), vs.end(), old_vs.begin(), old_vs.end(),
                            std::back_inserter(added));
        std::set_difference(old_vs.begin(), old_vs.end(), vs.begin(), vs.end(),
                            std::back_inserter(removed));
        if (added.size() == 1 && removed.size() == 1) {
          out.push_back("upgraded " + n + " " + removed[0] + " -> " + added[0]);
          continue;
        }
        for (const auto& v : added) out.push_back("installed " + n + " " + v);
        for (const auto& v : removed) out.push_back("removed " + n + " " + v);
      }
      for (const auto& [n, vs] : before) {
        if (after.count(n) != 0) continue;
        for (const auto& v : vs) out.push_back("removed " + n + " " + v);
      }
      if (out.empty()) return;  // only non-version fields of the status file changed
      Emit(def.area, def.key, was ? old->value : "", now.exists ? now.value : "",
           CapSummary(out, cap), by);
      return;
    }
    default:
      break;
  }
  std::vector<std::string> out;
  if (!was) out.push_back("created");
  if (!now.exists) {
    out.push_back("deleted");
  } else if (def.kind != Kind::kBinary) {
    const std::vector<std::string> empty;
    const auto& before = was ? old->lines : empty;
    const std::string prefix = def.key == "modules" ? "module " : "";
    for (const auto& l : Minus(before, now.lines)) {
      if (Trim(l).empty() || Trim(l) == "}") continue;
      out.push_back("- " + prefix + Trim(l));
    }
    for (const auto& l : Minus(now.lines, before)) {
      if (Trim(l).empty() || Trim(l) == "}") continue;
      out.push_back("+ " + prefix + Trim(l));
    }
  } else if (was) {
    out.push_back("binary replaced");
  }
  if (was && now.exists) AppendAttributeChanges(*old, now, &out);
  Emit(def.area, def.key, was ? old->value : "", now.exists ? now.value : "", CapSummary(out, cap),
       by);
  if (def.area == "accounts") ReportAccounts(def, old, now, by);
}

void SettingsSource::State::ReportAccounts(const ItemDef& def, const ItemState* old,
                                           const ItemState& now, custos::v1::ObservedBy by) {
  const std::string base = Basename(def.key);
  const std::vector<std::string> empty;
  const auto& before = old != nullptr ? old->lines : empty;
  if (base == "passwd") {
    std::map<std::string, std::vector<std::string>> a, b;
    for (const auto& l : before) {
      auto f = Split(l, ':');
      if (f.size() == 7) a[f[0]] = f;
    }
    for (const auto& l : now.lines) {
      auto f = Split(l, ':');
      if (f.size() == 7) b[f[0]] = f;
    }
    for (const auto& [user, f] : b) {
      auto it = a.find(user);
      if (it == a.end()) {
        Emit("account", "user:" + user, "", "created",
             "user " + user + " created (uid " + f[2] + ", shell " + f[6] + ")", by);
      } else if (it->second[2] != f[2]) {
        Emit("account", "user:" + user, "uid " + it->second[2], "uid " + f[2],
             "user " + user + " uid changed " + it->second[2] + " -> " + f[2], by);
      }
    }
    for (const auto& [user, f] : a) {
      if (b.count(user) == 0) {
        Emit("account", "user:" + user, "exists", "deleted", "user " + user + " deleted", by);
      }
    }
  } else if (base == "group") {
    auto members = [](const std::vector<std::string>& lines) {
      std::map<std::string, std::set<std::string>> m;
      for (const auto& l : lines) {
        auto f = Split(l, ':');
        if (f.size() != 4 || PrivilegedGroups().count(f[0]) == 0) continue;
        auto& set = m[f[0]];
        for (const auto& u : Split(f[3], ',')) {
          if (!Trim(u).empty()) set.insert(Trim(u));
        }
      }
      return m;
    };
    auto a = members(before);
    auto b = members(now.lines);
    for (const auto& g : PrivilegedGroups()) {
      const auto& ma = a[g];
      const auto& mb = b[g];
      for (const auto& u : mb) {
        if (ma.count(u) == 0) {
          Emit("account", "group:" + g, "", u + " added", u + " added to privileged group " + g,
               by);
        }
      }
      for (const auto& u : ma) {
        if (mb.count(u) == 0) {
          Emit("account", "group:" + g, u + " member", u + " removed",
               u + " removed from privileged group " + g, by);
        }
      }
    }
  }
}

void SettingsSource::State::Persist() {
  if (!dirty_ || options_.state_dir.empty()) return;
  const std::string path = options_.state_dir + "/" + kStateFileName;
  Status s = fs::Posix()->CreateDirs(options_.state_dir, 0700);
  if (s.ok()) s = fs::WriteFileAtomic(fs::Posix(), path, SerializeBaseline(baseline_), 0600);
  if (!s.ok()) {
    Problem("state", "settings: write " + path + ": " + s.message());
    return;
  }
  Resolved("state");
  dirty_ = false;
}

void SettingsSource::State::ProbeRound() {
  std::lock_guard<std::mutex> lock(mu_);
  // Listing first, then watches, then reads: a change after the watch is added is not missed.
  const auto items = FileItems();
  AddWatches();
  for (const auto& def : items) Check(def, custos::v1::OBSERVED_BY_PROBE, true);
  for (const auto& def : ProbeItems()) Check(def, custos::v1::OBSERVED_BY_PROBE, true);
  // Every root is now part of the baseline: new files below it are reported from here on.
  for (const auto& w : all_watched_) baseline_.roots.insert(w.path);
  for (const auto& def : ProbeItems()) {
    // Until rpm has answered once (it may be missing or failing), its first listing is the
    // baseline, not a report of every package as installed.
    if (def.key == "rpm" && baseline_.items.count(def.key) == 0) continue;
    baseline_.roots.insert(def.root);
  }
  Persist();
}

void SettingsSource::State::AddWatches() {
  if (inotify_fd_ < 0) return;
  std::set<std::string> dirs = listed_dirs_;
  for (const auto& w : all_watched_) {
    struct stat st {};
    // Not inside the spool: its writes would wake the source for nothing.
    const bool spool = w.area == "agent" && w.path == options_.agent_spool_dir;
    if (!spool && stat(Real(w.path).c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
      dirs.insert(w.path);
    }
    dirs.insert(fs::DirName(w.path));
  }
  for (const auto& dir : dirs) {
    if (watched_dirs_.count(dir) != 0) continue;
    const int wd = inotify_add_watch(inotify_fd_, Real(dir).c_str(),
                                     IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE |
                                         IN_DELETE | IN_ATTRIB | IN_DELETE_SELF | IN_ONLYDIR);
    if (wd < 0) continue;  // missing directories are retried every round
    wd_dir_[wd] = dir;
    watched_dirs_.insert(dir);
  }
}

void SettingsSource::State::HandleInotify() {
  alignas(inotify_event) char buf[65536];
  const ssize_t n = read(inotify_fd_, buf, sizeof(buf));
  if (n <= 0) return;
  std::lock_guard<std::mutex> lock(mu_);
  std::set<std::string> changed;
  bool overflow = false;
  for (ssize_t off = 0; off < n;) {
    const auto* e = reinterpret_cast<const inotify_event*>(buf + off);
    off += static_cast<ssize_t>(sizeof(inotify_event) + e->len);
    if ((e->mask & IN_Q_OVERFLOW) != 0) overflow = true;
    auto it = wd_dir_.find(e->wd);
    if (it == wd_dir_.end()) continue;
    if ((e->mask & IN_IGNORED) != 0) {
      watched_dirs_.erase(it->second);
      wd_dir_.erase(it);
      continue;
    }
    if (e->len == 0) continue;
    changed.insert(it->second + "/" + e->name);
  }
  // Only names that are watched files or entries of watched directories matter (/etc is busy).
  for (auto it = changed.begin(); it != changed.end();) {
    const std::string dir = fs::DirName(*it);
    const bool relevant =
        std::any_of(all_watched_.begin(), all_watched_.end(), [&](const WatchedPath& w) {
          return w.path == *it || w.path == dir || dir.rfind(w.path + "/", 0) == 0;
        });
    it = relevant ? std::next(it) : changed.erase(it);
  }
  if (!overflow && changed.empty()) return;
  const auto items = FileItems();
  AddWatches();  // new subdirectories, before their files are read
  for (const auto& def : items) {
    // The file itself or a directory above it (created or moved in whole) changed.
    bool hit = overflow;
    for (std::string p = def.key; !hit && p.size() > 1; p = fs::DirName(p)) {
      hit = changed.count(p) != 0;
    }
    if (hit) Check(def, custos::v1::OBSERVED_BY_WATCH, false);
  }
  Persist();
}

void SettingsSource::State::WatchLoop() {
  auto next_probe = clock_->SteadyNow() + options_.probe_interval;
  while (true) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(next_probe - clock_->SteadyNow());
    // Capped so an injected clock that jumps is noticed within a second.
    const int timeout_ms = static_cast<int>(std::clamp<int64_t>(left.count(), 0, 1000));
    pollfd fds[2] = {{stop_pipe_[0], POLLIN, 0}, {inotify_fd_, POLLIN, 0}};
    const int r = poll(fds, inotify_fd_ >= 0 ? 2 : 1, timeout_ms);
    if (r < 0 && errno != EINTR) {
      Problem("poll", std::string("settings: poll: ") + std::strerror(errno));
      return;
    }
    if ((fds[0].revents & POLLIN) != 0) return;
    if (inotify_fd_ >= 0 && (fds[1].revents & POLLIN) != 0) HandleInotify();
    if (clock_->SteadyNow() >= next_probe) {
      ProbeRound();
      next_probe = clock_->SteadyNow() + options_.probe_interval;
    }
  }
}

Status SettingsSource::State::Start(EventSink* sink) {
  if (started_) return FailedPreconditionError("settings: already started");
  sink_ = sink;
  all_watched_ = options_.watched;
  if (!options_.agent_config_path.empty()) {
    all_watched_.push_back({"agent", options_.agent_config_path});
  }
  if (!options_.agent_binary_path.empty()) {
    all_watched_.push_back({"agent", options_.agent_binary_path});
  }
  if (!options_.agent_spool_dir.empty())
    all_watched_.push_back({"agent", options_.agent_spool_dir});
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!options_.state_dir.empty()) {
      const std::string path = options_.state_dir + "/" + kStateFileName;
      auto content = fs::Posix()->ReadFile(path);
      if (content.ok()) {
        auto parsed = ParseBaseline(*content);
        if (parsed.ok()) {
          baseline_ = std::move(*parsed);
          baseline_loaded_ = true;
        } else {
          Problem("state", "settings: parse " + path + ": " + parsed.status().message() +
                               "; starting a new baseline");
        }
      } else if (content.status().code() != StatusCode::kNotFound) {
        Problem("state", "settings: read " + path + ": " + content.status().message());
      }
    }
    inotify_fd_ = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (inotify_fd_ < 0) {
      Problem("inotify", std::string("settings: inotify_init1: ") + std::strerror(errno) +
                             "; changes are found by probes only");
    }
  }
  if (pipe2(stop_pipe_, O_CLOEXEC) != 0) return ErrnoError("settings: pipe2", errno);
  ProbeRound();  // adds the watches first, then the baseline round
  started_ = true;
  thread_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "settings");
    WatchLoop();
  });
  logging::Info("settings source started", {{"watched", static_cast<uint64_t>(all_watched_.size())},
                                            {"baseline", baseline_loaded_ ? "loaded" : "new"}});
  return OkStatus();
}

void SettingsSource::State::Stop() {
  if (!started_) return;
  started_ = false;
  const char c = 'x';
  if (write(stop_pipe_[1], &c, 1) < 0) {
    // The pipe cannot be full (one byte per Stop); nothing else to do.
  }
  if (thread_.joinable()) thread_.join();
  close(stop_pipe_[0]);
  close(stop_pipe_[1]);
  stop_pipe_[0] = stop_pipe_[1] = -1;
  std::lock_guard<std::mutex> lock(mu_);
  Persist();
  if (inotify_fd_ >= 0) close(inotify_fd_);
  inotify_fd_ = -1;
  wd_dir_.clear();
  watched_dirs_.clear();
}

SettingsSource::SettingsSource(std::unique_ptr<State> state) : state_(std::move(state)) {}
SettingsSource::~SettingsSource() { Stop(); }
Status SettingsSource::Start(EventSink* sink) { return state_->Start(sink); }
void SettingsSource::Stop() { state_->Stop(); }
SourceHealth SettingsSource::Health() const { return state_->Health(); }
void SettingsSource::ProbeNow() { state_->ProbeRound(); }

Result<std::unique_ptr<SettingsSource>> SettingsSource::Create(SettingsSourceOptions options,
                                                               Clock* clock) {
  if (clock == nullptr) return InvalidArgumentError("settings: clock is required");
  if (options.probe_interval.count() <= 0) {
    return InvalidArgumentError("settings: probe_interval: must be positive");
  }
  for (const auto& w : options.watched) {
    if (w.path.empty() || w.path[0] != '/') {
      return InvalidArgumentError("settings: watched path '" + w.path + "': must be absolute");
    }
    if (w.area.empty())
      return InvalidArgumentError("settings: watched path " + w.path + ": no area");
  }
  for (const auto& c : options.firewall_commands) {
    if (c.empty() || c[0].empty() || c[0][0] != '/') {
      return InvalidArgumentError("settings: firewall command: program must be an absolute path");
    }
  }
  if (!options.rpm_command.empty() &&
      (options.rpm_command[0].empty() || options.rpm_command[0][0] != '/')) {
    return InvalidArgumentError("settings: rpm command: program must be an absolute path");
  }
  return std::unique_ptr<SettingsSource>(
      new SettingsSource(std::make_unique<State>(std::move(options), clock)));
}

Result<std::unique_ptr<Source>> CreateSettingsSource(SettingsSourceOptions options, Clock* clock) {
  CUSTOS_ASSIGN_OR_RETURN(auto source, SettingsSource::Create(std::move(options), clock));
  return std::unique_ptr<Source>(std::move(source));
}

}  // namespace custos::agent::settings
