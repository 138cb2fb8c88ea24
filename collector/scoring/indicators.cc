#include "collector/scoring/indicators.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/wire_format_lite.h>

#include <fnmatch.h>
#include <algorithm>
#include <array>
#include <cctype>
#include <cstdlib>

namespace custos::collector::scoring {
namespace {

using I = IndicatorId;

// Weights are the share of a 0-100 score an indicator earns at its High tier; docs/indicators.md
// explains each choice.
constexpr std::array<IndicatorInfo, kIndicatorCount> kCatalog = {{
    {I::kUsbCopy,
     "usb_copy",
     "File copied to removable media",
     "exfiltration",
     40,
     {1, 10, 50},
     false},
    {I::kCloudUpload,
     "cloud_upload",
     "File uploaded off the host",
     "exfiltration",
     35,
     {1, 10, 50},
     false},
    {I::kBulkCreate,
     "bulk_create",
     "Files created or copied in bulk",
     "collection",
     15,
     {100, 500, 2000},
     false},
    {I::kBulkRename,
     "bulk_rename",
     "Files renamed in bulk",
     "obfuscation",
     15,
     {50, 200, 1000},
     false},
    {I::kBulkDelete,
     "bulk_delete",
     "Files deleted in bulk",
     "clean-up",
     25,
     {50, 200, 1000},
     false},
    {I::kArchiveCreated,
     "archive_created",
     "Archive created",
     "obfuscation",
     15,
     {1, 5, 20},
     false},
    {I::kExtensionChanged,
     "extension_changed",
     "File extension changed",
     "obfuscation",
     25,
     {1, 5, 20},
     false},
    {I::kPriorityContent,
     "priority_content",
     "Priority content touched",
     "collection",
     25,
     {1, 10, 50},
     false},
    {I::kHiddenFileCreated,
     "hidden_file_created",
     "Hidden file created",
     "obfuscation",
     10,
     {5, 20, 100},
     false},
    {I::kSecurityControlDisabled,
     "security_control_disabled",
     "Security control disabled (firewall, LSM, audit)",
     "defense evasion",
     45,
     {1, 1, 3},
     false},
    {I::kPrivilegeChange,
     "privilege_change",
     "Account or privilege change",
     "privilege",
     30,
     {1, 1, 3},
     false},
    {I::kUnapprovedSoftware,
     "unapproved_software",
     "Unapproved software installed",
     "software",
     20,
     {1, 3, 10},
     false},
    {I::kNewUsbDevice,
     "new_usb_device",
     "New USB mass-storage device for this person",
     "device",
     15,
     {1, 2, 3},
     false},
    {I::kAgentTampering,
     "agent_tampering",
     "Custos agent tampered with",
     "defense evasion",
     50,
     {1, 1, 2},
     false},
    {I::kTelemetryGap,
     "telemetry_gap",
     "Telemetry gap during a risky window",
     "defense evasion",
     25,
     {1, 2, 5},
     true},
}};

constexpr std::array<std::string_view, 14> kArchiveExtensions = {
    ".zip", ".7z",  ".rar",  ".tar", ".tgz", ".gz",  ".bz2",
    ".xz",  ".zst", ".tbz2", ".txz", ".cab", ".iso", ".jar"};
// Renames from these extensions are how editors and browsers save, not obfuscation.
constexpr std::array<std::string_view, 8> kTransientExtensions = {
    ".tmp", ".part", ".crdownload", ".swp", ".swx", ".bak", ".partial", ".download"};

bool Contains(std::span<const std::string_view> list, std::string_view v) {
  return std::find(list.begin(), list.end(), v) != list.end();
}

bool Approved(const MappingOptions& options, const std::string& package) {
  for (const auto& pattern : options.approved_software) {
    if (fnmatch(pattern.c_str(), package.c_str(), 0) == 0) return true;
  }
  return false;
}

// "- rule" / "+ rule" summary lines of a settings change.
void CountDiff(std::string_view summary, int* removed, int* added) {
  size_t start = 0;
  while (start <= summary.size()) {
    size_t end = summary.find('\n', start);
    if (end == std::string_view::npos) end = summary.size();
    std::string_view line = summary.substr(start, end - start);
    if (line.starts_with("- ")) ++*removed;
    if (line.starts_with("+ ")) ++*added;
    start = end + 1;
  }
}

void MapSetting(const custos::v1::SettingChange& s, const MappingOptions& options,
                EventFacts* facts) {
  const std::string& area = s.area();
  const std::string& now = s.new_value();
  const std::string& was = s.old_value();
  auto hit = [&](IndicatorId id) { facts->hits.push_back({id, 0}); };
  if (area == "agent") {
    hit(I::kAgentTampering);
    return;
  }
  if (area == "lsm") {
    bool weakened = false;
    if (s.key() == "selinux") {
      weakened = was == "enforcing" && now != "enforcing";
    } else if (s.key() == "apparmor") {
      // "enabled=Y profiles=N enforce=E complain=C"
      auto enforce = [](const std::string& v) -> long {
        auto p = v.find("enforce=");
        if (p == std::string::npos) return -1;
        return std::strtol(v.c_str() + p + 8, nullptr, 10);
      };
      weakened = (was.starts_with("enabled=Y") && !now.starts_with("enabled=Y")) ||
                 (enforce(now) >= 0 && enforce(was) > enforce(now));
    }
    if (weakened) hit(I::kSecurityControlDisabled);
    return;
  }
  if (area == "audit" && s.key() == "auditd") {
    if (was == "running" && now != "running") hit(I::kSecurityControlDisabled);
    return;
  }
  if (area == "firewall" || area == "audit") {
    // Live ruleset or watched rule files: removing rules (or the file) lowers the defences.
    int removed = 0, added = 0;
    CountDiff(s.summary(), &removed, &added);
    if (removed > added || (now.empty() && !was.empty()) || now == "deleted") {
      hit(I::kSecurityControlDisabled);
    }
    return;
  }
  if (area == "account") {
    // "user:<name>" created, "group:<privileged>" "<user> added".
    if ((s.key().starts_with("user:") && now == "created") ||
        (s.key().starts_with("group:") && now.ends_with(" added"))) {
      hit(I::kPrivilegeChange);
    }
    return;
  }
  if (area == "sudoers") {
    int removed = 0, added = 0;
    CountDiff(s.summary(), &removed, &added);
    if (added > 0 || s.summary().find("created") != std::string::npos) hit(I::kPrivilegeChange);
    return;
  }
  if (area == "packages") {
    size_t start = 0;
    const std::string& sum = s.summary();
    while (start < sum.size()) {
      size_t end = sum.find('\n', start);
      if (end == std::string::npos) end = sum.size();
      std::string_view line(sum.data() + start, end - start);
      if (line.starts_with("installed ")) {
        std::string_view rest = line.substr(10);
        std::string package(rest.substr(0, rest.find(' ')));
        if (!Approved(options, package)) hit(I::kUnapprovedSoftware);
      }
      start = end + 1;
    }
  }
}

}  // namespace

std::string_view TierName(Tier tier) {
  switch (tier) {
    case Tier::kLow:
      return "low";
    case Tier::kMedium:
      return "medium";
    case Tier::kHigh:
      return "high";
    case Tier::kNone:
      break;
  }
  return "none";
}

Tier TierFor(const Tiers& tiers, uint64_t count) {
  if (tiers.high > 0 && count >= tiers.high) return Tier::kHigh;
  if (tiers.medium > 0 && count >= tiers.medium) return Tier::kMedium;
  if (tiers.low > 0 && count >= tiers.low) return Tier::kLow;
  return Tier::kNone;
}

double TierFactor(Tier tier) {
  switch (tier) {
    case Tier::kLow:
      return 0.5;
    case Tier::kMedium:
      return 0.75;
    case Tier::kHigh:
      return 1.0;
    case Tier::kNone:
      break;
  }
  return 0;
}

std::span<const IndicatorInfo> Catalog() { return kCatalog; }

const IndicatorInfo& Info(IndicatorId id) { return kCatalog[static_cast<size_t>(id)]; }

std::optional<IndicatorId> ParseIndicator(std::string_view key) {
  for (const auto& i : kCatalog) {
    if (i.key == key) return i.id;
  }
  return std::nullopt;
}

std::string_view BaseName(std::string_view path) {
  auto p = path.find_last_of('/');
  return p == std::string_view::npos ? path : path.substr(p + 1);
}

std::string Extension(std::string_view path) {
  std::string_view base = BaseName(path);
  auto dot = base.find_last_of('.');
  if (dot == std::string_view::npos || dot == 0) return "";
  std::string ext(base.substr(dot));
  for (char& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return ext;
}

using google::protobuf::internal::WireFormatLite;

bool ParseScoredPayload(std::string_view bytes, custos::v1::Event* event) {
  bool found = false;
  google::protobuf::io::CodedInputStream in(reinterpret_cast<const uint8_t*>(bytes.data()),
                                            static_cast<int>(bytes.size()));
  while (true) {
    const uint32_t tag = in.ReadTag();
    if (tag == 0) {
      if (!found) event->clear_payload();
      return in.ConsumedEntireMessage();
    }
    const int field = static_cast<int>(WireFormatLite::GetTagFieldNumber(tag));
    const bool message =
        WireFormatLite::GetTagWireType(tag) == WireFormatLite::WIRETYPE_LENGTH_DELIMITED;
    google::protobuf::MessageLite* sub = nullptr;
    if (message) {
      switch (field) {
        case custos::v1::Event::kFileFieldNumber:
          sub = event->mutable_file();
          break;
        case custos::v1::Event::kUsbFieldNumber:
          sub = event->mutable_usb();
          break;
        case custos::v1::Event::kSettingFieldNumber:
          sub = event->mutable_setting();
          break;
        case custos::v1::Event::kEventsLostFieldNumber:
          sub = event->mutable_events_lost();
          break;
        case custos::v1::Event::kGapFieldNumber:
          sub = event->mutable_gap();
          break;
        case custos::v1::Event::kNetworkFieldNumber:
          sub = event->mutable_network();
          break;
        default:
          break;  // actor, evidence, health, process: nothing scoring reads
      }
    }
    if (sub == nullptr) {
      if (!WireFormatLite::SkipField(&in, tag)) return false;
      continue;
    }
    uint32_t len = 0;
    if (!in.ReadVarint32(&len)) return false;
    const auto pos = static_cast<size_t>(in.CurrentPosition());
    if (len > bytes.size() - pos) return false;
    // A payload field seen twice: the last one wins (agents send one).
    if (!sub->ParseFromArray(bytes.data() + pos, static_cast<int>(len))) return false;
    found = true;
    if (!in.Skip(static_cast<int>(len))) return false;
  }
}

void EventFacts::Clear() {
  hits.clear();
  stage = Stage::kNone;
  name = previous_name = path = source_path = usb_fingerprint = {};
  extension.clear();
  source_extension.clear();
  labels = nullptr;
  exfiltrated_bytes = 0;
  scan_found = false;
}

EventFacts MapEvent(const custos::v1::Event& event, const MappingOptions& options) {
  EventFacts facts;
  MapEvent(event, options, &facts);
  return facts;
}

void MapEvent(const custos::v1::Event& event, const MappingOptions& options, EventFacts* out) {
  out->Clear();
  EventFacts& facts = *out;
  switch (event.payload_case()) {
    case custos::v1::Event::kFile: {
      const auto& f = event.file();
      if (f.observed_by() == custos::v1::OBSERVED_BY_SCAN) {
        facts.scan_found = true;
        break;
      }
      if (f.is_dir()) break;
      facts.path = f.path();
      facts.name = BaseName(f.path());
      facts.labels = &f.classifications();
      const bool hidden = !facts.name.empty() && facts.name[0] == '.';
      facts.extension = Extension(f.path());
      const std::string& ext = facts.extension;
      const bool to_removable =
          f.op() == custos::v1::FILE_OP_COPY_TO_REMOVABLE ||
          (!f.device_fingerprint().empty() &&
           (f.op() == custos::v1::FILE_OP_CREATE || f.op() == custos::v1::FILE_OP_MODIFY));
      if (to_removable) {
        facts.hits.push_back({I::kUsbCopy, f.size()});
        facts.exfiltrated_bytes = f.size();
        facts.stage = Stage::kExfiltration;
        if (!f.source_path().empty()) {
          facts.source_path = f.source_path();
          facts.source_extension = Extension(f.source_path());
          facts.previous_name = BaseName(f.source_path());
        }
        break;
      }
      switch (f.op()) {
        case custos::v1::FILE_OP_CREATE:
          facts.hits.push_back({I::kBulkCreate, 0});
          if (hidden) facts.hits.push_back({I::kHiddenFileCreated, 0});
          if (Contains(kArchiveExtensions, ext)) {
            facts.hits.push_back({I::kArchiveCreated, 0});
            facts.stage = Stage::kObfuscation;
          } else {
            facts.stage = Stage::kCollection;
          }
          break;
        case custos::v1::FILE_OP_RENAME: {
          facts.hits.push_back({I::kBulkRename, 0});
          facts.previous_name = BaseName(f.old_path());
          const std::string old_ext = Extension(f.old_path());
          if (!old_ext.empty() && !ext.empty() && old_ext != ext &&
              !Contains(kTransientExtensions, old_ext) && !Contains(kTransientExtensions, ext)) {
            facts.hits.push_back({I::kExtensionChanged, 0});
            facts.stage = Stage::kObfuscation;
          }
          if (hidden && !facts.previous_name.empty() && facts.previous_name[0] != '.') {
            facts.hits.push_back({I::kHiddenFileCreated, 0});
            facts.stage = Stage::kObfuscation;
          }
          break;
        }
        case custos::v1::FILE_OP_DELETE:
          facts.hits.push_back({I::kBulkDelete, 0});
          facts.stage = Stage::kCleanup;
          break;
        default:
          break;
      }
      break;
    }
    case custos::v1::Event::kNetwork: {
      const auto& n = event.network();
      if (n.action() == custos::v1::NETWORK_ACTION_UPLOAD) {
        facts.hits.push_back({I::kCloudUpload, n.bytes()});
        facts.exfiltrated_bytes = n.bytes();
        facts.stage = Stage::kExfiltration;
        facts.path = n.path();
        facts.extension = Extension(n.path());
        facts.name = BaseName(n.path());
      }
      break;
    }
    case custos::v1::Event::kUsb: {
      const auto& u = event.usb();
      if (u.action() == custos::v1::USB_ACTION_ADDED &&
          std::find(u.interface_classes().begin(), u.interface_classes().end(), 8u) !=
              u.interface_classes().end()) {
        facts.usb_fingerprint = u.fingerprint();
      }
      break;
    }
    case custos::v1::Event::kSetting:
      MapSetting(event.setting(), options, &facts);
      break;
    case custos::v1::Event::kEventsLost:
    case custos::v1::Event::kGap:
      facts.hits.push_back({I::kTelemetryGap, 0});
      break;
    default:
      break;
  }
}

}  // namespace custos::collector::scoring
