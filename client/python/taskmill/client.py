"""The synchronous taskmill client."""

from __future__ import annotations

import concurrent.futures
import logging
import queue
import threading
import time
from typing import Any, Callable, Iterator, List, Mapping, Optional, Sequence, Union, \
    overload

from taskmill import calls
from taskmill.artifacts import write_artifacts
from taskmill import messages as m
from taskmill.calls import AffectedTasks, Call, ListPage, Payload, StatsReply, T
from taskmill.connection import Connection
from taskmill.curve import load as load_curve
from taskmill.errors import ProtocolError, TaskmillTimeout
from taskmill.handle import TaskHandle
from taskmill.results import DEFAULT_MAX_KEPT

EventCallback = Callable[[m.Event], None]
#: A waited-on task's progress: (task_id, fraction 0..1, message).
ProgressCallback = Callable[[str, float, str], None]
_END = object()


class _ProgressSink:
    """Hands a WAIT's task_progress EVENTs to its callback on the callback thread."""

    def __init__(self, client: "Client", callback: ProgressCallback) -> None:
        self._client = client
        self._callback = callback
        self.active = True

    def deliver(self, event: m.Event) -> None:  # on the I/O thread: must not block
        if self.active:
            self._client._callbacks.put((self, event))

    def _run_callback(self, event: m.Event) -> None:  # on the callback thread
        if self.active:
            self._callback(event.task_id, event.progress, event.message)


class Subscription:
    """The events of one batch, as an iterator or through a callback.

    Without a callback, iterate it (``for event in sub``) or call ``next_event``: events
    come in arrival order and iteration ends after ``batch_completed`` or ``close()``.
    With a callback, it runs on the client's callback thread (never the I/O thread), one
    event at a time in arrival order, so it may call the client. ``close()`` (or leaving
    the ``with`` block) stops delivery and, for the last local subscription to the batch,
    tells the broker. Any thread.
    """

    def __init__(self, client: "Client", batch_id: str,
                 callback: Optional[EventCallback]) -> None:
        self.batch_id = batch_id
        self._client = client
        self._callback = callback
        self._events: "queue.SimpleQueue[Any]" = queue.SimpleQueue()
        self._active = True       # False once closed
        self._ended = False       # True once the iterator returned its last event
        self._sub_id = client._conn.add_sink(batch_id, self._deliver)

    def _deliver(self, event: m.Event) -> None:  # on the I/O thread: must not block
        if not self._active:
            return
        if self._callback is not None:
            self._client._callbacks.put((self, event))
        else:
            self._events.put(event)

    def _run_callback(self, event: m.Event) -> None:  # on the callback thread
        if self._active and self._callback is not None:
            self._callback(event)

    @property
    def active(self) -> bool:
        return self._active

    def next_event(self, timeout: Optional[float] = None) -> Optional[m.Event]:
        """The next event; None once the batch completed or the subscription closed.
        Raises TaskmillTimeout if none came within ``timeout`` seconds."""
        if self._ended:
            return None
        try:
            item = self._events.get(timeout=timeout)
        except queue.Empty:
            raise TaskmillTimeout(f"no event of batch {self.batch_id} in time") from None
        if item is _END:
            self._ended = True
            return None
        if item.type == "batch_completed":
            self._events.put(_END)
        return item  # type: ignore[no-any-return]

    def __iter__(self) -> Iterator[m.Event]:
        while True:
            event = self.next_event()
            if event is None:
                return
            yield event

    def close(self) -> None:
        if not self._active:
            return
        self._active = False
        self._events.put(_END)
        if self._client._conn.remove_sink(self.batch_id, self._sub_id):
            self._client._conn.send_only(m.Subscribe(batch_id=self.batch_id,
                                                     unsubscribe=True))

    def __enter__(self) -> "Subscription":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class SubscribedBatch:
    """A batch submitted together with a subscription to its events."""

    def __init__(self, status: m.BatchStatus, subscription: Subscription) -> None:
        self.status = status
        self.subscription = subscription


class Client:
    """A synchronous client of one broker.

    Lifecycle: construct (starts a private I/O thread that owns the one DEALER socket,
    and connects lazily: it does not wait for the broker), call from any number of
    threads, ``close()`` or leave the ``with`` block (pending calls then fail with
    BrokerUnavailable). Every call blocks until its reply or its deadline
    (``request_timeout`` seconds; ``wait`` adds its own timeout) and raises:
    BrokerUnavailable if no broker ever answered on this connection, TaskmillTimeout if
    one did but not in time, InvalidSpec for a spec failing validation (checked before
    sending), NotFound, DependencyCycle, or TaskmillError with the broker's code.
    Event callbacks run on one callback thread, started on first use.
    """

    def __init__(self, endpoint: Optional[str] = None, *, request_timeout: float = 10.0,
                 heartbeat_ms: int = 500, curve_server_key: Optional[str] = None,
                 curve_key_file: Optional[str] = None,
                 max_kept_results: int = DEFAULT_MAX_KEPT) -> None:
        self.endpoint = endpoint or calls.default_endpoint()
        self.request_timeout = request_timeout
        self._conn = Connection(self.endpoint, heartbeat_ms,
                                curve=load_curve(curve_server_key, curve_key_file),
                                max_kept_results=max_kept_results)
        self._callbacks: "queue.SimpleQueue[Any]" = queue.SimpleQueue()
        self._callback_thread = threading.Thread(target=self._run_callbacks,
                                                 name="taskmill-client-callbacks",
                                                 daemon=True)
        self._callback_thread.start()

    @property
    def moves(self) -> int:
        """How many times this client moved to another endpoint of its list (or redialled
        its only one after a GOAWAY)."""
        return self._conn.moves

    def close(self) -> None:
        self._conn.close()
        self._callbacks.put(None)

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _run_callbacks(self) -> None:
        while True:
            item = self._callbacks.get()
            if item is None:
                return
            sub, event = item
            try:
                sub._run_callback(event)
            except Exception:  # noqa: BLE001 - one bad callback must not stop the others
                logging.getLogger("taskmill.client").exception("event callback failed")

    def _run(self, call: Call[T]) -> T:
        fut = self._conn.request(call.request, call.timeout)
        try:
            reply = fut.result(timeout=call.timeout + 5)
        except concurrent.futures.TimeoutError:  # a backstop: the I/O thread sets deadlines
            raise TaskmillTimeout("no reply in time") from None
        return call.read(reply)

    def call(self, request: Any, timeout: Optional[float] = None) -> m.Reply:
        """Sends any client request (its req_id is set here); returns the REPLY."""
        return self._run(Call(request, timeout or self.request_timeout, lambda r: r))

    # ----------------------------------------------------------------------- tasks

    def submit(self, type_or_spec: Union[str, m.TaskSpec], payload: Payload = None, *,
               notify: bool = False, **fields: Any) -> TaskHandle:
        """Submits one task and returns its handle: the task id (a str) with ``.result()``,
        ``.wait()``, ``.get()`` and ``.cancel()``. ``payload``: bytes, str (UTF-8) or a
        dict/list (sent as JSON); ``fields``: any TaskSpec field (queue, priority,
        max_attempts, backoff, timeout_ms, idempotency_key, not_before_ms, delay_ms,
        expires_in_ms, idempotency_ttl_ms, labels...).
        ``notify``: the broker pushes the result when the task ends, so ``.result()``
        costs no further request."""
        spec = calls.make_spec(type_or_spec, payload, **fields)
        call = calls.submit_many([spec], self.request_timeout, notify)
        return TaskHandle(self._run(call)[0], self)  # not via submit_many: warning stacklevel

    def submit_many(self, specs: Sequence[m.TaskSpec], *,
                    notify: bool = False) -> List[TaskHandle]:
        """Submits tasks in one request; returns their handles in order."""
        call = calls.submit_many(specs, self.request_timeout, notify)
        ids = self._run(call)
        return [TaskHandle(i, self) for i in ids]

    def wait(self, ids: Union[str, Sequence[str]], timeout: float = 300.0, *,
             on_progress: Optional[ProgressCallback] = None) -> List[m.TaskInfo]:
        """TaskInfo of each task once all are terminal, or as they are after ``timeout``
        seconds (a task still running then is not an error). Always asks the broker.
        ``on_progress(task_id, fraction, message)`` runs on the callback thread for each
        progress report of these tasks while waiting, whichever broker their worker is on
        (throttled by the broker: at most one per task per 250 ms, the latest kept)."""
        id_list = [ids] if isinstance(ids, str) else list(ids)
        if on_progress is None:
            return self._run(calls.wait(id_list, timeout, self.request_timeout))
        sink = _ProgressSink(self, on_progress)
        key = calls.PROGRESS_SINK
        sub_id = self._conn.add_sink(key, calls.progress_filter(id_list, sink.deliver))
        try:
            return self._run(calls.wait(id_list, timeout, self.request_timeout, True))
        finally:
            self._conn.remove_sink(key, sub_id)  # reports already queued still run

    def wait_result(self, task_id: str, timeout: float = 300.0) -> m.TaskInfo:
        """One task once it ended, or as it is after ``timeout`` seconds (no raise). For a
        task submitted here with ``notify``, from the broker's push, without a request;
        otherwise, or when the push cannot come (the connection was re-established, or the
        kept results overflowed), from the broker (WAIT, or GET at the deadline)."""
        deadline = time.monotonic() + timeout
        fut = self._conn.results.future(task_id)
        if fut is not None:
            try:
                pushed = fut.result(timeout=max(0.0, timeout))
            except concurrent.futures.TimeoutError:
                return self.get_many([task_id])[0]  # still expected: a push may yet come
            self._conn.results.discard(task_id, fut)
            if pushed is not None:
                return pushed
        left = deadline - time.monotonic()
        if left <= 0:
            return self.get_many([task_id])[0]
        return self.wait([task_id], left)[0]

    def result(self, task_id: str, timeout: float = 300.0) -> m.TaskInfo:
        """Waits for one task (as ``wait_result``): its TaskInfo if it succeeded; raises
        TaskFailed if it failed, was cancelled or expired, TaskmillTimeout if it is still not
        finished after ``timeout``."""
        info = self.wait_result(task_id, timeout)
        if not info.terminal:
            raise TaskmillTimeout(f"task {task_id} still {info.state} after {timeout}s")
        return calls.succeeded(info)

    def get(self, task_id: str) -> m.TaskInfo:
        """One task's current state; NotFound for an unknown id."""
        return self._run(calls.get(task_id, self.request_timeout))

    def fetch_artifacts(self, task_id: str, out_dir: str,
                        artifacts_root: Optional[str] = None) -> List[str]:
        """Writes the files ``task_id`` kept to ``out_dir`` (names checked, sha256
        verified; see ``taskmill.artifacts``); returns the paths written. Kept files are
        read from the workers' ``--artifacts-dir`` volume: ``artifacts_root`` is where this
        host mounts it (default: the path in each ``file://`` uri)."""
        return write_artifacts(self.get(task_id), out_dir, artifacts_root)

    def get_many(self, ids: Sequence[str]) -> List[m.TaskInfo]:
        """Many tasks; an unknown id comes back with state "unknown"."""
        return self._run(calls.get_many(ids, self.request_timeout))

    def cancel(self, task_id: str, reason: str = "") -> int:
        """Cancels a task; returns how many were cancelled (0: it had already ended). A
        running task counts, but only stops once its worker confirms: ``cancel_many`` says
        which ones are still running (``requested``)."""
        return self._run(calls.cancel([task_id], "", reason, self.request_timeout)).count

    def complete(self, task_id: str, token: str, output: Union[bytes, str] = b"", *,
                 cost: Optional[Mapping[str, float]] = None,
                 error: Optional[m.TaskError] = None) -> None:
        """Completes a task awaiting an outside system (its handler returned awaiting) with
        the completion token its handler gave out: ``output`` on success, or ``error``
        (``TaskError(code, message, retryable)``) to fail the attempt; ``cost`` is summed
        into the task's. Raises TaskmillError with code ``stale_token`` (not its token) or
        ``conflict`` (not awaiting: used already, or not handed over yet), or NotFound;
        nothing changes then."""
        self._run(calls.complete(task_id, token, output, cost, error, self.request_timeout))

    def cancel_many(self, ids: Sequence[str], reason: str = "") -> AffectedTasks:
        """Cancels tasks; ``requested``: those still running, stopping once their worker
        confirms."""
        return self._run(calls.cancel(ids, "", reason, self.request_timeout))

    def cancel_batch(self, batch_id: str, reason: str = "") -> AffectedTasks:
        """Cancels the unfinished rest of a batch (``requested`` as for ``cancel_many``)."""
        return self._run(calls.cancel([], batch_id, reason, self.request_timeout))

    # --------------------------------------------------------------------- batches

    @overload
    def submit_batch(self, tasks: Union[m.BatchSpec, Sequence[m.TaskSpec]], *,
                     id: str = ..., budget: Optional[Mapping[str, float]] = ...,
                     labels: Optional[Mapping[str, str]] = ...,
                     on_failure: str = ...,
                     finally_task: Optional[m.TaskSpec] = ...,
                     subscribe: None = ...) -> m.BatchStatus: ...

    @overload
    def submit_batch(self, tasks: Union[m.BatchSpec, Sequence[m.TaskSpec]], *,
                     id: str = ..., budget: Optional[Mapping[str, float]] = ...,
                     labels: Optional[Mapping[str, str]] = ...,
                     on_failure: str = ...,
                     finally_task: Optional[m.TaskSpec] = ...,
                     subscribe: Union[bool, EventCallback]) -> SubscribedBatch: ...

    def submit_batch(self, tasks: Union[m.BatchSpec, Sequence[m.TaskSpec]], *,
                     id: str = "", budget: Optional[Mapping[str, float]] = None,
                     labels: Optional[Mapping[str, str]] = None,
                     on_failure: str = "cancel_dependents",
                     finally_task: Optional[m.TaskSpec] = None,
                     subscribe: Union[None, bool, EventCallback] = None
                     ) -> Union[m.BatchStatus, SubscribedBatch]:
        """Submits a batch: tasks with unique names, ``depends_on`` naming others.

        Returns its BatchStatus (``tasks`` maps name -> task id). With ``subscribe``
        (True for an iterator, or a callback) it returns a SubscribedBatch whose
        subscription saw every event: it is registered before the batch is sent, under
        an id chosen here when the batch has none. ``on_failure``: what a task that dies
        does to the rest, "cancel_dependents", "continue" or "fail_fast" (README).
        ``finally_task``: a task run once when the batch ends, given its summary."""
        spec = calls.batch_spec(tasks, id, budget, labels, on_failure, finally_task)
        if subscribe is None or subscribe is False:
            return self._run(calls.submit_batch(spec, False, self.request_timeout))
        if not spec.id:
            spec.id = calls.new_batch_id()
        callback = None if subscribe is True else subscribe
        sub = Subscription(self, spec.id, callback)
        try:
            status = self._run(calls.submit_batch(spec, True, self.request_timeout))
        except BaseException:
            sub.close()
            raise
        return SubscribedBatch(status, sub)

    def append_to_batch(self, batch_id: str, tasks: Sequence[m.TaskSpec], *,
                        labels: Optional[Mapping[str, str]] = None) -> m.BatchStatus:
        """Adds tasks to the running batch ``batch_id``: their names must be new to it and
        their ``depends_on`` may name its tasks. Returns the batch's status (``tasks`` maps
        every name, old and new, to its id); a subscription to the batch sees the new
        tasks' events. Raises NotFound (no such batch), or TaskmillError with code
        "conflict" (it has ended, was cancelled, went over its budget or failed fast; or a
        name is taken)."""
        spec = calls.batch_spec(tasks, "", None, labels, append_to=batch_id)
        return self._run(calls.submit_batch(spec, False, self.request_timeout))

    def get_batch(self, batch_id: str) -> m.BatchStatus:
        return self._run(calls.get_batch(batch_id, self.request_timeout))

    def wait_batch(self, batch_id: str, timeout: float = 300.0) -> m.BatchStatus:
        """Waits until every task of the batch ended; returns the final BatchStatus."""
        deadline = time.monotonic() + timeout
        status = self.get_batch(batch_id)
        while not status.terminal:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TaskmillTimeout(f"batch {batch_id} still {status.state}")
            self.wait(list(status.tasks.values()), left)
            status = self.get_batch(batch_id)
        return status

    def subscribe(self, batch_id: str, callback: Optional[EventCallback] = None
                  ) -> Subscription:
        """Follows a batch's events from now on (an iterator, or ``callback``)."""
        sub = Subscription(self, batch_id, callback)
        try:
            self._run(calls.subscribe(batch_id, self.request_timeout))
        except BaseException:
            sub.close()
            raise
        return sub

    # ------------------------------------------------------------------ operations

    def stats(self, queues: Sequence[str] = ()) -> StatsReply:
        """Per-queue depth, counters and costs (empty: every queue), the workers and the
        broker's counters; every page the broker answers, gathered."""
        out = StatsReply()
        cursor: Optional[str] = ""
        for _ in range(calls.MAX_STATS_PAGES):
            assert cursor is not None
            page = self._run(calls.stats_page(queues, cursor, self.request_timeout))
            cursor = calls.gather_stats(out, page, cursor)
            if cursor is None:
                return out
        raise ProtocolError(f"STATS: more than {calls.MAX_STATS_PAGES} pages", "internal")

    def dead_letters(self, queue: str = "", limit: int = 100) -> List[m.TaskInfo]:
        """Dead-lettered tasks with their error history (queue empty: every queue)."""
        return self._run(calls.dlq_list(queue, limit, self.request_timeout))

    def retry_dead_letters(self, queue: str = "", ids: Sequence[str] = ()) -> AffectedTasks:
        """Moves dead letters back to ready, attempts reset (ids empty: all of queue)."""
        return self._run(calls.dlq_op("retry", queue, ids, self.request_timeout))

    def purge_dead_letters(self, queue: str = "", ids: Sequence[str] = ()) -> AffectedTasks:
        """Deletes dead letters (ids empty: all of queue)."""
        return self._run(calls.dlq_op("purge", queue, ids, self.request_timeout))

    def set_queue_limit(self, queue: str, rate: str = "", concurrency: int = 0,
                        cost_rate: str = "", key_label: str = "", aging: str = "",
                        round_robin: bool = False) -> str:
        """Replaces a queue's limits and fairness (`taskmill queue limit`): rate "N/s|m|h",
        concurrency N, cost_rate "NAME=AMOUNT/s|m|h", per value of key_label, priority aging
        period ("30s"), round robin between key_label's values. Returns the setting as
        stored ("rate=100/s concurrency=5"); a bad one raises naming what is allowed."""
        return self._run(calls.set_limit(m.Limit(
            queue=queue, rate=rate, concurrency=concurrency, cost_rate=cost_rate,
            key_label=key_label, aging=aging, round_robin=round_robin), self.request_timeout))

    def clear_queue_limit(self, queue: str) -> None:
        """Removes every limit and fairness setting of the queue."""
        self._run(calls.set_limit(m.Limit(queue=queue, clear=True), self.request_timeout))

    def pause_queue(self, queue: str) -> m.QueueStats:
        """Pauses a queue (`taskmill queue pause`; admin role under CURVE roles): its tasks
        stay queued and submits still work, but no broker leases any until it is resumed."""
        return self._run(calls.queue_admin("pause", queue, self.request_timeout))

    def resume_queue(self, queue: str) -> m.QueueStats:
        """Resumes a paused queue: idle workers on every broker claim its tasks at once."""
        return self._run(calls.queue_admin("resume", queue, self.request_timeout))

    def quiet_worker(self, worker_id: str) -> m.WorkerInfo:
        """Quiets a worker by id, whichever broker it is on (`taskmill worker quiet`): it
        finishes its running tasks and is leased nothing new. Raises NotFound if no live
        broker knows the id."""
        return self._run(calls.worker_admin("quiet", worker_id, self.request_timeout))

    def unquiet_worker(self, worker_id: str) -> m.WorkerInfo:
        """Lets a quiet worker take tasks again."""
        return self._run(calls.worker_admin("unquiet", worker_id, self.request_timeout))

    def add_schedule(self, name: str, task: Union[str, m.TaskSpec], payload: Payload = None, *,
                     cron: str = "", tz: str = "", every: Union[str, int, None] = None,
                     catch_up: str = "skip", **fields: Any) -> m.ScheduleInfo:
        """Adds (or replaces) a periodic schedule: ``task`` (a type name, or a TaskSpec) is
        submitted at every tick, once across all brokers. Exactly one of ``cron`` (5 fields,
        optional IANA ``tz``) and ``every`` (``"30s"``, ``"5m"``...). Returns it as stored,
        with ``next_run_ms``. An admin key with CURVE roles."""
        spec = calls.make_spec(task, payload, **fields)
        schedule = calls.make_schedule(name, spec, cron, tz, every, catch_up)
        return self._run(calls.schedule_add(schedule, self.request_timeout))

    def schedules(self) -> List[m.ScheduleInfo]:
        """Every schedule, in name order, with its next run and counters."""
        return self._run(calls.schedule_list(self.request_timeout))

    def pause_schedule(self, name: str) -> m.ScheduleInfo:
        return self._run(calls.schedule_op("pause", name, self.request_timeout))

    def resume_schedule(self, name: str) -> m.ScheduleInfo:
        """Resumes a paused schedule from its next tick after now."""
        return self._run(calls.schedule_op("resume", name, self.request_timeout))

    def remove_schedule(self, name: str) -> None:
        self._run(calls.schedule_remove(name, self.request_timeout))

    def list_tasks(self, queue: str, state: str, type: str = "", limit: int = 50,
                   cursor: str = "") -> ListPage:
        """One page of a queue's tasks in ``state`` (any of docs/protocol.md 7.10 but
        unknown), in the order of the state's index; pass ``next_cursor`` back as
        ``cursor`` for the next page ("" = the last). Under CURVE a client sees only its
        own tasks."""
        return self._run(calls.list_tasks(queue, state, type, limit, cursor,
                                          self.request_timeout))

    def list_batches(self, state: str = "", limit: int = 50, cursor: str = "") -> ListPage:
        """One page of batches by creation (``state``: running, succeeded, partial,
        failed, or "" for any)."""
        return self._run(calls.list_batches(state, limit, cursor, self.request_timeout))

    def set_priority(self, task_id: str, priority: int) -> m.TaskInfo:
        """Sets a queued, delayed or blocked task's priority (0-255); raises TaskmillError (code conflict) for
        a task in another state, NotFound for an unknown one."""
        return self._run(calls.update(task_id, "priority", priority, self.request_timeout))

    def promote(self, task_id: str) -> m.TaskInfo:
        """Makes a delayed task ready now."""
        return self._run(calls.update(task_id, "promote", 0, self.request_timeout))
