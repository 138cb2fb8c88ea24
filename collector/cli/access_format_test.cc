// The access commands' renderers (collector/cli/access_format.h) on hostile and malformed API
// JSON, and the hidden terminal prompt (collector/cli/password_prompt.h) on a pseudo-terminal.
#include "collector/cli/access_format.h"

#include <fcntl.h>
#include <termios.h>
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <sstream>
#include <thread>

#include "collector/cli/password_prompt.h"

namespace custos::collector::cli {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;

TEST(CsvFieldTest, QuotesPerRfc4180) {
  EXPECT_EQ(CsvField(""), "");
  EXPECT_EQ(CsvField("plain text"), "plain text");
  EXPECT_EQ(CsvField("a,b"), "\"a,b\"");
  EXPECT_EQ(CsvField("say \"hi\""), "\"say \"\"hi\"\"\"");
  EXPECT_EQ(CsvField("two\nlines"), "\"two\nlines\"");
  EXPECT_EQ(CsvField("cr\rhere"), "\"cr\rhere\"");
}

TEST(CsvFieldTest, NeutralisesWhatASpreadsheetWouldRunAsAFormula) {
  EXPECT_EQ(CsvField("=1+1"), "'=1+1");
  EXPECT_EQ(CsvField("+1"), "'+1");
  EXPECT_EQ(CsvField("-2h"), "'-2h");
  EXPECT_EQ(CsvField("@SUM(A1)"), "'@SUM(A1)");
  EXPECT_EQ(CsvField("\tx"), "'\tx");
  EXPECT_EQ(CsvField("\rx"), "\"'\rx\"");
  EXPECT_EQ(CsvField("=HYPERLINK(\"http://x\",\"y\")"),
            "\"'=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\"");
  EXPECT_EQ(CsvField("a=b"), "a=b");
  EXPECT_EQ(CsvField("'quoted"), "'quoted");
}

TEST(AuditCsvTest, HeaderAloneForNoEntriesAndNothingThrowsOnOddJson) {
  std::ostringstream none;
  WriteAuditCsv(json::array(), none);
  EXPECT_EQ(none.str(), "seq,time,actor,action,object,summary,source,hash\r\n");
  std::ostringstream odd;
  WriteAuditCsv(json::parse(R"([null, 7, {"seq":"x","actor":["a"],"summary":"\u202eevil"}])"), odd);
  EXPECT_EQ(odd.str(),
            "seq,time,actor,action,object,summary,source,hash\r\n,,,,,,,\r\n,,,,,,,\r\n"
            "x,,,,,\\u202eevil,,\r\n");
}

TEST(AccessTablesTest, AcceptAnyJsonAndEscapeEverything) {
  for (const char* text :
       {"null", "7", "[]", "[null, 1, \"x\"]", R"([{"id":["x"],"roles":"admin"}])",
        R"([{"username":"\u001b[31mred","roles":[1,"admin"],"disabled":"no"}])"}) {
    json j = json::parse(text);
    std::ostringstream out;
    WriteAccountTable(j, 60, out);
    WriteTokenTable(j, 60, out);
    WriteRevealTable(j, 60, out);
    WriteAuditTable(j, 60, out);
    EXPECT_EQ(out.str().find('\x1b'), std::string::npos) << text;
  }
  EXPECT_EQ(JoinRoles(json::parse(R"(["admin",1,"auditor"])")), "admin,auditor");
  EXPECT_EQ(JoinRoles(json::array()), "-");
  EXPECT_EQ(JoinRoles("viewer"), "viewer");
}

// A pseudo-terminal whose master side plays the person at the keyboard.
class Pty {
 public:
  Pty() {
    master_ = ::posix_openpt(O_RDWR | O_NOCTTY);
    if (master_ < 0 || ::grantpt(master_) != 0 || ::unlockpt(master_) != 0) return;
    slave_ = ::open(::ptsname(master_), O_RDWR | O_NOCTTY);
  }
  ~Pty() {
    if (slave_ >= 0) ::close(slave_);
    if (master_ >= 0) ::close(master_);
  }
  bool ok() const { return master_ >= 0 && slave_ >= 0; }
  int master() const { return master_; }
  int slave() const { return slave_; }
  bool Echoes() const {
    struct termios t {};
    return ::tcgetattr(slave_, &t) == 0 && (t.c_lflag & ECHO) != 0;
  }

 private:
  int master_ = -1;
  int slave_ = -1;
};

TEST(ReadHiddenLineTest, ReadsALineWithEchoOffAndRestoresTheTerminal) {
  Pty pty;
  ASSERT_TRUE(pty.ok()) << "posix_openpt: no pseudo-terminal (Linux provides /dev/ptmx)";
  ASSERT_TRUE(pty.Echoes());
  // Types once echo is off (TCSAFLUSH would discard anything typed before).
  std::thread typist([&] {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (pty.Echoes() && std::chrono::steady_clock::now() < deadline) std::this_thread::yield();
    ASSERT_EQ(::write(pty.master(), "hunter2\n", 8), 8);
  });
  std::ostringstream prompt;
  auto line = ReadHiddenLine(pty.slave(), prompt, "Password: ");
  typist.join();
  ASSERT_TRUE(line.ok()) << line.status().ToString();
  EXPECT_EQ(*line, "hunter2");
  EXPECT_EQ(prompt.str(), "Password: \n");
  EXPECT_TRUE(pty.Echoes());
  // Nothing was echoed back to the "screen".
  ASSERT_EQ(::fcntl(pty.master(), F_SETFL, O_NONBLOCK), 0);
  char buf[64];
  EXPECT_LT(::read(pty.master(), buf, sizeof buf), 1);
}

TEST(ReadHiddenLineTest, RefusesWhatIsNotATerminal) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  std::ostringstream prompt;
  auto line = ReadHiddenLine(fds[0], prompt, "Password: ");
  EXPECT_EQ(line.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(prompt.str(), "");
  ::close(fds[0]);
  ::close(fds[1]);
}

}  // namespace
}  // namespace custos::collector::cli
