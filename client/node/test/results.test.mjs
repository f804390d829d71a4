// RESULT pushes (docs/protocol-messages.md 8.10) in the Node client: a task submitted with notify
// gets its result from the push without a second request; early pushes are kept (bounded);
// a push that cannot come falls back to WAIT/GET. And a CANCEL's REPLY alone says which
// tasks still run (`requested`, protocol-messages.md 8.5): no follow-up GET.

import assert from 'node:assert/strict';
import {test} from 'node:test';

import * as zmq from 'zeromq';

import {Client} from '../src/index.js';
import {decodeFrames, encodeFrames} from '../src/codec.js';

const done = (id, output) => ({id, state: 'succeeded', output: Buffer.from(output)});

// A ROUTER answering every request at once: SUBMIT with ids "t<reqId>-<i>" and, when `push`
// and notify, each task's RESULT (output "pushed") right after; WAIT and GET with succeeded
// tasks (output "asked"); CANCEL with every id (a batch: "b-1", "run-b-2"), those starting
// "run" as `requested`.
async function answeringBroker({push = true, endpoint = 'tcp://127.0.0.1:*'} = {}) {
  const router = new zmq.Router({linger: 0});
  for (let tries = 0; ; tries++) {
    try {
      await router.bind(endpoint);
      break;
    } catch (err) {
      if (tries > 100) throw err;  // a port just closed is released asynchronously
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  const requests = [];
  const reading = (async () => {
    try {
      for await (const [identity, ...frames] of router) {
        const {command, message} = decodeFrames(frames);
        requests.push(command);
        const out = [];
        if (command === 'SUBMIT') {
          const ids = message.tasks.map((_, i) => `t${message.reqId}-${i}`);
          out.push(['REPLY', {reqId: message.reqId, ids}]);
          if (push && message.notify) for (const id of ids) out.push(['RESULT', {task: done(id, 'pushed')}]);
        } else if (command === 'CANCEL') {
          const ids = message.ids.length > 0 ? message.ids : ['b-1', 'run-b-2'];
          const requested = ids.filter((id) => id.startsWith('run'));
          out.push(['REPLY', {reqId: message.reqId, ids, count: ids.length, requested}]);
        } else if (command === 'WAIT' || command === 'GET') {
          out.push(['REPLY', {reqId: message.reqId, tasks: message.ids.map((id) => done(id, 'asked'))}]);
        } else {
          out.push(['REPLY', {reqId: message.reqId}]);
        }
        for (const [c, m] of out) await router.send([identity, ...encodeFrames(c, m)]);
      }
    } catch {
      // closed
    }
  })();
  return {
    endpoint: router.lastEndpoint,
    requests,
    count: (command) => requests.filter((c) => c === command).length,
    async close() {
      router.close();
      await reading;
    },
  };
}

test('a notified task gets its result from the push, without a second request', async () => {
  const broker = await answeringBroker();
  const client = new Client({broker: broker.endpoint});
  try {
    const job = await client.submit({type: 'echo', payload: 'x'}, {notify: true});
    const task = await job.waitUntilFinished({timeoutMs: 5000});
    assert.equal(task.output.toString(), 'pushed');
    assert.deepEqual(broker.requests, ['SUBMIT']);
  } finally {
    await client.close();
    await broker.close();
  }
});

test('early results are kept, bounded, and a dropped one is asked for', async () => {
  const broker = await answeringBroker();
  const client = new Client({broker: broker.endpoint, maxKeptResults: 2});
  try {
    const jobs = await client.submitMany([{type: 'echo'}, {type: 'echo'}, {type: 'echo'}],
        {notify: true});
    await client.stats();  // its reply comes after the three pushes
    const outs = [];
    for (const job of jobs) outs.push((await client.result(job, {timeoutMs: 5000})).output.toString());
    assert.deepEqual(outs, ['asked', 'pushed', 'pushed']);
    assert.equal(broker.count('WAIT'), 1);
  } finally {
    await client.close();
    await broker.close();
  }
});

test('a push that never comes is read from the broker at the deadline', async () => {
  const broker = await answeringBroker({push: false});
  const client = new Client({broker: broker.endpoint});
  try {
    const job = await client.submit({type: 'echo'}, {notify: true});
    const task = await client.waitResult(job, {timeoutMs: 200});
    assert.equal(task.output.toString(), 'asked');
    assert.equal(broker.count('GET'), 1);
  } finally {
    await client.close();
    await broker.close();
  }
});

test('after a reconnect a waiter asks the broker instead of waiting for a push', async () => {
  let broker = await answeringBroker({push: false});
  const endpoint = broker.endpoint;
  const client = new Client({broker: endpoint, heartbeatMs: 100});
  try {
    const job = await client.submit({type: 'echo'}, {notify: true});
    const start = Date.now();
    // Without the fallback it would wait out its whole timeout for a push that cannot come.
    const waiting = client.waitResult(job, {timeoutMs: 20_000});
    await broker.close();                                 // the broker goes away ...
    broker = await answeringBroker({push: false, endpoint});  // ... and comes back
    const task = await waiting;
    assert.ok(Date.now() - start < 12_000);
    assert.equal(task.output.toString(), 'asked');
    assert.equal(broker.count('WAIT'), 1);
  } finally {
    await client.close();
    await broker.close();
  }
});

test('a cancel reply says which tasks still run, without a second request', async () => {
  const broker = await answeringBroker();
  const client = new Client({broker: broker.endpoint});
  try {
    const affected = await client.cancelMany(['done-1', 'run-2', 'done-3']);
    assert.deepEqual(affected,
        {count: 3, ids: ['done-1', 'run-2', 'done-3'], requested: ['run-2']});
    assert.deepEqual((await client.cancelBatch('B1')).requested, ['run-b-2']);
    assert.equal(await client.cancel('run-9'), 1);
    assert.deepEqual(broker.requests, ['CANCEL', 'CANCEL', 'CANCEL']);
  } finally {
    await client.close();
    await broker.close();
  }
});
