"""The Python worker's process pool (processes=N): handlers run in supervised child
processes; a child that dies fails its attempt retryable and is replaced, one that ignores
its timeout or cancel is killed, children are recycled after N tasks or past an RSS cap.
Against a fake broker (no build needed)."""

from __future__ import annotations

import os
import signal
import socket
import struct
import time
from pathlib import Path
from typing import Iterator, Optional

import pytest

from taskmill import messages as m
from taskmill.worker import Task, Worker
from taskmill.worker.pool import FrameReader, encode_frame

from conftest import wait_for
from fake_broker import FakeBroker


@pytest.fixture()
def broker() -> Iterator[FakeBroker]:
    b = FakeBroker()
    yield b
    b.close()


def _pid(task: Task) -> bytes:
    return str(os.getpid()).encode()


def _write_pid(task: Task) -> None:
    Path(task.text).write_text(str(os.getpid()))


def _polite(task: Task) -> bytes:
    _write_pid(task)
    task.cancel_event.wait(30)
    return b"stopped"


def _deaf(task: Task) -> bytes:
    _write_pid(task)
    time.sleep(30)
    return b"too late"


_HOARD = []


def _grow(task: Task) -> bytes:
    _HOARD.append(bytearray(96 << 20))  # zero pages: touch them so they count in RSS
    for i in range(0, len(_HOARD[-1]), 4096):
        _HOARD[-1][i] = 1
    return str(os.getpid()).encode()


def _channel() -> socket.socket:
    """The pool process's end of its channel: the Unix socket whose peer (the process that
    made the socketpair) is the fork server, this process's parent."""
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        try:
            s = socket.socket(fileno=os.dup(fd))
        except OSError:
            continue
        try:
            if s.family == socket.AF_UNIX:
                cred = s.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED,
                                    struct.calcsize("3i"))
                if struct.unpack("3i", cred)[0] == os.getppid():
                    return s
        except OSError:
            pass
        s.close()
    raise RuntimeError("no channel")


def _garble(task: Task) -> bytes:
    """A hostile child: a frame header claiming 4 GiB, then nothing."""
    _channel().sendall(b"\xff\xff\xff\xffD")
    task.cancel_event.wait(30)
    return b""


def _pool_worker(broker: FakeBroker, processes: int = 1, **kw: int) -> Worker:
    w = Worker(broker.endpoint, queues=["q"], worker_id="py-pool", heartbeat_ms=50,
               liveness=100, drain_timeout=0.5, cancel_grace=0.2, processes=processes, **kw)
    w.add_handler("pid", _pid)
    w.add_handler("polite", _polite)
    w.add_handler("deaf", _deaf)
    w.add_handler("grow", _grow)
    w.add_handler("exit", lambda task: os._exit(3))
    w.add_handler("garble", _garble)
    return w


def _started(broker: FakeBroker, tmp_path: Path, type_: str, token: int = 7,
             timeout_ms: int = 0) -> int:
    """Sends T1 of a handler that writes its PID to a file; returns that PID once written."""
    path = tmp_path / "pid"
    broker.task("T1", type_, str(path).encode(), token=token, timeout_ms=timeout_ms)
    wait_for(lambda: path.exists() and path.read_text() != "", 10, "the handler to run")
    return int(path.read_text())


def _run(broker: FakeBroker, task_id: str, type_: str, payload: bytes = b"", token: int = 7,
         timeout_ms: int = 0) -> Optional[m.Done]:
    broker.task(task_id, type_, payload, token=token, timeout_ms=timeout_ms)
    return broker.wait_for(m.Done, pred=lambda d: d.task_id == task_id)


def _pid_of(broker: FakeBroker, task_id: str) -> int:
    done = _run(broker, task_id, "pid")
    assert done is not None and done.ok, done
    return int(done.output)


def _gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except OSError:
        return True


def test_handlers_run_in_a_child_process(broker: FakeBroker) -> None:
    broker.start(_pool_worker(broker, processes=2))
    assert _pid_of(broker, "T1") != os.getpid()


def test_a_child_killed_mid_task_fails_retryable_and_is_replaced(broker: FakeBroker,
                                                                tmp_path: Path) -> None:
    broker.start(_pool_worker(broker))
    child = _started(broker, tmp_path, "polite")
    os.kill(child, signal.SIGKILL)
    done = broker.wait_for(m.Done)
    assert done is not None and not done.ok and done.error is not None
    assert (done.error.code, done.error.retryable) == ("handler_crashed", True)
    assert "SIGKILL" in done.error.message
    assert _pid_of(broker, "T2") not in (child, os.getpid())


def test_a_handler_that_exits_its_process_fails_retryable(broker: FakeBroker) -> None:
    broker.start(_pool_worker(broker))
    done = _run(broker, "T1", "exit")
    assert done is not None and done.error is not None
    assert (done.error.code, done.error.retryable) == ("handler_crashed", True)
    assert "exited with 3" in done.error.message
    _pid_of(broker, "T2")


def test_a_child_sending_a_bad_frame_is_killed_not_the_worker(broker: FakeBroker) -> None:
    broker.start(_pool_worker(broker))
    before = _pid_of(broker, "T0")
    done = _run(broker, "T1", "garble")
    assert done is not None and done.error is not None
    assert (done.error.code, done.error.retryable) == ("handler_crashed", True), done.error
    assert "bad frame" in done.error.message
    wait_for(lambda: _gone(before), 10, f"the garbling process {before} to be killed")
    assert _pid_of(broker, "T2") != before


def test_a_handler_ignoring_its_timeout_is_killed_and_recorded_timeout(
        broker: FakeBroker, tmp_path: Path) -> None:
    broker.start(_pool_worker(broker))
    child = _started(broker, tmp_path, "deaf", timeout_ms=200)
    done = broker.wait_for(m.Done)
    assert done is not None and not done.ok and done.error is not None
    assert (done.error.code, done.error.retryable) == ("timeout", True)
    assert "was killed" in done.error.message
    wait_for(lambda: _gone(child), 10, "the deaf process to end")
    assert _pid_of(broker, "T2") != child


def test_a_handler_ignoring_a_cancel_is_killed_and_recorded_cancelled(
        broker: FakeBroker, tmp_path: Path) -> None:
    broker.start(_pool_worker(broker))
    child = _started(broker, tmp_path, "deaf", token=4)
    broker.send(m.CancelTask(task_id="T1", token=4, reason="user"))
    done = broker.wait_for(m.Done)
    assert done is not None and done.error is not None
    assert (done.error.code, done.error.retryable) == ("cancelled", False)
    assert "was killed" in done.error.message
    wait_for(lambda: _gone(child), 10, "the deaf process to end")


def test_a_handler_honouring_a_cancel_keeps_its_process(broker: FakeBroker,
                                                        tmp_path: Path) -> None:
    broker.start(_pool_worker(broker))
    child = _started(broker, tmp_path, "polite", token=4)
    broker.send(m.CancelTask(task_id="T1", token=4, reason="user"))
    done = broker.wait_for(m.Done)
    assert done is not None and done.error is not None and done.error.code == "cancelled"
    assert "was killed" not in done.error.message
    assert _pid_of(broker, "T2") == child


def test_a_child_is_recycled_after_max_tasks(broker: FakeBroker) -> None:
    broker.start(_pool_worker(broker, max_tasks_per_process=3))
    pids = [_pid_of(broker, f"T{i}") for i in range(7)]
    assert pids[0] == pids[1] == pids[2]
    assert pids[3] == pids[4] == pids[5] != pids[2]
    assert pids[6] != pids[5]


def test_a_child_is_recycled_past_the_memory_cap(broker: FakeBroker) -> None:
    broker.start(_pool_worker(broker, max_memory_per_process_mb=64))
    first = _pid_of(broker, "T1")
    assert _pid_of(broker, "T2") == first  # under the cap: kept
    grown = _run(broker, "T3", "grow")
    assert grown is not None and grown.ok and int(grown.output) == first
    assert _pid_of(broker, "T4") != first


def test_frames_over_the_cap_or_of_unknown_kind_are_refused() -> None:
    a, b = socket.socketpair()
    a.setblocking(False)
    try:
        reader = FrameReader(1024)
        b.sendall(encode_frame(b"D", b"ok") + b"\xff\xff\xff\xffD")
        assert reader.fill(a)
        assert reader.next() == (b"D", b"ok")
        with pytest.raises(Exception, match="over the cap"):
            reader.next()
        reader = FrameReader(1024)
        b.sendall(b"\x01\x00\x00\x00Zx")
        assert reader.fill(a)
        with pytest.raises(Exception, match="unknown frame kind"):
            reader.next()
    finally:
        a.close()
        b.close()
