//! Every atomic the crate uses comes from here, so that under `--cfg loom`
//! the loom model checker sees (and permutes) each of them.

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering};

#[cfg(not(loom))]
pub(crate) use core::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering};

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
