#pragma once

// What a task handler sees and returns. A handler is a plain function registered by task
// type on a Worker (worker.h):
//
//   worker.Handle("resize", [](taskmill::worker::TaskContext& ctx) {
//     if (ctx.Cancelled()) return Outcome::Fail("cancelled", "stopped early", false);
//     ctx.ReportProgress(0.5, "half way");
//     ctx.AddCost("tokens_in", 512);
//     return Outcome::Ok("result bytes");
//   });

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "taskmill/shared/protocol/messages.h"

namespace taskmill::worker {

// Why a running attempt was asked to stop.
enum class CancelReason : uint8_t {
  kNone,       // not cancelled
  kCancelled,  // the broker sent CANCEL_TASK (a client cancel, a budget, a failed dependency)
  kTimeout,    // the task's timeout_ms passed
  kDraining,   // the worker is shutting down and the drain grace ran out
};
const char* CancelReasonName(CancelReason reason);

// The stop request of one attempt: a reason, and an eventfd that becomes readable once it
// is set, so a handler can poll it next to its own fds (the exec handler does).
// Lifecycle: one per attempt, created by the worker's I/O thread and co-owned (shared_ptr)
// by the I/O thread's table of running tasks and the executor running the attempt.
// Thread-safe: Cancel from any thread, query from any thread.
class CancelSignal {
 public:
  CancelSignal();
  ~CancelSignal();
  CancelSignal(const CancelSignal&) = delete;
  CancelSignal& operator=(const CancelSignal&) = delete;

  // Sets the reason (the first one wins) and wakes every waiter.
  void Cancel(CancelReason reason);
  CancelReason reason() const { return reason_.load(std::memory_order_acquire); }
  bool cancelled() const { return reason() != CancelReason::kNone; }
  // Waits up to `timeout` for a cancel; true when cancelled.
  bool WaitFor(std::chrono::milliseconds timeout) const;
  // Readable once cancelled; never read it (it stays readable). -1 if eventfd failed.
  // Made on first use: most attempts (every quick one) never poll it, and an eventfd costs
  // two system calls per attempt.
  int fd() const;

 private:
  static constexpr int kNoFd = -2;  // fd_ before the first fd() (-1: eventfd failed)
  std::atomic<CancelReason> reason_{CancelReason::kNone};  // kNone until the first Cancel
  mutable std::atomic<int> fd_{kNoFd};  // eventfd, made by fd(), written on Cancel
};

// What a handler returns: success with output bytes, or a failure with an error code,
// message and whether the broker should retry it. exit_code/stdout/stderr are for
// handlers that run processes; they travel in DONE as they are.
struct Outcome {
  bool ok = true;
  protocol::Bytes output;                    // result bytes handed to the client / children
  std::optional<protocol::TaskError> error;  // set when !ok
  std::optional<int32_t> exit_code;
  protocol::Bytes stdout_data;
  protocol::Bytes stderr_data;
  std::vector<protocol::Artifact> artifacts;  // files kept from the attempt (exec)

  // Awaiting (Outcome::Await): the attempt handed the task to an outside system, which
  // completes it with the context's CompletionToken() (taskmill complete, a client's
  // Complete, POST /api/tasks/ID/complete); the slot is free at once. await_ms: how long
  // it may wait (0 = no deadline); past it the attempt fails as await_expired (retryable).
  bool awaiting = false;
  uint32_t await_ms = 0;

  // Polled (Outcome::Poll): "check again in poll_ms": the slot is free, the task parked
  // without using up its attempt; the next check runs as a new TASK whose context's
  // poll_state() is `state` (at most 4 KiB). Once this attempt's checks have waited
  // poll_max_ms in all (0 = 24 h) the attempt fails as poll_expired (retryable).
  uint32_t poll_ms = 0;
  protocol::Bytes poll_state;
  uint32_t poll_max_ms = 0;

  static Outcome Ok(protocol::Bytes output = {});
  static Outcome Await(uint32_t await_ms = 0);
  static Outcome Poll(uint32_t poll_ms, protocol::Bytes state = {}, uint32_t poll_max_ms = 0);
  // retryable: the broker schedules another attempt (until max_attempts).
  static Outcome Fail(std::string code, std::string message, bool retryable = true);
};

// The view of one attempt that a handler gets. Built by the executor that runs the
// attempt (or by a test); the handler borrows it for the duration of the call.
// Thread: the executor thread running the handler; ReportProgress, AddCost and the
// cancel queries may also be called from threads the handler starts, until it returns.
class TaskContext {
 public:
  // Sends one PROGRESS (fraction 0..1, message); provided by the executor.
  using ProgressSink = std::function<void(double fraction, std::string_view message)>;

  // `task` and `cancel` must outlive the context; `progress` may be empty (dropped).
  TaskContext(const protocol::TaskMsg& task, const CancelSignal& cancel,
              ProgressSink progress = {});

  const std::string& task_id() const { return task_.task_id; }
  uint32_t attempt() const { return task_.attempt; }  // 1-based
  const std::string& type() const { return task_.type; }
  const std::string& queue() const { return task_.queue; }
  const std::string& name() const { return task_.name; }          // batch-local name, or empty
  const std::string& batch_id() const { return task_.batch_id; }  // or empty
  std::string_view payload() const { return task_.payload; }
  // Outputs of this task's batch parents, by the parents' batch-local names.
  const std::map<std::string, protocol::Bytes>& parents() const { return task_.parents; }
  // Parents that died, in an on_failure=continue batch: their names and last errors (they
  // are not in parents()). Empty otherwise.
  const std::vector<protocol::ParentError>& parent_errors() const { return task_.parent_errors; }
  const protocol::Labels& labels() const { return task_.labels; }
  uint32_t timeout_ms() const { return task_.timeout_ms; }  // 0 = none
  // A polled task's check: what the previous check returned in Outcome::Poll (empty on
  // the first).
  std::string_view poll_state() const { return task_.poll_state; }

  bool Cancelled() const { return cancel_.cancelled(); }
  CancelReason cancel_reason() const { return cancel_.reason(); }
  // Sleeps up to `timeout` unless cancelled first; true when cancelled.
  bool WaitCancelled(std::chrono::milliseconds timeout) const { return cancel_.WaitFor(timeout); }
  // An fd that turns readable on cancel, for handlers that poll (see CancelSignal::fd).
  int cancel_fd() const { return cancel_.fd(); }

  // Best effort: throttled to one message per 50 ms except the final fraction 1; a report
  // held back is kept (the latest only) and sent by the next one past the interval, or by
  // FlushProgress when the handler returns. The message is cut to 512 bytes.
  void ReportProgress(double fraction, std::string_view message = {});
  // Sends the latest report held back by the throttle, if any (the executor calls it once
  // the handler returned, before the DONE).
  void FlushProgress();
  // Adds `value` to the named cost ("usd", "tokens_in", ...); reported in DONE.
  void AddCost(std::string_view name, double value);
  protocol::CostMap costs() const;
  // The token an outside system completes this attempt with once the handler returns
  // Outcome::Await: 32 hex digits of 128 random bits (getrandom), made on first call, the
  // same for the whole attempt. Hand it to that system only.
  std::string CompletionToken() const;

 private:
  const protocol::TaskMsg& task_;
  const CancelSignal& cancel_;
  ProgressSink progress_;
  mutable std::mutex mu_;          // guards costs_ and last_progress_ms_
  protocol::CostMap costs_;        // summed AddCost values
  int64_t last_progress_ms_ = -1;  // monotonic ms of the last PROGRESS sent
  // The latest report held back by the throttle (fraction, message); none when sent.
  std::optional<std::pair<double, std::string>> held_progress_;
  mutable std::string completion_token_;  // "" until CompletionToken() (guarded by mu_)
};

// A task handler. It may throw: the executor reports an exception as a retryable failure.
using Handler = std::function<Outcome(TaskContext&)>;

// How a handler is run.
struct HandlerOptions {
  // The handler never blocks and returns within microseconds (no I/O, no sleep, no child
  // process): it runs on the worker's I/O thread, which saves two thread hand-offs per task.
  // It cannot be interrupted mid-run, so cancels and timeouts only apply before it starts.
  bool quick = false;
};

// A registered handler and how it runs.
struct HandlerEntry {
  Handler handler;
  HandlerOptions options;
};

}  // namespace taskmill::worker
