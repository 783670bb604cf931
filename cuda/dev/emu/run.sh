#!/usr/bin/env bash
# Checks the CUDA kernels without a GPU: cuda/*.cu -> host C++ (transform.py) -> run on the fiber
# emulator (emu.h) against host references (test.cpp). Needs g++, python3 and the CUDA headers. ~1 minute.
#   usage: cuda/dev/emu/run.sh [build dir]      (prints ALL OK, or the failing cases and exits 1)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../../.." && pwd)
B=${1:-${TMPDIR:-/tmp}/svj-emu}
CUDA_INC=${CUDA_HOME:-/usr/local/cuda}/include
rm -rf "$B" && mkdir -p "$B/gen"
python3 "$HERE/transform.py" "$ROOT/cuda" "$B/gen" > /dev/null
# only the error helpers of runtime.cu: the device/memory/stream wrappers need the real runtime
python3 - "$B/gen/runtime.cpp" <<'P'
import sys
p = sys.argv[1]
s = open(p).read()
open(p, 'w').write(s[:s.index('// ------------------------------------------------------------------ devices')] + '}\n')
P
CXX="g++ -std=c++17 -O1 -g -w -I$HERE -I$ROOT/cuda -I$ROOT/native/include -I$CUDA_INC"
for f in "$B"/gen/*.cpp; do $CXX -c "$f" -o "${f%.cpp}.o" & done
$CXX -c "$HERE/emu.cpp" -o "$B/emu.o" &
$CXX -c "$HERE/test.cpp" -o "$B/test.o" &
wait
g++ -o "$B/emutest" "$B/test.o" "$B/emu.o" "$B"/gen/*.o
"$B/emutest"
