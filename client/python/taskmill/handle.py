"""Handles of submitted tasks: the task id (a ``str``, so code that passes ids around keeps
working) that can also wait for, read and cancel its task, like Celery's ``AsyncResult``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Generator

from taskmill import messages as m

if TYPE_CHECKING:  # pragma: no cover
    from taskmill.aio import AsyncClient
    from taskmill.client import Client


class TaskHandle(str):
    """A submitted task's id, bound to the ``Client`` that submitted it."""

    _client: "Client"

    def __new__(cls, task_id: str, client: "Client") -> "TaskHandle":
        handle = super().__new__(cls, task_id)
        handle._client = client
        return handle

    @property
    def id(self) -> str:
        return str(self)

    def result(self, timeout: float = 300.0) -> m.TaskInfo:
        """Waits for the task: its TaskInfo if it succeeded (``.json()``, ``.text()``,
        ``.output``); raises TaskFailed if it failed or was cancelled, TaskmillTimeout if it
        has not finished after ``timeout`` seconds."""
        return self._client.result(str(self), timeout)

    def wait(self, timeout: float = 300.0) -> m.TaskInfo:
        """The task once it ended, or as it is after ``timeout`` seconds (no raise); from
        the broker's push when it was submitted with ``notify``."""
        return self._client.wait_result(str(self), timeout)

    def get(self) -> m.TaskInfo:
        """The task as it is now."""
        return self._client.get(str(self))

    def cancel(self, reason: str = "") -> int:
        """Cancels the task (a running one stops once its worker confirms)."""
        return self._client.cancel(str(self), reason)


class AsyncTaskHandle(str):
    """A submitted task's id, bound to the ``AsyncClient`` that submitted it; ``await``
    it for its result (as ``await handle.result()``)."""

    _client: "AsyncClient"

    def __new__(cls, task_id: str, client: "AsyncClient") -> "AsyncTaskHandle":
        handle = super().__new__(cls, task_id)
        handle._client = client
        return handle

    @property
    def id(self) -> str:
        return str(self)

    async def result(self, timeout: float = 300.0) -> m.TaskInfo:
        return await self._client.result(str(self), timeout)

    async def wait(self, timeout: float = 300.0) -> m.TaskInfo:
        return await self._client.wait_result(str(self), timeout)

    async def get(self) -> m.TaskInfo:
        return await self._client.get(str(self))

    async def cancel(self, reason: str = "") -> int:
        return await self._client.cancel(str(self), reason)

    def __await__(self) -> Generator[Any, None, m.TaskInfo]:
        return self.result().__await__()
