// The broker's caps as the Node client sees them: a full queue rejects with QueueFull, an
// over-cap payload or request with InvalidSpec naming the limit, and local checks refuse
// out-of-range fields before anything is sent.

import assert from 'node:assert/strict';
import {after, before, describe, test} from 'node:test';

import {Client, InvalidSpec, QueueFull, TaskmillError, Worker} from '../src/index.js';
import {Cluster, missingBinaries} from './cluster.mjs';

const skip = missingBinaries();

describe('broker caps', {skip: skip ?? false}, () => {
  let cluster;
  let client;

  before(async () => {
    cluster = await new Cluster().start({brokerArgs: ['--max-queue-depth', '2',
      '--max-payload-bytes', '1024', '--max-batch-tasks', '3']});
    client = new Client({broker: cluster.frontend, requestTimeoutMs: 5000});
  });

  after(async () => {
    await client?.close();
    await cluster?.stop();
  });

  test('a full queue rejects the whole submit with QueueFull', async () => {
    await client.submitMany([{type: 'echo', queue: 'capped'}, {type: 'echo', queue: 'capped'}]);
    await assert.rejects(client.submit({type: 'echo', queue: 'capped'}), (err) =>
      err instanceof QueueFull && err instanceof TaskmillError && err.code === 'queue_full' &&
        err.message === 'queue capped holds 2 waiting tasks, its cap is 2; this request would add 1');
  });

  test('the broker names its payload and request-size caps', async () => {
    await assert.rejects(client.submit({type: 'echo', queue: 'p', payload: 'x'.repeat(1025)}),
        (err) => err instanceof InvalidSpec &&
          err.message === 'tasks[0].payload: 1025 bytes is over the limit of 1024');
    const four = Array.from({length: 4}, (_, i) => ({type: 'echo', queue: `q${i}`}));
    await assert.rejects(client.submitMany(four), (err) => err instanceof InvalidSpec &&
        err.message.includes('4 tasks is over the limit of 3'));
  });

  test('a worker reports an over-size output as output_too_large instead of sending it',
      async () => {
        const w = new Worker({broker: cluster.backend, id: 'node-caps', queues: ['big'],
          heartbeatMs: 200, handleSignals: false, maxOutputBytes: 1024});
        w.handle('big', async (task) => Buffer.alloc(Number(task.payload.toString()), 'o'));
        const running = w.run();
        try {
          const [over, fits] = await client.submitMany([
            {type: 'big', queue: 'big', payload: '1025', maxAttempts: 3},
            {type: 'big', queue: 'big', payload: '1024'},
          ]);
          const [a, b] = await client.wait([over, fits], {timeoutMs: 20_000});
          assert.equal(a.state, 'failed');
          assert.equal(a.attempts, 1);
          assert.equal(a.error.code, 'output_too_large');
          assert.equal(a.error.retryable, false);
          assert.match(a.error.message, /1025 bytes/);
          assert.equal(b.state, 'succeeded');
          assert.equal(b.output.length, 1024);
        } finally {
          w.stop(1000);
          await running;
        }
      });
});

describe('local validation', () => {
  test('out-of-range fields are refused before sending, saying what is allowed', async () => {
    const client = new Client({broker: 'tcp://127.0.0.1:1', requestTimeoutMs: 200});
    try {
      for (const [spec, text] of [
        [{type: 'echo', priority: 256}, 'tasks[0].priority: 256 is out of range (allowed: integers 0..255)'],
        [{type: 'echo', priority: 1.5}, 'priority: 1.5 is out of range'],
        [{type: 'echo', timeoutMs: -1}, 'timeout_ms: -1 is out of range'],
        [{type: 'echo', maxAttempts: 0}, 'max_attempts: 0 is out of range (1..1000)'],
        [{type: 'bad type'}, "type: 'bad type' must match"],
        [{type: 'echo', queue: ''}, "queue: '' must match"],
      ]) {
        await assert.rejects(client.submit(spec), (err) => err instanceof InvalidSpec &&
            err.message.includes(text), `${JSON.stringify(spec)} -> ${text}`);
      }
    } finally {
      await client.close();
    }
  });
});
