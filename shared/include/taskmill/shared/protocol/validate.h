#pragma once

// Semantic checks on what clients submit, beyond what the decoder enforces. Shared so
// that client libraries and the CLI reject bad input before it leaves the machine, with
// the same words the broker would use.

#include <string_view>

#include "taskmill/shared/error.h"
#include "taskmill/shared/protocol/types.h"

namespace taskmill::protocol {

inline constexpr size_t kMaxNameLength = 128;

// Queue names, task types, batch-local names: [A-Za-z0-9_.-]{1,128}. These appear in
// Redis keys, so nothing else is allowed. `what` names the field in the error.
Result<void> ValidateName(std::string_view name, std::string_view what);

// The largest payload any peer can carry: the decoder's max_bin (DecodeLimits).
inline constexpr size_t kMaxPayloadCeiling = 16u << 20;

struct SpecLimits {
  // Payload cap per task. Clients know only this ceiling; a broker applies its own,
  // smaller cap (--max-payload-bytes, 8 MiB by default).
  size_t max_payload_bytes = kMaxPayloadCeiling;
  uint32_t max_attempts = 1000;  // cap on max_attempts
  size_t max_labels = 64;
  size_t max_depends_on = 1000;
};

// Checks one spec; `where` prefixes messages (e.g. "tasks[3]").
Result<void> ValidateTaskSpec(const TaskSpec& spec, std::string_view where,
                              const SpecLimits& limits = {});

// Costs a worker reports: at most kMaxCostNames names (each a valid name), every value
// finite, >= 0 and <= kMaxCostValue, so sums stay finite and budgets cannot be dodged.
inline constexpr size_t kMaxCostNames = 64;
inline constexpr double kMaxCostValue = 1e15;
Result<void> ValidateCosts(const CostMap& cost, std::string_view where);

}  // namespace taskmill::protocol
