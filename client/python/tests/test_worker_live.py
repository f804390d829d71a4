"""Python workers against a real broker: in-process, and as `python -m taskmill.worker`
serving tasks that the taskmill CLI submits."""

from __future__ import annotations

import json
import signal
import threading
import time
from typing import Dict, Iterator, List

import pytest

import taskmill
from taskmill import Client, TaskSpec
from taskmill.worker import Task, Worker

from conftest import Cluster, wait_for


@pytest.fixture()
def py_worker(cluster: Cluster) -> Iterator[Worker]:
    """An in-process Worker on queue 'pyq', run on a thread; drained in teardown."""
    worker = Worker(cluster.backend, queues=["pyq"], concurrency=2, worker_id="py-inproc",
                    heartbeat_ms=200, drain_timeout=2.0)
    attempts: List[int] = []

    @worker.handler("py.cost")
    def cost(task: Task) -> dict:
        task.add_cost("usd", 0.25)
        task.add_cost("tokens_in", 512)
        task.add_cost("usd", 0.5)
        task.progress(0.5, "half")
        return {"got": task.json(), "attempt": task.attempt}

    @worker.handler("py.flaky")
    def flaky(task: Task) -> str:
        attempts.append(task.attempt)
        if task.attempt == 1:
            raise RuntimeError("first attempt fails")
        return "second time lucky"

    @worker.handler("py.permanent")
    def permanent(task: Task) -> None:
        raise taskmill.PermanentError("bad input", code="bad_input")

    @worker.handler("py.slow")
    def slow(task: Task) -> bytes:
        task.wait_cancelled(30)
        if task.cancelled:
            raise RuntimeError("stopped")
        return b"never"

    @worker.handler("py.join")
    def join(task: Task) -> bytes:
        return task.name.encode() + b"<" + b"+".join(
            task.parents[k] for k in sorted(task.parents)) + b">"

    thread = threading.Thread(target=worker.run, kwargs={"install_signal_handlers": False})
    thread.start()
    cluster.wait_workers(["py-inproc"])
    yield worker
    worker.drain(1.0)
    thread.join(10)
    assert not thread.is_alive()


def test_costs_progress_and_output(client: Client, py_worker: Worker) -> None:
    task_id = client.submit("py.cost", {"n": 1}, queue="pyq")
    info = client.result(task_id, timeout=20)
    assert json.loads(info.output) == {"got": {"n": 1}, "attempt": 1}
    assert info.cost == {"usd": 0.75, "tokens_in": 512.0}
    assert info.worker == "py-inproc"


def test_exceptions_retry_and_permanent_errors(client: Client, py_worker: Worker) -> None:
    backoff = taskmill.BackoffPolicy(base_ms=10, max_ms=10)
    flaky = client.submit("py.flaky", queue="pyq", backoff=backoff)
    assert client.result(flaky, timeout=20).output == b"second time lucky"
    assert client.get(flaky).attempts == 2
    perm = client.submit("py.permanent", queue="pyq")
    with pytest.raises(taskmill.TaskFailed) as e:
        client.result(perm, timeout=20)
    assert e.value.code == "bad_input" and e.value.attempts == 1
    assert e.value.error is not None and not e.value.error.retryable


def test_cancel_reaches_the_handler(client: Client, py_worker: Worker) -> None:
    task_id = client.submit("py.slow", queue="pyq")
    wait_for(lambda: client.get(task_id).state == "running", 10, "the task to start")
    assert client.cancel(task_id) == 1
    info = client.wait([task_id], timeout=10)[0]
    assert info.state == "cancelled"


def test_batch_parents_reach_python_handlers(client: Client, py_worker: Worker) -> None:
    tasks = [TaskSpec(type="py.join", name="a", queue="pyq"),
             TaskSpec(type="py.join", name="b", queue="pyq", depends_on=["a"]),
             TaskSpec(type="py.join", name="c", queue="pyq", depends_on=["a"]),
             TaskSpec(type="py.join", name="d", queue="pyq", depends_on=["b", "c"])]
    status = client.wait_batch(client.submit_batch(tasks).id, timeout=20)
    assert status.state == "succeeded"
    d = client.get(status.tasks["d"])
    assert d.output == b"d<b<a<>>+c<a<>>>"


def test_cli_submits_to_a_python_worker_process(cluster: Cluster) -> None:
    proc = cluster.python_worker("resize_worker:worker", "py-proc", "--queues", "pyproc",
                                 "--concurrency", "2", cwd=cluster_examples())
    cluster.wait_workers(["py-proc"])
    out = cluster.cli("--json", "submit", "--type", "resize", "--queue", "pyproc",
                      "--payload", "x", "--wait")
    assert out.returncode == 0, out.stdout + out.stderr
    task = json.loads(out.stdout)
    assert task["state"] == "succeeded"
    assert json.loads(task["output"]) == {"resized": "x", "attempt": 1}
    assert task["cost"] == {"usd": 0.001}
    # A permanent error from the handler: no retry, exit 1.
    failed = cluster.cli("--json", "submit", "--type", "resize", "--queue", "pyproc",
                         "--wait")
    assert failed.returncode == 1
    assert json.loads(failed.stdout)["attempts"] == 1
    # SIGTERM drains: BYE, exit 0, and the broker forgets the worker at once.
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=10) == 0
    with Client(cluster.frontend) as c:
        wait_for(lambda: "py-proc" not in {w.id for w in c.stats().workers}, 5,
                 "the worker to leave")


def test_async_client(cluster: Cluster) -> None:
    import asyncio

    async def main() -> None:
        async with taskmill.AsyncClient(cluster.frontend) as client:
            ids = await asyncio.gather(*(client.submit("echo", f"a{i}") for i in range(5)))
            infos = await client.wait(list(ids), timeout=20)
            assert [i.output for i in infos] == [f"a{i}".encode() for i in range(5)]
            run = await client.submit_batch_subscribed(
                [TaskSpec(type="echo", name="x"), TaskSpec(type="echo", name="y",
                                                           depends_on=["x"])])
            types = [e.type async for e in run.subscription]
            assert types[0] == "batch_started" and types[-1] == "batch_completed"
            with pytest.raises(taskmill.NotFound):
                await client.get("01NOSUCHTASK0000000000000")
            assert (await client.stats()).workers

    asyncio.run(main())


def cluster_examples():  # type: ignore[no-untyped-def]
    from conftest import PY_ROOT
    return PY_ROOT / "examples"


def test_timeouts_and_cancels_hold_for_a_handler_that_ignores_them(
        cluster: Cluster, client: Client) -> None:
    """Issue 16's report, end to end: a Python handler that ignores its timeout ends
    `timeout`, never `succeeded`; `taskmill cancel` of one that ignores the cancel says
    "cancel requested" while it still runs, `get` shows how long it has run, and the task
    ends cancelled."""
    release = threading.Event()
    worker = Worker(cluster.backend, queues=["pyhang"], concurrency=2, worker_id="py-hang",
                    heartbeat_ms=200, drain_timeout=2.0, cancel_grace=30.0)

    hung: Dict[str, Task] = {}  # task id -> its attempt's Task

    @worker.handler("py.hang")
    def hang(task: Task) -> str:
        hung[task.id] = task
        release.wait(float(task.text))  # never looks at task.cancel_event
        return "finished anyway"

    thread = threading.Thread(target=worker.run, kwargs={"install_signal_handlers": False})
    thread.start()
    try:
        cluster.wait_workers(["py-hang"])
        timed = client.submit("py.hang", "1.0", queue="pyhang", timeout_ms=300, max_attempts=1)
        info = timed.wait(timeout=20)
        assert info.state == "failed", info
        assert info.error is not None and info.error.code == "timeout"
        assert info.output == b""

        held = client.submit("py.hang", "30", queue="pyhang", max_attempts=1)
        wait_for(lambda: held.get().state == "running", 10, "the task to run")
        got = cluster.cli("get", held)
        assert "running for" in got.stdout, got.stdout
        # The Python API says the same: how long it has run, and that its cancel is only
        # requested while the handler still runs.
        wait_for(lambda: held.get().elapsed_ms() >= 50, 10, "elapsed time to grow")
        assert held.get().duration_ms == 0
        affected = client.cancel_many([held])
        assert affected.count == 1 and affected.requested == [held], affected
        out = cluster.cli("cancel", held)
        assert out.returncode == 0, out.stderr
        assert "cancel requested for 1 running task(s)" in out.stdout, out.stdout
        # The replies do not wait for the worker to hear its CANCEL_TASK: let the handler
        # return only once the cancel has reached it, so that its result is a late one (a
        # result returned before the worker hears of the cancel is a success).
        wait_for(lambda: held.id in hung and hung[held.id].cancelled, 10,
                 "the cancel to reach the handler")
        release.set()
        final = held.wait(timeout=20)
        assert final.state == "cancelled", final
    finally:
        release.set()
        worker.drain(1.0)
        thread.join(10)
    assert not thread.is_alive()
