// The field table of every TM1 message and value type: one table per type, walked by the
// encoder (key order, defaults, required keys) and the decoder (key lookup, types, ranges).
// The order is the canonical wire order of docs/protocol.md section 7 and
// docs/protocol-messages.md section 8, which follows shared/src/protocol/fields.h. Each field maps a wire key (snake_case) to the property of
// the JavaScript object (camelCase).

export const DEFAULT_QUEUE = 'default';
export const DEFAULT_MAX_ATTEMPTS = 3;

// Field kinds. Integers carry their range: u8, u32, u64, i32, i64.
// str, bin, bool, double, u8..i64, strList, strMap {str: str}, costMap {str: double},
// binMap {str: bin}, uintMap {str: u32}, obj, objList, optObj, optInt (i32 or null),
// enum (str restricted to `values`).
function f(key, kind, opts = {}) {
  const js = opts.js ?? key.replace(/_([a-z])/g, (_, c) => c.toUpperCase());
  return {key, js, kind, def: opts.def, req: opts.req === true, schema: opts.schema,
          values: opts.values};
}

const req = {req: true};

export const BackoffPolicy = [
  f('base_ms', 'u32', {def: 1000}),
  f('max_ms', 'u32', {def: 60000}),
  f('multiplier', 'double', {def: 2}),
  f('jitter', 'bool'),
];

export const TaskSpec = [
  f('id', 'str'),
  f('name', 'str'),
  f('queue', 'str', {def: DEFAULT_QUEUE}),
  f('type', 'str', req),
  f('payload', 'bin'),
  f('priority', 'u8'),
  f('max_attempts', 'u32', {def: DEFAULT_MAX_ATTEMPTS}),
  f('backoff', 'obj', {schema: BackoffPolicy}),
  f('timeout_ms', 'u32'),
  f('idempotency_key', 'str'),
  f('not_before_ms', 'i64'),
  f('batch_id', 'str'),
  f('depends_on', 'strList'),
  f('labels', 'strMap'),
  // Issue 22: relative delay (broker's clock), start deadline, idempotency key TTL; ms, 0 = none.
  f('delay_ms', 'u64'),
  f('expires_in_ms', 'u64'),
  f('idempotency_ttl_ms', 'u64'),
];

export const TaskError = [
  f('code', 'str', req),
  f('message', 'str'),
  f('retryable', 'bool'),
];

// A batch parent that died, as a child of an on_failure=continue batch gets it (TASK).
export const ParentError = [
  f('name', 'str', req),
  f('code', 'str', req),
  f('message', 'str'),
  f('retryable', 'bool'),
];

// A file an exec task kept: uri (file://, the workers' shared volume) or, uri empty, data.
export const Artifact = [
  f('name', 'str', req),
  f('size', 'u64'),
  f('sha256', 'str'),
  f('uri', 'str'),
  f('data', 'bin'),
];

export const TASK_STATES = ['unknown', 'queued', 'delayed', 'blocked', 'running',
                            'succeeded', 'failed', 'cancelled', 'awaiting', 'expired'];
export const TERMINAL_STATES = new Set(['succeeded', 'failed', 'cancelled', 'expired']);

export const TaskInfo = [
  f('id', 'str', req),
  f('queue', 'str'),
  f('type', 'str'),
  f('batch_id', 'str'),
  f('name', 'str'),
  // An unknown state name reads as 'unknown' (forward compatibility).
  f('state', 'state', {req: true, def: 'unknown'}),
  f('priority', 'u8'),
  f('attempts', 'u32'),
  f('max_attempts', 'u32'),
  f('output', 'bin'),
  f('error', 'optObj', {schema: TaskError}),
  f('exit_code', 'optInt'),
  f('stdout', 'bin'),
  f('stderr', 'bin'),
  f('duration_ms', 'u32'),
  f('cost', 'costMap'),
  f('worker', 'str'),
  f('created_ms', 'i64'),
  f('started_ms', 'i64'),
  f('finished_ms', 'i64'),
  f('history', 'objList', {schema: TaskError}),
  f('artifacts', 'objList', {schema: Artifact}),
  f('progress', 'double'),
  f('progress_message', 'str'),
  f('ready_at_ms', 'i64'),
];

export const QueueStats = [
  f('queue', 'str', req),
  f('ready', 'u64'),
  f('delayed', 'u64'),
  f('running', 'u64'),
  f('dead', 'u64'),
  f('submitted', 'u64'),
  f('succeeded', 'u64'),
  f('failed', 'u64'),
  f('retried', 'u64'),
  f('cancelled', 'u64'),
  f('cost', 'costMap'),
  f('ready_by_type', 'uintMap'),
  f('more_types', 'u32'),
  f('limit', 'str'),
  f('limit_running', 'u64'),
  f('throttled', 'u64'),
  f('paused', 'bool'),
  f('expired', 'u64'),
];

export const WorkerInfo = [
  f('id', 'str', req),
  f('queues', 'strList'),
  f('types', 'strList'),
  f('concurrency', 'u32'),
  f('in_flight', 'u32'),
  f('labels', 'strMap'),
  f('broker', 'str'),
  f('quiet', 'bool'),
];

// The STATS "broker" section (docs/protocol.md 7.10).
export const BrokerStats = [
  f('workers', 'u32'),
  f('queues', 'u64'),
  f('bad_frames', 'u64'),
  f('stale_results', 'u64'),
  f('tasks_dispatched', 'u64'),
  f('workers_lost', 'u64'),
  f('waits', 'u64'),
  f('wait_ids', 'u64'),
  f('subscriptions', 'u64'),
  f('quota_refusals', 'u64'),
  f('peers_dropped', 'u64'),
  f('queued_bytes', 'u64'),
  f('replies_dropped', 'u64'),
  f('clients_cut', 'u64'),
  f('warnings', 'strList'),
];

export const BatchSpec = [
  f('id', 'str'),
  f('tasks', 'objList', {req: true, schema: TaskSpec}),
  f('budget', 'costMap'),
  f('labels', 'strMap'),
  f('on_failure', 'str', {def: 'cancel_dependents'}),
  f('finally', 'optObj', {schema: TaskSpec}),
  f('append_to', 'str'),
];

export const BatchStatus = [
  f('id', 'str', req),
  f('state', 'str', req),
  f('total', 'u32'),
  f('counts', 'uintMap'),
  f('cost', 'costMap'),
  f('budget', 'costMap'),
  f('budget_exceeded', 'bool'),
  f('tasks', 'strMap'),
  f('created_ms', 'i64'),
  f('finished_ms', 'i64'),
  f('critical_path_ms', 'u64'),
  f('on_failure', 'str', {def: 'cancel_dependents'}),
  f('finally_id', 'str'),
  f('finally_state', 'str'),
];

export const WireError = [
  f('code', 'str', req),
  f('message', 'str', req),
];

// ---- messages ----

const reqId = f('req_id', 'u64', req);

// request_id: the same on every resend of one request, so the broker stores it once.
export const Submit = [reqId, f('tasks', 'objList', {req: true, schema: TaskSpec}),
                       f('notify', 'bool'), f('request_id', 'str')];
export const Batch = [reqId, f('batch', 'obj', {req: true, schema: BatchSpec}),
                      f('subscribe', 'bool'), f('request_id', 'str')];
export const Wait = [reqId, f('ids', 'strList', req), f('timeout_ms', 'u32'),
                     f('progress', 'bool')];
export const Get = [reqId, f('ids', 'strList'), f('batch_id', 'str')];
export const Cancel = [reqId, f('ids', 'strList'), f('batch_id', 'str'), f('reason', 'str')];
export const Subscribe = [reqId, f('batch_id', 'str', req), f('unsubscribe', 'bool')];
export const Stats = [reqId, f('queues', 'strList'), f('sections', 'strList'), f('cursor', 'str'),
                      f('limit', 'u32')];
export const Dlq = [
  reqId,
  f('op', 'enum', {req: true, def: 'list', values: ['list', 'retry', 'purge']}),
  f('queue', 'str'),
  f('ids', 'strList'),
  f('limit', 'u32', {def: 100}),
];
// Completes a task awaiting an outside system (completion modes), proved by its token.
export const Complete = [
  reqId,
  f('task_id', 'str', req),
  f('token', 'str', req),
  f('ok', 'bool', {def: true}),
  f('output', 'bin'),
  f('error', 'optObj', {schema: TaskError}),
  f('cost', 'costMap'),
];
// A queue's limits and fairness (`taskmill queue limit`), replaced whole; clear removes them.
export const Limit = [
  reqId,
  f('queue', 'str', req),
  f('clear', 'bool'),
  f('rate', 'str'),
  f('concurrency', 'u32'),
  f('cost_rate', 'str'),
  f('key_label', 'str'),
  f('aging', 'str'),
  f('round_robin', 'bool'),
];
// A periodic schedule (docs/protocol.md 7.12): exactly one of cron (+ tz) and every_ms; task is
// what each tick submits; the rest is run state the broker fills in.
export const ScheduleInfo = [
  f('name', 'str', req),
  f('cron', 'str'),
  f('tz', 'str'),
  f('every_ms', 'u64'),
  f('catch_up', 'str', {def: 'skip'}),
  f('task', 'obj', {req: true, schema: TaskSpec}),
  f('paused', 'bool'),
  f('next_run_ms', 'i64'),
  f('last_run_ms', 'i64'),
  f('last_task_id', 'str'),
  f('fired', 'u64'),
  f('missed', 'u64'),
];
export const Schedule = [
  reqId,
  f('op', 'enum', {req: true, def: 'list', values: ['list', 'add', 'pause', 'resume', 'remove']}),
  f('name', 'str'),
  f('schedule', 'optObj', {schema: ScheduleInfo}),
];
// LIST (8.28): a page of a queue's tasks in one state, or of batches; UPDATE (8.29): a waiting
// task's priority, or a delayed task made ready now.
export const List = [
  reqId,
  f('what', 'str', {req: true, def: 'tasks'}),
  f('queue', 'str'),
  f('state', 'str'),
  f('type', 'str'),
  f('limit', 'u32', {def: 50}),
  f('cursor', 'str'),
];
export const Update = [
  reqId,
  f('id', 'str', req),
  f('op', 'str', req),
  f('priority', 'u32'),
];
// QUEUE 0x0C: pause (nothing of it is leased; it keeps its tasks and takes submits) or resume.
export const QueueAdmin = [
  reqId,
  f('op', 'enum', {req: true, def: 'pause', values: ['pause', 'resume']}),
  f('queue', 'str', req),
];
// WORKER 0x0D: quiet (finishes its tasks, is leased nothing new) or unquiet a worker by id.
export const WorkerAdmin = [
  reqId,
  f('op', 'enum', {req: true, def: 'quiet', values: ['quiet', 'unquiet']}),
  f('worker', 'str', req),
];
export const Reply = [
  reqId,
  f('error', 'optObj', {schema: WireError}),
  f('ids', 'strList'),
  f('tasks', 'objList', {schema: TaskInfo}),
  f('queues', 'objList', {schema: QueueStats}),
  f('workers', 'objList', {schema: WorkerInfo}),
  f('batch', 'optObj', {schema: BatchStatus}),
  f('count', 'u32'),
  f('broker', 'optObj', {schema: BrokerStats}),
  f('next_cursor', 'str'),
  f('warnings', 'strList'),
  f('requested', 'strList'),
  f('schedules', 'objList', {schema: ScheduleInfo}),
  f('batches', 'objList', {schema: BatchStatus}),
];
export const Result = [f('task', 'obj', {req: true, schema: TaskInfo})];
export const Event = [
  f('batch_id', 'str', req),
  f('type', 'str', req),
  f('task_id', 'str'),
  f('task_name', 'str'),
  f('state', 'str'),
  f('done', 'u32'),
  f('total', 'u32'),
  f('progress', 'double'),
  f('message', 'str'),
  f('error', 'optObj', {schema: TaskError}),
  f('cost', 'costMap'),
  f('ts_ms', 'i64'),
];
export const Ready = [
  f('worker_id', 'str', req),
  f('queues', 'strList'),
  f('types', 'strList'),
  f('concurrency', 'u32', {def: 1}),
  f('labels', 'strMap'),
  f('running', 'strList'),
];
export const Heartbeat = [f('free', 'u32')];
export const Done = [
  f('task_id', 'str', req),
  f('token', 'u64', req),
  f('ok', 'bool', req),
  f('output', 'bin'),
  f('error', 'optObj', {schema: TaskError}),
  f('exit_code', 'optInt'),
  f('stdout', 'bin'),
  f('stderr', 'bin'),
  f('duration_ms', 'u32'),
  f('cost', 'costMap'),
  f('started_ms', 'i64'),
  f('artifacts', 'objList', {schema: Artifact}),
  f('awaiting', 'bool'),
  f('await_ms', 'u32'),
  f('completion_token', 'str'),
  f('poll_ms', 'u32'),
  f('poll_state', 'bin'),
  f('poll_max_ms', 'u32'),
];
export const Progress = [
  f('task_id', 'str', req),
  f('token', 'u64', req),
  f('fraction', 'double'),
  f('message', 'str'),
];
export const Bye = [f('reason', 'str')];
export const TaskMsg = [
  f('task_id', 'str', req),
  f('token', 'u64', req),
  f('attempt', 'u32', {def: 1}),
  f('queue', 'str'),
  f('type', 'str', req),
  f('payload', 'bin'),
  f('timeout_ms', 'u32'),
  f('batch_id', 'str'),
  f('name', 'str'),
  f('parents', 'binMap'),
  f('labels', 'strMap'),
  f('poll_state', 'bin'),
  f('parent_errors', 'objList', {schema: ParentError}),
];
export const CancelTask = [f('task_id', 'str', req), f('token', 'u64'), f('reason', 'str')];
export const BrokerHeartbeat = [];
export const Drain = [f('grace_ms', 'u32')];
// Issue 17: GOAWAY (broker -> client): leave this broker, resend what is unanswered
// elsewhere; MOVE (broker -> worker): reconnect elsewhere with READY + running, keep the tasks.
export const GoAway = [f('reason', 'str')];
export const Move = [f('reason', 'str')];

// Command name -> [byte, table]. The names are those of docs/protocol.md section 1.
export const COMMANDS = {
  SUBMIT: [0x01, Submit],
  BATCH: [0x02, Batch],
  WAIT: [0x03, Wait],
  GET: [0x04, Get],
  CANCEL: [0x05, Cancel],
  SUBSCRIBE: [0x06, Subscribe],
  STATS: [0x07, Stats],
  DLQ: [0x08, Dlq],
  COMPLETE: [0x09, Complete],
  SCHEDULE: [0x0a, Schedule],
  LIMIT: [0x0b, Limit],
  LIST: [0x0e, List],
  UPDATE: [0x0f, Update],
  QUEUE: [0x0c, QueueAdmin],
  WORKER: [0x0d, WorkerAdmin],
  REPLY: [0x20, Reply],
  RESULT: [0x21, Result],
  EVENT: [0x22, Event],
  GOAWAY: [0x23, GoAway],
  READY: [0x40, Ready],
  HEARTBEAT: [0x41, Heartbeat],
  DONE: [0x42, Done],
  PROGRESS: [0x43, Progress],
  BYE: [0x44, Bye],
  TASK: [0x60, TaskMsg],
  CANCEL_TASK: [0x61, CancelTask],
  BROKER_HEARTBEAT: [0x62, BrokerHeartbeat],
  DRAIN: [0x63, Drain],
  MOVE: [0x64, Move],
};

export const COMMAND_BY_BYTE = new Map(
    Object.entries(COMMANDS).map(([name, [byte, table]]) => [byte, {name, table}]));
