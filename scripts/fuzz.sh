#!/usr/bin/env bash
# Fuzzes the protocol decoder: scripts/fuzz.sh [seconds]   (default 60)
#
# Configures a Clang build in build-fuzz/ (the shared library instrumented with
# fuzzer-no-link,address,undefined), builds taskmill-decode-fuzz and runs it for the given
# time on a copy of tests/fuzz/corpus/, so the committed corpus is never rewritten.
# Exits non-zero when the fuzzer finds a crash, a leak, a sanitizer report or a round-trip
# mismatch; the input is left in build-fuzz/fuzz-artifacts/. Add it to tests/fuzz/corpus/
# and a unit test in shared/test/codec_reject_test.cc with the fix.
#
# Installs its compiler when missing (idempotent; root or sudo). Clang 14, Debian 12's
# default, cannot build the project: libstdc++ 12 offers std::expected only when
# __cpp_concepts >= 202002L, and Clang 14 lacks conditionally trivial destructors
# (P0848) that <expected> relies on. Clang 16 has P0848 but still advertises 201907L,
# hence the -U/-D below.
set -euo pipefail
cd "$(dirname "$0")/.."

SECONDS_TO_RUN=${1:-60}
BUILD_DIR=${FUZZ_BUILD_DIR:-build-fuzz}
JOBS=${JOBS:-2}

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# A clang++ of version 16 or later with its libFuzzer runtime.
find_clang() {
  local v
  for v in 19 18 17 16; do
    if command -v "clang++-$v" >/dev/null 2>&1 &&
      compgen -G "/usr/lib/llvm-$v/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a" >/dev/null; then
      echo "clang++-$v"
      return 0
    fi
  done
  return 1
}

if ! CXX_BIN=$(find_clang); then
  echo "fuzz: installing clang-16 and libclang-rt-16-dev"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    clang-16 libclang-rt-16-dev >/dev/null
  CXX_BIN=$(find_clang)
fi
# The rest of the toolchain and libraries (cmake, ninja, zmq, msgpack, ...).
if [ -x scripts/setup.sh ] && ! command -v cmake >/dev/null 2>&1; then
  scripts/setup.sh
fi

echo "fuzz: configuring $BUILD_DIR with $CXX_BIN"
# As scripts/build.sh: paths under the checkout hashed as relative ones, whatever its path.
export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$PWD} CCACHE_NOHASHDIR=${CCACHE_NOHASHDIR:-1}
cmake -S . -B "$BUILD_DIR" -G Ninja \
  -DCMAKE_CXX_COMPILER="$CXX_BIN" \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_FLAGS="-U__cpp_concepts -D__cpp_concepts=202002L -fno-sanitize-recover=all" \
  -DTASKMILL_SANITIZE=fuzzer-no-link,address,undefined \
  -DTASKMILL_WERROR=ON >/dev/null
cmake --build "$BUILD_DIR" --target taskmill-decode-fuzz -j"$JOBS"

run_dir="$BUILD_DIR/fuzz-run"
rm -rf "$run_dir"
mkdir -p "$run_dir/corpus" "$BUILD_DIR/fuzz-artifacts"
cp tests/fuzz/corpus/* "$run_dir/corpus/"

echo "fuzz: running for ${SECONDS_TO_RUN}s"
status=0
# -timeout: one input over 10 s is a hang; -rss_limit_mb: over 2 GiB is an OOM; leaks are
# reported by LeakSanitizer. Each makes libFuzzer exit non-zero.
"$BUILD_DIR/tests/fuzz/taskmill-decode-fuzz" \
  -max_total_time="$SECONDS_TO_RUN" \
  -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=2048 -max_len=4096 -detect_leaks=1 \
  -dict=tests/fuzz/protocol.dict \
  -artifact_prefix="$BUILD_DIR/fuzz-artifacts/" \
  -print_final_stats=1 \
  "$run_dir/corpus" >"$BUILD_DIR/fuzz-run.log" 2>&1 || status=$?
grep -E '^(#[0-9]+[[:space:]]+(INITED|DONE)|==[0-9]+==|SUMMARY|stat::|.*(deadly signal|Timeout|out-of-memory))' \
  "$BUILD_DIR/fuzz-run.log" | head -40 || true
execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$BUILD_DIR/fuzz-run.log")
corpus_files=$(find "$run_dir/corpus" -type f | wc -l)
corpus_kib=$(( $(find "$run_dir/corpus" -type f -exec cat {} + | wc -c) / 1024 ))
echo "fuzz: ${execs:-?} execs in ${SECONDS_TO_RUN}s, corpus $corpus_files files (${corpus_kib} KiB)" \
  "from $(ls tests/fuzz/corpus | wc -l) seeds; full output in $BUILD_DIR/fuzz-run.log"

if [ "$status" -ne 0 ]; then
  echo "fuzz: FAILED (exit $status); inputs in $BUILD_DIR/fuzz-artifacts/:" >&2
  ls -1 "$BUILD_DIR/fuzz-artifacts/" >&2 || true
  exit "$status"
fi
echo "fuzz: no crash in ${SECONDS_TO_RUN}s"
