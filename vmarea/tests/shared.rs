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
        let (a, ha) = sh.alloc(&req(2)).unwrap();
        let (b, _) = sh.alloc(&req(1)).unwrap();
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
    let hs: Vec<_> = (0..8).map(|_| sh.alloc(&req(1)).unwrap().1).collect();
    for h in hs {
        // SAFETY: each handle is live and freed once.
        unsafe { sh.free_deferred(h) };
    }
    // The next allocation's lock acquisition drains all eight first.
    let (a, _) = sh.alloc(&req(1)).unwrap();
    assert_eq!(a.addr, S);
    assert_eq!(sh.lock().with(|s| s.used_count()), 1);
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
                            let (a, h) = sh.alloc(&req_in(1 + (x % 8) as usize, 1 << 16)).unwrap();
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
        let s = sh.into_inner();
        s.validate().unwrap();
        let st = s.stats();
        assert_eq!(
            (st.used_areas, st.used_bytes, st.largest_free),
            (0, 0, (1 << 16) * Q),
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
