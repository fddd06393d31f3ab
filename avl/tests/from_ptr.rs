//! A member found through a shared reference (`get`, `iter`, a cursor) and
//! removed by pointer (`remove_ptr`, `cursor_mut_from_ptr(..).remove()`):
//! the owner handed back must be the one the tree was given, with its
//! provenance, not one rebuilt from the caller's read-only pointer. With
//! `Box` members the latter is undefined behaviour (Miri: a Unique retag
//! of a SharedReadOnly tag), which these tests caught under Miri before the
//! tree re-derived the node from its own links.
#![cfg(feature = "alloc")]

use intrusive_avl::{adapter, AvlTree, Link};

struct Node {
    key: u64,
    link: Link,
}

adapter!(ByKey = Box<Node>: Node { link } key u64 = |n| n.key);

fn tree(keys: &[u64]) -> AvlTree<ByKey> {
    let mut t = AvlTree::new();
    for &key in keys {
        t.insert(Box::new(Node {
            key,
            link: Link::new(),
        }))
        .ok()
        .unwrap();
    }
    t
}

#[test]
fn remove_ptr_of_a_member_found_by_get_hands_back_its_box() {
    let keys = [5, 3, 8, 1, 4, 7, 9, 2, 6];
    let mut t = tree(&keys);
    // The root, an inner node and a leaf.
    for k in [5, 3, 9, 1] {
        let p: *const Node = t.get(&k).unwrap();
        // SAFETY: `p` points to a member of `t`.
        let b = unsafe { t.remove_ptr(p) };
        assert_eq!(b.key, k);
        assert!(!b.link.is_linked());
        t.validate().unwrap();
    }
    assert_eq!(t.len(), keys.len() - 4);
}

#[test]
fn a_cursor_from_a_pointer_found_by_iter_removes_the_box() {
    let mut t = tree(&[10, 20, 30, 40]);
    let p: *const Node = t.iter().nth(1).unwrap();
    // SAFETY: `p` points to a member of `t`.
    let mut c = unsafe { t.cursor_mut_from_ptr(p) };
    let b = c.remove().unwrap();
    assert_eq!(b.key, 20);
    assert_eq!(c.get().map(|n| n.key), Some(30));
    t.validate().unwrap();
}
