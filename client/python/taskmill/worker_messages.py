"""The worker protocol's messages (docs/protocol-messages.md section 8): worker -> broker
(READY, HEARTBEAT, DONE, PROGRESS, BYE, 0x40-0x44) and broker -> worker (TASK,
CANCEL_TASK, BROKER_HEARTBEAT, DRAIN, MOVE, 0x60-0x64). Split from ``taskmill.messages``,
which re-exports every name here and holds the command registry; the field kinds and value
types come from there.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, Dict, List, Optional, Tuple

from taskmill.messages import (BIN, BIN_MAP, BOOL, COST_MAP, DOUBLE, I32, INT, OBJ_LIST,
                               OPT_INT, OPT_OBJ, STR, STR_LIST, STR_MAP, U32, UINT, Artifact,
                               Field, TaskError)


@dataclass
class ParentError:
    """A batch parent that died, as a child of an on_failure=continue batch receives it."""

    name: str = ""
    code: str = ""
    message: str = ""
    retryable: bool = False
    FIELDS: ClassVar[Tuple[Field, ...]] = (
        Field("name", STR, required=True),
        Field("code", STR, required=True),
        Field("message", STR),
        Field("retryable", BOOL),
    )


@dataclass
class Ready:
    COMMAND: ClassVar[int] = 0x40
    worker_id: str = ""
    queues: List[str] = field(default_factory=list)
    types: List[str] = field(default_factory=list)
    concurrency: int = 1
    labels: Dict[str, str] = field(default_factory=dict)
    running: List[str] = field(default_factory=list)
    FIELDS: ClassVar[Tuple[Field, ...]] = (
        Field("worker_id", STR, required=True),
        Field("queues", STR_LIST),
        Field("types", STR_LIST),
        Field("concurrency", UINT, max=U32),
        Field("labels", STR_MAP),
        Field("running", STR_LIST),
    )


@dataclass
class Heartbeat:
    COMMAND: ClassVar[int] = 0x41
    free: int = 0
    FIELDS: ClassVar[Tuple[Field, ...]] = (Field("free", UINT, max=U32),)


@dataclass
class Done:
    COMMAND: ClassVar[int] = 0x42
    task_id: str = ""
    token: int = 0
    ok: bool = False
    output: bytes = b""
    error: Optional[TaskError] = None
    exit_code: Optional[int] = None
    stdout: bytes = b""
    stderr: bytes = b""
    duration_ms: int = 0
    cost: Dict[str, float] = field(default_factory=dict)
    started_ms: int = 0
    artifacts: List[Artifact] = field(default_factory=list)
    awaiting: bool = False
    await_ms: int = 0
    completion_token: str = ""
    poll_ms: int = 0
    poll_state: bytes = b""
    poll_max_ms: int = 0
    FIELDS: ClassVar[Tuple[Field, ...]] = (
        Field("task_id", STR, required=True),
        Field("token", UINT, required=True),
        Field("ok", BOOL, required=True),
        Field("output", BIN),
        Field("error", OPT_OBJ, cls=TaskError),
        Field("exit_code", OPT_INT, range=I32),
        Field("stdout", BIN),
        Field("stderr", BIN),
        Field("duration_ms", UINT, max=U32),
        Field("cost", COST_MAP),
        Field("started_ms", INT),
        Field("artifacts", OBJ_LIST, cls=Artifact),
        Field("awaiting", BOOL),
        Field("await_ms", UINT, max=U32),
        Field("completion_token", STR),
        Field("poll_ms", UINT, max=U32),
        Field("poll_state", BIN),
        Field("poll_max_ms", UINT, max=U32),
    )


@dataclass
class Progress:
    COMMAND: ClassVar[int] = 0x43
    task_id: str = ""
    token: int = 0
    fraction: float = 0.0
    message: str = ""
    FIELDS: ClassVar[Tuple[Field, ...]] = (
        Field("task_id", STR, required=True),
        Field("token", UINT, required=True),
        Field("fraction", DOUBLE),
        Field("message", STR),
    )


@dataclass
class Bye:
    COMMAND: ClassVar[int] = 0x44
    reason: str = ""
    FIELDS: ClassVar[Tuple[Field, ...]] = (Field("reason", STR),)


@dataclass
class TaskMsg:
    """TASK: one attempt of a task, leased to the receiving worker."""

    COMMAND: ClassVar[int] = 0x60
    task_id: str = ""
    token: int = 0
    attempt: int = 1
    queue: str = ""
    type: str = ""
    payload: bytes = b""
    timeout_ms: int = 0
    batch_id: str = ""
    name: str = ""
    parents: Dict[str, bytes] = field(default_factory=dict)
    labels: Dict[str, str] = field(default_factory=dict)
    poll_state: bytes = b""
    parent_errors: List[ParentError] = field(default_factory=list)
    FIELDS: ClassVar[Tuple[Field, ...]] = (
        Field("task_id", STR, required=True),
        Field("token", UINT, required=True),
        Field("attempt", UINT, max=U32),
        Field("queue", STR),
        Field("type", STR, required=True),
        Field("payload", BIN),
        Field("timeout_ms", UINT, max=U32),
        Field("batch_id", STR),
        Field("name", STR),
        Field("parents", BIN_MAP),
        Field("labels", STR_MAP),
        Field("poll_state", BIN),
        Field("parent_errors", OBJ_LIST, cls=ParentError),
    )


@dataclass
class CancelTask:
    COMMAND: ClassVar[int] = 0x61
    task_id: str = ""
    token: int = 0
    reason: str = ""
    FIELDS: ClassVar[Tuple[Field, ...]] = (
        Field("task_id", STR, required=True),
        Field("token", UINT),
        Field("reason", STR),
    )


@dataclass
class BrokerHeartbeat:
    COMMAND: ClassVar[int] = 0x62
    FIELDS: ClassVar[Tuple[Field, ...]] = ()


@dataclass
class Drain:
    COMMAND: ClassVar[int] = 0x63
    grace_ms: int = 0
    FIELDS: ClassVar[Tuple[Field, ...]] = (Field("grace_ms", UINT, max=U32),)


@dataclass
class Move:
    """MOVE: keep running the tasks and keep their DONEs; reconnect to another endpoint of
    the list (or this one, with backoff, if it is the only one) and send READY with
    ``running``. A worker never stops because of MOVE."""

    COMMAND: ClassVar[int] = 0x64
    reason: str = ""
    FIELDS: ClassVar[Tuple[Field, ...]] = (Field("reason", STR),)
