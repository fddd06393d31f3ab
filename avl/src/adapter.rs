//! How a tree finds the link inside a node, the node's key, and its summary.

use crate::link::Link;
use crate::pointer::PointerOps;
use core::ptr::NonNull;

/// Ties a node type, its owning pointer type and its embedded [`Link`]
/// together (`container_of` in both directions). Usually written with
/// [`adapter!`](crate::adapter).
///
/// # Safety
/// Implementers promise that `link` returns a pointer to a `Link` field
/// inside `*value`, computed by pointer arithmetic alone (no reference to
/// the value is created), that `value` is its exact inverse, and that both
/// preserve the provenance of their argument.
pub unsafe trait Adapter {
    /// The node type.
    type Value;
    /// The owning pointer the tree keeps for each member.
    type Pointer: PointerOps<Target = Self::Value>;
    /// The per-subtree summary kept in each node ([`NoAugment`] for none).
    type Augment: Augment<Self::Value>;

    /// The link embedded in `value`.
    fn link(value: NonNull<Self::Value>) -> NonNull<Link>;

    /// The node embedding `link` (`container_of`).
    ///
    /// # Safety
    /// `link` must have been obtained from [`Adapter::link`].
    unsafe fn value(link: NonNull<Link>) -> NonNull<Self::Value>;
}

/// Gives each node a key; enables the key-based API (`insert`, `find`,
/// `lower_bound`, `range`, `validate`, ...).
///
/// The key is returned by value: kernel keys are addresses, sizes and ids.
/// For borrowed or composite keys, use the `_by` methods, which take a
/// comparator and never need a key value.
pub trait KeyAdapter: Adapter {
    /// The key type. Its `Ord` must be a total order that does not change
    /// while the node is linked; if it does, the tree stays memory-safe but
    /// searches may miss, and `validate` reports the broken order.
    type Key: Ord;

    /// The key of `value`.
    fn key(value: &Self::Value) -> Self::Key;
}

/// Keeps a summary of each subtree in its root node, as Linux's
/// `rbtree_augmented.h` does (for example the largest free size below a
/// node, to find a fitting gap in O(log n)).
///
/// The tree calls [`summarize`](Augment::summarize) bottom-up on every node
/// whose subtree changed: along the insert and erase paths, for both nodes of
/// each rotation, and for a replaced node; it stops climbing as soon as a
/// recomputed summary equals the stored one (`Summary: PartialEq`), because
/// nothing above can change then. After editing a node's summarized fields in
/// place, call [`CursorMut::propagate`](crate::CursorMut::propagate).
///
/// Contract: the summary must be a pure function of the node's own fields
/// and its children's *stored* summaries. The callbacks must not panic: a
/// panic in the middle of a rebalance would leave balance factors half
/// updated, so the tree aborts the process instead of unwinding through it.
///
/// # Example: largest gap below each node, and the lowest fitting gap
/// ```
/// use intrusive_avl::{adapter, Augment, AvlTree, Descend, Link};
/// use std::cell::Cell;
///
/// pub struct Gap {
///     start: u64,
///     len: u64,
///     max_len: Cell<u64>, // largest `len` in the subtree rooted here
///     link: Link,
/// }
///
/// pub struct MaxLen;
/// impl Augment<Gap> for MaxLen {
///     type Summary = u64;
///     fn summarize(n: &Gap, l: Option<&Gap>, r: Option<&Gap>) -> u64 {
///         let kids = l.into_iter().chain(r).map(|c| c.max_len.get());
///         kids.fold(n.len, u64::max)
///     }
///     fn stored(n: &Gap) -> u64 { n.max_len.get() }
///     fn store(n: &Gap, s: u64) { n.max_len.set(s) }
/// }
///
/// adapter!(ByStart<'a> = &'a Gap: Gap { link } key u64 = |g| g.start, augment MaxLen);
///
/// let gaps: Vec<Gap> = [(0, 4), (10, 1), (20, 9), (40, 2), (50, 9)]
///     .iter()
///     .map(|&(start, len)| Gap { start, len, max_len: Cell::new(len), link: Link::new() })
///     .collect();
/// let mut tree = AvlTree::<ByStart>::new();
/// for g in &gaps {
///     tree.insert(g).unwrap();
/// }
///
/// // Lowest-address gap of at least `want`, in one O(log n) descent.
/// let lowest_fit = |tree: &AvlTree<ByStart>, want: u64| {
///     tree.descend(|n, l, r| {
///         if l.is_some_and(|l| l.max_len.get() >= want) {
///             Descend::Left
///         } else if n.len >= want {
///             Descend::Here
///         } else if r.is_some_and(|r| r.max_len.get() >= want) {
///             Descend::Right
///         } else {
///             Descend::Stop
///         }
///     })
///     .get()
///     .map(|g| g.start)
/// };
/// assert_eq!(lowest_fit(&tree, 5), Some(20));
/// tree.remove(&20);
/// assert_eq!(lowest_fit(&tree, 5), Some(50));
/// assert_eq!(lowest_fit(&tree, 10), None);
/// tree.validate().unwrap(); // also checks every stored summary
/// ```
pub trait Augment<T> {
    /// Whether the tree must maintain summaries at all (`false` only for
    /// [`NoAugment`], so plain trees pay nothing).
    const ENABLED: bool = true;

    /// The summary type, stored by the node (usually in a `Cell`).
    type Summary: PartialEq;

    /// Summary of the subtree rooted at `node`, from `node` itself and the
    /// stored summaries of its children.
    fn summarize(node: &T, left: Option<&T>, right: Option<&T>) -> Self::Summary;

    /// The summary currently stored in `node`.
    fn stored(node: &T) -> Self::Summary;

    /// Stores `summary` in `node`.
    fn store(node: &T, summary: Self::Summary);
}

/// No augmentation: the tree keeps no summaries.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoAugment;

impl<T> Augment<T> for NoAugment {
    const ENABLED: bool = false;
    type Summary = ();
    #[inline]
    fn summarize(_: &T, _: Option<&T>, _: Option<&T>) {}
    #[inline]
    fn stored(_: &T) {}
    #[inline]
    fn store(_: &T, _: ()) {}
}

/// Declares an [`Adapter`] (and optionally a [`KeyAdapter`]) for a struct
/// with an embedded [`Link`].
///
/// ```
/// use intrusive_avl::{adapter, Link};
///
/// pub struct Area { start: u64, link: Link }
///
/// // A tree of `&'a Area` keyed by `start`.
/// adapter!(pub ByStart<'a> = &'a Area: Area { link } key u64 = |a| a.start);
/// ```
///
/// Forms (`vis` and lifetimes optional; `key` and `augment` optional):
/// - `adapter!(Name = Ptr: Node { field });`
/// - `adapter!(Name = Ptr: Node { field } key K = |n| expr);`
/// - `adapter!(Name = Ptr: Node { field } key K = |n| expr, augment A);`
/// - `adapter!(Name = Ptr: Node { field } augment A);`
///
/// The field may be a nested path (`{ hdr.link }`) through structs held by
/// value:
///
/// ```
/// use intrusive_avl::{adapter, AvlTree, Link};
///
/// pub struct Header { link: Link }
/// pub struct Task { id: u32, hdr: Header }
/// adapter!(ById<'a> = &'a Task: Task { hdr.link } key u32 = |t| t.id);
///
/// let t = Task { id: 7, hdr: Header { link: Link::new() } };
/// let mut tree = AvlTree::<ById>::new();
/// tree.insert(&t).unwrap();
/// assert_eq!(tree.get(&7).unwrap().id, 7);
/// ```
///
/// # What the macro checks
/// The generated `unsafe impl Adapter` is sound because the macro refuses,
/// at compile time, every field it could not be sound for:
/// - the field must have type exactly [`Link`] (no coercion, no `Deref`):
///   ```compile_fail,E0308
///   use intrusive_avl::{adapter, Link};
///   pub struct Node { key: u64, link: Link }
///   adapter!(Wrong<'a> = &'a Node: Node { key }); // `key` is a u64
///   ```
///   ```compile_fail,E0308
///   use intrusive_avl::{adapter, Link};
///   pub struct Node { link: Box<Link> }
///   adapter!(Boxed = Box<Node>: Node { link }); // a Box<Link>, not a Link
///   ```
/// - the path must not pass through a pointer (the link must lie inside the
///   node):
///   ```compile_fail,E0609
///   use intrusive_avl::{adapter, Link};
///   pub struct Inner { link: Link }
///   pub struct Node { inner: Box<Inner> }
///   adapter!(Through<'a> = &'a Node: Node { inner.link });
///   ```
/// - the link must be properly aligned, so `#[repr(packed)]` nodes are
///   refused:
///   ```compile_fail,E0793
///   use intrusive_avl::{adapter, Link};
///   #[repr(C, packed)]
///   pub struct Node { tag: u8, link: Link }
///   adapter!(Packed<'a> = &'a Node: Node { link });
///   ```
#[macro_export]
macro_rules! adapter {
    (@base $vis:vis $name:ident $(<$lt:lifetime>)? = $ptr:ty : $value:path { $($field:ident).+ }, $aug:ty) => {
        #[doc = concat!("Adapter for `", stringify!($value), "` through its `", stringify!($($field).+), "` link.")]
        #[derive(Debug, Clone, Copy, Default)]
        $vis struct $name $(<$lt>)? ($(core::marker::PhantomData<&$lt ()>)?);

        // SAFETY: the field is checked to be a `Link` held by value inside
        // `$value` and properly aligned (see `link`); it is found by
        // `offset_of!` and raw pointer arithmetic on the value pointer, so the
        // result stays inside the value and keeps its provenance; `value`
        // subtracts the same offset.
        unsafe impl $(<$lt>)? $crate::Adapter for $name $(<$lt>)? {
            type Value = $value;
            type Pointer = $ptr;
            type Augment = $aug;
            #[inline]
            fn link(value: core::ptr::NonNull<$value>) -> core::ptr::NonNull<$crate::Link> {
                // Compile-time checks, never called: the raw place has type
                // exactly `Link` (raw pointers do not coerce), and a reference
                // to it can be made (refused for under-aligned fields of
                // packed structs). `offset_of!` below refuses paths that go
                // through a pointer.
                let _checks = |v: &$value| {
                    let _: *const $crate::Link = core::ptr::addr_of!(v.$($field).+);
                    let _: &$crate::Link = &v.$($field).+;
                };
                let offset = core::mem::offset_of!($value, $($field).+);
                // SAFETY: `offset` is the offset of a field of `$value`, so
                // the result is inside the same allocation and non-null.
                unsafe { value.cast::<u8>().add(offset).cast::<$crate::Link>() }
            }
            #[inline]
            unsafe fn value(link: core::ptr::NonNull<$crate::Link>) -> core::ptr::NonNull<$value> {
                let offset = core::mem::offset_of!($value, $($field).+);
                // SAFETY: the caller passes a link obtained from `link`, so
                // stepping back by the field offset lands on the value.
                unsafe { link.cast::<u8>().sub(offset).cast::<$value>() }
            }
        }
    };
    ($vis:vis $name:ident $(<$lt:lifetime>)? = $ptr:ty : $value:path { $($field:ident).+ }
        key $key:ty = |$k:ident| $kexpr:expr $(, augment $aug:ty)? $(,)?) => {
        $crate::adapter!(@base $vis $name $(<$lt>)? = $ptr : $value { $($field).+ },
            $crate::__augment_or_none!($($aug)?));
        impl $(<$lt>)? $crate::KeyAdapter for $name $(<$lt>)? {
            type Key = $key;
            #[inline]
            fn key($k: &$value) -> $key {
                $kexpr
            }
        }
    };
    ($vis:vis $name:ident $(<$lt:lifetime>)? = $ptr:ty : $value:path { $($field:ident).+ }
        $(augment $aug:ty)? $(,)?) => {
        $crate::adapter!(@base $vis $name $(<$lt>)? = $ptr : $value { $($field).+ },
            $crate::__augment_or_none!($($aug)?));
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __augment_or_none {
    () => {
        $crate::NoAugment
    };
    ($aug:ty) => {
        $aug
    };
}
