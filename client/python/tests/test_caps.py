"""The broker's caps as the Python client sees them (QueueFull, InvalidSpec naming the
limit), and the client's own checks of out-of-range fields before anything is sent."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Iterator

import pytest

import taskmill
from taskmill import Client, TaskSpec

from conftest import Cluster


@pytest.fixture(scope="module")
def capped() -> Iterator[Cluster]:
    with tempfile.TemporaryDirectory(prefix="taskmill-py-caps-") as tmp:
        c = Cluster(Path(tmp), "--max-queue-depth", "2", "--max-payload-bytes", "1024",
                    "--max-batch-tasks", "3")
        try:
            yield c
        finally:
            c.close()


def test_a_full_queue_raises_queue_full(capped: Cluster) -> None:
    with Client(capped.frontend, request_timeout=5) as c:
        c.submit_many([TaskSpec(type="echo", queue="capped"),
                       TaskSpec(type="echo", queue="capped")])
        with pytest.raises(taskmill.QueueFull) as e:
            c.submit("echo", b"x", queue="capped")
        assert e.value.code == "queue_full"
        assert isinstance(e.value, taskmill.TaskmillError)
        assert e.value.message == ("queue capped holds 2 waiting tasks, its cap is 2; "
                                   "this request would add 1")


def test_the_broker_names_its_payload_and_request_caps(capped: Cluster) -> None:
    with Client(capped.frontend, request_timeout=5) as c:
        with pytest.raises(taskmill.InvalidSpec) as e:
            c.submit("echo", b"x" * 1025, queue="p")
        assert e.value.message == "tasks[0].payload: 1025 bytes is over the limit of 1024"
        with pytest.raises(taskmill.InvalidSpec) as e:
            c.submit_many([TaskSpec(type="echo", queue=f"q{i}") for i in range(4)])
        assert "4 tasks is over the limit of 3" in e.value.message


@pytest.mark.parametrize("fields, text", [
    ({"priority": 256}, "priority: 256 is out of range (allowed: 0..255"),
    ({"priority": "5"}, "priority: '5' is not an integer (allowed: 0..255"),
    ({"max_attempts": 0}, "max_attempts: 0 is out of range (allowed: 1..1000)"),
    ({"timeout_ms": -1}, "timeout_ms: -1 is out of range (allowed: 0..4294967295"),
    ({"not_before_ms": 1.5}, "not_before_ms: 1.5 is not an integer"),
    ({"queue": "no spaces"}, "queue: 'no spaces' must match"),
])
def test_out_of_range_fields_fail_before_sending(fields: dict, text: str) -> None:
    with Client("tcp://127.0.0.1:1", request_timeout=0.2) as c:
        with pytest.raises(taskmill.InvalidSpec) as e:
            c.submit("echo", b"", **fields)
        assert text in e.value.message


def test_a_worker_reports_an_over_size_output_instead_of_sending_it(capped: Cluster) -> None:
    import threading
    from taskmill.worker import Task, Worker

    worker = Worker(capped.backend, queues=["big"], worker_id="py-caps", heartbeat_ms=200,
                    drain_timeout=2.0, max_output_bytes=1024)

    @worker.handler("py.big")
    def big(task: Task) -> bytes:
        return b"o" * int(task.text)

    thread = threading.Thread(target=worker.run, kwargs={"install_signal_handlers": False})
    thread.start()
    try:
        with Client(capped.frontend, request_timeout=5) as c:
            over = c.submit("py.big", b"1025", queue="big", max_attempts=3)
            fits = c.submit("py.big", b"1024", queue="big")
            a, b = c.wait([over, fits], timeout=20)
        assert a.state == "failed" and a.attempts == 1 and a.output == b""
        assert a.error is not None and a.error.code == "output_too_large"
        assert not a.error.retryable
        assert "1025 bytes" in a.error.message
        assert b.state == "succeeded" and len(b.output) == 1024
    finally:
        worker.drain(1.0)
        thread.join(10)
    assert not thread.is_alive()
