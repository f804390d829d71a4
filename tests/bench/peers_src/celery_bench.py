"""Celery side of scripts/bench.sh: the same workloads as taskmill-bench, on a redis-server that
bench.sh started (AOF everysec, unix socket) serving as both broker and result backend.
Prints one JSON object on stdout.

    python celery_bench.py --socket /path/redis.sock --tasks N --producers P --workers W
        --concurrency C --pool prefork --prefetch 64 --payload-bytes B --latency-samples S

The task `echo` returns its argument (like taskmill's echo). Workers are W `celery worker`
processes that start consuming only when told to (add_consumer), so the drain run times the
work, not Python's start-up. Results come back the Celery way: AsyncResult.get / join_native
on the Redis result backend (pub/sub). Every wait is bounded by --timeout-s.
"""

import argparse
import json
import math
import os
import signal
import subprocess
import sys
import threading
import time

from celery import Celery
from celery.result import ResultSet

SOCKET = os.environ.get("BENCH_REDIS_SOCKET", "")
app = Celery("celery_bench", broker=f"redis+socket://{SOCKET}", backend=f"redis+socket://{SOCKET}")
app.conf.update(
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
    task_default_queue="idle",  # workers start on this empty queue (see Workers.run)
)


@app.task(name="echo")
def echo(payload):
    return payload


class Workers:
    def __init__(self, args):
        self.args = args
        self.procs = []
        self.names = []

    def start(self):
        for i in range(self.args.workers):
            name = f"bench{i}-{os.getpid()}@localhost"
            cmd = [sys.executable, "-m", "celery", "-A", "celery_bench", "worker", "-n", name,
                   "-Q", "idle", "--pool", self.args.pool, "-c", str(self.args.concurrency),
                   "--prefetch-multiplier", str(self.args.prefetch), "-l", "warning",
                   "--without-gossip", "--without-mingle", "--without-heartbeat"]
            env = dict(os.environ, BENCH_REDIS_SOCKET=SOCKET)
            self.procs.append(subprocess.Popen(cmd, env=env, cwd=os.path.dirname(__file__),
                                               stdout=subprocess.DEVNULL))
            self.names.append(name)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            replies = app.control.ping(destination=self.names, timeout=0.5)
            if len(replies) == len(self.names):
                return
        raise RuntimeError("celery workers did not answer ping within 60 s")

    def run(self):
        """Starts consuming the bench queue."""
        app.control.add_consumer("bench", destination=self.names, reply=True, timeout=5)

    def stop(self):
        for p in self.procs:
            p.send_signal(signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        self.procs, self.names = [], []


def produce(args, payload, n):
    """P threads each publishing their share; returns the AsyncResults."""
    shares = [n // args.producers + (1 if i < n % args.producers else 0)
              for i in range(args.producers)]
    results = [[] for _ in shares]

    def run(i):
        for _ in range(shares[i]):
            results[i].append(echo.apply_async((payload,), queue="bench"))

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(shares))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return ResultSet([r for rs in results for r in rs])


def rate(n, seconds, failed=0):
    return {"tasks": n, "seconds": seconds, "tasks_per_s": n / seconds, "failed": failed}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--socket", required=True)
    p.add_argument("--tasks", type=int, default=20000)
    p.add_argument("--producers", type=int, default=2)
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--concurrency", type=int, default=2)
    p.add_argument("--pool", default="prefork", choices=["prefork", "threads", "solo", "eventlet", "gevent"])
    p.add_argument("--prefetch", type=int, default=64)
    p.add_argument("--payload-bytes", type=int, default=100)
    p.add_argument("--latency-samples", type=int, default=2000)
    p.add_argument("--timeout-s", type=int, default=600)
    p.add_argument("--scenarios", default="throughput,drain,latency")
    args = p.parse_args()
    if args.socket != SOCKET:
        sys.exit("celery_bench.py: set BENCH_REDIS_SOCKET to the --socket path")
    payload = {"data": "x" * max(0, args.payload_bytes - 11)}
    out = {}
    workers = Workers(args)
    try:
        for scenario in args.scenarios.split(","):
            if scenario == "throughput":
                workers.start()
                workers.run()
                start = time.monotonic()
                rs = produce(args, payload, args.tasks)
                rs.join(timeout=args.timeout_s, interval=0.01)
                out["throughput"] = rate(args.tasks, time.monotonic() - start, int(rs.failed()))
                workers.stop()
            elif scenario == "drain":
                rs = produce(args, payload, args.tasks)
                workers.start()
                start = time.monotonic()
                workers.run()
                rs.join(timeout=args.timeout_s, interval=0.01)
                out["drain"] = rate(args.tasks, time.monotonic() - start, int(rs.failed()))
                workers.stop()
            elif scenario == "latency":
                workers.start()
                workers.run()
                warmup = max(20, args.latency_samples // 20)
                samples = []
                for i in range(warmup + args.latency_samples):
                    t0 = time.monotonic()
                    echo.apply_async((payload,), queue="bench").get(timeout=args.timeout_s)
                    if i >= warmup:
                        samples.append((time.monotonic() - t0) * 1e6)
                samples.sort()

                def pct(q):
                    return samples[min(len(samples) - 1, max(0, math.ceil(q * len(samples)) - 1))]

                out["latency"] = {"samples": len(samples), "p50_us": pct(0.5), "p90_us": pct(0.9),
                                  "p99_us": pct(0.99), "p999_us": pct(0.999), "max_us": samples[-1],
                                  "mean_us": sum(samples) / len(samples)}
                workers.stop()
            else:
                sys.exit(f"celery_bench.py: unknown scenario {scenario}")
    finally:
        workers.stop()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
