//! The trees and the per-policy index of free areas.
//!
//! - `BusyTree`: used areas keyed by address (RFC step 3's `vm_avl_used`).
//! - Free areas, by policy:
//!   - `Rfc`: a hash keyed by size (`vm_hash_unused`), exact-size hits only;
//!   - `FirstFit`: an AVL tree keyed by address whose nodes keep the largest
//!     free size of their subtree (Linux ≥ 5.2's augmented free tree);
//!   - `InstantFit`/`BestFit`: vmem's power-of-two lists with a bitmap of
//!     non-empty lists.
//!
//! An area is in exactly one of these at a time, so the busy tree and the
//! free tree share the area's AVL link, and the hash and lists use the same
//! three words as a chain link.

use crate::area::Area;
use crate::error::ValidateError;
use crate::hash::{Bucket, HashChains};
use core::ptr::NonNull;
use intrusive_avl::{Adapter, Augment, AvlTree, KeyAdapter, Link, UnsafeRef};

/// Free-space policy, chosen when the space is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Policy {
    /// Exactly the RFC: free areas in a hash by size; an exact-size hit is
    /// taken, otherwise the request is placed after the end of the used
    /// areas. When that end reaches the top of the space the RFC says
    /// nothing; we then search the free areas in address order (O(n)).
    Rfc,
    /// Lowest-address fit in O(log n) through an augmented AVL tree of free
    /// areas (Linux ≥ 5.2's `find_vmap_lowest_match`).
    FirstFit,
    /// vmem's instant fit: power-of-two free lists and a bitmap; O(1) for
    /// requests without alignment or window constraints.
    InstantFit,
    /// vmem's best fit over the same lists: the smallest free area that fits
    /// within the first list holding any fit.
    BestFit,
}

/// Used areas by address.
pub(crate) struct BusyTree;

// SAFETY: the AVL view of an area is its first field (offset 0, asserted in
// `area.rs`), so `link` and `value` are casts of the same address.
unsafe impl Adapter for BusyTree {
    type Value = Area;
    type Pointer = UnsafeRef<Area>;
    type Augment = intrusive_avl::NoAugment;
    fn link(value: NonNull<Area>) -> NonNull<Link> {
        Area::tree_link(value)
    }
    unsafe fn value(link: NonNull<Link>) -> NonNull<Area> {
        link.cast()
    }
}

impl KeyAdapter for BusyTree {
    type Key = usize;
    fn key(a: &Area) -> usize {
        a.addr.get()
    }
}

/// Free areas by address, each keeping the largest free size below it.
pub(crate) struct FreeTree;

/// The summary: largest `size` in the subtree, stored in `aux`.
pub(crate) struct MaxFree;

impl Augment<Area> for MaxFree {
    type Summary = u64;
    fn summarize(n: &Area, l: Option<&Area>, r: Option<&Area>) -> u64 {
        let own = n.size() as u64;
        let kids = l.into_iter().chain(r).map(|c| c.aux.get());
        kids.fold(own, u64::max)
    }
    fn stored(n: &Area) -> u64 {
        n.aux.get()
    }
    fn store(n: &Area, s: u64) {
        n.aux.set(s)
    }
}

// SAFETY: as for `BusyTree`.
unsafe impl Adapter for FreeTree {
    type Value = Area;
    type Pointer = UnsafeRef<Area>;
    type Augment = MaxFree;
    fn link(value: NonNull<Area>) -> NonNull<Link> {
        Area::tree_link(value)
    }
    unsafe fn value(link: NonNull<Link>) -> NonNull<Area> {
        link.cast()
    }
}

impl KeyAdapter for FreeTree {
    type Key = usize;
    fn key(a: &Area) -> usize {
        a.addr.get()
    }
}

/// Number of hash buckets / size classes.
pub(crate) const CLASSES: usize = 64;

/// The index of free areas.
pub(crate) enum FreeIndex {
    Tree(AvlTree<FreeTree>),
    Lists {
        chains: HashChains<[Bucket; CLASSES]>,
        /// Bit k set ⇔ list k is non-empty.
        nonempty: u64,
    },
    Hash(HashChains<[Bucket; CLASSES]>),
}

/// Power-of-two class of a size in quanta: floor(log2(q)).
pub(crate) fn class_of(quanta: usize) -> usize {
    (usize::BITS - 1 - quanta.leading_zeros()) as usize
}

/// The RFC's hash of a size (in quanta).
fn bucket_of(quanta: usize) -> usize {
    // Fibonacci hashing: sizes in quanta are small, consecutive integers.
    (quanta.wrapping_mul(0x9E37_79B9_7F4A_7C15_u64 as usize) >> (usize::BITS - 6)) % CLASSES
}

impl FreeIndex {
    pub(crate) const fn new(policy: Policy) -> Self {
        match policy {
            Policy::FirstFit => FreeIndex::Tree(AvlTree::new()),
            Policy::InstantFit | Policy::BestFit => FreeIndex::Lists {
                chains: HashChains::new_array(),
                nonempty: 0,
            },
            Policy::Rfc => FreeIndex::Hash(HashChains::new_array()),
        }
    }

    pub(crate) fn len(&self) -> usize {
        match self {
            FreeIndex::Tree(t) => t.len(),
            FreeIndex::Lists { chains, .. } => chains.len(),
            FreeIndex::Hash(h) => h.len(),
        }
    }

    /// Adds free `area` (its size already final).
    ///
    /// # Safety
    /// `area` is a live free area of the space, in no index.
    pub(crate) unsafe fn insert(&mut self, area: NonNull<Area>, shift: u32) {
        // SAFETY: caller contract.
        let size = unsafe { area.as_ref() }.size();
        match self {
            FreeIndex::Tree(t) => {
                // SAFETY: the space owns the area and keeps it live while
                // it is in the tree.
                let r = t.insert(unsafe { UnsafeRef::from_raw(area) });
                debug_assert!(r.is_ok(), "free areas never share an address");
            }
            FreeIndex::Lists { chains, nonempty } => {
                let k = class_of(size >> shift);
                // SAFETY: k < 64; the chain view is free while the area is
                // in no tree.
                unsafe { chains.insert(k, Area::chain_link(area)) };
                *nonempty |= 1 << k;
            }
            FreeIndex::Hash(h) => {
                // SAFETY: bucket in range; the chain view is free.
                unsafe { h.insert(bucket_of(size >> shift), Area::chain_link(area)) };
            }
        }
    }

    /// Takes free `area` out; `size` is the size it was indexed under.
    ///
    /// # Safety
    /// `area` is in this index under `size`.
    pub(crate) unsafe fn remove(&mut self, area: NonNull<Area>, size: usize, shift: u32) {
        match self {
            FreeIndex::Tree(t) => {
                // SAFETY: `area` is a member of `t` (caller contract).
                let _ = unsafe { t.cursor_mut_from_ptr(area.as_ptr()) }.remove();
            }
            FreeIndex::Lists { chains, nonempty } => {
                let k = class_of(size >> shift);
                // SAFETY: a member of chain k (caller contract).
                unsafe { chains.remove(k, Area::chain_link(area)) };
                if chains.bucket_is_empty(k) {
                    *nonempty &= !(1 << k);
                }
            }
            FreeIndex::Hash(h) => {
                // SAFETY: a member of this bucket (caller contract).
                unsafe { h.remove(bucket_of(size >> shift), Area::chain_link(area)) };
            }
        }
    }

    /// `area`'s size changed from `old` in place (same address order).
    ///
    /// # Safety
    /// `area` is in this index under `old`.
    pub(crate) unsafe fn resized(&mut self, area: NonNull<Area>, old: usize, shift: u32) {
        match self {
            FreeIndex::Tree(t) => {
                // SAFETY: `area` is a member; only its summarized size moved.
                unsafe { t.cursor_mut_from_ptr(area.as_ptr()) }.propagate();
            }
            _ => {
                // SAFETY: indexed under `old`; reinserted under the new size.
                unsafe {
                    self.remove(area, old, shift);
                    self.insert(area, shift);
                }
            }
        }
    }

    /// Members of hash bucket / class list `i`.
    pub(crate) fn chain(&self, i: usize) -> impl Iterator<Item = NonNull<Area>> + '_ {
        let c = match self {
            FreeIndex::Lists { chains, .. } | FreeIndex::Hash(chains) => Some(chains.chain(i)),
            FreeIndex::Tree(_) => None,
        };
        c.into_iter().flatten().map(Area::from_chain)
    }

    /// Bucket of an exact size, for the RFC's hash lookup.
    pub(crate) fn exact_bucket(size: usize, shift: u32) -> usize {
        bucket_of(size >> shift)
    }

    /// Checks the index's own structure.
    pub(crate) fn validate(&self) -> Result<(), ValidateError> {
        match self {
            FreeIndex::Tree(t) => t.validate().map_err(ValidateError::FreeTree),
            FreeIndex::Lists { chains, nonempty } => {
                chains.validate().map_err(|_| ValidateError::FreeChains)?;
                for k in 0..CLASSES {
                    if chains.bucket_is_empty(k) == (nonempty & (1 << k) != 0) {
                        return Err(ValidateError::FreeBitmap);
                    }
                }
                Ok(())
            }
            FreeIndex::Hash(h) => h.validate().map_err(|_| ValidateError::FreeChains),
        }
    }
}
