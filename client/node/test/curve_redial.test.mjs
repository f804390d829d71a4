// A refused CURVE key, then allowed: against a real broker, a client's call fails fast with
// Unauthorized (naming its public key), and once the key's .pub is in the allow dir and the
// broker got SIGHUP, the same Client or Worker object gets in by redialling.

import assert from 'node:assert/strict';
import {copyFileSync, mkdirSync} from 'node:fs';
import {join} from 'node:path';
import {after, before, describe, test} from 'node:test';

import {Client, Unauthorized, Worker, curve} from '../src/index.js';
import {Cluster, missingBinaries, waitFor} from './cluster.mjs';

describe('a refused CURVE peer gets in once allowed', {skip: missingBinaries() ?? false}, () => {
  let cluster;
  let keysDir;
  let allowDir;
  let workersDir;
  let serverPub;  // the broker's .pub file
  let app;        // an allowed client

  const reloads = () => cluster.broker.output.split('allow-list reloaded').length - 1;

  // Puts `name`'s .pub into the allow dir (or the workers dir) and has the broker reload it
  // (SIGHUP to the broker's PID), waiting until the broker logged the reload.
  const allow = async (name, dir = allowDir) => {
    const before = reloads();
    copyFileSync(join(keysDir, `${name}.pub`), join(dir, `${name}.pub`));
    cluster.broker.kill('SIGHUP');
    await waitFor('the broker to reload its allow-list', () => reloads() > before);
  };

  before(async () => {
    cluster = new Cluster();
    keysDir = join(cluster.dir, 'keys');
    allowDir = join(cluster.dir, 'allow');
    workersDir = join(cluster.dir, 'workers');
    mkdirSync(keysDir);
    mkdirSync(allowDir);
    mkdirSync(workersDir);
    const broker = curve.generate('broker', keysDir);
    serverPub = broker.pubFile;
    const appKey = curve.generate('app', keysDir);
    copyFileSync(appKey.pubFile, join(allowDir, 'app.pub'));
    await cluster.start({brokerArgs: ['--curve-secret-key-file', broker.keyFile,
      '--curve-allow-dir', allowDir, '--curve-worker-allow-dir', workersDir]});
    app = new Client({broker: cluster.frontend, requestTimeoutMs: 5000,
      curveServerKey: serverPub, curveKeyFile: appKey.keyFile});
  });

  after(async () => {
    await app?.close();
    await cluster?.stop();
  });

  test('a refused client fails fast, then the same client gets in after SIGHUP', async () => {
    const {keyFile} = curve.generate('late-client', keysDir);
    const {publicKey, secretKey} = curve.readKeyPair(keyFile);
    const client = new Client({broker: cluster.frontend, requestTimeoutMs: 10_000,
      curveServerKey: serverPub, curveKeyFile: keyFile});
    try {
      const t0 = Date.now();
      const err = await client.stats().then(() => null, (e) => e);
      assert.ok(err instanceof Unauthorized, `expected Unauthorized, got ${err}`);
      assert.ok(Date.now() - t0 < 3000, 'a refusal must not wait for the 10 s timeout');
      assert.equal(err.code, 'unauthorized');
      assert.ok(err.message.includes(publicKey), err.message);
      assert.ok(!err.message.includes(secretKey));
      // A call while the client waits to redial fails at once, the same way.
      await assert.rejects(client.stats(), Unauthorized);

      await allow('late-client');
      await waitFor('the same client to get in', () => client.stats().then(() => true,
          (e) => {
            if (e instanceof Unauthorized) return false;
            throw e;
          }), 15_000, 50);
      const [id] = await client.submitMany([{type: 'noop', queue: 'late'}]);
      assert.ok(id);
    } finally {
      await client.close();
    }
  });

  test('a refused worker redials, then registers and runs a task after SIGHUP', async () => {
    const {keyFile} = curve.generate('late-worker', keysDir);
    const {publicKey, secretKey} = curve.readKeyPair(keyFile);
    const lines = [];
    // A long liveness (10 s): the worker must get in by its redial, not by a silence timeout.
    const worker = new Worker({broker: cluster.backend, id: 'node-late-w', queues: ['lateq'],
      heartbeatMs: 200, liveness: 50, handleSignals: false, curveServerKey: serverPub,
      curveKeyFile: keyFile, log: (line) => lines.push(line)});
    worker.handle('node.late', async (task) => task.payload.toString().toUpperCase());
    const running = worker.run();
    try {
      await waitFor('the worker to be refused and redial', () => worker.refused >= 2, 10_000);
      assert.ok(lines.some((l) => l.includes('refused') && l.includes(publicKey)), lines.join('\n'));
      assert.ok(!lines.some((l) => l.includes(secretKey)));
      assert.ok(!(await app.stats()).workers.some((w) => w.id === 'node-late-w'));

      await allow('late-worker', workersDir);
      await cluster.waitForWorkers(app, ['node-late-w'], 15_000);
      const {id} = await app.submit({type: 'node.late', queue: 'lateq', payload: 'let in'});
      const task = await app.result(id, {timeoutMs: 20_000});
      assert.equal(task.output.toString(), 'LET IN');
      assert.equal(task.worker, 'node-late-w');
    } finally {
      worker.stop(0);
      await running;
    }
  });
});
