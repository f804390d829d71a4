"""A refused CURVE key, then allowed: against a real broker, a client's call fails fast with
Unauthorized (naming its public key), and once the key's .pub is in the allow dir and the
broker got SIGHUP, the same Client, AsyncClient or Worker object gets in by redialling."""

from __future__ import annotations

import asyncio
import logging
import shutil
import signal
import tempfile
import threading
import time
from pathlib import Path
from typing import Iterator, Optional

import pytest

import taskmill
from taskmill import curve
from taskmill.worker import Task, Worker

from conftest import wait_for
from test_curve_live import CurveCluster


@pytest.fixture(scope="module")
def redial_cluster() -> Iterator[CurveCluster]:
    with tempfile.TemporaryDirectory(prefix="taskmill-py-redial-") as tmp:
        c = CurveCluster(Path(tmp))
        try:
            yield c
        finally:
            c.close()


def new_key(c: CurveCluster, name: str) -> str:
    """A key pair the broker does not allow yet; returns its .key file."""
    key_file, _ = curve.generate(name, str(c.tmp / "keys"))
    c.keys[name] = key_file
    return key_file


def allow(c: CurveCluster, name: str, role_dir: str = "allow") -> None:
    """Puts ``name``'s .pub into ``role_dir`` (the client dir "allow", or "workers") and has
    the broker reload it (SIGHUP to the broker's PID), waiting until the broker logged the
    reload."""
    log = c.tmp / "broker.log"
    before = log.read_text(errors="replace").count("allow-list reloaded")
    shutil.copy(c.tmp / "keys" / f"{name}.pub", c.tmp / role_dir / f"{name}.pub")
    c.broker.send_signal(signal.SIGHUP)
    wait_for(lambda: log.read_text(errors="replace").count("allow-list reloaded") > before,
             10, "the broker to reload its allow-list")


def stats_or_none(client: taskmill.Client) -> Optional[taskmill.StatsReply]:
    try:
        return client.stats()
    except taskmill.Unauthorized:
        return None


def test_refused_client_fails_fast_then_gets_in_after_sighup(redial_cluster: CurveCluster
                                                            ) -> None:
    c = redial_cluster
    public, secret = curve.read_key_pair(new_key(c, "late-client"))
    with c.client("late-client", request_timeout=10) as client:
        t0 = time.monotonic()
        with pytest.raises(taskmill.Unauthorized) as refused:
            client.stats()
        assert time.monotonic() - t0 < 3, "a refusal must not wait for the 10 s timeout"
        assert refused.value.code == "unauthorized"
        assert public.decode() in refused.value.message
        assert secret.decode() not in str(refused.value)
        # A call while the client waits to redial fails at once, the same way.
        with pytest.raises(taskmill.Unauthorized):
            client.stats()

        allow(c, "late-client")
        wait_for(lambda: stats_or_none(client), 15, "the same client to get in")
        task_ids = client.submit_many([taskmill.TaskSpec(type="noop", queue="late")])
        assert len(task_ids) == 1


def test_refused_async_client_gets_in_after_sighup(redial_cluster: CurveCluster) -> None:
    c = redial_cluster
    public, _ = curve.read_key_pair(new_key(c, "late-async"))

    async def go() -> None:
        async with taskmill.AsyncClient(c.frontend, request_timeout=10,
                                        curve_server_key=c.server_pub,
                                        curve_key_file=c.keys["late-async"]) as client:
            t0 = time.monotonic()
            with pytest.raises(taskmill.Unauthorized) as refused:
                await client.stats()
            assert time.monotonic() - t0 < 3
            assert public.decode() in refused.value.message
            allow(c, "late-async")
            deadline = time.monotonic() + 15
            while True:
                try:
                    await client.stats()
                    return
                except taskmill.Unauthorized:
                    assert time.monotonic() < deadline, "the async client never got in"
                    await asyncio.sleep(0.05)

    asyncio.run(go())


def test_refused_worker_redials_and_runs_a_task_after_sighup(
        redial_cluster: CurveCluster, caplog: pytest.LogCaptureFixture) -> None:
    c = redial_cluster
    public, secret = curve.read_key_pair(new_key(c, "late-worker"))
    # A long liveness (10 s): the worker must get in by its redial, not by a silence timeout.
    worker = Worker(c.backend, queues=["lateq"], worker_id="py-late-w", heartbeat_ms=200,
                    liveness=50, drain_timeout=1.0, curve_server_key=c.server_pub,
                    curve_key_file=c.keys["late-worker"])

    @worker.handler("py.late")
    def shout(task: Task) -> bytes:
        return task.payload.upper()

    caplog.set_level(logging.INFO, logger="taskmill.worker")
    thread = threading.Thread(target=worker.run, kwargs={"install_signal_handlers": False})
    thread.start()
    try:
        with c.client("app", request_timeout=10) as client:
            wait_for(lambda: worker.refused >= 2, 10, "the worker to be refused and redial")
            warnings = [r.getMessage() for r in caplog.records
                        if r.levelno == logging.WARNING and "refused" in r.getMessage()]
            assert any(public.decode() in w for w in warnings), warnings
            assert not any(secret.decode() in r.getMessage() for r in caplog.records)
            assert "py-late-w" not in {w.id for w in client.stats().workers}

            allow(c, "late-worker", "workers")
            wait_for(lambda: "py-late-w" in {w.id for w in client.stats().workers}, 15,
                     "the refused worker to register after the SIGHUP")
            task_id = client.submit("py.late", b"let in", queue="lateq")
            info = client.result(task_id, timeout=20)
        assert (info.output, info.worker) == (b"LET IN", "py-late-w")
    finally:
        worker.drain(0)
        thread.join(10)
    assert not thread.is_alive()
