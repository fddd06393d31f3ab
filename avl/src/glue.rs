//! The glue between the raw, untyped core (`raw.rs`, links only) and the
//! typed API (`tree.rs`, `cursor.rs`, `iter.rs`): from a link to its node
//! (`value_ref`), the core's summary hooks for an adapter (`HooksOf`), the
//! abort guard around rebalances that run user summaries (`guarded`), the
//! guard that releases an owner if user code panics (`Reclaim`), and where
//! a search ended (`Slot`). The typed modules import it; it imports none
//! of them.

use crate::adapter::{Adapter, Augment};
use crate::link::{Link, LEFT, RIGHT};
use crate::pointer::PointerOps;
use crate::raw::{r, Hooks};
use core::marker::PhantomData;
use core::ptr::NonNull;

/// The raw core's summary hooks for adapter `A`.
pub(crate) struct HooksOf<A>(PhantomData<A>);

impl<A: Adapter> Hooks for HooksOf<A> {
    const ENABLED: bool = <A::Augment as Augment<A::Value>>::ENABLED;

    #[inline]
    unsafe fn recompute(node: NonNull<Link>) -> bool {
        // SAFETY: the raw core only passes linked members, whose children
        // are linked members too.
        unsafe {
            let v = value_ref::<A>(node);
            let left = r(node).child(LEFT).map(|c| value_ref::<A>(c));
            let right = r(node).child(RIGHT).map(|c| value_ref::<A>(c));
            let fresh = A::Augment::summarize(v, left, right);
            if fresh == A::Augment::stored(v) {
                false
            } else {
                A::Augment::store(v, fresh);
                true
            }
        }
    }
}

/// `container_of`, to a shared reference.
///
/// # Safety
/// `link` is the link of a live node of adapter `A`, and the node outlives
/// `'a` without being mutably borrowed.
#[inline(always)]
pub(crate) unsafe fn value_ref<'a, A: Adapter>(link: NonNull<Link>) -> &'a A::Value {
    // SAFETY: caller contract.
    unsafe { A::value(link).as_ref() }
}

/// Aborts the process if dropped during unwinding: a user summary callback
/// that panics mid-rebalance would otherwise leave the tree half rebalanced.
/// Forgotten on the normal path, so it costs nothing when nothing panics.
pub(crate) struct AbortOnUnwind;

impl Drop for AbortOnUnwind {
    fn drop(&mut self) {
        // A panic while panicking aborts: exactly what we want.
        panic!("intrusive-avl: an Augment callback panicked during a rebalance");
    }
}

/// Runs a structural change; with augmentation, under an abort guard.
#[inline(always)]
pub(crate) fn guarded<A: Adapter, R>(f: impl FnOnce() -> R) -> R {
    if HooksOf::<A>::ENABLED {
        let guard = AbortOnUnwind;
        let out = f();
        core::mem::forget(guard);
        out
    } else {
        f()
    }
}

/// An owning pointer held as a raw pointer while user code (a key function
/// or comparator) looks at its node. If that code panics, dropping the
/// guard rebuilds the owner and drops it, so the node's owner is released
/// as it would be for any argument of a panicking call, never leaked.
pub(crate) struct Reclaim<P: PointerOps> {
    pub(crate) raw: NonNull<P::Target>,
}

impl<P: PointerOps> Reclaim<P> {
    pub(crate) fn new(ptr: P) -> Self {
        Reclaim {
            raw: ptr.into_raw(),
        }
    }

    /// The node.
    ///
    /// # Safety
    /// The reference must not outlive `self` (and so the owner).
    pub(crate) unsafe fn get<'x>(&self) -> &'x P::Target {
        // SAFETY: `raw` came from `into_raw` and stays valid for `&` until it
        // is given back (`PointerOps` contract); the caller bounds `'x`.
        unsafe { self.raw.as_ref() }
    }

    /// The owner back.
    pub(crate) fn into_inner(self) -> P {
        let raw = self.raw;
        core::mem::forget(self);
        // SAFETY: `raw` came from `into_raw` and is given back once.
        unsafe { P::from_raw(raw) }
    }
}

impl<P: PointerOps> Drop for Reclaim<P> {
    fn drop(&mut self) {
        // SAFETY: only reached when unwinding out of user code before
        // `into_inner`: the pointer is given back exactly once.
        drop(unsafe { P::from_raw(self.raw) });
    }
}

/// Where a search ended: an existing node, or the empty slot a node with
/// that key would be linked into.
pub(crate) enum Slot {
    Found(NonNull<Link>),
    Vacant(Option<NonNull<Link>>, usize),
}
