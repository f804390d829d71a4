// Completion modes (issue 19) against a real cluster: a Node handler hands its task to an
// "outside system" (returns new Awaiting()), and the Node client completes it with the token.

import assert from 'node:assert/strict';
import {after, before, describe, test} from 'node:test';

import {Awaiting, Client, Poll, Worker} from '../src/index.js';
import {Cluster, missingBinaries, waitFor} from './cluster.mjs';

describe('completion modes against a live cluster', {skip: missingBinaries() ?? false}, () => {
  let cluster;
  let client;
  let worker;
  let running;
  const tokens = new Map();  // task id -> the token its latest attempt gave out

  before(async () => {
    cluster = await new Cluster().start();
    client = new Client({broker: cluster.frontend, requestTimeoutMs: 5000});
    worker = new Worker({broker: cluster.backend, id: 'node-await', queues: ['nodeawait'],
      concurrency: 1, heartbeatMs: 200, handleSignals: false});
    worker.handle('hand_over', (task) => {
      tokens.set(task.id, task.completionToken);
      task.addCost('usd', 0.5);
      return new Awaiting({deadlineMs: Number(task.payload.toString() || '0')});
    });
    worker.handle('check', (task) => {
      if (task.payload.toString() === 'forever') {
        return new Poll({afterMs: 20, state: 'x', maxWaitMs: 200});
      }
      const n = Number(task.pollState.toString() || '0');
      return n < 3 ? new Poll({afterMs: 20, state: String(n + 1)}) :
        `${n} checks, attempt ${task.attempt}`;
    });
    running = worker.run();
    await cluster.waitForWorkers(client, ['node-await']);
  });

  after(async () => {
    worker?.stop(0);
    await running;
    await client?.close();
    await cluster?.stop();
  });

  const awaiting = (id) => waitFor(`${id} awaiting`,
      async () => (await client.get(id)).state === 'awaiting', 20_000);

  test('a wrong token changes nothing; the right one completes once', async () => {
    const {id} = await client.submit({type: 'hand_over', queue: 'nodeawait'});
    await awaiting(id);
    const token = tokens.get(id);
    assert.match(token, /^[0-9a-f]{32}$/);
    await assert.rejects(client.complete(id, 'f'.repeat(32), {output: 'forged'}),
        (err) => err.code === 'stale_token');
    assert.equal((await client.get(id)).state, 'awaiting');
    await client.complete(id, token, {output: 'paid', cost: {usd: 0.25}});
    const done = await client.result(id, {timeoutMs: 20_000});
    assert.equal(done.state, 'succeeded');
    assert.equal(done.output.toString(), 'paid');
    assert.equal(done.cost.usd, 0.75);
    await assert.rejects(client.complete(id, token, {output: 'again'}),
        (err) => err.code === 'conflict');
  });

  test('polled checks keep their state, use no attempt and end', async () => {
    const {id} = await client.submit({type: 'check', queue: 'nodeawait', maxAttempts: 1});
    const done = await client.result(id, {timeoutMs: 20_000});
    assert.equal(done.output.toString(), '3 checks, attempt 1');
    assert.equal(done.attempts, 1);
    const {id: forever} = await client.submit(
        {type: 'check', queue: 'nodeawait', payload: 'forever', maxAttempts: 1});
    const failed = await client.wait(forever, {timeoutMs: 20_000});
    assert.equal(failed.state, 'failed');
    assert.equal(failed.error.code, 'poll_expired');
    assert.equal(failed.attempts, 1);
  });

  test('a failed completion and a passed deadline', async () => {
    const {id: failed} = await client.submit(
        {type: 'hand_over', queue: 'nodeawait', maxAttempts: 1});
    await awaiting(failed);
    await client.complete(failed, tokens.get(failed),
        {error: {code: 'declined', message: 'no', retryable: true}});
    const {id: expired} = await client.submit(
        {type: 'hand_over', queue: 'nodeawait', payload: '150', maxAttempts: 1});
    const dead = await client.wait(expired, {timeoutMs: 20_000});
    assert.equal(dead.state, 'failed');
    assert.equal((await client.get(expired)).error.code, 'await_expired');
    const f = await client.get(failed);
    assert.equal(f.state, 'failed');
    assert.equal(f.error.code, 'declined');
  });
});
