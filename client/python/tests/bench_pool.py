"""Per-task cost of the Python worker's process pool: a no-op handler run one task at a
time through a fake broker (no Redis, no real broker), with processes=0 (the handler on an
executor thread) and processes=1 (in a pool process). Prints tasks/s and p50/p99 of the
TASK -> DONE round trip. Run: python3 client/python/tests/bench_pool.py [tasks]."""

from __future__ import annotations

import os
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from taskmill import messages as m  # noqa: E402
from taskmill.worker import Worker  # noqa: E402

from fake_broker import FakeBroker  # noqa: E402


def run(processes: int, tasks: int) -> None:
    broker = FakeBroker()
    w = Worker(broker.endpoint, queues=["q"], concurrency=1, worker_id="bench", heartbeat_ms=1000,
               liveness=100, processes=processes)
    w.add_handler("noop", lambda task: b"")
    broker.start(w)
    times = []
    t0 = time.perf_counter()
    for i in range(tasks):
        start = time.perf_counter()
        broker.task(f"T{i}", "noop")
        done = broker.wait_for(m.Done, pred=lambda d, i=i: d.task_id == f"T{i}")
        assert done is not None and done.ok
        times.append(time.perf_counter() - start)
    total = time.perf_counter() - t0
    broker.close()
    times.sort()
    p50, p99 = times[len(times) // 2], times[int(len(times) * 0.99)]
    print(f"processes={processes}: {tasks / total:.0f} tasks/s, p50 {p50 * 1e6:.0f} us,"
          f" p99 {p99 * 1e6:.0f} us")


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    for p in (0, 1, 0, 1):
        run(p, n)
