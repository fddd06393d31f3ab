//! Iterators: borrowed in-order (both ways, also over a key range), owning
//! in-order, and the postorder teardown.

use crate::adapter::Adapter;
use crate::glue::value_ref;
use crate::head::AvlTree;
use crate::link::{Link, LEFT, RIGHT};
use crate::pointer::PointerOps;
use crate::raw::{step, RawTree};
use core::iter::FusedIterator;
use core::marker::PhantomData;
use core::ptr::NonNull;

/// In-order iterator over `&A::Value`, from both ends.
pub struct Iter<'a, A: Adapter> {
    /// Next node from the front and from the back; both `None` once the two
    /// ends have met.
    head: Option<NonNull<Link>>,
    tail: Option<NonNull<Link>>,
    _tree: PhantomData<&'a AvlTree<A>>,
}

impl<A: Adapter> Iter<'_, A> {
    pub(crate) fn new(head: Option<NonNull<Link>>, tail: Option<NonNull<Link>>) -> Self {
        Iter {
            head,
            tail,
            _tree: PhantomData,
        }
    }

    fn advance(&mut self, dir: usize) -> Option<NonNull<Link>> {
        let (from, other) = if dir == RIGHT {
            (self.head?, self.tail)
        } else {
            (self.tail?, self.head)
        };
        if Some(from) == other {
            self.head = None;
            self.tail = None;
        } else {
            // SAFETY: `from` is a member of the borrowed tree, and lies
            // strictly before (after) the other end, so a neighbour exists.
            let next = unsafe { step(from, dir) };
            if dir == RIGHT {
                self.head = next
            } else {
                self.tail = next
            }
        }
        Some(from)
    }
}

impl<A: Adapter> Clone for Iter<'_, A> {
    fn clone(&self) -> Self {
        Iter::new(self.head, self.tail)
    }
}

impl<'a, A: Adapter> Iterator for Iter<'a, A> {
    type Item = &'a A::Value;
    #[inline]
    fn next(&mut self) -> Option<&'a A::Value> {
        // SAFETY: members live as long as the tree borrow `'a`.
        self.advance(RIGHT).map(|n| unsafe { value_ref::<A>(n) })
    }
}

impl<'a, A: Adapter> DoubleEndedIterator for Iter<'a, A> {
    #[inline]
    fn next_back(&mut self) -> Option<&'a A::Value> {
        // SAFETY: as in `next`.
        self.advance(LEFT).map(|n| unsafe { value_ref::<A>(n) })
    }
}

impl<A: Adapter> FusedIterator for Iter<'_, A> {}

/// Owning in-order iterator: takes nodes out from either end.
pub struct IntoIter<A: Adapter> {
    tree: AvlTree<A>,
}

impl<A: Adapter> IntoIter<A> {
    pub(crate) fn new(tree: AvlTree<A>) -> Self {
        IntoIter { tree }
    }
}

impl<A: Adapter> Iterator for IntoIter<A> {
    type Item = A::Pointer;
    fn next(&mut self) -> Option<A::Pointer> {
        self.tree.pop_front()
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.tree.len(), Some(self.tree.len()))
    }
}

impl<A: Adapter> DoubleEndedIterator for IntoIter<A> {
    fn next_back(&mut self) -> Option<A::Pointer> {
        self.tree.pop_back()
    }
}

impl<A: Adapter> ExactSizeIterator for IntoIter<A> {}
impl<A: Adapter> FusedIterator for IntoIter<A> {}

/// Postorder teardown from [`AvlTree::drain_postorder`]: each node is cut
/// from its parent before it is yielded, so what remains is always a proper
/// binary tree, and dropping the iterator releases the rest.
pub struct Drain<'a, A: Adapter> {
    next: Option<NonNull<Link>>,
    _tree: PhantomData<&'a mut AvlTree<A>>,
}

impl<A: Adapter> Drain<'_, A> {
    pub(crate) fn new(root: Option<NonNull<Link>>) -> Self {
        Drain {
            next: root,
            _tree: PhantomData,
        }
    }
}

impl<A: Adapter> Iterator for Drain<'_, A> {
    type Item = A::Pointer;
    fn next(&mut self) -> Option<A::Pointer> {
        let from = self.next?;
        // SAFETY: `from` belongs to the detached tree this drain owns.
        let (leaf, parent) = unsafe { RawTree::detach_postorder_leaf(from) };
        self.next = parent;
        // SAFETY: the leaf left the tree; the pointer it held is released.
        Some(unsafe { A::Pointer::from_raw(A::value(leaf)) })
    }
}

impl<A: Adapter> FusedIterator for Drain<'_, A> {}

impl<A: Adapter> Drop for Drain<'_, A> {
    fn drop(&mut self) {
        self.for_each(drop);
    }
}

impl<A: Adapter> core::fmt::Debug for Iter<'_, A>
where
    A::Value: core::fmt::Debug,
{
    /// The values still to come, in order (a clone of the iterator walks
    /// them).
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let rest = Iter::<'_, A> {
            head: self.head,
            tail: self.tail,
            _tree: PhantomData,
        };
        f.debug_list().entries(rest).finish()
    }
}

impl<A: Adapter> core::fmt::Debug for IntoIter<A>
where
    A::Value: core::fmt::Debug,
{
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_tuple("IntoIter").field(&self.tree).finish()
    }
}

impl<A: Adapter> core::fmt::Debug for Drain<'_, A> {
    /// Only whether nodes remain: a half-drained tree is not walked.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Drain")
            .field("done", &self.next.is_none())
            .finish_non_exhaustive()
    }
}
