#!/usr/bin/env bash
# Installs everything taskmill needs to build, test and run on Debian 12.
# Idempotent: when every package is already present it only checks and exits.
set -euo pipefail

APT_PACKAGES=(
  build-essential cmake ninja-build pkg-config ccache git
  libzmq3-dev cppzmq-dev libmsgpack-cxx-dev libhiredis-dev libspdlog-dev nlohmann-json3-dev
  libgtest-dev libgmock-dev
  redis-server redis-tools
  procps iproute2
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
