//! Issue 8 points 6 and 7: a shared space never calls its node source with
//! its lock held, pools of area objects can be shared by many CPUs, and a
//! whole kernel-style setup lives in `static`s with no `unsafe`.
#![cfg(all(feature = "alloc", not(loom)))]

use static_assertions::assert_impl_all;
use std::cell::Cell;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicUsize, Ordering};
use vmarea::{
    Area, AreaPool, BoxNodes, CpuCache, Flags, NodeSource, Policy, PoolNodes, RawSpinlock,
    SharedSpace, Space, SpinMutex,
};

const Q: usize = 4096;
const S: usize = 0x4000_0000;

thread_local! {
    /// Whether this thread holds a `TrackedLock` right now.
    static HOLDING: Cell<bool> = const { Cell::new(false) };
}

/// A spinlock that records, per thread, whether it is held.
struct TrackedLock(RawSpinlock);
// SAFETY: forwards to `RawSpinlock`, a correct lock.
unsafe impl lock_api::RawMutex for TrackedLock {
    #[allow(clippy::declare_interior_mutable_const)]
    const INIT: Self = TrackedLock(RawSpinlock::new());
    type GuardMarker = lock_api::GuardNoSend;
    fn lock(&self) {
        self.0.acquire();
        HOLDING.set(true);
    }
    fn try_lock(&self) -> bool {
        let got = self.0.try_acquire();
        HOLDING.set(got);
        got
    }
    unsafe fn unlock(&self) {
        HOLDING.set(false);
        // SAFETY: forwarded contract.
        unsafe { self.0.release() }
    }
}

/// Calls of `CheckedSource`, and those made under the lock (only one test
/// uses it). Counted, not asserted on the spot: a panic under a spinlock
/// would leave the other thread spinning instead of failing the test.
static CALLS: AtomicUsize = AtomicUsize::new(0);
static UNDER_LOCK: AtomicUsize = AtomicUsize::new(0);

/// Boxes, and counts the calls made by a thread holding the lock.
#[derive(Default)]
struct CheckedSource;
// SAFETY: forwards to `BoxNodes`.
unsafe impl NodeSource for CheckedSource {
    fn take(&self) -> Option<NonNull<Area>> {
        UNDER_LOCK.fetch_add(usize::from(HOLDING.get()), Ordering::Relaxed);
        CALLS.fetch_add(1, Ordering::Relaxed);
        BoxNodes.take()
    }
    unsafe fn give(&self, area: NonNull<Area>) {
        UNDER_LOCK.fetch_add(usize::from(HOLDING.get()), Ordering::Relaxed);
        CALLS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: forwarded contract.
        unsafe { BoxNodes.give(area) }
    }
}

assert_impl_all!(PoolNodes<'static>: Send, Sync);
assert_impl_all!(AreaPool<4>: Send, Sync);
assert_impl_all!(&'static AreaPool<4>: NodeSource, Send, Sync);
assert_impl_all!(SharedSpace<RawSpinlock, PoolNodes<'static>>: Send, Sync);
assert_impl_all!(SharedSpace<RawSpinlock, &'static AreaPool<4>>: Send, Sync);

#[test]
fn the_locked_paths_never_call_the_node_source() {
    for p in [
        Policy::Rfc,
        Policy::FirstFit,
        Policy::InstantFit,
        Policy::BestFit,
    ] {
        let space = Space::new(S, S + 4096 * Q, Q, p, CheckedSource).unwrap();
        let sh: SharedSpace<TrackedLock, CheckedSource> = SharedSpace::new(space);
        std::thread::scope(|t| {
            for id in 0..2 {
                let sh = &sh;
                t.spawn(move || {
                    let mut c = sh.cache(Flags::ALLOC);
                    let mut live = Vec::new();
                    let mut cached = Vec::new();
                    let steps = if cfg!(miri) { 40 } else { 300 };
                    for i in 0..steps {
                        let pages = 1 + (i * 7 + id) % 13;
                        match i % 5 {
                            0 | 1 => live.push(sh.alloc_handle(&sh.request(pages * Q)).unwrap()),
                            2 => cached.push(c.alloc(Q).unwrap()),
                            3 if !live.is_empty() => {
                                let (a, h) = live.swap_remove(i % live.len());
                                match i % 3 {
                                    0 => drop(sh.free(a.addr).unwrap()),
                                    1 => drop(sh.lock().free_lazy(a.addr).unwrap()),
                                    // SAFETY: `h` is live and freed only here.
                                    _ => unsafe { sh.free_deferred(h) },
                                }
                            }
                            _ => {
                                if let Some(x) = cached.pop() {
                                    c.free(x).unwrap();
                                }
                            }
                        }
                    }
                    for (a, _) in live {
                        sh.free(a.addr).unwrap();
                    }
                    for x in cached {
                        c.free(x).unwrap();
                    }
                });
            }
        });
        sh.flush_depot();
        sh.lock().purge();
        let space = sh.into_inner();
        space.validate().unwrap();
        assert_eq!(space.used_count(), 0);
    }
    assert!(
        CALLS.load(Ordering::Relaxed) > 0,
        "the source was never used"
    );
    assert_eq!(
        UNDER_LOCK.load(Ordering::Relaxed),
        0,
        "node source called under the space lock"
    );
}

/// One `PoolNodes` over caller memory feeds a space shared by two threads
/// (before: `PoolNodes` was `!Send`, so no allocation-free setup could be
/// shared).
#[test]
fn a_pool_feeds_a_space_shared_by_threads() {
    let mut slots: Vec<Area> = (0..64).map(|_| Area::new()).collect();
    let pool = PoolNodes::new(&mut slots);
    let space = Space::new(S, S + 1024 * Q, Q, Policy::FirstFit, pool).unwrap();
    let sh: SharedSpace<RawSpinlock, PoolNodes> = SharedSpace::new(space);
    std::thread::scope(|t| {
        for _ in 0..2 {
            t.spawn(|| {
                for i in 0..if cfg!(miri) { 20 } else { 200 } {
                    let a = sh.alloc_request(&sh.request((1 + i % 3) * Q)).unwrap();
                    sh.free(a.addr).unwrap();
                }
            });
        }
    });
    let space = sh.into_inner();
    space.validate().unwrap();
    assert_eq!(space.used_count(), 0);
}

// The kernel-style setup, all in statics, no `unsafe`, no `static mut`.
static AREAS: AreaPool<128> = AreaPool::new();
static VMALLOC: SharedSpace<RawSpinlock, &AreaPool<128>> = SharedSpace::const_new(
    RawSpinlock::new(),
    0xffff_c900_0000_0000,
    0xffff_c900_0000_0000 + (1 << 30),
    4096,
    Policy::FirstFit,
    &AREAS,
);
static CPU_CACHES: [SpinMutex<CpuCache<'static, RawSpinlock, &AreaPool<128>>>; 2] = [
    SpinMutex::new(CpuCache::new(&VMALLOC, Flags::ALLOC)),
    SpinMutex::new(CpuCache::new(&VMALLOC, Flags::ALLOC)),
];

#[test]
fn a_static_space_with_static_areas_and_per_cpu_caches() {
    std::thread::scope(|t| {
        for cache in &CPU_CACHES {
            t.spawn(move || {
                for i in 0..if cfg!(miri) { 10 } else { 100 } {
                    let (a, h) = VMALLOC
                        .alloc_handle(&VMALLOC.request((1 + i % 4) * Q))
                        .unwrap();
                    assert_eq!(VMALLOC.find(a.addr + 1).unwrap().addr, a.addr);
                    if i % 2 == 0 {
                        VMALLOC.free(a.addr).unwrap();
                    } else {
                        // SAFETY: `h` is live and freed only here.
                        unsafe { VMALLOC.free_deferred(h) };
                    }
                    let mut c = cache.lock();
                    let x = c.alloc(2 * Q).unwrap();
                    c.free(x).unwrap();
                }
            });
        }
    });
    for c in &CPU_CACHES {
        c.lock().flush();
    }
    VMALLOC.flush_depot();
    let g = VMALLOC.lock();
    g.validate().unwrap();
    assert_eq!(g.used_count(), 0);
    assert!(
        AREAS.available() < 128,
        "the static pool supplied the areas"
    );
}
