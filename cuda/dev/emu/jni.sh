#!/usr/bin/env bash
# Runs the Java CUDA backend end to end without a GPU: builds an emulated "device" (the kernels of cuda/*.cu
# through transform.py, the fiber emulator, rt.cpp's runtime, fakeblas.cpp's cuBLAS and cuBLASLt) as shared
# libraries, links the same JavaCPP binding (CudaNative) against it instead of the nvcc build, and runs the
# gpu-tagged JUnit tests on it. Needs g++, python3, the CUDA headers and libcudart.so.13 (the toolkit), a
# built tree (./mvnw install -DskipTests) and Java. What it checks that the kernel emulator (run.sh) cannot:
# the Java host code (CudaBackend, LtGemm, the workspace arena, graph capture and replay, sessions) as it
# calls the runtime and cuBLAS, with the runtime's rules enforced (see rt.cpp and fakeblas.cpp).
# The Maven build (cuda profile) runs the build part and then the gpu tests on it in its own surefire
# execution (emulated-device); this script is for running them by hand.
#   usage: cuda/dev/emu/jni.sh [--build-only] [build dir, default java/target/emu-device]
#                              [JUnit tag expression, default (gpu|emulated)&!timing] [-- Maven args]
#   env:   SVJ_EMU_TESTS (surefire -Dtest pattern), MVN (default ./mvnw), JAVACPP_JAR
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../../.." && pwd)
BUILD_ONLY=0
[ "${1:-}" = "--build-only" ] && BUILD_ONLY=1 && shift
POS=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do POS+=("$1"); shift; done
[ "${1:-}" = "--" ] && shift
B=${POS[0]:-$ROOT/java/target/emu-device}
GROUPS_EXPR=${POS[1]:-(gpu|emulated)&!timing}
CUDA=${CUDA_HOME:-/usr/local/cuda}
CLASSES="$ROOT/java/target/classes"
[ -f "$CLASSES/org/sparsevit/backend/cuda/CudaNative.class" ] || {
  echo "error: $CLASSES has no CudaNative.class: build first (./mvnw -B -ntp install -DskipTests)" >&2
  exit 1
}
JAVACPP=${JAVACPP_JAR:-$HOME/.m2/repository/org/bytedeco/javacpp/1.5.13/javacpp-1.5.13.jar}
[ -f "$JAVACPP" ] || { echo "error: javacpp-1.5.13.jar is not in the local Maven repository: build first" >&2; exit 1; }
CUDART_DIR=""
for d in "$CUDA/lib64" "$CUDA/targets/x86_64-linux/lib"; do
  [ -e "$d/libcudart.so.13" ] && CUDART_DIR=$d && break
done
[ -n "$CUDART_DIR" ] || { echo "error: libcudart.so.13 not found under $CUDA" >&2; exit 1; }

# the build directory is replaced: only one this script made (its marker file), or a new one
if [ -e "$B" ] && [ ! -f "$B/.svj-emulated-device" ]; then
  echo "error: $B exists and is not an emulated-device build of this script: not replacing it" >&2
  exit 1
fi
rm -rf "$B" && mkdir -p "$B/gen" "$B/obj" && touch "$B/.svj-emulated-device"
python3 "$HERE/transform.py" "$ROOT/cuda" "$B/gen" > /dev/null
# an H200's shared-memory opt-in limit (the kernel tests of run.sh default to sm_86's)
CXX="g++ -std=c++17 -O2 -g -w -fPIC -DEMU_SMEM_OPTIN=232448 -I$HERE -I$ROOT/cuda -I$ROOT/native/include -I$CUDA/include"
pids=()
for f in "$B"/gen/*.cpp "$HERE/emu.cpp" "$HERE/rt.cpp"; do
  $CXX -c "$f" -o "$B/obj/$(basename "${f%.cpp}").o" & pids+=($!)
done
for p in "${pids[@]}"; do wait "$p"; done
# the emulated device, under the name CudaNative links (its @Platform link list)
# -Bsymbolic-functions: its own cuda* functions bind to themselves, whatever else is loaded (a real libcudart)
g++ -shared -o "$B/libsparsevit_kernels.so" -Wl,-soname,libsparsevit_kernels.so -Wl,-Bsymbolic-functions \
  "$B"/obj/*.o -lpthread
ar rcs "$B/libcudart_static.a"   # empty: the emulated runtime is in libsparsevit_kernels.so
# cuBLAS and cuBLASLt under their sonames and symbol versions, as the presets' JNI library needs them
for lib in cublas cublasLt; do
  def=$([ $lib = cublas ] && echo FAKE_CUBLAS || echo FAKE_CUBLASLT)
  printf 'lib%s.so.13 { global: %s*; local: *; };\n' $lib $lib > "$B/$lib.map"
  $CXX -D$def -shared -o "$B/lib$lib.so.13" -Wl,-soname,lib$lib.so.13 -Wl,--version-script="$B/$lib.map" \
    "$HERE/fakeblas.cpp" -L"$B" -lsparsevit_kernels
done
# the presets' cudart JNI library needs a libcuda.so.1 to load (it is never called)
echo 'void svj_emu_no_driver(void) {}' > "$B/cuda_stub.c"
gcc -shared -fPIC -o "$B/libcuda.so.1" -Wl,-soname,libcuda.so.1 "$B/cuda_stub.c"
# the binding, generated and compiled by JavaCPP as the Maven build does, linked against the above
"${JAVA_HOME:+$JAVA_HOME/bin/}java" -cp "$JAVACPP" org.bytedeco.javacpp.tools.Builder -cp "$CLASSES" -d "$B" \
  -Dplatform.includepath="$ROOT/native/include:$CUDA/include" -Dplatform.linkpath="$B" \
  org.sparsevit.backend.cuda.CudaNative > "$B/javacpp.log" 2>&1 || { cat "$B/javacpp.log" >&2; exit 1; }
echo "[emu] emulated device built in $B"
[ $BUILD_ONLY = 1 ] && exit 0

cd "$ROOT"
export LD_LIBRARY_PATH="$B:$CUDART_DIR${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
${MVN:-./mvnw} -B -ntp -P '!cuda' -pl java surefire:test -Dgroups="$GROUPS_EXPR" -Dsurefire.excludedGroups= \
  ${SVJ_EMU_TESTS:+-Dtest="$SVJ_EMU_TESTS" -Dsurefire.failIfNoSpecifiedTests=false} \
  -Dsurefire.extraArgLine="-Dorg.bytedeco.javacpp.pathsFirst=true -Djava.library.path=$B -Dsparsevit.emulatedDevice=true" \
  "$@"
