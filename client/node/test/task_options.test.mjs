// Issue 22 task options against a real cluster (broker with embedded redis-server, a C++
// worker): expiresInMs (the terminal state `expired`), delayMs (the broker's clock) and
// idempotencyTtlMs.

import assert from 'node:assert/strict';
import {after, before, describe, test} from 'node:test';

import {Client, TaskFailed} from '../src/index.js';
import {Cluster, missingBinaries, waitFor} from './cluster.mjs';

const skip = missingBinaries();

describe('task options against a live cluster', {skip: skip ?? false}, () => {
  let cluster;
  let client;

  before(async () => {
    cluster = await new Cluster().start();
    cluster.startCppWorker('w1', ['--concurrency', '2']);
    client = new Client({broker: cluster.frontend, requestTimeoutMs: 5000});
    await cluster.waitForWorkers(client, ['w1']);
  });

  after(async () => {
    await client?.close();
    await cluster?.stop();
  });

  test('a task not started in time ends expired and never runs', async () => {
    // No worker serves this queue: it waits past its deadline.
    const {id} = await client.submit({type: 'echo', queue: 'nodeexpire', expiresInMs: 300});
    const task = await client.wait(id, {timeoutMs: 20_000});
    assert.equal(task.state, 'expired');
    assert.equal(task.attempts, 0);
    assert.equal(task.error.code, 'expired');
    assert.ok(Number(task.finishedMs) - Number(task.createdMs) >= 300);
    await assert.rejects(client.result(id, {timeoutMs: 5000}),
        (err) => err instanceof TaskFailed && err.state === 'expired' &&
          err.error.code === 'expired');
    const stats = await client.stats();
    const q = stats.queues.find((x) => x.queue === 'nodeexpire');
    assert.ok(Number(q.expired) >= 1);
  });

  test('delayMs counts from the broker\'s clock', async () => {
    const {id} = await client.submit({type: 'echo', payload: 'later', delayMs: 500});
    assert.equal((await client.get(id)).state, 'delayed');
    const task = await client.result(id, {timeoutMs: 20_000});
    assert.ok(Number(task.startedMs) - Number(task.createdMs) >= 500);
  });

  test('an idempotency key with its own TTL is forgotten after it', async () => {
    const spec = {type: 'echo', idempotencyKey: 'node-ttl-1', idempotencyTtlMs: 1000};
    const {id: first} = await client.submit(spec);
    assert.equal((await client.submit(spec)).id, first);
    // Redis forgets it on its own clock: resubmit until a new task comes back (bounded).
    const again = await waitFor('the key to be forgotten', async () => {
      const {id} = await client.submit(spec);
      return id !== first ? id : null;
    }, 10_000, 100);
    assert.notEqual(again, first);
  });
});
