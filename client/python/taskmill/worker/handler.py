"""How a Python handler is called: sync or async, its result as output bytes, its failure
in words (a bounded traceback), and the DONE of one attempt (``run_attempt``). Runs on an
executor thread; the I/O thread (runtime.py) only sends what it returns."""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import os
import time
import traceback
from typing import Any, Awaitable, Callable, Dict, List, Union

from taskmill import messages as m
from taskmill.errors import PermanentError
from taskmill.worker.task import Task

log = logging.getLogger("taskmill.worker")


def _now_ms() -> int:
    return int(time.time() * 1000)


HandlerResult = Union[bytes, bytearray, str, Dict[str, Any], List[Any], None]
# A plain function, or an ``async def`` one (run on an event loop of its executor thread).
Handler = Callable[[Task], Union[HandlerResult, Awaitable[HandlerResult]]]
# The default endpoint of a worker: the broker's worker (backend) port.
DEFAULT_WORKER_ENDPOINT = "tcp://127.0.0.1:5556"
# Environment variable of a worker's broker endpoint. TASKMILL_BROKER is the clients'
# (frontend) endpoint and is never read by a worker.
ENV_WORKER_BROKER = "TASKMILL_WORKER_BROKER"
# Longest traceback sent as a failed attempt's error message (the tail is kept).
MAX_TRACEBACK_CHARS = 4000


def default_worker_endpoint() -> str:
    """``$TASKMILL_WORKER_BROKER``, else tcp://127.0.0.1:5556 (the broker's worker port)."""
    endpoint = os.environ.get(ENV_WORKER_BROKER)
    if endpoint:
        return endpoint
    if os.environ.get("TASKMILL_BROKER"):
        log.warning("TASKMILL_BROKER (%s) is the clients' endpoint and is not read by "
                    "workers; set %s (or pass broker=) to the broker's worker port; "
                    "using %s", os.environ["TASKMILL_BROKER"], ENV_WORKER_BROKER,
                    DEFAULT_WORKER_ENDPOINT)
    return DEFAULT_WORKER_ENDPOINT


def describe_exception(e: BaseException) -> str:
    """``Type: message`` and the traceback, at most MAX_TRACEBACK_CHARS (its tail)."""
    text = "".join(traceback.format_exception(type(e), e, e.__traceback__)).rstrip()
    head = f"{type(e).__name__}: {e}"
    if len(text) > MAX_TRACEBACK_CHARS:
        text = "[traceback truncated]\n" + text[-MAX_TRACEBACK_CHARS:]
    return f"{head}\n{text}"


def call_handler(fn: Handler, task: Task) -> HandlerResult:
    """Runs a handler on this (executor) thread. A coroutine runs on an event loop of its
    own, and a cancel, timeout or drain cancels it (``asyncio.CancelledError`` inside)."""
    result = fn(task)
    if not inspect.isawaitable(result):
        return result
    awaitable = result

    async def supervise() -> HandlerResult:
        loop = asyncio.get_running_loop()
        job: "asyncio.Future[HandlerResult]" = asyncio.ensure_future(awaitable)

        def cancel() -> None:  # from the I/O thread
            try:
                loop.call_soon_threadsafe(job.cancel)
            except RuntimeError:
                pass  # the loop has already finished

        task._call_on_cancel(cancel)
        return await job

    return asyncio.run(supervise())


def output_bytes(result: HandlerResult) -> bytes:
    if result is None:
        return b""
    if isinstance(result, (bytes, bytearray, memoryview)):
        return bytes(result)
    if isinstance(result, str):
        return result.encode("utf-8")
    if isinstance(result, (dict, list)):
        return json.dumps(result, separators=(",", ":")).encode("utf-8")
    raise TypeError(f"a handler returns bytes, str, dict, list or None, "
                    f"not {type(result).__name__}")


def run_attempt(fn: Handler, task: Task, max_output_bytes: int) -> m.Done:
    """Runs one attempt on this (executor) thread and returns its DONE: the output, or the
    failure (an exception is ``handler_exception`` with its traceback; a stop decides the
    code whatever the handler returned); a failure is logged at warning."""
    started_ms = _now_ms()
    t0 = time.monotonic()
    done = m.Done(task_id=task.id, token=task.token, started_ms=started_ms)
    try:
        done.output = output_bytes(call_handler(fn, task))
        done.ok = True
    except PermanentError as e:
        done.error = m.TaskError(code=e.code, message=str(e), retryable=False)
    except asyncio.CancelledError:
        done.error = m.TaskError(code="cancelled", message="the handler was cancelled",
                                 retryable=False)
    except Exception as e:  # noqa: BLE001 - any handler failure is a failed attempt
        done.error = m.TaskError(code="handler_exception", message=describe_exception(e),
                                 retryable=True)
    elapsed = time.monotonic() - t0
    if task.timeout_ms and elapsed * 1000 >= task.timeout_ms:
        task._set_cancelled("timeout")  # returned late, before the timer said so
    if task.cancelled:
        # Stopped: reported by why, whatever the handler returned (output dropped).
        reason = task.cancel_reason
        said = "returned a result after it was stopped (dropped)" if done.ok else \
            (done.error.message if done.error else "")
        done.ok = False
        done.output = b""
        if reason == "timeout":
            done.error = m.TaskError(code="timeout", retryable=True,
                                     message=f"the attempt ran past its timeout_ms "
                                             f"({task.timeout_ms} ms): {said}")
        elif reason == "draining":
            done.error = m.TaskError(code="drain_timeout", message="the worker drained",
                                     retryable=True)
        else:
            done.error = m.TaskError(code="cancelled", message=reason, retryable=False)
    if len(done.output) > max_output_bytes:
        done.error = m.TaskError(
            code="output_too_large", retryable=False,
            message=f"the result is {len(done.output)} bytes (output {len(done.output)}, "
                    f"stdout 0, stderr 0), over the worker's limit of "
                    f"{max_output_bytes} (max_output_bytes)")
        done.ok = False
        done.output = b""
    done.duration_ms = min(m.U32, int(elapsed * 1000))
    done.cost = task.costs()
    task.flush_progress()  # the handler's last report, if the 50 ms skip held it back
    if not done.ok and done.error is not None:
        log.warning("task %s attempt %d (%s) failed after %d ms: %s: %s%s", task.id,
                    task.attempt, task.type, done.duration_ms, done.error.code,
                    done.error.message,
                    " (will be retried if attempts remain)" if done.error.retryable else "")
    return done
