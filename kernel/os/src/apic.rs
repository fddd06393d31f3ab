//! The local APIC (xAPIC, memory-mapped: QEMU 7.2's TCG has no x2APIC),
//! mapped through the kernel's `ioremap` — an `IOREMAP` area of the same
//! vmalloc space, as Linux maps device registers. Used to start the second
//! CPU (INIT, SIPI) and to send the TLB-shootdown IPI.

use core::sync::atomic::{AtomicUsize, Ordering};

/// The local APIC's physical base (every CPU sees its own APIC there).
const LAPIC_PHYS: u64 = 0xfee0_0000;
const ID: usize = 0x20;
const EOI: usize = 0xb0;
const SVR: usize = 0xf0;
const ICR_LOW: usize = 0x300;
const ICR_HIGH: usize = 0x310;
const ICR_PENDING: u32 = 1 << 12;

/// Spurious-interrupt vector (no EOI).
pub const SPURIOUS_VECTOR: u8 = 0xff;

/// Virtual address of the register page; 0 until `map`.
static BASE: AtomicUsize = AtomicUsize::new(0);

fn reg(offset: usize) -> *mut u32 {
    let base = BASE.load(Ordering::Relaxed);
    assert!(base != 0, "apic::map ran");
    (base + offset) as *mut u32
}

fn read(offset: usize) -> u32 {
    // SAFETY: `reg` is inside the uncached mapping of the APIC page.
    unsafe { reg(offset).read_volatile() }
}

fn write(offset: usize, v: u32) {
    // SAFETY: as in `read`; APIC registers take 32-bit writes.
    unsafe { reg(offset).write_volatile(v) }
}

/// Maps the APIC registers (once, on the boot CPU).
pub fn map() -> Result<(), &'static str> {
    let v = crate::vmalloc::ioremap(LAPIC_PHYS, 4096).ok_or("cannot ioremap the local APIC")?;
    BASE.store(v, Ordering::Relaxed);
    Ok(())
}

/// Software-enables this CPU's APIC (the BIOS left LINT0 in virtual-wire
/// mode, so the 8259's timer still reaches the boot CPU).
pub fn enable() {
    write(SVR, read(SVR) | 0x100 | u32::from(SPURIOUS_VECTOR));
}

/// This CPU's APIC ID.
pub fn id() -> u32 {
    read(ID) >> 24
}

/// End of interrupt for an APIC-delivered vector.
pub fn eoi() {
    write(EOI, 0);
}

fn send(dest: u32, low: u32) {
    write(ICR_HIGH, dest << 24);
    write(ICR_LOW, low);
    while read(ICR_LOW) & ICR_PENDING != 0 {
        core::hint::spin_loop();
    }
}

/// A fixed IPI with `vector` to the APIC `dest`.
pub fn send_ipi(dest: u32, vector: u8) {
    send(dest, 0x4000 | u32::from(vector));
}

/// INIT (assert, level) to `dest`.
pub fn send_init(dest: u32) {
    send(dest, 0x4500);
}

/// STARTUP to `dest`: it starts in real mode at `page << 12`.
pub fn send_startup(dest: u32, page: u8) {
    send(dest, 0x4600 | u32::from(page));
}
