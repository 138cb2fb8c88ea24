// bench-ndjson lines (gen_events.py, see bench_ndjson.h) onto custos.v1.Event, without a DOM.
#include "agent/sources/replay/bench_ndjson.h"

#include <algorithm>
#include <array>
#include <bit>
#include <cstdio>
#include <cstring>
#include <exception>
#include <new>
#include <nlohmann/json.hpp>
#include <string>

#include "agent/sources/replay/replay_source.h"
#include "common/time/clock.h"

namespace custos::agent {
namespace replay_internal {
namespace {

namespace v1 = custos::v1;
using nlohmann::json;

// The members the mapping reads: top level, then per nested object.
enum TextField : uint8_t {
  kTs,
  kType,
  kHost,
  kUser,
  kDst,
  kProcExe,
  kProcCmd,
  kProcSha256,
  kFilePath,
  kFileNewPath,
  kFileSha256,
  kUsbVid,
  kUsbPid,
  kUsbVendor,
  kUsbProduct,
  kUsbSerial,
  kUsbClass,
  kUsbMount,
  kSettingName,
  kSettingOld,
  kSettingNew,
  kTextFieldCount
};
enum NumberField : uint8_t { kProcPid, kProcPpid, kFileSize, kNumberFieldCount };
// The nested objects whose members are read: "proc", "file", "usb", "setting".
enum Group : uint8_t { kNoGroup, kProc, kFile, kUsb, kSetting, kGroupCount };

// Where the next value goes.
struct Slot {
  enum Kind : uint8_t { kNone, kText, kNumber, kGroup } kind = kNone;
  uint8_t index = 0;
};
constexpr Slot TextSlot(TextField f) { return {Slot::kText, static_cast<uint8_t>(f)}; }
constexpr Slot NumberSlot(NumberField f) { return {Slot::kNumber, static_cast<uint8_t>(f)}; }
constexpr Slot GroupSlot(Group g) { return {Slot::kGroup, static_cast<uint8_t>(g)}; }

Slot TopLevelSlot(std::string_view key) {
  if (key == "ts") return TextSlot(kTs);
  if (key == "type") return TextSlot(kType);
  if (key == "host") return TextSlot(kHost);
  if (key == "user") return TextSlot(kUser);
  if (key == "dst") return TextSlot(kDst);
  if (key == "proc") return GroupSlot(kProc);
  if (key == "file") return GroupSlot(kFile);
  if (key == "usb") return GroupSlot(kUsb);
  if (key == "setting") return GroupSlot(kSetting);
  return {};
}

Slot MemberSlot(Group group, std::string_view key) {
  switch (group) {
    case kProc:
      if (key == "pid") return NumberSlot(kProcPid);
      if (key == "exe") return TextSlot(kProcExe);
      if (key == "ppid") return NumberSlot(kProcPpid);
      if (key == "cmd") return TextSlot(kProcCmd);
      if (key == "sha256") return TextSlot(kProcSha256);
      return {};
    case kFile:
      if (key == "path") return TextSlot(kFilePath);
      if (key == "size") return NumberSlot(kFileSize);
      if (key == "sha256") return TextSlot(kFileSha256);
      if (key == "new_path") return TextSlot(kFileNewPath);
      return {};
    case kUsb:
      if (key == "vid") return TextSlot(kUsbVid);
      if (key == "pid") return TextSlot(kUsbPid);
      if (key == "vendor") return TextSlot(kUsbVendor);
      if (key == "product") return TextSlot(kUsbProduct);
      if (key == "serial") return TextSlot(kUsbSerial);
      if (key == "class") return TextSlot(kUsbClass);
      if (key == "mount") return TextSlot(kUsbMount);
      return {};
    case kSetting:
      if (key == "name") return TextSlot(kSettingName);
      if (key == "old") return TextSlot(kSettingOld);
      if (key == "new") return TextSlot(kSettingNew);
      return {};
    default:
      return {};
  }
}

constexpr auto kHexValue = [] {
  std::array<int8_t, 256> value{};
  for (int c = 0; c < 256; ++c) {
    value[c] = c >= '0' && c <= '9'   ? static_cast<int8_t>(c - '0')
               : c >= 'a' && c <= 'f' ? static_cast<int8_t>(c - 'a' + 10)
               : c >= 'A' && c <= 'F' ? static_cast<int8_t>(c - 'A' + 10)
                                      : int8_t{-1};
  }
  return value;
}();
int HexDigit(char c) { return kHexValue[static_cast<unsigned char>(c)]; }

bool IsCSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

// Hex digest to raw bytes; empty when malformed. A pair that is not two hex digits reads as
// sscanf("%2x") on the rest of the text always read it, so odd input (" f", "+f", "-1") keeps
// its former meaning; but sscanf sees only what it can consume (the white space it skips, then
// two characters), which keeps long digests linear (sscanf itself runs strlen on every call).
void HexBytes(std::string_view hex, std::string* out) {
  out->clear();
  if (hex.size() % 2 != 0) return;
  out->resize(hex.size() / 2);
  size_t space_end = 0;  // end of the white space run at or after i, computed once per run
  for (size_t i = 0; i < hex.size(); i += 2) {
    const int hi = HexDigit(hex[i]);
    const int lo = HexDigit(hex[i + 1]);
    if (hi >= 0 && lo >= 0) {
      (*out)[i / 2] = static_cast<char>(hi << 4 | lo);
      continue;
    }
    space_end = std::max(space_end, i);
    while (space_end < hex.size() && IsCSpace(hex[space_end])) ++space_end;
    std::string probe = space_end > i ? " " : "";
    probe.append(hex.substr(space_end, 4));  // c_str() also ends at an embedded NUL, as before
    unsigned v = 0;
    if (std::sscanf(probe.c_str(), "%2x", &v) != 1) {
      out->clear();
      return;
    }
    (*out)[i / 2] = static_cast<char>(v);
  }
}

// "0781" -> 0x781. Anything but 1-8 hex digits goes through sscanf("%x") as it always did.
uint32_t HexId(std::string_view s) {
  if (!s.empty() && s.size() <= 8) {
    uint32_t v = 0;
    bool all_hex = true;
    for (char c : s) {
      const int d = HexDigit(c);
      if (d < 0) {
        all_hex = false;
        break;
      }
      v = v << 4 | static_cast<uint32_t>(d);
    }
    if (all_hex) return v;
  }
  const std::string text(s);  // sscanf needs the NUL
  unsigned v = 0;
  return std::sscanf(text.c_str(), "%x", &v) == 1 ? v : 0;
}

uint32_t UsbClass(std::string_view c) {
  if (c == "mass_storage") return 8;
  if (c == "hid") return 3;
  if (c == "phone" || c == "mtp" || c == "imaging") return 6;
  if (c == "network" || c == "wireless") return 0xE0;
  if (c == "printer") return 7;
  return 0xFF;
}

// Text from the line for an error message, which ends up in logs and health events: printable
// ASCII only ('?' for anything else) and at most max_chars.
std::string Printable(std::string_view text, size_t max_chars) {
  std::string out;
  for (char c : text.substr(0, max_chars)) out.push_back(c >= 0x20 && c < 0x7F ? c : '?');
  if (text.size() > max_chars) out += "...";
  return out;
}

void Put(std::string* field, std::string_view value) { field->assign(value.data(), value.size()); }

// The members of one line, filled from scanner events (the fast scanner's or nlohmann's). Reads
// them as the former DOM mapping did: a member of the wrong type is absent ("" or 0), a later
// duplicate key replaces an earlier one (a nested object as a whole), negative integers and
// fractions read as 0, anything deeper than the nested objects is ignored.
class BenchRecord {
 public:
  void Reset() {
    for (std::string_view& t : text_) t = {};
    for (std::string& o : owned_) {
      if (o.capacity() > 4096) std::string().swap(o);  // not what one huge line needed
    }
    for (uint64_t& n : number_) n = 0;
    for (bool& p : present_) p = false;
    depth_ = 0;
    group_ = kNoGroup;
    slot_ = {};
    top_is_object_ = false;
  }

  void StartObject() {
    const Slot s = TakeSlot();
    if (depth_ == 0) {
      top_is_object_ = true;
    } else if (depth_ == 1 && s.kind == Slot::kGroup) {
      group_ = static_cast<Group>(s.index);
      ResetGroup(group_);
      present_[group_] = true;
    } else {
      Clear(s);
      if (depth_ == 1) group_ = kNoGroup;
    }
    ++depth_;
  }
  void StartArray() {
    Clear(TakeSlot());
    if (depth_ == 1) group_ = kNoGroup;
    ++depth_;
  }
  void End() { --depth_; }
  void Key(std::string_view key) {
    if (depth_ == 1) {
      slot_ = TopLevelSlot(key);
    } else if (depth_ == 2) {
      slot_ = MemberSlot(group_, key);
    } else {
      slot_ = {};
    }
  }
  // Where the fast scanner decodes the next string value when it has escapes: the pending
  // member's own buffer, so Text() can keep a view of it.
  std::string* DecodeBuffer() {
    return slot_.kind == Slot::kText ? &owned_[slot_.index] : &discard_;
  }
  // `value` stays valid until Build(): it points into the line or into DecodeBuffer().
  void Text(std::string_view value) {
    const Slot s = TakeSlot();
    if (s.kind == Slot::kText) {
      text_[s.index] = value;
    } else {
      Clear(s);
    }
  }
  // `value` dies with the event (nlohmann's token buffer): kept as a copy.
  void TextCopy(const std::string& value) {
    const Slot s = TakeSlot();
    if (s.kind == Slot::kText) {
      owned_[s.index] = value;
      text_[s.index] = owned_[s.index];
    } else {
      Clear(s);
    }
  }
  void Number(uint64_t value) {
    const Slot s = TakeSlot();
    if (s.kind == Slot::kNumber) {
      number_[s.index] = value;
    } else {
      Clear(s);
    }
  }
  void Other() { Clear(TakeSlot()); }

  bool top_is_object() const { return top_is_object_; }

  // The mapping onto custos.v1.Event. *e is clear on entry.
  Status Build(v1::Event* e) const {
    const std::string_view type = text_[kType];
    int64_t ns = 0;
    if (!ParseBenchTimestamp(text_[kTs], &ns)) return InvalidArgumentError("bad or missing ts");
    e->set_time_ns(ns);
    Put(e->mutable_host(), text_[kHost]);
    auto* actor = e->mutable_actor();
    Put(actor->mutable_login_user(), text_[kUser]);
    Put(actor->mutable_user_name(), text_[kUser]);
    if (present_[kProc]) {
      actor->set_pid(static_cast<uint32_t>(number_[kProcPid]));
      actor->set_ppid(static_cast<uint32_t>(number_[kProcPpid]));
      Put(actor->mutable_executable(), text_[kProcExe]);
      Put(actor->mutable_command_line(), text_[kProcCmd]);
    }
    if (type.substr(0, 5) == "file.") {
      auto* f = e->mutable_file();
      f->set_size(number_[kFileSize]);
      HexBytes(text_[kFileSha256], f->mutable_sha256());
      if (type == "file.modify") {
        f->set_op(v1::FILE_OP_MODIFY);
        Put(f->mutable_path(), text_[kFilePath]);
      } else if (type == "file.create") {
        f->set_op(v1::FILE_OP_CREATE);
        Put(f->mutable_path(), text_[kFilePath]);
      } else if (type == "file.read") {
        f->set_op(v1::FILE_OP_READ);
        Put(f->mutable_path(), text_[kFilePath]);
      } else if (type == "file.delete") {
        f->set_op(v1::FILE_OP_DELETE);
        Put(f->mutable_path(), text_[kFilePath]);
      } else if (type == "file.rename") {
        f->set_op(v1::FILE_OP_RENAME);
        Put(f->mutable_old_path(), text_[kFilePath]);
        Put(f->mutable_path(), text_[kFileNewPath]);
      } else if (type == "file.copy_to_removable") {
        f->set_op(v1::FILE_OP_COPY_TO_REMOVABLE);
        Put(f->mutable_source_path(), text_[kFilePath]);
        Put(f->mutable_path(), text_[kDst]);
      } else {
        return UnknownType(type);
      }
    } else if (type == "proc.start") {
      auto* p = e->mutable_process();
      p->set_action(v1::PROCESS_ACTION_START);
      HexBytes(text_[kProcSha256], p->mutable_sha256());
    } else if (type == "usb.attach" || type == "usb.detach") {
      auto* u = e->mutable_usb();
      u->set_action(type == "usb.attach" ? v1::USB_ACTION_ADDED : v1::USB_ACTION_REMOVED);
      u->set_vendor_id(HexId(text_[kUsbVid]));
      u->set_product_id(HexId(text_[kUsbPid]));
      Put(u->mutable_manufacturer(), text_[kUsbVendor]);
      Put(u->mutable_product(), text_[kUsbProduct]);
      Put(u->mutable_serial(), text_[kUsbSerial]);
      u->add_interface_classes(UsbClass(text_[kUsbClass]));
      Put(u->mutable_mount_point(), text_[kUsbMount]);
      std::string* fingerprint = u->mutable_fingerprint();
      fingerprint->reserve(text_[kUsbVid].size() + text_[kUsbPid].size() +
                           text_[kUsbSerial].size() + 2);
      fingerprint->append(text_[kUsbVid]).append(":").append(text_[kUsbPid]);
      fingerprint->append(":").append(text_[kUsbSerial]);
    } else if (type == "net.upload") {
      auto* n = e->mutable_network();
      n->set_action(v1::NETWORK_ACTION_UPLOAD);
      Put(n->mutable_destination(), text_[kDst]);
      Put(n->mutable_path(), text_[kFilePath]);
    } else if (type == "security.setting_change") {
      auto* s = e->mutable_setting();
      const std::string_view name = text_[kSettingName];
      Put(s->mutable_area(), name.substr(0, name.find('.')));
      Put(s->mutable_key(), name);
      Put(s->mutable_old_value(), text_[kSettingOld]);
      Put(s->mutable_new_value(), text_[kSettingNew]);
      s->set_observed_by(v1::OBSERVED_BY_PROBE);
    } else {
      return UnknownType(type);
    }
    return OkStatus();
  }

 private:
  static Status UnknownType(std::string_view type) {
    return InvalidArgumentError("unknown type '" + Printable(type, 64) + "'");
  }
  Slot TakeSlot() {
    const Slot s = slot_;
    slot_ = {};
    return s;
  }
  // The value for slot s is not of the slot's type: the member reads as absent.
  void Clear(Slot s) {
    switch (s.kind) {
      case Slot::kText:
        text_[s.index] = {};
        break;
      case Slot::kNumber:
        number_[s.index] = 0;
        break;
      case Slot::kGroup:
        ResetGroup(static_cast<Group>(s.index));
        present_[s.index] = false;
        break;
      case Slot::kNone:
        break;
    }
  }
  void ResetGroup(Group g) {
    auto clear_text = [this](TextField first, TextField last) {
      for (int i = first; i <= last; ++i) text_[i] = {};
    };
    switch (g) {
      case kProc:
        clear_text(kProcExe, kProcSha256);
        number_[kProcPid] = number_[kProcPpid] = 0;
        break;
      case kFile:
        clear_text(kFilePath, kFileSha256);
        number_[kFileSize] = 0;
        break;
      case kUsb:
        clear_text(kUsbVid, kUsbMount);
        break;
      case kSetting:
        clear_text(kSettingName, kSettingNew);
        break;
      default:
        break;
    }
  }

  std::string_view text_[kTextFieldCount];  // into the line or into owned_
  std::string owned_[kTextFieldCount];      // decoded or copied values, reused line to line
  std::string discard_;                     // escaped strings nobody reads
  uint64_t number_[kNumberFieldCount] = {};
  bool present_[kGroupCount] = {};  // the member is an object
  size_t depth_ = 0;                // containers open
  Group group_ = kNoGroup;          // which nested object the open depth-2 container is
  Slot slot_;                       // where the value after the last key goes
  bool top_is_object_ = false;
};

// Bytes that stand for themselves inside a JSON string: printable ASCII but '"' and '\\'.
constexpr auto kPlain = [] {
  std::array<bool, 256> plain{};
  for (int c = 0x20; c < 0x80; ++c) plain[c] = c != '"' && c != '\\';
  return plain;
}();

// The common subset of JSON, straight from the line into the record. Returns false ("not sure",
// never "invalid") on anything outside it; everything it accepts nlohmann accepts with the same
// events, which the differential tests and the fuzzer check.
class FastScanner {
 public:
  FastScanner(std::string_view line, BenchRecord* record, std::string* scratch)
      : p_(line.data()), end_(line.data() + line.size()), record_(record), scratch_(scratch) {}

  bool ScanLine() {
    SkipSpace();
    if (p_ == end_ || *p_ != '{' || !Object(1)) return false;
    SkipSpace();
    return p_ == end_;
  }

 private:
  // Deeper nesting is left to nlohmann's iterative parser, so the stack stays bounded.
  static constexpr int kMaxDepth = 16;

  void SkipSpace() {
    while (p_ != end_ && (*p_ == ' ' || *p_ == '\t' || *p_ == '\n' || *p_ == '\r')) ++p_;
  }

  bool Value(int depth) {
    if (p_ == end_) return false;
    switch (*p_) {
      case '{':
        return depth < kMaxDepth && Object(depth + 1);
      case '[':
        return depth < kMaxDepth && Array(depth + 1);
      case '"': {
        std::string_view text;
        if (!String(&text, record_->DecodeBuffer())) return false;
        record_->Text(text);
        return true;
      }
      case 't':
        return Literal("true");
      case 'f':
        return Literal("false");
      case 'n':
        return Literal("null");
      default:
        return Unsigned();
    }
  }

  bool Object(int depth) {
    ++p_;
    record_->StartObject();
    SkipSpace();
    if (p_ != end_ && *p_ == '}') {
      ++p_;
      record_->End();
      return true;
    }
    for (;;) {
      SkipSpace();
      std::string_view key;
      if (p_ == end_ || *p_ != '"' || !String(&key, scratch_)) return false;
      record_->Key(key);
      SkipSpace();
      if (p_ == end_ || *p_ != ':') return false;
      ++p_;
      SkipSpace();
      if (!Value(depth)) return false;
      SkipSpace();
      if (p_ == end_) return false;
      if (*p_ == ',') {
        ++p_;
        continue;
      }
      if (*p_ != '}') return false;
      ++p_;
      record_->End();
      return true;
    }
  }

  bool Array(int depth) {
    ++p_;
    record_->StartArray();
    SkipSpace();
    if (p_ != end_ && *p_ == ']') {
      ++p_;
      record_->End();
      return true;
    }
    for (;;) {
      SkipSpace();
      if (!Value(depth)) return false;
      SkipSpace();
      if (p_ == end_) return false;
      if (*p_ == ',') {
        ++p_;
        continue;
      }
      if (*p_ != ']') return false;
      ++p_;
      record_->End();
      return true;
    }
  }

  bool Literal(std::string_view word) {
    if (static_cast<size_t>(end_ - p_) < word.size() || std::string_view(p_, word.size()) != word) {
      return false;
    }
    p_ += word.size();
    record_->Other();
    return true;
  }

  // Non-negative integers below 10^19 (so they fit uint64_t, as nlohmann reads them); '-',
  // fractions and exponents are left to nlohmann.
  bool Unsigned() {
    const char* start = p_;
    uint64_t v = 0;
    while (p_ != end_ && *p_ >= '0' && *p_ <= '9') {
      v = v * 10 + static_cast<uint64_t>(*p_ - '0');
      ++p_;
    }
    const auto digits = static_cast<size_t>(p_ - start);
    if (digits == 0 || digits > 19 || (digits > 1 && *start == '0')) return false;
    if (p_ != end_ && (*p_ == '.' || *p_ == 'e' || *p_ == 'E')) return false;
    record_->Number(v);
    return true;
  }

  // At the opening quote. A string without escapes is a view into the line; one with escapes is
  // decoded into *buf.
  bool String(std::string_view* out, std::string* buf) {
    const char* start = ++p_;
    if (!SkipText() || p_ == end_) return false;
    if (*p_ == '"') {
      *out = std::string_view(start, static_cast<size_t>(p_ - start));
      ++p_;
      return true;
    }
    if (*p_ != '\\') return false;  // a control character
    buf->assign(start, p_);
    for (;;) {  // at a backslash
      if (++p_ == end_) return false;
      char decoded;
      switch (*p_) {
        case '"':
          decoded = '"';
          break;
        case '\\':
          decoded = '\\';
          break;
        case '/':
          decoded = '/';
          break;
        case 'b':
          decoded = '\b';
          break;
        case 'f':
          decoded = '\f';
          break;
        case 'n':
          decoded = '\n';
          break;
        case 'r':
          decoded = '\r';
          break;
        case 't':
          decoded = '\t';
          break;
        default:
          return false;  // \u (surrogate rules) and invalid escapes: nlohmann decides
      }
      buf->push_back(decoded);
      const char* run = ++p_;
      if (!SkipText()) return false;
      buf->append(run, p_);
      if (p_ == end_) return false;
      if (*p_ == '"') {
        ++p_;
        *out = *buf;
        return true;
      }
      if (*p_ != '\\') return false;
    }
  }

  // Advances over text that needs no decoding: printable ASCII but '"' and '\\', and
  // well-formed UTF-8. False on malformed UTF-8.
  bool SkipText() {
    for (;;) {
      SkipPlain();
      if (p_ == end_ || static_cast<unsigned char>(*p_) < 0x80) return true;
      if (!Utf8Sequence()) return false;
    }
  }

  // Advances over kPlain bytes, eight at a time where it can (paths are most of a line).
  void SkipPlain() {
    if constexpr (std::endian::native == std::endian::little) {
      constexpr uint64_t kOnes = 0x0101010101010101ull;
      constexpr uint64_t kHigh = 0x8080808080808080ull;
      while (end_ - p_ >= 8) {
        uint64_t x;
        std::memcpy(&x, p_, sizeof x);
        // High bit set in the byte where x has '"' or '\\' (a zero after the xor), a byte below
        // 0x20, or a byte >= 0x80. Borrows only mark bytes above a real hit, so the lowest mark
        // is the first special byte.
        const uint64_t quote = x ^ (kOnes * '"');
        const uint64_t backslash = x ^ (kOnes * '\\');
        const uint64_t marks = (((quote - kOnes) & ~quote) | ((backslash - kOnes) & ~backslash) |
                                ((x - kOnes * 0x20) & ~x) | x) &
                               kHigh;
        if (marks != 0) {
          p_ += std::countr_zero(marks) / 8;
          return;
        }
        p_ += 8;
      }
    }
    while (p_ != end_ && kPlain[static_cast<unsigned char>(*p_)]) ++p_;
  }

  // Well-formed UTF-8 (Unicode table 3-7, the table nlohmann's lexer checks) at a byte >= 0x80.
  bool Utf8Sequence() {
    const auto left = static_cast<size_t>(end_ - p_);
    auto byte_in = [&](size_t i, unsigned lo, unsigned hi) {
      if (i >= left) return false;
      const auto b = static_cast<unsigned char>(p_[i]);
      return b >= lo && b <= hi;
    };
    const auto c = static_cast<unsigned char>(*p_);
    size_t n = 0;
    if (c >= 0xC2 && c <= 0xDF) {
      n = byte_in(1, 0x80, 0xBF) ? 2 : 0;
    } else if (c == 0xE0) {
      n = byte_in(1, 0xA0, 0xBF) && byte_in(2, 0x80, 0xBF) ? 3 : 0;
    } else if ((c >= 0xE1 && c <= 0xEC) || c == 0xEE || c == 0xEF) {
      n = byte_in(1, 0x80, 0xBF) && byte_in(2, 0x80, 0xBF) ? 3 : 0;
    } else if (c == 0xED) {
      n = byte_in(1, 0x80, 0x9F) && byte_in(2, 0x80, 0xBF) ? 3 : 0;
    } else if (c == 0xF0) {
      n = byte_in(1, 0x90, 0xBF) && byte_in(2, 0x80, 0xBF) && byte_in(3, 0x80, 0xBF) ? 4 : 0;
    } else if (c >= 0xF1 && c <= 0xF3) {
      n = byte_in(1, 0x80, 0xBF) && byte_in(2, 0x80, 0xBF) && byte_in(3, 0x80, 0xBF) ? 4 : 0;
    } else if (c == 0xF4) {
      n = byte_in(1, 0x80, 0x8F) && byte_in(2, 0x80, 0xBF) && byte_in(3, 0x80, 0xBF) ? 4 : 0;
    }
    p_ += n;
    return n != 0;
  }

  const char* p_;
  const char* const end_;
  BenchRecord* const record_;
  std::string* const scratch_;
};

// nlohmann's SAX interface onto the record. Never throws: errors come back through
// parse_error, which stops the parse.
class NlohmannEvents {
 public:
  explicit NlohmannEvents(BenchRecord* record) : record_(record) {}
  bool null() { return Other(); }
  bool boolean(bool) { return Other(); }
  bool number_integer(json::number_integer_t v) {
    record_->Number(v < 0 ? 0 : static_cast<uint64_t>(v));
    return true;
  }
  bool number_unsigned(json::number_unsigned_t v) {
    record_->Number(v);
    return true;
  }
  bool number_float(json::number_float_t, const json::string_t&) { return Other(); }
  bool string(json::string_t& v) {
    record_->TextCopy(v);
    return true;
  }
  bool binary(json::binary_t&) { return Other(); }
  bool start_object(std::size_t) {
    record_->StartObject();
    return true;
  }
  bool key(json::string_t& k) {
    record_->Key(k);
    return true;
  }
  bool end_object() {
    record_->End();
    return true;
  }
  bool start_array(std::size_t) {
    record_->StartArray();
    return true;
  }
  bool end_array() {
    record_->End();
    return true;
  }
  bool parse_error(std::size_t, const std::string&, const json::exception& ex) {
    error_ = ex.what();
    return false;
  }

  // nlohmann's message without its "[json.exception.parse_error.101] " tag. It quotes the
  // offending bytes, hence Printable.
  std::string error() const {
    std::string_view m = error_;
    if (!m.empty() && m.front() == '[') {
      size_t close = m.find("] ");
      if (close != std::string_view::npos) m.remove_prefix(close + 2);
    }
    return Printable(m, 200);
  }

 private:
  bool Other() {
    record_->Other();
    return true;
  }
  BenchRecord* record_;
  std::string error_;
};

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil). Linear in
// day, so "Feb 31" lands where timegm normalises it.
int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

struct Scratch {
  BenchRecord record;
  std::string text;
};

}  // namespace

bool ParseBenchTimestamp(std::string_view s, int64_t* unix_ns) {
  // 0123456789012345678901234567
  // YYYY-MM-DDTHH:MM:SS.ffffffZ
  if (s.size() == 27 && s[4] == '-' && s[7] == '-' && s[10] == 'T' && s[13] == ':' &&
      s[16] == ':' && s[19] == '.' && s[26] == 'Z') {
    bool digits = true;
    auto num = [&](size_t pos, size_t n) {
      int64_t v = 0;
      for (size_t i = pos; i < pos + n; ++i) {
        if (s[i] < '0' || s[i] > '9') digits = false;
        v = v * 10 + (s[i] - '0');
      }
      return v;
    };
    const int64_t year = num(0, 4), mon = num(5, 2), day = num(8, 2);
    const int64_t hour = num(11, 2), min = num(14, 2), sec = num(17, 2), micros = num(20, 6);
    // The ranges ParseTimeSpec accepts; outside them it decides (and refuses).
    if (digits && mon >= 1 && mon <= 12 && day >= 1 && day <= 31 && hour <= 23 && min <= 59 &&
        sec <= 60 && year >= 1678 && year <= 2261) {
      const int64_t days =
          DaysFromCivil(year, static_cast<unsigned>(mon), static_cast<unsigned>(day));
      *unix_ns = ((days * 24 + hour) * 60 + min) * 60 * 1'000'000'000 + sec * 1'000'000'000 +
                 micros * 1'000;
      return true;
    }
  }
  return ParseTimeSpec(s, 0, unix_ns);
}

Status ParseBenchLine(std::string_view line, v1::Event* event, BenchScanner scanner) {
  try {
    event->Clear();
    // Per thread, so field buffers keep their capacity from line to line.
    thread_local Scratch scratch;
    BenchRecord& record = scratch.record;
    record.Reset();
    bool scanned = false;
    if (scanner == BenchScanner::kFastThenNlohmann) {
      scanned = FastScanner(line, &record, &scratch.text).ScanLine();
      if (!scanned) record.Reset();
    }
    if (!scanned) {
      NlohmannEvents events(&record);
      if (!json::sax_parse(line.data(), line.data() + line.size(), &events,
                           json::input_format_t::json, /*strict=*/true,
                           /*ignore_comments=*/false)) {
        return InvalidArgumentError("not a JSON object: " + events.error());
      }
    }
    if (!record.top_is_object()) return InvalidArgumentError("not a JSON object");
    return record.Build(event);
  } catch (const std::bad_alloc&) {
    return ResourceExhaustedError("bench line: out of memory");
  } catch (const std::exception& ex) {
    return InvalidArgumentError(std::string("bench line: ") + ex.what());
  }
}

}  // namespace replay_internal

Status ReplaySource::ParseBenchLine(std::string_view line, v1::Event* event) {
  return replay_internal::ParseBenchLine(line, event,
                                         replay_internal::BenchScanner::kFastThenNlohmann);
}

}  // namespace custos::agent
