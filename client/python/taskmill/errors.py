"""Exceptions of the taskmill client and worker.

Every error carries ``code``, one of the wire protocol's snake_case error names
(docs/protocol.md section 5), and a human-readable ``message``. Programs should branch
on the exception class or on ``code``, never on the message.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Dict, Type

if TYPE_CHECKING:  # pragma: no cover
    from taskmill.messages import TaskError, TaskInfo

# Every code the protocol defines; an unknown name read from the wire maps to "internal".
ERROR_CODES = (
    "invalid_argument", "bad_frame", "unknown_version", "unknown_command", "truncated",
    "wrong_type", "missing_field", "over_limit", "not_found", "store_unavailable",
    "timeout", "broker_unavailable", "stale_token", "queue_full", "cycle", "conflict",
    "unauthorized", "store_full", "forbidden", "internal",
)

# Codes after which the same request may succeed later: nothing of it was stored.
RETRYABLE_CODES = frozenset({"store_unavailable", "store_full"})


class TaskmillWarning(UserWarning):
    """A warning the broker sent with a successful reply, e.g. for a submit of a task type
    no connected worker serves ("no connected worker serves type 'resize' in queue
    'images'; ..."). Issued with ``warnings.warn``; filter it like any warning."""


class TaskmillError(Exception):
    """Base class of every taskmill error: a protocol error ``code`` and a ``message``."""

    default_code = "internal"

    def __init__(self, message: str = "", code: str = "") -> None:
        super().__init__(message)
        self.code: str = code or self.default_code
        self.message: str = message

    def __str__(self) -> str:
        return f"{self.code}: {self.message}" if self.message else self.code

    @property
    def retryable(self) -> bool:
        """True iff nothing of the request was stored and sending it again later may work
        (``store_unavailable``, ``store_full``)."""
        return self.code in RETRYABLE_CODES


class TaskmillTimeout(TaskmillError):
    """The broker was reachable but did not answer this request before its deadline."""

    default_code = "timeout"


class BrokerUnavailable(TaskmillError):
    """No broker answered on this connection (nothing listening), or it is shutting down."""

    default_code = "broker_unavailable"


class Unauthorized(TaskmillError):
    """The broker refused this peer's CURVE handshake: its public key is not in the
    broker's allow-list, or one side uses CURVE and the other does not. The message names
    the public key. The client keeps redialling (0.5 s doubling to 5 s), so a key allowed
    later (the broker reloads its allow-list on SIGHUP) gets in without a new client."""

    default_code = "unauthorized"


class Forbidden(TaskmillError):
    """The broker knows this peer's CURVE key, but its role may not do that: a worker key
    submitting, a client key registering as a worker or using the DLQ (admin), and so on.
    The message names the role needed and the broker directory its .pub belongs in. Not
    retried: it will not change until the broker's role directories do."""

    default_code = "forbidden"


class InvalidSpec(TaskmillError):
    """A task or batch spec failed validation, here before sending or at the broker."""

    default_code = "invalid_argument"


class DependencyCycle(InvalidSpec):
    """A batch's dependencies form a cycle; the message names the path."""

    default_code = "cycle"


class NotFound(TaskmillError):
    """No such task, batch or queue."""

    default_code = "not_found"


class QueueFull(TaskmillError):
    """The broker refused the whole request: a queue is at its depth cap
    (``--max-queue-depth``). Nothing was stored; try again once workers drain the queue."""

    default_code = "queue_full"


class StoreFull(TaskmillError):
    """The broker's Redis is out of memory (its maxmemory is reached and it evicts nothing).
    Nothing of the request was stored; it is ``retryable``: send it again once memory is
    freed (workers finishing tasks, retention expiring them, or a bigger maxmemory)."""

    default_code = "store_full"


class ProtocolError(TaskmillError):
    """A message could not be encoded or decoded (bad_frame, wrong_type, over_limit...)."""

    default_code = "bad_frame"


class TaskFailed(TaskmillError):
    """A task ended failed, cancelled or expired; ``task`` is its TaskInfo.

    ``error`` is the last attempt's TaskError (or None) and ``attempts`` how many attempts
    ran. ``code`` is the task error's code (e.g. ``exit_status``) or the task's state.
    """

    default_code = "failed"

    def __init__(self, task: "TaskInfo") -> None:
        error = task.error
        code = error.code if error is not None else task.state
        detail = error.message if error is not None and error.message else task.state
        super().__init__(f"task {task.id} {task.state}: {detail}", code)
        self.task: TaskInfo = task
        self.error: TaskError | None = error
        self.attempts: int = task.attempts
        self.state: str = task.state


_BY_CODE: Dict[str, Type[TaskmillError]] = {
    "timeout": TaskmillTimeout,
    "broker_unavailable": BrokerUnavailable,
    "invalid_argument": InvalidSpec,
    "cycle": DependencyCycle,
    "not_found": NotFound,
    "queue_full": QueueFull,
    "store_full": StoreFull,
    "unauthorized": Unauthorized,
    "forbidden": Forbidden,
    "bad_frame": ProtocolError,
    "unknown_version": ProtocolError,
    "unknown_command": ProtocolError,
    "truncated": ProtocolError,
    "wrong_type": ProtocolError,
    "missing_field": ProtocolError,
    "over_limit": ProtocolError,
}


def error_from_code(code: str, message: str) -> TaskmillError:
    """The exception for a wire error; an unknown code becomes ``internal``."""
    if code not in ERROR_CODES:
        code = "internal"
    cls = _BY_CODE.get(code, TaskmillError)
    return cls(message, code)


class PermanentError(Exception):
    """Raised by a worker handler: this attempt failed and no retry can succeed.

    Any other exception from a handler is a retryable failure.
    """

    def __init__(self, message: str = "", code: str = "permanent_error") -> None:
        super().__init__(message)
        self.code = code
        self.message = message
