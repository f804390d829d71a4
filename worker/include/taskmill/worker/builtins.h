#pragma once

// The handlers taskmill-worker ships with. Payloads are msgpack maps, or JSON objects
// (first non-blank byte '{') for command-line convenience; see docs in worker/README.md.
//
//   exec   {argv: [str], env: {str: str}, stdin: bin|str, cwd: str, timeout_ms: uint,
//           retry_on_nonzero: bool = true, max_output_bytes: uint = 1 MiB}
//   echo   output = payload
//   sleep  {ms: uint}, honours cancel
//   fail   {fail_attempts: K, retryable: bool = true}: fails attempts 1..K, then succeeds

#include <cstdint>

#include "taskmill/worker/handler.h"

namespace taskmill::worker {

class Worker;

// Limits of the exec handler.
struct ExecOptions {
  // Default cap on each of stdout and stderr; a payload may ask for less or more.
  uint64_t max_output_bytes = 1u << 20;
  // Hard ceiling on a payload's max_output_bytes.
  uint64_t max_output_ceiling = 64u << 20;
  // Largest cost file read; a bigger one is ignored with a warning.
  uint64_t max_cost_file_bytes = 64u << 10;
};

// Runs a subprocess in a fresh temporary directory (see the table above).
Outcome RunExec(TaskContext& ctx, const ExecOptions& options = {});
Outcome RunEcho(TaskContext& ctx);
Outcome RunSleep(TaskContext& ctx);
Outcome RunFail(TaskContext& ctx);

// Registers exec, echo, sleep and fail on `worker`.
void RegisterBuiltins(Worker& worker, const ExecOptions& exec_options = {});

}  // namespace taskmill::worker
