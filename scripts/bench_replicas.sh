#!/usr/bin/env bash
# What --redis-min-replicas costs (issue 17): throughput and one-at-a-time latency of the
# same deployment (a Redis primary + one replica on loopback TCP, AOF everysec, one broker,
# WORKERS taskmill-worker processes) with --redis-min-replicas 0 and 1, measured by
# taskmill-bench against the running broker. Prints the figures; docs/reliability.md
# ("Redis HA") quotes them.
#
#   scripts/bench_replicas.sh           # TASKS=20000 LATENCY_SAMPLES=2000
# Environment: TASKS, LATENCY_SAMPLES, WORKERS (2), CONCURRENCY (32), PRODUCERS (2),
# BUILD_DIR (build). Every process started here is stopped by its PID; loopback only.
set -euo pipefail
cd "$(dirname "$0")/.."
TASKS=${TASKS:-20000}
LATENCY_SAMPLES=${LATENCY_SAMPLES:-2000}
WORKERS=${WORKERS:-2}
CONCURRENCY=${CONCURRENCY:-32}
PRODUCERS=${PRODUCERS:-2}
BUILD_DIR=${BUILD_DIR:-build}
BROKER=$BUILD_DIR/broker/taskmill-broker
WORKER=$BUILD_DIR/worker/taskmill-worker
BENCH=$BUILD_DIR/tests/bench/taskmill-bench
for b in "$BROKER" "$WORKER" "$BENCH"; do
  [[ -x $b ]] || { echo "bench_replicas.sh: build $b first" >&2; exit 2; }
done
DIR=$(mktemp -d /tmp/taskmill-replicas-XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$DIR"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_ping() {
  for _ in $(seq 200); do redis-cli -p "$1" ping >/dev/null 2>&1 && return 0; sleep 0.05; done
  echo "bench_replicas.sh: redis on $1 did not start" >&2; exit 1
}

run() {  # $1 = min replicas
  local n=$1 p r fe be
  p=$(free_port); r=$(free_port); fe=$(free_port); be=$(free_port)
  mkdir -p "$DIR/$n/p" "$DIR/$n/r"
  redis-server --port "$p" --bind 127.0.0.1 --dir "$DIR/$n/p" --appendonly yes --save '' \
    --hash-max-listpack-value 1024 --repl-diskless-sync-delay 0 --logfile "$DIR/$n/p/redis.log" & PIDS+=($!)
  wait_ping "$p"
  redis-server --port "$r" --bind 127.0.0.1 --dir "$DIR/$n/r" --appendonly yes --save '' \
    --hash-max-listpack-value 1024 --replicaof 127.0.0.1 "$p" --logfile "$DIR/$n/r/redis.log" \
    & PIDS+=($!)
  wait_ping "$r"
  for _ in $(seq 200); do  # the replica's first sync done: WAIT can count it
    redis-cli -p "$r" info replication | grep -q master_link_status:up && break
    sleep 0.05
  done
  "$BROKER" --frontend "tcp://127.0.0.1:$fe" --backend "tcp://127.0.0.1:$be" --http off \
    --redis-url "redis://127.0.0.1:$p/0" --redis-min-replicas "$n" >"$DIR/$n/broker.log" 2>&1 &
  PIDS+=($!)
  for w in $(seq "$WORKERS"); do
    "$WORKER" --broker "tcp://127.0.0.1:$be" --concurrency "$CONCURRENCY" \
      >"$DIR/$n/worker$w.log" 2>&1 & PIDS+=($!)
  done
  echo "== --redis-min-replicas $n (primary :$p, replica :$r) =="
  "$BENCH" --broker "tcp://127.0.0.1:$fe" --tasks "$TASKS" --producers "$PRODUCERS" \
    --latency-samples "$LATENCY_SAMPLES" --scenarios throughput,latency --timeout-s 300
  grep -h "min-replicas" "$DIR/$n/broker.log" | tail -3 || true
  for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  PIDS=()
}

run 0
run 1
