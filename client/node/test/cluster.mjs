// A real cluster for the live tests: taskmill-broker (with its embedded redis-server) on
// loopback with port 0 endpoints, and C++ taskmill-worker processes. Only processes started
// here are stopped, by their PID. Binaries come from $TASKMILL_BUILD_DIR (default
// <repo>/build).

import {spawn} from 'node:child_process';
import {existsSync, mkdtempSync, readFileSync, rmSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {dirname, join, resolve} from 'node:path';
import net from 'node:net';
import {fileURLToPath} from 'node:url';

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const buildDir = process.env.TASKMILL_BUILD_DIR ?? join(repoRoot, 'build');
export const brokerBin = join(buildDir, 'broker', 'taskmill-broker');
export const workerBin = join(buildDir, 'worker', 'taskmill-worker');
export const cliBin = join(buildDir, 'client', 'taskmill');

// Why live tests cannot run, or null when they can.
export function missingBinaries() {
  const missing = [brokerBin, workerBin, cliBin].filter((b) => !existsSync(b));
  return missing.length ? `not built: ${missing.join(', ')} (set TASKMILL_BUILD_DIR)` : null;
}

// Polls `probe` until it returns a truthy value or the deadline passes.
export async function waitFor(what, probe, timeoutMs = 10_000, everyMs = 20) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

// A loopback TCP port free a moment ago (for a process or a dead endpoint to point at).
export async function freePort() {
  const srv = net.createServer();
  await new Promise((r) => srv.listen(0, '127.0.0.1', r));
  const {port} = srv.address();
  await new Promise((r) => srv.close(r));
  return port;
}

function start(bin, args, env = {}) {
  const child = spawn(bin, args, {stdio: ['ignore', 'pipe', 'pipe'], env: {...process.env, ...env}});
  child.output = '';
  const keep = (d) => {
    child.output = (child.output + d).slice(-20_000);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  child.exited = new Promise((r) => child.on('exit', (code, signal) => r({code, signal})));
  return child;
}

async function stop(child, timeoutMs = 5000) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  await child.exited;
  clearTimeout(timer);
}

export class Cluster {
  constructor() {
    this.dir = mkdtempSync(join(tmpdir(), 'taskmill-node-'));
    this.children = [];
  }

  // frontend/backend: the endpoints to bind (default: ports the kernel picks); brokerArgs:
  // more flags for the broker (kept for a restart).
  async start({frontend = 'tcp://127.0.0.1:*', backend = 'tcp://127.0.0.1:*',
    brokerArgs = this.brokerArgs ?? []} = {}) {
    this.brokerArgs = brokerArgs;
    const b = await this.startBroker('ready', ['--data-dir', join(this.dir, 'data'),
      ...brokerArgs], {frontend, backend});
    this.broker = b.proc;
    this.frontend = b.frontend;
    this.backend = b.backend;
    return this;
  }

  // A taskmill-broker with `args` (its store) managed by this cluster, once its ready file
  // (`readyName` in this.dir) is written: {proc, frontend, backend}.
  async startBroker(readyName, args, {frontend = 'tcp://127.0.0.1:*',
    backend = 'tcp://127.0.0.1:*'} = {}) {
    const ready = join(this.dir, readyName);
    rmSync(ready, {force: true});
    // `args` last: a flag given there wins over these defaults.
    const proc = this.spawn(brokerBin, ['--frontend', frontend, '--backend', backend,
      '--ready-file', ready, '--heartbeat-ms', '200', '--http', '127.0.0.1:0', ...args]);
    const text = await waitFor(`the broker ready file ${readyName}`, () => {
      if (proc.exitCode !== null) {
        throw new Error(`broker exited: ${proc.output}`);
      }
      return existsSync(ready) && readFileSync(ready, 'utf8');
    }, 15_000);
    const kv = Object.fromEntries(text.trim().split('\n').map((l) => l.split(/=(.*)/s).slice(0, 2)));
    return {proc, frontend: kv.frontend, backend: kv.backend};
  }

  // Kills the broker (SIGKILL: no drain; its embedded redis-server flushes its AOF and exits
  // with it), then starts a new one on the same endpoints and data directory.
  async restartBroker() {
    const old = this.broker;
    old.kill('SIGKILL');
    await old.exited;
    this.children = this.children.filter((c) => c !== old);
    // The new broker waits for the old one's redis-server (still flushing its AOF) to exit.
    return this.start({frontend: this.frontend, backend: this.backend});
  }

  // A C++ taskmill-worker with the built-in handlers.
  startCppWorker(id, extra = []) {
    const w = start(workerBin, ['--broker', this.backend, '--id', id, '--heartbeat-ms', '200',
      ...extra]);
    this.children.push(w);
    return w;
  }

  // Any process whose life this cluster manages (e.g. a Node worker script).
  spawn(bin, args, env = {}) {
    const child = start(bin, args, env);
    this.children.push(child);
    return child;
  }

  // Resolves once `stats()` of `client` lists every worker id in `ids`.
  async waitForWorkers(client, ids, timeoutMs = 10_000) {
    await waitFor(`workers ${ids.join(', ')}`, async () => {
      let workers;
      try {
        ({workers} = await client.stats());
      } catch (err) {
        // A restarted broker may answer before its embedded Redis has replayed its AOF
        // (slow on a loaded machine): not there yet, ask again.
        if (err.code === 'store_unavailable') return false;
        throw err;
      }
      return ids.every((id) => workers.some((w) => w.id === id));
    }, timeoutMs, 50);
  }

  async stop() {
    // Workers first, then the broker (which stops its own redis-server).
    for (const c of this.children.filter((c) => c !== this.broker).reverse()) await stop(c);
    if (this.broker) await stop(this.broker, 10_000);
    rmSync(this.dir, {recursive: true, force: true});
  }
}
