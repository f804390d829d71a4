#pragma once

// Peers that speak the other port's protocol: a client's request on the worker port, a
// worker's message on the client port (issue 16: TASKMILL_BROKER exported for a client and
// read by a worker, or the reverse). The peer gets a REPLY whose error names the right
// endpoint (a client shows it as its call's error, a worker logs it); the broker counts each
// one (BrokerCounters::wrong_port, also in bad_frames) and warns at most once per interval
// per port, so a misconfigured fleet cannot flood the log.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "metrics/broker_counters.h"
#include "taskmill/shared/clock.h"
#include "taskmill/shared/error.h"
#include "taskmill/shared/protocol/messages.h"

namespace spdlog {
class logger;
}

namespace taskmill::broker {

// Which of the broker's ports the message arrived on.
enum class BrokerPort : uint8_t { kClient, kWorker };

// The error for the peer: `command` arrived on `port`, whose peers are the other kind; the
// other kind connects to `other_endpoint` (the broker's bound endpoint of the other port).
// Code unknown_command, as protocol.md section 1 asks for a command meant for the other
// direction.
Error WrongPortError(BrokerPort port, std::string_view command, const std::string& other_endpoint);

// The one handling of wrong-port traffic, for either port: counts it, logs the rate-limited
// warning and builds the REPLY the caller sends. One per service (ClientService for the
// client port, WorkerService for the worker port); reactor thread only. `counters` and
// `clock` are the broker's and outlive it.
class WrongPortGuard {
 public:
  WrongPortGuard(BrokerPort port, BrokerCounters& counters, const Clock& clock,
                 int64_t interval_ms = 10'000);
  // `command` arrived on this port with `req_id` (0 when the message has none): the REPLY
  // that tells the peer to connect to `other_endpoint`.
  protocol::Reply Refuse(std::string_view command, uint64_t req_id,
                         const std::string& other_endpoint);

 private:
  // Whether a warning may be logged now: then how many were held back since the last one
  // (the count restarts), else nullopt (and this one is held back).
  std::optional<uint64_t> AllowWarning();

  BrokerPort port_;
  BrokerCounters& counters_;
  const Clock& clock_;
  std::shared_ptr<spdlog::logger> log_;  // co-owned with spdlog's registry
  int64_t interval_ms_;
  int64_t next_ms_ = 0;      // monotonic ms before which warnings are held back
  uint64_t suppressed_ = 0;  // held back since the last one logged
};

}  // namespace taskmill::broker
