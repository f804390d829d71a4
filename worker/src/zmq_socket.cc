#include "zmq_socket.h"

#include <cerrno>

namespace taskmill::worker {
namespace {

std::unexpected<Error> ZmqError(const std::string& name, const char* op, const zmq::error_t& e) {
  return MakeError(ErrorCode::kInternal, name + ": " + op + ": " + e.what());
}

}  // namespace

Result<ZmqSocket> ZmqSocket::Open(zmq::context_t& context, zmq::socket_type type,
                                  std::string name) {
  ZmqSocket s;
  s.name_ = std::move(name);
  try {
    s.socket_ = zmq::socket_t(context, type);
  } catch (const zmq::error_t& e) {
    return ZmqError(s.name_, "socket", e);
  }
  return s;
}

Result<void> ZmqSocket::SetInt(int option, int value) {
  if (zmq_setsockopt(socket_.handle(), option, &value, sizeof value) != 0) {
    return MakeError(ErrorCode::kInternal, name_ + ": setsockopt " + std::to_string(option) + ": " +
                                               zmq_strerror(zmq_errno()));
  }
  return {};
}

Result<void> ZmqSocket::SetBytes(int option, std::string_view value) {
  if (zmq_setsockopt(socket_.handle(), option, value.data(), value.size()) != 0) {
    return MakeError(ErrorCode::kInternal, name_ + ": setsockopt " + std::to_string(option) + ": " +
                                               zmq_strerror(zmq_errno()));
  }
  return {};
}

Result<void> ZmqSocket::Bind(const std::string& endpoint) {
  try {
    socket_.bind(endpoint);
  } catch (const zmq::error_t& e) {
    return MakeError(ErrorCode::kInvalidArgument,
                     name_ + ": cannot bind '" + endpoint + "': " + e.what());
  }
  return {};
}

Result<void> ZmqSocket::Connect(const std::string& endpoint) {
  try {
    socket_.connect(endpoint);
  } catch (const zmq::error_t& e) {
    return MakeError(ErrorCode::kInvalidArgument,
                     name_ + ": cannot connect to '" + endpoint + "': " + e.what());
  }
  return {};
}

Result<bool> ZmqSocket::Send(std::span<const std::string_view> parts, bool dontwait) {
  try {
    for (size_t i = 0; i < parts.size(); ++i) {
      zmq::send_flags flags = zmq::send_flags::none;
      if (i + 1 < parts.size()) flags = flags | zmq::send_flags::sndmore;
      // Only the first part can meet a full pipe: once it is accepted, the rest of the
      // message is accepted atomically with it.
      if (dontwait) flags = flags | zmq::send_flags::dontwait;
      auto sent = socket_.send(zmq::const_buffer(parts[i].data(), parts[i].size()), flags);
      if (!sent) return false;
    }
  } catch (const zmq::error_t& e) {
    return ZmqError(name_, "send", e);
  }
  return true;
}

Result<std::optional<Parts>> ZmqSocket::Recv(bool dontwait, size_t max_parts) {
  Parts parts;
  bool too_many = false;
  try {
    zmq::recv_flags flags = dontwait ? zmq::recv_flags::dontwait : zmq::recv_flags::none;
    do {
      zmq::message_t msg;
      auto got = socket_.recv(msg, parts.empty() ? flags : zmq::recv_flags::none);
      if (!got) return std::optional<Parts>{};
      if (parts.size() < max_parts) {
        parts.emplace_back(static_cast<const char*>(msg.data()), msg.size());
      } else {
        too_many = true;  // keep reading so the next Recv starts at a message boundary
      }
      if (!msg.more()) break;
    } while (true);
  } catch (const zmq::error_t& e) {
    return ZmqError(name_, "recv", e);
  }
  if (too_many) {
    return MakeError(ErrorCode::kBadFrame,
                     name_ + ": message has more than " + std::to_string(max_parts) + " frames");
  }
  return std::optional<Parts>(std::move(parts));
}

void ZmqSocket::Close(int linger_ms) {
  if (!is_open()) return;
  (void)SetInt(ZMQ_LINGER, linger_ms);
  socket_.close();
}

Result<int> Poll(std::span<zmq_pollitem_t> items, long timeout_ms) {
  int rc = zmq_poll(items.data(), static_cast<int>(items.size()), timeout_ms);
  if (rc < 0) {
    if (zmq_errno() == EINTR) return 0;
    return MakeError(ErrorCode::kInternal, std::string("zmq_poll: ") + zmq_strerror(zmq_errno()));
  }
  return rc;
}

}  // namespace taskmill::worker
