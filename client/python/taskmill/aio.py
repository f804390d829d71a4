"""The asyncio taskmill client: the same calls as ``Client``, awaitable.

It shares ``Client``'s I/O thread design (one DEALER on a private thread); each request's
``concurrent.futures.Future`` is bridged to the event loop with ``asyncio.wrap_future``,
so no call blocks the loop.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, AsyncIterator, Callable, List, Mapping, Optional, Sequence, Union

from taskmill import calls
from taskmill.artifacts import write_artifacts
from taskmill import messages as m
from taskmill.calls import AffectedTasks, Call, ListPage, Payload, StatsReply, T
from taskmill.connection import Connection
from taskmill.curve import load as load_curve
from taskmill.errors import ProtocolError, TaskmillTimeout
from taskmill.handle import AsyncTaskHandle
from taskmill.results import DEFAULT_MAX_KEPT

AsyncEventCallback = Callable[[m.Event], Any]


class AsyncSubscription:
    """The events of one batch for asyncio: ``async for event in sub`` (ends after
    ``batch_completed`` or ``close()``), or a callback run on the event loop (a plain
    function, or a coroutine function scheduled as a task). Belongs to one event loop."""

    def __init__(self, client: "AsyncClient", batch_id: str,
                 callback: Optional[AsyncEventCallback]) -> None:
        self.batch_id = batch_id
        self._client = client
        self._loop = asyncio.get_running_loop()
        self._callback = callback
        self._events: "asyncio.Queue[Optional[m.Event]]" = asyncio.Queue()
        self._active = True  # False once closed
        self._ended = False  # True once iteration returned its last event
        self._sub_id = client._conn.add_sink(batch_id, self._deliver)

    def _deliver(self, event: m.Event) -> None:  # on the I/O thread
        if self._active:
            try:
                self._loop.call_soon_threadsafe(self._on_loop, event)
            except RuntimeError:  # the loop is closed
                pass

    def _on_loop(self, event: m.Event) -> None:
        if not self._active:
            return
        if self._callback is None:
            self._events.put_nowait(event)
            return
        result = self._callback(event)
        if asyncio.iscoroutine(result):
            self._loop.create_task(result)

    async def next_event(self, timeout: Optional[float] = None) -> Optional[m.Event]:
        """The next event; None once the batch completed or the subscription closed."""
        if self._ended:
            return None
        try:
            event = await asyncio.wait_for(self._events.get(), timeout)
        except asyncio.TimeoutError:
            raise TaskmillTimeout(f"no event of batch {self.batch_id} in time") from None
        if event is None:
            self._ended = True
        elif event.type == "batch_completed":
            self._events.put_nowait(None)
        return event

    async def __aiter__(self) -> AsyncIterator[m.Event]:
        while True:
            event = await self.next_event()
            if event is None:
                return
            yield event

    def close(self) -> None:
        if not self._active:
            return
        self._active = False
        self._events.put_nowait(None)
        if self._client._conn.remove_sink(self.batch_id, self._sub_id):
            self._client._conn.send_only(m.Subscribe(batch_id=self.batch_id,
                                                     unsubscribe=True))

    async def __aenter__(self) -> "AsyncSubscription":
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()


class AsyncWaitProgress:
    """A WAIT that reports progress, for asyncio: ``async for event in watch`` yields each
    task_progress EVENT of the tasks (``event.task_id``, ``event.progress``,
    ``event.message``) until every task is terminal or the timeout passed; then
    ``watch.tasks`` holds their TaskInfo (as ``AsyncClient.wait`` returns them)."""

    def __init__(self, client: "AsyncClient", ids: List[str], timeout: float) -> None:
        self.tasks: List[m.TaskInfo] = []
        self._client = client
        self._ids = ids
        self._timeout = timeout

    async def __aiter__(self) -> AsyncIterator[m.Event]:
        loop = asyncio.get_running_loop()
        events: "asyncio.Queue[m.Event]" = asyncio.Queue()

        def deliver(event: m.Event) -> None:  # on the I/O thread
            try:
                loop.call_soon_threadsafe(events.put_nowait, event)
            except RuntimeError:  # the loop is closed
                pass
        key = calls.PROGRESS_SINK
        conn = self._client._conn
        sub_id = conn.add_sink(key, calls.progress_filter(self._ids, deliver))
        try:
            waiting = asyncio.ensure_future(self._client._run(
                calls.wait(self._ids, self._timeout, self._client.request_timeout, True)))
            try:
                while not waiting.done():
                    getter = asyncio.ensure_future(events.get())
                    done, _ = await asyncio.wait({getter, waiting},
                                                 return_when=asyncio.FIRST_COMPLETED)
                    if getter in done:
                        yield getter.result()
                    else:
                        getter.cancel()
                while not events.empty():  # reports that came before the reply
                    yield events.get_nowait()
                self.tasks = waiting.result()
            finally:
                if not waiting.done():
                    waiting.cancel()
        finally:
            conn.remove_sink(key, sub_id)


class AsyncSubscribedBatch:
    """A batch submitted together with an AsyncSubscription to its events."""

    def __init__(self, status: m.BatchStatus, subscription: AsyncSubscription) -> None:
        self.status = status
        self.subscription = subscription


class AsyncClient:
    """An asyncio client of one broker; the errors and deadlines of ``Client``.

    Lifecycle: construct (in or out of a loop; starts the I/O thread, connects lazily),
    await calls from any task, ``await close()`` or ``async with``. Cancelling an awaiting
    task abandons its request (a late reply is dropped).
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

    @property
    def moves(self) -> int:
        """How many times this client moved to another endpoint of its list (or redialled
        its only one after a GOAWAY)."""
        return self._conn.moves

    async def close(self) -> None:
        await asyncio.get_running_loop().run_in_executor(None, self._conn.close)

    async def __aenter__(self) -> "AsyncClient":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _run(self, call: Call[T]) -> T:
        fut = self._conn.request(call.request, call.timeout)
        reply = await asyncio.wrap_future(fut)
        return call.read(reply)

    async def call(self, request: Any, timeout: Optional[float] = None) -> m.Reply:
        return await self._run(Call(request, timeout or self.request_timeout, lambda r: r))

    async def submit(self, type_or_spec: Union[str, m.TaskSpec], payload: Payload = None, *,
                     notify: bool = False, **fields: Any) -> AsyncTaskHandle:
        """As Client.submit; the handle is awaitable (``await handle`` is its result)."""
        spec = calls.make_spec(type_or_spec, payload, **fields)
        ids = await self._run(calls.submit_many([spec], self.request_timeout, notify))
        return AsyncTaskHandle(ids[0], self)

    async def submit_many(self, specs: Sequence[m.TaskSpec], *,
                          notify: bool = False) -> List[AsyncTaskHandle]:
        call = calls.submit_many(specs, self.request_timeout, notify)
        ids = await self._run(call)
        return [AsyncTaskHandle(i, self) for i in ids]

    async def wait(self, ids: Union[str, Sequence[str]], timeout: float = 300.0, *,
                   on_progress: Optional[Callable[[str, float, str], Any]] = None
                   ) -> List[m.TaskInfo]:
        """As Client.wait; ``on_progress(task_id, fraction, message)`` runs on the event
        loop for each progress report (a coroutine function is scheduled as a task)."""
        id_list = [ids] if isinstance(ids, str) else list(ids)
        if on_progress is None:
            return await self._run(calls.wait(id_list, timeout, self.request_timeout))
        watch = AsyncWaitProgress(self, id_list, timeout)
        async for event in watch:
            result = on_progress(event.task_id, event.progress, event.message)
            if asyncio.iscoroutine(result):
                asyncio.get_running_loop().create_task(result)
        return watch.tasks

    def wait_progress(self, ids: Union[str, Sequence[str]],
                      timeout: float = 300.0) -> AsyncWaitProgress:
        """``async for event in client.wait_progress(ids)``: the tasks' progress while
        waiting for them; the final TaskInfo list is then ``.tasks``."""
        id_list = [ids] if isinstance(ids, str) else list(ids)
        return AsyncWaitProgress(self, id_list, timeout)

    async def wait_result(self, task_id: str, timeout: float = 300.0) -> m.TaskInfo:
        """As Client.wait_result: from the push of a task submitted here with notify."""
        deadline = time.monotonic() + timeout
        fut = self._conn.results.future(task_id)
        if fut is not None:
            pushed = asyncio.wrap_future(fut)
            done, _ = await asyncio.wait({pushed}, timeout=max(0.0, timeout))
            if not done:
                return (await self.get_many([task_id]))[0]  # a push may yet come
            self._conn.results.discard(task_id, fut)
            info = pushed.result()
            if info is not None:
                return info
        left = deadline - time.monotonic()
        if left <= 0:
            return (await self.get_many([task_id]))[0]
        return (await self.wait([task_id], left))[0]

    async def result(self, task_id: str, timeout: float = 300.0) -> m.TaskInfo:
        info = await self.wait_result(task_id, timeout)
        if not info.terminal:
            raise TaskmillTimeout(f"task {task_id} still {info.state} after {timeout}s")
        return calls.succeeded(info)

    async def get(self, task_id: str) -> m.TaskInfo:
        return await self._run(calls.get(task_id, self.request_timeout))

    async def fetch_artifacts(self, task_id: str, out_dir: str,
                              artifacts_root: Optional[str] = None) -> List[str]:
        """As ``Client.fetch_artifacts``; the files are written on an executor thread."""
        task = await self.get(task_id)
        return await asyncio.get_running_loop().run_in_executor(
            None, write_artifacts, task, out_dir, artifacts_root)

    async def get_many(self, ids: Sequence[str]) -> List[m.TaskInfo]:
        return await self._run(calls.get_many(ids, self.request_timeout))

    async def cancel(self, task_id: str, reason: str = "") -> int:
        return (await self._run(calls.cancel([task_id], "", reason,
                                             self.request_timeout))).count

    async def complete(self, task_id: str, token: str, output: Union[bytes, str] = b"", *,
                       cost: Optional[Mapping[str, float]] = None,
                       error: Optional[m.TaskError] = None) -> None:
        """As Client.complete."""
        await self._run(calls.complete(task_id, token, output, cost, error,
                                       self.request_timeout))

    async def cancel_many(self, ids: Sequence[str], reason: str = "") -> AffectedTasks:
        return await self._run(calls.cancel(ids, "", reason, self.request_timeout))

    async def cancel_batch(self, batch_id: str, reason: str = "") -> AffectedTasks:
        return await self._run(calls.cancel([], batch_id, reason, self.request_timeout))

    async def submit_batch(self, tasks: Union[m.BatchSpec, Sequence[m.TaskSpec]], *,
                           id: str = "", budget: Optional[Mapping[str, float]] = None,
                           labels: Optional[Mapping[str, str]] = None,
                           on_failure: str = "cancel_dependents",
                           finally_task: Optional[m.TaskSpec] = None) -> m.BatchStatus:
        spec = calls.batch_spec(tasks, id, budget, labels, on_failure, finally_task)
        return await self._run(calls.submit_batch(spec, False, self.request_timeout))

    async def append_to_batch(self, batch_id: str, tasks: Sequence[m.TaskSpec], *,
                              labels: Optional[Mapping[str, str]] = None) -> m.BatchStatus:
        """Adds tasks to the running batch ``batch_id`` (Client.append_to_batch)."""
        spec = calls.batch_spec(tasks, "", None, labels, append_to=batch_id)
        return await self._run(calls.submit_batch(spec, False, self.request_timeout))

    async def submit_batch_subscribed(
            self, tasks: Union[m.BatchSpec, Sequence[m.TaskSpec]], *, id: str = "",
            budget: Optional[Mapping[str, float]] = None,
            labels: Optional[Mapping[str, str]] = None,
            callback: Optional[AsyncEventCallback] = None,
            on_failure: str = "cancel_dependents",
            finally_task: Optional[m.TaskSpec] = None) -> AsyncSubscribedBatch:
        """Submits a batch subscribed to its events from the start (none is missed)."""
        spec = calls.batch_spec(tasks, id, budget, labels, on_failure, finally_task)
        if not spec.id:
            spec.id = calls.new_batch_id()
        sub = AsyncSubscription(self, spec.id, callback)
        try:
            status = await self._run(calls.submit_batch(spec, True, self.request_timeout))
        except BaseException:
            sub.close()
            raise
        return AsyncSubscribedBatch(status, sub)

    async def wait_batch(self, batch_id: str, timeout: float = 300.0) -> m.BatchStatus:
        """Waits until every task of the batch ended; returns the final BatchStatus."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        status = await self.get_batch(batch_id)
        while not status.terminal:
            left = deadline - loop.time()
            if left <= 0:
                raise TaskmillTimeout(f"batch {batch_id} still {status.state}")
            await self.wait(list(status.tasks.values()), left)
            status = await self.get_batch(batch_id)
        return status

    async def get_batch(self, batch_id: str) -> m.BatchStatus:
        return await self._run(calls.get_batch(batch_id, self.request_timeout))

    async def subscribe(self, batch_id: str,
                        callback: Optional[AsyncEventCallback] = None) -> AsyncSubscription:
        sub = AsyncSubscription(self, batch_id, callback)
        try:
            await self._run(calls.subscribe(batch_id, self.request_timeout))
        except BaseException:
            sub.close()
            raise
        return sub

    async def stats(self, queues: Sequence[str] = ()) -> StatsReply:
        out = StatsReply()
        cursor: Optional[str] = ""
        for _ in range(calls.MAX_STATS_PAGES):
            assert cursor is not None
            page = await self._run(calls.stats_page(queues, cursor, self.request_timeout))
            cursor = calls.gather_stats(out, page, cursor)
            if cursor is None:
                return out
        raise ProtocolError(f"STATS: more than {calls.MAX_STATS_PAGES} pages", "internal")

    async def dead_letters(self, queue: str = "", limit: int = 100) -> List[m.TaskInfo]:
        return await self._run(calls.dlq_list(queue, limit, self.request_timeout))

    async def retry_dead_letters(self, queue: str = "",
                                 ids: Sequence[str] = ()) -> AffectedTasks:
        return await self._run(calls.dlq_op("retry", queue, ids, self.request_timeout))

    async def purge_dead_letters(self, queue: str = "",
                                 ids: Sequence[str] = ()) -> AffectedTasks:
        return await self._run(calls.dlq_op("purge", queue, ids, self.request_timeout))

    async def set_queue_limit(self, queue: str, rate: str = "", concurrency: int = 0,
                              cost_rate: str = "", key_label: str = "", aging: str = "",
                              round_robin: bool = False) -> str:
        return await self._run(calls.set_limit(m.Limit(
            queue=queue, rate=rate, concurrency=concurrency, cost_rate=cost_rate,
            key_label=key_label, aging=aging, round_robin=round_robin), self.request_timeout))

    async def clear_queue_limit(self, queue: str) -> None:
        await self._run(calls.set_limit(m.Limit(queue=queue, clear=True), self.request_timeout))

    async def pause_queue(self, queue: str) -> m.QueueStats:
        return await self._run(calls.queue_admin("pause", queue, self.request_timeout))

    async def resume_queue(self, queue: str) -> m.QueueStats:
        return await self._run(calls.queue_admin("resume", queue, self.request_timeout))

    async def quiet_worker(self, worker_id: str) -> m.WorkerInfo:
        return await self._run(calls.worker_admin("quiet", worker_id, self.request_timeout))

    async def unquiet_worker(self, worker_id: str) -> m.WorkerInfo:
        return await self._run(calls.worker_admin("unquiet", worker_id, self.request_timeout))

    async def add_schedule(self, name: str, task: Union[str, m.TaskSpec], payload: Payload = None,
                           *, cron: str = "", tz: str = "", every: Union[str, int, None] = None,
                           catch_up: str = "skip", **fields: Any) -> m.ScheduleInfo:
        spec = calls.make_spec(task, payload, **fields)
        schedule = calls.make_schedule(name, spec, cron, tz, every, catch_up)
        return await self._run(calls.schedule_add(schedule, self.request_timeout))

    async def schedules(self) -> List[m.ScheduleInfo]:
        return await self._run(calls.schedule_list(self.request_timeout))

    async def pause_schedule(self, name: str) -> m.ScheduleInfo:
        return await self._run(calls.schedule_op("pause", name, self.request_timeout))

    async def resume_schedule(self, name: str) -> m.ScheduleInfo:
        return await self._run(calls.schedule_op("resume", name, self.request_timeout))

    async def remove_schedule(self, name: str) -> None:
        await self._run(calls.schedule_remove(name, self.request_timeout))

    async def list_tasks(self, queue: str, state: str, type: str = "", limit: int = 50,
                         cursor: str = "") -> ListPage:
        return await self._run(calls.list_tasks(queue, state, type, limit, cursor,
                                                self.request_timeout))

    async def list_batches(self, state: str = "", limit: int = 50,
                           cursor: str = "") -> ListPage:
        return await self._run(calls.list_batches(state, limit, cursor, self.request_timeout))

    async def set_priority(self, task_id: str, priority: int) -> m.TaskInfo:
        return await self._run(calls.update(task_id, "priority", priority,
                                            self.request_timeout))

    async def promote(self, task_id: str) -> m.TaskInfo:
        return await self._run(calls.update(task_id, "promote", 0, self.request_timeout))
