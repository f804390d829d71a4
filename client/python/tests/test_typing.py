"""The package and the README's examples type-check with ``mypy --strict`` (issue 16)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_mypy_strict_passes_on_the_package_examples_and_api_usage() -> None:
    pytest.importorskip("mypy", reason="mypy is installed by scripts/setup.sh")
    targets = ["taskmill", "tests/typed/api_usage.py"]
    targets += sorted(str(p.relative_to(ROOT)) for p in (ROOT / "examples").glob("*.py"))
    r = subprocess.run([sys.executable, "-m", "mypy", "--strict", "--no-incremental",
                        *targets], cwd=ROOT, capture_output=True, text=True, timeout=240)
    assert r.returncode == 0, r.stdout + r.stderr
