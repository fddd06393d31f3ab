//! The kernel's vmalloc, on `vmarea` used as an outside kernel would: a
//! `static` `SharedSpace` behind the kernel's own spinlock, area objects
//! from a `static` `AreaPool`, real page tables, lazy frees whose TLB
//! flushes the crate's flush hook drives, and `vfree_atomic` from the timer
//! interrupt through the crate's deferred free.

use crate::memory::{memory, PAGE};
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use vmarea::{AreaPool, Flags, Handle, Policy, PurgeBatch, Request, SharedSpace};
use x86_64::structures::paging::Page;
use x86_64::VirtAddr;

/// 32 TiB in the higher half: PML4 entries 416..480.
pub const VMALLOC_START: usize = 0xffff_d000_0000_0000;
pub const VMALLOC_END: usize = VMALLOC_START + (32 << 40);
const PML4_FIRST: usize = (VMALLOC_START >> 39) & 0x1ff;
const PML4_COUNT: usize = (VMALLOC_END - VMALLOC_START) >> 39;
const P: usize = PAGE as usize;

/// The kernel's spinlock (test-and-test-and-set), plugged in through
/// `lock_api`. It does not disable interrupts: interrupt handlers never take
/// it (they free through `free_deferred`, which is lock-free).
pub struct KernelSpin(AtomicBool);

// SAFETY: a successful false→true exchange (Acquire) gives exclusive
// ownership until the Release store in `unlock`.
unsafe impl lock_api::RawMutex for KernelSpin {
    #[allow(clippy::declare_interior_mutable_const)]
    const INIT: Self = KernelSpin(AtomicBool::new(false));
    type GuardMarker = lock_api::GuardNoSend;
    fn lock(&self) {
        while !self.try_lock() {
            while self.0.load(Ordering::Relaxed) {
                core::hint::spin_loop();
            }
        }
    }
    fn try_lock(&self) -> bool {
        self.0
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
    }
    unsafe fn unlock(&self) {
        self.0.store(false, Ordering::Release);
    }
}

const AREAS_MAX: usize = 32 * 1024;
static AREAS: AreaPool<AREAS_MAX> = AreaPool::new();

pub static VMALLOC: SharedSpace<KernelSpin, &AreaPool<AREAS_MAX>> = SharedSpace::new_const(
    <KernelSpin as lock_api::RawMutex>::INIT,
    VMALLOC_START,
    VMALLOC_END,
    P,
    Policy::FirstFit,
    &AREAS,
);

/// What the flush hook did.
pub static FLUSH_CALLS: AtomicUsize = AtomicUsize::new(0);
pub static FLUSHED_PAGES: AtomicUsize = AtomicUsize::new(0);
pub static FULL_FLUSHES: AtomicUsize = AtomicUsize::new(0);
/// Above this many pages a purge reloads CR3 instead of `invlpg` per page.
const FULL_FLUSH_PAGES: usize = 256;

/// The crate's flush hook: runs with the space's lock held, before the
/// purged ranges can be allocated again.
fn flush_tlb(batch: &PurgeBatch<'_>) {
    let pages = batch.bytes() / P;
    if pages > FULL_FLUSH_PAGES {
        x86_64::instructions::tlb::flush_all();
        FULL_FLUSHES.fetch_add(1, Ordering::Relaxed);
    } else {
        for (start, end) in batch.ranges() {
            for p in (start..end).step_by(P) {
                x86_64::instructions::tlb::flush(VirtAddr::new(p as u64));
            }
        }
    }
    FLUSH_CALLS.fetch_add(1, Ordering::Relaxed);
    FLUSHED_PAGES.fetch_add(pages, Ordering::Relaxed);
}

pub fn init() -> Result<(), &'static str> {
    if !memory().pml4_free(PML4_FIRST, PML4_COUNT) {
        return Err("the vmalloc region overlaps a bootloader mapping");
    }
    let mut g = VMALLOC.lock();
    g.set_flush_hook(Some(flush_tlb));
    // Small enough that some purges flush page by page, some reload CR3.
    g.set_lazy_threshold(1 << 20);
    Ok(())
}

fn pages(start: usize, len: usize) -> impl Iterator<Item = Page> {
    (start..start + len)
        .step_by(P)
        .map(|a| Page::containing_address(VirtAddr::new(a as u64)))
}

/// A mapped allocation.
#[derive(Clone, Copy)]
pub struct Vm {
    pub addr: usize,
    pub usable: usize,
    pub handle: Handle,
}

/// `vmalloc`: an area (guard page included) with every usable page mapped
/// to a fresh frame.
pub fn vmalloc_align(size: usize, align: usize) -> Option<Vm> {
    let req = Request {
        size,
        align,
        flags: Flags::ALLOC,
        tag: 0,
        lo: VMALLOC_START,
        hi: VMALLOC_END,
    };
    let (a, handle) = VMALLOC.alloc(&req).ok()?;
    let mut mem = memory();
    for (i, page) in pages(a.addr, a.usable()).enumerate() {
        if !mem.map(page) {
            for page in pages(a.addr, i * P) {
                mem.unmap(page);
            }
            drop(mem);
            VMALLOC.free(a.addr).ok();
            return None;
        }
    }
    Some(Vm {
        addr: a.addr,
        usable: a.usable(),
        handle,
    })
}

pub fn vmalloc(size: usize) -> Option<Vm> {
    vmalloc_align(size, 0)
}

fn unmap(v: &Vm) {
    let mut mem = memory();
    for page in pages(v.addr, v.usable) {
        mem.unmap(page);
    }
}

/// `vfree`: unmap (no flush), give the frames back, free the area lazily;
/// the flush hook flushes before the range is reused.
pub fn vfree(v: Vm) {
    unmap(&v);
    if VMALLOC.lock().free_lazy(v.addr).is_err() {
        crate::fail(format_args!("vfree({:#x}) refused", v.addr));
    }
}

/// Areas whose free the timer interrupt performs (`vfree_atomic`).
static FROM_IRQ: spin::Mutex<([Option<Handle>; 64], usize)> = spin::Mutex::new(([None; 64], 0));
pub static IRQ_FREES: AtomicUsize = AtomicUsize::new(0);

/// `vfree_atomic`: unmap now, and let the next timer interrupt free the area
/// through the crate's deferred free. False when the queue is full.
pub fn vfree_from_irq(v: Vm) -> bool {
    x86_64::instructions::interrupts::without_interrupts(|| {
        let mut q = FROM_IRQ.lock();
        if q.1 == q.0.len() {
            return false;
        }
        unmap(&v);
        let n = q.1;
        q.0[n] = Some(v.handle);
        q.1 += 1;
        true
    })
}

/// Areas queued for the interrupt and not yet freed by it.
pub fn irq_queue_len() -> usize {
    x86_64::instructions::interrupts::without_interrupts(|| FROM_IRQ.lock().1)
}

/// From the timer interrupt: free what is queued, without taking the space's
/// lock (the interrupted code may hold it).
pub fn on_timer() {
    // The main path touches the queue only with interrupts off.
    let Some(mut q) = FROM_IRQ.try_lock() else {
        return;
    };
    while q.1 > 0 {
        q.1 -= 1;
        let n = q.1;
        if let Some(h) = q.0[n].take() {
            // SAFETY: each queued handle names a live area of VMALLOC,
            // queued once, and freed by nothing else.
            unsafe { VMALLOC.free_deferred(h) };
            IRQ_FREES.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Set by the guard-page test just before it touches a guard page.
pub static EXPECT_GUARD_FAULT: AtomicBool = AtomicBool::new(false);

pub fn on_page_fault(addr: usize, code: u64, ip: u64) -> ! {
    let guard_of = VMALLOC
        .find(addr)
        .filter(|a| a.guard > 0 && addr >= a.end() - a.guard);
    match guard_of {
        Some(a) if EXPECT_GUARD_FAULT.load(Ordering::Relaxed) => {
            crate::println!(
                "page fault at {addr:#x}: guard page of the area {:#x}-{:#x} (expected)",
                a.addr,
                a.end()
            );
            crate::finish()
        }
        Some(a) => crate::fail(format_args!(
            "page fault at {addr:#x} (ip {ip:#x}): guard page of {:#x}-{:#x}, unexpected",
            a.addr,
            a.end()
        )),
        None => crate::fail(format_args!(
            "page fault at {addr:#x} (ip {ip:#x}, error {code:#x}): not a guard page"
        )),
    }
}

/// Fills `v`'s usable bytes with a pattern derived from its address.
pub fn fill(v: &Vm) {
    let words = v.usable / 8;
    let p = v.addr as *mut u64;
    for i in 0..words {
        // SAFETY: the usable pages are mapped writable and ours.
        unsafe {
            p.add(i)
                .write_volatile((v.addr as u64) ^ (i as u64).wrapping_mul(0x9E37_79B9))
        };
    }
}

/// Checks the pattern `fill` wrote.
pub fn check(v: &Vm) -> bool {
    let words = v.usable / 8;
    let p = v.addr as *const u64;
    (0..words).all(|i| {
        // SAFETY: as in `fill`.
        unsafe {
            p.add(i).read_volatile() == (v.addr as u64) ^ (i as u64).wrapping_mul(0x9E37_79B9)
        }
    })
}
