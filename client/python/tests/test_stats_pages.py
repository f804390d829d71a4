"""STATS paging: every page gathered, a cursor that does not move refused (no network)."""

from __future__ import annotations

import pytest

from taskmill import calls
from taskmill import messages as m
from taskmill.errors import ProtocolError


def test_pages_are_gathered_until_the_cursor_is_empty() -> None:
    out = calls.StatsReply()
    first = m.Reply(queues=[m.QueueStats(queue="a")], broker=m.BrokerStats(workers=2),
                    next_cursor="q:a")
    assert calls.gather_stats(out, first, "") == "q:a"
    last = m.Reply(queues=[m.QueueStats(queue="b")], workers=[m.WorkerInfo(id="w1")])
    assert calls.gather_stats(out, last, "q:a") is None
    assert [q.queue for q in out.queues] == ["a", "b"]
    assert [w.id for w in out.workers] == ["w1"]
    assert out.broker.workers == 2


def test_a_cursor_that_does_not_move_is_an_error() -> None:
    out = calls.StatsReply()
    with pytest.raises(ProtocolError, match="same cursor twice"):
        calls.gather_stats(out, m.Reply(next_cursor="q:a"), "q:a")


def test_each_page_request_carries_the_cursor() -> None:
    call = calls.stats_page(["x"], "w:w1", 1.0)
    assert call.request == m.Stats(queues=["x"], cursor="w:w1")
