#!/usr/bin/env python3
"""Runs a rendered overlay in the simulated cluster (see cluster.py, controllers.py) and
plays a scenario on it; prints a timeline and its figures; exit 0 iff every check held.

Usage (root; scripts/k8s-sim.sh renders the overlay and calls this):
  main.py --overlay dev|prod --rendered FILE --build BUILD --repo REPO
"""
import argparse
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cluster import Cluster, Pod  # noqa: E402
from controllers import ControlPlane, Keda, Timeline  # noqa: E402
from objects import Objects, load  # noqa: E402


class Failed(Exception):
    pass


def wait_for(what, cond, timeout, timeline):
    deadline = time.time() + timeout
    while not cond():
        if time.time() > deadline:
            raise Failed(f"timed out ({timeout} s) waiting for {what}")
        time.sleep(0.1)
    timeline.add(what)


class Sim:
    def __init__(self, args):
        self.args = args
        self.timeline = Timeline()
        self.tmp = tempfile.mkdtemp(prefix="tm-k8s-sim-")
        os.chmod(self.tmp, 0o755)
        self.run_id = f"{(os.getpid() * 7919 + secrets.randbelow(65536)) % 65536:04x}"
        self.objects = Objects(load(args.rendered))
        self.keys = os.path.join(self.tmp, "keys")
        os.makedirs(self.keys)
        self.curve = []
        self._make_secrets()
        images = {"taskmill-broker": [os.path.join(args.build, "broker/taskmill-broker")],
                  "taskmill-worker": [os.path.join(args.build, "worker/taskmill-worker")],
                  "redis": ["redis-server"]}
        self.cluster = Cluster(self.objects, images, self.tmp, self.run_id, self.timeline)
        self.cp = ControlPlane(self.cluster, self.timeline)
        self.client = Pod(self.cluster, "client", ("", ""),
                          {"metadata": {"labels": {"taskmill.io/client": "true"}},
                           "spec": {"containers": []}})
        self.cluster.pods.append(self.client)
        self.keda = [Keda(self.cp, so, self.timeline) for so in self.objects.of("ScaledObject")]
        self.phase = "start"
        self.min_ready = {}  # (phase, pdb) -> fewest healthy pods seen, and the PDB's need
        self.sampler_stop = threading.Event()
        self.sampler = threading.Thread(target=self._sample_loop, daemon=True)

    # ---- Secrets an operator creates (docs/kubernetes.md), when the overlay has none ----
    def _keygen(self, name):
        subprocess.run([os.path.join(self.args.build, "client/taskmill"), "keygen", name,
                        "--dir", self.keys], check=True, capture_output=True)
        return (open(os.path.join(self.keys, name + ".key"), "rb").read(),
                open(os.path.join(self.keys, name + ".pub"), "rb").read())

    def _make_secrets(self):
        needed = set()
        for o in self.objects.all:
            spec = (o.get("spec", {}).get("template", {}) or {}).get("spec", {})
            for v in spec.get("volumes", []):
                if "secret" in v:
                    needed.add(v["secret"]["secretName"])
        missing = {n for n in needed if self.objects.secret_data(n) is None}
        if not missing:
            return
        password = secrets.token_hex(16).encode()
        broker_key, broker_pub = self._keygen("broker")
        worker_key, worker_pub = self._keygen("worker")
        _, client_pub = self._keygen("client")
        _, admin_pub = self._keygen("admin")
        made = {
            "taskmill-redis": {"password": password, "redis.conf":
                               b"requirepass " + password + b"\nmasterauth " + password + b"\n"},
            "taskmill-broker-curve": {"broker.key": broker_key},
            "taskmill-curve-allowed": {"client.pub": client_pub},
            "taskmill-curve-workers": {"worker.pub": worker_pub},
            "taskmill-curve-admins": {"admin.pub": admin_pub},
            "taskmill-worker-curve": {"worker.key": worker_key, "broker.pub": broker_pub},
        }
        for name in sorted(missing):
            if name not in made:
                raise Failed(f"the manifests mount Secret {name}, which docs/kubernetes.md "
                             "does not tell how to create")
            self.objects.add_secret(name, made[name])
        if "taskmill-broker-curve" in missing:
            self.curve = ["--curve", os.path.join(self.keys, "broker.pub"),
                          os.path.join(self.keys, "client.key")]
        self.timeline.add(f"secrets created as an operator would: {', '.join(sorted(missing))}")

    # ---- the client pod ----
    def client_tool(self, *argv, timeout=180):
        env = dict(os.environ, PYTHONPATH=os.path.join(self.args.repo, "client/python"))
        r = subprocess.run(["ip", "netns", "exec", self.client.ns, "python3",
                            os.path.join(os.path.dirname(__file__), "client_tool.py"),
                            *argv, *self.curve],
                           capture_output=True, text=True, timeout=timeout, env=env)
        out = r.stdout.strip().splitlines()
        return r.returncode, (json.loads(out[-1]) if out else {}), r.stderr

    def submit(self, name, n, type_, payload):
        path = os.path.join(self.tmp, f"{name}.json")
        rc, out, err = self.client_tool("submit", "tcp://taskmill-broker:5555", path, name,
                                        str(n), type_, json.dumps(payload))
        if rc != 0:
            raise Failed(f"submit {name}: {out} {err[-500:]}")
        self.timeline.add(f"client: {n} {type_} tasks submitted through the Service name "
                          f"taskmill-broker:5555 ({name})")
        return path

    def all_succeeded(self, path):
        rc, out, _ = self.client_tool("check", "tcp://taskmill-broker:5555", path)
        self.last_check = out
        return rc == 0

    # ---- helpers ----
    def all_ready(self):
        pods = [p for p in self.cluster.live_pods() if p is not self.client]
        want = sum(w.replicas for w in self.cp.workloads.values())
        return len(pods) == want and all(p.ready and not p.terminating for p in pods)

    def _sample_loop(self):
        """Every 0.1 s: the Ready pods under each PDB, kept per scenario phase."""
        while not self.sampler_stop.wait(0.1):
            for name, (healthy, need) in self.cp.healthy_under_pdbs().items():
                key = (self.phase, name)
                lo = self.min_ready.get(key, (healthy, need))[0]
                self.min_ready[key] = (min(lo, healthy), need)

    def wait_sampling(self, what, cond, timeout):
        wait_for(what, cond, timeout, self.timeline)

    def pods_of(self, kind, name):
        return [p for p in self.cp.workloads[(kind, name)].live()]

    # ---- scenarios ----
    def start(self):
        self.cp.start()
        self.sampler.start()
        for k in self.keda:
            k.start()
        t = time.time()
        wait_for("every pod Ready", self.all_ready, 120, self.timeline)
        self.figures["all Ready after start (s)"] = round(time.time() - t, 1)
        self.verify_containers()
        self.phase = "steady"

    def verify_containers(self):
        """Each container runs as its manifest's user, with a read-only root where asked,
        and sees its Secrets where it mounts them (read from /proc, not assumed)."""
        for pod in self.cluster.live_pods():
            for c in pod.containers:
                sc = {**pod.spec.get("securityContext", {}), **c.spec.get("securityContext", {})}
                pid = c.proc.pid
                uid = int(open(f"/proc/{pid}/status").read().split("Uid:")[1].split()[0])
                if uid != sc.get("runAsUser", 0):
                    raise Failed(f"{pod.name}/{c.name} runs as uid {uid}, not "
                                 f"{sc.get('runAsUser')}")
                root_opts = [line.split()[5] for line in open(f"/proc/{pid}/mountinfo")
                             if line.split()[4] == "/"]
                ro = bool(root_opts) and root_opts[-1].split(",")[0] == "ro"
                if ro != bool(sc.get("readOnlyRootFilesystem")):
                    raise Failed(f"{pod.name}/{c.name}: root read-only is {ro}")
                for vm in c.spec.get("volumeMounts", []):
                    if not os.path.isdir(f"/proc/{pid}/root{vm['mountPath']}"):
                        raise Failed(f"{pod.name}/{c.name}: nothing at {vm['mountPath']}")
        self.timeline.add("containers checked: manifest users, read-only roots, mounts")

    def scenario_dev(self):
        self.start()
        first = self.submit("dev-a", 20, "echo", "hello")
        wait_for("20 echo tasks succeeded", lambda: self.all_succeeded(first), 60,
                 self.timeline)
        t = time.time()
        self.phase = "voluntary: broker rollout"
        self.cp.rollout("Deployment", "taskmill-broker", "dev-roll")
        during = self.submit("dev-b", 20, "echo", "during the rollout")
        self.wait_sampling("broker rollout complete",
                           lambda: self.cp.rollout_done("Deployment", "taskmill-broker"), 90)
        self.figures["broker rollout (s)"] = round(time.time() - t, 1)
        self.phase = "involuntary: worker crash"
        after = self.submit("dev-c", 10, "echo", "after the rollout")
        worker = self.pods_of("Deployment", "taskmill-worker")[0]
        self.timeline.add(f"KILL the worker container of {worker.name} (SIGKILL)")
        os.kill(worker.containers[0].proc.pid, 9)
        wait_for("worker container restarted and Ready",
                 lambda: worker.containers[0].restarts >= 1 and worker.ready, 60,
                 self.timeline)
        for path in (first, during, after):
            wait_for(f"every task of {os.path.basename(path)} succeeded",
                     lambda p=path: self.all_succeeded(p), 60, self.timeline)
            self.figures[f"{os.path.basename(path)} final states"] = self.last_check
        wait_for("every pod Ready at the end", self.all_ready, 60, self.timeline)

    def scenario_prod(self):
        self.start()
        worker = ("Deployment", "taskmill-worker")
        big = self.submit("prod-a", 400, "sleep", {"ms": 1000})
        keda = self.keda[0]
        t = time.time()
        self.wait_sampling("KEDA scaled the workers up on the backlog",
                           lambda: self.cp.workloads[worker].replicas > 1, 60)
        self.figures["scale-up decided after submit (s)"] = round(time.time() - t, 1)
        self.figures["workers at peak"] = self.cp.workloads[worker].replicas
        t = time.time()
        self.phase = "voluntary: broker rollout"
        self.cp.rollout("Deployment", "taskmill-broker", "prod-roll")
        self.wait_sampling("broker rollout complete",
                           lambda: self.cp.rollout_done("Deployment", "taskmill-broker"), 180)
        self.figures["broker rollout (s)"] = round(time.time() - t, 1)
        self.phase = "voluntary: workers scale down"
        self.wait_sampling("every task of prod-a succeeded", lambda: self.all_succeeded(big),
                           300)
        self.figures["prod-a: 400 x 1 s tasks done after submit (s)"] = round(
            self.timeline.elapsed() - [e for e in self.timeline.events
                                       if "(prod-a)" in e[1]][0][0], 1)
        t = time.time()
        self.wait_sampling("KEDA scaled the workers back down",
                           lambda: self.cp.workloads[worker].replicas == keda.min, 200)
        self.figures["scale-down after backlog drained (s)"] = round(time.time() - t, 1)
        self.wait_sampling("every pod Ready after scale-down", self.all_ready, 120)
        # Redis primary lost: the Sentinels promote the replica, the brokers follow.
        primary = self._redis_primary()
        self.phase = "involuntary: Redis primary killed"
        t = time.time()
        self.cp.kill_pod("StatefulSet", "taskmill-redis", primary)
        after = self.submit("prod-b", 50, "echo", "after the primary died")
        self.wait_sampling("every task of prod-b succeeded",
                           lambda: self.all_succeeded(after), 120)
        self.figures["Redis primary kill -> 50 new tasks all done (s)"] = round(
            time.time() - t, 1)
        self.wait_sampling("every pod Ready after the failover", self.all_ready, 120)
        self.figures["new Redis primary"] = self._redis_primary()
        # A hung broker: not Ready at once, restarted by its liveness probe.
        self.phase = "involuntary: hung broker"
        b = self.pods_of("Deployment", "taskmill-broker")[0]
        self.timeline.add(f"SIGSTOP broker {b.name} (hung)")
        os.kill(b.containers[0].proc.pid, 19)
        t = time.time()
        self.wait_sampling(f"liveness restarted {b.name}",
                           lambda: b.containers[0].liveness_restarts >= 1, 90)
        self.figures["hung broker -> liveness restart (s)"] = round(time.time() - t, 1)
        self.wait_sampling("every pod Ready at the end", self.all_ready, 120)
        for path in (big, after):
            if not self.all_succeeded(path):
                raise Failed(f"tasks lost or unfinished in {path}: {self.last_check}")
            self.figures[f"{os.path.basename(path)} final states"] = self.last_check

    def _redis_primary(self):
        for p in self.pods_of("StatefulSet", "taskmill-redis"):
            r = subprocess.run(["ip", "netns", "exec", self.client.ns, "redis-cli", "-h", p.ip,
                                "-a", self.objects.secret_data("taskmill-redis")["password"]
                                .decode(), "--no-auth-warning", "role"],
                               capture_output=True, text=True, timeout=5)
            if r.stdout.startswith("master"):
                return p.name
        raise Failed("no Redis primary")

    def run(self):
        self.figures = {}
        ok = False
        try:
            getattr(self, f"scenario_{self.args.overlay}")()
            ok = True
        except Failed as e:
            self.timeline.add(f"FAIL: {e}")
        finally:
            for k in self.keda:
                k.stop.set()
            self.cp.stop.set()
            self.sampler_stop.set()
            restarts = {p.name: (sum(c.restarts for c in p.containers),
                                 sum(c.liveness_restarts for c in p.containers))
                        for p in self.cluster.live_pods() if p.containers}
            if not ok:
                self._dump_logs()
            self.cluster.shutdown()
            if os.environ.get("TASKMILL_SIM_KEEP") != "1":
                shutil.rmtree(self.tmp, ignore_errors=True)
        violations = [e for e in self.cp.pdb_log if not e[4]]
        pdb_ok = all(lo >= need for (phase, _), (lo, need) in self.min_ready.items()
                     if phase.startswith("voluntary"))
        print("\n== timeline ==")
        for t, text in self.timeline.events:
            print(f"{t:8.2f}s  {text}")
        print("\n== figures ==")
        for k, v in self.figures.items():
            print(f"{k}: {v}")
        print(f"container restarts (all, liveness) per pod: {restarts}")
        print(f"voluntary disruptions: {self.cp.voluntary}; PDB checks: {len(self.cp.pdb_log)}, "
              f"refused: {len(violations)}")
        print("fewest Ready pods seen under each PDB, by phase (PDBs bind voluntary ones):")
        for (phase, name), (lo, need) in sorted(self.min_ready.items()):
            print(f"  {phase:36s} {name:20s} {lo} (minimum {need})")
        if ok and not pdb_ok:
            print("FAIL: a PodDisruptionBudget went below its minimum during voluntary "
                  "disruptions")
            ok = False
        print("RESULT: " + ("ok" if ok else "FAIL"))
        return 0 if ok else 1

    def _dump_logs(self):
        for root, _, files in os.walk(os.path.join(self.tmp, "pods")):
            for f in files:
                if f.endswith(".log"):
                    path = os.path.join(root, f)
                    print(f"---- {path}")
                    with open(path, errors="replace") as fh:
                        print("".join(fh.readlines()[-15:]))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--overlay", required=True, choices=["dev", "prod"])
    ap.add_argument("--rendered", required=True)
    ap.add_argument("--build", required=True)
    ap.add_argument("--repo", required=True)
    args = ap.parse_args()
    return Sim(args).run()


if __name__ == "__main__":
    sys.exit(main())
