#pragma once

#include <functional>
#include <string>
#include <vector>

#include "dispatch/worker_registry.h"
#include "taskmill/shared/protocol/messages.h"

namespace taskmill::broker {

// Warnings a SUBMIT or BATCH reply carries at most; past it one more line counts the rest.
constexpr size_t kMaxUnservedWarnings = 3;

// Whether a worker of another live broker (the registry in Redis) serves (queue, type).
using ServedElsewhere = std::function<bool(const std::string& queue, const std::string& type)>;

// True when `w` takes tasks of `type` from `queue` (it lists the queue, with that type or
// with no types at all): the rule WorkerRegistry::AnyServes indexes.
bool WorkerServes(const protocol::WorkerInfo& w, const std::string& queue, const std::string& type);

// The REPLY warnings for `tasks` whose (queue, type) no worker serves, neither one registered
// with this broker nor, through `elsewhere` (asked only for pairs no local worker serves), one
// of another broker: "no connected worker serves type 'X' in queue 'Q'; ...", one per pair in
// the order the tasks name them, at most kMaxUnservedWarnings and a last line counting the
// pairs left out. Empty when every pair is served (the common case: one index lookup per task).
std::vector<std::string> UnservedTypeWarnings(const WorkerRegistry& workers,
                                              const std::vector<protocol::TaskSpec>& tasks,
                                              const ServedElsewhere& elsewhere = {});

}  // namespace taskmill::broker
