#pragma once

// Store replies (the hashes get.lua, dead_list.lua and get_batch.lua return) as the JSON the
// dashboard's /api serves. Only the fields named here leave the broker (never the owner key
// or the fencing token), and large blobs are cut at a bound.

#include <hiredis/hiredis.h>
#include <nlohmann/json.hpp>

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "taskmill/shared/error.h"

namespace taskmill::broker::api {

using Hash = std::map<std::string, std::string>;

// Payload, output, stdout and stderr are cut to this many bytes in a task's JSON (the
// rest is said to be cut, with the full size).
constexpr size_t kMaxBlobBytes = 64 << 10;

// One item of get.lua / dead_list.lua: the task hash and its error history triples.
struct TaskRecord {
  Hash hash;
  std::vector<std::string> history;
};

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
nlohmann::json TaskSummaryJson(const Hash& h);
// A batch's aggregate state: counts by task state, costs against budget, times.
nlohmann::json BatchJson(const BatchRecord& b);

// Serialises for an HTTP body; bytes that are not UTF-8 become U+FFFD, never an exception.
std::string Dump(const nlohmann::json& j);

}  // namespace taskmill::broker::api
