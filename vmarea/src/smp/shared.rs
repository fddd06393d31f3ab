//! A space shared by many CPUs: `&self` methods behind a pluggable lock,
//! and a lock-free deferred free for contexts that cannot take the lock.
//!
//! Theory of operation.
//!
//! - **The lock** (`L: RawLock`, any `lock_api::RawMutex`, e.g. the
//!   crate's [`RawSpinlock`](crate::RawSpinlock) or `parking_lot`'s) protects
//!   the whole `Space`: every index, the address list, the spares and the
//!   node source. Its acquire/release orders one holder's writes before the
//!   next holder's reads.
//! - **Deferred free** ([`SharedSpace::free_deferred`], Linux's
//!   `vfree_atomic`) never takes the lock and never allocates: it pushes the
//!   area on a Treiber stack whose link is the area's `aux` word — the
//!   flags/tag word a used area no longer needs once it is being freed, and
//!   the only area word accessed with atomics. The push stores the link
//!   (relaxed), then publishes the area with a Release compare-exchange on
//!   the stack head.
//! - **Draining**: every lock holder first takes the whole stack with one
//!   Acquire swap (so the links written before each push are visible) and
//!   frees each area lazily, as `free_lazy` would (its range is reused only
//!   after the flush hook saw it). Taking the whole list at once
//!   means no pop, so no ABA problem.
//! - **Purges flush outside the lock** ([`SharedSpace::purge`], Linux's
//!   `__purge_vmap_area_lazy` under `vmap_purge_lock`): under a purge lock
//!   of its own, a purge detaches the lazy list under the space's lock,
//!   releases it, hands the batch to the flush hook, and merges the batch
//!   back under the lock. The detached areas stay marked lazy and out of
//!   every index meanwhile, so no allocation can reach them before the hook
//!   returned. The space inside never calls the hook itself: a threshold
//!   reached under a guard is purged when that guard unlocks, and an
//!   allocation that finds no room purges outside the lock and retries.
//! - Which calls may run where: `free_deferred` from any context (interrupt
//!   handlers, with the lock held elsewhere on the same CPU); everything else
//!   takes the lock and may spin; the lock is never held across a flush.

use super::depot::{Depot, Flushing};
use crate::area::{Area, Flags};
use crate::busy::{AddressIndex, SharedBusy};
use crate::error::Error;
use crate::info::AreaInfo;
use crate::nodes::{NodeSource, Stash};
use crate::request::Request;
use crate::space::Detached;
use crate::space::{Handle, Space, SPAN_NODES};
use crate::sync::{
    model_failed, ord, site, AtomicPtr, AtomicUsize, Ordering, Protected, RawSpinlock,
};
use core::marker::PhantomData;
use core::ptr::{self, NonNull};

/// A mutual-exclusion lock the shared space can use.
///
/// # Safety
/// `lock` must not return while another caller holds the lock, must
/// synchronise-with (Acquire) the previous `unlock` (Release), and `unlock`
/// is only called by the holder.
pub unsafe trait RawLock {
    /// [`lock_api::GuardSend`] if the lock may be released on another thread
    /// than the one that took it, else [`lock_api::GuardNoSend`]; the
    /// [`Guard`] is `Send` only in the first case.
    type GuardMarker;

    /// Takes the lock, waiting as long as needed.
    fn lock(&self);
    /// Releases the lock.
    ///
    /// # Safety
    /// The caller holds the lock.
    unsafe fn unlock(&self);
}

// SAFETY: lock_api's RawMutex contract is the same one.
#[cfg(not(loom))]
unsafe impl<R: lock_api::RawMutex> RawLock for R {
    type GuardMarker = R::GuardMarker;
    fn lock(&self) {
        lock_api::RawMutex::lock(self)
    }
    unsafe fn unlock(&self) {
        // SAFETY: forwarded contract.
        unsafe { lock_api::RawMutex::unlock(self) }
    }
}

// SAFETY: see `RawSpinlock::acquire`/`release`.
#[cfg(loom)]
unsafe impl RawLock for RawSpinlock {
    type GuardMarker = lock_api::GuardSend;
    fn lock(&self) {
        self.acquire()
    }
    unsafe fn unlock(&self) {
        // SAFETY: forwarded contract.
        unsafe { self.release() }
    }
}

/// Area objects the inner space's [`Stash`] keeps beyond what one
/// allocation needs (3); more go back to the source when the lock is
/// released.
const STASH_KEEP: usize = 4;

/// A [`Space`] usable through `&self` from many threads.
///
/// The node source is called only with the lock released: the space inside
/// draws on a [`Stash`] that [`lock`](Self::lock) fills beforehand (taking
/// the lock, seeing the space short of objects, releasing it, taking them
/// from the source, and taking the lock again), and the objects frees
/// release go back to the source after the guard releases the lock. So a
/// `BoxNodes` heap allocation never happens under the spinlock (Linux's
/// `ne_fit_preload_node` does the same). Lock the space only where its
/// source may be called.
///
/// Behind the crate's spinlock, in a `static`, with area objects from a
/// static pool; a deferred free from "interrupt context" that takes no
/// lock; a lock guard that derefs to the space:
///
/// ```
/// use vmarea::{AreaPool, Flags, Policy, RawSpinlock, SharedSpace};
///
/// static AREAS: AreaPool<64> = AreaPool::new();
/// static VMALLOC: SharedSpace<RawSpinlock, &AreaPool<64>> = SharedSpace::const_new(
///     RawSpinlock::new(), 0x10_0000, 0x100_0000, 0x1000, Policy::FirstFit, &AREAS);
///
/// let (a, handle) = VMALLOC.alloc_handle(&VMALLOC.request(3 * 0x1000)).unwrap();
/// assert_eq!(VMALLOC.find(a.addr + 5).unwrap().addr, a.addr);
/// // SAFETY: `handle` names a live area of VMALLOC, freed by nothing else.
/// unsafe { VMALLOC.free_deferred(handle) };
/// let g = VMALLOC.lock(); // drains the deferred free (lazily)
/// assert_eq!(g.used_count(), 0);
/// g.validate().unwrap();
/// ```
pub struct SharedSpace<L: RawLock, S: NodeSource> {
    lock: L,
    space: Protected<Space<Stash>>,
    /// The real node source, reached only with the lock released.
    source: S,
    /// Full magazines of cached areas, under the same lock.
    depot: Protected<Depot>,
    /// Head of the deferred-free stack (null: empty).
    deferred: AtomicPtr<Area>,
    /// Areas held by caches, as each last published it (see `CpuCache`).
    in_caches: AtomicUsize,
    /// The last instance number handed to a [`VmapBlocks`](crate::VmapBlocks)
    /// of this space (0: none yet): with the space's address, what a
    /// mapping names its blocks by.
    instances: AtomicUsize,
    /// A copy of the space's quantum, readable without the lock (reading
    /// it through the locked cell would alias the holder's `&mut Space`).
    quantum: usize,
    /// The space's `[start, end)` as last published, readable without the
    /// lock: spans and imports move it, so every guard republishes it as
    /// it unlocks (when it changed: `published` is the copy it compares
    /// with, under the lock, so that an unchanged unlock touches no atomic:
    /// under loom every atomic access is one more point to interleave).
    lo: AtomicUsize,
    hi: AtomicUsize,
    published: Protected<(usize, usize)>,
    /// A node of a [`ShardedSpace`](crate::ShardedSpace): its bounds are
    /// its zone, so spans and imports are refused.
    zoned: bool,
    /// Serialises purges (Linux's `vmap_purge_lock`), which flush with the
    /// space's lock released. Never taken while the space's lock is held.
    purge_lock: RawSpinlock,
    /// The depot's dirty magazines a purge is flushing, under `purge_lock`.
    flushing: Protected<Flushing>,
    /// The space's busy tree, behind a busy lock of its own, which
    /// [`find_fault`](Self::find_fault) takes instead of the space's lock.
    busy: SharedBusy,
    /// Whether the space has a busy tree ([`AddressIndex::BusyTree`]).
    indexed: bool,
}

// SAFETY: the space and the depot are only reached under the lock, which
// serialises holders; the source is called from any thread without it, so
// it must be `Sync` (and `Send`: objects taken on one thread are given back
// on another). The deferred stack and the counters are atomics. The busy
// tree is changed under the lock and the busy lock, and `find_fault` reads
// it (and the fields of the used areas in it that no holder writes while
// they are there, or writes atomically) under the busy lock only: see
// `busy/shared.rs`.
unsafe impl<L: RawLock + Sync, S: NodeSource + Send + Sync> Sync for SharedSpace<L, S> {}
// SAFETY: as above: everything inside may move when `S` and `L` may; the
// space owns its areas (`Space<Stash>: Send`).
unsafe impl<L: RawLock + Send, S: NodeSource + Send> Send for SharedSpace<L, S> {}

/// The space, locked; deferred frees were applied when it was taken.
///
/// It reads as a `&Space` (`Deref`), and changes the space only through
/// its own methods: never through a `&mut Space`, which could replace the
/// whole space while caches, the depot and deferred frees hold areas of it.
/// `Send` exactly when the lock's guard may be (`RawLock::GuardMarker`);
/// never `Sync`, since the `Space` it reads as is not.
///
/// ```compile_fail,E0596
/// # use vmarea::{BoxNodes, Policy, RawSpinlock, SharedSpace, Space};
/// let sh: SharedSpace<RawSpinlock, BoxNodes> =
///     SharedSpace::new(Space::new(0x1000, 0x9000, 0x1000, Policy::FirstFit, BoxNodes).unwrap());
/// let mut g = sh.lock();
/// // No `&mut Space` through a guard: it could swap the space out from
/// // under the caches and deferred frees.
/// let s: &mut Space<vmarea::Stash> = &mut *g;
/// ```
pub struct Guard<'a, L: RawLock, S: NodeSource> {
    shared: &'a SharedSpace<L, S>,
    /// Area objects the stash keeps when this guard unlocks (the rest go
    /// back to the source): the reserve of the acquisition that made it.
    keep: usize,
    _marker: PhantomData<(L::GuardMarker, core::cell::Cell<()>)>,
}

impl<L: RawLock, S: NodeSource> Guard<'_, L, S> {
    /// Runs `f` on the locked space.
    fn with<R>(&mut self, f: impl FnOnce(&mut Space<Stash>) -> R) -> R {
        // SAFETY: this guard holds the lock, so no other access overlaps.
        unsafe { self.shared.space.with_mut(f) }
    }

    /// [`Space::alloc`] on the locked space (a purge it needs runs with the
    /// lock released, as [`purge`](Self::purge)).
    pub fn alloc(&mut self, size: usize, align: usize, flags: Flags) -> Result<AreaInfo, Error> {
        let req = self.request(size).align(align).flags(flags);
        self.alloc_purging(&req).map(|(i, _)| i)
    }

    /// [`Space::alloc_request`] on the locked space (a purge it needs runs
    /// with the lock released, as [`purge`](Self::purge)).
    pub fn alloc_request(&mut self, req: &Request) -> Result<AreaInfo, Error> {
        self.alloc_purging(req).map(|(i, _)| i)
    }

    /// [`Space::alloc_handle`] on the locked space (a purge it needs runs
    /// with the lock released, as [`purge`](Self::purge)).
    pub fn alloc_handle(&mut self, req: &Request) -> Result<(AreaInfo, Handle), Error> {
        self.alloc_purging(req)
    }

    /// [`Space::free`] on the locked space.
    pub fn free(&mut self, addr: usize) -> Result<AreaInfo, Error> {
        self.with(|s| s.free(addr))
    }

    /// [`Space::free_lazy`] on the locked space.
    pub fn free_lazy(&mut self, addr: usize) -> Result<AreaInfo, Error> {
        self.with(|s| s.free_lazy(addr))
    }

    /// [`Space::free_handle`] on the locked space.
    ///
    /// # Safety
    /// As for [`Space::free_handle`].
    pub unsafe fn free_handle(&mut self, handle: Handle) -> AreaInfo {
        // SAFETY: forwarded contract.
        self.with(|s| unsafe { s.free_handle(handle) })
    }

    /// Purges as [`SharedSpace::purge`] does: **the lock is released
    /// while the flush hook runs** (other CPUs may change the space
    /// meanwhile) and taken again before this returns, with deferred frees
    /// drained. Returns how many areas were purged.
    pub fn purge(&mut self) -> usize {
        self.unlocked(|shared| shared.purge())
    }

    /// Runs `f` with the lock released, then takes it again (draining
    /// deferred frees, as any acquisition does), also if `f` unwinds.
    /// `&mut self`: no borrow of the space through this guard is alive
    /// meanwhile.
    fn unlocked<R>(&mut self, f: impl FnOnce(&SharedSpace<L, S>) -> R) -> R {
        /// Puts a freshly taken guard in the slot of the one released.
        struct Relock<'g, 'a, L: RawLock, S: NodeSource> {
            slot: *mut Guard<'a, L, S>,
            shared: &'a SharedSpace<L, S>,
            _guard: PhantomData<&'g mut Guard<'a, L, S>>,
        }
        impl<L: RawLock, S: NodeSource> Drop for Relock<'_, '_, L, S> {
            fn drop(&mut self) {
                let again = self.shared.acquire(0).0;
                // SAFETY: the slot's guard was read out and dropped in
                // `unlocked`: writing over it without dropping is the move
                // back that makes the slot a live guard again.
                unsafe { ptr::write(self.slot, again) };
            }
        }
        let shared = self.shared;
        let slot: *mut Self = self;
        // Armed before the release, so that the slot holds a live guard
        // again however the rest unwinds.
        let relock = Relock {
            slot,
            shared,
            _guard: PhantomData,
        };
        // SAFETY: the guard is read out of its slot and dropped (releasing
        // the lock) exactly once; `relock` refills the slot.
        drop(unsafe { ptr::read(slot) });
        let r = f(shared);
        drop(relock);
        r
    }

    /// [`Space::alloc_handle`], and on `NoSpace` with lazy frees pending,
    /// a purge with the lock released (as [`purge`](Self::purge)) and one
    /// retry.
    fn alloc_purging(&mut self, req: &Request) -> Result<(AreaInfo, Handle), Error> {
        match self.with(|s| s.alloc_handle(req)) {
            Err(Error::NoSpace) if self.lazy_pending() => {
                self.purge();
                self.with(|s| s.alloc_handle(req))
            }
            r => r,
        }
    }

    fn lazy_pending(&self) -> bool {
        (**self).has_lazy()
    }

    /// [`Space::set_flush_hook`] on the locked space.
    pub fn set_flush_hook(&mut self, hook: Option<crate::FlushHook>) {
        self.with(|s| s.set_flush_hook(hook))
    }

    /// [`Space::set_lazy_threshold`] on the locked space.
    pub fn set_lazy_threshold(&mut self, bytes: usize) {
        self.with(|s| s.set_lazy_threshold(bytes))
    }

    /// [`Space::set_event_hook`] on the locked space (feature `events`).
    #[cfg(feature = "events")]
    #[cfg_attr(docsrs, doc(cfg(feature = "events")))]
    pub fn set_event_hook(&mut self, hook: Option<crate::EventHook>) {
        self.with(|s| s.set_event_hook(hook))
    }

    /// [`Space::add_span`] on the locked space; `BadRange` (nothing
    /// changed) on a node of a [`ShardedSpace`](crate::ShardedSpace),
    /// whose bounds are its zone. A span takes up to four area objects:
    /// take the guard with [`SharedSpace::lock_for`]`(3)`, or call
    /// [`SharedSpace::add_span`]; short of them, `NoNode`.
    pub fn add_span(&mut self, lo: usize, hi: usize) -> Result<(), Error> {
        if self.shared.zoned {
            return Err(Error::BadRange);
        }
        self.with(|s| s.add_span(lo, hi))
    }

    /// [`Space::set_import`] on the locked space: the space imports a span
    /// from `import.take` when an allocation finds no room, as vmem's
    /// arenas do from their source. Unlike vmem, which drops the arena
    /// lock around its source, `take` and `give` run with **this space's
    /// lock held**: they must not take it (directly or through this
    /// space), must not sleep under a spinlock, and if they allocate from
    /// a parent `SharedSpace`, its lock nests inside this one (always in
    /// that order). `BadRange` (nothing changed) on a node of a
    /// [`ShardedSpace`](crate::ShardedSpace).
    pub fn set_import(&mut self, import: Option<crate::Import>) -> Result<(), Error> {
        if self.shared.zoned {
            return Err(Error::BadRange);
        }
        self.with(|s| s.set_import(import));
        Ok(())
    }

    /// [`Space::release_spans`] on the locked space: wholly free imported
    /// spans go back to the import source (under this lock, as above).
    pub fn release_spans(&mut self) -> usize {
        self.with(|s| s.release_spans())
    }
}

impl<L: RawLock, S: NodeSource> core::ops::Deref for Guard<'_, L, S> {
    type Target = Space<Stash>;
    fn deref(&self) -> &Space<Stash> {
        // The guard's own `&mut self` methods cannot run while this borrow
        // lives; deferred pushes touch only the atomic `aux` word.
        // SAFETY: this guard holds the lock: no other access overlaps.
        unsafe { &*self.shared.space.get() }
    }
}
impl<L: RawLock, S: NodeSource> Drop for Guard<'_, L, S> {
    fn drop(&mut self) {
        if model_failed() {
            return;
        }
        /// Releases the lock when dropped, also when a hook panics in the
        /// depot's decay below (its frees report events).
        struct Unlock<'l, L: RawLock>(&'l L);
        impl<L: RawLock> Drop for Unlock<'_, L> {
            fn drop(&mut self) {
                // SAFETY: the guard took the lock in `SharedSpace::acquire`
                // and releases it here only.
                unsafe { self.0.unlock() }
            }
        }
        let unlock = Unlock(&self.shared.lock);
        // A purge under this guard decays the depot; objects beyond what
        // the next allocation needs leave the stash under the lock and go
        // back to the source after it.
        let surplus = Stash::new();
        let (shared, keep) = (self.shared, self.keep);
        let purge = self.with(|s| {
            // SAFETY: this guard holds the lock, which guards the depot.
            unsafe { shared.depot.with_mut(|d| d.decay_after_purge(s)) };
            // SAFETY: as above; the lock guards `published` too.
            unsafe { shared.publish_bounds(s) };
            s.source().move_surplus(keep, &surplus);
            s.purge_wanted()
        });
        drop(unlock);
        surplus.give_all(&self.shared.source);
        if purge {
            // The lazy threshold was reached under this guard: the purge
            // runs now, with the lock released (unless one is under way,
            // which leaves the request for the next guard).
            shared.try_purge();
        }
    }
}

/// The body of `from_parts`, shared by the `const` and the loom constructor.
macro_rules! from_parts {
    ($lock:expr, $space:expr, $source:expr) => {
        SharedSpace {
            lock: $lock,
            quantum: $space.quantum(),
            indexed: matches!($space.address_index(), AddressIndex::BusyTree),
            lo: AtomicUsize::new($space.bounds().0),
            hi: AtomicUsize::new($space.bounds().1),
            published: Protected::new($space.bounds()),
            zoned: false,
            purge_lock: RawSpinlock::new(),
            flushing: Protected::new(Flushing::new()),
            space: Protected::new($space.purging_outside(true)),
            source: $source,
            depot: Protected::new(Depot::new()),
            deferred: AtomicPtr::new(ptr::null_mut()),
            in_caches: AtomicUsize::new(0),
            instances: AtomicUsize::new(0),
            busy: SharedBusy::new(),
        }
    };
}

impl<L: RawLock, S: NodeSource> SharedSpace<L, S> {
    /// Shares `space` behind `lock` (an unlocked lock). The space keeps
    /// its spans and its [`Import`](crate::Import) source, if any: the
    /// source's `take` and `give` then run with this space's lock held
    /// (see [`Guard::set_import`]).
    pub fn with_lock(lock: L, space: Space<S>) -> Self {
        let (space, source) = space.replace_source(Stash::new());
        let shared = Self::from_parts(lock, space, source);
        // Its busy tree may hold areas already: move it where `find_fault`
        // reads it now, not at the first guard.
        // SAFETY: owned: no guard exists.
        unsafe { shared.space.with_mut(|s| s.attach_busy(&shared.busy)) };
        shared
    }

    /// A shared space over `[start, end)` behind `lock`, built by a `const
    /// fn` so that it can be a `static` (invalid bounds are a panic, so a
    /// build error there; see [`Space::new`] for what is valid). No area
    /// object is taken until the first allocation.
    ///
    /// ```
    /// use vmarea::{AreaPool, Flags, Policy, RawSpinlock, SharedSpace};
    ///
    /// static AREAS: AreaPool<256> = AreaPool::new();
    /// static VMALLOC: SharedSpace<RawSpinlock, &AreaPool<256>> = SharedSpace::const_new(
    ///     RawSpinlock::new(), 0x1000_0000, 0x2000_0000, 4096, Policy::FirstFit, &AREAS,
    /// );
    ///
    /// let a = VMALLOC.alloc_request(&VMALLOC.request(3 * 4096)).unwrap();
    /// assert_eq!(a.usable(), 3 * 4096);
    /// VMALLOC.free(a.addr).unwrap();
    /// ```
    #[cfg(not(loom))]
    pub const fn const_new(
        lock: L,
        start: usize,
        end: usize,
        quantum: usize,
        policy: crate::Policy,
        source: S,
    ) -> Self {
        Self::from_parts(
            lock,
            Space::const_new(start, end, quantum, policy, Stash::new()),
            source,
        )
    }

    /// The old name of [`const_new`](Self::const_new), kept for one
    /// release.
    #[cfg(not(loom))]
    #[deprecated(since = "0.1.0", note = "renamed `const_new`, as lock_api names it")]
    pub const fn new_const(
        lock: L,
        start: usize,
        end: usize,
        quantum: usize,
        policy: crate::Policy,
        source: S,
    ) -> Self {
        Self::const_new(lock, start, end, quantum, policy, source)
    }

    #[cfg(not(loom))]
    const fn from_parts(lock: L, space: Space<Stash>, source: S) -> Self {
        from_parts!(lock, space, source)
    }

    /// Not `const` under loom: its atomics cannot be built in `const`.
    #[cfg(loom)]
    fn from_parts(lock: L, space: Space<Stash>, source: S) -> Self {
        from_parts!(lock, space, source)
    }

    /// A request for `size` bytes anywhere in the space, `Flags::ALLOC`, no
    /// alignment beyond the quantum, tag 0: the common case of
    /// [`alloc_request`](Self::alloc_request); adjust it with `Request`'s
    /// builder methods.
    pub fn request(&self, size: usize) -> Request {
        let (lo, hi) = self.bounds();
        Request::new(size, lo, hi)
    }

    /// The space's quantum.
    pub fn quantum(&self) -> usize {
        self.quantum
    }

    /// Adds a cache's change in held areas to the shared count (the cache
    /// calls it whenever it holds the lock anyway).
    pub(crate) fn publish_cached(&self, delta: usize) {
        self.in_caches.fetch_add(delta, Ordering::Relaxed);
    }

    /// A number no other instance (of `VmapBlocks`) over this space had,
    /// never 0; None once they are all used (`usize::MAX` of them).
    pub(crate) fn new_instance(&self) -> Option<usize> {
        // Relaxed: only uniqueness matters, which the read-modify-write
        // gives; nothing is published through the number.
        self.instances
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_add(1))
            .ok()
            .map(|n| n + 1)
    }

    /// Areas held ready by caches and the depot: allocated in the space
    /// (counted there as used), but by nobody. The depot's are counted
    /// exactly; each cache's as of its last lock acquisition (exact once
    /// every cache has flushed or exchanged since its last fast-path call).
    pub fn cached_areas(&self) -> usize {
        self.with_depot(|_, depot| depot.areas()) + self.in_caches.load(Ordering::Relaxed)
    }

    /// The space's `[start, end)`, read without the lock: as of the last
    /// guard released (spans and imports move it). A request built from
    /// it while another CPU adds or releases a span may carry the old
    /// window; the space checks every window again under the lock, so such
    /// a request is refused (`BadRange`) or placed in the old range,
    /// never outside the space.
    pub fn bounds(&self) -> (usize, usize) {
        // Relaxed: the values are only a hint for building requests (see
        // above); nothing is read through them.
        (
            self.lo.load(Ordering::Relaxed),
            self.hi.load(Ordering::Relaxed),
        )
    }

    /// Stores the space's bounds for [`bounds`](Self::bounds) if they
    /// changed since the last time.
    ///
    /// # Safety
    /// The caller holds the lock (it guards `published`).
    unsafe fn publish_bounds(&self, s: &Space<Stash>) {
        let now = s.bounds();
        // SAFETY: caller contract.
        unsafe {
            self.published.with_mut(|p| {
                if *p != now {
                    *p = now;
                    self.lo.store(now.0, Ordering::Relaxed);
                    self.hi.store(now.1, Ordering::Relaxed);
                }
            })
        }
    }

    /// Marks this space a node of a sharded space: its bounds are its
    /// zone from now on (spans and imports refused; an import source is
    /// dropped).
    pub(crate) fn fix_to_zone(&mut self) {
        self.zoned = true;
        // SAFETY: `&mut self`: no guard, cache or block borrows the space.
        unsafe { self.space.with_mut(|s| s.set_import(None)) };
    }

    /// Grows the space by `[lo, hi)` (see [`Space::add_span`]): the lock
    /// is taken with the area objects a span needs reserved. `BadRange`
    /// on a node of a [`ShardedSpace`](crate::ShardedSpace).
    pub fn add_span(&self, lo: usize, hi: usize) -> Result<(), Error> {
        self.acquire(SPAN_NODES).0.add_span(lo, hi)
    }

    /// The lock itself, for instrumentation (a lock that counts its
    /// acquisitions, say). Taking it directly only blocks: the space stays
    /// reachable through [`lock`](Self::lock) alone.
    pub fn raw_lock(&self) -> &L {
        &self.lock
    }

    /// Returns every area the depot holds to the space; returns how many.
    pub fn flush_depot(&self) -> usize {
        self.with_depot(|space, depot| depot.flush_into(space))
    }

    /// Runs `f` on the space and the depot, under the lock.
    pub(crate) fn with_depot<R>(&self, f: impl FnOnce(&mut Space<Stash>, &mut Depot) -> R) -> R {
        self.with_depot_for(1, f)
    }

    /// As [`with_depot`](Self::with_depot), with area objects reserved for
    /// `allocs` allocations (see [`lock_for`](Self::lock_for)).
    pub(crate) fn with_depot_for<R>(
        &self,
        allocs: usize,
        f: impl FnOnce(&mut Space<Stash>, &mut Depot) -> R,
    ) -> R {
        let mut g = self.lock_for(allocs);
        // SAFETY: `g` holds the lock, which guards the depot too.
        g.with(|space| unsafe { self.depot.with_mut(|depot| f(space, depot)) })
    }

    /// Takes the lock and applies pending deferred frees. The space then
    /// holds the area objects one allocation needs (see
    /// [`lock_for`](Self::lock_for)).
    pub fn lock(&self) -> Guard<'_, L, S> {
        self.acquire(0).0
    }

    /// As [`lock`](Self::lock), with area objects reserved for `allocs`
    /// allocations through the guard. An allocation takes at most two, and
    /// the source is never called under the lock, so one made after the
    /// reserve ran out is refused with `NoNode` (nothing changed).
    pub fn lock_for(&self, allocs: usize) -> Guard<'_, L, S> {
        self.acquire(allocs.saturating_sub(1).saturating_mul(2)).0
    }

    /// Takes the lock and applies pending deferred frees; also says how many.
    /// Leaves the space holding the area objects one allocation needs and
    /// `extra` more, taken from the source with the lock released (unless
    /// the source is exhausted: then an allocation reports `NoNode`).
    fn acquire(&self, extra: usize) -> (Guard<'_, L, S>, usize) {
        let (mut drained, carried, mut exhausted) = (0, Stash::new(), false);
        loop {
            self.lock.lock();
            // Keeps everything it holds if it unlocks to fetch more (a
            // guard that gave its surplus back could never fill a reserve
            // above `STASH_KEEP`).
            let mut g = Guard {
                shared: self,
                keep: usize::MAX,
                _marker: PhantomData,
            };
            let short = g.with(|s| {
                // The shared space may have moved since the last guard
                // (not while this one borrows it).
                s.attach_busy(&self.busy);
                s.source().take_all(&carried);
                drained += Self::drain_into(&self.deferred, s);
                (s.nodes_wanted() + extra).saturating_sub(s.source().len())
            });
            if short == 0 || exhausted {
                g.keep = STASH_KEEP.max(extra);
                return (g, drained);
            }
            drop(g);
            for _ in 0..short {
                match self.source.take() {
                    // SAFETY: a fresh object from the source, in no index.
                    Some(a) => unsafe { carried.give(a) },
                    None => {
                        exhausted = true;
                        break;
                    }
                }
            }
        }
    }

    /// Allocates `size` bytes aligned to `align` anywhere in the space
    /// (`vmalloc`'s common case), as [`Space::alloc`]: as
    /// [`alloc_request`](Self::alloc_request) with
    /// `self.request(size).align(align).flags(flags)`. For the handle
    /// [`free_deferred`](Self::free_deferred) takes, use
    /// [`alloc_handle`](Self::alloc_handle).
    pub fn alloc(&self, size: usize, align: usize, flags: Flags) -> Result<AreaInfo, Error> {
        // The window is the space's bounds as they are under the lock, not
        // as last published (a span may have just been added).
        self.purging_on_no_space(|| {
            self.with_depot(|s, depot| {
                let req = s.request(size).align(align).flags(flags);
                depot.alloc_or_flush(s, &req)
            })
        })
        .map(|(info, _)| info)
    }

    /// `alloc()`, and on `NoSpace` or `NoNode`, a purge (outside the lock)
    /// and one retry.
    pub(crate) fn purging_on_no_space<T>(
        &self,
        mut alloc: impl FnMut() -> Result<T, Error>,
    ) -> Result<T, Error> {
        match alloc() {
            // Retried even if this purge found nothing: another CPU's may
            // just have made room. `NoNode` too: merging the lazily freed
            // areas gives their area objects back.
            Err(Error::NoSpace | Error::NoNode) => {
                self.purge();
                alloc()
            }
            r => r,
        }
    }

    /// Purges the lazy frees (Linux's `purge_vmap_area_lazy`): under the
    /// purge lock (purges are serialised, as under Linux's
    /// `vmap_purge_lock`), the lazy list is **detached** under the space's
    /// lock, the lock is **released** while the flush hook runs, and the
    /// batch is **merged** back under the lock again. No range of the batch
    /// can be allocated before the hook returned; other CPUs allocate,
    /// free and look up meanwhile. Returns how many areas were purged (0
    /// if another purge took them first).
    ///
    /// If the hook panics, the batch goes back on the lazy list as the
    /// panic unwinds, and both locks are released.
    pub fn purge(&self) -> usize {
        self.purge_lock.acquire();
        self.purge_holding_purge_lock()
    }

    /// As [`purge`](Self::purge) if no purge is under way; else nothing
    /// (the one under way, or the next guard, purges).
    fn try_purge(&self) -> usize {
        if !self.purge_lock.try_acquire() {
            return 0;
        }
        self.purge_holding_purge_lock()
    }

    /// Detach, flush, merge; the caller took the purge lock, released here.
    /// The batch: the space's lazy list and the depot's dirty magazines
    /// (areas per-CPU caches freed), which become full, ready magazines
    /// once flushed.
    fn purge_holding_purge_lock(&self) -> usize {
        /// Releases the purge lock, and puts a batch whose flush unwound
        /// back (lazy list, dirty magazines).
        struct Purging<'p, L: RawLock, S: NodeSource> {
            shared: &'p SharedSpace<L, S>,
            batch: Option<Detached>,
        }
        impl<L: RawLock, S: NodeSource> Drop for Purging<'_, L, S> {
            fn drop(&mut self) {
                if let Some(d) = self.batch.take() {
                    let shared = self.shared;
                    shared.with_depot(|s, depot| {
                        s.reattach(d);
                        // SAFETY: the purge lock (held) guards `flushing`.
                        unsafe { shared.flushing.with_mut(|f| depot.unflushed(f, s)) };
                    });
                }
                // SAFETY: taken by `purge` or `try_purge` for this call.
                unsafe { self.shared.purge_lock.release() };
            }
        }
        let mut purging = Purging {
            shared: self,
            batch: None,
        };
        let hook = self.with_depot(|s, depot| {
            // SAFETY: the purge lock (held) guards `flushing`.
            unsafe { self.flushing.with_mut(|f| depot.take_dirty(f)) };
            purging.batch = Some(s.detach_all());
            s.flush_hook()
        });
        // SAFETY: the purge lock (held) guards `flushing`; nothing changes
        // it until this purge merges.
        let flushing = unsafe { &*self.flushing.get() };
        let mags = flushing.magazines();
        let batch = purging.batch.as_ref().expect("set above");
        if batch.is_empty() && mags.is_empty() {
            let d = purging.batch.take().expect("set above");
            self.lock().with(|s| s.merge_detached_quietly(d));
            return 0;
        }
        let q = self.quantum;
        let mag_areas: usize = mags.iter().map(|(_, m)| m.len()).sum();
        let mag_bytes: usize = mags.iter().map(|(c, m)| (c + 1) * q * m.len()).sum();
        #[cfg(loom)]
        if crate::sync::weaken::is(site::MERGE_BEFORE_FLUSH) {
            // The loom twin: the batch is merged, so reusable, without
            // waiting for its flush.
            let batch = purging.batch.take().expect("held above");
            return self.merge_flushed(batch) + mag_areas;
        }
        // The space's lock is free here: the hook may take as long as a
        // shootdown takes, and other CPUs are never stuck behind it.
        if let Some(flush) = hook {
            flush(&batch.batch(mags, mag_bytes, q));
        }
        let batch = purging.batch.take().expect("held above");
        self.merge_flushed(batch) + mag_areas
    }

    /// Merges a flushed batch and makes the flushed magazines ready.
    fn merge_flushed(&self, batch: Detached) -> usize {
        self.with_depot(|s, depot| {
            let n = s.merge_detached(batch);
            // The depot decays for this purge before the flushed magazines
            // join it (they are the freshest).
            depot.decay_after_purge(s);
            // SAFETY: the purge lock (held by the caller) guards `flushing`.
            unsafe { self.flushing.with_mut(|f| depot.flushed(f, s)) };
            n
        })
    }

    /// Allocates as `req` says (see [`Space::alloc_request`]). With no
    /// space left, the depot's cached areas are returned first and the
    /// allocation retried.
    pub fn alloc_request(&self, req: &Request) -> Result<AreaInfo, Error> {
        self.alloc_handle(req).map(|(info, _)| info)
    }

    /// As [`alloc_request`](Self::alloc_request), with the area's handle
    /// (see [`Space::alloc_handle`]): what
    /// [`free_deferred`](Self::free_deferred) takes.
    pub fn alloc_handle(&self, req: &Request) -> Result<(AreaInfo, Handle), Error> {
        self.purging_on_no_space(|| self.with_depot(|s, depot| depot.alloc_or_flush(s, req)))
    }

    /// Frees the used area at `addr` (see [`Space::free`]).
    pub fn free(&self, addr: usize) -> Result<AreaInfo, Error> {
        self.lock().with(|s| s.free(addr))
    }

    /// Frees the used area at `addr` lazily (see [`Space::free_lazy`]): its
    /// range is reused only after a purge's flush hook saw it.
    pub fn free_lazy(&self, addr: usize) -> Result<AreaInfo, Error> {
        self.lock().with(|s| s.free_lazy(addr))
    }

    /// The used area containing `addr`, under the space's lock (see
    /// [`find_fault`](Self::find_fault) for a lookup that never takes it).
    pub fn find(&self, addr: usize) -> Option<AreaInfo> {
        self.lock().with(|s| s.find(addr))
    }

    /// The used area containing `addr`, for a page-fault handler: read
    /// under the busy lock only, never the space's lock (Linux's
    /// `find_vmap_area` under `vmap_node.busy.lock`).
    ///
    /// Every change to the busy tree takes the busy lock inside the space's
    /// lock, for one O(log n) link or unlink, and calls, allocates and waits
    /// for nothing while holding it. So this is safe with interrupts off on
    /// any CPU while another CPU holds the space's lock for as long as it
    /// likes (waiting for a TLB shootdown this CPU must answer, say): it
    /// waits at most for one tree change in progress. It must not be called
    /// from code that interrupted a change of this space's busy tree on the
    /// same CPU (a fault handler is fine: the change touches only area
    /// objects already in use, so it does not fault).
    ///
    /// Answers as [`find`](Self::find) does, except for an area whose
    /// deferred free was pushed and not drained yet: `find` drains first and
    /// never finds it; this one does not find it once the push is visible
    /// to its CPU (the push and this read share the area's atomic `aux`).
    ///
    /// # Errors
    /// [`Error::NoAddressIndex`] for a space made with
    /// [`AddressIndex::None`](crate::AddressIndex::None), which keeps no
    /// busy tree.
    ///
    /// ```
    /// use vmarea::{AreaPool, Flags, Policy, RawSpinlock, SharedSpace};
    ///
    /// static AREAS: AreaPool<16> = AreaPool::new();
    /// static VMALLOC: SharedSpace<RawSpinlock, &AreaPool<16>> = SharedSpace::const_new(
    ///     RawSpinlock::new(), 0x10_0000, 0x100_0000, 0x1000, Policy::FirstFit, &AREAS);
    ///
    /// let a = VMALLOC.alloc(2 * 0x1000, 0, Flags::ALLOC).unwrap();
    /// let guard = VMALLOC.lock(); // another CPU holding the lock, say
    /// // The guard page is inside the area: the fault handler can tell.
    /// let hit = VMALLOC.find_fault(a.addr + 2 * 0x1000).unwrap().unwrap();
    /// assert_eq!((hit.addr, hit.usable()), (a.addr, 2 * 0x1000));
    /// assert_eq!(VMALLOC.find_fault(0x20_0000), Ok(None));
    /// drop(guard);
    /// ```
    pub fn find_fault(&self, addr: usize) -> Result<Option<AreaInfo>, Error> {
        if !self.indexed {
            return Err(Error::NoAddressIndex);
        }
        #[cfg(loom)]
        if crate::sync::weaken::is(site::FAULT_TAKES_SPACE_LOCK) {
            // The broken twin: the lookup `find` makes, under the lock.
            return Ok(self.find(addr));
        }
        Ok(self.busy.containing(addr, self.quantum))
    }

    /// Applies pending deferred frees now; returns how many.
    pub fn drain(&self) -> usize {
        self.acquire(0).1
    }

    /// Frees the area `handle` names without taking the lock and without
    /// allocating (Linux's `vfree_atomic`): safe to call from interrupt
    /// context, even while this CPU holds the lock. The next lock
    /// acquisition (or [`drain`](Self::drain)) frees it lazily, as
    /// [`Space::free_lazy`] does: its range is reused only after a purge
    /// handed it to the flush hook.
    ///
    /// # Safety
    /// `handle` came from this space's `alloc`, its area is not freed yet and
    /// is freed by no other call (by address, handle, lazily or deferred).
    pub unsafe fn free_deferred(&self, handle: Handle) {
        // SAFETY: forwarded contract.
        unsafe { push_deferred(&self.deferred, handle.as_ptr()) }
    }

    /// Takes the whole deferred stack and frees each area. If a hook
    /// panics on the way (an event hook, or the flush hook of a purge the
    /// frees set off), the areas not freed yet go back on the stack as the
    /// panic unwinds, for the next drain: none is lost.
    fn drain_into(deferred: &AtomicPtr<Area>, space: &mut Space<Stash>) -> usize {
        /// The part of a taken stack not freed yet, pushed back on unwind.
        struct Rest<'d>(&'d AtomicPtr<Area>, *mut Area);
        impl Drop for Rest<'_> {
            fn drop(&mut self) {
                if model_failed() {
                    return;
                }
                while let Some(area) = NonNull::new(self.1) {
                    // SAFETY: a taken, not yet freed area: live, its link
                    // visible since the Acquire swap.
                    let link = unsafe { &*ptr::addr_of!((*area.as_ptr()).aux) }.get();
                    self.1 = Area::deferred_next(link);
                    // SAFETY: still deferred, freed by nothing else.
                    unsafe { push_deferred(self.0, area) };
                }
            }
        }
        let taken = deferred.swap(ptr::null_mut(), ord(site::DEFERRED_TAKE, Ordering::Acquire));
        let mut rest = Rest(deferred, taken);
        let mut n = 0;
        while let Some(area) = NonNull::new(rest.1) {
            // SAFETY: pushed areas are live used areas of this space; the
            // Acquire swap makes the link stored before each push visible.
            let link = unsafe { &*ptr::addr_of!((*area.as_ptr()).aux) }.get();
            // Cheap, and what a broken ordering would break first: the link
            // stored before the push must be the one read here. (The chain
            // is forgotten first: an unreadable one is not pushed back.)
            rest.1 = ptr::null_mut();
            assert!(Area::is_deferred_link(link), "deferred link not visible");
            rest.1 = Area::deferred_next(link);
            // SAFETY: `free_deferred`'s contract: a live area freed once.
            // Lazily: its range is reused only after the flush hook saw it.
            unsafe { space.free_lazy_handle(Handle::from_ptr(area)) };
            n += 1;
        }
        n
    }

    /// The space back, with deferred frees applied and the depot flushed,
    /// over its own node source again.
    pub fn into_inner(self) -> Space<S> {
        // Taking the lock drains the deferred stack; nothing can push after
        // it, since `self` is owned.
        self.flush_depot();
        // The busy tree goes back into the space it belongs to.
        // SAFETY: owned: no guard exists.
        unsafe { self.space.with_mut(|s| s.detach_busy(&self.busy)) };
        let me = core::mem::ManuallyDrop::new(self);
        // SAFETY: each field with a destructor is read out of `me` exactly
        // once and `me` is never used or dropped again (the depot, the
        // atomics and the busy tree, empty now, have none to run).
        let (lock, space, source) = unsafe {
            (
                ptr::read(&me.lock),
                ptr::read(&me.space).into_inner(),
                ptr::read(&me.source),
            )
        };
        drop(lock);
        let (space, stash) = space.replace_source(source);
        stash.give_all(space.source());
        // A plain space again: it purges inline.
        space.purging_outside(false)
    }
}

impl<L: RawLock, S: NodeSource> Drop for SharedSpace<L, S> {
    fn drop(&mut self) {
        if model_failed() {
            return;
        }
        // Every area object goes back to the real source: the space's own
        // drop would hand them to its stash only.
        // SAFETY: `&mut self`: no guard or cache borrows the space.
        unsafe {
            self.space.with_mut(|s| {
                // The shared space may have moved since the last guard.
                s.attach_busy(&self.busy);
                s.release_all();
                s.source().give_all(&self.source);
                // The empty tree back into the space, which is dropped
                // after this and must not reach for `self.busy`.
                s.detach_busy(&self.busy);
            })
        };
    }
}

#[cfg(not(loom))]
impl<R: lock_api::RawMutex, S: NodeSource> SharedSpace<R, S> {
    /// Shares `space` behind a new lock of type `R`.
    pub fn new(space: Space<S>) -> Self {
        Self::with_lock(R::INIT, space)
    }
}

/// Pushes `area` on the deferred-free stack `deferred` (Treiber push).
///
/// # Safety
/// `area` is a live used area of the space the stack belongs to, freed by
/// no other call, and stays live until a drain takes it.
unsafe fn push_deferred(deferred: &AtomicPtr<Area>, area: NonNull<Area>) {
    // Only the atomic `aux` word is touched, through a raw projection: no
    // reference to the rest of the area, which the lock holder may be
    // rewriting, is made.
    // SAFETY: the area is live until drained (caller contract).
    let link = unsafe { &*ptr::addr_of!((*area.as_ptr()).aux) };
    let mut head = deferred.load(Ordering::Relaxed);
    loop {
        // Marks the area deferred (so `free(addr)` refuses it and reports
        // leave it out) and links it to the old head.
        link.set(Area::deferred_link(head));
        match deferred.compare_exchange_weak(
            head,
            area.as_ptr(),
            ord(site::DEFERRED_PUBLISH, Ordering::Release),
            Ordering::Relaxed,
        ) {
            Ok(_) => return,
            Err(now) => head = now,
        }
    }
}

impl<L: RawLock, S: NodeSource> core::fmt::Debug for SharedSpace<L, S> {
    /// What is readable without the lock (as `lock_api::Mutex`'s `Debug`
    /// does not wait for its lock): the bounds, the quantum, the areas
    /// caches hold as last published, and whether it is a sharded node.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SharedSpace")
            .field("bounds", &self.bounds())
            .field("quantum", &self.quantum)
            .field("in_caches", &self.in_caches.load(Ordering::Relaxed))
            .field("zoned", &self.zoned)
            .finish_non_exhaustive()
    }
}

impl<L: RawLock, S: NodeSource> core::fmt::Debug for Guard<'_, L, S> {
    /// The locked space.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_tuple("Guard").field(&**self).finish()
    }
}
