//! First fit: free areas in an AVL tree by address whose nodes keep the
//! largest free size of their subtree (Linux ≥ 5.2's augmented free tree,
//! `find_vmap_lowest_match`).

use super::Fit;
use crate::area::Area;
use crate::error::ValidateError;
use core::ptr::NonNull;
use intrusive_avl::{Adapter, Augment, AvlTree, Cursor, KeyAdapter, Link, UnsafeRef};

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

// SAFETY: the AVL view of an area is its first field (offset 0, asserted in
// `area.rs`), so `link` and `value` are casts of the same address.
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

/// The first-fit index, and next fit's rotor.
pub(crate) struct AddressTree {
    tree: AvlTree<FreeTree>,
    /// Next fit: searches start at the end of the previous allocation.
    rotor: Option<usize>,
    /// Areas the searches stopped at (tests bound the walk with it).
    #[cfg(test)]
    pub(crate) visits: core::cell::Cell<usize>,
}

impl AddressTree {
    /// First fit, or with `next_fit` next fit (rotor at the start).
    pub(crate) const fn new(next_fit: bool) -> Self {
        AddressTree {
            tree: AvlTree::new(),
            rotor: if next_fit { Some(0) } else { None },
            #[cfg(test)]
            visits: core::cell::Cell::new(0),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.tree.len()
    }

    /// Next fit's rotor: where the next search starts (the space searches
    /// `[rotor, hi)` first, then wraps to `[lo, hi)`).
    pub(crate) fn rotor(&self) -> Option<usize> {
        self.rotor
    }

    /// Next fit: the next search starts at `end`.
    pub(crate) fn placed(&mut self, end: usize) {
        if let Some(r) = &mut self.rotor {
            *r = end;
        }
    }

    /// # Safety
    /// As `FreeIndex::insert`.
    pub(crate) unsafe fn insert(&mut self, area: NonNull<Area>) {
        // SAFETY: the space keeps the area live while it is in the tree.
        let r = self.tree.insert(unsafe { UnsafeRef::from_raw(area) });
        debug_assert!(r.is_ok(), "free areas never share an address");
    }

    /// # Safety
    /// `area` is a member of this tree.
    pub(crate) unsafe fn remove(&mut self, area: NonNull<Area>) {
        // SAFETY: caller contract.
        let _ = unsafe { self.tree.remove_ptr(area.as_ptr()) };
    }

    /// # Safety
    /// `area` is a member whose size (and perhaps start, keeping the address
    /// order) changed.
    pub(crate) unsafe fn resized(&mut self, area: NonNull<Area>) {
        // SAFETY: caller contract: only its summarized size moved.
        unsafe { self.tree.cursor_mut_from_ptr(area.as_ptr()) }.propagate();
    }

    /// The lowest area of at least `need` bytes, for a request anywhere
    /// with no alignment above the quantum, phase or boundary: each step
    /// goes left while the left subtree holds one, else stops here if this
    /// area does, else goes right (whose largest then must), so it never
    /// climbs: O(log n).
    #[inline(never)]
    pub(crate) fn lowest(&self, need: usize) -> Option<NonNull<Area>> {
        let need = need as u64;
        let big = |c: &Cursor<'_, FreeTree>| c.get().is_some_and(|n| n.aux.get() >= need);
        let mut cur = self.tree.root();
        if !big(&cur) {
            return None;
        }
        loop {
            let left = cur.left();
            if big(&left) {
                cur = left;
                continue;
            }
            let n = cur.get()?;
            if n.size() as u64 >= need {
                return Some(NonNull::from(n));
            }
            cur = cur.right();
        }
    }

    /// The lowest area with `fit.room` bytes inside the window that holds
    /// the request: an in-order walk from the window's start that never
    /// enters a subtree whose largest free size is below `fit.room`.
    ///
    /// With `room` at least [`Fit::sure_room`] every area it stops at holds
    /// the request, and only the two areas lying across `lo` and `hi` can
    /// offer less room than their size: O(log n). With `room = need` (the
    /// exact search, asked only when no area offers the sure room) every
    /// area of `need` bytes that alignment, phase or boundary defeat costs
    /// a visit: O(n) at worst.
    pub(crate) fn search(&self, fit: &Fit) -> Option<(NonNull<Area>, usize)> {
        if fit.lo >= fit.hi {
            return None;
        }
        let big =
            |c: &Cursor<'_, FreeTree>| c.get().is_some_and(|n| n.aux.get() >= fit.room as u64);
        let mut cur = self.tree.root();
        if !big(&cur) {
            return None;
        }
        'descend: loop {
            // Left while it can hold a fit: areas there end before this
            // one starts, so none can if this one starts at or below `lo`.
            while big(&cur.left()) && cur.get().is_some_and(|n| n.addr.get() > fit.lo) {
                cur = cur.left();
            }
            loop {
                let n = cur.get()?;
                if n.addr.get() >= fit.hi {
                    return None;
                }
                #[cfg(test)]
                self.visits.set(self.visits.get() + 1);
                if fit.room_in(n) >= fit.room {
                    if let Some(x) = fit.place_in(n) {
                        return Some((NonNull::from(n), x));
                    }
                }
                if big(&cur.right()) {
                    cur = cur.right();
                    continue 'descend;
                }
                // Climb to the first ancestor entered from its left child:
                // it is the next area in address order.
                loop {
                    let child = cur.get()?;
                    cur = cur.parent();
                    if cur.left().get().is_some_and(|l| core::ptr::eq(l, child)) {
                        break;
                    }
                    cur.get()?;
                }
            }
        }
    }

    pub(crate) fn validate(&self) -> Result<(), ValidateError> {
        self.tree.validate().map_err(ValidateError::FreeTree)?;
        match self.tree.iter().find(|n| n.is_used()) {
            Some(u) => Err(ValidateError::FreeMembership { addr: u.addr.get() }),
            None => Ok(()),
        }
    }

    pub(crate) fn clear(&mut self) {
        self.tree.clear();
    }
}
