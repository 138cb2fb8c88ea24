// Process-level tests of `custos events` against a real custos-collector: `init`, then events put
// in its store the way the collector writes them (RegisterAgent + CommitBatches of serialized
// custos.v1.Events), then `run` on loopback port 0 with the API on port 0; the `custos` binary
// runs as a subprocess with the CA and admin token `init` wrote and reads the events through
// GET /api/v1/events.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <sstream>

#include "collector/cli/testing/suite_collector.h"
#include "collector/store/sqlite/sqlite_store.h"
#include "common/testing/testing.h"
#include "custos/v1/event.pb.h"

namespace custos::collector {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

constexpr int64_t kSecond = 1'000'000'000;
constexpr int64_t kMinute = 60 * kSecond;
constexpr int64_t kT0 = 1'795'255'200 * kSecond;  // 2026-11-21T10:00:00Z

store::EventType TypeOf(const v1::Event& e) { return events::TypeOf(e); }

// A batch as ingest's batch decoder would hand it to the store: the agent's serialized events,
// rows pointing into the buffer, the login user (else the process user) as the event's user.
store::BatchWrite MakeBatch(int64_t agent_key, uint64_t first_seq,
                            const std::vector<v1::Event>& events) {
  store::BatchWrite b;
  b.agent_key = agent_key;
  b.epoch = 1;
  b.first_seq = first_seq;
  std::vector<std::pair<size_t, size_t>> spans;
  for (const v1::Event& e : events) {
    std::string bytes = e.SerializeAsString();
    spans.emplace_back(b.buffer.size(), bytes.size());
    b.buffer += bytes;
  }
  for (size_t i = 0; i < events.size(); ++i) {
    const v1::Event& e = events[i];
    store::EventRow row;
    row.time_ns = e.time_ns();
    row.type = TypeOf(e);
    row.payload = std::string_view(b.buffer).substr(spans[i].first, spans[i].second);
    const std::string& user =
        e.actor().login_user().empty() ? e.actor().user_name() : e.actor().login_user();
    if (!user.empty()) {
      auto it = std::find(b.users.begin(), b.users.end(), user);
      if (it == b.users.end()) it = b.users.insert(b.users.end(), user);
      row.user_index = static_cast<int32_t>(it - b.users.begin());
    }
    b.rows.push_back(row);
  }
  return b;
}

v1::Event File(int64_t t, v1::FileOp op, const std::string& path, const std::string& user) {
  v1::Event e;
  e.set_time_ns(t);
  e.set_host("ignored");
  e.mutable_actor()->set_pid(4242);
  e.mutable_actor()->set_executable("/usr/bin/cp");
  e.mutable_actor()->set_login_user(user);
  e.mutable_actor()->set_user_name(user);
  e.mutable_file()->set_op(op);
  e.mutable_file()->set_path(path);
  e.mutable_file()->set_size(1'200'000);
  return e;
}

v1::Event Usb(int64_t t, const std::string& user) {
  v1::Event e;
  e.set_time_ns(t);
  e.mutable_actor()->set_login_user(user);
  auto* u = e.mutable_usb();
  u->set_action(v1::USB_ACTION_ADDED);
  u->set_manufacturer("SanDisk");
  u->set_product("Ultra");
  u->set_vendor_id(0x0781);
  u->set_product_id(0x5581);
  u->set_serial("4C530001230512115342");
  u->add_interface_classes(8);
  return e;
}

v1::Event Setting(int64_t t, const std::string& user) {
  v1::Event e;
  e.set_time_ns(t);
  e.mutable_actor()->set_pid(777);
  e.mutable_actor()->set_executable("/usr/bin/vim.basic");
  e.mutable_actor()->set_login_user(user);
  e.mutable_actor()->set_user_name("root");
  auto* s = e.mutable_setting();
  s->set_area("sshd");
  s->set_key("/etc/ssh/sshd_config");
  s->set_old_value("PermitRootLogin no");
  s->set_new_value("PermitRootLogin yes");
  s->set_observed_by(v1::OBSERVED_BY_WATCH);
  return e;
}

v1::Event Health(int64_t t) {
  v1::Event e;
  e.set_time_ns(t);
  e.mutable_health()->set_component("source.file");
  e.mutable_health()->set_level(v1::HEALTH_LEVEL_DEGRADED);
  e.mutable_health()->set_message("fanotify unavailable, using inotify");
  return e;
}

// A loopback port nothing listens on: bound, then closed.
uint16_t ClosedLoopbackPort() {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  EXPECT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  EXPECT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len), 0);
  close(fd);
  return ntohs(a.sin_port);
}

store::AgentRecord Agent(const std::string& id, const std::string& hostname) {
  store::AgentRecord a;
  a.agent_id = id;
  a.hostname = hostname;
  a.enrolled_at_ns = kT0 - 3600 * kSecond;
  return a;
}

// One collector for the whole suite: `init`, the events written into its store while it is
// stopped, then `run`.
class CustosCliTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto started = cli::cli_testing::SuiteCollector::Start(
        [](const std::string& data_dir) { SeedEvents(data_dir); });
    ASSERT_TRUE(started.ok()) << started.status().ToString();
    collector_ = started->release();
    // This suite checks how names and paths are rendered: identities shown (one test below
    // checks the default, pseudonyms).
    ASSERT_TRUE(ShowIdentities(false).ok());
  }
  static Status ShowIdentities(bool hide) { return collector_->ShowIdentities(hide); }
  static void TearDownTestSuite() {
    if (collector_ != nullptr) {
      EXPECT_EQ(collector_->Stop(), 0) << collector_->Stderr();
    }
    delete collector_;
    collector_ = nullptr;
  }

  static void SeedEvents(const std::string& data_dir) {
    auto opened = store::OpenSqliteStore({.path = data_dir + "/custos.db"});
    ASSERT_TRUE(opened.ok()) << opened.status().ToString();
    std::unique_ptr<store::Store> st = std::move(opened).value();
    auto a = st->RegisterAgent(Agent("agt_alice", "ws-alice"));
    auto b = st->RegisterAgent(Agent("agt_bob", "ws-bob"));
    ASSERT_TRUE(a.ok() && b.ok());
    store::BatchWrite from_alice = MakeBatch(
        a->key, 1,
        {File(kT0 + 1 * kMinute, v1::FILE_OP_MODIFY, "/home/alice/q3-forecast.xlsx", "alice"),
         Usb(kT0 + 2 * kMinute, "alice"),
         File(kT0 + 3 * kMinute, v1::FILE_OP_COPY_TO_REMOVABLE, "/media/alice/USB/q3.xlsx",
              "alice"),
         File(kT0 + 7 * kMinute, v1::FILE_OP_CREATE,
              "/home/alice/\x1b[2J\nfake row\xE2\x80\xAE" + std::string(5000, 'x'), "alice")});
    store::BatchWrite from_bob =
        MakeBatch(b->key, 1,
                  {File(kT0 + 4 * kMinute, v1::FILE_OP_DELETE, "/home/bob/notes.txt", "bob"),
                   Setting(kT0 + 5 * kMinute, "bob"), Health(kT0 + 6 * kMinute)});
    store::BatchWrite* both[] = {&from_alice, &from_bob};
    Status s = st->CommitBatches(both);
    ASSERT_TRUE(s.ok()) << s.ToString();
  }

  static std::string DataDir() { return collector_->data_dir(); }
  static std::string ApiUrl() { return collector_->api_url(); }

  // `columns` is $COLUMNS for the child; empty (ignored by custos) keeps tests independent of
  // the developer's shell, as does a clean CUSTOS_* environment.
  static testing::RunResult Custos(std::vector<std::string> args, std::string columns = "") {
    args.insert(args.begin(), testing::BinaryPath("custos"));
    return testing::Run(
        args, 60s,
        {{"COLUMNS", columns}, {"CUSTOS_API", ""}, {"CUSTOS_CA", ""}, {"CUSTOS_TOKEN", ""}});
  }
  // `custos events ARGS --data-dir DATA_DIR --api URL`.
  static testing::RunResult Events(std::vector<std::string> args, std::string columns = "") {
    args.insert(args.begin(), "events");
    args.insert(args.end(), {"--data-dir", DataDir(), "--api", ApiUrl()});
    return Custos(std::move(args), std::move(columns));
  }
  static std::vector<std::string> Lines(const std::string& text) {
    std::vector<std::string> lines;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    return lines;
  }

  static cli::cli_testing::SuiteCollector* collector_;
};
cli::cli_testing::SuiteCollector* CustosCliTest::collector_ = nullptr;

TEST_F(CustosCliTest, TableListsNewestFirstWithFooterOnStderr) {
  auto r = Events({});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::vector<std::string> lines = Lines(r.out);
  ASSERT_EQ(lines.size(), 8u) << r.out;
  EXPECT_THAT(lines[0], StartsWith("TIME"));
  EXPECT_THAT(lines[0], HasSubstr("HOST"));
  EXPECT_THAT(lines[0], HasSubstr("SUMMARY"));
  EXPECT_THAT(lines[1], StartsWith("2026-11-21T10:07:00.000Z  ws-alice"));  // the hostile one
  EXPECT_THAT(lines[2], StartsWith("2026-11-21T10:06:00.000Z  ws-bob    -"));
  EXPECT_THAT(lines[2], HasSubstr("source.file degraded: fanotify unavailable, using inotify"));
  // Piped output is 160 columns wide; this summary is longer and is cut.
  EXPECT_THAT(lines[3], HasSubstr("ws-bob    bob    setting  sshd /etc/ssh/sshd_config: "
                                  "PermitRootLogin no -> PermitRootLogin yes (watch) by "
                                  "/usr/bin/vim.basic [pid 777\u2026"));
  EXPECT_THAT(lines[6], HasSubstr("added SanDisk Ultra 0781:5581 serial 4C530001230512115342 "
                                  "(mass storage)"));
  EXPECT_THAT(lines[7], HasSubstr("ws-alice  alice  file     modify "
                                  "/home/alice/q3-forecast.xlsx (1.2 MB) by /usr/bin/cp "
                                  "[pid 4242]"));
  EXPECT_EQ(r.err, "7 events shown (newest first; --limit 50)\n");

  // $COLUMNS widens piped output.
  auto wide = Events({"--type", "setting"}, "250");
  ASSERT_EQ(wide.exit_code, 0) << wide.err;
  EXPECT_THAT(wide.out, HasSubstr("(watch) by /usr/bin/vim.basic [pid 777] as root\n"));
}

TEST_F(CustosCliTest, PeopleArePseudonymisedByDefault) {
  ASSERT_TRUE(ShowIdentities(true).ok());
  auto r = Events({"--type", "file"});
  ASSERT_TRUE(ShowIdentities(false).ok());
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, Not(HasSubstr("/home/alice/")));
  EXPECT_THAT(r.out, Not(HasSubstr("  alice  ")));
  EXPECT_THAT(r.out, HasSubstr("/home/Anon-"));
}

TEST_F(CustosCliTest, HostileContentStaysOnOneEscapedAndCutLine) {
  auto r = Events({"--limit", "1"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::vector<std::string> lines = Lines(r.out);
  ASSERT_EQ(lines.size(), 2u) << r.out;
  EXPECT_THAT(lines[1], HasSubstr("create /home/alice/\\x1b[2J\\nfake row\\u202exxx"));
  EXPECT_THAT(lines[1], Not(HasSubstr("\x1b")));
  // Piped output uses a fixed 160-column table; the 5000-character path is cut with "…".
  EXPECT_LT(lines[1].size(), 200u);
  EXPECT_EQ(lines[1].substr(lines[1].size() - 3), "\u2026");
  EXPECT_EQ(r.err, "1 event shown (newest first; --limit 1 reached, more may match)\n");
}

TEST_F(CustosCliTest, FiltersByUserTypeAgentAndTime) {
  auto by_user = Events({"--user", "bob"});
  ASSERT_EQ(by_user.exit_code, 0) << by_user.err;
  EXPECT_EQ(Lines(by_user.out).size(), 3u) << by_user.out;  // header, delete, setting
  EXPECT_THAT(by_user.out, Not(HasSubstr("alice")));
  EXPECT_THAT(by_user.out, Not(HasSubstr("source.file")));  // the health event names no user

  auto by_type = Events({"--type", "usb"});
  ASSERT_EQ(by_type.exit_code, 0) << by_type.err;
  ASSERT_EQ(Lines(by_type.out).size(), 2u) << by_type.out;
  EXPECT_THAT(Lines(by_type.out)[1], HasSubstr("usb "));

  auto by_agent = Events({"--agent", "agt_bob", "--type", "file"});
  ASSERT_EQ(by_agent.exit_code, 0) << by_agent.err;
  ASSERT_EQ(Lines(by_agent.out).size(), 2u) << by_agent.out;
  EXPECT_THAT(Lines(by_agent.out)[1], HasSubstr("delete /home/bob/notes.txt by /usr/bin/cp"));

  // --since inclusive, --until exclusive; a date and an offset time are accepted too.
  auto window = Events(
      {"--since", "2026-11-21T10:03:00Z", "--until=2026-11-21T11:05:00+01:00", "--oldest-first"});
  ASSERT_EQ(window.exit_code, 0) << window.err;
  std::vector<std::string> lines = Lines(window.out);
  ASSERT_EQ(lines.size(), 3u) << window.out;
  EXPECT_THAT(lines[1], StartsWith("2026-11-21T10:03:00.000Z"));
  EXPECT_THAT(lines[2], StartsWith("2026-11-21T10:04:00.000Z"));
  EXPECT_EQ(window.err, "2 events shown (oldest first; --limit 50)\n");

  auto day = Events({"--since", "2026-11-21", "--until", "2026-11-22", "--type", "setting"});
  EXPECT_EQ(Lines(day.out).size(), 2u) << day.out << day.err;

  auto relative = Events({"--since", "-2h"});  // the events are in 2026, after "now"
  EXPECT_EQ(relative.exit_code, 0) << relative.err;

  auto none = Events({"--user", "nobody"});
  EXPECT_EQ(none.exit_code, 0);
  EXPECT_EQ(none.out, "");
  EXPECT_EQ(none.err, "0 events shown (newest first; --limit 50)\n");
}

TEST_F(CustosCliTest, JsonAndJsonLinesParseBack) {
  auto r = Events({"--format", "json", "--user", "alice", "--oldest-first"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err, "");  // no footer: stdout is for machines
  nlohmann::json j = nlohmann::json::parse(r.out, nullptr, false);
  ASSERT_TRUE(j.is_array()) << r.out;
  ASSERT_EQ(j.size(), 4u);
  EXPECT_EQ(j[0]["agent_id"], "agt_alice");
  EXPECT_EQ(j[0]["hostname"], "ws-alice");
  EXPECT_EQ(j[0]["epoch"], 1);
  EXPECT_EQ(j[0]["seq"], 1);
  EXPECT_EQ(j[0]["time"], "2026-11-21T10:01:00.000Z");
  EXPECT_EQ(j[0]["time_ns"], kT0 + kMinute);
  EXPECT_EQ(j[0]["type"], "file");
  EXPECT_EQ(j[0]["user"], "alice");
  EXPECT_EQ(j[0]["event"]["file"]["path"], "/home/alice/q3-forecast.xlsx");
  EXPECT_EQ(j[0]["event"]["file"]["op"], "FILE_OP_MODIFY");
  EXPECT_EQ(j[0]["event"]["actor"]["login_user"], "alice");
  EXPECT_EQ(j[1]["event"]["usb"]["serial"], "4C530001230512115342");
  EXPECT_EQ(j[1]["event"]["usb"]["vendor_id"], 0x0781);
  // JSON keeps what the table cut: the whole hostile path, byte for byte.
  EXPECT_EQ(j[3]["event"]["file"]["path"],
            "/home/alice/\x1b[2J\nfake row\xE2\x80\xAE" + std::string(5000, 'x'));

  auto lines = Events({"--format", "jsonl", "--agent", "agt_bob"});
  ASSERT_EQ(lines.exit_code, 0) << lines.err;
  std::vector<std::string> objects = Lines(lines.out);
  ASSERT_EQ(objects.size(), 3u);
  for (const std::string& line : objects) {
    nlohmann::json o = nlohmann::json::parse(line, nullptr, false);
    ASSERT_TRUE(o.is_object()) << line;
    EXPECT_EQ(o["hostname"], "ws-bob");
  }
  EXPECT_TRUE(nlohmann::json::parse(objects[0])["user"].is_null());  // health: no user

  auto empty = Events({"--format", "json", "--user", "nobody"});
  EXPECT_EQ(empty.out, "[]\n");
}

TEST_F(CustosCliTest, UsageErrorsExitTwoWithAClearMessage) {
  auto unknown = Events({"--colour"});
  EXPECT_EQ(unknown.exit_code, 2);
  EXPECT_THAT(unknown.err, HasSubstr("unknown flag --colour"));
  EXPECT_THAT(unknown.err, HasSubstr("custos events --help"));
  EXPECT_EQ(unknown.out, "");

  auto since = Events({"--since", "yesterday"});
  EXPECT_EQ(since.exit_code, 2);
  EXPECT_THAT(since.err, HasSubstr("--since: expected RFC 3339 time like 2026-11-21T10:00:00Z, a "
                                   "date, or -15m/-2h/-7d (got 'yesterday')"));

  auto until = Events({"--until", "2026-13-01"});
  EXPECT_EQ(until.exit_code, 2);
  EXPECT_THAT(until.err, HasSubstr("--until: expected RFC 3339 time"));

  // Times int64 nanoseconds cannot hold are refused, not wrapped around.
  auto far = Events({"--since", "9999-01-01"});
  EXPECT_EQ(far.exit_code, 2);
  EXPECT_THAT(far.err, HasSubstr("--since: '9999-01-01' is outside the years 1678 to 2261"));
  auto ancient = Events({"--since", "-99999999d"});
  EXPECT_EQ(ancient.exit_code, 2);
  EXPECT_THAT(ancient.err, HasSubstr("--since: '-99999999d' is more than 100 years ago"));

  auto backwards = Events({"--since", "2026-11-22", "--until", "2026-11-21"});
  EXPECT_EQ(backwards.exit_code, 2);
  EXPECT_THAT(backwards.err, HasSubstr("is not before --until"));

  auto type = Events({"--type", "printer"});
  EXPECT_EQ(type.exit_code, 2);
  EXPECT_THAT(type.err,
              HasSubstr("--type: unknown event type 'printer' (valid: file, usb, "
                        "setting, evidence, health, events_lost, gap, process, network)"));

  // The API returns at most 10000 events a request.
  for (const char* limit : {"0", "10001", "ten"}) {
    auto r = Events({"--limit", limit});
    EXPECT_EQ(r.exit_code, 2) << limit;
    EXPECT_THAT(r.err, HasSubstr("--limit: expected an integer between 1 and 10000, got '" +
                                 std::string(limit) + "' (the API returns at most 10000"))
        << limit;
  }

  auto format = Events({"--format", "yaml"});
  EXPECT_EQ(format.exit_code, 2);
  EXPECT_THAT(format.err, HasSubstr("--format: expected table, json or jsonl, got 'yaml'"));

  auto command = Custos({"frobnicate"});
  EXPECT_EQ(command.exit_code, 2);
  EXPECT_THAT(command.err, HasSubstr("unknown command 'frobnicate'"));

  // Flags of the API commands do not apply to events.
  auto other = Events({"--severity", "high"});
  EXPECT_EQ(other.exit_code, 2);
  EXPECT_THAT(other.err, HasSubstr("--severity does not apply to 'custos events'"));

  auto nothing = Custos({});
  EXPECT_EQ(nothing.exit_code, 2);
  EXPECT_THAT(nothing.err, HasSubstr("custos events"));
}

TEST_F(CustosCliTest, NoCollectorOrNoTokenSaysWhatToCheckAndExitsOne) {
  const std::string closed = "https://127.0.0.1:" + std::to_string(ClosedLoopbackPort());
  auto r = Custos({"events", "--data-dir", DataDir(), "--api", closed});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("Connection refused"));
  EXPECT_THAT(r.err, HasSubstr("is custos-collector running, with its API on " + closed));
  EXPECT_EQ(r.out, "");

  testing::TempDir empty;
  auto no_token = Custos({"events", "--data-dir", empty.path(), "--api", ApiUrl()});
  EXPECT_EQ(no_token.exit_code, 1);
  EXPECT_THAT(no_token.err, HasSubstr("read token file: " + empty.Sub("admin.token") +
                                      ": No such file or directory (pass --token-file FILE or "
                                      "set CUSTOS_TOKEN)"));
  EXPECT_EQ(no_token.out, "");
}

// The data directory of --config (or /etc/custos/collector.yaml) is where the CA and the token
// are found; --data-dir wins over it.
TEST_F(CustosCliTest, ConfigFileDataDirIsUsedAndDataDirOverridesIt) {
  testing::TempDir conf;
  ASSERT_TRUE(testing::WriteFile(conf.Sub("collector.yaml"), "data_dir: " + DataDir() + "\n").ok());
  auto r = Custos(
      {"events", "--config", conf.Sub("collector.yaml"), "--type", "usb", "--api", ApiUrl()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(Lines(r.out).size(), 2u);

  auto overridden = Custos({"events", "--config", conf.Sub("collector.yaml"), "--data-dir",
                            conf.path(), "--api", ApiUrl()});
  EXPECT_EQ(overridden.exit_code, 1);
  EXPECT_THAT(overridden.err, HasSubstr("read token file: " + conf.path() + "/admin.token"));

  auto missing = Custos({"events", "--config", conf.Sub("nope.yaml"), "--api", ApiUrl()});
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_THAT(missing.err, HasSubstr("nope.yaml"));
}

// Events are read through the API, so its authentication applies: a token it does not know gets
// nothing. (Before, `custos events` opened the database file and bypassed it.)
TEST_F(CustosCliTest, ReadsThroughTheApiWithItsAuthentication) {
  testing::TempDir tokens;
  ASSERT_TRUE(testing::WriteFile(tokens.Sub("bad.token"), "cat_not_a_real_token\n").ok());
  auto refused = Events({"--token-file", tokens.Sub("bad.token")});
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_THAT(refused.err, HasSubstr("(HTTP 401)"));
  EXPECT_THAT(refused.err, HasSubstr("the token came from " + tokens.Sub("bad.token")));
  EXPECT_THAT(refused.err, Not(HasSubstr("cat_not_a_real_token")));
  EXPECT_EQ(refused.out, "");

  // The largest page the API gives.
  auto all = Events({"--format", "jsonl", "--limit", "10000"});
  ASSERT_EQ(all.exit_code, 0) << all.err;
  EXPECT_EQ(Lines(all.out).size(), 7u);
}

TEST_F(CustosCliTest, HelpAndVersion) {
  auto help = Custos({"--help"});
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_THAT(help.out, HasSubstr("custos events"));
  auto events_help = Custos({"events", "--help"});
  EXPECT_EQ(events_help.exit_code, 0);
  for (const char* flag : {"--since", "--until", "--agent", "--user", "--type", "--limit",
                           "--oldest-first", "--format", "--data-dir", "--config"}) {
    EXPECT_THAT(events_help.out, HasSubstr(flag));
  }
  auto version = Custos({"--version"});
  EXPECT_EQ(version.exit_code, 0);
  EXPECT_THAT(version.out, StartsWith("custos "));
}

}  // namespace
}  // namespace custos::collector
