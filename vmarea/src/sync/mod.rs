//! Every atomic the crate uses comes from here, so that under `--cfg loom`
//! the loom model checker sees (and permutes) each of them; so do the two
//! primitives built on them: the spinlock (`spin`) and the cell a lock
//! guards (`protected`).

mod protected;
mod spin;

pub(crate) use protected::Protected;
pub use spin::RawSpinlock;
#[cfg(not(loom))]
pub use spin::SpinMutex;

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering};

#[cfg(not(loom))]
pub(crate) use core::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering};

/// The ordering `strong`, or `Relaxed` when a loom twin weakens `site` (see
/// [`weaken`]); always `strong` outside loom.
#[inline(always)]
pub(crate) fn ord(site: u8, strong: Ordering) -> Ordering {
    #[cfg(loom)]
    if weaken::is(site) {
        return Ordering::Relaxed;
    }
    let _ = site;
    strong
}

/// Under loom, whether a model is unwinding from a failure: destructors then
/// skip their loom accesses (a second loom panic while unwinding would
/// abort the process instead of failing the twin that expects it). Always
/// false outside loom.
#[inline(always)]
pub(crate) fn model_failed() -> bool {
    #[cfg(loom)]
    return std::thread::panicking();
    #[cfg(not(loom))]
    false
}

/// Test-only weakenings, under `--cfg loom` only: each loom model has a
/// broken twin that relaxes one ordering the model depends on and must be
/// caught. The switch is per OS thread (loom runs a model's threads on the
/// thread that called it), so twins and sound models can run side by side.
#[cfg(loom)]
pub mod weaken {
    use std::cell::Cell;

    use super::site;

    /// The spinlock's Acquire on taking the lock.
    pub const LOCK_ACQUIRE: u8 = site::LOCK_ACQUIRE;
    /// The spinlock's Release on giving it back.
    pub const LOCK_RELEASE: u8 = site::LOCK_RELEASE;
    /// The Release compare-exchange that publishes a deferred free.
    pub const DEFERRED_PUBLISH: u8 = site::DEFERRED_PUBLISH;
    /// The Acquire swap that takes the deferred stack.
    pub const DEFERRED_TAKE: u8 = site::DEFERRED_TAKE;
    /// Not an ordering but the purge's order of steps: the twin merges a
    /// detached batch back without waiting for the flush hook.
    pub const MERGE_BEFORE_FLUSH: u8 = site::MERGE_BEFORE_FLUSH;
    /// Not an ordering but the fault path's lock: the twin's `find_fault`
    /// takes the space's lock, as `find` does.
    pub const FAULT_TAKES_SPACE_LOCK: u8 = site::FAULT_TAKES_SPACE_LOCK;
    /// The busy lock around a change of the busy tree: the twin changes
    /// the tree without it.
    pub const BUSY_EDIT_UNLOCKED: u8 = site::BUSY_EDIT_UNLOCKED;

    std::thread_local! {
        static SITES: Cell<u8> = const { Cell::new(0) };
    }

    /// Relaxes the orderings at `sites` on this thread until the next call.
    pub fn set(sites: u8) {
        SITES.set(sites);
    }

    pub(crate) fn is(site: u8) -> bool {
        SITES.get() & site != 0
    }
}

/// Ordering sites `ord` knows (a loom twin names them through `weaken`).
pub(crate) mod site {
    pub(crate) const LOCK_ACQUIRE: u8 = 1 << 0;
    pub(crate) const LOCK_RELEASE: u8 = 1 << 1;
    pub(crate) const DEFERRED_PUBLISH: u8 = 1 << 2;
    pub(crate) const DEFERRED_TAKE: u8 = 1 << 3;
    #[cfg(loom)]
    pub(crate) const MERGE_BEFORE_FLUSH: u8 = 1 << 4;
    #[cfg(loom)]
    pub(crate) const FAULT_TAKES_SPACE_LOCK: u8 = 1 << 5;
    #[cfg(loom)]
    pub(crate) const BUSY_EDIT_UNLOCKED: u8 = 1 << 6;
}

/// Busy-wait hint; under loom, a yield so the model can make progress.
#[inline]
pub(crate) fn spin_loop() {
    #[cfg(loom)]
    loom::thread::yield_now();
    #[cfg(not(loom))]
    core::hint::spin_loop();
}

/// A 64-bit word accessed with relaxed atomics only: plain loads and stores
/// on x86-64 and AArch64, but never a data race when another thread writes
/// it (the deferred-free push does; see `shared.rs`).
pub(crate) struct Word(AtomicU64);

impl Word {
    #[cfg(not(loom))]
    pub(crate) const fn new(v: u64) -> Self {
        Word(AtomicU64::new(v))
    }

    #[cfg(loom)]
    pub(crate) fn new(v: u64) -> Self {
        Word(AtomicU64::new(v))
    }

    #[inline(always)]
    pub(crate) fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }

    #[inline(always)]
    pub(crate) fn set(&self, v: u64) {
        self.0.store(v, Ordering::Relaxed)
    }
}
