"""The Python worker's PROGRESS bounds (no broker): the 50 ms skip, the last skipped report
sent by flush_progress, NaN dropped, clamping and the 512-byte message cut."""

from __future__ import annotations

import types
from typing import Any, List

import pytest

from taskmill import messages as m
from taskmill.worker import task as task_module
from taskmill.worker.task import MAX_PROGRESS_MESSAGE_BYTES, Task, trim_progress_message


@pytest.fixture(autouse=True)
def frozen_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """The task module's clock stands still: the skip is decided by counts, not by speed."""
    monkeypatch.setattr(task_module, "time", types.SimpleNamespace(monotonic=lambda: 100.0))


def make_task() -> "tuple[Task, List[Any]]":
    sent: List[Any] = []
    return Task(m.TaskMsg(task_id="t1", token=7, type="x"), sent.append), sent


def test_a_chatty_handler_sends_one_report_and_its_last_on_flush() -> None:
    task, sent = make_task()
    for i in range(1, 10_001):
        task.progress(i / 20_000, f"step {i}")
    assert len(sent) == 1, "10,000 reports within 50 ms: one goes"
    assert task.progress_skipped == 9_999
    task.flush_progress()
    task.flush_progress()  # nothing held any more
    assert [(p.fraction, p.message) for p in sent] == [(1 / 20_000, "step 1"), (0.5, "step 10000")]
    assert all(p.token == 7 and p.task_id == "t1" for p in sent)


def test_a_final_fraction_always_goes_and_bad_values_are_bounded() -> None:
    task, sent = make_task()
    task.progress(0.1)
    task.progress(5)  # clamped to 1: final, sent despite the skip
    task.progress(float("nan"))  # dropped
    assert [p.fraction for p in sent] == [0.1, 1.0]
    assert len(trim_progress_message("é" * 400).encode()) <= MAX_PROGRESS_MESSAGE_BYTES
    assert trim_progress_message("é" * 400) == "é" * 256
