#pragma once

#include <string>
#include <vector>

#include "store/store_types.h"
#include "taskmill/shared/protocol/messages.h"

namespace taskmill::broker {

// Tasks of one queue and type about to be enqueued (ready at once unless delayed).
struct ReadyTasks {
  std::string queue;
  std::string type;
  uint32_t count = 0;
};

// What the task-lifecycle layer (task_lifecycle.h) tells the rest of the broker: typed
// outcomes of the store calls it made. Each subscriber overrides the outcomes it cares for
// (docs/architecture.md, "Lifecycle outcomes", lists who subscribes to which):
//   TaskWaiters (WAIT, RESULT notify): TaskEnded, WantsResult, TaskProgressed
//   BatchEvents (batch subscriptions, dashboard): TaskStarted, TaskProgressed, TaskFinished,
//                                                 TaskCancelled, BatchesChanged
//   WorkerService (dispatch): QueuesReady, TasksEnqueued, ClaimsDue, CancelRequested
// Outcomes are published on the reactor thread, from the store's reply callbacks, in the
// order the store reported them. A subscriber never calls back into the layer from inside an
// outcome except to queue work for the turn's end (Finish, Claim, ReleaseWorker).
class LifecycleObserver {
 public:
  virtual ~LifecycleObserver() = default;

  // A task reached a terminal state (succeeded, dead, cancelled) through this broker.
  // `known`: its final state, built only when some subscriber WantsResult(task_id); the first
  // subscriber that uses it may move from it. Null otherwise (read it back if needed).
  virtual void TaskEnded(const std::string& /*task_id*/, protocol::TaskInfo* /*known*/) {}
  // True iff this subscriber wants a finished task's full state (so it is built once).
  virtual bool WantsResult(const std::string& /*task_id*/) const { return false; }
  // An attempt's TASK went out to its worker (TaskLifecycle::Started, by the dispatcher).
  virtual void TaskStarted(const protocol::TaskMsg& /*task*/) {}
  // An attempt ended (DONE, lease expiry, worker lost), stale ones included, or a task never
  // started ended expired (status kExpired: a claim or the expiry sweep); `done` is the
  // worker's report when there was one.
  virtual void TaskFinished(const FinishOutcome& /*outcome*/, const protocol::Done* /*done*/) {}
  // A running attempt reported progress (PROGRESS, fenced and throttled by the broker that
  // holds its worker; here or, through the cluster bus, on another broker).
  virtual void TaskProgressed(const std::string& /*task_id*/, double /*fraction*/,
                              const std::string& /*message*/) {}
  // A task was cancelled while not running (directly, or as a descendant).
  virtual void TaskCancelled(const std::string& /*task_id*/, const std::string& /*reason*/) {}
  // Tasks may be ready in these queues ("" = any queue).
  virtual void QueuesReady(const std::vector<std::string>& /*queues*/) {}
  // These tasks are about to be enqueued (SUBMIT): the turn's claims follow
  // the enqueue down the same pipeline, so claims for as many as these need suffice.
  virtual void TasksEnqueued(const std::vector<ReadyTasks>& /*ready*/) {}
  // Batches whose aggregate counts changed, with their new state.
  virtual void BatchesChanged(const BatchChanges& /*batches*/) {}
  // The turn's claims go out now: a dispatcher queues its claims (TaskLifecycle::Claim) before
  // this returns, after the turn's submits, so workers woken by them claim in the same turn.
  virtual void ClaimsDue() {}
  // A running attempt was asked to stop: its worker should be told.
  virtual void CancelRequested(const std::string& /*worker_id*/, const std::string& /*task_id*/,
                               uint64_t /*token*/, const std::string& /*reason*/) {}
};

}  // namespace taskmill::broker
