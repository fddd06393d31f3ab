//! Size pools in front of the policy (`Space::set_pools`): frees fill them,
//! unconstrained requests of their size empty them in O(1), purges decay
//! them, a request with no room drains them, bad limits are refused.
#![cfg(feature = "alloc")]

use vmarea::{BoxNodes, Error, Flags, Policy, Request, Space, POOL_CLASSES};

const Q: usize = 4096;
const S: usize = 0x100_0000;

#[test]
fn a_freed_area_is_handed_out_again_from_its_pool() {
    for &policy in Policy::ALL {
        let mut s = Space::new(S, S + 256 * Q, Q, policy, BoxNodes).unwrap();
        s.set_pools(4, 2).unwrap();
        let a: Vec<_> = (0..4)
            .map(|_| s.alloc(Q, 0, Flags::ALLOC).unwrap())
            .collect();
        for x in &a {
            s.free(x.addr).unwrap();
        }
        // Two fit in the two-page pool (one page and the guard); the rest merged.
        let st = s.stats();
        assert_eq!((st.pooled_areas, st.pooled_bytes), (2, 4 * Q), "{policy:?}");
        s.validate().unwrap();
        // Most recent first, whatever the policy would choose.
        let b = s.alloc(Q, 0, Flags::ALLOC).unwrap();
        assert_eq!(b.addr, a[1].addr, "{policy:?}");
        // The pool's most recent area now is a[0]: a constrained request
        // takes it only if it meets the constraints.
        let top = a[0].addr;
        let miss = Request::new(Q, S, S + 256 * Q)
            .align(2 * Q)
            .phase(Q - top % (2 * Q))
            .flags(Flags::ALLOC);
        let c = s.alloc_request(&miss).unwrap();
        assert_ne!(c.addr, top);
        assert_eq!(s.stats().pooled_areas, 1, "{policy:?}");
        let hit = Request::new(Q, S, S + 256 * Q)
            .align(2 * Q)
            .phase(top % (2 * Q))
            .flags(Flags::ALLOC);
        assert_eq!(s.alloc_request(&hit).unwrap().addr, top, "{policy:?}");
        assert_eq!(s.stats().pooled_areas, 0);
        s.free(top).unwrap();
        // Pooled areas are neither found nor freed by address.
        assert_eq!(s.find(a[0].addr), None);
        assert_eq!(
            s.free(a[0].addr),
            Err(Error::NotAllocated { addr: a[0].addr })
        );
        s.validate().unwrap();
    }
}

#[test]
fn purges_decay_pools_and_pressure_drains_them() {
    let mut s = Space::new(S, S + 64 * Q, Q, Policy::FirstFit, BoxNodes).unwrap();
    s.set_pools(2, 8).unwrap();
    s.set_lazy_threshold(usize::MAX);
    let a: Vec<_> = (0..8)
        .map(|_| s.alloc(Q, 0, Flags::ALLOC).unwrap())
        .collect();
    let lazy = s.alloc(Q, 0, Flags::NO_GUARD).unwrap();
    for x in &a {
        s.free(x.addr).unwrap();
    }
    assert_eq!(s.stats().pooled_areas, 8);
    // Each purge gives a quarter back, rounded up: 8 → 6 → 4 → 3.
    for want in [6, 4, 3] {
        let l = s.alloc(Q, 0, Flags::NO_GUARD).unwrap();
        s.free_lazy(l.addr).unwrap();
        assert_eq!(s.purge(), 1);
        assert_eq!(s.stats().pooled_areas, want);
        s.validate().unwrap();
    }
    s.free(lazy.addr).unwrap();
    // A request that needs the pooled ranges drains the pools first.
    let st = s.stats();
    assert_eq!(st.used_bytes, 0);
    let whole = s
        .alloc(st.free_bytes + st.pooled_bytes, 0, Flags::NO_GUARD)
        .unwrap();
    assert_eq!(whole.size, 64 * Q);
    assert_eq!(s.stats().pooled_areas, 0, "drained under pressure");
    s.validate().unwrap();
    s.free(whole.addr).unwrap();
}

#[test]
fn limits_are_checked_and_lowering_them_drains() {
    let mut s = Space::new(S, S + 64 * Q, Q, Policy::InstantFit, BoxNodes).unwrap();
    assert_eq!(s.set_pools(POOL_CLASSES + 1, 4), Err(Error::BadRange));
    s.set_pools(POOL_CLASSES, 4).unwrap();
    let a: Vec<_> = [1, 3, 5]
        .iter()
        .map(|&p| s.alloc(p * Q, 0, Flags::NO_GUARD).unwrap())
        .collect();
    for x in &a {
        s.free(x.addr).unwrap();
    }
    assert_eq!(s.stats().pooled_areas, 3);
    s.set_pools(3, 4).unwrap();
    assert_eq!(s.stats().pooled_areas, 2, "the 5-page pool drained");
    s.set_pools(3, 0).unwrap();
    assert_eq!(s.stats().pooled_areas, 0, "off");
    s.validate().unwrap();
    assert_eq!(s.drain_pools(), 0);
    let w = Request::new(Q, S, S + 64 * Q);
    s.alloc_request(&w).unwrap();
}
