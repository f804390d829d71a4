"""The control plane, as far as the scenarios need it: Deployments (replicas, rolling
updates honouring maxSurge/maxUnavailable and the PodDisruptionBudgets), StatefulSets
(stable names and claims, OrderedReady or Parallel), and KEDA (the ScaledObject's
metrics-api trigger read from the broker Service's /metrics, HPA arithmetic with the
scale-down stabilization window). One reconcile thread; pod deletions run on their own
threads since a draining pod takes its grace period."""
import math
import os
import random
import re
import threading
import time

from cluster import Pod
from network import enter_netns, http_get
from objects import selector_matches, template_hash


class Timeline:
    def __init__(self):
        self.t0 = time.time()
        self.events = []
        self.lock = threading.Lock()

    def add(self, text):
        with self.lock:
            self.events.append((time.time() - self.t0, text))
        print(f"[{time.time() - self.t0:7.2f}s] {text}", flush=True)

    def elapsed(self):
        return time.time() - self.t0


def int_or_percent(value, total, round_up):
    if isinstance(value, str) and value.endswith("%"):
        x = total * int(value[:-1]) / 100
        return math.ceil(x) if round_up else math.floor(x)
    return int(value)


class Workload:
    def __init__(self, cp, obj):
        self.cp = cp
        self.obj = obj
        self.kind = obj["kind"]
        self.name = obj["metadata"]["name"]
        self.replicas = obj["spec"].get("replicas", 1)
        self.template = obj["spec"]["template"]
        self.pods = []  # this workload's pods, terminating ones included until gone

    def live(self):
        return [p for p in self.pods if not p.terminating and not p.deleted]


class ControlPlane:
    def __init__(self, cluster, timeline):
        self.cluster = cluster
        self.timeline = timeline
        self.workloads = {}
        self.lock = threading.RLock()
        self.stop = threading.Event()
        self.pdb_log = []  # (time, pdb, healthy before, minAvailable, allowed)
        self.voluntary = 0
        for obj in cluster.objects.all:
            if obj["kind"] in ("Deployment", "StatefulSet"):
                self.workloads[(obj["kind"], obj["metadata"]["name"])] = Workload(self, obj)
        self.thread = threading.Thread(target=self._loop, daemon=True)

    def start(self):
        self.thread.start()

    def deployment(self, name):
        return self.workloads[("Deployment", name)]

    def statefulset(self, name):
        return self.workloads[("StatefulSet", name)]

    # ---- PodDisruptionBudgets ----
    def disruption_allowed(self, pod):
        """Would evicting this pod keep every PDB that selects it? Logged either way."""
        if not pod.ready:
            return True
        for pdb in self.cluster.objects.pdbs_for(pod.labels):
            healthy, need = self._pdb_health(pdb)
            ok = healthy - 1 >= need
            self.pdb_log.append((time.time(), pdb["metadata"]["name"], healthy, need, ok))
            if not ok:
                return False
        return True

    def healthy_under_pdbs(self):
        """{pdb: (healthy, needed)} now."""
        return {pdb["metadata"]["name"]: self._pdb_health(pdb)
                for pdb in self.cluster.objects.of("PodDisruptionBudget")}

    def _pdb_health(self, pdb):
        """(healthy pods it selects, pods it needs healthy): maxUnavailable M of E expected
        pods needs E - M, as minAvailable would."""
        sel = pdb["spec"]["selector"]
        healthy = sum(1 for p in self.cluster.live_pods()
                      if not p.terminating and p.ready and selector_matches(sel, p.labels))
        expected = sum(w.replicas for w in self.workloads.values()
                       if selector_matches(sel, w.template["metadata"]["labels"]))
        if "minAvailable" in pdb["spec"]:
            return healthy, int_or_percent(pdb["spec"]["minAvailable"], expected, True)
        return healthy, expected - int_or_percent(pdb["spec"]["maxUnavailable"], expected, False)

    # ---- pods ----
    def _new_pod(self, w, name, **kw):
        pod = Pod(self.cluster, name, (w.kind, w.name), w.template, **kw)
        pod.template_hash = template_hash(w.template)
        w.pods.append(pod)
        self.cluster.add_pod(pod)
        return pod

    def delete(self, w, pod, voluntary=True, force=False):
        pod.terminating = True
        if voluntary:
            self.voluntary += 1

        def run():
            self.cluster.delete_pod(pod, force=force)
            with self.lock:
                if pod in w.pods:
                    w.pods.remove(pod)
        threading.Thread(target=run, daemon=True).start()

    def kill_pod(self, kind, name, pod_name):
        """An involuntary loss (node gone, OOM): SIGKILL, no grace; the controller replaces it."""
        w = self.workloads[(kind, name)]
        for p in w.live():
            if p.name == pod_name:
                self.timeline.add(f"KILL pod {pod_name} (SIGKILL, no grace)")
                self.delete(w, p, voluntary=False, force=True)
                return p
        raise RuntimeError(f"no pod {pod_name}")

    # ---- reconcile ----
    def _loop(self):
        while not self.stop.is_set():
            with self.lock:
                for w in list(self.workloads.values()):
                    if w.kind == "Deployment":
                        self._deployment(w)
                    else:
                        self._statefulset(w)
            time.sleep(0.2)

    def _deployment(self, w):
        current = template_hash(w.template)
        live = w.live()
        new = [p for p in live if p.template_hash == current]
        old = [p for p in live if p.template_hash != current]
        strategy = w.obj["spec"].get("strategy", {}).get("rollingUpdate", {})
        surge = int_or_percent(strategy.get("maxSurge", "25%"), w.replicas, True)
        unavailable = int_or_percent(strategy.get("maxUnavailable", "25%"), w.replicas, False)
        if old:
            if len(live) < w.replicas + surge and len(new) < w.replicas:
                self._new_pod(w, f"{w.name}-{current[:5]}-{random.randrange(16**5):05x}")
                return
            ready = sum(1 for p in live if p.ready)
            for p in sorted(old, key=lambda p: p.ready):
                if (not p.ready or ready - 1 >= w.replicas - unavailable) \
                        and self.disruption_allowed(p):
                    self.timeline.add(f"{w.name}: rolling: terminating old pod {p.name}")
                    self.delete(w, p)
                    return
            return
        if len(new) < w.replicas:
            for _ in range(w.replicas - len(new)):
                self._new_pod(w, f"{w.name}-{current[:5]}-{random.randrange(16**5):05x}")
        elif len(new) > w.replicas:
            extra = sorted(new, key=lambda p: (p.ready, p.created_ms))[:len(new) - w.replicas]
            for p in extra:
                self.delete(w, p, voluntary=False)

    def _statefulset(self, w):
        parallel = w.obj["spec"].get("podManagementPolicy") == "Parallel"
        svc = w.obj["spec"].get("serviceName")
        names = {p.name for p in w.pods}  # terminating ones too: a name is reused once gone
        for i in range(w.replicas):
            name = f"{w.name}-{i}"
            if name in names:
                if not parallel and not any(p.name == name and p.ready for p in w.pods):
                    return
                continue
            claims = {}
            for vct in w.obj["spec"].get("volumeClaimTemplates", []):
                d = os.path.join(self.cluster.tmp, "pvc", f"{vct['metadata']['name']}-{name}")
                os.makedirs(d, exist_ok=True)
                claims[vct["metadata"]["name"]] = d
            self._new_pod(w, name, hostname=name, subdomain=svc, pvc_dir=claims)
            if not parallel:
                return

    def rollout(self, kind, name, note):
        """Changes the pod template (as `kubectl rollout restart` does) and returns."""
        with self.lock:
            w = self.workloads[(kind, name)]
            tmpl = dict(w.template)
            meta = dict(tmpl.get("metadata", {}))
            meta["annotations"] = {**meta.get("annotations", {}),
                                   "kubectl.kubernetes.io/restartedAt": note}
            tmpl["metadata"] = meta
            w.template = tmpl
        self.timeline.add(f"{kind} {name}: rollout started")

    def rollout_done(self, kind, name):
        with self.lock:
            w = self.workloads[(kind, name)]
            current = template_hash(w.template)
            return (len(w.pods) == w.replicas
                    and all(p.template_hash == current and p.ready for p in w.pods))

    def scale(self, kind, name, replicas, why):
        with self.lock:
            w = self.workloads[(kind, name)]
            if w.replicas != replicas:
                self.timeline.add(f"{kind} {name}: replicas {w.replicas} -> {replicas} ({why})")
                w.replicas = replicas


SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"')


def prometheus_value(text, selector):
    """The value of the first sample matching a PromQL selector (name{k="v",...}), as
    KEDA's metrics-api scaler reads format: prometheus; None when none matches."""
    m = SAMPLE.match(selector.strip() + " 0")
    want_name = m.group(1)
    want = dict(LABEL.findall(m.group(2) or ""))
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        s = SAMPLE.match(line)
        if not s or s.group(1) != want_name:
            continue
        labels = dict(LABEL.findall(s.group(2) or ""))
        if all(labels.get(k) == v for k, v in want.items()):
            return float(s.group(3))
    return None


class Keda:
    """A ScaledObject's metrics-api trigger, polled every pollingInterval from the node."""

    def __init__(self, cp, so, timeline):
        self.cp = cp
        self.so = so
        self.timeline = timeline
        spec = so["spec"]
        self.target = spec["scaleTargetRef"]["name"]
        self.min = spec.get("minReplicaCount", 0)
        self.max = spec.get("maxReplicaCount", 100)
        self.interval = spec.get("pollingInterval", 30)
        behavior = (spec.get("advanced", {}).get("horizontalPodAutoscalerConfig", {})
                    .get("behavior", {}))
        self.window = behavior.get("scaleDown", {}).get("stabilizationWindowSeconds", 300)
        trig = spec["triggers"][0]
        self.meta = trig["metadata"]
        self.recommendations = []  # (time, replicas)
        self.values = []  # (elapsed, value, replicas)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)

    def start(self):
        self.cp.scale("Deployment", self.target, max(self.min, 1) if self.min else 0,
                      "KEDA takes over: minReplicaCount")
        self.thread.start()

    def poll_once(self):
        url = self.meta["url"]
        m = re.match(r"https?://([^:/]+):(\d+)(/.*)", url)
        host, port, path = m.group(1), int(m.group(2)), m.group(3)
        ip = self.cp.cluster.resolve(host)
        if ip is None:
            return None
        status, body = http_get(ip, port, path, 3)
        if status != 200:
            return None
        return prometheus_value(body, self.meta["valueLocation"])

    def _loop(self):
        enter_netns(self.cp.cluster.net.node_ns)
        while not self.stop.is_set():
            value = self.poll_once()
            if value is not None:
                target = float(self.meta["targetValue"])
                activation = float(self.meta.get("activationTargetValue", 0))
                desired = math.ceil(value / target) if value > activation else self.min
                desired = max(self.min, min(self.max, desired))
                t = time.time()
                self.recommendations = [(ts, r) for ts, r in self.recommendations
                                        if t - ts <= self.window] + [(t, desired)]
                current = self.cp.workloads[("Deployment", self.target)].replicas
                if desired >= current:
                    new = desired
                else:  # scale down to the highest recommendation of the window
                    new = max(r for _, r in self.recommendations)
                self.values.append((self.timeline.elapsed(), value, new))
                self.cp.scale("Deployment", self.target, new,
                              f"KEDA: {self.meta['valueLocation']} = {value:g}, "
                              f"target {target:g}/replica")
            self.stop.wait(self.interval)
