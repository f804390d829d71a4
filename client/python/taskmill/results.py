"""Results the broker pushes (RESULT, protocol-messages.md 8.10) for tasks submitted with notify,
kept until a caller takes them, so that waiting for a result costs no request.

Not public API: used by Client and AsyncClient through their Connection.
"""

from __future__ import annotations

import concurrent.futures
import threading
from collections import OrderedDict
from typing import Dict, Iterable, Optional

from taskmill import messages as m

# Arrived results kept until taken, oldest dropped first. A dropped one costs a WAIT when
# it is waited for, never its result. Expected ids are bounded at ten times this.
DEFAULT_MAX_KEPT = 100_000


class ResultTable:
    """Task id -> a future of its pushed result. The future's value is the TaskInfo, or
    None when the push can no longer come (the id was dropped, or the connection was
    re-established: the broker pushes to the identity that submitted); the waiter then
    asks the broker. An id the table does not hold is asked for at once.

    Threads: the I/O thread feeds it (``expect`` when a notify SUBMIT's reply arrives,
    so strictly before its pushes; ``on_result``; ``on_reconnect``); callers read
    ``future`` and ``discard`` from any thread."""

    def __init__(self, max_kept: int = DEFAULT_MAX_KEPT) -> None:
        self._max_kept = max(1, max_kept)
        self._lock = threading.Lock()  # guards the three below
        self._entries: Dict[str, "concurrent.futures.Future[Optional[m.TaskInfo]]"] = {}
        self._arrived: "OrderedDict[str, None]" = OrderedDict()  # ids, oldest first
        self._expected: "OrderedDict[str, None]" = OrderedDict()  # ids, oldest first

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def expect(self, ids: Iterable[str]) -> None:
        """Registers ids submitted with notify (I/O thread, on the SUBMIT's reply)."""
        with self._lock:
            for task_id in ids:
                if not task_id or task_id in self._entries:
                    continue
                self._entries[task_id] = concurrent.futures.Future()
                self._expected[task_id] = None
            while len(self._expected) > 10 * self._max_kept:
                old, _ = self._expected.popitem(last=False)
                _settle(self._entries.pop(old), None)

    def on_result(self, task: m.TaskInfo) -> None:
        """A RESULT arrived (I/O thread); kept even if nobody expects it."""
        with self._lock:
            fut = self._entries.get(task.id)
            if fut is None or fut.done():
                fut = concurrent.futures.Future()
                self._entries[task.id] = fut
            self._expected.pop(task.id, None)
            self._arrived[task.id] = None
            self._arrived.move_to_end(task.id)
            _settle(fut, task)
            while len(self._arrived) > self._max_kept:
                old, _ = self._arrived.popitem(last=False)
                del self._entries[old]

    def on_reconnect(self) -> None:
        """A new connection (I/O thread): every push still expected is lost."""
        with self._lock:
            lost = [self._entries.pop(i) for i in self._expected]
            self._expected.clear()
        for fut in lost:
            _settle(fut, None)

    def future(self, task_id: str) -> "Optional[concurrent.futures.Future[Optional[m.TaskInfo]]]":
        """The id's future, or None when the table does not hold it (ask the broker)."""
        with self._lock:
            return self._entries.get(task_id)

    def discard(self, task_id: str,
                fut: "concurrent.futures.Future[Optional[m.TaskInfo]]") -> None:
        """Forgets a future once its waiter has read it (unless replaced meanwhile)."""
        with self._lock:
            if self._entries.get(task_id) is fut:
                del self._entries[task_id]
                self._arrived.pop(task_id, None)
                self._expected.pop(task_id, None)


def _settle(fut: "concurrent.futures.Future[Optional[m.TaskInfo]]",
            value: Optional[m.TaskInfo]) -> None:
    if not fut.done():
        try:
            fut.set_result(value)
        except concurrent.futures.InvalidStateError:
            pass
