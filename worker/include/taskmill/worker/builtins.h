#pragma once

// The handlers taskmill-worker ships with. Payloads are msgpack maps, or JSON objects
// (first non-blank byte '{') for command-line convenience; see docs in worker/README.md.
//
//   exec   {argv: [str], env: {str: str}, stdin: bin|str, cwd: str, timeout_ms: uint,
//           retry_on_nonzero: bool = true, max_output_bytes: uint = 1 MiB,
//           isolation: "none"|"directory"|"branch"|"full", git: {repo: str, ref: str},
//           limits: {cpu_seconds, memory_mb, open_files, processes: uint}}
//   echo   output = payload
//   sleep  {ms: uint}, honours cancel
//   fail   {fail_attempts: K, retryable: bool = true}: fails attempts 1..K, then succeeds

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "taskmill/shared/error.h"
#include "taskmill/worker/handler.h"

namespace taskmill::worker {

class Worker;

// Where and how an exec process runs (worker/README.md, "Isolation levels").
enum class IsolationLevel : uint8_t {
  kNone,       // in the worker's own working directory
  kDirectory,  // in a fresh temporary directory, removed after (the default)
  kBranch,     // in a git worktree of a repository at a ref, removed after
  kFull,       // in a fresh directory with new user, mount, PID and network namespaces
};
const char* IsolationLevelName(IsolationLevel level);
std::optional<IsolationLevel> ParseIsolationLevel(std::string_view name);

// rlimits put on an exec process (0: no limit). Applied at every isolation level.
struct ResourceLimits {
  uint64_t cpu_seconds = 0;  // RLIMIT_CPU: SIGXCPU at the limit, SIGKILL a second later
  uint64_t memory_mb = 0;    // RLIMIT_AS: address space, so allocations fail past it
  uint64_t open_files = 0;   // RLIMIT_NOFILE
  uint64_t processes = 0;    // RLIMIT_NPROC: processes of the task's user
  bool any() const { return cpu_seconds || memory_mb || open_files || processes; }
};

// Limits of the exec handler.
struct ExecOptions {
  // Default cap on each of stdout and stderr; a payload may ask for less or more.
  uint64_t max_output_bytes = 1u << 20;
  // Hard ceiling on a payload's max_output_bytes.
  uint64_t max_output_ceiling = 64u << 20;
  // Largest cost file read; a bigger one is ignored with a warning.
  uint64_t max_cost_file_bytes = 64u << 10;
  // The level of a payload that names none.
  IsolationLevel isolation = IsolationLevel::kDirectory;
  // Limits of a payload that sets none (per field).
  ResourceLimits limits;
  // Artifacts (files the process leaves in $TASKMILL_ARTIFACTS_DIR): kept under
  // <artifacts_dir>/<task id>/<attempt>/ (empty: only inline ones can be kept).
  std::string artifacts_dir;
  // Small artifacts travel in the result instead, up to this many bytes per attempt.
  uint64_t artifacts_inline_bytes = 64u << 10;
  // Per attempt: at most this many files and bytes in all (more fails the attempt).
  uint64_t max_artifacts = 64;
  uint64_t max_artifact_bytes = 1ull << 30;
  // Task directories under artifacts_dir older than this are removed (match the broker's
  // --retention-hours, so files go with their records).
  uint64_t artifacts_retention_hours = 7 * 24;
};

// Checks that this host can run `level` (for `full`: namespaces can be made, as the worker
// would make them); the result is computed once per process. An error says why not.
Result<void> CheckIsolationAvailable(IsolationLevel level);

// Runs a subprocess in a fresh temporary directory (see the table above).
Outcome RunExec(TaskContext& ctx, const ExecOptions& options = {});
Outcome RunEcho(TaskContext& ctx);
Outcome RunSleep(TaskContext& ctx);
Outcome RunFail(TaskContext& ctx);

// Registers exec, echo, sleep and fail on `worker`.
void RegisterBuiltins(Worker& worker, const ExecOptions& exec_options = {});

}  // namespace taskmill::worker
