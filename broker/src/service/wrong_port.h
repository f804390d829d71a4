#pragma once

// Peers that speak the other port's protocol: a client's request on the worker port, a
// worker's message on the client port (issue 16: TASKMILL_BROKER exported for a client and
// read by a worker, or the reverse). The peer gets a REPLY whose error names the right
// endpoint (a client shows it as its call's error, a worker logs it); the broker counts each
// one (BrokerCounters::wrong_port) and warns at most once per interval per port, so a
// misconfigured fleet cannot flood the log.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "taskmill/shared/error.h"

namespace taskmill::broker {

// Which of the broker's ports the message arrived on.
enum class BrokerPort : uint8_t { kClient, kWorker };

// The error for the peer: `command` arrived on `port`, whose peers are the other kind; the
// other kind connects to `other_endpoint` (the broker's bound endpoint of the other port).
// Code unknown_command, as protocol.md section 1 asks for a command meant for the other
// direction.
Error WrongPortError(BrokerPort port, std::string_view command, const std::string& other_endpoint);

// Rate limit of the broker's warning. One per service; reactor thread only.
class WrongPortWarnings {
 public:
  explicit WrongPortWarnings(int64_t interval_ms = 10'000) : interval_ms_(interval_ms) {}
  // Whether a warning may be logged now (monotonic `now_ms`): then how many were held back
  // since the last one (the count restarts), else nullopt (and this one is held back).
  std::optional<uint64_t> Allow(int64_t now_ms);

 private:
  int64_t interval_ms_;
  int64_t next_ms_ = 0;      // monotonic ms before which warnings are held back
  uint64_t suppressed_ = 0;  // held back since the last one logged
};

}  // namespace taskmill::broker
