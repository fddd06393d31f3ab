//! The whole kernel-style setup, as a `no_std` library with no `alloc`, no
//! `static mut`, and no `unsafe` but the kernel's own lock implementation
//! (CI builds it for `x86_64-unknown-none`):
//!
//! - a static pool of area objects ([`AreaPool`]);
//! - a static vmalloc space behind the kernel's own spinlock (here a
//!   `lock_api` lock that counts acquisitions; a kernel would disable
//!   preemption in it), built by a `const fn`;
//! - a TLB-flush hook that sees every purge batch before it is reused;
//! - per-CPU caches in a static array, each behind its own lock (a kernel
//!   would index it by the current CPU with preemption disabled);
//! - `vmalloc`/`vfree`, and small allocations through this CPU's cache.
//!
//! What a kernel adds around it — frames, page tables, the real TLB flush
//! and shootdown — is the kernel's (see `docs/concurrency.md`).
#![no_std]

use core::sync::atomic::{AtomicUsize, Ordering};
use vmarea::{
    AreaInfo, AreaPool, Cached, CpuCache, Error, Flags, Policy, PurgeBatch, RawSpinlock,
    SharedSpace, SpinMutex,
};

/// The kernel's own lock: here the crate's spinlock, counting acquisitions.
pub struct KernelLock {
    inner: RawSpinlock,
    taken: AtomicUsize,
}

// SAFETY: forwards to `RawSpinlock`, whose lock/unlock pair is a correct
// mutual exclusion (Acquire on lock, Release on unlock).
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

/// Page size, and the vmalloc region: 32 TiB in the higher half.
pub const PAGE: usize = 4096;
/// First address of the vmalloc region.
pub const VMALLOC_START: usize = 0xffff_c900_0000_0000;
/// One past the last.
pub const VMALLOC_END: usize = VMALLOC_START + (32 << 40);
/// Area objects available to the whole kernel.
pub const AREAS_MAX: usize = 4096;
/// CPUs this kernel supports.
pub const NR_CPUS: usize = 2;

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

fn flush_tlb(batch: &PurgeBatch<'_>) {
    FLUSHED_PAGES.fetch_add(batch.bytes() / PAGE, Ordering::Relaxed);
}

/// Boot-time setup: the flush hook and the lazy-purge threshold.
pub fn vmalloc_init() {
    let mut g = VMALLOC.lock();
    g.set_flush_hook(Some(flush_tlb));
    g.set_lazy_threshold(32 << 20);
}

/// Allocates `size` bytes of address space (a guard page follows).
pub fn vmalloc(size: usize) -> Result<usize, Error> {
    VMALLOC
        .alloc_request(&VMALLOC.request(size))
        .map(|a| a.addr)
}

/// A small allocation (up to 7 pages) from CPU `cpu`'s cache: no lock
/// shared with other CPUs in the common case. Give it back with
/// [`vfree_small`] on any CPU.
pub fn vmalloc_small(cpu: usize, size: usize) -> Result<Cached<'static>, Error> {
    PER_CPU.get(cpu).ok_or(Error::BadRange)?.lock().alloc(size)
}

/// Returns a small allocation to CPU `cpu`'s cache.
pub fn vfree_small(cpu: usize, a: Cached<'static>) -> Result<(), Cached<'static>> {
    match PER_CPU.get(cpu) {
        Some(cache) => cache.lock().free(a).map_err(|e| e.0),
        None => Err(a),
    }
}

/// Frees lazily: the range is reused only after `flush_tlb` saw it.
pub fn vfree(addr: usize) -> Result<AreaInfo, Error> {
    VMALLOC.lock().free_lazy(addr)
}

/// Looks up the area holding `addr` (`find_vm_area`).
pub fn find_vm_area(addr: usize) -> Option<AreaInfo> {
    VMALLOC.find(addr)
}

/// From the page-fault handler, interrupts off: the area holding `addr`,
/// looked up under the space's busy lock only, never its lock (another
/// CPU may hold that while it waits for this one). `None` for an address
/// outside every used area (the space keeps a busy tree, so `find_fault`
/// cannot refuse).
pub fn area_of_fault(addr: usize) -> Option<AreaInfo> {
    VMALLOC.find_fault(addr).ok().flatten()
}

/// Pages flushed so far.
pub fn flushed_pages() -> usize {
    FLUSHED_PAGES.load(Ordering::Relaxed)
}
