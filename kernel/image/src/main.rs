//! Wraps the test kernel's ELF in a disk image (rust-osdev bootloader) and
//! boots it under QEMU (TCG, 2 CPUs):
//! `vmarea-test-kernel-image [--uefi] KERNEL_ELF IMAGE [qemu args...]`.
//! BIOS by default; `--uefi` makes a GPT/UEFI image and boots it with OVMF.
//! Exits with QEMU's status: 33 means the kernel reported a pass.

use std::path::{Path, PathBuf};
use std::process::{exit, Command};

/// The OVMF firmware Debian's `ovmf` package installs.
const OVMF: &str = "/usr/share/ovmf/OVMF.fd";

fn main() {
    let mut args = std::env::args().skip(1).peekable();
    let uefi = args.next_if(|a| a == "--uefi").is_some();
    let (Some(kernel), Some(image)) = (args.next(), args.next()) else {
        eprintln!("usage: vmarea-test-kernel-image [--uefi] KERNEL_ELF IMAGE [qemu args...]");
        exit(2);
    };
    let (kernel, image) = (PathBuf::from(kernel), PathBuf::from(image));
    let made = if uefi {
        bootloader::UefiBoot::new(&kernel).create_disk_image(&image)
    } else {
        bootloader::BiosBoot::new(&kernel).create_disk_image(&image)
    };
    if let Err(e) = made {
        eprintln!("cannot create the disk image: {e:#}");
        exit(2);
    }
    // The CPU count the kernel was built for (`VMK_CPUS`, 4 if unset).
    let cpus = std::env::var("VMK_CPUS").unwrap_or_else(|_| "4".into());
    let mut qemu = Command::new("qemu-system-x86_64");
    qemu.args([
        "-accel",
        "tcg",
        "-display",
        "none",
        "-serial",
        "stdio",
        "-m",
        "256",
        "-no-reboot",
        "-smp",
        &cpus,
    ])
    .args(["-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"])
    .arg("-drive")
    .arg(format!("format=raw,file={}", image.display()));
    if uefi {
        if !Path::new(OVMF).exists() {
            eprintln!("{OVMF} is missing (Debian package ovmf)");
            exit(2);
        }
        qemu.args(["-bios", OVMF]);
    }
    let status = qemu.args(args).status().unwrap_or_else(|e| {
        eprintln!("cannot start qemu-system-x86_64: {e}");
        exit(2)
    });
    exit(status.code().unwrap_or(2));
}
