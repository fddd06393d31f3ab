//! The depot: full magazines per size class, kept beside the space under
//! its lock, which the per-CPU caches exchange with (vmem's depot layer).
//! A magazine is a stack of up to [`ROUNDS`] allocated areas of one class.

use crate::area::Flags;
use crate::error::Error;
use crate::info::AreaInfo;
use crate::nodes::NodeSource;
use crate::request::Request;
use crate::space::{Handle, Space};

/// Areas per magazine.
#[cfg(not(loom))]
pub const ROUNDS: usize = 8;
/// Areas per magazine (small under loom, to keep the models small).
#[cfg(loom)]
pub const ROUNDS: usize = 2;
/// Cache size classes: requests of 1 … `CACHE_CLASSES` quanta, guard
/// included.
pub const CACHE_CLASSES: usize = 8;
/// Full magazines the depot keeps per class.
#[cfg(not(loom))]
pub const DEPOT_MAGAZINES: usize = 4;
/// Full magazines the depot keeps per class (small under loom).
#[cfg(loom)]
pub const DEPOT_MAGAZINES: usize = 1;

/// Up to [`ROUNDS`] areas of one class, all stamped with `flags`.
#[derive(Clone, Copy, Default)]
pub(crate) struct Magazine {
    rounds: [Option<(usize, Handle)>; ROUNDS],
    pub(super) len: usize,
    pub(super) flags: Flags,
}

impl Magazine {
    pub(super) const EMPTY: Magazine = Magazine {
        rounds: [None; ROUNDS],
        len: 0,
        flags: Flags::NONE,
    };

    pub(super) fn pop(&mut self) -> Option<(usize, Handle)> {
        self.len = self.len.checked_sub(1)?;
        self.rounds[self.len].take()
    }
    pub(super) fn push(&mut self, r: (usize, Handle)) -> Result<(), (usize, Handle)> {
        if self.len == ROUNDS {
            return Err(r);
        }
        self.rounds[self.len] = Some(r);
        self.len += 1;
        Ok(())
    }
    pub(super) fn is_full(&self) -> bool {
        self.len == ROUNDS
    }
    /// The start address of each area.
    pub(crate) fn addrs(&self) -> impl Iterator<Item = usize> + '_ {
        self.rounds[..self.len]
            .iter()
            .filter_map(|r| r.map(|(a, _)| a))
    }

    /// Areas in it.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(super) fn handles(&self) -> impl Iterator<Item = Handle> + '_ {
        self.rounds[..self.len]
            .iter()
            .filter_map(|r| r.map(|(_, h)| h))
    }
    pub(super) fn drain(&mut self) -> impl Iterator<Item = (usize, Handle)> + '_ {
        let n = core::mem::take(&mut self.len);
        self.rounds[..n].iter_mut().filter_map(Option::take)
    }
}

/// Full magazines per class, under the space's lock.
pub(crate) struct Depot {
    full: [[Magazine; DEPOT_MAGAZINES]; CACHE_CLASSES],
    count: [usize; CACHE_CLASSES],
    /// Full magazines of freed areas no flush has covered yet: the next
    /// purge flushes them with its batch and makes them full ones.
    dirty: [[Magazine; DEPOT_MAGAZINES]; CACHE_CLASSES],
    dirty_count: [usize; CACHE_CLASSES],
    /// Areas of dirty magazines a purge is flushing (lock released).
    in_flight: usize,
    /// The space's purge count when the depot last decayed.
    purges_seen: u64,
}

impl Depot {
    pub(crate) const fn new() -> Self {
        Depot {
            full: [[Magazine::EMPTY; DEPOT_MAGAZINES]; CACHE_CLASSES],
            count: [0; CACHE_CLASSES],
            dirty: [[Magazine::EMPTY; DEPOT_MAGAZINES]; CACHE_CLASSES],
            dirty_count: [0; CACHE_CLASSES],
            in_flight: 0,
            purges_seen: 0,
        }
    }

    /// After each purge of the space, a quarter (rounded up) of each
    /// class's full magazines go back to it, as Linux 6.9 decays its
    /// per-node pools by 25 % per purge; a depot nobody draws from empties
    /// within a few purges. Returns the areas given back.
    pub(crate) fn decay_after_purge<S: NodeSource>(&mut self, space: &mut Space<S>) -> usize {
        let purges = space.counters().purges;
        if purges == self.purges_seen {
            return 0;
        }
        self.purges_seen = purges;
        let mut n = 0;
        for c in 0..CACHE_CLASSES {
            for _ in 0..self.count[c].div_ceil(4) {
                if let Some(mut m) = self.take_full(c) {
                    n += Self::free_all(&mut m, space);
                }
            }
        }
        n
    }

    fn free_all<S: NodeSource>(m: &mut Magazine, space: &mut Space<S>) -> usize {
        let mut n = 0;
        for (_, h) in m.drain() {
            // SAFETY: depot areas are live allocations of this space, each
            // held by exactly one magazine.
            unsafe { space.free_handle(h) };
            n += 1;
        }
        n
    }

    pub(super) fn take_full(&mut self, c: usize) -> Option<Magazine> {
        self.count[c] = self.count[c].checked_sub(1)?;
        Some(core::mem::take(&mut self.full[c][self.count[c]]))
    }
    /// Moves the dirty full magazine `m` into the depot (leaving `m`
    /// empty), if it has room for one more of class `c`.
    pub(super) fn give_dirty(&mut self, c: usize, m: &mut Magazine) -> bool {
        if self.dirty_count[c] == DEPOT_MAGAZINES {
            return false;
        }
        self.dirty[c][self.dirty_count[c]] = core::mem::take(m);
        self.dirty_count[c] += 1;
        true
    }

    /// Moves every dirty magazine into `out` (with its class) for a purge
    /// to flush; they count as in flight until [`flushed`](Self::flushed).
    pub(crate) fn take_dirty(&mut self, out: &mut Flushing) {
        for c in 0..CACHE_CLASSES {
            while self.dirty_count[c] > 0 {
                self.dirty_count[c] -= 1;
                let m = core::mem::take(&mut self.dirty[c][self.dirty_count[c]]);
                self.in_flight += m.len;
                out.mags[out.len] = (c, m);
                out.len += 1;
            }
        }
    }

    /// The magazines of `f`, flushed: full (clean) magazines of the depot,
    /// or, with no room, freed into `space` at once.
    pub(crate) fn flushed<S: NodeSource>(&mut self, f: &mut Flushing, space: &mut Space<S>) {
        for (c, m) in f.drain() {
            self.in_flight -= m.len;
            if self.count[c] < DEPOT_MAGAZINES {
                self.full[c][self.count[c]] = m;
                self.count[c] += 1;
            } else {
                Self::free_all(&mut { m }, space);
            }
        }
    }

    /// The magazines of `f`, whose flush failed: dirty again (or freed
    /// lazily into `space` with no room).
    pub(crate) fn unflushed<S: NodeSource>(&mut self, f: &mut Flushing, space: &mut Space<S>) {
        for (c, mut m) in f.drain() {
            self.in_flight -= m.len;
            if !self.give_dirty(c, &mut m) {
                Self::free_all_lazily(&mut m, space);
            }
        }
    }

    /// Areas held by the depot: full and dirty magazines, and dirty ones a
    /// purge is flushing.
    pub(crate) fn areas(&self) -> usize {
        (self.count.iter().sum::<usize>() + self.dirty_count.iter().sum::<usize>()) * ROUNDS
            + self.in_flight
    }

    /// Frees a dirty magazine's areas lazily (reused after a purge).
    pub(super) fn free_all_lazily<S: NodeSource>(m: &mut Magazine, space: &mut Space<S>) -> usize {
        let mut n = 0;
        for (_, h) in m.drain() {
            // SAFETY: depot and cache areas are live allocations of this
            // space, each held by exactly one magazine.
            unsafe { space.free_lazy_handle(h) };
            n += 1;
        }
        n
    }

    /// `space.alloc_handle(req)`; on `NoSpace`, the depot's areas go back
    /// to the space before one retry (lazy frees are purged by the caller,
    /// outside the lock; this is the pressure path of every allocation the shared layer makes for
    /// itself: cache refills, `vm_map_ram` blocks).
    pub(crate) fn alloc_or_flush<S: NodeSource>(
        &mut self,
        space: &mut Space<S>,
        req: &Request,
    ) -> Result<(AreaInfo, Handle), Error> {
        match space.alloc_handle(req) {
            Err(Error::NoSpace) => {
                // Lazy frees are purged by the caller, outside the lock.
                self.flush_into(space);
                space.alloc_handle(req)
            }
            r => r,
        }
    }

    /// Frees every depot area into `space`: the full magazines' at once,
    /// the dirty ones' lazily (reused only after a purge flushed them);
    /// returns how many.
    pub(crate) fn flush_into<S: NodeSource>(&mut self, space: &mut Space<S>) -> usize {
        let mut n = 0;
        for c in 0..CACHE_CLASSES {
            while let Some(mut m) = self.take_full(c) {
                n += Self::free_all(&mut m, space);
            }
            while self.dirty_count[c] > 0 {
                self.dirty_count[c] -= 1;
                n += Self::free_all_lazily(&mut self.dirty[c][self.dirty_count[c]], space);
            }
        }
        n
    }
}

/// Dirty magazines a purge took from the depot to flush with its batch,
/// each with its class; reached only by the purge lock's holder.
pub(crate) struct Flushing {
    mags: [(usize, Magazine); FLUSHING],
    len: usize,
}

/// The most dirty magazines the depot holds.
const FLUSHING: usize = CACHE_CLASSES * DEPOT_MAGAZINES;

impl Flushing {
    pub(crate) const fn new() -> Self {
        Flushing {
            mags: [(0, Magazine::EMPTY); FLUSHING],
            len: 0,
        }
    }

    /// The magazines, with their classes.
    pub(crate) fn magazines(&self) -> &[(usize, Magazine)] {
        &self.mags[..self.len]
    }

    fn drain(&mut self) -> impl Iterator<Item = (usize, Magazine)> + '_ {
        let n = core::mem::take(&mut self.len);
        self.mags[..n].iter_mut().map(core::mem::take)
    }
}
