//! An intrusive AVL tree for kernels: `no_std`, no allocation, no recursion.
//!
//! Each node embeds a three-word [`Link`] (left, right, and the parent with
//! the balance factor in its low bits). The tree never allocates: it links
//! the nodes you give it, through an owning pointer type of your choice —
//! `&'a T`, [`UnsafeRef<T>`] for memory you manage yourself, or with the
//! `alloc` feature `Box<T>`, `Rc<T>` and `Arc<T>`.
//!
//! - O(log n) insert, remove, find, `lower_bound` (≥), `upper_bound` (>),
//!   `floor` (≤); O(1) `first`/`last`/`len`; O(1) amortised `next`/`prev`.
//! - Cursors that remove, replace, and insert beside a node with no key
//!   search; double-ended and range iterators; an O(n) postorder teardown.
//! - [`Augment`]: per-subtree summaries kept up to date through rotations,
//!   for searches such as "lowest gap of at least x" in O(log n).
//! - [`AvlTree::validate`] checks every invariant and names the broken one.
//!
//! # Example
//! ```
//! use intrusive_avl::{adapter, AvlTree, Link};
//!
//! struct Area {
//!     start: u64,
//!     size: u64,
//!     link: Link,
//! }
//!
//! adapter!(ByStart<'a> = &'a Area: Area { link } key u64 = |a| a.start);
//!
//! let areas: Vec<Area> = (0..5)
//!     .map(|i| Area { start: i * 0x1000, size: 0x1000, link: Link::new() })
//!     .collect();
//! let mut tree = AvlTree::<ByStart>::new();
//! for a in &areas {
//!     tree.insert(a).unwrap();
//! }
//! assert_eq!(tree.len(), 5);
//! assert!(areas[2].link.is_linked());
//!
//! // Find, and the greatest start ≤ an address.
//! assert_eq!(tree.get(&0x2000).unwrap().size, 0x1000);
//! assert_eq!(tree.floor(&0x2fff).get().unwrap().start, 0x2000);
//!
//! // Iterate in order, both ways.
//! let starts: Vec<u64> = tree.iter().map(|a| a.start).collect();
//! assert_eq!(starts, [0, 0x1000, 0x2000, 0x3000, 0x4000]);
//! assert_eq!(tree.iter().next_back().unwrap().start, 0x4000);
//!
//! // Remove a node we hold, without comparing keys.
//! // SAFETY: areas[3] is linked in `tree`.
//! let removed = unsafe { tree.cursor_mut_from_ptr(&areas[3]) }.remove().unwrap();
//! assert_eq!(removed.start, 0x3000);
//! assert!(!areas[3].link.is_linked());
//! tree.validate().unwrap();
//! ```
//!
//! # One node in two trees
//! A node with two links can be in two trees at once, each keyed its own
//! way — as Linux keeps a `vmap_area` in the busy tree by address and its
//! free twin in a tree by size:
//! ```
//! use intrusive_avl::{adapter, AvlTree, Link};
//!
//! struct Task {
//!     pid: u32,
//!     deadline: u64,
//!     by_pid: Link,
//!     by_deadline: Link,
//! }
//!
//! adapter!(ByPid<'a> = &'a Task: Task { by_pid } key u32 = |t| t.pid);
//! adapter!(ByDeadline<'a> = &'a Task: Task { by_deadline } key u64 = |t| t.deadline);
//!
//! let tasks = [(7, 300), (3, 100), (9, 200)].map(|(pid, deadline)| Task {
//!     pid,
//!     deadline,
//!     by_pid: Link::new(),
//!     by_deadline: Link::new(),
//! });
//! let mut pids = AvlTree::<ByPid>::new();
//! let mut queue = AvlTree::<ByDeadline>::new();
//! for t in &tasks {
//!     pids.insert(t).unwrap();
//!     queue.insert(t).unwrap();
//! }
//! assert_eq!(queue.first().unwrap().pid, 3); // earliest deadline
//! assert_eq!(pids.get(&9).unwrap().deadline, 200);
//! // Leaving one tree does not touch the other link.
//! let next = queue.pop_front().unwrap();
//! assert!(!next.by_deadline.is_linked() && next.by_pid.is_linked());
//! ```
//!
//! # Safety model
//! The safe API cannot cause undefined behaviour: a node already linked
//! (here or elsewhere) is refused with its pointer given back; the tree
//! owns or borrows every member, so a member cannot be dropped or moved
//! while linked; dropping the tree unlinks and releases every member. A
//! comparator or key that breaks its total order only misorders the tree
//! (which `validate` reports). [`Augment`] callbacks must not panic: if one
//! does mid-rebalance, the process aborts rather than unwind through a
//! half-balanced tree. The `unsafe` entry points are [`UnsafeRef::from_raw`]
//! and [`AvlTree::cursor_from_ptr`]/[`AvlTree::cursor_mut_from_ptr`], each
//! with its contract.
#![no_std]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(missing_docs, unsafe_op_in_unsafe_fn)]

#[cfg(any(feature = "alloc", test))]
extern crate alloc;

mod adapter;
mod cursor;
mod error;
mod glue;
mod head;
mod insert_error;
mod iter;
mod link;
mod pointer;
mod raw;
mod tree;
mod validate;

pub use adapter::{Adapter, Augment, KeyAdapter, NoAugment};
pub use cursor::{Cursor, CursorMut};
pub use error::{AlreadyLinked, LinkError};
pub use insert_error::InsertError;
pub use iter::{Drain, IntoIter, Iter};
pub use link::Link;
pub use pointer::{PointerOps, UnsafeRef};
pub use tree::{AvlTree, Descend, Entry, VacantEntry};
pub use validate::ValidateError;

/// The crate README's example, compiled and run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
