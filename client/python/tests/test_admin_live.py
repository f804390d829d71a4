"""Queue pause/resume and worker quiet/unquiet against a real broker and C++ worker (issue
22), through the sync Client and the AsyncClient."""

from __future__ import annotations

import asyncio

import pytest

import taskmill
from taskmill import AsyncClient, Client

from conftest import Cluster, wait_for


def test_pause_and_resume_a_queue(client: Client, cluster: Cluster) -> None:
    cluster.cpp_worker("py-ctl-q", "--queues", "pyctl,pyctlprobe")
    cluster.wait_workers(["py-ctl-q"])
    paused = client.pause_queue("pyctl")
    assert paused.queue == "pyctl" and paused.paused
    held = client.submit("echo", b"held", queue="pyctl")
    # A probe on the worker's other queue runs: it claims, and leaves the paused queue alone.
    for _ in range(3):
        probe = client.submit("echo", b"probe", queue="pyctlprobe")
        [done] = client.wait([probe], timeout=20)
        assert done.state == "succeeded"
    assert client.get(held).state == "queued"
    assert client.stats(["pyctl"]).queues[0].paused
    resumed = client.resume_queue("pyctl")
    assert not resumed.paused
    [info] = client.wait([held], timeout=20)
    assert info.state == "succeeded"
    assert not client.stats(["pyctl"]).queues[0].paused
    with pytest.raises(taskmill.TaskmillError) as e:
        client.pause_queue("no spaces")
    assert e.value.code == "invalid_argument"
    with pytest.raises(taskmill.InvalidSpec, match="allowed: pause, resume"):
        taskmill.calls.queue_admin("freeze", "pyctl", 1.0)


def test_quiet_and_unquiet_a_worker(client: Client, cluster: Cluster) -> None:
    cluster.cpp_worker("py-ctl-w", "--queues", "pyquiet")
    cluster.wait_workers(["py-ctl-w"])
    w = client.quiet_worker("py-ctl-w")
    assert w.id == "py-ctl-w" and w.quiet and w.broker
    listed = {x.id: x for x in client.stats().workers}
    assert listed["py-ctl-w"].quiet, "STATS shows it quiet"
    job = client.submit("echo", b"later", queue="pyquiet")
    # Still connected (listed) and quiet: the task waits for it.
    assert client.get(job).state == "queued"
    assert not client.unquiet_worker("py-ctl-w").quiet
    [info] = client.wait([job], timeout=20)
    assert info.state == "succeeded" and info.worker == "py-ctl-w"
    with pytest.raises(taskmill.NotFound, match="no live broker knows worker 'nobody'"):
        client.quiet_worker("nobody")


def test_async_client_admin_calls(cluster: Cluster) -> None:
    cluster.cpp_worker("py-ctl-a", "--queues", "pyactl")
    cluster.wait_workers(["py-ctl-a"])

    async def main() -> None:
        async with AsyncClient(cluster.frontend) as client:
            assert (await client.pause_queue("pyactl")).paused
            assert not (await client.resume_queue("pyactl")).paused
            assert (await client.quiet_worker("py-ctl-a")).quiet
            assert not (await client.unquiet_worker("py-ctl-a")).quiet

    asyncio.run(main())
    with Client(cluster.frontend) as c:
        wait_for(lambda: not {x.id: x for x in c.stats().workers}["py-ctl-a"].quiet, 10,
                 "py-ctl-a to be listed as not quiet")
