//! Shared test fixture: a node with a key, a value, a subtree-max summary
//! of the value, and one link.
#![allow(dead_code)]

use intrusive_avl::{adapter, Augment, AvlTree, Cursor, Link};
use std::cell::Cell;

#[derive(Debug)]
pub struct Node {
    pub key: u64,
    pub val: Cell<u64>,
    /// Largest `val` in the subtree rooted here (kept by `MaxVal`).
    pub max: Cell<u64>,
    pub link: Link,
}

impl Node {
    pub fn new(key: u64) -> Box<Node> {
        Self::with_val(key, key)
    }
    pub fn with_val(key: u64, val: u64) -> Box<Node> {
        Box::new(Node {
            key,
            val: Cell::new(val),
            max: Cell::new(val),
            link: Link::new(),
        })
    }
}

/// Summary: maximum of `val` over the subtree.
pub struct MaxVal;

impl Augment<Node> for MaxVal {
    type Summary = u64;
    fn summarize(n: &Node, l: Option<&Node>, r: Option<&Node>) -> u64 {
        let mut m = n.val.get();
        for c in [l, r].into_iter().flatten() {
            m = m.max(c.max.get());
        }
        m
    }
    fn stored(n: &Node) -> u64 {
        n.max.get()
    }
    fn store(n: &Node, s: u64) {
        n.max.set(s)
    }
}

adapter!(pub ByKey = Box<Node>: Node { link } key u64 = |n| n.key);
adapter!(pub ByKeyMax = Box<Node>: Node { link } key u64 = |n| n.key, augment MaxVal);
adapter!(pub RefByKey<'a> = &'a Node: Node { link } key u64 = |n| n.key);

pub fn keys<A: intrusive_avl::Adapter<Value = Node>>(t: &AvlTree<A>) -> Vec<u64> {
    t.iter().map(|n| n.key).collect()
}

/// The tree's shape as nested `(left key right)` text.
pub fn shape<A: intrusive_avl::Adapter<Value = Node>>(t: &AvlTree<A>) -> String {
    fn go<A: intrusive_avl::Adapter<Value = Node>>(c: Cursor<'_, A>, out: &mut String) {
        // Only test trees of a handful of nodes use this, so recursion is fine
        // here (the library itself never recurses).
        match c.get() {
            None => out.push('.'),
            Some(n) if c.left().is_null() && c.right().is_null() => {
                out.push_str(&n.key.to_string())
            }
            Some(n) => {
                out.push('(');
                go(c.left(), out);
                out.push_str(&format!(" {} ", n.key));
                go(c.right(), out);
                out.push(')');
            }
        }
    }
    let mut s = String::new();
    go(t.root(), &mut s);
    s
}

/// Lowest-key node with `val >= x`, in O(log n) through the summaries.
pub fn lowest_at_least(t: &AvlTree<ByKeyMax>, x: u64) -> Option<u64> {
    use intrusive_avl::Descend;
    if t.root().get().is_none_or(|r| r.max.get() < x) {
        return None;
    }
    t.descend(|n, l, r| {
        if l.is_some_and(|l| l.max.get() >= x) {
            Descend::Left
        } else if n.val.get() >= x {
            Descend::Here
        } else if r.is_some_and(|r| r.max.get() >= x) {
            Descend::Right
        } else {
            Descend::Stop
        }
    })
    .get()
    .map(|n| n.key)
}
