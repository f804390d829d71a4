#include "http/api_json.h"

#include <cstdlib>
#include <span>

#include "store/store_wire.h"
#include "store/task_record.h"

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

std::vector<std::string> Split(const std::string& s, char sep) {
  std::vector<std::string> out;
  size_t at = 0;
  while (at < s.size()) {
    size_t end = s.find(sep, at);
    if (end == std::string::npos) end = s.size();
    out.push_back(s.substr(at, end - at));
    at = end + 1;
  }
  return out;
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

Result<std::vector<std::optional<TaskRecord>>> ParseTaskRecords(const redisReply* r) {
  TM_ASSIGN_OR_RETURN(stored, wire::ParseStoredTasks(r));
  std::vector<std::optional<TaskRecord>> out;
  out.reserve(stored.size());
  for (auto& s : stored) {
    if (!s) {
      out.emplace_back();
      continue;
    }
    TaskRecord t;
    // The lean record (store/task_record.h) as the named fields this file reads.
    t.hash = record::FlatView(std::move(s->fields), s->id);
    t.history = std::move(s->history);
    out.push_back(std::move(t));
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

json TaskSummaryJson(const Hash& h) {
  json j = {{"id", Get(h, "id")},
            {"queue", Get(h, "queue")},
            {"type", Get(h, "type")},
            {"state", Get(h, "state")},
            {"attempts", Int(h, "att")},
            {"max_attempts", Int(h, "max_att")},
            {"created_ms", Int(h, "created")},
            {"finished_ms", Int(h, "finished")}};
  if (auto name = Get(h, "name"); !name.empty()) j["name"] = name;
  if (auto batch = Get(h, "batch"); !batch.empty()) j["batch"] = batch;
  j["parents"] = Split(Get(h, "parents"), ',');
  if (h.count("err_code") != 0) {
    j["error"] = {{"code", Get(h, "err_code")}, {"message", Get(h, "err_msg")}};
  }
  return j;
}

json TaskJson(const TaskRecord& t) {
  const Hash& h = t.hash;
  json j = TaskSummaryJson(h);
  auto backoff = Split(Get(h, "bo"), ',');
  json spec = {{"priority", Int(h, "prio")},
               {"max_attempts", Int(h, "max_att")},
               {"timeout_ms", Int(h, "timeout")},
               {"not_before_ms", Int(h, "nbf")},
               {"idempotency_key", Get(h, "idem")},
               {"labels", Prefixed(h, "l:", As::kText)}};
  if (backoff.size() == 4) {
    spec["backoff"] = {{"base_ms", std::strtoll(backoff[0].c_str(), nullptr, 10)},
                       {"max_ms", std::strtoll(backoff[1].c_str(), nullptr, 10)},
                       {"multiplier", std::strtod(backoff[2].c_str(), nullptr)},
                       {"jitter", backoff[3] == "1"}};
  }
  PutBlob(spec, "payload", Get(h, "payload"));
  j["spec"] = std::move(spec);
  j["worker"] = Get(h, "worker");
  j["started_ms"] = Int(h, "started");
  j["ready_at_ms"] = Int(h, "ready_at");
  j["duration_ms"] = Int(h, "dur");
  j["cost"] = Prefixed(h, "c:", As::kNumber);
  if (auto exit = Get(h, "exit"); !exit.empty()) j["exit_code"] = Int(h, "exit");
  PutBlob(j, "output", Get(h, "output"));
  PutBlob(j, "stdout", Get(h, "stdout"));
  PutBlob(j, "stderr", Get(h, "stderr"));
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
          {"critical_path_ms", b.critical_path_ms}};
}

std::string Dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

}  // namespace taskmill::broker::api
