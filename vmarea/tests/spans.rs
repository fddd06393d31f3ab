//! `add_span` (vmem's `vmem_add`): spans above and below, never merged
//! across, the range between never handed out, refusals that change nothing.
#![cfg(feature = "alloc")]

use vmarea::{Area, AreaInfo, BoxNodes, Error, Flags, Policy, PoolNodes, Space};

const Q: usize = 4096;
const S: usize = 0x100_0000;
const POLICIES: [Policy; 5] = [
    Policy::Rfc,
    Policy::FirstFit,
    Policy::InstantFit,
    Policy::BestFit,
    Policy::NextFit,
];

fn snapshot<N: vmarea::NodeSource>(s: &Space<N>) -> (Vec<AreaInfo>, vmarea::Stats, (usize, usize)) {
    (s.iter().collect(), s.stats(), s.bounds())
}

#[test]
fn spans_above_and_below_fill_without_crossing() {
    for policy in POLICIES {
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
    for policy in POLICIES {
        let mut s = Space::new(S, S + 8 * Q, Q, policy, BoxNodes).unwrap();
        s.alloc(Q, 0, Flags::ALLOC).unwrap();
        let before = snapshot(&s);
        for (lo, hi) in [
            (S + 8 * Q, S + 9 * Q),      // adjacent above
            (S - Q, S),                  // adjacent below
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
    for policy in POLICIES {
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
