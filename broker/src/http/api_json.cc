#include "http/api_json.h"

#include <cstdlib>
#include <span>

// Every reply is checked against the script's contract; a mismatch is an error naming the
// field, never a crash.
#define TM_ASSIGN_OR_RETURN(lhs, expr)                     \
  auto lhs##_or = (expr);                                  \
  if (!lhs##_or) return std::unexpected(lhs##_or.error()); \
  auto lhs = std::move(*lhs##_or)

namespace taskmill::broker::api {
namespace {

using nlohmann::json;

std::string Get(const Hash& h, const char* key) {
  auto it = h.find(key);
  return it == h.end() ? std::string() : it->second;
}

int64_t Int(const Hash& h, const char* key) {
  return std::strtoll(Get(h, key).c_str(), nullptr, 10);
}

// A blob cut to kMaxBlobBytes, with its full size when it was cut.
void PutBlob(json& j, const char* name, const std::string& value) {
  if (value.size() <= kMaxBlobBytes) {
    j[name] = value;
    return;
  }
  j[name] = value.substr(0, kMaxBlobBytes);
  j[std::string(name) + "_bytes"] = value.size();
}

enum class As { kText, kInteger, kNumber };

// Fields with a prefix ("c:usd" -> {"usd": n}).
json Prefixed(const Hash& h, const std::string& prefix, As as) {
  json out = json::object();
  for (auto it = h.lower_bound(prefix); it != h.end() && it->first.starts_with(prefix); ++it) {
    std::string name = it->first.substr(prefix.size());
    if (as == As::kNumber) {
      out[name] = std::strtod(it->second.c_str(), nullptr);
    } else if (as == As::kInteger) {
      out[name] = std::strtoll(it->second.c_str(), nullptr, 10);
    } else {
      out[name] = it->second;
    }
  }
  return out;
}

}  // namespace

TaskRecord TaskRecordFrom(wire::StoredTask stored) {
  TaskRecord t;
  t.id = std::move(stored.id);
  t.fields = std::move(stored.fields);
  t.history = std::move(stored.history);
  if (auto it = t.fields.find(std::string(record::kSpec)); it != t.fields.end()) {
    if (auto spec = record::DecodeSpec(it->second)) t.spec = std::move(*spec);
    t.fields.erase(it);
  }
  if (auto it = t.fields.find(std::string(record::kResult)); it != t.fields.end()) {
    protocol::TaskInfo info;
    if (record::DecodeResult(it->second, info)) {
      t.result = TaskResult{info.duration_ms, info.exit_code, std::move(info.output),
                            std::move(info.stdout_data), std::move(info.stderr_data)};
    }
    t.fields.erase(it);
  }
  return t;
}

Result<std::vector<std::optional<TaskRecord>>> ParseTaskRecords(const redisReply* r) {
  TM_ASSIGN_OR_RETURN(stored, wire::ParseStoredTasks(r));
  std::vector<std::optional<TaskRecord>> out;
  out.reserve(stored.size());
  for (auto& s : stored) {
    if (s) {
      out.emplace_back(TaskRecordFrom(std::move(*s)));
    } else {
      out.emplace_back();
    }
  }
  return out;
}

Result<std::optional<BatchRecord>> ParseBatchRecord(const redisReply* r) {
  TM_ASSIGN_OR_RETURN(stored, wire::ParseStoredBatch(r));
  if (!stored) return std::optional<BatchRecord>();
  BatchRecord b;
  b.hash = std::move(stored->fields);
  b.names = std::move(stored->names);
  b.critical_path_ms = stored->critical_path_ms;
  b.next = std::move(stored->next);
  return std::optional<BatchRecord>(std::move(b));
}

json TaskSummaryJson(const TaskRecord& t) {
  const Hash& h = t.fields;
  static const record::Spec kNone;
  const record::Spec& s = t.spec ? *t.spec : kNone;  // an undecodable spec reads as empty
  json j = {{"id", t.id},
            {"queue", s.queue},
            {"type", s.type},
            {"state", Get(h, "state")},
            {"attempts", Int(h, "att")},
            {"max_attempts", t.spec ? int64_t{s.max_attempts} : 0},
            {"created_ms", s.created_ms},
            {"finished_ms", Int(h, "finished")}};
  if (!s.name.empty()) j["name"] = s.name;
  if (!s.batch_id.empty()) j["batch"] = s.batch_id;
  j["parents"] = s.parents;
  if (h.count("err_code") != 0) {
    j["error"] = {{"code", Get(h, "err_code")}, {"message", Get(h, "err_msg")}};
  }
  // The latest stored progress, while it is the current attempt's (task_record.h).
  if (h.count("prog") != 0 && Int(h, "prog_att") == Int(h, "att")) {
    j["progress"] = std::strtod(Get(h, "prog").c_str(), nullptr);
    j["progress_message"] = Get(h, "prog_msg");
  }
  return j;
}

json TaskJson(const TaskRecord& t) {
  const Hash& h = t.fields;
  json j = TaskSummaryJson(t);
  json spec = {{"priority", 0},
               {"max_attempts", 0},
               {"timeout_ms", 0},
               {"not_before_ms", 0},
               {"idempotency_key", ""},
               {"labels", json::object()}};
  if (t.spec) {
    const record::Spec& s = *t.spec;
    spec["priority"] = int64_t{s.priority};
    spec["max_attempts"] = int64_t{s.max_attempts};
    spec["timeout_ms"] = int64_t{s.timeout_ms};
    spec["not_before_ms"] = s.not_before_ms;
    spec["idempotency_key"] = s.idempotency_key;
    for (const auto& [name, value] : s.labels) spec["labels"][name] = value;
    spec["backoff"] = {{"base_ms", int64_t{s.backoff.base_ms}},
                       {"max_ms", int64_t{s.backoff.max_ms}},
                       {"multiplier", s.backoff.multiplier},
                       {"jitter", s.backoff.jitter}};
  }
  PutBlob(spec, "payload", Get(h, "payload"));
  j["spec"] = std::move(spec);
  j["worker"] = Get(h, "worker");
  j["started_ms"] = Int(h, "started");
  j["ready_at_ms"] = Int(h, "ready_at");
  j["cost"] = Prefixed(h, "c:", As::kNumber);
  static const TaskResult kNoResult;
  const TaskResult& r = t.result ? *t.result : kNoResult;
  j["duration_ms"] = int64_t{r.duration_ms};
  if (r.exit_code) j["exit_code"] = int64_t{*r.exit_code};
  PutBlob(j, "output", r.output);
  PutBlob(j, "stdout", r.stdout_data);
  PutBlob(j, "stderr", r.stderr_data);
  if (h.count("err_code") != 0) j["error"]["retryable"] = Get(h, "err_retry") == "1";
  if (auto reason = Get(h, "reason"); !reason.empty()) j["cancel_reason"] = reason;
  if (auto cancel = Get(h, "cancel"); !cancel.empty()) j["cancel_requested"] = cancel;
  json history = json::array();
  for (size_t i = 0; i + 2 < t.history.size(); i += 3) {
    history.push_back({{"code", t.history[i]},
                       {"message", t.history[i + 1]},
                       {"retryable", t.history[i + 2] == "1"}});
  }
  j["history"] = std::move(history);
  return j;
}

json BatchJson(const BatchRecord& b) {
  const Hash& h = b.hash;
  return {{"id", Get(h, "id")},
          {"state", Get(h, "state")},
          {"total", Int(h, "total")},
          {"counts", Prefixed(h, "n:", As::kInteger)},
          {"cost", Prefixed(h, "c:", As::kNumber)},
          {"budget", Prefixed(h, "b:", As::kNumber)},
          {"budget_exceeded", Get(h, "budget_exceeded") == "1"},
          {"created_ms", Int(h, "created")},
          {"finished_ms", Int(h, "finished")},
          {"critical_path_ms", b.critical_path_ms},
          // Issue 22: its failure policy (absent: the default) and its finally task.
          {"on_failure", Get(h, "onf").empty() ? std::string("cancel_dependents") : Get(h, "onf")},
          {"finally_id", Get(h, "fid")},
          {"finally_state", Get(h, "fstate")}};
}

std::string Dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

}  // namespace taskmill::broker::api
