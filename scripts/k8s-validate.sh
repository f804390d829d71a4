#!/usr/bin/env bash
# Validates the Kubernetes manifests offline (no cluster, no container engine):
#   1. yamllint on every source YAML under k8s/ and on each rendered overlay;
#   2. kustomize renders every overlay in k8s/overlays/;
#   3. kubeconform -strict against the Kubernetes schemas bundled by kubernetes-validate
#      (refs made relative) and the CRDs of ../shared/k8s-crds (KEDA, Prometheus Operator),
#      converted by tests/k8s/schemas.py; no schema may be missing;
#   4. tests/k8s/check_manifests.py: flags/env each binary accepts (its --help), ports,
#      probes, Service selectors and target ports, grace > drain, PDBs, the ScaledObject,
#      security contexts, and the Dockerfile statically.
# Usage: k8s-validate.sh [--k8s DIR] [--dockerfile FILE] [BUILD_DIR]   (BUILD_DIR: build)
# The tools come from scripts/setup.sh (cached in $TASKMILL_TOOLS_DIR, ~/.cache/taskmill).
# Exits 1 on the first failing stage, printing what failed.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
K8S_DIR=$REPO/k8s
DOCKERFILE=$REPO/deploy/docker/Dockerfile
while [[ $# -gt 0 ]]; do
  case $1 in
    --k8s) K8S_DIR=$2; shift 2 ;;
    --dockerfile) DOCKERFILE=$2; shift 2 ;;
    *) break ;;
  esac
done
BUILD=$(cd "${1:-$REPO/build}" && pwd)
TOOLS_DIR=${TASKMILL_TOOLS_DIR:-$HOME/.cache/taskmill}
PY=$TOOLS_DIR/k8s-venv/bin/python
YAMLLINT=$TOOLS_DIR/k8s-venv/bin/yamllint
KUSTOMIZE=$TOOLS_DIR/go/bin/kustomize
KUBECONFORM=$TOOLS_DIR/go/bin/kubeconform
for tool in "$PY" "$YAMLLINT" "$KUSTOMIZE" "$KUBECONFORM"; do
  [[ -x $tool ]] || { echo "k8s-validate: $tool is missing: run scripts/setup.sh"; exit 1; }
done
# CI lays shared/ beside the clone (read-only); a worktree finds it the same way.
CRDS=${TASKMILL_K8S_CRDS:-}
if [[ -z $CRDS ]]; then
  for d in "$REPO/../shared/k8s-crds" "$REPO/../../shared/k8s-crds" /work/shared/k8s-crds; do
    [[ -d $d ]] && { CRDS=$(cd "$d" && pwd); break; }
  done
fi
[[ -n $CRDS ]] || { echo "k8s-validate: no shared/k8s-crds beside the repo"; exit 1; }

SCHEMAS=$TOOLS_DIR/k8s-schemas
"$PY" "$REPO/tests/k8s/schemas.py" "$SCHEMAS" "$CRDS"

OUT=$(mktemp -d "${TMPDIR:-/tmp}/k8s-validate.XXXXXX")
trap 'rm -rf "$OUT"' EXIT
LINT_CONF=$REPO/k8s/.yamllint
[[ -f $K8S_DIR/.yamllint ]] && LINT_CONF=$K8S_DIR/.yamllint

rendered=()
for overlay in "$K8S_DIR"/overlays/*/; do
  name=$(basename "$overlay")
  echo "k8s-validate: kustomize build overlays/$name"
  "$KUSTOMIZE" build "$overlay" >"$OUT/$name.yaml"
  rendered+=("$OUT/$name.yaml")
done
[[ ${#rendered[@]} -gt 0 ]] || { echo "k8s-validate: no overlay in $K8S_DIR/overlays"; exit 1; }
echo "k8s-validate: yamllint $K8S_DIR and the rendered overlays"
"$YAMLLINT" -s -c "$LINT_CONF" "$K8S_DIR" "${rendered[@]}"
echo "k8s-validate: kubeconform -strict"
"$KUBECONFORM" -strict -summary \
  -schema-location "$SCHEMAS/{{ .ResourceKind }}{{ .KindSuffix }}.json" "${rendered[@]}"
echo "k8s-validate: project checks (tests/k8s/check_manifests.py)"
"$PY" "$REPO/tests/k8s/check_manifests.py" --build "$BUILD" --dockerfile "$DOCKERFILE" \
  "${rendered[@]}"
echo "k8s-validate: ok (${#rendered[@]} overlays)"
