#!/usr/bin/env bash
# Development: `cargo xtask bench --cuda --quick` end to end WITHOUT a GPU: the `cuda` build of xtask runs
# against 08_cuda's fake driver (a libcuda.so.1 whose "device" runs the kernels on a CPU
# emulator, and a libcublas.so.12 that computes SGEMM by its definition), then this script
# checks what the run wrote: a validated, timed GPU row for every method on every GPU workload,
# the host-to-device copy row, the GPU floors, the device in the machine line, the rows in the
# table. Timings on the emulator mean nothing; shapes, validation and rows do. It also checks
# that with a driver but no device, `--cuda` fails with one line and writes nothing.
#
# Needs the CUDA toolkit's nvcc (to build the PTX) and a C/C++ compiler. `--quick` keeps the
# GPU part to mnist5 and the squares up to 128, so it finishes in a few minutes.
#
# Usage (from anywhere): scripts/fake-gpu-bench.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export CARGO_TARGET_DIR=$root/target/cuda
cargo build --release --quiet -p xtask --features cuda
xtask=$CARGO_TARGET_DIR/release/xtask

# The fake driver (and a driver with no device), as scripts/fake-gpu-run.sh uses them.
fake=$CARGO_TARGET_DIR/fake-driver
"$root/08_cuda/tests/fake-driver/build.sh" "$fake"

out=$root/target/bench-fake-gpu
rm -rf "$out"
LD_LIBRARY_PATH=$fake MATMUL_CUBLAS=$fake/libcublas.so.12 "$xtask" bench --cuda --quick --out "$out" >"$out.log" 2>&1 ||
  { cat "$out.log"; echo "bench --cuda --quick failed on the fake driver"; exit 1; }

# The GPU methods, as this build lists them (the kernel table's kernels, then cuBLAS).
LD_LIBRARY_PATH=$fake "$xtask" bench --list >"$out.list"

python3 - "$out" "$out.list" <<'PY'
import json, sys
out = sys.argv[1]
results = json.load(open(f"{out}/results.json"))
methods = [line.split()[0] for line in open(sys.argv[2]) if line.split()[1:2] == ["gpu"]]
if "cublas" not in methods or len(methods) < 2:
    sys.exit(f"bench --list gave no GPU kernels: {methods}")
workloads = ["mnist5", "square-64", "square-128"]
gpu = {(r["stage"], r["workload"]): r for r in results["results"] if r["source"] == "gpu"}
problems = []
for method in methods:
    for workload in workloads:
        row = gpu.get((method, workload))
        if row is None:
            problems.append(f"no GPU row for {method} on {workload}")
        elif not (row["median_ns"] > 0 and row["gflops"] > 0 and row["package"] == "matmul-cuda"):
            problems.append(f"bad GPU row: {row}")
if ("cuda.to_device", "mnist5") not in gpu:
    problems.append("no cuda.to_device row on mnist5")
skipped = [s for s in results["skipped"] if s["source"] == "gpu"]
problems += [f"GPU method not timed: {s}" for s in skipped]
floors = {(f["stage"], f["workload"]) for f in results["floors"] if f["source"] == "gpu"}
for floor in [("device-read", "mnist5"), ("fp32-peak", "square-64"), ("fp32-peak", "square-128")]:
    if floor not in floors:
        problems.append(f"no GPU floor {floor}")
# Every record, CPU and GPU, rows and floors, carries the 95% interval of its median.
for r in results["results"] + results["floors"]:
    if not (0 < r.get("ci_low_ns", 0) <= r["median_ns"] <= r.get("ci_high_ns", 0)):
        problems.append(f"no interval around its median: {r['stage']} on {r['workload']} ({r['source']})")
if not results["machine"].get("gpu"):
    problems.append("no GPU in the machine line")
table = open(f"{out}/BENCHMARKS.md").read()
for method in methods:
    if f"*gpu: {method}*" not in table:
        problems.append(f"{method} missing from BENCHMARKS.md")
if "GPU: " not in table:
    problems.append("BENCHMARKS.md's machine line does not name the GPU")
if problems:
    sys.exit("fake-GPU bench:\n  " + "\n  ".join(problems))
print(f"fake-GPU bench: {len(gpu)} GPU rows, {len(floors)} GPU floors, all validated")
PY

# A driver with no device: one line on stderr, a non-zero exit, nothing written.
nodev=$fake/no-device
rm -rf "$out-none"
if LD_LIBRARY_PATH=$nodev "$xtask" bench --cuda --quick --out "$out-none" >"$out-none.log" 2>&1; then
  echo "bench --cuda succeeded without a device"; exit 1
fi
[ "$(wc -l <"$out-none.log")" -eq 1 ] || { cat "$out-none.log"; echo "expected one line"; exit 1; }
[ ! -e "$out-none" ] || { echo "bench --cuda wrote $out-none without a device"; exit 1; }
echo "no device: $(cat "$out-none.log")"
