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
  // renew_fraction: renewal opens once less than this fraction of `validity` is left.
  Enroller(const Pki& pki, store::Store* store, Clock* clock, std::chrono::hours validity,
           double renew_fraction = 0.5)
      : pki_(pki),
        store_(store),
        clock_(clock),
        validity_(validity),
        renew_fraction_(renew_fraction) {}
  // Checks the CSR, uses the token (before the CA key signs anything), signs the CSR for a new
  // agent id, records the agent. Writes to the store: call it off the I/O threads.
  Result<custos::v1::EnrollAck> Enroll(const custos::v1::Enroll& request);
  // Signs a new certificate for an already-authenticated, non-revoked agent that presented the
  // certificate `presented_serial`. FailedPrecondition while renewal is not open yet (more than
  // renew_fraction of the validity left), unless the agent presented the certificate its last
  // renewal replaced (it never received the new one). Writes to the store.
  Result<custos::v1::RenewAck> Renew(const std::string& agent_id,
                                     const std::string& presented_serial,
                                     const custos::v1::Renew& request);

 private:
  const Pki& pki_;
  store::Store* store_;
  Clock* clock_;
  std::chrono::hours validity_;
  double renew_fraction_;
};

}  // namespace custos::collector::ingest
