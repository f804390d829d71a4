"""The Client against a real broker, redis-server and C++ workers."""

from __future__ import annotations

import json
import threading
import warnings
from typing import List

import pytest

import taskmill
from taskmill import Client, TaskSpec

from conftest import Cluster, wait_for


def test_submit_wait_get_echo(client: Client) -> None:
    task_id = client.submit("echo", b"hello", labels={"suite": "python"}, priority=5)
    [info] = client.wait([task_id], timeout=20)
    assert info.state == "succeeded"
    assert info.output == b"hello"
    got = client.get(task_id)
    assert got.id == task_id and got.output == b"hello" and got.priority == 5
    assert client.result(task_id).output == b"hello"


def test_unserved_type_warning(client: Client, cluster: Cluster) -> None:
    text = ("no connected worker serves type 'nosuch' in queue 'pywarn'; "
            "its tasks wait until one does")
    with pytest.warns(taskmill.TaskmillWarning) as caught:
        handle = client.submit("nosuch", b"", queue="pywarn")
    assert [str(w.message) for w in caught] == [text]
    with pytest.warns(taskmill.TaskmillWarning, match="no connected worker serves"):
        batch = client.submit_batch([TaskSpec(name="a", type="nosuch", queue="pywarn")])
    with warnings.catch_warnings():
        warnings.simplefilter("error", taskmill.TaskmillWarning)
        client.submit("echo", b"served")  # a served type: no warning
    cli = cluster.cli("submit", "--type", "nosuch", "--queue", "pywarn")
    assert cli.returncode == 0, cli.stderr
    assert cli.stderr == f"taskmill: warning: {text}\n"
    client.cancel_many([handle, batch.tasks["a"], cli.stdout.strip()])


def test_exec_exit_code_and_stdout(client: Client) -> None:
    ok = client.submit("exec", {"argv": ["sh", "-c", "echo out; echo err >&2"]})
    bad = client.submit("exec", {"argv": ["sh", "-c", "echo nope; exit 3"],
                                 "retry_on_nonzero": False}, max_attempts=1)
    a, b = client.wait([ok, bad], timeout=20)
    assert (a.state, a.exit_code, a.stdout, a.stderr) == ("succeeded", 0, b"out\n", b"err\n")
    assert (b.state, b.exit_code, b.stdout) == ("failed", 3, b"nope\n")
    with pytest.raises(taskmill.TaskFailed) as e:
        client.result(bad)
    assert e.value.code == "exit_status"
    assert e.value.attempts == 1
    assert e.value.error is not None and not e.value.error.retryable


def test_submit_many_and_every_spec_field(client: Client) -> None:
    spec = TaskSpec(type="echo", payload=b"x", queue="default", priority=9, max_attempts=2,
                    backoff=taskmill.BackoffPolicy(base_ms=10, max_ms=20, multiplier=1.5,
                                                   jitter=True),
                    timeout_ms=5000, idempotency_key="py-idem-1", labels={"k": "v"})
    ids = client.submit_many([spec, TaskSpec(type="echo", payload=b"y")])
    assert len(ids) == 2
    again = client.submit(spec)
    assert again == ids[0]  # same idempotency key, same task
    infos = client.wait(ids, timeout=20)
    assert [i.output for i in infos] == [b"x", b"y"]


def test_diamond_batch_outputs_flow(client: Client) -> None:
    def cat(name: str, deps: List[str]) -> TaskSpec:
        script = (f"printf '{name}('; for p in $(ls \"$TASKMILL_PARENTS_DIR\" | sort); "
                  "do cat \"$TASKMILL_PARENTS_DIR/$p\"; done; printf ')'")
        payload = json.dumps({"argv": ["sh", "-c", script]}).encode()
        return TaskSpec(type="exec", name=name, payload=payload, depends_on=deps)

    a = TaskSpec(type="exec", name="a", payload=b'{"argv": ["printf", "A"]}')
    status = client.submit_batch([a, cat("b", ["a"]), cat("c", ["a"]),
                                  cat("d", ["b", "c"])], labels={"suite": "py"})
    assert set(status.tasks) == {"a", "b", "c", "d"}
    final = client.wait_batch(status.id, timeout=30)
    assert final.state == "succeeded" and final.total == 4
    out = {t.name: t.output for t in client.get_many(list(status.tasks.values()))}
    assert out == {"a": b"A", "b": b"b(A)", "c": b"c(A)", "d": b"d(b(A)c(A))"}


def test_batch_events_in_order(client: Client) -> None:
    tasks = [TaskSpec(type="echo", name="one", payload=b"1"),
             TaskSpec(type="echo", name="two", payload=b"2", depends_on=["one"])]
    run = client.submit_batch(tasks, subscribe=True)
    events = list(run.subscription)
    types = [e.type for e in events]
    assert types[0] == "batch_started" and types[-1] == "batch_completed"
    done = [e.task_name for e in events if e.type == "task_completed"]
    assert done == ["one", "two"]
    assert events[-1].state == "succeeded" and events[-1].done == 2
    assert not run.subscription.next_event()


def test_subscribe_with_a_callback(client: Client) -> None:
    seen: List[str] = []
    finished = threading.Event()

    def on_event(e: taskmill.Event) -> None:
        seen.append(e.type)
        if e.type == "batch_completed":
            finished.set()

    run = client.submit_batch([TaskSpec(type="echo", name="x")], subscribe=on_event)
    assert finished.wait(20)
    run.subscription.close()
    assert seen[0] == "batch_started" and seen[-1] == "batch_completed"
    assert threading.current_thread().name != "taskmill-client-io"


def test_cancel(client: Client) -> None:
    running = client.submit("sleep", {"ms": 30000})
    wait_for(lambda: client.get(running).state == "running", 10, "the sleep to start")
    later = client.submit("echo", b"later", not_before_ms=2**42)
    assert client.cancel(later, reason="not needed") == 1
    assert client.cancel(running) == 1
    a, b = client.wait([running, later], timeout=10)
    assert a.state == "cancelled" and b.state == "cancelled"
    assert client.cancel(later) == 0
    with pytest.raises(taskmill.TaskFailed) as e:
        client.result(later)
    assert e.value.state == "cancelled"


def test_errors(client: Client, cluster: Cluster) -> None:
    with pytest.raises(taskmill.InvalidSpec) as e:
        client.submit("no spaces allowed")
    assert e.value.code == "invalid_argument"
    # The broker's own check: send a spec past the client-side validation.
    with pytest.raises(taskmill.InvalidSpec) as e:
        client.call(taskmill.messages.Submit(tasks=[TaskSpec(type="x", max_attempts=0)]))
    assert "max_attempts" in e.value.message
    with pytest.raises(taskmill.DependencyCycle):
        client.submit_batch([TaskSpec(type="echo", name="a", depends_on=["b"]),
                             TaskSpec(type="echo", name="b", depends_on=["a"])])
    with pytest.raises(taskmill.NotFound):
        client.get("01NOSUCHTASK0000000000000")
    with pytest.raises(taskmill.NotFound):
        client.get_batch("no-such-batch")
    with pytest.raises(taskmill.TaskmillError) as err:
        client.call(taskmill.messages.Subscribe())
    assert err.value.code in ("invalid_argument", "missing_field", "not_found")


def test_broker_unavailable() -> None:
    import socket
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with Client(f"tcp://127.0.0.1:{port}", request_timeout=0.3) as c:
        with pytest.raises(taskmill.BrokerUnavailable) as e:
            c.stats()
        assert e.value.code == "broker_unavailable"


def test_stats_and_dead_letters(client: Client) -> None:
    dead = client.submit("fail", {"fail_attempts": 9, "retryable": False}, queue="pydlq")
    client.wait([dead], timeout=20)
    stats = client.stats(["pydlq"])
    assert stats.queues[0].queue == "pydlq" and stats.queues[0].dead == 1
    assert any(w.id == "cpp-w1" for w in stats.workers) or stats.workers == []
    letters = client.dead_letters("pydlq")
    assert [t.id for t in letters] == [dead]
    assert letters[0].error is not None and letters[0].error.code == "injected_failure"
    assert client.purge_dead_letters("pydlq", [dead]).ids == [dead]
    assert client.dead_letters("pydlq") == []


def test_queue_limits(client: Client) -> None:
    # Set, shown in STATS, refused with a message naming what is allowed, cleared.
    assert client.set_queue_limit("pylim", rate="30/m", concurrency=2,
                                  key_label="tenant") == "rate=30/m concurrency=2 key=tenant"
    assert client.stats(["pylim"]).queues[0].limit == "rate=30/m concurrency=2 key=tenant"
    with pytest.raises(taskmill.TaskmillError) as e:
        client.set_queue_limit("pylim", cost_rate="usd=5/d")
    assert e.value.code == "invalid_argument"
    assert "NAME=AMOUNT/s|m|h" in str(e.value)
    assert client.stats(["pylim"]).queues[0].limit == "rate=30/m concurrency=2 key=tenant"
    client.clear_queue_limit("pylim")
    assert client.stats(["pylim"]).queues[0].limit == ""


def test_schedules(client: Client) -> None:
    added = client.add_schedule("py-beat", "echo", {"from": "schedule"}, every="1s",
                                queue="pysched", catch_up="once")
    assert added.name == "py-beat" and added.every_ms == 1000 and added.catch_up == "once"
    assert added.next_run_ms > 0 and not added.paused
    try:
        wait_for(lambda: next((s.fired for s in client.schedules() if s.name == "py-beat"), 0)
                 >= 2, 20, "two ticks of py-beat")
        paused = client.pause_schedule("py-beat")
        assert paused.paused and paused.next_run_ms == 0
        resumed = client.resume_schedule("py-beat")
        assert not resumed.paused and resumed.next_run_ms > 0
        cron = client.add_schedule("py-cron", "echo", cron="0 9 * * MON-FRI",
                                   tz="Europe/Paris")
        assert cron.tz == "Europe/Paris" and cron.next_run_ms > 0
        client.remove_schedule("py-cron")
        with pytest.raises(taskmill.InvalidSpec, match="not a time zone"):
            client.add_schedule("py-bad", "echo", cron="0 9 * * *", tz="Mars/Base")
        with pytest.raises(ValueError, match="ms, s, m or h"):
            client.add_schedule("py-bad", "echo", every="5 minutes")
        with pytest.raises(ValueError, match="exactly one of cron"):
            client.add_schedule("py-bad", "echo")
        with pytest.raises(taskmill.NotFound):
            client.pause_schedule("py-nope")
    finally:
        client.remove_schedule("py-beat")
    assert [s.name for s in client.schedules() if s.name.startswith("py-")] == []
