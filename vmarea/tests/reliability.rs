//! Issue 19's crate items, each pinned by a test that failed on e5a296e:
//! mapping identity across moves and reassignment, hooks that panic,
//! pooled areas reported as pooled, sharded requests refused before any
//! node is asked, purged bytes counted once, dropped `Cached` returned.
#![cfg(all(feature = "alloc", not(loom)))]

use std::panic::{catch_unwind, AssertUnwindSafe};
use vmarea::{
    AreaInfo, BoxNodes, Error, Flags, Import, Policy, PurgeBatch, RawSpinlock, Request, Segments,
    ShardedSpace, SharedSpace, Space, VmapBlocks, BLOCK_QUANTA,
};

const Q: usize = 4096;
const S: usize = 0x4000_0000;

type Shared = SharedSpace<RawSpinlock, BoxNodes>;

fn shared_at(start: usize, pages: usize) -> Shared {
    SharedSpace::new(Space::new(start, start + pages * Q, Q, Policy::FirstFit, BoxNodes).unwrap())
}

fn snapshot<S: vmarea::NodeSource>(s: &Space<S>) -> Vec<AreaInfo> {
    s.iter().collect()
}

// ---- Item 1: a mapping's identity survives moves, differs between instances.

#[test]
fn a_mapping_of_a_reassigned_slot_is_refused_and_corrupts_nothing() {
    let (a, b) = (shared_at(S, 4096), shared_at(S + 0x1000_0000, 4096));
    let mut slot = VmapBlocks::new(&a);
    let m = slot.map(65 * Q).unwrap(); // an area of its own in A
    slot = VmapBlocks::new(&b);
    let before = snapshot(&b.lock());
    let m = slot
        .unmap(m)
        .expect_err("A's mapping unmapped by B's blocks")
        .0;
    assert_eq!(snapshot(&b.lock()), before, "a refused unmap changed B");
    a.lock().validate().unwrap();
    b.lock().validate().unwrap();
    assert_eq!(b.lock().used_count(), 0);
    // The mapping is still A's, and A's area is still allocated.
    assert_eq!(a.find(m.addr()).map(|i| i.addr), Some(m.addr()));
}

#[test]
fn a_mapping_of_another_instance_over_the_same_space_is_refused() {
    let sh = shared_at(S, 4096);
    let mut one = VmapBlocks::new(&sh);
    let mut two = VmapBlocks::new(&sh);
    for size in [Q, 65 * Q] {
        let m = one.map(size).unwrap();
        let m = two.unmap(m).expect_err("another instance's mapping").0;
        one.unmap(m).unwrap();
    }
    one.validate().unwrap();
    two.validate().unwrap();
    sh.lock().validate().unwrap();
}

fn made_and_moved(
    sh: &Shared,
) -> (
    VmapBlocks<'_, RawSpinlock, BoxNodes>,
    Vec<vmarea::MappedRam<'_>>,
) {
    let mut vb = VmapBlocks::new(sh);
    let maps = vec![vb.map(Q).unwrap(), vb.map(65 * Q).unwrap()];
    (vb, maps) // returned: moved out of this frame
}

#[test]
fn a_moved_instance_unmaps_its_own_mappings() {
    let sh = shared_at(S, 4096);
    let (vb, maps) = made_and_moved(&sh);
    let mut boxed = Box::new(vb); // moved again, to the heap
    for m in maps {
        boxed.unmap(m).expect("its own mapping, after a move");
    }
    assert_eq!(boxed.purge(), 1);
    drop(boxed);
    sh.lock().purge();
    assert_eq!(sh.lock().used_count(), 0);
    sh.lock().validate().unwrap();
}

#[test]
fn a_slot_reassigned_to_the_same_space_refuses_the_old_instances_pieces() {
    let sh = shared_at(S, 4096);
    let mut slot = VmapBlocks::new(&sh);
    let m = slot.map(Q).unwrap();
    slot = VmapBlocks::new(&sh); // the old one is dropped; its block stays held
    let _ = slot.map(Q).unwrap();
    let m = slot
        .unmap(m)
        .expect_err("a piece of the dropped instance")
        .0;
    slot.validate().unwrap();
    sh.lock().validate().unwrap();
    assert!(sh.find(m.addr()).is_some_and(|i| i.cached));
    assert_eq!(BLOCK_QUANTA % 2, 0);
}

// ---- Item 2: every hook may panic; the space stays valid and loses nothing.

static PANIC_ON: std::sync::Mutex<Option<&'static str>> = std::sync::Mutex::new(None);

fn armed(kind: &'static str) -> bool {
    *PANIC_ON.lock().unwrap_or_else(|e| e.into_inner()) == Some(kind)
}

#[cfg(feature = "events")]
fn event_hook(e: &vmarea::Event) {
    let kind = match e {
        vmarea::Event::Alloc { failed: false, .. } => "alloc",
        vmarea::Event::Alloc { .. } => "alloc-failed",
        vmarea::Event::Free { .. } => "free",
        vmarea::Event::FreeLazy { .. } => "free-lazy",
        vmarea::Event::Purge { .. } => "purge",
        _ => "other",
    };
    if armed(kind) {
        panic!("event hook panics on {kind}");
    }
}

fn flush_hook(_: &PurgeBatch<'_>) {
    if armed("flush") {
        panic!("flush hook panics");
    }
}

/// Runs `f` with the hooks set to panic on `kind`; returns whether it
/// panicked.
fn panics(kind: &'static str, f: impl FnOnce()) -> bool {
    *PANIC_ON.lock().unwrap_or_else(|e| e.into_inner()) = Some(kind);
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let r = catch_unwind(AssertUnwindSafe(f));
    std::panic::set_hook(hook);
    *PANIC_ON.lock().unwrap_or_else(|e| e.into_inner()) = None;
    r.is_err()
}

static HOOK_TEST: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn hooked(p: Policy) -> Space<BoxNodes> {
    let mut s = Space::new(S, S + 1024 * Q, Q, p, BoxNodes).unwrap();
    s.set_flush_hook(Some(flush_hook));
    #[cfg(feature = "events")]
    s.set_event_hook(Some(event_hook));
    s
}

/// Every byte of the space is accounted for, and all of it can be had
/// again once the caller frees what it holds.
fn nothing_lost(s: &mut Space<BoxNodes>, held: &[usize], p: Policy) {
    s.validate().unwrap_or_else(|e| panic!("{p:?}: {e}"));
    for &addr in held {
        s.free(addr)
            .unwrap_or_else(|e| panic!("{p:?}: {addr:#x} lost: {e}"));
    }
    s.purge();
    s.drain_pools();
    s.validate().unwrap();
    let st = s.stats();
    assert_eq!((st.used_bytes, st.lazy_bytes), (0, 0), "{p:?}");
    assert_eq!(st.free_bytes, 1024 * Q, "{p:?}: free bytes lost");
    let whole = s.alloc(1023 * Q, 0, Flags::ALLOC);
    assert!(whole.is_ok(), "{p:?}: the whole space is not allocatable");
}

#[cfg(feature = "events")]
#[test]
fn a_panicking_event_hook_loses_nothing_on_free() {
    let _one = HOOK_TEST.lock().unwrap_or_else(|e| e.into_inner());
    for &p in Policy::ALL {
        for pools in [false, true] {
            let mut s = hooked(p);
            if pools {
                s.set_pools(8, 4).unwrap();
            }
            let a = s.alloc(Q, 0, Flags::ALLOC).unwrap();
            let b = s.alloc(Q, 0, Flags::ALLOC).unwrap();
            assert!(
                panics("free", || {
                    let _ = s.free(a.addr);
                }),
                "{p:?}"
            );
            // The free happened before the hook saw it.
            assert!(s.find(a.addr).is_none(), "{p:?}");
            nothing_lost(&mut s, &[b.addr], p);
        }
    }
}

#[cfg(feature = "events")]
#[test]
fn a_panicking_event_hook_loses_nothing_on_alloc_free_lazy_and_purge() {
    let _one = HOOK_TEST.lock().unwrap_or_else(|e| e.into_inner());
    for &p in Policy::ALL {
        let mut s = hooked(p);
        let a = s.alloc(Q, 0, Flags::ALLOC).unwrap();
        // A panicking hook on a successful allocation: the allocation is
        // undone (the caller never learnt of it).
        let before = snapshot(&s);
        assert!(panics("alloc", || {
            let _ = s.alloc(2 * Q, 0, Flags::ALLOC);
        }));
        s.validate().unwrap();
        assert_eq!(snapshot(&s), before, "{p:?}: a panicked allocation stayed");
        // A refused one changes nothing either way.
        let before = snapshot(&s);
        assert!(panics("alloc-failed", || {
            let _ = s.alloc(0, 0, Flags::ALLOC);
        }));
        assert_eq!(snapshot(&s), before, "{p:?}");
        // Lazy free: the area is lazy, purged later.
        assert!(panics("free-lazy", || {
            let _ = s.free_lazy(a.addr);
        }));
        s.validate().unwrap();
        assert!(s.find(a.addr).is_none());
        assert!(panics("purge", || {
            let _ = s.purge();
        }));
        nothing_lost(&mut s, &[], p);
    }
}

#[test]
fn a_panicking_flush_hook_keeps_the_batch_lazy_and_counts_nothing() {
    let _one = HOOK_TEST.lock().unwrap_or_else(|e| e.into_inner());
    for &p in Policy::ALL {
        let mut s = hooked(p);
        let a = s.alloc(Q, 0, Flags::ALLOC).unwrap();
        let b = s.alloc(Q, 0, Flags::ALLOC).unwrap();
        s.free_lazy(a.addr).unwrap();
        let counters = s.counters();
        let before = snapshot(&s);
        assert!(
            panics("flush", || {
                let _ = s.purge();
            }),
            "{p:?}"
        );
        s.validate().unwrap();
        assert_eq!(
            snapshot(&s),
            before,
            "{p:?}: a failed flush changed the space"
        );
        // Item 5: nothing was purged, so nothing is counted as purged.
        assert_eq!(s.counters(), counters, "{p:?}: counted an unflushed purge");
        // The next purge flushes and counts the batch once.
        assert_eq!(s.purge(), 1);
        let c = s.counters();
        assert_eq!((c.purges, c.purged_areas), (counters.purges + 1, 1));
        assert_eq!(c.purged_bytes, a.size as u64, "{p:?}: purged bytes twice");
        nothing_lost(&mut s, &[b.addr], p);
    }
}

#[test]
fn a_panicking_flush_hook_during_an_allocation_loses_nothing() {
    let _one = HOOK_TEST.lock().unwrap_or_else(|e| e.into_inner());
    for &p in Policy::ALL {
        let mut s = hooked(p);
        s.set_lazy_threshold(usize::MAX);
        let a = s.alloc(1000 * Q, 0, Flags::ALLOC).unwrap();
        s.free_lazy(a.addr).unwrap();
        // No room without a purge: the purge's hook panics mid-allocation.
        assert!(panics("flush", || {
            let _ = s.alloc(500 * Q, 0, Flags::ALLOC);
        }));
        nothing_lost(&mut s, &[], p);
    }
}

fn take_panics(_: usize) -> Option<(usize, usize)> {
    panic!("import take panics")
}
fn give_panics(_: usize, _: usize) {
    panic!("import give panics")
}
fn take_ok(size: usize) -> Option<(usize, usize)> {
    Some((S + 0x100_0000, S + 0x100_0000 + size.max(64 * Q)))
}

#[test]
fn panicking_import_hooks_lose_nothing() {
    let _one = HOOK_TEST.lock().unwrap_or_else(|e| e.into_inner());
    for &p in Policy::ALL {
        // `take` panics: the allocation is refused by the panic, nothing changed.
        let mut s = Space::new(S, S + 16 * Q, Q, p, BoxNodes).unwrap();
        s.set_import(Some(Import {
            take: take_panics,
            give: give_panics,
            quantum: Q,
        }));
        let kept = s.alloc(4 * Q, 0, Flags::ALLOC).unwrap();
        let before = snapshot(&s);
        assert!(panics("none", || {
            let _ = s.alloc(64 * Q, 0, Flags::ALLOC);
        }));
        s.validate().unwrap();
        assert_eq!(snapshot(&s), before, "{p:?}");
        s.free(kept.addr).unwrap();
        // `give` panics while a span is released: the span stays in the space.
        s.set_import(Some(Import {
            take: take_ok,
            give: give_panics,
            quantum: Q,
        }));
        let big = s.alloc(32 * Q, 0, Flags::ALLOC).unwrap();
        s.free(big.addr).unwrap();
        let before = snapshot(&s);
        let used = s.stats();
        assert!(
            panics("none", || {
                let _ = s.release_spans();
            }),
            "{p:?}"
        );
        s.validate().unwrap();
        assert_eq!(
            snapshot(&s),
            before,
            "{p:?}: a failed release changed the space"
        );
        assert_eq!(s.stats(), used);
    }
}

#[test]
fn a_panicking_flush_hook_under_a_shared_space_releases_the_lock() {
    let _one = HOOK_TEST.lock().unwrap_or_else(|e| e.into_inner());
    let sh = shared_at(S, 1024);
    sh.lock().set_flush_hook(Some(flush_hook));
    let a = sh.alloc(Q, 0, Flags::ALLOC).unwrap();
    sh.lock().free_lazy(a.addr).unwrap();
    assert!(panics("flush", || {
        let _ = sh.lock().purge();
    }));
    // Not deadlocked, and the batch is still pending.
    let mut g = sh.lock();
    g.validate().unwrap();
    assert_eq!(g.purge(), 1);
}

// ---- Item 3: pooled areas are reported as pooled, not lazy.

#[test]
fn pooled_areas_are_reported_as_pooled() {
    let mut s = Space::new(S, S + 1024 * Q, Q, Policy::InstantFit, BoxNodes).unwrap();
    s.set_pools(8, 4).unwrap();
    let a = s.alloc(Q, 0, Flags::ALLOC).unwrap();
    let _b = s.alloc(Q, 0, Flags::ALLOC).unwrap();
    s.free(a.addr).unwrap();
    assert_eq!(s.stats().pooled_areas, 1);
    let listed: Vec<AreaInfo> = s.iter().filter(|i| i.addr == a.addr).collect();
    assert_eq!(listed.len(), 1);
    assert!(
        listed[0].pooled && !listed[0].lazy && !listed[0].used,
        "{listed:?}"
    );
    assert_eq!(s.walk(Segments::LAZY).count(), 0);
    assert_eq!(
        s.walk(Segments::POOLED).map(|i| i.addr).collect::<Vec<_>>(),
        [a.addr]
    );
    assert_eq!(s.walk(Segments::ALL).count(), s.iter().count());
    assert!(!s.to_string().contains("unpurged"), "{s}");
    // The largest free range is free space, not a pooled area.
    assert_eq!(s.stats().largest_free, 1024 * Q - 4 * Q);
}

// ---- Item 4: a sharded request bad in itself is refused before any node.

#[test]
fn a_sharded_space_refuses_bad_requests_before_any_node() {
    let zone = 256 * Q;
    let sharded = ShardedSpace::new([shared_at(S, 256), shared_at(S + zone, 256)]).unwrap();
    let good = sharded.request(Q);
    let bad = [
        (
            Request {
                align: 3 * Q,
                ..good
            },
            Error::BadAlign,
        ),
        (good.flags(Flags::RESERVED), Error::BadFlags),
        (
            Request {
                phase: Q / 2,
                ..good.align(4 * Q)
            },
            Error::BadAlign,
        ),
        (
            Request {
                nocross: 3 * Q,
                ..good
            },
            Error::BadAlign,
        ),
        (
            Request {
                size: usize::MAX - Q,
                ..good
            },
            Error::Overflow,
        ),
    ];
    for (r, want) in bad {
        assert_eq!(sharded.alloc_on(0, &r).map(|x| x.0), Err(want), "{r:?}");
    }
    for n in sharded.nodes() {
        assert_eq!(n.lock().counters().failures, 0, "a node was asked");
    }
}

// ---- Item 6: a dropped `Cached` is given back, not lost.

#[test]
fn a_dropped_cached_allocation_goes_back_to_its_space() {
    let sh = shared_at(S, 1024);
    let mut cache = sh.cache(Flags::ALLOC);
    let a = cache.alloc(Q).unwrap();
    let addr = a.addr();
    drop(a);
    drop(cache);
    let mut g = sh.lock();
    assert!(g.find(addr).is_none(), "a dropped Cached stays allocated");
    g.purge();
    assert_eq!(g.used_count(), 0);
    g.validate().unwrap();
    drop(g);
    assert_eq!(sh.cached_areas(), 0);
}

#[test]
fn a_foreign_cached_dropped_goes_back_to_its_own_space() {
    let (one, two) = (shared_at(S, 1024), shared_at(S + 0x1000_0000, 1024));
    let mut c1 = one.cache(Flags::ALLOC);
    let mut c2 = two.cache(Flags::ALLOC);
    let a = c1.alloc(Q).unwrap();
    let addr = a.addr();
    let refused = c2.free(a).expect_err("foreign");
    drop(refused);
    drop((c1, c2));
    assert!(one.find(addr).is_none());
    assert_eq!(two.lock().used_count(), 0);
    one.lock().validate().unwrap();
}

#[cfg(feature = "events")]
#[test]
fn a_hook_panicking_in_a_drain_of_deferred_frees_loses_none_of_them() {
    let _one = HOOK_TEST.lock().unwrap_or_else(|e| e.into_inner());
    let sh = shared_at(S, 1024);
    sh.lock().set_event_hook(Some(event_hook));
    let handles: Vec<_> = (0..3)
        .map(|_| sh.alloc_handle(&sh.request(Q)).unwrap().1)
        .collect();
    for h in handles {
        // SAFETY: live areas of `sh`, each freed once, here only.
        unsafe { sh.free_deferred(h) };
    }
    // The first lazy free of the drain panics; the other two wait.
    assert!(panics("free-lazy", || drop(sh.lock())));
    let mut g = sh.lock(); // drains the rest
    assert_eq!(g.used_count(), 0, "deferred frees lost in a panicked drain");
    g.purge();
    g.validate().unwrap();
    assert_eq!(g.stats().free_bytes, 1024 * Q);
}

/// Issue 20's purge (detach, flush with the lock released, merge) under a
/// panicking hook: the lazy list and the depot's dirty magazines go back,
/// both locks are free, and the next purge flushes and merges all of it.
#[test]
fn a_panicking_flush_hook_in_a_shared_purge_loses_no_lazy_or_cached_area() {
    use vmarea::ROUNDS;
    let _one = HOOK_TEST.lock().unwrap_or_else(|e| e.into_inner());
    let sh = shared_at(S, 1024);
    sh.lock().set_flush_hook(Some(flush_hook));
    sh.lock().set_lazy_threshold(usize::MAX);
    let mut c = sh.cache(Flags::ALLOC);
    let got: Vec<_> = (0..ROUNDS).map(|_| c.alloc(Q).unwrap()).collect();
    for a in got {
        c.free(a).unwrap(); // the dirty magazine fills and goes to the depot
    }
    let a = sh.alloc(Q, 0, Flags::ALLOC).unwrap();
    sh.free_lazy(a.addr).unwrap();
    let before = snapshot(&sh.lock());
    let cached = sh.cached_areas();
    assert_eq!(cached, ROUNDS);
    assert!(panics("flush", || {
        let _ = sh.purge();
    }));
    // Both locks free (this would spin forever otherwise), nothing moved.
    assert_eq!(
        snapshot(&sh.lock()),
        before,
        "a failed purge changed the space"
    );
    assert_eq!(
        sh.cached_areas(),
        cached,
        "a failed purge lost the dirty magazine"
    );
    sh.lock().validate().unwrap();
    assert_eq!(sh.purge(), 1 + ROUNDS);
    drop(c);
    sh.flush_depot();
    sh.purge();
    let g = sh.lock();
    assert_eq!((g.used_count(), g.stats().lazy_areas), (0, 0));
    g.validate().unwrap();
}

/// A hook panicking in the middle of a cache's refill (the second of its
/// allocations): the refill's first area stays in the cache, counted, and
/// everything goes back when the cache flushes.
#[cfg(feature = "events")]
#[test]
fn a_panicking_event_hook_mid_refill_leaves_the_cache_consistent() {
    let _one = HOOK_TEST.lock().unwrap_or_else(|e| e.into_inner());
    static ALLOCS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    fn second_alloc_panics(e: &vmarea::Event) {
        if let vmarea::Event::Alloc { failed: false, .. } = e {
            if ALLOCS.fetch_add(1, std::sync::atomic::Ordering::Relaxed) == 1 && armed("refill") {
                panic!("the refill's second allocation");
            }
        }
    }
    let sh = shared_at(S, 1024);
    sh.lock().set_event_hook(Some(second_alloc_panics));
    let mut c = sh.cache(Flags::ALLOC);
    ALLOCS.store(0, std::sync::atomic::Ordering::Relaxed);
    assert!(panics("refill", || {
        let _ = c.alloc(Q);
    }));
    assert_eq!(c.held(), 1, "the first area of the refill stays");
    assert_eq!(sh.lock().used_count(), 1);
    sh.lock().validate().unwrap();
    let a = c.alloc(Q).unwrap(); // served from the magazine
    c.free(a).unwrap();
    assert_eq!(c.flush(), 1);
    sh.purge();
    assert_eq!(sh.lock().used_count(), 0);
}
