#!/usr/bin/env python3
"""The simulator's client pod: submits tasks and reads them back through the broker
Service's name, with the Python client (run by the system python3 inside the client
namespace, PYTHONPATH=client/python).

  client_tool.py submit ENDPOINT OUT.json PREFIX N TYPE PAYLOAD_JSON  [--curve SERVER_PUB KEY]
      submits N tasks with client-chosen ids PREFIX-<i> in chunks, retrying a chunk whose
      reply was lost (same ids); writes {"ids": [...], "acked": [...]}.
  client_tool.py check ENDPOINT IDS.json [--curve SERVER_PUB KEY]
      prints {"states": {state: count}, "missing": [...], "attempts_max": n}; exit 0 iff
      every acknowledged id is succeeded.
  client_tool.py backlog ENDPOINT [--curve ...]   prints the default queue's ready+running.
"""
import json
import sys
import time

import taskmill
from taskmill import messages as m


def client(endpoint, argv):
    kw = {}
    if "--curve" in argv:
        i = argv.index("--curve")
        kw = {"curve_server_key": argv[i + 1], "curve_key_file": argv[i + 2]}
    return taskmill.Client(endpoint, request_timeout=5.0, **kw)


def submit(argv):
    endpoint, out, prefix, n, type_, payload = argv[:6]
    n = int(n)
    ids = [f"{prefix}-{i}" for i in range(n)]
    acked = []
    deadline = time.time() + 120
    with client(endpoint, argv) as c:
        for start in range(0, n, 100):
            chunk = ids[start:start + 100]
            specs = [m.TaskSpec(type=type_, payload=json.loads(payload), id=i, max_attempts=5)
                     for i in chunk]
            while True:
                try:
                    c.submit_many(specs)
                    acked += chunk
                    break
                except taskmill.TaskmillError as e:  # lost reply, hand-off: same ids again
                    if "exists" in str(e).lower():
                        # An earlier try was stored though its reply was an error (e.g. a
                        # WAIT for the replica that timed out): the ids are ours.
                        acked += chunk
                        break
                    if time.time() > deadline:
                        print(f"submit: {e}", file=sys.stderr)
                        break
                    time.sleep(0.2)
    with open(out, "w") as f:
        json.dump({"ids": ids, "acked": acked}, f)
    print(json.dumps({"submitted": n, "acked": len(acked)}))
    return 0 if len(acked) == n else 1


def check(argv):
    endpoint, path = argv[:2]
    acked = json.load(open(path))["acked"]
    states, missing, attempts = {}, [], 0
    with client(endpoint, argv) as c:
        for start in range(0, len(acked), 200):
            chunk = acked[start:start + 200]
            for tid, info in zip(chunk, c.get_many(chunk)):
                state = getattr(info.state, "name", str(info.state)).lower()
                states[state] = states.get(state, 0) + 1
                attempts = max(attempts, int(getattr(info, "attempts", 0) or 0))
                if "succeeded" not in state:
                    missing.append(tid)
    print(json.dumps({"states": states, "missing": missing[:10], "attempts_max": attempts}))
    return 0 if not missing else 1


def backlog(argv):
    with client(argv[0], argv) as c:
        s = c.stats(["default"])
    print(json.dumps(str(s)))
    return 0


if __name__ == "__main__":
    cmd, rest = sys.argv[1], sys.argv[2:]
    sys.exit({"submit": submit, "check": check, "backlog": backlog}[cmd](rest))
