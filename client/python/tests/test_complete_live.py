"""Completion modes (issue 19) against a real broker: a Python handler hands its task to an
"outside system" (returns Awaiting) and the Python client completes it with the token."""

from __future__ import annotations

import threading
from typing import Dict, Iterator

import pytest

from taskmill import Client, TaskmillError, TaskError, TaskSpec
from taskmill.worker import Awaiting, Poll, Task, Worker

from conftest import Cluster, wait_for


@pytest.fixture()
def tokens(cluster: Cluster) -> Iterator[Dict[str, str]]:
    """Runs a worker serving 'py.hand_over' on queue 'pyawait'; yields the tokens handed out."""
    handed: Dict[str, str] = {}
    worker = Worker(cluster.backend, queues=["pyawait"], concurrency=1, worker_id="py-await",
                    heartbeat_ms=200, drain_timeout=2.0)

    @worker.handler("py.check")
    def check(task: Task) -> object:
        if task.text == "forever":
            return Poll(20, b"x", max_wait_ms=200)
        n = int(task.poll_state or b"0")
        return Poll(20, str(n + 1)) if n < 3 else f"{n} checks, attempt {task.attempt}"

    @worker.handler("py.hand_over")
    def hand_over(task: Task) -> Awaiting:
        handed[task.id] = task.completion_token
        task.add_cost("usd", 0.5)
        return Awaiting(deadline_ms=int(task.text or "0"))

    thread = threading.Thread(target=worker.run, kwargs={"install_signal_handlers": False})
    thread.start()
    cluster.wait_workers(["py-await"])
    yield handed
    worker.drain(1.0)
    thread.join(10)
    assert not thread.is_alive()


def awaiting(client: Client, task_id: str) -> None:
    wait_for(lambda: client.get(task_id).state == "awaiting", 20, f"{task_id} awaiting")


def test_complete_with_token(client: Client, tokens: Dict[str, str]) -> None:
    task_id = client.submit("py.hand_over", queue="pyawait")
    awaiting(client, task_id)
    token = tokens[task_id]
    assert len(token) == 32
    with pytest.raises(TaskmillError) as wrong:
        client.complete(task_id, "f" * 32, "forged")
    assert wrong.value.code == "stale_token"
    assert client.get(task_id).state == "awaiting"
    client.complete(task_id, token, "paid", cost={"usd": 0.25})
    info = client.result(task_id, timeout=20)
    assert info.state == "succeeded"
    assert info.output == b"paid"
    assert info.cost["usd"] == 0.75  # the attempt's 0.5 and the completion's 0.25
    with pytest.raises(TaskmillError) as used:
        client.complete(task_id, token, "again")
    assert used.value.code == "conflict"
    assert client.get(task_id).output == b"paid"


def test_failed_completion_and_deadline(client: Client, tokens: Dict[str, str]) -> None:
    failed = client.submit("py.hand_over", queue="pyawait")
    awaiting(client, failed)
    client.complete(failed, tokens[failed],
                    error=TaskError(code="declined", message="no", retryable=False))
    expired = client.submit(TaskSpec(type="py.hand_over", queue="pyawait", payload=b"150",
                                     max_attempts=1))
    wait_for(lambda: client.get(expired).state == "failed", 20, "the wait to expire")
    assert client.get(expired).error.code == "await_expired"
    assert client.get(failed).state == "failed"
    assert client.get(failed).error.code == "declined"
    with pytest.raises(TaskmillError) as late:
        client.complete(expired, tokens[expired], "late")
    assert late.value.code == "conflict"


def test_cli_and_python_race_one_wins(cluster: Cluster, client: Client,
                                      tokens: Dict[str, str]) -> None:
    task_id = client.submit("py.hand_over", queue="pyawait")
    awaiting(client, task_id)
    cli = cluster.cli("complete", task_id, "--token", tokens[task_id], "--output", "cli")
    assert cli.returncode == 0, cli.stderr
    with pytest.raises(TaskmillError):
        client.complete(task_id, tokens[task_id], "python")
    assert client.result(task_id, timeout=20).output == b"cli"


def test_polled_checks(client: Client, tokens: Dict[str, str]) -> None:
    done = client.submit("py.check", queue="pyawait", max_attempts=1)
    info = client.result(done, timeout=20)
    assert info.output == b"3 checks, attempt 1"
    assert info.attempts == 1
    forever = client.submit(TaskSpec(type="py.check", queue="pyawait", payload=b"forever",
                                     max_attempts=1))
    wait_for(lambda: client.get(forever).state == "failed", 20, "the polls to expire")
    assert client.get(forever).error.code == "poll_expired"
    assert client.get(forever).attempts == 1
