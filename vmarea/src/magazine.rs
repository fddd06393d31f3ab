//! Per-CPU (per-handle) caches of ready areas for small, hot sizes, in the
//! manner of vmem's quantum caches (Bonwick & Adams, 2001).
//!
//! - A **magazine** holds up to [`ROUNDS`] allocated areas of one size
//!   class. Each [`CpuCache`] keeps two per class, `loaded` and `previous`,
//!   and serves allocations and frees from them without any lock.
//! - When both are empty (alloc) or both full (free), the cache exchanges a
//!   magazine with the **depot**, a bounded store of full magazines per
//!   class kept beside the space and protected by the same lock: one lock
//!   acquisition per [`ROUNDS`] operations in the steady state.
//! - A depot with no full magazine means the space itself allocates; a
//!   depot with no room means the area goes back to the space.
//! - Cached areas are allocated in the space (they are in the busy tree);
//!   [`SharedSpace::cached_areas`] counts them separately: the depot's
//!   exactly, each cache's as of its last lock acquisition (the fast paths
//!   touch no shared memory at all). An allocation
//!   that finds no space first flushes the depot and purges lazy frees,
//!   then retries.
//! - Cached areas keep the flags the cache was made with; class sizes are
//!   1 … [`CLASSES`] quanta including the guard.

use crate::area::Flags;
use crate::error::Error;
use crate::nodes::NodeSource;
use crate::shared::{RawLock, SharedSpace};
use crate::space::{Handle, Request, Space};
use crate::sync::Ordering;

/// Areas per magazine.
#[cfg(not(loom))]
pub const ROUNDS: usize = 8;
/// Areas per magazine (small under loom, to keep the models small).
#[cfg(loom)]
pub const ROUNDS: usize = 2;
/// Size classes: requests of 1 … `CLASSES` quanta, guard included.
pub const CLASSES: usize = 8;
/// Full magazines the depot keeps per class.
#[cfg(not(loom))]
pub const DEPOT_MAGAZINES: usize = 4;
/// Full magazines the depot keeps per class (small under loom).
#[cfg(loom)]
pub const DEPOT_MAGAZINES: usize = 1;

/// Up to [`ROUNDS`] areas of one class.
#[derive(Clone, Copy, Default)]
pub(crate) struct Magazine {
    rounds: [Option<(usize, Handle)>; ROUNDS],
    len: usize,
}

impl Magazine {
    fn pop(&mut self) -> Option<(usize, Handle)> {
        self.len = self.len.checked_sub(1)?;
        self.rounds[self.len].take()
    }
    fn push(&mut self, r: (usize, Handle)) -> Result<(), (usize, Handle)> {
        if self.len == ROUNDS {
            return Err(r);
        }
        self.rounds[self.len] = Some(r);
        self.len += 1;
        Ok(())
    }
    fn is_full(&self) -> bool {
        self.len == ROUNDS
    }
    fn drain(&mut self) -> impl Iterator<Item = (usize, Handle)> + '_ {
        let n = core::mem::take(&mut self.len);
        self.rounds[..n].iter_mut().filter_map(Option::take)
    }
}

/// Full magazines per class, under the space's lock.
#[derive(Default)]
pub(crate) struct Depot {
    full: [[Magazine; DEPOT_MAGAZINES]; CLASSES],
    count: [usize; CLASSES],
}

impl Depot {
    fn take_full(&mut self, c: usize) -> Option<Magazine> {
        self.count[c] = self.count[c].checked_sub(1)?;
        Some(core::mem::take(&mut self.full[c][self.count[c]]))
    }
    /// Moves the full magazine `m` into the depot (leaving `m` empty), if
    /// the depot has room for one more.
    fn give_full(&mut self, c: usize, m: &mut Magazine) -> bool {
        if self.count[c] == DEPOT_MAGAZINES {
            return false;
        }
        self.full[c][self.count[c]] = core::mem::take(m);
        self.count[c] += 1;
        true
    }
    /// Areas held by the depot (its magazines are all full).
    pub(crate) fn areas(&self) -> usize {
        self.count.iter().sum::<usize>() * ROUNDS
    }

    /// Frees every depot area into `space`; returns how many.
    pub(crate) fn flush_into<S: NodeSource>(&mut self, space: &mut Space<S>) -> usize {
        let mut n = 0;
        for c in 0..CLASSES {
            while let Some(mut m) = self.take_full(c) {
                for (_, h) in m.drain() {
                    // SAFETY: depot areas are live allocations of this space,
                    // each held by exactly one magazine.
                    unsafe { space.free_handle(h) };
                    n += 1;
                }
            }
        }
        n
    }
}

/// An allocation served by a cache. Move-only: it is given back exactly
/// once, to [`CpuCache::free`].
#[derive(Debug, PartialEq, Eq)]
pub struct Cached {
    /// Start address.
    pub addr: usize,
    /// Bytes, guard included (the class size).
    pub size: usize,
    handle: Handle,
}

/// One CPU's (or one thread's) cache over a [`SharedSpace`].
pub struct CpuCache<'a, L: RawLock, S: NodeSource> {
    shared: &'a SharedSpace<L, S>,
    flags: Flags,
    loaded: [Magazine; CLASSES],
    previous: [Magazine; CLASSES],
    /// Areas in this cache's magazines (exact, local).
    held: usize,
    /// The part of `held` already added to the shared count. The fast paths
    /// touch no shared memory; the difference is published whenever the
    /// cache takes the lock anyway (a shared counter bumped on every
    /// operation made two threads 7× slower than one).
    published: usize,
}

impl<'a, L: RawLock, S: NodeSource> CpuCache<'a, L, S> {
    pub(crate) fn new(shared: &'a SharedSpace<L, S>, flags: Flags) -> Self {
        CpuCache {
            shared,
            flags,
            loaded: Default::default(),
            previous: Default::default(),
            held: 0,
            published: 0,
        }
    }

    /// Areas this cache holds ready.
    pub fn held(&self) -> usize {
        self.held
    }

    fn publish(&mut self) {
        let delta = self.held.wrapping_sub(self.published);
        self.shared.in_caches.fetch_add(delta, Ordering::Relaxed);
        self.published = self.held;
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
            .filter(|&c| c < CLASSES && size > 0)?;
        Some((c, need))
    }

    /// Allocates `size` bytes (one of the cached classes; otherwise, or
    /// with no room anywhere, an error).
    pub fn alloc(&mut self, size: usize) -> Result<Cached, Error> {
        let Some((c, need)) = self.class(size) else {
            return Err(if size == 0 {
                Error::ZeroSize
            } else {
                Error::BadRange
            });
        };
        if self.loaded[c].len == 0 && self.previous[c].is_full() {
            core::mem::swap(&mut self.loaded[c], &mut self.previous[c]);
        }
        if let Some((addr, handle)) = self.loaded[c].pop() {
            self.held -= 1;
            return Ok(Cached {
                addr,
                size: need,
                handle,
            });
        }
        // Both magazines empty: one lock acquisition for a full one from the
        // depot, or an area from the space itself.
        let flags = self.flags;
        let slot = &mut self.loaded[c];
        let r = self.shared.with_depot(|space, depot| {
            if let Some(full) = depot.take_full(c) {
                *slot = full;
            }
            if let Some((addr, handle)) = slot.pop() {
                return Ok((addr, handle, true));
            }
            let (lo, hi) = space.bounds();
            let req = Request {
                size: need,
                align: 0,
                flags: flags | Flags::NO_GUARD,
                tag: 0,
                lo,
                hi,
            };
            let r = match space.alloc_handle(&req) {
                Err(Error::NoSpace) => {
                    // Under pressure: give back what the depot holds, then retry.
                    depot.flush_into(space);
                    space.purge();
                    space.alloc_handle(&req)
                }
                r => r,
            };
            r.map(|(info, h)| (info.addr, h, false))
        });
        let out = r.map(|(addr, handle, from_depot)| {
            if from_depot {
                // A full magazine arrived; one of its areas leaves at once.
                self.held += ROUNDS - 1;
            }
            Cached {
                addr,
                size: need,
                handle,
            }
        });
        self.publish();
        out
    }

    /// Returns an allocation to the cache (or, with no room, to the space).
    ///
    /// # Safety
    /// `a` came from a cache of this same `SharedSpace`, and its area was not
    /// freed by any other call (`SharedSpace::free`, `free_deferred`, ...):
    /// the cache hands it out again without looking it up.
    pub unsafe fn free(&mut self, a: Cached) {
        // Every `Cached` carries its class size (guard included).
        let c = a.size / self.shared.quantum() - 1;
        if c >= CLASSES {
            return;
        }
        if self.loaded[c].is_full() && self.previous[c].len == 0 {
            core::mem::swap(&mut self.loaded[c], &mut self.previous[c]);
        }
        if self.loaded[c].push((a.addr, a.handle)).is_ok() {
            self.held += 1;
            return;
        }
        // Both full: one lock acquisition to hand a full magazine to the
        // depot (or, if it has no room, the area back to the space).
        let loaded = &mut self.loaded[c];
        let to_depot = self.shared.with_depot(|space, depot| {
            let given = depot.give_full(c, loaded);
            if !given {
                // SAFETY: `a` came from this cache's space, live, freed once.
                unsafe { space.free_handle(a.handle) };
            }
            given
        });
        if to_depot {
            // A full magazine left for the depot; `a` starts the empty one.
            let pushed = self.loaded[c].push((a.addr, a.handle));
            debug_assert!(pushed.is_ok(), "an emptied magazine has room");
            self.held = self.held + 1 - ROUNDS;
        }
        self.publish();
    }

    /// Returns every area this cache holds to the space.
    pub fn flush(&mut self) -> usize {
        let (loaded, previous) = (&mut self.loaded, &mut self.previous);
        let n = self.shared.with_depot(|space, _| {
            let mut n = 0;
            for m in loaded.iter_mut().chain(previous.iter_mut()) {
                for (_, h) in m.drain() {
                    // SAFETY: cached areas are live allocations of this space.
                    unsafe { space.free_handle(h) };
                    n += 1;
                }
            }
            n
        });
        self.held -= n;
        self.publish();
        n
    }
}

impl<L: RawLock, S: NodeSource> Drop for CpuCache<'_, L, S> {
    fn drop(&mut self) {
        self.flush();
    }
}
