#pragma once

// The one place in the worker that calls ZeroMQ: cppzmq's exceptions stop here and become
// Result errors, so nothing above it needs a try block.

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>
#include <zmq.hpp>

#include "taskmill/shared/error.h"

namespace taskmill::worker {

// One multipart message, frame by frame.
using Parts = std::vector<std::string>;

// A ZeroMQ socket. Move-only; belongs to the thread that uses it (zmq(7)), which must
// close it (or let it go out of scope) before the context is destroyed.
class ZmqSocket {
 public:
  ZmqSocket() = default;
  // `name` only labels error messages ("dealer", "results").
  static Result<ZmqSocket> Open(zmq::context_t& context, zmq::socket_type type, std::string name);

  Result<void> SetInt(int option, int value);
  Result<void> SetBytes(int option, std::string_view value);
  Result<void> Bind(const std::string& endpoint);
  Result<void> Connect(const std::string& endpoint);
  // Sends every part as one message. dontwait: false (not an error) when it would block.
  Result<bool> Send(std::span<const std::string_view> parts, bool dontwait);
  // One whole message; nullopt when none is waiting (dontwait). A message with more than
  // max_parts parts is read to its end and reported as an error.
  Result<std::optional<Parts>> Recv(bool dontwait, size_t max_parts = 16);
  // Closes now; queued outgoing messages may take up to linger_ms to leave.
  void Close(int linger_ms);

  bool is_open() const { return socket_.handle() != nullptr; }
  // For zmq_pollitem_t.socket.
  void* handle() { return socket_.handle(); }

 private:
  zmq::socket_t socket_;  // null handle once closed
  std::string name_;      // for error messages
};

// zmq_poll; an interrupted poll (EINTR) counts as "nothing ready".
Result<int> Poll(std::span<zmq_pollitem_t> items, long timeout_ms);

}  // namespace taskmill::worker
