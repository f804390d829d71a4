"""What Client and AsyncClient share: building specs, validating them, and each call's
request message and the reading of its REPLY. Pure functions; any thread."""

from __future__ import annotations

import json
import os
import re
import secrets
import time
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Generic, Iterable, List, Mapping, Optional, \
    Sequence, TypeVar, Union

from taskmill import messages as m
from taskmill.duration import parse_duration
from taskmill.errors import InvalidSpec, NotFound, ProtocolError, TaskFailed, TaskmillWarning

T = TypeVar("T")
Payload = m.Payload

DEFAULT_ENDPOINT = "tcp://127.0.0.1:5555"
_NAME = re.compile(r"[A-Za-z0-9_.-]{1,128}")
# The protocol's ceiling (the decoder's max_bin); the broker applies its own, smaller cap.
_MAX_PAYLOAD = 16 << 20


def default_endpoint() -> str:
    """``$TASKMILL_BROKER``, else tcp://127.0.0.1:5555 (as the taskmill CLI)."""
    return os.environ.get("TASKMILL_BROKER") or DEFAULT_ENDPOINT


@dataclass
class StatsReply:
    """What STATS answers: per-queue depth, counters and costs; the connected workers; the
    broker's own counters. Gathered from every page the broker answers."""

    queues: List[m.QueueStats] = field(default_factory=list)
    workers: List[m.WorkerInfo] = field(default_factory=list)
    broker: m.BrokerStats = field(default_factory=m.BrokerStats)


@dataclass
class AffectedTasks:
    """What CANCEL and DLQ retry/purge answer: how many tasks, and which. For a cancel,
    ``requested`` lists those of ``ids`` that were still running (the broker's REPLY says
    so): their cancel is requested and they end ``cancelled`` only once their worker
    confirms (``wait`` for them)."""

    count: int = 0
    ids: List[str] = field(default_factory=list)
    requested: List[str] = field(default_factory=list)


@dataclass
class Call(Generic[T]):
    """One request, its deadline in seconds, and how to read its successful REPLY."""

    request: Any
    timeout: float
    read: Callable[[m.Reply], T]


to_payload = m.encode_payload


def make_spec(type_or_spec: Union[str, m.TaskSpec], payload: Payload = None,
              **fields: Any) -> m.TaskSpec:
    """A TaskSpec from a type name, a payload and any TaskSpec field by keyword."""
    if isinstance(type_or_spec, m.TaskSpec):
        if payload is not None or fields:
            raise TypeError("pass either a TaskSpec or a type with fields, not both")
        return type_or_spec
    if "backoff" in fields and isinstance(fields["backoff"], Mapping):
        fields["backoff"] = m.BackoffPolicy(**fields["backoff"])
    for key in ("depends_on",):
        if key in fields:
            fields[key] = list(fields[key])
    return m.TaskSpec(type=type_or_spec, payload=to_payload(payload), **fields)


def _name(value: str, what: str) -> None:
    if not _NAME.fullmatch(value):
        raise InvalidSpec(f"{what}: '{value}' must match [A-Za-z0-9_.-]{{1,128}}")


def _int_in(value: object, lo: int, hi: int, what: str, note: str = "") -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidSpec(f"{what}: {value!r} is not an integer (allowed: {lo}..{hi}{note})")
    if not lo <= value <= hi:
        raise InvalidSpec(f"{what}: {value} is out of range (allowed: {lo}..{hi}{note})")


# The latest not_before_ms a broker accepts: 9999-12-31T23:59:59.999Z (protocol.md 7.1).
MAX_NOT_BEFORE_MS = 253_402_300_799_999
# delay_ms and expires_in_ms: at most 365 days; idempotency_ttl_ms: at most 30 days.
MAX_DELAY_MS = 365 * 24 * 3600 * 1000
MAX_EXPIRES_IN_MS = 365 * 24 * 3600 * 1000
MAX_IDEMPOTENCY_TTL_MS = 30 * 24 * 3600 * 1000
# Label keys: 1..256 bytes; keys + values of one map at most the decoder's max_str.
_MAX_LABEL_KEY = 256
_MAX_LABEL_BYTES = 1 << 20


def validate_labels(labels: Mapping[str, str], where: str) -> None:
    """At most 64 labels, keys of 1..256 bytes, at most 1 MiB of keys and values."""
    if len(labels) > 64:
        raise InvalidSpec(f"{where}: {len(labels)} labels is over the limit of 64")
    total = 0
    for k, v in labels.items():
        n = len(k.encode())
        if not 1 <= n <= _MAX_LABEL_KEY:
            raise InvalidSpec(f"{where}: a key of {n} bytes is out of range "
                              f"(allowed: 1..{_MAX_LABEL_KEY} bytes)")
        total += n + len(v.encode())
    if total > _MAX_LABEL_BYTES:
        raise InvalidSpec(f"{where}: {total} bytes (keys and values) is over the limit of "
                          f"{_MAX_LABEL_BYTES}")


def validate_spec(spec: m.TaskSpec, where: str) -> None:
    """The checks of protocol.md 7.1, before anything is sent; raises InvalidSpec."""
    _name(spec.type, f"{where}.type")
    _name(spec.queue, f"{where}.queue")
    if spec.name:
        _name(spec.name, f"{where}.name")
    if spec.id:
        _name(spec.id, f"{where}.id")
    payload = m.encode_payload(spec.payload)  # bytes already, unless set after construction
    if len(payload) > _MAX_PAYLOAD:
        raise InvalidSpec(f"{where}.payload: {len(payload)} bytes is over the protocol's "
                          f"limit of {_MAX_PAYLOAD} (a broker may allow less: "
                          "--max-payload-bytes, 8 MiB by default)")
    _int_in(spec.priority, 0, 255, f"{where}.priority", " (higher runs first)")
    _int_in(spec.max_attempts, 1, 1000, f"{where}.max_attempts")
    _int_in(spec.timeout_ms, 0, 0xFFFFFFFF, f"{where}.timeout_ms", " (0: no limit)")
    _int_in(spec.not_before_ms, 0, MAX_NOT_BEFORE_MS, f"{where}.not_before_ms",
            ", 9999-12-31; 0: now")
    _int_in(spec.delay_ms, 0, MAX_DELAY_MS, f"{where}.delay_ms", ", 365 days; 0: none")
    if spec.delay_ms and spec.not_before_ms:
        raise InvalidSpec(f"{where}.delay_ms and not_before_ms: set one or the other (a "
                          "relative delay or an absolute time), not both")
    _int_in(spec.expires_in_ms, 0, MAX_EXPIRES_IN_MS, f"{where}.expires_in_ms",
            ", 365 days; 0: never")
    _int_in(spec.idempotency_ttl_ms, 0, MAX_IDEMPOTENCY_TTL_MS, f"{where}.idempotency_ttl_ms",
            ", 30 days; 0: the broker's --idempotency-ttl")
    if spec.idempotency_ttl_ms and not spec.idempotency_key:
        raise InvalidSpec(f"{where}.idempotency_ttl_ms: needs an idempotency_key (it is that "
                          "key's TTL)")
    b = spec.backoff
    if not 1 <= b.multiplier <= 100:
        raise InvalidSpec(f"{where}.backoff.multiplier: {b.multiplier} is out of range "
                          "1..100")
    if b.base_ms > b.max_ms:
        raise InvalidSpec(f"{where}.backoff: base_ms {b.base_ms} is over max_ms {b.max_ms}")
    if len(spec.idempotency_key.encode()) > 256:
        raise InvalidSpec(f"{where}.idempotency_key: longer than 256 bytes")
    validate_labels(spec.labels, f"{where}.labels")
    label_bytes = sum(len(k.encode()) + len(v.encode()) for k, v in spec.labels.items())
    if len(payload) + label_bytes > _MAX_PAYLOAD:
        raise InvalidSpec(f"{where}.labels: {label_bytes} bytes with a payload of "
                          f"{len(payload)} bytes is over the limit of {_MAX_PAYLOAD} "
                          "(payload and labels count together)")
    if len(spec.depends_on) > 1000:
        raise InvalidSpec(f"{where}.depends_on: more than 1000")


def new_batch_id() -> str:
    """A ULID-like id (48-bit time, 80 random bits, Crockford base32), 26 chars."""
    alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
    value = (int(time.time() * 1000) << 80) | secrets.randbits(80)
    return "".join(alphabet[(value >> (5 * i)) & 31] for i in reversed(range(26)))


# ------------------------------------------------------------------------------- calls


def submit_many(specs: Iterable[m.TaskSpec], timeout: float,
                notify: bool = False) -> Call[List[str]]:
    tasks = list(specs)
    if not tasks:
        raise InvalidSpec("tasks: at least one task is needed")
    for i, spec in enumerate(tasks):
        validate_spec(spec, f"tasks[{i}]")
    return Call(m.Submit(tasks=tasks, notify=notify, request_id=new_request_id()), timeout,
                lambda r: list(warn(r).ids))


def new_request_id() -> str:
    """A SUBMIT's or BATCH's request_id: 32 hex digits of 128 random bits, one per logical
    request and the same on every resend of it, so the broker stores its tasks once."""
    return secrets.token_hex(16)


def warn(reply: m.Reply) -> m.Reply:
    """Issues the reply's warnings (TaskmillWarning), e.g. a task type no worker serves."""
    for text in reply.warnings:
        warnings.warn(text, TaskmillWarning, stacklevel=5)  # the caller of submit
    return reply


def wait(ids: Sequence[str], wait_timeout: float, timeout: float,
         progress: bool = False) -> Call[List[m.TaskInfo]]:
    ms = max(0, min(int(wait_timeout * 1000), m.U32))
    return Call(m.Wait(ids=list(ids), timeout_ms=ms, progress=progress),
                wait_timeout + timeout, lambda r: list(r.tasks))


#: A WAIT's task_progress EVENTs carry no batch: their sinks are registered under this key.
PROGRESS_SINK = ""


def progress_filter(ids: Sequence[str], deliver: Callable[[m.Event], None]
                    ) -> Callable[[m.Event], None]:
    """A sink passing on the task_progress EVENTs of these tasks only."""
    wanted = set(ids)

    def sink(event: m.Event) -> None:
        if event.type == "task_progress" and event.task_id in wanted:
            deliver(event)
    return sink


def get_many(ids: Sequence[str], timeout: float) -> Call[List[m.TaskInfo]]:
    return Call(m.Get(ids=list(ids)), timeout, lambda r: list(r.tasks))


def _one_known(reply: m.Reply) -> m.TaskInfo:
    if not reply.tasks or reply.tasks[0].state == "unknown":
        raise NotFound("no such task")
    return reply.tasks[0]


def get(task_id: str, timeout: float) -> Call[m.TaskInfo]:
    return Call(m.Get(ids=[task_id]), timeout, _one_known)


def succeeded(info: m.TaskInfo) -> m.TaskInfo:
    """``info`` if it succeeded; TaskFailed if failed, cancelled or expired."""
    if info.terminal and info.state != "succeeded":
        raise TaskFailed(info)
    return info


def _affected(reply: m.Reply) -> AffectedTasks:
    return AffectedTasks(count=reply.count, ids=list(reply.ids), requested=list(reply.requested))


def cancel(ids: Sequence[str], batch_id: str, reason: str,
           timeout: float) -> Call[AffectedTasks]:
    return Call(m.Cancel(ids=list(ids), batch_id=batch_id, reason=reason), timeout,
                _affected)


def complete(task_id: str, token: str, output: Union[bytes, str],
             cost: Optional[Mapping[str, float]], error: Optional[m.TaskError],
             timeout: float) -> Call[None]:
    """COMPLETE: ``error`` set records the awaiting attempt as failed."""
    if isinstance(output, str):
        output = output.encode()
    msg = m.Complete(task_id=task_id, token=token, ok=error is None, output=output,
                     error=error, cost=dict(cost or {}))
    return Call(msg, timeout, lambda r: None)


def batch_spec(tasks: Union[m.BatchSpec, Sequence[m.TaskSpec]], id: str,
               budget: Optional[Mapping[str, float]],
               labels: Optional[Mapping[str, str]],
               on_failure: str = "cancel_dependents",
               finally_task: Optional[m.TaskSpec] = None,
               append_to: str = "") -> m.BatchSpec:
    if isinstance(tasks, m.BatchSpec):
        spec = tasks
    else:
        spec = m.BatchSpec(tasks=list(tasks), id=id, budget=dict(budget or {}),
                           labels=dict(labels or {}), on_failure=on_failure,
                           finally_task=finally_task, append_to=append_to)
    if not spec.tasks:
        raise InvalidSpec("batch.tasks: at least one task is needed")
    try:
        m.validate_on_failure(spec.on_failure, "batch.on_failure")
    except ValueError as e:
        raise InvalidSpec(str(e)) from None
    validate_labels(spec.labels, "batch.labels")
    for i, t in enumerate(spec.tasks):
        validate_spec(t, f"batch.tasks[{i}]")
        if not t.name:
            raise InvalidSpec(f"batch.tasks[{i}].name: a batch task needs a name")
    if spec.id:
        _name(spec.id, "batch.id")
    if spec.append_to:
        # The batch's own id, budget, policy and finally task apply (the broker's words).
        _name(spec.append_to, "batch.append_to")
        for key, unset in (("id", not spec.id), ("budget", not spec.budget),
                           ("on_failure", spec.on_failure == "cancel_dependents"),
                           ("finally", spec.finally_task is None)):
            if not unset:
                raise InvalidSpec(f"batch.{key}: must be unset when append_to is set "
                                  "(the batch's own applies)")
    f = spec.finally_task
    if f is not None:
        for key, why in (("depends_on", "must be empty (the finally task runs after every "
                                        "other task)"),
                         ("payload", "must be empty (the finally task's input is the batch "
                                     "summary)"),
                         ("not_before_ms", "must be 0 (it runs when the batch ends)"),
                         ("idempotency_key", "must be empty"), ("batch_id", "must be empty")):
            if getattr(f, key):
                raise InvalidSpec(f"batch.finally.{key}: {why}")
        validate_spec(f, "batch.finally")
    return spec


def _batch(reply: m.Reply) -> m.BatchStatus:
    if reply.batch is None:
        raise NotFound("no such batch")
    return reply.batch


def submit_batch(spec: m.BatchSpec, subscribe: bool, timeout: float) -> Call[m.BatchStatus]:
    return Call(m.Batch(batch=spec, subscribe=subscribe, request_id=new_request_id()), timeout,
                lambda r: _batch(warn(r)))


def get_batch(batch_id: str, timeout: float) -> Call[m.BatchStatus]:
    return Call(m.Get(batch_id=batch_id), timeout, _batch)


def subscribe(batch_id: str, timeout: float) -> Call[None]:
    return Call(m.Subscribe(batch_id=batch_id), timeout, lambda r: None)


# Pages one stats() call reads at most (1,000 entries each).
MAX_STATS_PAGES = 10_000


def stats_page(queues: Sequence[str], cursor: str, timeout: float) -> Call[m.Reply]:
    """One page of STATS; pass back its ``next_cursor`` until that is empty."""
    return Call(m.Stats(queues=list(queues), cursor=cursor), timeout, lambda r: r)


def gather_stats(out: StatsReply, page: m.Reply, cursor: str) -> Optional[str]:
    """Adds a page to ``out``; returns the next cursor, or None after the last page."""
    out.queues.extend(page.queues)
    out.workers.extend(page.workers)
    if page.broker is not None:
        out.broker = page.broker
    if not page.next_cursor:
        return None
    if page.next_cursor == cursor:
        raise ProtocolError("STATS: the broker returned the same cursor twice", "internal")
    return page.next_cursor


def dlq_list(queue: str, limit: int, timeout: float) -> Call[List[m.TaskInfo]]:
    return Call(m.Dlq(op="list", queue=queue, limit=limit), timeout, lambda r: list(r.tasks))


def set_limit(limit: m.Limit, timeout: float) -> Call[str]:
    """LIMIT: the queue's setting as the broker stored it ("" after a clear)."""
    return Call(limit, timeout, lambda r: r.queues[0].limit if r.queues else "")


def queue_admin(op: str, queue: str, timeout: float) -> Call[m.QueueStats]:
    """QUEUE pause/resume: the queue as it is now (its ``paused``)."""
    if op not in m.QUEUE_OPS:
        raise InvalidSpec(f"queue op: unknown value '{op}' (allowed: {', '.join(m.QUEUE_OPS)})")
    return Call(m.QueueAdmin(op=op, queue=queue), timeout,
                lambda r: r.queues[0] if r.queues else m.QueueStats(queue=queue))


def worker_admin(op: str, worker: str, timeout: float) -> Call[m.WorkerInfo]:
    """WORKER quiet/unquiet: the worker (its broker, ``quiet``)."""
    if op not in m.WORKER_OPS:
        raise InvalidSpec(f"worker op: unknown value '{op}' (allowed: {', '.join(m.WORKER_OPS)})")
    return Call(m.WorkerAdmin(op=op, worker=worker), timeout,
                lambda r: r.workers[0] if r.workers else m.WorkerInfo(id=worker))


def dlq_op(op: str, queue: str, ids: Sequence[str], timeout: float) -> Call[AffectedTasks]:
    return Call(m.Dlq(op=op, queue=queue, ids=list(ids)), timeout, _affected)


def _one_schedule(r: m.Reply) -> m.ScheduleInfo:
    if not r.schedules:
        raise ProtocolError("SCHEDULE: the broker's reply names no schedule", "internal")
    return r.schedules[0]


def make_schedule(name: str, task: m.TaskSpec, cron: str = "", tz: str = "",
                  every: Union[str, int, None] = None, catch_up: str = "skip") -> m.ScheduleInfo:
    """A schedule definition: exactly one of ``cron`` (with an optional IANA ``tz``) and
    ``every`` (``"30s"``, ``"5m"``, or milliseconds); ``catch_up`` ``"skip"`` or ``"once"``."""
    every_ms = 0 if every is None else parse_duration(every, "every")
    if bool(cron) == bool(every_ms):
        raise ValueError('schedule: set exactly one of cron (e.g. "*/5 * * * *") and every '
                         "(e.g. 30s)")
    if catch_up not in m.CATCH_UP_POLICIES:
        raise ValueError(f"catch_up: {catch_up!r} is not a policy (allowed: skip, once)")
    return m.ScheduleInfo(name=name, cron=cron, tz=tz, every_ms=every_ms, catch_up=catch_up,
                          task=task)


def schedule_add(schedule: m.ScheduleInfo, timeout: float) -> Call[m.ScheduleInfo]:
    return Call(m.Schedule(op="add", schedule=schedule), timeout, _one_schedule)


def schedule_list(timeout: float) -> Call[List[m.ScheduleInfo]]:
    return Call(m.Schedule(op="list"), timeout, lambda r: list(r.schedules))


def schedule_op(op: str, name: str, timeout: float) -> Call[m.ScheduleInfo]:
    """pause or resume: the schedule as it is now."""
    return Call(m.Schedule(op=op, name=name), timeout, _one_schedule)


def schedule_remove(name: str, timeout: float) -> Call[None]:
    return Call(m.Schedule(op="remove", name=name), timeout, lambda r: None)


@dataclass
class ListPage:
    """One LIST page: task summaries (TaskInfo without output, payload or history) or
    batches (BatchStatus without their name maps), and the cursor of the next page ("" =
    this was the last). A page may hold fewer than ``limit`` entries before the end: the
    broker bounds the work of each call."""

    tasks: List[m.TaskInfo] = field(default_factory=list)
    batches: List[m.BatchStatus] = field(default_factory=list)
    next_cursor: str = ""


#: Every listable task state (docs/protocol.md 7.10 but unknown), and the batch states.
LIST_TASK_STATES = tuple(s for s in m.TASK_STATES if s != "unknown")
LIST_BATCH_STATES = ("running", "succeeded", "partial", "failed")


def _check_page(limit: int, cursor: str) -> None:
    from taskmill.list_messages import MAX_LIST_LIMIT
    _int_in(limit, 1, MAX_LIST_LIMIT, "limit")
    if len(cursor) > 512 or any(not 0x21 <= ord(c) <= 0x7E for c in cursor):
        raise InvalidSpec("cursor: not one a broker gave (pass back a page's next_cursor)")


def _read_page(r: m.Reply) -> ListPage:
    return ListPage(list(r.tasks), list(r.batches), r.next_cursor)


def list_tasks(queue: str, state: str, type: str, limit: int, cursor: str,
               timeout: float) -> Call[ListPage]:
    """LIST of tasks, checked as the broker would (ValidateList)."""
    _name(queue, "queue")
    if state not in LIST_TASK_STATES:
        raise InvalidSpec(f"state: '{state}' is not a task state (allowed: "
                          f"{', '.join(LIST_TASK_STATES)})")
    if type:
        _name(type, "type")
    _check_page(limit, cursor)
    req = m.ListRequest(what="tasks", queue=queue, state=state, type=type, limit=limit,
                        cursor=cursor)
    return Call(req, timeout, _read_page)


def list_batches(state: str, limit: int, cursor: str, timeout: float) -> Call[ListPage]:
    if state and state not in LIST_BATCH_STATES:
        raise InvalidSpec(f"state: '{state}' is not a batch state (allowed: "
                          f"{', '.join(LIST_BATCH_STATES)})")
    _check_page(limit, cursor)
    return Call(m.ListRequest(what="batches", state=state, limit=limit, cursor=cursor),
                timeout, _read_page)


def _updated(r: m.Reply) -> m.TaskInfo:
    if not r.tasks:
        raise ProtocolError("UPDATE: the broker's reply carries no task", "internal")
    return r.tasks[0]


def update(task_id: str, op: str, priority: int, timeout: float) -> Call[m.TaskInfo]:
    """UPDATE: op "priority" (0-255) or "promote"; the task as it is after the change."""
    _name(task_id, "id")
    if op == "priority":
        _int_in(priority, 0, 255, "priority", ", higher runs first")
    return Call(m.Update(id=task_id, op=op, priority=priority), timeout, _updated)
