#pragma once

#include <cstdint>

namespace taskmill {

// Exponential backoff between attempts: base * multiplier^(attempt-1), capped at max,
// with optional full jitter (uniform in [0, delay]). The same formula runs in the store's
// Lua scripts; this copy is for clients and workers (reconnects) and is the reference the
// tests compare the store against.
struct BackoffPolicy {
  uint32_t base_ms = 1000;  // delay after the first failed attempt
  uint32_t max_ms = 60000;  // cap on any one delay
  double multiplier = 2.0;  // growth per attempt, >= 1
  bool jitter = false;      // true: full jitter, delay drawn uniformly from [0, delay]

  friend bool operator==(const BackoffPolicy&, const BackoffPolicy&) = default;

  // Delay before the attempt after `failed_attempt` (1-based), without jitter.
  uint64_t DelayFor(uint32_t failed_attempt) const;
  // The same with jitter applied when enabled; `unit` in [0, 1) is the random draw.
  uint64_t DelayFor(uint32_t failed_attempt, double unit) const;
};

}  // namespace taskmill
