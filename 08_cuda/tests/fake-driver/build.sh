#!/usr/bin/env bash
# Builds the fake driver into the directory given (created if needed):
#   libcuda.so.1          a driver whose one "device" runs kernels/*.cu on the CPU emulator
#                         (fake_cuda.cpp); every other driver symbol cust binds is a stub that
#                         says it was called and answers CUDA_ERROR_NOT_SUPPORTED (801);
#   libcublas.so.12       SGEMM by its column-major definition (fake_cublas.cpp);
#   no-device/libcuda.so.1  a driver with no device: every call answers CUDA_ERROR_NO_DEVICE.
# Needs a C and a C++20 compiler, and cust_raw's sources in the cargo registry (a `cuda` build
# has fetched them). Used by scripts/fake-gpu-run.sh and scripts/fake-gpu-bench.sh.
#
# Usage: 08_cuda/tests/fake-driver/build.sh OUT_DIR
set -euo pipefail
src=$(cd "$(dirname "$0")" && pwd)
out=${1:?usage: build.sh OUT_DIR}
mkdir -p "$out/no-device"

# Every driver function cust binds, by name.
for f in "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/cust_raw-*/src/*.rs; do
  { grep -ohE "pub fn cu[A-Za-z0-9_]+" "$f" || true; } | sed 's/pub fn //'
done | sort -u >"$out/symbols"
[ -s "$out/symbols" ] || { echo "fake driver: no cust_raw sources in the cargo registry" >&2; exit 1; }

grep -ohE '^CUresult cu[A-Za-z0-9_]+' "$src/fake_cuda.cpp" | sed 's/CUresult //' | sort -u >"$out/implemented"
comm -23 "$out/symbols" "$out/implemented" |
  awk '{print "int " $1 "(void) { fputs(\"fake cuda: " $1 " is not implemented\\n\", stderr); return 801; }"}' |
  { echo '#include <stdio.h>'; cat; } >"$out/unimplemented.c"
cc -c -fPIC -O1 -o "$out/unimplemented.o" "$out/unimplemented.c"
"$src/../emulator/kernel_list.sh" >"$out/kernel_list.hpp"
c++ -std=c++20 -O2 -w -shared -fPIC -Wl,-soname,libcuda.so.1 -I "$out" -o "$out/libcuda.so.1" \
  "$src/fake_cuda.cpp" "$out/unimplemented.o"
c++ -std=c++17 -O2 -shared -fPIC -Wl,-soname,libcublas.so.12 -o "$out/libcublas.so.12" \
  "$src/fake_cublas.cpp"

awk '{print "int " $1 "(void) { return 100; }"}' "$out/symbols" >"$out/no-device/no_device.c" # CUDA_ERROR_NO_DEVICE
cc -shared -fPIC -O1 -Wl,-soname,libcuda.so.1 -o "$out/no-device/libcuda.so.1" "$out/no-device/no_device.c"
