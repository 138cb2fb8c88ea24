// collector/access/pseudonym.h: pseudonyms for people and the masking of identities in what
// the API, the CLI and exports show (issue 18, "Pseudonymisation by default"; docs/privacy.md).
//
// A person's pseudonym is a stable keyed code:
//   "Anon-" + the first 10 hex digits (upper-case) of HMAC-SHA-256(key, "person\0" + id)
// where id is the canonical person id (CanonicalPersonId: e-mail addresses lower-cased, logins
// as they are) and key is 32 secret random bytes kept in DATA_DIR/pseudonym.key (mode 0600).
// The same person has the same pseudonym in every response, table and export, across restarts
// and collectors sharing the key; without the key a pseudonym cannot be linked to a person.
//
// Collisions: 10 hex digits are 40 bits. By the birthday bound, n people share some code with
// probability about n^2 / 2^41: 5e-5 for 10k people, 5e-3 for 100k (8 digits, 32 bits, would be
// 1.2% at 10k). Codes are never extended or renumbered on a collision (that would change a
// person's pseudonym when someone else joins the directory); IdentityMasker::collisions() lists
// any so the collector can warn, and a reveal is always by person id, never by code, so a
// collision can mislead correlation but never reveal the wrong person.
//
// IdentityMasker is built from the directory (people and logins) and masks, for one viewer,
// person fields, host names and free text (paths, command lines, summaries). What it masks and
// how is specified in docs/privacy.md.
//
// Threading: Pseudonymizer and IdentityMasker are immutable after construction and safe to use
// from any number of threads. A MaskView borrows its IdentityMasker, which must outlive it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "collector/store/risk_store.h"
#include "common/crypto/crypto.h"
#include "common/status/status.h"

namespace custos::collector::access {

inline constexpr size_t kPseudonymKeyBytes = 32;
inline constexpr size_t kPseudonymHexDigits = 10;
// A person of the directory (or any person id given to Pseudonym()).
inline constexpr std::string_view kPseudonymPrefix = "Anon-";
// A person the directory does not list: a login seen only on an endpoint (a home directory, an
// event's user) or an e-mail address the directory lacks. Same hex as Pseudonym(id).
inline constexpr std::string_view kUnlistedPrefix = "Anon-U-";
// A host that the directory assigns to one person.
inline constexpr std::string_view kHostPrefix = "Host-";

// The pseudonym key at `path`: its 32 bytes. When the file is missing, creates it with 32 random
// bytes, mode 0600, atomically (written to a temporary file beside it, then linked into place:
// never a partial key; when two processes race, both end up with the winner's key).
// Errors: PermissionDenied when the file is readable or writable by group or others, or is not
// a regular file; DataLoss when it is not exactly 32 bytes; else the errno error, e.g.
// "pseudonym key: /var/lib/custos/collector/pseudonym.key: Permission denied".
Result<std::string> LoadOrCreatePseudonymKey(const std::string& path);

// The canonical form of a person id: an e-mail address (contains '@') lower-cased (ASCII), a
// login as it is. Matches the API's PersonId and scoring's person ids.
std::string CanonicalPersonId(std::string_view person);

class Pseudonymizer {
 public:
  // `key`: kPseudonymKeyBytes bytes (CHECKed).
  explicit Pseudonymizer(std::string key);

  // "Anon-" + 10 upper-case hex digits of HMAC-SHA-256(key, "person\0" + canonical id).
  std::string Pseudonym(std::string_view person_id) const;
  // The same code for a person the directory does not list: "Anon-U-" + the same 10 digits.
  std::string UnlistedPseudonym(std::string_view person_id) const;
  // "Host-" + 10 digits of HMAC-SHA-256(key, "host\0" + host lower-cased).
  std::string HostPseudonym(std::string_view host) const;

 private:
  std::string Code(std::string_view domain, std::string_view value) const;
  crypto::HmacSha256Key key_;
};

// Two or more directory people whose pseudonyms are equal.
struct PseudonymCollision {
  std::string pseudonym;
  std::vector<std::string> people;  // canonical ids, sorted
};

class IdentityMasker;

// What one viewer may see: a borrowed IdentityMasker plus the people revealed to the viewer (or
// nothing masked at all, when pseudonymisation is off for the organisation). Cheap to make per
// request; copyable.
class MaskView {
 public:
  // Any way of naming a person — canonical id, e-mail (any case), display name, login, manager
  // field — to what the viewer sees: the value itself when the person is revealed to the viewer
  // (or nothing is masked), else the person's pseudonym; a value the directory does not know is
  // an unlisted person named by the value ("Anon-U-..."); a name or login two directory people
  // share is masked with a code of the name, revealed to no one. "" stays "".
  std::string Person(std::string_view value) const;

  // A host name: a host the directory assigns to exactly one person (logins rows with a host;
  // the full name or its first label) becomes "Host-..." unless that person is revealed;
  // otherwise logins, e-mail addresses and display names embedded in it as whole tokens are
  // replaced ("alice-laptop.corp" -> "Anon-7F3A21C9AB-laptop.corp"), as in Text().
  std::string Host(std::string_view host) const;

  // Free text and paths, in one pass:
  //  - the segment after "/home/", "/Users/" or "\Users\" (any case, any drive, mixed slashes)
  //    is a login: a known one becomes its person's pseudonym, an unknown one an unlisted
  //    pseudonym of the login ("/home/zed/x" -> "/home/Anon-U-0A1B2C3D4E/x"); "Public",
  //    "Default", "Default User", "All Users", "Shared" are left alone;
  //  - every other occurrence of a known login, e-mail, display name or personal host as a whole
  //    token sequence (delimited by anything but ASCII letters, digits and non-ASCII bytes, case
  //    ignored) is replaced. Keys shorter than 2 characters are matched only as home segments.
  // Revealed people stay in clear text.
  std::string Text(std::string_view text) const;

  // True when `person_id` (canonical) is shown in clear text to this viewer.
  bool IsRevealed(std::string_view person_id) const;
  // False when pseudonymisation is off: every method returns its input.
  bool masking() const { return masking_; }

 private:
  friend class IdentityMasker;
  MaskView(const IdentityMasker* masker, bool masking, std::vector<std::string> revealed);
  bool Shown(int32_t person) const;

  const IdentityMasker* masker_;
  bool masking_;
  std::vector<std::string> revealed_;  // canonical person ids, sorted
};

class IdentityMasker {
 public:
  // Copies what it needs; `pseudonymizer` is used only during construction (codes of directory
  // people, hosts and keys are precomputed) and for unknown home-directory logins, so it must
  // outlive the masker.
  IdentityMasker(const Pseudonymizer* pseudonymizer, std::span<const store::PersonRecord> people,
                 std::span<const store::LoginRecord> logins);
  IdentityMasker(const IdentityMasker&) = delete;
  IdentityMasker& operator=(const IdentityMasker&) = delete;

  // The view of a viewer holding live reveals for `revealed_person_ids` (any form Person()
  // accepts; canonicalised here). Borrows *this.
  MaskView ForViewer(std::span<const std::string> revealed_person_ids) const;
  // Pseudonymisation off for the organisation: nothing is masked.
  MaskView Unmasked() const;

  // The canonical ids of the directory people whose pseudonym is `pseudonym` ("Anon-..." or the
  // same code as "Anon-U-..."; any case): how a reveal request made by pseudonym finds its
  // person. Empty when no directory person has it (an unlisted person: resolve from the alert
  // or case that showed it); two or more on a collision.
  std::vector<std::string> Resolve(std::string_view pseudonym) const;

  const std::vector<PseudonymCollision>& collisions() const { return collisions_; }
  size_t people() const { return people_.size(); }

 private:
  friend class MaskView;
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  using Map = std::unordered_map<std::string, int32_t, Hash, std::equal_to<>>;
  static constexpr int32_t kAmbiguous = -1;

  struct Person {
    std::string id;         // canonical
    std::string pseudonym;  // "Anon-..."
  };
  // A lower-cased key of the free-text dictionary.
  struct Key {
    int32_t person = kAmbiguous;  // index into people_, or kAmbiguous (two people share it)
    std::string replacement;
    bool host = false;  // a personal host name (replacement "Host-...")
  };

  void AddKey(std::string_view key, int32_t person, std::string replacement, bool host);
  // Sets *person to the person `value` names (id, name or login, exact or any case), or
  // kAmbiguous; returns the folded key it matched, if it matched one.
  const Key* FindPerson(std::string_view value, int32_t* person) const;
  // Longest dictionary key starting at token `start` of `lower`, or nullptr; sets *len.
  const Key* MatchAt(std::string_view lower, size_t start, size_t* len) const;

  const Pseudonymizer* pseudonymizer_;
  std::vector<Person> people_;
  Map exact_;  // canonical id, display name, login (exact case) -> person or kAmbiguous
  std::unordered_map<std::string, Key, Hash, std::equal_to<>> folded_;  // lower-cased keys
  // First token (lower-cased) of every key of 2+ characters -> the most tokens of such a key.
  std::unordered_map<std::string, uint8_t, Hash, std::equal_to<>> first_tokens_;
  std::vector<PseudonymCollision> collisions_;
  // The 10 hex digits of each directory person's pseudonym -> people_ indexes.
  std::unordered_map<std::string, std::vector<int32_t>, Hash, std::equal_to<>> by_code_;
};

}  // namespace custos::collector::access
