"""The administration requests of the taskmill wire protocol (docs/protocol-messages.md
8.24-8.27): LIMIT (a queue's limits), SCHEDULE (periodic tasks), QUEUE (pause or resume a
queue) and WORKER (quiet or unquiet a worker). Split from ``taskmill.messages``, which
re-exports every name here and holds the command registry; the field kinds and value types
come from there.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Optional, Tuple

from taskmill.messages import (BOOL, ENUM, OPT_OBJ, QUEUE_OPS, SCHEDULE_OPS, STR, U32, UINT,
                               WORKER_OPS, Field, ScheduleInfo)


@dataclass
class QueueAdmin:
    """Queue administration (QUEUE 0x0C): pause (no task of it is leased; it keeps its tasks
    and takes submits) or resume a queue. Admin role under CURVE roles."""

    COMMAND: ClassVar[int] = 0x0C
    req_id: int = 0
    op: str = "pause"
    queue: str = ""
    FIELDS: ClassVar[Tuple[Field, ...]] = (
        Field("req_id", UINT, required=True),
        Field("op", ENUM, required=True, choices=QUEUE_OPS),
        Field("queue", STR, required=True),
    )


@dataclass
class WorkerAdmin:
    """Worker administration (WORKER 0x0D): quiet (it finishes its tasks and is leased nothing
    new, whichever broker it is on) or unquiet a worker by id. Admin role under CURVE roles."""

    COMMAND: ClassVar[int] = 0x0D
    req_id: int = 0
    op: str = "quiet"
    worker: str = ""
    FIELDS: ClassVar[Tuple[Field, ...]] = (
        Field("req_id", UINT, required=True),
        Field("op", ENUM, required=True, choices=WORKER_OPS),
        Field("worker", STR, required=True),
    )


@dataclass
class Limit:
    """A queue's limits and fairness (`taskmill queue limit`), replaced whole; clear removes
    them. The broker parses the strings and refuses a bad one naming what is allowed."""

    COMMAND: ClassVar[int] = 0x0B
    req_id: int = 0
    queue: str = ""
    clear: bool = False
    rate: str = ""          # "N/s", "N/m", "N/h"
    concurrency: int = 0
    cost_rate: str = ""     # "NAME=AMOUNT/s|m|h"
    key_label: str = ""
    aging: str = ""         # "250ms", "30s", "5m", "2h"
    round_robin: bool = False
    FIELDS: ClassVar[Tuple[Field, ...]] = (
        Field("req_id", UINT, required=True),
        Field("queue", STR, required=True),
        Field("clear", BOOL),
        Field("rate", STR),
        Field("concurrency", UINT, max=U32),
        Field("cost_rate", STR),
        Field("key_label", STR),
        Field("aging", STR),
        Field("round_robin", BOOL),
    )


@dataclass
class Schedule:
    COMMAND: ClassVar[int] = 0x0A
    req_id: int = 0
    op: str = "list"
    name: str = ""
    schedule: Optional[ScheduleInfo] = None
    FIELDS: ClassVar[Tuple[Field, ...]] = (
        Field("req_id", UINT, required=True),
        Field("op", ENUM, required=True, choices=SCHEDULE_OPS),
        Field("name", STR),
        Field("schedule", OPT_OBJ, cls=ScheduleInfo),
    )
