// A batch's onFailure (issue 22) against a live cluster with a Node worker: 'continue' hands
// a dead parent's error to its children (task.parentErrors), 'fail_fast' cancels the rest of
// the batch, a running handler included; an unknown policy is refused before sending; tasks
// appended to a running batch (appendToBatch), seen by its subscriber.

import assert from 'node:assert/strict';
import {after, before, describe, test} from 'node:test';

import {Client, InvalidSpec, PermanentError, Worker} from '../src/index.js';
import {Cluster, missingBinaries, waitFor} from './cluster.mjs';

describe('batch onFailure against a live cluster', {skip: missingBinaries() ?? false}, () => {
  let cluster;
  let client;
  let worker;
  let running;

  before(async () => {
    cluster = await new Cluster().start();
    client = new Client({broker: cluster.frontend, requestTimeoutMs: 5000});
    worker = new Worker({broker: cluster.backend, id: 'node-policy', queues: ['polq'],
      concurrency: 4, heartbeatMs: 200, handleSignals: false});
    worker.handle('die', async () => {
      throw new PermanentError('it could not', 'bad_input');
    });
    worker.handle('ok', async () => Buffer.from('fine'));
    worker.handle('summary', async (task) => Buffer.from(JSON.stringify(
        {got: JSON.parse(task.payload.toString()), batchId: task.batchId})));
    worker.handle('report', async (task) => Buffer.from(JSON.stringify({
      parents: Object.fromEntries(Object.entries(task.parents).map(([k, v]) => [k, v.toString()])),
      errors: task.parentErrors,
    })));
    worker.handle('slow', (task) => new Promise((resolve, reject) => {
      task.signal.addEventListener('abort', () => reject(new Error('stopped')));
    }));
    running = worker.run();
    await cluster.waitForWorkers(client, ['node-policy']);
  });

  after(async () => {
    worker?.stop(1000);
    await running;
    await client?.close();
    await cluster?.stop();
  });

  const t = (name, type, dependsOn = []) => ({name, type, queue: 'polq', maxAttempts: 1,
    dependsOn});

  test('continue gives the children of a dead task its error', async () => {
    const {status} = await client.submitBatch({onFailure: 'continue', tasks: [
      t('root', 'die'), t('ok', 'ok'), t('child', 'report', ['root', 'ok'])]});
    assert.equal(status.onFailure, 'continue');
    const {status: final, tasks} = await client.waitBatch(status.id, {timeoutMs: 20_000});
    assert.equal(final.state, 'partial');
    assert.equal(tasks.child.state, 'succeeded');
    assert.deepEqual(JSON.parse(tasks.child.output.toString()), {
      parents: {ok: 'fine'},
      errors: {root: {code: 'bad_input', message: 'it could not', retryable: false}},
    });
  });

  test('fail_fast cancels the rest, the running handler included', async () => {
    const {status} = await client.submitBatch({onFailure: 'fail_fast', tasks: [
      t('slow', 'slow'), t('after', 'ok', ['slow']), t('ok', 'ok'), t('doomed', 'die', ['ok'])]});
    const {status: final, tasks} = await client.waitBatch(status.id, {timeoutMs: 20_000});
    assert.equal(final.onFailure, 'fail_fast');
    assert.equal(final.state, 'partial');
    assert.equal(tasks.doomed.state, 'failed');
    assert.equal(tasks.slow.state, 'cancelled');
    assert.equal(tasks.slow.attempts, 1);
    assert.equal(tasks.after.state, 'cancelled');
    assert.equal(tasks.after.attempts, 0);
  });

  test('a finally task runs once with the batch summary', async () => {
    const {status} = await client.submitBatch({tasks: [t('root', 'die'), t('ok', 'ok')],
      finally: {type: 'summary', queue: 'polq'}});
    assert.ok(status.finallyId);
    await waitFor('the finally task to run', async () =>
      (await client.getBatch(status.id)).finallyState === 'succeeded');
    const fin = await client.get(status.finallyId);
    assert.equal(fin.attempts, 1);
    const out = JSON.parse(fin.output.toString());
    assert.equal(out.batchId, '');
    assert.equal(out.got.batch_id, status.id);
    assert.equal(out.got.state, 'partial');
    assert.deepEqual(out.got.counts, {failed: 1, succeeded: 1});
    assert.equal(out.got.tasks.ok.output, 'fine');
    assert.equal(out.got.tasks.root.error.code, 'bad_input');
  });

  test('a finally task with parents is refused before sending', async () => {
    await assert.rejects(client.submitBatch({tasks: [t('a', 'ok')],
      finally: {type: 'ok', dependsOn: ['a']}}),
    (err) => err instanceof InvalidSpec && /batch\.finally\.depends_on/.test(err.message));
  });

  test('an unknown policy is refused before sending, naming the three', async () => {
    await assert.rejects(client.submitBatch({onFailure: 'explode', tasks: [t('a', 'ok')]}),
        (err) => err instanceof InvalidSpec &&
            /allowed: cancel_dependents, continue, fail_fast/.test(err.message));
  });

  test('appended tasks join a running batch and its subscriber sees them', async () => {
    // `hold` keeps the batch running until it is cancelled.
    const {status, events} = await client.submitBatch({subscribe: true,
      tasks: [t('fetch', 'ok'), t('hold', 'slow')]});
    const grown = await client.appendToBatch(status.id, [t('report', 'report', ['fetch'])],
        {labels: {stage: 'two'}});
    assert.equal(grown.id, status.id);
    assert.equal(grown.total, 3);
    assert.deepEqual(Object.keys(grown.tasks).sort(), ['fetch', 'hold', 'report']);
    await assert.rejects(client.appendToBatch(status.id, [t('report', 'ok')]),
        (err) => err.code === 'conflict' && /already in batch/.test(err.message));
    await assert.rejects(client.appendToBatch('no-such-batch', [t('x', 'ok')]),
        (err) => err.code === 'not_found');
    await assert.rejects(client.submitBatch({appendTo: status.id, budget: {usd: 1},
      tasks: [t('y', 'ok')]}),
    (err) => err instanceof InvalidSpec && /batch\.budget: must be unset/.test(err.message));
    await waitFor('the appended task to run', async () =>
      (await client.get(grown.tasks.report)).state === 'succeeded');
    const report = await client.get(grown.tasks.report);
    assert.deepEqual(JSON.parse(report.output.toString()).parents, {fetch: 'fine'});
    await client.cancel(grown.tasks.hold);
    const seen = [];
    for await (const e of events) {
      seen.push(e);
      if (e.type === 'batch_completed') break;
    }
    assert.ok(seen.some((e) => e.type === 'task_completed' && e.taskName === 'report'),
        JSON.stringify(seen.map((e) => [e.type, e.taskName])));
    assert.equal(seen.at(-1).total, 3);
    await assert.rejects(client.appendToBatch(status.id, [t('late', 'ok')]),
        (err) => err.code === 'conflict' && /has ended/.test(err.message));
  });
});
