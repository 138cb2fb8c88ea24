#include "collector/access/pseudonym.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <map>
#include <set>

#include "common/crypto/crypto.h"

namespace custos::collector::access {
namespace {

char Lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

std::string Folded(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = Lower(c);
  return out;
}

// Token characters: ASCII letters and digits, and every byte of a non-ASCII UTF-8 sequence (so
// "José" is one token). Everything else delimits.
bool IsWord(char c) {
  auto u = static_cast<unsigned char>(c);
  return (u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z') || (u >= '0' && u <= '9') || u >= 0x80;
}

size_t TokenCount(std::string_view s) {
  size_t n = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    if (IsWord(s[i]) && (i == 0 || !IsWord(s[i - 1]))) ++n;
  }
  return n;
}

// Ends a home-directory segment (a login): a path separator, a quote, a control character or a
// list separator.
bool EndsSegment(char c) {
  switch (c) {
    case '/':
    case '\\':
    case '"':
    case '\'':
    case ',':
    case ';':
    case '|':
    case '<':
    case '>':
    case '\0':
    case '\t':
    case '\r':
    case '\n':
      return true;
    default:
      return false;
  }
}

// True when the (lower-cased) text before `i` ends in "/home/", "/users/" or "\users\" (either
// slash on either side).
bool AfterHomePrefix(std::string_view lower, size_t i) {
  auto slash = [](char c) { return c == '/' || c == '\\'; };
  if (i >= 6 && slash(lower[i - 1]) && lower.substr(i - 5, 4) == "home" && slash(lower[i - 6])) {
    return true;
  }
  return i >= 7 && slash(lower[i - 1]) && lower.substr(i - 6, 5) == "users" && slash(lower[i - 7]);
}

bool IsSharedProfile(std::string_view lower_segment) {
  static constexpr std::string_view kShared[] = {"public",    "default", "default user",
                                                 "all users", "shared",  "defaultuser0"};
  return std::find(std::begin(kShared), std::end(kShared), lower_segment) != std::end(kShared);
}

Status FileError(const std::string& path, std::string_view what, int err) {
  return ErrnoError("pseudonym key: " + path + (what.empty() ? "" : ": " + std::string(what)), err);
}

Result<std::string> ReadKey(const std::string& path, int fd) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) return FileError(path, "stat", errno);
  if (!S_ISREG(st.st_mode)) {
    return PermissionDeniedError("pseudonym key: " + path + ": not a regular file");
  }
  if ((st.st_mode & 077) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    return PermissionDeniedError("pseudonym key: " + path + ": mode " + mode +
                                 " lets group or others at the key; chmod 600 it");
  }
  if (st.st_size != static_cast<off_t>(kPseudonymKeyBytes)) {
    return DataLossError("pseudonym key: " + path + ": " + std::to_string(st.st_size) +
                         " bytes, expected " + std::to_string(kPseudonymKeyBytes));
  }
  std::string key(kPseudonymKeyBytes, '\0');
  size_t got = 0;
  while (got < key.size()) {
    ssize_t n = ::read(fd, key.data() + got, key.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return FileError(path, "read", errno);
    if (n == 0) return DataLossError("pseudonym key: " + path + ": truncated while reading");
    got += static_cast<size_t>(n);
  }
  return key;
}

struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

Status CreateKey(const std::string& path) {
  CUSTOS_ASSIGN_OR_RETURN(std::string key, crypto::RandomBytes(kPseudonymKeyBytes));
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  Fd f{::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600)};
  if (f.fd < 0) return FileError(tmp, "create", errno);
  Status s = OkStatus();
  size_t put = 0;
  while (s.ok() && put < key.size()) {
    ssize_t n = ::write(f.fd, key.data() + put, key.size() - put);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0)
      s = FileError(tmp, "write", n < 0 ? errno : EIO);
    else
      put += static_cast<size_t>(n);
  }
  if (s.ok() && ::fsync(f.fd) != 0) s = FileError(tmp, "fsync", errno);
  // link() fails with EEXIST when another process created the key first: theirs is kept.
  if (s.ok() && ::link(tmp.c_str(), path.c_str()) != 0 && errno != EEXIST) {
    s = FileError(path, "link", errno);
  }
  ::unlink(tmp.c_str());
  if (!s.ok()) return s;
  const size_t slash = path.rfind('/');
  const std::string dir = slash == std::string::npos ? "." : path.substr(0, slash + 1);
  Fd d{::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)};
  if (d.fd >= 0) (void)::fsync(d.fd);
  return OkStatus();
}

}  // namespace

Result<std::string> LoadOrCreatePseudonymKey(const std::string& path) {
  for (int attempt = 0; attempt < 2; ++attempt) {
    Fd f{::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW)};
    if (f.fd >= 0) return ReadKey(path, f.fd);
    if (errno == ELOOP) return PermissionDeniedError("pseudonym key: " + path + ": a symlink");
    if (errno != ENOENT) return FileError(path, "", errno);
    CUSTOS_RETURN_IF_ERROR(CreateKey(path));
  }
  return InternalError("pseudonym key: " + path + ": created but cannot be opened");
}

std::string CanonicalPersonId(std::string_view person) {
  if (person.find('@') == std::string_view::npos) return std::string(person);
  return Folded(person);
}

// ---- Pseudonymizer -----------------------------------------------------------------------

Pseudonymizer::Pseudonymizer(std::string key) : key_(key) {
  CUSTOS_CHECK(key.size() == kPseudonymKeyBytes) << "pseudonym key must be 32 bytes";
}

std::string Pseudonymizer::Code(std::string_view domain, std::string_view value) const {
  std::string msg;
  msg.reserve(domain.size() + 1 + value.size());
  msg.append(domain).push_back('\0');
  msg.append(value);
  std::string hex = crypto::HexEncode(key_.Mac(msg).substr(0, 8));
  hex.resize(kPseudonymHexDigits);
  for (char& c : hex) {
    if (c >= 'a' && c <= 'f') c = static_cast<char>(c - 'a' + 'A');
  }
  return hex;
}

std::string Pseudonymizer::Pseudonym(std::string_view person_id) const {
  return std::string(kPseudonymPrefix) + Code("person", CanonicalPersonId(person_id));
}

std::string Pseudonymizer::UnlistedPseudonym(std::string_view person_id) const {
  return std::string(kUnlistedPrefix) + Code("person", CanonicalPersonId(person_id));
}

std::string Pseudonymizer::HostPseudonym(std::string_view host) const {
  return std::string(kHostPrefix) + Code("host", Folded(host));
}

// ---- IdentityMasker ----------------------------------------------------------------------

IdentityMasker::IdentityMasker(const Pseudonymizer* pseudonymizer,
                               std::span<const store::PersonRecord> people,
                               std::span<const store::LoginRecord> logins)
    : pseudonymizer_(pseudonymizer) {
  std::map<std::string, std::set<std::string>> by_code;
  for (const auto& p : people) {
    std::string id = CanonicalPersonId(p.id);
    if (id.empty() || exact_.contains(id)) continue;
    const auto index = static_cast<int32_t>(people_.size());
    people_.push_back({id, pseudonymizer_->Pseudonym(id)});
    by_code[people_.back().pseudonym].insert(id);
    by_code_[people_.back().pseudonym.substr(kPseudonymPrefix.size())].push_back(index);
    exact_.emplace(id, index);
  }
  // Display names and logins after every id, so that no name or login shadows a person's id.
  // A name or login of two people (namesakes) names neither: it is ambiguous.
  std::vector<std::pair<std::string, int32_t>> names;
  for (const auto& p : people) {
    auto it = exact_.find(CanonicalPersonId(p.id));
    if (it != exact_.end() && !p.display_name.empty())
      names.emplace_back(p.display_name, it->second);
  }
  for (const auto& l : logins) {
    auto it = exact_.find(CanonicalPersonId(l.person));
    if (it != exact_.end() && !l.login.empty()) names.emplace_back(l.login, it->second);
  }
  for (const auto& person : people_)
    AddKey(person.id, exact_.at(person.id), person.pseudonym, false);
  for (const auto& [name, person] : names) {
    auto [it, inserted] = exact_.try_emplace(name, person);
    if (!inserted && it->second != person && it->second != kAmbiguous &&
        people_[static_cast<size_t>(it->second)].id != name) {
      it->second = kAmbiguous;
    }
    AddKey(name, person, people_[static_cast<size_t>(person)].pseudonym, false);
  }
  // Hosts that the directory gives to exactly one person identify that person.
  std::map<std::string, std::set<int32_t>> host_owners;
  for (const auto& l : logins) {
    auto it = exact_.find(CanonicalPersonId(l.person));
    if (l.host.empty() || it == exact_.end() || it->second < 0) continue;
    host_owners[Folded(l.host)].insert(it->second);
  }
  for (const auto& [host, owners] : host_owners) {
    if (owners.size() != 1) continue;
    std::string code = pseudonymizer_->HostPseudonym(host);
    AddKey(host, *owners.begin(), code, true);
    if (size_t dot = host.find('.'); dot != std::string::npos && dot > 0) {
      AddKey(host.substr(0, dot), *owners.begin(), code, true);
    }
  }
  for (auto& [code, ids] : by_code) {
    if (ids.size() > 1) collisions_.push_back({code, {ids.begin(), ids.end()}});
  }
}

void IdentityMasker::AddKey(std::string_view key, int32_t person, std::string replacement,
                            bool host) {
  std::string folded = Folded(key);
  auto [it, inserted] = folded_.try_emplace(folded, Key{person, std::move(replacement), host});
  if (!inserted) {
    // A host never shadows a person's name; two people under one key (logins differing only in
    // case, namesakes) mask it with a code of the key itself, revealed to no one.
    if (it->second.person == person || host != it->second.host) return;
    it->second = {
        kAmbiguous,
        host ? pseudonymizer_->HostPseudonym(folded) : pseudonymizer_->UnlistedPseudonym(folded),
        host};
    return;
  }
  if (folded.size() < 2) return;
  size_t first_end = 0;
  while (first_end < folded.size() && IsWord(folded[first_end])) ++first_end;
  // Keys that do not start with a token character cannot be matched in text.
  if (first_end == 0) return;
  const auto tokens = static_cast<uint8_t>(std::min<size_t>(TokenCount(folded), 255));
  uint8_t& most = first_tokens_[folded.substr(0, first_end)];
  most = std::max(most, tokens);
}

const IdentityMasker::Key* IdentityMasker::FindPerson(std::string_view value,
                                                      int32_t* person) const {
  if (auto it = exact_.find(value); it != exact_.end() && it->second != kAmbiguous) {
    *person = it->second;
    return nullptr;
  }
  *person = kAmbiguous;
  std::string folded = Folded(value);
  if (auto it = folded_.find(folded); it != folded_.end() && !it->second.host) {
    *person = it->second.person;
    return &it->second;
  }
  return nullptr;
}

const IdentityMasker::Key* IdentityMasker::MatchAt(std::string_view lower, size_t start,
                                                   size_t* len) const {
  size_t end = start;
  while (end < lower.size() && IsWord(lower[end])) ++end;
  auto first = first_tokens_.find(lower.substr(start, end - start));
  if (first == first_tokens_.end()) return nullptr;
  // Ends of the first `most` tokens from `start`.
  size_t ends[16];
  const size_t most = std::min<size_t>(first->second, std::size(ends));
  size_t n = 0;
  ends[n++] = end;
  while (n < most) {
    size_t next = ends[n - 1];
    while (next < lower.size() && !IsWord(lower[next])) ++next;
    if (next == lower.size()) break;
    size_t e = next;
    while (e < lower.size() && IsWord(lower[e])) ++e;
    ends[n++] = e;
  }
  for (size_t k = n; k-- > 0;) {
    auto it = folded_.find(lower.substr(start, ends[k] - start));
    if (it != folded_.end()) {
      *len = ends[k] - start;
      return &it->second;
    }
  }
  return nullptr;
}

std::vector<std::string> IdentityMasker::Resolve(std::string_view pseudonym) const {
  std::string code(pseudonym);
  for (char& c : code) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  }
  std::string_view digits = code;
  if (digits.starts_with("ANON-U-")) {
    digits.remove_prefix(kUnlistedPrefix.size());
  } else if (digits.starts_with("ANON-")) {
    digits.remove_prefix(kPseudonymPrefix.size());
  } else {
    return {};
  }
  std::vector<std::string> ids;
  if (auto it = by_code_.find(digits); it != by_code_.end()) {
    for (int32_t p : it->second) ids.push_back(people_[static_cast<size_t>(p)].id);
  }
  std::sort(ids.begin(), ids.end());
  return ids;
}

MaskView IdentityMasker::ForViewer(std::span<const std::string> revealed_person_ids) const {
  std::vector<std::string> ids;
  ids.reserve(revealed_person_ids.size());
  for (const auto& r : revealed_person_ids) {
    int32_t p = kAmbiguous;
    (void)FindPerson(r, &p);
    ids.push_back(p >= 0 ? people_[static_cast<size_t>(p)].id : CanonicalPersonId(r));
  }
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  return MaskView(this, true, std::move(ids));
}

MaskView IdentityMasker::Unmasked() const { return MaskView(this, false, {}); }

// ---- MaskView ----------------------------------------------------------------------------

MaskView::MaskView(const IdentityMasker* masker, bool masking, std::vector<std::string> revealed)
    : masker_(masker), masking_(masking), revealed_(std::move(revealed)) {}

bool MaskView::IsRevealed(std::string_view person_id) const {
  if (!masking_) return true;
  return !revealed_.empty() &&
         std::binary_search(revealed_.begin(), revealed_.end(), person_id, std::less<>());
}

bool MaskView::Shown(int32_t person) const {
  if (!masking_) return true;
  if (person < 0 || revealed_.empty()) return false;
  return IsRevealed(masker_->people_[static_cast<size_t>(person)].id);
}

std::string MaskView::Person(std::string_view value) const {
  if (!masking_ || value.empty()) return std::string(value);
  int32_t p = IdentityMasker::kAmbiguous;
  const IdentityMasker::Key* key = masker_->FindPerson(value, &p);
  if (p >= 0) {
    return Shown(p) ? std::string(value) : masker_->people_[static_cast<size_t>(p)].pseudonym;
  }
  if (key != nullptr) return key->replacement;  // a namesake: revealed to no one
  std::string id = CanonicalPersonId(value);
  if (IsRevealed(id)) return std::string(value);
  return masker_->pseudonymizer_->UnlistedPseudonym(id);
}

std::string MaskView::Host(std::string_view host) const {
  if (!masking_ || host.empty()) return std::string(host);
  std::string folded = Folded(host);
  auto it = masker_->folded_.find(folded);
  if (it == masker_->folded_.end()) {
    // An FQDN of a directory host given by its short name.
    if (size_t dot = folded.find('.'); dot != std::string::npos && dot > 0) {
      it = masker_->folded_.find(std::string_view(folded).substr(0, dot));
    }
  }
  if (it != masker_->folded_.end() && it->second.host) {
    return Shown(it->second.person) ? std::string(host) : it->second.replacement;
  }
  return Text(host);
}

std::string MaskView::Text(std::string_view text) const {
  if (!masking_ || text.empty()) return std::string(text);
  // One lower-cased copy per call for case-insensitive lookups; offsets are shared with `text`
  // (ASCII folding keeps lengths).
  thread_local std::string lower_buf;
  lower_buf.assign(text);
  for (char& c : lower_buf) c = Lower(c);
  const std::string_view lower = lower_buf;

  std::string out;
  size_t copied = 0;  // text[copied, i) is still to be copied to out
  auto replace = [&](size_t at, size_t len, std::string_view with) {
    if (out.empty()) out.reserve(text.size() + 16);
    out.append(text.substr(copied, at - copied)).append(with);
    copied = at + len;
  };
  size_t i = 0;
  while (i < text.size()) {
    if (!IsWord(text[i]) || (i > 0 && IsWord(text[i - 1]))) {
      ++i;
      continue;
    }
    if (AfterHomePrefix(lower, i)) {
      size_t end = i;
      while (end < text.size() && !EndsSegment(text[end])) ++end;
      std::string_view segment = text.substr(i, end - i);
      auto key = masker_->folded_.find(lower.substr(i, end - i));
      if (key == masker_->folded_.end() || key->second.host) {
        // Not a known name with spaces ("C:\Users\Ann Lee"): the login ends at a space.
        size_t space = segment.find(' ');
        if (space != std::string_view::npos) {
          end = i + space;
          segment = segment.substr(0, space);
        }
        key = masker_->folded_.find(lower.substr(i, end - i));
      }
      if (!segment.empty() && !IsSharedProfile(lower.substr(i, end - i))) {
        if (key != masker_->folded_.end() && !key->second.host) {
          if (!Shown(key->second.person)) replace(i, end - i, key->second.replacement);
        } else {
          std::string id = CanonicalPersonId(segment);
          if (!IsRevealed(id)) {
            replace(i, end - i, masker_->pseudonymizer_->UnlistedPseudonym(id));
          }
        }
      }
      i = end;
      continue;
    }
    size_t len = 0;
    if (const IdentityMasker::Key* key = masker_->MatchAt(lower, i, &len)) {
      if (!Shown(key->person)) replace(i, len, key->replacement);
      i += len;
      continue;
    }
    while (i < text.size() && IsWord(text[i])) ++i;
  }
  if (copied == 0) return std::string(text);
  out.append(text.substr(copied));
  return out;
}

}  // namespace custos::collector::access
