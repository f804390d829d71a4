#!/usr/bin/env python3
"""Project checks on rendered Kubernetes manifests that no schema can make.

Usage: check_manifests.py --build BUILD_DIR [--dockerfile FILE] RENDERED.yaml...

Each failure is printed as "FAIL [kind] object: what" and the exit status is 1. Kinds:
  flags       a TASKMILL_* env variable or --flag the container's binary does not accept
              (its --help), or a value outside the flag's "one of" list
  ports       a container port the binary does not listen on (its endpoint env/defaults)
  probes      a probe whose path the binary does not serve or whose port is no container port
  services    a Service selecting no pod, or targeting a port no selected container has
  grace       a worker whose terminationGracePeriodSeconds does not exceed its drain timeout
              plus its cancel grace (the kubelet would SIGKILL a draining worker)
  pdb         a PodDisruptionBudget selecting nothing, or one that leaves no disruption
              possible (minAvailable >= replicas)
  scaledobject a ScaledObject not targeting the worker Deployment, or not reading
              taskmill_queue_backlog from a broker Service's /metrics
  security    a pod not forced non-root, or a taskmill container with a writable root
  dockerfile  an image target without a numeric non-root USER or an exec-form ENTRYPOINT of
              its binary, or a builder that does not run the project's scripts
"""
import argparse
import re
import subprocess
import sys
import urllib.parse

import yaml

# image name (without registry and tag) -> the build's binary it runs
BINARIES = {"taskmill-broker": "broker/taskmill-broker",
            "taskmill-worker": "worker/taskmill-worker"}
# what each binary's HTTP listener serves (docs/observability.md)
HTTP_PATHS = {"taskmill-broker": {"/healthz", "/readyz", "/metrics"},
              "taskmill-worker": {"/healthz", "/readyz", "/metrics"}}
# env variables (besides TASKMILL_*) the containers may set
OTHER_ENV = {"TMPDIR", "POD_IP", "POD_NAME", "HOME"}
DOCKER_TARGETS = {"broker": "taskmill-broker", "worker": "taskmill-worker",
                  "python-worker": "taskmill.worker"}

failures: list[str] = []


def fail(kind: str, where: str, what: str) -> None:
    failures.append(f"FAIL [{kind}] {where}: {what}")


class Help:
    """Flags, env names, defaults and choices from a binary's --help."""

    def __init__(self, binary: str):
        out = subprocess.run([binary, "--help"], capture_output=True, text=True,
                             timeout=10).stdout
        self.flags: set[str] = set()
        self.env: dict[str, str] = {}        # env -> flag
        self.defaults: dict[str, str] = {}   # flag -> default
        self.choices: dict[str, set[str]] = {}
        flag = None
        for line in out.splitlines():
            m = re.match(r"^\s+--([a-z0-9-]+)", line)
            if m:
                flag = m.group(1)
                self.flags.add(flag)
                continue
            if flag is None:
                continue
            m = re.search(r"\[env (TASKMILL_[A-Z0-9_]+)\]", line)
            if m:
                self.env[m.group(1)] = flag
            m = re.search(r"\(default: ([^)]*)\)", line)
            if m:
                self.defaults[flag] = m.group(1)
            m = re.search(r"\(one of: ([^)]*)\)", line)
            if m:
                self.choices[flag] = {c.strip() for c in m.group(1).split(",")}
        if not self.flags:
            raise SystemExit(f"check_manifests: no flags in {binary} --help")


def image_name(image: str) -> str:
    name = image.split("@")[0].rsplit("/", 1)[-1]
    return name.split(":")[0]


def pod_spec(obj):
    if obj.get("kind") in ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"):
        return obj["spec"]["template"]
    if obj.get("kind") == "Pod":
        return obj
    return None


def name_of(obj) -> str:
    return f'{obj.get("kind")}/{obj.get("metadata", {}).get("name")}'


def env_values(container) -> dict[str, str]:
    return {e["name"]: str(e.get("value", "")) for e in container.get("env", [])
            if "value" in e}


def port_of(endpoint: str) -> int | None:
    m = re.search(r":(\d+)$", endpoint)
    return int(m.group(1)) if m else None


def listened_ports(image: str, hlp: Help, env: dict[str, str]) -> set[int]:
    def value(flag: str) -> str:
        for var, f in hlp.env.items():
            if f == flag and var in env:
                return env[var]
        return hlp.defaults.get(flag, "")
    names = ["http"] + (["frontend", "backend"] if image == "taskmill-broker" else [])
    ports = set()
    for flag in names:
        p = port_of(value(flag))
        if p:
            ports.add(p)
    return ports


def http_port(image: str, hlp: Help, env: dict[str, str]) -> int | None:
    for var, f in hlp.env.items():
        if f == "http" and var in env:
            return port_of(env[var])
    return port_of(hlp.defaults.get("http", ""))


def resolve_port(container, port) -> int | None:
    if isinstance(port, int):
        return port if any(p["containerPort"] == port for p in container.get("ports", [])) \
            else None
    for p in container.get("ports", []):
        if p.get("name") == port:
            return p["containerPort"]
    return None


def check_container(where: str, container, helps: dict[str, Help]) -> None:
    image = image_name(container.get("image", ""))
    hlp = helps.get(image)
    if hlp is None:
        return
    env = env_values(container)
    for e in container.get("env", []):
        var = e["name"]
        if var.startswith("TASKMILL_"):
            if var not in hlp.env:
                fail("flags", where, f"{image} does not read env {var}")
            elif var in env and hlp.env[var] in hlp.choices and \
                    env[var] not in hlp.choices[hlp.env[var]]:
                fail("flags", where, f"{var}={env[var]} is not one of "
                     f"{sorted(hlp.choices[hlp.env[var]])}")
        elif var not in OTHER_ENV:
            fail("flags", where, f"unexpected env {var} for {image}")
    for arg in list(container.get("command", [])[1:]) + list(container.get("args", [])):
        m = re.match(r"^--([a-z0-9-]+)", str(arg))
        if m and m.group(1) not in hlp.flags:
            fail("flags", where, f"{image} has no flag --{m.group(1)}")
    listened = listened_ports(image, hlp, env)
    for p in container.get("ports", []):
        if p["containerPort"] not in listened:
            fail("ports", where, f"containerPort {p['containerPort']} ({p.get('name')}) is "
                 f"not a port {image} listens on ({sorted(listened)})")
    hport = http_port(image, hlp, env)
    for kind in ("readinessProbe", "livenessProbe", "startupProbe"):
        probe = container.get(kind)
        if not probe:
            continue
        if "httpGet" in probe:
            path = probe["httpGet"].get("path", "/")
            if path not in HTTP_PATHS[image]:
                fail("probes", where, f"{kind} path {path} is not served by {image}")
            port = resolve_port(container, probe["httpGet"]["port"])
            if port is None:
                fail("probes", where, f"{kind} port {probe['httpGet']['port']} is no "
                     "container port")
            elif port != hport:
                fail("probes", where, f"{kind} port {port} is not the HTTP listener "
                     f"({hport})")
        if "tcpSocket" in probe and resolve_port(container, probe["tcpSocket"]["port"]) is None:
            fail("probes", where, f"{kind} port {probe['tcpSocket']['port']} is no "
                 "container port")


def check_other_probes(where: str, container) -> None:
    for kind in ("readinessProbe", "livenessProbe", "startupProbe"):
        probe = container.get(kind) or {}
        for action in ("tcpSocket", "httpGet"):
            if action in probe and resolve_port(container, probe[action]["port"]) is None:
                fail("probes", where, f"{kind} port {probe[action]['port']} is no "
                     "container port")


def matches(selector: dict, labels: dict) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def label_selector_matches(sel: dict, labels: dict) -> bool:
    if not sel:
        return False
    if not all(labels.get(k) == v for k, v in sel.get("matchLabels", {}).items()):
        return False
    for expr in sel.get("matchExpressions", []):
        val = labels.get(expr["key"])
        op = expr["operator"]
        if op == "In" and val not in expr["values"]:
            return False
        if op == "NotIn" and val in expr["values"]:
            return False
        if op == "Exists" and val is None:
            return False
        if op == "DoesNotExist" and val is not None:
            return False
    return True


def check_objects(objs, helps: dict[str, Help]) -> None:
    workloads = [o for o in objs if pod_spec(o) is not None]
    by_kind_name = {(o["kind"], o["metadata"]["name"]): o for o in objs}
    for w in workloads:
        tmpl = pod_spec(w)
        spec = tmpl["spec"]
        labels = tmpl.get("metadata", {}).get("labels", {})
        where = name_of(w)
        if w["kind"] != "Pod" and not label_selector_matches(w["spec"].get("selector", {}),
                                                             labels):
            fail("services", where, "its selector does not match its pod template's labels")
        psc = spec.get("securityContext", {})
        if psc.get("runAsNonRoot") is not True or psc.get("runAsUser", 1) == 0:
            fail("security", where, "pod is not forced non-root (runAsNonRoot, runAsUser)")
        for c in spec.get("containers", []):
            cwhere = f"{where} container {c['name']}"
            image = image_name(c.get("image", ""))
            if image in helps:
                check_container(cwhere, c, helps)
                if not c.get("securityContext", {}).get("readOnlyRootFilesystem"):
                    fail("security", cwhere, "root filesystem is writable")
            else:
                check_other_probes(cwhere, c)
            if image == "taskmill-worker":
                env = env_values(c)
                hlp = helps[image]
                drain = int(env.get("TASKMILL_DRAIN_TIMEOUT_MS",
                                    hlp.defaults.get("drain-timeout-ms", "30000")))
                cancel = int(env.get("TASKMILL_CANCEL_GRACE_MS",
                                     hlp.defaults.get("cancel-grace-ms", "5000")))
                grace = spec.get("terminationGracePeriodSeconds", 30)
                if grace * 1000 <= drain + cancel:
                    fail("grace", cwhere, f"terminationGracePeriodSeconds {grace} s does not "
                         f"exceed drain {drain} ms + cancel grace {cancel} ms")
    for svc in (o for o in objs if o.get("kind") == "Service"):
        where = name_of(svc)
        sel = svc["spec"].get("selector", {})
        pods = [w for w in workloads if matches(sel, pod_spec(w).get("metadata", {})
                                                .get("labels", {}))]
        if not pods:
            fail("services", where, f"selector {sel} matches no pod template")
            continue
        for port in svc["spec"].get("ports", []):
            target = port.get("targetPort", port["port"])
            for w in pods:
                if not any(resolve_port(c, target) is not None
                           for c in pod_spec(w)["spec"]["containers"]):
                    fail("services", where, f"targetPort {target} is no container port of "
                         f"{name_of(w)}")
    for pdb in (o for o in objs if o.get("kind") == "PodDisruptionBudget"):
        where = name_of(pdb)
        pods = [w for w in workloads if label_selector_matches(
            pdb["spec"].get("selector", {}), pod_spec(w).get("metadata", {}).get("labels", {}))]
        if not pods:
            fail("pdb", where, "selects no pod template")
            continue
        replicas = sum(w["spec"].get("replicas", 1) for w in pods)
        min_available = pdb["spec"].get("minAvailable")
        if isinstance(min_available, int) and min_available >= replicas:
            fail("pdb", where, f"minAvailable {min_available} >= {replicas} replicas: no pod "
                 "can ever be evicted")
    for so in (o for o in objs if o.get("kind") == "ScaledObject"):
        check_scaled_object(so, objs, by_kind_name)


def check_scaled_object(so, objs, by_kind_name) -> None:
    where = name_of(so)
    ref = so["spec"]["scaleTargetRef"]
    target = by_kind_name.get((ref.get("kind", "Deployment"), ref["name"]))
    containers = pod_spec(target)["spec"]["containers"] if target and pod_spec(target) else []
    if not any(image_name(c.get("image", "")) == "taskmill-worker" for c in containers):
        fail("scaledobject", where, f"scaleTargetRef {ref.get('kind', 'Deployment')}/"
             f"{ref['name']} is not the worker Deployment")
    for trig in so["spec"].get("triggers", []):
        meta = trig.get("metadata", {})
        if trig["type"] != "metrics-api":
            continue
        if meta.get("format") != "prometheus" or \
                not meta.get("valueLocation", "").startswith("taskmill_queue_backlog"):
            fail("scaledobject", where, "the metrics-api trigger does not read "
                 "taskmill_queue_backlog in the prometheus format")
        url = urllib.parse.urlparse(meta.get("url", ""))
        svc_name = (url.hostname or "").split(".")[0]
        svc = by_kind_name.get(("Service", svc_name))
        if svc is None or url.path != "/metrics":
            fail("scaledobject", where, f"url {meta.get('url')} is not a Service's /metrics")
            continue
        if not any(p["port"] == url.port for p in svc["spec"]["ports"]):
            fail("scaledobject", where, f"Service {svc_name} has no port {url.port}")
        ns = so["metadata"].get("namespace")
        parts = (url.hostname or "").split(".")
        if ns and len(parts) > 1 and parts[1] != ns:
            fail("scaledobject", where, f"url names namespace {parts[1]}, objects are in {ns}")


def check_dockerfile(path: str) -> None:
    stages: dict[str, dict] = {}
    current = None
    lines = []
    buf = ""
    for raw in open(path, encoding="utf-8"):
        line = raw.rstrip("\n")
        if line.lstrip().startswith("#"):
            continue
        if line.endswith("\\"):
            buf += line[:-1] + " "
            continue
        lines.append(buf + line)
        buf = ""
    for line in lines:
        words = line.split(None, 1)
        if not words:
            continue
        op, rest = words[0].upper(), (words[1] if len(words) > 1 else "")
        if op == "FROM":
            m = re.match(r"(\S+)(?:\s+AS\s+(\S+))?", rest, re.I)
            parent = m.group(1)
            current = {"user": None, "entrypoint": None, "runs": []}
            if parent in stages:  # inherits its parent's USER and ENTRYPOINT
                current = {**stages[parent], "runs": list(stages[parent]["runs"])}
            stages[m.group(2) or f"stage{len(stages)}"] = current
        elif current is None:
            continue
        elif op == "USER":
            current["user"] = rest.strip()
        elif op == "ENTRYPOINT":
            current["entrypoint"] = rest.strip()
        elif op == "RUN":
            current["runs"].append(rest)
    builder = stages.get("builder")
    runs = " ".join(builder["runs"]) if builder else ""
    if "scripts/setup.sh" not in runs or "scripts/build.sh" not in runs:
        fail("dockerfile", path, "the builder stage does not run scripts/setup.sh and "
             "scripts/build.sh")
    for target, binary in DOCKER_TARGETS.items():
        st = stages.get(target)
        if st is None:
            fail("dockerfile", path, f"no build target {target}")
            continue
        user = (st["user"] or "").split(":")[0]
        if not user.isdigit() or int(user) == 0:
            fail("dockerfile", path, f"target {target}: USER {st['user']} is not a numeric "
                 "non-root user")
        ep = st["entrypoint"] or ""
        try:
            argv = yaml.safe_load(ep) if ep.startswith("[") else None
        except yaml.YAMLError:
            argv = None
        if not isinstance(argv, list) or not argv:
            fail("dockerfile", path, f"target {target}: ENTRYPOINT {ep!r} is not exec form")
        elif binary not in " ".join(argv) or argv[0] in ("sh", "/bin/sh", "bash", "/bin/bash"):
            fail("dockerfile", path, f"target {target}: ENTRYPOINT {argv} does not start "
                 f"{binary} itself")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True)
    ap.add_argument("--dockerfile")
    ap.add_argument("rendered", nargs="*")
    args = ap.parse_args()
    helps = {image: Help(f"{args.build}/{rel}") for image, rel in BINARIES.items()}
    for path in args.rendered:
        with open(path, encoding="utf-8") as f:
            objs = [o for o in yaml.safe_load_all(f) if o]
        check_objects(objs, helps)
    if args.dockerfile:
        check_dockerfile(args.dockerfile)
    for line in failures:
        print(line)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
