#!/usr/bin/env bash
# Compiles cuda/*.cu with nvcc into a static library of position-independent code, which the JavaCPP
# build links (with the static CUDA runtime) into the JNI library. Called by the Maven "cuda" profile.
# An object is rebuilt only when its source, a shared header or the compiler flags changed; objects of
# deleted sources are dropped. Any compiler error fails the build (non-zero exit).
#   usage: native/build-kernels.sh <repo root> <output dir>
#   env:   SVJ_CUDA_ARCHS (nvcc -gencode flags), SVJ_NVCC_JOBS (parallel files, default: cores),
#          SVJ_NVCC_THREADS (nvcc --threads per file, default 2), NVCC (compiler path),
#          SVJ_NVCC_EXTRA (more nvcc flags, e.g. -lineinfo for Nsight Compute's source view)
# The device code is compressed in the fat binary (-Xfatbin -compress-all) and carries no line tables: with
# -lineinfo and uncompressed, the LayerNorm file alone was 23 MB (66 kernels x 5 targets), 1.6 MB without;
# the library travels in the jar and in the offline bundle, whose carry to a GPU machine is capped at 64 MiB.
set -euo pipefail
ROOT=$1
OUT=$2
NVCC=${NVCC:-$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)}
ARCHS=${SVJ_CUDA_ARCHS:-"-gencode arch=compute_80,code=sm_80 -gencode arch=compute_86,code=sm_86 -gencode arch=compute_89,code=sm_89 -gencode arch=compute_90,code=sm_90 -gencode arch=compute_90,code=compute_90"}
JOBS=${SVJ_NVCC_JOBS:-$(nproc 2>/dev/null || echo 2)}
THREADS=${SVJ_NVCC_THREADS:-2}
FLAGS="-std=c++17 -O3 --compress-mode=size -Xcompiler -fPIC -Xcompiler -fvisibility=hidden --threads $THREADS $ARCHS ${SVJ_NVCC_EXTRA:-}"
mkdir -p "$OUT/obj"

# a change of compiler or flags rebuilds everything
STAMP="$OUT/obj/flags.txt"
SIG="$("$NVCC" --version | tail -1) $FLAGS"
if [ ! -f "$STAMP" ] || [ "$(cat "$STAMP")" != "$SIG" ]; then
  rm -f "$OUT"/obj/*.o
  printf '%s' "$SIG" > "$STAMP"
fi

# drop objects whose source is gone
for obj in "$OUT"/obj/*.o; do
  [ -e "$obj" ] || continue
  [ -f "$ROOT/cuda/$(basename "$obj" .o).cu" ] || rm -f "$obj"
done

export NVCC FLAGS ROOT OUT
compile() {
  src=$1
  obj="$OUT/obj/$(basename "$src" .cu).o"
  if [ -f "$obj" ] && [ "$obj" -nt "$src" ] && [ "$obj" -nt "$ROOT/native/include/sparsevit_cuda.h" ]; then
    fresh=1
    for h in "$ROOT"/cuda/*.cuh; do
      [ "$obj" -nt "$h" ] || fresh=0
    done
    [ "$fresh" = 1 ] && exit 0
  fi
  echo "[cuda] nvcc $(basename "$src")"
  # shellcheck disable=SC2086
  "$NVCC" $FLAGS -I"$ROOT/native/include" -I"$ROOT/cuda" -c "$src" -o "$obj.tmp" && mv "$obj.tmp" "$obj"
}
export -f compile
# xargs exits non-zero (123) when any compile fails
ls "$ROOT"/cuda/*.cu | xargs -P "$JOBS" -I{} bash -c 'compile "$@"' _ {}

rm -f "$OUT/libsparsevit_kernels.a"
ar rcs "$OUT/libsparsevit_kernels.a" "$OUT"/obj/*.o
echo "[cuda] kernels built into $OUT/libsparsevit_kernels.a with $("$NVCC" --version | tail -1)"
