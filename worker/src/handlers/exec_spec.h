#pragma once

// The exec payload, parsed and checked: what RunExec runs, with the worker's defaults
// (ExecOptions) filled in. The fields are listed in taskmill/worker/builtins.h.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "handlers/isolation.h"
#include "taskmill/shared/error.h"
#include "taskmill/worker/builtins.h"

namespace taskmill::worker {

struct ExecSpec {
  std::vector<std::string> argv;
  std::vector<std::pair<std::string, std::string>> env;
  std::string stdin_data;
  std::string cwd;          // relative to the workspace's work dir
  uint64_t timeout_ms = 0;  // 0: the task's timeout, if any
  bool retry_on_nonzero = true;
  uint64_t max_output_bytes = 0;
  IsolationLevel isolation = IsolationLevel::kDirectory;
  std::optional<GitSpec> git;
  ResourceLimits limits;
};

// Parses an exec payload (JSON or msgpack); an error says what is wrong with it (the
// attempt then fails as bad_payload, not retryable).
Result<ExecSpec> ParseExecSpec(std::string_view payload, const ExecOptions& options);

}  // namespace taskmill::worker
