"""LIST (0x0E) and UPDATE (0x0F), docs/protocol-messages.md 8.28 and 8.29: a page of a
queue's tasks in one state (or of batches), and a waiting task's priority or promotion.
Split from ``taskmill.messages``, which re-exports both and holds the command registry."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Tuple

from taskmill.messages import STR, U32, UINT, Field

#: The most entries one LIST page may ask for.
MAX_LIST_LIMIT = 1000


@dataclass
class ListRequest:
    """LIST: ``what`` "tasks" (``queue`` and ``state`` required, ``type`` optional) or
    "batches" (``state`` optional); ``cursor`` is a REPLY's ``next_cursor``."""

    COMMAND: ClassVar[int] = 0x0E
    req_id: int = 0
    what: str = "tasks"
    queue: str = ""
    state: str = ""
    type: str = ""
    limit: int = 50
    cursor: str = ""
    FIELDS: ClassVar[Tuple[Field, ...]] = (
        Field("req_id", UINT, required=True),
        Field("what", STR, required=True),
        Field("queue", STR),
        Field("state", STR),
        Field("type", STR),
        Field("limit", UINT, max=U32),
        Field("cursor", STR),
    )


@dataclass
class Update:
    """UPDATE: ``op`` "priority" (with ``priority`` 0-255) or "promote"."""

    COMMAND: ClassVar[int] = 0x0F
    req_id: int = 0
    id: str = ""
    op: str = ""
    priority: int = 0
    FIELDS: ClassVar[Tuple[Field, ...]] = (
        Field("req_id", UINT, required=True),
        Field("id", STR, required=True),
        Field("op", STR, required=True),
        Field("priority", UINT, max=U32),
    )
