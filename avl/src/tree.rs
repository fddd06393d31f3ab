//! `AvlTree`: the typed tree over the raw core, with the key-based API.

use crate::adapter::{Adapter, KeyAdapter};
use crate::cursor::{Cursor, CursorMut};
use crate::error::AlreadyLinked;
use crate::glue::{guarded, value_ref, HooksOf, Reclaim, Slot};
pub use crate::head::AvlTree;
use crate::insert_error::InsertError;
use crate::iter::{Drain, IntoIter, Iter};
use crate::link::{Link, LEFT, RIGHT};
use crate::pointer::PointerOps;
use crate::raw::{r, RawTree};
use core::cmp::Ordering;
use core::fmt;
use core::marker::PhantomData;
use core::ops::{Bound, RangeBounds};
use core::ptr::NonNull;

impl<A: Adapter> Default for AvlTree<A> {
    fn default() -> Self {
        Self::new()
    }
}

impl<A: Adapter> AvlTree<A> {
    /// An empty tree. `const`, so it can live in a `static` behind a lock.
    pub const fn new() -> Self {
        AvlTree {
            raw: RawTree::new(),
            _owns: PhantomData,
        }
    }

    /// Number of nodes. O(1).
    #[inline]
    pub fn len(&self) -> usize {
        self.raw.len
    }

    /// Whether the tree has no nodes. O(1).
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.raw.root.is_none()
    }

    /// The first (smallest) node. O(1).
    #[inline]
    pub fn first(&self) -> Option<&A::Value> {
        // SAFETY: cached ends are members, alive while `self` is borrowed.
        self.raw.first.map(|l| unsafe { value_ref::<A>(l) })
    }

    /// The last (largest) node. O(1).
    #[inline]
    pub fn last(&self) -> Option<&A::Value> {
        // SAFETY: as in `first`.
        self.raw.last.map(|l| unsafe { value_ref::<A>(l) })
    }

    /// A cursor on the first node (null if empty).
    pub fn front(&self) -> Cursor<'_, A> {
        Cursor::new(self, self.raw.first)
    }

    /// A cursor on the last node (null if empty).
    pub fn back(&self) -> Cursor<'_, A> {
        Cursor::new(self, self.raw.last)
    }

    /// A cursor on the root, for custom descents (see [`Cursor::left`]).
    pub fn root(&self) -> Cursor<'_, A> {
        Cursor::new(self, self.raw.root)
    }

    /// A null cursor: `move_next` goes to the first node, `move_prev` to the
    /// last.
    pub fn cursor(&self) -> Cursor<'_, A> {
        Cursor::new(self, None)
    }

    /// A mutable cursor on the first node (null if empty).
    pub fn front_mut(&mut self) -> CursorMut<'_, A> {
        let first = self.raw.first;
        CursorMut::new(self, first)
    }

    /// A mutable cursor on the last node (null if empty).
    pub fn back_mut(&mut self) -> CursorMut<'_, A> {
        let last = self.raw.last;
        CursorMut::new(self, last)
    }

    /// A null mutable cursor (see [`AvlTree::cursor`]).
    pub fn cursor_mut(&mut self) -> CursorMut<'_, A> {
        CursorMut::new(self, None)
    }

    /// A cursor on the node `ptr` points to, found in O(1) without comparing
    /// keys.
    ///
    /// # Safety
    /// `ptr` must point to a node that is linked in *this* tree.
    pub unsafe fn cursor_from_ptr(&self, ptr: *const A::Value) -> Cursor<'_, A> {
        // SAFETY: caller contract: a member of this tree, so non-null.
        let link = A::link(unsafe { NonNull::new_unchecked(ptr as *mut A::Value) });
        Cursor::new(self, Some(link))
    }

    /// A mutable cursor on the node `ptr` points to, in O(1) (for example to
    /// remove a node the caller already holds, without a search).
    ///
    /// # Safety
    /// `ptr` must point to a node that is linked in *this* tree.
    pub unsafe fn cursor_mut_from_ptr(&mut self, ptr: *const A::Value) -> CursorMut<'_, A> {
        // SAFETY: caller contract: a member of this tree.
        let link = unsafe { self.held_link(ptr) };
        CursorMut::new(self, Some(link))
    }

    /// The link of the member `ptr` points to, as the tree holds it (the
    /// root pointer, or its parent's child pointer): with the provenance the
    /// tree was given in `into_raw`, not the caller's. A caller's pointer
    /// often comes from a shared reference (`get`, `iter`); rebuilding an
    /// owner (`Box::from_raw`) from that one would be undefined behaviour.
    /// O(1): one parent read and one child compare; nothing for pointer
    /// types that accept any shared pointer (`PointerOps::FROM_ANY_SHARED`).
    ///
    /// # Safety
    /// `ptr` points to a node that is linked in this tree.
    unsafe fn held_link(&self, ptr: *const A::Value) -> NonNull<Link> {
        // SAFETY: caller contract: a member of this tree, so non-null.
        let given = A::link(unsafe { NonNull::new_unchecked(ptr as *mut A::Value) });
        if A::Pointer::FROM_ANY_SHARED {
            return given;
        }
        // SAFETY: a member's link is live; reading its parent word is a
        // read of a `Cell`, allowed through any pointer to it.
        let slot = match unsafe { r(given) }.parent() {
            None => self.raw.root,
            Some(p) => {
                // SAFETY: the parent of a member is a member.
                let p = unsafe { r(p) };
                match p.child(LEFT) {
                    Some(c) if c == given => Some(c),
                    _ => p.child(RIGHT),
                }
            }
        };
        // Equal by address; the tree's copy carries the owner's provenance.
        slot.filter(|&s| s == given).unwrap_or(given)
    }

    /// Unlinks the member `ptr` points to, rebalancing, and returns its
    /// owner: O(log n), no key comparison, and (unlike a cursor's
    /// [`remove`](CursorMut::remove), which moves on to the next node) no
    /// walk to a neighbour. Linux's `rb_erase`, illumos' `avl_remove`.
    ///
    /// ```
    /// use intrusive_avl::{adapter, AvlTree, Link};
    ///
    /// struct Area { start: u64, link: Link }
    /// adapter!(ByStart<'a> = &'a Area: Area { link } key u64 = |a| a.start);
    ///
    /// let areas = [0x1000, 0x2000, 0x3000].map(|start| Area { start, link: Link::new() });
    /// let mut tree = AvlTree::<ByStart>::new();
    /// for a in &areas {
    ///     tree.insert(a).ok().unwrap();
    /// }
    /// // A pointer the caller kept (a handle), not a key: no search.
    /// let held: *const Area = &areas[1];
    /// // SAFETY: `held` points to a member of `tree`.
    /// let area = unsafe { tree.remove_ptr(held) };
    /// assert_eq!(area.start, 0x2000);
    /// assert!(!area.link.is_linked());
    /// assert_eq!(tree.len(), 2);
    /// ```
    ///
    /// # Safety
    /// `ptr` must point to a node that is linked in *this* tree.
    pub unsafe fn remove_ptr(&mut self, ptr: *const A::Value) -> A::Pointer {
        // SAFETY: caller contract: a member of this tree.
        let link = unsafe { self.held_link(ptr) };
        // SAFETY: caller contract: `link` is a member of this tree.
        unsafe { self.unlink(link) }
    }

    /// Iterates in order, both ways.
    pub fn iter(&self) -> Iter<'_, A> {
        Iter::new(self.raw.first, self.raw.last)
    }

    /// Removes and returns the first node. O(log n), amortised O(1).
    pub fn pop_front(&mut self) -> Option<A::Pointer> {
        self.front_mut().remove()
    }

    /// Removes and returns the last node.
    pub fn pop_back(&mut self) -> Option<A::Pointer> {
        self.back_mut().remove()
    }

    /// Empties the tree at once and returns its nodes in postorder, in O(n)
    /// total without any rebalancing (illumos `avl_destroy_nodes`). Nodes
    /// not taken are released when the iterator is dropped; if it is
    /// forgotten they stay allocated and marked linked (never reusable, never
    /// unsound).
    pub fn drain_postorder(&mut self) -> Drain<'_, A> {
        let root = self.raw.root.take();
        self.raw = RawTree::new();
        Drain::new(root)
    }

    /// Releases every node (O(n), no rebalancing).
    pub fn clear(&mut self) {
        self.drain_postorder().for_each(drop);
    }

    /// Moves all nodes into a new tree, leaving this one empty. O(1).
    pub fn take(&mut self) -> Self {
        core::mem::take(self)
    }

    /// Unlinks member `node`, rebalancing, and returns its pointer.
    ///
    /// # Safety
    /// `node` must be linked in this tree.
    pub(crate) unsafe fn unlink(&mut self, node: NonNull<Link>) -> A::Pointer {
        // SAFETY: `node` is a member of this tree (caller contract).
        guarded::<A, _>(|| unsafe { self.raw.erase::<HooksOf<A>>(node) });
        // SAFETY: the tree held this pointer since `into_raw`; now released.
        unsafe { A::Pointer::from_raw(A::value(node)) }
    }

    /// Links `ptr` into the empty slot `(parent, dir)` found by a search.
    pub(crate) fn link_slot(
        &mut self,
        ptr: A::Pointer,
        parent: Option<NonNull<Link>>,
        dir: usize,
    ) -> Result<NonNull<Link>, AlreadyLinked<A::Pointer>> {
        let node = A::link(ptr.into_raw());
        // SAFETY: `node` is the link of the live value we were just given.
        if unsafe { r(node) }.is_linked() {
            // SAFETY: giving back exactly the pointer we took.
            return Err(AlreadyLinked(unsafe {
                A::Pointer::from_raw(A::value(node))
            }));
        }
        // SAFETY: `node` is live and unlinked, `(parent, dir)` is an empty
        // slot of this tree (callers search for it just before).
        guarded::<A, _>(|| unsafe { self.raw.link_at::<HooksOf<A>>(node, parent, dir) });
        Ok(node)
    }

    /// Descends to the empty slot that `step(node)` leads to, `step`
    /// answering the side to take at each node (`LEFT` or `RIGHT`, nothing
    /// else); returns the slot's parent (None for an empty tree) and side.
    ///
    /// Two levels per turn, so the node in hand alternates between two
    /// variables instead of being copied at every level: one instruction
    /// less per level in the key descent of `insert`, `entry` and `find`
    /// (`docs/benchmarks.md`; in `insert_by`'s the compiler copies anyway).
    #[inline(always)]
    fn slot_where(
        &self,
        mut step: impl FnMut(NonNull<Link>) -> usize,
    ) -> (Option<NonNull<Link>>, usize) {
        let Some(mut n) = self.raw.root else {
            return (None, LEFT);
        };
        let mut level = |at: NonNull<Link>| {
            let dir = step(at);
            debug_assert!(dir < 2);
            // SAFETY: `at` is the root or a child reached from it: a live
            // member.
            (unsafe { r(at) }.child(dir), dir)
        };
        loop {
            let (c, dir) = level(n);
            let Some(c) = c else { return (Some(n), dir) };
            let (g, dir) = level(c);
            let Some(g) = g else { return (Some(c), dir) };
            n = g;
        }
    }

    /// Descends with `go(node)` telling where the target lies relative to
    /// `node`: `Less` = it is before the node (go left), `Greater` = after
    /// (go right), `Equal` = this node.
    #[inline]
    pub(crate) fn search(&self, mut go: impl FnMut(&A::Value) -> Ordering) -> Slot {
        let Some(mut n) = self.raw.root else {
            return Slot::Vacant(None, LEFT);
        };
        // Only the node in hand is carried from level to level; the last
        // step's side leaves the loop with it (as in `search_key`).
        let dir = loop {
            // SAFETY: nodes reached from the root are live members.
            let (v, link) = unsafe { (value_ref::<A>(n), r(n)) };
            let dir = match go(v) {
                Ordering::Less => LEFT,
                Ordering::Greater => RIGHT,
                Ordering::Equal => return Slot::Found(n),
            };
            match link.child(dir) {
                Some(c) => n = c,
                None => break dir,
            }
        };
        Slot::Vacant(Some(n), dir)
    }

    /// The first node for which monotone `pred` holds (false…false true…true).
    #[inline]
    pub(crate) fn partition_point(
        &self,
        mut pred: impl FnMut(&A::Value) -> bool,
    ) -> Option<NonNull<Link>> {
        let mut found = None;
        let mut cur = self.raw.root;
        while let Some(n) = cur {
            // SAFETY: nodes reached from the root are live members.
            let go_left = pred(unsafe { value_ref::<A>(n) });
            if go_left {
                found = Some(n);
            }
            // SAFETY: as above.
            cur = unsafe { r(n) }.child(if go_left { LEFT } else { RIGHT });
        }
        found
    }

    /// The last node for which monotone `pred` does not hold.
    #[inline]
    pub(crate) fn partition_last(
        &self,
        mut pred: impl FnMut(&A::Value) -> bool,
    ) -> Option<NonNull<Link>> {
        let mut found = None;
        let mut cur = self.raw.root;
        while let Some(n) = cur {
            // SAFETY: nodes reached from the root are live members.
            let go_left = pred(unsafe { value_ref::<A>(n) });
            if !go_left {
                found = Some(n);
            }
            // SAFETY: as above.
            cur = unsafe { r(n) }.child(if go_left { LEFT } else { RIGHT });
        }
        found
    }

    /// A node for which `cmp(node)` is `Equal`, where `cmp(node)` orders the
    /// node against the target (`node_key.cmp(&target)`), as Linux's
    /// `rb_find(key, cmp)`. With duplicates, any of the equal nodes.
    pub fn find_by(&self, mut cmp: impl FnMut(&A::Value) -> Ordering) -> Cursor<'_, A> {
        let at = match self.search(|v| cmp(v).reverse()) {
            Slot::Found(n) => Some(n),
            Slot::Vacant(..) => None,
        };
        Cursor::new(self, at)
    }

    /// The first node not less than the target (`cmp(node) != Less`).
    pub fn lower_bound_by(&self, mut cmp: impl FnMut(&A::Value) -> Ordering) -> Cursor<'_, A> {
        Cursor::new(self, self.partition_point(|v| cmp(v) != Ordering::Less))
    }

    /// The first node greater than the target (`cmp(node) == Greater`).
    pub fn upper_bound_by(&self, mut cmp: impl FnMut(&A::Value) -> Ordering) -> Cursor<'_, A> {
        Cursor::new(self, self.partition_point(|v| cmp(v) == Ordering::Greater))
    }

    /// The last node not greater than the target (`cmp(node) != Greater`).
    pub fn floor_by(&self, mut cmp: impl FnMut(&A::Value) -> Ordering) -> Cursor<'_, A> {
        Cursor::new(self, self.partition_last(|v| cmp(v) == Ordering::Greater))
    }

    /// Mutable form of [`find_by`](AvlTree::find_by).
    pub fn find_by_mut(&mut self, cmp: impl FnMut(&A::Value) -> Ordering) -> CursorMut<'_, A> {
        let at = self.find_by(cmp).current_link();
        CursorMut::new(self, at)
    }

    /// Mutable form of [`lower_bound_by`](AvlTree::lower_bound_by).
    pub fn lower_bound_by_mut(
        &mut self,
        cmp: impl FnMut(&A::Value) -> Ordering,
    ) -> CursorMut<'_, A> {
        let at = self.lower_bound_by(cmp).current_link();
        CursorMut::new(self, at)
    }

    /// Mutable form of [`upper_bound_by`](AvlTree::upper_bound_by).
    pub fn upper_bound_by_mut(
        &mut self,
        cmp: impl FnMut(&A::Value) -> Ordering,
    ) -> CursorMut<'_, A> {
        let at = self.upper_bound_by(cmp).current_link();
        CursorMut::new(self, at)
    }

    /// Mutable form of [`floor_by`](AvlTree::floor_by).
    pub fn floor_by_mut(&mut self, cmp: impl FnMut(&A::Value) -> Ordering) -> CursorMut<'_, A> {
        let at = self.floor_by(cmp).current_link();
        CursorMut::new(self, at)
    }

    /// Inserts `ptr` with a node-vs-node `less` (Linux `rb_add`): after all
    /// nodes it is not less than, so equal nodes keep insertion order.
    ///
    /// Refused with the pointer given back if its link is already linked.
    /// If `less` panics, the tree is unchanged and `ptr` is dropped during
    /// the unwind, as any argument of a panicking call is (never leaked).
    pub fn insert_by(
        &mut self,
        ptr: A::Pointer,
        mut less: impl FnMut(&A::Value, &A::Value) -> bool,
    ) -> Result<CursorMut<'_, A>, AlreadyLinked<A::Pointer>> {
        let held = Reclaim::<A::Pointer>::new(ptr);
        // SAFETY: `held` owns the node until `into_inner` below.
        let new = unsafe { held.get() };
        // SAFETY: `slot_where` passes live members.
        let (parent, dir) =
            self.slot_where(|at| usize::from(!less(new, unsafe { value_ref::<A>(at) })));
        let node = self.link_slot(held.into_inner(), parent, dir)?;
        Ok(CursorMut::new(self, Some(node)))
    }

    /// Descends from the root with `choose(node, left, right)` picking the
    /// way at each node, for searches on augmented summaries (e.g. "lowest
    /// node whose subtree holds a gap ≥ x"). Returns the node `choose`
    /// settles on with [`Descend::Here`], or a null cursor.
    pub fn descend(
        &self,
        mut choose: impl FnMut(&A::Value, Option<&A::Value>, Option<&A::Value>) -> Descend,
    ) -> Cursor<'_, A> {
        let mut cur = self.raw.root;
        while let Some(n) = cur {
            // SAFETY: nodes reached from the root are live members.
            let (v, left, right) = unsafe {
                let l = r(n);
                (
                    value_ref::<A>(n),
                    l.child(LEFT).map(|c| value_ref::<A>(c)),
                    l.child(RIGHT).map(|c| value_ref::<A>(c)),
                )
            };
            // SAFETY: as above.
            cur = match choose(v, left, right) {
                Descend::Left => unsafe { r(n) }.child(LEFT),
                Descend::Right => unsafe { r(n) }.child(RIGHT),
                Descend::Here => return Cursor::new(self, Some(n)),
                Descend::Stop => None,
            };
        }
        Cursor::new(self, None)
    }
}

/// The answer of a [`descend`](AvlTree::descend) step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Descend {
    /// Continue into the left subtree (null ends the search: not found).
    Left,
    /// Continue into the right subtree.
    Right,
    /// This node is the answer.
    Here,
    /// Not found; stop.
    Stop,
}

/// Where a key-based search landed: on an equal node, or on the empty slot
/// a node with that key belongs in. Inserting through a vacant entry links
/// the node with no second search.
pub enum Entry<'a, A: Adapter> {
    /// A node with the key exists; the cursor is on it.
    Occupied(CursorMut<'a, A>),
    /// No such node; [`VacantEntry::insert`] links one here.
    Vacant(VacantEntry<'a, A>),
}

impl<A: Adapter> fmt::Debug for Entry<'_, A>
where
    A::Value: fmt::Debug,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Entry::Occupied(c) => f.debug_tuple("Occupied").field(c).finish(),
            Entry::Vacant(v) => f.debug_tuple("Vacant").field(v).finish(),
        }
    }
}

impl<A: Adapter> fmt::Debug for VacantEntry<'_, A> {
    /// Where the slot is: below which side of a parent, or the root.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VacantEntry")
            .field("root", &self.parent.is_none())
            .field("side", &if self.dir == 0 { "left" } else { "right" })
            .finish_non_exhaustive()
    }
}

/// The empty slot a search ended on.
pub struct VacantEntry<'a, A: Adapter> {
    tree: &'a mut AvlTree<A>,
    parent: Option<NonNull<Link>>,
    dir: usize,
}

impl<'a, A: Adapter> VacantEntry<'a, A> {
    /// Links `ptr` into the slot (no comparison). The caller vouches that
    /// the node's key is the one searched for; a different key breaks the
    /// order (reported by `validate`, never unsound).
    pub fn insert(self, ptr: A::Pointer) -> Result<CursorMut<'a, A>, AlreadyLinked<A::Pointer>> {
        let node = self.tree.link_slot(ptr, self.parent, self.dir)?;
        Ok(CursorMut::new(self.tree, Some(node)))
    }
}

impl<A: Adapter> AvlTree<A> {
    /// The entry for the target `cmp` orders nodes against (see
    /// [`find_by`](AvlTree::find_by)).
    pub fn entry_by(&mut self, mut cmp: impl FnMut(&A::Value) -> Ordering) -> Entry<'_, A> {
        match self.search(|v| cmp(v).reverse()) {
            Slot::Found(n) => Entry::Occupied(CursorMut::new(self, Some(n))),
            Slot::Vacant(parent, dir) => Entry::Vacant(VacantEntry {
                tree: self,
                parent,
                dir,
            }),
        }
    }
}

impl<A: KeyAdapter> AvlTree<A> {
    /// Inserts `ptr` if no node has its key; O(log n).
    ///
    /// On a duplicate the tree is unchanged and the error carries both a
    /// cursor on the existing node and the rejected pointer. A pointer whose
    /// link is already linked (in this or any tree) is refused likewise.
    /// If the key function or `Ord` panics, the tree is unchanged and `ptr`
    /// is dropped during the unwind (never leaked).
    #[inline]
    pub fn insert(&mut self, ptr: A::Pointer) -> Result<CursorMut<'_, A>, InsertError<'_, A>> {
        let held = Reclaim::<A::Pointer>::new(ptr);
        // SAFETY: `held` owns the node until `into_inner` below; all reads
        // through it happen before that.
        let (key, linked) = unsafe { (A::key(held.get()), r(A::link(held.raw)).is_linked()) };
        let ptr = held.into_inner();
        if linked {
            return Err(InsertError::AlreadyLinked(ptr));
        }
        match self.search_key(&key) {
            Slot::Found(n) => Err(InsertError::Duplicate {
                existing: CursorMut::new(self, Some(n)),
                rejected: ptr,
            }),
            Slot::Vacant(parent, dir) => match self.link_slot(ptr, parent, dir) {
                Ok(node) => Ok(CursorMut::new(self, Some(node))),
                Err(AlreadyLinked(p)) => Err(InsertError::AlreadyLinked(p)),
            },
        }
    }

    /// Inserts `ptr` even if equal keys exist: after the last equal node, so
    /// equal keys iterate in insertion order. A panicking key function or
    /// `Ord` drops `ptr` and leaves the tree unchanged, as in
    /// [`insert_by`](Self::insert_by).
    pub fn insert_multi(
        &mut self,
        ptr: A::Pointer,
    ) -> Result<CursorMut<'_, A>, AlreadyLinked<A::Pointer>> {
        self.insert_by(ptr, |a, b| A::key(a) < A::key(b))
    }

    /// The entry for `key`: occupied (cursor on it) or vacant (the slot).
    pub fn entry(&mut self, key: &A::Key) -> Entry<'_, A> {
        match self.search_key(key) {
            Slot::Found(n) => Entry::Occupied(CursorMut::new(self, Some(n))),
            Slot::Vacant(parent, dir) => Entry::Vacant(VacantEntry {
                tree: self,
                parent,
                dir,
            }),
        }
    }

    /// Lookup only: the descent without the slot bookkeeping.
    #[inline]
    fn find_link(&self, key: &A::Key) -> Option<NonNull<Link>> {
        match self.search_key(key) {
            Slot::Found(n) => Some(n),
            Slot::Vacant(..) => None,
        }
    }

    /// The key descent behind `insert` and `entry`. Measured
    /// (`docs/benchmarks.md`): the loop with an exit on equality and a
    /// branch on `<` took 1.7× the time of this one at 1e3 nodes, 3× at
    /// 1e6, for about the same instruction count.
    #[inline]
    fn search_key(&self, key: &A::Key) -> Slot {
        // One comparison per level, as a 0/1 index rather than a branch
        // (with random keys a branch on it is mispredicted at half the
        // levels), and no exit on equality inside the loop: an equal key
        // steps right, so if the tree holds `key`, it is the last node the
        // descent stepped right from (every later step goes left of it,
        // until the leaf slot just after it). One test after the loop finds
        // it.
        let mut stepped_right_from: Option<NonNull<Link>> = None;
        let (parent, dir) = self.slot_where(|at| {
            // SAFETY: `slot_where` passes live members.
            let dir = usize::from(*key >= A::key(unsafe { value_ref::<A>(at) }));
            if dir == RIGHT {
                stepped_right_from = Some(at);
            }
            dir
        });
        if let Some(m) = stepped_right_from {
            // SAFETY: `m` was reached from the root and is a live member.
            if A::key(unsafe { value_ref::<A>(m) }) == *key {
                return Slot::Found(m);
            }
        }
        Slot::Vacant(parent, dir)
    }

    /// The node with `key` (with duplicates, any of them).
    pub fn get(&self, key: &A::Key) -> Option<&A::Value> {
        self.find(key).get()
    }

    /// A cursor on the node with `key`, null if none.
    pub fn find(&self, key: &A::Key) -> Cursor<'_, A> {
        Cursor::new(self, self.find_link(key))
    }

    /// A mutable cursor on the node with `key`, null if none.
    pub fn find_mut(&mut self, key: &A::Key) -> CursorMut<'_, A> {
        let at = self.find(key).current_link();
        CursorMut::new(self, at)
    }

    /// The first node with key ≥ `key`.
    pub fn lower_bound(&self, key: &A::Key) -> Cursor<'_, A> {
        self.lower_bound_by(|v| A::key(v).cmp(key))
    }

    /// The first node with key > `key` (C++'s `std::upper_bound`).
    ///
    /// **Not** intrusive-collections' `upper_bound`, which returns the
    /// *last* node below a bound: its `upper_bound(Bound::Included(k))` is
    /// our [`floor`](Self::floor)`(k)`, and its
    /// `upper_bound(Bound::Excluded(k))` is the node before our
    /// [`lower_bound`](Self::lower_bound)`(k)`.
    ///
    /// ```
    /// use intrusive_avl::{adapter, AvlTree, Link};
    /// struct N { k: u32, link: Link }
    /// adapter!(ByK<'a> = &'a N: N { link } key u32 = |n| n.k);
    /// let ns = [10, 20, 30].map(|k| N { k, link: Link::new() });
    /// let mut t = AvlTree::<ByK>::new();
    /// ns.iter().for_each(|n| { t.insert(n).unwrap(); });
    /// assert_eq!(t.upper_bound(&20).get().unwrap().k, 30); // first > 20
    /// assert_eq!(t.floor(&25).get().unwrap().k, 20);       // last ≤ 25 (IC's upper_bound)
    /// ```
    pub fn upper_bound(&self, key: &A::Key) -> Cursor<'_, A> {
        self.upper_bound_by(|v| A::key(v).cmp(key))
    }

    /// The last node with key ≤ `key`.
    pub fn floor(&self, key: &A::Key) -> Cursor<'_, A> {
        self.floor_by(|v| A::key(v).cmp(key))
    }

    /// Mutable [`lower_bound`](AvlTree::lower_bound).
    pub fn lower_bound_mut(&mut self, key: &A::Key) -> CursorMut<'_, A> {
        self.lower_bound_by_mut(|v| A::key(v).cmp(key))
    }

    /// Mutable [`upper_bound`](AvlTree::upper_bound).
    pub fn upper_bound_mut(&mut self, key: &A::Key) -> CursorMut<'_, A> {
        self.upper_bound_by_mut(|v| A::key(v).cmp(key))
    }

    /// Mutable [`floor`](AvlTree::floor).
    pub fn floor_mut(&mut self, key: &A::Key) -> CursorMut<'_, A> {
        self.floor_by_mut(|v| A::key(v).cmp(key))
    }

    /// Removes the node with `key` (with duplicates, any one of them).
    pub fn remove(&mut self, key: &A::Key) -> Option<A::Pointer> {
        let node = self.find_link(key)?;
        // SAFETY: `node` was just found in this tree.
        Some(unsafe { self.unlink(node) })
    }

    /// The nodes whose keys lie in `range`, in order, both ways. An empty or
    /// inverted range yields nothing (no panic).
    pub fn range<R: RangeBounds<A::Key>>(&self, range: R) -> Iter<'_, A> {
        let head = match range.start_bound() {
            Bound::Included(k) => self.partition_point(|v| A::key(v) >= *k),
            Bound::Excluded(k) => self.partition_point(|v| A::key(v) > *k),
            Bound::Unbounded => self.raw.first,
        };
        let tail = match range.end_bound() {
            Bound::Included(k) => self.partition_last(|v| A::key(v) > *k),
            Bound::Excluded(k) => self.partition_last(|v| A::key(v) >= *k),
            Bound::Unbounded => self.raw.last,
        };
        match (head, tail) {
            // SAFETY: both are members of this tree.
            (Some(h), Some(t))
                if unsafe { A::key(value_ref::<A>(h)) <= A::key(value_ref::<A>(t)) } =>
            {
                Iter::new(Some(h), Some(t))
            }
            _ => Iter::new(None, None),
        }
    }
}

impl<A: Adapter> Drop for AvlTree<A> {
    fn drop(&mut self) {
        self.clear();
    }
}

impl<'a, A: Adapter> IntoIterator for &'a AvlTree<A> {
    type Item = &'a A::Value;
    type IntoIter = Iter<'a, A>;
    fn into_iter(self) -> Iter<'a, A> {
        self.iter()
    }
}

impl<A: Adapter> IntoIterator for AvlTree<A> {
    type Item = A::Pointer;
    type IntoIter = IntoIter<A>;
    fn into_iter(self) -> IntoIter<A> {
        IntoIter::new(self)
    }
}

impl<A: Adapter> fmt::Debug for AvlTree<A>
where
    A::Value: fmt::Debug,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl<A: Adapter> AvlTree<A> {
    /// Height of the tree (0 when empty), from the balance factors: O(log n).
    pub fn height(&self) -> usize {
        let mut h = 0;
        let mut cur = self.raw.root;
        while let Some(n) = cur {
            h += 1;
            // SAFETY: nodes reached from the root are live members.
            let l = unsafe { r(n) };
            cur = if l.balance() > 0 {
                l.child(RIGHT)
            } else {
                l.child(LEFT)
            };
        }
        h
    }
}
