//! Unit tests: every split (FL, LE, RE, NE) and merge case of every policy,
//! the RFC's bump and top, node exhaustion, and each bad input, with the
//! state proven unchanged after every refusal.

use vmarea::{AreaInfo, Error, Flags, Policy, PoolNodes, Request, Space, Stats};

const Q: usize = 0x1000;
const S: usize = 0x100_0000;
const POLICIES: &[Policy] = Policy::ALL;
const NG: Flags = Flags::NO_GUARD;

fn snapshot(s: &Space<PoolNodes<'_>>) -> (Vec<AreaInfo>, Stats) {
    (s.iter().collect(), s.stats())
}

/// (addr offset in pages, pages, used) of every tracked area.
fn layout(s: &Space<PoolNodes<'_>>) -> Vec<(usize, usize, bool)> {
    s.iter()
        .map(|a| ((a.addr - S) / Q, a.size / Q, a.used))
        .collect()
}

fn with_space(policy: Policy, pages: usize, f: impl FnOnce(&mut Space<PoolNodes<'_>>)) {
    let mut slots: Vec<vmarea::Area> = (0..64).map(|_| vmarea::Area::new()).collect();
    let mut s = Space::new(S, S + pages * Q, Q, policy, PoolNodes::new(&mut slots)).unwrap();
    f(&mut s);
    s.validate().unwrap();
}

#[test]
fn guard_and_rounding() {
    for &p in POLICIES {
        with_space(p, 64, |s| {
            let a = s.alloc(1, 0, Flags::ALLOC).unwrap();
            assert_eq!(a.size, 2 * Q); // one page + guard
            assert_eq!(a.usable(), Q);
            let b = s.alloc(Q + 1, 0, NG).unwrap();
            assert_eq!(b.size, 2 * Q); // rounded, no guard
            assert_eq!(b.usable(), 2 * Q);
            s.validate().unwrap();
        });
    }
}

#[test]
fn split_cases_first_fit_and_lists() {
    for p in [Policy::FirstFit, Policy::InstantFit, Policy::BestFit] {
        with_space(p, 64, |s| {
            // LE: the first allocation takes the left edge of the whole space.
            let a = s.alloc(4 * Q, 0, NG).unwrap();
            assert_eq!(layout(s), [(0, 4, true), (4, 60, false)]);
            // NE: aligned placement inside the free area splits it in three.
            let b = s.alloc_in(2 * Q, 16 * Q, NG, S, S + 64 * Q).unwrap();
            assert_eq!((b.addr - S) / Q, 16);
            assert_eq!(
                layout(s),
                [(0, 4, true), (4, 12, false), (16, 2, true), (18, 46, false)]
            );
            // RE: a window ending at the end of the 4..16 hole takes its right edge.
            let c = s.alloc_in(3 * Q, 0, NG, S + 13 * Q, S + 16 * Q).unwrap();
            assert_eq!((c.addr - S) / Q, 13);
            assert_eq!(
                layout(s),
                [
                    (0, 4, true),
                    (4, 9, false),
                    (13, 3, true),
                    (16, 2, true),
                    (18, 46, false)
                ]
            );
            // FL: exactly the 4..13 hole, through a window.
            let d = s.alloc_in(9 * Q, 0, NG, S + 4 * Q, S + 13 * Q).unwrap();
            assert_eq!((d.addr - S) / Q, 4);
            assert_eq!(
                layout(s),
                [
                    (0, 4, true),
                    (4, 9, true),
                    (13, 3, true),
                    (16, 2, true),
                    (18, 46, false)
                ]
            );
            s.validate().unwrap();
            // Merges: with neither neighbour, with the next, with the previous, with both.
            s.free(c.addr).unwrap(); // neighbours used: no merge
            assert_eq!(layout(s)[2], (13, 3, false));
            s.free(b.addr).unwrap(); // merges with the previous (13..16) and the next (18..)
            assert_eq!(layout(s), [(0, 4, true), (4, 9, true), (13, 51, false)]);
            s.free(a.addr).unwrap(); // no free neighbour on the left
            assert_eq!(layout(s), [(0, 4, false), (4, 9, true), (13, 51, false)]);
            s.free(d.addr).unwrap(); // both sides free: one area again
            assert_eq!(layout(s), [(0, 64, false)]);
        });
    }
}

#[test]
fn rfc_bump_hash_and_top() {
    with_space(Policy::Rfc, 64, |s| {
        // Bump: after the end of the used areas; nothing tracked beyond.
        let a = s.alloc(2 * Q, 0, NG).unwrap();
        let b = s.alloc(3 * Q, 0, NG).unwrap();
        let c = s.alloc(2 * Q, 0, NG).unwrap();
        assert_eq!(layout(s), [(0, 2, true), (2, 3, true), (5, 2, true)]);
        // Freeing an inner area fills the hash; an exact size reuses it.
        s.free(b.addr).unwrap();
        assert_eq!(layout(s), [(0, 2, true), (2, 3, false), (5, 2, true)]);
        let b2 = s.alloc(3 * Q, 0, NG).unwrap();
        assert_eq!(b2.addr, b.addr);
        // A size the hash cannot satisfy exactly goes to the bump.
        s.free(b2.addr).unwrap();
        let d = s.alloc(2 * Q, 0, NG).unwrap();
        assert_eq!((d.addr - S) / Q, 7);
        // An alignment gap at the bump becomes a free area.
        let e = s.alloc(Q, 16 * Q, NG).unwrap();
        assert_eq!((e.addr - S) / Q, 16);
        assert_eq!(layout(s)[4], (9, 7, false));
        // Freeing the last area lets the bump retreat over free space.
        s.free(e.addr).unwrap();
        assert_eq!(layout(s).last(), Some(&(7, 2, true)));
        s.free(d.addr).unwrap();
        s.free(c.addr).unwrap();
        assert_eq!(layout(s), [(0, 2, true)]);
        s.free(a.addr).unwrap();
        assert!(layout(s).is_empty());
        assert_eq!(s.stats().largest_free, 64 * Q);
    });
}

#[test]
fn rfc_falls_back_to_a_search_at_the_top() {
    with_space(Policy::Rfc, 8, |s| {
        let a = s.alloc(2 * Q, 0, NG).unwrap();
        let _b = s.alloc(6 * Q, 0, NG).unwrap();
        s.free(a.addr).unwrap();
        // The bump is at the end; a smaller request is cut from the hole.
        let c = s.alloc(Q, 0, NG).unwrap();
        assert_eq!(c.addr, a.addr);
        assert_eq!(s.alloc(2 * Q, 0, NG), Err(Error::NoSpace));
    });
}

#[test]
fn bad_inputs_change_nothing() {
    for &p in POLICIES {
        with_space(p, 64, |s| {
            s.alloc(3 * Q, 0, Flags::ALLOC).unwrap();
            let keep = s.alloc(Q, 0, Flags::ALLOC).unwrap();
            let before = snapshot(s);
            let bad: [(Request, Error); 7] = [
                (
                    Request {
                        size: 0,
                        align: 0,
                        flags: NG,
                        tag: 0,
                        lo: S,
                        hi: S + 64 * Q,
                        phase: 0,
                        nocross: 0,
                    },
                    Error::ZeroSize,
                ),
                (
                    Request {
                        size: Q,
                        align: 3 * Q,
                        flags: NG,
                        tag: 0,
                        lo: S,
                        hi: S + 64 * Q,
                        phase: 0,
                        nocross: 0,
                    },
                    Error::BadAlign,
                ),
                (
                    Request {
                        size: Q,
                        align: 128 * Q,
                        flags: NG,
                        tag: 0,
                        lo: S,
                        hi: S + 64 * Q,
                        phase: 0,
                        nocross: 0,
                    },
                    Error::BadAlign,
                ),
                (
                    Request {
                        size: usize::MAX - 10,
                        align: 0,
                        flags: NG,
                        tag: 0,
                        lo: S,
                        hi: S + 64 * Q,
                        phase: 0,
                        nocross: 0,
                    },
                    Error::Overflow,
                ),
                (
                    Request {
                        size: Q,
                        align: 0,
                        flags: NG,
                        tag: 0,
                        lo: S + Q,
                        hi: S + Q,
                        phase: 0,
                        nocross: 0,
                    },
                    Error::BadRange,
                ),
                (
                    Request {
                        size: Q,
                        align: 0,
                        flags: NG,
                        tag: 0,
                        lo: S - Q,
                        hi: S + Q,
                        phase: 0,
                        nocross: 0,
                    },
                    Error::BadRange,
                ),
                (
                    Request {
                        size: 65 * Q,
                        align: 0,
                        flags: NG,
                        tag: 0,
                        lo: S,
                        hi: S + 64 * Q,
                        phase: 0,
                        nocross: 0,
                    },
                    Error::NoSpace,
                ),
            ];
            for (req, want) in bad {
                assert_eq!(s.alloc_request(&req), Err(want), "{p:?} {req:?}");
                assert_eq!(snapshot(s), before);
            }
            for addr in [0, S - Q, keep.addr + Q, S + 64 * Q, keep.addr + 1] {
                assert_eq!(s.free(addr), Err(Error::NotAllocated { addr }));
                assert_eq!(snapshot(s), before);
            }
            s.free(keep.addr).unwrap();
            let after = snapshot(s);
            assert_eq!(
                s.free(keep.addr),
                Err(Error::NotAllocated { addr: keep.addr })
            );
            assert_eq!(snapshot(s), after);
        });
    }
}

#[test]
fn out_of_nodes_is_its_own_error_and_changes_nothing() {
    for &p in POLICIES {
        let mut slots: Vec<vmarea::Area> = (0..4).map(|_| vmarea::Area::new()).collect();
        let mut s = Space::new(S, S + 64 * Q, Q, p, PoolNodes::new(&mut slots)).unwrap();
        let mut got = 0;
        let err = loop {
            match s.alloc(Q, 0, NG) {
                Ok(_) => got += 1,
                Err(e) => break e,
            }
            s.validate().unwrap();
        };
        assert_eq!(err, Error::NoNode, "{p:?}");
        assert!(got >= 1);
        let before = snapshot(&s);
        assert_eq!(s.alloc(Q, 0, NG), Err(Error::NoNode));
        assert_eq!(snapshot(&s), before);
        s.validate().unwrap();
    }
}

#[test]
fn bad_space_is_refused() {
    let mut slots: Vec<vmarea::Area> = (0..2).map(|_| vmarea::Area::new()).collect();
    for (start, end, q) in [
        (S, S, Q),
        (S + 1, S + Q, Q),
        (S, S + Q, 3),
        (S + Q, S, Q),
        (0, usize::MAX & !(Q - 1), Q),
    ] {
        let r = Space::new(start, end, q, Policy::FirstFit, PoolNodes::new(&mut slots));
        assert_eq!(r.err(), Some(Error::BadSpace));
    }
}

#[test]
fn find_display_and_stats() {
    with_space(Policy::FirstFit, 64, |s| {
        let a = s
            .alloc_request(&Request {
                size: 2 * Q,
                align: 0,
                flags: Flags::ALLOC,
                tag: 0xbeef,
                lo: S,
                hi: S + 64 * Q,
                phase: 0,
                nocross: 0,
            })
            .unwrap();
        let b = s.alloc(Q, 0, Flags::IOREMAP | NG).unwrap();
        assert_eq!(s.find(a.addr + 2 * Q + 17).unwrap().addr, a.addr); // the guard belongs to the area
        assert_eq!(s.find(b.addr + Q), None);
        let text = s.to_string();
        assert!(text.contains("12288 tag=0xbeef vmalloc"), "{text}");
        assert!(text.contains("ioremap"), "{text}");
        assert_eq!(text.lines().count(), 2);
        let st = s.stats();
        assert_eq!(st.used_bytes, 4 * Q);
        assert_eq!(st.used_areas, 2);
        assert_eq!(st.free_ranges, 1);
        assert_eq!(st.largest_free, 60 * Q);
        assert_eq!(st.fragmentation(), 0.0);
        assert_eq!(s.used_count(), 2);
    });
}

#[test]
fn instant_fit_takes_a_list_that_surely_fits() {
    with_space(Policy::InstantFit, 256, |s| {
        // Free areas of 40 and 100 pages; a 40-page request skips the
        // 40-page area's list (32..63 pages, not all ≥ 40) and takes the
        // 100-page one, from a list (64..127) that surely fits.
        let x: Vec<_> = [40, 1, 100, 1]
            .iter()
            .map(|&n| s.alloc(n * Q, 0, NG).unwrap())
            .collect();
        s.free(x[0].addr).unwrap();
        s.free(x[2].addr).unwrap();
        let got = s.alloc(40 * Q, 0, NG).unwrap();
        assert_eq!(got.addr, x[2].addr);
    });
    with_space(Policy::InstantFit, 64, |s| {
        // Below 32 pages every size has an exact list (FreeBSD's): a
        // 3-page request takes the 3-page hole, not the 9-page one.
        let x: Vec<_> = [3, 1, 9, 1]
            .iter()
            .map(|&n| s.alloc(n * Q, 0, NG).unwrap())
            .collect();
        s.free(x[0].addr).unwrap();
        s.free(x[2].addr).unwrap();
        let got = s.alloc(3 * Q, 0, NG).unwrap();
        assert_eq!(got.addr, x[0].addr);
        // Best fit on the same layout takes the exact 3-page hole too.
    });
    with_space(Policy::BestFit, 64, |s| {
        let x: Vec<_> = [9, 1, 3, 1]
            .iter()
            .map(|&n| s.alloc(n * Q, 0, NG).unwrap())
            .collect();
        s.free(x[0].addr).unwrap();
        s.free(x[2].addr).unwrap();
        assert_eq!(s.alloc(3 * Q, 0, NG).unwrap().addr, x[2].addr);
    });
}

#[test]
fn lazy_free_waits_for_a_purge() {
    for &p in POLICIES {
        with_space(p, 16, |s| {
            s.set_lazy_threshold(usize::MAX); // purge only when asked or out of space
            let a = s.alloc(8 * Q, 0, NG).unwrap();
            let b = s.alloc(8 * Q, 0, NG).unwrap();
            s.free_lazy(a.addr).unwrap();
            assert_eq!(s.find(a.addr), None);
            assert_eq!(s.free(a.addr), Err(Error::NotAllocated { addr: a.addr }));
            let st = s.stats();
            assert_eq!(
                (st.used_bytes, st.lazy_bytes, st.lazy_areas, st.free_bytes),
                (8 * Q, 8 * Q, 1, 0)
            );
            s.validate().unwrap();
            // Out of space: the allocation purges and retries, landing on a's range.
            let c = s.alloc(4 * Q, 0, NG).unwrap();
            assert_eq!(c.addr, a.addr);
            assert_eq!(s.stats().lazy_bytes, 0);
            // Explicit purge, and the threshold.
            s.free_lazy(b.addr).unwrap();
            assert_eq!(s.purge(), 1);
            assert_eq!(s.purge(), 0);
            s.set_lazy_threshold(4 * Q);
            s.free_lazy(c.addr).unwrap(); // 4 pages pending: at the threshold, purged at once
            assert_eq!(s.stats().lazy_areas, 0);
            assert_eq!(s.stats().largest_free, 16 * Q);
        });
    }
}

#[test]
fn free_by_handle_needs_no_search() {
    with_space(Policy::FirstFit, 16, |s| {
        let req = Request {
            size: Q,
            align: 0,
            flags: NG,
            tag: 1,
            lo: S,
            hi: S + 16 * Q,
            phase: 0,
            nocross: 0,
        };
        let (a, h) = s.alloc_handle(&req).unwrap();
        // SAFETY: `h` came from this space and the area is live.
        let freed = unsafe { s.free_handle(h) };
        assert_eq!(freed, a);
        assert_eq!(s.used_count(), 0);
    });
}

/// Next fit hands out addresses after the previous allocation, so a freed
/// one is not reused at once (vmem's `VM_NEXTFIT`, for IDs), and wraps
/// when nothing fits after the rotor.
#[test]
fn next_fit_continues_after_the_last_allocation_and_wraps() {
    let (start, q) = (0x10_0000, 0x1000);
    let mut slots: Vec<vmarea::Area> = (0..16).map(|_| vmarea::Area::new()).collect();
    let pool = PoolNodes::new(&mut slots);
    let mut s = Space::new(start, start + 8 * q, q, Policy::NextFit, pool).unwrap();
    let a = s.alloc(q, 0, Flags::NO_GUARD).unwrap();
    let b = s.alloc(q, 0, Flags::NO_GUARD).unwrap();
    s.free(a.addr).unwrap();
    // FirstFit would reuse `a`; next fit continues after `b`.
    let c = s.alloc(q, 0, Flags::NO_GUARD).unwrap();
    assert_eq!(c.addr, b.end());
    // Fill up to the end, then the rotor wraps to the freed `a`.
    let rest: Vec<_> = (0..5)
        .map(|_| s.alloc(q, 0, Flags::NO_GUARD).unwrap().addr)
        .collect();
    assert_eq!(*rest.last().unwrap(), start + 7 * q);
    let wrapped = s.alloc(q, 0, Flags::NO_GUARD).unwrap();
    assert_eq!(wrapped.addr, a.addr);
    assert_eq!(s.alloc(q, 0, Flags::NO_GUARD), Err(Error::NoSpace));
    s.validate().unwrap();
}

/// vmem_xalloc's constraints on every policy: a phase modulo the
/// alignment, a boundary the area must not cross, and refusals for
/// constraints that cannot be met together (nothing changed).
#[test]
fn phase_and_nocross_constraints() {
    for &p in POLICIES {
        let mut slots: Vec<vmarea::Area> = (0..32).map(|_| vmarea::Area::new()).collect();
        let mut s = Space::new(S, S + 64 * Q, Q, p, PoolNodes::new(&mut slots)).unwrap();
        // Phase: start ≡ Q (mod 4Q).
        let a = s
            .alloc_request(&s.request(Q).align(4 * Q).phase(Q).flags(NG))
            .unwrap();
        assert_eq!((a.addr - S) % (4 * Q), Q, "{p:?}");
        // Nocross: three quanta never straddle a multiple of 4Q.
        for _ in 0..6 {
            let b = s
                .alloc_request(&s.request(3 * Q).nocross(4 * Q).flags(NG))
                .unwrap();
            assert_eq!(
                (b.addr - S) / (4 * Q),
                (b.end() - 1 - S) / (4 * Q),
                "{p:?} {b:?}"
            );
        }
        s.validate().unwrap();
        let before: Vec<_> = s.iter().collect();
        for bad in [
            s.request(Q).align(4 * Q).phase(4 * Q), // phase not below the alignment
            s.request(Q).phase(Q / 2),              // phase not in quanta
            s.request(4 * Q).nocross(2 * Q),        // larger than the boundary
            s.request(Q).nocross(3 * Q),            // not a power of two
            s.request(2 * Q)
                .align(4 * Q)
                .phase(3 * Q)
                .nocross(4 * Q)
                .flags(NG), // phase + size past it
        ] {
            assert_eq!(s.alloc_request(&bad), Err(Error::BadAlign), "{p:?} {bad:?}");
        }
        assert_eq!(
            s.iter().collect::<Vec<_>>(),
            before,
            "{p:?}: a refusal changed nothing"
        );
    }
}
