#!/usr/bin/env bash
# Sets up the machine, builds taskmill with warnings as errors, runs every test, then
# fuzzes the protocol decoder for a short fixed time (scripts/fuzz.sh; a crash, leak,
# sanitizer report or OOM fails the run). Exits non-zero on any failure.
# Extra args go to ctest (e.g. -L unit). TASKMILL_FUZZ_SECONDS sets the fuzz time
# (default 20; 0 skips it).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export BUILD_DIR=${BUILD_DIR:-build}
unset TASKMILL_TARGETS  # everything: the tests too
bash scripts/build.sh -DTASKMILL_WERROR=ON
status=0
ctest --test-dir "$BUILD_DIR" --output-on-failure -j2 --timeout 300 "$@" || status=$?
fuzz_seconds=${TASKMILL_FUZZ_SECONDS:-20}
if [[ "$fuzz_seconds" != 0 ]]; then
  bash scripts/fuzz.sh "$fuzz_seconds" || status=$?
fi
exit "$status"
