// Reconnects against a real cluster: a Node worker keeps the tasks it holds across a new
// connection (READY lists them), and a client keeps its subscriptions across a broker
// restart (it says SUBSCRIBE again when the socket reconnects).

import assert from 'node:assert/strict';
import {after, before, describe, test} from 'node:test';

import {Client, Worker} from '../src/index.js';
import {Cluster, missingBinaries, waitFor} from './cluster.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// A worker whose 'hold' handler blocks until release(id) is called.
function holdingWorker(cluster, id, queue) {
  const w = new Worker({broker: cluster.backend, id, queues: [queue], heartbeatMs: 200,
    handleSignals: false});
  const held = new Map();  // task id -> release
  w.handle('hold', (task) => new Promise((resolve) => held.set(task.id, resolve)));
  w.handle('echo', async (task) => task.payload);
  const release = (taskId) => held.get(taskId)(`released ${taskId}`);
  return {w, held, release};
}

describe('reconnects against a live cluster', {skip: missingBinaries() ?? false}, () => {
  let cluster;
  let client;

  before(async () => {
    cluster = await new Cluster().start();
    client = new Client({broker: cluster.frontend, requestTimeoutMs: 5000, heartbeatMs: 200});
  });

  after(async () => {
    await client?.close();
    await cluster?.stop();
  });

  test('a task survives a worker reconnect: READY lists it, its DONE is accepted', async () => {
    const {w, held, release} = holdingWorker(cluster, 'node-rc', 'rcq');
    const running = w.run();
    try {
      await cluster.waitForWorkers(client, ['node-rc']);
      const {id} = await client.submit({type: 'hold', queue: 'rcq', maxAttempts: 3});
      await waitFor('the handler to start', () => held.has(id));
      w.connect();  // a new connection, as after a silent broker
      await sleep(600);  // the broker handles the new READY (and would fail the task here)
      const during = await client.get(id);
      assert.equal(during.state, 'running');
      assert.equal(during.attempts, 1);
      release(id);
      const task = await client.wait(id, {timeoutMs: 10_000});
      assert.equal(task.state, 'succeeded', JSON.stringify(task.error));
      assert.equal(task.attempts, 1);
      assert.equal(task.output.toString(), `released ${id}`);

      // A DONE still unsent when the link is replaced goes out after the new READY.
      const {id: id2} = await client.submit({type: 'hold', queue: 'rcq', maxAttempts: 3});
      await waitFor('the handler to start', () => held.has(id2));
      release(id2);
      await waitFor('the DONE to be queued', () => w.unsent.size > 0 || w.running.size === 0, 5000, 0);
      w.connect();
      const task2 = await client.wait(id2, {timeoutMs: 10_000});
      assert.equal(task2.state, 'succeeded', JSON.stringify(task2.error));
      assert.equal(task2.attempts, 1);
    } finally {
      w.stop(1000);
      await running;
    }
  });

  test('a subscription and a held task survive a broker restart', {timeout: 30_000}, async () => {
    const {w, held, release} = holdingWorker(cluster, 'node-rs', 'rsq');
    const running = w.run();
    try {
      await cluster.waitForWorkers(client, ['node-rs']);
      const {status, events} = await client.submitBatch({subscribe: true, tasks: [
        {name: 'first', type: 'hold', queue: 'rsq', payload: 'p'},
        {name: 'second', type: 'echo', queue: 'rsq', payload: 'after', dependsOn: ['first']},
      ]});
      const first = status.tasks.first;
      await waitFor('the handler to start', () => held.has(first));

      const frontend = cluster.frontend;
      await cluster.restartBroker();
      assert.equal(cluster.frontend, frontend);
      // The worker registers again with the new broker (the client reconnects too, and says
      // SUBSCRIBE again before this STATS on the same connection).
      await cluster.waitForWorkers(client, ['node-rs'], 15_000);
      release(first);

      const seen = [];
      for await (const e of events) seen.push(e);
      const last = seen.at(-1);
      assert.equal(last.type, 'batch_completed');
      assert.equal(last.state, 'succeeded');
      assert.ok(seen.some((e) => e.type === 'task_completed' && e.taskName === 'second'),
          JSON.stringify(seen.map((e) => `${e.type}:${e.taskName}`)));
      const {tasks} = await client.waitBatch(status.id, {timeoutMs: 10_000});
      assert.equal(tasks.first.attempts, 1);
      assert.equal(tasks.second.output.toString(), 'after');
    } finally {
      w.stop(1000);
      await running;
    }
  });
});
