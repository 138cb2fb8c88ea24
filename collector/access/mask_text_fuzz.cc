// Fuzz target: paths, command lines and host names as agents send them, masked for a viewer
// (collector/access/pseudonym.h). Must never crash; with pseudonymisation off the text comes
// back unchanged; masked, no directory e-mail address survives as a whole token.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "collector/access/pseudonym.h"
#include "common/status/status.h"

namespace {

namespace access = custos::collector::access;
namespace store = custos::collector::store;

constexpr const char* kEmails[] = {"alice@example.com", "bob@example.com", "al@example.com"};

struct Directory {
  Directory() : pseudonymizer(std::string(access::kPseudonymKeyBytes, 'f')) {
    const char* names[] = {"Alice Liddell", "Bob Stone", "Al"};
    const char* logins_of[] = {"alice", "bob.stone", "al"};
    for (int i = 0; i < 3; ++i) {
      store::PersonRecord p;
      p.id = kEmails[i];
      p.display_name = names[i];
      people.push_back(p);
      logins.push_back({logins_of[i], i == 1 ? "ws-0142.corp" : "", kEmails[i]});
    }
    masker = std::make_unique<access::IdentityMasker>(&pseudonymizer, people, logins);
  }
  access::Pseudonymizer pseudonymizer;
  std::vector<store::PersonRecord> people;
  std::vector<store::LoginRecord> logins;
  std::unique_ptr<access::IdentityMasker> masker;
};

bool IsWord(char c) {
  auto u = static_cast<unsigned char>(c);
  return (u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z') || (u >= '0' && u <= '9') || u >= 0x80;
}

// True when `needle` occurs in `text` (ASCII case ignored) delimited by non-token characters.
bool HasWholeToken(std::string text, std::string_view needle) {
  for (char& c : text) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) {
    const size_t end = at + needle.size();
    if ((at == 0 || !IsWord(text[at - 1])) && (end == text.size() || !IsWord(text[end]))) {
      return true;
    }
  }
  return false;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const Directory* dir = new Directory();
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  access::MaskView off = dir->masker->Unmasked();
  CUSTOS_CHECK(off.Text(text) == text) << "unmasked text changed";
  CUSTOS_CHECK(off.Host(text) == text) << "unmasked host changed";
  access::MaskView on = dir->masker->ForViewer({});
  const std::string masked = on.Text(text);
  for (const char* email : kEmails) {
    CUSTOS_CHECK(!HasWholeToken(masked, email)) << "e-mail survived masking: " << masked;
  }
  (void)on.Host(text);
  (void)on.Person(text);
  (void)dir->masker->Resolve(text);
  return 0;
}
