#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <limits>
#include <map>

#include "redis/reply.h"
#include "store/msgpack_read.h"
#include "store/store_wire.h"
#include "store/task_record.h"

// Every reply is checked against the script's contract; a mismatch is kInternal naming the
// script and the field, never a crash.
#define TM_ASSIGN_OR_RETURN(lhs, expr)                     \
  auto lhs##_or = (expr);                                  \
  if (!lhs##_or) return std::unexpected(lhs##_or.error()); \
  auto lhs = std::move(*lhs##_or)

namespace taskmill::broker::wire {
namespace {

using protocol::TaskState;

int64_t ToInt(const std::map<std::string, std::string>& m, const std::string& key) {
  auto it = m.find(key);
  if (it == m.end()) return 0;
  int64_t v = 0;
  std::from_chars(it->second.data(), it->second.data() + it->second.size(), v);
  return v;
}

std::string Field(const std::map<std::string, std::string>& m, const std::string& key) {
  auto it = m.find(key);
  return it == m.end() ? std::string() : it->second;
}

Result<protocol::BatchStatus> BatchFromMap(const std::map<std::string, std::string>& m) {
  protocol::BatchStatus b;
  b.id = Field(m, "id");
  b.state = Field(m, "state");
  b.total = static_cast<uint32_t>(ToInt(m, "total"));
  b.created_ms = ToInt(m, "created");
  b.finished_ms = ToInt(m, "finished");
  b.budget_exceeded = Field(m, "budget_exceeded") == "1";
  if (auto onf = Field(m, "onf"); !onf.empty()) b.on_failure = std::move(onf);
  b.finally_id = Field(m, "fid");
  b.finally_state = Field(m, "fstate");  // get_batch.lua only
  for (const auto& [k, v] : m) {
    if (k.starts_with("n:")) {
      b.counts[k.substr(2)] = static_cast<uint32_t>(std::strtoll(v.c_str(), nullptr, 10));
    } else if (k.starts_with("c:")) {
      b.cost[k.substr(2)] = std::strtod(v.c_str(), nullptr);
    } else if (k.starts_with("b:")) {
      b.budget[k.substr(2)] = std::strtod(v.c_str(), nullptr);
    }
  }
  return b;
}

// {{batch id, flat HGETALL}, ...} of a msgpack reply.
Result<BatchChanges> PackedBatches(const msgpack::object& o) {
  TM_ASSIGN_OR_RETURN(arr, mp::Array(o, "batch snapshots"));
  BatchChanges out;
  for (const auto& e : arr) {
    TM_ASSIGN_OR_RETURN(pair, mp::Array(e, "batch snapshot"));
    if (pair.size() != 2) return mp::Bad("batch snapshot", "is not a pair");
    TM_ASSIGN_OR_RETURN(id, mp::Str(pair[0], "batch id"));
    TM_ASSIGN_OR_RETURN(m, mp::StrMap(pair[1], "batch hash"));
    TM_ASSIGN_OR_RETURN(b, BatchFromMap(m));
    if (b.id.empty()) b.id = std::string(id);
    out.push_back(std::move(b));
  }
  return out;
}

// One item of finish.lua, reap.lua, release_worker.lua (finish_item in lib/prelude.lua).
Result<FinishOutcome> FinishItem(const msgpack::object& item) {
  TM_ASSIGN_OR_RETURN(f, mp::Map(item, "finish item"));
  TM_ASSIGN_OR_RETURN(status, mp::Str(mp::Get(f, "s"), "finish status"));
  FinishOutcome o;
  if (status == "succeeded")
    o.status = FinishStatus::kSucceeded;
  else if (status == "retry")
    o.status = FinishStatus::kRetry;
  else if (status == "dead")
    o.status = FinishStatus::kDead;
  else if (status == "cancelled")
    o.status = FinishStatus::kCancelled;
  else if (status == "stale")
    o.status = FinishStatus::kStale;
  else if (status == "not_found")
    o.status = FinishStatus::kNotFound;
  else if (status == "awaiting")
    o.status = FinishStatus::kAwaiting;
  else if (status == "not_awaiting")
    o.status = FinishStatus::kNotAwaiting;
  else if (status == "bad_token")
    o.status = FinishStatus::kBadToken;
  else if (status == "poll")
    o.status = FinishStatus::kPoll;
  else
    return MakeError(ErrorCode::kInternal, "unknown finish status " + std::string(status));
  TM_ASSIGN_OR_RETURN(id, mp::Str(mp::Get(f, "id"), "task id"));
  TM_ASSIGN_OR_RETURN(queue, mp::Str(mp::Get(f, "q"), "queue"));
  TM_ASSIGN_OR_RETURN(batch, mp::Str(mp::Get(f, "b"), "batch"));
  TM_ASSIGN_OR_RETURN(ready_at, mp::Int(mp::Get(f, "at"), "ready_at"));
  TM_ASSIGN_OR_RETURN(attempt, mp::Int(mp::Get(f, "att"), "attempt"));
  o.task_id = id;
  o.queue = queue;
  o.batch_id = batch;
  o.ready_at_ms = ready_at;
  o.attempt = static_cast<uint32_t>(attempt);
  // rel and can are left out when empty.
  if (const auto& rel = mp::Get(f, "rel"); !mp::IsNil(rel)) {
    TM_ASSIGN_OR_RETURN(released, mp::Strings(rel, "released ids"));
    o.released = std::move(released);
  }
  if (const auto& can = mp::Get(f, "can"); !mp::IsNil(can)) {
    TM_ASSIGN_OR_RETURN(cancelled, mp::Strings(can, "cancelled ids"));
    o.cancelled = std::move(cancelled);
  }
  if (const auto& st = mp::Get(f, "st"); !mp::IsNil(st)) {
    TM_ASSIGN_OR_RETURN(state, mp::Str(st, "state"));
    o.state = protocol::TaskStateFromName(state);
  }
  if (const auto& bud = mp::Get(f, "bud"); !mp::IsNil(bud)) {
    TM_ASSIGN_OR_RETURN(budget, mp::Strings(bud, "budget ids"));
    o.budget_cancelled = std::move(budget);
  }
  if (const auto& ff = mp::Get(f, "ff"); !mp::IsNil(ff)) {
    TM_ASSIGN_OR_RETURN(fast, mp::Strings(ff, "fail_fast ids"));
    o.fail_fast_cancelled = std::move(fast);
  }
  if (const auto& creq = mp::Get(f, "creq"); !mp::IsNil(creq)) {
    // {id, worker, token (decimal string), ...}: running tasks a fail_fast batch stops.
    TM_ASSIGN_OR_RETURN(flat, mp::Strings(creq, "cancel requests"));
    for (size_t i = 0; i + 2 < flat.size(); i += 3) {
      uint64_t token = 0;
      std::from_chars(flat[i + 2].data(), flat[i + 2].data() + flat[i + 2].size(), token);
      o.cancel_requests.push_back(FinishOutcome::StopRunning{std::move(flat[i]),
                                                             std::move(flat[i + 1]), token});
    }
  }
  if (const auto& sum = mp::Get(f, "sum"); !mp::IsNil(sum) && o.status == FinishStatus::kSucceeded) {
    TM_ASSIGN_OR_RETURN(s, mp::Map(sum, "finish summary"));
    FinishOutcome::Summary out;
    TM_ASSIGN_OR_RETURN(type, mp::Str(mp::Get(s, "type"), "summary type"));
    TM_ASSIGN_OR_RETURN(name, mp::Str(mp::Get(s, "name"), "summary name"));
    TM_ASSIGN_OR_RETURN(worker, mp::Str(mp::Get(s, "worker"), "summary worker"));
    TM_ASSIGN_OR_RETURN(prio, mp::Int(mp::Get(s, "prio"), "summary priority"));
    TM_ASSIGN_OR_RETURN(max_att, mp::Int(mp::Get(s, "max_att"), "summary max_attempts"));
    TM_ASSIGN_OR_RETURN(created, mp::Int(mp::Get(s, "created"), "summary created"));
    TM_ASSIGN_OR_RETURN(started, mp::Int(mp::Get(s, "started"), "summary started"));
    TM_ASSIGN_OR_RETURN(finished, mp::Int(mp::Get(s, "finished"), "summary finished"));
    out.type = type;
    out.name = name;
    out.worker = worker;
    out.priority = static_cast<uint8_t>(prio);
    out.max_attempts = static_cast<uint32_t>(max_att);
    out.created_ms = created;
    out.started_ms = started;
    out.finished_ms = finished;
    o.summary = std::move(out);
  }
  return o;
}

}  // namespace

Result<Packed> Unpack(const redisReply* r, std::string_view what) {
  TM_ASSIGN_OR_RETURN(bytes, reply::Str(r, what));
  try {
    // Strings refer to the reply, which outlives the parse.
    return Packed{
        msgpack::unpack(bytes.data(), bytes.size(), &mp::Referenced, nullptr, mp::Limits())};
  } catch (const std::exception& e) {
    return MakeError(ErrorCode::kInternal, "unexpected store reply: " + std::string(what) +
                                               " is not msgpack: " + e.what());
  }
}

TaskState StateFromName(std::string_view n) {
  if (n == "queued") return TaskState::kQueued;
  if (n == "delayed") return TaskState::kDelayed;
  if (n == "blocked") return TaskState::kBlocked;
  if (n == "running") return TaskState::kRunning;
  if (n == "succeeded") return TaskState::kSucceeded;
  if (n == "failed") return TaskState::kFailed;
  if (n == "cancelled") return TaskState::kCancelled;
  if (n == "awaiting") return TaskState::kAwaiting;
  if (n == "expired") return TaskState::kExpired;
  return TaskState::kUnknown;
}

Result<EnqueueResult> ParseEnqueue(const redisReply* r) {
  TM_ASSIGN_OR_RETURN(packed, Unpack(r, "enqueue reply"));
  TM_ASSIGN_OR_RETURN(top, mp::Map(packed.get(), "enqueue reply"));
  TM_ASSIGN_OR_RETURN(items, mp::Array(mp::Get(top, "items"), "enqueue items"));
  EnqueueResult out;
  out.items.reserve(items.size());
  for (const auto& e : items) {
    TM_ASSIGN_OR_RETURN(f, mp::Map(e, "enqueue item"));
    TM_ASSIGN_OR_RETURN(status, mp::Str(mp::Get(f, "s"), "enqueue status"));
    TM_ASSIGN_OR_RETURN(id, mp::Str(mp::Get(f, "id"), "task id"));
    EnqueueOutcome o;
    o.id = id;
    if (status == "error") {
      TM_ASSIGN_OR_RETURN(code, mp::Str(mp::Get(f, "code"), "error code"));
      TM_ASSIGN_OR_RETURN(msg, mp::Str(mp::Get(f, "msg"), "error message"));
      o.error = Error{ErrorCodeFromName(code), std::string(msg)};
    } else {
      TM_ASSIGN_OR_RETURN(state, mp::Str(mp::Get(f, "state"), "state"));
      o.state = StateFromName(state);
      o.duplicate = status == "duplicate";
      o.replayed = status == "duplicate" && !mp::IsNil(mp::Get(f, "rq"));
    }
    out.items.push_back(std::move(o));
  }
  if (const auto& replay = mp::Get(top, "replay"); !mp::IsNil(replay)) {
    TM_ASSIGN_OR_RETURN(batch, mp::Str(replay, "replayed batch id"));
    out.replayed_batch = batch;
  }
  TM_ASSIGN_OR_RETURN(batches, PackedBatches(mp::Get(top, "batches")));
  out.batches = std::move(batches);
  return out;
}

namespace {

Result<ClaimResult> ClaimedTasks(const msgpack::object& claim) {
  TM_ASSIGN_OR_RETURN(top, mp::Map(claim, "claim result"));
  TM_ASSIGN_OR_RETURN(items, mp::Array(mp::Get(top, "tasks"), "claimed tasks"));
  ClaimResult out;
  if (const auto& held = mp::Get(top, "held"); !mp::IsNil(held)) {
    TM_ASSIGN_OR_RETURN(n, mp::Int(held, "held"));
    out.held = static_cast<uint32_t>(std::clamp<int64_t>(n, 0, UINT32_MAX));
  }
  out.tasks.reserve(items.size());
  out.waited_ms.reserve(items.size());
  for (const auto& e : items) {
    TM_ASSIGN_OR_RETURN(f, mp::Map(e, "claimed task"));
    TM_ASSIGN_OR_RETURN(id, mp::Str(mp::Get(f, "id"), "task id"));
    TM_ASSIGN_OR_RETURN(token, mp::Uint64(mp::Get(f, "tok"), "token"));
    TM_ASSIGN_OR_RETURN(attempt, mp::Int(mp::Get(f, "att"), "attempt"));
    TM_ASSIGN_OR_RETURN(spec_bytes, mp::Str(mp::Get(f, "spec"), "spec"));
    TM_ASSIGN_OR_RETURN(payload, mp::Str(mp::Get(f, "payload"), "payload"));
    TM_ASSIGN_OR_RETURN(waited, mp::Int(mp::Get(f, "waited"), "waited"));
    TM_ASSIGN_OR_RETURN(spec, record::DecodeSpec(spec_bytes));
    std::map<std::string, std::string> parents;  // absent: a task without parents
    if (const auto& p = mp::Get(f, "parents"); !mp::IsNil(p)) {
      TM_ASSIGN_OR_RETURN(outputs, mp::StrMap(p, "parent outputs"));
      parents = std::move(outputs);
    }
    protocol::TaskMsg m;
    m.task_id = id;
    m.token = token;
    m.attempt = static_cast<uint32_t>(attempt);
    m.queue = std::move(spec.queue);
    m.type = std::move(spec.type);
    m.payload = payload;
    m.timeout_ms = spec.timeout_ms;
    m.batch_id = std::move(spec.batch_id);
    m.name = std::move(spec.name);
    m.labels = std::move(spec.labels);
    m.parents = std::move(parents);
    if (const auto& ps = mp::Get(f, "ps"); !mp::IsNil(ps)) {
      TM_ASSIGN_OR_RETURN(state, mp::Str(ps, "poll state"));
      m.poll_state = state;
    }
    if (const auto& pe = mp::Get(f, "perr"); !mp::IsNil(pe)) {
      // {name, code, message, retryable '1'|'0', ...}
      TM_ASSIGN_OR_RETURN(flat, mp::Strings(pe, "parent errors"));
      for (size_t i = 0; i + 3 < flat.size(); i += 4) {
        m.parent_errors.push_back(
            protocol::ParentError{std::move(flat[i]), std::move(flat[i + 1]),
                                  std::move(flat[i + 2]), flat[i + 3] == "1"});
      }
    }
    out.tasks.push_back(std::move(m));
    out.waited_ms.push_back(waited);
  }
  return out;
}

// The `exp` list of a claim or promote reply (absent: none).
Result<std::vector<ExpiredTask>> ExpiredTasks(const msgpack::object& list) {
  std::vector<ExpiredTask> out;
  if (mp::IsNil(list)) return out;
  TM_ASSIGN_OR_RETURN(items, mp::Array(list, "expired tasks"));
  out.reserve(items.size());
  for (const auto& e : items) {
    TM_ASSIGN_OR_RETURN(f, mp::Map(e, "expired task"));
    TM_ASSIGN_OR_RETURN(id, mp::Str(mp::Get(f, "id"), "task id"));
    ExpiredTask t;
    t.task_id = id;
    if (const auto& can = mp::Get(f, "can"); !mp::IsNil(can)) {
      TM_ASSIGN_OR_RETURN(ids, mp::Strings(can, "cancelled ids"));
      t.cancelled = std::move(ids);
    }
    out.push_back(std::move(t));
  }
  return out;
}

}  // namespace

Result<ClaimsResult> ParseClaims(const redisReply* r) {
  TM_ASSIGN_OR_RETURN(packed, Unpack(r, "claim reply"));
  TM_ASSIGN_OR_RETURN(top, mp::Map(packed.get(), "claim reply"));
  TM_ASSIGN_OR_RETURN(claims, mp::Array(mp::Get(top, "claims"), "claim results"));
  ClaimsResult out;
  out.claims.reserve(claims.size());
  for (const auto& c : claims) {
    TM_ASSIGN_OR_RETURN(one, ClaimedTasks(c));
    out.claims.emplace_back(std::move(one));
  }
  TM_ASSIGN_OR_RETURN(batches, PackedBatches(mp::Get(top, "batches")));
  out.batches = std::move(batches);
  TM_ASSIGN_OR_RETURN(expired, ExpiredTasks(mp::Get(top, "exp")));
  out.expired = std::move(expired);
  return out;
}

Result<FinishResult> ParseFinish(const redisReply* r, bool with_next_deadline) {
  TM_ASSIGN_OR_RETURN(packed, Unpack(r, "finish reply"));
  TM_ASSIGN_OR_RETURN(top, mp::Map(packed.get(), "finish reply"));
  TM_ASSIGN_OR_RETURN(items, mp::Array(mp::Get(top, "items"), "finish items"));
  FinishResult out;
  out.items.reserve(items.size());
  for (const auto& e : items) {
    TM_ASSIGN_OR_RETURN(o, FinishItem(e));
    out.items.push_back(std::move(o));
  }
  TM_ASSIGN_OR_RETURN(batches, PackedBatches(mp::Get(top, "batches")));
  out.batches = std::move(batches);
  if (with_next_deadline) {
    TM_ASSIGN_OR_RETURN(next, mp::Int(mp::Get(top, "next"), "next deadline"));
    out.next_deadline_ms = next;
  }
  return out;
}

Result<PromoteResult> ParsePromote(const redisReply* r) {
  TM_ASSIGN_OR_RETURN(packed, Unpack(r, "promote reply"));
  TM_ASSIGN_OR_RETURN(top, mp::Map(packed.get(), "promote reply"));
  TM_ASSIGN_OR_RETURN(count, mp::Int(mp::Get(top, "count"), "promoted"));
  TM_ASSIGN_OR_RETURN(queues, mp::Strings(mp::Get(top, "queues"), "queues"));
  TM_ASSIGN_OR_RETURN(next, mp::Int(mp::Get(top, "next"), "next due"));
  TM_ASSIGN_OR_RETURN(batches, PackedBatches(mp::Get(top, "batches")));
  PromoteResult out;
  out.promoted = static_cast<uint32_t>(count);
  out.queues = std::move(queues);
  out.next_due_ms = next;
  out.batches = std::move(batches);
  TM_ASSIGN_OR_RETURN(expired, ExpiredTasks(mp::Get(top, "exp")));
  out.expired = std::move(expired);
  return out;
}

Result<ExtendResult> ParseExtend(const redisReply* r) {
  TM_ASSIGN_OR_RETURN(packed, Unpack(r, "extend reply"));
  TM_ASSIGN_OR_RETURN(top, mp::Map(packed.get(), "extend reply"));
  TM_ASSIGN_OR_RETURN(count, mp::Int(mp::Get(top, "count"), "extended"));
  TM_ASSIGN_OR_RETURN(flagged, mp::Array(mp::Get(top, "flagged"), "cancel requests"));
  ExtendResult out;
  out.extended = static_cast<uint32_t>(count);
  for (const auto& e : flagged) {
    TM_ASSIGN_OR_RETURN(f, mp::Map(e, "cancel request"));
    TM_ASSIGN_OR_RETURN(id, mp::Str(mp::Get(f, "id"), "task id"));
    TM_ASSIGN_OR_RETURN(token, mp::Uint64(mp::Get(f, "tok"), "token"));
    TM_ASSIGN_OR_RETURN(reason, mp::Str(mp::Get(f, "reason"), "reason"));
    out.cancel_requested.push_back(CancelRequested{std::string(id), token, std::string(reason)});
  }
  return out;
}

Result<ProgressSaved> ParseProgress(const redisReply* r) {
  TM_ASSIGN_OR_RETURN(packed, Unpack(r, "progress reply"));
  TM_ASSIGN_OR_RETURN(top, mp::Map(packed.get(), "progress reply"));
  TM_ASSIGN_OR_RETURN(stored, mp::Int(mp::Get(top, "stored"), "stored"));
  TM_ASSIGN_OR_RETURN(refused, mp::Int(mp::Get(top, "refused"), "refused"));
  return ProgressSaved{static_cast<uint32_t>(stored), static_cast<uint32_t>(refused)};
}

Result<CancelResult> ParseCancel(const redisReply* r) {
  TM_ASSIGN_OR_RETURN(packed, Unpack(r, "cancel reply"));
  TM_ASSIGN_OR_RETURN(top, mp::Map(packed.get(), "cancel reply"));
  TM_ASSIGN_OR_RETURN(items, mp::Array(mp::Get(top, "items"), "cancel items"));
  CancelResult out;
  for (const auto& e : items) {
    TM_ASSIGN_OR_RETURN(f, mp::Map(e, "cancel item"));
    TM_ASSIGN_OR_RETURN(status, mp::Str(mp::Get(f, "s"), "cancel status"));
    TM_ASSIGN_OR_RETURN(id, mp::Str(mp::Get(f, "id"), "task id"));
    CancelOutcome o;
    o.task_id = id;
    if (status == "cancelled") {
      o.status = CancelStatus::kCancelled;
      o.state = TaskState::kCancelled;
      TM_ASSIGN_OR_RETURN(c, mp::Strings(mp::Get(f, "can"), "cancelled descendants"));
      o.cancelled = std::move(c);
    } else if (status == "cancel_requested") {
      o.status = CancelStatus::kCancelRequested;
      o.state = TaskState::kRunning;
      TM_ASSIGN_OR_RETURN(worker, mp::Str(mp::Get(f, "worker"), "worker"));
      TM_ASSIGN_OR_RETURN(token, mp::Uint64(mp::Get(f, "tok"), "token"));
      o.worker_id = worker;
      o.token = token;
    } else if (status == "finished") {
      o.status = CancelStatus::kFinished;
      TM_ASSIGN_OR_RETURN(state, mp::Str(mp::Get(f, "state"), "state"));
      o.state = StateFromName(state);
    } else if (status == "not_found") {
      o.status = CancelStatus::kNotFound;
    } else {
      return MakeError(ErrorCode::kInternal, "unexpected cancel item " + std::string(status));
    }
    out.items.push_back(std::move(o));
  }
  TM_ASSIGN_OR_RETURN(batches, PackedBatches(mp::Get(top, "batches")));
  out.batches = std::move(batches);
  return out;
}

Result<std::vector<std::optional<StoredTask>>> ParseStoredTasks(const redisReply* r) {
  TM_ASSIGN_OR_RETURN(packed, Unpack(r, "task list"));
  TM_ASSIGN_OR_RETURN(top, mp::Map(packed.get(), "task list"));
  TM_ASSIGN_OR_RETURN(items, mp::Array(mp::Get(top, "tasks"), "tasks"));
  std::vector<std::optional<StoredTask>> out;
  out.reserve(items.size());
  for (const auto& e : items) {
    TM_ASSIGN_OR_RETURN(f, mp::Map(e, "task"));
    if (f.empty()) {  // unknown, expired, or another owner's
      out.emplace_back(std::nullopt);
      continue;
    }
    TM_ASSIGN_OR_RETURN(fields, mp::StrMap(mp::Get(f, "hash"), "task hash"));
    TM_ASSIGN_OR_RETURN(hist, mp::Strings(mp::Get(f, "hist"), "task history"));
    TM_ASSIGN_OR_RETURN(id, mp::Str(mp::Get(f, "id"), "task id"));
    out.emplace_back(StoredTask{std::move(fields), std::move(hist), std::string(id)});
  }
  return out;
}

Result<std::vector<std::optional<protocol::TaskInfo>>> ParseTasks(const redisReply* r) {
  TM_ASSIGN_OR_RETURN(stored, ParseStoredTasks(r));
  std::vector<std::optional<protocol::TaskInfo>> out;
  out.reserve(stored.size());
  for (auto& s : stored) {
    if (!s) {
      out.emplace_back(std::nullopt);
      continue;
    }
    TM_ASSIGN_OR_RETURN(t, record::TaskFromFields(s->fields, s->history));
    t.id = std::move(s->id);
    out.emplace_back(std::move(t));
  }
  return out;
}

Result<std::optional<StoredBatchPage>> ParseStoredBatch(const redisReply* r) {
  TM_ASSIGN_OR_RETURN(packed, Unpack(r, "batch reply"));
  TM_ASSIGN_OR_RETURN(top, mp::Map(packed.get(), "batch reply"));
  if (top.empty()) return std::optional<StoredBatchPage>();
  StoredBatchPage page;
  TM_ASSIGN_OR_RETURN(fields, mp::StrMap(mp::Get(top, "hash"), "batch hash"));
  TM_ASSIGN_OR_RETURN(names, mp::Strings(mp::Get(top, "names"), "batch names"));
  if (names.size() % 2 != 0) return mp::Bad("batch names", "has an odd number of elements");
  TM_ASSIGN_OR_RETURN(critical, mp::Int(mp::Get(top, "cp"), "critical path"));
  TM_ASSIGN_OR_RETURN(next, mp::Str(mp::Get(top, "next"), "names cursor"));
  page.fields = std::move(fields);
  page.names.reserve(names.size() / 2);
  for (size_t i = 0; i + 1 < names.size(); i += 2) {
    page.names.emplace_back(std::move(names[i]), std::move(names[i + 1]));
  }
  page.critical_path_ms = static_cast<uint64_t>(std::max<int64_t>(critical, 0));
  page.next = next.empty() ? std::string("0") : std::string(next);
  return std::optional<StoredBatchPage>(std::move(page));
}

Result<BatchPage> ParseBatch(const redisReply* r) {
  TM_ASSIGN_OR_RETURN(stored, ParseStoredBatch(r));
  BatchPage page;
  if (!stored) return page;
  TM_ASSIGN_OR_RETURN(b, BatchFromMap(stored->fields));
  for (auto& [name, id] : stored->names) b.tasks.emplace(std::move(name), std::move(id));
  b.critical_path_ms = stored->critical_path_ms;
  page.next = std::move(stored->next);
  page.status = std::move(b);
  if (auto it = stored->fields.find("owner"); it != stored->fields.end()) page.owner = it->second;
  return page;
}

Result<StatsPage> ParseStats(const redisReply* r) {
  TM_ASSIGN_OR_RETURN(packed, Unpack(r, "stats reply"));
  TM_ASSIGN_OR_RETURN(top, mp::Map(packed.get(), "stats reply"));
  TM_ASSIGN_OR_RETURN(items, mp::Array(mp::Get(top, "items"), "stats items"));
  TM_ASSIGN_OR_RETURN(next, mp::Str(mp::Get(top, "next"), "stats next"));
  TM_ASSIGN_OR_RETURN(known, mp::Int(mp::Get(top, "known"), "stats known"));
  StatsPage page;
  page.next_after = next;
  page.known = static_cast<uint64_t>(std::max<int64_t>(known, 0));
  auto& out = page.queues;
  for (const auto& e : items) {
    TM_ASSIGN_OR_RETURN(f, mp::Map(e, "queue stats"));
    TM_ASSIGN_OR_RETURN(q, mp::Str(mp::Get(f, "queue"), "queue"));
    TM_ASSIGN_OR_RETURN(ready, mp::Int(mp::Get(f, "ready"), "ready"));
    TM_ASSIGN_OR_RETURN(dead, mp::Int(mp::Get(f, "dead"), "dead"));
    TM_ASSIGN_OR_RETURN(m, mp::StrMap(mp::Get(f, "stats"), "stats hash"));
    QueueCounters c;
    auto u = [&](const char* k) {
      return static_cast<uint64_t>(std::max<int64_t>(ToInt(m, k), 0));
    };
    c.stats.queue = q;
    c.stats.ready = static_cast<uint64_t>(std::max<int64_t>(ready, 0));
    c.stats.dead = static_cast<uint64_t>(std::max<int64_t>(dead, 0));
    c.stats.delayed = u("delayed");
    c.stats.running = u("running");
    c.stats.submitted = u("submitted");
    c.stats.succeeded = u("succeeded");
    c.stats.failed = u("failed");
    c.stats.retried = u("retried");
    c.stats.cancelled = u("cancelled");
    c.blocked = u("blocked");
    c.awaiting = u("awaiting");
    c.stale = u("stale");
    c.stats.throttled = u("throttled");
    if (const auto& paused = mp::Get(f, "paused"); !mp::IsNil(paused)) {
      TM_ASSIGN_OR_RETURN(p, mp::Bool(paused, "paused"));
      c.stats.paused = p;
    }
    c.stats.expired = u("expired");
    if (const auto& lim = mp::Get(f, "limit"); !mp::IsNil(lim)) {
      TM_ASSIGN_OR_RETURN(text, mp::Str(lim, "limit"));
      TM_ASSIGN_OR_RETURN(held, mp::Int(mp::Get(f, "limit_running"), "limit_running"));
      c.stats.limit = std::string(text);
      c.stats.limit_running = static_cast<uint64_t>(std::max<int64_t>(held, 0));
    }
    for (const auto& [k, v] : m) {
      if (k.starts_with("c:")) c.stats.cost[k.substr(2)] = std::strtod(v.c_str(), nullptr);
    }
    if (const auto& types = mp::Get(f, "by_type"); !mp::IsNil(types)) {
      TM_ASSIGN_OR_RETURN(by_type, mp::StrMap(types, "ready by type"));
      TM_ASSIGN_OR_RETURN(more, mp::Int(mp::Get(f, "more_types"), "more types"));
      for (const auto& [type, count] : by_type) {
        int64_t n = 0;
        std::from_chars(count.data(), count.data() + count.size(), n);
        c.stats.ready_by_type[type] = static_cast<uint32_t>(
            std::clamp<int64_t>(n, 0, std::numeric_limits<uint32_t>::max()));
      }
      c.stats.more_types = static_cast<uint32_t>(
          std::clamp<int64_t>(more, 0, std::numeric_limits<uint32_t>::max()));
    }
    out.push_back(std::move(c));
  }
  return page;
}

Result<std::vector<std::string>> ParseIds(const redisReply* r) {
  TM_ASSIGN_OR_RETURN(packed, Unpack(r, "id list"));
  TM_ASSIGN_OR_RETURN(top, mp::Map(packed.get(), "id list"));
  return mp::Strings(mp::Get(top, "ids"), "id list");
}

Result<std::string> ParseLimit(const redisReply* r) {
  TM_ASSIGN_OR_RETURN(packed, Unpack(r, "limit reply"));
  TM_ASSIGN_OR_RETURN(top, mp::Map(packed.get(), "limit reply"));
  TM_ASSIGN_OR_RETURN(text, mp::Str(mp::Get(top, "text"), "limit text"));
  return std::string(text);
}

Result<std::vector<std::string>> ParseBound(const redisReply* r) {
  TM_ASSIGN_OR_RETURN(packed, Unpack(r, "worker bindings"));
  TM_ASSIGN_OR_RETURN(top, mp::Map(packed.get(), "worker bindings"));
  return mp::Strings(mp::Get(top, "bound"), "worker bindings");
}

Result<ListPage> ParseList(const redisReply* r) {
  TM_ASSIGN_OR_RETURN(stored, ParseStoredTasks(r));
  TM_ASSIGN_OR_RETURN(packed, Unpack(r, "list reply"));
  TM_ASSIGN_OR_RETURN(top, mp::Map(packed.get(), "list reply"));
  TM_ASSIGN_OR_RETURN(next, mp::Str(mp::Get(top, "next"), "list cursor"));
  TM_ASSIGN_OR_RETURN(batches, PackedBatches(mp::Get(top, "batches")));
  ListPage page;
  page.next = std::string(next);
  page.batches = std::move(batches);
  for (auto& s : stored) {
    if (!s) continue;
    TM_ASSIGN_OR_RETURN(t, record::TaskFromFields(s->fields, s->history));
    t.id = std::move(s->id);
    page.tasks.push_back(std::move(t));
  }
  return page;
}

}  // namespace taskmill::broker::wire

namespace taskmill::broker {

// The task as record::TaskFromFields would read it after finish.lua's succeed(), from the
// reply's named summary fields and the DONE itself (no second read of the record).
protocol::TaskInfo SucceededTask(const FinishOutcome& o, protocol::Done done) {
  protocol::TaskInfo t;
  t.id = o.task_id;
  t.queue = o.queue;
  t.batch_id = o.batch_id;
  t.state = protocol::TaskState::kSucceeded;
  t.attempts = o.attempt;
  if (o.summary) {
    t.type = o.summary->type;
    t.name = o.summary->name;
    t.priority = o.summary->priority;
    t.max_attempts = o.summary->max_attempts;
    t.worker = o.summary->worker;
    t.created_ms = o.summary->created_ms;
    t.started_ms = o.summary->started_ms;
    t.finished_ms = o.summary->finished_ms;
  }
  t.output = std::move(done.output);
  t.exit_code = done.exit_code;
  t.stdout_data = std::move(done.stdout_data);
  t.stderr_data = std::move(done.stderr_data);
  t.duration_ms = done.duration_ms;
  t.cost = std::move(done.cost);
  return t;
}

}  // namespace taskmill::broker
