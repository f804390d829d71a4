"""Issue 22 task options against a real broker, redis-server and C++ worker: expires_in_ms
(the terminal state ``expired``), delay_ms (on the broker's clock) and idempotency_ttl_ms,
from the sync and the async client."""

from __future__ import annotations

import asyncio

import pytest

from taskmill import AsyncClient, Client, TaskFailed

from conftest import Cluster, wait_for


def test_a_task_not_started_in_time_ends_expired(client: Client) -> None:
    # No worker serves this queue: the task waits past its deadline and never runs.
    task_id = client.submit("echo", b"x", queue="pyexpire", expires_in_ms=300)
    [info] = client.wait([task_id], timeout=20)
    assert info.state == "expired"
    assert info.terminal
    assert info.attempts == 0
    assert info.error is not None and info.error.code == "expired"
    assert info.finished_ms - info.created_ms >= 300
    with pytest.raises(TaskFailed) as e:
        client.result(task_id, timeout=5)
    assert e.value.code == "expired"
    [q] = [q for q in client.stats().queues if q.queue == "pyexpire"]
    assert q.expired >= 1


def test_delay_counts_from_the_brokers_clock(client: Client) -> None:
    task_id = client.submit("echo", b"later", delay_ms=500)
    assert client.get(task_id).state == "delayed"
    info = client.result(task_id, timeout=20)
    assert info.started_ms - info.created_ms >= 500


def test_an_idempotency_key_with_its_own_ttl_is_forgotten_after_it(client: Client) -> None:
    first = client.submit("echo", b"k", idempotency_key="py-ttl-1", idempotency_ttl_ms=1000)
    assert client.submit("echo", b"k", idempotency_key="py-ttl-1",
                         idempotency_ttl_ms=1000) == first
    # Redis forgets it on its own clock: resubmit until a new task comes back (bounded).
    again = wait_for(lambda: (lambda i: i if i != first else None)(
        client.submit("echo", b"k", idempotency_key="py-ttl-1", idempotency_ttl_ms=1000)),
        10, "the key to be forgotten")
    assert again != first


def test_async_client_reports_expired(cluster: Cluster) -> None:
    async def main() -> None:
        async with AsyncClient(cluster.frontend) as c:
            handle = await c.submit("echo", b"x", queue="pyexpire", expires_in_ms=200)
            [info] = await c.wait([handle], timeout=20)
            assert info.state == "expired"
            with pytest.raises(TaskFailed) as e:
                await c.result(handle, timeout=5)
            assert e.value.code == "expired"

    asyncio.run(main())


def test_cli_submit_flags(cluster: Cluster) -> None:
    r = cluster.cli("submit", "--type", "echo", "--queue", "pyexpire", "--expires-in",
                    "200ms", "--wait", "--wait-timeout-ms", "10000")
    assert r.returncode == 1, r.stdout + r.stderr
    assert "expired" in r.stdout
    r = cluster.cli("submit", "--type", "echo", "--delay", "10s", "--not-before-ms", "5")
    assert r.returncode == 2
    assert "set one or the other" in r.stderr
