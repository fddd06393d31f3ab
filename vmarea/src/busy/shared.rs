//! A shared space's busy tree, kept beside the space's lock behind a busy
//! lock of its own (Linux's `vmap_node.busy.lock` beside
//! `free_vmap_area_lock`), so that a page-fault handler can ask which area
//! holds an address without ever waiting on the space's lock.
//!
//! The rules that make the fault path's read sound:
//! - Only a holder of the space's lock changes the tree, and it takes the
//!   busy lock around each change (`edit`): the lock order is space, then
//!   busy; nothing is called, allocated or waited for with the busy lock
//!   held, so it is held for one O(log n) link or unlink.
//! - A reader without the space's lock (`containing`) takes the busy lock,
//!   so it never overlaps a change. A reader holding the space's lock reads
//!   without it (`tree`): the only writer is itself.
//! - The fault path reads, of each area it passes, the AVL link words, the
//!   address and the size word (none of which the space writes while the
//!   area is in the tree: an area is linked after it is marked used and
//!   unlinked before any of them changes) and the atomic `aux` word (which
//!   a deferred free or a cache may rewrite meanwhile: an atomic read of
//!   either value is fine). An area leaves the tree under the busy lock
//!   before its object can go back to the node source, so no read reaches
//!   freed memory.

use super::BusyTree;
use crate::info::AreaInfo;
use crate::sync::{Protected, RawSpinlock};
use intrusive_avl::AvlTree;

/// The busy tree of a [`SharedSpace`](crate::SharedSpace) and its lock.
pub(crate) struct SharedBusy {
    lock: RawSpinlock,
    tree: Protected<AvlTree<BusyTree>>,
}

/// Releases the busy lock when dropped (a panic inside a change would
/// otherwise leave it held, and every later fault lookup spinning).
struct Unlock<'l>(&'l RawSpinlock);

impl Drop for Unlock<'_> {
    fn drop(&mut self) {
        // SAFETY: made right after taking the lock, dropped once.
        unsafe { self.0.release() }
    }
}

impl SharedBusy {
    /// An empty tree (the space moves its own in at `UsedAreas::attach`).
    #[cfg(not(loom))]
    pub(crate) const fn new() -> Self {
        SharedBusy {
            lock: RawSpinlock::new(),
            tree: Protected::new(AvlTree::new()),
        }
    }

    /// An empty tree (not `const` under loom).
    #[cfg(loom)]
    pub(crate) fn new() -> Self {
        SharedBusy {
            lock: RawSpinlock::new(),
            tree: Protected::new(AvlTree::new()),
        }
    }

    /// The tree, for a reader that holds the space's lock.
    ///
    /// # Safety
    /// The caller holds the shared space's lock (so no `edit` overlaps the
    /// borrow), and does not `edit` while the borrow lives.
    pub(crate) unsafe fn tree(&self) -> &AvlTree<BusyTree> {
        // SAFETY: caller contract: the only writer is the caller, not
        // writing; other readers only read.
        unsafe { &*self.tree.get() }
    }

    /// Changes the tree with the busy lock held. The caller holds the
    /// shared space's lock (or owns it: construction, teardown).
    pub(crate) fn edit<R>(&self, f: impl FnOnce(&mut AvlTree<BusyTree>) -> R) -> R {
        #[cfg(loom)]
        if crate::sync::weaken::is(crate::sync::site::BUSY_EDIT_UNLOCKED) {
            // The broken twin: a change that fault lookups may overlap.
            // SAFETY: none: loom must report the overlap.
            return unsafe { self.tree.with_mut(f) };
        }
        self.lock.acquire();
        let _unlock = Unlock(&self.lock);
        // SAFETY: writers hold the space's lock and the busy lock, readers
        // without the space's lock hold the busy lock: none overlaps.
        unsafe { self.tree.with_mut(f) }
    }

    /// The used area containing `addr`, read with the busy lock only (never
    /// the space's lock): not one whose deferred free is pending.
    pub(crate) fn containing(&self, addr: usize, quantum: usize) -> Option<AreaInfo> {
        self.lock.acquire();
        let _unlock = Unlock(&self.lock);
        // SAFETY: the busy lock excludes every change (module rules).
        unsafe {
            self.tree.with(|tree| {
                let a = tree.floor(&addr).get()?;
                (addr < a.end() && !a.is_deferred()).then(|| AreaInfo::of(a, quantum))
            })
        }
    }
}
