#!/usr/bin/env bash
# Runs the whole test suite (GPU tests included) and the benchmark from the offline bundle on a machine with only the NVIDIA driver
# and the CUDA 13 libraries (no Java, no network), and writes a results file.
#   usage: run-gpu.sh [OUTDIR]   (fixtures: $SVJ_FIXTURES, else ../shared/fixtures or shared/fixtures
#                                 relative to the current directory)
# Environment: SVJ_BENCH_ARGS overrides the benchmark cases; SVJ_SKIP_TESTS=1 / SVJ_SKIP_BENCH=1 skip parts;
# SVJ_PEERS=1 also runs the PyTorch peers (timm) when python3 with torch and timm is available.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
OUTDIR=${1:-$PWD/gpu-results}
mkdir -p "$OUTDIR"
JAVA="$HERE/runtime/bin/java"
# the CUDA 13 libraries (cuBLAS for the GEMMs) where a toolkit installs them
for d in /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib /usr/lib/x86_64-linux-gnu; do
  [ -d "$d" ] && LD_LIBRARY_PATH="${LD_LIBRARY_PATH:+$LD_LIBRARY_PATH:}$d"
done
export LD_LIBRARY_PATH
CP="$HERE/lib/sparsevit.jar"
FIX=${SVJ_FIXTURES:-}
for f in "$PWD/../shared/fixtures" "$PWD/shared/fixtures" "$HERE/../shared/fixtures"; do
  if [ -z "$FIX" ] && [ -d "$f" ]; then FIX=$(cd "$f" && pwd); fi
done
DATE=$(date -u +%Y-%m-%dT%H:%M:%SZ)
GPU=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1)
DRIVER=$(nvidia-smi --query-gpu=driver_version --format=csv,noheader 2>/dev/null | head -1)
CUDA=$(nvidia-smi 2>/dev/null | grep -o 'CUDA Version: [0-9.]*' | awk '{print $3}')
echo "[bundle] $DATE on ${GPU:-no GPU}, driver ${DRIVER:-?}, CUDA ${CUDA:-?}, fixtures ${FIX:-none}"
export JAVA_TOOL_OPTIONS="-Xmx24g"
PASSED=0; FAILED=0; SKIPPED=0
if [ "${SVJ_SKIP_TESTS:-0}" != 1 ]; then
  "$JAVA" -Dsparsevit.fixtures="${FIX:-missing}" -jar "$HERE/lib/junit-console.jar" execute \
    -cp "$CP:$HERE/lib/sparsevit-tests.jar" $(sed 's/^/--select-class /' "$HERE/tests.txt") \
    --reports-dir "$OUTDIR/junit" --details=tree --disable-banner > "$OUTDIR/tests.log" 2>&1
  tail -20 "$OUTDIR/tests.log"
  PASSED=$(grep -o '[0-9]* tests successful' "$OUTDIR/tests.log" | awk '{print $1}' | tail -1)
  FAILED=$(grep -o '[0-9]* tests failed' "$OUTDIR/tests.log" | awk '{print $1}' | tail -1)
  SKIPPED=$(( $(grep -o '[0-9]* tests skipped' "$OUTDIR/tests.log" | awk '{print $1}' | tail -1) + \
              $(grep -o '[0-9]* tests aborted' "$OUTDIR/tests.log" | awk '{print $1}' | tail -1) ))
fi
ROWS="$OUTDIR/rows.json"
echo "[]" > "$ROWS"
if [ "${SVJ_SKIP_BENCH:-0}" != 1 ]; then
  ARGS=${SVJ_BENCH_ARGS:-"--backend cuda --precision fp32,tf32 --size 224x224 --batch 1,64 --iters 100 --warmup 10"}
  # shellcheck disable=SC2086
  "$JAVA" -jar "$CP" bench $ARGS --json "$OUTDIR/rows-cls.json" --markdown "$OUTDIR/report-cls.md" > "$OUTDIR/bench-cls.log" 2>&1
  # shellcheck disable=SC2086
  "$JAVA" -jar "$CP" bench --backend cuda --backbone --precision fp32,tf32 --size 672x672 --batch 4 --sparsity all \
    --iters 100 --warmup 10 --json "$OUTDIR/rows-backbone.json" --markdown "$OUTDIR/report-backbone.md" > "$OUTDIR/bench-backbone.log" 2>&1
  python3 - "$OUTDIR" <<'PY' || true
import json, sys, os, glob
out = sys.argv[1]
rows = []
for f in sorted(glob.glob(os.path.join(out, "rows-*.json"))):
    rows += json.load(open(f))
json.dump(rows, open(os.path.join(out, "rows.json"), "w"), indent=1)
PY
fi
# CPU: our CPU backend beside ONNX Runtime's Java API on Swin-T in ONNX: timm's export where torch + timm are
# installed, else swin_to_onnx.py (python3 standard library) on our seeded weights, checked against our logits
if [ "${SVJ_SKIP_CPU:-0}" != 1 ] && [ -f "$HERE/lib/ort-bench.jar" ] && command -v python3 >/dev/null; then
  if python3 -c "import torch, timm" 2>/dev/null; then
    python3 "$HERE/export_onnx.py" "$OUTDIR/swin_t_224.onnx" 224x224 1 > "$OUTDIR/cpu.log" 2>&1
  else
    "$JAVA" -jar "$CP" demo --save-weights "$OUTDIR/swin_t.safetensors" --save-input "$OUTDIR/cpu-input.npy" \
      > "$OUTDIR/cpu.log" 2>&1 && \
    python3 "$HERE/swin_to_onnx.py" "$OUTDIR/swin_t.safetensors" "$OUTDIR/swin_t_224.onnx" >> "$OUTDIR/cpu.log" 2>&1 && \
    "$JAVA" -jar "$CP" run --backend cpu --weights "$OUTDIR/swin_t.safetensors" --input "$OUTDIR/cpu-input.npy" \
      --output "$OUTDIR/cpu-ours" >> "$OUTDIR/cpu.log" 2>&1 && \
    "$JAVA" -cp "$HERE/lib/ort-bench.jar" org.sparsevit.bench.ort.OrtBench check "$OUTDIR/swin_t_224.onnx" \
      "$OUTDIR/cpu-input.npy" "$OUTDIR/cpu-ours/logits.npy" > "$OUTDIR/cpu-check.txt" 2>&1
    rm -rf "$OUTDIR/swin_t.safetensors" "$OUTDIR/cpu-input.npy" "$OUTDIR/cpu-ours"
  fi
  "$JAVA" -cp "$HERE/lib/ort-bench.jar" org.sparsevit.bench.ort.OrtBench "$OUTDIR/swin_t_224.onnx" 224x224 1 50 5 \
    "$OUTDIR/rows-cpu-ort.json" >> "$OUTDIR/cpu.log" 2>&1
  "$JAVA" -jar "$CP" bench --backend cpu --size 224x224 --batch 1 --sparsity "dense;uniform:0.6" --iters 50 --warmup 5 \
    --json "$OUTDIR/rows-cpu.json" >> "$OUTDIR/cpu.log" 2>&1
  rm -f "$OUTDIR/swin_t_224.onnx"
  python3 - "$OUTDIR" <<'PY' || true
import json, sys, os, glob
out = sys.argv[1]
rows = []
for f in sorted(glob.glob(os.path.join(out, "rows-*.json"))):
    rows += json.load(open(f))
json.dump(rows, open(os.path.join(out, "rows.json"), "w"), indent=1)
PY
fi
if [ "${SVJ_PEERS:-0}" = 1 ] && [ -f "$HERE/timm_peers.py" ]; then
  python3 "$HERE/timm_peers.py" --out "$OUTDIR/peers.json" > "$OUTDIR/peers.log" 2>&1 || true
fi
python3 - "$OUTDIR" "$DATE" "${GPU:-}" "${DRIVER:-}" "${CUDA:-}" "${PASSED:-0}" "${FAILED:-0}" "${SKIPPED:-0}" "$(cat "$HERE/COMMIT")" <<'PY'
import json, sys, os
out, date, gpu, driver, cuda, p, f, s, commit = sys.argv[1:10]
rows = json.load(open(os.path.join(out, "rows.json")))
peers = os.path.join(out, "peers.json")
res = {"date": date, "device": gpu, "driver": driver, "cuda": cuda, "commit": commit,
       "tests_passed": int(p or 0), "tests_failed": int(f or 0), "tests_skipped": int(s or 0),
       "rows": rows, "peers": json.load(open(peers)) if os.path.exists(peers) else []}
json.dump(res, open(os.path.join(out, "results.json"), "w"), indent=1)
print("[bundle] wrote", os.path.join(out, "results.json"), "tests passed/failed/skipped:", p, f, s, "rows:", len(rows))
PY
