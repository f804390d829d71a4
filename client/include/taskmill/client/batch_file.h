#pragma once

// Batch files: a JSON description of a batch (tasks, dependencies, budget) that
// `taskmill batch run FILE` submits. The format is documented in client/README.md:
//
//   {"id"?: str, "budget"?: {cost name: number}, "labels"?: {str: str},
//    "tasks": [{"name": str, "type": str, "queue"?: str, "payload"?: object|array|string,
//               "priority"?: 0..255, "max_attempts"?: int, "timeout_ms"?: int,
//               "backoff"?: {"base_ms", "max_ms", "multiplier", "jitter"},
//               "depends_on"?: [names], "labels"?: {str: str}, "idempotency_key"?: str,
//               "not_before_ms"?: int, "delay"?: duration, "expires_in"?: duration}]}
// (durations as "10s", "5m": shared/duration.h; delay is relative to the broker's clock).
//
// An object or array payload is sent as its compact JSON text, a string as its bytes.
// Unknown keys are errors (a misspelt key would otherwise be silently ignored).

#include <string>
#include <string_view>

#include "taskmill/shared/error.h"
#include "taskmill/shared/protocol/types.h"

namespace taskmill::client {

// Parses and validates a batch file's text. Errors are kInvalidArgument (kCycle for a
// dependency cycle) with a message naming the JSON path:
// "tasks[2].depends_on[0]: unknown task 'fetch'".
// `append_to` (taskmill batch append): the tasks are for that running batch, so depends_on
// may name its tasks, and id, budget, on_failure and finally are refused (the batch's own
// apply).
Result<protocol::BatchSpec> ParseBatchFile(std::string_view json_text,
                                           const std::string& append_to = "");
// Reads and parses a file; a file that cannot be read is kNotFound.
Result<protocol::BatchSpec> LoadBatchFile(const std::string& path,
                                          const std::string& append_to = "");

// Checks a batch before it is sent: at least one task, every spec valid, names present
// and unique, depends_on naming other tasks of the batch (or, with append_to, tasks that may
// be in the batch appended to), no cycle (kCycle, naming the path "a -> b -> a"), budget
// values finite and not negative; with append_to, no id, budget, on_failure or finally.
Result<void> ValidateBatchSpec(const protocol::BatchSpec& batch);

}  // namespace taskmill::client
