// Cross-language: a batch submitted from Python (client/python), run by a Node worker
// (node_upper) and a C++ worker (exec), awaited from Node. Node and Python must see the
// same states, outputs and costs. Skips when python3 cannot import the taskmill package.

import assert from 'node:assert/strict';
import {spawn, spawnSync} from 'node:child_process';
import {dirname, join} from 'node:path';
import {createInterface} from 'node:readline';
import {after, before, describe, test} from 'node:test';
import {fileURLToPath} from 'node:url';

import {Client, Worker} from '../src/index.js';
import {Cluster, missingBinaries, repoRoot} from './cluster.mjs';

const pythonPath = join(repoRoot, 'client', 'python');
const script = join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'cross_submit.py');
const pyEnv = {...process.env,
  PYTHONPATH: [pythonPath, process.env.PYTHONPATH].filter(Boolean).join(':')};

function pythonSkipReason() {
  const probe = spawnSync('python3', ['-c', 'import taskmill'], {env: pyEnv, encoding: 'utf8'});
  if (probe.error) return `python3 not runnable: ${probe.error.message}`;
  if (probe.status !== 0) {
    return `the Python client is not importable (import taskmill failed: ` +
        `${probe.stderr.trim().split('\n').at(-1)})`;
  }
  return null;
}

const skip = missingBinaries() ?? pythonSkipReason();

describe('python submits, node and c++ workers run, node awaits', {skip: skip ?? false}, () => {
  let cluster;
  let client;
  let worker;
  let running;

  before(async () => {
    cluster = await new Cluster().start();
    cluster.startCppWorker('cpp-x');
    worker = new Worker({broker: cluster.backend, id: 'node-x', queues: ['node'],
      heartbeatMs: 200, handleSignals: false});
    worker.handle('node_upper', async (task) => {
      task.addCost('usd', 0.25);
      task.addCost('tokens_out', 7);
      return Buffer.concat([Buffer.from(task.parents.source.toString().toUpperCase()), task.payload]);
    });
    running = worker.run();
    client = new Client({broker: cluster.frontend});
    await cluster.waitForWorkers(client, ['cpp-x', 'node-x']);
  });

  after(async () => {
    worker?.stop(1000);
    await running;
    await client?.close();
    await cluster?.stop();
  });

  test('identical results and costs', async () => {
    const py = spawn('python3', [script, cluster.frontend], {env: pyEnv,
      stdio: ['ignore', 'pipe', 'pipe']});
    let stderr = '';
    py.stderr.on('data', (d) => {
      stderr += d;
    });
    const exited = new Promise((r) => py.on('exit', r));
    const lines = createInterface({input: py.stdout})[Symbol.asyncIterator]();
    const timer = setTimeout(() => py.kill('SIGKILL'), 40_000);
    try {
      const first = await lines.next();
      assert.ok(!first.done, `python printed nothing: ${stderr}`);
      const {batch_id: batchId, tasks: ids} = JSON.parse(first.value);

      const {status, tasks} = await client.waitBatch(batchId, {timeoutMs: 30_000});
      assert.equal(status.state, 'succeeded');
      assert.equal(tasks.shout.output.toString(), 'HELLO FROM CPP!');
      assert.equal(tasks.shout.worker, 'node-x');
      assert.equal(tasks.source.worker, 'cpp-x');
      assert.equal(tasks.count.stdout.toString().trim(), '15');
      assert.equal(status.cost.usd, 0.875);
      assert.deepEqual(Object.fromEntries(Object.entries(status.tasks)), ids);

      const second = await lines.next();
      assert.ok(!second.done, `python printed no results: ${stderr}`);
      const pyView = JSON.parse(second.value);
      assert.equal(await exited, 0, stderr);

      assert.equal(pyView.state, status.state);
      assert.deepEqual(pyView.cost, status.cost);
      for (const [name, info] of Object.entries(tasks)) {
        const theirs = pyView.tasks[name];
        assert.equal(theirs.state, info.state, name);
        assert.equal(Buffer.from(theirs.output_b64, 'base64').toString('hex'),
            info.output.toString('hex'), name);
        assert.deepEqual(theirs.cost, info.cost, name);
        assert.equal(theirs.worker, info.worker, name);
        assert.equal(theirs.attempts, info.attempts, name);
        assert.equal(theirs.exit_code, info.exitCode, name);
      }
    } finally {
      clearTimeout(timer);
      if (py.exitCode === null) py.kill('SIGKILL');
    }
  });
});
