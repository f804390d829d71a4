"""The README's examples are the files in examples/, and they run."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import PY_ROOT, Cluster

EXAMPLES = PY_ROOT / "examples"
README = (PY_ROOT / "README.md").read_text()


@pytest.mark.parametrize("name", ["submit.py", "batch.py", "resize_worker.py", "tasks.py",
                                  "use_tasks.py"])
def test_readme_includes_the_example_verbatim(name: str) -> None:
    blocks = re.findall(r"```python\n(.*?)```", README, re.S)
    assert (EXAMPLES / name).read_text() in blocks


def run_example(cluster: Cluster, name: str) -> str:
    env = dict(os.environ, TASKMILL_BROKER=cluster.frontend,
               PYTHONPATH=os.pathsep.join([str(PY_ROOT), os.environ.get("PYTHONPATH", "")]))
    out = subprocess.run([sys.executable, str(EXAMPLES / name)], env=env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_submit_example_runs(cluster: Cluster) -> None:
    lines = run_example(cluster, "submit.py").splitlines()
    assert lines == ["succeeded 0 hello", "failed: injected_failure after 1 attempt(s)"]


def test_batch_example_runs(cluster: Cluster) -> None:
    lines = run_example(cluster, "batch.py").splitlines()
    assert lines[0].startswith("batch_started")
    assert lines[-2].startswith("batch_completed")
    assert lines[-1] == "succeeded merge(left(fetch())right(fetch()))"


# tasks.py and use_tasks.py run in test_api_live.py (test_the_tasks_example_runs_...).


def test_worker_example_imports() -> None:
    # Serving the CLI's tasks is test_worker_live.py::test_cli_submits_to_a_python_worker.
    sys.path.insert(0, str(EXAMPLES))
    try:
        import resize_worker  # type: ignore[import-not-found]
    finally:
        sys.path.remove(str(EXAMPLES))
    assert set(resize_worker.worker.handlers) == {"resize"}
