#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <zmq.hpp>

#include "taskmill/shared/curve_keys.h"
#include "taskmill/shared/error.h"
#include "taskmill/shared/protocol/codec.h"

namespace taskmill::testing {

// A minimal synchronous client for integration tests: one DEALER socket speaking the wire
// protocol directly, so broker tests do not depend on the client library.
// Thread: the test's thread. Owner: the test.
class WireClient {
 public:
  // How the socket connects: CURVE keys (none: plain) and a routing id (empty: libzmq's).
  struct Options {
    std::optional<CurveClientKeys> curve;
    std::string routing_id;
  };
  explicit WireClient(const std::string& endpoint);
  WireClient(const std::string& endpoint, const Options& options);

  // Sends a request (its req_id is set here) and waits for the REPLY with that req_id;
  // RESULT and EVENT pushes that arrive meanwhile are kept for NextPush.
  Result<protocol::Reply> Call(protocol::Message request, int64_t timeout_ms = 10000);
  // Sends raw frames (hostile-input tests).
  void SendRaw(const std::vector<std::string>& frames);
  // The next RESULT or EVENT push, waiting up to timeout_ms.
  Result<protocol::Message> NextPush(int64_t timeout_ms);
  // The next message of any kind (a REPLY to a raw send, say).
  Result<protocol::Message> Receive(int64_t timeout_ms);

 private:
  zmq::context_t ctx_{1};
  zmq::socket_t socket_;
  uint64_t next_req_id_ = 1;
  std::deque<protocol::Message> pushes_;  // pushes received while waiting for a reply
};

}  // namespace taskmill::testing
