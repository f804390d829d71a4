"""CURVE end to end: a real broker with --curve-secret-key-file and --curve-allow-dir,
Python clients and a Python worker with keys from `taskmill keygen` and from
taskmill.curve.generate, and peers the broker must refuse."""

from __future__ import annotations

import asyncio
import subprocess
import tempfile
import threading
from pathlib import Path
from typing import Dict, Iterator, Tuple

import pytest

import taskmill
from taskmill import curve
from taskmill.worker import Task, Worker

from conftest import Cluster, binary, wait_for


class CurveCluster(Cluster):
    """A broker with CURVE on. ``keys`` maps a name to its .key file; 'app' is a client key
    (its .pub is in the allow dir), 'py-worker' a worker key (in the workers dir: by default a
    client key may not register as a worker), 'stranger' is in neither."""

    def __init__(self, tmp: Path) -> None:
        keys_dir, allow, workers = tmp / "keys", tmp / "allow", tmp / "workers"
        keys_dir.mkdir()
        allow.mkdir()
        workers.mkdir()
        self.keys: Dict[str, str] = {}
        # The broker's and the app's pairs come from the C++ CLI, the others from Python:
        # both writers' files must be read by both readers.
        for name in ("broker", "app"):
            out = subprocess.run([str(binary("client/taskmill")), "keygen", name, "--dir",
                                  str(keys_dir)], capture_output=True, text=True, timeout=30)
            assert out.returncode == 0, out.stderr
            self.keys[name] = str(keys_dir / f"{name}.key")
        for name in ("py-worker", "stranger", "stranger-w"):
            self.keys[name] = curve.generate(name, str(keys_dir))[0]
        for name, role_dir in (("app", allow), ("py-worker", workers)):
            (role_dir / f"{name}.pub").write_bytes((keys_dir / f"{name}.pub").read_bytes())
        self.server_pub = str(keys_dir / "broker.pub")
        super().__init__(tmp, "--curve-secret-key-file", self.keys["broker"],
                         "--curve-allow-dir", str(allow), "--curve-worker-allow-dir",
                         str(workers))

    def refused(self, name: str) -> bool:
        """True iff the broker logged refusing the public key of ``name``."""
        key = curve.read_key_pair(self.keys[name])[0].decode()
        log = (self.tmp / "broker.log").read_text(errors="replace")
        return any("refused CURVE" in line and key in line for line in log.splitlines())

    def client(self, name: str, **kw: object) -> taskmill.Client:
        return taskmill.Client(self.frontend, curve_server_key=self.server_pub,
                               curve_key_file=self.keys[name], **kw)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def curve_cluster() -> Iterator[Tuple[CurveCluster, Worker]]:
    with tempfile.TemporaryDirectory(prefix="taskmill-py-curve-") as tmp:
        c = CurveCluster(Path(tmp))
        worker = Worker(c.backend, queues=["curveq"], worker_id="py-curve-w",
                        heartbeat_ms=200, drain_timeout=2.0,
                        curve_server_key=c.server_pub, curve_key_file=c.keys["py-worker"])

        @worker.handler("py.curve")
        def shout(task: Task) -> bytes:
            return task.payload.upper()

        thread = threading.Thread(target=worker.run,
                                  kwargs={"install_signal_handlers": False})
        thread.start()
        try:
            with c.client("app", request_timeout=5) as client:
                wait_for(lambda: "py-curve-w" in {w.id for w in client.stats().workers}, 15,
                         "the CURVE worker to register")
            yield c, worker
        finally:
            worker.drain(0)
            thread.join(10)
            c.close()


def test_python_client_and_worker_over_curve(curve_cluster: Tuple[CurveCluster, Worker]
                                             ) -> None:
    c, _ = curve_cluster
    with c.client("app", request_timeout=10) as client:
        task_id = client.submit("py.curve", b"sealed", queue="curveq")
        info = client.result(task_id, timeout=20)
    assert (info.output, info.worker) == (b"SEALED", "py-curve-w")


def test_async_client_with_a_literal_server_key(curve_cluster: Tuple[CurveCluster, Worker]
                                                ) -> None:
    c, _ = curve_cluster
    server_key = curve.read_public_key(c.server_pub).decode()

    async def go() -> bytes:
        async with taskmill.AsyncClient(c.frontend, curve_server_key=server_key,
                                        curve_key_file=c.keys["app"]) as client:
            task_id = await client.submit("py.curve", b"async", queue="curveq")
            return (await client.result(task_id, timeout=20)).output

    assert asyncio.run(go()) == b"ASYNC"


def test_stranger_and_plain_clients_are_refused(curve_cluster: Tuple[CurveCluster, Worker]
                                                ) -> None:
    c, _ = curve_cluster
    with c.client("stranger", request_timeout=10) as client:
        with pytest.raises(taskmill.Unauthorized, match="refused this client's CURVE key"):
            client.stats()
    wait_for(lambda: c.refused("stranger"), 10, "the broker to log refusing the stranger")
    with taskmill.Client(c.frontend, request_timeout=10, curve_server_key="",
                         curve_key_file="") as plain:
        with pytest.raises(taskmill.Unauthorized, match="requires CURVE"):
            plain.stats()


def test_stranger_worker_gets_no_tasks(curve_cluster: Tuple[CurveCluster, Worker]) -> None:
    c, _ = curve_cluster
    stranger = Worker(c.backend, queues=["strangerq"], worker_id="py-stranger",
                      heartbeat_ms=200, drain_timeout=0.5, curve_server_key=c.server_pub,
                      curve_key_file=c.keys["stranger-w"])
    stranger.add_handler("py.curve", lambda task: b"stolen")
    thread = threading.Thread(target=stranger.run, kwargs={"install_signal_handlers": False})
    thread.start()
    try:
        with c.client("app", request_timeout=10) as client:
            task_id = client.submit("py.curve", b"x", queue="strangerq")
            # The refused worker's READY never arrives, so the task waits and nobody is
            # listed. The deadline is the wait; a registration would show up well within it.
            [info] = client.wait([task_id], timeout=3)
            assert info.state == "queued"
            assert "py-stranger" not in {w.id for w in client.stats().workers}
            assert c.refused("stranger-w")
            client.cancel(task_id)
    finally:
        stranger.drain(0)
        thread.join(10)
