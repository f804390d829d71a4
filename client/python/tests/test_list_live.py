"""LIST and UPDATE against a real broker, redis-server and a C++ worker: every page of a
state, the type filter, a priority change that reorders claims, a promoted delayed task, the
conflicts, batches; the async client too."""

from __future__ import annotations

import asyncio
import time
from typing import List

import pytest

import taskmill
from taskmill import AsyncClient, Client, TaskSpec

from conftest import Cluster, wait_for

# The queues here have no worker on purpose (until one is started): no warning wanted.
pytestmark = pytest.mark.filterwarnings("ignore::taskmill.TaskmillWarning")


def _all(client: Client, queue: str, state: str, limit: int, type: str = "") -> List[str]:
    ids: List[str] = []
    cursor = ""
    for _ in range(100):
        page = client.list_tasks(queue, state, type=type, limit=limit, cursor=cursor)
        ids += [t.id for t in page.tasks]
        if not page.next_cursor:
            return ids
        assert page.next_cursor != cursor, "the cursor did not move"
        cursor = page.next_cursor
    raise AssertionError("more than 100 pages")


def test_list_pages_priority_and_promote(client: Client, cluster: Cluster) -> None:
    # No worker serves pylist yet: everything waits.
    a = client.submit("echo", b"a", queue="pylist")
    b = client.submit("echo", b"b", queue="pylist")
    c = client.submit("echo", b"c", queue="pylist")
    other = client.submit("sleep", {"ms": 1}, queue="pylist")
    later = client.submit("echo", b"d", queue="pylist",
                          not_before_ms=int(time.time() * 1000) + 3_600_000)
    assert _all(client, "pylist", "queued", 2) == [a, b, c, other]
    assert _all(client, "pylist", "queued", 2, type="sleep") == [other]
    delayed = client.list_tasks("pylist", "delayed")
    assert [t.id for t in delayed.tasks] == [later] and delayed.next_cursor == ""
    assert delayed.tasks[0].ready_at_ms > 0 and delayed.tasks[0].output == b""

    # c jumps the queue; the delayed task is promoted behind the others.
    moved = client.set_priority(c, 9)
    assert moved.priority == 9 and moved.state == "queued"
    promoted = client.promote(later)
    assert promoted.state == "queued"
    assert _all(client, "pylist", "queued", 50) == [c, a, b, other, later]
    with pytest.raises(taskmill.TaskmillError) as e:
        client.promote(c)
    assert e.value.code == "conflict" and "queued" in str(e.value)
    with pytest.raises(taskmill.NotFound):
        client.set_priority("01JD0000000000000000000099", 1)
    with pytest.raises(taskmill.InvalidSpec, match="allowed: queued, delayed"):
        client.list_tasks("pylist", "sleeping")
    with pytest.raises(taskmill.InvalidSpec, match="0..255"):
        client.set_priority(c, 256)

    # One slot: the worker claims them in the listed order.
    cluster.cpp_worker("pylist-w", "--concurrency", "1", "--queues", "pylist")
    infos = client.wait([a, b, c, other, later], timeout=30)
    assert all(t.state == "succeeded" for t in infos)
    # Claimed one at a time in that order (equal milliseconds are possible, never a reversal).
    by_id = {t.id: t.started_ms for t in infos}
    order = [by_id[i] for i in (c, a, b, other, later)]
    assert order == sorted(order), order
    done = _all(client, "pylist", "succeeded", 2)
    assert sorted(done) == sorted([a, b, c, other, later]) and len(set(done)) == 5
    assert client.list_tasks("pylist", "queued").tasks == []


def test_list_batches_and_async(client: Client, cluster: Cluster) -> None:
    batch = client.submit_batch([TaskSpec(name="x", type="echo", payload=b"1")])
    client.wait(list(batch.tasks.values()), timeout=20)
    wait_for(lambda: any(b.id == batch.id for b in _batches(client, "succeeded")), 10,
             "the batch to be listed as succeeded")

    async def run() -> None:
        async with AsyncClient(cluster.frontend) as ac:
            seen: set = set()
            cursor = ""
            while True:  # every page: the suite may have finished many default tasks
                page = await ac.list_tasks("default", "succeeded", limit=1000, cursor=cursor)
                seen |= {t.id for t in page.tasks}
                if not page.next_cursor:
                    break
                cursor = page.next_cursor
            assert set(batch.tasks.values()) <= seen
            listed = await ac.list_batches(limit=1000)
            assert batch.id in {b.id for b in listed.batches}
            held = await ac.submit("echo", b"x", queue="pyasync",
                                   not_before_ms=int(time.time() * 1000) + 3_600_000)
            changed = await ac.set_priority(held, 4)
            assert changed.priority == 4 and changed.state == "delayed"
            await ac.cancel(changed.id)

    asyncio.run(run())


def _batches(client: Client, state: str) -> List[taskmill.BatchStatus]:
    out: List[taskmill.BatchStatus] = []
    cursor = ""
    while True:
        page = client.list_batches(state, limit=100, cursor=cursor)
        out += page.batches
        if not page.next_cursor:
            return out
        cursor = page.next_cursor
