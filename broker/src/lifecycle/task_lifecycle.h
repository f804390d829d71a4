#pragma once

#include <functional>
#include <memory>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "lifecycle/lifecycle_observer.h"
#include "metrics/broker_counters.h"
#include "store/task_store.h"
#include "taskmill/shared/clock.h"
#include "taskmill/shared/protocol/messages.h"

namespace taskmill::broker {

class BrokerMetrics;

struct LifecycleOptions {
  // A queue depth cap is set (--max-queue-depth): each SUBMIT is its own atomic store call,
  // so a queue_full refuses only the SUBMIT that overflows.
  bool submit_alone = false;
  // While Redis is full (store_full), DONEs that could not be recorded are sent again this
  // often: kept, never dropped, without spinning on a store that refuses every write.
  int64_t store_full_retry_ms = 250;
};

// The task-lifecycle layer: every task state transition the broker asks of the store
// (submit, batch submit, claim, DONE, worker release, lease reap, promote, cancel, dead-letter
// retry, lease extension) goes through here. Submits, DONEs, releases and claims are queued
// during a reactor turn and sent at EndTurn(), in that order, down the store's one pipeline
// (a claim sent after a submit of the same turn runs right after it). What the store reports
// is published as typed outcomes (lifecycle_observer.h) to the subscribers; the protocol
// adapters (ClientService, WorkerService) get their own request's answer through the
// callback they passed, and never hear of each other.
// Thread: the reactor thread. Owner: Broker::Run (tests: the test); holds references only.
class TaskLifecycle {
 public:
  template <typename T>
  using Callback = std::function<void(Result<T>)>;
  // One SUBMIT's outcomes (one per spec, in order), or why none was stored.
  using SubmitDone = std::function<void(Result<std::span<const EnqueueOutcome>>)>;

  // `metrics`: histograms fed on the claim and finish paths; may be null.
  TaskLifecycle(TaskStore& store, const Clock& clock, LifecycleOptions options,
                BrokerCounters& counters, BrokerMetrics* metrics);

  // `observer` hears every outcome from now on; it must outlive this layer.
  void Subscribe(LifecycleObserver& observer);

  // Queues one SUBMIT's specs (validated, ids assigned) for the turn's combined enqueue.
  // `owner`: the submitter's CURVE key ("" = nobody). `request`: its request_id and body
  // digest (id "" = none; first/count are set here): a resend stores nothing again.
  void Submit(std::vector<protocol::TaskSpec> specs, std::string owner, SubmitDone done,
              RequestKey request = {});
  // Stores a batch now (all or nothing); `done` runs before the outcomes are published.
  // A replayed request (EnqueueResult::replayed_batch) publishes nothing.
  void SubmitBatch(std::string batch_id, BatchSettings budget,
                   std::vector<protocol::TaskSpec> specs, std::string owner,
                   Callback<EnqueueResult> done, RequestKey request = {});
  // A schedule's tick (schedule/schedule_ticker.h): stores `spec` now if this call claims the
  // tick (Store::EnqueueTick); idle workers of its queue and type are woken as for a SUBMIT.
  void SubmitTick(protocol::TaskSpec spec, std::string owner, TickClaim tick,
                  Callback<TickOutcome> done);
  // Queues a claim for the turn's end; `done` runs before BatchesChanged. The caller sends
  // the claimed tasks and calls Started for each one it did send.
  void Claim(ClaimRequest request, Callback<ClaimResult> done);
  // Publishes TaskStarted: `task` went out to its worker. A claimed task whose worker left
  // before it was sent never started (its attempt fails as dispatch_failed instead).
  void Started(const protocol::TaskMsg& task);
  // Publishes TaskProgressed: a running attempt's progress, fenced and throttled by the
  // worker side (WorkerService), which also stores it.
  void Progressed(const std::string& task_id, double fraction, const std::string& message);
  // Queues one result (or a failure the broker decided on, e.g. dispatch_failed) of
  // `worker_id` for the turn's end. Kept and sent again while the store is unreachable or full.
  void Finish(const std::string& worker_id, protocol::Done done);
  // Records a COMPLETE now (finish.lua, no lease: the token's SHA-256 must be the awaiting
  // task's); `done` gets its one outcome (kNotAwaiting / kBadToken: nothing changed), after
  // the outcomes were published as a DONE's would be.
  void Complete(protocol::Complete complete, Callback<FinishOutcome> done);
  // Queues the release of every lease of a worker that is gone (after this turn's DONEs, so a
  // last result arriving with its BYE is not fenced off), except those of the task ids in
  // `keep` (a worker that registered here with them in its READY `running`).
  void ReleaseWorker(const std::string& worker_id, std::vector<std::string> keep = {});
  // Cancels now; `done` runs after the outcomes were published. `batch`: see Store::Cancel.
  void Cancel(std::vector<std::string> ids, std::string reason, std::string owner,
              Callback<CancelResult> done, std::string batch = "");
  // Dead letters back to ready; `done` gets the ids retried.
  void RetryDead(std::string queue, std::vector<std::string> ids, uint32_t limit,
                 Callback<std::vector<std::string>> done);
  // Heartbeat: pushes `worker_id`'s leases forward; cancels requested elsewhere come back as
  // CancelRequested.
  void ExtendLeases(const std::string& worker_id, uint32_t lease_ms);
  // Timers: expired leases fail as retryable; due delayed tasks become ready.
  void Reap(uint32_t limit);
  void Promote(uint32_t limit);

  // Sends what the turn queued: submits, DONEs, releases, claims.
  void EndTurn();

  // DONEs queued and not yet sent (waiting for the turn's end, or for the store).
  size_t pending_results() const;

  // Wakes idle workers of these queues (a task made ready outside the lifecycle: UPDATE).
  void QueuesReady(const std::vector<std::string>& queues) { PublishQueues(queues); }

 private:
  struct PendingSubmit {
    size_t first = 0;  // index of its first spec in submit_specs_
    size_t count = 0;
    std::string owner;
    SubmitDone done;
    RequestKey request;  // id "" = none
  };
  struct PendingClaim {
    ClaimRequest request;
    Callback<ClaimResult> done;
  };
  // The DONEs of one finish call, kept until its reply (to send again, or for the RESULTs).
  struct KeptResults {
    std::vector<DoneGroup> groups;
    std::vector<protocol::Done> done;
  };
  // The most tasks one claim call may lease, and DONEs one finish call carries (unless one
  // worker's claim or DONEs alone are more): a script call blocks Redis while it runs.
  static constexpr uint64_t kMaxClaimTasksPerCall = 512;
  static constexpr size_t kMaxDonesPerCall = 512;

  void FlushSubmits();
  void EnqueueSubmits(std::vector<PendingSubmit> requests, std::vector<protocol::TaskSpec> specs);
  void FlushResults();
  void RecordResults(std::shared_ptr<KeptResults> kept);
  void FlushReleases();
  void FlushClaims();
  // Publishes what a Finish, Reap or ReleaseWorker changed. `dones` (when given) are the
  // reports the items answer, in order; a RESULT may take their output (moved from).
  // Returns true iff it woke every idle worker (a child was released).
  bool Finished(const FinishResult& result, std::vector<protocol::Done>* dones);
  void PublishEnded(const std::string& task_id, protocol::TaskInfo* known);
  // Tasks that ended expired (claim, expiry sweep): TaskEnded for each, and TaskCancelled +
  // TaskEnded for the descendants cancelled with it.
  void PublishExpired(const std::vector<ExpiredTask>& expired);
  void PublishQueues(const std::vector<std::string>& queues);
  void PublishBatches(const BatchChanges& batches);

  TaskStore& store_;
  const Clock& clock_;
  LifecycleOptions options_;
  BrokerCounters& counters_;
  BrokerMetrics* metrics_;                    // may be null
  std::vector<LifecycleObserver*> observers_;  // never null; they outlive this layer
  std::vector<PendingSubmit> submits_;         // SUBMITs of this turn
  std::vector<protocol::TaskSpec> submit_specs_;  // their specs, in order
  std::unordered_map<std::string, std::vector<protocol::Done>> results_;  // by worker id
  int64_t results_retry_at_ms_ = 0;  // monotonic ms before which DONEs wait (Redis was full)
  // Worker ids whose leases go at the end of the turn, with the task ids they keep.
  std::vector<std::pair<std::string, std::vector<std::string>>> releases_;
  std::vector<PendingClaim> claims_;   // claims of this turn
};

}  // namespace taskmill::broker
