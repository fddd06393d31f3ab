//! Exact-size pools of freed areas (Linux 6.9's per-node pools, vmem's
//! quantum caches inside `vmem_alloc`): turned on, decayed after purges,
//! drained under pressure.

use super::Space;
use crate::error::Error;
use crate::nodes::NodeSource;
use crate::pools::POOL_CLASSES;

impl<S: NodeSource> Space<S> {
    /// Turns on exact-size pools for areas of up to `max_quanta` quanta
    /// (guard included; at most [`POOL_CLASSES`](crate::POOL_CLASSES)),
    /// each keeping at most `per_class` areas; `0` turns them off. An area
    /// of a pooled size freed at once ([`free`](Self::free),
    /// [`free_handle`](Self::free_handle)) waits in its pool, and a request
    /// of that size takes the most recent one in O(1), without a search, a
    /// split or a merge, when it meets the request's alignment, phase,
    /// boundary and window (only that one is looked at, as Linux 6.9's
    /// per-node pools do; vmem puts its quantum caches inside `vmem_alloc`
    /// the same way).
    /// Pools decay by a quarter (rounded up, oldest first) at every purge
    /// and are drained whole when an allocation finds no room, or by
    /// [`drain_pools`](Self::drain_pools). Placement is then no longer the
    /// policy's alone: a pooled area is reused wherever it lies. Lowering
    /// the limits drains what no longer fits them. `BadRange` (nothing
    /// changed) above `POOL_CLASSES`.
    pub fn set_pools(&mut self, max_quanta: usize, per_class: usize) -> Result<(), Error> {
        if max_quanta > POOL_CLASSES {
            return Err(Error::BadRange);
        }
        let (max, cap) = if per_class == 0 {
            (0, 0)
        } else {
            (max_quanta, per_class)
        };
        for c in 0..POOL_CLASSES {
            let keep = if c < max { cap } else { 0 };
            while self.pools.class_len(c) > keep {
                self.unpool_oldest(c);
            }
        }
        (self.pools.max, self.pools.cap) = (max, cap);
        Ok(())
    }

    /// Merges every pooled area back into free space; returns how many.
    pub fn drain_pools(&mut self) -> usize {
        let mut n = 0;
        for c in 0..POOL_CLASSES {
            while self.pools.class_len(c) > 0 {
                self.unpool_oldest(c);
                n += 1;
            }
        }
        n
    }

    /// A quarter of each pool (rounded up, oldest first) back to free
    /// space, after a purge.
    pub(super) fn decay_pools(&mut self) {
        for c in 0..POOL_CLASSES {
            for _ in 0..self.pools.class_len(c).div_ceil(4) {
                self.unpool_oldest(c);
            }
        }
    }

    /// The oldest area of pool `c` merged back into free space.
    pub(super) fn unpool_oldest(&mut self, c: usize) {
        let size = (c + 1) << self.shift;
        if let Some(u) = self.pools.pop_oldest(c, size) {
            // SAFETY: a pooled area is a live member of the address list in
            // no index; `merge_free` makes it free.
            unsafe { self.merge_free(u) };
        }
    }
}
