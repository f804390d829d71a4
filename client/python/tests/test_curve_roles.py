"""CURVE roles end to end (docs/security.md, "Roles"): a broker with client, worker and
admin allow-list directories, a Python worker with a worker key and Python clients. Each
key does what its role allows, gets Forbidden for the rest, and sees only its own tasks
unless it is an admin."""

from __future__ import annotations

import tempfile
import threading
from pathlib import Path
from typing import Dict, Iterator, Tuple

import pytest

import taskmill
from taskmill import curve
from taskmill.worker import Task, Worker

from conftest import Cluster, wait_for


class RolesCluster(Cluster):
    """'alice' and 'bob' are client keys, 'py-worker' a worker key, 'ops' an admin key."""

    def __init__(self, tmp: Path) -> None:
        keys_dir = tmp / "keys"
        keys_dir.mkdir()
        dirs = {role: tmp / role for role in ("clients", "workers", "admins")}
        for d in dirs.values():
            d.mkdir()
        self.keys: Dict[str, str] = {}
        for name, role in (("broker", ""), ("alice", "clients"), ("bob", "clients"),
                           ("py-worker", "workers"), ("ops", "admins")):
            self.keys[name] = curve.generate(name, str(keys_dir))[0]
            if role:
                (dirs[role] / f"{name}.pub").write_bytes((keys_dir / f"{name}.pub").read_bytes())
        self.server_pub = str(keys_dir / "broker.pub")
        super().__init__(tmp, "--curve-secret-key-file", self.keys["broker"],
                         "--curve-allow-dir", str(dirs["clients"]),
                         "--curve-worker-allow-dir", str(dirs["workers"]),
                         "--curve-admin-allow-dir", str(dirs["admins"]))

    def client(self, name: str) -> taskmill.Client:
        return taskmill.Client(self.frontend, request_timeout=10,
                               curve_server_key=self.server_pub, curve_key_file=self.keys[name])


@pytest.fixture(scope="module")
def roles() -> Iterator[Tuple[RolesCluster, Worker]]:
    with tempfile.TemporaryDirectory(prefix="taskmill-py-roles-") as tmp:
        c = RolesCluster(Path(tmp))
        worker = Worker(c.backend, queues=["rolesq"], worker_id="py-roles-w", heartbeat_ms=200,
                        drain_timeout=2.0, curve_server_key=c.server_pub,
                        curve_key_file=c.keys["py-worker"])

        @worker.handler("py.roles")
        def shout(task: Task) -> bytes:
            return task.payload.upper()

        thread = threading.Thread(target=worker.run, kwargs={"install_signal_handlers": False})
        thread.start()
        try:
            with c.client("ops") as admin:
                wait_for(lambda: "py-roles-w" in {w.id for w in admin.stats().workers}, 15,
                         "the worker key's worker to register")
            yield c, worker
        finally:
            worker.drain(0)
            thread.join(10)
            c.close()


def test_each_key_does_what_its_role_allows(roles: Tuple[RolesCluster, Worker]) -> None:
    c, _ = roles
    with c.client("alice") as alice, c.client("bob") as bob, c.client("ops") as ops, \
            c.client("py-worker") as worker_key:
        task_id = alice.submit("py.roles", b"mine", queue="rolesq")
        assert alice.result(task_id, timeout=20).output == b"MINE"
        # Another client key: alice's task does not exist for it; it cancels nothing.
        with pytest.raises(taskmill.NotFound):
            bob.get(task_id)
        assert bob.cancel_many([task_id]).count == 0
        # The DLQ needs an admin key, and the error says so.
        with pytest.raises(taskmill.Forbidden, match="admin role") as refused:
            bob.dead_letters()
        assert refused.value.code == "forbidden"
        assert isinstance(ops.dead_letters(), list)  # an admin may
        assert ops.get(task_id).output == b"MINE"
        # A worker key may not submit.
        with pytest.raises(taskmill.Forbidden, match="client role"):
            worker_key.submit("py.roles", b"no", queue="rolesq")


def test_a_client_key_cannot_register_as_a_worker(roles: Tuple[RolesCluster, Worker]) -> None:
    c, _ = roles
    intruder = Worker(c.backend, queues=["rolesq"], worker_id="py-client-as-worker",
                      heartbeat_ms=200, drain_timeout=1.0, curve_server_key=c.server_pub,
                      curve_key_file=c.keys["alice"])

    @intruder.handler("py.roles")
    def steal(task: Task) -> bytes:
        return b"stolen"

    thread = threading.Thread(target=intruder.run, kwargs={"install_signal_handlers": False})
    thread.start()
    try:
        log = c.tmp / "broker.log"
        wait_for(lambda: "refused READY from py-client-as-worker" in log.read_text(), 15,
                 "the broker to refuse the client key's READY")
        with c.client("ops") as ops:
            assert "py-client-as-worker" not in {w.id for w in ops.stats().workers}
    finally:
        intruder.drain(0)
        thread.join(10)
