import asyncio

import taskmill
from taskmill.worker import Task

# Clients read $TASKMILL_BROKER (the broker's client port, else :5555), workers
# $TASKMILL_WORKER_BROKER (its worker port, else :5556).
tm = taskmill.App()


@tm.task(queue="images", max_attempts=3)
def thumbnail(task: Task) -> dict[str, int]:
    width = task.json()["width"]  # dict payloads travel as JSON
    return {"width": width // 4, "height": width // 8}


@tm.task(queue="images", timeout_ms=5000)
async def fetch(task: Task) -> str:
    await asyncio.sleep(0.01)  # a cancel or the timeout cancels this coroutine
    return "fetched " + task.text


if __name__ == "__main__":  # the worker: python tasks.py
    tm.worker(concurrency=4).run()
