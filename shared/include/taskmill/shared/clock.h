#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace taskmill {

// Wall-clock milliseconds since the Unix epoch, and a monotonic clock for deadlines.
// An interface because tests need a fake one (backoff schedules, lease expiry).
// Thread-safe; owned by whoever wires the component, passed by reference.
class Clock {
 public:
  virtual ~Clock() = default;
  // Milliseconds since the Unix epoch; what is stored in Redis and sent on the wire.
  virtual int64_t NowMs() const = 0;
  // Monotonic milliseconds, for local deadlines only.
  virtual int64_t MonotonicMs() const = 0;
};

class SystemClock final : public Clock {
 public:
  int64_t NowMs() const override;
  int64_t MonotonicMs() const override;
  // The process-wide instance; stateless, so sharing it is safe.
  static const SystemClock& Instance();
};

// A clock that moves only when told. Thread-safe.
class FakeClock final : public Clock {
 public:
  explicit FakeClock(int64_t start_ms = 1'700'000'000'000) : now_ms_(start_ms) {}
  int64_t NowMs() const override { return now_ms_.load(); }
  int64_t MonotonicMs() const override { return now_ms_.load(); }
  void Advance(int64_t ms) { now_ms_ += ms; }
  void Set(int64_t ms) { now_ms_ = ms; }

 private:
  std::atomic<int64_t> now_ms_;  // the time every reader sees
};

}  // namespace taskmill
