"""Celery-style tasks: declare a task once, submit it by calling ``.submit()``, serve it
with ``app.worker()``.

    tm = taskmill.App()

    @tm.task(queue="images", max_attempts=5)
    def resize(task: Task) -> dict:
        return {"width": task.json()["width"] // 2}

    handle = resize.submit({"width": 64}, notify=True)  # -> TaskHandle (a task id)
    print(handle.result(timeout=30).json())    # {"width": 32}
    tm.worker(concurrency=4).run()             # elsewhere: serves every declared task
"""

from __future__ import annotations

import threading
from typing import (Any, Callable, Dict, Generic, List, Mapping, Optional, Sequence, TypeVar,
                    Union, overload)

from taskmill import messages as m
from taskmill.aio import AsyncClient
from taskmill.client import Client
from taskmill.handle import AsyncTaskHandle, TaskHandle
from taskmill.worker import Task, Worker

R = TypeVar("R")


class TaskFunction(Generic[R]):
    """A declared task: the handler (still callable directly, e.g. in tests), its task type
    name and the defaults of every submit (queue, max_attempts, ...)."""

    def __init__(self, app: "App", fn: Callable[[Task], R], name: str,
                 defaults: Dict[str, Any]) -> None:
        self.app = app
        self.fn = fn
        self.name = name
        self.defaults = defaults
        self.__doc__ = fn.__doc__
        self.__name__ = getattr(fn, "__name__", name)

    @property
    def queue(self) -> str:
        return str(self.defaults.get("queue", m.DEFAULT_QUEUE))

    def __call__(self, task: Task) -> R:
        return self.fn(task)

    def spec(self, payload: m.Payload = None, **fields: Any) -> m.TaskSpec:
        """The TaskSpec of one submit (for a batch): the declared defaults, then ``fields``."""
        merged = {**self.defaults, **fields}
        if isinstance(merged.get("backoff"), Mapping):
            merged["backoff"] = m.BackoffPolicy(**merged["backoff"])
        return m.TaskSpec(type=self.name, payload=payload, **merged)

    def submit(self, payload: m.Payload = None, *, notify: bool = False,
               **fields: Any) -> TaskHandle:
        """Submits one task through the app's client; returns its handle. ``notify``: the
        broker pushes the result, so ``handle.result()`` costs no further request."""
        return self.app.client.submit(self.spec(payload, **fields), notify=notify)

    async def submit_async(self, client: AsyncClient, payload: m.Payload = None, *,
                           notify: bool = False, **fields: Any) -> AsyncTaskHandle:
        """Submits one task through ``client``; ``await`` the handle for the result."""
        return await client.submit(self.spec(payload, **fields), notify=notify)


class App:
    """The tasks of one application and its connections. ``broker``: the client endpoint
    (default ``$TASKMILL_BROKER``, else :5555); ``worker_broker``: the worker endpoint
    (default ``$TASKMILL_WORKER_BROKER``, else :5556). ``client_options`` go to ``Client``.
    The client opens on first use; ``close()`` closes it. Thread-safe."""

    def __init__(self, broker: Optional[str] = None, *, worker_broker: Optional[str] = None,
                 **client_options: Any) -> None:
        self.broker = broker
        self.worker_broker = worker_broker
        self.client_options = client_options
        self.tasks: Dict[str, TaskFunction[Any]] = {}
        self._client: Optional[Client] = None
        self._lock = threading.Lock()

    @property
    def client(self) -> Client:
        with self._lock:
            if self._client is None:
                self._client = Client(self.broker, **self.client_options)
            return self._client

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None

    def __enter__(self) -> "App":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @overload
    def task(self, fn: Callable[[Task], R]) -> TaskFunction[R]: ...

    @overload
    def task(self, *, name: Optional[str] = None, queue: str = m.DEFAULT_QUEUE,
             max_attempts: Optional[int] = None, timeout_ms: Optional[int] = None,
             priority: Optional[int] = None,
             backoff: Union[m.BackoffPolicy, Mapping[str, Any], None] = None,
             labels: Optional[Dict[str, str]] = None
             ) -> Callable[[Callable[[Task], R]], TaskFunction[R]]: ...

    def task(self, fn: Optional[Callable[[Task], Any]] = None, *, name: Optional[str] = None,
             queue: str = m.DEFAULT_QUEUE, max_attempts: Optional[int] = None,
             timeout_ms: Optional[int] = None, priority: Optional[int] = None,
             backoff: Union[m.BackoffPolicy, Mapping[str, Any], None] = None,
             labels: Optional[Dict[str, str]] = None) -> Any:
        """Declares a task: ``@app.task`` or ``@app.task(queue=..., max_attempts=...)``.
        Its type name is ``name``, else the function's name."""
        defaults: Dict[str, Any] = {"queue": queue}
        for key, value in (("max_attempts", max_attempts), ("timeout_ms", timeout_ms),
                           ("priority", priority), ("backoff", backoff), ("labels", labels)):
            if value is not None:
                defaults[key] = value

        def declare(f: Callable[[Task], R]) -> TaskFunction[R]:
            type_name = name or getattr(f, "__name__", "")
            if not type_name or type_name in self.tasks:
                raise ValueError(f"task name {type_name!r} is empty or declared twice")
            declared = TaskFunction(self, f, type_name, defaults)
            self.tasks[type_name] = declared
            return declared

        return declare(fn) if fn is not None else declare

    def worker(self, queues: Optional[Sequence[str]] = None, **worker_options: Any) -> Worker:
        """A Worker serving every declared task, on their queues (or ``queues``)."""
        wanted: List[str] = list(queues) if queues is not None else \
            sorted({t.queue for t in self.tasks.values()}) or [m.DEFAULT_QUEUE]
        worker = Worker(self.worker_broker, queues=wanted, **worker_options)
        for type_name, declared in self.tasks.items():
            worker.add_handler(type_name, declared.fn)
        return worker
