#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <limits>

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

Result<std::vector<std::string>> Strings(const redisReply* r, std::string_view what) {
  TM_ASSIGN_OR_RETURN(arr, reply::Array(r, what));
  std::vector<std::string> out;
  out.reserve(arr.size());
  for (const redisReply* e : arr) {
    TM_ASSIGN_OR_RETURN(s, reply::Str(e, what));
    out.emplace_back(s);
  }
  return out;
}

Result<protocol::BatchStatus> BatchFromMap(const std::map<std::string, std::string>& m) {
  protocol::BatchStatus b;
  b.id = Field(m, "id");
  b.state = Field(m, "state");
  b.total = static_cast<uint32_t>(ToInt(m, "total"));
  b.created_ms = ToInt(m, "created");
  b.finished_ms = ToInt(m, "finished");
  b.budget_exceeded = Field(m, "budget_exceeded") == "1";
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

// {{batch id, flat HGETALL}, ...}
Result<BatchChanges> ParseBatches(const redisReply* r) {
  TM_ASSIGN_OR_RETURN(arr, reply::Array(r, "batch snapshots"));
  BatchChanges out;
  for (const redisReply* e : arr) {
    TM_ASSIGN_OR_RETURN(pair, reply::Array(e, "batch snapshot", 2));
    TM_ASSIGN_OR_RETURN(id, reply::Str(pair[0], "batch id"));
    TM_ASSIGN_OR_RETURN(m, reply::FlatMap(pair[1], "batch hash"));
    TM_ASSIGN_OR_RETURN(b, BatchFromMap(m));
    if (b.id.empty()) b.id = std::string(id);
    out.push_back(std::move(b));
  }
  return out;
}

// {flat HGETALL of task:<id>, history triples, id} (get.lua, dead_list.lua).
Result<protocol::TaskInfo> TaskFromReply(const redisReply* r) {
  TM_ASSIGN_OR_RETURN(parts, reply::Array(r, "task", 3));
  TM_ASSIGN_OR_RETURN(m, reply::FlatMap(parts[0], "task hash"));
  TM_ASSIGN_OR_RETURN(hist, Strings(parts[1], "task history"));
  TM_ASSIGN_OR_RETURN(id, reply::Str(parts[2], "task id"));
  TM_ASSIGN_OR_RETURN(t, record::TaskFromFields(m, hist));
  t.id = id;
  return t;
}

// The msgpack value of a script's reply (reply() in lib/prelude.lua), kept alive with its zone.
struct Packed {
  msgpack::object_handle handle;
  const msgpack::object& get() const { return handle.get(); }
};
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
  else
    return MakeError(ErrorCode::kInternal, "unknown finish status " + std::string(status));
  TM_ASSIGN_OR_RETURN(id, mp::Str(mp::Get(f, "id"), "task id"));
  TM_ASSIGN_OR_RETURN(queue, mp::Str(mp::Get(f, "q"), "queue"));
  TM_ASSIGN_OR_RETURN(batch, mp::Str(mp::Get(f, "b"), "batch"));
  TM_ASSIGN_OR_RETURN(ready_at, mp::Int(mp::Get(f, "at"), "ready_at"));
  TM_ASSIGN_OR_RETURN(attempt, mp::Int(mp::Get(f, "att"), "attempt"));
  TM_ASSIGN_OR_RETURN(released, mp::Strings(mp::Get(f, "rel"), "released ids"));
  TM_ASSIGN_OR_RETURN(cancelled, mp::Strings(mp::Get(f, "can"), "cancelled ids"));
  o.task_id = id;
  o.queue = queue;
  o.batch_id = batch;
  o.ready_at_ms = ready_at;
  o.attempt = static_cast<uint32_t>(attempt);
  o.released = std::move(released);
  o.cancelled = std::move(cancelled);
  if (const auto& bud = mp::Get(f, "bud"); !mp::IsNil(bud)) {
    TM_ASSIGN_OR_RETURN(budget, mp::Strings(bud, "budget ids"));
    o.budget_cancelled = std::move(budget);
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

TaskState StateFromName(std::string_view n) {
  if (n == "queued") return TaskState::kQueued;
  if (n == "delayed") return TaskState::kDelayed;
  if (n == "blocked") return TaskState::kBlocked;
  if (n == "running") return TaskState::kRunning;
  if (n == "succeeded") return TaskState::kSucceeded;
  if (n == "failed") return TaskState::kFailed;
  if (n == "cancelled") return TaskState::kCancelled;
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
    }
    out.items.push_back(std::move(o));
  }
  TM_ASSIGN_OR_RETURN(batches, PackedBatches(mp::Get(top, "batches")));
  out.batches = std::move(batches);
  return out;
}

Result<ClaimResult> ParseClaim(const redisReply* r) {
  TM_ASSIGN_OR_RETURN(packed, Unpack(r, "claim reply"));
  TM_ASSIGN_OR_RETURN(top, mp::Map(packed.get(), "claim reply"));
  TM_ASSIGN_OR_RETURN(items, mp::Array(mp::Get(top, "tasks"), "claimed tasks"));
  ClaimResult out;
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
    TM_ASSIGN_OR_RETURN(parents, mp::StrMap(mp::Get(f, "parents"), "parent outputs"));
    TM_ASSIGN_OR_RETURN(spec, record::DecodeSpec(spec_bytes));
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
    out.tasks.push_back(std::move(m));
    out.waited_ms.push_back(waited);
  }
  TM_ASSIGN_OR_RETURN(batches, PackedBatches(mp::Get(top, "batches")));
  out.batches = std::move(batches);
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
  TM_ASSIGN_OR_RETURN(top, reply::Array(r, "promote reply", 4));
  PromoteResult out;
  TM_ASSIGN_OR_RETURN(count, reply::Int(top[0], "promoted"));
  TM_ASSIGN_OR_RETURN(queues, Strings(top[1], "queues"));
  TM_ASSIGN_OR_RETURN(next, reply::Int(top[2], "next due"));
  TM_ASSIGN_OR_RETURN(batches, ParseBatches(top[3]));
  out.promoted = static_cast<uint32_t>(count);
  out.queues = std::move(queues);
  out.next_due_ms = next;
  out.batches = std::move(batches);
  return out;
}

Result<ExtendResult> ParseExtend(const redisReply* r) {
  TM_ASSIGN_OR_RETURN(top, reply::Array(r, "extend reply", 2));
  ExtendResult out;
  TM_ASSIGN_OR_RETURN(count, reply::Int(top[0], "extended"));
  out.extended = static_cast<uint32_t>(count);
  TM_ASSIGN_OR_RETURN(flagged, reply::Array(top[1], "cancel requests"));
  for (const redisReply* e : flagged) {
    TM_ASSIGN_OR_RETURN(f, reply::Array(e, "cancel request", 3));
    TM_ASSIGN_OR_RETURN(id, reply::Str(f[0], "task id"));
    TM_ASSIGN_OR_RETURN(token, reply::Uint64(f[1], "token"));
    TM_ASSIGN_OR_RETURN(reason, reply::Str(f[2], "reason"));
    out.cancel_requested.push_back(
        CancelRequested{std::string(id), token, std::string(reason)});
  }
  return out;
}

Result<CancelResult> ParseCancel(const redisReply* r) {
  TM_ASSIGN_OR_RETURN(top, reply::Array(r, "cancel reply", 2));
  TM_ASSIGN_OR_RETURN(items, reply::Array(top[0], "cancel items"));
  CancelResult out;
  for (const redisReply* e : items) {
    TM_ASSIGN_OR_RETURN(f, reply::Array(e, "cancel item", 2));
    TM_ASSIGN_OR_RETURN(status, reply::Str(f[0], "cancel status"));
    TM_ASSIGN_OR_RETURN(id, reply::Str(f[1], "task id"));
    CancelOutcome o;
    o.task_id = id;
    if (status == "cancelled" && f.size() >= 3) {
      o.status = CancelStatus::kCancelled;
      o.state = TaskState::kCancelled;
      TM_ASSIGN_OR_RETURN(c, Strings(f[2], "cancelled descendants"));
      o.cancelled = std::move(c);
    } else if (status == "cancel_requested" && f.size() >= 4) {
      o.status = CancelStatus::kCancelRequested;
      o.state = TaskState::kRunning;
      TM_ASSIGN_OR_RETURN(worker, reply::Str(f[2], "worker"));
      TM_ASSIGN_OR_RETURN(token, reply::Uint64(f[3], "token"));
      o.worker_id = worker;
      o.token = token;
    } else if (status == "finished" && f.size() >= 3) {
      o.status = CancelStatus::kFinished;
      TM_ASSIGN_OR_RETURN(state, reply::Str(f[2], "state"));
      o.state = StateFromName(state);
    } else if (status == "not_found") {
      o.status = CancelStatus::kNotFound;
    } else {
      return MakeError(ErrorCode::kInternal, "unexpected cancel item " + std::string(status));
    }
    out.items.push_back(std::move(o));
  }
  TM_ASSIGN_OR_RETURN(batches, ParseBatches(top[1]));
  out.batches = std::move(batches);
  return out;
}

Result<std::vector<std::optional<protocol::TaskInfo>>> ParseTasks(const redisReply* r) {
  TM_ASSIGN_OR_RETURN(items, reply::Array(r, "task list"));
  std::vector<std::optional<protocol::TaskInfo>> out;
  out.reserve(items.size());
  for (const redisReply* e : items) {
    if (e != nullptr && e->type == REDIS_REPLY_ARRAY && e->elements == 0) {
      out.emplace_back(std::nullopt);
      continue;
    }
    TM_ASSIGN_OR_RETURN(t, TaskFromReply(e));
    out.emplace_back(std::move(t));
  }
  return out;
}

Result<BatchPage> ParseBatch(const redisReply* r) {
  TM_ASSIGN_OR_RETURN(top, reply::Array(r, "batch reply"));
  BatchPage page;
  if (top.empty()) return page;
  if (top.size() < 2) return MakeError(ErrorCode::kInternal, "batch reply too short");
  TM_ASSIGN_OR_RETURN(m, reply::FlatMap(top[0], "batch hash"));
  TM_ASSIGN_OR_RETURN(names, reply::FlatMap(top[1], "batch names"));
  TM_ASSIGN_OR_RETURN(b, BatchFromMap(m));
  b.tasks = std::move(names);
  if (top.size() >= 3) {
    TM_ASSIGN_OR_RETURN(critical, reply::Int(top[2], "critical path"));
    b.critical_path_ms = static_cast<uint64_t>(std::max<int64_t>(critical, 0));
  }
  if (top.size() >= 4) {
    TM_ASSIGN_OR_RETURN(next, reply::Str(top[3], "names cursor"));
    page.next = next;
  }
  page.status = std::move(b);
  return page;
}

Result<StatsPage> ParseStats(const redisReply* r) {
  TM_ASSIGN_OR_RETURN(top, reply::Array(r, "stats reply", 3));
  TM_ASSIGN_OR_RETURN(items, reply::Array(top[0], "stats items"));
  StatsPage page;
  TM_ASSIGN_OR_RETURN(next, reply::Str(top[1], "stats next"));
  TM_ASSIGN_OR_RETURN(known, reply::Int(top[2], "stats known"));
  page.next_after = next;
  page.known = static_cast<uint64_t>(std::max<int64_t>(known, 0));
  auto& out = page.queues;
  for (const redisReply* e : items) {
    TM_ASSIGN_OR_RETURN(f, reply::Array(e, "queue stats", 4));
    TM_ASSIGN_OR_RETURN(q, reply::Str(f[0], "queue"));
    TM_ASSIGN_OR_RETURN(ready, reply::Int(f[1], "ready"));
    TM_ASSIGN_OR_RETURN(dead, reply::Int(f[2], "dead"));
    TM_ASSIGN_OR_RETURN(m, reply::FlatMap(f[3], "stats hash"));
    QueueCounters c;
    auto u = [&](const char* k) {
      return static_cast<uint64_t>(std::max<int64_t>(ToInt(m, k), 0));
    };
    c.stats.queue = q;
    c.stats.ready = static_cast<uint64_t>(ready);
    c.stats.dead = static_cast<uint64_t>(dead);
    c.stats.delayed = u("delayed");
    c.stats.running = u("running");
    c.stats.submitted = u("submitted");
    c.stats.succeeded = u("succeeded");
    c.stats.failed = u("failed");
    c.stats.retried = u("retried");
    c.stats.cancelled = u("cancelled");
    c.blocked = u("blocked");
    c.stale = u("stale");
    for (const auto& [k, v] : m) {
      if (k.starts_with("c:")) c.stats.cost[k.substr(2)] = std::strtod(v.c_str(), nullptr);
    }
    if (f.size() >= 6) {
      TM_ASSIGN_OR_RETURN(by_type, reply::FlatMap(f[4], "ready by type"));
      TM_ASSIGN_OR_RETURN(more, reply::Int(f[5], "more types"));
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

Result<std::vector<std::string>> ParseIds(const redisReply* r, bool with_batches) {
  if (!with_batches) return Strings(r, "id list");
  TM_ASSIGN_OR_RETURN(top, reply::Array(r, "id list reply", 2));
  return Strings(top[0], "id list");
}

}  // namespace taskmill::broker::wire

namespace taskmill::broker {

// Mirrors TaskFromReply for what finish.lua's succeed() writes: keep the two in step.
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
