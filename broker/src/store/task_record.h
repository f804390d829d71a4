#pragma once

// The task record (Redis layout 4) and the store's structured contract with its Lua scripts,
// on the C++ side. Its Lua twin is broker/src/lua/lib/record.lua: a task field is added in
// these two files (and task_record.cc), docs/architecture.md "How to add a task field".
//
// task:<id> is a hash of few fields:
//   spec     immutable, written once at enqueue (EncodeSpec): a msgpack stream of queue, type,
//            batch, name, priority, max_attempts, timeout_ms, [backoff base_ms, max_ms,
//            multiplier, jitter], not_before_ms, created_ms, owner, idempotency key,
//            [parent ids], {labels}. The scripts decode its first 13 objects (never the
//            labels) and pass the bytes on untouched (claim -> TASK: DecodeSpec here).
//   payload  immutable, written once, as is (never decoded; not loaded by transitions).
//   res      the recorded attempt's result (EncodeResult), written once per DONE: a msgpack
//            stream of duration_ms, exit code (nil: none), output, stdout, stderr.
//   mutable  only the fields a transition changes, absent = default: the names below.
//            prog, prog_msg, prog_att: the latest stored PROGRESS (progress.lua) and the
//            attempt it belongs to (shown only while it is the current attempt).
//   planned  (the next issues; each one more mutable field, absent = default): prio
//            (priority changed while queued), ctok (completion token), exp
//            (expiry ms), and error history with tracebacks as msgpack entries of hist:<id>.

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "store/store_types.h"
#include "taskmill/shared/protocol/messages.h"

namespace taskmill::broker::record {

// Field names of task:<id> (record.lua uses the same).
inline constexpr std::string_view kSpec = "spec";
inline constexpr std::string_view kPayload = "payload";
inline constexpr std::string_view kResult = "res";
inline constexpr std::string_view kState = "state";
inline constexpr std::string_view kAttempts = "att";
inline constexpr std::string_view kWorker = "worker";
inline constexpr std::string_view kStarted = "started";
inline constexpr std::string_view kReadyAt = "ready_at";
// The priority set by UPDATE while the task waited (absent: the spec's).
inline constexpr std::string_view kPriority = "prio";
inline constexpr std::string_view kFinished = "finished";
inline constexpr std::string_view kErrCode = "err_code";
inline constexpr std::string_view kErrMsg = "err_msg";
inline constexpr std::string_view kErrRetry = "err_retry";
inline constexpr std::string_view kReason = "reason";
inline constexpr std::string_view kCostPrefix = "c:";
inline constexpr std::string_view kProgress = "prog";
inline constexpr std::string_view kProgressMessage = "prog_msg";
inline constexpr std::string_view kProgressAttempt = "prog_att";

// The immutable part of a task, as stored in `spec` (payload aside).
struct Spec {
  std::string queue;
  std::string type;
  std::string batch_id;
  std::string name;
  uint8_t priority = 0;
  uint32_t max_attempts = 1;
  uint32_t timeout_ms = 0;
  BackoffPolicy backoff;
  int64_t not_before_ms = 0;
  int64_t created_ms = 0;
  std::string owner;
  std::string idempotency_key;
  std::vector<std::string> parents;  // parent task ids
  protocol::Labels labels;
};

// The not_before a task is stored with: its own, or (delay_ms, issue 22) the enqueue's clock
// `now_ms` + its delay: the broker's clock, never the client's.
inline int64_t NotBeforeMs(const protocol::TaskSpec& spec, int64_t now_ms) {
  return spec.delay_ms > 0 ? now_ms + static_cast<int64_t>(spec.delay_ms) : spec.not_before_ms;
}

// `batch_id` is the batch the task joins ("" = none); created_ms the enqueue's clock.
std::string EncodeSpec(const protocol::TaskSpec& spec, std::string_view batch_id,
                       std::string_view owner, int64_t created_ms);
// kInternal for bytes that are not a spec (bounded: decoder limits apply).
Result<Spec> DecodeSpec(std::string_view bytes);

// The result fields of a DONE, as stored in `res`.
std::string EncodeResult(const protocol::Done& done);
// Fills duration, exit code, output, stdout and stderr of `task`.
Result<void> DecodeResult(std::string_view bytes, protocol::TaskInfo& task);

// A task read back: the hash's fields (HGETALL) and its history (code, message, retryable
// triples of hist:<id>).
Result<protocol::TaskInfo> TaskFromFields(const std::map<std::string, std::string>& fields,
                                          const std::vector<std::string>& history);

}  // namespace taskmill::broker::record
