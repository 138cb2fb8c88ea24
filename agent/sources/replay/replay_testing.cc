#include "agent/sources/replay/replay_testing.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <nlohmann/json.hpp>
#include <random>
#include <utility>

#include "common/time/clock.h"

namespace custos::agent::replay_testing {

namespace v1 = custos::v1;
using nlohmann::json;

// ---- The reference parser: ReplaySource::ParseBenchLine before the SAX rewrite, unchanged. ----

namespace {

std::string Str(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}
uint64_t UInt(const json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end()) return 0;
  if (it->is_number_unsigned()) return it->get<uint64_t>();
  if (it->is_number_integer())
    return static_cast<uint64_t>(std::max<int64_t>(0, it->get<int64_t>()));
  return 0;
}
// Hex digest to raw bytes; empty when malformed.
std::string HexBytes(const std::string& hex) {
  if (hex.size() % 2 != 0) return {};
  std::string out;
  out.reserve(hex.size() / 2);
  for (size_t i = 0; i < hex.size(); i += 2) {
    unsigned v = 0;
    if (std::sscanf(hex.c_str() + i, "%2x", &v) != 1) return {};
    out.push_back(static_cast<char>(v));
  }
  return out;
}
uint32_t HexId(const std::string& s) {
  unsigned v = 0;
  return std::sscanf(s.c_str(), "%x", &v) == 1 ? v : 0;
}
uint32_t UsbClass(const std::string& c) {
  if (c == "mass_storage") return 8;
  if (c == "hid") return 3;
  if (c == "phone" || c == "mtp" || c == "imaging") return 6;
  if (c == "network" || c == "wireless") return 0xE0;
  if (c == "printer") return 7;
  return 0xFF;
}

}  // namespace

Status ParseBenchLineDom(std::string_view line, v1::Event* e) {
  e->Clear();
  json j = json::parse(line.begin(), line.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return InvalidArgumentError("not a JSON object");
  std::string type = Str(j, "type");
  int64_t ns = 0;
  if (!ParseTimeSpec(Str(j, "ts"), 0, &ns)) return InvalidArgumentError("bad or missing ts");
  e->set_time_ns(ns);
  e->set_host(Str(j, "host"));
  auto* actor = e->mutable_actor();
  std::string user = Str(j, "user");
  actor->set_login_user(user);
  actor->set_user_name(user);
  if (auto p = j.find("proc"); p != j.end() && p->is_object()) {
    actor->set_pid(static_cast<uint32_t>(UInt(*p, "pid")));
    actor->set_ppid(static_cast<uint32_t>(UInt(*p, "ppid")));
    actor->set_executable(Str(*p, "exe"));
    actor->set_command_line(Str(*p, "cmd"));
  }
  const json empty = json::object();
  auto fit = j.find("file");
  const json& file = fit != j.end() && fit->is_object() ? *fit : empty;
  if (type.rfind("file.", 0) == 0) {
    auto* f = e->mutable_file();
    f->set_path(Str(file, "path"));
    f->set_size(UInt(file, "size"));
    f->set_sha256(HexBytes(Str(file, "sha256")));
    if (type == "file.create") {
      f->set_op(v1::FILE_OP_CREATE);
    } else if (type == "file.modify") {
      f->set_op(v1::FILE_OP_MODIFY);
    } else if (type == "file.delete") {
      f->set_op(v1::FILE_OP_DELETE);
    } else if (type == "file.read") {
      f->set_op(v1::FILE_OP_READ);
    } else if (type == "file.rename") {
      f->set_op(v1::FILE_OP_RENAME);
      f->set_old_path(Str(file, "path"));
      f->set_path(Str(file, "new_path"));
    } else if (type == "file.copy_to_removable") {
      f->set_op(v1::FILE_OP_COPY_TO_REMOVABLE);
      f->set_source_path(Str(file, "path"));
      f->set_path(Str(j, "dst"));
    } else {
      return InvalidArgumentError("unknown type '" + type + "'");
    }
  } else if (type == "proc.start") {
    auto* p = e->mutable_process();
    p->set_action(v1::PROCESS_ACTION_START);
    if (auto pr = j.find("proc"); pr != j.end() && pr->is_object())
      p->set_sha256(HexBytes(Str(*pr, "sha256")));
  } else if (type == "usb.attach" || type == "usb.detach") {
    auto uit = j.find("usb");
    const json& usb = uit != j.end() && uit->is_object() ? *uit : empty;
    auto* u = e->mutable_usb();
    u->set_action(type == "usb.attach" ? v1::USB_ACTION_ADDED : v1::USB_ACTION_REMOVED);
    u->set_vendor_id(HexId(Str(usb, "vid")));
    u->set_product_id(HexId(Str(usb, "pid")));
    u->set_manufacturer(Str(usb, "vendor"));
    u->set_product(Str(usb, "product"));
    u->set_serial(Str(usb, "serial"));
    u->add_interface_classes(UsbClass(Str(usb, "class")));
    u->set_mount_point(Str(usb, "mount"));
    u->set_fingerprint(Str(usb, "vid") + ":" + Str(usb, "pid") + ":" + Str(usb, "serial"));
  } else if (type == "net.upload") {
    auto* n = e->mutable_network();
    n->set_action(v1::NETWORK_ACTION_UPLOAD);
    n->set_destination(Str(j, "dst"));
    n->set_path(Str(file, "path"));
  } else if (type == "security.setting_change") {
    auto sit = j.find("setting");
    const json& st = sit != j.end() && sit->is_object() ? *sit : empty;
    auto* s = e->mutable_setting();
    std::string name = Str(st, "name");
    s->set_area(name.substr(0, name.find('.')));
    s->set_key(name);
    s->set_old_value(Str(st, "old"));
    s->set_new_value(Str(st, "new"));
    s->set_observed_by(v1::OBSERVED_BY_PROBE);
  } else {
    return InvalidArgumentError("unknown type '" + type + "'");
  }
  return OkStatus();
}

// ---- The corpus generator: gen_events.py's model, in C++. ----

namespace {

const char* const kExt[] = {"docx", "xlsx", "pptx", "pdf", "txt", "csv", "zip",
                            "png",  "jpg",  "msg",  "py",  "c",   "h",   "json",
                            "md",   "7z",   "dwg",  "sql", "log", "tmp"};
const double kExtWeights[] = {10, 10, 5, 10, 6, 5, 4, 4, 3, 3, 2, 2, 1, 2, 1, 1, 1, 1, 6, 8};
const char* const kWords[] = {
    "report",  "budget", "forecast",     "customer", "contract", "draft",   "final",   "q1",
    "q2",      "q3",     "q4",           "2024",     "2025",     "salary",  "roadmap", "design",
    "invoice", "export", "backup",       "notes",    "minutes",  "pricing", "offer",   "spec",
    "review",  "plan",   "hr",           "legal",    "audit",    "source",  "keys",    "passwords",
    "board",   "merger", "confidential", "project",  "alpha",    "beta",    "release", "patch",
    "data",    "dump",   "list",         "leads",    "crm"};
const char* const kDirsWindows[] = {"Documents",
                                    "Desktop",
                                    "Downloads",
                                    "OneDrive - Corp\\Shared",
                                    "AppData\\Local\\Temp",
                                    "Documents\\Projects",
                                    "Pictures"};
const char* const kDirsLinux[] = {"Documents", "Desktop",  "Downloads", "src",
                                  "tmp",       "projects", ".cache"};
struct Proc {
  const char* exe;
  double weight;
};
const Proc kProcsWindows[] = {
    {"C:\\Program Files\\Microsoft Office\\root\\Office16\\EXCEL.EXE", 12},
    {"C:\\Program Files\\Microsoft Office\\root\\Office16\\WINWORD.EXE", 12},
    {"C:\\Program Files\\Microsoft Office\\root\\Office16\\OUTLOOK.EXE", 8},
    {"C:\\Windows\\explorer.exe", 20},
    {"C:\\Program Files\\Google\\Chrome\\Application\\chrome.exe", 15},
    {"C:\\Program Files\\7-Zip\\7z.exe", 3},
    {"C:\\Windows\\System32\\cmd.exe", 2},
    {"C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe", 2},
    {"C:\\Program Files\\Microsoft OneDrive\\OneDrive.exe", 10},
    {"C:\\Windows\\System32\\robocopy.exe", 1},
    {"C:\\Program Files\\Microsoft VS Code\\Code.exe", 4},
    {"C:\\Windows\\System32\\svchost.exe", 6},
};
const Proc kProcsLinux[] = {{"/usr/bin/cp", 6},
                            {"/usr/bin/rsync", 3},
                            {"/usr/lib/libreoffice/program/soffice.bin", 6},
                            {"/usr/bin/bash", 4},
                            {"/usr/bin/python3.11", 4},
                            {"/usr/bin/zip", 2},
                            {"/usr/lib/firefox/firefox", 8},
                            {"/usr/bin/nautilus", 6},
                            {"/usr/bin/vim.basic", 3}};
struct Usb {
  const char* vid;
  const char* pid;
  const char* vendor;
  const char* product;
};
const Usb kUsb[] = {{"0781", "5581", "SanDisk", "Ultra"},
                    {"0951", "1666", "Kingston", "DataTraveler 3.0"},
                    {"058f", "6387", "Alcor", "Flash Drive"},
                    {"0bc2", "231a", "Seagate", "Expansion HDD"},
                    {"04e8", "61f5", "Samsung", "Portable SSD T5"},
                    {"05ac", "12a8", "Apple", "iPhone"},
                    {"1058", "25a2", "Western Digital", "Elements 25A2"}};
struct Setting {
  const char* name;
  const char* old_value;
  const char* new_value;
};
const Setting kSettings[] = {{"defender.realtime", "on", "off"},
                             {"firewall.domain", "on", "off"},
                             {"audit.policy.object_access", "success,failure", "none"},
                             {"usb.storage.policy", "read_only", "allow"},
                             {"bitlocker.c", "on", "suspended"},
                             {"uac.level", "3", "0"},
                             {"proxy.enabled", "1", "0"},
                             {"screen_lock.timeout_s", "300", "0"}};
const char* const kTypes[] = {
    "file.modify", "file.create", "file.rename", "file.delete", "file.copy_to_removable",
    "file.read",   "proc.start",  "usb.attach",  "usb.detach",  "security.setting_change",
    "net.upload"};
const double kTypeWeights[] = {34, 18, 8, 9, 6, 12, 8, 1.5, 1.5, 1, 1};

class Generator {
 public:
  explicit Generator(const BenchCorpusOptions& o) : options_(o), rng_(o.seed) {}

  std::vector<std::string> Run() {
    for (int i = 0; i < std::max(1, options_.hosts); ++i) hosts_.push_back(NewHost(i));
    std::vector<int64_t> clock_us;
    for (size_t i = 0; i < hosts_.size(); ++i) {
      clock_us.push_back(1'715'000'000'000'000 + Uniform(0, 1'000'000));
    }
    std::vector<std::string> lines;
    lines.reserve(options_.lines);
    std::exponential_distribution<double> gap_s(20.0);
    for (size_t seq = 0; seq < options_.lines; ++seq) {
      size_t h = static_cast<size_t>(Uniform(0, static_cast<int64_t>(hosts_.size()) - 1));
      clock_us[h] += static_cast<int64_t>(gap_s(rng_) * 1e6) + 1;
      lines.push_back(Event(hosts_[h], seq, clock_us[h]));
    }
    return lines;
  }

 private:
  struct Host {
    bool windows;
    std::string name;
    std::vector<std::pair<std::string, std::string>> users;  // name, sid
    std::vector<std::string> proc_hashes;
    std::vector<std::string> files;
    std::discrete_distribution<size_t> file_pick;
    std::vector<std::pair<std::string, std::string>> usb_serials;  // vid+pid, serial
    int64_t pid;
  };

  int64_t Uniform(int64_t lo, int64_t hi) {
    return std::uniform_int_distribution<int64_t>(lo, hi)(rng_);
  }
  double Real() { return std::uniform_real_distribution<double>(0, 1)(rng_); }
  template <typename T, size_t N>
  const T& Pick(const T (&items)[N]) {
    return items[static_cast<size_t>(Uniform(0, N - 1))];
  }
  std::string Hex(size_t digits) {
    static const char kDigits[] = "0123456789abcdef";
    std::string s;
    for (size_t i = 0; i < digits; ++i) s.push_back(kDigits[Uniform(0, 15)]);
    return s;
  }
  // Not the real SHA-256 of the path (the parser does not care), but stable per executable.
  static std::string FakeSha256(const std::string& text) {
    static const char kDigits[] = "0123456789abcdef";
    uint64_t x = 1469598103934665603ull;
    for (char c : text) x = (x ^ static_cast<unsigned char>(c)) * 1099511628211ull;
    std::string s;
    for (int i = 0; i < 64; ++i) {
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
      s.push_back(kDigits[x & 15]);
    }
    return s;
  }

  Host NewHost(int idx) {
    Host h;
    h.windows = Real() < 0.85;
    char name[64];
    if (h.windows) {
      static const char* const kDept[] = {"FIN", "ENG", "HR", "SAL", "LEG", "OPS"};
      std::snprintf(name, sizeof name, "WS-%s-%04d", Pick(kDept), idx);
    } else {
      static const char* const kRole[] = {"dev", "build", "ds"};
      std::snprintf(name, sizeof name, "lnx-%s-%03d", Pick(kRole), idx);
    }
    h.name = name;
    static const int kUserCounts[] = {1, 1, 1, 2, 3};
    static const char* const kFirst[] = {"jdoe",    "asmith",  "mkovacs",  "lchen",     "pnovak",
                                         "rgarcia", "tnguyen", "kmueller", "svc_backup"};
    for (int i = Pick(kUserCounts); i > 0; --i) {
      std::string u = std::string(Pick(kFirst)) + std::to_string(Uniform(1, 99));
      char sid[96];
      std::snprintf(sid, sizeof sid, "S-1-5-21-%lld-%lld-%lld-%lld",
                    static_cast<long long>(Uniform(1'000'000'000, 4'000'000'000)),
                    static_cast<long long>(Uniform(1'000'000'000, 4'000'000'000)),
                    static_cast<long long>(Uniform(1'000'000'000, 4'000'000'000)),
                    static_cast<long long>(Uniform(1000, 9999)));
      h.users.emplace_back(h.windows ? "CORP\\" + u : u,
                           h.windows ? std::string(sid) : std::to_string(Uniform(1000, 3000)));
    }
    for (const Proc& p : Procs(h)) h.proc_hashes.push_back(FakeSha256(p.exe));
    std::vector<double> weights;
    for (int i = 0; i < 3000; ++i) {
      h.files.push_back(NewPath(h));
      weights.push_back(1.0 / std::pow(i + 1, 0.9));
    }
    h.file_pick = std::discrete_distribution<size_t>(weights.begin(), weights.end());
    h.pid = Uniform(2000, 30000);
    return h;
  }

  static std::vector<Proc> Procs(const Host& h) {
    if (h.windows) return {std::begin(kProcsWindows), std::end(kProcsWindows)};
    return {std::begin(kProcsLinux), std::end(kProcsLinux)};
  }

  std::string NewPath(const Host& h) {
    std::string user = h.users[static_cast<size_t>(Uniform(0, h.users.size() - 1))].first;
    user = user.substr(user.rfind('\\') + 1);
    static const int kWordCounts[] = {1, 2, 2, 3};
    std::vector<const char*> words(std::begin(kWords), std::end(kWords));
    std::shuffle(words.begin(), words.end(), rng_);
    std::string name;
    for (int i = Pick(kWordCounts), j = 0; j < i; ++j)
      name += (j ? "_" : "") + std::string(words[j]);
    if (Real() < .3) name += "_v" + std::to_string(Uniform(1, 9));
    std::discrete_distribution<size_t> ext(std::begin(kExtWeights), std::end(kExtWeights));
    name += std::string(".") + kExt[ext(rng_)];
    std::string sub;
    if (Real() < .5) {
      sub = Pick(kWords);
      if (h.windows) sub[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(sub[0])));
    }
    if (h.windows) {
      return "C:\\Users\\" + user + "\\" + Pick(kDirsWindows) + (sub.empty() ? "" : "\\" + sub) +
             "\\" + name;
    }
    return "/home/" + user + "/" + Pick(kDirsLinux) + (sub.empty() ? "" : "/" + sub) + "/" + name;
  }

  static std::string Timestamp(int64_t us) {
    time_t secs = static_cast<time_t>(us / 1'000'000);
    struct tm tm {};
    gmtime_r(&secs, &tm);
    char buf[64];
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%06lldZ", tm.tm_year + 1900,
                  tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                  static_cast<long long>(us % 1'000'000));
    return buf;
  }

  // Members in generator order, or shuffled; dumped compact and in that order, like
  // json.dumps(separators=(",", ":"), ensure_ascii=False).
  using Members = std::vector<std::pair<std::string, nlohmann::ordered_json>>;
  nlohmann::ordered_json Object(Members members) {
    if (options_.shuffle_keys) std::shuffle(members.begin(), members.end(), rng_);
    nlohmann::ordered_json o = nlohmann::ordered_json::object();
    for (auto& [k, v] : members) o[k] = std::move(v);
    return o;
  }

  std::string Event(Host& h, size_t seq, int64_t ts_us) {
    std::discrete_distribution<size_t> type_pick(std::begin(kTypeWeights), std::end(kTypeWeights));
    const std::string type = kTypes[type_pick(rng_)];
    const auto& [user, sid] = h.users[static_cast<size_t>(Uniform(0, h.users.size() - 1))];
    Members ev = {
        {"ts", Timestamp(ts_us)}, {"seq", seq}, {"host", h.name}, {"type", type}, {"user", user}};
    if (h.windows && (type.rfind("usb.", 0) == 0 || type.rfind("security.", 0) == 0)) {
      ev.emplace_back("sid", sid);
    }
    const std::vector<Proc> procs = Procs(h);
    std::vector<double> proc_weights;
    for (const Proc& p : procs) proc_weights.push_back(p.weight);
    const size_t pi =
        std::discrete_distribution<size_t>(proc_weights.begin(), proc_weights.end())(rng_);
    const std::string exe = procs[pi].exe;
    if (Real() < 0.05) h.pid = Uniform(2000, 60000);
    if (type.rfind("file.", 0) == 0 || type == "net.upload") {
      const std::string path = h.files[h.file_pick(rng_)];
      ev.emplace_back("proc", Object({{"pid", h.pid}, {"exe", exe}}));
      Members file = {{"path", path}};
      if (type == "file.create" || type == "file.modify" || type == "file.copy_to_removable") {
        std::lognormal_distribution<double> size(10, 2);
        file.emplace_back("size", static_cast<uint64_t>(size(rng_)));
        if (Real() < 0.4) file.emplace_back("sha256", Hex(64));
      }
      if (type == "file.rename") file.emplace_back("new_path", NewPath(h));
      ev.emplace_back("file", Object(std::move(file)));
      if (type == "file.copy_to_removable") {
        ev.emplace_back("dst", h.windows ? "E:\\" + path.substr(path.rfind('\\') + 1)
                                         : "/media/usb0/" + path.substr(path.rfind('/') + 1));
      }
      if (type == "net.upload") {
        static const char* const kDst[] = {"drive.google.com", "www.dropbox.com", "wetransfer.com",
                                           "mega.nz"};
        ev.emplace_back("dst", Pick(kDst));
      }
    } else if (type == "proc.start") {
      Members proc = {{"pid", Uniform(2000, 60000)},
                      {"ppid", h.pid},
                      {"exe", exe},
                      {"sha256", h.proc_hashes[pi]}};
      if (Real() < 0.5) {
        std::string base = exe.substr(exe.find_last_of("\\/") + 1);
        static const char* const kArgs[] = {"-a", "/s", "--sync", "x -p", ""};
        proc.emplace_back("cmd", base + " " + Pick(kArgs));
      }
      ev.emplace_back("proc", Object(std::move(proc)));
    } else if (type.rfind("usb.", 0) == 0) {
      const Usb& u = Pick(kUsb);
      std::string key = std::string(u.vid) + u.pid;
      std::string serial;
      for (const auto& [k, s] : h.usb_serials) {
        if (k == key) serial = s;
      }
      if (serial.empty()) {
        serial = Hex(20);
        std::transform(serial.begin(), serial.end(), serial.begin(),
                       [](char c) { return static_cast<char>(std::toupper(c)); });
        h.usb_serials.emplace_back(key, serial);
      }
      Members usb = {{"vid", u.vid},
                     {"pid", u.pid},
                     {"vendor", u.vendor},
                     {"product", u.product},
                     {"serial", serial},
                     {"class", std::string(u.product) == "iPhone" ? "mtp" : "mass_storage"}};
      if (type == "usb.attach") usb.emplace_back("mount", h.windows ? "E:" : "/media/usb0");
      ev.emplace_back("usb", Object(std::move(usb)));
    } else {
      const Setting& s = Pick(kSettings);
      ev.emplace_back("setting",
                      Object({{"name", s.name}, {"old", s.old_value}, {"new", s.new_value}}));
      ev.emplace_back("proc", Object({{"pid", h.pid}, {"exe", exe}}));
    }
    return Object(std::move(ev)).dump();
  }

  BenchCorpusOptions options_;
  std::mt19937_64 rng_;
  std::vector<Host> hosts_;
};

}  // namespace

std::vector<std::string> GenerateBenchCorpus(const BenchCorpusOptions& options) {
  return Generator(options).Run();
}

}  // namespace custos::agent::replay_testing
