#!/usr/bin/env python3
"""Each kind of mistake makes scripts/k8s-validate.sh fail: one broken copy of k8s/ (or of
the Dockerfile) per kind, made in a temp dir, validated, and the failure must name the
stage or check that caught it. The unbroken copy must pass, so the failures are the
mistakes' own.

Usage: mistakes_test.py REPO BUILD_DIR
"""
import concurrent.futures
import os
import shutil
import subprocess
import sys
import tempfile

# name, file (under the copy: k8s/... or Dockerfile), text, replacement, expected output
CASES = [
    ("yamllint", "k8s/base/broker.yaml", "  replicas: 2\n", "  replicas: 2   \n",
     "trailing-spaces"),
    ("kustomize", "k8s/base/kustomization.yaml", "  - worker.yaml\n",
     "  - worker.yaml\n  - missing.yaml\n", "missing.yaml"),
    ("schema (misspelt field)", "k8s/base/worker.yaml", "terminationGracePeriodSeconds: 45",
     "terminationGracePeriodSecond: 45", "terminationGracePeriodSecond' not allowed"),
    ("CRD schema", "k8s/overlays/prod/scaledobject.yaml", "minReplicaCount: 1",
     "minReplicaCount: one", "ScaledObject taskmill-worker is invalid"),
    ("env the binary does not read", "k8s/base/worker.yaml", "TASKMILL_CONCURRENCY",
     "TASKMILL_CONCURENCY", "[flags]"),
    ("value outside a flag's choices", "k8s/base/worker.yaml", "value: directory",
     "value: sandbox", "[flags]"),
    ("port the binary does not listen on", "k8s/base/broker.yaml",
     "value: tcp://0.0.0.0:5556", "value: tcp://0.0.0.0:5557", "[ports]"),
    ("probe path not served", "k8s/base/broker.yaml", "path: /readyz", "path: /ready",
     "[probes]"),
    ("probe port not a container port", "k8s/base/worker.yaml",
     "              port: http\n            periodSeconds: 10",
     "              port: 9465\n            periodSeconds: 10", "[probes]"),
    ("Service selector matching no pod", "k8s/base/broker.yaml",
     "  selector:\n    app.kubernetes.io/name: taskmill\n    app.kubernetes.io/component: broker",
     "  selector:\n    app.kubernetes.io/name: taskmill\n    app.kubernetes.io/component: brokr",
     "[services]"),
    ("Service targetPort no container has", "k8s/base/broker.yaml", "targetPort: worker",
     "targetPort: workers", "[services]"),
    ("grace period within the drain timeout", "k8s/base/worker.yaml",
     "terminationGracePeriodSeconds: 45", "terminationGracePeriodSeconds: 30", "[grace]"),
    ("PDB allowing no disruption", "k8s/overlays/prod/kustomization.yaml",
     "        value: 2\n", "        value: 3\n", "[pdb]"),
    ("ScaledObject not on the workers", "k8s/overlays/prod/scaledobject.yaml",
     "    name: taskmill-worker\n", "    name: taskmill-broker\n", "[scaledobject]"),
    ("ScaledObject on another metric", "k8s/overlays/prod/scaledobject.yaml",
     "valueLocation: taskmill_queue_backlog", "valueLocation: taskmill_queue_tasks",
     "[scaledobject]"),
    ("writable root filesystem", "k8s/base/worker.yaml", "readOnlyRootFilesystem: true",
     "readOnlyRootFilesystem: false", "[security]"),
    ("Dockerfile: root user", "Dockerfile", "USER 10001:10001\nEXPOSE 5555",
     "USER root\nEXPOSE 5555", "[dockerfile]"),
    ("Dockerfile: shell-form ENTRYPOINT", "Dockerfile",
     'ENTRYPOINT ["/usr/local/bin/taskmill-worker"]',
     "ENTRYPOINT /usr/local/bin/taskmill-worker", "[dockerfile]"),
    ("Dockerfile: build not by the project's scripts", "Dockerfile",
     "bash scripts/build.sh", "cmake --build build", "[dockerfile]"),
]


def validate(repo, build, root):
    return subprocess.run(
        ["bash", os.path.join(repo, "scripts/k8s-validate.sh"), "--k8s",
         os.path.join(root, "k8s"), "--dockerfile", os.path.join(root, "Dockerfile"), build],
        capture_output=True, text=True, timeout=120)


def broken_copy(repo, tmp, case):
    name, rel, old, new, _ = case
    root = tempfile.mkdtemp(dir=tmp)
    shutil.copytree(os.path.join(repo, "k8s"), os.path.join(root, "k8s"))
    shutil.copy(os.path.join(repo, "deploy/docker/Dockerfile"), os.path.join(root, "Dockerfile"))
    if rel is not None:
        path = os.path.join(root, rel)
        text = open(path, encoding="utf-8").read()
        if old not in text:
            raise AssertionError(f"{name}: the text to break is not in {rel} any more")
        with open(path, "w", encoding="utf-8") as f:
            f.write(text.replace(old, new, 1))
    return root


def main():
    repo, build = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    tmp = tempfile.mkdtemp(prefix="k8s-mistakes-")
    try:
        control = validate(repo, build, broken_copy(repo, tmp, ("control", None, "", "", "")))
        if control.returncode != 0:
            print("FAIL: the unbroken copy does not validate:\n" + control.stdout
                  + control.stderr)
            return 1

        def one(case):
            r = validate(repo, build, broken_copy(repo, tmp, case))
            out = r.stdout + r.stderr
            return case, r.returncode, out

        failed = 0
        with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
            for case, rc, out in pool.map(one, CASES):
                name, expect = case[0], case[4]
                if rc != 0 and expect in out:
                    print(f"ok: {name}: validation failed ({expect})")
                else:
                    failed += 1
                    print(f"FAIL: {name}: exit {rc}, expected a failure naming {expect!r}:\n"
                          + out[-2000:])
        print(f"{len(CASES) - failed} passed, {failed} failed")
        return 1 if failed else 0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
