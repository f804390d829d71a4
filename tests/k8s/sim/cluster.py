"""The simulated node: pods as network namespaces on a bridge, containers started the way a
kubelet would, probes, restarts, and Service names resolved per pod.

* Network: a switch namespace holds a bridge; each pod is a namespace with a veth on it and
  its own address; the "node" (this kubelet, KEDA, the client tools) is one more namespace
  on the bridge, so probes reach pods over the bridge as a kubelet's do.
* Service names: each pod's /etc/netns/<ns>/hosts lists, for every Service, one Ready
  endpoint (a ClusterIP balances connections; pods spread over the Ready endpoints) and,
  for headless Services, each pod's own name (<pod>.<service>); it is rewritten in place
  whenever readiness changes, so a pod that is not Ready gets no new connection.
* Containers: a private mount namespace (unshare -m -u) whose root is an overlay over the
  host's / (so the build's binaries and the host's redis-server are the "image"), with
  every volume bind-mounted at its mountPath (Secrets, ConfigMaps and emptyDirs are
  directories this simulator fills from the rendered objects), the hosts file bound on
  /etc/hosts, the root remounted read-only when readOnlyRootFilesystem says so, then
  chroot + setpriv to the manifest's runAsUser/runAsGroup/fsGroup, no_new_privs and an
  empty capability bounding set, env -i with the manifest's env.
"""
import os
import shlex
import signal
import subprocess
import threading
import time

from network import Network, enter_netns, http_get, tcp_ok
from objects import selector_matches

PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def now_ms():
    return int(time.time() * 1000)


class Container:
    def __init__(self, pod, spec):
        self.pod = pod
        self.spec = spec
        self.name = spec["name"]
        self.proc = None
        self.log = None
        self.restarts = 0
        self.liveness_restarts = 0
        self.ready = False
        self.started_ms = 0
        self.next_probe = {}
        self.failures = {}
        self.successes = {}
        self.backoff_until = 0.0

    def port(self, ref):
        if isinstance(ref, int):
            return ref
        for p in self.spec.get("ports", []):
            if p.get("name") == ref:
                return p["containerPort"]
        raise RuntimeError(f"{self.pod.name}/{self.name}: no port {ref}")


class Pod:
    def __init__(self, cluster, name, owner, template, hostname=None, subdomain=None,
                 pvc_dir=None):
        self.cluster = cluster
        self.name = name
        self.owner = owner  # (kind, name)
        self.template = template
        self.labels = template.get("metadata", {}).get("labels", {})
        self.spec = template["spec"]
        self.hostname = hostname or name
        self.subdomain = subdomain
        self.terminating = False
        self.deleted = False
        self.created_ms = now_ms()
        self.dir = os.path.join(cluster.tmp, "pods", name + f"-{cluster.seq()}")
        os.makedirs(self.dir)
        self.ns, self.ip = cluster.net.add_host(f"p{cluster.seq()}")
        self.hosts_path = f"/etc/netns/{self.ns}/hosts"
        with open(self.hosts_path, "w") as f:
            f.write(f"127.0.0.1 localhost\n{self.ip} {self.hostname}\n")
        with open(f"/etc/netns/{self.ns}/resolv.conf", "w") as f:
            f.write("nameserver 127.0.0.1\noptions timeout:1 attempts:1\n")
        self.pvc_dir = pvc_dir
        self.volumes = self._make_volumes()
        self.containers = [Container(self, c) for c in self.spec["containers"]]

    @property
    def ready(self):
        return (not self.terminating and not self.deleted
                and all(c.ready for c in self.containers))

    def restarts(self):
        return sum(c.restarts for c in self.containers)

    # ---- volumes: directories filled from the rendered objects ----
    def _make_volumes(self):
        sc = self.spec.get("securityContext", {})
        fs_group = sc.get("fsGroup")
        out = {}
        objs = self.cluster.objects
        for vol in self.spec.get("volumes", []):
            path = os.path.join(self.dir, "vol", vol["name"])
            os.makedirs(path)
            if "secret" in vol or "configMap" in vol:
                src = vol.get("secret") or vol.get("configMap")
                data = (objs.secret_data(src["secretName"]) if "secret" in vol
                        else objs.configmap_data(src["name"]))
                if data is None:
                    raise RuntimeError(f"pod {self.name}: volume {vol['name']} names a "
                                       "Secret/ConfigMap that does not exist")
                mode = src.get("defaultMode", 0o644)
                for key, value in data.items():
                    fp = os.path.join(path, key)
                    with open(fp, "wb") as f:
                        f.write(value)
                    os.chmod(fp, mode)
                    if fs_group is not None:
                        os.chown(fp, 0, fs_group)
                os.chmod(path, 0o755)
            elif "emptyDir" in vol:
                os.chmod(path, 0o777)
            elif "persistentVolumeClaim" in vol:
                raise RuntimeError("simulator: persistentVolumeClaim volumes not handled")
            else:
                raise RuntimeError(f"simulator: volume kind of {vol['name']} not handled")
            out[vol["name"]] = path
        for claim in (self.pvc_dir or {}):
            out[claim] = self.pvc_dir[claim]
            if fs_group is not None:
                os.chown(out[claim], 0, fs_group)
                os.chmod(out[claim], 0o2775)
        return out

    # ---- containers ----
    def env_of(self, c):
        env = {"PATH": PATH, "HOSTNAME": self.hostname}
        objs = self.cluster.objects
        for e in c.spec.get("env", []):
            if "value" in e:
                env[e["name"]] = str(e["value"])
            elif "valueFrom" in e:
                vf = e["valueFrom"]
                if "fieldRef" in vf:
                    field = vf["fieldRef"]["fieldPath"]
                    env[e["name"]] = {"status.podIP": self.ip, "metadata.name": self.name,
                                      "metadata.namespace": objs.namespace}[field]
                elif "secretKeyRef" in vf:
                    ref = vf["secretKeyRef"]
                    env[e["name"]] = objs.secret_data(ref["name"])[ref["key"]].decode()
                elif "configMapKeyRef" in vf:
                    ref = vf["configMapKeyRef"]
                    env[e["name"]] = objs.configmap_data(ref["name"])[ref["key"]].decode()
        return env

    def argv_of(self, c):
        image = c.spec["image"].rsplit("/", 1)[-1].split(":")[0]
        entry = self.cluster.images.get(image)
        if entry is None:
            raise RuntimeError(f"simulator: no binary for image {c.spec['image']}")
        cmd = list(c.spec.get("command") or entry)
        return cmd + [str(a) for a in c.spec.get("args", [])]

    def start(self, c):
        sc = {**self.spec.get("securityContext", {}), **c.spec.get("securityContext", {})}
        uid = sc.get("runAsUser", 0)
        gid = sc.get("runAsGroup", uid)
        if sc.get("runAsNonRoot") and uid == 0:
            raise RuntimeError(f"{self.name}: runAsNonRoot with uid 0")
        groups = [str(g) for g in [self.spec.get("securityContext", {}).get("fsGroup")]
                  if g is not None]
        root = os.path.join(self.dir, f"root-{c.name}")
        os.makedirs(root, exist_ok=True)
        m = f"{root}/t/m"
        lines = ["set -e",
                 f"mount -t tmpfs tmpfs {root}",
                 f"mkdir -p {root}/t/u {root}/t/w {m}",
                 f"mount -t overlay overlay -o lowerdir=/,upperdir={root}/t/u,"
                 f"workdir={root}/t/w {m}",
                 f"mount --rbind /proc {m}/proc", f"mount --rbind /sys {m}/sys",
                 f"mount --rbind /dev {m}/dev",
                 f"mount --bind {self.hosts_path} {m}/etc/hosts",
                 f"mount --bind /etc/netns/{self.ns}/resolv.conf {m}/etc/resolv.conf"]
        for vm in c.spec.get("volumeMounts", []):
            src = self.volumes[vm["name"]]
            dst = m + vm["mountPath"]
            lines.append(f"mkdir -p {shlex.quote(dst)}")
            lines.append(f"mount --bind {shlex.quote(src)} {shlex.quote(dst)}")
            if vm.get("readOnly"):
                lines.append(f"mount -o remount,bind,ro {shlex.quote(dst)}")
        if sc.get("readOnlyRootFilesystem"):
            lines.append(f"mount -o remount,bind,ro {m}")
        lines.append(f"hostname {shlex.quote(self.hostname)}")
        priv = ["setpriv", f"--reuid={uid}", f"--regid={gid}"]
        priv += [f"--groups={','.join(groups)}"] if groups else ["--clear-groups"]
        if sc.get("allowPrivilegeEscalation") is False:
            priv.append("--no-new-privs")
        if "ALL" in sc.get("capabilities", {}).get("drop", []):
            priv += ["--bounding-set=-all", "--inh-caps=-all"]
        env = self.env_of(c)
        workdir = c.spec.get("workingDir", "/")
        argv = (["chroot", m] + priv + ["--", "env", "-i", f"--chdir={workdir}"]
                + [f"{k}={v}" for k, v in env.items()] + self.argv_of(c))
        lines.append("exec " + " ".join(shlex.quote(a) for a in argv))
        script = os.path.join(self.dir, f"start-{c.name}.sh")
        with open(script, "w") as f:
            f.write("\n".join(lines) + "\n")
        logf = open(os.path.join(self.dir, f"{c.name}.log"), "ab")
        c.proc = subprocess.Popen(
            ["ip", "netns", "exec", self.ns, "unshare", "-m", "-u", "--propagation",
             "private", "/bin/sh", script], stdout=logf, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True)
        logf.close()
        c.started_ms = now_ms()
        c.ready = False
        c.next_probe = {}
        c.failures = {}
        c.successes = {}

    def signal(self, sig):
        for c in self.containers:
            if c.proc and c.proc.poll() is None:
                try:
                    os.kill(c.proc.pid, sig)
                except ProcessLookupError:
                    pass


class Cluster:
    """Pods, their probes and restarts (the kubelet), and the per-pod hosts files (DNS)."""

    def __init__(self, objects, images, tmp, run_id, timeline):
        self.objects = objects
        self.images = images
        self.tmp = tmp
        self.timeline = timeline
        self.net = Network(run_id, tmp)
        self.pods = []
        self.lock = threading.RLock()
        self._seq = 0
        self.stop = threading.Event()
        self.dns_dirty = True
        self.thread = threading.Thread(target=self._kubelet, daemon=True)
        self.thread.start()

    def seq(self):
        self._seq += 1
        return self._seq

    def add_pod(self, pod):
        with self.lock:
            self.pods.append(pod)
            for c in pod.containers:
                pod.start(c)
            self.dns_dirty = True
        self.timeline.add(f"pod {pod.name} created at {pod.ip}")

    def live_pods(self):
        with self.lock:
            return [p for p in self.pods if not p.deleted]

    def delete_pod(self, pod, force=False):
        """SIGTERM, then SIGKILL after terminationGracePeriodSeconds (force: SIGKILL now).
        The pod leaves the Services' endpoints at once. Returns when it is gone."""
        with self.lock:
            pod.terminating = True
            self.dns_dirty = True
        self._write_dns()
        grace = 0 if force else pod.spec.get("terminationGracePeriodSeconds", 30)
        pod.signal(signal.SIGKILL if force else signal.SIGTERM)
        deadline = time.time() + grace
        for c in pod.containers:
            while c.proc.poll() is None and time.time() < deadline:
                time.sleep(0.05)
            if c.proc.poll() is None:
                if not force:
                    self.timeline.add(f"pod {pod.name}: grace period over, SIGKILL")
                os.kill(c.proc.pid, signal.SIGKILL)
            c.proc.wait()
        with self.lock:
            pod.deleted = True
            self.pods.remove(pod)
            self.dns_dirty = True
        self.net.remove_host(pod.ns)
        self._write_dns()
        took = now_ms() - pod.created_ms
        self.timeline.add(f"pod {pod.name} deleted ({'killed' if force else 'terminated'}; "
                          f"lived {took / 1000:.1f} s)")

    # ---- DNS ----
    def endpoints(self, svc, ready_only=True):
        sel = svc["spec"].get("selector") or {}
        with self.lock:
            return [p for p in self.pods if not p.deleted and not p.terminating
                    and selector_matches(sel, p.labels) and (p.ready or not ready_only)]

    def _write_dns(self):
        with self.lock:
            if not self.dns_dirty:
                return
            self.dns_dirty = False
            ns = self.objects.namespace
            services = self.objects.of("Service")
            records = []  # (names, ips) common to every pod; ips: list to spread over
            for svc in services:
                name = svc["metadata"]["name"]
                names = [name, f"{name}.{ns}", f"{name}.{ns}.svc", f"{name}.{ns}.svc.cluster.local"]
                headless = svc["spec"].get("clusterIP") == "None"
                not_ready = svc["spec"].get("publishNotReadyAddresses", False)
                eps = self.endpoints(svc, ready_only=not not_ready)
                records.append((names, [p.ip for p in eps]))
                if headless:
                    for p in eps:
                        if p.subdomain == name:
                            records.append(([f"{p.hostname}.{n}" for n in names], [p.ip]))
            for i, pod in enumerate(self.pods):
                if pod.deleted:
                    continue
                lines = ["127.0.0.1 localhost", f"{pod.ip} {pod.hostname}"]
                for names, ips in records:
                    if ips:
                        ip = sorted(ips)[(i + pod.created_ms) % len(ips)]
                        lines.append(f"{ip} {' '.join(names)}")
                text = "\n".join(lines) + "\n"
                try:  # in place: the containers' bind mounts see the new text
                    with open(pod.hosts_path, "r+") as f:
                        f.seek(0)
                        f.write(text)
                        f.truncate()
                except FileNotFoundError:
                    pass

    def resolve(self, host):
        """What the node sees for a Service name (KEDA, the client tools): a Ready IP."""
        name = host.split(".")[0]
        svc = self.objects.get("Service", name)
        if svc is None:
            return None
        eps = self.endpoints(svc)
        return eps[0].ip if eps else None

    # ---- the kubelet loop: restarts, probes ----
    def _kubelet(self):
        enter_netns(self.net.node_ns)
        while not self.stop.is_set():
            for pod in self.live_pods():
                if pod.terminating:
                    continue
                for c in pod.containers:
                    self._tend(pod, c)
            self._write_dns()
            time.sleep(0.1)

    def _tend(self, pod, c):
        t = time.time()
        if c.proc.poll() is not None:
            if c.backoff_until == 0:
                backoff = min(10, 2 ** min(c.restarts, 3) * 0.5)
                c.backoff_until = t + backoff
                self.timeline.add(f"pod {pod.name}: container {c.name} exited "
                                  f"({c.proc.returncode}); restart in {backoff:.1f} s")
                if c.ready:
                    c.ready = False
                    with self.lock:
                        self.dns_dirty = True
            elif t >= c.backoff_until:
                c.backoff_until = 0
                c.restarts += 1
                with self.lock:
                    if pod.terminating or pod.deleted:
                        return
                    pod.start(c)
            return
        for kind in ("readinessProbe", "livenessProbe"):
            probe = c.spec.get(kind)
            if not probe:
                if kind == "readinessProbe" and not c.ready:
                    c.ready = True
                    with self.lock:
                        self.dns_dirty = True
                continue
            due = c.next_probe.get(kind)
            if due is None:
                due = c.started_ms / 1000 + probe.get("initialDelaySeconds", 0)
            if t < due:
                continue
            c.next_probe[kind] = t + probe.get("periodSeconds", 10)
            ok = self._probe(pod, c, probe)
            if ok:
                c.failures[kind] = 0
                c.successes[kind] = c.successes.get(kind, 0) + 1
            else:
                c.failures[kind] = c.failures.get(kind, 0) + 1
                c.successes[kind] = 0
            if kind == "readinessProbe":
                want = (c.ready and c.failures[kind] < probe.get("failureThreshold", 3)) or \
                    (not c.ready and ok and c.successes[kind] >= probe.get("successThreshold", 1))
                if want != c.ready:
                    c.ready = want
                    self.timeline.add(f"pod {pod.name}: {'Ready' if want else 'not Ready'}")
                    with self.lock:
                        self.dns_dirty = True
            elif c.failures[kind] >= probe.get("failureThreshold", 3):
                c.liveness_restarts += 1
                self.timeline.add(f"pod {pod.name}: liveness failed "
                                  f"{c.failures[kind]} times: restarting {c.name}")
                os.kill(c.proc.pid, signal.SIGKILL)
                c.proc.wait()
                c.failures[kind] = 0

    def _probe(self, pod, c, probe):
        timeout = probe.get("timeoutSeconds", 1)
        if "httpGet" in probe:
            hg = probe["httpGet"]
            status, _ = http_get(pod.ip, c.port(hg["port"]), hg.get("path", "/"), timeout)
            return status is not None and 200 <= status < 400
        if "tcpSocket" in probe:
            return tcp_ok(pod.ip, c.port(probe["tcpSocket"]["port"]), timeout)
        if "exec" in probe:
            return subprocess.run(["ip", "netns", "exec", pod.ns] + probe["exec"]["command"],
                                  capture_output=True, timeout=timeout).returncode == 0
        return True

    def shutdown(self):
        self.stop.set()
        self.thread.join(timeout=5)
        for pod in list(self.pods):
            pod.signal(signal.SIGKILL)
            for c in pod.containers:
                if c.proc:
                    try:
                        c.proc.wait(timeout=5)
                    except subprocess.TimeoutExpired:
                        pass
        self.net.cleanup()
