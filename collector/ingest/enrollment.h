// Enrollment and in-band certificate renewal. Internal to ingest, plus MintEnrollmentToken for
// the admin command. Tokens are random 256-bit secrets shown once; the store keeps only their
// SHA-256, an expiry and a use count. Thread-safe.
#pragma once

#include <chrono>
#include <string>

#include "collector/ingest/ingest.h"
#include "collector/store/store.h"
#include "common/time/clock.h"
#include "custos/v1/session.pb.h"

namespace custos::collector::ingest {

struct MintedToken {
  std::string token;  // the secret: give it to the agent installer, never log it
  store::EnrollmentTokenRecord record;
};
Result<MintedToken> MintEnrollmentToken(store::Store* store, Clock* clock, std::chrono::seconds ttl,
                                        uint32_t max_uses, std::string note);

class Enroller {
 public:
  Enroller(const Pki& pki, store::Store* store, Clock* clock, std::chrono::hours validity)
      : pki_(pki), store_(store), clock_(clock), validity_(validity) {}
  // Checks and uses the token, signs the CSR for a new agent id, records the agent.
  Result<custos::v1::EnrollAck> Enroll(const custos::v1::Enroll& request);
  // Signs a new certificate for an already-authenticated, non-revoked agent.
  Result<custos::v1::RenewAck> Renew(const std::string& agent_id, const custos::v1::Renew& request);

 private:
  const Pki& pki_;
  store::Store* store_;
  Clock* clock_;
  std::chrono::hours validity_;
};

}  // namespace custos::collector::ingest
