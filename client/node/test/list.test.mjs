// LIST and UPDATE from the Node client against a real cluster (broker with embedded
// redis-server, a C++ worker): pages with no repeat or skip, the type filter, a priority change
// that reorders claims (one slot), a promoted delayed task, conflicts, batches.

import assert from 'node:assert/strict';
import {after, before, describe, test} from 'node:test';

import {Client, InvalidSpec, NotFound} from '../src/index.js';
import {Cluster, missingBinaries} from './cluster.mjs';

const skip = missingBinaries();

async function all(client, queue, state, {type = '', limit = 2} = {}) {
  const ids = [];
  let cursor = '';
  for (let n = 0; n < 100; n++) {
    const page = await client.listTasks(queue, state, {type, limit, cursor});
    ids.push(...page.tasks.map((t) => t.id));
    if (page.nextCursor === '') return ids;
    assert.notEqual(page.nextCursor, cursor, 'the cursor did not move');
    cursor = page.nextCursor;
  }
  throw new Error('more than 100 pages');
}

describe('LIST and UPDATE against a live cluster', {skip: skip ?? false}, () => {
  let cluster;
  let client;

  before(async () => {
    cluster = await new Cluster().start();
    client = new Client({broker: cluster.frontend, requestTimeoutMs: 5000});
  });

  after(async () => {
    await client?.close();
    await cluster?.stop();
  });

  test('pages, priority, promote, then one slot runs them in the listed order', async () => {
    const sub = async (spec) => (await client.submit({queue: 'nodelist', ...spec})).id;
    const a = await sub({type: 'echo', payload: 'a'});
    const b = await sub({type: 'echo', payload: 'b'});
    const c = await sub({type: 'echo', payload: 'c'});
    const s = await sub({type: 'sleep', payload: {ms: 1}});
    const later = await sub({type: 'echo', notBeforeMs: Date.now() + 3_600_000});
    assert.deepEqual(await all(client, 'nodelist', 'queued'), [a, b, c, s]);
    assert.deepEqual(await all(client, 'nodelist', 'queued', {type: 'sleep'}), [s]);
    const delayed = await client.listTasks('nodelist', 'delayed');
    assert.deepEqual(delayed.tasks.map((t) => t.id), [later]);
    assert.ok(delayed.tasks[0].readyAtMs > Date.now());

    const moved = await client.setPriority(c, 9);
    assert.equal(moved.priority, 9);
    assert.equal((await client.promote(later)).state, 'queued');
    assert.deepEqual(await all(client, 'nodelist', 'queued', {limit: 50}), [c, a, b, s, later]);
    await assert.rejects(client.promote(c), (e) => e.code === 'conflict' && /queued/.test(e.message));
    await assert.rejects(client.setPriority('01JD0000000000000000000099', 1), NotFound);
    await assert.rejects(client.listTasks('nodelist', 'sleeping'),
        (e) => e instanceof InvalidSpec && /allowed: queued, delayed/.test(e.message));
    await assert.rejects(client.setPriority(c, 256), InvalidSpec);

    cluster.startCppWorker('nodelist-w', ['--concurrency', '1', '--queues', 'nodelist']);
    const done = [];
    for (const id of [a, b, c, s, later]) done.push(await client.wait(id, {timeoutMs: 30_000}));
    assert.ok(done.every((t) => t.state === 'succeeded'));
    // Claimed one at a time in that order (equal milliseconds are possible, never a reversal).
    const started = new Map(done.map((t) => [t.id, t.startedMs]));
    const order = [c, a, b, s, later].map((id) => started.get(id));
    assert.deepEqual(order, [...order].sort((x, y) => x - y));
    const finished = await all(client, 'nodelist', 'succeeded');
    assert.deepEqual([...finished].sort(), [a, b, c, s, later].sort());

    const batches = await client.listBatches({limit: 1000});
    assert.ok(Array.isArray(batches.batches));
    assert.equal(batches.nextCursor, '');
  });
});
