#!/usr/bin/env python3
"""Keeps the help texts and the docs honest (issue 16).

1. Every `[env NAME]` that a binary's --help (or a subcommand's) shows is read: a
   subcommand reads none (the CLI's subcommand flags never come from the environment), and
   for a top-level flag that takes a number or a choice, setting NAME to garbage must make
   the binary refuse it, naming NAME. Hand-written usage text may only annotate variables
   some binary's FlagSet also annotates.
2. Every flag that README.md, docs/*.md and the component READMEs show on a taskmill
   command line exists in that binary's --help.
3. Every binary answers --version.

Usage: help_text_test.py SOURCE_DIR BUILD_DIR
"""

from __future__ import annotations

import glob
import os
import re
import subprocess
import sys
from typing import Dict, List, Set, Tuple

ENV_RE = re.compile(r"\[env (TASKMILL_[A-Z0-9_]+)\]")
FLAG_LINE_RE = re.compile(r"^\s+--([a-z0-9][a-z0-9-]*)( VALUE)?\s*$")


def run(argv: List[str], env: Dict[str, str] | None = None) -> Tuple[int, str, str]:
    full = dict(os.environ)
    for name in list(full):
        if name.startswith("TASKMILL_") and name not in ("TASKMILL_BUILD_DIR",):
            del full[name]
    full.update(env or {})
    r = subprocess.run(argv, capture_output=True, text=True, timeout=20, env=full)
    return r.returncode, r.stdout, r.stderr


def flag_sets(help_text: str) -> List[Tuple[str, bool, str]]:
    """(flag, takes a value, its help text with annotations) of a FlagSet usage."""
    out: List[Tuple[str, bool, str]] = []
    lines = help_text.splitlines()
    for i, line in enumerate(lines):
        m = FLAG_LINE_RE.match(line)
        if m:
            out.append((m.group(1), bool(m.group(2)), lines[i + 1] if i + 1 < len(lines) else ""))
    return out


def main() -> int:
    src, build = sys.argv[1], sys.argv[2]
    py_env = {"PYTHONPATH": os.path.join(src, "client", "python")}
    binaries = {
        "taskmill-broker": [os.path.join(build, "broker", "taskmill-broker")],
        "taskmill-worker": [os.path.join(build, "worker", "taskmill-worker")],
        "taskmill": [os.path.join(build, "client", "taskmill")],
        "taskmill-bench": [os.path.join(build, "tests", "bench", "taskmill-bench")],
        "python -m taskmill.worker": [sys.executable, "-m", "taskmill.worker"],
    }
    problems: List[str] = []
    known: Dict[str, Set[str]] = {}
    flagset_envs: Set[str] = set()
    for name, argv in binaries.items():
        if not os.path.exists(argv[0]):
            problems.append(f"{name}: {argv[0]} is missing (build first)")
            continue
        env = py_env if name.startswith("python") else None
        code, out, err = run(argv + ["--version"], env)
        if code != 0 or not re.search(r"\d+\.\d+\.\d+", out + err):
            problems.append(f"{name} --version: exit {code}, said {out + err!r}")
        code, out, err = run(argv + ["--help"], env)
        if code != 0:
            problems.append(f"{name} --help: exit {code}: {err}")
            continue
        known[name] = set(re.findall(r"--[a-z0-9][a-z0-9-]*", out))
        for flag, takes_value, text in flag_sets(out):
            m = ENV_RE.search(text)
            if not m:
                continue
            flagset_envs.add(m.group(1))
            # Numbers and choices refuse garbage: the variable must be read, and named.
            if takes_value and ("(allowed" in text or "one of:" in text or
                                re.search(r"\(default: \d+\)", text)):
                code, _, err2 = run(argv + ["--help"], {m.group(1): "not-a-value"})
                if code == 0 or m.group(1) not in err2:
                    problems.append(f"{name}: --help says --{flag} [env {m.group(1)}], but "
                                    f"{m.group(1)}=not-a-value is not refused (exit {code})")
        if name == "taskmill":
            verbs = set(re.findall(r"^  ([a-z]+)\b", out, re.M)) - {"exit"}
            for verb in sorted(verbs):
                _, vout, _ = run(argv + [verb, "--help"])
                known[name] |= set(re.findall(r"--[a-z0-9][a-z0-9-]*", vout))
                subs = set(re.findall(r"^\s+(?:taskmill )?" + verb + r" ([a-z]+)\b", vout + out,
                                      re.M))
                for sub in sorted(subs):
                    _, sout, _ = run(argv + [verb, sub, "--help"])
                    known[name] |= set(re.findall(r"--[a-z0-9][a-z0-9-]*", sout))
                    vout += sout
                for env_name in ENV_RE.findall(vout):
                    problems.append(f"taskmill {verb} --help advertises [env {env_name}], but "
                                    "a command's flags never come from the environment")
    # Hand-written usage (the CLI's global flags): each variable named must be the one its
    # FlagSet reads for a flag the same text lists (TASKMILL_<FLAG>).
    code, out, _ = run(binaries["taskmill"] + ["--help"])
    listed = {"TASKMILL_" + f[2:].upper().replace("-", "_")
              for f in re.findall(r"--[a-z0-9][a-z0-9-]*", out)}
    for env_name in ENV_RE.findall(out):
        if env_name not in flagset_envs and env_name not in listed:
            problems.append(f"taskmill --help advertises [env {env_name}], which nothing reads")
    for env_name, value in (("TASKMILL_TIMEOUT_MS", "not-a-number"),):
        code, _, err = run(binaries["taskmill"] + ["stats"], {env_name: value})
        if code != 2 or env_name not in err:
            problems.append(f"taskmill: {env_name}={value} is not refused (exit {code})")

    # Documented flags exist.
    docs = [os.path.join(src, "README.md")] + sorted(glob.glob(os.path.join(src, "docs", "*.md")))
    docs += [os.path.join(src, p) for p in ("worker/README.md", "client/README.md",
                                            "client/python/README.md", "broker/README.md")]
    cmd_re = re.compile(r"(?:^|(?<=[\s`(/]))(taskmill(?:-broker|-worker|-bench)?|"
                        r"python3? -m taskmill\.worker)(?=[\s`]|$)")
    for path in docs:
        if not os.path.exists(path):
            continue
        with open(path, encoding="utf-8", errors="replace") as f:
            lines = f.readlines()
        for i, line in enumerate(lines, 1):
            for m in cmd_re.finditer(line):
                binary = m.group(1)
                if binary.startswith("python"):
                    binary = "python -m taskmill.worker"
                if binary not in known or "#" in line[:m.start()]:
                    continue  # unknown binary, or inside a shell comment
                tail = line[m.end():]
                # A command continued with a backslash goes on to the next lines.
                j = i
                while tail.rstrip().endswith("\\") and j < len(lines):
                    tail = tail.rstrip()[:-1] + " " + lines[j]
                    j += 1
                tail = re.split(r"\||;|&&|#|`", tail)[0]
                for flag in re.findall(r"(?<![\w-])--[a-z0-9][a-z0-9-]*", tail):
                    if flag not in known[binary] | {"--help", "--version"}:
                        problems.append(f"{os.path.relpath(path, src)}:{i}: {binary} {flag} "
                                        "is not in its --help")
    for p in problems:
        print(p)
    print(f"{len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
