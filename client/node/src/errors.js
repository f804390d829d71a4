// Errors of the taskmill Node library. Every error a call rejects with is a TaskmillError
// carrying the protocol's error code (docs/protocol.md section 5) as `.code`; programs
// branch on `.code` or on the subclass, never on the message.

// Codes after which the same request may succeed later: nothing of it was stored.
export const RETRYABLE_CODES = new Set(['store_unavailable', 'store_full']);

// A warning the broker sent with a successful reply, e.g. for a submit of a task type no
// connected worker serves. Emitted as the client's 'warning' event; the text is also on the
// Job (job.warnings) or the submitBatch result (warnings).
export class TaskmillWarning extends Error {
  constructor(message) {
    super(message);
    this.name = 'TaskmillWarning';
  }
}

export class TaskmillError extends Error {
  constructor(code, message) {
    super(message);
    this.name = 'TaskmillError';
    this.code = code;
  }

  // True iff nothing of the request was stored and sending it again later may work.
  get retryable() {
    return RETRYABLE_CODES.has(this.code);
  }
}

// A task spec or argument failed validation (code invalid_argument), here or at the broker.
export class InvalidSpec extends TaskmillError {
  constructor(message, code = 'invalid_argument') {
    super(code, message);
    this.name = 'InvalidSpec';
  }
}

// The broker answered before on this connection, but not this request within its deadline.
export class TaskmillTimeout extends TaskmillError {
  constructor(message) {
    super('timeout', message);
    this.name = 'TaskmillTimeout';
  }
}

// No broker answered on this connection (nothing listening, or never heard from), or the
// client was closed while the request was pending.
export class BrokerUnavailable extends TaskmillError {
  constructor(message) {
    super('broker_unavailable', message);
    this.name = 'BrokerUnavailable';
  }
}

// The broker refused this peer's CURVE handshake: its public key is not in the broker's
// allow-list, or one side uses CURVE and the other does not. The message names the public key.
// The client keeps redialling (0.5 s doubling to 5 s), so a key allowed later (the broker
// reloads its allow-list on SIGHUP) gets in without a new Client.
export class Unauthorized extends TaskmillError {
  constructor(message) {
    super('unauthorized', message);
    this.name = 'Unauthorized';
  }
}

// The broker knows this peer's CURVE key, but its role may not do that (a worker key
// submitting, a client key using the DLQ, which needs an admin key...). The message names
// the role needed and the broker directory its .pub belongs in.
export class Forbidden extends TaskmillError {
  constructor(message) {
    super('forbidden', message);
    this.name = 'Forbidden';
  }
}

// The broker does not know the task, batch or queue.
export class NotFound extends TaskmillError {
  constructor(message) {
    super('not_found', message);
    this.name = 'NotFound';
  }
}

// The broker refused the whole request: a queue is at its depth cap (--max-queue-depth).
// Nothing was stored; submit again once workers have drained the queue.
export class QueueFull extends TaskmillError {
  constructor(message) {
    super('queue_full', message);
    this.name = 'QueueFull';
  }
}

// The broker's Redis is out of memory (maxmemory reached, nothing evicted). Nothing of the
// request was stored; it is retryable: send it again once memory is freed.
export class StoreFull extends TaskmillError {
  constructor(message) {
    super('store_full', message);
    this.name = 'StoreFull';
  }
}

// A task ended without succeeding (failed or cancelled). `.task` is its TaskInfo,
// `.error` its TaskError (or null), `.attempts` how many attempts it used.
export class TaskFailed extends TaskmillError {
  constructor(task) {
    const why = task.error ? `${task.error.code}: ${task.error.message}` : task.state;
    super('task_failed', `task ${task.id} ${task.state} after ${task.attempts} attempt(s): ${why}`);
    this.name = 'TaskFailed';
    this.task = task;
    this.taskId = task.id;
    this.state = task.state;
    this.error = task.error ?? null;
    this.attempts = task.attempts;
  }
}

// Thrown by a worker handler: the attempt failed and must not be retried.
export class PermanentError extends Error {
  constructor(message, code = 'permanent') {
    super(message);
    this.name = 'PermanentError';
    this.code = code;
  }
}

const KNOWN_CODES = new Set([
  'invalid_argument', 'bad_frame', 'unknown_version', 'unknown_command', 'truncated',
  'wrong_type', 'missing_field', 'over_limit', 'not_found', 'store_unavailable', 'timeout',
  'broker_unavailable', 'stale_token', 'queue_full', 'cycle', 'conflict', 'unauthorized',
  'store_full', 'forbidden', 'internal',
]);

// The error for a REPLY's WireError. An unknown code maps to `internal` (section 5), the
// original name is kept in `.wireCode`.
export function errorFromWire(wire) {
  const code = KNOWN_CODES.has(wire.code) ? wire.code : 'internal';
  let err;
  switch (code) {
    case 'invalid_argument': err = new InvalidSpec(wire.message); break;
    case 'cycle': err = new InvalidSpec(wire.message, 'cycle'); break;
    case 'not_found': err = new NotFound(wire.message); break;
    case 'queue_full': err = new QueueFull(wire.message); break;
    case 'store_full': err = new StoreFull(wire.message); break;
    case 'timeout': err = new TaskmillTimeout(wire.message); break;
    case 'broker_unavailable': err = new BrokerUnavailable(wire.message); break;
    case 'unauthorized': err = new Unauthorized(wire.message); break;
    case 'forbidden': err = new Forbidden(wire.message); break;
    default: err = new TaskmillError(code, wire.message);
  }
  err.wireCode = wire.code;
  return err;
}
