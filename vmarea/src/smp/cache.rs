//! Per-CPU (per-handle) caches of ready areas for small, hot sizes, in the
//! manner of vmem's quantum caches (Bonwick & Adams, 2001), with Linux's
//! rule that a freed range is reused only after a batched TLB flush.
//!
//! - Each [`CpuCache`] keeps, per size class, two **ready** magazines
//!   (`loaded`, `previous`) of up to [`ROUNDS`] allocated areas that no CPU
//!   maps, and one **dirty** magazine of areas freed since. Allocations and
//!   frees touch no lock and no shared memory on the fast path.
//! - A free puts the area on the dirty magazine: it is **not handed out
//!   again** until a flush covered it, so a kernel unmaps it and sends no
//!   shootdown (Linux's `vb_free` only marks a piece dirty). A full dirty
//!   magazine goes to the **depot** in one lock acquisition (with no room
//!   there, its areas are freed lazily into the space).
//! - A purge ([`SharedSpace::purge`], at the lazy threshold or when an
//!   allocation finds no room) flushes the depot's dirty magazines in the
//!   same batch as the space's lazy frees (one hook call: one shootdown),
//!   then makes them **full** magazines of the depot: ready areas, which
//!   any cache takes in one lock acquisition (Linux 6.9's per-node pools
//!   hold only flushed areas the same way). The depot decays by a quarter
//!   of its full magazines per purge.
//! - An allocation with both ready magazines empty takes a full magazine
//!   from the depot, or refills one from the space ([`ROUNDS`] areas in
//!   one lock acquisition).
//! - Cached areas are allocated in the space (they are in the busy tree);
//!   [`SharedSpace::cached_areas`] counts them separately: the depot's
//!   exactly, each cache's as of its last lock acquisition.
//! - Cached areas keep the flags the cache was made with; class sizes are
//!   1 … [`CACHE_CLASSES`] quanta including the guard.

use super::depot::{Depot, Magazine, CACHE_CLASSES, ROUNDS};
use super::shared::{RawLock, SharedSpace};
use crate::area::Flags;
use crate::error::Error;
use crate::nodes::NodeSource;
use crate::request::Request;
use crate::space::Handle;
use core::marker::PhantomData;

/// Allocations one refill makes under one lock acquisition: a magazine.
const ROUNDS_PER_REFILL: usize = ROUNDS;

/// An allocation served by a cache. Move-only and unforgeable: it is given
/// back to a cache of the same [`SharedSpace`] with [`CpuCache::free`].
/// `SharedSpace::free(addr)` refuses its area ([`Error::Cached`]), so
/// nothing else can free it meanwhile.
///
/// Dropping it frees the area as a `vfree` from any context would: it is
/// pushed on the space's deferred-free stack
/// ([`SharedSpace::free_deferred`]: no lock, no allocation, safe where the
/// lock is held), freed lazily at the next lock acquisition, and reusable
/// only after a purge showed it to the flush hook. Nothing is lost; but
/// the cache's fast path is missed, so the compiler warns of an unused
/// `Cached`:
/// ```compile_fail
/// #![deny(unused_must_use)]
/// # use vmarea::{BoxNodes, Flags, Policy, RawSpinlock, SharedSpace, Space};
/// # let sh: SharedSpace<RawSpinlock, BoxNodes> =
/// #     SharedSpace::new(Space::new(0x1000, 0x9_0000, 0x1000, Policy::FirstFit, BoxNodes).unwrap());
/// let mut c = sh.cache(Flags::ALLOC);
/// c.alloc(4096).unwrap(); // error: unused `Cached` that must be used
/// ```
///
/// Its fields cannot be changed (a wrong size would leak or corrupt the
/// cache's classes on return):
/// ```compile_fail,E0616
/// # use vmarea::{BoxNodes, Flags, Policy, RawSpinlock, SharedSpace, Space};
/// # let sh: SharedSpace<RawSpinlock, BoxNodes> =
/// #     SharedSpace::new(Space::new(0x1000, 0x9_0000, 0x1000, Policy::FirstFit, BoxNodes).unwrap());
/// let mut c = sh.cache(Flags::ALLOC);
/// let mut a = c.alloc(4096).unwrap();
/// a.size = 1;
/// ```
#[must_use = "a dropped Cached is freed lazily through the deferred path: give it back with CpuCache::free"]
pub struct Cached<'a> {
    addr: usize,
    size: usize,
    guard: usize,
    flags: Flags,
    handle: Handle,
    /// The `SharedSpace` it came from. Unique among live spaces while `'a`
    /// borrows that space, which keeps it alive and in place.
    origin: *const (),
    /// Frees the area through `origin`'s deferred stack (on drop).
    free_dropped: unsafe fn(*const (), Handle),
    _space: PhantomData<&'a ()>,
}

impl PartialEq for Cached<'_> {
    fn eq(&self, o: &Self) -> bool {
        // `free_dropped` follows from `origin`.
        (
            self.addr,
            self.size,
            self.guard,
            self.flags,
            self.handle,
            self.origin,
        ) == (o.addr, o.size, o.guard, o.flags, o.handle, o.origin)
    }
}

impl Eq for Cached<'_> {}

impl core::fmt::Debug for Cached<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Cached")
            .field("addr", &format_args!("{:#x}", self.addr))
            .field("size", &format_args!("{:#x}", self.size))
            .field("guard", &format_args!("{:#x}", self.guard))
            .field("flags", &self.flags)
            .finish_non_exhaustive()
    }
}

impl Drop for Cached<'_> {
    fn drop(&mut self) {
        // `origin` is the `SharedSpace<L, S>` `free_dropped` was made for,
        // alive while `'a` borrows it. SAFETY: so the pointer is live; the
        // area is its live cached allocation, freed by this value alone, once.
        unsafe { (self.free_dropped)(self.origin, self.handle) }
    }
}

/// A dropped [`Cached`]'s area, freed through `space`'s deferred stack.
///
/// # Safety
/// `space` points to a live `SharedSpace<L, S>`; `handle` names a live
/// used area of it that no other call frees.
unsafe fn free_dropped<L: RawLock, S: NodeSource>(space: *const (), handle: Handle) {
    // SAFETY: caller contract. Only the deferred stack's atomic head and
    // the area's atomic link word are touched (no lock, no source), so this
    // is sound on any thread, even for a space that is not `Sync`.
    unsafe { (*space.cast::<SharedSpace<L, S>>()).free_deferred(handle) }
}

impl Cached<'_> {
    /// Start address.
    pub fn addr(&self) -> usize {
        self.addr
    }
    /// Bytes, guard included (the class size).
    pub fn size(&self) -> usize {
        self.size
    }
    /// Usable bytes: the size less the guard quantum, if the cache adds one.
    pub fn usable(&self) -> usize {
        self.size - self.guard
    }
    /// The flags of the cache that served it.
    pub fn flags(&self) -> Flags {
        self.flags
    }
}

// SAFETY: `origin` is only compared, never dereferenced; the handle is an
// address token (see `Handle`). A `Cached` is plain data.
unsafe impl Send for Cached<'_> {}
// SAFETY: as above; `&Cached` exposes only copies of plain fields.
unsafe impl Sync for Cached<'_> {}

/// [`CpuCache::free`] was given an allocation from a cache of another
/// [`SharedSpace`]; it is handed back unchanged.
#[derive(Debug, PartialEq, Eq)]
pub struct ForeignCached<'a>(pub Cached<'a>);

impl core::fmt::Display for ForeignCached<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "{:#x} was served by a cache of another space",
            self.0.addr
        )
    }
}

impl core::error::Error for ForeignCached<'_> {}

/// One CPU's (or one thread's) cache over a [`SharedSpace`].
///
/// ```
/// use vmarea::{AreaPool, Flags, Policy, RawSpinlock, SharedSpace, Space};
///
/// static AREAS: AreaPool<64> = AreaPool::new();
/// let shared: SharedSpace<RawSpinlock, _> = SharedSpace::new(
///     Space::new(0x10_0000, 0x100_0000, 0x1000, Policy::InstantFit, &AREAS).unwrap());
/// let mut cpu0 = shared.cache(Flags::ALLOC);
/// let mut cpu1 = shared.cache(Flags::ALLOC);
/// let a = cpu0.alloc(0x2000).unwrap(); // two pages and a guard page
/// assert_eq!(a.usable(), 0x2000);
/// // Only a cache frees it: `SharedSpace::free` refuses a cached area.
/// assert!(shared.free(a.addr()).is_err());
/// cpu1.free(a).unwrap(); // freed on another CPU: into that CPU's cache
/// assert_eq!(cpu1.held(), 1);
/// cpu0.flush();
/// cpu1.flush();
/// assert_eq!(shared.lock().used_count(), 0);
/// ```
pub struct CpuCache<'a, L: RawLock, S: NodeSource> {
    shared: &'a SharedSpace<L, S>,
    flags: Flags,
    loaded: [Magazine; CACHE_CLASSES],
    previous: [Magazine; CACHE_CLASSES],
    /// Freed areas, not reusable before a flush covered them.
    dirty: [Magazine; CACHE_CLASSES],
    /// The part of [`held`](Self::held) already added to the shared count.
    /// The fast paths
    /// touch no shared memory; the difference is published whenever the
    /// cache takes the lock anyway (a shared counter bumped on every
    /// operation made two threads 7× slower than one).
    published: usize,
}

impl<'a, L: RawLock, S: NodeSource> CpuCache<'a, L, S> {
    /// An empty cache over `shared` whose areas report `flags`; `const`, so
    /// a kernel can place one per CPU in a `static` (it is 2 KiB: build it
    /// in place, not on a small stack). Same as [`SharedSpace::cache`].
    pub const fn new(shared: &'a SharedSpace<L, S>, flags: Flags) -> Self {
        CpuCache {
            shared,
            flags,
            loaded: [Magazine::EMPTY; CACHE_CLASSES],
            previous: [Magazine::EMPTY; CACHE_CLASSES],
            dirty: [Magazine::EMPTY; CACHE_CLASSES],
            published: 0,
        }
    }

    /// Areas this cache holds, ready or dirty: counted from its magazines
    /// (no counter that a panic mid-refill could leave stale). O(classes).
    pub fn held(&self) -> usize {
        self.loaded
            .iter()
            .chain(&self.previous)
            .chain(&self.dirty)
            .map(|m| m.len)
            .sum()
    }

    fn publish(&mut self) {
        let held = self.held();
        let delta = held.wrapping_sub(self.published);
        self.shared.publish_cached(delta);
        self.published = held;
    }

    fn guard(&self) -> usize {
        if self.flags.contains(Flags::NO_GUARD) {
            0
        } else {
            self.shared.quantum()
        }
    }

    /// The class of `size` bytes, and its size with the guard, if cached.
    fn class(&self, size: usize) -> Option<(usize, usize)> {
        let q = self.shared.quantum();
        let need = size
            .checked_next_multiple_of(q)?
            .checked_add(self.guard())?;
        let c = (need / q)
            .checked_sub(1)
            .filter(|&c| c < CACHE_CLASSES && size > 0)?;
        Some((c, need))
    }

    fn origin(&self) -> *const () {
        core::ptr::from_ref(self.shared).cast()
    }

    fn cached(&self, addr: usize, size: usize, handle: Handle) -> Cached<'a> {
        Cached {
            addr,
            size,
            guard: self.guard(),
            flags: self.flags,
            handle,
            origin: self.origin(),
            free_dropped: free_dropped::<L, S>,
            _space: PhantomData,
        }
    }

    /// Allocates `size` bytes (one of the cached classes; a larger size is
    /// refused with [`Error::NotCacheable`], to be allocated from the shared
    /// space; with no room anywhere, `NoSpace`).
    pub fn alloc(&mut self, size: usize) -> Result<Cached<'a>, Error> {
        let Some((c, need)) = self.class(size) else {
            return Err(if size == 0 {
                Error::ZeroSize
            } else {
                Error::NotCacheable { size }
            });
        };
        if self.loaded[c].len == 0 {
            core::mem::swap(&mut self.loaded[c], &mut self.previous[c]);
        }
        if let Some((addr, handle)) = self.loaded[c].pop() {
            return Ok(self.cached(addr, need, handle));
        }
        // Both magazines empty: one lock acquisition for a full one from the
        // depot, or a magazine's worth of areas from the space itself.
        let flags = self.flags;
        let slot = &mut self.loaded[c];
        let shared = self.shared;
        let r = shared.purging_on_no_space(|| {
            shared.with_depot_for(ROUNDS_PER_REFILL, |space, depot| {
                if let Some(full) = depot.take_full(c) {
                    *slot = full;
                    if slot.flags != flags {
                        // Filled by a cache with other flags: restamp, so
                        // cached areas report the flags of the cache serving
                        // them.
                        for h in slot.handles() {
                            // SAFETY: depot areas are live cached areas of `space`.
                            unsafe { space.set_cached(h, flags, true) };
                        }
                    }
                } else {
                    Self::refill(space, depot, slot, flags, need)?;
                }
                slot.flags = flags;
                Ok(slot.pop().expect("a filled magazine"))
            })
        });
        let out = r.map(|(addr, handle)| {
            // The rest of the magazine stays here.
            self.cached(addr, need, handle)
        });
        self.publish();
        out
    }

    /// Fills `slot` with up to [`ROUNDS`] new areas of `need` bytes from the
    /// space (at least one, or the error of the first allocation).
    fn refill(
        space: &mut crate::space::Space<crate::nodes::Stash>,
        depot: &mut super::depot::Depot,
        slot: &mut Magazine,
        flags: Flags,
        need: usize,
    ) -> Result<(), Error> {
        let (lo, hi) = space.bounds();
        let req = Request::new(need, lo, hi).flags(flags | Flags::NO_GUARD);
        while !slot.is_full() {
            // The spares of one allocation are reserved per lock
            // acquisition: stop at the first refusal after the first area.
            match depot.alloc_or_flush(space, &req) {
                Ok((info, h)) => {
                    // SAFETY: `h` was just allocated in `space`.
                    unsafe { space.set_cached(h, flags, true) };
                    let pushed = slot.push((info.addr, h));
                    debug_assert!(pushed.is_ok(), "not full");
                }
                Err(e) if slot.len == 0 => return Err(e),
                Err(_) => break,
            }
        }
        Ok(())
    }

    /// Returns an allocation to the cache, dirty: it is handed out again
    /// only after a purge's flush hook saw it, so unmap its pages and send
    /// no shootdown. One from a cache with other flags goes back to the
    /// space (lazily), so cached areas keep reporting their cache's flags.
    /// Refused, with the allocation handed back and nothing changed, if it
    /// came from a cache of another space.
    pub fn free(&mut self, a: Cached<'a>) -> Result<(), ForeignCached<'a>> {
        if a.origin != self.origin() {
            return Err(ForeignCached(a));
        }
        // Taken back here: not freed again by its drop.
        let a = core::mem::ManuallyDrop::new(a);
        // Every `Cached` carries its class size (guard included).
        let c = a.size / self.shared.quantum() - 1;
        debug_assert!(c < CACHE_CLASSES, "a Cached always has a cached class size");
        if a.flags != self.flags {
            self.shared.with_depot(|space, _| {
                // SAFETY: `a` is a live cached area of this space (same
                // origin), freed only here since `Cached` is move-only.
                // Lazily: reused only after a purge flushed it.
                unsafe { space.free_lazy_handle(a.handle) };
            });
            return Ok(());
        }
        // Dirty: not handed out again before a flush covered it. No lock,
        // no shootdown; a full dirty magazine goes to the depot in one lock
        // acquisition, where the next purge flushes it with its batch and
        // makes it a full, ready magazine (with no room there, its areas
        // are freed lazily into the space, flushed by that purge too).
        let pushed = self.dirty[c].push((a.addr, a.handle));
        debug_assert!(pushed.is_ok(), "a dirty magazine is emptied once full");
        if self.dirty[c].is_full() {
            let dirty = &mut self.dirty[c];
            self.shared.with_depot(|space, depot| {
                if !depot.give_dirty(c, dirty) {
                    Depot::free_all_lazily(dirty, space);
                }
            });
            self.publish();
        }
        Ok(())
    }

    /// Returns every area this cache holds to the space: the ready ones at
    /// once (no CPU maps them), the dirty ones lazily (reused only after a
    /// purge flushed them).
    pub fn flush(&mut self) -> usize {
        let (loaded, previous, dirty) = (&mut self.loaded, &mut self.previous, &mut self.dirty);
        let n = self.shared.with_depot(|space, _| {
            let mut n = 0;
            for m in loaded.iter_mut().chain(previous.iter_mut()) {
                for (_, h) in m.drain() {
                    // SAFETY: cached areas are live allocations of this space.
                    unsafe { space.free_handle(h) };
                    n += 1;
                }
            }
            for m in dirty.iter_mut() {
                n += Depot::free_all_lazily(m, space);
            }
            n
        });
        self.publish();
        n
    }
}

impl<L: RawLock, S: NodeSource> core::fmt::Debug for CpuCache<'_, L, S> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("CpuCache")
            .field("flags", &self.flags)
            .field("held", &self.held())
            .finish_non_exhaustive()
    }
}

impl<L: RawLock, S: NodeSource> Drop for CpuCache<'_, L, S> {
    fn drop(&mut self) {
        if crate::sync::model_failed() {
            return;
        }
        self.flush();
    }
}

impl<L: RawLock, S: NodeSource> SharedSpace<L, S> {
    /// A per-CPU (per-thread) cache of ready areas; cached areas keep
    /// `flags`. See [`CpuCache`].
    pub fn cache(&self, flags: Flags) -> CpuCache<'_, L, S> {
        CpuCache::new(self, flags)
    }
}
