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
///
/// Borrowed members, no allocation (`default-features = false` works):
///
/// ```
/// use intrusive_avl::{adapter, AvlTree, Link};
///
/// struct Region {
///     start: u64,
///     len: u64,
///     link: Link,
/// }
/// adapter!(ByStart<'a> = &'a Region: Region { link } key u64 = |r| r.start);
///
/// let regions = [0x3000, 0x1000, 0x2000].map(|start| Region { start, len: 0x800, link: Link::new() });
/// let mut tree = AvlTree::<ByStart>::new();
/// for r in &regions {
///     tree.insert(r).ok().unwrap(); // refused (and handed back) on a duplicate key
/// }
/// assert_eq!(tree.len(), 3);
/// assert_eq!(tree.first().map(|r| r.start), Some(0x1000)); // O(1)
/// // The region holding an address: the last start at or below it.
/// let hit = tree.floor(&0x2400).get().unwrap();
/// assert!(hit.start <= 0x2400 && 0x2400 < hit.start + hit.len);
/// tree.validate().unwrap();
/// ```
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
