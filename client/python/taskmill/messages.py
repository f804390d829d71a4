"""Every message and value type of the taskmill wire protocol, TM1.

Plain dataclasses, one per protocol struct (docs/protocol.md section 7 and
docs/protocol-messages.md section 8), each with one field table, ``FIELDS``: the wire keys
in canonical order, their kinds and whether they are required. The codec
(``taskmill.codec``) walks the same table to encode and to decode, and a field's default
is the dataclass field's default, so the three never disagree. Values are immutable in
spirit but not frozen, so callers can build them field by field.
"""

from __future__ import annotations

import json as _json
import time as _time
from dataclasses import dataclass, field
from typing import Any, ClassVar, Dict, List, Mapping, Optional, Sequence, Tuple, Union

# What a payload may be given as. Structured payloads have one declared encoding, JSON
# (UTF-8, compact): every runtime decodes it (the C++ built-ins read a payload opening with
# '{' or '[' as JSON, Python has Task.json(), Node JSON.parse(task.payload)).
Payload = Union[bytes, bytearray, memoryview, str, Mapping[str, Any], Sequence[Any], None]


def encode_payload(payload: Payload) -> bytes:
    """bytes as they are, str as UTF-8, a dict or list as compact JSON, None as empty."""
    if payload is None:
        return b""
    if isinstance(payload, (bytes, bytearray, memoryview)):
        return bytes(payload)
    if isinstance(payload, str):
        return payload.encode("utf-8")
    return _json.dumps(payload, separators=(",", ":")).encode("utf-8")

from taskmill.fields import (  # re-exported: messages.STR, messages.Field, ...
    STR as STR,
    BIN as BIN,
    UINT as UINT,
    INT as INT,
    DOUBLE as DOUBLE,
    BOOL as BOOL,
    STR_LIST as STR_LIST,
    STR_MAP as STR_MAP,
    COST_MAP as COST_MAP,
    BIN_MAP as BIN_MAP,
    UINT_MAP as UINT_MAP,
    OBJ as OBJ,
    OBJ_LIST as OBJ_LIST,
    OPT_OBJ as OPT_OBJ,
    OPT_INT as OPT_INT,
    ENUM as ENUM,
    U8 as U8,
    U32 as U32,
    U64 as U64,
    I32 as I32,
    I64 as I64,
    Field as Field,
    default_of as default_of,
)

TASK_STATES = ("unknown", "queued", "delayed", "blocked", "running", "succeeded",
               "failed", "cancelled", "awaiting", "expired")
TERMINAL_STATES = frozenset({"succeeded", "failed", "cancelled", "expired"})
DLQ_OPS = ("list", "retry", "purge")
SCHEDULE_OPS = ("list", "add", "pause", "resume", "remove")
QUEUE_OPS = ("pause", "resume")
WORKER_OPS = ("quiet", "unquiet")
CATCH_UP_POLICIES = ("skip", "once")
DEFAULT_QUEUE = "default"


# ---------------------------------------------------------------- value types (section 7)


@dataclass
class BackoffPolicy:
    """Delay between attempts: min(max_ms, base_ms * multiplier^(n-1)), optional jitter."""

    base_ms: int = 1000
    max_ms: int = 60000
    multiplier: float = 2.0
    jitter: bool = False

    FIELDS: ClassVar[Tuple[Field, ...]] = ()


BackoffPolicy.FIELDS = (
    Field("base_ms", UINT, max=U32),
    Field("max_ms", UINT, max=U32),
    Field("multiplier", DOUBLE),
    Field("jitter", BOOL),
)


@dataclass
class TaskSpec:
    """What a client asks to run. Only ``type`` is required. ``payload`` may be given as
    bytes, str (UTF-8) or a dict/list (JSON); it is stored as bytes."""

    type: str = ""
    payload: Payload = b""
    id: str = ""
    name: str = ""
    queue: str = DEFAULT_QUEUE
    priority: int = 0
    max_attempts: int = 3
    backoff: BackoffPolicy = field(default_factory=BackoffPolicy)
    timeout_ms: int = 0
    idempotency_key: str = ""
    not_before_ms: int = 0
    batch_id: str = ""
    depends_on: List[str] = field(default_factory=list)
    labels: Dict[str, str] = field(default_factory=dict)
    # Issue 22: a delay from the broker's clock at enqueue (not with not_before_ms); a start
    # deadline (not started within it: state ``expired``, never runs); the idempotency key's
    # TTL (0: the broker's --idempotency-ttl). Milliseconds, 0 = none.
    delay_ms: int = 0
    expires_in_ms: int = 0
    idempotency_ttl_ms: int = 0

    FIELDS: ClassVar[Tuple[Field, ...]] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.payload, bytes):
            self.payload = encode_payload(self.payload)


TaskSpec.FIELDS = (
    Field("id", STR),
    Field("name", STR),
    Field("queue", STR),
    Field("type", STR, required=True),
    Field("payload", BIN),
    Field("priority", UINT, max=U8),
    Field("max_attempts", UINT, max=U32),
    Field("backoff", OBJ, cls=BackoffPolicy),
    Field("timeout_ms", UINT, max=U32),
    Field("idempotency_key", STR),
    Field("not_before_ms", INT),
    Field("batch_id", STR),
    Field("depends_on", STR_LIST),
    Field("labels", STR_MAP),
    Field("delay_ms", UINT),
    Field("expires_in_ms", UINT),
    Field("idempotency_ttl_ms", UINT),
)


@dataclass
class TaskError:
    """An error of one task attempt; ``retryable`` is the worker's verdict."""

    code: str = ""
    message: str = ""
    retryable: bool = False

    FIELDS: ClassVar[Tuple[Field, ...]] = ()


TaskError.FIELDS = (
    Field("code", STR, required=True),
    Field("message", STR),
    Field("retryable", BOOL),
)


@dataclass
class Artifact:
    """A file an exec task kept: ``uri`` (file://, on the workers' shared volume) or, when
    ``uri`` is empty, the content itself in ``data``. Fetch with ``Client.fetch_artifacts``."""

    name: str = ""
    size: int = 0
    sha256: str = ""
    uri: str = ""
    data: bytes = b""

    FIELDS: ClassVar[Tuple[Field, ...]] = ()


Artifact.FIELDS = (
    Field("name", STR, required=True),
    Field("size", UINT, max=U64),
    Field("sha256", STR),
    Field("uri", STR),
    Field("data", BIN),
)


@dataclass
class TaskInfo:
    """A task as the broker reports it: state, attempts, result, costs, error history."""

    id: str = ""
    queue: str = ""
    type: str = ""
    batch_id: str = ""
    name: str = ""
    state: str = "unknown"
    priority: int = 0
    attempts: int = 0
    max_attempts: int = 0
    output: bytes = b""
    error: Optional[TaskError] = None
    exit_code: Optional[int] = None
    stdout: bytes = b""
    stderr: bytes = b""
    duration_ms: int = 0
    cost: Dict[str, float] = field(default_factory=dict)
    worker: str = ""
    created_ms: int = 0
    started_ms: int = 0
    finished_ms: int = 0
    history: List[TaskError] = field(default_factory=list)
    artifacts: List[Artifact] = field(default_factory=list)
    #: The latest progress the broker stored for the current attempt (0..1) and its message.
    progress: float = 0.0
    progress_message: str = ""
    ready_at_ms: int = 0  #: a delayed task: when it becomes ready (epoch ms)

    FIELDS: ClassVar[Tuple[Field, ...]] = ()

    @property
    def terminal(self) -> bool:
        """True iff the task is succeeded, failed, cancelled or expired."""
        return self.state in TERMINAL_STATES

    @property
    def succeeded(self) -> bool:
        return self.state == "succeeded"

    def text(self) -> str:
        """The output as UTF-8 text."""
        return self.output.decode("utf-8")

    def json(self) -> Any:
        """The output parsed as JSON (None for an empty output)."""
        return _json.loads(self.output) if self.output else None

    def elapsed_ms(self, now_ms: Optional[int] = None) -> int:
        """How long its attempt has taken: for a running task the time since it started
        (``now_ms``, default the wall clock; ``duration_ms`` is 0 until it ends), else
        ``duration_ms``."""
        if self.state == "running" and self.started_ms > 0:
            now = int(_time.time() * 1000) if now_ms is None else now_ms
            return max(0, now - self.started_ms)
        return self.duration_ms


TaskInfo.FIELDS = (
    Field("id", STR, required=True),
    Field("queue", STR),
    Field("type", STR),
    Field("batch_id", STR),
    Field("name", STR),
    Field("state", ENUM, required=True, choices=TASK_STATES, unknown_as="unknown"),
    Field("priority", UINT, max=U8),
    Field("attempts", UINT, max=U32),
    Field("max_attempts", UINT, max=U32),
    Field("output", BIN),
    Field("error", OPT_OBJ, cls=TaskError),
    Field("exit_code", OPT_INT, range=I32),
    Field("stdout", BIN),
    Field("stderr", BIN),
    Field("duration_ms", UINT, max=U32),
    Field("cost", COST_MAP),
    Field("worker", STR),
    Field("created_ms", INT),
    Field("started_ms", INT),
    Field("finished_ms", INT),
    Field("history", OBJ_LIST, cls=TaskError),
    Field("artifacts", OBJ_LIST, cls=Artifact),
    Field("progress", DOUBLE),
    Field("progress_message", STR),
    Field("ready_at_ms", INT),
)


@dataclass
class QueueStats:
    """Depth, counters and summed costs of one queue."""

    queue: str = ""
    ready: int = 0
    delayed: int = 0
    running: int = 0
    dead: int = 0
    submitted: int = 0
    succeeded: int = 0
    failed: int = 0
    retried: int = 0
    cancelled: int = 0
    cost: Dict[str, float] = field(default_factory=dict)
    # Ready tasks per type: the (at most 32) types with the most; more_types: the rest.
    ready_by_type: Dict[str, int] = field(default_factory=dict)
    more_types: int = 0
    # Its limits as text ("" = none), leases counted against its concurrency cap, and ready
    # tasks a claim passed over because of a limit (`taskmill queue limit`).
    limit: str = ""
    limit_running: int = 0
    throttled: int = 0
    paused: bool = False  # `taskmill queue pause`: nothing of it is leased until resumed
    expired: int = 0  # tasks that ended expired (issue 22), a counter

    FIELDS: ClassVar[Tuple[Field, ...]] = ()


QueueStats.FIELDS = (Field("queue", STR, required=True),) + tuple(
    Field(k, UINT) for k in ("ready", "delayed", "running", "dead", "submitted",
                             "succeeded", "failed", "retried", "cancelled")
) + (Field("cost", COST_MAP), Field("ready_by_type", UINT_MAP),
     Field("more_types", UINT, max=U32), Field("limit", STR), Field("limit_running", UINT),
     Field("throttled", UINT), Field("paused", BOOL), Field("expired", UINT))


@dataclass
class WorkerInfo:
    """A worker connected to the broker."""

    id: str = ""
    queues: List[str] = field(default_factory=list)
    types: List[str] = field(default_factory=list)
    concurrency: int = 0
    in_flight: int = 0
    labels: Dict[str, str] = field(default_factory=dict)
    broker: str = ""      # id of the broker it is connected to
    quiet: bool = False   # `taskmill worker quiet`: finishes its tasks, takes nothing new

    FIELDS: ClassVar[Tuple[Field, ...]] = ()


WorkerInfo.FIELDS = (
    Field("id", STR, required=True),
    Field("queues", STR_LIST),
    Field("types", STR_LIST),
    Field("concurrency", UINT, max=U32),
    Field("in_flight", UINT, max=U32),
    Field("labels", STR_MAP),
    Field("broker", STR),
    Field("quiet", BOOL),
)


@dataclass
class BrokerStats:
    """The STATS "broker" section: this broker's own gauges and counters."""

    workers: int = 0
    queues: int = 0
    bad_frames: int = 0
    stale_results: int = 0
    tasks_dispatched: int = 0
    workers_lost: int = 0
    waits: int = 0
    wait_ids: int = 0
    subscriptions: int = 0
    quota_refusals: int = 0
    peers_dropped: int = 0
    queued_bytes: int = 0
    replies_dropped: int = 0
    clients_cut: int = 0
    warnings: List[str] = field(default_factory=list)

    FIELDS: ClassVar[Tuple[Field, ...]] = ()


BrokerStats.FIELDS = (Field("workers", UINT, max=U32),) + tuple(
    Field(k, UINT) for k in ("queues", "bad_frames", "stale_results", "tasks_dispatched",
                             "workers_lost", "waits", "wait_ids", "subscriptions",
                             "quota_refusals", "peers_dropped", "queued_bytes",
                             "replies_dropped", "clients_cut")
) + (Field("warnings", STR_LIST),)


@dataclass
class BatchSpec:
    """A batch: tasks with unique names, depends_on naming other tasks, optional budget."""

    tasks: List[TaskSpec] = field(default_factory=list)
    id: str = ""
    budget: Dict[str, float] = field(default_factory=dict)
    labels: Dict[str, str] = field(default_factory=dict)
    # What a task that dies does to the rest: "cancel_dependents" (its descendants are
    # cancelled), "continue" (its children still run, given its error in
    # ``task.parent_errors``) or "fail_fast" (every unfinished task is cancelled).
    on_failure: str = "cancel_dependents"
    # Runs once when every other task has ended, whatever the outcome; its payload is the
    # batch summary (JSON). Wire key "finally" (a Python keyword, hence the name).
    finally_task: Optional[TaskSpec] = None
    # Adds ``tasks`` to this running batch instead of storing a new one: their names join
    # the batch's and depends_on may name its tasks (id, budget, on_failure and finally
    # stay unset: the batch's own apply).
    append_to: str = ""

    FIELDS: ClassVar[Tuple[Field, ...]] = ()


ON_FAILURE_POLICIES = ("cancel_dependents", "continue", "fail_fast")


def validate_on_failure(value: str, where: str = "on_failure") -> None:
    """Raises ValueError unless ``value`` is one of ON_FAILURE_POLICIES (the broker's words)."""
    if value not in ON_FAILURE_POLICIES:
        raise ValueError(f"{where}: unknown value '{value}' "
                         "(allowed: cancel_dependents, continue, fail_fast)")


BatchSpec.FIELDS = (
    Field("id", STR),
    Field("tasks", OBJ_LIST, required=True, cls=TaskSpec),
    Field("budget", COST_MAP),
    Field("labels", STR_MAP),
    Field("on_failure", STR),
    Field("finally", OPT_OBJ, attr="finally_task", cls=TaskSpec),
    Field("append_to", STR),
)


@dataclass
class BatchStatus:
    """A batch's state: running, succeeded, partial or failed; ``tasks`` maps name -> id."""

    id: str = ""
    state: str = ""
    total: int = 0
    counts: Dict[str, int] = field(default_factory=dict)
    cost: Dict[str, float] = field(default_factory=dict)
    budget: Dict[str, float] = field(default_factory=dict)
    budget_exceeded: bool = False
    tasks: Dict[str, str] = field(default_factory=dict)
    created_ms: int = 0
    finished_ms: int = 0
    critical_path_ms: int = 0
    on_failure: str = "cancel_dependents"
    finally_id: str = ""     # its finally task, if it has one
    finally_state: str = ""  # that task's state (GET of a batch; "" until it is stored)

    FIELDS: ClassVar[Tuple[Field, ...]] = ()

    @property
    def terminal(self) -> bool:
        return self.state not in ("", "running")


BatchStatus.FIELDS = (
    Field("id", STR, required=True),
    Field("state", STR, required=True),
    Field("total", UINT, max=U32),
    Field("counts", UINT_MAP),
    Field("cost", COST_MAP),
    Field("budget", COST_MAP),
    Field("budget_exceeded", BOOL),
    Field("tasks", STR_MAP),
    Field("created_ms", INT),
    Field("finished_ms", INT),
    Field("critical_path_ms", UINT),
    Field("on_failure", STR),
    Field("finally_id", STR),
    Field("finally_state", STR),
)


@dataclass
class WireError:
    """The error of a failed request, in a REPLY."""

    code: str = ""
    message: str = ""

    FIELDS: ClassVar[Tuple[Field, ...]] = ()


WireError.FIELDS = (
    Field("code", STR, required=True),
    Field("message", STR, required=True),
)

# ----------------------------------------------------------------- messages (section 8)


@dataclass
class Submit:
    COMMAND: ClassVar[int] = 0x01
    req_id: int = 0
    tasks: List[TaskSpec] = field(default_factory=list)
    notify: bool = False
    # The same on every resend of one request: the broker stores the tasks once.
    request_id: str = ""
    FIELDS: ClassVar[Tuple[Field, ...]] = (
        Field("req_id", UINT, required=True),
        Field("tasks", OBJ_LIST, required=True, cls=TaskSpec),
        Field("notify", BOOL),
        Field("request_id", STR),
    )


@dataclass
class Batch:
    COMMAND: ClassVar[int] = 0x02
    req_id: int = 0
    batch: BatchSpec = field(default_factory=BatchSpec)
    subscribe: bool = False
    request_id: str = ""  # as Submit.request_id: a resend returns the same batch
    FIELDS: ClassVar[Tuple[Field, ...]] = (
        Field("req_id", UINT, required=True),
        Field("batch", OBJ, required=True, cls=BatchSpec),
        Field("subscribe", BOOL),
        Field("request_id", STR),
    )


@dataclass
class Wait:
    COMMAND: ClassVar[int] = 0x03
    req_id: int = 0
    ids: List[str] = field(default_factory=list)
    timeout_ms: int = 0
    progress: bool = False  # also push task_progress EVENTs (batch_id "") while waiting
    FIELDS: ClassVar[Tuple[Field, ...]] = (
        Field("req_id", UINT, required=True),
        Field("ids", STR_LIST, required=True),
        Field("timeout_ms", UINT, max=U32),
        Field("progress", BOOL),
    )


@dataclass
class Get:
    COMMAND: ClassVar[int] = 0x04
    req_id: int = 0
    ids: List[str] = field(default_factory=list)
    batch_id: str = ""
    FIELDS: ClassVar[Tuple[Field, ...]] = (
        Field("req_id", UINT, required=True),
        Field("ids", STR_LIST),
        Field("batch_id", STR),
    )


@dataclass
class Cancel:
    COMMAND: ClassVar[int] = 0x05
    req_id: int = 0
    ids: List[str] = field(default_factory=list)
    batch_id: str = ""
    reason: str = ""
    FIELDS: ClassVar[Tuple[Field, ...]] = (
        Field("req_id", UINT, required=True),
        Field("ids", STR_LIST),
        Field("batch_id", STR),
        Field("reason", STR),
    )


@dataclass
class Subscribe:
    COMMAND: ClassVar[int] = 0x06
    req_id: int = 0
    batch_id: str = ""
    unsubscribe: bool = False
    FIELDS: ClassVar[Tuple[Field, ...]] = (
        Field("req_id", UINT, required=True),
        Field("batch_id", STR, required=True),
        Field("unsubscribe", BOOL),
    )


@dataclass
class Stats:
    COMMAND: ClassVar[int] = 0x07
    req_id: int = 0
    queues: List[str] = field(default_factory=list)
    sections: List[str] = field(default_factory=list)
    cursor: str = ""
    limit: int = 0
    FIELDS: ClassVar[Tuple[Field, ...]] = (
        Field("req_id", UINT, required=True),
        Field("queues", STR_LIST),
        Field("sections", STR_LIST),
        Field("cursor", STR),
        Field("limit", UINT, max=U32),
    )


@dataclass
class Dlq:
    COMMAND: ClassVar[int] = 0x08
    req_id: int = 0
    op: str = "list"
    queue: str = ""
    ids: List[str] = field(default_factory=list)
    limit: int = 100
    FIELDS: ClassVar[Tuple[Field, ...]] = (
        Field("req_id", UINT, required=True),
        Field("op", ENUM, required=True, choices=DLQ_OPS),
        Field("queue", STR),
        Field("ids", STR_LIST),
        Field("limit", UINT, max=U32),
    )


@dataclass
class Complete:
    """Completes a task awaiting an outside system, proved by its completion token."""

    COMMAND: ClassVar[int] = 0x09
    req_id: int = 0
    task_id: str = ""
    token: str = ""
    ok: bool = True
    output: bytes = b""
    error: Optional[TaskError] = None
    cost: Dict[str, float] = field(default_factory=dict)
    FIELDS: ClassVar[Tuple[Field, ...]] = (
        Field("req_id", UINT, required=True),
        Field("task_id", STR, required=True),
        Field("token", STR, required=True),
        Field("ok", BOOL),
        Field("output", BIN),
        Field("error", OPT_OBJ, cls=TaskError),
        Field("cost", COST_MAP),
    )


@dataclass
class ScheduleInfo:
    """A periodic schedule (docs/protocol.md 7.12): exactly one of ``cron`` (5 fields, with
    an optional IANA ``tz``) and ``every_ms``; ``task`` is what each tick submits. The rest
    is run state the broker fills in (``next_run_ms``, ``fired``, ``missed``, ...)."""

    name: str = ""
    cron: str = ""
    tz: str = ""
    every_ms: int = 0
    catch_up: str = "skip"
    task: TaskSpec = field(default_factory=TaskSpec)
    paused: bool = False
    next_run_ms: int = 0
    last_run_ms: int = 0
    last_task_id: str = ""
    fired: int = 0
    missed: int = 0
    FIELDS: ClassVar[Tuple[Field, ...]] = (
        Field("name", STR, required=True),
        Field("cron", STR),
        Field("tz", STR),
        Field("every_ms", UINT),
        Field("catch_up", STR),
        Field("task", OBJ, required=True, cls=TaskSpec),
        Field("paused", BOOL),
        Field("next_run_ms", INT),
        Field("last_run_ms", INT),
        Field("last_task_id", STR),
        Field("fired", UINT),
        Field("missed", UINT),
    )


@dataclass
class Reply:
    COMMAND: ClassVar[int] = 0x20
    req_id: int = 0
    error: Optional[WireError] = None
    ids: List[str] = field(default_factory=list)
    tasks: List[TaskInfo] = field(default_factory=list)
    queues: List[QueueStats] = field(default_factory=list)
    workers: List[WorkerInfo] = field(default_factory=list)
    batch: Optional[BatchStatus] = None
    count: int = 0
    broker: Optional[BrokerStats] = None
    next_cursor: str = ""
    warnings: List[str] = field(default_factory=list)
    requested: List[str] = field(default_factory=list)
    schedules: List[ScheduleInfo] = field(default_factory=list)
    batches: List[BatchStatus] = field(default_factory=list)
    FIELDS: ClassVar[Tuple[Field, ...]] = (
        Field("req_id", UINT, required=True),
        Field("error", OPT_OBJ, cls=WireError),
        Field("ids", STR_LIST),
        Field("tasks", OBJ_LIST, cls=TaskInfo),
        Field("queues", OBJ_LIST, cls=QueueStats),
        Field("workers", OBJ_LIST, cls=WorkerInfo),
        Field("batch", OPT_OBJ, cls=BatchStatus),
        Field("count", UINT, max=U32),
        Field("broker", OPT_OBJ, cls=BrokerStats),
        Field("next_cursor", STR),
        Field("warnings", STR_LIST),
        Field("requested", STR_LIST),
        Field("schedules", OBJ_LIST, cls=ScheduleInfo),
        Field("batches", OBJ_LIST, cls=BatchStatus),
    )


@dataclass
class ResultMsg:
    COMMAND: ClassVar[int] = 0x21
    task: TaskInfo = field(default_factory=TaskInfo)
    FIELDS: ClassVar[Tuple[Field, ...]] = (Field("task", OBJ, required=True, cls=TaskInfo),)


@dataclass
class Event:
    """A batch event: batch_started, task_started, task_progress, task_completed,
    task_failed, batch_progress, budget_warning or batch_completed (others: ignore)."""

    COMMAND: ClassVar[int] = 0x22
    batch_id: str = ""
    type: str = ""
    task_id: str = ""
    task_name: str = ""
    state: str = ""
    done: int = 0
    total: int = 0
    progress: float = 0.0
    message: str = ""
    error: Optional[TaskError] = None
    cost: Dict[str, float] = field(default_factory=dict)
    ts_ms: int = 0
    FIELDS: ClassVar[Tuple[Field, ...]] = (
        Field("batch_id", STR, required=True),
        Field("type", STR, required=True),
        Field("task_id", STR),
        Field("task_name", STR),
        Field("state", STR),
        Field("done", UINT, max=U32),
        Field("total", UINT, max=U32),
        Field("progress", DOUBLE),
        Field("message", STR),
        Field("error", OPT_OBJ, cls=TaskError),
        Field("cost", COST_MAP),
        Field("ts_ms", INT),
    )


@dataclass
class GoAway:
    """GOAWAY: this broker is leaving or unhealthy. Send it nothing more; move to another
    endpoint of the list (or redial this one, with backoff, if it is the only one) and
    resend what is unanswered. Replies that came before it are valid."""

    COMMAND: ClassVar[int] = 0x23
    reason: str = ""
    FIELDS: ClassVar[Tuple[Field, ...]] = (Field("reason", STR),)


# The worker protocol (0x40-0x64) lives in its own module; re-exported here, so
# ``messages.Ready`` and friends keep working. Imported last: it uses the types above.
from taskmill.worker_messages import (  # noqa: E402
    Bye as Bye,
    CancelTask as CancelTask,
    BrokerHeartbeat as BrokerHeartbeat,
    Done as Done,
    Drain as Drain,
    Heartbeat as Heartbeat,
    Move as Move,
    Progress as Progress,
    Ready as Ready,
    TaskMsg as TaskMsg,
)
from taskmill.list_messages import ListRequest as ListRequest, Update as Update  # noqa: E402
# The administration requests (LIMIT, SCHEDULE, QUEUE, WORKER) likewise.
from taskmill.admin_messages import (  # noqa: E402
    Limit as Limit,
    QueueAdmin as QueueAdmin,
    Schedule as Schedule,
    WorkerAdmin as WorkerAdmin,
)


MESSAGE_TYPES: Tuple[type, ...] = (
    Submit, Batch, Wait, Get, Cancel, Subscribe, Stats, Dlq, Limit,
    Reply, ResultMsg, Event, GoAway,
    Ready, Heartbeat, Done, Progress, Bye,
    TaskMsg, CancelTask, BrokerHeartbeat, Drain, Move, Complete, Schedule, QueueAdmin,
    WorkerAdmin, ListRequest, Update,
)
BY_COMMAND: Dict[int, type] = {cls.COMMAND: cls for cls in MESSAGE_TYPES}  # type: ignore
# Command names as in the vectors' "command" and shared/src/protocol/names.cc.
COMMAND_NAMES: Dict[str, type] = {
    "SUBMIT": Submit, "BATCH": Batch, "WAIT": Wait, "GET": Get, "CANCEL": Cancel,
    "SUBSCRIBE": Subscribe, "STATS": Stats, "DLQ": Dlq, "LIMIT": Limit, "REPLY": Reply, "RESULT": ResultMsg,
    "EVENT": Event, "GOAWAY": GoAway, "READY": Ready, "HEARTBEAT": Heartbeat, "DONE": Done,
    "PROGRESS": Progress, "BYE": Bye, "TASK": TaskMsg, "CANCEL_TASK": CancelTask,
    "BROKER_HEARTBEAT": BrokerHeartbeat, "DRAIN": Drain, "MOVE": Move, "COMPLETE": Complete,
    "SCHEDULE": Schedule, "QUEUE": QueueAdmin, "WORKER": WorkerAdmin, "LIST": ListRequest,
    "UPDATE": Update,
}
