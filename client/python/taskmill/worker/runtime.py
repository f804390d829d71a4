"""The Python worker runtime: serves task types with handlers over the worker protocol."""

from __future__ import annotations

import collections
import concurrent.futures
import logging
import os
import queue
import secrets
import signal
import socket
import threading
import time
from typing import Any, Callable, Dict, List, Optional, Sequence, Set, Tuple

import zmq

from taskmill import codec, curve, handshake
from taskmill import messages as m
from taskmill.errors import ProtocolError
from taskmill.worker.handler import (DEFAULT_WORKER_ENDPOINT, ENV_WORKER_BROKER, Handler,
                                     HandlerResult, default_worker_endpoint, run_attempt)
from taskmill.worker.pool import Pool
from taskmill.worker.task import Task

__all__ = ["DEFAULT_WORKER_ENDPOINT", "ENV_WORKER_BROKER", "Handler", "HandlerResult", "Worker"]

log = logging.getLogger("taskmill.worker")

Key = Tuple[str, int]  # (task id, token): one attempt
# Reliable messages kept while the broker is away. Only DONEs pile up then (no new tasks
# arrive), so this is a guard against a bug, not a limit anyone should meet.
_MAX_OUTBOX = 10_000


def _now_ms() -> int:
    return int(time.time() * 1000)


class Worker:
    """A worker process's runtime: registers handlers, then ``run()`` serves them.

    Threads: ``run()``'s thread is the I/O thread. It alone owns the DEALER socket, sends
    READY on each (re)connection and HEARTBEAT every ``heartbeat_ms``, and does nothing
    that blocks, so a busy handler never delays a heartbeat. Handlers run on a pool of
    ``concurrency`` executor threads and hand PROGRESS and DONE back through a queue and
    a wake-up socketpair. ``drain()`` may be called from any thread (and is, on SIGTERM
    or SIGINT when ``run()`` is on the main thread): no new tasks, running ones get
    ``drain_timeout`` seconds (or the broker's DRAIN grace), the rest are reported as
    retryable ``drain_timeout`` failures, then BYE, and ``run()`` returns.

    Each link starts with READY, whose ``running`` lists the tasks this process still
    holds (on a slot, or finished with the DONE not yet sent), so the broker keeps their
    leases across a reconnect. READY, DONE and BYE wait in an outbox until a live
    connection takes them (``ZMQ_IMMEDIATE``), so DONEs not yet sent when the link is
    closed to reconnect go out after the new READY; fencing tokens make a repeat harmless.

    A handler (a function or an ``async def``) returns the output (bytes, str, a
    dict/list sent as JSON, or None); an exception is a retryable ``handler_exception``
    failure (logged at warning with its traceback, which is also the error message),
    ``PermanentError`` a final one. A cancel, the task's timeout or the drain's end sets
    ``task.cancel_event`` (and cancels a coroutine); whatever the handler returns after
    that is reported as ``cancelled`` (final) or ``timeout`` with its output dropped. A
    handler still running ``cancel_grace`` seconds after that is reported at once, and its
    slot counted lost (not offered to the broker) until it returns.
    """

    def __init__(self, broker: Optional[str] = None, *, queues: Sequence[str] = ("default",),
                 concurrency: Optional[int] = None, worker_id: Optional[str] = None,
                 heartbeat_ms: int = 1000, liveness: int = 3, drain_timeout: float = 30.0,
                 labels: Optional[Dict[str, str]] = None,
                 max_output_bytes: int = 8 << 20,
                 curve_server_key: Optional[str] = None,
                 curve_key_file: Optional[str] = None,
                 cancel_grace: float = 5.0, processes: int = 0,
                 max_tasks_per_process: int = 0,
                 max_memory_per_process_mb: int = 0) -> None:
        # The broker's worker port: the argument, else $TASKMILL_WORKER_BROKER, else :5556.
        self.broker = broker or default_worker_endpoint()
        # Seconds a handler may run on after its cancel/timeout before it is reported
        # without waiting and its slot counted lost until it returns.
        self.cancel_grace = cancel_grace
        # A bigger handler output is reported as a failure (output_too_large, not retried)
        # instead: sent whole it would pass the broker's frame cap and be lost. Match the
        # broker's --max-output-bytes.
        self.max_output_bytes = max_output_bytes
        self.queues = list(queues)
        # Process pool (taskmill/worker/pool.py): 0 runs handlers on this process's executor
        # threads; N > 0 runs them in N supervised child processes (and sets concurrency to
        # N). A child is replaced after max_tasks_per_process attempts (0: never) or when
        # its RSS is over max_memory_per_process_mb after one (0: no cap).
        self.processes = processes
        self.max_tasks_per_process = max_tasks_per_process
        self.max_memory_per_process_mb = max_memory_per_process_mb
        # Slots: tasks run at once. Default: the number of cores, as in every taskmill
        # worker runtime (C++, Node).
        self.concurrency: int = concurrency or os.cpu_count() or 1
        self.worker_id = worker_id or \
            f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(2)}"
        self.heartbeat_ms = heartbeat_ms
        self.liveness = liveness
        self.drain_timeout = drain_timeout
        self.labels = dict(labels or {})
        # CURVE: the broker's public key (file or Z85) and this worker's key file, from the
        # arguments, else TASKMILL_CURVE_SERVER_KEY / TASKMILL_CURVE_KEY_FILE; "" if unset.
        self.curve_server_key = curve_server_key if curve_server_key is not None else \
            os.environ.get(curve.ENV_SERVER_KEY, "")
        self.curve_key_file = curve_key_file if curve_key_file is not None else \
            os.environ.get(curve.ENV_KEY_FILE, "")
        self.curve = curve.load(self.curve_server_key, self.curve_key_file)  # None: plain
        self.handlers: Dict[str, Handler] = {}
        self._outbox: "queue.SimpleQueue[Tuple[Optional[Key], Any]]" = queue.SimpleQueue()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._drain_grace: Optional[float] = None  # seconds; set iff a drain was asked for
        self._reconnect_asked = False  # set by _request_reconnect(), read by the I/O thread
        self.links = 0  # how many links (READYs) run() has opened so far
        self.refused = 0  # how many handshakes the broker refused (CURVE) so far
        self._lock = threading.Lock()
        self.running = threading.Event()  # set while run() serves

    # ------------------------------------------------------------ registration

    def handler(self, name: str) -> Callable[[Handler], Handler]:
        """Decorator: ``@worker.handler("resize") def resize(task): ...``."""
        def register(fn: Handler) -> Handler:
            self.add_handler(name, fn)
            return fn
        return register

    def add_handler(self, name: str, fn: Handler) -> None:
        self.handlers[name] = fn

    # --------------------------------------------------------------- any thread

    def drain(self, grace: Optional[float] = None) -> None:
        """Stops taking tasks; running ones get ``grace`` seconds (default
        ``drain_timeout``; a second call shortens it), then BYE and ``run()`` returns."""
        with self._lock:
            g = self.drain_timeout if grace is None else grace
            if self._drain_grace is not None:
                g = 0.0 if grace is None else min(g, self._drain_grace)
            self._drain_grace = g
        self._wake()

    def _request_reconnect(self) -> None:
        """Closes the link and opens a new one, as when the broker goes silent (a test
        hook; any thread)."""
        with self._lock:
            self._reconnect_asked = True
        self._wake()

    def _wake(self) -> None:
        try:
            self._wake_w.send(b"x")
        except OSError:
            pass

    def _post(self, key: Optional[Key], msg: Any) -> None:  # from executor threads
        self._outbox.put((key, msg))
        self._wake()

    # -------------------------------------------------------------- I/O thread

    def run(self, install_signal_handlers: bool = True) -> None:
        """Serves until drained. Blocks; call ``drain()`` from elsewhere to stop."""
        if not self.handlers:
            raise ValueError("no handlers registered")
        on_main = threading.current_thread() is threading.main_thread()
        previous: Dict[int, Any] = {}
        if install_signal_handlers and on_main:
            for sig in (signal.SIGTERM, signal.SIGINT):
                previous[sig] = signal.signal(sig, lambda *_: self.drain())
        pool: Optional[Pool] = None
        if self.processes:
            self.concurrency = self.processes
            # Forked first, before this run starts any thread of its own.
            pool = Pool(dict(self.handlers), max_tasks=self.max_tasks_per_process,
                        max_rss_bytes=self.max_memory_per_process_mb << 20,
                        kill_grace=self.cancel_grace, max_output_bytes=self.max_output_bytes)
        try:
            _Loop(self, pool).run()
        finally:
            if pool is not None:
                pool.close()
            for signum, handler in previous.items():
                signal.signal(signum, handler)


class _Loop:
    """The state of one ``Worker.run``: socket, running attempts, timers. I/O thread."""

    def __init__(self, worker: Worker, pool: Optional[Pool] = None) -> None:
        self.w = worker
        self.procs = pool  # the process pool; None: handlers run on the executor threads
        # With pool processes (which kill an overdue handler at cancel_grace and report it
        # themselves), the I/O thread's own report waits 2 s more, as a backstop.
        self.overdue_s = worker.cancel_grace + (2.0 if pool is not None else 0.0)
        self.ctx: zmq.Context[Any] = zmq.Context.instance()
        # The DEALER; None only between a refused handshake and the redial.
        self.sock: Optional[zmq.Socket[Any]] = None
        # Handshake events of self.sock; set iff the worker uses CURVE.
        self.monitor: Optional[zmq.Socket[Any]] = None
        self.refusals = 0              # handshakes refused in a row
        self.redial_at = 0.0           # when to dial again, iff self.sock is None
        self.pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=worker.concurrency, thread_name_prefix="taskmill-handler")
        self.running: Dict[Key, Tuple[Task, float]] = {}  # attempt -> (task, deadline or 0)
        # Attempts reported while their handler ignored its stop; each holds a slot (an
        # executor thread) until the handler returns.
        self.lost: Set[Key] = set()
        self.warned_wrong_port = False  # True iff this link got a client reply (see read_broker)
        # Reliable messages not yet taken by a live connection, in order: READY (always
        # first), DONEs, BYE. Each is (task id of a DONE or "", frames, is READY).
        self.outbox: "collections.deque[Tuple[str, List[bytes], bool]]" = \
            collections.deque()
        self.hb_s = worker.heartbeat_ms / 1000.0
        self.last_heard = 0.0          # monotonic time of the broker's last message
        self.next_heartbeat = 0.0      # monotonic time the next HEARTBEAT is due
        self.drain_deadline: Optional[float] = None  # set iff draining

    def close_link(self) -> None:
        if self.monitor is not None and self.sock is not None:
            try:
                self.sock.disable_monitor()
            except zmq.ZMQError:
                pass
        if self.monitor is not None:
            self.monitor.close(linger=0)
            self.monitor = None
        if self.sock is not None:
            self.sock.close(linger=0)
            self.sock = None

    def connect(self) -> None:
        self.close_link()
        self.sock = self.ctx.socket(zmq.DEALER)
        self.sock.setsockopt(zmq.LINGER, 0)
        # IMMEDIATE: only a live connection takes a message, so while the broker is away
        # DONEs stay in self.outbox (and survive this reconnect) instead of a dead pipe.
        self.sock.setsockopt(zmq.IMMEDIATE, 1)
        # A routing id of its own per link (worker id + 128 random bits): the broker takes no
        # routing-id handover, and one nobody can guess is one nobody can use to receive this
        # worker's tasks. The worker id moves to the new link with its READY.
        self.sock.setsockopt_string(zmq.IDENTITY,
                                    f"{self.w.worker_id}.{secrets.token_hex(16)}")
        if self.w.curve is not None:  # on every new socket, reconnects included
            self.w.curve.apply(self.sock)
            # Watched for a refused handshake, which libzmq never retries. Only with CURVE:
            # without it nothing is refused (a CURVE broker's mechanism mismatch aside, which
            # the liveness check below recovers from).
            self.monitor = self.sock.get_monitor_socket(handshake.EVENTS,
                                                        handshake.monitor_address("worker"))
        self.sock.connect(self.w.broker)
        # Every link starts with READY, ahead of the DONEs kept from the last one. It lists
        # what this process still holds, so the broker keeps exactly these leases.
        held = [task_id for task_id, _ in self.running]
        held += [task_id for task_id, _, is_ready in self.outbox if task_id and not is_ready]
        ready = m.Ready(worker_id=self.w.worker_id, queues=self.w.queues,
                        types=sorted(self.w.handlers), concurrency=self.w.concurrency,
                        labels=self.w.labels, running=list(dict.fromkeys(held)))
        self.outbox = collections.deque(o for o in self.outbox if not o[2])
        self.outbox.appendleft(("", codec.encode(ready), True))
        self.w.links += 1
        self.warned_wrong_port = False
        now = time.monotonic()
        self.last_heard = now
        self.next_heartbeat = now + self.hb_s
        log.info("worker %s: READY to %s (holding %d tasks)", self.w.worker_id,
                 self.w.broker, len(ready.running))
        self.flush()

    def send(self, msg: Any) -> None:
        """Queues READY, DONE or BYE to go out in order over a live connection."""
        task_id = msg.task_id if isinstance(msg, m.Done) else ""
        if len(self.outbox) >= _MAX_OUTBOX:  # a guard against a bug, as in the C++ worker
            log.warning("outbox full (%d messages); dropping the oldest", len(self.outbox))
            for i, (_, _, is_ready) in enumerate(self.outbox):
                if not is_ready:
                    del self.outbox[i]
                    break
        self.outbox.append((task_id, codec.encode(msg), False))
        self.flush()

    def send_best_effort(self, msg: Any) -> None:
        """HEARTBEAT and PROGRESS: never ahead of READY or a DONE; dropped if not sent."""
        if self.sock is None or self.outbox:
            return
        try:
            self.sock.send_multipart(codec.encode(msg), flags=zmq.NOBLOCK)
        except zmq.Again:
            log.debug("dropping a %s: no live link to the broker", type(msg).__name__)

    def flush(self) -> None:
        """Hands the outbox, in order, to the socket until it takes no more."""
        if self.sock is None:
            return  # refused: kept for the next link
        while self.outbox:
            try:
                self.sock.send_multipart(self.outbox[0][1], flags=zmq.NOBLOCK)
            except zmq.Again:
                return  # no live connection yet (or it is full): POLLOUT tells us when
            self.outbox.popleft()

    def final_flush(self, linger_s: float) -> None:
        """The last DONEs and BYE get up to ``linger_s`` to reach a live connection."""
        assert self.sock is not None
        deadline = time.monotonic() + linger_s
        while self.outbox:
            left = deadline - time.monotonic()
            if left <= 0:
                log.warning("worker %s: exiting with %d unsent messages", self.w.worker_id,
                            len(self.outbox))
                return
            if self.sock.poll(int(left * 1000) + 1, zmq.POLLOUT):
                self.flush()

    def free(self) -> int:
        return max(0, self.w.concurrency - len(self.running) - len(self.lost))

    def run(self) -> None:
        self.connect()
        self.w.running.set()
        try:
            while self.step():
                pass
        finally:
            self.w.running.clear()
            self.pool.shutdown(wait=False)
            if self.sock is None and self.outbox:
                self.connect()  # refused last time: one more try for the BYE and DONEs
            if self.sock is not None:
                self.final_flush(1.0)
                if self.monitor is not None:
                    self.sock.disable_monitor()
                    self.monitor.close(linger=0)
                self.sock.close(linger=1000)  # let the BYE out

    def step(self) -> bool:
        """One turn of the loop; False once drained and BYE is sent."""
        now = time.monotonic()
        if self.sock is None and now >= self.redial_at:
            log.info("worker %s: redialling %s", self.w.worker_id, self.w.broker)
            self.connect()
        if self.sock is not None:
            timers = [self.next_heartbeat, self.last_heard + self.w.liveness * self.hb_s]
        else:
            timers = [self.redial_at]
        timers += [d for _, d in self.running.values() if d]
        timers += [t._stopped_at + self.overdue_s for t, _ in self.running.values()
                   if t._stopped_at]
        if self.drain_deadline is not None:
            timers.append(self.drain_deadline)
        wait_ms = max(0, int((min(timers) - now) * 1000) + 1)
        poller = zmq.Poller()
        if self.sock is not None:
            poller.register(self.sock, zmq.POLLIN | (zmq.POLLOUT if self.outbox else 0))
        if self.monitor is not None:
            poller.register(self.monitor, zmq.POLLIN)
        poller.register(self.w._wake_r.fileno(), zmq.POLLIN)
        events = dict(poller.poll(wait_ms))
        if self.w._wake_r.fileno() in events:
            try:
                while self.w._wake_r.recv(4096):
                    pass
            except OSError:
                pass
        if self.sock is not None and events.get(self.sock, 0) & zmq.POLLIN:
            self.read_broker()
        if self.monitor is not None and self.monitor in events:
            self.read_monitor()
        with self.w._lock:
            reconnect, self.w._reconnect_asked = self.w._reconnect_asked, False
        if reconnect:
            log.info("worker %s: reconnecting on request", self.w.worker_id)
            self.connect()
        self.flush_outbox()
        self.flush()
        now = time.monotonic()
        self.check_timers(now)
        return not self.check_drain(now)

    def read_monitor(self) -> None:
        assert self.monitor is not None
        for event, value in handshake.read_events(self.monitor):
            if event == zmq.EVENT_HANDSHAKE_SUCCEEDED:
                if self.refusals:
                    log.info("worker %s: the broker at %s accepted this worker's key",
                             self.w.worker_id, self.w.broker)
                self.refusals = 0
                continue
            why = handshake.refusal(event, value, self.w.broker, self.w.curve, "worker")
            if why is None:
                continue
            # libzmq will not retry this connection: a new socket later, and until then no
            # socket (READY and DONEs wait in the outbox, the liveness check rests).
            self.refusals += 1
            self.w.refused += 1
            delay = handshake.redial_delay(self.refusals)
            (log.warning if self.refusals == 1 or self.refusals % 12 == 0 else log.info)(
                "worker %s: %s (%d refused in a row); redialling in %.1f s",
                self.w.worker_id, why, self.refusals, delay)
            self.close_link()
            self.redial_at = time.monotonic() + delay
            return

    def read_broker(self) -> None:
        assert self.sock is not None
        while True:
            try:
                frames = self.sock.recv_multipart(flags=zmq.NOBLOCK)
            except zmq.Again:
                return
            self.last_heard = time.monotonic()
            try:
                msg = codec.decode(frames)
            except ProtocolError as e:
                log.debug("dropping an undecodable broker message: %s", e)
                continue
            if isinstance(msg, m.TaskMsg):
                self.on_task(msg)
            elif isinstance(msg, m.CancelTask):
                for (task_id, token), (task, _) in self.running.items():
                    if task_id == msg.task_id and msg.token in (0, token):
                        task._set_cancelled(msg.reason or "cancelled")
            elif isinstance(msg, m.Drain):
                self.w.drain(msg.grace_ms / 1000.0)
            elif isinstance(msg, m.Reply) and not self.warned_wrong_port:
                # Only the client port answers with REPLY: it refuses READY and HEARTBEAT.
                self.warned_wrong_port = True
                why = msg.error.message if msg.error is not None else "a client reply"
                log.warning("worker %s: %s answered as a broker's client port (%s); a worker "
                            "must connect to the broker's worker port (default 5556; "
                            "$%s or --broker)", self.w.worker_id, self.w.broker, why,
                            ENV_WORKER_BROKER)

    def refuse(self, msg: m.TaskMsg, code: str, text: str, retryable: bool) -> None:
        self.send(m.Done(task_id=msg.task_id, token=msg.token, ok=False,
                         error=m.TaskError(code=code, message=text, retryable=retryable),
                         started_ms=_now_ms()))

    def on_task(self, msg: m.TaskMsg) -> None:
        key = (msg.task_id, msg.token)
        if key in self.running:
            return  # a duplicate of an attempt we run
        if self.drain_deadline is not None or self.w._drain_grace is not None:
            return self.refuse(msg, "draining", "the worker is draining", True)
        fn = self.w.handlers.get(msg.type)
        if fn is None:
            log.warning("worker %s: task %s attempt %d failed: unknown_type: no handler for "
                        "type '%s' here", self.w.worker_id, msg.task_id, msg.attempt, msg.type)
            return self.refuse(msg, "unknown_type", f"no handler for type '{msg.type}'",
                               False)
        if self.free() == 0:
            return self.refuse(msg, "no_slot", "no free slot", True)
        task = Task(msg, lambda p: self.w._post(key, p))
        deadline = time.monotonic() + msg.timeout_ms / 1000.0 if msg.timeout_ms else 0.0
        self.running[key] = (task, deadline)
        self.pool.submit(self.execute, fn, task, key, msg)

    def execute(self, fn: Handler, task: Task, key: Key,
                msg: m.TaskMsg) -> None:  # executor thread
        if self.procs is None:
            self.w._post(key, run_attempt(fn, task, self.w.max_output_bytes))
            return
        slot = self.procs.slot()
        self.w._post(key, slot.run(msg, task, lambda p: self.w._post(key, p)))
        slot.tend()  # a crashed or recycled process is replaced before the next task

    def flush_outbox(self) -> None:
        while True:
            try:
                key, msg = self.w._outbox.get_nowait()
            except queue.Empty:
                return
            if key not in self.running:
                # Already reported (drain timeout, or a handler that ignored its stop): the
                # late result is dropped, and a lost slot is free again.
                if key in self.lost and isinstance(msg, m.Done):
                    self.lost.discard(key)
                    log.warning("worker %s: task %s: the handler that ignored its stop has "
                                "returned; slot free again", self.w.worker_id, key[0])
                continue
            if isinstance(msg, m.Done):
                del self.running[key]  # held by the outbox until a live link takes it
                self.send(msg)
            else:
                self.send_best_effort(msg)

    def check_timers(self, now: float) -> None:
        if self.sock is not None and now >= self.last_heard + self.w.liveness * self.hb_s:
            log.warning("worker %s: no word from the broker, reconnecting", self.w.worker_id)
            self.connect()
        if now >= self.next_heartbeat:
            self.send_best_effort(m.Heartbeat(free=self.free()))
            self.next_heartbeat = now + self.hb_s
        for task, deadline in self.running.values():
            if deadline and now >= deadline:
                task._set_cancelled("timeout")
        if self.w._drain_grace is None:
            self.report_overdue(now)

    def report_overdue(self, now: float) -> None:
        """Reports attempts whose handler ignored its stop for ``cancel_grace`` seconds and
        counts their slots lost until the handler returns."""
        for key, (task, _) in list(self.running.items()):
            if not task._stopped_at or now < task._stopped_at + self.overdue_s:
                continue
            timeout = task.cancel_reason == "timeout"
            what = "its timeout" if timeout else "a cancel"
            del self.running[key]
            self.lost.add(key)
            log.warning("worker %s: task %s (%s): the handler ignored %s for %.1f s "
                        "(cancel_grace); reported as %s, its slot is lost until it returns "
                        "(%d of %d slots lost)", self.w.worker_id, task.id, task.type, what,
                        self.w.cancel_grace, "timeout" if timeout else "cancelled",
                        len(self.lost), self.w.concurrency)
            self.send(m.Done(task_id=task.id, token=task.token, ok=False, started_ms=_now_ms(),
                             error=m.TaskError(
                                 code="timeout" if timeout else "cancelled", retryable=timeout,
                                 message=f"the handler ignored {what} for "
                                         f"{self.w.cancel_grace:g} s; worker "
                                         f"{self.w.worker_id} gave up on it and lost its slot")))

    def check_drain(self, now: float) -> bool:
        """True once the drain is over and BYE sent."""
        grace = self.w._drain_grace
        if grace is None:
            return False
        if self.drain_deadline is None or now + grace < self.drain_deadline:
            self.drain_deadline = now + grace
            log.info("worker %s: draining, %d running, grace %.1fs", self.w.worker_id,
                     len(self.running), grace)
        if self.running and now < self.drain_deadline:
            return False
        for (task_id, token), (task, _) in list(self.running.items()):
            task._set_cancelled("draining")
            self.send(m.Done(task_id=task_id, token=token, ok=False, started_ms=_now_ms(),
                             error=m.TaskError(code="drain_timeout", retryable=True,
                                               message="still running when the drain ended")))
        self.running.clear()
        self.send(m.Bye(reason="drained"))
        log.info("worker %s: BYE", self.w.worker_id)
        return True
