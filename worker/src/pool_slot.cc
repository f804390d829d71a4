#include "pool_slot.h"

#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>

#include "taskmill/shared/clock.h"
#include "taskmill/shared/protocol/codec.h"

namespace taskmill::worker {
namespace {

constexpr int kStartTimeoutMs = 10'000;  // fork to kReady
constexpr int kWriteTimeoutMs = 10'000;  // a task frame into a child that stopped reading

// The error a stopped attempt is recorded with, by why it was stopped.
protocol::TaskError StopError(CancelReason reason, uint32_t timeout_ms, std::string detail) {
  switch (reason) {
    case CancelReason::kTimeout:
      return {"timeout",
              "the attempt ran past its timeout_ms (" + std::to_string(timeout_ms) + " ms)" +
                  (detail.empty() ? "" : "; " + detail),
              true};
    case CancelReason::kCancelled:
      return {"cancelled", detail, false};
    case CancelReason::kDraining:
    case CancelReason::kNone:
      break;
  }
  return {"draining", detail, true};
}

}  // namespace

uint64_t ProcessRssBytes(pid_t pid) {
  char path[64];
  std::snprintf(path, sizeof path, "/proc/%d/statm", static_cast<int>(pid));
  FILE* f = std::fopen(path, "r");
  if (f == nullptr) return 0;
  unsigned long long size = 0, resident = 0;
  int got = std::fscanf(f, "%llu %llu", &size, &resident);
  std::fclose(f);
  if (got != 2) return 0;
  return resident * static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
}

PoolSlot::PoolSlot(PoolZygote& zygote, PoolLimits limits, spdlog::logger& log)
    : zygote_(zygote),
      limits_(limits),
      log_(log),
      reader_(PoolFrameCap(limits.max_output_bytes)) {
  // A DONE may carry up to max_output_bytes in output, stdout and stderr together.
  uint64_t cap = PoolFrameCap(limits.max_output_bytes);
  decode_limits_.max_frame_bytes = std::max<size_t>(decode_limits_.max_frame_bytes, cap);
  decode_limits_.max_bin = static_cast<uint32_t>(
      std::max<uint64_t>(decode_limits_.max_bin, std::min<uint64_t>(cap, UINT32_MAX)));
}

PoolSlot::~PoolSlot() {
  if (proc_.pid >= 0) Kill();
}

Result<void> PoolSlot::Start() {
  const Clock& clock = SystemClock::Instance();
  int64_t begin = clock.MonotonicMs();
  auto spawn_begin = std::chrono::steady_clock::now();
  auto spawned = zygote_.Spawn();
  if (!spawned) return std::unexpected(spawned.error());
  proc_ = std::move(*spawned);
  reader_.Reset();
  tasks_ = 0;
  // The child's first frame must be kReady; it proves the process runs its loop.
  while (true) {
    int64_t left = begin + kStartTimeoutMs - clock.MonotonicMs();
    pollfd p{proc_.fd.get(), POLLIN, 0};
    if (left <= 0 || poll(&p, 1, static_cast<int>(left)) == 0) {
      std::string why = Kill();
      return MakeError(ErrorCode::kTimeout, "pool process not ready within " +
                                                std::to_string(kStartTimeoutMs) + " ms (" +
                                                why + ")");
    }
    bool open = reader_.Fill(proc_.fd.get());
    auto frame = reader_.Next();
    if (frame && *frame && (*frame)->kind == PoolFrame::kReady) break;
    if (!frame || *frame || !open) {
      std::string why = Kill();
      return MakeError(ErrorCode::kInternal, "pool process failed to start (" + why + ")");
    }
  }
  auto ready = std::chrono::steady_clock::now();
  auto ms = [&](std::chrono::steady_clock::time_point since) {
    return std::chrono::duration<double, std::milli>(ready - since).count();
  };
  if (died_at_) {
    // The restart time docs/performance.md quotes: the old process reaped -> the new ready.
    log_.info("pool process {} ready {:.2f} ms after its predecessor ended ({})", proc_.pid,
              ms(*died_at_), died_why_);
    died_at_.reset();
  } else {
    log_.debug("pool process {} ready in {:.2f} ms", proc_.pid, ms(spawn_begin));
  }
  return {};
}

std::string PoolSlot::Kill() {
  pid_t pid = proc_.pid;
  // The zygote keeps the child's zombie until Reap, so this PID is still ours.
  kill(pid, SIGKILL);
  proc_ = {};  // closes the channel
  reader_.Reset();
  tasks_ = 0;
  std::string why = DescribeWaitStatus(zygote_.Reap(pid));
  died_at_ = std::chrono::steady_clock::now();
  died_why_ = "pid " + std::to_string(pid) + " " + why;
  return why;
}

protocol::Done PoolSlot::Failed(const Job& job, int64_t started_ms, int64_t start,
                                protocol::TaskError error) {
  protocol::Done done;
  done.task_id = job.task.task_id;
  done.token = job.task.token;
  done.ok = false;
  done.error = std::move(error);
  done.duration_ms = static_cast<uint32_t>(
      std::max<int64_t>(SystemClock::Instance().MonotonicMs() - start, 0));
  done.cost["wall_ms"] = static_cast<double>(done.duration_ms);
  done.started_ms = started_ms;
  log_.warn("task {} attempt {} ({}) failed after {} ms: {}: {}", job.task.task_id,
            job.task.attempt, job.task.type, done.duration_ms, done.error->code,
            done.error->message);
  return done;
}

protocol::Done PoolSlot::Run(const Job& job, const TaskContext::ProgressSink& progress) {
  const Clock& clock = SystemClock::Instance();
  const int64_t started_ms = clock.NowMs();
  const int64_t start = clock.MonotonicMs();
  auto crashed = [&](const std::string& message) {
    return Failed(job, started_ms, start, {kHandlerCrashedCode, message, true});
  };
  if (proc_.pid < 0) {
    if (auto s = Start(); !s) return crashed(s.error().message);
  }
  const pid_t pid = proc_.pid;
  if (!WritePoolFrameWithin(proc_.fd.get(), PoolFrame::kTask,
                            protocol::EncodeBody(protocol::Message(job.task)), kWriteTimeoutMs)) {
    return crashed("the pool process (pid " + std::to_string(pid) +
                   ") did not take the task: " + Kill());
  }
  const int cancel_fd = job.cancel->fd();
  int64_t stopped_at = 0;  // monotonic ms the stop was forwarded; 0 = not stopped
  while (true) {
    int64_t now = clock.MonotonicMs();
    if (stopped_at == 0 && job.cancel->cancelled()) {
      stopped_at = now;
      char reason = static_cast<char>(job.cancel->reason());
      // A child too busy to read its channel is killed at the grace's end anyway.
      (void)WritePoolFrameWithin(proc_.fd.get(), PoolFrame::kCancel, {&reason, 1}, 100);
    }
    if (stopped_at > 0 && now >= stopped_at + limits_.kill_grace_ms) {
      CancelReason reason = job.cancel->reason();
      std::string why = Kill();
      return Failed(job, started_ms, start,
                    StopError(reason, job.task.timeout_ms,
                              "the handler ignored the stop for " +
                                  std::to_string(limits_.kill_grace_ms) +
                                  " ms; its pool process (pid " + std::to_string(pid) +
                                  ") was killed (" + why + ")"));
    }
    pollfd fds[2] = {{proc_.fd.get(), POLLIN, 0}, {cancel_fd, POLLIN, 0}};
    nfds_t n = (stopped_at == 0 && cancel_fd >= 0) ? 2 : 1;
    int timeout = -1;
    if (stopped_at > 0) {
      timeout = static_cast<int>(std::max<int64_t>(stopped_at + limits_.kill_grace_ms - now, 0));
    } else if (cancel_fd < 0) {
      timeout = 50;  // no eventfd to wait on: look at the signal now and then
    }
    if (poll(fds, n, timeout) <= 0 || !(fds[0].revents & (POLLIN | POLLHUP | POLLERR))) continue;
    bool open = reader_.Fill(proc_.fd.get());
    while (true) {
      auto next = reader_.Next();
      if (!next) {
        return crashed("the pool process (pid " + std::to_string(pid) + ") sent a bad frame (" +
                       next.error().message + ") and was killed: " + Kill());
      }
      if (!*next) break;
      auto& f = **next;
      auto command = f.kind == PoolFrame::kDone       ? protocol::Command::kDone
                     : f.kind == PoolFrame::kProgress ? protocol::Command::kProgress
                                                      : protocol::Command::kHeartbeat;
      auto msg = command == protocol::Command::kHeartbeat
                     ? Result<protocol::Message>(
                           MakeError(ErrorCode::kBadFrame, "frame kind out of turn"))
                     : protocol::DecodeBody(command, f.payload, decode_limits_);
      const protocol::Done* got_done = msg ? std::get_if<protocol::Done>(&*msg) : nullptr;
      const protocol::Progress* got_progress =
          msg ? std::get_if<protocol::Progress>(&*msg) : nullptr;
      bool ours = (got_done && got_done->task_id == job.task.task_id &&
                   got_done->token == job.task.token) ||
                  (got_progress && got_progress->task_id == job.task.task_id &&
                   got_progress->token == job.task.token);
      if (!ours) {
        return crashed("the pool process (pid " + std::to_string(pid) +
                       ") sent a bad frame (" +
                       (msg ? std::string("not about this attempt") : msg.error().message) +
                       ") and was killed: " + Kill());
      }
      if (got_progress) {
        if (progress) progress(got_progress->fraction, got_progress->message);
        continue;
      }
      protocol::Done done = std::move(*got_done);
      // Stopped here but not yet there: the stop still wins over a late success.
      if (done.ok && job.cancel->cancelled()) {
        done.ok = false;
        done.output.clear();
        done.error = StopError(job.cancel->reason(), job.task.timeout_ms,
                               "the handler returned a result after it was stopped; the "
                               "result is dropped");
      }
      AfterTask();
      return done;
    }
    if (!open) {
      std::string why = Kill();
      if (stopped_at > 0) {
        return Failed(job, started_ms, start,
                      StopError(job.cancel->reason(), job.task.timeout_ms,
                                "its pool process (pid " + std::to_string(pid) +
                                    ") ended after the stop (" + why + ")"));
      }
      return crashed("the handler's pool process (pid " + std::to_string(pid) +
                     ") died while running the attempt (" + why + "); another one replaces it");
    }
  }
}

void PoolSlot::AfterTask() {
  ++tasks_;
  pid_t pid = proc_.pid;
  if (limits_.max_tasks > 0 && tasks_ >= limits_.max_tasks) {
    log_.info("pool process {} recycled after {} tasks (--max-tasks-per-process)", pid, tasks_);
    Kill();
    died_why_ = "pid " + std::to_string(pid) + " recycled after " +
                std::to_string(limits_.max_tasks) + " tasks";
    return;
  }
  if (limits_.max_rss_bytes > 0) {
    uint64_t rss = ProcessRssBytes(pid);
    if (rss > limits_.max_rss_bytes) {
      log_.info("pool process {} recycled: RSS {} MiB over --max-memory-per-process-mb {}", pid,
                rss >> 20, limits_.max_rss_bytes >> 20);
      Kill();
      died_why_ =
          "pid " + std::to_string(pid) + " recycled at RSS " + std::to_string(rss >> 20) + " MiB";
    }
  }
}

void PoolSlot::Tend() {
  if (proc_.pid >= 0) {
    pollfd p{proc_.fd.get(), POLLIN, 0};
    if (poll(&p, 1, 0) > 0) {
      // An idle process has nothing to say: it died, or it is not following the protocol.
      pid_t pid = proc_.pid;
      std::string why = Kill();
      log_.warn("pool process {} ended or spoke while idle ({}); replacing it", pid, why);
    }
  }
  if (proc_.pid < 0) {
    if (auto s = Start(); !s) log_.error("cannot start a pool process: {}", s.error().message);
  }
}

}  // namespace taskmill::worker
