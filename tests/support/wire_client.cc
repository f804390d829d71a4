#include "support/wire_client.h"

#include <chrono>

namespace taskmill::testing {

WireClient::WireClient(const std::string& endpoint) : WireClient(endpoint, Options{}) {}

WireClient::WireClient(const std::string& endpoint, const Options& options)
    : socket_(ctx_, zmq::socket_type::dealer) {
  socket_.set(zmq::sockopt::linger, 0);
  if (!options.routing_id.empty()) socket_.set(zmq::sockopt::routing_id, options.routing_id);
  if (options.curve) (void)ApplyCurveClient(socket_.handle(), *options.curve);
  socket_.connect(endpoint);
}

void WireClient::SendRaw(const std::vector<std::string>& frames) {
  for (size_t i = 0; i < frames.size(); ++i) {
    socket_.send(zmq::buffer(frames[i]),
                 i + 1 < frames.size() ? zmq::send_flags::sndmore : zmq::send_flags::none);
  }
}

Result<protocol::Message> WireClient::Receive(int64_t timeout_ms) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (true) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    zmq::pollitem_t item{socket_.handle(), 0, ZMQ_POLLIN, 0};
    zmq::poll(&item, 1, std::max(left, std::chrono::milliseconds(0)));
    if (!(item.revents & ZMQ_POLLIN)) {
      return MakeError(ErrorCode::kTimeout,
                       "no message within " + std::to_string(timeout_ms) + " ms");
    }
    std::vector<zmq::message_t> parts;
    do {
      zmq::message_t m;
      (void)socket_.recv(m);
      parts.push_back(std::move(m));
    } while (socket_.get(zmq::sockopt::rcvmore));
    std::vector<std::string_view> views;
    for (auto& p : parts) views.emplace_back(static_cast<const char*>(p.data()), p.size());
    return protocol::Decode(views);
  }
}

Result<protocol::Reply> WireClient::Call(protocol::Message request, int64_t timeout_ms) {
  uint64_t req_id = next_req_id_++;
  std::visit(
      [&](auto& m) {
        if constexpr (requires { m.req_id; }) m.req_id = req_id;
      },
      request);
  auto frames = protocol::Encode(request);
  SendRaw({frames.version, frames.command, frames.body});
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (true) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                    deadline - std::chrono::steady_clock::now())
                    .count();
    auto msg = Receive(std::max<int64_t>(left, 0));
    if (!msg) return std::unexpected(msg.error());
    if (auto* reply = std::get_if<protocol::Reply>(&*msg)) {
      if (reply->req_id == req_id) return std::move(*reply);
      continue;  // a late reply to an earlier request
    }
    pushes_.push_back(std::move(*msg));
  }
}

Result<protocol::Message> WireClient::NextPush(int64_t timeout_ms) {
  if (!pushes_.empty()) {
    auto m = std::move(pushes_.front());
    pushes_.pop_front();
    return m;
  }
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (true) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                    deadline - std::chrono::steady_clock::now())
                    .count();
    auto msg = Receive(std::max<int64_t>(left, 0));
    if (!msg) return msg;
    if (!std::holds_alternative<protocol::Reply>(*msg)) return msg;
  }
}

}  // namespace taskmill::testing
