#!/usr/bin/env bash
# Runs the `cuda` feature's binaries HERE, without a GPU, against a fake driver: a libcuda.so.1
# whose "device" runs kernels/*.cu on the CPU emulator of tests/emulator, and a libcublas.so.12
# that computes SGEMM by its column-major definition (tests/fake-driver/). This checks the
# host code end to end — context, module loading from the embedded PTX, buffer sizes, argument
# order, launch configurations, NaN poisoning, copies back, the cuBLAS transpose trick, the
# reports — before a GPU session spends its time. Timings printed here mean nothing.
#
# Usage (from anywhere): 08_cuda/fake-gpu-run.sh   (runs gpu-build.sh first: cargo rebuilds
# only what changed, so the binaries are never stale)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
cd "$root"
if ! command -v nvcc >/dev/null; then
  eval "$("$root/../shared/cuda-rig/setup.sh")"
fi
carry=$root/target/cuda/carry
bash "$here/gpu-build.sh" >/dev/null

fake=$root/target/cuda/fake-driver
mkdir -p "$fake"
src=$here/tests/fake-driver
# Every driver symbol cust binds must exist: the ones fake_cuda.cpp implements, and for the
# rest a stub that says it was called and answers CUDA_ERROR_NOT_SUPPORTED (801).
grep -ohE '^CUresult cu[A-Za-z0-9_]+' "$src/fake_cuda.cpp" | sed 's/CUresult //' | sort -u >"$fake/implemented"
for f in "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/cust_raw-*/src/*.rs; do
  { grep -ohE "pub fn cu[A-Za-z0-9_]+" "$f" || true; } | sed 's/pub fn //'
done | sort -u | comm -23 - "$fake/implemented" |
  awk '{print "int " $1 "(void) { fputs(\"fake cuda: " $1 " is not implemented\\n\", stderr); return 801; }"}' |
  { echo '#include <stdio.h>'; cat; } >"$fake/unimplemented.c"
cc -c -fPIC -O1 -o "$fake/unimplemented.o" "$fake/unimplemented.c"
c++ -std=c++20 -O2 -w -shared -fPIC -Wl,-soname,libcuda.so.1 -o "$fake/libcuda.so.1" \
  "$src/fake_cuda.cpp" "$fake/unimplemented.o"
c++ -std=c++17 -O2 -shared -fPIC -Wl,-soname,libcublas.so.12 -o "$fake/libcublas.so.12" \
  "$src/fake_cublas.cpp"

export LD_LIBRARY_PATH=$fake
export MATMUL_CUBLAS=$fake/libcublas.so.12
export MATMUL_CUDA_REQUIRE_GPU=1
status=0
echo "## tests (feature cuda) on the fake driver"
"$carry/test-matmul_cuda" --test-threads=1 -q || status=1
# The full-size validation test is for a real GPU (50000 x 784 on an emulator takes hours).
"$carry/test-gpu" --test-threads=1 gpu_stages || status=1
"$carry/test-gpu" --test-threads=1 floors_ || status=1
echo "## gpu-check --quick on the fake driver"
"$carry/gpu-check" --quick "$@" || status=1
exit $status
