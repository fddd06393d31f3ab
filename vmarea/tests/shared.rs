//! The shared layer on std threads: `&self` API, deferred free and drain,
//! and a stress test on every policy. Miri runs this file with small counts;
//! the loom models are in `tests/loom.rs`.
#![cfg(all(feature = "alloc", not(loom)))]

use std::collections::HashMap;
use std::sync::Mutex;
use vmarea::{BoxNodes, Flags, Policy, RawSpinlock, Request, SharedSpace, Space};

const Q: usize = 4096;
const S: usize = 0x4000_0000;
const POLICIES: [Policy; 4] = [
    Policy::Rfc,
    Policy::FirstFit,
    Policy::InstantFit,
    Policy::BestFit,
];

fn shared(p: Policy, pages: usize) -> SharedSpace<RawSpinlock, BoxNodes> {
    SharedSpace::new(Space::new(S, S + pages * Q, Q, p, BoxNodes).unwrap())
}

/// `pages` pages anywhere in a space of `PAGES` pages or more.
fn req(pages: usize) -> Request {
    Request {
        size: pages * Q,
        align: 0,
        flags: Flags::ALLOC,
        tag: 0,
        lo: S,
        hi: S + 64 * Q,
        phase: 0,
        nocross: 0,
    }
}

fn req_in(pages: usize, space_pages: usize) -> Request {
    Request {
        hi: S + space_pages * Q,
        ..req(pages)
    }
}

#[test]
fn shared_api_and_deferred_free() {
    for p in POLICIES {
        let sh = shared(p, 1024);
        let (a, ha) = sh.alloc_handle(&req(2)).unwrap();
        let b = sh.alloc_request(&req(1)).unwrap();
        assert_eq!(sh.find(a.addr + 5).unwrap().addr, a.addr);
        // SAFETY: `ha` is live and freed only here.
        unsafe { sh.free_deferred(ha) };
        // Not reusable until a lock holder drains: `drain` reports it.
        assert_eq!(sh.drain(), 1);
        assert_eq!(sh.find(a.addr), None);
        sh.free(b.addr).unwrap();
        let s = sh.into_inner();
        s.validate().unwrap();
        assert_eq!(s.used_count(), 0);
    }
}

#[test]
fn deferred_frees_are_applied_by_the_next_lock_holder() {
    let sh = shared(Policy::FirstFit, 64);
    let hs: Vec<_> = (0..8)
        .map(|_| sh.alloc_handle(&req(1)).unwrap().1)
        .collect();
    for h in hs {
        // SAFETY: each handle is live and freed once.
        unsafe { sh.free_deferred(h) };
    }
    // The next allocation's lock acquisition drains all eight first.
    let a = sh.alloc_request(&req(1)).unwrap();
    assert_eq!(a.addr, S);
    assert_eq!(sh.lock().used_count(), 1);
}

#[test]
fn stress_every_policy() {
    let (threads, ops) = if cfg!(miri) { (2, 12) } else { (4, 4000) };
    for p in POLICIES {
        let sh = shared(p, 1 << 16);
        // Every address held by some thread right now, and by whom.
        let held: Mutex<HashMap<usize, usize>> = Mutex::new(HashMap::new());
        std::thread::scope(|scope| {
            for t in 0..threads {
                let (sh, held) = (&sh, &held);
                scope.spawn(move || {
                    let mut x = 0x9E37_79B9u64 ^ t as u64;
                    let mut mine: Vec<(usize, vmarea::Handle)> = Vec::new();
                    for _ in 0..ops {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        if mine.len() < 16 && x % 3 != 0 {
                            let (a, h) = sh
                                .alloc_handle(&req_in(1 + (x % 8) as usize, 1 << 16))
                                .unwrap();
                            let prev = held.lock().unwrap().insert(a.addr, t);
                            assert_eq!(prev, None, "{p:?}: {:#x} handed out twice", a.addr);
                            assert_eq!(sh.find(a.addr + Q / 2).map(|i| i.addr), Some(a.addr));
                            mine.push((a.addr, h));
                        } else if let Some((addr, h)) = mine.pop() {
                            held.lock().unwrap().remove(&addr);
                            match x % 3 {
                                0 => {
                                    sh.free(addr).unwrap();
                                }
                                // SAFETY: `h` is live and freed once, here.
                                _ => unsafe { sh.free_deferred(h) },
                            }
                        }
                    }
                    for (addr, _) in mine {
                        held.lock().unwrap().remove(&addr);
                        sh.free(addr).unwrap();
                    }
                });
            }
        });
        let mut s = sh.into_inner();
        // Deferred frees were applied lazily: purge them like any lazy free.
        s.purge();
        s.validate().unwrap();
        let st = s.stats();
        assert_eq!(
            (st.used_areas, st.used_bytes, st.lazy_areas, st.largest_free),
            (0, 0, 0, (1 << 16) * Q),
            "{p:?}"
        );
    }
}

#[test]
fn spin_mutex_is_a_lock_api_mutex() {
    let m = vmarea::SpinMutex::new(0u32);
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                for _ in 0..if cfg!(miri) { 10 } else { 10_000 } {
                    *m.lock() += 1;
                }
            });
        }
    });
    assert_eq!(*m.lock(), if cfg!(miri) { 20 } else { 20_000 });
}

mod caches {
    use super::*;
    use vmarea::{Cached, ROUNDS};

    /// Issue 20 item 1: a freed cached area is not handed out again before
    /// a purge's flush covered it (it used to be, at once, so the kernel
    /// had to shoot it down on every free); once flushed, its magazine
    /// serves any cache without the space.
    #[test]
    fn a_cache_reuses_its_areas_only_after_a_flush() {
        let sh = shared(Policy::FirstFit, 1024);
        let mut c = sh.cache(Flags::ALLOC);
        let a = c.alloc(Q).unwrap();
        assert_eq!(a.size(), 2 * Q); // one page + guard: class 1
                                     // One lock acquisition refilled a whole magazine.
        assert_eq!(c.held(), ROUNDS - 1);
        let a_addr = a.addr();
        c.free(a).unwrap();
        assert_eq!(c.held(), ROUNDS, "dirty, held until flushed");
        // Still allocated in the space (counted as used there).
        assert_eq!(sh.lock().used_count(), ROUNDS);
        let mut mine = Vec::new();
        for _ in 0..ROUNDS - 1 {
            let b = c.alloc(Q).unwrap();
            assert_ne!(b.addr(), a_addr, "reused before a flush");
            mine.push(b);
        }
        // Freeing them fills the dirty magazine: it goes to the depot.
        for b in mine {
            c.free(b).unwrap();
        }
        assert_eq!(c.held(), 0);
        assert_eq!(
            sh.cached_areas(),
            ROUNDS,
            "the depot holds the dirty magazine"
        );
        let mut other = sh.cache(Flags::ALLOC);
        let x = other.alloc(Q).unwrap();
        assert_ne!(x.addr(), a_addr, "another cache took a dirty area");
        // The purge flushes the magazine with its batch; it is ready then.
        assert_eq!(sh.purge(), ROUNDS);
        let mut third = sh.cache(Flags::ALLOC);
        let y = third.alloc(Q).unwrap();
        assert_eq!(third.held(), ROUNDS - 1, "a full magazine from the depot");
        let flushed: Vec<usize> = std::iter::once(y.addr())
            .chain((0..ROUNDS - 1).map(|_| third.alloc(Q).unwrap().addr()))
            .collect();
        assert!(flushed.contains(&a_addr), "flushed areas serve any cache");
        drop((x, y)); // dropped `Cached`: freed through the deferred path
        drop((c, other, third));
        sh.flush_depot();
        sh.purge();
        assert_eq!((sh.cached_areas(), sh.lock().used_count()), (0, 0));
        // Sizes outside the classes are refused, not mis-served.
        let mut c = sh.cache(Flags::ALLOC);
        assert_eq!(c.alloc(0), Err(vmarea::Error::ZeroSize));
        assert_eq!(
            c.alloc(64 * Q),
            Err(vmarea::Error::NotCacheable { size: 64 * Q })
        );
    }

    #[test]
    fn dirty_magazines_are_flushed_into_the_depot_for_other_caches() {
        let sh = shared(Policy::InstantFit, 4096);
        let mut c1 = sh.cache(Flags::ALLOC);
        let got: Vec<Cached> = (0..3 * ROUNDS).map(|_| c1.alloc(2 * Q).unwrap()).collect();
        let addrs: std::collections::HashSet<usize> = got.iter().map(|a| a.addr()).collect();
        for a in got {
            c1.free(a).unwrap();
        }
        // Three dirty magazines went to the depot.
        assert_eq!(c1.held(), 0);
        assert_eq!(sh.cached_areas(), 3 * ROUNDS);
        let mut c2 = sh.cache(Flags::ALLOC);
        let b = c2.alloc(2 * Q).unwrap();
        assert!(
            !addrs.contains(&b.addr()),
            "a dirty area served before its flush"
        );
        c2.free(b).unwrap();
        assert_eq!(sh.purge(), 3 * ROUNDS);
        let mut c3 = sh.cache(Flags::ALLOC);
        let b = c3.alloc(2 * Q).unwrap();
        assert!(addrs.contains(&b.addr()), "c3 took a flushed magazine");
        assert_eq!(c3.held(), ROUNDS - 1);
        c3.free(b).unwrap();
        drop((c1, c2, c3)); // flush their magazines to the space
        sh.flush_depot();
        sh.purge();
        assert_eq!(sh.cached_areas(), 0);
        let s = sh.into_inner();
        s.validate().unwrap();
        assert_eq!(s.used_count(), 0);
    }

    #[test]
    fn pressure_flushes_and_purges_the_depot_then_retries() {
        // 56 pages: 3 magazines of 2-page areas hold 48 of them, 8 stay
        // free. Freed, they are dirty magazines in the depot: a 12-page
        // area fits once they are flushed and merged back.
        let sh = shared(Policy::FirstFit, 56);
        let mut c = sh.cache(Flags::ALLOC);
        let got: Vec<Cached> = (0..3 * ROUNDS).map(|_| c.alloc(Q).unwrap()).collect();
        for a in got {
            c.free(a).unwrap();
        }
        assert_eq!((c.held(), sh.cached_areas()), (0, 3 * ROUNDS));
        let mut c2 = sh.cache(Flags::ALLOC);
        let big = Request {
            size: 11 * Q,
            align: 0,
            flags: Flags::ALLOC,
            tag: 0,
            lo: S,
            hi: S + 56 * Q,
            phase: 0,
            nocross: 0,
        };
        let a = sh.alloc_request(&big).unwrap();
        assert_eq!(sh.flush_depot(), 0, "the depot's magazines were given back");
        sh.free(a.addr).unwrap();
        // A cache allocation under pressure also flushes the depot first.
        assert!(c2.alloc(Q).is_ok());
        drop((c, c2));
        let s = sh.into_inner();
        s.validate().unwrap();
    }

    #[test]
    fn stress_with_one_cache_per_thread() {
        let (threads, ops) = if cfg!(miri) { (2, 40) } else { (4, 20_000) };
        for p in POLICIES {
            let sh = shared(p, 1 << 14);
            std::thread::scope(|scope| {
                for t in 0..threads {
                    let sh = &sh;
                    scope.spawn(move || {
                        let mut c = sh.cache(Flags::ALLOC);
                        let mut x = 0x2545_F491u64 ^ t as u64;
                        let mut mine: Vec<Cached> = Vec::new();
                        for _ in 0..ops {
                            x ^= x << 13;
                            x ^= x >> 7;
                            x ^= x << 17;
                            if mine.len() < 32 && x % 2 == 0 {
                                let a = c.alloc((1 + (x % 4) as usize) * Q).unwrap();
                                assert_eq!(sh.find(a.addr()).map(|i| i.addr), Some(a.addr()));
                                mine.push(a);
                            } else if let Some(a) = mine.pop() {
                                c.free(a).unwrap();
                            }
                        }
                        for a in mine {
                            c.free(a).unwrap();
                        }
                    });
                }
            });
            // Dropped caches flushed their own magazines; the depot keeps its
            // full ones until flushed.
            let in_depot = sh.cached_areas();
            assert_eq!(sh.flush_depot(), in_depot, "{p:?}");
            assert_eq!(sh.cached_areas(), 0, "{p:?}");
            let s = sh.into_inner();
            s.validate().unwrap();
            assert_eq!(s.used_count(), 0, "{p:?}");
        }
    }
}

/// The depot decays by a quarter of each class's full magazines (rounded
/// up) at every purge, as Linux 6.9's per-node pools do, before the
/// magazines that purge flushed join it; nothing else makes it give areas
/// back.
#[test]
fn the_depot_decays_a_quarter_per_purge() {
    use vmarea::{DEPOT_MAGAZINES, ROUNDS};
    let sh = shared(Policy::FirstFit, 4096);
    let mut cache = sh.cache(Flags::ALLOC);
    // Enough frees to fill the depot with dirty magazines, then one purge
    // to flush them into full ones.
    let n = ROUNDS * DEPOT_MAGAZINES;
    let held: Vec<_> = (0..n).map(|_| cache.alloc(Q).unwrap()).collect();
    for c in held {
        cache.free(c).unwrap();
    }
    assert_eq!(sh.purge(), n);
    let full = sh.cached_areas();
    assert_eq!(full, DEPOT_MAGAZINES * ROUNDS + cache.held());
    // Locking without a purge changes nothing.
    drop(sh.lock());
    assert_eq!(sh.cached_areas(), full);
    let mut depot = DEPOT_MAGAZINES;
    while depot > 0 {
        let a = sh.alloc(Q, 0, Flags::ALLOC).unwrap();
        let mut g = sh.lock();
        g.free_lazy(a.addr).unwrap();
        assert_eq!(g.purge(), 1);
        drop(g);
        depot -= depot.div_ceil(4);
        assert_eq!(sh.cached_areas(), full - (DEPOT_MAGAZINES - depot) * ROUNDS);
        sh.lock().validate().unwrap();
    }
    drop(cache);
    sh.purge();
    assert_eq!(sh.lock().used_count(), 0);
}
