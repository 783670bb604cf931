#!/usr/bin/env bash
# Compiles cuda/*.cu with nvcc into a static library of position-independent code, which the JavaCPP
# build links (with the static CUDA runtime) into the JNI library. Called by the Maven "cuda" profile;
# rebuilds only objects older than their sources. Any compiler error fails the build.
#   usage: native/build-kernels.sh <repo root> <output dir>
set -euo pipefail
ROOT=$1
OUT=$2
NVCC=${NVCC:-$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)}
ARCHS=${SVJ_CUDA_ARCHS:-"-gencode arch=compute_80,code=sm_80 -gencode arch=compute_86,code=sm_86 -gencode arch=compute_89,code=sm_89 -gencode arch=compute_90,code=sm_90 -gencode arch=compute_90,code=compute_90"}
JOBS=${SVJ_NVCC_JOBS:-$(nproc 2>/dev/null || echo 2)}
mkdir -p "$OUT/obj"
export NVCC ARCHS ROOT OUT
compile() {
  src=$1
  obj="$OUT/obj/$(basename "$src" .cu).o"
  if [ -f "$obj" ] && [ "$obj" -nt "$src" ] && [ "$obj" -nt "$ROOT/cuda/common.cuh" ] \
     && [ "$obj" -nt "$ROOT/native/include/sparsevit_cuda.h" ]; then
    exit 0
  fi
  # shellcheck disable=SC2086
  "$NVCC" -std=c++17 -O3 -lineinfo -Xcompiler -fPIC -I"$ROOT/native/include" -I"$ROOT/cuda" $ARCHS \
    -c "$src" -o "$obj.tmp" && mv "$obj.tmp" "$obj"
}
export -f compile
ls "$ROOT"/cuda/*.cu | xargs -P "$JOBS" -I{} bash -c 'compile "$@"' _ {}
rm -f "$OUT/libsparsevit_kernels.a"
ar rcs "$OUT/libsparsevit_kernels.a" "$OUT"/obj/*.o
echo "[cuda] kernels built into $OUT/libsparsevit_kernels.a with $("$NVCC" --version | tail -1)"
