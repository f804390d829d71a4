#!/usr/bin/env python3
"""Prepares the JSON schemas kubeconform validates the rendered manifests against, offline.

* The Kubernetes schemas bundled by PyPI's kubernetes-validate (strict variant: no unknown
  fields), with their "$ref": "/api/_definitions.json#..." (absolute, under an https
  "$id") made local: each file carries the definitions it reaches, so it compiles alone.
* The third-party CRDs in shared/k8s-crds (KEDA ScaledObject, TriggerAuthentication,
  Prometheus ServiceMonitor): each served version's openAPIV3Schema, written as
  <kind>-<group's first label>-<version>.json (kubeconform's {{ .ResourceKind }}{{ .KindSuffix }}),
  with additionalProperties: false added wherever the schema lists properties and does not
  allow unknown ones, so a misspelt field fails as it does for the built-in kinds.

Usage: schemas.py OUT_DIR CRD_DIR. OUT_DIR/.stamp records what it was made from; a second
run with the same inputs does nothing.
"""
import importlib.util
import json
import os
import pathlib
import sys

K8S_VERSION = "1.37.0"


def k8s_schema_dir() -> pathlib.Path:
    # Located, not imported: importing kubernetes_validate costs a second per run.
    spec = importlib.util.find_spec("kubernetes_validate")
    base = pathlib.Path(spec.origin).parent / "kubernetes-json-schema"
    return base / f"v{K8S_VERSION}-local-strict"


REF_PREFIX = "/api/_definitions.json#/$defs/"


def local_refs(node, seen):
    """Rewrites "/api/_definitions.json#/$defs/X" to "#/$defs/X"; collects each X."""
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                if value.startswith(REF_PREFIX):
                    value = "#/$defs/" + value[len(REF_PREFIX):]
                if value.startswith("#/$defs/"):
                    seen.add(value[len("#/$defs/"):])
            out[key] = local_refs(value, seen)
        return out
    if isinstance(node, list):
        return [local_refs(v, seen) for v in node]
    return node


def self_contained(schema, defs):
    """The schema with the definitions it reaches (transitively) under its own $defs: each
    file compiles alone and small (kubeconform compiles one schema per kind; the whole
    _definitions.json took it ~0.5 s per kind)."""
    todo = set()
    root = local_refs(schema, todo)
    done = {}
    while todo:
        name = todo.pop()
        if name in done:
            continue
        found = set()
        done[name] = local_refs(defs[name], found)
        todo |= found - done.keys()
    root["$defs"] = done
    return root


def close_objects(node):
    """additionalProperties: false on every object schema that lists its properties."""
    if isinstance(node, dict):
        for value in node.values():
            close_objects(value)
        if ("properties" in node and "additionalProperties" not in node
                and not node.get("x-kubernetes-preserve-unknown-fields")):
            node["additionalProperties"] = False
    elif isinstance(node, list):
        for value in node:
            close_objects(value)


def crd_schemas(crd_dir: pathlib.Path):
    import yaml  # only when the schemas are (re)made
    for path in sorted(crd_dir.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if not doc or doc.get("kind") != "CustomResourceDefinition":
                continue
            spec = doc["spec"]
            kind = spec["names"]["kind"].lower()
            group = spec["group"].split(".")[0].lower()
            for version in spec["versions"]:
                schema = version.get("schema", {}).get("openAPIV3Schema")
                if schema is None:
                    continue
                close_objects(schema)
                # Objects' metadata is Kubernetes' own; the CRD leaves it open.
                schema.setdefault("properties", {})["metadata"] = {"type": "object"}
                yield f"{kind}-{group}-{version['name']}.json", schema


def main() -> int:
    out = pathlib.Path(sys.argv[1])
    crd_dir = pathlib.Path(sys.argv[2])
    src = k8s_schema_dir()
    stamp_text = json.dumps({
        "k8s": str(src),
        "crds": {p.name: p.stat().st_mtime_ns for p in sorted(crd_dir.glob("*.yaml"))},
        "tool": pathlib.Path(__file__).stat().st_mtime_ns,
    })
    stamp = out / ".stamp"
    if stamp.exists() and stamp.read_text() == stamp_text:
        return 0
    out.mkdir(parents=True, exist_ok=True)
    defs = json.loads((src / "_definitions.json").read_text())["$defs"]
    for path in src.glob("*.json"):
        if path.name == "_definitions.json":
            continue
        data = json.loads(path.read_text())
        data.pop("$id", None)
        (out / path.name).write_text(json.dumps(self_contained(data, defs)))
    count = 0
    for name, schema in crd_schemas(crd_dir):
        (out / name).write_text(json.dumps(schema))
        count += 1
    if count == 0:
        print(f"schemas: no CRD schema found in {crd_dir}", file=sys.stderr)
        return 1
    tmp = stamp.with_suffix(".tmp")
    tmp.write_text(stamp_text)
    os.replace(tmp, stamp)
    return 0


if __name__ == "__main__":
    sys.exit(main())
