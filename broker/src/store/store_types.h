#pragma once

// Value types of the Store API (store.h): options, requests and per-item outcomes.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "taskmill/shared/error.h"
#include "taskmill/shared/protocol/messages.h"

namespace taskmill::broker {

// A COMPLETE's error message is at most this many bytes.
inline constexpr size_t kMaxCompletionMessageBytes = 4096;

struct StoreOptions {
  std::string prefix = "tm:";                       // every key starts with it
  int64_t retention_ms = 7LL * 24 * 3600 * 1000;    // TTL of finished tasks/batches; 0 = keep
  int64_t idempotency_ttl_ms = 24LL * 3600 * 1000;  // how long an idempotency key dedupes
  uint32_t dead_letter_max = 10000;                 // dead letters kept per queue (oldest go)
  // Succeeded and cancelled tasks kept per queue, besides the retention: past it the oldest
  // finished are deleted (done:<queue>). 0 = no count cap.
  uint64_t max_finished_per_queue = 0;
  int64_t lease_grace_ms = 5000;                    // lease may outlive timeout_ms by this
  // Waiting tasks (queued + delayed + blocked) a queue may hold; an enqueue past it fails
  // whole with kQueueFull. 0 = no cap.
  uint64_t max_queue_depth = 0;
  // Script calls in flight at once; more wait in the store, in order, and go as answers
  // come back (0 = no limit). The broker's read store uses 1: Redis runs every command a
  // connection has sent before it turns to the next connection, so one call at a time is
  // what lets SUBMITs and claims on the other connection run between expensive reads.
  uint32_t max_in_flight = 0;
};

struct EnqueueOutcome {
  std::string id;  // the task's id (the original one for a duplicate)
  protocol::TaskState state = protocol::TaskState::kUnknown;  // after the call
  bool duplicate = false;      // true iff the idempotency key or the request id was seen
  bool replayed = false;       // true iff the request id was seen (a resend): nothing stored
  std::optional<Error> error;  // kConflict (id exists, or a request id reused for another
                               // body) or kNotFound (unknown parent)
};

// A client request's request_id (SUBMIT, BATCH) within an enqueue call: the `count` specs
// from `first` are that request's. The store keeps, per owner (the owner of its first spec),
// what the first call with this id stored (the ids, or the batch id) for as long as it keeps
// idempotency keys; a later call with the same id stores nothing and answers with those.
// `digest` fingerprints the request's body: a later call whose digest differs gets
// kConflict. An empty `id` means none.
struct RequestKey {
  std::string id;
  std::string digest;
  size_t first = 0;
  size_t count = 0;
};

// What a new batch carries besides its tasks (BatchSpec's budget and on_failure). Implicit
// from a budget alone, the shape of older calls.
struct BatchSettings {
  BatchSettings() = default;
  BatchSettings(protocol::CostMap b) : budget(std::move(b)) {}  // NOLINT: implicit by design
  protocol::CostMap budget;  // cost name -> limit
  // cancel_dependents (stored as nothing: batches before issue 22 read the same), continue or
  // fail_fast (docs/protocol.md 7.7).
  std::string on_failure = protocol::kOnFailureCancelDependents;
  // Run once when the batch ends (its id set; batch_id empty: it is no member). The store
  // keeps its spec in the batch record and stores it, with the summary as its payload, in
  // the call that ends the batch (start_finally in lib/prelude.lua).
  std::optional<protocol::TaskSpec> finally;
  // BATCH append_to: the specs join the running batch (enqueue.lua `app`); budget,
  // on_failure and finally are then the batch's own and ignored here. The batch may then hold
  // at most append_max tasks in all (--max-batch-tasks: its GET reply lists every name).
  bool append = false;
  uint32_t append_max = 0;
};

// A batch as stored, with the CURVE key that owns it ("": nobody; no CURVE).
struct OwnedBatch {
  protocol::BatchStatus status;
  std::string owner;
};

// Batches whose counts changed in a call, with their new aggregate state.
using BatchChanges = std::vector<protocol::BatchStatus>;

struct EnqueueResult {
  std::vector<EnqueueOutcome> items;  // one per spec, in order (none for a replayed batch)
  BatchChanges batches;
  // EnqueueBatch with a request id seen before (a resend): the batch id of the first call;
  // nothing was stored by this one and `items` is empty.
  std::string replayed_batch;
};

struct ClaimRequest {
  std::string worker_id;
  std::vector<std::string> queues;  // queues the worker serves
  std::vector<std::string> types;   // task types it can run; empty: any type
  uint32_t n = 1;                   // at most this many tasks
  uint32_t lease_ms = 30000;        // lease length (heartbeats extend it)
};

struct ClaimResult {
  std::vector<protocol::TaskMsg> tasks;  // best first; token is the fencing token
  std::vector<int64_t> waited_ms;        // per task: ms since created or due (for metrics)
  BatchChanges batches;                  // Store::Claim (one request) only; else ClaimsResult's
  uint32_t held = 0;  // ready tasks it passed over because of a queue limit (lib/limits.lua)
};

// The claims of several workers made in one call (TaskStore::ClaimMany): one result per
// request, in order (an error for a request that failed validation, nothing leased), and the
// batches the whole call changed.
// A task that ended `expired` (not started before its expires_in_ms deadline, issue 22),
// with the descendants cancelled with it (dependency_failed).
struct ExpiredTask {
  std::string task_id;
  std::vector<std::string> cancelled;
};

struct ClaimsResult {
  std::vector<Result<ClaimResult>> claims;
  BatchChanges batches;
  std::vector<ExpiredTask> expired;  // met past their deadline: ended instead of leased
};

// DONEs of several workers in one call (TaskStore::FinishMany): the next `count` DONEs of the
// call's list came from `worker_id` (fencing checks each against that worker's leases).
struct DoneGroup {
  std::string worker_id;
  size_t count = 0;
};

enum class FinishStatus : uint8_t {
  kSucceeded,  // output recorded
  kRetry,      // failed; scheduled again at ready_at_ms
  kDead,       // failed for good: dead letter
  kCancelled,  // it had a cancel request, so it ended cancelled
  kStale,      // token did not match the live lease: rejected, counted, nothing recorded
  kNotFound,   // no such task (expired or purged)
  kAwaiting,   // the attempt handed the task to an outside system: awaiting, slot freed
  kNotAwaiting,  // a COMPLETE for a task not awaiting (FinishOutcome::state): nothing changed
  kBadToken,     // a COMPLETE whose token is not the awaiting task's: nothing changed
  kPoll,         // a check asked to be run again: parked until ready_at_ms, attempt kept
};
const char* FinishStatusName(FinishStatus s);

// What one Finish/Reap/ReleaseWorker item changed, so the broker can emit events.
struct FinishOutcome {
  std::string task_id;
  FinishStatus status = FinishStatus::kNotFound;
  std::string queue;
  std::string batch_id;
  int64_t ready_at_ms = 0;             // kRetry: when it becomes ready again
  uint32_t attempt = 0;                // the attempt that just ended
  std::vector<std::string> released;   // dependents that became ready (or delayed)
  std::vector<std::string> cancelled;  // descendants (dependency_failed) or batch rest
                                       // (budget_exceeded) cancelled by this item
  std::vector<std::string> budget_cancelled;  // those of `cancelled` whose reason is
                                              // budget_exceeded (the rest: dependency_failed)
  // Those of `cancelled` whose reason is batch_failed: a fail_fast batch's task died.
  std::vector<std::string> fail_fast_cancelled;
  // Running tasks of a fail_fast batch whose cancel this item requested (reason
  // batch_failed): the broker sends their workers CANCEL_TASK.
  struct StopRunning {
    std::string task_id;
    std::string worker_id;
    uint64_t token = 0;
  };
  std::vector<StopRunning> cancel_requests;
  // Set for kSucceeded on a first attempt without history: the rest of the task, which with
  // the DONE just recorded is the whole task (SucceededTask), so nothing need be read back.
  struct Summary {
    std::string type;
    std::string name;
    uint8_t priority = 0;
    uint32_t max_attempts = 0;
    std::string worker;
    int64_t created_ms = 0;
    int64_t started_ms = 0;
    int64_t finished_ms = 0;
  };
  std::optional<Summary> summary;
  // kNotAwaiting: the task's state (running: not handed over yet; terminal: already ended).
  protocol::TaskState state = protocol::TaskState::kUnknown;
};

// A COMPLETE as the DONE finish.lua records (no lease token; completion_token set, awaiting
// false), once its fields are checked: task id, token format, costs (kInvalidArgument).
Result<protocol::Done> CompletionDone(protocol::Complete complete);
// What a COMPLETE's outcome means to its sender: ok (recorded), or why nothing changed
// (kStaleToken: wrong token; kConflict: not awaiting, naming its state; kNotFound).
Result<void> CompletionVerdict(const FinishOutcome& outcome);

// The task as a GET would read it, built from a kSucceeded outcome's summary and its DONE.
protocol::TaskInfo SucceededTask(const FinishOutcome& outcome, protocol::Done done);

struct FinishResult {
  std::vector<FinishOutcome> items;
  BatchChanges batches;
  int64_t next_deadline_ms = -1;  // Reap only: earliest remaining lease deadline, -1 none
};

struct PromoteResult {
  uint32_t promoted = 0;
  std::vector<std::string> queues;  // queues that got ready tasks
  int64_t next_due_ms = -1;         // earliest remaining delayed task, -1 none
  BatchChanges batches;
  std::vector<ExpiredTask> expired;  // the expiry sweep's (issue 22)
};

struct CancelRequested {
  std::string task_id;
  uint64_t token = 0;
  std::string reason;
};

struct ExtendResult {
  uint32_t extended = 0;                          // leases pushed forward
  std::vector<CancelRequested> cancel_requested;  // running tasks to tell the worker to stop
};

enum class CancelStatus : uint8_t {
  kCancelled,        // was queued, delayed or blocked: cancelled now
  kCancelRequested,  // running: flagged; tell worker_id to stop attempt `token`
  kFinished,         // already terminal; unchanged
  kNotFound,
};

struct CancelOutcome {
  std::string task_id;
  CancelStatus status = CancelStatus::kNotFound;
  std::string worker_id;                                      // kCancelRequested
  uint64_t token = 0;                                         // kCancelRequested
  protocol::TaskState state = protocol::TaskState::kUnknown;  // kFinished: its final state
  std::vector<std::string> cancelled;  // kCancelled: descendants cancelled with it
};

struct CancelResult {
  std::vector<CancelOutcome> items;
  BatchChanges batches;
};

// Depth and counters of one queue. QueueStats plus what the wire type does not carry yet.
struct QueueCounters {
  protocol::QueueStats stats;
  uint64_t blocked = 0;   // tasks waiting for batch parents
  uint64_t awaiting = 0;  // tasks whose handler handed them to an outside system (COMPLETE)
  uint64_t stale = 0;    // results rejected for a stale fencing token
};

// One page of the known queues (stats.lua): queues by name after `after`.
struct StatsPage {
  std::vector<QueueCounters> queues;
  std::string next_after;  // the `after` of the next page; empty: this page was the last
  uint64_t known = 0;      // queues in the index (every page)
};

// One page of LIST (list.lua): task summaries (TaskInfo without output, payload or history)
// or batches (BatchStatus without their name maps), and the next page's cursor.
struct ListPage {
  std::vector<protocol::TaskInfo> tasks;
  std::vector<protocol::BatchStatus> batches;
  std::string next;  // "" = this page was the last
};

// One PROGRESS to store (progress.lua): kept only if `token` is still the live lease of
// `task_id` held by `worker_id`.
struct ProgressWrite {
  std::string worker_id;
  std::string task_id;
  uint64_t token = 0;
  double fraction = 0;  // 0..1
  std::string message;  // at most protocol::kMaxProgressMessageBytes
};

struct ProgressSaved {
  uint32_t stored = 0;   // written on their task records
  uint32_t refused = 0;  // the attempt was no longer live (ended, or another token)
};

// ---- schedules (schedule_*.lua, enqueue.lua's tick) ----

// A schedule as stored: its definition with its run state, and the key that added it.
struct StoredSchedule {
  protocol::ScheduleInfo info;
  std::string owner;  // CURVE key of the client that added it ("" = none): owns its tasks
};

struct ScheduleListing {
  std::vector<StoredSchedule> items;  // in name order (ScheduleDue: earliest tick first)
  uint64_t total = 0;                 // schedules in the store
};

// One tick a broker tries to claim (enqueue.lua, A.tick): it wins iff the schedule's
// next_run is still `expect_ms` and it is not paused.
struct TickClaim {
  std::string name;
  int64_t expect_ms = 0;  // the next_run it read
  int64_t next_ms = 0;    // the next_run it sets
  int64_t at_ms = 0;      // the tick time the task stands for (last_run)
  bool fire = true;       // false: only move on (catch-up skip)
  uint64_t missed = 0;    // ticks no broker ran in time, added to the schedule's count
};

enum class TickStatus : uint8_t {
  kClaimed,  // this call claimed the tick and stored its task
  kSkipped,  // claimed; nothing stored (fire false)
  kFull,     // claimed; its queue was at --max-queue-depth: counted missed, nothing stored
  kLost,     // another broker claimed it first (or it was paused, replaced or removed)
};

struct TickOutcome {
  TickStatus status = TickStatus::kLost;
  std::string task_id;     // kClaimed: the task stored (or the first one, on a duplicate)
  bool duplicate = false;  // kClaimed: the idempotency key was seen (nothing new stored)
};

}  // namespace taskmill::broker
