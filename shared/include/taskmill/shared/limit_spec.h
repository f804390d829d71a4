#pragma once

// A queue's limits and fairness (`taskmill queue limit`, the LIMIT message), parsed from the
// strings users type and checked, with a message naming what is allowed when they are wrong.
// The broker parses every LIMIT with ParseQueueLimits before anything is stored; the CLI
// checks its flags with it too, so a typo fails before it is sent.

#include <cstdint>
#include <string>
#include <string_view>

#include "taskmill/shared/error.h"
#include "taskmill/shared/protocol/messages.h"

namespace taskmill {

struct QueueLimits {
  uint64_t rate_n = 0;   // at most rate_n claims per rate_ms (0: no rate limit)
  int64_t rate_ms = 0;   // 1000, 60000 or 3600000
  uint32_t concurrency = 0;
  std::string cost_name;  // cost rate: stop claiming while the spend of cost_name over the
  double cost_amount = 0;  // last cost_ms reaches cost_amount (cost_ms 0: none)
  int64_t cost_ms = 0;
  std::string key_label;  // every limit per value of this label ("": per queue)
  int64_t aging_ms = 0;   // a waiting task gains one priority step per aging_ms (0: off);
                          // parsed by the shared ParseDurationMs (duration.h)
  bool round_robin = false;

  // The canonical text, as STATS shows it: "rate=100/s concurrency=5 cost-rate=usd=2.5/h
  // key=tenant aging=30s round-robin" (only the parts set).
  std::string Text() const;
  friend bool operator==(const QueueLimits&, const QueueLimits&) = default;
};

inline constexpr uint64_t kMaxLimitRate = 1'000'000'000;  // per period
inline constexpr int64_t kMaxAgingMs = 86'400'000;        // one day

// "N/s", "N/m", "N/h" (N a whole number 1..kMaxLimitRate): {N, period ms}.
Result<std::pair<uint64_t, int64_t>> ParseRate(std::string_view text, std::string_view what);
// Checks every field of a LIMIT (queue name, rate, cost rate, label, aging, round robin).
Result<QueueLimits> ParseQueueLimits(const protocol::Limit& msg);

}  // namespace taskmill
