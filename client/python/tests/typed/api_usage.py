"""Type-checked (mypy --strict, tests/test_typing.py), never run: the public API as the
README uses it. A signature that drifts from its use here fails the test."""

from __future__ import annotations

import asyncio
from typing import Any, Dict, List

import taskmill
from taskmill import AsyncClient, Client, TaskSpec
from taskmill.worker import Task, Worker

tm = taskmill.App()


@tm.task(queue="images", max_attempts=5)
def resize(task: Task) -> Dict[str, Any]:
    width: int = task.json()["width"]
    if task.cancel_event.is_set():
        raise taskmill.PermanentError("stopped")
    return {"width": width // 2}


@tm.task
async def fetch(task: Task) -> bytes:
    await asyncio.sleep(0)
    return task.payload


def use_sync(client: Client) -> None:
    handle: taskmill.TaskHandle = resize.submit({"width": 64})
    info: taskmill.TaskInfo = handle.result(timeout=30)
    out: Any = info.json()
    text: str = info.text()
    print(out, text, handle.id, handle.get().state, handle.cancel())
    h2 = client.submit(TaskSpec(type="echo", payload={"a": 1}))
    h3 = client.submit("echo", {"a": [1, 2]}, queue="q", max_attempts=2)
    ids: List[str] = [h2, h3]
    print(ids, client.wait_batch("b1", timeout=5).state)
    paused: bool = client.pause_queue("images").paused
    resumed: taskmill.QueueStats = client.resume_queue("images")
    quiet: taskmill.WorkerInfo = client.quiet_worker("w-1")
    print(paused, resumed.paused, quiet.broker, quiet.quiet, client.unquiet_worker("w-1").quiet)
    worker: Worker = tm.worker(concurrency=4, cancel_grace=2.0)
    worker.run()


async def use_async() -> None:
    async with AsyncClient() as client:
        handle = await client.submit("echo", {"a": 1})
        info: taskmill.TaskInfo = await handle
        again: taskmill.TaskInfo = await handle.result(timeout=5)
        status: taskmill.BatchStatus = await client.wait_batch("b1", timeout=5)
        h: taskmill.AsyncTaskHandle = await resize.submit_async(client, {"width": 8})
        print(info.json(), again.text(), status.state, h.id)
        page: taskmill.ListPage = await client.list_tasks("q", "delayed", limit=10)
        moved: taskmill.TaskInfo = await client.promote(page.tasks[0].id)
        print(page.next_cursor, moved.ready_at_ms)
        q: taskmill.QueueStats = await client.pause_queue("images")
        w: taskmill.WorkerInfo = await client.quiet_worker("w-1")
        print(q.paused, (await client.resume_queue("images")).paused, w.quiet,
              (await client.unquiet_worker("w-1")).quiet)
