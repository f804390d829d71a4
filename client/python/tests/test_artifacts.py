"""write_artifacts: names checked before anything is written, uris bound to the task,
sha256 verified (the record is not trusted); vector result_artifacts decodes to Artifacts."""

import hashlib
import os

import pytest

from taskmill import Artifact, TaskInfo, write_artifacts
from taskmill.artifacts import check_artifact_name


def sha(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def test_inline_and_kept_artifacts_are_written(tmp_path):
    store = tmp_path / "store" / "T1" / "2" / "sub"
    store.mkdir(parents=True)
    (store / "big.bin").write_bytes(b"x" * 100)
    task = TaskInfo(id="T1", state="succeeded", artifacts=[
        Artifact(name="a.txt", size=2, sha256=sha(b"hi"), data=b"hi"),
        Artifact(name="sub/big.bin", size=100, sha256=sha(b"x" * 100),
                 uri="file:///elsewhere/T1/2/sub/big.bin"),
    ])
    out = tmp_path / "out"
    written = write_artifacts(task, str(out), artifacts_root=str(tmp_path / "store"))
    assert written == [str(out / "a.txt"), str(out / "sub/big.bin")]
    assert (out / "a.txt").read_bytes() == b"hi"
    assert (out / "sub" / "big.bin").read_bytes() == b"x" * 100


def test_a_dotdot_name_is_refused_before_anything_is_written(tmp_path):
    task = TaskInfo(id="T1", artifacts=[
        Artifact(name="ok.txt", size=2, sha256=sha(b"hi"), data=b"hi"),
        Artifact(name="../escape.txt", size=2, sha256=sha(b"hi"), data=b"hi"),
    ])
    with pytest.raises(ValueError, match="'..' component"):
        write_artifacts(task, str(tmp_path / "out"))
    assert not (tmp_path / "escape.txt").exists()
    assert not (tmp_path / "out" / "ok.txt").exists()
    for bad in ["/etc/passwd", "a//b", ".", "sp ace", "a\\b"]:
        with pytest.raises(ValueError):
            check_artifact_name(bad)


def test_a_foreign_uri_and_a_wrong_sha256_are_refused(tmp_path):
    foreign = TaskInfo(id="T1", artifacts=[
        Artifact(name="passwd", size=1, sha256="0" * 64, uri="file:///etc/passwd")])
    with pytest.raises(ValueError, match="not under"):
        write_artifacts(foreign, str(tmp_path / "out"))
    wrong = TaskInfo(id="T1", artifacts=[
        Artifact(name="a.txt", size=2, sha256=sha(b"no"), data=b"hi")])
    with pytest.raises(ValueError, match="sha256"):
        write_artifacts(wrong, str(tmp_path / "out"))
    assert not os.path.exists(tmp_path / "out" / "a.txt")


def test_async_client_fetches_artifacts(tmp_path):
    """AsyncClient.fetch_artifacts: GET the task, then write its artifacts (as Client's)."""
    import asyncio

    import zmq

    from taskmill import AsyncClient, codec
    from taskmill import messages as m
    from fake_broker import free_port

    endpoint = f"tcp://127.0.0.1:{free_port()}"
    router = zmq.Context.instance().socket(zmq.ROUTER)
    router.setsockopt(zmq.LINGER, 0)
    router.bind(endpoint)
    task = TaskInfo(id="T1", state="succeeded", artifacts=[
        Artifact(name="a.txt", size=2, sha256=sha(b"hi"), data=b"hi")])

    def answer_one_get():
        assert router.poll(5000), "no GET"
        ident, *frames = router.recv_multipart()
        get = codec.decode(frames)
        assert isinstance(get, m.Get) and get.ids == ["T1"]
        router.send_multipart([ident, *codec.encode(m.Reply(req_id=get.req_id, tasks=[task]))])

    async def scenario():
        async with AsyncClient(endpoint, request_timeout=5) as client:
            served = asyncio.ensure_future(asyncio.to_thread(answer_one_get))
            paths = await client.fetch_artifacts("T1", str(tmp_path / "out"))
            await served
            return paths

    try:
        assert asyncio.run(scenario()) == [str(tmp_path / "out" / "a.txt")]
        assert (tmp_path / "out" / "a.txt").read_bytes() == b"hi"
    finally:
        router.close(linger=0)
