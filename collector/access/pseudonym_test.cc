#include "collector/access/pseudonym.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cctype>
#include <regex>
#include <string>
#include <vector>

#include "common/testing/testing.h"

namespace custos::collector::access {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

std::string Key(char fill) { return std::string(kPseudonymKeyBytes, fill); }

store::PersonRecord Person(std::string id, std::string name, std::string manager = "") {
  store::PersonRecord p;
  p.id = std::move(id);
  p.display_name = std::move(name);
  p.manager = std::move(manager);
  return p;
}

TEST(PseudonymKeyTest, CreatedOnceWithMode0600AndReadBack) {
  testing::TempDir dir;
  const std::string path = dir.Sub("pseudonym.key");
  auto first = LoadOrCreatePseudonymKey(path);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_EQ(first->size(), kPseudonymKeyBytes);
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  auto again = LoadOrCreatePseudonymKey(path);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(*again, *first);
  // No temporary file is left beside it.
  EXPECT_FALSE(testing::ReadFile(path + ".tmp." + std::to_string(::getpid())).ok());
}

TEST(PseudonymKeyTest, RefusesAKeyReadableByOthers) {
  testing::TempDir dir;
  const std::string path = dir.Sub("pseudonym.key");
  ASSERT_TRUE(LoadOrCreatePseudonymKey(path).ok());
  ASSERT_EQ(::chmod(path.c_str(), 0640), 0);
  auto r = LoadOrCreatePseudonymKey(path);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kPermissionDenied);
  EXPECT_THAT(r.status().ToString(), HasSubstr("mode 0640"));
  EXPECT_THAT(r.status().ToString(), HasSubstr(path));
}

TEST(PseudonymKeyTest, RefusesAKeyOfTheWrongSize) {
  testing::TempDir dir;
  const std::string path = dir.Sub("pseudonym.key");
  ASSERT_TRUE(testing::WriteFile(path, "short").ok());
  ASSERT_EQ(::chmod(path.c_str(), 0600), 0);
  auto r = LoadOrCreatePseudonymKey(path);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kDataLoss);
  EXPECT_THAT(r.status().ToString(), HasSubstr("5 bytes, expected 32"));
}

TEST(PseudonymTest, StableForTheSameKeyAndDifferentForAnother) {
  Pseudonymizer a(Key('k')), b(Key('k')), other(Key('o'));
  const std::string p = a.Pseudonym("alice@example.com");
  EXPECT_TRUE(std::regex_match(p, std::regex("Anon-[0-9A-F]{10}"))) << p;
  EXPECT_EQ(b.Pseudonym("alice@example.com"), p);
  EXPECT_EQ(a.Pseudonym("Alice@Example.COM"), p);  // e-mail addresses are canonicalised
  EXPECT_NE(other.Pseudonym("alice@example.com"), p);
  EXPECT_NE(a.Pseudonym("bob@example.com"), p);
  EXPECT_NE(a.Pseudonym("Alice"), a.Pseudonym("alice"));  // logins are case-sensitive
  EXPECT_EQ(a.UnlistedPseudonym("zed"), "Anon-U-" + a.Pseudonym("zed").substr(5));
  EXPECT_TRUE(std::regex_match(a.HostPseudonym("WS-01"), std::regex("Host-[0-9A-F]{10}")));
  EXPECT_EQ(a.HostPseudonym("WS-01"), a.HostPseudonym("ws-01"));
}

class MaskerTest : public ::testing::Test {
 protected:
  MaskerTest()
      : pseudonymizer_(Key('k')),
        people_{Person("alice@example.com", "Alice Liddell", "carol@example.com"),
                Person("bob@example.com", "Bob Stone"), Person("carol@example.com", "Carol"),
                Person("al@example.com", "Al Short")},
        logins_{
            {.login = "alice", .host = "", .person = "alice@example.com"},
            {.login = "ALICE", .host = "WIN-7", .person = "alice@example.com"},
            {.login = "bob.stone", .host = "ws-0142.corp.example.com", .person = "bob@example.com"},
            {.login = "bob", .host = "build01", .person = "bob@example.com"},
            {.login = "carol", .host = "build01", .person = "carol@example.com"},
            {.login = "al", .host = "", .person = "al@example.com"}},
        masker_(&pseudonymizer_, people_, logins_) {}

  std::string P(const std::string& id) const { return pseudonymizer_.Pseudonym(id); }
  std::string U(const std::string& login) const { return pseudonymizer_.UnlistedPseudonym(login); }

  Pseudonymizer pseudonymizer_;
  std::vector<store::PersonRecord> people_;
  std::vector<store::LoginRecord> logins_;
  IdentityMasker masker_;
};

TEST_F(MaskerTest, EveryNameOfAPersonBecomesTheSamePseudonym) {
  MaskView v = masker_.ForViewer({});
  const std::string alice = P("alice@example.com");
  EXPECT_EQ(v.Person("alice@example.com"), alice);
  EXPECT_EQ(v.Person("Alice@EXAMPLE.com"), alice);
  EXPECT_EQ(v.Person("Alice Liddell"), alice);
  EXPECT_EQ(v.Person("alice"), alice);
  EXPECT_EQ(v.Person("ALICE"), alice);
  EXPECT_EQ(v.Person(people_[0].manager), P("carol@example.com"));
  EXPECT_EQ(v.Person(""), "");
  // Someone the directory does not list is marked as such, with the code of their id.
  EXPECT_EQ(v.Person("zed"), U("zed"));
  EXPECT_EQ(v.Person("Zed@Elsewhere.org"), U("zed@elsewhere.org"));
}

TEST_F(MaskerTest, RevealedPeopleAreShownOthersStayMasked) {
  std::vector<std::string> revealed = {"Alice@Example.com"};
  MaskView v = masker_.ForViewer(revealed);
  EXPECT_TRUE(v.IsRevealed("alice@example.com"));
  EXPECT_EQ(v.Person("alice"), "alice");
  EXPECT_EQ(v.Person("Alice Liddell"), "Alice Liddell");
  EXPECT_EQ(v.Person("bob@example.com"), P("bob@example.com"));
  EXPECT_EQ(v.Text("/home/alice/x and /home/bob/y"),
            "/home/alice/x and /home/" + P("bob@example.com") + "/y");
  EXPECT_EQ(v.Host("WIN-7"), "WIN-7");
}

TEST_F(MaskerTest, OffMasksNothing) {
  MaskView v = masker_.Unmasked();
  EXPECT_FALSE(v.masking());
  EXPECT_EQ(v.Person("alice"), "alice");
  EXPECT_EQ(v.Text("/home/zed/x alice@example.com"), "/home/zed/x alice@example.com");
  EXPECT_EQ(v.Host("WIN-7"), "WIN-7");
}

TEST_F(MaskerTest, HomeDirectoriesAreMaskedForKnownAndUnknownLogins) {
  MaskView v = masker_.ForViewer({});
  const std::string alice = P("alice@example.com");
  EXPECT_EQ(v.Text("/home/alice/docs/q3.xlsx"), "/home/" + alice + "/docs/q3.xlsx");
  EXPECT_EQ(v.Text("/Users/alice"), "/Users/" + alice);
  EXPECT_EQ(v.Text("C:\\Users\\ALICE\\Desktop"), "C:\\Users\\" + alice + "\\Desktop");
  EXPECT_EQ(v.Text("/home/bob.stone/x"), "/home/" + P("bob@example.com") + "/x");
  EXPECT_EQ(v.Text("/var/home/zed/.ssh/id_rsa"), "/var/home/" + U("zed") + "/.ssh/id_rsa");
  EXPECT_EQ(v.Text("D:/users/Zed Q/notes.txt"), "D:/users/" + U("Zed") + " Q/notes.txt");
  EXPECT_EQ(v.Text("C:\\Users\\Public\\x"), "C:\\Users\\Public\\x");
  EXPECT_EQ(v.Text("cp /home/zed/a /home/alice/b"),
            "cp /home/" + U("zed") + "/a /home/" + alice + "/b");
  // Not a home directory: "myhome", "/homes".
  EXPECT_EQ(v.Text("/myhome/zed"), "/myhome/zed");
  EXPECT_EQ(v.Text("/homes/zed"), "/homes/zed");
}

TEST_F(MaskerTest, OnlyWholeTokensAreMasked) {
  MaskView v = masker_.ForViewer({});
  const std::string al = P("al@example.com");
  // "al" is a login, but "alice", "also" and "metal" only contain it.
  EXPECT_EQ(v.Text("/home/alice"), "/home/" + P("alice@example.com"));
  EXPECT_EQ(v.Text("also metal /srv/alpha"), "also metal /srv/alpha");
  EXPECT_EQ(v.Text("/home/al/x"), "/home/" + al + "/x");
  EXPECT_EQ(v.Text("owner: al."), "owner: " + al + ".");
  EXPECT_EQ(v.Text("bobby carolina"), "bobby carolina");
}

TEST_F(MaskerTest, EmailsNamesAndLoginsInFreeTextAreMasked) {
  MaskView v = masker_.ForViewer({});
  const std::string alice = P("alice@example.com"), bob = P("bob@example.com");
  EXPECT_EQ(v.Text("mail from ALICE@example.com to Bob Stone"),
            "mail from " + alice + " to " + bob);
  EXPECT_EQ(v.Text("/srv/share/alice_q3-report.docx"), "/srv/share/" + alice + "_q3-report.docx");
  EXPECT_EQ(v.Text("bob.stone copied 3 files"), bob + " copied 3 files");
  EXPECT_EQ(v.Text("Carol approved"), P("carol@example.com") + " approved");
  EXPECT_EQ(v.Text("nothing to see"), "nothing to see");
  EXPECT_EQ(v.Text(""), "");
}

TEST_F(MaskerTest, HostsOfOnePersonAndHostsNamedAfterALoginAreMasked) {
  MaskView v = masker_.ForViewer({});
  const std::string ws = pseudonymizer_.HostPseudonym("ws-0142.corp.example.com");
  EXPECT_EQ(v.Host("ws-0142.corp.example.com"), ws);
  EXPECT_EQ(v.Host("WS-0142.corp.example.com"), ws);
  EXPECT_EQ(v.Host("ws-0142"), ws);  // the short name of a directory host
  EXPECT_EQ(v.Host("win-7"), pseudonymizer_.HostPseudonym("win-7"));
  EXPECT_EQ(v.Text("copied to \\\\ws-0142\\c$"), "copied to \\\\" + ws + "\\c$");
  // build01 has two people's logins: it identifies no one.
  EXPECT_EQ(v.Host("build01"), "build01");
  EXPECT_EQ(v.Host("alice-laptop.corp"), P("alice@example.com") + "-laptop.corp");
  EXPECT_EQ(v.Host("malice-laptop"), "malice-laptop");
  EXPECT_EQ(v.Host(""), "");
}

TEST(MaskerNamesakeTest, ANameTwoPeopleShareNamesNeitherAndIsRevealedToNoOne) {
  Pseudonymizer pseudonymizer(Key('k'));
  std::vector<store::PersonRecord> people = {Person("alex.a@example.com", "Alex Smith"),
                                             Person("alex.b@example.com", "Alex Smith")};
  std::vector<store::LoginRecord> logins;
  IdentityMasker masker(&pseudonymizer, people, logins);
  std::vector<std::string> revealed = {"alex.a@example.com"};
  MaskView v = masker.ForViewer(revealed);
  const std::string shared = v.Person("Alex Smith");
  EXPECT_EQ(shared, pseudonymizer.UnlistedPseudonym("alex smith"));
  EXPECT_EQ(v.Text("sent by Alex Smith"), "sent by " + shared);
  EXPECT_EQ(v.Person("alex.a@example.com"), "alex.a@example.com");
  EXPECT_EQ(v.Person("alex.b@example.com"), pseudonymizer.Pseudonym("alex.b@example.com"));
}

TEST_F(MaskerTest, ResolvesAPseudonymToItsDirectoryPerson) {
  const std::string alice = P("alice@example.com");
  EXPECT_THAT(masker_.Resolve(alice), ::testing::ElementsAre("alice@example.com"));
  std::string lower = alice;
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  EXPECT_THAT(masker_.Resolve(lower), ::testing::ElementsAre("alice@example.com"));
  EXPECT_THAT(masker_.Resolve("Anon-U-" + alice.substr(5)),
              ::testing::ElementsAre("alice@example.com"));
  EXPECT_THAT(masker_.Resolve(U("zed")), ::testing::IsEmpty());
  EXPECT_THAT(masker_.Resolve("alice@example.com"), ::testing::IsEmpty());
}

TEST_F(MaskerTest, ReportsNoCollisionsForDistinctPeople) {
  EXPECT_TRUE(masker_.collisions().empty());
  EXPECT_EQ(masker_.people(), 4u);
}

}  // namespace
}  // namespace custos::collector::access
