//! How far the first-fit tree walks: constrained requests stay O(log n).

use crate::{BoxNodes, Flags, Policy, Space};
use std::vec::Vec;

const Q: usize = 4096;

/// A first-fit space holding `holes` free areas of two quanta, each at an
/// odd quantum (so none holds two quanta aligned to two quanta), then one
/// free area of three quanta, then the untracked top.
fn odd_holes(holes: usize) -> (Space<BoxNodes>, usize) {
    let mut s = Space::new(0, 1 << 40, Q, Policy::FirstFit, BoxNodes).unwrap();
    let mut take = |pages: usize| s.alloc(pages * Q, 0, Flags::NO_GUARD).unwrap().addr;
    take(1);
    let mut free = Vec::new();
    for _ in 0..holes {
        free.push(take(2));
        take(2);
    }
    let wide = take(3);
    take(1);
    free.push(wide);
    for addr in free {
        s.free(addr).unwrap();
    }
    s.validate().unwrap();
    (s, wide)
}

#[test]
fn an_aligned_request_skips_the_holes_that_cannot_hold_it() {
    // Miri interprets every step: the small sizes make the same point.
    let sizes: &[usize] = if cfg!(miri) {
        &[16, 64]
    } else {
        &[64, 1024, 16384]
    };
    for &holes in sizes {
        let (mut s, wide) = odd_holes(holes);
        let before = s.tree_visits();
        let a = s.alloc(2 * Q, 2 * Q, Flags::NO_GUARD).unwrap();
        let visits = s.tree_visits() - before;
        // The lowest area that holds two aligned quanta wherever it starts.
        assert_eq!(a.addr, wide + Q);
        // A walk through every hole would stop at each; the sure-room
        // search stops only on the way down to the three-quanta area.
        let bound = 2 * (usize::BITS - holes.leading_zeros()) as usize + 2;
        assert!(visits <= bound, "{holes} holes: {visits} visits > {bound}");
        s.validate().unwrap();
    }
}

#[test]
fn without_sure_room_the_exact_walk_still_finds_a_fit() {
    // 32 quanta: used 0, free 1-2, used 3-4, free 5-6, used 7-9, free
    // 10-11, used 12-31. Only the free pair at 10 is aligned to two
    // quanta, and no free area has the three quanta of sure room.
    let mut s = Space::new(0, 32 * Q, Q, Policy::FirstFit, BoxNodes).unwrap();
    let mut holes = Vec::new();
    for (pages, hole) in [
        (1, false),
        (2, true),
        (2, false),
        (2, true),
        (3, false),
        (2, true),
    ] {
        let a = s.alloc(pages * Q, 0, Flags::NO_GUARD).unwrap();
        if hole {
            holes.push(a.addr);
        }
    }
    s.alloc(20 * Q, 0, Flags::NO_GUARD).unwrap();
    for addr in holes {
        s.free(addr).unwrap();
    }
    let a = s.alloc(2 * Q, 2 * Q, Flags::NO_GUARD).unwrap();
    assert_eq!(a.addr, 10 * Q);
    assert_eq!(
        s.alloc(2 * Q, 2 * Q, Flags::NO_GUARD).unwrap_err(),
        crate::Error::NoSpace
    );
    s.validate().unwrap();
}
