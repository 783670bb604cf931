#!/usr/bin/env bash
# Checks the CUDA kernels without a GPU: cuda/*.cu -> host C++ (transform.py) -> run on the fiber
# emulator (emu.h) against host references (test.cpp), under UBSan. Needs g++, python3 and the CUDA headers.
# Runs the tests three times, with blocks and threads in forward, reverse and random order. ~1 minute.
#   usage: cuda/dev/emu/run.sh [build dir]      (prints ALL OK, or the failing cases and exits 1)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../../.." && pwd)
B=${1:-${TMPDIR:-/tmp}/svj-emu}
CUDA_INC=${CUDA_HOME:-/usr/local/cuda}/include
rm -rf "$B" && mkdir -p "$B/gen"
python3 "$HERE/transform.py" "$ROOT/cuda" "$B/gen" > /dev/null
# UndefinedBehaviorSanitizer: signed overflow in index arithmetic, misaligned pointers, out-of-bounds indexing of
# fixed-size arrays and the like stop the run
UBSAN="-fsanitize=undefined -fno-sanitize-recover=undefined"
CXX="g++ -std=c++17 -O1 -g -w $UBSAN -I$HERE -I$ROOT/cuda -I$ROOT/native/include -I$CUDA_INC"
pids=()
for f in "$B"/gen/*.cpp; do $CXX -c "$f" -o "${f%.cpp}.o" & pids+=($!); done
for f in emu rt test; do $CXX -c "$HERE/$f.cpp" -o "$B/$f.o" & pids+=($!); done
# the fake cuBLASLt too (test.cpp checks its alignment rule)
$CXX -DFAKE_CUBLASLT -c "$HERE/fakeblas.cpp" -o "$B/fakeblaslt.o" & pids+=($!)
for p in "${pids[@]}"; do wait "$p"; done   # a failed compile fails the script
g++ $UBSAN -o "$B/emutest" "$B/test.o" "$B/emu.o" "$B/rt.o" "$B/fakeblaslt.o" "$B"/gen/*.o -lpthread
# three orders of blocks and threads (emu.cpp, SVJ_EMU_SCHEDULE): a GPU promises none, so a kernel that reads
# another thread's or block's writes without a barrier fails in at least one of them
for order in forward reverse random:1; do
  echo "[emu] SVJ_EMU_SCHEDULE=$order"
  SVJ_EMU_SCHEDULE=$order "$B/emutest"
done
