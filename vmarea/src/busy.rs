//! The used areas: by default in the busy tree by address (the RFC's
//! `vm_avl_used`), which answers `free(addr)` and `find(addr)` for any
//! address inside an area; or, for callers that free by handle only,
//! merely counted ([`AddressIndex::None`]).

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
    tree: AvlTree<BusyTree>,
    index: AddressIndex,
    count: usize,
}

/// A used area as the address list holds it: used, not lazily freed.
fn is_live(a: &Area) -> bool {
    a.is_used() && !a.is_lazy()
}

impl UsedAreas {
    pub(crate) const fn new(index: AddressIndex) -> Self {
        UsedAreas {
            tree: AvlTree::new(),
            index,
            count: 0,
        }
    }

    pub(crate) fn index(&self) -> AddressIndex {
        self.index
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
        let linked = match neighbour() {
            // SAFETY: the neighbour is a member (caller contract).
            Some((n, true)) => {
                unsafe { self.tree.cursor_mut_from_ptr(n.as_ptr()) }.insert_before(node)
            }
            // SAFETY: as above.
            Some((n, false)) => {
                unsafe { self.tree.cursor_mut_from_ptr(n.as_ptr()) }.insert_after(node)
            }
            None => self
                .tree
                .insert(node)
                .map(|_| ())
                .map_err(|e| intrusive_avl::AlreadyLinked(e.into_rejected())),
        };
        debug_assert!(linked.is_ok(), "a fresh area is never linked");
    }

    /// Takes the used `u` out.
    ///
    /// # Safety
    /// `u` is a member (a used area of the space, not yet removed).
    pub(crate) unsafe fn remove(&mut self, u: NonNull<Area>) {
        self.count -= 1;
        if self.index == AddressIndex::BusyTree {
            // SAFETY: caller contract.
            unsafe { self.tree.cursor_mut_from_ptr(u.as_ptr()) }.remove();
        }
    }

    /// The used area starting exactly at `addr`.
    pub(crate) fn starting_at(&self, addr: usize, all: &List) -> Option<NonNull<Area>> {
        match self.index {
            AddressIndex::BusyTree => self.tree.get(&addr).map(NonNull::from),
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
            AddressIndex::BusyTree => self.tree.floor(&addr).get().map(NonNull::from),
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
        let tree = (self.index == AddressIndex::BusyTree).then(|| self.tree.iter());
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
                .tree
                .get(&a.addr.get())
                .is_some_and(|m| core::ptr::eq(m, a)),
            AddressIndex::None => is_live(a),
        }
    }

    /// The tree's own structure (nothing to check without one).
    pub(crate) fn validate(&self) -> Result<(), ValidateError> {
        self.tree.validate().map_err(ValidateError::BusyTree)?;
        if self.index == AddressIndex::BusyTree && self.tree.len() != self.count {
            return Err(ValidateError::Counts);
        }
        Ok(())
    }

    /// Forgets every member (the tree unlinks its links).
    pub(crate) fn clear(&mut self) {
        self.tree.clear();
        self.count = 0;
    }
}

/// The address list's areas, in address order.
fn list_areas(all: &List) -> impl Iterator<Item = NonNull<Area>> + '_ {
    // SAFETY: list members are the list links of live areas.
    all.iter().map(|l| unsafe { Area::from_list(l) })
}
