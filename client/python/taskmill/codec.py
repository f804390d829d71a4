"""The TM1 codec: messages to the three ZeroMQ frames and back, byte for byte like C++.

Encoding follows docs/protocol.md section 2: keys in field-table order, defaults omitted
unless required, smallest integer forms, bytes as bin and text as str, free-form maps
with keys in ascending byte order, and integral doubles written as integers (512.0 is
``cd 02 00``). Decoding (section 3) is bounded by ``DecodeLimits``, ignores unknown keys,
reads nil as absent and raises ``ProtocolError`` with the C++ codec's code and a
``path: what`` message. Pure functions; safe from any thread.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Dict, List, Sequence, Tuple

import msgpack

from taskmill import messages as m
from taskmill.errors import ProtocolError

VERSION = b"TM1"


@dataclass(frozen=True)
class DecodeLimits:
    """Bounds on what one message may declare (the C++ ``DecodeLimits`` defaults)."""

    max_frame_bytes: int = 16 << 20  # body frame cap
    max_array: int = 100_000         # elements in one array
    max_map: int = 10_000            # entries in one map
    max_str: int = 1 << 20           # bytes in one str
    max_bin: int = 16 << 20          # bytes in one bin or ext
    max_depth: int = 16              # nesting of arrays/maps; the body map is depth 1
    max_elements: int = 1_000_000    # array elements + map entries in one message


DEFAULT_LIMITS = DecodeLimits()

# ------------------------------------------------------------------------------ encoding


def _double(v: float) -> Any:
    """Rule 2.4: an integral value in [-2^63, 2^64) is written as an integer."""
    f = float(v)
    if f.is_integer() and -(2.0**63) <= f < 2.0**64:
        return int(f)
    return f


def _bytes(v: Any, path: str) -> bytes:
    if isinstance(v, (bytes, bytearray, memoryview)):
        return bytes(v)
    if isinstance(v, str):
        return v.encode("utf-8", "surrogateescape")
    raise ProtocolError(f"{path}: expected bytes, got {type(v).__name__}", "wrong_type")


def _sorted_map(d: Dict[str, Any]) -> List[Any]:
    return sorted(d.items(), key=lambda kv: kv[0].encode("utf-8", "surrogateescape"))


def _int(v: Any, lo: int, hi: int, path: str) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise ProtocolError(f"{path}: expected integer, got {type(v).__name__}", "wrong_type")
    if not lo <= v <= hi:
        raise ProtocolError(f"{path}: {v} is out of range {lo}..{hi}", "invalid_argument")
    return int(v)


def _encode_value(f: m.Field, v: Any, path: str) -> Any:
    k = f.kind
    if k == m.STR or k == m.ENUM:
        if not isinstance(v, str):
            raise ProtocolError(f"{path}: expected string, got {type(v).__name__}",
                                "wrong_type")
        return v
    if k == m.BIN:
        return _bytes(v, path)
    if k == m.UINT:
        return _int(v, 0, f.max, path)
    if k == m.INT or k == m.OPT_INT:
        return _int(v, f.range[0], f.range[1], path)
    if k == m.DOUBLE:
        return _double(v)
    if k == m.BOOL:
        return bool(v)
    if k == m.STR_LIST:
        return [str(s) for s in v]
    if k == m.STR_MAP:
        return {str(a): str(b) for a, b in _sorted_map(v)}
    if k == m.COST_MAP:
        return {a: _double(b) for a, b in _sorted_map(v)}
    if k == m.BIN_MAP:
        return {a: _bytes(b, f"{path}.{a}") for a, b in _sorted_map(v)}
    if k == m.UINT_MAP:
        return {a: _int(b, 0, m.U32, f"{path}.{a}") for a, b in _sorted_map(v)}
    if k == m.OBJ or k == m.OPT_OBJ:
        return to_wire(v, path)
    if k == m.OBJ_LIST:
        return [to_wire(x, f"{path}[{i}]") for i, x in enumerate(v)]
    raise AssertionError(k)


def _is_default(f: m.Field, v: Any, default: Any) -> bool:
    if f.kind in (m.OPT_OBJ, m.OPT_INT):
        return v is None
    if f.kind in (m.STR_LIST, m.OBJ_LIST, m.STR_MAP, m.COST_MAP, m.BIN_MAP, m.UINT_MAP,
                  m.BIN):
        return len(v) == 0
    if f.kind == m.DOUBLE:
        return float(v) == float(default)
    return bool(v == default)


def to_wire(obj: Any, path: str = "body") -> Dict[str, Any]:
    """The canonical msgpack-ready dict of a message or value (keys in wire order)."""
    cls = type(obj)
    out: Dict[str, Any] = {}
    for f in cls.FIELDS:
        v = getattr(obj, f.name)
        if not f.required and _is_default(f, v, m.default_of(cls, f)):
            continue
        out[f.key] = _encode_value(f, v, f"{f.key}" if path == "body" else f"{path}.{f.key}")
    return out


def encode_body(msg: Any) -> bytes:
    """The msgpack body of a message, canonical (docs/protocol.md section 2)."""
    body: bytes = msgpack.packb(to_wire(msg), use_bin_type=True)
    return body


def encode(msg: Any) -> List[bytes]:
    """The three frames of a message: version, command byte, body."""
    return [VERSION, bytes([msg.COMMAND]), encode_body(msg)]


# ------------------------------------------------------------------------------ decoding

_TYPE_NAMES = {str: "string", bytes: "binary", bool: "boolean", int: "integer",
               float: "float", list: "array", dict: "map", type(None): "nil"}


def _tname(v: Any) -> str:
    return _TYPE_NAMES.get(type(v), "extension")


def _wrong(path: str, expected: str, v: Any) -> ProtocolError:
    return ProtocolError(f"{path}: expected {expected}, got {_tname(v)}", "wrong_type")


def _check_shape(v: Any, limits: DecodeLimits, depth: int, count: List[int]) -> None:
    """Depth and element-count limits, over everything including unknown keys."""
    if isinstance(v, (list, dict)):
        if depth > limits.max_depth:
            raise ProtocolError(f"body: nesting deeper than {limits.max_depth}", "over_limit")
        count[0] += len(v)
        if count[0] > limits.max_elements:
            raise ProtocolError(f"body: more than {limits.max_elements} elements",
                                "over_limit")
        if isinstance(v, dict):
            for key, item in v.items():
                if not isinstance(key, str):
                    raise ProtocolError(f"body: map key must be a string, got {_tname(key)}",
                                        "wrong_type")
                _check_shape(item, limits, depth + 1, count)
        else:
            for item in v:
                _check_shape(item, limits, depth + 1, count)


def _unpack(body: bytes, limits: DecodeLimits) -> Dict[str, Any]:
    if len(body) > limits.max_frame_bytes:
        raise ProtocolError(f"body of {len(body)} bytes is over the limit of "
                            f"{limits.max_frame_bytes}", "bad_frame")
    if not body:
        raise ProtocolError("body: empty", "truncated")
    try:
        value = msgpack.unpackb(
            body, raw=False, unicode_errors="surrogateescape", strict_map_key=True,
            use_list=True, max_str_len=limits.max_str, max_bin_len=limits.max_bin,
            max_array_len=limits.max_array, max_map_len=limits.max_map,
            max_ext_len=limits.max_bin)
    except msgpack.ExtraData:
        raise ProtocolError("body: trailing bytes after the map", "bad_frame") from None
    except msgpack.StackError:
        raise ProtocolError("body: nesting too deep", "over_limit") from None
    except msgpack.FormatError as e:
        raise ProtocolError(f"body: {e}", "wrong_type") from None
    except ValueError as e:  # includes OutOfData and the limit checks
        text = str(e)
        if "exceeds max" in text:
            raise ProtocolError(f"body: {text}", "over_limit") from None
        if "map key" in text:
            raise ProtocolError(f"body: {text}", "wrong_type") from None
        raise ProtocolError(f"body: {text or 'truncated'}", "truncated") from None
    except Exception as e:  # noqa: BLE001 - untrusted input must never escape as a crash
        raise ProtocolError(f"body: {e}", "wrong_type") from None
    if not isinstance(value, dict):
        raise _wrong("body", "map", value)
    _check_shape(value, limits, 1, [0])
    return value


def _read_int(v: Any, lo: int, hi: int, path: str, unsigned: bool) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise _wrong(path, "unsigned integer" if unsigned else "integer", v)
    if unsigned and v < 0:
        raise ProtocolError(f"{path}: must not be negative", "invalid_argument")
    if v > hi:
        raise ProtocolError(f"{path}: {v} is over the maximum of {hi}", "invalid_argument")
    if v < lo:
        raise ProtocolError(f"{path}: {v} is under the minimum of {lo}", "invalid_argument")
    return int(v)


def _read_double(v: Any, path: str) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise _wrong(path, "number", v)
    f = float(v)
    if not math.isfinite(f):
        raise ProtocolError(f"{path}: must be a finite number", "invalid_argument")
    return f


def _read_str(v: Any, path: str) -> str:
    if not isinstance(v, str):
        raise _wrong(path, "string", v)
    return v


def _read_bin(v: Any, path: str) -> bytes:
    if isinstance(v, bytes):
        return bytes(v)
    if isinstance(v, str):  # leniency: a str in a bin field
        return v.encode("utf-8", "surrogateescape")
    raise _wrong(path, "binary", v)


def _read_map(v: Any, path: str, read: Any) -> Dict[str, Any]:
    if not isinstance(v, dict):
        raise _wrong(path, "map", v)
    return {k: read(x, f"{path}.{k}") for k, x in v.items()}


def _read_list(v: Any, path: str, read: Any) -> List[Any]:
    if not isinstance(v, list):
        raise _wrong(path, "array", v)
    return [read(x, f"{path}[{i}]") for i, x in enumerate(v)]


def _decode_value(f: m.Field, v: Any, path: str) -> Any:
    k = f.kind
    if k == m.STR:
        return _read_str(v, path)
    if k == m.ENUM:
        s = _read_str(v, path)
        if s not in f.choices:
            if f.unknown_as:
                return f.unknown_as
            allowed = ", ".join(f.choices)
            raise ProtocolError(
                f"{path}: unknown value '{s}' (allowed: {allowed})", "invalid_argument"
            )
        return s
    if k == m.BIN:
        return _read_bin(v, path)
    if k == m.UINT:
        return _read_int(v, 0, f.max, path, True)
    if k == m.INT or k == m.OPT_INT:
        return _read_int(v, f.range[0], f.range[1], path, False)
    if k == m.DOUBLE:
        return _read_double(v, path)
    if k == m.BOOL:
        if not isinstance(v, bool):
            raise _wrong(path, "boolean", v)
        return v
    if k == m.STR_LIST:
        return _read_list(v, path, _read_str)
    if k == m.STR_MAP:
        return _read_map(v, path, _read_str)
    if k == m.COST_MAP:
        return _read_map(v, path, _read_double)
    if k == m.BIN_MAP:
        return _read_map(v, path, _read_bin)
    if k == m.UINT_MAP:
        return _read_map(v, path, lambda x, p: _read_int(x, 0, m.U32, p, True))
    if k == m.OBJ or k == m.OPT_OBJ:
        assert f.cls is not None
        return from_wire(f.cls, v, path)
    if k == m.OBJ_LIST:
        assert f.cls is not None
        cls = f.cls
        return _read_list(v, path, lambda x, p: from_wire(cls, x, p))
    raise AssertionError(k)


def from_wire(cls: type, value: Any, path: str = "body") -> Any:
    """Builds a ``cls`` from an unpacked map: unknown keys ignored, nil = absent."""
    if not isinstance(value, dict):
        raise _wrong(path, "map", value)
    obj = cls()
    table: Tuple[m.Field, ...] = getattr(cls, "FIELDS")
    for f in table:
        v = value.get(f.key)
        sub = f.key if path == "body" else f"{path}.{f.key}"
        if v is None:
            if f.required:
                where = "" if path == "body" else f"{path}: "
                raise ProtocolError(f"{where}missing required field '{f.key}'",
                                    "missing_field")
            continue
        setattr(obj, f.name, _decode_value(f, v, sub))
    return obj


def decode_body(cls: type, body: bytes, limits: DecodeLimits = DEFAULT_LIMITS) -> Any:
    """Decodes the body of a message of type ``cls``."""
    return from_wire(cls, _unpack(bytes(body), limits))


def decode(frames: Sequence[bytes], limits: DecodeLimits = DEFAULT_LIMITS) -> Any:
    """Decodes the three frames of a message into its dataclass."""
    if len(frames) != 3:
        raise ProtocolError(f"expected 3 frames (version, command, body), got {len(frames)}",
                            "bad_frame")
    version, command, body = (bytes(x) for x in frames)
    if version != VERSION:
        shown = version.decode("utf-8", "replace")
        raise ProtocolError(f"protocol version '{shown}' is not supported "
                            "(this peer speaks TM1)", "unknown_version")
    if len(command) != 1:
        raise ProtocolError(f"command frame must be 1 byte, got {len(command)}",
                            "bad_frame")
    cls = m.BY_COMMAND.get(command[0])
    if cls is None:
        raise ProtocolError(f"unknown command byte 0x{command[0]:02x}", "unknown_command")
    return decode_body(cls, body, limits)
