//! Unit tests: every operation and every rotation case, `validate()` after
//! each step.

use cross_tests::avl_fixture::*;
use intrusive_avl::{AvlTree, Entry, InsertError};

fn tree_of(keys: &[u64]) -> AvlTree<ByKey> {
    let mut t = AvlTree::new();
    for &k in keys {
        t.insert(Node::new(k)).unwrap();
        t.validate().unwrap();
    }
    t
}

fn erase(t: &mut AvlTree<ByKey>, k: u64) {
    assert_eq!(t.remove(&k).unwrap().key, k);
    t.validate().unwrap();
}

#[test]
fn insert_rotations() {
    assert_eq!(shape(&tree_of(&[1, 2, 3])), "(1 2 3)"); // RR
    assert_eq!(shape(&tree_of(&[3, 2, 1])), "(1 2 3)"); // LL
    assert_eq!(shape(&tree_of(&[3, 1, 2])), "(1 2 3)"); // LR
    assert_eq!(shape(&tree_of(&[1, 3, 2])), "(1 2 3)"); // RL
                                                        // Double rotations whose rising grandchild leans either way.
    assert_eq!(shape(&tree_of(&[5, 2, 8, 1, 4, 3])), "((1 2 3) 4 (. 5 8))");
    assert_eq!(shape(&tree_of(&[5, 2, 8, 1, 3, 4])), "((1 2 .) 3 (4 5 8))");
    assert_eq!(shape(&tree_of(&[2, 1, 5, 3, 8, 4])), "((1 2 .) 3 (4 5 8))");
    assert_eq!(shape(&tree_of(&[2, 1, 5, 4, 8, 3])), "((1 2 3) 4 (. 5 8))");
}

#[test]
fn erase_rotations() {
    let mut t = tree_of(&[2, 1, 4, 3, 5]);
    assert_eq!(shape(&t), "(1 2 (3 4 5))");
    erase(&mut t, 1); // RR with a balanced sibling: height unchanged
    assert_eq!(shape(&t), "((. 2 3) 4 5)");

    let mut t = tree_of(&[2, 1, 3, 4]);
    erase(&mut t, 1); // RR
    assert_eq!(shape(&t), "(2 3 4)");

    let mut t = tree_of(&[3, 4, 2, 1]);
    erase(&mut t, 4); // LL
    assert_eq!(shape(&t), "(1 2 3)");

    let mut t = tree_of(&[3, 4, 1, 2]);
    erase(&mut t, 4); // LR
    assert_eq!(shape(&t), "(1 2 3)");

    let mut t = tree_of(&[2, 1, 4, 3]);
    erase(&mut t, 1); // RL
    assert_eq!(shape(&t), "(2 3 4)");

    let mut t = tree_of(&[3, 2, 4, 1]);
    erase(&mut t, 4); // LL with the rotation cascading to the root
    assert_eq!(shape(&t), "(1 2 3)");
}

#[test]
fn erase_two_children_and_root() {
    let mut t = tree_of(&[1, 2, 3]);
    erase(&mut t, 2); // successor is the right child
    assert_eq!(shape(&t), "(1 3 .)");

    let mut t = tree_of(&[4, 2, 6, 1, 3, 5, 7]);
    erase(&mut t, 4); // successor deeper in the right subtree
    assert_eq!(shape(&t), "((1 2 3) 5 (. 6 7))");
    erase(&mut t, 5);
    assert_eq!(shape(&t), "((1 2 3) 6 7)");

    // Down to empty, always removing the root.
    let mut t = tree_of(&(1..=20).collect::<Vec<_>>());
    while let Some(k) = t.root().get().map(|n| n.key) {
        erase(&mut t, k);
    }
    assert!(t.is_empty());
    assert_eq!(t.len(), 0);
    assert!(t.first().is_none() && t.last().is_none());
}

#[test]
fn long_cascades_stay_balanced() {
    // Sequential inserts and removals from both ends drive every retrace path.
    // Under Miri a smaller tree: every step is validated in O(n log n).
    let n = if cfg!(miri) { 100 } else { 1000 };
    let mut t = tree_of(&(0..n).collect::<Vec<_>>());
    // A perfectly filled prefix: sequential inserts give the minimum height.
    assert_eq!(t.height(), (n as f64 + 1.0).log2().ceil() as usize);
    for k in (0..n).step_by(3) {
        erase(&mut t, k);
    }
    while t.len() > 10 {
        t.pop_front().unwrap();
        t.pop_back().unwrap();
        t.validate().unwrap();
    }
}

#[test]
fn ends_len_and_neighbours() {
    let t = tree_of(&[50, 20, 80, 10, 30]);
    assert_eq!(t.len(), 5);
    assert_eq!(t.first().unwrap().key, 10);
    assert_eq!(t.last().unwrap().key, 80);
    let mut c = t.find(&30);
    assert_eq!(c.peek_next().unwrap().key, 50);
    assert_eq!(c.peek_prev().unwrap().key, 20);
    c.move_next();
    c.move_next();
    assert_eq!(c.get().unwrap().key, 80);
    c.move_next();
    assert!(c.is_null());
    c.move_next(); // from null to first
    assert_eq!(c.get().unwrap().key, 10);
    c.move_prev();
    assert!(c.is_null());
    c.move_prev(); // from null to last
    assert_eq!(c.get().unwrap().key, 80);
    assert_eq!(t.back().get().unwrap().key, 80);
    assert_eq!(t.front().get().unwrap().key, 10);
}

#[test]
fn searches() {
    let t = tree_of(&[10, 20, 30, 40]);
    let key = |c: intrusive_avl::Cursor<'_, ByKey>| c.get().map(|n| n.key);
    assert_eq!(t.get(&20).unwrap().key, 20);
    assert!(t.get(&25).is_none());
    assert!(t.find(&25).is_null());
    assert_eq!(key(t.lower_bound(&20)), Some(20));
    assert_eq!(key(t.lower_bound(&21)), Some(30));
    assert_eq!(key(t.lower_bound(&41)), None);
    assert_eq!(key(t.upper_bound(&20)), Some(30));
    assert_eq!(key(t.upper_bound(&9)), Some(10));
    assert_eq!(key(t.upper_bound(&40)), None);
    assert_eq!(key(t.floor(&20)), Some(20));
    assert_eq!(key(t.floor(&29)), Some(20));
    assert_eq!(key(t.floor(&9)), None);
    assert_eq!(key(t.floor(&1000)), Some(40));
    assert_eq!(key(t.find_by(|n| n.key.cmp(&30))), Some(30));
}

#[test]
fn ranges_and_iterators() {
    let t = tree_of(&[1, 3, 5, 7, 9]);
    let r = |it: intrusive_avl::Iter<'_, ByKey>| it.map(|n| n.key).collect::<Vec<_>>();
    assert_eq!(r(t.range(3..=7)), [3, 5, 7]);
    assert_eq!(r(t.range(3..7)), [3, 5]);
    assert_eq!(r(t.range(2..)), [3, 5, 7, 9]);
    assert_eq!(r(t.range(..4)), [1, 3]);
    assert_eq!(r(t.range(..)), [1, 3, 5, 7, 9]);
    assert_eq!(r(t.range(4..5)), Vec::<u64>::new());
    assert_eq!(r(t.range(6..6)), Vec::<u64>::new());
    #[allow(clippy::reversed_empty_ranges)]
    let inverted = t.range(8..2);
    assert_eq!(r(inverted), Vec::<u64>::new()); // inverted: empty, no panic
    assert_eq!(
        t.range(1..=9).rev().map(|n| n.key).collect::<Vec<_>>(),
        [9, 7, 5, 3, 1]
    );
    // Meeting in the middle from both ends yields every node once.
    let mut it = t.iter();
    assert_eq!(it.next().unwrap().key, 1);
    assert_eq!(it.next_back().unwrap().key, 9);
    assert_eq!(it.next().unwrap().key, 3);
    assert_eq!(it.next_back().unwrap().key, 7);
    assert_eq!(it.next().unwrap().key, 5);
    assert!(it.next().is_none() && it.next_back().is_none());
    assert_eq!((&t).into_iter().count(), 5);
}

#[test]
fn owning_iterators() {
    let t = tree_of(&[1, 2, 3, 4, 5]);
    let mut it = t.into_iter();
    assert_eq!(it.len(), 5);
    assert_eq!(it.next().unwrap().key, 1);
    assert_eq!(it.next_back().unwrap().key, 5);
    let rest: Vec<u64> = it.map(|n| n.key).collect();
    assert_eq!(rest, [2, 3, 4]);

    let mut t = tree_of(&[4, 2, 6, 1, 3, 5, 7]);
    let post: Vec<u64> = t.drain_postorder().map(|n| n.key).collect();
    assert_eq!(post, [1, 3, 2, 5, 7, 6, 4]);
    assert!(t.is_empty());
    t.validate().unwrap();

    // A drain dropped half way releases the rest; the tree is already empty.
    let mut t = tree_of(&[4, 2, 6, 1, 3, 5, 7]);
    let mut d = t.drain_postorder();
    let first = d.next().unwrap();
    assert!(!first.link.is_linked());
    drop(d);
    assert!(t.is_empty());
    t.insert(first).unwrap(); // drained nodes are reusable
    t.validate().unwrap();
}

#[test]
fn cursor_insert_beside_and_remove() {
    let mut t = tree_of(&[10, 20, 30]);
    let mut c = t.find_mut(&20);
    c.insert_before(Node::new(15)).unwrap();
    c.insert_after(Node::new(25)).unwrap();
    assert_eq!(c.get().unwrap().key, 20);
    t.validate().unwrap();
    assert_eq!(keys(&t), [10, 15, 20, 25, 30]);

    // At the null position: insert_after = new first, insert_before = new last.
    let mut c = t.cursor_mut();
    c.insert_after(Node::new(5)).unwrap();
    c.insert_before(Node::new(35)).unwrap();
    t.validate().unwrap();
    assert_eq!(keys(&t), [5, 10, 15, 20, 25, 30, 35]);

    // Insert beside a node that has a child on that side.
    let mut c = t.find_mut(&20);
    c.insert_before(Node::new(17)).unwrap();
    c.insert_after(Node::new(22)).unwrap();
    t.validate().unwrap();
    assert_eq!(keys(&t), [5, 10, 15, 17, 20, 22, 25, 30, 35]);

    // Remove moves to the next node; at the end to null.
    let mut c = t.find_mut(&30);
    assert_eq!(c.remove().unwrap().key, 30);
    assert_eq!(c.get().unwrap().key, 35);
    assert_eq!(c.remove().unwrap().key, 35);
    assert!(c.is_null());
    assert!(c.remove().is_none());
    t.validate().unwrap();
    assert_eq!(t.last().unwrap().key, 25);

    // Into an empty tree through a null cursor.
    let mut e = AvlTree::<ByKey>::new();
    e.cursor_mut().insert_before(Node::new(1)).unwrap();
    e.validate().unwrap();
    assert_eq!(keys(&e), [1]);
}

#[test]
fn replace_in_place() {
    let mut t = tree_of(&[1, 2, 3, 4, 5]);
    let before = shape(&t);
    let mut c = t.find_mut(&3);
    let old = c.replace_with(Node::with_val(3, 99)).unwrap();
    assert!(!old.link.is_linked());
    assert_eq!(c.get().unwrap().val.get(), 99);
    assert_eq!(shape(&t), before);
    t.validate().unwrap();
    // The ends too.
    t.front_mut().replace_with(Node::new(1)).unwrap();
    t.back_mut().replace_with(Node::new(5)).unwrap();
    t.validate().unwrap();
}

#[test]
fn entries_and_duplicates() {
    let mut t = tree_of(&[1, 3]);
    match t.entry(&2) {
        Entry::Vacant(v) => {
            v.insert(Node::new(2)).unwrap();
        }
        Entry::Occupied(_) => panic!("2 is absent"),
    }
    match t.entry(&3) {
        Entry::Occupied(c) => assert_eq!(c.get().unwrap().key, 3),
        Entry::Vacant(_) => panic!("3 is present"),
    }
    t.validate().unwrap();
    assert_eq!(keys(&t), [1, 2, 3]);

    let before = shape(&t);
    match t.insert(Node::with_val(2, 7)) {
        Err(InsertError::Duplicate { existing, rejected }) => {
            assert_eq!(existing.get().unwrap().val.get(), 2);
            assert_eq!(rejected.val.get(), 7);
            assert!(!rejected.link.is_linked());
        }
        other => panic!("expected a duplicate, got {other:?}"),
    }
    assert_eq!(shape(&t), before);
    t.validate().unwrap();

    // Multi-key: equal keys keep insertion order.
    for v in [100, 101, 102] {
        t.insert_multi(Node::with_val(2, v)).unwrap();
        t.validate().unwrap();
    }
    let twos: Vec<u64> = t.range(2..=2).map(|n| n.val.get()).collect();
    assert_eq!(twos, [2, 100, 101, 102]);
    assert_eq!(t.lower_bound(&2).get().unwrap().val.get(), 2);
    assert_eq!(t.floor(&2).get().unwrap().val.get(), 102);
}

#[test]
fn augmented_max_and_lowest_fit() {
    let mut t = AvlTree::<ByKeyMax>::new();
    let vals = [5u64, 1, 9, 3, 7, 2, 8, 6, 4, 0];
    for (k, &v) in vals.iter().enumerate() {
        t.insert(Node::with_val(k as u64, v)).unwrap();
        t.validate().unwrap();
    }
    assert_eq!(t.root().get().unwrap().max.get(), 9);
    assert_eq!(lowest_at_least(&t, 9), Some(2));
    assert_eq!(lowest_at_least(&t, 6), Some(2));
    assert_eq!(lowest_at_least(&t, 5), Some(0));
    assert_eq!(lowest_at_least(&t, 10), None);

    t.remove(&2).unwrap();
    t.validate().unwrap();
    assert_eq!(t.root().get().unwrap().max.get(), 8);
    assert_eq!(lowest_at_least(&t, 8), Some(6));

    // In-place edit, then propagate.
    let mut c = t.find_mut(&9);
    c.get().unwrap().val.set(50);
    assert!(c.as_cursor().get().is_some());
    c.propagate();
    t.validate().unwrap();
    assert_eq!(t.root().get().unwrap().max.get(), 50);
    assert_eq!(lowest_at_least(&t, 10), Some(9));

    // A stale summary is caught by validate.
    t.find(&9).get().unwrap().val.set(60);
    assert!(matches!(
        t.validate(),
        Err(intrusive_avl::ValidateError::Summary { .. })
    ));
    let mut c = t.find_mut(&9);
    c.propagate();
    t.validate().unwrap();

    // Replace and cursor inserts keep summaries right.
    let mut c = t.find_mut(&4);
    c.replace_with(Node::with_val(4, 70)).unwrap();
    c.insert_after(Node::with_val(4, 80)).unwrap(); // equal key beside: allowed
    t.validate().unwrap();
    assert_eq!(t.root().get().unwrap().max.get(), 80);
    while t.pop_front().is_some() {
        t.validate().unwrap();
    }
}

#[test]
fn validate_reports_broken_order() {
    // Misplacing a node through a cursor breaks only the order; validate says so.
    let mut t = tree_of(&[10, 20, 30]);
    t.find_mut(&10).insert_before(Node::new(99)).unwrap();
    assert!(matches!(
        t.validate(),
        Err(intrusive_avl::ValidateError::Order { at: 1 })
    ));
}
