#include "collector/ingest/enrollment.h"

#include "common/crypto/crypto.h"

namespace custos::collector::ingest {

namespace {
int64_t ToNs(std::chrono::system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}
}  // namespace

Result<MintedToken> MintEnrollmentToken(store::Store* store, Clock* clock, std::chrono::seconds ttl,
                                        uint32_t max_uses, std::string note) {
  if (max_uses == 0) return InvalidArgumentError("enrollment token: uses must be at least 1");
  if (ttl.count() <= 0) return InvalidArgumentError("enrollment token: ttl must be positive");
  MintedToken m;
  CUSTOS_ASSIGN_OR_RETURN(std::string secret, crypto::RandomToken(32));
  m.token = "cet_" + secret;
  std::string hash = crypto::Sha256(m.token);
  m.record.id = "tok_" + crypto::HexEncode(hash).substr(0, 12);
  m.record.created_at_ns = clock->NowUnixNs();
  m.record.expires_at_ns =
      m.record.created_at_ns + std::chrono::duration_cast<std::chrono::nanoseconds>(ttl).count();
  m.record.max_uses = max_uses;
  m.record.note = std::move(note);
  CUSTOS_RETURN_IF_ERROR(store->CreateEnrollmentToken(m.record, hash));
  return m;
}

Result<custos::v1::EnrollAck> Enroller::Enroll(const custos::v1::Enroll& request) {
  if (request.token().empty() || request.token().size() > 256) {
    return PermissionDeniedError("enrollment token: missing or malformed");
  }
  if (request.csr_pem().empty() || request.csr_pem().size() > 16384) {
    return InvalidArgumentError("enroll: CSR missing or too large");
  }
  const auto& host = request.host();
  if (host.hostname().empty() || host.hostname().size() > 255) {
    return InvalidArgumentError("enroll: hostname missing or too long");
  }
  // Check the CSR (no CA key involved) before using up the token, so a broken agent does not
  // burn it; use up the token before the CA key signs anything.
  CUSTOS_RETURN_IF_ERROR(crypto::CheckCsr(request.csr_pem()));
  CUSTOS_ASSIGN_OR_RETURN(
      store::EnrollmentTokenRecord token,
      store_->ConsumeEnrollmentToken(crypto::Sha256(request.token()), clock_->NowUnixNs()));
  CUSTOS_ASSIGN_OR_RETURN(std::string id_bytes, crypto::RandomBytes(16));
  std::string agent_id = crypto::HexEncode(id_bytes);
  crypto::CaMaterial ca{pki_.ca_cert_pem, pki_.ca_key_pem};
  CUSTOS_ASSIGN_OR_RETURN(crypto::IssuedCertificate cert,
                          crypto::SignAgentCsr(ca, request.csr_pem(), agent_id, validity_));
  store::AgentRecord record;
  record.agent_id = agent_id;
  record.hostname = host.hostname();
  record.os = host.os() + (host.os_version().empty() ? "" : " " + host.os_version());
  record.machine_id = host.machine_id().substr(0, 64);
  record.agent_version = host.agent_version().substr(0, 64);
  record.enrolled_at_ns = clock_->NowUnixNs();
  record.cert_serial = cert.info.serial_hex;
  record.cert_not_after_ns = ToNs(cert.info.not_after);
  record.enrollment_token_id = token.id;
  CUSTOS_RETURN_IF_ERROR(store_->RegisterAgent(record).status());
  custos::v1::EnrollAck ack;
  ack.set_agent_id(agent_id);
  ack.set_certificate_pem(cert.cert_pem);
  ack.set_ca_chain_pem(pki_.ca_cert_pem);
  return ack;
}

Result<custos::v1::RenewAck> Enroller::Renew(const std::string& agent_id,
                                             const std::string& presented_serial,
                                             const custos::v1::Renew& request) {
  CUSTOS_ASSIGN_OR_RETURN(store::AgentRecord agent, store_->FindAgent(agent_id));
  if (agent.revoked_at_ns) return PermissionDeniedError("agent " + agent_id + ": revoked");
  // With the replaced certificate the agent never got (or never used) its renewal: renew again.
  const bool lost_renewal =
      !agent.prev_cert_serial.empty() && presented_serial == agent.prev_cert_serial;
  const int64_t window_ns = static_cast<int64_t>(
      static_cast<double>(std::chrono::nanoseconds(validity_).count()) * renew_fraction_);
  const int64_t opens_ns = agent.cert_not_after_ns - window_ns;
  if (!lost_renewal && clock_->NowUnixNs() < opens_ns) {
    return FailedPreconditionError(
        "renewal too early: the certificate may be renewed once less than " +
        std::to_string(static_cast<int>(renew_fraction_ * 100)) + "% of its validity is left");
  }
  crypto::CaMaterial ca{pki_.ca_cert_pem, pki_.ca_key_pem};
  CUSTOS_ASSIGN_OR_RETURN(crypto::IssuedCertificate cert,
                          crypto::SignAgentCsr(ca, request.csr_pem(), agent_id, validity_));
  CUSTOS_RETURN_IF_ERROR(
      store_->UpdateAgentCertificate(agent_id, cert.info.serial_hex, ToNs(cert.info.not_after)));
  custos::v1::RenewAck ack;
  ack.set_certificate_pem(cert.cert_pem);
  return ack;
}

}  // namespace custos::collector::ingest
