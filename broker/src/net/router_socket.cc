#include "net/router_socket.h"

#include "taskmill/shared/log.h"

namespace taskmill::broker {

RouterSocket::RouterSocket(zmq::context_t& ctx, const RouterOptions& options)
    : socket_(ctx, zmq::socket_type::router) {
  socket_.set(zmq::sockopt::router_mandatory, 1);
  socket_.set(zmq::sockopt::maxmsgsize, static_cast<int64_t>(options.max_frame_bytes));
  socket_.set(zmq::sockopt::sndhwm, options.send_hwm);
  socket_.set(zmq::sockopt::rcvhwm, options.recv_hwm);
  socket_.set(zmq::sockopt::handshake_ivl, options.handshake_ms);
  socket_.set(zmq::sockopt::linger, 0);
  if (options.handover) socket_.set(zmq::sockopt::router_handover, 1);
}

Result<void> RouterSocket::EnableCurveServer(const CurveKeyPair& keys) {
  return ApplyCurveServer(socket_.handle(), keys);
}

Result<void> RouterSocket::Bind(const std::string& endpoint) {
  try {
    socket_.bind(endpoint);
  } catch (const zmq::error_t& e) {
    return MakeError(ErrorCode::kInvalidArgument, "cannot bind " + endpoint + ": " + e.what());
  }
  return {};
}

std::string RouterSocket::LastEndpoint() const {
  try {
    return socket_.get(zmq::sockopt::last_endpoint);
  } catch (const zmq::error_t&) {
    return "";
  }
}

bool RouterSocket::TryReceive(Inbound& out) {
  out.frames.clear();
  out.src_fd = -1;
  try {
    zmq::message_t identity;
    if (!socket_.recv(identity, zmq::recv_flags::dontwait)) return false;
    out.identity.assign(static_cast<const char*>(identity.data()), identity.size());
    out.user_id.clear();
    while (socket_.get(zmq::sockopt::rcvmore)) {
      zmq::message_t part;
      if (!socket_.recv(part, zmq::recv_flags::none)) break;
      if (out.frames.empty()) {
        // Metadata travels on the peer's frames (not on the routing id ROUTER prepends).
        if (const char* uid = zmq_msg_gets(part.handle(), "User-Id")) out.user_id = uid;
      }
      // A hostile peer could send thousands of frames; only 3 are valid, keep a few to report.
      if (out.frames.size() < 8) out.frames.push_back(std::move(part));
    }
    // The routing-id frame is the ROUTER's own; the peer's frames carry the descriptor.
    if (!out.frames.empty()) out.src_fd = zmq_msg_get(out.frames[0].handle(), ZMQ_SRCFD);
  } catch (const zmq::error_t& e) {
    Logger("broker.net")->warn("receive failed: {}", e.what());
    return false;
  }
  return true;
}

RouterSocket::Delivery RouterSocket::Deliver(const std::string& identity,
                                             const protocol::Frames& frames) {
  uint64_t bytes =
      identity.size() + frames.version.size() + frames.command.size() + frames.body.size();
  if (budget_ != nullptr && !budget_->Admit(identity, bytes)) {
    ++send_failures_;
    return Delivery::kQueueFull;
  }
  try {
    auto more = zmq::send_flags::sndmore | zmq::send_flags::dontwait;
    if (!socket_.send(zmq::buffer(identity), more)) {
      ++send_failures_;
      if (budget_ != nullptr) budget_->Refund(identity, bytes);
      return Delivery::kQueueFull;
    }
    socket_.send(zmq::buffer(frames.version), more);
    socket_.send(zmq::buffer(frames.command), more);
    socket_.send(zmq::buffer(frames.body), zmq::send_flags::dontwait);
    return Delivery::kSent;
  } catch (const zmq::error_t& e) {
    // EHOSTUNREACH: the peer disconnected (ROUTER_MANDATORY). The message is dropped and
    // counted; whatever it carried is recovered by leases or a later request.
    ++send_failures_;
    if (budget_ != nullptr) budget_->Refund(identity, bytes);
    Logger("broker.net")->debug("send failed: {}", e.what());
    return e.num() == EHOSTUNREACH ? Delivery::kGone : Delivery::kQueueFull;
  }
}

}  // namespace taskmill::broker
