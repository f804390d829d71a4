#!/usr/bin/env bash
# Benchmarks taskmill against BullMQ and Celery on the same machine, the same redis-server
# binary and the same Redis settings (AOF everysec, no RDB, unix socket), and prints the
# figures side by side with the ratios taskmill/peer, plus the Redis ceiling from
# redis-benchmark. See docs/performance.md.
#
#   scripts/bench.sh                  # default sizes, a few minutes in all
#   TASKS=100000 scripts/bench.sh     # bigger runs
#   PEERS=none scripts/bench.sh       # taskmill and the ceiling only
#
# The taskmill run includes "scraped": the throughput run again with the broker's /metrics
# scraped once a second (its ratio to the plain run and the broker CPU per task both ways).
# The "taskmill (Python)" column is taskmill again, submitted and awaited through the taskmill
# Python client (tests/bench/peers_src/taskmill_py_bench.py): what a Python user gets.
# Environment: TASKS (20000), CELERY_TASKS (5000: Celery runs ~500 tasks/s here),
# PY_TASKS (20000), LATENCY_SAMPLES (2000), CELERY_LATENCY_SAMPLES (500), PRODUCERS (2),
# WORKERS (2), CONCURRENCY (32), PEERS (bullmq,celery,python), BUILD_DIR (build),
# OUT_DIR ($BUILD_DIR/bench).
# Installs the peers on first use: npm bullmq + ioredis into tests/bench/peers/node, Celery
# into a venv in tests/bench/peers/venv (both gitignored). Traffic stays on unix sockets and
# loopback; every process started here is stopped by its PID.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BUILD_DIR=${BUILD_DIR:-build}
OUT_DIR=${OUT_DIR:-$BUILD_DIR/bench}
TASKS=${TASKS:-20000}
CELERY_TASKS=${CELERY_TASKS:-5000}
PY_TASKS=${PY_TASKS:-20000}
LATENCY_SAMPLES=${LATENCY_SAMPLES:-2000}
CELERY_LATENCY_SAMPLES=${CELERY_LATENCY_SAMPLES:-500}
PRODUCERS=${PRODUCERS:-2}
WORKERS=${WORKERS:-2}
CONCURRENCY=${CONCURRENCY:-32}
PEERS=${PEERS:-bullmq,celery,python}
PEERS_DIR=$ROOT/tests/bench/peers
SRC_DIR=$ROOT/tests/bench/peers_src
REDIS_SERVER=$(command -v redis-server || true)
mkdir -p "$OUT_DIR"
OUT_DIR=$(cd "$OUT_DIR" && pwd)
rm -f "$OUT_DIR"/*.json "$OUT_DIR"/*.txt  # no figure of an earlier run may show up
[[ -n $REDIS_SERVER ]] || { echo "bench.sh: redis-server not found (scripts/setup.sh)" >&2; exit 1; }
command -v redis-benchmark >/dev/null || { echo "bench.sh: redis-benchmark not found" >&2; exit 1; }

log() { echo "bench.sh: $*" >&2; }

# ---- build and install what is missing ----
if [[ ! -x $BUILD_DIR/tests/bench/taskmill-bench ]]; then
  log "building taskmill-bench in $BUILD_DIR"
  bash scripts/build.sh >/dev/null
fi
cmake --build "$BUILD_DIR" --target taskmill-bench >/dev/null
if [[ $PEERS == *bullmq* && ! -d $PEERS_DIR/node/node_modules/bullmq ]]; then
  command -v npm >/dev/null || { log "npm not found: apt-get install nodejs npm"; exit 1; }
  log "installing bullmq and ioredis into $PEERS_DIR/node"
  mkdir -p "$PEERS_DIR/node"
  [[ -f $PEERS_DIR/node/package.json ]] ||
    echo '{"name":"taskmill-bench-peers","private":true,"type":"module"}' >"$PEERS_DIR/node/package.json"
  (cd "$PEERS_DIR/node" && npm install --no-audit --no-fund bullmq ioredis >/dev/null)
fi
if [[ $PEERS == *celery* && ! -x $PEERS_DIR/venv/bin/celery ]]; then
  log "installing celery[redis] into $PEERS_DIR/venv"
  python3 -m venv "$PEERS_DIR/venv"
  "$PEERS_DIR/venv/bin/pip" install -q "celery[redis]"
fi

# ---- one redis-server per run, configured as taskmill's embedded one ----
REDIS_PID=""
REDIS_DIR=""
start_redis() {
  REDIS_DIR=$(mktemp -d /tmp/taskmill-bench-peer-XXXXXX)
  "$REDIS_SERVER" --port 0 --unixsocket "$REDIS_DIR/redis.sock" --unixsocketperm 700 \
    --dir "$REDIS_DIR" --appendonly yes --appendfsync everysec --save "" \
    --hash-max-listpack-value 1024 --daemonize no \
    --logfile "$REDIS_DIR/redis.log" &
  REDIS_PID=$!
  for _ in $(seq 1 200); do
    redis-cli -s "$REDIS_DIR/redis.sock" ping >/dev/null 2>&1 && return 0
    sleep 0.05
  done
  log "redis-server did not start: $(tail -n 3 "$REDIS_DIR/redis.log")"
  return 1
}
# CPU ms of the redis-server so far (utime + stime, fields 14 and 15 of /proc/PID/stat).
redis_cpu_ms() {
  awk -v hz="$(getconf CLK_TCK)" '{sub(/^.*\) /, ""); print ($12 + $13) * 1000 / hz}' \
    "/proc/$REDIS_PID/stat"
}
redis_peak_kb() { awk '/VmHWM/ {print $2}' "/proc/$REDIS_PID/status"; }
stop_redis() {
  [[ -n $REDIS_PID ]] || return 0
  kill "$REDIS_PID" 2>/dev/null || true
  for _ in $(seq 1 100); do kill -0 "$REDIS_PID" 2>/dev/null || break; sleep 0.05; done
  kill -9 "$REDIS_PID" 2>/dev/null || true
  wait "$REDIS_PID" 2>/dev/null || true
  rm -rf "$REDIS_DIR"
  REDIS_PID=""
}
trap stop_redis EXIT

# ---- taskmill ----
log "taskmill: $TASKS tasks, $PRODUCERS producers, $WORKERS workers x $CONCURRENCY"
"$BUILD_DIR/tests/bench/taskmill-bench" --spawn --redis-server "$REDIS_SERVER" \
  --tasks "$TASKS" --producers "$PRODUCERS" --workers "$WORKERS" --concurrency "$CONCURRENCY" \
  --latency-samples "$LATENCY_SAMPLES" --scenarios throughput,scraped,drain,latency,priority \
  --json "$OUT_DIR/taskmill.json" >"$OUT_DIR/taskmill.txt"

# ---- BullMQ: one Node process producing, WORKERS Node worker processes ----
if [[ $PEERS == *bullmq* ]]; then
  log "BullMQ $(node -p "require('$PEERS_DIR/node/node_modules/bullmq/package.json').version"): $TASKS tasks"
  start_redis
  cp "$SRC_DIR/bullmq_bench.mjs" "$PEERS_DIR/node/"  # resolves bullmq from node_modules there
  node "$PEERS_DIR/node/bullmq_bench.mjs" --socket "$REDIS_DIR/redis.sock" --tasks "$TASKS" \
    --producers "$PRODUCERS" --workers "$WORKERS" --concurrency "$CONCURRENCY" \
    --latency-samples "$LATENCY_SAMPLES" >"$OUT_DIR/bullmq.json"
  echo "{\"redis_cpu_ms\": $(redis_cpu_ms), \"redis_peak_kb\": $(redis_peak_kb)}" >"$OUT_DIR/bullmq.redis.json"
  stop_redis
fi

# ---- Celery: WORKERS `celery worker --pool solo` processes (the fastest pool tried here) ----
if [[ $PEERS == *celery* ]]; then
  log "Celery $("$PEERS_DIR/venv/bin/celery" --version | cut -d' ' -f1): $CELERY_TASKS tasks"
  start_redis
  BENCH_REDIS_SOCKET="$REDIS_DIR/redis.sock" "$PEERS_DIR/venv/bin/python" \
    "$SRC_DIR/celery_bench.py" --socket "$REDIS_DIR/redis.sock" --tasks "$CELERY_TASKS" \
    --producers "$PRODUCERS" --workers "$WORKERS" --pool solo --concurrency 1 \
    --latency-samples "$CELERY_LATENCY_SAMPLES" >"$OUT_DIR/celery.json" 2>"$OUT_DIR/celery.log"
  echo "{\"redis_cpu_ms\": $(redis_cpu_ms), \"redis_peak_kb\": $(redis_peak_kb)}" >"$OUT_DIR/celery.redis.json"
  stop_redis
fi

# ---- taskmill through its Python client (same broker, workers and Redis settings) ----
if [[ $PEERS == *python* ]]; then
  log "taskmill, Python client: $PY_TASKS tasks"
  PYTHONPATH=$ROOT/client/python python3 "$SRC_DIR/taskmill_py_bench.py" \
    --build-dir "$BUILD_DIR" --tasks "$PY_TASKS" --producers "$PRODUCERS" --workers "$WORKERS" \
    --concurrency "$CONCURRENCY" --latency-samples "$CELERY_LATENCY_SAMPLES" \
    >"$OUT_DIR/taskmill_py.json" 2>"$OUT_DIR/taskmill_py.log"
fi

# ---- the Redis ceiling: redis-benchmark, pipelined ----
log "redis-benchmark: the per-task commands of taskmill, pipelined"
start_redis
SOCK=$REDIS_DIR/redis.sock
SHA=$(redis-cli -s "$SOCK" script load "$(cat "$SRC_DIR/ceiling.lua")")
rps() { redis-benchmark -s "$SOCK" -q "$@" | tr '\r' '\n' | awk '{for (i = 2; i <= NF; i++) if ($i == "requests") v = $(i - 1)} END {print v + 0}'; }
IDS100=$(for _ in $(seq 1 100); do printf '__rand_int__ '; done)
{
  echo "{"
  echo "\"evalsha_1\": $(rps -n 100000 -P 32 -r 1000000 evalsha "$SHA" 0 __rand_int__),"
  # shellcheck disable=SC2086
  echo "\"evalsha_100\": $(rps -n 2000 -P 4 -r 1000000 evalsha "$SHA" 0 $IDS100),"
  echo "\"zadd\": $(rps -n 500000 -P 32 -r 1000000 -t zadd),"
  echo "\"hset\": $(rps -n 500000 -P 32 -r 1000000 -t hset)"
  echo "}"
} >"$OUT_DIR/ceiling.json"
stop_redis

# ---- the report ----
python3 - "$OUT_DIR" "$PEERS" >"$OUT_DIR/report.txt" <<'EOF'
import json, os, sys
out, peers = sys.argv[1], sys.argv[2]
def load(name):
    p = os.path.join(out, name)
    return json.load(open(p)) if os.path.exists(p) else {}
tm = load("taskmill.json")
s = tm.get("scenarios", {})
bull, cel, ceil = load("bullmq.json"), load("celery.json"), load("ceiling.json")
py = load("taskmill_py.json")
cfg = tm.get("config", {})
print(f"taskmill vs BullMQ vs Celery, one machine ({cfg.get('machine', {}).get('cores')} cores), "
      f"redis-server AOF everysec, unix sockets")
print(f"taskmill/BullMQ: {cfg.get('tasks')} tasks, {cfg.get('producers')} producers, "
      f"{cfg.get('workers')} workers x {cfg.get('concurrency')}, {cfg.get('payload_bytes')}-byte payloads; "
      f"Celery: {cel.get('throughput', {}).get('tasks', '-')} tasks, {cfg.get('workers')} solo workers; "
      f"taskmill (Python client): {py.get('throughput', {}).get('tasks', '-')} tasks")
print()
def rate(d, k):
    v = d.get(k, {}).get("tasks_per_s")
    return v
def f(v, spec="{:,.0f}"):
    return spec.format(v) if isinstance(v, (int, float)) else "-"
def ratio(a, b):
    return f"{a / b:.2f}x" if isinstance(a, (int, float)) and isinstance(b, (int, float)) and b else "-"
rows = [("throughput tasks/s", "throughput"), ("drain tasks/s", "drain")]
print(f"{'workload':<22}{'taskmill':>12}{'tm Python':>12}{'BullMQ':>12}{'Celery':>12}"
      f"{'tm/BullMQ':>12}{'tm/Celery':>12}{'tmPy/Celery':>12}")
for label, k in rows:
    a, p, b, c = rate(s, k), rate(py, k), rate(bull, k), rate(cel, k)
    print(f"{label:<22}{f(a):>12}{f(p):>12}{f(b):>12}{f(c):>12}{ratio(a, b):>12}{ratio(a, c):>12}"
          f"{ratio(p, c):>12}")
for q, name in (("p50_us", "p50"), ("p99_us", "p99"), ("p999_us", "p99.9"), ("max_us", "max")):
    a, b, c = s.get("latency", {}).get(q), bull.get("latency", {}).get(q), cel.get("latency", {}).get(q)
    p = py.get("latency", {}).get(q)
    lab = f"latency {name} ms"
    ms = lambda v: v / 1000 if isinstance(v, (int, float)) else None
    print(f"{lab:<22}{f(ms(a), '{:.3f}'):>12}{f(ms(p), '{:.3f}'):>12}{f(ms(b), '{:.3f}'):>12}"
          f"{f(ms(c), '{:.3f}'):>12}{ratio(b, a) if a else '-':>12}{ratio(c, a) if a else '-':>12}"
          f"{ratio(c, p) if p else '-':>12}")
print("(latency ratios are peer/taskmill: how many times slower the peer is)")
if py.get("throughput"):
    print(f"taskmill (Python client): producer CPU {py['throughput']['client_cpu_us_per_task']:.0f} us "
          f"per task in the throughput run, {py['latency']['client_cpu_us_per_task']:.0f} us per round "
          f"trip; results from RESULT pushes (one request per submit)")
print()
if "priority" in s:
    print(f"priority: {s['priority'].get('out_of_order_fraction', 0) * 100:.3f}% of "
          f"{s['priority'].get('tasks')} tasks processed out of priority order "
          f"({s['priority'].get('levels')} levels, backlog drained by the workers)")
thr = s.get("throughput", {})
res = thr.get("resources", {})
if res.get("broker"):
    n = thr.get("tasks", 1)
    print(f"taskmill throughput run, per task: broker {res['broker']['cpu_us_per_task']:.1f} us CPU, "
          f"redis {res['redis']['cpu_us_per_task']:.1f} us CPU, workers {res['workers']['cpu_us_per_task']:.1f} us CPU; "
          f"peak RSS broker {res['broker']['peak_rss_kb'] / 1024:.1f} MiB, redis {res['redis']['peak_rss_kb'] / 1024:.1f} MiB; "
          f"redis used_memory +{res['redis']['used_memory_delta'] / n:.0f} B per finished task")
    top = ", ".join(f"{c['command']} {c['calls_per_task']:.2f}x {c['usec_per_task']:.1f} us"
                    for c in res["redis"].get("commands", [])[:8])
    print(f"  redis per task (calls, time): {top}")
scr = s.get("scraped", {})
if scr.get("tasks_per_s") and thr.get("tasks_per_s"):
    sres, m = scr.get("resources", {}), scr.get("metrics_scrapes", {})
    b0 = res.get("broker", {}).get("cpu_us_per_task")
    b1 = sres.get("broker", {}).get("cpu_us_per_task")
    cpu = (f"; broker CPU per task {b1:.1f} vs {b0:.1f} us ({b1 / b0:.3f}x)"
           if isinstance(b0, (int, float)) and isinstance(b1, (int, float)) and b0 else "")
    print(f"/metrics scraped at 1 Hz during a second throughput run (same deployment): "
          f"{scr['tasks_per_s']:,.0f} vs {thr['tasks_per_s']:,.0f} tasks/s unscraped "
          f"({scr['tasks_per_s'] / thr['tasks_per_s']:.3f}x){cpu}; {m.get('scrapes', 0)} scrapes, "
          f"{m.get('failed', 0)} failed, mean {m.get('mean_ms', 0):.1f} ms, {m.get('bytes', 0)} bytes")
for name, peer in (("BullMQ", "bullmq"), ("Celery", "celery")):
    r = load(f"{peer}.redis.json")
    d = {"bullmq": bull, "celery": cel}[peer]
    if r and d:
        n = sum(d.get(k, {}).get("tasks", 0) for k in ("throughput", "drain")) + d.get("latency", {}).get("samples", 0)
        print(f"{name} whole run: redis {r['redis_cpu_ms'] / max(n, 1) * 1000:.1f} us CPU per task "
              f"(all scenarios, warm-ups excluded from the count), peak RSS {r['redis_peak_kb'] / 1024:.1f} MiB")
if ceil:
    e1, e100 = ceil.get("evalsha_1", 0), ceil.get("evalsha_100", 0) * 100
    best = max(e1, e100)
    a = rate(s, "throughput")
    print()
    print(f"Redis ceiling (redis-benchmark, pipelined, same redis-server): one task's commands "
          f"(tests/bench/peers_src/ceiling.lua) {e1:,.0f} tasks/s at 1 task per EVALSHA, "
          f"{e100:,.0f} tasks/s at 100 per EVALSHA; baseline ZADD {ceil.get('zadd', 0):,.0f}/s, "
          f"HSET {ceil.get('hset', 0):,.0f}/s")
    if a and best:
        print(f"taskmill throughput = {a / best * 100:.0f}% of the Redis ceiling ({a:,.0f} of {best:,.0f} tasks/s)")
EOF
cat "$OUT_DIR/taskmill.txt" >&2
cat "$OUT_DIR/report.txt"
log "report in $OUT_DIR/report.txt, raw figures in $OUT_DIR/*.json"
