//! Who owns a node while it is in a tree.
//!
//! A tree holds one `Pointer` per member: it takes the pointer on insert and
//! gives it back on removal, so ownership (a `Box`, one strong count of an
//! `Rc`/`Arc`, a borrow `&'a T`) is never duplicated nor lost. Only shared
//! references to a member are ever handed out while it is linked, because the
//! tree keeps writing its link.

use core::fmt;
use core::ops::Deref;
use core::ptr::NonNull;

/// A pointer type a tree can own its members through.
///
/// # Safety
/// Implementers promise that
/// - `into_raw` returns a pointer that stays valid for shared access (`&T`)
///   and does not move until the same pointer is passed to `from_raw`;
/// - `from_raw(into_raw(p))` gives back an owner equivalent to `p`;
/// - no `&mut Target` to the pointee is created by anyone while the raw
///   pointer is outstanding;
/// - with [`FROM_ANY_SHARED`](Self::FROM_ANY_SHARED) true, `from_raw` of
///   any pointer to the pointee that is valid for shared access gives back
///   that same owner.
pub unsafe trait PointerOps: Sized {
    /// The node type pointed to.
    type Target;

    /// Gives up ownership, keeping the pointee alive and in place.
    fn into_raw(self) -> NonNull<Self::Target>;

    /// Takes ownership back.
    ///
    /// # Safety
    /// `raw` must come from `into_raw` of this same type and be passed back
    /// exactly once.
    unsafe fn from_raw(raw: NonNull<Self::Target>) -> Self;

    /// Whether `from_raw` may also be given any pointer to the pointee
    /// that is valid for shared access (one a caller got from `&Target`),
    /// not only the one `into_raw` returned. True for `&T` and
    /// `UnsafeRef<T>`, which only rebuild a shared borrow or a raw pointer;
    /// false (the default) for owners such as `Box`, whose `from_raw` needs
    /// the provenance `into_raw` gave. With false, removing a member named
    /// by a caller's pointer (`remove_ptr`, `cursor_mut_from_ptr`) first
    /// re-reads the tree's own copy of that pointer (one parent read).
    const FROM_ANY_SHARED: bool = false;
}

// SAFETY: a shared borrow keeps the pointee alive and immobile for 'a, and
// `from_raw` only rebuilds the same borrow.
unsafe impl<T> PointerOps for &T {
    type Target = T;
    #[inline]
    fn into_raw(self) -> NonNull<T> {
        NonNull::from(self)
    }
    #[inline]
    unsafe fn from_raw(raw: NonNull<T>) -> Self {
        // SAFETY: `raw` came from a `&'a T` (caller contract), still live.
        unsafe { raw.as_ref() }
    }
    // A shared borrow rebuilt from any pointer valid for shared access.
    const FROM_ANY_SHARED: bool = true;
}

/// A raw, unowned node pointer for callers that manage node memory themselves
/// (a kernel's slab, a static pool, an arena).
///
/// Creating one is `unsafe`: you promise the node outlives its membership in
/// any tree and is not mutated through `&mut` or moved meanwhile. After that
/// promise the whole tree API is safe to use. Dropping an `UnsafeRef` frees
/// nothing.
pub struct UnsafeRef<T> {
    ptr: NonNull<T>,
}

impl<T> UnsafeRef<T> {
    /// Wraps a raw node pointer.
    ///
    /// # Safety
    /// `ptr` must point to a live `T` that stays live, in place and free of
    /// `&mut` access for as long as this `UnsafeRef` or any copy of it is in a
    /// tree, and until it has been taken out again.
    #[inline]
    pub unsafe fn from_raw(ptr: NonNull<T>) -> Self {
        UnsafeRef { ptr }
    }

    /// The wrapped pointer.
    #[inline]
    pub fn as_ptr(this: &Self) -> NonNull<T> {
        this.ptr
    }
}

impl<T> Clone for UnsafeRef<T> {
    #[inline]
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for UnsafeRef<T> {}

impl<T> Deref for UnsafeRef<T> {
    type Target = T;
    #[inline]
    fn deref(&self) -> &T {
        // SAFETY: `from_raw`'s contract keeps the pointee live and free of
        // `&mut` while this handle exists.
        unsafe { self.ptr.as_ref() }
    }
}

impl<T: fmt::Debug> fmt::Debug for UnsafeRef<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        (**self).fmt(f)
    }
}

// SAFETY: an `UnsafeRef` is `Copy`: sending one leaves copies behind, so two
// threads can reach `&T` at once, which needs `T: Sync`; and it stands for
// ownership of the node (a tree drops its members through it, and its
// creator may rebuild a `Box` from it), which needs `T: Send`. The same
// bound `&T: Send` and `Box<T>: Send` each need.
unsafe impl<T: Send + Sync> Send for UnsafeRef<T> {}
// SAFETY: a shared `&UnsafeRef` can be copied into an owned one on the other
// thread, so sharing it is sending it: the same bound as `Send`.
unsafe impl<T: Send + Sync> Sync for UnsafeRef<T> {}

// SAFETY: the creator of the `UnsafeRef` promised validity (see `from_raw`).
unsafe impl<T> PointerOps for UnsafeRef<T> {
    type Target = T;
    #[inline]
    fn into_raw(self) -> NonNull<T> {
        self.ptr
    }
    #[inline]
    unsafe fn from_raw(raw: NonNull<T>) -> Self {
        UnsafeRef { ptr: raw }
    }
    // Only a raw pointer is rebuilt; its users' contract covers access.
    const FROM_ANY_SHARED: bool = true;
}

#[cfg(feature = "alloc")]
mod owned {
    use super::PointerOps;
    use alloc::boxed::Box;
    use alloc::rc::Rc;
    use alloc::sync::Arc;
    use core::ptr::NonNull;

    // SAFETY: `Box::into_raw` leaks the box in place; `Box::from_raw` on the
    // same pointer takes it back.
    unsafe impl<T> PointerOps for Box<T> {
        type Target = T;
        #[inline]
        fn into_raw(self) -> NonNull<T> {
            // SAFETY: `Box::into_raw` never returns null.
            unsafe { NonNull::new_unchecked(Box::into_raw(self)) }
        }
        #[inline]
        unsafe fn from_raw(raw: NonNull<T>) -> Self {
            // SAFETY: caller contract: `raw` came from `into_raw` above.
            unsafe { Box::from_raw(raw.as_ptr()) }
        }
    }

    // SAFETY: the tree keeps one strong count, so the pointee stays alive;
    // `Rc` never hands out `&mut T` while another count exists.
    unsafe impl<T> PointerOps for Rc<T> {
        type Target = T;
        #[inline]
        fn into_raw(self) -> NonNull<T> {
            // SAFETY: `Rc::into_raw` never returns null.
            unsafe { NonNull::new_unchecked(Rc::into_raw(self) as *mut T) }
        }
        #[inline]
        unsafe fn from_raw(raw: NonNull<T>) -> Self {
            // SAFETY: caller contract: `raw` came from `Rc::into_raw`.
            unsafe { Rc::from_raw(raw.as_ptr()) }
        }
    }

    // SAFETY: as for `Rc`, with an atomic count.
    unsafe impl<T> PointerOps for Arc<T> {
        type Target = T;
        #[inline]
        fn into_raw(self) -> NonNull<T> {
            // SAFETY: `Arc::into_raw` never returns null.
            unsafe { NonNull::new_unchecked(Arc::into_raw(self) as *mut T) }
        }
        #[inline]
        unsafe fn from_raw(raw: NonNull<T>) -> Self {
            // SAFETY: caller contract: `raw` came from `Arc::into_raw`.
            unsafe { Arc::from_raw(raw.as_ptr()) }
        }
    }
}
