//! A value guarded by a lock that lives elsewhere: `UnsafeCell`, or loom's
//! (which checks every access) under `--cfg loom`. The lock's holder is
//! the only one who may reach it; the `unsafe` accessors state that.

/// `core::cell::UnsafeCell`, or loom's (which checks every access) under
/// `--cfg loom`.
pub(crate) struct Protected<T> {
    #[cfg(not(loom))]
    cell: core::cell::UnsafeCell<T>,
    #[cfg(loom)]
    cell: loom::cell::UnsafeCell<T>,
}

impl<T> Protected<T> {
    #[cfg(not(loom))]
    pub(crate) const fn new(v: T) -> Self {
        Protected {
            cell: core::cell::UnsafeCell::new(v),
        }
    }

    #[cfg(loom)]
    pub(crate) fn new(v: T) -> Self {
        Protected {
            cell: loom::cell::UnsafeCell::new(v),
        }
    }

    /// The value, for shared access.
    ///
    /// # Safety
    /// No exclusive access overlaps the use of the pointer (the lock is held).
    #[cfg(not(loom))]
    pub(crate) unsafe fn get(&self) -> *const T {
        self.cell.get()
    }

    /// The value, for shared access (loom cannot track a raw pointer that
    /// outlives the call; the model tests never deref a guard).
    #[cfg(loom)]
    pub(crate) unsafe fn get(&self) -> *const T {
        self.cell.with(|p| p)
    }

    /// Runs `f` on the value, for shared access (loom checks the whole of
    /// `f` against exclusive accesses).
    ///
    /// # Safety
    /// No exclusive access overlaps this one (the lock is held).
    pub(crate) unsafe fn with<R>(&self, f: impl FnOnce(&T) -> R) -> R {
        #[cfg(not(loom))]
        // SAFETY: caller contract: no exclusive access overlaps.
        return f(unsafe { &*self.cell.get() });
        #[cfg(loom)]
        // SAFETY: caller contract (loom checks it).
        return self.cell.with(|p| f(unsafe { &*p }));
    }

    /// # Safety
    /// No other access to the value overlaps this one (the lock is held).
    pub(crate) unsafe fn with_mut<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        #[cfg(not(loom))]
        // SAFETY: caller contract: exclusive access.
        return f(unsafe { &mut *self.cell.get() });
        #[cfg(loom)]
        // SAFETY: caller contract: exclusive access (loom checks it).
        return self.cell.with_mut(|p| f(unsafe { &mut *p }));
    }
}

impl<T> Protected<T> {
    /// The value, out of its cell.
    pub(crate) fn into_inner(self) -> T {
        self.cell.into_inner()
    }
}
