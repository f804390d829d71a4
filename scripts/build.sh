#!/usr/bin/env bash
# Configures and builds taskmill into $BUILD_DIR (default: build). Extra args go to cmake.
# TASKMILL_TARGETS (space-separated CMake targets) builds only those, e.g. the quickstart's
# "taskmill-broker taskmill-worker taskmill"; unset, everything (tests included) is built.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
BUILD_TYPE=${BUILD_TYPE:-RelWithDebInfo}
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE="$BUILD_TYPE" "$@" >/dev/null
targets=()
for t in ${TASKMILL_TARGETS:-}; do targets+=(--target "$t"); done
cmake --build "$BUILD_DIR" -j"${JOBS:-2}" "${targets[@]}"
