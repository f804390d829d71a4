#pragma once

#include <cstdint>

#include "lifecycle/task_lifecycle.h"
#include "metrics/broker_counters.h"
#include "store/store.h"
#include "taskmill/shared/clock.h"

namespace taskmill::broker {

struct TickerOptions {
  // A tick more than this late (no broker ran when it fell) is missed: its schedule's
  // catch_up decides (skip: not run; once: run once for all of them). --schedule-grace.
  int64_t grace_ms = 5000;
  uint32_t due_per_read = 100;  // schedules read per round (schedule_due.lua)
};

// Every broker's periodic-task ticker (docs/architecture.md, "Schedules"). Each round reads
// the schedules whose next tick has come and, for each, claims the tick and stores its task
// in one script call (Store::EnqueueTick, through the lifecycle layer): the claim is a
// compare-and-set of the schedule's next_run, so however many brokers race for a tick one
// stores its task, and nothing else decides who. All state is in Redis: there is no leader,
// and a broker that stops (or restarts) leaves nothing behind. A tick that fell while no
// broker ran (more than grace_ms late) is missed and handled by the schedule's catch_up.
// One round at a time; a round's due schedules are claimed together (one pipeline).
// Thread: the reactor thread. Owner: the broker's runtime; holds references only.
class ScheduleTicker {
 public:
  ScheduleTicker(Store& store, TaskLifecycle& lifecycle, const Clock& clock,
                 BrokerCounters& counters, TickerOptions options = {});

  // A round, unless one is still running or Redis is down. Called every kRoundMs.
  void OnTick();
  static constexpr int64_t kRoundMs = 100;

  // The claim a round makes of a due schedule at wall time `now_ms`, and the task it stores;
  // an error when its next tick cannot be computed. Public for the unit tests.
  struct Plan {
    TickClaim claim;
    protocol::TaskSpec spec;  // with its idempotency key and schedule labels
  };
  static Result<Plan> PlanTick(const protocol::ScheduleInfo& s, int64_t now_ms, int64_t grace_ms);

  // Schedules in the store as the last round read (0 before the first).
  uint64_t schedules() const { return schedules_; }

 private:
  void Claim(const StoredSchedule& s, int64_t now_ms);
  void Settled();

  Store& store_;
  TaskLifecycle& lifecycle_;
  const Clock& clock_;
  BrokerCounters& counters_;
  TickerOptions options_;
  bool reading_ = false;   // true iff a round's schedule_due read is in flight
  uint32_t claiming_ = 0;  // the round's tick claims not yet answered
  uint64_t schedules_ = 0;
};

}  // namespace taskmill::broker
