#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <limits>

#include "redis/reply.h"
#include "store/store_wire.h"

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

Result<protocol::TaskInfo> TaskFromReply(const redisReply* r) {
  TM_ASSIGN_OR_RETURN(pair, reply::Array(r, "task", 2));
  TM_ASSIGN_OR_RETURN(m, reply::FlatMap(pair[0], "task hash"));
  TM_ASSIGN_OR_RETURN(hist, Strings(pair[1], "task history"));
  protocol::TaskInfo t;
  t.id = Field(m, "id");
  t.queue = Field(m, "queue");
  t.type = Field(m, "type");
  t.batch_id = Field(m, "batch");
  t.name = Field(m, "name");
  t.state = StateFromName(Field(m, "state"));
  t.priority = static_cast<uint8_t>(ToInt(m, "prio"));
  t.attempts = static_cast<uint32_t>(ToInt(m, "att"));
  t.max_attempts = static_cast<uint32_t>(ToInt(m, "max_att"));
  t.output = Field(m, "output");
  if (auto it = m.find("err_code"); it != m.end()) {
    t.error = protocol::TaskError{it->second, Field(m, "err_msg"), Field(m, "err_retry") == "1"};
  }
  if (t.state == TaskState::kCancelled) {
    t.error = protocol::TaskError{"cancelled", Field(m, "reason"), false};
  }
  if (std::string e = Field(m, "exit"); !e.empty()) {
    t.exit_code = static_cast<int32_t>(std::strtol(e.c_str(), nullptr, 10));
  }
  t.stdout_data = Field(m, "stdout");
  t.stderr_data = Field(m, "stderr");
  t.duration_ms = static_cast<uint32_t>(ToInt(m, "dur"));
  for (const auto& [k, v] : m) {
    if (k.starts_with("c:")) t.cost[k.substr(2)] = std::strtod(v.c_str(), nullptr);
  }
  t.worker = Field(m, "worker");
  t.created_ms = ToInt(m, "created");
  t.started_ms = ToInt(m, "started");
  t.finished_ms = ToInt(m, "finished");
  if (hist.size() % 3 != 0) {
    return MakeError(ErrorCode::kInternal, "unexpected store reply: history not in triples");
  }
  for (size_t i = 0; i < hist.size(); i += 3) {
    t.history.push_back(protocol::TaskError{hist[i], hist[i + 1], hist[i + 2] == "1"});
  }
  return t;
}

Result<FinishOutcome> FinishItem(const redisReply* r) {
  TM_ASSIGN_OR_RETURN(f, reply::Array(r, "finish item", 8));
  TM_ASSIGN_OR_RETURN(status, reply::Str(f[0], "finish status"));
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
  TM_ASSIGN_OR_RETURN(id, reply::Str(f[1], "task id"));
  TM_ASSIGN_OR_RETURN(queue, reply::Str(f[2], "queue"));
  TM_ASSIGN_OR_RETURN(batch, reply::Str(f[3], "batch"));
  TM_ASSIGN_OR_RETURN(ready_at, reply::Int(f[4], "ready_at"));
  TM_ASSIGN_OR_RETURN(attempt, reply::Int(f[5], "attempt"));
  TM_ASSIGN_OR_RETURN(released, Strings(f[6], "released ids"));
  TM_ASSIGN_OR_RETURN(cancelled, Strings(f[7], "cancelled ids"));
  o.task_id = id;
  o.queue = queue;
  o.batch_id = batch;
  o.ready_at_ms = ready_at;
  o.attempt = static_cast<uint32_t>(attempt);
  o.released = std::move(released);
  o.cancelled = std::move(cancelled);
  if (f.size() > 9) {
    TM_ASSIGN_OR_RETURN(budget, Strings(f[9], "budget ids"));
    o.budget_cancelled = std::move(budget);
  }
  // A {} summary only holds the place of the budget ids.
  bool has_summary = f.size() > 8 && !(f[8]->type == REDIS_REPLY_ARRAY && f[8]->elements == 0);
  if (has_summary && o.status == FinishStatus::kSucceeded) {
    TM_ASSIGN_OR_RETURN(s, Strings(f[8], "finish summary"));
    if (s.size() != 8) return MakeError(ErrorCode::kInternal, "finish summary: want 8 fields");
    auto num = [](const std::string& v) { return std::strtoll(v.c_str(), nullptr, 10); };
    o.summary = FinishOutcome::Summary{s[0],
                                       s[1],
                                       static_cast<uint8_t>(num(s[2])),
                                       static_cast<uint32_t>(num(s[3])),
                                       s[6],
                                       num(s[4]),
                                       num(s[5]),
                                       num(s[7])};
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
  TM_ASSIGN_OR_RETURN(top, reply::Array(r, "enqueue reply", 2));
  TM_ASSIGN_OR_RETURN(items, reply::Array(top[0], "enqueue items"));
  EnqueueResult out;
  for (const redisReply* e : items) {
    TM_ASSIGN_OR_RETURN(f, reply::Array(e, "enqueue item", 3));
    TM_ASSIGN_OR_RETURN(status, reply::Str(f[0], "enqueue status"));
    TM_ASSIGN_OR_RETURN(id, reply::Str(f[1], "task id"));
    EnqueueOutcome o;
    o.id = id;
    if (status == "error") {
      if (f.size() < 4) return MakeError(ErrorCode::kInternal, "enqueue error item too short");
      TM_ASSIGN_OR_RETURN(code, reply::Str(f[2], "error code"));
      TM_ASSIGN_OR_RETURN(msg, reply::Str(f[3], "error message"));
      o.error = Error{ErrorCodeFromName(code), std::string(msg)};
    } else {
      TM_ASSIGN_OR_RETURN(state, reply::Str(f[2], "state"));
      o.state = StateFromName(state);
      o.duplicate = status == "duplicate";
    }
    out.items.push_back(std::move(o));
  }
  TM_ASSIGN_OR_RETURN(batches, ParseBatches(top[1]));
  out.batches = std::move(batches);
  return out;
}

Result<ClaimResult> ParseClaim(const redisReply* r) {
  TM_ASSIGN_OR_RETURN(top, reply::Array(r, "claim reply", 2));
  TM_ASSIGN_OR_RETURN(items, reply::Array(top[0], "claimed tasks"));
  ClaimResult out;
  out.tasks.reserve(items.size());
  for (const redisReply* e : items) {
    TM_ASSIGN_OR_RETURN(f, reply::Array(e, "claimed task", 11));
    protocol::TaskMsg m;
    TM_ASSIGN_OR_RETURN(id, reply::Str(f[0], "task id"));
    TM_ASSIGN_OR_RETURN(token, reply::Uint64(f[1], "token"));
    TM_ASSIGN_OR_RETURN(attempt, reply::Int(f[2], "attempt"));
    TM_ASSIGN_OR_RETURN(queue, reply::Str(f[3], "queue"));
    TM_ASSIGN_OR_RETURN(type, reply::Str(f[4], "type"));
    TM_ASSIGN_OR_RETURN(payload, reply::Str(f[5], "payload"));
    TM_ASSIGN_OR_RETURN(timeout, reply::Int(f[6], "timeout"));
    TM_ASSIGN_OR_RETURN(batch, reply::Str(f[7], "batch"));
    TM_ASSIGN_OR_RETURN(name, reply::Str(f[8], "name"));
    TM_ASSIGN_OR_RETURN(labels, reply::FlatMap(f[9], "labels"));
    TM_ASSIGN_OR_RETURN(parents, reply::FlatMap(f[10], "parent outputs"));
    m.task_id = id;
    m.token = token;
    m.attempt = static_cast<uint32_t>(attempt);
    m.queue = queue;
    m.type = type;
    m.payload = payload;
    m.timeout_ms = static_cast<uint32_t>(timeout);
    m.batch_id = batch;
    m.name = name;
    m.labels = std::move(labels);
    m.parents = std::move(parents);
    out.tasks.push_back(std::move(m));
    int64_t waited = 0;
    if (f.size() > 11) {
      TM_ASSIGN_OR_RETURN(w, reply::Int(f[11], "waited"));
      waited = w;
    }
    out.waited_ms.push_back(waited);
  }
  TM_ASSIGN_OR_RETURN(batches, ParseBatches(top[1]));
  out.batches = std::move(batches);
  return out;
}

Result<FinishResult> ParseFinish(const redisReply* r, bool with_next_deadline) {
  TM_ASSIGN_OR_RETURN(top, reply::Array(r, "finish reply", with_next_deadline ? 3 : 2));
  TM_ASSIGN_OR_RETURN(items, reply::Array(top[0], "finish items"));
  FinishResult out;
  for (const redisReply* e : items) {
    TM_ASSIGN_OR_RETURN(o, FinishItem(e));
    out.items.push_back(std::move(o));
  }
  TM_ASSIGN_OR_RETURN(batches, ParseBatches(top[1]));
  out.batches = std::move(batches);
  if (with_next_deadline) {
    TM_ASSIGN_OR_RETURN(next, reply::Int(top[2], "next deadline"));
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
