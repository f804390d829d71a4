// Type declarations of the taskmill Node package (hand-written; the code is src/*.js).

import {EventEmitter} from 'node:events';

export * as protocol from './protocol.js';
export * as curve from './curve.js';
export {CurveKeyError} from './curve.js';

/** u64 values: numbers up to 2^53-1, BigInts above. */
export type U64 = number | bigint;
export type TaskState =
  | 'unknown' | 'queued' | 'delayed' | 'blocked' | 'running' | 'succeeded' | 'failed'
  | 'cancelled' | 'awaiting' | 'expired';
/** Bytes as they are, a string as UTF-8, anything else as its JSON text. */
export type Payload = Uint8Array | string | object | number | boolean | null;

export interface BackoffPolicy {
  baseMs?: number;
  maxMs?: number;
  multiplier?: number;
  jitter?: boolean;
}

export interface TaskSpec {
  type: string;
  payload?: Payload;
  id?: string;
  name?: string;
  queue?: string;
  priority?: number;
  maxAttempts?: number;
  backoff?: BackoffPolicy;
  timeoutMs?: number;
  idempotencyKey?: string;
  notBeforeMs?: number;
  /** Run no sooner than this many ms after the broker stores it (its clock); not with
   * notBeforeMs. At most 365 days. */
  delayMs?: number;
  /** Not started within this many ms of its submit: it ends `expired` and never runs
   * (0: never). At most 365 days. */
  expiresInMs?: number;
  /** How long idempotencyKey dedupes, ms (0: the broker's --idempotency-ttl). At most 30
   * days. */
  idempotencyTtlMs?: number;
  dependsOn?: string[];
  labels?: Record<string, string>;
  /** set by the broker for batch members */
  batchId?: string;
}

export interface TaskError {
  code: string;
  message: string;
  retryable: boolean;
}

/** A file an exec task kept: at `uri` (file://, the workers' shared volume) or, `uri`
 * empty, inline in `data`. Write them out with `client.fetchArtifacts(id, outDir)`. */
export interface Artifact {
  name: string;
  size: U64;
  sha256: string;
  uri: string;
  data: Buffer;
}

export interface TaskInfo {
  id: string;
  queue: string;
  type: string;
  batchId: string;
  name: string;
  state: TaskState;
  priority: number;
  attempts: number;
  maxAttempts: number;
  output: Buffer;
  error: TaskError | null;
  exitCode: number | null;
  stdout: Buffer;
  stderr: Buffer;
  durationMs: number;
  cost: Record<string, number>;
  worker: string;
  createdMs: number;
  startedMs: number;
  finishedMs: number;
  history: TaskError[];
  artifacts: Artifact[];
  /** the latest progress the broker stored for the current attempt, 0..1 */
  progress: number;
  progressMessage: string;
  /** A delayed task: when it becomes ready (epoch ms; LIST, UPDATE). */
  readyAtMs: number;
}

/** A waited-on task's progress (wait with onProgress; the client's 'progress' event). */
export interface TaskProgress {
  taskId: string;
  progress: number;
  message: string;
}

export interface QueueStats {
  queue: string;
  ready: U64; delayed: U64; running: U64; dead: U64;
  submitted: U64; succeeded: U64; failed: U64; retried: U64; cancelled: U64;
  cost: Record<string, number>;
  /** Ready tasks per task type: the (at most 32) types with the most. */
  readyByType: Record<string, number>;
  /** Types with ready tasks left out of readyByType. */
  moreTypes: number;
  /** Its limits as text ('' = none: `taskmill queue limit`). */
  limit: string;
  /** Leases counted against its concurrency cap. */
  limitRunning: U64;
  /** Ready tasks a claim passed over because of a limit. */
  throttled: U64;
  /** True while the queue is paused (`taskmill queue pause`): none of its tasks is leased. */
  paused: boolean;
  /** Tasks that ended expired (not started before their expiresInMs deadline). */
  expired: U64;
}

export interface WorkerInfo {
  id: string;
  queues: string[];
  types: string[];
  concurrency: number;
  inFlight: number;
  labels: Record<string, string>;
  /** Id of the broker it is connected to. */
  broker: string;
  /** True while quiet (`taskmill worker quiet`): it finishes its tasks, takes nothing new. */
  quiet: boolean;
}

export interface BatchStatus {
  id: string;
  state: 'running' | 'succeeded' | 'partial' | 'failed' | string;
  total: number;
  counts: Record<string, number>;
  cost: Record<string, number>;
  budget: Record<string, number>;
  budgetExceeded: boolean;
  /** batch-local name -> task id */
  tasks: Record<string, string>;
  createdMs: number;
  finishedMs: number;
  criticalPathMs: U64;
  /** the batch's failure policy */
  onFailure: OnFailure;
  /** its finally task's id ('' = none) and, from getBatch, that task's state */
  finallyId: string;
  finallyState: string;
}

/** What a batch task that dies does to the rest (docs/protocol.md 7.7). */
export type OnFailure = 'cancel_dependents' | 'continue' | 'fail_fast';

export interface BatchEvent {
  batchId: string;
  /** batch_started, task_started, task_progress, task_completed, task_failed,
   *  batch_progress, budget_warning, batch_completed (or a newer type: ignore it) */
  type: string;
  taskId: string;
  taskName: string;
  state: string;
  done: number;
  total: number;
  progress: number;
  message: string;
  error: TaskError | null;
  cost: Record<string, number>;
  tsMs: number;
}

export interface AffectedTasks {
  count: number;
  ids: string[];
  /** cancel: those of `ids` still running, whose cancel is requested (they end cancelled
   * once their worker confirms); always empty for the DLQ calls */
  requested: string[];
}

/** How long a task's attempt has taken: for a running task the time since it started
 * (durationMs is 0 until it ends), else durationMs. */
export function elapsedMs(task: TaskInfo, nowMs?: number): number;

export interface ClientOptions {
  /** frontend endpoint, or a comma-separated list of them to fail over between
   * ('tcp://a:5555,tcp://b:5555': start at a random one, move to the next on a loss or
   * GOAWAY, resending unanswered requests); default $TASKMILL_BROKER or
   * tcp://127.0.0.1:5555. An empty item or a bad scheme throws EndpointListError. */
  broker?: string;
  /** deadline of each request (WAIT adds its own timeout); default 10000 */
  requestTimeoutMs?: number;
  /** ZMTP heartbeat interval (a silent broker is left after 3 of them); 0: off; default 500 */
  heartbeatMs?: number;
  /** the broker's CURVE public key: a .pub/.key file or 40 Z85 characters; default
   * $TASKMILL_CURVE_SERVER_KEY; needs curveKeyFile */
  curveServerKey?: string;
  /** this peer's CURVE key pair, a .key file of `taskmill keygen`; default
   * $TASKMILL_CURVE_KEY_FILE */
  curveKeyFile?: string;
  /** RESULT pushes of notify submits kept until taken (oldest dropped); default 100000 */
  maxKeptResults?: number;
}

export interface BatchSubmission {
  id?: string;
  tasks: Array<TaskSpec & {name: string}>;
  budget?: Record<string, number>;
  labels?: Record<string, string>;
  /** default 'cancel_dependents' */
  onFailure?: OnFailure;
  /** run once when the batch ends, whatever its outcome; its payload is the batch summary */
  finally?: TaskSpec;
  /** add the tasks to this running batch (names new to it; dependsOn may name its tasks);
   * id, budget, onFailure and finally must then be unset */
  appendTo?: string;
  subscribe?: boolean;
}

export class Subscription extends EventEmitter implements AsyncIterable<BatchEvent> {
  readonly batchId: string;
  readonly ended: boolean;
  close(): Promise<void>;
  [Symbol.asyncIterator](): AsyncIterator<BatchEvent>;
}

/** A task id, or the Job of a submitted task. */
export type TaskRef = string | Job;

/** A submitted task (as BullMQ's Job): its id, and the calls about it. */
export class Job {
  readonly id: string;
  readonly client: Client;
  /** The broker's warnings about this submit, e.g. that no connected worker serves its
   * type (each also emitted as the client's 'warning' event); usually empty. */
  readonly warnings: string[];
  /** The TaskInfo of a success; rejects with TaskFailed (failed or cancelled) or
   * TaskmillTimeout (still unfinished after timeoutMs, default 60000). */
  waitUntilFinished(options?: {timeoutMs?: number}): Promise<TaskInfo>;
  get(): Promise<TaskInfo>;
  getState(): Promise<TaskState>;
  cancel(options?: {reason?: string}): Promise<number>;
  toString(): string;
  toJSON(): string;
}

/** Unknown option names (and unknown TaskSpec fields) throw rather than being ignored. */
export class Client extends EventEmitter {
  constructor(options?: ClientOptions);
  readonly broker: string;
  /** how many times this client moved to another endpoint (or redialled after GOAWAY) */
  readonly moves: number;
  submit(spec: TaskSpec, options?: {notify?: boolean}): Promise<Job>;
  submitMany(specs: TaskSpec[], options?: {notify?: boolean}): Promise<Job[]>;
  wait(id: TaskRef, options?: {timeoutMs?: number;
                               onProgress?: (p: TaskProgress) => void}): Promise<TaskInfo>;
  wait(ids: TaskRef[], options?: {timeoutMs?: number;
                                  onProgress?: (p: TaskProgress) => void}): Promise<TaskInfo[]>;
  waitResult(id: TaskRef, options?: {timeoutMs?: number}): Promise<TaskInfo>;
  result(id: TaskRef, options?: {timeoutMs?: number}): Promise<TaskInfo>;
  get(id: TaskRef): Promise<TaskInfo>;
  /** Writes the files the task kept to outDir (names checked, sha256 verified). */
  fetchArtifacts(id: TaskRef, outDir: string, options?: {artifactsRoot?: string}): Promise<string[]>;
  getMany(ids: TaskRef[]): Promise<TaskInfo[]>;
  getBatch(batchId: string): Promise<BatchStatus>;
  cancel(id: TaskRef, options?: {reason?: string}): Promise<number>;
  /** completes a task awaiting an outside system with its completion token */
  complete(id: TaskRef, token: string, options?: {
    output?: Payload; cost?: Record<string, number>;
    error?: {code: string; message?: string; retryable?: boolean};
  }): Promise<void>;
  cancelMany(ids: TaskRef[], options?: {reason?: string}): Promise<AffectedTasks>;
  cancelBatch(batchId: string, options?: {reason?: string}): Promise<AffectedTasks>;
  submitBatch(batch: BatchSubmission & {subscribe: true}):
    Promise<{status: BatchStatus; events: Subscription; warnings: string[]}>;
  submitBatch(batch: BatchSubmission):
    Promise<{status: BatchStatus; events: Subscription | null; warnings: string[]}>;
  /** adds tasks to a running batch; resolves with its status (every name, old and new) */
  appendToBatch(batchId: string, tasks: Array<TaskSpec & {name: string}>,
    options?: {labels?: Record<string, string>}): Promise<BatchStatus>;
  waitBatch(batchId: string, options?: {timeoutMs?: number}):
    Promise<{status: BatchStatus; tasks: Record<string, TaskInfo>}>;
  subscribe(batchId: string): Promise<Subscription>;
  stats(options?: {queues?: string[]}): Promise<{queues: QueueStats[]; workers: WorkerInfo[]}>;
  /** Replaces a queue's limits and fairness; resolves to the setting as stored. */
  setQueueLimit(queue: string, options: {rate?: string; concurrency?: number; costRate?: string;
    keyLabel?: string; aging?: string; roundRobin?: boolean}): Promise<string>;
  /** Removes every limit and fairness setting of the queue. */
  clearQueueLimit(queue: string): Promise<void>;
  /** One LIST page of a queue's tasks in one state (summaries); pass nextCursor back. */
  listTasks(queue: string, state: TaskState, options?: {type?: string; limit?: number;
    cursor?: string}): Promise<{tasks: TaskInfo[]; nextCursor: string}>;
  /** One LIST page of batches by creation. */
  listBatches(options?: {state?: 'running' | 'succeeded' | 'partial' | 'failed';
    limit?: number; cursor?: string}): Promise<{batches: BatchStatus[]; nextCursor: string}>;
  /** A queued, delayed or blocked task's priority (0-255); the task as it is now. */
  setPriority(id: string, priority: number): Promise<TaskInfo>;
  /** Makes a delayed task ready now. */
  promote(id: string): Promise<TaskInfo>;
  /** Pauses a queue on every broker: its tasks stay queued, none is leased until resumed. */
  pauseQueue(queue: string): Promise<QueueStats>;
  /** Resumes a paused queue: idle workers claim its tasks at once. */
  resumeQueue(queue: string): Promise<QueueStats>;
  /** Quiets a worker (any broker): it finishes its tasks and is leased nothing new. */
  quietWorker(workerId: string): Promise<WorkerInfo>;
  /** Lets a quiet worker take tasks again. */
  unquietWorker(workerId: string): Promise<WorkerInfo>;
  readonly deadLetters: {
    list(options?: {queue?: string; limit?: number}): Promise<TaskInfo[]>;
    retry(options?: {queue?: string; ids?: string[]}): Promise<AffectedTasks>;
    purge(options?: {queue?: string; ids?: string[]}): Promise<AffectedTasks>;
  };
  call(command: string, message?: object, options?: {timeoutMs?: number}): Promise<any>;
  close(): Promise<void>;
  on(event: 'result', listener: (task: TaskInfo) => void): this;
  /** progress of tasks waited on with onProgress */
  on(event: 'progress', listener: (p: TaskProgress) => void): this;
  on(event: 'warning', listener: (error: Error) => void): this;
  /** the client left a broker (issue 17); delayMs: the backoff before dialling `to` */
  on(event: 'move', listener: (move: {from: string; to: string; reason: string;
    delayMs: number}) => void): this;
}

/** A malformed endpoint list: an empty item or an unknown scheme (code invalid_argument). */
export class EndpointListError extends TypeError {
  code: 'invalid_argument';
}

export interface Task {
  readonly id: string;
  readonly token: U64;
  readonly attempt: number;
  readonly queue: string;
  readonly type: string;
  readonly payload: Buffer;
  /** parent name -> its output (batch members) */
  readonly parents: Record<string, Buffer>;
  /** parent name -> its error, for parents that died (an onFailure 'continue' batch) */
  readonly parentErrors: Record<string, {code: string; message: string; retryable: boolean}>;
  readonly name: string;
  readonly batchId: string;
  readonly labels: Record<string, string>;
  readonly timeoutMs: number;
  /** aborted on cancel, on the task's timeout, and at the end of a drain */
  readonly signal: AbortSignal;
  addCost(name: string, value: number): void;
  progress(fraction: number, message?: string): void;
  /** the token an outside system completes this attempt with after `new Awaiting()` */
  readonly completionToken: string;
  /** a polled check: the state the previous check returned in `new Poll()` */
  readonly pollState: Buffer;
}

/** Returned by a handler that wants to check again in afterMs (polled tasks). */
export class Poll {
  constructor(options: {afterMs: number; state?: Payload; maxWaitMs?: number});
  readonly afterMs: number;
  readonly state: Buffer;
  readonly maxWaitMs: number;
}

/** Returned by a handler that handed its task to an outside system (completion modes). */
export class Awaiting {
  constructor(options?: {deadlineMs?: number});
  readonly deadlineMs: number;
}

export type Handler = (task: Task) =>
  Promise<Payload | Awaiting | Poll | undefined> | Payload | Awaiting | Poll | undefined;

export interface WorkerOptions {
  /** the broker's worker (backend) endpoint, or a comma-separated list of them to fail
   * over between (start at a random one; on a loss, missed broker heartbeats or MOVE, move
   * to the next with READY + running, then the unsent DONEs); default
   * $TASKMILL_WORKER_BROKER or tcp://127.0.0.1:5556 ($TASKMILL_BROKER, the clients' port,
   * is never read) */
  broker?: string;
  /** default $TASKMILL_ID or node-<host>-<pid> */
  id?: string;
  queues?: string[];
  /** tasks run at once; default the number of cores (as the C++ and Python workers) */
  concurrency?: number;
  heartbeatMs?: number;
  liveness?: number;
  /** what SIGTERM / stop() give running tasks; default 30000 */
  graceMs?: number;
  /** how long a handler may stay pending after its abort (cancel or timeout) before the
   * attempt is reported and its slot counted lost until it settles; default 5000 */
  cancelGraceMs?: number;
  /** a handler output bigger than this fails with output_too_large; default 8 MiB */
  maxOutputBytes?: number;
  labels?: Record<string, string>;
  /** drain on SIGTERM/SIGINT while run() is running; default true */
  handleSignals?: boolean;
  /** lifecycle lines (reconnects, drains); default: dropped */
  log?: (line: string) => void;
  /** failed attempts, lost slots and configuration mistakes; default console.warn */
  warn?: (line: string) => void;
  /** the broker's CURVE public key: a .pub/.key file or 40 Z85 characters; default
   * $TASKMILL_CURVE_SERVER_KEY; needs curveKeyFile */
  curveServerKey?: string;
  /** this peer's CURVE key pair, a .key file of `taskmill keygen`; default
   * $TASKMILL_CURVE_KEY_FILE */
  curveKeyFile?: string;
}

export class Worker {
  constructor(options?: WorkerOptions);
  handle(type: string, handler: Handler): this;
  run(): Promise<void>;
  stop(graceMs?: number): void;
  /** how many times this worker moved to another endpoint (or redialled on MOVE) */
  readonly moves: number;
}

export class TaskmillError extends Error {
  code: string;
  wireCode?: string;
}
export class InvalidSpec extends TaskmillError {}
export class TaskmillTimeout extends TaskmillError {}
/** A warning the broker sent with a successful reply (the client's 'warning' event). */
export class TaskmillWarning extends Error {}
export class BrokerUnavailable extends TaskmillError {}
export class NotFound extends TaskmillError {}
/** A queue is at the broker's depth cap (--max-queue-depth); nothing was stored. */
export class QueueFull extends TaskmillError {}
/** The broker refused this peer's CURVE handshake (code unauthorized); the client redials. */
export class Unauthorized extends TaskmillError {}
export class TaskFailed extends TaskmillError {
  task: TaskInfo;
  taskId: string;
  state: TaskState;
  error: TaskError | null;
  attempts: number;
}
export class PermanentError extends Error {
  constructor(message: string, code?: string);
  code: string;
}

export const TASK_STATES: TaskState[];
export const TERMINAL_STATES: Set<TaskState>;

/** Writes every artifact of `task` as outDir/<name> (names checked, sha256 verified). */
export function writeArtifacts(task: TaskInfo, outDir: string,
                               options?: {artifactsRoot?: string}): Promise<string[]>;
/** Throws unless `name` is a relative path of [A-Za-z0-9_.-] names, none '.' or '..'. */
export function checkArtifactName(name: string): void;
