// collector/scoring/indicators.h: the indicator catalog and the mapping of one event to the
// indicators it raises. Specified for analysts in docs/indicators.md (keep the two in step).
//
// An indicator is a kind of risky activity (a copy to removable media, a mass delete, a security
// control turned off, ...). Each has a stable id (stored in policies and alert explanations:
// never rename), a category, a default weight (its share of a 0-100 score) and default daily
// count tiers: a person's count of that indicator on one day reaches Low, Medium or High when it
// is at least the tier's threshold.
//
// Pure functions, no state: bulk thresholds, baselines and priority content are applied by the
// engine (scoring.h). Thread-safe.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "custos/v1/event.pb.h"

namespace custos::collector::scoring {

enum class IndicatorId : uint8_t {
  kUsbCopy = 0,
  kCloudUpload,
  kBulkCreate,
  kBulkRename,
  kBulkDelete,
  kArchiveCreated,
  kExtensionChanged,
  kPriorityContent,
  kHiddenFileCreated,
  kSecurityControlDisabled,
  kPrivilegeChange,
  kUnapprovedSoftware,
  kNewUsbDevice,
  kAgentTampering,
  kTelemetryGap,
  kCount,  // not an indicator
};
constexpr size_t kIndicatorCount = static_cast<size_t>(IndicatorId::kCount);

// Daily count thresholds: Low when count >= low, Medium when >= medium, High when >= high.
struct Tiers {
  uint32_t low = 1;
  uint32_t medium = 5;
  uint32_t high = 20;
};

enum class Tier : uint8_t { kNone = 0, kLow, kMedium, kHigh };
std::string_view TierName(Tier tier);
Tier TierFor(const Tiers& tiers, uint64_t count);
// The share of an indicator's weight a tier earns: Low 0.5, Medium 0.75, High 1.0.
double TierFactor(Tier tier);

// Stages of the collection -> obfuscation -> exfiltration -> clean-up sequence.
enum class Stage : uint8_t { kNone = 0, kCollection, kObfuscation, kExfiltration, kCleanup };

struct IndicatorInfo {
  IndicatorId id;
  std::string_view key;       // stable id, e.g. "usb_copy"
  std::string_view name;      // for people, e.g. "File copied to removable media"
  std::string_view category;  // "exfiltration", "collection", "obfuscation", "clean-up",
                              // "defense evasion", "privilege", "software", "device"
  uint32_t weight;            // default share of the 0-100 score at the High tier
  Tiers tiers;
  // True: counted only while the person is in a triggered (risky) window; outside one the event
  // is not risky by itself (telemetry gaps).
  bool only_in_risky_window;
};

std::span<const IndicatorInfo> Catalog();
const IndicatorInfo& Info(IndicatorId id);
std::optional<IndicatorId> ParseIndicator(std::string_view key);

// One indicator raised by one event. `name` is the file name (base name) the event is about,
// linking sequence stages; `bytes` the data size for exfiltration.
struct IndicatorHit {
  IndicatorId id;
  uint64_t bytes = 0;
};

// What one event means for scoring, independent of policies. The views point into the event
// passed to MapEvent and live as long as it does (no copies: this runs for every stored event).
struct EventFacts {
  std::vector<IndicatorHit> hits;
  // File events: the base names involved (for a rename: old, then new) and the stage.
  Stage stage = Stage::kNone;
  std::string_view name;
  std::string_view previous_name;  // rename: the old base name
  std::string_view path;           // the file's path (priority content is matched on it)
  std::string_view source_path;    // copy to removable media: the file read just before
  std::string extension;           // of path, lower-case (short: no allocation)
  std::string source_extension;    // of source_path
  const google::protobuf::RepeatedPtrField<std::string>* labels = nullptr;
  uint64_t exfiltrated_bytes = 0;
  std::string_view usb_fingerprint;  // a mass-storage device arrived (new-device check is stateful)
  // A file change found by the agent's scan (observed_by SCAN: changed while the agent was down,
  // or missed in a kernel queue overflow): nobody is known to have made it, so it raises no
  // indicator and is never attributed to a person (it stays stored and shown as a scan finding).
  bool scan_found = false;

  void Clear();  // keeps the capacity of hits and the strings (reused for every event)
};

// Options that are organisation-wide rather than per policy.
struct MappingOptions {
  // Packages that may be installed without raising unapproved_software ("name" or "name*").
  std::vector<std::string> approved_software;
};

// Parses only what scoring reads from a stored event: its payload (file, USB, setting, network,
// events-lost, gap). The actor (executable, command line: the longest strings of most events)
// and the header fields are skipped, not parsed — the store row already gives time, agent and
// login user. `event` is reused from one call to the next: parsing into the same payload kind
// reuses its strings' storage, so steady streams of file events cost no allocation. A payload
// field seen twice: the last one wins (agents send one). False when the bytes are not a valid
// Event (`event` is then unspecified); never crashes on any input.
bool ParseScoredPayload(std::string_view bytes, custos::v1::Event* event);

// Maps one event. Never fails: an event the catalog has nothing to say about yields no hits.
EventFacts MapEvent(const custos::v1::Event& event, const MappingOptions& options);
// The same into *out (cleared first), reusing its storage: no allocation per event.
void MapEvent(const custos::v1::Event& event, const MappingOptions& options, EventFacts* out);

// "report.final.docx" -> ".docx" (lower-cased); "" when there is no extension. Archives with
// two-part extensions (".tar.gz") give the last part.
std::string Extension(std::string_view path);
std::string_view BaseName(std::string_view path);

}  // namespace custos::collector::scoring
