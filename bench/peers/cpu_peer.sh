#!/usr/bin/env bash
# The CPU peer in one command: ONNX Runtime's Java API beside our CPU backend on the same dense Swin-T
# (same weights), after checking that both compute the same logits.
#   usage: bench/peers/cpu_peer.sh OUTDIR      (after ./mvnw -B -ntp -P '!cuda' -DskipTests package)
# Needs: java 17+, python3 (standard library only), the ONNX Runtime jar (taken from ~/.m2 or
# java/target/bundle-deps; fetched with Maven when neither has it).
# Environment: ITERS (100), WARMUP (10), REPEATS (2: the whole set of runs, interleaved; 0: the correctness
#   check only, seconds), SIZE (224x224),
#   ARCH (swin-t), THREADS ("1 2": intra-op threads of ONNX Runtime and Java threads of our backend).
# Writes OUTDIR/rows.json (our bench JSON layout, plus "threads" and "repeat"; our rows carry the per-op
# breakdown), OUTDIR/check.txt, OUTDIR/ort_ops.json (ONNX Runtime's time per op type, from its profiler),
# OUTDIR/machine.json and OUTDIR/summary.md; the ONNX model and weights are deleted at the end.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
OUT=${1:?usage: cpu_peer.sh OUTDIR}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
ITERS=${ITERS:-100}
WARMUP=${WARMUP:-10}
REPEATS=${REPEATS:-2}
SIZE=${SIZE:-224x224}
ARCH=${ARCH:-swin-t}
THREADS=${THREADS:-"1 2"}
JAVA=${JAVA:-java}
JAR=${SVJ_JAR:-$ROOT/java/target/sparsevit.jar}
ORT_VERSION=1.22.0
[ -f "$JAR" ] || { echo "error: $JAR is missing; build it first: ./mvnw -B -ntp -P '!cuda' -DskipTests package" >&2; exit 1; }
command -v python3 >/dev/null || { echo "error: python3 is not on the PATH" >&2; exit 1; }

ORT_JAR=""
for j in "$ROOT/java/target/bundle-deps/onnxruntime-$ORT_VERSION.jar" \
         "$HOME/.m2/repository/com/microsoft/onnxruntime/onnxruntime/$ORT_VERSION/onnxruntime-$ORT_VERSION.jar"; do
  if [ -z "$ORT_JAR" ] && [ -f "$j" ]; then ORT_JAR=$j; fi
done
if [ -z "$ORT_JAR" ]; then
  (cd "$ROOT" && ./mvnw -B -ntp -q dependency:copy -Dartifact=com.microsoft.onnxruntime:onnxruntime:$ORT_VERSION \
     -DoutputDirectory="$OUT/deps")
  ORT_JAR="$OUT/deps/onnxruntime-$ORT_VERSION.jar"
fi
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
javac --release 17 -nowarn -cp "$ORT_JAR" -d "$WORK/classes" "$ROOT/bench/src/ort/java/org/sparsevit/bench/ort/OrtBench.java"
ORT_CP="$WORK/classes:$ORT_JAR"
B=1
W="$WORK/$ARCH.safetensors"
X="$WORK/input.npy"
M="$WORK/${ARCH}_$SIZE.onnx"

echo "[cpu-peer] weights, input and ONNX model ($ARCH, $SIZE, batch $B)"
"$JAVA" -jar "$JAR" demo --arch "$ARCH" --save-weights "$W" --save-input "$X" --input-size "$SIZE" --input-batch $B
python3 -B "$ROOT/bench/peers/swin_to_onnx.py" "$W" "$M" --size "$SIZE" --batch $B

echo "[cpu-peer] correctness: ONNX Runtime vs our CPU backend on the same weights and input"
"$JAVA" -jar "$JAR" run --weights "$W" --input "$X" --output "$WORK/ours" --backend cpu
"$JAVA" -cp "$ORT_CP" org.sparsevit.bench.ort.OrtBench check "$M" "$X" "$WORK/ours/logits.npy" 1e-4 | tee "$OUT/check.txt"

if [ "$REPEATS" = 0 ]; then
  echo "[cpu-peer] REPEATS=0: correctness check only, wrote $OUT/check.txt"
  exit 0
fi
GMACS=$("$JAVA" -jar "$JAR" macs --arch "$ARCH" --size "$SIZE" --batch $B | awk '/total GMACs/ {print $3}')
for r in $(seq 1 "$REPEATS"); do
  for t in $THREADS; do
    echo "[cpu-peer] repeat $r, $t thread(s): ONNX Runtime"
    "$JAVA" -cp "$ORT_CP" org.sparsevit.bench.ort.OrtBench "$M" "$SIZE" $B "$ITERS" "$WARMUP" "$WORK/ort-t$t-r$r.json" \
      "$t" "$GMACS" > "$OUT/ort-t$t-r$r.log" 2>&1
    echo "[cpu-peer] repeat $r, $t thread(s): sparsevit-j CPU backend"
    # our backend computes on the calling thread plus the common fork-join pool: parallelism t - 1
    "$JAVA" -Djava.util.concurrent.ForkJoinPool.common.parallelism=$((t - 1)) -jar "$JAR" bench --backend cpu \
      --arch "$ARCH" --weights "$W" --size "$SIZE" --batch $B --iters "$ITERS" --warmup "$WARMUP" \
      --json "$WORK/ours-t$t-r$r.json" > "$OUT/ours-t$t-r$r.log" 2>&1
  done
done

echo "[cpu-peer] ONNX Runtime per-op profile (1 thread, 20 passes; not used for the timings)"
SVJ_ORT_PROFILE="$WORK/ort-profile" "$JAVA" -cp "$ORT_CP" org.sparsevit.bench.ort.OrtBench "$M" "$SIZE" $B 20 3 \
  "$WORK/ort-profiled.json" 1 "$GMACS" > "$OUT/ort-profile.log" 2>&1
python3 -B - "$WORK" "$OUT/ort_ops.json" 23 <<'PY'
import glob, json, sys
work, out, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
trace = json.load(open(sorted(glob.glob(work + "/ort-profile_*.json"))[-1]))
ops = {}
for e in trace:
    if e.get("cat") == "Node" and e.get("name", "").endswith("_kernel_time"):
        op = e.get("args", {}).get("op_name", "?")
        ops[op] = ops.get(op, 0.0) + e["dur"] / 1000.0 / runs  # us -> ms per pass (warm-up passes included)
ops = dict(sorted(ops.items(), key=lambda kv: -kv[1]))
json.dump({"ms_per_pass": ops, "total_ms": sum(ops.values()), "threads": 1}, open(out, "w"), indent=1)
print("ONNX Runtime kernels, ms per pass (1 thread): " + ", ".join("%s %.1f" % kv for kv in list(ops.items())[:8]))
PY

JV=$("$JAVA" -version 2>&1 | head -1)
python3 -B - "$WORK" "$OUT" "$ORT_VERSION" "$JV" "$REPEATS" "$THREADS" <<'PY'
import glob, json, os, platform, re, sys
work, out, ort_version, java_version, repeats, threads = sys.argv[1:7]
rows = []
for r in range(1, int(repeats) + 1):
    for t in threads.split():
        for who in ("ort", "ours"):
            for row in json.load(open(os.path.join(work, "%s-t%s-r%d.json" % (who, t, r)))):
                row["threads"] = int(t)
                row["repeat"] = r
                found = re.search(r"CPU, (\d+) threads?\b", row["device"])
                if not found or int(found.group(1)) != int(t):
                    sys.exit("error: %s run for %s thread(s) reports device '%s'" % (who, t, row["device"]))
                rows.append(row)
json.dump(rows, open(os.path.join(out, "rows.json"), "w"), indent=1)
cpu = ""
with open("/proc/cpuinfo") as f:
    for line in f:
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
flags = open("/proc/cpuinfo").read()
machine = {"cpu": cpu, "cores": os.cpu_count(), "avx2": " avx2" in flags, "avx512f": " avx512f" in flags,
           "kernel": platform.release(), "java": java_version, "onnxruntime": ort_version,
           "python": platform.python_version(), "load_avg_after": os.getloadavg()}
json.dump(machine, open(os.path.join(out, "machine.json"), "w"), indent=1)
lines = ["| backend | threads | repeat | p50 ms | p90 ms | p99 ms | images/s |", "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
for row in rows:
    lines.append("| %s | %d | %d | %.2f | %.2f | %.2f | %.2f |" % (row["backend"], row["threads"], row["repeat"],
                 row["p50_ms"], row["p90_ms"], row["p99_ms"], row["images_per_s"]))
best = {}
for row in rows:
    key = row["backend"]
    best[key] = min(best.get(key, 1e30), row["p50_ms"])
lines.append("")
for t in threads.split():
    ours = min(r["p50_ms"] for r in rows if r["backend"] == "cpu" and r["threads"] == int(t))
    ort = min(r["p50_ms"] for r in rows if r["backend"] == "onnxruntime-cpu" and r["threads"] == int(t))
    lines.append("%s thread(s): ours %.2f ms, ONNX Runtime %.2f ms: ours / ORT = %.2f" % (t, ours, ort, ours / ort))
lines.append("each at its best: ours %.2f ms, ONNX Runtime %.2f ms: ours / ORT = %.2f"
             % (best["cpu"], best["onnxruntime-cpu"], best["cpu"] / best["onnxruntime-cpu"]))
text = "\n".join(lines) + "\n"
open(os.path.join(out, "summary.md"), "w").write(text)
print(text, end="")
PY
echo "[cpu-peer] wrote $OUT/rows.json, $OUT/check.txt, $OUT/machine.json, $OUT/summary.md"
