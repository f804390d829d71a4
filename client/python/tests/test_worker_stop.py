"""Timeouts and cancels hold in the Python worker, whatever the handler does; failures
are said out loud. Against a fake broker (no build needed)."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from pathlib import Path
from typing import Iterator

import pytest

from taskmill import messages as m
from taskmill.worker import Task, Worker

from fake_broker import FakeBroker

# The code every worker runtime uses for an exception: the shared protocol vector's.
_HANDLER_EXCEPTION = json.loads(
    (Path(__file__).resolve().parents[3] / "shared" / "protocol" / "vectors"
     / "done_handler_exception.json").read_text())["body"]["error"]


@pytest.fixture()
def broker() -> Iterator[FakeBroker]:
    b = FakeBroker()
    yield b
    b.close()


def _worker(broker: FakeBroker, concurrency: int = 2, cancel_grace: float = 5.0) -> Worker:
    return Worker(broker.endpoint, queues=["q"], concurrency=concurrency, worker_id="py-stop",
                  heartbeat_ms=50, liveness=100, drain_timeout=0.5, cancel_grace=cancel_grace)


def _succeed_once_stopped(task: Task) -> bytes:
    task.cancel_event.wait(30)
    return b"late output"


def test_a_success_after_the_timeout_is_a_timeout_without_output(broker: FakeBroker) -> None:
    w = _worker(broker)
    w.add_handler("stubborn", _succeed_once_stopped)
    broker.start(w)
    broker.task("T1", "stubborn", timeout_ms=100)
    done = broker.wait_for(m.Done)
    assert done is not None
    assert (done.ok, done.output) == (False, b"")
    assert done.error is not None and done.error.code == "timeout" and done.error.retryable


def test_a_success_after_a_cancel_is_cancelled_without_output(broker: FakeBroker) -> None:
    w = _worker(broker)
    w.add_handler("stubborn", _succeed_once_stopped)
    broker.start(w)
    broker.task("T1", "stubborn", token=3)
    broker.send(m.CancelTask(task_id="T1", token=3, reason="user"))
    done = broker.wait_for(m.Done)
    assert done is not None
    assert (done.ok, done.output) == (False, b"")
    assert done.error is not None and done.error.code == "cancelled"
    assert not done.error.retryable


def test_a_late_return_is_a_timeout_even_before_the_timer_fires(broker: FakeBroker) -> None:
    w = _worker(broker)

    @w.handler("slow")
    def slow(task: Task) -> bytes:
        time.sleep(0.2)  # the work itself: longer than the task's timeout
        return b"too slow"

    broker.start(w)
    broker.task("T1", "slow", timeout_ms=50)
    done = broker.wait_for(m.Done)
    assert done is not None and not done.ok and done.error is not None
    assert done.error.code == "timeout"


def test_async_handlers_run_and_are_cancelled_on_timeout(broker: FakeBroker) -> None:
    w = _worker(broker)
    cancelled = threading.Event()

    @w.handler("async.echo")
    async def echo(task: Task) -> bytes:
        await asyncio.sleep(0)
        return b"async:" + task.payload

    @w.handler("async.hang")
    async def hang(task: Task) -> bytes:
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return b"never"

    broker.start(w)
    broker.task("T1", "async.echo", b"x")
    done = broker.wait_for(m.Done)
    assert done is not None and done.ok and done.output == b"async:x"
    broker.task("T2", "async.hang", timeout_ms=100)
    done = broker.wait_for(m.Done)
    assert done is not None and not done.ok and done.error is not None
    assert done.error.code == "timeout"
    assert cancelled.is_set()
    assert done.duration_ms < 5000


def test_a_handler_ignoring_its_stop_past_the_grace_is_reported_and_its_slot_lost(
        broker: FakeBroker) -> None:
    w = _worker(broker, concurrency=2, cancel_grace=0.1)
    release = threading.Event()
    returned = threading.Event()

    @w.handler("deaf")
    def deaf(task: Task) -> bytes:
        release.wait(30)  # never looks at task.cancel_event
        returned.set()
        return b"too late"

    broker.start(w)
    try:
        broker.task("T1", "deaf", timeout_ms=100)
        done = broker.wait_for(m.Done)
        assert done is not None, "no DONE while the handler ignored its timeout"
        assert not returned.is_set()
        assert done.error is not None and done.error.code == "timeout"
        assert "lost its slot" in done.error.message
        hb = broker.wait_for(m.Heartbeat)
        assert hb is not None and hb.free == 1
    finally:
        release.set()
    assert broker.wait_for(m.Heartbeat, pred=lambda h: h.free == 2)
    assert all(not d.ok for d in broker.history if isinstance(d, m.Done))


def test_a_handler_exception_is_logged_at_warning_with_its_traceback(
        broker: FakeBroker, caplog: pytest.LogCaptureFixture) -> None:
    w = _worker(broker)

    @w.handler("boom")
    def boom(task: Task) -> bytes:
        raise ValueError("kaboom")

    caplog.set_level(logging.WARNING, logger="taskmill.worker")
    broker.start(w)
    broker.task("T1", "boom")
    done = broker.wait_for(m.Done)
    assert done is not None and done.error is not None
    assert _HANDLER_EXCEPTION["code"] == "handler_exception"
    assert done.error.code == _HANDLER_EXCEPTION["code"]
    assert done.error.retryable == _HANDLER_EXCEPTION["retryable"]
    assert done.error.message.startswith("ValueError: kaboom")
    assert "Traceback" in done.error.message and "in boom" in done.error.message
    assert len(done.error.message) < 4200
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("T1" in text and "kaboom" in text and "in boom" in text for text in warned), warned


def test_workers_read_taskmill_worker_broker_not_taskmill_broker(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("TASKMILL_BROKER", "tcp://127.0.0.1:5555")
    monkeypatch.delenv("TASKMILL_WORKER_BROKER", raising=False)
    caplog.set_level(logging.WARNING, logger="taskmill.worker")
    assert Worker().broker == "tcp://127.0.0.1:5556"
    assert any("TASKMILL_WORKER_BROKER" in r.getMessage() for r in caplog.records)
    monkeypatch.setenv("TASKMILL_WORKER_BROKER", "tcp://127.0.0.1:7777")
    assert Worker().broker == "tcp://127.0.0.1:7777"
    assert Worker("tcp://127.0.0.1:1").broker == "tcp://127.0.0.1:1"


def test_a_client_that_gets_no_answer_asks_about_the_port(broker: FakeBroker) -> None:
    # The fake broker's ROUTER never answers, as a broker's worker port does to a client.
    from taskmill import BrokerUnavailable, Client
    with Client(broker.endpoint, request_timeout=0.3) as client:
        with pytest.raises(BrokerUnavailable, match="is this its client port"):
            client.stats()


def test_a_worker_on_the_client_port_says_so(broker: FakeBroker,
                                            caplog: pytest.LogCaptureFixture) -> None:
    w = _worker(broker)
    w.add_handler("echo", lambda t: t.payload)
    caplog.set_level(logging.WARNING, logger="taskmill.worker")
    broker.start(w)
    # What a broker's client port answers a READY with.
    broker.send(m.Reply(req_id=0, error=m.WireError(code="unknown_command",
                                                    message="READY is not a client command")))
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if any("client port" in r.getMessage() for r in caplog.records):
            break
        broker.recv(0.05)
    assert any("client port" in r.getMessage() and "5556" in r.getMessage()
               for r in caplog.records)
