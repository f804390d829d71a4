"""``python -m taskmill.worker [flags] module:attr``: serve a Worker's handlers.

``module:attr`` names a ``taskmill.worker.Worker`` (``module`` is imported from the
current directory or PYTHONPATH). Flags override the Worker's own settings; each may also
come from ``TASKMILL_<FLAG>`` as for taskmill-worker. Exits 0 after a drain (SIGTERM or
SIGINT, or the broker's DRAIN), 2 on a usage error.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from typing import List, Optional

from taskmill import __version__, curve
from taskmill import endpoints as ep
from taskmill.worker.runtime import ENV_WORKER_BROKER, Worker


def _env(name: str) -> Optional[str]:
    return os.environ.get("TASKMILL_" + name.upper().replace("-", "_")) or None


def parse_args(argv: Optional[List[str]]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m taskmill.worker",
                                description="Serve a taskmill Worker's Python handlers.")
    p.add_argument("target", help="module:attr naming a taskmill.worker.Worker")
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    # TASKMILL_BROKER is the clients' port: a worker reads TASKMILL_WORKER_BROKER.
    p.add_argument("--broker", default=os.environ.get(ENV_WORKER_BROKER) or None,
                   help="broker worker (backend) endpoint, or a comma-separated list of them "
                        "to fail over between (default tcp://127.0.0.1:5556) "
                        f"[env {ENV_WORKER_BROKER}]")
    p.add_argument("--queues", default=_env("queues"), help="comma-separated queues")
    p.add_argument("--concurrency", type=int, default=_env("concurrency"))
    p.add_argument("--id", default=_env("id"), help="worker id")
    p.add_argument("--heartbeat-ms", type=int, default=_env("heartbeat-ms"))
    p.add_argument("--liveness", type=int, default=_env("liveness"))
    p.add_argument("--drain-timeout-ms", type=int, default=_env("drain-timeout-ms"))
    p.add_argument("--cancel-grace-ms", type=int, default=_env("cancel-grace-ms"),
                   help="how long a handler may run on after its timeout or cancel before "
                        "its attempt is reported and its slot counted lost (default 5000)")
    p.add_argument("--processes", type=int, default=_env("processes"),
                   help="run handlers in N supervised child processes, one task at a time "
                        "each (sets --concurrency to N); 0: in this process")
    p.add_argument("--max-tasks-per-process", type=int, default=_env("max-tasks-per-process"),
                   help="with --processes: replace a child after N tasks (0: never)")
    p.add_argument("--max-memory-per-process-mb", type=int,
                   default=_env("max-memory-per-process-mb"),
                   help="with --processes: replace a child whose RSS is over N MiB after a "
                        "task (0: no cap)")
    p.add_argument("--labels", default=_env("labels"), help="k=v,k2=v2")
    p.add_argument("--curve-server-key", default=_env("curve-server-key"),
                   help="the broker's CURVE public key: a .pub/.key file or 40 Z85 chars")
    p.add_argument("--curve-key-file", default=_env("curve-key-file"),
                   help="this worker's CURVE key pair (a .key file of taskmill keygen)")
    p.add_argument("--log-level", default=_env("log-level") or "info")
    return p.parse_args(_joined(p, sys.argv[1:] if argv is None else argv))


def _joined(p: argparse.ArgumentParser, argv: List[str]) -> List[str]:
    """``--flag value`` as ``--flag=value``: argparse takes a value that starts with '-' (a
    Z85 key may) only in the second form, and the C++ binaries take both."""
    takes_value = {s for a in p._actions if a.nargs is None for s in a.option_strings}
    out: List[str] = []
    i = 0
    while i < len(argv):
        if argv[i] == "--":
            return out + argv[i:]
        if argv[i] in takes_value and i + 1 < len(argv):
            out.append(f"{argv[i]}={argv[i + 1]}")
            i += 2
        else:
            out.append(argv[i])
            i += 1
    return out


def load(target: str) -> Worker:
    module_name, _, attr = target.partition(":")
    if not module_name or not attr:
        raise SystemExit(f"taskmill.worker: target '{target}' must be module:attr")
    if "" not in sys.path and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    worker = getattr(importlib.import_module(module_name), attr, None)
    if not isinstance(worker, Worker):
        raise SystemExit(f"taskmill.worker: {target} is not a taskmill.worker.Worker")
    return worker


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.broker:
        try:
            ep.parse(args.broker)
        except ep.EndpointListError as e:
            print(f"taskmill.worker: --broker: {e}", file=sys.stderr)
            return 2
    try:
        worker = load(args.target)  # a Worker(...) reads the CURVE environment variables
    except curve.CurveKeyError as e:
        print(f"taskmill.worker: {e.message}", file=sys.stderr)
        return 2
    except ep.EndpointListError as e:  # $TASKMILL_WORKER_BROKER, read by Worker()
        print(f"taskmill.worker: {e}", file=sys.stderr)
        return 2
    if args.broker:
        worker.broker = args.broker
    if args.queues:
        worker.queues = [q for q in args.queues.split(",") if q]
    if args.concurrency:
        worker.concurrency = int(args.concurrency)
    if args.id:
        worker.worker_id = args.id
    if args.heartbeat_ms:
        worker.heartbeat_ms = int(args.heartbeat_ms)
    if args.liveness:
        worker.liveness = int(args.liveness)
    if args.cancel_grace_ms is not None:
        worker.cancel_grace = int(args.cancel_grace_ms) / 1000.0
    if args.drain_timeout_ms is not None:
        worker.drain_timeout = int(args.drain_timeout_ms) / 1000.0
    if args.processes is not None:
        worker.processes = int(args.processes)
    if args.max_tasks_per_process is not None:
        worker.max_tasks_per_process = int(args.max_tasks_per_process)
    if args.max_memory_per_process_mb is not None:
        worker.max_memory_per_process_mb = int(args.max_memory_per_process_mb)
    if worker.processes < 0 or worker.max_tasks_per_process < 0 or \
            worker.max_memory_per_process_mb < 0:
        print("taskmill.worker: --processes and the per-process limits are >= 0",
              file=sys.stderr)
        return 2
    if args.labels:
        worker.labels.update(kv.split("=", 1) for kv in args.labels.split(",") if "=" in kv)
    if args.curve_server_key or args.curve_key_file:
        worker.curve_server_key = args.curve_server_key or worker.curve_server_key
        worker.curve_key_file = args.curve_key_file or worker.curve_key_file
        try:
            worker.curve = curve.load(worker.curve_server_key, worker.curve_key_file)
        except curve.CurveKeyError as e:
            print(f"taskmill.worker: {e.message}", file=sys.stderr)
            return 2
    worker.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
