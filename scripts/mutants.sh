#!/usr/bin/env bash
# The mutation pass: applies each small bug listed in tests/mutants/mutations.txt to a
# scratch copy of the repo, rebuilds only the targets it names (one scratch build dir,
# incremental), runs the tests it names, restores the file, and prints a table: killed or
# survived, and seconds. docs/reliability.md ("Mutation pass") says when to run it.
#
#   scripts/mutants.sh                 every mutation (the negative control must survive)
#   scripts/mutants.sh fencing reaper  only these (each must be killed, the control too)
#   scripts/mutants.sh --list          names and what they guard
#   scripts/mutants.sh --check         only check that every mutation still applies
#
# Exit status: 0 only if every real mutation was killed (and, in a full run, the negative
# control survived). A mutation whose text no longer occurs exactly once in its file, or
# whose build fails, fails the run. Before the mutations, the named tests run once on the
# unmutated copy: a test that fails there would kill everything and prove nothing.
#
# Environment: TASKMILL_MUTANTS_DIR (scratch dir, default build/mutants, reused across
# runs), JOBS (build parallelism, default 2), MUTANT_TEST_TIMEOUT (seconds per test
# command, default 240). Each mutation's test output: $TASKMILL_MUTANTS_DIR/logs/<name>.log.
# Not part of .ci/run: a full run takes minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd)
LIST="$REPO/tests/mutants/mutations.txt"
SCRATCH=${TASKMILL_MUTANTS_DIR:-$REPO/build/mutants}
SRC="$SCRATCH/repo"
# The scratch build sits at the same place relative to its sources as build/ does in the
# repo, so ccache (base_dir) serves unchanged objects from the main build.
BLD="$SRC/build"
# As scripts/build.sh: paths under the repo hashed as relative ones, whatever its path.
export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$REPO} CCACHE_NOHASHDIR=${CCACHE_NOHASHDIR:-1}
JOBS=${JOBS:-2}
TEST_TIMEOUT=${MUTANT_TEST_TIMEOUT:-240}

mode=run
names=()
for a in "$@"; do
  case "$a" in
    --list) mode=list ;;
    --check) mode=check ;;
    -h | --help)
      sed -n '2,20p' "$0"
      exit 0
      ;;
    -*)
      echo "mutants.sh: unknown option $a" >&2
      exit 2
      ;;
    *) names+=("$a") ;;
  esac
done

# ---- the list: parallel arrays, one entry per mutation ----
M_NAME=() M_GUARDS=() M_FILE=() M_FIND=() M_REPLACE=() M_BUILD=() M_RUNS=() M_EXPECT=()
cur=-1
new_entry() {
  cur=$((cur + 1))
  M_NAME[cur]=$1 M_GUARDS[cur]="" M_FILE[cur]="" M_FIND[cur]="" M_REPLACE[cur]=""
  M_BUILD[cur]="" M_RUNS[cur]="" M_EXPECT[cur]=killed
  M_HAS_FIND[cur]=0 M_HAS_REPLACE[cur]=0
}
M_HAS_FIND=() M_HAS_REPLACE=()
lineno=0
while IFS= read -r line || [[ -n "$line" ]]; do
  lineno=$((lineno + 1))
  [[ -z "$line" || "$line" == \#* ]] && continue
  key=${line%%:*}
  [[ "$key" == "$line" ]] && { echo "mutations.txt:$lineno: no 'key:' in: $line" >&2; exit 2; }
  value=${line#*:}
  value=${value# }  # one space after the colon; the rest is exact
  if [[ "$key" == name ]]; then
    new_entry "$value"
    continue
  fi
  ((cur >= 0)) || { echo "mutations.txt:$lineno: '$key' before any name:" >&2; exit 2; }
  case "$key" in
    guards) M_GUARDS[cur]=$value ;;
    file) M_FILE[cur]=$value ;;
    find) M_FIND[cur]=$value M_HAS_FIND[cur]=1 ;;
    replace) M_REPLACE[cur]=$value M_HAS_REPLACE[cur]=1 ;;
    build) M_BUILD[cur]=$value ;;
    run) M_RUNS[cur]+="$value"$'\n' ;;
    expect) M_EXPECT[cur]=$value ;;
    *) echo "mutations.txt:$lineno: unknown key '$key'" >&2; exit 2 ;;
  esac
done <"$LIST"
count=$((cur + 1))
for ((i = 0; i < count; i++)); do
  n=${M_NAME[i]}
  if [[ -z "${M_FILE[i]}" || ${M_HAS_FIND[i]} == 0 || ${M_HAS_REPLACE[i]} == 0 || -z "${M_RUNS[i]}" ]]; then
    echo "mutations.txt: mutation '$n' needs file, find, replace and at least one run" >&2
    exit 2
  fi
  [[ "${M_EXPECT[i]}" == killed || "${M_EXPECT[i]}" == survived ]] ||
    { echo "mutations.txt: mutation '$n': expect must be killed or survived" >&2; exit 2; }
done

if [[ $mode == list ]]; then
  for ((i = 0; i < count; i++)); do printf '%-30s %s\n' "${M_NAME[i]}" "${M_GUARDS[i]}"; done
  exit 0
fi

# ---- which mutations this run covers ----
selected=()
if ((${#names[@]} == 0)); then
  for ((i = 0; i < count; i++)); do selected+=("$i"); done
else
  for want in "${names[@]}"; do
    found=-1
    for ((i = 0; i < count; i++)); do [[ "${M_NAME[i]}" == "$want" ]] && found=$i; done
    ((found >= 0)) || { echo "mutants.sh: no mutation named '$want' (see --list)" >&2; exit 2; }
    selected+=("$found")
  done
fi
full_run=$((${#names[@]} == 0))

# Exact-text replacement: the text must occur exactly once. Prints nothing on success.
apply_mutation() {  # root file find replace
  python3 - "$@" <<'PY'
import sys
root, rel, find, replace = sys.argv[1:5]
path = f"{root}/{rel}"
try:
    text = open(path, encoding="utf-8").read()
except OSError as e:
    print(f"cannot read {rel}: {e}")
    sys.exit(1)
n = text.count(find)
if n != 1:
    print(f"the text occurs {n} times in {rel} (must be exactly once): {find}")
    sys.exit(1)
open(path, "w", encoding="utf-8").write(text.replace(find, replace, 1))
PY
}

if [[ $mode == check ]]; then
  bad=0
  for i in "${selected[@]}"; do
    tmp=$(mktemp -d)
    mkdir -p "$tmp/$(dirname "${M_FILE[i]}")"
    cp "$REPO/${M_FILE[i]}" "$tmp/${M_FILE[i]}" 2>/dev/null || true
    if why=$(apply_mutation "$tmp" "${M_FILE[i]}" "${M_FIND[i]}" "${M_REPLACE[i]}"); then
      printf '%-30s applies\n' "${M_NAME[i]}"
    else
      printf '%-30s DOES NOT APPLY: %s\n' "${M_NAME[i]}" "$why"
      bad=1
    fi
    rm -rf "$tmp"
  done
  exit "$bad"
fi

# ---- the scratch copy: synced by content, so only changed files get a new mtime ----
# (a file restored after a mutation keeps its fresh mtime, so ninja rebuilds what the
# mutant build left behind; unchanged files keep theirs, so nothing else rebuilds)
mkdir -p "$SRC"
python3 - "$REPO" "$SRC" <<'PY'
import os, shutil, subprocess, sys
repo, dst = sys.argv[1:3]
files = subprocess.run(["git", "-C", repo, "ls-files", "-co", "--exclude-standard", "-z"],
                       check=True, capture_output=True).stdout.decode().split("\0")
files = {f for f in files if f and os.path.isfile(os.path.join(repo, f))}
copied = 0
for f in sorted(files):
    s, d = os.path.join(repo, f), os.path.join(dst, f)
    if os.path.isfile(d) and os.path.getsize(s) == os.path.getsize(d):
        with open(s, "rb") as a, open(d, "rb") as b:
            if a.read() == b.read():
                continue
    os.makedirs(os.path.dirname(d), exist_ok=True)
    shutil.copyfile(s, d)
    shutil.copymode(s, d)
    copied += 1
removed = 0
for top, dirs, names in os.walk(dst):
    rel_top = os.path.relpath(top, dst)
    if rel_top == ".":
        dirs[:] = [x for x in dirs if not x.startswith("build")]
    dirs[:] = [x for x in dirs if x not in ("node_modules", "__pycache__", ".git")]
    for n in names:
        rel = os.path.normpath(os.path.join(rel_top, n))
        if rel not in files and not n.endswith(".pyc"):
            os.remove(os.path.join(top, n))
            removed += 1
print(f"scratch copy {dst}: {copied} file(s) updated, {removed} removed")
PY
if [[ -d "$REPO/client/node/node_modules" && ! -e "$SRC/client/node/node_modules" ]]; then
  ln -s "$REPO/client/node/node_modules" "$SRC/client/node/node_modules"
fi
# With the flags scripts/test.sh builds with (-Werror), so ccache serves the unchanged objects
# of the main build: configured otherwise, every object hashed differently and missed.
if [[ ! -f "$BLD/build.ninja" ]]; then
  cmake -S "$SRC" -B "$BLD" -G Ninja -DCMAKE_BUILD_TYPE="${BUILD_TYPE:-RelWithDebInfo}" \
    -DTASKMILL_WERROR=ON >/dev/null
fi

build_targets() {  # targets... ; output to $SCRATCH/build.log
  (($# == 0)) && return 0
  cmake --build "$BLD" -j"$JOBS" --target "$@" >"$SCRATCH/build.log" 2>&1
}

# Runs one "run:" line; returns its exit status. Output goes to $TEST_LOG.
run_test() {
  local kind rest
  kind=${1%% *}
  rest=${1#* }
  case "$kind" in
    gtest)
      local bin=${rest%% *} filter=${rest#* }
      timeout "$TEST_TIMEOUT" "$BLD/$bin" --gtest_filter="$filter" --gtest_brief=1 \
        >>"$TEST_LOG" 2>&1
      ;;
    pytest)
      (cd "$SRC" && PYTHONPATH="$SRC/client/python" TASKMILL_BUILD_DIR="$BLD" \
        timeout "$TEST_TIMEOUT" python3 -m pytest -q -x -p no:cacheprovider "$rest") \
        >>"$TEST_LOG" 2>&1
      ;;
    node)
      (cd "$SRC/client/node" && TASKMILL_BUILD_DIR="$BLD" \
        timeout "$TEST_TIMEOUT" node --test "$rest") >>"$TEST_LOG" 2>&1
      ;;
    ctest)
      timeout "$TEST_TIMEOUT" ctest --test-dir "$BLD" --output-on-failure -R "$rest" \
        --no-tests=error >>"$TEST_LOG" 2>&1
      ;;
    *)
      echo "unknown run kind '$kind' in: $1" >>"$TEST_LOG"
      return 2
      ;;
  esac
}

run_all() {  # index; 0 iff every run line passed
  local line status=0
  while IFS= read -r line; do
    [[ -z "$line" ]] && continue
    run_test "$line" || { status=1; break; }
  done <<<"${M_RUNS[$1]}"
  return "$status"
}

restore_file() {  # rel path: back to the repo's content, with a fresh mtime
  cp "$REPO/$1" "$SRC/$1"
  touch "$SRC/$1"
}
current_file=""
trap '[[ -n "$current_file" ]] && restore_file "$current_file"' EXIT

start_all=$(date +%s)
# ---- baseline: every target built and every named test passing on the unmutated copy ----
all_targets=()
declare -A seen_run=()
for i in "${selected[@]}"; do
  for t in ${M_BUILD[i]}; do all_targets+=("$t"); done
done
echo "building the unmutated scratch copy (${#all_targets[@]} target(s))..."
if ((${#all_targets[@]} > 0)) && ! build_targets $(printf '%s\n' "${all_targets[@]}" | sort -u); then
  tail -30 "$SCRATCH/build.log"
  echo "mutants.sh: the unmutated scratch copy does not build" >&2
  exit 1
fi
echo "running the named tests on the unmutated copy..."
mkdir -p "$SCRATCH/logs"
TEST_LOG="$SCRATCH/logs/baseline.log"
: >"$TEST_LOG"
baseline_ok=1
for i in "${selected[@]}"; do
  while IFS= read -r line; do
    [[ -z "$line" || -n "${seen_run[$line]:-}" ]] && continue
    seen_run[$line]=1
    if ! run_test "$line"; then
      tail -30 "$TEST_LOG"
      echo "mutants.sh: fails without any mutation: $line" >&2
      baseline_ok=0
    fi
  done <<<"${M_RUNS[i]}"
done
((baseline_ok)) || exit 1
baseline_s=$(($(date +%s) - start_all))
echo "baseline: ${baseline_s}s"

# ---- the mutations ----
rows=()
failures=0
for i in "${selected[@]}"; do
  name=${M_NAME[i]} file=${M_FILE[i]}
  t0=$(date +%s)
  printf '%-30s ' "$name"
  TEST_LOG="$SCRATCH/logs/$name.log"
  : >"$TEST_LOG"
  if ! why=$(apply_mutation "$SRC" "$file" "${M_FIND[i]}" "${M_REPLACE[i]}"); then
    result="NOT APPLIED"
    echo "$result: $why"
    failures=$((failures + 1))
    rows+=("$name|$result ($why)|$(($(date +%s) - t0))")
    continue
  fi
  current_file=$file
  touch "$SRC/$file"
  if ! build_targets ${M_BUILD[i]}; then
    result="BUILD FAILED"
    tail -20 "$SCRATCH/build.log"
  elif run_all "$i"; then
    result=survived
  else
    result=killed
  fi
  restore_file "$file"
  current_file=""
  secs=$(($(date +%s) - t0))
  note=""
  if [[ "$result" == "BUILD FAILED" ]]; then
    failures=$((failures + 1))
  elif [[ "${M_EXPECT[i]}" == survived && $full_run == 1 ]]; then
    if [[ "$result" == survived ]]; then
      note=" (expected: negative control)"
    else
      note=" (UNEXPECTED: the negative control was killed)"
      failures=$((failures + 1))
    fi
  elif [[ "$result" == survived ]]; then
    failures=$((failures + 1))
    [[ "${M_EXPECT[i]}" == survived ]] && note=" (negative control run alone: fails the run)"
  fi
  echo "$result$note (${secs}s)"
  if [[ "$result" == survived && "${M_EXPECT[i]}" != survived ]]; then
    sed 's/^/    | /' "$TEST_LOG" | tail -5
  fi
  rows+=("$name|$result$note|$secs")
done
# The last restored file must not leave a mutant object behind for the next run's baseline:
# its fresh mtime makes ninja rebuild it then.

total=$(($(date +%s) - start_all))
echo
printf '%-30s %-52s %s\n' mutation result seconds
printf '%-30s %-52s %s\n' -------- ------ -------
for r in "${rows[@]}"; do
  IFS='|' read -r n res s <<<"$r"
  printf '%-30s %-52s %s\n' "$n" "$res" "$s"
done
echo
echo "mutations: ${#selected[@]}, failures: $failures, baseline ${baseline_s}s, total ${total}s"
((failures == 0))
