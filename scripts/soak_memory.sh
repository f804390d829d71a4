#!/usr/bin/env bash
# Memory soak (issue 15): waves of tasks through one broker for DURATION_S seconds, printing
# Redis used_memory and the finished tasks kept after each wave. With a finished-task cap
# (CAP, --max-finished-per-queue) the figure levels off; with CAP=0 it grows until the
# retention. Not in CI (10 minutes by default); everything runs on a unix socket and
# loopback, and every process started here is stopped by its PID.
#
#   scripts/soak_memory.sh                          # 600 s, cap 10,000, waves of 20,000
#   DURATION_S=60 CAP=0 scripts/soak_memory.sh      # a short run without the cap
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
DURATION_S=${DURATION_S:-600}
CAP=${CAP:-10000}
WAVE=${WAVE:-20000}
dir=$(mktemp -d /tmp/tm-soak.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$dir"
}
trap cleanup EXIT
redis-server --port 0 --unixsocket "$dir/redis.sock" --dir "$dir" --appendonly yes \
  --save '' >"$dir/redis.log" 2>&1 &
pids+=($!)
until redis-cli -s "$dir/redis.sock" ping >/dev/null 2>&1; do sleep 0.1; done
"$BUILD_DIR/broker/taskmill-broker" --frontend 'tcp://127.0.0.1:*' --backend 'tcp://127.0.0.1:*' \
  --redis-url "unix://$dir/redis.sock" --prefix soak: --http off --ready-file "$dir/ready" \
  --max-finished-per-queue "$CAP" >"$dir/broker.log" 2>&1 &
pids+=($!)
for _ in $(seq 200); do [[ -f $dir/ready ]] && break; sleep 0.1; done
[[ -f $dir/ready ]] || { echo "soak: broker did not start" >&2; cat "$dir/broker.log" >&2; exit 1; }
frontend=$(sed -n 's/^frontend=//p' "$dir/ready")
backend=$(sed -n 's/^backend=//p' "$dir/ready")
for i in 1 2; do
  "$BUILD_DIR/worker/taskmill-worker" --broker "$backend" --id "soak-w$i" --concurrency 32 \
    >"$dir/worker-$i.log" 2>&1 &
  pids+=($!)
done
echo "seconds  wave  used_memory_mb  finished_kept(done:default)  task_keys"
start=$(date +%s)
wave=0
while (( $(date +%s) - start < DURATION_S )); do
  wave=$((wave + 1))
  timeout 300 "$BUILD_DIR/tests/bench/taskmill-bench" --broker "$frontend" --scenarios throughput \
    --tasks "$WAVE" >"$dir/bench.log" 2>&1 || { echo "soak: wave $wave failed" >&2; tail -5 "$dir/bench.log" >&2; exit 1; }
  mem=$(redis-cli -s "$dir/redis.sock" info memory | sed -n 's/^used_memory:\([0-9]*\).*/\1/p')
  kept=$(redis-cli -s "$dir/redis.sock" llen soak:done:default)  # a list since layout 5
  keys=$(redis-cli -s "$dir/redis.sock" dbsize)
  printf '%7d  %4d  %14.1f  %27s  %9s\n' $(( $(date +%s) - start )) "$wave" \
    "$(echo "$mem / 1048576" | bc -l)" "$kept" "$keys"
done
