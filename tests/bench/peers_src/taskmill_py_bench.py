"""The Python-client row of scripts/bench.sh: what a Python user of taskmill gets, beside
Celery's row. Starts a broker (its embedded redis-server, AOF everysec) and WORKERS C++
taskmill-worker processes, then times the same workloads as taskmill-bench through the
taskmill Python client (client/python), with the result of each task taken from the
broker's RESULT push (submit(..., notify=True), handle.result()): no second request.

    python3 taskmill_py_bench.py --build-dir build --tasks N --producers P --workers W
        --concurrency C --chunk 200 --payload-bytes B --latency-samples S

* throughput: P producer threads, each with its own Client, submit_many chunks of --chunk
  tasks with notify, then take every result; tasks / (last result - first submit).
* latency: one task at a time, submit then result (round trip).
The producers' own CPU per task (this process, time.process_time) is reported too.
Prints one JSON object on stdout. Every process started here is stopped by its PID; every
wait is bounded by --timeout-s.
"""

from __future__ import annotations

import argparse
import json
import math
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import List

REPO = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(REPO / "client" / "python"))

import taskmill  # noqa: E402
from taskmill import TaskSpec  # noqa: E402


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


def percentile(sorted_us: List[float], q: float) -> float:
    if not sorted_us:
        return 0.0
    return sorted_us[min(len(sorted_us) - 1, max(0, math.ceil(q * len(sorted_us)) - 1))]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--build-dir", default=str(REPO / "build"))
    ap.add_argument("--tasks", type=int, default=5000)
    ap.add_argument("--producers", type=int, default=2)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--chunk", type=int, default=200)
    ap.add_argument("--payload-bytes", type=int, default=100)
    ap.add_argument("--latency-samples", type=int, default=500)
    ap.add_argument("--timeout-s", type=float, default=600)
    args = ap.parse_args()
    build = Path(args.build_dir)
    payload = b"x" * args.payload_bytes
    procs: List[subprocess.Popen] = []
    with tempfile.TemporaryDirectory(prefix="taskmill-py-bench-") as tmp:
        try:
            ready = Path(tmp) / "ready"
            log = open(Path(tmp) / "broker.log", "wb")
            procs.append(subprocess.Popen(
                [str(build / "broker/taskmill-broker"), "--data-dir", f"{tmp}/data",
                 "--frontend", "tcp://127.0.0.1:*", "--backend", "tcp://127.0.0.1:*",
                 "--ready-file", str(ready), "--log-level", "warn"],
                stdout=log, stderr=subprocess.STDOUT))
            deadline = time.monotonic() + 30
            found = {}
            while time.monotonic() < deadline:
                if procs[0].poll() is not None:
                    raise SystemExit(f"broker exited: {(Path(tmp) / 'broker.log').read_text()}")
                if ready.exists():
                    found = dict(line.split("=", 1) for line in ready.read_text().split()
                                 if "=" in line)
                    if "frontend" in found and "backend" in found:
                        break
                time.sleep(0.05)
            else:
                raise SystemExit("the broker did not write its ready file in 30 s")
            for i in range(args.workers):
                procs.append(subprocess.Popen(
                    [str(build / "worker/taskmill-worker"), "--broker", found["backend"],
                     "--id", f"py-bench-w{i}", "--concurrency", str(args.concurrency),
                     "--log-level", "warn"],
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            endpoint = found["frontend"]
            with taskmill.Client(endpoint) as c:
                end = time.monotonic() + 30
                while len(c.stats().workers) < args.workers:
                    if time.monotonic() > end:
                        raise SystemExit("the workers did not register in 30 s")
                    time.sleep(0.05)
            out = {"client": "python", "python": sys.version.split()[0],
                   "throughput": throughput(endpoint, args, payload),
                   "latency": latency(endpoint, args, payload)}
            print(json.dumps(out))
        finally:
            for p in reversed(procs):
                stop(p)


def throughput(endpoint: str, args: argparse.Namespace, payload: bytes) -> dict:
    shares = [args.tasks // args.producers + (1 if i < args.tasks % args.producers else 0)
              for i in range(args.producers)]
    failed = [0] * args.producers
    errors: List[BaseException] = []
    clients = [taskmill.Client(endpoint, request_timeout=60) for _ in shares]

    def produce(i: int) -> None:
        try:
            c, handles, left = clients[i], [], shares[i]
            while left > 0:
                n = min(args.chunk, left)
                handles += c.submit_many([TaskSpec(type="echo", payload=payload)] * n,
                                         notify=True)
                left -= n
            for h in handles:
                if h.wait(timeout=args.timeout_s).state != "succeeded":
                    failed[i] += 1
        except BaseException as e:  # noqa: BLE001 - reported by the main thread
            errors.append(e)

    cpu0, start = time.process_time(), time.monotonic()
    threads = [threading.Thread(target=produce, args=(i,)) for i in range(args.producers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(args.timeout_s)
    seconds, cpu = time.monotonic() - start, time.process_time() - cpu0
    for c in clients:
        c.close()
    if errors:
        raise errors[0]
    return {"tasks": args.tasks, "seconds": seconds, "tasks_per_s": args.tasks / seconds,
            "failed": sum(failed), "client_cpu_us_per_task": cpu / args.tasks * 1e6}


def latency(endpoint: str, args: argparse.Namespace, payload: bytes) -> dict:
    samples: List[float] = []
    with taskmill.Client(endpoint, request_timeout=60) as c:
        warmup = max(20, args.latency_samples // 20)
        for _ in range(warmup):
            c.submit("echo", payload, notify=True).result(timeout=args.timeout_s)
        cpu0 = time.process_time()
        for _ in range(args.latency_samples):
            t0 = time.perf_counter()
            c.submit("echo", payload, notify=True).result(timeout=args.timeout_s)
            samples.append((time.perf_counter() - t0) * 1e6)
        cpu = time.process_time() - cpu0
    samples.sort()
    return {"samples": len(samples), "warmup": warmup,
            "p50_us": percentile(samples, 0.50), "p90_us": percentile(samples, 0.90),
            "p99_us": percentile(samples, 0.99), "p999_us": percentile(samples, 0.999),
            "max_us": samples[-1] if samples else 0.0,
            "mean_us": sum(samples) / len(samples) if samples else 0.0,
            "client_cpu_us_per_task": cpu / max(1, len(samples)) * 1e6}


if __name__ == "__main__":
    main()
