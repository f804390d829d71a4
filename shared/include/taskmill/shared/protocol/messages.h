#pragma once

// Every message of the taskmill wire protocol, one struct each. A message travels as
// three ZeroMQ frames: ["TM1", command byte, msgpack map body] (docs/protocol.md).

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "taskmill/shared/protocol/types.h"

namespace taskmill::protocol {

inline constexpr std::string_view kVersion = "TM1";

enum class Command : uint8_t {
  // client -> broker
  kSubmit = 0x01,
  kBatch = 0x02,
  kWait = 0x03,
  kGet = 0x04,
  kCancel = 0x05,
  kSubscribe = 0x06,
  kStats = 0x07,
  kDlq = 0x08,
  kComplete = 0x09,
  kSchedule = 0x0A,
  kLimit = 0x0B,
  kQueue = 0x0C,
  kWorker = 0x0D,
  kList = 0x0E,
  kUpdate = 0x0F,
  // broker -> client
  kReply = 0x20,
  kResult = 0x21,
  kEvent = 0x22,
  kGoaway = 0x23,
  // worker -> broker
  kReady = 0x40,
  kHeartbeat = 0x41,
  kDone = 0x42,
  kProgress = 0x43,
  kBye = 0x44,
  // broker -> worker
  kTask = 0x60,
  kCancelTask = 0x61,
  kBrokerHeartbeat = 0x62,
  kDrain = 0x63,
  kMove = 0x64,
};
const char* CommandName(Command c);

// ---- client -> broker ----

// Submit one or many tasks. The reply carries their ids, in order, once Redis has them.
struct Submit {
  static constexpr Command kCommand = Command::kSubmit;
  uint64_t req_id = 0;
  std::vector<TaskSpec> tasks;
  bool notify = false;  // push a RESULT to this client when each task ends
  // Client-chosen, the same on every resend of one logical request (ValidateRequestId): the
  // broker stores the tasks once and answers a resend with the first reply's ids.
  std::string request_id;
  friend bool operator==(const Submit&, const Submit&) = default;
};

// Submit a batch (a DAG of tasks). The reply carries the batch status with its task ids.
struct Batch {
  static constexpr Command kCommand = Command::kBatch;
  uint64_t req_id = 0;
  BatchSpec batch;
  bool subscribe = false;  // also subscribe this client to the batch's events
  std::string request_id;  // as Submit::request_id: a resend returns the same batch
  friend bool operator==(const Batch&, const Batch&) = default;
};

// Wait until every task is terminal or timeout_ms passes; the reply lists their states.
struct Wait {
  static constexpr Command kCommand = Command::kWait;
  uint64_t req_id = 0;
  std::vector<std::string> ids;
  uint32_t timeout_ms = 0;
  // Also push each (throttled) progress of these tasks to this client while it waits, as an
  // EVENT of type task_progress with an empty batch_id, whichever broker the worker is on.
  bool progress = false;
  friend bool operator==(const Wait&, const Wait&) = default;
};

// Read tasks' current state and results, or a batch's status.
struct Get {
  static constexpr Command kCommand = Command::kGet;
  uint64_t req_id = 0;
  std::vector<std::string> ids;
  std::string batch_id;
  friend bool operator==(const Get&, const Get&) = default;
};

// Cancel tasks, or the unfinished rest of a batch.
struct Cancel {
  static constexpr Command kCommand = Command::kCancel;
  uint64_t req_id = 0;
  std::vector<std::string> ids;
  std::string batch_id;
  std::string reason;
  friend bool operator==(const Cancel&, const Cancel&) = default;
};

// Start (or stop) receiving EVENT messages for a batch.
struct Subscribe {
  static constexpr Command kCommand = Command::kSubscribe;
  uint64_t req_id = 0;
  std::string batch_id;
  bool unsubscribe = false;
  friend bool operator==(const Subscribe&, const Subscribe&) = default;
};

// Per-queue depth and counters, connected workers, the broker's own counters; one page at
// a time (docs/protocol-messages.md 8.7): send the reply's next_cursor back until it is empty.
struct Stats {
  static constexpr Command kCommand = Command::kStats;
  uint64_t req_id = 0;
  std::vector<std::string> queues;    // empty: every known queue
  std::vector<std::string> sections;  // "queues", "workers", "broker"; empty: all three
  std::string cursor;                 // a reply's next_cursor; empty: the first page
  uint32_t limit = 0;                 // entries per page; 0: the broker's default
  friend bool operator==(const Stats&, const Stats&) = default;
};

enum class DlqOp : uint8_t { kList, kRetry, kPurge };
const char* DlqOpName(DlqOp op);

// Dead-letter set: list, retry (back to ready, attempts reset) or purge.
struct Dlq {
  static constexpr Command kCommand = Command::kDlq;
  uint64_t req_id = 0;
  DlqOp op = DlqOp::kList;
  std::string queue;             // empty: every queue
  std::vector<std::string> ids;  // retry/purge: these; empty: all (of queue)
  uint32_t limit = 100;          // list: at most this many
  friend bool operator==(const Dlq&, const Dlq&) = default;
};

// Completes a task awaiting an outside system (docs/protocol.md, "Completion modes"): the
// outcome of its attempt, proved by the completion token its handler was given. Exactly one
// COMPLETE (or the await deadline) ends an awaiting attempt; the reply's count is 1.
struct Complete {
  static constexpr Command kCommand = Command::kComplete;
  uint64_t req_id = 0;
  std::string task_id;
  std::string token;  // the completion token (kCompletionTokenBytes hex digits)
  bool ok = true;     // false: `error` says why the attempt failed
  Bytes output;
  std::optional<TaskError> error;
  CostMap cost;  // summed into the task, its queue and batch as a DONE's
  friend bool operator==(const Complete&, const Complete&) = default;
};

// Sets (or, with clear, removes) a queue's limits and fairness (`taskmill queue limit`): the
// whole setting is replaced; fields left empty/0 are off. The broker parses and checks the
// strings (limit_spec.h) and refuses a bad one with a message naming what is allowed.
struct Limit {
  static constexpr Command kCommand = Command::kLimit;
  uint64_t req_id = 0;
  std::string queue;
  bool clear = false;
  std::string rate;          // "N/s", "N/m" or "N/h"
  uint32_t concurrency = 0;  // at most this many leased (running or prefetched) at once
  std::string cost_rate;     // "NAME=AMOUNT/s|m|h": spend over that sliding window
  std::string key_label;     // every limit applies per value of this task label
  std::string aging;         // priority aging period: "250ms", "30s", "5m", "2h"
  bool round_robin = false;  // take turns between the values of key_label within a priority
  friend bool operator==(const Limit&, const Limit&) = default;
};

enum class ScheduleOp : uint8_t { kList, kAdd, kPause, kResume, kRemove };
const char* ScheduleOpName(ScheduleOp op);

// Periodic schedules (docs/protocol-messages.md 8.25): add (or replace) one, list them,
// pause, resume or remove one by name.
struct Schedule {
  static constexpr Command kCommand = Command::kSchedule;
  uint64_t req_id = 0;
  ScheduleOp op = ScheduleOp::kList;
  std::string name;                      // pause/resume/remove: which one
  std::optional<ScheduleInfo> schedule;  // add: its definition
  friend bool operator==(const Schedule&, const Schedule&) = default;
};

// Lists tasks of one queue in one state, or batches, a page at a time (`taskmill list`,
// docs/protocol-messages.md 8.28). The broker checks every field (ValidateList) and reads a
// bounded number of entries per call; a page may hold fewer than `limit` while next_cursor
// is not empty.
struct List {
  static constexpr Command kCommand = Command::kList;
  uint64_t req_id = 0;
  std::string what = "tasks";  // "tasks" or "batches"
  std::string queue;           // tasks: the queue (required)
  std::string state;           // tasks: a state of docs/protocol.md 7.10; batches: "" = any
  std::string type;            // tasks: only this task type ("" = any)
  uint32_t limit = 50;         // entries per page, 1..kMaxListLimit
  std::string cursor;          // a REPLY's next_cursor; "" = from the start
  friend bool operator==(const List&, const List&) = default;
};
inline constexpr uint32_t kMaxListLimit = 1000;

// Changes one waiting task (docs/protocol-messages.md 8.29): op "priority" sets the priority
// of a queued (re-scored in its ready set), delayed or blocked task; op "promote" makes a
// delayed task ready now. REPLY ids = [id], count 1, tasks = the task as it is now.
struct Update {
  static constexpr Command kCommand = Command::kUpdate;
  uint64_t req_id = 0;
  std::string id;
  std::string op;         // "priority" or "promote"
  uint32_t priority = 0;  // op priority: 0-255
  friend bool operator==(const Update&, const Update&) = default;
};

enum class QueueOp : uint8_t { kPause, kResume };
const char* QueueOpName(QueueOp op);

// Queue administration (docs/protocol-messages.md 8.26; `taskmill queue pause|resume`): a
// paused queue keeps its tasks and takes submits, but no broker leases its tasks until it is
// resumed. Admin role under CURVE roles. Later ops are new QueueOp values.
struct QueueAdmin {
  static constexpr Command kCommand = Command::kQueue;
  uint64_t req_id = 0;
  QueueOp op = QueueOp::kPause;
  std::string queue;
  friend bool operator==(const QueueAdmin&, const QueueAdmin&) = default;
};

enum class WorkerOp : uint8_t { kQuiet, kUnquiet };
const char* WorkerOpName(WorkerOp op);

// Worker administration (docs/protocol-messages.md 8.27; `taskmill worker quiet|unquiet`): a
// quiet worker keeps its running tasks and its connection but is leased nothing new, whichever
// broker it is connected to. Admin role under CURVE roles.
struct WorkerAdmin {
  static constexpr Command kCommand = Command::kWorker;
  uint64_t req_id = 0;
  WorkerOp op = WorkerOp::kQuiet;
  std::string worker;  // the worker id, as STATS lists it
  friend bool operator==(const WorkerAdmin&, const WorkerAdmin&) = default;
};

// ---- broker -> client ----

// The answer to one request, matched by req_id. Exactly one of error or the result
// fields that the request kind fills.
struct Reply {
  static constexpr Command kCommand = Command::kReply;
  uint64_t req_id = 0;
  std::optional<WireError> error;
  std::vector<std::string> ids;      // SUBMIT: ids in order; CANCEL/DLQ: ids affected
  std::vector<TaskInfo> tasks;       // GET, WAIT, DLQ list
  std::vector<QueueStats> queues;    // STATS
  std::vector<WorkerInfo> workers;   // STATS
  std::optional<BatchStatus> batch;  // BATCH, GET of a batch
  uint32_t count = 0;                // DLQ retry/purge, CANCEL: how many
  std::optional<BrokerStats> broker;  // STATS (first page)
  std::string next_cursor;            // STATS, LIST: pass back for the next page; empty: last
  std::vector<std::string> warnings;  // SUBMIT, BATCH: e.g. a task type no worker serves
  std::vector<std::string> requested;  // CANCEL: those of ids still running (their worker
                                       // is told to stop; they end once it confirms)
  std::vector<ScheduleInfo> schedules;  // SCHEDULE: list; add/pause/resume: the one changed
  std::vector<BatchStatus> batches;     // LIST of batches (without their name maps)
  friend bool operator==(const Reply&, const Reply&) = default;
};

// A finished task, pushed to the client that submitted it with notify.
struct ResultMsg {
  static constexpr Command kCommand = Command::kResult;
  TaskInfo task;
  friend bool operator==(const ResultMsg&, const ResultMsg&) = default;
};

// A batch event, pushed to subscribers.
struct Event {
  static constexpr Command kCommand = Command::kEvent;
  std::string batch_id;
  std::string type;  // batch_started, task_started, task_progress, task_completed,
                     // task_failed, batch_progress, budget_warning, batch_completed
  std::string task_id;
  std::string task_name;
  std::string state;    // task or batch state name
  uint32_t done = 0;    // tasks terminal so far
  uint32_t total = 0;   // tasks in the batch
  double progress = 0;  // task_progress: 0..1
  std::string message;
  std::optional<TaskError> error;
  CostMap cost;  // batch events: summed so far; task events: the task's
  int64_t ts_ms = 0;
  friend bool operator==(const Event&, const Event&) = default;
};

// ---- worker -> broker ----

// A worker announces itself; sent on connect and after every reconnect.
struct Ready {
  static constexpr Command kCommand = Command::kReady;
  std::string worker_id;
  std::vector<std::string> queues;
  std::vector<std::string> types;  // task types it has handlers for
  uint32_t concurrency = 1;        // slots; the broker never sends more tasks than free slots
  Labels labels;
  // Tasks this process still holds (running, or finished with the DONE not yet sent): empty
  // for a fresh process. The broker fails any other attempt it had leased to this worker id,
  // so a worker restarted under the same id does not leave tasks running forever.
  std::vector<std::string> running;
  friend bool operator==(const Ready&, const Ready&) = default;
};

// Worker liveness; carries its free slot count so the broker can reconcile credit.
struct Heartbeat {
  static constexpr Command kCommand = Command::kHeartbeat;
  uint32_t free = 0;
  friend bool operator==(const Heartbeat&, const Heartbeat&) = default;
};

// The outcome of one attempt. Accepted only if token matches the live lease.
struct Done {
  static constexpr Command kCommand = Command::kDone;
  std::string task_id;
  uint64_t token = 0;
  bool ok = false;  // wire key "ok": true succeeded, false failed
  Bytes output;
  std::optional<TaskError> error;  // when !ok
  std::optional<int32_t> exit_code;
  Bytes stdout_data;  // wire key "stdout"
  Bytes stderr_data;  // wire key "stderr"
  uint32_t duration_ms = 0;
  CostMap cost;
  int64_t started_ms = 0;
  std::vector<Artifact> artifacts;  // files the attempt kept
  // The attempt handed the task to an outside system: it enters state awaiting (slot freed)
  // until a COMPLETE with completion_token, or until await_ms passes (0 = no deadline).
  bool awaiting = false;
  uint32_t await_ms = 0;
  std::string completion_token;  // the token the handler gave out (awaiting only)
  // Polled: "check again in poll_ms" (0 = not a poll): the task is parked (delayed, no slot,
  // the attempt not used up) and its next TASK carries poll_state; once the polls of this
  // attempt have waited poll_max_ms in all (0 = the broker's cap) the attempt fails.
  uint32_t poll_ms = 0;
  Bytes poll_state;  // at most kMaxPollStateBytes
  uint32_t poll_max_ms = 0;
  friend bool operator==(const Done&, const Done&) = default;
};

// Optional progress of a running attempt.
struct Progress {
  static constexpr Command kCommand = Command::kProgress;
  std::string task_id;
  uint64_t token = 0;
  double fraction = 0;  // 0..1
  std::string message;
  friend bool operator==(const Progress&, const Progress&) = default;
};

// The worker is leaving; its unfinished tasks were already reported.
struct Bye {
  static constexpr Command kCommand = Command::kBye;
  std::string reason;
  friend bool operator==(const Bye&, const Bye&) = default;
};

// ---- broker -> worker ----

// One attempt of a task, leased to the receiving worker.
struct TaskMsg {
  static constexpr Command kCommand = Command::kTask;
  std::string task_id;
  uint64_t token = 0;    // fencing token; echo it in DONE/PROGRESS
  uint32_t attempt = 1;  // 1-based
  std::string queue;
  std::string type;
  Bytes payload;
  uint32_t timeout_ms = 0;
  std::string batch_id;
  std::string name;
  std::map<std::string, Bytes> parents;  // parent name -> its output (batch members)
  Labels labels;
  Bytes poll_state;  // a polled task's check: the state its previous check returned
  // Parents that died (an on_failure=continue batch): absent from `parents`, listed here.
  std::vector<ParentError> parent_errors;
  friend bool operator==(const TaskMsg&, const TaskMsg&) = default;
};

// Stop a running attempt.
struct CancelTask {
  static constexpr Command kCommand = Command::kCancelTask;
  std::string task_id;
  uint64_t token = 0;
  std::string reason;
  friend bool operator==(const CancelTask&, const CancelTask&) = default;
};

// Broker liveness.
struct BrokerHeartbeat {
  static constexpr Command kCommand = Command::kBrokerHeartbeat;
  friend bool operator==(const BrokerHeartbeat&, const BrokerHeartbeat&) = default;
};

// Take no new tasks; finish running ones within grace_ms.
struct Drain {
  static constexpr Command kCommand = Command::kDrain;
  uint32_t grace_ms = 0;
  friend bool operator==(const Drain&, const Drain&) = default;
};

// ---- hand-off (issue 17) ----

// Broker -> client: this broker is leaving (or cannot serve): send nothing more here, move
// to another endpoint of the list (or reconnect here with backoff when it is the only one)
// and resend every unanswered request. Replies sent before it stay valid.
struct Goaway {
  static constexpr Command kCommand = Command::kGoaway;
  std::string reason;
  friend bool operator==(const Goaway&, const Goaway&) = default;
};

// Broker -> worker: keep running tasks and keep their DONEs; reconnect to another endpoint
// of the list (or this one, with backoff) and send READY with `running`. Never a stop.
struct Move {
  static constexpr Command kCommand = Command::kMove;
  std::string reason;
  friend bool operator==(const Move&, const Move&) = default;
};

using Message = std::variant<Submit, Batch, Wait, Get, Cancel, Subscribe, Stats, Dlq,  //
                             Reply, ResultMsg, Event,                                  //
                             Limit,                                                    //
                             Ready, Heartbeat, Done, Progress, Bye,                    //
                             TaskMsg, CancelTask, BrokerHeartbeat, Drain,              //
                             Goaway, Move, Complete, Schedule, QueueAdmin, WorkerAdmin,  //
                             List, Update>;

}  // namespace taskmill::protocol
