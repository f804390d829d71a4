// Issue 17 failover of the Node client and worker, against fake brokers (ROUTERs on
// loopback speaking the real codec): endpoint lists, move order, resend, GOAWAY and MOVE.

import assert from 'node:assert/strict';
import net from 'node:net';
import {test} from 'node:test';

import {Client} from '../src/client.js';
import {EndpointListError, EndpointRing, parseEndpoints} from '../src/endpoints.js';
import {Worker} from '../src/worker.js';
import {freePort} from './cluster.mjs';
import {FakeBroker} from './fake_broker.mjs';

// ------------------------------------------------------------------ endpoint lists

test('a list is split on commas, trimmed, in order', () => {
  assert.deepEqual(parseEndpoints('tcp://a:1'), ['tcp://a:1']);
  assert.deepEqual(parseEndpoints(' tcp://a:1 ,tcp://b:2,  ipc:///tmp/x '),
      ['tcp://a:1', 'tcp://b:2', 'ipc:///tmp/x']);
});

test('an empty item or a bad scheme is a usage error, in the client and the worker', () => {
  for (const bad of ['', 'tcp://a:1,', ',tcp://a:1', 'tcp://a:1,,tcp://b:2', 'a:1',
    'tcp://a:1,http://b:2', 'tcp://', ' , ']) {
    assert.throws(() => parseEndpoints(bad), EndpointListError, bad);
  }
  assert.throws(() => new Client({broker: 'tcp://127.0.0.1:1, ,tcp://127.0.0.1:2'}),
      /item 2 is empty/);
  assert.throws(() => new Worker({broker: 'tcp://127.0.0.1:1,udp://x:1'}), EndpointListError);
});

test('the ring moves round-robin and backs off after a whole cycle', () => {
  const ring = new EndpointRing(['tcp://a:1', 'tcp://b:1', 'tcp://c:1'], 1);
  assert.equal(ring.current, 'tcp://b:1');
  assert.equal(ring.advance(), 0);
  assert.equal(ring.current, 'tcp://c:1');
  assert.equal(ring.advance(), 0);
  assert.equal(ring.current, 'tcp://a:1');
  assert.ok(ring.advance() > 0);  // every one tried: back off
  assert.equal(ring.current, 'tcp://b:1');
  ring.connected();
  assert.equal(ring.advance(), 0);  // a new cycle: no wait
  const one = new EndpointRing(['tcp://a:1']);
  const delays = [one.advance(), one.advance(), one.advance()];
  assert.ok(delays[0] > 0 && delays[0] <= delays[1] && delays[1] <= delays[2]);
});

test('the start position is random', () => {
  const eps = ['tcp://h0:1', 'tcp://h1:1', 'tcp://h2:1', 'tcp://h3:1'];
  const starts = new Set(Array.from({length: 200}, () => new EndpointRing(eps).current));
  assert.ok(starts.size > 1);
});

// ------------------------------------------------------------------ helpers

async function fakes(n = 2) {
  return Promise.all(Array.from({length: n}, () => new FakeBroker().start()));
}

// The fake that got a message of `command` first, and that message ({command, message, frames}).
async function firstOf(brokers, command, timeoutMs = 5000) {
  return Promise.any(brokers.map((b) =>
    b.waitFor(command, {timeoutMs, raw: true}).then((hit) => ({broker: b, hit}))));
}

// What make() builds (a Client or Worker) with its endpoint ring starting at the list's first
// endpoint instead of a random one.
function startingAtFirst(make) {
  const random = Math.random;
  Math.random = () => 0;
  try {
    return make();
  } finally {
    Math.random = random;
  }
}

const sameBytes = (a, b) => a.length === b.length && a.every((f, i) => Buffer.compare(f, b[i]) === 0);

// ------------------------------------------------------------------ the client

for (const loss of ['goaway', 'close']) {
  test(`client: on ${loss} it moves and resends the same bytes`, async () => {
    const [a, b] = await fakes();
    const client = new Client({broker: `${a.endpoint},${b.endpoint}`, requestTimeoutMs: 8000});
    try {
      const pending = client.get('t1');
      const {broker: first, hit} = await firstOf([a, b], 'GET');
      const other = first === a ? b : a;
      assert.equal(client.ring.current, first.endpoint);
      if (loss === 'goaway') await first.send('GOAWAY', {reason: 'leaving'});
      else first.close();  // as a kill -9: the TCP connection drops
      const again = await other.waitFor('GET', {raw: true});
      assert.ok(sameBytes(again.frames, hit.frames), 'resent byte for byte');
      assert.equal(client.ring.current, other.endpoint);
      assert.equal(client.moves, 1);
      await other.send('REPLY', {reqId: again.message.reqId,
        tasks: [{id: 't1', state: 'queued'}]});
      assert.equal((await pending).id, 't1');
      // It stays on the new broker.
      const next = client.get('t2');
      const from = other.history.length;
      const n = await other.waitFor('GET', {from, pred: (m) => m.ids[0] === 't2'});
      await other.send('REPLY', {reqId: n.reqId, tasks: [{id: 't2', state: 'queued'}]});
      assert.equal((await next).id, 't2');
    } finally {
      await client.close();
      a.close();
      b.close();
    }
  });
}

test('client: answered requests are not resent; subscriptions are renewed', async () => {
  const [a, b] = await fakes();
  const client = new Client({broker: `${a.endpoint},${b.endpoint}`, requestTimeoutMs: 8000});
  try {
    const done = client.get('x');
    const {broker: first, hit} = await firstOf([a, b], 'GET');
    const other = first === a ? b : a;
    await first.send('REPLY', {reqId: hit.message.reqId, tasks: [{id: 'x', state: 'queued'}]});
    await done;
    const sub = client.subscribe('batch-1');
    sub.catch(() => {});
    const subMsg = await first.waitFor('SUBSCRIBE');
    await first.send('REPLY', {reqId: subMsg.reqId});
    await first.waitFor('GET', {pred: (m) => m.batchId === 'batch-1'});  // left unanswered
    const open = client.get('y');
    open.catch(() => {});
    await first.waitFor('GET', {pred: (m) => (m.ids ?? [])[0] === 'y'});
    await first.send('GOAWAY', {});
    await other.waitFor('GET', {pred: (m) => (m.ids ?? [])[0] === 'y'});
    await other.waitFor('GET', {pred: (m) => m.batchId === 'batch-1'});
    await other.waitFor('SUBSCRIBE', {pred: (m) => m.batchId === 'batch-1'});
    assert.ok(!other.history.some((m) => m.command === 'GET' && (m.message.ids ?? [])[0] === 'x'));
  } finally {
    await client.close();
    a.close();
    b.close();
  }
});

test('client: a dead endpoint in the list is skipped', async () => {
  const [a] = await fakes(1);
  const dead = `tcp://127.0.0.1:${await freePort()}`;
  // start at the dead one
  const client = startingAtFirst(() => new Client({broker: `${dead},${a.endpoint}`,
    requestTimeoutMs: 8000}));
  try {
    const pending = client.get('t');
    const got = await a.waitFor('GET');
    await a.send('REPLY', {reqId: got.reqId, tasks: [{id: 't', state: 'queued'}]});
    assert.equal((await pending).id, 't');
    assert.equal(client.ring.current, a.endpoint);
    assert.equal(client.moves, 1);  // it started at the dead one
  } finally {
    await client.close();
    a.close();
  }
});

test('client: with one endpoint GOAWAY redials it and resends', async () => {
  const [a] = await fakes(1);
  const client = new Client({broker: a.endpoint, requestTimeoutMs: 8000});
  try {
    const pending = client.get('t');
    const first = await a.waitFor('GET', {raw: true});
    const from = a.history.length;
    await a.send('GOAWAY', {reason: 'restart'});
    const again = await a.waitFor('GET', {raw: true, from});
    assert.ok(sameBytes(again.frames, first.frames));
    await a.send('REPLY', {reqId: again.message.reqId, tasks: [{id: 't', state: 'queued'}]});
    assert.equal((await pending).id, 't');
  } finally {
    await client.close();
    a.close();
  }
});

// ------------------------------------------------------------------ the worker

function slowWorker(broker, options = {}) {
  let release;
  let started;
  const gate = new Promise((r) => {
    release = r;
  });
  const running = new Promise((r) => {
    started = r;
  });
  const worker = new Worker({broker, queues: ['q'], concurrency: 2, heartbeatMs: 200,
    liveness: 1000, handleSignals: false, warn: () => {}, ...options});  // liveness: only the loss under test
  worker.handle('slow', async () => {
    started();
    await gate;
    return 'out';
  });
  return {worker, release, running};
}

for (const loss of ['move', 'close']) {
  test(`worker: on ${loss} it moves with its running task and its DONE`, async () => {
    const [a, b] = await fakes();
    const {worker, release, running} = slowWorker(`${a.endpoint},${b.endpoint}`);
    const run = worker.run();
    try {
      const {broker: first} = await firstOf([a, b], 'READY');
      const other = first === a ? b : a;
      await first.task('t1', 'slow', {token: 41});
      await running;
      if (loss === 'move') await first.send('MOVE', {reason: 'sigterm'});
      else first.close();
      const ready = await other.waitFor('READY', {timeoutMs: 5000});
      assert.deepEqual(ready.running, ['t1']);
      assert.equal(ready.workerId, worker.id);
      release();
      const done = await other.waitFor('DONE', {timeoutMs: 5000});
      assert.deepEqual([done.taskId, Number(done.token), done.ok], ['t1', 41, true]);
      assert.equal(worker.moves, 1);
      assert.ok(!first.history.some((m) => m.command === 'DONE'));
      assert.ok(!worker.stopping);  // MOVE never stops a worker
    } finally {
      release();
      worker.stop(100);
      await run;
      a.close();
      b.close();
    }
  });
}

test('worker: with one endpoint MOVE redials it after the backoff', async () => {
  const [a] = await fakes(1);
  const {worker, release} = slowWorker(a.endpoint);
  const run = worker.run();
  try {
    await a.waitFor('READY');
    const from = a.history.length;
    await a.send('MOVE', {});
    await a.waitFor('READY', {from, timeoutMs: 5000});
    assert.ok(!worker.stopping);
  } finally {
    release();
    worker.stop(100);
    await run;
    a.close();
  }
});

test('worker: a silent broker is left after liveness heartbeats', async () => {
  const [a, b] = await fakes();
  const {worker, release} = slowWorker(`${a.endpoint},${b.endpoint}`,
      {heartbeatMs: 100, liveness: 3});
  const run = worker.run();
  try {
    await a.waitFor('READY');
    await b.waitFor('READY');  // the fakes never heartbeat
    assert.ok(worker.moves >= 1);
  } finally {
    release();
    worker.stop(100);
    await run;
    a.close();
    b.close();
  }
});

test('worker: a dead endpoint in the list is skipped', async () => {
  const [a] = await fakes(1);
  const dead = `tcp://127.0.0.1:${await freePort()}`;
  // start at the dead one
  const {worker, release} = startingAtFirst(() => slowWorker(`${dead},${a.endpoint}`));
  const run = worker.run();
  try {
    await a.waitFor('READY', {timeoutMs: 5000});
    assert.equal(worker.moves, 1);
  } finally {
    release();
    worker.stop(100);
    await run;
    a.close();
  }
});

// A TCP proxy whose freeze() stops forwarding either way while keeping both connections
// open: a broker host gone silent, without a FIN or RST.
async function freezingProxy(targetPort) {
  const sockets = [];
  let frozen = false;
  const server = net.createServer((down) => {
    const up = net.createConnection({host: '127.0.0.1', port: targetPort});
    sockets.push(down, up);
    down.on('data', (d) => frozen || up.write(d));
    up.on('data', (d) => frozen || down.write(d));
    down.on('error', () => {});
    up.on('error', () => {});
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return {
    endpoint: `tcp://127.0.0.1:${server.address().port}`,
    freeze: () => {
      frozen = true;
    },
    close: () => {
      for (const s of sockets) s.destroy();
      server.close();
    },
  };
}

test('client: a silent broker is left by the ZMTP heartbeat within the target', async () => {
  const [a, b] = await fakes();
  const proxy = await freezingProxy(Number(a.endpoint.split(':').pop()));
  // start behind the proxy
  const client = startingAtFirst(() => new Client({broker: `${proxy.endpoint},${b.endpoint}`,
    requestTimeoutMs: 10_000, heartbeatMs: 500}));
  try {
    const warm = client.get('w');
    const w = await a.waitFor('GET');
    await a.send('REPLY', {reqId: w.reqId, tasks: [{id: 'w', state: 'queued'}]});
    await warm;
    proxy.freeze();
    const t0 = performance.now();
    const pending = client.get('x');
    const got = await b.waitFor('GET', {timeoutMs: 5000});
    const movedMs = performance.now() - t0;
    await b.send('REPLY', {reqId: got.reqId, tasks: [{id: 'x', state: 'queued'}]});
    assert.equal((await pending).id, 'x');
    console.log(`FAILOVER node client, silent broker: moved and answered in ${movedMs.toFixed(0)} ms`);
    assert.ok(movedMs > 1000 && movedMs < 5000, `${movedMs} ms`);  // by the heartbeat (3 s target)
  } finally {
    await client.close();
    proxy.close();
    a.close();
    b.close();
  }
});
