//! The kernel's vmalloc, on `vmarea` used as an outside kernel would: a
//! `static` `SharedSpace` behind the kernel's own spinlock, area objects
//! from a `static` `AreaPool`, real page tables, lazy frees whose TLB
//! flushes the crate's flush hook drives, and `vfree_atomic` from the timer
//! interrupt through the crate's deferred free.

use crate::memory::{memory, PAGE};
use crate::shootdown;
use crate::smp::MAX_CPUS;
use core::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use vmarea::{
    AreaPool, Cached, Flags, Handle, MappedRam, Policy, PurgeBatch, Request, SharedSpace,
};
use x86_64::structures::paging::Page;
use x86_64::VirtAddr;

/// 32 TiB in the higher half: PML4 entries 416..480.
pub const VMALLOC_START: usize = 0xffff_d000_0000_0000;
pub const VMALLOC_END: usize = VMALLOC_START + (32 << 40);
/// The sharded space's 8 TiB right above it (`sharded.rs`): PML4 entries
/// 480..496.
pub const SHARDED_START: usize = VMALLOC_END;
pub const SHARDED_END: usize = SHARDED_START + (8 << 40);
const PML4_FIRST: usize = (VMALLOC_START >> 39) & 0x1ff;
const PML4_COUNT: usize = (SHARDED_END - VMALLOC_START) >> 39;
const P: usize = PAGE as usize;

/// The kernel's spinlock (test-and-test-and-set), plugged in through
/// `lock_api`. It does not disable interrupts: interrupt handlers never take
/// it (they free through `free_deferred`, which is lock-free), and no flush
/// runs under it (the crate flushes with it released). It counts, per CPU,
/// its acquisitions, the contended ones, and how long it was held.
pub struct KernelSpin {
    locked: AtomicBool,
    /// `rdtsc` when it was taken.
    since: AtomicU64,
}

/// Per CPU: acquisitions of the space's lock, those that found it held,
/// and the longest and total hold in cycles.
pub static LOCK_ACQUIRES: [AtomicU64; MAX_CPUS] = [const { AtomicU64::new(0) }; MAX_CPUS];
pub static LOCK_CONTENDED: [AtomicU64; MAX_CPUS] = [const { AtomicU64::new(0) }; MAX_CPUS];
pub static LOCK_HOLD_MAX: [AtomicU64; MAX_CPUS] = [const { AtomicU64::new(0) }; MAX_CPUS];
pub static LOCK_HOLD_SUM: [AtomicU64; MAX_CPUS] = [const { AtomicU64::new(0) }; MAX_CPUS];

/// Zeroes the lock statistics.
pub fn reset_lock_stats() {
    for c in [
        &LOCK_ACQUIRES,
        &LOCK_CONTENDED,
        &LOCK_HOLD_MAX,
        &LOCK_HOLD_SUM,
    ] {
        for x in c {
            x.store(0, Ordering::Relaxed);
        }
    }
}

impl KernelSpin {
    fn grab(&self) -> bool {
        self.locked
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
    }
    fn taken(&self, contended: bool) {
        let cpu = crate::smp::cpu();
        LOCK_ACQUIRES[cpu].fetch_add(1, Ordering::Relaxed);
        if contended {
            LOCK_CONTENDED[cpu].fetch_add(1, Ordering::Relaxed);
        }
        self.since.store(crate::arch::rdtsc(), Ordering::Relaxed);
    }
}

// SAFETY: a successful false→true exchange (Acquire) gives exclusive
// ownership until the Release store in `unlock`.
unsafe impl lock_api::RawMutex for KernelSpin {
    #[allow(clippy::declare_interior_mutable_const)]
    const INIT: Self = KernelSpin {
        locked: AtomicBool::new(false),
        since: AtomicU64::new(0),
    };
    type GuardMarker = lock_api::GuardNoSend;
    fn lock(&self) {
        let mut contended = false;
        while !self.grab() {
            contended = true;
            while self.locked.load(Ordering::Relaxed) {
                core::hint::spin_loop();
            }
        }
        self.taken(contended);
    }
    fn try_lock(&self) -> bool {
        let got = self.grab();
        if got {
            self.taken(false);
        }
        got
    }
    unsafe fn unlock(&self) {
        let held = crate::arch::rdtsc().saturating_sub(self.since.load(Ordering::Relaxed));
        let cpu = crate::smp::cpu();
        LOCK_HOLD_SUM[cpu].fetch_add(held, Ordering::Relaxed);
        LOCK_HOLD_MAX[cpu].fetch_max(held, Ordering::Relaxed);
        self.locked.store(false, Ordering::Release);
    }
}

pub const AREAS_MAX: usize = 32 * 1024;
pub static AREAS: AreaPool<AREAS_MAX> = AreaPool::new();

/// The kernel's vmalloc space.
pub type KernelSpace = vmarea::StaticShared<KernelSpin, AREAS_MAX>;
/// A per-CPU cache over it.
pub type KernelCache = vmarea::StaticCache<KernelSpin, AREAS_MAX>;

pub static VMALLOC: KernelSpace = SharedSpace::const_new(
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

/// The crate's flush hook: runs with the space's lock released (the crate
/// detaches the batch, flushes, then merges), before the purged ranges can
/// be allocated again. Flushes each purged range here (or reloads CR3 above
/// a threshold), then the span on the other CPUs through the shootdown IPI,
/// as Linux's `flush_tlb_kernel_range` does: one IPI per other CPU per
/// purge, for the lazy frees and the per-CPU caches' frees together.
pub fn flush_tlb(batch: &PurgeBatch<'_>) {
    FLUSH_CALLS.fetch_add(1, Ordering::Relaxed);
    if cfg!(feature = "sabotage-no-flush") {
        // CI's sabotage build: the run must fail (stale TLB entries).
        return;
    }
    let pages = batch.bytes() / P;
    if pages > shootdown::FULL_FLUSH_PAGES {
        x86_64::instructions::tlb::flush_all();
        shootdown::FULL_FLUSHES.fetch_add(1, Ordering::Relaxed);
    } else {
        for (start, end) in batch.ranges() {
            shootdown::flush_local(start, end);
        }
    }
    if let Some((start, end)) = batch.span() {
        shootdown::flush_remote(start, end);
    }
    FLUSHED_PAGES.fetch_add(pages, Ordering::Relaxed);
}

/// Linux's `lazy_max_pages()`: 32 MiB of lazily freed ranges per
/// `fls(number of CPUs)` before a purge, so more CPUs flush in bigger
/// batches.
pub const LAZY_MAX: usize = (32 << 20) * (usize::BITS - crate::smp::CPUS.leading_zeros()) as usize;

pub fn init() -> Result<(), &'static str> {
    if !memory().pml4_free(PML4_FIRST, PML4_COUNT) {
        return Err("the vmalloc regions overlap a bootloader mapping");
    }
    let mut g = VMALLOC.lock();
    g.set_flush_hook(Some(flush_tlb));
    g.set_lazy_threshold(LAZY_MAX);
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
        phase: 0,
        nocross: 0,
    };
    let (a, handle) = VMALLOC.alloc_handle(&req).ok()?;
    map_new(a, handle, |addr| {
        VMALLOC.free(addr).ok();
    })
}

/// Maps a fresh frame at every usable page of the new area `a`; if frames
/// run out, unmaps what it mapped and gives the area back with `undo`.
pub fn map_new(a: vmarea::AreaInfo, handle: Handle, undo: impl FnOnce(usize)) -> Option<Vm> {
    let mut mem = memory();
    for (i, page) in pages(a.addr, a.usable()).enumerate() {
        if !mem.map(page) {
            for page in pages(a.addr, i * P) {
                mem.unmap(page);
            }
            drop(mem);
            undo(a.addr);
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

/// Areas the kernel keeps for its whole life (the APIC mapping, per-CPU
/// stacks): the cases check the space holds exactly these between cases.
pub static PERMANENT: AtomicUsize = AtomicUsize::new(0);

/// A `vmalloc` never freed (a stack): counted in [`PERMANENT`].
pub fn vmalloc_forever(size: usize) -> Option<Vm> {
    let v = vmalloc(size)?;
    PERMANENT.fetch_add(1, Ordering::Relaxed);
    Some(v)
}

/// `ioremap`: an `IOREMAP` area (guard page included) mapping `size` bytes
/// of device memory at `phys`, uncached. Never unmapped here.
pub fn ioremap(phys: u64, size: usize) -> Option<usize> {
    let req = Request {
        size,
        align: 0,
        flags: Flags::IOREMAP,
        tag: 0,
        lo: VMALLOC_START,
        hi: VMALLOC_END,
        phase: 0,
        nocross: 0,
    };
    let a = VMALLOC.alloc_request(&req).ok()?;
    let mut mem = memory();
    for (i, page) in pages(a.addr, a.usable()).enumerate() {
        if !mem.map_device(page, phys + (i * P) as u64) {
            crate::fail(format_args!("ioremap({phys:#x}) cannot map"));
        }
    }
    PERMANENT.fetch_add(1, Ordering::Relaxed);
    Some(a.addr)
}

/// Unmaps `v`'s usable pages (no flush) and gives their frames back.
pub fn unmap(v: &Vm) {
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
            IRQ_FREES.fetch_add(1, Ordering::Relaxed);
            if cfg!(feature = "sabotage-no-deferred") {
                // CI's sabotage build: the area is never freed; the run
                // must fail (the space is not whole at the end).
                continue;
            }
            // SAFETY: each queued handle names a live area of VMALLOC,
            // queued once, and freed by nothing else.
            unsafe { VMALLOC.free_deferred(h) };
        }
    }
}

/// Set by the guard-page test just before it touches a guard page.
pub static EXPECT_GUARD_FAULT: AtomicBool = AtomicBool::new(false);

/// Set by the CPU that takes the space's lock for good before the
/// guard-page test.
pub static LOCK_HELD_FOR_GOOD: AtomicBool = AtomicBool::new(false);

/// Looks the faulting address up with `find_fault`: under the space's busy
/// lock only, never its lock, which another CPU may hold while it waits for
/// this one (the guard-page test holds it on CPU 1 for good).
pub fn on_page_fault(addr: usize, code: u64, ip: u64) -> ! {
    let found = if cfg!(feature = "sabotage-fault-takes-lock") {
        // CI's sabotage build: the lookup waits for CPU 1, which never
        // lets go; the watchdog CPU fails the run.
        Ok(VMALLOC.find(addr))
    } else {
        VMALLOC.find_fault(addr)
    };
    let guard_of = found
        .unwrap_or_else(|e| crate::fail(format_args!("find_fault: {e}")))
        .filter(|a| a.guard > 0 && addr >= a.end() - a.guard);
    match guard_of {
        Some(a) if EXPECT_GUARD_FAULT.load(Ordering::Relaxed) => {
            let held = if LOCK_HELD_FOR_GOOD.load(Ordering::SeqCst) {
                "held by CPU 1"
            } else {
                "free: one CPU"
            };
            crate::println!(
                "page fault at {addr:#x}: guard page of the area {:#x}-{:#x} (expected; found with the space's lock {held})",
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
    fill_range(v.addr, v.usable);
}

/// Checks the pattern `fill` wrote.
pub fn check(v: &Vm) -> bool {
    check_range(v.addr, v.usable)
}

fn pattern(addr: usize, i: usize) -> u64 {
    (addr as u64) ^ (i as u64).wrapping_mul(0x9E37_79B9)
}

/// Fills the mapped bytes `[addr, addr + len)` with the pattern.
pub fn fill_range(addr: usize, len: usize) {
    let p = addr as *mut u64;
    for i in 0..len / 8 {
        // SAFETY: the caller's mapped, writable, exclusively owned pages.
        unsafe { p.add(i).write_volatile(pattern(addr, i)) };
    }
}

/// Checks the pattern `fill_range` wrote.
pub fn check_range(addr: usize, len: usize) -> bool {
    let p = addr as *const u64;
    (0..len / 8).all(|i| {
        // SAFETY: as in `fill_range`.
        unsafe { p.add(i).read_volatile() == pattern(addr, i) }
    })
}

/// Per-CPU caches: areas of up to 8 pages (guard included) without the
/// space's lock. An area goes back to the cache unmapped and *not*
/// flushed: the cache keeps it dirty until a purge's flush hook has
/// flushed it (with the lazy frees, one shootdown per purge), so no free
/// sends an IPI.
pub static CACHES: [spin::Mutex<KernelCache>; MAX_CPUS] =
    [const { spin::Mutex::new(vmarea::CpuCache::new(&VMALLOC, Flags::ALLOC)) }; MAX_CPUS];

/// An area from CPU `cpu`'s cache with its usable pages mapped.
pub fn vmalloc_cached(cpu: usize, size: usize) -> Option<Cached<'static>> {
    map_cached(&CACHES[cpu], size)
}

/// An area from `cache` with its usable pages mapped (given back to it,
/// dirty, if frames run out).
pub fn map_cached(cache: &spin::Mutex<KernelCache>, size: usize) -> Option<Cached<'static>> {
    let c = cache.lock().alloc(size).ok()?;
    let mut mem = memory();
    for (i, page) in pages(c.addr(), c.usable()).enumerate() {
        if !mem.map(page) {
            for page in pages(c.addr(), i * P) {
                mem.unmap(page);
            }
            drop(mem);
            free_to(cache, c);
            return None;
        }
    }
    Some(c)
}

/// Unmaps a cached area (no flush, no IPI) and gives it to CPU `cpu`'s
/// cache (whichever CPU's cache served it), dirty until the next purge.
pub fn vunmap_cached(cpu: usize, c: Cached<'static>) {
    unmap_cached(&c);
    free_to(&CACHES[cpu], c);
}

/// Unmaps a cached area's usable pages (no flush).
pub fn unmap_cached(c: &Cached<'static>) {
    let mut mem = memory();
    for page in pages(c.addr(), c.usable()) {
        mem.unmap(page);
    }
}

/// Gives `c` to `cache`, dirty.
pub fn free_to(cache: &spin::Mutex<KernelCache>, c: Cached<'static>) {
    if let Err(e) = cache.lock().free(c) {
        crate::fail(format_args!("cache free refused: {e}"));
    }
}

/// Per-CPU `vm_map_ram` blocks, each behind a lock of its own (Linux's
/// per-block spinlock), so a mapping can be unmapped from any CPU.
pub type KernelBlocks = vmarea::StaticBlocks<KernelSpin, AREAS_MAX>;
pub static BLOCKS: [spin::Mutex<KernelBlocks>; MAX_CPUS] =
    [const { spin::Mutex::new(vmarea::VmapBlocks::new(&VMALLOC)) }; MAX_CPUS];

/// `vm_map_ram`: `count` fresh frames mapped at a piece of CPU `cpu`'s
/// blocks (or an area of its own above the block limit).
pub fn vm_map_ram(cpu: usize, count: usize) -> Option<MappedRam<'static>> {
    let m = BLOCKS[cpu].lock().map(count * P).ok()?;
    let mut mem = memory();
    for (i, page) in pages(m.addr(), count * P).enumerate() {
        if !mem.map(page) {
            for page in pages(m.addr(), i * P) {
                mem.unmap(page);
            }
            drop(mem);
            vm_unmap_ram_pages(cpu, m, 0);
            return None;
        }
    }
    Some(m)
}

/// `vm_unmap_ram`: unmaps the `count` pages without a flush and gives the
/// piece back dirty; the flush hook flushes its whole block before any of
/// it is reused.
pub fn vm_unmap_ram(cpu: usize, m: MappedRam<'static>, count: usize) {
    {
        let mut mem = memory();
        for page in pages(m.addr(), count * P) {
            mem.unmap(page);
        }
    }
    vm_unmap_ram_pages(cpu, m, count);
}

fn vm_unmap_ram_pages(cpu: usize, m: MappedRam<'static>, count: usize) {
    if let Err(e) = BLOCKS[cpu].lock().unmap(m) {
        crate::fail(format_args!("vm_unmap_ram of {count} pages refused: {e}"));
    }
}
