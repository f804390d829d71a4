"""taskmill: the Python client and worker of the taskmill distributed task queue.

``Client`` (synchronous) and ``AsyncClient`` (asyncio) submit tasks and batches to a
broker and follow them; ``Worker`` serves task types with Python handlers; ``App``
declares tasks Celery-style (``@app.task(queue=...)``, ``fn.submit(...)``,
``app.worker()``). The wire
codec is ``taskmill.codec``, its message types ``taskmill.messages``.
"""

from taskmill.aio import AsyncClient, AsyncSubscribedBatch, AsyncSubscription
from taskmill.app import App, TaskFunction
from taskmill.calls import AffectedTasks, ListPage, StatsReply
from taskmill.client import Client, SubscribedBatch, Subscription
from taskmill.errors import (BrokerUnavailable, DependencyCycle, Forbidden, InvalidSpec,
                             NotFound, PermanentError, ProtocolError, QueueFull, StoreFull,
                             TaskFailed, TaskmillError, TaskmillTimeout, TaskmillWarning,
                             Unauthorized)
from taskmill.handle import AsyncTaskHandle, TaskHandle
from taskmill.worker import Task, Worker
from taskmill.messages import (Artifact, BackoffPolicy, BatchSpec, BatchStatus, Event,
                               QueueStats, TaskError, TaskInfo, TaskSpec, WorkerInfo)
from taskmill.artifacts import write_artifacts
from taskmill.duration import parse_duration

__version__ = "0.1.0"

__all__ = [
    "AffectedTasks", "App", "Artifact", "AsyncClient", "AsyncTaskHandle", "AsyncSubscribedBatch",
    "AsyncSubscription",
    "BackoffPolicy", "BatchSpec", "BatchStatus", "BrokerUnavailable", "Client",
    "DependencyCycle", "Event", "Forbidden", "InvalidSpec", "ListPage", "NotFound", "PermanentError",
    "ProtocolError", "QueueFull", "QueueStats", "StatsReply", "StoreFull", "SubscribedBatch",
    "Subscription", "TaskError", "TaskFailed", "TaskInfo", "TaskSpec", "TaskmillError",
    "TaskmillTimeout", "TaskmillWarning", "Task", "TaskFunction", "TaskHandle", "Unauthorized", "Worker",
    "WorkerInfo", "write_artifacts", "parse_duration",
]
