#pragma once

// An in-process stand-in for the broker's frontend: a ROUTER on a loopback port, run by
// its own thread, answering each request with whatever the test's handler decides.

#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>
#include <zmq.hpp>

#include "taskmill/shared/protocol/codec.h"

namespace taskmill::client::testing {

// Lifecycle: constructed bound and running; destroyed stops the thread and closes the port.
// Thread: the handler runs on the fake's own thread; Send/Requests may be called from any.
class FakeBroker {
 public:
  // Called for every decoded request; returns the messages to send back to that peer now
  // (a REPLY, EVENTs, or nothing to stay silent).
  using Handler = std::function<std::vector<protocol::Message>(const protocol::Message&)>;

  // endpoint "" binds a free loopback port; give one to bind it again (restart tests).
  explicit FakeBroker(Handler handler, std::string endpoint = "");
  ~FakeBroker();

  const std::string& endpoint() const { return endpoint_; }
  // Queues messages for the peer that sent the last request; sent by the fake's thread.
  void Push(std::vector<protocol::Message> messages);
  // Every request received so far.
  std::vector<protocol::Message> Requests();
  size_t RequestCount();

  static protocol::Reply Ok(uint64_t req_id) {
    protocol::Reply r;
    r.req_id = req_id;
    return r;
  }
  static uint64_t ReqIdOf(const protocol::Message& m) {
    return std::visit(
        [](const auto& v) -> uint64_t {
          if constexpr (requires { v.req_id; }) {
            return v.req_id;
          } else {
            return 0;
          }
        },
        m);
  }

 private:
  void Run();
  void SendTo(const std::string& identity, const protocol::Message& m);

  Handler handler_;
  zmq::context_t ctx_{1};
  zmq::socket_t router_;
  std::string endpoint_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::mutex mu_;                            // guards the three below
  std::vector<protocol::Message> requests_;  // everything received
  std::vector<protocol::Message> pushes_;    // queued by Push
  std::string last_peer_;                    // identity of the last request's sender
};

// Polls `pred` every 5 ms until it holds or timeout_ms passes.
bool WaitUntil(const std::function<bool()>& pred, int64_t timeout_ms = 5000);

}  // namespace taskmill::client::testing
