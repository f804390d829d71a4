// CURVE: the key-file parser, and the client and worker sockets against a CURVE ROUTER with a
// ZAP handler written here (no broker needed).

import assert from 'node:assert/strict';
import {mkdtempSync, readFileSync, rmSync, statSync, writeFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {after, afterEach, beforeEach, describe, test} from 'node:test';

import * as zmq from 'zeromq';

import {Client, CurveKeyError, Unauthorized, Worker, curve} from '../src/index.js';
import {decodeFrames, encodeFrames} from '../src/codec.js';
import {waitFor} from './cluster.mjs';

const GOOD = 'rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7';  // a valid Z85 key (40 chars)
const dir = mkdtempSync(join(tmpdir(), 'taskmill-node-curve-'));
after(() => rmSync(dir, {recursive: true, force: true}));

let fileCount = 0;
function file(text) {
  const path = join(dir, `f${++fileCount}.key`);
  writeFileSync(path, text);
  return path;
}

// Runs fn with process.env[name] set as given (undefined: removed), then restores it.
async function withEnv(vars, fn) {
  const saved = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  const set = (entries) => {
    for (const [k, v] of Object.entries(entries)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  };
  set(vars);
  try {
    return await fn();
  } finally {
    set(saved);
  }
}

describe('the key-file parser', () => {
  test('generated files read back', () => {
    const {keyFile, pubFile} = curve.generate('alice', dir);
    assert.equal(keyFile, join(dir, 'alice.key'));
    assert.equal(statSync(keyFile).mode & 0o777, 0o600);
    const {publicKey, secretKey} = curve.readKeyPair(keyFile);
    assert.equal(publicKey.length, 40);
    assert.equal(secretKey.length, 40);
    assert.equal(curve.readPublicKey(pubFile), publicKey);
    assert.equal(curve.readPublicKey(keyFile), publicKey);
    assert.ok(!readFileSync(pubFile, 'utf8').includes('secret-key'));
    assert.throws(() => curve.generate('alice', dir), /exists/);
  });

  test('the czmq layout, with comments and other lines', () => {
    const {publicKey, secretKey} = zmq.curveKeyPair();
    const path = file('#   ****  Generated on 2026-11-22 by CZMQ  ****\n' +
      '#   ZeroMQ CURVE **Secret** Certificate\n' +
      '#   public-key = "this comment is not a key"\n\n' +
      'metadata\n    name = "alice"\ncurve\n' +
      `    public-key = "${publicKey}"\n    secret-key = "${secretKey}"\n`);
    assert.deepEqual(curve.readKeyPair(path), {publicKey, secretKey});
  });

  test('single-quoted and unquoted values', () => {
    const {publicKey, secretKey} = zmq.curveKeyPair();
    const path = file(`curve\n    public-key = '${publicKey}'\n    secret-key = ${secretKey}\n`);
    assert.deepEqual(curve.readKeyPair(path), {publicKey, secretKey});
  });

  test('only the curve section counts', () => {
    const {publicKey, secretKey} = zmq.curveKeyPair();
    const other = zmq.curveKeyPair().publicKey;
    const path = file(`metadata\n    public-key = "${other}"\n` +
      `public-key = "${other}"\n` +  // a section name, not an entry
      `curve\n    public-key = "${publicKey}"\n    secret-key = "${secretKey}"\n` +
      'extra\n    secret-key = "not even a key"\n');
    assert.deepEqual(curve.readKeyPair(path), {publicKey, secretKey});
  });

  test('a repeated key is refused', () => {
    const {publicKey, secretKey} = zmq.curveKeyPair();
    const path = file(`curve\n    public-key = "${publicKey}"\n    public-key = "${publicKey}"\n` +
      `    secret-key = "${secretKey}"\n`);
    assert.throws(() => curve.readKeyPair(path), /line 3: public-key given twice/);
  });

  test('a huge file is not a key file', () => {
    assert.throws(() => curve.readPublicKey(file('#'.repeat(70_000) + '\n')), /not a key file/);
  });

  test('a literal Z85 public key', () => {
    assert.equal(curve.readPublicKey(GOOD), GOOD);
  });

  for (const [arg, error] of [
    ['/nonexistent/broker.pub', /no such CURVE key file/],
    ['short', /no such CURVE key file, and not a 40-character Z85 key/],
    [GOOD.slice(0, -1) + '~', /not a Z85 key \(bad characters '~'\)/],
    [GOOD.slice(0, -2) + ', ', /bad characters ' ,'/],
  ]) {
    test(`a bad public key argument: ${arg}`, () => {
      assert.throws(() => curve.readPublicKey(arg), (err) => {
        assert.ok(err instanceof CurveKeyError);
        assert.equal(err.code, 'invalid_argument');
        assert.match(err.message, error);
        return true;
      });
    });
  }

  test('a missing key file', () => {
    assert.throws(() => curve.readKeyPair('/nonexistent/me.key'),
        /\/nonexistent\/me.key: no such CURVE key file/);
  });

  test('a key of the wrong length in a file', () => {
    assert.throws(() => curve.readPublicKey(file('curve\n    public-key = "abc"\n')),
        /line 2: public-key: a CURVE key is 40 Z85 characters, not 3/);
  });

  test('a key with characters outside Z85 in a file', () => {
    const {publicKey, secretKey} = zmq.curveKeyPair();
    const path = file(`curve\n    public-key = "${publicKey}"\n` +
      `    secret-key = "${secretKey.slice(0, -1)}~"\n`);
    assert.throws(() => curve.readKeyPair(path),
        /secret-key: not a Z85 key \(bad characters '~'\)/);
  });

  test('a .key file without its secret key', () => {
    const {pubFile} = curve.generate('bob', dir);
    assert.throws(() => curve.readKeyPair(pubFile), /no secret-key/);
    assert.throws(() => curve.readPublicKey(file('metadata\ncurve\n')),
        /no public-key in a 'curve' section/);
  });

  test('a public key that does not belong to the secret key', () => {
    const path = file(`curve\n    public-key = "${zmq.curveKeyPair().publicKey}"\n` +
      `    secret-key = "${zmq.curveKeyPair().secretKey}"\n`);
    assert.throws(() => curve.readKeyPair(path), /does not belong/);
  });

  test('load needs both settings and falls back to the environment', () => {
    const {keyFile} = curve.generate('carol', dir);
    assert.equal(curve.load({}, {}), null);
    assert.throws(() => curve.load({serverKey: GOOD}, {}), /needs this peer's own key pair/);
    assert.throws(() => curve.load({keyFile}, {}), /needs the broker's public key/);
    const env = {[curve.ENV_SERVER_KEY]: GOOD, [curve.ENV_KEY_FILE]: keyFile};
    assert.equal(curve.load({}, env).curveServerKey, GOOD);
    assert.equal(curve.load({serverKey: '', keyFile: ''}, env), null);  // '' overrides env
  });

  test('the constructors check the keys at once', async () => {
    await withEnv({[curve.ENV_SERVER_KEY]: GOOD, [curve.ENV_KEY_FILE]: undefined}, () => {
      assert.throws(() => new Client({broker: 'tcp://127.0.0.1:1'}), /TASKMILL_CURVE_KEY_FILE/);
      assert.throws(() => new Worker({broker: 'tcp://127.0.0.1:1'}), /TASKMILL_CURVE_KEY_FILE/);
    });
  });
});

// A ROUTER with CURVE on, in its own context, answering with `handler`; its ZAP handler lets
// in only `allowed` client keys (200) and refuses the rest (400).
class CurveRouter {
  constructor(allowed, handler) {
    const {publicKey, secretKey} = zmq.curveKeyPair();
    this.publicKey = publicKey;
    this.allowed = new Set(allowed);
    this.handler = handler;
    this.zapLog = [];    // [client key (Z85), status]
    this.received = [];  // [routing id, command, message]
    this.context = new zmq.Context();
    this.zap = new zmq.Reply({context: this.context, linger: 0});
    // Handover, as the broker's backend: a worker's new link takes over its routing id even
    // before the ROUTER has seen the old connection go.
    this.router = new zmq.Router({context: this.context, linger: 0, curveServer: true,
      curveSecretKey: secretKey, handover: true});
  }

  async start() {
    await this.zap.bind('inproc://zeromq.zap.01');  // before the ROUTER: every handshake asks
    await this.router.bind('tcp://127.0.0.1:*');
    this.endpoint = this.router.lastEndpoint;
    this.zapDone = this.serveZap();
    this.serveDone = this.serve();
    return this;
  }

  async serveZap() {
    try {
      for await (const [version, requestId, , , , mechanism, ...creds] of this.zap) {
        const key = mechanism.toString() === 'CURVE' ? z85Encode(creds[0]) : '';
        const status = this.allowed.has(key) ? '200' : '400';
        this.zapLog.push([key, status]);
        await this.zap.send([version, requestId, status,
          status === '200' ? 'OK' : 'not allowed', key, '']);
      }
    } catch (err) {
      if (!this.zap.closed) throw err;
    }
  }

  async serve() {
    try {
      for await (const [peer, ...frames] of this.router) {
        const {command, message} = decodeFrames(frames);
        this.received.push([peer.toString(), command, message]);
        for (const [cmd, msg] of this.handler(command, message)) {
          await this.router.send([peer, ...encodeFrames(cmd, msg)]);
        }
      }
    } catch (err) {
      if (!this.router.closed) throw err;
    }
  }

  statuses(key) {
    return this.zapLog.filter(([k]) => k === key).map(([, status]) => status);
  }

  of(command) {
    return this.received.filter(([, c]) => c === command).map(([, , m]) => m);
  }

  close() {
    this.router.close();
    this.zap.close();
  }
}

const Z85_CHARS =
  '0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#';
function z85Encode(buf) {
  let out = '';
  for (let i = 0; i < buf.length; i += 4) {
    let value = buf.readUInt32BE(i);
    const chunk = [];
    for (let j = 0; j < 5; j++) {
      chunk.unshift(Z85_CHARS[value % 85]);
      value = Math.floor(value / 85);
    }
    out += chunk.join('');
  }
  return out;
}

// SUBMIT gets ids; READY gets one TASK of type 'curve.echo'; the rest nothing.
function answer(command, message) {
  if (command === 'SUBMIT') {
    return [['REPLY', {reqId: message.reqId, ids: message.tasks.map((_, i) => `id-${i}`)}]];
  }
  if (command === 'READY') {
    return [['TASK', {taskId: 't-1', token: 7, type: 'curve.echo',
      payload: Buffer.from('over curve')}]];
  }
  return [];
}

describe('client and worker sockets against a CURVE ROUTER', () => {
  let router;
  let friend;
  let stranger;

  beforeEach(async () => {
    friend = curve.generate(`friend-${++fileCount}`, dir);
    stranger = curve.generate(`stranger-${++fileCount}`, dir);
    router = await new CurveRouter([curve.readKeyPair(friend.keyFile).publicKey], answer).start();
  });

  afterEach(() => router.close());

  test('an allowed client gets its reply', async () => {
    const client = new Client({broker: router.endpoint, heartbeatMs: 0,
      curveServerKey: router.publicKey, curveKeyFile: friend.keyFile});
    try {
      assert.equal((await client.submit({type: 'curve.echo', payload: 'x'})).id, 'id-0');
    } finally {
      await client.close();
    }
    assert.deepEqual(router.statuses(curve.readKeyPair(friend.keyFile).publicKey), ['200']);
  });

  test('a client takes its keys from the environment', async () => {
    const serverPub = file(`curve\n    public-key = "${router.publicKey}"\n`);
    await withEnv({[curve.ENV_SERVER_KEY]: serverPub, [curve.ENV_KEY_FILE]: friend.keyFile},
        async () => {
          const client = new Client({broker: router.endpoint, heartbeatMs: 0});
          try {
            assert.equal((await client.submit({type: 'curve.echo', payload: 'x'})).id, 'id-0');
          } finally {
            await client.close();
          }
        });
  });

  test('a stranger is refused', async () => {
    const client = new Client({broker: router.endpoint, heartbeatMs: 0, requestTimeoutMs: 1500,
      curveServerKey: router.publicKey, curveKeyFile: stranger.keyFile});
    try {
      const key = curve.readKeyPair(stranger.keyFile).publicKey;
      await assert.rejects(client.submit({type: 'curve.echo', payload: 'x'}),
          (err) => err instanceof Unauthorized && err.code === 'unauthorized' &&
            err.message.includes(key));
    } finally {
      await client.close();
    }
    const statuses = router.statuses(curve.readKeyPair(stranger.keyFile).publicKey);
    assert.ok(statuses.length > 0 && statuses.every((s) => s === '400'), `${statuses}`);
    assert.deepEqual(router.received, []);
  });

  test('a plain client gets nothing from a CURVE router', async () => {
    await withEnv({[curve.ENV_SERVER_KEY]: undefined, [curve.ENV_KEY_FILE]: undefined},
        async () => {
          // A long deadline: the router may hang up before this client reads its greeting
          // (a reset drops it), and then only a later dial names the mismatch. The refusal
          // fails the call at once, so this costs nothing when it comes early.
          const client = new Client({broker: router.endpoint, heartbeatMs: 0,
            requestTimeoutMs: 8000});
          try {
            await assert.rejects(client.submit({type: 'curve.echo', payload: 'x'}),
                (err) => err instanceof Unauthorized && /requires CURVE/.test(err.message));
          } finally {
            await client.close();
          }
        });
    assert.deepEqual(router.received, []);
  });

  test('a worker runs a task over CURVE, and again after a reconnect', async () => {
    const friendKey = curve.readKeyPair(friend.keyFile).publicKey;
    const worker = new Worker({broker: router.endpoint, id: 'curve-w', heartbeatMs: 200,
      liveness: 50, handleSignals: false, curveServerKey: router.publicKey,
      curveKeyFile: friend.keyFile});
    worker.handle('curve.echo', async (task) => task.payload.toString().toUpperCase());
    const running = worker.run();
    try {
      await waitFor('the worker\'s DONE', () => router.of('DONE').length >= 1);
      const done = router.of('DONE')[0];
      assert.deepEqual([done.taskId, Number(done.token), done.ok, done.output.toString()],
          ['t-1', 7, true, 'OVER CURVE']);
      // Each link has a routing id of its own: the worker id and 128 random bits.
      assert.match(router.received[0][0], /^curve-w\.[0-9a-f]{32}$/);
      worker.connect();  // a new link, so a new socket: it must be a CURVE client too
      await waitFor('a second CURVE handshake', () => router.statuses(friendKey).length >= 2);
      await waitFor('the DONE after the new READY', () => router.of('DONE').length >= 2);
      assert.deepEqual([...new Set(router.statuses(friendKey))], ['200']);
    } finally {
      worker.stop(0);
      await running;
    }
  });
});
