"""Fixtures: a real cluster (broker with its embedded redis-server, C++ workers).

The build dir comes from $TASKMILL_BUILD_DIR (default <repo>/build). When that variable
is unset and the binaries are missing, live tests are skipped; when it is set, missing
binaries are an error. Every process started here is stopped by its PID in teardown.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Optional, Tuple

import pytest

REPO = Path(__file__).resolve().parents[3]
PY_ROOT = Path(__file__).resolve().parents[1]


def build_dir() -> Path:
    return Path(os.environ.get("TASKMILL_BUILD_DIR") or REPO / "build")


def binary(rel: str) -> Path:
    path = build_dir() / rel
    if not path.exists():
        if os.environ.get("TASKMILL_BUILD_DIR"):
            pytest.fail(f"{path} is missing: build the project first")
        pytest.skip(f"{path} is missing (set TASKMILL_BUILD_DIR or build the project)")
    return path


def wait_for(cond: Callable[[], object], timeout: float, what: str) -> object:
    """Polls ``cond`` until it is truthy; fails the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def stop(proc: subprocess.Popen, sig: int = signal.SIGTERM, grace: float = 5.0) -> None:
    """Stops one process we started, by its PID."""
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


def spawn(procs: List[subprocess.Popen], tmp: Path, argv: List[str], name: str,
          env: Optional[Dict[str, str]] = None) -> subprocess.Popen:
    """Starts ``argv`` with its output appended to ``tmp/<name>.log``; adds it to ``procs``
    (what the caller stops, by PID)."""
    with open(tmp / f"{name}.log", "ab") as log:
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env)
    procs.append(proc)
    return proc


def start_broker(procs: List[subprocess.Popen], tmp: Path, name: str,
                 *args: str) -> Tuple[subprocess.Popen, str, str]:
    """A taskmill-broker on loopback ports the kernel picks (log ``tmp/<name>.log``), once
    its ready file is written: (process, frontend, backend)."""
    ready = tmp / f"ready-{name}"
    ready.unlink(missing_ok=True)
    proc = spawn(procs, tmp, [
        str(binary("broker/taskmill-broker")),
        "--frontend", "tcp://127.0.0.1:*", "--backend", "tcp://127.0.0.1:*",
        "--ready-file", str(ready), "--heartbeat-ms", "200", "--http", "127.0.0.1:0",
        *args], name)

    def endpoints() -> Optional[Dict[str, str]]:
        if proc.poll() is not None:
            raise AssertionError(f"{name} exited: {(tmp / f'{name}.log').read_text()}")
        if not ready.exists():
            return None
        lines = dict(line.split("=", 1) for line in ready.read_text().split()
                     if "=" in line)
        return lines if "frontend" in lines and "backend" in lines else None

    found = wait_for(endpoints, 20, f"{name}'s ready file")
    assert isinstance(found, dict)
    return proc, found["frontend"], found["backend"]


class Cluster:
    """A broker and its C++ workers, started by this test session."""

    def __init__(self, tmp: Path, *broker_args: str) -> None:
        self.tmp = tmp
        self.procs: List[subprocess.Popen] = []
        self.broker, self.frontend, self.backend = start_broker(
            self.procs, tmp, "broker", "--data-dir", str(tmp / "data"), *broker_args)

    def _spawn(self, argv: List[str], name: str,
               env: Optional[Dict[str, str]] = None) -> subprocess.Popen:
        return spawn(self.procs, self.tmp, argv, name, env)

    def cpp_worker(self, worker_id: str, *extra: str) -> subprocess.Popen:
        return self._spawn([str(binary("worker/taskmill-worker")), "--broker", self.backend,
                            "--id", worker_id, "--heartbeat-ms", "200", *extra], worker_id)

    def python_worker(self, target: str, worker_id: str, *extra: str,
                      cwd: Optional[Path] = None) -> subprocess.Popen:
        env = dict(os.environ)
        paths = [str(PY_ROOT), str(cwd or PY_ROOT)]
        env["PYTHONPATH"] = os.pathsep.join(paths + [env.get("PYTHONPATH", "")])
        return self._spawn([sys.executable, "-m", "taskmill.worker", "--broker",
                            self.backend, "--id", worker_id, "--heartbeat-ms", "200",
                            *extra, target], worker_id, env)

    def wait_workers(self, ids: List[str], timeout: float = 15) -> None:
        from taskmill import Client, TaskmillError

        def registered(c: Client) -> bool:
            try:
                return set(ids) <= {w.id for w in c.stats().workers}
            except TaskmillError as e:
                # A restarted broker may answer before its embedded Redis has replayed its
                # AOF (slow on a loaded machine): not there yet, ask again.
                if e.code == "store_unavailable":
                    return False
                raise

        with Client(self.frontend, request_timeout=2) as c:
            wait_for(lambda: registered(c), timeout, f"workers {ids} to register")

    def cli(self, *args: str, timeout: float = 30) -> subprocess.CompletedProcess:
        return subprocess.run([str(binary("client/taskmill")), "--broker", self.frontend,
                               *args], capture_output=True, text=True, timeout=timeout)

    def close(self) -> None:
        for proc in reversed(self.procs):
            stop(proc)


@pytest.fixture(scope="session")
def cluster() -> Iterator[Cluster]:
    with tempfile.TemporaryDirectory(prefix="taskmill-py-") as tmp:
        c = Cluster(Path(tmp))
        try:
            c.cpp_worker("cpp-w1", "--concurrency", "4", "--queues", "default,pydlq")
            c.wait_workers(["cpp-w1"])
            yield c
        finally:
            c.close()


@pytest.fixture()
def client(cluster: Cluster) -> Iterator["object"]:
    from taskmill import Client
    with Client(cluster.frontend, request_timeout=10) as c:
        yield c
