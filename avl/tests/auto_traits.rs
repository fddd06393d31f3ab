//! The auto traits each public type has, and the ones it must not have.
//! Each `unsafe impl Send/Sync` in the crate is pinned here, so a change of
//! bound is a compile error in this file, not a silent soundness change.

use intrusive_avl::{adapter, AvlTree, Link, UnsafeRef};
use static_assertions::{assert_impl_all, assert_not_impl_any};
use std::cell::Cell;

/// A node that may move between threads but not be shared (`Link` is a
/// `Cell` inside).
pub struct Node {
    key: u64,
    link: Link,
}

/// A node that is `Sync` by its author's choice (all access is external).
pub struct SyncNode {
    key: u64,
    link: Link,
}
// SAFETY (test fixture): the tests below only check the trait bounds.
unsafe impl Sync for SyncNode {}

adapter!(ByRef<'a> = &'a Node: Node { link } key u64 = |n| n.key);
adapter!(ByRaw = UnsafeRef<Node>: Node { link } key u64 = |n| n.key);
adapter!(SyncByRaw = UnsafeRef<SyncNode>: SyncNode { link } key u64 = |n| n.key);

// A link may move with its node, never be shared: the tree rewrites it.
assert_impl_all!(Link: Send, Unpin);
assert_not_impl_any!(Link: Sync);
assert_impl_all!(Node: Send);
assert_not_impl_any!(Node: Sync);

// `UnsafeRef` is `Copy`: sending or sharing one hands `&T` to two threads
// and ownership to the receiver, so both need `T: Send + Sync`.
assert_not_impl_any!(UnsafeRef<Cell<u8>>: Send, Sync);
assert_not_impl_any!(UnsafeRef<Node>: Send, Sync);
assert_not_impl_any!(UnsafeRef<std::sync::MutexGuard<'static, u8>>: Send, Sync);
assert_impl_all!(UnsafeRef<u64>: Send, Sync, Copy);
assert_impl_all!(UnsafeRef<SyncNode>: Send, Sync);

// A tree is as sendable and shareable as the pointers it owns.
assert_not_impl_any!(AvlTree<ByRef<'static>>: Send, Sync);
assert_not_impl_any!(AvlTree<ByRaw>: Send, Sync);
assert_impl_all!(AvlTree<SyncByRaw>: Send, Sync);

#[cfg(feature = "alloc")]
mod owned {
    use super::*;
    use std::rc::Rc;
    use std::sync::Arc;

    adapter!(ByBox = Box<Node>: Node { link } key u64 = |n| n.key);
    adapter!(ByRc = Rc<Node>: Node { link } key u64 = |n| n.key);
    adapter!(ByArc = Arc<SyncNode>: SyncNode { link } key u64 = |n| n.key);

    assert_impl_all!(AvlTree<ByBox>: Send);
    assert_not_impl_any!(AvlTree<ByBox>: Sync);
    assert_not_impl_any!(AvlTree<ByRc>: Send, Sync);
    assert_impl_all!(AvlTree<ByArc>: Send, Sync);
}

#[test]
fn fixtures_are_usable() {
    let n = Node {
        key: 1,
        link: Link::new(),
    };
    let mut t = AvlTree::<ByRef>::new();
    t.insert(&n).unwrap();
    assert_eq!(t.get(&1).map(|n| n.key), Some(1));
    let s = SyncNode {
        key: 2,
        link: Link::new(),
    };
    assert_eq!(s.key, 2);
    assert!(!s.link.is_linked());
}

// Issue 22 item 6: the iterators, cursors and entries print.
#[test]
fn iterators_cursors_and_entries_print() {
    use intrusive_avl::{adapter, AvlTree, Entry, Link};
    #[derive(Debug)]
    struct N {
        key: u32,
        link: Link,
    }
    adapter!(ByKey<'a> = &'a N: N { link } key u32 = |n| n.key);
    let nodes: Vec<N> = (0..3)
        .map(|key| N {
            key,
            link: Link::new(),
        })
        .collect();
    let mut t = AvlTree::<ByKey>::new();
    for n in &nodes {
        t.insert(n).ok().unwrap();
    }
    assert!(format!("{:?}", t.iter()).contains("key: 1"));
    assert!(format!("{:?}", t.front()).starts_with("Cursor"));
    match t.entry(&7) {
        Entry::Vacant(v) => assert!(format!("{v:?}").starts_with("VacantEntry")),
        Entry::Occupied(_) => unreachable!(),
    }
    assert!(format!("{:?}", t.entry(&1)).starts_with("Occupied"));
    assert!(format!("{:?}", t.drain_postorder()).starts_with("Drain"));
}
