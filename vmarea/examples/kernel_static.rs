//! The whole kernel-style setup, from this crate alone: `no_std`, no
//! `alloc`, no `static mut`, nothing built on a stack, and no `unsafe` but
//! the kernel's own lock and the deferred free's handle contract.
//!
//! - a static pool of area objects ([`AreaPool`], sized by its rule: one
//!   object per live area and per free range between them, plus the
//!   caches' magazines);
//! - a static vmalloc space behind the kernel's own spinlock (here a
//!   `lock_api` lock counting acquisitions), built by a `const fn`;
//! - a TLB-flush hook that sees every purge batch before any of it is
//!   reused, called with the space's lock released;
//! - per-CPU caches in a static array, each behind its own lock (a kernel
//!   indexes it by the current CPU with preemption disabled);
//! - `vmalloc`/`vfree` (lazy), `vfree_atomic` for interrupt context (the
//!   lock-free deferred free), small allocations through a CPU's cache,
//!   and the page-fault handler's lookup, which never takes the space's
//!   lock.
//!
//! It builds for a kernel target (`cargo build -p vmarea --example
//! kernel_static --target x86_64-unknown-none --no-default-features`,
//! checked in CI): there `_start` runs the same steps. On the host,
//! `cargo run -p vmarea --example kernel_static` runs them and prints what
//! they did. What a kernel adds around it (frames, page tables, the real
//! flush and shootdown) is the kernel's: `docs/kernel.md` in the
//! repository shows a booting one.
#![cfg_attr(target_os = "none", no_std, no_main)]

use core::sync::atomic::{AtomicUsize, Ordering};
use vmarea::{
    AreaInfo, AreaPool, Cached, CpuCache, Error, Flags, Handle, Policy, PurgeBatch, RawSpinlock,
    SharedSpace, SpinMutex,
};

/// The kernel's own lock: here the crate's spinlock, counting
/// acquisitions (a kernel would also disable preemption in it).
pub struct KernelLock {
    inner: RawSpinlock,
    taken: AtomicUsize,
}

// SAFETY: forwards to `RawSpinlock`, whose acquire/release pair is a
// correct mutual exclusion (Acquire on lock, Release on unlock).
unsafe impl lock_api::RawMutex for KernelLock {
    #[allow(clippy::declare_interior_mutable_const)]
    const INIT: Self = KernelLock {
        inner: RawSpinlock::new(),
        taken: AtomicUsize::new(0),
    };
    type GuardMarker = lock_api::GuardNoSend;
    fn lock(&self) {
        self.inner.acquire();
        self.taken.fetch_add(1, Ordering::Relaxed);
    }
    fn try_lock(&self) -> bool {
        self.inner.try_acquire()
    }
    unsafe fn unlock(&self) {
        // SAFETY: forwarded contract: the caller holds the lock.
        unsafe { self.inner.release() }
    }
}

/// Page size.
pub const PAGE: usize = 4096;
/// First address of the vmalloc region (x86-64, 4-level paging).
pub const VMALLOC_START: usize = 0xffff_c900_0000_0000;
/// One past the last: 32 TiB.
pub const VMALLOC_END: usize = VMALLOC_START + (32 << 40);
/// Area objects for the whole kernel (see `AreaPool`'s sizing rule).
pub const AREAS_MAX: usize = 4096;
/// CPUs this kernel supports.
pub const NR_CPUS: usize = 2;

/// The space's node source: the static pool.
type Areas = &'static AreaPool<AREAS_MAX>;

static AREAS: AreaPool<AREAS_MAX> = AreaPool::new();

static VMALLOC: SharedSpace<KernelLock, Areas> = SharedSpace::const_new(
    <KernelLock as lock_api::RawMutex>::INIT,
    VMALLOC_START,
    VMALLOC_END,
    PAGE,
    Policy::FirstFit,
    &AREAS,
);

static PER_CPU: [SpinMutex<CpuCache<'static, KernelLock, Areas>>; NR_CPUS] = [
    SpinMutex::new(CpuCache::new(&VMALLOC, Flags::ALLOC)),
    SpinMutex::new(CpuCache::new(&VMALLOC, Flags::ALLOC)),
];

/// Pages the flush hook was asked to flush (a kernel would `invlpg` each,
/// or reload CR3 above a threshold, then shoot down the other CPUs).
static FLUSHED_PAGES: AtomicUsize = AtomicUsize::new(0);

/// The flush hook: runs with the space's lock released, so it may wait
/// for other CPUs while they spin on that lock.
fn flush_tlb(batch: &PurgeBatch<'_>) {
    FLUSHED_PAGES.fetch_add(batch.bytes() / PAGE, Ordering::Relaxed);
}

/// Boot-time setup: the flush hook and the lazy-purge threshold
/// (`lazy_max_pages`: 32 MiB × fls(CPUs)).
pub fn vmalloc_init() {
    let mut g = VMALLOC.lock();
    g.set_flush_hook(Some(flush_tlb));
    g.set_lazy_threshold((32 << 20) * (usize::BITS - NR_CPUS.leading_zeros()) as usize);
}

/// Allocates `size` bytes of address space (a guard page follows); the
/// handle is for [`vfree_atomic`].
pub fn vmalloc(size: usize) -> Result<(AreaInfo, Handle), Error> {
    VMALLOC.alloc_handle(&VMALLOC.request(size))
}

/// Frees lazily: the range is reused only after `flush_tlb` saw it.
pub fn vfree(addr: usize) -> Result<AreaInfo, Error> {
    VMALLOC.free_lazy(addr)
}

/// From interrupt context (even one that interrupted a holder of the
/// space's lock on this CPU): takes no lock, allocates nothing; the next
/// lock holder frees it, lazily.
///
/// # Safety
/// `h` came from [`vmalloc`], and its area is freed by nothing else.
pub unsafe fn vfree_atomic(h: Handle) {
    // SAFETY: forwarded contract.
    unsafe { VMALLOC.free_deferred(h) }
}

/// A small allocation (up to seven pages with the guard) from CPU `cpu`'s
/// cache: in the common case no lock shared with other CPUs.
pub fn vmalloc_small(cpu: usize, size: usize) -> Result<Cached<'static>, Error> {
    PER_CPU.get(cpu).ok_or(Error::BadRange)?.lock().alloc(size)
}

/// Returns a small allocation to CPU `cpu`'s cache (unmapped, not
/// flushed: the cache keeps it dirty until a purge's flush covers it).
pub fn vfree_small(cpu: usize, a: Cached<'static>) -> Result<(), Cached<'static>> {
    match PER_CPU.get(cpu) {
        Some(cache) => cache.lock().free(a).map_err(|e| e.0),
        None => Err(a),
    }
}

/// From the page-fault handler, interrupts off: the used area holding
/// `addr`, looked up under the busy lock only (never the space's lock,
/// which another CPU may hold while it waits for this one).
pub fn area_of_fault(addr: usize) -> Option<AreaInfo> {
    VMALLOC.find_fault(addr).ok().flatten()
}

/// What the steps did, for the host's printout.
pub struct Outcome {
    /// Whether every step answered as expected.
    pub ok: bool,
    /// Pages the flush hook saw.
    pub flushed_pages: usize,
    /// Acquisitions of the space's lock.
    pub lock_taken: usize,
}

/// The steps both entry points run: boot setup, allocations (plain,
/// cached on two CPUs), a fault lookup of a guard page, frees of every
/// kind, a purge, and a check that the space is whole.
pub fn run() -> Outcome {
    vmalloc_init();
    let mut ok = true;
    let (stack, _) = match vmalloc(4 * PAGE) {
        Ok(a) => a,
        Err(_) => return failed(),
    };
    // The guard page after the stack belongs to it: a fault there is a
    // stack overflow the handler can name.
    ok &= area_of_fault(stack.addr + 4 * PAGE).map(|a| a.addr) == Some(stack.addr);
    let (irq_buf, irq_handle) = match vmalloc(PAGE) {
        Ok(a) => a,
        Err(_) => return failed(),
    };
    let small = [vmalloc_small(0, PAGE), vmalloc_small(1, 2 * PAGE)];
    for (cpu, a) in small.into_iter().enumerate() {
        match a {
            // Freed on the other CPU: into that CPU's cache, dirty.
            Ok(a) => ok &= vfree_small(1 - cpu, a).is_ok(),
            Err(_) => ok = false,
        }
    }
    ok &= vfree(stack.addr).is_ok();
    // SAFETY: `irq_handle` is `irq_buf`'s, freed here only.
    unsafe { vfree_atomic(irq_handle) };
    ok &= area_of_fault(irq_buf.addr).is_none();
    for cache in &PER_CPU {
        cache.lock().flush();
    }
    VMALLOC.flush_depot();
    VMALLOC.purge();
    {
        let g = VMALLOC.lock();
        ok &= g.validate().is_ok() && g.used_count() == 0;
    }
    ok &= FLUSHED_PAGES.load(Ordering::Relaxed) > 0;
    Outcome {
        ok,
        flushed_pages: FLUSHED_PAGES.load(Ordering::Relaxed),
        lock_taken: VMALLOC.raw_lock().taken.load(Ordering::Relaxed),
    }
}

fn failed() -> Outcome {
    Outcome {
        ok: false,
        flushed_pages: 0,
        lock_taken: 0,
    }
}

#[cfg(not(target_os = "none"))]
fn main() {
    let out = run();
    println!(
        "kernel_static: {} ({} pages flushed, the space's lock taken {} times)",
        if out.ok { "ok" } else { "FAILED" },
        out.flushed_pages,
        out.lock_taken
    );
    assert!(out.ok);
}

/// The kernel's entry (the bootloader's jump target).
#[cfg(target_os = "none")]
#[no_mangle]
pub extern "C" fn _start() -> ! {
    let _ = run();
    loop {
        core::hint::spin_loop();
    }
}

#[cfg(target_os = "none")]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    loop {
        core::hint::spin_loop();
    }
}
