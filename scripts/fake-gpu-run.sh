#!/usr/bin/env bash
# Development: runs the `cuda` feature's test binaries HERE, without a GPU, against a fake
# driver: a libcuda.so.1 whose "device" runs 08_cuda/kernels/*.cu on the CPU emulator of
# 08_cuda/tests/emulator, and a libcublas.so.12 that computes SGEMM by its column-major
# definition (08_cuda/tests/fake-driver/). This checks the
# host code end to end — context, module loading from the embedded PTX, buffer sizes, argument
# order, launch configurations, NaN poisoning, copies back, the cuBLAS transpose trick, the
# reports — before a GPU session spends its time. Timings printed here mean nothing.
#
# Usage (from anywhere): scripts/fake-gpu-run.sh   (runs gpu-build.sh first: cargo rebuilds
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
"$root/08_cuda/tests/fake-driver/build.sh" "$fake"

export LD_LIBRARY_PATH=$fake
export MATMUL_CUBLAS=$fake/libcublas.so.12
export MATMUL_CUDA_REQUIRE_GPU=1
status=0
echo "## tests (feature cuda) on the fake driver"
"$carry/test-matmul_cuda" --test-threads=1 -q || status=1
# The full-size validation test is for a real GPU (50000 x 784 on an emulator takes hours).
"$carry/test-gpu" --test-threads=1 gpu_stages || status=1
"$carry/test-gpu" --test-threads=1 every_kernel || status=1
"$carry/test-gpu" --test-threads=1 floors_ || status=1
"$carry/test-listing" || status=1
# With a driver but no device: the GPU stages are still listed, and running one says why not.
env -u MATMUL_CUDA_REQUIRE_GPU LD_LIBRARY_PATH=$fake/no-device "$carry/test-gpu" --test-threads=1 every_kernel || status=1
exit $status
