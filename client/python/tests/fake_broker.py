"""A broker stand-in for worker tests: a ROUTER on a free loopback port speaking the real
codec, so a test drives one Worker message by message."""

from __future__ import annotations

import socket
import threading
import time
from typing import Any, Callable, List, Optional, Type, TypeVar

import zmq

from taskmill import codec
from taskmill import messages as m
from taskmill.worker import Worker

T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class FakeBroker:
    """ROUTER bound to tcp://127.0.0.1:<free port>; used from the test's thread only."""

    def __init__(self) -> None:
        self.endpoint = f"tcp://127.0.0.1:{free_port()}"
        self.router = zmq.Context.instance().socket(zmq.ROUTER)
        self.router.setsockopt(zmq.LINGER, 0)
        self.router.bind(self.endpoint)
        self.identity = b""
        self.history: List[Any] = []
        self.threads: List[threading.Thread] = []
        self.workers: List[Worker] = []

    def recv(self, timeout: float) -> Optional[Any]:
        if not self.router.poll(max(1, int(timeout * 1000)), zmq.POLLIN):
            return None
        frames = self.router.recv_multipart()
        self.identity = frames[0]
        msg = codec.decode(frames[1:])
        self.history.append(msg)
        return msg

    def wait_for(self, kind: Type[T], timeout: float = 10,
                 pred: Callable[[T], bool] = lambda _: True) -> Optional[T]:
        """The next message of ``kind`` matching ``pred``, skipping others; None at timeout."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            msg = self.recv(left)
            if isinstance(msg, kind) and pred(msg):
                return msg
        return None

    def send(self, msg: Any) -> None:
        self.router.send_multipart([self.identity, *codec.encode(msg)])

    def task(self, task_id: str, type_: str, payload: bytes = b"", token: int = 7,
             timeout_ms: int = 0) -> None:
        self.send(m.TaskMsg(task_id=task_id, token=token, type=type_, queue="q",
                            payload=payload, attempt=1, timeout_ms=timeout_ms))

    def start(self, worker: Worker) -> None:
        """Runs ``worker`` on a thread until close(); waits for its READY."""
        thread = threading.Thread(target=worker.run, kwargs={"install_signal_handlers": False})
        thread.start()
        self.threads.append(thread)
        self.workers.append(worker)
        assert self.wait_for(m.Ready), "no READY from the worker"

    def close(self) -> None:
        for worker in self.workers:
            worker.drain(0.2)
        for thread in self.threads:
            thread.join(10)
            assert not thread.is_alive()
        self.router.close(linger=0)
