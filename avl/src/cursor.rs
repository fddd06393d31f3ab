//! Cursors: a position in the tree (a node, or the null position between
//! the last node and the first), read-only or mutating.

use crate::adapter::Adapter;
use crate::error::{AlreadyLinked, LinkError};
use crate::glue::{guarded, value_ref, HooksOf};
use crate::head::AvlTree;
use crate::link::{Link, LEFT, RIGHT};
use crate::pointer::PointerOps;
use crate::raw::{extreme, r, step};
use core::fmt;
use core::ptr::NonNull;

/// A read-only position in a tree. Copyable; many may coexist.
///
/// The null position sits between the last node and the first:
/// `move_next` from null goes to the first node, `move_prev` to the last.
pub struct Cursor<'a, A: Adapter> {
    tree: &'a AvlTree<A>,
    cur: Option<NonNull<Link>>,
}

impl<A: Adapter> Clone for Cursor<'_, A> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<A: Adapter> Copy for Cursor<'_, A> {}

/// In-order neighbour of `cur` (`None` = the null position) within `tree`.
#[inline]
fn neighbour(
    raw_ends: (Option<NonNull<Link>>, Option<NonNull<Link>>),
    cur: Option<NonNull<Link>>,
    dir: usize,
) -> Option<NonNull<Link>> {
    match cur {
        // SAFETY: cursors only hold members of their tree.
        Some(n) => unsafe { step(n, dir) },
        None if dir == RIGHT => raw_ends.0,
        None => raw_ends.1,
    }
}

impl<'a, A: Adapter> Cursor<'a, A> {
    pub(crate) fn new(tree: &'a AvlTree<A>, cur: Option<NonNull<Link>>) -> Self {
        Cursor { tree, cur }
    }

    pub(crate) fn current_link(&self) -> Option<NonNull<Link>> {
        self.cur
    }

    fn ends(&self) -> (Option<NonNull<Link>>, Option<NonNull<Link>>) {
        (self.tree.raw.first, self.tree.raw.last)
    }

    /// Whether the cursor is at the null position.
    pub fn is_null(&self) -> bool {
        self.cur.is_none()
    }

    /// The node at the cursor.
    pub fn get(&self) -> Option<&'a A::Value> {
        // SAFETY: a member of the borrowed tree lives as long as the borrow.
        self.cur.map(|n| unsafe { value_ref::<A>(n) })
    }

    /// Moves to the next node in order (from the last node: to null).
    pub fn move_next(&mut self) {
        self.cur = neighbour(self.ends(), self.cur, RIGHT);
    }

    /// Moves to the previous node in order (from the first node: to null).
    pub fn move_prev(&mut self) {
        self.cur = neighbour(self.ends(), self.cur, LEFT);
    }

    /// The next node, without moving.
    pub fn peek_next(&self) -> Option<&'a A::Value> {
        let mut c = *self;
        c.move_next();
        c.get()
    }

    /// The previous node, without moving.
    pub fn peek_prev(&self) -> Option<&'a A::Value> {
        let mut c = *self;
        c.move_prev();
        c.get()
    }

    fn relative(&self, f: impl FnOnce(&Link) -> Option<NonNull<Link>>) -> Cursor<'a, A> {
        // SAFETY: cursors only hold members of their tree.
        let at = self.cur.and_then(|n| f(unsafe { r(n) }));
        Cursor::new(self.tree, at)
    }

    /// The left child (null if none, or if the cursor is null): for custom
    /// descents over augmented summaries.
    pub fn left(&self) -> Cursor<'a, A> {
        self.relative(|l| l.child(LEFT))
    }

    /// The right child.
    pub fn right(&self) -> Cursor<'a, A> {
        self.relative(|l| l.child(RIGHT))
    }

    /// The parent (null at the root).
    pub fn parent(&self) -> Cursor<'a, A> {
        self.relative(|l| l.parent())
    }
}

impl<A: Adapter> fmt::Debug for Cursor<'_, A>
where
    A::Value: fmt::Debug,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Cursor").field(&self.get()).finish()
    }
}

/// A mutating position in a tree: remove, replace and insert beside the
/// current node without any key search.
///
/// `insert_before`/`insert_after`/`replace_with` trust the caller to keep
/// the order; a wrong position breaks the order (searches may miss, and
/// `validate` reports it) but never memory safety.
pub struct CursorMut<'a, A: Adapter> {
    tree: &'a mut AvlTree<A>,
    cur: Option<NonNull<Link>>,
}

impl<'a, A: Adapter> CursorMut<'a, A> {
    pub(crate) fn new(tree: &'a mut AvlTree<A>, cur: Option<NonNull<Link>>) -> Self {
        CursorMut { tree, cur }
    }

    fn ends(&self) -> (Option<NonNull<Link>>, Option<NonNull<Link>>) {
        (self.tree.raw.first, self.tree.raw.last)
    }

    /// Whether the cursor is at the null position.
    pub fn is_null(&self) -> bool {
        self.cur.is_none()
    }

    /// The node at the cursor.
    pub fn get(&self) -> Option<&A::Value> {
        // SAFETY: a member of the borrowed tree lives as long as the borrow.
        self.cur.map(|n| unsafe { value_ref::<A>(n) })
    }

    /// A read-only cursor at the same position.
    pub fn as_cursor(&self) -> Cursor<'_, A> {
        Cursor::new(self.tree, self.cur)
    }

    /// Moves to the next node (from the last: to null; from null: to first).
    pub fn move_next(&mut self) {
        self.cur = neighbour(self.ends(), self.cur, RIGHT);
    }

    /// Moves to the previous node.
    pub fn move_prev(&mut self) {
        self.cur = neighbour(self.ends(), self.cur, LEFT);
    }

    /// The next node, without moving.
    pub fn peek_next(&self) -> Option<&A::Value> {
        self.as_cursor().peek_next()
    }

    /// The previous node, without moving.
    pub fn peek_prev(&self) -> Option<&A::Value> {
        self.as_cursor().peek_prev()
    }

    /// Unlinks the current node and returns it; the cursor moves to the next
    /// node. O(log n). `None` at the null position.
    pub fn remove(&mut self) -> Option<A::Pointer> {
        let node = self.cur?;
        // SAFETY: `node` is a member of this tree.
        self.cur = unsafe { step(node, RIGHT) };
        // SAFETY: `node` is a member of this tree.
        Some(unsafe { self.tree.unlink(node) })
    }

    /// Puts `new` exactly where the current node is, without comparing or
    /// rebalancing, and returns the old node. Refused (pointer given back,
    /// tree unchanged) at the null position or if `new` is linked.
    pub fn replace_with(&mut self, new: A::Pointer) -> Result<A::Pointer, LinkError<A::Pointer>> {
        let Some(old) = self.cur else {
            return Err(LinkError::NoCurrent(new));
        };
        let new_link = self.take_unlinked(new)?;
        // SAFETY: `old` is a member, `new_link` a live unlinked node.
        guarded::<A, _>(|| unsafe { self.tree.raw.replace::<HooksOf<A>>(old, new_link) });
        self.cur = Some(new_link);
        // SAFETY: `old` left the tree; its pointer is ours to return.
        Ok(unsafe { A::Pointer::from_raw(A::value(old)) })
    }

    /// Inserts `new` just before the current node (at the null position: as
    /// the last node). O(1) to find the slot, plus the rebalance.
    pub fn insert_before(&mut self, new: A::Pointer) -> Result<(), AlreadyLinked<A::Pointer>> {
        self.insert_beside(new, LEFT)
    }

    /// Inserts `new` just after the current node (at the null position: as
    /// the first node).
    pub fn insert_after(&mut self, new: A::Pointer) -> Result<(), AlreadyLinked<A::Pointer>> {
        self.insert_beside(new, RIGHT)
    }

    fn insert_beside(
        &mut self,
        new: A::Pointer,
        dir: usize,
    ) -> Result<(), AlreadyLinked<A::Pointer>> {
        // The empty slot right beside the current node in direction `dir`:
        // its own child there, else the opposite child of the extreme node of
        // that subtree. At null, beside the opposite end of the tree.
        let (parent, slot_dir) = match self.cur {
            // SAFETY: cursors only hold members of their tree.
            Some(n) => match unsafe { r(n) }.child(dir) {
                // SAFETY: `c` is a member of this tree.
                Some(c) => (Some(unsafe { extreme(c, 1 - dir) }), 1 - dir),
                None => (Some(n), dir),
            },
            None => {
                let end = if dir == RIGHT {
                    self.tree.raw.first
                } else {
                    self.tree.raw.last
                };
                (end, 1 - dir)
            }
        };
        self.tree.link_slot(new, parent, slot_dir).map(|_| ())
    }

    /// Recomputes the augmented summaries from the current node up to the
    /// root, stopping early when one is unchanged. Call it after editing a
    /// summarized field of the node in place (FreeBSD's `RB_UPDATE_AUGMENT`).
    pub fn propagate(&mut self) {
        if let Some(n) = self.cur {
            // SAFETY: `n` is a member of this tree.
            guarded::<A, _>(|| unsafe { self.tree.raw.propagate::<HooksOf<A>>(n) });
        }
    }

    /// Converts `new` to its link if it is unlinked; else gives it back.
    fn take_unlinked(&self, new: A::Pointer) -> Result<NonNull<Link>, LinkError<A::Pointer>> {
        let link = A::link(new.into_raw());
        // SAFETY: the value is live: we hold its pointer.
        if unsafe { r(link) }.is_linked() {
            // SAFETY: giving back the pointer we just took.
            return Err(LinkError::AlreadyLinked(unsafe {
                A::Pointer::from_raw(A::value(link))
            }));
        }
        Ok(link)
    }
}

impl<A: Adapter> fmt::Debug for CursorMut<'_, A>
where
    A::Value: fmt::Debug,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("CursorMut").field(&self.get()).finish()
    }
}
