//! The model executor shared by the proptest suite (`tests/tests/avl_model.rs`) and
//! the fuzz target (`fuzz/fuzz_targets/avl_ops.rs`): applies each operation
//! to the tree and to a sorted `Vec` model (which also pins the position of
//! equal keys), then checks `validate()` and the full contents.

use crate::avl_fixture::*;
use intrusive_avl::{AvlTree, Descend, InsertError, KeyAdapter};

/// One operation on the tree; keys are small so that they collide.
#[derive(Debug, Clone)]
pub enum Op {
    Insert(u64, u64),
    InsertMulti(u64, u64),
    Remove(u64),
    /// Removes the member at this position (mod the length) by pointer,
    /// `remove_ptr` (Linux's `rb_erase`): no search, no successor.
    RemovePtr(usize),
    Find(u64),
    Bounds(u64),
    Range(u64, u64, bool),
    Walk(u64, Vec<bool>),
    InsertBefore(u64, u64),
    InsertAfter(u64, u64),
    Replace(u64, u64),
    SetVal(u64, u64),
    PopFront,
    PopBack,
    IterBoth(usize),
    LowestAtLeast(u64),
    Drain(usize),
    Clear,
}

type Model = Vec<(u64, u64)>;

fn snapshot<A: KeyAdapter<Value = Node>>(t: &AvlTree<A>) -> Model {
    t.iter().map(|n| (n.key, n.val.get())).collect()
}

pub fn run<A>(ops: &[Op], augmented: bool)
where
    A: KeyAdapter<Value = Node, Key = u64, Pointer = Box<Node>>,
{
    let mut t = AvlTree::<A>::new();
    let mut m: Model = Vec::new();
    let pos = |m: &Model, k: u64| m.partition_point(|e| e.0 < k); // lower bound
    let upos = |m: &Model, k: u64| m.partition_point(|e| e.0 <= k); // upper bound
    for op in ops {
        match op.clone() {
            Op::Insert(k, v) => {
                let before = snapshot(&t);
                match t.insert(Node::with_val(k, v)) {
                    Ok(c) => {
                        assert_eq!(c.get().unwrap().key, k);
                        assert!(!m.iter().any(|e| e.0 == k));
                        m.insert(pos(&m, k), (k, v));
                    }
                    Err(InsertError::Duplicate { existing, rejected }) => {
                        assert_eq!(existing.get().unwrap().key, k);
                        assert!(!rejected.link.is_linked());
                        assert!(m.iter().any(|e| e.0 == k));
                        assert_eq!(snapshot(&t), before);
                    }
                    Err(e) => panic!("unexpected {e:?}"),
                }
            }
            Op::InsertMulti(k, v) => {
                t.insert_multi(Node::with_val(k, v)).unwrap();
                m.insert(upos(&m, k), (k, v));
            }
            Op::Remove(k) => {
                let n = m.iter().filter(|e| e.0 == k).count();
                let i = pos(&m, k);
                if n == 1 {
                    assert_eq!(
                        t.remove(&k).map(|b| (b.key, b.val.get())),
                        Some(m.remove(i))
                    );
                } else {
                    let mut c = t.lower_bound_mut(&k);
                    if c.get().is_some_and(|x| x.key == k) {
                        let got = c.remove().unwrap();
                        assert_eq!((got.key, got.val.get()), m.remove(i));
                        assert_eq!(c.get().map(|x| x.key), m.get(i).map(|e| e.0));
                    } else {
                        assert_eq!(n, 0);
                    }
                }
            }
            Op::RemovePtr(i) => {
                if !m.is_empty() {
                    let i = i % m.len();
                    let p: *const Node = t.iter().nth(i).unwrap();
                    // SAFETY: `p` points to a member of `t`.
                    let got = unsafe { t.remove_ptr(p) };
                    assert!(!got.link.is_linked());
                    assert_eq!((got.key, got.val.get()), m.remove(i));
                }
            }
            Op::Find(k) => {
                assert_eq!(
                    t.get(&k).map(|x| x.key),
                    m.iter().find(|e| e.0 == k).map(|e| e.0)
                );
            }
            Op::Bounds(k) => {
                let lb = t.lower_bound(&k).get().map(|x| (x.key, x.val.get()));
                assert_eq!(lb, m.get(pos(&m, k)).copied());
                let ub = t.upper_bound(&k).get().map(|x| (x.key, x.val.get()));
                assert_eq!(ub, m.get(upos(&m, k)).copied());
                let fl = t.floor(&k).get().map(|x| (x.key, x.val.get()));
                assert_eq!(fl, upos(&m, k).checked_sub(1).map(|i| m[i]));
            }
            Op::Range(a, b, incl) => {
                let got: Model = if incl {
                    t.range(a..=b).map(|x| (x.key, x.val.get())).collect()
                } else {
                    t.range(a..b).map(|x| (x.key, x.val.get())).collect()
                };
                let want: Model = m
                    .iter()
                    .copied()
                    .filter(|e| e.0 >= a && (if incl { e.0 <= b } else { e.0 < b }))
                    .collect();
                assert_eq!(got, want);
                let back: Model = if incl {
                    t.range(a..=b).rev().map(|x| (x.key, x.val.get())).collect()
                } else {
                    t.range(a..b).rev().map(|x| (x.key, x.val.get())).collect()
                };
                assert_eq!(back, want.into_iter().rev().collect::<Model>());
            }
            Op::Walk(k, steps) => {
                // Model position: index, or None for the null position.
                let mut c = t.lower_bound(&k);
                let mut at = Some(pos(&m, k)).filter(|&i| i < m.len());
                for fwd in steps {
                    if fwd {
                        c.move_next();
                        at = match at {
                            None => (!m.is_empty()).then_some(0),
                            Some(i) => Some(i + 1).filter(|&j| j < m.len()),
                        };
                    } else {
                        c.move_prev();
                        at = match at {
                            None => m.len().checked_sub(1),
                            Some(i) => i.checked_sub(1),
                        };
                    }
                    assert_eq!(c.get().map(|x| (x.key, x.val.get())), at.map(|i| m[i]));
                }
            }
            Op::InsertBefore(k, v) | Op::InsertAfter(k, v) => {
                let before = matches!(op, Op::InsertBefore(..));
                let i = pos(&m, k);
                let mut c = t.lower_bound_mut(&k);
                // Keep the order: the new key equals the cursor node's key (or
                // is the extreme key at the null position).
                let (key, at) = match (c.get().map(|x| x.key), before) {
                    (Some(ck), true) => (ck, i),
                    (Some(ck), false) => (ck, i + 1),
                    (None, true) => (m.last().map_or(k, |e| e.0.max(k)), m.len()),
                    (None, false) => (m.first().map_or(k, |e| e.0.min(k)), 0),
                };
                let n = Node::with_val(key, v);
                if before {
                    c.insert_before(n).unwrap();
                } else {
                    c.insert_after(n).unwrap();
                }
                m.insert(at, (key, v));
            }
            Op::Replace(k, v) => {
                let i = pos(&m, k);
                let mut c = t.lower_bound_mut(&k);
                match c.get().map(|x| x.key) {
                    Some(ck) => {
                        let old = c.replace_with(Node::with_val(ck, v)).unwrap();
                        assert!(!old.link.is_linked());
                        assert_eq!((old.key, old.val.get()), m[i]);
                        m[i].1 = v;
                    }
                    None => assert!(c.replace_with(Node::with_val(k, v)).is_err()),
                }
            }
            Op::SetVal(k, v) => {
                let i = pos(&m, k);
                let mut c = t.lower_bound_mut(&k);
                if let Some(x) = c.get() {
                    x.val.set(v);
                    c.propagate();
                    m[i].1 = v;
                }
            }
            Op::PopFront => {
                let got = t.pop_front().map(|b| (b.key, b.val.get()));
                assert_eq!(got, (!m.is_empty()).then(|| m.remove(0)));
            }
            Op::PopBack => {
                assert_eq!(t.pop_back().map(|b| (b.key, b.val.get())), m.pop());
            }
            Op::IterBoth(split) => {
                let mut it = t.iter();
                let mut front = Vec::new();
                let mut back = Vec::new();
                for _ in 0..split {
                    match it.next() {
                        Some(x) => front.push((x.key, x.val.get())),
                        None => break,
                    }
                }
                for x in it.rev() {
                    back.push((x.key, x.val.get()));
                }
                back.reverse();
                front.extend(back);
                assert_eq!(front, m);
            }
            Op::LowestAtLeast(x) => {
                if augmented {
                    let root_max = t.root().get().map(|r| r.max.get());
                    let got = if root_max.is_some_and(|mx| mx >= x) {
                        t.descend(|n, l, _right| {
                            if l.is_some_and(|l| l.max.get() >= x) {
                                Descend::Left
                            } else if n.val.get() >= x {
                                Descend::Here
                            } else {
                                Descend::Right
                            }
                        })
                        .get()
                        .map(|n| (n.key, n.val.get()))
                    } else {
                        None
                    };
                    assert_eq!(got, m.iter().copied().find(|e| e.1 >= x));
                }
            }
            Op::Drain(take) => {
                let mut all: Model = Vec::new();
                {
                    let mut d = t.drain_postorder();
                    for _ in 0..take {
                        match d.next() {
                            Some(b) => {
                                assert!(!b.link.is_linked());
                                all.push((b.key, b.val.get()));
                            }
                            None => break,
                        }
                    }
                }
                assert!(all.iter().all(|e| m.contains(e)));
                assert!(t.is_empty());
                m.clear();
            }
            Op::Clear => {
                t.clear();
                m.clear();
            }
        }
        t.validate().unwrap_or_else(|e| panic!("after {op:?}: {e}"));
        assert_eq!(t.len(), m.len());
        assert_eq!(snapshot(&t), m, "after {op:?}");
        assert_eq!(t.first().map(|x| (x.key, x.val.get())), m.first().copied());
        assert_eq!(t.last().map(|x| (x.key, x.val.get())), m.last().copied());
    }
}
