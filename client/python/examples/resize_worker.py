import taskmill
from taskmill.worker import Task, Worker

worker = Worker(queues=["default"], concurrency=4)


@worker.handler("resize")
def resize(task: Task) -> dict[str, object]:
    if task.payload == b"":
        raise taskmill.PermanentError("nothing to resize")  # no retry
    task.progress(0.5, "half way")
    task.add_cost("usd", 0.001)
    return {"resized": task.text, "attempt": task.attempt}


if __name__ == "__main__":  # or: python -m taskmill.worker resize_worker:worker
    worker.run()
