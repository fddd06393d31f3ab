//! `add_span` (vmem's `vmem_add`) and imports: spans above and below,
//! adjacent or not, never merged across, the range between never handed
//! out, wholly free imported spans given back, refusals that change nothing.
#![cfg(feature = "alloc")]

use vmarea::{
    Area, AreaInfo, BoxNodes, Error, Flags, Policy, PoolNodes, RawSpinlock, ShardedSpace,
    SharedSpace, Space,
};

const Q: usize = 4096;
const S: usize = 0x100_0000;
const POLICIES: &[Policy] = Policy::ALL;

fn snapshot<N: vmarea::NodeSource>(s: &Space<N>) -> (Vec<AreaInfo>, vmarea::Stats, (usize, usize)) {
    (s.iter().collect(), s.stats(), s.bounds())
}

#[test]
fn spans_above_and_below_fill_without_crossing() {
    for &policy in POLICIES {
        let mut s = Space::new(S, S + 8 * Q, Q, policy, BoxNodes).unwrap();
        let first = s.alloc(Q, 0, Flags::NO_GUARD).unwrap();
        s.add_span(S + 16 * Q, S + 24 * Q).unwrap();
        s.add_span(S - 12 * Q, S - 4 * Q).unwrap();
        assert_eq!(s.bounds(), (S - 12 * Q, S + 24 * Q));
        s.validate().unwrap();
        let spans = [
            (S - 12 * Q, S - 4 * Q),
            (S, S + 8 * Q),
            (S + 16 * Q, S + 24 * Q),
        ];
        let inside = |a: &AreaInfo| spans.iter().any(|&(lo, hi)| lo <= a.addr && a.end() <= hi);
        // Three-page areas: two per span fit, nothing crosses a gap.
        let mut got = vec![first.addr];
        while let Ok(a) = s.alloc(3 * Q, 0, Flags::NO_GUARD) {
            assert!(inside(&a), "{policy:?}: {a:?} crosses a span boundary");
            got.push(a.addr);
            s.validate().unwrap();
        }
        assert_eq!(got.len(), 1 + 6, "{policy:?}");
        // Nothing is found or freed between spans.
        for addr in [S - 4 * Q, S - Q, S + 8 * Q, S + 15 * Q] {
            assert_eq!(s.find(addr), None);
            assert_eq!(s.free(addr), Err(Error::NotAllocated { addr }));
        }
        for addr in got {
            s.free(addr).unwrap();
            s.validate().unwrap();
        }
        let st = s.stats();
        assert_eq!(
            (st.free_bytes, st.largest_free, st.free_ranges),
            (24 * Q, 8 * Q, 3),
            "{policy:?}"
        );
        assert!(
            s.iter().all(|a| inside(&a)),
            "{policy:?}: something listed outside the spans"
        );
    }
}

#[test]
fn bad_spans_are_refused_and_change_nothing() {
    for &policy in POLICIES {
        let mut s = Space::new(S, S + 8 * Q, Q, policy, BoxNodes).unwrap();
        s.alloc(Q, 0, Flags::ALLOC).unwrap();
        let before = snapshot(&s);
        for (lo, hi) in [
            (S + 4 * Q, S + 12 * Q),     // overlapping
            (S - 4 * Q, S + Q),          // overlapping below
            (S + 9 * Q, S + 9 * Q),      // empty
            (S + 9 * Q + 1, S + 12 * Q), // not aligned
            (S + 12 * Q, S + 9 * Q),     // reversed
        ] {
            assert_eq!(
                s.add_span(lo, hi),
                Err(Error::BadRange),
                "{policy:?} [{lo:#x}, {hi:#x})"
            );
            assert_eq!(snapshot(&s), before);
        }
        assert_eq!(
            s.add_span(S + 9 * Q, usize::MAX & !(Q - 1)),
            Err(Error::BadSpace)
        );
        assert_eq!(snapshot(&s), before);
        s.validate().unwrap();
    }
}

#[test]
fn a_span_without_area_objects_is_refused() {
    for &policy in POLICIES {
        // Enough objects for the first allocation only.
        let mut slots: Vec<Area> = (0..3).map(|_| Area::new()).collect();
        let mut s = Space::new(S, S + 8 * Q, Q, policy, PoolNodes::new(&mut slots)).unwrap();
        s.alloc(Q, 0, Flags::ALLOC).unwrap();
        let a = s.alloc(Q, 0, Flags::ALLOC);
        let before = snapshot(&s);
        assert_eq!(
            s.add_span(S + 16 * Q, S + 20 * Q),
            Err(Error::NoNode),
            "{policy:?} {a:?}"
        );
        assert_eq!(snapshot(&s), before);
        s.validate().unwrap();
    }
}

#[test]
fn adjacent_spans_never_merge() {
    for &policy in POLICIES {
        let mut s = Space::new(S, S + 4 * Q, Q, policy, BoxNodes).unwrap();
        s.add_span(S + 4 * Q, S + 8 * Q).unwrap();
        s.add_span(S - 4 * Q, S).unwrap();
        assert_eq!(s.bounds(), (S - 4 * Q, S + 8 * Q));
        s.validate().unwrap();
        // Five pages fit in no span, though twelve free pages touch.
        assert_eq!(
            s.alloc(5 * Q, 0, Flags::NO_GUARD),
            Err(Error::NoSpace),
            "{policy:?}"
        );
        let all: Vec<_> = (0..3)
            .map(|_| s.alloc(4 * Q, 0, Flags::NO_GUARD).unwrap().addr)
            .collect();
        for a in all {
            s.free(a).unwrap();
            s.validate().unwrap();
        }
        let st = s.stats();
        assert_eq!(
            (st.free_bytes, st.largest_free, st.free_ranges),
            (12 * Q, 4 * Q, 3),
            "{policy:?}"
        );
    }
}

mod import {
    use super::*;
    use std::cell::RefCell;

    thread_local! {
        /// The parent: ranges handed out and not yet given back, and where
        /// the next one starts.
        static PARENT: RefCell<(Vec<(usize, usize)>, usize)> = const { RefCell::new((Vec::new(), 0)) };
    }

    fn take(size: usize) -> Option<(usize, usize)> {
        PARENT.with_borrow_mut(|(out, next)| {
            let lo = *next;
            *next += size + 8 * Q; // a gap between spans
            out.push((lo, lo + size));
            Some((lo, lo + size))
        })
    }

    fn give(lo: usize, hi: usize) {
        PARENT.with_borrow_mut(|(out, _)| {
            let i = out
                .iter()
                .position(|&r| r == (lo, hi))
                .expect("given back what was taken");
            out.swap_remove(i);
        });
    }

    #[test]
    fn a_full_space_imports_and_releases_whole_spans() {
        for &policy in POLICIES {
            PARENT.with_borrow_mut(|p| *p = (Vec::new(), S + 64 * Q));
            let mut s = Space::new(S, S + 8 * Q, Q, policy, BoxNodes).unwrap();
            s.set_import(Some(vmarea::Import {
                take,
                give,
                quantum: 16 * Q,
            }));
            // Eight pages of its own, then imports of at least 16 pages.
            let got: Vec<_> = (0..12)
                .map(|_| {
                    let a = s.alloc(3 * Q, 0, Flags::ALLOC).unwrap();
                    s.validate().unwrap();
                    a
                })
                .collect();
            let imported = PARENT.with_borrow(|p| p.0.len());
            assert!(imported >= 2, "{policy:?}: {imported} imports");
            assert_eq!(s.counters().imports, imported as u64);
            // A windowed request never imports.
            let (lo, hi) = s.bounds();
            let w = vmarea::Request::new(64 * Q, lo, hi - Q);
            assert_eq!(s.alloc_request(&w), Err(Error::NoSpace));
            assert_eq!(s.counters().imports, imported as u64);
            // Nothing goes back while every span holds an area.
            assert_eq!(s.release_spans(), 0);
            for a in &got {
                s.free(a.addr).unwrap();
                s.validate().unwrap();
            }
            assert_eq!(s.release_spans(), imported, "{policy:?}");
            s.validate().unwrap();
            assert!(PARENT.with_borrow(|p| p.0.is_empty()), "{policy:?}");
            assert_eq!(s.bounds(), (S, S + 8 * Q), "{policy:?}");
            let st = s.stats();
            assert_eq!((st.free_bytes, st.used_bytes), (8 * Q, 0));
            // And it imports again when needed.
            let big = s.alloc(20 * Q, 0, Flags::ALLOC).unwrap();
            s.free(big.addr).unwrap();
            assert_eq!(s.release_spans(), 1, "{policy:?}");
            assert!(PARENT.with_borrow(|p| p.0.is_empty()));
            s.validate().unwrap();
        }
    }

    /// The same through the shared layer: imports under the lock, the
    /// new bounds published to `bounds()` and `request()` when the guard
    /// is released, released spans likewise.
    #[test]
    fn a_shared_space_imports_and_publishes_its_bounds() {
        PARENT.with_borrow_mut(|p| *p = (Vec::new(), S + 64 * Q));
        let mut s = Space::new(S, S + 8 * Q, Q, Policy::FirstFit, BoxNodes).unwrap();
        s.set_import(Some(vmarea::Import {
            take,
            give,
            quantum: 16 * Q,
        }));
        let sh = SharedSpace::<RawSpinlock, BoxNodes>::new(s);
        let got: Vec<_> = (0..4)
            .map(|_| sh.alloc(3 * Q, 0, Flags::ALLOC).unwrap())
            .collect();
        let imported = PARENT.with_borrow(|p| p.0.len());
        assert!(imported >= 1);
        let (lo, hi) = sh.bounds();
        assert_eq!(lo, S);
        assert!(hi >= S + 64 * Q + 16 * Q, "published: {hi:#x}");
        assert_eq!((sh.request(Q).lo, sh.request(Q).hi), (lo, hi));
        for a in &got {
            sh.free(a.addr).unwrap();
        }
        assert_eq!(sh.lock().release_spans(), imported);
        assert_eq!(sh.bounds(), (S, S + 8 * Q));
        // A request built from the old bounds is refused, nothing changed.
        let stale = vmarea::Request::new(Q, S, hi);
        assert_eq!(sh.alloc_request(&stale), Err(Error::BadRange));
        let g = sh.lock();
        g.validate().unwrap();
        assert_eq!(g.used_count(), 0);
    }

    #[test]
    fn a_range_that_cannot_be_added_goes_back() {
        fn overlapping(size: usize) -> Option<(usize, usize)> {
            PARENT.with_borrow_mut(|(out, _)| out.push((S, S + size)));
            Some((S, S + size))
        }
        for &policy in POLICIES {
            PARENT.with_borrow_mut(|p| *p = (Vec::new(), 0));
            let mut s = Space::new(S, S + 4 * Q, Q, policy, BoxNodes).unwrap();
            s.set_import(Some(vmarea::Import {
                take: overlapping,
                give,
                quantum: Q,
            }));
            s.alloc(Q, 0, Flags::ALLOC).unwrap();
            let before = snapshot(&s);
            assert_eq!(s.alloc(8 * Q, 0, Flags::ALLOC), Err(Error::NoSpace));
            assert!(
                PARENT.with_borrow(|p| p.0.is_empty()),
                "given straight back"
            );
            // The refusal is counted; nothing else changed.
            assert_eq!(snapshot(&s), before);
        }
    }
}

/// Found by the model: with an adjacent span above, freeing the last area
/// below the boundary must not let the bump region retreat across it.
#[test]
fn the_bump_region_never_retreats_across_a_boundary() {
    for &policy in POLICIES {
        let mut s = Space::new(S, S + 16 * Q, Q, policy, BoxNodes).unwrap();
        s.add_span(S + 16 * Q, S + 17 * Q).unwrap();
        let a = s.alloc(Q, 0, Flags::ALLOC).unwrap();
        s.free(a.addr).unwrap();
        s.validate().unwrap();
        let st = s.stats();
        assert_eq!(
            (st.free_bytes, st.largest_free),
            (17 * Q, 16 * Q),
            "{policy:?}"
        );
    }
}

/// `SharedSpace::add_span` grows the shared space: the area objects it
/// needs are taken before the lock, `bounds()` shows the span once the
/// lock is released, and `alloc` (whose window is read under the lock)
/// uses it.
#[test]
fn a_shared_space_grows_by_a_span() {
    for &policy in POLICIES {
        let sh = SharedSpace::<RawSpinlock, BoxNodes>::new(
            Space::new(S, S + 4 * Q, Q, policy, BoxNodes).unwrap(),
        );
        let a = sh.alloc(3 * Q, 0, Flags::ALLOC).unwrap();
        assert_eq!(sh.alloc(Q, 0, Flags::ALLOC), Err(Error::NoSpace));
        sh.add_span(S + 8 * Q, S + 16 * Q).unwrap();
        assert_eq!(sh.bounds(), (S, S + 16 * Q), "{policy:?}");
        let b = sh.alloc(3 * Q, 0, Flags::ALLOC).unwrap();
        assert!(
            b.addr >= S + 8 * Q && b.end() <= S + 16 * Q,
            "{policy:?}: {b:?}"
        );
        // Refusals change nothing, bounds included.
        assert_eq!(sh.add_span(S + 2 * Q, S + 6 * Q), Err(Error::BadRange));
        assert_eq!(sh.bounds(), (S, S + 16 * Q));
        for x in [a, b] {
            sh.free(x.addr).unwrap();
        }
        let g = sh.lock();
        g.validate().unwrap();
        assert_eq!(g.stats().free_bytes, 12 * Q, "{policy:?}");
    }
}

/// A node of a sharded space keeps its zone: spans and imports are
/// refused with nothing changed, so every address stays with the node its
/// zone routes to.
#[test]
fn a_sharded_node_refuses_spans_and_imports() {
    fn take(_: usize) -> Option<(usize, usize)> {
        unreachable!("a sharded node never imports")
    }
    fn give(_: usize, _: usize) {}
    let mut first = Space::new(S, S + 8 * Q, Q, Policy::FirstFit, BoxNodes).unwrap();
    // An import source a node had is dropped when it joins.
    first.set_import(Some(vmarea::Import {
        take,
        give,
        quantum: Q,
    }));
    let sharded = ShardedSpace::new([
        SharedSpace::<RawSpinlock, BoxNodes>::new(first),
        SharedSpace::new(Space::new(S + 8 * Q, S + 16 * Q, Q, Policy::FirstFit, BoxNodes).unwrap()),
    ])
    .unwrap();
    let node = sharded.node(0);
    assert_eq!(node.add_span(S + 32 * Q, S + 40 * Q), Err(Error::BadRange));
    assert_eq!(
        node.lock().set_import(Some(vmarea::Import {
            take,
            give,
            quantum: Q
        })),
        Err(Error::BadRange)
    );
    assert_eq!(node.bounds(), (S, S + 8 * Q));
    // Full node 0: the allocation goes to node 1, never to an import.
    let r = sharded.request(7 * Q).flags(Flags::ALLOC);
    let (a, _) = sharded.alloc_on(0, &r).unwrap();
    let (b, _) = sharded.alloc_on(0, &r).unwrap();
    assert_eq!((a.addr, b.addr), (S, S + 8 * Q));
    assert_eq!(sharded.alloc_on(0, &r).map(|x| x.0), Err(Error::NoSpace));
    sharded.validate().unwrap();
}
