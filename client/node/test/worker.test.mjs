// The Node worker and the README examples against a real cluster: the worker example
// serves tasks the taskmill CLI submits; the submit and batch examples run as they are;
// the README holds each example verbatim.

import assert from 'node:assert/strict';
import {execFile} from 'node:child_process';
import {readFileSync} from 'node:fs';
import {dirname, join} from 'node:path';
import {after, before, describe, test} from 'node:test';
import {fileURLToPath} from 'node:url';
import {promisify} from 'node:util';

import {Client, PermanentError, Worker, elapsedMs} from '../src/index.js';
import {Cluster, cliBin, missingBinaries, waitFor} from './cluster.mjs';

const run = promisify(execFile);
const nodeDir = join(dirname(fileURLToPath(import.meta.url)), '..');
const example = (name) => join(nodeDir, 'examples', name);

test('the README shows every example verbatim', () => {
  const readme = readFileSync(join(nodeDir, 'README.md'), 'utf8');
  for (const name of ['submit.mjs', 'batch.mjs', 'worker.mjs']) {
    assert.ok(readme.includes(readFileSync(example(name), 'utf8')), `${name} not in README.md`);
  }
  assert.ok(readFileSync(example('submit.mjs'), 'utf8').trim().split('\n').length <= 10);
});

describe('node worker and examples against a live cluster', {skip: missingBinaries() ?? false}, () => {
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

  const cli = (...args) => run(cliBin, ['--broker', cluster.frontend, '--json', ...args],
      {timeout: 20_000}).catch((err) => err);

  test('the worker example serves tasks from the CLI and drains on SIGTERM', async () => {
    const worker = cluster.spawn(process.execPath, [example('worker.mjs')],
        {TASKMILL_WORKER_BROKER: cluster.backend, TASKMILL_ID: 'node-example'});
    await cluster.waitForWorkers(client, ['node-example']);

    const ok = await cli('submit', '--type', 'resize', '--payload', '{"width": 64}', '--wait');
    const task = JSON.parse(ok.stdout);
    assert.equal(task.state, 'succeeded', ok.stdout);
    assert.deepEqual(JSON.parse(task.output), {width: 64, height: 32});
    assert.equal(task.cost.usd, 0.064);
    assert.equal(task.worker, 'node-example');

    const bad = await cli('submit', '--type', 'resize', '--payload', '{"width": 0}', '--wait');
    assert.equal(bad.code, 1);
    const failed = JSON.parse(bad.stdout);
    assert.equal(failed.state, 'failed');
    assert.equal(failed.attempts, 1, 'a PermanentError is not retried');
    assert.match(failed.error.message, /bad width 0/);

    worker.kill('SIGTERM');
    assert.deepEqual(await worker.exited, {code: 0, signal: null});
    await waitFor('the worker to leave', async () =>
      !(await client.stats()).workers.some((w) => w.id === 'node-example'));
  });

  test('the submit and batch examples run against C++ workers', async () => {
    cluster.startCppWorker('cpp-ex', ['--concurrency', '4']);
    await cluster.waitForWorkers(client, ['cpp-ex']);
    const env = {...process.env, TASKMILL_BROKER: cluster.frontend};
    const submit = await run(process.execPath, [example('submit.mjs')], {env, timeout: 20_000});
    assert.equal(submit.stdout, '0 hello\n');
    const batch = await run(process.execPath, [example('batch.mjs')], {env, timeout: 20_000});
    const lines = batch.stdout.trim().split('\n');
    assert.equal(lines.at(-1), 'succeeded DATAatad usd=0.25');
    assert.match(lines.at(-2), /^batch_completed {2}4\/4$/);
  });

  test('cancel reaches the handler as an abort signal; progress becomes events', async () => {
    const w = new Worker({broker: cluster.backend, id: 'node-inproc', queues: ['nodeq'],
      concurrency: 2, heartbeatMs: 200, handleSignals: false});
    const started = [];
    w.handle('block', (task) => new Promise((resolve, reject) => {
      started.push(task.id);
      task.signal.addEventListener('abort', () => reject(new Error('stopped')));
    }));
    w.handle('steps', async (task) => {
      task.progress(0.5, 'half');
      task.addCost('tokens_in', 100);
      task.addCost('tokens_in', 20);
      return Buffer.concat([Buffer.from('got:'), task.parents.first ?? Buffer.alloc(0)]);
    });
    w.handle('never', async () => {
      throw new PermanentError('no', 'refused');
    });
    let release;
    const released = new Promise((resolve) => { release = resolve; });
    const stubborn = new Map();  // task id -> Task of each 'stubborn' attempt
    w.handle('stubborn', (task) => {  // ignores its abort until the test lets it go
      stubborn.set(task.id, task);
      return released;
    });
    const running = w.run();
    try {
      await cluster.waitForWorkers(client, ['node-inproc']);
      const {id} = await client.submit({type: 'block', queue: 'nodeq', maxAttempts: 1});
      await waitFor('the handler to start', () => started.includes(id));
      assert.equal(await client.cancel(id), 1);
      const cancelled = await client.wait(id, {timeoutMs: 10_000});
      assert.equal(cancelled.state, 'cancelled');

      // While its handler still runs, a cancelled task is only "cancel requested", and
      // its elapsed time grows where durationMs stays 0.
      const {id: held} = await client.submit({type: 'stubborn', queue: 'nodeq', maxAttempts: 1});
      await waitFor('the task to run for a while', async () => {
        const t = await client.get(held);
        return t.state === 'running' && elapsedMs(t) >= 50;
      });
      assert.equal((await client.get(held)).durationMs, 0);
      const asked = await client.cancelMany([held]);
      assert.equal(asked.count, 1);
      assert.deepEqual(asked.requested, [held]);
      // The reply does not wait for the worker: its CANCEL_TASK is a separate message that
      // may come after this line. Let the handler go only once the abort has reached it, so
      // that 'late' is a result returned after the cancel (a result returned before the
      // worker hears of it is a success, protocol-messages.md 8.18).
      await waitFor('the cancel to reach the handler', () => stubborn.get(held)?.signal.aborted);
      release('late');
      assert.equal((await client.wait(held, {timeoutMs: 10_000})).state, 'cancelled');

      const {status, events} = await client.submitBatch({subscribe: true, tasks: [
        {name: 'first', type: 'steps', queue: 'nodeq', payload: 'p'},
        {name: 'second', type: 'steps', queue: 'nodeq', dependsOn: ['first']},
      ]});
      const seen = [];
      for await (const e of events) seen.push(e);
      assert.ok(seen.some((e) => e.type === 'task_progress' && e.progress === 0.5 &&
          e.message === 'half'));
      const {tasks, status: final} = await client.waitBatch(status.id);
      assert.equal(tasks.second.output.toString(), 'got:got:');
      assert.equal(final.cost.tokens_in, 240);

      const {id: never} = await client.submit({type: 'never', queue: 'nodeq'});
      const t = await client.wait(never, {timeoutMs: 10_000});
      assert.equal(t.state, 'failed');
      assert.deepEqual(t.error, {code: 'refused', message: 'no', retryable: false});
    } finally {
      release('late');
      w.stop(1000);
      await running;
    }
  });
});
