"""The Celery-style API against a real broker: declared tasks submitted and served,
handles with results, dict payloads everywhere, AsyncClient's full set of calls."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
from typing import Any, Dict, Iterator

import pytest

import taskmill
from taskmill import AsyncClient, Client, TaskSpec
from taskmill.worker import Task

from conftest import PY_ROOT, Cluster, stop, wait_for


@pytest.fixture()
def app(cluster: Cluster) -> Iterator[taskmill.App]:
    tm = taskmill.App(cluster.frontend, worker_broker=cluster.backend)

    @tm.task(queue="apiq", max_attempts=2)
    def double(task: Task) -> Dict[str, Any]:
        return {"n": task.json()["n"] * 2, "attempt": task.attempt}

    @tm.task(name="api.async", queue="apiq")
    async def shout(task: Task) -> str:
        await asyncio.sleep(0.01)
        return task.text.upper()

    worker = tm.worker(concurrency=2, worker_id="py-app", heartbeat_ms=200)
    thread = threading.Thread(target=worker.run, kwargs={"install_signal_handlers": False})
    thread.start()
    cluster.wait_workers(["py-app"])
    yield tm
    worker.drain(1.0)
    thread.join(10)
    tm.close()
    assert not thread.is_alive()


def test_declared_tasks_submit_and_return_handles(app: taskmill.App) -> None:
    double = app.tasks["double"]
    handle = double.submit({"n": 21})
    assert isinstance(handle, str) and handle.id == str(handle)
    info = handle.result(timeout=20)
    assert info.json() == {"n": 42, "attempt": 1}
    got = app.client.get(handle)
    assert (got.queue, got.max_attempts) == ("apiq", 2)  # the declared defaults
    assert app.tasks["api.async"].submit("hi").result(timeout=20).text() == "HI"


def test_taskspec_takes_a_dict_payload(client: Client, app: taskmill.App) -> None:
    spec = TaskSpec(type="double", queue="apiq", payload={"n": 5})
    assert spec.payload == b'{"n":5}'
    assert client.submit(spec).result(timeout=20).json()["n"] == 10


def test_async_client_handles_and_wait_batch(cluster: Cluster, app: taskmill.App) -> None:
    async def main() -> None:
        async with AsyncClient(cluster.frontend) as client:
            handle = await client.submit("double", {"n": 1}, queue="apiq")
            info = await handle  # an awaitable handle is its result
            assert info.json()["n"] == 2
            status = await client.submit_batch([
                TaskSpec(type="double", name="a", queue="apiq", payload={"n": 2}),
                TaskSpec(type="double", name="b", queue="apiq", payload={"n": 3},
                         depends_on=["a"])])
            final = await client.wait_batch(status.id, timeout=20)
            assert final.state == "succeeded"
            b = await client.get(final.tasks["b"])
            assert b.json()["n"] == 6

    asyncio.run(main())


def test_the_tasks_example_runs_as_worker_and_client(cluster: Cluster) -> None:
    """examples/tasks.py as the worker (TASKMILL_WORKER_BROKER), use_tasks.py as the client
    (TASKMILL_BROKER): each reads its own variable."""
    examples = PY_ROOT / "examples"
    env = dict(os.environ, TASKMILL_BROKER=cluster.frontend,
               TASKMILL_WORKER_BROKER=cluster.backend,
               PYTHONPATH=os.pathsep.join([str(PY_ROOT), os.environ.get("PYTHONPATH", "")]))
    worker = subprocess.Popen([sys.executable, "tasks.py"], cwd=examples, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        with Client(cluster.frontend) as c:
            wait_for(lambda: any("images" in w.queues for w in c.stats().workers), 20,
                     "the example worker to register")
        out = subprocess.run([sys.executable, "use_tasks.py"], cwd=examples, env=env,
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        assert out.stdout.splitlines() == ["{'width': 160, 'height': 80}", "fetched example.com"]
    finally:
        stop(worker)
