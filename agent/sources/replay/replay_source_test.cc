// ReplaySource: the bench-ndjson parser (every corpus type, field by field; equal to the former
// DOM parser on generated corpora and on odd and broken lines; its fast path equal to its
// nlohmann fallback), the custos-jsonl round trip, and the replay thread (bad lines skipped,
// counted and named in Health(), back-pressure, Stop).
#include "agent/sources/replay/replay_source.h"

#include <google/protobuf/text_format.h>
#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/message_differencer.h>
#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <map>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "agent/sources/replay/bench_ndjson.h"
#include "agent/sources/replay/replay_testing.h"
#include "common/testing/testing.h"
#include "common/time/clock.h"

namespace custos::agent {
namespace {

namespace v1 = custos::v1;
using google::protobuf::util::MessageDifferencer;
using replay_internal::BenchScanner;
using replay_testing::BenchCorpusOptions;
using replay_testing::GenerateBenchCorpus;
using replay_testing::ParseBenchLineDom;

v1::Event FromTextProto(const std::string& text) {
  v1::Event e;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &e)) << text;
  return e;
}

// Field by field, with the differing fields named.
::testing::AssertionResult SameEvent(const v1::Event& expected, const v1::Event& actual) {
  MessageDifferencer differencer;
  std::string diff;
  differencer.ReportDifferencesToString(&diff);
  if (differencer.Compare(expected, actual)) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << diff;
}

std::string Printable(std::string_view bytes) {
  std::string out;
  for (char c : bytes) {
    const auto u = static_cast<unsigned char>(c);
    if (u >= 0x20 && u < 0x7F) {
      out.push_back(c);
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", u);
      out += buf;
    }
  }
  return out.size() > 300 ? out.substr(0, 300) + "..." : out;
}

// The errors whose text changed: syntax errors now say what is wrong, unknown types are quoted
// printable and bounded.
bool SameKindOfError(const Status& a, const Status& b) {
  for (const char* prefix : {"not a JSON object", "unknown type '"}) {
    if (a.message().rfind(prefix, 0) == 0 && b.message().rfind(prefix, 0) == 0) return true;
  }
  return a.message() == b.message();
}

// The new parser against its own nlohmann fallback (identical status and event) and against
// the former DOM parser (same verdict, same event; syntax-error and unknown-type texts may
// differ, see SameKindOfError).
::testing::AssertionResult MatchesReferences(std::string_view line) {
  v1::Event fast, sax, dom;
  const Status fast_status = ReplaySource::ParseBenchLine(line, &fast);
  const Status sax_status =
      replay_internal::ParseBenchLine(line, &sax, BenchScanner::kNlohmannOnly);
  const Status dom_status = ParseBenchLineDom(line, &dom);
  auto fail = [&] {
    return ::testing::AssertionFailure()
           << "line: " << Printable(line) << "\n  fast: " << fast_status.ToString()
           << "\n  sax:  " << sax_status.ToString() << "\n  dom:  " << dom_status.ToString()
           << "\n";
  };
  if (fast_status.code() != sax_status.code() || fast_status.message() != sax_status.message()) {
    return fail() << "fast path and nlohmann path disagree";
  }
  if (fast_status.ok() != dom_status.ok()) return fail() << "verdict differs from the DOM parser";
  if (fast_status.ok()) {
    if (auto r = SameEvent(sax, fast); !r) return fail() << "fast vs sax: " << r.message();
    if (auto r = SameEvent(dom, fast); !r) return fail() << "fast vs dom: " << r.message();
  } else {
    if (fast_status.code() != StatusCode::kInvalidArgument) return fail() << "not InvalidArgument";
    if (!SameKindOfError(fast_status, dom_status)) {
      return fail() << "error differs from the DOM parser";
    }
  }
  return ::testing::AssertionSuccess();
}

// "file.FILE_OP_RENAME", "usb.USB_ACTION_ADDED", "process", ...: one per corpus type.
std::string PayloadKind(const v1::Event& e) {
  switch (e.payload_case()) {
    case v1::Event::kFile:
      return "file." + v1::FileOp_Name(e.file().op());
    case v1::Event::kUsb:
      return "usb." + v1::UsbAction_Name(e.usb().action());
    case v1::Event::kProcess:
      return "process";
    case v1::Event::kNetwork:
      return "network";
    case v1::Event::kSetting:
      return "setting";
    default:
      return "other";
  }
}

// ---- Every corpus type, field by field. ----

struct TypeCase {
  const char* type;
  const char* line;
  const char* expected;  // text proto
};

// Real gen_events.py lines (-n 100000 --hosts 500 --seed 11), one per type; the expected events
// are written out from the mapping (ReplaySource::ParseBenchLine's contract), not from the code.
const TypeCase kTypeCases[] = {
    {"file.create",
     R"json({"ts":"2024-05-06T12:53:20.628360Z","seq":41,"host":"WS-SAL-0111",)json"
     R"json("type":"file.create","user":"CORP\\jdoe53","proc":{"pid":21295,)json"
     R"json("exe":"C:\\Program Files\\Microsoft Office\\root\\Office16\\WINWORD.EXE"},)json"
     R"json("file":{"path":"C:\\Users\\jdoe53\\Documents\\Source\\customer.tmp","size":5565,)json"
     R"json("sha256":"8a718a688d6a0ecf743dccf012abfe0bafd2a15d13624d9312a60c71806cb1a8"}})json",
     R"pb(time_ns: 1715000000628360000
          host: "WS-SAL-0111"
          actor {
            pid: 21295
            login_user: "CORP\\jdoe53"
            user_name: "CORP\\jdoe53"
            executable: "C:\\Program Files\\Microsoft Office\\root\\Office16\\WINWORD.EXE"
          }
          file {
            op: FILE_OP_CREATE
            path: "C:\\Users\\jdoe53\\Documents\\Source\\customer.tmp"
            size: 5565
            sha256: "\x8a\x71\x8a\x68\x8d\x6a\x0e\xcf\x74\x3d\xcc\xf0\x12\xab\xfe\x0b"
                    "\xaf\xd2\xa1\x5d\x13\x62\x4d\x93\x12\xa6\x0c\x71\x80\x6c\xb1\xa8"
          })pb"},
    {"file.modify",
     R"json({"ts":"2024-05-06T12:53:20.402283Z","seq":60,"host":"lnx-dev-182",)json"
     R"json("type":"file.modify","user":"rgarcia8","proc":{"pid":21576,"exe":"/usr/bin/cp"},)json"
     R"json("file":{"path":"/home/pnovak5/tmp/backup.pdf","size":5197,)json"
     R"json("sha256":"1f4bc1d5f670f962a9acbe84ebb97c5035eca75fa59b9f2b369a67117235ec78"}})json",
     R"pb(time_ns: 1715000000402283000
          host: "lnx-dev-182"
          actor {
            pid: 21576
            login_user: "rgarcia8"
            user_name: "rgarcia8"
            executable: "/usr/bin/cp"
          }
          file {
            op: FILE_OP_MODIFY
            path: "/home/pnovak5/tmp/backup.pdf"
            size: 5197
            sha256: "\x1f\x4b\xc1\xd5\xf6\x70\xf9\x62\xa9\xac\xbe\x84\xeb\xb9\x7c\x50"
                    "\x35\xec\xa7\x5f\xa5\x9b\x9f\x2b\x36\x9a\x67\x11\x72\x35\xec\x78"
          })pb"},
    {"file.delete",
     R"json({"ts":"2024-05-06T12:53:20.896114Z","seq":1,"host":"WS-OPS-0353",)json"
     R"json("type":"file.delete","user":"CORP\\pnovak29","proc":{"pid":3586,)json"
     R"json("exe":"C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe"},)json"
     R"json("file":{"path":"C:\\Users\\mkovacs99\\OneD)json"
     R"json(rive - Corp\\Shared\\Release\\q3_passwords)json"
     R"json(.csv"}})json",
     R"pb(time_ns: 1715000000896114000
          host: "WS-OPS-0353"
          actor {
            pid: 3586
            login_user: "CORP\\pnovak29"
            user_name: "CORP\\pnovak29"
            executable: "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe"
          }
          file {
            op: FILE_OP_DELETE
            path: "C:\\Users\\mkovacs99\\OneDrive - Corp\\Shared\\Release\\q3_passwords.csv"
          })pb"},
    {"file.read",
     R"json({"ts":"2024-05-06T12:53:20.725203Z","seq":17,)json"
     R"json("host":"lnx-ds-468","type":"file.read",)json"
     R"json("user":"lchen13","proc":{"pid":15537,"exe":"/usr/bin/python3.11"},)json"
     R"json("file":{"path":"/home/lchen13/projects/list/plan_v2.xlsx"}})json",
     R"pb(time_ns: 1715000000725203000
          host: "lnx-ds-468"
          actor {
            pid: 15537
            login_user: "lchen13"
            user_name: "lchen13"
            executable: "/usr/bin/python3.11"
          }
          file { op: FILE_OP_READ path: "/home/lchen13/projects/list/plan_v2.xlsx" })pb"},
    {"file.rename",
     R"json({"ts":"2024-05-06T12:53:20.072833Z","seq":11,"host":"WS-FIN-0398",)json"
     R"json("type":"file.rename","user":"CORP\\tnguyen42","proc":{"pid":8322,)json"
     R"json("exe":"C:\\Windows\\explorer.exe"},)json"
     R"json("file":{"path":"C:\\Users\\tnguyen42\\OneD)json"
     R"json(rive - Corp\\Shared\\contract_data_roadmap)json"
     R"json(.pptx","new_path":"C:\\Users\\tnguyen42\\Desktop\\passwords_budget_q3.docx"}})json",
     R"pb(time_ns: 1715000000072833000
          host: "WS-FIN-0398"
          actor {
            pid: 8322
            login_user: "CORP\\tnguyen42"
            user_name: "CORP\\tnguyen42"
            executable: "C:\\Windows\\explorer.exe"
          }
          file {
            op: FILE_OP_RENAME
            path: "C:\\Users\\tnguyen42\\Desktop\\passwords_budget_q3.docx"
            old_path: "C:\\Users\\tnguyen42\\OneDrive - Corp\\Shared\\contract_data_roadmap.pptx"
          })pb"},
    {"file.copy_to_removable",
     R"json({"ts":"2024-05-06T12:53:20.509271Z","seq":65,"host":"WS-LEG-0186",)json"
     R"json("type":"file.copy_to_removable","user":"CORP\\kmueller64","proc":{"pid":17277,)json"
     R"json("exe":"C:\\Program Files\\Microsoft Office\\root\\Office16\\EXCEL.EXE"},)json"
     R"json("file":{"path":"C:\\Users\\kmueller64\\Documents\\budget.docx","size":21668,)json"
     R"json("sha256":"f6faa57b5121dcfc5db2e2eff3515e1aabe2178ec2d8d35a31fb0c57969c01dc"},)json"
     R"json("dst":"E:\\budget.docx"})json",
     R"pb(time_ns: 1715000000509271000
          host: "WS-LEG-0186"
          actor {
            pid: 17277
            login_user: "CORP\\kmueller64"
            user_name: "CORP\\kmueller64"
            executable: "C:\\Program Files\\Microsoft Office\\root\\Office16\\EXCEL.EXE"
          }
          file {
            op: FILE_OP_COPY_TO_REMOVABLE
            path: "E:\\budget.docx"
            source_path: "C:\\Users\\kmueller64\\Documents\\budget.docx"
            size: 21668
            sha256: "\xf6\xfa\xa5\x7b\x51\x21\xdc\xfc\x5d\xb2\xe2\xef\xf3\x51\x5e\x1a"
                    "\xab\xe2\x17\x8e\xc2\xd8\xd3\x5a\x31\xfb\x0c\x57\x96\x9c\x01\xdc"
          })pb"},
    {"proc.start",
     R"json({"ts":"2024-05-06T12:53:20.585843Z","seq":46,"host":"WS-FIN-0029",)json"
     R"json("type":"proc.start","user":"CORP\\pnovak5","proc":{"pid":4849,"ppid":31792,)json"
     R"json("exe":"C:\\Program Files\\Microsoft Office\\root\\Office16\\WINWORD.EXE",)json"
     R"json("sha256":"fc61e2d6106f8e95a6f438050390c1b42e8785e8fa4b8e3c77caa6e5b7de9b25",)json"
     R"json("cmd":"WINWORD.EXE /s"}})json",
     R"pb(time_ns: 1715000000585843000
          host: "WS-FIN-0029"
          actor {
            pid: 4849
            login_user: "CORP\\pnovak5"
            user_name: "CORP\\pnovak5"
            executable: "C:\\Program Files\\Microsoft Office\\root\\Office16\\WINWORD.EXE"
            command_line: "WINWORD.EXE /s"
            ppid: 31792
          }
          process {
            action: PROCESS_ACTION_START
            sha256: "\xfc\x61\xe2\xd6\x10\x6f\x8e\x95\xa6\xf4\x38\x05\x03\x90\xc1\xb4"
                    "\x2e\x87\x85\xe8\xfa\x4b\x8e\x3c\x77\xca\xa6\xe5\xb7\xde\x9b\x25"
          })pb"},
    {"usb.attach",
     R"json({"ts":"2024-05-06T12:53:20.088668Z","seq":50,"host":"WS-LEG-0488",)json"
     R"json("type":"usb.attach","user":"CORP\\tnguyen86",)json"
     R"json("sid":"S-1-5-21-3731166539-3659993040-3818233842-9972","usb":{"vid":"0781",)json"
     R"json("pid":"5581","vendor":"SanDisk","product":"Ultra","serial":"948670AD76F7D858F0E1",)json"
     R"json("class":"mass_storage","mount":"E:"}})json",
     R"pb(time_ns: 1715000000088668000
          host: "WS-LEG-0488"
          actor { login_user: "CORP\\tnguyen86" user_name: "CORP\\tnguyen86" }
          usb {
            action: USB_ACTION_ADDED
            vendor_id: 0x0781
            product_id: 0x5581
            serial: "948670AD76F7D858F0E1"
            manufacturer: "SanDisk"
            product: "Ultra"
            interface_classes: 8
            fingerprint: "0781:5581:948670AD76F7D858F0E1"
            mount_point: "E:"
          })pb"},
    {"usb.detach",
     R"json({"ts":"2024-05-06T12:53:20.453592Z","seq":267,"host":"lnx-build-261",)json"
     R"json("type":"usb.detach","user":"svc_backup47","usb":{"vid":"0781","pid":"5581",)json"
     R"json("vendor":"SanDisk","product":"Ultra","serial":"BCFA50F0E82FF6D2530A",)json"
     R"json("class":"mass_storage"}})json",
     R"pb(time_ns: 1715000000453592000
          host: "lnx-build-261"
          actor { login_user: "svc_backup47" user_name: "svc_backup47" }
          usb {
            action: USB_ACTION_REMOVED
            vendor_id: 0x0781
            product_id: 0x5581
            serial: "BCFA50F0E82FF6D2530A"
            manufacturer: "SanDisk"
            product: "Ultra"
            interface_classes: 8
            fingerprint: "0781:5581:BCFA50F0E82FF6D2530A"
          })pb"},
    {"net.upload",
     R"json({"ts":"2024-05-06T12:53:20.477540Z","seq":39,"host":"WS-OPS-0237",)json"
     R"json("type":"net.upload","user":"CORP\\tnguyen76","proc":{"pid":21475,)json"
     R"json("exe":"C:\\Program Files\\Microsoft OneDrive\\OneDrive.exe"},)json"
     R"json("file":{"path":"C:\\Users\\tnguyen76\\AppData\\Local\\Temp\\offer_audit_v9.c"},)json"
     R"json("dst":"drive.google.com"})json",
     R"pb(time_ns: 1715000000477540000
          host: "WS-OPS-0237"
          actor {
            pid: 21475
            login_user: "CORP\\tnguyen76"
            user_name: "CORP\\tnguyen76"
            executable: "C:\\Program Files\\Microsoft OneDrive\\OneDrive.exe"
          }
          network {
            action: NETWORK_ACTION_UPLOAD
            destination: "drive.google.com"
            path: "C:\\Users\\tnguyen76\\AppData\\Local\\Temp\\offer_audit_v9.c"
          })pb"},
    {"security.setting_change",
     R"json({"ts":"2024-05-06T12:53:20.853255Z","seq":28,"host":"WS-OPS-0391",)json"
     R"json("type":"security.setting_change","user":"CORP\\lchen52",)json"
     R"json("sid":"S-1-5-21-2345940203-1244273249-3345339322-6274",)json"
     R"json("setting":{"name":"audit.policy.object_access","old":"success,failure",)json"
     R"json("new":"none"},"proc":{"pid":6050,)json"
     R"json("exe":"C:\\Program Files\\Google\\Chrome\\Application\\chrome.exe"}})json",
     R"pb(time_ns: 1715000000853255000
          host: "WS-OPS-0391"
          actor {
            pid: 6050
            login_user: "CORP\\lchen52"
            user_name: "CORP\\lchen52"
            executable: "C:\\Program Files\\Google\\Chrome\\Application\\chrome.exe"
          }
          setting {
            area: "audit"
            key: "audit.policy.object_access"
            old_value: "success,failure"
            new_value: "none"
            observed_by: OBSERVED_BY_PROBE
          })pb"},
};

class MapsCorpusType : public ::testing::TestWithParam<TypeCase> {};

TEST_P(MapsCorpusType, FieldByField) {
  const TypeCase& c = GetParam();
  v1::Event event;
  ASSERT_TRUE(ReplaySource::ParseBenchLine(c.line, &event).ok());
  EXPECT_TRUE(SameEvent(FromTextProto(c.expected), event));
  EXPECT_TRUE(MatchesReferences(c.line));
}

INSTANTIATE_TEST_SUITE_P(ParseBenchLineTest, MapsCorpusType, ::testing::ValuesIn(kTypeCases),
                         [](const ::testing::TestParamInfo<TypeCase>& info) {
                           std::string name = info.param.type;
                           for (char& ch : name) {
                             if (ch == '.') ch = '_';
                           }
                           return name;
                         });

TEST(ParseBenchLineTest, TypeMayComeAfterTheMembersItSelects) {
  v1::Event event;
  ASSERT_TRUE(ReplaySource::ParseBenchLine(
                  R"({"file":{"new_path":"/b","path":"/a"},"dst":"/media/x","user":"u",)"
                  R"("ts":"2024-05-06T12:53:20.000001Z","type":"file.rename"})",
                  &event)
                  .ok());
  EXPECT_TRUE(
      SameEvent(FromTextProto(R"pb(time_ns: 1715000000000001000
                                   actor { login_user: "u" user_name: "u" }
                                   file { op: FILE_OP_RENAME path: "/b" old_path: "/a" })pb"),
                event));
  ASSERT_TRUE(ReplaySource::ParseBenchLine(
                  R"({"dst":"E:\\a.txt","file":{"path":"C:\\a.txt","size":7},"proc":{"exe":"x"},)"
                  R"("type":"file.copy_to_removable","ts":"2024-05-06T12:53:20.000001Z"})",
                  &event)
                  .ok());
  EXPECT_TRUE(SameEvent(FromTextProto(R"pb(time_ns: 1715000000000001000
                                           actor { executable: "x" }
                                           file {
                                             op: FILE_OP_COPY_TO_REMOVABLE
                                             path: "E:\\a.txt"
                                             source_path: "C:\\a.txt"
                                             size: 7
                                           })pb"),
                        event));
}

TEST(ParseBenchLineTest, EqualsDomParserOnGeneratedCorpus) {
  for (bool shuffle : {false, true}) {
    BenchCorpusOptions options;
    options.lines = 20000;
    options.seed = shuffle ? 12 : 11;
    options.shuffle_keys = shuffle;
    const std::vector<std::string> corpus = GenerateBenchCorpus(options);
    ASSERT_EQ(corpus.size(), 20000u);
    std::map<std::string, int> types;
    v1::Event fast, dom;
    for (const std::string& line : corpus) {
      const Status fast_status = ReplaySource::ParseBenchLine(line, &fast);
      ASSERT_TRUE(fast_status.ok()) << fast_status.ToString() << " for " << line;
      ASSERT_TRUE(ParseBenchLineDom(line, &dom).ok()) << line;
      ASSERT_TRUE(MessageDifferencer::Equals(dom, fast)) << line;
      ++types[PayloadKind(fast)];
    }
    // Every type of the mix is there, so every mapping was compared.
    EXPECT_EQ(types.size(), 11u) << "shuffle=" << shuffle;
  }
}

constexpr char kGoodLine[] =
    R"({"ts":"2024-05-06T12:53:20.628360Z","host":"h","type":"file.create","user":"u",)"
    R"("proc":{"pid":1,"exe":"e"},"file":{"path":"p","size":5}})";

// Lines that parse, but off the generator's beaten path: the former parser's reading of each is
// the contract.
TEST(ParseBenchLineTest, OddButValidLinesMapAsTheDomParserDid) {
  const std::string ts = R"("ts":"2024-05-06T12:53:20.628360Z")";
  auto line = [&](const std::string& members) { return "{" + ts + "," + members + "}"; };
  const std::vector<std::string> lines = {
      kGoodLine,
      // Layout: white space everywhere, a BOM, a NUL ending the text (nlohmann stops there).
      " \t{ \"ts\" : \"2024-05-06T12:53:20.628360Z\" ,\r\n \"type\" : \"file.read\" } \r",
      "\xEF\xBB\xBF" + line(R"("type":"file.read")"),
      std::string(kGoodLine) + std::string("\0trailing junk", 14),
      // Text: \u escapes (surrogate pairs too), raw UTF-8 of 2, 3 and 4 bytes, simple escapes.
      line(R"("type":"file.read","host":"\u00e9t\u00e9","user":"\ud83d\ude00",)"
           R"("file":{"path":"\u0000x"})"),
      line("\"type\":\"file.read\",\"host\":\"h\xC3\xA9te\",\"user\":\"\xE6\x97\xA5\xE6\x9C\xAC\","
           "\"file\":{\"path\":\"\xF0\x9F\x98\x80/\xEF\xBF\xBD\"}"),
      line(R"("type":"file.read","file":{"path":"a\/b\\c\"d\be\ff\ng\rh\ti"}})"),
      line(R"("type":"file.read","file":{"path":"C:\\Users\\x\\"}})"),
      R"({"t\u0073":"2024-05-06T12:53:20.628360Z","typ\u0065":"file.read",)"
      R"("fil\u0065":{"p\u0061th":"q"}})",
      // Numbers: negative, fractions, exponents, beyond uint32 and uint64, -0, the largest uint64.
      line(R"("type":"file.create","proc":{"pid":-5,"ppid":1.5},"file":{"size":1e3}})"),
      line(R"("type":"file.create","proc":{"pid":4294967297,"ppid":-0},"file":{"size":0}})"),
      line(R"("type":"file.create","file":{"size":18446744073709551615}})"),
      line(R"("type":"file.create","file":{"size":18446744073709551616}})"),
      line(R"("type":"file.create","file":{"size":99999999999999999999999999999}})"),
      line(R"("type":"file.create","file":{"size":-9223372036854775809}})"),
      line(R"("type":"file.create","file":{"size":1234567890123456789}})"),
      // Wrong types read as absent: "" or 0.
      line(R"("type":"file.create","file":{"path":"p","size":"big"}})"),
      line(R"("type":"file.create","host":5,"user":null,"file":{"path":true,"sha256":7}})"),
      line(R"("type":"file.create","host":{"a":"b"},"user":["u"],"file":{"path":{"p":1}}})"),
      line(R"("type":"file.create","proc":"x","file":null})"),
      line(R"("type":"file.create","proc":[{"pid":1}],"file":[{"path":"p"}]})"),
      line(R"("type":"usb.attach","usb":"x"})"),
      line(R"("type":"security.setting_change","setting":[]})"),
      line(R"("type":5})"),
      // Duplicate keys: the last wins, a nested object as a whole.
      line(R"("type":"file.read","host":"a","host":"b","file":{"path":"p","path":"q"}})"),
      line(R"("type":"file.read","proc":{"pid":1,"exe":"a"},"proc":{"ppid":2}})"),
      line(R"("type":"file.read","proc":{"pid":1,"exe":"a"},"proc":5})"),
      line(R"("type":"file.read","proc":5,"proc":{"pid":3}})"),
      line(R"("type":"file.read","type":"usb.attach","usb":{"vid":"1"}})"),
      line(R"("type":"file.read","file":{"path":"p"},"file":{"size":3}})"),
      line(R"("type":"file.read","host":"h","host":null})"),
      // Deeper members and unknown keys are ignored, however deep.
      line(R"("type":"file.read","file":{"path":"p","x":{"path":"q"},"y":[{"path":"r"}]}})"),
      line(R"("type":"file.read","extra":{"path":"z","proc":{"pid":9}},"ts2":"x","sid":"S"})"),
      line(R"("type":"file.read","file":{"path":"p","ts":"bad"}})"),
      line(R"("type":"file.read","extra":)" + std::string(40, '[') + std::string(40, ']') + "}"),
      line(R"("type":"file.read","extra":)" + std::string(5000, '[') + std::string(5000, ']') +
           "}"),
      line(R"("file":{"path":"p","deep":)" + std::string(30, '[') + "{\"size\":1}" +
           std::string(30, ']') + R"(},"type":"file.read"})"),
      // Literals and empty containers.
      line(R"("type":"file.read","a":true,"b":false,"c":null,"d":{},"e":[],"file":{}})"),
      // Hex: upper case, odd length, not hex, and the pairs sscanf("%2x") read its own way.
      line(R"("type":"file.create","file":{"sha256":"ABCDEF0123456789abcdef"}})"),
      line(R"("type":"file.create","file":{"sha256":"abc"}})"),
      line(R"("type":"file.create","file":{"sha256":"zz00"}})"),
      line(R"("type":"file.create","file":{"sha256":" f00"}})"),
      line(R"("type":"file.create","file":{"sha256":"+f-1"}})"),
      line(R"("type":"file.create","file":{"sha256":"0x00"}})"),
      line(R"("type":"file.create","file":{"sha256":"00\u00000"}})"),
      line(R"("type":"file.create","file":{"sha256":"0\t\n\u000b\f\r 0 1"}})"),
      line(R"("type":"file.create","file":{"sha256":")" + std::string(3000, ' ') + "ff\"}}"),
      line(R"("type":"file.create","file":{"sha256":")" + std::string(3000, ' ') + "\"}}"),
      line(R"("type":"file.create","file":{"sha256":")" + std::string(20000, 'a') + "\"}}"),
      line(R"("type":"proc.start","proc":{"sha256":"0A0b"}})"),
      line(R"("type":"proc.start"})"),
      // USB ids and classes.
      line(R"("type":"usb.attach","usb":{"vid":"0x781","pid":" 781","class":"hid"}})"),
      line(R"("type":"usb.attach","usb":{"vid":"781zz","pid":"123456789","class":"phone"}})"),
      line(R"("type":"usb.attach","usb":{"vid":"-1","pid":"","class":"network"}})"),
      line(R"("type":"usb.detach","usb":{"vid":"ffffffff",)"
           R"("pid":"FFFFFFFFFFFFFFFFFFFF","class":"printer"}})"),
      line(R"("type":"usb.detach","usb":{"vid":"zz","class":"imaging","serial":"s"}})"),
      line(R"("type":"usb.detach","usb":{"class":"wireless"}})"),
      line(R"("type":"usb.detach","usb":{"class":"mtp","mount":"/m"}})"),
      line(R"("type":"usb.detach","usb":{"class":"toaster"}})"),
      // Settings without a dot, or starting with one.
      line(R"("type":"security.setting_change","setting":{"name":"uac","old":"1","new":"0"}})"),
      line(R"("type":"security.setting_change","setting":{"name":".x.y"}})"),
      line(R"("type":"net.upload","dst":"d","file":{"path":"p"}})"),
      line(R"("type":"net.upload"})"),
      // Time stamps in every shape ParseTimeSpec reads, and normalised dates.
      R"({"ts":"2024-05-06T12:53:20Z","type":"file.read"})",
      R"({"ts":"2024-05-06","type":"file.read"})",
      R"({"ts":"2024-05-06 12:53:20","type":"file.read"})",
      R"({"ts":"2024-05-06T12:53","type":"file.read"})",
      R"({"ts":"-15m","type":"file.read"})",
      R"({"ts":"2024-02-31T00:00:00.000000Z","type":"file.read"})",
      R"({"ts":"2023-12-31T23:59:60.999999Z","type":"file.read"})",
      R"({"ts":"1678-01-01T00:00:00.000000Z","type":"file.read"})",
      R"({"ts":"1969-12-31T23:59:59.999999Z","type":"file.read"})",
      R"({"ts":"2261-12-31T23:59:59.999999Z","type":"file.read"})",
      R"({"ts":"2024-05-06T12:53:20.123456789123Z","type":"file.read"})",
      R"({"ts":"2024-05-06T12:53:20.5+02:00","type":"file.read"})",
      R"({"ts":"2024-05-06t12:53:20.000000z","type":"file.read"})",
  };
  for (const std::string& l : lines) EXPECT_TRUE(MatchesReferences(l));
}

TEST(ParseBenchLineTest, WrongTypedMembersReadAsAbsentAsBefore) {
  // The former parser's contract, kept: a member of the wrong type is not an error, it is absent.
  v1::Event event;
  ASSERT_TRUE(ReplaySource::ParseBenchLine(
                  R"({"ts":"2024-05-06T12:53:20.000000Z","type":"file.create","host":7,)"
                  R"("proc":{"pid":-3,"ppid":2.5,"exe":"e"},"file":{"path":"p","size":"big",)"
                  R"("sha256":"xyz"}})",
                  &event)
                  .ok());
  EXPECT_TRUE(SameEvent(FromTextProto(R"pb(time_ns: 1715000000000000000
                                           actor { executable: "e" }
                                           file { op: FILE_OP_CREATE path: "p" })pb"),
                        event));
  // Beyond uint64: nlohmann reads a double, which reads as 0.
  ASSERT_TRUE(
      ReplaySource::ParseBenchLine(R"({"ts":"2024-05-06T12:53:20.000000Z","type":"file.create",)"
                                   R"("file":{"size":18446744073709551616}})",
                                   &event)
          .ok());
  EXPECT_EQ(event.file().size(), 0u);
  ASSERT_TRUE(
      ReplaySource::ParseBenchLine(R"({"ts":"2024-05-06T12:53:20.000000Z","type":"file.create",)"
                                   R"("file":{"size":18446744073709551615}})",
                                   &event)
          .ok());
  EXPECT_EQ(event.file().size(), 18446744073709551615u);
}

TEST(ParseBenchLineTest, HexQuirksReadAsSscanfReadThem) {
  // Every 4-character digest and USB id over characters sscanf("%x") treats specially.
  const char* const kTokens[] = {"0", "f", "F", "g", "x", "+", "-", " ", "\\t", "\\u000b"};
  for (const char* a : kTokens) {
    for (const char* b : kTokens) {
      for (const char* c : kTokens) {
        for (const char* d : kTokens) {
          const std::string text = std::string(a) + b + c + d;
          const std::string ts = R"({"ts":"2024-05-06T12:53:20.000000Z",)";
          ASSERT_TRUE(
              MatchesReferences(ts + R"("type":"file.create","file":{"sha256":")" + text + "\"}}"));
          ASSERT_TRUE(MatchesReferences(ts + R"("type":"usb.attach","usb":{"vid":")" + text +
                                        R"(","pid":")" + text.substr(2) + "\"}}"));
        }
      }
    }
  }
}

TEST(ParseBenchLineTest, LongDigestsTakeLinearTime) {
  // sscanf runs strlen on the rest of the text for every pair, so the former parser took minutes
  // on a multi-megabyte digest; each case here is a few milliseconds.
  const std::string head = R"({"ts":"2024-05-06T12:53:20.000000Z","type":"file.create","file":)";
  const std::vector<std::pair<std::string, size_t>> cases = {
      {head + R"({"sha256":")" + std::string(4'000'000, 'a') + "\"}}", 2'000'000},
      {head + R"({"sha256":")" + std::string(400'000, ' ') + "0f\"}}", 200'001},
  };
  std::string f_pairs;
  for (int i = 0; i < 100'000; ++i) f_pairs += " f";
  const auto start = std::chrono::steady_clock::now();
  for (const auto& [line, digest_bytes] : cases) {
    v1::Event event;
    ASSERT_TRUE(ReplaySource::ParseBenchLine(line, &event).ok());
    EXPECT_EQ(event.file().sha256().size(), digest_bytes);
  }
  v1::Event event;
  ASSERT_TRUE(
      ReplaySource::ParseBenchLine(head + R"({"sha256":")" + f_pairs + "\"}}", &event).ok());
  EXPECT_EQ(event.file().sha256(), std::string(100'000, '\x0f'));
  // Generous: quadratic work here would take minutes.
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
}

struct BadLine {
  std::string line;
  std::string message;  // a substring of the error
};

TEST(ParseBenchLineTest, RefusesMalformedLinesWithAClearError) {
  const std::string good = kGoodLine;
  const std::vector<BadLine> bad = {
      {"", "not a JSON object: "},
      {"   ", "not a JSON object: "},
      {good.substr(0, good.size() / 2), "not a JSON object: "},
      {good.substr(0, good.size() - 1), "unexpected end of input"},
      {"[1,2]", "not a JSON object"},
      {"5", "not a JSON object"},
      {"\"text\"", "not a JSON object"},
      {"null", "not a JSON object"},
      {"{", "not a JSON object: "},
      {R"({"ts":)", "not a JSON object: "},
      {R"({"ts" "x"})", "not a JSON object: "},
      {R"({'ts':'x'})", "not a JSON object: "},
      {R"({"ts":"x",})", "not a JSON object: "},
      {R"({"a":[1,]})", "not a JSON object: "},
      {R"({"a":01})", "not a JSON object: "},
      {R"({"a":tru})", "not a JSON object: "},
      {R"({"a":NaN})", "not a JSON object: "},
      {R"({"a":1} /* c */)", "not a JSON object: "},
      {good + "x", "not a JSON object: "},
      {good + good, "not a JSON object: "},
      {good + "\n" + good, "not a JSON object: "},
      // Invalid UTF-8: a stray byte, an overlong form, a UTF-16 surrogate, a cut sequence, in a
      // value and in a key; a lone surrogate escape; raw control characters.
      {"{\"ts\":\"\xFF\"}", "not a JSON object: "},
      {"{\"ts\":\"\xC0\xAF\"}", "invalid string: ill-formed UTF-8 byte"},
      {"{\"ts\":\"\xED\xA0\x80\"}", "not a JSON object: "},
      {"{\"ts\":\"\xE6\x97\"}", "not a JSON object: "},
      {"{\"\xF5\x80\x80\x80\":1}", "not a JSON object: "},
      {R"({"ts":"\ud800"})", "surrogate"},
      {R"({"ts":"\x41"})", "not a JSON object: "},
      {"{\"ts\":\"a\tb\"}", "control character"},
      {std::string("{\"ts\":\"a\0b\"}", 11), "not a JSON object: "},
      // Numbers beyond double.
      {R"({"ts":"2024-05-06T12:53:20.000000Z","type":"file.create","file":{"size":1e400}})",
       "number overflow"},
      {R"({"ts":"2024-05-06T12:53:20.000000Z","file":{"size":)" + std::string(400, '9') + "}}",
       "number overflow"},
      // Time stamps.
      {R"({"type":"file.read"})", "bad or missing ts"},
      {R"({"ts":5,"type":"file.read"})", "bad or missing ts"},
      {R"({"ts":"","type":"file.read"})", "bad or missing ts"},
      {R"({"ts":"yesterday","type":"file.read"})", "bad or missing ts"},
      {R"({"ts":"2024-13-06T12:53:20.000000Z","type":"file.read"})", "bad or missing ts"},
      {R"({"ts":"2024-05-06T24:00:00.000000Z","type":"file.read"})", "bad or missing ts"},
      {R"({"ts":"1677-05-06T12:53:20.000000Z","type":"file.read"})", "bad or missing ts"},
      {R"({"ts":"2024-05-06T12:53:20.00000xZ","type":"file.read"})", "bad or missing ts"},
      {R"({"ts":"2024-05-06T12:53:20.000000Q","type":"file.read"})", "bad or missing ts"},
      {R"({"file":{"ts":"2024-05-06T12:53:20.000000Z"},"type":"file.read"})", "bad or missing ts"},
      // Types.
      {R"({"ts":"2024-05-06T12:53:20.000000Z"})", "unknown type ''"},
      {R"({"ts":"2024-05-06T12:53:20.000000Z","type":"file.bogus"})", "unknown type 'file.bogus'"},
      {R"({"ts":"2024-05-06T12:53:20.000000Z","type":"FILE.CREATE"})",
       "unknown type 'FILE.CREATE'"},
      {R"({"ts":"2024-05-06T12:53:20.000000Z","type":"usb"})", "unknown type 'usb'"},
      {R"({"ts":"2024-05-06T12:53:20.000000Z","type":"file."})", "unknown type 'file.'"},
      // The type is quoted printable and bounded: it goes to logs and health events.
      {R"({"ts":"2024-05-06T12:53:20.000000Z","type":"a\nb\u001b[31m\u00e9"})",
       "unknown type 'a?b?[31m?"
       "?'"},
      {R"({"ts":"2024-05-06T12:53:20.000000Z","type":")" + std::string(100000, 'x') + "\"}",
       "unknown type '" + std::string(64, 'x') + "...'"},
  };
  for (const BadLine& b : bad) {
    v1::Event event;
    const Status s = ReplaySource::ParseBenchLine(b.line, &event);
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << Printable(b.line) << ": " << s.ToString();
    EXPECT_NE(s.message().find(b.message), std::string::npos)
        << Printable(b.line) << ": " << s.ToString() << " lacks '" << b.message << "'";
    // Printable ASCII only: the message goes to logs and health events as it is.
    for (char c : s.message()) {
      EXPECT_TRUE(c >= 0x20 && c < 0x7F) << Printable(b.line) << ": " << Printable(s.message());
    }
    EXPECT_TRUE(MatchesReferences(b.line));
  }
}

TEST(ParseBenchLineTest, SurvivesRandomDamageToRealLines) {
  // A cheap stand-in for the fuzzer on every ctest run: cut, flip and splice corpus lines.
  BenchCorpusOptions options;
  options.lines = 2000;
  const std::vector<std::string> corpus = GenerateBenchCorpus(options);
  std::mt19937_64 rng(7);
  for (size_t i = 0; i < corpus.size(); ++i) {
    std::string line = corpus[i];
    switch (i % 4) {
      case 0:
        line.resize(rng() % line.size());
        break;
      case 1:
        line[rng() % line.size()] = static_cast<char>(rng());
        break;
      case 2:
        line.insert(rng() % line.size(), corpus[(i + 1) % corpus.size()].substr(0, rng() % 40));
        break;
      default:
        line.erase(rng() % line.size(), 1 + rng() % 8);
        break;
    }
    ASSERT_TRUE(MatchesReferences(line));
  }
}

// ---- The time stamp fast path. ----

TEST(ParseBenchTimestampTest, EqualsParseTimeSpec) {
  auto check = [](const std::string& ts) {
    int64_t fast = 0, reference = 0;
    const bool fast_ok = replay_internal::ParseBenchTimestamp(ts, &fast);
    const bool reference_ok = ParseTimeSpec(ts, 0, &reference);
    ASSERT_EQ(fast_ok, reference_ok) << ts;
    if (fast_ok) {
      ASSERT_EQ(fast, reference) << ts;
    }
  };
  char buf[64];
  // Every day of 1678..2261 at a varying time of day, plus days 29-31 of every month (timegm
  // normalises "Feb 31"), and leap seconds.
  std::mt19937_64 rng(3);
  for (int year = 1678; year <= 2261; ++year) {
    for (int mon = 1; mon <= 12; ++mon) {
      for (int day = 1; day <= 31; ++day) {
        std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ", year, mon, day,
                      static_cast<int>(rng() % 24), static_cast<int>(rng() % 60),
                      static_cast<int>(rng() % 61), static_cast<int>(rng() % 1000000));
        check(buf);
      }
    }
  }
  for (const char* ts : {"1970-01-01T00:00:00.000000Z",
                         "1969-12-31T23:59:59.999999Z",
                         "2000-02-29T12:00:00.000000Z",
                         "1900-02-29T12:00:00.000000Z",
                         "2024-05-06T12:53:20.628360Z",
                         "2024-00-06T12:53:20.628360Z",
                         "2024-05-00T12:53:20.628360Z",
                         "2024-05-32T12:53:20.628360Z",
                         "2024-05-06T12:60:20.628360Z",
                         "2024-05-06T12:53:61.628360Z",
                         "1677-12-31T23:59:59.999999Z",
                         "2262-01-01T00:00:00.000000Z",
                         "2024-05-06T12:53:20.62836xZ",
                         "2024-05-06 12:53:20.628360Z",
                         "2024-05-06T12:53:20.628360z",
                         "+024-05-06T12:53:20.628360Z",
                         "2024-05-06T12:53:20Z",
                         "2024-05-06",
                         "-15m",
                         "",
                         "x"}) {
    check(ts);
  }
}

// ---- custos-jsonl. ----

TEST(ParseCustosJsonLineTest, RoundTripsEveryPayload) {
  std::vector<v1::Event> events;
  for (const TypeCase& c : kTypeCases) events.push_back(FromTextProto(c.expected));
  events.push_back(
      FromTextProto(R"pb(time_ns: -5
                         host: "h\u00e9"
                         evidence { evidence_id: "e1" sha256: "\x00\xff" size: 3 })pb"));
  events.push_back(FromTextProto(R"pb(health {
                                        component: "source.file"
                                        level: HEALTH_LEVEL_DEGRADED
                                        message: "m"
                                        facts { key: "a" value: "b" }
                                      })pb"));
  events.push_back(FromTextProto(R"pb(events_lost {
                                        source: "s"
                                        count: 3
                                        window_start_ns: 1
                                        window_end_ns: 2
                                        reason: "r"
                                      })pb"));
  events.push_back(FromTextProto(R"pb(gap {
                                        dropped_count: 1
                                        first_dropped_seq: 2
                                        last_dropped_seq: 3
                                        max_dropped_priority: 4
                                      })pb"));
  events.push_back(FromTextProto(R"pb(process { action: PROCESS_ACTION_EXIT exit_code: -1 })pb"));
  events.push_back(FromTextProto(R"pb(network { bytes: 18446744073709551615 })pb"));
  events.push_back(v1::Event());
  BenchCorpusOptions options;
  options.lines = 2000;
  for (const std::string& line : GenerateBenchCorpus(options)) {
    v1::Event e;
    ASSERT_TRUE(ReplaySource::ParseBenchLine(line, &e).ok());
    events.push_back(std::move(e));
  }
  for (const v1::Event& original : events) {
    std::string json;
    ASSERT_TRUE(google::protobuf::util::MessageToJsonString(original, &json).ok());
    v1::Event parsed;
    const Status s = ReplaySource::ParseCustosJsonLine(json, &parsed);
    ASSERT_TRUE(s.ok()) << s.ToString() << " for " << json;
    ASSERT_TRUE(SameEvent(original, parsed)) << json;
  }
}

TEST(ParseCustosJsonLineTest, DropsSessionFields) {
  v1::Event e;
  ASSERT_TRUE(ReplaySource::ParseCustosJsonLine(
                  R"({"agentId":"a","streamEpoch":"3","seq":"9","host":"h"})", &e)
                  .ok());
  EXPECT_TRUE(SameEvent(FromTextProto(R"pb(host: "h")pb"), e));
}

TEST(ParseCustosJsonLineTest, RefusesBadLines) {
  for (const std::string line :
       {"", "{", "[]", R"({"host":5})", R"({"nosuchfield":1})", R"({"timeNs":"soon"})",
        R"({"file":{"op":"FILE_OP_NOPE"}})", "{\"host\":\"\xFF\"}", R"({"host":"h"} x)"}) {
    v1::Event e;
    const Status s = ReplaySource::ParseCustosJsonLine(line, &e);
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << Printable(line) << ": " << s.ToString();
  }
}

// ---- The replay thread. ----

// Collects events. Can refuse the next N pushes, or be "full" until told otherwise (PushWait then
// waits up to its timeout, as the pipeline's ring does).
class FakeSink final : public EventSink {
 public:
  bool Push(v1::Event&& event) override { return PushWait(std::move(event), {}); }
  bool PushWait(v1::Event&& event, std::chrono::milliseconds timeout) override {
    std::unique_lock<std::mutex> lock(mu_);
    ++attempts_;
    if (refuse_next_ > 0) {
      --refuse_next_;
      return false;
    }
    if (!room_.wait_for(lock, timeout, [this] { return !full_; })) return false;
    events_.push_back(std::move(event));
    return true;
  }
  void RefuseNext(int n) {
    std::lock_guard<std::mutex> lock(mu_);
    refuse_next_ = n;
  }
  void SetFull(bool full) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      full_ = full;
    }
    room_.notify_all();
  }
  std::vector<v1::Event> events() const {
    std::lock_guard<std::mutex> lock(mu_);
    return events_;
  }
  int attempts() const {
    std::lock_guard<std::mutex> lock(mu_);
    return attempts_;
  }

 private:
  mutable std::mutex mu_;
  std::condition_variable room_;
  std::vector<v1::Event> events_;
  int refuse_next_ = 0;
  int attempts_ = 0;
  bool full_ = false;
};

// finished() has nothing to wait on, so poll it, with a deadline.
bool WaitUntilFinished(const ReplaySource& source,
                       std::chrono::milliseconds deadline = std::chrono::seconds(30)) {
  const auto until = std::chrono::steady_clock::now() + deadline;
  while (!source.finished()) {
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

TEST(ReplaySourceTest, ReplaysBenchFileSkippingCountingAndNamingBadLines) {
  testing::TempDir dir;
  const std::string path = dir.Sub("events.ndjson");
  const std::vector<std::string> lines = {
      kTypeCases[0].line,                                               // 1
      "",                                                               // 2: empty, not counted
      R"({"ts":"2024-05-06T12:53:20.000000Z","ty)",                     // 3: truncated
      kTypeCases[1].line,                                               // 4
      R"({"ts":"2024-05-06T12:53:20.000000Z","type":"file.explode"})",  // 5
      "{\"ts\":\"\xFF\"}",                                              // 6: invalid UTF-8
      R"({"type":"file.read"})",                                        // 7: no ts
      std::string(kTypeCases[2].line) + "\r",                           // 8: CRLF
      kTypeCases[3].line,                                               // 9, no newline at the end
  };
  std::string content;
  for (size_t i = 0; i < lines.size(); ++i)
    content += lines[i] + (i + 1 < lines.size() ? "\n" : "");
  ASSERT_TRUE(testing::WriteFile(path, content).ok());

  FakeSink sink;
  ReplaySource source({path, ReplayOptions::Format::kBenchNdjson, false});
  ASSERT_TRUE(source.Start(&sink).ok());
  ASSERT_TRUE(WaitUntilFinished(source));
  source.Stop();

  const std::vector<v1::Event> events = sink.events();
  ASSERT_EQ(events.size(), 4u);
  for (int i = 0; i < 4; ++i) {
    EXPECT_TRUE(SameEvent(FromTextProto(kTypeCases[i].expected), events[i])) << i;
  }
  const SourceHealth health = source.Health();
  EXPECT_EQ(health.mechanism, "replay");
  EXPECT_EQ(health.events, 4u);
  EXPECT_EQ(health.lost, 4u);
  EXPECT_EQ(health.level, v1::HEALTH_LEVEL_DEGRADED);
  EXPECT_EQ(
      health.message.rfind("4 line(s) skipped; first: " + path + ":3: not a JSON object: ", 0), 0u)
      << health.message;
}

TEST(ReplaySourceTest, ReplaysCustosJsonl) {
  testing::TempDir dir;
  const std::string path = dir.Sub("events.jsonl");
  std::string content;
  std::vector<v1::Event> expected;
  for (const TypeCase& c : kTypeCases) {
    expected.push_back(FromTextProto(c.expected));
    std::string json;
    ASSERT_TRUE(google::protobuf::util::MessageToJsonString(expected.back(), &json).ok());
    content += json + "\n";
  }
  content += "{\"nosuchfield\":1}\n";
  ASSERT_TRUE(testing::WriteFile(path, content).ok());

  FakeSink sink;
  ReplaySource source({path, ReplayOptions::Format::kCustosJsonl, false});
  ASSERT_TRUE(source.Start(&sink).ok());
  ASSERT_TRUE(WaitUntilFinished(source));
  source.Stop();
  const std::vector<v1::Event> events = sink.events();
  ASSERT_EQ(events.size(), expected.size());
  for (size_t i = 0; i < events.size(); ++i) EXPECT_TRUE(SameEvent(expected[i], events[i])) << i;
  const SourceHealth health = source.Health();
  EXPECT_EQ(health.lost, 1u);
  EXPECT_NE(health.message.find(path + ":12: "), std::string::npos) << health.message;
}

TEST(ReplaySourceTest, HealthyWhenEveryLineParses) {
  testing::TempDir dir;
  const std::string path = dir.Sub("events.ndjson");
  BenchCorpusOptions options;
  options.lines = 5000;
  std::string content;
  for (const std::string& line : GenerateBenchCorpus(options)) content += line + "\n";
  ASSERT_TRUE(testing::WriteFile(path, content).ok());

  FakeSink sink;
  ReplaySource source({path, ReplayOptions::Format::kBenchNdjson, false});
  ASSERT_TRUE(source.Start(&sink).ok());
  ASSERT_TRUE(WaitUntilFinished(source));
  source.Stop();
  EXPECT_EQ(sink.events().size(), 5000u);
  const SourceHealth health = source.Health();
  EXPECT_EQ(health.level, v1::HEALTH_LEVEL_OK);
  EXPECT_EQ(health.events, 5000u);
  EXPECT_EQ(health.lost, 0u);
  EXPECT_EQ(health.message, "");
}

TEST(ReplaySourceTest, WaitsForRoomInsteadOfDropping) {
  testing::TempDir dir;
  const std::string path = dir.Sub("events.ndjson");
  std::string content;
  for (const TypeCase& c : kTypeCases) content += std::string(c.line) + "\n";
  ASSERT_TRUE(testing::WriteFile(path, content).ok());

  FakeSink sink;
  sink.RefuseNext(5);
  ReplaySource source({path, ReplayOptions::Format::kBenchNdjson, false});
  ASSERT_TRUE(source.Start(&sink).ok());
  ASSERT_TRUE(WaitUntilFinished(source));
  source.Stop();
  const std::vector<v1::Event> events = sink.events();
  ASSERT_EQ(events.size(), std::size(kTypeCases));
  for (size_t i = 0; i < events.size(); ++i) {
    EXPECT_TRUE(SameEvent(FromTextProto(kTypeCases[i].expected), events[i])) << i;
  }
  EXPECT_EQ(sink.attempts(), static_cast<int>(std::size(kTypeCases)) + 5);
  EXPECT_EQ(source.Health().lost, 0u);
}

TEST(ReplaySourceTest, StopEndsAReplayBlockedOnAFullSink) {
  testing::TempDir dir;
  const std::string path = dir.Sub("events.ndjson");
  ASSERT_TRUE(testing::WriteFile(path, std::string(kTypeCases[0].line) + "\n").ok());
  FakeSink sink;
  sink.SetFull(true);
  ReplaySource source({path, ReplayOptions::Format::kBenchNdjson, false});
  ASSERT_TRUE(source.Start(&sink).ok());
  // The reader is waiting for room: it has tried at least once and is not finished.
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (sink.attempts() == 0 && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ASSERT_GT(sink.attempts(), 0);
  EXPECT_FALSE(source.finished());
  source.Stop();
  EXPECT_TRUE(source.finished());
  EXPECT_TRUE(sink.events().empty());
  EXPECT_EQ(source.Health().events, 0u);
}

TEST(ReplaySourceTest, RestampsTimeWhenAsked) {
  testing::TempDir dir;
  const std::string path = dir.Sub("events.ndjson");
  ASSERT_TRUE(testing::WriteFile(path, std::string(kTypeCases[0].line) + "\n").ok());
  FakeSink sink;
  ReplaySource source({path, ReplayOptions::Format::kBenchNdjson, /*restamp_time=*/true});
  const int64_t before = RealClock()->NowUnixNs();
  ASSERT_TRUE(source.Start(&sink).ok());
  ASSERT_TRUE(WaitUntilFinished(source));
  source.Stop();
  const int64_t after = RealClock()->NowUnixNs();
  ASSERT_EQ(sink.events().size(), 1u);
  EXPECT_GE(sink.events()[0].time_ns(), before);
  EXPECT_LE(sink.events()[0].time_ns(), after);
}

TEST(ReplaySourceTest, StartFailsForAMissingFile) {
  testing::TempDir dir;
  FakeSink sink;
  ReplaySource source({dir.Sub("nope.ndjson"), ReplayOptions::Format::kBenchNdjson, false});
  const Status s = source.Start(&sink);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("replay: open " + dir.Sub("nope.ndjson")), std::string::npos)
      << s.ToString();
}

TEST(ReplaySourceTest, ParsesFormatNames) {
  EXPECT_EQ(*ParseReplayFormat("custos-jsonl"), ReplayOptions::Format::kCustosJsonl);
  EXPECT_EQ(*ParseReplayFormat("bench-ndjson"), ReplayOptions::Format::kBenchNdjson);
  EXPECT_EQ(ParseReplayFormat("csv").status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace custos::agent
