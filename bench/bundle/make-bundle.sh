#!/usr/bin/env bash
# Builds the offline GPU bundle: a jlink runtime, the jars, the native libraries (inside the jar) and
# run-gpu.sh, as bundle/sparsevit-bundle/ and bundle/sparsevit-bundle.tar.gz (at most 60 MB). The CPU peer
# (ONNX Runtime, stage "cpu" of run-gpu.sh) is in the folder but travels apart, as
# bundle/sparsevit-bundle-cpu-peer.tar.gz (unpacks over the folder): without it the main tarball leaves room in
# one device call's 64 MiB for the bundle and the sparsevit-reference fixtures together.
#   usage: bench/bundle/make-bundle.sh <repo root>      (after ./mvnw -Pbundle -DskipTests package)
set -euo pipefail
ROOT=$(cd "$1" && pwd)
OUT="$ROOT/bundle/sparsevit-bundle"
rm -rf "$OUT" "$ROOT/bundle/sparsevit-bundle.tar.gz" "$ROOT/bundle/sparsevit-bundle-cpu-peer.tar.gz"
mkdir -p "$OUT/lib"
# A Temurin JDK links a self-contained runtime that runs on old glibc; otherwise use the build JDK.
JLINK=""
for j in /usr/lib/jvm/temurin-*/bin/jlink "${JAVA_HOME:-/nonexistent}/bin/jlink" "$(command -v jlink || true)"; do
  if [ -x "$j" ]; then JLINK=$j; break; fi
done
[ -n "$JLINK" ] || { echo "error: no jlink found (install a JDK 17+)" >&2; exit 1; }
COMPRESS=zip-9
"$JLINK" --version | grep -q '^1[0-9]\.' && COMPRESS=2
# no java.sql/java.xml: nothing here needs them (Jackson and picocli probe for java.sql and do without it), and
# they are 4 MB of the 64 MiB the device tool can carry
"$JLINK" --add-modules java.base,java.logging,java.management,jdk.unsupported,jdk.crypto.ec \
  --strip-debug --no-man-pages --no-header-files --compress=$COMPRESS --output "$OUT/runtime"
# symbol tables of the JVM's native libraries (5 MB; only crash reports would name fewer frames)
if command -v strip >/dev/null; then
  find "$OUT/runtime" -name '*.so' -exec strip --strip-unneeded {} + 2>/dev/null || true
fi
# the shaded jar (with its dependencies), not the plain one that exists before the shade step has run
unzip -l "$ROOT/java/target/sparsevit.jar" org/bytedeco/javacpp/Loader.class > /dev/null 2>&1 || {
  echo "error: $ROOT/java/target/sparsevit.jar is not the shaded jar (no JavaCPP inside): did shade run first?" >&2
  exit 1; }
cp "$ROOT/java/target/sparsevit.jar" "$OUT/lib/"
# the shade step leaves out the CUDA presets' classes of libraries we do not call (java/pom.xml): nothing kept may
# refer to one of them (a NoClassDefFoundError would show only on the GPU machine)
JDEPS=$(dirname "$JLINK")/jdeps
if [ -x "$JDEPS" ]; then
  MISSING=$("$JDEPS" --multi-release 17 --missing-deps "$ROOT/java/target/sparsevit.jar" 2>&1 | grep -E 'org\.bytedeco\.cuda|org\.sparsevit' || true)
  if [ -n "$MISSING" ]; then
    echo "error: classes in the shaded jar refer to classes it lacks (java/pom.xml's shade filters):" >&2
    echo "$MISSING" | head -20 >&2
    exit 1
  fi
else
  echo "[bundle] warning: no jdeps beside $JLINK: the shaded jar's class references are not checked"
fi
cp "$ROOT/java/target/sparsevit-tests.jar" "$OUT/lib/"
cp "$ROOT"/java/target/bundle-deps/junit-platform-console-standalone-*.jar "$OUT/lib/junit-console.jar"
# the ONNX Runtime CPU peer: its classes and linux-x64 natives only, plus our small timing driver (the ONNX
# model is made on the target: export_onnx.py with torch + timm, else swin_to_onnx.py, copied below with *.py)
ORT=$(ls "$ROOT"/java/target/bundle-deps/onnxruntime-*.jar 2>/dev/null | head -1 || true)
if [ -n "$ORT" ]; then
  JDK_BIN=$(dirname "$(readlink -f "$(command -v javac)")")
  T=$(mktemp -d)
  (cd "$T" && unzip -q "$ORT" 'ai/*' -x 'ai/onnxruntime/native/linux-aarch64/*' 'ai/onnxruntime/native/osx-*' \
      'ai/onnxruntime/native/win-*')
  "$JDK_BIN/javac" --release 17 -nowarn -cp "$ORT" -d "$T" "$ROOT"/bench/src/ort/java/org/sparsevit/bench/ort/OrtBench.java
  "$JDK_BIN/jar" cf "$OUT/lib/ort-bench.jar" -C "$T" .
  rm -rf "$T"
fi
cp "$ROOT/bench/bundle/run-gpu.sh" "$ROOT/bench/bundle/results.py" "$OUT/"
# the test classes to run (the console launcher does not discover classes inside jars reliably)
unzip -Z1 "$OUT/lib/sparsevit-tests.jar" | grep -E 'Test\.class$' | sed 's#/#.#g; s#\.class$##' > "$OUT/tests.txt"
cp "$ROOT/bench/peers/"*.py "$OUT/" 2>/dev/null || true
chmod +x "$OUT/run-gpu.sh"
git -C "$ROOT" rev-parse HEAD > "$OUT/COMMIT" 2>/dev/null || echo unknown > "$OUT/COMMIT"
PEER_FILES=(lib/ort-bench.jar export_onnx.py swin_to_onnx.py)
EXCLUDES=()
PEER=()
for f in "${PEER_FILES[@]}"; do
  if [ -e "$OUT/$f" ]; then EXCLUDES+=(--exclude="sparsevit-bundle/$f"); PEER+=("sparsevit-bundle/$f"); fi
done
tar -C "$ROOT/bundle" -czf "$ROOT/bundle/sparsevit-bundle.tar.gz" "${EXCLUDES[@]}" sparsevit-bundle
if [ ${#PEER[@]} -gt 0 ]; then
  tar -C "$ROOT/bundle" -czf "$ROOT/bundle/sparsevit-bundle-cpu-peer.tar.gz" "${PEER[@]}"
  echo "[bundle] $ROOT/bundle/sparsevit-bundle-cpu-peer.tar.gz: $(stat -c %s "$ROOT/bundle/sparsevit-bundle-cpu-peer.tar.gz")" \
    "bytes (the CPU peer: tar xzf it in the folder above sparsevit-bundle/)"
fi
SIZE=$(stat -c %s "$ROOT/bundle/sparsevit-bundle.tar.gz")
FOLDER=$(tar -tvzf "$ROOT/bundle/sparsevit-bundle.tar.gz" | awk '{s += $3} END {print s}')
echo "[bundle] $ROOT/bundle/sparsevit-bundle.tar.gz: $SIZE bytes ($((SIZE / 1048576)) MiB); unpacked $FOLDER bytes" \
  "($((FOLDER / 1048576)) MiB) (runtime from $JLINK)"
# the first device call carries the tarball, the sparsevit-reference fixtures and the tracked tree (64 MiB at most)
FIX_SV=$(du -sb "$ROOT/../shared/fixtures/sparsevit-reference" 2>/dev/null | cut -f1 || true)
TREE=$(git -C "$ROOT" ls-files -z 2>/dev/null | (cd "$ROOT" && du -cb --files0-from=- 2>/dev/null) | tail -1 | cut -f1 || true)
if [ -n "$FIX_SV" ] && [ -n "$TREE" ]; then
  CALL1=$((SIZE + FIX_SV + TREE))
  echo "[bundle] device call 1 (tarball + sparsevit-reference $((FIX_SV / 1048576)) MiB + tracked tree $((TREE / 1048576))" \
    "MiB): $((CALL1 / 1048576)) MiB of the 64 MiB a call carries (bench/bundle/README.md)"
  if [ "$CALL1" -gt $((63 * 1048576)) ]; then
    echo "[bundle] warning: call 1 no longer fits with a margin: carry sparsevit-reference in call 2 as well"
  fi
fi
if [ "$SIZE" -gt $((60 * 1048576)) ]; then
  echo "error: the bundle exceeds 60 MB" >&2
  exit 1
fi
