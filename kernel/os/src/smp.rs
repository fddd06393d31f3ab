//! Starting the other CPUs, one after another: a real-mode trampoline
//! copied to a free page below 1 MiB, woken by INIT-SIPI-SIPI, goes
//! straight to long mode on the boot CPU's page tables (the trampoline page
//! identity-mapped meanwhile), then calls `ap_main` on a stack `vmalloc`
//! gave it (with a guard page). How many CPUs: [`CPUS`], from the build's
//! configuration.
//! `ap_main` loads the CPU's own GDT, TSS and IDT, enables its APIC and
//! waits for work with interrupts on, so TLB-shootdown IPIs reach it.

use crate::{apic, arch, memory::memory, println, vmalloc};
use core::sync::atomic::{AtomicU32, AtomicUsize, Ordering};

/// The most CPUs this kernel can drive (the size of its per-CPU tables).
pub const MAX_CPUS: usize = 8;

/// CPUs this kernel starts: `VMK_CPUS` at build time (`scripts/kernel.sh`
/// sets it, and QEMU's `-smp` from the same value), 4 if unset.
pub const CPUS: usize = {
    let n = match option_env!("VMK_CPUS") {
        Some(s) => parse(s),
        None => 4,
    };
    assert!(n >= 1 && n <= MAX_CPUS, "VMK_CPUS must be 1 to MAX_CPUS");
    n
};

/// A decimal number, at build time.
const fn parse(s: &str) -> usize {
    let b = s.as_bytes();
    let mut i = 0;
    let mut n = 0;
    while i < b.len() {
        assert!(b[i].is_ascii_digit(), "VMK_CPUS is not a number");
        n = n * 10 + (b[i] - b'0') as usize;
        i += 1;
    }
    n
}
/// An application processor's stack.
const AP_STACK: usize = 64 * 1024;

/// CPUs started (the boot CPU is CPU 0).
static ONLINE: AtomicUsize = AtomicUsize::new(1);
/// Each CPU's APIC ID, by CPU number.
static APIC_IDS: [AtomicU32; MAX_CPUS] = [const { AtomicU32::new(0) }; MAX_CPUS];

/// Work for the APs: a function each runs once with its CPU number, per
/// generation.
static WORK: AtomicUsize = AtomicUsize::new(0);
static WORK_GEN: AtomicUsize = AtomicUsize::new(0);
static WORK_DONE: AtomicUsize = AtomicUsize::new(0);

/// The IPI that wakes an idle AP (its handler only acknowledges).
pub const WAKE_VECTOR: u8 = 0xf1;

/// CPUs online.
pub fn online() -> usize {
    ONLINE.load(Ordering::Acquire)
}

/// The APIC ID of CPU `cpu`.
pub fn apic_id(cpu: usize) -> u32 {
    APIC_IDS[cpu].load(Ordering::Relaxed)
}

/// This CPU's number.
pub fn cpu() -> usize {
    if online() == 1 {
        return 0;
    }
    let id = apic::id();
    (0..MAX_CPUS).find(|&c| apic_id(c) == id).unwrap_or(0)
}

// The trampoline. It runs at `base` (a page below 1 MiB) with CS = base >> 4
// and IP = 0, so 16-bit code addresses its data as offsets from its start.
// `start_ap` patches the GDT pointer, the far pointer into long mode and the
// parameters (CR3, stack, argument, entry) in the copy before the SIPI.
core::arch::global_asm!(
    ".section .text.ap_trampoline, \"ax\"",
    ".global vmk_ap_start",
    ".global vmk_ap_long",
    ".global vmk_ap_gdt",
    ".global vmk_ap_gdtr",
    ".global vmk_ap_far",
    ".global vmk_ap_params",
    ".global vmk_ap_end",
    ".code16",
    "vmk_ap_start:",
    "cli",
    "cld",
    "mov %cs, %ax",
    "mov %ax, %ds",
    "lgdtl (vmk_ap_gdtr - vmk_ap_start)",
    // PAE, then the boot CPU's page tables, then long mode with NX.
    "mov %cr4, %eax",
    "or $0x20, %eax",
    "mov %eax, %cr4",
    "mov (vmk_ap_params - vmk_ap_start), %eax",
    "mov %eax, %cr3",
    "mov $0xc0000080, %ecx",
    "rdmsr",
    "or $0x900, %eax",
    "wrmsr",
    // Caches on (clear CD, NW); paging, write protect, protected mode.
    "mov %cr0, %eax",
    "and $0x9fffffff, %eax",
    "or $0x80010001, %eax",
    "mov %eax, %cr0",
    "ljmpl *(vmk_ap_far - vmk_ap_start)",
    ".code64",
    "vmk_ap_long:",
    "xor %eax, %eax",
    "mov %ax, %ds",
    "mov %ax, %es",
    "mov %ax, %ss",
    "mov %ax, %fs",
    "mov %ax, %gs",
    "mov (vmk_ap_params + 8)(%rip), %rsp",
    "mov (vmk_ap_params + 16)(%rip), %rdi",
    "mov (vmk_ap_params + 24)(%rip), %rax",
    "call *%rax",
    "2:",
    "hlt",
    "jmp 2b",
    ".balign 8",
    "vmk_ap_gdt:",
    ".quad 0",
    ".quad 0x00af9a000000ffff",
    ".quad 0x00cf92000000ffff",
    "vmk_ap_gdtr:",
    ".word 23",
    ".long 0",
    ".balign 4",
    "vmk_ap_far:",
    ".long 0",
    ".word 8",
    ".balign 8",
    "vmk_ap_params:",
    ".quad 0, 0, 0, 0",
    "vmk_ap_end:",
    ".text",
    options(att_syntax)
);

extern "C" {
    static vmk_ap_start: u8;
    static vmk_ap_long: u8;
    static vmk_ap_gdt: u8;
    static vmk_ap_gdtr: u8;
    static vmk_ap_far: u8;
    static vmk_ap_params: u8;
    static vmk_ap_end: u8;
}

/// Offset of a trampoline symbol from its start.
fn offset(sym: *const u8) -> usize {
    sym as usize - core::ptr::addr_of!(vmk_ap_start) as usize
}

/// Starts CPUs 1 … [`CPUS`] − 1, one at a time, each waited for until it
/// runs `ap_main`.
pub fn start_aps() -> Result<(), &'static str> {
    let mut mem = memory();
    let base = mem.low_page().ok_or("no free page below 1 MiB")?;
    let len = offset(core::ptr::addr_of!(vmk_ap_end));
    let dst = mem.phys_to_virt(base);
    // SAFETY: `dst` maps the free low page (all of it ours, `len` < 4096);
    // the source is the trampoline's bytes in the kernel image.
    unsafe { core::ptr::copy_nonoverlapping(core::ptr::addr_of!(vmk_ap_start), dst, len) };
    if !mem.map_identity(base) {
        return Err("cannot identity-map the trampoline page");
    }
    drop(mem);
    // QEMU numbers CPUs' APIC IDs 0, 1, … .
    APIC_IDS[0].store(apic::id(), Ordering::Relaxed);
    for cpu in 1..CPUS {
        APIC_IDS[cpu].store(apic::id() + cpu as u32, Ordering::Relaxed);
        start_one(cpu, base, dst)?;
    }
    memory().unmap_identity(base);
    Ok(())
}

/// Patches the trampoline copy at `dst` (physical `base`) for CPU `cpu`,
/// wakes it and waits until it is online.
fn start_one(cpu: usize, base: u64, dst: *mut u8) -> Result<(), &'static str> {
    let stack = vmalloc::vmalloc_forever(AP_STACK).ok_or("no AP stack")?;
    let put32 = |at: usize, v: u32| {
        // SAFETY: `at` is a field inside the copied trampoline, which no
        // CPU runs now (the previous one is past it: it is online).
        unsafe { dst.add(at).cast::<u32>().write_unaligned(v) }
    };
    let put64 = |at: usize, v: u64| {
        // SAFETY: as above.
        unsafe { dst.add(at).cast::<u64>().write_unaligned(v) }
    };
    let base32 = base as u32;
    put32(
        offset(core::ptr::addr_of!(vmk_ap_gdtr)) + 2,
        base32 + offset(core::ptr::addr_of!(vmk_ap_gdt)) as u32,
    );
    put32(
        offset(core::ptr::addr_of!(vmk_ap_far)),
        base32 + offset(core::ptr::addr_of!(vmk_ap_long)) as u32,
    );
    let params = offset(core::ptr::addr_of!(vmk_ap_params));
    put64(params, memory().cr3());
    put64(params + 8, (stack.addr + stack.usable) as u64);
    put64(params + 16, cpu as u64);
    put64(params + 24, ap_main as *const () as u64);
    let up = || online() > cpu;
    let page = (base >> 12) as u8;
    apic::send_init(apic_id(cpu));
    arch::sleep_ms(10);
    apic::send_startup(apic_id(cpu), page);
    arch::sleep_ms(1);
    if !up() {
        apic::send_startup(apic_id(cpu), page);
    }
    crate::wait_until(up);
    if !up() {
        return Err("a CPU did not start");
    }
    println!(
        "smp: CPU {cpu} (APIC {}) online; trampoline at {base:#x}, stack {:#x}",
        apic_id(cpu),
        stack.addr
    );
    Ok(())
}

/// Where an AP arrives from the trampoline.
extern "C" fn ap_main(cpu: u64) -> ! {
    let cpu = cpu as usize;
    arch::init_cpu(cpu);
    apic::enable();
    ONLINE.fetch_add(1, Ordering::AcqRel);
    x86_64::instructions::interrupts::enable();
    let mut done = 0;
    loop {
        // Sleep until `run_on_all` wakes this CPU (or a shootdown IPI
        // arrives); checking with interrupts off, then `sti; hlt`, so a
        // wake-up between the check and the halt is not lost.
        x86_64::instructions::interrupts::disable();
        let gen = WORK_GEN.load(Ordering::Acquire);
        if gen == done {
            x86_64::instructions::interrupts::enable_and_hlt();
            continue;
        }
        x86_64::instructions::interrupts::enable();
        let work = WORK.load(Ordering::Acquire);
        // SAFETY: `run_on_all` stores only `fn(usize)` pointers, before it
        // bumps the generation (Release, read above with Acquire).
        let f: fn(usize) = unsafe { core::mem::transmute::<usize, fn(usize)>(work) };
        f(cpu);
        done = gen;
        WORK_DONE.fetch_add(1, Ordering::AcqRel);
    }
}

/// Runs `f(cpu)` on every CPU at once (the boot CPU included) and returns
/// when all have finished.
pub fn run_on_all(f: fn(usize)) {
    let aps = online() - 1;
    WORK_DONE.store(0, Ordering::Release);
    WORK.store(f as usize, Ordering::Release);
    WORK_GEN.fetch_add(1, Ordering::AcqRel);
    for cpu in 1..online() {
        apic::send_ipi(apic_id(cpu), WAKE_VECTOR);
    }
    f(0);
    while WORK_DONE.load(Ordering::Acquire) < aps {
        core::hint::spin_loop();
    }
}
