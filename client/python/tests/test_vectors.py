"""Every vector in shared/protocol/vectors/ encoded and decoded byte for byte."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from taskmill import codec
from taskmill import messages as m
from taskmill.errors import StoreFull, error_from_code

VECTORS = Path(__file__).resolve().parents[3] / "shared" / "protocol" / "vectors"
FILES = sorted(VECTORS.glob("*.json"))


def native(v: Any) -> Any:
    """JSON body -> Python values: {"$bin": hex} becomes bytes."""
    if isinstance(v, dict):
        if set(v) == {"$bin"}:
            return bytes.fromhex(v["$bin"])
        return {k: native(x) for k, x in v.items()}
    if isinstance(v, list):
        return [native(x) for x in v]
    return v


def test_vectors_exist() -> None:
    assert len(FILES) >= 20, VECTORS


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_vector(path: Path) -> None:
    vector = json.loads(path.read_text())
    cls = m.COMMAND_NAMES.get(vector["command"])
    assert cls is not None, f"no typed mapping for command {vector['command']}"
    assert cls.COMMAND == vector["command_byte"]
    frames = [bytes.fromhex(h) for h in vector["frames_hex"]]

    msg = codec.from_wire(cls, native(vector["body"]))
    assert isinstance(msg, cls)
    assert codec.encode(msg) == frames, codec.encode_body(msg).hex()

    decoded = codec.decode(frames)
    assert decoded == msg
    assert codec.encode(decoded) == frames


def test_every_command_has_a_vector() -> None:
    seen = {json.loads(p.read_text())["command"] for p in FILES}
    assert seen == set(m.COMMAND_NAMES)


def test_forbidden_vector_raises_forbidden() -> None:
    """A CURVE key outside its role gets ``forbidden`` (reply_forbidden): its own class."""
    import taskmill
    from taskmill.errors import error_from_code

    body = json.loads((VECTORS / "reply_forbidden.json").read_text())["body"]
    err = error_from_code(body["error"]["code"], body["error"]["message"])
    assert isinstance(err, taskmill.Forbidden) and err.code == "forbidden"
    assert "admin role" in err.message


def test_store_full_is_a_retryable_error() -> None:
    vector = json.loads((VECTORS / "reply_store_full.json").read_text())
    reply = codec.decode([bytes.fromhex(h) for h in vector["frames_hex"]])
    assert reply.error is not None
    err = error_from_code(reply.error.code, reply.error.message)
    assert isinstance(err, StoreFull) and err.code == "store_full" and err.retryable
    assert not error_from_code("invalid_argument", "x").retryable
    assert error_from_code("store_unavailable", "x").retryable
