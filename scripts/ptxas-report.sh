#!/usr/bin/env bash
# Development: prints what ptxas says about each kernel for a GPU architecture (registers, spills, shared
# memory), with no GPU: NVRTC compiles kernels/*.cu to SASS and reports. Uses the cuda-rig's
# NVRTC (or $CUDA_RIG_NVRTC / a toolkit's libnvrtc.so.12).
# Usage: scripts/ptxas-report.sh [sm_90]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
arch=${1:-sm_90}
nvrtc=${CUDA_RIG_NVRTC:-$HOME/.cache/cuda-rig/nvrtc/libnvrtc.so.12}
if [[ ! -e $nvrtc ]]; then
  "$here/../../shared/cuda-rig/setup.sh" >/dev/null
fi
python3 - "$nvrtc" "$arch" "$here"/../08_cuda/kernels/*.cu <<'PY'
import ctypes, os, re, sys
lib = ctypes.CDLL(sys.argv[1])
arch = sys.argv[2]
print(f"{'kernel':<28} {'registers':>9} {'spills (B)':>10} {'shared (B)':>10}   ({arch}, ptxas via NVRTC)")
for path in sys.argv[3:]:
    prog = ctypes.c_void_p()
    lib.nvrtcCreateProgram(ctypes.byref(prog), open(path, "rb").read(), os.path.basename(path).encode(), 0, None, None)
    opts = [f"--gpu-architecture={arch}".encode(), b"--ptxas-options=-v", b"-std=c++17"]
    rc = lib.nvrtcCompileProgram(prog, len(opts), (ctypes.c_char_p * len(opts))(*opts))
    n = ctypes.c_size_t(); lib.nvrtcGetProgramLogSize(prog, ctypes.byref(n))
    log = ctypes.create_string_buffer(n.value); lib.nvrtcGetProgramLog(prog, log)
    text = log.value.decode()
    if rc != 0:
        sys.exit(f"{path}: compilation failed\n{text}")
    for entry, body in re.findall(r"Compiling entry function '(\w+)'.*?\n(.*?)Compile time", text, re.S):
        regs = re.search(r"Used (\d+) registers", body).group(1)
        spills = sum(map(int, re.findall(r"(\d+) bytes spill (?:stores|loads)", body)))
        smem = re.search(r"(\d+) bytes smem", body)
        print(f"{entry:<28} {regs:>9} {spills:>10} {smem.group(1) if smem else '0':>10}")
PY
