#!/usr/bin/env bash
# Configures and builds taskmill into $BUILD_DIR (default: build). Extra args go to cmake.
# TASKMILL_TARGETS (space-separated CMake targets) builds only those, e.g. the quickstart's
# "taskmill-broker taskmill-worker taskmill"; unset, everything (tests included) is built.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
# ccache (CMakeLists.txt uses it when present): paths under the checkout are hashed as
# relative ones and the working directory is left out, so a clone at any path (CI's fresh
# one, a worktree) reuses the objects of another; the build dir must be at the same place
# relative to its sources (build/ by default).
export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$PWD}
export CCACHE_NOHASHDIR=${CCACHE_NOHASHDIR:-1}
BUILD_TYPE=${BUILD_TYPE:-RelWithDebInfo}
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE="$BUILD_TYPE" "$@" >/dev/null
targets=()
for t in ${TASKMILL_TARGETS:-}; do targets+=(--target "$t"); done
cmake --build "$BUILD_DIR" -j"${JOBS:-2}" "${targets[@]}"
