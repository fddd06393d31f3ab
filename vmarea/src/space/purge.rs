//! The purge (Linux's `__purge_vmap_area_lazy`) in three steps, so that a
//! shared space can flush outside its lock: **detach** the lazy list as one
//! batch (the areas stay lazy: off the list, out of free space, counted as
//! purging), **flush** it through the hook, then **merge** it back into free
//! space. A plain [`Space`] runs the three in one call; a
//! [`SharedSpace`](crate::SharedSpace) detaches and merges under its lock
//! and flushes between, with the lock released.

use super::Space;
use crate::area::Area;
use crate::containers::list::List;
use crate::events::emit;
use crate::flush::PurgeBatch;
use crate::nodes::NodeSource;

/// A batch of lazily freed areas taken off the lazy list for a purge:
/// nobody else reaches them (they are lazy, out of every index and off the
/// lazy list) until [`Space::merge_detached`] or [`Space::reattach`] takes
/// them back.
#[must_use = "a detached batch goes back with merge_detached or reattach"]
pub(crate) struct Detached {
    lazy: List,
    bytes: usize,
}

// SAFETY: the batch names areas that only its holder reaches (see above);
// it moves between the threads that detach, flush and merge it.
unsafe impl Send for Detached {}

impl Detached {
    /// What the flush hook is given: this batch, and the cache magazines
    /// flushed with it (`magazine_bytes` in all; areas of `quantum` units).
    pub(crate) fn batch<'b>(
        &'b self,
        magazines: &'b [(usize, crate::smp::depot::Magazine)],
        magazine_bytes: usize,
        quantum: usize,
    ) -> PurgeBatch<'b> {
        PurgeBatch {
            lazy: &self.lazy,
            bytes: self.bytes + magazine_bytes,
            magazines,
            quantum,
        }
    }

    /// Whether it holds no area.
    pub(crate) fn is_empty(&self) -> bool {
        self.lazy.is_empty()
    }
}

impl<S: NodeSource> Space<S> {
    /// Merges every lazily freed area back into free space, as one batch
    /// (Linux's `purge_vmap_area_lazy`), after handing the batch to the flush
    /// hook. Returns how many were purged.
    ///
    /// If the hook panics, the batch goes back on the lazy list as the
    /// panic unwinds: nothing is merged, nothing counted as purged.
    pub fn purge(&mut self) -> usize {
        let Some(d) = self.detach_lazy() else {
            return 0;
        };
        let Some(flush) = self.flush else {
            return self.merge_detached(d);
        };
        /// Puts the batch back if the hook unwinds.
        struct Reattach<'s, S: NodeSource>(&'s mut Space<S>, Option<Detached>);
        impl<S: NodeSource> Drop for Reattach<'_, S> {
            fn drop(&mut self) {
                if let Some(d) = self.1.take() {
                    self.0.reattach(d);
                }
            }
        }
        let mut guard = Reattach(self, Some(d));
        if let Some(d) = &guard.1 {
            flush(&d.batch(&[], 0, guard.0.quantum));
        }
        let d = guard.1.take().expect("the batch is still held");
        guard.0.merge_detached(d)
    }

    /// Under a shared space (which purges outside its lock), a purge the
    /// threshold calls for is left to the lock's holder to run once it has
    /// released the lock; a plain space purges at once.
    pub(super) fn purge_at_threshold(&mut self) {
        if self.purge_outside {
            self.purge_wanted = true;
        } else {
            self.purge();
        }
    }

    /// Whether a purge was called for (threshold reached) and not run yet.
    pub(crate) fn purge_wanted(&self) -> bool {
        self.purge_wanted
    }

    /// Whether lazily freed areas wait for a purge (or are being purged).
    pub(crate) fn has_lazy(&self) -> bool {
        !self.lazy.is_empty() || self.purging_areas > 0
    }

    /// The flush hook, for a purge run outside the space's call.
    pub(crate) fn flush_hook(&self) -> Option<crate::flush::FlushHook> {
        self.flush
    }

    /// Takes the whole lazy list off as one batch; None if it is empty.
    pub(crate) fn detach_lazy(&mut self) -> Option<Detached> {
        if self.lazy.is_empty() {
            self.purge_wanted = false;
            return None;
        }
        Some(self.detach_all())
    }

    /// Takes the whole lazy list off as one batch, perhaps empty.
    pub(crate) fn detach_all(&mut self) -> Detached {
        self.purge_wanted = false;
        let d = Detached {
            lazy: core::mem::replace(&mut self.lazy, List::new()),
            bytes: core::mem::take(&mut self.lazy_bytes),
        };
        self.purging_areas += d.lazy.len();
        self.purging_bytes += d.bytes;
        d
    }

    /// Puts a detached batch back on the lazy list (its flush failed).
    pub(crate) fn reattach(&mut self, mut d: Detached) {
        self.purging_areas -= d.lazy.len();
        self.purging_bytes -= d.bytes;
        self.lazy_bytes += d.bytes;
        while let Some(l) = d.lazy.front() {
            // SAFETY: a member of the detached batch, moved to the lazy
            // list: still lazy, in no index.
            unsafe {
                d.lazy.remove(l);
                self.lazy.push_back(l);
            }
        }
    }

    /// Takes back an empty batch (nothing was purged: no counter moves).
    pub(crate) fn merge_detached_quietly(&mut self, d: Detached) {
        debug_assert!(d.is_empty());
        self.reattach(d);
    }

    /// Merges a flushed batch into free space; returns how many areas.
    pub(crate) fn merge_detached(&mut self, mut d: Detached) -> usize {
        self.counters.purges += 1;
        self.counters.purged_bytes += d.bytes as u64;
        self.purging_areas -= d.lazy.len();
        self.purging_bytes -= d.bytes;
        let mut n = 0;
        #[cfg(feature = "events")]
        let (mut lowest, mut highest) = (usize::MAX, 0);
        while let Some(l) = d.lazy.front() {
            // SAFETY: `l` is a member of the batch; the area is live,
            // marked used-and-lazy, and in no index.
            unsafe {
                d.lazy.remove(l);
                let u = Area::from_chain(l);
                #[cfg(feature = "events")]
                {
                    lowest = lowest.min(super::a(u).addr.get());
                    highest = highest.max(super::a(u).end());
                }
                self.merge_free(u);
            }
            n += 1;
        }
        self.counters.purged_areas += n as u64;
        self.decay_pools();
        emit!(
            self,
            crate::events::Event::Purge {
                start: lowest,
                end: highest,
                num_purged: n,
            }
        );
        n
    }
}
