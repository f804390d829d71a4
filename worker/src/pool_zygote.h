#pragma once

// The fork server behind --processes. Worker::Run forks it once, after every handler is
// registered and before the worker starts any thread, so it is a single-threaded copy of
// the process with the handler map in memory. Each pool process is then forked from it:
// a clean single-threaded fork, never a fork of the multi-threaded worker (whose other
// threads may hold the allocator's, the logger's or a handler's locks at fork time), and
// every handler registered in the binary — built-in or the user's — runs in a child
// without a re-exec or a second registration step.
//
// The zygote is the parent of the pool processes and keeps each one's zombie until the
// worker asks it to Reap: a PID the worker may kill() is never reused behind its back.
// It dies with the worker (PR_SET_PDEATHSIG, and EOF on its socket), killing its children.

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "handlers/child_process.h"
#include "taskmill/shared/error.h"
#include "taskmill/worker/handler.h"

namespace taskmill::worker {

// A pool process just started: its PID and the worker's end of its channel (O_NONBLOCK,
// close-on-exec). Move-only: it owns the channel fd.
struct PoolProcess {
  pid_t pid = -1;
  UniqueFd fd;
};

// The worker's handle on the zygote. Lifecycle: made by Worker::Run (Start) before any
// thread, destroyed when Run returns (which ends the zygote and every pool process).
// Thread-safe: every executor thread spawns and reaps through it.
class PoolZygote {
 public:
  // Forks the zygote. `handlers` is copied into it by the fork; `max_output_bytes` is the
  // children's result cap (as the in-process executors').
  static Result<std::unique_ptr<PoolZygote>> Start(
      const std::map<std::string, HandlerEntry>& handlers, uint64_t max_output_bytes);
  ~PoolZygote();
  PoolZygote(const PoolZygote&) = delete;
  PoolZygote& operator=(const PoolZygote&) = delete;

  // Forks a pool process; it sends kReady once it waits for tasks.
  Result<PoolProcess> Spawn();
  // Waits for `pid` (a child from Spawn, killed or exiting) and returns its wait status;
  // -1 if the zygote is gone. The PID may be reused after this call.
  int Reap(pid_t pid);
  pid_t pid() const { return pid_; }

 private:
  PoolZygote(pid_t pid, int fd) : pid_(pid), fd_(fd) {}
  std::mutex mu_;  // one request at a time on fd_
  pid_t pid_;      // the zygote
  UniqueFd fd_;    // request socket to the zygote
};

// "exited with 3", "killed by signal 9 (Killed)".
std::string DescribeWaitStatus(int status);

// The body of a pool process: reads kTask frames from `fd`, runs each attempt with the
// registered handler on a thread of its own (kCancel frames set its cancel signal), writes
// kProgress and kDone frames. Returns (the caller _exits) when the worker closes `fd`.
void RunPoolChild(int fd, const std::map<std::string, HandlerEntry>& handlers,
                  uint64_t max_output_bytes);

// Largest frame a pool process may send: the result cap plus room for the DONE's fields.
inline uint64_t PoolFrameCap(uint64_t max_output_bytes) { return max_output_bytes + (1u << 20); }

}  // namespace taskmill::worker
