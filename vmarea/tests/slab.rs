//! `SlabNodes`: area objects carved from slabs. Every slot handed out once
//! until given back, line-aligned on 64-bit targets, reused before a new
//! slab is taken, and every slab returned when the space is dropped (Miri's
//! leak check and its use-after-free check cover the drop order).
#![cfg(all(feature = "alloc", not(loom)))]

use static_assertions::{assert_impl_all, assert_not_impl_any};
use std::collections::HashSet;
use std::ptr::NonNull;
use vmarea::{
    Area, Flags, NodeSource, Policy, RawSpinlock, SharedSpace, SlabNodes, Space, SLAB_AREAS,
};

const Q: usize = 4096;
const S: usize = 0x4000_0000;

// Plain cells inside: it may move to another thread with its space, but two
// threads may not share it.
assert_impl_all!(SlabNodes: NodeSource, Send, Default);
assert_not_impl_any!(SlabNodes: Sync);
assert_impl_all!(Space<SlabNodes>: Send);
assert_impl_all!(SharedSpace<RawSpinlock, SlabNodes>: Send);
assert_not_impl_any!(SharedSpace<RawSpinlock, SlabNodes>: Sync);

#[test]
fn slots_are_distinct_line_aligned_and_reused_before_a_new_slab() {
    let src = SlabNodes::new();
    assert_eq!((src.slabs(), src.available()), (0, 0));
    // One more than a slab: the second slab is taken for the last one.
    let taken: Vec<NonNull<Area>> = (0..=SLAB_AREAS).map(|_| src.take().unwrap()).collect();
    assert_eq!(src.slabs(), 2);
    assert_eq!(src.available(), SLAB_AREAS - 1);
    let distinct: HashSet<usize> = taken.iter().map(|p| p.as_ptr() as usize).collect();
    assert_eq!(distinct.len(), taken.len(), "a slot was handed out twice");
    if cfg!(target_pointer_width = "64") {
        assert_eq!(core::mem::size_of::<Area>(), 64);
        for p in &taken {
            assert_eq!(p.as_ptr() as usize % 64, 0, "an area straddles two lines");
        }
    }
    // Given back, handed out again last in, first out, with no new slab.
    let last = taken[5];
    for &p in &taken {
        // SAFETY: each came from `take` and is in no index.
        unsafe { src.give(p) };
    }
    assert_eq!(src.available(), 2 * SLAB_AREAS);
    let again = src.take().unwrap();
    assert_eq!(again, *taken.last().unwrap());
    assert_ne!(again, last);
    assert_eq!(src.slabs(), 2);
    // SAFETY: from `take`, in no index.
    unsafe { src.give(again) };
}

/// Every policy over slab areas: the same sequence of allocations and frees
/// as over boxes, the same addresses, valid after every step.
#[test]
fn a_space_over_slabs_behaves_as_over_boxes() {
    let steps = if cfg!(miri) { 60 } else { 5000 };
    for &p in Policy::ALL {
        let mut slab = Space::new(S, S + (1 << 16) * Q, Q, p, SlabNodes::new()).unwrap();
        let mut boxed = Space::new(S, S + (1 << 16) * Q, Q, p, vmarea::BoxNodes).unwrap();
        let mut live = Vec::new();
        let mut x = 0x2545_f491_4f6c_dd1du64;
        for i in 0..steps {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            if x % 3 != 0 || live.is_empty() {
                let size = (1 + (x >> 8) as usize % 9) * Q;
                let a = slab.alloc(size, 0, Flags::ALLOC);
                let b = boxed.alloc(size, 0, Flags::ALLOC);
                assert_eq!(a.map(|a| a.addr), b.map(|b| b.addr), "{p:?} step {i}");
                if let Ok(a) = a {
                    live.push(a.addr);
                }
            } else {
                let addr = live.swap_remove((x >> 16) as usize % live.len());
                assert_eq!(slab.free(addr).unwrap(), boxed.free(addr).unwrap());
            }
            if i % 16 == 0 {
                slab.validate().unwrap();
            }
        }
        assert_eq!(slab.used_count(), live.len());
        // Dropped with areas still live: the space gives every area back
        // before its source frees the slabs.
    }
}

/// A shared space over slabs, used from one thread, and dropped with areas
/// still allocated and freed lazily.
#[test]
fn a_shared_space_over_slabs_drops_cleanly() {
    let space = Space::new(S, S + 4096 * Q, Q, Policy::InstantFit, SlabNodes::new()).unwrap();
    let sh: SharedSpace<RawSpinlock, SlabNodes> = SharedSpace::new(space);
    let mut kept = Vec::new();
    for i in 0..if cfg!(miri) { 30 } else { 2000 } {
        let a = sh.alloc_request(&sh.request((1 + i % 5) * Q)).unwrap();
        match i % 3 {
            0 => drop(sh.free(a.addr).unwrap()),
            1 => drop(sh.lock().free_lazy(a.addr).unwrap()),
            _ => kept.push(a.addr),
        }
    }
    sh.lock().validate().unwrap();
    drop(sh);
}
