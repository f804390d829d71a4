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
