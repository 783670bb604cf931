#!/usr/bin/env bash
# Runs the GPU evidence of the CUDA, benchmark and search issues from the offline bundle on a machine with only
# the NVIDIA driver and the CUDA 13 libraries (no Java, no network), in named stages, each under its own
# wall-clock budget, and writes OUTDIR/results.json after every stage (so a run cut short still leaves it).
#
#   usage: run-gpu.sh [--plan call1|call2] [OUTDIR [STAGE...]]
#   stages, in this order when none are named (all of them; a plan names its own):
#     info     nvidia-smi, host, versions, and a CUDA smoke test (sparsevit demo --backend cuda)
#     tests    the test parts of SVJ_TESTS (default "gpu cpu"; see tag_option), each in its own JVM
#     bench    the benchmark issue's cases on CUDA, the targets' cases first
#     peers    timm eager / torch.compile and SparseViT-style pruning in PyTorch eager (timm_peers.py)
#     latency  latency table of Swin-T 672x672 b4 FP16, validated against direct measurement
#     search   evolutionary search in a latency window with that table, the result measured directly
#     cpu      our CPU backend beside ONNX Runtime (needs sparsevit-bundle-cpu-peer.tar.gz unpacked over the bundle)
#   --plan call1 / call2: the two device calls of a 15-minute session (bench/bundle/README.md): their stages, test
#   parts, budgets and deadline as defaults (the environment overrides each), OUTDIR /tmp/call1 or /tmp/call2,
#   SVJ_PACK_DIR=$OUT; call2 skips what call1 finished (SVJ_PREVIOUS=/tmp/call1: bench groups, peer cases).
#   Fixtures: $SVJ_FIXTURES, else .fixtures, ../shared/fixtures or shared/fixtures (from the current directory).
#   SVJ_PACK_DIR=DIR (e.g. the device tool's $OUT, which returns at most 8 files): after every stage, DIR gets
#   NAME-results.json and NAME.tar.gz (all of OUTDIR), NAME being OUTDIR's last component.
#   If the smoke test fails on a machine where nvidia-smi sees a GPU, the other stages are not run (they would
#   fail one after the other on device time); SVJ_SMOKE_GATE=0 runs them anyway. Instead the demo runs again with
#   CUDA_LAUNCH_BLOCKING=1 and under compute-sanitizer's memcheck (SVJ_BUDGET_DIAGNOSE, 150 s, for both).
#
# Budgets (seconds, environment): SVJ_BUDGET_INFO (40), SVJ_BUDGET_TESTS (200), SVJ_BUDGET_BENCH (320),
# SVJ_BUDGET_PEERS (280), SVJ_BUDGET_LATENCY (170), SVJ_BUDGET_SEARCH (110), SVJ_BUDGET_CPU (150); and
# SVJ_DEADLINE (570): no stage runs past this many seconds after the script started, whatever its budget, so
# one call of the device tool (600 s) always ends with results.json written. A stage that runs out of time
# keeps what it wrote so far (benchmark rows are written case by case, peers row by row, the search ends with
# its best so far).
# Other knobs: SVJ_TESTS (test parts); SVJ_BENCH_GROUPS (names of the bench groups to run, e.g. "bb-cam-b48
# sb-bb672"; default all, see stage_bench); SVJ_PREVIOUS (an earlier OUTDIR on this machine: bench groups it
# finished and peer cases it measured are not run again); SVJ_ITERS (100) / SVJ_WARMUP (10) per benchmark case;
# SVJ_HOST_ITERS (3: timed host-to-host calls per case, host_p50_ms; 0 skips them);
# SVJ_BENCH_ARGS (extra arguments to every bench call); SVJ_JVM_OPTS (JVM options of every bench call, e.g.
# -Dsparsevit.fusedGelu=off; the mlp-* and gelu-* groups add their own); SVJ_TABLE_ROUNDS (1), SVJ_TABLE_VALIDATE (20);
# SVJ_SEARCH_WINDOW (MIN:MAX ms; default 55%-65% of the table's dense latency), SVJ_SEARCH_BUDGET (500
# candidates); SVJ_PEERS_ARGS (extra timm_peers.py args, split at spaces); SVJ_PEERS_CASES (--cases REGEX, spaces kept); SVJ_LAT_ARGS (the latency/search case, default "--arch
# swin-t --backbone --size 672x672 --batch 4 --precision fp16 --backend cuda"); SVJ_LATENCY_ARGS (added to the
# table's latency call, e.g. "--iters 100 --warmup 20").
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ALL="info tests bench peers latency search cpu"
# --plan call1|call2: the two device calls of a 15-minute GPU session (bench/bundle/README.md), as defaults that the
# environment still overrides. call1 carries the bundle and sparsevit-reference: smoke test (the call stops there
# if it fails), the GPU tests but those on swin-reference, the targets' benchmark cases, the peers' target cases.
# call2, made while the machine is warm, carries swin-reference: the rest of the GPU tests, latency table, search,
# then the bench groups and peer cases call1 did not finish.
PLAN=""
if [ "${1:-}" = --plan ]; then
  PLAN=${2:-}
  shift 2 || { echo "error: --plan needs call1 or call2" >&2; exit 2; }
  case "$PLAN" in
    call1)
      # peers last, with whatever the deadline leaves (at least 110 s when the others use their whole budgets)
      : "${SVJ_TESTS:=gpu-sv}" "${SVJ_DEADLINE:=390}" "${SVJ_BUDGET_INFO:=45}" "${SVJ_BUDGET_TESTS:=90}"
      : "${SVJ_BUDGET_BENCH:=130}" "${SVJ_BUDGET_PEERS:=400}"
      : "${SVJ_BENCH_GROUPS:=t-cls224-fp16 t-bb672-fp16 cls224-fp16-paper bb672-fp32}"
      PLAN_STAGES="info tests bench peers" ;;
    call2)
      : "${SVJ_TESTS:=gpu-swin}" "${SVJ_DEADLINE:=400}" "${SVJ_BUDGET_TESTS:=45}" "${SVJ_BUDGET_LATENCY:=90}"
      : "${SVJ_BUDGET_SEARCH:=75}" "${SVJ_BUDGET_BENCH:=120}" "${SVJ_BUDGET_PEERS:=400}" "${SVJ_TABLE_VALIDATE:=12}"
      [ -d /tmp/call1 ] && : "${SVJ_PREVIOUS:=/tmp/call1}"
      PLAN_STAGES="tests latency search bench peers" ;;
    *) echo "error: unknown plan '$PLAN' (call1 or call2)" >&2; exit 2 ;;
  esac
  : "${SVJ_PACK_DIR:=${OUT:-}}"
  [ -z "$SVJ_PACK_DIR" ] && unset SVJ_PACK_DIR
  OUTDIR=${1:-/tmp/$PLAN}
else
  OUTDIR=${1:-$PWD/gpu-results}
fi
[ $# -gt 0 ] && shift
STAGES=${*:-${PLAN_STAGES:-$ALL}}
for s in $STAGES; do
  case " $ALL " in *" $s "*) ;; *) echo "error: unknown stage '$s' (stages: $ALL)" >&2; exit 2 ;; esac
done
mkdir -p "$OUTDIR"
OUTDIR=$(cd "$OUTDIR" && pwd)
T_START=$(date +%s)
DEADLINE=${SVJ_DEADLINE:-570}
JAVA="$HERE/runtime/bin/java"
CP="$HERE/lib/sparsevit.jar"
# the library path this script was started with, for Python (below)
ORIG_LD_SET=${LD_LIBRARY_PATH+x}
ORIG_LD=${LD_LIBRARY_PATH-}
PY=$(command -v python3 || true)
# Python runs with the library path the script was started with: the CUDA directories this script adds for the
# cuBLAS presets (below) would come before the CUDA libraries of PyTorch's wheels, which then fail to load
# ("undefined symbol") or load another cuBLAS than PyTorch was built with. $PY is a wrapper that restores it.
if [ -n "$PY" ]; then
  PYDIR=$(mktemp -d "${TMPDIR:-/tmp}/run-gpu-py.XXXXXX" 2>/dev/null || mktemp -d 2>/dev/null) || PYDIR=
  if [ -n "$PYDIR" ]; then
    if [ -n "$ORIG_LD_SET" ]; then
      printf '#!/bin/bash\nexec env LD_LIBRARY_PATH=%q %q "$@"\n' "$ORIG_LD" "$PY" > "$PYDIR/python3"
    else
      printf '#!/bin/bash\nexec env -u LD_LIBRARY_PATH %q "$@"\n' "$PY" > "$PYDIR/python3"
    fi
    chmod +x "$PYDIR/python3" && PY="$PYDIR/python3"
  else
    echo "[run-gpu] no temporary folder for the Python wrapper: Python runs with the CUDA library path" >&2
  fi
fi
# the CUDA 13 libraries (cuBLAS for the GEMMs) where a toolkit installs them
for d in /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib /usr/lib/x86_64-linux-gnu; do
  [ -d "$d" ] && LD_LIBRARY_PATH="${LD_LIBRARY_PATH:+$LD_LIBRARY_PATH:}$d"
done
# or where PyTorch's pip packages keep them (nvidia/cu13/lib, nvidia/cublas/lib, ...)
# (the cuBLAS presets need libcudart, libcublas and libcublasLt of CUDA 13; all three, or the pip directories too)
HAVE_CUBLAS=1
IFS=: read -r -a LIBDIRS <<< "${LD_LIBRARY_PATH:-}"
for lib in libcudart.so.13 libcublas.so.13 libcublasLt.so.13; do
  found=0
  for d in ${LIBDIRS[@]+"${LIBDIRS[@]}"}; do [ -e "$d/$lib" ] && found=1; done
  ldconfig -p 2>/dev/null | grep -q "$lib " && found=1
  [ "$found" = 1 ] || HAVE_CUBLAS=0
done
if [ "$HAVE_CUBLAS" = 0 ] && [ -n "$PY" ]; then
  for d in $("$PY" -c 'import site, glob
for p in site.getsitepackages():
    for d in sorted(glob.glob(p + "/nvidia/*/lib")): print(d)' 2>/dev/null); do
    LD_LIBRARY_PATH="${LD_LIBRARY_PATH:+$LD_LIBRARY_PATH:}$d"
  done
fi
export LD_LIBRARY_PATH
FIX=${SVJ_FIXTURES:-}
for f in "$PWD/.fixtures" "$PWD/../shared/fixtures" "$PWD/shared/fixtures" "$HERE/../shared/fixtures" "$HERE/../../shared/fixtures"; do
  if [ -z "$FIX" ] && [ -d "$f" ]; then FIX=$(cd "$f" && pwd); fi
done
export JAVA_TOOL_OPTIONS="${JAVA_TOOL_OPTIONS:-} -Xmx24g"
ITERS=${SVJ_ITERS:-100}
WARMUP=${SVJ_WARMUP:-10}
HOST_ITERS=${SVJ_HOST_ITERS:-3}

log() { echo "[run-gpu $(( $(date +%s) - T_START ))s] $*"; }

# the first line of a log that names an error, else its last line
first_error() {
  grep -m1 -i -E 'error|exception' "$1" 2>/dev/null || tail -n1 "$1" 2>/dev/null
}

# the budget of a stage: its own, cut to what is left before the deadline (minus 15 s to write results)
budget() {
  local own=$1 left
  left=$(( DEADLINE - ($(date +%s) - T_START) - 15 ))
  [ "$left" -lt "$own" ] && own=$left
  echo "$own"
}

# one line of JSON per stage: name, status, seconds, budget, note
stage_done() {
  local name=$1 status=$2 secs=$3 bud=$4 note=${5:-}
  note=$(printf '%s' "$note" | tr '\n"\\' "  /" | cut -c1-400)
  printf '{"name": "%s", "status": "%s", "seconds": %s, "budget": %s, "note": "%s"}\n' \
    "$name" "$status" "$secs" "$bud" "$note" >> "$OUTDIR/stages.jsonl"
}

# runs a command under a time limit; prints nothing; returns its exit status (124: timed out)
limited() {
  local secs=$1; shift
  if [ "$secs" -le 0 ]; then return 124; fi
  timeout --kill-after=10 "$secs" "$@"
}

write_results() {
  write_results_file
  if [ -n "${SVJ_PACK_DIR:-}" ]; then
    local name; name=$(basename "$OUTDIR")
    mkdir -p "$SVJ_PACK_DIR"
    cp "$OUTDIR/results.json" "$SVJ_PACK_DIR/$name-results.json" 2>/dev/null
    tar -C "$OUTDIR" -czf "$SVJ_PACK_DIR/$name.tar.gz.tmp" . 2>/dev/null && mv "$SVJ_PACK_DIR/$name.tar.gz.tmp" "$SVJ_PACK_DIR/$name.tar.gz"
  fi
}

write_results_file() {
  if [ -n "$PY" ] && [ -f "$HERE/results.py" ]; then
    "$PY" "$HERE/results.py" "$OUTDIR" "$HERE" || echo "[run-gpu] results.py failed" >&2
  else
    # no python3: the facts and the counts only
    printf '{"date": "%s", "device": "%s", "driver": "%s", "cuda": "%s", "tests_passed": 0, "tests_failed": 0, "tests_skipped": 0, "rows": [], "peers": [], "note": "python3 missing: rows are in the rows-*.json files"}\n' \
      "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1)" \
      "$(nvidia-smi --query-gpu=driver_version --format=csv,noheader 2>/dev/null | head -1)" \
      "$(nvidia-smi 2>/dev/null | grep -o 'CUDA Version: [0-9.]*' | awk '{print $3}')" > "$OUTDIR/results.json"
  fi
}

# SVJ_NO_GPU_CHECK=1 runs the GPU stages even where nvidia-smi finds no GPU (to test the plumbing: every case
# then fails with the CUDA backend's reason, and the files are written all the same)
have_gpu() {
  [ "${SVJ_NO_GPU_CHECK:-0}" = 1 ] || nvidia-smi -L >/dev/null 2>&1
}

# ------------------------------------------------------------------------------------------------ stages

stage_info() {
  local b=$1
  {
    echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "commit: $(cat "$HERE/COMMIT" 2>/dev/null)"
    echo "fixtures: ${FIX:-none}"
    nvidia-smi 2>&1 | head -30
    nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,clocks.max.mem,power.limit,pcie.link.gen.max \
      --format=csv 2>&1
    echo "--- host"
    lscpu 2>/dev/null | grep -E 'Model name|^CPU\(s\)|Thread|Socket' ; free -g 2>/dev/null | head -2
    echo "--- software"
    "$JAVA" -version 2>&1 | head -3
    [ -n "$PY" ] && "$PY" -c 'import sys; print("python", sys.version.split()[0])
try:
    import torch; print("torch", torch.__version__, "cuda", torch.version.cuda)
except Exception as e: print("torch: not importable:", e)
try:
    import timm; print("timm", timm.__version__)
except Exception as e: print("timm: not importable:", e)' 2>&1
    echo "--- LD_LIBRARY_PATH=$LD_LIBRARY_PATH"
    ls /usr/local/cuda/lib64/libcublas.so* /usr/lib/x86_64-linux-gnu/libcublas.so* 2>/dev/null
  } > "$OUTDIR/info.txt" 2>&1
  # the CUDA backend end to end (its log says why when it cannot start)
  limited "$b" "$JAVA" -jar "$CP" demo --backend cuda --iters 3 > "$OUTDIR/demo-cuda.log" 2>&1
  local rc=$?
  if [ $rc -eq 0 ]; then echo ok; return 0; fi
  echo "demo --backend cuda failed (exit $rc): $(first_error "$OUTDIR/demo-cuda.log")"
  return 1
}

# after a failed smoke test on a machine with a GPU, the evidence a fix needs, in the same call: the demo again
# with synchronous launches (an error is then reported by the operation that caused it, not by the next check),
# then under compute-sanitizer's memcheck where installed (out-of-bounds or misaligned accesses, with the kernel)
diagnose() {
  local b=$1 t0 cs
  t0=$(date +%s)
  CUDA_LAUNCH_BLOCKING=1 limited $(( b / 3 )) "$JAVA" -jar "$CP" demo --backend cuda --iters 1 \
    > "$OUTDIR/demo-cuda-blocking.log" 2>&1
  echo "blocking launches: exit $?: $(first_error "$OUTDIR/demo-cuda-blocking.log")"
  cs=$(command -v compute-sanitizer || ls /usr/local/cuda/bin/compute-sanitizer 2>/dev/null || true)
  if [ -z "$cs" ]; then echo "; no compute-sanitizer"; return; fi
  limited $(( b - ($(date +%s) - t0) )) "$cs" --tool memcheck --print-limit 20 "$JAVA" -jar "$CP" demo --backend cuda \
    --iters 1 > "$OUTDIR/sanitizer-memcheck.log" 2>&1
  echo "; memcheck: exit $?: $(grep -m1 -E 'ERROR SUMMARY|Invalid|error' "$OUTDIR/sanitizer-memcheck.log")"
}

# a class that cannot be loaded is logged and the others still run; tests tagged "awt" draw or read images,
# which this runtime (no java.desktop) cannot: they run in the build's own test phase instead
JUNIT_OPTS="--config=junit.platform.discovery.listener.default=logging --exclude-tag awt"

# the test classes of tests.txt in one JVM under a time limit, one line per finished test: junit SECONDS CLASSES TAG-OPTION...
junit() {
  local secs=$1 classes=$2; shift 2
  # shellcheck disable=SC2086
  limited "$secs" "$JAVA" -Dsparsevit.fixtures="${FIX:-missing}" -jar "$HERE/lib/junit-console.jar" execute \
    -cp "$CP:$HERE/lib/sparsevit-tests.jar" $classes "$@" $JUNIT_OPTS \
    --details=testfeed --disable-banner --disable-ansi-colors
}

# the test parts (SVJ_TESTS, default "gpu cpu"), each in its own JVM, so a crash in one keeps the others' counts:
#   gpu         every GPU-tagged test                      cpu         the rest of the suite (CI runs it on every commit)
#   gpu-ops     GPU tests that need no fixtures            gpu-golden  GPU tests on the fixtures
#   gpu-sv      all GPU tests but those on swin-reference  gpu-swin    GPU tests on swin-reference (the other two
#               (needs sparsevit-reference only)                       parts make up "gpu": the plans' split)
tag_option() {
  case "$1" in
    gpu) echo "--include-tag gpu" ;;
    gpu-ops) echo "--include-tag gpu&!fixtures" ;;
    gpu-golden) echo "--include-tag gpu&fixtures" ;;
    gpu-sv) echo "--include-tag gpu&!swin-fixtures" ;;
    gpu-swin) echo "--include-tag gpu&swin-fixtures" ;;
    cpu) echo "--exclude-tag gpu" ;;
    *) return 1 ;;
  esac
}

# the fixture folders a test part reads (the CPU part reads both: the golden tests of the foundation issues)
part_fixtures() {
  case "$1" in
    gpu-ops) ;;
    gpu-sv) echo sparsevit-reference ;;
    gpu-swin) echo swin-reference ;;
    *) echo sparsevit-reference swin-reference ;;
  esac
}

# A kernel fault (illegal or misaligned address) poisons the JVM's CUDA context, and asynchronous launches report it
# at a later op, so every later test fails with it and none names the kernel. The class of the test that met it
# first runs again with blocking launches, which report the fault at the faulting kernel's own launch
# (blocking-PART.log; not counted), in what is left of the stage's budget: blocking_rerun PART END-EPOCH-SECONDS
blocking_rerun() {
  local part=$1 t_end=$2 log="$OUTDIR/tests-$1.log" cls full left
  grep -q "the device faulted in a kernel" "$log" 2> /dev/null || return 0
  # the test feed's last line before the fault's message: "JUnit Jupiter > CLASS > TEST :: STATUS"
  cls=$(awk -F ' > ' '/ :: [A-Z]+/ { c = $2 } /the device faulted in a kernel/ { print c; exit }' "$log")
  full=$(grep -m1 -E "(^|[.])${cls:-none}\$" "$HERE/tests.txt")
  left=$(( t_end - $(date +%s) ))
  if [ -z "$full" ] || [ "$left" -le 10 ]; then
    echo "$part: a device fault (${cls:-test unknown}; no time left for a blocking rerun); "
    return 0
  fi
  # shellcheck disable=SC2046
  CUDA_LAUNCH_BLOCKING=1 junit "$left" "--select-class $full" $(tag_option "$part") \
    > "$OUTDIR/blocking-$part.log" 2>&1
  local at
  at=$(grep -m1 "the device faulted in a kernel" "$OUTDIR/blocking-$part.log" | grep -oE 'CUDA [^ ]+ failed: [^;]*')
  echo "$part: a device fault in $cls; with blocking launches: ${at:-not reproduced} (blocking-$part.log); "
}

stage_tests() {
  local b=$1
  local t_end=$(( $(date +%s) + b )) note="" part parts=${SVJ_TESTS:-gpu cpu} rc left tags
  local classes; classes=$(sed 's/^/--select-class /' "$HERE/tests.txt")
  for part in $parts; do
    tag_option "$part" > /dev/null || {
      echo "unknown test part '$part' (SVJ_TESTS: gpu cpu gpu-ops gpu-golden gpu-sv gpu-swin)"; return 2; }
  done
  local sub
  for part in $parts; do
    for sub in $(part_fixtures "$part"); do
      [ -d "${FIX:-/nonexistent}/$sub" ] || note="${note}$part: fixtures $sub not found (its golden tests fail); "
    done
    left=$(( t_end - $(date +%s) ))
    if [ "$left" -le 5 ]; then note="${note}$part: not run (budget spent); "; continue; fi
    tags=$(tag_option "$part")
    # shellcheck disable=SC2086
    junit "$left" "$classes" $tags > "$OUTDIR/tests-$part.log" 2>&1
    rc=$?
    { [ $rc -eq 124 ] || [ $rc -eq 137 ]; } && note="${note}$part tests cut at the budget; counts are partial; "
    tail -15 "$OUTDIR/tests-$part.log"
    note="${note}$(blocking_rerun "$part" "$t_end")"
    write_results > /dev/null
  done
  # the counts, as the launcher summed them up (results.py reads the test feed when a summary is missing)
  local counts=""
  for part in $parts; do
    [ -f "$OUTDIR/tests-$part.log" ] && \
      counts="$counts$part: $(grep -oE '[0-9]+ tests (successful|failed|aborted)' "$OUTDIR/tests-$part.log" | tr '\n' ' ')"
  done
  echo "${note}${counts}"
}

# one bench invocation: NAME then bench arguments; rows to rows-NAME.json, outcomes to cases-NAME.json
bench_group() {
  local name=$1; shift
  if [ -n "${SVJ_BENCH_GROUPS:-}" ] && [[ " $SVJ_BENCH_GROUPS " != *" $name "* ]]; then return; fi
  # done by the previous call (SVJ_PREVIOUS, its OUTDIR on this machine): every case measured or failed, none
  # skipped for want of time (a failed case is not tried again: the same build fails the same way)
  local prev=${SVJ_PREVIOUS:+$SVJ_PREVIOUS/cases-$name.json}
  if [ -n "$prev" ] && [ -s "$prev" ] && ! grep -q '"skipped"' "$prev"; then
    log "bench $name: done in $SVJ_PREVIOUS"
    return
  fi
  local left; left=$(( BENCH_END - $(date +%s) ))
  if [ "$left" -le 20 ]; then
    echo "{\"label\": \"group $name: $*\", \"status\": \"skipped\", \"reason\": \"bench stage budget spent\", \"seconds\": 0}" \
      | sed 's/^/[/; s/$/]/' > "$OUTDIR/cases-$name.json"
    log "bench $name: skipped (budget spent)"
    return
  fi
  log "bench $name: $* (${left}s left)"
  # shellcheck disable=SC2086
  limited "$left" "$JAVA" ${SVJ_JVM_OPTS:-} -jar "$CP" bench --backend cuda --iters "$ITERS" --warmup "$WARMUP" --host-iters "$HOST_ITERS" "$@" ${SVJ_BENCH_ARGS:-} \
    --time-budget $(( left - 10 )) --json "$OUTDIR/rows-$name.json" --cases-json "$OUTDIR/cases-$name.json" \
    --markdown "$OUTDIR/report-$name.md" > "$OUTDIR/bench-$name.log" 2>&1
  local rc=$?
  [ $rc -ne 0 ] && log "bench $name: exit $rc ($(grep -m1 '^error' "$OUTDIR/bench-$name.log"))"
  write_results > /dev/null
}

stage_bench() {
  local b=$1
  BENCH_END=$(( $(date +%s) + b ))
  have_gpu || { echo "skipped: no GPU (nvidia-smi -L fails)"; return 3; }
  # the targets first: Swin-T classification 224 FP16 b64 / b1, backbone 672 b4 FP16 dense and pruned
  bench_group t-cls224-fp16 --precision fp16 --size 224x224 --batch 64,1 --sparsity dense
  bench_group t-bb672-fp16 --backbone --precision fp16 --size 672x672 --batch 4 --sparsity all
  bench_group bb672-fp32 --backbone --precision fp32 --size 672x672 --batch 4 --sparsity all
  # the MLP's kernels (CudaBackend): by default (sparsevit.fusedMlp=auto) norm2 + fc1 + GELU + fc2 + residual run as
  # one kernel for C <= 96 (Swin-T stage 0); elsewhere fc1 runs on the fused GEMM + bias + GELU kernel for K <= 256
  # (sparsevit.fusedGelu=auto: stage 1) or on cuBLAS + the bias/GELU pass (stages 2, 3). Each variant below (impl
  # "..., fusedMlp=off" etc.) changes what runs in some stages, and the rows' per-stage times tell them apart,
  # beside t-cls224-fp16's and t-bb672-fp16's: mlp-all-gelu-all (fused MLP in stages 0-1, fused fc1 in 2-3),
  # mlp-off (fused fc1 in stages 0-1), mlp-gelu-off (cuBLAS + the pass everywhere)
  SVJ_JVM_OPTS="${SVJ_JVM_OPTS:-} -Dsparsevit.fusedMlp=all -Dsparsevit.fusedGelu=all" bench_group mlp-all-gelu-all-cls224 --precision fp16 --size 224x224 --batch 64 --sparsity dense
  SVJ_JVM_OPTS="${SVJ_JVM_OPTS:-} -Dsparsevit.fusedMlp=off" bench_group mlp-off-cls224 --precision fp16 --size 224x224 --batch 64 --sparsity dense
  SVJ_JVM_OPTS="${SVJ_JVM_OPTS:-} -Dsparsevit.fusedMlp=off -Dsparsevit.fusedGelu=off" bench_group mlp-gelu-off-cls224 --precision fp16 --size 224x224 --batch 64 --sparsity dense
  SVJ_JVM_OPTS="${SVJ_JVM_OPTS:-} -Dsparsevit.fusedMlp=all -Dsparsevit.fusedGelu=all" bench_group mlp-all-gelu-all-bb672 --backbone --precision fp16 --size 672x672 --batch 4 --sparsity dense
  SVJ_JVM_OPTS="${SVJ_JVM_OPTS:-} -Dsparsevit.fusedMlp=off" bench_group mlp-off-bb672 --backbone --precision fp16 --size 672x672 --batch 4 --sparsity dense
  SVJ_JVM_OPTS="${SVJ_JVM_OPTS:-} -Dsparsevit.fusedMlp=off -Dsparsevit.fusedGelu=off" bench_group mlp-gelu-off-bb672 --backbone --precision fp16 --size 672x672 --batch 4 --sparsity dense
  bench_group cls224-prec --precision fp32,tf32,bf16 --size 224x224 --batch 64,1 --sparsity dense
  bench_group cls224-fp16-paper --precision fp16 --size 224x224 --batch 64,1 --sparsity "paper-1;paper-2;paper-3"
  bench_group bb-cam-b1 --backbone --precision fp16 --size 256x704,1024x2048 --batch 1 --sparsity "dense;uniform:0.6;paper-3"
  bench_group sb-cls224 --arch swin-s,swin-b --precision fp16 --size 224x224 --batch 64 --sparsity dense
  bench_group sb-bb672 --arch swin-s,swin-b --backbone --precision fp16 --size 672x672 --batch 4 --sparsity dense
  bench_group bb-cam-b48 --backbone --precision fp16 --size 256x704,1024x2048 --batch 4,8 --sparsity "dense;uniform:0.6;paper-3"
  local n; n=$(cat "$OUTDIR"/rows-*.json 2>/dev/null | grep -c '"p50_ms"')
  echo "$n rows; $(cat "$OUTDIR"/cases-*.json 2>/dev/null | grep -c '"failed"') failed, $(cat "$OUTDIR"/cases-*.json 2>/dev/null | grep -c '"skipped"') skipped cases"
  [ "$n" -gt 0 ]
}

stage_peers() {
  local b=$1
  [ -n "$PY" ] || { echo "skipped: no python3"; return 3; }
  "$PY" -c "import torch, timm" 2>/dev/null || { echo "skipped: torch/timm not importable"; return 3; }
  have_gpu || { echo "skipped: no GPU"; return 3; }
  local args=(--out "$OUTDIR/peers.json" --deadline-s $(( b > 30 ? b - 15 : 15 )) --iters "$ITERS" --warmup "$WARMUP")
  [ -n "${SVJ_PREVIOUS:-}" ] && [ -s "$SVJ_PREVIOUS/peers.json" ] && args+=(--skip-done "$SVJ_PREVIOUS/peers.json")
  # the SparseViT baseline checked against the official implementation's outputs and kept windows (seconds)
  local checked=0
  if [ -f "${FIX:-/nonexistent}/sparsevit-reference/sparsevit-mini.safetensors" ]; then
    args+=(--check-reference "$FIX/sparsevit-reference"); checked=1
  fi
  [ -n "${SVJ_PEERS_CASES:-}" ] && args+=(--cases "$SVJ_PEERS_CASES")
  # rows of an earlier run in this OUTDIR must not pass for this run's
  rm -f "$OUTDIR/peers.json" "$OUTDIR/peers-meta.json"
  # shellcheck disable=SC2086
  limited "$b" "$PY" "$HERE/timm_peers.py" "${args[@]}" ${SVJ_PEERS_ARGS:-} > "$OUTDIR/peers.log" 2>&1
  local rc=$?
  local ref="no reference check (no sparsevit-reference)"
  if [ "$checked" = 1 ]; then
    if grep -q '^reference check: {"fixture".*"ok": true' "$OUTDIR/peers.log"; then ref="SparseViT baseline reproduces the official outputs"
    elif grep -q '^reference check:' "$OUTDIR/peers.log"; then ref="SparseViT baseline check FAILED (peers.log)"
    else ref="no reference check (the script ended first: peers.log)"; fi
  fi
  local n; n=$(grep -c '"p50_ms"' "$OUTDIR/peers.json" 2>/dev/null); n=${n:-0}
  local why=""
  [ "$rc" -ne 0 ] && [ "$n" -eq 0 ] && why=" ($(tail -n1 "$OUTDIR/peers.log" | cut -c1-200))"
  echo "exit $rc$why; $n peer rows; $(grep -c '^FAILED' "$OUTDIR/peers.log") failed, $(grep -c '^SKIPPED' "$OUTDIR/peers.log") skipped; $ref"
  [ "$rc" -eq 0 ] || [ "$n" -gt 0 ]   # the script failed before any row: the stage failed
}

# the case of the latency table and the search (SVJ_LAT_ARGS replaces it, e.g. a small CPU case to rehearse)
read -r -a LAT_ARGS <<< "${SVJ_LAT_ARGS:---arch swin-t --backbone --size 672x672 --batch 4 --precision fp16 --backend cuda}"

stage_latency() {
  local b=$1
  have_gpu || { echo "skipped: no GPU"; return 3; }
  # shellcheck disable=SC2086
  limited "$b" "$JAVA" -jar "$CP" latency "${LAT_ARGS[@]}" ${SVJ_LATENCY_ARGS:-} --table "$OUTDIR/latency-table.json" \
    --rounds "${SVJ_TABLE_ROUNDS:-1}" --validate "${SVJ_TABLE_VALIDATE:-20}" --json "$OUTDIR/latency-validation.json" \
    > "$OUTDIR/latency.log" 2>&1
  local rc=$?
  echo "exit $rc: $(grep -E 'prediction error|^error' "$OUTDIR/latency.log" | head -1)"
  [ $rc -eq 0 ]
}

stage_search() {
  local b=$1
  have_gpu || { echo "skipped: no GPU"; return 3; }
  [ -f "$OUTDIR/latency-table.json" ] || { echo "skipped: no latency table (run the latency stage in the same call)"; return 3; }
  local win=${SVJ_SEARCH_WINDOW:-}
  if [ -z "$win" ]; then
    win=$("$PY" -c "import json,sys; d=json.load(open(sys.argv[1]))['dense_ms']; print('%.3f:%.3f' % (0.55*d, 0.65*d))" \
      "$OUTDIR/latency-table.json")
  fi
  echo "$win" > "$OUTDIR/search-window.txt"
  local t0; t0=$(date +%s)
  # --time-limit: the search ends with its best so far 35 s before the stage's budget, leaving time to measure
  # it; the hard limit (25 s before) only catches a generation that overruns
  limited $(( b - 25 )) "$JAVA" -jar "$CP" search "${LAT_ARGS[@]}" --latency-ms "$win" --table "$OUTDIR/latency-table.json" \
    --evaluator fidelity --budget "${SVJ_SEARCH_BUDGET:-500}" --seed 0 --time-limit $(( b > 45 ? b - 35 : 10 )) \
    --out "$OUTDIR/search-best.json" > "$OUTDIR/search.log" 2>&1
  local rc=$?
  if [ ! -f "$OUTDIR/search-best.json" ]; then echo "search exit $rc, no result: $(grep -m1 '^error' "$OUTDIR/search.log")"; return 1; fi
  limited $(( b - ($(date +%s) - t0) )) "$JAVA" -jar "$CP" latency "${LAT_ARGS[@]}" --sparsity "$OUTDIR/search-best.json" \
    --json "$OUTDIR/search-measured.json" > "$OUTDIR/search-measured.log" 2>&1
  echo "window $win ms: $(grep -m1 '^best' "$OUTDIR/search.log"); measured: $(grep -m1 'trimmed mean' "$OUTDIR/search-measured.log")"
}

# CPU: our CPU backend beside ONNX Runtime's Java API on the same Swin-T in ONNX
stage_cpu() {
  local b=$1
  [ -f "$HERE/lib/ort-bench.jar" ] || { echo "skipped: no ort-bench.jar in the bundle (the CPU peer travels apart: tar xzf sparsevit-bundle-cpu-peer.tar.gz above sparsevit-bundle/)"; return 3; }
  [ -n "$PY" ] || { echo "skipped: no python3 to write the ONNX model"; return 3; }
  # Swin-T in ONNX: timm's export where torch + timm are installed, else swin_to_onnx.py (python3 standard
  # library) on our seeded weights, checked against our CPU logits first (cpu-check.txt)
  # (torch.onnx.export needs the onnx package too; where timm's export fails, ours is used)
  local onnx_from=timm
  "$PY" -c "import torch, timm, onnx" 2>/dev/null || onnx_from=ours
  limited "$b" bash -c '
  : > "$2/cpu.log"
  if [ "$4" = timm ]; then
    "$5" "$1/export_onnx.py" "$2/swin_t_224.onnx" 224x224 1 >> "$2/cpu.log" 2>&1 || {
      echo "timm export failed: the ONNX model from our weights instead" >> "$2/cpu.log"; set -- "$1" "$2" "$3" ours "$5"; }
  fi
  echo "$4" > "$2/onnx-from.txt"
  if [ "$4" != timm ]; then
    "$3" -jar "$1/lib/sparsevit.jar" demo --save-weights "$2/swin_t.safetensors" --save-input "$2/cpu-input.npy" \
      >> "$2/cpu.log" 2>&1 && \
    "$5" "$1/swin_to_onnx.py" "$2/swin_t.safetensors" "$2/swin_t_224.onnx" >> "$2/cpu.log" 2>&1 && \
    "$3" -jar "$1/lib/sparsevit.jar" run --backend cpu --weights "$2/swin_t.safetensors" --input "$2/cpu-input.npy" \
      --output "$2/cpu-ours" >> "$2/cpu.log" 2>&1 && \
    "$3" -cp "$1/lib/ort-bench.jar" org.sparsevit.bench.ort.OrtBench check "$2/swin_t_224.onnx" \
      "$2/cpu-input.npy" "$2/cpu-ours/logits.npy" > "$2/cpu-check.txt" 2>&1
    rc=$?
    rm -rf "$2/swin_t.safetensors" "$2/cpu-input.npy" "$2/cpu-ours"
    [ $rc -eq 0 ] || exit 1
  fi
  "$3" -cp "$1/lib/ort-bench.jar" org.sparsevit.bench.ort.OrtBench "$2/swin_t_224.onnx" 224x224 1 50 5 \
    "$2/rows-cpu-ort.json" >> "$2/cpu.log" 2>&1
  ort=$?
  "$3" -jar "$1/lib/sparsevit.jar" bench --backend cpu --size 224x224 --batch 1 --sparsity "dense;uniform:0.6" --iters 50 --warmup 5 \
    --json "$2/rows-cpu.json" >> "$2/cpu.log" 2>&1
  ours=$?
  rm -f "$2/swin_t_224.onnx"
  [ $ort -eq 0 ] || echo "ONNX Runtime timing failed (exit $ort)" >> "$2/cpu.log"
  [ $ours -eq 0 ] || echo "our CPU bench failed (exit $ours)" >> "$2/cpu.log"
  [ $ort -eq 0 ] && [ $ours -eq 0 ]' _ "$HERE" "$OUTDIR" "$JAVA" "$onnx_from" "$PY"
  local rc=$?
  echo "exit $rc (ONNX model: $(cat "$OUTDIR/onnx-from.txt" 2>/dev/null || echo "$onnx_from"))"
  return $rc
}

# ------------------------------------------------------------------------------------------------ main

log "$(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>/dev/null | head -1 || true) stages: $STAGES; deadline ${DEADLINE}s; fixtures ${FIX:-none}"
trap 'write_results > /dev/null; rm -rf "${PYDIR:-}"' EXIT
GATED=
declare -A DEFAULT_BUDGET=([info]=40 [tests]=200 [bench]=320 [peers]=280 [latency]=170 [search]=110 [cpu]=150)
for s in $STAGES; do
  var="SVJ_BUDGET_$(echo "$s" | tr '[:lower:]' '[:upper:]')"
  own=${!var:-${DEFAULT_BUDGET[$s]}}
  bud=$(budget "$own")
  t0=$(date +%s)
  if [ -n "$GATED" ]; then
    stage_done "$s" "not run" 0 0 "$GATED"
    continue
  fi
  if [ "$bud" -le 5 ]; then
    log "$s: not started (deadline)"
    stage_done "$s" "not run" 0 0 "the call's deadline (${DEADLINE}s) was reached before this stage"
    continue
  fi
  log "$s: start (budget ${bud}s)"
  "stage_$s" "$bud" 2>&1 | tee "$OUTDIR/stage-$s.out"
  rc=${PIPESTATUS[0]}
  note=$(tail -1 "$OUTDIR/stage-$s.out")
  secs=$(( $(date +%s) - t0 ))
  status=ok
  [ "$rc" -ne 0 ] && status=failed
  [ "$rc" -eq 3 ] && status=skipped
  case "$note" in *"cut at the budget"*|*"exit 124"*|*"exit 137"*) status=timed-out ;; esac
  stage_done "$s" "$status" "$secs" "$bud" "$note"
  log "$s: $status in ${secs}s: $note"
  write_results > /dev/null
  # a GPU that nvidia-smi sees but our CUDA backend cannot use: the other stages would only fail one after the
  # other, so the call ends here (seconds, not minutes, of device time) with the reason in info's note
  if [ "$s" = info ] && [ "$status" = failed ] && [ "${SVJ_SMOKE_GATE:-1}" = 1 ] && [ "${SVJ_NO_GPU_CHECK:-0}" != 1 ] \
      && nvidia-smi -L > /dev/null 2>&1; then
    GATED="the CUDA smoke test failed (info: $note)"
    log "stopping: $GATED; SVJ_SMOKE_GATE=0 runs the other stages anyway"
    bud=$(budget "${SVJ_BUDGET_DIAGNOSE:-150}")
    if [ "$bud" -gt 20 ]; then
      t0=$(date +%s)
      note=$(diagnose "$bud" | tr -d '\n')
      stage_done diagnose done $(( $(date +%s) - t0 )) "$bud" "$note"
      log "diagnose: $note (demo-cuda-blocking.log, sanitizer-memcheck.log)"
      write_results > /dev/null
    fi
  fi
done
write_results
