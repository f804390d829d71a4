// CURVE end to end: a real broker with --curve-secret-key-file and --curve-allow-dir, a Node
// client and a Node worker with keys from `taskmill keygen` and from curve.generate, peers the
// broker must refuse, and a worker that stays on CURVE across a broker restart.

import assert from 'node:assert/strict';
import {execFile} from 'node:child_process';
import {copyFileSync, mkdirSync} from 'node:fs';
import {join} from 'node:path';
import {after, before, describe, test} from 'node:test';
import {promisify} from 'node:util';

import {Client, Worker, curve} from '../src/index.js';
import {Cluster, cliBin, missingBinaries, waitFor} from './cluster.mjs';

const run = promisify(execFile);

describe('CURVE against a live broker', {skip: missingBinaries() ?? false}, () => {
  let cluster;
  let keys;       // name -> .key file
  let serverPub;  // the broker's .pub file
  let client;
  let worker;
  let working;

  // True iff the broker logged refusing the public key of `name`.
  const refused = (name) => {
    const key = curve.readKeyPair(keys[name]).publicKey;
    return cluster.broker.output.split('\n').some((l) => l.includes('refused CURVE') &&
      l.includes(key));
  };
  const curveClient = (name, options = {}) => new Client({broker: cluster.frontend,
    curveServerKey: serverPub, curveKeyFile: keys[name], ...options});

  before(async () => {
    cluster = new Cluster();
    const keysDir = join(cluster.dir, 'keys');
    const allow = join(cluster.dir, 'allow');      // client keys
    const workers = join(cluster.dir, 'workers');  // worker keys (a client key is not one)
    mkdirSync(keysDir);
    mkdirSync(allow);
    mkdirSync(workers);
    keys = {};
    // The broker's and the app's pairs come from the C++ CLI, the others from curve.generate:
    // both writers' files must be read by both readers.
    for (const name of ['broker', 'node-app']) {
      await run(cliBin, ['keygen', name, '--dir', keysDir]);
      keys[name] = join(keysDir, `${name}.key`);
    }
    for (const name of ['node-worker', 'stranger', 'stranger-w']) {
      keys[name] = curve.generate(name, keysDir).keyFile;
    }
    for (const [name, dir] of [['node-app', allow], ['node-worker', workers]]) {
      copyFileSync(join(keysDir, `${name}.pub`), join(dir, `${name}.pub`));
    }
    serverPub = join(keysDir, 'broker.pub');
    await cluster.start({brokerArgs: ['--curve-secret-key-file', keys.broker,
      '--curve-allow-dir', allow, '--curve-worker-allow-dir', workers]});
    worker = new Worker({broker: cluster.backend, id: 'node-curve-w', queues: ['curveq'],
      heartbeatMs: 200, handleSignals: false, curveServerKey: serverPub,
      curveKeyFile: keys['node-worker']});
    worker.handle('node.curve', async (task) => task.payload.toString().toUpperCase());
    working = worker.run();
    client = curveClient('node-app', {requestTimeoutMs: 5000, heartbeatMs: 200});
    await cluster.waitForWorkers(client, ['node-curve-w'], 15_000);
  });

  after(async () => {
    worker?.stop(0);
    await working;
    await client?.close();
    await cluster?.stop();
  });

  test('a Node client and a Node worker run a task over CURVE', async () => {
    const {id} = await client.submit({type: 'node.curve', queue: 'curveq', payload: 'sealed'});
    const task = await client.result(id, {timeoutMs: 20_000});
    assert.equal(task.output.toString(), 'SEALED');
    assert.equal(task.worker, 'node-curve-w');
  });

  test('a stranger and a plain client are refused', async () => {
    const stranger = curveClient('stranger', {requestTimeoutMs: 10_000});
    const plain = new Client({broker: cluster.frontend, requestTimeoutMs: 10_000,
      curveServerKey: '', curveKeyFile: ''});
    try {
      await assert.rejects(stranger.stats(), {name: 'Unauthorized', code: 'unauthorized',
        message: /refused this client's CURVE key/});
      await waitFor('the broker to log refusing the stranger', () => refused('stranger'));
      await assert.rejects(plain.stats(), {name: 'Unauthorized', message: /requires CURVE/});
    } finally {
      await stranger.close();
      await plain.close();
    }
  });

  test('a stranger worker gets no tasks', async () => {
    const stranger = new Worker({broker: cluster.backend, id: 'node-stranger',
      queues: ['strangerq'], heartbeatMs: 200, handleSignals: false, curveServerKey: serverPub,
      curveKeyFile: keys['stranger-w']});
    stranger.handle('node.curve', async () => 'stolen');
    const running = stranger.run();
    try {
      const {id} = await client.submit({type: 'node.curve', queue: 'strangerq', payload: 'x'});
      // The refused worker's READY never arrives: the task waits and nobody is listed. The
      // deadline is the wait; a registration would show up well within it.
      const task = await client.wait(id, {timeoutMs: 3000});
      assert.equal(task.state, 'queued');
      const {workers} = await client.stats();
      assert.ok(!workers.some((w) => w.id === 'node-stranger'));
      assert.ok(refused('stranger-w'));
      await client.cancel(id);
    } finally {
      stranger.stop(0);
      await running;
    }
  });

  test('the worker and client stay on CURVE across a broker restart', async () => {
    await cluster.restartBroker();
    // The worker notices the silence, opens a new socket (with its keys) and says READY.
    await cluster.waitForWorkers(client, ['node-curve-w'], 20_000);
    const {id} = await client.submit({type: 'node.curve', queue: 'curveq', payload: 'again'});
    const task = await client.result(id, {timeoutMs: 20_000});
    assert.equal(task.output.toString(), 'AGAIN');
  });
});
