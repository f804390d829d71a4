#!/usr/bin/env python3
"""Prepares the JSON schemas kubeconform validates the rendered manifests against, offline.

* The Kubernetes schemas bundled by PyPI's kubernetes-validate (strict variant: no unknown
  fields), with their absolute "$ref": "/api/_definitions.json#..." made relative and
  their https "$id" dropped, so kubeconform resolves them from the same directory.
* The third-party CRDs in shared/k8s-crds (KEDA ScaledObject, TriggerAuthentication,
  Prometheus ServiceMonitor): each served version's openAPIV3Schema, written as
  <kind>-<group's first label>-<version>.json (kubeconform's {{ .ResourceKind }}{{ .KindSuffix }}),
  with additionalProperties: false added wherever the schema lists properties and does not
  allow unknown ones, so a misspelt field fails as it does for the built-in kinds.

Usage: schemas.py OUT_DIR CRD_DIR. OUT_DIR/.stamp records what it was made from; a second
run with the same inputs does nothing.
"""
import json
import os
import pathlib
import sys

import kubernetes_validate  # type: ignore[import-untyped]
import yaml

K8S_VERSION = "1.37.0"


def k8s_schema_dir() -> pathlib.Path:
    base = pathlib.Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema"
    return base / f"v{K8S_VERSION}-local-strict"


def relative_refs(node):
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str) and value.startswith("/api/"):
                value = value[len("/api/"):]
            out[key] = relative_refs(value)
        return out
    if isinstance(node, list):
        return [relative_refs(v) for v in node]
    return node


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
    for path in src.glob("*.json"):
        data = json.loads(path.read_text())
        data.pop("$id", None)  # an https $id would make the relative refs resolve there
        (out / path.name).write_text(json.dumps(relative_refs(data)))
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
