#pragma once

// Store replies (the records get.lua, dead_list.lua and get_batch.lua return) as the JSON the
// dashboard's /api serves. A task's encoded spec and result are decoded once, and the JSON
// is built from those values (no string round trip). Only the fields named here leave the
// broker (never the owner key or the fencing token), and large blobs are cut at a bound.

#include <hiredis/hiredis.h>
#include <nlohmann/json.hpp>

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "store/store_wire.h"
#include "store/task_record.h"
#include "taskmill/shared/error.h"

namespace taskmill::broker::api {

using Hash = std::map<std::string, std::string>;

// Payload, output, stdout and stderr are cut to this many bytes in a task's JSON (the
// rest is said to be cut, with the full size).
constexpr size_t kMaxBlobBytes = 64 << 10;

// What the result field of a task holds (record::DecodeResult).
struct TaskResult {
  uint32_t duration_ms = 0;
  std::optional<int32_t> exit_code;
  std::string output;
  std::string stdout_data;
  std::string stderr_data;
};

// One item of get.lua / dead_list.lua, decoded: the record's mutable fields as stored (state,
// att, worker, started, finished, err_*, reason, cancel, c:<cost>, payload), its spec and
// result, and its error history triples.
struct TaskRecord {
  std::string id;
  Hash fields;                       // the hash without its encoded spec and result
  std::optional<record::Spec> spec;  // nullopt: none, or not decodable
  std::optional<TaskResult> result;  // nullopt: no attempt recorded yet (or not decodable)
  std::vector<std::string> history;
};

// One stored task decoded.
TaskRecord TaskRecordFrom(wire::StoredTask stored);
// get.lua / dead_list.lua items; nullopt for an unknown task.
Result<std::vector<std::optional<TaskRecord>>> ParseTaskRecords(const redisReply* r);

// One page of get_batch.lua: the batch hash, its name -> id pairs, the next names cursor.
struct BatchRecord {
  Hash hash;
  std::vector<std::pair<std::string, std::string>> names;
  uint64_t critical_path_ms = 0;
  std::string next = "0";
};
// nullopt: no such batch.
Result<std::optional<BatchRecord>> ParseBatchRecord(const redisReply* r);

// The whole task: spec, state, attempts, errors, result, costs, timings.
nlohmann::json TaskJson(const TaskRecord& t);
// A task as a dead-letter list row or a DAG node: no blobs.
nlohmann::json TaskSummaryJson(const TaskRecord& t);
// A batch's aggregate state: counts by task state, costs against budget, times.
nlohmann::json BatchJson(const BatchRecord& b);

// Serialises for an HTTP body; bytes that are not UTF-8 become U+FFFD, never an exception.
std::string Dump(const nlohmann::json& j);

}  // namespace taskmill::broker::api
