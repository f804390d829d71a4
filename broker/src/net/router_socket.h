#pragma once

#include <cstdint>
#include <string>
#include <vector>
#include <zmq.hpp>

#include "net/send_budget.h"
#include "taskmill/shared/curve_keys.h"
#include "taskmill/shared/error.h"
#include "taskmill/shared/protocol/codec.h"

namespace taskmill::broker {

// One inbound message: the peer's routing identity and the frames after it.
struct Inbound {
  std::string identity;
  std::vector<zmq::message_t> frames;
  int src_fd = -1;  // the connection's file descriptor (ZMQ_SRCFD); -1: unknown
  std::string user_id;  // the connection's ZAP user id (its CURVE key in Z85); "" without CURVE
};

struct RouterOptions {
  uint64_t max_frame_bytes = 16u << 20;  // ZMQ_MAXMSGSIZE: larger frames drop the peer
  int send_hwm = 100'000;                // per-peer outbound queue, in messages
  int recv_hwm = 100'000;
  int handshake_ms = 2000;  // a connection that has not said hello by then is dropped
  // A new connection with a known identity takes it over. Off on both sockets: a peer that
  // knew (or guessed) another's routing id would receive everything sent to it.
  bool handover = false;
};

// A bound ROUTER socket with ROUTER_MANDATORY on, so a send to a peer that is gone is an
// error we count instead of a silent drop. The one place cppzmq is called for the
// broker's sockets: its exceptions stop here.
// Thread: the reactor thread only. Owner: the Broker.
class RouterSocket {
 public:
  RouterSocket(zmq::context_t& ctx, const RouterOptions& options);

  // Makes it a CURVE server with this key pair (ZAP domain "taskmill"). Before Bind.
  Result<void> EnableCurveServer(const CurveKeyPair& keys);
  Result<void> Bind(const std::string& endpoint);
  // The endpoint actually bound (resolves tcp://127.0.0.1:* to a port).
  std::string LastEndpoint() const;
  // Receives one message if one is waiting; false when none is.
  bool TryReceive(Inbound& out);
  enum class Delivery : uint8_t { kSent, kQueueFull, kGone };
  // Sends a message to a peer: kGone if the peer is unknown (disconnected), kQueueFull if
  // its outbound queue is at the high-water mark or over its byte budget (SetBudget). Either
  // way the message is dropped.
  Delivery Deliver(const std::string& identity, const protocol::Frames& frames);
  // Deliver, for callers that only care whether it was sent.
  bool Send(const std::string& identity, const protocol::Frames& frames) {
    return Deliver(identity, frames) == Delivery::kSent;
  }
  // Bytes queued per peer are bounded by `budget` (null: only the high-water mark). The
  // budget must outlive the socket's use.
  void SetBudget(SendBudget* budget) { budget_ = budget; }
  void* handle() { return socket_.handle(); }
  // Closes the socket; what is still queued gets up to linger_ms to leave.
  void Close(int linger_ms = 0) {
    if (linger_ms > 0 && socket_.handle() != nullptr) socket_.set(zmq::sockopt::linger, linger_ms);
    socket_.close();
  }

  uint64_t send_failures() const { return send_failures_; }

 private:
  zmq::socket_t socket_;
  uint64_t send_failures_ = 0;  // sends refused (peer gone, HWM or byte budget)
  SendBudget* budget_ = nullptr;  // may be null
};

}  // namespace taskmill::broker
