"""The Python worker's process pool (``processes=N`` / ``--processes N``), as the C++
worker's (docs/architecture.md, "Process pool").

``Worker.run`` forks a fork server (the *zygote*) first, before it starts any thread of its
own; every pool process is forked from it, so it has the handlers registered on the Worker
(closures included, nothing is pickled) and is a single-threaded fork. Each executor thread
drives one pool process over a socketpair carrying ``[u32 LE length][kind][payload]``
frames whose payloads are protocol bodies (``codec.encode_body``). The worker decodes a
child's frames with a cap and the codec's limits: a bad frame kills the child, never the
worker. A child that dies fails its attempt as a retryable ``handler_crashed``; one that
ignores a timeout or cancel for ``cancel_grace`` seconds is killed with whatever it
started (the zygote is a child subreaper); children are replaced after
``max_tasks_per_process`` attempts or past ``max_memory_per_process_mb`` of RSS.
"""

from __future__ import annotations

import ctypes
import logging
import os
import select
import signal
import socket
import struct
import threading
import time
from typing import Any, Callable, Dict, List, Optional, Set, Tuple

from taskmill import codec
from taskmill import messages as m
from taskmill.errors import ProtocolError
from taskmill.worker.handler import Handler, run_attempt
from taskmill.worker.task import Task

log = logging.getLogger("taskmill.worker")

HANDLER_CRASHED = "handler_crashed"
READY, TASK, CANCEL, PROGRESS, DONE = b"R", b"T", b"C", b"P", b"D"
_KINDS = {READY, TASK, CANCEL, PROGRESS, DONE}
_HEADER = struct.Struct("<Ic")
_START_TIMEOUT_S = 10.0
_PR_SET_PDEATHSIG = 1
_PR_SET_CHILD_SUBREAPER = 36


def _prctl(option: int, value: int) -> None:
    try:
        ctypes.CDLL(None, use_errno=True).prctl(option, value, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: best effort
        pass


def frame_cap(max_output_bytes: int) -> int:
    """Largest frame a child may send: the result cap plus room for the DONE's fields."""
    return max_output_bytes + (1 << 20)


def encode_frame(kind: bytes, payload: bytes) -> bytes:
    return _HEADER.pack(len(payload), kind) + payload


class FrameReader:
    """Reassembles frames from a non-blocking socket; refuses a frame over ``cap`` or of
    an unknown kind from its header alone."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.buf = bytearray()

    def fill(self, sock: socket.socket) -> bool:
        """Reads what is there; False once the peer closed (or the read failed)."""
        for _ in range(64):
            try:
                chunk = sock.recv(65536)
            except (BlockingIOError, InterruptedError):
                return True
            except OSError:
                return False
            if not chunk:
                return False
            self.buf += chunk
        return True

    def next(self) -> Optional[Tuple[bytes, bytes]]:
        """The next whole frame, None if incomplete; ProtocolError if it is bad."""
        if len(self.buf) < _HEADER.size:
            return None
        length, kind = _HEADER.unpack_from(self.buf)
        if kind not in _KINDS:
            raise ProtocolError(f"unknown frame kind {kind!r}")
        if length > self.cap:
            raise ProtocolError(f"a frame of {length} bytes, over the cap of {self.cap}")
        if len(self.buf) < _HEADER.size + length:
            return None
        payload = bytes(self.buf[_HEADER.size:_HEADER.size + length])
        del self.buf[:_HEADER.size + length]
        return kind, payload


def _read_exactly(sock: socket.socket, n: int) -> Optional[bytes]:
    out = bytearray()
    while len(out) < n:
        try:
            chunk = sock.recv(n - len(out))
        except InterruptedError:
            continue
        except OSError:
            return None
        if not chunk:
            return None
        out += chunk
    return bytes(out)


def _children_of(parent: int) -> List[int]:
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                stat = f.read(512)
        except OSError:
            continue
        fields = stat[stat.rfind(b")") + 2:].split()
        if len(fields) >= 2 and int(fields[1]) == parent:
            out.append(int(name))
    return out


def _kill_orphans(children: Set[int]) -> None:
    """Kills and reaps what dead pool processes left behind (reparented to the zygote)."""
    for _ in range(16):
        orphans = [p for p in _children_of(os.getpid()) if p not in children]
        if not orphans:
            return
        for pid in orphans:
            for target in (-pid, pid):
                try:
                    os.kill(target, signal.SIGKILL)
                except OSError:
                    pass
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass


def _child_main(sock: socket.socket, handlers: Dict[str, Handler],
                max_output_bytes: int) -> None:
    """A pool process: runs each task it is sent on a thread, forwards cancels to it."""
    lock = threading.Lock()

    def write(kind: bytes, payload: bytes) -> None:
        with lock:
            try:
                sock.sendall(encode_frame(kind, payload))
            except OSError:
                os._exit(0)

    write(READY, b"")
    current: Optional[Task] = None
    runner: Optional[threading.Thread] = None
    while True:
        header = _read_exactly(sock, _HEADER.size)
        if header is None:
            os._exit(0)  # the worker closed the channel: leave, whatever still runs
        length, kind = _HEADER.unpack(header)
        payload = _read_exactly(sock, length) if length else b""
        if payload is None:
            os._exit(0)
        if kind == CANCEL:
            if current is not None:
                current._set_cancelled(payload.decode("utf-8", "replace") or "cancelled")
            continue
        if kind != TASK:
            continue
        msg = codec.decode_body(m.TaskMsg, payload)
        if runner is not None:
            runner.join()
        fn = handlers[msg.type]
        task = Task(msg, lambda p: write(PROGRESS, codec.encode_body(p)))
        current = task

        def attempt(fn: Handler = fn, task: Task = task) -> None:
            write(DONE, codec.encode_body(run_attempt(fn, task, max_output_bytes)))

        runner = threading.Thread(target=attempt, daemon=True)
        runner.start()


class Zygote:
    """The worker's handle on its fork server; thread-safe. ``close()`` ends it and every
    pool process."""

    def __init__(self, handlers: Dict[str, Handler], max_output_bytes: int) -> None:
        self._lock = threading.Lock()
        parent = os.getpid()
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        pid = os.fork()
        if pid == 0:  # the zygote
            try:
                ours.close()
                _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
                if os.getppid() != parent:
                    os._exit(0)
                _prctl(_PR_SET_CHILD_SUBREAPER, 1)
                self._serve(theirs, handlers, max_output_bytes)
            finally:
                os._exit(0)
        theirs.close()
        self.pid = pid
        self._sock = ours

    @staticmethod
    def _serve(sock: socket.socket, handlers: Dict[str, Handler],
               max_output_bytes: int) -> None:
        children: Set[int] = set()
        while True:
            try:
                req = sock.recv(16)
            except InterruptedError:
                continue
            except OSError:
                break
            if not req:
                break
            if req[:1] == b"S":
                a, b = socket.socketpair()
                pid = os.fork()
                if pid == 0:
                    try:
                        sock.close()
                        a.close()
                        _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
                        _child_main(b, handlers, max_output_bytes)
                    finally:
                        os._exit(0)
                b.close()
                children.add(pid)
                socket.send_fds(sock, [struct.pack("<i", pid)], [a.fileno()])
                a.close()
            elif req[:1] == b"R" and len(req) == 5:
                (pid,) = struct.unpack("<i", req[1:])
                status = -1
                if pid in children:
                    children.discard(pid)
                    _, status = os.waitpid(pid, 0)
                    _kill_orphans(children)
                sock.send(struct.pack("<i", status))
        for pid in children:
            try:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
            except OSError:
                pass
        _kill_orphans(set())

    def spawn(self) -> Tuple[int, socket.socket]:
        with self._lock:
            self._sock.send(b"S")
            data, fds, _, _ = socket.recv_fds(self._sock, 4, 1)
            if len(data) != 4 or not fds:
                raise OSError("the fork server is gone")
            (pid,) = struct.unpack("<i", data)
            sock = socket.socket(fileno=fds[0])
            sock.setblocking(False)
            return pid, sock

    def reap(self, pid: int) -> int:
        with self._lock:
            try:
                self._sock.send(b"R" + struct.pack("<i", pid))
                data = self._sock.recv(4)
            except OSError:
                return -1
            return struct.unpack("<i", data)[0] if len(data) == 4 else -1

    def close(self) -> None:
        self._sock.close()
        try:
            os.waitpid(self.pid, 0)
        except ChildProcessError:
            pass


def describe_status(status: int) -> str:
    if status == -1:
        return "status unknown"
    if os.WIFEXITED(status):
        return f"exited with {os.WEXITSTATUS(status)}"
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        return f"killed by signal {sig} ({signal.Signals(sig).name})"
    return f"status {status}"


def rss_bytes(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


class PoolSlot:
    """One executor thread's pool process and its supervision (see the module doc)."""

    def __init__(self, zygote: Zygote, *, max_tasks: int, max_rss_bytes: int,
                 kill_grace: float, max_output_bytes: int) -> None:
        self.zygote = zygote
        self.max_tasks = max_tasks
        self.max_rss_bytes = max_rss_bytes
        self.kill_grace = kill_grace
        self.reader = FrameReader(frame_cap(max_output_bytes))
        self.pid = -1
        self.sock: Optional[socket.socket] = None
        self.tasks = 0
        self.died_at = 0.0  # monotonic time the last process ended; 0: not replacing one
        self.died_why = ""

    def start(self) -> None:
        begin = time.monotonic()
        self.pid, self.sock = self.zygote.spawn()
        self.reader = FrameReader(self.reader.cap)
        self.tasks = 0
        deadline = begin + _START_TIMEOUT_S
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.sock], [], [], left)[0]:
                raise OSError(f"pool process not ready within {_START_TIMEOUT_S:g} s "
                              f"({self.kill()})")
            is_open = self.reader.fill(self.sock)
            frame = self.reader.next()
            if frame is not None and frame[0] == READY:
                break
            if frame is not None or not is_open:
                raise OSError(f"pool process failed to start ({self.kill()})")
        now = time.monotonic()
        if self.died_at:
            log.info("pool process %d ready %.2f ms after its predecessor ended (%s)", self.pid,
                     (now - self.died_at) * 1000, self.died_why)
            self.died_at = 0.0

    def kill(self) -> str:
        pid, sock = self.pid, self.sock
        # The zygote keeps the child's zombie until reap, so this PID is still ours.
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
        if sock is not None:
            sock.close()
        self.pid, self.sock, self.tasks = -1, None, 0
        why = describe_status(self.zygote.reap(pid))
        self.died_at = time.monotonic()
        self.died_why = f"pid {pid} {why}"
        return why

    def tend(self) -> None:
        """Between tasks: replaces a process that died or spoke out of turn; starts one."""
        if self.sock is not None and select.select([self.sock], [], [], 0)[0]:
            pid = self.pid
            log.warning("pool process %d ended or spoke while idle (%s); replacing it", pid,
                        self.kill())
        if self.sock is None:
            try:
                self.start()
            except OSError as e:
                log.error("cannot start a pool process: %s", e)

    def _failed(self, task: Task, started_ms: int, t0: float, code: str, message: str,
                retryable: bool) -> m.Done:
        elapsed = int((time.monotonic() - t0) * 1000)
        log.warning("task %s attempt %d (%s) failed after %d ms: %s: %s", task.id,
                    task.attempt, task.type, elapsed, code, message)
        return m.Done(task_id=task.id, token=task.token, ok=False, started_ms=started_ms,
                      duration_ms=min(m.U32, elapsed), cost={"wall_ms": float(elapsed)},
                      error=m.TaskError(code=code, message=message, retryable=retryable))

    def _crashed(self, task: Task, started_ms: int, t0: float, message: str) -> m.Done:
        """The attempt of a process that died: retryable, whatever the handler did."""
        return self._failed(task, started_ms, t0, HANDLER_CRASHED, message, True)

    def _stopped(self, task: Task, started_ms: int, t0: float, detail: str) -> m.Done:
        reason = task.cancel_reason
        if reason == "timeout":
            return self._failed(task, started_ms, t0, "timeout",
                                f"the attempt ran past its timeout_ms ({task.timeout_ms} ms);"
                                f" {detail}", True)
        if reason == "draining":
            return self._failed(task, started_ms, t0, "drain_timeout", detail, True)
        return self._failed(task, started_ms, t0, "cancelled", f"{reason}: {detail}", False)

    def run(self, msg: m.TaskMsg, task: Task, post: Callable[[Any], None]) -> m.Done:
        started_ms, t0 = int(time.time() * 1000), time.monotonic()
        if self.sock is None:
            try:
                self.start()
            except OSError as e:
                return self._crashed(task, started_ms, t0, str(e))
        pid, sock = self.pid, self.sock
        assert sock is not None
        try:
            sock.settimeout(10.0)  # blocking, bounded; back to non-blocking below
            sock.sendall(encode_frame(TASK, codec.encode_body(msg)))
            sock.setblocking(False)
        except OSError as e:
            return self._crashed(task, started_ms, t0,
                                 f"the pool process (pid {pid}) did not take the task ({e}): "
                                 f"{self.kill()}")
        stopped_at = 0.0
        while True:
            now = time.monotonic()
            if not stopped_at and task.cancelled:
                stopped_at = now
                try:
                    sock.send(encode_frame(CANCEL, task.cancel_reason.encode("utf-8")))
                except OSError:
                    pass  # killed at the grace's end anyway
            if stopped_at and now >= stopped_at + self.kill_grace:
                why = self.kill()
                return self._stopped(task, started_ms, t0,
                                     f"the handler ignored the stop for {self.kill_grace:g} s;"
                                     f" its pool process (pid {pid}) was killed ({why})")
            wait = stopped_at + self.kill_grace - now if stopped_at else 0.05
            if not select.select([sock], [], [], max(0.0, wait))[0]:
                continue
            is_open = self.reader.fill(sock)
            while True:
                try:
                    frame = self.reader.next()
                    if frame is None:
                        break
                    kind, payload = frame
                    if kind == PROGRESS:
                        got = codec.decode_body(m.Progress, payload)
                    elif kind == DONE:
                        got = codec.decode_body(m.Done, payload)
                    else:
                        raise ProtocolError("frame kind out of turn")
                    if got.task_id != task.id or got.token != task.token:
                        raise ProtocolError("not about this attempt")
                except Exception as e:  # noqa: BLE001 - any undecodable frame kills the child
                    return self._crashed(task, started_ms, t0,
                                         f"the pool process (pid {pid}) sent a bad frame ({e}) "
                                         f"and was killed: {self.kill()}")
                if kind == PROGRESS:
                    post(got)
                    continue
                if got.ok and task.cancelled:  # stopped here, not yet there: the stop wins
                    return self._stopped(task, started_ms, t0,
                                         "the handler returned a result after it was stopped;"
                                         " the result is dropped")
                self._after_task()
                assert isinstance(got, m.Done)
                return got
            if not is_open:
                why = self.kill()
                if stopped_at:
                    return self._stopped(task, started_ms, t0, f"its pool process (pid {pid})"
                                                                f" ended after the stop ({why})")
                return self._crashed(task, started_ms, t0,
                                     f"the handler's pool process (pid {pid}) died while "
                                     f"running the attempt ({why}); another one replaces it")

    def _after_task(self) -> None:
        self.tasks += 1
        pid = self.pid
        if self.max_tasks and self.tasks >= self.max_tasks:
            log.info("pool process %d recycled after %d tasks (max_tasks_per_process)", pid,
                     self.tasks)
            self.kill()
            self.died_why = f"pid {pid} recycled after {self.max_tasks} tasks"
            return
        if self.max_rss_bytes:
            rss = rss_bytes(pid)
            if rss > self.max_rss_bytes:
                log.info("pool process %d recycled: RSS %d MiB over "
                         "max_memory_per_process_mb %d", pid, rss >> 20,
                         self.max_rss_bytes >> 20)
                self.kill()
                self.died_why = f"pid {pid} recycled at RSS {rss >> 20} MiB"


class Pool:
    """The zygote and one PoolSlot per executor thread (made on first use)."""

    def __init__(self, handlers: Dict[str, Handler], *, max_tasks: int, max_rss_bytes: int,
                 kill_grace: float, max_output_bytes: int) -> None:
        self.zygote = Zygote(handlers, max_output_bytes)
        self._slot_args: Dict[str, Any] = dict(max_tasks=max_tasks, max_rss_bytes=max_rss_bytes,
                                               kill_grace=kill_grace,
                                               max_output_bytes=max_output_bytes)
        self._local = threading.local()

    def slot(self) -> PoolSlot:
        s: Optional[PoolSlot] = getattr(self._local, "slot", None)
        if s is None:
            s = PoolSlot(self.zygote, **self._slot_args)
            self._local.slot = s
        return s

    def close(self) -> None:
        """Ends the zygote, which kills every pool process."""
        self.zygote.close()
