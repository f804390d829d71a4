// The Node client against a real cluster: broker with embedded redis-server and a C++
// taskmill-worker, on loopback ports chosen by the kernel.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {after, before, describe, test} from 'node:test';

import {BrokerUnavailable, Client, InvalidSpec, Job, NotFound, TaskFailed} from
  '../src/index.js';
import {Cluster, missingBinaries, waitFor} from './cluster.mjs';

const skip = missingBinaries();
const sh = (script) => ({argv: ['sh', '-c', script]});

// Typos are refused, not ignored: option names and spec fields (no broker needed).
test('unknown client options, submit options and spec fields are rejected', async () => {
  assert.throws(() => new Client({brokr: 'tcp://127.0.0.1:1'}), /unknown option 'brokr'/);
  const c = new Client({broker: 'tcp://127.0.0.1:1', requestTimeoutMs: 100});
  try {
    // Nothing answers (no broker, or its worker port): the error asks about the port.
    await assert.rejects(c.stats(), (err) => err instanceof BrokerUnavailable &&
        /is this its client port/.test(err.message));
    await assert.rejects(c.submit({type: 'echo'}, {notfy: true}), /unknown option 'notfy'/);
    await assert.rejects(c.submit({type: 'echo', max_attempts: 2}),
        (err) => err instanceof InvalidSpec &&
          /task(s\[0\])?\.max_attempts: unknown field/.test(err.message));
    await assert.rejects(c.submit({type: 'echo', backoff: {base: 1}}),
        (err) => err instanceof InvalidSpec && /backoff\.base: unknown field/.test(err.message));
    await assert.rejects(c.submitBatch({tasks: [{name: 'a', type: 'echo'}], budjet: {}}),
        (err) => err instanceof InvalidSpec && /batch\.budjet/.test(err.message));
  } finally {
    await c.close();
  }
});

describe('client against a live cluster', {skip: skip ?? false}, () => {
  let cluster;
  let client;

  before(async () => {
    cluster = await new Cluster().start();
    cluster.startCppWorker('w1', ['--concurrency', '4']);
    client = new Client({broker: cluster.frontend, requestTimeoutMs: 5000});
    await cluster.waitForWorkers(client, ['w1']);
  });

  after(async () => {
    await client?.close();
    await cluster?.stop();
  });

  test('submit, wait and get an echo task', async () => {
    const {id} = await client.submit({type: 'echo', payload: 'hi there'});
    assert.match(id, /^[0-9A-Z]{26}$/);
    const task = await client.wait(id, {timeoutMs: 10_000});
    assert.equal(task.state, 'succeeded');
    assert.equal(task.output.toString(), 'hi there');
    const again = await client.get(id);
    assert.equal(again.worker, 'w1');
    assert.equal(again.attempts, 1);
  });

  test('a submit of a type no connected worker serves carries a warning', async () => {
    const seen = [];
    const onWarning = (w) => seen.push(w);
    client.on('warning', onWarning);
    try {
      const job = await client.submit({type: 'nosuch', queue: 'nodewarn'});
      const text = "no connected worker serves type 'nosuch' in queue 'nodewarn'; " +
        'its tasks wait until one does';
      assert.deepEqual(job.warnings, [text]);
      assert.equal(seen.length, 1);
      assert.equal(seen[0].name, 'TaskmillWarning');
      assert.equal(seen[0].message, text);
      const batch = await client.submitBatch({tasks: [{name: 'a', type: 'nosuch',
        queue: 'nodewarn'}]});
      assert.deepEqual(batch.warnings, [text]);
      const served = await client.submit({type: 'echo'});
      assert.deepEqual(served.warnings, []);
      assert.equal(seen.length, 2);
      await client.cancelMany([job, batch.status.tasks.a]);
    } finally {
      client.off('warning', onWarning);
    }
  });

  test('submit returns a Job: waitUntilFinished, getState, and ids wherever ids go', async () => {
    const job = await client.submit({type: 'echo', payload: {a: 1}});
    assert.ok(job instanceof Job);
    assert.equal(String(job), job.id);
    const task = await job.waitUntilFinished({timeoutMs: 10_000});
    assert.deepEqual(JSON.parse(task.output.toString()), {a: 1});
    assert.equal(await job.getState(), 'succeeded');
    assert.equal((await client.wait(job)).id, job.id);
    const failing = await client.submit({type: 'fail', payload: {retryable: false}});
    await assert.rejects(failing.waitUntilFinished({timeoutMs: 10_000}),
        (err) => err instanceof TaskFailed && err.error.code === 'injected_failure');
  });

  // Issue 19: an exec task's progress file lines reach a waiting client (onProgress and the
  // 'progress' event) and are stored on the task. The task waits (bounded) for a gate file
  // the test creates once it has seen "half", re-reporting it meanwhile.
  test('wait with onProgress gets an exec task\'s progress; get shows the last', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tm-node-progress-'));
    const gate = path.join(dir, 'gate');
    const script = [
      'i=0',
      'while [ ! -f "$GATE" ] && [ $i -lt 600 ]; do',
      '  if [ $((i % 10)) -eq 0 ]; then',
      '    printf \'{"progress": 0.5, "message": "half"}\\n\' >> "$TASKMILL_PROGRESS_FILE"',
      '  fi',
      '  sleep 0.05; i=$((i+1))',
      'done',
      'printf \'{"progress": 1, "message": "done"}\\n\' >> "$TASKMILL_PROGRESS_FILE"',
    ].join('\n');
    const {id} = await client.submit({type: 'exec',
      payload: {argv: ['sh', '-c', script], env: {GATE: gate}}});
    const seen = [];
    const emitted = [];
    const onEvent = (p) => emitted.push(p);
    client.on('progress', onEvent);
    try {
      const task = await client.wait(id, {timeoutMs: 60_000, onProgress: (p) => {
        seen.push(p);
        if (p.message === 'half') fs.writeFileSync(gate, '');
      }});
      assert.equal(task.state, 'succeeded');
    } finally {
      client.off('progress', onEvent);
      fs.rmSync(dir, {recursive: true, force: true});
    }
    assert.deepEqual(seen[0], {taskId: id, progress: 0.5, message: 'half'});
    assert.ok(emitted.length >= 1);
    const stored = await client.get(id);
    assert.equal(stored.progress, 1);
    assert.equal(stored.progressMessage, 'done');
  });

  test('exec reports its exit code, stdout and stderr', async () => {
    const [ok, bad] = await client.submitMany([
      {type: 'exec', payload: sh('echo out; echo err >&2')},
      {type: 'exec', payload: sh('echo partial; exit 3'), maxAttempts: 1},
    ]);
    const [t1, t2] = await client.wait([ok, bad], {timeoutMs: 10_000});
    assert.equal(t1.exitCode, 0);
    assert.equal(t1.stdout.toString(), 'out\n');
    assert.equal(t1.stderr.toString(), 'err\n');
    assert.equal(t2.state, 'failed');
    assert.equal(t2.exitCode, 3);
    assert.equal(t2.error.code, 'exit_status');
    await assert.rejects(client.result(bad), (err) => err instanceof TaskFailed &&
        err.attempts === 1 && err.error.code === 'exit_status');
  });

  test('an idempotency key returns the first id', async () => {
    const spec = {type: 'echo', payload: 'once', idempotencyKey: 'node-idem-1'};
    assert.equal((await client.submit(spec)).id, (await client.submit(spec)).id);
  });

  test('a diamond batch passes outputs along and emits events in order', async () => {
    // Each step prints its name and, in brackets, its parents' outputs in name order.
    const step = (name, deps = []) => ({name, type: 'exec', dependsOn: deps,
      payload: sh(`echo '{"usd": 0.5}' > "$TASKMILL_COST_FILE"; printf '${name}('; ` +
        'for p in $(ls "$TASKMILL_PARENTS_DIR" 2>/dev/null | sort); do ' +
        'cat "$TASKMILL_PARENTS_DIR/$p"; done; printf \')\'')});
    const {status, events} = await client.submitBatch({
      tasks: [step('a'), step('b', ['a']), step('c', ['a']), step('d', ['b', 'c'])],
      budget: {usd: 10},
      subscribe: true,
    });
    assert.equal(status.total, 4);
    assert.deepEqual(Object.keys(status.tasks).sort(), ['a', 'b', 'c', 'd']);
    const emitted = [];
    events.on('event', (e) => emitted.push(e.type));
    const seen = [];
    for await (const e of events) seen.push(e);
    assert.deepEqual(emitted, seen.map((e) => e.type));

    const types = seen.map((e) => e.type);
    assert.equal(types.at(-1), 'batch_completed');
    assert.equal(seen.at(-1).state, 'succeeded');
    const at = (type, name) => seen.findIndex((e) => e.type === type && e.taskName === name);
    for (const name of ['a', 'b', 'c', 'd']) {
      assert.ok(at('task_completed', name) >= 0, `no task_completed for ${name}`);
      if (at('task_started', name) >= 0) {
        assert.ok(at('task_started', name) < at('task_completed', name));
      }
    }
    assert.ok(at('task_completed', 'a') < at('task_completed', 'b'));
    assert.ok(at('task_completed', 'b') < at('task_completed', 'd'));
    assert.ok(at('task_completed', 'c') < at('task_completed', 'd'));
    const dones = seen.filter((e) => e.type.startsWith('batch_')).map((e) => e.done);
    assert.deepEqual(dones, [...dones].sort((x, y) => x - y), 'done never decreases');

    const {status: final, tasks} = await client.waitBatch(status.id, {timeoutMs: 10_000});
    assert.equal(final.state, 'succeeded');
    assert.equal(tasks.d.output.toString(), 'd(b(a())c(a()))');
    assert.equal(final.cost.usd, 2);
  });

  test('a batch with a dependency cycle is refused', async () => {
    await assert.rejects(client.submitBatch({tasks: [
      {name: 'x', type: 'echo', dependsOn: ['y']},
      {name: 'y', type: 'echo', dependsOn: ['x']},
    ]}), (err) => err instanceof InvalidSpec && err.code === 'cycle');
  });

  test('cancel stops a running task', async () => {
    const {id} = await client.submit({type: 'sleep', payload: {ms: 20_000}, maxAttempts: 1});
    await waitFor('the sleep to run', async () => (await client.get(id)).state === 'running');
    assert.equal(await client.cancel(id, {reason: 'test'}), 1);
    const task = await client.wait(id, {timeoutMs: 10_000});
    assert.equal(task.state, 'cancelled');
    assert.equal(await client.cancel(id), 0);
  });

  test('subscribing to a finished batch still ends', async () => {
    const {status} = await client.submitBatch({tasks: [{name: 'only', type: 'echo', payload: 'x'}]});
    await client.waitBatch(status.id, {timeoutMs: 10_000});
    const sub = await client.subscribe(status.id);
    const seen = [];
    for await (const e of sub) seen.push(e);
    assert.equal(seen.at(-1).type, 'batch_completed');
    await assert.rejects(client.cancelBatch('no-such-batch'), NotFound);
  });

  test('error replies and local validation', async () => {
    await assert.rejects(client.submit({type: 'bad type!'}), InvalidSpec);
    await assert.rejects(client.submit({type: 'echo', priority: 300}),
        {name: 'InvalidSpec', code: 'invalid_argument'});
    await assert.rejects(client.get('01NOSUCHTASK0000000000000X'), NotFound);
    await assert.rejects(client.getBatch('no-such-batch'), NotFound);
    // Raw call past local validation: the broker's own invalid_argument.
    await assert.rejects(client.call('SUBMIT', {tasks: [{type: 'echo', maxAttempts: 0}]}),
        {code: 'invalid_argument'});
  });

  test('schedules: add, list, pause, resume, remove; refusals', async () => {
    const added = await client.schedules.add({name: 'node-beat', every: '1s', catchUp: 'once',
      task: {type: 'echo', queue: 'nodesched', payload: {from: 'schedule'}}});
    assert.equal(added.name, 'node-beat');
    assert.equal(Number(added.everyMs), 1000);
    assert.equal(added.catchUp, 'once');
    assert.ok(Number(added.nextRunMs) > 0);
    try {
      await waitFor('two ticks of node-beat', async () => {
        const s = (await client.schedules.list()).find((x) => x.name === 'node-beat');
        return s && Number(s.fired) >= 2;
      }, 20_000);
      const paused = await client.schedules.pause('node-beat');
      assert.equal(paused.paused, true);
      const resumed = await client.schedules.resume('node-beat');
      assert.equal(resumed.paused, false);
      const cron = await client.schedules.add({name: 'node-cron', cron: '*/5 * * * *',
        tz: 'Europe/Paris', task: {type: 'echo'}});
      assert.equal(cron.tz, 'Europe/Paris');
      await client.schedules.remove('node-cron');
      await assert.rejects(client.schedules.add({name: 'node-bad', cron: '0 9 * * *',
        tz: 'Mars/Base', task: {type: 'echo'}}), /not a time zone/);
      assert.throws(() => client.schedules.add({name: 'node-bad', every: '5 minutes',
        task: {type: 'echo'}}), /ms, s, m or h/);
      await assert.rejects(client.schedules.pause('node-nope'), {code: 'not_found'});
    } finally {
      await client.schedules.remove('node-beat');
    }
    assert.deepEqual((await client.schedules.list()).filter((x) => x.name.startsWith('node-')), []);
  });

  test('dead letters: list, retry, purge', async () => {
    const {id} = await client.submit({type: 'fail', payload: {fail_attempts: 5, retryable: false}});
    assert.equal((await client.wait(id, {timeoutMs: 10_000})).state, 'failed');
    const dead = await client.deadLetters.list({queue: 'default', limit: 1000});
    assert.ok(dead.some((t) => t.id === id && t.error.code));
    assert.equal((await client.deadLetters.retry({queue: 'default', ids: [id]})).count, 1);
    await waitFor('the retried task to fail again', async () =>
      (await client.get(id)).state === 'failed');
    assert.deepEqual((await client.deadLetters.purge({queue: 'default', ids: [id]})).ids, [id]);
    const left = await client.deadLetters.list({queue: 'default', limit: 1000});
    assert.ok(!left.some((t) => t.id === id));
  });

  test('queue limits: set, shown in stats, refused when bad, cleared', async () => {
    assert.equal(await client.setQueueLimit('nodelim', {concurrency: 3, aging: '30s'}),
        'concurrency=3 aging=30s');
    const limitOf = async () => (await client.stats({queues: ['nodelim']})).queues[0].limit;
    assert.equal(await limitOf(), 'concurrency=3 aging=30s');
    await assert.rejects(client.setQueueLimit('nodelim', {rate: '5/d'}),
        (e) => e.code === 'invalid_argument' && e.message.includes('100/s, 30/m, 1000/h'));
    assert.equal(await limitOf(), 'concurrency=3 aging=30s');
    await client.clearQueueLimit('nodelim');
    assert.equal(await limitOf(), '');
  });

  test('queue pause and resume: nothing of a paused queue runs, a probe queue does', async () => {
    cluster.startCppWorker('w-ctl', ['--queues', 'nodectl,nodeprobe']);
    await cluster.waitForWorkers(client, ['w-ctl']);
    const paused = await client.pauseQueue('nodectl');
    assert.equal(paused.queue, 'nodectl');
    assert.equal(paused.paused, true);
    const {id} = await client.submit({type: 'echo', payload: 'held', queue: 'nodectl'});
    for (let i = 0; i < 3; i++) {
      const probe = await client.submit({type: 'echo', payload: 'probe', queue: 'nodeprobe'});
      assert.equal((await client.wait(probe.id, {timeoutMs: 10_000})).state, 'succeeded');
    }
    assert.equal((await client.get(id)).state, 'queued');
    assert.equal((await client.stats({queues: ['nodectl']})).queues[0].paused, true);
    assert.equal((await client.resumeQueue('nodectl')).paused, false);
    assert.equal((await client.wait(id, {timeoutMs: 10_000})).state, 'succeeded');
    await assert.rejects(client.pauseQueue('no spaces'), (e) => e.code === 'invalid_argument');
    await assert.rejects(client.call('QUEUE', {op: 'freeze', queue: 'nodectl'}),
        (e) => e.message.includes("unknown value 'freeze' (allowed: pause, resume)"));
  });

  test('worker quiet and unquiet: a quiet worker takes nothing until unquieted', async () => {
    cluster.startCppWorker('w-quiet', ['--queues', 'nodequiet']);
    await cluster.waitForWorkers(client, ['w-quiet']);
    const w = await client.quietWorker('w-quiet');
    assert.equal(w.id, 'w-quiet');
    assert.equal(w.quiet, true);
    assert.ok(w.broker);
    const listed = (await client.stats()).workers.find((x) => x.id === 'w-quiet');
    assert.equal(listed.quiet, true);
    const {id} = await client.submit({type: 'echo', payload: 'later', queue: 'nodequiet'});
    assert.equal((await client.get(id)).state, 'queued');
    assert.equal((await client.unquietWorker('w-quiet')).quiet, false);
    const done = await client.wait(id, {timeoutMs: 10_000});
    assert.equal(done.state, 'succeeded');
    assert.equal(done.worker, 'w-quiet');
    await assert.rejects(client.quietWorker('nobody'),
        (e) => e instanceof NotFound && e.message.includes("no live broker knows worker 'nobody'"));
  });

  test('stats lists queues and the worker', async () => {
    const {queues, workers} = await client.stats();
    assert.ok(queues.some((q) => q.queue === 'default' && q.submitted > 0));
    assert.ok(workers.some((w) => w.id === 'w1' && w.concurrency === 4));
  });

  test('a client with no broker gets BrokerUnavailable', async () => {
    const lonely = new Client({broker: 'tcp://127.0.0.1:1', requestTimeoutMs: 300});
    try {
      await assert.rejects(lonely.stats(), BrokerUnavailable);
    } finally {
      await lonely.close();
    }
  });
});
