//! How far the searches walk: constrained requests stay O(log n) in the
//! first-fit tree and O(1) in the size lists (plus a bounded probe).

use crate::{BoxNodes, Flags, Policy, Space};
use std::vec::Vec;

const Q: usize = 4096;

/// A first-fit space holding `holes` free areas of two quanta, each at an
/// odd quantum (so none holds two quanta aligned to two quanta), then one
/// free area of three quanta, then the untracked top.
fn odd_holes(holes: usize) -> (Space<BoxNodes>, usize) {
    odd_holes_in(Policy::FirstFit, holes)
}

/// [`odd_holes`] under `policy`.
fn odd_holes_in(policy: Policy, holes: usize) -> (Space<BoxNodes>, usize) {
    let mut s = Space::new(0, 1 << 40, Q, policy, BoxNodes).unwrap();
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
        let before = s.search_visits();
        let a = s.alloc(2 * Q, 2 * Q, Flags::NO_GUARD).unwrap();
        let visits = s.search_visits() - before;
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

/// Issue 23: BestFit with an alignment probed every hole of every list
/// from the request's size up (each failing on its alignment). Now it
/// probes a few members of each list below the first list where every
/// member fits, then takes that list's best fit: the same area here.
#[test]
fn an_aligned_best_fit_request_probes_a_bounded_number_of_holes() {
    let sizes: &[usize] = if cfg!(miri) {
        &[16, 64]
    } else {
        &[64, 1024, 16384]
    };
    for &holes in sizes {
        let (mut s, wide) = odd_holes_in(Policy::BestFit, holes);
        let before = s.search_visits();
        let a = s.alloc(2 * Q, 2 * Q, Flags::NO_GUARD).unwrap();
        let visits = s.search_visits() - before;
        // The only area that holds two aligned quanta.
        assert_eq!(a.addr, wide + Q);
        assert!(visits <= 16, "{holes} holes: {visits} visits");
        s.validate().unwrap();
    }
}

/// The bounded probe still finds a fit below the sure lists when one of
/// the first holes it looks at holds the request, and prefers it (a
/// smaller area) to the sure list's.
#[test]
fn an_aligned_best_fit_takes_a_probed_hole_that_fits() {
    // Quanta: used 0-1, free 2-3 (aligned to two quanta: fits), used 4,
    // free 5-6 (odd: does not), used 7-9, free 10-13 (four quanta: the
    // sure list for two quanta at two-quanta alignment), used after.
    let mut s = Space::new(0, 64 * Q, Q, Policy::BestFit, BoxNodes).unwrap();
    let mut holes = Vec::new();
    for (pages, hole) in [
        (2, false),
        (2, true),
        (1, false),
        (2, true),
        (3, false),
        (4, true),
    ] {
        let a = s.alloc(pages * Q, 0, Flags::NO_GUARD).unwrap();
        if hole {
            holes.push(a.addr);
        }
    }
    s.alloc(40 * Q, 0, Flags::NO_GUARD).unwrap();
    for addr in holes {
        s.free(addr).unwrap();
    }
    let a = s.alloc(2 * Q, 2 * Q, Flags::NO_GUARD).unwrap();
    assert_eq!(a.addr, 2 * Q);
    s.validate().unwrap();
}

#[test]
fn the_fast_paths_pick_what_the_general_search_picks() {
    // Holes of 1 … 9 quanta in a scrambled order, then requests of every
    // size up to past the largest: first fit's descent and instant fit's
    // list head answer as the general search does (a request instant fit
    // finds no sure list for is left to the general search: None).
    for policy in [Policy::FirstFit, Policy::InstantFit] {
        let mut s = Space::new(0, 1 << 40, Q, policy, BoxNodes).unwrap();
        let mut holes = Vec::new();
        let mut x = 7usize;
        let n = if cfg!(miri) { 24 } else { 300 };
        for _ in 0..n {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let pages = (x >> 33) % 9 + 1;
            holes.push(s.alloc(pages * Q, 0, Flags::NO_GUARD).unwrap().addr);
            s.alloc(Q, 0, Flags::NO_GUARD).unwrap();
        }
        for (i, addr) in holes.iter().enumerate() {
            if i % 3 != 1 {
                s.free(*addr).unwrap();
            }
        }
        s.validate().unwrap();
        for pages in 1..=12 {
            let (fast, general) = s.fast_and_general_choice(pages * Q);
            match (policy, fast) {
                (Policy::InstantFit, None) => {}
                _ => assert_eq!(fast, general, "{policy:?}, {pages} pages"),
            }
        }
    }
}
