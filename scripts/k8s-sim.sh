#!/usr/bin/env bash
# Runs a k8s overlay in the simulated cluster (tests/k8s/sim; docs/kubernetes.md says what
# is simulated and how): renders k8s/overlays/OVERLAY with kustomize, then plays the
# overlay's scenario and prints its timeline. Needs root (network and mount namespaces);
# exits 77 (skipped) otherwise.
# Usage: k8s-sim.sh OVERLAY [BUILD_DIR]   (OVERLAY: dev or prod; BUILD_DIR: build)
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
OVERLAY=${1:?usage: k8s-sim.sh dev|prod [BUILD_DIR]}
BUILD=$(cd "${2:-$REPO/build}" && pwd)
if [[ $(id -u) -ne 0 ]]; then
  echo "SKIP: the Kubernetes simulator needs root (ip netns, mount namespaces)"
  exit 77
fi
if ! command -v ip >/dev/null || ! ip netns list >/dev/null 2>&1 || ! command -v redis-server >/dev/null; then
  echo "SKIP: no usable 'ip netns' or no redis-server"
  exit 77
fi
TOOLS_DIR=${TASKMILL_TOOLS_DIR:-$HOME/.cache/taskmill}
rendered=$(mktemp "${TMPDIR:-/tmp}/k8s-sim-$OVERLAY.XXXXXX.yaml")
trap 'rm -f "$rendered"' EXIT
"$TOOLS_DIR/go/bin/kustomize" build "$REPO/k8s/overlays/$OVERLAY" >"$rendered"
"$TOOLS_DIR/k8s-venv/bin/python" "$REPO/tests/k8s/sim/main.py" --overlay "$OVERLAY" \
  --rendered "$rendered" --build "$BUILD" --repo "$REPO"
