#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>

namespace taskmill::broker {

// What the reactor knows about itself, copied out for the HTTP threads.
struct ReactorSnapshot {
  uint64_t bad_frames = 0;        // frames refused by the decoder or as out of place
  uint64_t wrong_port = 0;        // of those, the other port's protocol (client <-> worker)
  uint64_t stale_results = 0;     // DONEs fenced off (this broker's share)
  uint64_t tasks_dispatched = 0;  // TASK messages sent
  uint64_t workers_lost = 0;      // workers declared dead by missed heartbeats
  uint64_t curve_allowed = 0;     // CURVE handshakes admitted by the ZAP handler
  uint64_t curve_refused = 0;     // CURVE handshakes refused (key not allowed)
  uint64_t workers = 0;           // workers registered with this broker
  uint64_t slots_busy = 0;        // their slots running or being claimed for
  uint64_t slots_free = 0;        // their slots free
  bool redis_ready = false;       // true iff the reactor's connection is up, scripts loaded
  bool draining = false;          // true iff stopping: no new work taken
  bool published = false;         // true iff the reactor has published at least once
  std::string redis_error;        // the last connection error (no secrets)
};

// The one place the reactor thread and the HTTP threads meet: the reactor marks every
// turn (one relaxed atomic store) and publishes a snapshot a few times a second; the HTTP
// threads read them. Neither side ever waits on the other for longer than a struct copy.
// Owner: Broker::Run; outlives the HTTP listener.
class ReactorBoard {
 public:
  void MarkTurn(int64_t monotonic_ms) {
    last_turn_ms_.store(monotonic_ms, std::memory_order_relaxed);
  }
  int64_t last_turn_ms() const { return last_turn_ms_.load(std::memory_order_relaxed); }

  void Publish(ReactorSnapshot s) {
    std::lock_guard lock(mu_);
    s.published = true;
    snapshot_ = std::move(s);
  }
  ReactorSnapshot Read() const {
    std::lock_guard lock(mu_);
    return snapshot_;
  }

 private:
  std::atomic<int64_t> last_turn_ms_{0};  // monotonic ms the reactor last finished a turn
  mutable std::mutex mu_;
  ReactorSnapshot snapshot_;  // guarded by mu_
};

}  // namespace taskmill::broker
