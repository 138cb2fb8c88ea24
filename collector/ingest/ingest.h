// collector/ingest: the agents' door. Accepts TLS 1.3 connections (ALPN custos/1), enrolls new
// agents, runs custos/1 sessions (docs/wire-protocol.md) and acks batches only after the store
// has committed them.
//
// Threads: `io_threads` threads run one io_context; each session is serialised on its strand.
// Frames are decoded and validated on the I/O threads (decompression and protobuf parsing run in
// parallel across sessions). One committer thread takes every batch that is waiting, from all
// agents, and commits them in one store transaction (group commit), then posts each session's
// ACK back to its strand.
//
// Identity: an agent is who its verified client certificate says (URI SAN
// urn:custos:agent:<id>); nothing the agent sends can change that. A session without a client
// certificate may only ENROLL, then it is closed.
//
// Isolation: anything malformed (frame, protobuf, zstd, order, window) closes only that session
// with an ERROR frame and a logged reason, and is counted in custos_ingest_rejected_total{reason}.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "collector/store/store.h"
#include "common/metrics/metrics.h"
#include "common/status/status.h"
#include "common/time/clock.h"

namespace custos::collector::ingest {

// The collector's CA and server identity, loaded from the data directory.
struct Pki {
  std::string ca_cert_pem;
  std::string ca_key_pem;
  std::string server_cert_pem;
  std::string server_key_pem;
};

struct IngestOptions {
  std::string listen_host = "0.0.0.0";
  uint16_t port = 7443;  // 0 picks a free port (see IngestServer::port)
  int io_threads = 0;    // 0 = one per core
  uint32_t max_frame_bytes = 4u << 20;
  uint64_t max_batch_uncompressed_bytes = 32u << 20;
  uint32_t max_batch_events = 20000;
  uint32_t window_batches = 16;
  uint32_t max_sessions = 20000;
  std::chrono::milliseconds handshake_timeout{5'000};
  std::chrono::milliseconds idle_timeout{120'000};
  std::chrono::hours agent_certificate_validity{24 * 30};
  // Before authentication (TLS handshake, or a session without a client certificate that may
  // only ENROLL), memory is bounded: at most max_preauth_per_address such sessions per source
  // address and max_preauth_sessions in all, each frame but BATCH at most
  // max_control_frame_bytes (refused from its header, before its body is read), and an
  // enroll-only session that has not enrolled within preauth_timeout is closed.
  uint32_t max_preauth_per_address = 64;
  uint32_t max_preauth_sessions = 1024;
  uint32_t max_control_frame_bytes = 32u << 10;
  std::chrono::milliseconds preauth_timeout{10'000};
  // Failed enrollment attempts (bad token, bad CSR) per source address: a burst, then this many
  // per minute (0 = no limit). An address out of failures is refused before its token is
  // looked at; successful enrollments cost nothing, so a mass deployment is never slowed.
  uint32_t enroll_failures_per_minute = 20;
  uint32_t enroll_failures_burst = 10;
  // Renewal is accepted once less than this fraction of the certificate's validity is left
  // (the agent asks at 1/3), at most renewals_per_day times per agent.
  double renew_when_remaining_fraction = 0.5;
  uint32_t renewals_per_day = 6;
  // How often live sessions are checked against revocations (made by `agent revoke` in another
  // process): a revoked agent's session is closed within this interval.
  std::chrono::milliseconds revocation_check_interval{500};
  // One event's serialized size: a larger event is stored as an events_lost record saying the
  // collector refused it (its seq stays accounted for), and counted.
  uint32_t max_event_bytes = 1u << 20;
  // Per-agent quota on decoded bytes: a bucket of agent_quota_burst_bytes refilled at
  // agent_quota_bytes_per_minute. A batch over it is refused with a retryable OVERLOADED error
  // (the agent keeps it in its spool and retries with backoff) and counted in
  // custos_ingest_quota_refusals_total. 0 = no quota.
  uint64_t agent_quota_bytes_per_minute = 256ull << 20;
  uint64_t agent_quota_burst_bytes = 1ull << 30;
  // Largest number of events one group commit takes (bounds commit latency).
  uint32_t max_events_per_commit = 200'000;
  // Backpressure: above this many decoded events waiting for a commit, sessions stop reading
  // their sockets (TCP flow control then slows the agents) until the queue is half empty. Bounds
  // memory and ack latency when agents send faster than the store commits.
  uint64_t max_queued_events = 200'000;
  // The same backpressure by bytes: decoded batches waiting for a commit.
  uint64_t max_queued_bytes = 256u << 20;
  // Group-commit pacing: with little queued, wait up to this long to gather more per commit.
  std::chrono::milliseconds max_commit_delay{50};
  // Called on the committer thread after every successful group commit (e.g. to wake scoring).
  // Must be cheap and must not block.
  std::function<void()> on_committed;
};

class IngestServer {
 public:
  // Binds and starts serving. `store`, `registry` and `clock` must outlive the server.
  static Result<std::unique_ptr<IngestServer>> Start(const IngestOptions& options, const Pki& pki,
                                                     store::Store* store,
                                                     metrics::Registry* registry, Clock* clock);
  virtual ~IngestServer() = default;
  virtual uint16_t port() const = 0;
  // Stops accepting, closes sessions, drains the committer (batches already committed are
  // acked if their session is still open). Idempotent.
  virtual void Stop() = 0;
};

}  // namespace custos::collector::ingest
