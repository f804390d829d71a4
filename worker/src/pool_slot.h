#pragma once

// One executor slot of the process pool (--processes): the pool process it drives, and the
// supervision around each attempt — start (and restart) the process, hand it the task,
// forward its progress, forward a cancel or timeout, kill it past cancel_grace_ms (the hard
// stop), turn its death into a retryable handler_crashed, and recycle it after
// max_tasks tasks or past max_rss_bytes.

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <memory>
#include <string>

#include "executor_pool.h"
#include "pool_channel.h"
#include "pool_zygote.h"
#include "taskmill/shared/protocol/codec.h"

namespace taskmill::worker {

// TaskError code of an attempt whose pool process died (crash, OOM kill, SIGKILL from
// outside, a bad frame): retryable, the message says how the process ended.
inline constexpr const char* kHandlerCrashedCode = "handler_crashed";

// Lifecycle: owned by one executor thread (ExecutorPool::Loop), which calls Run for each
// job and Tend between jobs; the destructor kills its process. Not thread-safe.
class PoolSlot {
 public:
  PoolSlot(PoolZygote& zygote, PoolLimits limits, spdlog::logger& log);
  ~PoolSlot();
  PoolSlot(const PoolSlot&) = delete;
  PoolSlot& operator=(const PoolSlot&) = delete;

  // Runs `job` in the pool process (starting one if needed) and returns its DONE.
  protocol::Done Run(const Job& job, const TaskContext::ProgressSink& progress);
  // Between jobs: notices a process that died or spoke out of turn, and makes sure one is
  // started and ready (so a replacement's start-up is not on the next task's clock).
  void Tend();

  pid_t pid() const { return proc_.pid; }

 private:
  Result<void> Start();
  // Kills (SIGKILL) and reaps the process; returns how it ended.
  std::string Kill();
  protocol::Done Failed(const Job& job, int64_t started_ms, int64_t start,
                        protocol::TaskError error);
  void AfterTask();

  PoolZygote& zygote_;
  const PoolLimits limits_;
  spdlog::logger& log_;
  PoolProcess proc_;                 // pid -1 when none runs
  PoolFrameReader reader_;           // frames from proc_
  protocol::DecodeLimits decode_limits_;  // the codec's, with room for a whole result
  uint64_t tasks_ = 0;               // attempts proc_ has run
  // When the last process was reaped; unset when not replacing one.
  std::optional<std::chrono::steady_clock::time_point> died_at_;
  std::string died_why_;             // how the replaced process ended
};

// RSS of `pid` in bytes (from /proc/PID/statm), 0 if unknown.
uint64_t ProcessRssBytes(pid_t pid);

}  // namespace taskmill::worker
