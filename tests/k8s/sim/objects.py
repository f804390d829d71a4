"""The rendered manifests as the simulator reads them: objects by kind and name, label
selectors, pod templates, and the Secrets/ConfigMaps a pod mounts."""
import base64
import json
import hashlib

import yaml


def load(path):
    with open(path, encoding="utf-8") as f:
        return [o for o in yaml.safe_load_all(f) if o]


def selector_matches(sel, labels):
    """A LabelSelector (matchLabels/matchExpressions) or a Service's plain map."""
    if not sel:
        return False
    plain = {k: v for k, v in sel.items() if k not in ("matchLabels", "matchExpressions")}
    want = {**plain, **sel.get("matchLabels", {})}
    if not all(labels.get(k) == v for k, v in want.items()):
        return False
    for e in sel.get("matchExpressions", []):
        val = labels.get(e["key"])
        if e["operator"] == "In" and val not in e["values"]:
            return False
        if e["operator"] == "NotIn" and val in e["values"]:
            return False
        if e["operator"] == "Exists" and val is None:
            return False
    return True


def template_hash(template):
    return hashlib.sha256(json.dumps(template, sort_keys=True).encode()).hexdigest()[:10]


class Objects:
    def __init__(self, objs):
        self.all = objs
        self.namespace = next((o["metadata"].get("namespace") for o in objs
                               if o["metadata"].get("namespace")), "default")

    def of(self, kind):
        return [o for o in self.all if o["kind"] == kind]

    def get(self, kind, name):
        for o in self.all:
            if o["kind"] == kind and o["metadata"]["name"] == name:
                return o
        return None

    def secret_data(self, name):
        """{key: bytes} of a Secret, or None when the manifests do not hold it."""
        s = self.get("Secret", name)
        if s is None:
            return None
        out = {k: base64.b64decode(v) for k, v in (s.get("data") or {}).items()}
        out.update({k: v.encode() for k, v in (s.get("stringData") or {}).items()})
        return out

    def configmap_data(self, name):
        c = self.get("ConfigMap", name)
        if c is None:
            return None
        return {k: v.encode() for k, v in (c.get("data") or {}).items()}

    def add_secret(self, name, data):
        self.all.append({"apiVersion": "v1", "kind": "Secret",
                         "metadata": {"name": name, "namespace": self.namespace},
                         "data": {k: base64.b64encode(v).decode() for k, v in data.items()}})

    def pdbs_for(self, labels):
        return [p for p in self.of("PodDisruptionBudget")
                if selector_matches(p["spec"].get("selector"), labels)]
