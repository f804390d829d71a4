#pragma once

#include <spdlog/spdlog.h>

#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>
#include <zmq.hpp>

#include "taskmill/shared/protocol/messages.h"
#include "taskmill/worker/handler.h"

namespace taskmill::worker {

class PoolZygote;

// How pool processes are supervised (--processes); from WorkerOptions.
struct PoolLimits {
  uint64_t max_tasks = 0;       // recycle after this many attempts; 0 = never
  uint64_t max_rss_bytes = 0;   // recycle when RSS is over this after an attempt; 0 = never
  uint32_t kill_grace_ms = 0;   // after a stop signal, how long before the process is killed
  uint64_t max_output_bytes = 8u << 20;  // the result cap (frames up to PoolFrameCap)
};

// One attempt handed from the I/O thread to an executor.
struct Job {
  protocol::TaskMsg task;
  std::shared_ptr<CancelSignal> cancel;  // co-owned with the I/O thread's running table
  const Handler* handler = nullptr;      // into the Worker's handler map, frozen during Run
};

// The executor slots: `threads` threads that each run one Job at a time and report
// PROGRESS and DONE to the I/O thread through their own inproc PUSH socket, as
// [task_id, token (decimal), version, command, body].
// Lifecycle: created and stopped by the I/O thread (IoLoop), which never submits more
// jobs than there are threads. Submit/Stop are called from the I/O thread only.
class ExecutorPool {
 public:
  // max_output_bytes: a DONE whose output + stdout + stderr is bigger becomes a failure
  // (output_too_large, OverSizeResult).
  // zygote (may be null): with it, each thread drives one pool process (--processes) that
  // runs its attempts (PoolSlot), supervised within `limits`; without, handlers run here.
  ExecutorPool(zmq::context_t& context, std::string results_endpoint, uint32_t threads,
               uint64_t max_output_bytes = 8u << 20, PoolZygote* zygote = nullptr,
               PoolLimits limits = {});
  ~ExecutorPool();
  ExecutorPool(const ExecutorPool&) = delete;
  ExecutorPool& operator=(const ExecutorPool&) = delete;

  void Submit(Job job);
  // Takes no more jobs and joins every thread once its current job returns.
  void Stop();

 private:
  void Loop();

  zmq::context_t& context_;
  const std::string results_endpoint_;
  const uint64_t max_output_bytes_;
  PoolZygote* const zygote_;                 // null: in-process handlers
  const PoolLimits limits_;                  // read only with zygote_
  std::mutex mu_;               // guards queue_ and stopping_
  std::condition_variable cv_;  // signalled on Submit and Stop
  std::deque<Job> queue_;       // submitted, not yet picked up
  bool stopping_ = false;       // true iff Stop was called
  std::vector<std::thread> threads_;
};

// Replaces a result bigger than `max_bytes` (output + stdout + stderr) with a failed,
// non-retryable attempt (output_too_large) that keeps the exit code, duration and costs.
// Returns true iff it did. Exposed for tests.
bool OverSizeResult(protocol::Done& done, uint64_t max_bytes);

// Runs one attempt on the calling thread: the handler (an exception is a retryable
// failure), the cancel reason, the duration and wall_ms cost, as the DONE to report; a
// result over `max_output_bytes` becomes output_too_large (OverSizeResult).
protocol::Done RunAttempt(const Job& job, const TaskContext::ProgressSink& progress,
                          spdlog::logger& log, uint64_t max_output_bytes);

// The internal frames for a message about (task_id, token); exposed for tests.
std::vector<std::string> ResultFrames(const std::string& task_id, uint64_t token,
                                      const protocol::Message& msg);

}  // namespace taskmill::worker
