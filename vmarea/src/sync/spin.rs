//! The default lock for `no_std` users: a test-and-test-and-set spinlock on
//! `core` atomics (loom's under `--cfg loom`). A kernel plugs in its own
//! lock instead through `lock_api::RawMutex`.

use crate::sync::{ord, site, spin_loop, AtomicBool, Ordering};

/// A spinlock word. `lock` spins reading (not writing) while the lock is
/// held, so waiting CPUs do not bounce the cache line.
pub struct RawSpinlock {
    locked: AtomicBool,
}

impl RawSpinlock {
    /// An unlocked lock.
    #[cfg(not(loom))]
    pub const fn new() -> Self {
        RawSpinlock {
            locked: AtomicBool::new(false),
        }
    }

    /// An unlocked lock.
    #[cfg(loom)]
    pub fn new() -> Self {
        RawSpinlock {
            locked: AtomicBool::new(false),
        }
    }

    /// Takes the lock, spinning until it is free. Acquire: everything the
    /// previous holder wrote before `unlock` is visible afterwards.
    #[inline]
    pub fn acquire(&self) {
        while self
            .locked
            .compare_exchange_weak(
                false,
                true,
                ord(site::LOCK_ACQUIRE, Ordering::Acquire),
                Ordering::Relaxed,
            )
            .is_err()
        {
            while self.locked.load(Ordering::Relaxed) {
                spin_loop();
            }
        }
    }

    /// Takes the lock if it is free.
    #[inline]
    pub fn try_acquire(&self) -> bool {
        self.locked
            .compare_exchange(
                false,
                true,
                ord(site::LOCK_ACQUIRE, Ordering::Acquire),
                Ordering::Relaxed,
            )
            .is_ok()
    }

    /// Releases the lock. Release: publishes the holder's writes.
    ///
    /// # Safety
    /// The caller holds the lock.
    #[inline]
    pub unsafe fn release(&self) {
        self.locked
            .store(false, ord(site::LOCK_RELEASE, Ordering::Release));
    }

    /// Whether the lock is held right now (a racy hint).
    pub fn is_locked(&self) -> bool {
        self.locked.load(Ordering::Relaxed)
    }
}

impl Default for RawSpinlock {
    fn default() -> Self {
        Self::new()
    }
}

impl core::fmt::Debug for RawSpinlock {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("RawSpinlock")
            .field("locked", &self.is_locked())
            .finish()
    }
}

// SAFETY: `acquire`/`try_acquire` give exclusive ownership (a successful
// false→true compare-exchange, Acquire) until `release` (Release store), so
// at most one holder exists and holders' critical sections are ordered.
#[cfg(not(loom))]
unsafe impl lock_api::RawMutex for RawSpinlock {
    #[allow(clippy::declare_interior_mutable_const)]
    const INIT: Self = RawSpinlock::new();
    type GuardMarker = lock_api::GuardSend;

    fn lock(&self) {
        self.acquire();
    }

    fn try_lock(&self) -> bool {
        self.try_acquire()
    }

    unsafe fn unlock(&self) {
        // SAFETY: lock_api calls unlock only for the current holder.
        unsafe { self.release() }
    }

    fn is_locked(&self) -> bool {
        RawSpinlock::is_locked(self)
    }
}

/// A `lock_api` mutex on [`RawSpinlock`].
#[cfg(not(loom))]
pub type SpinMutex<T> = lock_api::Mutex<RawSpinlock, T>;
