#!/usr/bin/env bash
# Scaling curves of taskmill (issue 15): throughput against workers (1, 2, 4, 8) and payload
# size (100 B, 10 KB, 100 KB), and drain rate and Redis CPU per claimed task against the
# backlog queued before workers start (10k and 1M tasks: the claim cost must stay flat).
# Every point is one `taskmill-bench --spawn` run on its own fresh redis-server, broker and
# workers; scripts/plot_scaling.py then writes the figures as JSON and CSV and draws the
# chart (docs/performance.md, "Scaling").
#
#   scripts/bench_scaling.sh            # full form: ~15 min on a quiet 2-core machine
#   scripts/bench_scaling.sh --short    # short form: ~2 min, smaller runs, same curves
#
# Environment (defaults: full / --short):
#   TASKS            tasks per workers point (50000 / 5000)
#   PAYLOAD_BUDGET   payload bytes per payload point: tasks = min(TASKS, budget / size), so
#                    the 100 KB point does not fill Redis (500 MB / 100 MB)
#   BACKLOGS         backlog sizes, comma-separated (10000,1000000 / 10000,50000)
#   TIMEOUT_S        deadline of each run's scenario, seconds (600 / 180)
#   WORKER_COUNTS    (1,2,4,8)   PAYLOADS (100,10240,102400)   CONCURRENCY (32)
#   BUILD_DIR (build)   OUT_DIR ($BUILD_DIR/scaling)   PNG (docs/img/scaling.png)
#   BENCH_ARGS       extra taskmill-bench arguments for every run (e.g. --broker-arg ...)
# Every run is bounded by taskmill-bench's --timeout-s; every process is started and
# stopped by taskmill-bench, by PID.
set -euo pipefail
cd "$(dirname "$0")/.."
SHORT=0
for arg in "$@"; do
  case $arg in
    --short) SHORT=1 ;;
    -h | --help) sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench_scaling.sh: unknown argument '$arg' (see --help)" >&2; exit 2 ;;
  esac
done
if [[ $SHORT == 1 ]]; then
  TASKS=${TASKS:-5000}
  PAYLOAD_BUDGET=${PAYLOAD_BUDGET:-100000000}
  BACKLOGS=${BACKLOGS:-10000,50000}
  TIMEOUT_S=${TIMEOUT_S:-180}
else
  TASKS=${TASKS:-50000}
  PAYLOAD_BUDGET=${PAYLOAD_BUDGET:-500000000}
  BACKLOGS=${BACKLOGS:-10000,1000000}
  TIMEOUT_S=${TIMEOUT_S:-600}
fi
WORKER_COUNTS=${WORKER_COUNTS:-1,2,4,8}
PAYLOADS=${PAYLOADS:-100,10240,102400}
CONCURRENCY=${CONCURRENCY:-32}
BUILD_DIR=${BUILD_DIR:-build}
OUT_DIR=${OUT_DIR:-$BUILD_DIR/scaling}
PNG=${PNG:-docs/img/scaling.png}
read -r -a EXTRA <<<"${BENCH_ARGS:-}"
BENCH=$BUILD_DIR/tests/bench/taskmill-bench

log() { echo "bench_scaling.sh: $*" >&2; }

# matplotlib comes from Debian (scripts/setup.sh): a python3 earlier on PATH may lack it.
PYTHON=""
for py in python3 /usr/bin/python3; do
  if command -v "$py" >/dev/null && "$py" -c 'import matplotlib' 2>/dev/null; then
    PYTHON=$py
    break
  fi
done
[[ -n $PYTHON ]] || { log "no python3 with matplotlib (scripts/setup.sh installs it)"; exit 1; }

if [[ ! -x $BENCH ]]; then
  log "building taskmill-bench in $BUILD_DIR"
  TASKMILL_TARGETS=taskmill-bench bash scripts/build.sh >/dev/null
fi
mkdir -p "$OUT_DIR"
rm -f "$OUT_DIR"/point-*.json  # no figure of an earlier run may show up

# run NAME ARGS...: one spawned taskmill-bench run, its JSON in $OUT_DIR/point-NAME.json.
run() {
  local name=$1
  shift
  log "$name: taskmill-bench $*"
  if ! "$BENCH" --spawn --timeout-s "$TIMEOUT_S" --json "$OUT_DIR/point-$name.json" \
      "${EXTRA[@]}" "$@" >"$OUT_DIR/point-$name.log" 2>&1; then
    log "$name failed; its output:"
    tail -n 20 "$OUT_DIR/point-$name.log" >&2
    exit 1
  fi
}

IFS=, read -r -a worker_counts <<<"$WORKER_COUNTS"
IFS=, read -r -a payloads <<<"$PAYLOADS"
IFS=, read -r -a backlogs <<<"$BACKLOGS"
for w in "${worker_counts[@]}"; do
  run "workers-$w" --scenarios throughput --tasks "$TASKS" --workers "$w" \
    --concurrency "$CONCURRENCY" --payload-bytes 100
done
for p in "${payloads[@]}"; do
  n=$((PAYLOAD_BUDGET / p))
  ((n > TASKS)) && n=$TASKS
  ((n < 100)) && n=100
  # A SUBMIT's body frame is capped at 16 MiB (docs/protocol.md): ~4 MB of payload a SUBMIT.
  chunk=$((4000000 / p))
  ((chunk > 200)) && chunk=200
  ((chunk < 1)) && chunk=1
  run "payload-$p" --scenarios throughput --tasks "$n" --workers 2 \
    --concurrency "$CONCURRENCY" --payload-bytes "$p" --chunk "$chunk"
done
for b in "${backlogs[@]}"; do
  # drain: b tasks queued with no worker connected, then the workers start and claim them.
  run "backlog-$b" --scenarios drain --tasks "$b" --workers 2 --concurrency "$CONCURRENCY" \
    --payload-bytes 100
done

mode=full
[[ $SHORT == 1 ]] && mode=short
"$PYTHON" scripts/plot_scaling.py --dir "$OUT_DIR" --png "$PNG" --mode "$mode"
