// Timeouts and cancels hold in the Node worker whatever the handler does, and failures are
// said out loud. Against a fake broker (no build needed).

import assert from 'node:assert/strict';
import {readFileSync} from 'node:fs';
import {afterEach, beforeEach, test} from 'node:test';

import {Worker} from '../src/index.js';
import {FakeBroker} from './fake_broker.mjs';

let broker;
let worker;
let running;
let warnings;

beforeEach(async () => {
  broker = await new FakeBroker().start();
  warnings = [];
});

afterEach(async () => {
  worker?.stop(0);
  await running;
  worker = null;
  broker.close();
});

async function start(handlers, options = {}) {
  worker = new Worker({broker: broker.endpoint, id: 'node-stop', queues: ['q'], concurrency: 2,
    heartbeatMs: 50, liveness: 100, handleSignals: false, warn: (m) => warnings.push(m),
    ...options});
  for (const [type, fn] of Object.entries(handlers)) worker.handle(type, fn);
  running = worker.run();
  await broker.waitFor('READY');
}

// Waits for its abort, then resolves anyway: the stop must still win.
const succeedOnceAborted = (task) => new Promise((resolve) => {
  task.signal.addEventListener('abort', () => resolve('late output'));
});

test('a success after the timeout is a timeout without output', async () => {
  await start({stubborn: succeedOnceAborted});
  await broker.task('T1', 'stubborn', {timeoutMs: 100});
  const done = await broker.waitFor('DONE');
  assert.equal(done.ok, false);
  assert.equal(done.error.code, 'timeout');
  assert.equal(done.error.retryable, true);
  assert.equal(done.output?.length ?? 0, 0);
});

test('a success after a cancel is cancelled without output', async () => {
  await start({stubborn: succeedOnceAborted});
  await broker.task('T1', 'stubborn', {token: 3});
  await broker.send('CANCEL_TASK', {taskId: 'T1', token: 3, reason: 'user'});
  const done = await broker.waitFor('DONE');
  assert.equal(done.ok, false);
  assert.equal(done.error.code, 'cancelled');
  assert.equal(done.error.retryable, false);
  assert.equal(done.output?.length ?? 0, 0);
});

test('a handler ignoring its abort past the grace is reported and its slot lost', async () => {
  let release;
  let settled = false;
  const gate = new Promise((resolve) => {
    release = resolve;
  });
  await start({deaf: async () => {
    await gate;  // never looks at task.signal
    settled = true;
    return 'too late';
  }}, {cancelGraceMs: 100});
  try {
    await broker.task('T1', 'deaf', {timeoutMs: 100});
    const done = await broker.waitFor('DONE');
    assert.equal(settled, false, 'reported only after the handler settled');
    assert.equal(done.error.code, 'timeout');
    assert.match(done.error.message, /lost its slot/);
    const from = broker.history.length;
    const hb = await broker.waitFor('HEARTBEAT', {from});
    assert.equal(hb.free, 1);
    assert.ok(warnings.some((w) => /ignored its timeout/.test(w)), warnings.join('\n'));
  } finally {
    release();
  }
  await broker.waitFor('HEARTBEAT', {pred: (h) => h.free === 2, from: broker.history.length});
  assert.ok(broker.history.filter((m) => m.command === 'DONE').every((m) => !m.message.ok));
});

// The code every worker runtime uses for an exception: the shared protocol vector's.
const handlerException = JSON.parse(readFileSync(new URL(
    '../../../shared/protocol/vectors/done_handler_exception.json', import.meta.url))).body.error;

test('a thrown error is handler_exception with its stack, logged at warning', async () => {
  await start({boom: async function boom() {
    throw new RangeError('kaboom');
  }});
  await broker.task('T1', 'boom');
  const done = await broker.waitFor('DONE');
  assert.equal(handlerException.code, 'handler_exception');
  assert.equal(done.error.code, handlerException.code);
  assert.equal(done.error.retryable, handlerException.retryable);
  assert.match(done.error.message, /^RangeError: kaboom\n\s+at boom/);
  assert.ok(done.error.message.length < 4100);
  assert.ok(warnings.some((w) => /T1.*handler_exception: RangeError: kaboom/.test(w)),
      warnings.join('\n'));
});

test('workers read TASKMILL_WORKER_BROKER, never TASKMILL_BROKER', () => {
  const saved = {...process.env};
  try {
    process.env.TASKMILL_BROKER = 'tcp://127.0.0.1:5555';
    delete process.env.TASKMILL_WORKER_BROKER;
    const seen = [];
    assert.equal(new Worker({warn: (m) => seen.push(m)}).broker, 'tcp://127.0.0.1:5556');
    assert.ok(seen.some((m) => m.includes('TASKMILL_WORKER_BROKER')));
    process.env.TASKMILL_WORKER_BROKER = 'tcp://127.0.0.1:7777';
    assert.equal(new Worker().broker, 'tcp://127.0.0.1:7777');
  } finally {
    process.env = saved;
  }
});

test('unknown worker options are rejected', () => {
  assert.throws(() => new Worker({concurency: 4}), /unknown option 'concurency'/);
});

test('a worker on the client port says so', async () => {
  await start({echo: (t) => t.payload});
  await broker.send('REPLY', {reqId: 0, error: {code: 'unknown_command',
    message: 'READY is not a client command'}});
  const deadline = Date.now() + 10_000;
  while (!warnings.some((w) => /client port/.test(w)) && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  assert.ok(warnings.some((w) => /client port/.test(w) && /5556/.test(w)), warnings.join('\n'));
});
