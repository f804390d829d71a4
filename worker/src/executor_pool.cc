#include "executor_pool.h"

#include <signal.h>

#include <algorithm>
#include <exception>

#include "exception_text.h"
#include "pool_slot.h"
#include "taskmill/shared/clock.h"
#include "taskmill/shared/log.h"
#include "taskmill/shared/protocol/codec.h"
#include "zmq_socket.h"

namespace taskmill::worker {
namespace {

// A stopped attempt is reported by why it was stopped, whatever the handler returned: a
// handler that ignored its cancel signal and succeeded anyway is a timeout or a cancel
// with its output dropped, never a success (the client asked it to stop, or the deadline
// passed and another attempt may already be running).
void ApplyCancelReason(CancelReason reason, uint32_t timeout_ms, Outcome& out) {
  if (reason == CancelReason::kNone) return;
  std::string message = out.ok ? std::string("the handler returned a result after it was stopped; "
                                             "the result is dropped")
                               : (out.error ? out.error->message : std::string());
  // exit_code, stdout and stderr stay: they tell what the stopped process did.
  out.ok = false;
  out.output.clear();
  switch (reason) {
    case CancelReason::kNone:
      return;
    case CancelReason::kCancelled:
      out.error = protocol::TaskError{"cancelled", message, /*retryable=*/false};
      return;
    case CancelReason::kTimeout:
      out.error = protocol::TaskError{"timeout",
                                      "the attempt ran past its timeout_ms (" +
                                          std::to_string(timeout_ms) + " ms)" +
                                          (message.empty() ? "" : ": " + message),
                                      /*retryable=*/true};
      return;
    case CancelReason::kDraining:
      out.error = protocol::TaskError{"draining", message, /*retryable=*/true};
      return;
  }
}

}  // namespace

std::vector<std::string> ResultFrames(const std::string& task_id, uint64_t token,
                                      const protocol::Message& msg) {
  protocol::Frames f = protocol::Encode(msg);
  return {task_id, std::to_string(token), std::move(f.version), std::move(f.command),
          std::move(f.body)};
}

bool OverSizeResult(protocol::Done& done, uint64_t max_bytes) {
  uint64_t size = done.output.size() + done.stdout_data.size() + done.stderr_data.size();
  if (size <= max_bytes) return false;
  done.ok = false;
  done.error = protocol::TaskError{"output_too_large",
                                   "the result is " + std::to_string(size) + " bytes (output " +
                                       std::to_string(done.output.size()) + ", stdout " +
                                       std::to_string(done.stdout_data.size()) + ", stderr " +
                                       std::to_string(done.stderr_data.size()) +
                                       "), over the worker's limit of " +
                                       std::to_string(max_bytes) + " (--max-output-bytes)",
                                   false};
  done.output.clear();
  done.stdout_data.clear();
  done.stderr_data.clear();
  return true;
}

protocol::Done RunAttempt(const Job& job, const TaskContext::ProgressSink& progress,
                          spdlog::logger& log, uint64_t max_output_bytes) {
  const protocol::TaskMsg& task = job.task;
  const Clock& clock = SystemClock::Instance();
  TaskContext ctx(task, *job.cancel, progress);
  int64_t started_ms = clock.NowMs();
  int64_t start = clock.MonotonicMs();
  log.debug("task {} attempt {} ({}) started", task.task_id, task.attempt, task.type);
  Outcome out;
  // The one place the worker catches an exception: a throwing handler is a failed
  // attempt, not a dead executor.
  try {
    out = (*job.handler)(ctx);
  } catch (...) {
    out = Outcome::Fail(protocol::kHandlerExceptionCode,
                        DescribeException(std::current_exception()), /*retryable=*/true);
  }
  ctx.FlushProgress();  // the handler's last report, if the throttle held it back
  int64_t duration = clock.MonotonicMs() - start;
  // Returned after its deadline but before the I/O thread's timer fired: still a timeout.
  if (task.timeout_ms > 0 && duration >= task.timeout_ms) {
    job.cancel->Cancel(CancelReason::kTimeout);
  }
  ApplyCancelReason(job.cancel->reason(), task.timeout_ms, out);
  if (!out.ok && !out.error) out.error = protocol::TaskError{"failed", "handler failed", true};

  protocol::Done done;
  done.task_id = task.task_id;
  done.token = task.token;
  done.ok = out.ok;
  done.output = std::move(out.output);
  if (!out.ok) done.error = std::move(out.error);
  done.exit_code = out.exit_code;
  done.stdout_data = std::move(out.stdout_data);
  done.stderr_data = std::move(out.stderr_data);
  done.artifacts = std::move(out.artifacts);
  done.duration_ms = static_cast<uint32_t>(std::max<int64_t>(duration, 0));
  done.cost = ctx.costs();
  done.cost.try_emplace("wall_ms", static_cast<double>(done.duration_ms));
  done.started_ms = started_ms;
  if (OverSizeResult(done, max_output_bytes))
    log.warn("task {}: {}", task.task_id, done.error->message);
  if (done.ok) {
    log.debug("task {} attempt {} succeeded in {} ms", task.task_id, task.attempt,
              done.duration_ms);
  } else {
    // Said at warning: a failure is what the person running the worker needs to see.
    log.warn("task {} attempt {} ({}) failed after {} ms: {}: {}{}", task.task_id, task.attempt,
             task.type, done.duration_ms, done.error->code, done.error->message,
             done.error->retryable ? " (will be retried if attempts remain)" : "");
  }
  return done;
}

ExecutorPool::ExecutorPool(zmq::context_t& context, std::string results_endpoint, uint32_t threads,
                           uint64_t max_output_bytes, PoolZygote* zygote, PoolLimits limits)
    : context_(context),
      results_endpoint_(std::move(results_endpoint)),
      max_output_bytes_(max_output_bytes),
      zygote_(zygote),
      limits_(limits) {
  threads_.reserve(threads);
  for (uint32_t i = 0; i < threads; ++i) threads_.emplace_back([this] { Loop(); });
}

ExecutorPool::~ExecutorPool() { Stop(); }

void ExecutorPool::Submit(Job job) {
  {
    std::lock_guard lock(mu_);
    queue_.push_back(std::move(job));
  }
  cv_.notify_one();
}

void ExecutorPool::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
}

void ExecutorPool::Loop() {
  auto log = Logger("worker.executor");
  // A handler writing to a pipe whose reader is gone (exec's stdin) gets EPIPE instead
  // of a process-killing SIGPIPE.
  sigset_t pipe_set;
  sigemptyset(&pipe_set);
  sigaddset(&pipe_set, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe_set, nullptr);
  auto opened = ZmqSocket::Open(context_, zmq::socket_type::push, "results");
  if (!opened) {
    log->error("executor cannot open its results socket: {}", opened.error().message);
    return;
  }
  ZmqSocket socket = std::move(*opened);
  // A bounded linger: the I/O thread may already have closed its end at shutdown.
  (void)socket.SetInt(ZMQ_LINGER, 0);
  if (auto c = socket.Connect(results_endpoint_); !c) {
    log->error("executor cannot connect its results socket: {}", c.error().message);
    return;
  }
  std::mutex socket_mu;  // the handler may report progress from threads of its own
  auto send = [&](const std::vector<std::string>& frames, bool dontwait) {
    std::vector<std::string_view> views(frames.begin(), frames.end());
    std::lock_guard lock(socket_mu);
    auto sent = socket.Send(views, dontwait);
    if (!sent) log->warn("executor send failed: {}", sent.error().message);
  };

  // With --processes: this thread's pool process, started now so the first task does not
  // wait for it, and looked after (Tend) between tasks and once a second while idle.
  std::unique_ptr<PoolSlot> slot;
  if (zygote_ != nullptr) {
    slot = std::make_unique<PoolSlot>(*zygote_, limits_, *log);
    slot->Tend();
  }
  while (true) {
    Job job;
    {
      std::unique_lock lock(mu_);
      auto ready = [&] { return stopping_ || !queue_.empty(); };
      if (slot) {
        if (!cv_.wait_for(lock, std::chrono::seconds(1), ready)) {
          lock.unlock();
          slot->Tend();
          continue;
        }
      } else {
        cv_.wait(lock, ready);
      }
      if (queue_.empty()) break;  // stopping and nothing left
      job = std::move(queue_.front());
      queue_.pop_front();
    }
    const protocol::TaskMsg& task = job.task;
    auto progress = [&](double fraction, std::string_view message) {
      protocol::Progress p{task.task_id, task.token, fraction, std::string(message)};
      send(ResultFrames(task.task_id, task.token, std::move(p)), /*dontwait=*/true);
    };
    protocol::Done done =
        slot ? slot->Run(job, progress) : RunAttempt(job, progress, *log, max_output_bytes_);
    // Moved into the Message it is encoded from: the result is not copied once more.
    send(ResultFrames(task.task_id, task.token, std::move(done)), /*dontwait=*/false);
    if (slot) slot->Tend();  // a crashed or recycled process is replaced before the next task
  }
  slot.reset();  // kills this thread's pool process
  socket.Close(0);
}

}  // namespace taskmill::worker
