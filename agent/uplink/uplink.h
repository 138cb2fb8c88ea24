// agent/uplink: the agent's side of protocol custos/1 (docs/wire-protocol.md).
//
//  - EnrollAgent: one blocking exchange on a session without a client certificate: generate a
//    P-256 key on this host, send ENROLL (token + CSR + host facts), receive the signed
//    certificate. The collector CA is pinned from the installer, never learned from the network.
//  - UplinkClient: a long-lived mTLS session that streams batches from a StreamSource: HELLO,
//    resume from the collector's last committed seq, a window of unacked batches, cumulative
//    ACKs passed back to the source (which may then free its spool), PING when idle, reconnect
//    with full-jitter exponential backoff, halving the batch size when the collector says a
//    batch is too large, and in-band certificate renewal before expiry.
//
// Threading: UplinkRuntime owns an io_context and its threads; many clients may share one
// runtime (the load generator runs hundreds). A client's callbacks into its StreamSource run on
// the runtime's threads, serialised per client. Notify() and Stop() are thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "common/metrics/metrics.h"
#include "common/status/status.h"
#include "custos/v1/session.pb.h"

namespace custos::agent::uplink {

struct Endpoint {
  std::string host;  // address to connect to
  uint16_t port = 7443;
  std::string server_name;  // name checked against the collector certificate (default: host)
};

struct Credentials {
  std::string agent_id;
  std::string ca_pem;    // pinned collector CA
  std::string cert_pem;  // this agent's certificate
  std::string key_pem;   // this agent's private key (store 0600)
};

struct EnrollRequest {
  Endpoint endpoint;
  std::string ca_pem;
  std::string token;
  custos::v1::HostFacts host;
  std::chrono::milliseconds timeout{15000};
};

// Errors: PermissionDenied when the collector refuses (reason included), Unavailable when it
// cannot be reached, InvalidArgument for a bad CA.
Result<Credentials> EnrollAgent(const EnrollRequest& request);

// A batch ready to send: `body` is a serialized custos.v1.Batch.
struct OutgoingBatch {
  uint64_t first_seq = 0;
  uint32_t count = 0;
  std::string body;
};

// What the client streams. Called on the runtime's threads, one call at a time per client.
class StreamSource {
 public:
  virtual ~StreamSource() = default;
  virtual uint64_t Epoch() = 0;
  // Oldest seq not yet acknowledged, 0 when everything is acknowledged.
  virtual uint64_t OldestUnackedSeq() = 0;
  // The batch starting exactly at from_seq (at most max_events events and about
  // max_uncompressed_bytes before compression), or nullopt when nothing is ready yet.
  virtual std::optional<OutgoingBatch> NextBatch(uint64_t from_seq, uint32_t max_events,
                                                 uint64_t max_uncompressed_bytes) = 0;
  // Every seq <= committed_seq is durably stored by the collector.
  virtual void OnAcked(uint64_t committed_seq) = 0;
};

class UplinkRuntime {
 public:
  static std::unique_ptr<UplinkRuntime> Create(int threads);
  virtual ~UplinkRuntime() = default;
  // Stops every client and joins the threads. Idempotent.
  virtual void Shutdown() = 0;
};

struct UplinkOptions {
  Endpoint endpoint;
  Credentials credentials;
  std::string agent_version = "0.1.0";
  std::string hostname;
  uint32_t max_batch_events = 2000;  // lowered further by the collector's HELLO_ACK limits
  std::chrono::milliseconds backoff_initial{200};
  std::chrono::milliseconds backoff_max{30000};
  std::chrono::milliseconds connect_timeout{10000};
  std::chrono::milliseconds ping_interval{30000};
  // When the source had nothing, ask again after this long (Notify() asks at once).
  std::chrono::milliseconds poll_interval{100};
  // Renew the certificate when less than this fraction of its validity is left.
  double renew_when_remaining_fraction = 1.0 / 3.0;
  // Called (on a runtime thread) with new credentials after an in-band renewal; persist them.
  std::function<void(const Credentials&)> on_renewed;
  // Optional: observes seconds from sending a batch to its ACK.
  metrics::Histogram* ack_latency = nullptr;
};

struct UplinkStats {
  bool connected = false;
  uint64_t acked_seq = 0;
  uint64_t batches_sent = 0;
  uint64_t bytes_sent = 0;
  uint64_t connects = 0;
  uint64_t disconnects = 0;
  std::string last_error;
  bool fatal = false;  // revoked or unauthenticated: the client stopped retrying
};

class UplinkClient {
 public:
  // Starts connecting at once. `source` must outlive the client.
  static std::unique_ptr<UplinkClient> Start(UplinkRuntime* runtime, UplinkOptions options,
                                             StreamSource* source);
  virtual ~UplinkClient() = default;
  // New data is ready: ask the source now instead of at the next poll.
  virtual void Notify() = 0;
  // Closes the session and stops reconnecting; waits until no callback is running.
  virtual void Stop() = 0;
  virtual UplinkStats Stats() const = 0;
};

}  // namespace custos::agent::uplink
