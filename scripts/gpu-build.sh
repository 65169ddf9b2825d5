#!/usr/bin/env bash
# Development: builds, on a machine WITHOUT a GPU (a CUDA toolkit, or the repository's stand-in
# for one), everything a GPU machine without a Rust toolchain runs, into target/cuda/carry/:
#   test-gpu         08_cuda/tests/gpu.rs (validation, GPU stages through the conformance checks)
#   test-listing     08_cuda/tests/listing.rs (listing the stages opens no device)
#   test-matmul_cuda the crate's unit tests, built with the cuda feature
#   xtask            `cargo xtask` built with --features cuda (for `bench --cuda`)
# Debug info is stripped to keep the folder small. Copy target/cuda/carry/ to the GPU machine
# (same relative path in a checkout of this repository) and run `bash scripts/gpu-run.sh` there.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
if ! command -v nvcc >/dev/null; then
  eval "$("$root/../shared/cuda-rig/setup.sh")"
fi
export CARGO_TARGET_DIR=$root/target/cuda
out=$CARGO_TARGET_DIR/carry
rm -rf "$out"
mkdir -p "$out"

# The test binaries, found through cargo's JSON messages (their names carry a hash). The
# emulator test stays here: it compiles C++ from this checkout, and runs fine without a GPU.
cargo test --release --features cuda -p matmul-cuda --lib --test gpu --test listing --no-run \
  --message-format=json |
  python3 -c '
import json, sys
for line in sys.stdin:
    msg = json.loads(line)
    if msg.get("reason") == "compiler-artifact" and msg.get("executable") and msg["profile"]["test"]:
        print(msg["target"]["name"], msg["executable"])
' | while read -r name exe; do cp "$exe" "$out/test-$name"; done

cargo build --release -p xtask --features cuda
cp "$CARGO_TARGET_DIR/release/xtask" "$out/"

strip --strip-debug "$out"/*
ls -la "$out"
du -sh "$out"
