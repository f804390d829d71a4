#pragma once

#include <string>
#include <vector>

#include "dispatch/worker_registry.h"
#include "taskmill/shared/protocol/messages.h"

namespace taskmill::broker {

// Warnings a SUBMIT or BATCH reply carries at most; past it one more line counts the rest.
constexpr size_t kMaxUnservedWarnings = 3;

// The REPLY warnings for `tasks` whose (queue, type) no worker registered with this broker
// serves: "no connected worker serves type 'X' in queue 'Q'; ...", one per pair in the order
// the tasks name them, at most kMaxUnservedWarnings and a last line counting the pairs left
// out. Empty when every pair is served (the common case: one index lookup per task).
std::vector<std::string> UnservedTypeWarnings(const WorkerRegistry& workers,
                                              const std::vector<protocol::TaskSpec>& tasks);

}  // namespace taskmill::broker
