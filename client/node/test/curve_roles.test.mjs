// CURVE roles end to end (docs/security.md, "Roles"): a broker with client, worker and admin
// allow-list directories, a Node worker with a worker key and Node clients. Each key does what
// its role allows, gets Forbidden for the rest, and sees only its own tasks unless admin.

import assert from 'node:assert/strict';
import {copyFileSync, mkdirSync} from 'node:fs';
import {join} from 'node:path';
import {after, before, describe, test} from 'node:test';

import {Client, Forbidden, NotFound, Worker, curve} from '../src/index.js';
import {Cluster, missingBinaries, waitFor} from './cluster.mjs';

describe('CURVE roles against a live broker', {skip: missingBinaries() ?? false}, () => {
  let cluster;
  let keys;       // name -> .key file
  let serverPub;  // the broker's .pub file
  let worker;
  let working;
  const clients = [];

  const as = (name) => {
    const c = new Client({broker: cluster.frontend, requestTimeoutMs: 5000,
      curveServerKey: serverPub, curveKeyFile: keys[name]});
    clients.push(c);
    return c;
  };

  before(async () => {
    cluster = new Cluster();
    const keysDir = join(cluster.dir, 'keys');
    mkdirSync(keysDir);
    const dirs = {};
    for (const role of ['clients', 'workers', 'admins']) {
      dirs[role] = join(cluster.dir, role);
      mkdirSync(dirs[role]);
    }
    keys = {};
    for (const [name, role] of [['broker', ''], ['alice', 'clients'], ['bob', 'clients'],
      ['node-worker', 'workers'], ['ops', 'admins']]) {
      keys[name] = curve.generate(name, keysDir).keyFile;
      if (role) copyFileSync(join(keysDir, `${name}.pub`), join(dirs[role], `${name}.pub`));
    }
    serverPub = join(keysDir, 'broker.pub');
    await cluster.start({brokerArgs: ['--curve-secret-key-file', keys.broker,
      '--curve-allow-dir', dirs.clients, '--curve-worker-allow-dir', dirs.workers,
      '--curve-admin-allow-dir', dirs.admins]});
    worker = new Worker({broker: cluster.backend, id: 'node-roles-w', queues: ['rolesq'],
      heartbeatMs: 200, handleSignals: false, curveServerKey: serverPub,
      curveKeyFile: keys['node-worker']});
    worker.handle('node.roles', async (task) => task.payload.toString().toUpperCase());
    working = worker.run();
    await cluster.waitForWorkers(as('ops'), ['node-roles-w'], 15_000);
  });

  after(async () => {
    worker?.stop(0);
    await working;
    for (const c of clients) await c.close();
    await cluster?.stop();
  });

  test('each key does what its role allows and sees only its own tasks', async () => {
    const alice = as('alice');
    const id = await alice.submit({type: 'node.roles', queue: 'rolesq', payload: 'mine'});
    assert.equal((await alice.result(id, {timeoutMs: 20_000})).output.toString(), 'MINE');
    const bob = as('bob');
    await assert.rejects(bob.get(id), (err) => err instanceof NotFound);
    assert.equal(await bob.cancel(id), 0);
    await assert.rejects(bob.dlq('list'),
        (err) => err instanceof Forbidden && err.code === 'forbidden' &&
          /admin role/.test(err.message));
    const ops = as('ops');
    assert.equal((await ops.get(id)).output.toString(), 'MINE');
    await ops.dlq('list');
    await assert.rejects(as('node-worker').submit({type: 'node.roles', queue: 'rolesq'}),
        (err) => err instanceof Forbidden && /client role/.test(err.message));
  });

  test('a client key cannot register as a worker', async () => {
    const intruder = new Worker({broker: cluster.backend, id: 'node-client-as-worker',
      queues: ['rolesq'], heartbeatMs: 200, handleSignals: false, curveServerKey: serverPub,
      curveKeyFile: keys.alice});
    intruder.handle('node.roles', async () => 'stolen');
    const running = intruder.run();
    try {
      await waitFor('the broker to refuse the READY',
          () => cluster.broker.output.includes('refused READY from node-client-as-worker'),
          15_000);
      const {workers} = await as('ops').stats();
      assert.ok(!workers.some((w) => w.id === 'node-client-as-worker'));
    } finally {
      intruder.stop(0);
      await running;
    }
  });
});
