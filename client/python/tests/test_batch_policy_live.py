"""A batch's on_failure and finally task (issue 22) against a real broker, with a Python worker: continue
hands a dead parent's error to its children (``task.parent_errors``), fail_fast cancels the
rest of the batch, a running handler included; a policy that does not exist is refused
before anything is sent; tasks appended to a running batch (append_to_batch). Sync and async
clients."""

from __future__ import annotations

import asyncio
import threading
from typing import Dict, Iterator

import pytest

import taskmill
from taskmill import Client, TaskSpec
from taskmill.worker import Task, Worker

from conftest import Cluster, wait_for


@pytest.fixture()
def policy_worker(cluster: Cluster) -> Iterator[Worker]:
    worker = Worker(cluster.backend, queues=["polq"], concurrency=4, worker_id="py-policy",
                    heartbeat_ms=200, drain_timeout=2.0)

    @worker.handler("pol.die")
    def die(task: Task) -> None:
        raise taskmill.PermanentError("it could not", code="bad_input")

    @worker.handler("pol.report")
    def report(task: Task) -> Dict[str, object]:
        return {"parents": {k: v.decode() for k, v in sorted(task.parents.items())},
                "errors": {k: [e.code, e.message, e.retryable]
                           for k, e in sorted(task.parent_errors.items())}}

    @worker.handler("pol.ok")
    def ok(task: Task) -> bytes:
        return b"fine"

    @worker.handler("pol.summary")
    def summary(task: Task) -> Dict[str, object]:
        return {"got": task.json(), "batch_id": task.batch_id}

    @worker.handler("pol.slow")
    def slow(task: Task) -> bytes:
        task.wait_cancelled(30)
        if task.cancelled:
            raise RuntimeError("stopped")
        return b"never"

    thread = threading.Thread(target=worker.run, kwargs={"install_signal_handlers": False})
    thread.start()
    cluster.wait_workers(["py-policy"])
    yield worker
    worker.drain(1.0)
    thread.join(10)
    assert not thread.is_alive()


def _t(name: str, type_: str, deps: tuple = ()) -> TaskSpec:
    return TaskSpec(type=type_, name=name, queue="polq", max_attempts=1,
                    depends_on=list(deps))


def test_continue_gives_children_the_parent_error(client: Client,
                                                  policy_worker: Worker) -> None:
    tasks = [_t("root", "pol.die"), _t("ok", "pol.ok"),
             _t("child", "pol.report", ("root", "ok"))]
    status = client.submit_batch(tasks, on_failure="continue")
    assert status.on_failure == "continue"
    status = client.wait_batch(status.id, timeout=20)
    assert status.state == "partial"
    child = client.get(status.tasks["child"])
    assert child.state == "succeeded"
    assert child.json() == {"parents": {"ok": "fine"},
                            "errors": {"root": ["bad_input", "it could not", False]}}


def test_fail_fast_cancels_the_rest_and_the_running_handler(client: Client,
                                                            policy_worker: Worker) -> None:
    tasks = [_t("slow", "pol.slow"), _t("after", "pol.ok", ("slow",)),
             _t("doomed", "pol.die", ("ok",)), _t("ok", "pol.ok")]
    status = client.submit_batch(tasks, on_failure="fail_fast")
    status = client.wait_batch(status.id, timeout=20)
    assert status.on_failure == "fail_fast"
    assert status.state == "partial"  # ok succeeded before doomed died
    infos = {n: client.get(i) for n, i in status.tasks.items()}
    assert infos["doomed"].state == "failed"
    assert infos["slow"].state == "cancelled" and infos["slow"].attempts == 1
    assert infos["after"].state == "cancelled" and infos["after"].attempts == 0
    counts = {k: n for k, n in status.counts.items() if n}
    assert counts == {"succeeded": 1, "failed": 1, "cancelled": 2}


def test_an_unknown_policy_is_refused_before_sending(client: Client) -> None:
    with pytest.raises(taskmill.InvalidSpec, match="allowed: cancel_dependents, continue, "
                                                    "fail_fast"):
        client.submit_batch([_t("a", "pol.ok")], on_failure="explode")


def test_async_client_sends_the_policy(cluster: Cluster, policy_worker: Worker) -> None:
    async def main() -> None:
        async with taskmill.AsyncClient(cluster.frontend) as client:
            status = await client.submit_batch(
                [_t("root", "pol.die"), _t("child", "pol.report", ("root",))],
                on_failure="continue")
            status = await client.wait_batch(status.id, timeout=20)
            assert status.state == "partial"
            child = await client.get(status.tasks["child"])
            assert child.json()["errors"] == {"root": ["bad_input", "it could not", False]}

    asyncio.run(main())


def test_finally_runs_once_with_the_batch_summary(client: Client,
                                                  policy_worker: Worker) -> None:
    status = client.submit_batch([_t("root", "pol.die"), _t("ok", "pol.ok")],
                                 finally_task=TaskSpec(type="pol.summary", queue="polq"))
    assert status.finally_id
    wait_for(lambda: client.get_batch(status.id).finally_state == "succeeded", 20,
             "the finally task to run")
    out = client.get(status.finally_id)
    assert out.attempts == 1 and out.batch_id == ""
    got = out.json()
    assert got["batch_id"] == ""  # no member of the batch
    summary = got["got"]
    assert summary["batch_id"] == status.id and summary["state"] == "partial"
    assert summary["counts"] == {"failed": 1, "succeeded": 1}
    assert summary["tasks"]["ok"]["output"] == "fine"
    assert summary["tasks"]["root"]["error"]["code"] == "bad_input"
    assert client.get_batch(status.id).state == "partial"


def test_a_finally_task_with_a_payload_is_refused(client: Client) -> None:
    with pytest.raises(taskmill.InvalidSpec, match="batch.finally.payload: must be empty"):
        client.submit_batch([_t("a", "pol.ok")],
                            finally_task=TaskSpec(type="pol.ok", payload=b"x"))


def test_appended_tasks_join_a_running_batch(client: Client, policy_worker: Worker) -> None:
    # `hold` keeps the batch running until it is cancelled; `root` dies first.
    status = client.submit_batch([_t("root", "pol.die"), _t("hold", "pol.slow")],
                                 on_failure="continue")
    wait_for(lambda: client.get(status.tasks["root"]).state == "failed", 20, "root to die")
    # Under continue, a child of the dead stored parent runs, given its error.
    grown = client.append_to_batch(status.id, [_t("child", "pol.report", ("root",))],
                                   labels={"stage": "two"})
    assert grown.id == status.id and grown.total == 3
    assert set(grown.tasks) == {"root", "hold", "child"}
    wait_for(lambda: client.get(grown.tasks["child"]).state == "succeeded", 20,
             "the appended child to run")
    child = client.get(grown.tasks["child"])
    assert child.json()["errors"] == {"root": ["bad_input", "it could not", False]}
    with pytest.raises(taskmill.TaskmillError) as taken:
        client.append_to_batch(status.id, [_t("child", "pol.ok")])
    assert taken.value.code == "conflict" and "already in batch" in str(taken.value)
    client.cancel(status.tasks["hold"])
    final = client.wait_batch(status.id, timeout=20)
    assert final.state == "partial" and final.total == 3
    with pytest.raises(taskmill.TaskmillError) as ended:
        client.append_to_batch(status.id, [_t("late", "pol.ok")])
    assert ended.value.code == "conflict" and "has ended" in str(ended.value)
    with pytest.raises(taskmill.NotFound):
        client.append_to_batch("no-such-batch", [_t("x", "pol.ok")])


def test_an_append_with_the_batchs_own_settings_is_refused_before_sending(
        client: Client) -> None:
    spec = taskmill.BatchSpec(tasks=[_t("a", "pol.ok")], append_to="B1", budget={"usd": 1.0})
    with pytest.raises(taskmill.InvalidSpec, match="batch.budget: must be unset when "
                                                    "append_to is set"):
        client.submit_batch(spec)


def test_async_client_appends(cluster: Cluster) -> None:
    async def main() -> None:
        async with taskmill.AsyncClient(cluster.frontend) as client:
            # A queue nobody serves: the batch stays running.
            status = await client.submit_batch(
                [TaskSpec(type="pol.ok", name="a", queue="nobody-serves")])
            grown = await client.append_to_batch(
                status.id, [TaskSpec(type="pol.ok", name="b", queue="nobody-serves",
                                     depends_on=["a"])])
            assert grown.total == 2 and grown.tasks["a"] == status.tasks["a"]
            b = await client.get(grown.tasks["b"])
            assert b.state == "blocked"
            await client.cancel_batch(status.id)

    asyncio.run(main())
