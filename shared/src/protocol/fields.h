#pragma once

// The field table of every protocol struct, written once and walked by three visitors:
// the encoder (which counts then writes the fields that differ from their defaults), the
// decoder (which matches a key to its field) and the required-field check. The order
// here is the canonical wire order documented in docs/protocol.md.
//
// A visitor provides: Str, Bin, Uint, Int, Double, Bool, StrList, StrMap, CostMap, BinMap,
// UintMap, Obj, ObjList, OptObj, OptInt, Enum. Each takes the wire key, the field, and
// (where it is not zero/empty) the default; Req::kYes marks a required field, which is
// always encoded and must be present when decoding.

#include <optional>
#include <type_traits>

#include "taskmill/shared/protocol/messages.h"

namespace taskmill::protocol {

enum class Req : bool { kNo = false, kYes = true };

std::optional<TaskState> ParseTaskState(std::string_view name);  // never nullopt
std::optional<DlqOp> ParseDlqOp(std::string_view name);
std::optional<ScheduleOp> ParseScheduleOp(std::string_view name);
std::optional<QueueOp> ParseQueueOp(std::string_view name);
std::optional<WorkerOp> ParseWorkerOp(std::string_view name);

template <class T, class U>
concept Is = std::is_same_v<std::remove_const_t<T>, U>;

template <class V, class S>
requires Is<S, BackoffPolicy>
void Fields(V& v, S& x) {
  BackoffPolicy d;
  v.Uint("base_ms", x.base_ms, d.base_ms);
  v.Uint("max_ms", x.max_ms, d.max_ms);
  v.Double("multiplier", x.multiplier, d.multiplier);
  v.Bool("jitter", x.jitter, d.jitter);
}

template <class V, class S>
requires Is<S, TaskSpec>
void Fields(V& v, S& x) {
  v.Str("id", x.id);
  v.Str("name", x.name);
  v.Str("queue", x.queue, kDefaultQueue);
  v.Str("type", x.type, "", Req::kYes);
  v.Bin("payload", x.payload);
  v.Uint("priority", x.priority);
  v.Uint("max_attempts", x.max_attempts, kDefaultMaxAttempts);
  v.Obj("backoff", x.backoff);
  v.Uint("timeout_ms", x.timeout_ms);
  v.Str("idempotency_key", x.idempotency_key);
  v.Int("not_before_ms", x.not_before_ms);
  v.Str("batch_id", x.batch_id);
  v.StrList("depends_on", x.depends_on);
  v.StrMap("labels", x.labels);
  v.Uint("delay_ms", x.delay_ms);
  v.Uint("expires_in_ms", x.expires_in_ms);
  v.Uint("idempotency_ttl_ms", x.idempotency_ttl_ms);
}

template <class V, class S>
requires Is<S, TaskError>
void Fields(V& v, S& x) {
  v.Str("code", x.code, "", Req::kYes);
  v.Str("message", x.message);
  v.Bool("retryable", x.retryable);
}

template <class V, class S>
requires Is<S, ParentError>
void Fields(V& v, S& x) {
  v.Str("name", x.name, "", Req::kYes);
  v.Str("code", x.code, "", Req::kYes);
  v.Str("message", x.message);
  v.Bool("retryable", x.retryable);
}

template <class V, class S>
requires Is<S, Artifact>
void Fields(V& v, S& x) {
  v.Str("name", x.name, "", Req::kYes);
  v.Uint("size", x.size);
  v.Str("sha256", x.sha256);
  v.Str("uri", x.uri);
  v.Bin("data", x.data);
}

template <class V, class S>
requires Is<S, TaskInfo>
void Fields(V& v, S& x) {
  v.Str("id", x.id, "", Req::kYes);
  v.Str("queue", x.queue);
  v.Str("type", x.type);
  v.Str("batch_id", x.batch_id);
  v.Str("name", x.name);
  v.Enum("state", x.state, TaskState::kUnknown, TaskStateName, ParseTaskState, Req::kYes);
  v.Uint("priority", x.priority);
  v.Uint("attempts", x.attempts);
  v.Uint("max_attempts", x.max_attempts);
  v.Bin("output", x.output);
  v.OptObj("error", x.error);
  v.OptInt("exit_code", x.exit_code);
  v.Bin("stdout", x.stdout_data);
  v.Bin("stderr", x.stderr_data);
  v.Uint("duration_ms", x.duration_ms);
  v.CostMap("cost", x.cost);
  v.Str("worker", x.worker);
  v.Int("created_ms", x.created_ms);
  v.Int("started_ms", x.started_ms);
  v.Int("finished_ms", x.finished_ms);
  v.ObjList("history", x.history);
  v.ObjList("artifacts", x.artifacts);
  v.Double("progress", x.progress);
  v.Str("progress_message", x.progress_message);
  v.Int("ready_at_ms", x.ready_at_ms);
}

template <class V, class S>
requires Is<S, QueueStats>
void Fields(V& v, S& x) {
  v.Str("queue", x.queue, "", Req::kYes);
  v.Uint("ready", x.ready);
  v.Uint("delayed", x.delayed);
  v.Uint("running", x.running);
  v.Uint("dead", x.dead);
  v.Uint("submitted", x.submitted);
  v.Uint("succeeded", x.succeeded);
  v.Uint("failed", x.failed);
  v.Uint("retried", x.retried);
  v.Uint("cancelled", x.cancelled);
  v.CostMap("cost", x.cost);
  v.UintMap("ready_by_type", x.ready_by_type);
  v.Uint("more_types", x.more_types);
  v.Str("limit", x.limit);
  v.Uint("limit_running", x.limit_running);
  v.Uint("throttled", x.throttled);
  v.Bool("paused", x.paused);
  v.Uint("expired", x.expired);
}

template <class V, class S>
requires Is<S, WorkerInfo>
void Fields(V& v, S& x) {
  v.Str("id", x.id, "", Req::kYes);
  v.StrList("queues", x.queues);
  v.StrList("types", x.types);
  v.Uint("concurrency", x.concurrency);
  v.Uint("in_flight", x.in_flight);
  v.StrMap("labels", x.labels);
  v.Str("broker", x.broker);
  v.Bool("quiet", x.quiet);
}

template <class V, class S>
requires Is<S, BrokerStats>
void Fields(V& v, S& x) {
  v.Uint("workers", x.workers);
  v.Uint("queues", x.queues);
  v.Uint("bad_frames", x.bad_frames);
  v.Uint("stale_results", x.stale_results);
  v.Uint("tasks_dispatched", x.tasks_dispatched);
  v.Uint("workers_lost", x.workers_lost);
  v.Uint("waits", x.waits);
  v.Uint("wait_ids", x.wait_ids);
  v.Uint("subscriptions", x.subscriptions);
  v.Uint("quota_refusals", x.quota_refusals);
  v.Uint("peers_dropped", x.peers_dropped);
  v.Uint("queued_bytes", x.queued_bytes);
  v.Uint("replies_dropped", x.replies_dropped);
  v.Uint("clients_cut", x.clients_cut);
  v.StrList("warnings", x.warnings);
  v.Str("broker_id", x.broker_id);
  v.StrList("brokers", x.brokers);
}

template <class V, class S>
requires Is<S, BatchSpec>
void Fields(V& v, S& x) {
  v.Str("id", x.id);
  v.ObjList("tasks", x.tasks, Req::kYes);
  v.CostMap("budget", x.budget);
  v.StrMap("labels", x.labels);
  v.Str("on_failure", x.on_failure, kOnFailureCancelDependents);
  v.OptObj("finally", x.finally);
  v.Str("append_to", x.append_to);
}

template <class V, class S>
requires Is<S, BatchStatus>
void Fields(V& v, S& x) {
  v.Str("id", x.id, "", Req::kYes);
  v.Str("state", x.state, "", Req::kYes);
  v.Uint("total", x.total);
  v.UintMap("counts", x.counts);
  v.CostMap("cost", x.cost);
  v.CostMap("budget", x.budget);
  v.Bool("budget_exceeded", x.budget_exceeded);
  v.StrMap("tasks", x.tasks);
  v.Int("created_ms", x.created_ms);
  v.Int("finished_ms", x.finished_ms);
  v.Uint("critical_path_ms", x.critical_path_ms);
  v.Str("on_failure", x.on_failure, kOnFailureCancelDependents);
  v.Str("finally_id", x.finally_id);
  v.Str("finally_state", x.finally_state);
}

template <class V, class S>
requires Is<S, WireError>
void Fields(V& v, S& x) {
  v.Str("code", x.code, "", Req::kYes);
  v.Str("message", x.message, "", Req::kYes);
}

// ---- messages ----

template <class V, class S>
requires Is<S, Submit>
void Fields(V& v, S& x) {
  v.Uint("req_id", x.req_id, 0, Req::kYes);
  v.ObjList("tasks", x.tasks, Req::kYes);
  v.Bool("notify", x.notify);
  v.Str("request_id", x.request_id);
}

template <class V, class S>
requires Is<S, Batch>
void Fields(V& v, S& x) {
  v.Uint("req_id", x.req_id, 0, Req::kYes);
  v.Obj("batch", x.batch, Req::kYes);
  v.Bool("subscribe", x.subscribe);
  v.Str("request_id", x.request_id);
}

template <class V, class S>
requires Is<S, Wait>
void Fields(V& v, S& x) {
  v.Uint("req_id", x.req_id, 0, Req::kYes);
  v.StrList("ids", x.ids, Req::kYes);
  v.Uint("timeout_ms", x.timeout_ms);
  v.Bool("progress", x.progress);
}

template <class V, class S>
requires Is<S, Get>
void Fields(V& v, S& x) {
  v.Uint("req_id", x.req_id, 0, Req::kYes);
  v.StrList("ids", x.ids);
  v.Str("batch_id", x.batch_id);
}

template <class V, class S>
requires Is<S, Cancel>
void Fields(V& v, S& x) {
  v.Uint("req_id", x.req_id, 0, Req::kYes);
  v.StrList("ids", x.ids);
  v.Str("batch_id", x.batch_id);
  v.Str("reason", x.reason);
}

template <class V, class S>
requires Is<S, Subscribe>
void Fields(V& v, S& x) {
  v.Uint("req_id", x.req_id, 0, Req::kYes);
  v.Str("batch_id", x.batch_id, "", Req::kYes);
  v.Bool("unsubscribe", x.unsubscribe);
}

template <class V, class S>
requires Is<S, Stats>
void Fields(V& v, S& x) {
  v.Uint("req_id", x.req_id, 0, Req::kYes);
  v.StrList("queues", x.queues);
  v.StrList("sections", x.sections);
  v.Str("cursor", x.cursor);
  v.Uint("limit", x.limit);
}

template <class V, class S>
requires Is<S, Dlq>
void Fields(V& v, S& x) {
  v.Uint("req_id", x.req_id, 0, Req::kYes);
  v.Enum("op", x.op, DlqOp::kList, DlqOpName, ParseDlqOp, Req::kYes);
  v.Str("queue", x.queue);
  v.StrList("ids", x.ids);
  v.Uint("limit", x.limit, 100u);
}

template <class V, class S>
requires Is<S, Complete>
void Fields(V& v, S& x) {
  v.Uint("req_id", x.req_id, 0, Req::kYes);
  v.Str("task_id", x.task_id, "", Req::kYes);
  v.Str("token", x.token, "", Req::kYes);
  v.Bool("ok", x.ok, true);
  v.Bin("output", x.output);
  v.OptObj("error", x.error);
  v.CostMap("cost", x.cost);
}

template <class V, class S>
requires Is<S, Limit>
void Fields(V& v, S& x) {
  v.Uint("req_id", x.req_id, 0, Req::kYes);
  v.Str("queue", x.queue, "", Req::kYes);
  v.Bool("clear", x.clear);
  v.Str("rate", x.rate);
  v.Uint("concurrency", x.concurrency);
  v.Str("cost_rate", x.cost_rate);
  v.Str("key_label", x.key_label);
  v.Str("aging", x.aging);
  v.Bool("round_robin", x.round_robin);
}

template <class V, class S>
requires Is<S, ScheduleInfo>
void Fields(V& v, S& x) {
  v.Str("name", x.name, "", Req::kYes);
  v.Str("cron", x.cron);
  v.Str("tz", x.tz);
  v.Uint("every_ms", x.every_ms);
  v.Str("catch_up", x.catch_up, "skip");
  v.Obj("task", x.task, Req::kYes);
  v.Bool("paused", x.paused);
  v.Int("next_run_ms", x.next_run_ms);
  v.Int("last_run_ms", x.last_run_ms);
  v.Str("last_task_id", x.last_task_id);
  v.Uint("fired", x.fired);
  v.Uint("missed", x.missed);
}

template <class V, class S>
requires Is<S, Schedule>
void Fields(V& v, S& x) {
  v.Uint("req_id", x.req_id, 0, Req::kYes);
  v.Enum("op", x.op, ScheduleOp::kList, ScheduleOpName, ParseScheduleOp, Req::kYes);
  v.Str("name", x.name);
  v.OptObj("schedule", x.schedule);
}

template <class V, class S>
requires Is<S, List>
void Fields(V& v, S& x) {
  v.Uint("req_id", x.req_id, 0, Req::kYes);
  v.Str("what", x.what, "tasks", Req::kYes);
  v.Str("queue", x.queue);
  v.Str("state", x.state);
  v.Str("type", x.type);
  v.Uint("limit", x.limit, 50u);
  v.Str("cursor", x.cursor);
}

template <class V, class S>
requires Is<S, Update>
void Fields(V& v, S& x) {
  v.Uint("req_id", x.req_id, 0, Req::kYes);
  v.Str("id", x.id, "", Req::kYes);
  v.Str("op", x.op, "", Req::kYes);
  v.Uint("priority", x.priority);
}

template <class V, class S>
requires Is<S, QueueAdmin>
void Fields(V& v, S& x) {
  v.Uint("req_id", x.req_id, 0, Req::kYes);
  v.Enum("op", x.op, QueueOp::kPause, QueueOpName, ParseQueueOp, Req::kYes);
  v.Str("queue", x.queue, "", Req::kYes);
}

template <class V, class S>
requires Is<S, WorkerAdmin>
void Fields(V& v, S& x) {
  v.Uint("req_id", x.req_id, 0, Req::kYes);
  v.Enum("op", x.op, WorkerOp::kQuiet, WorkerOpName, ParseWorkerOp, Req::kYes);
  v.Str("worker", x.worker, "", Req::kYes);
}

template <class V, class S>
requires Is<S, Reply>
void Fields(V& v, S& x) {
  v.Uint("req_id", x.req_id, 0, Req::kYes);
  v.OptObj("error", x.error);
  v.StrList("ids", x.ids);
  v.ObjList("tasks", x.tasks);
  v.ObjList("queues", x.queues);
  v.ObjList("workers", x.workers);
  v.OptObj("batch", x.batch);
  v.Uint("count", x.count);
  v.OptObj("broker", x.broker);
  v.Str("next_cursor", x.next_cursor);
  v.StrList("warnings", x.warnings);
  v.StrList("requested", x.requested);
  v.ObjList("schedules", x.schedules);
  v.ObjList("batches", x.batches);
}

template <class V, class S>
requires Is<S, ResultMsg>
void Fields(V& v, S& x) { v.Obj("task", x.task, Req::kYes); }

template <class V, class S>
requires Is<S, Event>
void Fields(V& v, S& x) {
  v.Str("batch_id", x.batch_id, "", Req::kYes);
  v.Str("type", x.type, "", Req::kYes);
  v.Str("task_id", x.task_id);
  v.Str("task_name", x.task_name);
  v.Str("state", x.state);
  v.Uint("done", x.done);
  v.Uint("total", x.total);
  v.Double("progress", x.progress);
  v.Str("message", x.message);
  v.OptObj("error", x.error);
  v.CostMap("cost", x.cost);
  v.Int("ts_ms", x.ts_ms);
}

template <class V, class S>
requires Is<S, Ready>
void Fields(V& v, S& x) {
  v.Str("worker_id", x.worker_id, "", Req::kYes);
  v.StrList("queues", x.queues);
  v.StrList("types", x.types);
  v.Uint("concurrency", x.concurrency, 1u);
  v.StrMap("labels", x.labels);
  v.StrList("running", x.running);
}

template <class V, class S>
requires Is<S, Heartbeat>
void Fields(V& v, S& x) { v.Uint("free", x.free); }

template <class V, class S>
requires Is<S, Done>
void Fields(V& v, S& x) {
  v.Str("task_id", x.task_id, "", Req::kYes);
  v.Uint("token", x.token, 0, Req::kYes);
  v.Bool("ok", x.ok, false, Req::kYes);
  v.Bin("output", x.output);
  v.OptObj("error", x.error);
  v.OptInt("exit_code", x.exit_code);
  v.Bin("stdout", x.stdout_data);
  v.Bin("stderr", x.stderr_data);
  v.Uint("duration_ms", x.duration_ms);
  v.CostMap("cost", x.cost);
  v.Int("started_ms", x.started_ms);
  v.ObjList("artifacts", x.artifacts);
  v.Bool("awaiting", x.awaiting);
  v.Uint("await_ms", x.await_ms);
  v.Str("completion_token", x.completion_token);
  v.Uint("poll_ms", x.poll_ms);
  v.Bin("poll_state", x.poll_state);
  v.Uint("poll_max_ms", x.poll_max_ms);
}

template <class V, class S>
requires Is<S, Progress>
void Fields(V& v, S& x) {
  v.Str("task_id", x.task_id, "", Req::kYes);
  v.Uint("token", x.token, 0, Req::kYes);
  v.Double("fraction", x.fraction);
  v.Str("message", x.message);
}

template <class V, class S>
requires Is<S, Bye>
void Fields(V& v, S& x) { v.Str("reason", x.reason); }

template <class V, class S>
requires Is<S, TaskMsg>
void Fields(V& v, S& x) {
  v.Str("task_id", x.task_id, "", Req::kYes);
  v.Uint("token", x.token, 0, Req::kYes);
  v.Uint("attempt", x.attempt, 1u);
  v.Str("queue", x.queue);
  v.Str("type", x.type, "", Req::kYes);
  v.Bin("payload", x.payload);
  v.Uint("timeout_ms", x.timeout_ms);
  v.Str("batch_id", x.batch_id);
  v.Str("name", x.name);
  v.BinMap("parents", x.parents);
  v.StrMap("labels", x.labels);
  v.Bin("poll_state", x.poll_state);
  v.ObjList("parent_errors", x.parent_errors);
}

template <class V, class S>
requires Is<S, CancelTask>
void Fields(V& v, S& x) {
  v.Str("task_id", x.task_id, "", Req::kYes);
  v.Uint("token", x.token);
  v.Str("reason", x.reason);
}

template <class V, class S>
requires Is<S, BrokerHeartbeat>
void Fields(V&, S&) {}

template <class V, class S>
requires Is<S, Drain>
void Fields(V& v, S& x) { v.Uint("grace_ms", x.grace_ms); }

template <class V, class S>
requires Is<S, Goaway> || Is<S, Move>
void Fields(V& v, S& x) { v.Str("reason", x.reason); }

}  // namespace taskmill::protocol
