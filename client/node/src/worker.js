// A taskmill worker for Node: one DEALER to a broker's backend, handlers registered by task
// type, at most `concurrency` tasks at once (docs/protocol-conversations.md 9.2).
//
// Node runs handlers on the one event-loop thread that also sends heartbeats, so handlers
// must be async and must not block: a CPU-bound handler belongs in a worker_threads Worker
// (or a child process), else the broker stops hearing heartbeats and re-runs its tasks.
//
// Lifecycle: new Worker(options); handle(type, fn)*; await run() (resolves after a drain:
// a broker DRAIN, SIGTERM/SIGINT, or stop()).
//
// A cancel, the task's timeoutMs or the end of a drain aborts task.signal. Whatever the
// handler returns after that (or after its timeoutMs) is reported as cancelled / timeout
// with the output dropped; a handler still pending cancelGraceMs after the abort is
// reported at once and its slot counted lost until it settles.

import {randomBytes} from 'node:crypto';
import os, {hostname} from 'node:os';

import {load as loadCurve} from './curve.js';
import {PermanentError} from './errors.js';
import {redialDelay} from './handshake.js';
import {EndpointRing, parseEndpoints} from './endpoints.js';
import {Link} from './link.js';
import {toBytes} from './spec.js';

// The clock of the progress skip (tests replace `now`).
export const progressClock = {now: () => performance.now()};

// What a handler gets: one attempt of one task.
export class Task {
  constructor(msg, worker, controller) {
    this.id = msg.taskId;
    this.token = msg.token;
    this.attempt = msg.attempt;
    this.queue = msg.queue;
    this.type = msg.type;
    this.payload = msg.payload;        // Buffer
    this.parents = msg.parents;        // {parent name: Buffer output}
    // Parents that died, in an onFailure 'continue' batch: {parent name: {code, message,
    // retryable}} (not in `parents`); {} otherwise.
    this.parentErrors = {};
    for (const e of msg.parentErrors ?? []) {
      this.parentErrors[e.name] = {code: e.code, message: e.message ?? '',
                                   retryable: e.retryable ?? false};
    }
    this.name = msg.name;
    this.batchId = msg.batchId;
    this.labels = msg.labels;
    this.timeoutMs = msg.timeoutMs;
    this.pollState = msg.pollState ?? Buffer.alloc(0);  // a polled check: the last Poll's state
    this.signal = controller.signal;   // aborted on cancel, timeout or drain
    this.cost = {};
    this.worker = worker;
  }

  // Adds to a named cost of this attempt (usd, tokens_in, cpu_ms, any name).
  addCost(name, value) {
    if (typeof value !== 'number' || !Number.isFinite(value)) {
      throw new TypeError(`cost ${name}: must be a finite number`);
    }
    this.cost[name] = (this.cost[name] ?? 0) + value;
  }

  // The token an outside system completes this attempt with once the handler returns
  // `new Awaiting(...)`: 32 hex digits of 128 random bits, made on first read, the same for
  // the whole attempt. Give it to that system only.
  get completionToken() {
    if (!this._completionToken) this._completionToken = randomBytes(16).toString('hex');
    return this._completionToken;
  }

  // Reports progress (fraction 0..1, clamped; NaN ignored; message cut to 512 UTF-8 bytes):
  // the broker stores it on the task and pushes it to batch subscribers and clients waiting
  // on the task. Reports within PROGRESS_INTERVAL_MS of the last one sent are skipped (a
  // fraction of 1 never is), so a chatty loop cannot flood the wire.
  progress(fraction, message = '') {
    const value = Number(fraction);
    if (Number.isNaN(value)) return;
    const clamped = Math.min(1, Math.max(0, value));
    const now = progressClock.now();
    const report = {taskId: this.id, token: this.token, fraction: clamped,
                    message: trimProgressMessage(String(message))};
    if (clamped < 1 && this.lastProgressMs !== undefined &&
        now - this.lastProgressMs < PROGRESS_INTERVAL_MS) {
      this.progressSkipped = (this.progressSkipped ?? 0) + 1;
      this.heldProgress = report;  // sent by flushProgress if nothing follows
      return;
    }
    this.lastProgressMs = now;
    this.heldProgress = undefined;
    this.worker.send('PROGRESS', report);
  }

  // Sends the latest report the 50 ms skip held back, if any (the worker calls it when the
  // handler settles, before the DONE).
  flushProgress() {
    const report = this.heldProgress;
    this.heldProgress = undefined;
    if (report === undefined) return;
    this.lastProgressMs = progressClock.now();
    this.worker.send('PROGRESS', report);
  }
}

// Reports closer together than this are not sent; the broker throttles again per task (250 ms,
// keeping the latest).
export const PROGRESS_INTERVAL_MS = 50;
// A progress message is cut to this many UTF-8 bytes (the broker's cap).
export const MAX_PROGRESS_MESSAGE_BYTES = 512;

export function trimProgressMessage(message) {
  const bytes = Buffer.from(message, 'utf8');
  if (bytes.length <= MAX_PROGRESS_MESSAGE_BYTES) return message;
  let end = MAX_PROGRESS_MESSAGE_BYTES;
  while (end > 0 && (bytes[end] & 0xc0) === 0x80) end--;  // not inside a character
  return bytes.subarray(0, end).toString('utf8');
}

// Returned by a handler that handed its task to an outside system: the attempt ends now (its
// slot is free) and the task waits in state `awaiting` until that system completes it with
// task.completionToken (taskmill complete, a client's complete(), POST
// /api/tasks/ID/complete), or until deadlineMs passes (0: none): then the attempt fails as
// await_expired, retried by its policy.
export class Awaiting {
  constructor({deadlineMs = 0} = {}) {
    if (!Number.isInteger(deadlineMs) || deadlineMs < 0 || deadlineMs > 0xffffffff) {
      throw new RangeError('deadlineMs: an integer 0 to 4294967295');
    }
    this.deadlineMs = deadlineMs;
  }
}

// Returned by a handler that wants to check again later: the attempt is parked (no slot
// held, the attempt not used up) and the handler runs again in afterMs with task.pollState =
// state (at most 4096 bytes). Once this attempt's checks would have waited maxWaitMs in all
// (0: 24 h) it fails as poll_expired, retried by its policy.
export class Poll {
  constructor({afterMs, state = '', maxWaitMs = 0} = {}) {
    const u32 = (v) => Number.isInteger(v) && v >= 0 && v <= 0xffffffff;
    if (!u32(afterMs) || afterMs === 0 || !u32(maxWaitMs)) {
      throw new RangeError('afterMs: 1 to 4294967295; maxWaitMs: 0 to 4294967295');
    }
    this.afterMs = afterMs;
    this.state = toBytes(state);
    if (this.state.byteLength > 4096) throw new RangeError('state: at most 4096 bytes');
    this.maxWaitMs = maxWaitMs;
  }
}

function outputBytes(value) {
  return toBytes(value === undefined ? null : value);
}

// Longest error message (the stack's tail is kept) sent for a handler's exception.
export const MAX_TRACEBACK_CHARS = 4000;

// `Name: message` and the stack, at most MAX_TRACEBACK_CHARS.
export function describeError(err) {
  if (!(err instanceof Error)) return `thrown value: ${String(err)}`;
  const head = `${err.name}: ${err.message}`;
  let stack = typeof err.stack === 'string' ? err.stack : head;
  if (stack.length > MAX_TRACEBACK_CHARS) {
    stack = `[stack truncated]\n${stack.slice(-MAX_TRACEBACK_CHARS)}`;
  }
  return stack.startsWith(head) ? stack : `${head}\n${stack}`;
}

const OPTIONS = new Set(['broker', 'id', 'queues', 'concurrency', 'heartbeatMs', 'liveness',
  'graceMs', 'cancelGraceMs', 'labels', 'handleSignals', 'log', 'warn', 'maxOutputBytes',
  'curveServerKey', 'curveKeyFile']);

// The broker's worker (backend) endpoint from the environment: TASKMILL_WORKER_BROKER.
// TASKMILL_BROKER is the clients' port and is never read here.
function defaultBroker(warn) {
  const endpoint = process.env.TASKMILL_WORKER_BROKER;
  if (endpoint) return endpoint;
  if (process.env.TASKMILL_BROKER) {
    warn(`TASKMILL_BROKER (${process.env.TASKMILL_BROKER}) is the clients' endpoint and is ` +
      'not read by workers; set TASKMILL_WORKER_BROKER (or the broker option) to the ' +
      "broker's worker port; using tcp://127.0.0.1:5556");
  }
  return 'tcp://127.0.0.1:5556';
}

function defaultWarn(message) {
  console.warn(`taskmill worker: ${message}`);
}

export class Worker {
  // broker: the backend endpoint, or a comma-separated list of them (issue 17: start at a
  // random one; on a dropped connection, a failed first dial, `liveness` missed broker
  // heartbeats or the broker's MOVE, move to the next with READY + running, then the unsent
  // DONEs; MOVE never stops the worker); id: stable worker id; queues: queues to take from
  // (default ['default']); concurrency: slots; heartbeatMs/liveness: as in section 9.2;
  // graceMs: what SIGTERM/stop() give running tasks; labels: reported to the broker;
  // curveServerKey (file or Z85), curveKeyFile: CURVE, defaults from TASKMILL_CURVE_* (curve.js).
  constructor(options = {}) {
    for (const name of Object.keys(options)) {
      if (!OPTIONS.has(name)) {
        throw new TypeError(`Worker: unknown option '${name}' (known: ${[...OPTIONS].join(', ')})`);
      }
    }
    const {id = process.env.TASKMILL_ID ?? `node-${hostname()}-${process.pid}`,
      queues = ['default'],
      // The number of cores by default, as in every taskmill worker runtime (C++, Python).
      concurrency = os.availableParallelism?.() ?? os.cpus().length,
      heartbeatMs = 1000, liveness = 3, graceMs = 30_000, cancelGraceMs = 5000, labels = {},
      handleSignals = true, log = () => {}, warn = defaultWarn,
      maxOutputBytes = 8 * 1024 * 1024, curveServerKey, curveKeyFile} = options;
    const broker = options.broker ?? defaultBroker(warn);
    // The endpoints in failover order (throws EndpointListError, a TypeError, on a bad list).
    this.ring = new EndpointRing(parseEndpoints(broker));
    // A bigger handler output is reported as a failure (output_too_large, not retried)
    // instead: sent whole it would pass the broker's frame cap and be lost. Match the
    // broker's --max-output-bytes. cancelGraceMs: how long a handler may run on after its
    // abort before the attempt is reported and its slot counted lost. log: lifecycle
    // chatter (silent by default); warn: failures and mistakes (console.warn by default).
    Object.assign(this, {broker, id, queues, concurrency, heartbeatMs, liveness, graceMs,
      cancelGraceMs, labels, handleSignals, log, warn, maxOutputBytes});
    // The CURVE socket options of every link, reconnects included; null: plain.
    this.curve = loadCurve({serverKey: curveServerKey, keyFile: curveKeyFile});
    this.handlers = new Map();   // task type -> async (task) => output
    this.running = new Map();    // `${taskId}/${token}` -> {task, controller, reason}
    this.lost = new Map();       // reported attempts whose handler ignored its abort: slots lost
    this.unsent = new Map();     // `${taskId}/${token}` -> DONE not yet accepted by a connection
    this.outbox = [];            // reliable messages of this link, in order: READY, DONEs, BYE
    this.flushing = null;        // the link a flush() loop is sending on, if any
    this.draining = false;       // true iff no new task is taken any more
    this.link = null;
    this.lastHeardMs = 0;        // when the broker was last heard from
    this.redialAtMs = 0;         // set iff the last link was refused, or a move backs off: when to open the next
    this.refusals = 0;           // handshakes refused in a row
    this.refused = 0;            // handshakes refused in all
  }

  // Registers the handler of a task type. It gets a Task and returns the output (bytes,
  // a string, or a value sent as JSON); a throw fails the attempt (retryable unless it is
  // a PermanentError).
  handle(type, fn) {
    this.handlers.set(type, fn);
    return this;
  }

  async run() {
    if (this.handlers.size === 0) throw new Error('register a handler with handle() first');
    this.connect();
    const onSignal = () => this.stop(this.graceMs);
    if (this.handleSignals) {
      process.on('SIGTERM', onSignal);
      process.on('SIGINT', onSignal);
    }
    this.timer = setInterval(() => this.tick(), Math.max(10, Math.floor(this.heartbeatMs / 2)));
    try {
      await new Promise((resolve) => {
        this.finished = resolve;
      });
    } finally {
      clearInterval(this.timer);
      if (this.handleSignals) {
        process.off('SIGTERM', onSignal);
        process.off('SIGINT', onSignal);
      }
    }
  }

  // Opens a new link: READY first, listing every task this process still holds (running, or
  // finished with its DONE unsent), so the broker keeps their leases; then the unsent DONEs
  // (a repeat of one the old link did deliver is fenced off by its token).
  connect() {
    this.link?.close();
    // routingId: one of its own per link (worker id + 128 random bits): the broker takes no
    // routing-id handover, and one nobody can guess is one nobody can use to receive this
    // worker's tasks; the worker id moves to the new link with its READY.
    // immediate: a DONE is accepted only by a live connection, so one sent while the broker
    // is away stays unsent (and survives the reconnect) instead of dying in a dead pipe.
    this.link = new Link({
      endpoint: this.ring.current,
      routingId: `${this.id}.${randomBytes(16).toString('hex')}`,
      immediate: true,
      sendTimeoutMs: Math.max(100, this.heartbeatMs),
      curve: this.curve,
      onMessage: (command, message) => this.onMessage(command, message),
      onBadMessage: (err) => this.log(`dropped a bad message: ${err.message}`),
      // Watched only with CURVE: without it nothing is refused (a CURVE broker's mechanism
      // mismatch aside, which the liveness check in tick() recovers from).
      onRefused: this.curve ? (why) => this.onRefused(link, why) : null,
      onAccepted: this.curve ? () => this.onAccepted() : null,
      onLost: this.ring.several ? (why) => {
        if (link === this.link && !this.redialAtMs) this.move(why);
      } : null,
      who: 'worker',
    });
    const link = this.link;
    this.warnedWrongPort = false;
    link.open();
    this.lastHeardMs = Date.now();
    this.nextHeartbeatMs = 0;
    const held = new Set([...this.running.values()].map((e) => e.task.id));
    for (const done of this.unsent.values()) held.add(done.taskId);
    this.outbox = [{command: 'READY', message: {workerId: this.id, queues: this.queues,
      types: [...this.handlers.keys()], concurrency: this.concurrency, labels: this.labels,
      running: [...held]}}];
    for (const [key, done] of this.unsent) this.outbox.push({command: 'DONE', message: done, key});
    this.flush();
  }

  // Moves to another endpoint (or redials on MOVE) so far.
  get moves() {
    return this.ring.moves;
  }

  // Leaves the broker in use for the next endpoint: now, or after the redial backoff once a
  // whole cycle failed (READY and the unsent DONEs wait in the outbox until then).
  move(why) {
    const old = this.ring.current;
    const delay = this.ring.advance();
    // A MOVE is a planned hand-off (log); any other loss is worth a warning.
    (why.startsWith('MOVE') ? this.log : this.warn)(`worker ${this.id}: broker at ${old}: ` +
      `${why}; moving to ${this.ring.current}` +
      `${delay ? ` in ${delay} ms` : ''} (holding ${this.running.size + this.unsent.size} tasks)`);
    if (delay) {
      this.link.close();
      this.redialAtMs = Date.now() + delay;
    } else {
      this.connect();
    }
  }

  // libzmq will not retry a refused handshake: close the link and open a new one after the
  // backoff. READY and unsent DONEs wait in the outbox; tick() rests until then.
  onRefused(link, why) {
    if (link !== this.link || this.redialAtMs) return;
    this.refusals += 1;
    this.refused += 1;
    const delay = redialDelay(this.refusals);
    this.log(`worker ${this.id}: ${why} (${this.refusals} refused in a row); redialling in ` +
      `${delay} ms`);
    link.close();
    this.redialAtMs = Date.now() + delay;
  }

  onAccepted() {
    if (this.refusals > 0) this.log(`worker ${this.id}: the broker at ${this.broker} accepted this worker's key`);
    this.refusals = 0;
  }

  // Best effort (HEARTBEAT, PROGRESS): never ahead of READY or a DONE, dropped on failure.
  send(command, message) {
    if (this.outbox.length > 0 || this.redialAtMs) return;
    this.link.send(command, message).catch((err) => this.log(`send ${command}: ${err.message}`));
  }

  // Reliable: kept until a connection accepts it; a DONE also across reconnects.
  sendReliable(command, message, key = null) {
    if (key) this.unsent.set(key, message);
    this.outbox.push({command, message, key});
    this.flush();
  }

  // Sends the outbox in order on the current link; stops at a failure (tick() retries) or
  // when the link is replaced (connect() starts over on the new one).
  async flush() {
    const link = this.link;
    if (this.flushing === link || this.redialAtMs) return;
    this.flushing = link;
    try {
      while (this.link === link && this.outbox.length > 0) {
        const item = this.outbox[0];
        try {
          await link.send(item.command, item.message);
        } catch (err) {
          this.log(`send ${item.command}: ${err.message}`);
          break;
        }
        if (this.link !== link) break;
        this.outbox.shift();
        if (item.key && this.unsent.get(item.key) === item.message) this.unsent.delete(item.key);
      }
    } finally {
      if (this.flushing === link) this.flushing = null;
    }
  }

  freeSlots() {
    return Math.max(0, this.concurrency - this.running.size - this.lost.size);
  }

  tick() {
    const now = Date.now();
    if (this.redialAtMs) {
      if (now < this.redialAtMs || this.stopping) return;
      this.log(`worker ${this.id}: redialling ${this.ring.current}`);
      this.redialAtMs = 0;
      this.connect();
    }
    if (now - this.lastHeardMs > this.heartbeatMs * this.liveness && !this.stopping) {
      // The broker went silent: it may have restarted and forgotten us. Say READY again on a
      // new connection; running tasks report to it when they end.
      if (this.ring.several) {
        this.move(`silent for ${now - this.lastHeardMs} ms`);
      } else {
        this.log(`broker silent for ${now - this.lastHeardMs} ms; reconnecting`);
        this.connect();
      }
    }
    if (this.outbox.length > 0) this.flush();
    if (now >= this.nextHeartbeatMs) {
      this.nextHeartbeatMs = now + this.heartbeatMs;
      this.send('HEARTBEAT', {free: this.freeSlots()});
    }
  }

  onMessage(command, message) {
    this.lastHeardMs = Date.now();
    if (command === 'MOVE') {
      // Keep the tasks and their DONEs: they go to the next broker after READY.
      this.move(`MOVE (${message.reason || 'no reason given'})`);
      return;
    }
    this.ring.connected();  // a broker that works: the next loss starts a new cycle
    if (command === 'TASK') this.onTask(message);
    else if (command === 'CANCEL_TASK') this.onCancel(message);
    else if (command === 'DRAIN') this.stop(message.graceMs);
    else if (command === 'REPLY' && !this.warnedWrongPort) {
      // Only a broker's client port answers with REPLY: it refuses READY and HEARTBEAT.
      this.warnedWrongPort = true;
      this.warn(`worker ${this.id}: ${this.broker} answered as a broker's client port ` +
        `(${message.error?.message ?? 'a client reply'}); a worker must connect to the ` +
        "broker's worker port (default 5556; TASKMILL_WORKER_BROKER or the broker option)");
    }
  }

  fail(msg, code, message, retryable) {
    this.sendReliable('DONE', {taskId: msg.taskId, token: msg.token, ok: false,
      error: {code, message, retryable}, startedMs: Date.now()}, `${msg.taskId}/${msg.token}`);
  }

  onTask(msg) {
    const key = `${msg.taskId}/${msg.token}`;
    if (this.draining) return this.fail(msg, 'draining', `worker ${this.id} is shutting down`, true);
    const handler = this.handlers.get(msg.type);
    if (!handler) {
      this.warn(`task ${msg.taskId} attempt ${msg.attempt} failed: unknown_type: no handler ` +
        `for type '${msg.type}' here`);
      return this.fail(msg, 'unknown_type', `worker ${this.id} has no handler for type '${msg.type}'`,
          false);
    }
    // A duplicate of an attempt already running, or finished with its DONE still unsent.
    if (this.running.has(key) || this.unsent.has(key)) return;
    if (this.freeSlots() === 0) {
      return this.fail(msg, 'no_slot', `worker ${this.id} has no free slot`, true);
    }
    const controller = new AbortController();
    const task = new Task(msg, this, controller);
    const entry = {task, controller, reason: null};
    this.running.set(key, entry);
    if (msg.timeoutMs > 0) {
      entry.timeout = setTimeout(() => this.abort(entry, 'timeout'), msg.timeoutMs);
    }
    this.execute(key, entry, handler);
  }

  // Fires the attempt's AbortSignal (once) and starts its grace: past cancelGraceMs a
  // handler still running is reported without waiting and its slot counted lost.
  abort(entry, reason) {
    if (entry.reason) return;
    entry.reason = reason;
    entry.controller.abort(new Error(reason));
    if (reason !== 'draining') {
      entry.graceTimer = setTimeout(() => this.reportOverdue(entry), this.cancelGraceMs);
    }
  }

  reportOverdue(entry) {
    const key = `${entry.task.id}/${entry.task.token}`;
    if (this.running.get(key) !== entry) return;
    this.running.delete(key);
    this.lost.set(key, entry);
    const timeout = entry.reason === 'timeout';
    const what = timeout ? 'its timeout' : 'a cancel';
    this.warn(`task ${entry.task.id} (${entry.task.type}): the handler ignored ${what} for ` +
      `${this.cancelGraceMs} ms (cancelGraceMs); reported as ${entry.reason}, its slot is lost ` +
      `until it settles (${this.lost.size} of ${this.concurrency} slots lost)`);
    this.sendReliable('DONE', {taskId: entry.task.id, token: entry.task.token, ok: false,
      error: {code: timeout ? 'timeout' : 'cancelled', retryable: timeout,
        message: `the handler ignored ${what} for ${this.cancelGraceMs} ms; worker ${this.id} ` +
          'gave up on it and lost its slot'},
      startedMs: Date.now()}, key);
    if (this.draining && this.running.size === 0) this.finish();
  }

  async execute(key, entry, handler) {
    const {task} = entry;
    const startedMs = Date.now();
    const done = {taskId: task.id, token: task.token, ok: true, startedMs};
    try {
      const result = await handler(task);
      if (result instanceof Awaiting) {
        done.awaiting = true;
        done.awaitMs = result.deadlineMs;
        done.completionToken = task.completionToken;
        done.output = Buffer.alloc(0);
      } else if (result instanceof Poll) {
        done.pollMs = result.afterMs;
        done.pollState = result.state;
        done.pollMaxMs = result.maxWaitMs;
        done.output = Buffer.alloc(0);
      } else {
        done.output = outputBytes(result);
      }
    } catch (err) {
      done.ok = false;
      done.error = err instanceof PermanentError ?
        {code: err.code, message: err.message, retryable: false} :
        {code: 'handler_exception', message: describeError(err), retryable: true};
    }
    clearTimeout(entry.timeout);
    clearTimeout(entry.graceTimer);
    if (this.lost.get(key) === entry) {
      this.lost.delete(key);
      this.warn(`task ${task.id}: the handler that ignored its abort has settled; slot free again`);
      return;
    }
    if (this.running.get(key) !== entry) return;  // already reported (drain deadline)
    this.running.delete(key);
    const elapsed = Date.now() - startedMs;
    // Settled after its deadline, before the timer said so: still a timeout.
    if (!entry.reason && task.timeoutMs > 0 && elapsed >= task.timeoutMs) entry.reason = 'timeout';
    // Stopped: reported by why, whatever the handler returned (output dropped).
    if (entry.reason) {
      delete done.awaiting;
      delete done.awaitMs;
      delete done.completionToken;
      delete done.pollMs;
      delete done.pollState;
      const said = done.ok ? 'the handler returned a result after it was stopped (dropped)' :
        done.error.message;
      done.ok = false;
      delete done.output;
      done.error = entry.reason === 'cancelled' ?
        {code: 'cancelled', message: said, retryable: false} :
        entry.reason === 'timeout' ?
          {code: 'timeout', message: `the attempt ran past its timeoutMs (${task.timeoutMs} ` +
            `ms): ${said}`, retryable: true} :
          {code: 'drain_timeout', message: said, retryable: true};
    }
    if (done.ok && done.output.byteLength > this.maxOutputBytes) {
      const n = done.output.byteLength;
      done.ok = false;
      done.output = Buffer.alloc(0);
      done.error = {code: 'output_too_large', retryable: false,
        message: `the result is ${n} bytes (output ${n}, stdout 0, stderr 0), over the ` +
          `worker's limit of ${this.maxOutputBytes} (maxOutputBytes)`};
    }
    done.durationMs = elapsed;
    done.cost = task.cost;
    task.flushProgress();  // the handler's last report, if the 50 ms skip held it back
    if (!done.ok) {
      this.warn(`task ${task.id} attempt ${task.attempt} (${task.type}) failed after ` +
        `${elapsed} ms: ${done.error.code}: ${done.error.message}` +
        (done.error.retryable ? ' (will be retried if attempts remain)' : ''));
    }
    this.sendReliable('DONE', done, key);
    if (this.draining && this.running.size === 0) this.finish();
  }

  onCancel(msg) {
    for (const entry of this.running.values()) {
      const t = entry.task;
      if (t.id === msg.taskId && (!msg.token || msg.token === t.token)) this.abort(entry, 'cancelled');
    }
  }

  // Takes no new task; running ones get graceMs to finish, then are aborted and reported
  // as retryable failures; then BYE, and run() resolves.
  stop(graceMs = this.graceMs) {
    if (this.draining) return;
    this.draining = true;
    this.log(`draining: ${this.running.size} running, grace ${graceMs} ms`);
    if (this.running.size === 0) return this.finish();
    this.drainTimer = setTimeout(() => {
      for (const [key, entry] of this.running) {
        this.abort(entry, 'draining');
        this.running.delete(key);
        this.sendReliable('DONE', {taskId: entry.task.id, token: entry.task.token, ok: false,
          error: {code: 'drain_timeout', message: `worker ${this.id} shut down before the task ` +
            'finished', retryable: true}, startedMs: Date.now()}, key);
      }
      this.finish();
    }, graceMs);
  }

  finish() {
    if (this.stopping) return;
    this.stopping = true;
    clearTimeout(this.drainTimer);
    this.sendReliable('BYE', {reason: 'drained'});
    // Let the last DONEs and BYE leave before the socket closes, for a while at most (the
    // broker may be gone).
    const deadline = Date.now() + Math.max(1000, this.heartbeatMs * this.liveness);
    const close = () => {
      // While refused (waiting to redial) nothing can leave: no point in waiting.
      if (this.outbox.length > 0 && Date.now() < deadline && !this.redialAtMs) {
        return setTimeout(close, 20);
      }
      if (this.outbox.length > 0) this.log(`exiting with ${this.outbox.length} unsent messages`);
      setTimeout(() => {
        this.link.close();
        this.finished?.();
      }, 50);
    };
    close();
  }
}
