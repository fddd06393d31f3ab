//! Wraps the test kernel's ELF in a BIOS disk image and boots it under QEMU
//! (TCG): `vmarea-test-kernel-image KERNEL_ELF IMAGE [qemu args...]`.
//! Exits with QEMU's status: 33 means the kernel reported a pass.

use std::path::PathBuf;
use std::process::{exit, Command};

fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(kernel), Some(image)) = (args.next(), args.next()) else {
        eprintln!("usage: vmarea-test-kernel-image KERNEL_ELF IMAGE [qemu args...]");
        exit(2);
    };
    let image = PathBuf::from(image);
    if let Err(e) = bootloader::BiosBoot::new(&PathBuf::from(kernel)).create_disk_image(&image) {
        eprintln!("cannot create the disk image: {e:#}");
        exit(2);
    }
    let status = Command::new("qemu-system-x86_64")
        .args([
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
            "2",
        ])
        .args(["-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"])
        .arg("-drive")
        .arg(format!("format=raw,file={}", image.display()))
        .args(args)
        .status()
        .unwrap_or_else(|e| {
            eprintln!("cannot start qemu-system-x86_64: {e}");
            exit(2)
        });
    exit(status.code().unwrap_or(2));
}
