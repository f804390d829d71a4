"""CURVE: the key-file parser, and the client and worker sockets against a CURVE ROUTER
with a ZAP handler written here (no broker needed)."""

from __future__ import annotations

import asyncio
import os
import re
import stat
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

import pytest
import zmq

import taskmill
from taskmill import codec, curve
from taskmill import messages as m
from taskmill.curve import CurveKeyError
from taskmill.worker import Task, Worker

from conftest import PY_ROOT, stop, wait_for

GOOD = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7"  # a valid Z85 key (40 chars)


# ------------------------------------------------------------------- the parser

def test_generated_files_read_back(tmp_path: Path) -> None:
    key_path, pub_path = curve.generate("alice", str(tmp_path))
    assert (key_path, pub_path) == (str(tmp_path / "alice.key"), str(tmp_path / "alice.pub"))
    assert stat.S_IMODE(os.stat(key_path).st_mode) == 0o600
    public, secret = curve.read_key_pair(key_path)
    assert len(public) == len(secret) == 40
    assert zmq.curve_public(secret) == public
    assert curve.read_public_key(pub_path) == public
    assert curve.read_public_key(key_path) == public
    assert "secret-key" not in Path(pub_path).read_text()
    with pytest.raises(CurveKeyError, match="exists"):
        curve.generate("alice", str(tmp_path))


def test_zcert_layout_with_comments_and_other_lines(tmp_path: Path) -> None:
    public, secret = zmq.curve_keypair()
    path = tmp_path / "czmq.key"
    path.write_text(
        "#   ****  Generated on 2026-11-22 by CZMQ  ****\n"
        "#   ZeroMQ CURVE **Secret** Certificate\n"
        "#   DO NOT PROVIDE THIS FILE TO OTHER USERS nor change its permissions.\n"
        "#   public-key = \"this comment is not a key\"\n\n"
        "metadata\n    name = \"alice\"\ncurve\n"
        f"    public-key = \"{public.decode()}\"\n"
        f"    secret-key = \"{secret.decode()}\"\n")
    assert curve.read_key_pair(str(path)) == (public, secret)


def test_single_quoted_and_unquoted_values(tmp_path: Path) -> None:
    public, secret = zmq.curve_keypair()
    path = tmp_path / "zpl.key"
    path.write_text(f"curve\n    public-key = '{public.decode()}'\n"
                    f"    secret-key = {secret.decode()}\n")
    assert curve.read_key_pair(str(path)) == (public, secret)


def test_only_the_curve_section_counts(tmp_path: Path) -> None:
    public, secret = zmq.curve_keypair()
    other, _ = zmq.curve_keypair()
    path = tmp_path / "sections.key"
    path.write_text(f'metadata\n    public-key = "{other.decode()}"\n'
                    f'public-key = "{other.decode()}"\n'  # a section name, not an entry
                    f'curve\n    public-key = "{public.decode()}"\n'
                    f'    secret-key = "{secret.decode()}"\n'
                    f'extra\n    secret-key = "not even a key"\n')
    assert curve.read_key_pair(str(path)) == (public, secret)


def test_a_repeated_key_is_refused(tmp_path: Path) -> None:
    public, secret = zmq.curve_keypair()
    path = tmp_path / "twice.key"
    path.write_text(f'curve\n    public-key = "{public.decode()}"\n'
                    f'    public-key = "{public.decode()}"\n'
                    f'    secret-key = "{secret.decode()}"\n')
    with pytest.raises(CurveKeyError, match="line 3: public-key given twice"):
        curve.read_key_pair(str(path))


def test_a_huge_file_is_not_a_key_file(tmp_path: Path) -> None:
    path = tmp_path / "huge.pub"
    path.write_text("#" * 70_000 + "\n")
    with pytest.raises(CurveKeyError, match="not a key file"):
        curve.read_public_key(str(path))


def test_literal_z85_public_key() -> None:
    assert curve.read_public_key(GOOD) == GOOD.encode()


@pytest.mark.parametrize("arg, error", [
    ("/nonexistent/broker.pub", "no such CURVE key file"),
    ("short", "no such CURVE key file, and not a 40-character Z85 key"),
    (GOOD[:-1] + "~", "not a Z85 key \\(bad characters '~'\\)"),
    (GOOD[:-2] + ", ", "bad characters ' ,'"),
])
def test_bad_public_key_arguments(arg: str, error: str) -> None:
    with pytest.raises(CurveKeyError, match=error) as info:
        curve.read_public_key(arg)
    assert info.value.code == "invalid_argument"


def test_missing_key_file() -> None:
    with pytest.raises(CurveKeyError, match="/nonexistent/me.key: no such CURVE key file"):
        curve.read_key_pair("/nonexistent/me.key")


def test_wrong_length_in_file(tmp_path: Path) -> None:
    path = tmp_path / "short.pub"
    path.write_text('curve\n    public-key = "abc"\n')
    with pytest.raises(CurveKeyError,
                       match="line 2: public-key: a CURVE key is 40 Z85 characters, not 3"):
        curve.read_public_key(str(path))


def test_wrong_charset_in_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.key"
    public, secret = zmq.curve_keypair()
    path.write_text(f'curve\n    public-key = "{public.decode()}"\n'
                    f'    secret-key = "{secret.decode()[:-1]}~"\n')
    with pytest.raises(CurveKeyError, match="secret-key: not a Z85 key \\(bad characters '~'\\)"):
        curve.read_key_pair(str(path))


def test_key_file_without_secret(tmp_path: Path) -> None:
    _, pub_path = curve.generate("bob", str(tmp_path))
    with pytest.raises(CurveKeyError, match="no secret-key"):
        curve.read_key_pair(pub_path)


def test_file_without_keys(tmp_path: Path) -> None:
    path = tmp_path / "empty.pub"
    path.write_text("#   ZeroMQ CURVE Public Certificate\nmetadata\ncurve\n")
    with pytest.raises(CurveKeyError, match="no public-key in a 'curve' section"):
        curve.read_public_key(str(path))


def test_public_key_must_belong_to_secret(tmp_path: Path) -> None:
    public, _ = zmq.curve_keypair()
    _, secret = zmq.curve_keypair()
    path = tmp_path / "mixed.key"
    path.write_text(f'curve\n    public-key = "{public.decode()}"\n'
                    f'    secret-key = "{secret.decode()}"\n')
    with pytest.raises(CurveKeyError, match="does not belong"):
        curve.read_key_pair(str(path))


def test_load_needs_both_and_falls_back_to_env(tmp_path: Path) -> None:
    key_path, _ = curve.generate("carol", str(tmp_path))
    assert curve.load(env={}) is None
    with pytest.raises(CurveKeyError, match="needs this peer's own key pair"):
        curve.load(GOOD, env={})
    with pytest.raises(CurveKeyError, match="needs the broker's public key"):
        curve.load(None, key_path, env={})
    env = {curve.ENV_SERVER_KEY: GOOD, curve.ENV_KEY_FILE: key_path}
    keys = curve.load(env=env)
    assert keys is not None and keys.server_key == GOOD.encode()
    assert curve.load("", "", env=env) is None  # "" overrides the environment
    assert "secret" not in repr(keys)


def test_constructors_check_keys_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(curve.ENV_SERVER_KEY, GOOD)
    monkeypatch.delenv(curve.ENV_KEY_FILE, raising=False)
    for make in (lambda: taskmill.Client("tcp://127.0.0.1:1"),
                 lambda: taskmill.AsyncClient("tcp://127.0.0.1:1"),
                 lambda: Worker("tcp://127.0.0.1:1")):
        with pytest.raises(CurveKeyError, match="TASKMILL_CURVE_KEY_FILE"):
            make()


# ------------------------------------------------- a CURVE ROUTER with a ZAP handler

Handler = Callable[[bytes, Any], List[Any]]


class CurveRouter:
    """A ROUTER with CURVE on, in its own context, answering with ``handler``; its ZAP
    handler lets in only ``allowed`` client keys (200) and refuses the rest (400). Each
    socket lives on its own thread; ``close()`` ends both."""

    def __init__(self, allowed: List[bytes], handler: Handler) -> None:
        self.public, secret = zmq.curve_keypair()
        self.allowed = set(allowed)
        self.handler = handler
        self.zap_log: List[Tuple[bytes, bytes]] = []  # (client key Z85, status code)
        self.received: List[Tuple[bytes, Any]] = []   # (routing id, message)
        self.ctx = zmq.Context()
        self.zap = self.ctx.socket(zmq.REP)
        self.zap.linger = 0
        self.zap.bind("inproc://zeromq.zap.01")  # before the ROUTER: every handshake asks
        self.router = self.ctx.socket(zmq.ROUTER)
        self.router.linger = 0
        self.router.curve_server = True
        self.router.curve_secretkey = secret
        self.router.bind("tcp://127.0.0.1:0")
        self.endpoint = self.router.getsockopt_string(zmq.LAST_ENDPOINT)
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._serve_zap, daemon=True),
                         threading.Thread(target=self._serve, daemon=True)]
        for t in self._threads:
            t.start()

    def _serve_zap(self) -> None:
        while not self._stop.is_set():
            if not self.zap.poll(50):
                continue
            version, request_id, _domain, _address, _identity, mechanism, *creds = \
                self.zap.recv_multipart()
            key = zmq.utils.z85.encode(creds[0]) if mechanism == b"CURVE" else b""
            status = b"200" if key in self.allowed else b"400"
            self.zap_log.append((key, status))
            self.zap.send_multipart([version, request_id, status,
                                     b"OK" if status == b"200" else b"not allowed",
                                     key, b""])

    def _serve(self) -> None:
        while not self._stop.is_set():
            if not self.router.poll(50):
                continue
            peer, *frames = self.router.recv_multipart()
            msg = codec.decode(frames)
            self.received.append((peer, msg))
            for out in self.handler(peer, msg):
                self.router.send_multipart([peer, *codec.encode(out)])

    def statuses(self, key: bytes) -> List[bytes]:
        return [status for k, status in list(self.zap_log) if k == key]

    def close(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=5)
        self.zap.close()
        self.router.close()
        self.ctx.term()


def answer(peer: bytes, msg: Any) -> List[Any]:
    """SUBMIT gets ids; READY gets one TASK of type 'curve.echo'; the rest nothing."""
    if isinstance(msg, m.Submit):
        return [m.Reply(req_id=msg.req_id, ids=[f"id-{i}" for i in range(len(msg.tasks))])]
    if isinstance(msg, m.Ready):
        return [m.TaskMsg(task_id="t-1", token=7, type="curve.echo", payload=b"over curve")]
    return []


@pytest.fixture()
def keys(tmp_path: Path) -> Dict[str, str]:
    """Key files of an allowed peer ('friend') and of a stranger."""
    return {name: curve.generate(name, str(tmp_path))[0] for name in ("friend", "stranger")}


@pytest.fixture()
def router(keys: Dict[str, str]) -> Iterator[CurveRouter]:
    friend = curve.read_key_pair(keys["friend"])[0]
    r = CurveRouter([friend], answer)
    try:
        yield r
    finally:
        r.close()


def test_allowed_client_round_trip(router: CurveRouter, keys: Dict[str, str]) -> None:
    friend = curve.read_key_pair(keys["friend"])[0]
    with taskmill.Client(router.endpoint, request_timeout=10, heartbeat_ms=0,
                         curve_server_key=router.public.decode(),
                         curve_key_file=keys["friend"]) as client:
        assert client.submit("curve.echo", b"x") == "id-0"
    assert router.statuses(friend) == [b"200"]


def test_async_client_uses_env_defaults(router: CurveRouter, keys: Dict[str, str],
                                         tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    server_pub = tmp_path / "broker.pub"  # the broker's key as a .pub file this time
    server_pub.write_text(f'curve\n    public-key = "{router.public.decode()}"\n')
    monkeypatch.setenv(curve.ENV_SERVER_KEY, str(server_pub))
    monkeypatch.setenv(curve.ENV_KEY_FILE, keys["friend"])

    async def go() -> str:
        async with taskmill.AsyncClient(router.endpoint, heartbeat_ms=0) as client:
            return await client.submit("curve.echo", b"x")

    assert asyncio.run(go()) == "id-0"


def test_stranger_is_refused(router: CurveRouter, keys: Dict[str, str]) -> None:
    stranger = curve.read_key_pair(keys["stranger"])[0]
    with taskmill.Client(router.endpoint, request_timeout=1.5, heartbeat_ms=0,
                         curve_server_key=router.public.decode(),
                         curve_key_file=keys["stranger"]) as client:
        with pytest.raises(taskmill.Unauthorized, match=re.escape(stranger.decode())):
            client.submit("curve.echo", b"x")
    assert router.statuses(stranger) and set(router.statuses(stranger)) == {b"400"}
    assert router.received == []


def test_plain_client_gets_nothing_from_a_curve_router(router: CurveRouter,
                                                      monkeypatch: pytest.MonkeyPatch
                                                      ) -> None:
    monkeypatch.delenv(curve.ENV_SERVER_KEY, raising=False)
    monkeypatch.delenv(curve.ENV_KEY_FILE, raising=False)
    # A long deadline: the router may hang up before the client reads its greeting (a reset
    # drops it), and then only a later dial names the mismatch; the refusal fails the call
    # at once, so this costs nothing when it comes early.
    with taskmill.Client(router.endpoint, request_timeout=8.0, heartbeat_ms=0) as client:
        with pytest.raises(taskmill.Unauthorized, match="requires CURVE"):
            client.submit("curve.echo", b"x")
    assert router.received == []


def test_worker_runs_a_task_over_curve_and_after_a_reconnect(router: CurveRouter,
                                                            keys: Dict[str, str]) -> None:
    friend = curve.read_key_pair(keys["friend"])[0]
    worker = Worker(router.endpoint, worker_id="curve-w", heartbeat_ms=200, liveness=50,
                    drain_timeout=1.0, curve_server_key=router.public.decode(),
                    curve_key_file=keys["friend"])

    @worker.handler("curve.echo")
    def echo(task: Task) -> bytes:
        return task.payload.upper()

    thread = threading.Thread(target=worker.run, kwargs={"install_signal_handlers": False})
    thread.start()
    try:
        def dones() -> List[m.Done]:
            return [msg for _, msg in list(router.received) if isinstance(msg, m.Done)]

        wait_for(dones, 10, "the worker's DONE")
        done = dones()[0]
        assert (done.task_id, done.token, done.ok, done.output) == \
            ("t-1", 7, True, b"OVER CURVE")
        # Each link has a routing id of its own: the worker id and 128 random bits.
        assert router.received[0][0].startswith(b"curve-w.")
        # A reconnect makes a new socket: it must be a CURVE client too.
        worker._request_reconnect()
        wait_for(lambda: len(router.statuses(friend)) >= 2, 10, "a second CURVE handshake")
        wait_for(lambda: len(dones()) >= 2, 10, "the DONE of the TASK after the new READY")
        assert set(router.statuses(friend)) == {b"200"}
    finally:
        worker.drain(0)
        thread.join(timeout=10)
    assert not thread.is_alive()


WORKER_MODULE = """
from taskmill.worker import Worker
worker = Worker(heartbeat_ms=200)

@worker.handler("curve.echo")
def echo(task):
    return task.payload[::-1]
"""


def run_cli_worker(tmp_path: Path, *args: str) -> "subprocess.Popen[bytes]":
    (tmp_path / "curve_cli_worker.py").write_text(WORKER_MODULE)
    env = {k: v for k, v in os.environ.items() if not k.startswith("TASKMILL_CURVE_")}
    env["PYTHONPATH"] = os.pathsep.join([str(PY_ROOT), env.get("PYTHONPATH", "")])
    return subprocess.Popen([sys.executable, "-m", "taskmill.worker", *args,
                             "curve_cli_worker:worker"], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def test_worker_cli_flags(router: CurveRouter, keys: Dict[str, str], tmp_path: Path) -> None:
    proc = run_cli_worker(tmp_path, "--broker", router.endpoint, "--id", "cli-w",
                          "--curve-server-key", router.public.decode(),
                          "--curve-key-file", keys["friend"])
    try:
        wait_for(lambda: any(isinstance(msg, m.Done) for _, msg in list(router.received)),
                 15, "the CLI worker's DONE")
        done = next(msg for _, msg in router.received if isinstance(msg, m.Done))
        assert done.ok and done.output == b"evruc revo"
    finally:
        stop(proc)


def test_worker_cli_takes_a_key_that_starts_with_a_dash() -> None:
    # One Z85 key in 85 starts with '-', which argparse alone reads as a flag.
    from taskmill.worker.__main__ import parse_args
    key = "-" + GOOD[1:]
    args = parse_args(["--curve-server-key", key, "--id", "-w", "--", "mod:worker"])
    assert (args.curve_server_key, args.id, args.target) == (key, "-w", "mod:worker")
    assert parse_args([f"--curve-server-key={key}", "mod:worker"]).curve_server_key == key


def test_worker_cli_refuses_a_server_key_alone(tmp_path: Path) -> None:
    proc = run_cli_worker(tmp_path, "--curve-server-key", GOOD)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 2
    assert b"needs this peer's own key pair" in out
