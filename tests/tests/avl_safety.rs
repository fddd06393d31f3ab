//! Refused calls change nothing; ownership is never lost or duplicated.

use cross_tests::avl_fixture::*;
use intrusive_avl::{adapter, AlreadyLinked, AvlTree, InsertError, Link, LinkError, UnsafeRef};
use std::cell::Cell;
use std::ptr::NonNull;
use std::rc::Rc;
use std::sync::Arc;

adapter!(RcByKey = Rc<Node>: Node { link } key u64 = |n| n.key);
adapter!(ArcByKey = Arc<Node>: Node { link } key u64 = |n| n.key);
adapter!(RawByKey = UnsafeRef<Node>: Node { link } key u64 = |n| n.key);

fn plain(k: u64) -> Node {
    Node {
        key: k,
        val: Cell::new(k),
        max: Cell::new(k),
        link: Link::new(),
    }
}

#[test]
fn link_is_three_words_and_starts_unlinked() {
    assert_eq!(
        std::mem::size_of::<Link>(),
        3 * std::mem::size_of::<usize>()
    );
    let l = Link::new();
    assert!(!l.is_linked());
    assert!(!Link::default().is_linked());
}

#[test]
fn linked_node_is_refused_by_another_tree() {
    let nodes: Vec<Node> = (0..5).map(plain).collect();
    let mut a = AvlTree::<RefByKey>::new();
    let mut b = AvlTree::<RefByKey>::new();
    for n in &nodes[..3] {
        a.insert(n).unwrap();
    }
    b.insert(&nodes[4]).unwrap();
    let (sa, sb) = (shape(&a), shape(&b));
    match b.insert(&nodes[1]) {
        Err(InsertError::AlreadyLinked(p)) => assert_eq!(p.key, 1),
        other => panic!("expected AlreadyLinked, got {other:?}"),
    }
    // The same through every other way in.
    assert!(matches!(b.insert_multi(&nodes[1]), Err(AlreadyLinked(_))));
    assert!(matches!(
        b.cursor_mut().insert_after(&nodes[1]),
        Err(AlreadyLinked(_))
    ));
    assert!(matches!(
        b.front_mut().replace_with(&nodes[1]),
        Err(LinkError::AlreadyLinked(_))
    ));
    assert!(matches!(
        b.insert_by(&nodes[1], |x, y| x.key < y.key),
        Err(AlreadyLinked(_))
    ));
    if let intrusive_avl::Entry::Vacant(v) = b.entry(&1) {
        assert!(v.insert(&nodes[1]).is_err());
    }
    // Inserting a member into its own tree is refused too.
    assert!(matches!(
        a.insert(&nodes[0]),
        Err(InsertError::AlreadyLinked(_))
    ));
    assert_eq!((shape(&a), shape(&b)), (sa, sb));
    a.validate().unwrap();
    b.validate().unwrap();
}

#[test]
fn replace_at_null_is_refused() {
    let mut t = AvlTree::<ByKey>::new();
    t.insert(Node::new(1)).unwrap();
    let mut c = t.cursor_mut();
    match c.replace_with(Node::new(2)) {
        Err(LinkError::NoCurrent(p)) => assert!(!p.link.is_linked()),
        other => panic!("expected NoCurrent, got {:?}", other.map(|_| ())),
    }
    assert_eq!(keys(&t), [1]);
    t.validate().unwrap();
}

#[test]
fn dropping_the_tree_unlinks_borrowed_nodes() {
    let nodes: Vec<Node> = (0..10).map(plain).collect();
    {
        let mut t = AvlTree::<RefByKey>::new();
        for n in &nodes {
            t.insert(n).unwrap();
        }
        assert!(nodes.iter().all(|n| n.link.is_linked()));
    }
    assert!(nodes.iter().all(|n| !n.link.is_linked()));
    // Reusable in a new tree.
    let mut t = AvlTree::<RefByKey>::new();
    for n in &nodes {
        t.insert(n).unwrap();
    }
    t.validate().unwrap();
}

#[test]
fn rc_and_arc_counts_balance() {
    let nodes: Vec<Rc<Node>> = (0..8).map(|k| Rc::new(plain(k))).collect();
    let mut t = AvlTree::<RcByKey>::new();
    for n in &nodes {
        t.insert(n.clone()).unwrap();
    }
    assert!(nodes.iter().all(|n| Rc::strong_count(n) == 2));
    // A refused duplicate gives its count back.
    let dup = Rc::new(plain(3));
    let back = t.insert(dup.clone()).unwrap_err().into_rejected();
    assert_eq!(Rc::strong_count(&dup), 2);
    drop(back);
    assert_eq!(Rc::strong_count(&dup), 1);
    let removed = t.remove(&4).unwrap();
    assert!(Rc::ptr_eq(&removed, &nodes[4]));
    drop(removed);
    assert_eq!(Rc::strong_count(&nodes[4]), 1);
    drop(t);
    assert!(nodes
        .iter()
        .all(|n| Rc::strong_count(n) == 1 && !n.link.is_linked()));

    // `Link` is not `Sync` (the tree rewrites it through `Cell`s), so an
    // `Arc` of a linked node is a single-threaded shared owner here.
    #[allow(clippy::arc_with_non_send_sync)]
    let a: Vec<Arc<Node>> = (0..4).map(|k| Arc::new(plain(k))).collect();
    let mut t = AvlTree::<ArcByKey>::new();
    for n in &a {
        t.insert(n.clone()).unwrap();
    }
    t.clear();
    assert!(a
        .iter()
        .all(|n| Arc::strong_count(n) == 1 && !n.link.is_linked()));
}

#[test]
fn unsafe_ref_nodes_in_caller_memory() {
    // A caller-managed pool: the tree never frees it.
    let pool: Box<[Node]> = (0..16).map(plain).collect();
    let mut t = AvlTree::<RawByKey>::new();
    for n in pool.iter().rev() {
        // SAFETY: `pool` outlives `t` and is not mutated while linked.
        t.insert(unsafe { UnsafeRef::from_raw(NonNull::from(n)) })
            .unwrap();
    }
    t.validate().unwrap();
    // Remove a node we hold, in O(1) to find it.
    // SAFETY: pool[7] is linked in `t`.
    let got = unsafe { t.cursor_mut_from_ptr(&pool[7]) }.remove().unwrap();
    assert_eq!(UnsafeRef::as_ptr(&got), NonNull::from(&pool[7]));
    assert_eq!(t.len(), 15);
    t.validate().unwrap();
    drop(t);
    assert!(pool.iter().all(|n| !n.link.is_linked()));
}

#[test]
fn forgotten_drain_leaks_but_stays_sound() {
    let nodes: Vec<Node> = (0..6).map(plain).collect();
    let mut t = AvlTree::<RefByKey>::new();
    for n in &nodes {
        t.insert(n).unwrap();
    }
    let mut d = t.drain_postorder();
    d.next();
    std::mem::forget(d);
    assert!(t.is_empty());
    t.validate().unwrap();
    // Nodes the drain never released still read as linked: refused, not reused.
    let refused = nodes.iter().filter(|n| n.link.is_linked()).count();
    assert_eq!(refused, 5);
    for n in &nodes {
        let _ = t.insert(n);
    }
    assert_eq!(t.len(), 1);
    t.validate().unwrap();
}

#[test]
fn tree_is_send_with_send_pointers() {
    fn is_send<T: Send>() {}
    is_send::<AvlTree<ByKey>>();
    // A tree of `UnsafeRef<Node>` is not `Send`: `Node` is not `Sync`, and
    // an `UnsafeRef` is a copyable `&Node` (see tests/auto_traits.rs).
}

/// A comparator or key that panics while the tree holds the new node's raw
/// pointer: the owner is dropped during the unwind (not leaked) and the tree
/// is unchanged. Before the fix the `Rc` kept a second strong count forever.
#[test]
fn panicking_comparator_leaks_nothing() {
    use std::panic::{catch_unwind, AssertUnwindSafe};
    let mut t = AvlTree::<RcByKey>::new();
    for k in [10, 20, 30] {
        t.insert(Rc::new(plain(k))).unwrap();
    }
    let before = shape(&t);
    let n = Rc::new(plain(15));
    let r = catch_unwind(AssertUnwindSafe(|| {
        let _ = t.insert_by(n.clone(), |_, _| panic!("comparator"));
    }));
    assert!(r.is_err());
    assert_eq!(Rc::strong_count(&n), 1, "insert_by leaked the node");
    assert!(!n.link.is_linked());
    assert_eq!(shape(&t), before);
    t.validate().unwrap();

    // `insert_multi` and `insert` compare through the key's `Ord`.
    #[derive(PartialEq, Eq)]
    struct Boom(u64);
    impl PartialOrd for Boom {
        fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
            Some(self.cmp(o))
        }
    }
    impl Ord for Boom {
        fn cmp(&self, o: &Self) -> std::cmp::Ordering {
            assert!(self.0 != 99 && o.0 != 99, "Ord panicked");
            self.0.cmp(&o.0)
        }
    }
    adapter!(RcBoom = Rc<Node>: Node { link } key Boom = |n| Boom(n.key));
    let mut t = AvlTree::<RcBoom>::new();
    for k in [10, 20, 30] {
        t.insert(Rc::new(plain(k))).unwrap();
    }
    let n = Rc::new(plain(99));
    let r = catch_unwind(AssertUnwindSafe(|| {
        let _ = t.insert_multi(n.clone());
    }));
    assert!(r.is_err());
    assert_eq!(Rc::strong_count(&n), 1, "insert_multi leaked the node");
    let r = catch_unwind(AssertUnwindSafe(|| {
        let _ = t.insert(n.clone());
    }));
    assert!(r.is_err());
    assert_eq!(Rc::strong_count(&n), 1, "insert leaked the node");
    assert_eq!(t.len(), 3);
    t.validate().unwrap();
}
