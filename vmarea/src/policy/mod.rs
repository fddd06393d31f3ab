//! The free-space policies. Each owns its index of free areas, its search
//! and the validation of that index, in one file:
//!
//! - [`first_fit`]: an AVL tree by address whose nodes keep the largest
//!   free size below them (Linux ≥ 5.2's augmented free tree);
//! - [`size_lists`]: exact lists for small sizes (FreeBSD), then vmem's
//!   power-of-two lists, and a bitmap of non-empty
//!   lists, searched by instant fit or best fit;
//! - [`rfc_hash`]: the RFC's hash of free areas by size, exact hits only
//!   (the space bumps past the used areas when it misses).
//!
//! [`FreeIndex`] dispatches to them; the space never looks inside. A new
//! policy is one new file here and one arm in each `match` of this file.
//!
//! Every free area is in exactly one index at a time; the busy tree and the
//! free tree share the area's AVL link, the lists and the hash use the same
//! words as a chain link (see `area.rs`).

mod first_fit;
mod rfc_hash;
mod size_lists;
#[cfg(all(test, feature = "alloc"))]
mod tests;

use crate::area::Area;
use crate::error::ValidateError;
use core::ptr::NonNull;
use first_fit::AddressTree;
use rfc_hash::SizeHash;
use size_lists::SizeLists;

/// Free-space policy, chosen when the space is made. Non-exhaustive: new
/// policies (next fit, say) may be added.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Policy {
    /// Exactly the RFC: free areas in a hash by size; an exact-size hit is
    /// taken, otherwise the request is placed after the end of the used
    /// areas. When that end reaches the top of the space the RFC says
    /// nothing; we then search the free areas in address order (O(n)).
    Rfc,
    /// Lowest-address fit in O(log n) through an augmented AVL tree of free
    /// areas (Linux ≥ 5.2's `find_vmap_lowest_match`); the free region
    /// above the used areas stays out of the tree and is bumped through in
    /// O(1), as the RFC's step 5 does.
    ///
    /// An aligned, phased or bounded request takes the lowest free area
    /// with the *sure room* inside the window, room that holds it wherever
    /// the area starts (`need + align - quantum`; with a `nocross`
    /// boundary `2 (need + align) - 3 quantum`): O(log n), as Linux
    /// searches `size + align - 1`. Only when no area has that room does
    /// it walk for the exact lowest fit (where Linux fails), which can
    /// visit every area of at least `need` bytes.
    FirstFit,
    /// vmem's instant fit: power-of-two free lists and a bitmap; O(1) for
    /// requests without alignment or window constraints.
    InstantFit,
    /// vmem's best fit over the same lists: the smallest free area that fits
    /// within the first list holding any. For a request with an alignment,
    /// phase or boundary anywhere in the space, the lists below the first
    /// one whose every area holds it wherever it starts are probed eight
    /// areas deep (a hole there holds it only if it happens to start
    /// well), so such a request costs O(1) plus that list's scan instead
    /// of trying every smaller hole.
    BestFit,
    /// vmem's next fit (`VM_NEXTFIT`): the lowest fit at or after the end
    /// of the previous allocation (a rotor), wrapping to the start of the
    /// window when nothing fits after it, so a freed address is not handed
    /// out again soon (IDs, ASIDs, PIDs). The same augmented tree and bump
    /// region as `FirstFit`; O(log n) per search.
    NextFit,
}

impl Policy {
    /// Every policy, in the order they were added (a slice, so that a new
    /// policy does not change its type).
    ///
    /// ```
    /// use vmarea::Policy;
    /// assert_eq!(Policy::ALL.first(), Some(&Policy::Rfc));
    /// assert!(Policy::ALL.contains(&Policy::NextFit));
    /// ```
    pub const ALL: &'static [Policy] = &[
        Policy::Rfc,
        Policy::FirstFit,
        Policy::InstantFit,
        Policy::BestFit,
        Policy::NextFit,
    ];

    /// Whether the space keeps an untracked region above the used areas and
    /// allocates from it when the index misses (the RFC's step 5). First
    /// fit does too: the region is above every tracked area, so taking it
    /// only after the tree found no fit is still the lowest fit, and an
    /// allocation there (and the free that gives it back) costs O(1)
    /// instead of re-summarising the tree's top free area twice per pair.
    pub(crate) const fn bumps(self) -> bool {
        matches!(self, Policy::Rfc | Policy::FirstFit | Policy::NextFit)
    }

    /// Whether the space first asks for an area that surely holds an
    /// aligned or constrained request, then for the exact lowest fit (see
    /// [`Fit::room`]): the address-ordered policies.
    pub(crate) const fn sure_room_first(self) -> bool {
        matches!(self, Policy::FirstFit | Policy::NextFit)
    }

    /// Whether the index can miss a fit the address list holds, so that a
    /// failed bump must scan the list (the RFC's hash finds exact sizes
    /// only).
    pub(crate) const fn scans_when_full(self) -> bool {
        matches!(self, Policy::Rfc)
    }

    /// Whether [`Space::iter`](crate::Space::iter) leaves the untracked
    /// region above the used areas out (the RFC's own view: it is not an
    /// area); the other policies list it as one free area.
    pub(crate) const fn hides_top(self) -> bool {
        matches!(self, Policy::Rfc)
    }
}

/// The geometry a search needs: the quantum's shift and the space's bounds.
#[derive(Clone, Copy)]
pub(crate) struct Geometry {
    pub shift: u32,
    pub start: usize,
    pub end: usize,
}

/// One placement request, as every search takes it: `need` bytes (guard
/// included, a multiple of the quantum) aligned to `align` (a power of two
/// at least the quantum) with the start ≡ `phase` (mod `align`), not
/// crossing a multiple of `nocross` (0: no boundary), inside `[lo, hi)`.
/// The space has checked that the constraints can be met together.
///
/// `room` is what the address-ordered searches (first and next fit) ask of
/// a free area before they try to place the request in it: the area's part
/// inside the window must be at least that long. The space first asks for
/// [`Fit::sure_room`], so that the first area the augmented tree offers
/// holds the request at any alignment (O(log n), Linux's
/// `size + align - 1` search), and only when no area offers that much asks
/// again with `room = need`, the exact lowest fit.
#[derive(Clone, Copy)]
pub(crate) struct Fit {
    pub need: usize,
    pub align: usize,
    pub lo: usize,
    pub hi: usize,
    pub phase: usize,
    pub nocross: usize,
    pub room: usize,
}

impl Fit {
    /// The request `req` as every search takes it, for `need` bytes at the
    /// effective alignment `align` (room: exactly `need`).
    pub(crate) fn of(need: usize, align: usize, req: &crate::request::Request) -> Self {
        Fit {
            need,
            align,
            lo: req.lo,
            hi: req.hi,
            phase: req.phase,
            nocross: req.nocross,
            room: need,
        }
    }

    /// The room that holds the request wherever it starts (quantum `q`),
    /// or None when that overflows. Aligning a start (and its phase) moves
    /// it up by at most `align - q`; stepping over a `nocross` boundary
    /// moves it at most `need - q` to the boundary, then `align - q` to
    /// the next aligned start: `2 (need + align) - 3q` in all.
    pub(crate) fn sure_room(&self, q: usize) -> Option<usize> {
        let slack = self.align - q;
        if self.nocross == 0 {
            return self.need.checked_add(slack);
        }
        self.need.checked_add(slack)?.checked_mul(2)?.checked_sub(q)
    }

    /// The part of free area `f` inside the window, in bytes (0 if none).
    pub(crate) fn room_in(&self, f: &Area) -> usize {
        let (from, to) = (f.addr.get().max(self.lo), f.end().min(self.hi));
        to.saturating_sub(from)
    }

    /// Where the request goes inside free area `f`, if it fits.
    pub(crate) fn place_in(&self, f: &Area) -> Option<usize> {
        self.first_at(f.addr.get().max(self.lo), f.end().min(self.hi))
    }

    /// The lowest start at or above `base` meeting the alignment, phase and
    /// boundary with the whole request below `limit`.
    pub(crate) fn first_at(&self, base: usize, limit: usize) -> Option<usize> {
        let mut x = self.aligned_from(base)?;
        if self.nocross != 0 && self.crosses(x) {
            // The next boundary, then aligned again: a block holds the
            // request from there (checked by the space), so one step does.
            x = self.aligned_from(align_up(x.checked_add(1)?, self.nocross)?)?;
            if self.crosses(x) {
                return None;
            }
        }
        (x.checked_add(self.need)? <= limit).then_some(x)
    }

    /// The lowest x ≥ `base` with x ≡ phase (mod align).
    fn aligned_from(&self, base: usize) -> Option<usize> {
        if base <= self.phase {
            return Some(self.phase);
        }
        align_up(base - self.phase, self.align)?.checked_add(self.phase)
    }

    /// Whether `[x, x + need)` crosses a multiple of `nocross`.
    fn crosses(&self, x: usize) -> bool {
        (x ^ (x + self.need - 1)) & !(self.nocross - 1) != 0
    }

    /// No alignment beyond the quantum, no phase or boundary, and the whole
    /// space as the window.
    pub(crate) fn unconstrained(&self, g: &Geometry) -> bool {
        self.align == 1 << g.shift
            && self.phase == 0
            && self.nocross == 0
            && self.lo == g.start
            && self.hi == g.end
    }
}

/// Lists of the size-class policies and buckets of the RFC's hash: one per
/// bit of a `u64` bitmap, so every size of a 64-bit space has a class.
pub(crate) const SIZE_CLASSES: usize = 64;

pub(crate) use crate::request::align_up;

/// The index of free areas, one variant per policy's structure.
// The lists' bucket array (90 heads) dwarfs the tree's head; a space holds
// exactly one index inline and never moves it on a hot path, and boxing it
// would need an allocator the crate does not assume.
// An explicit tag byte: the hot paths test it with one compare, where a
// niche in a variant's fields took a subtract and a conditional move.
#[allow(clippy::large_enum_variant)]
#[repr(u8)]
pub(crate) enum FreeIndex {
    FirstFit(AddressTree),
    Lists(SizeLists),
    Hash(SizeHash),
}

impl FreeIndex {
    pub(crate) const fn new(policy: Policy) -> Self {
        match policy {
            Policy::FirstFit => FreeIndex::FirstFit(AddressTree::new(false)),
            Policy::NextFit => FreeIndex::FirstFit(AddressTree::new(true)),
            Policy::InstantFit => FreeIndex::Lists(SizeLists::new(false)),
            Policy::BestFit => FreeIndex::Lists(SizeLists::new(true)),
            Policy::Rfc => FreeIndex::Hash(SizeHash::new()),
        }
    }

    /// Free areas indexed.
    pub(crate) fn len(&self) -> usize {
        match self {
            FreeIndex::FirstFit(t) => t.len(),
            FreeIndex::Lists(l) => l.len(),
            FreeIndex::Hash(h) => h.len(),
        }
    }

    /// Adds free `area` (its size already final).
    ///
    /// # Safety
    /// `area` is a live free area of the space, in no index, and stays live
    /// and in place until it is removed (or the index is forgotten).
    #[inline]
    pub(crate) unsafe fn insert(&mut self, area: NonNull<Area>, shift: u32) {
        // SAFETY: forwarded caller contract.
        unsafe {
            match self {
                FreeIndex::FirstFit(t) => t.insert(area),
                FreeIndex::Lists(l) => l.insert(area, shift),
                FreeIndex::Hash(h) => h.insert(area, shift),
            }
        }
    }

    /// Takes free `area` out; `size` is the size it was indexed under.
    ///
    /// # Safety
    /// `area` is in this index under `size`.
    #[inline]
    pub(crate) unsafe fn remove(&mut self, area: NonNull<Area>, size: usize, shift: u32) {
        // SAFETY: forwarded caller contract.
        unsafe {
            match self {
                FreeIndex::FirstFit(t) => t.remove(area),
                FreeIndex::Lists(l) => l.remove(area, size, shift),
                FreeIndex::Hash(h) => h.remove(area, size, shift),
            }
        }
    }

    /// `area`'s size changed from `old` in place (its start may have moved,
    /// but not past another free area: the address order is unchanged).
    ///
    /// # Safety
    /// `area` is in this index under `old`.
    #[inline(always)]
    pub(crate) unsafe fn resized(&mut self, area: NonNull<Area>, old: usize, shift: u32) {
        // SAFETY: forwarded caller contract.
        unsafe {
            match self {
                FreeIndex::FirstFit(t) => t.resized(area),
                FreeIndex::Lists(l) => l.resized(area, old, shift),
                FreeIndex::Hash(h) => h.resized(area, old, shift),
            }
        }
    }

    /// The policy's choice of a free area for `fit` and where in it, or
    /// None when its index holds none (the RFC then bumps).
    #[inline]
    pub(crate) fn search(&self, fit: &Fit, g: &Geometry) -> Option<(NonNull<Area>, usize)> {
        match self {
            FreeIndex::FirstFit(t) => t.search(fit),
            FreeIndex::Lists(l) => l.search(fit, g),
            FreeIndex::Hash(h) => h.search(fit, g),
        }
    }

    /// Free areas the searches have stopped at so far (first-fit tree and
    /// size lists).
    #[cfg(all(test, feature = "alloc"))]
    pub(crate) fn search_visits(&self) -> usize {
        match self {
            FreeIndex::FirstFit(t) => t.visits.get(),
            FreeIndex::Lists(l) => l.visits.get(),
            _ => 0,
        }
    }

    /// Next fit's rotor, if the policy has one.
    pub(crate) fn rotor(&self) -> Option<usize> {
        match self {
            FreeIndex::FirstFit(t) => t.rotor(),
            _ => None,
        }
    }

    /// An allocation now ends at `end` (the next-fit rotor moves there).
    pub(crate) fn placed(&mut self, end: usize) {
        if let FreeIndex::FirstFit(t) = self {
            t.placed(end);
        }
    }

    /// Checks the index's own structure and that each member is free and
    /// filed where its size says.
    pub(crate) fn validate(&self, shift: u32) -> Result<(), ValidateError> {
        match self {
            FreeIndex::FirstFit(t) => t.validate(),
            FreeIndex::Lists(l) => l.validate(shift),
            FreeIndex::Hash(h) => h.validate(shift),
        }
    }

    /// Unlinks every member (the tree writes its links; chains are simply
    /// forgotten, their areas about to be reused).
    pub(crate) fn clear(&mut self) {
        if let FreeIndex::FirstFit(t) = self {
            t.clear();
        }
    }
}
