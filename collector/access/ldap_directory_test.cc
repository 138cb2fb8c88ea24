// LdapDirectory against a real OpenLDAP server (collector/access/testing/slapd.h).
#include "collector/access/ldap_directory.h"

#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <ldap.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "collector/access/testing/slapd.h"

namespace custos::collector::access {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using testing::PickFreeLocalPort;
using testing::Slapd;
using ::testing::UnorderedElementsAre;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// As custos-collector does (the contract in ldap_directory.h asks for it).
class IgnoreSigpipe : public ::testing::Environment {
 public:
  void SetUp() override { std::signal(SIGPIPE, SIG_IGN); }
};
[[maybe_unused]] ::testing::Environment* const kIgnoreSigpipe =
    ::testing::AddGlobalTestEnvironment(new IgnoreSigpipe);

LdapOptions OptionsFor(const std::string& uri) {
  LdapOptions o;
  o.uri = uri;
  o.user_search_base = Slapd::kPeopleDn;
  o.bind_dn = Slapd::kServiceDn;
  o.bind_password = Slapd::kServicePassword;
  o.group_search_base = Slapd::kGroupsDn;
  o.group_roles = {
      // By DN, spelled differently from the directory: matched after normalisation.
      {"CN=Custos-Admins, OU=Groups,DC=example,DC=org", {Role::kAdmin}},
      // By cn.
      {"custos-analysts", {Role::kAnalyst, Role::kInvestigator}},
      {"custos-approvers", {Role::kApprover}},
  };
  return o;
}

std::unique_ptr<LdapDirectory> MustCreate(LdapOptions options) {
  Result<std::unique_ptr<LdapDirectory>> d = LdapDirectory::Create(std::move(options));
  EXPECT_TRUE(d.ok()) << d.status().ToString();
  return d.ok() ? std::move(d).value() : nullptr;
}

// A URI nothing listens on: connections are refused at once.
std::string DeadUri() { return "ldap://127.0.0.1:" + std::to_string(PickFreeLocalPort()); }

class LdapDirectoryTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    Result<std::unique_ptr<Slapd>> s = Slapd::Start();
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    slapd_ = std::move(s).value().release();
  }
  static void TearDownTestSuite() {
    delete slapd_;
    slapd_ = nullptr;
  }
  void SetUp() override { ASSERT_NE(slapd_, nullptr) << "slapd did not start"; }

  std::unique_ptr<LdapDirectory> Directory() { return MustCreate(OptionsFor(slapd_->uri())); }

  static Slapd* slapd_;
};
Slapd* LdapDirectoryTest::slapd_ = nullptr;

TEST_F(LdapDirectoryTest, SignsInWithThePasswordAndMapsGroupsToRoles) {
  auto dir = Directory();
  Result<LdapUser> alice = dir->Authenticate("alice", "alice-pw");
  ASSERT_TRUE(alice.ok()) << alice.status().ToString();
  EXPECT_EQ(alice->dn, "uid=alice,ou=people,dc=example,dc=org");
  EXPECT_EQ(alice->username, "alice");
  EXPECT_EQ(alice->display_name, "Alice L.");
  EXPECT_EQ(alice->email, "alice@example.org");
  EXPECT_THAT(alice->groups, UnorderedElementsAre("cn=custos-admins,ou=groups,dc=example,dc=org",
                                                  "cn=custos-analysts,ou=groups,dc=example,dc=org",
                                                  "cn=staff,ou=groups,dc=example,dc=org"));
  EXPECT_EQ(alice->roles, (RoleSet{Role::kAdmin, Role::kAnalyst, Role::kInvestigator}))
      << alice->roles.ToString();

  Result<LdapUser> bob = dir->Authenticate("bob", "bob-pw");
  ASSERT_TRUE(bob.ok()) << bob.status().ToString();
  EXPECT_EQ(bob->display_name, "Bob Builder");  // no displayName: cn
  EXPECT_EQ(bob->roles, (RoleSet{Role::kAnalyst, Role::kInvestigator})) << bob->roles.ToString();

  Result<LdapUser> carol = dir->Authenticate("carol", "carol-pw");
  ASSERT_TRUE(carol.ok()) << carol.status().ToString();
  EXPECT_EQ(carol->roles, RoleSet{Role::kApprover}) << carol->roles.ToString();
}

TEST_F(LdapDirectoryTest, UsernameTakesTheDirectorysSpelling) {
  Result<LdapUser> alice = Directory()->Authenticate("ALICE", "alice-pw");
  ASSERT_TRUE(alice.ok()) << alice.status().ToString();
  EXPECT_EQ(alice->username, "alice");
}

TEST_F(LdapDirectoryTest, WrongPasswordAndUnknownUserGetOneIdenticalError) {
  auto dir = Directory();
  Result<LdapUser> wrong = dir->Authenticate("alice", "bob-pw");
  Result<LdapUser> unknown = dir->Authenticate("mallory", "alice-pw");
  ASSERT_FALSE(wrong.ok());
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(wrong.status().code(), StatusCode::kPermissionDenied) << wrong.status().ToString();
  EXPECT_EQ(wrong.status().ToString(), unknown.status().ToString());
  EXPECT_EQ(wrong.status().message(), "ldap: invalid username or password");
  EXPECT_THAT(wrong.status().message(), Not(HasSubstr("bob-pw")));
}

TEST_F(LdapDirectoryTest, EmptyPasswordIsRefusedWithoutBinding) {
  // The server accepts an unauthenticated bind (DN, empty password): binding would "succeed".
  LDAP* ld = nullptr;
  ASSERT_EQ(ldap_initialize(&ld, slapd_->uri().c_str()), LDAP_SUCCESS);
  const int version = LDAP_VERSION3;
  ldap_set_option(ld, LDAP_OPT_PROTOCOL_VERSION, &version);
  berval empty{};
  EXPECT_EQ(ldap_sasl_bind_s(ld, "uid=alice,ou=people,dc=example,dc=org", LDAP_SASL_SIMPLE, &empty,
                             nullptr, nullptr, nullptr),
            LDAP_SUCCESS);
  ldap_unbind_ext_s(ld, nullptr, nullptr);

  Result<LdapUser> alice = Directory()->Authenticate("alice", "");
  ASSERT_FALSE(alice.ok());
  EXPECT_EQ(alice.status().code(), StatusCode::kInvalidArgument) << alice.status().ToString();

  // Refused before any traffic: a dead server is not even tried.
  Result<LdapUser> offline = MustCreate(OptionsFor(DeadUri()))->Authenticate("alice", "");
  EXPECT_EQ(offline.status().code(), StatusCode::kInvalidArgument) << offline.status().ToString();
}

TEST_F(LdapDirectoryTest, FilterInjectionFindsNobody) {
  auto dir = Directory();
  // Unescaped, "al*" would find alice alone and her password would sign in.
  for (const char* name : {"*)(uid=*", "al*", "*", "alice)(uid=*", "alice\\", "(uid=alice)"}) {
    Result<LdapUser> r = dir->Authenticate(name, "alice-pw");
    ASSERT_FALSE(r.ok()) << name;
    EXPECT_EQ(r.status().message(), "ldap: invalid username or password")
        << name << ": " << r.status().ToString();
  }
  Result<LdapUser> nul = dir->Authenticate(std::string_view("alice\0", 6), "alice-pw");
  EXPECT_EQ(nul.status().code(), StatusCode::kPermissionDenied) << nul.status().ToString();
}

TEST(LdapFilterEscapeTest, EscapesTheFiveSpecialBytes) {
  EXPECT_EQ(EscapeLdapFilterValue("*)(uid=*"), "\\2a\\29\\28uid=\\2a");
  EXPECT_EQ(EscapeLdapFilterValue(std::string_view("a\\b\0c", 5)), "a\\5cb\\00c");
  EXPECT_EQ(EscapeLdapFilterValue("Zoë O'Brien"), "Zoë O'Brien");
}

TEST_F(LdapDirectoryTest, UserInNoMappedGroupCannotSignIn) {
  Result<LdapUser> dave = Directory()->Authenticate("dave", "dave-pw");
  ASSERT_FALSE(dave.ok());
  EXPECT_EQ(dave.status().code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(dave.status().message(), "ldap: user 'dave' is in no group mapped to a Custos role");
}

TEST_F(LdapDirectoryTest, WrongPasswordOfAnUnmappedUserIsStillInvalidCredentials) {
  Result<LdapUser> dave = Directory()->Authenticate("dave", "alice-pw");
  EXPECT_EQ(dave.status().message(), "ldap: invalid username or password")
      << dave.status().ToString();
}

TEST_F(LdapDirectoryTest, UsernameMatchingTwoEntriesIsRefused) {
  ASSERT_TRUE(slapd_
                  ->Add("dn: ou=contractors,dc=example,dc=org\nobjectClass: organizationalUnit\n"
                        "ou: contractors\n\n"
                        "dn: uid=erin,ou=people,dc=example,dc=org\nobjectClass: inetOrgPerson\n"
                        "uid: erin\ncn: Erin One\nsn: One\nuserPassword: erin-pw\n\n"
                        "dn: uid=erin,ou=contractors,dc=example,dc=org\n"
                        "objectClass: inetOrgPerson\nuid: erin\ncn: Erin Two\nsn: Two\n"
                        "userPassword: erin-pw\n")
                  .ok());
  LdapOptions o = OptionsFor(slapd_->uri());
  o.user_search_base = Slapd::kBaseDn;
  Result<LdapUser> erin = MustCreate(o)->Authenticate("erin", "erin-pw");
  ASSERT_FALSE(erin.ok());
  EXPECT_EQ(erin.status().code(), StatusCode::kFailedPrecondition) << erin.status().ToString();
  EXPECT_THAT(erin.status().message(), HasSubstr("more than one entry"));
}

TEST_F(LdapDirectoryTest, AnonymousSearchesWhenNoServiceAccount) {
  LdapOptions o = OptionsFor(slapd_->uri());
  o.bind_dn.clear();
  o.bind_password.clear();
  Result<LdapUser> bob = MustCreate(o)->Authenticate("bob", "bob-pw");
  ASSERT_TRUE(bob.ok()) << bob.status().ToString();
  EXPECT_EQ(bob->roles, (RoleSet{Role::kAnalyst, Role::kInvestigator}));
}

TEST_F(LdapDirectoryTest, ServiceAccountRefusedIsAConfigurationErrorWithoutThePassword) {
  LdapOptions o = OptionsFor(slapd_->uri());
  o.bind_password = "not-the-svc-password";
  auto dir = MustCreate(o);
  Result<LdapUser> alice = dir->Authenticate("alice", "alice-pw");
  ASSERT_FALSE(alice.ok());
  EXPECT_EQ(alice.status().code(), StatusCode::kFailedPrecondition) << alice.status().ToString();
  EXPECT_THAT(alice.status().message(), HasSubstr(Slapd::kServiceDn));
  EXPECT_THAT(alice.status().message(), Not(HasSubstr("not-the-svc-password")));
  EXPECT_THAT(alice.status().message(), Not(HasSubstr("alice-pw")));
  EXPECT_EQ(dir->CheckConnection().code(), StatusCode::kFailedPrecondition);
  EXPECT_TRUE(Directory()->CheckConnection().ok());
}

TEST_F(LdapDirectoryTest, MissingSearchBaseIsAConfigurationError) {
  LdapOptions o = OptionsFor(slapd_->uri());
  o.user_search_base = "ou=nowhere,dc=example,dc=org";
  Result<LdapUser> alice = MustCreate(o)->Authenticate("alice", "alice-pw");
  EXPECT_EQ(alice.status().code(), StatusCode::kFailedPrecondition) << alice.status().ToString();
  EXPECT_THAT(alice.status().message(), HasSubstr("ou=nowhere"));
}

TEST_F(LdapDirectoryTest, ConcurrentSignInsEachUseTheirOwnConnection) {
  auto dir = Directory();
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  threads.reserve(4);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      const std::string user = t % 2 == 0 ? "alice" : "bob";
      for (int i = 0; i < 5; ++i) {
        if (dir->Authenticate(user, Slapd::Password(user)).ok()) ++ok;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(ok.load(), 20);
}

TEST_F(LdapDirectoryTest, StoppedServerIsUnavailableQuickly) {
  Result<std::unique_ptr<Slapd>> other = Slapd::Start();
  ASSERT_TRUE(other.ok()) << other.status().ToString();
  LdapOptions o = OptionsFor((*other)->uri());
  o.timeout = milliseconds(2000);
  auto dir = MustCreate(o);
  ASSERT_TRUE(dir->Authenticate("alice", "alice-pw").ok());
  (*other)->Stop();

  const auto start = Clock::now();
  Result<LdapUser> alice = dir->Authenticate("alice", "alice-pw");
  const auto elapsed = Clock::now() - start;
  ASSERT_FALSE(alice.ok());
  EXPECT_EQ(alice.status().code(), StatusCode::kUnavailable) << alice.status().ToString();
  EXPECT_THAT(alice.status().message(), HasSubstr((*other)->uri()));
  EXPECT_THAT(alice.status().message(), HasSubstr("Can't contact LDAP server"));
  EXPECT_THAT(alice.status().message(), Not(HasSubstr("alice-pw")));
  EXPECT_LT(elapsed, o.timeout);
  EXPECT_EQ(dir->CheckConnection().code(), StatusCode::kUnavailable);
}

class LdapDirectoryTlsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    Slapd::Options options;
    options.tls = true;
    Result<std::unique_ptr<Slapd>> s = Slapd::Start(options);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    slapd_ = std::move(s).value().release();
  }
  static void TearDownTestSuite() {
    delete slapd_;
    slapd_ = nullptr;
  }
  void SetUp() override { ASSERT_NE(slapd_, nullptr) << "slapd did not start"; }

  static Slapd* slapd_;
};
Slapd* LdapDirectoryTlsTest::slapd_ = nullptr;

TEST_F(LdapDirectoryTlsTest, StartTlsWithTheDirectorysCaSignsIn) {
  LdapOptions o = OptionsFor(slapd_->uri());
  o.start_tls = true;
  o.ca_file = slapd_->ca_file();
  Result<LdapUser> alice = MustCreate(o)->Authenticate("alice", "alice-pw");
  ASSERT_TRUE(alice.ok()) << alice.status().ToString();
  EXPECT_EQ(alice->roles, (RoleSet{Role::kAdmin, Role::kAnalyst, Role::kInvestigator}));
}

TEST_F(LdapDirectoryTlsTest, LdapsWithTheDirectorysCaSignsIn) {
  LdapOptions o = OptionsFor(slapd_->ldaps_uri());
  o.ca_file = slapd_->ca_file();
  Result<LdapUser> bob = MustCreate(o)->Authenticate("bob", "bob-pw");
  ASSERT_TRUE(bob.ok()) << bob.status().ToString();
  EXPECT_EQ(bob->username, "bob");
}

TEST_F(LdapDirectoryTlsTest, CertificateFromAnotherCaIsRefused) {
  LdapOptions starttls = OptionsFor(slapd_->uri());
  starttls.start_tls = true;
  starttls.ca_file = slapd_->other_ca_file();
  LdapOptions ldaps = OptionsFor(slapd_->ldaps_uri());
  ldaps.ca_file = slapd_->other_ca_file();
  // StartTLS: the server answered, so this is a configuration problem; ldaps://: libldap cannot
  // tell a failed handshake from a server that is down.
  for (const auto& [o, code] : {std::pair{starttls, StatusCode::kFailedPrecondition},
                                std::pair{ldaps, StatusCode::kUnavailable}}) {
    auto dir = MustCreate(o);
    Result<LdapUser> alice = dir->Authenticate("alice", "alice-pw");
    ASSERT_FALSE(alice.ok()) << o.uri;
    EXPECT_EQ(alice.status().code(), code) << alice.status().ToString();
    EXPECT_THAT(alice.status().message(), HasSubstr(o.uri));
    EXPECT_THAT(alice.status().message(), HasSubstr(slapd_->other_ca_file()));
    EXPECT_EQ(dir->CheckConnection().code(), code) << o.uri;
  }
}

TEST_F(LdapDirectoryTest, StartTlsToAServerWithoutTlsIsRefusedNotSkipped) {
  LdapOptions o = OptionsFor(slapd_->uri());  // this server has no certificate
  o.start_tls = true;
  Result<LdapUser> alice = MustCreate(o)->Authenticate("alice", "alice-pw");
  ASSERT_FALSE(alice.ok());
  EXPECT_THAT(alice.status().message(), HasSubstr("StartTLS")) << alice.status().ToString();
}

// A server that accepts TCP connections (the kernel's backlog) and never answers.
class SilentServer {
 public:
  SilentServer() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (fd_ >= 0 && ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
        ::listen(fd_, 16) == 0 &&
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
      uri_ = "ldap://127.0.0.1:" + std::to_string(ntohs(addr.sin_port));
    }
  }
  ~SilentServer() {
    if (fd_ >= 0) ::close(fd_);
  }
  const std::string& uri() const { return uri_; }

 private:
  int fd_ = -1;
  std::string uri_;
};

TEST(LdapDirectoryTimeoutTest, ServerThatNeverAnswersIsUnavailableWithinTheTimeout) {
  SilentServer silent;
  ASSERT_FALSE(silent.uri().empty());
  for (bool anonymous : {false, true}) {  // the first operation is a bind, or a search
    LdapOptions o = OptionsFor(silent.uri());
    if (anonymous) o.bind_dn.clear(), o.bind_password.clear();
    o.timeout = milliseconds(300);
    const auto start = Clock::now();
    Result<LdapUser> alice = MustCreate(o)->Authenticate("alice", "alice-pw");
    const auto elapsed = Clock::now() - start;
    ASSERT_FALSE(alice.ok());
    EXPECT_EQ(alice.status().code(), StatusCode::kUnavailable) << alice.status().ToString();
    EXPECT_THAT(alice.status().message(), HasSubstr(silent.uri()));
    EXPECT_GE(elapsed, milliseconds(250));
    EXPECT_LT(elapsed, milliseconds(1500)) << "anonymous=" << anonymous;
  }
}

TEST(LdapDirectoryInputTest, LongInputsAreRefusedBeforeAnyTraffic) {
  auto dir = MustCreate(OptionsFor(DeadUri()));
  const std::string name64(kMaxLdapUsernameBytes, 'a'), pw1024(kMaxLdapPasswordBytes, 'p');
  EXPECT_EQ(dir->Authenticate(name64 + "a", "pw").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(dir->Authenticate("alice", pw1024 + "p").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(dir->Authenticate("", "pw").status().code(), StatusCode::kInvalidArgument);
  // At the caps exactly, the server is tried (and is down).
  EXPECT_EQ(dir->Authenticate(name64, pw1024).status().code(), StatusCode::kUnavailable);
  EXPECT_THAT(dir->Authenticate("alice", pw1024 + "p").status().message(), Not(HasSubstr("ppp")));
}

TEST(LdapDirectoryCreateTest, RefusesOptionsThatCannotWork) {
  auto refused = [](auto edit) {
    LdapOptions o = OptionsFor("ldap://127.0.0.1:389");
    edit(o);
    Result<std::unique_ptr<LdapDirectory>> d = LdapDirectory::Create(o);
    return d.ok() ? std::string("accepted") : d.status().ToString();
  };
  EXPECT_THAT(refused([](LdapOptions&) {}), "accepted");
  EXPECT_THAT(refused([](LdapOptions& o) { o.uri = "http://x"; }), HasSubstr("uri"));
  EXPECT_THAT(refused([](LdapOptions& o) { o.uri = "ldaps://x:636", o.start_tls = true; }),
              HasSubstr("start_tls"));
  EXPECT_THAT(refused([](LdapOptions& o) { o.user_filter = "(uid=alice)"; }),
              HasSubstr("{username}"));
  EXPECT_THAT(refused([](LdapOptions& o) { o.user_search_base.clear(); }),
              HasSubstr("user_search_base"));
  EXPECT_THAT(refused([](LdapOptions& o) { o.group_search_base.clear(); }),
              HasSubstr("group_search_base"));
  EXPECT_THAT(refused([](LdapOptions& o) { o.bind_password.clear(); }), HasSubstr("bind_dn"));
  EXPECT_THAT(refused([](LdapOptions& o) { o.group_roles.clear(); }), HasSubstr("group_roles"));
  EXPECT_THAT(refused([](LdapOptions& o) { o.group_roles["cn=x,dc=y"] = RoleSet(); }),
              HasSubstr("no roles"));
  EXPECT_THAT(refused([](LdapOptions& o) { o.group_roles["cn=x,,=y"] = {Role::kViewer}; }),
              HasSubstr("not a DN"));
  EXPECT_THAT(refused([](LdapOptions& o) { o.timeout = milliseconds(0); }), HasSubstr("timeout"));
  EXPECT_THAT(refused([](LdapOptions& o) { o.ca_file = "/nonexistent/ca.pem"; }),
              HasSubstr("ca_file"));
}

}  // namespace
}  // namespace custos::collector::access
