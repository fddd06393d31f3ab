//! The tree's head, on its own so that the tree's API (`tree.rs`), its
//! cursors (`cursor.rs`) and iterators (`iter.rs`) all build on it without
//! importing one another in a circle.

use crate::adapter::Adapter;
use crate::raw::RawTree;
use core::marker::PhantomData;

/// An intrusive AVL tree of nodes owned through `A::Pointer`.
///
/// The head is four words (root, cached first, cached last, length); each
/// node carries a three-word [`Link`](crate::Link). Insert, remove and search are
/// O(log n); `first`/`last`/`len` are O(1); stepping to a neighbour is O(1)
/// amortised. Nothing recurses and nothing allocates.
///
/// Dropping the tree releases every member's pointer (frees `Box`es, drops
/// one count of `Rc`/`Arc`, ends borrows) and marks every link unlinked.
pub struct AvlTree<A: Adapter> {
    pub(crate) raw: RawTree,
    pub(crate) _owns: PhantomData<A::Pointer>,
}

// SAFETY: the tree owns its members through `A::Pointer`; sending the tree
// sends those pointers, and only them.
unsafe impl<A: Adapter> Send for AvlTree<A> where A::Pointer: Send {}
// SAFETY: `&AvlTree` gives out only `&A::Value`, and reads links that no
// one can write without `&mut AvlTree`.
unsafe impl<A: Adapter> Sync for AvlTree<A> where A::Pointer: Sync {}
