"""Broker endpoint lists and the failover order (issue 17). Not public API.

``--broker`` / ``TASKMILL_BROKER`` / ``TASKMILL_WORKER_BROKER`` and the clients' endpoint
argument take a comma-separated list, ``tcp://a:5555,tcp://b:5555``; one endpoint works as
before. A client or worker starts at a random position (spreading load over the brokers),
moves to the next endpoint on a loss, round-robin, and after a whole cycle without a
working connection waits the redial backoff before cycling again. It never moves back by
itself when an old broker returns.
"""

from __future__ import annotations

import random
from typing import List, Optional

from taskmill import handshake

SCHEMES = ("tcp://", "ipc://", "inproc://")


class EndpointListError(ValueError):
    """A malformed endpoint list: an empty item or an unknown scheme (a usage error)."""


def parse(text: str) -> List[str]:
    """The endpoints of a comma-separated list, spaces around commas trimmed."""
    items = [item.strip() for item in text.split(",")]
    for i, item in enumerate(items):
        if not item:
            raise EndpointListError(f"broker endpoint list {text!r}: item {i + 1} is empty")
        if not item.startswith(SCHEMES) or len(item) == len(item.split("://")[0]) + 3:
            raise EndpointListError(
                f"broker endpoint list {text!r}: {item!r} is not an endpoint "
                f"(expected {', '.join(s + '...' for s in SCHEMES)})")
    return items


class EndpointRing:
    """Where to connect next. One owner thread (the client's or worker's I/O thread)."""

    def __init__(self, endpoints: List[str], start: Optional[int] = None) -> None:
        assert endpoints, "parse() never returns an empty list"
        self.endpoints = list(endpoints)
        # Index of the endpoint in use: random at first, so clients spread over brokers.
        self.index = random.randrange(len(endpoints)) if start is None else start
        self.failed_moves = 0  # moves since the last connection that worked
        self.moves = 0         # moves in all (a figure for tests and logs)

    @property
    def current(self) -> str:
        return self.endpoints[self.index]

    @property
    def several(self) -> bool:
        """True iff there is another endpoint to move to."""
        return len(self.endpoints) > 1

    def advance(self) -> float:
        """Moves to the next endpoint; returns the seconds to wait before dialling it: 0,
        except after a whole cycle of moves without a working connection (the redial
        backoff, 0.5 s doubling to 5 s; with one endpoint, every move is a whole cycle)."""
        self.index = (self.index + 1) % len(self.endpoints)
        self.failed_moves += 1
        self.moves += 1
        cycles, rest = divmod(self.failed_moves, len(self.endpoints))
        return handshake.redial_delay(cycles) if rest == 0 else 0.0

    def connected(self) -> None:
        """The connection to ``current`` works (its handshake succeeded)."""
        self.failed_moves = 0
