//! A bare-metal x86_64 kernel that uses `vmarea` and `intrusive-avl`
//! unmodified, through their public API only: vmalloc over real page
//! tables in a 32 TiB higher-half region, TLB flushes from the crate's
//! flush hook, frees from the timer interrupt through the deferred free,
//! the test_vmalloc cases, a guard-page fault, and a tree of mapped regions.
//! Exits QEMU through `isa-debug-exit`: 33 = pass.
#![no_std]
#![no_main]
#![feature(abi_x86_interrupt)]

mod apic;
mod arch;
mod cases;
mod memory;
mod regions;
mod serial;
mod sharded;
mod shootdown;
mod smp;
mod stress;
mod vmalloc;

use bootloader_api::config::{BootloaderConfig, Mapping};
use bootloader_api::{entry_point, BootInfo};
use core::sync::atomic::{AtomicUsize, Ordering};

pub static BOOTLOADER_CONFIG: BootloaderConfig = {
    let mut config = BootloaderConfig::new_default();
    config.mappings.physical_memory = Some(Mapping::Dynamic);
    // The cases keep thousands of live areas in arrays on the stack.
    config.kernel_stack_size = 1 << 20;
    config
};

entry_point!(kmain, config = &BOOTLOADER_CONFIG);

fn kmain(boot: &'static mut BootInfo) -> ! {
    serial::Serial::init();
    println!("vmarea test kernel: booted");
    let phys = boot
        .physical_memory_offset
        .into_option()
        .unwrap_or_else(|| fail(format_args!("no physical memory map")));
    memory::init(phys, &boot.memory_regions);
    if let Err(e) = vmalloc::init() {
        fail(format_args!("{e}"));
    }
    println!(
        "vmalloc: {:#x}-{:#x} (32 TiB), FirstFit, area objects from a static pool; a sharded space (8 TiB) above it",
        vmalloc::VMALLOC_START,
        vmalloc::VMALLOC_END
    );
    arch::init();
    if let Err(e) = apic::map().and_then(|()| {
        apic::enable();
        smp::start_aps()
    }) {
        fail(format_args!("{e}"));
    }
    let cases_ok = cases::run_all();
    let stress_ok = stress::run(&stress::SHARED) & stress::run(&stress::SHARDED);
    let regions_ok = regions::run();
    println!(
        "intrusive-avl region tree: {}",
        if regions_ok { "ok" } else { "FAILED" }
    );
    // Purge what is still lazy, so the flush hook runs at least once more.
    let purged = vmalloc::VMALLOC.lock().purge();
    println!(
        "flush hook: {} calls, {} pages flushed, {} full CR3 reloads; last purge {} areas",
        vmalloc::FLUSH_CALLS.load(Ordering::Relaxed),
        vmalloc::FLUSHED_PAGES.load(Ordering::Relaxed),
        shootdown::FULL_FLUSHES.load(Ordering::Relaxed),
        purged
    );
    println!(
        "TLB shootdown IPIs: {} sent, {} handled",
        shootdown::IPIS_SENT.load(Ordering::Relaxed),
        shootdown::IPIS_HANDLED.load(Ordering::Relaxed)
    );
    println!(
        "interrupt-context frees (vfree_atomic through free_deferred): {}",
        vmalloc::IRQ_FREES.load(Ordering::Relaxed)
    );
    {
        let g = vmalloc::VMALLOC.lock();
        let st = g.stats();
        let permanent = vmalloc::PERMANENT.load(Ordering::Relaxed);
        println!(
            "space: valid={} used={} (kept for life: the APIC mapping and the stacks: {permanent}) lazy={} free ranges={} largest free={:#x}",
            g.validate().is_ok(),
            st.used_areas,
            st.lazy_areas,
            st.free_ranges,
            st.largest_free
        );
        if g.validate().is_err() || st.used_areas != permanent || st.lazy_areas != 0 {
            for a in g.used().take(permanent + 8) {
                println!(
                    "  used {:#x} size {:#x} flags {:?} cached {}",
                    a.addr, a.size, a.flags, a.cached
                );
            }
            drop(g);
            fail(format_args!("the space is not whole at the end"));
        }
    }
    if !cases_ok || !stress_ok || !regions_ok || vmalloc::IRQ_FREES.load(Ordering::Relaxed) == 0 {
        fail(format_args!("a test failed"));
    }
    if vmalloc::FLUSH_CALLS.load(Ordering::Relaxed) == 0 {
        fail(format_args!("the flush hook never ran"));
    }
    let sent = shootdown::IPIS_SENT.load(Ordering::Relaxed);
    if sent == 0 || sent != shootdown::IPIS_HANDLED.load(Ordering::Relaxed) {
        fail(format_args!("TLB shootdowns were not all sent and handled"));
    }
    // Last: touch a guard page on purpose while CPU 1 holds the space's
    // lock (and never lets go): the fault handler must see a guard-page hit
    // through `find_fault`, which never takes that lock, and finishes the
    // run. A handler that took the lock would hang, and the run time out.
    let v =
        vmalloc::vmalloc(4096).unwrap_or_else(|| fail(format_args!("vmalloc for the guard test")));
    GUARD_TEST_ADDR.store(v.addr + v.usable, Ordering::SeqCst);
    smp::run_on_all(guard_fault_with_the_lock_held_elsewhere);
    fail(format_args!("the guard page did not fault"))
}

/// The guard page `guard_fault_with_the_lock_held_elsewhere` touches.
static GUARD_TEST_ADDR: AtomicUsize = AtomicUsize::new(0);

/// Cycles the guard-page fault may take before the watchdog fails the run
/// (its handler needs well under 10^7, even under TCG).
const GUARD_FAULT_WATCHDOG: u64 = 5_000_000_000;

/// On every CPU at once: CPU 1 (or none, with one CPU) takes the space's
/// lock and holds it for good; the boot CPU, once it is held, touches the
/// guard page; CPU 2, if there is one, fails the run if the fault is not
/// answered in time (a handler waiting on the lock would never answer).
/// The other CPUs return.
fn guard_fault_with_the_lock_held_elsewhere(cpu: usize) {
    if cpu == 2 {
        while !vmalloc::EXPECT_GUARD_FAULT.load(Ordering::SeqCst) {
            core::hint::spin_loop();
        }
        let t0 = arch::rdtsc();
        while arch::rdtsc() - t0 < GUARD_FAULT_WATCHDOG {
            core::hint::spin_loop();
        }
        fail(format_args!(
            "the guard-page fault was not answered within {GUARD_FAULT_WATCHDOG} cycles while CPU 1 held the space's lock"
        ));
    }
    let holder = usize::from(smp::online() > 1);
    if cpu == holder && cpu != 0 {
        let g = vmalloc::VMALLOC.lock();
        vmalloc::LOCK_HELD_FOR_GOOD.store(true, Ordering::SeqCst);
        core::mem::forget(g);
        loop {
            core::hint::spin_loop();
        }
    }
    if cpu != 0 {
        return;
    }
    while holder != 0 && !vmalloc::LOCK_HELD_FOR_GOOD.load(Ordering::SeqCst) {
        core::hint::spin_loop();
    }
    let addr = GUARD_TEST_ADDR.load(Ordering::SeqCst);
    println!("touching the guard page at {addr:#x}");
    vmalloc::EXPECT_GUARD_FAULT.store(true, Ordering::SeqCst);
    // SAFETY: deliberately faults: the page after the usable one is the
    // unmapped guard page; the page-fault handler ends the run.
    unsafe { (addr as *const u8).read_volatile() };
}

/// Ends the run as a pass (after the guard-page fault).
pub fn finish() -> ! {
    println!("vmarea test kernel: all tests passed");
    arch::exit_qemu(arch::PASS)
}

pub fn fail(why: core::fmt::Arguments<'_>) -> ! {
    println!("FAIL: {why}");
    arch::exit_qemu(arch::FAIL)
}

/// Spins (interrupts on) until `done`, for at most about a second of ticks.
pub fn wait_until(done: impl Fn() -> bool) {
    let start = arch::TICKS.load(Ordering::Relaxed);
    while !done() && arch::TICKS.load(Ordering::Relaxed) < start + 1000 {
        x86_64::instructions::hlt();
    }
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    fail(format_args!("panic: {info}"))
}
