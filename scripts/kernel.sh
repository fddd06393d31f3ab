#!/usr/bin/env bash
# Builds the test kernel (kernel/os) and boots it under QEMU (TCG, 2 CPUs)
# from a BIOS image and then from a UEFI image (OVMF), both made by
# kernel/image (rust-osdev bootloader). Each boot passes iff the kernel
# exits QEMU with status 33, says so on the serial port, started its second
# CPU and printed a passing Summary line per case; the logs are kept in
# kernel/target/serial-{bios,uefi}.log. Installs what it needs: QEMU and
# OVMF, the nightly components the bootloader's build uses, the bare-metal
# target.
set -euo pipefail
cd "$(dirname "$0")/../kernel"

if ! command -v qemu-system-x86_64 >/dev/null || [ ! -e /usr/share/ovmf/OVMF.fd ]; then
    apt-get install -y --no-install-recommends qemu-system-x86 ovmf ||
        { apt-get update && apt-get install -y --no-install-recommends qemu-system-x86 ovmf; }
fi
rustup component add --toolchain nightly rust-src llvm-tools
rustup target add --toolchain nightly x86_64-unknown-none
# CI installs first, then builds and boots in the background.
if [ "${KERNEL_PREPARE_ONLY:-}" = 1 ]; then
    exit 0
fi

# The kernel needs nightly only for `extern "x86-interrupt"` handlers; the
# image builder because the bootloader builds its stages with -Z flags.
cargo +nightly build --release --target x86_64-unknown-none -p vmarea-test-kernel
cargo +nightly build --release -p vmarea-test-kernel-image

# Boots the kernel from a BIOS or a UEFI image and checks its serial log.
boot() {
    local mode=$1 log=target/serial-$1.log flag=()
    [ "$mode" = uefi ] && flag=(--uefi)
    echo "== booting the test kernel ($mode, 2 CPUs, TCG)"
    set +e
    timeout 900 ./target/release/vmarea-test-kernel-image "${flag[@]}" \
        target/x86_64-unknown-none/release/vmarea-test-kernel "target/$mode.img" "${QEMU_ARGS[@]}" |
        tee "$log"
    local status=${PIPESTATUS[0]}
    set -e
    if [ "$status" != 33 ]; then
        echo "kernel run ($mode) failed: QEMU exited with $status (33 is a pass)" >&2
        exit 1
    fi
    grep -q "vmarea test kernel: all tests passed" "$log"
    # Every test_vmalloc case and the two-CPU stress case printed a
    # passing Summary line.
    for case in fix_size full_fit long_busy_list random_size fix_align \
        random_size_align align_shift pcpu vm_map_ram smp_stress; do
        if ! grep -q "^Summary: ${case}_\(alloc_\)\?test passed: 1 failed: 0" "$log"; then
            echo "kernel run ($mode) failed: no passing Summary line for ${case}" >&2
            exit 1
        fi
    done
    grep -q "^smp: CPU 1 .* online" "$log"
}

QEMU_ARGS=("$@")
boot bios
boot uefi
