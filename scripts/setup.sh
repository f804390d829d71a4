#!/usr/bin/env bash
# Installs everything taskmill needs to build, test and run on Debian 12.
# Idempotent: when every package is already present it only checks and exits.
set -euo pipefail

APT_PACKAGES=(
  build-essential cmake ninja-build pkg-config ccache git
  libzmq3-dev cppzmq-dev libmsgpack-cxx-dev libhiredis-dev libspdlog-dev nlohmann-json3-dev
  libgtest-dev libgmock-dev libjemalloc-dev
  redis-server redis-tools
  procps iproute2
  # The libFuzzer run of scripts/test.sh (scripts/fuzz.sh): Clang 16 and its runtimes.
  clang-16 libclang-rt-16-dev
  # Observability (docs/observability.md): prometheus-cpp 1.0 keeps the broker's and
  # worker's thread-safe histograms and writes the Prometheus text format; promtool
  # (prometheus) checks that page and the documented PromQL in the tests; cpp-httplib 0.11
  # is the tests' HTTP client (its server does not bound the number of headers, so the
  # listener itself is shared/http/src/http_server.cc).
  libcpp-httplib-dev prometheus-cpp-dev prometheus
  # The dashboard's browser test (tests/browser): Debian's headless-capable Chromium, driven
  # by playwright-core (pinned in tests/browser/package-lock.json), since no browser can be
  # downloaded in CI.
  chromium
  # The scaling chart of docs/performance.md (scripts/plot_scaling.py draws docs/img/
  # scaling.png from scripts/bench_scaling.sh's figures): Debian 12's matplotlib 3.6.
  python3-matplotlib
  # Schedules' time zones (--tz, docs/architecture.md "Schedules"): g++ 12's <chrono> has no
  # tz database; Howard Hinnant's date (the library std::chrono's zones came from) reads the
  # system's /usr/share/zoneinfo (tzdata) at run time.
  libhowardhinnant-date-dev tzdata
)

# TASKMILL_SETUP_PROFILE=build (the image builder, deploy/docker/Dockerfile): only what
# scripts/build.sh needs to build the binaries; no test, client or validation tools.
if [ "${TASKMILL_SETUP_PROFILE:-}" = build ]; then
  APT_PACKAGES=(
    build-essential cmake ninja-build pkg-config git
    libzmq3-dev cppzmq-dev libmsgpack-cxx-dev libhiredis-dev libspdlog-dev nlohmann-json3-dev
    libjemalloc-dev libcpp-httplib-dev prometheus-cpp-dev
  )
fi

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$pkg")
  fi
done

if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
else
  echo "setup: all system packages present"
fi

if [ "${TASKMILL_SETUP_PROFILE:-}" = build ]; then
  exit 0
fi

# Node client (client/node): npm ci only when node_modules is missing or older than the lock.
node_dir="$(cd "$(dirname "$0")/.." && pwd)/client/node"
if command -v npm >/dev/null 2>&1 && { [ ! -d "$node_dir/node_modules" ] ||
    [ "$node_dir/package-lock.json" -nt "$node_dir/node_modules" ]; }; then
  npm ci --prefix "$node_dir" --no-audit --no-fund
fi

# Browser test (tests/browser): playwright-core only (it never downloads a browser; the
# test drives /usr/bin/chromium).
browser_dir="$(cd "$(dirname "$0")/.." && pwd)/tests/browser"
if command -v npm >/dev/null 2>&1 && { [ ! -d "$browser_dir/node_modules" ] ||
    [ "$browser_dir/package-lock.json" -nt "$browser_dir/node_modules" ]; }; then
  PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --prefix "$browser_dir" --no-audit --no-fund
fi

# Python client (client/python): pyzmq, msgpack and pytest, when any is missing.
if ! python3 -c 'import zmq, msgpack, pytest' >/dev/null 2>&1; then
  echo "setup: installing Python packages pyzmq msgpack pytest"
  python3 -m pip --version >/dev/null 2>&1 ||
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-pip >/dev/null
  python3 -m pip install -q pyzmq msgpack pytest ||
    python3 -m pip install -q --break-system-packages pyzmq msgpack pytest
fi
# mypy, pinned: client/python/tests/test_typing.py checks the package's public API and
# the README's examples with `mypy --strict`, so a signature drift fails a test.
MYPY_VERSION=2.4.1
if ! python3 -m mypy --version 2>/dev/null | grep -q "mypy $MYPY_VERSION"; then
  echo "setup: installing mypy==$MYPY_VERSION"
  python3 -m pip install -q "mypy==$MYPY_VERSION" ||
    python3 -m pip install -q --break-system-packages "mypy==$MYPY_VERSION"
fi

# Kubernetes manifests (k8s/, scripts/k8s-validate.sh, docs/kubernetes.md). No cluster or
# container engine runs here, so the manifests are rendered and validated offline:
# yamllint and kubernetes-validate (for the Kubernetes JSON schemas it bundles) in a tools
# venv, kustomize and kubeconform built from the Go module proxy. Everything is cached
# under $TASKMILL_TOOLS_DIR (default ~/.cache/taskmill), so a second run only checks
# versions. kustomize v5.8.1 is the newest that builds on this machine's Go 1.26 (its api
# module v0.21.1; v0.21.3 needs Go 1.27).
TOOLS_DIR=${TASKMILL_TOOLS_DIR:-$HOME/.cache/taskmill}
YAMLLINT_VERSION=1.38.0
KUBERNETES_VALIDATE_VERSION=1.37.0
KUSTOMIZE_VERSION=v5.8.1
KUBECONFORM_VERSION=v0.7.0
k8s_venv="$TOOLS_DIR/k8s-venv"
if ! "$k8s_venv/bin/yamllint" --version 2>/dev/null | grep -q " $YAMLLINT_VERSION\$" ||
    ! "$k8s_venv/bin/python" -c "import importlib.metadata as m, sys; \
sys.exit(m.version('kubernetes-validate') != '$KUBERNETES_VALIDATE_VERSION')" 2>/dev/null; then
  echo "setup: installing yamllint==$YAMLLINT_VERSION kubernetes-validate==$KUBERNETES_VALIDATE_VERSION"
  python3 -m venv "$k8s_venv"
  "$k8s_venv/bin/pip" install -q "yamllint==$YAMLLINT_VERSION" \
    "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION"
fi
go_bin="$TOOLS_DIR/go/bin"
go_install() {  # go_install BINARY MODULE VERSION: once per version (a stamp file says which)
  local bin=$1 mod=$2 version=$3
  if [ -x "$go_bin/$bin" ] && [ "$(cat "$go_bin/$bin.version" 2>/dev/null)" = "$version" ]; then
    return 0
  fi
  if ! command -v go >/dev/null 2>&1; then
    echo "setup: WARNING: no Go toolchain, cannot build $bin (scripts/k8s-validate.sh needs it)"
    return 0
  fi
  echo "setup: building $bin $version"
  mkdir -p "$go_bin"
  GOBIN="$go_bin" GOMODCACHE="$TOOLS_DIR/go/mod" GOCACHE="$TOOLS_DIR/go/build" GOFLAGS=-mod=mod \
    go install "$mod@$version"
  echo "$version" >"$go_bin/$bin.version"
}
go_install kustomize sigs.k8s.io/kustomize/kustomize/v5 "$KUSTOMIZE_VERSION"
go_install kubeconform github.com/yannh/kubeconform/cmd/kubeconform "$KUBECONFORM_VERSION"
