#pragma once

// The C++ client of taskmill: submit tasks and batches to a broker, wait for them, read
// their results, cancel them, follow batch events, read statistics and dead letters.

#include <cstdint>
#include <functional>
#include <future>
#include <memory>
#include <string>
#include <vector>

#include "taskmill/shared/error.h"
#include "taskmill/shared/protocol/messages.h"
#include "taskmill/shared/protocol/types.h"

namespace taskmill::client {

class Connection;

// The broker's client (frontend) port, when neither ClientOptions::endpoint nor
// TASKMILL_BROKER names one.
inline constexpr const char* kDefaultClientEndpoint = "tcp://127.0.0.1:5555";

// How a Client reaches its broker. Every field has a working default.
struct ClientOptions {
  // The broker's frontend (client) endpoint, or a comma-separated list of the frontends of
  // brokers sharing one Redis ("tcp://a:5555,tcp://b:5555"): the client starts at a random
  // one and, when it is lost or says GOAWAY, moves to the next and resends what is
  // unanswered (docs/protocol-conversations.md, 9.3). Empty: the environment's TASKMILL_BROKER, else
  // kDefaultClientEndpoint (as the Python and Node clients and the CLI).
  std::string endpoint = {};
  // Deadline of every request, from the call until its reply. WAIT adds its own timeout.
  uint32_t request_timeout_ms = 10000;
  // ZMTP heartbeat interval on the connection, so a silently dead broker is noticed
  // (the connection is dropped after 3 missed intervals and re-established, or moved to the
  // next endpoint of the list); 0: off.
  uint32_t heartbeat_ms = 500;
  // CURVE encryption and authentication (docs/security.md), both or neither; empty: off.
  // The broker's public key: a .pub file, or its 40-character Z85 text
  // (the CLI's --curve-server-key / TASKMILL_CURVE_SERVER_KEY).
  std::string curve_server_key = {};
  // This client's own key file from `taskmill keygen` (holds its secret key); its .pub
  // twin must be in the broker's --curve-allow-dir (--curve-key-file /
  // TASKMILL_CURVE_KEY_FILE).
  std::string curve_key_file = {};
  // Task ids whose RESULT push (SubmitOptions::notify) is kept for WaitResult: expected
  // ones and arrived ones not yet taken, oldest dropped first. A dropped id costs a WAIT
  // request when it is waited for, never its result.
  size_t max_kept_results = 100'000;
};

// How tasks are submitted.
struct SubmitOptions {
  // Ask the broker to push each task's result when it ends (RESULT, protocol 8.10), so that
  // WaitResult answers without another request.
  bool notify = false;
};

// Called for every EVENT of a subscribed batch. Runs on the Client's callback thread
// (never the I/O thread), one event at a time in arrival order, so it may call the Client.
using EventCallback = std::function<void(const protocol::Event&)>;
// A waited-on task's progress (Client::Wait with a callback): fraction 0..1 and its message.
using ProgressCallback = std::function<void(const std::string& task_id, double fraction,
                                            const std::string& message)>;

// An active subscription to a batch's events. RAII: destroying it (or Cancel) stops the
// callback and, when it was the last local subscription to that batch, tells the broker.
// Once Cancel returns no further call of the callback begins, and none is running unless
// Cancel is called from inside the callback itself. Move-only; may outlive its Client
// (it then does nothing). Owned by the caller; any thread.
class Subscription {
 public:
  Subscription() = default;
  Subscription(Subscription&& other) noexcept;
  Subscription& operator=(Subscription&& other) noexcept;
  Subscription(const Subscription&) = delete;
  Subscription& operator=(const Subscription&) = delete;
  ~Subscription();

  void Cancel();
  bool active() const { return id_ != 0; }
  const std::string& batch_id() const { return batch_id_; }

 private:
  friend class Client;
  Subscription(std::weak_ptr<Connection> connection, uint64_t id, std::string batch_id)
      : connection_(std::move(connection)), id_(id), batch_id_(std::move(batch_id)) {}

  std::weak_ptr<Connection> connection_;  // expired once the Client is gone
  uint64_t id_ = 0;                       // 0 iff inactive (cancelled, moved from, default)
  std::string batch_id_;
};

// A batch submitted together with a subscription to its events.
struct SubscribedBatch {
  protocol::BatchStatus status;
  Subscription subscription;
  std::vector<std::string> warnings;  // the broker's, e.g. a task type no worker serves
};

// What a SUBMIT answers: the task ids in order, and the broker's warnings about them (e.g.
// "no connected worker serves type 'resize' in queue 'images'; ..."), usually none.
struct SubmitResult {
  std::vector<std::string> ids;
  std::vector<std::string> warnings;
};

// What STATS answers: per-queue depth, counters and costs, the connected workers, and the
// broker's own counters (every page of the reply, gathered).
struct StatsReply {
  std::vector<protocol::QueueStats> queues;
  std::vector<protocol::WorkerInfo> workers;
  protocol::BrokerStats broker;
};

// One page of LIST: task summaries (TaskInfo without output, payload or history) or batches
// (BatchStatus without their name maps), and the cursor of the next page ("" = the last).
struct ListPage {
  std::vector<protocol::TaskInfo> tasks;
  std::vector<protocol::BatchStatus> batches;
  std::string next_cursor;
};

// What CANCEL and DLQ retry/purge answer: the task ids affected.
struct AffectedTasks {
  uint32_t count = 0;
  std::vector<std::string> ids;
  // CANCEL: those of `ids` still running. Their worker is told to stop; each ends cancelled
  // once it confirms (Wait for it). Empty from a broker older than the REPLY's `requested`.
  std::vector<std::string> requested;
};

// A client connection to one broker: one ZeroMQ DEALER owned by a private I/O thread.
// Every call blocks the calling thread until its reply or its deadline, and never longer;
// failures come back as Error values (no exceptions):
//   kBrokerUnavailable  no broker answered (nothing listening, or never heard from it);
//   kTimeout            the broker was reachable but this request got no reply in time
//                       (e.g. it restarted while the request was in flight);
//   kUnauthorized       the broker refused the CURVE handshake (key not allowed, or one
//                       side uses CURVE and the other does not);
//   kInvalidArgument    a spec failed validation (checked here before anything is sent);
//   the broker's error code otherwise (kStoreUnavailable, kNotFound, kCycle, ...).
// Reconnects by itself after a broker restart; subscriptions are renewed on every
// reconnect. With an endpoint list it moves to the next broker when one is lost or says
// GOAWAY, resending every unanswered request unchanged. A task with an idempotency_key may be resubmitted safely after a lost reply.
// Lifecycle: Connect, use from any number of threads, destroy (pending calls then fail
// with kBrokerUnavailable). Do not destroy it from inside an EventCallback.
class Client {
 public:
  // Starts the I/O thread and connects lazily: it does not wait for the broker, so it
  // fails only on bad options (a malformed endpoint, a zero timeout, unreadable keys).
  static Result<std::unique_ptr<Client>> Connect(ClientOptions options = {});
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  const ClientOptions& options() const { return options_; }
  // The broker endpoint in use now: one of ClientOptions::endpoint's list (diagnostics).
  std::string endpoint_in_use() const;

  // Submits one task and returns its id (for a repeated idempotency_key, the first id).
  Result<std::string> Submit(const protocol::TaskSpec& spec, const SubmitOptions& how = {});
  // Submits tasks atomically-per-request; returns their ids in order.
  Result<std::vector<std::string>> SubmitMany(std::vector<protocol::TaskSpec> specs,
                                              const SubmitOptions& how = {});
  // The same, with the broker's warnings (SubmitResult).
  Result<SubmitResult> SubmitTasks(std::vector<protocol::TaskSpec> specs,
                                   const SubmitOptions& how = {});
  // The same without waiting for the reply, so that a producer can keep several SUBMITs in
  // flight; get() blocks until the reply or the request deadline. Spec errors come back
  // through the future too.
  std::future<Result<SubmitResult>> SubmitManyAsync(std::vector<protocol::TaskSpec> specs,
                                                    const SubmitOptions& how = {});

  // The result of a task submitted here with notify, from the broker's push: no request is
  // sent when it arrives in time. Like Wait, returns the task's state at timeout_ms (a task
  // still running is not an error). Falls back to the broker (WAIT, or GET at the
  // deadline) for a task whose push cannot come: submitted without notify or by another
  // client, dropped from the kept results, or sent to a connection that has since been
  // re-established (after a broker restart, say). Each result is handed out once; asking
  // again for a task already answered asks the broker.
  Result<protocol::TaskInfo> WaitResult(const std::string& id, uint32_t timeout_ms);
  // The same for many tasks, in the order of ids.
  Result<std::vector<protocol::TaskInfo>> WaitResults(const std::vector<std::string>& ids,
                                                      uint32_t timeout_ms);

  // Waits until every task is terminal or timeout_ms passed, whichever is first, and
  // returns their states (a task still running at the timeout is not an error). The
  // request's own deadline is timeout_ms + request_timeout_ms.
  Result<std::vector<protocol::TaskInfo>> Wait(const std::vector<std::string>& ids,
                                               uint32_t timeout_ms);
  // The same, calling on_progress (on the callback thread, like an EventCallback) with each
  // progress report of these tasks while it waits, whichever broker their worker is on. The
  // broker throttles reports (at most one per task per 250 ms, the latest always kept).
  Result<std::vector<protocol::TaskInfo>> Wait(const std::vector<std::string>& ids,
                                               uint32_t timeout_ms, ProgressCallback on_progress);
  // One task; kNotFound when the broker does not know the id.
  Result<protocol::TaskInfo> Get(const std::string& id);
  // Many tasks; an unknown id comes back with state kUnknown.
  Result<std::vector<protocol::TaskInfo>> GetMany(const std::vector<std::string>& ids);

  // Cancels a task; returns how many were cancelled (0: it had already finished).
  Result<uint32_t> Cancel(const std::string& id, const std::string& reason = "");
  Result<AffectedTasks> CancelMany(const std::vector<std::string>& ids,
                                   const std::string& reason = "");
  // Completes a task awaiting an outside system (its handler returned Await) with the
  // completion token its handler gave out: `complete.req_id` is set here. Errors: kStaleToken
  // (not its token), kConflict (not awaiting: completed already, or not handed over yet),
  // kNotFound.
  Result<void> Complete(protocol::Complete complete);
  // Cancels the unfinished rest of a batch.
  Result<AffectedTasks> CancelBatch(const std::string& batch_id, const std::string& reason = "");

  // Submits a batch (tasks with unique names, depends_on naming other tasks of the batch).
  Result<protocol::BatchStatus> SubmitBatch(protocol::BatchSpec batch);
  // The same, subscribed to its events from the start, so no event is missed. When the
  // spec has no id, one is chosen here (the callback must be registered under it first).
  Result<SubscribedBatch> SubmitBatch(protocol::BatchSpec batch, EventCallback on_event);
  // Adds tasks to a running batch (BATCH append_to): their names must be new to it, and their
  // depends_on may name its tasks. Returns the batch's status, `tasks` holding every name.
  // Errors: kNotFound (no such batch, or another key's), kConflict (it has ended, was
  // cancelled, went over its budget or failed fast; or a name is taken), kInvalidArgument.
  // A subscription to the batch sees the new tasks' events.
  Result<protocol::BatchStatus> AppendToBatch(const std::string& batch_id,
                                              std::vector<protocol::TaskSpec> tasks);
  Result<protocol::BatchStatus> GetBatch(const std::string& batch_id);
  Result<Subscription> Subscribe(const std::string& batch_id, EventCallback on_event);

  // Queue statistics (empty: every queue), the workers connected to this broker and its
  // counters. The broker answers a page at a time; this asks for every page.
  Result<StatsReply> Stats(const std::vector<std::string>& queues = {});

  // Dead letters, newest first, with their error history (queue empty: every queue).
  Result<std::vector<protocol::TaskInfo>> ListDeadLetters(const std::string& queue = "",
                                                          uint32_t limit = 100);
  // Moves dead letters back to ready with attempts reset; ids empty: all (of queue).
  Result<AffectedTasks> RetryDeadLetters(const std::string& queue,
                                         const std::vector<std::string>& ids);
  // Deletes dead letters; ids empty: all (of queue).
  Result<AffectedTasks> PurgeDeadLetters(const std::string& queue,
                                         const std::vector<std::string>& ids);

  // Replaces a queue's limits and fairness (`taskmill queue limit`: rate, concurrency,
  // cost rate, key label, aging, round robin; limit.queue names it). Returns the setting as
  // the broker stored it ("rate=100/s concurrency=5"); a setting that cannot be parsed is
  // refused with kInvalidArgument naming what is allowed. Needs the admin role under CURVE.
  Result<std::string> SetQueueLimit(protocol::Limit limit);
  // Removes every limit and fairness setting of the queue.
  Result<void> ClearQueueLimit(const std::string& queue);

  // Pauses a queue (QUEUE 0x0C; admin role with CURVE): its tasks stay queued, submits still
  // work, and no broker leases any of them until ResumeQueue. The queue as it is now.
  Result<protocol::QueueStats> PauseQueue(const std::string& queue);
  Result<protocol::QueueStats> ResumeQueue(const std::string& queue);
  // Quiets a worker by id (WORKER 0x0D; admin role with CURVE), whichever broker it is
  // connected to: it finishes its running tasks and is leased nothing new until
  // UnquietWorker. kNotFound if no live broker knows the id. The worker (its broker, quiet).
  Result<protocol::WorkerInfo> QuietWorker(const std::string& worker_id);
  Result<protocol::WorkerInfo> UnquietWorker(const std::string& worker_id);

  // Periodic schedules (docs/protocol-messages.md 8.25; admin role with CURVE). AddSchedule
  // adds or replaces one (exactly one of cron and every_ms; checked here first with
  // protocol::ValidateSchedule) and returns it as stored, with its next run.
  Result<protocol::ScheduleInfo> AddSchedule(const protocol::ScheduleInfo& schedule);
  // Every schedule, in name order, with its run state (next run, fired, missed, ...).
  Result<std::vector<protocol::ScheduleInfo>> ListSchedules();
  // Pause (no ticks until resumed), resume (from the next tick after now), remove.
  // kNotFound for an unknown name.
  Result<protocol::ScheduleInfo> PauseSchedule(const std::string& name);
  Result<protocol::ScheduleInfo> ResumeSchedule(const std::string& name);
  Result<void> RemoveSchedule(const std::string& name);

  // LIST (docs/protocol-messages.md 8.28): one page of a queue's tasks in one state (any state
  // of protocol.md 7.10 but unknown), or of batches. `list` is checked first
  // (protocol::ValidateList); pass the page's next_cursor back in `list.cursor` for the next
  // page ("" = the last). Under CURVE a client sees only its own tasks (an admin every one).
  Result<ListPage> List(protocol::List list);
  Result<ListPage> ListTasks(const std::string& queue, const std::string& state,
                             const std::string& type = "", uint32_t limit = 50,
                             const std::string& cursor = "");
  Result<ListPage> ListBatches(const std::string& state = "", uint32_t limit = 50,
                               const std::string& cursor = "");
  // UPDATE (8.29): sets the priority of a queued, delayed or blocked task, or makes a delayed
  // task ready now. The task as it is after the change; kNotFound, kConflict (its state).
  Result<protocol::TaskInfo> SetPriority(const std::string& id, uint32_t priority);
  Result<protocol::TaskInfo> Promote(const std::string& id);

  // Sends any client request (its req_id is set here) and returns the successful REPLY,
  // or the REPLY's error as an Error. timeout_ms 0: request_timeout_ms.
  Result<protocol::Reply> Call(protocol::Message request, uint32_t timeout_ms = 0);

 private:
  friend struct ClientTestPeer;  // tests reach the Connection (client/test)
  Client(ClientOptions options, std::shared_ptr<Connection> connection);
  Result<Subscription> SubscribeRegistered(uint64_t sub_id, const std::string& batch_id);
  // WaitResults' fallback: WAIT (GET once the deadline passed), asked again after a
  // transient error (a restarting broker) while deadline_ms (steady) allows.
  Result<std::vector<protocol::TaskInfo>> AskForResults(const std::vector<std::string>& ids,
                                                        int64_t deadline_ms);

  ClientOptions options_;
  // Co-owned by the Subscriptions (weakly) so one that outlives the Client stays safe.
  std::shared_ptr<Connection> connection_;
};

}  // namespace taskmill::client
