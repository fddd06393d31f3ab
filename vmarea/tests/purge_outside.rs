//! Issue 20 item 2: a shared space flushes outside its lock. The flush hook
//! runs with the space's lock free (a hook that takes it succeeds, and may
//! even allocate), and no range of the batch it flushes is handed out
//! before it returns. Both tests fail on e5a296e, whose hook ran under the
//! lock.
#![cfg(all(feature = "alloc", not(loom)))]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use vmarea::{AreaPool, Flags, Policy, PurgeBatch, RawSpinlock, SharedSpace};

const Q: usize = 4096;
const S: usize = 0x4000_0000;
const PAGES: usize = 64;

static AREAS: AreaPool<256> = AreaPool::new();
static SH: SharedSpace<RawSpinlock, &AreaPool<256>> = SharedSpace::const_new(
    RawSpinlock::new(),
    S,
    S + PAGES * Q,
    Q,
    Policy::FirstFit,
    &AREAS,
);

/// One test at a time uses `SH`.
static ONE: Mutex<()> = Mutex::new(());

static LOCK_WAS_FREE: AtomicUsize = AtomicUsize::new(0);
static ALLOCATED_IN_HOOK: AtomicUsize = AtomicUsize::new(0);
static HOOK_CALLS: AtomicUsize = AtomicUsize::new(0);
static FREE_PAGES: AtomicUsize = AtomicUsize::new(0);

/// Takes the space's lock (it must be free), then allocates every free
/// page (`FREE_PAGES`, known to the test) from inside the hook: none of it
/// may be in the batch. (Not more: an allocation that found no room would
/// purge, and purges are serialised, so it would wait for this one.)
fn hook(batch: &PurgeBatch<'_>) {
    HOOK_CALLS.fetch_add(1, Ordering::Relaxed);
    if lock_api::RawMutex::try_lock(SH.raw_lock()) {
        LOCK_WAS_FREE.fetch_add(1, Ordering::Relaxed);
        // SAFETY: taken just above.
        unsafe { lock_api::RawMutex::unlock(SH.raw_lock()) };
    } else {
        return;
    }
    let ranges: Vec<(usize, usize)> = batch.ranges().collect();
    let mut got = Vec::new();
    for _ in 0..FREE_PAGES.load(Ordering::Relaxed) {
        let a = SH
            .alloc_request(&SH.request(Q).flags(Flags::ALLOC | Flags::NO_GUARD))
            .expect("a free page");
        assert!(
            !ranges.iter().any(|&(s, e)| a.addr < e && s < a.end()),
            "{a:?} handed out while its range was being flushed"
        );
        got.push(a.addr);
    }
    ALLOCATED_IN_HOOK.fetch_add(got.len(), Ordering::Relaxed);
    for addr in got {
        SH.free(addr).unwrap();
    }
}

fn reset() {
    for c in [&LOCK_WAS_FREE, &ALLOCATED_IN_HOOK, &HOOK_CALLS, &FREE_PAGES] {
        c.store(0, Ordering::Relaxed);
    }
    let mut g = SH.lock();
    g.set_flush_hook(Some(hook));
    g.set_lazy_threshold(usize::MAX);
}

#[test]
fn the_space_lock_is_free_while_the_hook_runs() {
    let _one = ONE.lock().unwrap_or_else(|e| e.into_inner());
    reset();
    // Half the space freed lazily, half still held.
    let held: Vec<_> = (0..PAGES / 2)
        .map(|_| SH.alloc(Q, 0, Flags::ALLOC | Flags::NO_GUARD).unwrap().addr)
        .collect();
    for &a in held.iter().step_by(2) {
        SH.lock().free_lazy(a).unwrap();
    }
    FREE_PAGES.store(PAGES / 2, Ordering::Relaxed);
    assert_eq!(SH.purge(), PAGES / 4);
    assert_eq!(HOOK_CALLS.load(Ordering::Relaxed), 1);
    assert_eq!(
        LOCK_WAS_FREE.load(Ordering::Relaxed),
        1,
        "the hook ran under the lock"
    );
    // The hook allocated the free half, never a range of its batch.
    assert_eq!(ALLOCATED_IN_HOOK.load(Ordering::Relaxed), PAGES / 2);
    for &a in held.iter().skip(1).step_by(2) {
        SH.free(a).unwrap();
    }
    let g = SH.lock();
    g.validate().unwrap();
    assert_eq!(g.used_count(), 0);
    assert_eq!(g.stats().free_bytes, PAGES * Q);
}

#[test]
fn every_purge_path_of_a_shared_space_flushes_outside_the_lock() {
    let _one = ONE.lock().unwrap_or_else(|e| e.into_inner());
    reset();
    // Fill the space, free it all lazily: the next allocation must purge.
    let all: Vec<_> = std::iter::from_fn(|| {
        SH.alloc(Q, 0, Flags::ALLOC | Flags::NO_GUARD)
            .ok()
            .map(|a| a.addr)
    })
    .collect();
    assert_eq!(all.len(), PAGES);
    for a in all {
        SH.lock().free_lazy(a).unwrap();
    }
    // The allocation's purge (pressure), a guard's purge, and the threshold.
    let a = SH.alloc(Q, 0, Flags::ALLOC).unwrap();
    SH.lock().free_lazy(a.addr).unwrap();
    assert_eq!(SH.lock().purge(), 1);
    {
        let mut g = SH.lock();
        g.set_lazy_threshold(Q);
        let b = g.alloc(Q, 0, Flags::ALLOC | Flags::NO_GUARD).unwrap();
        g.free_lazy(b.addr).unwrap(); // the threshold: purged once the guard unlocks
    }
    let calls = HOOK_CALLS.load(Ordering::Relaxed);
    assert_eq!(calls, 3);
    assert_eq!(
        LOCK_WAS_FREE.load(Ordering::Relaxed),
        calls,
        "a purge flushed under the lock"
    );
    let g = SH.lock();
    g.validate().unwrap();
    assert_eq!((g.used_count(), g.stats().lazy_areas), (0, 0));
}
