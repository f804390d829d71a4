// The taskmill client for Node: one ZeroMQ DEALER to a broker's frontend, requests matched
// to replies by req_id, a deadline on every call. Promise-based; mirrors the C++
// taskmill::client::Client. Lifecycle: new Client(options) (connects lazily), any number of
// concurrent calls, close(). Pushes: 'result' (RESULT of a task submitted with notify) and
// batch events through Subscription objects.

import {EventEmitter} from 'node:events';

import {writeArtifacts} from './artifacts.js';
import {CodecError, encodeFrames} from './codec.js';
import {EndpointRing, parseEndpoints} from './endpoints.js';
import {BrokerUnavailable, InvalidSpec, NotFound, TaskFailed, TaskmillError, TaskmillTimeout,
  TaskmillWarning, Unauthorized, errorFromWire} from './errors.js';
import {load as loadCurve} from './curve.js';
import {redialDelay} from './handshake.js';
import {Job, idOf} from './job.js';
import {Link} from './link.js';
import {DEFAULT_MAX_KEPT, ResultTable} from './results.js';
import {TASK_STATES, TERMINAL_STATES} from './schema.js';
import {newId, newRequestId, normalizeBatchSpec, normalizeTaskSpec, toBytes} from './spec.js';
import {parseDuration} from './duration.js';
import {Subscription} from './subscription.js';

const U32_MAX = 4294967295;
// Pages one stats() call reads at most (1,000 entries each).
const MAX_STATS_PAGES = 10000;
const OPTIONS = new Set(['broker', 'requestTimeoutMs', 'heartbeatMs', 'curveServerKey',
  'curveKeyFile', 'maxKeptResults']);

// Throws a TypeError naming an option `what` does not know (a typo is never ignored).
export function rejectUnknown(what, options, known) {
  for (const name of Object.keys(options ?? {})) {
    if (!known.has(name)) {
      throw new TypeError(`${what}: unknown option '${name}' (known: ${[...known].join(', ')})`);
    }
  }
}

// A schedule definition as SCHEDULE add carries it: `every` in the duration syntax (or
// everyMs), the task checked like a SUBMIT's; the broker checks the cron expression and zone.
function normalizeSchedule(def) {
  if (def === null || typeof def !== 'object') throw new InvalidSpec('schedule: expected an object');
  const {every, everyMs, task, ...rest} = def;
  const out = {...rest, task: normalizeTaskSpec(task ?? {}, 'schedule.task')};
  if (every !== undefined) out.everyMs = parseDuration(every, 'schedule.every');
  else if (everyMs !== undefined) out.everyMs = everyMs;
  if ((out.cron ? 1 : 0) + (out.everyMs ? 1 : 0) !== 1) {
    throw new InvalidSpec('schedule: set exactly one of cron (e.g. "*/5 * * * *") and every (e.g. 30s)');
  }
  if (out.catchUp !== undefined && out.catchUp !== 'skip' && out.catchUp !== 'once') {
    throw new InvalidSpec(`schedule.catchUp: '${out.catchUp}' is not a policy (allowed: skip, once)`);
  }
  return out;
}

export class Client extends EventEmitter {
  // broker: the frontend endpoint, or a comma-separated list of them to fail over between
  // (issue 17: start at a random one; on a dropped connection, a failed first dial or GOAWAY
  // move to the next and resend every unanswered request, the same bytes); requestTimeoutMs: deadline of each request (WAIT adds
  // its own timeout on top); heartbeatMs: ZMTP heartbeat on the connection (0: off);
  // curveServerKey (file or Z85), curveKeyFile: CURVE, defaults from TASKMILL_CURVE_* (curve.js);
  // maxKeptResults: pushed results kept until taken (results.js).
  constructor(options = {}) {
    super();
    rejectUnknown('Client', options, OPTIONS);
    const {broker = process.env.TASKMILL_BROKER ?? 'tcp://127.0.0.1:5555',
      requestTimeoutMs = 10_000, heartbeatMs = 500, curveServerKey, curveKeyFile,
      maxKeptResults = DEFAULT_MAX_KEPT} = options;
    const curve = loadCurve({serverKey: curveServerKey, keyFile: curveKeyFile});  // throws first
    this.broker = broker;
    // The endpoints in failover order (throws EndpointListError, a TypeError, on a bad list).
    this.ring = new EndpointRing(parseEndpoints(broker));
    this.moveTimer = null;          // set iff moving: the next link opens when it fires
    this.requestTimeoutMs = requestTimeoutMs;
    this.nextReqId = 1;             // 0 is reserved for replies to undecodable requests
    this.pending = new Map();       // req_id -> {resolve, reject, timer, notify}
    this.results = new ResultTable(maxKeptResults);  // RESULT pushes of notify submits
    this.subscriptions = new Map(); // batch id -> Set<Subscription>
    this.progressWatchers = new Set(); // {ids: Set<task id>, onProgress} of waits in flight
    this.heard = false;             // true iff any message from the broker arrived
    this.closed = false;
    this.connects = 0;              // connections established, over every link
    this.refusal = null;            // why the broker refused; set iff waiting to redial
    this.refusals = 0;              // handshakes refused in a row
    this.redialTimer = null;
    this.linkOptions = {
      heartbeatMs,
      curve,
      onMessage: (command, message) => this.onMessage(command, message),
      onBadMessage: (err) => this.emit('warning', err),
      onConnect: () => {
        if (++this.connects > 1) {
          this.renewSubscriptions();
          this.results.onReconnect();  // pushes still expected went to the old identity
        }
      },
      onRefused: (why) => this.onRefused(why),
      onAccepted: () => {
        this.refusals = 0;
      },
    };
    this.link = this.openLink();
    this.deadLetters = {
      list: (opts = {}) => this.dlq('list', opts).then((r) => r.tasks),
      retry: (opts = {}) => this.dlq('retry', opts).then(affected),
      purge: (opts = {}) => this.dlq('purge', opts).then(affected),
    };
    // Periodic schedules (docs/protocol-messages.md 8.25; an admin key with CURVE roles).
    // add({name, cron, tz} | {name, every: '30s'}, task, catchUp: 'skip' | 'once') resolves to
    // the schedule as stored (nextRunMs, fired, missed, ...); pause/resume/remove take a name.
    const one = (r) => {
      if (!r.schedules || r.schedules.length === 0) {
        throw new TaskmillError('internal', "the broker's reply names no schedule");
      }
      return r.schedules[0];
    };
    this.schedules = {
      add: (def) => this.call('SCHEDULE', {op: 'add', schedule: normalizeSchedule(def)}).then(one),
      list: () => this.call('SCHEDULE', {op: 'list'}).then((r) => r.schedules),
      pause: (name) => this.call('SCHEDULE', {op: 'pause', name}).then(one),
      resume: (name) => this.call('SCHEDULE', {op: 'resume', name}).then(one),
      remove: (name) => this.call('SCHEDULE', {op: 'remove', name}).then(() => undefined),
    };
  }

  // Moves to another endpoint (or redials after GOAWAY) so far.
  get moves() {
    return this.ring.moves;
  }

  // A new Link to the endpoint in use; one with other endpoints to move to watches for loss.
  openLink() {
    const link = new Link({...this.linkOptions, endpoint: this.ring.current,
      onLost: this.ring.several ? (why) => {
        if (link === this.link) this.move(why);
      } : null});
    return link.open();
  }

  // Leaves the broker in use for the next endpoint (now, or after the redial backoff once a
  // whole cycle failed), then resends every unanswered request byte for byte; the new
  // connection renews the subscriptions (onConnect) and expected pushes are asked for.
  move(why) {
    if (this.closed || this.moveTimer || this.refusal) return;
    const old = this.ring.current;
    this.link.close();
    const delay = this.ring.advance();
    this.emit('move', {from: old, to: this.ring.current, reason: why, delayMs: delay});
    this.moveTimer = setTimeout(() => {
      this.moveTimer = null;
      if (this.closed) return;
      this.link = this.openLink();
      for (const [reqId, p] of [...this.pending].sort((a, b) => a[0] - b[0])) {
        this.sendOn(this.link, p.frames, reqId);
      }
    }, delay);
  }

  onMessage(command, message) {
    this.heard = true;
    if (command === 'GOAWAY') {
      // Nothing more goes to this broker; the replies it sent so far stand.
      this.move(`GOAWAY (${message.reason || 'no reason given'})`);
      return;
    }
    this.ring.connected();  // a broker that works: the next loss starts a new cycle
    if (command === 'REPLY') {
      const p = this.pending.get(message.reqId);
      if (!p) return;  // late reply of a timed-out request, or req_id 0
      this.pending.delete(message.reqId);
      clearTimeout(p.timer);
      // Registered here, before the pushes that follow on this connection.
      if (p.notify && !message.error) this.results.expect(message.ids ?? []);
      if (message.error) p.reject(errorFromWire(message.error));
      else p.resolve(message);
    } else if (command === 'EVENT') {
      if (message.batchId === '' && message.type === 'task_progress') {
        // A WAIT's progress (wait with onProgress): no batch.
        const p = {taskId: message.taskId, progress: message.progress, message: message.message};
        this.emit('progress', p);
        for (const w of [...this.progressWatchers]) {
          if (w.ids.has(p.taskId)) w.onProgress(p);
        }
        return;
      }
      for (const sub of [...(this.subscriptions.get(message.batchId) ?? [])]) sub.push(message);
    } else if (command === 'RESULT') {
      this.results.onResult(message.task);
      this.emit('result', message.task);
    }
  }

  // libzmq will not retry a refused handshake: fail what waits on this link now, and dial
  // again on a new one after the backoff. Meanwhile calls fail at once with the same error.
  onRefused(why) {
    if (this.closed || this.refusal) return;
    this.refusals += 1;
    this.refusal = why;
    const delay = redialDelay(this.refusals);
    if (this.refusals === 1) this.emit('warning', new Unauthorized(`${why}; redialling in ${delay} ms`));
    for (const [reqId, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(new Unauthorized(why));
      this.pending.delete(reqId);
    }
    this.link.close();
    this.redialTimer = setTimeout(() => {
      this.redialTimer = null;
      if (this.closed) return;
      this.refusal = null;
      this.link = this.openLink();
    }, delay);
    // A client nobody uses must not keep the process alive just to redial.
    this.redialTimer.unref?.();
  }

  // Sends any client request (req_id is set here) and resolves with the successful REPLY.
  // timeoutMs: this request's deadline (default requestTimeoutMs).
  call(command, message = {}, {timeoutMs = this.requestTimeoutMs} = {}) {
    if (this.closed) return Promise.reject(new BrokerUnavailable('the client is closed'));
    if (this.refusal) return Promise.reject(new Unauthorized(this.refusal));
    const reqId = this.nextReqId++;
    return new Promise((resolve, reject) => {
      let frames;
      try {
        // Encoded once: a resend after a move is these very bytes (the same request id).
        frames = encodeFrames(command, {...message, reqId});
        // While moving, the next link sends it with the other unanswered ones.
        if (!this.moveTimer) this.sendOn(this.link, frames, reqId);
      } catch (err) {
        // The codec refused the message: nothing was sent.
        if (err instanceof CodecError) return reject(new InvalidSpec(err.message, err.code));
        return reject(err);
      }
      const timer = setTimeout(() => {
        this.pending.delete(reqId);
        reject(this.heard ?
          new TaskmillTimeout(`${command} got no reply from ${this.ring.current} within ${timeoutMs} ms`) :
          new BrokerUnavailable(`no reply from a broker at ${this.ring.current} within ${timeoutMs} ms ` +
            '(is a broker running there, and is this its client port? Its worker port (5556 ' +
            'by default) never answers clients)'));
      }, timeoutMs);
      this.pending.set(reqId, {resolve, reject, timer, frames,
        notify: command === 'SUBMIT' && message.notify === true});
    });
  }

  // (internal) Sends a request's frames on a link; a failure is only a warning (the refusal,
  // the next move or the deadline settles the call).
  sendOn(link, frames, reqId) {
    link.sendFrames(frames).catch((err) => {
      // A send fails when its link closes (after a refusal, a move or close(), which settle
      // or resend the call) or, racing a refused handshake, when libzmq has just dropped the
      // connection's pipe (EAGAIN) and the refusal event is still on its way: that event,
      // or else the deadline, settles the call.
      if (this.pending.has(reqId) && link === this.link) {
        this.emit('warning', new BrokerUnavailable(`cannot send to ${link.endpoint}: ` +
          `${err.message}`));
      }
    });
  }

  // Submits one task; resolves with its Job (job.id: for a repeated idempotencyKey, the
  // first task's id; job.waitUntilFinished() for its result).
  async submit(spec, options = {}) {
    return (await this.submitMany([spec], options))[0];
  }

  async submitMany(specs, options = {}) {
    rejectUnknown('submit', options, new Set(['notify']));
    const {notify = false} = options;
    const tasks = specs.map((s, i) => normalizeTaskSpec(s, `tasks[${i}]`));
    const reply = await this.call('SUBMIT', {tasks, notify, requestId: newRequestId()});
    const warnings = this.warnAbout(reply);
    return reply.ids.map((id) => new Job(this, id, warnings));
  }

  // (internal) The reply's warnings (e.g. a task type no connected worker serves), each
  // also emitted as a 'warning' event.
  warnAbout(reply) {
    const warnings = reply.warnings ?? [];
    for (const w of warnings) this.emit('warning', new TaskmillWarning(w));
    return warnings;
  }

  // Waits until every task is terminal or timeoutMs passed (then they are reported as
  // they are: not an error). One id -> one TaskInfo; an array -> an array.
  // With onProgress({taskId, progress, message}), each progress report of these tasks while
  // waiting comes to it (and as the client's 'progress' event), whichever broker their
  // worker is on; the broker throttles them (one per task per 250 ms, the latest kept).
  async wait(ids, {timeoutMs = 60_000, onProgress = null} = {}) {
    const list = (Array.isArray(ids) ? ids : [ids]).map(idOf);
    const wait = Math.min(timeoutMs, U32_MAX);
    const watcher = onProgress ? {ids: new Set(list), onProgress} : null;
    if (watcher) this.progressWatchers.add(watcher);
    try {
      const reply = await this.call('WAIT', {ids: list, timeoutMs: wait, progress: !!watcher},
          {timeoutMs: wait + this.requestTimeoutMs});
      return Array.isArray(ids) ? reply.tasks : reply.tasks[0];
    } finally {
      if (watcher) this.progressWatchers.delete(watcher);
    }
  }

  // One task once it ended, or as it is after timeoutMs (not an error). For a task
  // submitted here with notify, from the broker's push, without a request; otherwise, or
  // when the push cannot come (dropped from the kept results, or the connection was
  // re-established since), from the broker (WAIT for the time left; GET at the deadline).
  async waitResult(id, {timeoutMs = 60_000} = {}) {
    id = idOf(id);
    const deadline = Date.now() + timeoutMs;
    const pushed = await this.results.take(id, timeoutMs);
    if (pushed) return pushed;
    if (pushed === undefined) return (await this.getMany([id]))[0];  // a push may yet come
    const left = deadline - Date.now();
    if (left <= 0) return (await this.getMany([id]))[0];
    return this.wait(id, {timeoutMs: left});
  }

  // Waits for one task (as waitResult) and resolves with it once it succeeded; rejects
  // with TaskFailed when it failed or was cancelled, TaskmillTimeout when still unfinished.
  async result(id, {timeoutMs = 60_000} = {}) {
    id = idOf(id);
    const task = await this.waitResult(id, {timeoutMs});
    if (task.state === 'succeeded') return task;
    if (TERMINAL_STATES.has(task.state)) throw new TaskFailed(task);
    throw new TaskmillTimeout(`task ${id} is still ${task.state} after ${timeoutMs} ms`);
  }

  // One task; NotFound when the broker does not know it.
  async get(id) {
    id = idOf(id);
    const [task] = await this.getMany([id]);
    if (!task || task.state === 'unknown') throw new NotFound(`no task '${id}'`);
    return task;
  }

  /** Writes the files task `id` kept to `outDir` (names checked, sha256 verified);
   * resolves to the paths written. Kept files are read from the workers' --artifacts-dir
   * volume: `artifactsRoot` is where this host mounts it (default: each file:// uri's path). */
  async fetchArtifacts(id, outDir, {artifactsRoot} = {}) {
    return writeArtifacts(await this.get(id), outDir, {artifactsRoot});
  }

  async getMany(ids) {
    return (await this.call('GET', {ids: ids.map(idOf)})).tasks;
  }

  async getBatch(batchId) {
    return (await this.call('GET', {batchId})).batch;
  }

  // Cancels one task; resolves with how many were cancelled (0: it had already ended).
  async cancel(id, {reason = ''} = {}) {
    return (await this.cancelMany([id], {reason})).count;
  }

  // Completes a task awaiting an outside system (its handler returned awaiting) with the
  // completion token its handler gave out: `output` on success, or `error` ({code, message,
  // retryable}) to fail the attempt; `cost` ({name: amount}) is summed into the task's.
  // Rejects with code stale_token (not its token), conflict (not awaiting: used already,
  // or not handed over yet) or not_found; nothing changes then.
  async complete(id, token, {output = '', cost = {}, error = null} = {}) {
    const out = toBytes(output);
    const msg = {taskId: idOf(id), token, ok: error == null, output: out, cost};
    if (error != null) msg.error = {retryable: false, message: '', ...error};
    await this.call('COMPLETE', msg);
  }

  // Cancels tasks: {count, ids, requested}; `requested` lists those still running, whose
  // cancel is requested: they end `cancelled` only once their worker confirms.
  async cancelMany(ids, {reason = ''} = {}) {
    const reply = await this.call('CANCEL', {ids: ids.map(idOf), reason});
    return affected(reply);
  }

  // Cancels the unfinished rest of a batch ({count, ids, requested} as cancelMany).
  async cancelBatch(batchId, {reason = ''} = {}) {
    return affected(await this.call('CANCEL', {batchId, reason}));
  }

  // Submits a batch: {id?, tasks (each with a unique name; dependsOn by name), budget?,
  // labels?, onFailure? ('cancel_dependents', 'continue' or 'fail_fast'), subscribe?}. Resolves with {status, events}: the BatchStatus (status.tasks
  // maps each name to its task id) and, with subscribe, a Subscription that sees every
  // event from the first (else null).
  async submitBatch({subscribe = false, ...spec}) {
    const batch = normalizeBatchSpec(spec);
    let events = null;
    if (subscribe) {
      // The id is chosen here so the subscription is registered before any event can come.
      if (!batch.id && !batch.appendTo) batch.id = newId();
      events = this.register(batch.appendTo || batch.id);
    }
    try {
      const reply = await this.call('BATCH', {batch, subscribe, requestId: newRequestId()});
      return {status: reply.batch, events, warnings: this.warnAbout(reply)};
    } catch (err) {
      if (events) this.unregister(events, false);
      throw err;
    }
  }

  // Adds tasks to the running batch `batchId` (BATCH append_to): their names must be new to
  // it, their dependsOn may name its tasks. Resolves with the batch's status (tasks: every
  // name, old and new); rejects with code not_found (no such batch) or conflict (it has
  // ended, was cancelled, went over its budget or failed fast; or a name is taken).
  async appendToBatch(batchId, tasks, {labels} = {}) {
    const {status} = await this.submitBatch({appendTo: batchId, tasks, labels});
    return status;
  }

  // Waits until every task of a batch is terminal (or timeoutMs passed); resolves with
  // {status, tasks} where tasks maps each batch-local name to its TaskInfo.
  async waitBatch(batchId, {timeoutMs = 60_000} = {}) {
    const before = await this.getBatch(batchId);
    const names = Object.keys(before.tasks);
    const infos = await this.wait(names.map((n) => before.tasks[n]), {timeoutMs});
    const tasks = Object.fromEntries(names.map((n, i) => [n, infos[i]]));
    return {status: await this.getBatch(batchId), tasks};
  }

  // Follows a batch's events. When the batch has already finished, the subscription gets
  // one batch_completed event built from its status, so an iterator always ends.
  async subscribe(batchId) {
    const sub = this.register(batchId);
    try {
      await this.call('SUBSCRIBE', {batchId});
      const status = await this.getBatch(batchId);
      if (status.state !== 'running' && !sub.ended) {
        sub.push({batchId, type: 'batch_completed', taskId: '', taskName: '',
          state: status.state, done: status.total, total: status.total, progress: 0,
          message: '', error: null, cost: status.cost, tsMs: status.finishedMs});
      }
      return sub;
    } catch (err) {
      this.unregister(sub, false);
      throw err;
    }
  }

  register(batchId) {
    const sub = new Subscription(batchId, (s) => this.unregister(s, true));
    if (!this.subscriptions.has(batchId)) this.subscriptions.set(batchId, new Set());
    this.subscriptions.get(batchId).add(sub);
    return sub;
  }

  unregister(sub, tellBroker) {
    const set = this.subscriptions.get(sub.batchId);
    if (!set || !set.delete(sub)) return;
    if (set.size > 0) return;
    this.subscriptions.delete(sub.batchId);
    if (tellBroker && !this.closed) {
      this.call('SUBSCRIBE', {batchId: sub.batchId, unsubscribe: true}).catch(() => {});
    }
    sub.finish();
  }

  // After a reconnect (e.g. the broker restarted and forgot its subscribers) says SUBSCRIBE
  // again for every batch still followed. Events of the gap are not replayed.
  renewSubscriptions() {
    if (this.closed) return;
    for (const batchId of this.subscriptions.keys()) {
      this.call('SUBSCRIBE', {batchId}).catch((err) => this.emit('warning', err));
    }
  }

  // Queue statistics (queues empty: every queue), the workers connected to the broker and
  // its counters. The broker answers a page at a time; every page is read and gathered.
  async stats({queues = []} = {}) {
    const out = {queues: [], workers: [], broker: null};
    let cursor = '';
    for (let page = 0; page < MAX_STATS_PAGES; page++) {
      const reply = await this.call('STATS', {queues, cursor});
      out.queues.push(...reply.queues);
      out.workers.push(...reply.workers);
      if (reply.broker) out.broker = reply.broker;
      if (!reply.nextCursor) return out;
      if (reply.nextCursor === cursor) {
        throw new TaskmillError('internal', 'STATS: the broker returned the same cursor twice');
      }
      cursor = reply.nextCursor;
    }
    throw new TaskmillError('internal', `STATS: more than ${MAX_STATS_PAGES} pages`);
  }

  // Replaces a queue's limits and fairness (`taskmill queue limit`); resolves to the setting
  // as stored ("rate=100/s concurrency=5"). A bad one rejects naming what is allowed.
  async setQueueLimit(queue, {rate = '', concurrency = 0, costRate = '', keyLabel = '', aging = '',
    roundRobin = false} = {}) {
    const reply = await this.call('LIMIT', {queue, rate, concurrency, costRate, keyLabel, aging,
      roundRobin});
    return reply.queues.length > 0 ? reply.queues[0].limit : '';
  }

  // Removes every limit and fairness setting of the queue.
  async clearQueueLimit(queue) {
    await this.call('LIMIT', {queue, clear: true});
  }

  // One LIST page of a queue's tasks in `state` (any of docs/protocol.md 7.10 but unknown), in
  // the order of the state's index: {tasks (summaries: no output, payload or history),
  // nextCursor ('' = the last page)}. Pass nextCursor back as `cursor` for the next page. Under
  // CURVE a client sees only its own tasks.
  async listTasks(queue, state, {type = '', limit = 50, cursor = ''} = {}) {
    checkName(queue, 'queue');
    if (!LIST_TASK_STATES.includes(state)) {
      throw new InvalidSpec(`state: '${state}' is not a task state (allowed: ` +
                            `${LIST_TASK_STATES.join(', ')})`);
    }
    if (type !== '') checkName(type, 'type');
    checkPage(limit, cursor);
    const r = await this.call('LIST', {what: 'tasks', queue, state, type, limit, cursor});
    return {tasks: r.tasks, nextCursor: r.nextCursor};
  }

  // One LIST page of batches by creation ({batches, nextCursor}); state '' = any.
  async listBatches({state = '', limit = 50, cursor = ''} = {}) {
    if (state !== '' && !LIST_BATCH_STATES.includes(state)) {
      throw new InvalidSpec(`state: '${state}' is not a batch state (allowed: ` +
                            `${LIST_BATCH_STATES.join(', ')})`);
    }
    checkPage(limit, cursor);
    const r = await this.call('LIST', {what: 'batches', state, limit, cursor});
    return {batches: r.batches, nextCursor: r.nextCursor};
  }

  // UPDATE: a queued, delayed or blocked task's priority (0-255); resolves to the task as it is
  // now. A task in another state rejects with code 'conflict', an unknown one with NotFound.
  async setPriority(id, priority) {
    checkName(id, 'id');
    if (!Number.isInteger(priority) || priority < 0 || priority > 255) {
      throw new InvalidSpec(`priority: ${priority} is out of range (allowed: 0..255, higher ` +
                            'runs first)');
    }
    return updated(await this.call('UPDATE', {id, op: 'priority', priority}));
  }

  // UPDATE: makes a delayed task ready now.
  async promote(id) {
    checkName(id, 'id');
    return updated(await this.call('UPDATE', {id, op: 'promote'}));
  }

  // Pauses a queue (`taskmill queue pause`; admin role under CURVE roles): its tasks stay
  // queued and submits still work, but no broker leases any until resumeQueue. Resolves to the
  // queue as it is now ({queue, paused, ...}).
  async pauseQueue(queue) {
    const reply = await this.call('QUEUE', {op: 'pause', queue});
    return reply.queues.length > 0 ? reply.queues[0] : {queue, paused: true};
  }

  // Resumes a paused queue: idle workers on every broker claim its tasks at once.
  async resumeQueue(queue) {
    const reply = await this.call('QUEUE', {op: 'resume', queue});
    return reply.queues.length > 0 ? reply.queues[0] : {queue, paused: false};
  }

  // Quiets a worker by id, whichever broker it is on (`taskmill worker quiet`): it finishes
  // its running tasks and is leased nothing new. Rejects with NotFound if no live broker
  // knows the id. Resolves to the worker ({id, broker, quiet, ...}).
  async quietWorker(workerId) {
    const reply = await this.call('WORKER', {op: 'quiet', worker: workerId});
    return reply.workers.length > 0 ? reply.workers[0] : {id: workerId, quiet: true};
  }

  // Lets a quiet worker take tasks again.
  async unquietWorker(workerId) {
    const reply = await this.call('WORKER', {op: 'unquiet', worker: workerId});
    return reply.workers.length > 0 ? reply.workers[0] : {id: workerId, quiet: false};
  }

  dlq(op, {queue = '', ids = [], limit = 100} = {}) {
    return this.call('DLQ', {op, queue, ids, limit});
  }

  // Fails every pending call with BrokerUnavailable, ends every subscription, closes the
  // socket. Idempotent.
  async close() {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.redialTimer);
    clearTimeout(this.moveTimer);
    for (const [reqId, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(new BrokerUnavailable('the client was closed'));
      this.pending.delete(reqId);
    }
    for (const set of this.subscriptions.values()) for (const sub of set) sub.finish();
    this.subscriptions.clear();
    this.link.close();
  }
}

const LIST_TASK_STATES = TASK_STATES.filter((s) => s !== 'unknown');
const LIST_BATCH_STATES = ['running', 'succeeded', 'partial', 'failed'];
const NAME = /^[A-Za-z0-9_.-]{1,128}$/;

function checkName(value, what) {
  if (typeof value !== 'string' || !NAME.test(value)) {
    throw new InvalidSpec(`${what}: '${value}' must match [A-Za-z0-9_.-]{1,128}`);
  }
}

function checkPage(limit, cursor) {
  if (!Number.isInteger(limit) || limit < 1 || limit > 1000) {
    throw new InvalidSpec(`limit: ${limit} is out of range (allowed: 1..1000)`);
  }
  if (typeof cursor !== 'string' || cursor.length > 512 || /[^\x21-\x7e]/.test(cursor)) {
    throw new InvalidSpec("cursor: not one a broker gave (pass back a page's nextCursor)");
  }
}

function updated(reply) {
  if (reply.tasks.length === 0) {
    throw new TaskmillError('internal', "the broker's UPDATE reply carries no task");
  }
  return reply.tasks[0];
}

function affected(reply) {
  return {count: reply.count, ids: reply.ids, requested: reply.requested};
}

// How long a task's attempt has taken: for a running task the time since it started (its
// durationMs is 0 until it ends), else durationMs.
export function elapsedMs(task, nowMs = Date.now()) {
  if (task.state === 'running' && task.startedMs > 0) return Math.max(0, nowMs - task.startedMs);
  return task.durationMs;
}

export {TaskmillError};
