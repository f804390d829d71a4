"""Handshake refusals, as a socket monitor reports them, and the redial backoff.

libzmq 4.3 never retries a connection whose handshake failed for a reason of the security
mechanism (a ZAP refusal of a CURVE key, or a CURVE/NULL mismatch): that socket stays dead.
The client and the worker therefore watch their DEALER's monitor for these two events and,
on one, close the socket and open a new one after ``redial_delay`` (0.5 s doubling to 5 s,
as the C++ client). Only connection events reach the monitor, never messages. Not public API.
"""

from __future__ import annotations

import itertools
from typing import Any, List, Optional, Tuple

import zmq

from taskmill.curve import CurveKeys

# The monitor events the client and worker ask for on top of their own.
EVENTS = (zmq.EVENT_HANDSHAKE_SUCCEEDED | zmq.EVENT_HANDSHAKE_FAILED_AUTH
          | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL)

_MONITORS = itertools.count(1)

REDIAL_FIRST_S = 0.5
REDIAL_MAX_S = 5.0


def redial_delay(refusals: int) -> float:
    """Seconds to wait before the next dial after ``refusals`` refusals in a row (>= 1)."""
    return min(REDIAL_MAX_S, REDIAL_FIRST_S * float(2 ** min(refusals - 1, 16)))


def monitor_address(who: str) -> str:
    """A new inproc address for a monitor. pyzmq's default is named after the socket's
    file descriptor, which a redialled socket may reuse while the old one is being reaped."""
    return f"inproc://taskmill-{who}-monitor-{next(_MONITORS)}"


def read_events(monitor: "zmq.Socket[Any]") -> List[Tuple[int, int]]:
    """Every (event, value) waiting on a monitor socket, without blocking."""
    events: List[Tuple[int, int]] = []
    while True:
        try:
            frames = monitor.recv_multipart(flags=zmq.NOBLOCK)
        except zmq.Again:
            return events
        if frames and len(frames[0]) >= 6:
            events.append((int.from_bytes(frames[0][:2], "little"),
                           int.from_bytes(frames[0][2:6], "little")))


def refusal(event: int, value: int, endpoint: str, curve: Optional[CurveKeys],
            who: str) -> Optional[str]:
    """The message for a handshake refusal libzmq will not retry, or None for any other
    event. ``who`` is "client" or "worker". Names this peer's public key, never its secret."""
    if event == zmq.EVENT_HANDSHAKE_FAILED_AUTH:
        key = curve.public_key.decode() if curve is not None else "(none)"
        return (f"the broker at {endpoint} refused this {who}'s CURVE key {key} "
                f"(ZAP status {value}): its .pub must be in the broker's --curve-allow-dir")
    if event == zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL:
        if value == zmq.PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH:
            if curve is not None:
                return (f"the broker at {endpoint} does not use CURVE, but this {who} does "
                        "(curve_server_key)")
            return (f"the broker at {endpoint} requires CURVE: set curve_server_key and "
                    "curve_key_file")
        hint = "; is curve_server_key the broker's public key?" if curve is not None else ""
        return (f"the handshake with the broker at {endpoint} failed "
                f"(ZMTP protocol error {value:#x}{hint})")
    # EVENT_HANDSHAKE_FAILED_NO_DETAIL is a connection lost during the handshake: libzmq
    # reconnects by itself.
    return None
