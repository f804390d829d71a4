#pragma once

// Keeping what an exec process wrote under $TASKMILL_ARTIFACTS_DIR: each regular file is
// checked (name, no symlinks, caps), hashed, and either carried inline in the result or
// copied under the worker's --artifacts-dir; and the sweep that removes old task dirs.

#include <cstdint>
#include <string>
#include <vector>

#include "taskmill/shared/protocol/types.h"
#include "taskmill/worker/builtins.h"

namespace taskmill::worker {

// Why artifacts could not be kept: the attempt's error code and message.
struct ArtifactFailure {
  std::string code;  // artifact_refused, artifacts_too_large or artifacts_io
  std::string message;
  bool retryable = false;
};

// Walks `source` (never following a symlink: one anywhere in it is refused) and keeps its
// files for attempt `attempt` of `task_id`. Sorted by name. Runs on the executor thread.
std::expected<std::vector<protocol::Artifact>, ArtifactFailure> KeepArtifacts(
    const std::string& source, const std::string& task_id, uint32_t attempt,
    const ExecOptions& options);

// Removes the task directories directly under `dir` last modified more than
// `retention_hours` before `now_s` (epoch seconds); returns how many went.
size_t SweepArtifacts(const std::string& dir, uint64_t retention_hours, int64_t now_s);

}  // namespace taskmill::worker
