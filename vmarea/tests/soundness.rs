//! Issue 8's holes, each pinned by a test that failed (or did not compile)
//! on the code before the fix: safe calls that reached cache-held or
//! deferred areas, flags that changed under a cached or deferred area, auto
//! traits that promised too much, errors that were not `Error`s.
#![cfg(all(feature = "alloc", not(loom)))]

use static_assertions::{assert_impl_all, assert_not_impl_any};
use vmarea::{
    AreaInfo, BlockError, BoxNodes, Cached, CpuCache, Error, Flags, ForeignCached, ForeignMapped,
    Guard, Handle, MappedRam, Policy, RawSpinlock, Request, ShardedSpace, SharedSpace, Space,
    ValidateError, VmapBlocks, ROUNDS,
};

const Q: usize = 4096;
const S: usize = 0x4000_0000;

type Shared = SharedSpace<RawSpinlock, BoxNodes>;

fn shared(p: Policy) -> Shared {
    SharedSpace::new(Space::new(S, S + 1024 * Q, Q, p, BoxNodes).unwrap())
}

fn snapshot(sh: &Shared) -> Vec<AreaInfo> {
    sh.lock().iter().collect()
}

fn req(pages: usize, flags: Flags) -> Request {
    Request {
        size: pages * Q,
        align: 0,
        flags,
        tag: 7,
        lo: S,
        hi: S + 1024 * Q,
        phase: 0,
        nocross: 0,
    }
}

/// A lock_api lock whose guard must stay on the thread that locked it.
struct ThreadBound(RawSpinlock);
// SAFETY: forwards to `RawSpinlock`, a correct lock.
unsafe impl lock_api::RawMutex for ThreadBound {
    #[allow(clippy::declare_interior_mutable_const)]
    const INIT: Self = ThreadBound(RawSpinlock::new());
    type GuardMarker = lock_api::GuardNoSend;
    fn lock(&self) {
        self.0.acquire()
    }
    fn try_lock(&self) -> bool {
        self.0.try_acquire()
    }
    unsafe fn unlock(&self) {
        // SAFETY: forwarded contract.
        unsafe { self.0.release() }
    }
}

// Point 3: the guard unlocks in `Drop`, so it may cross threads only when
// the lock allows it; it is never shared (it reads as a `!Sync` `Space`).
assert_not_impl_any!(Guard<'static, ThreadBound, BoxNodes>: Send, Sync);
assert_impl_all!(Guard<'static, RawSpinlock, BoxNodes>: Send);
assert_not_impl_any!(Guard<'static, RawSpinlock, BoxNodes>: Sync);
assert_impl_all!(SharedSpace<RawSpinlock, BoxNodes>: Send, Sync);
assert_impl_all!(Space<BoxNodes>: Send);
assert_not_impl_any!(Space<BoxNodes>: Sync);
assert_impl_all!(CpuCache<'static, RawSpinlock, BoxNodes>: Send, Sync);
assert_impl_all!(Cached<'static>: Send, Sync);
assert_not_impl_any!(Cached<'static>: Clone, Copy);
assert_impl_all!(Handle: Send, Sync, Copy);
// The vm_map_ram blocks: a `VmapBlocks` is a `&SharedSpace` and handles
// (both Send + Sync); a `MappedRam` is plain data, move-only.
assert_impl_all!(VmapBlocks<'static, RawSpinlock, BoxNodes>: Send, Sync);
assert_impl_all!(MappedRam<'static>: Send, Sync);
assert_not_impl_any!(MappedRam<'static>: Clone, Copy);
assert_impl_all!(ForeignMapped<'static>: core::error::Error);
assert_impl_all!(BlockError: core::error::Error, Send, Sync);
// A sharded space is its nodes: shared across threads as a SharedSpace is.
assert_impl_all!(ShardedSpace<RawSpinlock, BoxNodes, 4>: Send, Sync);
// Point 8: every error is a `core::error::Error`.
assert_impl_all!(Error: core::error::Error, Send, Sync);
assert_impl_all!(ValidateError: core::error::Error);
assert_impl_all!(ForeignCached<'static>: core::error::Error);

/// Point 2: an area a cache handed out, or holds in a magazine, is refused
/// by the safe free paths, and the refusal changes nothing. Before the fix
/// `free(addr)` accepted it and the cache later freed it a second time.
#[test]
fn cache_held_areas_are_refused_by_free_and_free_lazy() {
    for p in [Policy::FirstFit, Policy::InstantFit, Policy::Rfc] {
        let sh = shared(p);
        let mut c = sh.cache(Flags::ALLOC);
        let out = c.alloc(Q).unwrap();
        let kept = c.alloc(Q).unwrap();
        let kept_addr = kept.addr();
        c.free(kept).unwrap(); // now in a magazine
        let before = snapshot(&sh);
        for addr in [out.addr(), kept_addr] {
            assert_eq!(sh.free(addr), Err(Error::Cached { addr }), "{p:?}");
            assert_eq!(sh.lock().free_lazy(addr), Err(Error::Cached { addr }));
            assert_eq!(sh.lock().free(addr), Err(Error::Cached { addr }));
        }
        assert_eq!(snapshot(&sh), before, "a refusal changed the space");
        let info = sh.find(out.addr()).unwrap();
        assert!(info.cached && info.used);
        c.free(out).unwrap();
        drop(c);
        let s = sh.into_inner();
        s.validate().unwrap();
        assert_eq!(s.used_count(), 0);
    }
}

/// Point 2: a `Cached` from another space's cache is handed back, untouched.
#[test]
fn a_cache_refuses_another_spaces_allocation() {
    let (a, b) = (shared(Policy::FirstFit), shared(Policy::FirstFit));
    let (mut ca, mut cb) = (a.cache(Flags::ALLOC), b.cache(Flags::ALLOC));
    let x = ca.alloc(Q).unwrap();
    let addr = x.addr();
    let (sa, sb) = (snapshot(&a), snapshot(&b));
    let back = cb.free(x).unwrap_err().0;
    assert_eq!(back.addr(), addr);
    assert_eq!((snapshot(&a), snapshot(&b)), (sa, sb));
    assert_eq!(cb.held(), 0);
    ca.free(back).unwrap();
}

/// Point 4: a deferred free pending while the lock is held no longer shows
/// the stack's link as the area's flags and tag: the area reads as freed
/// (not found, not listed as used, `lazy` in the walk) and `free(addr)`
/// refuses it, until the next lock holder drains it.
#[test]
fn a_pending_deferred_free_reads_as_freed() {
    for p in [
        Policy::FirstFit,
        Policy::InstantFit,
        Policy::BestFit,
        Policy::Rfc,
    ] {
        let sh = shared(p);
        let (a, h) = sh.alloc_handle(&req(2, Flags::ALLOC | Flags::MAP)).unwrap();
        let (b, hb) = sh.alloc_handle(&req(1, Flags::IOREMAP)).unwrap();
        let mut g = sh.lock();
        // SAFETY: `h` and `hb` are live and freed only here.
        unsafe {
            sh.free_deferred(h);
            sh.free_deferred(hb);
        }
        for (x, flags) in [(a, Flags::ALLOC | Flags::MAP), (b, Flags::IOREMAP)] {
            assert_eq!(g.find(x.addr), None, "{p:?}");
            assert!(g.used().all(|u| u.addr != x.addr));
            let seen = g.iter().find(|i| i.addr == x.addr).unwrap();
            assert!(!seen.used && seen.lazy, "{p:?}: {seen:?}");
            assert_eq!((seen.flags, seen.tag), (Flags::NONE, 0));
            assert!(!flags.intersects(Flags::RESERVED));
            assert_eq!(g.free(x.addr), Err(Error::NotAllocated { addr: x.addr }));
            assert_eq!(
                g.free_lazy(x.addr),
                Err(Error::NotAllocated { addr: x.addr })
            );
        }
        g.validate().unwrap();
        drop(g);
        assert_eq!(sh.drain(), 2, "the next lock holder drains both");
        let s = sh.into_inner();
        s.validate().unwrap();
        assert_eq!(s.used_count(), 0);
    }
}

/// Point 4: areas a cache with other flags filled the depot with are
/// restamped when a cache takes them, so cached areas report the flags of
/// the cache serving them (before: the first cache's flags and NO_GUARD).
#[test]
fn depot_areas_take_the_flags_of_the_cache_that_serves_them() {
    let sh = shared(Policy::InstantFit);
    let mut ca = sh.cache(Flags::ALLOC);
    let got: Vec<Cached> = (0..3 * ROUNDS).map(|_| ca.alloc(Q).unwrap()).collect();
    let filled: std::collections::HashSet<usize> = got.iter().map(|x| x.addr()).collect();
    for x in got {
        ca.free(x).unwrap();
    }
    // The three dirty magazines went to the depot; a purge flushes them
    // into full ones (issue 20: no cached area is reused unflushed).
    assert_eq!(ca.held(), 0);
    assert_eq!(sh.purge(), 3 * ROUNDS);
    let mut cb = sh.cache(Flags::MAP);
    let y = cb.alloc(Q).unwrap();
    assert!(filled.contains(&y.addr()), "served from the depot");
    let info = sh.find(y.addr()).unwrap();
    assert_eq!(info.flags, Flags::MAP);
    assert_eq!((info.guard, info.usable()), (Q, Q));
    assert_eq!(y.flags(), Flags::MAP);
    // Every area still in that magazine was restamped too.
    cb.free(y).unwrap();
    assert!(sh
        .lock()
        .used()
        .filter(|i| i.flags == Flags::MAP)
        .all(|i| i.cached));
    // An allocation given back to a cache with other flags goes to the
    // space (lazily: reused after a flush).
    let z = ca.alloc(Q).unwrap();
    let z_addr = z.addr();
    let held = cb.held();
    cb.free(z).unwrap();
    assert_eq!(cb.held(), held);
    assert_eq!(sh.find(z_addr), None);
    drop((ca, cb));
    sh.flush_depot();
    sh.into_inner().validate().unwrap();
}

/// Point 4: the usable size needs no quantum from the caller and cannot
/// underflow (before: `usable(quantum)` subtracted whatever it was given).
#[test]
fn usable_size_is_known_to_the_area() {
    let mut s = Space::new(S, S + 64 * Q, Q, Policy::FirstFit, BoxNodes).unwrap();
    let g = s.alloc(Q, 0, Flags::ALLOC).unwrap();
    let n = s.alloc(Q, 0, Flags::ALLOC | Flags::NO_GUARD).unwrap();
    assert_eq!((g.size, g.guard, g.usable()), (2 * Q, Q, Q));
    assert_eq!((n.size, n.guard, n.usable()), (Q, 0, Q));
}

/// Flags the crate keeps for area states are refused in requests, and the
/// refusal changes nothing.
#[test]
fn reserved_flags_are_refused() {
    let sh = shared(Policy::FirstFit);
    let before = snapshot(&sh);
    for bit in 16..24 {
        let r = req(1, Flags(1 << bit));
        assert_eq!(sh.alloc_request(&r).map(|_| ()), Err(Error::BadFlags));
    }
    assert_eq!(snapshot(&sh), before);
}

/// `validate` names what broke, as a type (before: a `&'static str`).
#[test]
fn validate_returns_a_typed_error() {
    let s = Space::new(S, S + 64 * Q, Q, Policy::FirstFit, BoxNodes).unwrap();
    let r: Result<(), ValidateError> = s.validate();
    r.unwrap();
}
