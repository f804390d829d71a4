"""Client-side spec checks that match the broker's (protocol.md 7.1): label keys, labels
counted with the payload, not_before_ms bounded. No broker needed."""

from __future__ import annotations

import pytest

from taskmill import InvalidSpec, TaskSpec
from taskmill.calls import MAX_NOT_BEFORE_MS, batch_spec, validate_spec


def test_an_empty_label_key_is_refused_with_the_brokers_words() -> None:
    with pytest.raises(InvalidSpec) as e:
        validate_spec(TaskSpec(type="echo", labels={"": "x"}), "tasks[0]")
    assert e.value.message == ("tasks[0].labels: a key of 0 bytes is out of range "
                               "(allowed: 1..256 bytes)")
    with pytest.raises(InvalidSpec):
        batch_spec([TaskSpec(type="echo", name="a")], "", None, {"": "x"})


def test_labels_count_with_the_payload() -> None:
    spec = TaskSpec(type="echo", payload=b"x" * (16 << 20), labels={"k": "v"})
    with pytest.raises(InvalidSpec) as e:
        validate_spec(spec, "tasks[0]")
    assert "payload and labels count together" in e.value.message


def test_not_before_is_bounded() -> None:
    validate_spec(TaskSpec(type="echo", not_before_ms=MAX_NOT_BEFORE_MS), "tasks[0]")
    with pytest.raises(InvalidSpec) as e:
        validate_spec(TaskSpec(type="echo", not_before_ms=2**63 - 1), "tasks[0]")
    assert e.value.message == ("tasks[0].not_before_ms: 9223372036854775807 is out of range "
                               "(allowed: 0..253402300799999, 9999-12-31; 0: now)")


def test_issue_22_task_options_are_checked_as_the_broker_does() -> None:
    ok = TaskSpec(type="echo", delay_ms=10_000, expires_in_ms=30_000, idempotency_key="k",
                  idempotency_ttl_ms=3_600_000)
    validate_spec(ok, "tasks[0]")
    cases = [
        (TaskSpec(type="echo", delay_ms=1, not_before_ms=5),
         "tasks[0].delay_ms and not_before_ms: set one or the other (a relative delay or an "
         "absolute time), not both"),
        (TaskSpec(type="echo", delay_ms=365 * 86_400_000 + 1),
         "tasks[0].delay_ms: 31536000001 is out of range (allowed: 0..31536000000, 365 days; "
         "0: none)"),
        (TaskSpec(type="echo", expires_in_ms=-1),
         "tasks[0].expires_in_ms: -1 is out of range (allowed: 0..31536000000, 365 days; "
         "0: never)"),
        (TaskSpec(type="echo", idempotency_key="k", idempotency_ttl_ms=30 * 86_400_000 + 1),
         "tasks[0].idempotency_ttl_ms: 2592000001 is out of range (allowed: 0..2592000000, "
         "30 days; 0: the broker's --idempotency-ttl)"),
        (TaskSpec(type="echo", idempotency_ttl_ms=1000),
         "tasks[0].idempotency_ttl_ms: needs an idempotency_key (it is that key's TTL)"),
    ]
    for spec, message in cases:
        with pytest.raises(InvalidSpec) as e:
            validate_spec(spec, "tasks[0]")
        assert e.value.message == message
