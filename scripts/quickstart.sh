#!/usr/bin/env bash
# Sets up the machine, builds taskmill and runs the main job: a broker with its embedded
# Redis, two workers, a few single tasks of each built-in kind, then a demo DAG batch with
# live progress and its cost table; then shuts everything down cleanly.
# It builds only what it runs (the broker, the worker and the CLI), not the tests.
#   --keep   leave the demo cluster running after the demo, until Ctrl-C (then stop it)
set -euo pipefail
cd "$(dirname "$0")/.."

KEEP=0
for arg in "$@"; do
  case "$arg" in
    --keep) KEEP=1 ;;
    -h|--help) sed -n '2,6p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "quickstart.sh: unknown argument '$arg' (try --keep)" >&2; exit 2 ;;
  esac
done

bash scripts/setup.sh
export BUILD_DIR=${BUILD_DIR:-build}
TASKMILL_TARGETS="taskmill-broker taskmill-worker taskmill" bash scripts/build.sh
BIN=$BUILD_DIR

WORK=$(mktemp -d -t taskmill-quickstart-XXXXXX)
PIDS=()
cleanup() {
  # Only processes this script started, by PID.
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "starting taskmill-broker (embedded redis-server, data in $WORK/data)"
"$BIN/broker/taskmill-broker" --data-dir "$WORK/data" \
  --frontend 'tcp://127.0.0.1:*' --backend 'tcp://127.0.0.1:*' \
  --ready-file "$WORK/ready" --http 127.0.0.1:0 --log-level warn >"$WORK/broker.log" 2>&1 &
BROKER=$!
PIDS+=("$BROKER")
for _ in $(seq 1 200); do
  [ -f "$WORK/ready" ] && break
  kill -0 "$BROKER" 2>/dev/null || { cat "$WORK/broker.log"; exit 1; }
  sleep 0.05
done
[ -f "$WORK/ready" ] || { echo "broker did not start"; cat "$WORK/broker.log"; exit 1; }
FRONTEND=$(sed -n 's/^frontend=//p' "$WORK/ready")
BACKEND=$(sed -n 's/^backend=//p' "$WORK/ready")
HTTP=$(sed -n 's/^http=//p' "$WORK/ready")
echo "clients: $FRONTEND   workers: $BACKEND"
echo "dashboard: http://$HTTP/   (metrics: http://$HTTP/metrics)"

step "starting two workers (concurrency 2 each)"
for id in demo-w1 demo-w2; do
  "$BIN/worker/taskmill-worker" --broker "$BACKEND" --id "$id" --concurrency 2 \
    --log-level warn >"$WORK/$id.log" 2>&1 &
  PIDS+=("$!")
done

export TASKMILL_BROKER=$FRONTEND
TM="$BIN/client/taskmill"

step "single tasks: echo, sleep, exec, and fail-once-then-succeed"
"$TM" submit --type echo --payload 'hello from taskmill' --wait
"$TM" submit --type sleep --payload '{"ms": 200}' --wait
"$TM" submit --type exec --payload '{"argv": ["sh", "-c", "uname -sr; echo to-stderr >&2"]}' --wait
"$TM" submit --type fail --payload '{"fail_attempts": 1, "retryable": true}' \
  --backoff-base-ms 300 --wait

step "demo batch: generate -> (total, top, flaky) -> report, with costs and a budget"
BATCH_ID=demo-$(date +%s)
"$TM" batch run examples/demo-batch.json --id "$BATCH_ID" --follow

step "what the batch produced: the report step's output (it read its parents' outputs)"
REPORT_ID=$("$TM" --json batch status "$BATCH_ID" | tr -d ' \n' | sed -n 's/.*"report":"\([^"]*\)".*/\1/p')
"$TM" get "$REPORT_ID" | sed -n '/^output/,$p'

step "queue statistics"
"$TM" stats

if [ "$KEEP" = 1 ]; then
  step "the demo cluster keeps running: Ctrl-C stops it"
  echo "dashboard: http://$HTTP/"
  echo "metrics:   http://$HTTP/metrics"
  echo "try:       TASKMILL_BROKER=$FRONTEND $TM stats --watch"
  echo "           TASKMILL_BROKER=$FRONTEND $TM submit --type echo --payload hi --wait"
  STOP=0
  trap 'STOP=1' INT TERM
  # Ctrl-C interrupts the wait; a worker or broker that dies ends the wait too.
  while [ "$STOP" = 0 ] && kill -0 "$BROKER" 2>/dev/null; do sleep 1 & wait $! || true; done
  trap - INT TERM
  echo
fi

step "shutting down: SIGTERM to the workers (they finish what they hold), then to the broker, which stops its Redis"
# A broker's SIGTERM hands its workers over (MOVE) instead of stopping them: workers stop
# only on their own SIGTERM.
for pid in "${PIDS[@]:1}"; do kill -TERM "$pid" 2>/dev/null || true; done
for pid in "${PIDS[@]:1}"; do wait "$pid" 2>/dev/null || true; done
kill -TERM "$BROKER"
for _ in $(seq 1 200); do kill -0 "$BROKER" 2>/dev/null || break; sleep 0.05; done
wait "$BROKER" && echo "broker exited cleanly"
PIDS=()
echo "done"
