#!/usr/bin/env bash
# Runs on the GPU machine (CUDA driver, PyTorch, no Rust): validates and measures with the
# binaries 08_cuda/gpu-build.sh put in target/cuda/carry/. From the repository root:
#   bash 08_cuda/gpu-run.sh [gpu-check options: --max-size N --seed S --skip-validation]
# Exits non-zero if any test or validation fails. Prints the tables last.
set -uo pipefail
cd "$(dirname "$0")/.."
bin=target/cuda/carry
if [[ ! -x $bin/gpu-check ]]; then
  echo "gpu-run: $bin/gpu-check missing: run 08_cuda/gpu-build.sh and carry target/cuda/carry" >&2
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

echo; echo "## Peer: PyTorch matmul (cuBLAS, TF32 off), same shapes"
python3 - <<'PY' || status=1
import torch, time
torch.backends.cuda.matmul.allow_tf32 = False
def events(f, reps=20):
    f(); torch.cuda.synchronize()
    times = []
    for _ in range(reps):
        s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        s.record(); f(); e.record(); e.synchronize(); times.append(s.elapsed_time(e) / 1e3)
    return sorted(times)[len(times) // 2]
def wall(f, reps=20):
    f(); torch.cuda.synchronize()
    times = []
    for _ in range(reps):
        t = time.perf_counter(); f(); torch.cuda.synchronize(); times.append(time.perf_counter() - t)
    return sorted(times)[len(times) // 2]
x = (torch.rand(50000, 784) * (torch.rand(50000, 784) > 0.8)).cuda()
w = torch.randn(784, 10).cuda()
print(f"torch mnist50k: kernel {events(lambda: x @ w) * 1e6:.1f} us, "
      f"with .cpu() {wall(lambda: (x @ w).cpu()) * 1e6:.1f} us")
for s in (1024, 4096, 8192):
    a, b = torch.rand(s, s, device="cuda"), torch.rand(s, s, device="cuda")
    t = events(lambda: a @ b, reps=10)
    print(f"torch {s}: {t * 1e3:.3f} ms, {2 * s**3 / t / 1e9:.0f} GFLOP/s")
PY

echo; echo "## cargo xtask bench --cuda"
"$bin/xtask" bench --cuda || status=1

echo; echo "## gpu-check"
"$bin/gpu-check" "$@" || status=1
exit $status
