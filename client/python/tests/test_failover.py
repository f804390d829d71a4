"""Issue 17 failover of the Python client and worker, against fake brokers (ROUTERs on
loopback speaking the real codec): endpoint lists, move order, resend, GOAWAY and MOVE."""

from __future__ import annotations

import contextlib
import threading
import time
from typing import Any, Iterator, List, Optional, Tuple

import pytest
import zmq

from taskmill import codec, endpoints
from taskmill import messages as m
from taskmill.connection import Connection
from taskmill.errors import TaskmillError
from taskmill.worker import Worker
from taskmill.worker import __main__ as worker_main

from fake_broker import FakeBroker, free_port


# ------------------------------------------------------------------ endpoint lists

def test_parse_trims_and_keeps_order() -> None:
    assert endpoints.parse("tcp://a:1") == ["tcp://a:1"]
    assert endpoints.parse(" tcp://a:1 ,tcp://b:2,  ipc:///tmp/x ") == \
        ["tcp://a:1", "tcp://b:2", "ipc:///tmp/x"]


@pytest.mark.parametrize("bad", ["", "tcp://a:1,", ",tcp://a:1", "tcp://a:1,,tcp://b:2",
                                 "a:1", "tcp://a:1,http://b:2", "tcp://", " , "])
def test_parse_rejects_empty_items_and_bad_schemes(bad: str) -> None:
    with pytest.raises(endpoints.EndpointListError):
        endpoints.parse(bad)


def test_a_bad_list_is_a_usage_error_everywhere(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(TaskmillError) as e:
        Connection("tcp://127.0.0.1:1,,tcp://127.0.0.1:2")
    assert e.value.code == "invalid_argument" and "item 2 is empty" in e.value.message
    with pytest.raises(ValueError):
        Worker("tcp://127.0.0.1:1,udp://x:1")
    assert worker_main.main(["--broker", "tcp://a:1, ,tcp://b:2", "x:y"]) == 2
    assert "is empty" in capsys.readouterr().err


def test_ring_moves_round_robin_and_backs_off_after_a_whole_cycle() -> None:
    ring = endpoints.EndpointRing(["tcp://a:1", "tcp://b:1", "tcp://c:1"], start=1)
    assert ring.current == "tcp://b:1"
    assert ring.advance() == 0 and ring.current == "tcp://c:1"
    assert ring.advance() == 0 and ring.current == "tcp://a:1"
    assert ring.advance() > 0 and ring.current == "tcp://b:1"  # every one tried: back off
    first = ring.failed_moves
    ring.connected()
    assert ring.failed_moves == 0 < first
    assert ring.advance() == 0 and ring.current == "tcp://c:1"  # a new cycle: no wait
    one = endpoints.EndpointRing(["tcp://a:1"])
    delays = [one.advance() for _ in range(3)]
    assert delays == sorted(delays) and delays[0] > 0  # one endpoint: always the backoff


def test_start_position_is_random() -> None:
    eps = [f"tcp://h{i}:1" for i in range(4)]
    starts = {endpoints.EndpointRing(eps).current for _ in range(200)}
    assert len(starts) > 1


# ------------------------------------------------------------------ the client

class RawRouter:
    """A ROUTER that records raw frames (to compare resent bytes) and answers by hand."""

    def __init__(self) -> None:
        self.endpoint = f"tcp://127.0.0.1:{free_port()}"
        self.sock = zmq.Context.instance().socket(zmq.ROUTER)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.bind(self.endpoint)

    def recv(self, timeout: float) -> Optional[Tuple[bytes, List[bytes]]]:
        if not self.sock.poll(max(1, int(timeout * 1000)), zmq.POLLIN):
            return None
        frames = self.sock.recv_multipart()
        return frames[0], frames[1:]

    def send(self, identity: bytes, msg: Any) -> None:
        self.sock.send_multipart([identity, *codec.encode(msg)])

    def close(self) -> None:
        self.sock.close(linger=0)


def first_of(routers: List[RawRouter], timeout: float = 5
             ) -> Tuple[RawRouter, bytes, List[bytes]]:
    """The router that got the next message, its sender and the message's frames."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for r in routers:
            got = r.recv(0.02)
            if got is not None:
                return r, got[0], got[1]
    raise AssertionError("no router got a message in time")


def recv_kind(router: RawRouter, kind: type, timeout: float = 5
              ) -> Tuple[bytes, List[bytes]]:
    """The next message of ``kind`` on ``router`` (others skipped), with its sender."""
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        got = router.recv(left)
        if got is not None and isinstance(codec.decode(got[1]), kind):
            return got
    raise AssertionError(f"no {kind.__name__} in time")


@pytest.fixture
def two_routers() -> Any:
    routers = [RawRouter(), RawRouter()]
    yield routers
    for r in routers:
        r.close()


def submit(conn: Connection, name: str) -> Any:
    spec = m.TaskSpec(type="t", queue="q", payload=name.encode())
    return conn.request(m.Submit(tasks=[spec]), timeout=10)


@pytest.mark.parametrize("loss", ["goaway", "close"])
def test_client_moves_and_resends_the_same_bytes(two_routers: List[RawRouter],
                                                 loss: str) -> None:
    a, b = two_routers
    conn = Connection(f"{a.endpoint},{b.endpoint}")
    try:
        fut = submit(conn, "one")
        first, ident, frames = first_of([a, b])
        other = b if first is a else a
        assert conn.endpoint == first.endpoint
        if loss == "goaway":
            first.send(ident, m.GoAway(reason="leaving"))
        else:
            first.close()  # as a kill -9: the TCP connection drops
        ident2, frames2 = recv_kind(other, m.Submit)
        assert frames2 == frames  # byte for byte: the same req_id (and request id)
        assert conn.endpoint == other.endpoint and conn.moves == 1
        req = codec.decode(frames2)
        other.send(ident2, m.Reply(req_id=req.req_id, ids=["t1"]))
        assert fut.result(5).ids == ["t1"]
        # The client stays on the new broker: new requests go there.
        fut2 = submit(conn, "two")
        ident3, frames3 = recv_kind(other, m.Submit)
        other.send(ident3, m.Reply(req_id=codec.decode(frames3).req_id, ids=["t2"]))
        assert fut2.result(5).ids == ["t2"]
    finally:
        conn.close()


def test_client_answered_requests_are_not_resent(two_routers: List[RawRouter]) -> None:
    a, b = two_routers
    conn = Connection(f"{a.endpoint},{b.endpoint}")
    try:
        done = submit(conn, "answered")
        first, ident, frames = first_of([a, b])
        first.send(ident, m.Reply(req_id=codec.decode(frames).req_id, ids=["t1"]))
        assert done.result(5).ids == ["t1"]
        open_fut = conn.request(m.Get(ids=["t1"]), timeout=10)
        _, get_frames = recv_kind(first, m.Get)
        first.send(ident, m.GoAway())
        other = b if first is a else a
        _, resent = recv_kind(other, m.Get)
        assert resent == get_frames
        assert other.recv(0.3) is None  # the answered SUBMIT did not follow
        assert not open_fut.done()
    finally:
        conn.close()


def test_client_renews_subscriptions_after_a_move(two_routers: List[RawRouter]) -> None:
    a, b = two_routers
    conn = Connection(f"{a.endpoint},{b.endpoint}")
    try:
        conn.add_sink("batch-1", lambda e: None)
        fut = conn.request(m.Subscribe(batch_id="batch-1"), timeout=10)
        first, ident, _ = first_of([a, b])
        first.send(ident, m.GoAway())
        other = b if first is a else a
        got = [codec.decode(recv_kind(other, m.Subscribe)[1]) for _ in range(2)]
        assert {s.batch_id for s in got} == {"batch-1"}  # renewed, and the request resent
        assert not fut.done()
    finally:
        conn.close()


def test_client_skips_a_dead_endpoint(two_routers: List[RawRouter],
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    a, _ = two_routers
    dead = f"tcp://127.0.0.1:{free_port()}"  # nothing listens: CONNECT_RETRIED
    monkeypatch.setattr(endpoints.random, "randrange", lambda n: 0)  # start at the dead one
    conn = Connection(f"{dead},{a.endpoint}")
    try:
        fut = submit(conn, "x")
        ident, frames = recv_kind(a, m.Submit)
        a.send(ident, m.Reply(req_id=codec.decode(frames).req_id, ids=["t"]))
        assert fut.result(5).ids == ["t"]
        assert conn.endpoint == a.endpoint and conn.moves == 1  # it started at the dead one
    finally:
        conn.close()


def test_client_with_one_endpoint_redials_it_after_goaway(two_routers: List[RawRouter]
                                                          ) -> None:
    a, _ = two_routers
    conn = Connection(a.endpoint)
    try:
        fut = submit(conn, "x")
        ident, frames = recv_kind(a, m.Submit)
        a.send(ident, m.GoAway(reason="restarting"))
        ident2, frames2 = recv_kind(a, m.Submit)
        assert frames2 == frames and ident2 != ident  # a new socket, the same bytes
        a.send(ident2, m.Reply(req_id=codec.decode(frames2).req_id, ids=["t"]))
        assert fut.result(5).ids == ["t"]
    finally:
        conn.close()


# ------------------------------------------------------------------ the worker

@pytest.fixture
def two_fakes() -> Any:
    fakes = [FakeBroker(), FakeBroker()]
    yield fakes
    for f in fakes:
        f.close()


@contextlib.contextmanager
def serving(w: Worker, *gates: threading.Event) -> Iterator[threading.Thread]:
    """Runs ``w`` on a thread; on leaving, opens ``gates`` (so blocked handlers return),
    drains the worker and checks its thread ended."""
    thread = threading.Thread(target=w.run, kwargs={"install_signal_handlers": False})
    thread.start()
    try:
        yield thread
    finally:
        for gate in gates:
            gate.set()
        w.drain(0.2)
        thread.join(10)
        assert not thread.is_alive()


def first_ready(fakes: List[FakeBroker], timeout: float = 10) -> FakeBroker:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for f in fakes:
            if isinstance(f.recv(0.02), m.Ready):
                return f
    raise AssertionError("no READY in time")


@pytest.mark.parametrize("loss", ["move", "close"])
def test_worker_moves_with_its_running_task_and_its_done(two_fakes: List[FakeBroker],
                                                         loss: str) -> None:
    a, b = two_fakes
    release, started = threading.Event(), threading.Event()
    w = Worker(f"{a.endpoint},{b.endpoint}", queues=["q"], concurrency=2, heartbeat_ms=200,
               liveness=1000)  # only the loss under test moves it

    @w.handler("slow")
    def slow(task: Any) -> bytes:
        started.set()
        release.wait(10)
        return b"out"

    with serving(w, release) as thread:
        first = first_ready([a, b])
        other = b if first is a else a
        first.task("t1", "slow", token=41)
        assert started.wait(5), "the task did not start"
        if loss == "move":
            first.send(m.Move(reason="sigterm"))
        else:
            first.router.close(linger=0)  # as a kill -9
        ready = other.wait_for(m.Ready, 5)
        assert ready is not None and ready.running == ["t1"]
        assert ready.worker_id == w.worker_id
        release.set()
        done = other.wait_for(m.Done, 5)
        assert done is not None and (done.task_id, done.token, done.ok) == ("t1", 41, True)
        assert w.running.is_set() and thread.is_alive()  # MOVE never stops a worker
        assert w.moves == 1


def test_worker_keeps_an_unsent_done_across_a_move(two_fakes: List[FakeBroker]) -> None:
    """A DONE finished while no broker is reachable is sent to the next one after READY."""
    a, b = two_fakes
    w = Worker(f"{a.endpoint},{b.endpoint}", queues=["q"], concurrency=1, heartbeat_ms=200,
               liveness=1000)  # only the loss under test moves it
    gate, started = threading.Event(), threading.Event()

    @w.handler("t")
    def handle(task: Any) -> bytes:
        started.set()
        gate.wait(10)
        return b"x"

    with serving(w, gate):
        first = first_ready([a, b])
        other = b if first is a else a
        first.task("t9", "t", token=5)
        assert started.wait(5), "the task did not start"
        first.send(m.Move())
        ready = other.wait_for(m.Ready, 5)
        assert ready is not None and ready.running == ["t9"]
        gate.set()
        done = other.wait_for(m.Done, 5)
        assert done is not None and done.task_id == "t9" and done.token == 5
        # The DONE went to the new broker only.
        assert not any(isinstance(x, m.Done) for x in first.history)


def test_worker_with_one_endpoint_redials_it_on_move(two_fakes: List[FakeBroker]) -> None:
    a, _ = two_fakes
    w = Worker(a.endpoint, queues=["q"], concurrency=1, heartbeat_ms=200,
               liveness=1000)  # only the loss under test moves it
    w.add_handler("t", lambda task: b"")
    with serving(w) as thread:
        assert a.wait_for(m.Ready, 5) is not None
        a.send(m.Move(reason="restart"))
        assert a.wait_for(m.Ready, 5) is not None  # the same broker, after the backoff
        assert w.links == 2 and thread.is_alive()


def test_worker_moves_when_the_broker_goes_silent(two_fakes: List[FakeBroker]) -> None:
    """No BROKER_HEARTBEAT for ``liveness`` intervals (a host gone without a FIN)."""
    a, b = two_fakes
    w = Worker(f"{a.endpoint},{b.endpoint}", queues=["q"], concurrency=1, heartbeat_ms=100,
               liveness=3)
    w.add_handler("t", lambda task: b"")
    with serving(w):
        first = first_ready([a, b])
        other = b if first is a else a
        assert other.wait_for(m.Ready, 5) is not None  # the fakes never heartbeat
        assert w.moves >= 1


def test_asyncio_client_and_taskmill_broker_list(two_routers: List[RawRouter],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """AsyncClient shares the Connection: $TASKMILL_BROKER as a list, a GOAWAY, a resend."""
    import asyncio

    from taskmill import AsyncClient

    a, b = two_routers
    monkeypatch.setenv("TASKMILL_BROKER", f" {a.endpoint} , {b.endpoint} ")

    async def scenario() -> None:
        client = AsyncClient(request_timeout=10)
        try:
            call = asyncio.ensure_future(client.get_many(["t1"]))
            first, ident, frames = await asyncio.to_thread(first_of, [a, b])
            other = b if first is a else a
            first.send(ident, m.GoAway())
            ident2, frames2 = await asyncio.to_thread(recv_kind, other, m.Get)
            assert frames2 == frames
            other.send(ident2, m.Reply(req_id=codec.decode(frames2).req_id,
                                       tasks=[m.TaskInfo(id="t1", state="queued")]))
            assert [t.id for t in await call] == ["t1"]
            assert client.moves == 1
        finally:
            await client.close()

    asyncio.run(scenario())


def test_worker_reads_a_list_from_taskmill_worker_broker(monkeypatch: pytest.MonkeyPatch
                                                         ) -> None:
    monkeypatch.setenv("TASKMILL_WORKER_BROKER", "tcp://127.0.0.1:1, tcp://127.0.0.1:2")
    w = Worker()
    assert endpoints.parse(w.broker) == ["tcp://127.0.0.1:1", "tcp://127.0.0.1:2"]
    monkeypatch.setenv("TASKMILL_WORKER_BROKER", "tcp://127.0.0.1:1,")
    with pytest.raises(endpoints.EndpointListError):
        Worker()


def test_worker_skips_a_dead_endpoint(two_fakes: List[FakeBroker],
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    a, _ = two_fakes
    dead = f"tcp://127.0.0.1:{free_port()}"  # nothing listens: CONNECT_RETRIED
    monkeypatch.setattr(endpoints.random, "randrange", lambda n: 0)  # start at the dead one
    w = Worker(f"{dead},{a.endpoint}", queues=["q"], concurrency=1, heartbeat_ms=200,
               liveness=1000)  # only the failed dial moves it
    w.add_handler("t", lambda task: b"")
    with serving(w):
        assert a.wait_for(m.Ready, 5) is not None
        assert w.moves == 1


class FreezingProxy:
    """A TCP proxy on loopback whose ``freeze()`` stops forwarding either way while keeping
    both connections open: a broker host gone silent, without a FIN or RST."""

    def __init__(self, target_port: int) -> None:
        import socket as so
        self.listener = so.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(8)
        self.endpoint = f"tcp://127.0.0.1:{self.listener.getsockname()[1]}"
        self.target_port = target_port
        self.frozen = threading.Event()
        self.closed = threading.Event()
        self.socks: List[Any] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        import socket as so
        while not self.closed.is_set():
            try:
                down, _ = self.listener.accept()
            except OSError:
                return
            up = so.create_connection(("127.0.0.1", self.target_port))
            self.socks += [down, up]
            for a, b in ((down, up), (up, down)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, src: Any, dst: Any) -> None:
        while not self.closed.is_set():
            try:
                data = src.recv(65536)
            except OSError:
                return
            if not data:
                return
            if not self.frozen.is_set():  # frozen: swallowed, as by a dead host
                try:
                    dst.sendall(data)
                except OSError:
                    return

    def freeze(self) -> None:
        self.frozen.set()

    def close(self) -> None:
        self.closed.set()
        self.listener.close()
        for s in self.socks:
            s.close()


def test_client_leaves_a_silent_broker_by_zmtp_heartbeat(two_routers: List[RawRouter],
                                                         monkeypatch: pytest.MonkeyPatch
                                                         ) -> None:
    """No FIN, no RST, no reply: the ZMTP heartbeat (500 ms, 1.5 s timeout) ends the
    connection, and the client moves on and resends within the 3 s target."""
    a, b = two_routers
    proxy = FreezingProxy(int(a.endpoint.rsplit(":", 1)[1]))
    monkeypatch.setattr(endpoints.random, "randrange", lambda n: 0)  # start behind the proxy
    conn = Connection(f"{proxy.endpoint},{b.endpoint}", heartbeat_ms=500)
    try:
        warm = conn.request(m.Get(ids=["w"]), timeout=10)
        ident, frames = recv_kind(a, m.Get)
        a.send(ident, m.Reply(req_id=codec.decode(frames).req_id))
        warm.result(5)
        proxy.freeze()
        t0 = time.monotonic()
        fut = conn.request(m.Get(ids=["x"]), timeout=10)
        ident2, frames2 = recv_kind(b, m.Get, timeout=5)
        moved_s = time.monotonic() - t0
        b.send(ident2, m.Reply(req_id=codec.decode(frames2).req_id))
        fut.result(5)
        print(f"\nFAILOVER python client, silent broker: moved and answered in "
              f"{moved_s * 1000:.0f} ms")
        assert 1.0 < moved_s < 5.0  # by the heartbeat timeout (3 s target: see the figure)
    finally:
        conn.close()
        proxy.close()
