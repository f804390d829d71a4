"""One DEALER socket to a broker's frontend, owned by one private I/O thread.

pyzmq sockets are not thread-safe, so only the I/O thread touches the socket. Callers
hand it requests through a queue and a wake-up socketpair, and get a
``concurrent.futures.Future`` back that the I/O thread completes with the REPLY, or
fails with the REPLY's error or at the request's deadline. EVENTs are handed to the
subscription sinks registered for their batch; a sink must not block (it runs on the
I/O thread). Used by ``Client`` and ``AsyncClient``; not public API.

Failover (issue 17): the endpoint may be a comma-separated list (``taskmill.endpoints``).
With more than one, a loss of the broker (the monitor's DISCONNECTED, or CONNECT_RETRIED
before the socket ever connected; the ZMTP heartbeat turns a silent peer into a
DISCONNECTED) closes the socket and opens one to the next endpoint. GOAWAY does the same
with any number of endpoints (with one, the same endpoint again after the redial
backoff). Every request still unanswered is then sent again, the very same frames, and the
batch subscriptions are renewed; RESULT pushes still expected are asked for instead.
"""

from __future__ import annotations

import concurrent.futures
import itertools
import logging
import queue
import socket
import threading
import time
from typing import Any, Callable, Dict, List, NamedTuple, Optional, Tuple

import zmq

from taskmill import codec, handshake
from taskmill import endpoints as ep
from taskmill import messages as m
from taskmill.curve import CurveKeys
from taskmill.results import DEFAULT_MAX_KEPT, ResultTable
from taskmill.errors import (BrokerUnavailable, ProtocolError, TaskmillError,
                             TaskmillTimeout, Unauthorized, error_from_code)

log = logging.getLogger("taskmill.client")

EventSink = Callable[[m.Event], None]
_CLOSE = object()


class _Pending(NamedTuple):
    """A request sent and awaiting its REPLY (I/O thread only)."""
    fut: "concurrent.futures.Future[m.Reply]"
    deadline: float  # time.monotonic() after which it fails with a timeout
    notify: bool     # a SUBMIT with notify: its ids expect RESULT pushes once it is answered
    frames: List[bytes]  # what was sent: sent again, unchanged, after a move


class Connection:
    """The I/O thread and its DEALER. Lifecycle: construct (starts the thread and
    connects lazily), ``request`` from any thread, ``close`` (pending requests then fail
    with BrokerUnavailable). Owned by one Client or AsyncClient."""

    def __init__(self, endpoint: str, heartbeat_ms: int = 1000,
                 context: Optional[zmq.Context[Any]] = None,
                 curve: Optional[CurveKeys] = None,
                 max_kept_results: int = DEFAULT_MAX_KEPT) -> None:
        try:
            # Where to connect, in failover order; read and moved by the I/O thread only.
            self.ring = ep.EndpointRing(ep.parse(endpoint))
        except ep.EndpointListError as e:
            raise TaskmillError(str(e), "invalid_argument") from None
        # RESULT pushes of tasks submitted with notify, fed by the I/O thread.
        self.results = ResultTable(max_kept_results)
        self.curve = curve  # set iff the socket is a CURVE client
        self._ctx = context or zmq.Context.instance()
        self._heartbeat_ms = heartbeat_ms
        self._inbox: "queue.SimpleQueue[Any]" = queue.SimpleQueue()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._req_ids = itertools.count(1)
        self._lock = threading.Lock()
        # batch id -> {subscription id -> sink}; read by the I/O thread under _lock.
        self._subs: Dict[str, Dict[int, EventSink]] = {}
        self._sub_ids = itertools.count(1)
        self._closed = False        # True once close() was called
        self._heard = False         # True iff any message came from the broker
        # Set iff the broker refused the last handshake: why (I/O thread only).
        self._refusal: Optional[str] = None
        self._started = threading.Event()
        self._open_error: Optional[zmq.ZMQError] = None  # set iff the socket could not open
        self._thread = threading.Thread(target=self._run, name="taskmill-client-io",
                                        daemon=True)
        self._thread.start()
        self._started.wait()
        if self._open_error is not None:
            self._thread.join()
            self._wake_r.close()
            self._wake_w.close()
            raise TaskmillError(f"cannot connect to {endpoint!r}: {self._open_error}",
                                "invalid_argument")

    @property
    def endpoint(self) -> str:
        """The endpoint in use (or being dialled)."""
        return self.ring.current

    @property
    def moves(self) -> int:
        """How many times the I/O thread moved to another endpoint (or redialled)."""
        return self.ring.moves

    # ---------------------------------------------------------------- any thread

    def request(self, msg: Any, timeout: float) -> "concurrent.futures.Future[m.Reply]":
        """Sends ``msg`` (its req_id is set here) and returns the future of its REPLY."""
        fut: concurrent.futures.Future[m.Reply] = concurrent.futures.Future()
        if self._closed:
            fut.set_exception(BrokerUnavailable("the client is closed"))
            return fut
        msg.req_id = next(self._req_ids)
        self._post((msg, fut, time.monotonic() + timeout))
        return fut

    def send_only(self, msg: Any) -> None:
        """Sends a request whose reply nobody waits for (it is dropped on arrival)."""
        if not self._closed:
            msg.req_id = next(self._req_ids)
            self._post((msg, None, 0.0))

    def add_sink(self, batch_id: str, sink: EventSink) -> int:
        """Registers a sink for a batch's events; returns its id for ``remove_sink``."""
        with self._lock:
            sub_id = next(self._sub_ids)
            self._subs.setdefault(batch_id, {})[sub_id] = sink
            return sub_id

    def remove_sink(self, batch_id: str, sub_id: int) -> bool:
        """Removes a sink; True iff it was the batch's last one."""
        with self._lock:
            sinks = self._subs.get(batch_id)
            if not sinks or sinks.pop(sub_id, None) is None:
                return False
            if not sinks:
                del self._subs[batch_id]
                return True
            return False

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._post(_CLOSE)
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout=5)
        self._wake_r.close()
        self._wake_w.close()

    def _post(self, item: Any) -> None:
        self._inbox.put(item)
        try:
            self._wake_w.send(b"x")
        except (BlockingIOError, OSError):
            pass  # the buffer is full of wake-ups already, or we are closing

    # ------------------------------------------------------------ the I/O thread

    def _open(self) -> Tuple[zmq.Socket[Any], zmq.Socket[Any]]:
        sock = self._ctx.socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        if self._heartbeat_ms > 0:
            # A silent peer (host gone, no FIN) becomes a DISCONNECTED within 3 intervals.
            sock.setsockopt(zmq.HEARTBEAT_IVL, self._heartbeat_ms)
            sock.setsockopt(zmq.HEARTBEAT_TIMEOUT, 3 * self._heartbeat_ms)
            sock.setsockopt(zmq.HEARTBEAT_TTL, 3 * self._heartbeat_ms)
        if self.ring.several:
            # A dial to a host that never answers ends (CONNECT_RETRIED: move on) in 1 s.
            sock.setsockopt(zmq.CONNECT_TIMEOUT, 1000)
        if self.curve is not None:  # on every socket, redials included
            self.curve.apply(sock)
        monitor = sock.get_monitor_socket(
            zmq.EVENT_CONNECTED | zmq.EVENT_DISCONNECTED | zmq.EVENT_CONNECT_RETRIED
            | handshake.EVENTS, handshake.monitor_address("client"))
        sock.connect(self.endpoint)
        return sock, monitor

    @staticmethod
    def _shut(sock: zmq.Socket[Any], monitor: zmq.Socket[Any]) -> None:
        try:
            sock.disable_monitor()
        except zmq.ZMQError:
            pass
        monitor.close(linger=0)
        sock.close(linger=0)

    def _run(self) -> None:
        try:
            # The socket and its monitor; None between a refused handshake and the redial.
            opened: Optional[Tuple[zmq.Socket[Any], zmq.Socket[Any]]] = self._open()
        except zmq.ZMQError as e:
            self._open_error = e
            self._started.set()
            return
        self._started.set()
        pending: Dict[int, _Pending] = {}
        poller = zmq.Poller()
        poller.register(self._wake_r.fileno(), zmq.POLLIN)
        assert opened is not None  # _open returned (or raised)
        poller.register(opened[0], zmq.POLLIN)
        poller.register(opened[1], zmq.POLLIN)
        connects = 0
        refusals = 0                           # handshakes refused in a row
        redial_at = 0.0                        # when to dial again, iff opened is None
        try:
            while True:
                if opened is None and time.monotonic() >= redial_at:
                    log.debug("redialling %s", self.endpoint)
                    opened = self._open()
                    connects = 0
                    self.results.on_reconnect()  # a new socket: a new identity
                    poller.register(opened[0], zmq.POLLIN)
                    poller.register(opened[1], zmq.POLLIN)
                    self._resend(opened[0], pending)
                now = time.monotonic()
                wait_ms = 1000
                if pending:
                    soonest = min(p.deadline for p in pending.values())
                    wait_ms = max(0, min(wait_ms, int((soonest - now) * 1000) + 1))
                if opened is None:
                    wait_ms = max(0, min(wait_ms, int((redial_at - now) * 1000) + 1))
                events = dict(poller.poll(wait_ms))
                if self._wake_r.fileno() in events:
                    try:
                        while self._wake_r.recv(4096):
                            pass
                    except (BlockingIOError, OSError):
                        pass
                sock = opened[0] if opened is not None else None
                if not self._drain_inbox(sock, pending):
                    break
                lost: Optional[str] = None  # set iff this socket's broker is lost: why
                if opened is not None and sock in events:
                    lost = self._read_all(opened[0], pending)
                if opened is not None and opened[1] in events and lost is None:
                    for event, value in handshake.read_events(opened[1]):
                        if event == zmq.EVENT_CONNECTED:
                            connects += 1
                        elif self.ring.several and event == zmq.EVENT_DISCONNECTED:
                            lost = "the connection was lost"
                            break
                        elif (self.ring.several and event == zmq.EVENT_CONNECT_RETRIED
                              and connects == 0):
                            lost = "nothing answers there"
                            break
                        elif event == zmq.EVENT_HANDSHAKE_SUCCEEDED:
                            if refusals:
                                log.info("the broker at %s accepted this client",
                                         self.endpoint)
                            refusals = 0
                            self._refusal = None
                        why = handshake.refusal(event, value, self.endpoint, self.curve,
                                                "client")
                        if why is None:
                            continue
                        # libzmq will not retry this connection: fail what waits on it
                        # now, and dial again on a new socket later.
                        refusals += 1
                        delay = handshake.redial_delay(refusals)
                        (log.warning if refusals == 1 else log.debug)(
                            "%s; redialling in %.1f s", why, delay)
                        self._refusal = why
                        for p in pending.values():
                            _fail(p.fut, Unauthorized(why))
                        pending.clear()
                        poller.unregister(opened[0])
                        poller.unregister(opened[1])
                        self._shut(*opened)
                        opened = None
                        redial_at = time.monotonic() + delay
                        break
                if opened is not None and lost is not None:
                    # Move: a new socket to the next endpoint, now or after the backoff.
                    old = self.endpoint
                    poller.unregister(opened[0])
                    poller.unregister(opened[1])
                    self._shut(*opened)
                    opened = None
                    delay = self.ring.advance()
                    log.info("broker at %s: %s; moving to %s%s (%d requests to resend)",
                             old, lost, self.endpoint,
                             f" in {delay:.1f} s" if delay else "", len(pending))
                    redial_at = time.monotonic() + delay
                    continue
                if opened is not None and connects > 1:
                    self._renew_subscriptions(opened[0])
                    # RESULT pushes still expected went to the old identity: their
                    # waiters ask the broker instead.
                    self.results.on_reconnect()  # after a reconnect
                    connects = 1
                self._expire(pending, time.monotonic())
        finally:
            for p in pending.values():
                _fail(p.fut, BrokerUnavailable("the client was closed"))
            if opened is not None:
                self._shut(*opened)

    def _drain_inbox(self, sock: Optional[zmq.Socket[Any]],
                     pending: Dict[int, _Pending]
                     ) -> bool:
        while True:
            try:
                item = self._inbox.get_nowait()
            except queue.Empty:
                return True
            if item is _CLOSE:
                return False
            msg, fut, deadline = item
            try:
                frames = codec.encode(msg)
            except TaskmillError as e:
                if fut is not None:
                    _fail(fut, e)
                continue
            if sock is None and self._refusal is not None:  # refused: say so at once
                if fut is not None:
                    _fail(fut, Unauthorized(self._refusal))
                continue
            notify = isinstance(msg, m.Submit) and msg.notify
            if sock is None:  # moving: sent when the next socket opens
                if fut is not None:
                    pending[msg.req_id] = _Pending(fut, deadline, notify, frames)
                continue
            try:
                sock.send_multipart(frames, flags=zmq.NOBLOCK)
            except zmq.Again:
                # No pipe: libzmq has just dropped a refused connection, and the monitor's
                # event is still to be read. It fails the request at once (else its deadline).
                log.debug("cannot send to %s: no connection", self.endpoint)
            except zmq.ZMQError as e:
                if fut is not None:
                    _fail(fut, BrokerUnavailable(f"cannot send to {self.endpoint}: {e}"))
                continue
            if fut is not None:
                pending[msg.req_id] = _Pending(fut, deadline, notify, frames)

    def _resend(self, sock: zmq.Socket[Any], pending: Dict[int, _Pending]) -> None:
        """On a new socket after a move: renews the subscriptions, then sends every
        unanswered request again, byte for byte (a SUBMIT or BATCH keeps its request id)."""
        self._renew_subscriptions(sock)
        for req_id, p in sorted(pending.items()):
            try:
                sock.send_multipart(p.frames, flags=zmq.NOBLOCK)
            except zmq.ZMQError as e:  # the deadline settles it
                log.debug("cannot resend request %d to %s: %s", req_id, self.endpoint, e)

    def _read_all(self, sock: zmq.Socket[Any],
                  pending: Dict[int, _Pending]
                  ) -> Optional[str]:
        """Handles every waiting message; returns why to move (a GOAWAY), else None."""
        while True:
            try:
                frames = sock.recv_multipart(flags=zmq.NOBLOCK)
            except zmq.Again:
                return None
            self._heard = True
            try:
                msg = codec.decode(frames)
            except ProtocolError as e:
                log.debug("dropping an undecodable broker message: %s", e)
                continue
            if isinstance(msg, m.GoAway):
                # Nothing more goes to this broker; what it answered so far stands.
                return f"GOAWAY ({msg.reason or 'no reason given'})"
            self.ring.connected()  # a broker that works: the next loss starts a new cycle
            if isinstance(msg, m.Reply):
                entry = pending.pop(msg.req_id, None)
                if entry is None:
                    if msg.error is not None:
                        log.debug("reply %d: %s", msg.req_id, msg.error.message)
                    continue
                if entry.notify and msg.error is None:
                    # Registered here, before the pushes that follow on this connection.
                    self.results.expect(msg.ids)
                fut = entry.fut
                if msg.error is not None:
                    _fail(fut, error_from_code(msg.error.code, msg.error.message))
                elif not fut.done():
                    try:
                        fut.set_result(msg)
                    except concurrent.futures.InvalidStateError:
                        pass
            elif isinstance(msg, m.Event):
                with self._lock:
                    sinks = list(self._subs.get(msg.batch_id, {}).values())
                for sink in sinks:
                    try:
                        sink(msg)
                    except Exception:  # noqa: BLE001 - a sink must not kill the I/O thread
                        log.exception("event sink failed")
            elif isinstance(msg, m.ResultMsg):
                self.results.on_result(msg.task)

    def _renew_subscriptions(self, sock: zmq.Socket[Any]) -> None:
        """A new connection may have a new identity: subscribe again (docs 9.1)."""
        with self._lock:
            batches: List[str] = [b for b in self._subs if b]  # "": WAIT progress sinks
        for batch_id in batches:
            msg = m.Subscribe(req_id=next(self._req_ids), batch_id=batch_id)
            try:
                sock.send_multipart(codec.encode(msg), flags=zmq.NOBLOCK)
            except zmq.ZMQError:
                pass

    def _expire(self, pending: Dict[int, _Pending],
                now: float) -> None:
        for req_id, (fut, deadline, _, _) in list(pending.items()):
            if fut.done():  # cancelled by its caller
                del pending[req_id]
            elif now >= deadline:
                del pending[req_id]
                if self._heard:
                    _fail(fut, TaskmillTimeout(f"no reply from {self.endpoint} in time"))
                else:
                    _fail(fut, BrokerUnavailable(
                        f"no broker answered at {self.endpoint} (is a broker running there, "
                        "and is this its client port? Its worker port (5556 by default) "
                        "never answers clients)"))


def _fail(fut: "concurrent.futures.Future[Any]", error: BaseException) -> None:
    if not fut.done():
        try:
            fut.set_exception(error)
        except concurrent.futures.InvalidStateError:
            pass
