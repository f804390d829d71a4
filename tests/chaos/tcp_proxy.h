#pragma once

// A small TCP proxy for the network-cut scenario: it listens on a random loopback port and
// forwards every connection to one upstream port on 127.0.0.1 (the broker's backend), so a
// test can partition one worker from the broker without touching the processes or the
// host's network. Cut() stops forwarding in both directions; Heal() resumes it.
//
// Lifecycle: Start() binds and starts its thread; the destructor stops the thread and
// closes every socket. Thread: one of its own (poll over the listening socket, a wake
// eventfd and each connection's two sockets); Cut/Heal/counters from any thread.
// Owner: the test. Bounded: at most kMaxConnections pairs, kBufferBytes per direction.

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "taskmill/shared/error.h"

namespace taskmill::chaos {

class TcpProxy {
 public:
  enum class CutMode {
    kBlackHole,  // sockets stay open, nothing is read or written: a partition
    kReset,      // every connection is reset and new ones are reset on accept
  };
  static constexpr size_t kMaxConnections = 64;
  static constexpr size_t kBufferBytes = 256 * 1024;

  static Result<std::unique_ptr<TcpProxy>> Start(uint16_t upstream_port);
  ~TcpProxy();
  TcpProxy(const TcpProxy&) = delete;
  TcpProxy& operator=(const TcpProxy&) = delete;

  uint16_t port() const { return port_; }
  std::string endpoint() const { return "tcp://127.0.0.1:" + std::to_string(port_); }

  // Both return once the proxy thread has applied the change: after Cut() no byte moves.
  void Cut(CutMode mode = CutMode::kBlackHole);
  void Heal();

  // Connections accepted so far, and bytes forwarded (both directions).
  uint64_t accepted() const { return accepted_; }
  uint64_t forwarded_bytes() const { return forwarded_; }

 private:
  struct Pair;
  enum class State { kForwarding, kBlackHole, kReset, kStopping };

  TcpProxy(int listen_fd, int wake_fd, uint16_t port, uint16_t upstream_port);
  void Set(State state);
  void Run();
  void Accept(State state);
  // Moves bytes of one pair whose sockets are ready; false once the pair is finished.
  bool Pump(Pair& p, short client_revents, short upstream_revents);

  int listen_fd_;
  int wake_fd_;  // eventfd: Set() wakes the thread
  uint16_t port_;
  uint16_t upstream_port_;
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable applied_cv_;
  State wanted_ = State::kForwarding;         // guarded by mu_
  uint64_t wanted_seq_ = 0;                   // guarded by mu_: bumped by every Set()
  uint64_t applied_seq_ = 0;                  // guarded by mu_: last Set() the thread acted on
  std::vector<std::unique_ptr<Pair>> pairs_;  // proxy thread only
  std::atomic<uint64_t> accepted_{0};
  std::atomic<uint64_t> forwarded_{0};
};

}  // namespace taskmill::chaos
