#!/usr/bin/env bash
# Runs the fault suite (tests/chaos) and prints one table: per scenario, tasks submitted
# and acknowledged, lost, duplicated results, duplicate executions (at-least-once re-runs),
# unexpected runs, double-counted costs, detection, recovery and the longest completion gap.
# Then the hostile-input test (malformed frames and half-open connections against a live
# broker) with its figures, the network-cut scenario's own figures, and a fixed-time run of
# the decoder's libFuzzer target (scripts/fuzz.sh; TASKMILL_FUZZ_SECONDS, 0 skips it).
# The hostile tests include the HTTP flood (chaos_hostile_http_test: idle connections,
# slowloris, oversized heads and bodies, unknown paths, traversal, wrong methods, bad
# tokens), one HOSTILE_ATTACK row per attack with /healthz, RSS and healthy-client figures.
#
#   scripts/chaos.sh          short form (as ctest -L chaos runs it) and 20 s of fuzzing
#   scripts/chaos.sh --long   longer load per scenario (TASKMILL_CHAOS_LONG=1), 120 s of fuzzing
#
# Extra args go to the scenario binary (e.g. --gtest_filter='*Broker*'). Exits non-zero if
# any scenario broke its invariant. Full output: $BUILD_DIR/chaos.log, chaos-hostile.log.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
fuzz_seconds=${TASKMILL_FUZZ_SECONDS:-20}
if [[ "${1:-}" == "--long" ]]; then
  export TASKMILL_CHAOS_LONG=1
  fuzz_seconds=${TASKMILL_FUZZ_SECONDS:-120}
  shift
fi
bin="$BUILD_DIR/tests/chaos/chaos_test"
if [[ ! -d "$BUILD_DIR" ]]; then
  bash scripts/build.sh
else
  cmake --build "$BUILD_DIR" -j"${JOBS:-2}" --target chaos_test chaos_checker_test \
    chaos_tcp_proxy_test $(cd "$BUILD_DIR" && ninja -t targets all 2>/dev/null |
      grep -oE '^chaos_(hostile|scenario)[a-z_]*_test' | sort -u)
fi
"$BUILD_DIR/tests/chaos/chaos_checker_test" >/dev/null
"$BUILD_DIR/tests/chaos/chaos_tcp_proxy_test" >/dev/null
log="$BUILD_DIR/chaos.log"
status=0
"$bin" "$@" >"$log" 2>&1 || status=$?
# Scenario groups kept in their own binaries (chaos_scenario_<area>_test: failover,
# Sentinel, ...) print the same CHAOS_ROW lines into the same log.
for scenario_bin in "$BUILD_DIR"/tests/chaos/chaos_scenario_*_test; do
  [[ -x "$scenario_bin" ]] || continue
  "$scenario_bin" "$@" >>"$log" 2>&1 || status=$?
done
{
  printf 'scenario\tsubmitted\tacknowledged\tlost\tdup_results\tdup_execs\tunexpected\tdouble_costs\tdetection_ms\trecovery_ms\tmax_gap_ms\tmisattributed\n'
  grep '^CHAOS_ROW' "$log" | cut -f2-
} | column -t -s $'\t'
echo
grep '^NET_CUT' "$log" || true
hostile_log="$BUILD_DIR/chaos-hostile.log"
: >"$hostile_log"
# chaos_hostile_test (malformed input) and every chaos_hostile_<attack>_test beside it.
for hostile_bin in "$BUILD_DIR"/tests/chaos/chaos_hostile*_test; do
  "$hostile_bin" >>"$hostile_log" 2>&1 || status=$?
done
grep '^HOSTILE ' "$hostile_log" | tr ' ' '\n' | grep = | sed 's/=/\t/' | column -t -s $'\t' || true
echo
# One row per attack: a healthy client's p50 idle and during the attack, and whether the
# attack was held off (the tests assert it; the table is for the docs).
if grep -q '^HOSTILE_ATTACK ' "$hostile_log"; then
  grep '^HOSTILE_ATTACK ' "$hostile_log" | cut -d' ' -f2- | tr ' ' '\t' | column -t -s $'\t'
  echo
fi
grep -hE '^\[  (PASSED|FAILED)  \]' "$log" "$hostile_log" || true
if [[ "$fuzz_seconds" != 0 ]]; then
  fuzz_log="$BUILD_DIR/chaos-fuzz.log"
  bash scripts/fuzz.sh "$fuzz_seconds" >"$fuzz_log" 2>&1 || status=$?
  grep -E '^fuzz: ' "$fuzz_log" | grep -v configuring || true
fi
if [[ $status -ne 0 ]]; then
  echo "chaos: some scenario failed; see $log" >&2
fi
echo "negative controls (neg-*) must show lost > 0: that is the checker catching them."
exit "$status"
