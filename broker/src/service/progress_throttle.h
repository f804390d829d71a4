#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "store/store_types.h"

namespace taskmill::broker {

// Per-task throttle of PROGRESS at the broker (docs/protocol.md, "Progress"): at most one
// report per task goes on (stored on the task record, published to subscribers and waiting
// clients) per interval. A report arriving sooner is kept as the task's pending one, replacing
// any pending before it (counted as coalesced): the latest value always goes out, at the end
// of the interval or when the attempt ends, so a final report is never lost. Pure bookkeeping
// on a caller-supplied clock (unit-tested with a fake one: broker/test/progress_throttle_test.cc).
// Memory: one entry per task that reported within the last interval, at most max_tasks
// (a report of a task past it is dropped, counted).
// Thread: the reactor thread. Owner: WorkerService.
class ProgressThrottle {
 public:
  struct Counters {
    uint64_t passed = 0;     // reports handed on (now, due, or at the attempt's end)
    uint64_t coalesced = 0;  // reports replaced by a later one before they went on
    uint64_t dropped = 0;    // reports of a new task while max_tasks were tracked
  };
  static constexpr int64_t kDefaultIntervalMs = 250;
  static constexpr size_t kDefaultMaxTasks = 100'000;

  explicit ProgressThrottle(int64_t interval_ms = kDefaultIntervalMs,
                            size_t max_tasks = kDefaultMaxTasks)
      : interval_ms_(interval_ms), max_tasks_(max_tasks) {}

  // A fenced report: returned when it goes on now, else kept (nullopt).
  std::optional<ProgressWrite> Offer(ProgressWrite report, int64_t now_ms);
  // Pending reports whose interval has passed (they go on now); entries idle for an
  // interval are forgotten.
  std::vector<ProgressWrite> TakeDue(int64_t now_ms);
  // The attempt of `task_id` ended (its DONE arrived): its pending report, to hand on before
  // the end is recorded; the task is forgotten.
  std::optional<ProgressWrite> TakeEnded(const std::string& task_id);

  size_t tracked() const { return tasks_.size(); }
  const Counters& counters() const { return counters_; }

 private:
  struct Entry {
    int64_t last_ms = 0;                  // when a report of this task last went on
    std::optional<ProgressWrite> pending;  // the latest report held back since
  };
  int64_t interval_ms_;
  size_t max_tasks_;
  std::unordered_map<std::string, Entry> tasks_;
  Counters counters_;
};

}  // namespace taskmill::broker
