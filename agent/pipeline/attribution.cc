#include "agent/pipeline/attribution.h"

#include <fcntl.h>
#include <linux/magic.h>
#include <pwd.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <string_view>
#include <vector>

#include "agent/pipeline/utf8.h"

namespace custos::agent::pipeline {
namespace {

// Reads at most `max_bytes` of a (procfs) file. nullopt when it cannot be opened or read. A short
// read is the end (procfs files are generated whole; a regular file short-reads only at its end),
// which saves the read that would return 0.
std::optional<std::string> ReadSmallFile(const std::string& path, size_t max_bytes) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) return std::nullopt;
  std::string out;
  out.resize(max_bytes);
  size_t used = 0;
  while (used < max_bytes) {
    const ssize_t n = read(fd, out.data() + used, max_bytes - used);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      close(fd);
      return std::nullopt;
    }
    if (n == 0) break;
    used += static_cast<size_t>(n);
    if (used < max_bytes) break;
  }
  close(fd);
  out.resize(used);
  return out;
}

template <typename T>
bool ParseNumber(std::string_view text, T* out) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.remove_suffix(1);
  if (text.empty()) return false;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), *out);
  return ec == std::errc() && ptr == text.data() + text.size();
}

std::optional<std::string> DefaultUserNameLookup(uint32_t uid) {
  long suggested = sysconf(_SC_GETPW_R_SIZE_MAX);
  std::vector<char> buf(suggested > 0 ? static_cast<size_t>(suggested) : 16384);
  while (true) {
    struct passwd pw;
    struct passwd* result = nullptr;
    const int rc = getpwuid_r(uid, &pw, buf.data(), buf.size(), &result);
    if (rc == ERANGE && buf.size() < (1u << 20)) {
      buf.resize(buf.size() * 2);
      continue;
    }
    if (rc != 0 || result == nullptr || result->pw_name == nullptr) return std::nullopt;
    return std::string(result->pw_name);
  }
}

constexpr size_t kMaxUserNames = 4096;

bool IsProcfs(const std::string& path) {
  struct statfs sfs;
  return statfs(path.c_str(), &sfs) == 0 && sfs.f_type == PROC_SUPER_MAGIC;
}

constexpr size_t kStatMaxBytes = 4096;

}  // namespace

ProcessAttributor::ProcessAttributor(ProcessAttributorOptions options)
    : options_(std::move(options)),
      clock_(options_.clock ? options_.clock : RealClock()),
      hot_fds_(IsProcfs(options_.proc_root)) {}

ProcessAttributor::~ProcessAttributor() {
  for (const auto& [pid, fd] : hot_stat_fds_) close(fd);
}

std::optional<std::string> ProcessAttributor::ReadStatText(uint32_t pid, bool keep_fd) {
  const std::string path = options_.proc_root + "/" + std::to_string(pid) + "/stat";
  if (!hot_fds_) return ReadSmallFile(path, kStatMaxBytes);
  std::lock_guard<std::mutex> lock(fds_mu_);
  std::string text(kStatMaxBytes, '\0');
  for (auto it = hot_stat_fds_.begin(); it != hot_stat_fds_.end(); ++it) {
    if (it->first != pid) continue;
    ssize_t n;
    do {
      n = pread(it->second, text.data(), text.size(), 0);
    } while (n < 0 && errno == EINTR);
    if (n > 0) {
      hot_stat_fds_.splice(hot_stat_fds_.begin(), hot_stat_fds_, it);
      text.resize(static_cast<size_t>(n));
      std::lock_guard<std::mutex> stats_lock(mu_);
      ++stats_.stat_rereads;
      return text;
    }
    close(it->second);  // that process is gone (ESRCH), whoever has its pid now
    hot_stat_fds_.erase(it);
    break;
  }
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) return std::nullopt;
  ssize_t n;
  do {
    n = pread(fd, text.data(), text.size(), 0);
  } while (n < 0 && errno == EINTR);
  if (n <= 0 || !keep_fd) close(fd);
  if (n <= 0) return std::nullopt;
  text.resize(static_cast<size_t>(n));
  if (!keep_fd) return text;
  hot_stat_fds_.emplace_front(pid, fd);
  if (hot_stat_fds_.size() > kHotStatFds) {
    close(hot_stat_fds_.back().second);
    hot_stat_fds_.pop_back();
  }
  return text;
}

std::optional<ProcessAttributor::StatFacts> ProcessAttributor::ReadStat(uint32_t pid,
                                                                        bool keep_fd) {
  auto text = ReadStatText(pid, keep_fd);
  if (!text) return std::nullopt;
  // "pid (comm) state ppid ...": comm may contain spaces and ')', so split at the last ')'.
  const size_t open_paren = text->find('(');
  const size_t close_paren = text->rfind(')');
  if (open_paren == std::string::npos || close_paren == std::string::npos ||
      close_paren < open_paren) {
    return std::nullopt;
  }
  StatFacts facts;
  facts.comm = text->substr(open_paren + 1, close_paren - open_paren - 1);
  std::vector<std::string_view> fields;  // fields[0] is field 3 (state)
  std::string_view rest(*text);
  rest.remove_prefix(close_paren + 1);
  size_t i = 0;
  while (i < rest.size() && fields.size() < 20) {
    while (i < rest.size() && (rest[i] == ' ' || rest[i] == '\n')) ++i;
    const size_t start = i;
    while (i < rest.size() && rest[i] != ' ' && rest[i] != '\n') ++i;
    if (i > start) fields.push_back(rest.substr(start, i - start));
  }
  if (fields.size() < 20) return std::nullopt;
  if (!ParseNumber(fields[1], &facts.ppid)) return std::nullopt;         // field 4
  if (!ParseNumber(fields[19], &facts.start_time)) return std::nullopt;  // field 22
  return facts;
}

custos::v1::Actor ProcessAttributor::ReadFacts(uint32_t pid, const StatFacts& stat) const {
  const std::string dir = options_.proc_root + "/" + std::to_string(pid);
  custos::v1::Actor actor;
  actor.set_pid(pid);
  actor.set_ppid(stat.ppid);
  actor.set_login_uid(kUnsetLoginUid);
  bool partial = false;

  char link[4096];
  const ssize_t n = readlink((dir + "/exe").c_str(), link, sizeof(link));
  if (n >= 0) {
    actor.set_executable(EscapeToUtf8(std::string_view(link, static_cast<size_t>(n))));
  } else {
    partial = true;
  }

  if (auto cmdline = ReadSmallFile(dir + "/cmdline", options_.command_line_max_bytes)) {
    while (!cmdline->empty() && cmdline->back() == '\0') cmdline->pop_back();
    for (char& c : *cmdline) {
      if (c == '\0') c = ' ';
    }
    actor.set_command_line(EscapeToUtf8(*cmdline));
  } else {
    partial = true;
  }

  bool have_uid = false;
  // Uid is the ninth line: the first 4 KiB hold it whatever follows (long Groups lines).
  if (auto status = ReadSmallFile(dir + "/status", 4096)) {
    std::string_view s(*status);
    // PPid as in stat; the exec read (no stat read) takes it from here.
    if (const size_t pp = s.find("\nPPid:"); pp != std::string_view::npos) {
      std::string_view line = s.substr(pp + 6);
      uint32_t ppid = 0;
      if (ParseNumber(line.substr(0, line.find('\n')), &ppid)) actor.set_ppid(ppid);
    }
    const size_t at = s.find("\nUid:");
    if (at != std::string_view::npos) {
      std::string_view line = s.substr(at + 5);
      line = line.substr(0, line.find('\n'));
      // "real effective saved fs": the effective uid is the one the kernel checks.
      std::vector<std::string_view> ids;
      size_t i = 0;
      while (i < line.size()) {
        while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
        const size_t start = i;
        while (i < line.size() && line[i] != ' ' && line[i] != '\t') ++i;
        if (i > start) ids.push_back(line.substr(start, i - start));
      }
      uint32_t uid = 0;
      if (ids.size() >= 2 && ParseNumber(ids[1], &uid)) {
        actor.set_uid(uid);
        have_uid = true;
      }
    }
  }
  if (!have_uid) partial = true;

  const std::string loginuid_path = dir + "/loginuid";
  if (auto text = ReadSmallFile(loginuid_path, 64)) {
    uint32_t login_uid = kUnsetLoginUid;
    if (ParseNumber(*text, &login_uid)) {
      actor.set_login_uid(login_uid);
    } else {
      partial = true;
    }
  } else if (errno != ENOENT || access(dir.c_str(), F_OK) != 0) {
    // ENOENT with the process still present means a kernel without audit: no login uid at all.
    partial = true;
  }
  actor.set_partial(partial);
  return actor;
}

ProcessAttributor::Read ProcessAttributor::ReadProcess(uint32_t pid, StatFacts stat, bool keep_fd,
                                                       bool verify) {
  Read r;
  r.stat = std::move(stat);
  r.actor = ReadFacts(pid, *r.stat);
  if (!verify) {
    r.stable = true;
    return r;
  }
  // If the pid went away, exec'd or was reused while we read, the facts may mix two images.
  auto after = ReadStat(pid, keep_fd);
  r.stable = after && after->start_time == r.stat->start_time && after->comm == r.stat->comm;
  if (!r.stable) r.actor.set_partial(true);
  return r;
}

void ProcessAttributor::EraseLocked(uint32_t pid) {
  auto it = by_pid_.find(pid);
  if (it == by_pid_.end()) return;
  lru_.erase(it->second);
  by_pid_.erase(it);
}

void ProcessAttributor::InsertLocked(uint32_t pid, const StatFacts& stat,
                                     const custos::v1::Actor& actor,
                                     std::chrono::steady_clock::time_point now, bool tracked,
                                     uint64_t ticket) {
  if (options_.cache_capacity == 0) return;
  auto it = by_pid_.find(pid);
  if (it != by_pid_.end()) {
    if (it->second->seq > ticket) return;  // read (or forked) after this read began: newer
    lru_.erase(it->second);
    by_pid_.erase(it);
  }
  lru_.push_front(Entry{pid, stat, actor, now, ticket, tracked});
  by_pid_[pid] = lru_.begin();
  while (lru_.size() > options_.cache_capacity) {
    by_pid_.erase(lru_.back().pid);
    lru_.pop_back();
  }
}

custos::v1::Actor ProcessAttributor::AttributeProcess(uint32_t pid) {
  const auto now = clock_->SteadyNow();
  uint64_t started_seq = 0;
  uint64_t gaps = 0;
  bool tracking = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = by_pid_.find(pid);
    if (it != by_pid_.end() && it->second->tracked) {
      lru_.splice(lru_.begin(), lru_, it->second);
      ++stats_.tracked_hits;
      return it->second->actor;
    }
    started_seq = next_seq_++;
    gaps = gaps_;
    tracking = tracking_;
  }
  // With tracking on, stat fds are not kept: tracked entries never need the re-check.
  auto stat = ReadStat(pid, /*keep_fd=*/!tracking);
  if (!stat) {
    std::lock_guard<std::mutex> lock(mu_);
    ++stats_.gone;
    auto it = by_pid_.find(pid);
    if (it != by_pid_.end() && now - it->second->confirmed <= options_.gone_grace) {
      return it->second->actor;
    }
    custos::v1::Actor actor;
    actor.set_pid(pid);
    actor.set_login_uid(kUnsetLoginUid);
    actor.set_partial(true);
    return actor;
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = by_pid_.find(pid);
    if (it != by_pid_.end()) {
      Entry& entry = *it->second;
      if (entry.stat.start_time == stat->start_time && entry.stat.comm == stat->comm) {
        entry.confirmed = now;
        lru_.splice(lru_.begin(), lru_, it->second);
        ++stats_.hits;
        return entry.actor;
      }
      lru_.erase(it->second);
      by_pid_.erase(it);
    }
    ++stats_.misses;
  }

  const Read r = ReadProcess(pid, *stat, /*keep_fd=*/!tracking, /*verify=*/true);
  if (!r.stable) return r.actor;
  std::lock_guard<std::mutex> lock(mu_);
  InsertLocked(pid, *r.stat, r.actor, now, tracking && tracking_ && gaps == gaps_, started_seq);
  return r.actor;
}

void ProcessAttributor::SetTracking(bool on) {
  std::lock_guard<std::mutex> lock(mu_);
  tracking_ = on;
  ++gaps_;  // a read that spans the change is not tracked
  if (!on) {
    for (Entry& e : lru_) e.tracked = false;
  }
}

void ProcessAttributor::SetEventSync(std::function<void()> sync) {
  std::lock_guard<std::mutex> lock(sync_mu_);
  sync_ = std::move(sync);
}

void ProcessAttributor::SyncEvents() {
  std::lock_guard<std::mutex> lock(sync_mu_);
  if (sync_) sync_();
}

bool ProcessAttributor::tracking() const {
  std::lock_guard<std::mutex> lock(mu_);
  return tracking_;
}

void ProcessAttributor::OnExec(uint32_t pid) {
  const auto now = clock_->SteadyNow();
  uint64_t started_seq = 0;
  uint64_t gaps = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    started_seq = next_seq_++;
    gaps = gaps_;
    ++stats_.exec_reads;
  }
  // No stat read: ppid comes from status, and the unknown start time (0) makes the stat check
  // re-read the entry should it ever be needed (after a tracking gap).
  const Read r = ReadProcess(pid, StatFacts{}, /*keep_fd=*/false, /*verify=*/false);
  // Partial because the process is gone, or because a fact is unreadable (another user's exe
  // without CAP_SYS_PTRACE): the first drops the entry (the old image's facts are wrong from
  // here on), the second keeps what could be read.
  const bool gone = r.actor.partial() &&
                    access((options_.proc_root + "/" + std::to_string(pid)).c_str(), F_OK) != 0;
  std::lock_guard<std::mutex> lock(mu_);
  if (gone) {
    auto it = by_pid_.find(pid);
    if (it != by_pid_.end() && it->second->seq < started_seq) EraseLocked(pid);
    return;
  }
  InsertLocked(pid, *r.stat, r.actor, now, tracking_ && gaps == gaps_, started_seq);
}

void ProcessAttributor::OnFork(uint32_t child, uint32_t parent) {
  const auto now = clock_->SteadyNow();
  std::lock_guard<std::mutex> lock(mu_);
  EraseLocked(child);  // an earlier process with this pid
  auto it = by_pid_.find(parent);
  if (it == by_pid_.end() || !it->second->tracked) return;
  if (options_.cache_capacity == 0) return;
  Entry entry = *it->second;
  entry.pid = child;
  entry.stat.ppid = parent;
  entry.stat.start_time = 0;  // unknown: after a tracking gap the stat check re-reads it
  entry.actor.set_pid(child);
  entry.actor.set_ppid(parent);
  entry.confirmed = now;
  entry.seq = next_seq_++;
  ++stats_.inherited;
  lru_.push_front(std::move(entry));
  by_pid_[child] = lru_.begin();
  while (lru_.size() > options_.cache_capacity) {
    by_pid_.erase(lru_.back().pid);
    lru_.pop_back();
  }
}

void ProcessAttributor::OnTrackingGap() {
  std::lock_guard<std::mutex> lock(mu_);
  ++gaps_;
  for (Entry& e : lru_) e.tracked = false;
}

std::optional<std::string> ProcessAttributor::LookupUserName(uint32_t uid) {
  {
    std::lock_guard<std::mutex> lock(names_mu_);
    auto it = names_.find(uid);
    if (it != names_.end()) return it->second;
  }
  // NSS may block (LDAP, sssd): never under the lock.
  std::optional<std::string> name =
      options_.user_name_lookup ? options_.user_name_lookup(uid) : DefaultUserNameLookup(uid);
  if (name) *name = EscapeToUtf8(*name);
  std::lock_guard<std::mutex> lock(names_mu_);
  if (names_.size() >= kMaxUserNames) names_.clear();
  names_[uid] = name;
  return name;
}

void ProcessAttributor::ResolveUserNames(custos::v1::Actor* actor) {
  // An actor reduced to a pid (process gone) has no uid to resolve.
  if (actor->executable().empty() && actor->command_line().empty() && actor->uid() == 0 &&
      actor->partial() && actor->ppid() == 0) {
    return;
  }
  if (actor->user_name().empty()) {
    if (auto name = LookupUserName(actor->uid())) actor->set_user_name(*name);
  }
  if (actor->login_user().empty() && actor->login_uid() != kUnsetLoginUid) {
    if (auto name = LookupUserName(actor->login_uid())) actor->set_login_user(*name);
  }
}

custos::v1::Actor ProcessAttributor::Attribute(uint32_t pid) {
  custos::v1::Actor actor = AttributeProcess(pid);
  ResolveUserNames(&actor);
  return actor;
}

ProcessAttributor::Stats ProcessAttributor::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

}  // namespace custos::agent::pipeline
