//! loom models of the shared layer. Run with
//! `RUSTFLAGS="--cfg loom" cargo test -p vmarea --features alloc,loom --release --test loom`.
//! Each model is bounded (`preemption_bound`) so the suite runs in CI in a
//! few minutes, and each has a deliberately broken twin that loom must
//! catch (`#[should_panic]`), proving the model can fail.
#![cfg(all(loom, feature = "alloc"))]

use loom::cell::UnsafeCell;
use loom::sync::Arc;
use loom::thread;
use vmarea::{
    weaken, BoxNodes, Flags, Policy, RawLock, RawSpinlock, Request, ShardedSpace, SharedSpace,
    Space,
};

const Q: usize = 4096;
const S: usize = 0x10_0000;

fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut b = loom::model::Builder::new();
    b.preemption_bound = Some(3);
    b.check(f);
}

/// Three threads spinning on one lock make long executions: a longer path
/// limit, and fewer preemptions to keep the search finite.
fn model3(f: impl Fn() + Sync + Send + 'static) {
    let mut b = loom::model::Builder::new();
    b.preemption_bound = Some(1);
    b.max_branches = 100_000;
    b.check(f);
}

fn req(pages: usize) -> Request {
    Request {
        size: pages * Q,
        align: 0,
        flags: Flags::NO_GUARD,
        tag: 0,
        lo: S,
        hi: S + 16 * Q,
        phase: 0,
        nocross: 0,
    }
}

fn space() -> SharedSpace<RawSpinlock, BoxNodes> {
    SharedSpace::with_lock(
        RawSpinlock::new(),
        Space::new(S, S + 16 * Q, Q, Policy::FirstFit, BoxNodes).unwrap(),
    )
}

/// Two threads increment a counter under the lock; loom checks every
/// interleaving for a data race on the (loom) cell.
fn counter_under<L: RawLock + Send + Sync + 'static>(lock: L) {
    let lock = Arc::new(lock);
    let cell = Arc::new(UnsafeCell::new(0u32));
    let ts: Vec<_> = (0..2)
        .map(|_| {
            let (lock, cell) = (lock.clone(), cell.clone());
            thread::spawn(move || {
                lock.lock();
                // SAFETY: under the lock (or a data race loom reports).
                cell.with_mut(|p| unsafe { *p += 1 });
                // SAFETY: this thread holds the lock.
                unsafe { lock.unlock() };
            })
        })
        .collect();
    for t in ts {
        t.join().unwrap();
    }
    // SAFETY: both threads joined.
    assert_eq!(cell.with(|p| unsafe { *p }), 2);
}

#[test]
fn spinlock_excludes() {
    model(|| counter_under(RawSpinlock::new()));
}

/// A "lock" that does not exclude: loom must find the race.
struct NoLock;
// SAFETY: deliberately violated, to show the model catches it.
unsafe impl RawLock for NoLock {
    type GuardMarker = lock_api::GuardSend;
    fn lock(&self) {}
    unsafe fn unlock(&self) {}
}

#[test]
#[should_panic]
fn broken_lock_is_caught() {
    model(|| counter_under(NoLock));
}

#[test]
fn two_threads_alloc_find_free() {
    model(alloc_find_free);
}

fn alloc_find_free() {
    {
        let sh = Arc::new(space());
        let ts: Vec<_> = (0..2)
            .map(|_| {
                let sh = sh.clone();
                thread::spawn(move || {
                    let a = sh.alloc_request(&req(2)).unwrap();
                    // While held, the area is ours alone.
                    assert_eq!(
                        sh.find(a.addr).map(|i| (i.addr, i.size)),
                        Some((a.addr, a.size))
                    );
                    sh.free(a.addr).unwrap();
                })
            })
            .collect();
        for t in ts {
            t.join().unwrap();
        }
        let s = Arc::try_unwrap(sh).ok().expect("sole owner").into_inner();
        s.validate().unwrap();
        assert_eq!(s.used_count(), 0);
    }
}

#[test]
fn deferred_free_races_drain() {
    model(deferred_races_drain);
}

fn deferred_races_drain() {
    {
        let sh = Arc::new(space());
        let (_, h1) = sh.alloc_handle(&req(1)).unwrap();
        let (_, h2) = sh.alloc_handle(&req(1)).unwrap();
        let pusher = {
            let sh = sh.clone();
            // SAFETY: h1/h2 are live and each is freed once, here.
            thread::spawn(move || unsafe {
                sh.free_deferred(h1);
                sh.free_deferred(h2);
            })
        };
        let drainer = {
            let sh = sh.clone();
            thread::spawn(move || sh.drain())
        };
        pusher.join().unwrap();
        let drained = drainer.join().unwrap();
        let s = Arc::try_unwrap(sh).ok().expect("sole owner").into_inner(); // drains the rest
        assert!(drained <= 2);
        s.validate().unwrap();
        assert_eq!(s.used_count(), 0, "no deferred free may be lost");
    }
}

/// A cache's dirty magazines reach the depot (and, with no room there,
/// the space's lazy list) while another CPU purges: every area is
/// accounted for, whatever the order.
#[test]
fn magazine_exchange_races_depot_flush() {
    model(exchange_races_flush);
}

fn exchange_races_flush() {
    use vmarea::ROUNDS;
    {
        let sh = Arc::new(space());
        let cacher = {
            let sh = sh.clone();
            thread::spawn(move || {
                let mut c = sh.cache(Flags::NO_GUARD);
                let got: Vec<_> = (0..2 * ROUNDS).map(|_| c.alloc(Q).unwrap()).collect();
                // The first full dirty magazine goes to the depot, the
                // second (no room there) lazily to the space.
                for a in got {
                    c.free(a).unwrap();
                }
            })
        };
        let purger = {
            let sh = sh.clone();
            thread::spawn(move || sh.purge())
        };
        cacher.join().unwrap();
        let purged = purger.join().unwrap();
        assert!(purged <= 2 * ROUNDS);
        // The depot holds the first magazine, dirty or (flushed) full, and
        // the second too if the purge had emptied the dirty slot first.
        let cached = sh.cached_areas();
        assert!(
            cached == ROUNDS || cached == 2 * ROUNDS,
            "every cached area accounted for: {cached}"
        );
        let mut s = Arc::try_unwrap(sh).ok().expect("sole owner").into_inner(); // flushes the depot
        s.purge();
        s.validate().unwrap();
        assert_eq!(s.used_count(), 0, "no cached area lost");
    }
}

#[test]
fn three_threads_alloc_while_one_frees_deferred() {
    model3(three_threads_one_deferred);
}

fn three_threads_one_deferred() {
    // One lock acquisition per thread (three threads spinning on one lock
    // explode the search otherwise). The areas are held until joined, so
    // they must not overlap; a deferred free races the allocations, and the
    // final drain must account for every area.
    {
        let sh = Arc::new(space());
        let (_, pre) = sh.alloc_handle(&req(1)).unwrap();
        let ts: Vec<_> = (0..3)
            .map(|i| {
                let sh = sh.clone();
                thread::spawn(move || {
                    if i == 0 {
                        // SAFETY: `pre` is live and freed once, here.
                        unsafe { sh.free_deferred(pre) };
                    }
                    sh.alloc_handle(&req(1 + i)).unwrap()
                })
            })
            .collect();
        let mut held: Vec<(usize, usize, vmarea::Handle)> = ts
            .into_iter()
            .map(|t| t.join().unwrap())
            .map(|(a, h)| (a.addr, a.end(), h))
            .collect();
        held.sort_unstable_by_key(|x| x.0);
        assert!(
            held.windows(2).all(|w| w[0].1 <= w[1].0),
            "areas held at once must not overlap"
        );
        for (_, _, h) in held {
            // SAFETY: each handle is live and freed once, here.
            unsafe { sh.free_deferred(h) };
        }
        let s = Arc::try_unwrap(sh).ok().expect("sole owner").into_inner();
        s.validate().unwrap();
        assert_eq!(s.used_count(), 0, "no area lost");
    }
}

#[test]
fn two_nodes_cross_node_frees() {
    model(cross_node_frees);
}

/// Two nodes; each thread allocates on its home node and frees an area of
/// the other node (allocated before the threads started), so each node's
/// lock is taken by both threads; a lookup of the other node's area sees it
/// whole until freed.
fn cross_node_frees() {
    let node = |i: usize| {
        let start = S + i * 16 * Q;
        SharedSpace::with_lock(
            RawSpinlock::new(),
            Space::new(start, start + 16 * Q, Q, Policy::FirstFit, BoxNodes).unwrap(),
        )
    };
    let sh = Arc::new(ShardedSpace::new([node(0), node(1)]).unwrap());
    let one = sh.request(Q).flags(Flags::NO_GUARD);
    let pre: Vec<usize> = (0..2)
        .map(|cpu| sh.alloc_on(cpu, &one).unwrap().0.addr)
        .collect();
    let ts: Vec<_> = (0..2)
        .map(|cpu| {
            let (sh, other) = (sh.clone(), pre[1 - cpu]);
            thread::spawn(move || {
                let (a, _) = sh
                    .alloc_on(cpu, &sh.request(2 * Q).flags(Flags::NO_GUARD))
                    .unwrap();
                assert_eq!(sh.node_of(a.addr), Some(cpu));
                assert_eq!(sh.find(other + 5).map(|i| i.addr), Some(other));
                sh.free(other).unwrap();
                sh.free(a.addr).unwrap();
            })
        })
        .collect();
    for t in ts {
        t.join().unwrap();
    }
    sh.validate().unwrap();
    assert_eq!(sh.used_count(), 0, "no area lost");
}

#[test]
fn span_added_while_another_cpu_allocates() {
    model(span_races_alloc);
}

/// One CPU grows the space by a span while another reads `bounds()` and,
/// if it sees the span, allocates in it: a span visible in `bounds()` is
/// in the space by the time the lock is taken (it is added, and the bounds
/// published, under the lock that the allocation then takes).
fn span_races_alloc() {
    let sh = Arc::new(space());
    let grower = {
        let sh = sh.clone();
        thread::spawn(move || sh.add_span(S + 32 * Q, S + 40 * Q).unwrap())
    };
    let (_, hi) = sh.bounds();
    if hi == S + 40 * Q {
        let r = Request::new(4 * Q, S + 32 * Q, hi).flags(Flags::NO_GUARD);
        let a = sh
            .alloc_request(&r)
            .expect("a span seen in bounds() is in the space");
        assert!(a.addr >= S + 32 * Q);
    } else {
        assert_eq!(hi, S + 16 * Q, "bounds are published whole");
    }
    grower.join().unwrap();
    assert_eq!(sh.bounds(), (S, S + 40 * Q));
    let s = Arc::try_unwrap(sh).ok().expect("sole owner").into_inner();
    s.validate().unwrap();
    assert_eq!(s.bounds(), (S, S + 40 * Q));
}

// The broken twins: each relaxes one ordering its model depends on (a
// test-only switch, `vmarea::weaken`, that exists only under `--cfg loom`)
// and must be caught.

/// Runs `f` with the orderings at `sites` relaxed on this thread.
fn weakened(sites: u8, f: impl FnOnce()) {
    weaken::set(sites);
    struct Reset;
    impl Drop for Reset {
        fn drop(&mut self) {
            weaken::set(0);
        }
    }
    let _reset = Reset;
    f();
}

#[test]
#[should_panic(expected = "Causality violation")]
fn spinlock_without_acquire_release_is_caught() {
    weakened(weaken::LOCK_ACQUIRE | weaken::LOCK_RELEASE, || {
        model(|| counter_under(RawSpinlock::new()))
    });
}

#[test]
#[should_panic(expected = "Causality violation")]
fn alloc_find_free_without_lock_ordering_is_caught() {
    weakened(weaken::LOCK_ACQUIRE | weaken::LOCK_RELEASE, || {
        model(alloc_find_free)
    });
}

#[test]
#[should_panic(expected = "deferred link not visible")]
fn deferred_push_without_release_is_caught() {
    weakened(weaken::DEFERRED_PUBLISH, || model(deferred_races_drain));
}

#[test]
#[should_panic(expected = "deferred link not visible")]
fn deferred_take_without_acquire_is_caught() {
    weakened(weaken::DEFERRED_TAKE, || model(deferred_races_drain));
}

#[test]
#[should_panic(expected = "Causality violation")]
fn magazine_exchange_without_lock_ordering_is_caught() {
    weakened(weaken::LOCK_ACQUIRE | weaken::LOCK_RELEASE, || {
        model(exchange_races_flush)
    });
}

#[test]
#[should_panic(expected = "deferred link not visible")]
fn three_threads_without_deferred_release_is_caught() {
    weakened(weaken::DEFERRED_PUBLISH, || {
        model3(three_threads_one_deferred)
    });
}

#[test]
#[should_panic(expected = "Causality violation")]
fn cross_node_frees_without_lock_ordering_are_caught() {
    weakened(weaken::LOCK_ACQUIRE | weaken::LOCK_RELEASE, || {
        model(cross_node_frees)
    });
}

#[test]
#[should_panic(expected = "Causality violation")]
fn span_added_without_lock_ordering_is_caught() {
    weakened(weaken::LOCK_ACQUIRE | weaken::LOCK_RELEASE, || {
        model(span_races_alloc)
    });
}

// Issue 20 item 2: the purge's detach / flush (lock released) / merge
// window. One thread purges a lazily freed range while another allocates
// the whole space: it may get the range only once the hook has returned.

loom::lazy_static! {
    static ref FLUSHED: loom::sync::atomic::AtomicBool = loom::sync::atomic::AtomicBool::new(false);
}

fn mark_flushed(_: &vmarea::PurgeBatch<'_>) {
    FLUSHED.store(true, loom::sync::atomic::Ordering::Release);
}

fn purge_races_alloc() {
    let sh = Arc::new(space());
    {
        let mut g = sh.lock();
        g.set_flush_hook(Some(mark_flushed));
        g.set_lazy_threshold(usize::MAX);
        let a = g.alloc_request(&req(16)).unwrap();
        g.free_lazy(a.addr).unwrap();
    }
    let purger = {
        let sh = sh.clone();
        thread::spawn(move || {
            sh.purge();
        })
    };
    // Finds no room until a purge (its own or the other thread's) merged
    // the range back: by then the hook must have returned.
    let mut reused_early = false;
    if let Ok(a) = sh.alloc_request(&req(16)) {
        reused_early = !FLUSHED.load(loom::sync::atomic::Ordering::Acquire);
        sh.free(a.addr).unwrap();
    }
    purger.join().unwrap();
    let s = Arc::try_unwrap(sh).ok().expect("sole owner").into_inner();
    s.validate().unwrap();
    assert_eq!(s.used_count(), 0);
    // Checked once every loom object is gone (a panic with them alive
    // would abort in their destructors).
    assert!(!reused_early, "a purged range was reused before its flush");
}

#[test]
fn purge_flushes_before_merging_outside_the_lock() {
    model(purge_races_alloc);
}

#[test]
#[should_panic(expected = "a purged range was reused before its flush")]
fn purge_merging_before_its_flush_is_caught() {
    weakened(weaken::MERGE_BEFORE_FLUSH, || model(purge_races_alloc));
}

// Issue 20 item 3: a fault lookup never waits on the space's lock. One
// thread holds the lock, frees an area under it (a change of the busy
// tree) and then waits for the other thread's acknowledgement, as a CPU
// waiting for a TLB shootdown would; the other thread, the "faulting CPU",
// looks the area up and only then acknowledges. The lookup must finish
// with the lock held (the twin that takes the space's lock never does),
// and must not overlap the tree change (the twin whose change skips the
// busy lock is a race loom reports).

loom::lazy_static! {
    static ref ACKED: loom::sync::atomic::AtomicBool = loom::sync::atomic::AtomicBool::new(false);
}

fn fault_lookup_beside_a_holder() {
    ACKED.store(false, loom::sync::atomic::Ordering::Relaxed);
    let sh = Arc::new(space());
    let a = sh.alloc_request(&req(2)).unwrap();
    let holder = {
        let sh = sh.clone();
        thread::spawn(move || {
            let mut g = sh.lock();
            g.free(a.addr).unwrap();
            while !ACKED.load(loom::sync::atomic::Ordering::Acquire) {
                thread::yield_now();
            }
            drop(g);
        })
    };
    let seen = sh.find_fault(a.addr + Q).unwrap();
    ACKED.store(true, loom::sync::atomic::Ordering::Release);
    holder.join().unwrap();
    // Before the free or after it: the area, or nothing.
    assert!(seen.is_none_or(|i| i.addr == a.addr && i.used));
    let s = Arc::try_unwrap(sh).ok().expect("sole owner").into_inner();
    s.validate().unwrap();
    assert_eq!(s.used_count(), 0);
}

#[test]
fn fault_lookup_never_waits_on_the_space_lock() {
    model(fault_lookup_beside_a_holder);
}

#[test]
#[should_panic(expected = "maximum number of branches")]
fn fault_lookup_taking_the_space_lock_is_caught() {
    weakened(weaken::FAULT_TAKES_SPACE_LOCK, || {
        model(fault_lookup_beside_a_holder)
    });
}

#[test]
#[should_panic(expected = "Causality violation")]
fn busy_tree_changed_without_the_busy_lock_is_caught() {
    weakened(weaken::BUSY_EDIT_UNLOCKED, || {
        model(fault_lookup_beside_a_holder)
    });
}
