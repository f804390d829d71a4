"""A Python worker keeps its tasks across a reconnect: READY lists what it still holds,
and DONEs not yet sent when the link closed go out after the new READY."""

from __future__ import annotations

import socket
import threading
import time
from typing import Any, Iterator, List

import pytest
import zmq

from taskmill import Client, codec
from taskmill import messages as m
from taskmill.worker import Task, Worker

from conftest import Cluster, wait_for


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


_peers: List[bytes] = []  # routing ids seen, latest last (the worker's link sends READY first)


def _recv(router: "zmq.Socket[Any]", timeout: float) -> Any:
    assert router.poll(int(timeout * 1000), zmq.POLLIN), "nothing from the worker"
    frames = router.recv_multipart()
    _peers.append(frames[0])
    return codec.decode(frames[1:])


def _recv_until(router: "zmq.Socket[Any]", kind: type, timeout: float = 10) -> Any:
    """The next message of ``kind``, skipping HEARTBEATs and PROGRESS."""
    deadline = time.monotonic() + timeout
    while True:
        msg = _recv(router, max(0.01, deadline - time.monotonic()))
        if isinstance(msg, kind):
            return msg
        assert isinstance(msg, (m.Heartbeat, m.Progress)), f"unexpected {msg!r}"


def _blocking_worker(endpoint: str, worker_id: str, release: threading.Event,
                     started: threading.Event, queues: List[str]) -> Worker:
    worker = Worker(endpoint, queues=queues, concurrency=2, worker_id=worker_id,
                    heartbeat_ms=100, liveness=3, drain_timeout=2.0)

    @worker.handler("py.block")
    def block(task: Task) -> bytes:
        started.set()
        assert release.wait(30), "never released"
        return b"released:" + task.payload

    return worker


@pytest.fixture()
def stop_after() -> Iterator[List[Any]]:
    """(worker, thread) pairs drained and joined in teardown."""
    runs: List[Any] = []
    yield runs
    for worker, thread in runs:
        worker.drain(0.5)
        thread.join(10)
        assert not thread.is_alive()


def _start(worker: Worker, runs: List[Any]) -> None:
    thread = threading.Thread(target=worker.run, kwargs={"install_signal_handlers": False})
    thread.start()
    runs.append((worker, thread))


def test_unsent_done_follows_the_new_ready(stop_after: List[Any]) -> None:
    """Against a fake broker: the DONE of a task finished while the broker was away goes
    out after the next READY, which lists the task as held."""
    endpoint = f"tcp://127.0.0.1:{_free_port()}"
    ctx = zmq.Context.instance()
    router = ctx.socket(zmq.ROUTER)
    router.setsockopt(zmq.LINGER, 0)
    router.bind(endpoint)
    release, started = threading.Event(), threading.Event()
    worker = _blocking_worker(endpoint, "py-fake", release, started, ["q"])
    _start(worker, stop_after)
    try:
        ready = _recv_until(router, m.Ready)
        assert ready.worker_id == "py-fake" and ready.running == []
        # Each link has a routing id of its own (worker id + random), not the worker id.
        assert _peers[-1].startswith(b"py-fake.") and len(_peers[-1]) == len(b"py-fake.") + 32
        router.send_multipart([_peers[-1], *codec.encode(m.TaskMsg(
            task_id="T1", token=7, type="py.block", queue="q", payload=b"x", attempt=1))])
        assert started.wait(10)
        # The broker goes away; the task finishes while no link can take its DONE.
        router.close(linger=0)
        time.sleep(0.3)
        release.set()
        links = worker.links
        wait_for(lambda: worker.links > links, 10, "the worker to reconnect")
        router = ctx.socket(zmq.ROUTER)
        router.setsockopt(zmq.LINGER, 0)
        router.bind(endpoint)
        ready = _recv_until(router, m.Ready)
        assert ready.running == ["T1"]
        done = _recv_until(router, m.Done)
        assert (done.task_id, done.token, done.ok, done.output) == \
            ("T1", 7, True, b"released:x")
        # The held DONE went out once; later links list nothing.
        worker._request_reconnect()
        assert _recv_until(router, m.Ready).running == []
    finally:
        release.set()
        router.close(linger=0)


def test_a_task_survives_a_worker_reconnect(cluster: Cluster, client: Client,
                                            stop_after: List[Any]) -> None:
    """Against the real broker: a reconnect mid-task keeps the attempt; no retry."""
    release, started = threading.Event(), threading.Event()
    worker = _blocking_worker(cluster.backend, "py-reconnect", release, started, ["pyrec"])
    _start(worker, stop_after)
    cluster.wait_workers(["py-reconnect"])
    try:
        task_id = client.submit("py.block", b"p", queue="pyrec")
        assert started.wait(20)
        wait_for(lambda: client.get(task_id).state == "running", 10, "the task to run")
        links = worker.links
        worker._request_reconnect()
        wait_for(lambda: worker.links > links, 10, "the worker to reconnect")
        time.sleep(1.0)  # several heartbeats: the broker has seen the new READY
        info = client.get(task_id)
        assert (info.state, info.attempts) == ("running", 1)
        release.set()
        info = client.result(task_id, timeout=20)
        assert info.output == b"released:p"
        info = client.get(task_id)
        assert (info.state, info.attempts) == ("succeeded", 1)
    finally:
        release.set()
