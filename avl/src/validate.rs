//! `validate`: every invariant of the tree, checked without recursion.
//!
//! One walk over the tree by child and parent links (a child's parent link
//! is checked before the walk steps into it, so the walk cannot loop), with
//! in-order and postorder visits:
//! - in order: keys non-decreasing, count against `len`, cached ends;
//! - in postorder (children already checked): the balance factor equals the
//!   difference of the children's heights, and the stored summary equals
//!   the recomputed one.
//!
//! A checked subtree's height is read off its balance factors in O(log n),
//! so the whole check costs O(n log n) time and O(1) space.

use crate::adapter::{Adapter, Augment, KeyAdapter};
use crate::glue::value_ref;
use crate::link::{Link, LEFT, RIGHT};
use crate::raw::r;
use crate::tree::AvlTree;
use core::cmp::Ordering;
use core::fmt;
use core::ptr::NonNull;

/// The invariant `validate` found broken. Nodes are named by their 0-based
/// in-order position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ValidateError {
    /// The root's parent word is not "no parent".
    RootHasParent,
    /// A child's parent link does not point back at its parent.
    ParentLink {
        /// In-order position of the parent (counted so far).
        near: usize,
    },
    /// A member's link reads as unlinked.
    MemberUnlinked {
        /// In-order position of the node (counted so far).
        near: usize,
    },
    /// Two nodes out of order.
    Order {
        /// In-order position of the second node.
        at: usize,
    },
    /// A balance factor differs from height(right) − height(left), or is
    /// outside {−1, 0, +1}.
    Balance {
        /// In-order position of the rightmost node of the bad subtree.
        near: usize,
        /// Height difference actually found.
        found: isize,
    },
    /// The stored augmented summary differs from the recomputed one.
    Summary {
        /// In-order position of the rightmost node of the bad subtree.
        near: usize,
    },
    /// The cached first node is not the leftmost.
    CachedFirst,
    /// The cached last node is not the rightmost.
    CachedLast,
    /// `len` differs from the number of nodes.
    Len {
        /// The recorded length.
        recorded: usize,
        /// Nodes actually reached (stops one past `recorded`).
        counted: usize,
    },
}

impl fmt::Display for ValidateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ValidateError::RootHasParent => write!(f, "root has a parent"),
            ValidateError::ParentLink { near } => write!(f, "broken parent link near node {near}"),
            ValidateError::MemberUnlinked { near } => {
                write!(f, "member near node {near} reads as unlinked")
            }
            ValidateError::Order { at } => write!(f, "node {at} is out of order"),
            ValidateError::Balance { near, found } => {
                write!(
                    f,
                    "near node {near}: balance factor wrong (heights differ by {found})"
                )
            }
            ValidateError::Summary { near } => {
                write!(f, "near node {near}: stale augmented summary")
            }
            ValidateError::CachedFirst => write!(f, "cached first is not the leftmost node"),
            ValidateError::CachedLast => write!(f, "cached last is not the rightmost node"),
            ValidateError::Len { recorded, counted } => {
                write!(f, "len is {recorded} but {counted} nodes were reached")
            }
        }
    }
}

/// Height of a subtree whose balance factors were already checked.
///
/// # Safety
/// `n` is a member of the tree being validated (or None).
unsafe fn checked_height(mut n: Option<NonNull<Link>>) -> isize {
    let mut h = 0;
    while let Some(x) = n {
        h += 1;
        // SAFETY: caller contract; children of members are members.
        let l = unsafe { r(x) };
        n = if l.balance() > 0 {
            l.child(RIGHT)
        } else {
            l.child(LEFT)
        };
    }
    h
}

impl<A: Adapter> AvlTree<A> {
    /// Checks every invariant, with `cmp` ordering two nodes (equal nodes may
    /// be adjacent). O(n log n) time, O(1) space.
    pub fn validate_by(
        &self,
        mut cmp: impl FnMut(&A::Value, &A::Value) -> Ordering,
    ) -> Result<(), ValidateError> {
        let raw = &self.raw;
        let Some(root) = raw.root else {
            if raw.len != 0 {
                return Err(ValidateError::Len {
                    recorded: raw.len,
                    counted: 0,
                });
            }
            if raw.first.is_some() {
                return Err(ValidateError::CachedFirst);
            }
            if raw.last.is_some() {
                return Err(ValidateError::CachedLast);
            }
            return Ok(());
        };
        // SAFETY (whole walk): we step only into children whose parent link
        // points back (so every node is reached once) and up along links we
        // came down by; all are members of this tree.
        unsafe {
            if r(root).parent().is_some() {
                return Err(ValidateError::RootHasParent);
            }
            #[derive(PartialEq)]
            enum From {
                Parent,
                Left,
                Right,
            }
            let mut n = root;
            let mut from = From::Parent;
            let mut count = 0usize;
            let mut prev: Option<NonNull<Link>> = None;
            loop {
                let l = r(n);
                match from {
                    From::Parent => {
                        if l.balance_code() == 3 {
                            return Err(ValidateError::MemberUnlinked { near: count });
                        }
                        if l.child(LEFT).is_some() && l.child(LEFT) == l.child(RIGHT) {
                            return Err(ValidateError::ParentLink { near: count });
                        }
                        if let Some(c) = l.child(LEFT) {
                            if r(c).parent() != Some(n) {
                                return Err(ValidateError::ParentLink { near: count });
                            }
                            n = c;
                            continue;
                        }
                        from = From::Left;
                    }
                    From::Left => {
                        if count == raw.len {
                            return Err(ValidateError::Len {
                                recorded: raw.len,
                                counted: count + 1,
                            });
                        }
                        match prev {
                            None if raw.first != Some(n) => return Err(ValidateError::CachedFirst),
                            Some(p)
                                if cmp(value_ref::<A>(p), value_ref::<A>(n))
                                    == Ordering::Greater =>
                            {
                                return Err(ValidateError::Order { at: count });
                            }
                            _ => {}
                        }
                        prev = Some(n);
                        count += 1;
                        if let Some(c) = l.child(RIGHT) {
                            if r(c).parent() != Some(n) {
                                return Err(ValidateError::ParentLink { near: count });
                            }
                            n = c;
                            from = From::Parent;
                            continue;
                        }
                        from = From::Right;
                    }
                    From::Right => {
                        let near = count.saturating_sub(1);
                        let found = checked_height(l.child(RIGHT)) - checked_height(l.child(LEFT));
                        if found != l.balance() as isize {
                            return Err(ValidateError::Balance { near, found });
                        }
                        let v = value_ref::<A>(n);
                        let left = l.child(LEFT).map(|c| value_ref::<A>(c));
                        let right = l.child(RIGHT).map(|c| value_ref::<A>(c));
                        if A::Augment::summarize(v, left, right) != A::Augment::stored(v) {
                            return Err(ValidateError::Summary { near });
                        }
                        let Some(p) = l.parent() else { break };
                        from = if r(p).child(LEFT) == Some(n) {
                            From::Left
                        } else {
                            From::Right
                        };
                        n = p;
                    }
                }
            }
            if count != raw.len {
                return Err(ValidateError::Len {
                    recorded: raw.len,
                    counted: count,
                });
            }
            if raw.last != prev {
                return Err(ValidateError::CachedLast);
            }
        }
        Ok(())
    }
}

impl<A: KeyAdapter> AvlTree<A> {
    /// Checks every invariant: key order (non-decreasing, so multi-key trees
    /// pass), parent links, balance factors against real heights, augmented
    /// summaries, cached ends and `len`. O(n log n) time, O(1) space.
    pub fn validate(&self) -> Result<(), ValidateError> {
        self.validate_by(|a, b| A::key(a).cmp(&A::key(b)))
    }
}

impl core::error::Error for ValidateError {}
