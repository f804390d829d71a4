"""What a handler gets: one attempt of a task, with its payload and a way to report back."""

from __future__ import annotations

import json
import math
import secrets
import threading
import time
from typing import Any, Callable, Dict, List, Optional

from taskmill import messages as m

#: Reports closer together than this are not sent (a fraction of 1 always is); the broker
#: throttles again per task (250 ms, keeping the latest).
PROGRESS_INTERVAL = 0.05
#: A progress message is cut to this many UTF-8 bytes (the broker's cap).
MAX_PROGRESS_MESSAGE_BYTES = 512


def trim_progress_message(message: str) -> str:
    """``message`` cut to MAX_PROGRESS_MESSAGE_BYTES bytes, never inside a character."""
    data = message.encode("utf-8")
    if len(data) <= MAX_PROGRESS_MESSAGE_BYTES:
        return message
    return data[:MAX_PROGRESS_MESSAGE_BYTES].decode("utf-8", errors="ignore")


class Task:
    """One attempt of a task, handed to a handler on an executor thread.

    Read ``payload`` (bytes; ``text`` and ``json()`` decode it), ``parents`` (a batch
    member's parents' outputs by name), ``parent_errors`` (name -> TaskError of parents
    that died, in an ``on_failure="continue"`` batch), ``attempt`` (1-based), ``labels``. Report with
    ``add_cost(name, value)`` (summed; sent with DONE) and ``progress(fraction, message)``
    (sent at once). ``cancelled`` turns true (and ``cancel_event``, a
    ``threading.Event``, is set; an ``async def`` handler gets ``asyncio.CancelledError``)
    when the broker cancels the attempt, its timeout passes or the worker's drain grace
    ends: a long handler should check it and stop. Whatever the handler returns after
    that, the attempt is recorded as ``timeout`` or ``cancelled`` and its output dropped;
    one that runs on past the worker's ``cancel_grace`` is reported without waiting and
    its slot counted lost until it returns. Lives for one attempt; methods are safe from
    any thread.
    """

    def __init__(self, msg: m.TaskMsg, send: Callable[[Any], None]) -> None:
        self.id: str = msg.task_id
        self.token: int = msg.token
        self.attempt: int = msg.attempt
        self.queue: str = msg.queue
        self.type: str = msg.type
        self.payload: bytes = msg.payload
        self.timeout_ms: int = msg.timeout_ms
        self.batch_id: str = msg.batch_id
        self.name: str = msg.name
        self.parents: Dict[str, bytes] = dict(msg.parents)
        # Parents that died, in an on_failure="continue" batch: name -> TaskError (they
        # are not in ``parents``). Empty otherwise.
        self.parent_errors: Dict[str, m.TaskError] = {
            e.name: m.TaskError(e.code, e.message, e.retryable) for e in msg.parent_errors}
        self.labels: Dict[str, str] = dict(msg.labels)
        # A polled task's check: what the previous check returned in Poll (b"" at first).
        self.poll_state: bytes = msg.poll_state
        self._send = send
        self._lock = threading.Lock()
        self._costs: Dict[str, float] = {}
        self._completion_token = ""  # made by the first completion_token read
        self._cancel = threading.Event()
        self.cancel_reason: str = ""  # why `cancelled` turned true ("" while it is false)
        self._stopped_at = 0.0  # monotonic time `cancelled` turned true; 0 while false
        self._on_cancel: List[Callable[[], None]] = []  # run once when cancelled
        self._last_progress = -1.0  # monotonic time of the last PROGRESS sent; -1: none
        self._held_progress: Optional[m.Progress] = None  # the latest report skipped
        self.progress_skipped = 0  # reports not sent: within PROGRESS_INTERVAL of the last

    @property
    def text(self) -> str:
        """The payload as UTF-8 text."""
        return self.payload.decode("utf-8")

    def json(self) -> Any:
        """The payload parsed as JSON (None for an empty payload)."""
        return json.loads(self.payload) if self.payload else None

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    @property
    def cancel_event(self) -> threading.Event:
        """Set on cancel, timeout or drain (wait on it, or pass it to your own code)."""
        return self._cancel

    def wait_cancelled(self, timeout: Optional[float] = None) -> bool:
        """Sleeps up to ``timeout`` seconds, waking early on cancel; True iff cancelled."""
        return self._cancel.wait(timeout)

    def add_cost(self, name: str, value: float) -> None:
        """Adds to a named cost of this attempt (usd, tokens_in, cpu_ms, any name)."""
        if not math.isfinite(value):
            raise ValueError(f"cost {name}: must be a finite number")
        with self._lock:
            self._costs[name] = self._costs.get(name, 0.0) + float(value)

    def progress(self, fraction: float, message: str = "") -> None:
        """Reports progress (0..1, clamped; NaN ignored) and a message (cut to 512 bytes)
        to the broker, which stores it on the task (``get``) and pushes it to batch
        subscribers and clients waiting on the task. Reports within 50 ms of the last one
        sent are skipped (except a fraction of 1), so a chatty loop cannot flood the wire."""
        value = float(fraction)
        if math.isnan(value):
            return
        value = min(1.0, max(0.0, value))
        report = m.Progress(task_id=self.id, token=self.token, fraction=value,
                            message=trim_progress_message(message))
        now = time.monotonic()
        with self._lock:
            if (value < 1.0 and self._last_progress >= 0
                    and now - self._last_progress < PROGRESS_INTERVAL):
                self.progress_skipped += 1
                self._held_progress = report  # sent by flush_progress if nothing follows
                return
            self._last_progress = now
            self._held_progress = None
        self._send(report)

    def flush_progress(self) -> None:
        """Sends the latest report the 50 ms skip held back, if any (the worker calls it
        when the handler returns, before the DONE)."""
        with self._lock:
            report, self._held_progress = self._held_progress, None
            if report is not None:
                self._last_progress = time.monotonic()
        if report is not None:
            self._send(report)

    @property
    def completion_token(self) -> str:
        """The token an outside system completes this attempt with once the handler returns
        ``Awaiting`` (32 hex digits, 128 random bits; the same for the whole attempt). Give
        it to that system only."""
        with self._lock:
            if not self._completion_token:
                self._completion_token = secrets.token_hex(16)
            return self._completion_token

    def costs(self) -> Dict[str, float]:
        with self._lock:
            return dict(self._costs)

    def _set_cancelled(self, reason: str) -> None:
        with self._lock:
            if self._cancel.is_set():
                return
            self.cancel_reason = reason
            self._stopped_at = time.monotonic()
            self._cancel.set()
            callbacks, self._on_cancel = self._on_cancel, []
        for fn in callbacks:
            fn()

    def _call_on_cancel(self, fn: Callable[[], None]) -> None:
        """Runs ``fn`` (from the cancelling thread) once cancelled; at once if it is."""
        with self._lock:
            if not self._cancel.is_set():
                self._on_cancel.append(fn)
                return
        fn()
