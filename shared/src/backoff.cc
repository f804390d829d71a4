#include "taskmill/shared/backoff.h"

#include <algorithm>
#include <cmath>

namespace taskmill {

uint64_t BackoffPolicy::DelayFor(uint32_t failed_attempt) const {
  if (failed_attempt == 0) failed_attempt = 1;
  // Computed in double and capped before converting, so a large exponent cannot overflow.
  double delay = static_cast<double>(base_ms) *
                 std::pow(std::max(multiplier, 1.0), static_cast<double>(failed_attempt - 1));
  delay = std::min(delay, static_cast<double>(max_ms));
  return static_cast<uint64_t>(delay);
}

uint64_t BackoffPolicy::DelayFor(uint32_t failed_attempt, double unit) const {
  uint64_t delay = DelayFor(failed_attempt);
  if (!jitter) return delay;
  unit = std::clamp(unit, 0.0, 1.0);
  return static_cast<uint64_t>(static_cast<double>(delay) * unit);
}

}  // namespace taskmill
