//! The used areas: by default in the busy tree by address (the RFC's
//! `vm_avl_used`), which answers `free(addr)` and `find(addr)` for any
//! address inside an area; or, for callers that free by handle only,
//! merely counted ([`AddressIndex::None`]). Under a
//! [`SharedSpace`](crate::SharedSpace) the tree lives beside the space's
//! lock, behind a busy lock of its own, for fault handlers (`shared`).

mod shared;

pub(crate) use shared::SharedBusy;

use crate::area::Area;
use crate::containers::list::List;
use crate::error::ValidateError;
use core::ptr::NonNull;
use intrusive_avl::{Adapter, AvlTree, KeyAdapter, Link, UnsafeRef};

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

/// How a space finds used areas by address, chosen when it is made.
///
/// The RFC's busy tree is the default: it answers `free(addr)` and
/// `find(addr)` for an interior address in O(log n). A caller that frees
/// only by [`Handle`](crate::Handle) (as every `offset-allocator` user
/// does) and rarely asks `find` can drop it: each allocation and free then
/// skips the tree (about 40% of an InstantFit pair's instructions), while
/// `free(addr)`, `find(addr)` and `used()` walk the address list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum AddressIndex {
    /// The busy AVL tree by address: `free(addr)`, `free_lazy(addr)` and
    /// `find(addr)` in O(log n).
    #[default]
    BusyTree,
    /// No index: frees by handle cost nothing extra; `free(addr)`,
    /// `free_lazy(addr)`, `find(addr)` and `used()` walk the address list,
    /// O(areas).
    None,
}

/// The used areas: in the busy tree, or only counted (found on the address
/// list), as the space's [`AddressIndex`] says.
pub(crate) struct UsedAreas {
    home: Home,
    index: AddressIndex,
    count: usize,
}

/// Where the busy tree's head lives.
enum Home {
    /// In the space itself: a plain `Space`.
    Inline(AvlTree<BusyTree>),
    /// Beside a shared space's lock, behind the busy lock, so that a fault
    /// handler reads it without the space's lock ([`SharedBusy`]). The
    /// shared space re-points this each time it hands out the locked space
    /// (it may have moved since the last time), and takes the tree back
    /// before the space leaves it.
    Shared(NonNull<SharedBusy>),
}

/// A used area as the address list holds it: used, not lazily freed.
fn is_live(a: &Area) -> bool {
    a.is_used() && !a.is_lazy()
}

impl UsedAreas {
    pub(crate) const fn new(index: AddressIndex) -> Self {
        UsedAreas {
            home: Home::Inline(AvlTree::new()),
            index,
            count: 0,
        }
    }

    pub(crate) const fn index(&self) -> AddressIndex {
        self.index
    }

    /// The tree, for reading. Only a holder of the space (`&self`; under a
    /// `SharedSpace`, its lock) reads it this way.
    #[inline(always)]
    fn tree(&self) -> &AvlTree<BusyTree> {
        match &self.home {
            Home::Inline(t) => t,
            // `p` was re-pointed when the shared space handed out the locked
            // space, whose borrow this one is.
            // SAFETY: only that lock's holder (this caller) changes the
            // tree: this read overlaps only fault handlers' reads.
            Home::Shared(p) => unsafe { p.as_ref().tree() },
        }
    }

    /// Changes the tree: under a shared space, with the busy lock held, so
    /// that no fault handler reads it meanwhile.
    #[inline(always)]
    fn edit<R>(&mut self, f: impl FnOnce(&mut AvlTree<BusyTree>) -> R) -> R {
        match &mut self.home {
            Home::Inline(t) => f(t),
            // SAFETY: live, as in `tree`; `&mut self` means no `tree()`
            // borrow of the caller's is alive, and `edit` excludes fault
            // handlers with the busy lock.
            Home::Shared(p) => unsafe { p.as_ref().edit(f) },
        }
    }

    /// Moves the tree to (or re-points it at) `shared`, the busy tree
    /// beside the shared space that holds this space. Nothing to do
    /// without a tree.
    pub(crate) fn attach(&mut self, shared: &SharedBusy) {
        if self.index == AddressIndex::None {
            return;
        }
        let at = NonNull::from(shared);
        if let Home::Inline(t) = &mut self.home {
            let t = t.take();
            shared.edit(|st| {
                debug_assert!(st.is_empty(), "a shared space's tree is its space's");
                *st = t;
            });
        }
        self.home = Home::Shared(at);
    }

    /// Takes the tree back from `shared` (the space is leaving its shared
    /// space, or the shared space is being dropped).
    pub(crate) fn detach(&mut self, shared: &SharedBusy) {
        if let Home::Shared(p) = self.home {
            debug_assert!(core::ptr::eq(p.as_ptr(), shared));
            self.home = Home::Inline(shared.edit(|t| t.take()));
        }
    }

    /// Used areas (deferred frees not yet drained included). O(1).
    pub(crate) fn len(&self) -> usize {
        self.count
    }

    /// Adds the freshly used `u`; with the tree, beside `neighbour` (a
    /// member next to it in address order, `true` if `u` goes before it)
    /// when one is known, so no key search is needed.
    ///
    /// # Safety
    /// `u` is a live used area of the space, in no index, and stays live
    /// and in place until removed (or the index is forgotten); `neighbour`
    /// is a member.
    pub(crate) unsafe fn insert(
        &mut self,
        u: NonNull<Area>,
        neighbour: impl FnOnce() -> Option<(NonNull<Area>, bool)>,
    ) {
        self.count += 1;
        if self.index == AddressIndex::None {
            return;
        }
        // SAFETY: caller contract: the space keeps `u` live while linked.
        let node = unsafe { UnsafeRef::from_raw(u) };
        let beside = neighbour();
        let linked = self.edit(|tree| match beside {
            // SAFETY: the neighbour is a member (caller contract).
            Some((n, true)) => unsafe { tree.cursor_mut_from_ptr(n.as_ptr()) }.insert_before(node),
            // SAFETY: as above.
            Some((n, false)) => unsafe { tree.cursor_mut_from_ptr(n.as_ptr()) }.insert_after(node),
            None => tree
                .insert(node)
                .map(|_| ())
                .map_err(|e| intrusive_avl::AlreadyLinked(e.into_rejected())),
        });
        debug_assert!(linked.is_ok(), "a fresh area is never linked");
    }

    /// Takes the used `u` out.
    ///
    /// # Safety
    /// `u` is a member (a used area of the space, not yet removed).
    #[inline]
    pub(crate) unsafe fn remove(&mut self, u: NonNull<Area>) {
        self.count -= 1;
        if self.index == AddressIndex::BusyTree {
            // SAFETY: caller contract.
            self.edit(|tree| unsafe { tree.remove_ptr(u.as_ptr()) });
        }
    }

    /// The used area starting exactly at `addr`.
    pub(crate) fn starting_at(&self, addr: usize, all: &List) -> Option<NonNull<Area>> {
        match self.index {
            AddressIndex::BusyTree => self.tree().get(&addr).map(NonNull::from),
            AddressIndex::None => list_areas(all).find(|&p| {
                // SAFETY: list members are live areas.
                let a = unsafe { p.as_ref() };
                a.addr.get() == addr && is_live(a)
            }),
        }
    }

    /// The used area containing `addr`.
    pub(crate) fn containing(&self, addr: usize, all: &List) -> Option<NonNull<Area>> {
        let hit = match self.index {
            AddressIndex::BusyTree => self.tree().floor(&addr).get().map(NonNull::from),
            AddressIndex::None => list_areas(all).find(|&p| {
                // SAFETY: list members are live areas.
                let a = unsafe { p.as_ref() };
                is_live(a) && a.addr.get() <= addr && addr < a.end()
            }),
        }?;
        // SAFETY: a member, live.
        (addr < unsafe { hit.as_ref() }.end()).then_some(hit)
    }

    /// The used areas in address order.
    pub(crate) fn iter<'a>(&'a self, all: &'a List) -> impl Iterator<Item = &'a Area> + 'a {
        let tree = (self.index == AddressIndex::BusyTree).then(|| self.tree().iter());
        let list = (self.index == AddressIndex::None).then(|| {
            list_areas(all)
                // SAFETY: list members are live areas of the space.
                .map(|p| unsafe { p.as_ref() })
                .filter(|a| is_live(a))
        });
        tree.into_iter().flatten().chain(list.into_iter().flatten())
    }

    /// Whether the used area `a` is where the index says used areas are.
    pub(crate) fn holds(&self, a: &Area) -> bool {
        match self.index {
            AddressIndex::BusyTree => self
                .tree()
                .get(&a.addr.get())
                .is_some_and(|m| core::ptr::eq(m, a)),
            AddressIndex::None => is_live(a),
        }
    }

    /// The tree's own structure (nothing to check without one).
    pub(crate) fn validate(&self) -> Result<(), ValidateError> {
        let tree = self.tree();
        tree.validate().map_err(ValidateError::BusyTree)?;
        if self.index == AddressIndex::BusyTree && tree.len() != self.count {
            return Err(ValidateError::Counts);
        }
        Ok(())
    }

    /// Forgets every member (the tree unlinks its links).
    pub(crate) fn clear(&mut self) {
        self.edit(|t| t.clear());
        self.count = 0;
    }
}

/// The address list's areas, in address order.
fn list_areas(all: &List) -> impl Iterator<Item = NonNull<Area>> + '_ {
    // SAFETY: list members are the list links of live areas.
    all.iter().map(|l| unsafe { Area::from_list(l) })
}
