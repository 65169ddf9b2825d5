#!/usr/bin/env bash
# The other machines learners run this on, checked on this x86-64 Linux one:
#
#   arm64    cross-compiles the workspace for aarch64-unknown-linux-gnu (the instruction set of
#            an Apple Silicon Mac), lints it there, and runs the stage crates' tests and the
#            bench's under qemu-aarch64 in release mode: the NEON kernels and floors against
#            every shape of the conformance suite. Timings under an emulator mean nothing;
#            correctness does.
#   windows  lints the workspace for x86_64-pc-windows-gnu (the Windows code: caches from
#            GetLogicalProcessorInformation), without running it; needs the MinGW cross
#            compiler for the C code one dependency's build script compiles.
#   macos    lints step 7 for aarch64-apple-darwin (the macOS code: caches and CPU name from
#            sysctl), without linking or running it.
#   avx512   runs step 7's tests, the bench's floor tests and every stage against float64 on
#            an emulated Skylake-X (scripts/avx512-under-bochs.sh): the AVX-512 kernels of an
#            Intel Xeon or AMD Zen 4/5, checked on a CPU without them. Skipped on a CPU with
#            AVX-512, whose own tests run those kernels already.
#
# Installs what it needs where it can (root with apt-get): the cross linker, the ARM64 C
# library, qemu-user and MinGW from Debian, the targets with rustup; for avx512, Bochs
# (through scripts/avx512-under-bochs.sh).
#
# Usage: scripts/other-machines.sh [arm64] [windows] [macos] [avx512]   (all four by default)
set -euo pipefail
cd "$(dirname "$0")/.."

wanted=("$@")
[ ${#wanted[@]} -gt 0 ] || wanted=(arm64 windows macos avx512)

step() { printf '\n=== [%s] %s\n' "$(date +%T)" "$*"; }

# shellcheck source=scripts/debian-packages.sh
. scripts/debian-packages.sh

# The stage crates, the harness they share, and the bench's library (its NEON floors).
stage_crates=(-p matmul-data -p matmul-naive -p matmul-dot -p matmul-elementwise
  -p matmul-broadcast -p matmul-einsum -p matmul-blas)

for machine in "${wanted[@]}"; do
  case $machine in
  arm64)
    step "ARM64 (aarch64-unknown-linux-gnu): clippy, then the tests under qemu-aarch64"
    need_packages gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user
    rustup target add aarch64-unknown-linux-gnu 2>&1 | grep -v "is up to date" || true
    runner="qemu-aarch64 -L /usr/aarch64-linux-gnu"
    export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
    export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER=$runner
    # The tests that start a child process of their own start it through the emulator too.
    export MATMUL_TEST_RUNNER=$runner
    cargo clippy --target aarch64-unknown-linux-gnu --workspace --all-targets -- -D warnings
    # Release mode: the emulator runs optimised code many times faster than a debug build.
    cargo test --release --target aarch64-unknown-linux-gnu "${stage_crates[@]}"
    cargo test --release --target aarch64-unknown-linux-gnu -p xtask --lib
    echo "MATMUL_ISA=portable: the portable kernels on ARM64"
    MATMUL_ISA=portable cargo test -q --release --target aarch64-unknown-linux-gnu -p matmul-blas
    ;;
  windows)
    step "Windows (x86_64-pc-windows-gnu): clippy"
    # Linting still runs build scripts, and the download's TLS crate (ring) compiles C code
    # for the target: that needs the MinGW cross compiler.
    need_packages gcc-mingw-w64-x86-64
    rustup target add x86_64-pc-windows-gnu 2>&1 | grep -v "is up to date" || true
    cargo clippy --target x86_64-pc-windows-gnu --workspace --all-targets -- -D warnings
    ;;
  macos)
    step "macOS (aarch64-apple-darwin): clippy of step 7"
    rustup target add aarch64-apple-darwin 2>&1 | grep -v "is up to date" || true
    cargo clippy --target aarch64-apple-darwin -p matmul-blas --all-targets -- -D warnings
    ;;
  avx512)
    step "AVX-512 (an emulated Skylake-X): step 7's tests under Bochs"
    if grep -qw avx512f /proc/cpuinfo 2>/dev/null; then
      echo "SKIPPED: this CPU has AVX-512; \`cargo test\` runs those kernels natively"
    else
      scripts/avx512-under-bochs.sh
    fi
    ;;
  *)
    echo "unknown machine '$machine': expected arm64, windows, macos or avx512"; exit 2
    ;;
  esac
done
