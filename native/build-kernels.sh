#!/usr/bin/env bash
# Compiles cuda/*.cu with nvcc into a static library of position-independent code, which the JavaCPP
# build links (with the static CUDA runtime) into the JNI library. Called by the Maven "cuda" profile.
# An object is rebuilt only when its source, a shared header or the compiler flags changed; objects of
# deleted sources are dropped. Any compiler error fails the build (non-zero exit).
#   usage: native/build-kernels.sh <repo root> <output dir>
#   env:   SVJ_CUDA_ARCHS (nvcc -gencode flags), SVJ_NVCC_JOBS (parallel files, default: cores),
#          SVJ_NVCC_THREADS (nvcc --threads per file, default 2), NVCC (compiler path),
#          SVJ_NVCC_EXTRA (more nvcc flags, e.g. -lineinfo for Nsight Compute's source view),
#          SVJ_KERNELS_MAX_MB (the largest library the build accepts, default 8)
# The device code is compressed in the fat binary (--compress-mode=size; loading it needs driver 580+, which the
# CUDA 13 runtime needs anyway) and carries no line tables: with -lineinfo and uncompressed, the LayerNorm file
# alone was 23 MB (72 kernels x 5 targets), 1.2 MB without. The library travels in the jar and in the offline
# bundle, whose carry to a GPU machine is capped at 64 MiB; the check at the end keeps it small.
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
# The device code travels in the jar and in the offline bundle, whose first device call may carry 64 MiB in all
# (bench/bundle/README.md): a library that grows past the limit below (uncompressed device code, line tables,
# template instances multiplied by five targets) fails the build here rather than on the GPU machine.
# SVJ_KERNELS_MAX_MB raises the limit for local builds (e.g. with SVJ_NVCC_EXTRA=-lineinfo).
MAX_MB=${SVJ_KERNELS_MAX_MB:-8}
LIB_BYTES=$(stat -c %s "$OUT/libsparsevit_kernels.a")
if [ "$LIB_BYTES" -gt $((MAX_MB * 1048576)) ]; then
  echo "error: the kernel library is $((LIB_BYTES / 1048576)) MiB, over the $MAX_MB MiB limit (SVJ_KERNELS_MAX_MB):" \
    "the offline bundle must fit a device call; see the compression and template notes in native/build-kernels.sh" >&2
  exit 1
fi
