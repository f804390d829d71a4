"""RESULT pushes (protocol-messages.md 8.10) in the sync and async clients: a task submitted with
notify gets its result from the push without a second request; early pushes are kept
(bounded); a push that cannot come falls back to WAIT/GET. And a CANCEL's REPLY alone says
which tasks are still running (``requested``, protocol-messages.md 8.5): no follow-up GET."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any, Callable, Iterator, List, Optional

import pytest
import zmq

from taskmill import AsyncClient, Client, codec
from taskmill import messages as m

from conftest import Cluster
from fake_broker import free_port


def done(task_id: str, output: bytes) -> m.TaskInfo:
    return m.TaskInfo(id=task_id, state="succeeded", output=output)


class AnsweringBroker:
    """A ROUTER on its own thread that answers every request at once: SUBMIT with ids
    "t<req_id>-<i>" and, when ``push`` and notify, each task's RESULT (output b"pushed")
    right after; WAIT and GET with succeeded tasks (output b"asked"); CANCEL with every id
    (or "b-1", "run-b-2" for a batch), those starting "run" as ``requested``."""

    def __init__(self, push: bool = True, endpoint: Optional[str] = None) -> None:
        self.endpoint = endpoint or f"tcp://127.0.0.1:{free_port()}"
        self.push = push
        self.requests: List[Any] = []
        self._stop = threading.Event()
        self._router = zmq.Context.instance().socket(zmq.ROUTER)
        self._router.setsockopt(zmq.LINGER, 0)
        deadline = time.monotonic() + 10
        while True:  # rebinding a port just closed: libzmq releases it asynchronously
            try:
                self._router.bind(self.endpoint)
                break
            except zmq.ZMQError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def count(self, kind: type) -> int:
        return sum(isinstance(r, kind) for r in list(self.requests))

    def _run(self) -> None:
        while not self._stop.is_set():
            if not self._router.poll(20):
                continue
            ident, *frames = self._router.recv_multipart()
            msg = codec.decode(frames)
            self.requests.append(msg)
            out: List[Any] = []
            if isinstance(msg, m.Submit):
                ids = [f"t{msg.req_id}-{i}" for i in range(len(msg.tasks))]
                out.append(m.Reply(req_id=msg.req_id, ids=ids))
                if self.push and msg.notify:
                    out += [m.ResultMsg(task=done(i, b"pushed")) for i in ids]
            elif isinstance(msg, m.Cancel):
                ids = list(msg.ids) or ["b-1", "run-b-2"]
                out.append(m.Reply(req_id=msg.req_id, ids=ids, count=len(ids),
                                   requested=[i for i in ids if i.startswith("run")]))
            elif isinstance(msg, (m.Wait, m.Get)):
                out.append(m.Reply(req_id=msg.req_id,
                                   tasks=[done(i, b"asked") for i in msg.ids]))
            else:
                out.append(m.Reply(req_id=msg.req_id))
            for reply in out:
                self._router.send_multipart([ident, *codec.encode(reply)])

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._router.close(linger=0)


@pytest.fixture()
def fake() -> Iterator[AnsweringBroker]:
    b = AnsweringBroker()
    yield b
    b.close()


def test_a_notified_task_gets_its_result_from_the_push(fake: AnsweringBroker) -> None:
    with Client(fake.endpoint, request_timeout=5) as c:
        handle = c.submit("echo", b"x", notify=True)
        assert handle.result(timeout=5).output == b"pushed"
    assert len(fake.requests) == 1
    assert fake.requests[0].notify


def test_without_notify_the_result_is_asked_for(fake: AnsweringBroker) -> None:
    with Client(fake.endpoint, request_timeout=5) as c:
        handle = c.submit("echo", b"x")
        assert not fake.requests[0].notify
        assert handle.result(timeout=5).output == b"asked"
    assert fake.count(m.Wait) == 1


def test_early_results_are_kept_and_bounded(fake: AnsweringBroker) -> None:
    with Client(fake.endpoint, request_timeout=5, max_kept_results=2) as c:
        handles = c.submit_many([m.TaskSpec(type="echo")] * 3, notify=True)
        c.stats()  # its reply comes after the three pushes on the same connection
        assert len(c._conn.results) == 2
        outputs = [h.result(timeout=5).output for h in handles]
    assert outputs == [b"asked", b"pushed", b"pushed"]  # the oldest was dropped: one WAIT
    assert fake.count(m.Wait) == 1


def test_a_push_that_never_comes_is_read_at_the_deadline() -> None:
    fake = AnsweringBroker(push=False)
    try:
        with Client(fake.endpoint, request_timeout=5) as c:
            handle = c.submit("echo", b"x", notify=True)
            assert handle.wait(timeout=0.2).output == b"asked"
        assert fake.count(m.Get) == 1
    finally:
        fake.close()


def test_after_a_reconnect_a_waiter_asks_the_broker() -> None:
    fake = AnsweringBroker(push=False)
    endpoint = fake.endpoint
    with Client(endpoint, request_timeout=5, heartbeat_ms=100) as c:
        handle = c.submit("echo", b"x", notify=True)
        got: List[m.TaskInfo] = []
        # Without the fallback it would wait out its whole timeout for a push that cannot come.
        waiter = threading.Thread(target=lambda: got.append(handle.wait(timeout=20)),
                                  daemon=True)
        start = time.monotonic()
        waiter.start()
        fake.close()                              # the broker goes away ...
        fake = AnsweringBroker(False, endpoint)   # ... and comes back
        waiter.join(12)
        assert not waiter.is_alive()
        assert time.monotonic() - start < 12
        assert got[0].output == b"asked"
        assert fake.count(m.Wait) == 1
    fake.close()


def test_async_a_notified_task_gets_its_result_from_the_push(fake: AnsweringBroker) -> None:
    async def main() -> bytes:
        async with AsyncClient(fake.endpoint, request_timeout=5) as c:
            handle = await c.submit("echo", b"x", notify=True)
            return (await handle).output

    assert asyncio.run(main()) == b"pushed"
    assert len(fake.requests) == 1


def test_async_a_push_that_never_comes_is_read_at_the_deadline() -> None:
    fake = AnsweringBroker(push=False)
    try:
        async def main() -> bytes:
            async with AsyncClient(fake.endpoint, request_timeout=5) as c:
                handle = await c.submit("echo", b"x", notify=True)
                return (await handle.wait(timeout=0.2)).output

        assert asyncio.run(main()) == b"asked"
        assert fake.count(m.Get) == 1
    finally:
        fake.close()


def counting(client: Any) -> List[Any]:
    """Records every request the client sends from now on."""
    sent: List[Any] = []
    real: Callable[..., Any] = client._conn.request

    def spy(msg: Any, timeout: float) -> Any:
        sent.append(msg)
        return real(msg, timeout)

    client._conn.request = spy
    return sent


def test_live_a_notified_result_is_one_request(cluster: Cluster) -> None:
    with Client(cluster.frontend, request_timeout=10) as c:
        sent = counting(c)
        handles = c.submit_many([m.TaskSpec(type="echo", payload=b"p%d" % i)
                                 for i in range(5)], notify=True)
        assert [h.result(timeout=20).output for h in handles] == [b"p%d" % i
                                                                  for i in range(5)]
    assert [type(s) for s in sent] == [m.Submit]


def test_live_async_a_notified_result_is_one_request(cluster: Cluster) -> None:
    async def main() -> List[Any]:
        async with AsyncClient(cluster.frontend, request_timeout=10) as c:
            sent = counting(c)
            handles = [await c.submit("echo", b"a%d" % i, notify=True) for i in range(3)]
            outs = await asyncio.gather(*handles)
            assert [o.output for o in outs] == [b"a%d" % i for i in range(3)]
            return sent

    sent = asyncio.run(main())
    assert [type(s) for s in sent] == [m.Submit] * 3


def test_a_declared_task_submitted_with_notify_gets_the_push(fake: AnsweringBroker) -> None:
    from taskmill import App
    with App(fake.endpoint, request_timeout=5) as app:
        @app.task()
        def echo(task: Any) -> bytes:
            return bytes(task.payload)

        assert echo.submit(b"x", notify=True).result(timeout=5).output == b"pushed"
    assert len(fake.requests) == 1 and fake.requests[0].notify


def test_a_cancel_reply_says_which_tasks_still_run(fake: AnsweringBroker) -> None:
    with Client(fake.endpoint, request_timeout=5) as c:
        affected = c.cancel_many(["done-1", "run-2", "done-3"])
        assert affected.count == 3
        assert affected.ids == ["done-1", "run-2", "done-3"]
        assert affected.requested == ["run-2"]
        assert c.cancel_batch("B1").requested == ["run-b-2"]
    # One request each: the reply says it all, no GET of the affected tasks.
    assert [type(r) for r in fake.requests] == [m.Cancel, m.Cancel]


def test_async_a_cancel_reply_says_which_tasks_still_run(fake: AnsweringBroker) -> None:
    async def main() -> None:
        async with AsyncClient(fake.endpoint, request_timeout=5) as c:
            affected = await c.cancel_many(["run-1", "done-2"])
            assert (affected.count, affected.requested) == (2, ["run-1"])
            assert (await c.cancel_batch("B1")).requested == ["run-b-2"]

    asyncio.run(main())
    assert [type(r) for r in fake.requests] == [m.Cancel, m.Cancel]
