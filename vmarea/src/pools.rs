//! Exact-size pools of ready areas in front of the free index (Linux 6.9's
//! per-node `vmap_pool`s; vmem's quantum caches in the allocator itself):
//! an area of up to `max` quanta freed at once goes onto its size's pool
//! instead of merging back, and a request of that size takes the most
//! recent one off again in O(1) when it meets the request's constraints. Pools decay by a quarter at every purge and are
//! drained whole when an allocation finds no room. Off until
//! [`Space::set_pools`](crate::Space::set_pools) turns them on.

use crate::area::Area;
use crate::containers::list::List;
use core::ptr::NonNull;

/// Pool size classes: areas of 1 … `POOL_CLASSES` quanta, guard included.
pub const POOL_CLASSES: usize = 32;

/// The pools: one list per size in quanta, chained through the areas'
/// free-chain view (a pooled area is in no tree).
pub(crate) struct Pools {
    lists: [List; POOL_CLASSES],
    /// Largest pooled size in quanta (0: pools off).
    pub(crate) max: usize,
    /// Most areas one pool keeps.
    pub(crate) cap: usize,
    /// Bytes in all pools.
    pub(crate) bytes: usize,
}

impl Pools {
    pub(crate) const fn new() -> Self {
        Pools {
            lists: [const { List::new() }; POOL_CLASSES],
            max: 0,
            cap: 0,
            bytes: 0,
        }
    }

    /// The pool an area of `quanta` quanta goes to, if pooled at all.
    pub(crate) fn class(&self, quanta: usize) -> Option<usize> {
        (quanta >= 1 && quanta <= self.max).then(|| quanta - 1)
    }

    /// Areas in all pools.
    pub(crate) fn len(&self) -> usize {
        self.lists.iter().map(List::len).sum()
    }

    /// Whether pool `c` has room for one more.
    pub(crate) fn has_room(&self, c: usize) -> bool {
        self.lists[c].len() < self.cap
    }

    /// Adds `u` (`size` bytes) to pool `c`.
    ///
    /// # Safety
    /// `u` is a live area of the space in no tree, list-chain or pool.
    pub(crate) unsafe fn push(&mut self, c: usize, u: NonNull<Area>, size: usize) {
        // SAFETY: caller contract: the chain view is unused.
        unsafe { self.lists[c].push_back(Area::chain_link(u)) };
        self.bytes += size;
    }

    /// Takes the most recently pooled area of class `c` (`size` bytes).
    pub(crate) fn pop(&mut self, c: usize, size: usize) -> Option<NonNull<Area>> {
        let l = self.lists[c].back()?;
        // SAFETY: `l` is a member of this pool list.
        unsafe { self.lists[c].remove(l) };
        self.bytes -= size;
        Some(Area::from_chain(l))
    }

    /// The most recently pooled area of class `c`, left in place.
    pub(crate) fn peek(&self, c: usize) -> Option<NonNull<Area>> {
        self.lists[c].back().map(Area::from_chain)
    }

    /// Takes the oldest area of class `c` (`size` bytes), for decay.
    pub(crate) fn pop_oldest(&mut self, c: usize, size: usize) -> Option<NonNull<Area>> {
        let l = self.lists[c].front()?;
        // SAFETY: `l` is a member of this pool list.
        unsafe { self.lists[c].remove(l) };
        self.bytes -= size;
        Some(Area::from_chain(l))
    }

    /// Pool `c`'s areas, oldest first (for validation).
    pub(crate) fn members(&self, c: usize) -> impl Iterator<Item = NonNull<Area>> + '_ {
        self.lists[c].iter().map(Area::from_chain)
    }

    /// Whether every pool list is well formed.
    pub(crate) fn lists_valid(&self) -> bool {
        self.lists.iter().all(|l| l.validate().is_ok())
    }

    /// Areas pool `c` holds.
    pub(crate) fn class_len(&self, c: usize) -> usize {
        self.lists[c].len()
    }
}
