#!/usr/bin/env bash
# Development: runs on a GPU machine without Rust (CUDA driver, PyTorch): the tests and
# `xtask bench --cuda --python` from the binaries scripts/gpu-build.sh put in
# target/cuda/carry/. From the repository root:
#   bash scripts/gpu-run.sh [more bench options, e.g. --quick]
# Exits non-zero if any test or validation fails. Prints the table last.
set -uo pipefail
cd "$(dirname "$0")/.."
bin=target/cuda/carry
if [[ ! -x $bin/xtask ]]; then
  echo "gpu-run: $bin/xtask missing: run scripts/gpu-build.sh and carry target/cuda/carry" >&2
  exit 2
fi

nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,clocks.max.memory \
  --format=csv || true
# FP32 means FP32: no TF32 tensor cores behind cuBLAS's back.
export NVIDIA_TF32_OVERRIDE=0
# Here a missing device is a failure, not a skip (a PTX the driver rejects looks like one).
export MATMUL_CUDA_REQUIRE_GPU=1

# cuBLAS: the system's if the loader knows it, else the one PyTorch ships (a pip wheel).
if [[ -z ${MATMUL_CUBLAS:-} ]] && ! ldconfig -p 2>/dev/null | grep -q 'libcublas\.so'; then
  MATMUL_CUBLAS=$(python3 - <<'PY'
import glob, os
found = []
try:
    import nvidia.cublas
    for path in nvidia.cublas.__path__:
        found += glob.glob(os.path.join(path, "lib", "libcublas.so.*"))
except Exception:
    pass
try:
    import torch
    found += glob.glob(os.path.join(os.path.dirname(torch.__file__), "lib", "libcublas.so*"))
except Exception:
    pass
found += glob.glob("/usr/local/cuda*/lib64/libcublas.so*")
found = [f for f in found if "Lt" not in os.path.basename(f)]
print(sorted(found)[-1] if found else "")
PY
  )
  export MATMUL_CUBLAS
fi
echo "MATMUL_CUBLAS=${MATMUL_CUBLAS:-<found by the loader>}"

status=0
echo; echo "## Tests (feature cuda)"
for test in "$bin"/test-*; do
  "$test" --test-threads=1 || status=1
done

# PyTorch's `a @ b` on the GPU is the bench's GPU peer (--python), timed in the same run.
echo; echo "## cargo xtask bench --cuda --python"
"$bin/xtask" bench --cuda --python "$@" || status=1
exit $status
