#!/usr/bin/env bash
# Step 7's tests on an emulated AVX-512 CPU, for machines without AVX-512 (AMD before Zen 4,
# Intel's laptops): the AVX-512 kernels of the GEMM and of the streaming path against every
# shape of the conformance suite, every stage against float64 (`xtask/tests/every_stage.rs`),
# and the bench's AVX-512 read and FMA floors.
#
# qemu cannot do this (its x86 emulator stops at AVX2), so the tests run under Bochs, which
# emulates a whole PC with a Skylake-X CPU: Bochs boots a Linux kernel from a small CD image
# whose initramfs holds busybox and the test binaries (built static, so that they need no C
# library there), runs them, and powers off; the kernel's console is Bochs's serial port, a
# file here. The kernel is Debian 11's, booted with `noxsaves`:
# - Bochs's compacted register-state format (XSAVES) disagrees with the sizes its CPUID
#   reports. Linux 5.10 warns ("XSAVE consistency problem") and goes on; later kernels turn
#   AVX-512 off instead.
# - With the compacted format, a thread that the kernel switches out comes back with its
#   vector registers zeroed (xmm, ymm, zmm and opmask alike). A GEMM thread preempted inside
#   the micro-kernel then loses part of its sums: a wrong result now and then, from the
#   emulator, not from the code under test.
# - `noxsaves` makes the kernel use the standard format (XSAVEOPT), which Bochs gets right.
#   The run fails if the kernel reports the inconsistency or uses another format.
#
# The tests run in release mode, one CPU, under an emulator: timings mean nothing, correctness
# does. About a quarter of an hour on two cores from a clean build: five minutes to build,
# eight in the emulator (a minute and a half of it booting).
#
# Installs what it needs where it can (root with apt-get): Bochs and its BIOS images, isolinux
# and genisoimage for the CD image, busybox-static and cpio for the initramfs, curl for the
# kernel. The kernel is downloaded once, checked against its SHA-256, and kept in
# target/avx512-under-bochs.
#
# Usage: scripts/avx512-under-bochs.sh
set -euo pipefail
cd "$(dirname "$0")/.."

work=target/avx512-under-bochs
kernel_deb=linux-image-5.10.0-32-cloud-amd64_5.10.223-1_amd64.deb
kernel_url=https://deb.debian.org/debian/pool/main/l/linux-signed-amd64/$kernel_deb
kernel_sha256=fb4a1229952d892138532c1d9f40a7fd0bd408e4dcf969c12e4524b6a89fdcb8
# Wall-clock limit of the emulator: it runs the guest far slower than real time (the whole
# run usually takes about 8 minutes).
limit_s=1500

# bochs-term only so that apt satisfies bochs's dependency on `bochs-wx | bochs-gui` without
# wxWidgets: the run itself uses the VNC display built into bochs (`rfb`), which needs no
# terminal and no window, and nobody connects to it.
# shellcheck source=scripts/debian-packages.sh
. scripts/debian-packages.sh
need_packages bochs bochs-term bochsbios vgabios isolinux syslinux-common genisoimage \
  busybox-static cpio curl ca-certificates

mkdir -p "$work"
if [ ! -s "$work/vmlinuz" ]; then
  echo "downloading Debian 11's cloud kernel ($kernel_deb)"
  curl -fsSL --retry 3 -o "$work/kernel.deb.part" "$kernel_url"
  echo "$kernel_sha256  $work/kernel.deb.part" | sha256sum -c --quiet
  rm -rf "$work/kernel"
  dpkg-deb -x "$work/kernel.deb.part" "$work/kernel"
  cp "$work"/kernel/boot/vmlinuz-* "$work/vmlinuz.part"
  mv "$work/vmlinuz.part" "$work/vmlinuz"
  rm -rf "$work/kernel" "$work/kernel.deb.part"
fi

echo "building step 7's tests, the bench's floor tests and every_stage, static, in release mode"
export RUSTFLAGS="-C target-feature=+crt-static"
target=x86_64-unknown-linux-gnu # named, so that RUSTFLAGS leaves build scripts alone
# Plain commands, so that a failed build stops the script (`set -e`) rather than leaving
# some binaries out of the list.
cargo test --release --target "$target" -p matmul-blas --no-run --message-format=json \
  >"$work/build.json"
cargo test --release --target "$target" -p xtask --lib --test every_stage --no-run \
  --message-format=json >>"$work/build.json"
unset RUSTFLAGS
binaries=()
while IFS= read -r binary; do binaries+=("$binary"); done < <(
  grep '"profile":{[^}]*"test":true' "$work/build.json" |
    sed -n 's/.*"executable":"\([^"]*\)".*/\1/p'
)
[ ${#binaries[@]} -gt 0 ] || { echo "cargo built no test binary"; exit 1; }

# The initramfs: busybox, the test binaries, and an init that runs each one and powers off.
root=$(mktemp -d)
cd_dir=$(mktemp -d)
trap 'rm -rf "$root" "$cd_dir"' EXIT
mkdir -p "$root"/{bin,proc,sys,dev,tmp,tests}
cp /bin/busybox "$root/bin/busybox"
# Without their debug information: a smaller initramfs boots sooner under the emulator.
for binary in "${binaries[@]}"; do
  strip --strip-debug -o "$root/tests/$(basename "$binary")" "$binary"
done
cat >"$root/init" <<'INIT'
#!/bin/busybox sh
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t sysfs sys /sys
/bin/busybox mount -t devtmpfs dev /dev
export PATH=/bin HOME=/tmp TMPDIR=/tmp
# Named, not detected: where the emulated CPU lacked AVX-512, every test would fail loudly
# rather than quietly test the AVX2 kernels again.
export MATMUL_ISA=avx512
avx512=$(/bin/busybox grep -o -w 'avx512[a-z]*' /proc/cpuinfo | /bin/busybox sort -u)
echo "=== CPU:" $avx512
# The register-state format the kernel chose, and whether it found Bochs's sizes consistent.
/bin/busybox dmesg | /bin/busybox grep -o "x86/fpu: Enabled xstate.*"
if /bin/busybox dmesg | /bin/busybox grep -q "XSAVE consistency problem"; then
  echo "=== XSAVE INCONSISTENT"
fi
if ! /bin/busybox dmesg | /bin/busybox grep -q "using 'standard' format"; then
  echo "=== XSAVE NOT STANDARD"
fi
for test in /tests/*; do
  echo "=== RUN ${test#/tests/}"
  # The bench's floor tests only: its other tests need the repository's files.
  case $test in /tests/xtask-*) filter=bench::floor:: ;; *) filter= ;; esac
  "$test" $filter
  echo "=== EXIT ${test#/tests/} $?"
done
echo "=== DONE"
# Let the serial port drain before the power goes.
/bin/busybox sleep 5
/bin/busybox poweroff -f
INIT
chmod +x "$root/init"
(cd "$root" && find . | cpio -o -H newc --quiet | gzip -1) >"$cd_dir/initrd.gz"

cp "$work/vmlinuz" "$cd_dir/vmlinuz"
cp /usr/lib/ISOLINUX/isolinux.bin /usr/lib/syslinux/modules/bios/ldlinux.c32 "$cd_dir/"
cat >"$cd_dir/isolinux.cfg" <<'CFG'
DEFAULT linux
LABEL linux
  KERNEL vmlinuz
  APPEND initrd=initrd.gz console=ttyS0,115200 loglevel=4 mitigations=off noxsaves
CFG
genisoimage -quiet -o "$work/boot.iso" -b isolinux.bin -c boot.cat -no-emul-boot \
  -boot-load-size 4 -boot-info-table -R "$cd_dir"

serial=$work/serial.log
cat >"$work/bochsrc" <<BOCHSRC
megs: 2048
cpu: model=corei7_skylake_x, count=1, ips=200000000
romimage: file=/usr/share/bochs/BIOS-bochs-latest
vgaromimage: file=/usr/share/bochs/VGABIOS-lgpl-latest
ata0-master: type=cdrom, path=$work/boot.iso, status=inserted
boot: cdrom
com1: enabled=1, mode=file, dev=$serial
display_library: rfb, options="timeout=0"
log: $work/bochs.log
clock: sync=none, time0=local
BOCHSRC
# Debian's Bochs starts in its debugger: `c` continues.
echo c >"$work/debugger"
rm -f "$serial"
echo "booting an emulated Skylake-X under Bochs (the tests' output follows when it is done)"
status=0
timeout "$limit_s" bochs -q -f "$work/bochsrc" -rc "$work/debugger" </dev/null \
  >"$work/bochs.out" 2>&1 || status=$?
# Bochs's own messages, for every way the run can fail.
emulator_said() {
  echo "--- the end of $work/bochs.out:"; tail -n 20 "$work/bochs.out"
  echo "--- the end of $work/bochs.log:"; tail -n 20 "$work/bochs.log" 2>/dev/null || true
}
[ -s "$serial" ] || { echo "FAILED: Bochs did not start the kernel"; emulator_said; exit 1; }
# The console ends its lines with CR LF.
tr -d '\r' <"$serial" >"$serial.txt"
mv "$serial.txt" "$serial"
sed -n '/^=== /,$p' "$serial" | grep -v '^\[ *[0-9.]*\]' || true

# Passed: AVX-512 was there, every binary ran to the end with status 0, and all were seen.
grep -q '^=== CPU: .*avx512f' "$serial" ||
  { echo "FAILED: the emulated CPU reported no AVX-512 (see $serial)"; exit 1; }
if grep -q '^=== XSAVE \(INCONSISTENT\|NOT STANDARD\)' "$serial"; then
  echo "FAILED: the kernel did not save registers in the standard format, or found Bochs's" \
    "register-state sizes inconsistent: threads may lose their vector registers when" \
    "switched out (see $serial)"
  exit 1
fi
if ! grep -q '^=== DONE' "$serial"; then
  if [ "$status" -eq 124 ]; then
    echo "FAILED: the tests did not finish within ${limit_s} s (see $serial)"
  else
    echo "FAILED: the emulated machine stopped before the tests finished (see $serial)"
    emulator_said
  fi
  exit 1
fi
# Each binary exited with 0, and each ran at least one test (a filter matching nothing passes).
ran=$(grep -c '^=== EXIT .* 0$' "$serial" || true)
[ "$ran" -eq ${#binaries[@]} ] ||
  { echo "FAILED: $ran of ${#binaries[@]} test binaries passed under Bochs"; exit 1; }
tested=$(grep -c '^test result: ok\. [1-9][0-9]* passed' "$serial" || true)
[ "$tested" -eq ${#binaries[@]} ] ||
  { echo "FAILED: $tested of ${#binaries[@]} test binaries ran a test under Bochs"; exit 1; }
echo "AVX-512 under Bochs: ${#binaries[@]} test binaries passed"
