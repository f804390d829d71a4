#pragma once

#include <string>
#include <vector>

#include "metrics/broker_metrics.h"
#include "metrics/reactor_board.h"
#include "store/store_types.h"
#include "taskmill/shared/error.h"

namespace taskmill::broker {

// Cost names exported by name per queue (sorted); the rest are summed into name="other".
constexpr size_t kMaxCostNamesPerQueue = 16;

// The /metrics page: the queue-wide series read from Redis (no broker label: every broker
// exports the same values, aggregate with max()), this broker's series from its snapshot
// and its own histograms (broker label, aggregate with sum()). When Redis cannot be read
// the queue-wide series are left out and taskmill_broker_store_readable is 0.
// Pure: no I/O, any thread.
std::string RenderMetricsPage(const std::string& broker, const ReactorSnapshot& snapshot,
                              double turn_age_seconds,
                              const Result<std::vector<QueueCounters>>& queues,
                              std::vector<prometheus::MetricFamily> measured);

}  // namespace taskmill::broker
