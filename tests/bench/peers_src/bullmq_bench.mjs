// BullMQ side of scripts/bench.sh: the same workloads as taskmill-bench, on a redis-server
// that bench.sh started (AOF everysec, unix socket). Prints one JSON object on stdout.
//
//   node bullmq_bench.mjs --socket /path/redis.sock --tasks N --producers P --workers W
//        --concurrency C --payload-bytes B --chunk K --latency-samples S
//
// Workers are W child processes (this file with --role worker), each one BullMQ Worker with
// concurrency C and a processor that returns the job's data (like taskmill's `echo`).
// Completion is learnt the BullMQ way: from QueueEvents `completed` (the events stream).
// Every wait is bounded by --timeout-s.

import { fork } from "node:child_process";
import { Queue, QueueEvents, Worker } from "bullmq";

function parseArgs(argv) {
  const opts = {
    role: "main", socket: "", tasks: 20000, producers: 2, workers: 2, concurrency: 32,
    payloadBytes: 100, chunk: 200, latencySamples: 2000, timeoutS: 600,
    scenarios: "throughput,drain,latency", queue: "bench",
  };
  for (let i = 2; i < argv.length; i += 2) {
    const key = argv[i].replace(/^--/, "").replace(/-([a-z])/g, (_, c) => c.toUpperCase());
    if (!(key in opts)) throw new Error(`unknown flag ${argv[i]}`);
    const value = argv[i + 1];
    if (value === undefined) throw new Error(`${argv[i]} needs a value`);
    opts[key] = typeof opts[key] === "number" ? Number(value) : value;
    if (Number.isNaN(opts[key])) throw new Error(`${argv[i]}: not a number: ${value}`);
  }
  if (!opts.socket) throw new Error("--socket is required");
  return opts;
}

const opts = parseArgs(process.argv);
const connection = { path: opts.socket, maxRetriesPerRequest: null };
const payload = { data: "x".repeat(Math.max(0, opts.payloadBytes - 11)) };  // ~payloadBytes JSON

function now() { return Number(process.hrtime.bigint()) / 1e6; }  // ms, monotonic

function withTimeout(promise, what) {
  let timer;
  const limit = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: timed out after ${opts.timeoutS} s`)),
                       opts.timeoutS * 1000);
  });
  return Promise.race([promise, limit]).finally(() => clearTimeout(timer));
}

async function runWorker() {
  // Created paused, started on the parent's "run", so drain timing starts with fetching.
  const worker = new Worker(opts.queue, async (job) => job.data,
                            { connection, concurrency: opts.concurrency, autorun: false });
  await worker.waitUntilReady();
  process.on("message", async (msg) => {
    if (msg === "run") worker.run().catch((e) => { console.error(e); process.exit(1); });
    if (msg === "stop") { await worker.close(); process.exit(0); }
  });
  process.send("ready");
}

class Workers {
  constructor() { this.children = []; }
  async start() {
    const args = process.argv.slice(2).concat(["--role", "worker"]);
    this.children = Array.from({ length: opts.workers }, () => fork(process.argv[1], args));
    await withTimeout(Promise.all(this.children.map(
        (c) => new Promise((resolve, reject) => {
          c.once("message", resolve);
          c.once("exit", (code) => reject(new Error(`worker exited with ${code}`)));
        }))), "starting workers");
  }
  run() { for (const c of this.children) c.send("run"); }
  async stop() {
    await Promise.all(this.children.map((c) => new Promise((resolve) => {
      const kill = setTimeout(() => c.kill("SIGKILL"), 10000);
      c.once("exit", () => { clearTimeout(kill); resolve(); });
      c.send("stop");
    })));
    this.children = [];
  }
}

// Counts `completed` events until `n` more arrive; resolves with the time of the last one.
function completions(events, n) {
  let seen = 0, failed = 0;
  return withTimeout(new Promise((resolve) => {
    const done = () => {
      if (++seen === n) {
        events.off("completed", onCompleted);
        events.off("failed", onFailed);
        resolve({ last: now(), failed });
      }
    };
    const onCompleted = () => done();
    const onFailed = () => { ++failed; done(); };
    events.on("completed", onCompleted);
    events.on("failed", onFailed);
  }), "waiting for completions");
}

// P producers, each adding its share with addBulk in chunks, one chunk in flight each.
async function produce(queue, n) {
  const shares = Array.from({ length: opts.producers },
                            (_, i) => Math.floor(n / opts.producers) + (i < n % opts.producers));
  await Promise.all(shares.map(async (share) => {
    for (let sent = 0; sent < share; sent += opts.chunk) {
      const k = Math.min(opts.chunk, share - sent);
      await queue.addBulk(Array.from({ length: k }, () => ({ name: "echo", data: payload })));
    }
  }));
}

function rate(n, ms, failed) {
  return { tasks: n, seconds: ms / 1000, tasks_per_s: n / (ms / 1000), failed };
}

async function main() {
  // One event per job is kept in the stream until QueueEvents reads it: room for a whole run.
  const queue = new Queue(opts.queue, {
    connection, streams: { events: { maxLen: Math.max(10000, 2 * opts.tasks) } },
  });
  const events = new QueueEvents(opts.queue, { connection });
  await queue.waitUntilReady();
  await events.waitUntilReady();
  const workers = new Workers();
  const out = {};
  for (const scenario of opts.scenarios.split(",")) {
    if (scenario === "throughput") {
      await workers.start();
      workers.run();
      const done = completions(events, opts.tasks);
      const start = now();
      await produce(queue, opts.tasks);
      const { last, failed } = await done;
      out.throughput = rate(opts.tasks, last - start, failed);
      await workers.stop();
    } else if (scenario === "drain") {
      await produce(queue, opts.tasks);
      await workers.start();
      const done = completions(events, opts.tasks);
      const start = now();
      workers.run();
      const { last, failed } = await done;
      out.drain = rate(opts.tasks, last - start, failed);
      await workers.stop();
    } else if (scenario === "latency") {
      await workers.start();
      workers.run();
      const warmup = Math.max(20, Math.floor(opts.latencySamples / 20));
      const samples = [];
      for (let i = 0; i < warmup + opts.latencySamples; ++i) {
        const start = now();
        const job = await queue.add("echo", payload);
        await withTimeout(job.waitUntilFinished(events), "latency sample");
        if (i >= warmup) samples.push((now() - start) * 1000);
      }
      samples.sort((a, b) => a - b);
      const pct = (q) => samples[Math.min(samples.length - 1, Math.ceil(q * samples.length) - 1)];
      out.latency = {
        samples: samples.length, p50_us: pct(0.5), p90_us: pct(0.9), p99_us: pct(0.99),
        p999_us: pct(0.999), max_us: samples[samples.length - 1],
        mean_us: samples.reduce((a, b) => a + b, 0) / samples.length,
      };
      await workers.stop();
    } else {
      throw new Error(`unknown scenario ${scenario}`);
    }
  }
  await events.close();
  await queue.close();
  process.stdout.write(JSON.stringify(out) + "\n");
}

if (opts.role === "worker") {
  runWorker().catch((e) => { console.error(e); process.exit(1); });
} else {
  main().then(() => process.exit(0), (e) => { console.error(e); process.exit(1); });
}
