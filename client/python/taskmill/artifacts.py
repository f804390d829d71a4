"""Writing a task's artifacts (docs/protocol.md 7.4.1) to a local directory.

Inline artifacts come from the task record; kept ones are copied from the workers' shared
``--artifacts-dir`` volume, by their ``file://`` uri or, where this host mounts the volume
elsewhere, the same ``<task>/<attempt>/<name>`` under ``artifacts_root``. The record is not
trusted: every name is checked before anything is written, a uri must be this task's
artifact, and each file's size and sha256 are verified (a mismatch removes the file).
"""

import hashlib
import os
import re
from typing import Iterator, List, Optional

from . import messages as m

_PART = re.compile(r"^[A-Za-z0-9_.-]+$")


def check_artifact_name(name: str) -> None:
    """Raises ValueError unless ``name`` is a relative path of ``[A-Za-z0-9_.-]`` names, none
    ``.`` or ``..`` (as the broker checks it): it can never leave the directory it joins."""
    if not name or len(name.encode()) > 255:
        raise ValueError(f"artifact name {name!r} must be 1 to 255 bytes")
    for part in name.split("/"):
        if part in ("", ".", ".."):
            raise ValueError(f"artifact name {name!r} has a {part!r} component")
        if not _PART.match(part):
            raise ValueError(f"artifact name {name!r} may contain only letters, digits, "
                             "'_', '.', '-' and '/' between names")


def _source_path(task: m.TaskInfo, a: m.Artifact, artifacts_root: Optional[str]) -> str:
    if not a.uri.startswith("file://"):
        raise ValueError(f"artifact {a.name}: uri is not file://")
    path = a.uri[len("file://"):]
    tail = "/" + a.name
    if not path.endswith(tail):
        raise ValueError(f"artifact {a.name}: uri does not end in its name")
    parent, _, attempt = path[: -len(tail)].rpartition("/")
    if not attempt.isdigit() or not parent.endswith("/" + task.id):
        raise ValueError(f"artifact {a.name}: uri is not under <artifacts dir>/{task.id}/<attempt>/")
    if artifacts_root is None:
        return path
    return os.path.join(artifacts_root, task.id, attempt, a.name)


def _chunks(task: m.TaskInfo, a: m.Artifact, artifacts_root: Optional[str]) -> Iterator[bytes]:
    if not a.uri:
        yield a.data
        return
    with open(_source_path(task, a, artifacts_root), "rb") as src:
        while chunk := src.read(1 << 16):
            yield chunk


def write_artifacts(task: m.TaskInfo, out_dir: str,
                    artifacts_root: Optional[str] = None) -> List[str]:
    """Writes every artifact of ``task`` as ``out_dir/<name>``; returns the paths written."""
    for a in task.artifacts:
        check_artifact_name(a.name)
    written = []
    for a in task.artifacts:
        dest = os.path.join(out_dir, a.name)
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        digest, size = hashlib.sha256(), 0
        try:
            fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o644)
            with os.fdopen(fd, "wb") as out:
                for chunk in _chunks(task, a, artifacts_root):
                    digest.update(chunk)
                    size += len(chunk)
                    out.write(chunk)
            if size != a.size or digest.hexdigest() != a.sha256:
                raise ValueError(f"artifact {a.name}: content does not match its size and "
                                 "sha256 (changed or damaged since it was kept)")
        except BaseException:
            if os.path.lexists(dest):
                os.remove(dest)
            raise
        written.append(dest)
    return written
