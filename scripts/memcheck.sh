#!/usr/bin/env bash
# Step 7's GEMM tests under valgrind's memcheck: every kernel and plan on every edge height and
# layout, with a checker that reports reads past the end of a matrix's allocation. Then the
# streaming kernels' tests the same way: their masked loads of the last, partial register of a
# row (the few-rows and one-row kernels) must not touch the lanes past it, which the results
# alone would not show.
#
# The GEMM reads its operands through raw pointers, and at the bottom edge of a block of `a`
# read in place a kernel must read only the rows inside the block (`tile_rows`): a read past
# them lands on rows of `a` that belong to no tile, or past the end of `a`, and changes no
# result, so the tests alone would not see it. Under memcheck a read past the end of `a`
# fails the run (a red zone of 4 KiB after each allocation catches reads a row or more past
# it), and in the tests' shapes the last block of `a` ends where `a` does. A read of rows
# inside `a` but past the block is not caught.
#
# The AVX2 and portable kernels run here (valgrind cannot decode AVX-512); the AVX-512 kernel
# shares their driver and its edge kernels are built from the same code as theirs. Release
# mode, as in a user's build; about a minute from a warm build.
#
# Usage: scripts/memcheck.sh
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=scripts/debian-packages.sh
. scripts/debian-packages.sh
need_packages valgrind
command -v valgrind >/dev/null || { echo "valgrind not found: install it to run this check"; exit 1; }

# The test binary of `cargo test` with these arguments whose target is named $1: the artifact
# built with the test profile (compiler messages are rendered to the terminal, not buried in
# the JSON).
test_binary() {
  local name=$1; shift
  cargo test --release -q -p matmul-blas "$@" --no-run --message-format=json-render-diagnostics |
    grep '"profile":{[^}]*"test":true' | grep "\"name\":\"$name\"" |
    sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | tail -n 1
}

# Runs the tests of binary $1 that match $2 (with `ISA` in it replaced by the instruction set)
# under memcheck, with the AVX2 kernels (where this CPU has them) and the portable ones.
under_memcheck() {
  local binary=$1 filter=$2
  [ -x "$binary" ] || { echo "cargo built no test binary for $filter"; exit 1; }
  for isa in avx2 portable; do
    if [ "$isa" = avx2 ] && ! { grep -qw avx2 /proc/cpuinfo && grep -qw fma /proc/cpuinfo; }; then
      echo "SKIPPED: MATMUL_ISA=avx2 (this CPU has no AVX2 and FMA)"; continue
    fi
    local tests=${filter//ISA/$isa}
    echo "MATMUL_ISA=$isa valgrind $(basename "$binary") $tests"
    MATMUL_ISA=$isa valgrind -q --error-exitcode=9 --redzone-size=4096 "$binary" -q "$tests"
  done
}

under_memcheck "$(test_binary gemm --test gemm)" every_kernel_and_plan
under_memcheck "$(test_binary matmul_blas --lib)" streaming::tests::ISA_kernel
