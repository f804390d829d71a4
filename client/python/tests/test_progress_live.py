"""Issue 19, progress: an exec task's progress (JSON lines appended to
$TASKMILL_PROGRESS_FILE) reaches a Python client waiting on it through ANOTHER broker (two
real brokers on one redis-server, the C++ worker on broker a, the client on broker b), and
is stored on the task (``get``: ``progress``, ``progress_message``)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import List, Tuple

import pytest

from conftest import binary, wait_for
from taskmill import Client

from test_failover_live import Deployment, deployment  # noqa: F401 - the fixture

# Reports 0.5 "half" (again every half second: a report sent before broker b's watch reached
# broker a goes nowhere), until the test opens the gate, which it does once it has seen
# "half" through broker b (bounded: 30 s); then reports 1.0 "done" and exits.
SCRIPT = r'''
printf 'not json\n' >> "$TASKMILL_PROGRESS_FILE"
i=0
while [ ! -f "$GATE" ] && [ $i -lt 600 ]; do
  if [ $((i % 10)) -eq 0 ]; then
    printf '{"progress": 0.5, "message": "half"}\n' >> "$TASKMILL_PROGRESS_FILE"
  fi
  sleep 0.05; i=$((i+1))
done
printf '{"progress": 1, "message": "done"}' >> "$TASKMILL_PROGRESS_FILE"
'''


# Broker b may not have read the registry entry of a's new worker yet: its SUBMIT warns.
@pytest.mark.filterwarnings("ignore:no connected worker serves")
def test_exec_progress_reaches_a_client_on_another_broker(
        deployment: Deployment, tmp_path: Path) -> None:  # noqa: F811
    d = deployment
    d.spawn([str(binary("worker/taskmill-worker")), "--broker", d.backends["a"],
             "--id", "exec-a", "--heartbeat-ms", "200"], "exec-a")
    wait_for(lambda: d.broker_of("exec-a") == "a", 15, "the worker on broker a")
    gate = tmp_path / "gate"
    seen: List[Tuple[str, float, str]] = []
    half = threading.Event()

    def on_progress(task_id: str, fraction: float, message: str) -> None:
        seen.append((task_id, fraction, message))
        if message == "half":
            half.set()
            gate.touch()

    with Client(d.frontends["b"], request_timeout=10) as client:
        task = client.submit("exec", {"argv": ["sh", "-c", SCRIPT],
                                      "env": {"GATE": str(gate)}})
        [info] = client.wait([task], timeout=60, on_progress=on_progress)
        assert info.state == "succeeded", info
        assert half.is_set(), f"no progress came through broker b: {seen}"
        assert seen[0] == (task, 0.5, "half")
        # The final report is stored before the DONE: never lost to the throttle.
        stored = client.get(task)
        assert (stored.progress, stored.progress_message) == (1.0, "done")
