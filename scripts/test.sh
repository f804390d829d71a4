#!/usr/bin/env bash
# Sets up the machine, builds taskmill with warnings as errors, and runs every test.
# Exits non-zero on any failure. Extra args go to ctest (e.g. -L unit).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export BUILD_DIR=${BUILD_DIR:-build}
bash scripts/build.sh -DTASKMILL_WERROR=ON
ctest --test-dir "$BUILD_DIR" --output-on-failure -j2 --timeout 300 "$@"
