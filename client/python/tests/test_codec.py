"""Codec rules beyond the vectors: doubles, defaults, leniencies, limits, errors."""

from __future__ import annotations

import msgpack
import pytest

from taskmill import codec
from taskmill import messages as m
from taskmill.errors import ProtocolError


def body(d: object) -> bytes:
    return msgpack.packb(d, use_bin_type=True)


def code_of(cls: type, raw: bytes) -> str:
    with pytest.raises(ProtocolError) as e:
        codec.decode_body(cls, raw)
    return e.value.code


def test_integral_doubles_are_integers() -> None:
    done = m.Done(task_id="t", token=1, ok=True, cost={"a": 512.0, "b": -0.0, "c": 0.5})
    raw = codec.encode_body(done)
    assert bytes.fromhex("a161cd0200") in raw
    assert bytes.fromhex("a16200") in raw
    assert bytes.fromhex("a163cb3fe0000000000000") in raw


def test_defaults_are_omitted_and_required_written() -> None:
    assert codec.encode_body(m.Heartbeat()) == b"\x80"
    assert codec.encode_body(m.BrokerHeartbeat()) == b"\x80"
    raw = codec.encode_body(m.Done(task_id="t"))
    assert codec.decode_body(m.Done, raw) == m.Done(task_id="t")
    assert msgpack.unpackb(raw) == {"task_id": "t", "token": 0, "ok": False}


def test_free_form_maps_are_sorted_by_bytes() -> None:
    spec = m.TaskSpec(type="x", labels={"b": "1", "a": "2", "B": "3"})
    assert list(msgpack.unpackb(codec.encode_body(spec))["labels"]) == ["B", "a", "b"]


def test_unknown_keys_ignored_and_nil_is_absent() -> None:
    raw = body({"free": None, "future": [1, {"x": msgpack.ExtType(5, b"zz")}]})
    assert codec.decode_body(m.Heartbeat, raw) == m.Heartbeat()


def test_leniencies() -> None:
    spec = codec.decode_body(m.TaskSpec, body({"type": "t", "payload": "hi"}))
    assert spec.payload == b"hi"
    ev = codec.decode_body(m.Event, body({"batch_id": "b", "type": "x", "progress": 1}))
    assert ev.progress == 1.0 and isinstance(ev.progress, float)


def test_errors_name_the_path() -> None:
    raw = body({"req_id": 1, "tasks": [{"type": "a"}, {"type": "b", "priority": "hi"}]})
    with pytest.raises(ProtocolError) as e:
        codec.decode_body(m.Submit, raw)
    assert e.value.code == "wrong_type"
    assert e.value.message.startswith("tasks[1].priority: expected unsigned integer")
    with pytest.raises(ProtocolError) as e:
        codec.decode_body(m.Submit, body({"req_id": 1, "tasks": [{"queue": "q"}]}))
    assert e.value.code == "missing_field"
    assert e.value.message == "tasks[0]: missing required field 'type'"
    assert code_of(m.Submit, body({"req_id": 1, "tasks": [{"type": "a",
                                                            "priority": 300}]})) \
        == "invalid_argument"
    assert code_of(m.Heartbeat, body({"free": -1})) == "invalid_argument"
    assert code_of(m.Event, body({"batch_id": "b", "type": "x",
                                  "progress": float("nan")})) == "invalid_argument"
    assert code_of(m.Dlq, body({"req_id": 1, "op": "explode"})) == "invalid_argument"


def test_unknown_state_reads_as_unknown() -> None:
    info = codec.decode_body(m.TaskInfo, body({"id": "x", "state": "teleported"}))
    assert info.state == "unknown"


def test_limits() -> None:
    assert code_of(m.Heartbeat, bytes.fromhex("dfffffffff")) in ("over_limit", "truncated")
    assert code_of(m.Heartbeat, b"") == "truncated"
    assert code_of(m.Heartbeat, b"\x80\x80") == "bad_frame"
    assert code_of(m.Heartbeat, b"\x81\xa1") == "truncated"
    assert code_of(m.Heartbeat, b"\x90") == "wrong_type"
    assert code_of(m.Heartbeat, body({1: 2})) == "wrong_type"
    deep: object = 1
    for _ in range(20):
        deep = [deep]
    assert code_of(m.Heartbeat, body({"x": deep})) == "over_limit"
    small = codec.DecodeLimits(max_str=4)
    with pytest.raises(ProtocolError) as e:
        codec.decode_body(m.Bye, body({"reason": "too long"}), small)
    assert e.value.code == "over_limit"


def test_frames() -> None:
    with pytest.raises(ProtocolError) as e:
        codec.decode([b"TM1", b"\x41"])
    assert e.value.code == "bad_frame"
    with pytest.raises(ProtocolError) as e:
        codec.decode([b"TM9", b"\x41", b"\x80"])
    assert e.value.code == "unknown_version"
    with pytest.raises(ProtocolError) as e:
        codec.decode([b"TM1", b"\x7f", b"\x80"])
    assert e.value.code == "unknown_command"
    assert codec.decode([b"TM1", b"\x62", b"\x80"]) == m.BrokerHeartbeat()


@pytest.mark.parametrize("cls,byte", [(m.GoAway, 0x23), (m.Move, 0x64)])
def test_goaway_and_move_layout(cls: type, byte: int) -> None:
    """Issue 17's GOAWAY (broker -> client) and MOVE (broker -> worker): {"reason": str},
    optional, so the bare message is the empty map 0x80."""
    assert cls.COMMAND == byte
    assert codec.encode(cls()) == [b"TM1", bytes([byte]), b"\x80"]
    with_reason = codec.encode(cls(reason="sigterm"))
    assert with_reason == [b"TM1", bytes([byte]), b"\x81\xa6reason\xa7sigterm"]
    assert codec.decode(with_reason) == cls(reason="sigterm")
    assert codec.decode([b"TM1", bytes([byte]), b"\x80"]) == cls()
    with pytest.raises(ProtocolError):  # reason must be a str
        codec.decode([b"TM1", bytes([byte]), b"\x81\xa6reason\x05"])
