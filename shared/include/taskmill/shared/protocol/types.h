#pragma once

// Value types shared by several protocol messages: task specs, task results, errors,
// statistics. Plain structs; the codec (codec.h) turns them into msgpack and back.
// Field order here is the canonical wire order (docs/protocol.md).

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "taskmill/shared/backoff.h"

namespace taskmill::protocol {

// Binary-safe bytes; encoded as msgpack bin.
using Bytes = std::string;
// Named costs a worker reports: "usd", "tokens_in", "cpu_ms", ...
using CostMap = std::map<std::string, double>;
using Labels = std::map<std::string, std::string>;

inline constexpr uint32_t kDefaultMaxAttempts = 3;
inline constexpr const char* kDefaultQueue = "default";
// TaskError code of an attempt whose handler raised an exception, in every worker runtime
// (C++, Python, Node); retryable; its message is the exception in words (type, message and
// a bounded traceback where the language has one). Vector done_handler_exception.
inline constexpr const char* kHandlerExceptionCode = "handler_exception";

// Lifecycle state of a task. Terminal: succeeded, failed (dead), cancelled, expired.
enum class TaskState : uint8_t {
  kUnknown,    // not found, or a state this peer does not know
  kQueued,     // in its queue's ready set
  kDelayed,    // waiting for not_before or a retry backoff
  kBlocked,    // waiting for batch parents to succeed
  kRunning,    // leased to a worker
  kSucceeded,  // terminal: output recorded
  kFailed,     // terminal: dead-lettered after its last attempt or a non-retryable error
  kCancelled,  // terminal: cancelled by a client, a budget or a failed dependency
  kAwaiting,   // its attempt handed it to an outside system: no slot held, waiting for a
               // COMPLETE with its completion token (or its await deadline)
  kExpired,    // terminal: not started before its expires_in_ms deadline; never ran
               // (issue 22; an older peer reads it as unknown)
};
const char* TaskStateName(TaskState s);
TaskState TaskStateFromName(std::string_view name);
bool IsTerminal(TaskState s);

// What a client asks to run.
struct TaskSpec {
  std::string id;                     // empty: the broker assigns one
  std::string name;                   // local name inside a batch (depends_on refers to it)
  std::string queue = kDefaultQueue;  // queue to run on
  std::string type;                   // handler name; required
  Bytes payload;                      // handler input, opaque to taskmill
  uint8_t priority = 0;               // 0-255, higher runs first
  uint32_t max_attempts = kDefaultMaxAttempts;  // attempts before dead-lettering, >= 1
  BackoffPolicy backoff;                        // delay between attempts
  uint32_t timeout_ms = 0;                      // per attempt; 0 = no limit
  std::string idempotency_key;                  // resubmits with the same key return the first id
  int64_t not_before_ms = 0;                    // epoch ms before which it must not run; 0 = now
  std::string batch_id;                         // set by the broker for batch members
  std::vector<std::string> depends_on;          // batch-local names of parents
  Labels labels;                                // free-form metadata
  // Issue 22 (older peers skip these keys). delay_ms: the broker sets not_before to its own
  // clock at enqueue + this (0 = none; not with not_before_ms). expires_in_ms: a task not
  // started (leased for its first attempt) within this of its enqueue ends `expired` and
  // never runs (0 = never). idempotency_ttl_ms: how long its idempotency key dedupes (0 = the
  // broker's --idempotency-ttl).
  uint64_t delay_ms = 0;
  uint64_t expires_in_ms = 0;
  uint64_t idempotency_ttl_ms = 0;

  friend bool operator==(const TaskSpec&, const TaskSpec&) = default;
};

// An error attached to a task attempt.
struct TaskError {
  std::string code;     // e.g. "exit_status", "timeout", "lease_expired", "worker_lost"
  std::string message;  // human-readable
  bool retryable = false;

  friend bool operator==(const TaskError&, const TaskError&) = default;
};

// A batch parent that died, as its child of an on_failure=continue batch receives it (TASK
// parent_errors): the parent's batch-local name and its last error.
struct ParentError {
  std::string name;     // the parent's batch-local name
  std::string code;     // its TaskError code
  std::string message;  // its TaskError message
  bool retryable = false;

  friend bool operator==(const ParentError&, const ParentError&) = default;
};

// A file an exec task left in $TASKMILL_ARTIFACTS_DIR (worker/README.md, "Artifacts").
struct Artifact {
  std::string name;    // relative path, '/'-separated names of [A-Za-z0-9_.-] (no "." or "..")
  uint64_t size = 0;   // bytes
  std::string sha256;  // lowercase hex of the content
  std::string uri;     // where it is kept (file://... under the worker's --artifacts-dir);
                       // empty when the content travels inline in `data`
  Bytes data;          // the content, for an inline artifact

  friend bool operator==(const Artifact&, const Artifact&) = default;
};

// The state and result of a task, as the broker reports it.
struct TaskInfo {
  std::string id;
  std::string queue;
  std::string type;
  std::string batch_id;
  std::string name;
  TaskState state = TaskState::kUnknown;
  uint8_t priority = 0;
  uint32_t attempts = 0;  // attempts started so far
  uint32_t max_attempts = 0;
  Bytes output;
  std::optional<TaskError> error;    // the last attempt's error
  std::optional<int32_t> exit_code;  // exec tasks
  Bytes stdout_data;                 // wire key "stdout"
  Bytes stderr_data;                 // wire key "stderr"
  uint32_t duration_ms = 0;          // of the recorded attempt
  CostMap cost;                      // summed over every attempt
  std::string worker;                // worker id of the recorded attempt
  int64_t created_ms = 0;
  int64_t started_ms = 0;
  int64_t finished_ms = 0;
  std::vector<TaskError> history;  // errors of earlier attempts (dead letters)
  std::vector<Artifact> artifacts;  // of the recorded attempt
  // The latest PROGRESS the broker stored for the current attempt (0..1; 0 and "" when it has
  // reported none). Throttled at the broker, so it may lag the worker by one interval.
  double progress = 0;
  std::string progress_message;  // at most kMaxProgressMessageBytes
  int64_t ready_at_ms = 0;  // delayed: when it becomes ready (not_before or a retry backoff)

  friend bool operator==(const TaskInfo&, const TaskInfo&) = default;
};

// Per-queue depth and counters.
struct QueueStats {
  std::string queue;
  uint64_t ready = 0;
  uint64_t delayed = 0;
  uint64_t running = 0;
  uint64_t dead = 0;
  uint64_t submitted = 0;
  uint64_t succeeded = 0;
  uint64_t failed = 0;
  uint64_t retried = 0;
  uint64_t cancelled = 0;
  CostMap cost;
  // Ready tasks per task type: the (at most 32) types with the most, capped at 2^32-1 each.
  std::map<std::string, uint32_t> ready_by_type;
  uint32_t more_types = 0;  // types with ready tasks not in ready_by_type
  // Its limits and fairness as text ("" = none: `taskmill queue limit`), the leases counted
  // against its concurrency cap, and ready tasks passed over by a limit (counted per claim).
  std::string limit;
  uint64_t limit_running = 0;
  uint64_t throttled = 0;
  bool paused = false;  // true iff paused (`taskmill queue pause`): nothing of it is leased
  // Tasks that ended `expired` (not started before their deadline; issue 22), a counter.
  uint64_t expired = 0;

  friend bool operator==(const QueueStats&, const QueueStats&) = default;
};

// A connected worker, as the broker sees it.
struct WorkerInfo {
  std::string id;
  std::vector<std::string> queues;
  std::vector<std::string> types;
  uint32_t concurrency = 0;
  uint32_t in_flight = 0;
  Labels labels;
  std::string broker;  // id of the broker it is connected to (empty from older brokers)
  bool quiet = false;  // true iff quiet (`taskmill worker quiet`): finishes, takes nothing new

  friend bool operator==(const WorkerInfo&, const WorkerInfo&) = default;
};

// The STATS "broker" section: this broker's own gauges and counters. Later additions are
// new fields (old peers skip unknown keys), never a reshape.
struct BrokerStats {
  uint32_t workers = 0;            // workers connected to this broker
  uint64_t queues = 0;             // queues known to the store (paged in "queues")
  uint64_t bad_frames = 0;         // messages refused by the decoder or as out of place
  uint64_t stale_results = 0;      // DONEs fenced off by the store
  uint64_t tasks_dispatched = 0;   // TASK messages sent
  uint64_t workers_lost = 0;       // workers declared dead by missed heartbeats
  uint64_t waits = 0;              // WAITs waiting now (read, not yet answered)
  uint64_t wait_ids = 0;           // task ids held by WAITs (waiting or being read)
  uint64_t subscriptions = 0;      // batch subscriptions held now
  uint64_t quota_refusals = 0;     // requests refused by a per-client or total quota
  uint64_t peers_dropped = 0;      // clients whose WAITs and subscriptions were dropped
                                   // because they went away or stopped reading
  uint64_t queued_bytes = 0;       // bytes of replies and events queued for clients now
                                   // (counted since each was last seen reading)
  uint64_t replies_dropped = 0;    // replies and events dropped: client over its byte cap
  uint64_t clients_cut = 0;        // client connections cut for not reading their replies
  std::vector<std::string> warnings;  // unsafe settings the operator must hear about
  std::string broker_id;              // the broker answering: the figures above are its own
  std::vector<std::string> brokers;   // ids of every live broker on this Redis (registry)

  friend bool operator==(const BrokerStats&, const BrokerStats&) = default;
};

// A batch's rule for the dependents of a task that dies (docs/protocol.md 7.7).
inline constexpr const char* kOnFailureCancelDependents = "cancel_dependents";  // the default
inline constexpr const char* kOnFailureContinue = "continue";
inline constexpr const char* kOnFailureFailFast = "fail_fast";

// A batch: tasks with optional dependencies, an optional budget per cost name.
struct BatchSpec {
  std::string id;               // empty: the broker assigns one
  std::vector<TaskSpec> tasks;  // each with a unique non-empty name
  CostMap budget;               // cost name -> limit
  Labels labels;
  // What a task that dies (failed for good) does to the rest: cancel_dependents (its
  // descendants are cancelled), continue (its children still run, given its error in
  // TASK parent_errors), fail_fast (every unfinished task of the batch is cancelled).
  std::string on_failure = kOnFailureCancelDependents;
  // Run once when every other task of the batch is terminal, whatever the outcome; its input
  // (payload) is the batch summary (docs/protocol-batches.md 7.7.1). No parents, payload or delay.
  std::optional<TaskSpec> finally;
  // Adds `tasks` to this running batch instead of storing a new one (issue 22): their names
  // join the batch's (unique within it) and depends_on may name its tasks. id, budget,
  // on_failure and finally stay unset: the batch's own apply (ValidateBatchAppend).
  std::string append_to;

  friend bool operator==(const BatchSpec&, const BatchSpec&) = default;
};

// The state of a batch.
struct BatchStatus {
  std::string id;
  std::string state;  // running, succeeded, partial, failed
  uint32_t total = 0;
  std::map<std::string, uint32_t> counts;  // task state name -> count
  CostMap cost;                            // summed over the batch's tasks
  CostMap budget;
  bool budget_exceeded = false;
  std::map<std::string, std::string> tasks;  // local name -> task id
  int64_t created_ms = 0;
  int64_t finished_ms = 0;
  uint64_t critical_path_ms = 0;
  std::string on_failure = kOnFailureCancelDependents;  // the batch's failure policy
  std::string finally_id;     // its finally task's id (empty: none); stored once it ends
  std::string finally_state;  // GET of a batch: that task's state ("" until it is stored)

  friend bool operator==(const BatchStatus&, const BatchStatus&) = default;
};

// An error reply to a request.
struct WireError {
  std::string code;  // ErrorCodeName
  std::string message;

  friend bool operator==(const WireError&, const WireError&) = default;
};

// A periodic schedule (SCHEDULE 0x0A, docs/protocol-messages.md 8.25): its definition as a
// client gives it, and what the store keeps of its runs. Exactly one of cron and every_ms.
struct ScheduleInfo {
  std::string name;      // [A-Za-z0-9_.-]{1,128}
  std::string cron;      // 5 fields: minute hour day-of-month month day-of-week
  std::string tz;        // IANA zone of cron (e.g. Europe/Paris); empty: UTC
  uint64_t every_ms = 0;  // fixed period, ticks at multiples of it since the epoch
  std::string catch_up = "skip";  // ticks missed while no broker ran: skip, or once
  TaskSpec task;         // what each tick submits
  bool paused = false;
  int64_t next_run_ms = 0;  // the next tick (epoch ms); 0 while paused
  int64_t last_run_ms = 0;  // the last tick that submitted a task
  std::string last_task_id;
  uint64_t fired = 0;   // ticks that submitted a task
  uint64_t missed = 0;  // ticks that no broker ran in time (skipped, or folded into a catch-up)

  friend bool operator==(const ScheduleInfo&, const ScheduleInfo&) = default;
};

}  // namespace taskmill::protocol
